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

    [Benchmark(Description = "FlashButterfly exact into y f32 1 thread")]
    public void ExactInto() => FlashButterfly.ConvolveFastInto(u, k, y, maxThreads: 1);

    [Benchmark(Description = "FftConvolution f32 2 threads")]
    public void RealFftTwoThreads() => FftConvolution.Causal<float>(u.Data, k.Data, y, Channels, Length, KernelLength, maxThreads: 2);

    [Benchmark(Description = "FlashButterfly exact f32 2 threads")]
    public Tensor<float> ExactTwoThreads() => FlashButterfly.ConvolveFast(u, k, maxThreads: 2);

    [Benchmark(Description = "FlashButterfly learned f32 1 thread")]
    public Tensor<float> Learned() => FlashButterfly.ConvolveLearnedFast(learned, u, k, maxThreads: 1);
}

/// <summary>
/// `--flash-butterfly-cpu-time`: the same 1-thread comparison as <see cref="FlashButterflyBench"/> timed by this
/// process's CPU time (20 calls per round, 5 rounds, the median round reported; the allocating call and the one into a
/// preallocated y, as the FftConvolution baseline writes), which a loaded shared machine
/// distorts less than wall-clock time.
/// </summary>
public static class FlashButterflyCpuTime
{
    public static void Run()
    {
        const int channels = 256, length = 4096;
        var rng = new SplitMix64(2);
        var u = rng.NormalTensor<double>(0, 1, 1, channels, length).Cast<float>();
        var k = rng.NormalTensor<double>(0, 1, channels, length).Cast<float>();
        var y = new float[channels * length];
        double Median(Action call)
        {
            call();
            var rounds = new double[5];
            for (int r = 0; r < rounds.Length; r++)
            {
                var start = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
                for (int i = 0; i < 20; i++) call();
                rounds[r] = (System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - start).TotalMilliseconds / 20;
            }
            Array.Sort(rounds);
            return rounds[rounds.Length / 2];
        }
        double fft = Median(() => FftConvolution.Causal<float>(u.Data, k.Data, y, channels, length, length, maxThreads: 1));
        double exact = Median(() => FlashButterfly.ConvolveFast(u, k, maxThreads: 1));
        double into = Median(() => FlashButterfly.ConvolveFastInto(u, k, y, maxThreads: 1));
        Console.WriteLine($"FftConvolution f32 1 thread: {fft:F1} ms CPU per call");
        Console.WriteLine($"FlashButterfly exact f32 1 thread: {exact:F1} ms CPU per call ({exact / fft:F2}x)");
        Console.WriteLine($"FlashButterfly exact into y f32 1 thread: {into:F1} ms CPU per call ({into / fft:F2}x)");
    }
}
