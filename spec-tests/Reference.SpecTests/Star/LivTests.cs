using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Autodiff;
using Reference.Core;
using Reference.Operators.Attention;
using Reference.Operators.Convolution;
using Reference.Operators.Recurrence;
using Reference.Operators.StateSpace;
using Reference.Star;

namespace Reference.SpecTests.Star;

/// <summary>
/// The LIV classes compiled into real models: parameter formulas against the real tensors, cache
/// formulas against the decoding states the operators actually carry (KV cache, selective-scan and GLA
/// states, convolution history) built from the features the layers really compute, differential
/// classes as the difference of their branches, sharing that really shares (one tensor, one summed
/// gradient; one feature tensor), params with sharing at most without, cache additive over layers,
/// attention cache linear in L and recurrence cache constant, causality of every class.
/// </summary>
public class LivTests
{
    private static readonly LivSizes Sizes = new(8, Heads: 4, StateExpansion: 16, GlaKeyDim: 2);
    private const int Vocabulary = 11;

    private static Genome One(int classId) => Genome.FromFlat([classId, 1, 1, 1, 1]);

    private static int[] Tokens(int n, ulong seed)
    {
        var rng = new SplitMix64(seed);
        return [.. Enumerable.Range(0, n).Select(_ => rng.NextInt(Vocabulary))];
    }

    [Fact]
    public void ParameterFormulaEqualsTheRealTensorsForEveryClass()
    {
        long fixedParts = 2L * Vocabulary * Sizes.Width + 2 * Sizes.Width + 2 * Sizes.Width;   // embedding, head, final norm, block norm
        foreach (var c in LivCatalog.All)
        {
            var model = StarModel.Create(One(c.Id), Sizes, Vocabulary, 1);
            long parts = LivFormulas.Parts(c.BaseId, Sizes).Sum(p => p.Count) * (c.Differential ? 2 : 1);
            Assert.Equal(fixedParts + parts, model.ParameterCount());
            Assert.Equal(model.ParameterCount(), model.FormulaParameterCount());
        }
        // Hand-computed at D = 8, H = 4: SA-1 = 4 D^2 = 256; SA-3 = 2 D^2 + 2 D (D/4) = 160; GMemless inner 24: 3 * 8 * 24 = 576.
        Assert.Equal(256, LivFormulas.Parts(1, Sizes).Sum(p => p.Count));
        Assert.Equal(160, LivFormulas.Parts(3, Sizes).Sum(p => p.Count));
        Assert.Equal(576, LivFormulas.Parts(9, Sizes).Sum(p => p.Count));
        // Rec-1 (Mamba-like): u, dt, z, o = 4 D^2; conv_u 3 D; dt_bias, skip 2 D; a_log, B, C 3 D N = 256 + 24 + 16 + 384.
        Assert.Equal(680, LivFormulas.Parts(5, Sizes).Sum(p => p.Count));
    }

    [Fact]
    public void CacheFormulaEqualsTheRealDecodingState()
    {
        const int length = 7;
        var tokens = Tokens(length, 3);
        foreach (var c in LivCatalog.All.Where(c => !c.Differential))
        {
            var model = StarModel.Create(One(c.Id), Sizes, Vocabulary, 2);
            using (Tape.NoGrad()) model.Logits(tokens, 1, length);
            var f = model.LastFeatures[0][0];
            long real = c.BaseId switch
            {
                1 or 2 or 3 or 4 => Kv(f["k"].Value, f["v"].Value) + (c.BaseId == 2
                    ? Conv(Sizes.Width, Sizes.ShortTaps) + Conv(f["k"].Shape[1] * f["k"].Shape[3] + f["v"].Shape[1] * f["v"].Shape[3], Sizes.ShortTaps) : 0),
                5 => new SelectiveScanState(1, Sizes.Width, f["b"].Shape[2]).X.Length + Conv(Sizes.Width, Sizes.ShortTaps),
                6 => new GatedLinearAttentionState(Tensor<double>.Zeros(1, f["q"].Shape[1], f["q"].Shape[3], Sizes.HeadDim)).S.Length,
                7 => Conv(f["k"].Shape[2], Sizes.ShortTaps),
                8 => Conv(f["k"].Shape[2], length + 1),
                _ => 0,
            };
            Assert.Equal(real, model.CacheSizes(length).Sum());
        }

        static long Kv(Tensor<double> k, Tensor<double> v)
        {
            var cache = SoftmaxAttention.Prefill(k, v);
            return cache.Batch * cache.KvHeads * cache.Count * (cache.KeyDim + cache.ValueDim);
        }

        static long Conv(int channels, int taps) => CausalConvolution.InitialState(channels, channels, taps).History.Length;
    }

