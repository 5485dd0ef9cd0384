using System.Globalization;
using Reference.Core.Conformance;
using Reference.Golden;
using Reference.Golden.Backends;
using Reference.Operators;

namespace Reference.Cli.Commands;

public static partial class DemoSections
{
    /// <summary>
    /// Every registered operator on its demo case (the descriptor's, drawn with the demo's seed):
    /// the fast tier at float64 and float32 and each of the paper's forms (recurrent, chunked,
    /// materialized, ...) against the naive definition under the case's tolerance, the diagonal
    /// realization against the materialized matrix, and the tape adapter's gradient against central
    /// finite differences on the operator's smallest case. One line per operator.
    /// </summary>
    public static DemoResult Operators(ulong seed)
    {
        var lines = new List<string>();
        bool ok = true;
        foreach (var d in OperatorRegistry.All)
        {
            var spec = d.DemoCaseSpec;
            var demoCase = spec with { Seed = spec.Seed ^ seed };
            var checks = OperatorConformance.Check(d, demoCase);
            var parts = checks.Select(c => $"{c.Form} {Metric(c)}{(c.Passed ? "" : " FAIL")}").ToList();
            bool passed = checks.All(c => c.Passed);
            if (d.Autodiff is not null)
            {
                var grad = OperatorConformance.GradientCheck(d, OperatorConformance.SmallestCase(d));
                parts.Add(FormattableString.Invariant($"grad {grad.AbsError:E0}{(grad.Passed ? "" : " FAIL")}"));
                passed &= grad.Passed;
            }
            ok &= passed;
            lines.Add($"{(passed ? "ok  " : "FAIL")} {d.Name,-26} {spec.Id}: {string.Join(", ", parts)}");
        }
        return new DemoResult($"{OperatorRegistry.All.Count} registered operators: every representation against the naive float64 definition", ok, lines);
    }

    /// <summary>
    /// The golden runner on a sample: the first committed case of every op, run by the fast tier
    /// (float32) and compared with the committed outputs under their tolerances.
    /// </summary>
    public static DemoResult GoldenSample(ulong seed)
    {
        _ = seed;
        string? root = GoldenStore.FindDefaultRoot(Environment.CurrentDirectory) ?? GoldenStore.FindDefaultRoot(AppContext.BaseDirectory);
        if (root is null || !Directory.Exists(root))
            return new DemoResult("Golden runner on a sample", true, ["golden/ not found above the working directory: skipped (run from the repository)"]);
        var store = GoldenStore.Open(root);
        var firstPerOp = store.ReadIndex().GroupBy(e => e.Op).Select(g => g.First().Id).ToHashSet();
        var results = new List<CaseResult>();
        foreach (var id in firstPerOp.Order(StringComparer.Ordinal))
            results.AddRange(GoldenRunner.Run(store, TierBackend.Fast32, new RunOptions(Pattern: id)));
        int passed = results.Count(r => r.Passed), failed = results.Count(r => r.Failed), skipped = results.Count(r => r.Skipped);
        var lines = results.Where(r => r.Failed).Select(r => r.Line).ToList();
        lines.Add($"{passed} passed, {failed} failed, {skipped} skipped (the fast tier has no float32 path for the skipped ops)");
        return new DemoResult($"Golden runner, backend fast32, one committed case per op ({firstPerOp.Count} ops) from {root}", failed == 0, lines);
    }

    private static string Metric(FormCheck c)
    {
        var worst = c.Comparisons.MaxBy(x => x.Value)!;
        string unit = worst.Metric == "norm_rel" ? "" : $" {worst.Metric}";
        return string.Create(CultureInfo.InvariantCulture, $"{worst.Value:E0}{unit}");
    }
}
