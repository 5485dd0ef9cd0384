using FsCheck.Xunit;
using Reference.Core;
using Reference.Operators.Attention;
using Reference.Operators.Recurrence;
using static Reference.SpecTests.Operators.Attention.AttentionCheck;

namespace Reference.SpecTests.Operators.Attention;

public class LinearAttentionTests
{
    private static (Tensor<double> Q, Tensor<double> K, Tensor<double> V) Inputs(HeadCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        return (rng.NormalTensor<double>(0, 1, c.B, c.H, c.L, c.K), rng.NormalTensor<double>(0, 1, c.B, c.H, c.L, c.K),
            rng.NormalTensor<double>(0, 1, c.B, c.H, c.L, c.V));
    }

    /// <summary>Every map without the normaliser, and the maps with a positive kernel (elu+1, Taylor) with it.</summary>
    public static IEnumerable<LinearAttentionOptions> AllOptions()
    {
        foreach (var map in Enum.GetValues<FeatureMap>()) yield return new LinearAttentionOptions(map);
        yield return new LinearAttentionOptions(FeatureMap.EluPlusOne, Normalize: true);
        yield return new LinearAttentionOptions(FeatureMap.Taylor, Normalize: true);
    }

    [Property(Arbitrary = [typeof(HeadCase)])]
    public void Property_ParallelEqualsRecurrentEqualsChunkedEqualsTv(HeadCase c)
    {
        var (q, k, v) = Inputs(c);
        foreach (var o in AllOptions())
        {
            var parallel = LinearAttention.Forward(q, k, v, o);
            Assert.True(Rel(parallel, LinearAttention.Recurrent(q, k, v, o)) <= 1e-12, $"{o}");
            Assert.True(Rel(parallel, LinearAttention.Chunked(q, k, v, c.Chunk, o)) <= 1e-12, $"{o}");
            Assert.True(Rel(parallel, Apply(LinearAttention.Materialize(q, k, o), v)) <= 1e-12, $"{o}");
        }
    }

    [Property(Arbitrary = [typeof(HeadCase)])]
    public void Property_StepsAndSplitChunkedCalls_EqualOneShot(HeadCase c)
    {
        var (q, k, v) = Inputs(c);
        var o = new LinearAttentionOptions(FeatureMap.EluPlusOne, Normalize: true);
        var expected = LinearAttention.Forward(q, k, v, o);
        int split = c.L / 2;
        var state = new LinearAttentionState(c.B, c.H, c.K, c.V);
        var first = LinearAttention.Chunked(q.Slice(2, 0, split), k.Slice(2, 0, split), v.Slice(2, 0, split), c.Chunk, o, state);
        var second = LinearAttention.Chunked(q.Slice(2, split, c.L - split), k.Slice(2, split, c.L - split), v.Slice(2, split, c.L - split), c.Chunk, o, state);
        Assert.True(Rel(expected.Slice(2, 0, split), first) <= 1e-12);
        Assert.True(Rel(expected.Slice(2, split, c.L - split), second) <= 1e-12);
        var stepState = new LinearAttentionState(c.B, c.H, c.K, c.V);
        for (int t = 0; t < c.L; t++)
        {
            var y = LinearAttention.Step(stepState, q.Slice(2, t, 1).Reshape(c.B, c.H, c.K), k.Slice(2, t, 1).Reshape(c.B, c.H, c.K),
                v.Slice(2, t, 1).Reshape(c.B, c.H, c.V), o);
            Assert.True(Rel(expected.Slice(2, t, 1).Reshape(c.B, c.H, c.V), y) <= 1e-12);
        }
        Assert.True(Rel(state.S, stepState.S) <= 1e-13);
        Assert.True(Rel(state.Z, stepState.Z) <= 1e-13);
    }

    [Property(Arbitrary = [typeof(HeadCase)])]
    public void Property_IdentityMap_EqualsGlaWithUnitGates(HeadCase c)
    {
        var (q, k, v) = Inputs(c);
        var gla = GatedLinearAttention.Forward(q, k, v, Tensor<double>.Zeros(c.B, c.H, c.L, 1));
        Assert.True(Rel(gla, LinearAttention.Forward(q, k, v)) <= 1e-13);
    }

