using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using MathNet.Numerics.Distributions;
using MathNet.Numerics.LinearAlgebra;
using Reference.Core;
using Reference.Neuro.Glm;
using Reference.Neuro.Simulation;

namespace Reference.SpecTests.Neuro;

/// <summary>The GLM against MathNet's QR least squares and an explicit GLS, t to z against MathNet, and the simulator's truth.</summary>
public class GlmTests
{
    private static (double[] X, double[] Y, string[] Names) Random(int t, int p, int v, ulong seed, double rho = 0)
    {
        var rng = new SplitMix64(seed);
        var x = new double[t * p];
        for (int i = 0; i < t; i++)
        {
            x[i * p] = 1;
            for (int j = 1; j < p; j++) x[i * p + j] = rng.Normal();
        }
        var y = new double[t * v];
        for (int k = 0; k < v; k++)
        {
            double e = rng.Normal();
            for (int i = 0; i < t; i++)
            {
                if (i > 0) e = rho * e + Math.Sqrt(1 - rho * rho) * rng.Normal();
                double s = e;
                for (int j = 0; j < p; j++) s += (j + 1) * 0.3 * x[i * p + j];
                y[i * v + k] = s;
            }
        }
        return (x, y, Enumerable.Range(0, p).Select(j => $"c{j}").ToArray());
    }

    [Property(MaxTest = 30)]
    public Property Ols_MatchesMathNetQr() =>
        Prop.ForAll(Gen.Choose(1, 100000).ToArbitrary(), seed =>
        {
            var rng = new SplitMix64((ulong)seed * 7919);
            int p = 1 + rng.NextInt(6), t = p + 2 + rng.NextInt(50), v = 1 + rng.NextInt(5);
            var (x, y, names) = Random(t, p, v, (ulong)seed);
            var fit = FirstLevel.Fit(y, v, x, names);
            var xm = Matrix<double>.Build.Dense(t, p, (i, j) => x[i * p + j]);
            var c = Enumerable.Range(0, p).Select(j => rng.Uniform(-1, 1)).ToArray();
            var cv = Vector<double>.Build.DenseOfArray(c);
            var cov = xm.TransposeThisAndMultiply(xm).Inverse();
            var maps = fit.Contrast(c);
            bool ok = fit.Dof == t - p;
            for (int k = 0; k < v; k++)
            {
                var yv = Vector<double>.Build.Dense(t, i => y[i * v + k]);
                var beta = xm.QR().Solve(yv);
                var r = yv - xm * beta;
                double sigma2 = r.DotProduct(r) / (t - p);
                for (int j = 0; j < p; j++) ok &= Math.Abs(beta[j] - fit.Beta[j * v + k]) <= 1e-9 * (1 + Math.Abs(beta[j]));
                ok &= Math.Abs(sigma2 - fit.Sigma2[k]) <= 1e-9 * (1 + sigma2);
                double tv = cv.DotProduct(beta) / Math.Sqrt(sigma2 * cv.DotProduct(cov * cv));
                ok &= Math.Abs(tv - maps.T[k]) <= 1e-8 * (1 + Math.Abs(tv));
                ok &= Math.Abs(Normal.InvCDF(0, 1, StudentT.CDF(0, 1, t - p, tv)) - maps.Z[k]) <= 1e-6;
            }
            return ok;
        });

    [Fact]
    public void Ar1_IsGeneralizedLeastSquaresWithTheEstimatedRho()
    {
        int t = 60, p = 3, v = 5;
        var (x, y, names) = Random(t, p, v, 9, rho: 0.5);
        var fit = FirstLevel.Fit(y, v, x, names, ar1: true);
        var xm = Matrix<double>.Build.Dense(t, p, (i, j) => x[i * p + j]);
        for (int k = 0; k < v; k++)
        {
            double rho = fit.Rho[k];
            Assert.InRange(rho, 0.05, 0.9);
            Assert.Equal(rho, Math.Round(rho * 100) / 100, 12);
            // AR(1) covariance with unit innovations: rho^|i-j| / (1 - rho^2); GLS with its explicit inverse.
            var precision = Matrix<double>.Build.Dense(t, t, (i, j) => Math.Pow(rho, Math.Abs(i - j)) / (1 - rho * rho)).Inverse();
            var yv = Vector<double>.Build.Dense(t, i => y[i * v + k]);
            var beta = (xm.TransposeThisAndMultiply(precision * xm)).Solve(xm.TransposeThisAndMultiply(precision * yv));
            var r = yv - xm * beta;
            for (int j = 0; j < p; j++) Assert.Equal(beta[j], fit.Beta[j * v + k], 1e-8);
            Assert.Equal(r.DotProduct(precision * r) / (t - p), fit.Sigma2[k], 1e-8);
        }
    }

