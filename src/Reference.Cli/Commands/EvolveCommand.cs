using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Star;
using Spectre.Console;

namespace Reference.Cli.Commands;

/// <summary>
/// `reference evolve`: STAR's evolution (src/Reference.Star/Evolution.cs) of LIV genomes under any subset
/// of quality, params and cache. Writes into --out: evaluations.jsonl (every evaluation, as it ends),
/// log.jsonl (one object per generation: hypervolume, front), checkpoint.json (atomic, per generation),
/// front-GGG.png (the population and its first front per generation), motifs.txt. `--resume` continues
/// after a kill, evaluating no genome twice. Executors: local (thread pool) or slurm (sbatch --array).
/// </summary>
public static class EvolveCommand
{
    public static Command Create()
    {
        var population = new Option<int>("--population") { Description = "Genomes per generation.", DefaultValueFactory = _ => 16, HelpName = "N" };
        var generations = new Option<int>("--generations") { Description = "Generations after the initial one.", DefaultValueFactory = _ => 18, HelpName = "N" };
        var depth = new Option<int>("--depth") { Description = "LIVs per genome (the paper: 24).", DefaultValueFactory = _ => 8, HelpName = "N" };
        var pool = new Option<string>("--pool") { Description = "LIV classes allowed, names or ids, comma separated (default: all 17).", HelpName = "LIST" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the evolution and of every evaluation.", DefaultValueFactory = _ => 0UL, HelpName = "N" };
        var crossover = new Option<int>("--crossover-points") { Description = "k of k-point crossover.", DefaultValueFactory = _ => 2, HelpName = "K" };
        var mutation = new Option<double>("--mutation") { Description = "Per-locus mutation probability.", DefaultValueFactory = _ => 0.1, HelpName = "P" };
        var executor = new Option<string>("--executor") { Description = "local (thread pool) or slurm (sbatch --array per generation).", DefaultValueFactory = _ => "local", HelpName = "local|slurm" };
        var workers = new Option<int>("--workers") { Description = "Local executor workers (0: one per core).", DefaultValueFactory = _ => 0, HelpName = "N" };
        var inProcess = new Option<bool>("--in-process") { Description = "Local executor: evaluate on threads of this process instead of one child process per worker (whose garbage collections do not stop the other workers).", Arity = ArgumentArity.Zero };
        var retries = new Option<int>("--retries") { Description = "Extra attempts of a failed or timed-out evaluation before it is marked failed.", DefaultValueFactory = _ => 2, HelpName = "N" };
        var timeLimit = new Option<int>("--time-limit") { Description = "Minutes an evaluation may run (Slurm --time; local timeout).", DefaultValueFactory = _ => 10, HelpName = "MIN" };
        var sbatch = new Option<string>("--sbatch-options") { Description = "Extra sbatch options, e.g. \"--partition=debug\".", DefaultValueFactory = _ => "", HelpName = "TEXT" };
        var outDir = new Option<string>("--out") { Description = "Output directory.", DefaultValueFactory = _ => "evolve-out", HelpName = "DIR" };
        var resume = new Option<bool>("--resume") { Description = "Continue the evolution in --out.", Arity = ArgumentArity.Zero };
        var settingOptions = EvaluationOptions.Create();
        var command = new Command("evolve", "Evolve STAR genomes of LIVs with NSGA-II under quality, params and cache (checkpoints, --resume, local or Slurm executor).")
        {
            population, generations, depth, pool, seed, crossover, mutation, executor, workers, inProcess, retries, timeLimit, sbatch, outDir, resume,
        };
        foreach (var o in settingOptions.All) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            IExecutor? exec = null;
            try
            {
                var settings = settingOptions.Settings(parse, parse.GetValue(seed));
                var options = new EvolutionOptions(parse.GetValue(population), parse.GetValue(generations), parse.GetValue(depth),
                    ParsePool(parse.GetValue(pool)), parse.GetValue(crossover), parse.GetValue(mutation), parse.GetValue(seed));
                string dir = parse.GetValue(outDir)!;
                string? parent = Path.GetDirectoryName(Path.GetFullPath(dir));
                if (parent is null || !Directory.Exists(parent)) throw new CliException($"--out: the parent of '{dir}' does not exist.");
                var timeline = new Timeline();
                var plots = new List<Task>();
                exec = parse.GetValue(executor) switch
                {
                    "local" => new LocalExecutor(parse.GetValue(workers), parse.GetValue(retries), TimeSpan.FromMinutes(parse.GetValue(timeLimit)))
                    {
                        Timeline = timeline, WorkerCommand = parse.GetValue(inProcess) ? null : SelfCommand(),
                    },
                    "slurm" => new SlurmExecutor(SelfCommand(), parse.GetValue(retries), parse.GetValue(timeLimit), null, parse.GetValue(sbatch) ?? ""),
                    var e => throw new CliException($"--executor must be local or slurm, got '{e}'."),
                };
                int total = options.Population * (options.Generations + 1), done = 0;
                var clock = System.Diagnostics.Stopwatch.StartNew();
                // A Spectre.Console bar on a terminal; plain lines when the output is redirected (as `reference train`).
                bool plain = Console.IsOutputRedirected || !ReferenceEquals(output, Console.Out);
                ProgressTask? bar = null;
                void Say(string line)
                {
                    if (bar is null) output.WriteLine(line);
                    else AnsiConsole.WriteLine(line);
                }
                var evolution = new Evolution(options, settings, exec, dir)
                {
                    Timeline = timeline,
                    OnEvaluation = r =>
                    {
                        int n = Interlocked.Increment(ref done);
                        string line = string.Create(CultureInfo.InvariantCulture,
                            $"  eval {n,4}  {(r.Failed ? "FAILED " + r.Error : GenomeEvaluator.Describe(r))}  ({r.Seconds:F1} s)  {r.Genome}");
                        if (bar is null) output.WriteLine(line);
                        else bar.Increment(1);
                    },
                    OnGeneration = g =>
                    {
                        double hours = clock.Elapsed.TotalHours;
                        double rate = hours > 0 ? done / hours : 0;
                        Say(string.Create(CultureInfo.InvariantCulture,
                            $"generation {g.Generation,3}/{options.Generations}  hypervolume {g.Hypervolume:F4}  front {g.Front.Count}  evaluated {g.Evaluated}  reused {g.Reused}  failed {g.Failed}  {g.Seconds:F1} s  ({rate:F0} evaluations/h)"));
                        // Drawn beside the next generation's evaluations rather than between generations, where both workers would wait.
                        plots.Add(Task.Run(() => FrontPlot.Save(Path.Combine(dir, $"front-{g.Generation:D3}.png"), g, settings.Objectives)));
                        if (exec is SlurmExecutor s && s.Rounds.Count > 0)
                        {
                            var last = s.Rounds[^1];
                            Say(string.Create(CultureInfo.InvariantCulture, $"  slurm: submit to last result {last.Wall:F1} s, slowest task {last.SlowestTask:F1} s, overhead {last.Wall - last.SlowestTask:F1} s"));
                        }
                        if (bar is not null)
                        {
                            // Generations restored by --resume count as done.
                            bar.Value = Math.Max(bar.Value, (g.Generation + 1.0) * options.Population);
                            bar.Description = string.Create(CultureInfo.InvariantCulture,
                                $"generation {g.Generation}/{options.Generations}  hypervolume {g.Hypervolume:F4}  front {g.Front.Count}  {rate:F0} eval/h");
                        }
                    },
                };
                output.WriteLine($"evolve: population {options.Population}, generations {options.Generations}, depth {options.Depth}, objectives {string.Join(",", settings.Objectives)}, executor {exec.Name}, out {dir}");
                IReadOnlyList<EvaluationResult> final = [];
                if (plain) (_, final) = evolution.Run(parse.GetValue(resume));
                else
                    AnsiConsole.Progress()
                        .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                        .Start(ctx =>
                        {
                            bar = ctx.AddTask("generation 0: evaluating", maxValue: total);
                            (_, final) = evolution.Run(parse.GetValue(resume));
                            bar.Value = total;
                        });
                bar = null;
                try { Task.WaitAll(plots); }
                catch (AggregateException e) { System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]); }   // the first plot's own error (a CliException for --out)
                var f = final.Select(r => r.Vector(settings.Objectives)).ToList();
                var front = Nsga2.FastNonDominatedSort(f)[0].Select(i => final[i].Genome).ToList();
                string motifs = "final front:\n" + string.Join('\n', Nsga2.FastNonDominatedSort(f)[0].Select(i => $"  {GenomeEvaluator.Describe(final[i])}  {final[i].Genome}"))
                    + "\nmotifs of the final front:\n" + Motifs.Summarize(front);
                OutputFile.WriteAllText(Path.Combine(dir, "motifs.txt"), motifs + "\n", "--out");
                output.WriteLine(motifs);
                double wall = clock.Elapsed.TotalSeconds;
                var (user, system) = timeline.ProcessCpu;
                if (exec is LocalExecutor local)
                {
                    // The worker processes' CPU time counts too (they are ended first, so their last report is final).
                    local.Dispose();
                    (user, system) = (user + local.ChildCpu.User, system + local.ChildCpu.System);
                }
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"evaluations run by this process: {evolution.EvaluationsRun} in {wall:F1} s ({evolution.EvaluationsRun / wall * 3600:F0} evaluations/h); CPU {user:F1} s user + {system:F1} s system = {(user + system) / wall:F2} cores"));
                output.WriteLine(timeline.Summary());
                OutputFile.WriteAllText(Path.Combine(dir, "timeline.jsonl"), timeline.ToJsonLines(), "--out");
                return ExitCodes.Success;
            }
            catch (ArgumentException e) { throw new CliException(e.ParamName is { } name ? e.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : e.Message); }
            catch (InvalidDataException e) { throw new CliException(e.Message, ExitCodes.Integrity); }
            finally { (exec as IDisposable)?.Dispose(); }   // ends the local executor's worker processes
        });
        return command;
    }

    internal static IReadOnlyList<int>? ParsePool(string? text) => string.IsNullOrWhiteSpace(text) ? null
        : [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(n => LivCatalog.Parse(n).Id)];

    /// <summary>The command line that runs this CLI again (on Slurm nodes sharing this file system).</summary>
    internal static string SelfCommand()
    {
        string dll = typeof(EvolveCommand).Assembly.Location;
        string host = Path.Combine(Path.GetDirectoryName(dll)!, "reference");
        return File.Exists(host) ? $"\"{host}\"" : $"dotnet \"{dll}\"";
    }
}

