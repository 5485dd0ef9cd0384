// Output of an experiment, in its output directory, every file written atomically:
//   result.json  name, claim, verdict, measured, the options (preset, seeds, threads, budget scale),
//                the experiment's own numbers ("result") and the figure file names;
//   verdict.txt  the claim, what was measured and the verdict, as plain text;
//   *.png        the figures.
using System.Text.Json;
using System.Text.Json.Nodes;
using Reference.Core.IO;

namespace Reference.Experiments;

public static class ExperimentWriter
{
    public const string ResultFile = "result.json";
    public const string VerdictFile = "verdict.txt";
    public const string Format = "reference.experiment/1";

    /// <summary>Writes the report into <see cref="ExperimentOptions.OutputDirectory"/> (created when missing).</summary>
    public static void Write(ExperimentReport report, ExperimentOptions options)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(options);
        Directory.CreateDirectory(options.OutputDirectory);
        foreach (var figure in report.Figures)
        {
            if (figure.FileName.Contains('/') || figure.FileName.Contains('\\') || !figure.FileName.EndsWith(".png", StringComparison.Ordinal))
                throw new ArgumentException($"figure file name '{figure.FileName}' must be a plain name ending in .png.", nameof(report));
            AtomicFile.WriteVia(Path.Combine(options.OutputDirectory, figure.FileName), figure.Render);
        }
        AtomicFile.WriteAllText(Path.Combine(options.OutputDirectory, ResultFile), ToJson(report, options).ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        AtomicFile.WriteAllText(Path.Combine(options.OutputDirectory, VerdictFile), VerdictText(report, options));
    }

    /// <summary>The content of result.json.</summary>
    public static JsonObject ToJson(ExperimentReport report, ExperimentOptions options)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(options);
        return new JsonObject
        {
            ["format"] = Format,
            ["name"] = report.Name,
            ["claim"] = report.Claim,
            ["verdict"] = Verdicts.Text(report.Verdict),
            ["measured"] = report.Measured,
            ["options"] = options.ToJson(),
            ["result"] = report.Result.DeepClone(),
            ["figures"] = new JsonArray([.. report.Figures.Select(f => (JsonNode)JsonValue.Create(f.FileName))]),
        };
    }

    /// <summary>The content of verdict.txt.</summary>
    public static string VerdictText(ExperimentReport report, ExperimentOptions options)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(options);
        return $"experiment: {report.Name} (preset {options.Preset.ToString().ToLowerInvariant()}, seeds {string.Join(" ", options.Seeds)}"
            + (options.BudgetScale != 1.0 ? $", budget scale {options.BudgetScale.ToString(System.Globalization.CultureInfo.InvariantCulture)}" : "") + ")\n"
            + $"claim: {report.Claim}\n"
            + $"measured: {report.Measured}\n"
            + $"verdict: {Verdicts.Text(report.Verdict)}\n";
    }
}
