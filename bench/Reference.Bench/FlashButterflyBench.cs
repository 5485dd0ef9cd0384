using BenchmarkDotNet.Attributes;
using Reference.Core;
using Reference.Core.Fourier;
using Reference.Operators.Convolution;

namespace Reference.Bench;

/// <summary>
/// FlashButterfly's Fast tier (exact block FFT, levels 16 x 16 x 16 x 2 for N 8192, two channels per
/// complex transform) against the project's real-FFT convolution (FftConvolution.Causal, the baseline)
/// on 256 channels x L 4096 with Lk 4096, float32 (target: within 1.5x on one thread). The learned
/// variant (per-channel blocks, one complex transform per row) is listed for comparison.
/// </summary>
[MemoryDiagnoser, MinColumn, MedianColumn]
public class FlashButterflyBench
{
    private const int Channels = 256, Length = 4096, KernelLength = 4096;
    private Tensor<float> u = null!, k = null!;
    private float[] y = [];
    private ButterflyParameters learned = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(2);
        u = rng.NormalTensor<double>(0, 1, 1, Channels, Length).Cast<float>();
        k = rng.NormalTensor<double>(0, 1, Channels, KernelLength).Cast<float>();
        y = new float[Channels * Length];
        learned = ButterflyParameters.InitializeExact(FftConvolution.FftSize(Length, KernelLength), Channels);
    }

    [Benchmark(Baseline = true, Description = "FftConvolution f32 1 thread")]
    public void RealFft() => FftConvolution.Causal<float>(u.Data, k.Data, y, Channels, Length, KernelLength, maxThreads: 1);

    [Benchmark(Description = "FlashButterfly exact f32 1 thread")]
    public Tensor<float> Exact() => FlashButterfly.ConvolveFast(u, k, maxThreads: 1);

    [Benchmark(Description = "FftConvolution f32 2 threads")]
    public void RealFftTwoThreads() => FftConvolution.Causal<float>(u.Data, k.Data, y, Channels, Length, KernelLength, maxThreads: 2);

    [Benchmark(Description = "FlashButterfly exact f32 2 threads")]
    public Tensor<float> ExactTwoThreads() => FlashButterfly.ConvolveFast(u, k, maxThreads: 2);

    [Benchmark(Description = "FlashButterfly learned f32 1 thread")]
    public Tensor<float> Learned() => FlashButterfly.ConvolveLearnedFast(learned, u, k, maxThreads: 1);
}
