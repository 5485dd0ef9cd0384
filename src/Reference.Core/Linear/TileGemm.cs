using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Reference.Core.Kernels;

namespace Reference.Core.Linear;

/// <summary>
/// The small register-blocked product of the chunked fast tiers (SSD, GLA):
/// C[m x n] (+)= A[m x k] B[k x n] with A(i, p) = a[i * ars + p * acs] (row-major, or read as its
/// transpose) and B, C row-major; optionally C = Diag(rowScale) C + A B. Tiles are at most a few
/// dozen rows, so there is no packing and no threading here: the callers parallelise over heads and
/// chunks. The register tile is 4 rows x 3 vectors of C (12 Vector256 accumulators, 3 loads of B
/// and one broadcast of A per step: 16 ymm registers, FMA bound rather than load bound); edge tiles
/// use 4 x 2, 4 x 1, 1 x 1 vector tiles and a scalar tail.
/// Reduction order: for each C element the products are added for p = 0..k-1 in order with one FMA
/// each, on top of (the scaled) C when accumulating, so results differ from a float64 naive sum only
/// by rounding.
/// </summary>
public static class TileGemm
{
    private static bool Vectorized<T>() => Vector256.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double));

    /// <summary>C = A B (accumulate = false) or C += A B (accumulate = true), A row-major with leading dimension lda.</summary>
    public static void Multiply<T>(int m, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        Span<T> c, int ldc, bool accumulate) where T : unmanaged, IFloatingPointIeee754<T> =>
        Multiply(m, n, k, a, lda, 1, b, ldb, c, ldc, accumulate);

    /// <summary>
    /// C (+)= A B with A(i, p) = a[i * ars + p * acs] (row-major A: ars = lda, acs = 1; A given as its transpose: ars = 1, acs = lda). With accumulate and a
    /// <paramref name="rowScale"/> of length m, C = Diag(rowScale) C + A B: a state's decay folded
    /// into the product that updates it (each row of C is scaled as it is loaded into the accumulators).
    /// </summary>
    public static void Multiply<T>(int m, int n, int k, ReadOnlySpan<T> a, int ars, int acs, ReadOnlySpan<T> b, int ldb,
        Span<T> c, int ldc, bool accumulate, ReadOnlySpan<T> rowScale = default) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m == 0 || n == 0) return;
        bool scaled = accumulate && !rowScale.IsEmpty;
        ref T rs = ref MemoryMarshal.GetReference(rowScale);
        ref T ra = ref MemoryMarshal.GetReference(a);
        ref T rb = ref MemoryMarshal.GetReference(b);
        ref T rc = ref MemoryMarshal.GetReference(c);
        int w = Vector256<T>.Count, i = 0;
        if (Vectorized<T>() && n >= w)
        {
            for (; i + 4 <= m; i += 4)
            {
                int j = 0;
                for (; j + 3 * w <= n; j += 3 * w) Block4x3(k, ref ra, ars, acs, ref rb, ldb, ref rc, ldc, i, j, accumulate, scaled, ref rs);
                if (j + 2 * w <= n) { Block4x2(k, ref ra, ars, acs, ref rb, ldb, ref rc, ldc, i, j, accumulate, scaled, ref rs); j += 2 * w; }
                if (j + w <= n) { Block4x1(k, ref ra, ars, acs, ref rb, ldb, ref rc, ldc, i, j, accumulate, scaled, ref rs); j += w; }
                if (j < n)
                    for (int r = i; r < i + 4; r++) ScalarRow(r, j, n, k, ref ra, ars, acs, ref rb, ldb, ref rc, ldc, accumulate, scaled, ref rs);
            }
            for (; i < m; i++)
            {
                int j = 0;
                for (; j + w <= n; j += w) Block1x1(k, ref ra, ars, acs, ref rb, ldb, ref rc, ldc, i, j, accumulate, scaled, ref rs);
                if (j < n) ScalarRow(i, j, n, k, ref ra, ars, acs, ref rb, ldb, ref rc, ldc, accumulate, scaled, ref rs);
            }
            return;
        }
        for (; i < m; i++) ScalarRow(i, 0, n, k, ref ra, ars, acs, ref rb, ldb, ref rc, ldc, accumulate, scaled, ref rs);
    }

    private static void ScalarRow<T>(int i, int j0, int n, int k, ref T a, int ars, int acs, ref T b, int ldb, ref T c, int ldc,
        bool accumulate, bool scaled, ref T rs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int j = j0; j < n; j++)
        {
            T acc = accumulate ? Unsafe.Add(ref c, i * ldc + j) : T.Zero;
            if (scaled) acc *= Unsafe.Add(ref rs, i);
            for (int p = 0; p < k; p++)
                acc = T.FusedMultiplyAdd(Unsafe.Add(ref a, i * ars + p * acs), Unsafe.Add(ref b, p * ldb + j), acc);
            Unsafe.Add(ref c, i * ldc + j) = acc;
        }
    }

    private static void Block4x3<T>(int k, ref T a, int ars, int acs, ref T b, int ldb, ref T c, int ldc, int i, int j, bool accumulate, bool scaled, ref T rs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        nuint w = (nuint)Vector256<T>.Count, w2 = 2 * w;
        nuint c0 = (nuint)(i * ldc + j), c1 = c0 + (nuint)ldc, c2 = c1 + (nuint)ldc, c3 = c2 + (nuint)ldc;
        Vector256<T> x00, x01, x02, x10, x11, x12, x20, x21, x22, x30, x31, x32;
        if (accumulate)
        {
            x00 = Vector256.LoadUnsafe(ref c, c0); x01 = Vector256.LoadUnsafe(ref c, c0 + w); x02 = Vector256.LoadUnsafe(ref c, c0 + w2);
            x10 = Vector256.LoadUnsafe(ref c, c1); x11 = Vector256.LoadUnsafe(ref c, c1 + w); x12 = Vector256.LoadUnsafe(ref c, c1 + w2);
            x20 = Vector256.LoadUnsafe(ref c, c2); x21 = Vector256.LoadUnsafe(ref c, c2 + w); x22 = Vector256.LoadUnsafe(ref c, c2 + w2);
            x30 = Vector256.LoadUnsafe(ref c, c3); x31 = Vector256.LoadUnsafe(ref c, c3 + w); x32 = Vector256.LoadUnsafe(ref c, c3 + w2);
            if (scaled)
            {
                var f = Vector256.Create(Unsafe.Add(ref rs, i)); x00 *= f; x01 *= f; x02 *= f;
                f = Vector256.Create(Unsafe.Add(ref rs, i + 1)); x10 *= f; x11 *= f; x12 *= f;
                f = Vector256.Create(Unsafe.Add(ref rs, i + 2)); x20 *= f; x21 *= f; x22 *= f;
                f = Vector256.Create(Unsafe.Add(ref rs, i + 3)); x30 *= f; x31 *= f; x32 *= f;
            }
        }
        else x00 = x01 = x02 = x10 = x11 = x12 = x20 = x21 = x22 = x30 = x31 = x32 = Vector256<T>.Zero;
        ref T a0 = ref Unsafe.Add(ref a, i * ars);
        ref T a1 = ref Unsafe.Add(ref a0, ars);
        ref T a2 = ref Unsafe.Add(ref a1, ars);
        ref T a3 = ref Unsafe.Add(ref a2, ars);
        ref T bj = ref Unsafe.Add(ref b, j);
        for (int p = 0; p < k; p++)
        {
            var b0 = Vector256.LoadUnsafe(ref bj);
            var b1 = Vector256.LoadUnsafe(ref bj, w);
            var b2 = Vector256.LoadUnsafe(ref bj, w2);
            var s = Vector256.Create(a0);
            x00 = VectorMath.FusedMultiplyAdd(s, b0, x00); x01 = VectorMath.FusedMultiplyAdd(s, b1, x01); x02 = VectorMath.FusedMultiplyAdd(s, b2, x02);
            s = Vector256.Create(a1);
            x10 = VectorMath.FusedMultiplyAdd(s, b0, x10); x11 = VectorMath.FusedMultiplyAdd(s, b1, x11); x12 = VectorMath.FusedMultiplyAdd(s, b2, x12);
            s = Vector256.Create(a2);
            x20 = VectorMath.FusedMultiplyAdd(s, b0, x20); x21 = VectorMath.FusedMultiplyAdd(s, b1, x21); x22 = VectorMath.FusedMultiplyAdd(s, b2, x22);
            s = Vector256.Create(a3);
            x30 = VectorMath.FusedMultiplyAdd(s, b0, x30); x31 = VectorMath.FusedMultiplyAdd(s, b1, x31); x32 = VectorMath.FusedMultiplyAdd(s, b2, x32);
            a0 = ref Unsafe.Add(ref a0, acs); a1 = ref Unsafe.Add(ref a1, acs);
            a2 = ref Unsafe.Add(ref a2, acs); a3 = ref Unsafe.Add(ref a3, acs);
            bj = ref Unsafe.Add(ref bj, ldb);
        }
        x00.StoreUnsafe(ref c, c0); x01.StoreUnsafe(ref c, c0 + w); x02.StoreUnsafe(ref c, c0 + w2);
        x10.StoreUnsafe(ref c, c1); x11.StoreUnsafe(ref c, c1 + w); x12.StoreUnsafe(ref c, c1 + w2);
        x20.StoreUnsafe(ref c, c2); x21.StoreUnsafe(ref c, c2 + w); x22.StoreUnsafe(ref c, c2 + w2);
        x30.StoreUnsafe(ref c, c3); x31.StoreUnsafe(ref c, c3 + w); x32.StoreUnsafe(ref c, c3 + w2);
    }

    private static void Block4x2<T>(int k, ref T a, int ars, int acs, ref T b, int ldb, ref T c, int ldc, int i, int j, bool accumulate, bool scaled, ref T rs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        nuint w = (nuint)Vector256<T>.Count;
        nuint c0 = (nuint)(i * ldc + j), c1 = c0 + (nuint)ldc, c2 = c1 + (nuint)ldc, c3 = c2 + (nuint)ldc;
        Vector256<T> x00, x01, x10, x11, x20, x21, x30, x31;
        if (accumulate)
        {
            x00 = Vector256.LoadUnsafe(ref c, c0); x01 = Vector256.LoadUnsafe(ref c, c0 + w);
            x10 = Vector256.LoadUnsafe(ref c, c1); x11 = Vector256.LoadUnsafe(ref c, c1 + w);
            x20 = Vector256.LoadUnsafe(ref c, c2); x21 = Vector256.LoadUnsafe(ref c, c2 + w);
            x30 = Vector256.LoadUnsafe(ref c, c3); x31 = Vector256.LoadUnsafe(ref c, c3 + w);
            if (scaled)
            {
                var f = Vector256.Create(Unsafe.Add(ref rs, i)); x00 *= f; x01 *= f;
                f = Vector256.Create(Unsafe.Add(ref rs, i + 1)); x10 *= f; x11 *= f;
                f = Vector256.Create(Unsafe.Add(ref rs, i + 2)); x20 *= f; x21 *= f;
                f = Vector256.Create(Unsafe.Add(ref rs, i + 3)); x30 *= f; x31 *= f;
            }
        }
        else x00 = x01 = x10 = x11 = x20 = x21 = x30 = x31 = Vector256<T>.Zero;
        ref T a0 = ref Unsafe.Add(ref a, i * ars);
        ref T a1 = ref Unsafe.Add(ref a0, ars);
        ref T a2 = ref Unsafe.Add(ref a1, ars);
        ref T a3 = ref Unsafe.Add(ref a2, ars);
        ref T bj = ref Unsafe.Add(ref b, j);
        for (int p = 0; p < k; p++)
        {
            var b0 = Vector256.LoadUnsafe(ref bj);
            var b1 = Vector256.LoadUnsafe(ref bj, w);
            var s = Vector256.Create(a0);
            x00 = VectorMath.FusedMultiplyAdd(s, b0, x00); x01 = VectorMath.FusedMultiplyAdd(s, b1, x01);
            s = Vector256.Create(a1);
            x10 = VectorMath.FusedMultiplyAdd(s, b0, x10); x11 = VectorMath.FusedMultiplyAdd(s, b1, x11);
            s = Vector256.Create(a2);
            x20 = VectorMath.FusedMultiplyAdd(s, b0, x20); x21 = VectorMath.FusedMultiplyAdd(s, b1, x21);
            s = Vector256.Create(a3);
            x30 = VectorMath.FusedMultiplyAdd(s, b0, x30); x31 = VectorMath.FusedMultiplyAdd(s, b1, x31);
            a0 = ref Unsafe.Add(ref a0, acs); a1 = ref Unsafe.Add(ref a1, acs);
            a2 = ref Unsafe.Add(ref a2, acs); a3 = ref Unsafe.Add(ref a3, acs);
            bj = ref Unsafe.Add(ref bj, ldb);
        }
        x00.StoreUnsafe(ref c, c0); x01.StoreUnsafe(ref c, c0 + w);
        x10.StoreUnsafe(ref c, c1); x11.StoreUnsafe(ref c, c1 + w);
        x20.StoreUnsafe(ref c, c2); x21.StoreUnsafe(ref c, c2 + w);
        x30.StoreUnsafe(ref c, c3); x31.StoreUnsafe(ref c, c3 + w);
    }

    private static void Block4x1<T>(int k, ref T a, int ars, int acs, ref T b, int ldb, ref T c, int ldc, int i, int j, bool accumulate, bool scaled, ref T rs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        nuint c0 = (nuint)(i * ldc + j), c1 = c0 + (nuint)ldc, c2 = c1 + (nuint)ldc, c3 = c2 + (nuint)ldc;
        Vector256<T> x0, x1, x2, x3;
        if (accumulate)
        {
            x0 = Vector256.LoadUnsafe(ref c, c0); x1 = Vector256.LoadUnsafe(ref c, c1);
            x2 = Vector256.LoadUnsafe(ref c, c2); x3 = Vector256.LoadUnsafe(ref c, c3);
            if (scaled)
            {
                x0 *= Vector256.Create(Unsafe.Add(ref rs, i)); x1 *= Vector256.Create(Unsafe.Add(ref rs, i + 1));
                x2 *= Vector256.Create(Unsafe.Add(ref rs, i + 2)); x3 *= Vector256.Create(Unsafe.Add(ref rs, i + 3));
            }
        }
        else x0 = x1 = x2 = x3 = Vector256<T>.Zero;
        ref T a0 = ref Unsafe.Add(ref a, i * ars);
        ref T a1 = ref Unsafe.Add(ref a0, ars);
        ref T a2 = ref Unsafe.Add(ref a1, ars);
        ref T a3 = ref Unsafe.Add(ref a2, ars);
        ref T bj = ref Unsafe.Add(ref b, j);
        for (int p = 0; p < k; p++)
        {
            var b0 = Vector256.LoadUnsafe(ref bj);
            x0 = VectorMath.FusedMultiplyAdd(Vector256.Create(a0), b0, x0);
            x1 = VectorMath.FusedMultiplyAdd(Vector256.Create(a1), b0, x1);
            x2 = VectorMath.FusedMultiplyAdd(Vector256.Create(a2), b0, x2);
            x3 = VectorMath.FusedMultiplyAdd(Vector256.Create(a3), b0, x3);
            a0 = ref Unsafe.Add(ref a0, acs); a1 = ref Unsafe.Add(ref a1, acs);
            a2 = ref Unsafe.Add(ref a2, acs); a3 = ref Unsafe.Add(ref a3, acs);
            bj = ref Unsafe.Add(ref bj, ldb);
        }
        x0.StoreUnsafe(ref c, c0); x1.StoreUnsafe(ref c, c1);
        x2.StoreUnsafe(ref c, c2); x3.StoreUnsafe(ref c, c3);
    }

    private static void Block1x1<T>(int k, ref T a, int ars, int acs, ref T b, int ldb, ref T c, int ldc, int i, int j, bool accumulate, bool scaled, ref T rs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        nuint c0 = (nuint)(i * ldc + j);
        Vector256<T> x0 = accumulate ? Vector256.LoadUnsafe(ref c, c0) : Vector256<T>.Zero;
        if (scaled) x0 *= Vector256.Create(Unsafe.Add(ref rs, i));
        ref T a0 = ref Unsafe.Add(ref a, i * ars);
        ref T bj = ref Unsafe.Add(ref b, j);
        for (int p = 0; p < k; p++)
        {
            x0 = VectorMath.FusedMultiplyAdd(Vector256.Create(a0), Vector256.LoadUnsafe(ref bj), x0);
            a0 = ref Unsafe.Add(ref a0, acs);
            bj = ref Unsafe.Add(ref bj, ldb);
        }
        x0.StoreUnsafe(ref c, c0);
    }
}
