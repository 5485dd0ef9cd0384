using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Reference.Neuro.Simulation;

namespace Reference.Cli.Commands;

/// <summary>
/// `reference simulate --preset NAME --out DIR [--seed N ...]`: a seeded ground-truth fMRI data
/// set (Reference.Neuro's Simulator: HRF-convolved block or event designs on a voxel lattice or
/// parcels, latent networks, sparse truth maps, suppressor voxels, AR(1) + physiological + drift +
/// motion + thermal noise, subject jitter, subject splits) written as NIfTI, BIDS-style TSVs and
/// NPY (SimulationWriter). The same options give the same bytes.
/// </summary>
public static class SimulateCommand
{
    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = $"The starting configuration: {string.Join(", ", SimulationOptions.PresetNames)}.", DefaultValueFactory = _ => "standard", HelpName = "NAME" };
        var output = new Option<string>("--out") { Description = "Directory to write (created).", Required = true, HelpName = "DIR" };
        var seed = new Option<ulong?>("--seed") { Description = "SplitMix64 seed of everything (default 1).", HelpName = "N" };
        var subjects = new Option<int?>("--subjects") { Description = "Number of subjects.", HelpName = "N" };
        var scans = new Option<int?>("--scans") { Description = "Scans (TRs) per run.", HelpName = "T" };
        var tr = new Option<double?>("--tr") { Description = "Repetition time in seconds.", HelpName = "S" };
        var dims = new Option<string?>("--dims") { Description = "Lattice NXxNYxNZ (0x0x0: parcels only).", HelpName = "NXxNYxNZ" };
        var parcels = new Option<int?>("--parcels") { Description = "Number of parcels P.", HelpName = "P" };
        var networks = new Option<int?>("--networks") { Description = "Number of latent networks K.", HelpName = "K" };
        var cnr = new Option<double?>("--cnr") { Description = "Contrast-to-noise ratio (task response at a truth peak / noise sd).", HelpName = "X" };
        var design = new Option<string?>("--design") { Description = "block or event.", HelpName = "block|event" };
        var hrf = new Option<string?>("--hrf") { Description = "spm (canonical double gamma) or glover.", HelpName = "spm|glover" };
        var coupling = new Option<double?>("--group-coupling") { Description = "Correlation planted between networks 0 and 1 in group 1 (0: one group).", HelpName = "R" };
        var threads = new Option<int>("--threads") { Description = "Subjects simulated in parallel (-1: all cores).", DefaultValueFactory = _ => -1, HelpName = "N" };
        var command = new Command("simulate", "Simulate a seeded ground-truth fMRI data set (NIfTI, events/confounds TSV, truth maps, parcel series).")
        {
            preset, output, seed, subjects, scans, tr, dims, parcels, networks, cnr, design, hrf, coupling, threads,
        };
        command.SetAction(parse =>
        {
            var writer = parse.InvocationConfiguration.Output;
            string name = parse.GetValue(preset)!;
            if (!SimulationOptions.PresetNames.Contains(name))
                throw new CliException($"--preset must be one of {string.Join(", ", SimulationOptions.PresetNames)}, got '{name}'.");
            var o = SimulationOptions.FromPreset(name);
            if (parse.GetValue(seed) is ulong s) o = o with { Seed = s };
            if (parse.GetValue(subjects) is int n) o = o with { Subjects = n };
            if (parse.GetValue(scans) is int t) o = o with { Scans = t };
            if (parse.GetValue(tr) is double r) o = o with { Tr = r };
            if (parse.GetValue(parcels) is int p) o = o with { Parcels = p };
            if (parse.GetValue(networks) is int k) o = o with { Networks = k };
            if (parse.GetValue(cnr) is double c) o = o with { Cnr = c };
            if (parse.GetValue(design) is string d) o = o with { Design = d };
            if (parse.GetValue(hrf) is string h) o = o with { Hrf = h };
            if (parse.GetValue(coupling) is double g) o = o with { GroupCoupling = g };
            if (parse.GetValue(dims) is string text)
            {
                var parts = text.Split('x');
                if (parts.Length != 3 || !parts.All(q => int.TryParse(q, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
                    throw new CliException($"--dims must be NXxNYxNZ with three non-negative integers (e.g. 20x24x20), got '{text}'.");
                o = o with { Nx = int.Parse(parts[0], CultureInfo.InvariantCulture), Ny = int.Parse(parts[1], CultureInfo.InvariantCulture), Nz = int.Parse(parts[2], CultureInfo.InvariantCulture) };
            }
            int threadCount = parse.GetValue(threads);
            if (threadCount == 0 || threadCount < -1) throw new CliException($"--threads must be -1 (all cores) or >= 1, got {threadCount}.");
            try
            {
                o.Validate();
            }
            catch (ArgumentException e)
            {
                throw new CliException($"bad simulation setting: {e.Message.Split(" (Parameter")[0]}");
            }
            string directory = parse.GetValue(output)!;
            var clock = Stopwatch.StartNew();
            var data = Simulator.Run(o, threadCount);
            double simulated = clock.Elapsed.TotalSeconds;
            var files = SimulationWriter.Write(data, directory);
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"simulated preset {o.Preset} (seed {o.Seed}): {(o.HasLattice ? $"{o.Nx} x {o.Ny} x {o.Nz} lattice, {data.Layout.Units} mask voxels" : "no lattice")}, {o.Parcels} parcels, {o.Networks} networks, {o.Conditions.Count} conditions ({o.Design}), {o.Scans} scans at TR {o.Tr} s, {o.Subjects} subjects, CNR {o.Cnr}"));
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"splits: {string.Join(", ", data.Subjects.GroupBy(x => x.Split).Select(x => $"{x.Key} {x.Count()}"))}"));
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {files.Count} files to {directory} in {clock.Elapsed.TotalSeconds:F2} s (simulation {simulated:F2} s)"));
            return ExitCodes.Success;
        });
        return command;
    }
}