    [Property(Arbitrary = [typeof(HeadCase)])]
    public void Property_TaylorMap_IsTheSecondOrderSeriesOfExp(HeadCase c)
    {
        var (q, k, _) = Inputs(c);
        var qf = LinearAttention.ApplyFeatureMap(FeatureMap.Taylor, q);
        var kf = LinearAttention.ApplyFeatureMap(FeatureMap.Taylor, k);
        int f = LinearAttention.FeatureDim(FeatureMap.Taylor, c.K);
        Assert.Equal(1 + c.K + c.K * c.K, qf.Shape[^1]);
        for (int row = 0; row < c.B * c.H * c.L; row++)
        {
            double dot = 0, phi = 0;
            for (int j = 0; j < c.K; j++) dot += q.Data[row * c.K + j] * k.Data[row * c.K + j];
            for (int j = 0; j < f; j++) phi += qf.Data[row * f + j] * kf.Data[row * f + j];
            double x = dot / Math.Sqrt(c.K);
            Assert.Equal(1 + x + x * x / 2, phi, 1e-12 * (1 + Math.Abs(phi)));
        }
    }

    [Property(Arbitrary = [typeof(HeadCase)])]
    public void Property_Causality_FuturePerturbationLeavesPastExactly(HeadCase c)
    {
        var (q, k, v) = Inputs(c);
        var o = new LinearAttentionOptions(FeatureMap.Taylor, Normalize: true);
        int t = c.L / 2;
        var before = new[] { LinearAttention.Forward(q, k, v, o), LinearAttention.Recurrent(q, k, v, o), LinearAttention.Chunked(q, k, v, c.Chunk, o) };
        var rng = new SplitMix64((ulong)c.Seed + 5);
        foreach (var x in new[] { q, k, v })
            for (int r = 0; r < c.B * c.H; r++)
                for (int s = t + 1; s < c.L; s++)
                    for (int j = 0; j < x.Shape[3]; j++) x.Data[(r * c.L + s) * x.Shape[3] + j] += rng.Normal();
        var after = new[] { LinearAttention.Forward(q, k, v, o), LinearAttention.Recurrent(q, k, v, o), LinearAttention.Chunked(q, k, v, c.Chunk, o) };
        for (int i = 0; i < 3; i++) Assert.Equal(before[i].Slice(2, 0, t + 1).Data, after[i].Slice(2, 0, t + 1).Data);
    }

    [Property(Arbitrary = [typeof(HeadCase)])]
    public void Property_DiagonalRealization_RunsTheSameRecurrence(HeadCase c)
    {
        var (q, k, v) = Inputs(c);
        var o = new LinearAttentionOptions(FeatureMap.EluPlusOne, Normalize: c.Seed % 2 == 0);
        var y = LinearAttention.Forward(q, k, v, o);
        var r = LinearAttention.Realize(q, k, c.B - 1, c.H - 1, o);
        for (int j = 0; j < c.V; j++)
        {
            var x = new double[r.Modes];
            for (int t = 0; t < c.L; t++)
            {
                double acc = 0;
                for (int n = 0; n < r.Modes; n++)
                {
                    x[n] = r.Transition[t * r.Modes + n] * x[n] + r.Input[t * r.Modes + n] * v[c.B - 1, c.H - 1, t, j];
                    acc += r.Readout[t * r.Modes + n] * x[n];
                }
                Assert.Equal(y[c.B - 1, c.H - 1, t, j], acc, 1e-12 * (1 + Math.Abs(acc)));
            }
        }
    }

