using System.Numerics;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace Reference.Cuda.Kernels;

/// <summary>Shapes of one causal attention launch: q [B, Hq, L, K], k [B, Hkv, L, K], v [B, Hkv, L, V], out [B, Hq, L, V].</summary>
/// <summary>
/// Shapes of one attention launch; HeavyFirst = 1 maps block x to query tile (tiles - 1 - x), so the
/// causal rows with the most key tiles start first and the cheap ones fill the tail.
/// </summary>
internal readonly record struct AttentionArgs(int Hq, int Hkv, int L, int K, int V, int Window, int HeavyFirst = 0);

/// <summary>
/// Causal softmax attention, FlashAttention's Algorithm 1 (Dao et al., arXiv:2205.14135) on CUDA
/// cores, the GPU form of <c>SoftmaxAttention.ForwardFast</c>: a block of 256 threads owns 64
/// query rows of one (batch, query head) and 64 value columns; it walks the keys of the causal
/// window in tiles of 64, forms the 64 x 64 score tile S = scale Q K^T in registers (each thread
/// 4 x 4, rows ty + 16 i, keys tx + 16 j; Q and K staged through shared memory 16 dimensions at a
/// time), keeps the running row maximum m and sum l (the online softmax: earlier partial sums are
/// rescaled by exp(m_old - m_new)), and adds P V with V staged in shared memory. A row's 16 key
/// columns live in the 16 lanes of one half-warp, so row maxima and sums are warp shuffles, and
/// P V broadcasts each probability with a shuffle instead of a trip through shared memory; the
/// one 4096-element shared buffer is reused for Q/K and then V (32 KiB in float64).
/// <para>GQA: query head h reads kv head h / (Hq / Hkv). Sliding window W: keys s in (t - W, t].
/// Accumulation: per row, keys in tiles of 64 ascending; within a tile the dot products run over
/// the key dimension ascending and P V over the tile's keys ascending; out = O / l at the end.</para>
/// </summary>
internal static class AttentionKernel
{
    public const int Rows = 64;
    public const int Keys = 64;
    public const int Columns = 64;
    private const int DimSlice = 16;

    /// <summary>Row stride of the staged Q and K slices: 64 + 1, so the 16 dimensions one row's threads store fall in 16 banks.</summary>
    private const int Stride = Rows + 1;

    public static KernelConfig Config(AttentionArgs s, int batch) =>
        new(new Index3D((s.L + Rows - 1) / Rows, batch * s.Hq, (s.V + Columns - 1) / Columns), new Index3D(256, 1, 1));

