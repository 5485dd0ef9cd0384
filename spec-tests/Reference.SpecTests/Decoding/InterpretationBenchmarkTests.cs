using Reference.Decoding;
using Reference.Decoding.Interpretation;
using Reference.Neuro.Simulation;
using Reference.SpecTests.Cli;

namespace Reference.SpecTests.Decoding;

/// <summary>End to end on a tiny simulation: trial maps, a trained decoder, its checkpoint, the benchmark and `reference explain`.</summary>
public class InterpretationBenchmarkTests
{
    private static readonly Lazy<TrialMaps> Data = new(() => TrialMaps.Build(new SimulationOptions
    {
        Preset = "tiny", Nx = 8, Ny = 9, Nz = 8, Parcels = 6, Networks = 3, Scans = 160, Subjects = 6, Cnr = 2, Seed = 3,
    }));

    [Fact]
    public void TrialMaps_HaveOneZMapPerTrial_AndTheGlmFindsTheTruth()
    {
        var d = Data.Value;
        Assert.Equal(d.Count * d.Units, d.Maps.Length);
        Assert.All(new[] { "train", "validation", "test" }, s => Assert.NotEmpty(d.Indices(s)));
        Assert.True(d.Maps.All(double.IsFinite));
        var truth = d.TruthContrast();
        for (int c = 0; c < d.Classes; c++)
            Assert.True(Plausibility.Pearson(d.GlmContrast.AsSpan(c * d.Units, d.Units), truth.AsSpan(c * d.Units, d.Units)) > 0.5);
        var volume = d.Inputs([0, 1], volume: true);
        Assert.Equal([2, 1, 8, 9, 8], volume.ShapeArray);
        Assert.Equal(d.Maps.AsSpan(0, 2 * d.Units).ToArray(), d.ToUnits(volume, volume: true));
    }

