using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Reference.Core.IO;
using Reference.Ess;
using Reference.Operators;

namespace Reference.Cli.Commands;

/// <summary>
/// `reference ess`: effective state size of a seeded random operator instance, per split and
/// channel, with aggregates; optional JSON, CSV and a PNG plot of ESS vs split with the TSS line.
/// </summary>
public static class EssCommand
{
    private static readonly string[] Modes = ["tolerance", "entropy"];
    private static readonly string[] Discretizations = ["zoh", "bilinear"];

    public static Command Create()
    {
        var op = new Option<string>("--operator") { Description = $"Operator: {string.Join(", ", EssOperatorCatalog.Names)} (or --checkpoint).", HelpName = "NAME" };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "ESS of a model trained by `reference train` on --input (instead of --operator): the tensor [batch, layers, channels, splits].", HelpName = "CKPT" };
        var input = new Option<string[]>("--input") { Description = "With --checkpoint: one input sequence (token ids separated by spaces or commas, or text for a text-task model); repeat for a batch of equal lengths.", HelpName = "IDS", AllowMultipleArgumentsPerToken = false };
        var length = new Option<int>("--length") { Description = "Sequence length L (>= 2).", DefaultValueFactory = _ => 64, HelpName = "L" };
        var channels = new Option<int>("--channels") { Description = "Channels C (attention uses --heads: one matrix per head).", DefaultValueFactory = _ => 4, HelpName = "C" };
        var mode = new Option<string>("--mode") { Description = "tolerance (numerical rank) or entropy.", DefaultValueFactory = _ => "tolerance", HelpName = "tolerance|entropy" };
        var tolerance = new Option<double>("--tolerance") { Description = "tau (relative to sigma_1 unless --absolute).", DefaultValueFactory = _ => EffectiveStateSize.DefaultTolerance, HelpName = "TAU" };
        var absolute = new Option<bool>("--absolute") { Description = "tau is an absolute threshold on the singular values (default: relative to sigma_1).", Arity = ArgumentArity.Zero };
        var seed = new Option<ulong>("--seed") { Description = "SplitMix64 seed of the instance.", DefaultValueFactory = _ => 0UL, HelpName = "N" };
        var taps = new Option<int>("--taps") { Description = "conv.causal: taps k.", DefaultValueFactory = _ => 4, HelpName = "K" };
        var state = new Option<int>("--state") { Description = "state-space operators: real state size N (even for ssm.s4d and ssm.h3: N/2 complex modes).", DefaultValueFactory = _ => 16, HelpName = "N" };
        var discretization = new Option<string>("--discretization") { Description = "ssm.s4d and ssm.h3: zoh or bilinear.", DefaultValueFactory = _ => "zoh", HelpName = "zoh|bilinear" };
        var heads = new Option<int>("--heads") { Description = "attention-style operators: heads H (one matrix per head).", DefaultValueFactory = _ => 1, HelpName = "H" };
        var keyDim = new Option<int>("--key-dim") { Description = "attention-style operators: key dimension K.", DefaultValueFactory = _ => 16, HelpName = "K" };
        var json = new Option<string?>("--json") { Description = "Write the result as JSON to FILE.", HelpName = "FILE" };
        var csv = new Option<string?>("--csv") { Description = "Write ESS per split as CSV to FILE.", HelpName = "FILE" };
        var plot = new Option<string?>("--plot") { Description = "Plot ESS vs split with the TSS line to FILE.png.", HelpName = "FILE.png" };
        var maxMemory = MemoryBudget.Option();
        var command = new Command("ess", "Effective state size (arXiv:2504.19561) of a seeded random operator instance, per split.")
        {
            op, length, channels, mode, tolerance, absolute, seed, taps, state, discretization, heads, keyDim, json, csv, plot, maxMemory, checkpoint, input,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(checkpoint) is string ckpt)
            {
                if (parse.GetValue(op) is not null) throw new CliException("--operator and --checkpoint exclude each other: give one.");
                string modeText = parse.GetValue(mode)!;
                if (!Modes.Contains(modeText)) throw new CliException($"--mode must be tolerance or entropy, got '{modeText}'.");
                double tauValue = parse.GetValue(tolerance);
                if (!double.IsFinite(tauValue) || tauValue < 0) throw new CliException($"--tolerance must be finite and >= 0, got {tauValue}.");
                var essOptions = new EssOptions(modeText == "entropy" ? EssMode.Entropy : EssMode.Tolerance, tauValue, !parse.GetValue(absolute));
                return ModelEssCommand.Run(ckpt, parse.GetValue(input) ?? [], essOptions, parse.GetValue(json), output, parse.InvocationConfiguration.Error);
            }
            if (parse.GetValue(input) is { Length: > 0 }) throw new CliException("--input needs --checkpoint (the model whose ESS it measures).");
            string name = parse.GetValue(op) ?? throw new CliException($"give --operator NAME (one of {string.Join(", ", EssOperatorCatalog.Names)}) or --checkpoint CKPT --input IDS.");
            if (!EssOperatorCatalog.Names.Contains(name))
                throw new CliException($"--operator '{name}' is not available; expected one of {string.Join(", ", EssOperatorCatalog.Names)}.");
            int l = parse.GetValue(length);
            if (l < 2) throw new CliException($"--length must be >= 2 (ESS needs a split), got {l}.");
            int c = parse.GetValue(channels);
            if (c < 1) throw new CliException($"--channels must be >= 1, got {c}.");
            string modeName = parse.GetValue(mode)!;
            if (!Modes.Contains(modeName)) throw new CliException($"--mode must be tolerance or entropy, got '{modeName}'.");
            double tau = parse.GetValue(tolerance);
            if (!double.IsFinite(tau) || tau < 0) throw new CliException($"--tolerance must be finite and >= 0, got {tau}.");
            int k = parse.GetValue(taps);
            if (k < 1) throw new CliException($"--taps must be >= 1, got {k}.");
            int n = parse.GetValue(state);
            if (n < 1) throw new CliException($"--state must be >= 1, got {n}.");
            string disc = parse.GetValue(discretization)!;
            if (!Discretizations.Contains(disc)) throw new CliException($"--discretization must be zoh or bilinear, got '{disc}'.");
            int h = parse.GetValue(heads);
            if (h < 1) throw new CliException($"--heads must be >= 1, got {h}.");
            int kd = parse.GetValue(keyDim);
            if (kd < 1) throw new CliException($"--key-dim must be >= 1, got {kd}.");
            string? plotPath = parse.GetValue(plot);
            if (plotPath is not null && !plotPath.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
                throw new CliException($"--plot must name a .png file, got '{plotPath}'.");

            MemoryBudget.Check(RequiredBytes(l, c, k, n, h, kd), MemoryBudget.Parse(parse.GetValue(maxMemory)),
                $"ess --operator {name} with L = {l}, C = {c}{(h > 1 ? $", H = {h}" : "")}");

            var options = new EssOptions(modeName == "entropy" ? EssMode.Entropy : EssMode.Tolerance, tau, !parse.GetValue(absolute));
            EssInstance instance;
            try
            {
                instance = EssOperatorCatalog.Create(name, new SampleOptions(l, c, parse.GetValue(seed), k, n, disc, h, kd));
            }
            catch (ArgumentException e)
            {
                // The sample's message names the setting (State, Heads, ...), which is the option of the same name.
                string reason = e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
                throw new CliException($"--operator {name}: {reason}");
            }
            var error = parse.InvocationConfiguration.Error;
            var profile = EssProfile.Of(instance, options, progress: Progress(error, instance.Realizations is null ? "dense path, (matrix, split) pairs" : "factored path, channels"));

            WriteSummary(output, instance, options, profile);
            if (parse.GetValue(json) is string jsonPath)
                OutputFile.WriteAllText(jsonPath, ToJson(instance, options, profile, parse.GetValue(seed)), "--json", error);
            if (parse.GetValue(csv) is string csvPath) OutputFile.WriteAllText(csvPath, ToCsv(profile), "--csv", error);
            if (plotPath is not null) EssPlot.Save(plotPath, instance, options, profile, error);
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>
    /// An estimate of the peak memory in bytes (float64 throughout): the operator matrices, one per
    /// channel or head (C' = max(C, H)), twice for the materialization's temporaries; the sample's
    /// parameters and inputs (taps, state, keys and queries); per thread, the dense path's largest
    /// split block and the factored path's (L + 2) N x N Gram factors. Every option counts, whether
    /// the operator uses it or not, so the estimate errs high.
    /// </summary>
    internal static double RequiredBytes(int length, int channels, int taps, int state, int heads, int keyDim)
    {
        double l = length, matrices = Math.Max(channels, heads), n = state, threads = Environment.ProcessorCount;
        double elements = 2 * matrices * l * l
            + matrices * (taps + 4 * n + 3 * l * keyDim + 4 * l)
            + threads * (l * l / 4 + 4 * l + (l + 2) * n * n + 4 * n);
        return 8 * elements;
    }

    /// <summary>
    /// Progress on stderr for long work: nothing for the first 2 seconds, then a line at most every
    /// 5 seconds ("ess: 1234/4095 dense path, (matrix, split) pairs (30 %), 12 s").
    /// </summary>
    private static Action<int, int> Progress(TextWriter error, string what)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        double next = 2;
        var gate = new object();
        return (done, total) =>
        {
            double seconds = clock.Elapsed.TotalSeconds;
            if (seconds < next) return;
            lock (gate)
            {
                if (seconds < next) return;
                next = seconds + 5;
                error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ess: {done}/{total} {what} ({100.0 * done / total:F0} %), {seconds:F0} s"));
            }
        };
    }

