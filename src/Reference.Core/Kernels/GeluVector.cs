using System.Numerics;
using System.Runtime.InteropServices;

namespace Reference.Core.Kernels;

/// <summary>
/// GELU(x) = x Phi(x) and its derivative Phi(x) + x phi(x) in float64 SIMD lanes (Vector&lt;double&gt;):
/// the same three-interval Cody evaluation as <see cref="ScalarMath.NormalCdf"/> (z = -x / sqrt 2):
///   |z| &lt;= 0.46875:  Phi = (1 - erf(z)) / 2,      erf(z) = z P1(z^2) / Q1(z^2);
///   |z| &gt; 0.46875:   t = exp(-x^2 / 2) erfcx(|z|)  (0 from |z| = 26.543 on, where erfc underflows),
///                     Phi = t / 2 for z &gt; 0, 1 - t / 2 for z &lt; 0;
/// erfcx(|z|) = exp(z^2) erfc(|z|) by Cody's second (|z| &lt;= 4) or third rational function, and
/// phi(x) = exp(-x^2 / 2) / sqrt(2 pi). Every lane evaluates both rational functions and the blend
/// keeps the one its interval uses (no per-element branches). exp(-x^2 / 2) keeps the rounding of x^2
/// out of the exponent as <see cref="ScalarMath"/>'s table split does, by the exact product
/// x^2 = hi + lo (lo = fma(x, x, -hi)): exp(-hi / 2) (1 - lo / 2), -hi / 2 exact, |lo / 2| below one
/// ulp of hi. The only difference from the scalar path is the vector exp (1-2 ulp), so results
/// agree with <see cref="NaiveActivations.Gelu(double)"/> to a few ulp (tests: Fast vs Naive, 1e-13).
/// </summary>
internal static class GeluVector
{
    private const double SmallLimit = 0.46875, ErfcZeroLimit = 26.543, DensityZeroLimit = 40.0;
    private const double InvSqrtPi = 0.56418958354775628695;

    /// <summary>y = GELU(x), float64, x and y of equal length (may be the same span).</summary>
    public static void Forward(ReadOnlySpan<double> x, Span<double> y)
    {
        int n = x.Length, w = Vector<double>.Count, i = 0;
        var xs = MemoryMarshal.Cast<double, Vector<double>>(x);
        var ys = MemoryMarshal.Cast<double, Vector<double>>(y);
        for (int v = 0; v < xs.Length; v++, i += w)
        {
            var xv = xs[v];
            ys[v] = xv * Cdf(xv, out _);
        }
        for (; i < n; i++) y[i] = NaiveActivations.Gelu(x[i]);
    }

    /// <summary>dx = dy (Phi(x) + x phi(x)), float64; dx may alias x or dy.</summary>
    public static void Backward(ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx)
    {
        int n = x.Length, w = Vector<double>.Count, i = 0;
        var xs = MemoryMarshal.Cast<double, Vector<double>>(x);
        var dys = MemoryMarshal.Cast<double, Vector<double>>(dy);
        var dxs = MemoryMarshal.Cast<double, Vector<double>>(dx);
        for (int v = 0; v < xs.Length; v++, i += w)
        {
            var xv = xs[v];
            var cdf = Cdf(xv, out var e);
            dxs[v] = dys[v] * (cdf + xv * (new Vector<double>(ScalarMath.InvSqrt2Pi) * e));
        }
        for (; i < n; i++) dx[i] = dy[i] * NaiveActivations.GeluDerivative(x[i]);
    }

