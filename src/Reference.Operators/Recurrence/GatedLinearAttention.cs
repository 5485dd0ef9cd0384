using System.Numerics;
using Reference.Core;
using Reference.Core.Kernels;
using Reference.Operators.Attention;

namespace Reference.Operators.Recurrence;

/// <summary>Gradients of <see cref="GatedLinearAttention.Backward"/>, shaped like q, k, v, g.</summary>
public sealed record GatedLinearAttentionGradients(Tensor<double> Dq, Tensor<double> Dk, Tensor<double> Dv, Tensor<double> Dg);

/// <summary>Recurrent state of GLA: S [B, H, K, V] (float64), updated in place by Step.</summary>
public sealed class GatedLinearAttentionState
{
    public GatedLinearAttentionState(Tensor<double> s)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (s.Rank != 4)
            throw new ArgumentException($"s must have rank 4 [B, H, K, V], got shape {Shapes.Format(s.Shape)}.", nameof(s));
        S = s;
    }

    /// <summary>S_t per head, [B, H, K, V].</summary>
    public Tensor<double> S { get; }

    public static GatedLinearAttentionState Zeros(int b, int h, int k, int v) => new(Tensor<double>.Zeros(b, h, k, v));
}

/// <summary>
/// Gated linear attention: Yang, Wang, Shen, Panda and Kim, "Gated Linear Attention Transformers
/// with Hardware-Efficient Training" (arXiv:2312.06635): the recurrence of section 4.1,
/// S_t = Diag(alpha_t) S_{t-1} + k_t v_t^T, o_t = S_t^T q_t (eq. 3 with G_t = alpha_t 1^T), the
/// parallel form of 4.2 through cumulative gates b_t = prod_{r&lt;=t} alpha_r, and the chunkwise form of
/// 4.2-4.3 (inter-chunk state passing + intra-chunk attention, secondary chunking in the fast tier).
/// Gates live in log space as in flash-linear-attention (fla): g_t = log alpha_t = logsigmoid(x_t W) / 16.
/// <para>Glossary (code = paper): q, k, v = Q, K, V; g = log alpha (the "gk" of fla) [B, H, L, K] for
/// vector gates (per key channel) or [B, H, L, 1] for a scalar gate per head (GLA's simplest
/// ablation, Mamba-2/RetNet-like); G = cumsum_t g = log b_t; scale = K^-1/2 applied to q (fla);
/// S = state (K x V per head); chunk = C; T[t, s] = sum_c scale q_tc k_sc exp(G_tc - G_sc).</para>
/// <para>Shapes: q, k [B, H, L, K], v [B, H, L, V], g [B, H, L, K or 1], output [B, H, L, V].</para>
/// <para>Numerics: decays between positions are exp(G_t - G_s) with s &lt;= t, a difference of
/// cumulative sums of log-gates (always &lt;= 0, never exp(G_t) exp(-G_s), which overflows for long
/// sequences). The chunked form only exponentiates differences inside a chunk, relative to the
/// chunk start, so every exponent is &lt;= 0 as well.</para>
/// <para>Simplifications: the gate projection, feature map, output gate and normalisation of the
/// GLA layer are left to the caller (<see cref="LogSigmoidGate"/> provides fla's gate squashing);
/// no initial state other than the one passed in.</para>
/// </summary>
public static partial class GatedLinearAttention
{
    /// <summary>fla's gate normaliser: g = logsigmoid(x) / 16.</summary>
    public const double GateNormalizer = 16.0;

    /// <summary>
    /// g = logsigmoid(x) / normalizer, elementwise (Core's stable min(x, 0) - log1p(exp(-|x|))).
    /// </summary>
    public static Tensor<double> LogSigmoidGate(Tensor<double> x, double normalizer = GateNormalizer)
    {
        ArgumentNullException.ThrowIfNull(x);
        CheckNormalizer(normalizer);
        var g = Tensor<double>.Zeros(x.ShapeArray);
        NaiveActivations.LogSigmoid(x.Data, g.Data);
        TensorPrimitives.Divide(g.Data, normalizer, g.Data);
        return g;
    }

    /// <summary>VJP of <see cref="LogSigmoidGate"/>: dx = dg sigmoid(-x) / normalizer.</summary>
    public static Tensor<double> LogSigmoidGateBackward(Tensor<double> x, Tensor<double> dg, double normalizer = GateNormalizer)
    {
        ArgumentNullException.ThrowIfNull(x);
        Shapes.Same(dg, x.Shape, nameof(dg));
        CheckNormalizer(normalizer);
        var dx = Tensor<double>.Zeros(x.ShapeArray);
        NaiveActivations.LogSigmoidBackward(x.Data, dg.Data, dx.Data);
        TensorPrimitives.Divide(dx.Data, normalizer, dx.Data);
        return dx;
    }

