using System.Diagnostics;
using System.Numerics;
using System.Runtime.Intrinsics;
using Reference.Core;
using Reference.Core.Linear;

namespace Reference.Bench;

/// <summary>
/// GEMM as a fraction of the FMA peak, timed by CPU time instead of wall time:
///   dotnet run -c Release --project bench/Reference.Bench -- --cpu-time [size]
/// On a shared, oversubscribed VM, wall-clock rates measure the scheduler more than the code; the
/// CPU time consumed by this process is what the code itself costs (cache pollution by the other
/// tenants still shows). Both sides of each ratio are timed the same way, in the same run: the FMA
/// peak (MachineLimitsBench's register-resident chains) and FastGemm on size^3 (default 1024),
/// float32 and float64, 1 and 2 threads. Rate = flops / (CPU seconds / threads), i.e. what the
/// threads would deliver if they had their cores to themselves; waiting threads spin inside
/// Parallel.For and so count, and load imbalance still lowers the figure. Best of several repeats.
/// </summary>
public static class CpuTimeRates
{
    public static void Run(int size)
    {
        Console.WriteLine($"CPU-time rates (best of repeats), GEMM {size}^3, {Environment.ProcessorCount} cores, FMA kernel: {FastGemm.VectorKernelAvailable}");
        Console.WriteLine("| Kernel | Threads | GFLOP/s (CPU time) | Of FMA peak |");
        Console.WriteLine("|---|---|---:|---:|");
        foreach (int threads in new[] { 1, 2 })
        {
            double peak32 = Best(threads, () => Peak(threads, single: true), 2.0 * threads * Iterations * 12 * Vector256<float>.Count);
            double peak64 = Best(threads, () => Peak(threads, single: false), 2.0 * threads * Iterations * 12 * Vector256<double>.Count);
            double gemm32 = Gemm<float>(size, threads);
            double gemm64 = Gemm<double>(size, threads);
            Console.WriteLine($"| FMA peak float32 | {threads} | {peak32:F1} | 100 % |");
            Console.WriteLine($"| FastGemm float32 | {threads} | {gemm32:F1} | {100 * gemm32 / peak32:F0} % |");
            Console.WriteLine($"| FMA peak float64 | {threads} | {peak64:F1} | 100 % |");
            Console.WriteLine($"| FastGemm float64 | {threads} | {gemm64:F1} | {100 * gemm64 / peak64:F0} % |");
        }
    }

    private const long Iterations = 20_000_000;

    private static void Peak(int threads, bool single) =>
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
        {
            if (single) MachineLimitsBench.ChainsFloat32(Iterations);
            else MachineLimitsBench.ChainsFloat64(Iterations);
        });

    private static double Gemm<T>(int n, int threads) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new SplitMix64(1);
        var a = new T[n * n];
        var b = new T[n * n];
        var c = new T[n * n];
        rng.FillNormal<T>(a);
        rng.FillNormal<T>(b);
        return Best(threads, () => FastGemm.Multiply(false, false, n, n, n, T.One, a, n, b, n, T.Zero, c, n, threads), 2.0 * n * n * n);
    }

    /// <summary>Highest flops per (CPU second / threads) over repeats; the first call warms the JIT and the buffers.</summary>
    private static double Best(int threads, Action action, double flops)
    {
        action();
        var process = Process.GetCurrentProcess();
        double best = 0;
        for (int repeat = 0; repeat < 7; repeat++)
        {
            process.Refresh();
            var start = process.TotalProcessorTime;
            action();
            process.Refresh();
            double seconds = (process.TotalProcessorTime - start).TotalSeconds / threads;
            if (seconds > 0) best = Math.Max(best, flops / seconds / 1e9);
        }
        return best;
    }
}
