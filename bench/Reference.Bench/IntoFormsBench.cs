using BenchmarkDotNet.Attributes;
using Reference.Core;
using Reference.Core.Fourier;
using Reference.Ess;
using Reference.Operators.Attention;
using Reference.Operators.Recurrence;
using Reference.Operators.StateSpace;

namespace Reference.Bench;

/// <summary>
/// The fast tiers at the sizes of their own benches, each as the allocating call and as the Into call
/// that writes into a kept output with per-thread workspaces (SelectiveScanBench, S4DKernelBench,
/// GlaBench, AttentionBench, FftConvolutionBench, EssSingularValuesBench). On these VMs the first touch
/// of a fresh page costs ~15-20 us and .NET gives large freed arrays back to the OS, so the allocating
/// form pays page faults on some calls and not others; the Into form should not (its Allocated column
/// is the check). Used by <see cref="IntoFormsBench"/> (BenchmarkDotNet) and <see cref="IntoFormsCpuTime"/>.
/// </summary>
public sealed class IntoTiers
{
    public static readonly string[] Names = ["scan", "s4d", "gla", "attention", "fftconv", "ess"];

    private readonly Tensor<float> u, delta, aLog, b, c, d, z, bias, scanOut;
    private readonly S4DParameters s4d;
    private readonly Tensor<float> s4dOut;
    private readonly Tensor<float> gq, gk, gv, gg, glaOut;
    private readonly Tensor<float> aq, ak, av, attOut;
    private readonly float[] cu, ck, cy;
    private readonly Tensor<double> essT, essOut;
    private readonly EssOptions essOptions = new(EssMode.Entropy);

    private const int ScanD = 1024, ScanN = 16, ScanL = 2048, S4DH = 256, S4DN = 64, S4DL = 4096, ConvC = 256, ConvL = 4096, EssC = 2, EssL = 256;

    public IntoTiers()
    {
        var rng = new SplitMix64(6);
        u = rng.NormalTensor<float>(0, 1, 1, ScanD, ScanL);
        delta = rng.NormalTensor<float>(-2.5, 1, 1, ScanD, ScanL);
        aLog = SelectiveScan.InitialALog(ScanD, ScanN).Cast<float>();
        b = rng.NormalTensor<float>(0, 1, 1, 1, ScanN, ScanL);
        c = rng.NormalTensor<float>(0, 1, 1, 1, ScanN, ScanL);
        d = Tensor<float>.Full(1f, ScanD);
        z = rng.NormalTensor<float>(0, 1, 1, ScanD, ScanL);
        bias = rng.NormalTensor<float>(0, 0.5, ScanD);
        scanOut = Tensor<float>.Zeros(1, ScanD, ScanL);
        s4d = S4DParameters.Initialize(new SplitMix64(3), S4DH, S4DN, S4DInit.Lin);
        s4dOut = Tensor<float>.Zeros(S4DH, S4DL);
        gq = rng.NormalTensor<float>(0, 1, 1, 2, 2048, 64);
        gk = rng.NormalTensor<float>(0, 1, 1, 2, 2048, 64);
        gv = rng.NormalTensor<float>(0, 1, 1, 2, 2048, 64);
        gg = GatedLinearAttention.LogSigmoidGate(rng.NormalTensor<double>(0, 1, 1, 2, 2048, 64)).Cast<float>();
        glaOut = Tensor<float>.Zeros(1, 2, 2048, 64);
        aq = rng.NormalTensor<float>(0, 1, 1, 8, 1024, 64);
        ak = rng.NormalTensor<float>(0, 1, 1, 8, 1024, 64);
        av = rng.NormalTensor<float>(0, 1, 1, 8, 1024, 64);
        attOut = Tensor<float>.Zeros(1, 8, 1024, 64);
        cu = rng.NormalTensor<float>(0, 1, ConvC, ConvL).Data;
        ck = rng.NormalTensor<float>(0, 1, ConvC, ConvL).Data;
        cy = new float[ConvC * ConvL];
        essT = rng.NormalTensor<double>(0, 1, EssC, EssL, EssL);
        for (int m = 0; m < EssC; m++)
            for (int i = 0; i < EssL; i++)
                for (int j = i + 1; j < EssL; j++) essT.Data[(m * EssL + i) * EssL + j] = 0;
        essOut = Tensor<double>.Zeros(EssC, EssL - 1);
    }

