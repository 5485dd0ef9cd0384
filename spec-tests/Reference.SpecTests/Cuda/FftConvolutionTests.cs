using Reference.Core;
using Reference.Cuda;

namespace Reference.SpecTests.Cuda;

/// <summary>
/// The CUDA path's FFT causal convolution (four-step transforms in shared memory, two real signals
/// per complex transform) against the float64 direct sum y[c, t] = sum_{j &lt;= t} k[c, j] u[c, t - j],
/// on drawn shapes that cross the transform's split N = N1 N2, several column groups, L &lt; Lk and odd
/// channel counts (the last inverse pair holds one channel). The bound is the FFT convolution's:
/// ||y - y*|| &lt;= 8 log2(N) u (||u||_2 ||k||_1 + ||k||_2 ||u||_1) per channel, u the unit roundoff.
/// In CI this runs on ILGPU's CPU accelerator; on the GPU machine on the H200.
/// </summary>
public class FftConvolutionTests
{
    private static double[] Direct(double[] u, double[] k, int channels, int l, int lk)
    {
        var y = new double[(long)channels * l];
        for (int c = 0; c < channels; c++)
            for (int t = 0; t < l; t++)
            {
                double sum = 0;
                for (int j = 0; j <= Math.Min(t, lk - 1); j++) sum += k[c * lk + j] * u[c * l + t - j];
                y[c * l + t] = sum;
            }
        return y;
    }

    private static double[] Run(double[] u, double[] k, int channels, int l, int lk, bool single, GpuOps.ConvolutionPath path) =>
        single
            ? Array.ConvertAll(GpuOps.CausalConvolution(Array.ConvertAll(u, v => (float)v), Array.ConvertAll(k, v => (float)v), channels, l, lk, path), v => (double)v)
            : GpuOps.CausalConvolution(u, k, channels, l, lk, path);

    private static void AssertWithinBound(double[] got, double[] u, double[] k, int channels, int l, int lk, bool single, string what)
    {
        long span = (long)l + Math.Min(l, lk) - 1;
        int logN = Math.Max(1, (int)Math.Ceiling(Math.Log2(Math.Max(2, span))));
        double unit = single ? Math.ScaleB(1.0, -24) : Math.ScaleB(1.0, -53);
        var want = Direct(u, k, channels, l, lk);
        for (int c = 0; c < channels; c++)
        {
            var uc = u.AsSpan(c * l, l).ToArray();
            var kc = k.AsSpan(c * lk, Math.Min(l, lk)).ToArray();
            double u2 = Math.Sqrt(uc.Sum(v => v * v)), u1 = uc.Sum(Math.Abs), k2 = Math.Sqrt(kc.Sum(v => v * v)), k1 = kc.Sum(Math.Abs);
            double bound = 8 * logN * unit * (u2 * k1 + k2 * u1), err = 0;
            for (int t = 0; t < l; t++)
            {
                double d = got[c * l + t] - want[c * l + t];
                err += double.IsFinite(d) ? d * d : double.PositiveInfinity;
            }
            Assert.True(Math.Sqrt(err) <= bound, $"{what}: channel {c} of C {channels} L {l} Lk {lk}: ||y - y*|| = {Math.Sqrt(err):E3} > {bound:E3}");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Property_FftMatchesTheDirectSumOnDrawnShapes(bool single)
    {
        var rng = new SplitMix64(0xFF7C);
        for (int draw = 0; draw < 6; draw++)
        {
            // Draw 5 reaches N = 4096 (N1 = N2 = 64: two column groups per channel); the others stay under 2048.
            int l = draw switch { 0 => 1 + rng.NextInt(4), 5 => 2100 + rng.NextInt(500), _ => 5 + rng.NextInt(300) };
            int channels = 1 + rng.NextInt(3), lk = 1 + rng.NextInt(draw == 5 ? 2000 : l + 5);
            var u = new double[channels * l];
            var k = new double[channels * lk];
            for (int i = 0; i < u.Length; i++) u[i] = (float)rng.Normal();
            for (int i = 0; i < k.Length; i++) k[i] = (float)(rng.Normal() / Math.Sqrt(lk));
            var got = Run(u, k, channels, l, lk, single, GpuOps.ConvolutionPath.Fft);
            AssertWithinBound(got, u, k, channels, l, lk, single, $"draw {draw}");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Edge_KernelAndInputOfVeryDifferentScale(bool single)
    {
        // z = u + i s k with s a power of two per channel: without s, |k| 2^-40 of |u| would drown in the
        // rounding of |u| (the bound, relative to ||u|| ||k||, would fail by a factor near 2^40).
        var rng = new SplitMix64(0xFF7D);
        int channels = 3, l = 200, lk = 150;
        var u = new double[channels * l];
        var k = new double[channels * lk];
        for (int i = 0; i < u.Length; i++) u[i] = Math.ScaleB((float)rng.Normal(), 12 * (i / l));
        for (int i = 0; i < k.Length; i++) k[i] = Math.ScaleB((float)rng.Normal(), -40 + 30 * (i / lk));
        AssertWithinBound(Run(u, k, channels, l, lk, single, GpuOps.ConvolutionPath.Fft), u, k, channels, l, lk, single, "scaled");
    }

    [Fact]
    public void Edge_AutoPathAgreesWithBothKernels()
    {
        // Auto takes the direct sum up to DirectConvolutionTaps taps and the FFT beyond; both against the direct float64 sum.
        var rng = new SplitMix64(0xFF7E);
        foreach (int lk in new[] { GpuOps.DirectConvolutionTaps, GpuOps.DirectConvolutionTaps + 1 })
        {
            int channels = 2, l = 150;
            var u = new double[channels * l];
            var k = new double[channels * lk];
            for (int i = 0; i < u.Length; i++) u[i] = rng.Normal();
            for (int i = 0; i < k.Length; i++) k[i] = rng.Normal();
            foreach (var path in new[] { GpuOps.ConvolutionPath.Auto, GpuOps.ConvolutionPath.Direct, GpuOps.ConvolutionPath.Fft })
                AssertWithinBound(Run(u, k, channels, l, lk, single: false, path), u, k, channels, l, lk, single: false, $"{path} Lk {lk}");
        }
    }

    [Fact]
    public void Negative_AWrongOutputFailsTheBound()
    {
        // The bound is tight enough to catch one output off by 1e-6 of the row's norm (float64 path).
        var rng = new SplitMix64(0xFF7F);
        int channels = 1, l = 100, lk = 100;
        var u = new double[l];
        var k = new double[lk];
        for (int i = 0; i < l; i++) u[i] = rng.Normal();
        for (int i = 0; i < lk; i++) k[i] = rng.Normal();
        var got = Run(u, k, channels, l, lk, single: false, GpuOps.ConvolutionPath.Fft);
        got[37] += 1e-6 * Math.Sqrt(got.Sum(v => v * v));
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => AssertWithinBound(got, u, k, channels, l, lk, single: false, "perturbed"));
    }
}
