// The training loop of the experiments: the same recipe as `reference train` (Training/Trainer.cs:
// AdamW 0.9/0.999/1e-8, linear warm-up then cosine decay, global-norm clipping, the fast tier),
// kept in memory (no checkpoint, no log file: an experiment trains dozens of small models and keeps
// only their measurements) and with an optional penalty added to the loss (the regularizer
// experiment's lambda ||A_t - I||_F^2). The data order is a seeded permutation per epoch.
using System.Diagnostics;
using Reference.Autodiff;
using Reference.Autodiff.Optim;
using Reference.Core;
using Reference.Models;

namespace Reference.Experiments;

/// <summary>A trained model and how it scored on the test split.</summary>
/// <param name="Model">The model, trained in place.</param>
/// <param name="Accuracy">Micro accuracy of the scored test positions.</param>
/// <param name="MacroAccuracy">MAD's macro accuracy of the same positions.</param>
/// <param name="TestLoss">Mean cross-entropy of the scored test positions.</param>
/// <param name="FinalLoss">Mean training loss over the last tenth of the steps (task loss, without the penalty).</param>
/// <param name="Steps">Optimizer steps taken.</param>
/// <param name="Seconds">Wall time of training and evaluation.</param>
public sealed record TrainedModel(BackboneModel Model, double Accuracy, double MacroAccuracy, double TestLoss, double FinalLoss, int Steps, double Seconds);

public static class ExperimentTraining
{
    /// <summary>
    /// Trains <paramref name="model"/> in place for options.Steps steps on <paramref name="train"/>
    /// (options.Seed orders the data) and evaluates it on <paramref name="test"/>. When given,
    /// <paramref name="penalty"/> is called after each forward pass and its scalar is added to the loss.
    /// </summary>
    public static TrainedModel Train(BackboneModel model, SyntheticSplit train, SyntheticSplit test, TrainOptions options,
        Func<Variable?>? penalty = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Steps < 1) throw new ArgumentException($"training option 'steps' must be >= 1, got {options.Steps}.", nameof(options));
        if (options.Batch < 1 || options.Batch > train.Count)
            throw new ArgumentException($"training option 'batch' = {options.Batch} must be in [1, {train.Count}] (the training sequences).", nameof(options));
        var clock = Stopwatch.StartNew();
        var optimizer = new AdamW(model.Parameters(), options.LearningRate, 0.9, 0.999, 1e-8, options.WeightDecay);
        long warmup = (long)Math.Round(options.WarmupFraction * options.Steps);
        int t = train.Length, b = options.Batch;
        var inputs = new int[b * t];
        var targets = new int[b * t];
        var order = Enumerable.Range(0, train.Count).ToArray();
        var rng = new SplitMix64(options.Seed ^ 0x0DDBA11UL);
        int lastTenth = Math.Max(1, options.Steps / 10);
        double tail = 0;
        using var tier = options.FastTier ? Tape.UseFastKernels() : default;
        var arena = new TensorArena();   // each step's intermediates reuse the previous step's buffers
        for (int step = 0, position = train.Count; step < options.Steps; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            for (int i = 0; i < b; i++, position++)
            {
                if (position >= train.Count)
                {
                    for (int k = order.Length - 1; k > 0; k--) { int j = rng.NextInt(k + 1); (order[k], order[j]) = (order[j], order[k]); }
                    position = 0;
                }
                int s = order[position];
                train.Inputs.AsSpan(s * t, t).CopyTo(inputs.AsSpan(i * t, t));
                train.Targets.AsSpan(s * t, t).CopyTo(targets.AsSpan(i * t, t));
            }
            optimizer.Lr = options.LearningRate * LrSchedule.LinearWarmupCosineDecay(step, warmup, options.Steps, options.MinLrRatio);
            optimizer.ZeroGrad();
            double taskLoss;
            using (arena.Use())
            {
                var task = Ops.CrossEntropy(model.Logits(inputs, b, t), targets, SyntheticTask.IgnoreIndex);
                var loss = penalty?.Invoke() is { } extra ? task + extra : task;
                loss.Backward();
                taskLoss = task.Item();
            }
            arena.Reset();
            if (options.ClipNorm > 0) GradClip.ClipGradNorm(model.Parameters(), options.ClipNorm);
            optimizer.Step();
            if (step >= options.Steps - lastTenth) tail += taskLoss;
        }
        var m = Trainer.Evaluate(model, test, options.EvalBatch);
        return new TrainedModel(model, m.Accuracy, m.MacroAccuracy, m.Loss, tail / lastTenth, options.Steps, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Builds the model of <paramref name="spec"/> for <paramref name="task"/> (seeded with seed + 1, as `reference train`) and trains it on the task's splits of seed.</summary>
    public static TrainedModel Train(ModelSpec spec, SyntheticTask task, TrainOptions options, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(options);
        var (train, test) = task.Generate(options.Seed);
        var model = BackboneModel.Create(spec, task.Vocabulary, task.InputLength, options.Seed + 1);
        return Train(model, train, test, options, null, cancellation);
    }
}
