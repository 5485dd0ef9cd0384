using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Reference.Operators.Synthetic;

namespace Reference.Cli.Commands;

/// <summary>
/// `reference toy`: trains the small H3 language model on one of the H3 paper's synthetic tasks
/// (induction head, associative recall; arXiv:2212.14052 Sec. 3.1), printing the training curve
/// (mean loss per interval, held-out accuracy) and the final accuracy against chance.
/// </summary>
public static class ToyCommand
{
    private static readonly string[] Tasks = ["induction", "recall"];
    private static readonly string[] Mixers = ["h3", "none"];

    public static Command Create()
    {
        var task = new Option<string>("--task") { Description = "induction (induction head) or recall (associative recall).", Required = true };
        var seed = new Option<ulong>("--seed") { Description = "SplitMix64 seed of the model; the data uses seed + 1000.", DefaultValueFactory = _ => 1UL };
        var steps = new Option<int>("--steps") { Description = "Optimizer steps (mini-batches).", DefaultValueFactory = _ => 600 };
        var vocabulary = new Option<int>("--vocab") { Description = "Vocabulary V (noop, V - 2 ordinary tokens, \"=>\"); the paper: 20.", DefaultValueFactory = _ => 20 };
        var length = new Option<int?>("--length") { Description = "Sequence length L (default: the paper's, induction 30, recall 40)." };
        var train = new Option<int>("--train") { Description = "Training sequences (the paper: 5000).", DefaultValueFactory = _ => 5000 };
        var test = new Option<int>("--test") { Description = "Held-out sequences (the paper: 500).", DefaultValueFactory = _ => 500 };
        var width = new Option<int>("--width") { Description = "Model width D (the config: 32).", DefaultValueFactory = _ => 32 };
        var layers = new Option<int>("--layers") { Description = "Blocks (the config: 2).", DefaultValueFactory = _ => 2 };
        var state = new Option<int>("--state") { Description = "H3 state size N, even (the config: 64).", DefaultValueFactory = _ => 64 };
        var mixer = new Option<string>("--mixer") { Description = "h3, or none (ablation without token mixing).", DefaultValueFactory = _ => "h3" };
        var batch = new Option<int>("--batch") { Description = "Batch size (the config: 32).", DefaultValueFactory = _ => 32 };
        var lr = new Option<double>("--lr") { Description = "AdamW learning rate (the config: 5e-4).", DefaultValueFactory = _ => 5e-4 };
        var ssmLr = new Option<double>("--ssm-lr") { Description = "Learning rate cap of the SSM dynamics (the config: 1e-3).", DefaultValueFactory = _ => 1e-3 };
        var weightDecay = new Option<double>("--weight-decay") { Description = "AdamW weight decay (the config: 0.1).", DefaultValueFactory = _ => 0.1 };
        var every = new Option<int>("--eval-every") { Description = "Steps between curve points (0: only the end).", DefaultValueFactory = _ => 50 };
        var answerLoss = new Option<bool>("--answer-loss") { Description = "Loss at the final (answer) position only; default: next token at every position, as the paper." };
        var initStd = new Option<double>("--init-std") { Description = "Std of the embedding and Linear weights (the official init: 0.02).", DefaultValueFactory = _ => 0.02 };
        var headDim = new Option<int>("--head-dim") { Description = "H3 head dimension hd (the config: 1).", DefaultValueFactory = _ => 1 };
        var command = new Command("toy", "Train a small H3 language model on the H3 paper's induction-head or associative-recall task.")
        {
            task, seed, steps, vocabulary, length, train, test, width, layers, state, mixer, batch, lr, ssmLr, weightDecay, every, answerLoss, initStd, headDim,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            string taskName = parse.GetValue(task)!;
            if (!Tasks.Contains(taskName)) throw new CliException($"--task must be induction or recall, got '{taskName}'.");
            string mixerName = parse.GetValue(mixer)!;
            if (!Mixers.Contains(mixerName)) throw new CliException($"--mixer must be h3 or none, got '{mixerName}'.");
            var kind = taskName == "induction" ? H3Task.InductionHead : H3Task.AssociativeRecall;
            int l = parse.GetValue(length) ?? (kind == H3Task.InductionHead ? 30 : 40);
            ulong modelSeed = parse.GetValue(seed);
            var options = new ToyTrainingOptions(kind,
                Vocabulary: parse.GetValue(vocabulary), Length: l, TrainCount: parse.GetValue(train), TestCount: parse.GetValue(test),
                ModelWidth: parse.GetValue(width), Layers: parse.GetValue(layers), StateSize: parse.GetValue(state), HeadDim: parse.GetValue(headDim),
                Mixer: mixerName == "h3" ? ToyMixer.H3 : ToyMixer.None,
                Steps: parse.GetValue(steps), BatchSize: parse.GetValue(batch), LearningRate: parse.GetValue(lr),
                DynamicsLearningRate: parse.GetValue(ssmLr), WeightDecay: parse.GetValue(weightDecay),
                DataSeed: modelSeed + 1000, ModelSeed: modelSeed, EvaluateEvery: Math.Max(0, parse.GetValue(every)),
                AnswerOnlyLoss: parse.GetValue(answerLoss), InitStd: parse.GetValue(initStd));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"task {taskName}: V {options.Vocabulary}, L {l}, train {options.TrainCount}, test {options.TestCount}; model D {options.ModelWidth}, {options.Layers} blocks, mixer {mixerName}, N {options.StateSize}, hd {options.HeadDim}, init std {options.InitStd:G3}; {options.Steps} steps of batch {options.BatchSize}, lr {options.LearningRate:G3}, loss at {(options.AnswerOnlyLoss ? "the answer" : "every position")}"));
            output.WriteLine("step      loss  test_acc   seconds");
            var clock = Stopwatch.StartNew();
            ToyTrainingResult result;
            try
            {
                result = H3ToyTraining.Train(options, point => output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{point.Step,4} {point.Loss,9:F4} {(point.TestAccuracy is { } a ? a.ToString("F3", CultureInfo.InvariantCulture) : "-"),9} {clock.Elapsed.TotalSeconds,9:F1}")));
            }
            catch (ArgumentException e)
            {
                throw new CliException(e.Message);
            }
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"test accuracy {result.TestAccuracy:F3} (untrained {result.InitialAccuracy:F3}, chance {result.Chance:F3}) on {options.TestCount} held-out sequences"));
            return ExitCodes.Success;
        });
        return command;
    }
}
