using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Batch normalization over every axis but the channel axis (Ioffe and Szegedy 2015, Algorithm 1;
/// torch.nn.functional.batch_norm): x [N, C, *S] (any number of trailing spatial axes, S = prod S;
/// BatchNorm1d/2d/3d), weight gamma and bias beta [C] or null (1 and 0), per-channel running
/// statistics rm, rv [C] owned by the caller. M = N S elements per channel.
/// <para>Training (batch statistics):
/// <code>
///   mu_c = (1/M) sum_{n,s} x[n,c,s]            var_c = (1/M) sum (x - mu_c)^2   (biased; two passes)
///   rstd_c = 1 / sqrt(var_c + eps)              xhat = (x - mu_c) rstd_c         y = gamma_c xhat + beta_c
///   rm_c &lt;- (1 - m) rm_c + m mu_c               rv_c &lt;- (1 - m) rv_c + m var_c M / (M - 1)   (unbiased, as PyTorch)
/// </code>
/// Backward (G = dL/dy; mu and var depend on x, so three paths reach x):
/// <code>
///   dbeta_c = sum G                 dgamma_c = sum G xhat
///   dxhat = G gamma_c;  dvar_c = sum dxhat (x - mu) (-1/2) rstd^3;  dmu_c = -rstd sum dxhat + dvar_c (-2/M) sum (x - mu) = -rstd sum dxhat
///   dx = dxhat rstd + dvar_c 2 (x - mu) / M + dmu_c / M
///      = (gamma_c rstd_c / M) (M G - sum G - xhat sum G xhat)
/// </code>
/// (sum (x - mu) = 0 removes the second term of dmu; substituting dvar gives the closed form).</para>
/// <para>Evaluation (running statistics, constants): y = gamma (x - rm) / sqrt(rv + eps) + beta, an
/// affine map of x with dx = G gamma / sqrt(rv + eps), and the same dgamma, dbeta.</para>
/// Tier: the Naive tier loops element by element and keeps xhat for the backward; the Fast tier
/// (<c>BatchNorm.Fast.cs</c>) makes one vectorized pass per contiguous S-long row of each (n, c) and
/// step, and recomputes xhat from x in the backward (no saved temporaries). The running statistics are
/// updated in the forward call (once per training forward, as PyTorch), in place.
/// </summary>
public static partial class Ops
{
    public const double DefaultBatchNormEps = 1e-5;
    public const double DefaultBatchNormMomentum = 0.1;

    /// <summary>The argument checks shared by <see cref="BatchNorm"/> and the fused training block: returns
    /// (batch N, channels C, positions per channel S) of x [N, C, ...].</summary>
    private static (int N, int C, int S) CheckBatchNormArguments(Variable x, Variable? weight, Variable? bias,
        double[] runningMean, double[] runningVar, double momentum, double eps)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(runningMean);
        ArgumentNullException.ThrowIfNull(runningVar);
        if (x.Rank < 2) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [N, C, ...].", nameof(x));
        int n = x.Shape[0], c = x.Shape[1];
        int s = c == 0 || n == 0 ? 0 : x.Length / (n * c);
        CheckVector(weight, c, nameof(weight));
        CheckVector(bias, c, nameof(bias));
        if (runningMean.Length != c) throw new ArgumentException($"runningMean has {runningMean.Length} entries, expected {c}.", nameof(runningMean));
        if (runningVar.Length != c) throw new ArgumentException($"runningVar has {runningVar.Length} entries, expected {c}.", nameof(runningVar));
        if (!(eps >= 0)) throw new ArgumentOutOfRangeException(nameof(eps), $"eps = {eps} must be >= 0.");
        if (!(momentum >= 0 && momentum <= 1)) throw new ArgumentOutOfRangeException(nameof(momentum), $"momentum = {momentum} must be in [0, 1].");
        return (n, c, s);
    }

    public static Variable BatchNorm(Variable x, Variable? weight, Variable? bias, double[] runningMean, double[] runningVar,
        bool training, double momentum = DefaultBatchNormMomentum, double eps = DefaultBatchNormEps)
    {
        var (n, c, s) = CheckBatchNormArguments(x, weight, bias, runningMean, runningVar, momentum, eps);
        int m = n * s;
        if (training && m <= 1) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}: training batch norm needs more than one value per channel.", nameof(x));

        var gamma = weight?.Value.Data;
        var beta = bias?.Value.Data;
        var mean = new double[c];
        var rstd = new double[c];
        if (training)
        {
            var variance = new double[c];
            if (Tape.FastKernels) BatchNormStatsFast(x.Value.Data, n, c, s, mean, variance, rstd, eps);
            else BatchNormStatsNaive(x.Value.Data, n, c, s, mean, variance, rstd, eps);
            for (int ch = 0; ch < c; ch++)
            {
                runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * mean[ch];
                runningVar[ch] = (1 - momentum) * runningVar[ch] + momentum * variance[ch] * m / (m - 1);
            }
        }
        else
            for (int ch = 0; ch < c; ch++)
            {
                mean[ch] = runningMean[ch];
                rstd[ch] = 1.0 / Math.Sqrt(runningVar[ch] + eps);
            }

        bool fast = Tape.FastKernels;
        var inputs = NormInputs(x, weight, bias);
        var y = Empty(x.Value);
        if (fast)
        {
            // The fast tier keeps no xhat: the backward recomputes (x - mu) rstd from x, which the graph holds anyway.
            BatchNormApplyFast(x.Value.Data, n, c, s, mean, rstd, gamma, beta, y.Data);
            return Function.Apply(training ? "batch_norm" : "batch_norm_eval", inputs, y, g =>
            {
                var gx = x.RequiresGrad ? Empty(x.Value) : null;
                var gw = weight is null ? null : Tensor<double>.Zeros(c);
                var gb = bias is null ? null : Tensor<double>.Zeros(c);
                BatchNormBackwardFast(g.Data, x.Value.Data, n, c, s, mean, rstd, gamma, training, gx?.Data, gw?.Data, gb?.Data);
                return NormGrads(gx, gw, gb, weight is not null, bias is not null);
            });
        }
        var xhat = Empty(x.Value);
        BatchNormApplyNaive(x.Value.Data, n, c, s, mean, rstd, gamma, beta, xhat.Data, y.Data);
        return Function.Apply(training ? "batch_norm" : "batch_norm_eval", inputs, y, g =>
        {
            var gx = x.RequiresGrad ? Empty(x.Value) : null;
            var gw = weight is null ? null : Tensor<double>.Zeros(c);
            var gb = bias is null ? null : Tensor<double>.Zeros(c);
            BatchNormBackwardNaive(g.Data, xhat.Data, n, c, s, rstd, gamma, training, gx?.Data, gw?.Data, gb?.Data);
            return NormGrads(gx, gw, gb, weight is not null, bias is not null);
        });
    }

    /// <summary>The VJP's result in input order: x, then weight and bias where present.</summary>
    private static Tensor<double>?[] NormGrads(Tensor<double>? gx, Tensor<double>? gw, Tensor<double>? gb, bool hasWeight, bool hasBias)
    {
        if (hasWeight && hasBias) return [gx, gw, gb];
        if (hasWeight) return [gx, gw];
        return hasBias ? [gx, gb] : [gx];
    }

    private static void BatchNormStatsNaive(double[] x, int n, int c, int s, double[] mean, double[] variance, double[] rstd, double eps)
    {
        double m = (double)n * s;
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0;
            for (int b = 0; b < n; b++)
                for (int i = 0; i < s; i++) sum += x[(b * c + ch) * s + i];
            double mu = sum / m, sq = 0;
            for (int b = 0; b < n; b++)
                for (int i = 0; i < s; i++)
                {
                    double d = x[(b * c + ch) * s + i] - mu;
                    sq += d * d;
                }
            mean[ch] = mu;
            variance[ch] = sq / m;
            rstd[ch] = 1.0 / Math.Sqrt(variance[ch] + eps);
        }
    }

    private static void BatchNormApplyNaive(double[] x, int n, int c, int s, double[] mean, double[] rstd, double[]? gamma, double[]? beta, double[] xhat, double[] y)
    {
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < s; i++)
                {
                    int e = (b * c + ch) * s + i;
                    xhat[e] = (x[e] - mean[ch]) * rstd[ch];
                    y[e] = xhat[e] * (gamma?[ch] ?? 1.0) + (beta?[ch] ?? 0.0);
                }
    }

    private static void BatchNormBackwardNaive(double[] g, double[] xhat, int n, int c, int s, double[] rstd, double[]? gamma, bool training,
        double[]? gx, double[]? gw, double[]? gb)
    {
        double m = (double)n * s;
        for (int ch = 0; ch < c; ch++)
        {
            double sumG = 0, sumGx = 0;
            for (int b = 0; b < n; b++)
                for (int i = 0; i < s; i++)
                {
                    int e = (b * c + ch) * s + i;
                    sumG += g[e];
                    sumGx += g[e] * xhat[e];
                }
            if (gw is not null) gw[ch] = sumGx;
            if (gb is not null) gb[ch] = sumG;
            if (gx is null) continue;
            double k = (gamma?[ch] ?? 1.0) * rstd[ch];
            for (int b = 0; b < n; b++)
                for (int i = 0; i < s; i++)
                {
                    int e = (b * c + ch) * s + i;
                    gx[e] = training ? k / m * (m * g[e] - sumG - xhat[e] * sumGx) : k * g[e];
                }
        }
    }
}
