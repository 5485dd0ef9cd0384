using Reference.Core;
using Reference.Ess;
using Reference.Models;

namespace Reference.SpecTests.Models;

/// <summary>ESS of a model on its inputs against the ESS invariants of docs/ess.md (analytic values and bounds).</summary>
public sealed class ModelEssTests
{
    private static BackboneModel Model(string blocks, int width = 8) =>
        BackboneModel.Create(ModelSpec.Parse("{\"width\": " + width + ", \"blocks\": [" + blocks + "]}"), vocabulary: 13, length: 16, seed: 4);

    private static int[] Tokens(int count, ulong seed)
    {
        var rng = new SplitMix64(seed);
        return [.. Enumerable.Range(0, count).Select(_ => rng.NextInt(13))];
    }

    [Fact]
    public void ShortConvolutionLayer_HasEssMinOfTapsMinusOneAndDistances_MemorylessLayerZero()
    {
        // Invariant 3: a k-tap causal convolution (last tap nonzero) has ESS(s) = min(k - 1, s, L - s) on every input.
        var model = Model("""{"mixer": {"operator": "conv.causal", "taps": 4}, "channel_mixer": "mlp"}, {"channel_mixer": "glu"}""");
        const int length = 12;
        var result = ModelEss.Compute(model, Tokens(2 * length, 1), 2, length);
        Assert.Equal([2, 2, 8, length - 1], result.Ess.ShapeArray);
        Assert.Equal(["conv.causal", null], result.Operators);
        Assert.Equal([8, 0], result.Channels);
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 8; c++)
                for (int k = 0; k < length - 1; k++)
                {
                    int s = result.Splits[k];
                    Assert.Equal(Math.Min(3, Math.Min(s, length - s)), result.Ess[b, 0, c, k]);
                    Assert.Equal(0.0, result.Ess[b, 1, c, k]);
                }
        Assert.Equal(3.0, result.TotalStateSize[0][5]);
        Assert.Equal(result.PerLayer[0], result.Total);
    }

    [Fact]
    public void AttentionAndStateSpaceLayers_StayWithinTheirBounds_AndSequencesAreIndependent()
    {
        const int length = 10;
        var model = Model("""{"mixer": {"operator": "attention.softmax", "heads": 2}}, {"mixer": {"operator": "ssm.s4d", "state_size": 4}}, {"mixer": {"operator": "recurrence.gla", "heads": 2}}""");
        var tokens = Tokens(2 * length, 7);
        var both = ModelEss.Compute(model, tokens, 2, length);
        Assert.Equal([2, 8, 2], both.Channels);
        for (int b = 0; b < 2; b++)
            for (int k = 0; k < length - 1; k++)
            {
                int s = both.Splits[k];
                for (int c = 0; c < 2; c++) Assert.InRange(both.Ess[b, 0, c, k], 0, Math.Min(s, length - s));   // invariant 1
                for (int c = 0; c < 8; c++) Assert.InRange(both.Ess[b, 1, c, k], 0, 4);                           // invariant 5: N = 4
                for (int c = 0; c < 2; c++) Assert.InRange(both.Ess[b, 2, c, k], 0, 4);                           // GLA: K = 8 / 2 heads
                for (int c = 2; c < 8; c++) Assert.Equal(0.0, both.Ess[b, 0, c, k]);                              // padding of the 2-head layer
            }
        // Generic attention: full rank min(s, L - s) somewhere in the middle.
        Assert.Equal(length / 2, EssReducers.MaxOverSplits(both.Ess)[0, 0, 0]);
        // Each sequence alone gives its own slice.
        var second = ModelEss.Compute(model, tokens[length..], 1, length);
        Assert.Equal(second.Ess.Data, both.Ess.Data.AsSpan(both.Ess.Length / 2).ToArray());
        // Entropy-ESS <= tolerance-ESS at tau -> 0 (invariant 1).
        var entropy = ModelEss.Compute(model, tokens, 2, length, new EssOptions(EssMode.Entropy));
        var rank = ModelEss.Compute(model, tokens, 2, length, new EssOptions(EssMode.Tolerance, 1e-14));
        for (int i = 0; i < entropy.Ess.Length; i++) Assert.True(entropy.Ess.Data[i] <= rank.Ess.Data[i] + 1e-9);
        Assert.Throws<ArgumentException>(() => ModelEss.Compute(model, tokens[..1], 1, 1));
    }
}
