using System.CommandLine;
using System.Globalization;
using Reference.Models;
using Spectre.Console;

namespace Reference.Cli.Commands;

/// <summary>
/// `reference train --task T --model M.json`: trains a backbone (docs/models.md) on a synthetic task
/// (docs/tasks.md) with AdamW, warm-up and cosine decay, clipping and periodic evaluation. Writes into
/// --out: log.jsonl (one JSON object per step and per evaluation), curves.png (loss and accuracy),
/// checkpoint.safetensors (atomic; parameters, AdamW state, data position and RNG state). `--resume`
/// continues after a kill with no step lost or repeated. Progress: a Spectre.Console bar on a
/// terminal, plain lines when the output is redirected. Bad input is one line and exit 2, before
/// anything is written.
/// </summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var task = new Option<string>("--task") { Description = $"Task: {string.Join(", ", TaskCatalog.Names)}.", Required = true, HelpName = "NAME" };
        var taskOptions = new Option<string[]>("--task-option") { Description = "Task setting KEY=VALUE (repeatable), e.g. vocab=64, length=64, pairs=4, train=2000.", HelpName = "KEY=VALUE", AllowMultipleArgumentsPerToken = false };
        var model = new Option<string>("--model") { Description = "Model JSON (schema: docs/models.md).", Required = true, HelpName = "M.json" };
        var steps = new Option<int>("--steps") { Description = "Optimizer steps.", DefaultValueFactory = _ => 1000, HelpName = "N" };
        var lr = new Option<double>("--lr") { Description = "Peak AdamW learning rate.", DefaultValueFactory = _ => 1e-3, HelpName = "RATE" };
        var weightDecay = new Option<double>("--weight-decay") { Description = "AdamW weight decay.", DefaultValueFactory = _ => 0.0, HelpName = "WD" };
        var batch = new Option<int>("--batch") { Description = "Sequences per step.", DefaultValueFactory = _ => 32, HelpName = "N" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the data (seed) and the model (seed + 1).", DefaultValueFactory = _ => 0UL, HelpName = "N" };
        var evalEvery = new Option<int>("--eval-every") { Description = "Steps between evaluations on the test split (0: only at the end).", DefaultValueFactory = _ => 100, HelpName = "N" };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Steps between checkpoints (0: at each evaluation).", DefaultValueFactory = _ => 0, HelpName = "N" };
        var warmup = new Option<double>("--warmup") { Description = "Fraction of the steps with linear warm-up.", DefaultValueFactory = _ => 0.1, HelpName = "FRACTION" };
        var minLr = new Option<double>("--min-lr-ratio") { Description = "Decay floor (cosine or linear) as a fraction of --lr; 1: constant rate after the warm-up.", DefaultValueFactory = _ => 0.0, HelpName = "RATIO" };
        var decay = new Option<string>("--decay") { Description = "Decay after the warm-up: cosine (MAD's) or linear (H3's synthetics: transformers' linear schedule).", DefaultValueFactory = _ => "cosine", HelpName = "cosine|linear" };
        var decayStart = new Option<double?>("--decay-start") { Description = "Fraction of --steps where the decay to --min-lr-ratio begins, in [--warmup, 1); the rate stays at --lr from the end of the warm-up until then (warmup-stable-decay). Default: the end of the warm-up.", HelpName = "FRACTION" };
        var ssmLr = new Option<string>("--ssm-lr") { Description = "SSM dynamics (A, B, Delta of S4D/H3 operators) in their own AdamW group at lr min(RATE, --lr), as H3's recipe; none: --lr. No effect on models without SSM dynamics.", DefaultValueFactory = _ => "1e-3", HelpName = "RATE|none" };
        var ssmWeightDecay = new Option<string>("--ssm-weight-decay") { Description = "Weight decay of the SSM dynamics group (H3's recipe: 0); none: --weight-decay.", DefaultValueFactory = _ => "0", HelpName = "WD|none" };
        var clip = new Option<double>("--clip") { Description = "Global gradient-norm clip (0: none).", DefaultValueFactory = _ => 1.0, HelpName = "NORM" };
        var tier = new Option<string>("--tier") { Description = "naive (float64 definitions, bit-reproducible) or fast.", DefaultValueFactory = _ => "fast", HelpName = "naive|fast" };
        var outDir = new Option<string>("--out") { Description = "Output directory (log, curves, checkpoint).", DefaultValueFactory = _ => "train-out", HelpName = "DIR" };
        var microBatches = new Option<int>("--micro-batches") { Description = "Micro-batches per step, each on its own tape, gradients summed in order (data parallelism; changes the arithmetic by float reassociation only; part of the run's identity). Memory: a step holds one micro-batch's tape per thread (--threads), so more micro-batches need less.", DefaultValueFactory = _ => 2, HelpName = "N" };
        var threads = new Option<int>("--threads") { Description = "Micro-batches computed at once (0: every core); does not change results.", DefaultValueFactory = _ => 0, HelpName = "N" };
        var evalBatch = new Option<int>("--eval-batch") { Description = "Test sequences per evaluation batch (memory: the head's logits are batch x scored positions per sequence x vocabulary); does not change results.", DefaultValueFactory = _ => 128, HelpName = "N" };
        var stopAbove = new Option<double?>("--stop-above") { Description = "Stop after the first evaluation whose test accuracy (micro) exceeds this, checkpointing that step (Zoology's early stopping at 0.99); not part of the run's identity.", HelpName = "ACCURACY" };
        var resume = new Option<bool>("--resume") { Description = "Continue from the checkpoint in --out.", Arity = ArgumentArity.Zero };
        var command = new Command("train", "Train a backbone built from registered operators on a synthetic task (MAD, MQAR, H3), with checkpoints and --resume.")
        {
            task, taskOptions, model, steps, lr, weightDecay, batch, seed, evalEvery, checkpointEvery, warmup, minLr, decay, decayStart, ssmLr, ssmWeightDecay, clip, tier, outDir, resume, microBatches, threads, evalBatch, stopAbove,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            string tierName = parse.GetValue(tier)!;
            if (tierName is not ("naive" or "fast")) throw new CliException($"--tier must be naive or fast, got '{tierName}'.");
            var decayKind = parse.GetValue(decay) switch
            {
                "cosine" => LrDecay.Cosine,
                "linear" => LrDecay.Linear,
                var other => throw new CliException($"--decay must be cosine or linear, got '{other}'."),
            };
            double? ssmLrValue = NumberOrNone(parse.GetValue(ssmLr)!, "--ssm-lr", "a rate > 0");
            double? ssmWdValue = NumberOrNone(parse.GetValue(ssmWeightDecay)!, "--ssm-weight-decay", "a weight decay >= 0");
            string modelPath = parse.GetValue(model)!;
            ModelSpec spec;
            SyntheticTask synthetic;
            Trainer trainer;
            try
            {
                if (!File.Exists(modelPath)) throw new CliException($"--model: file '{modelPath}' does not exist.");
                spec = ModelSpec.Parse(File.ReadAllText(modelPath));
                var settings = new Dictionary<string, string>();
                foreach (var item in parse.GetValue(taskOptions) ?? [])
                {
                    int eq = item.IndexOf('=', StringComparison.Ordinal);
                    if (eq <= 0) throw new CliException($"--task-option must be KEY=VALUE, got '{item}'.");
                    settings[item[..eq]] = item[(eq + 1)..];
                }
                string taskName = parse.GetValue(task)!;
                if (taskName == "compression")
                    throw new CliException("task compression is scored by MAD through an encoder-decoder reading the last position, which the backbone does not have; a causal model scoring its own inputs would be trivial (docs/tasks.md).");
                synthetic = TaskCatalog.Create(taskName, settings);
                var options = new TrainOptions(parse.GetValue(steps), parse.GetValue(lr), parse.GetValue(weightDecay), parse.GetValue(batch), parse.GetValue(seed),
                    parse.GetValue(evalEvery), parse.GetValue(checkpointEvery), parse.GetValue(warmup), parse.GetValue(minLr), parse.GetValue(clip), tierName == "fast",
                    MicroBatches: parse.GetValue(microBatches), Threads: parse.GetValue(threads), SsmLr: ssmLrValue, SsmWeightDecay: ssmWdValue, Decay: decayKind,
                    DecayStart: parse.GetValue(decayStart), EvalBatch: parse.GetValue(evalBatch), StopAbove: parse.GetValue(stopAbove));
                // Build the model once now, so an operator that cannot be a mixer is reported before anything is written.
                _ = BackboneModel.Create(spec, synthetic.Vocabulary, synthetic.InputLength, options.Seed + 1);
                string dir = parse.GetValue(outDir)!;
                string? parent = Path.GetDirectoryName(Path.GetFullPath(dir));
                if (parent is null || !Directory.Exists(parent)) throw new CliException($"--out: the parent of '{dir}' does not exist.");
                var plotPath = Path.Combine(dir, "curves.png");
                var records = new List<TrainRecord>();
                bool plain = Console.IsOutputRedirected || !ReferenceEquals(output, Console.Out);
                trainer = new Trainer(spec, synthetic, options, dir)
                {
                    OnRecord = r => { records.Add(r); if (plain && (r.IsEvaluation || r.Step % 10 == 0)) output.WriteLine(Line(r)); },
                    OnCheckpoint = _ => TrainingPlot.Save(plotPath, records, synthetic),
                };
                output.WriteLine($"task {synthetic.Name}: {synthetic.Describe()} (input length {synthetic.InputLength}, chance {synthetic.Chance.ToString("F3", CultureInfo.InvariantCulture)})");
                var probe = BackboneModel.Create(spec, synthetic.Vocabulary, synthetic.InputLength, options.Seed + 1);
                output.WriteLine($"model: {spec}, {probe.ParameterCount()} parameters, cache per block at L {synthetic.InputLength}: [{string.Join(", ", probe.CacheSizes(synthetic.InputLength))}]");
                output.WriteLine(Schedule(options));
                TrainResult result;
                bool resuming = parse.GetValue(resume);
                if (plain) result = trainer.Run(resuming);
                else result = RunWithProgress(trainer, resuming, options.Steps, records);
                // The log and checkpoint hold the whole run; records before a resume come from the log.
                TrainingPlot.Save(plotPath, result.Records, synthetic);
                if (synthetic is TextTask && result.Records.LastOrDefault(r => r.IsEvaluation) is { TestLoss: { } testLoss })
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"held-out perplexity {Math.Exp(testLoss):F3} (exp of the mean cross-entropy per {((TextTask)synthetic).Codec.Name} token, {testLoss:F4} nats)"));
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"test accuracy {result.Accuracy:F4} (micro), macro accuracy {result.MacroAccuracy:F4} (MAD's metric), chance {result.Chance:F4}; {(result.Records.Count > 0 && result.Records[^1].Step < options.Steps ? $"stopped at step {result.Records[^1].Step} (above --stop-above {options.StopAbove}); " : "")}{(result.StartStep > 0 ? $"resumed at step {result.StartStep}; " : "")}out: {dir}"));
                return ExitCodes.Success;
            }
            catch (ArgumentException e) { throw new CliException(e.ParamName is { } name ? e.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : e.Message); }
            catch (InvalidDataException e) { throw new CliException(e.Message); }
        });
        return command;
    }

    private static double? NumberOrNone(string text, string option, string expected) =>
        text == "none" ? null
        : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
        : throw new CliException($"{option} must be {expected} or none, got '{text}'.");

    private static string Schedule(TrainOptions o)
    {
        long warmup = o.WarmupSteps, start = o.DecayStartStep;
        string kind = o.Decay == LrDecay.Linear ? "linear" : "cosine";
        return string.Create(CultureInfo.InvariantCulture,
            $"schedule: lr {o.LearningRate:G4}, linear warm-up over steps 0-{warmup}, constant to step {start}, {kind} decay to {o.MinLrRatio:G4} of it at step {o.Steps}");
    }

    private static string Line(TrainRecord r) => r.IsEvaluation
        ? string.Create(CultureInfo.InvariantCulture, $"step {r.Step,6}  eval  loss {r.TestLoss:F4}  accuracy {r.Accuracy:F4}  macro accuracy {r.MacroAccuracy:F4}")
        : string.Create(CultureInfo.InvariantCulture, $"step {r.Step,6}  loss {r.Loss:F4}  lr {r.Lr:G3}  grad norm {r.GradNorm:G3}  {r.TokensPerSecond:F0} tokens/s");

    private static TrainResult RunWithProgress(Trainer trainer, bool resume, int steps, List<TrainRecord> records)
    {
        TrainResult? result = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var bar = ctx.AddTask("training", maxValue: steps);
                double accuracy = double.NaN;
                var observed = new Trainer(trainer.Spec, trainer.Task, trainer.Options, trainer.OutDirectory)
                {
                    OnRecord = r =>
                    {
                        trainer.OnRecord?.Invoke(r);
                        if (r.IsEvaluation) accuracy = r.Accuracy!.Value;
                        else
                        {
                            bar.Value = r.Step;
                            bar.Description = string.Create(CultureInfo.InvariantCulture,
                                $"loss {r.Loss:F3}  acc {(double.IsNaN(accuracy) ? "-" : accuracy.ToString("F3", CultureInfo.InvariantCulture))}  {r.TokensPerSecond:F0} tok/s");
                        }
                    },
                    OnCheckpoint = trainer.OnCheckpoint,
                };
                result = observed.Run(resume);
                bar.Value = steps;
            });
        return result!;
    }
}