    /// <summary>
    /// Parallel form (the definition, float64), the direct sum of section 4.2 with b_t = exp(G_t):
    /// per head, G_tc = G_(t-1)c + g_tc (t ascending, G_(-1) = 0); then for each t and s &lt;= t
    /// (s ascending) the weight w = sum_c scale q_tc k_sc exp(G_tc - G_sc) (c ascending) and
    /// o_t += w v_s. Computed on its own, never through <see cref="Materialize"/>, so T v checks it.
    /// </summary>
    public static Tensor<double> Forward(Tensor<double> q, Tensor<double> k, Tensor<double> v, Tensor<double> g, double? scale = null)
    {
        var (b, h, l, kd, vd, kg) = Check(q, k, v, g);
        double sc = Scale(scale, kd);
        var o = Tensor<double>.Zeros(b, h, l, vd);
        var cum = new double[l * kg];
        for (int bh = 0; bh < b * h; bh++)
        {
            for (int c = 0; c < kg; c++)
            {
                double acc = 0.0;
                for (int t = 0; t < l; t++)
                {
                    acc += g.Data[(bh * l + t) * kg + c];
                    cum[t * kg + c] = acc;
                }
            }
            for (int t = 0; t < l; t++)
            {
                var ot = o.Data.AsSpan((bh * l + t) * vd, vd);
                for (int s = 0; s <= t; s++)
                {
                    double w = 0.0;
                    for (int c = 0; c < kd; c++)
                    {
                        int gc = kg == 1 ? 0 : c;
                        w += sc * q.Data[(bh * l + t) * kd + c] * k.Data[(bh * l + s) * kd + c] * Math.Exp(cum[t * kg + gc] - cum[s * kg + gc]);
                    }
                    for (int j = 0; j < vd; j++) ot[j] += w * v.Data[(bh * l + s) * vd + j];
                }
            }
        }
        return o;
    }

    /// <summary>The operator matrix per head, [B, H, L, L]: T[t, s] = sum_c scale q_tc k_sc exp(G_tc - G_sc) for s &lt;= t, else 0.</summary>
    public static Tensor<double> Materialize(Tensor<double> q, Tensor<double> k, Tensor<double> g, double? scale = null)
    {
        var (b, h, l, kd) = HeadShapes.Rank4(q, nameof(q));
        Shapes.Same(k, [b, h, l, kd], nameof(k));
        int kg = CheckGate(g, b, h, l, kd);
        double sc = Scale(scale, kd);
        var cum = CumulativeGates(g);
        var t = Tensor<double>.Zeros(b, h, l, l);
        for (int bh = 0; bh < b * h; bh++)
            for (int i = 0; i < l; i++)
                for (int s = 0; s <= i; s++)
                {
                    double acc = 0.0;
                    for (int c = 0; c < kd; c++)
                    {
                        int gc = kg == 1 ? 0 : c;
                        acc += sc * q.Data[(bh * l + i) * kd + c] * k.Data[(bh * l + s) * kd + c]
                            * Math.Exp(cum[(bh * l + i) * kg + gc] - cum[(bh * l + s) * kg + gc]);
                    }
                    t.Data[(bh * l + i) * l + s] = acc;
                }
        return t;
    }

    /// <summary>
    /// Recurrent form: for t = 0..L-1, S = Diag(exp(g_t)) S + k_t v_t^T, o_t = S^T (scale q_t).
    /// Starts from <paramref name="state"/> (zeros when null) and leaves the final state in it.
    /// </summary>
    public static Tensor<double> Recurrent(Tensor<double> q, Tensor<double> k, Tensor<double> v, Tensor<double> g,
        GatedLinearAttentionState? state = null, double? scale = null)
    {
        var (b, h, l, kd, vd, kg) = Check(q, k, v, g);
        state ??= GatedLinearAttentionState.Zeros(b, h, kd, vd);
        Shapes.Same(state.S, [b, h, kd, vd], nameof(state));
        double sc = Scale(scale, kd);
        var o = Tensor<double>.Zeros(b, h, l, vd);
        for (int bh = 0; bh < b * h; bh++)
        {
            var s = state.S.Data.AsSpan(bh * kd * vd, kd * vd);
            for (int t = 0; t < l; t++)
                StepHead(s, q.Data.AsSpan((bh * l + t) * kd, kd), k.Data.AsSpan((bh * l + t) * kd, kd),
                    v.Data.AsSpan((bh * l + t) * vd, vd), g.Data.AsSpan((bh * l + t) * kg, kg), sc, o.Data.AsSpan((bh * l + t) * vd, vd));
        }
        return o;
    }

