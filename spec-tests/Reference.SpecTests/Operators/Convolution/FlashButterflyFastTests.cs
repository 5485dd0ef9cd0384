using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Core.Fourier;
using Reference.Operators.Convolution;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Operators.Convolution;

/// <summary>A transform case: rows of length N (powers of two, products of small factors and primes), seed for SplitMix64.</summary>
public sealed record BlockTransformCase(int Rows, int N, int Seed)
{
    public static Arbitrary<BlockTransformCase> Arbitrary() =>
        (from rows in Gen.Choose(1, 3)
         from n in Gen.Elements(1, 2, 5, 8, 12, 16, 17, 32, 38, 48, 64, 96, 128, 256, 1024, 2048)
         from seed in Cases.Seed
         select new BlockTransformCase(rows, n, seed)).ToArbitrary();
}

/// <summary>
/// The Fast tier of FlashButterfly (FlashButterfly.Fast.cs) against its naive tier (float64, the
/// conventions' norm_rel bounds: 1e-12 in float64, 1e-5 in float32 against the float64 naive of the
/// rounded inputs). Also run with AVX2 and with all hardware intrinsics disabled (.ci/run), where the
/// scalar paths of the level kernels take over.
/// </summary>
[Trait("Category", "IsaParity")]
public class FlashButterflyFastTests
{
    private const double Bound64 = 1e-12, Bound32 = 1e-5;

    private static double[] Interleave(double[] re, double[] im) => re.Zip(im, (a, b) => new[] { a, b }).SelectMany(x => x).ToArray();

    private static double[] ToDouble(float[] x) => Array.ConvertAll(x, v => (double)v);

    private static (double[] Re, double[] Im) Draw(int count, int seed)
    {
        var rng = new SplitMix64((ulong)seed);
        return (rng.NormalTensor<double>(0, 1, count).Data, rng.NormalTensor<double>(0, 1, count).Data);
    }

    /// <summary>Exact DFT blocks plus N(0, 0.3) on every entry: non-symmetric blocks that differ per channel.</summary>
    private static ButterflyParameters Perturbed(int n, int channels, int seed)
    {
        var p = ButterflyParameters.InitializeExact(n, channels);
        var rng = new SplitMix64((ulong)seed + 99);
        foreach (var block in p.BlockRe.Concat(p.BlockIm))
            for (int e = 0; e < block.Length; e++) block[e] += 0.3 * rng.Normal();
        return p;
    }

    [Property(Arbitrary = [typeof(BlockTransformCase)])]
    public void Property_ExactTransforms_EqualNaiveTier_Float64AndFloat32(BlockTransformCase c)
    {
        var (re, im) = Draw(c.Rows * c.N, c.Seed);
        var (er, ei) = ((double[])re.Clone(), (double[])im.Clone());
        FlashButterfly.Forward(er, ei, c.Rows, c.N);
        var (fr, fi) = ((double[])re.Clone(), (double[])im.Clone());
        FlashButterfly.ForwardFast<double>(fr, fi, c.Rows, c.N);
        Assert.True(Metrics.RelativeError(Interleave(er, ei), Interleave(fr, fi)) <= Bound64);

        var (sr, si) = (Array.ConvertAll(re, v => (float)v), Array.ConvertAll(im, v => (float)v));
        var (nr, ni) = (ToDouble(sr), ToDouble(si));
        FlashButterfly.Forward(nr, ni, c.Rows, c.N);
        FlashButterfly.ForwardFast<float>(sr, si, c.Rows, c.N);
        Assert.True(Metrics.RelativeError(Interleave(nr, ni), Interleave(ToDouble(sr), ToDouble(si))) <= Bound32);

        // The inverse: the naive tier's Inverse of the same spectrum, and the round trip back to the input.
        FlashButterfly.Inverse(er, ei, c.Rows, c.N);
        FlashButterfly.InverseFast<double>(fr, fi, c.Rows, c.N);
        Assert.True(Metrics.RelativeError(Interleave(er, ei), Interleave(fr, fi)) <= Bound64);
        Assert.True(Metrics.RelativeError(Interleave(re, im), Interleave(fr, fi)) <= Bound64);
    }

