using MathNet.Numerics;
using Reference.Autodiff;
using Reference.Core;

namespace Reference.Decoding.Interpretation;

/// <summary>An occlusion curve: accuracy on the correctly classified trials after zeroing the top-attributed fraction of units.</summary>
/// <param name="Fractions">Occluded fractions (0..0.5).</param>
/// <param name="Accuracy">Accuracy at each fraction.</param>
/// <param name="Chance">The majority rate of the correctly classified trials' labels.</param>
/// <param name="ChanceFraction">The smallest fraction at which accuracy &lt;= chance (NaN when it never falls that far: the summary is then "more than the last fraction").</param>
/// <param name="Trials">Correctly classified trials used.</param>
public sealed record OcclusionCurve(double[] Fractions, double[] Accuracy, double Chance, double ChanceFraction, int Trials);

/// <summary>
/// Faithfulness by occlusion (the interpretation benchmark's analysis): keep the test trials the
/// model classifies correctly, rank each trial's units by attribution (descending, signed, as the
/// benchmark does; ties by unit index), set the top fraction of units to 0 and re-classify. A
/// faithful map finds the units the model uses: accuracy falls to chance (the majority rate of the
/// kept labels) at a small fraction. Fraction grid: the benchmark's 0-2% by 0.2, 2-5% by 0.5,
/// 5-10% by 1, 10-30% by 2, 30-50% by 5.
/// </summary>
public static class Faithfulness
{
    public static double[] DefaultFractions { get; } = Grid();

    private static double[] Grid()
    {
        var f = new List<double>();
        void Add(double from, double to, double step)
        {
            for (int i = 0; from + i * step < to - 1e-9; i++) f.Add(Math.Round(from + i * step, 1));
        }
        Add(0, 2, 0.2);
        Add(2, 5, 0.5);
        Add(5, 10, 1);
        Add(10, 30, 2);
        Add(30, 55, 5);
        return f.Select(p => p / 100).ToArray();
    }

    /// <summary>The predicted class of each row.</summary>
    public static int[] Predict(Func<Variable, Variable> model, Tensor<double> x) => NeuralTraining.Argmax(Attribution.Logits(model, x));

    /// <summary>
    /// The occlusion curve of <paramref name="maps"/> (the input's shape) on x [N, ...];
    /// <paramref name="units"/> are the positions within one sample that may be occluded (e.g. the
    /// mask voxels of a volume; null: all).
    /// </summary>
    public static OcclusionCurve Occlusion(Func<Variable, Variable> model, Tensor<double> x, int[] labels, Tensor<double> maps, int[]? units = null, double[]? fractions = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!maps.Shape.SequenceEqual(x.Shape)) throw new ArgumentException($"maps have shape {Shapes.Format(maps.Shape)}; expected the input's {Shapes.Format(x.Shape)}.", nameof(maps));
        if (labels.Length != x.Shape[0]) throw new ArgumentException($"{labels.Length} labels for {x.Shape[0]} inputs.", nameof(labels));
        fractions ??= DefaultFractions;
        int n = x.Shape[0], per = x.Length / n;
        units ??= Enumerable.Range(0, per).ToArray();
        var predicted = Predict(model, x);
        var keep = Enumerable.Range(0, n).Where(i => predicted[i] == labels[i]).ToArray();
        if (keep.Length == 0) return new OcclusionCurve(fractions, fractions.Select(_ => 0.0).ToArray(), 0, 0, 0);
        var kept = labels.Where((_, i) => predicted[i] == labels[i]).ToArray();
        double chance = kept.GroupBy(l => l).Max(g => g.Count()) / (double)keep.Length;
        var order = keep.Select(i => units.OrderByDescending(u => maps.Data[i * per + u]).ThenBy(u => u).ToArray()).ToArray();
        var accuracy = new double[fractions.Length];
        double first = double.NaN;
        int[] shape = x.ShapeArray;
        shape[0] = keep.Length;
        for (int f = 0; f < fractions.Length; f++)
        {
            int count = (int)(fractions[f] * units.Length);
            var occluded = new double[keep.Length * per];
            for (int r = 0; r < keep.Length; r++)
            {
                Array.Copy(x.Data, keep[r] * per, occluded, r * per, per);
                for (int j = 0; j < count; j++) occluded[r * per + order[r][j]] = 0;
            }
            var p = Predict(model, new Tensor<double>(occluded, shape));
            accuracy[f] = p.Where((c, r) => c == kept[r]).Count() / (double)keep.Length;
            if (double.IsNaN(first) && accuracy[f] <= chance) first = fractions[f];
        }
        return new OcclusionCurve(fractions, accuracy, chance, first, keep.Length);
    }
}

