using System.Text.Json.Nodes;
using Reference.Experiments;

namespace Reference.SpecTests.Experiments;

/// <summary>The distillation, delimiters and hybrid experiments through the catalog and the writer, at a tiny budget.</summary>
public sealed class EssUsesExperimentOutputTests
{
    public static TheoryData<string, string[]> Experiments() => new()
    {
        { "distillation", ["distillation.png"] },
        { "delimiters", ["delimiters_profile.png", "delimiters_modulation.png"] },
        { "hybrid", ["hybrid_layers.png", "hybrid_positions.png", "hybrid_ablation.png"] },
    };

    [Theory]
    [MemberData(nameof(Experiments))]
    public void Property_TinyBudgetRunWritesResultVerdictAndFiguresWithEssWithinTss(string name, string[] figures)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"ess-experiment-{name}-{Guid.NewGuid():N}");
        try
        {
            var options = new ExperimentOptions(Preset.Small, [1UL, 2UL], dir, Threads: 2, BudgetScale: 0.01);
            var experiment = ExperimentCatalog.Find(name);
            var report = experiment.Run(options, TestContext.Current.CancellationToken);
            ExperimentWriter.Write(report, options);
            Assert.Equal(name, report.Name);
            Assert.True(report.Result["max_ess_minus_tss"]!.GetValue<double>() <= 1e-9, $"{name}: ESS exceeds TSS by {report.Result["max_ess_minus_tss"]}");
            Assert.True(report.Result["min_ess"]!.GetValue<double>() >= 0);
            Assert.False(string.IsNullOrWhiteSpace(report.Measured));
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, ExperimentWriter.ResultFile)))!;
            Assert.Equal(name, json["name"]!.GetValue<string>());
            Assert.Contains(json["verdict"]!.GetValue<string>(), new[] { "reproduced", "not reproduced", "inconclusive" });
            Assert.Contains("verdict:", File.ReadAllText(Path.Combine(dir, ExperimentWriter.VerdictFile)));
            foreach (var figure in figures)
            {
                var bytes = File.ReadAllBytes(Path.Combine(dir, figure));
                Assert.True(bytes.Length > 1000 && bytes[1] == 'P' && bytes[2] == 'N' && bytes[3] == 'G', $"{figure} is not a PNG");
            }
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Property_OneSeedIsNeverAVerdict()
    {
        Assert.Equal(Verdict.Inconclusive, SeedAgreement.ToVerdict(SeedSign.Positive, 1));
        Assert.Equal(Verdict.Reproduced, SeedAgreement.ToVerdict(SeedSign.Positive, 2));
        Assert.Equal(Verdict.NotReproduced, SeedAgreement.ToVerdict(SeedSign.Negative, 3));
        Assert.Equal(Verdict.Inconclusive, SeedAgreement.ToVerdict(SeedSign.Overlap, 3));
    }
}
