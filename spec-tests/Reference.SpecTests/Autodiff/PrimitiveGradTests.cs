using FsCheck.Xunit;
using Reference.Autodiff;
using Reference.Core;

namespace Reference.SpecTests.Autodiff;

/// <summary>gradcheck (central differences, float64) over every primitive with random shapes.</summary>
public class PrimitiveGradTests
{
    /// <summary>A shape broadcast-compatible with <paramref name="shape"/>: some axes set to 1, some leading axes dropped.</summary>
    private static int[] BroadcastPartner(int[] shape, int seed)
    {
        var rng = new SplitMix64((ulong)seed ^ 0xABCDEF);
        int drop = rng.NextInt(shape.Length + 1) == 0 ? rng.NextInt(shape.Length) : 0;
        return shape[drop..].Select(d => rng.NextInt(3) == 0 ? 1 : d).ToArray();
    }

    [Property(Arbitrary = [typeof(ShapeCase)], MaxTest = 20)]
    public void Property_BroadcastArithmetic_PassesGradCheck(ShapeCase c)
    {
        var a = Grad.Normal((ulong)c.Seed, c.Shape);
        var b = Grad.Normal((ulong)c.Seed + 1, BroadcastPartner(c.Shape, c.Seed));
        // Keep the divisor away from 0 so finite differences stay well conditioned.
        var d = b.Clone();
        for (int i = 0; i < d.Length; i++) d.Data[i] = 1.5 + Math.Abs(d.Data[i]);
        Grad.AssertPasses(v => Grad.Probe(v[0] + v[1]), a, b);
        Grad.AssertPasses(v => Grad.Probe(v[1] - v[0]), a, b);
        Grad.AssertPasses(v => Grad.Probe(v[0] * v[1]), a, b);
        Grad.AssertPasses(v => Grad.Probe(v[0] / v[1]), a, d);
        Grad.AssertPasses(v => Grad.Probe(-v[0] * 0.5 + 2.0), a);
    }

    [Property(Arbitrary = [typeof(ShapeCase)], MaxTest = 20)]
    public void Property_Pointwise_PassesGradCheck(ShapeCase c)
    {
        var x = Grad.Normal((ulong)c.Seed, c.Shape);
        var positive = x.Clone();
        for (int i = 0; i < positive.Length; i++) positive.Data[i] = 0.5 + Math.Abs(positive.Data[i]);
        Grad.AssertPasses(v => Grad.Probe(Ops.Exp(v[0])), x);
        Grad.AssertPasses(v => Grad.Probe(Ops.Log(v[0])), positive);
        Grad.AssertPasses(v => Grad.Probe(Ops.Sqrt(v[0])), positive);
        Grad.AssertPasses(v => Grad.Probe(Ops.Tanh(v[0])), x);
        Grad.AssertPasses(v => Grad.Probe(Ops.Sigmoid(v[0])), x);
        Grad.AssertPasses(v => Grad.Probe(Ops.Relu(v[0])), x);
        Grad.AssertPasses(v => Grad.Probe(Ops.Silu(v[0])), x);
        Grad.AssertPasses(v => Grad.Probe(Ops.Sin(v[0])), x);
        Grad.AssertPasses(v => Grad.Probe(Ops.Gelu(v[0])), x);
        Grad.AssertPasses(v => Grad.Probe(Ops.GeluTanh(v[0])), x);
        Grad.AssertPasses(v => Grad.Probe(Ops.Softplus(v[0])), x);
        Grad.AssertPasses(v => Grad.Probe(Ops.Abs(v[0])), x);
        Grad.AssertPasses(v => Grad.Probe(Ops.Pow(v[0], 3.0)), x);
    }

    [Property(Arbitrary = [typeof(ShapeCase)], MaxTest = 20)]
    public void Property_ShapeOpsAndReductions_PassGradCheck(ShapeCase c)
    {
        var x = Grad.Normal((ulong)c.Seed, c.Shape);
        int rank = c.Shape.Length;
        var rng = new SplitMix64((ulong)c.Seed);
        int axis = rng.NextInt(rank);
        var perm = Enumerable.Range(0, rank).OrderBy(_ => rng.NextInt(1000)).ToArray();
        int start = rng.NextInt(c.Shape[axis]);
        int length = 1 + rng.NextInt(c.Shape[axis] - start);
        var other = c.Shape.ToArray();
        other[axis] = 2;
        var y = Grad.Normal((ulong)c.Seed + 7, other);

        Grad.AssertPasses(v => Grad.Probe(Ops.Reshape(v[0], -1)), x);
        Grad.AssertPasses(v => Grad.Probe(Ops.Permute(v[0], perm)), x);
        Grad.AssertPasses(v => Grad.Probe(Ops.Slice(v[0], axis, start, length)), x);
        Grad.AssertPasses(v => Grad.Probe(Ops.Concat([v[0], v[1], v[0]], axis)), x, y);
        Grad.AssertPasses(v => Ops.Sum(v[0]), x);
        Grad.AssertPasses(v => Ops.Mean(v[0]), x);
        Grad.AssertPasses(v => Grad.Probe(Ops.Sum(v[0], axis)), x);
        Grad.AssertPasses(v => Grad.Probe(Ops.Mean(v[0], axis, keepDim: true)), x);
        if (rank >= 2) Grad.AssertPasses(v => Grad.Probe(Ops.Transpose(v[0])), x);
    }