    [Property(Arbitrary = [typeof(HeadCase)], MaxTest = 8)]
    public void Property_Backward_MatchesFiniteDifferences_EveryMapAndNormaliser(HeadCase c)
    {
        var small = c with { B = 1, L = Math.Min(c.L, 7), K = Math.Min(c.K, 3), V = Math.Min(c.V, 3) };
        var (q, k, v) = Inputs(small);
        var dOut = new SplitMix64((ulong)c.Seed + 1).NormalTensor<double>(0, 1, small.B, small.H, small.L, small.V);
        foreach (var o in AllOptions())
        {
            var grads = LinearAttention.Backward(q, k, v, dOut, o);
            double Loss() => Dot(dOut, LinearAttention.Forward(q, k, v, o));
            AssertGradient(q, Loss, grads.Dq, $"dq {o}");
            AssertGradient(k, Loss, grads.Dk, $"dk {o}");
            AssertGradient(v, Loss, grads.Dv, $"dv {o}");
        }
    }

    [Fact]
    public void Edge_NormalisedRowsOfT_SumToOneMinusEpsShare()
    {
        var c = new HeadCase(1, 2, 17, 4, 3, 4, 3);
        var (q, k, _) = Inputs(c);
        var t = LinearAttention.Materialize(q, k, new(FeatureMap.EluPlusOne, Normalize: true, Eps: 0));
        for (int row = 0; row < 2 * 17; row++)
        {
            double sum = 0;
            for (int s = 0; s < 17; s++) sum += t.Data[row * 17 + s];
            Assert.Equal(1.0, sum, 1e-14);
        }
    }

    [Fact]
    public void Negative_WrongShapesAndChunk_NameTheArgument_AndWrongAnswerIsRejected()
    {
        var (q, k, v) = Inputs(new HeadCase(1, 2, 5, 4, 3, 2, 1));
        Assert.Equal("k", Assert.Throws<ArgumentException>(() => LinearAttention.Forward(q, Tensor<double>.Zeros(1, 2, 5, 3), v)).ParamName);
        Assert.Equal("chunk", Assert.Throws<ArgumentOutOfRangeException>(() => LinearAttention.Chunked(q, k, v, 0)).ParamName);
        var o = LinearAttention.Forward(q, k, v);
        Assert.True(Rel(o, LinearAttention.Forward(q, k, v, new(Scale: 0.5 * (1 + 1e-3)))) > 1e-4);
        Assert.True(Rel(o, LinearAttention.Forward(q, k, v, new(FeatureMap.Relu))) > 1e-3);
    }

    [Fact]
    public void FeatureMaps_MatchHandValues()
    {
        var x = Tensor<double>.FromSpan([-1.0, 0.0, 2.0, -0.5], 2, 2);
        Assert.Equal([-1.0, 0.0, 2.0, -0.5], LinearAttention.ApplyFeatureMap(FeatureMap.Identity, x).Data);
        // elu(x) + 1: exp(x) for x <= 0, x + 1 for x > 0.
        var elu = LinearAttention.ApplyFeatureMap(FeatureMap.EluPlusOne, x).Data;
        Assert.Equal([Math.Exp(-1.0), 1.0, 3.0, Math.Exp(-0.5)], elu, (a, b) => Math.Abs(a - b) <= 1e-15);
        Assert.Equal([0.0, 0.0, 2.0, 0.0], LinearAttention.ApplyFeatureMap(FeatureMap.Relu, x).Data);
        // Taylor, K = 2: [1, x / 2^(1/4), x_a x_c / (sqrt(2) sqrt(2)) = x_a x_c / 2].
        var taylor = LinearAttention.ApplyFeatureMap(FeatureMap.Taylor, x);
        Assert.Equal([2, 7], taylor.ShapeArray);
        double r1 = Math.Pow(2, 0.25);
        Assert.Equal([1.0, -1.0 / r1, 0.0, 0.5, 0.0, 0.0, 0.0], taylor.Data.AsSpan(0, 7).ToArray(), (a, b) => Math.Abs(a - b) <= 1e-15);
        Assert.Equal("map", Assert.Throws<ArgumentOutOfRangeException>(() => LinearAttention.ApplyFeatureMap((FeatureMap)99, x)).ParamName);
        Assert.Equal("map", Assert.Throws<ArgumentOutOfRangeException>(() => LinearAttention.FeatureMapBackward((FeatureMap)99, x, x)).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentNullException>(() => LinearAttention.ApplyFeatureMap(FeatureMap.Relu, null!)).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentNullException>(() => LinearAttention.FeatureMapBackward(FeatureMap.Relu, null!, x)).ParamName);
        Assert.Equal("dphi", Assert.Throws<ArgumentNullException>(() => LinearAttention.FeatureMapBackward(FeatureMap.Relu, x, null!)).ParamName);
        Assert.Equal("dphi", Assert.Throws<ArgumentException>(() => LinearAttention.FeatureMapBackward(FeatureMap.Taylor, x, x)).ParamName);
    }