/// <summary>The evaluation settings as options (shared by evolve and evaluate).</summary>
public sealed class EvaluationOptions
{
    public required Option<string> Objectives { get; init; }
    public required Option<string> Task { get; init; }
    public required Option<string[]> TaskOptions { get; init; }
    public required Option<int> Width { get; init; }
    public required Option<int> Heads { get; init; }
    public required Option<int> Steps { get; init; }
    public required Option<int> Batch { get; init; }
    public required Option<double> Lr { get; init; }
    public required Option<int> CacheLength { get; init; }
    public required Option<int> EvalSamples { get; init; }

    public IEnumerable<Option> All => [Objectives, Task, TaskOptions, Width, Heads, Steps, Batch, Lr, CacheLength, EvalSamples];

    public static EvaluationOptions Create() => new()
    {
        Objectives = new("--objectives") { Description = "Objectives, comma separated: any of quality, params, cache.", DefaultValueFactory = _ => "quality,params,cache", HelpName = "LIST" },
        Task = new("--task") { Description = "Synthetic task of the quality objective.", DefaultValueFactory = _ => "mqar", HelpName = "NAME" },
        TaskOptions = new("--task-option") { Description = "Task setting KEY=VALUE (repeatable).", HelpName = "KEY=VALUE" },
        Width = new("--width") { Description = "Model width D.", DefaultValueFactory = _ => 16, HelpName = "D" },
        Heads = new("--heads") { Description = "Heads; must divide the width (SA-3 in the pool needs a multiple of 4, SA-4 of 2).", DefaultValueFactory = _ => 4, HelpName = "H" },
        Steps = new("--steps") { Description = "Training steps of the quality objective.", DefaultValueFactory = _ => 40, HelpName = "N" },
        Batch = new("--batch") { Description = "Training batch.", DefaultValueFactory = _ => 16, HelpName = "N" },
        Lr = new("--lr") { Description = "AdamW peak learning rate.", DefaultValueFactory = _ => 3e-3, HelpName = "RATE" },
        CacheLength = new("--cache-length") { Description = "Prefix length L of the cache objective.", DefaultValueFactory = _ => 1024, HelpName = "L" },
        EvalSamples = new("--eval-samples") { Description = "Held-out sequences scored by the quality objective.", DefaultValueFactory = _ => 128, HelpName = "N" },
    };

