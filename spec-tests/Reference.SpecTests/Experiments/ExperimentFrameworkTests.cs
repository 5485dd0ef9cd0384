using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Core;
using Reference.Ess;
using Reference.Experiments;
using Reference.Models;
using Reference.Operators;
using Reference.SpecTests.Cli;

namespace Reference.SpecTests.Experiments;

/// <summary>The experiment framework: spreads, verdicts, correlations and the writer against values computed by hand.</summary>
public sealed class ExperimentFrameworkTests
{
    [Fact]
    public void SeedSpread_MatchesHandComputedMeanSampleStdAndRange()
    {
        var s = SeedSpread.Of([1.0, 2.0, 4.0]);
        Assert.Equal(7.0 / 3, s.Mean, 12);
        // sample variance: ((1 - 7/3)^2 + (2 - 7/3)^2 + (4 - 7/3)^2) / 2 = (16/9 + 1/9 + 25/9) / 2 = 7/3
        Assert.Equal(Math.Sqrt(7.0 / 3), s.Std, 12);
        Assert.Equal((1.0, 4.0, 3), (s.Min, s.Max, s.Count));
        Assert.Equal(0.0, SeedSpread.Of([5.0]).Std);
        Assert.Throws<ArgumentException>(() => SeedSpread.Of([]));
    }

    [Fact]
    public void Verdicts_DecideOnlyWhenTheRangesOverSeedsSeparate()
    {
        var low = SeedSpread.Of([0.1, 0.2, 0.3]);
        var high = SeedSpread.Of([0.4, 0.5, 0.6]);
        var overlapping = SeedSpread.Of([0.25, 0.5]);
        Assert.Equal(Verdict.Reproduced, Verdicts.Greater(high, low));
        Assert.Equal(Verdict.NotReproduced, Verdicts.Greater(low, high));
        Assert.Equal(Verdict.Inconclusive, Verdicts.Greater(overlapping, low));
        Assert.Equal(Verdict.Inconclusive, Verdicts.Greater(SeedSpread.Of([9.0]), SeedSpread.Of([1.0])));   // one seed: no spread
        Assert.Equal(Verdict.NotReproduced, Verdicts.All([Verdict.Reproduced, Verdict.NotReproduced, Verdict.Inconclusive]));
        Assert.Equal(Verdict.Inconclusive, Verdicts.All([Verdict.Reproduced, Verdict.Inconclusive]));
        Assert.Equal(Verdict.Reproduced, Verdicts.All([Verdict.Reproduced, Verdict.Reproduced]));
    }

    [Fact]
    public void Correlation_PearsonAgreesWithMathNet_SpearmanIsRankInvariant()
    {
        var rng = new SplitMix64(3);
        double[] x = [.. Enumerable.Range(0, 20).Select(_ => rng.Normal())];
        double[] y = [.. x.Select(v => 0.5 * v + rng.Normal())];
        Assert.Equal(MathNet.Numerics.Statistics.Correlation.Pearson(x, y), Correlation.Pearson(x, y), 12);
        Assert.Equal(MathNet.Numerics.Statistics.Correlation.Spearman(x, y), Correlation.Spearman(x, y), 12);
        Assert.Equal(1.0, Correlation.Spearman(x, [.. x.Select(Math.Exp)]), 12);    // monotone map: rank correlation 1
        Assert.True(double.IsNaN(Correlation.Pearson([1.0, 1, 1], [1.0, 2, 3])));   // constant side
    }