    [Fact]
    public void TaylorMap_DefaultScaleIsOne_OutputAtLengthOneIsTheSeriesTimesV()
    {
        // L = 1, no normaliser: o_0 = scale phi(q_0) . phi(k_0) v_0 with scale 1 for Taylor (the map carries K^-1/2).
        var (q, k, v) = Inputs(new HeadCase(1, 1, 1, 3, 2, 1, 8));
        var o = LinearAttention.Forward(q, k, v, new(FeatureMap.Taylor));
        double dot = 0;
        for (int j = 0; j < 3; j++) dot += q.Data[j] * k.Data[j];
        double x = dot / Math.Sqrt(3);
        for (int j = 0; j < 2; j++) Assert.Equal((1 + x + x * x / 2) * v.Data[j], o.Data[j], 1e-13);
        // Identity's default scale is F^-1/2.
        var identity = LinearAttention.Forward(q, k, v);
        for (int j = 0; j < 2; j++) Assert.Equal(dot / Math.Sqrt(3) * v.Data[j], identity.Data[j], 1e-13);
    }

    [Fact]
    public void Recurrent_WithACarriedState_ContinuesWhereTheFirstCallStopped()
    {
        var c = new HeadCase(2, 2, 9, 3, 2, 4, 5);
        var (q, k, v) = Inputs(c);
        var o = new LinearAttentionOptions(FeatureMap.EluPlusOne, Normalize: true);
        var expected = LinearAttention.Forward(q, k, v, o);
        var state = new LinearAttentionState(c.B, c.H, c.K, c.V);
        int split = 4;
        var first = LinearAttention.Recurrent(q.Slice(2, 0, split), k.Slice(2, 0, split), v.Slice(2, 0, split), o, state);
        var second = LinearAttention.Recurrent(q.Slice(2, split, c.L - split), k.Slice(2, split, c.L - split), v.Slice(2, split, c.L - split), o, state);
        Assert.True(Rel(expected.Slice(2, 0, split), first) <= 1e-12);
        Assert.True(Rel(expected.Slice(2, split, c.L - split), second) <= 1e-12);
        var chunkState = new LinearAttentionState(c.B, c.H, c.K, c.V);
        LinearAttention.Chunked(q, k, v, c.Chunk, o, chunkState);
        Assert.True(Rel(chunkState.S, state.S) <= 1e-12);
        Assert.True(Rel(chunkState.Z, state.Z) <= 1e-12);
    }

    [Fact]
    public void Realize_EveryBatchAndHead_RunsThatHeadsRecurrence_AndRejectsOutOfRange()
    {
        var c = new HeadCase(2, 2, 5, 3, 2, 4, 6);
        var (q, k, v) = Inputs(c);
        var o = new LinearAttentionOptions(FeatureMap.EluPlusOne, Normalize: true);
        var y = LinearAttention.Forward(q, k, v, o);
        for (int bi = 0; bi < c.B; bi++)
            for (int hi = 0; hi < c.H; hi++)
            {
                var r = LinearAttention.Realize(q, k, bi, hi, o);
                var x = new double[r.Modes];
                for (int t = 0; t < c.L; t++)
                {
                    double acc = 0;
                    for (int n = 0; n < r.Modes; n++)
                    {
                        x[n] = r.Transition[t * r.Modes + n] * x[n] + r.Input[t * r.Modes + n] * v[bi, hi, t, 0];
                        acc += r.Readout[t * r.Modes + n] * x[n];
                    }
                    Assert.Equal(y[bi, hi, t, 0], acc, 1e-12 * (1 + Math.Abs(acc)));
                }
            }
        Assert.Equal("batch", Assert.Throws<ArgumentOutOfRangeException>(() => LinearAttention.Realize(q, k, c.B, 0, o)).ParamName);
        Assert.Equal("batch", Assert.Throws<ArgumentOutOfRangeException>(() => LinearAttention.Realize(q, k, -1, 0, o)).ParamName);
        Assert.Equal("head", Assert.Throws<ArgumentOutOfRangeException>(() => LinearAttention.Realize(q, k, 0, c.H, o)).ParamName);
        Assert.Equal("k", Assert.Throws<ArgumentException>(() => LinearAttention.Realize(q, Tensor<double>.Zeros(2, 2, 5, 4), 0, 0, o)).ParamName);
    }

