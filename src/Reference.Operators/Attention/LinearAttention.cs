using System.Numerics;
using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.Operators.Attention;

/// <summary>Feature maps phi of linear attention, applied to queries and keys per head.</summary>
public enum FeatureMap
{
    /// <summary>phi(x) = x (F = K).</summary>
    Identity,

    /// <summary>phi(x) = elu(x) + 1 = x + 1 for x &gt; 0, exp(x) otherwise (Katharopoulos et al., eq. 7; F = K).</summary>
    EluPlusOne,

    /// <summary>phi(x) = max(x, 0) (F = K).</summary>
    Relu,

    /// <summary>
    /// Second-order Taylor map of Based (Arora et al., arXiv:2402.18668, section 3.1) with fla's scaling:
    /// phi(x) = [1, x / K^(1/4), vec(x x^T) / (sqrt(2) K^(1/2))] (F = 1 + K + K^2, all K^2 products kept),
    /// so phi(q) . phi(k) = 1 + (q.k)/sqrt(K) + (q.k)^2 / (2K), the Taylor series of exp(q.k/sqrt(K)) to order 2.
    /// </summary>
    Taylor,
}

/// <summary>Options of linear attention.</summary>
/// <param name="Map">Feature map phi applied to q and k.</param>
/// <param name="Normalize">Divide o_t by scale phi(q_t) . sum_{s &lt;= t} phi(k_s) + Eps (fla's normalize_output).</param>
/// <param name="Scale">Multiplier of phi(q); null means F^-1/2 for Identity/EluPlusOne/Relu and 1 for Taylor (whose map carries the scaling).</param>
/// <param name="Eps">Added to the normaliser (fla: 1e-10).</param>
public sealed record LinearAttentionOptions(FeatureMap Map = FeatureMap.Identity, bool Normalize = false, double? Scale = null, double Eps = 1e-10);

/// <summary>Gradients of <see cref="LinearAttention.Backward"/>, shaped like q, k, v (the raw inputs, before phi).</summary>
public sealed record LinearAttentionGradients(Tensor<double> Dq, Tensor<double> Dk, Tensor<double> Dv);

/// <summary>Recurrent state of linear attention: S [B, H, F, V] and the key sum z [B, H, F], updated in place.</summary>
public sealed class LinearAttentionState
{
    public LinearAttentionState(int b, int h, int f, int v)
    {
        S = Tensor<double>.Zeros(b, h, f, v);
        Z = Tensor<double>.Zeros(b, h, f);
    }

    /// <summary>S_t = sum_{s &lt;= t} phi(k_s) v_s^T per head.</summary>
    public Tensor<double> S { get; }

    /// <summary>z_t = sum_{s &lt;= t} phi(k_s) per head (read only when normalising).</summary>
    public Tensor<double> Z { get; }
}

/// <summary>
/// Linear attention: Katharopoulos, Vyas, Pappas and Fleuret, "Transformers are RNNs" (arXiv:2006.16236),
/// section 3.2, eqs. (4)-(6) (kernelised attention with feature map phi) and 3.4, eqs. (16)-(20)
/// (the causal recurrence S_t = S_{t-1} + phi(k_t) v_t^T, z_t = z_{t-1} + phi(k_t)), with the
/// chunkwise form of Yang et al. (arXiv:2312.06635, section 3.3) and fla's conventions (scale on q,
/// normaliser optional, eps 1e-10).
/// <para>Glossary (code = paper): q, k, v = Q, K, V; phi = feature map; F = feature dim; S = S_t
/// (F x V per head); z = Z_t; scale = K^-1/2 (fla); A[t, s] = scale phi(q_t) . phi(k_s);
/// den_t = sum_{s &lt;= t} A[t, s] + eps (eq. 6's denominator); T = A / den (or A).</para>
/// <para>Shapes: q, k [B, H, L, K], v [B, H, L, V], output [B, H, L, V].</para>
/// <para>Forms: parallel o = (A masked lower-triangular incl. diagonal) v [/ den]; recurrent
/// o_t = S_t^T (scale phi(q_t)) [/ (scale phi(q_t) . z_t + eps)]; chunked: inter-chunk through the
/// carried (S, z), intra-chunk through the masked A of the chunk.</para>
/// <para>Simplifications: no projections or output gate (the layer's business); the Taylor map keeps
/// all K^2 products (Based keeps the same function, some implementations drop duplicates).</para>
/// </summary>
public static partial class LinearAttention
{
    /// <summary>Feature dimension F of <paramref name="map"/> on K-dimensional inputs.</summary>
    public static int FeatureDim(FeatureMap map, int k) => map == FeatureMap.Taylor ? 1 + k + k * k : k;