    /// <summary>The allocating call of tier <paramref name="name"/> on <paramref name="threads"/> threads; returns the output.</summary>
    public object Allocating(string name, int threads) => name switch
    {
        "scan" => SelectiveScan.ForwardFast(u, delta, aLog, b, c, d, z, bias, threads),
        "s4d" => S4D.KernelFast<float>(s4d, S4DL, Discretization.Zoh, threads),
        "gla" => GatedLinearAttention.ChunkedFast(gq, gk, gv, gg, maxThreads: threads),
        "attention" => SoftmaxAttention.ForwardFast(aq, ak, av, maxThreads: threads),
        "fftconv" => ConvAllocating(threads),
        "ess" => EffectiveStateSize.Compute(essT, essOptions, maxThreads: threads),
        _ => throw new ArgumentException($"unknown tier {name}", nameof(name)),
    };

    /// <summary>The Into call of tier <paramref name="name"/>, writing the kept output.</summary>
    public void Into(string name, int threads)
    {
        switch (name)
        {
            case "scan": SelectiveScan.ForwardFastInto(scanOut, u, delta, aLog, b, c, d, z, bias, threads); break;
            case "s4d": S4D.KernelFastInto(s4dOut, s4d, S4DL, Discretization.Zoh, threads); break;
            case "gla": GatedLinearAttention.ChunkedFastInto(glaOut, gq, gk, gv, gg, maxThreads: threads); break;
            case "attention": SoftmaxAttention.ForwardFastInto(attOut, aq, ak, av, maxThreads: threads); break;
            case "fftconv": FftConvolution.Causal<float>(cu, ck, cy, ConvC, ConvL, ConvL, threads); break;
            case "ess": EffectiveStateSize.ComputeInto(essOut, essT, essOptions, maxThreads: threads); break;
            default: throw new ArgumentException($"unknown tier {name}", nameof(name));
        }
    }

    private float[] ConvAllocating(int threads)
    {
        var y = new float[ConvC * ConvL];
        FftConvolution.Causal<float>(cu, ck, y, ConvC, ConvL, ConvL, threads);
        return y;
    }
}

/// <summary>
/// BenchmarkDotNet view of <see cref="IntoTiers"/>: allocating vs Into per tier and thread count, with the
/// median and the allocation column. Short jobs, one tier at a time, e.g.
///   dotnet run -c Release --project bench/Reference.Bench -- --filter '*IntoFormsBench*' --job short --inProcess --anyCategories scan
/// </summary>
[MemoryDiagnoser, MedianColumn, MinColumn]
[GroupBenchmarksBy(BenchmarkDotNet.Configs.BenchmarkLogicalGroupRule.ByCategory)]
public class IntoFormsBench
{
    private IntoTiers tiers = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup() => tiers = new IntoTiers();

    [Benchmark(Baseline = true), BenchmarkCategory("scan")] public object ScanAllocating() => tiers.Allocating("scan", Threads);
    [Benchmark, BenchmarkCategory("scan")] public void ScanInto() => tiers.Into("scan", Threads);
    [Benchmark(Baseline = true), BenchmarkCategory("s4d")] public object S4DAllocating() => tiers.Allocating("s4d", Threads);
    [Benchmark, BenchmarkCategory("s4d")] public void S4DInto() => tiers.Into("s4d", Threads);
    [Benchmark(Baseline = true), BenchmarkCategory("gla")] public object GlaAllocating() => tiers.Allocating("gla", Threads);
    [Benchmark, BenchmarkCategory("gla")] public void GlaInto() => tiers.Into("gla", Threads);
    [Benchmark(Baseline = true), BenchmarkCategory("attention")] public object AttentionAllocating() => tiers.Allocating("attention", Threads);
    [Benchmark, BenchmarkCategory("attention")] public void AttentionInto() => tiers.Into("attention", Threads);
    [Benchmark(Baseline = true), BenchmarkCategory("fftconv")] public object FftConvAllocating() => tiers.Allocating("fftconv", Threads);
    [Benchmark, BenchmarkCategory("fftconv")] public void FftConvInto() => tiers.Into("fftconv", Threads);
    [Benchmark(Baseline = true), BenchmarkCategory("ess")] public object EssAllocating() => tiers.Allocating("ess", Threads);
    [Benchmark, BenchmarkCategory("ess")] public void EssInto() => tiers.Into("ess", Threads);
}