    [Fact]
    public void SingularDesign_IsOneClearError()
    {
        int t = 20;
        var x = new double[t * 3];
        for (int i = 0; i < t; i++) { x[i * 3] = 1; x[i * 3 + 1] = i; x[i * 3 + 2] = 2 * i - 3; }
        var e = Assert.Throws<ArgumentException>(() => FirstLevel.Fit(new double[t], 1, x, ["constant", "ramp", "ramp2"]));
        Assert.Contains("singular", e.Message);
        Assert.Contains("'ramp2'", e.Message);
        var zero = Assert.Throws<ArgumentException>(() => FirstLevel.Fit(new double[t], 1, new double[t], ["empty"]));
        Assert.Contains("'empty' is all zeros", zero.Message);
        var few = Assert.Throws<ArgumentException>(() => FirstLevel.Fit(new double[2], 1, new double[6], ["a", "b", "c"]));
        Assert.Contains("more scans than columns", few.Message);
    }

    [Theory]
    [InlineData(0.5, 5)]
    [InlineData(-2.0, 12)]
    [InlineData(4.0, 30)]
    [InlineData(-8.0, 200)]
    public void TToZ_MatchesMathNetInTheBody(double t, double dof) =>
        Assert.Equal(Normal.InvCDF(0, 1, StudentT.CDF(0, 1, dof, t)), TToZ.Convert(t, dof), 1e-8);

    [Fact]
    public void TToZ_TailsAreFiniteMonotoneAndSymmetric()
    {
        // Past p = 1e-300 the tail comes from the asymptotic series: no infinities, still increasing,
        // continuous across the switch, and z -> t as dof grows.
        double previous = 0;
        for (double t = 1; t <= 1e4; t *= 1.05)
        {
            double z = TToZ.Convert(t, 10);
            Assert.True(double.IsFinite(z) && z > previous, $"t {t}: z {z} after {previous}");
            Assert.Equal(-z, TToZ.Convert(-t, 10));
            previous = z;
        }
        Assert.Equal(35.0, TToZ.Convert(35, 1e9), 1e-3);
        // The asymptotic z against MathNet's inverse normal where both are valid.
        Assert.Equal(-Normal.InvCDF(0, 1, 1e-250), TToZ.AsymptoticZ(Math.Log(1e-250)), 1e-9);
        Assert.Equal(-Normal.InvCDF(0, 1, 1e-100), TToZ.AsymptoticZ(Math.Log(1e-100)), 1e-7);
        // The asymptotic tail of the t distribution against MathNet where MathNet is still representable.
        Assert.Equal(Math.Log(StudentT.CDF(0, 1, 10, -1e25)), TToZ.AsymptoticLogLowerTail(-1e25, 10), 1e-9);
    }

    [Fact]
    public void SecondLevel_IsTheOneSampleT()
    {
        var rng = new SplitMix64(5);
        int n = 9, v = 6;
        var maps = new double[n * v];
        for (int i = 0; i < maps.Length; i++) maps[i] = rng.Normal(0.4, 1);
        var r = SecondLevel.OneSample(maps, n);
        for (int j = 0; j < v; j++)
        {
            var column = Enumerable.Range(0, n).Select(i => maps[i * v + j]).ToArray();
            double t = MathNet.Numerics.Statistics.Statistics.Mean(column) / (MathNet.Numerics.Statistics.Statistics.StandardDeviation(column) / Math.Sqrt(n));
            Assert.Equal(t, r.T[j], 1e-10);
            Assert.Equal(Normal.InvCDF(0, 1, StudentT.CDF(0, 1, n - 1, t)), r.Z[j], 1e-8);
        }
        Assert.Throws<ArgumentException>(() => SecondLevel.OneSample(new double[3], 1));
    }

    private static SimulationOptions Small(double cnr, ulong seed) => new()
    {
        Preset = "test", Nx = 10, Ny = 12, Nz = 10, Parcels = 8, Networks = 3, Subjects = 4, Cnr = cnr, Seed = seed,
    };