    private static void WriteSummary(TextWriter output, EssInstance instance, EssOptions options, EssProfile profile)
    {
        int l = instance.Matrices.Dim(-1), c = instance.Matrices.Dim(0);
        string parameters = string.Join(", ", instance.Parameters.Select(p => $"{p.Key} = {p.Value}"));
        output.WriteLine($"operator        {instance.Operator} ({parameters}), L = {l}, C = {c}");
        output.WriteLine($"metric          {options}");
        output.WriteLine($"path            {(profile.Factored ? "factored (N x N Gram square roots)" : "dense (singular values of every H_s)")}");
        output.WriteLine(FormattableString.Invariant($"ESS mean        {profile.MeanEss:F3} (over channels and splits)"));
        output.WriteLine(FormattableString.Invariant($"ESS max         {profile.MaxEss:F3}"));
        output.WriteLine(FormattableString.Invariant($"utilization     {profile.Utilization:F3} (mean ESS / per-channel TSS)"));
        output.WriteLine("split   TSS      ESS(mean over channels)");
        int stride = Math.Max(1, (int)Math.Ceiling(profile.Splits.Length / 16.0));
        for (int k = 0; k < profile.Splits.Length; k += stride)
            output.WriteLine(FormattableString.Invariant($"{profile.Splits[k],5}   {profile.Capacity[k],-8:G6} {profile.Mean[k]:F3}"));
    }

