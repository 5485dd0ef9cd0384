using FsCheck.Xunit;
using Reference.Core;
using Reference.Operators.StateSpace;
using static Reference.SpecTests.Operators.Attention.AttentionCheck;

namespace Reference.SpecTests.Operators.StateSpace;

/// <summary>
/// SSD's discretized entry (ssd_minimal_discrete: X Delta and A Delta given) against the layer's
/// parametrization, its materialized operator, the fast chunked tier (float64, float32) and state passing.
/// </summary>
public class StateSpaceDualityDiscreteTests
{
    /// <summary>xd = Delta X, ad = Delta A_h from a layer case (Delta = softplus(dt + bias)), and the layer's inputs without D.</summary>
    private static (Tensor<double> Xd, Tensor<double> Ad, StateSpaceDualityInputs<double> P) Discretized(SsdFastCase c)
    {
        var p = c.Inputs() with { D = null };
        var delta = StateSpaceDuality.StepSizes(p);
        var xd = p.X.Clone();
        var ad = delta.Clone();
        for (int bt = 0; bt < c.B * c.L; bt++)
            for (int h = 0; h < c.H; h++)
            {
                double step = delta.Data[bt * c.H + h];
                ad.Data[bt * c.H + h] = step * -Math.Exp(p.ALog.Data[h]);
                for (int q = 0; q < c.P; q++) xd.Data[(bt * c.H + h) * c.P + q] *= step;
            }
        return (xd, ad, p);
    }

    [Property(Arbitrary = [typeof(SsdFastCase)], MaxTest = 40)]
    public void Property_Discrete_EqualsLayer_Materialized_AndFast(SsdFastCase c)
    {
        var (xd, ad, p) = Discretized(c);
        var y = StateSpaceDuality.ForwardDiscrete(xd, ad, p.B, p.C);
        Assert.True(Rel(StateSpaceDuality.Forward(p), y) <= 1e-12, "discrete vs the layer's parametrization");

        var tm = StateSpaceDuality.MaterializeDiscrete(xd, ad, p.B, p.C);
        var tx = Tensor<double>.Zeros(y.ShapeArray);
        for (int b = 0; b < c.B; b++)
            for (int h = 0; h < c.H; h++)
                for (int t = 0; t < c.L; t++)
                    for (int s = 0; s <= t; s++)
                        for (int q = 0; q < c.P; q++)
                            tx.Data[((b * c.L + t) * c.H + h) * c.P + q] += tm.Data[((b * c.H + h) * c.L + t) * c.L + s] * xd.Data[((b * c.L + s) * c.H + h) * c.P + q];
        Assert.True(Rel(y, tx) <= 1e-12, "T xd");

        Assert.True(Rel(y, StateSpaceDuality.ForwardDiscreteFast(xd, ad, p.B, p.C, chunk: c.Chunk, maxThreads: 1)) <= 1e-12, "fast64");
        var y32 = StateSpaceDuality.ForwardDiscreteFast(xd.Cast<float>(), ad.Cast<float>(), p.B.Cast<float>(), p.C.Cast<float>(), chunk: c.Chunk);
        Assert.True(Rel(y, y32.Cast<double>()) <= 1e-5, "fast32");
    }

    /// <summary>
    /// Initial and final states: the definition from a random S0 leaves S_L; the fast tier from S0 gives the same
    /// outputs and final state; and the fast tier over [0, s) then [s, L) from the first part's final state
    /// continues the whole scan (chunked with an initial state = continuing a longer sequence's scan).
    /// </summary>
    [Property(Arbitrary = [typeof(SsdFastCase)], MaxTest = 40)]
    public void Property_States_ContinueTheScan(SsdFastCase c)
    {
        var (xd, ad, p) = Discretized(c);
        var s0 = new SplitMix64((ulong)c.Seed ^ 77).NormalTensor<double>(0, 1, c.B, c.H, c.P, c.N);
        var state = new StateSpaceDualityState(c.B, c.H, c.P, c.N);
        s0.Data.CopyTo(state.S.Data, 0);
        var d = new SplitMix64((ulong)c.Seed ^ 78).NormalTensor<double>(0, 1, c.H);
        var y = StateSpaceDuality.ForwardDiscrete(xd, ad, p.B, p.C, d, state);

        var fastState = s0.Clone();
        var yf = StateSpaceDuality.ForwardDiscreteFast(xd, ad, p.B, p.C, d, c.Chunk, 1, fastState);
        Assert.True(Rel(y, yf) <= 1e-12);
        Assert.True(Rel(state.S, fastState) <= 1e-12);

        int split = c.L / 3;
        var pieceState = s0.Clone();
        var y1 = StateSpaceDuality.ForwardDiscreteFast(xd.Slice(1, 0, split), ad.Slice(1, 0, split), p.B.Slice(1, 0, split), p.C.Slice(1, 0, split),
            d, c.Chunk, 1, pieceState);
        var y2 = StateSpaceDuality.ForwardDiscreteFast(xd.Slice(1, split, c.L - split), ad.Slice(1, split, c.L - split),
            p.B.Slice(1, split, c.L - split), p.C.Slice(1, split, c.L - split), d, c.Chunk, 1, pieceState);
        Assert.True(Rel(y.Slice(1, 0, split), y1) <= 1e-12);
        Assert.True(Rel(y.Slice(1, split, c.L - split), y2) <= 1e-12);
        Assert.True(Rel(state.S, pieceState) <= 1e-12);
    }

    /// <summary>
    /// Hand case: B = H = P = N = G = 1, L = 3, B_t = C_t = 1, xd = (1, 0, 0), ad = (0, ln 1/2, ln 1/4):
    /// S = 1, then 1/2, then 1/8, so y = (1, 1/2, 1/8); a positive log decay (ad_1 = ln 2, allowed in the
    /// discretized entry) doubles instead: y = (1, 2, 1/2).
    /// </summary>
    [Fact]
    public void HandCase_DecaysAreExpOfTheGivenLogs()
    {
        var ones = Tensor<double>.FromSpan([1.0, 1.0, 1.0], 1, 3, 1, 1);
        var xd = Tensor<double>.FromSpan([1.0, 0.0, 0.0], 1, 3, 1, 1);
        var y = StateSpaceDuality.ForwardDiscrete(xd, Tensor<double>.FromSpan([0.0, Math.Log(0.5), Math.Log(0.25)], 1, 3, 1), ones, ones);
        Assert.Equal(new[] { 1.0, 0.5, 0.125 }, y.Data.Select(v => Math.Round(v, 14)).ToArray());
        var up = StateSpaceDuality.ForwardDiscreteFast(xd, Tensor<double>.FromSpan([0.0, Math.Log(2), Math.Log(0.25)], 1, 3, 1), ones, ones, chunk: 2);
        Assert.Equal(new[] { 1.0, 2.0, 0.5 }, up.Data.Select(v => Math.Round(v, 14)).ToArray());
    }

    [Fact]
    public void Negative_BadShapes_NameTheArgument()
    {
        var xd = Tensor<double>.Zeros(1, 4, 2, 3);
        var bc = Tensor<double>.Zeros(1, 4, 1, 5);
        Assert.Equal("ad", Assert.Throws<ArgumentException>(() => StateSpaceDuality.ForwardDiscrete(xd, Tensor<double>.Zeros(1, 4, 3), bc, bc)).ParamName);
        Assert.Equal("xd", Assert.Throws<ArgumentException>(() => StateSpaceDuality.ForwardDiscreteFast(Tensor<double>.Zeros(4, 2, 3), Tensor<double>.Zeros(1, 4, 2), bc, bc)).ParamName);
    }
}
