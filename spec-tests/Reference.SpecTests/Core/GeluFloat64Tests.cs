using System.Runtime.Intrinsics;
using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.SpecTests.Core;

/// <summary>
/// The float64 GELU's SIMD lanes (GeluVector) against an independent float64 definition: Phi(x) = erfc(-x / sqrt 2) / 2 by
/// <see cref="ErfReference"/> (series and continued fraction, not Cody's rational functions), phi(x) = exp(-x^2 / 2) / sqrt(2 pi) by
/// Math.Exp, and the vector exp(-x^2 / 2) of the Vector512 path against Math.Exp in ulps.
/// </summary>
[Trait("Category", "IsaParity")]
public class GeluFloat64Tests
{
    private const double Eps = 1.1102230246251565e-16;

    /// <summary>
    /// y = x Phi(x) and GELU'(x) = Phi(x) + x phi(x) from <see cref="FastActivations.GeluWithDerivative"/> on values spread over
    /// Cody's three intervals, the far tails (down to x = -37, where GELU is ~1e-300) and both sides of every boundary. The
    /// bound is relative, (4e-15 + 2 x^2 eps), to the scale |Phi| + |x phi|: the reference's own rounding of z = -x / sqrt 2 and
    /// of x^2 moves its erfc and exp by about x^2 eps relative (their condition numbers), ErfReference is good to ~1e-15
    /// (plus 3e-16 absolute in Phi below |z| = 1.5, where it forms 1 - erf). y also within 2.5e-15 relative of the naive tier.
    /// </summary>
    [Fact]
    public void Property_GeluAndDerivative_MatchAnIndependentErfc()
    {
        var rng = new SplitMix64(41);
        var values = new List<double> { 0.0, -0.0, 1e-300, -1e-300, 1e-8, -1e-8, -0.7518, 5.66, -5.66, -37.0, -30.0, -20.0, 20.0, 37.0 };
        foreach (double z in new[] { 0.46875, 4.0 })
            foreach (double s in new[] { -1.0, 1.0 })
                foreach (double d in new[] { -1e-9, 0.0, 1e-9 })
                    values.Add(-s * (z + d) * Math.Sqrt(2));
        while (values.Count < 4001)
        {
            double u = rng.Uniform(0, 1);
            values.Add(u < 0.4 ? rng.Normal() * 1.5 : u < 0.8 ? rng.Uniform(-8, 8) : rng.Uniform(-37, 37));
        }
        var x = values.ToArray();
        var y = new double[x.Length];
        var d1 = new double[x.Length];
        FastActivations.GeluWithDerivative(x, y, d1);
        var yNaive = new double[x.Length];
        NaiveActivations.Gelu(x, yNaive);
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            double cdf = 0.5 * ErfReference.Erfc(-v / Math.Sqrt(2));
            double xpdf = v * Math.Exp(-0.5 * v * v) / Math.Sqrt(2 * Math.PI);
            // The reference's erfc = 1 - erf below |z| = 1.5 carries erf's rounding as an absolute error (its cancellation).
            double rel = 4e-15 + 2 * v * v * Eps;
            double tolCdf = rel * cdf + (Math.Abs(v) < 1.5 * Math.Sqrt(2) ? 3e-16 : 0);
            double yRef = v * cdf;
            Assert.True(Math.Abs(y[i] - yRef) <= Math.Abs(v) * tolCdf + 1e-300, $"GELU({v:R}) = {y[i]:R}, reference {yRef:R}");
            Assert.True(Math.Abs(d1[i] - (cdf + xpdf)) <= tolCdf + rel * Math.Abs(xpdf) + 1e-300, $"GELU'({v:R}) = {d1[i]:R}, reference {cdf + xpdf:R}");
            // And within a few ulp of the naive tier's scalar Cody evaluation (measured: 1.2e-15 relative at most).
            Assert.True(Math.Abs(y[i] - yNaive[i]) <= 2.5e-15 * Math.Abs(yNaive[i]) + 1e-300, $"GELU({v:R}) = {y[i]:R}, naive {yNaive[i]:R}");
        }
    }

    /// <summary>
    /// The Vector512 path's exp(-(hi + lo) / 2) for the exact square x^2 = hi + lo, x in [0, 40] (down into the subnormals
    /// from x = 37.6 on), within 3 ulp of Math.Exp(-hi / 2) (1 - lo / 2) (itself within ~1.5 ulp of the value): the
    /// 16-entry table's rounding, the polynomial and the final product's rounding.
    /// </summary>
    [Fact]
    public void Property_VectorExpOfMinusHalfSquare_WithinThreeUlp()
    {
        Assert.SkipUnless(Vector512.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Avx512F.IsSupported,
            "the Vector512 GELU path (and its exp) runs only where Vector512 is accelerated (AVX-512F).");
        var rng = new SplitMix64(43);
        var x = new double[8 * 2000];
        for (int i = 0; i < x.Length; i++) x[i] = i < 40 ? i : i % 4 == 0 ? rng.Uniform(36, 40) : rng.Uniform(0, 40);
        for (int i = 0; i < x.Length; i += 8)
        {
            var v = Vector512.Create(x.AsSpan(i, 8));
            var hi = v * v;
            var lo = Vector512.FusedMultiplyAdd(v, v, -hi);
            var e = GeluVector.ExpMinusHalfSquare512(hi, lo);
            for (int k = 0; k < 8; k++)
            {
                double expected = Math.Exp(-0.5 * hi[k]) * (1 - 0.5 * lo[k]);
                long ulps = Math.Abs(BitConverter.DoubleToInt64Bits(e[k]) - BitConverter.DoubleToInt64Bits(expected));
                Assert.True(ulps <= 3, $"exp(-{x[i + k]:R}^2 / 2) = {e[k]:R}, expected {expected:R} ({ulps} ulp)");
            }
        }
    }
}
