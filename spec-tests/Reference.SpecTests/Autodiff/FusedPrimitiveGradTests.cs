using FsCheck.Xunit;
using Reference.Autodiff;
using Reference.Core;

namespace Reference.SpecTests.Autodiff;

/// <summary>gradcheck of the fused primitives (softmax, norms, embedding, causal conv, dropout, losses) with random shapes.</summary>
public class FusedPrimitiveGradTests
{
    [Property(Arbitrary = [typeof(ShapeCase)], MaxTest = 20)]
    public void Property_SoftmaxAndLogSoftmax_AnyAxis_PassGradCheck(ShapeCase c)
    {
        var x = Grad.Normal((ulong)c.Seed, c.Shape);
        int axis = new SplitMix64((ulong)c.Seed).NextInt(c.Shape.Length);
        Grad.AssertPasses(v => Grad.Probe(Ops.Softmax(v[0], axis)), x);
        Grad.AssertPasses(v => Grad.Probe(Ops.LogSoftmax(v[0], axis)), x);
    }

    [Property(Arbitrary = [typeof(ShapeCase)], MaxTest = 20)]
    public void Property_LayerNormAndRmsNorm_PassGradCheck(ShapeCase c)
    {
        var x = Grad.Normal((ulong)c.Seed, c.Shape);
        int d = c.Shape[^1];
        var w = Grad.Normal((ulong)c.Seed + 1, d);
        var b = Grad.Normal((ulong)c.Seed + 2, d);
        // D = 1 makes LayerNorm's output constant (x - mu = 0): gradcheck still holds (gradient 0 for x).
        Grad.AssertPasses(v => Grad.Probe(Ops.LayerNorm(v[0], v[1], v[2])), x, w, b);
        Grad.AssertPasses(v => Grad.Probe(Ops.LayerNorm(v[0], null, null)), x);
        Grad.AssertPasses(v => Grad.Probe(Ops.RmsNorm(v[0], v[1])), x, w);
    }

    [Property(Arbitrary = [typeof(ShapeCase)], MaxTest = 15)]
    public void Property_EmbeddingAndCausalConv_PassGradCheck(ShapeCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        int vocab = 1 + rng.NextInt(6), d = c.Shape[^1];
        var ids = Enumerable.Range(0, 7).Select(_ => rng.NextInt(vocab)).ToArray();
        var table = Grad.Normal((ulong)c.Seed, vocab, d);
        Grad.AssertPasses(v => Grad.Probe(Ops.Embedding(v[0], ids, 7)), table);

        int k = 1 + rng.NextInt(4);
        int[] xShape = c.Shape.Length == 3 ? c.Shape : [2, c.Shape[0], d];
        var x = Grad.Normal((ulong)c.Seed + 3, xShape);
        var w = Grad.Normal((ulong)c.Seed + 4, xShape[2], k);
        var bias = Grad.Normal((ulong)c.Seed + 5, xShape[2]);
        Grad.AssertPasses(v => Grad.Probe(Ops.CausalConv1d(v[0], v[1], v[2])), x, w, bias);
        Grad.AssertPasses(v => Grad.Probe(Ops.CausalConv1d(v[0], v[1])), x, w);
    }

    [Property(Arbitrary = [typeof(ShapeCase)], MaxTest = 15)]
    public void Property_SeededDropoutAndGeluTanh_PassGradCheck(ShapeCase c)
    {
        var x = Grad.Normal((ulong)c.Seed, c.Shape);
        Grad.AssertPasses(v => Grad.Probe(Ops.Dropout(v[0], 0.3, new SplitMix64((ulong)c.Seed))), x);
        Grad.AssertPasses(v => Grad.Probe(Ops.GeluTanh(v[0])), x);
    }