    /// <summary>First-level AR(1) GLM with the simulator's confounds, contrast of condition c against the rest, per subject.</summary>
    private static List<ContrastMaps> FirstLevels(SimulatedDataset data, int condition, double highPass = 128)
    {
        var o = data.Options;
        return data.Subjects.Select(s =>
        {
            var y = s.Series.Select(f => (double)f).ToArray();
            var motionAndPhysio = s.ConfoundNames.Select((n, j) => (n, j)).Where(q => q.n != "framewise_displacement").ToArray();
            var confounds = new double[o.Scans * motionAndPhysio.Length];
            for (int i = 0; i < o.Scans; i++)
                for (int j = 0; j < motionAndPhysio.Length; j++) confounds[i * motionAndPhysio.Length + j] = s.Confounds[i * s.ConfoundNames.Length + motionAndPhysio[j].j];
            var design = DesignMatrix.FromEvents(s.Events, o.Scans, o.Tr, Hrf.Spm, false, highPass, confounds, motionAndPhysio.Select(q => q.n).ToArray(), o.Conditions);
            var fit = FirstLevel.Fit(y, data.Layout.Units, design.Values, design.Columns, ar1: true);
            return fit.Contrast(design.OneVersusRest(condition));
        }).ToList();
    }

    [Fact]
    public void Power_AtCnr1_GroupLevelFindsTheStrongTruthVoxels()
    {
        // CNR 1 (task response at a truth peak equal to the voxel noise sd), block design, 200 scans,
        // the 20 x 24 x 20 lattice, 10 subjects (the standard preset): the group one-sample z exceeds 3.09 (p < 0.001 one-sided) at >= 80% of the voxels
        // whose contrast truth is at least 0.75 CNR, and at < 1% of the voxels with no signal.
        var data = Simulator.Run(SimulationOptions.FromPreset("standard") with { Seed = 21 });
        var maps = FirstLevels(data, 0);
        int v = data.Layout.Units;
        var stacked = maps.SelectMany(m => m.Effect).ToArray();
        var group = SecondLevel.OneSample(stacked, maps.Count);
        var contrast = data.Layout.ContrastTruth(0, 3);
        var strong = Enumerable.Range(0, v).Where(j => contrast[j] >= 0.75).ToArray();
        var none = Enumerable.Range(0, v).Where(j => contrast[j] == 0 && Enumerable.Range(0, 3).All(c => data.Layout.Truth[c * v + j] == 0)).ToArray();
        Assert.True(strong.Length >= 10, $"{strong.Length} strong voxels");
        double power = strong.Count(j => group.Z[j] > 3.09) / (double)strong.Length;
        double falsePositives = none.Count(j => group.Z[j] > 3.09) / (double)none.Length;
        Assert.True(power >= 0.8, $"power {power:F3} over {strong.Length} voxels");
        Assert.True(falsePositives < 0.01, $"false positives {falsePositives:F4} over {none.Length} voxels");
        // First level: every subject's mean z over the strong voxels is positive (their shared noise makes it
        // vary between subjects), 2 on average; over the voxels without signal it is near 0 on average over
        // subjects (one subject's mean moves with its spatially shared fluctuations).
        var means = maps.Select(m => strong.Average(j => m.Z[j])).ToArray();
        Assert.All(means, m => Assert.True(m > 0.5, $"mean first-level z over the strong voxels: {string.Join(", ", means.Select(q => q.ToString("F2")))}"));
        Assert.True(means.Average() > 2, $"mean first-level z over the strong voxels: {string.Join(", ", means.Select(q => q.ToString("F2")))}");
        Assert.InRange(maps.Average(m => none.Average(j => m.Z[j])), -0.5, 0.5);
    }

    [Fact]
    public void Null_FalsePositiveRateIsNominalWithinBinomialTolerance()
    {
        // No task signal, and every structured noise term either absent or modelled exactly (motion and
        // physio regressors, drift in the cosine basis): the remaining noise is AR(1) + white, independent
        // across voxels. Under H0 the AR(1)-prewhitened first-level z exceeds 1.645 with probability 0.05;
        // over n voxel tests the count is Binomial(n, 0.05): accept within 4 standard deviations.
        var o = Small(0, 33) with { Design = "event", SpontaneousAmplitude = 0, SuppressorWeight = 0, Subjects = 4 };
        var data = Simulator.Run(o);
        var maps = FirstLevels(data, 1);
        var z = maps.SelectMany(m => m.Z).ToArray();
        int n = z.Length;
        double rate = z.Count(q => q > 1.645) / (double)n;
        double sd = Math.Sqrt(0.05 * 0.95 / n);
        Assert.True(Math.Abs(rate - 0.05) < 4 * sd, $"false-positive rate {rate:F4} over {n} tests; nominal 0.05 +- {4 * sd:F4}");
        double twoSided = z.Count(q => Math.Abs(q) > 1.96) / (double)n;
        Assert.True(Math.Abs(twoSided - 0.05) < 4 * sd, $"two-sided rate {twoSided:F4}");
    }
}
