using System.Text.Json.Nodes;
using Reference.Experiments;

namespace Reference.SpecTests.Experiments;

/// <summary>
/// Units of an experiment (ExperimentUnits): a run stopped midway and resumed reports what an
/// uninterrupted run reports, whatever the number of workers; finished units are checkpointed and
/// refused when written under other settings.
/// </summary>
public sealed class ExperimentResumeTests
{
    /// <summary>Cancels its token when the <paramref name="after"/>-th unit has been reported done.</summary>
    private sealed class StopAfter(int after, CancellationTokenSource source) : IProgress<string>
    {
        private int done;

        public void Report(string value)
        {
            if (value.StartsWith("unit ", StringComparison.Ordinal) && Interlocked.Increment(ref done) == after) source.Cancel();
        }
    }

    /// <summary>The report's numbers without the wall-clock fields (a re-run trains in another time).</summary>
    private static string Numbers(ExperimentReport report)
    {
        var json = new JsonObject { ["verdict"] = Verdicts.Text(report.Verdict), ["measured"] = report.Measured, ["result"] = report.Result.DeepClone() };
        Strip(json);
        return json.ToJsonString();

        static void Strip(JsonNode? node)
        {
            if (node is JsonObject o)
            {
                o.Remove("seconds");
                foreach (var (_, child) in o) Strip(child);
            }
            else if (node is JsonArray a) foreach (var child in a) Strip(child);
        }
    }

    private static string TempDir(string name) => Path.Combine(Path.GetTempPath(), $"ess-resume-{name}-{Guid.NewGuid():N}");

    [Fact]
    public void Property_RunStoppedMidwayAndResumedEqualsUninterruptedRun()
    {
        var experiment = new RegularizerExperiment();
        string whole = TempDir("whole"), parts = TempDir("parts");
        try
        {
            var uninterrupted = experiment.Run(new ExperimentOptions(Preset.Small, [1UL, 2UL], whole, Threads: 1, BudgetScale: 0.01), CancellationToken.None);
            int units = Directory.GetFiles(Path.Combine(whole, UnitCheckpoint.Folder), "*.json").Length;
            Assert.Equal(2 * RegularizerExperiment.For(Preset.Small).Lambdas.Length, units);

            using var stop = new CancellationTokenSource();
            var first = new ExperimentOptions(Preset.Small, [1UL, 2UL], parts, Threads: 1, BudgetScale: 0.01, Progress: new StopAfter(3, stop));
            Assert.ThrowsAny<OperationCanceledException>(() => experiment.Run(first, stop.Token));
            Assert.Equal(3, Directory.GetFiles(Path.Combine(parts, UnitCheckpoint.Folder), "*.json").Length);

            // Resumed on 2 workers: the 3 finished units are read back, the other 5 computed.
            var lines = new List<string>();
            var resumed = experiment.Run(new ExperimentOptions(Preset.Small, [1UL, 2UL], parts, Threads: 2, BudgetScale: 0.01,
                Progress: new Collect(lines), Resume: true), CancellationToken.None);
            Assert.Contains(lines, l => l.StartsWith("resume: 3 of 8 units", StringComparison.Ordinal));
            Assert.Equal(5, lines.Count(l => l.StartsWith("unit ", StringComparison.Ordinal)));
            Assert.Equal(Numbers(uninterrupted), Numbers(resumed));
        }
        finally
        {
            foreach (var d in new[] { whole, parts }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    private sealed class Collect(List<string> lines) : IProgress<string>
    {
        public void Report(string value)
        {
            lock (lines) lines.Add(value);
        }
    }

    [Fact]
    public void Property_UnitsComeBackInKeyOrderWithNonFiniteValuesIntact_AndAreNotRecomputedOnResume()
    {
        string dir = TempDir("units");
        try
        {
            var checkpoint = new UnitCheckpoint(dir, "settings A", Resume: false);
            string[] keys = [.. Enumerable.Range(0, 9).Select(i => ExperimentUnits.Key("unit", i, "a b"))];
            Assert.Equal("unit-0-a_b", keys[0]);
            static double[] Value(int i) => [i, i / 3.0, i == 4 ? double.NaN : 0.1 * i, i == 5 ? double.NegativeInfinity : -i];
            var first = ExperimentUnits.Run(keys, (i, _) => Value(i), workers: 3, checkpoint, null, CancellationToken.None);
            for (int i = 0; i < keys.Length; i++) Assert.Equal(Value(i), first[i]);
            int computed = 0;
            var again = ExperimentUnits.Run(keys, (i, _) => { Interlocked.Increment(ref computed); return new double[] { -1 }; }, workers: 2,
                checkpoint with { Resume = true }, null, CancellationToken.None);
            Assert.Equal(0, computed);
            for (int i = 0; i < keys.Length; i++) Assert.Equal(Value(i), again[i]);     // bit for bit, NaN and -inf included
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void Property_ResumeRefusesUnitsWrittenUnderOtherSettings()
    {
        string dir = TempDir("settings");
        try
        {
            string[] keys = ["a", "b"];
            ExperimentUnits.Run(keys, (i, _) => (double)i, 1, new UnitCheckpoint(dir, "budget 0.01", false), null, CancellationToken.None);
            var e = Assert.Throws<InvalidDataException>(() =>
                ExperimentUnits.Run(keys, (i, _) => (double)i, 1, new UnitCheckpoint(dir, "budget 0.02", true), null, CancellationToken.None));
            Assert.Contains("other settings", e.Message);
            // Without --resume the old units are overwritten, not read.
            var fresh = ExperimentUnits.Run(keys, (i, _) => 10.0 + i, 1, new UnitCheckpoint(dir, "budget 0.02", false), null, CancellationToken.None);
            Assert.Equal([10.0, 11.0], fresh);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void Property_BadKeysAndAFailingUnitAreOneClearError()
    {
        Assert.Throws<ArgumentException>(() => ExperimentUnits.Run(["a", "a"], (i, _) => i, 1, null, null, CancellationToken.None));
        Assert.Throws<ArgumentException>(() => ExperimentUnits.Run(["a/b"], (i, _) => i, 1, null, null, CancellationToken.None));
        var e = Assert.Throws<InvalidOperationException>(() =>
            ExperimentUnits.Run(["a", "b", "c"], (i, _) => i == 1 ? throw new InvalidOperationException("unit b broke") : i, 1, null, null, CancellationToken.None));
        Assert.Equal("unit b broke", e.Message);
    }
}
