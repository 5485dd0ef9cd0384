using System.Numerics;
using Reference.Autodiff;
using Reference.Core;
using Reference.Operators.Convolution;

namespace Reference.SpecTests.Operators.Convolution;

/// <summary>
/// conv.block_fft (safari's BlockFFT convention, FlashButterfly.Safari.cs): hand-derived one-block cases, the exact DFT
/// and inverse DFT at the exact blocks (direct Complex sums), the sharing of one block per size, fast = naive
/// (float64, float32 bounds) with learned blocks, and the VJP against finite differences.
/// </summary>
public class SafariBlockFftTests
{
    private static SafariBlocks WithMat2(double[] re, double[] im)
    {
        var p = SafariBlocks.Exact(1);
        re.CopyTo(p.Re[0], 0);
        im.CopyTo(p.Im[0], 0);
        return p;
    }

    [Fact]
    public void HandCase_OneBlock_ForwardIsMTimesX_InverseIsConjMConjXOverN()
    {
        // n = 2 -> N = 2, one dense block mat_2. Exact: [[1, 1], [1, -1]], x = [1, 2] -> [3, -1]; inverse [1.5, -0.5].
        var exact = SafariBlocks.Exact(1);
        var (yr, yi) = FlashButterfly.SafariTransform(exact, [1.0, 2.0], [0.0, 0.0], 1, 1, 2, 2, inverse: false);
        Assert.Equal([3.0, -1.0], yr.Select(v => Math.Round(v, 14)));
        Assert.All(yi, v => Assert.True(Math.Abs(v) < 1e-15));
        (yr, _) = FlashButterfly.SafariTransform(exact, [1.0, 2.0], [0.0, 0.0], 1, 1, 2, 2, inverse: true);
        Assert.Equal([1.5, -0.5], yr.Select(v => Math.Round(v, 14)));
        // Learned mat_2 = [[2, 0], [0, i]], x = [1, 2]: forward M x = [2, 2i]; the "inverse" is conj(M conj x) / 2 = [1, -i]:
        // not M^-1 x = [0.5, -2i] (safari's inverse only inverts the exact DFT).
        var learned = WithMat2([2, 0, 0, 0], [0, 0, 0, 1]);
        (yr, yi) = FlashButterfly.SafariTransform(learned, [1.0, 2.0], [0.0, 0.0], 1, 1, 2, 2, inverse: false);
        Assert.Equal([2.0, 0.0], yr);
        Assert.Equal([0.0, 2.0], yi);
        (yr, yi) = FlashButterfly.SafariTransform(learned, [1.0, 2.0], [0.0, 0.0], 1, 1, 2, 2, inverse: true);
        Assert.Equal([1.0, 0.0], yr);
        Assert.Equal([0.0, -1.0], yi);
    }

    [Theory]
    [InlineData(3, 3)]       // N = 4, one block
    [InlineData(20, 32)]     // N = 32: levels [16, 2]
    [InlineData(100, 200)]   // N = 256: [16, 16]
    [InlineData(600, 1000)]  // N = 1024: [16, 16, 4]
    public void ExactBlocks_AreTheDftOfTheZeroPaddedInput_AndTheInverseDft(int length, int n)
    {
        int size = FlashButterfly.SafariSize(n);
        var rng = new SplitMix64(5);
        var re = rng.NormalTensor<double>(0, 1, 2 * length).Data;
        var im = rng.NormalTensor<double>(0, 1, 2 * length).Data;
        foreach (bool inverse in new[] { false, true })
        {
            var (yr, yi) = FlashButterfly.SafariTransform(SafariBlocks.Exact(2), re, im, 2, 2, length, n, inverse);
            var expected = new List<double>();
            var actual = new List<double>();
            for (int r = 0; r < 2; r++)
                for (int f = 0; f < size; f++)
                {
                    Complex acc = 0;
                    for (int t = 0; t < length; t++)
                        acc += new Complex(re[r * length + t], im[r * length + t])
                            * Complex.FromPolarCoordinates(1.0, (inverse ? 2.0 : -2.0) * Math.PI * ((long)f * t % size) / size);
                    if (inverse) acc /= size;
                    expected.AddRange([acc.Real, acc.Imaginary]);
                    actual.AddRange([yr[r * size + f], yi[r * size + f]]);
                }
            Assert.True(Metrics.RelativeError(expected.ToArray(), actual.ToArray()) <= 1e-13, $"inverse = {inverse}");
        }
    }

