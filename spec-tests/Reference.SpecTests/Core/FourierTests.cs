using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using MathNet.Numerics.IntegralTransforms;
using Reference.Core;
using Reference.Core.Fourier;

namespace Reference.SpecTests.Core;

/// <summary>A transform case: length N (powers of two, odd primes, composites near SIMD widths), values from SplitMix64(Seed).</summary>
public sealed record FftCase(int N, int Seed)
{
    public static readonly int[] Lengths = [1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 31, 32, 33, 64, 97, 100, 128, 256];

    public static Arbitrary<FftCase> Arbitrary() =>
        (from n in Gen.Elements(Lengths)
         from seed in Cases.Seed
         select new FftCase(n, seed)).ToArbitrary();
}

/// <summary>Shared helpers: random split-complex inputs and conversions to <see cref="Complex"/>.</summary>
internal static class FourierData
{
    public static (double[] Re, double[] Im) Random(int n, int seed)
    {
        var rng = new SplitMix64((ulong)seed);
        var re = new double[n];
        var im = new double[n];
        rng.FillNormal<double>(re);
        rng.FillNormal<double>(im);
        return (re, im);
    }

    public static Complex[] ToComplex(ReadOnlySpan<double> re, ReadOnlySpan<double> im)
    {
        var z = new Complex[re.Length];
        for (int i = 0; i < z.Length; i++) z[i] = new Complex(re[i], im[i]);
        return z;
    }

    /// <summary>Interleaved (re0, im0, re1, im1, ...) so one relative error covers both parts.</summary>
    public static double[] Flatten(ReadOnlySpan<Complex> z)
    {
        var v = new double[2 * z.Length];
        for (int i = 0; i < z.Length; i++) { v[2 * i] = z[i].Real; v[2 * i + 1] = z[i].Imaginary; }
        return v;
    }

    public static double[] Flatten<T>(ReadOnlySpan<T> re, ReadOnlySpan<T> im) where T : INumberBase<T>
    {
        var v = new double[2 * re.Length];
        for (int i = 0; i < re.Length; i++) { v[2 * i] = double.CreateChecked(re[i]); v[2 * i + 1] = double.CreateChecked(im[i]); }
        return v;
    }

    public static float[] ToFloat(double[] x) => Array.ConvertAll(x, v => (float)v);

    public static double[] ToDouble(float[] x) => Array.ConvertAll(x, v => (double)v);
}

/// <summary>Fast-vs-definition checks: also run with AVX2 and with all hardware intrinsics disabled (.ci/run).</summary>
[Trait("Category", "IsaParity")]
public class FourierTests
{
    private static readonly int[] BriefLengths = [1, 2, 3, 5, 7, 8, 12, 17, 31, 64, 97, 100, 1000];

