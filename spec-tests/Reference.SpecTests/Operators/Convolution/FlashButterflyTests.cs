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

    /// <summary>
    /// The learned transform written directly from the Cooley-Tukey recursion of the file head with
    /// System.Numerics.Complex and the blocks read as matrices B[a, b] = Re[a f + b] + i Im[a f + b]:
    /// base level y[a] = sum_b B[a, b] x[b]; other levels A[k1, j2] = sum_j1 B[k1, j1] x[q j1 + j2],
    /// A[k1, j2] *= exp(-2 pi i j2 k1 / n), the next level on each row of A, X[k1 + m k2] = A'[k1, k2].
    /// </summary>
    private static Complex[] LearnedReference(ButterflyParameters p, int channel, Complex[] x, int level = 0)
    {
        int n = x.Length, f = p.Factors[level], ff = f * f;
        Complex B(int a, int b) => new(p.BlockRe[level][channel * ff + a * f + b], p.BlockIm[level][channel * ff + a * f + b]);
        var y = new Complex[n];
        if (level == p.Factors.Length - 1)
        {
            for (int a = 0; a < n; a++)
                for (int b = 0; b < n; b++) y[a] += B(a, b) * x[b];
            return y;
        }
        int m = f, q = n / m;
        for (int k1 = 0; k1 < m; k1++)
        {
            var row = new Complex[q];
            for (int j2 = 0; j2 < q; j2++)
            {
                for (int j1 = 0; j1 < m; j1++) row[j2] += B(k1, j1) * x[q * j1 + j2];
                row[j2] *= Complex.FromPolarCoordinates(1.0, -2.0 * Math.PI * j2 * k1 / n);
            }
            var inner = LearnedReference(p, channel, row, level + 1);
            for (int k2 = 0; k2 < q; k2++) y[k1 + m * k2] = inner[k2];
        }
        return y;
    }

    [Theory]
    [InlineData(5)]      // one dense (base) block
    [InlineData(32)]     // blocks 16 and 2
    [InlineData(96)]     // blocks 16 and 6
    public void Property_LearnedForward_WithNonSymmetricBlocks_EqualsTheRecursionWrittenDirectly(int n)
    {
        // Learned blocks perturbed away from the DFT are no longer symmetric, so each block product's
        // orientation (B X on a level, X B^T at the base) and each channel's own blocks are visible.
        const int channels = 2, rows = 2 * channels;
        var p = ButterflyParameters.InitializeExact(n, channels);
        var rng = new SplitMix64((ulong)n + 7);
        foreach (var block in p.BlockRe.Concat(p.BlockIm))
            for (int e = 0; e < block.Length; e++) block[e] += 0.3 * rng.Normal();
        var (re, im) = Draw(rows, n, n + 9);
        var (lr, li) = ((double[])re.Clone(), (double[])im.Clone());
        FlashButterfly.LearnedForward(p, lr, li, rows);
        for (int r = 0; r < rows; r++)
        {
            var x = Enumerable.Range(0, n).Select(j => new Complex(re[r * n + j], im[r * n + j])).ToArray();
            var expected = LearnedReference(p, r % channels, x).SelectMany(z => new[] { z.Real, z.Imaginary }).ToArray();
            var actual = Enumerable.Range(0, n).SelectMany(j => new[] { lr[r * n + j], li[r * n + j] }).ToArray();
            Assert.True(Metrics.RelativeError(expected, actual) <= 1e-12, $"n = {n}, row {r}: {Metrics.RelativeError(expected, actual)}");
        }
    }

    [Theory]
    [InlineData(1, 2, 9, 3)]
    [InlineData(2, 3, 20, 20)]
    [InlineData(1, 1, 40, 7)]
    public void Property_ConvolveAndBackwardWithoutSkip_EqualTheDirectConvolution(int batch, int c, int length, int kernelLength)
    {
        // d = null: no skip term in y, du or dd (the exact and the learned-at-init transforms).
        var rng = new SplitMix64((ulong)(batch * 1000 + c * 100 + length + kernelLength));
        var u = rng.NormalTensor<double>(0, 1, batch, c, length);
        var k = rng.NormalTensor<double>(0, 1, c, kernelLength);
        var dy = rng.NormalTensor<double>(0, 1, batch, c, length);
        var y = CausalConvolution.Forward(u, k);
        Assert.True(Metrics.RelativeError(y.Data, FlashButterfly.Convolve(u, k).Data) <= 1e-12);
        var p = ButterflyParameters.InitializeExact(FftConvolution.FftSize(length, kernelLength), c);
        Assert.True(Metrics.RelativeError(y.Data, FlashButterfly.ConvolveLearned(p, u, k).Data) <= 1e-12);
        var expected = CausalConvolution.Backward(u, k, null, dy);
        foreach (var g in new[] { FlashButterfly.Backward(u, k, null, dy), ToPlain(FlashButterfly.BackwardLearned(p, u, k, null, dy)) })
        {
            Assert.Null(g.Skip);
            Assert.True(Metrics.RelativeError(expected.Input.Data, g.Input.Data) <= 1e-12);
            Assert.True(Metrics.RelativeError(expected.Kernel.Data, g.Kernel.Data) <= 1e-12);
        }
        static ConvolutionGradients ToPlain(LearnedConvolutionGradients g) => new(g.Input, g.Kernel, g.Skip);
    }

    [Fact]
    public void Negative_ArgumentChecks_NameTheArgument_AndTheSmallestValidValuesAreAccepted()
    {
        T Throws<T>(Action f, string name) where T : ArgumentException
        {
            var e = Assert.Throws<T>(f);
            Assert.Equal(name, e.ParamName);
            return e;
        }
        Throws<ArgumentOutOfRangeException>(() => ButterflyParameters.InitializeExact(0, 1), "length");
        Throws<ArgumentOutOfRangeException>(() => ButterflyParameters.InitializeExact(1, 0), "channels");
        var tiny = ButterflyParameters.InitializeExact(1, 1);
        Assert.Equal([1], tiny.Factors);
        Assert.Equal([1.0], tiny.BlockRe[0]);
        Throws<ArgumentOutOfRangeException>(() => FlashButterfly.Factors(0), "n");
        Assert.Equal([1], FlashButterfly.Factors(1));
        Throws<ArgumentOutOfRangeException>(() => FlashButterfly.DftBlock(0, false), "f");
        var (one, zero) = FlashButterfly.DftBlock(1, true);
        Assert.Equal([1.0], one);
        Assert.Equal([0.0], zero);

        // The data checks of the transforms: n >= 1, rows >= 0 (0 rows is an empty batch), re and im of rows * n.
        Throws<ArgumentOutOfRangeException>(() => FlashButterfly.Forward(new double[0], new double[0], 1, 0), "n");
        Throws<ArgumentOutOfRangeException>(() => FlashButterfly.Inverse(new double[0], new double[0], -1, 4), "rows");
        FlashButterfly.Forward(new double[0], new double[0], 0, 4);
        Throws<ArgumentException>(() => FlashButterfly.Forward(new double[8], new double[7], 1, 8), "im");

        // LearnedForward: null p, a record that does not match its length, rows not a multiple of C.
        var p = ButterflyParameters.InitializeExact(32, 2);
        Throws<ArgumentNullException>(() => FlashButterfly.LearnedForward(null!, new double[32], new double[32], 1), "p");
        Throws<ArgumentException>(() => FlashButterfly.LearnedForward(p, new double[64], new double[63], 2), "im");
        Throws<ArgumentException>(() => FlashButterfly.LearnedForward(p, new double[96], new double[96], 3), "rows");
        void Invalid(ButterflyParameters bad) =>
            Throws<ArgumentException>(() => FlashButterfly.LearnedForward(bad, new double[bad.Length < 1 ? 0 : 2 * bad.Length], new double[bad.Length < 1 ? 0 : 2 * bad.Length], 2), "p");
        Invalid(p with { Length = 0 });
        Invalid(p with { Channels = 0 });
        Invalid(p with { Factors = [32] });
        Invalid(p with { BlockRe = [p.BlockRe[0]] });
        Invalid(p with { BlockIm = [p.BlockIm[0]] });
        Invalid(p with { BlockRe = [p.BlockRe[0], new double[4]] });
        Invalid(p with { BlockIm = [p.BlockIm[0], new double[4]] });
        Invalid(p with { BlockRe = [new double[256], p.BlockRe[1]] });

        // The convolutions: null p, p of another length or channel count, dy of another shape.
        var u = Tensor<double>.Zeros(1, 2, 9);
        var k = Tensor<double>.Zeros(2, 9);
        Throws<ArgumentNullException>(() => FlashButterfly.ConvolveLearned(null!, u, k), "p");
        Throws<ArgumentNullException>(() => FlashButterfly.BackwardLearned(null!, u, k, null, u), "p");
        Throws<ArgumentException>(() => FlashButterfly.BackwardLearned(ButterflyParameters.InitializeExact(16, 2), u, k, null, u), "p");
        Throws<ArgumentException>(() => FlashButterfly.BackwardLearned(ButterflyParameters.InitializeExact(32, 1), u, k, null, u), "p");
        Throws<ArgumentException>(() => FlashButterfly.BackwardLearned(p with { Channels = 0 }, u, k, null, u), "p");
        Throws<ArgumentException>(() => FlashButterfly.ConvolveLearned(ButterflyParameters.InitializeExact(32, 1), u, k), "p");
        Throws<ArgumentException>(() => FlashButterfly.Backward(u, k, null, Tensor<double>.Zeros(1, 2, 8)), "dy");
        Throws<ArgumentException>(() => FlashButterfly.BackwardLearned(p, u, k, null, Tensor<double>.Zeros(2, 1, 9)), "dy");
        Assert.Equal(u.ShapeArray, FlashButterfly.BackwardLearned(p, u, k, null, u).Input.ShapeArray);
    }

    [Property(Arbitrary = [typeof(ConvCase)])]
    public void Property_ThreePass_EqualsDirectConvolution(ConvCase c)
    {
        // The paper's three-pass split (first level over the sequence, then chunk by chunk) against the direct sum.
        var rng = new SplitMix64((ulong)c.Seed + 5);
        var u = rng.NormalTensor<double>(0, 1, c.Batch, c.C, c.L);
        var k = rng.NormalTensor<double>(0, 1, c.C, c.Lk);
        var d = rng.NormalTensor<double>(0, 1, c.C);
        Assert.True(Metrics.RelativeError(CausalConvolution.Forward(u, k, d).Data, FlashButterfly.ConvolveThreePass(u, k, d).Data) <= 1e-12);
        Assert.True(Metrics.RelativeError(CausalConvolution.Forward(u, k).Data, FlashButterfly.ConvolveThreePass(u, k).Data) <= 1e-12);
    }

    [Theory]
    [InlineData(300, 300)]    // N = 1024 = [16, 16, 4]: chunks of 64
    [InlineData(1000, 40)]    // N = 1024, a short kernel
    public void Property_ThreePass_EqualsRealFftConvolution_AtLongLengths(int length, int kernelLength)
    {
        const int channels = 2;
        var rng = new SplitMix64((ulong)length);
        var u = rng.NormalTensor<double>(0, 1, 1, channels, length);
        var k = rng.NormalTensor<double>(0, 1, channels, kernelLength);
        var expected = new double[u.Length];
        FftConvolution.Causal<double>(u.Data, k.Data, expected, channels, length, kernelLength);
        Assert.True(Metrics.RelativeError(expected, FlashButterfly.ConvolveThreePass(u, k).Data) <= 1e-12);
    }
}