    private static SafariBlocks Perturbed(int channels, int seed, double scale = 0.2)
    {
        var p = SafariBlocks.Exact(channels);
        var rng = new SplitMix64((ulong)seed);
        foreach (var m in p.Re.Concat(p.Im))
            for (int e = 0; e < m.Length; e++) m[e] += scale * rng.Normal();
        return p;
    }

    [Fact]
    public void OneBlockPerSize_IsSharedByEveryLevelOfThatSize()
    {
        // N = 4096 = 16 x 16 x 16: all three levels use mat_16, so changing mat_2, mat_4, mat_8 leaves the transform as it is,
        // while N = 8192 (levels [16, 16, 16, 2]) moves with mat_2. Shared blocks (Hb = 1) equal per-channel copies.
        var rng = new SplitMix64(3);
        var re = rng.NormalTensor<double>(0, 1, 4096).Data;
        var im = new double[4096];
        var p = Perturbed(1, 9);
        var q = p with { Re = [.. p.Re.Select(m => (double[])m.Clone())], Im = [.. p.Im.Select(m => (double[])m.Clone())] };
        for (int i = 0; i < 3; i++) q.Re[i][0] += 1.0;
        Assert.Equal(FlashButterfly.SafariTransform(p, re, im, 1, 1, 4096, 4096, false).Re,
            FlashButterfly.SafariTransform(q, re, im, 1, 1, 4096, 4096, false).Re);
        Assert.NotEqual(FlashButterfly.SafariTransform(p, re, im, 1, 1, 4096, 8192, false).Re,
            FlashButterfly.SafariTransform(q, re, im, 1, 1, 4096, 8192, false).Re);
        var copies = SafariBlocks.Exact(2);
        for (int i = 0; i < 4; i++)
        {
            int ff = SafariBlocks.Sizes[i] * SafariBlocks.Sizes[i];
            for (int c = 0; c < 2; c++)
            {
                p.Re[i].CopyTo(copies.Re[i], c * ff);
                p.Im[i].CopyTo(copies.Im[i], c * ff);
            }
        }
        var two = re.Take(300).Concat(re.Skip(300).Take(300)).ToArray();
        var zero = new double[600];
        var shared = FlashButterfly.SafariTransform(p, two, zero, 2, 2, 300, 512, true);
        var perChannel = FlashButterfly.SafariTransform(copies, two, zero, 2, 2, 300, 512, true);
        Assert.Equal(shared.Re, perChannel.Re);
        Assert.Equal(shared.Im, perChannel.Im);
    }