    [Property(Arbitrary = [typeof(ShapeCase)], MaxTest = 15)]
    public void Property_Losses_PassGradCheck(ShapeCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        int n = c.Shape[0], classes = 1 + c.Shape[^1];
        var logits = Grad.Normal((ulong)c.Seed, n, classes);
        var targets = Enumerable.Range(0, n).Select(i => i % 3 == 1 ? -100 : rng.NextInt(classes)).ToArray();
        if (targets.All(t => t == -100)) targets[0] = 0;
        foreach (var reduction in new[] { Reduction.Mean, Reduction.Sum })
            Grad.AssertPasses(v => Ops.CrossEntropy(v[0], targets, labelSmoothing: 0.1, reduction: reduction), logits);
        Grad.AssertPasses(v => Grad.Probe(Ops.CrossEntropy(v[0], targets, reduction: Reduction.None)), logits);

        var x = Grad.Normal((ulong)c.Seed + 1, c.Shape);
        var t = new SplitMix64((ulong)c.Seed + 2).UniformTensor<double>(0, 1, c.Shape);
        Grad.AssertPasses(v => Ops.MseLoss(v[0], v[1]), x, t);
        Grad.AssertPasses(v => Ops.L1Loss(v[0], v[1]), x, t);
        Grad.AssertPasses(v => Ops.BceWithLogits(v[0], v[1]), x, t);
    }

    [Fact]
    public void Property_Softmax_IsStableForHugeLogits()
    {
        // log-sum-exp: without the max shift e^1000 overflows to Inf.
        var x = Variable.Constant(Tensor<double>.FromSpan([1000.0, 999.0, -1000.0], 3));
        var p = Ops.Softmax(x).Value.Data;
        double e1 = Math.Exp(-1.0);
        Assert.Equal(1.0 / (1.0 + e1), p[0], 1e-15);
        Assert.Equal(e1 / (1.0 + e1), p[1], 1e-15);
        Assert.Equal(0.0, p[2]);
        Assert.Equal(-Math.Log(1.0 + e1), Ops.LogSoftmax(x).Value.Data[0], 1e-15);
    }

    /// <summary>
    /// The fast tier's cross-entropy VJP (vector exp) against the definition g_i (softmax(z)[i, c] - q[i, c]) evaluated
    /// independently here (max-shifted Math.Exp over the row, float64) to 1e-14 of the largest entry, and against the naive
    /// tier's VJP to a few ulp; ignored rows exactly zero. Class counts below, at and above the vector width, label smoothing
    /// 0 and 0.1, all three reductions.
    /// </summary>
    [Theory]
    [InlineData(37, 3)]
    [InlineData(16, 8)]
    [InlineData(64, 29)]
    public void Property_CrossEntropyFastGradient_MatchesTheDefinition(int n, int classes)
    {
        var logits = Grad.Normal((ulong)(n * 31 + classes), n, classes);
        var rng = new SplitMix64((ulong)classes);
        var targets = Enumerable.Range(0, n).Select(i => i % 5 == 2 ? -100 : rng.NextInt(classes)).ToArray();
        int count = targets.Count(t => t != -100);
        foreach (double smoothing in new[] { 0.0, 0.1 })
            foreach (var reduction in new[] { Reduction.Mean, Reduction.Sum, Reduction.None })
            {
                var seed = Grad.Normal(7, n);
                double[] Gradient(bool fast)
                {
                    var z = Variable.Parameter(logits.Clone());
                    using (fast ? Tape.UseFastKernels() : default)
                    {
                        var loss = Ops.CrossEntropy(z, targets, labelSmoothing: smoothing, reduction: reduction);
                        loss.Backward(reduction == Reduction.None ? seed : Tensor<double>.Full(1.5, loss.Value.ShapeArray));
                    }
                    return z.Grad!.Data;
                }
                var expected = new double[n * classes];
                for (int i = 0; i < n; i++)
                {
                    if (targets[i] == -100) continue;
                    double max = double.NegativeInfinity, sum = 0.0;
                    for (int k = 0; k < classes; k++) max = Math.Max(max, logits.Data[i * classes + k]);
                    for (int k = 0; k < classes; k++) sum += Math.Exp(logits.Data[i * classes + k] - max);
                    double gi = reduction switch { Reduction.Mean => 1.5 / count, Reduction.Sum => 1.5, _ => seed.Data[i] };
                    for (int k = 0; k < classes; k++)
                    {
                        double q = smoothing / classes + (k == targets[i] ? 1.0 - smoothing : 0.0);
                        expected[i * classes + k] = gi * (Math.Exp(logits.Data[i * classes + k] - max) / sum - q);
                    }
                }
                var fastGrad = Gradient(true);
                var naiveGrad = Gradient(false);
                Assert.True(Metrics.RelativeError(expected, fastGrad) <= 1e-14, $"fast vs definition: {Metrics.RelativeError(expected, fastGrad)}");
                Assert.True(Metrics.RelativeError(naiveGrad, fastGrad) <= 4e-16 * classes, $"fast vs naive: {Metrics.RelativeError(naiveGrad, fastGrad)}");
                for (int i = 0; i < n; i++)
                    if (targets[i] == -100)
                        for (int k = 0; k < classes; k++) Assert.Equal(0.0, fastGrad[i * classes + k]);
            }
    }

