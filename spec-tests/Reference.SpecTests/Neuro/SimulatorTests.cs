using System.Security.Cryptography;
using Reference.Core.IO;
using Reference.Neuro.IO;
using Reference.Neuro.Simulation;
using Reference.SpecTests.Cli;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Neuro;

/// <summary>The simulator: bit-reproducible output, the planted structure, the files, bad input.</summary>
public class SimulatorTests
{
    private static SimulationOptions Tiny(ulong seed = 7) => SimulationOptions.FromPreset("small") with { Subjects = 3, Scans = 60, Seed = seed };

    private static Dictionary<string, string> Hashes(string directory) =>
        Directory.GetFiles(directory, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(directory, f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))));

    [Fact]
    public void SameOptions_SameBytes_WhateverTheThreadCount()
    {
        using var a = new TempDir();
        using var b = new TempDir();
        using var c = new TempDir();
        SimulationWriter.Write(Simulator.Run(Tiny(), maxThreads: 1), a.Path);
        SimulationWriter.Write(Simulator.Run(Tiny(), maxThreads: 4), b.Path);
        SimulationWriter.Write(Simulator.Run(Tiny(8)), c.Path);
        var ha = Hashes(a.Path);
        Assert.Equal(ha, Hashes(b.Path));
        var hc = Hashes(c.Path);
        Assert.Equal(ha.Keys.Order(), hc.Keys.Order());
        Assert.NotEqual(ha["sub-01/func/sub-01_task-sim_bold.nii"], hc["sub-01/func/sub-01_task-sim_bold.nii"]);
    }

    [Fact]
    public void Files_HoldTheSimulatedValues()
    {
        using var dir = new TempDir();
        var data = Simulator.Run(Tiny());
        var files = SimulationWriter.Write(data, dir.Path);
        var o = data.Options;
        var layout = data.Layout;
        var s = data.Subjects[1];
        var bold = Nifti.Read(Path.Combine(dir.Path, $"{s.Id}/func/{s.Id}_task-sim_bold.nii"));
        Assert.Equal([o.Nx, o.Ny, o.Nz, o.Scans], bold.Shape);
        Assert.Equal(o.Tr, bold.Header.RepetitionTimeSeconds);
        var values = bold.Get<float>();
        int n = o.Nx * o.Ny * o.Nz;
        foreach (int u in new[] { 0, layout.Units / 2, layout.Units - 1 })
            for (int t = 0; t < o.Scans; t += 7) Assert.Equal(s.Series[t * layout.Units + u], values[t * n + layout.MaskIndex[u]]);
        var parcels = Npy.Read(Path.Combine(dir.Path, $"{s.Id}/func/{s.Id}_task-sim_parcels.npy"));
        Assert.Equal([o.Parcels, o.Scans], parcels.ShapeArray);
        // Parcel series = mean of the parcel's voxels (float64 of the float32 series).
        var p0 = Enumerable.Range(0, layout.Units).Where(u => layout.Parcel[u] == 2).ToArray();
        Assert.Equal(p0.Average(u => (double)s.Series[5 * layout.Units + u]), ((double[])parcels.Data)[2 * o.Scans + 5], 9);
        var events = Design.ParseTsv(File.ReadAllText(Path.Combine(dir.Path, $"{s.Id}/func/{s.Id}_task-sim_events.tsv")), "events");
        Assert.Equal(s.Events.Count, events.Count);
        var confounds = File.ReadAllLines(Path.Combine(dir.Path, $"{s.Id}/func/{s.Id}_task-sim_desc-confounds_timeseries.tsv"));
        Assert.Equal(o.Scans + 1, confounds.Length);
        Assert.StartsWith("trans_x\ttrans_y\ttrans_z\trot_x\trot_y\trot_z\tframewise_displacement", confounds[0]);
        Assert.Equal("n/a", confounds[1].Split('\t')[6]);
        var truth = Nifti.Read(Path.Combine(dir.Path, $"truth_{o.Conditions[0]}.nii")).Get<float>();
        Assert.Equal((float)layout.Truth.Max(), truth.Max());
        Assert.Contains("participants.tsv", files);
        Assert.Contains("simulation.json", files);
    }

    [Fact]
    public void Layout_PlantsWhatItSays()
    {
        var o = SimulationOptions.FromPreset("standard") with { Subjects = 2, Scans = 40 };
        var data = Simulator.Run(o);
        var l = data.Layout;
        int v = l.Units, c = o.Conditions.Count;
        // Ellipsoid inside the 20 x 24 x 20 box: about pi / 6 of it.
        Assert.InRange(v / (double)(o.Nx * o.Ny * o.Nz), 0.45, 0.58);
        var sizes = Enumerable.Range(0, o.Parcels).Select(p => l.Parcel.Count(q => q == p)).ToArray();
        Assert.True(sizes.Min() >= v / o.Parcels / 3, $"parcel sizes {string.Join(",", sizes)}");
        for (int j = 0; j < c; j++)
        {
            int active = Enumerable.Range(0, v).Count(u => l.Truth[j * v + u] != 0);
            Assert.InRange(active, 20, v / 5);
        }
        int suppressors = l.Suppressor.Count(b => b);
        Assert.Equal((int)Math.Round(o.SuppressorFraction * v), suppressors);
        for (int u = 0; u < v; u++)
            if (l.Suppressor[u]) Assert.All(Enumerable.Range(0, c), j => Assert.Equal(0.0, l.Truth[j * v + u]));
        Assert.All(data.Subjects, s => Assert.Equal(o.Scans * v, s.Series.Length));
    }

    [Fact]
    public void Suppressors_CarryTheTruthVoxelsSharedNoiseAndNoSignal()
    {
        // Everything else switched off: the mean series of the suppressors follows the truth voxels'
        // mean (their shared noise d), the other voxels' mean does not.
        var o = SimulationOptions.FromPreset("standard") with
        {
            Subjects = 1, Scans = 100, Cnr = 0, SpontaneousAmplitude = 0, PhysioAmplitude = 0, DriftAmplitude = 0, MotionAmplitude = 0, SuppressorFraction = 0.05,
        };
        var data = Simulator.Run(o);
        var l = data.Layout;
        int v = l.Units;
        bool Truth(int u) => l.Support[u];
        Assert.All(l.Truth, b => Assert.Equal(0.0, b));
        double[] Mean(Func<int, bool> which)
        {
            var members = Enumerable.Range(0, v).Where(which).ToArray();
            return Enumerable.Range(0, o.Scans).Select(t => members.Average(u => (double)data.Subjects[0].Series[t * v + u])).ToArray();
        }
        var truth = Mean(Truth);
        var suppressors = Mean(u => l.Suppressor[u]);
        var others = Mean(u => !l.Suppressor[u] && !Truth(u));
        Assert.True(MathNet.Numerics.Statistics.Correlation.Pearson(truth, suppressors) > 0.8);
        Assert.True(Math.Abs(MathNet.Numerics.Statistics.Correlation.Pearson(truth, others)) < 0.3);
    }

    [Fact]
    public void SuppressorPerNetwork_GivesEachNetworkItsOwnSharedNoise()
    {
        // Everything else switched off: a network's suppressors follow that network's truth voxels
        // and not another network's; without the option all truth voxels share one series.
        var o = SimulationOptions.FromPreset("standard") with
        {
            Subjects = 1, Scans = 120, Cnr = 0, SpontaneousAmplitude = 0, PhysioAmplitude = 0, DriftAmplitude = 0, MotionAmplitude = 0,
            SuppressorFraction = 0.1, SuppressorWeight = 2, SuppressorPerNetwork = true,
        };
        var data = Simulator.Run(o);
        var l = data.Layout;
        int v = l.Units;
        double[] Mean(Func<int, bool> which)
        {
            var members = Enumerable.Range(0, v).Where(which).ToArray();
            Assert.NotEmpty(members);
            return Enumerable.Range(0, o.Scans).Select(t => members.Average(u => (double)data.Subjects[0].Series[t * v + u])).ToArray();
        }
        var truth0 = Mean(u => l.Support[u] && l.SharedNoiseNetwork![u] == 0);
        var truth1 = Mean(u => l.Support[u] && l.SharedNoiseNetwork![u] == 1);
        var suppressors0 = Mean(u => l.Suppressor[u] && l.SharedNoiseNetwork![u] == 0);
        Assert.All(Enumerable.Range(0, v).Where(u => l.Suppressor[u] || l.Support[u]), u => Assert.True(l.SharedNoiseNetwork![u] >= 0));
        Assert.True(MathNet.Numerics.Statistics.Correlation.Pearson(truth0, suppressors0) > 0.8);
        Assert.True(Math.Abs(MathNet.Numerics.Statistics.Correlation.Pearson(truth1, suppressors0)) < 0.4);
        // The option draws nothing into the layout, and off it leaves one series for every truth voxel.
        var off = Simulator.Run(o with { SuppressorPerNetwork = false });
        Assert.Equal(l.Suppressor, off.Layout.Suppressor);
        double[] MeanOff(Func<int, bool> which)
        {
            var members = Enumerable.Range(0, v).Where(which).ToArray();
            return Enumerable.Range(0, o.Scans).Select(t => members.Average(u => (double)off.Subjects[0].Series[t * v + u])).ToArray();
        }
        Assert.True(MathNet.Numerics.Statistics.Correlation.Pearson(MeanOff(u => l.Support[u] && l.SharedNoiseNetwork![u] == 1), MeanOff(u => l.Suppressor[u] && l.SharedNoiseNetwork![u] == 0)) > 0.8);
    }

    [Fact]
    public void Splits_AreBySubjectAndCoverEveryGroup()
    {
        var data = Simulator.Run(SimulationOptions.FromPreset("connectome") with { Scans = 40 });
        Assert.Equal(40, data.Subjects.Count);
        foreach (var g in new[] { 0, 1 })
        {
            var members = data.Subjects.Where(s => s.Group == g).ToList();
            Assert.Equal(20, members.Count);
            Assert.Equal(12, members.Count(s => s.Split == "train"));
            Assert.Equal(4, members.Count(s => s.Split == "validation"));
            Assert.Equal(4, members.Count(s => s.Split == "test"));
        }
    }

    [Theory]
    [InlineData("parcels", 0, "parcels = 0")]
    [InlineData("dims", 1, "lattice 1 x 24 x 20")]
    [InlineData("scans", 3, "scans = 3")]
    [InlineData("networks", 99, "networks = 99")]
    public void ImpossibleSettings_AreOneClearError(string what, int value, string message)
    {
        var o = SimulationOptions.FromPreset("standard");
        o = what switch
        {
            "parcels" => o with { Parcels = value },
            "dims" => o with { Nx = value },
            "scans" => o with { Scans = value },
            _ => o with { Networks = value },
        };
        var e = Assert.Throws<ArgumentException>(() => Simulator.Run(o));
        Assert.Contains(message, e.Message);
        Assert.Contains("expected", e.Message);
    }

    [Fact]
    public void Cli_Simulate_WritesAndRejectsBadInput()
    {
        using var dir = new TempDir();
        var (code, output, error) = CliRunner.Run("simulate", "--preset", "small", "--subjects", "2", "--scans", "40", "--out", dir.Path, "--seed", "3");
        Assert.True(code == 0, error);
        Assert.Contains("10 x 12 x 10 lattice", output);
        Assert.True(File.Exists(Path.Combine(dir.Path, "sub-02/func/sub-02_task-sim_bold.nii")));

        var bad = CliRunner.Run("simulate", "--preset", "huge", "--out", dir.Path);
        Assert.Equal(2, bad.Code);
        Assert.Equal("error: --preset must be one of standard, small, null, event, connectome, got 'huge'.", bad.Err.Trim());
        var dims = CliRunner.Run("simulate", "--dims", "1x24x20", "--out", dir.Path);
        Assert.Equal(2, dims.Code);
        Assert.Single(dims.Err.Trim().Split('\n'));
        Assert.Contains("lattice 1 x 24 x 20", dims.Err);
        var text = CliRunner.Run("simulate", "--dims", "20x24", "--out", dir.Path);
        Assert.Equal(2, text.Code);
        Assert.Contains("--dims must be NXxNYxNZ", text.Err);
    }

    [Fact]
    public void Cli_Glm_FirstAndSecondLevel_AndSingularDesign()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliRunner.Run("simulate", "--preset", "small", "--subjects", "3", "--scans", "80", "--cnr", "2", "--out", dir.Path).Code);
        string Func(int s, string suffix) => Path.Combine(dir.Path, $"sub-0{s}/func/sub-0{s}_task-sim_{suffix}");
        for (int s = 1; s <= 3; s++)
        {
            var r = CliRunner.Run("glm", "first", "--bold", Func(s, "bold.nii"), "--events", Func(s, "events.tsv"), "--confounds", Func(s, "desc-confounds_timeseries.tsv"),
                "--mask", Path.Combine(dir.Path, "mask.nii"), "--ar1", "--contrast", "faces - houses", "--out", Path.Combine(dir.Path, $"glm{s}"));
            Assert.True(r.Code == 0, r.Err);
        }
        var z = Nifti.Read(Path.Combine(dir.Path, "glm1", "faces_minus_houses_z.nii"));
        Assert.Equal([10, 12, 10], z.Shape);
        var second = CliRunner.Run("glm", "second", Path.Combine(dir.Path, "glm1", "faces_minus_houses_effect.nii"), Path.Combine(dir.Path, "glm2", "faces_minus_houses_effect.nii"),
            Path.Combine(dir.Path, "glm3", "faces_minus_houses_effect.nii"), "--out", Path.Combine(dir.Path, "group"));
        Assert.True(second.Code == 0, second.Err);
        Assert.True(File.Exists(Path.Combine(dir.Path, "group", "group_z.nii")));

        var lsa = CliRunner.Run("glm", "first", "--bold", Func(1, "bold.nii"), "--events", Func(1, "events.tsv"), "--lsa", "--out", Path.Combine(dir.Path, "lsa"));
        Assert.True(lsa.Code == 0, lsa.Err);
        var trials = Nifti.Read(Path.Combine(dir.Path, "lsa", "trial_z.nii"));
        Assert.Equal(File.ReadAllLines(Func(1, "events.tsv")).Length - 1, trials.Shape[3]);

        var singular = CliRunner.Run("glm", "first", "--bold", Func(1, "bold.nii"), "--events", Func(1, "events.tsv"), "--confounds", Func(1, "desc-confounds_timeseries.tsv"),
            "--confound-columns", "trans_x,trans_x", "--out", Path.Combine(dir.Path, "bad"));
        Assert.Equal(2, singular.Code);
        Assert.Single(singular.Err.Trim().Split('\n'));
        Assert.Contains("singular", singular.Err);
        Assert.Contains("'trans_x'", singular.Err);
        var contrast = CliRunner.Run("glm", "first", "--bold", Func(1, "bold.nii"), "--events", Func(1, "events.tsv"), "--contrast", "faces - cars", "--out", Path.Combine(dir.Path, "bad"));
        Assert.Equal(2, contrast.Code);
        Assert.Contains("no design column 'cars'", contrast.Err);
    }
}
