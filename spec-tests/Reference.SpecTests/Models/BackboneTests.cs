using System.Collections;
using System.Numerics;
using System.Reflection;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Models;
using Reference.Operators;
using Reference.Operators.Attention;
using Reference.Operators.Convolution;
using Reference.Operators.StateSpace;

namespace Reference.SpecTests.Models;

public sealed class BackboneTests
{
    private static ModelSpec Spec(string op, string channel = "swiglu", bool tied = false, string norm = "layernorm") => ModelSpec.Parse(
        "{\"width\": 16, \"depth\": 2, \"norm\": \"" + norm + "\", \"tied_head\": " + (tied ? "true" : "false") +
        ", \"block\": {\"mixer\": {\"operator\": \"" + op + "\", \"heads\": 2, \"state_size\": 4, \"taps\": 3}, \"channel_mixer\": \"" + channel + "\"}}");

    public static TheoryData<string> Usable() => [.. SequenceMixers.Usable];

    [Theory]
    [MemberData(nameof(Usable))]
    public void Property_ParameterCountFromFormulasEqualsTheRealTensors(string op)
    {
        foreach (var (channel, tied, norm) in new[] { ("swiglu", false, "layernorm"), ("mlp", true, "rmsnorm"), ("glu", false, "rmsnorm") })
        {
            var model = BackboneModel.Create(Spec(op, channel, tied, norm), vocabulary: 11, length: 12, seed: 3);
            Assert.Equal(model.ParameterCount(), model.FormulaParameterCount());
            for (int i = 0; i < model.Blocks.Count; i++)
                Assert.Equal(model.Blocks[i].ParameterCount(), model.FormulaBlockParameterCounts()[i]);
        }
    }

    [Fact]
    public void Property_UsableMixersIncludeTheIssuesExamples()
    {
        Assert.Contains("attention.softmax", SequenceMixers.Usable);
        Assert.Contains("ssm.h3", SequenceMixers.Usable);
        Assert.Contains("recurrence.gla", SequenceMixers.Usable);
    }

