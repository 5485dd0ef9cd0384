using FsCheck.Xunit;
using Reference.Core;
using Reference.Core.Linear;
using Reference.Operators.Attention;
using Reference.Operators.Kernels;
using static Reference.SpecTests.Operators.Attention.AttentionCheck;

namespace Reference.SpecTests.Operators.Attention;

public class SoftmaxAttentionTests
{
    private static SoftmaxAttentionOptions Options(SoftmaxCase c) => new(Window: c.Window);

    /// <summary>
    /// An independent route: per query head, scores = scale Q K^T by NaiveGemm on the kv head
    /// repeated G times (repeat_interleave, the textbook GQA expansion), an explicit band mask,
    /// a softmax by MathNet-free scalar code, then P V by NaiveGemm.
    /// </summary>
    private static Tensor<double> DenseReference(Tensor<double> q, Tensor<double> k, Tensor<double> v, int? window)
    {
        int b = q.Shape[0], hq = q.Shape[1], l = q.Shape[2], kd = q.Shape[3], hkv = k.Shape[1], vd = v.Shape[3];
        int g = hq / hkv;
        var o = Tensor<double>.Zeros(b, hq, l, vd);
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < hq; h++)
            {
                var qh = Tensor<double>.FromSpan(q.Data.AsSpan((bi * hq + h) * l * kd, l * kd), l, kd);
                var kh = Tensor<double>.FromSpan(k.Data.AsSpan((bi * hkv + h / g) * l * kd, l * kd), l, kd);
                var vh = Tensor<double>.FromSpan(v.Data.AsSpan((bi * hkv + h / g) * l * vd, l * vd), l, vd);
                var s = NaiveGemm.MatMul(qh, kh, transB: true);
                for (int t = 0; t < l; t++)
                {
                    var row = new double[l];
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < l; j++)
                    {
                        bool live = j <= t && (window is not int w || j > t - w);
                        row[j] = live ? s[t, j] / Math.Sqrt(kd) : double.NegativeInfinity;
                        max = Math.Max(max, row[j]);
                    }
                    double z = row.Sum(x => Math.Exp(x - max));
                    for (int j = 0; j < l; j++) s[t, j] = Math.Exp(row[j] - max) / z;
                }
                NaiveGemm.MatMul(s, vh).Data.CopyTo(o.Data.AsSpan((bi * hq + h) * l * vd));
            }
        return o;
    }

    [Property(Arbitrary = [typeof(SoftmaxCase)])]
    public void Property_Naive_EqualsDenseGemmRoute(SoftmaxCase c)
    {
        var (q, k, v) = c.Inputs();
        Assert.True(Rel(DenseReference(q, k, v, c.Window), SoftmaxAttention.Forward(q, k, v, Options(c))) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(SoftmaxCase)])]
    public void Property_OnlineSoftmaxFloat64_EqualsNaive(SoftmaxCase c)
    {
        var (q, k, v) = c.Inputs();
        var expected = SoftmaxAttention.Forward(q, k, v, Options(c));
        Assert.True(Rel(expected, SoftmaxAttention.ForwardFast(q, k, v, Options(c))) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(SoftmaxCase)], MaxTest = 20)]
    public void Property_OnlineSoftmaxFloat32_EqualsNaive(SoftmaxCase c)
    {
        var (q, k, v) = c.Inputs();
        var expected = SoftmaxAttention.Forward(q, k, v, Options(c));
        var actual = SoftmaxAttention.ForwardFast(q.Cast<float>(), k.Cast<float>(), v.Cast<float>(), Options(c), maxThreads: 1);
        Assert.True(Metrics.RelativeError(expected.Data, actual.Data) <= 1e-5);
    }

    [Property(Arbitrary = [typeof(FlashCase)], MaxTest = 40)]
    public void Property_FastTiling_Float64_EqualsNaive(FlashCase f)
    {
        var c = f.Softmax;
        var (q, k, v) = c.Inputs();
        var expected = SoftmaxAttention.Forward(q, k, v, Options(c));
        Assert.True(Rel(expected, SoftmaxAttention.ForwardFast(q, k, v, Options(c))) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(FlashCase)], MaxTest = 40)]
    public void Property_FastTiling_Float32_EqualsNaive_AndIsIndependentOfThreads(FlashCase f)
    {
        var c = f.Softmax;
        var (q, k, v) = c.Inputs();
        var expected = SoftmaxAttention.Forward(q, k, v, Options(c));
        var (q32, k32, v32) = (q.Cast<float>(), k.Cast<float>(), v.Cast<float>());
        var one = SoftmaxAttention.ForwardFast(q32, k32, v32, Options(c), maxThreads: 1);
        var two = SoftmaxAttention.ForwardFast(q32, k32, v32, Options(c), maxThreads: 2);
        Assert.True(Metrics.RelativeError(expected.Data, one.Data) <= 1e-5);
        Assert.Equal(one.Data, two.Data);
    }

    [Property(Arbitrary = [typeof(SoftmaxCase)])]
    public void Property_KvCacheDecoding_EqualsParallel(SoftmaxCase c)
    {
        var (q, k, v) = c.Inputs();
        var expected = SoftmaxAttention.Forward(q, k, v, Options(c));
        int prompt = c.L / 2;
        var cache = SoftmaxAttention.Prefill(k.Slice(2, 0, prompt), v.Slice(2, 0, prompt), Options(c));
        for (int t = prompt; t < c.L; t++)
        {
            var step = SoftmaxAttention.Step(cache, q.Slice(2, t, 1).Reshape(c.B, c.Hq, c.K),
                k.Slice(2, t, 1).Reshape(c.B, c.Hkv, c.K), v.Slice(2, t, 1).Reshape(c.B, c.Hkv, c.V), Options(c));
            var row = expected.Slice(2, t, 1).Reshape(c.B, c.Hq, c.V);
            Assert.True(Rel(row, step) <= 1e-12, $"position {t}");
        }
        Assert.Equal(c.L, cache.Count);
        Assert.Equal(c.Window, cache.Window);
        Assert.True(cache.Capacity >= Math.Min(c.L, c.Window ?? c.L));
    }

    /// <summary>
    /// A windowed cache keeps O(W) storage: after a prompt and more than W generated tokens its
    /// capacity is exactly W (never the sequence length), and every step still equals the parallel
    /// windowed output at that position.
    /// </summary>
    [Property(Arbitrary = [typeof(KvWindowCase)])]
    public void Property_SlidingWindowKvCache_EvictsBeyondW_AndEqualsParallel(KvWindowCase w)
    {
        var c = w.Softmax;
        var (q, k, v) = c.Inputs();
        var expected = SoftmaxAttention.Forward(q, k, v, Options(c));
        var cache = SoftmaxAttention.Prefill(k.Slice(2, 0, w.Prompt), v.Slice(2, 0, w.Prompt), Options(c));
        Assert.InRange(cache.Capacity, Math.Min(w.Prompt, w.W), w.W);
        for (int t = w.Prompt; t < c.L; t++)
        {
            var step = SoftmaxAttention.Step(cache, q.Slice(2, t, 1).Reshape(1, c.Hq, c.K),
                k.Slice(2, t, 1).Reshape(1, c.Hkv, c.K), v.Slice(2, t, 1).Reshape(1, c.Hkv, c.V), Options(c));
            Assert.True(Rel(expected.Slice(2, t, 1).Reshape(1, c.Hq, c.V), step) <= 1e-12, $"position {t}");
            Assert.True(cache.Capacity <= w.W, $"capacity {cache.Capacity} > W = {w.W} at position {t}");
            Assert.Equal(t + 1, cache.Count);
        }
        Assert.Equal(w.W, cache.Capacity);
        // A narrower window than the cache's still decodes (it reads a suffix of what is kept).
        if (w.W > 1)
        {
            var narrow = new SoftmaxAttentionOptions(Window: w.W - 1);
            var (q2, k2, v2) = (c with { L = c.L + 1, Window = w.W - 1 }).Inputs();
            var full = SoftmaxAttention.Forward(q2, k2, v2, narrow);
            var cache2 = SoftmaxAttention.Prefill(k2.Slice(2, 0, c.L), v2.Slice(2, 0, c.L), Options(c));
            var last = SoftmaxAttention.Step(cache2, q2.Slice(2, c.L, 1).Reshape(1, c.Hq, c.K),
                k2.Slice(2, c.L, 1).Reshape(1, c.Hkv, c.K), v2.Slice(2, c.L, 1).Reshape(1, c.Hkv, c.V), narrow);
            Assert.True(Rel(full.Slice(2, c.L, 1).Reshape(1, c.Hq, c.V), last) <= 1e-12);
        }
    }

    [Fact]
    public void Negative_WindowedCache_RejectsWiderWindowThanItKeeps()
    {
        var (q, k, v) = new SoftmaxCase(1, 2, 2, 6, 4, 3, 3, 11).Inputs();
        var cache = SoftmaxAttention.Prefill(k.Slice(2, 0, 5), v.Slice(2, 0, 5), new(Window: 3));
        Assert.Equal(3, cache.Capacity);
        var (qn, kn, vn) = (q.Slice(2, 5, 1).Reshape(1, 4, 4), k.Slice(2, 5, 1).Reshape(1, 2, 4), v.Slice(2, 5, 1).Reshape(1, 2, 3));
        Assert.Equal("options", Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxAttention.Step(cache, qn, kn, vn)).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxAttention.Step(cache, qn, kn, vn, new(Window: 4))).ParamName);
        Assert.Equal(5, cache.Count);
    }

    [Property(Arbitrary = [typeof(SoftmaxCase)])]
    public void Property_Materialized_RowsSumToOne_CausalBand_AndApplyGivesOutput(SoftmaxCase c)
    {
        var (q, k, v) = c.Inputs();
        var p = SoftmaxAttention.Materialize(q, k, Options(c));
        Assert.Equal([c.B, c.Hq, c.L, c.L], p.ShapeArray);
        int w = c.Window ?? c.L;
        for (int bh = 0; bh < c.B * c.Hq; bh++)
            for (int t = 0; t < c.L; t++)
            {
                double sum = 0;
                for (int s = 0; s < c.L; s++)
                {
                    double x = p.Data[(bh * c.L + t) * c.L + s];
                    if (s > t || s <= t - w) Assert.Equal(0.0, x);
                    sum += x;
                }
                Assert.True(Math.Abs(sum - 1) <= 1e-14);
            }
        var g = c.G;
        var vq = Tensor<double>.Zeros(c.B, c.Hq, c.L, c.V);
        for (int bi = 0; bi < c.B; bi++)
            for (int h = 0; h < c.Hq; h++)
                Array.Copy(v.Data, (bi * c.Hkv + h / g) * c.L * c.V, vq.Data, (bi * c.Hq + h) * c.L * c.V, c.L * c.V);
        Assert.True(Rel(SoftmaxAttention.Forward(q, k, v, Options(c)), Apply(p, vq)) <= 1e-13);
    }

    [Property(Arbitrary = [typeof(SoftmaxCase)])]
    public void Property_Gqa_EqualsMhaOnRepeatedKv(SoftmaxCase c)
    {
        var (q, k, v) = c.Inputs();
        var kr = Tensor<double>.Zeros(c.B, c.Hq, c.L, c.K);
        var vr = Tensor<double>.Zeros(c.B, c.Hq, c.L, c.V);
        for (int bi = 0; bi < c.B; bi++)
            for (int h = 0; h < c.Hq; h++)
            {
                Array.Copy(k.Data, (bi * c.Hkv + h / c.G) * c.L * c.K, kr.Data, (bi * c.Hq + h) * c.L * c.K, c.L * c.K);
                Array.Copy(v.Data, (bi * c.Hkv + h / c.G) * c.L * c.V, vr.Data, (bi * c.Hq + h) * c.L * c.V, c.L * c.V);
            }
        var gqa = SoftmaxAttention.Forward(q, k, v, Options(c));
        var mha = SoftmaxAttention.Forward(q, kr, vr, Options(c));
        Assert.Equal(mha.Data, gqa.Data);
        Assert.True(Rel(mha, SoftmaxAttention.ForwardFast(q, k, v, Options(c))) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(SoftmaxCase)])]
    public void Property_Causality_FuturePerturbationLeavesPastExactly(SoftmaxCase c)
    {
        var (q, k, v) = c.Inputs();
        int t = c.L / 2;
        var before = SoftmaxAttention.Forward(q, k, v, Options(c));
        var beforeFast = SoftmaxAttention.ForwardFast(q, k, v, Options(c));
        var rng = new SplitMix64((ulong)c.Seed ^ 0xABCDEF);
        foreach (var x in new[] { q, k, v })
        {
            int d = x.Shape[3], lead = x.Shape[0] * x.Shape[1];
            for (int o = 0; o < lead; o++)
                for (int s = t + 1; s < c.L; s++)
                    for (int j = 0; j < d; j++) x.Data[(o * c.L + s) * d + j] += rng.Normal();
        }
        var after = SoftmaxAttention.Forward(q, k, v, Options(c));
        var afterFast = SoftmaxAttention.ForwardFast(q, k, v, Options(c));
        Assert.Equal(before.Slice(2, 0, t + 1).Data, after.Slice(2, 0, t + 1).Data);
        Assert.Equal(beforeFast.Slice(2, 0, t + 1).Data, afterFast.Slice(2, 0, t + 1).Data);
    }

    [Property(Arbitrary = [typeof(SoftmaxCase)], MaxTest = 10)]
    public void Property_Backward_MatchesFiniteDifferences(SoftmaxCase c)
    {
        var small = c with { B = 1, L = Math.Min(c.L, 9), K = Math.Min(c.K, 4), V = Math.Min(c.V, 3) };
        var (q, k, v) = small.Inputs();
        var opts = Options(small);
        var dOut = new SplitMix64((ulong)c.Seed + 1).NormalTensor<double>(0, 1, small.B, small.Hq, small.L, small.V);
        var grads = SoftmaxAttention.Backward(q, k, v, dOut, opts);
        double Loss() => Dot(dOut, SoftmaxAttention.Forward(q, k, v, opts));
        AssertGradient(q, Loss, grads.Dq, "dq");
        AssertGradient(k, Loss, grads.Dk, "dk");
        AssertGradient(v, Loss, grads.Dv, "dv");
    }

    [Fact]
    public void Edge_LengthOne_And_WindowOne_ReturnTheValues()
    {
        var c = new SoftmaxCase(2, 2, 2, 9, 5, 3, 1, 7);
        var (q, k, v) = c.Inputs();
        var o = SoftmaxAttention.Forward(q, k, v, new(Window: 1));
        var of = SoftmaxAttention.ForwardFast(q, k, v, new(Window: 1));
        for (int bi = 0; bi < c.B; bi++)
            for (int h = 0; h < c.Hq; h++)
                for (int t = 0; t < c.L; t++)
                    for (int j = 0; j < c.V; j++)
                    {
                        Assert.Equal(v[bi, h / c.G, t, j], o[bi, h, t, j]);
                        Assert.Equal(v[bi, h / c.G, t, j], of[bi, h, t, j], 1e-15);
                    }
        var one = new SoftmaxCase(1, 1, 1, 1, 4, 2, null, 3).Inputs();
        Assert.Equal(one.V.Data, SoftmaxAttention.Forward(one.Q, one.K, one.V).Data);
    }

    [Fact]
    public void Edge_WindowAtLeastLength_EqualsFullCausal()
    {
        var c = new SoftmaxCase(1, 2, 1, 17, 8, 8, null, 5);
        var (q, k, v) = c.Inputs();
        Assert.Equal(SoftmaxAttention.Forward(q, k, v).Data, SoftmaxAttention.Forward(q, k, v, new(Window: 17)).Data);
        Assert.Equal(SoftmaxAttention.Forward(q, k, v).Data, SoftmaxAttention.Forward(q, k, v, new(Window: 1000)).Data);
    }

    [Fact]
    public void Edge_HugeScores_StayFinite()
    {
        var c = new SoftmaxCase(1, 1, 1, 70, 8, 4, null, 9);
        var (q, k, v) = c.Inputs();
        var opts = new SoftmaxAttentionOptions(Scale: 1e3);
        var o = SoftmaxAttention.Forward(q, k, v, opts);
        Assert.All(o.Data, x => Assert.True(double.IsFinite(x)));
        Assert.True(Rel(o, SoftmaxAttention.ForwardFast(q, k, v, opts)) <= 1e-12);
        Assert.All(SoftmaxAttention.ForwardFast(q.Cast<float>(), k.Cast<float>(), v.Cast<float>(), opts).Data, x => Assert.True(float.IsFinite(x)));
    }

    [Fact]
    public void Negative_ComparatorRejectsWrongOutputs()
    {
        var c = new SoftmaxCase(1, 2, 2, 33, 8, 8, 5, 21);
        var (q, k, v) = c.Inputs();
        var o = SoftmaxAttention.Forward(q, k, v, Options(c));
        var scaled = o.Clone();
        TensorPrimitives.Multiply(scaled.Data, 1 + 1e-3, scaled.Data);
        Assert.True(Rel(o, scaled) > 1e-12);
        Assert.True(Rel(o, SoftmaxAttention.Forward(q, k, v)) > 1e-3);
        Assert.True(Rel(o, SoftmaxAttention.Forward(q, k, v, new(Scale: 0.5, Window: 5))) > 1e-3);
    }

    [Fact]
    public void Negative_BadArguments_NameTheArgument()
    {
        var q = Tensor<double>.Zeros(1, 3, 4, 2);
        var k = Tensor<double>.Zeros(1, 2, 4, 2);
        var v = Tensor<double>.Zeros(1, 2, 4, 2);
        Assert.Equal("k", Assert.Throws<ArgumentException>(() => SoftmaxAttention.Forward(q, k, v)).ParamName);
        var q2 = Tensor<double>.Zeros(1, 2, 4, 2);
        Assert.Equal("v", Assert.Throws<ArgumentException>(() => SoftmaxAttention.Forward(q2, k, Tensor<double>.Zeros(1, 2, 5, 2))).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxAttention.Forward(q2, k, v, new(Window: 0))).ParamName);
        Assert.Equal("q", Assert.Throws<ArgumentException>(() => SoftmaxAttention.Forward(Tensor<double>.Zeros(2, 4, 2), k, v)).ParamName);
    }

    [Fact]
    public void Backward_TwoBatchesTwoKvHeadsGqa_MatchesFiniteDifferences()
    {
        // B = 2 with Hkv = 2 and G = 2: every batch offset of the backward pass (q, k, v, dO, P) is read at bi > 0.
        var c = new SoftmaxCase(2, 2, 2, 4, 3, 2, null, 41);
        var (q, k, v) = c.Inputs();
        var dOut = new SplitMix64(42).NormalTensor<double>(0, 1, c.B, c.Hq, c.L, c.V);
        var grads = SoftmaxAttention.Backward(q, k, v, dOut);
        double Loss() => Dot(dOut, SoftmaxAttention.Forward(q, k, v));
        AssertGradient(q, Loss, grads.Dq, "dq");
        AssertGradient(k, Loss, grads.Dk, "dk");
        AssertGradient(v, Loss, grads.Dv, "dv");
    }

    [Fact]
    public void Negative_KeysOfAnotherBatchLengthOrKeyDim_NameK()
    {
        var q = Tensor<double>.Zeros(1, 2, 4, 2);
        var v = Tensor<double>.Zeros(1, 1, 4, 2);
        // Larger k on each axis in turn: without the check the definition would read it without an exception.
        foreach (var k in new[] { Tensor<double>.Zeros(2, 1, 4, 2), Tensor<double>.Zeros(1, 1, 5, 2), Tensor<double>.Zeros(1, 1, 4, 3) })
        {
            Assert.Equal("k", Assert.Throws<ArgumentException>(() => SoftmaxAttention.Forward(q, k, v)).ParamName);
            Assert.Equal("k", Assert.Throws<ArgumentException>(() => SoftmaxAttention.Materialize(q, k)).ParamName);
        }
    }

    [Fact]
    public void KvCache_RejectsAPromptThatDoesNotFit_AndSkipsOnlyWhenEmptyAndWindowed()
    {
        var k = new double[20];
        var v = new double[20];
        // No window, 16 slots holding 10 positions: the 10 positions up to L = 20 would wrap onto positions 0..3.
        var full = new KvCache<double>(1, 1, 1, 1, window: null, capacity: 16);
        full.AppendPrompt(k, v, 10);
        Assert.Throws<InvalidOperationException>(() => full.AppendPrompt(k, v, 20));
        Assert.Throws<InvalidOperationException>(() => full.Skip(1));
        Assert.Throws<InvalidOperationException>(() => new KvCache<double>(1, 1, 1, 1, window: null).Skip(3));
        var started = new KvCache<double>(1, 1, 1, 1, window: 4, capacity: 4);
        started.AppendPrompt(k, v, 2);
        Assert.Throws<InvalidOperationException>(() => started.Skip(3));
        Assert.Equal(2, started.Count);
        // A full-size ring (Capacity = W = 4) takes the last W positions of a longer prompt.
        var ring = new KvCache<double>(1, 1, 1, 1, window: 4, capacity: 16);
        Assert.Equal(4, ring.Capacity);
        ring.Skip(16);
        ring.AppendPrompt(k, v, 20);
        Assert.Equal(20, ring.Count);
        Assert.Throws<InvalidOperationException>(() => new KvCache<double>(1, 1, 1, 1, window: 4, capacity: 16).AppendPrompt(k, v, 20));
    }
}

public class RowKernelTests
{
    // The vector exp itself (VectorMath.Exp) is tested in Core/VectorMathTests.cs.
    [Fact]
    public void Property_ExpShiftSum_ReturnsTheSumOfTheExponentials()
    {
        var rng = new SplitMix64(6);
        foreach (int n in new[] { 1, 3, 4, 5, 8, 9, 17 })
        {
            var x = new double[n];
            rng.FillNormal<double>(x);
            double shift = RowKernels.Max<double>(x);
            Assert.Equal(x.Max(), shift);
            double expected = x.Sum(e => Math.Exp(e - shift));
            var y = (double[])x.Clone();
            Assert.Equal(expected, RowKernels.ExpShiftSum<double>(y, shift), 1e-14);
            for (int i = 0; i < n; i++) Assert.Equal(Math.Exp(x[i] - shift), y[i], 1e-15);
        }
    }
}
