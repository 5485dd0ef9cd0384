using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Reference.Experiments;

namespace Reference.Cli.Commands;

/// <summary>
/// `reference experiment NAME [--preset small|large] [--seed N] [--seeds K] [--out DIR] [--resume]`: runs
/// one of the ESS experiments (src/Reference.Experiments, docs/experiments.md) on seeds N .. N + K - 1 and
/// writes result.json, verdict.txt and PNG figures into --out; every finished unit (trained model) is
/// kept in --out/units, and --resume computes only the units a killed run had not finished. `--list` prints the experiments and
/// their claims. Progress is plain lines. Bad input is one line and exit 2, before anything runs.
/// </summary>
public static class ExperimentCommand
{
    public static Command Create()
    {
        var name = new Argument<string?>("NAME") { Description = "The experiment (see --list).", Arity = ArgumentArity.ZeroOrOne };
        var list = new Option<bool>("--list") { Description = "List the experiments and the claims they check.", Arity = ArgumentArity.Zero };
        var preset = new Option<string>("--preset")
        {
            Description = "small: minutes on 2 cores; large: sized for a bigger machine or a Slurm job (hours on 2 cores).",
            DefaultValueFactory = _ => "small", HelpName = "small|large",
        };
        var seed = new Option<ulong>("--seed") { Description = "First seed.", DefaultValueFactory = _ => 0UL, HelpName = "N" };
        var seeds = new Option<int>("--seeds") { Description = "Number of seeds (N, N + 1, ...); every number is reported with its spread over them.", DefaultValueFactory = _ => 3, HelpName = "K" };
        var outDir = new Option<string?>("--out") { Description = "Output directory (default: experiments/NAME).", HelpName = "DIR" };
        var threads = new Option<int>("--threads")
        {
            Description = "Workers: independent models train in parallel, each on one thread; the results do not depend on it (0: all cores).",
            DefaultValueFactory = _ => 0, HelpName = "N",
        };
        var resume = new Option<bool>("--resume")
        {
            Description = "Read the units (trained models) a killed run finished back from --out/units and compute only the rest; the result equals an uninterrupted run's.",
            Arity = ArgumentArity.Zero,
        };
        var scale = new Option<double>("--budget-scale") { Description = "Scales training steps and data sizes, in (0, 1] (quick looks).", DefaultValueFactory = _ => 1.0, HelpName = "X" };
        var command = new Command("experiment", "Run an ESS experiment of the paper (arXiv:2504.19561) on a CPU and report whether its claim reproduces.")
        {
            name, list, preset, seed, seeds, outDir, threads, scale, resume,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(list))
            {
                foreach (var e in ExperimentCatalog.All) output.WriteLine($"{e.Name,-16}{e.Claim}");
                return ExitCodes.Success;
            }
            string? experimentName = parse.GetValue(name);
            if (string.IsNullOrEmpty(experimentName))
                throw new CliException($"experiment: give an experiment NAME (one of {string.Join(", ", ExperimentCatalog.Names)}) or --list.");
            IEssExperiment experiment;
            try { experiment = ExperimentCatalog.Find(experimentName); }
            catch (ArgumentException e) { throw new CliException(Strip(e)); }
            var presetValue = parse.GetValue(preset) switch
            {
                "small" => Preset.Small,
                "large" => Preset.Large,
                var p => throw new CliException($"--preset must be small or large, got '{p}'."),
            };
            int count = parse.GetValue(seeds);
            if (count < 1 || count > 1000) throw new CliException($"--seeds must be in [1, 1000], got {count}.");
            ulong first = parse.GetValue(seed);
            if (first > ulong.MaxValue - (ulong)count) throw new CliException($"--seed {first} + --seeds {count} overflows.");
            string dir = parse.GetValue(outDir) ?? Path.Combine("experiments", experiment.Name);
            string? parent = Path.GetDirectoryName(Path.GetFullPath(dir));
            if (parent is null || !Directory.Exists(parent)) throw new CliException($"--out: the parent of '{dir}' does not exist.");
            if (File.Exists(dir)) throw new CliException($"--out: '{dir}' is a file, not a directory.");
            var options = new ExperimentOptions(presetValue, [.. Enumerable.Range(0, count).Select(i => first + (ulong)i)], dir, parse.GetValue(threads),
                parse.GetValue(scale), new Progress(output), parse.GetValue(resume));
            try { options.Validate(); }
            catch (ArgumentException e) { throw new CliException("--" + (e.ParamName ?? "option").Replace('_', '-') + ": " + Strip(e)); }
            output.WriteLine($"experiment {experiment.Name} ({parse.GetValue(preset)}, seeds {string.Join(" ", options.Seeds)}): {experiment.Claim}");
            var clock = Stopwatch.StartNew();
            ExperimentReport report;
            try { report = experiment.Run(options, CancellationToken.None); }
            catch (InvalidDataException e) { throw new CliException($"--resume: {e.Message.ReplaceLineEndings(" ")}", ExitCodes.Integrity); }
            try { ExperimentWriter.Write(report, options); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CliException($"--out: {e.Message.ReplaceLineEndings(" ")}"); }
            output.WriteLine($"measured: {report.Measured}");
            output.WriteLine($"verdict: {Verdicts.Text(report.Verdict)}");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wall time {clock.Elapsed.TotalSeconds:F1} s; out: {dir}"));
            return ExitCodes.Success;
        });
        return command;
    }

    private static string Strip(ArgumentException e) => e.ParamName is { } p ? e.Message.Replace($" (Parameter '{p}')", "", StringComparison.Ordinal) : e.Message;

    /// <summary>Progress lines written as they come (synchronously: System.Progress would post them to the thread pool).</summary>
    private sealed class Progress(TextWriter output) : IProgress<string>
    {
        public void Report(string value)
        {
            lock (output) output.WriteLine(value);
        }
    }
}
