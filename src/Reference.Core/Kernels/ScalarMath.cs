namespace Reference.Core.Kernels;

/// <summary>
/// Scalar special functions the kernels need in float64 and that .NET either lacks (erf, erfc) or
/// implements by the naive formula (double.ExpM1 = exp(x) - 1, double.LogP1 = log(1 + x), which lose
/// every digit for |x| near 0).
/// <para>
/// erf / erfc: Abramowitz and Stegun, Handbook of Mathematical Functions (1964), eq. 7.1.6 (the
/// all-positive series) for |x| &lt; 1.5 and eq. 7.1.14 (Laplace's continued fraction) for the tail,
/// evaluated by the modified Lentz algorithm (Press et al., Numerical Recipes, 3rd ed., sec. 5.2).
/// Both branches are summed until the next term no longer changes the result, so the error is a few
/// ulp (checked against MathNet's SpecialFunctions.Erf/Erfc in the spec tests).
/// </para>
/// <para>
/// expm1 / log1p: W. Kahan's correction tricks (D. Goldberg, "What every computer scientist should
/// know about floating-point arithmetic", ACM Computing Surveys 23(1), 1991, Theorem 4): the
/// rounding error of u = exp(x) (resp. u = 1 + x) is divided out by re-deriving x from u.
/// </para>
/// </summary>
public static class ScalarMath
{
    /// <summary>sqrt(2), the scale between the standard normal and erf: Phi(x) = erfc(-x / sqrt 2) / 2.</summary>
    public const double Sqrt2 = 1.4142135623730950488;

    /// <summary>1 / sqrt(2 pi), the standard normal density at 0.</summary>
    public const double InvSqrt2Pi = 0.39894228040143267794;

    /// <summary>2 / sqrt(pi), the factor in front of the erf integral.</summary>
    private const double TwoOverSqrtPi = 1.1283791670955125739;

    /// <summary>1 / sqrt(pi).</summary>
    private const double InvSqrtPi = 0.56418958354775628695;

    /// <summary>
    /// Below this |x| the series is used (at most ~25 terms); at and above it the continued fraction
    /// (at most ~90 steps). Measured against MathNet: the series' own rounding grows past 1e-15 toward
    /// x = 2.5, while 1 - erf(x) would lose erfc's relative accuracy as erfc shrinks, so the switch is
    /// made early for both functions.
    /// </summary>
    private const double SeriesLimit = 1.5;

