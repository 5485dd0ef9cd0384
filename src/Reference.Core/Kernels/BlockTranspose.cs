using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Reference.Core.Kernels;

/// <summary>
/// Transpose of one W x W block, W = Vector256&lt;T&gt;.Count (8 floats or 4 doubles), between two
/// strided layouts: how a kernel that keeps W channels in the SIMD lanes turns W channel rows of a
/// [channels, time] tensor into W time-step vectors and back. With AVX the block stays in registers
/// (unpack, shuffle and 128-bit lane permutes: 24 shuffles for 8 x 8 floats, 8 for 4 x 4 doubles);
/// otherwise it is copied element by element. Either way the result is the exact transpose. The 8 x 8 float64
/// AVX-512 form of <c>InRegisters</c> serves SmallGemm's packing of a transposed B.
/// </summary>
public static class BlockTranspose
{
    /// <summary>dst[j * dstStride + i] = src[i * srcStride + j] for i, j &lt; W.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Square<T>(ref T src, nint srcStride, ref T dst, nint dstStride) where T : unmanaged
    {
        if (Avx.IsSupported && typeof(T) == typeof(float))
            Float8x8(ref Unsafe.As<T, float>(ref src), srcStride, ref Unsafe.As<T, float>(ref dst), dstStride);
        else if (Avx.IsSupported && typeof(T) == typeof(double))
            Double4x4(ref Unsafe.As<T, double>(ref src), srcStride, ref Unsafe.As<T, double>(ref dst), dstStride);
        else
        {
            int w = Vector256<T>.Count;
            for (int i = 0; i < w; i++)
                for (int j = 0; j < w; j++)
                    Unsafe.Add(ref dst, j * dstStride + i) = Unsafe.Add(ref src, i * srcStride + j);
        }
    }

