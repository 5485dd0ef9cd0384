using System.Numerics;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Core.Fourier;

namespace Reference.SpecTests.Core;

/// <summary>Fast-vs-definition checks: also run with AVX2 and with all hardware intrinsics disabled (.ci/run).</summary>
[Trait("Category", "IsaParity")]
public class FourierRealTests
{
    private static double[] RealInput(int n, int seed)
    {
        var x = new double[n];
        new SplitMix64((ulong)seed).FillNormal<double>(x);
        return x;
    }

    [Property(Arbitrary = [typeof(FftCase)])]
    public void Property_RealForward_EqualsComplexForwardOfRealInput(FftCase c)
    {
        var x = RealInput(c.N, c.Seed);
        int bins = c.N / 2 + 1;
        var re = new double[bins];
        var im = new double[bins];
        new RealFftPlan<double>(c.N).Forward(x, re, im);
        var full = NaiveDft.Forward(FourierData.ToComplex(x, new double[c.N]));
        Assert.True(Metrics.RelativeError(FourierData.Flatten(full.AsSpan(0, bins)), FourierData.Flatten<double>(re, im)) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(FftCase)])]
    public void Property_RealFloat32_MatchesNaiveDft(FftCase c)
    {
        var x = FourierData.ToFloat(RealInput(c.N, c.Seed));
        int bins = c.N / 2 + 1;
        var re = new float[bins];
        var im = new float[bins];
        new RealFftPlan<float>(c.N).Forward(x, re, im);
        var full = NaiveDft.Forward(FourierData.ToComplex(FourierData.ToDouble(x), new double[c.N]));
        Assert.True(Metrics.RelativeError(FourierData.Flatten(full.AsSpan(0, bins)), FourierData.Flatten<float>(re, im)) <= 1e-5);
        var back = new float[c.N];
        new RealFftPlan<float>(c.N).Inverse(re, im, back);
        Assert.True(Metrics.RelativeError(FourierData.ToDouble(x), back) <= 1e-5);
    }

    [Property(Arbitrary = [typeof(FftCase)])]
    public void Property_RealInverse_MatchesComplexInverseOfHermitianSpectrum(FftCase c)
    {
        int n = c.N, bins = n / 2 + 1;
        var (re, im) = FourierData.Random(bins, c.Seed);
        // The spectrum the bins describe: X[n - k] = conj X[k]; DC (and Nyquist for even n) real.
        var full = new Complex[n];
        for (int k = 0; k < bins; k++) full[k] = new Complex(re[k], im[k]);
        full[0] = new Complex(re[0], 0);
        if (n % 2 == 0) full[n / 2] = new Complex(re[n / 2], 0);
        for (int k = 1; k < bins; k++) full[n - k] = Complex.Conjugate(full[k]);
        var expected = NaiveDft.Inverse(full).Select(z => z.Real).ToArray();
        var x = new double[n];
        new RealFftPlan<double>(n).Inverse(re, im, x);
        Assert.True(Metrics.RelativeError(expected, x) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(FftCase)])]
    public void Property_RealRoundTrip_AndRows(FftCase c)
    {
        const int rows = 3;
        int n = c.N, bins = n / 2 + 1;
        var x = RealInput(rows * n, c.Seed);
        var plan = new RealFftPlan<double>(n);
        var re = new double[rows * bins];
        var im = new double[rows * bins];
        plan.ForwardRows(x, re, im, rows);
        for (int r = 0; r < rows; r++)
        {
            var rr = new double[bins];
            var ri = new double[bins];
            plan.Forward(x.AsSpan(r * n, n), rr, ri);
            Assert.Equal(rr, re.AsSpan(r * bins, bins).ToArray());
            Assert.Equal(ri, im.AsSpan(r * bins, bins).ToArray());
        }
        var back = new double[rows * n];
        plan.InverseRows(re, im, back, rows);
        Assert.True(Metrics.RelativeError(x, back) <= 1e-13);
    }

    [Fact]
    public void Golden_BriefLengths_RealFft_MatchesMathNetRealForward()
    {
        foreach (int n in (int[])[2, 8, 12, 100, 1000, 8192])
        {
            var x = RealInput(n, n);
            int bins = n / 2 + 1;
            var re = new double[bins];
            var im = new double[bins];
            new RealFftPlan<double>(n).Forward(x, re, im);
            var z = FourierData.ToComplex(x, new double[n]);
            MathNet.Numerics.IntegralTransforms.Fourier.Forward(z, MathNet.Numerics.IntegralTransforms.FourierOptions.Matlab);
            double err = Metrics.RelativeError(FourierData.Flatten(z.AsSpan(0, bins)), FourierData.Flatten<double>(re, im));
            Assert.True(err <= 1e-12, $"n = {n}: relative error {err:E2}");
        }
    }

    [Fact]
    public void Edge_InverseIgnoresImaginaryDcAndNyquist()
    {
        foreach (int n in (int[])[1, 2, 7, 8])
        {
            int bins = n / 2 + 1;
            var (re, im) = FourierData.Random(bins, n);
            var plan = new RealFftPlan<double>(n);
            var x = new double[n];
            plan.Inverse(re, im, x);
            im[0] = 123.0;
            if (n % 2 == 0) im[n / 2] = -55.0;
            var y = new double[n];
            plan.Inverse(re, im, y);
            Assert.Equal(x, y);
        }
    }
}