    /// <summary>erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt.</summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double ax = Math.Abs(x);
        if (ax < SeriesLimit) return ErfSeries(x);
        double r = 1.0 - ErfcContinuedFraction(ax);
        return x < 0 ? -r : r;
    }

    /// <summary>erfc(x) = 1 - erf(x), with full relative accuracy in the right tail (no 1 - erf cancellation).</summary>
    public static double Erfc(double x)
    {
        if (double.IsNaN(x)) return x;
        if (x >= SeriesLimit) return ErfcContinuedFraction(x);
        if (x <= -SeriesLimit) return 2.0 - ErfcContinuedFraction(-x);
        return 1.0 - ErfSeries(x);
    }

    /// <summary>
    /// Standard normal cumulative distribution Phi(x) = erfc(-x / sqrt 2) / 2, with full relative
    /// accuracy in the left tail. There the factor exp(-z^2), z = -x / sqrt 2, is evaluated as
    /// exp(-x^2 / 2) from x itself: rounding z would cost a relative error of about x^2 eps
    /// (1e-13 at x = -30), since d log erfc(z) / dz ~ -2z.
    /// </summary>
    public static double NormalCdf(double x)
    {
        if (double.IsNaN(x)) return x;
        double z = -x / Sqrt2;
        if (z < SeriesLimit) return 0.5 * Erfc(z);
        if (z > 40.0) return 0.0;
        return 0.5 * InvSqrtPi * ExpMinusHalfSquare(x) / ErfcFraction(z);
    }

    /// <summary>Standard normal density phi(x) = exp(-x^2 / 2) / sqrt(2 pi).</summary>
    public static double NormalPdf(double x) => InvSqrt2Pi * Math.Exp(-0.5 * x * x);

    /// <summary>exp(x) - 1 without cancellation for small |x|.</summary>
    public static double Expm1(double x)
    {
        double u = Math.Exp(x);
        if (u == 1.0) return x;
        if (double.IsPositiveInfinity(u)) return u;
        double um1 = u - 1.0;
        if (um1 == -1.0) return -1.0;
        // u - 1 is exact (Sterbenz) but u carries exp's rounding; log(u) carries the same error,
        // so the ratio (u - 1) / log(u) is accurate and x restores the exact argument.
        return um1 * x / Math.Log(u);
    }

    /// <summary>log(1 + x) without cancellation for small |x|.</summary>
    public static double Log1p(double x)
    {
        if (double.IsPositiveInfinity(x)) return x;
        double u = 1.0 + x;
        if (u == 1.0) return x;
        // u = 1 + x rounded; log(u) / (u - 1) is a smooth function of u, evaluated where u - 1 is exact.
        return Math.Log(u) * x / (u - 1.0);
    }

    /// <summary>
    /// A&amp;S 7.1.6: erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)).
    /// Every term has the sign of x, so the sum has no cancellation (unlike the Taylor series).
    /// </summary>
    private static double ErfSeries(double x)
    {
        double x2 = x * x;
        double term = x, sum = x;
        for (int n = 1; n < 200; n++)
        {
            term *= 2.0 * x2 / (2 * n + 1);
            double next = sum + term;
            if (next == sum) break;
            sum = next;
        }
        return TwoOverSqrtPi * ExpMinusSquare(x) * sum;
    }

    /// <summary>erfc(x) for x &gt;= <see cref="SeriesLimit"/>: exp(-x^2) / sqrt(pi) / K(x).</summary>
    private static double ErfcContinuedFraction(double x)
    {
        if (x > 27.0) return 0.0; // exp(-729) underflows to 0 even as a subnormal
        return InvSqrtPi * ExpMinusSquare(x) / ErfcFraction(x);
    }

    /// <summary>
    /// A&amp;S 7.1.14 for x &gt; 0: erfc(x) = exp(-x^2)/sqrt(pi) / K(x) with the continued fraction
    /// K(x) = x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))), partial numerators a_k = k/2 and
    /// denominators x, evaluated by modified Lentz until a step changes K by less than 1e-16.
    /// </summary>
    private static double ErfcFraction(double x)
    {
        const double tiny = 1e-300;
        double f = x, c = x, d = 0.0;
        for (int k = 1; k < 500; k++)
        {
            double a = 0.5 * k;
            d = x + a * d;
            if (d == 0) d = tiny;
            c = x + a / c;
            if (c == 0) c = tiny;
            d = 1.0 / d;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1.0) < 1e-16) break;
        }
        return f;
    }

    /// <summary>
    /// exp(-x^2) without the rounding error of x*x amplified by exp (relative error x^2 eps):
    /// x = h + r with h on a 1/16 grid, so h*h is exact and only the small (x - h)(x + h) is rounded.
    /// </summary>
    private static double ExpMinusSquare(double x)
    {
        double h = Math.Round(x * 16.0) / 16.0;
        double r = (x - h) * (x + h);
        return Math.Exp(-h * h) * Math.Exp(-r);
    }

    /// <summary>exp(-x^2 / 2) by the same exact-square split as <see cref="ExpMinusSquare"/>.</summary>
    private static double ExpMinusHalfSquare(double x)
    {
        double h = Math.Round(x * 16.0) / 16.0;
        double r = (x - h) * (x + h);
        return Math.Exp(-0.5 * (h * h)) * Math.Exp(-0.5 * r);
    }
}
