using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Autodiff;
using Reference.Core;
using static Reference.SpecTests.Autodiff.Conv3dTests;

namespace Reference.SpecTests.Autodiff;

/// <summary>
/// The fused LSTM (both tiers, both directions) against its equations applied step by step with
/// tape primitives (values and every gradient), by gradcheck, and the bidirectional layer against
/// a forward LSTM run on the time-reversed sequence.
/// </summary>
public class LstmTests
{
    /// <summary>i, f, g, o = sigma, sigma, tanh, sigma of slices of W_ih x_t + b_ih + W_hh h + b_hh; c = f c + i g; h = o tanh(c).</summary>
    private static Variable[] StepByStep(Variable x, Variable wIh, Variable wHh, Variable bIh, Variable bHh, Variable h, Variable c, bool reverse)
    {
        int bsz = x.Shape[0], len = x.Shape[1], inF = x.Shape[2], hid = wHh.Shape[1];
        var outs = new Variable[len];
        for (int step = 0; step < len; step++)
        {
            int t = reverse ? len - 1 - step : step;
            var xt = Ops.Reshape(Ops.Slice(x, 1, t, 1), bsz, inF);
            var a = Ops.Linear(xt, wIh, bIh) + Ops.Linear(h, wHh, bHh);
            var i = Ops.Sigmoid(Ops.Slice(a, 1, 0, hid));
            var f = Ops.Sigmoid(Ops.Slice(a, 1, hid, hid));
            var g = Ops.Tanh(Ops.Slice(a, 1, 2 * hid, hid));
            var o = Ops.Sigmoid(Ops.Slice(a, 1, 3 * hid, hid));
            c = f * c + i * g;
            h = o * Ops.Tanh(c);
            outs[t] = Ops.Reshape(h, bsz, 1, hid);
        }
        return [Ops.Concat(outs, 1), h, c];
    }

    private static Tensor<double>[] Inputs(int seed, int bsz, int len, int inF, int hid) =>
    [
        Grad.Normal((ulong)seed, bsz, len, inF),
        Grad.Normal((ulong)seed + 1, 4 * hid, inF),
        Grad.Normal((ulong)seed + 2, 4 * hid, hid),
        Grad.Normal((ulong)seed + 3, 4 * hid),
        Grad.Normal((ulong)seed + 4, 4 * hid),
        Grad.Normal((ulong)seed + 5, bsz, hid),
        Grad.Normal((ulong)seed + 6, bsz, hid),
    ];

    /// <summary>A scalar reading all three outputs, so every cotangent path is exercised.</summary>
    private static Variable Loss(Variable[] r) => Grad.Probe(r[0], 1) + Grad.Probe(r[1], 2) + Grad.Probe(r[2], 3);

    [Property(MaxTest = 15)]
    public Property Lstm_BothTiersAndDirections_MatchTheEquationsStepByStep() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), seed =>
        {
            var rng = new SplitMix64((ulong)seed);
            int bsz = 1 + rng.NextInt(3), len = 1 + rng.NextInt(5), inF = 1 + rng.NextInt(4), hid = 1 + rng.NextInt(5);
            var data = Inputs(seed, bsz, len, inF, hid);
            foreach (bool reverse in new[] { false, true })
            {
                var refVars = data.Select(t => new Variable(t.Clone(), true)).ToArray();
                var expected = StepByStep(refVars[0], refVars[1], refVars[2], refVars[3], refVars[4], refVars[5], refVars[6], reverse);
                Loss(expected).Backward();
                foreach (bool fast in new[] { false, true })
                {
                    var vars = data.Select(t => new Variable(t.Clone(), true)).ToArray();
                    var actual = Run(fast, () =>
                    {
                        var r = Ops.Lstm(vars[0], vars[1], vars[2], vars[3], vars[4], vars[5], vars[6], reverse);
                        return Ops.Concat([Ops.Reshape(r[0], -1), Ops.Reshape(r[1], -1), Ops.Reshape(r[2], -1)], 0);
                    });
                    var want = Ops.Concat([Ops.Reshape(expected[0], -1), Ops.Reshape(expected[1], -1), Ops.Reshape(expected[2], -1)], 0);
                    AssertClose(want.Value, actual.Value, 1e-12);
                    var r2 = Run(fast, () => Loss(Ops.Lstm(vars[0], vars[1], vars[2], vars[3], vars[4], vars[5], vars[6], reverse)));
                    r2.Backward();
                    for (int i = 0; i < vars.Length; i++) AssertClose(refVars[i].Grad!, vars[i].Grad!, 1e-11);
                }
            }
        });

    [Property(MaxTest = 6)]
    public Property Lstm_BothTiers_PassGradCheck() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), seed =>
        {
            var rng = new SplitMix64((ulong)seed);
            var data = Inputs(seed, 1 + rng.NextInt(2), 1 + rng.NextInt(4), 1 + rng.NextInt(3), 1 + rng.NextInt(3));
            foreach (bool fast in new[] { false, true })
            {
                Grad.AssertPasses(v => Run(fast, () => Loss(Ops.Lstm(v[0], v[1], v[2], v[3], v[4], v[5], v[6], reverse: seed % 2 == 0))), data);
                Grad.AssertPasses(v => Run(fast, () => Grad.Probe(Ops.Lstm(v[0], v[1], v[2], null, null)[0])), data[..3]);
            }
        });

    [Fact]
    public void BidirectionalLstm_IsForwardAndTimeReversedLstm_Concatenated()
    {
        int bsz = 2, len = 4, inF = 3, hid = 5;
        var layer = new Reference.Autodiff.Nn.BidirectionalLstm(inF, hid, new SplitMix64(3), forgetBias: 1.0);
        Assert.Equal(2 * (4 * hid * inF + 4 * hid * hid + 8 * hid), layer.ParameterCount());
        var x = Grad.Normal(7, bsz, len, inF);
        var y = layer.Forward(Variable.Constant(x)).Value;
        Assert.Equal([bsz, len, 2 * hid], y.Shape.ToArray());
        var flipped = Tensor<double>.Zeros(bsz, len, inF);
        for (int b = 0; b < bsz; b++)
            for (int t = 0; t < len; t++)
                for (int i = 0; i < inF; i++) flipped[b, len - 1 - t, i] = x[b, t, i];
        var rev = layer.ReverseLayer;
        var back = Ops.Lstm(Variable.Constant(flipped), rev.WeightIh, rev.WeightHh, rev.BiasIh, rev.BiasHh)[0].Value;
        var fwd = layer.ForwardLayer.Forward(Variable.Constant(x)).Value;
        for (int b = 0; b < bsz; b++)
            for (int t = 0; t < len; t++)
                for (int j = 0; j < hid; j++)
                {
                    Assert.Equal(fwd[b, t, j], y[b, t, j]);
                    Assert.Equal(back[b, len - 1 - t, j], y[b, t, hid + j], 14);
                }
        var final = layer.FinalStates(Variable.Constant(x)).Value;
        for (int b = 0; b < bsz; b++)
            for (int j = 0; j < hid; j++)
            {
                Assert.Equal(y[b, len - 1, j], final[b, j]);
                Assert.Equal(y[b, 0, hid + j], final[b, hid + j]);
            }
        Assert.True(GradCheck.CheckParameters(() => Grad.Probe(layer.FinalStates(Variable.Constant(x))), layer.Parameters()).Passed);
    }
}
