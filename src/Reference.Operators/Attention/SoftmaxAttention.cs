using System.Numerics;
using Reference.Core;

namespace Reference.Operators.Attention;

/// <summary>Options of causal softmax attention.</summary>
/// <param name="Scale">Multiplier of q.k; null means K^-1/2 (Vaswani et al., eq. 1).</param>
/// <param name="Window">
/// Sliding window W (null = full causal): position t attends to s in (t - W, t], i.e.
/// t - W + 1 &lt;= s &lt;= t, W keys including itself. This is FlashAttention's
/// window_size = (W - 1, 0) and PyTorch's causal mask intersected with a band of width W.
/// </param>
public sealed record SoftmaxAttentionOptions(double? Scale = null, int? Window = null);

/// <summary>Gradients of <see cref="SoftmaxAttention.Backward"/>, shaped like q, k, v.</summary>
public sealed record SoftmaxAttentionGradients(Tensor<double> Dq, Tensor<double> Dk, Tensor<double> Dv);

/// <summary>
/// Causal scaled dot-product attention: Vaswani et al., "Attention Is All You Need" (arXiv:1706.03762),
/// section 3.2.1, eq. (1): softmax(Q K^T / sqrt(d_k)) V, with the causal mask of the decoder (3.2.3);
/// grouped-query attention from Ainslie et al., "GQA" (arXiv:2305.13245), section 2.2; the tiled
/// online-softmax kernel from Dao et al., "FlashAttention" (arXiv:2205.14135), Algorithm 1
/// (Milakov and Gimelshein's online normaliser, arXiv:1805.02867).
/// <para>Glossary (code = paper): q, k, v = Q, K, V; scale = 1/sqrt(d_k); s = Q K^T scale (scores);
/// p = softmax(s) row-wise = the attention probabilities = the operator matrix T; m, l = running
/// row maximum and row sum of FlashAttention (m_i, l_i); G = Hq / Hkv query heads per kv head.</para>
/// <para>Shapes: q [B, Hq, L, K], k [B, Hkv, L, K], v [B, Hkv, L, V], output [B, Hq, L, V];
/// query head h reads kv head floor(h / G) (G = 1: multi-head attention, Hkv = 1: multi-query).</para>
/// <para>Numerics: the softmax is evaluated as exp(s - max s) / sum exp(s - max s) (log-sum-exp
/// shift), so no score overflows; the online form rescales earlier partial sums by exp(m_old - m_new).</para>
/// <para>Simplifications: no dropout, no additive bias or padding masks, no attention sinks;
/// queries and keys share positions 0..L-1 (no prefix offset) except in KV-cache decoding.</para>
/// </summary>
public static class SoftmaxAttention
{
    /// <summary>Query tile (rows) and key tile (columns) of the fast kernel.</summary>
    internal const int QueryTile = 64, KeyTile = 64;

