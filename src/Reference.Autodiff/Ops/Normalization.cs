using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Layer normalization (Ba, Kiros and Hinton, "Layer Normalization", 2016, eq. 4) and RMS
/// normalization (Zhang and Sennrich, "Root Mean Square Layer Normalization", 2019, eq. 4), over the
/// last axis D, each one fused primitive.
/// Glossary: mu = mean, sigma^2 = biased variance (1/D), r = 1 / sqrt(sigma^2 + eps) (LayerNorm) or
/// 1 / sqrt(mean(x^2) + eps) (RMSNorm), xhat = normalized input, gamma = weight, beta = bias.
/// Forward: LN y = (x - mu) r gamma + beta; RMS y = x r gamma.
/// VJP per row (gh = g gamma): LN g_x = r (gh - mean(gh) - xhat mean(gh xhat));
/// RMS g_x = r (gh - xhat mean(gh xhat)); g_gamma = sum over rows of g xhat; g_beta = sum of g.
/// Numerically delicate: the variance is a two-pass sum of squared deviations, never
/// E[x^2] - E[x]^2 (cancellation when |mu| >> sigma). Accumulation order: j = 0..D-1 per row; the
/// parameter gradients sum rows in order.
/// </summary>
public static partial class Ops
{
    /// <summary>LayerNorm over the last axis: x [..., D], weight and bias [D] or null (PyTorch default eps = 1e-5).</summary>
    public static Variable LayerNorm(Variable x, Variable? weight, Variable? bias, double eps = 1e-5) =>
        NormCore("layer_norm", x, weight, bias, eps, centered: true);

    /// <summary>RMSNorm over the last axis: x [..., D], weight [D] or null.</summary>
    public static Variable RmsNorm(Variable x, Variable? weight, double eps = 1e-6) =>
        NormCore("rms_norm", x, weight, null, eps, centered: false);

    private static Variable NormCore(string name, Variable x, Variable? weight, Variable? bias, double eps, bool centered)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank < 1) throw new ArgumentException("x is a scalar, expected rank >= 1.", nameof(x));
        int d = x.Shape[^1];
        CheckVector(weight, d, nameof(weight));
        CheckVector(bias, d, nameof(bias));
        if (!(eps >= 0)) throw new ArgumentOutOfRangeException(nameof(eps), $"eps = {eps} must be >= 0.");
        int rows = d == 0 ? 0 : x.Length / d;
        var xs = x.Value.Data;
        var xhat = Like(x.Value);
        var r = new double[rows];
        var y = Like(x.Value);
        for (int row = 0; row < rows; row++)
        {
            var xr = xs.AsSpan(row * d, d);
            double mu = 0.0;
            if (centered)
            {
                for (int j = 0; j < d; j++) mu += xr[j];
                mu /= d;
            }
            double ss = 0.0;
            for (int j = 0; j < d; j++) ss += (xr[j] - mu) * (xr[j] - mu);
            r[row] = 1.0 / Math.Sqrt(ss / d + eps);
            for (int j = 0; j < d; j++)
            {
                double h = (xr[j] - mu) * r[row];
                xhat.Data[row * d + j] = h;
                y.Data[row * d + j] = h * (weight?.Value.Data[j] ?? 1.0) + (bias?.Value.Data[j] ?? 0.0);
            }
        }
        Variable[] inputs = [x, .. weight is null ? Array.Empty<Variable>() : [weight], .. bias is null ? Array.Empty<Variable>() : [bias]];
        return Function.Apply(name, inputs, y, g =>
        {
            var gx = Like(g);
            var gw = weight is null ? null : Tensor<double>.Zeros(d);
            var gb = bias is null ? null : Tensor<double>.Zeros(d);
            var gh = new double[d];
            for (int row = 0; row < rows; row++)
            {
                double meanGh = 0.0, meanGhX = 0.0;
                for (int j = 0; j < d; j++)
                {
                    double gj = g.Data[row * d + j], hj = xhat.Data[row * d + j];
                    gh[j] = gj * (weight?.Value.Data[j] ?? 1.0);
                    meanGh += gh[j];
                    meanGhX += gh[j] * hj;
                    if (gw is not null) gw.Data[j] += gj * hj;
                    if (gb is not null) gb.Data[j] += gj;
                }
                meanGh = centered ? meanGh / d : 0.0;
                meanGhX /= d;
                for (int j = 0; j < d; j++)
                    gx.Data[row * d + j] = r[row] * (gh[j] - meanGh - xhat.Data[row * d + j] * meanGhX);
            }
            Tensor<double>?[] grads = [gx, .. weight is null ? Array.Empty<Tensor<double>?>() : [gw], .. bias is null ? Array.Empty<Tensor<double>?>() : [gb]];
            return grads;
        });
    }

    private static void CheckVector(Variable? v, int d, string name)
    {
        if (v is not null && (v.Rank != 1 || v.Shape[0] != d))
            throw new ArgumentException($"{name} has shape {Shapes.Format(v.Shape)}, expected [{d}].", name);
    }
}
