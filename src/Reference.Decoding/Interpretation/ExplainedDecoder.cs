using System.Globalization;
using System.Text.Json;
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Autodiff.Optim;
using Reference.Core;
using Reference.Core.IO;
using Reference.Neuro.Simulation;

namespace Reference.Decoding.Interpretation;

/// <summary>
/// The architecture of a decoder the interpretation tools load: kind, input shape and classes,
/// plus the simulated data it was trained on (so `reference explain` can rebuild the trial maps,
/// the truth and the GLM). Stored as JSON next to the parameters (CKPT.json beside CKPT, a
/// reference.checkpoint/1 safetensors file). Kinds: "linear" (multinomial logistic regression on
/// the mask voxels), "mlp" (Linear, ReLU, Linear), and any kind registered in
/// <see cref="ExplainedDecoder.Builders"/> (volume models such as 3D CNNs take [N, 1, Nz, Ny, Nx]).
/// </summary>
public sealed record DecoderSpec
{
    public string Kind { get; init; } = "linear";
    public int Hidden { get; init; } = 32;
    public int Classes { get; init; } = 3;
    /// <summary>One sample's shape (flat: [V]; volume: [1, Nz, Ny, Nx]).</summary>
    public int[] InputShape { get; init; } = [];
    public bool Volume { get; init; }
    /// <summary>Labels were permuted before training (the data-randomization sanity check).</summary>
    public bool PermutedLabels { get; init; }
    public ulong Seed { get; init; } = 1;
    /// <summary>The simulation the trial maps come from (rebuilt by `reference explain`).</summary>
    public SimulationOptions? Simulation { get; init; }
    public double ValidationAccuracy { get; init; }
    public double TestAccuracy { get; init; }
}

/// <summary>A decoder built from a <see cref="DecoderSpec"/>: a module and its forward x -> logits.</summary>
public sealed class ExplainedDecoder
{
    private ExplainedDecoder(DecoderSpec spec, Layer module)
    {
        Spec = spec;
        Module = module;
    }

    public DecoderSpec Spec { get; }
    public Layer Module { get; }

    /// <summary>x [N, sample...] -> logits [N, C] in evaluation mode.</summary>
    public Variable Forward(Variable x) => Module.Forward(x);

    /// <summary>Builders of further kinds (a volume decoder registers here): (spec, rng) -> module taking [N, 1, Nz, Ny, Nx].</summary>
    public static Dictionary<string, Func<DecoderSpec, SplitMix64, Layer>> Builders { get; } = new(StringComparer.Ordinal)
    {
        // The interpretation benchmark's 3D-CNN: Conv3d (stride 2, no padding) + BatchNorm + ReLU + Dropout3d blocks, Flatten, Linear.
        ["cnn"] = (spec, rng) => new Networks.Cnn3dDecoder(spec.InputShape, spec.Classes, rng, filters: spec.Hidden, kernel: 3, hiddenLayers: 2, dropout: 0.1, seed: spec.Seed),
    };

    public static IReadOnlyList<string> Kinds => ["linear", "mlp", .. Builders.Keys];

    /// <summary>A freshly initialized decoder (seeded by <see cref="DecoderSpec.Seed"/>).</summary>
    public static ExplainedDecoder Create(DecoderSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var rng = new SplitMix64(spec.Seed);
        int inputs = spec.InputShape.Aggregate(1, (p, d) => p * d);
        Layer module = spec.Kind switch
        {
            "linear" => new Sequential(new Linear(inputs, spec.Classes, rng)),
            "mlp" => new Sequential(new Linear(inputs, spec.Hidden, rng), new Activation(ActivationKind.Relu), new Linear(spec.Hidden, spec.Classes, rng)),
            _ when Builders.TryGetValue(spec.Kind, out var build) => build(spec, rng),
            _ => throw new ArgumentException($"unknown decoder kind '{spec.Kind}'; expected one of {string.Join(", ", Kinds)}.", nameof(spec)),
        };
        module.Eval();
        return new ExplainedDecoder(spec, module);
    }

    /// <summary>Zennit's canonizer for LRP: BatchNorm folded into the convolution before it until disposed.</summary>
    public IDisposable Canonize() => BatchNormFolding.Merge(Module);

    /// <summary>The same architecture with fresh random weights (the model-randomization sanity check).</summary>
    public ExplainedDecoder Randomized(ulong seed) => Create(Spec with { Seed = seed });

    /// <summary>
    /// Minibatch Adam on cross-entropy with L2 weight decay; early stopping on the validation split by
    /// <see cref="EpochSelection"/>, the rule of every tape-based decoder (<paramref name="selection"/>
    /// `accuracy` or `loss`, no epoch before the <paramref name="minEpochs"/>-th kept, patience counted
    /// from it; minEpochs beyond epochs means the last epoch). The kept epoch's parameters and BatchNorm
    /// running statistics are restored. Without validation trials every epoch runs and the last is kept.
    /// </summary>
    public static ExplainedDecoder Train(DecoderSpec spec, TrialMaps data, int epochs = 60, double lr = 1e-3, double weightDecay = 1e-2, int batch = 32, int patience = 15,
        string selection = "accuracy", int minEpochs = EpochSelection.DefaultMinEpochs) =>
        Train(spec, data, epochs, lr, weightDecay, batch, patience, selection, minEpochs, validate: null);

