// NSGA-II on real variables, to check the selection against the known fronts of the ZDT problems with
// the settings pymoo's NSGA-II uses by default (pymoo.algorithms.moo.nsga2: binary crowded tournament,
// SBX with probability 0.9 and eta 15, polynomial mutation with eta 20 and probability 1/n per variable):
//   SBX (Deb and Agrawal, Complex Systems 9, 1995; the bounded form of Deb's NSGA-II code): with
//     probability 0.9 per pair, each variable with probability 0.5 (and |y1 - y2| > 1e-14) gets
//       beta  = 1 + 2 (y1 - lo) / (y2 - y1),  alpha = 2 - beta^-(eta + 1),
//       betaq = (u alpha)^(1/(eta+1)) if u <= 1/alpha else (1 / (2 - u alpha))^(1/(eta+1)),
//       c1 = (y1 + y2 - betaq (y2 - y1)) / 2, and c2 likewise from the upper bound; the children are
//     clipped to the bounds and swapped with probability 0.5.
//   polynomial mutation (Deb and Goyal 1996, bounded form): with d1 = (y - lo)/(hi - lo), d2 = (hi - y)/(hi - lo),
//       u <= 0.5: dq = (2u + (1 - 2u)(1 - d1)^(eta+1))^(1/(eta+1)) - 1
//       u >  0.5: dq = 1 - (2(1 - u) + 2(u - 0.5)(1 - d2)^(eta+1))^(1/(eta+1)),  y += dq (hi - lo), clipped.
using Reference.Core;

namespace Reference.Star;

/// <summary>A box-bounded real-variable problem with minimized objectives.</summary>
public interface IRealProblem
{
    int Variables { get; }
    int Objectives { get; }
    double Lower(int i);
    double Upper(int i);
    double[] Evaluate(ReadOnlySpan<double> x);
}

/// <summary>Settings of the real-coded NSGA-II (defaults: pymoo's).</summary>
public sealed record RealNsga2Options(int Population = 100, int Generations = 250, double CrossoverProbability = 0.9, double CrossoverEta = 15,
    double MutationEta = 20, double? MutationProbability = null, ulong Seed = 1);

/// <summary>NSGA-II with SBX and polynomial mutation.</summary>
public static class RealNsga2
{
    /// <summary>The final population: decision vectors and objectives.</summary>
    public static (double[][] X, double[][] F) Run(IRealProblem problem, RealNsga2Options options)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Population < 2 || options.Population % 2 != 0) throw new ArgumentOutOfRangeException(nameof(options), $"population must be even and >= 2, got {options.Population}.");
        var rng = new SplitMix64(options.Seed);
        int n = problem.Variables, size = options.Population;
        double pm = options.MutationProbability ?? 1.0 / n;
        var x = new List<double[]>(size);
        for (int i = 0; i < size; i++)
        {
            var v = new double[n];
            for (int j = 0; j < n; j++) v[j] = rng.Uniform(problem.Lower(j), problem.Upper(j));
            x.Add(v);
        }
        var f = x.Select(v => problem.Evaluate(v)).ToList();
        for (int gen = 0; gen < options.Generations; gen++)
        {
            var (rank, crowding) = Nsga2.Assess(f);
            var children = new List<double[]>(size);
            while (children.Count < size)
            {
                var a = x[Nsga2.Tournament(rank, crowding, rng)];
                var b = x[Nsga2.Tournament(rank, crowding, rng)];
                var (c1, c2) = Sbx(problem, a, b, options.CrossoverProbability, options.CrossoverEta, rng);
                children.Add(PolynomialMutation(problem, c1, pm, options.MutationEta, rng));
                children.Add(PolynomialMutation(problem, c2, pm, options.MutationEta, rng));
            }
            var all = x.Concat(children).ToList();
            var fAll = f.Concat(children.Select(v => problem.Evaluate(v))).ToList();
            var kept = Nsga2.Survive(fAll, size);
            x = [.. kept.Select(i => all[i])];
            f = [.. kept.Select(i => fAll[i])];
        }
        return ([.. x], [.. f]);
    }

    /// <summary>Simulated binary crossover of two parents (bounded).</summary>
    public static (double[], double[]) Sbx(IRealProblem problem, double[] a, double[] b, double probability, double eta, SplitMix64 rng)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(rng);
        var c1 = (double[])a.Clone();
        var c2 = (double[])b.Clone();
        if (!(rng.Uniform() <= probability)) return (c1, c2);
        for (int i = 0; i < a.Length; i++)
        {
            if (!(rng.Uniform() <= 0.5) || Math.Abs(a[i] - b[i]) <= 1e-14) continue;
            double y1 = Math.Min(a[i], b[i]), y2 = Math.Max(a[i], b[i]), lo = problem.Lower(i), hi = problem.Upper(i);
            double u = rng.Uniform();
            double BetaQ(double beta)
            {
                double alpha = 2.0 - Math.Pow(beta, -(eta + 1.0));
                return u <= 1.0 / alpha ? Math.Pow(u * alpha, 1.0 / (eta + 1.0)) : Math.Pow(1.0 / (2.0 - u * alpha), 1.0 / (eta + 1.0));
            }
            double lower = 0.5 * (y1 + y2 - BetaQ(1.0 + 2.0 * (y1 - lo) / (y2 - y1)) * (y2 - y1));
            double upper = 0.5 * (y1 + y2 + BetaQ(1.0 + 2.0 * (hi - y2) / (y2 - y1)) * (y2 - y1));
            lower = Math.Clamp(lower, lo, hi);
            upper = Math.Clamp(upper, lo, hi);
            if (rng.Uniform() <= 0.5) (c1[i], c2[i]) = (upper, lower);
            else (c1[i], c2[i]) = (lower, upper);
        }
        return (c1, c2);
    }

    /// <summary>Polynomial mutation (bounded), each variable with probability <paramref name="probability"/>.</summary>
    public static double[] PolynomialMutation(IRealProblem problem, double[] x, double probability, double eta, SplitMix64 rng)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(rng);
        var y = (double[])x.Clone();
        for (int i = 0; i < y.Length; i++)
        {
            if (!(rng.Uniform() <= probability)) continue;
            double lo = problem.Lower(i), hi = problem.Upper(i), span = hi - lo;
            double d1 = (y[i] - lo) / span, d2 = (hi - y[i]) / span, u = rng.Uniform(), power = 1.0 / (eta + 1.0);
            double dq = u <= 0.5
                ? Math.Pow(2.0 * u + (1.0 - 2.0 * u) * Math.Pow(1.0 - d1, eta + 1.0), power) - 1.0
                : 1.0 - Math.Pow(2.0 * (1.0 - u) + 2.0 * (u - 0.5) * Math.Pow(1.0 - d2, eta + 1.0), power);
            y[i] = Math.Clamp(y[i] + dq * span, lo, hi);
        }
        return y;
    }
}
