using System.Text.Json.Nodes;
using Reference.Experiments;

namespace Reference.SpecTests.Experiments;

/// <summary>Each experiment's small preset at a tiny budget: outputs written, JSON fields present, ESS within [0, TSS].</summary>
public sealed class ExperimentSmokeTests
{
    private static IEnumerable<JsonObject> Runs(JsonObject json) => json["result"]!["runs"]!.AsArray().Select(n => n!.AsObject());

    [Fact]
    public void Control_ReturnsThePlantedRankExactly()
    {
        var (report, json) = ExperimentAssert.RunSmall(new PlantedRankControl(), 1.0);
        Assert.Equal(Verdict.Reproduced, report.Verdict);
        Assert.All(Runs(json), r => Assert.Equal(0.0, (double)r["max_abs_error"]!));
        Assert.All(Runs(json), r => Assert.Equal((double)(int)r["rank"]!, (double)r["max_ess"]!));
    }

    [Fact]
    public void Saturation_EveryRunHasEssWithinZeroAndTss_AndBothCorrelationsPerTask()
    {
        var (_, json) = ExperimentAssert.RunSmall(new SaturationExperiment(), 0.01);
        var runs = Runs(json).ToArray();
        var g = SaturationExperiment.For(Preset.Small);
        Assert.Equal(2 * g.Operators.Length * g.StateSizes.Length * (g.MqarPairs.Length + g.CopyCounts.Length), runs.Length);
        foreach (var r in runs)
        {
            double ess = (double)r["ess"]!, tss = (double)r["tss"]!, acc = (double)r["accuracy"]!;
            Assert.InRange(ess, 0, tss);
            Assert.InRange(acc, 0, 1);
        }
        foreach (var task in new[] { "mqar", "selective-copying" })
        {
            var t = json["result"]!["tasks"]![task]!.AsObject();
            Assert.True(t.ContainsKey("pearson_ess_per_load_accuracy") && t.ContainsKey("pearson_tss_per_load_accuracy") && t.ContainsKey("verdict"));
        }
    }

    [Fact]
    public void Initialization_EssPerChannelWithinZeroAndStateSize_AtInitAndAfterTraining()
    {
        var (_, json) = ExperimentAssert.RunSmall(new InitializationExperiment(), 0.01);
        var runs = Runs(json).ToArray();
        Assert.Equal(2 * 2 * InitializationExperiment.For(Preset.Small).StateSizes.Length, runs.Length);
        foreach (var r in runs)
        {
            int n = (int)r["state_size"]!;
            Assert.InRange((double)r["ess_per_channel_init"]!, 1e-9, n);       // invariant 5: ESS <= N per channel; a fresh model uses some state
            Assert.InRange((double)r["ess_per_channel_trained"]!, 0, n);
            Assert.InRange((double)r["ess_trained"]!, 0, (double)r["tss"]!);
        }
        Assert.True(json["result"]!.AsObject().ContainsKey("growth_init") && json["result"]!.AsObject().ContainsKey("growth_trained"));
    }

    [Fact]
    public void Regularizer_PenaltyLowersTheTransitionDeviation_AndEssStaysWithinTss()
    {
        var (_, json) = ExperimentAssert.RunSmall(new RegularizerExperiment(), 0.04);
        var runs = Runs(json).ToArray();
        Assert.Equal(2 * RegularizerExperiment.For(Preset.Small).Lambdas.Length, runs.Length);
        foreach (var r in runs) Assert.InRange((double)r["ess"]!, 0, (double)r["tss"]!);
        // The penalty acts: at each seed the largest lambda ends with a smaller ||A_t - I||^2 than lambda = 0.
        foreach (var seed in runs.GroupBy(r => (ulong)r["seed"]!))
        {
            var byLambda = seed.OrderBy(r => (double)r["lambda"]!).ToArray();
            Assert.True((double)byLambda[^1]["transition_deviation"]! < (double)byLambda[0]["transition_deviation"]!);
        }
    }
}