    public EvaluationSettings Settings(ParseResult parse, ulong seed)
    {
        var options = new Dictionary<string, string>
        {
            // Small defaults so a short run trains in seconds; --task-option overrides each.
            ["vocab"] = "32", ["length"] = "16", ["pairs"] = "2", ["train"] = "2000", ["test"] = "200",
        };
        string task = parse.GetValue(Task)!;
        if (task != "mqar") options.Clear();
        foreach (var item in parse.GetValue(TaskOptions) ?? [])
        {
            int eq = item.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new CliException($"--task-option must be KEY=VALUE, got '{item}'.");
            options[item[..eq]] = item[(eq + 1)..];
        }
        var s = new EvaluationSettings(
            [.. parse.GetValue(Objectives)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)],
            task, options, parse.GetValue(Width), parse.GetValue(Heads), parse.GetValue(Steps), parse.GetValue(Batch), parse.GetValue(Lr), seed,
            parse.GetValue(CacheLength), parse.GetValue(EvalSamples));
        s.Validate();
        s.CreateTask();
        return s;
    }
}

/// <summary>
/// `reference evaluate GENOME.json`: one genome's objectives as a self-contained job (genome JSON in,
/// result JSON out), what the executors run. --settings takes an evolution's settings.json; otherwise the
/// evaluation options apply. --fault (tests of the executors) makes the job fail on purpose. GENOME.json "-"
/// serves jobs read from stdin, one per line, until it ends: the local executor's worker process
/// (<see cref="EvaluationServer"/> holds the protocol).
/// </summary>
public static class EvaluateCommand
{
    public static Command Create()
    {
        var genome = new Argument<string>("GENOME.json") { Description = "Genome JSON ({\"genes\": [[class, fgroup, fstrategy, group, strategy], ...]}); \"-\": serve jobs from stdin (the local executor's worker process)." };
        var kernelThreads = new Option<int>("--kernel-threads") { Description = "Threads of the kernels inside an evaluation (0: every core).", DefaultValueFactory = _ => 0, HelpName = "N", Hidden = true };
        var settingsFile = new Option<string>("--settings") { Description = "Evaluation settings JSON (an evolution's jobs/gen-*/settings.json).", HelpName = "FILE" };
        var outFile = new Option<string>("--out") { Description = "Result JSON file (written atomically; default: stdout).", HelpName = "FILE" };
        var seed = new Option<ulong>("--seed") { Description = "Seed (without --settings).", DefaultValueFactory = _ => 0UL, HelpName = "N" };
        var repair = new Option<bool>("--repair") { Description = "Repair an invalid genome instead of refusing it.", Arity = ArgumentArity.Zero };
        var fault = new Option<string>("--fault") { Description = "Testing: exit1 (exit 1), noresult (exit 0 without writing), hang (never end).", HelpName = "KIND", Hidden = true };
        var settingOptions = EvaluationOptions.Create();
        var command = new Command("evaluate", "Evaluate one STAR genome (genome JSON in, result JSON out): quality, params, cache.") { genome, settingsFile, outFile, seed, repair, fault, kernelThreads };
        foreach (var o in settingOptions.All) command.Options.Add(o);
        command.SetAction(parse =>
        {
            switch (parse.GetValue(fault))
            {
                case null: break;
                case "exit1": return ExitCodes.CheckFailed;
                case "noresult": return ExitCodes.Success;
                case "hang": Thread.Sleep(Timeout.Infinite); break;
                case var f: throw new CliException($"--fault must be exit1, noresult or hang, got '{f}'.");
            }
            int threads = parse.GetValue(kernelThreads);
            if (threads < 0) throw new CliException($"--kernel-threads must be >= 0, got {threads}.");
            if (threads == 0) threads = Environment.ProcessorCount;
            if (parse.GetValue(genome) == "-") return EvaluationServer.Serve(Console.In, parse.InvocationConfiguration.Output, threads);
            try
            {
                using var share = KernelThreads.Limit(threads);
                string path = parse.GetValue(genome)!;
                if (!File.Exists(path)) throw new CliException($"GENOME.json: file '{path}' does not exist.");
                var g = Genome.ParseJson(File.ReadAllText(path));
                EvaluationSettings settings;
                if (parse.GetValue(settingsFile) is { } sf)
                {
                    if (!File.Exists(sf)) throw new CliException($"--settings: file '{sf}' does not exist.");
                    settings = EvaluationSettings.FromJson(JsonNode.Parse(File.ReadAllText(sf)));
                }
                else settings = settingOptions.Settings(parse, parse.GetValue(seed));
                var space = new GenomeSpace(g.Depth);
                var repaired = space.Repair(g);
                if (!repaired.Equals(g))
                {
                    if (!parse.GetValue(repair)) throw new CliException($"GENOME.json: genome {g} is not valid (repair gives {repaired}; pass --repair to evaluate that).");
                    g = repaired;
                }
                var result = GenomeEvaluator.Evaluate(g, settings);
                string json = result.ToJson().ToJsonString();
                if (parse.GetValue(outFile) is { } o) OutputFile.WriteAllText(o, json + "\n", "--out");
                else parse.InvocationConfiguration.Output.WriteLine(json);
                return ExitCodes.Success;
            }
            catch (ArgumentException e) { throw new CliException(e.ParamName is { } name ? e.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : e.Message); }
            catch (System.Text.Json.JsonException e) { throw new CliException($"invalid JSON: {e.Message}"); }
        });
        return command;
    }
}

