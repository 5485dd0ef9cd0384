using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Fast tier of <see cref="Ops.BatchNorm"/>: the same two-pass statistics and closed-form backward,
/// one vectorized pass (Vector256, scalar tail) per contiguous S-long row of every (n, c) and step,
/// channel sums accumulated row by row, no temporaries. Where Vector512 is accelerated the row sums
/// sum (x - mu)^2, sum G and sum G (x - mu) run in steps of 16 with two Vector512 accumulators (even
/// and odd 8-element blocks; one chain of Vector256 adds was latency bound), added and reduced at the
/// end, then the scalar tail; the elementwise passes use Vector512 too (same values as Vector256):
///   statistics: sum x, then sum (x - mu)^2 (the two-pass variance, without a centered copy);
///   forward:    y = (x - mu) (gamma rstd) + beta                  (xhat is not stored);
///   backward:   sum G and sum G (x - mu) in one pass (sum G xhat = rstd sum G (x - mu)), then
///               dx = k G - (k rstd sumGxhat / M) (x - mu) - k sumG / M with k = gamma rstd (training),
///               dx = k G (evaluation).
/// Rounding differs from the Naive tier by a few units in the last place (gamma rstd is formed once).
/// </summary>
public static partial class Ops
{
    private static void BatchNormStatsFast(double[] x, int n, int c, int s, double[] mean, double[] variance, double[] rstd, double eps)
    {
        double m = (double)n * s;
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0;
            for (int b = 0; b < n; b++) sum += TensorPrimitives.Sum<double>(x.AsSpan((b * c + ch) * s, s));
            double mu = sum / m, sq = 0;
            for (int b = 0; b < n; b++) sq += SumOfSquaredDeviations(x.AsSpan((b * c + ch) * s, s), mu);
            mean[ch] = mu;
            variance[ch] = sq / m;
            rstd[ch] = 1.0 / Math.Sqrt(variance[ch] + eps);
        }
    }

    private static void BatchNormApplyFast(double[] x, int n, int c, int s, double[] mean, double[] rstd, double[]? gamma, double[]? beta, double[] y)
    {
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
            {
                int o = (b * c + ch) * s;
                CenterScaleShift(x.AsSpan(o, s), mean[ch], (gamma?[ch] ?? 1.0) * rstd[ch], beta?[ch] ?? 0.0, y.AsSpan(o, s));
            }
    }

    private static void BatchNormBackwardFast(double[] g, double[] x, int n, int c, int s, double[] mean, double[] rstd, double[]? gamma, bool training,
        double[]? gx, double[]? gw, double[]? gb)
    {
        double m = (double)n * s;
        for (int ch = 0; ch < c; ch++)
        {
            double sumG = 0, sumGc = 0;
            for (int b = 0; b < n; b++)
            {
                int o = (b * c + ch) * s;
                var (rowG, rowGc) = SumAndCenteredDot(g.AsSpan(o, s), x.AsSpan(o, s), mean[ch]);
                sumG += rowG;
                sumGc += rowGc;
            }
            double sumGx = sumGc * rstd[ch];
            if (gw is not null) gw[ch] = sumGx;
            if (gb is not null) gb[ch] = sumG;
            if (gx is null) continue;
            double k = (gamma?[ch] ?? 1.0) * rstd[ch];
            double slope = training ? -k * sumGx * rstd[ch] / m : 0.0, shift = training ? -k * sumG / m : 0.0;
            for (int b = 0; b < n; b++)
            {
                int o = (b * c + ch) * s;
                if (!training) TensorPrimitives.Multiply(g.AsSpan(o, s), k, gx.AsSpan(o, s));
                else ScaledPlusCentered(g.AsSpan(o, s), k, x.AsSpan(o, s), mean[ch], slope, shift, gx.AsSpan(o, s));
            }
        }
    }

    /// <summary>sum_i (x_i - mu)^2.</summary>
    private static double SumOfSquaredDeviations(ReadOnlySpan<double> x, double mu)
    {
        int i = 0;
        double sum = 0;
        if (Vector512.IsHardwareAccelerated && x.Length >= 16)
        {
            var m = Vector512.Create(mu);
            Vector512<double> a0 = default, a1 = default;
            ref double r = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
            for (; i <= x.Length - 16; i += 16)
            {
                var d0 = Vector512.LoadUnsafe(ref r, (nuint)i) - m;
                var d1 = Vector512.LoadUnsafe(ref r, (nuint)i + 8) - m;
                a0 += d0 * d0;
                a1 += d1 * d1;
            }
            sum = Vector512.Sum(a0 + a1);
        }
        else if (Vector256.IsHardwareAccelerated && x.Length >= 8)
        {
            var m = Vector256.Create(mu);
            Vector256<double> a0 = default, a1 = default;
            ref double r = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
            for (; i <= x.Length - 8; i += 8)
            {
                var d0 = Vector256.LoadUnsafe(ref r, (nuint)i) - m;
                var d1 = Vector256.LoadUnsafe(ref r, (nuint)i + 4) - m;
                a0 += d0 * d0;
                a1 += d1 * d1;
            }
            sum = Vector256.Sum(a0 + a1);
        }
        for (; i < x.Length; i++)
        {
            double d = x[i] - mu;
            sum += d * d;
        }
        return sum;
    }

    /// <summary>y_i = (x_i - mu) scale + shift.</summary>
    private static void CenterScaleShift(ReadOnlySpan<double> x, double mu, double scale, double shift, Span<double> y)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var m = Vector256.Create(mu);
            var k = Vector256.Create(scale);
            var b = Vector256.Create(shift);
            ref double rx = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
            ref double ry = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(y);
            for (; i <= x.Length - 4; i += 4)
                ((Vector256.LoadUnsafe(ref rx, (nuint)i) - m) * k + b).StoreUnsafe(ref ry, (nuint)i);
        }
        for (; i < x.Length; i++) y[i] = (x[i] - mu) * scale + shift;
    }

    /// <summary>(sum_i g_i, sum_i g_i (x_i - mu)).</summary>
    private static (double SumG, double SumGCentered) SumAndCenteredDot(ReadOnlySpan<double> g, ReadOnlySpan<double> x, double mu)
    {
        int i = 0;
        double sg = 0, sgc = 0;
        if (Vector512.IsHardwareAccelerated && g.Length >= 16)
        {
            var m = Vector512.Create(mu);
            Vector512<double> ag0 = default, ag1 = default, agc0 = default, agc1 = default;
            ref double rg = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(g);
            ref double rx = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
            for (; i <= g.Length - 16; i += 16)
            {
                var g0 = Vector512.LoadUnsafe(ref rg, (nuint)i);
                var g1 = Vector512.LoadUnsafe(ref rg, (nuint)i + 8);
                ag0 += g0;
                ag1 += g1;
                agc0 += g0 * (Vector512.LoadUnsafe(ref rx, (nuint)i) - m);
                agc1 += g1 * (Vector512.LoadUnsafe(ref rx, (nuint)i + 8) - m);
            }
            sg = Vector512.Sum(ag0 + ag1);
            sgc = Vector512.Sum(agc0 + agc1);
        }
        else if (Vector256.IsHardwareAccelerated && g.Length >= 4)
        {
            var m = Vector256.Create(mu);
            Vector256<double> ag = default, agc = default;
            ref double rg = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(g);
            ref double rx = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
            for (; i <= g.Length - 4; i += 4)
            {
                var gv = Vector256.LoadUnsafe(ref rg, (nuint)i);
                ag += gv;
                agc += gv * (Vector256.LoadUnsafe(ref rx, (nuint)i) - m);
            }
            sg = Vector256.Sum(ag);
            sgc = Vector256.Sum(agc);
        }
        for (; i < g.Length; i++)
        {
            sg += g[i];
            sgc += g[i] * (x[i] - mu);
        }
        return (sg, sgc);
    }

    /// <summary>d_i = g_i k + (x_i - mu) slope + shift.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScaledPlusCentered(ReadOnlySpan<double> g, double k, ReadOnlySpan<double> x, double mu, double slope, double shift, Span<double> d)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var m = Vector512.Create(mu);
            var kv = Vector512.Create(k);
            var sl = Vector512.Create(slope);
            var sh = Vector512.Create(shift);
            ref double rg = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(g);
            ref double rx = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
            ref double rd = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(d);
            for (; i <= g.Length - 8; i += 8)
                (Vector512.LoadUnsafe(ref rg, (nuint)i) * kv + ((Vector512.LoadUnsafe(ref rx, (nuint)i) - m) * sl + sh)).StoreUnsafe(ref rd, (nuint)i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var m = Vector256.Create(mu);
            var kv = Vector256.Create(k);
            var sl = Vector256.Create(slope);
            var sh = Vector256.Create(shift);
            ref double rg = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(g);
            ref double rx = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
            ref double rd = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(d);
            for (; i <= g.Length - 4; i += 4)
                (Vector256.LoadUnsafe(ref rg, (nuint)i) * kv + ((Vector256.LoadUnsafe(ref rx, (nuint)i) - m) * sl + sh)).StoreUnsafe(ref rd, (nuint)i);
        }
        for (; i < g.Length; i++) d[i] = g[i] * k + ((x[i] - mu) * slope + shift);
    }
}