    public static void Kernel<T>(ArrayView<T> q, ArrayView<T> k, ArrayView<T> v, ArrayView<T> o, AttentionArgs s, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shared = SharedMemory.Allocate<T>(Keys * Columns);
        int tid = Group.IdxX, tx = tid & 15, ty = tid >> 4, halfWarp = Warp.LaneIdx & 16;
        int q0 = (s.HeavyFirst != 0 ? Grid.DimX - 1 - Grid.IdxX : Grid.IdxX) * Rows, bh = Grid.IdxY, v0 = Grid.IdxZ * Columns;
        int batch = bh / s.Hq, h = bh - batch * s.Hq, kvh = h / (s.Hq / s.Hkv);
        long qBase = (long)bh * s.L * s.K, oBase = (long)bh * s.L * s.V;
        long kBase = ((long)batch * s.Hkv + kvh) * s.L * s.K, vBase = ((long)batch * s.Hkv + kvh) * s.L * s.V;

        int first = s.Window > 0 ? Math.Max(0, q0 - s.Window + 1) : 0;
        int end = Math.Min(s.L, q0 + Rows);
        var m = new Row4<T>(T.NegativeInfinity, T.NegativeInfinity, T.NegativeInfinity, T.NegativeInfinity);
        var l = default(Row4<T>);
        var acc = default(Tile4<T>);

        for (int k0 = first; k0 < end; k0 += Keys)
        {
            // S = Q K^T over the key dimension, 16 dimensions of Q and K in shared memory at a time.
            var s0 = default(Row4<T>); var s1 = default(Row4<T>); var s2 = default(Row4<T>); var s3 = default(Row4<T>);
            for (int d0 = 0; d0 < s.K; d0 += DimSlice)
            {
                for (int e = tid; e < Rows * DimSlice; e += 256)
                {
                    int r = e >> 4, dd = e & 15, t = q0 + r, kt = k0 + r, d = d0 + dd;
                    shared[dd * Stride + r] = t < s.L && d < s.K ? q[qBase + (long)t * s.K + d] : T.Zero;
                    shared[DimSlice * Stride + dd * Stride + r] = kt < s.L && d < s.K ? k[kBase + (long)kt * s.K + d] : T.Zero;
                }
                Group.Barrier();
                for (int dd = 0; dd < DimSlice; dd++)
                {
                    var kr = shared.SubView(DimSlice * Stride + dd * Stride + tx);
                    var qr = shared.SubView(dd * Stride + ty);
                    var kv = new Row4<T>(kr[0], kr[16], kr[32], kr[48]);
                    s0 = Row4<T>.Fma(s0, qr[0], kv);
                    s1 = Row4<T>.Fma(s1, qr[16], kv);
                    s2 = Row4<T>.Fma(s2, qr[32], kv);
                    s3 = Row4<T>.Fma(s3, qr[48], kv);
                }
                Group.Barrier();
            }

            // Mask, then the online softmax update of each of the thread's 4 rows.
            int kc = k0 + tx;
            s0 = Mask(s0, scale, q0 + ty, kc, s); s1 = Mask(s1, scale, q0 + ty + 16, kc, s);
            s2 = Mask(s2, scale, q0 + ty + 32, kc, s); s3 = Mask(s3, scale, q0 + ty + 48, kc, s);
            var mNew = new Row4<T>(T.Max(m.X0, RowMax(s0)), T.Max(m.X1, RowMax(s1)), T.Max(m.X2, RowMax(s2)), T.Max(m.X3, RowMax(s3)));
            var rescale = new Row4<T>(Rescale(m.X0, mNew.X0), Rescale(m.X1, mNew.X1), Rescale(m.X2, mNew.X2), Rescale(m.X3, mNew.X3));
            s0 = Probabilities(s0, mNew.X0); s1 = Probabilities(s1, mNew.X1);
            s2 = Probabilities(s2, mNew.X2); s3 = Probabilities(s3, mNew.X3);
            l = new Row4<T>(rescale.X0 * l.X0 + RowSum(s0), rescale.X1 * l.X1 + RowSum(s1),
                rescale.X2 * l.X2 + RowSum(s2), rescale.X3 * l.X3 + RowSum(s3));
            acc = new Tile4<T>(Row4<T>.Scale(acc.R0, rescale.X0), Row4<T>.Scale(acc.R1, rescale.X1),
                Row4<T>.Scale(acc.R2, rescale.X2), Row4<T>.Scale(acc.R3, rescale.X3));
            m = mNew;

            // O += P V: V's tile [64 keys x 64 columns] in shared memory, P broadcast along each half-warp.
            for (int e = tid; e < Keys * Columns; e += 256)
            {
                int r = e >> 6, col = e & 63, kt = k0 + r, vc = v0 + col;
                shared[e] = kt < s.L && vc < s.V ? v[vBase + (long)kt * s.V + vc] : T.Zero;
            }
            Group.Barrier();
            acc = PvSlice(acc, s0.X0, s1.X0, s2.X0, s3.X0, shared, 0, tx, halfWarp);
            acc = PvSlice(acc, s0.X1, s1.X1, s2.X1, s3.X1, shared, 16, tx, halfWarp);
            acc = PvSlice(acc, s0.X2, s1.X2, s2.X2, s3.X2, shared, 32, tx, halfWarp);
            acc = PvSlice(acc, s0.X3, s1.X3, s2.X3, s3.X3, shared, 48, tx, halfWarp);
            Group.Barrier();
        }

        Store(o, s, oBase, q0 + ty, v0 + tx, acc.R0, l.X0);
        Store(o, s, oBase, q0 + ty + 16, v0 + tx, acc.R1, l.X1);
        Store(o, s, oBase, q0 + ty + 32, v0 + tx, acc.R2, l.X2);
        Store(o, s, oBase, q0 + ty + 48, v0 + tx, acc.R3, l.X3);
    }

