using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Fast tier of <see cref="Ops.BatchNorm"/>: the same two-pass statistics and closed-form backward,
/// evaluated on the contiguous S-long row of every (n, c) with TensorPrimitives (sums, dot
/// products and scalar affine maps), channel sums accumulated row by row.
/// </summary>
public static partial class Ops
{
    private static void BatchNormStatsFast(double[] x, int n, int c, int s, double[] mean, double[] variance, double[] rstd, double eps)
    {
        double m = (double)n * s;
        var centered = GC.AllocateUninitializedArray<double>(s);
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0;
            for (int b = 0; b < n; b++) sum += TensorPrimitives.Sum<double>(x.AsSpan((b * c + ch) * s, s));
            double mu = sum / m, sq = 0;
            for (int b = 0; b < n; b++)
            {
                TensorPrimitives.Subtract(x.AsSpan((b * c + ch) * s, s), mu, centered);
                sq += TensorPrimitives.SumOfSquares<double>(centered);
            }
            mean[ch] = mu;
            variance[ch] = sq / m;
            rstd[ch] = 1.0 / Math.Sqrt(variance[ch] + eps);
        }
    }

    private static void BatchNormApplyFast(double[] x, int n, int c, int s, double[] mean, double[] rstd, double[]? gamma, double[]? beta, double[] xhat, double[] y)
    {
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
            {
                int o = (b * c + ch) * s;
                var xh = xhat.AsSpan(o, s);
                TensorPrimitives.Subtract(x.AsSpan(o, s), mean[ch], xh);
                TensorPrimitives.Multiply<double>(xh, rstd[ch], xh);
                var dst = y.AsSpan(o, s);
                TensorPrimitives.Multiply<double>(xh, gamma?[ch] ?? 1.0, dst);
                TensorPrimitives.Add<double>(dst, beta?[ch] ?? 0.0, dst);
            }
    }

    private static void BatchNormBackwardFast(double[] g, double[] xhat, int n, int c, int s, double[] rstd, double[]? gamma, bool training,
        double[]? gx, double[]? gw, double[]? gb)
    {
        double m = (double)n * s;
        for (int ch = 0; ch < c; ch++)
        {
            double sumG = 0, sumGx = 0;
            for (int b = 0; b < n; b++)
            {
                int o = (b * c + ch) * s;
                sumG += TensorPrimitives.Sum<double>(g.AsSpan(o, s));
                sumGx += TensorPrimitives.Dot<double>(g.AsSpan(o, s), xhat.AsSpan(o, s));
            }
            if (gw is not null) gw[ch] = sumGx;
            if (gb is not null) gb[ch] = sumG;
            if (gx is null) continue;
            double k = (gamma?[ch] ?? 1.0) * rstd[ch];
            for (int b = 0; b < n; b++)
            {
                int o = (b * c + ch) * s;
                var dst = gx.AsSpan(o, s);
                if (!training) { TensorPrimitives.Multiply(g.AsSpan(o, s), k, dst); continue; }
                // (k / M) (M g - sumG - xhat sumGx) = k g - (k sumGx / M) xhat - k sumG / M
                TensorPrimitives.Multiply(xhat.AsSpan(o, s), -k * sumGx / m, dst);
                TensorPrimitives.MultiplyAdd<double>(g.AsSpan(o, s), k, dst, dst);
                TensorPrimitives.Add<double>(dst, -k * sumG / m, dst);
            }
        }
    }
}