    [Fact]
    public void Negative_EveryEntryPoint_ChecksItsArguments_NamingThem()
    {
        var (q, k, v) = Inputs(new HeadCase(1, 2, 5, 3, 2, 2, 4));
        void Shape(string name, Action call) => Assert.Equal(name, Assert.Throws<ArgumentException>(call).ParamName);
        void Range(string name, Action call) => Assert.Equal(name, Assert.Throws<ArgumentOutOfRangeException>(call).ParamName);
        Shape("v", () => LinearAttention.Forward(q, k, Tensor<double>.Zeros(1, 2, 6, 2)));
        Shape("state", () => LinearAttention.Recurrent(q, k, v, null, new LinearAttentionState(1, 2, 4, 2)));
        Shape("state", () => LinearAttention.Chunked(q, k, v, 2, null, new LinearAttentionState(1, 2, 4, 2)));
        Shape("dOut", () => LinearAttention.Backward(q, k, v, Tensor<double>.Zeros(1, 2, 5, 3)));
        Range("options", () => LinearAttention.Forward(q, k, v, new(Scale: double.NaN)));
        Range("options", () => LinearAttention.Forward(q, k, v, new(Scale: double.PositiveInfinity)));
        Range("options", () => LinearAttention.Forward(q, k, v, new(Eps: -1e-3)));
        Range("options", () => LinearAttention.Forward(q, k, v, new(Eps: double.NaN)));
        var state = new LinearAttentionState(1, 2, 3, 2);
        var qt = Tensor<double>.Zeros(1, 2, 3);
        var vt = Tensor<double>.Zeros(1, 2, 2);
        Assert.Equal("state", Assert.Throws<ArgumentNullException>(() => LinearAttention.Step(null!, qt, qt, vt)).ParamName);
        Assert.Equal("qt", Assert.Throws<ArgumentNullException>(() => LinearAttention.Step(state, null!, qt, vt)).ParamName);
        Shape("qt", () => LinearAttention.Step(state, Tensor<double>.Zeros(2, 3), qt, vt));
        Shape("qt", () => LinearAttention.Step(state, Tensor<double>.Zeros(2, 2, 3), qt, vt));
        Shape("qt", () => LinearAttention.Step(state, Tensor<double>.Zeros(1, 3, 3), qt, vt));
        Shape("qt", () => LinearAttention.Step(state, Tensor<double>.Zeros(1, 2, 4), qt, vt));
        Shape("kt", () => LinearAttention.Step(state, qt, Tensor<double>.Zeros(1, 2, 4), vt));
        Shape("vt", () => LinearAttention.Step(state, qt, qt, Tensor<double>.Zeros(1, 2, 3)));
        Assert.All(state.S.Data, x => Assert.Equal(0.0, x));
        Assert.Equal([1, 2, 2], LinearAttention.Step(state, qt, qt, vt).ShapeArray);
        // Taylor's F(K) = 1 + K + K^2: a state of F = 7 takes K = 2 queries.
        Assert.Equal([1, 1, 2], LinearAttention.Step(new LinearAttentionState(1, 1, 7, 2), Tensor<double>.Zeros(1, 1, 2),
            Tensor<double>.Zeros(1, 1, 2), Tensor<double>.Zeros(1, 1, 2), new(FeatureMap.Taylor)).ShapeArray);
    }
}