    /// <summary>As the public Train; validate gives the validation loss and accuracy of the decoder after
    /// each epoch (null: measured on the data's validation split), so the tests can hand in a curve.</summary>
    internal static ExplainedDecoder Train(DecoderSpec spec, TrialMaps data, int epochs, double lr, double weightDecay, int batch, int patience,
        string selection, int minEpochs, Func<ExplainedDecoder, (double Loss, double Accuracy)>? validate)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(data);
        var decoder = Create(spec with { InputShape = SampleShape(data, spec.Volume), Simulation = data.Options });
        var train = data.Indices("train");
        var validation = data.Indices("validation");
        var test = data.Indices("test");
        var labels = (int[])data.Labels.Clone();
        var rng = new SplitMix64(spec.Seed ^ 0x5DEECE66DUL);
        if (spec.PermutedLabels)
        {
            var trainLabels = train.Select(i => labels[i]).ToArray();
            Shuffle(trainLabels, rng);
            for (int i = 0; i < train.Length; i++) labels[train[i]] = trainLabels[i];
        }
        if (validate is null && validation.Length > 0)
        {
            var xv = data.Inputs(validation, spec.Volume);
            var validationLabels = validation.Select(i => labels[i]).ToArray();
            validate = d => LossAndAccuracy(d, xv, validationLabels);
        }
        var selector = new EpochSelector(selection, minEpochs, patience, epochs);
        var parameters = decoder.Module.Parameters();
        var norms = NeuralTraining.BatchNorms(decoder.Module).ToArray();
        var optimizer = new Adam(parameters, lr, weightDecay: weightDecay);
        ModelSnapshot? best = null;
        double validationAccuracy = double.NaN;
        var order = (int[])train.Clone();
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            Shuffle(order, rng);
            decoder.Module.Train();
            for (int start = 0; start < order.Length; start += batch)
            {
                var rows = order.Skip(start).Take(batch).ToArray();
                var x = Variable.Constant(data.Inputs(rows, spec.Volume));
                var loss = Ops.CrossEntropy(decoder.Module.Forward(x), rows.Select(i => labels[i]).ToArray());
                optimizer.ZeroGrad();
                loss.Backward();
                optimizer.Step();
            }
            decoder.Module.Eval();
            if (validate is null) continue;
            var (validationLoss, accuracy) = validate(decoder);
            var (isBest, stop) = selector.Offer(validationLoss, accuracy);
            if (isBest)
            {
                validationAccuracy = accuracy;
                best = ModelSnapshot.Capture(parameters, norms);
            }
            else if (stop) break;
        }
        best?.Restore();
        double testAccuracy = test.Length > 0 ? Accuracy(decoder, data.Inputs(test, spec.Volume), test.Select(i => data.Labels[i]).ToArray()) : double.NaN;
        return new ExplainedDecoder(decoder.Spec with { ValidationAccuracy = validationAccuracy, TestAccuracy = testAccuracy }, decoder.Module);
    }

    public static int[] SampleShape(TrialMaps data, bool volume) => volume ? [1, data.Layout.Nz, data.Layout.Ny, data.Layout.Nx] : [data.Units];

    public static double Accuracy(ExplainedDecoder decoder, Tensor<double> x, int[] labels)
    {
        var p = Faithfulness.Predict(decoder.Forward, x);
        return p.Where((c, i) => c == labels[i]).Count() / (double)Math.Max(1, labels.Length);
    }

    /// <summary>Mean cross-entropy and accuracy (as <see cref="Accuracy"/>) from one forward pass.</summary>
    public static (double Loss, double Accuracy) LossAndAccuracy(ExplainedDecoder decoder, Tensor<double> x, int[] labels)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        var logits = Attribution.Logits(decoder.Forward, x);
        var p = NeuralTraining.Argmax(logits);
        using var _ = Tape.NoGrad();
        return (Ops.CrossEntropy(Variable.Constant(logits), labels).Item(), p.Where((c, i) => c == labels[i]).Count() / (double)Math.Max(1, labels.Length));
    }

    /// <summary>Writes the parameters and BatchNorm running statistics to <paramref name="path"/> and the spec to path + ".json" (both atomically).</summary>
    public void Save(string path)
    {
        Checkpoint.Save(path, Module);
        AtomicFile.WriteAllText(path + ".json", JsonSerializer.Serialize(Spec, JsonOptions));
    }

    /// <summary>Loads a decoder saved by <see cref="Save"/>.</summary>
    public static ExplainedDecoder Load(string path)
    {
        string specPath = path + ".json";
        if (!File.Exists(specPath)) throw new FileNotFoundException($"{specPath}: the decoder's spec (written next to the checkpoint) is missing.", specPath);
        var spec = JsonSerializer.Deserialize<DecoderSpec>(File.ReadAllText(specPath), JsonOptions)
            ?? throw new InvalidDataException($"{specPath}: empty spec.");
        var decoder = Create(spec);
        Checkpoint.Load(path, decoder.Module);
        decoder.Module.Eval();
        return decoder;
    }

    // Named floating-point literals: an accuracy without its split (no validation or no test trials) is NaN.
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    private static void Shuffle(int[] a, SplitMix64 rng)
    {
        for (int i = a.Length - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (a[i], a[j]) = (a[j], a[i]);
        }
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Spec.Kind} decoder ({Module.ParameterCount()} parameters)");
}
