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
    /// Minibatch Adam on cross-entropy with L2 weight decay; early stopping on the
    /// validation accuracy (the best epoch's parameters are kept).
    /// </summary>
    public static ExplainedDecoder Train(DecoderSpec spec, TrialMaps data, int epochs = 60, double lr = 1e-3, double weightDecay = 1e-2, int batch = 32, int patience = 15)
    {
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
        var parameters = decoder.Module.Parameters();
        var optimizer = new Adam(parameters, lr, weightDecay: weightDecay);
        var best = parameters.Select(p => (double[])p.Value.Data.Clone()).ToArray();
        double bestAccuracy = -1;
        int since = 0;
        var xv = validation.Length > 0 ? data.Inputs(validation, spec.Volume) : null;
        var order = (int[])train.Clone();
        for (int epoch = 0; epoch < epochs && since < patience; epoch++)
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
            double accuracy = xv is null ? 0 : Accuracy(decoder, xv, validation.Select(i => labels[i]).ToArray());
            if (accuracy > bestAccuracy)
            {
                bestAccuracy = accuracy;
                since = 0;
                for (int p = 0; p < parameters.Count; p++) parameters[p].Value.Data.CopyTo(best[p], 0);
            }
            else since++;
        }
        for (int p = 0; p < parameters.Count; p++) best[p].CopyTo(parameters[p].Value.Data, 0);
        double testAccuracy = test.Length > 0 ? Accuracy(decoder, data.Inputs(test, spec.Volume), test.Select(i => data.Labels[i]).ToArray()) : double.NaN;
        var trained = new ExplainedDecoder(decoder.Spec with { ValidationAccuracy = bestAccuracy, TestAccuracy = testAccuracy }, decoder.Module);
        return trained;
    }

    public static int[] SampleShape(TrialMaps data, bool volume) => volume ? [1, data.Layout.Nz, data.Layout.Ny, data.Layout.Nx] : [data.Units];

    public static double Accuracy(ExplainedDecoder decoder, Tensor<double> x, int[] labels)
    {
        var p = Faithfulness.Predict(decoder.Forward, x);
        return p.Where((c, i) => c == labels[i]).Count() / (double)Math.Max(1, labels.Length);
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

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

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
