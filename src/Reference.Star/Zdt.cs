// The ZDT test problems (Zitzler, Deb and Thiele, "Comparison of multiobjective evolutionary algorithms:
// empirical results", Evolutionary Computation 8(2), 2000), n variables in [0, 1], two objectives:
//   g(x) = 1 + 9 / (n - 1) sum_{i=2..n} x_i,  f1 = x1,
//   ZDT1: f2 = g (1 - sqrt(f1 / g))                         front f2 = 1 - sqrt(f1)           (convex)
//   ZDT2: f2 = g (1 - (f1 / g)^2)                            front f2 = 1 - f1^2               (concave)
//   ZDT3: f2 = g (1 - sqrt(f1 / g) - (f1 / g) sin(10 pi f1)) front: the non-dominated part of
//         1 - sqrt(f1) - f1 sin(10 pi f1) on [0, 1] (five disconnected pieces).
// The Pareto-optimal set is g = 1 (x_2..n = 0). IGD (Coello and Reyes Sierra 2004) is the mean, over a
// dense sample of the true front, of the Euclidean distance to the nearest obtained point.
namespace Reference.Star;

/// <summary>ZDT1, ZDT2 or ZDT3.</summary>
public sealed class Zdt(int which, int variables = 30) : IRealProblem
{
    public int Which { get; } = which is >= 1 and <= 3 ? which : throw new ArgumentOutOfRangeException(nameof(which), $"ZDT problem must be 1, 2 or 3, got {which}.");
    public int Variables { get; } = variables >= 2 ? variables : throw new ArgumentOutOfRangeException(nameof(variables), $"variables must be >= 2, got {variables}.");
    public int Objectives => 2;
    public double Lower(int i) => 0.0;
    public double Upper(int i) => 1.0;

    public double[] Evaluate(ReadOnlySpan<double> x)
    {
        double f1 = x[0], s = 0;
        for (int i = 1; i < x.Length; i++) s += x[i];
        double g = 1.0 + 9.0 / (x.Length - 1) * s, r = f1 / g;
        double h = Which switch
        {
            1 => 1.0 - Math.Sqrt(r),
            2 => 1.0 - r * r,
            _ => 1.0 - Math.Sqrt(r) - r * Math.Sin(10.0 * Math.PI * f1),
        };
        return [f1, g * h];
    }

    /// <summary>The true front sampled at <paramref name="points"/> values of f1 (ZDT3: the non-dominated ones of a finer sample).</summary>
    public double[][] TrueFront(int points = 1000)
    {
        if (Which != 3)
            return [.. Enumerable.Range(0, points).Select(i => { double f1 = i / (points - 1.0); return new[] { f1, Which == 1 ? 1 - Math.Sqrt(f1) : 1 - f1 * f1 }; })];
        int fine = 20 * points;
        var curve = Enumerable.Range(0, fine).Select(i => { double f1 = i / (fine - 1.0); return new[] { f1, 1 - Math.Sqrt(f1) - f1 * Math.Sin(10 * Math.PI * f1) }; }).ToArray();
        // Sorted by f1, a point is non-dominated when its f2 is below every f2 before it.
        var front = new List<double[]>();
        double best = double.PositiveInfinity;
        foreach (var p in curve)
            if (p[1] < best) { front.Add(p); best = p[1]; }
        return [.. front];
    }

    /// <summary>Inverted generational distance of <paramref name="obtained"/> to <paramref name="reference"/>.</summary>
    public static double Igd(IReadOnlyList<double[]> obtained, IReadOnlyList<double[]> reference)
    {
        ArgumentNullException.ThrowIfNull(obtained);
        ArgumentNullException.ThrowIfNull(reference);
        double total = 0;
        foreach (var r in reference)
        {
            double best = double.PositiveInfinity;
            foreach (var p in obtained)
            {
                double d = 0;
                for (int m = 0; m < r.Length; m++) d += (p[m] - r[m]) * (p[m] - r[m]);
                best = Math.Min(best, d);
            }
            total += Math.Sqrt(best);
        }
        return total / reference.Count;
    }
}
