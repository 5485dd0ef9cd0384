using Reference.Autodiff;
using Reference.Core;
using Reference.Decoding.Networks;
using Reference.Operators.Attention;
using Reference.SpecTests.Autodiff;

namespace Reference.SpecTests.Decoding;

/// <summary>
/// The convolutional decoders: shapes and parameter counts at 20 x 24 x 20 (counted independently
/// from the published layer lists), gradcheck on tiny instances, and the layer library's masked
/// attention against the operator library's softmax attention kernel.
/// </summary>
public class NetworkTests
{
    private static long Conv(int cin, int cout, int taps) => (long)cin * cout * taps + cout;

    [Fact]
    public void Cnn3d_At20x24x20_HasThreeBlocks_AndItsParameterCount()
    {
        var net = new Cnn3dDecoder([1, 20, 24, 20], classes: 4, new SplitMix64(1));
        Assert.Equal(3, net.Convolutions.Count);
        Assert.Equal([1, 2, 1], net.FinalSize);
        long expected = Conv(1, 8, 27) + 16 + 2 * (Conv(8, 8, 27) + 16) + (8 * 2 * 4 + 4);
        Assert.Equal(expected, net.ParameterCount());
        var x = Variable.Constant(new SplitMix64(2).NormalTensor<double>(0, 1, 3, 1, 20, 24, 20));
        Assert.Equal([3, 4], net.Forward(x).Shape.ToArray());
        // 2 N P Cout Cin k^3 per product: forward + dW for block 1, + dX for the others; head 3 x 2 N in out.
        long flops = 2L * 3 * 891 * 8 * 27 * 2 + 2L * 3 * 80 * 8 * 216 * 3 + 2L * 3 * 2 * 8 * 216 * 3 + 3 * 2L * 3 * 16 * 4;
        Assert.Equal(flops, net.TrainingFlops(3));
        Assert.Throws<ArgumentException>(() => new Cnn3dDecoder([1, 2, 9, 9], 2, new SplitMix64(1)));
    }

    [Fact]
    public void Cnn3d_Tiny_PassesGradCheck_InTrainingMode()
    {
        var net = new Cnn3dDecoder([1, 7, 7, 8], classes: 3, new SplitMix64(3), filters: 2, dropout: 0.0);
        Assert.Equal(2, net.Convolutions.Count);
        var x = new SplitMix64(4).NormalTensor<double>(0, 1, 3, 1, 7, 7, 8);
        int[] targets = [0, 2, 1];
        foreach (bool fast in new[] { false, true })
        {
            var r = GradCheck.CheckParameters(() => Conv3dTests.Run(fast, () => Ops.CrossEntropy(net.Forward(Variable.Constant(x)), targets)), net.Parameters());
            Assert.True(r.Passed, r.ToString());
        }
    }

    [Fact]
    public void DeepLight3d_At20x24x20_ParameterCountShapeAndTinyGradCheck()
    {
        var net = new DeepLight3d(classes: 3, new SplitMix64(5));
        long expected = 0;
        int[] channels = [8, 8, 8, 8, 16, 16, 32, 32, 64, 64, 128, 128];
        int inCh = 1;
        foreach (int c in channels) { expected += Conv(inCh, c, 27) + 2 * c; inCh = c; }
        expected += Conv(128, 3, 1);
        Assert.Equal(expected, net.ParameterCount());
        var x = Variable.Constant(new SplitMix64(6).NormalTensor<double>(0, 1, 2, 1, 20, 24, 20));
        using (Tape.UseFastKernels()) Assert.Equal([2, 3], net.Forward(x).Shape.ToArray());

        // Eval mode (running statistics, no dropout) on a 3 x 4 x 3 volume: gradient of the logits w.r.t. the input.
        net.Eval();
        var tiny = new SplitMix64(7).NormalTensor<double>(0, 1, 1, 1, 3, 4, 3);
        foreach (bool fast in new[] { false, true })
            Grad.AssertPasses(v => Conv3dTests.Run(fast, () => Grad.Probe(net.Forward(v[0]))), tiny);
    }

