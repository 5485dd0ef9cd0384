using Reference.Core.Conformance;
using Reference.Golden;

namespace Reference.SpecTests.Golden;

/// <summary>
/// Every tolerance of the committed golden set rejects a deliberately wrong output: the golden
/// output zeroed, shuffled, or scaled by 1 + 1e-3, at both precisions' bounds (conventions,
/// "Every comparison has a negative control"). A control that leaves an output bit-identical
/// (zeroing an all-zero output, shuffling one element) is not a control and is skipped; every
/// case must still keep at least one.
/// </summary>
public class NegativeControlTests
{
    [Fact]
    public void Negative_EveryCommittedToleranceRejectsZeroedShuffledAndScaledOutputs()
    {
        var store = GoldenStore.Open(GoldenFixture.Committed);
        var failures = new List<string>();
        int controls = 0;
        foreach (var entry in store.ReadIndex())
        {
            var m = store.LoadManifest(entry.Id);
            int caseControls = 0;
            foreach (var o in m.Outputs)
            {
                var expected = store.LoadArray(m, o);
                foreach (var precision in new[] { Precision.Float64, Precision.Float32 })
                    foreach (var (name, wrong) in Controls.Perturbations(expected, 7))
                    {
                        caseControls++;
                        var r = Comparator.Compare(o.Name, expected, wrong, o.Tolerance!, precision);
                        if (r.Passed) failures.Add($"{entry.Id} {o.Name} {precision} {name}: {r}");
                    }
            }
            if (caseControls == 0 && !IsDegenerate(m)) failures.Add($"{entry.Id}: no meaningful negative control");
            controls += caseControls;
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(controls > 300, $"only {controls} controls ran");
    }

    /// <summary>All-zero outputs of one element or fewer distinct values admit no control (e.g. GEMM with k = 0).</summary>
    private static bool IsDegenerate(GoldenManifest m) => m.Tags.Contains("edge");
}
