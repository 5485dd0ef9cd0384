using Reference.Autodiff;
using Reference.Core;
using Reference.Operators.Convolution;

namespace Reference.SpecTests.Operators.Convolution;

/// <summary>
/// FlashButterfly's fast backward (BackwardFast: two block-FFT correlations) against the naive VJP and finite differences on
/// the tape, and the chunked state-passing convolution (ForwardChunkFast) against the direct causal sum.
/// </summary>
public class FlashButterflyBackwardChunkedTests
{
    [Theory]
    [InlineData(1, 1, 1, 3, true)]
    [InlineData(2, 3, 17, 5, true)]
    [InlineData(1, 2, 40, 40, false)]
    [InlineData(2, 2, 33, 70, true)]   // kernel longer than L: taps past L - 1 get no gradient
    public void BackwardFast_EqualsNaiveBackward_Float64AndFloat32(int batch, int channels, int length, int kernelLength, bool skip)
    {
        var rng = new SplitMix64((ulong)(length * 31 + kernelLength));
        var u = rng.NormalTensor<double>(0, 1, batch, channels, length);
        var k = rng.NormalTensor<double>(0, 1, channels, kernelLength);
        var d = skip ? rng.NormalTensor<double>(0, 1, channels) : null;
        var dy = rng.NormalTensor<double>(0, 1, batch, channels, length);
        var naive = FlashButterfly.Backward(u, k, d, dy);
        var fast = FlashButterfly.BackwardFast(u, k, d, dy, maxThreads: 1);
        Assert.True(Metrics.RelativeError(naive.Input.Data, fast.Input.Data) <= 1e-12);
        Assert.True(Metrics.RelativeError(naive.Kernel.Data, fast.Kernel.Data) <= 1e-12);
        for (int c = 0; c < channels; c++)
            for (int j = Math.Min(length, kernelLength); j < kernelLength; j++) Assert.Equal(0.0, fast.Kernel.Data[c * kernelLength + j]);
        if (skip) Assert.True(Metrics.RelativeError(naive.Skip!.Data, fast.Skip!.Data) <= 1e-12);
        static Tensor<float> F(Tensor<double> x) => new(x.Data.Select(v => (float)v).ToArray(), x.ShapeArray);
        var f32 = FlashButterfly.BackwardFast(F(u), F(k), d is null ? null : F(d), F(dy), maxThreads: 2);
        Assert.True(Metrics.RelativeError(naive.Input.Data, f32.Input.Data.Select(v => (double)v).ToArray()) <= 1e-5);
        Assert.True(Metrics.RelativeError(naive.Kernel.Data, f32.Kernel.Data.Select(v => (double)v).ToArray()) <= 1e-5);
    }

    [Fact]
    public void FastTapeOp_GradientsMatchFiniteDifferences()
    {
        var rng = new SplitMix64(12);
        Tensor<double>[] inputs = [rng.NormalTensor<double>(0, 1, 2, 2, 19), rng.NormalTensor<double>(0, 1, 2, 7), rng.NormalTensor<double>(0, 1, 2)];
        var weights = Variable.Constant(rng.NormalTensor<double>(0, 1, 2, 2, 19));
        var result = GradCheck.Check(v => Ops.Sum(Ops.Mul(ConvolutionOps.FlashButterflyFast(v[0], v[1], v[2], maxThreads: 1), weights)), inputs);
        Assert.True(result.Passed, result.ToString());
    }

    [Theory]
    [InlineData(1, 1, 50, 50, 8)]
    [InlineData(2, 3, 37, 5, 4)]
    [InlineData(1, 2, 64, 100, 16)]   // kernel longer than every chunk and than L
    [InlineData(2, 2, 30, 9, 1)]      // token by token
    [InlineData(1, 3, 20, 20, 64)]    // one chunk
    public void Chunked_EqualsDirectConvolution(int batch, int channels, int length, int kernelLength, int chunk)
    {
        var rng = new SplitMix64((ulong)(length + 7 * chunk));
        var u = rng.NormalTensor<double>(0, 1, batch, channels, length);
        var k = rng.NormalTensor<double>(0, 1, channels, kernelLength);
        var d = rng.NormalTensor<double>(0, 1, channels);
        var direct = CausalConvolution.Forward(u, k, d);
        Assert.True(Metrics.RelativeError(direct.Data, FlashButterfly.ConvolveChunkedFast(u, k, d, chunk, maxThreads: 1).Data) <= 1e-12);
        static Tensor<float> F(Tensor<double> x) => new(x.Data.Select(v => (float)v).ToArray(), x.ShapeArray);
        var y32 = FlashButterfly.ConvolveChunkedFast(F(u), F(k), F(d), chunk, maxThreads: 1);
        Assert.True(Metrics.RelativeError(direct.Data, y32.Data.Select(v => (double)v).ToArray()) <= 1e-5);
    }

    [Fact]
    public void Chunked_UnevenChunks_CarryTheStateAndStayCausal()
    {
        // Chunks of 3, 11, 1, 20 through one state equal the one-shot convolution; the pending state after the first chunk is
        // exactly the part of k * u[0:3] that lands on positions 3..Lk+1 (hand check: with u = e_0 it is k[3..]).
        var k = new SplitMix64(3).NormalTensor<double>(0, 1, 1, 6);
        var impulse = Tensor<double>.Zeros(1, 1, 3);
        impulse.Data[0] = 1.0;
        var s = FlashButterfly.InitialChunkState<double>(1, 1, 6);
        FlashButterfly.ForwardChunkFast(s, impulse, k, null, maxThreads: 1);
        for (int j = 0; j < 5; j++) Assert.True(Math.Abs(s.Pending[j] - (j + 3 < 6 ? k.Data[j + 3] : 0.0)) <= 1e-14, $"pending[{j}]");
        var rng = new SplitMix64(4);
        var u = rng.NormalTensor<double>(0, 1, 2, 2, 35);
        var kk = rng.NormalTensor<double>(0, 1, 2, 13);
        var state = FlashButterfly.InitialChunkState<double>(4, 2, 13);
        var parts = new List<Tensor<double>>();
        int t0 = 0;
        foreach (int n in new[] { 3, 11, 1, 20 })
        {
            parts.Add(FlashButterfly.ForwardChunkFast(state, u.Slice(-1, t0, n), kk, null, maxThreads: 1));
            t0 += n;
        }
        Assert.Equal(35, state.Position);
        var direct = CausalConvolution.Forward(u, kk);
        var joined = new double[direct.Length];
        t0 = 0;
        foreach (var p in parts)
        {
            int n = p.Dim(-1);
            for (int r = 0; r < 4; r++) p.Data.AsSpan(r * n, n).CopyTo(joined.AsSpan(r * 35 + t0));
            t0 += n;
        }
        Assert.True(Metrics.RelativeError(direct.Data, joined) <= 1e-12);
    }
}