    [Property(Arbitrary = [typeof(BlockTransformCase)])]
    public void Property_LearnedTransform_WithPerturbedBlocks_EqualsNaiveTier(BlockTransformCase c)
    {
        const int channels = 2;
        var p = Perturbed(c.N, channels, c.Seed);
        int rows = channels * c.Rows;
        var (re, im) = Draw(rows * c.N, c.Seed + 1);
        var (er, ei) = ((double[])re.Clone(), (double[])im.Clone());
        FlashButterfly.LearnedForward(p, er, ei, rows);
        var (fr, fi) = ((double[])re.Clone(), (double[])im.Clone());
        FlashButterfly.LearnedForwardFast<double>(p, fr, fi, rows);
        Assert.True(Metrics.RelativeError(Interleave(er, ei), Interleave(fr, fi)) <= Bound64);
        var (sr, si) = (Array.ConvertAll(re, v => (float)v), Array.ConvertAll(im, v => (float)v));
        var (nr, ni) = (ToDouble(sr), ToDouble(si));
        FlashButterfly.LearnedForward(p, nr, ni, rows);
        FlashButterfly.LearnedForwardFast<float>(p, sr, si, rows);
        // The float32 blocks are the float64 blocks rounded: the bound covers that rounding too.
        Assert.True(Metrics.RelativeError(Interleave(nr, ni), Interleave(ToDouble(sr), ToDouble(si))) <= Bound32);
    }

    [Property(Arbitrary = [typeof(ConvCase)])]
    public void Property_Convolutions_EqualNaiveTier_Float64AndFloat32(ConvCase c)
    {
        // Odd and even channel counts (the last channel of an odd count is transformed alone), batch 1-2,
        // kernels shorter and longer than L, with and without the skip.
        var rng = new SplitMix64((ulong)c.Seed);
        var u = rng.NormalTensor<double>(0, 1, c.Batch, c.C, c.L);
        var k = rng.NormalTensor<double>(0, 1, c.C, c.Lk);
        var d = rng.NormalTensor<double>(0, 1, c.C);
        var p = Perturbed(FftConvolution.FftSize(c.L, c.Lk), c.C, c.Seed);
        foreach (var skip in new[] { d, null })
        {
            var exact = FlashButterfly.Convolve(u, k, skip);
            Assert.True(Metrics.RelativeError(exact.Data, FlashButterfly.ConvolveFast(u, k, skip).Data) <= Bound64);
            var learned = FlashButterfly.ConvolveLearned(p, u, k, skip);
            Assert.True(Metrics.RelativeError(learned.Data, FlashButterfly.ConvolveLearnedFast(p, u, k, skip).Data) <= Bound64);

            var (u32, k32, d32) = (u.Cast<float>(), k.Cast<float>(), skip?.Cast<float>());
            var (u64, k64, d64) = (u32.Cast<double>(), k32.Cast<double>(), d32?.Cast<double>());
            Assert.True(Metrics.RelativeError(FlashButterfly.Convolve(u64, k64, d64).Data,
                ToDouble(FlashButterfly.ConvolveFast(u32, k32, d32).Data)) <= Bound32);
            Assert.True(Metrics.RelativeError(FlashButterfly.ConvolveLearned(p, u64, k64, d64).Data,
                ToDouble(FlashButterfly.ConvolveLearnedFast(p, u32, k32, d32).Data)) <= Bound32);
        }
    }

    [Fact]
    public void Property_LongConvolution_EqualsRealFftConvolution_AndThreadCountDoesNotChangeTheResult()
    {
        // N = 2048 = [16, 16, 8] with 5 channels and batch 2: the pruned first level (half the input is
        // padding) and the pruned last level of the inverse at a realistic size, against the real-FFT
        // convolution of Reference.Core.Fourier (another algorithm) and against itself on one thread.
        const int batch = 2, channels = 5, length = 1000, kernelLength = 1000;
        var rng = new SplitMix64(41);
        var u = rng.NormalTensor<double>(0, 1, batch, channels, length);
        var k = rng.NormalTensor<double>(0, 1 / Math.Sqrt(kernelLength), channels, kernelLength);
        var expected = new double[u.Length];
        int slab = channels * length;
        for (int b = 0; b < batch; b++)
            FftConvolution.Causal<double>(u.Data.AsSpan(b * slab, slab), k.Data, expected.AsSpan(b * slab, slab), channels, length, kernelLength);
        var all = FlashButterfly.ConvolveFast(u, k);
        Assert.True(Metrics.RelativeError(expected, all.Data) <= Bound64);
        Assert.Equal(all.Data, FlashButterfly.ConvolveFast(u, k, maxThreads: 1).Data);
        var y32 = FlashButterfly.ConvolveFast(u.Cast<float>(), k.Cast<float>());
        Assert.True(Metrics.RelativeError(expected, ToDouble(y32.Data)) <= Bound32);
        var p = Perturbed(2048, channels, 3);
        Assert.Equal(FlashButterfly.ConvolveLearnedFast(p, u, k).Data, FlashButterfly.ConvolveLearnedFast(p, u, k, maxThreads: 1).Data);
    }