/// <summary>The population (gray) and its first front (red) in the first two objectives, as a PNG written atomically.</summary>
public static class FrontPlot
{
    public static void Save(string path, GenerationRecord g, IReadOnlyList<string> objectives)
    {
        var plot = new ScottPlot.Plot();
        var f = g.Population.Select(r => r.Vector(objectives)).Where(v => v.All(double.IsFinite)).ToArray();
        var front = g.Front.Select(i => g.Population[i].Vector(objectives)).Where(v => v.All(double.IsFinite)).ToArray();
        int x = 0, y = objectives.Count > 1 ? 1 : 0;
        if (f.Length > 0)
        {
            var all = plot.Add.ScatterPoints(f.Select(v => v[x]).ToArray(), f.Select(v => v[y]).ToArray());
            all.Color = ScottPlot.Colors.Gray;
            all.LegendText = "population";
        }
        if (front.Length > 0)
        {
            var fr = plot.Add.ScatterPoints(front.Select(v => v[x]).ToArray(), front.Select(v => v[y]).ToArray());
            fr.Color = ScottPlot.Colors.Red;
            fr.MarkerSize = 9;
            fr.LegendText = "first front";
        }
        plot.Title(string.Create(CultureInfo.InvariantCulture, $"generation {g.Generation}: hypervolume {g.Hypervolume:F4}"));
        plot.XLabel(objectives[x]);
        plot.YLabel(objectives[y]);
        plot.ShowLegend();
        OutputFile.Write(path, temp => plot.SavePng(temp, 700, 500), "--out");
    }
}
