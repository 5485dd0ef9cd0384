using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BenchmarkDotNet.Attributes;

namespace Reference.Bench;

/// <summary>
/// The machine's limits, measured by the bench itself so that kernels can be reported as a fraction
/// of them in the same run (run together with the kernels and --join):
/// - FMA peak: 12 independent Vector256 FMA chains held in registers per thread (12 >= 4-cycle
///   latency x 2 FMA pipes of current x86 cores), float32 and float64, on 1 and 2 threads.
///   2 flops per lane per FMA.
/// - Triad bandwidth: a[i] = b[i] + s c[i] over three float64 arrays of 64 MB each (>> L3), split
///   into contiguous halves for 2 threads; 24 bytes per element (STREAM counting).
/// </summary>
[Config(typeof(ThroughputConfig))]
public class MachineLimitsBench : IWorkload
{
    private const long FmaIterations = 20_000_000;
    private const int TriadLength = 1 << 23;

    private double[] a = [], b = [], c = [];

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup(Target = nameof(Triad))]
    public void SetupTriad()
    {
        a = new double[TriadLength];
        b = new double[TriadLength];
        c = new double[TriadLength];
        Array.Fill(b, 1.0);
        Array.Fill(c, 2.0);
    }

    [Benchmark]
    public float FmaPeak32()
    {
        if (!Fma.IsSupported) throw new PlatformNotSupportedException("FMA is not enabled in this process.");
        var sums = new float[Threads];
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t => sums[t] = FmaChains.Float32(FmaIterations));
        return sums.Sum();
    }

    [Benchmark]
    public double FmaPeak64()
    {
        if (!Fma.IsSupported) throw new PlatformNotSupportedException("FMA is not enabled in this process.");
        var sums = new double[Threads];
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t => sums[t] = FmaChains.Float64(FmaIterations));
        return sums.Sum();
    }

    /// <summary>
    /// The same 12 chains on Vector512 (AVX-512F): the peak for FastGemm's Vector512 kernel (where the
    /// JIT accelerates Vector512); cores that split 512-bit FMAs into two 256-bit halves (Zen 4) show
    /// the Vector256 rate here.
    /// </summary>
    [Benchmark]
    public float FmaPeak32x512()
    {
        if (!Vector512.IsHardwareAccelerated || !Avx512F.IsSupported) throw new PlatformNotSupportedException("AVX-512F is not enabled in this process.");
        var sums = new float[Threads];
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t => sums[t] = FmaChains.Float32x512(FmaIterations));
        return sums.Sum();
    }

    [Benchmark]
    public double FmaPeak64x512()
    {
        if (!Vector512.IsHardwareAccelerated || !Avx512F.IsSupported) throw new PlatformNotSupportedException("AVX-512F is not enabled in this process.");
        var sums = new double[Threads];
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t => sums[t] = FmaChains.Float64x512(FmaIterations));
        return sums.Sum();
    }

    [Benchmark]
    public void Triad()
    {
        int chunk = TriadLength / Threads;
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t =>
        {
            int start = t * chunk, length = t == Threads - 1 ? TriadLength - start : chunk;
            TensorPrimitives.MultiplyAdd(c.AsSpan(start, length), 3.0, b.AsSpan(start, length), a.AsSpan(start, length));
        });
    }

    public double Work(string method) => method switch
    {
        nameof(FmaPeak32) => 2.0 * Threads * FmaIterations * FmaChains.Chains * Vector256<float>.Count,
        nameof(FmaPeak64) => 2.0 * Threads * FmaIterations * FmaChains.Chains * Vector256<double>.Count,
        nameof(FmaPeak32x512) => 2.0 * Threads * FmaIterations * FmaChains.Chains * Vector512<float>.Count,
        nameof(FmaPeak64x512) => 2.0 * Threads * FmaIterations * FmaChains.Chains * Vector512<double>.Count,
        nameof(Triad) => 3.0 * sizeof(double) * TriadLength,
        _ => 0,
    };

    public string Unit(string method) => method == nameof(Triad) ? "GB/s" : "GFLOP/s";

    public string? PeakMethod(string method) => method == nameof(Triad) ? null : method;
}
