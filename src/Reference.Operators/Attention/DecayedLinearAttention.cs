using Reference.Core;
using Reference.Operators.Recurrence;

namespace Reference.Operators.Attention;

/// <summary>Gradients of <see cref="DecayedLinearAttention.Backward"/>: q, k, v shaped, and dLogLambda [H, K].</summary>
public sealed record DecayedLinearAttentionGradients(Tensor<double> Dq, Tensor<double> Dk, Tensor<double> Dv, Tensor<double> DLogLambda);

/// <summary>
/// Linear attention with a fixed (input-invariant) decay per head and key channel:
/// S_t = Diag(lambda) S_{t-1} + k_t v_t^T, o_t = S_t^T (scale q_t), i.e.
/// T[t, s] = scale q_t^T Diag(lambda)^(t - s) k_s. RetNet (Sun et al., arXiv:2307.08621, section 2.1,
/// eqs. 1-6) is the scalar-per-head case lambda = gamma; a per-channel lambda is the diagonal
/// generalisation (the "decayed linear attention" of the ESS paper's operator families and of GLA's
/// section 2 background), GLA with constant gates g_t = log lambda.
/// <para>Glossary (code = paper): q, k, v = Q, K, V; logLambda = log lambda = log gamma [H, K] (&lt;= 0);
/// scale = K^-1/2 applied to q; S = state (K x V per head, the same layout as <see cref="GatedLinearAttentionState"/>).</para>
/// <para>Shapes: q, k [B, H, L, K], v [B, H, L, V], logLambda [H, K], output [B, H, L, V].</para>
/// <para>Numerics: lambda^(t - s) is evaluated as exp((t - s) log lambda) for s &lt;= t (never by
/// repeated multiplication, and never lambda^t lambda^-s, which overflows).</para>
/// <para>Simplifications: no xPos/rotary factors, group norm or gating of RetNet; decays are
/// parameters, not functions of the input (that is GLA).</para>
/// </summary>
public static partial class DecayedLinearAttention
{
    /// <summary>
    /// A seeded initial log-decay [H, K]: lambda = 1 - 2^(-u), u ~ U[5, 9] per head and channel,
    /// spreading RetNet's per-head range gamma_h = 1 - 2^(-5 - h) over the channels (half-lives of
    /// about 22 to 355 steps).
    /// </summary>
    public static Tensor<double> InitialLogLambda(SplitMix64 rng, int h, int k)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (h < 1) throw new ArgumentOutOfRangeException(nameof(h), $"h = {h} must be >= 1.");
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), $"k = {k} must be >= 1.");
        var t = Tensor<double>.Zeros(h, k);
        for (int i = 0; i < t.Length; i++) t.Data[i] = Math.Log(1.0 - Math.Pow(2.0, -rng.Uniform(5.0, 9.0)));
        return t;
    }

    /// <summary>
    /// Parallel form (the definition, float64; RetNet eq. 5 per channel), a direct sum: for each t and
    /// s &lt;= t (s ascending) the weight w = sum_c scale q_tc k_sc exp((t - s) logLambda_c)
    /// (c ascending) and o_t += w v_s. Computed on its own, never through <see cref="Materialize"/>,
    /// so T v checks it.
    /// </summary>
    public static Tensor<double> Forward(Tensor<double> q, Tensor<double> k, Tensor<double> v, Tensor<double> logLambda, double? scale = null)
    {
        var (b, h, l, kd, vd) = Check(q, k, v, logLambda);
        double sc = GatedLinearAttention.Scale(scale, kd);
        var o = Tensor<double>.Zeros(b, h, l, vd);
        for (int bh = 0; bh < b * h; bh++)
        {
            var ll = logLambda.Data.AsSpan(bh % h * kd, kd);
            for (int t = 0; t < l; t++)
            {
                var ot = o.Data.AsSpan((bh * l + t) * vd, vd);
                for (int s = 0; s <= t; s++)
                {
                    double w = 0.0;
                    for (int c = 0; c < kd; c++)
                        w += sc * q.Data[(bh * l + t) * kd + c] * k.Data[(bh * l + s) * kd + c] * Math.Exp((t - s) * ll[c]);
                    for (int j = 0; j < vd; j++) ot[j] += w * v.Data[(bh * l + s) * vd + j];
                }
            }
        }
        return o;
    }

    /// <summary>The operator matrix per head, [B, H, L, L]: T[t, s] = scale q_t^T Diag(lambda)^(t - s) k_s for s &lt;= t.</summary>
    public static Tensor<double> Materialize(Tensor<double> q, Tensor<double> k, Tensor<double> logLambda, double? scale = null)
    {
        var (b, h, l, kd) = HeadShapes.Rank4(q, nameof(q));
        Shapes.Same(k, [b, h, l, kd], nameof(k));
        CheckDecay(logLambda, h, kd);
        double sc = GatedLinearAttention.Scale(scale, kd);
        var t = Tensor<double>.Zeros(b, h, l, l);
        for (int bh = 0; bh < b * h; bh++)
        {
            var ll = logLambda.Data.AsSpan(bh % h * kd, kd);
            for (int i = 0; i < l; i++)
                for (int s = 0; s <= i; s++)
                {
                    double acc = 0.0;
                    for (int c = 0; c < kd; c++)
                        acc += sc * q.Data[(bh * l + i) * kd + c] * k.Data[(bh * l + s) * kd + c] * Math.Exp((i - s) * ll[c]);
                    t.Data[(bh * l + i) * l + s] = acc;
                }
        }
        return t;
    }

    /// <summary>Recurrent form: S = Diag(lambda) S + k_t v_t^T, o_t = S^T (scale q_t), from and into <paramref name="state"/>.</summary>
    public static Tensor<double> Recurrent(Tensor<double> q, Tensor<double> k, Tensor<double> v, Tensor<double> logLambda,
        GatedLinearAttentionState? state = null, double? scale = null)
    {
        var (b, h, l, kd, vd) = Check(q, k, v, logLambda);
        state ??= GatedLinearAttentionState.Zeros(b, h, kd, vd);
        Shapes.Same(state.S, [b, h, kd, vd], nameof(state));
        double sc = GatedLinearAttention.Scale(scale, kd);
        var o = Tensor<double>.Zeros(b, h, l, vd);
        for (int bh = 0; bh < b * h; bh++)
            for (int t = 0; t < l; t++)
                StepHead(state.S.Data.AsSpan(bh * kd * vd, kd * vd), q.Data.AsSpan((bh * l + t) * kd, kd), k.Data.AsSpan((bh * l + t) * kd, kd),
                    v.Data.AsSpan((bh * l + t) * vd, vd), logLambda.Data.AsSpan(bh % h * kd, kd), sc, o.Data.AsSpan((bh * l + t) * vd, vd));
        return o;
    }

    /// <summary>One decoding step: qt, kt [B, H, K], vt [B, H, V]; returns o_t [B, H, V] and advances the state.</summary>
    public static Tensor<double> Step(GatedLinearAttentionState state, Tensor<double> qt, Tensor<double> kt, Tensor<double> vt, Tensor<double> logLambda, double? scale = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        int b = state.S.Shape[0], h = state.S.Shape[1], kd = state.S.Shape[2], vd = state.S.Shape[3];
        Shapes.Same(qt, [b, h, kd], nameof(qt));
        Shapes.Same(kt, [b, h, kd], nameof(kt));
        Shapes.Same(vt, [b, h, vd], nameof(vt));
        CheckDecay(logLambda, h, kd);
        double sc = GatedLinearAttention.Scale(scale, kd);
        var o = Tensor<double>.Zeros(b, h, vd);
        for (int bh = 0; bh < b * h; bh++)
            StepHead(state.S.Data.AsSpan(bh * kd * vd, kd * vd), qt.Data.AsSpan(bh * kd, kd), kt.Data.AsSpan(bh * kd, kd),
                vt.Data.AsSpan(bh * vd, vd), logLambda.Data.AsSpan(bh % h * kd, kd), sc, o.Data.AsSpan(bh * vd, vd));
        return o;
    }

    private static void StepHead(Span<double> s, ReadOnlySpan<double> q, ReadOnlySpan<double> k, ReadOnlySpan<double> v,
        ReadOnlySpan<double> logLambda, double scale, Span<double> o)
    {
        int kd = q.Length, vd = v.Length;
        for (int c = 0; c < kd; c++)
        {
            double lambda = Math.Exp(logLambda[c]);
            for (int j = 0; j < vd; j++) s[c * vd + j] = lambda * s[c * vd + j] + k[c] * v[j];
        }
        for (int j = 0; j < vd; j++)
        {
            double acc = 0.0;
            for (int c = 0; c < kd; c++) acc += scale * q[c] * s[c * vd + j];
            o[j] = acc;
        }
    }

    /// <summary>
    /// Chunked form, chunks of <paramref name="chunk"/> with the state carried (in/out through
    /// <paramref name="state"/>): for position r = 0..n-1 of a chunk,
    /// o = (scale q o lambda^(r + 1))^T S + sum_{s &lt;= r} [sum_c scale q_c k_sc lambda_c^(r - s)] v_s,
    /// then S = Diag(lambda^n) S + sum_s (k_s o lambda^(n - 1 - s)) v_s^T.
    /// </summary>
    public static Tensor<double> Chunked(Tensor<double> q, Tensor<double> k, Tensor<double> v, Tensor<double> logLambda, int chunk,
        GatedLinearAttentionState? state = null, double? scale = null)
    {
        var (b, h, l, kd, vd) = Check(q, k, v, logLambda);
        HeadShapes.Chunk(chunk, nameof(chunk));
        state ??= GatedLinearAttentionState.Zeros(b, h, kd, vd);
        Shapes.Same(state.S, [b, h, kd, vd], nameof(state));
        double sc = GatedLinearAttention.Scale(scale, kd);
        var o = Tensor<double>.Zeros(b, h, l, vd);
        for (int bh = 0; bh < b * h; bh++)
        {
            var s = state.S.Data.AsSpan(bh * kd * vd, kd * vd);
            var ll = logLambda.Data.AsSpan(bh % h * kd, kd);
            for (int c0 = 0; c0 < l; c0 += chunk)
            {
                int n = Math.Min(chunk, l - c0);
                for (int r = 0; r < n; r++)
                {
                    var qr = q.Data.AsSpan((bh * l + c0 + r) * kd, kd);
                    var or = o.Data.AsSpan((bh * l + c0 + r) * vd, vd);
                    for (int c = 0; c < kd; c++)
                    {
                        double w = sc * qr[c] * Math.Exp((r + 1) * ll[c]);
                        for (int j = 0; j < vd; j++) or[j] += w * s[c * vd + j];
                    }
                    for (int p = 0; p <= r; p++)
                    {
                        double a = 0.0;
                        for (int c = 0; c < kd; c++) a += sc * qr[c] * k.Data[(bh * l + c0 + p) * kd + c] * Math.Exp((r - p) * ll[c]);
                        for (int j = 0; j < vd; j++) or[j] += a * v.Data[(bh * l + c0 + p) * vd + j];
                    }
                }
                for (int c = 0; c < kd; c++)
                {
                    double decay = Math.Exp(n * ll[c]);
                    for (int j = 0; j < vd; j++) s[c * vd + j] *= decay;
                    for (int p = 0; p < n; p++)
                    {
                        double w = k.Data[(bh * l + c0 + p) * kd + c] * Math.Exp((n - 1 - p) * ll[c]);
                        for (int j = 0; j < vd; j++) s[c * vd + j] += w * v.Data[(bh * l + c0 + p) * vd + j];
                    }
                }
            }
        }
        return o;
    }

    /// <summary>
    /// VJP of <see cref="Forward"/> (float64): with dA[t, s] = dO_t . v_s and E_tsc = scale exp((t - s) logLambda_c):
    /// dv_s = sum_{t &gt;= s} T[t, s] dO_t, dq_tc = sum_s dA k_sc E, dk_sc = sum_t dA q_tc E,
    /// dLogLambda_hc = sum_{b, t, s &lt;= t} dA (t - s) q_tc k_sc E (the exponent's derivative).
    /// </summary>
    public static DecayedLinearAttentionGradients Backward(Tensor<double> q, Tensor<double> k, Tensor<double> v, Tensor<double> logLambda,
        Tensor<double> dOut, double? scale = null)
    {
        var (b, h, l, kd, vd) = Check(q, k, v, logLambda);
        Shapes.Same(dOut, [b, h, l, vd], nameof(dOut));
        double sc = GatedLinearAttention.Scale(scale, kd);
        var dq = Tensor<double>.Zeros(q.ShapeArray);
        var dk = Tensor<double>.Zeros(k.ShapeArray);
        var dv = Tensor<double>.Zeros(v.ShapeArray);
        var dll = Tensor<double>.Zeros(h, kd);
        for (int bh = 0; bh < b * h; bh++)
        {
            var ll = logLambda.Data.AsSpan(bh % h * kd, kd);
            for (int t = 0; t < l; t++)
                for (int s = 0; s <= t; s++)
                {
                    double da = 0.0, a = 0.0;
                    for (int j = 0; j < vd; j++) da += dOut.Data[(bh * l + t) * vd + j] * v.Data[(bh * l + s) * vd + j];
                    for (int c = 0; c < kd; c++)
                    {
                        double e = sc * Math.Exp((t - s) * ll[c]);
                        double qtc = q.Data[(bh * l + t) * kd + c], ksc = k.Data[(bh * l + s) * kd + c];
                        a += qtc * ksc * e;
                        dq.Data[(bh * l + t) * kd + c] += da * ksc * e;
                        dk.Data[(bh * l + s) * kd + c] += da * qtc * e;
                        dll.Data[bh % h * kd + c] += da * (t - s) * qtc * ksc * e;
                    }
                    for (int j = 0; j < vd; j++) dv.Data[(bh * l + s) * vd + j] += a * dOut.Data[(bh * l + t) * vd + j];
                }
        }
        return new DecayedLinearAttentionGradients(dq, dk, dv, dll);
    }

    /// <summary>Diagonal realization of head (batch, head): a_t = lambda (constant), b_t = k_t, c_t = scale q_t.</summary>
    public static DiagonalRealization Realize(Tensor<double> q, Tensor<double> k, Tensor<double> logLambda, int batch, int head, double? scale = null)
    {
        var (b, h, l, kd) = HeadShapes.Rank4(q, nameof(q));
        Shapes.Same(k, [b, h, l, kd], nameof(k));
        CheckDecay(logLambda, h, kd);
        if ((uint)batch >= (uint)b) throw new ArgumentOutOfRangeException(nameof(batch), $"batch = {batch} is outside [0, {b}).");
        if ((uint)head >= (uint)h) throw new ArgumentOutOfRangeException(nameof(head), $"head = {head} is outside [0, {h}).");
        double sc = GatedLinearAttention.Scale(scale, kd);
        int bh = batch * h + head;
        var a = new double[l * kd];
        var readout = new double[l * kd];
        for (int t = 0; t < l; t++)
            for (int c = 0; c < kd; c++)
            {
                a[t * kd + c] = Math.Exp(logLambda.Data[head * kd + c]);
                readout[t * kd + c] = sc * q.Data[(bh * l + t) * kd + c];
            }
        return DiagonalRealization.Real(l, kd, a, k.Data.AsSpan(bh * l * kd, l * kd).ToArray(), readout);
    }

    private static void CheckDecay(Tensor<double> logLambda, int h, int kd)
    {
        Shapes.Same(logLambda, [h, kd], nameof(logLambda));
        foreach (double x in logLambda.Data)
            if (!(x <= 0) || !double.IsFinite(x))
                throw new ArgumentOutOfRangeException(nameof(logLambda), $"logLambda holds {x}; expected a finite log lambda <= 0 (0 < lambda <= 1).");
    }

    private static (int B, int H, int L, int K, int V) Check(Tensor<double> q, Tensor<double> k, Tensor<double> v, Tensor<double> logLambda)
    {
        var (b, h, l, kd) = HeadShapes.Rank4(q, nameof(q));
        Shapes.Same(k, [b, h, l, kd], nameof(k));
        var (_, _, _, vd) = HeadShapes.Rank4(v, nameof(v));
        Shapes.Same(v, [b, h, l, vd], nameof(v));
        CheckDecay(logLambda, h, kd);
        return (b, h, l, kd, vd);
    }
}
