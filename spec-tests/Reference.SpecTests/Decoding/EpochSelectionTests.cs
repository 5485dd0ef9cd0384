using System.Text.Json.Nodes;
using Reference.Decoding;
using Reference.Models;
using Reference.Neuro.Simulation;

namespace Reference.SpecTests.Decoding;

/// <summary>
/// The epoch that early stopping keeps (EpochSelection, used by every tape-based decoder's trainer):
/// hand-made validation curves with the chosen epoch worked out by hand (index i = after i + 1 epochs),
/// the documented failure of the loss rule, and the configuration fields `selection` and `min_epochs`.
/// </summary>
public class EpochSelectionTests
{
    [Fact]
    public void LossRule_KeepsLowestLoss_StopsAfterPatience()
    {
        // Lowest loss 0.7 at index 3; indices 4 and 5 are not better, so patience 2 stops after 6 epochs.
        double[] loss = [1.0, 0.8, 0.9, 0.7, 0.75, 0.8, 0.6];
        var (chosen, run) = EpochSelection.Choose(loss, new double[loss.Length], "loss", 0, 2);
        Assert.Equal((3, 6), (chosen, run));
    }

    [Fact]
    public void LossRule_TieGoesToTheEarlierEpoch()
    {
        var (chosen, _) = EpochSelection.Choose([0.9, 0.7, 0.7, 0.8], [0, 0, 0, 0], "loss", 0, 10);
        Assert.Equal(1, chosen);
    }

    [Fact]
    public void AccuracyRule_HighestAccuracy_TiesToLowerLoss_ThenEarlierEpoch()
    {
        // Accuracy 0.6 at indices 1-3; index 2 has the lower loss (0.8 < 0.9), index 3 ties index 2 in
        // both and comes later; index 4 has the lowest loss but a lower accuracy.
        double[] accuracy = [0.4, 0.6, 0.6, 0.6, 0.5];
        double[] loss = [1.0, 0.9, 0.8, 0.8, 0.5];
        Assert.Equal((2, 5), EpochSelection.Choose(loss, accuracy, "accuracy", 0, 10));
    }

