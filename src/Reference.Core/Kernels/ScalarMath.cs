namespace Reference.Core.Kernels;

/// <summary>
/// Scalar special functions the kernels need in float64 and that .NET either lacks (erf, erfc) or
/// implements by the naive formula (double.ExpM1 = exp(x) - 1, double.LogP1 = log(1 + x), which lose
/// every digit for |x| near 0).
/// <para>
/// erf / erfc: W. J. Cody, "Rational Chebyshev approximations for the error function", Mathematics
/// of Computation 23 (1969), pp. 631-638, in the three-interval form of his SPECFUN routine CALERF
/// (coefficients from the paper's tables, near-minimax to about 18 digits):
/// |x| &lt;= 0.46875: erf(x) = x P1(x^2) / Q1(x^2);
/// 0.46875 &lt; |x| &lt;= 4: erfc(|x|) = exp(-x^2) P2(|x|) / Q2(|x|);
/// |x| &gt; 4: erfc(|x|) = exp(-x^2) / |x| (1/sqrt(pi) - z P3(z) / Q3(z)), z = 1/x^2.
/// exp(-x^2) is evaluated without amplifying the rounding of x^2 (see <see cref="ExpMinusSquare"/>).
/// The spec tests check it against MathNet, mpmath values and an independent series /
/// continued-fraction evaluation (A&amp;S 7.1.6 and 7.1.14).
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

    /// <summary>1 / sqrt(pi).</summary>
    private const double InvSqrtPi = 0.56418958354775628695;

    /// <summary>Boundary of Cody's first interval (erf by a rational function of x^2).</summary>
    private const double SmallLimit = 0.46875;

    /// <summary>erfc(x) underflows to 0 beyond this x (Cody's XBIG for IEEE double).</summary>
    private const double ErfcZeroLimit = 26.543;

    private static readonly double[] P1 = [3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03, 1.85777706184603153e-1];
    private static readonly double[] Q1 = [2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03];
    private static readonly double[] P2 =
    [
        5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02,
        8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8,
    ];
    private static readonly double[] Q2 =
    [
        1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
        3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03,
    ];
    private static readonly double[] P3 = [3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2];
    private static readonly double[] Q3 = [2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1, 6.05183413124413191e-2, 2.33520497626869185e-3];

    /// <summary>erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt.</summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double ax = Math.Abs(x);
        if (ax <= SmallLimit) return ErfSmall(x);
        // 1 - erfc(|x|) written (1/2 - erfc) + 1/2, as Cody does, to keep the last bit.
        double r = (0.5 - Erfc(ax)) + 0.5;
        return x < 0 ? -r : r;
    }

    /// <summary>erfc(x) = 1 - erf(x), with full relative accuracy in the right tail (no 1 - erf cancellation).</summary>
    public static double Erfc(double x)
    {
        if (double.IsNaN(x)) return x;
        double ax = Math.Abs(x);
        if (ax <= SmallLimit) return 1.0 - ErfSmall(x);
        double tail = ax >= ErfcZeroLimit ? 0.0 : ExpMinusSquare(ax) * ErfcScaled(ax);
        return x < 0 ? 2.0 - tail : tail;
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
        if (z <= SmallLimit) return 0.5 * Erfc(z);
        if (z >= ErfcZeroLimit) return 0.0;
        return 0.5 * ExpMinusHalfSquare(x) * ErfcScaled(z);
    }

    /// <summary>Standard normal density phi(x) = exp(-x^2 / 2) / sqrt(2 pi).</summary>
    public static double NormalPdf(double x) => InvSqrt2Pi * ExpMinusHalfSquare(x);

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

    /// <summary>Cody's first interval, |x| &lt;= 0.46875: erf(x) = x P1(x^2) / Q1(x^2).</summary>
    private static double ErfSmall(double x)
    {
        double y = x * x;
        double num = P1[4] * y, den = y;
        for (int i = 0; i < 3; i++)
        {
            num = (num + P1[i]) * y;
            den = (den + Q1[i]) * y;
        }
        return x * (num + P1[3]) / (den + Q1[3]);
    }

    /// <summary>
    /// The scaled complement exp(x^2) erfc(x) for x &gt; 0.46875 (Cody's second and third intervals);
    /// smooth and of order 1/x, so every exp(-x^2) factor is applied by the caller.
    /// </summary>
    private static double ErfcScaled(double x)
    {
        double num, den;
        if (x <= 4.0)
        {
            num = P2[8] * x;
            den = x;
            for (int i = 0; i < 7; i++)
            {
                num = (num + P2[i]) * x;
                den = (den + Q2[i]) * x;
            }
            return (num + P2[7]) / (den + Q2[7]);
        }
        double z = 1.0 / (x * x);
        num = P3[5] * z;
        den = z;
        for (int i = 0; i < 4; i++)
        {
            num = (num + P3[i]) * z;
            den = (den + Q3[i]) * z;
        }
        double r = z * (num + P3[4]) / (den + Q3[4]);
        return (InvSqrtPi - r) / x;
    }

    /// <summary>Grid of the exact-square split: h = round(16 |x|) / 16 has few bits, so h*h is exact in float64.</summary>
    private const double GridScale = 16.0;

    /// <summary>exp(-h^2) for h = k / 16 up to 27 (erfc underflows beyond 26.5).</summary>
    private static readonly double[] SquareTable = Table(27.0, 1.0);

    /// <summary>exp(-h^2 / 2) for h = k / 16 up to 40 (the normal density underflows beyond 38.6).</summary>
    private static readonly double[] HalfSquareTable = Table(40.0, 0.5);

    private static double[] Table(double limit, double scale)
    {
        var table = new double[(int)(limit * GridScale) + 1];
        for (int k = 0; k < table.Length; k++)
        {
            double h = k / GridScale;
            table[k] = Math.Exp(-scale * (h * h));
        }
        return table;
    }

    /// <summary>
    /// exp(-x^2) without the rounding error of x*x amplified by exp (that would be a relative error
    /// of x^2 eps, 5e-14 at x = 22): |x| = h + (|x| - h) with h on the 1/16 grid, so
    /// exp(-x^2) = exp(-h^2) exp(-(|x| - h)(|x| + h)), where h^2 is exact and only the small second
    /// exponent is rounded. exp(-h^2) comes from a table (one exp per call).
    /// </summary>
    private static double ExpMinusSquare(double x) => ExpSplit(x, SquareTable, 1.0);

    /// <summary>exp(-x^2 / 2) by the same split.</summary>
    private static double ExpMinusHalfSquare(double x) => ExpSplit(x, HalfSquareTable, 0.5);

    private static double ExpSplit(double x, double[] table, double scale)
    {
        double ax = Math.Abs(x);
        if (double.IsNaN(ax)) return ax;
        int k = (int)Math.Round(ax * GridScale);
        if (k >= table.Length) return 0.0;
        double h = k / GridScale;
        return table[k] * Math.Exp(-scale * ((ax - h) * (ax + h)));
    }
}