    /// <summary>
    /// One decoding step: qt, kt [B, H, K], vt [B, H, V], gt [B, H, K or 1]; updates the state and
    /// returns o_t [B, H, V].
    /// </summary>
    public static Tensor<double> Step(GatedLinearAttentionState state, Tensor<double> qt, Tensor<double> kt, Tensor<double> vt, Tensor<double> gt, double? scale = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        int b = state.S.Shape[0], h = state.S.Shape[1], kd = state.S.Shape[2], vd = state.S.Shape[3];
        Shapes.Same(qt, [b, h, kd], nameof(qt));
        Shapes.Same(kt, [b, h, kd], nameof(kt));
        Shapes.Same(vt, [b, h, vd], nameof(vt));
        ArgumentNullException.ThrowIfNull(gt);
        int kg = gt.Rank == 3 ? gt.Shape[2] : -1;
        if (gt.Rank != 3 || gt.Shape[0] != b || gt.Shape[1] != h || (kg != kd && kg != 1))
            throw new ArgumentException($"gt has shape {Shapes.Format(gt.Shape)}, expected [{b}, {h}, {kd}] or [{b}, {h}, 1].", nameof(gt));
        double sc = Scale(scale, kd);
        var o = Tensor<double>.Zeros(b, h, vd);
        for (int bh = 0; bh < b * h; bh++)
            StepHead(state.S.Data.AsSpan(bh * kd * vd, kd * vd), qt.Data.AsSpan(bh * kd, kd), kt.Data.AsSpan(bh * kd, kd),
                vt.Data.AsSpan(bh * vd, vd), gt.Data.AsSpan(bh * kg, kg), sc, o.Data.AsSpan(bh * vd, vd));
        return o;
    }

    private static void StepHead(Span<double> s, ReadOnlySpan<double> q, ReadOnlySpan<double> k, ReadOnlySpan<double> v,
        ReadOnlySpan<double> g, double scale, Span<double> o)
    {
        int kd = q.Length, vd = v.Length;
        for (int c = 0; c < kd; c++)
        {
            double alpha = Math.Exp(g[g.Length == 1 ? 0 : c]);
            for (int j = 0; j < vd; j++) s[c * vd + j] = alpha * s[c * vd + j] + k[c] * v[j];
        }
        for (int j = 0; j < vd; j++)
        {
            double acc = 0.0;
            for (int c = 0; c < kd; c++) acc += scale * q[c] * s[c * vd + j];
            o[j] = acc;
        }
    }

    /// <summary>
    /// Chunkwise form (float64), chunks of <paramref name="chunk"/> positions with the state carried
    /// across chunks (and in/out through <paramref name="state"/>). Within a chunk with local
    /// cumulative log-gates B_t = sum_{r = chunk start..t} g_r:
    /// o_t = (scale q_t o exp(B_t))^T S + sum_{s &lt;= t in chunk} [sum_c scale q_tc k_sc exp(B_tc - B_sc)] v_s,
    /// then S = Diag(exp(B_last)) S + sum_s (k_s o exp(B_last - B_s)) v_s^T. Every exponent is &lt;= 0.
    /// </summary>
    public static Tensor<double> Chunked(Tensor<double> q, Tensor<double> k, Tensor<double> v, Tensor<double> g, int chunk,
        GatedLinearAttentionState? state = null, double? scale = null)
    {
        var (b, h, l, kd, vd, kg) = Check(q, k, v, g);
        HeadShapes.Chunk(chunk, nameof(chunk));
        state ??= GatedLinearAttentionState.Zeros(b, h, kd, vd);
        Shapes.Same(state.S, [b, h, kd, vd], nameof(state));
        double sc = Scale(scale, kd);
        var o = Tensor<double>.Zeros(b, h, l, vd);
        var cum = new double[chunk * kg];
        for (int bh = 0; bh < b * h; bh++)
        {
            var s = state.S.Data.AsSpan(bh * kd * vd, kd * vd);
            for (int c0 = 0; c0 < l; c0 += chunk)
            {
                int n = Math.Min(chunk, l - c0);
                for (int t = 0; t < n; t++)
                    for (int c = 0; c < kg; c++)
                        cum[t * kg + c] = (t == 0 ? 0.0 : cum[(t - 1) * kg + c]) + g.Data[(bh * l + c0 + t) * kg + c];
                for (int t = 0; t < n; t++)
                {
                    var qt = q.Data.AsSpan((bh * l + c0 + t) * kd, kd);
                    var ot = o.Data.AsSpan((bh * l + c0 + t) * vd, vd);
                    for (int c = 0; c < kd; c++)
                    {
                        double w = sc * qt[c] * Math.Exp(cum[t * kg + (kg == 1 ? 0 : c)]);
                        for (int j = 0; j < vd; j++) ot[j] += w * s[c * vd + j];
                    }
                    for (int r = 0; r <= t; r++)
                    {
                        var kr = k.Data.AsSpan((bh * l + c0 + r) * kd, kd);
                        double a = 0.0;
                        for (int c = 0; c < kd; c++)
                        {
                            int gc = kg == 1 ? 0 : c;
                            a += sc * qt[c] * kr[c] * Math.Exp(cum[t * kg + gc] - cum[r * kg + gc]);
                        }
                        var vr = v.Data.AsSpan((bh * l + c0 + r) * vd, vd);
                        for (int j = 0; j < vd; j++) ot[j] += a * vr[j];
                    }
                }
                for (int c = 0; c < kd; c++)
                {
                    int gc = kg == 1 ? 0 : c;
                    double last = cum[(n - 1) * kg + gc];
                    double decay = Math.Exp(last);
                    for (int j = 0; j < vd; j++) s[c * vd + j] *= decay;
                    for (int r = 0; r < n; r++)
                    {
                        double w = k.Data[(bh * l + c0 + r) * kd + c] * Math.Exp(last - cum[r * kg + gc]);
                        for (int j = 0; j < vd; j++) s[c * vd + j] += w * v.Data[(bh * l + c0 + r) * vd + j];
                    }
                }
            }
        }
        return o;
    }

