using System.Numerics;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Core.Fourier;
using Reference.Operators.Convolution;

namespace Reference.SpecTests.Operators.Convolution;

public class FlashButterflyTests
{
    private static (double[] Re, double[] Im) Draw(int rows, int n, int seed)
    {
        var rng = new SplitMix64((ulong)seed);
        return (rng.NormalTensor<double>(0, 1, rows * n).Data, rng.NormalTensor<double>(0, 1, rows * n).Data);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(32)]
    [InlineData(48)]
    [InlineData(96)]
    [InlineData(256)]
    [InlineData(4096)]
    public void Property_ExactBlocks_EqualNaiveDft(int n)
    {
        int rows = n > 1000 ? 1 : 3;
        var (re, im) = Draw(rows, n, n);
        var (xr, xi) = ((double[])re.Clone(), (double[])im.Clone());
        FlashButterfly.Forward(xr, xi, rows, n);
        for (int r = 0; r < rows; r++)
        {
            var x = new Complex[n];
            for (int j = 0; j < n; j++) x[j] = new Complex(re[r * n + j], im[r * n + j]);
            var expected = NaiveDft.Forward(x);
            var e = new double[2 * n];
            var a = new double[2 * n];
            for (int j = 0; j < n; j++)
            {
                e[2 * j] = expected[j].Real; e[2 * j + 1] = expected[j].Imaginary;
                a[2 * j] = xr[r * n + j]; a[2 * j + 1] = xi[r * n + j];
            }
            Assert.True(Metrics.RelativeError(e, a) <= 1e-12, $"n = {n}: {Metrics.RelativeError(e, a)}");
        }
    }

    [Theory]
    [InlineData(64)]
    [InlineData(512)]
    [InlineData(2048)]
    public void Property_ExactBlocks_EqualCoreFft_AndInvert(int n)
    {
        var (re, im) = Draw(2, n, n + 1);
        var (xr, xi) = ((double[])re.Clone(), (double[])im.Clone());
        FlashButterfly.Forward(xr, xi, 2, n);
        var (fr, fi) = ((double[])re.Clone(), (double[])im.Clone());
        var plan = new FftPlan<double>(n);
        for (int r = 0; r < 2; r++) plan.Forward(fr.AsSpan(r * n, n), fi.AsSpan(r * n, n));
        Assert.True(Metrics.RelativeError(fr, xr) <= 1e-12);
        Assert.True(Metrics.RelativeError(fi, xi) <= 1e-12);
        FlashButterfly.Inverse(xr, xi, 2, n);
        Assert.True(Metrics.RelativeError(re, xr) <= 1e-13);
        Assert.True(Metrics.RelativeError(im, xi) <= 1e-13);
    }

    [Fact]
    public void Golden_Factors()
    {
        Assert.Equal([16, 16, 16], FlashButterfly.Factors(4096));
        Assert.Equal([16, 8], FlashButterfly.Factors(128));
        Assert.Equal([16, 6], FlashButterfly.Factors(96));
        Assert.Equal([12], FlashButterfly.Factors(12));
        Assert.Equal([17], FlashButterfly.Factors(17));
        Assert.Equal([2, 19], FlashButterfly.Factors(38));
    }

    [Property(Arbitrary = [typeof(ConvCase)])]
    public void Property_ConvolutionOnBlocks_EqualsDirectConvolution(ConvCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var u = rng.NormalTensor<double>(0, 1, c.Batch, c.C, c.L);
        var k = rng.NormalTensor<double>(0, 1, c.C, c.Lk);
        var d = rng.NormalTensor<double>(0, 1, c.C);
        var expected = CausalConvolution.Forward(u, k, d);
        Assert.True(Metrics.RelativeError(expected.Data, FlashButterfly.Convolve(u, k, d).Data) <= 1e-12);
        var p = ButterflyParameters.InitializeExact(FftConvolution.FftSize(c.L, c.Lk), c.C);
        Assert.True(Metrics.RelativeError(expected.Data, FlashButterfly.ConvolveLearned(p, u, k, d).Data) <= 1e-12);
    }

    [Fact]
    public void Property_LearnedAtInit_EqualsNaiveDft_AndPerturbedBlocksDiffer()
    {
        // At init every learned block is the exact DFT block, so the learned transform must be the DFT
        // X[k] = sum_j x[j] exp(-2 pi i j k / N), checked against the O(N^2) definition (NaiveDft),
        // which shares neither the recursion nor the blocks with FlashButterfly.
        const int n = 512, channels = 2, rows = 2 * channels;
        var p = ButterflyParameters.InitializeExact(n, channels);
        var (re, im) = Draw(rows, n, 5);
        var dft = new double[rows][];
        for (int r = 0; r < rows; r++)
        {
            var x = new Complex[n];
            for (int j = 0; j < n; j++) x[j] = new Complex(re[r * n + j], im[r * n + j]);
            dft[r] = NaiveDft.Forward(x).SelectMany(z => new[] { z.Real, z.Imaginary }).ToArray();
        }
        double[] Row(double[] xr, double[] xi, int r) =>
            Enumerable.Range(0, n).SelectMany(j => new[] { xr[r * n + j], xi[r * n + j] }).ToArray();
        var (lr, li) = ((double[])re.Clone(), (double[])im.Clone());
        FlashButterfly.LearnedForward(p, lr, li, rows);
        for (int r = 0; r < rows; r++)
            Assert.True(Metrics.RelativeError(dft[r], Row(lr, li, r)) <= 1e-12, $"row {r}: {Metrics.RelativeError(dft[r], Row(lr, li, r))}");

        // Negative control: perturbing channel 1's first block moves rows of channel 1 (r mod C = 1)
        // away from the DFT and leaves channel 0 on it.
        p.BlockRe[0][p.Factors[0] * p.Factors[0] + 3] += 1e-3;
        var (pr, pi) = ((double[])re.Clone(), (double[])im.Clone());
        FlashButterfly.LearnedForward(p, pr, pi, rows);
        for (int r = 0; r < rows; r++)
        {
            double error = Metrics.RelativeError(dft[r], Row(pr, pi, r));
            if (r % channels == 0) Assert.True(error <= 1e-12, $"row {r}: {error}");
            else Assert.True(error > 1e-6, $"row {r}: {error}");
        }
    }

    [Fact]
    public void Negative_WrongSizesAreRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => FlashButterfly.Forward(new double[10], new double[10], 1, 8));
        Assert.Equal("re", ex.ParamName);
        var p = ButterflyParameters.InitializeExact(32, 1);
        var u = Tensor<double>.Zeros(1, 1, 8);
        var k = Tensor<double>.Zeros(1, 8);
        Assert.Equal("p", Assert.Throws<ArgumentException>(() => FlashButterfly.ConvolveLearned(p, u, k)).ParamName);
    }
}
