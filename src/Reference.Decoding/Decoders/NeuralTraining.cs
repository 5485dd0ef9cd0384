// Supervised training of the tape-based decoders (time-weighting baseline, sequence models, and
// later the 3D-CNNs): AdamW on the cross-entropy of minibatches, one seeded permutation of the
// training samples per epoch, early stopping on the validation subjects (the epoch kept and when to
// stop: EpochSelection, by default the highest validation accuracy from the 10th epoch on; the
// parameters of the kept epoch are restored), a fixed number of epochs without validation subjects. Everything random (order, dropout) comes from SplitMix64 streams derived from the seed
// and the step, so a run is a function of (data, split, seed).
// BatchNorm: after every epoch the running statistics are recomputed on the training samples with the
// current parameters (RecalibrateBatchNorms, "precise BN"), so the evaluated network (eval mode) is the
// trained one. The exponential running average alone lags here: with 2-10 steps per epoch and Keras'
// momentum (m = 0.01, DeepLight) it stays near its initialization (mean 0, variance 1) for hundreds of
// steps, and the eval-mode DeepLight put out near-constant logits (chance) while the training-mode
// loss had already fallen to ~0.1 (docs/decoding.md).
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Autodiff.Optim;
using Reference.Core;

namespace Reference.Decoding;

/// <summary>Optimization settings of a tape-based decoder.</summary>
/// <remarks>
/// Selection and MinEpochs: which epoch early stopping keeps (EpochSelection): `accuracy` (the highest
/// validation accuracy, ties to the lower validation loss, then the earlier epoch) or `loss` (the lowest
/// validation loss, the rule before 2026-12-05); no epoch before the MinEpochs-th is kept and patience
/// counts from it (MinEpochs beyond Epochs means the last epoch).
/// </remarks>
public sealed record NeuralSettings(int Epochs = 40, int Batch = 16, double LearningRate = 3e-3, double WeightDecay = 1e-2, int Patience = 8, double Dropout = 0.1,
    string Selection = "accuracy", int MinEpochs = EpochSelection.DefaultMinEpochs)
{
    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"epochs = {Epochs}; expected >= 1.", "epochs");
        if (Batch < 1) throw new ArgumentException($"batch = {Batch}; expected >= 1.", "batch");
        if (!(LearningRate > 0)) throw new ArgumentException($"lr = {LearningRate}; expected > 0.", "lr");
        if (!(WeightDecay >= 0)) throw new ArgumentException($"weight_decay = {WeightDecay}; expected >= 0.", "weight_decay");
        if (Patience < 1) throw new ArgumentException($"patience = {Patience}; expected >= 1.", "patience");
        if (!(Dropout is >= 0 and < 1)) throw new ArgumentException($"dropout = {Dropout}; expected in [0, 1).", "dropout");
        if (!EpochSelection.Rules.Contains(Selection)) throw new ArgumentException($"selection = '{Selection}'; expected one of {string.Join(", ", EpochSelection.Rules)}.", "selection");
        if (MinEpochs < 0) throw new ArgumentException($"min_epochs = {MinEpochs}; expected >= 0.", "min_epochs");
    }
}

/// <summary>
/// A copy of a model's parameter values and BatchNorm running statistics (the epoch early stopping
/// keeps), written back by <see cref="Restore"/>.
/// </summary>
public sealed class ModelSnapshot
{
    private readonly IReadOnlyList<Variable> parameters;
    private readonly IReadOnlyList<BatchNorm> norms;
    private readonly double[][] values, statistics;

    private ModelSnapshot(IReadOnlyList<Variable> parameters, IReadOnlyList<BatchNorm> norms)
    {
        this.parameters = parameters;
        this.norms = norms;
        values = parameters.Select(p => (double[])p.Value.Data.Clone()).ToArray();
        statistics = norms.SelectMany(n => new[] { (double[])n.RunningMean.Clone(), (double[])n.RunningVar.Clone() }).ToArray();
    }

    public static ModelSnapshot Capture(IReadOnlyList<Variable> parameters, IReadOnlyList<BatchNorm> norms)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(norms);
        return new ModelSnapshot(parameters, norms);
    }

    public void Restore()
    {
        for (int i = 0; i < parameters.Count; i++) values[i].CopyTo(parameters[i].Value.Data, 0);
        for (int i = 0; i < norms.Count; i++)
        {
            statistics[2 * i].CopyTo(norms[i].RunningMean, 0);
            statistics[2 * i + 1].CopyTo(norms[i].RunningVar, 0);
        }
    }
}

/// <summary>Logits [B, C] of the samples, in training mode (dropout from the rng) or not (rng null).</summary>
public delegate Variable LogitsFunction(int[] samples, SplitMix64? dropout);