    [Property(Arbitrary = [typeof(FftCase)])]
    public void Property_Float64Forward_MatchesNaiveDft(FftCase c)
    {
        var (re, im) = FourierData.Random(c.N, c.Seed);
        var expected = NaiveDft.Forward(FourierData.ToComplex(re, im));
        new FftPlan<double>(c.N).Forward(re, im);
        Assert.True(Metrics.RelativeError(FourierData.Flatten(expected), FourierData.Flatten<double>(re, im)) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(FftCase)])]
    public void Property_Float64Inverse_MatchesNaiveInverse(FftCase c)
    {
        var (re, im) = FourierData.Random(c.N, c.Seed);
        var expected = NaiveDft.Inverse(FourierData.ToComplex(re, im));
        new FftPlan<double>(c.N).Inverse(re, im);
        Assert.True(Metrics.RelativeError(FourierData.Flatten(expected), FourierData.Flatten<double>(re, im)) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(FftCase)])]
    public void Property_Float32Forward_MatchesNaiveDft(FftCase c)
    {
        var (re, im) = FourierData.Random(c.N, c.Seed);
        var fr = FourierData.ToFloat(re);
        var fi = FourierData.ToFloat(im);
        // The definition applied to the float32-rounded input isolates the FFT's own rounding.
        var expected = NaiveDft.Forward(FourierData.ToComplex(FourierData.ToDouble(fr), FourierData.ToDouble(fi)));
        new FftPlan<float>(c.N).Forward(fr, fi);
        Assert.True(Metrics.RelativeError(FourierData.Flatten(expected), FourierData.Flatten<float>(fr, fi)) <= 1e-5);
    }

    [Fact]
    public void Golden_BriefLengths_BothPrecisions_MatchNaiveDft()
    {
        foreach (int n in BriefLengths)
        {
            var (re, im) = FourierData.Random(n, 1000 + n);
            var expected = FourierData.Flatten(NaiveDft.Forward(FourierData.ToComplex(re, im)));
            var fr = FourierData.ToFloat(re);
            var fi = FourierData.ToFloat(im);
            new FftPlan<double>(n).Forward(re, im);
            new FftPlan<float>(n).Forward(fr, fi);
            double e64 = Metrics.RelativeError(expected, FourierData.Flatten<double>(re, im));
            double e32 = Metrics.RelativeError(expected, FourierData.Flatten<float>(fr, fi));
            Assert.True(e64 <= 1e-12, $"n = {n}: float64 relative error {e64:E2} > 1e-12");
            Assert.True(e32 <= 1e-5, $"n = {n}: float32 relative error {e32:E2} > 1e-5");
        }
    }

    [Fact]
    public void Property_MatchesMathNetFourier()
    {
        // FourierOptions.Matlab: unscaled forward, 1/n inverse, exp(-2 pi i jk/n) forward (our convention).
        foreach (int n in (int[])[3, 8, 100, 1000, 1024, 4096, 4097])
        {
            var (re, im) = FourierData.Random(n, 7 * n);
            var z = FourierData.ToComplex(re, im);
            var plan = new FftPlan<double>(n);
            Fourier.Forward(z, FourierOptions.Matlab);
            plan.Forward(re, im);
            double forward = Metrics.RelativeError(FourierData.Flatten(z), FourierData.Flatten<double>(re, im));
            Assert.True(forward <= 1e-12, $"n = {n}: forward relative error {forward:E2}");
            Fourier.Inverse(z, FourierOptions.Matlab);
            plan.Inverse(re, im);
            double inverse = Metrics.RelativeError(FourierData.Flatten(z), FourierData.Flatten<double>(re, im));
            Assert.True(inverse <= 1e-12, $"n = {n}: inverse relative error {inverse:E2}");
        }
    }

    [Property(Arbitrary = [typeof(FftCase)])]
    public void Property_Parseval(FftCase c)
    {
        var (re, im) = FourierData.Random(c.N, c.Seed);
        double timeEnergy = TensorPrimitives.SumOfSquares<double>(re) + TensorPrimitives.SumOfSquares<double>(im);
        new FftPlan<double>(c.N).Forward(re, im);
        double freqEnergy = (TensorPrimitives.SumOfSquares<double>(re) + TensorPrimitives.SumOfSquares<double>(im)) / c.N;
        Assert.True(Math.Abs(timeEnergy - freqEnergy) <= 1e-12 * timeEnergy, $"sum |x|^2 = {timeEnergy}, sum |X|^2 / n = {freqEnergy}");
    }

    [Property(Arbitrary = [typeof(FftCase)])]
    public void Property_Linearity(FftCase c)
    {
        var (xr, xi) = FourierData.Random(c.N, c.Seed);
        var (yr, yi) = FourierData.Random(c.N, c.Seed ^ 0x5bd1e995);
        const double a = 0.75, b = -1.5;
        var sr = new double[c.N];
        var si = new double[c.N];
        for (int i = 0; i < c.N; i++) { sr[i] = a * xr[i] + b * yr[i]; si[i] = a * xi[i] + b * yi[i]; }
        var plan = new FftPlan<double>(c.N);
        plan.Forward(xr, xi);
        plan.Forward(yr, yi);
        plan.Forward(sr, si);
        var combined = new Complex[c.N];
        for (int i = 0; i < c.N; i++) combined[i] = a * new Complex(xr[i], xi[i]) + b * new Complex(yr[i], yi[i]);
        Assert.True(Metrics.RelativeError(FourierData.Flatten(combined), FourierData.Flatten<double>(sr, si)) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(FftCase)])]
    public void Property_RoundTrip_BothPrecisions(FftCase c)
    {
        var (re, im) = FourierData.Random(c.N, c.Seed);
        var original = FourierData.Flatten<double>(re, im);
        var fr = FourierData.ToFloat(re);
        var fi = FourierData.ToFloat(im);
        var p64 = new FftPlan<double>(c.N);
        p64.Forward(re, im);
        p64.Inverse(re, im);
        Assert.True(Metrics.RelativeError(original, FourierData.Flatten<double>(re, im)) <= 1e-13);
        var p32 = new FftPlan<float>(c.N);
        p32.Forward(fr, fi);
        p32.Inverse(fr, fi);
        Assert.True(Metrics.RelativeError(original, FourierData.Flatten<float>(fr, fi)) <= 1e-5);
    }

    [Property(Arbitrary = [typeof(FftCase)])]
    public void Property_Rows_EqualPerRowTransforms(FftCase c)
    {
        const int rows = 3;
        var (re, im) = FourierData.Random(rows * c.N, c.Seed);
        var plan = new FftPlan<double>(c.N);
        var expRe = (double[])re.Clone();
        var expIm = (double[])im.Clone();
        for (int r = 0; r < rows; r++) plan.Forward(expRe.AsSpan(r * c.N, c.N), expIm.AsSpan(r * c.N, c.N));
        plan.ForwardRows(re, im, rows);
        Assert.Equal(expRe, re);
        Assert.Equal(expIm, im);
        plan.InverseRows(re, im, rows);
        for (int r = 0; r < rows; r++) plan.Inverse(expRe.AsSpan(r * c.N, c.N), expIm.AsSpan(r * c.N, c.N));
        Assert.Equal(expRe, re);
        Assert.Equal(expIm, im);
    }

    [Fact]
    public void Property_ScalarAndVectorPaths_AgreeToTheBit()
    {
        // The Vector256 passes (and the transposed leaf codelet) run the scalar path's operations
        // in the same order, lane-parallel, so the two paths give identical bits.
        foreach (int n in (int[])[16, 32, 64, 128, 1024, 2048])
        {
            var (re, im) = FourierData.Random(n, n);
            var (sr, si) = ((double[])re.Clone(), (double[])im.Clone());
            var (fr, fi) = (FourierData.ToFloat(re), FourierData.ToFloat(im));
            var (gr, gi) = ((float[])fr.Clone(), (float[])fi.Clone());
            new PowerOfTwoFft<double>(n).Forward(re, im);
            new PowerOfTwoFft<double>(n, allowVectors: false).Forward(sr, si);
            new PowerOfTwoFft<float>(n).Forward(fr, fi);
            new PowerOfTwoFft<float>(n, allowVectors: false).Forward(gr, gi);
            Assert.Equal(sr, re);
            Assert.Equal(si, im);
            Assert.Equal(gr, fr);
            Assert.Equal(gi, fi);
        }
    }

    [Fact]
    public void Edge_Impulse_GivesFlatSpectrum_AndConstant_GivesDc()
    {
        foreach (int n in (int[])[1, 8, 9, 100])
        {
            var re = new double[n];
            var im = new double[n];
            re[0] = 1;
            new FftPlan<double>(n).Forward(re, im);
            for (int k = 0; k < n; k++) { Assert.Equal(1.0, re[k], 1e-13); Assert.Equal(0.0, im[k], 1e-13); }
            new FftPlan<double>(n).Forward(re, im);   // DFT of all ones: n at k = 0, zero elsewhere
            Assert.Equal(n, re[0], 1e-12);
            for (int k = 1; k < n; k++) { Assert.Equal(0.0, re[k], 1e-12); Assert.Equal(0.0, im[k], 1e-12); }
        }
    }

    [Fact]
    public void Edge_NaiveDft_SingleTone_LandsInOneBin()
    {
        const int n = 12, tone = 5;
        var x = new Complex[n];
        for (int j = 0; j < n; j++) x[j] = Complex.Exp(new Complex(0, 2 * Math.PI * tone * j / n));
        var spectrum = NaiveDft.Forward(x);
        for (int k = 0; k < n; k++) Assert.Equal(k == tone ? n : 0.0, spectrum[k].Magnitude, 1e-12);
    }

    [Fact]
    public void Negative_ComparatorRejectsWrongSpectra()
    {
        var (re, im) = FourierData.Random(64, 3);
        var expected = FourierData.Flatten(NaiveDft.Forward(FourierData.ToComplex(re, im)));
        new FftPlan<double>(64).Forward(re, im);
        var scaled = FourierData.Flatten<double>(re, im).Select(v => v * (1 + 1e-3)).ToArray();
        Assert.True(Metrics.RelativeError(expected, scaled) > 1e-12);
        var shifted = FourierData.Flatten<double>(re.Skip(1).Append(re[0]).ToArray(), im);
        Assert.True(Metrics.RelativeError(expected, shifted) > 1e-12);
        Assert.True(Metrics.RelativeError(expected, new double[expected.Length]) > 1e-12);
    }

    [Fact]
    public void Negative_BadArguments_NameTheArgument()
    {
        Assert.Equal("n", Assert.Throws<ArgumentOutOfRangeException>(() => new FftPlan<double>(0)).ParamName);
        Assert.Equal("n", Assert.Throws<ArgumentOutOfRangeException>(() => new RealFftPlan<float>(-3)).ParamName);
        var plan = new FftPlan<double>(8);
        Assert.Equal("re", Assert.Throws<ArgumentException>(() => plan.Forward(new double[7], new double[8])).ParamName);
        Assert.Equal("im", Assert.Throws<ArgumentException>(() => plan.Inverse(new double[8], new double[9])).ParamName);
        Assert.Equal("rows", Assert.Throws<ArgumentOutOfRangeException>(() => plan.ForwardRows(new double[8], new double[8], -1)).ParamName);
        var real = new RealFftPlan<double>(8);
        Assert.Equal("re", Assert.Throws<ArgumentException>(() => real.Forward(new double[8], new double[4], new double[5])).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => real.Inverse(new double[5], new double[5], new double[9])).ParamName);
        Assert.Equal("result", Assert.Throws<ArgumentException>(() => NaiveDft.Forward(new Complex[3], new Complex[4])).ParamName);
        var shared = new double[16];
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => real.Forward(shared.AsSpan(0, 8), shared.AsSpan(5, 5), new double[5])).ParamName);
    }
}
