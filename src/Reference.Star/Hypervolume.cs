// Hypervolume (Zitzler and Thiele 1998): the Lebesgue measure of the region dominated by a point set
// and bounded by a reference point r (minimization; points not strictly better than r in every
// objective contribute nothing). Computed by slicing (HSO, While et al. 2006): sort by the last
// objective; between consecutive values z_i and z_{i+1} (the last up to r) the dominated region is the
// (M-1)-dimensional hypervolume of the first i points, times the slab's thickness. M = 1 is the
// interval [min f, r]. Exact; O(N^M) in the worst case, fine for the population sizes here.
namespace Reference.Star;

/// <summary>Exact hypervolume of a minimized point set with respect to a reference point.</summary>
public static class Hypervolume
{
    public static double Compute(IReadOnlyList<double[]> points, ReadOnlySpan<double> reference)
    {
        ArgumentNullException.ThrowIfNull(points);
        var r = reference.ToArray();
        var inside = points.Where(p => p.Length == r.Length && Enumerable.Range(0, r.Length).All(m => p[m] < r[m])).ToList();
        return Slice(inside, r, r.Length);
    }

    private static double Slice(List<double[]> points, double[] r, int dims)
    {
        if (points.Count == 0) return 0;
        int m = dims - 1;
        if (dims == 1) return r[0] - points.Min(p => p[0]);
        var sorted = points.OrderBy(p => p[m]).ToList();
        double volume = 0;
        var prefix = new List<double[]>();
        for (int i = 0; i < sorted.Count; i++)
        {
            prefix.Add(sorted[i]);
            double top = i + 1 < sorted.Count ? sorted[i + 1][m] : r[m];
            double thickness = top - sorted[i][m];
            if (thickness > 0) volume += thickness * Slice(prefix, r, dims - 1);
        }
        return volume;
    }
}
