using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Reference.Core;
using Reference.Core.Kernels;
using Reference.Operators.StateSpace;

namespace Reference.Bench;

/// <summary>
/// The selective scan's compute floor and how close the fast tier gets to it, by CPU time:
///   dotnet bench/Reference.Bench/bin/Release/net10.0/Reference.Bench.dll --scan-floor
/// Problem: SelectiveScanBench's, B 1, D 1024, N 16, L 2048, float32, with skip, gate and delta bias.
/// Floor: every (channel, state, step) pair needs its own decay exp(Delta_t A_n) (nothing is shared
/// across n or t for learned A), the state update x = decay x + (Delta u) B (one multiply, one FMA)
/// and the read-out y += C x (one FMA): per pair one vector exp including its Delta A multiply, plus
/// three FMA-pipe operations, sixteen pairs per Vector512. Both unit costs are measured here, in the
/// same run, on register-resident data: the exp (VectorMath.Exp2Decay, Vector512) as the throughput
/// of 12 independent chains y = 2^(m y), the FMA as the throughput of 12 independent FMA chains
/// (MachineLimitsBench's). floor = D N L / 16 (t_exp + 3 t_fma). Everything else the scan does (the
/// softplus and Delta u per (channel, step), the gate, the transposes, loads and stores) is above it.
/// The scan's CPU time (process CPU seconds, best of 9 after warm-up, through ForwardFastInto so no
/// call touches fresh pages) is compared with the floor: at 2 threads the floor is per core, so the
/// CPU time summed over both threads is compared with the one-core floor (and the best wall time with
/// half of it, for what it is worth on a shared machine).
/// </summary>
public static class SelectiveScanFloor
{
    private const int Channels = 1024, State = 16, Length = 2048;
    private const long ExpIterations = 4_000_000, FmaIterations = 20_000_000;

    public static void Run()
    {
        if (!Avx512F.IsSupported || !Vector512.IsHardwareAccelerated)
        {
            Console.WriteLine("The floor is stated for the AVX-512 path (Vector512); this process has no AVX-512.");
            return;
        }
        double pairs = (double)Channels * State * Length, vectors = pairs / Vector512<float>.Count;
        double tExp = BestCpuSeconds(() => ExpChains(ExpIterations), 1) / (ExpIterations * 12.0);
        double tFma = BestCpuSeconds(() => FmaChains.Float32x512(FmaIterations), 1) / (FmaIterations * 12.0);
        double floor = vectors * (tExp + 3 * tFma);
        Console.WriteLine($"Selective scan B1 D{Channels} N{State} L{Length} float32; load average {LoadAverage()}");
        Console.WriteLine($"vector exp (Vector512, with its Delta A multiply): {tExp * 1e9:F2} ns per 16 lanes; FMA: {tFma * 1e9:F3} ns per 16 lanes");
        Console.WriteLine($"floor = {vectors / 1e6:F2} M vectors x ({tExp * 1e9:F2} + 3 x {tFma * 1e9:F3}) ns = {floor * 1e3:F2} ms per core " +
            $"(exp {vectors * tExp * 1e3:F2} ms, FMAs {vectors * 3 * tFma * 1e3:F2} ms)");
        var rng = new SplitMix64(6);
        var u = rng.NormalTensor<float>(0, 1, 1, Channels, Length);
        var delta = rng.NormalTensor<float>(-2.5, 1, 1, Channels, Length);
        var aLog = SelectiveScan.InitialALog(Channels, State).Cast<float>();
        var b = rng.NormalTensor<float>(0, 1, 1, 1, State, Length);
        var c = rng.NormalTensor<float>(0, 1, 1, 1, State, Length);
        var d = Tensor<float>.Full(1f, Channels);
        var z = rng.NormalTensor<float>(0, 1, 1, Channels, Length);
        var bias = rng.NormalTensor<float>(0, 0.5, Channels);
        var y = Tensor<float>.Zeros(1, Channels, Length);
        Console.WriteLine("| Threads | CPU ms (sum over threads) | floor ms | of floor (CPU) | best wall ms | floor / threads | of floor (wall) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (int threads in new[] { 1, 2 })
        {
            void Scan() => SelectiveScan.ForwardFastInto(y, u, delta, aLog, b, c, d, z, bias, threads);
            double cpu = BestCpuSeconds(Scan, 9);
            double wall = BestWallSeconds(Scan, 9);
            Console.WriteLine($"| {threads} | {cpu * 1e3:F2} | {floor * 1e3:F2} | {100 * floor / cpu:F0} % | {wall * 1e3:F2} | {floor / threads * 1e3:F2} | {100 * floor / threads / wall:F0} % |");
        }
        Console.WriteLine($"load average at the end {LoadAverage()}");
    }

    /// <summary>12 independent chains y = 2^(m y), m = -1.3: y stays in [0.4, 1], one multiply and one exp per step.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float ExpChains(long iterations)
    {
        var m = Vector512.Create(-1.3f);
        var x0 = Vector512.Create(0.5f); var x1 = Vector512.Create(0.6f); var x2 = Vector512.Create(0.7f);
        var x3 = Vector512.Create(0.8f); var x4 = Vector512.Create(0.9f); var x5 = Vector512.Create(0.55f);
        var x6 = Vector512.Create(0.65f); var x7 = Vector512.Create(0.75f); var x8 = Vector512.Create(0.85f);
        var x9 = Vector512.Create(0.95f); var x10 = Vector512.Create(0.45f); var x11 = Vector512.Create(0.42f);
        for (long i = 0; i < iterations; i++)
        {
            x0 = VectorMath.Exp2Decay(x0 * m); x1 = VectorMath.Exp2Decay(x1 * m); x2 = VectorMath.Exp2Decay(x2 * m);
            x3 = VectorMath.Exp2Decay(x3 * m); x4 = VectorMath.Exp2Decay(x4 * m); x5 = VectorMath.Exp2Decay(x5 * m);
            x6 = VectorMath.Exp2Decay(x6 * m); x7 = VectorMath.Exp2Decay(x7 * m); x8 = VectorMath.Exp2Decay(x8 * m);
            x9 = VectorMath.Exp2Decay(x9 * m); x10 = VectorMath.Exp2Decay(x10 * m); x11 = VectorMath.Exp2Decay(x11 * m);
        }
        return Vector512.Sum(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11);
    }

    /// <summary>
    /// Least process CPU time of one call (clock_gettime, ns resolution) over the repeats, after warm-up calls for at
    /// least 30 calls and one second: on an idle machine one warm-up call left the tiered JIT's unoptimized code in the
    /// measurement (the scan read 25-27 % of its floor instead of 54-60 %).
    /// </summary>
    internal static double BestCpuSeconds(Action action, int repeats)
    {
        var warm = Stopwatch.StartNew();
        for (int calls = 0; calls < 30 || warm.Elapsed.TotalSeconds < 1; calls++) action();
        double best = double.MaxValue;
        for (int r = 0; r < repeats; r++)
        {
            double start = GlaCpuTime.CpuSeconds();
            action();
            best = Math.Min(best, GlaCpuTime.CpuSeconds() - start);
        }
        return best;
    }

    internal static double BestWallSeconds(Action action, int repeats)
    {
        double best = double.MaxValue;
        for (int r = 0; r < repeats; r++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return best;
    }

    internal static string LoadAverage()
    {
        try
        {
            return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
