using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Operators.Attention;
using Reference.SpecTests.Core;
using static Reference.SpecTests.Operators.Attention.AttentionCheck;

namespace Reference.SpecTests.Operators.Attention;

/// <summary>
/// A decoding case: batch B, Hkv kv heads, G query heads per kv head, key and value dims K, V around the
/// vector widths (4 doubles, 8 floats), an optional window W (1, small, or wider than the whole sequence),
/// a prompt of Prompt positions (0, shorter or longer than W) and Steps generated positions: 2 W + 3 for
/// small windows, so the ring buffer wraps at least twice; enough to cross the fast step's 64-key blocks
/// without a window.
/// </summary>
public sealed record DecodeCase(int B, int Hkv, int G, int K, int V, int? Window, int Prompt, int Seed)
{
    public int Steps => Window is int w && w <= 17 ? 2 * w + 3 : 30;

    public int L => Prompt + Steps;

    public SoftmaxCase Softmax => new(B, Hkv, G, L, K, V, Window, Seed);

    public SoftmaxAttentionOptions Options => new(Window: Window);

    public static Arbitrary<DecodeCase> Arbitrary() =>
        (from b in Gen.Elements(1, 2)
         from hkv in Gen.Elements(1, 2)
         from g in Gen.Elements(1, 2, 3)
         from k in Gen.Elements(1, 4, 7, 8, 9, 16, 17)
         from v in Gen.Elements(1, 3, 8, 9, 17)
         from w in Gen.Elements<int?>(null, null, 1, 2, 7, 16, 17, 500)
         from prompt in Gen.Elements(0, 1, 9, 40, 70)
         from seed in Cases.Seed
         select new DecodeCase(b, hkv, g, k, v, w, prompt, seed)).ToArbitrary();
}

public class SoftmaxAttentionFastDecodeTests
{
    /// <summary>
    /// Prefills the first c.Prompt positions with <see cref="SoftmaxAttention.PrefillFast{T}"/>, then runs
    /// <see cref="SoftmaxAttention.StepFast{T}"/> for the rest; returns the steps' outputs stacked
    /// [B, Hq, Steps, V] in float64 and checks the cache's bookkeeping and O(W) storage along the way.
    /// </summary>
    private static Tensor<double> Decode<T>(DecodeCase c, Tensor<double> q, Tensor<double> k, Tensor<double> v, int maxThreads = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (qt, kt, vt) = (q.Cast<T>(), k.Cast<T>(), v.Cast<T>());
        var cache = SoftmaxAttention.PrefillFast(kt.Slice(2, 0, c.Prompt), vt.Slice(2, 0, c.Prompt), c.Options);
        Assert.Equal(c.Prompt, cache.Count);
        var outputs = Tensor<double>.Zeros(c.B, c.Softmax.Hq, c.Steps, c.V);
        for (int t = c.Prompt; t < c.L; t++)
        {
            var step = SoftmaxAttention.StepFast(cache, qt.Slice(2, t, 1).Reshape(c.B, c.Softmax.Hq, c.K),
                kt.Slice(2, t, 1).Reshape(c.B, c.Hkv, c.K), vt.Slice(2, t, 1).Reshape(c.B, c.Hkv, c.V), c.Options, maxThreads);
            Assert.Equal([c.B, c.Softmax.Hq, c.V], step.ShapeArray);
            for (int bh = 0; bh < c.B * c.Softmax.Hq; bh++)
                for (int j = 0; j < c.V; j++)
                    outputs.Data[(bh * c.Steps + t - c.Prompt) * c.V + j] = double.CreateChecked(step.Data[bh * c.V + j]);
            Assert.Equal(t + 1, cache.Count);
            if (c.Window is int w) Assert.True(cache.Capacity <= w, $"capacity {cache.Capacity} > W = {w} at position {t}");
        }
        Assert.Equal(c.Window, cache.Window);
        if (c.Window is int kept && c.L >= kept) Assert.Equal(kept, cache.Capacity);
        return outputs;
    }

    /// <summary>The positions after the prompt of the parallel definition's output, [B, Hq, Steps, V].</summary>
    private static Tensor<double> Generated(DecodeCase c, Tensor<double> q, Tensor<double> k, Tensor<double> v) =>
        SoftmaxAttention.Forward(q, k, v, c.Options).Slice(2, c.Prompt, c.Steps);

    [Property(Arbitrary = [typeof(DecodeCase)])]
    public void Property_StepFastFloat64_EqualsParallelDefinition_PositionByPosition(DecodeCase c)
    {
        var (q, k, v) = c.Softmax.Inputs();
        var expected = Generated(c, q, k, v);
        var actual = Decode<double>(c, q, k, v);
        for (int t = 0; t < c.Steps; t++)
            Assert.True(Rel(expected.Slice(2, t, 1), actual.Slice(2, t, 1)) <= 1e-12, $"position {c.Prompt + t}");
    }