    /// <summary>
    /// VJP of <see cref="Forward"/> (float64). With A[t, s] = T[t, s] and dA[t, s] = dO_t . v_s (s &lt;= t):
    /// dv_s = sum_{t &gt;= s} A[t, s] dO_t; dq_tc = sum_{s &lt;= t} dA[t, s] scale k_sc exp(G_tc - G_sc);
    /// dk_sc = sum_{t &gt;= s} dA[t, s] scale q_tc exp(G_tc - G_sc); through the gates, G_t enters with +
    /// as the query end and with - as the key end, so dG_tc = q_tc dq_tc - k_tc dk_tc, and since
    /// G = cumsum(g), dg_t = sum_{r &gt;= t} dG_r (a reverse cumulative sum); a scalar gate sums over c.
    /// </summary>
    public static GatedLinearAttentionGradients Backward(Tensor<double> q, Tensor<double> k, Tensor<double> v, Tensor<double> g, Tensor<double> dOut,
        double? scale = null)
    {
        var (b, h, l, kd, vd, kg) = Check(q, k, v, g);
        Shapes.Same(dOut, [b, h, l, vd], nameof(dOut));
        double sc = Scale(scale, kd);
        var cum = CumulativeGates(g);
        var dq = Tensor<double>.Zeros(q.ShapeArray);
        var dk = Tensor<double>.Zeros(k.ShapeArray);
        var dv = Tensor<double>.Zeros(v.ShapeArray);
        var dg = Tensor<double>.Zeros(g.ShapeArray);
        for (int bh = 0; bh < b * h; bh++)
        {
            for (int t = 0; t < l; t++)
                for (int s = 0; s <= t; s++)
                {
                    double da = 0.0, a = 0.0;
                    for (int j = 0; j < vd; j++) da += dOut.Data[(bh * l + t) * vd + j] * v.Data[(bh * l + s) * vd + j];
                    for (int c = 0; c < kd; c++)
                    {
                        int gc = kg == 1 ? 0 : c;
                        double e = sc * Math.Exp(cum[(bh * l + t) * kg + gc] - cum[(bh * l + s) * kg + gc]);
                        double qtc = q.Data[(bh * l + t) * kd + c], ksc = k.Data[(bh * l + s) * kd + c];
                        a += qtc * ksc * e;
                        dq.Data[(bh * l + t) * kd + c] += da * ksc * e;
                        dk.Data[(bh * l + s) * kd + c] += da * qtc * e;
                    }
                    for (int j = 0; j < vd; j++) dv.Data[(bh * l + s) * vd + j] += a * dOut.Data[(bh * l + t) * vd + j];
                }
            for (int c = 0; c < kd; c++)
            {
                int gc = kg == 1 ? 0 : c;
                double running = 0.0;
                for (int t = l - 1; t >= 0; t--)
                {
                    int i = (bh * l + t) * kd + c;
                    running += q.Data[i] * dq.Data[i] - k.Data[i] * dk.Data[i];
                    if (kg == 1) dg.Data[bh * l + t] += q.Data[i] * dq.Data[i] - k.Data[i] * dk.Data[i];
                    else dg.Data[(bh * l + t) * kg + gc] = running;
                }
            }
            if (kg == 1)
                for (int t = l - 2; t >= 0; t--) dg.Data[bh * l + t] += dg.Data[bh * l + t + 1];
        }
        return new GatedLinearAttentionGradients(dq, dk, dv, dg);
    }