    internal static string ToJson(EssInstance instance, EssOptions options, EssProfile profile, ulong seed)
    {
        int c = profile.PerChannel.Dim(0), s = profile.Splits.Length;
        var perChannel = Enumerable.Range(0, c).Select(ch => profile.PerChannel.Data.AsSpan(ch * s, s).ToArray()).ToArray();
        var document = new Dictionary<string, object?>
        {
            ["operator"] = instance.Operator,
            ["parameters"] = instance.Parameters,
            ["length"] = instance.Matrices.Dim(-1),
            ["channels"] = c,
            ["seed"] = seed,
            ["mode"] = options.Mode == EssMode.Entropy ? "entropy" : "tolerance",
            ["tolerance"] = options.Tolerance,
            ["relative"] = options.Relative,
            ["path"] = profile.Factored ? "factored" : "dense",
            ["tss"] = profile.Capacity,
            ["splits"] = profile.Splits,
            ["ess"] = profile.Mean,
            ["ess_per_channel"] = perChannel,
            ["ess_mean"] = profile.MeanEss,
            ["ess_max"] = profile.MaxEss,
            ["utilization"] = profile.Utilization,
        };
        return JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true });
    }

    internal static string ToCsv(EssProfile profile)
    {
        int c = profile.PerChannel.Dim(0), s = profile.Splits.Length;
        var text = new StringBuilder("split,tss,ess");
        for (int ch = 0; ch < c; ch++) text.Append(CultureInfo.InvariantCulture, $",ess_c{ch}");
        text.Append('\n');
        for (int k = 0; k < s; k++)
        {
            text.Append(CultureInfo.InvariantCulture, $"{profile.Splits[k]},{profile.Capacity[k]:R},{profile.Mean[k]:R}");
            for (int ch = 0; ch < c; ch++) text.Append(CultureInfo.InvariantCulture, $",{profile.PerChannel.Data[ch * s + k]:R}");
            text.Append('\n');
        }
        return text.ToString();
    }
}