    /// <summary>Float32 decoding against the float64 definition, norm_rel over all generated positions (conventions: 1e-5).</summary>
    [Property(Arbitrary = [typeof(DecodeCase)], MaxTest = 40)]
    public void Property_StepFastFloat32_EqualsParallelDefinition(DecodeCase c)
    {
        var (q, k, v) = c.Softmax.Inputs();
        Assert.True(Rel(Generated(c, q, k, v), Decode<float>(c, q, k, v)) <= 1e-5);
    }

    /// <summary>
    /// Side by side with the definition's Prefill and Step on the same tokens: float64 agrees to rounding, and
    /// the fast step also runs on the definition's own cache (a KvCache is a KvCache&lt;double&gt;), interleaved
    /// with definition steps, leaving both caches' bookkeeping identical.
    /// </summary>
    [Property(Arbitrary = [typeof(DecodeCase)])]
    public void Property_StepFastFloat64_EqualsDefinitionStep_AndRunsOnItsCache(DecodeCase c)
    {
        var (q, k, v) = c.Softmax.Inputs();
        var definition = SoftmaxAttention.Prefill(k.Slice(2, 0, c.Prompt), v.Slice(2, 0, c.Prompt), c.Options);
        var fast = SoftmaxAttention.PrefillFast(k.Slice(2, 0, c.Prompt), v.Slice(2, 0, c.Prompt), c.Options);
        var mixed = SoftmaxAttention.Prefill(k.Slice(2, 0, c.Prompt), v.Slice(2, 0, c.Prompt), c.Options);
        for (int t = c.Prompt; t < c.L; t++)
        {
            var (qn, kn, vn) = (q.Slice(2, t, 1).Reshape(c.B, c.Softmax.Hq, c.K), k.Slice(2, t, 1).Reshape(c.B, c.Hkv, c.K),
                v.Slice(2, t, 1).Reshape(c.B, c.Hkv, c.V));
            var expected = SoftmaxAttention.Step(definition, qn, kn, vn, c.Options);
            Assert.True(Rel(expected, SoftmaxAttention.StepFast(fast, qn, kn, vn, c.Options)) <= 1e-13, $"position {t}");
            var onDefinitionCache = t % 2 == 0
                ? SoftmaxAttention.StepFast(mixed, qn, kn, vn, c.Options)
                : SoftmaxAttention.Step(mixed, qn, kn, vn, c.Options);
            Assert.True(Rel(expected, onDefinitionCache) <= 1e-13, $"position {t} on the definition's cache");
        }
        Assert.Equal(definition.Count, fast.Count);
        Assert.Equal(definition.Count, mixed.Count);
        Assert.Equal(definition.Capacity, mixed.Capacity);
    }

    /// <summary>
    /// A narrower window than the cache keeps reads a suffix of it (the definition's rule); a window of 1
    /// returns the new value exactly (one probability of exactly 1).
    /// </summary>
    [Property(Arbitrary = [typeof(KvWindowCase)], MaxTest = 30)]
    public void Property_NarrowerWindowThanCache_AndWindowOne(KvWindowCase w)
    {
        var c = w.Softmax;
        var (q, k, v) = c.Inputs();
        int narrow = Math.Max(1, w.W - 1);
        var expected = SoftmaxAttention.Forward(q, k, v, new(Window: narrow));
        var cache = SoftmaxAttention.PrefillFast(k.Slice(2, 0, w.Prompt), v.Slice(2, 0, w.Prompt), new(Window: w.W));
        for (int t = w.Prompt; t < c.L; t++)
        {
            var (qn, kn, vn) = (q.Slice(2, t, 1).Reshape(1, c.Hq, c.K), k.Slice(2, t, 1).Reshape(1, c.Hkv, c.K), v.Slice(2, t, 1).Reshape(1, c.Hkv, c.V));
            var step = SoftmaxAttention.StepFast(cache, qn, kn, vn, new(Window: narrow));
            Assert.True(Rel(expected.Slice(2, t, 1).Reshape(1, c.Hq, c.V), step) <= 1e-12, $"position {t}");
            if (narrow == 1)
                for (int h = 0; h < c.Hq; h++)
                    for (int j = 0; j < c.V; j++) Assert.Equal(vn[0, h / c.G, j], step[0, h, j]);
        }
        Assert.Equal(w.W, cache.Capacity);
    }

