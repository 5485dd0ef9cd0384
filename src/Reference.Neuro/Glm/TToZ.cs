// Student-t statistics to z scores with equal tail probability:
//
//   z = sign(t) Phi^-1(1 - p),   p = P(T_nu > |t|) = F_nu(-|t|)
//
// The tail p is always taken on the lower side (F_nu(-|t|), never 1 - F_nu(|t|)) so a large |t|
// does not lose its digits to cancellation. F_nu(-a) = I_x(nu/2, 1/2) / 2 with x = nu / (nu + a^2)
// (MathNet's regularized incomplete beta through StudentT.CDF). When that underflows (p < 1e-300,
// z > 37) the tail comes from the leading term of the incomplete beta's series,
//   log p = log(1/2) + (nu/2) log x + (1/2) log(1 - x) - log(nu/2) - log B(nu/2, 1/2)   (relative error O(x)),
// and z from Mills' asymptotic log Phi(-z) = -z^2/2 - log z - log(2 pi)/2 + log(1 - 1/z^2 + 3/z^4),
// solved by Newton's method.
using MathNet.Numerics;
using MathNet.Numerics.Distributions;

namespace Reference.Neuro.Glm;

public static class TToZ
{
    /// <summary>The z score with the same tail probability as t with <paramref name="dof"/> degrees of freedom (dof = infinity: z = t).</summary>
    public static double Convert(double t, double dof)
    {
        if (!(dof > 0)) throw new ArgumentOutOfRangeException(nameof(dof), $"dof = {dof}; expected > 0.");
        if (double.IsNaN(t)) return double.NaN;
        if (double.IsPositiveInfinity(dof) || t == 0) return t;
        if (double.IsInfinity(t)) return t;
        double logp = LogLowerTail(-Math.Abs(t), dof);
        return Math.Sign(t) * ZFromLogTail(logp);
    }

    /// <summary>log F_nu(x) for x &lt;= 0.</summary>
    public static double LogLowerTail(double x, double dof)
    {
        double p = StudentT.CDF(0, 1, dof, x);
        return p > 1e-300 ? Math.Log(p) : AsymptoticLogLowerTail(x, dof);
    }

    /// <summary>The leading term of the incomplete beta series for log F_nu(x), x &lt;&lt; 0.</summary>
    internal static double AsymptoticLogLowerTail(double x, double dof)
    {
        double y = dof / (dof + x * x);
        return Math.Log(0.5) + dof / 2 * Math.Log(y) + 0.5 * Math.Log(1 - y) - Math.Log(dof / 2) - SpecialFunctions.BetaLn(dof / 2, 0.5);
    }

    /// <summary>z &gt;= 0 with log Phi(-z) = <paramref name="logp"/> (logp &lt;= log 1/2).</summary>
    public static double ZFromLogTail(double logp)
    {
        return logp > Math.Log(1e-300) ? -Normal.InvCDF(0, 1, Math.Exp(logp)) : AsymptoticZ(logp);
    }

    /// <summary>Newton's method on Mills' asymptotic log Phi(-z) (accurate for z above about 10).</summary>
    internal static double AsymptoticZ(double logp)
    {
        double z = Math.Sqrt(-2 * logp - Math.Log(-2 * logp) - Math.Log(2 * Math.PI));
        for (int i = 0; i < 20; i++)
        {
            double f = -z * z / 2 - Math.Log(z) - 0.5 * Math.Log(2 * Math.PI) + Math.Log(1 - 1 / (z * z) + 3 / (z * z * z * z)) - logp;
            double df = -z - 1 / z + (2 / (z * z * z) - 12 / (z * z * z * z * z)) / (1 - 1 / (z * z) + 3 / (z * z * z * z));
            double step = f / df;
            z -= step;
            if (Math.Abs(step) < 1e-14 * z) break;
        }
        return z;
    }
}
