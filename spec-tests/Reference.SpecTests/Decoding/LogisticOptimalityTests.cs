using Reference.Core;
using Reference.Neuro.Connectome;

namespace Reference.SpecTests.Decoding;

/// <summary>
/// The L2 logistic regression's fit is the minimizer: the gradient of
/// L = (1/n) sum [log(1 + e^z) - y z] + (lambda/2)|w|^2, evaluated here directly from its
/// definition (not through the class), vanishes at the fit, for n > d (Newton on w) and for
/// d > n (the row-space path).
/// </summary>
public class LogisticOptimalityTests
{
    private static (double[] X, int[] Y) Data(int n, int d, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var w = Enumerable.Range(0, d).Select(_ => rng.Normal()).ToArray();
        var x = new double[n * d];
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            double z = 0.3;
            for (int j = 0; j < d; j++) { x[i * d + j] = rng.Normal(); z += w[j] * x[i * d + j] / Math.Sqrt(d); }
            y[i] = rng.Uniform(0, 1) < 1 / (1 + Math.Exp(-2 * z)) ? 1 : 0;
        }
        return (x, y);
    }

    private static double[] DirectGradient(double[] x, int[] y, double[] w, double b, double lambda)
    {
        int n = y.Length, d = w.Length;
        var g = new double[d + 1];
        for (int i = 0; i < n; i++)
        {
            double z = b;
            for (int j = 0; j < d; j++) z += w[j] * x[i * d + j];
            double r = 1 / (1 + Math.Exp(-z)) - y[i];
            for (int j = 0; j < d; j++) g[j] += r * x[i * d + j] / n;
            g[d] += r / n;
        }
        for (int j = 0; j < d; j++) g[j] += lambda * w[j];
        return g;
    }

    [Theory]
    [InlineData(80, 5, 0.1, 1UL)]
    [InlineData(60, 12, 1e-3, 2UL)]
    [InlineData(20, 300, 0.01, 3UL)]
    [InlineData(15, 600, 1.0, 4UL)]
    [InlineData(30, 31, 0.05, 5UL)]
    public void GradientOfPenalizedLoss_VanishesAtTheFit(int n, int d, double lambda, ulong seed)
    {
        var (x, y) = Data(n, d, seed);
        var model = LogisticRegression.Fit(x, y, lambda);
        var g = DirectGradient(x, y, model.Weights, model.Bias, lambda);
        double norm = Math.Sqrt(g.Sum(v => v * v));
        Assert.True(norm < 1e-8, $"|gradient| = {norm:E2} at the fit (n = {n}, d = {d}, lambda = {lambda}); expected ~0.");
        // And the fit is not trivially zero: the penalized problem has a nonzero solution here.
        Assert.Contains(model.Weights, w => Math.Abs(w) > 1e-6);
        // The class's own gradient agrees with the direct one.
        var own = model.Gradient(x, y);
        for (int j = 0; j <= d; j++) Assert.Equal(g[j], own[j], 1e-9);
    }

    [Fact]
    public void RowSpacePath_MovingOffTheFit_RaisesTheGradient()
    {
        // A perturbed w must have a clearly nonzero gradient, so the check above can fail.
        var (x, y) = Data(15, 600, 4);
        var model = LogisticRegression.Fit(x, y, 1.0);
        var w = (double[])model.Weights.Clone();
        w[0] += 1e-3;
        var g = DirectGradient(x, y, w, model.Bias, 1.0);
        Assert.True(Math.Sqrt(g.Sum(v => v * v)) > 1e-5);
    }
}
