// Training loop of the H3 synthetic tasks: data from H3SyntheticTasks, model H3LanguageModel, AdamW.
//
// Paper: H3, Fu, Dao et al., arXiv:2212.14052, Sec. 3.1 (Table 1) and the official configs
// (HazyResearch/safari experiment/synthetics/*/base.yaml): AdamW lr 5e-4, weight decay 0.1, batch 32,
// 5,000 training sequences for 400 epochs, warm-up over the first tenth of training then decay; the
// H3 SSM dynamics trained with lr min(1e-3, lr) and no weight decay; loss = cross-entropy of the next
// token at every training position; metric = accuracy of the answer token on the held-out split.
//
// Glossary: AnswerOnlyLoss = take the loss at the final position only (the test metric's position),
// a deliberate option for short CPU runs: the other positions of an induction-head sequence are
// unpredictable noise that dilutes the one useful gradient 1 : L.
// Steps = optimizer steps (one mini-batch each, epochs reshuffled by a seeded permutation);
// LearningRate / DynamicsLearningRate = the two AdamW parameter groups; Chance = accuracy of a
// uniform guess among the possible answers.
// Deliberate simplifications: one schedule for both tasks (linear warm-up over WarmupFraction of the
// steps, then cosine decay to 0.1 lr, the induction config's timm schedule); the step budget is a
// knob because the float64 CPU tape is many orders slower than the paper's GPU runs; training and
// evaluation run inside Tape.UseFastKernels (FastGemm, Fast activations and norms, float64), the SSM
// convolutions are the operators' Naive direct sums.
using Reference.Autodiff;
using Reference.Autodiff.Optim;
using Reference.Core;

namespace Reference.Models;

/// <summary>
/// One training run. The defaults are the paper's induction-head data and model with a CPU-sized step
/// budget; <see cref="Paper"/> and <see cref="Small"/> are complete presets.
/// </summary>
public sealed record ToyTrainingOptions(
    H3Task Task,
    int Vocabulary = 20, int Length = 30, int TrainCount = 5000, int TestCount = 500,
    int ModelWidth = 32, int Layers = 2, int StateSize = 64, int HeadDim = 1, ToyMixer Mixer = ToyMixer.H3,
    int Steps = 2000, int BatchSize = 32, double LearningRate = 5e-4, double DynamicsLearningRate = 1e-3,
    double WeightDecay = 0.1, double WarmupFraction = 0.1,
    ulong DataSeed = 0, ulong ModelSeed = 1, int EvaluateEvery = 0, bool AnswerOnlyLoss = false, double InitStd = 0.02)
{
    /// <summary>
    /// The paper's setting (configs experiment/synthetics/{induction_head, associative_recall}/h3.yaml):
    /// V 20, L 30 (induction) or 40 (recall), 5,000 / 500 sequences, D 32, 2 blocks, N 64, hd 1,
    /// official init, AdamW 5e-4 (dynamics 1e-3 capped at lr), wd 0.1, batch 32, 400 epochs = 62,800
    /// steps, loss at every position. Hours on the float64 CPU tape.
    /// </summary>
    public static ToyTrainingOptions Paper(H3Task task) => new(task,
        Vocabulary: 20, Length: task == H3Task.InductionHead ? 30 : 40, TrainCount: 5000, TestCount: 500,
        ModelWidth: 32, Layers: 2, StateSize: 64, HeadDim: 1, Steps: 400 * ((5000 + 31) / 32), BatchSize: 32,
        LearningRate: 5e-4, DynamicsLearningRate: 1e-3, WeightDecay: 0.1);

    /// <summary>
    /// The small setting the CI tests train in under a minute on two cores: V 12, N 8, init std 0.1
    /// (at 0.02 the gate q kbar v starts ~1e-4 and the run spends most of a short budget leaving that
    /// plateau), loss at the answer only, AdamW 3e-3 without weight decay. Induction head: L 16, hd 1,
    /// 400 steps. Associative recall: L 8 (4 pairs over 5 keys), hd 4 (an outer-product memory of
    /// 4 x 4 per head; with hd 1 recall needs several times more steps), 600 steps. The measured
    /// accuracies are stated in the tests.
    /// </summary>
    public static ToyTrainingOptions Small(H3Task task) => task == H3Task.InductionHead
        ? new(task, Vocabulary: 12, Length: 16, TrainCount: 5000, TestCount: 300, ModelWidth: 32, Layers: 2, StateSize: 8,
            HeadDim: 1, Steps: 400, BatchSize: 32, LearningRate: 3e-3, DynamicsLearningRate: 3e-3, WeightDecay: 0.0,
            AnswerOnlyLoss: true, InitStd: 0.1)
        : new(task, Vocabulary: 12, Length: 8, TrainCount: 5000, TestCount: 300, ModelWidth: 32, Layers: 2, StateSize: 8,
            HeadDim: 4, Steps: 600, BatchSize: 32, LearningRate: 3e-3, DynamicsLearningRate: 3e-3, WeightDecay: 0.0,
            AnswerOnlyLoss: true, InitStd: 0.1);
}

/// <summary>A point of the training curve: mean training loss over the steps since the last point, test accuracy if evaluated.</summary>
public sealed record ToyTrainingPoint(int Step, double Loss, double? TestAccuracy);

/// <summary>The outcome: curve, accuracy before and after training, chance level, the trained model.</summary>
public sealed record ToyTrainingResult(
    IReadOnlyList<ToyTrainingPoint> Curve, double InitialAccuracy, double TestAccuracy, double Chance, H3LanguageModel Model);