    /// <summary>
    /// The definition (float64, materialised probabilities). For every (b, h, t): scores
    /// s_j = scale sum_p q[t, p] k[j, p] (p ascending) for j in the causal window, m = max_j s_j,
    /// e_j = exp(s_j - m), Z = sum_j e_j (j ascending), o = sum_j (e_j / Z) v[j] (j ascending).
    /// </summary>
    public static Tensor<double> Forward(Tensor<double> q, Tensor<double> k, Tensor<double> v, SoftmaxAttentionOptions? options = null)
    {
        var (b, hq, l, kd, hkv, vd) = Check(q, k, v);
        var p = Materialize(q, k, options);
        var o = Tensor<double>.Zeros(b, hq, l, vd);
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < hq; h++)
            {
                int kvh = h / (hq / hkv);
                int pOff = (bi * hq + h) * l * l, vOff = (bi * hkv + kvh) * l * vd, oOff = (bi * hq + h) * l * vd;
                for (int t = 0; t < l; t++)
                    for (int j = 0; j <= t; j++)
                    {
                        double w = p.Data[pOff + t * l + j];
                        if (w == 0.0) continue;
                        for (int c = 0; c < vd; c++) o.Data[oOff + t * vd + c] += w * v.Data[vOff + j * vd + c];
                    }
            }
        return o;
    }

    /// <summary>
    /// The operator matrix per head: P [B, Hq, L, L], P[b, h, t, s] = softmax over the window of
    /// scale q_t . k_s (zero above the diagonal and outside the window); output = P v.
    /// Every row sums to 1.
    /// </summary>
    public static Tensor<double> Materialize(Tensor<double> q, Tensor<double> k, SoftmaxAttentionOptions? options = null)
    {
        var (b, hq, l, kd) = HeadShapes.Rank4(q, nameof(q));
        var (_, hkv, _, _) = HeadShapes.Rank4(k, nameof(k));
        CheckQk(q, k);
        double scale = ResolveScale(options, kd);
        int window = ResolveWindow(options, l);
        var p = Tensor<double>.Zeros(b, hq, l, l);
        var s = new double[l];
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < hq; h++)
            {
                int kvh = h / (hq / hkv);
                int qOff = (bi * hq + h) * l * kd, kOff = (bi * hkv + kvh) * l * kd, pOff = (bi * hq + h) * l * l;
                for (int t = 0; t < l; t++)
                {
                    int first = Math.Max(0, t - window + 1);
                    double max = double.NegativeInfinity;
                    for (int j = first; j <= t; j++)
                    {
                        double dot = 0.0;
                        for (int c = 0; c < kd; c++) dot += q.Data[qOff + t * kd + c] * k.Data[kOff + j * kd + c];
                        s[j] = scale * dot;
                        max = Math.Max(max, s[j]);
                    }
                    double z = 0.0;
                    for (int j = first; j <= t; j++) { s[j] = Math.Exp(s[j] - max); z += s[j]; }
                    for (int j = first; j <= t; j++) p.Data[pOff + t * l + j] = s[j] / z;
                }
            }
        return p;
    }

    /// <summary>
    /// Vector-Jacobian product of <see cref="Forward"/> (float64). With P the probabilities and
    /// dO the output cotangent: dV = P^T dO, dP = dO V^T, dS = P o (dP - rowsum(P o dP)) (softmax VJP,
    /// rowsum(P o dP) = dO_t . o_t), dQ = scale dS K, dK = scale dS^T Q; GQA sums dK, dV over the G
    /// query heads sharing a kv head.
    /// </summary>
    public static SoftmaxAttentionGradients Backward(Tensor<double> q, Tensor<double> k, Tensor<double> v, Tensor<double> dOut,
        SoftmaxAttentionOptions? options = null)
    {
        var (b, hq, l, kd, hkv, vd) = Check(q, k, v);
        HeadShapes.Same(dOut, [b, hq, l, vd], nameof(dOut));
        double scale = ResolveScale(options, kd);
        var p = Materialize(q, k, options);
        var dq = Tensor<double>.Zeros(q.ShapeArray);
        var dk = Tensor<double>.Zeros(k.ShapeArray);
        var dv = Tensor<double>.Zeros(v.ShapeArray);
        var dp = new double[l];
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < hq; h++)
            {
                int kvh = h / (hq / hkv);
                int qOff = (bi * hq + h) * l * kd, kOff = (bi * hkv + kvh) * l * kd;
                int vOff = (bi * hkv + kvh) * l * vd, oOff = (bi * hq + h) * l * vd, pOff = (bi * hq + h) * l * l;
                for (int t = 0; t < l; t++)
                {
                    double rowDot = 0.0;
                    for (int j = 0; j <= t; j++)
                    {
                        double pj = p.Data[pOff + t * l + j];
                        double d = 0.0;
                        for (int c = 0; c < vd; c++)
                        {
                            d += dOut.Data[oOff + t * vd + c] * v.Data[vOff + j * vd + c];
                            dv.Data[vOff + j * vd + c] += pj * dOut.Data[oOff + t * vd + c];
                        }
                        dp[j] = d;
                        rowDot += pj * d;
                    }
                    for (int j = 0; j <= t; j++)
                    {
                        double ds = p.Data[pOff + t * l + j] * (dp[j] - rowDot) * scale;
                        if (ds == 0.0) continue;
                        for (int c = 0; c < kd; c++)
                        {
                            dq.Data[qOff + t * kd + c] += ds * k.Data[kOff + j * kd + c];
                            dk.Data[kOff + j * kd + c] += ds * q.Data[qOff + t * kd + c];
                        }
                    }
                }
            }
        return new SoftmaxAttentionGradients(dq, dk, dv);
    }

    /// <summary>
    /// Fast tier: tiled online softmax (FlashAttention Algorithm 1), float32 or float64, never
    /// materialising the L x L scores. Work items are (b, h, query tile) of 64 rows, run in parallel
    /// (largest causal tiles first); for each key tile of 64 columns inside the causal window:
    /// S = (scale Q_i) K_j^T, m_new = max(m, rowmax S), P = exp(S - m_new),
    /// l = exp(m - m_new) l + rowsum P, O = exp(m - m_new) O + P V_j; finally O / l.
    /// Accumulators are in T (FlashAttention keeps fp32 accumulators likewise).
    /// </summary>
    public static Tensor<T> ForwardFast<T>(Tensor<T> q, Tensor<T> k, Tensor<T> v, SoftmaxAttentionOptions? options = null, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (b, hq, l, kd, hkv, vd) = Check(q, k, v);
        int threads = HeadShapes.Threads(maxThreads, nameof(maxThreads));
        T scale = T.CreateChecked(ResolveScale(options, kd));
        int window = ResolveWindow(options, l);
        var o = Tensor<T>.Zeros(b, hq, l, vd);
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = threads };
        // K^T per key tile, [B, Hkv, tiles, K, KeyTile], transposed once and shared by every query tile.
        int keyTiles = (l + KeyTile - 1) / KeyTile;
        var kt = new T[b * hkv * keyTiles * kd * KeyTile];
        Parallel.For(0, b * hkv * keyTiles, parallel, item =>
        {
            int bh = item / keyTiles, j0 = item % keyTiles * KeyTile, cols = Math.Min(KeyTile, l - j0);
            var src = k.Data.AsSpan((bh * l + j0) * kd, cols * kd);
            var dst = kt.AsSpan(item * kd * KeyTile, kd * KeyTile);
            for (int c = 0; c < cols; c++)
                for (int p = 0; p < kd; p++) dst[p * KeyTile + c] = src[c * kd + p];
        });
        int tiles = (l + QueryTile - 1) / QueryTile;
        int heads = b * hq;
        Parallel.For(0, heads * tiles, parallel,
            () => new FlashScratch<T>(kd, vd),
            (item, _, scratch) =>
            {
                int tile = tiles - 1 - item / heads;
                int bh = item % heads;
                int bi = bh / hq, h = bh % hq, kvh = h / (hq / hkv);
                int kvIndex = bi * hkv + kvh;
                FlashTile(q.Data.AsSpan((bi * hq + h) * l * kd, l * kd), kt.AsSpan(kvIndex * keyTiles * kd * KeyTile, keyTiles * kd * KeyTile),
                    v.Data.AsSpan(kvIndex * l * vd, l * vd), o.Data.AsSpan((bi * hq + h) * l * vd, l * vd),
                    l, kd, vd, tile * QueryTile, scale, window, scratch);
                return scratch;
            },
            _ => { });
        return o;
    }

    private sealed class FlashScratch<T>(int kd, int vd) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public readonly T[] Q = new T[QueryTile * kd];
        public readonly T[] S = new T[QueryTile * KeyTile];
        public readonly T[] O = new T[QueryTile * vd];
        public readonly T[] M = new T[QueryTile];
        public readonly T[] Sum = new T[QueryTile];
    }

    /// <summary>
    /// One query tile [i0, i0 + rows) of one head: q, v, o are that head's [L, X] blocks, kt its
    /// transposed key tiles [tiles, K, KeyTile].
    /// </summary>
    private static void FlashTile<T>(ReadOnlySpan<T> q, ReadOnlySpan<T> kt, ReadOnlySpan<T> v, Span<T> o,
        int l, int kd, int vd, int i0, T scale, int window, FlashScratch<T> scratch) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = Math.Min(QueryTile, l - i0);
        Span<T> qs = scratch.Q.AsSpan(0, rows * kd), s = scratch.S, acc = scratch.O.AsSpan(0, rows * vd);
        Span<T> m = scratch.M, sum = scratch.Sum;
        TensorPrimitives.Multiply(q.Slice(i0 * kd, rows * kd), scale, qs);
        acc.Clear();
        m.Fill(T.NegativeInfinity);
        sum.Clear();
        int firstKey = Math.Max(0, i0 - window + 1), endKey = i0 + rows;
        for (int j0 = firstKey / KeyTile * KeyTile; j0 < endKey; j0 += KeyTile)
        {
            int cols = Math.Min(KeyTile, endKey - j0);
            TileGemm.Multiply(rows, cols, kd, qs, kd, kt.Slice(j0 / KeyTile * kd * KeyTile, kd * KeyTile), KeyTile, s, KeyTile, accumulate: false);
            for (int r = 0; r < rows; r++)
            {
                int t = i0 + r;
                int lo = Math.Max(0, t - window + 1 - j0), hi = Math.Min(cols, t - j0 + 1);
                var row = s.Slice(r * KeyTile, cols);
                if (lo >= hi)
                {
                    row.Clear();
                    continue;
                }
                row[..lo].Clear();
                row[hi..].Clear();
                T mNew = T.Max(m[r], RowKernels.Max(row[lo..hi]));
                T alpha = T.Exp(m[r] - mNew);
                sum[r] = sum[r] * alpha + RowKernels.ExpShiftSum(row[lo..hi], mNew);
                m[r] = mNew;
                if (alpha != T.One) TensorPrimitives.Multiply(acc.Slice(r * vd, vd), alpha, acc.Slice(r * vd, vd));
            }
            TileGemm.Multiply(rows, vd, cols, s, KeyTile, v.Slice(j0 * vd, cols * vd), vd, acc, vd, accumulate: true);
        }
        for (int r = 0; r < rows; r++)
            TensorPrimitives.Multiply(acc.Slice(r * vd, vd), T.One / sum[r], o.Slice((i0 + r) * vd, vd));
    }

    /// <summary>Decoding: a cache holding the keys and values of a prompt k, v [B, Hkv, L, K or V].</summary>
    public static KvCache Prefill(Tensor<double> k, Tensor<double> v)
    {
        var (b, hkv, l, kd) = HeadShapes.Rank4(k, nameof(k));
        var (_, _, _, vd) = HeadShapes.Rank4(v, nameof(v));
        HeadShapes.Same(v, [b, hkv, l, vd], nameof(v));
        var cache = new KvCache(b, hkv, kd, vd);
        var kt = new double[b * hkv * kd];
        var vt = new double[b * hkv * vd];
        for (int t = 0; t < l; t++)
        {
            for (int bh = 0; bh < b * hkv; bh++)
            {
                Array.Copy(k.Data, (bh * l + t) * kd, kt, bh * kd, kd);
                Array.Copy(v.Data, (bh * l + t) * vd, vt, bh * vd, vd);
            }
            cache.Append(kt, vt);
        }
        return cache;
    }

    /// <summary>
    /// Decoding step: appends the new token's key and value (kNew [B, Hkv, K], vNew [B, Hkv, V]) to
    /// the cache, then lets the query qNew [B, Hq, K] at position t = cache.Count - 1 attend to the
    /// cached positions (t - W, t]. Returns [B, Hq, V]; equals row t of <see cref="Forward"/>.
    /// The same accumulation order as the definition.
    /// </summary>
    public static Tensor<double> Step(KvCache cache, Tensor<double> qNew, Tensor<double> kNew, Tensor<double> vNew,
        SoftmaxAttentionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(qNew);
        if (qNew.Rank != 3 || qNew.Shape[0] != cache.Batch || qNew.Shape[2] != cache.KeyDim || qNew.Shape[1] % cache.KvHeads != 0)
            throw new ArgumentException(
                $"qNew has shape {Shapes.Format(qNew.Shape)}, expected [{cache.Batch}, G * {cache.KvHeads}, {cache.KeyDim}].", nameof(qNew));
        HeadShapes.Same(kNew, [cache.Batch, cache.KvHeads, cache.KeyDim], nameof(kNew));
        HeadShapes.Same(vNew, [cache.Batch, cache.KvHeads, cache.ValueDim], nameof(vNew));
        cache.Append(kNew.Data, vNew.Data);
        int b = cache.Batch, hq = qNew.Shape[1], hkv = cache.KvHeads, kd = cache.KeyDim, vd = cache.ValueDim, cap = cache.Capacity;
        int t = cache.Count - 1;
        double scale = ResolveScale(options, kd);
        int first = Math.Max(0, t - ResolveWindow(options, cache.Count) + 1);
        var o = Tensor<double>.Zeros(b, hq, vd);
        var s = new double[t + 1];
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < hq; h++)
            {
                int kvh = h / (hq / hkv);
                int qOff = (bi * hq + h) * kd, kOff = (bi * hkv + kvh) * cap * kd, vOff = (bi * hkv + kvh) * cap * vd;
                double max = double.NegativeInfinity;
                for (int j = first; j <= t; j++)
                {
                    double dot = 0.0;
                    for (int c = 0; c < kd; c++) dot += qNew.Data[qOff + c] * cache.Keys[kOff + j * kd + c];
                    s[j] = scale * dot;
                    max = Math.Max(max, s[j]);
                }
                double z = 0.0;
                for (int j = first; j <= t; j++) { s[j] = Math.Exp(s[j] - max); z += s[j]; }
                for (int j = first; j <= t; j++)
                {
                    double w = s[j] / z;
                    for (int c = 0; c < vd; c++) o.Data[(bi * hq + h) * vd + c] += w * cache.Values[vOff + j * vd + c];
                }
            }
        return o;
    }

    internal static double ResolveScale(SoftmaxAttentionOptions? options, int kd)
    {
        double scale = options?.Scale ?? 1.0 / Math.Sqrt(kd);
        if (!double.IsFinite(scale))
            throw new ArgumentOutOfRangeException(nameof(options), $"options.Scale = {scale} must be finite.");
        return scale;
    }

    /// <summary>The window as a key count; full causal attention is a window of L.</summary>
    internal static int ResolveWindow(SoftmaxAttentionOptions? options, int l)
    {
        if (options?.Window is not int w) return Math.Max(l, 1);
        if (w < 1) throw new ArgumentOutOfRangeException(nameof(options), $"options.Window = {w} must be >= 1 (keys per query, itself included).");
        return w;
    }

    private static void CheckQk<T>(Tensor<T> q, Tensor<T> k) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (b, hq, l, kd) = HeadShapes.Rank4(q, nameof(q));
        var (_, hkv, _, _) = HeadShapes.Rank4(k, nameof(k));
        HeadShapes.Dim(k, 0, b, nameof(k), "batch B");
        HeadShapes.Dim(k, 2, l, nameof(k), "length L");
        HeadShapes.Dim(k, 3, kd, nameof(k), "key dim K");
        if (hkv < 1 || hq % hkv != 0)
            throw new ArgumentException($"k has Hkv = {hkv} heads, expected a divisor of the Hq = {hq} query heads.", nameof(k));
    }

    private static (int B, int Hq, int L, int K, int Hkv, int V) Check<T>(Tensor<T> q, Tensor<T> k, Tensor<T> v)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (b, hq, l, kd) = HeadShapes.Rank4(q, nameof(q));
        var (_, hkv, _, _) = HeadShapes.Rank4(k, nameof(k));
        CheckQk(q, k);
        var (_, _, _, vd) = HeadShapes.Rank4(v, nameof(v));
        HeadShapes.Same(v, [b, hkv, l, vd], nameof(v));
        return (b, hq, l, kd, hkv, vd);
    }
}

