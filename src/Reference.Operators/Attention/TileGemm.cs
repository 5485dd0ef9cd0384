using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Reference.Core.Kernels;

namespace Reference.Operators.Attention;

/// <summary>
/// The small register-blocked product used by the fast (tiled) attention kernels:
/// C[m x n] (+)= A[m x k] B[k x n], all three row-major with leading dimensions lda, ldb, ldc.
/// Tiles are at most a few dozen rows, so there is no packing and no threading here: the callers
/// parallelise over heads and tiles. The inner block keeps 4 rows x 2 vectors of C in registers and
/// streams one row of B per step (one broadcast of A per row, FMA).
/// Reduction order: for each C element the products are added for p = 0..k-1 in order (with FMA),
/// so results differ from a float64 naive sum only by rounding.
/// </summary>
internal static class TileGemm
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> Fma<T>(Vector256<T> a, Vector256<T> b, Vector256<T> c)
    {
        if (typeof(T) == typeof(float))
            return Vector256.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector256.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
        return a * b + c;
    }

    /// <summary>C = A B (accumulate = false) or C += A B (accumulate = true).</summary>
    public static void Multiply<T>(int m, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        Span<T> c, int ldc, bool accumulate) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m == 0 || n == 0) return;
        ref T ra = ref MemoryMarshal.GetReference(a);
        ref T rb = ref MemoryMarshal.GetReference(b);
        ref T rc = ref MemoryMarshal.GetReference(c);
        int w = Vector256<T>.Count;
        int i = 0;
        if (Vector256.IsHardwareAccelerated && n >= w)
        {
            for (; i + 4 <= m; i += 4)
            {
                int j = 0;
                for (; j + 2 * w <= n; j += 2 * w) Block4x2(k, ref ra, lda, ref rb, ldb, ref rc, ldc, i, j, accumulate);
                for (; j + w <= n; j += w) Block4x1(k, ref ra, lda, ref rb, ldb, ref rc, ldc, i, j, accumulate);
                for (int r = i; r < i + 4; r++) ScalarRow(r, j, n, k, ref ra, lda, ref rb, ldb, ref rc, ldc, accumulate);
            }
            for (; i < m; i++)
            {
                int j = 0;
                for (; j + w <= n; j += w) Block1x1(k, ref ra, lda, ref rb, ldb, ref rc, ldc, i, j, accumulate);
                ScalarRow(i, j, n, k, ref ra, lda, ref rb, ldb, ref rc, ldc, accumulate);
            }
            return;
        }
        for (; i < m; i++) ScalarRow(i, 0, n, k, ref ra, lda, ref rb, ldb, ref rc, ldc, accumulate);
    }

    private static void ScalarRow<T>(int i, int j0, int n, int k, ref T a, int lda, ref T b, int ldb, ref T c, int ldc, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int j = j0; j < n; j++)
        {
            T acc = accumulate ? Unsafe.Add(ref c, i * ldc + j) : T.Zero;
            for (int p = 0; p < k; p++)
                acc = T.FusedMultiplyAdd(Unsafe.Add(ref a, i * lda + p), Unsafe.Add(ref b, p * ldb + j), acc);
            Unsafe.Add(ref c, i * ldc + j) = acc;
        }
    }

    private static void Block4x2<T>(int k, ref T a, int lda, ref T b, int ldb, ref T c, int ldc, int i, int j, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count;
        nuint c0 = (nuint)(i * ldc + j), c1 = c0 + (nuint)ldc, c2 = c1 + (nuint)ldc, c3 = c2 + (nuint)ldc;
        Vector256<T> x00, x01, x10, x11, x20, x21, x30, x31;
        if (accumulate)
        {
            x00 = Vector256.LoadUnsafe(ref c, c0); x01 = Vector256.LoadUnsafe(ref c, c0 + (nuint)w);
            x10 = Vector256.LoadUnsafe(ref c, c1); x11 = Vector256.LoadUnsafe(ref c, c1 + (nuint)w);
            x20 = Vector256.LoadUnsafe(ref c, c2); x21 = Vector256.LoadUnsafe(ref c, c2 + (nuint)w);
            x30 = Vector256.LoadUnsafe(ref c, c3); x31 = Vector256.LoadUnsafe(ref c, c3 + (nuint)w);
        }
        else
        {
            x00 = x01 = x10 = x11 = x20 = x21 = x30 = x31 = Vector256<T>.Zero;
        }
        ref T a0 = ref Unsafe.Add(ref a, i * lda);
        ref T a1 = ref Unsafe.Add(ref a0, lda);
        ref T a2 = ref Unsafe.Add(ref a1, lda);
        ref T a3 = ref Unsafe.Add(ref a2, lda);
        ref T bj = ref Unsafe.Add(ref b, j);
        for (int p = 0; p < k; p++)
        {
            var b0 = Vector256.LoadUnsafe(ref bj);
            var b1 = Vector256.LoadUnsafe(ref bj, (nuint)w);
            var s = Vector256.Create(Unsafe.Add(ref a0, p));
            x00 = Fma(s, b0, x00); x01 = Fma(s, b1, x01);
            s = Vector256.Create(Unsafe.Add(ref a1, p));
            x10 = Fma(s, b0, x10); x11 = Fma(s, b1, x11);
            s = Vector256.Create(Unsafe.Add(ref a2, p));
            x20 = Fma(s, b0, x20); x21 = Fma(s, b1, x21);
            s = Vector256.Create(Unsafe.Add(ref a3, p));
            x30 = Fma(s, b0, x30); x31 = Fma(s, b1, x31);
            bj = ref Unsafe.Add(ref bj, ldb);
        }
        x00.StoreUnsafe(ref c, c0); x01.StoreUnsafe(ref c, c0 + (nuint)w);
        x10.StoreUnsafe(ref c, c1); x11.StoreUnsafe(ref c, c1 + (nuint)w);
        x20.StoreUnsafe(ref c, c2); x21.StoreUnsafe(ref c, c2 + (nuint)w);
        x30.StoreUnsafe(ref c, c3); x31.StoreUnsafe(ref c, c3 + (nuint)w);
    }

    private static void Block4x1<T>(int k, ref T a, int lda, ref T b, int ldb, ref T c, int ldc, int i, int j, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        nuint c0 = (nuint)(i * ldc + j), c1 = c0 + (nuint)ldc, c2 = c1 + (nuint)ldc, c3 = c2 + (nuint)ldc;
        Vector256<T> x0, x1, x2, x3;
        if (accumulate)
        {
            x0 = Vector256.LoadUnsafe(ref c, c0); x1 = Vector256.LoadUnsafe(ref c, c1);
            x2 = Vector256.LoadUnsafe(ref c, c2); x3 = Vector256.LoadUnsafe(ref c, c3);
        }
        else x0 = x1 = x2 = x3 = Vector256<T>.Zero;
        ref T a0 = ref Unsafe.Add(ref a, i * lda);
        ref T a1 = ref Unsafe.Add(ref a0, lda);
        ref T a2 = ref Unsafe.Add(ref a1, lda);
        ref T a3 = ref Unsafe.Add(ref a2, lda);
        ref T bj = ref Unsafe.Add(ref b, j);
        for (int p = 0; p < k; p++)
        {
            var b0 = Vector256.LoadUnsafe(ref bj);
            x0 = Fma(Vector256.Create(Unsafe.Add(ref a0, p)), b0, x0);
            x1 = Fma(Vector256.Create(Unsafe.Add(ref a1, p)), b0, x1);
            x2 = Fma(Vector256.Create(Unsafe.Add(ref a2, p)), b0, x2);
            x3 = Fma(Vector256.Create(Unsafe.Add(ref a3, p)), b0, x3);
            bj = ref Unsafe.Add(ref bj, ldb);
        }
        x0.StoreUnsafe(ref c, c0); x1.StoreUnsafe(ref c, c1);
        x2.StoreUnsafe(ref c, c2); x3.StoreUnsafe(ref c, c3);
    }

    private static void Block1x1<T>(int k, ref T a, int lda, ref T b, int ldb, ref T c, int ldc, int i, int j, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        nuint c0 = (nuint)(i * ldc + j);
        Vector256<T> x0 = accumulate ? Vector256.LoadUnsafe(ref c, c0) : Vector256<T>.Zero;
        ref T a0 = ref Unsafe.Add(ref a, i * lda);
        ref T bj = ref Unsafe.Add(ref b, j);
        for (int p = 0; p < k; p++)
        {
            x0 = Fma(Vector256.Create(Unsafe.Add(ref a0, p)), Vector256.LoadUnsafe(ref bj), x0);
            bj = ref Unsafe.Add(ref bj, ldb);
        }
        x0.StoreUnsafe(ref c, c0);
    }
}

