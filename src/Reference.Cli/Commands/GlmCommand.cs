using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Reference.Core.IO;
using Reference.Neuro.Glm;
using Reference.Neuro.IO;
using Reference.Neuro.Simulation;

namespace Reference.Cli.Commands;

/// <summary>
/// `reference glm first --bold FILE --events TSV --out DIR [...]`: the first-level GLM (OLS or
/// AR(1) prewhitened; condition or least-squares-all trial regressors, confounds, cosine drift,
/// constant) with contrast effect/t/z maps. `reference glm second MAP... --out DIR`: the
/// one-sample group test of first-level maps. Maps are NIfTI float32 on the input grid.
/// </summary>
public static class GlmCommand
{
    public static Command Create()
    {
        var command = new Command("glm", "The standard fMRI GLM: `glm first` (subject level) and `glm second` (group one-sample test).");
        command.Subcommands.Add(First());
        command.Subcommands.Add(Second());
        return command;
    }

    private static Command First()
    {
        var bold = new Option<string>("--bold") { Description = "The 4D NIfTI series.", Required = true, HelpName = "FILE" };
        var events = new Option<string>("--events") { Description = "BIDS events.tsv (onset, duration, trial_type).", Required = true, HelpName = "TSV" };
        var output = new Option<string>("--out") { Description = "Directory to write (created).", Required = true, HelpName = "DIR" };
        var confounds = new Option<string?>("--confounds") { Description = "Confounds TSV; its columns enter the design (n/a read as 0).", HelpName = "TSV" };
        var columns = new Option<string?>("--confound-columns") { Description = "Comma-separated confound columns to use (default: all but framewise_displacement).", HelpName = "A,B" };
        var mask = new Option<string?>("--mask") { Description = "3D NIfTI mask (nonzero voxels); default: voxels whose series is not constant.", HelpName = "FILE" };
        var tr = new Option<double?>("--tr") { Description = "TR in seconds (default: the header's pixdim[4]).", HelpName = "S" };
        var hrf = new Option<string>("--hrf") { Description = "spm or glover.", DefaultValueFactory = _ => "spm", HelpName = "spm|glover" };
        var highPass = new Option<double>("--high-pass") { Description = "Cutoff period of the cosine drift basis in seconds.", DefaultValueFactory = _ => 128, HelpName = "S" };
        var ar1 = new Option<bool>("--ar1") { Description = "AR(1) prewhitening (default OLS).", Arity = ArgumentArity.Zero };
        var lsa = new Option<bool>("--lsa") { Description = "Least-squares-all: one regressor per trial; writes trial beta and z maps.", Arity = ArgumentArity.Zero };
        var contrasts = new Option<string[]>("--contrast") { Description = "Contrast over condition columns, e.g. \"faces - houses\" (repeatable; default: each condition minus the mean of the others).", HelpName = "EXPR", AllowMultipleArgumentsPerToken = false };
        var command = new Command("first", "First-level GLM of one run: contrast effect, t and z maps (and trial maps with --lsa).")
        {
            bold, events, output, confounds, columns, mask, tr, hrf, highPass, ar1, lsa, contrasts,
        };
        command.SetAction(parse =>
        {
            var writer = parse.InvocationConfiguration.Output;
            var clock = Stopwatch.StartNew();
            var image = ReadImage(parse.GetValue(bold)!, "--bold");
            var shape = image.Shape;
            if (shape.Length != 4 || shape[3] < 2) throw new CliException($"--bold: {parse.GetValue(bold)} has shape ({string.Join(", ", shape)}); expected a 4D series with at least 2 scans.");
            int n = shape[0] * shape[1] * shape[2], t = shape[3];
            double repetition = parse.GetValue(tr) ?? image.Header.RepetitionTimeSeconds ?? 0;
            if (!(repetition > 0)) throw new CliException("--tr: the header has no TR (pixdim[4] with a time unit); pass --tr SECONDS.");
            Hrf model;
            try { model = Hrf.Named(parse.GetValue(hrf)!); }
            catch (ArgumentException) { throw new CliException($"--hrf must be spm or glover, got '{parse.GetValue(hrf)}'."); }
            var eventList = ReadEvents(parse.GetValue(events)!);
            double[]? confoundValues = null;
            string[]? confoundNames = null;
            if (parse.GetValue(confounds) is string confoundPath)
                (confoundValues, confoundNames) = ReadConfounds(confoundPath, t, parse.GetValue(columns));
            var values = image.ToDoubles();
            var inMask = Mask(parse.GetValue(mask), values, n, t, shape);
            int v = inMask.Length;
            if (v == 0) throw new CliException("the mask selects no voxel (every series is constant); pass --mask.");
            var y = new double[t * v];
            for (int i = 0; i < t; i++)
                for (int j = 0; j < v; j++) y[i * v + j] = values[(long)i * n + inMask[j]];
            DesignMatrix design;
            GlmFit fit;
            try
            {
                design = DesignMatrix.FromEvents(eventList, t, repetition, model, parse.GetValue(lsa), parse.GetValue(highPass), confoundValues, confoundNames);
                fit = FirstLevel.Fit(y, v, design.Values, design.Columns, parse.GetValue(ar1));
            }
            catch (ArgumentException e)
            {
                throw new CliException(Plain(e));
            }
            string directory = parse.GetValue(output)!;
            Directory.CreateDirectory(directory);
            AtomicFile.Write(Path.Combine(directory, "design.tsv"), s => s.Write(Encoding.UTF8.GetBytes(design.ToTsv())));
            var written = new List<string> { "design.tsv" };
            var requested = parse.GetValue(contrasts) ?? [];
            var list = new List<(string Name, double[] Weights)>();
            try
            {
                if (requested.Length > 0) list.AddRange(requested.Select(e => (Name(e), design.ParseContrast(e))));
                else if (!parse.GetValue(lsa)) list.AddRange(Enumerable.Range(0, design.TaskColumns).Select(c => (design.Columns[c], design.OneVersusRest(c))));
            }
            catch (ArgumentException e)
            {
                throw new CliException($"--contrast: {Plain(e)}");
            }
            foreach (var (name, weights) in list)
            {
                var maps = fit.Contrast(weights);
                foreach (var (kind, map) in new[] { ("effect", maps.Effect), ("t", maps.T), ("z", maps.Z) })
                {
                    Nifti.Write(Path.Combine(directory, $"{name}_{kind}.nii"), Volume(image.Header, shape, inMask, map));
                    written.Add($"{name}_{kind}.nii");
                }
            }
            if (parse.GetValue(lsa))
            {
                int trials = design.TaskColumns;
                var betas = new double[trials * v];
                var zs = new double[trials * v];
                for (int k = 0; k < trials; k++)
                {
                    var w = new double[design.Width];
                    w[k] = 1;
                    var maps = fit.Contrast(w);
                    maps.Effect.CopyTo(betas, k * v);
                    maps.Z.CopyTo(zs, k * v);
                }
                Nifti.Write(Path.Combine(directory, "trial_beta.nii"), Volumes(image.Header, shape, inMask, betas, trials));
                Nifti.Write(Path.Combine(directory, "trial_z.nii"), Volumes(image.Header, shape, inMask, zs, trials));
                AtomicFile.Write(Path.Combine(directory, "trials.tsv"), s => s.Write(Encoding.UTF8.GetBytes(Design.ToTsv(eventList))));
                written.AddRange(["trial_beta.nii", "trial_z.nii", "trials.tsv"]);
            }
            var summary = new Dictionary<string, object>
            {
                ["bold"] = parse.GetValue(bold)!, ["scans"] = t, ["tr_s"] = repetition, ["voxels"] = v, ["columns"] = design.Columns,
                ["dof"] = fit.Dof, ["noise_model"] = parse.GetValue(ar1) ? "ar1" : "ols", ["hrf"] = model.Name, ["high_pass_s"] = parse.GetValue(highPass),
                ["contrasts"] = list.ToDictionary(c => c.Name, c => c.Weights), ["files"] = written,
            };
            AtomicFile.Write(Path.Combine(directory, "glm.json"), s => s.Write(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }) + "\n")));
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"first level ({(parse.GetValue(ar1) ? "AR(1)" : "OLS")}): {v} voxels x {t} scans, {design.Width} columns ({design.TaskColumns} task), dof {fit.Dof}; {list.Count} contrasts{(parse.GetValue(lsa) ? $", {design.TaskColumns} trial maps" : "")}; {written.Count + 1} files in {directory}; {clock.Elapsed.TotalSeconds:F2} s"));
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Second()
    {
        var maps = new Argument<string[]>("MAPS") { Description = "First-level 3D maps (one per subject), same grid.", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "Directory to write (created).", Required = true, HelpName = "DIR" };
        var name = new Option<string>("--name") { Description = "Prefix of the output maps.", DefaultValueFactory = _ => "group", HelpName = "NAME" };
        var command = new Command("second", "Second level: one-sample t test over subjects' maps (writes NAME_effect/t/z.nii).") { maps, output, name };
        command.SetAction(parse =>
        {
            var paths = parse.GetValue(maps)!;
            if (paths.Length < 2) throw new CliException($"MAPS: {paths.Length} map given; a one-sample test needs at least 2.");
            var images = paths.Select(p => ReadImage(p, "MAPS")).ToArray();
            var shape = images[0].Shape;
            int n = shape.Take(3).Aggregate(1, (a, b) => a * b);
            for (int i = 0; i < images.Length; i++)
            {
                var s = images[i].Shape;
                if (s.Length > 4 || (s.Length == 4 && s[3] != 1) || s.Length < 3 || !s.Take(3).SequenceEqual(shape.Take(3)))
                    throw new CliException($"MAPS: {paths[i]} has shape ({string.Join(", ", s)}); expected 3D maps all of shape ({string.Join(", ", shape.Take(3))}).");
            }
            var data = new double[images.Length * n];
            for (int i = 0; i < images.Length; i++) images[i].ToDoubles().AsSpan(0, n).CopyTo(data.AsSpan(i * n, n));
            var result = SecondLevel.OneSample(data, images.Length);
            string directory = parse.GetValue(output)!;
            Directory.CreateDirectory(directory);
            var all = Enumerable.Range(0, n).ToArray();
            var grid = shape.Take(3).ToArray();
            foreach (var (kind, map) in new[] { ("effect", result.Effect), ("t", result.T), ("z", result.Z) })
                Nifti.Write(Path.Combine(directory, $"{parse.GetValue(name)}_{kind}.nii"), Volume(images[0].Header, grid, all, map));
            int significant = result.Z.Count(z => z > 3.09);
            parse.InvocationConfiguration.Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"second level: {images.Length} maps, dof {result.Dof}, {significant} of {n} voxels with z > 3.09 (p < 0.001 one-sided, uncorrected); 3 files in {directory}"));
            return ExitCodes.Success;
        });
        return command;
    }

    private static string Plain(ArgumentException e) => e.Message.Split(" (Parameter")[0];

    private static string Name(string expression)
    {
        var s = expression.Replace(" ", "", StringComparison.Ordinal).Replace("-", "_minus_", StringComparison.Ordinal)
            .Replace("+", "_plus_", StringComparison.Ordinal).Replace("*", "x", StringComparison.Ordinal);
        return s.StartsWith("_minus_", StringComparison.Ordinal) ? "minus_" + s[7..] : s.TrimStart('_');
    }

    private static NiftiImage ReadImage(string path, string option)
    {
        if (!File.Exists(path)) throw new CliException($"{option}: {path}: no such file.");
        try { return Nifti.Read(path); }
        catch (NiftiFormatException e) { throw new CliException($"{option}: {e.Message}"); }
    }

    private static List<StimulusEvent> ReadEvents(string path)
    {
        if (!File.Exists(path)) throw new CliException($"--events: {path}: no such file.");
        try
        {
            var list = Design.ParseTsv(File.ReadAllText(path), path);
            if (list.Count == 0) throw new CliException($"--events: {path} has no events; expected at least one row.");
            return list;
        }
        catch (FormatException e) { throw new CliException($"--events: {e.Message}"); }
    }

    private static (double[] Values, string[] Names) ReadConfounds(string path, int scans, string? wanted)
    {
        if (!File.Exists(path)) throw new CliException($"--confounds: {path}: no such file.");
        var lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToArray();
        if (lines.Length != scans + 1) throw new CliException($"--confounds: {path} has {Math.Max(0, lines.Length - 1)} rows; expected one per scan ({scans}).");
        var header = lines[0].Split('\t');
        var names = wanted is null ? header.Where(h => h != "framewise_displacement").ToArray() : wanted.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var index = names.Select(nm => Array.IndexOf(header, nm)).ToArray();
        for (int j = 0; j < names.Length; j++)
            if (index[j] < 0) throw new CliException($"--confound-columns: {path} has no column '{names[j]}'; it has {string.Join(", ", header)}.");
        var values = new double[scans * names.Length];
        for (int i = 0; i < scans; i++)
        {
            var cells = lines[i + 1].Split('\t');
            if (cells.Length != header.Length) throw new CliException($"--confounds: {path} line {i + 2} has {cells.Length} columns, the header {header.Length}.");
            for (int j = 0; j < names.Length; j++)
            {
                string cell = cells[index[j]];
                if (cell == "n/a") continue;
                if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || !double.IsFinite(d))
                    throw new CliException($"--confounds: {path} line {i + 2} column {names[j]}: '{cell}' is not a finite number.");
                values[i * names.Length + j] = d;
            }
        }
        return (values, names);
    }

    private static int[] Mask(string? path, double[] values, int n, int t, int[] shape)
    {
        if (path is not null)
        {
            var mask = ReadImage(path, "--mask");
            if (!mask.Shape.Take(3).SequenceEqual(shape.Take(3)) || mask.Count != n)
                throw new CliException($"--mask: shape ({string.Join(", ", mask.Shape)}) does not match the series' grid ({string.Join(", ", shape.Take(3))}).");
            var m = mask.ToDoubles();
            return Enumerable.Range(0, n).Where(j => m[j] != 0).ToArray();
        }
        return Enumerable.Range(0, n).Where(j =>
        {
            double first = values[j];
            for (int i = 1; i < t; i++) if (values[(long)i * n + j] != first) return true;
            return false;
        }).ToArray();
    }

    private static NiftiHeader MapHeader(NiftiHeader source, int[] shape) =>
        NiftiHeader.Create(NiftiDataType.Float32, shape) with
        {
            Pixdim = source.Pixdim.ToArray(), XyztUnits = source.XyztUnits, QformCode = source.QformCode, SformCode = source.SformCode,
            QuaternB = source.QuaternB, QuaternC = source.QuaternC, QuaternD = source.QuaternD, QoffsetX = source.QoffsetX, QoffsetY = source.QoffsetY,
            QoffsetZ = source.QoffsetZ, SrowX = source.SrowX, SrowY = source.SrowY, SrowZ = source.SrowZ,
        };

    private static NiftiImage Volume(NiftiHeader source, int[] shape, int[] inMask, double[] map)
    {
        int n = shape[0] * shape[1] * shape[2];
        var data = new float[n];
        for (int j = 0; j < inMask.Length; j++) data[inMask[j]] = (float)map[j];
        return new NiftiImage(MapHeader(source, [shape[0], shape[1], shape[2]]), data);
    }

    private static NiftiImage Volumes(NiftiHeader source, int[] shape, int[] inMask, double[] maps, int count)
    {
        int n = shape[0] * shape[1] * shape[2], v = inMask.Length;
        var data = new float[n * count];
        for (int k = 0; k < count; k++)
            for (int j = 0; j < v; j++) data[k * n + inMask[j]] = (float)maps[k * v + j];
        return new NiftiImage(MapHeader(source, [shape[0], shape[1], shape[2], count]), data);
    }
}
