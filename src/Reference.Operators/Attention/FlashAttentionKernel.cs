using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Reference.Core.Kernels;

namespace Reference.Operators.Attention;

/// <summary>
/// The fast tier of causal softmax attention: FlashAttention's tiled online softmax (Dao et al.,
/// arXiv:2205.14135, Algorithm 1; the loop order of FlashAttention-2, arXiv:2307.08691, Algorithm 1:
/// one query tile at a time, key tiles inner, output rescaled lazily) arranged for a CPU core.
/// <para>Glossary (code = paper): query tile Q_i = QueryTile rows of scale q (scale folded into Q once);
/// key tile K_j, V_j = KeyTile rows of k, v; st = S_ij^T = K_j Q_i^T (scores, transposed: keys are
/// rows, queries are columns); m, l = running row max and row sum (m_i, l_i); alpha = exp(m_old - m_new)
/// (the rescale factor of the online softmax); acc = the unnormalised output O_i.</para>
/// <para>Why the scores are transposed: with keys as rows, the softmax over keys runs down the columns,
/// so every max, exp and sum is an element-wise Vector256 operation over QueryTile queries (no
/// horizontal reductions); K is read in place (its rows are the broadcast operand, no transposed
/// copy of K); and P_ij^T stores, for a key, the probabilities of consecutive queries contiguously,
/// which is the broadcast operand of O += P V.</para>
/// <para>Both products use one register tile of MR = 6 rows x NR = 2 Vector256 (12 accumulators; the
/// GemmMicroKernel shape of FastGemm): st[6 keys x NR queries] = K rows . Q^T over the head dim, and
/// acc[6 queries x NR value columns] = alpha acc + P^T . V over the live keys. Register blocks that the
/// causal mask or the window leaves empty are never computed, and the P V reduction of every 6-query
/// block stops at its last live key, so the causal diagonal costs about half a tile.</para>
/// <para>Tile sizes (float32, head dims 64): st is 96 x 48 x 4 B = 18 KB and Q^T 12 KB, so both stay
/// in the 32 KB L1d while one key tile's K and V rows (2 x 24 KB) stream from L2, where the whole
/// head's K and V (512 KB at L = 1024) stay for all its query tiles. Per key tile the Q K^T and P V
/// products do 48 x 96 x 2 x 64 multiply-adds against 96 x 48 exponentials.</para>
/// <para>Threads: work items are (batch, head, query tile), taken from a shared counter head by head
/// and, inside a head, in decreasing order of work (query tiles far down the sequence have the most
/// keys). Head-major order keeps one head's K and V hot in cache for all its query tiles (faster
/// than sweeping all heads per tile index: bench/NOTES.md, "Softmax attention"); decreasing work
/// inside the last head makes the tail a run of small tiles (the longest-processing-time rule), so
/// the cores finish within about one small tile of each other.</para>
/// <para>Accumulation order (float64 differs from the definition only by rounding): scores sum the head
/// dim in order with FMA; the output adds key tiles in order, inside a tile keys in order; the row sum
/// l adds per-tile partial sums. Independent of the thread count (one item = one thread).</para>
/// <para>Options (fla's naive_parallel_attn): non-causal attention lets a query see the keys up to
/// <c>ahead</c> positions after it (ahead = L: all of them; every mask test below reads ahead = 0 as
/// causal); the forget gate adds (G_q - G_k) GateScale to every score as it is loaded into the online
/// softmax (G = the gate's prefix sums per query head; the same value in the max and the exp pass);
/// a sink logit enters each row once, after the last key tile: M = max(m, sink),
/// l = l exp(m - M) + exp(sink - M), acc scaled by exp(m - M). The row's M and M + log l are the
/// MaxLogit and Lse outputs.</para>
/// <para>Simplifications: V is copied to a zero-padded layout only when the value dim is not a multiple
/// of NR; no K/V reuse across the G query heads of a kv head beyond the caches.</para>
/// </summary>
internal static class FlashAttentionKernel
{
    /// <summary>Rows of the register tile.</summary>
    private const int MR = 6;

    /// <summary>Queries per tile: a multiple of MR and of NR (16 float32, 8 float64).</summary>
    internal const int QueryTile = 48;