    [Fact]
    public void CacheOfTheClassesMatchesTheSpecFormulas()
    {
        int d = Sizes.Width;
        foreach (int l in new[] { 16, 64 })
        {
            Assert.Equal(2L * l * d, StarModel.CacheSizes(One(1), Sizes, l).Sum());           // attention 2 L d / r
            Assert.Equal(2L * l * d / 4, StarModel.CacheSizes(One(3), Sizes, l).Sum());
            Assert.Equal(2L * l * d / 2, StarModel.CacheSizes(One(4), Sizes, l).Sum());
            Assert.Equal(16L * d + 2 * d, StarModel.CacheSizes(One(5), Sizes, l).Sum());        // recurrence d e + short conv (k - 1) d
            Assert.Equal(2L * d, StarModel.CacheSizes(One(6), Sizes, l).Sum());
            Assert.Equal(2L * d, StarModel.CacheSizes(One(7), Sizes, l).Sum());                 // short conv (k - 1) d
            Assert.Equal((long)l * d, StarModel.CacheSizes(One(8), Sizes, l).Sum());            // long conv L d
            Assert.Equal(0L, StarModel.CacheSizes(One(9), Sizes, l).Sum());
            for (int id = 10; id <= 17; id++)
                Assert.Equal(2 * StarModel.CacheSizes(One(id - 9), Sizes, l).Sum(), StarModel.CacheSizes(One(id), Sizes, l).Sum());
        }
        // Attention linear in L, recurrences constant.
        Assert.Equal(2 * StarModel.CacheSizes(One(1), Sizes, 100).Sum(), StarModel.CacheSizes(One(1), Sizes, 200).Sum());
        Assert.Equal(StarModel.CacheSizes(One(5), Sizes, 100).Sum(), StarModel.CacheSizes(One(5), Sizes, 5000).Sum());
        Assert.Equal(StarModel.CacheSizes(One(6), Sizes, 100).Sum(), StarModel.CacheSizes(One(6), Sizes, 5000).Sum());
    }

    [Fact]
    public void DifferentialClassIsTheDifferenceOfItsBranches()
    {
        const int length = 6;
        var model = StarModel.Create(One(16), Sizes, Vocabulary, 4);   // GConv-1-Diff
        var x = Variable.Constant(new SplitMix64(5).NormalTensor<double>(0, 1, 2, length, Sizes.Width));
        var a = model.Branches(0)[0].Forward(x, []).Value.Data;
        var b = model.Branches(0)[1].Forward(x, []).Value.Data;
        Assert.NotSame(model.Branches(0)[0].Weights["q"], model.Branches(0)[1].Weights["q"]);
        Assert.NotEqual(a, b);
        // Rebuild the block by hand: x + (a - b) after the block's norm, against the model's logits.
        var single = StarModel.Create(One(7), Sizes, Vocabulary, 4);
        Assert.Equal(2 * (single.ParameterCount() - 2L * Vocabulary * Sizes.Width - 4 * Sizes.Width),
            model.ParameterCount() - 2L * Vocabulary * Sizes.Width - 4 * Sizes.Width);
        var direct = model.Branches(0)[0].Forward(x, []) - model.Branches(0)[1].Forward(x, []);
        for (int i = 0; i < a.Length; i++) Assert.Equal(a[i] - b[i], direct.Value.Data[i], 12);
    }

    [Fact]
    public void EveryClassIsCausal()
    {
        foreach (var c in LivCatalog.All)
        {
            var model = StarModel.Create(Genome.FromFlat([c.Id, 1, 1, 1, 1, c.Id, 1, 1, 1, 1]), Sizes, Vocabulary, 6);
            int[] a = [1, 2, 3, 4, 5, 6, 7, 8], b = [1, 2, 3, 4, 9, 6, 7, 8];
            using var _ = Tape.NoGrad();
            var la = model.Logits(a, 1, 8).Value.Data;
            var lb = model.Logits(b, 1, 8).Value.Data;
            for (int i = 0; i < 4 * Vocabulary; i++) Assert.Equal(la[i], lb[i], 12);
            Assert.NotEqual(la[4 * Vocabulary], lb[4 * Vocabulary]);
        }
    }