    [Fact]
    public void DeepLight2d_At20x24x20_ParameterCountShapeAndTinyGradCheck()
    {
        var net = new DeepLight2d([20, 24, 20], classes: 3, new SplitMix64(8));
        Assert.Equal(64, net.SliceFeatures);
        long expected = 0;
        int[] channels = [8, 8, 16, 16, 32, 32, 32, 32, 64, 64, 64, 64];
        int inCh = 1;
        foreach (int c in channels) { expected += Conv(inCh, c, 9); inCh = c; }
        expected += 2 * (4L * 64 * 64 + 4L * 64 * 64 + 2 * 4 * 64) + (128 * 3 + 3);
        Assert.Equal(expected, net.ParameterCount());
        var x = Variable.Constant(new SplitMix64(9).NormalTensor<double>(0, 1, 2, 1, 20, 24, 20));
        using (Tape.UseFastKernels()) Assert.Equal([2, 3], net.Forward(x).Shape.ToArray());

        var small = new DeepLight2d([3, 4, 5], classes: 2, new SplitMix64(10), convDropout: 0.3, dropout: 0.3, hidden: 3);
        small.Eval();
        var tiny = new SplitMix64(11).NormalTensor<double>(0, 1, 2, 1, 3, 4, 5);
        var checkedParams = small.Lstm.Parameters().Where(p => p.Length <= 12 || p.Shape[1] == 3).Concat(small.Head.Parameters()).ToList();
        foreach (bool fast in new[] { false, true })
        {
            Grad.AssertPasses(v => Conv3dTests.Run(fast, () => Grad.Probe(small.Forward(v[0]))), tiny);
            var r = GradCheck.CheckParameters(() => Conv3dTests.Run(fast, () => Grad.Probe(small.Forward(Variable.Constant(tiny)))), checkedParams);
            Assert.True(r.Passed, r.ToString());
        }
    }

    [Fact]
    public void DeepLight2d_SlicesAreIndependentBeforeTheLstm()
    {
        // Changing one slice changes that slice's features only: the CNN is a per-slice 2-D network.
        var net = new DeepLight2d([4, 8, 8], classes: 2, new SplitMix64(12), hidden: 4);
        var x = new SplitMix64(13).NormalTensor<double>(0, 1, 1, 1, 4, 8, 8);
        var f1 = net.Cnn.Forward(Variable.Constant(x)).Value;
        var x2 = x.Clone();
        for (int i = 0; i < 64; i++) x2.Data[2 * 64 + i] += 1.0;
        var f2 = net.Cnn.Forward(Variable.Constant(x2)).Value;
        int perSlice = f1.Shape[3] * f1.Shape[4];
        for (int c = 0; c < f1.Shape[1]; c++)
            for (int d = 0; d < 4; d++)
                for (int i = 0; i < perSlice; i++)
                {
                    int e = (c * 4 + d) * perSlice + i;
                    if (d != 2) Assert.Equal(f1.Data[e], f2.Data[e]);
                }
        Assert.NotEqual(f1.Data, f2.Data);
    }

    [Fact]
    public void ScaledDotProductAttention_MatchesTheOperatorLibrarysSoftmaxAttention()
    {
        var rng = new SplitMix64(14);
        var q = rng.NormalTensor<double>(0, 1, 2, 3, 5, 4);
        var k = rng.NormalTensor<double>(0, 1, 2, 3, 5, 4);
        var v = rng.NormalTensor<double>(0, 1, 2, 3, 5, 2);
        foreach (bool causal in new[] { true, false })
        {
            var a = new[] { q, k, v }.Select(t => new Variable(t.Clone(), true)).ToArray();
            var b = new[] { q, k, v }.Select(t => new Variable(t.Clone(), true)).ToArray();
            var ya = Ops.ScaledDotProductAttention(a[0], a[1], a[2], causal ? Ops.CausalMask(5) : null);
            var yb = AttentionOps.Softmax(b[0], b[1], b[2], new SoftmaxAttentionOptions(Causal: causal));
            Conv3dTests.AssertClose(yb.Value, ya.Value, 1e-12);
            Grad.Probe(ya).Backward();
            Grad.Probe(yb).Backward();
            for (int i = 0; i < 3; i++) Conv3dTests.AssertClose(b[i].Grad!, a[i].Grad!, 1e-11);
        }
    }
}