/// <summary>
/// Decoding state of softmax attention: every key and value seen so far, stored
/// [B, Hkv, Capacity, K] and [B, Hkv, Capacity, V] (positions 0..Count-1 valid). A sliding window
/// only reads the last W positions; the cache keeps all of them (no eviction) so that it stays a
/// plain record of the prefix.
/// </summary>
public sealed class KvCache
{
    internal KvCache(int batch, int kvHeads, int keyDim, int valueDim)
    {
        Batch = batch; KvHeads = kvHeads; KeyDim = keyDim; ValueDim = valueDim;
        Capacity = 16;
        Keys = new double[batch * kvHeads * Capacity * keyDim];
        Values = new double[batch * kvHeads * Capacity * valueDim];
    }

    public int Batch { get; }
    public int KvHeads { get; }
    public int KeyDim { get; }
    public int ValueDim { get; }

    /// <summary>Number of cached positions.</summary>
    public int Count { get; private set; }

    internal int Capacity { get; private set; }
    internal double[] Keys { get; private set; }
    internal double[] Values { get; private set; }

    /// <summary>Appends one position: k [B * Hkv * K], v [B * Hkv * V] (row-major [B, Hkv, X]).</summary>
    internal void Append(ReadOnlySpan<double> k, ReadOnlySpan<double> v)
    {
        if (Count == Capacity) Grow();
        int heads = Batch * KvHeads;
        for (int bh = 0; bh < heads; bh++)
        {
            k.Slice(bh * KeyDim, KeyDim).CopyTo(Keys.AsSpan((bh * Capacity + Count) * KeyDim));
            v.Slice(bh * ValueDim, ValueDim).CopyTo(Values.AsSpan((bh * Capacity + Count) * ValueDim));
        }
        Count++;
    }

    private void Grow()
    {
        int heads = Batch * KvHeads, capacity = 2 * Capacity;
        var keys = new double[heads * capacity * KeyDim];
        var values = new double[heads * capacity * ValueDim];
        for (int bh = 0; bh < heads; bh++)
        {
            Array.Copy(Keys, bh * Capacity * KeyDim, keys, bh * capacity * KeyDim, Count * KeyDim);
            Array.Copy(Values, bh * Capacity * ValueDim, values, bh * capacity * ValueDim, Count * ValueDim);
        }
        Keys = keys; Values = values; Capacity = capacity;
    }
}
