using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Core.Fourier;

namespace Reference.SpecTests.Core;

/// <summary>A causal-convolution case: C channels of length L with kernels of length Lk (shorter, equal or longer), seed for SplitMix64.</summary>
public sealed record ConvolutionCase(int Channels, int Length, int KernelLength, int Seed)
{
    public static Arbitrary<ConvolutionCase> Arbitrary() =>
        (from c in Gen.Elements(1, 2, 3, 5)
         from l in Gen.Elements(1, 2, 7, 8, 9, 16, 17, 31, 33, 100)
         from lk in Gen.OneOf(Gen.Elements(1, 2, 3, 8, 17, 64), Gen.Constant(l), Gen.Constant(l + 3))
         from seed in Cases.Seed
         select new ConvolutionCase(c, l, lk, seed)).ToArbitrary();
}

/// <summary>Fast-vs-definition checks: also run with AVX2 and with all hardware intrinsics disabled (.ci/run).</summary>
[Trait("Category", "IsaParity")]
public class FourierConvolutionTests
{
    private static (double[] U, double[] K) Inputs(ConvolutionCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var u = new double[c.Channels * c.Length];
        var k = new double[c.Channels * c.KernelLength];
        rng.FillNormal<double>(u);
        rng.FillNormal<double>(k);
        return (u, k);
    }

    [Property(Arbitrary = [typeof(ConvolutionCase)])]
    public void Property_Float64Fft_MatchesDirectSum(ConvolutionCase c)
    {
        var (u, k) = Inputs(c);
        var expected = new double[u.Length];
        var actual = new double[u.Length];
        FftConvolution.NaiveCausal(u, k, expected, c.Channels, c.Length, c.KernelLength);
        FftConvolution.Causal<double>(u, k, actual, c.Channels, c.Length, c.KernelLength);
        Assert.True(Metrics.RelativeError(expected, actual) <= 1e-12);
        // Both routes of the fast tier on every case, whatever the dispatch picks.
        foreach (bool direct in (bool[])[false, true])
        {
            var routed = new double[u.Length];
            FftConvolution.CausalRoute<double>(u, k, routed, c.Channels, c.Length, c.KernelLength, direct);
            Assert.True(Metrics.RelativeError(expected, routed) <= 1e-12, $"direct = {direct}");
        }
    }

    [Property(Arbitrary = [typeof(ConvolutionCase)])]
    public void Property_Float32Fft_MatchesDirectSum(ConvolutionCase c)
    {
        var (u, k) = Inputs(c);
        var uf = FourierData.ToFloat(u);
        var kf = FourierData.ToFloat(k);
        var expected = new double[u.Length];
        FftConvolution.NaiveCausal(FourierData.ToDouble(uf), FourierData.ToDouble(kf), expected, c.Channels, c.Length, c.KernelLength);
        var actual = new float[u.Length];
        FftConvolution.Causal<float>(uf, kf, actual, c.Channels, c.Length, c.KernelLength);
        Assert.True(Metrics.RelativeError(expected, actual) <= 1e-5);
        foreach (bool direct in (bool[])[false, true])
        {
            var routed = new float[u.Length];
            FftConvolution.CausalRoute<float>(uf, kf, routed, c.Channels, c.Length, c.KernelLength, direct);
            Assert.True(Metrics.RelativeError(expected, routed) <= 1e-5, $"direct = {direct}");
        }
    }

    [Fact]
    public void Golden_LongSequence_BothPrecisions_MatchDirectSum()
    {
        var c = new ConvolutionCase(4, 1000, 1000, 17);
        var (u, k) = Inputs(c);
        var expected = new double[u.Length];
        FftConvolution.NaiveCausal(u, k, expected, c.Channels, c.Length, c.KernelLength);
        var y64 = new double[u.Length];
        FftConvolution.Causal<double>(u, k, y64, c.Channels, c.Length, c.KernelLength);
        Assert.True(Metrics.RelativeError(expected, y64) <= 1e-12);
        var y32 = new float[u.Length];
        FftConvolution.Causal<float>(FourierData.ToFloat(u), FourierData.ToFloat(k), y32, c.Channels, c.Length, c.KernelLength);
        Assert.True(Metrics.RelativeError(expected, y32) <= 1e-5);
    }