/// <summary>
/// Output files of CLI verbs: written atomically (Core's AtomicFile), with errors that name the option.
/// </summary>
public static class OutputFile
{
    /// <summary>Writes the text and, when <paramref name="report"/> is given, says there where it went ("wrote --json /abs/path").</summary>
    public static void WriteAllText(string path, string contents, string option, TextWriter? report = null) =>
        Write(path, (Action<string>)(temp => File.WriteAllText(temp, contents)), option, report);

    /// <summary>
    /// Writes through a temporary sibling and a rename (special files in place: see AtomicFile);
    /// a missing directory, a directory or an unwritable place is a one-line usage error naming
    /// <paramref name="option"/>.
    /// </summary>
    public static void Write(string path, Action<string> write, string option, TextWriter? report = null) =>
        Guard(path, option, report, () => Reference.Core.IO.AtomicFile.WriteVia(path, write));

    /// <summary>Like <see cref="Write(string, Action{string}, string, TextWriter?)"/> for writers that take a stream.</summary>
    public static void Write(string path, Action<Stream> write, string option, TextWriter? report = null) =>
        Guard(path, option, report, () => Reference.Core.IO.AtomicFile.Write(path, write));

    private static void Guard(string path, string option, TextWriter? report, Action write)
    {
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is null || !Directory.Exists(directory))
            throw new CliException($"{option}: cannot write '{path}': directory '{directory}' does not exist.");
        try
        {
            write();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string reason = e.Message.ReplaceLineEndings(" ");
            throw new CliException(reason.StartsWith("cannot write", StringComparison.Ordinal) ? $"{option}: {reason}" : $"{option}: cannot write '{path}': {reason}");
        }
        report?.WriteLine($"wrote {option} {Path.GetFullPath(path)}");
    }
}

/// <summary>ESS vs split (mean over channels, and each channel faintly) with the per-channel TSS line.</summary>
public static class EssPlot
{
    /// <summary>Writes the plot as a 900 x 500 PNG (atomically).</summary>
    public static void Save(string path, EssInstance instance, EssOptions options, EssProfile profile, TextWriter? report = null)
    {
        var plot = new ScottPlot.Plot();
        double[] xs = profile.Splits.Select(s => (double)s).ToArray();
        int c = profile.PerChannel.Dim(0), count = xs.Length;
        for (int ch = 0; ch < c && c > 1; ch++)
        {
            var line = plot.Add.ScatterLine(xs, profile.PerChannel.Data.AsSpan(ch * count, count).ToArray());
            line.Color = ScottPlot.Colors.Gray.WithAlpha(0.35);
            line.LineWidth = 1;
        }
        var mean = plot.Add.ScatterLine(xs, profile.Mean);
        mean.LineWidth = 2;
        mean.Color = ScottPlot.Colors.Blue;
        mean.LegendText = c > 1 ? "ESS (mean over channels; channels in gray)" : "ESS";
        var tss = plot.Add.ScatterLine(xs, profile.Capacity);
        tss.LineWidth = 2;
        tss.Color = ScottPlot.Colors.Red;
        tss.LinePattern = ScottPlot.LinePattern.Dashed;
        tss.LegendText = "TSS per channel";
        plot.Title($"{instance.Operator}: {options}");
        plot.XLabel("split s");
        plot.YLabel("ESS");
        plot.ShowLegend();
        OutputFile.Write(path, (Action<string>)(temp => plot.SavePng(temp, 900, 500)), "--plot", report);
    }
}
