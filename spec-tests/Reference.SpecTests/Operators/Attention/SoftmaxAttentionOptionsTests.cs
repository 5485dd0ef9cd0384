using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Linear;
using Reference.Operators.Attention;
using Reference.SpecTests.Core;
using static Reference.SpecTests.Operators.Attention.AttentionCheck;

namespace Reference.SpecTests.Operators.Attention;

/// <summary>
/// A softmax-attention case with the options of fla's naive_parallel_attn: causal or not, a window
/// (causal only), an explicit scale, per-query-head sinks, a log forget gate g [B, Hq, L] with a gate
/// scale. L reaches past the fast kernel's 48-query and 96-key tiles.
/// </summary>
public sealed record OptionsCase(int B, int Hkv, int G, int L, int K, int V, bool Causal, int? Window, double? Scale,
    bool Sinks, bool Gate, double GateScale, int Seed)
{
    public int Hq => Hkv * G;

    public SoftmaxAttentionOptions Options(double[]? sinks) => new(Scale, Causal ? Window : null, Causal, sinks, GateScale);

    /// <summary>q, k, v ~ N(0, 1); sinks ~ N(0, 2); g = -softplus(x - 2) with x ~ N(0, 1) (a log gate in (-inf, 0)).</summary>
    public (Tensor<double> Q, Tensor<double> K, Tensor<double> V, double[]? Sinks, Tensor<double>? Gate) Inputs()
    {
        var rng = new SplitMix64((ulong)Seed);
        var q = rng.NormalTensor<double>(0, 1, B, Hq, L, K);
        var k = rng.NormalTensor<double>(0, 1, B, Hkv, L, K);
        var v = rng.NormalTensor<double>(0, 1, B, Hkv, L, V);
        var sinks = Sinks ? rng.NormalTensor<double>(0, 2, Hq).Data : null;
        Tensor<double>? g = null;
        if (Gate)
        {
            g = rng.NormalTensor<double>(0, 1, B, Hq, L);
            for (int i = 0; i < g.Length; i++) g.Data[i] = -Math.Log(1 + Math.Exp(g.Data[i] - 2));
        }
        return (q, k, v, sinks, g);
    }

    public static Arbitrary<OptionsCase> Arbitrary() =>
        (from b in Gen.Elements(1, 2)
         from hkv in Gen.Elements(1, 2)
         from g in Gen.Elements(1, 2, 3)
         from l in Gen.Elements(1, 2, 9, 33, 49, 100)
         from k in Gen.Elements(1, 4, 9, 16)
         from v in Gen.Elements(1, 3, 8, 17)
         from causal in Gen.Elements(true, true, false)
         from w in Gen.Elements<int?>(null, null, 1, 5, 50)
         from scale in Gen.Elements<double?>(null, 0.3, 1.7)
         from sinks in Gen.Elements(false, true)
         from gate in Gen.Elements(false, true)
         from gs in Gen.Elements(1.0, 0.5)
         from seed in Cases.Seed
         select new OptionsCase(b, hkv, g, l, k, v, causal, w, scale, sinks, gate, gs, seed)).ToArbitrary();
}

