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

    /// <summary>The verdict on a claim "statistic > 0": reproduced only with every one of at least two seeds agreeing.</summary>
    public static Verdict ToVerdict(SeedSign sign, int seeds) => seeds < 2 ? Verdict.Inconclusive : sign switch
    {
        SeedSign.Positive => Verdict.Reproduced,
        SeedSign.Negative => Verdict.NotReproduced,
        _ => Verdict.Inconclusive,
    };
}

/// <summary>JSON helpers of the outcomes (NaN and infinities as null, numbers rounded for reading).</summary>
internal static class OutcomeJson
{
    public static System.Text.Json.Nodes.JsonNode? Number(double x, int digits = 6) =>
        double.IsFinite(x) ? System.Text.Json.Nodes.JsonValue.Create(Math.Round(x, digits)) : null;

    public static System.Text.Json.Nodes.JsonArray Numbers(IEnumerable<double> xs, int digits = 6) => [.. xs.Select(x => Number(x, digits))];
}