    [Fact]
    public void Edge_WindowWiderThanTheSequence_EqualsFullCausal_AndGrowsOnlyAsNeeded()
    {
        var c = new DecodeCase(2, 2, 2, 9, 8, 1000, 20, 31);
        var (q, k, v) = c.Softmax.Inputs();
        var full = SoftmaxAttention.Forward(q, k, v).Slice(2, c.Prompt, c.Steps);
        Assert.True(Rel(full, Decode<double>(c, q, k, v)) <= 1e-12);
        var cache = SoftmaxAttention.PrefillFast(k.Cast<float>(), v.Cast<float>(), c.Options);
        Assert.InRange(cache.Capacity, c.L, 2 * c.L);
    }

    [Fact]
    public void Edge_EmptyPrompt_FirstStepReturnsItsOwnValue()
    {
        var (q, k, v) = new SoftmaxCase(2, 2, 3, 1, 9, 5, null, 12).Inputs();
        var cache = SoftmaxAttention.PrefillFast(Tensor<float>.Zeros(2, 2, 0, 9), Tensor<float>.Zeros(2, 2, 0, 5));
        var o = SoftmaxAttention.StepFast(cache, q.Cast<float>().Reshape(2, 6, 9), k.Cast<float>().Reshape(2, 2, 9), v.Cast<float>().Reshape(2, 2, 5));
        for (int b = 0; b < 2; b++)
            for (int h = 0; h < 6; h++)
                for (int j = 0; j < 5; j++) Assert.Equal((float)v[b, h / 3, 0, j], o[b, h, j]);
    }

    [Fact]
    public void Edge_HugeScores_StayFinite_AndMatchTheDefinition()
    {
        var c = new DecodeCase(1, 2, 2, 16, 8, null, 100, 9);
        var (q, k, v) = c.Softmax.Inputs();
        var opts = new SoftmaxAttentionOptions(Scale: 1e3);
        var expected = SoftmaxAttention.Forward(q, k, v, opts);
        var c64 = SoftmaxAttention.PrefillFast(k.Slice(2, 0, c.Prompt), v.Slice(2, 0, c.Prompt), opts);
        var c32 = SoftmaxAttention.PrefillFast(k.Slice(2, 0, c.Prompt).Cast<float>(), v.Slice(2, 0, c.Prompt).Cast<float>(), opts);
        for (int t = c.Prompt; t < c.L; t++)
        {
            var (qn, kn, vn) = (q.Slice(2, t, 1).Reshape(1, 4, 16), k.Slice(2, t, 1).Reshape(1, 2, 16), v.Slice(2, t, 1).Reshape(1, 2, 8));
            Assert.True(Rel(expected.Slice(2, t, 1).Reshape(1, 4, 8), SoftmaxAttention.StepFast(c64, qn, kn, vn, opts)) <= 1e-12);
            Assert.All(SoftmaxAttention.StepFast(c32, qn.Cast<float>(), kn.Cast<float>(), vn.Cast<float>(), opts).Data,
                x => Assert.True(float.IsFinite(x)));
        }
    }

    /// <summary>
    /// A step large enough to be split over threads (300 cached positions, 4 query heads, K = V = 64):
    /// one (batch, kv head) item per thread, so one and two threads give the same bits; and the result is
    /// the definition's.
    /// </summary>
    [Fact]
    public void Property_StepFast_IsIndependentOfTheThreadCount()
    {
        var c = new DecodeCase(2, 2, 2, 64, 64, null, 280, 17);
        var (q, k, v) = c.Softmax.Inputs();
        var one = Decode<float>(c, q, k, v, maxThreads: 1);
        var two = Decode<float>(c, q, k, v, maxThreads: 2);
        Assert.Equal(one.Data, two.Data);
        Assert.True(Rel(Generated(c, q, k, v), one) <= 1e-5);
    }