/// <summary>Loss (per step) and test accuracy (per evaluation) against the step, as a PNG written atomically.</summary>
public static class TrainingPlot
{
    public static void Save(string path, IReadOnlyList<TrainRecord> records, SyntheticTask task)
    {
        var plot = new ScottPlot.Plot();
        var steps = records.Where(r => !r.IsEvaluation && double.IsFinite(r.Loss)).ToArray();
        var evals = records.Where(r => r.IsEvaluation).ToArray();
        if (steps.Length > 0)
        {
            var loss = plot.Add.ScatterLine(steps.Select(r => (double)r.Step).ToArray(), steps.Select(r => r.Loss).ToArray());
            loss.LegendText = "training loss";
            loss.Color = ScottPlot.Colors.Blue;
        }
        if (evals.Length > 0)
        {
            var xs = evals.Select(r => (double)r.Step).ToArray();
            var micro = plot.Add.ScatterLine(xs, evals.Select(r => r.Accuracy!.Value).ToArray());
            micro.LegendText = "test accuracy (micro)";
            micro.Color = ScottPlot.Colors.Green;
            micro.Axes.YAxis = plot.Axes.Right;
            var macro = plot.Add.ScatterLine(xs, evals.Select(r => r.MacroAccuracy!.Value).ToArray());
            macro.LegendText = "test accuracy (macro, MAD)";
            macro.Color = ScottPlot.Colors.Orange;
            macro.Axes.YAxis = plot.Axes.Right;
        }
        plot.Title($"{task.Name}: {task.Describe()}");
        plot.XLabel("step");
        plot.YLabel("loss");
        plot.Axes.Right.Label.Text = "accuracy";
        plot.ShowLegend();
        OutputFile.Write(path, temp => plot.SavePng(temp, 900, 500), "--out");
    }
}
