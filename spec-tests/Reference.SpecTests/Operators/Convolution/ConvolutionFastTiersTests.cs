using Reference.Core;
using Reference.Operators.Convolution;

namespace Reference.SpecTests.Operators.Convolution;

/// <summary>The fast tiers of conv.hyena (Hyena.ForwardFast) and conv.bidirectional (ForwardBidirectionalFast) against their naive definitions.</summary>
public class ConvolutionFastTiersTests
{
    [Theory]
    [InlineData(2, 1, 9, 3)]
    [InlineData(3, 2, 70, 2)]     // the FFT route of the long convolutions
    [InlineData(2, 2, 20, 4)]
    public void Hyena_FastTier_EqualsNaive_Float64AndFloat32_AndIsCausal(int order, int batch, int length, int width)
    {
        var rng = new SplitMix64((ulong)(order * 100 + length));
        var p = HyenaParameters.Initialize(rng, width, length + 2, order, filterWidth: 8, embeddingDim: 5);
        var u = rng.NormalTensor<double>(0, 1, batch, length, width);
        var naive = Hyena.Forward(p, u);
        var fast = Hyena.ForwardFast(p, u, maxThreads: 1);
        Assert.True(Metrics.RelativeError(naive.Data, fast.Data) <= 1e-12);
        static double[] R(double[] x) => x.Select(v => (double)(float)v).ToArray();
        var rounded = p with
        {
            InW = R(p.InW), InB = R(p.InB), ShortW = R(p.ShortW), ShortB = R(p.ShortB), W0 = R(p.W0), B0 = R(p.B0), W1 = R(p.W1), B1 = R(p.B1),
            W2 = R(p.W2), B2 = R(p.B2), W3 = R(p.W3), Freq = R(p.Freq), FilterBias = R(p.FilterBias), OutW = R(p.OutW), OutB = R(p.OutB),
        };
        var reference = Hyena.Forward(rounded, new Tensor<double>(R(u.Data), u.ShapeArray));
        var f32 = Hyena.ForwardFast(rounded, new Tensor<float>(u.Data.Select(v => (float)v).ToArray(), u.ShapeArray), maxThreads: 1);
        Assert.True(Metrics.RelativeError(reference.Data, f32.Data.Select(v => (double)v).ToArray()) <= 1e-5);
        // Causality: inputs from the cut on do not move earlier outputs (up to the FFT route's round-off, which mixes positions).
        int cut = length / 2;
        var moved = u.Clone();
        for (int b = 0; b < batch; b++)
            for (int t = cut; t < length; t++)
                for (int c = 0; c < width; c++) moved.Data[(b * length + t) * width + c] += 1.0 + t;
        var y2 = Hyena.ForwardFast(p, moved, maxThreads: 1);
        double scale = fast.Data.Max(Math.Abs);
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < cut; t++)
                for (int c = 0; c < width; c++)
                {
                    int i = (b * length + t) * width + c;
                    Assert.True(Math.Abs(fast.Data[i] - y2.Data[i]) <= 1e-12 * scale, $"b {b} t {t} c {c}: {fast.Data[i]} vs {y2.Data[i]}");
                }
        Assert.NotEqual(fast.Data, y2.Data);
    }

    [Theory]
    [InlineData(BidirectionalMode.Conjugate, 3, 17, 5)]
    [InlineData(BidirectionalMode.PadFlip, 2, 17, 17)]
    [InlineData(BidirectionalMode.Conjugate, 2, 100, 100)]   // the FFT route
    [InlineData(BidirectionalMode.PadFlip, 1, 90, 70)]
    [InlineData(BidirectionalMode.PadFlip, 1, 1, 3)]
    public void Bidirectional_FastTier_EqualsNaive_Float64AndFloat32(BidirectionalMode mode, int channels, int length, int kernelLength)
    {
        var rng = new SplitMix64((ulong)(length + kernelLength));
        var u = rng.NormalTensor<double>(0, 1, 2, channels, length);
        var k = rng.NormalTensor<double>(0, 1, channels, kernelLength);
        var kRev = rng.NormalTensor<double>(0, 1, channels, kernelLength);
        var d = rng.NormalTensor<double>(0, 1, channels);
        var naive = CausalConvolution.ForwardBidirectional(u, k, kRev, d, mode);
        Assert.True(Metrics.RelativeError(naive.Data, CausalConvolution.ForwardBidirectionalFast(u, k, kRev, d, mode, maxThreads: 1).Data) <= 1e-12);
        static Tensor<float> F(Tensor<double> x) => new(x.Data.Select(v => (float)v).ToArray(), x.ShapeArray);
        var f32 = CausalConvolution.ForwardBidirectionalFast(F(u), F(k), F(kRev), F(d), mode, maxThreads: 1);
        Assert.True(Metrics.RelativeError(naive.Data, f32.Data.Select(v => (double)v).ToArray()) <= 1e-5);
    }
}