    /// <summary>Phi(x) per lane; <paramref name="e"/> = exp(-x^2 / 2) (0 from |x| = 40 on, and for non-finite x).</summary>
    private static Vector<double> Cdf(Vector<double> x, out Vector<double> e)
    {
        var z = -x / new Vector<double>(ScalarMath.Sqrt2);
        var az = Vector.Abs(z);
        var hi = x * x;
        var lo = Vector.FusedMultiplyAdd(x, x, -hi);
        e = Vector.Exp(new Vector<double>(-0.5) * hi) * (Vector<double>.One - new Vector<double>(0.5) * lo);
        e = Vector.ConditionalSelect(Vector.LessThan(Vector.Abs(x), new Vector<double>(DensityZeroLimit)), e, Vector<double>.Zero);

        var half = new Vector<double>(0.5);
        var small = half * (Vector<double>.One - ErfSmall(z));
        var tail = e * ErfcScaled(Vector.Max(az, new Vector<double>(SmallLimit)));
        tail = Vector.ConditionalSelect(Vector.LessThan(az, new Vector<double>(ErfcZeroLimit)), tail, Vector<double>.Zero);
        var large = Vector.ConditionalSelect(Vector.GreaterThan(z, Vector<double>.Zero), half * tail, Vector<double>.One - half * tail);
        var cdf = Vector.ConditionalSelect(Vector.LessThanOrEqual(az, new Vector<double>(SmallLimit)), small, large);
        // NaN in, NaN out (every comparison above is false for NaN and would pick the large branch).
        return Vector.ConditionalSelect(Vector.Equals(x, x), cdf, x);
    }

    private static Vector<double> ErfSmall(Vector<double> z)
    {
        var y = z * z;
        var num = new Vector<double>(1.85777706184603153e-1) * y;
        var den = y;
        num = (num + new Vector<double>(3.16112374387056560e00)) * y; den = (den + new Vector<double>(2.36012909523441209e01)) * y;
        num = (num + new Vector<double>(1.13864154151050156e02)) * y; den = (den + new Vector<double>(2.44024637934444173e02)) * y;
        num = (num + new Vector<double>(3.77485237685302021e02)) * y; den = (den + new Vector<double>(1.28261652607737228e03)) * y;
        return z * (num + new Vector<double>(3.20937758913846947e03)) / (den + new Vector<double>(2.84423683343917062e03));
    }

    /// <summary>exp(a^2) erfc(a) for a &gt;= 0.46875: Cody's second interval up to 4, his third beyond.</summary>
    private static Vector<double> ErfcScaled(Vector<double> a)
    {
        var num = new Vector<double>(2.15311535474403846e-8) * a;
        var den = a;
        num = (num + new Vector<double>(5.64188496988670089e-1)) * a; den = (den + new Vector<double>(1.57449261107098347e01)) * a;
        num = (num + new Vector<double>(8.88314979438837594e00)) * a; den = (den + new Vector<double>(1.17693950891312499e02)) * a;
        num = (num + new Vector<double>(6.61191906371416295e01)) * a; den = (den + new Vector<double>(5.37181101862009858e02)) * a;
        num = (num + new Vector<double>(2.98635138197400131e02)) * a; den = (den + new Vector<double>(1.62138957456669019e03)) * a;
        num = (num + new Vector<double>(8.81952221241769090e02)) * a; den = (den + new Vector<double>(3.29079923573345963e03)) * a;
        num = (num + new Vector<double>(1.71204761263407058e03)) * a; den = (den + new Vector<double>(4.36261909014324716e03)) * a;
        num = (num + new Vector<double>(2.05107837782607147e03)) * a; den = (den + new Vector<double>(3.43936767414372164e03)) * a;
        var middle = (num + new Vector<double>(1.23033935479799725e03)) / (den + new Vector<double>(1.23033935480374942e03));

        var z = Vector<double>.One / (a * a);
        num = new Vector<double>(1.63153871373020978e-2) * z;
        den = z;
        num = (num + new Vector<double>(3.05326634961232344e-1)) * z; den = (den + new Vector<double>(2.56852019228982242e00)) * z;
        num = (num + new Vector<double>(3.60344899949804439e-1)) * z; den = (den + new Vector<double>(1.87295284992346047e00)) * z;
        num = (num + new Vector<double>(1.25781726111229246e-1)) * z; den = (den + new Vector<double>(5.27905102951428412e-1)) * z;
        num = (num + new Vector<double>(1.60837851487422766e-2)) * z; den = (den + new Vector<double>(6.05183413124413191e-2)) * z;
        var r = z * (num + new Vector<double>(6.58749161529837803e-4)) / (den + new Vector<double>(2.33520497626869185e-3));
        var far = (new Vector<double>(InvSqrtPi) - r) / a;
        return Vector.ConditionalSelect(Vector.LessThanOrEqual(a, new Vector<double>(4.0)), middle, far);
    }
}
