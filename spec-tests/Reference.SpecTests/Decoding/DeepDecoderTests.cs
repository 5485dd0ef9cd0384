using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;
using Reference.Decoding;
using Reference.Models;
using Reference.Neuro.Simulation;

namespace Reference.SpecTests.Decoding;

/// <summary>
/// The deep decoder kinds on the simulator (small preset, 10 x 12 x 10 lattice, 8 subjects, CNR 5;
/// 4 training + 1 validation subjects, 3 test subjects = 21 trials, chance 3/7): the 3D-CNN is well
/// above chance and at chance on permuted labels; DeepLight (3D; 2D slices + BiLSTM) and the gpt2,
/// bert and lstm sequence backbones train (the training loss of a fixed batch falls), which is what
/// a few seconds allow for networks of this size on 28 trials.
/// </summary>
public class DeepDecoderTests
{
    private static readonly SimulationOptions Options = SimulationOptions.FromPreset("small") with { Subjects = 8, Cnr = 5, Seed = 5 };
    private static readonly DecodingSet Set = DecodingSet.Build(Options);
    private static readonly SubjectSplit Split = new([0, 1, 2, 3], [4], [5, 6, 7]);

    private static VolumeDecoder Cnn() => new("cnn", "cnn3d", new NeuralSettings(Epochs: 15, LearningRate: 1e-3, Patience: 15));

    [Fact]
    public void Cnn3d_WellAboveChance_AtCnr5()
    {
        var test = Set.SamplesOf(Split.Test);
        double accuracy = Decoder.Score(Cnn().Fit(Set, Split, 1), Set, test).Accuracy;
        Assert.True(accuracy >= 0.7, $"accuracy {accuracy:F3} (chance {Decoder.Chance(Set, test):F3}); expected >= 0.7 at CNR 5.");
    }

    [Fact]
    public void Cnn3d_AtChance_OnPermutedLabels()
    {
        const int permutations = 3;
        double mean = 0;
        for (ulong s = 1; s <= permutations; s++)
        {
            var data = Set.WithPermutedLabels(s);
            mean += Decoder.Score(Cnn().Fit(data, Split, 1), data, data.SamplesOf(Split.Test)).Accuracy / permutations;
        }
        Assert.InRange(mean, 1.0 / 3 - 0.18, 3.0 / 7 + 0.12);
    }

    /// <summary>Training-mode loss (no dropout) of a fixed batch before and after a few epochs on it.</summary>
    private static (double Before, double After) Trains(Module model, Func<int[], Variable> logits, int[] batch, int epochs, double lr)
    {
        double Loss()
        {
            using var _ = Tape.NoGrad();
            model.Train();
            return Ops.CrossEntropy(logits(batch), batch.Select(i => Set.Label[i]).ToArray()).Item();
        }
        double before = Loss();
        NeuralTraining.Fit(model, model.Parameters(), (s, _) => logits(s), Set, batch, [], new NeuralSettings(Epochs: epochs, Batch: batch.Length, LearningRate: lr, Dropout: 0), 3);
        return (before, Loss());
    }

    [Theory]
    [InlineData("deeplight3d", 4)]
    [InlineData("deeplight2d", 12)]
    public void DeepLight_Trains(string kind, int epochs)
    {
        var decoder = new VolumeDecoder(kind, kind, new NeuralSettings(Dropout: 0), new VolumeSettings(Hidden: 16));
        var model = decoder.CreateModel(Set, 4);
        var batch = Set.SamplesOf([0]).Take(6).ToArray();
        // DeepLight-2D starts with logits ~1e-4 (twelve Glorot-initialized ReLU layers shrink the
        // activations), so it needs a few more steps before its loss moves.
        var (before, after) = Trains(model, s => model.Forward(Variable.Constant(Set.Volumes(s))), batch, epochs, 3e-3);
        Assert.True(after < before - 0.05, $"{kind}: training loss {before:F4} -> {after:F4}; expected a decrease.");
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("bert")]
    [InlineData("lstm")]
    public void SequenceBackbones_Train(string architecture)
    {
        var spec = ModelSpec.Parse("""{"width": 16, "depth": 1, "block": {"mixer": {"operator": "attention.softmax", "heads": 2}, "channel_mixer": "mlp"}}""");
        var decoder = new SequenceDecoder(architecture, spec, new NeuralSettings(Dropout: 0), "none", architecture, 2);
        var classifier = new SequenceDecoder.Classifier(decoder.CreateModel(Set, 4), Set.Classes, new SplitMix64(5));
        Assert.Equal(architecture, classifier.Model.Architecture);
        var batch = Set.SamplesOf([0, 1]).ToArray();
        var (before, after) = Trains(classifier, s => classifier.Logits(Set, s, null, 0), batch, 20, 3e-3);
        Assert.True(after < before - 0.1, $"{architecture}: training loss {before:F4} -> {after:F4}; expected a decrease.");
    }
}
