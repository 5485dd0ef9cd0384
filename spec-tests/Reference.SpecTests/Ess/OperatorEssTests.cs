using FsCheck.Xunit;
using Reference.Core;
using Reference.Operators;
using Reference.Ess;
using Reference.Operators.Attention;
using Reference.Operators.Convolution;
using Reference.Operators.Recurrence;
using Reference.Operators.StateSpace;

namespace Reference.SpecTests.Ess;

/// <summary>The ESS invariants on the library's own operators (their Materialize and Realization outputs).</summary>
public class OperatorEssTests
{
    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_CausalConvolutionShortKernelIsMinOfTapsAndSplit(EssCase c)
    {
        var rng = c.Rng();
        int taps = c.State + 1;
        var k = rng.UniformTensor<double>(0.5, 1.5, 2, taps);
        var d = rng.NormalTensor<double>(0, 1, 2);
        var ess = EffectiveStateSize.Compute(CausalConvolution.Materialize(k, d, c.Length));
        var splits = EffectiveStateSize.AllSplits(c.Length);
        for (int ch = 0; ch < 2; ch++)
            for (int s = 0; s < splits.Length; s++)
                Assert.Equal(Math.Min(taps - 1, Math.Min(splits[s], c.Length - splits[s])), ess[ch, s]);
    }

    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_S4DFactoredEqualsDenseAndIsBoundedByN(EssCase c)
    {
        int n = 2 * Math.Max(1, c.State / 2);
        var method = c.Seed % 2 == 0 ? Discretization.Zoh : Discretization.Bilinear;
        var p = S4DParameters.Initialize(c.Rng(), 2, n, c.Seed % 3 == 0 ? S4DInit.Inv : S4DInit.Lin);
        var dense = S4D.Materialize(p, c.Length, method);
        var splits = EffectiveStateSize.AllSplits(c.Length);
        for (int ch = 0; ch < 2; ch++)
        {
            var r = S4D.Realize(p, ch, c.Length, method);
            var factored = FactoredEss.SplitSingularValues(r, splits);
            for (int k = 0; k < splits.Length; k++)
            {
                var sigma = EffectiveStateSize.SplitSingularValues(dense.Data.AsSpan(ch * c.Length * c.Length, c.Length * c.Length), c.Length, splits[k]);
                int keep = factored[k].Length;
                Assert.True(Metrics.RelativeError(sigma.AsSpan(0, keep), factored[k]) <= 1e-10, $"{c} ch={ch} s={splits[k]}");
                Assert.True(EffectiveStateSize.ToleranceEss(sigma, 1e-6, true) <= n);
            }
        }
    }

    [Property(Arbitrary = [typeof(EssCase)], MaxTest = 15)]
    public void Property_H3GatedOperatorIsBoundedByState(EssCase c)
    {
        int n = 2 * Math.Max(1, c.State / 2);
        var rng = c.Rng();
        var p = H3Parameters.Initialize(rng, 2, headDim: 1, stateSize: n);
        var u = rng.NormalTensor<double>(0, 1, c.Length, 2);
        Assert.All(EffectiveStateSize.Compute(H3.Materialize(p, u)).Data, e => Assert.True(e <= n));
    }

    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_SoftmaxAttentionEqualKeysRankOneAndDelimiterResets(EssCase c)
    {
        var rng = c.Rng();
        var q = rng.NormalTensor<double>(0, 1, 1, 1, c.Length, 8);
        var key = rng.NormalTensor<double>(0, 1, 8);
        var k = Tensor<double>.Zeros(1, 1, c.Length, 8);
        for (int i = 0; i < c.Length; i++) key.Data.CopyTo(k.Data, i * 8);
        var ess = EffectiveStateSize.Compute(SoftmaxAttention.Materialize(q, k).Reshape(c.Length, c.Length));
        Assert.All(ess.Data, e => Assert.Equal(1, e));

        // A sliding window of W keys is a band: ESS(s) <= W - 1 (the last W - 1 keys are the state).
        int window = 1 + c.State % 4;
        var kRandom = rng.NormalTensor<double>(0, 1, 1, 1, c.Length, 8);
        var banded = EffectiveStateSize.Compute(SoftmaxAttention.Materialize(q, kRandom, new SoftmaxAttentionOptions(Window: window)).Reshape(c.Length, c.Length));
        Assert.All(banded.Data, e => Assert.True(e <= window - 1));
    }

    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_LinearAttentionAndGlaFactoredEqualsDenseAndBoundedByKeyDim(EssCase c)
    {
        var rng = c.Rng();
        int kd = c.State;
        var q = rng.NormalTensor<double>(0, 1, 1, 1, c.Length, kd);
        var k = rng.NormalTensor<double>(0, 1, 1, 1, c.Length, kd);
        var g = GatedLinearAttention.LogSigmoidGate(rng.NormalTensor<double>(0, 1, 1, 1, c.Length, kd));
        var options = new EssOptions(EssMode.Entropy);
        foreach (var (t, r) in new[]
        {
            (LinearAttention.Materialize(q, k).Reshape(c.Length, c.Length), LinearAttention.Realize(q, k, 0, 0)),
            (GatedLinearAttention.Materialize(q, k, g).Reshape(c.Length, c.Length), GatedLinearAttention.Realize(q, k, g, 0, 0)),
        })
        {
            var dense = EffectiveStateSize.Compute(t, options);
            var factored = FactoredEss.Compute([r], options);
            Assert.True(Metrics.RelativeError(dense.Data, factored.Data) <= 1e-10, $"{c}");
            Assert.All(EffectiveStateSize.Compute(t).Data, e => Assert.True(e <= kd));
        }
    }