    private static void Float8x8(ref float src, nint srcStride, ref float dst, nint dstStride)
    {
        var r0 = Vector256.LoadUnsafe(ref src);
        var r1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, srcStride));
        var r2 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, 2 * srcStride));
        var r3 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, 3 * srcStride));
        var r4 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, 4 * srcStride));
        var r5 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, 5 * srcStride));
        var r6 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, 6 * srcStride));
        var r7 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, 7 * srcStride));
        InRegisters(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
        r0.StoreUnsafe(ref dst);
        r1.StoreUnsafe(ref Unsafe.Add(ref dst, dstStride));
        r2.StoreUnsafe(ref Unsafe.Add(ref dst, 2 * dstStride));
        r3.StoreUnsafe(ref Unsafe.Add(ref dst, 3 * dstStride));
        r4.StoreUnsafe(ref Unsafe.Add(ref dst, 4 * dstStride));
        r5.StoreUnsafe(ref Unsafe.Add(ref dst, 5 * dstStride));
        r6.StoreUnsafe(ref Unsafe.Add(ref dst, 6 * dstStride));
        r7.StoreUnsafe(ref Unsafe.Add(ref dst, 7 * dstStride));
    }

    private static void Double4x4(ref double src, nint srcStride, ref double dst, nint dstStride)
    {
        var r0 = Vector256.LoadUnsafe(ref src);
        var r1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, srcStride));
        var r2 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, 2 * srcStride));
        var r3 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, 3 * srcStride));
        InRegisters(ref r0, ref r1, ref r2, ref r3);
        r0.StoreUnsafe(ref dst);
        r1.StoreUnsafe(ref Unsafe.Add(ref dst, dstStride));
        r2.StoreUnsafe(ref Unsafe.Add(ref dst, 2 * dstStride));
        r3.StoreUnsafe(ref Unsafe.Add(ref dst, 3 * dstStride));
    }

    /// <summary>
    /// In-register 8 x 8 float transpose (requires AVX): rows r0..r7 become columns. Interleave pairs
    /// of rows, then pairs of pairs within each 128-bit half, then swap the halves.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void InRegisters(ref Vector256<float> r0, ref Vector256<float> r1, ref Vector256<float> r2, ref Vector256<float> r3,
        ref Vector256<float> r4, ref Vector256<float> r5, ref Vector256<float> r6, ref Vector256<float> r7)
    {
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var s0 = Avx.Shuffle(t0, t2, 0x44); var s1 = Avx.Shuffle(t0, t2, 0xEE);
        var s2 = Avx.Shuffle(t1, t3, 0x44); var s3 = Avx.Shuffle(t1, t3, 0xEE);
        var s4 = Avx.Shuffle(t4, t6, 0x44); var s5 = Avx.Shuffle(t4, t6, 0xEE);
        var s6 = Avx.Shuffle(t5, t7, 0x44); var s7 = Avx.Shuffle(t5, t7, 0xEE);
        r0 = Avx.Permute2x128(s0, s4, 0x20); r1 = Avx.Permute2x128(s1, s5, 0x20);
        r2 = Avx.Permute2x128(s2, s6, 0x20); r3 = Avx.Permute2x128(s3, s7, 0x20);
        r4 = Avx.Permute2x128(s0, s4, 0x31); r5 = Avx.Permute2x128(s1, s5, 0x31);
        r6 = Avx.Permute2x128(s2, s6, 0x31); r7 = Avx.Permute2x128(s3, s7, 0x31);
    }

    /// <summary>
    /// In-register 8 x 8 double transpose (requires AVX-512F): rows r0..r7 become columns. Interleave pairs of rows
    /// (128-bit lane l of unpacklo(ri, rj) = [ri[2l], rj[2l]], unpackhi: [ri[2l+1], rj[2l+1]]), then two rounds of 128-bit
    /// lane shuffles (0x88 takes lanes 0 and 2 of each operand, 0xDD lanes 1 and 3): 24 shuffles per 64 values.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void InRegisters(ref Vector512<double> r0, ref Vector512<double> r1, ref Vector512<double> r2, ref Vector512<double> r3,
        ref Vector512<double> r4, ref Vector512<double> r5, ref Vector512<double> r6, ref Vector512<double> r7)
    {
        var t0 = Avx512F.UnpackLow(r0, r1); var t1 = Avx512F.UnpackHigh(r0, r1);
        var t2 = Avx512F.UnpackLow(r2, r3); var t3 = Avx512F.UnpackHigh(r2, r3);
        var t4 = Avx512F.UnpackLow(r4, r5); var t5 = Avx512F.UnpackHigh(r4, r5);
        var t6 = Avx512F.UnpackLow(r6, r7); var t7 = Avx512F.UnpackHigh(r6, r7);
        var u0 = Avx512F.Shuffle4x128(t0, t2, 0x88); var u1 = Avx512F.Shuffle4x128(t0, t2, 0xDD);
        var u2 = Avx512F.Shuffle4x128(t1, t3, 0x88); var u3 = Avx512F.Shuffle4x128(t1, t3, 0xDD);
        var v0 = Avx512F.Shuffle4x128(t4, t6, 0x88); var v1 = Avx512F.Shuffle4x128(t4, t6, 0xDD);
        var v2 = Avx512F.Shuffle4x128(t5, t7, 0x88); var v3 = Avx512F.Shuffle4x128(t5, t7, 0xDD);
        r0 = Avx512F.Shuffle4x128(u0, v0, 0x88); r1 = Avx512F.Shuffle4x128(u2, v2, 0x88);
        r2 = Avx512F.Shuffle4x128(u1, v1, 0x88); r3 = Avx512F.Shuffle4x128(u3, v3, 0x88);
        r4 = Avx512F.Shuffle4x128(u0, v0, 0xDD); r5 = Avx512F.Shuffle4x128(u2, v2, 0xDD);
        r6 = Avx512F.Shuffle4x128(u1, v1, 0xDD); r7 = Avx512F.Shuffle4x128(u3, v3, 0xDD);
    }

    /// <summary>In-register 4 x 4 double transpose (requires AVX): rows r0..r3 become columns.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void InRegisters(ref Vector256<double> r0, ref Vector256<double> r1, ref Vector256<double> r2, ref Vector256<double> r3)
    {
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        r0 = Avx.Permute2x128(t0, t2, 0x20); r1 = Avx.Permute2x128(t1, t3, 0x20);
        r2 = Avx.Permute2x128(t0, t2, 0x31); r3 = Avx.Permute2x128(t1, t3, 0x31);
    }
}