    [Fact]
    public void FeaturizerSharingIsOneTensorWithTheSumOfTheGradients()
    {
        // Two SA-1 in featurizer group 1 (strategy 2), then a GMemless.
        var shared = Genome.ParseText("1.1.2.1.1 1.1.2.1.1 9.1.1.1.1");
        var unshared = Genome.ParseText("1.1.1.1.1 1.1.1.1.1 9.1.1.1.1");
        var m = StarModel.Create(shared, Sizes, Vocabulary, 7);
        var u = StarModel.Create(unshared, Sizes, Vocabulary, 8);
        Assert.Same(m.Branches(0)[0].Weights["q"], m.Branches(1)[0].Weights["q"]);
        Assert.Same(m.Branches(0)[0].Weights["k"], m.Branches(1)[0].Weights["k"]);
        Assert.NotSame(m.Branches(0)[0].Weights["o"], m.Branches(1)[0].Weights["o"]);   // the output projection is not featurizer
        Assert.DoesNotContain(m.NamedParameters(), p => p.Name == "liv1_a_q");
        Assert.Equal(m.ParameterCount(), m.FormulaParameterCount());
        Assert.Equal(u.ParameterCount() - 3L * Sizes.Width * Sizes.Width, m.ParameterCount());

        // Give the unshared model the shared one's values (layer 1's q, k, v = layer 0's), then compare gradients.
        var values = m.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter);
        foreach (var (name, p) in u.NamedParameters())
        {
            string source = values.ContainsKey(name) ? name : name.Replace("liv1_", "liv0_", StringComparison.Ordinal);
            values[source].Value.Data.CopyTo(p.Value.Data, 0);
        }
        var tokens = Tokens(2 * 6, 9);
        int[] targets = [.. tokens.Select(t => (t + 1) % Vocabulary)];
        Ops.CrossEntropy(m.Logits(tokens, 2, 6), targets).Backward();
        Ops.CrossEntropy(u.Logits(tokens, 2, 6), targets).Backward();
        var ug = u.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.Grad!.Data);
        foreach (var w in new[] { "q", "k", "v" })
        {
            var g = m.Branches(0)[0].Weights[w].Grad!.Data;
            var sum = ug[$"liv0_a_{w}"].Zip(ug[$"liv1_a_{w}"], (x, y) => x + y).ToArray();
            Assert.Contains(sum, x => Math.Abs(x) > 1e-8);
            for (int i = 0; i < g.Length; i++) Assert.Equal(sum[i], g[i], 10);
        }
    }

    [Fact]
    public void FeatureGroupSharingReusesTheComputedFeaturesAndDropsTheirCache()
    {
        // SA-1 -> SA-2 share K/V; GConv-1 -> GConv-2 share the convolution's k/v; Rec-1 -> Rec-1 share B/C.
        var shared = Genome.ParseText("1.1.1.1.2 2.1.1.1.2 7.1.1.2.2 8.1.1.2.2 5.1.1.3.2 5.1.1.3.2");
        var plain = Genome.ParseText("1.1.1.1.1 2.1.1.1.1 7.1.1.2.1 8.1.1.2.1 5.1.1.3.1 5.1.1.3.1");
        var m = StarModel.Create(shared, Sizes, Vocabulary, 10);
        using (Tape.NoGrad()) m.Logits(Tokens(5, 1), 1, 5);
        foreach (var (leader, follower, names) in new[] { (0, 1, new[] { "k", "v" }), (2, 3, ["k", "v"]), (4, 5, ["b", "c"]) })
            foreach (var n in names)
            {
                Assert.Same(m.LastFeatures[leader][0][n], m.LastFeatures[follower][0][n]);
                Assert.False(m.Branches(follower)[0].Weights.ContainsKey(n));
            }
        int l = 32;
        var withSharing = StarModel.CacheSizes(shared, Sizes, l);
        var without = StarModel.CacheSizes(plain, Sizes, l);
        Assert.Equal(without[0], withSharing[0]);
        Assert.Equal(2L * Sizes.Width, withSharing[1]);                 // SA-2 keeps only its q convolution buffer
        Assert.Equal(0L, withSharing[3]);                               // GConv-2's input history is GConv-1's
        Assert.Equal(without[5], withSharing[5]);                       // B/C sharing saves parameters, not state
        Assert.True(withSharing.Sum() < without.Sum());
        Assert.Equal(m.ParameterCount(), m.FormulaParameterCount());
        Assert.True(m.ParameterCount() < StarModel.FormulaParameterCount(plain, Sizes, Vocabulary, sharing: true));
    }

    [Property(MaxTest = 40)]
    public Property Property_ParamsWithSharingAtMostWithoutAndCacheAdditive() =>
        Prop.ForAll(Gen.Choose(1, 6).SelectMany(depth => Gen.Choose(0, int.MaxValue).Select(seed => (depth, seed))).ToArbitrary(), c =>
        {
            var space = new GenomeSpace(c.depth);
            var g = space.Random(new SplitMix64((ulong)c.seed));
            var model = StarModel.Create(g, Sizes, Vocabulary, 1);
            long with = model.FormulaParameterCount();
            Assert.Equal(model.ParameterCount(), with);
            Assert.True(with <= StarModel.FormulaParameterCount(g, Sizes, Vocabulary, sharing: false));
            // Additive over layers: without sharing, the model's cache is the sum of one-layer models' caches.
            var unshared = StarModel.CacheSizes(g, Sizes, 40, sharing: false).Sum();
            Assert.Equal(g.Livs.Sum(x => StarModel.CacheSizes(One(x.ClassId), Sizes, 40).Sum()), unshared);
            Assert.True(StarModel.CacheSizes(g, Sizes, 40).Sum() <= unshared);
        });
}