    /// <summary>phi applied to the last axis: x [..., K] -> [..., F].</summary>
    public static Tensor<double> ApplyFeatureMap(FeatureMap map, Tensor<double> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        int k = x.Shape[^1], f = FeatureDim(map, k), rows = x.Length / Math.Max(k, 1);
        var shape = x.ShapeArray;
        shape[^1] = f;
        var y = Tensor<double>.Zeros(shape);
        double r1 = Math.Pow(k, 0.25), r2 = Math.Sqrt(2.0) * Math.Sqrt(k);
        for (int i = 0; i < rows; i++)
        {
            var xi = x.Data.AsSpan(i * k, k);
            var yi = y.Data.AsSpan(i * f, f);
            switch (map)
            {
                case FeatureMap.Identity: xi.CopyTo(yi); break;
                case FeatureMap.EluPlusOne: for (int c = 0; c < k; c++) yi[c] = NaiveActivations.Elu(xi[c]) + 1.0; break;
                case FeatureMap.Relu: NaiveActivations.Relu(xi, yi); break;
                case FeatureMap.Taylor:
                    yi[0] = 1.0;
                    for (int c = 0; c < k; c++) yi[1 + c] = xi[c] / r1;
                    for (int a = 0; a < k; a++)
                        for (int c = 0; c < k; c++) yi[1 + k + a * k + c] = xi[a] * xi[c] / r2;
                    break;
                default: throw new ArgumentOutOfRangeException(nameof(map), $"map = {map} is not a FeatureMap.");
            }
        }
        return y;
    }