public static class NeuralTraining
{
    /// <summary>Trains <paramref name="trainable"/> (a subset of the model's parameters: the rest stays frozen) and returns the epochs run.</summary>
    public static int Fit(Module model, IReadOnlyList<Variable> trainable, LogitsFunction logits, DecodingSet data, int[] train, int[] validation,
        NeuralSettings settings, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (train.Length == 0) throw new ArgumentException("no training samples.", nameof(train));
        var optimizer = new AdamW(trainable, settings.LearningRate, 0.9, 0.999, 1e-8, settings.WeightDecay);
        var parameters = model.Parameters();
        var norms = BatchNorms(model).ToArray();
        ModelSnapshot? best = null;
        var selector = new EpochSelector(settings.Selection, settings.MinEpochs, settings.Patience, settings.Epochs);
        int epochs = 0;
        using var fast = Tape.UseFastKernels();
        // Every step records the same graph, so its intermediates reuse the previous step's buffers (TensorArena);
        // parameters, their gradients and the BatchNorm statistics live outside it.
        var arena = new TensorArena();
        for (int epoch = 0; epoch < settings.Epochs; epoch++)
        {
            epochs++;
            var order = (int[])train.Clone();
            var rng = new SplitMix64(seed * 0x9E3779B97F4A7C15UL + (ulong)epoch + 1);
            for (int i = order.Length - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (order[i], order[j]) = (order[j], order[i]); }
            model.Train();
            for (int start = 0, end; start < order.Length; start = end)
            {
                end = BatchEnd(start, order.Length, settings.Batch);
                var batch = order.AsSpan(start, end - start).ToArray();
                optimizer.ZeroGrad();
                using (arena.Use())
                {
                    var loss = Ops.CrossEntropy(logits(batch, rng), batch.Select(i => data.Label[i]).ToArray());
                    loss.Backward();
                }
                arena.Reset();
                GradClip.ClipGradNorm(trainable, 1.0);
                optimizer.Step();
            }
            RecalibrateBatchNorms(model, logits, train);
            if (validation.Length == 0) continue;
            model.Eval();
            var (validationLoss, validationAccuracy) = LossAndAccuracy(logits, data, validation);
            var (isBest, stop) = selector.Offer(validationLoss, validationAccuracy);
            if (isBest) best = ModelSnapshot.Capture(parameters, norms);
            else if (stop) break;
        }
        best?.Restore();
        model.Eval();
        return epochs;
    }

    /// <summary>
    /// End of the minibatch that starts at <paramref name="start"/>: start + batch, or the end of the
    /// epoch, and a last batch of one sample is joined to the one before it (BatchNorm in training mode
    /// needs two values per channel, and DeepLight's last layers are 1 x 1 x 1: 49 trials in batches of 8
    /// threw on the 49th).
    /// </summary>
    public static int BatchEnd(int start, int count, int batch)
    {
        int end = Math.Min(start + batch, count);
        return count - end == 1 ? count : end;
    }

    /// <summary>Most training samples one recalibration pass takes (a seeded subset beyond it), which bounds its memory.</summary>
    public const int RecalibrationSamples = 512;

