using System.Numerics;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace Reference.Cuda.Kernels;

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

    /// <summary>4-element groups of one staged 64-wide row in <see cref="KernelVector{T}"/>.</summary>
    private const int Quads = 16;

    /// <summary>Whether <see cref="KernelVector{T}"/> takes a launch: float32 (its 48 KiB of shared memory would be 96 KiB in float64) and K &lt;= 64 (Q's tile stays staged whole).</summary>
    public static bool VectorFits(int elementSize, int kd) => elementSize == 4 && kd <= Keys;

    /// <summary>
    /// The same algorithm and blocking (64 query rows x 64 keys x 64 value columns, 256 threads) with
    /// 16-byte shared reads, as the GEMM's vector kernel: a thread owns the 4 consecutive rows 4 ty + i,
    /// the keys tx + 16 j and the value columns 4 tx + j. Q's tile [64 rows, K &lt;= 64] is staged once;
    /// each key tile stages K [64 keys, K] and V [64 keys, 64 columns] from registers that were loaded
    /// during the previous tile (the global loads overlap the arithmetic). S = Q K^T then reads one
    /// 16-byte group of 4 dimensions of each of the thread's 4 rows and 4 keys per 64 FMAs (the scalar
    /// kernel: 8 reads per 16 FMAs), and P is written transposed over K's tile (K is no longer read) so
    /// that P V reads one group of 4 rows of P and one of 4 columns of V per key, 16 FMAs (the scalar
    /// kernel: 4 reads and 4 shuffles). 48 KiB of shared memory, no padding: K's and P's rows are
    /// swizzled (group g of row r stored at g xor (r mod 8)) and Q's (g xor (r / 4 mod 8)), so the 8
    /// threads of a 16-byte access phase, which read 8 different rows, hit 8 different bank quads.
    /// Accumulation order per output as in <see cref="Kernel{T}"/>: key tiles ascending, dot products
    /// over the key dimension ascending, P V over the tile's keys ascending.
    /// </summary>
    public static void KernelVector<T>(ArrayView<T> q, ArrayView<T> k, ArrayView<T> v, ArrayView<T> o, AttentionArgs s, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var qs = SharedMemory.Allocate<Row4<T>>(Rows * Quads);
        var kp = SharedMemory.Allocate<Row4<T>>(Keys * Quads);
        var vs = SharedMemory.Allocate<Row4<T>>(Keys * Quads);
        var qScalar = qs.Cast<T>();
        var kScalar = kp.Cast<T>();
        var vScalar = vs.Cast<T>();
        int tid = Group.IdxX, tx = tid & 15, ty = tid >> 4, keySwizzle = tx & 7, rowSwizzle = ty & 7;
        int q0 = (s.HeavyFirst != 0 ? Grid.DimX - 1 - Grid.IdxX : Grid.IdxX) * Rows, bh = Grid.IdxY, v0 = Grid.IdxZ * Columns;
        int batch = bh / s.Hq, h = bh - batch * s.Hq, kvh = h / (s.Hq / s.Hkv);
        long qBase = (long)bh * s.L * s.K, oBase = (long)bh * s.L * s.V;
        long kBase = ((long)batch * s.Hkv + kvh) * s.L * s.K, vBase = ((long)batch * s.Hkv + kvh) * s.L * s.V;
        int first = s.Window > 0 ? Math.Max(0, q0 - s.Window + 1) : 0;
        int end = Math.Min(s.L, q0 + Rows);
        int quads = (s.K + 3) >> 2;

        // Thread tid stages elements tid + 256 i of a 64 x 64 tile: row (tid >> 6) + 4 i, column tid & 63.
        int stageRow = tid >> 6, stageCol = tid & 63;
        for (int i = 0; i < 16; i++)
        {
            int r = stageRow + 4 * i, t = q0 + r;
            qScalar[SwizzledIndex(r, stageCol, (r >> 2) & 7)] = t < s.L && stageCol < s.K ? q[qBase + (long)t * s.K + stageCol] : T.Zero;
        }
        var k4a = LoadTile4(k, kBase, first, stageRow, stageCol, 0, s.K, s.L);
        var k4b = LoadTile4(k, kBase, first, stageRow, stageCol, 16, s.K, s.L);
        var k4c = LoadTile4(k, kBase, first, stageRow, stageCol, 32, s.K, s.L);
        var k4d = LoadTile4(k, kBase, first, stageRow, stageCol, 48, s.K, s.L);
        var v4a = LoadTile4(v, vBase, first, stageRow, v0 + stageCol, 0, s.V, s.L);
        var v4b = LoadTile4(v, vBase, first, stageRow, v0 + stageCol, 16, s.V, s.L);
        var v4c = LoadTile4(v, vBase, first, stageRow, v0 + stageCol, 32, s.V, s.L);
        var v4d = LoadTile4(v, vBase, first, stageRow, v0 + stageCol, 48, s.V, s.L);

        var m = new Row4<T>(T.NegativeInfinity, T.NegativeInfinity, T.NegativeInfinity, T.NegativeInfinity);
        var l = default(Row4<T>);
        var acc = default(Tile4<T>);
        for (int k0 = first; k0 < end; k0 += Keys)
        {
            StoreKeyTile(kScalar, k4a, stageRow, stageCol, 0); StoreKeyTile(kScalar, k4b, stageRow, stageCol, 16);
            StoreKeyTile(kScalar, k4c, stageRow, stageCol, 32); StoreKeyTile(kScalar, k4d, stageRow, stageCol, 48);
            StoreValueTile(vScalar, v4a, tid, 0); StoreValueTile(vScalar, v4b, tid, 1024);
            StoreValueTile(vScalar, v4c, tid, 2048); StoreValueTile(vScalar, v4d, tid, 3072);
            Group.Barrier();
            int next = k0 + Keys;
            if (next < end)
            {
                k4a = LoadTile4(k, kBase, next, stageRow, stageCol, 0, s.K, s.L);
                k4b = LoadTile4(k, kBase, next, stageRow, stageCol, 16, s.K, s.L);
                k4c = LoadTile4(k, kBase, next, stageRow, stageCol, 32, s.K, s.L);
                k4d = LoadTile4(k, kBase, next, stageRow, stageCol, 48, s.K, s.L);
                v4a = LoadTile4(v, vBase, next, stageRow, v0 + stageCol, 0, s.V, s.L);
                v4b = LoadTile4(v, vBase, next, stageRow, v0 + stageCol, 16, s.V, s.L);
                v4c = LoadTile4(v, vBase, next, stageRow, v0 + stageCol, 32, s.V, s.L);
                v4d = LoadTile4(v, vBase, next, stageRow, v0 + stageCol, 48, s.V, s.L);
            }

            // S = Q K^T, 4 dimensions (one 16-byte group) of the thread's 4 rows and 4 keys at a time.
            var s0 = default(Row4<T>); var s1 = default(Row4<T>); var s2 = default(Row4<T>); var s3 = default(Row4<T>);
            int qRow = ty * 4 * Quads;
            for (int g = 0; g < quads; g++)
            {
                int qg = g ^ rowSwizzle, kg = g ^ keySwizzle;
                var a0 = qs[qRow + qg]; var a1 = qs[qRow + Quads + qg]; var a2 = qs[qRow + 2 * Quads + qg]; var a3 = qs[qRow + 3 * Quads + qg];
                var b0 = kp[tx * Quads + kg]; var b1 = kp[(tx + 16) * Quads + kg];
                var b2 = kp[(tx + 32) * Quads + kg]; var b3 = kp[(tx + 48) * Quads + kg];
                s0 = Dot4(s0, a0, b0, b1, b2, b3); s1 = Dot4(s1, a1, b0, b1, b2, b3);
                s2 = Dot4(s2, a2, b0, b1, b2, b3); s3 = Dot4(s3, a3, b0, b1, b2, b3);
            }

            int kc = k0 + tx, t0 = q0 + 4 * ty;
            s0 = Mask(s0, scale, t0, kc, s); s1 = Mask(s1, scale, t0 + 1, kc, s);
            s2 = Mask(s2, scale, t0 + 2, kc, s); s3 = Mask(s3, scale, t0 + 3, kc, s);
            var mNew = new Row4<T>(T.Max(m.X0, RowMax(s0)), T.Max(m.X1, RowMax(s1)), T.Max(m.X2, RowMax(s2)), T.Max(m.X3, RowMax(s3)));
            var rescale = new Row4<T>(Rescale(m.X0, mNew.X0), Rescale(m.X1, mNew.X1), Rescale(m.X2, mNew.X2), Rescale(m.X3, mNew.X3));
            s0 = Probabilities(s0, mNew.X0); s1 = Probabilities(s1, mNew.X1);
            s2 = Probabilities(s2, mNew.X2); s3 = Probabilities(s3, mNew.X3);
            l = new Row4<T>(rescale.X0 * l.X0 + RowSum(s0), rescale.X1 * l.X1 + RowSum(s1),
                rescale.X2 * l.X2 + RowSum(s2), rescale.X3 * l.X3 + RowSum(s3));
            acc = new Tile4<T>(Row4<T>.Scale(acc.R0, rescale.X0), Row4<T>.Scale(acc.R1, rescale.X1),
                Row4<T>.Scale(acc.R2, rescale.X2), Row4<T>.Scale(acc.R3, rescale.X3));
            m = mNew;

            // P^T over K's tile (every thread is past its K reads), key tx + 16 j holding rows 4 ty + 0..3.
            Group.Barrier();
            kp[tx * Quads + (ty ^ keySwizzle)] = new Row4<T>(s0.X0, s1.X0, s2.X0, s3.X0);
            kp[(tx + 16) * Quads + (ty ^ keySwizzle)] = new Row4<T>(s0.X1, s1.X1, s2.X1, s3.X1);
            kp[(tx + 32) * Quads + (ty ^ keySwizzle)] = new Row4<T>(s0.X2, s1.X2, s2.X2, s3.X2);
            kp[(tx + 48) * Quads + (ty ^ keySwizzle)] = new Row4<T>(s0.X3, s1.X3, s2.X3, s3.X3);
            Group.Barrier();

            // O += P V over the tile's 64 keys ascending.
            Row4<T> o0 = acc.R0, o1 = acc.R1, o2 = acc.R2, o3 = acc.R3;
            for (int key = 0; key < Keys; key++)
            {
                var p = kp[key * Quads + (ty ^ (key & 7))];
                var vv = vs[key * Quads + tx];
                o0 = Row4<T>.Fma(o0, p.X0, vv);
                o1 = Row4<T>.Fma(o1, p.X1, vv);
                o2 = Row4<T>.Fma(o2, p.X2, vv);
                o3 = Row4<T>.Fma(o3, p.X3, vv);
            }
            acc = new Tile4<T>(o0, o1, o2, o3);
            Group.Barrier();
        }

        int c0 = v0 + 4 * tx, row0 = q0 + 4 * ty;
        StoreQuad(o, s, oBase, row0, c0, acc.R0, l.X0);
        StoreQuad(o, s, oBase, row0 + 1, c0, acc.R1, l.X1);
        StoreQuad(o, s, oBase, row0 + 2, c0, acc.R2, l.X2);
        StoreQuad(o, s, oBase, row0 + 3, c0, acc.R3, l.X3);
    }

    /// <summary>Scalar index of element (row, column) of a staged 64 x 64 tile whose 16-byte groups are swizzled by <paramref name="swizzle"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SwizzledIndex(int row, int column, int swizzle) => ((row * Quads + ((column >> 2) ^ swizzle)) << 2) | (column & 3);

    /// <summary>Elements (row0 + r + 4 i, column) for i = 0..3 of the tile of rows from <paramref name="row0"/>, zeros past L or the row width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row4<T> LoadTile4<T>(ArrayView<T> x, long xBase, int row0, int stageRow, int column, int r, int width, int l)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        new(LoadAt(x, xBase, row0 + r + stageRow, column, width, l), LoadAt(x, xBase, row0 + r + stageRow + 4, column, width, l),
            LoadAt(x, xBase, row0 + r + stageRow + 8, column, width, l), LoadAt(x, xBase, row0 + r + stageRow + 12, column, width, l));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T LoadAt<T>(ArrayView<T> x, long xBase, int row, int column, int width, int l) where T : unmanaged, IFloatingPointIeee754<T> =>
        row < l && column < width ? x[xBase + (long)row * width + column] : T.Zero;

    private static void StoreKeyTile<T>(ArrayView<T> target, Row4<T> x, int stageRow, int column, int r) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int row = r + stageRow;
        target[SwizzledIndex(row, column, row & 7)] = x.X0;
        target[SwizzledIndex(row + 4, column, (row + 4) & 7)] = x.X1;
        target[SwizzledIndex(row + 8, column, (row + 8) & 7)] = x.X2;
        target[SwizzledIndex(row + 12, column, (row + 12) & 7)] = x.X3;
    }

    /// <summary>Elements tid + offset + 256 i (row-major 64 x 64, not swizzled: V is read along its rows).</summary>
    private static void StoreValueTile<T>(ArrayView<T> target, Row4<T> x, int tid, int offset) where T : unmanaged, IFloatingPointIeee754<T>
    {
        target[offset + tid] = x.X0;
        target[offset + tid + 256] = x.X1;
        target[offset + tid + 512] = x.X2;
        target[offset + tid + 768] = x.X3;
    }

    /// <summary>acc[j] + (a . b_j) over the 4 dimensions of the group, ascending.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row4<T> Dot4<T>(Row4<T> acc, Row4<T> a, Row4<T> b0, Row4<T> b1, Row4<T> b2, Row4<T> b3) where T : unmanaged, IFloatingPointIeee754<T> =>
        new(Dot(acc.X0, a, b0), Dot(acc.X1, a, b1), Dot(acc.X2, a, b2), Dot(acc.X3, a, b3));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Dot<T>(T acc, Row4<T> a, Row4<T> b) where T : unmanaged, IFloatingPointIeee754<T> =>
        acc + a.X0 * b.X0 + a.X1 * b.X1 + a.X2 * b.X2 + a.X3 * b.X3;

    private static void StoreQuad<T>(ArrayView<T> o, AttentionArgs s, long oBase, int t, int c0, Row4<T> acc, T l)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (t >= s.L) return;
        T inv = T.One / l;
        long row = oBase + (long)t * s.V;
        if (c0 < s.V) o[row + c0] = acc.X0 * inv;
        if (c0 + 1 < s.V) o[row + c0 + 1] = acc.X1 * inv;
        if (c0 + 2 < s.V) o[row + c0 + 2] = acc.X2 * inv;
        if (c0 + 3 < s.V) o[row + c0 + 3] = acc.X3 * inv;
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
