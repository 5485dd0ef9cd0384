using FsCheck.Xunit;
using MathNet.Numerics.LinearAlgebra;
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
    public void Property_H3GatedOperatorIsBoundedByStateAndMatchesAnIndependentSvd(EssCase c)
    {
        // H3 with head_dim 1 (H3 paper, Sec. 3.2): y = q . SSM_diag(kbar . v), so for a fixed input the
        // operator of channel ch is T[i, j] = q_i K[i - j] kbar_j (i > j), K the S4D kernel. Its split
        // blocks are built here from K and the gates alone and their singular values taken by MathNet;
        // the library's ESS of H3.Materialize must agree, and rank(H_s) <= N (N real states).
        int n = 2 * Math.Max(1, c.State / 2);
        var rng = c.Rng();
        var p = H3Parameters.Initialize(rng, 2, headDim: 1, stateSize: n);
        var u = rng.NormalTensor<double>(0, 1, c.Length, 2);
        var t = H3.Materialize(p, u);
        var tolerance = EffectiveStateSize.Compute(t);
        var entropy = EffectiveStateSize.Compute(t, new EssOptions(EssMode.Entropy));
        Assert.All(tolerance.Data, e => Assert.True(e <= n));
        var inter = H3.ForwardWithIntermediates(p, u.Reshape(1, c.Length, 2));
        var kernel = S4D.Kernel(p.Ssm, c.Length, p.Method);
        int l = c.Length;
        for (int ch = 0; ch < 2; ch++)
            AssertEssMatchesIndependentSvd(l, (i, j) => inter.Q.Data[ch * l + i] * kernel.Data[ch * l + i - j] * inter.KBar.Data[ch * l + j],
                tolerance, entropy, ch, $"{c} ch={ch}");
    }

    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_SoftmaxAttentionEqualKeysRankOneAndWindowIsABand(EssCase c)
    {
        var rng = c.Rng();
        var q = rng.NormalTensor<double>(0, 1, 1, 1, c.Length, 8);
        var key = rng.NormalTensor<double>(0, 1, 8);
        var k = Tensor<double>.Zeros(1, 1, c.Length, 8);
        for (int i = 0; i < c.Length; i++) key.Data.CopyTo(k.Data, i * 8);
        var ess = EffectiveStateSize.Compute(SoftmaxAttention.Materialize(q, k).Reshape(c.Length, c.Length));
        Assert.All(ess.Data, e => Assert.Equal(1, e));

        // A sliding window of W keys is a band: H_s keeps the (W - 1)-wide corner T[s + a, s - 1 - b]
        // (a + b < W - 1), anti-triangular with positive softmax weights on its anti-diagonal, so
        // ESS(s) = min(W - 1, s, L - s) exactly (the last W - 1 keys are the state).
        int window = 1 + c.State % 4;
        var kRandom = rng.NormalTensor<double>(0, 1, 1, 1, c.Length, 8);
        var banded = EffectiveStateSize.Compute(SoftmaxAttention.Materialize(q, kRandom, new SoftmaxAttentionOptions(Window: window)).Reshape(c.Length, c.Length));
        var splits = EffectiveStateSize.AllSplits(c.Length);
        for (int m = 0; m < splits.Length; m++)
            Assert.Equal(Math.Min(window - 1, Math.Min(splits[m], c.Length - splits[m])), banded.Data[m]);
    }

    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_GlaDelimiterGateResetsTheState(EssCase c)
    {
        // GLA (Yang et al., Sec. 4.1): S_t = Diag(alpha_t) S_{t-1} + k_t v_t^T. A delimiter at e closes
        // every gate, alpha_e = exp(-800) = 0 in float64, so the state is wiped before k_e v_e^T is
        // written: T[t, s] = 0 whenever s < e <= t, and the split block H_s keeps only rows s..e-1
        // (s < e) or columns e..s-1 (s > e); H_e = 0. Between resets the operator has the K-dim state of
        // generic q, k, so rank(H_s) = min(K, rows, cols): ESS = min(K, s, e - s) before the delimiter,
        // 0 at it and min(K, s - e, L - s) after it.
        const double closed = -800;
        Assert.Equal(0.0, Math.Exp(closed));
        var rng = c.Rng();
        int l = c.Length, kd = c.State, e = 1 + rng.NextInt(l - 1);
        var q = rng.NormalTensor<double>(0, 1, 1, 1, l, kd);
        var k = rng.NormalTensor<double>(0, 1, 1, 1, l, kd);
        var g = GatedLinearAttention.LogSigmoidGate(rng.NormalTensor<double>(0, 1, 1, 1, l, kd));
        for (int ch = 0; ch < kd; ch++) g.Data[e * kd + ch] = closed;
        var t = GatedLinearAttention.Materialize(q, k, g).Reshape(l, l);
        var dense = EffectiveStateSize.Compute(t);
        var factored = FactoredEss.Compute([GatedLinearAttention.Realize(q, k, g, 0, 0)]);
        var splits = EffectiveStateSize.AllSplits(l);
        for (int m = 0; m < splits.Length; m++)
        {
            int s = splits[m];
            int expected = s < e ? Math.Min(kd, Math.Min(s, e - s)) : s == e ? 0 : Math.Min(kd, Math.Min(s - e, l - s));
            Assert.True(expected == dense.Data[m], $"{c} e={e} s={s}: dense ESS {dense.Data[m]}, expected {expected}");
            Assert.True(expected == factored.Data[m], $"{c} e={e} s={s}: factored ESS {factored.Data[m]}, expected {expected}");
        }
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

        // Order 2 (Hyena paper, Def. 3.1): T = diag(x_0) (Toeplitz(h) + bias I) diag(x_1), so below the
        // diagonal T[i, j] = x_0[i] h[i - j] x_1[j]. The catalog instance is rebuilt from its seed
        // (parameters, then u), the split blocks are formed from the filter and gates alone and their
        // singular values taken by MathNet; the library's ESS must agree.
        var rng = new SplitMix64(5);
        var p = HyenaParameters.Initialize(rng, 3, l);
        var u = rng.NormalTensor<double>(0, 1, l, 3);
        var gates = Hyena.ForwardWithIntermediates(p, u.Reshape(1, l, 3)).S;
        var h = Hyena.Filter(p, l);
        var entropy = EffectiveStateSize.Compute(instance.Matrices, new EssOptions(EssMode.Entropy));
        for (int c = 0; c < 3; c++)
        {
            int ch = c;
            AssertEssMatchesIndependentSvd(l, (i, j) => gates.Data[ch * l + i] * h.Data[ch * l + i - j] * gates.Data[(3 + ch) * l + j],
                profile.PerChannel, entropy, ch, $"hyena ch={ch}");
        }
        Assert.All(profile.Capacity, tss => Assert.Equal(l - 1, tss));
        for (int k = 0; k < profile.Splits.Length; k++)
            for (int c = 0; c < 3; c++)
            {
                double ess = profile.PerChannel[c, k];
                Assert.InRange(ess, 1, Math.Min(profile.Splits[k], l - profile.Splits[k]));
            }
    }

    /// <summary>
    /// Checks the library's tolerance-ESS (default relative tau) and entropy-ESS of one channel
    /// against MathNet's SVD of every split block H_s[i - s, j] = below(i, j) (i in s..L-1, j in
    /// 0..s-1), built by the caller from the operator's components. A singular value within 1e-9
    /// (relative) of the cut may fall on either side.
    /// </summary>
    private static void AssertEssMatchesIndependentSvd(int length, Func<int, int, double> below,
        Tensor<double> tolerance, Tensor<double> entropy, int channel, string context)
    {
        var splits = EffectiveStateSize.AllSplits(length);
        for (int k = 0; k < splits.Length; k++)
        {
            int s = splits[k];
            var sigma = Matrix<double>.Build.Dense(length - s, s, (r, j) => below(s + r, j)).Svd(computeVectors: false).S.ToArray();
            double cut = EffectiveStateSize.DefaultTolerance * sigma.Max();
            int low = sigma.Count(x => x > cut * (1 + 1e-9)), high = sigma.Count(x => x > cut * (1 - 1e-9));
            double ess = tolerance.Data[channel * splits.Length + k];
            Assert.True(ess >= low && ess <= high, $"{context} s={s}: tolerance-ESS {ess}, MathNet rank in [{low}, {high}]");
            double sum = sigma.Sum();
            double expected = sum == 0 ? 0 : Math.Exp(-sigma.Where(x => x > 0).Sum(x => x / sum * Math.Log(x / sum)));
            double actual = entropy.Data[channel * splits.Length + k];
            Assert.True(Math.Abs(actual - expected) <= 1e-9 * Math.Max(1, expected), $"{context} s={s}: entropy-ESS {actual}, MathNet {expected}");
        }
    }
}