    /// <summary>VJP of <see cref="ApplyFeatureMap"/>: dphi [..., F] -> dx [..., K] (ReLU and elu+1 take the x &gt; 0 branch's derivative only for x &gt; 0).</summary>
    public static Tensor<double> FeatureMapBackward(FeatureMap map, Tensor<double> x, Tensor<double> dphi)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(dphi);
        int k = x.Shape[^1], f = FeatureDim(map, k), rows = x.Length / Math.Max(k, 1);
        if (dphi.Length != rows * f)
            throw new ArgumentException($"dphi has {dphi.Length} elements, expected {rows * f} ({rows} rows of F = {f}).", nameof(dphi));
        var dx = Tensor<double>.Zeros(x.ShapeArray);
        double r1 = Math.Pow(k, 0.25), r2 = Math.Sqrt(2.0) * Math.Sqrt(k);
        for (int i = 0; i < rows; i++)
        {
            var xi = x.Data.AsSpan(i * k, k);
            var gi = dphi.Data.AsSpan(i * f, f);
            var di = dx.Data.AsSpan(i * k, k);
            switch (map)
            {
                case FeatureMap.Identity: gi.CopyTo(di); break;
                case FeatureMap.EluPlusOne: NaiveActivations.EluBackward(xi, gi, di); break;
                case FeatureMap.Relu: NaiveActivations.ReluBackward(xi, gi, di); break;
                case FeatureMap.Taylor:
                    for (int c = 0; c < k; c++) di[c] = gi[1 + c] / r1;
                    for (int a = 0; a < k; a++)
                        for (int c = 0; c < k; c++)
                        {
                            double g2 = gi[1 + k + a * k + c] / r2;
                            di[a] += g2 * xi[c];
                            di[c] += g2 * xi[a];
                        }
                    break;
                default: throw new ArgumentOutOfRangeException(nameof(map), $"map = {map} is not a FeatureMap.");
            }
        }
        return dx;
    }

    /// <summary>
    /// Parallel masked form (the definition, float64; eq. 6 with the causal sums of section 3.4), row
    /// by row without forming the matrix: A_s = scale phi(q_t) . phi(k_s) (feature index ascending) for
    /// s &lt;= t; when normalising den_t = sum_s A_s (s ascending) + eps and A_s /= den_t; then
    /// o_t = sum_{s &lt;= t} A_s v_s (s ascending). Computed on its own, never through
    /// <see cref="Materialize"/>, so T v checks it.
    /// </summary>
    public static Tensor<double> Forward(Tensor<double> q, Tensor<double> k, Tensor<double> v, LinearAttentionOptions? options = null)
    {
        options ??= new LinearAttentionOptions();
        var (b, h, l, _, vd) = Check(q, k, v);
        var (qf, kf, f, scale) = Features(q, k, options);
        var o = Tensor<double>.Zeros(b, h, l, vd);
        var weights = new double[l];
        for (int bh = 0; bh < b * h; bh++)
            for (int t = 0; t < l; t++)
            {
                double den = 0.0;
                for (int s = 0; s <= t; s++)
                {
                    double dot = 0.0;
                    for (int c = 0; c < f; c++) dot += qf.Data[(bh * l + t) * f + c] * kf.Data[(bh * l + s) * f + c];
                    weights[s] = scale * dot;
                    den += weights[s];
                }
                if (options.Normalize)
                {
                    den += options.Eps;
                    for (int s = 0; s <= t; s++) weights[s] /= den;
                }
                var ot = o.Data.AsSpan((bh * l + t) * vd, vd);
                for (int s = 0; s <= t; s++)
                    for (int j = 0; j < vd; j++) ot[j] += weights[s] * v.Data[(bh * l + s) * vd + j];
            }
        return o;
    }

    /// <summary>The operator matrix per head, [B, H, L, L]: A[t, s] (/ den_t when normalising), zero above the diagonal.</summary>
    public static Tensor<double> Materialize(Tensor<double> q, Tensor<double> k, LinearAttentionOptions? options = null)
    {
        options ??= new LinearAttentionOptions();
        var (b, h, l, kd) = HeadShapes.Rank4(q, nameof(q));
        Shapes.Same(k, [b, h, l, kd], nameof(k));
        var (qf, kf, f, scale) = Features(q, k, options);
        var a = Tensor<double>.Zeros(b, h, l, l);
        for (int bh = 0; bh < b * h; bh++)
            for (int t = 0; t < l; t++)
            {
                var row = a.Data.AsSpan((bh * l + t) * l, l);
                double den = 0.0;
                for (int s = 0; s <= t; s++)
                {
                    double dot = 0.0;
                    for (int c = 0; c < f; c++) dot += qf.Data[(bh * l + t) * f + c] * kf.Data[(bh * l + s) * f + c];
                    row[s] = scale * dot;
                    den += row[s];
                }
                if (options.Normalize)
                {
                    den += options.Eps;
                    for (int s = 0; s <= t; s++) row[s] /= den;
                }
            }
        return a;
    }

    /// <summary>
    /// Recurrent form: S += phi(k_t) v_t^T, z += phi(k_t), o_t = S^T (scale phi(q_t)) [/ (scale phi(q_t) . z + eps)].
    /// Starts from <paramref name="state"/> (zeros when null) and leaves the final state in it.
    /// </summary>
    public static Tensor<double> Recurrent(Tensor<double> q, Tensor<double> k, Tensor<double> v, LinearAttentionOptions? options = null,
        LinearAttentionState? state = null)
    {
        options ??= new LinearAttentionOptions();
        var (b, h, l, kd, vd) = Check(q, k, v);
        var (qf, kf, f, scale) = Features(q, k, options);
        state ??= new LinearAttentionState(b, h, f, vd);
        Shapes.Same(state.S, [b, h, f, vd], nameof(state));
        var o = Tensor<double>.Zeros(b, h, l, vd);
        for (int bh = 0; bh < b * h; bh++)
            for (int t = 0; t < l; t++)
                StepHead(state.S.Data.AsSpan(bh * f * vd, f * vd), state.Z.Data.AsSpan(bh * f, f), qf.Data.AsSpan((bh * l + t) * f, f),
                    kf.Data.AsSpan((bh * l + t) * f, f), v.Data.AsSpan((bh * l + t) * vd, vd), scale, options, o.Data.AsSpan((bh * l + t) * vd, vd));
        return o;
    }

    /// <summary>
    /// Fast tier (float32 or float64): linear attention is gated linear attention with every log gate 0 (decay 1),
    /// on the feature-mapped queries and keys, so it runs on GLA's chunkwise kernel
    /// (<see cref="Recurrence.GatedLinearAttention.ChunkedFastWithState{T}"/>) with the scale of
    /// <paramref name="options"/>. The normaliser is one more value column of ones: its output is
    /// scale phi(q_t) . z_t, and the state's last column is z. The state (S, z) is passed as
    /// initialState [B, H, F, V + 1] = [S | z] when normalising, [B, H, F, V] = S otherwise (null = zeros);
    /// the final state is returned in the same layout. Equal to <see cref="Recurrent"/> up to rounding.
    /// </summary>
    public static (Tensor<T> Out, Tensor<T> FinalState) ForwardFast<T>(Tensor<T> q, Tensor<T> k, Tensor<T> v, LinearAttentionOptions? options = null,
        Tensor<T>? initialState = null, int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        options ??= new LinearAttentionOptions();
        var (b, h, l, kd) = HeadShapes.Rank4(q, nameof(q));
        Shapes.Same(k, [b, h, l, kd], nameof(k));
        var (_, _, _, vd) = HeadShapes.Rank4(v, nameof(v));
        Shapes.Same(v, [b, h, l, vd], nameof(v));
        int f = FeatureDim(options.Map, kd), vAug = options.Normalize ? vd + 1 : vd;
        double scale = options.Scale ?? (options.Map == FeatureMap.Taylor ? 1.0 : 1.0 / Math.Sqrt(f));
        if (initialState is not null) Shapes.Same(initialState, [b, h, f, vAug], nameof(initialState));
        var qf = FeaturesFast(q, options.Map, b * h * l, kd, f);
        var kf = FeaturesFast(k, options.Map, b * h * l, kd, f);
        var va = v;
        if (options.Normalize)
        {
            va = Tensor<T>.Zeros(b, h, l, vAug);
            for (int row = 0; row < b * h * l; row++)
            {
                v.Data.AsSpan(row * vd, vd).CopyTo(va.Data.AsSpan(row * vAug));
                va.Data[row * vAug + vd] = T.One;
            }
        }
        var gate = Tensor<T>.Zeros(b, h, l, 1);
        var (oa, final) = Recurrence.GatedLinearAttention.ChunkedFastWithState(qf, kf, va, gate, initialState, scale, maxThreads);
        if (!options.Normalize) return (oa, final);
        var o = Tensor<T>.Zeros(b, h, l, vd);
        T eps = T.CreateChecked(options.Eps);
        for (int row = 0; row < b * h * l; row++)
            TensorPrimitives.Divide(oa.Data.AsSpan(row * vAug, vd), oa.Data[row * vAug + vd] + eps, o.Data.AsSpan(row * vd, vd));
        return (o, final);
    }

    /// <summary>phi of x [rows, K] into [rows, F] over T (the maps of <see cref="ApplyFeatureMap"/>, TensorPrimitives where elementwise).</summary>
    private static Tensor<T> FeaturesFast<T>(Tensor<T> x, FeatureMap map, int rows, int kd, int f) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shape = x.ShapeArray;
        shape[^1] = f;
        var y = Tensor<T>.Zeros(shape);
        switch (map)
        {
            case FeatureMap.Identity: x.Data.CopyTo(y.Data, 0); break;
            case FeatureMap.Relu: TensorPrimitives.Max(x.Data, T.Zero, y.Data); break;
            case FeatureMap.EluPlusOne:
                for (int i = 0; i < x.Length; i++) y.Data[i] = x.Data[i] > T.Zero ? x.Data[i] + T.One : T.Exp(x.Data[i]);
                break;
            default:
                T r4 = T.CreateChecked(Math.Pow(kd, -0.25)), r2 = T.CreateChecked(1.0 / Math.Sqrt(2.0 * kd));
                for (int row = 0; row < rows; row++)
                {
                    var xi = x.Data.AsSpan(row * kd, kd);
                    var yi = y.Data.AsSpan(row * f, f);
                    yi[0] = T.One;
                    TensorPrimitives.Multiply(xi, r4, yi.Slice(1, kd));
                    for (int a = 0; a < kd; a++) TensorPrimitives.Multiply(xi, xi[a] * r2, yi.Slice(1 + kd + a * kd, kd));
                }
                break;
        }
        return y;
    }

    /// <summary>One decoding step: qt, kt [B, H, K], vt [B, H, V] (raw, phi is applied here); returns o_t [B, H, V].</summary>
    public static Tensor<double> Step(LinearAttentionState state, Tensor<double> qt, Tensor<double> kt, Tensor<double> vt, LinearAttentionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        options ??= new LinearAttentionOptions();
        int b = state.S.Shape[0], h = state.S.Shape[1], f = state.S.Shape[2], vd = state.S.Shape[3];
        ArgumentNullException.ThrowIfNull(qt);
        int kd = qt.Rank == 3 ? qt.Shape[2] : -1;
        if (qt.Rank != 3 || qt.Shape[0] != b || qt.Shape[1] != h || FeatureDim(options.Map, kd) != f)
            throw new ArgumentException($"qt has shape {Shapes.Format(qt.Shape)}, expected [{b}, {h}, K] with F(K) = {f}.", nameof(qt));
        Shapes.Same(kt, [b, h, kd], nameof(kt));
        Shapes.Same(vt, [b, h, vd], nameof(vt));
        var qf = ApplyFeatureMap(options.Map, qt);
        var kf = ApplyFeatureMap(options.Map, kt);
        double scale = ResolveScale(options, f);
        var o = Tensor<double>.Zeros(b, h, vd);
        for (int bh = 0; bh < b * h; bh++)
            StepHead(state.S.Data.AsSpan(bh * f * vd, f * vd), state.Z.Data.AsSpan(bh * f, f), qf.Data.AsSpan(bh * f, f),
                kf.Data.AsSpan(bh * f, f), vt.Data.AsSpan(bh * vd, vd), scale, options, o.Data.AsSpan(bh * vd, vd));
        return o;
    }

    private static void StepHead(Span<double> s, Span<double> z, ReadOnlySpan<double> qf, ReadOnlySpan<double> kf, ReadOnlySpan<double> v,
        double scale, LinearAttentionOptions options, Span<double> o)
    {
        int f = qf.Length, vd = v.Length;
        for (int c = 0; c < f; c++)
        {
            z[c] += kf[c];
            for (int j = 0; j < vd; j++) s[c * vd + j] += kf[c] * v[j];
        }
        for (int j = 0; j < vd; j++)
        {
            double acc = 0.0;
            for (int c = 0; c < f; c++) acc += scale * qf[c] * s[c * vd + j];
            o[j] = acc;
        }
        if (!options.Normalize) return;
        double den = 0.0;
        for (int c = 0; c < f; c++) den += scale * qf[c] * z[c];
        den += options.Eps;
        for (int j = 0; j < vd; j++) o[j] /= den;
    }

    /// <summary>
    /// Chunked form with (S, z) carried across chunks of <paramref name="chunk"/> positions (and in/out
    /// through <paramref name="state"/>): o_t = S^T (scale phi(q_t)) + sum_{s &lt;= t in chunk} A[t, s] v_s,
    /// den_t = scale phi(q_t) . z + sum_{s &lt;= t in chunk} A[t, s] + eps; then S += Phi(K_chunk)^T V_chunk, z += sum phi(k_s).
    /// </summary>
    public static Tensor<double> Chunked(Tensor<double> q, Tensor<double> k, Tensor<double> v, int chunk, LinearAttentionOptions? options = null,
        LinearAttentionState? state = null)
    {
        options ??= new LinearAttentionOptions();
        var (b, h, l, kd, vd) = Check(q, k, v);
        HeadShapes.Chunk(chunk, nameof(chunk));
        var (qf, kf, f, scale) = Features(q, k, options);
        state ??= new LinearAttentionState(b, h, f, vd);
        Shapes.Same(state.S, [b, h, f, vd], nameof(state));
        var o = Tensor<double>.Zeros(b, h, l, vd);
        for (int bh = 0; bh < b * h; bh++)
        {
            var s = state.S.Data.AsSpan(bh * f * vd, f * vd);
            var z = state.Z.Data.AsSpan(bh * f, f);
            for (int c0 = 0; c0 < l; c0 += chunk)
            {
                int n = Math.Min(chunk, l - c0);
                for (int t = 0; t < n; t++)
                {
                    var qt = qf.Data.AsSpan((bh * l + c0 + t) * f, f);
                    var ot = o.Data.AsSpan((bh * l + c0 + t) * vd, vd);
                    double den = 0.0;
                    for (int c = 0; c < f; c++)
                    {
                        double w = scale * qt[c];
                        den += w * z[c];
                        for (int j = 0; j < vd; j++) ot[j] += w * s[c * vd + j];
                    }
                    for (int r = 0; r <= t; r++)
                    {
                        double a = 0.0;
                        for (int c = 0; c < f; c++) a += qt[c] * kf.Data[(bh * l + c0 + r) * f + c];
                        a *= scale;
                        den += a;
                        for (int j = 0; j < vd; j++) ot[j] += a * v.Data[(bh * l + c0 + r) * vd + j];
                    }
                    if (options.Normalize)
                        for (int j = 0; j < vd; j++) ot[j] /= den + options.Eps;
                }
                for (int r = 0; r < n; r++)
                    for (int c = 0; c < f; c++)
                    {
                        double kc = kf.Data[(bh * l + c0 + r) * f + c];
                        z[c] += kc;
                        for (int j = 0; j < vd; j++) s[c * vd + j] += kc * v.Data[(bh * l + c0 + r) * vd + j];
                    }
            }
        }
        return o;
    }

    /// <summary>
    /// VJP of <see cref="Forward"/> (float64). With num_t = sum_s A[t, s] v_s, den_t as above, o_t = num_t / den_t:
    /// dnum_t = dO_t / den_t, dden_t = -dO_t . o_t / den_t, dA[t, s] = dnum_t . v_s + dden_t (s &lt;= t),
    /// dv_s = sum_{t &gt;= s} A[t, s] dnum_t, dphi(q_t) = scale sum_s dA[t, s] phi(k_s),
    /// dphi(k_s) = scale sum_t dA[t, s] phi(q_t), then back through phi. Without the normaliser den = 1, dden = 0.
    /// </summary>
    public static LinearAttentionGradients Backward(Tensor<double> q, Tensor<double> k, Tensor<double> v, Tensor<double> dOut,
        LinearAttentionOptions? options = null)
    {
        options ??= new LinearAttentionOptions();
        var (b, h, l, kd, vd) = Check(q, k, v);
        Shapes.Same(dOut, [b, h, l, vd], nameof(dOut));
        var (qf, kf, f, scale) = Features(q, k, options);
        var dqf = Tensor<double>.Zeros(b, h, l, f);
        var dkf = Tensor<double>.Zeros(b, h, l, f);
        var dv = Tensor<double>.Zeros(v.ShapeArray);
        var a = new double[l];
        var dnum = new double[vd];
        for (int bh = 0; bh < b * h; bh++)
            for (int t = 0; t < l; t++)
            {
                double den = options.Normalize ? options.Eps : 1.0;
                for (int s = 0; s <= t; s++)
                {
                    double dot = 0.0;
                    for (int c = 0; c < f; c++) dot += qf.Data[(bh * l + t) * f + c] * kf.Data[(bh * l + s) * f + c];
                    a[s] = scale * dot;
                    if (options.Normalize) den += a[s];
                }
                var dot_ = dOut.Data.AsSpan((bh * l + t) * vd, vd);
                double dden = 0.0;
                if (options.Normalize)
                {
                    // o_t . dO_t with o_t = num_t / den_t.
                    for (int j = 0; j < vd; j++)
                    {
                        double num = 0.0;
                        for (int s = 0; s <= t; s++) num += a[s] * v.Data[(bh * l + s) * vd + j];
                        dden -= dot_[j] * num / (den * den);
                    }
                }
                for (int j = 0; j < vd; j++) dnum[j] = dot_[j] / den;
                for (int s = 0; s <= t; s++)
                {
                    double da = dden;
                    for (int j = 0; j < vd; j++)
                    {
                        da += dnum[j] * v.Data[(bh * l + s) * vd + j];
                        dv.Data[(bh * l + s) * vd + j] += a[s] * dnum[j];
                    }
                    da *= scale;
                    for (int c = 0; c < f; c++)
                    {
                        dqf.Data[(bh * l + t) * f + c] += da * kf.Data[(bh * l + s) * f + c];
                        dkf.Data[(bh * l + s) * f + c] += da * qf.Data[(bh * l + t) * f + c];
                    }
                }
            }
        return new LinearAttentionGradients(FeatureMapBackward(options.Map, q, dqf), FeatureMapBackward(options.Map, k, dkf), dv);
    }

    /// <summary>
    /// Diagonal realization of head (batch, head), N = F: transition a_t = 1, input b_t = phi(k_t),
    /// readout c_t = scale phi(q_t) / den_t (den_t = 1 without the normaliser; the normaliser depends
    /// on q and k only, so the map v -> o stays linear and folds into the readout).
    /// </summary>
    public static DiagonalRealization Realize(Tensor<double> q, Tensor<double> k, int batch, int head, LinearAttentionOptions? options = null)
    {
        options ??= new LinearAttentionOptions();
        var (b, h, l, kd) = HeadShapes.Rank4(q, nameof(q));
        Shapes.Same(k, [b, h, l, kd], nameof(k));
        if ((uint)batch >= (uint)b) throw new ArgumentOutOfRangeException(nameof(batch), $"batch = {batch} is outside [0, {b}).");
        if ((uint)head >= (uint)h) throw new ArgumentOutOfRangeException(nameof(head), $"head = {head} is outside [0, {h}).");
        var (qf, kf, f, scale) = Features(q, k, options);
        int bh = batch * h + head;
        var a = new double[l * f];
        Array.Fill(a, 1.0);
        var input = kf.Data.AsSpan(bh * l * f, l * f).ToArray();
        var readout = new double[l * f];
        var z = new double[f];
        for (int t = 0; t < l; t++)
        {
            double den = 1.0;
            if (options.Normalize)
            {
                den = options.Eps;
                for (int c = 0; c < f; c++)
                {
                    z[c] += input[t * f + c];
                    den += scale * qf.Data[(bh * l + t) * f + c] * z[c];
                }
            }
            for (int c = 0; c < f; c++) readout[t * f + c] = scale * qf.Data[(bh * l + t) * f + c] / den;
        }
        return DiagonalRealization.Real(l, f, a, input, readout);
    }

    internal static double ResolveScale(LinearAttentionOptions options, int f)
    {
        double scale = options.Scale ?? (options.Map == FeatureMap.Taylor ? 1.0 : 1.0 / Math.Sqrt(f));
        if (!double.IsFinite(scale)) throw new ArgumentOutOfRangeException(nameof(options), $"options.Scale = {scale} must be finite.");
        if (!(options.Eps >= 0)) throw new ArgumentOutOfRangeException(nameof(options), $"options.Eps = {options.Eps} must be >= 0.");
        return scale;
    }

    private static (Tensor<double> Qf, Tensor<double> Kf, int F, double Scale) Features(Tensor<double> q, Tensor<double> k, LinearAttentionOptions options)
    {
        var qf = ApplyFeatureMap(options.Map, q);
        var kf = ApplyFeatureMap(options.Map, k);
        int f = qf.Shape[^1];
        return (qf, kf, f, ResolveScale(options, f));
    }

    private static (int B, int H, int L, int K, int V) Check(Tensor<double> q, Tensor<double> k, Tensor<double> v)
    {
        var (b, h, l, kd) = HeadShapes.Rank4(q, nameof(q));
        Shapes.Same(k, [b, h, l, kd], nameof(k));
        var (_, _, _, vd) = HeadShapes.Rank4(v, nameof(v));
        Shapes.Same(v, [b, h, l, vd], nameof(v));
        return (b, h, l, kd, vd);
    }
}
