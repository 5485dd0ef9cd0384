using System.Numerics;
using Reference.Core;

namespace Reference.Operators.Attention;

/// <summary>Options of softmax attention (causal by default).</summary>
/// <param name="Scale">Multiplier of q.k; null means K^-1/2 (Vaswani et al., eq. 1).</param>
/// <param name="Window">
/// Sliding window W (null = full causal): position t attends to s in (t - W, t], i.e.
/// t - W + 1 &lt;= s &lt;= t, W keys including itself. This is FlashAttention's
/// window_size = (W - 1, 0) and PyTorch's causal mask intersected with a band of width W.
/// Only with <paramref name="Causal"/> (fla's naive_parallel_attn applies its window inside the causal mask).
/// </param>
/// <param name="Causal">False: every query attends to every key (an encoder's attention, fla's causal = False).</param>
/// <param name="Sinks">
/// Per-query-head attention-sink logits [Hq] (null = none): one extra logit per row that takes part
/// in the softmax's normaliser and contributes no value, so a row's probabilities sum to
/// 1 - exp(sink - M) / Z (fla's sinks; the learned "off" logit of gpt-oss style models).
/// </param>
/// <param name="GateScale">
/// Multiplier of the forget-gate bias when a log forget gate g is passed: s(t, j) = scale q_t . k_j +
/// GateScale (G_t - G_j), G = cumsum g (fla's g_scale).
/// </param>
public sealed record SoftmaxAttentionOptions(double? Scale = null, int? Window = null, bool Causal = true,
    double[]? Sinks = null, double GateScale = 1.0);

/// <summary>
/// The outputs of the forward pass with its per-row statistics: Out [B, Hq, L, V]; MaxLogit [B, Hq, L] the
/// largest logit of the row (the sink's included, fla's max_logits); Lse [B, Hq, L] = log of the
/// softmax's normaliser, log(sum_j exp(s_j) + exp(sink)).
/// </summary>
public sealed record SoftmaxAttentionResult<T>(Tensor<T> Out, Tensor<T> MaxLogit, Tensor<T> Lse) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>Gradients of <see cref="SoftmaxAttention.Backward"/>, shaped like q, k, v.</summary>
/// <remarks>Dg [B, Hq, L] is set when a forget gate was passed, DSinks [Hq] when sinks were.</remarks>
public sealed record SoftmaxAttentionGradients(Tensor<double> Dq, Tensor<double> Dk, Tensor<double> Dv,
    Tensor<double>? Dg = null, double[]? DSinks = null);

/// <summary>
/// Scaled dot-product attention: Vaswani et al., "Attention Is All You Need" (arXiv:1706.03762),
/// section 3.2.1, eq. (1): softmax(Q K^T / sqrt(d_k)) V, with the causal mask of the decoder (3.2.3)
/// or without a mask (the encoder, options.Causal = false); grouped-query attention from Ainslie et
/// al., "GQA" (arXiv:2305.13245), section 2.2; the tiled online-softmax kernel from Dao et al.,
/// "FlashAttention" (arXiv:2205.14135), Algorithm 1 (Milakov and Gimelshein's online normaliser,
/// arXiv:1805.02867); forgetting attention from Lin et al., "Forgetting Transformer" (arXiv:2503.02130),
/// eq. (5): a per-position log forget gate g_t adds sum_{j &lt; r &lt;= t} g_r = G_t - G_j to the logit of
/// key j at query t; attention sinks from Xiao et al., "Efficient Streaming Language Models with
/// Attention Sinks" (arXiv:2309.17453), here in the learned-logit form of fla's naive_parallel_attn
/// (one logit per query head in the normaliser, no value).
/// <para>Glossary (code = paper): q, k, v = Q, K, V; scale = 1/sqrt(d_k) unless given; s = Q K^T scale
/// (scores) + GateScale (G_t - G_j) with a gate; p = softmax(s) row-wise = the attention probabilities =
/// the operator matrix T; m, l = running row maximum and row sum of FlashAttention (m_i, l_i);
/// G = Hq / Hkv query heads per kv head; sink_h = the sink logit of query head h.</para>
/// <para>Row t of a head: the live keys J_t = (t - W, t] (causal, window W, default W = L) or all of
/// 0..L-1 (non-causal); M = max(max_{j in J_t} s_j, sink); Z = sum_{j in J_t} exp(s_j - M) + exp(sink - M);
/// o_t = sum_j exp(s_j - M) / Z v_j; the statistics are MaxLogit_t = M and Lse_t = M + log Z
/// (fla returns M as max_logits; FlashAttention's backward stores Lse).</para>
/// <para>Shapes: q [B, Hq, L, K], k [B, Hkv, L, K], v [B, Hkv, L, V], g [B, Hq, L] (per query head, as
/// fla's g [B, T, HQ]), sinks [Hq], output [B, Hq, L, V]; query head h reads kv head floor(h / G)
/// (G = 1: multi-head attention, Hkv = 1: multi-query).</para>
/// <para>Numerics: the softmax is evaluated as exp(s - M) / sum exp(s - M) (log-sum-exp shift), so no
/// score overflows, and a sink far above every score makes the row's output exactly 0; the online form
/// rescales earlier partial sums by exp(m_old - m_new). G is the running sum from position 0, so
/// G_t - G_j loses about eps |G_t| (fla's convention, g.cumsum).</para>
/// <para>Simplifications: no dropout, no additive bias or padding masks, no sink tokens (the sink is a
/// logit, not a kept position); queries and keys share positions 0..L-1 (no prefix offset) except in
/// KV-cache decoding; the window only with the causal mask.</para>
/// </summary>
public static partial class SoftmaxAttention
{
    /// <summary>
    /// The definition (float64, eq. 1 row by row, without forming P): the output of
    /// <see cref="ForwardWithStats"/>. <paramref name="g"/> [B, Hq, L] is the optional log forget gate.
    /// </summary>
    public static Tensor<double> Forward(Tensor<double> q, Tensor<double> k, Tensor<double> v, SoftmaxAttentionOptions? options = null,
        Tensor<double>? g = null) => ForwardWithStats(q, k, v, options, g).Out;

