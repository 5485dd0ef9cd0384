using Reference.Core;
using Reference.Operators.StateSpace;

namespace Reference.SpecTests.Models;

/// <summary>
/// The H3 layer's fast training path (H3.ForwardTrainingFast / H3.BackwardFast, what the tape's fast tier
/// runs) against the naive definition (H3.Forward / H3.Backward): output and every gradient equal up to
/// float64 reassociation (FFT convolutions, packed GEMM, powers by multiplication), on shapes that take the
/// FFT route and the direct one, kernels longer and shorter than the sequence, head dims 1 and 2, both
/// discretizations.
/// </summary>
public sealed class H3FastTrainingTests
{
    [Theory]
    [InlineData(2, 40, 4, 1, 64, "bilinear")]
    [InlineData(3, 100, 4, 2, 8, "zoh")]
    [InlineData(1, 7, 2, 1, 4, "bilinear")]
    [InlineData(2, 300, 2, 1, 16, "zoh")]
    public void Property_FastTrainingPathEqualsTheNaiveDefinition(int batch, int length, int width, int headDim, int state, string method)
    {
        var rng = new SplitMix64((ulong)(batch * 1000 + length));
        var p = H3Parameters.Initialize(rng, width, headDim, state, S4DInit.Lin, method == "zoh" ? Discretization.Zoh : Discretization.Bilinear);
        var u = rng.NormalTensor<double>(0, 1, batch, length, width);
        var dy = rng.NormalTensor<double>(0, 1, batch, length, width);
        var saved = H3.ForwardTrainingFast(p, u);
        Close(H3.Forward(p, u).Data, saved.Values.Output.Data, "y");
        var naive = H3.Backward(p, u, dy);
        var fast = H3.BackwardFast(p, u, dy, saved);
        Close(naive.Input.Data, fast.Input.Data, "du");
        (string, double[], double[])[] pairs =
        [
            ("wq", naive.Wq, fast.Wq), ("bq", naive.Bq, fast.Bq), ("wk", naive.Wk, fast.Wk), ("bk", naive.Bk, fast.Bk),
            ("wv", naive.Wv, fast.Wv), ("bv", naive.Bv, fast.Bv), ("wo", naive.Wo, fast.Wo), ("bo", naive.Bo, fast.Bo),
            ("shift_b", naive.Shift.B, fast.Shift.B), ("shift_c", naive.Shift.C, fast.Shift.C), ("shift_d", naive.Shift.Skip, fast.Shift.Skip),
            ("log_neg_real_a", naive.Ssm.LogNegRealA, fast.Ssm.LogNegRealA), ("imag_a", naive.Ssm.ImagA, fast.Ssm.ImagA),
            ("b_re", naive.Ssm.BRe, fast.Ssm.BRe), ("b_im", naive.Ssm.BIm, fast.Ssm.BIm), ("c_re", naive.Ssm.CRe, fast.Ssm.CRe),
            ("c_im", naive.Ssm.CIm, fast.Ssm.CIm), ("log_delta", naive.Ssm.LogDelta, fast.Ssm.LogDelta), ("d", naive.Ssm.D, fast.Ssm.D),
        ];
        foreach (var (name, a, b) in pairs) Close(a, b, name);
    }

    /// <summary>
    /// Inside a TensorArena the fast path takes its buffers from the arena (stale data of the previous step):
    /// a second step on other inputs after a Reset equals the same step on the heap bitwise, so every
    /// element of every lent buffer is written.
    /// </summary>
    [Theory]
    [InlineData(2, 300, 4, 1, 64)]
    [InlineData(3, 100, 4, 2, 8)]
    public void Property_FastTrainingPathInAnArenaEqualsTheHeapBitwise(int batch, int length, int width, int headDim, int state)
    {
        var rng = new SplitMix64((ulong)(batch * 7 + length));
        var p = H3Parameters.Initialize(rng, width, headDim, state, S4DInit.Lin, Discretization.Bilinear);
        var u1 = rng.NormalTensor<double>(0, 3, batch, length, width);
        var u2 = rng.NormalTensor<double>(0, 1, batch, length, width);
        var dy = rng.NormalTensor<double>(0, 1, batch, length, width);
        var heapSaved = H3.ForwardTrainingFast(p, u2);
        var heap = H3.BackwardFast(p, u2, dy, heapSaved);
        var arena = new Reference.Autodiff.TensorArena();
        using (arena.Use()) H3.BackwardFast(p, u1, dy, H3.ForwardTrainingFast(p, u1));
        arena.Reset();
        using (arena.Use())
        {
            var saved = H3.ForwardTrainingFast(p, u2);
            var g = H3.BackwardFast(p, u2, dy, saved);
            Assert.Equal(heapSaved.Values.Output.Data, saved.Values.Output.Data);
            Assert.Equal(heap.Input.Data, g.Input.Data);
            Assert.Equal(heap.Wq, g.Wq);
            Assert.Equal(heap.Bk, g.Bk);
            Assert.Equal(heap.Wo, g.Wo);
            Assert.Equal(heap.Shift.B, g.Shift.B);
            Assert.Equal(heap.Ssm.CRe, g.Ssm.CRe);
        }
        Assert.True(arena.HeldElements > 0, "the fast path took no buffer from the arena");
    }

    /// <summary>Max-norm relative agreement 1e-10 (float64 reorderings over at most a few hundred terms stay near 1e-14).</summary>
    private static void Close(double[] expected, double[] actual, string name)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(Math.Abs);
        Assert.True(scale > 0, $"{name}: the naive gradient is zero, the comparison would be empty");
        double worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        Assert.True(worst <= 1e-10 * scale, $"{name}: max |naive - fast| = {worst:G3} against max |naive| = {scale:G3}");
    }
}
