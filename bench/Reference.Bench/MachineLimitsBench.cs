using System.Runtime.CompilerServices;
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
    private const int Chains = 12;
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
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t => sums[t] = ChainsFloat32(FmaIterations));
        return sums.Sum();
    }

    [Benchmark]
    public double FmaPeak64()
    {
        if (!Fma.IsSupported) throw new PlatformNotSupportedException("FMA is not enabled in this process.");
        var sums = new double[Threads];
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t => sums[t] = ChainsFloat64(FmaIterations));
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
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t => sums[t] = ChainsFloat32x512(FmaIterations));
        return sums.Sum();
    }

    [Benchmark]
    public double FmaPeak64x512()
    {
        if (!Vector512.IsHardwareAccelerated || !Avx512F.IsSupported) throw new PlatformNotSupportedException("AVX-512F is not enabled in this process.");
        var sums = new double[Threads];
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t => sums[t] = ChainsFloat64x512(FmaIterations));
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
        nameof(FmaPeak32) => 2.0 * Threads * FmaIterations * Chains * Vector256<float>.Count,
        nameof(FmaPeak64) => 2.0 * Threads * FmaIterations * Chains * Vector256<double>.Count,
        nameof(FmaPeak32x512) => 2.0 * Threads * FmaIterations * Chains * Vector512<float>.Count,
        nameof(FmaPeak64x512) => 2.0 * Threads * FmaIterations * Chains * Vector512<double>.Count,
        nameof(Triad) => 3.0 * sizeof(double) * TriadLength,
        _ => 0,
    };

    public string Unit(string method) => method == nameof(Triad) ? "GB/s" : "GFLOP/s";

    public string? PeakMethod(string method) => method == nameof(Triad) ? null : method;

    // x <- x * y + z on 12 registers: each chain depends only on itself, so the FMA pipes never wait
    // once 8 or more chains are in flight. y slightly below 1 keeps the values bounded (no overflow or
    // denormals whatever the iteration count).
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static float ChainsFloat32(long iterations)
    {
        var y = Vector256.Create(0.999f);
        var z = Vector256.Create(0.001f);
        var x0 = Vector256.Create(1f); var x1 = x0; var x2 = x0; var x3 = x0; var x4 = x0; var x5 = x0;
        var x6 = x0; var x7 = x0; var x8 = x0; var x9 = x0; var x10 = x0; var x11 = x0;
        for (long i = 0; i < iterations; i++)
        {
            x0 = Fma.MultiplyAdd(x0, y, z); x1 = Fma.MultiplyAdd(x1, y, z); x2 = Fma.MultiplyAdd(x2, y, z);
            x3 = Fma.MultiplyAdd(x3, y, z); x4 = Fma.MultiplyAdd(x4, y, z); x5 = Fma.MultiplyAdd(x5, y, z);
            x6 = Fma.MultiplyAdd(x6, y, z); x7 = Fma.MultiplyAdd(x7, y, z); x8 = Fma.MultiplyAdd(x8, y, z);
            x9 = Fma.MultiplyAdd(x9, y, z); x10 = Fma.MultiplyAdd(x10, y, z); x11 = Fma.MultiplyAdd(x11, y, z);
        }
        return Vector256.Sum(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static double ChainsFloat64(long iterations)
    {
        var y = Vector256.Create(0.999);
        var z = Vector256.Create(0.001);
        var x0 = Vector256.Create(1.0); var x1 = x0; var x2 = x0; var x3 = x0; var x4 = x0; var x5 = x0;
        var x6 = x0; var x7 = x0; var x8 = x0; var x9 = x0; var x10 = x0; var x11 = x0;
        for (long i = 0; i < iterations; i++)
        {
            x0 = Fma.MultiplyAdd(x0, y, z); x1 = Fma.MultiplyAdd(x1, y, z); x2 = Fma.MultiplyAdd(x2, y, z);
            x3 = Fma.MultiplyAdd(x3, y, z); x4 = Fma.MultiplyAdd(x4, y, z); x5 = Fma.MultiplyAdd(x5, y, z);
            x6 = Fma.MultiplyAdd(x6, y, z); x7 = Fma.MultiplyAdd(x7, y, z); x8 = Fma.MultiplyAdd(x8, y, z);
            x9 = Fma.MultiplyAdd(x9, y, z); x10 = Fma.MultiplyAdd(x10, y, z); x11 = Fma.MultiplyAdd(x11, y, z);
        }
        return Vector256.Sum(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static float ChainsFloat32x512(long iterations)
    {
        var y = Vector512.Create(0.999f);
        var z = Vector512.Create(0.001f);
        var x0 = Vector512.Create(1f); var x1 = x0; var x2 = x0; var x3 = x0; var x4 = x0; var x5 = x0;
        var x6 = x0; var x7 = x0; var x8 = x0; var x9 = x0; var x10 = x0; var x11 = x0;
        for (long i = 0; i < iterations; i++)
        {
            x0 = Avx512F.FusedMultiplyAdd(x0, y, z); x1 = Avx512F.FusedMultiplyAdd(x1, y, z); x2 = Avx512F.FusedMultiplyAdd(x2, y, z);
            x3 = Avx512F.FusedMultiplyAdd(x3, y, z); x4 = Avx512F.FusedMultiplyAdd(x4, y, z); x5 = Avx512F.FusedMultiplyAdd(x5, y, z);
            x6 = Avx512F.FusedMultiplyAdd(x6, y, z); x7 = Avx512F.FusedMultiplyAdd(x7, y, z); x8 = Avx512F.FusedMultiplyAdd(x8, y, z);
            x9 = Avx512F.FusedMultiplyAdd(x9, y, z); x10 = Avx512F.FusedMultiplyAdd(x10, y, z); x11 = Avx512F.FusedMultiplyAdd(x11, y, z);
        }
        return Vector512.Sum(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static double ChainsFloat64x512(long iterations)
    {
        var y = Vector512.Create(0.999);
        var z = Vector512.Create(0.001);
        var x0 = Vector512.Create(1.0); var x1 = x0; var x2 = x0; var x3 = x0; var x4 = x0; var x5 = x0;
        var x6 = x0; var x7 = x0; var x8 = x0; var x9 = x0; var x10 = x0; var x11 = x0;
        for (long i = 0; i < iterations; i++)
        {
            x0 = Avx512F.FusedMultiplyAdd(x0, y, z); x1 = Avx512F.FusedMultiplyAdd(x1, y, z); x2 = Avx512F.FusedMultiplyAdd(x2, y, z);
            x3 = Avx512F.FusedMultiplyAdd(x3, y, z); x4 = Avx512F.FusedMultiplyAdd(x4, y, z); x5 = Avx512F.FusedMultiplyAdd(x5, y, z);
            x6 = Avx512F.FusedMultiplyAdd(x6, y, z); x7 = Avx512F.FusedMultiplyAdd(x7, y, z); x8 = Avx512F.FusedMultiplyAdd(x8, y, z);
            x9 = Avx512F.FusedMultiplyAdd(x9, y, z); x10 = Avx512F.FusedMultiplyAdd(x10, y, z); x11 = Avx512F.FusedMultiplyAdd(x11, y, z);
        }
        return Vector512.Sum(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11);
    }
}