/// <summary>
/// Mutual information of two continuous samples by the Kraskov-Stoegbauer-Grassberger estimator
/// (Kraskov et al. 2004, estimator 1, eq. 8), as scikit-learn's mutual_info_regression computes
/// it (the sanity-check statistic of the benchmark): both variables scaled to unit sd (not
/// centred) and jittered by 1e-10 max(1, mean |v|) N(0, 1) to break ties; eps_i the max-norm
/// distance to the k-th neighbour in the joint space; n_x(i), n_y(i) the points strictly closer
/// than eps_i in each marginal (|d| &lt;= nextafter(eps_i, 0)); I = psi(N) + psi(k) - mean psi(n_x + 1) - mean psi(n_y + 1),
/// clipped at 0. Neighbours by a sweep over the x-sorted points (exact).
/// </summary>
public static class MutualInformation
{
    public static double Ksg(ReadOnlySpan<double> x, ReadOnlySpan<double> y, int k = 3, ulong seed = 0)
    {
        if (x.Length != y.Length) throw new ArgumentException($"x has {x.Length} values, y {y.Length}; expected equal lengths.", nameof(y));
        int n = x.Length;
        if (n <= k) throw new ArgumentException($"{n} points; expected more than k = {k}.", nameof(x));
        var rng = new SplitMix64(seed);
        var a = Prepare(x, rng);
        var b = Prepare(y, rng);
        var order = Enumerable.Range(0, n).OrderBy(i => a[i]).ToArray();
        var rank = new int[n];
        for (int r = 0; r < n; r++) rank[order[r]] = r;
        var best = new double[k];
        double sum = 0;
        var sa = order.Select(i => a[i]).ToArray();
        var sb = b.OrderBy(v => v).ToArray();
        for (int i = 0; i < n; i++)
        {
            Array.Fill(best, double.PositiveInfinity);
            int r = rank[i];
            // Sweep outward in x: a candidate farther than the current k-th distance in x cannot enter.
            for (int dir = -1; dir <= 1; dir += 2)
                for (int q = r + dir; q >= 0 && q < n; q += dir)
                {
                    double dx = Math.Abs(sa[q] - a[i]);
                    if (dx >= best[k - 1]) break;
                    double d = Math.Max(dx, Math.Abs(b[order[q]] - b[i]));
                    if (d < best[k - 1])
                    {
                        int p = k - 1;
                        while (p > 0 && best[p - 1] > d) { best[p] = best[p - 1]; p--; }
                        best[p] = d;
                    }
                }
            double radius = best[k - 1];
            int nx = CountWithin(sa, a[i], radius) - 1, ny = CountWithin(sb, b[i], radius) - 1;
            sum += SpecialFunctions.DiGamma(nx + 1) + SpecialFunctions.DiGamma(ny + 1);
        }
        double mi = SpecialFunctions.DiGamma(n) + SpecialFunctions.DiGamma(k) - sum / n;
        return Math.Max(0, mi);
    }

    private static double[] Prepare(ReadOnlySpan<double> v, SplitMix64 rng)
    {
        int n = v.Length;
        double mean = 0, sq = 0;
        for (int i = 0; i < n; i++) mean += v[i];
        mean /= n;
        for (int i = 0; i < n; i++) sq += (v[i] - mean) * (v[i] - mean);
        double sd = Math.Sqrt(sq / n);
        var r = new double[n];
        double absMean = 0;
        for (int i = 0; i < n; i++)
        {
            r[i] = sd > 0 ? v[i] / sd : v[i];
            absMean += Math.Abs(r[i]);
        }
        double jitter = 1e-10 * Math.Max(1, absMean / n);
        for (int i = 0; i < n; i++) r[i] += jitter * rng.Normal();
        return r;
    }

    /// <summary>
    /// Points of the sorted array with |v - centre| &lt;= nextafter(radius, 0), i.e. strictly closer
    /// than radius with the distance computed as |v - centre| exactly as the neighbour search did
    /// (scikit-learn's query_radius at np.nextafter(radius, 0)): the binary searches find the range,
    /// and its ends are corrected with that same predicate so that rounding in centre +- radius
    /// cannot count the k-th neighbour itself.
    /// </summary>
    private static int CountWithin(double[] sorted, double centre, double radius)
    {
        double r = Math.BitDecrement(radius);
        int lo = LowerBound(sorted, centre - r, strict: false), hi = LowerBound(sorted, centre + r, strict: true);
        while (lo > 0 && Math.Abs(sorted[lo - 1] - centre) <= r) lo--;
        while (lo < hi && Math.Abs(sorted[lo] - centre) > r) lo++;
        while (hi < sorted.Length && Math.Abs(sorted[hi] - centre) <= r) hi++;
        while (hi > lo && Math.Abs(sorted[hi - 1] - centre) > r) hi--;
        return hi - lo;
    }