    [Fact]
    public void Property_Threads_GiveIdenticalResults()
    {
        var c = new ConvolutionCase(9, 200, 50, 5);
        var (u, k) = Inputs(c);
        var one = new double[u.Length];
        var many = new double[u.Length];
        FftConvolution.Causal<double>(u, k, one, c.Channels, c.Length, c.KernelLength, maxThreads: 1);
        FftConvolution.Causal<double>(u, k, many, c.Channels, c.Length, c.KernelLength, maxThreads: 4);
        Assert.Equal(one, many);
    }

    [Fact]
    public void Property_Causality_FutureInputDoesNotReachThePast()
    {
        var c = new ConvolutionCase(2, 64, 64, 9);
        var (u, k) = Inputs(c);
        var y = new double[u.Length];
        FftConvolution.Causal<double>(u, k, y, c.Channels, c.Length, c.KernelLength);
        for (int t = 40; t < c.Length; t++) u[t] += 100.0;   // perturb channel 0 from t = 40 on
        var z = new double[u.Length];
        FftConvolution.Causal<double>(u, k, z, c.Channels, c.Length, c.KernelLength);
        for (int t = 0; t < 40; t++) Assert.Equal(y[t], z[t], 1e-12);
        Assert.NotEqual(y[40], z[40], 1e-6);
    }

    [Fact]
    public void Edge_NaNStaysInItsChannel()
    {
        var c = new ConvolutionCase(3, 40, 12, 8);
        var (u, k) = Inputs(c);
        u[40 + 20] = double.NaN;   // channel 1, t = 20
        var y = new double[u.Length];
        FftConvolution.Causal<double>(u, k, y, c.Channels, c.Length, c.KernelLength);
        var expected = new double[u.Length];
        FftConvolution.NaiveCausal(u, k, expected, c.Channels, c.Length, c.KernelLength);
        Assert.True(Metrics.RelativeError(expected.AsSpan(0, 40), y.AsSpan(0, 40)) <= 1e-12);
        Assert.True(Metrics.RelativeError(expected.AsSpan(80, 40), y.AsSpan(80, 40)) <= 1e-12);
        Assert.True(double.IsNaN(y[40 + 20]));
    }

    [Fact]
    public void Edge_LengthOne_IsProductOfFirstSamples()
    {
        var u = new[] { 3.0f, -2.0f };
        var k = new[] { 0.5f, 9.0f, 1.5f, 7.0f };
        var y = new float[2];
        FftConvolution.Causal<float>(u, k, y, channels: 2, length: 1, kernelLength: 2);
        Assert.Equal(1.5f, y[0], 6);
        Assert.Equal(-3.0f, y[1], 6);
    }

    [Fact]
    public void Edge_FftSize_IsSmallestPowerOfTwoCoveringTheLinearConvolution()
    {
        Assert.Equal(8192, FftConvolution.FftSize(4096, 4096));
        Assert.Equal(4096, FftConvolution.FftSize(4096, 1));
        Assert.Equal(8192, FftConvolution.FftSize(4096, 100000));
        Assert.Equal(1, FftConvolution.FftSize(1, 1));
        Assert.Equal(32, FftConvolution.FftSize(17, 16));
    }

