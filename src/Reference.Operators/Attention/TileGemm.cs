using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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
                var e = Exp(Vector256.LoadUnsafe(ref r, (nuint)j) - vs);
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

    /// <summary>exp of x &lt;= 0 lane by lane (<see cref="ExpNonPositive(Vector256{float})"/>, <see cref="ExpNonPositive(Vector256{double})"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<T> Exp<T>(Vector256<T> x)
    {
        if (typeof(T) == typeof(float)) return ExpNonPositive(x.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double)) return ExpNonPositive(x.AsDouble()).As<double, T>();
        throw new NotSupportedException($"element type {typeof(T)} has no vector exp.");
    }

    /// <summary>
    /// float32 exp for x &lt;= 0 (the online softmax only exponentiates s - max s): x = n ln2 + r with
    /// n = round(x / ln2), |r| &lt;= ln2/2 (ln2 split in a high and a low part so n ln2 is exact),
    /// exp(r) by the degree-7 minimax polynomial of Cephes' expf (S. Moshier), 2^n built in the
    /// exponent bits. Below -87.3 (where 2^n would be subnormal) the result is 0. About 1 ulp.
    /// The rounding is the shifter trick: adding 1.5 2^23 leaves round-to-nearest-even(x / ln2) in
    /// the low mantissa bits, which then serve directly as the integer n of the exponent field
    /// (no round or float-to-int conversion instruction; n + 127 lies in [1, 127] here).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> ExpNonPositive(Vector256<float> x)
    {
        var underflow = Vector256.LessThan(x, Vector256.Create(-87.3f));
        x = Vector256.Max(x, Vector256.Create(-87.3f));
        var shifter = Vector256.Create(12582912f);
        var shifted = x * Vector256.Create(1.44269504088896341f) + shifter;
        var n = shifted - shifter;
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693359375f), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(2.12194440e-4f), r);
        var p = Vector256.Create(1.9875691500e-4f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.3981999507e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        p = Vector256.FusedMultiplyAdd(p, r * r, r + Vector256<float>.One);
        var scale = Vector256.ShiftLeft(shifted.AsInt32() + Vector256.Create(127), 23).AsSingle();
        return Vector256.AndNot(p * scale, underflow);
    }

    /// <summary>
    /// float64 exp for x &lt;= 0, inlined (Vector256.Exp is an out-of-line call): the same reduction
    /// x = n ln2 + r, |r| &lt;= ln2/2, with Cephes' two-part ln2 (C1 = 0.693145751953125 has few
    /// enough bits that n C1 is exact), exp(r) by its Taylor polynomial to degree 13 (remainder
    /// (ln2/2)^14 / 14! &lt; 1e-17, below half an ulp), 2^n built in the exponent bits with the
    /// shifter 1.5 2^52. Below -708.39 (where 2^n would be subnormal) the result is 0. About 1 ulp.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<double> ExpNonPositive(Vector256<double> x)
    {
        var underflow = Vector256.LessThan(x, Vector256.Create(-708.39));
        x = Vector256.Max(x, Vector256.Create(-708.39));
        var shifter = Vector256.Create(6755399441055744.0);
        var shifted = x * Vector256.Create(1.4426950408889634074) + shifter;
        var n = shifted - shifter;
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693145751953125), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-1.42860682030941723212e-6), r);
        var p = Vector256.Create(1.0 / 6227020800.0);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 479001600.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 39916800.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 3628800.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 362880.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 40320.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 5040.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 720.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 120.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 24.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 6.0));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(0.5));
        p = Vector256.FusedMultiplyAdd(p, r * r, r + Vector256<double>.One);
        var scale = Vector256.ShiftLeft(shifted.AsInt64() + Vector256.Create(1023L), 52).AsDouble();
        return Vector256.AndNot(p * scale, underflow);
    }
}
