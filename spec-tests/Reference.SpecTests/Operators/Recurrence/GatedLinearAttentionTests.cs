using FsCheck.Xunit;
using Reference.Core;
using Reference.Operators.Attention;
using Reference.Operators.Recurrence;
using Reference.SpecTests.Operators.Attention;
using static Reference.SpecTests.Operators.Attention.AttentionCheck;

namespace Reference.SpecTests.Operators.Recurrence;

public class GatedLinearAttentionTests
{
    /// <summary>Inputs of a case; the gate is fla's logsigmoid(x)/16 (vector) or logsigmoid(x) (scalar, stronger decay).</summary>
    private static (Tensor<double> Q, Tensor<double> K, Tensor<double> V, Tensor<double> G) Inputs(HeadCase c, bool scalarGate)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var q = rng.NormalTensor<double>(0, 1, c.B, c.H, c.L, c.K);
        var k = rng.NormalTensor<double>(0, 1, c.B, c.H, c.L, c.K);
        var v = rng.NormalTensor<double>(0, 1, c.B, c.H, c.L, c.V);
        var x = rng.NormalTensor<double>(0, 2, c.B, c.H, c.L, scalarGate ? 1 : c.K);
        return (q, k, v, GatedLinearAttention.LogSigmoidGate(x, scalarGate ? 1.0 : 16.0));
    }

    [Property(Arbitrary = [typeof(HeadCase)])]
    public void Property_ParallelEqualsRecurrentEqualsChunked_VectorAndScalarGates(HeadCase c)
    {
        foreach (bool scalar in new[] { false, true })
        {
            var (q, k, v, g) = Inputs(c, scalar);
            var parallel = GatedLinearAttention.Forward(q, k, v, g);
            Assert.True(Rel(parallel, GatedLinearAttention.Recurrent(q, k, v, g)) <= 1e-12);
            Assert.True(Rel(parallel, GatedLinearAttention.Chunked(q, k, v, g, c.Chunk)) <= 1e-12);
            Assert.True(Rel(parallel, Apply(GatedLinearAttention.Materialize(q, k, g), v)) <= 1e-12);
        }
    }

    [Property(Arbitrary = [typeof(HeadCase)])]
    public void Property_FastChunkedAndFastRecurrent_EqualNaive_Float64AndFloat32(HeadCase c)
    {
        var big = c with { L = c.L + 2 * GatedLinearAttention.FastChunk + 3 };
        foreach (bool scalar in new[] { false, true })
        {
            var (q, k, v, g) = Inputs(big, scalar);
            var expected = GatedLinearAttention.Recurrent(q, k, v, g);
            Assert.True(Rel(expected, GatedLinearAttention.ChunkedFast(q, k, v, g)) <= 1e-12);
            Assert.True(Rel(expected, GatedLinearAttention.RecurrentFast(q, k, v, g)) <= 1e-12);
            var (qf, kf, vf, gf) = (q.Cast<float>(), k.Cast<float>(), v.Cast<float>(), g.Cast<float>());
            Assert.True(Metrics.RelativeError(expected.Data, GatedLinearAttention.ChunkedFast(qf, kf, vf, gf, maxThreads: 1).Data) <= 1e-5);
            Assert.True(Metrics.RelativeError(expected.Data, GatedLinearAttention.RecurrentFast(qf, kf, vf, gf, maxThreads: 1).Data) <= 1e-5);
        }
    }

    /// <summary>
    /// Log-gates of three strengths: fla's logsigmoid(x)/16 (weak), logsigmoid(x) with x ~ N(-4, 4)
    /// (a sub-block of 8 decays by e^-30 on average, so some diagonal sub-blocks leave the range
    /// where the chunked form uses the rescaled product and fall back to log space), and -U(20, 60)
    /// per step (every decay across positions underflows float32; only the diagonal terms survive).
    /// </summary>
    private static Tensor<double> Gates(SplitMix64 rng, int strength, params int[] shape)
    {
        var x = strength switch
        {
            0 => GatedLinearAttention.LogSigmoidGate(rng.NormalTensor<double>(0, 2, shape)),
            1 => GatedLinearAttention.LogSigmoidGate(rng.NormalTensor<double>(-4, 4, shape), 1.0),
            _ => rng.UniformTensor<double>(-60, -20, shape),
        };
        return x;
    }

    /// <summary>
    /// The fast chunked form in float32 against the float64 definition (the parallel form), for weak,
    /// strong and extreme gates, vector and scalar, inputs rounded to float32 on both sides so only the
    /// kernel's arithmetic is measured: relative L2 error below the spec's 1e-5 for float32 backends
    /// (observed up to ~2e-6 with strong scalar gates, where few terms carry the output).
    /// </summary>
    [Property(Arbitrary = [typeof(HeadCase)], MaxTest = 40)]
    public void Property_ChunkedFastFloat32_MatchesFloat64Definition_WeakStrongAndExtremeGates(HeadCase c)
    {
        int l = c.L + 2 * GatedLinearAttention.FastChunk + 5;
        foreach (int strength in new[] { 0, 1, 2 })
            foreach (bool scalar in new[] { false, true })
            {
                var rng = new SplitMix64((ulong)c.Seed + (ulong)strength);
                var q = rng.NormalTensor<double>(0, 1, c.B, c.H, l, c.K);
                var k = rng.NormalTensor<double>(0, 1, c.B, c.H, l, c.K);
                var v = rng.NormalTensor<double>(0, 1, c.B, c.H, l, c.V);
                var g = Gates(rng, strength, c.B, c.H, l, scalar ? 1 : c.K);
                var (qf, kf, vf, gf) = (q.Cast<float>(), k.Cast<float>(), v.Cast<float>(), g.Cast<float>());
                var expected = GatedLinearAttention.Forward(qf.Cast<double>(), kf.Cast<double>(), vf.Cast<double>(), gf.Cast<double>());
                var actual = GatedLinearAttention.ChunkedFast(qf, kf, vf, gf);
                Assert.All(actual.Data, x => Assert.True(float.IsFinite(x)));
                double rel = Metrics.RelativeError(expected.Data, actual.Data);
                Assert.True(rel <= 1e-5, $"strength {strength}, scalar {scalar}: rel {rel}");
            }
    }

    /// <summary>Every chunk / sub-chunk pair (including sub-chunk = chunk and sub-chunk 1) equals the float64 recurrence.</summary>
    [Property(Arbitrary = [typeof(HeadCase)], MaxTest = 30)]
    public void Property_ChunkedFastSized_EqualsRecurrence_ForEveryChunkAndSubChunk(HeadCase c)
    {
        int l = c.L + 37;
        var rng = new SplitMix64((ulong)c.Seed);
        var q = rng.NormalTensor<double>(0, 1, c.B, c.H, l, c.K);
        var k = rng.NormalTensor<double>(0, 1, c.B, c.H, l, c.K);
        var v = rng.NormalTensor<double>(0, 1, c.B, c.H, l, c.V);
        var g = Gates(rng, c.Seed % 2, c.B, c.H, l, c.Seed % 3 == 0 ? 1 : c.K);
        var expected = GatedLinearAttention.Recurrent(q, k, v, g);
        foreach (var (chunk, sub) in new[] { (1, 1), (4, 2), (8, 8), (12, 4), (16, 8), (32, 8), (64, 16), (64, 64) })
        {
            double rel = Rel(expected, GatedLinearAttention.ChunkedFastSized(q, k, v, g, chunk, sub));
            Assert.True(rel <= 1e-12, $"chunk {chunk}, sub-chunk {sub}: rel {rel}");
        }
    }

    /// <summary>
    /// The two-phase form (every chunk's gates and [Qe | A] first, in items of PrepareChunks chunks; then the state carry per head
    /// and block of value columns) is bitwise the fused one-thread form for every thread and column-block count, with and
    /// without an initial and final state, float32 and float64; and equals the float64 recurrence. Lengths span several
    /// prepare items and a partial last chunk; widths (7 V + 3) give column blocks with vector tails.
    /// </summary>
    [Property(Arbitrary = [typeof(HeadCase)], MaxTest = 25)]
    public void Property_ChunkedFast_SplitIntoItems_BitwiseEqualsOneThread(HeadCase c)
    {
        int l = c.L + GatedLinearAttention.PrepareChunks * GatedLinearAttention.FastChunk + 5 * c.Chunk, kd = 5 * c.K, vd = 7 * c.V + 3;
        var rng = new SplitMix64((ulong)c.Seed);
        var q = rng.NormalTensor<double>(0, 1, c.B, c.H, l, kd);
        var k = rng.NormalTensor<double>(0, 1, c.B, c.H, l, kd);
        var v = rng.NormalTensor<double>(0, 1, c.B, c.H, l, vd);
        var g = Gates(rng, c.Seed % 2, c.B, c.H, l, c.Seed % 3 == 0 ? 1 : kd);
        var s0 = rng.NormalTensor<double>(0, 1, c.B, c.H, kd, vd);
        var expected = GatedLinearAttention.Recurrent(q, k, v, g);
        Check(q, k, v, g, s0.Data, expected, 1e-12);
        Check(q.Cast<float>(), k.Cast<float>(), v.Cast<float>(), g.Cast<float>(), s0.Cast<float>().Data, expected, 1e-5);

        void Check<T>(Tensor<T> q, Tensor<T> k, Tensor<T> v, Tensor<T> g, T[] s0, Tensor<double> naive, double bound)
            where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        {
            const int C = GatedLinearAttention.FastChunk, Sub = GatedLinearAttention.FastSubChunk;
            var fused = GatedLinearAttention.ChunkedFastSized(q, k, v, g, C, Sub, maxThreads: 1, columnBlocks: -1);
            var fusedFinal = new T[s0.Length];
            var fusedFromS0 = GatedLinearAttention.ChunkedFastSized(q, k, v, g, C, Sub, maxThreads: 1, initialState: s0, finalState: fusedFinal, columnBlocks: -1);
            double rel = Metrics.RelativeError(naive.Data, fused.Cast<double>().Data);
            Assert.True(rel <= bound, $"{typeof(T).Name} fused vs float64 recurrence: rel {rel}");
            foreach (int threads in new[] { 1, 2, 3 })
                foreach (int blocks in new[] { 0, 1, 2, 3, 16 })
                {
                    var split = GatedLinearAttention.ChunkedFastSized(q, k, v, g, C, Sub, maxThreads: threads, columnBlocks: blocks);
                    Assert.True(fused.Data.AsSpan().SequenceEqual(split.Data), $"{typeof(T).Name} threads {threads} blocks {blocks}: not bitwise the fused form");
                    var final = new T[s0.Length];
                    var fromS0 = GatedLinearAttention.ChunkedFastSized(q, k, v, g, C, Sub, maxThreads: threads, initialState: s0, finalState: final, columnBlocks: blocks);
                    Assert.True(fusedFromS0.Data.AsSpan().SequenceEqual(fromS0.Data) && fusedFinal.AsSpan().SequenceEqual(final),
                        $"{typeof(T).Name} threads {threads} blocks {blocks}: output or final state from S0 not bitwise the fused form");
                }
        }
    }

    /// <summary>Head sizes of a real model (K = V = 64) and odd ones (33, 17) reach every tile edge of the products.</summary>
    [Fact]
    public void Edge_ModelSizedAndOddHeads_ChunkedFastEqualsRecurrence()
    {
        foreach (var (kd, vd) in new[] { (64, 64), (33, 17), (17, 33) })
        {
            var rng = new SplitMix64((ulong)(kd * 100 + vd));
            var q = rng.NormalTensor<double>(0, 1, 1, 2, 150, kd);
            var k = rng.NormalTensor<double>(0, 1, 1, 2, 150, kd);
            var v = rng.NormalTensor<double>(0, 1, 1, 2, 150, vd);
            var g = Gates(rng, kd == 64 ? 0 : 1, 1, 2, 150, kd);
            var expected = GatedLinearAttention.Recurrent(q, k, v, g);
            Assert.True(Rel(expected, GatedLinearAttention.ChunkedFast(q, k, v, g)) <= 1e-12);
            var actual = GatedLinearAttention.ChunkedFast(q.Cast<float>(), k.Cast<float>(), v.Cast<float>(), g.Cast<float>(), maxThreads: 1);
            Assert.True(Metrics.RelativeError(expected.Data, actual.Data) <= 1e-5);
        }
    }

    [Property(Arbitrary = [typeof(HeadCase)])]
    public void Property_StateCarriedAcrossCalls_EqualsOneShot(HeadCase c)
    {
        var (q, k, v, g) = Inputs(c, scalarGate: c.Seed % 2 == 0);
        int split = c.L / 3;
        var expected = GatedLinearAttention.Recurrent(q, k, v, g, state: null);
        var stateChunked = GatedLinearAttentionState.Zeros(c.B, c.H, c.K, c.V);
        var first = GatedLinearAttention.Chunked(q.Slice(2, 0, split), k.Slice(2, 0, split), v.Slice(2, 0, split), g.Slice(2, 0, split), c.Chunk, stateChunked);
        var second = GatedLinearAttention.Chunked(q.Slice(2, split, c.L - split), k.Slice(2, split, c.L - split),
            v.Slice(2, split, c.L - split), g.Slice(2, split, c.L - split), c.Chunk, stateChunked);
        Assert.True(Rel(expected.Slice(2, 0, split), first) <= 1e-12);
        Assert.True(Rel(expected.Slice(2, split, c.L - split), second) <= 1e-12);
        var stateStep = GatedLinearAttentionState.Zeros(c.B, c.H, c.K, c.V);
        for (int t = 0; t < c.L; t++)
        {
            var o = GatedLinearAttention.Step(stateStep, q.Slice(2, t, 1).Reshape(c.B, c.H, c.K), k.Slice(2, t, 1).Reshape(c.B, c.H, c.K),
                v.Slice(2, t, 1).Reshape(c.B, c.H, c.V), g.Slice(2, t, 1).Reshape(c.B, c.H, -1));
            Assert.True(Rel(expected.Slice(2, t, 1).Reshape(c.B, c.H, c.V), o) <= 1e-12);
        }
        Assert.True(Rel(stateStep.S, stateChunked.S) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(HeadCase)])]
    public void Property_ScalarGate_EqualsVectorGateRepeatedOverK(HeadCase c)
    {
        var (q, k, v, g) = Inputs(c, scalarGate: true);
        var repeated = Tensor<double>.Zeros(c.B, c.H, c.L, c.K);
        for (int i = 0; i < repeated.Length; i++) repeated.Data[i] = g.Data[i / c.K];
        Assert.True(Rel(GatedLinearAttention.Forward(q, k, v, repeated), GatedLinearAttention.Forward(q, k, v, g)) <= 1e-14);
        Assert.True(Rel(GatedLinearAttention.Chunked(q, k, v, repeated, c.Chunk), GatedLinearAttention.Chunked(q, k, v, g, c.Chunk)) <= 1e-14);
    }

    [Property(Arbitrary = [typeof(HeadCase)])]
    public void Property_Causality_FuturePerturbationLeavesPastExactly(HeadCase c)
    {
        var (q, k, v, g) = Inputs(c, scalarGate: false);
        int t = c.L / 2;
        var before = new[] { GatedLinearAttention.Forward(q, k, v, g), GatedLinearAttention.Recurrent(q, k, v, g), GatedLinearAttention.Chunked(q, k, v, g, c.Chunk) };
        var rng = new SplitMix64((ulong)c.Seed + 99);
        foreach (var x in new[] { q, k, v, g })
        {
            int d = x.Shape[3];
            for (int o = 0; o < c.B * c.H; o++)
                for (int s = t + 1; s < c.L; s++)
                    for (int j = 0; j < d; j++) x.Data[(o * c.L + s) * d + j] -= Math.Abs(rng.Normal());
        }
        var after = new[] { GatedLinearAttention.Forward(q, k, v, g), GatedLinearAttention.Recurrent(q, k, v, g), GatedLinearAttention.Chunked(q, k, v, g, c.Chunk) };
        for (int i = 0; i < 3; i++) Assert.Equal(before[i].Slice(2, 0, t + 1).Data, after[i].Slice(2, 0, t + 1).Data);
    }

    [Property(Arbitrary = [typeof(HeadCase)])]
    public void Property_DiagonalRealization_RunsTheSameRecurrence(HeadCase c)
    {
        var (q, k, v, g) = Inputs(c, scalarGate: c.Seed % 2 == 1);
        var o = GatedLinearAttention.Forward(q, k, v, g);
        for (int bi = 0; bi < c.B; bi++)
            for (int h = 0; h < c.H; h++)
            {
                var r = GatedLinearAttention.Realize(q, k, g, bi, h);
                Assert.Equal((c.L, c.K), (r.Length, r.Modes));
                for (int j = 0; j < c.V; j++)
                {
                    var x = new double[c.K];
                    for (int t = 0; t < c.L; t++)
                    {
                        double u = v[bi, h, t, j], y = 0;
                        for (int n = 0; n < c.K; n++)
                        {
                            x[n] = r.Transition[t * c.K + n] * x[n] + r.Input[t * c.K + n] * u;
                            y += r.Readout[t * c.K + n] * x[n];
                        }
                        Assert.Equal(o[bi, h, t, j], y, 1e-12 * (1 + Math.Abs(y)));
                    }
                }
            }
    }

    [Property(Arbitrary = [typeof(HeadCase)], MaxTest = 10)]
    public void Property_Backward_MatchesFiniteDifferences_IncludingGates(HeadCase c)
    {
        var small = c with { B = 1, L = Math.Min(c.L, 9), K = Math.Min(c.K, 4), V = Math.Min(c.V, 3) };
        foreach (bool scalar in new[] { false, true })
        {
            var (q, k, v, g) = Inputs(small, scalar);
            var dOut = new SplitMix64((ulong)c.Seed + 3).NormalTensor<double>(0, 1, small.B, small.H, small.L, small.V);
            var grads = GatedLinearAttention.Backward(q, k, v, g, dOut);
            double Loss() => Dot(dOut, GatedLinearAttention.Forward(q, k, v, g));
            AssertGradient(q, Loss, grads.Dq, $"dq (scalar gate {scalar})");
            AssertGradient(k, Loss, grads.Dk, $"dk (scalar gate {scalar})");
            AssertGradient(v, Loss, grads.Dv, $"dv (scalar gate {scalar})");
            AssertGradient(g, Loss, grads.Dg, $"dg (scalar gate {scalar})");
        }
    }

    [Fact]
    public void Property_LogSigmoidGate_ValuesAndBackward()
    {
        var x = new SplitMix64(8).NormalTensor<double>(0, 10, 64);
        x.Data[0] = 800; x.Data[1] = -800; x.Data[2] = 0;
        var g = GatedLinearAttention.LogSigmoidGate(x);
        for (int i = 0; i < x.Length; i++)
        {
            double z = x.Data[i];
            double expected = z > 30 ? -Math.Exp(-z) / 16 : z < -30 ? z / 16 : Math.Log(1 / (1 + Math.Exp(-z))) / 16;
            Assert.Equal(expected, g.Data[i], 1e-15 * (1 + Math.Abs(expected)));
        }
        var dg = new SplitMix64(9).NormalTensor<double>(0, 1, 64);
        var dx = GatedLinearAttention.LogSigmoidGateBackward(x, dg);
        var fd = FiniteDifference(x, () => Dot(dg, GatedLinearAttention.LogSigmoidGate(x)));
        Assert.True(Metrics.RelativeError(fd, dx.Data) <= 1e-8);
    }

    [Fact]
    public void Edge_StrongDecayOverLongSequence_StaysFinite_AndKeepsOnlyTheDiagonal()
    {
        var c = new HeadCase(1, 1, 200, 4, 3, 64, 17);
        var (q, k, v, _) = Inputs(c, false);
        var g = Tensor<double>.Full(-800.0, 1, 1, 200, 4);
        var o = GatedLinearAttention.Chunked(q, k, v, g, 64);
        var expected = Tensor<double>.Zeros(1, 1, 200, 3);
        for (int t = 0; t < 200; t++)
        {
            double a = 0;
            for (int c2 = 0; c2 < 4; c2++) a += 0.5 * q[0, 0, t, c2] * k[0, 0, t, c2];
            for (int j = 0; j < 3; j++) expected[0, 0, t, j] = a * v[0, 0, t, j];
        }
        Assert.All(o.Data, x => Assert.True(double.IsFinite(x)));
        Assert.True(Rel(expected, o) <= 1e-15);
        Assert.True(Rel(expected, GatedLinearAttention.Forward(q, k, v, g)) <= 1e-15);
        Assert.True(Rel(expected, GatedLinearAttention.ChunkedFast(q, k, v, g)) <= 1e-15);
        Assert.All(GatedLinearAttention.ChunkedFast(q.Cast<float>(), k.Cast<float>(), v.Cast<float>(), g.Cast<float>()).Data, x => Assert.True(float.IsFinite(x)));
    }

    [Fact]
    public void Negative_WrongGateShapeAndChunk_NameTheArgument()
    {
        var c = new HeadCase(1, 2, 5, 4, 3, 2, 1);
        var (q, k, v, _) = Inputs(c, false);
        Assert.Equal("g", Assert.Throws<ArgumentException>(() => GatedLinearAttention.Forward(q, k, v, Tensor<double>.Zeros(1, 2, 5, 3))).ParamName);
        Assert.Equal("chunk", Assert.Throws<ArgumentOutOfRangeException>(() => GatedLinearAttention.Chunked(q, k, v, Tensor<double>.Zeros(1, 2, 5, 1), 0)).ParamName);
        Assert.Equal("subChunk", Assert.Throws<ArgumentOutOfRangeException>(() => GatedLinearAttention.ChunkedFastSized(q, k, v, Tensor<double>.Zeros(1, 2, 5, 1), 16, 6)).ParamName);
        Assert.Equal("subChunk", Assert.Throws<ArgumentOutOfRangeException>(() => GatedLinearAttention.ChunkedFastSized(q, k, v, Tensor<double>.Zeros(1, 2, 5, 1), 16, 0)).ParamName);
        var (q2, k2, v2, g2) = Inputs(c, false);
        var o = GatedLinearAttention.Forward(q2, k2, v2, g2);
        var wrong = GatedLinearAttention.Forward(q2, k2, v2, GatedLinearAttention.LogSigmoidGate(Tensor<double>.Zeros(1, 2, 5, 4), 15.0));
        Assert.True(Rel(o, wrong) > 1e-6);
    }

    /// <summary>
    /// The recurrence written out from its solution: with G the cumulative log gates of a segment and
    /// S0 the state entering it, o_t = scale sum_c q_tc (exp(G_tc) S0[c, :] + sum_{s &lt;= t} exp(G_tc - G_sc) k_sc v_s)
    /// and the state leaving it is S[c, :] = exp(G_(L-1)c) S0[c, :] + sum_s exp(G_(L-1)c - G_sc) k_sc v_s.
    /// </summary>
    private static (Tensor<double> O, Tensor<double> S) ClosedForm(Tensor<double> q, Tensor<double> k, Tensor<double> v, Tensor<double> g, Tensor<double> s0)
    {
        int b = q.Shape[0], h = q.Shape[1], l = q.Shape[2], kd = q.Shape[3], vd = v.Shape[3], kg = g.Shape[3];
        double sc = 1.0 / Math.Sqrt(kd);
        var o = Tensor<double>.Zeros(b, h, l, vd);
        var s = s0.Clone();
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++)
            {
                double G(int t, int c)
                {
                    double acc = 0;
                    for (int r = 0; r <= t; r++) acc += g[bi, hi, r, kg == 1 ? 0 : c];
                    return acc;
                }
                for (int t = 0; t < l; t++)
                    for (int j = 0; j < vd; j++)
                    {
                        double acc = 0;
                        for (int c = 0; c < kd; c++)
                        {
                            double inner = Math.Exp(G(t, c)) * s0[bi, hi, c, j];
                            for (int r = 0; r <= t; r++) inner += Math.Exp(G(t, c) - G(r, c)) * k[bi, hi, r, c] * v[bi, hi, r, j];
                            acc += sc * q[bi, hi, t, c] * inner;
                        }
                        o[bi, hi, t, j] = acc;
                    }
                for (int c = 0; c < kd; c++)
                    for (int j = 0; j < vd; j++)
                    {
                        double acc = l == 0 ? s0[bi, hi, c, j] : Math.Exp(G(l - 1, c)) * s0[bi, hi, c, j];
                        for (int r = 0; r < l; r++) acc += Math.Exp(G(l - 1, c) - G(r, c)) * k[bi, hi, r, c] * v[bi, hi, r, j];
                        s[bi, hi, c, j] = acc;
                    }
            }
        return (o, s);
    }

    [Property(Arbitrary = [typeof(HeadCase)], MaxTest = 20)]
    public void Property_RecurrentAndChunked_ReadAndLeaveTheCallersState(HeadCase c)
    {
        var (q, k, v, g) = Inputs(c, scalarGate: c.Seed % 2 == 1);
        var s0 = new SplitMix64((ulong)c.Seed + 7).NormalTensor<double>(0, 1, c.B, c.H, c.K, c.V);
        var (expected, expectedState) = ClosedForm(q, k, v, g, s0);
        var recurrentState = new GatedLinearAttentionState(s0.Clone());
        Assert.True(Rel(expected, GatedLinearAttention.Recurrent(q, k, v, g, recurrentState)) <= 1e-11);
        Assert.True(Rel(expectedState, recurrentState.S) <= 1e-11);
        var chunkedState = new GatedLinearAttentionState(s0.Clone());
        Assert.True(Rel(expected, GatedLinearAttention.Chunked(q, k, v, g, c.Chunk, chunkedState)) <= 1e-11);
        Assert.True(Rel(expectedState, chunkedState.S) <= 1e-11);

        // Two Recurrent calls on one state object (split at L / 2) equal the one-shot definition from zero.
        int split = c.L / 2;
        var carried = GatedLinearAttentionState.Zeros(c.B, c.H, c.K, c.V);
        var first = GatedLinearAttention.Recurrent(q.Slice(2, 0, split), k.Slice(2, 0, split), v.Slice(2, 0, split), g.Slice(2, 0, split), carried);
        var second = GatedLinearAttention.Recurrent(q.Slice(2, split, c.L - split), k.Slice(2, split, c.L - split),
            v.Slice(2, split, c.L - split), g.Slice(2, split, c.L - split), carried);
        var parallel = GatedLinearAttention.Forward(q, k, v, g);
        Assert.True(Rel(parallel.Slice(2, 0, split), first) <= 1e-12);
        Assert.True(Rel(parallel.Slice(2, split, c.L - split), second) <= 1e-12);
        Assert.True(Rel(ClosedForm(q, k, v, g, Tensor<double>.Zeros(c.B, c.H, c.K, c.V)).S, carried.S) <= 1e-11);
    }

    [Fact]
    public void Negative_StateGatesAndNormalizer_NameTheArgument()
    {
        Assert.Equal("s", Assert.Throws<ArgumentNullException>(() => new GatedLinearAttentionState(null!)).ParamName);
        Assert.Equal("s", Assert.Throws<ArgumentException>(() => new GatedLinearAttentionState(Tensor<double>.Zeros(1, 2, 3))).ParamName);
        Assert.Equal("s", Assert.Throws<ArgumentException>(() => new GatedLinearAttentionState(Tensor<double>.Zeros(1, 1, 2, 3, 1))).ParamName);
        var x = new SplitMix64(2).NormalTensor<double>(0, 1, 2, 3);
        var dg = new SplitMix64(3).NormalTensor<double>(0, 1, 2, 3);
        Assert.Equal("x", Assert.Throws<ArgumentNullException>(() => GatedLinearAttention.LogSigmoidGate(null!)).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentNullException>(() => GatedLinearAttention.LogSigmoidGateBackward(null!, dg)).ParamName);
        Assert.Equal("dg", Assert.Throws<ArgumentNullException>(() => GatedLinearAttention.LogSigmoidGateBackward(x, null!)).ParamName);
        Assert.Equal("dg", Assert.Throws<ArgumentException>(() => GatedLinearAttention.LogSigmoidGateBackward(x, Tensor<double>.Zeros(3, 2))).ParamName);
        foreach (double bad in new[] { 0.0, -1.0, double.NaN, double.PositiveInfinity })
        {
            Assert.Equal("normalizer", Assert.Throws<ArgumentOutOfRangeException>(() => GatedLinearAttention.LogSigmoidGate(x, bad)).ParamName);
            Assert.Equal("normalizer", Assert.Throws<ArgumentOutOfRangeException>(() => GatedLinearAttention.LogSigmoidGateBackward(x, dg, bad)).ParamName);
        }
        // Any finite positive normalizer divides: g = logsigmoid(x) / normalizer.
        Assert.Equal(GatedLinearAttention.LogSigmoidGate(x, 1.0).Data[0] / 0.25, GatedLinearAttention.LogSigmoidGate(x, 0.25).Data[0]);
    }

    [Fact]
    public void Negative_ShapesOfEveryEntryPoint_NameTheArgument()
    {
        var c = new HeadCase(1, 2, 5, 4, 3, 2, 1);
        var (q, k, v, g) = Inputs(c, false);
        var kWrong = Tensor<double>.Zeros(1, 2, 5, 3);
        Assert.Equal("k", Assert.Throws<ArgumentException>(() => GatedLinearAttention.Materialize(q, kWrong, g)).ParamName);
        Assert.Equal("k", Assert.Throws<ArgumentException>(() => GatedLinearAttention.Realize(q, kWrong, g, 0, 0)).ParamName);
        Assert.Equal("dOut", Assert.Throws<ArgumentException>(() => GatedLinearAttention.Backward(q, k, v, g, Tensor<double>.Zeros(1, 2, 5, 4))).ParamName);
        var stateWrong = GatedLinearAttentionState.Zeros(1, 2, 3, 4);
        Assert.Equal("state", Assert.Throws<ArgumentException>(() => GatedLinearAttention.Recurrent(q, k, v, g, stateWrong)).ParamName);
        Assert.Equal("state", Assert.Throws<ArgumentException>(() => GatedLinearAttention.Chunked(q, k, v, g, 2, stateWrong)).ParamName);
        Assert.All(stateWrong.S.Data, x => Assert.Equal(0.0, x));
        Assert.Equal("g", Assert.Throws<ArgumentNullException>(() => GatedLinearAttention.Forward(q, k, v, null!)).ParamName);
        foreach (var gWrong in new[] { Tensor<double>.Zeros(2, 2, 5, 4), Tensor<double>.Zeros(1, 1, 5, 4), Tensor<double>.Zeros(1, 2, 4, 4),
                     Tensor<double>.Zeros(1, 2, 5, 2), Tensor<double>.Zeros(1, 2, 5), Tensor<double>.Zeros(1, 2, 5, 4, 1) })
        {
            Assert.Equal("g", Assert.Throws<ArgumentException>(() => GatedLinearAttention.Forward(q, k, v, gWrong)).ParamName);
            Assert.Equal("g", Assert.Throws<ArgumentException>(() => GatedLinearAttention.Materialize(q, k, gWrong)).ParamName);
        }
        foreach (double bad in new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity })
        {
            Assert.Equal("scale", Assert.Throws<ArgumentOutOfRangeException>(() => GatedLinearAttention.Forward(q, k, v, g, bad)).ParamName);
            Assert.Equal("scale", Assert.Throws<ArgumentOutOfRangeException>(() => GatedLinearAttention.Recurrent(q, k, v, g, scale: bad)).ParamName);
        }
    }

    [Fact]
    public void Negative_StepShapes_NameTheArgument()
    {
        const int b = 1, h = 2, kd = 4, vd = 3;
        var state = GatedLinearAttentionState.Zeros(b, h, kd, vd);
        var qt = Tensor<double>.Full(1.0, b, h, kd);
        var kt = Tensor<double>.Full(1.0, b, h, kd);
        var vt = Tensor<double>.Full(1.0, b, h, vd);
        var gt = Tensor<double>.Zeros(b, h, kd);
        Assert.Equal("state", Assert.Throws<ArgumentNullException>(() => GatedLinearAttention.Step(null!, qt, kt, vt, gt)).ParamName);
        Assert.Equal("qt", Assert.Throws<ArgumentException>(() => GatedLinearAttention.Step(state, Tensor<double>.Zeros(b, h, kd + 1), kt, vt, gt)).ParamName);
        Assert.Equal("kt", Assert.Throws<ArgumentException>(() => GatedLinearAttention.Step(state, qt, Tensor<double>.Zeros(b, h + 1, kd), vt, gt)).ParamName);
        Assert.Equal("vt", Assert.Throws<ArgumentException>(() => GatedLinearAttention.Step(state, qt, kt, Tensor<double>.Zeros(b, h, kd), gt)).ParamName);
        Assert.Equal("gt", Assert.Throws<ArgumentNullException>(() => GatedLinearAttention.Step(state, qt, kt, vt, null!)).ParamName);
        foreach (var gWrong in new[] { Tensor<double>.Zeros(b + 1, h, kd), Tensor<double>.Zeros(b, h + 1, kd), Tensor<double>.Zeros(b, h, 3),
                     Tensor<double>.Zeros(b, h), Tensor<double>.Zeros(b, h, kd, 1) })
            Assert.Equal("gt", Assert.Throws<ArgumentException>(() => GatedLinearAttention.Step(state, qt, kt, vt, gWrong)).ParamName);
        Assert.All(state.S.Data, x => Assert.Equal(0.0, x));
        // The accepted gates: [b, h, K] and [b, h, 1] (g = 0: S = k v^T = ones, o = scale * K * ones).
        var o = GatedLinearAttention.Step(state, qt, kt, vt, Tensor<double>.Zeros(b, h, 1));
        Assert.All(o.Data, x => Assert.Equal(kd / Math.Sqrt(kd), x, 1e-15));
    }

    [Fact]
    public void Negative_RealizeOutsideTheBatchOrHeads_NameTheArgument()
    {
        var c = new HeadCase(2, 3, 4, 2, 2, 2, 5);
        var (q, k, _, g) = Inputs(c, false);
        Assert.Equal("batch", Assert.Throws<ArgumentOutOfRangeException>(() => GatedLinearAttention.Realize(q, k, g, 2, 0)).ParamName);
        Assert.Equal("batch", Assert.Throws<ArgumentOutOfRangeException>(() => GatedLinearAttention.Realize(q, k, g, -1, 0)).ParamName);
        Assert.Equal("head", Assert.Throws<ArgumentOutOfRangeException>(() => GatedLinearAttention.Realize(q, k, g, 0, 3)).ParamName);
        Assert.Equal("head", Assert.Throws<ArgumentOutOfRangeException>(() => GatedLinearAttention.Realize(q, k, g, 1, -1)).ParamName);
        // The last batch and head are inside: the realization reproduces that head's operator matrix.
        var t = GatedLinearAttention.Materialize(q, k, g);
        var head = GatedLinearAttention.Realize(q, k, g, 1, 2).Materialize();
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) Assert.Equal(t[1, 2, i, j], head[i, j], 1e-14);
    }
}
