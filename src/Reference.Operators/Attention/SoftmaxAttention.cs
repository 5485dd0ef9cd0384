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
public static partial class SoftmaxAttention
{
    /// <summary>
    /// The definition (float64, eq. 1 row by row, without forming P). For every (b, h, t): scores
    /// s_j = scale sum_p q[t, p] k[j, p] (p ascending) for j in the causal window, m = max_j s_j,
    /// e_j = exp(s_j - m), Z = sum_j e_j (j ascending), o = sum_j (e_j / Z) v[j] (j ascending, zero
    /// weights skipped). Computed independently of <see cref="Materialize"/>, so P v checks it.
    /// </summary>
    public static Tensor<double> Forward(Tensor<double> q, Tensor<double> k, Tensor<double> v, SoftmaxAttentionOptions? options = null)
    {
        var (b, hq, l, kd, hkv, vd) = Check(q, k, v);
        double scale = ResolveScale(options, kd);
        int window = ResolveWindow(options, l);
        var o = Tensor<double>.Zeros(b, hq, l, vd);
        var e = new double[l];
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < hq; h++)
            {
                int kvh = h / (hq / hkv);
                int qOff = (bi * hq + h) * l * kd, kOff = (bi * hkv + kvh) * l * kd;
                int vOff = (bi * hkv + kvh) * l * vd, oOff = (bi * hq + h) * l * vd;
                for (int t = 0; t < l; t++)
                {
                    int first = Math.Max(0, t - window + 1);
                    double m = double.NegativeInfinity;
                    for (int j = first; j <= t; j++)
                    {
                        double dot = 0.0;
                        for (int c = 0; c < kd; c++) dot += q.Data[qOff + t * kd + c] * k.Data[kOff + j * kd + c];
                        e[j] = scale * dot;
                        m = Math.Max(m, e[j]);
                    }
                    double z = 0.0;
                    for (int j = first; j <= t; j++) { e[j] = Math.Exp(e[j] - m); z += e[j]; }
                    for (int j = first; j <= t; j++)
                    {
                        double w = e[j] / z;
                        if (w == 0.0) continue;
                        for (int c = 0; c < vd; c++) o.Data[oOff + t * vd + c] += w * v.Data[vOff + j * vd + c];
                    }
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
        Shapes.Same(dOut, [b, hq, l, vd], nameof(dOut));
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
    /// Decoding: a cache holding the keys and values of a prompt k, v [B, Hkv, L, K or V]. With a
    /// sliding window W (options.Window) the cache keeps only the last W positions, in a ring buffer
    /// of W slots, so its memory stays O(W) however long the generation runs; without one it keeps
    /// every position. Pass the same options to <see cref="Step"/>. Fast tier (float32/float64):
    /// <see cref="PrefillFast{T}"/> and <see cref="StepFast{T}"/> in SoftmaxAttention.Fast.cs.
    /// </summary>
    public static KvCache Prefill(Tensor<double> k, Tensor<double> v, SoftmaxAttentionOptions? options = null)
    {
        var (b, hkv, l, kd, vd, window) = CheckPrompt(k, v, options);
        var cache = new KvCache(b, hkv, kd, vd, window);
        var kt = new double[b * hkv * kd];
        var vt = new double[b * hkv * vd];
        // Positions older than the window would be evicted at once: only the last W are copied in.
        int first = window is int w ? Math.Max(0, l - w) : 0;
        cache.Skip(first);
        for (int t = first; t < l; t++)
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
    /// the cache (evicting the oldest position when a windowed cache is full), then lets the query
    /// qNew [B, Hq, K] at position t = cache.Count - 1 attend to the cached positions (t - W, t].
    /// Returns [B, Hq, V]; equals row t of <see cref="Forward"/>. The same accumulation order as the
    /// definition (positions ascending), and O(W) work and memory per step with a window.
    /// </summary>
    public static Tensor<double> Step(KvCache cache, Tensor<double> qNew, Tensor<double> kNew, Tensor<double> vNew,
        SoftmaxAttentionOptions? options = null)
    {
        var (window, scale) = CheckStep(cache, qNew, kNew, vNew, options);
        cache.Append(kNew.Data, vNew.Data);
        int b = cache.Batch, hq = qNew.Shape[1], hkv = cache.KvHeads, kd = cache.KeyDim, vd = cache.ValueDim, cap = cache.Capacity;
        long t = cache.Count - 1;
        long first = Math.Max(0, t - window + 1);
        int n = (int)(t - first + 1);
        var o = Tensor<double>.Zeros(b, hq, vd);
        var s = new double[n];
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < hq; h++)
            {
                int kvh = h / (hq / hkv);
                int qOff = (bi * hq + h) * kd, kOff = (bi * hkv + kvh) * cap * kd, vOff = (bi * hkv + kvh) * cap * vd;
                double max = double.NegativeInfinity;
                for (int j = 0; j < n; j++)
                {
                    int slot = cache.Slot(first + j);
                    double dot = 0.0;
                    for (int c = 0; c < kd; c++) dot += qNew.Data[qOff + c] * cache.Keys[kOff + slot * kd + c];
                    s[j] = scale * dot;
                    max = Math.Max(max, s[j]);
                }
                double z = 0.0;
                for (int j = 0; j < n; j++) { s[j] = Math.Exp(s[j] - max); z += s[j]; }
                for (int j = 0; j < n; j++)
                {
                    double w = s[j] / z;
                    int slot = cache.Slot(first + j);
                    for (int c = 0; c < vd; c++) o.Data[(bi * hq + h) * vd + c] += w * cache.Values[vOff + slot * vd + c];
                }
            }
        return o;
    }

    /// <summary>
    /// Checks a decoding step's arguments before the cache is touched (a rejected call leaves it as it was):
    /// qNew [B, G Hkv, K], kNew [B, Hkv, K], vNew [B, Hkv, V], and a window no wider than the cache keeps.
    /// Returns the window as a key count (int.MaxValue = full causal) and the scale.
    /// </summary>
    private static (int Window, double Scale) CheckStep<T>(KvCache<T> cache, Tensor<T> qNew, Tensor<T> kNew, Tensor<T> vNew,
        SoftmaxAttentionOptions? options) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(qNew);
        if (qNew.Rank != 3 || qNew.Shape[0] != cache.Batch || qNew.Shape[2] != cache.KeyDim || qNew.Shape[1] % cache.KvHeads != 0)
            throw new ArgumentException(
                $"qNew has shape {Shapes.Format(qNew.Shape)}, expected [{cache.Batch}, G * {cache.KvHeads}, {cache.KeyDim}].", nameof(qNew));
        Shapes.Same(kNew, [cache.Batch, cache.KvHeads, cache.KeyDim], nameof(kNew));
        Shapes.Same(vNew, [cache.Batch, cache.KvHeads, cache.ValueDim], nameof(vNew));
        int window = options?.Window is null ? int.MaxValue : ResolveWindow(options, 1);
        if (cache.Window is int kept && window > kept)
            throw new ArgumentOutOfRangeException(nameof(options),
                $"options.Window = {(object?)options?.Window ?? "null (full causal)"} " +
                $"reaches positions this cache has evicted: it keeps the last {kept}; expected a window <= {kept}.");
        return (window, ResolveScale(options, cache.KeyDim));
    }

    /// <summary>Checks a prompt k [B, Hkv, L, K], v [B, Hkv, L, V]; returns the window a cache keeps (null = every position).</summary>
    private static (int B, int Hkv, int L, int K, int V, int? Window) CheckPrompt<T>(Tensor<T> k, Tensor<T> v, SoftmaxAttentionOptions? options)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (b, hkv, l, kd) = HeadShapes.Rank4(k, nameof(k));
        var (_, _, _, vd) = HeadShapes.Rank4(v, nameof(v));
        Shapes.Same(v, [b, hkv, l, vd], nameof(v));
        int? window = options?.Window is null ? null : ResolveWindow(options, l);
        return (b, hkv, l, kd, vd, window);
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
        Shapes.Same(v, [b, hkv, l, vd], nameof(v));
        return (b, hq, l, kd, hkv, vd);
    }
}
