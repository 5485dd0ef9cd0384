using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Reference.Bench;

/// <summary>
/// The FMA peak's loop, x &lt;- x * y + z on 12 registers (12 >= 4-cycle latency x 2 FMA pipes of current x86
/// cores): each chain depends only on itself, so the FMA pipes never wait once 8 or more chains are in
/// flight; 2 flops per lane per FMA. y slightly below 1 keeps the values bounded (no overflow or denormals
/// whatever the iteration count). One file for every bench that puts rates against the peak: Reference.Bench
/// (MachineLimitsBench, CpuTimeRates, SelectiveScanFloor) and, linked into its build, Reference.TorchPeer.
/// </summary>
internal static class FmaChains
{
    /// <summary>Independent chains per thread: each call does Chains FMAs of one vector per iteration.</summary>
    internal const int Chains = 12;

    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static float Float32(long iterations)
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
    internal static double Float64(long iterations)
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
    internal static float Float32x512(long iterations)
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
    internal static double Float64x512(long iterations)
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