    /// <summary>Elements held by a decoding state object: float64/float32 arrays, complex arrays (x2), tensors, nested objects.</summary>
    private static long Count(object? o, HashSet<object> seen)
    {
        if (o is null || !seen.Add(o)) return 0;
        switch (o)
        {
            case double[] d: return d.Length;
            case float[] f: return f.Length;
            case Complex[] c: return 2L * c.Length;
            case Tensor<double> t: return t.Length;
            case Tensor<float> t: return t.Length;
            case string: return 0;
            case IEnumerable e when o.GetType().IsArray || o.GetType().IsGenericType: { long n = 0; foreach (var item in e) n += Count(item, seen); return n; }
        }
        var type = o.GetType();
        if (type.IsPrimitive || type.IsEnum || type.Namespace is null || !type.Namespace.StartsWith("Reference", StringComparison.Ordinal)) return 0;
        long total = 0;
        for (var t = type; t is not null; t = t.BaseType)
            foreach (var field in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                if (!field.FieldType.IsValueType) total += Count(field.GetValue(o), seen);
        return total;
    }

    private static long Real(object state) => Count(state, new HashSet<object>(ReferenceEqualityComparer.Instance));

    [Fact]
    public void Property_CacheSizeFromFormulasEqualsTheRealDecodingState()
    {
        const int length = 9;
        // softmax attention: the KV cache after a prompt of L tokens (one sequence).
        var rng = new SplitMix64(1);
        var k = rng.NormalTensor<double>(0, 1, 1, 2, length, 4);
        var v = rng.NormalTensor<double>(0, 1, 1, 2, length, 4);
        var softmax = SoftmaxAttention.Descriptor;
        var sp = softmax.Sample!(new SampleOptions(length, 8, 1, Heads: 2, KeyDim: 4)).Params;
        // Its buffers grow by doubling (capacity >= count), so count the live slots of the real cache.
        var cache = SoftmaxAttention.Prefill(k, v);
        long live = cache.Batch * cache.KvHeads * Math.Min(cache.Count, cache.Window ?? long.MaxValue) * (cache.KeyDim + cache.ValueDim);
        Assert.Equal(2L * 2 * length * 4, live);
        Assert.True(Real(cache) >= live);
        Assert.Equal(softmax.CacheSize!(sp, length), live);

        var h3 = H3Parameters.Initialize(new SplitMix64(2), 8, 2, 4);
        Assert.Equal(H3.Descriptor.CacheSize!(Params.Of(("width", 8), ("head_dim", 2), ("state_size", 4)), length), Real(H3.InitialState(h3, 1)));

        var s4d = S4DParameters.Initialize(new SplitMix64(3), 5, 6, S4DInit.Lin);
        Assert.Equal(S4D.Descriptor.CacheSize!(Params.Of(("channels", 5), ("state_size", 6)), length), Real(S4D.InitialState(s4d, 5)));

        var mamba = MambaParameters.Initialize(new SplitMix64(4), 6, 3, expand: 2, convWidth: 4);
        Assert.Equal(MambaBlock.Descriptor.CacheSize!(Params.Of(("width", 6), ("expand", 2), ("state_size", 3), ("conv_width", 4)), length),
            Real(MambaBlock.InitialState(mamba, 1)));

        Assert.Equal(CausalConvolution.Descriptor.CacheSize!(Params.Of(("channels", 5), ("kernel_length", 4)), length),
            Real(CausalConvolution.InitialState(5, 5, 4)));   // rows = B C with B = 1
    }

    [Fact]
    public void Property_CacheGrowsWithLengthForAttentionOnly()
    {
        var attention = BackboneModel.Create(Spec("attention.softmax"), 11, 12, 0);
        var h3 = BackboneModel.Create(Spec("ssm.h3"), 11, 12, 0);
        Assert.Equal(2 * attention.CacheSizes(16)[0], attention.CacheSizes(32)[0]);
        Assert.Equal(h3.CacheSizes(16)[0], h3.CacheSizes(1024)[0]);
    }

    [Fact]
    public void Property_ModelIsCausal()
    {
        // Changing token t changes no logit before t (rotary attention and H3 alike).
        foreach (var op in new[] { "attention.softmax", "ssm.h3", "recurrence.gla" })
        {
            var model = BackboneModel.Create(Spec(op), 11, 8, 5);
            int[] a = [1, 2, 3, 4, 5, 6, 7, 8], b = [1, 2, 3, 4, 9, 6, 7, 8];
            var la = model.Logits(a, 1, 8).Value.Data;
            var lb = model.Logits(b, 1, 8).Value.Data;
            for (int i = 0; i < 4 * 11; i++) Assert.Equal(la[i], lb[i], 12);
            Assert.NotEqual(la[4 * 11], lb[4 * 11]);
        }
    }

    [Fact]
    public void Edge_UnknownFieldIsNamed()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelSpec.Parse("""{"width": 8, "depth": 1, "block": {"mixer": {"operator": "ssm.h3", "stat_size": 4}}}"""));
        Assert.Contains("block.mixer.stat_size", e.Message);
        e = Assert.Throws<ArgumentException>(() => ModelSpec.Parse("""{"width": 8, "depth": 1, "colour": 3, "block": {"mixer": "ssm.h3"}}"""));
        Assert.Contains("'colour'", e.Message);
        e = Assert.Throws<ArgumentException>(() => ModelSpec.Parse("""{"width": "8", "depth": 1, "block": {"mixer": "ssm.h3"}}"""));
        Assert.Contains("'width'", e.Message);
    }

    [Fact]
    public void Edge_UnknownOrUnusableOperatorListsTheUsableOnes()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelSpec.Parse("""{"width": 8, "depth": 1, "block": {"mixer": "attention.nope"}}"""));
        Assert.Contains("'attention.nope' is not registered", e.Message);
        Assert.Contains("attention.softmax", e.Message);
        var bidirectional = Assert.Throws<ArgumentException>(() => ModelSpec.Parse("""{"width": 8, "depth": 1, "block": {"mixer": "conv.bidirectional"}}"""));
        Assert.Contains("cannot be a sequence mixer", bidirectional.Message);
        Assert.Contains("ssm.h3", bidirectional.Message);
    }

    [Fact]
    public void Property_SpecJsonRoundTrips()
    {
        var spec = ModelSpec.Parse("""{"width": 8, "blocks": [{"mixer": {"operator": "attention.softmax", "heads": 2, "params": {"window": 3}}, "channel_mixer": null}, {"mixer": null, "channel_mixer": {"kind": "glu", "inner": 12}}], "tied_head": true}""");
        var again = ModelSpec.Parse(spec.ToJson());
        Assert.Equal(spec.ToJson(), again.ToJson());
        Assert.Equal(3, again.Blocks[0].Mixer!.Params!["window"]!.GetValue<int>());
    }

    [Fact]
    public void Property_MixerGradientMatchesFiniteDifferences()
    {
        // The projections, rotary and the adapter composed: d(sum of logits * weights)/d(one projection weight).
        var model = BackboneModel.Create(Spec("attention.softmax"), 7, 5, 2);
        int[] tokens = [1, 3, 0, 6, 2];
        var weights = new SplitMix64(9).NormalTensor<double>(0, 1, 5, 7);
        double Loss() => Ops.Sum(model.Logits(tokens, 1, 5) * Variable.Constant(weights)).Item();
        var p = model.Blocks[0].Mixer!.NamedParameters().First(x => x.Name.StartsWith("in_q", StringComparison.Ordinal)).Parameter;
        model.ZeroGrad();
        Ops.Sum(model.Logits(tokens, 1, 5) * Variable.Constant(weights)).Backward();
        for (int i = 0; i < p.Length; i += 7)
        {
            double keep = p.Value.Data[i], h = 1e-5;
            p.Value.Data[i] = keep + h; double up = Loss();
            p.Value.Data[i] = keep - h; double down = Loss();
            p.Value.Data[i] = keep;
            Assert.Equal((up - down) / (2 * h), p.Grad!.Data[i], 6);
        }
    }
}
