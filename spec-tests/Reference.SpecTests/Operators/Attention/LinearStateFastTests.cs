using FsCheck.Xunit;
using Reference.Core;
using Reference.Operators.Attention;
using Reference.Operators.Recurrence;
using static Reference.SpecTests.Operators.Attention.AttentionCheck;

namespace Reference.SpecTests.Operators.Attention;

/// <summary>
/// Initial and final states of the chunked fast tiers of GLA (vector and scalar gates) and of linear
/// attention (its fast tier runs on GLA's kernel), against the float64 recurrences carrying the same state.
/// </summary>
public class LinearStateFastTests
{
    private static (Tensor<double> Q, Tensor<double> K, Tensor<double> V, Tensor<double> G, Tensor<double> S0) Inputs(HeadCase c, bool scalarGate)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var q = rng.NormalTensor<double>(0, 1, c.B, c.H, c.L, c.K);
        var k = rng.NormalTensor<double>(0, 1, c.B, c.H, c.L, c.K);
        var v = rng.NormalTensor<double>(0, 1, c.B, c.H, c.L, c.V);
        var g = GatedLinearAttention.LogSigmoidGate(rng.NormalTensor<double>(2, 1, c.B, c.H, c.L, scalarGate ? 1 : c.K), 1.0);
        var s0 = rng.NormalTensor<double>(0, 1, c.B, c.H, c.K, c.V);
        return (q, k, v, g, s0);
    }

    /// <summary>
    /// GLA: ChunkedFastWithState from S0 = Recurrent from S0 (outputs and final state, float64 and float32), and two
    /// pieces [0, s), [s, L) chained through the final state = the whole run (chunked with initial state = continuing).
    /// </summary>
    [Property(Arbitrary = [typeof(HeadCase)], MaxTest = 40)]
    public void Property_Gla_FastWithState_EqualsRecurrence_AndContinues(HeadCase c)
    {
        foreach (bool scalar in new[] { false, true })
        {
            var (q, k, v, g, s0) = Inputs(c, scalar);
            var state = new GatedLinearAttentionState(s0.Clone());
            var y = GatedLinearAttention.Recurrent(q, k, v, g, state);
            var (yf, sf) = GatedLinearAttention.ChunkedFastWithState(q, k, v, g, s0);
            Assert.True(Rel(y, yf) <= 1e-12, $"fast64 {Rel(y, yf):E2}");
            Assert.True(Rel(state.S, sf) <= 1e-12);
            var (y32, s32) = GatedLinearAttention.ChunkedFastWithState(q.Cast<float>(), k.Cast<float>(), v.Cast<float>(), g.Cast<float>(), s0.Cast<float>());
            Assert.True(Rel(y, y32.Cast<double>()) <= 1e-5, $"fast32 {Rel(y, y32.Cast<double>()):E2}");
            Assert.True(Rel(state.S, s32.Cast<double>()) <= 1e-5);

            int split = c.L * 2 / 3;
            var (y1, mid) = GatedLinearAttention.ChunkedFastWithState(q.Slice(2, 0, split), k.Slice(2, 0, split), v.Slice(2, 0, split), g.Slice(2, 0, split), s0);
            var (y2, last) = GatedLinearAttention.ChunkedFastWithState(q.Slice(2, split, c.L - split), k.Slice(2, split, c.L - split),
                v.Slice(2, split, c.L - split), g.Slice(2, split, c.L - split), mid);
            Assert.True(Rel(y.Slice(2, 0, split), y1) <= 1e-12);
            Assert.True(Rel(y.Slice(2, split, c.L - split), y2) <= 1e-12);
            Assert.True(Rel(state.S, last) <= 1e-12);
        }
    }

    /// <summary>
    /// Linear attention's fast tier = its recurrence for every feature map, with and without the normaliser, from
    /// an initial state (S, z) = [S | z] and with the final state, float64 and float32.
    /// </summary>
    [Property(Arbitrary = [typeof(HeadCase)], MaxTest = 40)]
    public void Property_LinearAttention_Fast_EqualsRecurrence(HeadCase c)
    {
        var (q, k, v, _, _) = Inputs(c, false);
        foreach (var map in new[] { FeatureMap.Identity, FeatureMap.EluPlusOne, FeatureMap.Relu, FeatureMap.Taylor })
            foreach (bool normalize in new[] { false, true })
            {
                // The normaliser is well conditioned only for positive features (elu + 1, Taylor): with the identity
                // or ReLU map phi(q) . z can cancel to ~0 and any rounding is amplified without bound.
                if (normalize && map is FeatureMap.Identity or FeatureMap.Relu) continue;
                var options = new LinearAttentionOptions(map, normalize);
                int f = LinearAttention.FeatureDim(map, c.K);
                // A state a real prefix could leave: the recurrence over a random prefix of 5 positions.
                var rng = new SplitMix64((ulong)c.Seed ^ 5);
                var state = new LinearAttentionState(c.B, c.H, f, c.V);
                LinearAttention.Recurrent(rng.NormalTensor<double>(0, 1, c.B, c.H, 5, c.K), rng.NormalTensor<double>(0, 1, c.B, c.H, 5, c.K),
                    rng.NormalTensor<double>(0, 1, c.B, c.H, 5, c.V), options, state);
                var s0 = Packed(state, normalize);
                var y = LinearAttention.Recurrent(q, k, v, options, state);
                var (yf, sf) = LinearAttention.ForwardFast(q, k, v, options, s0);
                Assert.True(Rel(y, yf) <= 1e-12, $"{map} {normalize}: fast64 {Rel(y, yf):E2}");
                Assert.True(Rel(Packed(state, normalize), sf) <= 1e-12);
                var (y32, _) = LinearAttention.ForwardFast(q.Cast<float>(), k.Cast<float>(), v.Cast<float>(), options, s0.Cast<float>());
                Assert.True(Rel(y, y32.Cast<double>()) <= (normalize ? 1e-4 : 1e-5), $"{map} {normalize}: fast32 {Rel(y, y32.Cast<double>()):E2}");
                Assert.True(Rel(LinearAttention.Forward(q, k, v, options), LinearAttention.ForwardFast(q, k, v, options).Out) <= 1e-12);
            }
    }

    /// <summary>
    /// Hand case: linear attention, identity map, scale 1, K = V = 1, q = k = v = 1 at every position, normalised:
    /// o_t = sum_{s &lt;= t} 1 / (t + 1 + eps) ~ 1; unnormalised o_t = t + 1. From an initial state S = 3, z = 2:
    /// o_0 = (3 + 1) / (2 + 1) unnormalised 4.
    /// </summary>
    [Fact]
    public void HandCase_OnesAndAGivenState()
    {
        var ones = Tensor<double>.Full(1.0, 1, 1, 4, 1);
        var (y, s) = LinearAttention.ForwardFast(ones, ones, ones, new LinearAttentionOptions(Scale: 1));
        Assert.Equal(new[] { 1.0, 2.0, 3.0, 4.0 }, y.Data);
        Assert.Equal(4.0, s.Data[0]);
        var (yn, sn) = LinearAttention.ForwardFast(ones, ones, ones, new LinearAttentionOptions(Normalize: true, Scale: 1, Eps: 0),
            Tensor<double>.FromSpan([3.0, 2.0], 1, 1, 1, 2));
        Assert.Equal(4.0 / 3.0, yn.Data[0], 14);
        Assert.Equal(new[] { 7.0, 6.0 }, sn.Data);
    }

    [Fact]
    public void Negative_WrongStateShape_NamesTheArgument()
    {
        var x = Tensor<double>.Zeros(1, 2, 3, 4);
        Assert.Equal("initialState", Assert.Throws<ArgumentException>(() =>
            GatedLinearAttention.ChunkedFastWithState(x, x, x, x, Tensor<double>.Zeros(1, 2, 4, 3))).ParamName);
        Assert.Equal("initialState", Assert.Throws<ArgumentException>(() =>
            LinearAttention.ForwardFast(x, x, x, new LinearAttentionOptions(Normalize: true), Tensor<double>.Zeros(1, 2, 4, 4))).ParamName);
    }

    /// <summary>(S, z) as the fast tier's state: [S | z] [B, H, F, V + 1] when normalising, S otherwise.</summary>
    private static Tensor<double> Packed(LinearAttentionState state, bool normalize)
    {
        if (!normalize) return state.S.Clone();
        int b = state.S.Dim(0), h = state.S.Dim(1), f = state.S.Dim(2), vd = state.S.Dim(3);
        var t = Tensor<double>.Zeros(b, h, f, vd + 1);
        for (int row = 0; row < b * h * f; row++)
        {
            state.S.Data.AsSpan(row * vd, vd).CopyTo(t.Data.AsSpan(row * (vd + 1)));
            t.Data[row * (vd + 1) + vd] = state.Z.Data[row];
        }
        return t;
    }
}