    [Fact]
    public void Benchmark_TrainsAboveChance_AndEveryMethodGetsEveryMeasure()
    {
        var d = Data.Value;
        var options = new BenchmarkOptions
        {
            Kind = "linear", Seeds = 1, Trials = 12, Epochs = 30,
            Methods = ["gradient", "integrated_gradients", "deeplift", "lrp"],
            Attribution = new AttributionOptions { IntegratedGradientsSteps = 4, SmoothGradSamples = 2, ShapSamples = 4 },
        };
        var saved = new List<ExplainedDecoder>();
        var results = InterpretationBenchmark.Run(d, options, trained: (_, m) => saved.Add(m));
        Assert.Equal(4, results.Count);
        Assert.True(results[0].TestAccuracy > 1.0 / d.Classes + 0.1, $"test accuracy {results[0].TestAccuracy}");
        foreach (var r in results)
        {
            Assert.True(r.MiRandomWeights >= 0 && r.MiPermutedLabels >= 0);
            Assert.True(double.IsFinite(r.Plausibility.TruthCorrelation));
            Assert.Equal(Faithfulness.DefaultFractions.Length, r.Curve.Accuracy.Length);
        }
        // On a linear model IG and DeepLift coincide, so their faithfulness does too.
        Assert.Equal(results[1].Curve.Accuracy, results[2].Curve.Accuracy);
        var summary = InterpretationBenchmark.Summary(results);
        Assert.Contains("Most faithful first", summary);

        string dir = Path.Combine(Path.GetTempPath(), $"interp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string ckpt = Path.Combine(dir, "linear.ckpt");
            saved[0].Save(ckpt);
            var loaded = ExplainedDecoder.Load(ckpt);
            var x = d.Inputs(d.Indices("test"), volume: false);
            Assert.Equal(Attribution.Logits(saved[0].Forward, x).Data, Attribution.Logits(loaded.Forward, x).Data);
            var (code, output, error) = CliRunner.Run("explain", "--model", ckpt, "--method", "input_x_gradient", "--out", Path.Combine(dir, "out"), "--trials", "5");
            Assert.True(code == 0, error);
            Assert.Contains("faithfulness", output);
            foreach (var f in new[] { "input_x_gradient_maps.npy", "input_x_gradient_maps.nii", "labels.npy" }) Assert.True(File.Exists(Path.Combine(dir, "out", f)), f);
            Assert.Single(Directory.GetFiles(Path.Combine(dir, "out"), "*_panel.png"));
            var bad = CliRunner.Run("explain", "--model", ckpt, "--method", "saliency", "--out", dir);
            Assert.Equal(2, bad.Code);
            Assert.Single(bad.Err.Trim().Split('\n'));
            var missing = CliRunner.Run("explain", "--model", Path.Combine(dir, "none.ckpt"), "--method", "gradient", "--out", dir);
            Assert.Equal(2, missing.Code);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
    [Theory]
    // Expected epochs worked by hand from the curves below (patience 3): accuracy with min_epochs 4 takes
    // index 6 (ties index 4 at 0.7 with the lower loss) and stops after index 9; loss with min_epochs 4
    // takes index 8 and runs all 12; accuracy with min_epochs 0 takes index 1 (the old rule's pick for
    // both of the others, since index 1 has the highest accuracy) and stops after index 4.
    [InlineData("accuracy", 4, 6, 10)]
    [InlineData("loss", 4, 8, 12)]
    [InlineData("accuracy", 0, 1, 5)]
    public void Train_KeepsTheEpochEpochSelectionPicks_OnAHandMadeCurve(string rule, int minEpochs, int expectedChosen, int expectedRun)
    {
        double[] accuracy = [0.5, 0.9, 0.6, 0.6, 0.7, 0.65, 0.7, 0.6, 0.6, 0.6, 0.7, 0.7];
        double[] loss = [1.0, 0.5, 0.8, 0.8, 0.9, 0.7, 0.6, 0.9, 0.55, 0.9, 0.9, 0.9];
        Assert.Equal((expectedChosen, expectedRun), EpochSelection.Choose(loss, accuracy, rule, minEpochs, patience: 3));
        var d = Data.Value;
        var snapshots = new List<double[]>();
        var decoder = ExplainedDecoder.Train(new DecoderSpec { Kind = "linear", Classes = d.Classes, Seed = 1 }, d, epochs: 12, lr: 1e-2, weightDecay: 1e-2, batch: 32,
            patience: 3, selection: rule, minEpochs: minEpochs, validate: m =>
            {
                snapshots.Add(Flat(m));
                return (loss[snapshots.Count - 1], accuracy[snapshots.Count - 1]);
            });
        Assert.Equal(expectedRun, snapshots.Count);
        Assert.NotEqual(snapshots[^1], snapshots[expectedChosen]);
        Assert.Equal(snapshots[expectedChosen], Flat(decoder));
        Assert.Equal(accuracy[expectedChosen], decoder.Spec.ValidationAccuracy);

        static double[] Flat(ExplainedDecoder m) => m.Module.Parameters().SelectMany(p => p.Value.Data).ToArray();
    }

    [Fact]
    public void Spread_RanksWithinEachSeed_AndGivesTheSpearmanPerSeed()
    {
        // Seed 1: faithfulness and plausibility agree (rho = +1); seed 2: they oppose (rho = -1).
        static MethodResult R(string m, int seed, double meanAccuracy, double truth) =>
            new(m, seed, 0.6, double.NaN, meanAccuracy, 0, 0, new PlausibilityResult(truth, truth, 1, 0), new OcclusionCurve([0.0], [meanAccuracy], 1.0 / 3, double.NaN, 10));
        var results = new[]
        {
            R("a", 1, 0.1, 0.9), R("b", 1, 0.2, 0.5), R("c", 1, 0.3, 0.1),
            R("a", 2, 0.1, 0.1), R("b", 2, 0.2, 0.5), R("c", 2, 0.3, 0.9),
        };
        var s = InterpretationBenchmark.Spread(results);
        Assert.Equal(2, s.Seeds);
        Assert.Equal([1.0, -1.0], s.SpearmanTruthPerSeed.Select(v => Math.Round(v, 12)));
        Assert.Equal(0, s.SpearmanTruth.Mean, 12);
        Assert.Equal(Math.Sqrt(2), s.SpearmanTruth.Sd, 12);
        var a = s.Methods.Single(m => m.Method == "a");
        Assert.Equal((1.0, 0.0), (a.FaithfulnessRank.Mean, a.FaithfulnessRank.Sd));
        Assert.Equal(2.0, a.TruthRank.Mean, 12);
        Assert.Equal(Math.Sqrt(2), a.TruthRank.Sd, 12);
        Assert.Equal((1.0, 3.0), (a.TruthRank.Min, a.TruthRank.Max));
        var b = s.Methods.Single(m => m.Method == "b");
        Assert.Equal((2.0, 0.0), (b.TruthRank.Mean, b.TruthRank.Sd));
        Assert.Equal(["a", "b", "c"], s.Methods.Select(m => m.Method));
        Assert.Contains("\"spearman_faithfulness_r_truth_per_seed\"", InterpretationBenchmark.Json(results));
        Assert.Contains("Ranks within each seed", InterpretationBenchmark.Summary(results));
    }

    [Theory]
    [InlineData("--suppressor-weight", "-1")]
    [InlineData("--suppressor-fraction", "0.7")]
    [InlineData("--subjects", "3")]
    [InlineData("--lr", "0")]
    [InlineData("--selection", "best")]
    [InlineData("--min-epochs", "61")]
    [InlineData("--patience", "0")]
    public void ExplainBenchmark_RejectsBadSimulationAndTrainingOptions(string option, string value)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"interp-bad-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            var (code, _, error) = CliRunner.Run("explain-benchmark", "--out", dir, option, value);
            Assert.Equal(2, code);
            Assert.Contains(option, error);
            Assert.Single(error.Trim().Split('\n'));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void StrongSuppressors_InTrialMaps_CarryNoClassSignalButTheTruthVoxelsNoise()
    {
        // A large shared-noise weight: in the trial z maps the suppressors' class means stay flat
        // while their trial-to-trial fluctuation (class means removed) follows the truth voxels'.
        var d = TrialMaps.Build(new SimulationOptions
        {
            Preset = "tiny", Nx = 8, Ny = 9, Nz = 8, Parcels = 6, Networks = 3, Scans = 160, Subjects = 6, Cnr = 2, Seed = 3,
            SuppressorWeight = 3, SuppressorFraction = 0.1, SpontaneousAmplitude = 0,
        });
        var l = d.Layout;
        int v = d.Units;
        var suppressors = Enumerable.Range(0, v).Where(u => l.Suppressor[u]).ToArray();
        var truth = Enumerable.Range(0, v).Where(u => l.Support[u]).ToArray();
        var others = Enumerable.Range(0, v).Where(u => !l.Support[u] && !l.Suppressor[u]).ToArray();
        Assert.NotEmpty(suppressors);
        // Class signal: the spread of the class means of each voxel, averaged over a voxel set.
        double ClassSpread(int[] set) => set.Average(u =>
        {
            var means = Enumerable.Range(0, d.Classes).Select(c => Enumerable.Range(0, d.Count).Where(i => d.Labels[i] == c).Average(i => d.Maps[i * v + u])).ToArray();
            return means.Max() - means.Min();
        });
        Assert.True(ClassSpread(suppressors) < 0.5 * ClassSpread(truth), $"class spread suppressors {ClassSpread(suppressors)}, truth {ClassSpread(truth)}");
        // Noise: per trial, the mean over a voxel set with each class's mean removed.
        double[] Residual(int[] set)
        {
            var m = Enumerable.Range(0, d.Count).Select(i => set.Average(u => d.Maps[i * v + u])).ToArray();
            var classMean = Enumerable.Range(0, d.Classes).Select(c => Enumerable.Range(0, d.Count).Where(i => d.Labels[i] == c).Average(i => m[i])).ToArray();
            return m.Select((x, i) => x - classMean[d.Labels[i]]).ToArray();
        }
        var rt = Residual(truth);
        double withSuppressors = Plausibility.Pearson(Residual(suppressors), rt), withOthers = Plausibility.Pearson(Residual(others), rt);
        Assert.True(withSuppressors > 0.6 && withSuppressors > withOthers + 0.3, $"r(suppressors, truth) {withSuppressors}, r(others, truth) {withOthers}");
    }
}
