// NSGA-II's selection (Deb, Pratap, Agarwal and Meyarivan, "A fast and elitist multiobjective genetic
// algorithm: NSGA-II", IEEE TEC 6(2), 2002), all objectives minimized:
//   fast non-dominated sort (sec. III-A): S_p = points p dominates, n_p = points dominating p; front 1 =
//     {n_p = 0}; peeling a front decrements n_q of what it dominates. O(M N^2).
//   crowding distance (sec. III-B): per objective m, sort the front by f_m; the two boundary points get
//     infinity, an interior point i adds (f_m[i+1] - f_m[i-1]) / (f_m^max - f_m^min). An objective whose
//     range is zero or not finite (a failed evaluation scored +inf) adds nothing.
//   crowded-comparison operator (sec. III-C): i < j when rank_i < rank_j, or equal ranks and
//     distance_i > distance_j; binary tournament picks the better of two uniformly drawn members
//     (ties: the first drawn).
//   elitist survival (sec. III-C, main loop): parents and children together are sorted; whole fronts
//     fill the next population, the last front that does not fit is cut by descending crowding distance.
// Ties in the cut are broken by index, so everything is a function of the inputs and the RNG.
using Reference.Core;

namespace Reference.Star;

/// <summary>The selection of NSGA-II on objective vectors (minimized).</summary>
public static class Nsga2
{
    /// <summary>True when a is no worse than b in every objective and better in one.</summary>
    public static bool Dominates(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"objective vectors have {a.Length} and {b.Length} entries.", nameof(b));
        bool better = false;
        for (int m = 0; m < a.Length; m++)
        {
            if (a[m] > b[m]) return false;
            if (a[m] < b[m]) better = true;
        }
        return better;
    }

    /// <summary>The fronts (indices into <paramref name="f"/>, ascending within a front), front 1 first.</summary>
    public static List<int[]> FastNonDominatedSort(IReadOnlyList<double[]> f)
    {
        ArgumentNullException.ThrowIfNull(f);
        int n = f.Count;
        var dominated = new List<int>[n];
        var count = new int[n];
        for (int p = 0; p < n; p++) dominated[p] = [];
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++)
            {
                if (Dominates(f[p], f[q])) { dominated[p].Add(q); count[q]++; }
                else if (Dominates(f[q], f[p])) { dominated[q].Add(p); count[p]++; }
            }
        var fronts = new List<int[]>();
        var current = Enumerable.Range(0, n).Where(p => count[p] == 0).ToList();
        while (current.Count > 0)
        {
            fronts.Add([.. current]);
            var next = new List<int>();
            foreach (int p in current)
                foreach (int q in dominated[p])
                    if (--count[q] == 0) next.Add(q);
            next.Sort();
            current = next;
        }
        return fronts;
    }

    /// <summary>Rank (0 = first front) of every point.</summary>
    public static int[] Ranks(IReadOnlyList<double[]> f)
    {
        var ranks = new int[f.Count];
        var fronts = FastNonDominatedSort(f);
        for (int r = 0; r < fronts.Count; r++) foreach (int i in fronts[r]) ranks[i] = r;
        return ranks;
    }

    /// <summary>Crowding distance of each member of <paramref name="front"/> (same order), boundary points infinite.</summary>
    public static double[] CrowdingDistance(IReadOnlyList<double[]> f, IReadOnlyList<int> front)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(front);
        int n = front.Count;
        var d = new double[n];
        if (n == 0) return d;
        if (n <= 2) { Array.Fill(d, double.PositiveInfinity); return d; }
        int objectives = f[front[0]].Length;
        var order = new int[n];
        for (int m = 0; m < objectives; m++)
        {
            for (int i = 0; i < n; i++) order[i] = i;
            int mm = m;
            Array.Sort(order, (a, b) => { int c = f[front[a]][mm].CompareTo(f[front[b]][mm]); return c != 0 ? c : a.CompareTo(b); });
            double lo = f[front[order[0]]][m], hi = f[front[order[n - 1]]][m];
            d[order[0]] = double.PositiveInfinity;
            d[order[n - 1]] = double.PositiveInfinity;
            double range = hi - lo;
            if (!(range > 0) || !double.IsFinite(range)) continue;
            for (int i = 1; i < n - 1; i++)
            {
                double gap = (f[front[order[i + 1]]][m] - f[front[order[i - 1]]][m]) / range;
                if (double.IsFinite(gap)) d[order[i]] += gap;
            }
        }
        return d;
    }

    /// <summary>Rank and crowding distance of every point (the crowded-comparison keys).</summary>
    public static (int[] Rank, double[] Crowding) Assess(IReadOnlyList<double[]> f)
    {
        var rank = new int[f.Count];
        var crowding = new double[f.Count];
        var fronts = FastNonDominatedSort(f);
        for (int r = 0; r < fronts.Count; r++)
        {
            var d = CrowdingDistance(f, fronts[r]);
            for (int i = 0; i < fronts[r].Length; i++) { rank[fronts[r][i]] = r; crowding[fronts[r][i]] = d[i]; }
        }
        return (rank, crowding);
    }

    /// <summary>The crowded-comparison operator: true when i is preferred to j.</summary>
    public static bool CrowdedLess(int i, int j, int[] rank, double[] crowding) =>
        rank[i] < rank[j] || rank[i] == rank[j] && crowding[i] > crowding[j];

    /// <summary>Binary crowded tournament: two members drawn uniformly; the preferred one (the first on a tie).</summary>
    public static int Tournament(int[] rank, double[] crowding, SplitMix64 rng)
    {
        ArgumentNullException.ThrowIfNull(rank);
        ArgumentNullException.ThrowIfNull(rng);
        int a = rng.NextInt(rank.Length), b = rng.NextInt(rank.Length);
        return CrowdedLess(b, a, rank, crowding) ? b : a;
    }

    /// <summary>Elitist survival: indices of the <paramref name="size"/> points kept (whole fronts, the last cut by crowding).</summary>
    public static int[] Survive(IReadOnlyList<double[]> f, int size)
    {
        ArgumentNullException.ThrowIfNull(f);
        if (size < 0 || size > f.Count) throw new ArgumentOutOfRangeException(nameof(size), $"size must be in 0..{f.Count}, got {size}.");
        var kept = new List<int>(size);
        foreach (var front in FastNonDominatedSort(f))
        {
            if (kept.Count + front.Length <= size) { kept.AddRange(front); continue; }
            var d = CrowdingDistance(f, front);
            var order = Enumerable.Range(0, front.Length).OrderByDescending(i => d[i]).ThenBy(i => front[i]).ToArray();
            kept.AddRange(order.Take(size - kept.Count).Select(i => front[i]));
            break;
        }
        return [.. kept];
    }
}