    [Theory]
    [InlineData(256, 100)]
    [InlineData(200, 100)]
    [InlineData(4096, 4096)]
    public void ConvolveFastInto_OverwritesEveryEntry_AndEqualsTheNaiveTier(int length, int kernelLength)
    {
        // 3 channels (a pair read and written in place, and a lone channel through buffers); L 256 lets the first
        // level read the rows in place and the fused 16 x 2 tail write y in place (N 512), L 200 takes the copying
        // fallback, L 4096 is the benchmark's N 8192 = [16, 16, 16, 2]. y starts as NaN: any entry left unwritten shows.
        const int channels = 3;
        var rng = new SplitMix64(7);
        var u = rng.NormalTensor<double>(0, 1, 1, channels, length);
        var k = rng.NormalTensor<double>(0, 1 / Math.Sqrt(kernelLength), channels, kernelLength);
        var y = Enumerable.Repeat(double.NaN, u.Length).ToArray();
        FlashButterfly.ConvolveFastInto(u, k, y);
        Assert.True(Metrics.RelativeError(FlashButterfly.Convolve(u, k).Data, y) <= Bound64);
        Assert.Equal(FlashButterfly.ConvolveFast(u, k).Data, y);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => FlashButterfly.ConvolveFastInto(u, k, new double[u.Length - 1])).ParamName);
        // float32 (16 lanes per Vector512 where AVX-512 runs, 8 per Vector256) against the naive tier on the rounded inputs.
        var (u32, k32) = (u.Cast<float>(), k.Cast<float>());
        var y32 = Enumerable.Repeat(float.NaN, u.Length).ToArray();
        FlashButterfly.ConvolveFastInto(u32, k32, y32);
        Assert.True(Metrics.RelativeError(FlashButterfly.Convolve(u32.Cast<double>(), k32.Cast<double>()).Data, ToDouble(y32)) <= Bound32);
    }

    [Fact]
    public void Negative_ArgumentChecks_NameTheArgument()
    {
        Assert.Equal("re", Assert.Throws<ArgumentException>(() => FlashButterfly.ForwardFast<float>(new float[10], new float[10], 1, 8)).ParamName);
        Assert.Equal("n", Assert.Throws<ArgumentOutOfRangeException>(() => FlashButterfly.InverseFast<double>(new double[0], new double[0], 1, 0)).ParamName);
        var p = ButterflyParameters.InitializeExact(32, 2);
        Assert.Equal("rows", Assert.Throws<ArgumentException>(() => FlashButterfly.LearnedForwardFast<double>(p, new double[96], new double[96], 3)).ParamName);
        Assert.Equal("p", Assert.Throws<ArgumentException>(() => FlashButterfly.LearnedForwardFast<double>(p with { Channels = 0 }, new double[64], new double[64], 2)).ParamName);
        var u = Tensor<float>.Zeros(1, 2, 9);
        var k = Tensor<float>.Zeros(2, 9);
        Assert.Equal("u", Assert.Throws<ArgumentException>(() => FlashButterfly.ConvolveFast(Tensor<float>.Zeros(1, 3, 9), k)).ParamName);
        Assert.Equal("maxThreads", Assert.Throws<ArgumentOutOfRangeException>(() => FlashButterfly.ConvolveFast(u, k, maxThreads: -1)).ParamName);
        Assert.Equal("p", Assert.Throws<ArgumentException>(() => FlashButterfly.ConvolveLearnedFast(ButterflyParameters.InitializeExact(16, 2), u, k)).ParamName);
        Assert.Equal("p", Assert.Throws<ArgumentNullException>(() => FlashButterfly.ConvolveLearnedFast(null!, u, k)).ParamName);
    }
}
