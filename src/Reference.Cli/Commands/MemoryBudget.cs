using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Reference.Cli.Commands;

/// <summary>
/// The memory a verb may ask for (`--max-memory SIZE`, e.g. 8G, 512M, 2e9; decimal units): verbs
/// whose work grows with their arguments estimate their peak memory up front and refuse a request
/// over the budget with one line saying what it needs, instead of running out of memory (or for
/// hours) later. The default is 8 GB or three quarters of the memory this process may use,
/// whichever is smaller.
/// </summary>
public static partial class MemoryBudget
{
    [GeneratedRegex(@"^\s*(?<n>[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(?<unit>[kKmMgGtT]?)[bB]?\s*$")]
    private static partial Regex Size();

    public static double Default { get; } = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes is > 0 and var total ? Math.Min(8e9, 0.75 * total) : 8e9;

    public static Option<string?> Option() => new("--max-memory")
    {
        Description = $"Refuse work whose estimated memory exceeds SIZE (e.g. 8G, 512M; default {Format(Default)} on this machine).",
        HelpName = "SIZE",
    };

    /// <summary>The budget in bytes from the option's text (null: the default).</summary>
    public static double Parse(string? text)
    {
        if (text is null) return Default;
        var match = Size().Match(text);
        if (!match.Success || !double.TryParse(match.Groups["n"].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double n))
            throw new CliException($"--max-memory: '{text}' is not a size (expected e.g. 8G, 512M, 2e9).");
        double bytes = n * char.ToUpperInvariant(match.Groups["unit"].Value.FirstOrDefault('B')) switch
        {
            'K' => 1e3,
            'M' => 1e6,
            'G' => 1e9,
            'T' => 1e12,
            _ => 1,
        };
        if (!double.IsFinite(bytes) || bytes <= 0) throw new CliException($"--max-memory: '{text}' must be a positive size.");
        return bytes;
    }

    /// <summary>Throws the one-line refusal when <paramref name="needed"/> bytes exceed <paramref name="limit"/>.</summary>
    public static void Check(double needed, double limit, string what)
    {
        if (needed > limit)
            throw new CliException($"{what} needs about {Format(needed)} of memory; the limit is {Format(limit)} (--max-memory).");
    }

    /// <summary>Bytes in decimal units: "80 GB", "1.5 MB", "100 kB".</summary>
    public static string Format(double bytes) => bytes switch
    {
        >= 1e18 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e18:0.#} EB"),
        >= 1e15 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e15:0.#} PB"),
        >= 1e12 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e12:0.#} TB"),
        >= 1e9 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e9:0.#} GB"),
        >= 1e6 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:0.#} MB"),
        >= 1e3 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e3:0.#} kB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes:0} B"),
    };
}
