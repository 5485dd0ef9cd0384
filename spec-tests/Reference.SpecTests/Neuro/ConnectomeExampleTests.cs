using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Neuro.Connectome;
using Reference.Neuro.Simulation;
using Reference.SpecTests.Cli;

namespace Reference.SpecTests.Neuro;

/// <summary>
/// The worked connectome example of docs/connectomics.md: the planted group difference is found by
/// tangent-space connectivity + logistic regression on held-out subjects, and the soft atlas learned
/// on the tape recovers the planted parcels; plus the pieces (logistic regression, ARI) against
/// closed forms.
/// </summary>
public class ConnectomeExampleTests
{
    [Fact]
    public void Classify_FindsThePlantedGroupDifferenceOnHeldOutSubjects()
    {
        var r = ConnectomeExample.Classify();
        Assert.Equal(8, r.Test);
        Assert.Equal(0.5, r.Chance);
        Assert.True(r.TestAccuracy == 1, $"test accuracy {r.TestAccuracy} (chance {r.Chance}), lambda {r.Lambda}");
        Assert.True(r.TopEdgeIsPlanted, $"the largest weight is on edge ({r.EdgeA}, {r.EdgeB}), not between networks 0 and 1");
    }

    [Fact]
    public void Classify_WithoutADifference_StaysNearChance()
    {
        // A negative control: coupling 0.01 (practically none) must not give a perfect classifier.
        var r = ConnectomeExample.Classify(SimulationOptions.FromPreset("connectome") with { GroupCoupling = 0.01 });
        Assert.True(r.TestAccuracy <= 0.875, $"test accuracy {r.TestAccuracy} without a planted difference");
    }

    [Fact]
    public void LearnedParcellation_RecoversThePlantedParcels()
    {
        var r = ConnectomeExample.LearnParcellation();
        Assert.True(r.AdjustedRandIndex > 0.8, $"ARI {r.AdjustedRandIndex:F3} (loss {r.Loss:F4})");
        Assert.Equal(r.Parcels, r.Labels.Distinct().Count());
    }

    [Theory]
    [InlineData(new[] { 0, 0, 1, 1 }, new[] { 0, 0, 1, 1 }, 1.0)]
    [InlineData(new[] { 0, 0, 1, 1 }, new[] { 1, 1, 0, 0 }, 1.0)]
    [InlineData(new[] { 0, 0, 1, 2 }, new[] { 0, 0, 1, 1 }, 0.5714285714285714)]
    [InlineData(new[] { 0, 0, 0, 0 }, new[] { 0, 1, 2, 3 }, 0.0)]
    [InlineData(new[] { 0, 0, 1, 1 }, new[] { 0, 1, 0, 1 }, -0.5)]
    public void AdjustedRandIndex_MatchesHandComputedValues(int[] a, int[] b, double expected) =>
        // E.g. {0,0,1,2} vs {0,0,1,1}: index 1, row pairs 1, column pairs 2, E = 2/6, ARI = (1 - 1/3) / (1.5 - 1/3) = 4/7.
        Assert.Equal(expected, AdjustedRandIndex.Compute(a, b), 12);

    [Property(MaxTest = 20)]
    public Property LogisticRegression_IsStationaryAtItsSolution() =>
        Prop.ForAll(Gen.Choose(1, 10000).ToArbitrary(), seed =>
        {
            var rng = new SplitMix64((ulong)seed);
            int n = 30 + rng.NextInt(30), d = 1 + rng.NextInt(6);
            var x = new double[n * d];
            var y = new int[n];
            for (int i = 0; i < n; i++)
            {
                double z = 0;
                for (int j = 0; j < d; j++) z += (x[i * d + j] = rng.Normal()) * (j + 1);
                y[i] = rng.Uniform() < LogisticRegression.Sigmoid(z) ? 1 : 0;
            }
            if (y.Distinct().Count() < 2) y[0] = 1 - y[0];
            double lambda = Math.Pow(10, rng.Uniform(-3, 0));
            var model = LogisticRegression.Fit(x, y, lambda);
            // The objective's gradient vanishes at the minimizer (KKT of the strictly convex problem).
            return model.Gradient(x, y).All(g => Math.Abs(g) < 1e-9);
        });

    [Fact]
    public void LogisticRegression_SeparableDataStaysFiniteThanksToTheL2Term()
    {
        var x = new double[] { -2, -1, 1, 2 };
        var model = LogisticRegression.Fit(x, [0, 0, 1, 1], 0.01);
        Assert.True(double.IsFinite(model.Weights[0]) && model.Weights[0] > 0);
        // Symmetric data: the intercept is 0 and the weight solves mean((sigma(w x) - y) x) + lambda w = 0.
        Assert.Equal(0.0, model.Bias, 9);
        Assert.Throws<ArgumentOutOfRangeException>(() => LogisticRegression.Fit(x, [0, 0, 1, 1], 0));
    }

    [Fact]
    public void Cli_Connectome_PrintsBothParts()
    {
        // Few steps keep this quick; the example's numbers are checked above, here the verb's output and exit code.
        var (code, output, error) = CliRunner.Run("connectome", "--steps", "10", "--restarts", "1");
        Assert.True(code is 0 or 1, error);
        Assert.Contains("test accuracy 1.000 (chance 0.500)", output);
        Assert.Matches(@"adjusted Rand index -?[0-9.]+", output);
        Assert.Equal(code == 0, double.Parse(System.Text.RegularExpressions.Regex.Match(output, @"adjusted Rand index (-?[0-9.]+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) > 0.8);
        var bad = CliRunner.Run("connectome", "--group-coupling", "0");
        Assert.Equal(2, bad.Code);
        Assert.Contains("plant no group difference", bad.Err);
    }
}
