using System.CommandLine;
using System.Globalization;
using Reference.Core.IO;
using Reference.Decoding;
using Reference.Decoding.Interpretation;
using Reference.Neuro.IO;
using Reference.Neuro.Simulation;

namespace Reference.Cli.Commands;

/// <summary>
/// `reference explain --model CKPT --method NAME --out DIR`: attribution maps of a decoder's test
/// trials (NPY over the mask voxels and 4D NIfTI), their occlusion faithfulness and plausibility,
/// and a PNG panel (rows: class-mean map, truth contrast, GLM contrast; columns: axial slices).
/// `reference explain-benchmark --out DIR`: trains decoders on simulated trial maps (several
/// seeds, plus label-permuted and random-weight models), runs every method and writes the
/// faithfulness / sanity / plausibility table (Markdown and CSV), the figure and the checkpoints.
/// </summary>
public static class ExplainCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Decoder checkpoint (CKPT with CKPT.json beside it, as explain-benchmark writes).", Required = true, HelpName = "CKPT" };
        var method = new Option<string>("--method") { Description = $"One of {string.Join(", ", Attribution.Methods)}.", Required = true, HelpName = "NAME" };
        var output = new Option<string>("--out") { Description = "Directory to write (created).", Required = true, HelpName = "DIR" };
        var trials = new Option<int>("--trials") { Description = "Explain at most this many test trials.", DefaultValueFactory = _ => 30, HelpName = "N" };
        var samples = new Option<int>("--samples") { Description = "SmoothGrad samples, integrated-gradients steps and DeepLift-SHAP references.", DefaultValueFactory = _ => 50, HelpName = "N" };
        var command = new Command("explain", "Attribution maps of a decoder's test trials (NIfTI, NPY), their faithfulness and plausibility, and a PNG panel.")
        {
            model, method, output, trials, samples,
        };
        command.SetAction(parse =>
        {
            var w = parse.InvocationConfiguration.Output;
            string name = parse.GetValue(method)!;
            if (!Attribution.Methods.Contains(name)) throw new CliException($"--method must be one of {string.Join(", ", Attribution.Methods)}, got '{name}'.");
            int n = parse.GetValue(trials), s = parse.GetValue(samples);
            if (n < 1 || s < 1) throw new CliException("--trials and --samples must be >= 1.");
            string path = parse.GetValue(model)!;
            ExplainedDecoder decoder;
            try { decoder = ExplainedDecoder.Load(path); }
            catch (Exception e) when (e is IOException or InvalidDataException or System.Text.Json.JsonException or ArgumentException)
            {
                throw new CliException($"--model {path}: {e.Message.Split(" (Parameter")[0]}");
            }
            var data = TrialMaps.Build(decoder.Spec.Simulation ?? throw new CliException($"--model {path}: the spec names no simulation."));
            bool volume = decoder.Spec.Volume;
            var test = data.Indices("test").Take(n).ToArray();
            var x = data.Inputs(test, volume);
            var labels = test.Select(i => data.Labels[i]).ToArray();
            var allTest = data.Inputs(data.Indices("test"), volume);
            var options = new AttributionOptions
            {
                SmoothGradSamples = s, IntegratedGradientsSteps = s, ShapSamples = s, ShapBaselines = allTest, Canonize = decoder.Canonize,
                Baselines = [Reference.Core.Tensor<double>.Zeros(x.Shape[1..].ToArray()), InterpretationBenchmark.Mean(allTest)],
            };
            Reference.Core.Tensor<double> maps;
            try { maps = Attribution.Compute(name, decoder.Forward, x, labels, options); }
            catch (InvalidOperationException e) { throw new CliException($"--method {name}: {e.Message}"); }
            var units = data.ToUnits(maps, volume);
            var curve = Faithfulness.Occlusion(decoder.Forward, x, labels, maps, data.UnitPositions(volume));
            var truth = data.TruthContrast();
            var p = Plausibility.Measure(units, labels, data.Classes, data.GlmContrast, truth, data.Layout.Suppressor, data.Layout.Support);
            string dir = parse.GetValue(output)!;
            Directory.CreateDirectory(dir);
            int v = data.Units;
            Npy.Write(Path.Combine(dir, $"{name}_maps.npy"), NpyArray.Of(units, test.Length, v));
            Npy.Write(Path.Combine(dir, "labels.npy"), NpyArray.Of(labels, test.Length));
            Nifti.Write(Path.Combine(dir, $"{name}_maps.nii"), SimulationWriter.Volumes(data.Options, data.Layout, units, test.Length));
            int c = labels[0];
            var mean = new double[v];
            int count = labels.Count(l => l == c);
            for (int i = 0; i < test.Length; i++)
                if (labels[i] == c)
                    for (int u = 0; u < v; u++) mean[u] += units[i * v + u] / count;
            string panel = Path.Combine(dir, $"{name}_{data.Conditions[c]}_panel.png");
            SlicePanel.Write(panel, [Lattice(data, mean), Lattice(data, truth.AsSpan(c * v, v).ToArray()), Lattice(data, data.GlmContrast.AsSpan(c * v, v).ToArray())],
                Mask(data), data.Layout.Nx, data.Layout.Ny, data.Layout.Nz);
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{decoder} (test accuracy {decoder.Spec.TestAccuracy:F3}); {Attribution.DisplayName(name)} maps of {test.Length} test trials over {v} mask voxels -> {dir}"));
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"faithfulness: accuracy falls to chance ({curve.Chance:F3}) at {(double.IsNaN(curve.ChanceFraction) ? "> 50%" : $"{100 * curve.ChanceFraction:F1}%")} occluded (mean accuracy over the grid {curve.Accuracy.Average():F3}, {curve.Trials} correct trials)"));
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"plausibility: r(GLM) {p.GlmCorrelation:F3}, r(truth) {p.TruthCorrelation:F3}; suppressor / truth mean |map| {p.SuppressorRatio:F3}, suppressor enrichment in the top 10% {p.SuppressorTopShare:F2}"));
            w.WriteLine($"panel ({data.Conditions[c]}: map, truth contrast, GLM contrast): {panel}");
            return ExitCodes.Success;
        });
        return command;
    }

    public static Command CreateBenchmark()
    {
        var output = new Option<string>("--out") { Description = "Directory to write (created).", Required = true, HelpName = "DIR" };
        var kind = new Option<string>("--model") { Description = "Decoder kind: linear, mlp (or a registered volume kind).", DefaultValueFactory = _ => "mlp", HelpName = "KIND" };
        var seeds = new Option<int>("--seeds") { Description = "Training seeds.", DefaultValueFactory = _ => 3, HelpName = "N" };
        var trials = new Option<int>("--trials") { Description = "Test trials explained per model.", DefaultValueFactory = _ => 45, HelpName = "N" };
        var samples = new Option<int>("--samples") { Description = "SmoothGrad samples, integrated-gradients steps and DeepLift-SHAP references.", DefaultValueFactory = _ => 50, HelpName = "N" };
        var dataSeed = new Option<ulong>("--data-seed") { Description = "Seed of the simulated data set.", DefaultValueFactory = _ => 1UL, HelpName = "N" };
        var cnr = new Option<double>("--cnr") { Description = "Contrast-to-noise ratio of the simulation.", DefaultValueFactory = _ => 1.0, HelpName = "X" };
        var epochs = new Option<int>("--epochs") { Description = "Training epochs at most (early stopping: --selection, --min-epochs, --patience).", DefaultValueFactory = _ => 60, HelpName = "N" };
        var selection = new Option<string>("--selection") { Description = "The epoch early stopping keeps: accuracy (highest validation accuracy, ties to the lower validation loss, then the earlier epoch) or loss (lowest validation loss).", DefaultValueFactory = _ => "accuracy", HelpName = "RULE" };
        var minEpochs = new Option<int?>("--min-epochs") { Description = $"No epoch before this one is kept and patience counts from it (default {EpochSelection.DefaultMinEpochs}, at most --epochs).", HelpName = "N" };
        var patience = new Option<int>("--patience") { Description = "Epochs without a better one (from --min-epochs on) before training stops.", DefaultValueFactory = _ => 15, HelpName = "N" };
        var suppressorWeight = new Option<double>("--suppressor-weight") { Description = "Weight of the shared noise in the truth and suppressor voxels (voxel noise has unit sd).", DefaultValueFactory = _ => 0.5, HelpName = "X" };
        var suppressorFraction = new Option<double>("--suppressor-fraction") { Description = "Fraction of mask voxels made suppressors, in [0, 0.5].", DefaultValueFactory = _ => 0.05, HelpName = "X" };
        var subjects = new Option<int>("--subjects") { Description = "Simulated subjects (split by subject into train, validation and test).", DefaultValueFactory = _ => 12, HelpName = "N" };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate of the decoders.", DefaultValueFactory = _ => 1e-3, HelpName = "X" };
        var perNetwork = new Option<bool>("--suppressor-per-network") { Description = "One shared noise per network (its truth voxels and its share of the suppressors) instead of one for all.", Arity = ArgumentArity.Zero };
        var command = new Command("explain-benchmark", "Every attribution method on simulated trial maps: faithfulness, sanity checks, plausibility (table, CSV, JSON, figure).")
        {
            output, kind, seeds, trials, samples, dataSeed, cnr, epochs, suppressorWeight, suppressorFraction, subjects, lr, perNetwork,
            selection, minEpochs, patience,
        };
        command.SetAction(parse =>
        {
            var w = parse.InvocationConfiguration.Output;
            string k = parse.GetValue(kind)!;
            if (!ExplainedDecoder.Kinds.Contains(k)) throw new CliException($"--model must be one of {string.Join(", ", ExplainedDecoder.Kinds)}, got '{k}'.");
            int nSeeds = parse.GetValue(seeds), n = parse.GetValue(trials), s = parse.GetValue(samples), e = parse.GetValue(epochs);
            if (nSeeds < 1 || n < 1 || s < 1 || e < 1) throw new CliException("--seeds, --trials, --samples and --epochs must be >= 1.");
            double x = parse.GetValue(cnr);
            if (!(x >= 0) || !double.IsFinite(x)) throw new CliException($"--cnr must be a finite number >= 0, got {x}.");
            double sw = parse.GetValue(suppressorWeight), sf = parse.GetValue(suppressorFraction);
            if (!(sw >= 0) || !double.IsFinite(sw)) throw new CliException($"--suppressor-weight must be a finite number >= 0, got {sw}.");
            if (!(sf is >= 0 and <= 0.5)) throw new CliException($"--suppressor-fraction must be a number in [0, 0.5], got {sf}.");
            double rate = parse.GetValue(lr);
            if (!(rate > 0) || !double.IsFinite(rate)) throw new CliException($"--lr must be a finite number > 0, got {rate}.");
            string rule = parse.GetValue(selection)!;
            if (!EpochSelection.Rules.Contains(rule)) throw new CliException($"--selection must be one of {string.Join(", ", EpochSelection.Rules)}, got '{rule}'.");
            int? explicitMin = parse.GetValue(minEpochs);
            if (explicitMin is int m && (m < 0 || m > e)) throw new CliException($"--min-epochs must be 0 to --epochs ({e}), got {m}.");
            int min = explicitMin ?? Math.Min(EpochSelection.DefaultMinEpochs, e);
            int wait = parse.GetValue(patience);
            if (wait < 1) throw new CliException($"--patience must be >= 1, got {wait}.");
            int nSubjects = parse.GetValue(subjects);
            if (nSubjects < 6) throw new CliException($"--subjects must be >= 6 (every split needs a subject), got {nSubjects}.");
            string dir = parse.GetValue(output)!;
            Directory.CreateDirectory(dir);
            var simulation = TrialMaps.BenchmarkOptions(parse.GetValue(dataSeed), x, sw, sf, nSubjects, parse.GetValue(perNetwork));
            var data = TrialMaps.Build(simulation);
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"trial maps: {data.Count} trials ({string.Join(", ", new[] { "train", "validation", "test" }.Select(q => $"{q} {data.Indices(q).Length}"))}), {data.Units} mask voxels, {data.Layout.Suppressor.Count(b => b)} suppressors (shared-noise weight {sw}), CNR {x}"));
            var options = new BenchmarkOptions
            {
                Kind = k, Seeds = nSeeds, Trials = n, Epochs = e, LearningRate = rate, Selection = rule, MinEpochs = min, Patience = wait,
                Attribution = new AttributionOptions { SmoothGradSamples = s, IntegratedGradientsSteps = s, ShapSamples = s },
            };
            var results = InterpretationBenchmark.Run(data, options, w.WriteLine, (seed, decoder) => decoder.Save(Path.Combine(dir, $"{k}-seed-{seed}.ckpt")));
            string summary = InterpretationBenchmark.Summary(results);
            AtomicFile.WriteAllText(Path.Combine(dir, "results.csv"), InterpretationBenchmark.Csv(results));
            AtomicFile.WriteAllText(Path.Combine(dir, "summary.md"), summary);
            var settings = new Dictionary<string, object>
            {
                ["model"] = k, ["seeds"] = nSeeds, ["trials"] = n, ["samples"] = s, ["epochs"] = e, ["data_seed"] = parse.GetValue(dataSeed), ["cnr"] = x,
                ["suppressor_weight"] = sw, ["suppressor_fraction"] = sf, ["subjects"] = nSubjects, ["suppressor_per_network"] = parse.GetValue(perNetwork), ["lr"] = rate,
                ["selection"] = rule, ["min_epochs"] = min, ["patience"] = wait, ["suppressors"] = data.Layout.Suppressor.Count(b => b), ["mask_voxels"] = data.Units,
            };
            AtomicFile.WriteAllText(Path.Combine(dir, "summary.json"), InterpretationBenchmark.Json(results, settings));
            SaveFigure(Path.Combine(dir, "faithfulness_vs_plausibility.png"), results, k);
            w.WriteLine();
            w.Write(summary);
            w.WriteLine($"wrote results.csv, summary.md, summary.json, faithfulness_vs_plausibility.png and {nSeeds} checkpoints to {dir}");
            return ExitCodes.Success;
        });
        return command;
    }

    private static double[] Lattice(TrialMaps data, double[] values)
    {
        var l = new double[data.Layout.Nx * data.Layout.Ny * data.Layout.Nz];
        for (int u = 0; u < data.Units; u++) l[data.Layout.MaskIndex[u]] = values[u];
        return l;
    }

    private static bool[] Mask(TrialMaps data)
    {
        var m = new bool[data.Layout.Nx * data.Layout.Ny * data.Layout.Nz];
        foreach (int i in data.Layout.MaskIndex) m[i] = true;
        return m;
    }

    /// <summary>Per method and seed: mean occlusion accuracy (x, lower = more faithful) vs r with the truth (y).</summary>
    private static void SaveFigure(string path, IReadOnlyList<MethodResult> results, string kind)
    {
        var plot = new ScottPlot.Plot();
        foreach (var g in results.GroupBy(r => r.Method))
        {
            // One point per seed: the spread over seeds is visible directly.
            var points = plot.Add.Scatter(g.Select(r => r.MeanAccuracy).ToArray(), g.Select(r => r.Plausibility.TruthCorrelation).ToArray());
            points.LineWidth = 0;
            points.MarkerSize = 9;
            points.LegendText = Attribution.DisplayName(g.Key);
        }
        plot.Title($"{kind} decoder: faithfulness vs plausibility (one point per seed)");
        plot.XLabel("mean accuracy under occlusion (lower = more faithful)");
        plot.YLabel("correlation with the truth contrast (plausibility)");
        plot.ShowLegend();
        AtomicFile.WriteVia(path, temp => plot.SavePng(temp, 900, 600));
    }
}
