using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Reference.Core.Kernels;

namespace Reference.Operators.Kernels;

/// <summary>
/// Kernels of the fast chunkwise gated linear attention (<see cref="Recurrence.GatedLinearAttention.ChunkedFast{T}"/>):
/// a dot-product tile kernel (GemmNT) and fused per-row vector passes.
/// <para>The tile products C (+)= A B (optionally with A transposed and C's rows rescaled) are
/// <see cref="Reference.Core.Linear.TileGemm"/>'s.</para>
/// <para>GemmNT: C = A B^T with both operands row-major along k (scores of queries against keys),
/// 2 x 4 tiles of dot products, each reduced across the vector lanes at the end.</para>
/// <para>Exponentials: every exponent the chunked form evaluates is a log-gate g = log alpha or a
/// difference hi - lo of cumulative log-gates with hi at a later position, so &lt;= 0 for gates
/// &lt;= 0; they go through Core's <see cref="VectorMath.Exp{T}(Vector256{T})"/> (float32 about 1 ulp,
/// flushed to 0 below e^-87; float64 Vector256.Exp).</para>
/// </summary>
internal static class ChunkKernels
{
    private static bool Vectorized<T>() => Vector256.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double));

    /// <summary>
    /// C[m x n] = A[m x k] B[n x k]^T, A and B row-major (leading dimensions lda, ldb): every element a
    /// dot product along the rows, so neither operand has to be transposed in memory (the queries
    /// against the keys of a sub-block). Tiles of 2 x 4 dot products (8 Vector256 accumulators fed by
    /// 6 loads), each reduced across lanes at the end.
    /// </summary>
    public static void GemmNT<T>(int m, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count, kv = Vectorized<T>() ? k / w * w : 0, i = 0;
        ref T ra = ref MemoryMarshal.GetReference(a);
        ref T rb = ref MemoryMarshal.GetReference(b);
        for (; i + 2 <= m; i += 2)
        {
            int j = 0;
            for (; j + 4 <= n; j += 4) DotTile2x4(i, j, k, kv, ref ra, lda, ref rb, ldb, c, ldc);
            for (; j < n; j++)
            {
                c[i * ldc + j] = Dot(k, kv, ref Unsafe.Add(ref ra, i * lda), ref Unsafe.Add(ref rb, j * ldb));
                c[(i + 1) * ldc + j] = Dot(k, kv, ref Unsafe.Add(ref ra, (i + 1) * lda), ref Unsafe.Add(ref rb, j * ldb));
            }
        }
        for (; i < m; i++)
            for (int j = 0; j < n; j++)
                c[i * ldc + j] = Dot(k, kv, ref Unsafe.Add(ref ra, i * lda), ref Unsafe.Add(ref rb, j * ldb));
    }

    private static T Dot<T>(int k, int kv, ref T x, ref T y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T sum = T.Zero;
        if (kv > 0)
        {
            var acc = Vector256<T>.Zero;
            for (int p = 0; p < kv; p += Vector256<T>.Count)
                acc = VectorMath.FusedMultiplyAdd(Vector256.LoadUnsafe(ref x, (nuint)p), Vector256.LoadUnsafe(ref y, (nuint)p), acc);
            sum = Vector256.Sum(acc);
        }
        for (int p = kv; p < k; p++) sum = T.FusedMultiplyAdd(Unsafe.Add(ref x, p), Unsafe.Add(ref y, p), sum);
        return sum;
    }

    private static void DotTile2x4<T>(int i, int j, int k, int kv, ref T a, int lda, ref T b, int ldb, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T a0 = ref Unsafe.Add(ref a, i * lda);
        ref T a1 = ref Unsafe.Add(ref a0, lda);
        ref T b0 = ref Unsafe.Add(ref b, j * ldb);
        ref T b1 = ref Unsafe.Add(ref b0, ldb);
        ref T b2 = ref Unsafe.Add(ref b1, ldb);
        ref T b3 = ref Unsafe.Add(ref b2, ldb);
        Vector256<T> x00 = default, x01 = default, x02 = default, x03 = default, x10 = default, x11 = default, x12 = default, x13 = default;
        for (int p = 0; p < kv; p += Vector256<T>.Count)
        {
            nuint o = (nuint)p;
            var u0 = Vector256.LoadUnsafe(ref a0, o);
            var u1 = Vector256.LoadUnsafe(ref a1, o);
            var v = Vector256.LoadUnsafe(ref b0, o);
            x00 = VectorMath.FusedMultiplyAdd(u0, v, x00); x10 = VectorMath.FusedMultiplyAdd(u1, v, x10);
            v = Vector256.LoadUnsafe(ref b1, o);
            x01 = VectorMath.FusedMultiplyAdd(u0, v, x01); x11 = VectorMath.FusedMultiplyAdd(u1, v, x11);
            v = Vector256.LoadUnsafe(ref b2, o);
            x02 = VectorMath.FusedMultiplyAdd(u0, v, x02); x12 = VectorMath.FusedMultiplyAdd(u1, v, x12);
            v = Vector256.LoadUnsafe(ref b3, o);
            x03 = VectorMath.FusedMultiplyAdd(u0, v, x03); x13 = VectorMath.FusedMultiplyAdd(u1, v, x13);
        }
        var r0 = c.Slice(i * ldc + j, 4);
        var r1 = c.Slice((i + 1) * ldc + j, 4);
        r0[0] = Tail(kv, k, ref a0, ref b0, kv > 0 ? Vector256.Sum(x00) : T.Zero);
        r0[1] = Tail(kv, k, ref a0, ref b1, kv > 0 ? Vector256.Sum(x01) : T.Zero);
        r0[2] = Tail(kv, k, ref a0, ref b2, kv > 0 ? Vector256.Sum(x02) : T.Zero);
        r0[3] = Tail(kv, k, ref a0, ref b3, kv > 0 ? Vector256.Sum(x03) : T.Zero);
        r1[0] = Tail(kv, k, ref a1, ref b0, kv > 0 ? Vector256.Sum(x10) : T.Zero);
        r1[1] = Tail(kv, k, ref a1, ref b1, kv > 0 ? Vector256.Sum(x11) : T.Zero);
        r1[2] = Tail(kv, k, ref a1, ref b2, kv > 0 ? Vector256.Sum(x12) : T.Zero);
        r1[3] = Tail(kv, k, ref a1, ref b3, kv > 0 ? Vector256.Sum(x13) : T.Zero);
    }

    /// <summary>sum + x[p] y[p] for p = from..k-1 (the scalar tail of a dot product), one FMA each.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Tail<T>(int from, int k, ref T x, ref T y, T sum) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int p = from; p < k; p++) sum = T.FusedMultiplyAdd(Unsafe.Add(ref x, p), Unsafe.Add(ref y, p), sum);
        return sum;
    }

    /// <summary>dst[r, :] = src[r, :] o d[r / block, :] for r &lt; rows (row-major, row length k): each block of rows scaled by its own vector.</summary>
    public static void ScaleRowBlocks<T>(ReadOnlySpan<T> src, Span<T> dst, int rows, int k, int block, ReadOnlySpan<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int r = 0; r < rows; r++)
            TensorPrimitives.Multiply(src.Slice(r * k, k), d.Slice(r / block * k, k), dst.Slice(r * k, k));
    }

    /// <summary>y = exp(hi - lo), elementwise (hi - lo &lt;= 0, see the class comment): the decay between two cumulative log-gates.</summary>
    public static void Decay<T>(ReadOnlySpan<T> hi, ReadOnlySpan<T> lo, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = y.Length, w = Vector256<T>.Count, j = 0;
        if (Vectorized<T>())
        {
            ref T rh = ref MemoryMarshal.GetReference(hi);
            ref T rl = ref MemoryMarshal.GetReference(lo);
            ref T ry = ref MemoryMarshal.GetReference(y);
            for (; j + w <= n; j += w)
                VectorMath.Exp(Vector256.LoadUnsafe(ref rh, (nuint)j) - Vector256.LoadUnsafe(ref rl, (nuint)j)).StoreUnsafe(ref ry, (nuint)j);
        }
        for (; j < n; j++) y[j] = T.Exp(hi[j] - lo[j]);
    }

    /// <summary>
    /// One position of the forward pass over a chunk, per key channel: cum = prevCum + g,
    /// alpha = exp(g), run = alpha (first position of a sub-block) or run o alpha, qr = scale q o run,
    /// qe = qr o e, ki = k / run. Folds run into the lane-wise bounds min and max (the caller checks
    /// per sub-block that 1 / run is safe; see <see cref="LaneBounds{T}"/>).
    /// </summary>
    public static void GateRow<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> prevCum, ReadOnlySpan<T> q, ReadOnlySpan<T> k,
        ReadOnlySpan<T> e, T scale, bool first, Span<T> cum, Span<T> alpha, Span<T> run, Span<T> qr, Span<T> qe, Span<T> ki,
        ref Vector256<T> min, ref Vector256<T> max)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = g.Length, w = Vector256<T>.Count, j = 0;
        if (Vectorized<T>() && n >= w)
        {
            ref T rg = ref MemoryMarshal.GetReference(g);
            ref T rp = ref MemoryMarshal.GetReference(prevCum);
            ref T rq = ref MemoryMarshal.GetReference(q);
            ref T rk = ref MemoryMarshal.GetReference(k);
            ref T re = ref MemoryMarshal.GetReference(e);
            ref T rc = ref MemoryMarshal.GetReference(cum);
            ref T ra = ref MemoryMarshal.GetReference(alpha);
            ref T rr = ref MemoryMarshal.GetReference(run);
            ref T rqr = ref MemoryMarshal.GetReference(qr);
            ref T rqe = ref MemoryMarshal.GetReference(qe);
            ref T rki = ref MemoryMarshal.GetReference(ki);
            var vs = Vector256.Create(scale);
            var vmin = min;
            var vmax = max;
            for (; j + w <= n; j += w)
            {
                nuint i = (nuint)j;
                var gj = Vector256.LoadUnsafe(ref rg, i);
                (Vector256.LoadUnsafe(ref rp, i) + gj).StoreUnsafe(ref rc, i);
                var aj = VectorMath.Exp(gj);
                aj.StoreUnsafe(ref ra, i);
                var r = first ? aj : Vector256.LoadUnsafe(ref rr, i) * aj;
                r.StoreUnsafe(ref rr, i);
                vmin = Vector256.MinNative(vmin, r);
                vmax = Vector256.MaxNative(vmax, r);
                var x = vs * Vector256.LoadUnsafe(ref rq, i) * r;
                x.StoreUnsafe(ref rqr, i);
                (x * Vector256.LoadUnsafe(ref re, i)).StoreUnsafe(ref rqe, i);
                (Vector256.LoadUnsafe(ref rk, i) / r).StoreUnsafe(ref rki, i);
            }
            (min, max) = (vmin, vmax);
        }
        for (; j < n; j++)
        {
            cum[j] = prevCum[j] + g[j];
            alpha[j] = T.Exp(g[j]);
            run[j] = first ? alpha[j] : run[j] * alpha[j];
            min = min.WithElement(0, T.Min(min[0], run[j]));
            max = max.WithElement(0, T.Max(max[0], run[j]));
            qr[j] = scale * q[j] * run[j];
            qe[j] = qr[j] * e[j];
            ki[j] = k[j] / run[j];
        }
    }

    /// <summary>Whether every lane of the bounds lies in [lowest, highest] (false for NaN).</summary>
    public static bool LaneBounds<T>(Vector256<T> min, Vector256<T> max, T lowest, T highest) where T : unmanaged, IFloatingPointIeee754<T> =>
        Vector256.GreaterThanOrEqualAll(min, Vector256.Create(lowest)) && Vector256.LessThanOrEqualAll(max, Vector256.Create(highest));

    /// <summary>
    /// One position of the backward pass over a sub-block, per key channel: kr = k o run,
    /// ke = kr o f, then run = run o alpha (the decay seen by the previous position).
    /// </summary>
    public static void KeyRow<T>(ReadOnlySpan<T> k, ReadOnlySpan<T> f, ReadOnlySpan<T> alpha, Span<T> run, Span<T> kr, Span<T> ke)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = k.Length, w = Vector256<T>.Count, j = 0;
        if (Vectorized<T>())
        {
            ref T rk = ref MemoryMarshal.GetReference(k);
            ref T rf = ref MemoryMarshal.GetReference(f);
            ref T ra = ref MemoryMarshal.GetReference(alpha);
            ref T rr = ref MemoryMarshal.GetReference(run);
            ref T rkr = ref MemoryMarshal.GetReference(kr);
            ref T rke = ref MemoryMarshal.GetReference(ke);
            for (; j + w <= n; j += w)
            {
                nuint i = (nuint)j;
                var r = Vector256.LoadUnsafe(ref rr, i);
                var x = Vector256.LoadUnsafe(ref rk, i) * r;
                x.StoreUnsafe(ref rkr, i);
                (x * Vector256.LoadUnsafe(ref rf, i)).StoreUnsafe(ref rke, i);
                (r * Vector256.LoadUnsafe(ref ra, i)).StoreUnsafe(ref rr, i);
            }
        }
        for (; j < n; j++)
        {
            kr[j] = k[j] * run[j];
            ke[j] = kr[j] * f[j];
            run[j] *= alpha[j];
        }
    }

    /// <summary>
    /// sum_c x_c y_c exp(hi_c - lo_c): one decayed score of a diagonal sub-block, computed
    /// elementwise in log space (the exponent never leaves [-inf, 0] whatever the gates' size).
    /// </summary>
    public static T DecayedDot<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> hi, ReadOnlySpan<T> lo)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = x.Length, w = Vector256<T>.Count, j = 0;
        T sum = T.Zero;
        if (Vectorized<T>() && n >= w)
        {
            ref T rx = ref MemoryMarshal.GetReference(x);
            ref T ry = ref MemoryMarshal.GetReference(y);
            ref T rh = ref MemoryMarshal.GetReference(hi);
            ref T rl = ref MemoryMarshal.GetReference(lo);
            var acc = Vector256<T>.Zero;
            for (; j + w <= n; j += w)
            {
                var e = VectorMath.Exp(Vector256.LoadUnsafe(ref rh, (nuint)j) - Vector256.LoadUnsafe(ref rl, (nuint)j));
                acc = VectorMath.FusedMultiplyAdd(Vector256.LoadUnsafe(ref rx, (nuint)j) * Vector256.LoadUnsafe(ref ry, (nuint)j), e, acc);
            }
            sum = Vector256.Sum(acc);
        }
        for (; j < n; j++) sum += x[j] * y[j] * T.Exp(hi[j] - lo[j]);
        return sum;
    }
}