/// <summary>Fused row passes of the online softmax (one call per row instead of four).</summary>
internal static class RowKernels
{
    /// <summary>max_j x[j] (x non-empty).</summary>
    public static T Max<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count, j = 0;
        T max = T.NegativeInfinity;
        if (Vector256.IsHardwareAccelerated && x.Length >= w)
        {
            ref T r = ref MemoryMarshal.GetReference(x);
            var vm = Vector256.LoadUnsafe(ref r);
            for (j = w; j + w <= x.Length; j += w) vm = Vector256.Max(vm, Vector256.LoadUnsafe(ref r, (nuint)j));
            for (int e = 0; e < w; e++) max = T.Max(max, vm[e]);
        }
        for (; j < x.Length; j++) max = T.Max(max, x[j]);
        return max;
    }

    /// <summary>x[j] = exp(x[j] - shift) in place; returns sum_j x[j] (shift >= every x[j], so no overflow).</summary>
    public static T ExpShiftSum<T>(Span<T> x, T shift) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count, j = 0;
        T sum = T.Zero;
        if (Vector256.IsHardwareAccelerated && x.Length >= w)
        {
            ref T r = ref MemoryMarshal.GetReference(x);
            var vs = Vector256.Create(shift);
            var acc = Vector256<T>.Zero;
            for (; j + w <= x.Length; j += w)
            {
                var e = VectorMath.Exp(Vector256.LoadUnsafe(ref r, (nuint)j) - vs);
                e.StoreUnsafe(ref r, (nuint)j);
                acc += e;
            }
            sum = Vector256.Sum(acc);
        }
        for (; j < x.Length; j++)
        {
            x[j] = T.Exp(x[j] - shift);
            sum += x[j];
        }
        return sum;
    }
}