    /// <summary>First index with value &gt; v (strict) or &gt;= v.</summary>
    private static int LowerBound(double[] sorted, double v, bool strict)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (strict ? sorted[mid] <= v : sorted[mid] < v) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }
}

/// <summary>Plausibility of one method: agreement of its class-mean maps with the GLM and the simulator's truth.</summary>
/// <param name="GlmCorrelation">Pearson r of the class-mean map with the GLM contrast z map, averaged over classes.</param>
/// <param name="TruthCorrelation">Pearson r with the truth contrast map (beta_c - mean of the others), averaged over classes.</param>
/// <param name="SuppressorRatio">Mean |map| over suppressor voxels / mean |map| over truth-support voxels (0: suppressors ignored).</param>
/// <param name="SuppressorTopShare">Share of suppressors among the top 10% units by |map|, over the share of suppressors among all units (1: no preference).</param>
public sealed record PlausibilityResult(double GlmCorrelation, double TruthCorrelation, double SuppressorRatio, double SuppressorTopShare);

/// <summary>Plausibility measures over the units of a data set (see <see cref="PlausibilityResult"/>).</summary>
public static class Plausibility
{
    /// <param name="maps">Per-trial maps over the units [N, V].</param>
    /// <param name="labels">Class of each trial [N].</param>
    /// <param name="classes">Number of classes C.</param>
    /// <param name="glm">GLM contrast z maps [C, V].</param>
    /// <param name="truth">Truth contrast maps [C, V].</param>
    /// <param name="suppressor">Suppressor units [V].</param>
    /// <param name="support">Units in some truth map's support [V].</param>
    public static PlausibilityResult Measure(double[] maps, int[] labels, int classes, double[] glm, double[] truth, bool[] suppressor, bool[] support)
    {
        int v = suppressor.Length, n = labels.Length;
        if (maps.Length != n * v) throw new ArgumentException($"maps have {maps.Length} values; expected {n} trials x {v} units.", nameof(maps));
        double rg = 0, rt = 0;
        int used = 0;
        var abs = new double[v];
        for (int c = 0; c < classes; c++)
        {
            var mean = new double[v];
            int count = 0;
            for (int i = 0; i < n; i++)
            {
                if (labels[i] != c) continue;
                count++;
                for (int u = 0; u < v; u++) mean[u] += maps[i * v + u];
            }
            if (count == 0) continue;
            used++;
            rg += Pearson(mean, glm.AsSpan(c * v, v));
            rt += Pearson(mean, truth.AsSpan(c * v, v));
        }
        for (int i = 0; i < n; i++)
            for (int u = 0; u < v; u++) abs[u] += Math.Abs(maps[i * v + u]) / n;
        double sup = MeanWhere(abs, suppressor), sig = MeanWhere(abs, support);
        int top = Math.Max(1, v / 10);
        var ranked = Enumerable.Range(0, v).OrderByDescending(u => abs[u]).ThenBy(u => u).Take(top).ToArray();
        double baseRate = suppressor.Count(s => s) / (double)v;
        double topShare = baseRate > 0 ? ranked.Count(u => suppressor[u]) / (double)top / baseRate : double.NaN;
        return new PlausibilityResult(used > 0 ? rg / used : double.NaN, used > 0 ? rt / used : double.NaN, sig > 0 ? sup / sig : double.NaN, topShare);
    }

    public static double Pearson(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        int n = a.Length;
        double ma = 0, mb = 0;
        for (int i = 0; i < n; i++) { ma += a[i]; mb += b[i]; }
        ma /= n;
        mb /= n;
        double sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < n; i++)
        {
            double da = a[i] - ma, db = b[i] - mb;
            sab += da * db;
            saa += da * da;
            sbb += db * db;
        }
        return saa > 0 && sbb > 0 ? sab / Math.Sqrt(saa * sbb) : 0;
    }

    private static double MeanWhere(double[] values, bool[] where)
    {
        double s = 0;
        int c = 0;
        for (int i = 0; i < values.Length; i++) if (where[i]) { s += values[i]; c++; }
        return c > 0 ? s / c : 0;
    }
}