public static class H3ToyTraining
{
    /// <summary>Generates the data, trains the model and scores it on the test split.</summary>
    public static ToyTrainingResult Train(ToyTrainingOptions o, Action<ToyTrainingPoint>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (o.Steps < 0) throw new ArgumentOutOfRangeException(nameof(o), $"Steps must be >= 0, got {o.Steps}.");
        if (o.BatchSize < 1 || o.BatchSize > o.TrainCount)
            throw new ArgumentOutOfRangeException(nameof(o), $"BatchSize must be in [1, TrainCount = {o.TrainCount}], got {o.BatchSize}.");
        if (o.EvaluateEvery < 0) throw new ArgumentOutOfRangeException(nameof(o), $"EvaluateEvery must be >= 0, got {o.EvaluateEvery}.");
        if (!(o.WarmupFraction is >= 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(o), $"WarmupFraction must be in [0, 1], got {o.WarmupFraction}.");
        var (train, test) = H3SyntheticTasks.Generate(o.Task, o.Vocabulary, o.Length, o.TrainCount, o.TestCount, o.DataSeed);
        var model = new H3LanguageModel(
            new H3LanguageModelOptions(o.Vocabulary, o.ModelWidth, o.Layers, o.StateSize, o.HeadDim, o.Mixer, o.InitStd), o.ModelSeed);
        var main = new AdamW(model.MainParameters(), o.LearningRate, weightDecay: o.WeightDecay);
        var dynamics = new AdamW(model.DynamicsParameters(), Math.Min(o.DynamicsLearningRate, o.LearningRate), weightDecay: 0.0);
        double initial = Accuracy(model, test);

        var curve = new List<ToyTrainingPoint>();
        var order = new SplitMix64(o.DataSeed ^ 0x5EEDBA7C4E5ul);
        var permutation = Enumerable.Range(0, train.Count).ToArray();
        int cursor = train.Count, batchesSinceReport = 0, t = train.Length;
        double lossSum = 0.0;
        long warmup = (long)Math.Round(o.WarmupFraction * o.Steps);
        var inputs = new int[o.BatchSize * t];
        var targets = new int[o.BatchSize * t];
        using (Tape.UseFastKernels())
        {
            for (int step = 0; step < o.Steps; step++)
            {
                for (int b = 0; b < o.BatchSize; b++)
                {
                    if (cursor == train.Count) { Shuffle(permutation, order); cursor = 0; }
                    int s = permutation[cursor++];
                    train.Inputs.AsSpan(s * t, t).CopyTo(inputs.AsSpan(b * t, t));
                    train.Targets.AsSpan(s * t, t).CopyTo(targets.AsSpan(b * t, t));
                }
                double scale = LrSchedule.LinearWarmupCosineDecay(step, warmup, o.Steps, minRatio: 0.1);
                main.Lr = o.LearningRate * scale;
                dynamics.Lr = Math.Min(o.DynamicsLearningRate, o.LearningRate) * scale;
                main.ZeroGrad();
                dynamics.ZeroGrad();
                var loss = o.AnswerOnlyLoss
                    ? Ops.CrossEntropy(model.FinalLogits(inputs, o.BatchSize, t), Answers(targets, o.BatchSize, t))
                    : Ops.CrossEntropy(model.Logits(inputs, o.BatchSize, t), targets, H3SyntheticTasks.IgnoreIndex);
                loss.Backward();
                main.Step();
                dynamics.Step();
                lossSum += loss.Item();
                batchesSinceReport++;

                bool last = step == o.Steps - 1;
                bool evaluate = o.EvaluateEvery > 0 && ((step + 1) % o.EvaluateEvery == 0 || last);
                if (evaluate || last)
                {
                    var point = new ToyTrainingPoint(step + 1, lossSum / batchesSinceReport, evaluate ? Accuracy(model, test) : null);
                    curve.Add(point);
                    progress?.Invoke(point);
                    lossSum = 0.0;
                    batchesSinceReport = 0;
                }
            }
        }
        double final = curve.Count > 0 && curve[^1].TestAccuracy is { } a ? a : Accuracy(model, test);
        return new ToyTrainingResult(curve, initial, final, H3SyntheticTasks.Chance(o.Task, o.Vocabulary), model);
    }

    /// <summary>
    /// Fraction of sequences of <paramref name="split"/> whose answer (final target) is the argmax of
    /// the final-position logits (ties to the lowest id).
    /// </summary>
    public static double Accuracy(H3LanguageModel model, SyntheticSplit split, int chunk = 100)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(split);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunk, 1, nameof(chunk));
        int correct = 0, v = split.Vocabulary;
        using (Tape.NoGrad())
        using (Tape.UseFastKernels())
        {
            for (int start = 0; start < split.Count; start += chunk)
            {
                int count = Math.Min(chunk, split.Count - start);
                var (inputs, _) = split.Batch(start, count);
                var logits = model.FinalLogits(inputs, count, split.Length).Value.Data;
                for (int b = 0; b < count; b++)
                {
                    int best = 0;
                    for (int c = 1; c < v; c++) if (logits[b * v + c] > logits[b * v + best]) best = c;
                    if (best == split.Answer(start + b)) correct++;
                }
            }
        }
        return (double)correct / split.Count;
    }

    private static int[] Answers(int[] targets, int batch, int t)
    {
        var answers = new int[batch];
        for (int b = 0; b < batch; b++) answers[b] = targets[b * t + t - 1];
        return answers;
    }

    /// <summary>Fisher-Yates with SplitMix64 (the epoch order).</summary>
    private static void Shuffle(int[] a, SplitMix64 rng)
    {
        for (int i = a.Length - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (a[i], a[j]) = (a[j], a[i]);
        }
    }
}
