using Reference.Core;
using Reference.Operators.Attention;

namespace Reference.SpecTests.Models;

/// <summary>
/// Softmax attention's fast training path (the tiled forward with statistics, then SoftmaxAttention.BackwardFast,
/// what the tape's fast tier runs) against the naive definition (Forward / Backward, which materializes P):
/// output and dq, dk, dv equal up to float64 reassociation; causal, windowed, bidirectional, grouped-query heads.
/// </summary>
public sealed class AttentionFastTrainingTests
{
    [Theory]
    [InlineData(2, 2, 2, 33, 8, 8, 0, true)]
    [InlineData(1, 4, 2, 40, 5, 7, 6, true)]
    [InlineData(2, 3, 1, 17, 4, 4, 0, false)]
    [InlineData(1, 1, 1, 2, 3, 2, 0, true)]
    public void Property_FastBackwardEqualsTheNaiveDefinition(int b, int hq, int hkv, int l, int kd, int vd, int window, bool causal)
    {
        var rng = new SplitMix64((ulong)(b * 7919 + hq * 31 + l));
        var q = rng.NormalTensor<double>(0, 1, b, hq, l, kd);
        var k = rng.NormalTensor<double>(0, 1, b, hkv, l, kd);
        var v = rng.NormalTensor<double>(0, 1, b, hkv, l, vd);
        var dOut = rng.NormalTensor<double>(0, 1, b, hq, l, vd);
        var options = new SoftmaxAttentionOptions(Window: window > 0 ? window : null, Causal: causal);
        Assert.True(SoftmaxAttention.BackwardFastSupports(options, hq));
        var fast = SoftmaxAttention.ForwardFastWithStats(q, k, v, options);
        Close(SoftmaxAttention.Forward(q, k, v, options).Data, fast.Out.Data, "out");
        var naive = SoftmaxAttention.Backward(q, k, v, dOut, options);
        var g = SoftmaxAttention.BackwardFast(q, k, v, fast.Out, fast.Lse, dOut, options);
        Close(naive.Dq.Data, g.Dq.Data, "dq");
        Close(naive.Dk.Data, g.Dk.Data, "dk");
        Close(naive.Dv.Data, g.Dv.Data, "dv");
        Assert.False(SoftmaxAttention.BackwardFastSupports(options with { Sinks = new double[hq] }, hq));
    }

    private static void Close(double[] expected, double[] actual, string name)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(Math.Abs);
        Assert.True(scale > 0, $"{name}: the naive result is zero, the comparison would be empty");
        double worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        Assert.True(worst <= 1e-11 * scale, $"{name}: max |naive - fast| = {worst:G3} against max |naive| = {scale:G3}");
    }
}
