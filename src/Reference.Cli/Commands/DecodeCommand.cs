using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Reference.Decoding;

namespace Reference.Cli.Commands;

/// <summary>
/// `reference decode --config FILE [--out DIR] [--resume]`: a decoding experiment on simulated fMRI
/// (docs/decoding.md): decoders on held-out subjects over a learning curve of training-set sizes,
/// several seeds, the linear baseline and chance level always included, optional self-supervised
/// pre-training and transfer. Writes into --out: config.json (the resolved configuration),
/// cells.jsonl (one line per finished decoder/size/seed, the resume log), results.json,
/// learning_curves.png and confusion-NAME.png (all atomically). A bad configuration is one line and
/// exit 2 before anything is written.
/// </summary>
public static class DecodeCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "Experiment JSON (schema: docs/decoding.md).", Required = true, HelpName = "FILE" };
        var outDir = new Option<string>("--out") { Description = "Output directory.", DefaultValueFactory = _ => "decode-out", HelpName = "DIR" };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out (finished cells are kept).", Arity = ArgumentArity.Zero };
        var command = new Command("decode", "Decode mental states from simulated fMRI on held-out subjects: learning curves, seeds, baselines, pre-training and transfer.")
        {
            config, outDir, resume,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            string path = parse.GetValue(config)!;
            string dir = parse.GetValue(outDir)!;
            try
            {
                if (!File.Exists(path)) throw new CliException($"--config: file '{path}' does not exist.");
                string text;
                try { text = File.ReadAllText(path); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CliException($"--config: cannot read '{path}': {e.Message}"); }
                var parsed = DecodeConfig.Parse(text);
                string? parent = Path.GetDirectoryName(Path.GetFullPath(dir));
                if (parent is null || !Directory.Exists(parent)) throw new CliException($"--out: the parent of '{dir}' does not exist.");
                var experiment = new DecodeExperiment(parsed, dir) { Progress = line => output.WriteLine(line) };
                var results = experiment.Run(parse.GetValue(resume))!;
                DecodePlots.LearningCurves(Path.Combine(dir, "learning_curves.png"), results);
                foreach (var d in results["decoders"]!.AsArray())
                    DecodePlots.Confusion(Path.Combine(dir, $"confusion-{d!["name"]!.GetValue<string>()}.png"), d!, results);
                Summary(output, results);
                output.WriteLine($"out: {dir} (results.json, config.json, cells.jsonl, learning_curves.png, confusion-*.png)");
                return ExitCodes.Success;
            }
            catch (ArgumentException e) { throw new CliException(e.ParamName is { } name ? e.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : e.Message); }
            catch (InvalidDataException e) { throw new CliException(e.Message); }
        });
        return command;
    }

    private static void Summary(TextWriter w, JsonObject results)
    {
        double chance = results["chance"]!.GetValue<double>();
        w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"test: {results["test_subjects"]!.AsArray().Count} held-out subjects, {results["test_samples"]} samples; chance {chance:F3}"));
        foreach (var d in results["decoders"]!.AsArray())
        {
            var cells = d!["curve"]!.AsArray().Select(p => string.Create(CultureInfo.InvariantCulture,
                $"N={p!["train_subjects"]}: {p["mean"]!.GetValue<double>():F3} +- {p["sd"]!.GetValue<double>():F3}"));
            w.WriteLine($"  {d["name"]!.GetValue<string>(),-28} {string.Join("; ", cells)}");
        }
        foreach (var t in results["transfer"]!.AsArray())
        {
            // Third section: a gain that rounds to zero prints 0.000 (without it, -0.0001 printed "-+0.000").
            var gains = t!["points"]!.AsArray().Select(p => string.Create(CultureInfo.InvariantCulture, $"N={p!["train_subjects"]}: {p["gain"]!.GetValue<double>():+0.000;-0.000;0.000}"));
            w.WriteLine($"  transfer {t["decoder"]} vs {t["compare_to"]}: gain {string.Join("; ", gains)}; largest at the fewest subjects: {(t["gain_largest_at_fewest_subjects"]!.GetValue<bool>() ? "yes" : "no")}");
        }
    }
}

/// <summary>The PNG figures of a decoding run (written atomically).</summary>
public static class DecodePlots
{
    public static void LearningCurves(string path, JsonObject results)
    {
        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int k = 0;
        double maxN = 1;
        foreach (var d in results["decoders"]!.AsArray())
        {
            var points = d!["curve"]!.AsArray();
            var xs = points.Select(p => (double)p!["train_subjects"]!.GetValue<int>()).ToArray();
            var ys = points.Select(p => p!["mean"]!.GetValue<double>()).ToArray();
            var sd = points.Select(p => p!["sd"]!.GetValue<double>()).ToArray();
            maxN = Math.Max(maxN, xs.Max());
            var color = palette.GetColor(k++);
            var line = plot.Add.ScatterLine(xs, ys);
            line.LegendText = d["name"]!.GetValue<string>();
            line.Color = color;
            line.MarkerSize = 6;
            var bars = plot.Add.ErrorBar(xs, ys, sd);
            bars.Color = color;
        }
        double chance = results["chance"]!.GetValue<double>();
        var chanceLine = plot.Add.HorizontalLine(chance);
        chanceLine.LegendText = "chance (majority rate)";
        chanceLine.Color = ScottPlot.Colors.Gray;
        chanceLine.LinePattern = ScottPlot.LinePattern.Dashed;
        plot.Title("held-out subject accuracy (mean +- sd over seeds)");
        plot.XLabel("training subjects");
        plot.YLabel("test accuracy");
        plot.Axes.SetLimits(0, maxN + 1, 0, 1.05);
        plot.ShowLegend();
        OutputFile.Write(path, temp => plot.SavePng(temp, 900, 550), "--out");
    }

    public static void Confusion(string path, JsonNode decoder, JsonObject results)
    {
        var matrix = decoder["confusion"]!["matrix"]!.AsArray();
        int c = matrix.Count;
        var values = new double[c, c];
        for (int i = 0; i < c; i++)
        {
            var row = matrix[i]!.AsArray();
            double total = Math.Max(1, row.Sum(v => v!.GetValue<int>()));
            // Heatmap rows run top to bottom: true class i on row i, predicted class on the columns; row-normalized.
            for (int j = 0; j < c; j++) values[i, j] = row[j]!.GetValue<int>() / total;
        }
        var plot = new ScottPlot.Plot();
        var map = plot.Add.Heatmap(values);
        map.Colormap = new ScottPlot.Colormaps.Viridis();
        plot.Add.ColorBar(map);
        var conditions = results["data"]!["conditions"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray();
        for (int i = 0; i < c; i++)
            for (int j = 0; j < c; j++)
            {
                var label = plot.Add.Text(values[i, j].ToString("F2", CultureInfo.InvariantCulture), j, c - 1 - i);
                label.LabelFontColor = values[i, j] > 0.5 ? ScottPlot.Colors.Black : ScottPlot.Colors.White;
                label.LabelAlignment = ScottPlot.Alignment.MiddleCenter;
            }
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, c).Select(j => (double)j)], conditions);
        plot.Axes.Left.SetTicks([.. Enumerable.Range(0, c).Select(i => (double)(c - 1 - i))], conditions);
        plot.Title(string.Create(CultureInfo.InvariantCulture, $"{decoder["name"]}: confusion at N = {decoder["confusion"]!["train_subjects"]} (rows: true, row-normalized)"));
        plot.XLabel("predicted");
        plot.YLabel("true");
        OutputFile.Write(path, temp => plot.SavePng(temp, 700, 600), "--out");
    }
}