    [Fact]
    public void Writer_WritesResultVerdictAndFigures_WithTheOptions()
    {
        string dir = Path.Combine(Path.GetTempPath(), "ess-writer-" + Guid.NewGuid().ToString("N"));
        try
        {
            var options = new ExperimentOptions(Preset.Small, [7UL, 8UL], dir, 1, 0.5);
            var figure = ExperimentPlots.Figure("f.png", "t", "x", "y", [new PlotSeries("a", [1.0, 2], [3.0, 4], [0.1, 0.2])]);
            var report = new ExperimentReport("demo", "a claim", Verdict.Inconclusive, "numbers", new JsonObject { ["k"] = 1 }, [figure]);
            ExperimentWriter.Write(report, options);
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, ExperimentWriter.ResultFile)))!.AsObject();
            Assert.Equal("demo", (string?)json["name"]);
            Assert.Equal("inconclusive", (string?)json["verdict"]);
            Assert.Equal(1, (int)json["result"]!["k"]!);
            Assert.Equal([7UL, 8UL], json["options"]!["seeds"]!.AsArray().Select(n => (ulong)n!));
            Assert.Equal(0.5, (double)json["options"]!["budget_scale"]!);
            Assert.Contains("verdict: inconclusive", File.ReadAllText(Path.Combine(dir, ExperimentWriter.VerdictFile)));
            ExperimentAssert.IsPng(Path.Combine(dir, "f.png"));
            Assert.Empty(Directory.GetFiles(dir, "*.tmp*", SearchOption.AllDirectories));
            Assert.Throws<ArgumentException>(() => ExperimentWriter.Write(report with { Figures = [new ExperimentFigure("../x.png", _ => { })] }, options));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void Options_RejectNoSeedsRepeatedSeedsAndScalesOutsideTheUnitInterval()
    {
        Assert.Throws<ArgumentException>(() => new ExperimentOptions(Preset.Small, [], "d", 1).Validate());
        Assert.Throws<ArgumentException>(() => new ExperimentOptions(Preset.Small, [1UL, 1UL], "d", 1).Validate());
        Assert.Throws<ArgumentException>(() => new ExperimentOptions(Preset.Small, [1UL], "d", 1, 0).Validate());
        Assert.Throws<ArgumentException>(() => new ExperimentOptions(Preset.Small, [1UL], "d", 1, 1.5).Validate());
        Assert.Equal(3, new ExperimentOptions(Preset.Small, [1UL], "d", 1, 0.01).Scaled(100, 3));
    }

    [Fact]
    public void PlantedRank_GivesMinOfRankAndDistancesThroughTheProbe_AndNotOneMore()
    {
        // Minimal realization (docs/ess.md, invariant 5 and its generic equality): a one-head mixer of key dimension r
        // realizes T with an r-dimensional state, and generic projections reach rank r.
        const int length = 24;
        var rng = new SplitMix64(11);
        int[] tokens = [.. Enumerable.Range(0, 2 * length).Select(_ => rng.NextInt(64))];
        foreach (int r in new[] { 1, 3, 5 })
        {
            var model = BackboneModel.Create(PlantedRankControl.Model("recurrence.gla", r), 64, length, 5);
            var m = EssProbe.Measure(model, tokens, 2, length, EssOptions.Default, 1);
            for (int k = 0; k < m.Raw.Splits.Length; k++)
            {
                int s = m.Raw.Splits[k];
                Assert.Equal(Math.Min(r, Math.Min(s, length - s)), m.PerSplit[k]);
            }
            Assert.Equal(r, m.PerSplit.Max());
            Assert.Equal(r, m.Raw.TotalStateSize[0][0]);   // TSS per head = K = r
        }
    }

    [Fact]
    public void TransitionPenalty_EqualsTheMeanOfSumOverLanesOfExpGMinusOneSquared_FromTheOperatorView()
    {
        // Independent path: the block's operator view (SequenceMixer.OperatorView, used by ModelEss) gives the gates g fed to GLA.
        const int length = 12, batch = 2;
        var model = BackboneModel.Create(RegularizerExperiment.Model(4, 16), 32, length, 9);
        var penalty = RegularizerExperiment.TransitionPenalty(model);
        var rng = new SplitMix64(2);
        int[] tokens = [.. Enumerable.Range(0, batch * length).Select(_ => rng.NextInt(32))];
        double value;
        using (Tape.NoGrad())
        {
            _ = model.Logits(tokens, batch, length);
            value = penalty()!.Item();
        }
        Assert.Null(penalty());   // cleared after reading
        double expected = 0;
        using (Tape.NoGrad())
        {
            var x = Ops.Embedding(model.Embedding, tokens, batch, length);
            foreach (var block in model.Blocks)
            {
                var (_, inputs) = block.Mixer!.OperatorView(block.MixerNorm!.Forward(x));
                var g = inputs.Double("g");                                    // [B, H, L, K]
                int lanes = g.Dim(3), steps = g.Data.Length / lanes;
                double sum = 0;
                foreach (double v in g.Data) sum += (Math.Exp(v) - 1) * (Math.Exp(v) - 1);
                expected += sum / steps;
                x = block.Forward(x);
            }
        }
        Assert.True(expected > 0);
        Assert.Equal(expected, value, 1e-12);
    }

    [Fact]
    public void Cli_ListsTheExperiments_AndRejectsBadInputWithOneLineAndExit2()
    {
        var (code, output, _) = CliRunner.Run("experiment", "--list");
        Assert.Equal(0, code);
        foreach (var name in ExperimentCatalog.Names) Assert.Contains(name, output);
        foreach (var args in new[]
        {
            new[] { "experiment", "nosuch" },
            ["experiment"],
            ["experiment", "control", "--preset", "huge"],
            ["experiment", "control", "--seeds", "0"],
            ["experiment", "control", "--budget-scale", "2"],
            ["experiment", "control", "--out", "/nonexistent-dir/x/y"],
        })
        {
            var (c, _, err) = CliRunner.Run(args);
            Assert.Equal(2, c);
            Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
    }
}

internal static class ExperimentAssert
{
    public static void IsPng(string path)
    {
        Assert.True(File.Exists(path), $"{path} was not written");
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 100);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
    }

    /// <summary>Runs <paramref name="experiment"/>'s small preset at <paramref name="scale"/> on 2 seeds, writes it and checks the common outputs.</summary>
    public static (ExperimentReport Report, JsonObject Json) RunSmall(IEssExperiment experiment, double scale)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"ess-{experiment.Name}-" + Guid.NewGuid().ToString("N"));
        try
        {
            var options = new ExperimentOptions(Preset.Small, [0UL, 1UL], dir, 1, scale);
            var report = experiment.Run(options, CancellationToken.None);
            ExperimentWriter.Write(report, options);
            Assert.Equal(experiment.Name, report.Name);
            Assert.NotEmpty(report.Figures);
            foreach (var f in report.Figures) IsPng(Path.Combine(dir, f.FileName));
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, ExperimentWriter.ResultFile)))!.AsObject();
            foreach (var field in new[] { "format", "name", "claim", "verdict", "measured", "options", "result", "figures" }) Assert.True(json.ContainsKey(field), field);
            Assert.Contains((string?)json["verdict"], new[] { "reproduced", "not reproduced", "inconclusive" });
            Assert.StartsWith("experiment: " + experiment.Name, File.ReadAllText(Path.Combine(dir, ExperimentWriter.VerdictFile)));
            return (report, json);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
