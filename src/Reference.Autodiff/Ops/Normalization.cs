using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.Autodiff;

/// <summary>
/// Layer normalization (Ba, Kiros and Hinton 2016, eq. 4) and RMS normalization (Zhang and
/// Sennrich 2019, eq. 4) over the last axis D, each registered as one fused primitive whose forward
/// and VJP are the row kernels of Reference.Core.Kernels (NaiveNormalization, the definition with
/// the two-pass variance; FastNormalization in the Fast tier). The forward saves mean and
/// rstd = 1 / sqrt(var + eps) per row for the backward.
/// Glossary: gamma = weight, beta = bias, both [D] or absent (gamma = 1, beta = 0).
/// </summary>
public static partial class Ops
{
    /// <summary>LayerNorm over the last axis: x [..., D], weight and bias [D] or null (PyTorch default eps = 1e-5).</summary>
    public static Variable LayerNorm(Variable x, Variable? weight, Variable? bias, double eps = NaiveNormalization.DefaultLayerNormEps)
    {
        int d = CheckNormInput(x, weight, bias, eps);
        int rows = d == 0 ? 0 : x.Length / d;
        bool fast = Tape.FastKernels;
        var gamma = weight?.Value.Data ?? [];
        var beta = bias?.Value.Data ?? [];
        // The fast kernels write every element of y, dx, dgamma and dbeta (when there are rows): no zeroing.
        bool written = fast && rows > 0;
        var y = written ? Empty(x.Value) : Like(x.Value);
        var mean = new double[rows];
        var rstd = new double[rows];
        if (rows > 0)
        {
            if (fast) FastNormalization.LayerNorm<double>(x.Value.Data, gamma, beta, y.Data, mean, rstd, d, eps);
            else NaiveNormalization.LayerNorm(x.Value.Data, gamma, beta, y.Data, mean, rstd, d, eps);
        }
        return Function.Apply("layer_norm", NormInputs(x, weight, bias), y, g =>
        {
            var gx = written ? Empty(x.Value) : Like(x.Value);
            var gw = weight is null ? null : written ? Empty(weight.Value) : Like(weight.Value);
            var gb = bias is null ? null : written ? Empty(bias.Value) : Like(bias.Value);
            if (rows > 0)
            {
                if (fast) FastNormalization.LayerNormBackward<double>(x.Value.Data, gamma, mean, rstd, g.Data, gx.Data, gw?.Data ?? [], gb?.Data ?? [], d);
                else NaiveNormalization.LayerNormBackward(x.Value.Data, gamma, mean, rstd, g.Data, gx.Data, gw?.Data ?? [], gb?.Data ?? [], d);
            }
            return NormGrads(gx, gw, gb);
        });
    }

    /// <summary>RMSNorm over the last axis: x [..., D], weight [D] or null (default eps 1e-6).</summary>
    public static Variable RmsNorm(Variable x, Variable? weight, double eps = NaiveNormalization.DefaultRmsNormEps)
    {
        int d = CheckNormInput(x, weight, null, eps);
        int rows = d == 0 ? 0 : x.Length / d;
        bool fast = Tape.FastKernels;
        var gamma = weight?.Value.Data ?? [];
        var y = Like(x.Value);
        var rstd = new double[rows];
        if (rows > 0)
        {
            if (fast) FastNormalization.RmsNorm<double>(x.Value.Data, gamma, y.Data, rstd, d, eps);
            else NaiveNormalization.RmsNorm(x.Value.Data, gamma, y.Data, rstd, d, eps);
        }
        return Function.Apply("rms_norm", NormInputs(x, weight, null), y, g =>
        {
            var gx = Like(x.Value);
            var gw = weight is null ? null : Like(weight.Value);
            if (rows > 0)
            {
                if (fast) FastNormalization.RmsNormBackward<double>(x.Value.Data, gamma, rstd, g.Data, gx.Data, gw?.Data ?? [], d);
                else NaiveNormalization.RmsNormBackward(x.Value.Data, gamma, rstd, g.Data, gx.Data, gw?.Data ?? [], d);
            }
            return NormGrads(gx, gw, null);
        });
    }

    private static int CheckNormInput(Variable x, Variable? weight, Variable? bias, double eps)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank < 1) throw new ArgumentException("x is a scalar, expected rank >= 1.", nameof(x));
        int d = x.Shape[^1];
        CheckVector(weight, d, nameof(weight));
        CheckVector(bias, d, nameof(bias));
        if (!(eps >= 0)) throw new ArgumentOutOfRangeException(nameof(eps), $"eps = {eps} must be >= 0.");
        return d;
    }

    private static Variable[] NormInputs(Variable x, Variable? weight, Variable? bias) =>
        new[] { x, weight, bias }.Where(v => v is not null).Select(v => v!).ToArray();

    private static Tensor<double>?[] NormGrads(Tensor<double> gx, Tensor<double>? gw, Tensor<double>? gb)
    {
        var grads = new List<Tensor<double>?> { gx };
        if (gw is not null) grads.Add(gw);
        if (gb is not null) grads.Add(gb);
        return [.. grads];
    }

    private static void CheckVector(Variable? v, int d, string name)
    {
        if (v is not null && (v.Rank != 1 || v.Shape[0] != d))
            throw new ArgumentException($"{name} has shape {Shapes.Format(v.Shape)}, expected [{d}].", name);
    }
}
