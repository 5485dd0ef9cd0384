using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Reference.Core.Fourier;

/// <summary>
/// Data movement of the real FFT: packing a real sequence as complex pairs (x[2j], x[2j+1]) into
/// split storage, unpacking it back, and reversing vector lanes for the k / (h - k) pairing.
/// Pure permutations (and one scale), so the Avx paths and the scalar loops give identical bits.
/// </summary>
internal static class SplitComplexLayout
{
    private static bool Vectors<T>() where T : unmanaged =>
        Avx.IsSupported && Vector256.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double));

    /// <summary>re[j] = x[2j], im[j] = x[2j+1] for j &lt; re.Length, reading zeros past the end of x (x.Length &lt;= 2 re.Length).</summary>
    public static void Deinterleave<T>(ReadOnlySpan<T> x, Span<T> re, Span<T> im) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int pairs = x.Length / 2, j = 0;
        if (Vectors<T>())
        {
            int lanes = Vector256<T>.Count;
            ref T px = ref MemoryMarshal.GetReference(x);
            ref T pr = ref MemoryMarshal.GetReference(re);
            ref T pi = ref MemoryMarshal.GetReference(im);
            for (; j <= pairs - lanes; j += lanes)
            {
                var v0 = Vector256.LoadUnsafe(ref px, (nuint)(2 * j));
                var v1 = Vector256.LoadUnsafe(ref px, (nuint)(2 * j + lanes));
                if (typeof(T) == typeof(float))
                {
                    // [a0 b0 a1 b1 | a4 b4 a5 b5] and [a2 b2 a3 b3 | a6 b6 a7 b7], then pick evens / odds.
                    var lo = Avx.Permute2x128(v0.AsSingle(), v1.AsSingle(), 0x20);
                    var hi = Avx.Permute2x128(v0.AsSingle(), v1.AsSingle(), 0x31);
                    Avx.Shuffle(lo, hi, 0x88).As<float, T>().StoreUnsafe(ref pr, (nuint)j);
                    Avx.Shuffle(lo, hi, 0xDD).As<float, T>().StoreUnsafe(ref pi, (nuint)j);
                }
                else
                {
                    var lo = Avx.Permute2x128(v0.AsDouble(), v1.AsDouble(), 0x20);
                    var hi = Avx.Permute2x128(v0.AsDouble(), v1.AsDouble(), 0x31);
                    Avx.UnpackLow(lo, hi).As<double, T>().StoreUnsafe(ref pr, (nuint)j);
                    Avx.UnpackHigh(lo, hi).As<double, T>().StoreUnsafe(ref pi, (nuint)j);
                }
            }
        }
        for (; j < pairs; j++)
        {
            re[j] = x[2 * j];
            im[j] = x[2 * j + 1];
        }
        if (j < re.Length && x.Length % 2 == 1)
        {
            re[j] = x[2 * j];
            im[j] = T.Zero;
            j++;
        }
        re[j..].Clear();
        im[j..].Clear();
    }

    /// <summary>x[2j] = scale re[j], x[2j+1] = scale im[j] for 2j (+1) &lt; x.Length (x.Length &lt;= 2 re.Length).</summary>
    public static void Interleave<T>(ReadOnlySpan<T> re, ReadOnlySpan<T> im, T scale, Span<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int pairs = x.Length / 2, j = 0;
        if (Vectors<T>())
        {
            int lanes = Vector256<T>.Count;
            ref T px = ref MemoryMarshal.GetReference(x);
            ref T pr = ref MemoryMarshal.GetReference(re);
            ref T pi = ref MemoryMarshal.GetReference(im);
            var s = Vector256.Create(scale);
            for (; j <= pairs - lanes; j += lanes)
            {
                var r = Vector256.LoadUnsafe(ref pr, (nuint)j) * s;
                var i = Vector256.LoadUnsafe(ref pi, (nuint)j) * s;
                Vector256<T> lo, hi;
                if (typeof(T) == typeof(float))
                {
                    var l = Avx.UnpackLow(r.AsSingle(), i.AsSingle());
                    var h = Avx.UnpackHigh(r.AsSingle(), i.AsSingle());
                    lo = Avx.Permute2x128(l, h, 0x20).As<float, T>();
                    hi = Avx.Permute2x128(l, h, 0x31).As<float, T>();
                }
                else
                {
                    var l = Avx.UnpackLow(r.AsDouble(), i.AsDouble());
                    var h = Avx.UnpackHigh(r.AsDouble(), i.AsDouble());
                    lo = Avx.Permute2x128(l, h, 0x20).As<double, T>();
                    hi = Avx.Permute2x128(l, h, 0x31).As<double, T>();
                }
                lo.StoreUnsafe(ref px, (nuint)(2 * j));
                hi.StoreUnsafe(ref px, (nuint)(2 * j + lanes));
            }
        }
        for (; j < pairs; j++)
        {
            x[2 * j] = re[j] * scale;
            x[2 * j + 1] = im[j] * scale;
        }
        if (x.Length % 2 == 1) x[2 * j] = re[j] * scale;
    }

    /// <summary>Lanes in reverse order (float or double Vector256; requires Avx).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Reverse<T>(Vector256<T> v) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            var w = Avx.Permute(v.AsSingle(), 0x1B);
            return Avx.Permute2x128(w, w, 0x01).As<float, T>();
        }
        var d = Avx.Permute(v.AsDouble(), 0x5);
        return Avx.Permute2x128(d, d, 0x01).As<double, T>();
    }

    public static bool CanReverse<T>() where T : unmanaged => Vectors<T>();

    /// <summary>Lanes in reverse order (float or double Vector512; requires Avx512F).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Reverse<T>(Vector512<T> v) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
            return Avx512F.PermuteVar16x32(v.AsSingle(), Vector512.Create(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)).As<float, T>();
        return Avx512F.PermuteVar8x64(v.AsDouble(), Vector512.Create(7L, 6, 5, 4, 3, 2, 1, 0)).As<double, T>();
    }

    /// <summary>Whether <see cref="Reverse{T}(Vector512{T})"/> and 512-bit loops run for T here.</summary>
    public static bool CanReverse512<T>() where T : unmanaged => Vectors<T>() && Avx512F.IsSupported && Vector512.IsHardwareAccelerated;
}
