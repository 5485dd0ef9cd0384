using BenchmarkDotNet.Attributes;
using Reference.Core;
using Reference.Core.Linear;
using Reference.Operators.Monarch;

namespace Reference.Bench;

/// <summary>
/// The Monarch multiply's fast tier (Monarch.MultiplyFast, float32) at N = 4096 (b = 64, two factors of 64
/// blocks 64 x 64), batch 256, on 1 and 2 threads, against
///   BlockGemm32 (baseline): the same 128 block products [64 x 64] . [64 x 256] as plain FastGemm products on
///     contiguous operands (FastGemm.MultiplyBatched, threads over the products): the GEMM rate the Monarch
///     multiply can at most reach, since it performs exactly these products plus two transposes per panel;
///   Dense32: the dense 4096 x 4096 weight applied to the same batch (FastGemm, 256 x 4096 x 4096).
/// Rates count 2 flops per multiply-add of each method's own work (Monarch and BlockGemm: 2 B (K Q P + L S R)
/// = 268 MFLOP; Dense: 2 B N^2 = 8.6 GFLOP). Targets (issue 14): Monarch >= 50 % of BlockGemm's GFLOP/s, and
/// Monarch >= 10x faster than Dense (Dense / Monarch time; the flop ratio is 32).
///   dotnet run -c Release --project bench/Reference.Bench -- --filter '*MonarchBench*' --job short
/// </summary>
[Config(typeof(ThroughputConfig))]
public class MonarchBench : IWorkload
{
    private const int B = 64, Batch = 256;
    private readonly MonarchShape shape = MonarchShape.Square(B);
    private float[] w1 = [], w2 = [], x = [], y = [], blockWeights = [], blockIn = [], blockOut = [], dense = [], denseOut = [];

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(14);
        float[] Draw(int count) => rng.NormalTensor<float>(0, 1, count).Data;
        w1 = Draw(shape.Weights1);
        w2 = Draw(shape.Weights2);
        x = Draw(Batch * shape.Inputs);
        y = new float[Batch * shape.Outputs];
        // BlockGemm: 2 K products, each a weight block [64 x 64] times an operand [64 x 256] of its own.
        blockWeights = Draw(2 * B * B * B);
        blockIn = Draw(2 * B * B * Batch);
        blockOut = new float[2 * B * B * Batch];
        dense = Monarch.Materialize<double>(shape, [.. w1.Select(v => (double)v)], [.. w2.Select(v => (double)v)]).Select(v => (float)v).ToArray();
        denseOut = new float[Batch * shape.Outputs];
    }

    [Benchmark]
    public void Monarch32() => Monarch.MultiplyFast<float>(shape, w1, w2, x, y, Batch, Threads);

    [Benchmark(Baseline = true)]
    public void BlockGemm32() => FastGemm.MultiplyBatched(false, false, B, Batch, B, 1f, blockWeights, B, B * B, blockIn, Batch, B * Batch,
        0f, blockOut, Batch, B * Batch, 2 * B, Threads);

    [Benchmark]
    public void Dense32() => FastGemm.Multiply(false, true, Batch, shape.Outputs, shape.Inputs, 1f, x, shape.Inputs, dense, shape.Inputs,
        0f, denseOut, shape.Outputs, Threads);

    public double Work(string method) => method == nameof(Dense32)
        ? 2.0 * Batch * shape.Inputs * shape.Outputs
        : 2.0 * Batch * shape.MultiplyAdds;

    public string Unit(string method) => "GFLOP/s";

    public string? PeakMethod(string method) => null;
}

/// <summary>
/// MonarchBench's three methods timed by CPU time instead of wall time (as CpuTimeRates does for GEMM), for
/// the shared, oversubscribed VM where wall-clock rates measure the scheduler:
///   dotnet run -c Release --project bench/Reference.Bench -- --monarch-cpu-time
/// Rate = flops / (CPU seconds / threads), best of repeats, all in one run; the ratios are the targets'.
/// </summary>
public static class MonarchCpuTime
{
    public static void Run()
    {
        Console.WriteLine($"Monarch multiply N = 4096 (b = 64), batch 256, float32; CPU-time rates (best of repeats), {Environment.ProcessorCount} cores");
        Console.WriteLine("| Threads | Monarch32 GFLOP/s | BlockGemm32 GFLOP/s | Monarch / BlockGemm | Dense32 GFLOP/s | Dense / Monarch time |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (int threads in new[] { 1, 2 })
        {
            var bench = new MonarchBench { Threads = threads };
            bench.Setup();
            double monarch = Best(threads, bench.Monarch32, bench.Work(nameof(MonarchBench.Monarch32)), warmup: 40);
            double block = Best(threads, bench.BlockGemm32, bench.Work(nameof(MonarchBench.BlockGemm32)), warmup: 40);
            double dense = Best(threads, bench.Dense32, bench.Work(nameof(MonarchBench.Dense32)), warmup: 3, repeats: 3);
            double speedup = monarch / bench.Work(nameof(MonarchBench.Monarch32)) * bench.Work(nameof(MonarchBench.Dense32)) / dense;
            Console.WriteLine($"| {threads} | {monarch:F1} | {block:F1} | {100 * monarch / block:F0} % | {dense:F1} | {speedup:F1}x |");
        }
    }

    /// <summary>
    /// Highest flops per (CPU second / threads) over repeats, after <paramref name="warmup"/> calls that let the tiered
    /// JIT promote the hot methods (a method runs unoptimized for its first ~30 calls) and grow the buffers.
    /// </summary>
    private static double Best(int threads, Action action, double flops, int warmup, int repeats = 15)
    {
        for (int i = 0; i < warmup; i++) action();
        var process = System.Diagnostics.Process.GetCurrentProcess();
        double best = 0;
        for (int repeat = 0; repeat < repeats; repeat++)
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
