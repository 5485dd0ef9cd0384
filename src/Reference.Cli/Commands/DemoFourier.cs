using Reference.Core;
using Reference.Core.Fourier;

namespace Reference.Cli.Commands;

public static partial class DemoSections
{
    /// <summary>
    /// FFT causal convolution (the long-convolution primitive) against the direct O(L Lk) sum, in
    /// float64 and float32. 64 channels x L 2048 keeps the direct sum (the expensive side) quick. Timings belong to
    /// bench/ (FftConvolutionBench), not to the demo.
    /// </summary>
    public static DemoResult FftConvolutionDemo(ulong seed)
    {
        const int channels = 64, length = 2048, kernelLength = 2048;
        var rng = new SplitMix64(seed);
        var u = new double[channels * length];
        var k = new double[channels * kernelLength];
        rng.FillNormal<double>(u);
        // A decaying kernel, as the long convolutions of S4/Hyena produce.
        for (int c = 0; c < channels; c++)
            for (int j = 0; j < kernelLength; j++)
                k[c * kernelLength + j] = rng.Normal() * Math.Exp(-j / 256.0);
        var direct = new double[u.Length];
        FftConvolution.NaiveCausal(u, k, direct, channels, length, kernelLength);

        var y64 = new double[u.Length];
        FftConvolution.Causal<double>(u, k, y64, channels, length, kernelLength);
        // float32 inputs are the float64 ones rounded; the reference stays the float64 direct sum.
        var uf = Array.ConvertAll(u, v => (float)v);
        var kf = Array.ConvertAll(k, v => (float)v);
        var y32 = new float[u.Length];
        FftConvolution.Causal<float>(uf, kf, y32, channels, length, kernelLength);

        double e64 = Metrics.RelativeError(direct, y64);
        double e32 = Metrics.RelativeError(direct, y32);
        int n = FftConvolution.FftSize(length, kernelLength);
        return new DemoResult(
            $"FFT causal convolution {channels} channels x L {length}, Lk {kernelLength} (FFT size {n}) vs direct sum",
            e64 <= 1e-12 && e32 <= 1e-5,
            [
                $"float64: relative error {e64:E2} (tolerance 1e-12)",
                $"float32: relative error {e32:E2} (tolerance 1e-5)",
            ]);
    }
}