    /// <summary>Scaled scores with the causal window applied: -inf where key s is outside (t - W, t] or past L.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row4<T> Mask<T>(Row4<T> x, T scale, int t, int key, AttentionArgs s) where T : unmanaged, IFloatingPointIeee754<T> =>
        new(Masked(x.X0 * scale, t, key, s), Masked(x.X1 * scale, t, key + 16, s),
            Masked(x.X2 * scale, t, key + 32, s), Masked(x.X3 * scale, t, key + 48, s));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Masked<T>(T x, int t, int key, AttentionArgs s) where T : unmanaged, IFloatingPointIeee754<T> =>
        key <= t && key < s.L && (s.Window <= 0 || key > t - s.Window) ? x : T.NegativeInfinity;

    /// <summary>The row's maximum over its 64 keys: 4 in the thread, then across the 16 lanes of the half-warp.</summary>
    private static T RowMax<T>(Row4<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T r = T.Max(T.Max(x.X0, x.X1), T.Max(x.X2, x.X3));
        r = T.Max(r, Warp.ShuffleXor(r, 8));
        r = T.Max(r, Warp.ShuffleXor(r, 4));
        r = T.Max(r, Warp.ShuffleXor(r, 2));
        return T.Max(r, Warp.ShuffleXor(r, 1));
    }

    private static T RowSum<T>(Row4<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T r = x.X0 + x.X1 + x.X2 + x.X3;
        r += Warp.ShuffleXor(r, 8);
        r += Warp.ShuffleXor(r, 4);
        r += Warp.ShuffleXor(r, 2);
        return r + Warp.ShuffleXor(r, 1);
    }

    /// <summary>exp(m_old - m_new); 0 while the row has seen no key (its sums are still 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Rescale<T>(T old, T next) where T : unmanaged, IFloatingPointIeee754<T> =>
        T.IsNegativeInfinity(next) ? T.Zero : T.Exp(old - next);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row4<T> Probabilities<T>(Row4<T> x, T m) where T : unmanaged, IFloatingPointIeee754<T> =>
        new(Exp(x.X0, m), Exp(x.X1, m), Exp(x.X2, m), Exp(x.X3, m));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Exp<T>(T x, T m) where T : unmanaged, IFloatingPointIeee754<T> =>
        T.IsNegativeInfinity(x) ? T.Zero : T.Exp(x - m);

    /// <summary>
    /// O[r, c] += sum over the 16 keys cBase + j of P[r, cBase + j] V[cBase + j, c]; the thread's own
    /// P values are its keys tx + cBase, so lane j of the half-warp holds key cBase + j.
    /// </summary>
    private static Tile4<T> PvSlice<T>(Tile4<T> o, T p0, T p1, T p2, T p3, ArrayView<T> vs, int cBase, int tx, int halfWarp)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Row4<T> o0 = o.R0, o1 = o.R1, o2 = o.R2, o3 = o.R3;
        for (int j = 0; j < 16; j++)
        {
            int src = halfWarp | j;
            var row = vs.SubView((cBase + j) * Columns + tx);
            var vv = new Row4<T>(row[0], row[16], row[32], row[48]);
            o0 = Row4<T>.Fma(o0, Warp.Shuffle(p0, src), vv);
            o1 = Row4<T>.Fma(o1, Warp.Shuffle(p1, src), vv);
            o2 = Row4<T>.Fma(o2, Warp.Shuffle(p2, src), vv);
            o3 = Row4<T>.Fma(o3, Warp.Shuffle(p3, src), vv);
        }
        return new Tile4<T>(o0, o1, o2, o3);
    }

    private static void Store<T>(ArrayView<T> o, AttentionArgs s, long oBase, int t, int c0, Row4<T> acc, T l)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (t >= s.L) return;
        T inv = T.One / l;
        long row = oBase + (long)t * s.V;
        if (c0 < s.V) o[row + c0] = acc.X0 * inv;
        if (c0 + 16 < s.V) o[row + c0 + 16] = acc.X1 * inv;
        if (c0 + 32 < s.V) o[row + c0 + 32] = acc.X2 * inv;
        if (c0 + 48 < s.V) o[row + c0 + 48] = acc.X3 * inv;
    }
}