    [Fact]
    public void MinEpochs_NoCandidateBefore_PatienceCountedFromIt()
    {
        // Loss rising from the first epoch: the loss rule keeps index 0 and patience 2 stops after 3 epochs;
        // with min_epochs 4 the first candidate is index 3 (after 4 epochs) and patience stops after 6.
        double[] loss = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2];
        double[] accuracy = new double[loss.Length];
        Assert.Equal((0, 3), EpochSelection.Choose(loss, accuracy, "loss", 0, 2));
        Assert.Equal((3, 6), EpochSelection.Choose(loss, accuracy, "loss", 4, 2));
        // Accuracy 0.9 after the first epoch is not a candidate with min_epochs 2.
        Assert.Equal(0, EpochSelection.Choose([1, 1, 1, 1], [0.9, 0.5, 0.6, 0.55], "accuracy", 0, 10).Chosen);
        Assert.Equal(2, EpochSelection.Choose([1, 1, 1, 1], [0.9, 0.5, 0.6, 0.55], "accuracy", 2, 10).Chosen);
        // min_epochs beyond the run keeps the last epoch.
        Assert.Equal((3, 4), EpochSelection.Choose([0.5, 0.6, 0.7, 0.8], [0.9, 0.5, 0.6, 0.55], "accuracy", 10, 2));
    }

    /// <summary>
    /// docs/decoding.md's failure: a model whose validation loss rises from the first epoch
    /// (overconfident on a hard validation subject) while its accuracy climbs. The loss rule keeps the
    /// first epoch (the untrained one-class model); the default keeps the accuracy peak.
    /// </summary>
    [Fact]
    public void RisingLossWithRisingAccuracy_DefaultKeepsALaterEpoch()
    {
        double[] loss = [1.08, 1.10, 1.13, 1.17, 1.20, 1.24, 1.27, 1.31, 1.36, 1.40, 1.44, 1.47, 1.52, 1.55, 1.60, 1.63, 1.70];
        double[] accuracy = [0.43, 0.43, 0.43, 0.43, 0.57, 0.57, 0.57, 0.57, 0.71, 0.57, 0.57, 0.71, 0.71, 0.57, 0.57, 0.57, 0.57];
        var defaults = new NeuralSettings();
        Assert.Equal(0, EpochSelection.Choose(loss, accuracy, "loss", 0, defaults.Patience).Chosen);
        var (chosen, _) = EpochSelection.Choose(loss, accuracy, defaults.Selection, defaults.MinEpochs, defaults.Patience);
        Assert.Equal(11, chosen);
    }

    /// <summary>
    /// The same failure on the simulator (ParcelDecoderTests' data: 7 training subjects, validation
    /// subject 7, 56 test trials, CNR 5): GPT-2 (docs/decoding/sequence.json's model) under the loss rule
    /// predicts the majority class; under the default selection it is >= chance + 0.15.
    /// </summary>
    [Fact]
    public void Gpt2_DefaultSelection_LearnsWhereTheLossRuleKeptTheUntrainedModel()
    {
        var options = SimulationOptions.FromPreset("small") with { Subjects = 16, Cnr = 5, Seed = 5 };
        var set = DecodingSet.Build(options, new SampleOptions(8, 4, Maps: false));
        var split = new SubjectSplit([0, 1, 2, 3, 4, 5, 6], [7], [8, 9, 10, 11, 12, 13, 14, 15]);
        var spec = ModelSpec.Parse("""{"width": 32, "depth": 1, "block": {"mixer": {"operator": "attention.softmax", "heads": 4}, "channel_mixer": "mlp"}}""");
        var test = set.SamplesOf(split.Test);
        double chance = Decoder.Chance(set, test);
        double Accuracy(NeuralSettings s) => Decoder.Score(new SequenceDecoder("gpt2", spec, s, "none", "gpt2", 4).Fit(set, split, 1), set, test).Accuracy;
        double byLoss = Accuracy(new NeuralSettings(Epochs: 30, Selection: "loss", MinEpochs: 0));
        double byDefault = Accuracy(new NeuralSettings(Epochs: 30));
        Assert.True(Math.Abs(byLoss - chance) < 1e-12, $"loss rule: accuracy {byLoss:F3}; expected the majority rate {chance:F3} (docs/decoding.md).");
        Assert.True(byDefault >= chance + 0.15, $"default selection: accuracy {byDefault:F3}; expected >= chance {chance:F3} + 0.15.");
    }

    [Theory]
    [InlineData("\"selection\": \"median\"", "decoders[0].selection")]
    [InlineData("\"min_epochs\": -1", "decoders[0].min_epochs")]
    [InlineData("\"epochs\": 12, \"min_epochs\": 13", "decoders[0].min_epochs")]
    [InlineData("\"min_epochs\": \"ten\"", "decoders[0].min_epochs")]
    public void BadSelectionFields_Rejected_NamingTheField(string fields, string named)
    {
        var e = Assert.Throws<ArgumentException>(() => DecodeConfig.Parse($$"""{"decoders": [{"name": "s", "kind": "sequence", {{fields}}}]}"""));
        Assert.Contains(named, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void ResolvedConfiguration_CarriesSelection_DefaultCappedAtEpochs()
    {
        var config = DecodeConfig.Parse("""
            {"decoders": [{"name": "a", "kind": "time_weighting"}, {"name": "b", "kind": "cnn3d", "epochs": 6},
                          {"name": "c", "kind": "sequence", "selection": "loss", "min_epochs": 0}]}
            """);
        var decoders = config.Resolved["decoders"]!.AsArray().Select(d => d!.AsObject()).ToDictionary(d => (string)d["name"]!);
        Assert.Equal(("accuracy", 10), ((string)decoders["a"]["selection"]!, (int)decoders["a"]["min_epochs"]!));
        Assert.Equal(("accuracy", 6), ((string)decoders["b"]["selection"]!, (int)decoders["b"]["min_epochs"]!));
        Assert.Equal(("loss", 0), ((string)decoders["c"]["selection"]!, (int)decoders["c"]["min_epochs"]!));
        // Read back, the resolved decoders parse to the same settings.
        var again = DecodeConfig.Parse(new JsonObject { ["decoders"] = new JsonArray(decoders["b"].DeepClone()) }.ToJsonString());
        Assert.Equal(6, ((VolumeDecoder)again.Decoders.First(d => d.Name == "b").Decoder).Settings.MinEpochs);
    }
}
