using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.Bench;

/// <summary>
/// `--elementwise-parts [repeats]`: the width-32 H3 step's elementwise and normalization parts (bench/models/h3-2layer.json, one
/// micro-batch of dp2: 1024 tokens) on one thread, each the best of <c>repeats</c> calls by wall time on warm buffers:
/// GELU with its derivative on the MLP's 1024 x 128 pre-activations (standard normal values), GELU alone and its VJP from
/// x, the VJP's product g d from the kept derivative, LayerNorm forward and backward on 1024 x 32 rows (gamma, beta and
/// both parameter gradients, as Ops.LayerNorm calls them), float64 Sigmoid, Tanh and the span exp (VectorMath.Exp) on 1024 x 128 values, and LogSoftmax on
/// the step's 1024 x 20 logits (cross-entropy over the vocabulary of 20).
/// Public entry points only, so an older build of Reference.Core runs the same parts; a hash of each result shows whether
/// two builds computed the same bits.
/// </summary>
public static class ElementwiseParts
{
    public static void Run(int repeats)
    {
        var rng = new SplitMix64(5);
        using var one = KernelThreads.Limit(1);
        var x = rng.NormalTensor<double>(0, 1, 1024 * 128).Data;
        var g = rng.NormalTensor<double>(0, 1, x.Length).Data;
        var y = new double[x.Length];
        var d = new double[x.Length];
        var gx = new double[x.Length];
        Report("GELU with derivative, 1024 x 128", StepParts.Best(repeats, () => FastActivations.GeluWithDerivative(x, y, d)), x.Length, y, d);
        Report("GELU forward, 1024 x 128", StepParts.Best(repeats, () => FastActivations.Gelu<double>(x, y)), x.Length, y);
        Report("GELU backward from x, 1024 x 128", StepParts.Best(repeats, () => FastActivations.GeluBackward<double>(x, g, gx)), x.Length, gx);
        Report("GELU VJP g d, 1024 x 128", StepParts.Best(repeats, () => TensorPrimitives.Multiply(g, d, gx)), x.Length, gx);

        const int rows = 1024, cols = 32;
        var xn = rng.NormalTensor<double>(0.3, 1.5, rows * cols).Data;
        var gamma = rng.NormalTensor<double>(1, 0.2, cols).Data;
        var beta = rng.NormalTensor<double>(0, 0.2, cols).Data;
        var yn = new double[xn.Length];
        var mean = new double[rows];
        var rstd = new double[rows];
        var dy = rng.NormalTensor<double>(0, 1, xn.Length).Data;
        var dx = new double[xn.Length];
        var dgamma = new double[cols];
        var dbeta = new double[cols];
        Report("LayerNorm forward, 1024 x 32", StepParts.Best(repeats, () => FastNormalization.LayerNorm<double>(xn, gamma, beta, yn, mean, rstd, cols)), xn.Length, yn, mean, rstd);
        Report("LayerNorm backward, 1024 x 32", StepParts.Best(repeats, () => FastNormalization.LayerNormBackward<double>(xn, gamma, mean, rstd, dy, dx, dgamma, dbeta, cols)),
            xn.Length, dx, dgamma, dbeta);

        var xs = rng.NormalTensor<double>(0, 4, x.Length).Data;
        Report("Sigmoid float64, 1024 x 128", StepParts.Best(repeats, () => FastActivations.Sigmoid<double>(xs, y)), x.Length, y);
        Report("Tanh float64, 1024 x 128", StepParts.Best(repeats, () => FastActivations.Tanh<double>(xs, y)), x.Length, y);
        var ex = new double[x.Length];
        Report("VectorMath.Exp float64, 1024 x 128", StepParts.Best(repeats, () => VectorMath.Exp<double>(xs, ex)), x.Length, ex);
        var logits = rng.NormalTensor<double>(0, 3, 1024 * 20).Data;
        var logp = new double[logits.Length];
        Report("LogSoftmax float64, 1024 x 20", StepParts.Best(repeats, () => FastNormalization.LogSoftmax<double>(logits, logp, 20)), logits.Length, logp);
        Console.WriteLine($"load average at the end {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
    }

    private static void Report(string part, double seconds, int values, params double[][] results) =>
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{part}: {seconds * 1e6:F1} us, {seconds / values * 1e9:F2} ns per value, hash {string.Join(' ', results.Select(StepParts.Hash))}"));
}