    /// <summary>
    /// The definition with the per-row statistics. For every (b, h, t): scores s_j = scale sum_p q[t, p] k[j, p]
    /// (p ascending), plus GateScale (G[t] - G[j]) with a gate (G = cumsum g, positions ascending), for the
    /// live keys j (ascending); M = max_j s_j, then max(M, sink); e_j = exp(s_j - M), Z = sum_j e_j (j
    /// ascending) + exp(sink - M); o = sum_j (e_j / Z) v[j] (j ascending, zero weights skipped); MaxLogit = M,
    /// Lse = M + log Z. Computed independently of <see cref="Materialize"/>, so P v checks it.
    /// </summary>
    public static SoftmaxAttentionResult<double> ForwardWithStats(Tensor<double> q, Tensor<double> k, Tensor<double> v,
        SoftmaxAttentionOptions? options = null, Tensor<double>? g = null)
    {
        var (b, hq, l, kd, hkv, vd) = Check(q, k, v);
        double scale = ResolveScale(options, kd);
        var (window, ahead) = ResolveMask(options, l);
        var sinks = ResolveSinks(options, hq);
        var gc = GateCumsum(g, b, hq, l);
        double gs = ResolveGateScale(options);
        var o = Tensor<double>.Zeros(b, hq, l, vd);
        var maxLogit = Tensor<double>.Zeros(b, hq, l);
        var lse = Tensor<double>.Zeros(b, hq, l);
        var e = new double[l];
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < hq; h++)
            {
                int kvh = h / (hq / hkv);
                int qOff = (bi * hq + h) * l * kd, kOff = (bi * hkv + kvh) * l * kd;
                int vOff = (bi * hkv + kvh) * l * vd, oOff = (bi * hq + h) * l * vd, rowOff = (bi * hq + h) * l;
                for (int t = 0; t < l; t++)
                {
                    int first = Math.Max(0, t - window + 1), last = Math.Min(l - 1, t + ahead);
                    double m = double.NegativeInfinity;
                    for (int j = first; j <= last; j++)
                    {
                        double dot = 0.0;
                        for (int c = 0; c < kd; c++) dot += q.Data[qOff + t * kd + c] * k.Data[kOff + j * kd + c];
                        e[j] = scale * dot;
                        if (gc is not null) e[j] += gs * (gc[rowOff + t] - gc[rowOff + j]);
                        m = Math.Max(m, e[j]);
                    }
                    if (sinks is not null) m = Math.Max(m, sinks[h]);
                    double z = 0.0;
                    for (int j = first; j <= last; j++) { e[j] = Math.Exp(e[j] - m); z += e[j]; }
                    if (sinks is not null) z += Math.Exp(sinks[h] - m);
                    for (int j = first; j <= last; j++)
                    {
                        double w = e[j] / z;
                        if (w == 0.0) continue;
                        for (int c = 0; c < vd; c++) o.Data[oOff + t * vd + c] += w * v.Data[vOff + j * vd + c];
                    }
                    maxLogit.Data[rowOff + t] = m;
                    lse.Data[rowOff + t] = m + Math.Log(z);
                }
            }
        return new SoftmaxAttentionResult<double>(o, maxLogit, lse);
    }

    /// <summary>
    /// The operator matrix per head: P [B, Hq, L, L], P[b, h, t, s] = softmax over the live keys of the
    /// scores of <see cref="ForwardWithStats"/> (zero above the diagonal and outside the window when causal);
    /// output = P v. Every row sums to 1, or to 1 - exp(sink - M) / Z with a sink.
    /// </summary>
    public static Tensor<double> Materialize(Tensor<double> q, Tensor<double> k, SoftmaxAttentionOptions? options = null,
        Tensor<double>? g = null) => MaterializeWithSink(q, k, options, g, out _);

    /// <summary><see cref="Materialize"/>, also giving each row's sink probability exp(sink - M) / Z [B Hq L] (zeros without sinks).</summary>
    private static Tensor<double> MaterializeWithSink(Tensor<double> q, Tensor<double> k, SoftmaxAttentionOptions? options,
        Tensor<double>? g, out double[] sinkP)
    {
        var (b, hq, l, kd) = HeadShapes.Rank4(q, nameof(q));
        var (_, hkv, _, _) = HeadShapes.Rank4(k, nameof(k));
        CheckQk(q, k);
        double scale = ResolveScale(options, kd);
        var (window, ahead) = ResolveMask(options, l);
        var sinks = ResolveSinks(options, hq);
        var gc = GateCumsum(g, b, hq, l);
        double gs = ResolveGateScale(options);
        var p = Tensor<double>.Zeros(b, hq, l, l);
        sinkP = new double[b * hq * l];
        var s = new double[l];
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < hq; h++)
            {
                int kvh = h / (hq / hkv);
                int qOff = (bi * hq + h) * l * kd, kOff = (bi * hkv + kvh) * l * kd, pOff = (bi * hq + h) * l * l, rowOff = (bi * hq + h) * l;
                for (int t = 0; t < l; t++)
                {
                    int first = Math.Max(0, t - window + 1), last = Math.Min(l - 1, t + ahead);
                    double max = double.NegativeInfinity;
                    for (int j = first; j <= last; j++)
                    {
                        double dot = 0.0;
                        for (int c = 0; c < kd; c++) dot += q.Data[qOff + t * kd + c] * k.Data[kOff + j * kd + c];
                        s[j] = scale * dot;
                        if (gc is not null) s[j] += gs * (gc[rowOff + t] - gc[rowOff + j]);
                        max = Math.Max(max, s[j]);
                    }
                    if (sinks is not null) max = Math.Max(max, sinks[h]);
                    double z = 0.0;
                    for (int j = first; j <= last; j++) { s[j] = Math.Exp(s[j] - max); z += s[j]; }
                    double sink = sinks is null ? 0.0 : Math.Exp(sinks[h] - max);
                    z += sink;
                    for (int j = first; j <= last; j++) p.Data[pOff + t * l + j] = s[j] / z;
                    sinkP[rowOff + t] = sink / z;
                }
            }
        return p;
    }

    /// <summary>
    /// Vector-Jacobian product of <see cref="Forward"/> (float64). With P the probabilities and
    /// dO the output cotangent: dV = P^T dO, dP = dO V^T, dS = P o (dP - rowsum(P o dP)) (softmax VJP,
    /// rowsum(P o dP) = dO_t . o_t), dQ = scale dS K, dK = scale dS^T Q; GQA sums dK, dV over the G
    /// query heads sharing a kv head. The sink is one more logit with dP = 0: dsink_h = -sum_t P_sink,t
    /// rowsum_t. The gate enters the logits as GateScale (G_t - G_j): dG_t = GateScale sum_j dS_tj,
    /// dG_j -= GateScale dS_tj, and dg_r = sum_{t &gt;= r} dG_t (G is the prefix sum of g).
    /// </summary>
    public static SoftmaxAttentionGradients Backward(Tensor<double> q, Tensor<double> k, Tensor<double> v, Tensor<double> dOut,
        SoftmaxAttentionOptions? options = null, Tensor<double>? g = null)
    {
        var (b, hq, l, kd, hkv, vd) = Check(q, k, v);
        Shapes.Same(dOut, [b, hq, l, vd], nameof(dOut));
        double scale = ResolveScale(options, kd);
        var (window, ahead) = ResolveMask(options, l);
        var sinks = ResolveSinks(options, hq);
        double gs = ResolveGateScale(options);
        var p = MaterializeWithSink(q, k, options, g, out var sinkP);
        var dq = Tensor<double>.Zeros(q.ShapeArray);
        var dk = Tensor<double>.Zeros(k.ShapeArray);
        var dv = Tensor<double>.Zeros(v.ShapeArray);
        var dG = g is null ? null : new double[b * hq * l];
        var dSinks = sinks is null ? null : new double[hq];
        var dp = new double[l];
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < hq; h++)
            {
                int kvh = h / (hq / hkv);
                int qOff = (bi * hq + h) * l * kd, kOff = (bi * hkv + kvh) * l * kd, rowOff = (bi * hq + h) * l;
                int vOff = (bi * hkv + kvh) * l * vd, oOff = (bi * hq + h) * l * vd, pOff = (bi * hq + h) * l * l;
                for (int t = 0; t < l; t++)
                {
                    int first = Math.Max(0, t - window + 1), last = Math.Min(l - 1, t + ahead);
                    double rowDot = 0.0;
                    for (int j = first; j <= last; j++)
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
                    if (dSinks is not null) dSinks[h] -= sinkP[rowOff + t] * rowDot;
                    for (int j = first; j <= last; j++)
                    {
                        double dsRaw = p.Data[pOff + t * l + j] * (dp[j] - rowDot);
                        if (dG is not null) { dG[rowOff + t] += gs * dsRaw; dG[rowOff + j] -= gs * dsRaw; }
                        double ds = dsRaw * scale;
                        if (ds == 0.0) continue;
                        for (int c = 0; c < kd; c++)
                        {
                            dq.Data[qOff + t * kd + c] += ds * k.Data[kOff + j * kd + c];
                            dk.Data[kOff + j * kd + c] += ds * q.Data[qOff + t * kd + c];
                        }
                    }
                }
            }
        Tensor<double>? dg = null;
        if (dG is not null)
        {
            dg = Tensor<double>.Zeros(b, hq, l);
            for (int row = 0; row < b * hq; row++)
            {
                double acc = 0.0;
                for (int t = l - 1; t >= 0; t--) { acc += dG[row * l + t]; dg.Data[row * l + t] = acc; }
            }
        }
        return new SoftmaxAttentionGradients(dq, dk, dv, dg, dSinks);
    }

    /// <summary>
    /// Decoding: a cache holding the keys and values of a prompt k, v [B, Hkv, L, K or V] (and, for
    /// forgetting attention, the prefix sums G of the prompt's gate g [B, Hq, L]). With a sliding window W
    /// (options.Window) the cache keeps only the last W positions, in a ring buffer of W slots, so its
    /// memory stays O(W) however long the generation runs; without one it keeps every position. Pass the
    /// same options to <see cref="Step"/>. Decoding is causal (options.Causal = false is rejected). Fast
    /// tier (float32/float64): <see cref="PrefillFast{T}"/> and <see cref="StepFast{T}"/> in SoftmaxAttention.Fast.cs.
    /// </summary>
    public static KvCache Prefill(Tensor<double> k, Tensor<double> v, SoftmaxAttentionOptions? options = null, Tensor<double>? g = null)
    {
        var (b, hkv, l, kd, vd, window) = CheckPrompt(k, v, options, g);
        var cache = new KvCache(b, hkv, kd, vd, window);
        if (g is not null) cache.EnableGate(g.Dim(1));
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
        if (g is not null) cache.SetPromptGate(g.Data, l);
        return cache;
    }

    /// <summary>
    /// Decoding step: appends the new token's key and value (kNew [B, Hkv, K], vNew [B, Hkv, V]; with a
    /// gate, its log forget gate gNew [B, Hq]) to the cache (evicting the oldest position when a windowed
    /// cache is full), then lets the query qNew [B, Hq, K] at position t = cache.Count - 1 attend to the
    /// cached positions (t - W, t]. Returns [B, Hq, V]; equals row t of <see cref="Forward"/>.
    /// </summary>
    public static Tensor<double> Step(KvCache cache, Tensor<double> qNew, Tensor<double> kNew, Tensor<double> vNew,
        SoftmaxAttentionOptions? options = null, Tensor<double>? gNew = null) => StepWithStats(cache, qNew, kNew, vNew, options, gNew).Out;

    /// <summary>
    /// <see cref="Step"/> with the row's statistics MaxLogit, Lse [B, Hq] (as <see cref="ForwardWithStats"/>).
    /// The same accumulation order as the definition (positions ascending, then the sink), and O(W) work and
    /// memory per step with a window.
    /// </summary>
    public static SoftmaxAttentionResult<double> StepWithStats(KvCache cache, Tensor<double> qNew, Tensor<double> kNew, Tensor<double> vNew,
        SoftmaxAttentionOptions? options = null, Tensor<double>? gNew = null)
    {
        var (window, scale, sinks, gs) = CheckStep(cache, qNew, kNew, vNew, options, gNew);
        cache.Append(kNew.Data, vNew.Data, gNew is null ? default : gNew.Data);
        int b = cache.Batch, hq = qNew.Shape[1], hkv = cache.KvHeads, kd = cache.KeyDim, vd = cache.ValueDim, cap = cache.Capacity;
        long t = cache.Count - 1;
        long first = Math.Max(0, t - window + 1);
        int n = (int)(t - first + 1);
        var o = Tensor<double>.Zeros(b, hq, vd);
        var maxLogit = Tensor<double>.Zeros(b, hq);
        var lse = Tensor<double>.Zeros(b, hq);
        var s = new double[n];
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < hq; h++)
            {
                int kvh = h / (hq / hkv), row = bi * hq + h;
                int qOff = row * kd, kOff = (bi * hkv + kvh) * cap * kd, vOff = (bi * hkv + kvh) * cap * vd;
                double max = double.NegativeInfinity;
                for (int j = 0; j < n; j++)
                {
                    int slot = cache.Slot(first + j);
                    double dot = 0.0;
                    for (int c = 0; c < kd; c++) dot += qNew.Data[qOff + c] * cache.Keys[kOff + slot * kd + c];
                    s[j] = scale * dot;
                    if (cache.GateCum is not null) s[j] += gs * (cache.GateTotal![row] - cache.GateCum[row * cap + slot]);
                    max = Math.Max(max, s[j]);
                }
                if (sinks is not null) max = Math.Max(max, sinks[h]);
                double z = 0.0;
                for (int j = 0; j < n; j++) { s[j] = Math.Exp(s[j] - max); z += s[j]; }
                if (sinks is not null) z += Math.Exp(sinks[h] - max);
                for (int j = 0; j < n; j++)
                {
                    double w = s[j] / z;
                    int slot = cache.Slot(first + j);
                    for (int c = 0; c < vd; c++) o.Data[row * vd + c] += w * cache.Values[vOff + slot * vd + c];
                }
                maxLogit.Data[row] = max;
                lse.Data[row] = max + Math.Log(z);
            }
        return new SoftmaxAttentionResult<double>(o, maxLogit, lse);
    }

    /// <summary>
    /// Checks a decoding step's arguments before the cache is touched (a rejected call leaves it as it was):
    /// qNew [B, G Hkv, K], kNew [B, Hkv, K], vNew [B, Hkv, V], gNew [B, Hq] exactly when the cache was
    /// prefilled with a gate, causal options, and a window no wider than the cache keeps.
    /// Returns the window as a key count (int.MaxValue = full causal), the scale, the sinks and the gate scale.
    /// </summary>
    private static (int Window, double Scale, double[]? Sinks, double GateScale) CheckStep<T>(KvCache<T> cache, Tensor<T> qNew,
        Tensor<T> kNew, Tensor<T> vNew, SoftmaxAttentionOptions? options, Tensor<T>? gNew) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(qNew);
        if (qNew.Rank != 3 || qNew.Shape[0] != cache.Batch || qNew.Shape[2] != cache.KeyDim || qNew.Shape[1] % cache.KvHeads != 0)
            throw new ArgumentException(
                $"qNew has shape {Shapes.Format(qNew.Shape)}, expected [{cache.Batch}, G * {cache.KvHeads}, {cache.KeyDim}].", nameof(qNew));
        Shapes.Same(kNew, [cache.Batch, cache.KvHeads, cache.KeyDim], nameof(kNew));
        Shapes.Same(vNew, [cache.Batch, cache.KvHeads, cache.ValueDim], nameof(vNew));
        CheckCausal(options);
        int hq = qNew.Shape[1];
        if (cache.GateCum is null && gNew is not null)
            throw new ArgumentException("gNew is given but the cache was prefilled without a gate g; expected gNew = null.", nameof(gNew));
        if (cache.GateCum is not null)
        {
            if (gNew is null)
                throw new ArgumentException($"the cache holds a forget gate: expected gNew [{cache.Batch}, {cache.GateHeads}], got null.", nameof(gNew));
            if (cache.GateHeads != hq)
                throw new ArgumentException($"qNew has Hq = {hq} heads, but the cache's gate has {cache.GateHeads}; expected {cache.GateHeads}.", nameof(qNew));
            Shapes.Same(gNew, [cache.Batch, hq], nameof(gNew));
        }
        int window = options?.Window is null ? int.MaxValue : ResolveWindow(options, 1);
        if (cache.Window is int kept && window > kept)
            throw new ArgumentOutOfRangeException(nameof(options),
                $"options.Window = {(object?)options?.Window ?? "null (full causal)"} " +
                $"reaches positions this cache has evicted: it keeps the last {kept}; expected a window <= {kept}.");
        return (window, ResolveScale(options, cache.KeyDim), ResolveSinks(options, hq), ResolveGateScale(options));
    }

    /// <summary>Checks a prompt k [B, Hkv, L, K], v [B, Hkv, L, V], g [B, Hq, L] or null; returns the window a cache keeps (null = every position).</summary>
    private static (int B, int Hkv, int L, int K, int V, int? Window) CheckPrompt<T>(Tensor<T> k, Tensor<T> v, SoftmaxAttentionOptions? options,
        Tensor<T>? g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (b, hkv, l, kd) = HeadShapes.Rank4(k, nameof(k));
        var (_, _, _, vd) = HeadShapes.Rank4(v, nameof(v));
        Shapes.Same(v, [b, hkv, l, vd], nameof(v));
        CheckCausal(options);
        if (g is not null)
        {
            if (g.Rank != 3 || g.Shape[0] != b || g.Shape[2] != l || g.Shape[1] % hkv != 0)
                throw new ArgumentException($"g has shape {Shapes.Format(g.Shape)}, expected [{b}, G * {hkv}, {l}] (one gate per query head).", nameof(g));
        }
        int? window = options?.Window is null ? null : ResolveWindow(options, l);
        return (b, hkv, l, kd, vd, window);
    }

    private static void CheckCausal(SoftmaxAttentionOptions? options)
    {
        if (options is { Causal: false })
            throw new ArgumentException("options.Causal = false: KV-cache decoding is causal (a query cannot see later tokens); expected Causal = true.", nameof(options));
    }

    /// <summary>
    /// The live keys of query t: [t - window + 1, t + ahead]. Causal: ahead = 0 and window = W (default L);
    /// non-causal: window = ahead = L (every key).
    /// </summary>
    internal static (int Window, int Ahead) ResolveMask(SoftmaxAttentionOptions? options, int l)
    {
        if (options is null || options.Causal) return (ResolveWindow(options, l), 0);
        if (options.Window is not null)
            throw new ArgumentException($"options.Window = {options.Window} with Causal = false: the window is a band of the causal mask; expected Window = null.", nameof(options));
        return (Math.Max(l, 1), Math.Max(l, 1));
    }

    /// <summary>The sink logits [Hq] (finite), or null.</summary>
    internal static double[]? ResolveSinks(SoftmaxAttentionOptions? options, int hq)
    {
        if (options?.Sinks is not double[] sinks) return null;
        if (sinks.Length != hq)
            throw new ArgumentException($"options.Sinks has {sinks.Length} logits, expected one per query head ({hq}).", nameof(options));
        foreach (double x in sinks)
            if (!double.IsFinite(x)) throw new ArgumentOutOfRangeException(nameof(options), $"options.Sinks holds {x}; expected finite logits.");
        return sinks;
    }

    internal static double ResolveGateScale(SoftmaxAttentionOptions? options)
    {
        double gs = options?.GateScale ?? 1.0;
        if (!double.IsFinite(gs)) throw new ArgumentOutOfRangeException(nameof(options), $"options.GateScale = {gs} must be finite.");
        return gs;
    }

    /// <summary>G = cumsum of g [B, Hq, L] over positions (ascending) per (b, h), or null without a gate.</summary>
    internal static T[]? GateCumsum<T>(Tensor<T>? g, int b, int hq, int l) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (g is null) return null;
        Shapes.Same(g, [b, hq, l], nameof(g));
        var gc = new T[b * hq * l];
        for (int row = 0; row < b * hq; row++)
        {
            T acc = T.Zero;
            for (int t = 0; t < l; t++) { acc += g.Data[row * l + t]; gc[row * l + t] = acc; }
        }
        return gc;
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
