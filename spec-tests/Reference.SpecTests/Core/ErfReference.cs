namespace Reference.SpecTests.Core;

/// <summary>
/// An independent, slow erf/erfc for the tests (the Core uses Cody's rational approximations):
/// Abramowitz and Stegun eq. 7.1.6, the all-positive series
/// erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)), for |x| &lt; 1.5, and
/// eq. 7.1.14, Laplace's continued fraction erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + ...))),
/// by modified Lentz, above. Both are summed to convergence (measured against mpmath: ~1e-15 relative).
/// </summary>
internal static class ErfReference
{
    private const double Limit = 1.5;

    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        if (Math.Abs(x) < Limit) return Series(x);
        double r = 1.0 - Fraction(Math.Abs(x));
        return x < 0 ? -r : r;
    }

    public static double Erfc(double x)
    {
        if (double.IsNaN(x)) return x;
        if (x >= Limit) return Fraction(x);
        if (x <= -Limit) return 2.0 - Fraction(-x);
        return 1.0 - Series(x);
    }

    private static double Series(double x)
    {
        double x2 = x * x, term = x, sum = x;
        for (int n = 1; n < 200; n++)
        {
            term *= 2.0 * x2 / (2 * n + 1);
            double next = sum + term;
            if (next == sum) break;
            sum = next;
        }
        return 1.1283791670955125739 * ExpMinusSquare(x) * sum;
    }

    private static double Fraction(double x)
    {
        if (x > 27.0) return 0.0;
        double f = x, c = x, d = 0.0;
        for (int k = 1; k < 500; k++)
        {
            double a = 0.5 * k;
            d = 1.0 / (x + a * d);
            c = x + a / c;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1.0) < 1e-16) break;
        }
        return 0.56418958354775628695 * ExpMinusSquare(x) / f;
    }

    private static double ExpMinusSquare(double x)
    {
        double h = Math.Round(x * 16.0) / 16.0;
        return Math.Exp(-h * h) * Math.Exp(-(x - h) * (x + h));
    }
}
