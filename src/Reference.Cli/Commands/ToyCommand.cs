using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Reference.Models;

namespace Reference.Cli.Commands;

/// <summary>
/// `reference toy`: trains the small H3 language model on one of the H3 paper's synthetic tasks
/// (induction head, associative recall; arXiv:2212.14052 Sec. 3.1), printing the training curve
/// (mean loss per interval, held-out accuracy) and the final accuracy against chance. Starts from a
/// preset (small: the CI setting; paper: the official configs) that every other option overrides.
/// </summary>
public static class ToyCommand
{
    private static readonly string[] Tasks = ["induction", "recall"];
    private static readonly string[] Presets = ["small", "paper"];
    private static readonly string[] Mixers = ["h3", "none"];

    public static Command Create()
    {
        var task = new Option<string>("--task") { Description = "induction (induction head) or recall (associative recall).", Required = true, HelpName = "induction|recall" };
        var preset = new Option<string>("--preset") { Description = "small (trains in under a minute) or paper (the official configs; hours).", DefaultValueFactory = _ => "small", HelpName = "small|paper" };
        var seed = new Option<ulong>("--seed") { Description = "SplitMix64 seed of the model; the data uses seed + 1000.", DefaultValueFactory = _ => 1UL, HelpName = "N" };
        var steps = new Option<int?>("--steps") { Description = "Optimizer steps (mini-batches).", HelpName = "N" };
        var vocabulary = new Option<int?>("--vocab") { Description = "Vocabulary V (noop, V - 2 ordinary tokens, \"=>\").", HelpName = "V" };
        var length = new Option<int?>("--length") { Description = "Sequence length L.", HelpName = "L" };
        var train = new Option<int?>("--train") { Description = "Training sequences.", HelpName = "N" };
        var test = new Option<int?>("--test") { Description = "Held-out sequences.", HelpName = "N" };
        var width = new Option<int?>("--width") { Description = "Model width D.", HelpName = "D" };
        var layers = new Option<int?>("--layers") { Description = "Blocks.", HelpName = "N" };
        var state = new Option<int?>("--state") { Description = "H3 state size N (even).", HelpName = "N" };
        var headDim = new Option<int?>("--head-dim") { Description = "H3 head dimension hd (divides D).", HelpName = "HD" };
        var mixer = new Option<string>("--mixer") { Description = "h3, or none (ablation without token mixing).", DefaultValueFactory = _ => "h3", HelpName = "h3|none" };
        var batch = new Option<int?>("--batch") { Description = "Batch size.", HelpName = "N" };
        var lr = new Option<double?>("--lr") { Description = "AdamW learning rate.", HelpName = "RATE" };
        var ssmLr = new Option<double?>("--ssm-lr") { Description = "Learning rate of the SSM dynamics (capped at --lr).", HelpName = "RATE" };
        var weightDecay = new Option<double?>("--weight-decay") { Description = "AdamW weight decay (not applied to the SSM dynamics).", HelpName = "WD" };
        var initStd = new Option<double?>("--init-std") { Description = "Std of the embedding and Linear weights.", HelpName = "STD" };
        var answerLoss = new Option<bool>("--answer-loss") { Description = "Loss at the answer position only (the small preset's default).", Arity = ArgumentArity.Zero };
        var everyPosition = new Option<bool>("--every-position-loss") { Description = "Next-token loss at every position (the paper preset's default).", Arity = ArgumentArity.Zero };
        var every = new Option<int>("--eval-every") { Description = "Steps between curve points (0: only the end).", DefaultValueFactory = _ => 50, HelpName = "N" };
        var maxMemory = MemoryBudget.Option();
        var command = new Command("toy", "Train a small H3 language model on the H3 paper's induction-head or associative-recall task.")
        {
            task, preset, seed, steps, vocabulary, length, train, test, width, layers, state, headDim, mixer, batch, lr, ssmLr,
            weightDecay, initStd, answerLoss, everyPosition, every, maxMemory,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            string taskName = parse.GetValue(task)!;
            if (!Tasks.Contains(taskName)) throw new CliException($"--task must be induction or recall, got '{taskName}'.");
            string presetName = parse.GetValue(preset)!;
            if (!Presets.Contains(presetName)) throw new CliException($"--preset must be small or paper, got '{presetName}'.");
            string mixerName = parse.GetValue(mixer)!;
            if (!Mixers.Contains(mixerName)) throw new CliException($"--mixer must be h3 or none, got '{mixerName}'.");
            bool answerOnly = parse.GetValue(answerLoss), everyPositionLoss = parse.GetValue(everyPosition);
            if (answerOnly && everyPositionLoss) throw new CliException("--answer-loss and --every-position-loss exclude each other.");
            var kind = taskName == "induction" ? H3Task.InductionHead : H3Task.AssociativeRecall;
            var p = presetName == "small" ? ToyTrainingOptions.Small(kind) : ToyTrainingOptions.Paper(kind);
            ulong modelSeed = parse.GetValue(seed);
            var o = p with
            {
                Vocabulary = parse.GetValue(vocabulary) ?? p.Vocabulary,
                Length = parse.GetValue(length) ?? p.Length,
                TrainCount = parse.GetValue(train) ?? p.TrainCount,
                TestCount = parse.GetValue(test) ?? p.TestCount,
                ModelWidth = parse.GetValue(width) ?? p.ModelWidth,
                Layers = parse.GetValue(layers) ?? p.Layers,
                StateSize = parse.GetValue(state) ?? p.StateSize,
                HeadDim = parse.GetValue(headDim) ?? p.HeadDim,
                Mixer = mixerName == "h3" ? ToyMixer.H3 : ToyMixer.None,
                Steps = parse.GetValue(steps) ?? p.Steps,
                BatchSize = parse.GetValue(batch) ?? p.BatchSize,
                LearningRate = parse.GetValue(lr) ?? p.LearningRate,
                DynamicsLearningRate = parse.GetValue(ssmLr) ?? p.DynamicsLearningRate,
                WeightDecay = parse.GetValue(weightDecay) ?? p.WeightDecay,
                InitStd = parse.GetValue(initStd) ?? p.InitStd,
                AnswerOnlyLoss = answerOnly || (!everyPositionLoss && p.AnswerOnlyLoss),
                DataSeed = modelSeed + 1000,
                ModelSeed = modelSeed,
                EvaluateEvery = Math.Max(0, parse.GetValue(every)),
            };
            MemoryBudget.Check(RequiredBytes(o), MemoryBudget.Parse(parse.GetValue(maxMemory)),
                string.Create(CultureInfo.InvariantCulture, $"toy with D {o.ModelWidth}, {o.Layers} blocks, L {o.Length}, {o.TrainCount} + {o.TestCount} sequences, batch {o.BatchSize}"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"task {taskName} ({presetName} preset): V {o.Vocabulary}, L {o.Length}, train {o.TrainCount}, test {o.TestCount}, data seed {o.DataSeed}"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"model: D {o.ModelWidth}, {o.Layers} blocks, mixer {mixerName}, N {o.StateSize}, hd {o.HeadDim}, init std {o.InitStd:G3}, seed {o.ModelSeed}"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"training: {o.Steps} steps of batch {o.BatchSize}, AdamW lr {o.LearningRate:G3} (SSM dynamics {Math.Min(o.DynamicsLearningRate, o.LearningRate):G3}), wd {o.WeightDecay:G3}, loss at {(o.AnswerOnlyLoss ? "the answer" : "every position")}"));
            output.WriteLine("step      loss  test_acc   seconds");
            var clock = Stopwatch.StartNew();
            ToyTrainingResult result;
            try
            {
                result = H3ToyTraining.Train(o, point => output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{point.Step,4} {point.Loss,9:F4} {(point.TestAccuracy is { } a ? a.ToString("F3", CultureInfo.InvariantCulture) : "-"),9} {clock.Elapsed.TotalSeconds,9:F1}")));
            }
            catch (ArgumentException e)
            {
                throw new CliException(e.Message);
            }
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"test accuracy {result.TestAccuracy:F3} (untrained {result.InitialAccuracy:F3}, chance {result.Chance:F3}) on {o.TestCount} held-out sequences"));
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>
    /// An estimate of the peak memory in bytes: the parameters (per block the four D x D
    /// projections, the shift and diagonal SSMs' D x N; the embedding and the output layer V x D),
    /// four times over (values, gradients, AdamW's two moments), float64; the tape's activations,
    /// about 32 float64 per (sequence of the batch, position, channel, block); the data, token and
    /// target ints plus the text key the generator deduplicates with, per sequence and position.
    /// Only sizes are used; a nonsensical value (negative) is left to the trainer's own checks.
    /// </summary>
    internal static double RequiredBytes(ToyTrainingOptions o)
    {
        double d = Math.Max(o.ModelWidth, 0), layers = Math.Max(o.Layers, 0), n = Math.Max(o.StateSize, 0), v = Math.Max(o.Vocabulary, 0);
        double t = 2.0 * Math.Max(o.Length, 0) + 2, sequences = Math.Max(o.TrainCount, 0) + (double)Math.Max(o.TestCount, 0);
        double parameters = layers * (4 * d * d + 4 * d + 4 * d * n) + 2 * v * d;
        double activations = 32 * Math.Max(o.BatchSize, 0) * t * d * Math.Max(layers, 1);
        return 8 * (4 * parameters + activations) + sequences * (t * (4 + 4 + 8) + 64);
    }
}
