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
}