/// <summary>
/// Allocating vs Into per tier by per-call times, for a shared machine:
///   dotnet bench/Reference.Bench/bin/Release/net10.0/Reference.Bench.dll --into-cpu-time [tier]
/// The two forms' calls are interleaved (25 each after 3 warm-ups); for each form the median and the
/// least per-call wall time and process CPU time (clock_gettime, kernel time included, so page faults
/// count), and the bytes the calling thread allocated per call (GC.GetAllocatedBytesForCurrentThread;
/// worker threads' allocations are not in it: the BenchmarkDotNet table has those). The ratio columns are
/// the target: the Into median against the time of calls without fresh pages, read both as the
/// allocating form's best call and as the Into form's own best call (wall and CPU time). The last column,
/// the Into median CPU time over the Into median wall time, is how many cores a typical call had: ~2 at two
/// threads when the second core was free, ~1 or below when the caller and its helper took turns on one core
/// (other processes on the machine). A two-thread wall ratio measures those processes as much as the tier:
/// under a competitor that took the second core half the time, every tier's two-thread ratio rose to
/// 1.3-1.4 (bench/NOTES.md, gemm6 section). The last column, the share of the Into calls' parallel items run on a
/// helper (ParallelItems.HelperItems; ~0.5 at two threads when the helper took its half), tells a row whose helper was
/// not there from one whose calls were slow (bench/NOTES.md, glainto section).
/// </summary>
public static class IntoFormsCpuTime
{
    public static void Run(string? only)
    {
        var tiers = new IntoTiers();
        Console.WriteLine($"Allocating vs Into, per call; load average {SelectiveScanFloor.LoadAverage()}");
        Console.WriteLine("| Tier | Threads | alloc median wall ms | alloc min wall ms | Into median wall ms | Into min wall ms | alloc median CPU ms | Into median CPU ms | Into min CPU ms | " +
            "Into median / alloc min (wall) | Into median / Into min (wall) | Into median / Into min (CPU) | Into B/call (caller) | Into cores (median CPU / median wall) | Into items on helpers |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var name in IntoTiers.Names)
        {
            if (only is not null && only != name) continue;
            foreach (int threads in new[] { 1, 2 })
            {
                for (int w = 0; w < 3; w++)
                {
                    tiers.Allocating(name, threads);
                    tiers.Into(name, threads);
                }
                const int Calls = 25;
                var allocWall = new double[Calls]; var allocCpu = new double[Calls];
                var intoWall = new double[Calls]; var intoCpu = new double[Calls];
                long intoBytes = 0, intoItems = 0, intoHelper = 0;
                for (int i = 0; i < Calls; i++)
                {
                    (allocWall[i], allocCpu[i]) = Time(() => tiers.Allocating(name, threads));
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    long d0 = Reference.Core.Kernels.ParallelItems.DispatchedItems, h0 = Reference.Core.Kernels.ParallelItems.HelperItems;
                    (intoWall[i], intoCpu[i]) = Time(() => tiers.Into(name, threads));
                    intoBytes += GC.GetAllocatedBytesForCurrentThread() - before;
                    Thread.SpinWait(2000);   // the helper adds its count just after the call returns
                    (intoItems, intoHelper) = (intoItems + Reference.Core.Kernels.ParallelItems.DispatchedItems - d0, intoHelper + Reference.Core.Kernels.ParallelItems.HelperItems - h0);
                }
                Console.WriteLine($"| {name} | {threads} | {Median(allocWall):F2} | {allocWall.Min():F2} | {Median(intoWall):F2} | {intoWall.Min():F2} | " +
                    $"{Median(allocCpu):F2} | {Median(intoCpu):F2} | {intoCpu.Min():F2} | {Median(intoWall) / allocWall.Min():F2} | " +
                    $"{Median(intoWall) / intoWall.Min():F2} | {Median(intoCpu) / intoCpu.Min():F2} | {intoBytes / Calls} | {Median(intoCpu) / Median(intoWall):F2} | {(intoItems == 0 ? 0 : (double)intoHelper / intoItems):F2} |");
            }
        }
        Console.WriteLine($"load average at the end {SelectiveScanFloor.LoadAverage()}");
    }

    private static (double WallMs, double CpuMs) Time(Action call)
    {
        double cpu = GlaCpuTime.CpuSeconds();
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        call();
        double wall = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        return (wall, (GlaCpuTime.CpuSeconds() - cpu) * 1e3);
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : 0.5 * (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]);
    }
}