    /// <summary>
    /// The diagonal realization of head (batch, head) for the ESS factored path: transition
    /// a_t = exp(g_t) (broadcast over K for a scalar gate), input b_t = k_t, readout c_t = scale q_t.
    /// </summary>
    public static DiagonalRealization Realize(Tensor<double> q, Tensor<double> k, Tensor<double> g, int batch, int head, double? scale = null)
    {
        var (b, h, l, kd) = HeadShapes.Rank4(q, nameof(q));
        Shapes.Same(k, [b, h, l, kd], nameof(k));
        int kg = CheckGate(g, b, h, l, kd);
        if ((uint)batch >= (uint)b) throw new ArgumentOutOfRangeException(nameof(batch), $"batch = {batch} is outside [0, {b}).");
        if ((uint)head >= (uint)h) throw new ArgumentOutOfRangeException(nameof(head), $"head = {head} is outside [0, {h}).");
        double sc = Scale(scale, kd);
        int bh = batch * h + head;
        var a = new double[l * kd];
        var input = new double[l * kd];
        var readout = new double[l * kd];
        for (int t = 0; t < l; t++)
            for (int c = 0; c < kd; c++)
            {
                a[t * kd + c] = Math.Exp(g.Data[(bh * l + t) * kg + (kg == 1 ? 0 : c)]);
                input[t * kd + c] = k.Data[(bh * l + t) * kd + c];
                readout[t * kd + c] = sc * q.Data[(bh * l + t) * kd + c];
            }
        return DiagonalRealization.Real(l, kd, a, input, readout);
    }

    /// <summary>G = cumsum over t of g, per (b, h, channel), t ascending; same shape as g.</summary>
    private static double[] CumulativeGates(Tensor<double> g)
    {
        int bh = g.Shape[0] * g.Shape[1], l = g.Shape[2], kg = g.Shape[3];
        var cum = new double[g.Length];
        for (int i = 0; i < bh; i++)
            for (int c = 0; c < kg; c++)
            {
                double acc = 0.0;
                for (int t = 0; t < l; t++)
                {
                    acc += g.Data[(i * l + t) * kg + c];
                    cum[(i * l + t) * kg + c] = acc;
                }
            }
        return cum;
    }

    internal static double Scale(double? scale, int kd)
    {
        double s = scale ?? 1.0 / Math.Sqrt(kd);
        if (!double.IsFinite(s)) throw new ArgumentOutOfRangeException(nameof(scale), $"scale = {s} must be finite.");
        return s;
    }

    private static void CheckNormalizer(double normalizer)
    {
        if (!(normalizer > 0) || !double.IsFinite(normalizer))
            throw new ArgumentOutOfRangeException(nameof(normalizer), $"normalizer = {normalizer} must be finite and > 0.");
    }

    /// <summary>Checks g [B, H, L, K or 1] and returns its last dimension.</summary>
    internal static int CheckGate<T>(Tensor<T> g, int b, int h, int l, int kd) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(g);
        if (g.Rank != 4 || g.Shape[0] != b || g.Shape[1] != h || g.Shape[2] != l || (g.Shape[3] != kd && g.Shape[3] != 1))
            throw new ArgumentException(
                $"g has shape {Shapes.Format(g.Shape)}, expected [{b}, {h}, {l}, {kd}] (vector gate) or [{b}, {h}, {l}, 1] (scalar gate).", nameof(g));
        return g.Shape[3];
    }

    internal static (int B, int H, int L, int K, int V, int Kg) Check<T>(Tensor<T> q, Tensor<T> k, Tensor<T> v, Tensor<T> g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (b, h, l, kd) = HeadShapes.Rank4(q, nameof(q));
        Shapes.Same(k, [b, h, l, kd], nameof(k));
        var (_, _, _, vd) = HeadShapes.Rank4(v, nameof(v));
        Shapes.Same(v, [b, h, l, vd], nameof(v));
        return (b, h, l, kd, vd, CheckGate(g, b, h, l, kd));
    }
}