    [Property(Arbitrary = [typeof(EssCase)], MaxTest = 15)]
    public void Property_SelectiveSsmFactoredEqualsDenseAndIsBoundedByN(EssCase c)
    {
        var instance = EssOperatorCatalog.Create("ssm.selective_scan", new SampleOptions(c.Length, 2, (ulong)c.Length * 7919UL + (ulong)c.State, State: c.State));
        var options = new EssOptions(EssMode.Entropy);
        var dense = EffectiveStateSize.Compute(instance.Matrices, options);
        var factored = FactoredEss.Compute(instance.Realizations!, options);
        Assert.True(Metrics.RelativeError(dense.Data, factored.Data) <= 1e-10, $"{c}");
        Assert.All(EffectiveStateSize.Compute(instance.Matrices).Data, e => Assert.True(e <= c.State));
    }

    [Fact]
    public void Golden_CatalogInstancesHaveTheStructuralValues()
    {
        var conv = EssProfile.Of(EssOperatorCatalog.Create("conv.causal", new SampleOptions(24, 3, 1, Taps: 5)), EssOptions.Default);
        Assert.Equal(conv.Splits.Select(s => (double)Math.Min(4, Math.Min(s, 24 - s))), conv.Mean);
        var s4d = EssProfile.Of(EssOperatorCatalog.Create("ssm.s4d", new SampleOptions(24, 2, 1, State: 4)), EssOptions.Default);
        Assert.True(s4d.Factored);
        Assert.All(s4d.PerChannel.Data, e => Assert.True(e <= 4));
        var attention = EssProfile.Of(EssOperatorCatalog.Create("attention.softmax", new SampleOptions(16, Heads: 2, Seed: 3)), EssOptions.Default);
        Assert.Equal([2, 15], attention.PerChannel.ShapeArray);
        Assert.Equal(attention.Splits.Select(s => (double)Math.Min(s, 16 - s)), attention.Capacity);
        Assert.Throws<ArgumentException>(() => EssOperatorCatalog.Create("mamba2", new SampleOptions(8)));
    }

    [Fact]
    public void Golden_HyenaCatalogInstanceIsCausalWithFullLengthCapacity()
    {
        const int l = 17;
        var instance = EssOperatorCatalog.Create("conv.hyena", new SampleOptions(l, 3, 5));
        Assert.Equal([3, l, l], instance.Matrices.ShapeArray);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < l; i++)
                for (int j = i + 1; j < l; j++) Assert.Equal(0.0, instance.Matrices[c, i, j]);
        var profile = EssProfile.Of(instance, EssOptions.Default);
        Assert.False(profile.Factored);
        Assert.All(profile.Capacity, tss => Assert.Equal(l - 1, tss));
        for (int k = 0; k < profile.Splits.Length; k++)
            for (int c = 0; c < 3; c++)
            {
                double ess = profile.PerChannel[c, k];
                Assert.InRange(ess, 1, Math.Min(profile.Splits[k], l - profile.Splits[k]));
            }
    }
}
