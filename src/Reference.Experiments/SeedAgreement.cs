// The honest reading of a per-seed statistic: an effect counts as shown only when every seed agrees
// on its sign (the spread over seeds does not reach 0), as refuted only when every seed shows the
// opposite sign, and as open otherwise. With a handful of seeds this is a deliberately strict rule:
// it never calls a claim reproduced on the mean alone.
namespace Reference.Experiments;

/// <summary>How the seeds agree on the sign of a statistic.</summary>
internal enum SeedSign
{
    /// <summary>Every seed &gt; 0.</summary>
    Positive,

    /// <summary>Every seed &lt; 0.</summary>
    Negative,

    /// <summary>The seeds straddle 0 (or some are 0 or NaN).</summary>
    Overlap,
}

internal static class SeedAgreement
{
    public static SeedSign Sign(IEnumerable<double> perSeed)
    {
        ArgumentNullException.ThrowIfNull(perSeed);
        var v = perSeed.ToArray();
        if (v.Length == 0 || v.Any(double.IsNaN)) return SeedSign.Overlap;
        if (v.All(x => x > 0)) return SeedSign.Positive;
        if (v.All(x => x < 0)) return SeedSign.Negative;
        return SeedSign.Overlap;
    }

    /// <summary>Pearson correlation of x and y (NaN when either is constant or shorter than 2).</summary>
    public static double Pearson(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count != y.Count) throw new ArgumentException($"x has {x.Count} values, y {y.Count}; they must pair up.", nameof(y));
        int n = x.Count;
        if (n < 2) return double.NaN;
        double mx = x.Average(), my = y.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < n; i++)
        {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
        }
        return sxx > 0 && syy > 0 ? sxy / Math.Sqrt(sxx * syy) : double.NaN;
    }

    /// <summary>Spearman rank correlation (Pearson of the ranks, ties get their mean rank).</summary>
    public static double Spearman(IReadOnlyList<double> x, IReadOnlyList<double> y) => Pearson(Ranks(x), Ranks(y));

    /// <summary>1-based ranks, ties averaged.</summary>
    public static double[] Ranks(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var order = Enumerable.Range(0, values.Count).OrderBy(i => values[i]).ToArray();
        var ranks = new double[values.Count];
        for (int i = 0; i < order.Length;)
        {
            int j = i;
            while (j + 1 < order.Length && values[order[j + 1]] == values[order[i]]) j++;
            double rank = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++) ranks[order[k]] = rank;
            i = j + 1;
        }
        return ranks;
    }
}

/// <summary>JSON helpers of the outcomes (NaN and infinities as null, numbers rounded for reading).</summary>
internal static class OutcomeJson
{
    public static System.Text.Json.Nodes.JsonNode? Number(double x, int digits = 6) =>
        double.IsFinite(x) ? System.Text.Json.Nodes.JsonValue.Create(Math.Round(x, digits)) : null;

    public static System.Text.Json.Nodes.JsonArray Numbers(IEnumerable<double> xs, int digits = 6) => [.. xs.Select(x => Number(x, digits))];

    /// <summary>mean ± std (min .. max) over seeds, invariant culture.</summary>
    public static string Spread(IReadOnlyList<double> xs, string format = "F3")
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        var finite = xs.Where(double.IsFinite).ToArray();
        if (finite.Length == 0) return "undefined";
        double mean = finite.Average();
        double std = finite.Length > 1 ? Math.Sqrt(finite.Sum(x => (x - mean) * (x - mean)) / (finite.Length - 1)) : 0;
        return $"{mean.ToString(format, c)} ± {std.ToString(format, c)} ({finite.Min().ToString(format, c)} .. {finite.Max().ToString(format, c)}, {finite.Length} seeds)";
    }
}