    [Fact]
    public void Property_CrossEntropy_MatchesPyTorchsLabelSmoothingFormula()
    {
        // Hand evaluation: logits [[1, 2, 0]], target 1, eps = 0.2, C = 3.
        // log p = z - lse, lse = log(e + e^2 + 1); loss = 0.8 (-log p_1) + (0.2 / 3) sum_c (-log p_c).
        var z = Variable.Constant(Tensor<double>.FromSpan([1.0, 2.0, 0.0, 5.0, 5.0, 5.0], 2, 3));
        double lse = Math.Log(Math.E + Math.Exp(2) + 1);
        double expected = 0.8 * (lse - 2.0) + 0.2 / 3 * (3 * lse - 3.0);
        // The second row is ignored: Mean divides by one target.
        var loss = Ops.CrossEntropy(z, [1, -100], labelSmoothing: 0.2);
        Assert.Equal(expected, loss.Item(), 1e-14);
    }

    [Fact]
    public void Property_BceWithLogits_IsStableAndMatchesTheDefinition()
    {
        var x = Variable.Constant(Tensor<double>.FromSpan([-800.0, 0.3, 800.0], 3));
        var t = Variable.Constant(Tensor<double>.FromSpan([1.0, 0.25, 0.0], 3));
        var loss = Ops.BceWithLogits(x, t, Reduction.None).Value.Data;
        Assert.Equal(800.0, loss[0], 1e-12);
        double s = 1 / (1 + Math.Exp(-0.3));
        Assert.Equal(-(0.25 * Math.Log(s) + 0.75 * Math.Log(1 - s)), loss[1], 1e-14);
        Assert.Equal(800.0, loss[2], 1e-12);
    }

    [Fact]
    public void Property_CausalConv_OutputNeverSeesTheFuture()
    {
        var x = Variable.Parameter(Grad.Normal(1, 1, 9, 3));
        var w = Variable.Constant(Grad.Normal(2, 3, 4));
        var y = Ops.CausalConv1d(x, w);
        // d y[t = 4] / d x is zero for every s > 4.
        var seed = Tensor<double>.Zeros(1, 9, 3);
        for (int c = 0; c < 3; c++) seed[0, 4, c] = 1.0;
        y.Backward(seed);
        for (int s = 5; s < 9; s++)
            for (int c = 0; c < 3; c++) Assert.Equal(0.0, x.Grad![0, s, c]);
        Assert.NotEqual(0.0, x.Grad![0, 4, 0]);
    }

    [Fact]
    public void Property_Dropout_KeepsAboutOneMinusPAndRescales()
    {
        var x = Variable.Constant(Tensor<double>.Full(1.0, 10000));
        var y = Ops.Dropout(x, 0.25, new SplitMix64(5)).Value.Data;
        int kept = y.Count(v => v != 0.0);
        Assert.InRange(kept, 7350, 7650);   // 7500 +/- 3.5 sigma (sigma = 43)
        Assert.All(y.Where(v => v != 0.0), v => Assert.Equal(1.0 / 0.75, v));
    }
}
