// Adjusted Rand index (Hubert and Arabie 1985) of two labelings of the same n items, from the
// contingency table n_ij with row sums a_i and column sums b_j:
//   ARI = (sum_ij C(n_ij, 2) - E) / ((sum_i C(a_i, 2) + sum_j C(b_j, 2)) / 2 - E),
//   E = sum_i C(a_i, 2) sum_j C(b_j, 2) / C(n, 2).
// 1 for identical partitions (up to relabeling), 0 in expectation for independent ones. When both
// labelings put everything in one cluster (or each item alone) the denominator is 0; the index is
// then 1 (sklearn's convention).
namespace Reference.Neuro.Connectome;

public static class AdjustedRandIndex
{
    public static double Compute(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Count != b.Count) throw new ArgumentException($"the labelings have {a.Count} and {b.Count} items; expected the same items.", nameof(b));
        int n = a.Count;
        var table = new Dictionary<(int, int), long>();
        var rows = new Dictionary<int, long>();
        var cols = new Dictionary<int, long>();
        for (int i = 0; i < n; i++)
        {
            table[(a[i], b[i])] = table.GetValueOrDefault((a[i], b[i])) + 1;
            rows[a[i]] = rows.GetValueOrDefault(a[i]) + 1;
            cols[b[i]] = cols.GetValueOrDefault(b[i]) + 1;
        }
        static double Pairs(long m) => m * (m - 1) / 2.0;
        double index = table.Values.Sum(Pairs), sa = rows.Values.Sum(Pairs), sb = cols.Values.Sum(Pairs);
        double expected = n > 1 ? sa * sb / Pairs(n) : 0, max = (sa + sb) / 2;
        return max == expected ? 1 : (index - expected) / (max - expected);
    }
}
