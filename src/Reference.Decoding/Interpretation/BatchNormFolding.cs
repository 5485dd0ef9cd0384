using Reference.Autodiff;
using Reference.Autodiff.Nn;

namespace Reference.Decoding.Interpretation;

/// <summary>
/// Zennit's SequentialMergeBatchNorm canonizer: inside the scope, every evaluation-mode
/// BatchNorm that directly follows a Conv3d in a Sequential is folded into that convolution,
/// y = gamma (W a + b - mu) / sqrt(var + eps) + beta = (s W) a + (s (b - mu) + beta), s = gamma / sqrt(var + eps)
/// per output channel, and set to the identity (gamma 1, beta 0, mean 0, var 1 - eps); disposing
/// restores every parameter and statistic. LRP's rules then see one affine layer whose weights
/// carry the normalization (the gamma rule's w+ is that of the folded weight).
/// </summary>
public static class BatchNormFolding
{
    public static IDisposable Merge(Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var undo = new List<Action>();
        foreach (var sequential in Sequentials(model))
        {
            var layers = sequential.Layers;
            for (int i = 0; i + 1 < layers.Count; i++)
            {
                if (layers[i] is not Conv3d conv || layers[i + 1] is not BatchNorm bn) continue;
                if (conv.Bias is null) throw new InvalidOperationException("BatchNorm folding needs the convolution's bias (the folded shift goes there); the Conv3d has none.");
                int channels = conv.Weight.Shape[0], per = conv.Weight.Length / channels;
                var w = conv.Weight.Value.Data;
                var b = conv.Bias.Value.Data;
                var saved = ((double[])w.Clone(), (double[])b.Clone(), (double[])bn.RunningMean.Clone(), (double[])bn.RunningVar.Clone(),
                    (double[]?)bn.Weight?.Value.Data.Clone(), (double[]?)bn.Bias?.Value.Data.Clone());
                for (int c = 0; c < channels; c++)
                {
                    double gamma = bn.Weight?.Value.Data[c] ?? 1, beta = bn.Bias?.Value.Data[c] ?? 0;
                    double s = gamma / Math.Sqrt(bn.RunningVar[c] + bn.Eps);
                    for (int j = 0; j < per; j++) w[c * per + j] *= s;
                    b[c] = s * (b[c] - bn.RunningMean[c]) + beta;
                    bn.RunningMean[c] = 0;
                    bn.RunningVar[c] = 1 - bn.Eps;
                    if (bn.Weight is not null) bn.Weight.Value.Data[c] = 1;
                    if (bn.Bias is not null) bn.Bias.Value.Data[c] = 0;
                }
                undo.Add(() =>
                {
                    saved.Item1.CopyTo(w, 0);
                    saved.Item2.CopyTo(b, 0);
                    saved.Item3.CopyTo(bn.RunningMean, 0);
                    saved.Item4.CopyTo(bn.RunningVar, 0);
                    saved.Item5?.CopyTo(bn.Weight!.Value.Data, 0);
                    saved.Item6?.CopyTo(bn.Bias!.Value.Data, 0);
                });
            }
        }
        return new Restore(undo);
    }

    private static IEnumerable<Sequential> Sequentials(Module m)
    {
        if (m is Sequential s) yield return s;
        foreach (var (_, child) in m.NamedChildren()) foreach (var inner in Sequentials(child)) yield return inner;
    }

    private sealed class Restore(List<Action> undo) : IDisposable
    {
        public void Dispose()
        {
            for (int i = undo.Count - 1; i >= 0; i--) undo[i]();
            undo.Clear();
        }
    }
}
