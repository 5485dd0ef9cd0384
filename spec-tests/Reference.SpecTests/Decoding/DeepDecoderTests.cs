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
/// above chance and at chance on permuted labels; the gpt2, bert and lstm sequence backbones train
/// (the training loss of a fixed batch falls). DeepLight (3D; 2D slices + BiLSTM) at CNR 8 on 14
/// subjects (6 training, 2 validation, 6 test = 42 trials) is well above chance and at chance on
/// permuted labels, and the whole 3D network's gradient matches finite differences.
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

    private static readonly DecodingSet DeepLightSet = DecodingSet.Build(SimulationOptions.FromPreset("small") with { Subjects = 14, Cnr = 8, Seed = 5 });
    private static readonly SubjectSplit DeepLightSplit = new([0, 1, 2, 3, 4, 5], [6, 7], [8, 9, 10, 11, 12, 13]);

    /// <summary>
    /// DeepLight's training settings on 42 training trials: no dropout (SpatialDropout 0.2 on every
    /// layer, the logits included, kept the training loss at ~1.2); 3D: batch 16, lr 1e-3 (the released
    /// default; batch 8 made the BatchNorms of the 1 x 1 x 1 layers noisy and the test accuracy
    /// unstable); 2D: batch 8, lr 3e-3 (its twelve unnormalized ReLU layers start with logits ~1e-4
    /// and need a few epochs before the loss moves).
    /// </summary>
    private static VolumeDecoder DeepLight(string kind, int epochs) =>
        kind == "deeplight3d"
            ? new(kind, kind, new NeuralSettings(Epochs: epochs, Batch: 16, LearningRate: 1e-3, Patience: epochs, Dropout: 0))
            : new(kind, kind, new NeuralSettings(Epochs: epochs, Batch: 8, LearningRate: 3e-3, Patience: epochs, Dropout: 0), new VolumeSettings(Hidden: 16));

    [Theory]
    [InlineData("deeplight3d", 12)]
    [InlineData("deeplight2d", 12)]
    public void DeepLight_WellAboveChance_AtCnr8(string kind, int epochs)
    {
        var test = DeepLightSet.SamplesOf(DeepLightSplit.Test);
        double accuracy = Decoder.Score(DeepLight(kind, epochs).Fit(DeepLightSet, DeepLightSplit, 1), DeepLightSet, test).Accuracy;
        double chance = Decoder.Chance(DeepLightSet, test);
        // 42 test trials: the sd of a chance-level accuracy is ~0.076, so + 0.2 is ~2.6 sd above chance.
        Assert.True(accuracy >= chance + 0.2, $"{kind}: accuracy {accuracy:F3} (chance {chance:F3}); expected >= chance + 0.2 at CNR 8.");
    }

    [Theory]
    [InlineData("deeplight3d", 12)]
    [InlineData("deeplight2d", 12)]
    public void DeepLight_AtChance_OnPermutedLabels(string kind, int epochs)
    {
        const int permutations = 2;
        double mean = 0;
        for (ulong s = 1; s <= permutations; s++)
        {
            var data = DeepLightSet.WithPermutedLabels(s);
            mean += Decoder.Score(DeepLight(kind, epochs).Fit(data, DeepLightSplit, 1), data, data.SamplesOf(DeepLightSplit.Test)).Accuracy / permutations;
        }
        Assert.InRange(mean, 1.0 / 3 - 0.15, 3.0 / 7 + 0.12);
    }

    /// <summary>
    /// The whole 3D-DeepLight (twelve convolutions, BatchNorm in training mode, the 1 x 1 x 1 head,
    /// global pooling) on a 4 x 4 x 4 batch of 2: the cross-entropy's gradient with respect to the input
    /// and to the first and last layers' parameters against central differences, in both kernel tiers.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DeepLight3d_GradCheck_EndToEnd(bool fast)
    {
        var model = new Reference.Decoding.Networks.DeepLight3d(3, new SplitMix64(3), dropout: 0, seed: 1);
        model.Train();
        var x = Tensor<double>.Zeros(2, 1, 4, 4, 4);
        new SplitMix64(9).FillUniform(x.Data.AsSpan(), -1, 1);
        int[] labels = [0, 2];
        using var tier = fast ? Tape.UseFastKernels() : (IDisposable?)null;
        var parameters = model.Parameters();
        Variable Loss(Variable input) => Ops.CrossEntropy(model.Forward(input), labels);
        var byParameters = GradCheck.CheckParameters(() => Loss(Variable.Constant(x)), [parameters[0], parameters[1], parameters[2], parameters[3], parameters[^4], parameters[^3], parameters[^2], parameters[^1]], rtol: 1e-5, atol: 1e-7);
        Assert.True(byParameters.Passed, byParameters.ToString());
        var byInput = GradCheck.Check(v => Loss(v[0]), [x], rtol: 1e-5, atol: 1e-7);
        Assert.True(byInput.Passed, byInput.ToString());
    }

    /// <summary>
    /// After training, the BatchNorm running statistics are those of the training samples under the
    /// trained parameters (NeuralTraining's recalibration): the first BatchNorm's running mean and
    /// (unbiased) variance equal the per-channel moments of its input (convolution and ReLU of the
    /// training volumes) computed directly. The exponential average (Keras' momentum 0.01) after the
    /// 6 steps of this training would still be ~94% its initialization (mean 0, variance 1).
    /// </summary>
    [Fact]
    public void DeepLight3d_RunningStatistics_AreTheTrainingSetMoments()
    {
        var decoder = DeepLight("deeplight3d", 2);
        var model = (Reference.Decoding.Networks.DeepLight3d)decoder.CreateModel(DeepLightSet, 4);
        var train = DeepLightSet.SamplesOf(DeepLightSplit.Train);
        LogitsFunction logits = (s, _) => model.Forward(Variable.Constant(DeepLightSet.Volumes(s)));
        NeuralTraining.Fit(model, model.Parameters(), logits, DeepLightSet, train, [], decoder.Settings, 2);
        // Layers: [conv, relu, dropout, norm] x 12, ...; the input of norm k is layer 4 k + 2's output.
        var layers = model.Body.Layers;
        const int k = 0;
        var norm = (BatchNorm)layers[4 * k + 3];
        Tensor<double> input;
        using (Tape.NoGrad())
        {
            var h = Variable.Constant(DeepLightSet.Volumes(train));
            for (int i = 0; i < 4 * k + 3; i++) h = layers[i].Forward(h);
            input = h.Value;
        }
        int n = input.Shape[0], c = input.Shape[1], size = input.Length / (n * c);
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0, sq = 0;
            for (int b = 0; b < n; b++) for (int i = 0; i < size; i++) sum += input.Data[(b * c + ch) * size + i];
            double mean = sum / (n * size);
            for (int b = 0; b < n; b++) for (int i = 0; i < size; i++) sq += Math.Pow(input.Data[(b * c + ch) * size + i] - mean, 2);
            double variance = sq / (n * size - 1);
            Assert.True(Math.Abs(norm.RunningMean[ch] - mean) <= 1e-9 * Math.Max(1, Math.Abs(mean)), $"channel {ch}: running mean {norm.RunningMean[ch]:R}, input mean {mean:R}");
            Assert.True(Math.Abs(norm.RunningVar[ch] - variance) <= 1e-9 * Math.Max(1, variance), $"channel {ch}: running variance {norm.RunningVar[ch]:R}, input variance {variance:R}");
        }
    }

    /// <summary>A last minibatch of one sample is joined to the one before (BatchNorm of DeepLight's 1 x 1 x 1 layers needs two); 9 trials in batches of 8 train.</summary>
    [Fact]
    public void LastBatchOfOne_IsJoined()
    {
        Assert.Equal(8, NeuralTraining.BatchEnd(0, 17, 8));
        Assert.Equal(17, NeuralTraining.BatchEnd(8, 17, 8));
        Assert.Equal(16, NeuralTraining.BatchEnd(8, 16, 8));
        Assert.Equal(10, NeuralTraining.BatchEnd(8, 10, 8));
        Assert.Equal(9, NeuralTraining.BatchEnd(0, 9, 8));
        var decoder = new VolumeDecoder("deeplight3d", "deeplight3d", new NeuralSettings(Epochs: 1, Batch: 8, Dropout: 0));
        var model = decoder.CreateModel(DeepLightSet, 4);
        var nine = DeepLightSet.SamplesOf([0, 1]).Take(9).ToArray();
        NeuralTraining.Fit(model, model.Parameters(), (s, _) => model.Forward(Variable.Constant(DeepLightSet.Volumes(s))), DeepLightSet, nine, [], decoder.Settings, 1);
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
