// In-memory training for the ESS experiments: the recipe of `reference train` (Training/Trainer.cs:
// AdamW 0.9/0.999/1e-8, linear warm-up then cosine decay, global gradient-norm clipping, fast tier)
// without checkpoints or logs, since an experiment trains many small models and keeps only what it
// measures. Two objectives: the task's cross-entropy on its targets, or distillation (Hinton et al.,
// arXiv:1503.02531): the KL divergence from a fixed teacher's next-token distribution to the
// student's at every position (Ops.DistillationKl), so the student imitates the teacher's whole
// output, not only the scored answers. Batches are drawn with replacement from SplitMix64(seed).
using Reference.Autodiff;
using Reference.Autodiff.Optim;
using Reference.Core;
using Reference.Models;

namespace Reference.Experiments;

/// <summary>Optimizer and schedule of one in-memory training run.</summary>
internal sealed record FitSettings(int Steps, double LearningRate, int Batch, double WarmupFraction = 0.1, double ClipNorm = 1.0, double WeightDecay = 0.0)
{
    public FitSettings Scaled(double budgetScale) => this with { Steps = Math.Max(1, (int)Math.Round(Steps * budgetScale)) };
}

internal static class ExperimentFit
{
    /// <summary>
    /// Trains <paramref name="model"/> in place on <paramref name="train"/>: cross-entropy on its
    /// targets, or, with a <paramref name="teacher"/>, the KL divergence to the teacher's logits at
    /// every position. Returns the loss of every step.
    /// </summary>
    public static double[] Train(BackboneModel model, SyntheticSplit train, FitSettings settings, ulong seed, BackboneModel? teacher = null,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(settings);
        if (teacher is not null && (teacher.Vocabulary != model.Vocabulary))
            throw new ArgumentException($"teacher vocabulary {teacher.Vocabulary} differs from the student's {model.Vocabulary}.", nameof(teacher));
        var optimizer = new AdamW(model.Parameters(), settings.LearningRate, 0.9, 0.999, 1e-8, settings.WeightDecay);
        var rng = new SplitMix64(seed);
        int t = train.Length, b = Math.Min(settings.Batch, train.Count);
        var inputs = new int[b * t];
        var targets = new int[b * t];
        long warmup = (long)Math.Round(settings.WarmupFraction * settings.Steps);
        var losses = new double[settings.Steps];
        using var tier = Tape.UseFastKernels();
        var arena = new TensorArena();   // each step's intermediates reuse the previous step's buffers
        for (int step = 0; step < settings.Steps; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            for (int i = 0; i < b; i++)
            {
                int s = rng.NextInt(train.Count);
                train.Inputs.AsSpan(s * t, t).CopyTo(inputs.AsSpan(i * t, t));
                train.Targets.AsSpan(s * t, t).CopyTo(targets.AsSpan(i * t, t));
            }
            optimizer.Lr = settings.LearningRate * LrSchedule.LinearWarmupCosineDecay(step, warmup, settings.Steps);
            optimizer.ZeroGrad();
            using (arena.Use())
            {
                Variable loss;
                if (teacher is null) loss = Ops.CrossEntropy(model.Logits(inputs, b, t), targets, SyntheticTask.IgnoreIndex);
                else
                {
                    Tensor<double> target;
                    using (Tape.NoGrad()) target = teacher.Logits(inputs, b, t).Value;
                    loss = Ops.DistillationKl(model.Logits(inputs, b, t), target);
                }
                loss.Backward();
                losses[step] = loss.Item();
            }
            arena.Reset();
            if (settings.ClipNorm > 0) GradClip.ClipGradNorm(model.Parameters(), settings.ClipNorm);
            optimizer.Step();
        }
        return losses;
    }

    /// <summary>Mean KL divergence (nats per position) from the teacher's next-token distribution to the student's over every position of <paramref name="split"/>.</summary>
    public static double DistillationGap(BackboneModel student, BackboneModel teacher, SyntheticSplit split, int batch = 64)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(split);
        double sum = 0;
        int rows = 0;
        using var tier = Tape.UseFastKernels();
        using (Tape.NoGrad())
        {
            for (int start = 0; start < split.Count; start += batch)
            {
                int count = Math.Min(batch, split.Count - start);
                var (inputs, _) = split.Batch(start, count);
                var kl = Ops.DistillationKl(student.Logits(inputs, count, split.Length), teacher.Logits(inputs, count, split.Length).Value, reduction: Reduction.Sum);
                sum += kl.Item();
                rows += count * split.Length;
            }
        }
        return sum / rows;
    }

    /// <summary>Micro accuracy of the scored positions of <paramref name="split"/> (fast tier).</summary>
    public static double Accuracy(BackboneModel model, SyntheticSplit split)
    {
        using var tier = Tape.UseFastKernels();
        return Trainer.Evaluate(model, split, 64).Accuracy;
    }

    /// <summary>The first <paramref name="count"/> sequences of <paramref name="split"/> as a smaller split (evaluation sets of the small presets).</summary>
    public static SyntheticSplit Head(SyntheticSplit split, int count)
    {
        count = Math.Min(count, split.Count);
        var (inputs, targets) = split.Batch(0, count);
        return new SyntheticSplit(inputs, targets, count, split.Length, split.Vocabulary);
    }
}
