using System.Numerics;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Core.Fourier;
using Reference.Operators.Monarch;
using Reference.SpecTests.Operators.Convolution;
using static Reference.SpecTests.Operators.Monarch.MonarchTestKit;
using MonarchOp = Reference.Operators.Monarch.Monarch;

namespace Reference.SpecTests.Operators.Monarch;

public class MonarchDftTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(12)]
    [InlineData(16)]
    [InlineData(64)]
    [InlineData(128)]
    [InlineData(1024)]
    public void Property_MonarchDft_EqualsCoreFft_AndInverseEqualsCoreInverse(int n)
    {
        var rng = new SplitMix64((ulong)n);
        int rows = 2;
        var x = ComplexNormal(rng, rows * n);
        var plan = new FftPlan<double>(n);
        var re = x.Select(z => z.Real).ToArray();
        var im = x.Select(z => z.Imaginary).ToArray();
        plan.ForwardRows(re, im, rows);
        var expected = re.Zip(im, (a, b) => new Complex(a, b)).ToArray();
        var forward = MonarchDft.Forward(x, n, rows);
        Assert.True(RelativeError(expected, forward) <= 1e-13, $"n = {n}: {RelativeError(expected, forward)}");
        if (n <= 16) Assert.True(RelativeError(NaiveDft.Forward(x.AsSpan(0, n)), forward[..n]) <= 1e-13);

        var reI = x.Select(z => z.Real).ToArray();
        var imI = x.Select(z => z.Imaginary).ToArray();
        plan.InverseRows(reI, imI, rows);
        var inverse = MonarchDft.Inverse(x, n, rows);
        Assert.True(RelativeError(reI.Zip(imI, (a, b) => new Complex(a, b)).ToArray(), inverse) <= 1e-13);
        Assert.True(RelativeError(x, MonarchDft.Inverse(forward, n, rows)) <= 1e-13);
    }

    [Theory]
    [InlineData(4, 4)]
    [InlineData(4, 3)]
    [InlineData(8, 2)]
    public void Property_DftFactors_MaterializeToTheDftMatrixTimesTheInputShuffle(int p, int k)
    {
        int n = p * k;
        var (shape, w1, w2) = MonarchDft.Factors(p, k);
        var monarch = MonarchOp.Materialize<Complex>(shape, w1, w2);
        // F_N S: column j = i P + a of F_N S is column a K + i of F_N.
        var expected = new Complex[n * n];
        for (int f = 0; f < n; f++)
            for (int i = 0; i < k; i++)
                for (int a = 0; a < p; a++)
                    expected[f * n + i * p + a] = Complex.FromPolarCoordinates(1, -2 * Math.PI * ((long)f * (a * k + i) % n) / n);
        Assert.True(RelativeError(expected, monarch) <= 1e-14);
        // R = I_K (x) F_P: every block of w1 is the P-point DFT.
        for (int i = 0; i < k; i++)
            for (int c = 0; c < p; c++)
                for (int a = 0; a < p; a++)
                    Assert.True((w1[(i * p + c) * p + a] - Complex.FromPolarCoordinates(1, -2 * Math.PI * (c * a % p) / p)).Magnitude < 1e-15);
    }

    [Fact]
    public void Property_TheShuffledDftIsMonarch_TheUnshuffledSquareDftIsNot()
    {
        int b = 4, n = b * b;
        var (shape, w1, w2) = MonarchDft.Factors(b, b);
        var shuffled = MonarchOp.Materialize<Complex>(shape, w1, w2);
        var (a1, a2) = MonarchProjection.Project(shape, shuffled);
        Assert.True(RelativeError(shuffled, MonarchOp.Materialize<Complex>(shape, a1, a2)) <= 1e-13);

        var dft = new Complex[n * n];
        for (int f = 0; f < n; f++)
            for (int j = 0; j < n; j++) dft[f * n + j] = Complex.FromPolarCoordinates(1, -2 * Math.PI * (f * j % n) / n);
        var (d1, d2) = MonarchProjection.Project(shape, dft);
        Assert.True(RelativeError(dft, MonarchOp.Materialize<Complex>(shape, d1, d2)) > 0.5);
    }

    [Property(Arbitrary = [typeof(ConvCase)])]
    public void Property_MonarchFftConvolution_EqualsDirectCausalConvolution(ConvCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        int rows = c.Batch * c.C;
        var u = Normal(rng, rows * c.L);
        var k = Normal(rng, rows * c.Lk);
        var expected = new double[rows * c.L];
        FftConvolution.NaiveCausal(u, k, expected, rows, c.L, c.Lk);
        var y = MonarchDft.CausalConvolution(u, k, rows, c.L, c.Lk);
        Assert.True(Metrics.RelativeError(expected, y) <= 1e-12, $"{Metrics.RelativeError(expected, y)}");
    }

    [Fact]
    public void Property_MonarchFftConvolution_EqualsFastFftConvolution_OnALongKernel()
    {
        var rng = new SplitMix64(9);
        int channels = 2, length = 300, taps = 200;
        var u = Normal(rng, channels * length);
        var k = Normal(rng, channels * taps);
        var expected = new double[channels * length];
        FftConvolution.Causal<double>(u, k, expected, channels, length, taps);
        Assert.True(Metrics.RelativeError(expected, MonarchDft.CausalConvolution(u, k, channels, length, taps)) <= 1e-12);
    }
}