    /// <summary>Keys per tile: a multiple of MR; st is KeyTile x QueryTile.</summary>
    internal const int KeyTile = 96;

    /// <summary>Register tile width: two Vector256 of T.</summary>
    private static int NR<T>() => 2 * Vector256<T>.Count;

    /// <summary>
    /// The options beyond the causal window: keys up to Ahead positions after the query (0 = causal); the
    /// gate's prefix sums Gate [B Hq, L] and its scale; sink logits [Hq]; and where to write each row's
    /// max logit and log-sum-exp [B Hq L] (null = not wanted).
    /// </summary>
    public sealed record Extras<T>(int Ahead, T[]? Gate, T GateScale, T[]? Sinks, T[]? MaxLogit, T[]? Lse)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Plain causal attention: no look-ahead, gate, sinks or statistics.</summary>
        public static Extras<T> None { get; } = new(0, null, T.One, null, null, null);
    }

    /// <summary>
    /// o[B, Hq, L, V] = softmax(scale q k^T, causal band of width window) v for q [B, Hq, L, K],
    /// k [B, Hkv, L, K], v [B, Hkv, L, V] (row-major arrays); query head h reads kv head h / (Hq / Hkv).
    /// </summary>
    public static void Forward<T>(T[] q, T[] k, T[] v, T[] o, int b, int hq, int hkv, int l, int kd, int vd,
        T scale, int window, int threads, Extras<T>? extras = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = extras ?? Extras<T>.None;
        int nr = NR<T>();
        int vdPad = (vd + nr - 1) / nr * nr;
        var vp = v;
        PooledArray<T>? padded = null;
        if (vdPad != vd)
        {
            padded = PooledArray<T>.Rent(b * hkv * l * vdPad);
            vp = padded.Data;
            for (int row = 0; row < b * hkv * l; row++)
            {
                v.AsSpan(row * vd, vd).CopyTo(vp.AsSpan(row * vdPad));
                vp.AsSpan(row * vdPad + vd, vdPad - vd).Clear();
            }
        }
        int tiles = (l + QueryTile - 1) / QueryTile, heads = b * hq, items = heads * tiles;
        var job = PerThread<TileJob<T>, int>.Take(0);
        (job.Q, job.K, job.V, job.O, job.X) = (q, k, vp, o, x);
        (job.Hq, job.Hkv, job.Length, job.KDim, job.VDim, job.VPad, job.Tiles, job.Scale, job.Window) = (hq, hkv, l, kd, vd, vdPad, tiles, scale, window);
        ParallelItems.For(items, threads, job);
        (job.Q, job.K, job.V, job.O, job.X) = (null!, null!, null!, null!, null!);
        PerThread<TileJob<T>, int>.Give(job);
        if (padded is not null) PooledArray<T>.Return(padded);
    }

    /// <summary>
    /// Query tile item of one call (a ParallelItems body, pooled per calling thread): items run head by head,
    /// the last tile of a head first (the longest), so one head's K and V stay hot in cache.
    /// </summary>
    private sealed class TileJob<T> : IParallelBody, IPerThreadWorkspace<TileJob<T>, int> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T[] Q = null!, K = null!, V = null!, O = null!;
        public Extras<T> X = null!;
        public int Hq, Hkv, Length, KDim, VDim, VPad, Tiles, Window;
        public T Scale;

        public static TileJob<T> Create(int key) => new();

        public bool Fits(int key) => true;

        public void Run(int item)
        {
            int l = Length, kd = KDim, vd = VDim, vdPad = VPad, g = Hq / Hkv;
            var scratch = PerThread<Scratch<T>, (int, int)>.Take((kd, vdPad));
            int bh = item / Tiles, tile = Tiles - 1 - item % Tiles;
            int kvIndex = bh / Hq * Hkv + bh % Hq / g;
            QueryTileForward(Q.AsSpan(bh * l * kd, l * kd), K.AsSpan(kvIndex * l * kd, l * kd),
                V.AsSpan(kvIndex * l * vdPad, l * vdPad), O.AsSpan(bh * l * vd, l * vd),
                l, kd, vd, vdPad, tile * QueryTile, Scale, Window, scratch, X, bh, bh % Hq);
            scratch.GateK = default;
            PerThread<Scratch<T>, (int, int)>.Give(scratch);
        }
    }

    /// <summary>Per-thread buffers, kept across calls (PerThread) and reused by every tile.</summary>
    private sealed class Scratch<T>(int kd, int vdPad) : IPerThreadWorkspace<Scratch<T>, (int, int)> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static Scratch<T> Create((int, int) key) => new(key.Item1, key.Item2);

        public bool Fits((int, int) key) => key == (kd, vdPad);

        /// <summary>(scale Q_i)^T [K, QueryTile], zero columns past the last query.</summary>
        public readonly T[] Qt = new T[kd * QueryTile];
        /// <summary>S_ij^T, then P_ij^T, [KeyTile, QueryTile].</summary>
        public readonly T[] St = new T[KeyTile * QueryTile];
        /// <summary>Unnormalised O_i [QueryTile, Vpad].</summary>
        public readonly T[] Acc = new T[QueryTile * vdPad];
        /// <summary>The last keys of the sequence, zero-padded to MR rows.</summary>
        public readonly T[] KeyEdge = new T[MR * kd];
        public readonly T[] M = new T[QueryTile], L = new T[QueryTile], Alpha = new T[QueryTile];
        /// <summary>Gate prefix sums G of the tile's queries (zeros past the last query), and of the whole head's keys.</summary>
        public readonly T[] GateQ = new T[QueryTile];
        public ReadOnlyMemory<T> GateK;
    }

    /// <summary>
    /// Queries [i0, i0 + rows) of one head: q, o are the head's [L, K] and [L, V] blocks, k, v its kv
    /// head's [L, K] and [L, Vpad] blocks.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void QueryTileForward<T>(ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, Span<T> o,
        int l, int kd, int vd, int vdPad, int i0, T scale, int window, Scratch<T> s, Extras<T> x, int row, int head)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int ahead = x.Ahead;
        int rows = Math.Min(QueryTile, l - i0);
        if (rows < QueryTile) s.Qt.AsSpan().Clear();
        // The transpose reads q row by row and writes Q^T with stride QueryTile (bounds fixed by the
        // slice above: rows <= L - i0, QueryTile * K = Qt.Length).
        ref T qt = ref MemoryMarshal.GetArrayDataReference(s.Qt);
        ref T src = ref Unsafe.Add(ref MemoryMarshal.GetReference(q), i0 * kd);
        for (int r = 0; r < rows; r++)
            for (int p = 0; p < kd; p++)
                Unsafe.Add(ref qt, p * QueryTile + r) = scale * Unsafe.Add(ref src, r * kd + p);
        s.Acc.AsSpan().Clear();
        s.M.AsSpan().Fill(T.NegativeInfinity);
        s.L.AsSpan().Clear();
        bool gated = x.Gate is not null;
        if (gated)
        {
            s.GateQ.AsSpan().Clear();
            x.Gate.AsSpan(row * l + i0, rows).CopyTo(s.GateQ);
            s.GateK = x.Gate.AsMemory(row * l, l);
        }
        int firstKey = Math.Max(0, i0 - window + 1), endKey = Math.Min(l, i0 + rows + ahead);
        for (int j0 = firstKey; j0 < endKey; j0 += KeyTile)
        {
            int cols = Math.Min(KeyTile, endKey - j0);
            Scores(k, l, kd, i0, rows, j0, cols, window, ahead, s);
            OnlineSoftmax(i0, rows, j0, cols, window, ahead, gated, x.GateScale, s);
            Values(v, vdPad, i0, rows, j0, cols, window, ahead, s);
        }
        for (int r = 0; r < rows; r++)
        {
            T m = s.M[r], lsum = s.L[r], factor = T.One / lsum;
            if (x.Sinks is not null)
            {
                // The sink: one more logit in the normaliser, no value (acc is unchanged but rescaled).
                T sink = x.Sinks[head], big = T.Max(m, sink), a = T.Exp(m - big);
                lsum = lsum * a + T.Exp(sink - big);
                factor = a / lsum;
                m = big;
            }
            TensorPrimitives.Multiply(s.Acc.AsSpan(r * vdPad, vd), factor, o.Slice((i0 + r) * vd, vd));
            if (x.MaxLogit is not null) x.MaxLogit[row * l + i0 + r] = m;
            if (x.Lse is not null) x.Lse[row * l + i0 + r] = m + T.Log(lsum);
        }
    }

    /// <summary>st[j, r] = k[j0 + j] . qt[:, r] for every register block holding a live (key, query) pair.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scores<T>(ReadOnlySpan<T> k, int l, int kd, int i0, int rows, int j0, int cols, int window, int ahead, Scratch<T> s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nr = NR<T>();
        ref T qt = ref MemoryMarshal.GetArrayDataReference(s.Qt);
        ref T st = ref MemoryMarshal.GetArrayDataReference(s.St);
        for (int kb = 0; kb < cols; kb += MR)
        {
            int keyLo = j0 + kb, keyHi = j0 + Math.Min(kb + MR, cols) - 1;
            ref T keys = ref MemoryMarshal.GetReference(k);
            if (keyLo + MR <= l) keys = ref Unsafe.Add(ref keys, keyLo * kd);
            else
            {
                // The sequence ends inside this register block: a zero-padded copy keeps the kernel's 6 rows in bounds.
                var edge = s.KeyEdge.AsSpan();
                edge.Clear();
                k.Slice(keyLo * kd, (l - keyLo) * kd).CopyTo(edge);
                keys = ref MemoryMarshal.GetArrayDataReference(s.KeyEdge);
            }
            for (int cb = 0; cb < rows; cb += nr)
            {
                int queryLo = i0 + cb, queryHi = i0 + Math.Min(cb + nr, rows) - 1;
                if (keyLo > queryHi + ahead || keyHi <= queryLo - window) continue;
                ScoreBlock(kd, ref keys, kd, ref Unsafe.Add(ref qt, cb), QueryTile, ref Unsafe.Add(ref st, kb * QueryTile + cb), QueryTile);
            }
        }
    }

    /// <summary>
    /// The online softmax step on st, column by column (one query per lane): m_new = max(m, max_j s_j),
    /// p_j = exp(s_j - m_new), l = alpha l + sum_j p_j with alpha = exp(m - m_new). Masked pairs become
    /// p = 0 (the -inf of the mask is exponentiated to 0); when a lane has no live key yet, m_new = -inf
    /// and the shift is taken as 0, so no -inf - (-inf) appears.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void OnlineSoftmax<T>(int i0, int rows, int j0, int cols, int window, int ahead, bool gated, T gateScale, Scratch<T> s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count;
        ref T st = ref MemoryMarshal.GetArrayDataReference(s.St);
        ref T mRef = ref MemoryMarshal.GetArrayDataReference(s.M);
        ref T lRef = ref MemoryMarshal.GetArrayDataReference(s.L);
        ref T aRef = ref MemoryMarshal.GetArrayDataReference(s.Alpha);
        var minusInf = Vector256.Create(T.NegativeInfinity);
        // The P V step of a 6-query block reads keys [allLo, cols) where any of its queries is live:
        // outside a lane's own live range those entries must be 0.
        int allLo = Math.Max(0, i0 - window + 1 - j0);
        for (int c = 0; c < QueryTile; c += w)
        {
            // last = the last valid lane's query offset in the tile; lanes past the tile's rows are padding.
            int queryLo = i0 + c, last = Math.Min(c + w, rows) - 1;
            int lo = Math.Max(0, queryLo - window + 1 - j0), hi = Math.Min(cols, i0 + last + ahead - j0 + 1);
            if (c >= rows || lo >= hi)
            {
                Vector256<T>.One.StoreUnsafe(ref aRef, (nuint)c);
                ZeroRows(ref st, c, allLo, cols);
                continue;
            }
            ZeroRows(ref st, c, allLo, lo);
            ZeroRows(ref st, c, hi, cols);
            // A lane-range mask is needed on the causal diagonal, at the window's lower edge, and for
            // lanes past the last query; interior blocks skip it.
            bool masked = j0 + hi - 1 > queryLo + ahead || j0 + lo <= i0 + last - window || last < c + w - 1;
            var gq = gated ? Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(s.GateQ), (nuint)c) : default;
            var gs = Vector256.Create(gateScale);
            var gk = s.GateK.Span;
            var mOld = Vector256.LoadUnsafe(ref mRef, (nuint)c);
            var mNew = mOld;
            // MaxNative is one vmaxps; Vector256.Max orders -0 below +0 and propagates NaN at several times
            // the cost. A NaN score still reaches the output through exp(NaN) in p.
            for (int j = lo; j < hi; j++)
            {
                var x = Vector256.LoadUnsafe(ref st, (nuint)(j * QueryTile + c));
                if (gated) x += (gq - Vector256.Create(gk[j0 + j])) * gs;
                if (masked) x = Mask(x, j0 + j - queryLo, window, ahead, last - c, minusInf);
                mNew = Vector256.MaxNative(mNew, x);
            }
            var shift = Vector256.ConditionalSelect(Vector256.Equals(mNew, minusInf), Vector256<T>.Zero, mNew);
            var sum = Vector256<T>.Zero;
            for (int j = lo; j < hi; j++)
            {
                ref T cell = ref Unsafe.Add(ref st, j * QueryTile + c);
                var x = Vector256.LoadUnsafe(ref cell);
                if (gated) x += (gq - Vector256.Create(gk[j0 + j])) * gs;
                if (masked) x = Mask(x, j0 + j - queryLo, window, ahead, last - c, minusInf);
                var p = VectorMath.Exp(x - shift);
                p.StoreUnsafe(ref cell);
                sum += p;
            }
            var alpha = VectorMath.Exp(mOld - shift);
            alpha.StoreUnsafe(ref aRef, (nuint)c);
            (Vector256.LoadUnsafe(ref lRef, (nuint)c) * alpha + sum).StoreUnsafe(ref lRef, (nuint)c);
            mNew.StoreUnsafe(ref mRef, (nuint)c);
        }
    }

    /// <summary>
    /// Keeps lane r of x where key offset d (key position minus the lane-0 query position) is live
    /// for query r: d - ahead &lt;= r &lt;= d + window - 1, and r &lt;= lastLane; -inf elsewhere. The bounds are
    /// clamped to [-1, w] so they are exact small integers in T.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> Mask<T>(Vector256<T> x, int d, int window, int ahead, int lastLane, Vector256<T> minusInf)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count;
        int lo = Math.Clamp(d - ahead, -1, w), hi = Math.Clamp(Math.Min(lastLane, d + window - 1), -1, w);
        var lane = Vector256<T>.Indices;
        var live = Vector256.GreaterThanOrEqual(lane, Vector256.Create(T.CreateTruncating(lo)))
            & Vector256.LessThanOrEqual(lane, Vector256.Create(T.CreateTruncating(hi)));
        return Vector256.ConditionalSelect(live, x, minusInf);
    }

    private static void ZeroRows<T>(ref T st, int c, int from, int to) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int j = from; j < to; j++) Vector256<T>.Zero.StoreUnsafe(ref st, (nuint)(j * QueryTile + c));
    }

    /// <summary>acc[r] = alpha[r] acc[r] + sum_j p[j, r] v[j0 + j] over the keys live for 6-query block r.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Values<T>(ReadOnlySpan<T> v, int vdPad, int i0, int rows, int j0, int cols, int window, int ahead, Scratch<T> s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nr = NR<T>();
        ref T st = ref MemoryMarshal.GetArrayDataReference(s.St);
        ref T acc = ref MemoryMarshal.GetArrayDataReference(s.Acc);
        ref T alpha = ref MemoryMarshal.GetArrayDataReference(s.Alpha);
        ref T values = ref Unsafe.Add(ref MemoryMarshal.GetReference(v), j0 * vdPad);
        for (int vb = 0; vb < vdPad; vb += nr)
            for (int rb = 0; rb < rows; rb += MR)
            {
                int queryLo = i0 + rb, queryHi = i0 + Math.Min(rb + MR, rows) - 1;
                int lo = Math.Max(0, queryLo - window + 1 - j0), hi = Math.Min(cols, queryHi + ahead - j0 + 1);
                if (lo >= hi) continue;
                ValueBlock(lo, hi, ref Unsafe.Add(ref st, rb), QueryTile, ref Unsafe.Add(ref values, vb), vdPad,
                    ref Unsafe.Add(ref acc, rb * vdPad + vb), vdPad, ref Unsafe.Add(ref alpha, rb));
            }
    }

    /// <summary>
    /// c[6 x NR] = a[6 x depth] b[depth x NR]: a row-major (row i at a + i lda), b row-major (ldb),
    /// c row-major (ldc). Per p: two loads of b, six broadcasts of a, twelve independent FMAs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScoreBlock<T>(int depth, ref T a, int lda, ref T b, int ldb, ref T c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count;
        ref T a0 = ref a;
        ref T a1 = ref Unsafe.Add(ref a0, lda);
        ref T a2 = ref Unsafe.Add(ref a1, lda);
        ref T a3 = ref Unsafe.Add(ref a2, lda);
        ref T a4 = ref Unsafe.Add(ref a3, lda);
        ref T a5 = ref Unsafe.Add(ref a4, lda);
        Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < depth; p++)
        {
            var b0 = Vector256.LoadUnsafe(ref b);
            var b1 = Vector256.LoadUnsafe(ref b, (nuint)w);
            var ai = Vector256.Create(Unsafe.Add(ref a0, p));
            c00 = VectorMath.FusedMultiplyAdd(ai, b0, c00); c01 = VectorMath.FusedMultiplyAdd(ai, b1, c01);
            ai = Vector256.Create(Unsafe.Add(ref a1, p));
            c10 = VectorMath.FusedMultiplyAdd(ai, b0, c10); c11 = VectorMath.FusedMultiplyAdd(ai, b1, c11);
            ai = Vector256.Create(Unsafe.Add(ref a2, p));
            c20 = VectorMath.FusedMultiplyAdd(ai, b0, c20); c21 = VectorMath.FusedMultiplyAdd(ai, b1, c21);
            ai = Vector256.Create(Unsafe.Add(ref a3, p));
            c30 = VectorMath.FusedMultiplyAdd(ai, b0, c30); c31 = VectorMath.FusedMultiplyAdd(ai, b1, c31);
            ai = Vector256.Create(Unsafe.Add(ref a4, p));
            c40 = VectorMath.FusedMultiplyAdd(ai, b0, c40); c41 = VectorMath.FusedMultiplyAdd(ai, b1, c41);
            ai = Vector256.Create(Unsafe.Add(ref a5, p));
            c50 = VectorMath.FusedMultiplyAdd(ai, b0, c50); c51 = VectorMath.FusedMultiplyAdd(ai, b1, c51);
            b = ref Unsafe.Add(ref b, ldb);
        }
        nuint ld = (nuint)ldc, wu = (nuint)w;
        c00.StoreUnsafe(ref c); c01.StoreUnsafe(ref c, wu);
        c10.StoreUnsafe(ref c, ld); c11.StoreUnsafe(ref c, ld + wu);
        c20.StoreUnsafe(ref c, 2 * ld); c21.StoreUnsafe(ref c, 2 * ld + wu);
        c30.StoreUnsafe(ref c, 3 * ld); c31.StoreUnsafe(ref c, 3 * ld + wu);
        c40.StoreUnsafe(ref c, 4 * ld); c41.StoreUnsafe(ref c, 4 * ld + wu);
        c50.StoreUnsafe(ref c, 5 * ld); c51.StoreUnsafe(ref c, 5 * ld + wu);
    }

    /// <summary>
    /// c[6 x NR] = diag(alpha) c + sum_{p = lo}^{hi - 1} a[:, p] b[p, :] with a column-major (column p,
    /// the 6 values a[i, p], at a + p lda), b and c row-major. The rescale by alpha (FlashAttention's
    /// diag(exp(m_old - m_new)) O) is fused into the load of c.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ValueBlock<T>(int lo, int hi, ref T a, int lda, ref T b, int ldb, ref T c, int ldc, ref T alpha)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count;
        nuint ld = (nuint)ldc, wu = (nuint)w;
        var s = Vector256.Create(alpha);
        var c00 = Vector256.LoadUnsafe(ref c) * s; var c01 = Vector256.LoadUnsafe(ref c, wu) * s;
        s = Vector256.Create(Unsafe.Add(ref alpha, 1));
        var c10 = Vector256.LoadUnsafe(ref c, ld) * s; var c11 = Vector256.LoadUnsafe(ref c, ld + wu) * s;
        s = Vector256.Create(Unsafe.Add(ref alpha, 2));
        var c20 = Vector256.LoadUnsafe(ref c, 2 * ld) * s; var c21 = Vector256.LoadUnsafe(ref c, 2 * ld + wu) * s;
        s = Vector256.Create(Unsafe.Add(ref alpha, 3));
        var c30 = Vector256.LoadUnsafe(ref c, 3 * ld) * s; var c31 = Vector256.LoadUnsafe(ref c, 3 * ld + wu) * s;
        s = Vector256.Create(Unsafe.Add(ref alpha, 4));
        var c40 = Vector256.LoadUnsafe(ref c, 4 * ld) * s; var c41 = Vector256.LoadUnsafe(ref c, 4 * ld + wu) * s;
        s = Vector256.Create(Unsafe.Add(ref alpha, 5));
        var c50 = Vector256.LoadUnsafe(ref c, 5 * ld) * s; var c51 = Vector256.LoadUnsafe(ref c, 5 * ld + wu) * s;
        ref T ap = ref Unsafe.Add(ref a, lo * lda);
        ref T bp = ref Unsafe.Add(ref b, lo * ldb);
        for (int p = lo; p < hi; p++)
        {
            var b0 = Vector256.LoadUnsafe(ref bp);
            var b1 = Vector256.LoadUnsafe(ref bp, wu);
            var ai = Vector256.Create(ap);
            c00 = VectorMath.FusedMultiplyAdd(ai, b0, c00); c01 = VectorMath.FusedMultiplyAdd(ai, b1, c01);
            ai = Vector256.Create(Unsafe.Add(ref ap, 1));
            c10 = VectorMath.FusedMultiplyAdd(ai, b0, c10); c11 = VectorMath.FusedMultiplyAdd(ai, b1, c11);
            ai = Vector256.Create(Unsafe.Add(ref ap, 2));
            c20 = VectorMath.FusedMultiplyAdd(ai, b0, c20); c21 = VectorMath.FusedMultiplyAdd(ai, b1, c21);
            ai = Vector256.Create(Unsafe.Add(ref ap, 3));
            c30 = VectorMath.FusedMultiplyAdd(ai, b0, c30); c31 = VectorMath.FusedMultiplyAdd(ai, b1, c31);
            ai = Vector256.Create(Unsafe.Add(ref ap, 4));
            c40 = VectorMath.FusedMultiplyAdd(ai, b0, c40); c41 = VectorMath.FusedMultiplyAdd(ai, b1, c41);
            ai = Vector256.Create(Unsafe.Add(ref ap, 5));
            c50 = VectorMath.FusedMultiplyAdd(ai, b0, c50); c51 = VectorMath.FusedMultiplyAdd(ai, b1, c51);
            ap = ref Unsafe.Add(ref ap, lda);
            bp = ref Unsafe.Add(ref bp, ldb);
        }
        c00.StoreUnsafe(ref c); c01.StoreUnsafe(ref c, wu);
        c10.StoreUnsafe(ref c, ld); c11.StoreUnsafe(ref c, ld + wu);
        c20.StoreUnsafe(ref c, 2 * ld); c21.StoreUnsafe(ref c, 2 * ld + wu);
        c30.StoreUnsafe(ref c, 3 * ld); c31.StoreUnsafe(ref c, 3 * ld + wu);
        c40.StoreUnsafe(ref c, 4 * ld); c41.StoreUnsafe(ref c, 4 * ld + wu);
        c50.StoreUnsafe(ref c, 5 * ld); c51.StoreUnsafe(ref c, 5 * ld + wu);
    }
}