    [Fact]
    public void Negative_WrongOutputFailsTheComparator_AndBadArgumentsNameThemselves()
    {
        var c = new ConvolutionCase(2, 33, 9, 1);
        var (u, k) = Inputs(c);
        var expected = new double[u.Length];
        var actual = new double[u.Length];
        FftConvolution.NaiveCausal(u, k, expected, c.Channels, c.Length, c.KernelLength);
        FftConvolution.Causal<double>(u, k, actual, c.Channels, c.Length, c.KernelLength);
        actual[5] *= 1 + 1e-3;
        Assert.True(Metrics.RelativeError(expected, actual) > 1e-12);
        Assert.Equal("k", Assert.Throws<ArgumentException>(() =>
            FftConvolution.Causal<double>(u, new double[3], actual, 2, 33, 9)).ParamName);
        Assert.Equal("kernelLength", Assert.Throws<ArgumentOutOfRangeException>(() =>
            FftConvolution.Causal<double>(u, k, actual, 2, 33, 0)).ParamName);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() =>
            FftConvolution.NaiveCausal(u, k, new double[1], 2, 33, 9)).ParamName);
    }

    private static double[] Gradient(ConvolutionCase c)
    {
        var dy = new double[c.Channels * c.Length];
        new SplitMix64((ulong)c.Seed ^ 0x9E3779B97F4A7C15UL).FillNormal<double>(dy);
        return dy;
    }

    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    [Property(Arbitrary = [typeof(ConvolutionCase)])]
    public void Property_NaiveBackward_IsTheAdjointOfTheForwardMap(ConvolutionCase c)
    {
        // Dot-product test: y is bilinear in (u, k), so <y, dy> = <u, du> = <k, dk>.
        var (u, k) = Inputs(c);
        var dy = Gradient(c);
        var y = new double[u.Length];
        var du = new double[u.Length];
        var dk = new double[k.Length];
        FftConvolution.NaiveCausal(u, k, y, c.Channels, c.Length, c.KernelLength);
        FftConvolution.NaiveCausalBackward(dy, u, k, du, dk, c.Channels, c.Length, c.KernelLength);
        double reference = Dot(y, dy);
        double scale = Math.Sqrt(Dot(y, y) * Dot(dy, dy)) + 1e-300;
        Assert.True(Math.Abs(Dot(u, du) - reference) <= 1e-12 * scale);
        Assert.True(Math.Abs(Dot(k, dk) - reference) <= 1e-12 * scale);
    }

    /// <summary>
    /// The batched forms (S sequences sharing each channel's kernel, FFT route) against the naive definition
    /// per sequence: y and du to 1e-12 relative, dk against the in-order sum of the per-sequence naive kernel
    /// gradients; on 1 and 2 threads (bitwise the same).
    /// </summary>
    [Theory]
    [InlineData(1, 3, 100, 64)]
    [InlineData(3, 2, 100, 100)]
    [InlineData(4, 5, 33, 70)]
    [InlineData(2, 1, 256, 256)]
    public void Property_BatchedFft_MatchesNaivePerSequence(int sequences, int channels, int length, int kernelLength)
    {
        var (u, dy, k, y, du, dk) = BatchedConvolutionCase.Draw((ulong)(sequences * 131 + channels * 17 + length), sequences, channels, length, kernelLength);
        double[]? first = null;
        foreach (int threads in new[] { 1, 2 })
        {
            var fy = Enumerable.Repeat(double.NaN, u.Length).ToArray();
            var fu = Enumerable.Repeat(double.NaN, u.Length).ToArray();
            var fk = Enumerable.Repeat(double.NaN, k.Length).ToArray();
            FftConvolution.CausalBatched<double>(u, k, fy, sequences, channels, length, kernelLength, threads);
            FftConvolution.CausalBackwardBatched<double>(dy, u, k, fu, fk, sequences, channels, length, kernelLength, threads);
            Assert.True(Metrics.RelativeError(y, fy) <= 1e-12, $"y: {Metrics.RelativeError(y, fy)}");
            Assert.True(Metrics.RelativeError(du, fu) <= 1e-12, $"du: {Metrics.RelativeError(du, fu)}");
            Assert.True(Metrics.RelativeError(dk, fk) <= 1e-12, $"dk: {Metrics.RelativeError(dk, fk)}");
            double[] all = [.. fy, .. fu, .. fk];
            if (first is null) first = all;
            else Assert.Equal(first, all);
            // The forward's kept spectra of u replace the backward's transforms of u: the same bits.
            var spectra = Enumerable.Repeat(double.NaN, sequences * channels * 2 * FftConvolution.SpectrumBins(length, kernelLength)).ToArray();
            var sy = new double[u.Length];
            var su = new double[u.Length];
            var sk = new double[k.Length];
            FftConvolution.CausalBatched<double>(u, k, sy, sequences, channels, length, kernelLength, threads, spectra);
            Assert.DoesNotContain(spectra, double.IsNaN);
            FftConvolution.CausalBackwardBatched<double>(dy, u, k, su, sk, sequences, channels, length, kernelLength, threads, spectra);
            double[] reused = [.. sy, .. su, .. sk];
            Assert.Equal(all, reused);
        }
        Assert.Equal("dy", Assert.Throws<ArgumentException>(() =>
            FftConvolution.CausalBackwardBatched<double>(new double[1], u, k, du, dk, sequences, channels, length, kernelLength)).ParamName);
        Assert.Equal("uSpectra", Assert.Throws<ArgumentException>(() =>
            FftConvolution.CausalBatched<double>(u, k, y, sequences, channels, length, kernelLength, 1, new double[3])).ParamName);
        Assert.Equal("uSpectra", Assert.Throws<ArgumentException>(() =>
            FftConvolution.CausalBackwardBatched<double>(dy, u, k, du, dk, sequences, channels, length, kernelLength, 1, new double[3])).ParamName);
    }

    [Property(Arbitrary = [typeof(ConvolutionCase)])]
    public void Property_FftBackward_BothPrecisions_MatchNaiveBackward(ConvolutionCase c)
    {
        var (u, k) = Inputs(c);
        var dy = Gradient(c);
        var du = new double[u.Length];
        var dk = new double[k.Length];
        FftConvolution.NaiveCausalBackward(dy, u, k, du, dk, c.Channels, c.Length, c.KernelLength);
        var fu = new double[u.Length];
        var fk = new double[k.Length];
        FftConvolution.CausalBackward<double>(dy, u, k, fu, fk, c.Channels, c.Length, c.KernelLength);
        Assert.True(Metrics.RelativeError(du, fu) <= 1e-12);
        Assert.True(Metrics.RelativeError(dk, fk) <= 1e-12);
        // float32: the definition on the rounded inputs.
        var (dyf, uf, kf) = (FourierData.ToFloat(dy), FourierData.ToFloat(u), FourierData.ToFloat(k));
        FftConvolution.NaiveCausalBackward(FourierData.ToDouble(dyf), FourierData.ToDouble(uf), FourierData.ToDouble(kf),
            du, dk, c.Channels, c.Length, c.KernelLength);
        var su = new float[u.Length];
        var sk = new float[k.Length];
        FftConvolution.CausalBackward<float>(dyf, uf, kf, su, sk, c.Channels, c.Length, c.KernelLength, maxThreads: 2);
        Assert.True(Metrics.RelativeError(du, su) <= 1e-5);
        Assert.True(Metrics.RelativeError(dk, sk) <= 1e-5);
    }

    [Fact]
    public void Edge_Backward_TapsBeyondTheSequence_GetZeroGradient()
    {
        var c = new ConvolutionCase(2, 5, 9, 4);
        var (u, k) = Inputs(c);
        var dy = Gradient(c);
        var du = new double[u.Length];
        var dk = Enumerable.Repeat(double.NaN, k.Length).ToArray();
        FftConvolution.CausalBackward<double>(dy, u, k, du, dk, c.Channels, c.Length, c.KernelLength);
        for (int ch = 0; ch < 2; ch++)
            for (int j = 5; j < 9; j++) Assert.Equal(0.0, dk[ch * 9 + j]);
        Assert.Equal("dy", Assert.Throws<ArgumentException>(() =>
            FftConvolution.CausalBackward<double>(new double[3], u, k, du, dk, 2, 5, 9)).ParamName);
        Assert.Equal("dk", Assert.Throws<ArgumentException>(() =>
            FftConvolution.CausalBackward<double>(dy, u, k, du, new double[3], 2, 5, 9)).ParamName);
    }
}