    /// <summary>
    /// Sets every BatchNorm's running statistics to the statistics of its input over the samples (one
    /// forward pass of all of them as one batch, BatchNorms in training mode with momentum 1, dropout
    /// off as in evaluation; the variance unbiased as in the running update). Each layer's input then
    /// comes from the layers below normalized by the same samples' statistics, which is what the
    /// population statistics of the trained network are. No-op without BatchNorm; leaves the model in eval mode.
    /// </summary>
    public static void RecalibrateBatchNorms(Module model, LogitsFunction logits, int[] samples)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(samples);
        var norms = BatchNorms(model).ToArray();
        model.Eval();
        if (norms.Length == 0 || samples.Length < 2) return;
        if (samples.Length > RecalibrationSamples)
        {
            var pick = (int[])samples.Clone();
            var rng = new SplitMix64(0x5EED);
            for (int i = 0; i < RecalibrationSamples; i++) { int j = i + rng.NextInt(pick.Length - i); (pick[i], pick[j]) = (pick[j], pick[i]); }
            samples = pick[..RecalibrationSamples];
        }
        var momenta = norms.Select(n => n.Momentum).ToArray();
        try
        {
            foreach (var n in norms) { n.Momentum = 1; n.Train(); }
            using var _ = Tape.NoGrad();
            using var fast = Tape.UseFastKernels();
            logits(samples, null);
        }
        finally
        {
            for (int i = 0; i < norms.Length; i++) { norms[i].Momentum = momenta[i]; norms[i].Eval(); }
        }
    }

    /// <summary>Every BatchNorm of a module tree (their running statistics are state besides the parameters).</summary>
    public static IEnumerable<BatchNorm> BatchNorms(Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        if (module is BatchNorm norm) yield return norm;
        foreach (var (_, child) in module.NamedChildren())
            foreach (var n in BatchNorms(child)) yield return n;
    }

    /// <summary>Mean cross-entropy on the samples (no tape).</summary>
    public static double Loss(LogitsFunction logits, DecodingSet data, int[] samples)
    {
        using var _ = Tape.NoGrad();
        return Ops.CrossEntropy(logits(samples, null), samples.Select(i => data.Label[i]).ToArray()).Item();
    }

    /// <summary>Mean cross-entropy and accuracy (argmax of the logits, first maximum) on the samples, from one forward pass (no tape).</summary>
    public static (double Loss, double Accuracy) LossAndAccuracy(LogitsFunction logits, DecodingSet data, int[] samples)
    {
        using var _ = Tape.NoGrad();
        var labels = samples.Select(i => data.Label[i]).ToArray();
        var z = logits(samples, null);
        double loss = Ops.CrossEntropy(z, labels).Item();
        var predicted = Argmax(z.Value);
        int correct = 0;
        for (int i = 0; i < samples.Length; i++) if (predicted[i] == labels[i]) correct++;
        return (loss, (double)correct / samples.Length);
    }

    /// <summary>The class of each row of logits [N, C]: the first maximum.</summary>
    public static int[] Argmax(Tensor<double> logits)
    {
        ArgumentNullException.ThrowIfNull(logits);
        int n = logits.Shape[0], c = logits.Shape[1];
        var p = new int[n];
        for (int i = 0; i < n; i++)
            for (int k = 1; k < c; k++) if (logits.Data[i * c + k] > logits.Data[i * c + p[i]]) p[i] = k;
        return p;
    }

    /// <summary>Argmax of the logits of the samples, in batches.</summary>
    public static int[] Predict(LogitsFunction logits, int[] samples, int batch = 256)
    {
        var result = new int[samples.Length];
        using var _ = Tape.NoGrad();
        using var fast = Tape.UseFastKernels();
        for (int start = 0; start < samples.Length; start += batch)
        {
            var part = samples.AsSpan(start, Math.Min(batch, samples.Length - start)).ToArray();
            Argmax(logits(part, null).Value).CopyTo(result, start);
        }
        return result;
    }

    /// <summary>The windows of the samples as a constant [B, W, P].</summary>
    public static Variable Windows(DecodingSet data, int[] samples)
    {
        int w = data.Window, p = data.Parcels;
        var x = new double[samples.Length * w * p];
        for (int i = 0; i < samples.Length; i++) Array.Copy(data.Windows, samples[i] * w * p, x, i * w * p, w * p);
        return Variable.Constant(new Tensor<double>(x, samples.Length, w, p));
    }
}

/// <summary>
/// The time-weighting linear baseline of learning-from-brains: per network (parcel) one weighting
/// of the window's time points shared by all parcels (Linear W -> 1), then a Linear from the P
/// weighted parcel values to the classes: x [B, W, P] -> [B, P, W] -> [B, P] -> logits [B, C].
/// </summary>
public sealed class TimeWeightingDecoder(string name, NeuralSettings settings) : Decoder(name)
{
    /// <summary>
    /// Defaults of the configuration: the bilinear model (time weights times parcel weights) learns
    /// slowly from its small init, so a larger step and small batches; with 14-42 training trials it
    /// needs ~100 epochs where 60 at lr 1e-2 left it near its initialization (docs/decoding.md).
    /// </summary>
    public static NeuralSettings Defaults { get; } = new(Epochs: 100, Batch: 8, LearningRate: 3e-2, Patience: 20, Dropout: 0);

    public NeuralSettings Settings { get; } = settings;

    public override string Kind => "time_weighting";

    public override IFittedDecoder Fit(DecodingSet data, int[] train, int[] validation, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        var model = new TimeWeightingModel(data.Window, data.Parcels, data.Classes, new SplitMix64(seed + 17));
        LogitsFunction logits = (samples, _) => model.Forward(NeuralTraining.Windows(data, samples));
        NeuralTraining.Fit(model, model.Parameters(), logits, data, train, validation, Settings, seed);
        return new Fitted(model);
    }

    private sealed class Fitted(TimeWeightingModel model) : IFittedDecoder
    {
        public int[] Predict(DecodingSet data, int[] samples) =>
            NeuralTraining.Predict((s, _) => model.Forward(NeuralTraining.Windows(data, s)), samples);
    }
}

/// <summary>Linear over time (shared by parcels), then Linear over parcels to classes.</summary>
public sealed class TimeWeightingModel : Module
{
    public TimeWeightingModel(int window, int parcels, int classes, SplitMix64 rng)
    {
        Time = RegisterModule("time", new Linear(window, 1, rng));
        Head = RegisterModule("head", new Linear(parcels, classes, rng));
        (Window, Parcels) = (window, parcels);
    }

    public Linear Time { get; }
    public Linear Head { get; }
    public int Window { get; }
    public int Parcels { get; }

    public Variable Forward(Variable x)
    {
        int b = x.Shape[0];
        var weighted = Time.Forward(Ops.Permute(x, 0, 2, 1));
        return Head.Forward(Ops.Reshape(weighted, b, Parcels));
    }
}