    [Theory]
    [InlineData(8, 8, false)]
    [InlineData(24, 24, true)]
    [InlineData(200, 256, false)]
    [InlineData(1000, 2048, true)]
    public void FastTier_EqualsNaive_LearnedBlocks_Float64AndFloat32(int length, int n, bool inverse)
    {
        var p = Perturbed(3, 17);
        var rng = new SplitMix64(21);
        int rows = 6;
        var re = rng.NormalTensor<double>(0, 1, rows * length).Data;
        var im = rng.NormalTensor<double>(0, 1, rows * length).Data;
        var (nr, ni) = FlashButterfly.SafariTransform(p, re, im, rows, 3, length, n, inverse);
        var (fr, fi) = FlashButterfly.SafariTransformFast<double>(p, re, im, rows, 3, length, n, inverse);
        Assert.True(Metrics.RelativeError(nr.Concat(ni).ToArray(), fr.Concat(fi).ToArray()) <= 1e-12);
        var rounded = p with
        {
            Re = [.. p.Re.Select(m => m.Select(v => (double)(float)v).ToArray())],
            Im = [.. p.Im.Select(m => m.Select(v => (double)(float)v).ToArray())],
        };
        var re32 = re.Select(v => (float)v).ToArray();
        var im32 = im.Select(v => (float)v).ToArray();
        var (rr, ri) = FlashButterfly.SafariTransform(rounded, re32.Select(v => (double)v).ToArray(), im32.Select(v => (double)v).ToArray(),
            rows, 3, length, n, inverse);
        var (gr, gi) = FlashButterfly.SafariTransformFast<float>(rounded, re32, im32, rows, 3, length, n, inverse);
        Assert.True(Metrics.RelativeError(rr.Concat(ri).ToArray(), gr.Concat(gi).Select(v => (double)v).ToArray()) <= 1e-5);
    }

    [Theory]
    [InlineData(5, 8, false, 1)]
    [InlineData(20, 32, true, 2)]
    [InlineData(30, 64, false, 1)]
    public void Backward_MatchesFiniteDifferences(int length, int n, bool inverse, int hb)
    {
        var p = Perturbed(hb, 31);
        var rng = new SplitMix64(41);
        int channels = 2, batch = 1;
        var inputs = new List<Tensor<double>> { rng.NormalTensor<double>(0, 1, batch, channels, length), rng.NormalTensor<double>(0, 1, batch, channels, length) };
        for (int i = 0; i < 4; i++)
        {
            int f = SafariBlocks.Sizes[i];
            var m = new double[hb * f * f * 2];
            for (int e = 0; e < hb * f * f; e++)
            {
                m[2 * e] = p.Re[i][e];
                m[2 * e + 1] = p.Im[i][e];
            }
            inputs.Add(new Tensor<double>(m, hb, f, f, 2));
        }
        // A random linear functional of the output [B, H, N, 2] makes the scalar whose gradient is checked.
        var weights = Variable.Constant(rng.NormalTensor<double>(0, 1, batch, channels, FlashButterfly.SafariSize(n), 2));
        var result = GradCheck.Check(v => Ops.Sum(Ops.Mul(ConvolutionOps.SafariBlockFft(v[0], v[1], [v[2], v[3], v[4], v[5]], channels, n, inverse), weights)),
            [.. inputs]);
        Assert.True(result.Passed, result.ToString());
    }

    [Theory]
    [InlineData(1, 8, 8)]
    [InlineData(3, 20, 5)]
    [InlineData(2, 100, 100)]
    public void SafariConvolution_ExactBlocksGiveTheCausalConvolution_LearnedFastEqualsNaive(int channels, int length, int kernelLength)
    {
        // Exact blocks: F_u = F_k = the DFT of size N = pow2 >= Lk + L, so Re(ifft(F u F k))[:L] = k * u (no wrap reaches t < L).
        var rng = new SplitMix64((ulong)(length + kernelLength));
        var u = rng.NormalTensor<double>(0, 1, 2, channels, length);
        var k = rng.NormalTensor<double>(0, 1, channels, kernelLength);
        var d = rng.NormalTensor<double>(0, 1, channels);
        var exact = SafariBlocks.Exact(1);
        var direct = CausalConvolution.Forward(u, k, d);
        Assert.True(Metrics.RelativeError(direct.Data, FlashButterfly.ConvolveSafari(exact, exact, u, k, d).Data) <= 1e-13);
        var pu = Perturbed(channels, 3);
        var pk = Perturbed(1, 4);
        var naive = FlashButterfly.ConvolveSafari(pu, pk, u, k, d);
        Assert.True(Metrics.RelativeError(naive.Data, FlashButterfly.ConvolveSafariFast(pu, pk, u, k, d).Data) <= 1e-12);
        Assert.True(Metrics.RelativeError(direct.Data, naive.Data) > 1e-3);
    }
}
