using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Depthwise causal 1-D convolution, the short convolution of H3/Hyena/Mamba (Fu et al. 2023, H3
/// sec. 3; Gu and Dao 2023, Mamba sec. 3.4): every channel c has its own K taps and output t sees
/// only inputs t-K+1..t (left zero padding, PyTorch Conv1d(groups = C, padding = K - 1) truncated
/// to the first L outputs).
/// Shapes: x [B, L, C], w [C, K], bias [C] or null, y [B, L, C]:
///   y[b, t, c] = bias[c] + sum_{j=0}^{K-1} w[c, j] x[b, t - (K - 1) + j, c]   (x = 0 before t = 0),
/// so w[c, K-1] weights the current sample (cross-correlation, as PyTorch).
/// VJP: g_x[b, s, c] = sum_j w[c, j] g[b, s + (K - 1) - j, c] (terms with index &gt;= L dropped);
/// g_w[c, j] = sum_{b,t} g[b, t, c] x[b, t - (K - 1) + j, c]; g_bias[c] = sum_{b,t} g[b, t, c].
/// Accumulation order: taps j = 0..K-1 innermost, then (b, t) in row-major order.
/// </summary>
public static partial class Ops
{
    public static Variable CausalConv1d(Variable x, Variable w, Variable? bias = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(w);
        if (x.Rank != 3) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [B, L, C].", nameof(x));
        int bsz = x.Shape[0], len = x.Shape[1], ch = x.Shape[2];
        if (w.Rank != 2 || w.Shape[0] != ch)
            throw new ArgumentException($"w has shape {Shapes.Format(w.Shape)}, expected [{ch}, K].", nameof(w));
        CheckVector(bias, ch, nameof(bias));
        int k = w.Shape[1];
        var xs = x.Value.Data;
        var ws = w.Value.Data;
        var y = Like(x.Value);
        for (int b = 0; b < bsz; b++)
            for (int t = 0; t < len; t++)
                for (int c = 0; c < ch; c++)
                {
                    double acc = bias?.Value.Data[c] ?? 0.0;
                    for (int j = 0; j < k; j++)
                    {
                        int s = t - (k - 1) + j;
                        if (s >= 0) acc += ws[c * k + j] * xs[(b * len + s) * ch + c];
                    }
                    y.Data[(b * len + t) * ch + c] = acc;
                }
        Variable[] inputs = bias is null ? [x, w] : [x, w, bias];
        return Function.Apply("causal_conv1d", inputs, y, g =>
        {
            var gx = Like(x.Value);
            var gw = Like(w.Value);
            var gb = bias is null ? null : TensorArena.Zeros(ch);
            for (int b = 0; b < bsz; b++)
                for (int t = 0; t < len; t++)
                    for (int c = 0; c < ch; c++)
                    {
                        double gt = g.Data[(b * len + t) * ch + c];
                        if (gb is not null) gb.Data[c] += gt;
                        for (int j = 0; j < k; j++)
                        {
                            int s = t - (k - 1) + j;
                            if (s < 0) continue;
                            gx.Data[(b * len + s) * ch + c] += ws[c * k + j] * gt;
                            gw.Data[c * k + j] += gt * xs[(b * len + s) * ch + c];
                        }
                    }
            return bias is null ? [gx, gw] : [gx, gw, gb];
        });
    }
}
