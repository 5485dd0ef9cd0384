using FsCheck.Xunit;
using Reference.Core;
using Reference.Operators.Attention;
using Reference.Operators.Recurrence;
using static Reference.SpecTests.Operators.Attention.AttentionCheck;

namespace Reference.SpecTests.Operators.Attention;

public class DecayedLinearAttentionTests
{
    private static (Tensor<double> Q, Tensor<double> K, Tensor<double> V, Tensor<double> LogLambda) Inputs(HeadCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var q = rng.NormalTensor<double>(0, 1, c.B, c.H, c.L, c.K);
        var k = rng.NormalTensor<double>(0, 1, c.B, c.H, c.L, c.K);
        var v = rng.NormalTensor<double>(0, 1, c.B, c.H, c.L, c.V);
        // Decays from fast (lambda = e^-2) to the RetNet-like init, so the powers matter within short sequences.
        var ll = rng.UniformTensor<double>(-2, 0, c.H, c.K);
        if (c.Seed % 2 == 0) ll = DecayedLinearAttention.InitialLogLambda(rng, c.H, c.K);
        return (q, k, v, ll);
    }

    [Property(Arbitrary = [typeof(HeadCase)])]
    public void Property_ParallelEqualsRecurrentEqualsChunkedEqualsTv(HeadCase c)
    {
        var (q, k, v, ll) = Inputs(c);
        var parallel = DecayedLinearAttention.Forward(q, k, v, ll);
        Assert.True(Rel(parallel, DecayedLinearAttention.Recurrent(q, k, v, ll)) <= 1e-12);
        Assert.True(Rel(parallel, DecayedLinearAttention.Chunked(q, k, v, ll, c.Chunk)) <= 1e-12);
        Assert.True(Rel(parallel, Apply(DecayedLinearAttention.Materialize(q, k, ll), v)) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(HeadCase)])]
    public void Property_EqualsGlaWithConstantGates(HeadCase c)
    {
        var (q, k, v, ll) = Inputs(c);
        var g = Tensor<double>.Zeros(c.B, c.H, c.L, c.K);
        for (int bh = 0; bh < c.B * c.H; bh++)
            for (int t = 0; t < c.L; t++)
                for (int j = 0; j < c.K; j++) g.Data[(bh * c.L + t) * c.K + j] = ll.Data[bh % c.H * c.K + j];
        Assert.True(Rel(GatedLinearAttention.Forward(q, k, v, g), DecayedLinearAttention.Forward(q, k, v, ll)) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(HeadCase)])]
    public void Property_StepsAndSplitChunkedCalls_EqualOneShot(HeadCase c)
    {
        var (q, k, v, ll) = Inputs(c);
        var expected = DecayedLinearAttention.Forward(q, k, v, ll);
        int split = (2 * c.L) / 3;
        var state = GatedLinearAttentionState.Zeros(c.B, c.H, c.K, c.V);
        var first = DecayedLinearAttention.Chunked(q.Slice(2, 0, split), k.Slice(2, 0, split), v.Slice(2, 0, split), ll, c.Chunk, state);
        var second = DecayedLinearAttention.Chunked(q.Slice(2, split, c.L - split), k.Slice(2, split, c.L - split), v.Slice(2, split, c.L - split), ll, c.Chunk, state);
        Assert.True(Rel(expected.Slice(2, 0, split), first) <= 1e-12);
        Assert.True(Rel(expected.Slice(2, split, c.L - split), second) <= 1e-12);
        var stepState = GatedLinearAttentionState.Zeros(c.B, c.H, c.K, c.V);
        for (int t = 0; t < c.L; t++)
        {
            var y = DecayedLinearAttention.Step(stepState, q.Slice(2, t, 1).Reshape(c.B, c.H, c.K), k.Slice(2, t, 1).Reshape(c.B, c.H, c.K),
                v.Slice(2, t, 1).Reshape(c.B, c.H, c.V), ll);
            Assert.True(Rel(expected.Slice(2, t, 1).Reshape(c.B, c.H, c.V), y) <= 1e-12);
        }
        Assert.True(Rel(stepState.S, state.S) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(HeadCase)])]
    public void Property_Causality_And_DiagonalRealization(HeadCase c)
    {
        var (q, k, v, ll) = Inputs(c);
        var y = DecayedLinearAttention.Forward(q, k, v, ll);
        var r = DecayedLinearAttention.Realize(q, k, ll, 0, c.H - 1);
        var x = new double[c.K];
        for (int t = 0; t < c.L; t++)
        {
            double acc = 0;
            for (int n = 0; n < c.K; n++)
            {
                x[n] = r.Transition[t * c.K + n] * x[n] + r.Input[t * c.K + n] * v[0, c.H - 1, t, 0];
                acc += r.Readout[t * c.K + n] * x[n];
            }
            Assert.Equal(y[0, c.H - 1, t, 0], acc, 1e-12 * (1 + Math.Abs(acc)));
        }
        int cut = c.L / 2;
        var rng = new SplitMix64((ulong)c.Seed + 2);
        foreach (var z in new[] { q, k, v })
            for (int row = 0; row < c.B * c.H; row++)
                for (int s = cut + 1; s < c.L; s++)
                    for (int j = 0; j < z.Shape[3]; j++) z.Data[(row * c.L + s) * z.Shape[3] + j] += rng.Normal();
        Assert.Equal(y.Slice(2, 0, cut + 1).Data, DecayedLinearAttention.Forward(q, k, v, ll).Slice(2, 0, cut + 1).Data);
        Assert.Equal(y.Slice(2, 0, cut + 1).Data, DecayedLinearAttention.Forward(q, k, v, ll).Slice(2, 0, cut + 1).Data);
    }

    [Property(Arbitrary = [typeof(HeadCase)], MaxTest = 10)]
    public void Property_Backward_MatchesFiniteDifferences_IncludingDecays(HeadCase c)
    {
        var small = c with { L = Math.Min(c.L, 9), K = Math.Min(c.K, 4), V = Math.Min(c.V, 3) };
        var (q, k, v, ll) = Inputs(small);
        var dOut = new SplitMix64((ulong)c.Seed + 4).NormalTensor<double>(0, 1, small.B, small.H, small.L, small.V);
        var grads = DecayedLinearAttention.Backward(q, k, v, ll, dOut);
        double Loss() => Dot(dOut, DecayedLinearAttention.Forward(q, k, v, ll));
        AssertGradient(q, Loss, grads.Dq, "dq");
        AssertGradient(k, Loss, grads.Dk, "dk");
        AssertGradient(v, Loss, grads.Dv, "dv");
        for (int i = 0; i < ll.Length; i++) ll.Data[i] = Math.Min(ll.Data[i], -1e-4);
        grads = DecayedLinearAttention.Backward(q, k, v, ll, dOut);
        AssertGradient(ll, Loss, grads.DLogLambda, "dlogLambda");
    }

    [Fact]
    public void Negative_PositiveLogDecayAndWrongShape_NameTheArgument()
    {
        var (q, k, v, ll) = Inputs(new HeadCase(1, 2, 5, 3, 2, 2, 3));
        Assert.Equal("logLambda", Assert.Throws<ArgumentOutOfRangeException>(() => DecayedLinearAttention.Forward(q, k, v, Tensor<double>.Full(0.1, 2, 3))).ParamName);
        Assert.Equal("logLambda", Assert.Throws<ArgumentException>(() => DecayedLinearAttention.Forward(q, k, v, Tensor<double>.Zeros(3, 3))).ParamName);
        var y = DecayedLinearAttention.Forward(q, k, v, ll);
        var wrong = ll.Clone();
        wrong.Data[0] *= 1.001;
        Assert.True(Rel(y, DecayedLinearAttention.Forward(q, k, v, wrong)) > 1e-9);
    }

    [Fact]
    public void InitialLogLambda_IsLogOfOneMinusTwoToTheMinusU_DrawnInOrder()
    {
        var t = DecayedLinearAttention.InitialLogLambda(new SplitMix64(17), 2, 3);
        Assert.Equal([2, 3], t.ShapeArray);
        var rng = new SplitMix64(17);
        for (int i = 0; i < 6; i++)
        {
            double u = 5.0 + 4.0 * rng.Uniform();
            Assert.Equal(Math.Log(1.0 - Math.Pow(2.0, -u)), t.Data[i], 1e-15);
            // lambda in [1 - 2^-5, 1 - 2^-9]: half-lives of about 22 to 355 steps.
            Assert.InRange(Math.Exp(t.Data[i]), 1 - Math.Pow(2, -5), 1 - Math.Pow(2, -9));
        }
        Assert.Equal("rng", Assert.Throws<ArgumentNullException>(() => DecayedLinearAttention.InitialLogLambda(null!, 1, 1)).ParamName);
        Assert.Equal("h", Assert.Throws<ArgumentOutOfRangeException>(() => DecayedLinearAttention.InitialLogLambda(new SplitMix64(1), 0, 1)).ParamName);
        Assert.Equal("k", Assert.Throws<ArgumentOutOfRangeException>(() => DecayedLinearAttention.InitialLogLambda(new SplitMix64(1), 1, 0)).ParamName);
        Assert.Equal([1, 1], DecayedLinearAttention.InitialLogLambda(new SplitMix64(1), 1, 1).ShapeArray);
    }

    [Fact]
    public void Recurrent_WithACarriedState_ContinuesWhereTheFirstCallStopped()
    {
        var c = new HeadCase(2, 2, 9, 3, 2, 4, 5);
        var (q, k, v, ll) = Inputs(c);
        var expected = DecayedLinearAttention.Forward(q, k, v, ll);
        var state = GatedLinearAttentionState.Zeros(c.B, c.H, c.K, c.V);
        int split = 4;
        var first = DecayedLinearAttention.Recurrent(q.Slice(2, 0, split), k.Slice(2, 0, split), v.Slice(2, 0, split), ll, state);
        var second = DecayedLinearAttention.Recurrent(q.Slice(2, split, c.L - split), k.Slice(2, split, c.L - split), v.Slice(2, split, c.L - split), ll, state);
        Assert.True(Rel(expected.Slice(2, 0, split), first) <= 1e-12);
        Assert.True(Rel(expected.Slice(2, split, c.L - split), second) <= 1e-12);
        var chunkState = GatedLinearAttentionState.Zeros(c.B, c.H, c.K, c.V);
        DecayedLinearAttention.Chunked(q, k, v, ll, c.Chunk, chunkState);
        Assert.True(Rel(chunkState.S, state.S) <= 1e-12);
        Assert.Contains(state.S.Data, x => x != 0);
    }

    [Fact]
    public void Realize_EveryBatchAndHead_RunsThatHeadsRecurrence_AndRejectsOutOfRange()
    {
        var c = new HeadCase(2, 2, 6, 3, 2, 4, 9);
        var (q, k, v, ll) = Inputs(c);
        var y = DecayedLinearAttention.Forward(q, k, v, ll);
        for (int bi = 0; bi < c.B; bi++)
            for (int hi = 0; hi < c.H; hi++)
            {
                var r = DecayedLinearAttention.Realize(q, k, ll, bi, hi);
                var x = new double[c.K];
                for (int t = 0; t < c.L; t++)
                {
                    double acc = 0;
                    for (int n = 0; n < c.K; n++)
                    {
                        x[n] = r.Transition[t * c.K + n] * x[n] + r.Input[t * c.K + n] * v[bi, hi, t, 1];
                        acc += r.Readout[t * c.K + n] * x[n];
                    }
                    Assert.Equal(y[bi, hi, t, 1], acc, 1e-12 * (1 + Math.Abs(acc)));
                }
            }
        Assert.Equal("batch", Assert.Throws<ArgumentOutOfRangeException>(() => DecayedLinearAttention.Realize(q, k, ll, c.B, 0)).ParamName);
        Assert.Equal("batch", Assert.Throws<ArgumentOutOfRangeException>(() => DecayedLinearAttention.Realize(q, k, ll, -1, 0)).ParamName);
        Assert.Equal("head", Assert.Throws<ArgumentOutOfRangeException>(() => DecayedLinearAttention.Realize(q, k, ll, 0, c.H)).ParamName);
        Assert.Equal("k", Assert.Throws<ArgumentException>(() => DecayedLinearAttention.Realize(q, Tensor<double>.Zeros(2, 2, 6, 4), ll, 0, 0)).ParamName);
        Assert.Equal("logLambda", Assert.Throws<ArgumentOutOfRangeException>(() => DecayedLinearAttention.Realize(q, k, Tensor<double>.Full(0.5, 2, 3), 0, 0)).ParamName);
    }

    [Fact]
    public void LogLambdaZero_IsAccepted_AndIsPlainLinearAttention()
    {
        var (q, k, v, _) = Inputs(new HeadCase(1, 2, 7, 3, 2, 4, 3));
        var y = DecayedLinearAttention.Forward(q, k, v, Tensor<double>.Zeros(2, 3));
        Assert.True(Rel(LinearAttention.Forward(q, k, v), y) <= 1e-13);
    }

    [Fact]
    public void Negative_EveryEntryPoint_ChecksItsArguments_NamingThem()
    {
        var c = new HeadCase(1, 2, 5, 3, 2, 2, 3);
        var (q, k, v, ll) = Inputs(c);
        var bigK = Tensor<double>.Zeros(1, 2, 5, 4);
        var positive = Tensor<double>.Full(0.1, 2, 3);
        void Shape(string name, Action call) => Assert.Equal(name, Assert.Throws<ArgumentException>(call).ParamName);
        void Range(string name, Action call) => Assert.Equal(name, Assert.Throws<ArgumentOutOfRangeException>(call).ParamName);
        Shape("k", () => DecayedLinearAttention.Forward(q, bigK, v, ll));
        Shape("v", () => DecayedLinearAttention.Forward(q, k, Tensor<double>.Zeros(1, 2, 6, 2), ll));
        Shape("k", () => DecayedLinearAttention.Materialize(q, bigK, ll));
        Range("logLambda", () => DecayedLinearAttention.Materialize(q, k, positive));
        Shape("state", () => DecayedLinearAttention.Recurrent(q, k, v, ll, GatedLinearAttentionState.Zeros(1, 2, 4, 2)));
        Range("chunk", () => DecayedLinearAttention.Chunked(q, k, v, ll, 0));
        Shape("state", () => DecayedLinearAttention.Chunked(q, k, v, ll, 2, GatedLinearAttentionState.Zeros(1, 2, 4, 2)));
        Shape("dOut", () => DecayedLinearAttention.Backward(q, k, v, ll, Tensor<double>.Zeros(1, 2, 5, 3)));
        var state = GatedLinearAttentionState.Zeros(1, 2, 3, 2);
        var qt = Tensor<double>.Zeros(1, 2, 3);
        var vt = Tensor<double>.Zeros(1, 2, 2);
        Assert.Equal("state", Assert.Throws<ArgumentNullException>(() => DecayedLinearAttention.Step(null!, qt, qt, vt, ll)).ParamName);
        Shape("qt", () => DecayedLinearAttention.Step(state, Tensor<double>.Zeros(1, 2, 4), qt, vt, ll));
        Shape("kt", () => DecayedLinearAttention.Step(state, qt, Tensor<double>.Zeros(1, 2, 4), vt, ll));
        Shape("vt", () => DecayedLinearAttention.Step(state, qt, qt, Tensor<double>.Zeros(1, 2, 3), ll));
        Range("logLambda", () => DecayedLinearAttention.Step(state, qt, qt, vt, positive));
        // A rejected step leaves the state as it was; a valid one is accepted.
        Assert.All(state.S.Data, x => Assert.Equal(0.0, x));
        Assert.Equal([1, 2, 2], DecayedLinearAttention.Step(state, qt, qt, vt, ll).ShapeArray);
    }
}
