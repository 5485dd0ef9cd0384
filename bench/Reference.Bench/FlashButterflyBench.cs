using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Reference.Core;
using Reference.Core.Fourier;
using Reference.Operators.Convolution;

namespace Reference.Bench;

/// <summary>
/// FlashButterfly's Fast tier (exact block FFT, levels 16 x 16 x 16 x 2 for N 8192, two channels per
/// complex transform) against the project's real-FFT convolution (FftConvolution.Causal, the baseline)
/// on 256 channels x L 4096 with Lk 4096, float32 (target: within 1.5x on one thread). The learned
/// variant (per-channel blocks, one complex transform per row) is listed for comparison, and FftConvolution writing a
/// freshly allocated y is the like-for-like baseline of the allocating ConvolveFast (both pay the fresh 4 MB output).
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

    [Benchmark(Description = "FftConvolution f32 1 thread, fresh y")]
    public float[] RealFftAllocating()
    {
        var fresh = new float[Channels * Length];
        FftConvolution.Causal<float>(u.Data, k.Data, fresh, Channels, Length, KernelLength, maxThreads: 1);
        return fresh;
    }

    [Benchmark(Description = "FftConvolution f32 2 threads")]
    public void RealFftTwoThreads() => FftConvolution.Causal<float>(u.Data, k.Data, y, Channels, Length, KernelLength, maxThreads: 2);

    [Benchmark(Description = "FlashButterfly exact f32 2 threads")]
    public Tensor<float> ExactTwoThreads() => FlashButterfly.ConvolveFast(u, k, maxThreads: 2);

    [Benchmark(Description = "FlashButterfly learned f32 1 thread")]
    public Tensor<float> Learned() => FlashButterfly.ConvolveLearnedFast(learned, u, k, maxThreads: 1);
}

/// <summary>
/// `--flash-butterfly-cpu-time`: the same 1-thread comparison as <see cref="FlashButterflyBench"/> timed by CPU time,
/// which a loaded shared machine distorts less than wall-clock time. 15 rounds; in each round every method runs
/// 10 calls (after 1 untimed call), in an order rotated from round to round, timed by the calling thread's CPU time
/// (CLOCK_THREAD_CPUTIME_ID) and the process's (CLOCK_PROCESS_CPUTIME_ID: adds the GC's background threads); a
/// method's ratio is taken within each round against that round's baseline, then the median and range over rounds
/// are reported. Methods: FftConvolution into a kept y (the baseline), FlashButterfly's Into form into the same kept
/// y, FlashButterfly's allocating ConvolveFast, and FftConvolution into a freshly allocated y (the like-for-like
/// baseline of an allocating call: the fresh 4 MB output's page faults and collections are paid by both).
/// The outputs of the two Into calls are compared once (max relative difference) before timing.
/// </summary>
public static class FlashButterflyCpuTime
{
    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>CPU seconds of the clock (2 = process, 3 = calling thread) on Linux, else the process's TotalProcessorTime.</summary>
    private static double Cpu(int clock)
    {
        if (OperatingSystem.IsLinux() && ClockGetTime(clock, out var t) == 0) return t.Seconds + t.Nanoseconds * 1e-9;
        return System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
    }

    public static void Run()
    {
        const int channels = 256, length = 4096, rounds = 15, calls = 10;
        var rng = new SplitMix64(2);
        var u = rng.NormalTensor<double>(0, 1, 1, channels, length).Cast<float>();
        var k = rng.NormalTensor<double>(0, 1, channels, length).Cast<float>();
        var y = new float[channels * length];
        var yb = new float[channels * length];
        FftConvolution.Causal<float>(u.Data, k.Data, y, channels, length, length, maxThreads: 1);
        FlashButterfly.ConvolveFastInto(u, k, yb, maxThreads: 1);
        double diff = 0, scale = 0;
        for (int i = 0; i < y.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs(y[i] - yb[i]));
            scale = Math.Max(scale, Math.Abs(y[i]));
        }
        Console.WriteLine($"max |FlashButterfly - FftConvolution| / max |y| = {diff / scale:E2}");
        var names = new[] { "FftConvolution f32 1 thread, into y", "FlashButterfly exact f32 1 thread, into y",
            "FlashButterfly exact f32 1 thread, allocating", "FftConvolution f32 1 thread, fresh y per call" };
        var methods = new Action[]
        {
            () => FftConvolution.Causal<float>(u.Data, k.Data, y, channels, length, length, maxThreads: 1),
            () => FlashButterfly.ConvolveFastInto(u, k, y, maxThreads: 1),
            () => GC.KeepAlive(FlashButterfly.ConvolveFast(u, k, maxThreads: 1)),
            () => FftConvolution.Causal<float>(u.Data, k.Data, new float[channels * length], channels, length, length, maxThreads: 1),
        };
        var thread = new double[methods.Length, rounds];
        var process = new double[methods.Length, rounds];
        for (int r = 0; r < rounds; r++)
            for (int o = 0; o < methods.Length; o++)
            {
                int m = (o + r) % methods.Length;
                methods[m]();
                double t0 = Cpu(3), p0 = Cpu(2);
                for (int i = 0; i < calls; i++) methods[m]();
                thread[m, r] = (Cpu(3) - t0) * 1e3 / calls;
                process[m, r] = (Cpu(2) - p0) * 1e3 / calls;
            }
        static (double Median, double Min, double Max) Stats(IEnumerable<double> values)
        {
            var v = values.OrderBy(x => x).ToArray();
            return (v[v.Length / 2], v[0], v[^1]);
        }
        string Row(double[,] table, int m, int baseline)
        {
            var time = Stats(Enumerable.Range(0, rounds).Select(r => table[m, r]));
            var ratio = Stats(Enumerable.Range(0, rounds).Select(r => table[m, r] / table[baseline, r]));
            return $"{time.Median,6:F2} ms ({time.Min:F2}-{time.Max:F2})  ratio {ratio.Median:F2} ({ratio.Min:F2}-{ratio.Max:F2})";
        }
        Console.WriteLine($"CPU time per call, median (min-max) over {rounds} interleaved rounds of {calls} calls; ratio within each round");
        for (int m = 0; m < methods.Length; m++)
        {
            Console.WriteLine($"{names[m]}");
            Console.WriteLine($"  thread:  {Row(thread, m, 0)}");
            Console.WriteLine($"  process: {Row(process, m, 0)}");
        }
        Console.WriteLine($"allocating FlashButterfly / fresh-y FftConvolution: thread {Row(thread, 2, 3)[^22..]}, process {Row(process, 2, 3)[^22..]}");
    }
}