    [Property(Arbitrary = [typeof(ShapeCase)], MaxTest = 15)]
    public void Property_BatchedMatMul_AllTransposes_PassGradCheck(ShapeCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        int m = ShapeCase.Dims[rng.NextInt(6)], k = ShapeCase.Dims[rng.NextInt(6)], n = ShapeCase.Dims[rng.NextInt(6)];
        int batch = 1 + rng.NextInt(3);
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            // A batched [batch, .., ..], B shared across the batch (broadcast): dB sums over the batch.
            var a = Grad.Normal((ulong)c.Seed + 1, ta ? [batch, k, m] : [batch, m, k]);
            var b = Grad.Normal((ulong)c.Seed + 2, tb ? [n, k] : [k, n]);
            Grad.AssertPasses(v => Grad.Probe(Ops.MatMul(v[0], v[1], ta, tb)), a, b);
        }
    }

    [Property(Arbitrary = [typeof(ShapeCase)], MaxTest = 15)]
    public void Property_FusedLinear_PassesGradCheck_AndEqualsMatMulPlusBias(ShapeCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        int outF = ShapeCase.Dims[rng.NextInt(ShapeCase.Dims.Length)];
        var x = Grad.Normal((ulong)c.Seed, c.Shape);
        var w = Grad.Normal((ulong)c.Seed + 1, outF, c.Shape[^1]);
        var b = Grad.Normal((ulong)c.Seed + 2, outF);
        Grad.AssertPasses(v => Grad.Probe(Ops.Linear(v[0], v[1], v[2])), x, w, b);
        Grad.AssertPasses(v => Grad.Probe(Ops.Linear(v[0], v[1])), x, w);
        // Bias accumulated by the GEMM (beta = 1) rounds exactly like a separate add.
        var fused = Ops.Linear(Variable.Constant(x), Variable.Constant(w), Variable.Constant(b)).Value;
        var composed = Ops.MatMul(Ops.Reshape(Variable.Constant(x), -1, c.Shape[^1]), Variable.Constant(w), transB: true) + Variable.Constant(b);
        Assert.Equal(composed.Value.Data, fused.Data);
    }

    [Fact]
    public void Property_FastMatMulTier_AgreesWithNaive()
    {
        var a = Variable.Parameter(Grad.Normal(1, 3, 17, 33));
        var b = Variable.Parameter(Grad.Normal(2, 33, 9));
        var naive = Ops.MatMul(a, b);
        Ops.Sum(naive).Backward();
        var (ga, gb) = (a.Grad!.Clone(), b.Grad!.Clone());
        a.ZeroGrad();
        b.ZeroGrad();
        Variable fast;
        using (Tape.UseFastKernels())
        {
            fast = Ops.MatMul(a, b);
            Ops.Sum(fast).Backward();
        }
        Assert.True(Metrics.RelativeError(naive.Value.Data, fast.Value.Data) <= 1e-13);
        Assert.True(Metrics.RelativeError(ga.Data, a.Grad!.Data) <= 1e-13);
        Assert.True(Metrics.RelativeError(gb.Data, b.Grad!.Data) <= 1e-13);
    }

    [Fact]
    public void Property_FastTierActivationsAndNorms_AgreeWithNaive()
    {
        var x0 = Grad.Normal(5, 9, 33);
        var w0 = Grad.Normal(6, 33);
        Func<Variable, Variable, Variable>[] graphs =
        [
            (x, w) => Ops.Gelu(x) + Ops.GeluTanh(x) * Ops.Silu(x),
            (x, w) => Ops.Softplus(x) * Ops.Sigmoid(x) - Ops.Tanh(x) + Ops.Relu(x),
            (x, w) => Ops.Softmax(x) + Ops.LogSoftmax(x, 0),
            (x, w) => Ops.LayerNorm(x, w, w) + Ops.RmsNorm(x, w),
        ];
        foreach (var graph in graphs)
        {
            var naive = Run(graph, false);
            var fast = Run(graph, true);
            for (int i = 0; i < naive.Length; i++)
                Assert.True(Metrics.RelativeError(naive[i], fast[i]) <= 1e-12, $"output/gradient {i}: {Metrics.RelativeError(naive[i], fast[i]):E2}");
        }

        double[][] Run(Func<Variable, Variable, Variable> graph, bool fast)
        {
            using var scope = fast ? Tape.UseFastKernels() : default;
            var x = Variable.Parameter(x0.Clone());
            var w = Variable.Parameter(w0.Clone());
            var y = graph(x, w);
            Grad.Probe(y).Backward();
            return [y.Value.Data, x.Grad!.Data, w.Grad?.Data ?? []];
        }
    }

    [Fact]
    public void Negative_IncompatibleBroadcast_NamesTheArgument()
    {
        var a = Variable.Constant(Tensor<double>.Zeros(3, 4));
        var b = Variable.Constant(Tensor<double>.Zeros(5));
        var e = Assert.Throws<ArgumentException>(() => a + b);
        Assert.Equal("b", e.ParamName);
    }
}