/// <summary>
/// The options of softmax attention (non-causal, sinks, forget gate, explicit scale, row statistics)
/// against an independent dense route, across tiers (naive, fast float64/float32, materialized,
/// KV-cache decoding naive and fast), with causality, gradients and hand-derived cases.
/// </summary>
public class SoftmaxAttentionOptionsTests
{
    /// <summary>
    /// The independent route: per query head, S = scale Q K^T by NaiveGemm on the repeated kv head; the
    /// forget gate as the sum of g over the positions strictly after the key up to the query (summed
    /// segment by segment, not as a prefix-sum difference); the mask; the sink as one more column of S
    /// whose value row is zero; a row softmax; P V by NaiveGemm. Returns out, max logit, lse.
    /// </summary>
    private static (Tensor<double> Out, Tensor<double> Max, Tensor<double> Lse) Dense(OptionsCase c, Tensor<double> q, Tensor<double> k,
        Tensor<double> v, double[]? sinks, Tensor<double>? g)
    {
        int b = c.B, hq = c.Hq, l = c.L, kd = c.K, vd = c.V;
        double scale = c.Scale ?? 1 / Math.Sqrt(kd);
        var o = Tensor<double>.Zeros(b, hq, l, vd);
        var max = Tensor<double>.Zeros(b, hq, l);
        var lse = Tensor<double>.Zeros(b, hq, l);
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < hq; h++)
            {
                int kvh = h / c.G, row = bi * hq + h;
                var qh = Tensor<double>.FromSpan(q.Data.AsSpan(row * l * kd, l * kd), l, kd);
                var kh = Tensor<double>.FromSpan(k.Data.AsSpan((bi * c.Hkv + kvh) * l * kd, l * kd), l, kd);
                var vh = Tensor<double>.FromSpan(v.Data.AsSpan((bi * c.Hkv + kvh) * l * vd, l * vd), l, vd);
                var s = NaiveGemm.MatMul(qh, kh, transB: true);
                var p = Tensor<double>.Zeros(l, l);
                for (int t = 0; t < l; t++)
                {
                    var logits = new List<double>();
                    for (int j = 0; j < l; j++)
                    {
                        bool live = !c.Causal || (j <= t && (c.Window is not int w || j > t - w));
                        double x = scale * s[t, j];
                        if (g is not null)
                        {
                            double between = 0;
                            for (int r = Math.Min(t, j) + 1; r <= Math.Max(t, j); r++) between += g.Data[row * l + r];
                            x += c.GateScale * (j <= t ? between : -between);
                        }
                        logits.Add(live ? x : double.NegativeInfinity);
                    }
                    if (sinks is not null) logits.Add(sinks[h]);
                    double m = logits.Max(), z = logits.Sum(x => Math.Exp(x - m));
                    for (int j = 0; j < l; j++) p[t, j] = Math.Exp(logits[j] - m) / z;
                    max.Data[row * l + t] = m;
                    lse.Data[row * l + t] = m + Math.Log(z);
                }
                NaiveGemm.MatMul(p, vh).Data.CopyTo(o.Data.AsSpan(row * l * vd));
            }
        return (o, max, lse);
    }

    [Property(Arbitrary = [typeof(OptionsCase)], MaxTest = 60)]
    public void Property_NaiveFastMaterialized_EqualTheDenseRoute(OptionsCase c)
    {
        var (q, k, v, sinks, g) = c.Inputs();
        var options = c.Options(sinks);
        var dense = Dense(c, q, k, v, sinks, g);
        var naive = SoftmaxAttention.ForwardWithStats(q, k, v, options, g);
        Assert.True(Rel(dense.Out, naive.Out) <= 1e-12, $"naive out {Rel(dense.Out, naive.Out):E2}");
        Assert.True(Rel(dense.Max, naive.MaxLogit) <= 1e-12);
        Assert.True(Rel(dense.Lse, naive.Lse) <= 1e-12);

        var fast = SoftmaxAttention.ForwardFastWithStats(q, k, v, options, g);
        Assert.True(Rel(naive.Out, fast.Out) <= 1e-12, $"fast64 out {Rel(naive.Out, fast.Out):E2}");
        Assert.True(Rel(naive.MaxLogit, fast.MaxLogit) <= 1e-12);
        Assert.True(Rel(naive.Lse, fast.Lse) <= 1e-12);

        var fast32 = SoftmaxAttention.ForwardFastWithStats(q.Cast<float>(), k.Cast<float>(), v.Cast<float>(), options, g?.Cast<float>());
        Assert.True(Rel(naive.Out, fast32.Out.Cast<double>()) <= 1e-5, $"fast32 out {Rel(naive.Out, fast32.Out.Cast<double>()):E2}");
        Assert.True(Rel(naive.Lse, fast32.Lse.Cast<double>()) <= 1e-5);

        var pv = Apply(SoftmaxAttention.Materialize(q, k, options, g), c.G, v);
        Assert.True(Rel(naive.Out, pv) <= 1e-12, $"P v {Rel(naive.Out, pv):E2}");
    }

    /// <summary>Decoding: prompt L/2 by Prefill, then one Step per position; rows and statistics equal Forward's, naive and fast.</summary>
    [Property(Arbitrary = [typeof(OptionsCase)], MaxTest = 40)]
    public void Property_Decoding_EqualsForwardRows(OptionsCase c0)
    {
        var c = c0 with { Causal = true };
        var (q, k, v, sinks, g) = c.Inputs();
        var options = c.Options(sinks);
        var full = SoftmaxAttention.ForwardWithStats(q, k, v, options, g);
        int l = c.L, prompt = l / 2;
        Tensor<double>? GateSlice(int from, int n) => g is null ? null
            : g.Reshape(c.B, c.Hq, l, 1).Slice(2, from, n).Reshape(c.B, c.Hq, n);
        var cache = SoftmaxAttention.Prefill(k.Slice(2, 0, prompt), v.Slice(2, 0, prompt), options, GateSlice(0, prompt));
        var fastCache = SoftmaxAttention.PrefillFast(k.Slice(2, 0, prompt), v.Slice(2, 0, prompt), options, GateSlice(0, prompt));
        for (int t = prompt; t < l; t++)
        {
            var gt = GateSlice(t, 1)?.Reshape(c.B, c.Hq);
            var step = SoftmaxAttention.StepWithStats(cache, At(q, t), At(k, t), At(v, t), options, gt);
            var stepFast = SoftmaxAttention.StepFastWithStats(fastCache, At(q, t), At(k, t), At(v, t), options, gt);
            var expected = At(full.Out, t);
            Assert.True(Rel(expected, step.Out) <= 1e-12, $"step {t}: {Rel(expected, step.Out):E2}");
            Assert.True(Rel(expected, stepFast.Out) <= 1e-12, $"fast step {t}: {Rel(expected, stepFast.Out):E2}");
            var lse = full.Lse.Reshape(c.B, c.Hq, l, 1).Slice(2, t, 1).Reshape(c.B, c.Hq);
            var max = full.MaxLogit.Reshape(c.B, c.Hq, l, 1).Slice(2, t, 1).Reshape(c.B, c.Hq);
            Assert.True(Rel(lse, step.Lse) <= 1e-12 && Rel(lse, stepFast.Lse) <= 1e-12);
            Assert.True(Rel(max, step.MaxLogit) <= 1e-12 && Rel(max, stepFast.MaxLogit) <= 1e-12);
        }
    }

    /// <summary>Causal (with sinks and gate): changing k, v, g at positions after t leaves rows 0..t as they were.</summary>
    [Property(Arbitrary = [typeof(OptionsCase)], MaxTest = 30)]
    public void Property_Causal_FutureInputsDoNotReachThePast(OptionsCase c0)
    {
        var c = c0 with { Causal = true, L = Math.Max(c0.L, 2) };
        var (q, k, v, sinks, g) = c.Inputs();
        var options = c.Options(sinks);
        int t = c.L / 2;
        var before = SoftmaxAttention.ForwardFast(q, k, v, options, g: g);
        var (k2, v2, g2) = (k.Clone(), v.Clone(), g?.Clone());
        for (int bh = 0; bh < c.B * c.Hkv; bh++)
            for (int j = t + 1; j < c.L; j++)
            {
                for (int x = 0; x < c.K; x++) k2.Data[(bh * c.L + j) * c.K + x] += 3;
                for (int x = 0; x < c.V; x++) v2.Data[(bh * c.L + j) * c.V + x] -= 5;
            }
        if (g2 is not null)
            for (int row = 0; row < c.B * c.Hq; row++)
                for (int j = t + 1; j < c.L; j++) g2.Data[row * c.L + j] -= 1;
        var after = SoftmaxAttention.ForwardFast(q, k2, v2, options, g: g2);
        Assert.Equal(before.Slice(2, 0, t + 1).Data, after.Slice(2, 0, t + 1).Data);
        var naiveAfter = SoftmaxAttention.Forward(q, k2, v2, options, g2);
        Assert.Equal(SoftmaxAttention.Forward(q, k, v, options, g).Slice(2, 0, t + 1).Data, naiveAfter.Slice(2, 0, t + 1).Data);
    }

    /// <summary>
    /// Hand case (sink): a sink logit of 1e4 against scores of order 1 takes the whole normaliser:
    /// exp(s_j - 1e4) underflows to 0, Z = exp(0) = 1, so every output is exactly 0, max_logit = 1e4
    /// and lse = 1e4 + log 1 = 1e4. With a sink of -1e4 instead, exp(-1e4 - M) = 0: plain attention.
    /// </summary>
    [Fact]
    public void HandCase_HugeSinkGivesZeroOutput_AndVeryNegativeSinkGivesPlainAttention()
    {
        var c = new OptionsCase(1, 2, 2, 20, 4, 3, true, null, null, false, false, 1, 5);
        var (q, k, v, _, _) = c.Inputs();
        var big = SoftmaxAttention.ForwardWithStats(q, k, v, new(Sinks: [1e4, 1e4, 1e4, 1e4]));
        var bigFast = SoftmaxAttention.ForwardFastWithStats(q, k, v, new(Sinks: [1e4, 1e4, 1e4, 1e4]));
        Assert.All(big.Out.Data, x => Assert.Equal(0.0, x));
        Assert.All(bigFast.Out.Data, x => Assert.Equal(0.0, x));
        Assert.All(big.MaxLogit.Data, x => Assert.Equal(1e4, x));
        Assert.All(big.Lse.Data, x => Assert.Equal(1e4, x));
        var plain = SoftmaxAttention.Forward(q, k, v);
        var tiny = SoftmaxAttention.Forward(q, k, v, new(Sinks: [-1e4, -1e4, -1e4, -1e4]));
        Assert.Equal(plain.Data, tiny.Data);
    }

    /// <summary>
    /// Hand case (gate): g = 0 adds GateScale (0 - 0) = 0 to every score, so the output is bit-for-bit
    /// plain attention, in the naive and the fast tier and in decoding.
    /// </summary>
    [Fact]
    public void HandCase_ZeroGateIsPlainAttention()
    {
        var c = new OptionsCase(2, 1, 3, 37, 5, 4, true, null, null, false, false, 1, 6);
        var (q, k, v, _, _) = c.Inputs();
        var zero = Tensor<double>.Zeros(2, 3, 37);
        Assert.Equal(SoftmaxAttention.Forward(q, k, v).Data, SoftmaxAttention.Forward(q, k, v, null, zero).Data);
        Assert.Equal(SoftmaxAttention.ForwardFast(q, k, v).Data, SoftmaxAttention.ForwardFast(q, k, v, g: zero).Data);
    }

    /// <summary>
    /// Hand case, L = 2, K = V = 1, scale 1, q = k = 0 (every score 0), v = (1, 0), g = (0, -ln 3):
    /// row 1 has logits key 0: 0 + (G_1 - G_0) = g_1 = -ln 3, key 1: 0; weights (1/3, 1) / (4/3) =
    /// (1/4, 3/4), out_1 = 1/4, lse_1 = ln(4/3). With a sink logit 0: Z = 1/3 + 1 + 1 = 7/3,
    /// out_1 = (1/3) / (7/3) = 1/7, lse_1 = ln(7/3), max_logit_1 = 0; row 0 (key 0 and the sink): 1/2.
    /// Non-causal without gate or sink: both rows are the mean of v, 1/2.
    /// </summary>
    [Fact]
    public void HandCase_TwoPositions()
    {
        var q = Tensor<double>.Zeros(1, 1, 2, 1);
        var k = Tensor<double>.Zeros(1, 1, 2, 1);
        var v = Tensor<double>.FromSpan([1.0, 0.0], 1, 1, 2, 1);
        var g = Tensor<double>.FromSpan([0.0, -Math.Log(3)], 1, 1, 2);
        var r = SoftmaxAttention.ForwardWithStats(q, k, v, new(Scale: 1), g);
        Assert.Equal(0.25, r.Out.Data[1], 15);
        Assert.Equal(Math.Log(4.0 / 3), r.Lse.Data[1], 15);
        var sink = SoftmaxAttention.ForwardWithStats(q, k, v, new(Scale: 1, Sinks: [0.0]), g);
        Assert.Equal(0.5, sink.Out.Data[0], 15);
        Assert.Equal(1.0 / 7, sink.Out.Data[1], 15);
        Assert.Equal(Math.Log(7.0 / 3), sink.Lse.Data[1], 15);
        Assert.Equal(0.0, sink.MaxLogit.Data[1]);
        var fast = SoftmaxAttention.ForwardFastWithStats(q, k, v, new(Scale: 1, Sinks: [0.0]), g);
        Assert.Equal(1.0 / 7, fast.Out.Data[1], 15);
        var bidir = SoftmaxAttention.Forward(q, k, v, new(Causal: false));
        Assert.Equal([0.5, 0.5], bidir.Data);
    }

    /// <summary>
    /// The explicit scale: Scale = c on q equals the default scale K^-1/2 on q c sqrt(K) (one rounding apart),
    /// and a scale far from the default changes the output (so the option is read).
    /// </summary>
    [Fact]
    public void Scale_IsTheMultiplierOfQDotK()
    {
        var c = new OptionsCase(1, 1, 2, 17, 4, 3, true, null, null, false, false, 1, 7);
        var (q, k, v, _, _) = c.Inputs();
        var q2 = q.Clone();
        for (int i = 0; i < q2.Length; i++) q2.Data[i] *= 0.3 * 2;
        Assert.True(Rel(SoftmaxAttention.Forward(q2, k, v), SoftmaxAttention.Forward(q, k, v, new(Scale: 0.3))) <= 1e-14);
        Assert.True(Rel(SoftmaxAttention.Forward(q, k, v), SoftmaxAttention.Forward(q, k, v, new(Scale: 0.3))) > 1e-3);
    }

    /// <summary>Gradients: the tape adapter with the gate differentiated (gradcheck), and dsinks by finite differences.</summary>
    [Fact]
    public void Gradients_GateAndSinks_MatchFiniteDifferences()
    {
        var rng = new SplitMix64(41);
        int b = 1, hq = 2, l = 6, kd = 3, vd = 2;
        var w = rng.NormalTensor<double>(0, 1, b, hq, l, vd);
        double[] sinks = [0.3, -0.4];
        foreach (bool causal in new[] { true, false })
        {
            var options = new SoftmaxAttentionOptions(Causal: causal, Sinks: sinks, GateScale: 0.7);
            var result = GradCheck.Check(x => Ops.Sum(Ops.Mul(AttentionOps.ForgettingSoftmax(x[0], x[1], x[2], x[3], options), Variable.Constant(w))),
                [rng.NormalTensor<double>(0, 1, b, hq, l, kd), rng.NormalTensor<double>(0, 1, b, 1, l, kd),
                 rng.NormalTensor<double>(0, 1, b, 1, l, vd), rng.UniformTensor<double>(-1, 0, b, hq, l)]);
            Assert.True(result.Passed, result.ToString());

            var (q, k, v, g) = (rng.NormalTensor<double>(0, 1, b, hq, l, kd), rng.NormalTensor<double>(0, 1, b, 1, l, kd),
                rng.NormalTensor<double>(0, 1, b, 1, l, vd), rng.UniformTensor<double>(-1, 0, b, hq, l));
            var s = Tensor<double>.FromSpan((double[])sinks.Clone(), hq);
            double Loss() => Dot(w, SoftmaxAttention.Forward(q, k, v, options with { Sinks = s.Data }, g));
            var grads = SoftmaxAttention.Backward(q, k, v, w, options with { Sinks = s.Data }, g);
            AssertGradient(s, Loss, Tensor<double>.FromSpan(grads.DSinks!, hq), "dsinks");
            AssertGradient(g, Loss, grads.Dg!, "dg");
        }
    }

    [Fact]
    public void Negative_BadOptions_NameTheArgument()
    {
        var c = new OptionsCase(1, 1, 2, 5, 4, 3, true, null, null, false, false, 1, 8);
        var (q, k, v, _, _) = c.Inputs();
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => SoftmaxAttention.Forward(q, k, v, new(Window: 3, Causal: false))).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => SoftmaxAttention.ForwardFast(q, k, v, new(Sinks: [1.0]))).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxAttention.Forward(q, k, v, new(Sinks: [1.0, double.NaN]))).ParamName);
        Assert.Equal("g", Assert.Throws<ArgumentException>(() => SoftmaxAttention.Forward(q, k, v, null, Tensor<double>.Zeros(1, 1, 5))).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentException>(() =>
            SoftmaxAttention.Prefill(k, v, new(Causal: false))).ParamName);
        var cache = SoftmaxAttention.Prefill(k, v, null, Tensor<double>.Zeros(1, 2, 5));
        Assert.Equal("gNew", Assert.Throws<ArgumentException>(() =>
            SoftmaxAttention.Step(cache, At(q, 0), At(k, 0), At(v, 0))).ParamName);
        Assert.Equal(5, cache.Count);
    }

    /// <summary>y[b, h] = P[b, h] v[b, h / G] for P [B, Hq, L, L], v [B, Hkv, L, V].</summary>
    private static Tensor<double> Apply(Tensor<double> p, int g, Tensor<double> v)
    {
        int b = p.Dim(0), hq = p.Dim(1), l = p.Dim(2), hkv = v.Dim(1), vd = v.Dim(3);
        var o = Tensor<double>.Zeros(b, hq, l, vd);
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < hq; h++)
                for (int t = 0; t < l; t++)
                    for (int j = 0; j < l; j++)
                    {
                        double w = p.Data[((bi * hq + h) * l + t) * l + j];
                        for (int x = 0; x < vd; x++) o.Data[((bi * hq + h) * l + t) * vd + x] += w * v.Data[((bi * hkv + h / g) * l + j) * vd + x];
                    }
        return o;
    }

    /// <summary>Position t of x [B, H, L, X] as [B, H, X].</summary>
    private static Tensor<double> At(Tensor<double> x, int t) => x.Slice(2, t, 1).Reshape(x.Dim(0), x.Dim(1), x.Dim(3));
}