    /// <summary>
    /// Caches longer than one split of 1024 positions (split-KV: partial softmaxes merged by log-sum-exp), with
    /// the ring's wrap falling inside a split and (W = 2048, first step at position 3071: the oldest attended
    /// position in slot 1024) on a split boundary, a single kv head (multi-query, the case the splits exist
    /// for): the fast step equals the definition step, in float32 with one or two threads giving the same bits.
    /// </summary>
    [Theory]
    [InlineData(null, 1500)]
    [InlineData(2100, 2500)]
    [InlineData(2048, 3071)]
    public void Property_LongCache_SplitsMergeToTheDefinitionStep(int? window, int prompt)
    {
        var (q, k, v) = new SoftmaxCase(1, 1, 2, prompt + 5, 9, 8, window, 29).Inputs();
        var opts = new SoftmaxAttentionOptions(Window: window);
        var definition = SoftmaxAttention.Prefill(k.Slice(2, 0, prompt), v.Slice(2, 0, prompt), opts);
        var fast64 = SoftmaxAttention.PrefillFast(k.Slice(2, 0, prompt), v.Slice(2, 0, prompt), opts);
        var one = SoftmaxAttention.PrefillFast(k.Slice(2, 0, prompt).Cast<float>(), v.Slice(2, 0, prompt).Cast<float>(), opts);
        var two = SoftmaxAttention.PrefillFast(k.Slice(2, 0, prompt).Cast<float>(), v.Slice(2, 0, prompt).Cast<float>(), opts);
        for (int t = prompt; t < prompt + 5; t++)
        {
            var (qn, kn, vn) = (q.Slice(2, t, 1).Reshape(1, 2, 9), k.Slice(2, t, 1).Reshape(1, 1, 9), v.Slice(2, t, 1).Reshape(1, 1, 8));
            var expected = SoftmaxAttention.Step(definition, qn, kn, vn, opts);
            Assert.True(Rel(expected, SoftmaxAttention.StepFast(fast64, qn, kn, vn, opts)) <= 1e-13, $"position {t}");
            var (q32, k32, v32) = (qn.Cast<float>(), kn.Cast<float>(), vn.Cast<float>());
            var y1 = SoftmaxAttention.StepFast(one, q32, k32, v32, opts, maxThreads: 1);
            var y2 = SoftmaxAttention.StepFast(two, q32, k32, v32, opts, maxThreads: 2);
            Assert.Equal(y1.Data, y2.Data);
            Assert.True(Rel(expected, y1.Cast<double>()) <= 1e-5, $"position {t} float32");
        }
        Assert.Equal(prompt + 5, fast64.Count);
        if (window is int w) Assert.Equal(w, fast64.Capacity);
    }

    [Fact]
    public void Negative_ComparatorRejectsAWrongStep()
    {
        var c = new DecodeCase(1, 2, 2, 8, 8, 7, 9, 21);
        var (q, k, v) = c.Softmax.Inputs();
        var expected = Generated(c, q, k, v);
        var actual = Decode<float>(c, q, k, v);
        TensorPrimitives.Multiply(actual.Data, 1 + 1e-3, actual.Data);
        Assert.True(Rel(expected, actual) > 1e-5);
        // The same tokens without the window give a different output.
        Assert.True(Rel(SoftmaxAttention.Forward(q, k, v).Slice(2, c.Prompt, c.Steps), Decode<double>(c, q, k, v)) > 1e-3);
    }

    [Fact]
    public void Negative_BadArguments_NameTheArgument_AndLeaveTheCacheUntouched()
    {
        var k = Tensor<float>.Zeros(1, 2, 5, 4);
        var v = Tensor<float>.Zeros(1, 2, 5, 3);
        var cache = SoftmaxAttention.PrefillFast(k, v, new(Window: 3));
        Assert.Equal(3, cache.Capacity);
        var (qn, kn, vn) = (Tensor<float>.Zeros(1, 4, 4), Tensor<float>.Zeros(1, 2, 4), Tensor<float>.Zeros(1, 2, 3));
        Assert.Equal("qNew", Assert.Throws<ArgumentException>(() => SoftmaxAttention.StepFast(cache, Tensor<float>.Zeros(1, 3, 4), kn, vn, new(Window: 3))).ParamName);
        Assert.Equal("qNew", Assert.Throws<ArgumentException>(() => SoftmaxAttention.StepFast(cache, Tensor<float>.Zeros(1, 4, 5), kn, vn, new(Window: 3))).ParamName);
        Assert.Equal("kNew", Assert.Throws<ArgumentException>(() => SoftmaxAttention.StepFast(cache, qn, Tensor<float>.Zeros(1, 1, 4), vn, new(Window: 3))).ParamName);
        Assert.Equal("vNew", Assert.Throws<ArgumentException>(() => SoftmaxAttention.StepFast(cache, qn, kn, Tensor<float>.Zeros(1, 2, 4), new(Window: 3))).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxAttention.StepFast(cache, qn, kn, vn)).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxAttention.StepFast(cache, qn, kn, vn, new(Window: 4))).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxAttention.StepFast(cache, qn, kn, vn, new(Window: 0))).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxAttention.StepFast(cache, qn, kn, vn, new(Scale: double.NaN, Window: 3))).ParamName);
        Assert.Equal("maxThreads", Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxAttention.StepFast(cache, qn, kn, vn, new(Window: 3), -1)).ParamName);
        Assert.Equal("cache", Assert.Throws<ArgumentNullException>(() => SoftmaxAttention.StepFast(null!, qn, kn, vn)).ParamName);
        Assert.Equal(5, cache.Count);
        Assert.Equal("v", Assert.Throws<ArgumentException>(() => SoftmaxAttention.PrefillFast(k, Tensor<float>.Zeros(1, 2, 4, 3))).ParamName);
        Assert.Equal("k", Assert.Throws<ArgumentException>(() => SoftmaxAttention.PrefillFast(Tensor<float>.Zeros(2, 5, 4), v)).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxAttention.PrefillFast(k, v, new(Window: 0))).ParamName);
    }
}
