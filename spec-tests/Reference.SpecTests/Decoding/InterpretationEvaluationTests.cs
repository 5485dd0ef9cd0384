using MathNet.Numerics;
using Reference.Autodiff;
using Reference.Core;
using Reference.Decoding.Interpretation;

namespace Reference.SpecTests.Decoding;

/// <summary>Occlusion faithfulness, the KSG mutual information and plausibility against cases with known answers.</summary>
public class InterpretationEvaluationTests
{
    /// <summary>KSG estimator 1 written out with an O(N^2) neighbour search (the independent definition).</summary>
    private static double NaiveKsg(double[] x, double[] y, int k)
    {
        int n = x.Length;
        double s = 0;
        for (int i = 0; i < n; i++)
        {
            var d = Enumerable.Range(0, n).Where(j => j != i).Select(j => Math.Max(Math.Abs(x[j] - x[i]), Math.Abs(y[j] - y[i]))).OrderBy(v => v).ToArray();
            double eps = Math.BitDecrement(d[k - 1]);
            int nx = Enumerable.Range(0, n).Count(j => j != i && Math.Abs(x[j] - x[i]) <= eps);
            int ny = Enumerable.Range(0, n).Count(j => j != i && Math.Abs(y[j] - y[i]) <= eps);
            s += SpecialFunctions.DiGamma(nx + 1) + SpecialFunctions.DiGamma(ny + 1);
        }
        return Math.Max(0, SpecialFunctions.DiGamma(n) + SpecialFunctions.DiGamma(k) - s / n);
    }

    private static (double[] X, double[] Y) Gaussian(int n, double rho, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var x = new double[n];
        var y = new double[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = rng.Normal();
            y[i] = rho * x[i] + Math.Sqrt(1 - rho * rho) * rng.Normal();
        }
        return (x, y);
    }

    [Fact]
    public void Ksg_MatchesTheNaiveEstimator_AndTheGaussianClosedForm()
    {
        foreach (var (rho, seed) in new[] { (0.0, 1UL), (0.5, 2UL), (0.9, 3UL) })
        {
            var (x, y) = Gaussian(150, rho, seed);
            // Standardize as the estimator does (sd scaling), without jitter: the values are distinct.
            double sx = Math.Sqrt(x.Select(v => v - x.Average()).Sum(v => v * v) / x.Length), sy = Math.Sqrt(y.Select(v => v - y.Average()).Sum(v => v * v) / y.Length);
            double naive = NaiveKsg(x.Select(v => v / sx).ToArray(), y.Select(v => v / sy).ToArray(), 3);
            Assert.Equal(naive, MutualInformation.Ksg(x, y), 6);
        }
        foreach (var rho in new[] { 0.0, 0.6, 0.9 })
        {
            var (x, y) = Gaussian(3000, rho, 7);
            double exact = -0.5 * Math.Log(1 - rho * rho);
            Assert.InRange(MutualInformation.Ksg(x, y), exact - 0.04, exact + 0.04);
        }
        var (a, _) = Gaussian(500, 0, 4);
        Assert.True(MutualInformation.Ksg(a, a.Select(v => 2 * v + 1).ToArray()) > 2.5);
    }

    [Fact]
    public void FractionGrid_IsTheBenchmarks()
    {
        var f = Faithfulness.DefaultFractions;
        Assert.Equal(36, f.Length);
        Assert.Equal(0, f[0]);
        Assert.Equal(0.002, f[1], 12);
        Assert.Equal(0.02, f[10], 12);
        Assert.Equal(0.5, f[^1], 12);
    }

    [Fact]
    public void Occlusion_FindsTheOneUnitTheModelUses()
    {
        // Two classes decided by the sign of unit 3 of 50: logits (x3, -x3).
        int d = 50, n = 40;
        var w = new double[2 * d];
        w[3] = 1;
        w[d + 3] = -1;
        var wv = Variable.Constant(new Tensor<double>(w, 2, d));
        Variable f(Variable x) => Ops.Linear(x, wv);
        var rng = new SplitMix64(3);
        var x = Tensor<double>.Zeros(n, d);
        var labels = new int[n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < d; j++) x.Data[i * d + j] = rng.Normal();
            labels[i] = x.Data[i * d + 3] > 0 ? 0 : 1;
            if (i == 0) labels[i] = 1 - labels[i];
        }
        var good = Tensor<double>.Zeros(n, d);
        var bad = Tensor<double>.Zeros(n, d);
        for (int i = 0; i < n; i++)
        {
            good.Data[i * d + 3] = 1;
            bad.Data[i * d + 3] = -1;
        }
        var c = Faithfulness.Occlusion(f, x, labels, good);
        Assert.Equal(n - 1, c.Trials);
        var kept = labels.Skip(1).ToArray();
        Assert.Equal(kept.GroupBy(l => l).Max(g => g.Count()) / (double)kept.Length, c.Chance, 12);
        Assert.Equal(1.0, c.Accuracy[0]);
        // 2% of 50 units = 1 unit: the first fraction that occludes anything.
        Assert.Equal(0.02, c.ChanceFraction, 12);
        var never = Faithfulness.Occlusion(f, x, labels, bad);
        Assert.True(double.IsNaN(never.ChanceFraction));
        Assert.Equal(1.0, never.Accuracy[^1]);
        Assert.Throws<ArgumentException>(() => Faithfulness.Occlusion(f, x, labels, Tensor<double>.Zeros(n, d - 1)));
    }

    [Fact]
    public void Plausibility_OfTheTruthItself_IsOne_AndSuppressorsAreCounted()
    {
        int v = 20, c = 2;
        var truth = new double[c * v];
        for (int u = 0; u < 5; u++) { truth[u] = 1; truth[v + u] = -0.5; }
        for (int u = 5; u < 10; u++) { truth[u] = -0.5; truth[v + u] = 1; }
        var support = Enumerable.Range(0, v).Select(u => u < 10).ToArray();
        var suppressor = Enumerable.Range(0, v).Select(u => u is 12 or 13).ToArray();
        int[] labels = [0, 1, 0];
        var maps = new double[3 * v];
        for (int i = 0; i < 3; i++) Array.Copy(truth, labels[i] * v, maps, i * v, v);
        var p = Plausibility.Measure(maps, labels, c, truth, truth, suppressor, support);
        Assert.Equal(1.0, p.TruthCorrelation, 12);
        Assert.Equal(1.0, p.GlmCorrelation, 12);
        Assert.Equal(0.0, p.SuppressorRatio);
        for (int i = 0; i < 3; i++) maps[i * v + 12] = 5;
        var q = Plausibility.Measure(maps, labels, c, truth, truth, suppressor, support);
        Assert.True(q.SuppressorRatio > 0);
        Assert.Equal(0.5 / 0.1, q.SuppressorTopShare, 12);
    }
}
