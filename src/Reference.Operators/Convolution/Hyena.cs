// Hyena: a data-controlled long convolution. Long implicit filters (an MLP of positional features)
// interleaved with elementwise gates computed from the input, so the operator matrix of a given input
// is diag(x_0) T_h diag(x_1) (order 2) instead of attention's softmax(QK^T).
//
// Paper: "Hyena Hierarchy: Towards Larger Convolutional Language Models" (Poli, Massaroli, Nguyen, Fu,
// Dao, Baccus, Bengio, Ermon, Re; arXiv:2302.10866), Sec. 3.2 (Definition 3.1, the order-N recurrence
// z^{n+1}_t = x^n_t (h^n * z^n)_t), Sec. 3.3 (implicit filter h_t = Window(t) (FFN o PositionalEncoding)(t)),
// Algorithm 1-3 (projection, short convolution, the recurrence). Constants follow safari's
// HyenaOperator / HyenaFilter / PositionalEmbedding / ExponentialModulation (HazyResearch/safari).
//
// Glossary (code -> paper / safari):
//   u, out [B, L, D]     input and output (token-major); D = d_model
//   Order (N_o)          order N of the recurrence (default 2): N_o gates x_0..x_{N_o-1} and N_o - 1 filters
//   InW [(N_o+1)D, D]    in_proj (PyTorch Linear, y = x W^T + b); ShortW [(N_o+1)D, 3], ShortB  short_filter
//                        (depthwise Conv1d, 3 taps, padding 2, first L outputs: ShortW[c, 2] hits the current token)
//   s [B, (N_o+1)D, L]   projected and short-convolved; x_i = s[:, iD:(i+1)D], v = s[:, N_o D:]
//   z [l_max, E]         positional features [t, cos(f_j w_k), -sin(f_j w_k)], t_k = k/(l_max-1),
//                        w_k = 2 pi k / l_max, f = linspace(1e-4, bands-1, bands), bands = (E-1)/2, E odd
//   W0..W3, B0..B2       implicit_filter: Linear(E, F) Sin (Linear(F, F) Sin) x 2 Linear(F, Df, no bias)
//   Freq [F]             the ONE frequency vector shared by every Sin layer: Sin(x) = sin(Freq * x)
//   Deltas [Df]          ExponentialModulation: window exp(-t_k |delta_c|), delta = linspace(ln(1e-2)/1.5,
//                        ln(1e-2)/0.3, Df) (fast_decay_pct 0.3, slow_decay_pct 1.5, target 1e-2, shift 0; fixed)
//   h [Df, L]            the filters, Df = (N_o - 1) D, filter channel o D + d; FilterBias [Df] the bias D of fftconv
//   loop                 for o = 0..N_o-2, i = N_o-1-o:  v = v * x_i;  v = h_o * v + FilterBias_o v
//   y = v * x_0;  out = y OutW^T + OutB
// For L < l_max the filter is the first L samples of the l_max filter (features are on the l_max grid).
//
// No finite recurrence exists: the decoding form (HyenaState) caches the input history of every long
// convolution (O(L) per channel, CausalConvolution's ConvolutionState with Lk = l_max) and the last two
// projected tokens for the short convolution; it equals the parallel path position by position exactly.
//
// Deliberate simplifications: no dropout; inputs longer than l_max are rejected (safari truncates the
// output to l_max); num_inner_mlps fixed at 2 (as docs/operators.md states); the filter MLP runs in float64 naive
// loops (Linear sums over the input index ascending, bias added last).
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Linear;
using Reference.Operators.StateSpace;

namespace Reference.Operators.Convolution;

/// <summary>Hyena operator parameters (float64 arrays, row-major; weights out x in).</summary>
public sealed record HyenaParameters(
    int ModelWidth, int Order, int FilterWidth, int EmbeddingDim, int MaxLength,
    double[] InW, double[] InB, double[] ShortW, double[] ShortB,
    double[] W0, double[] B0, double[] W1, double[] B1, double[] W2, double[] B2, double[] W3,
    double[] Freq, double[] Deltas, double[] FilterBias, double[] OutW, double[] OutB)
{
    /// <summary>Number of filter channels Df = (N_o - 1) D.</summary>
    public int FilterChannels => (Order - 1) * ModelWidth;

    /// <summary>
    /// Seeded init following safari: Linear layers and the short conv ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    /// (PyTorch defaults; fan_in = 3 for the depthwise conv), Freq = w (1 by default), FilterBias ~ N(0, 1),
    /// Deltas as in the file head. Draw order: in_proj W, b; short conv W, b; filter MLP W0, B0, W1, B1, W2,
    /// B2, W3; FilterBias; out_proj W, b.
    /// </summary>
    public static HyenaParameters Initialize(SplitMix64 rng, int modelWidth, int maxLength, int order = 2,
        int filterWidth = 64, int embeddingDim = 3, double frequency = 1.0)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfLessThan(modelWidth, 1, nameof(modelWidth));
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1, nameof(maxLength));
        ArgumentOutOfRangeException.ThrowIfLessThan(order, 2, nameof(order));
        ArgumentOutOfRangeException.ThrowIfLessThan(filterWidth, 1, nameof(filterWidth));
        if (embeddingDim < 3 || embeddingDim % 2 == 0)
            throw new ArgumentOutOfRangeException(nameof(embeddingDim), $"embeddingDim must be odd and >= 3, got {embeddingDim}.");
        int d = modelWidth, inner = (order + 1) * d, f = filterWidth, e = embeddingDim, df = (order - 1) * d;
        double[] U(int count, int fanIn)
        {
            var a = new double[count];
            double bound = 1.0 / Math.Sqrt(fanIn);
            rng.FillUniform<double>(a, -bound, bound);
            return a;
        }
        var inW = U(inner * d, d); var inB = U(inner, d);
        var shortW = U(inner * 3, 3); var shortB = U(inner, 3);
        var w0 = U(f * e, e); var b0 = U(f, e);
        var w1 = U(f * f, f); var b1 = U(f, f);
        var w2 = U(f * f, f); var b2 = U(f, f);
        var w3 = U(df * f, f);
        var filterBias = new double[df];
        rng.FillNormal<double>(filterBias);
        var outW = U(d * d, d); var outB = U(d, d);
        var freq = Enumerable.Repeat(frequency, f).ToArray();
        double maxDecay = Math.Log(1e-2) / 0.3, minDecay = Math.Log(1e-2) / 1.5;
        var deltas = new double[df];
        for (int c = 0; c < df; c++) deltas[c] = df == 1 ? minDecay : minDecay + (maxDecay - minDecay) * c / (df - 1);
        return new HyenaParameters(d, order, f, e, maxLength, inW, inB, shortW, shortB,
            w0, b0, w1, b1, w2, b2, w3, freq, deltas, filterBias, outW, outB);
    }

    internal void Validate(string argument)
    {
        int d = ModelWidth, inner = (Order + 1) * d, f = FilterWidth, e = EmbeddingDim, df = FilterChannels;
        if (d < 1 || Order < 2 || f < 1 || e < 3 || e % 2 == 0 || MaxLength < 1)
            throw new ArgumentException($"need D >= 1, Order >= 2, F >= 1, odd E >= 3, l_max >= 1; got {d}, {Order}, {f}, {e}, {MaxLength}.", argument);
        if (InW.Length != inner * d || InB.Length != inner || ShortW.Length != inner * 3 || ShortB.Length != inner
            || W0.Length != f * e || B0.Length != f || W1.Length != f * f || B1.Length != f || W2.Length != f * f || B2.Length != f
            || W3.Length != df * f || Freq.Length != f || Deltas.Length != df || FilterBias.Length != df
            || OutW.Length != d * d || OutB.Length != d)
            throw new ArgumentException(
                $"parameter arrays do not match D = {d}, N_o = {Order}, F = {f}, E = {e} (InW [{inner}, {d}], W3 [{df}, {f}], ...).", argument);
    }
}

/// <summary>Intermediates of one forward pass: S [B, (N_o+1)D, L] after the short conv, Y [B, D, L] before out_proj.</summary>
public sealed record HyenaIntermediates(Tensor<double> S, Tensor<double> Y, Tensor<double> Output);

/// <summary>Gradients of the Hyena operator (du [B, L, D] and one array per trainable parameter).</summary>
public sealed record HyenaGradients(
    Tensor<double> Input, double[] InW, double[] InB, double[] ShortW, double[] ShortB,
    double[] W0, double[] B0, double[] W1, double[] B1, double[] W2, double[] B2, double[] W3,
    double[] Freq, double[] FilterBias, double[] OutW, double[] OutB);

/// <summary>
/// Decoding state: the short-conv history (last 2 projected tokens per inner channel), the full input
/// history of each of the N_o - 1 long convolutions, and the l_max filter.
/// </summary>
public sealed class HyenaState
{
    internal HyenaState(int batch, ConvolutionState shortConv, ConvolutionState[] longConv, Tensor<double>[] filters)
    {
        Batch = batch;
        ShortConv = shortConv;
        LongConv = longConv;
        Filters = filters;
    }

    public int Batch { get; }

    /// <summary>Tokens consumed so far.</summary>
    public long Position => ShortConv.Position;

    public ConvolutionState ShortConv { get; }

    /// <summary>One input-history cache per filter o (rows B D, Lk = l_max).</summary>
    public ConvolutionState[] LongConv { get; }

    /// <summary>h_o [D, l_max] per filter o.</summary>
    public Tensor<double>[] Filters { get; }
}

public static partial class Hyena
{
    // ------------------------------------------------------------------ implicit filter

    /// <summary>Positional features z [l_max, E] and normalized times t [l_max] (see the file head).</summary>
    public static (Tensor<double> Z, double[] T) PositionalFeatures(int embeddingDim, int maxLength)
    {
        if (embeddingDim < 3 || embeddingDim % 2 == 0)
            throw new ArgumentOutOfRangeException(nameof(embeddingDim), $"embeddingDim must be odd and >= 3, got {embeddingDim}.");
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1, nameof(maxLength));
        int bands = (embeddingDim - 1) / 2;
        var z = Tensor<double>.Zeros(maxLength, embeddingDim);
        var t = new double[maxLength];
        for (int k = 0; k < maxLength; k++)
        {
            t[k] = maxLength == 1 ? 0.0 : (double)k / (maxLength - 1);
            double w = 2.0 * Math.PI * k / maxLength;
            z.Data[k * embeddingDim] = t[k];
            for (int j = 0; j < bands; j++)
            {
                double f = bands == 1 ? 1e-4 : 1e-4 + (bands - 1 - 1e-4) * j / (bands - 1);
                z.Data[k * embeddingDim + 1 + j] = Math.Cos(f * w);
                z.Data[k * embeddingDim + 1 + bands + j] = -Math.Sin(f * w);
            }
        }
        return (z, t);
    }

    /// <summary>
    /// The filters h [Df, L] (L &lt;= l_max): h[c, k] = (W3 a2(z_k))[c] exp(-t_k |delta_c|) with
    /// a0 = sin(Freq (W0 z_k + B0)), a1 = sin(Freq (W1 a0 + B1)), a2 = sin(Freq (W2 a1 + B2)).
    /// </summary>
    public static Tensor<double> Filter(HyenaParameters p, int length)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        if (length < 1 || length > p.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(length), $"length must be in [1, l_max = {p.MaxLength}], got {length}.");
        var (z, t) = PositionalFeatures(p.EmbeddingDim, p.MaxLength);
        int f = p.FilterWidth, e = p.EmbeddingDim, df = p.FilterChannels;
        var h = Tensor<double>.Zeros(df, length);
        var a = new double[f];
        var b = new double[f];
        for (int k = 0; k < length; k++)
        {
            SinLayer(z.Data.AsSpan(k * e, e), p.W0, p.B0, p.Freq, a);
            SinLayer(a, p.W1, p.B1, p.Freq, b);
            SinLayer(b, p.W2, p.B2, p.Freq, a);
            for (int c = 0; c < df; c++)
            {
                double acc = 0.0;
                for (int j = 0; j < f; j++) acc += p.W3[c * f + j] * a[j];
                h.Data[c * length + k] = acc * Math.Exp(-t[k] * Math.Abs(p.Deltas[c]));
            }
        }
        return h;
    }

    private static void SinLayer(ReadOnlySpan<double> x, double[] w, double[] bias, double[] freq, Span<double> y)
    {
        int n = x.Length;
        for (int o = 0; o < y.Length; o++)
        {
            double acc = 0.0;
            for (int j = 0; j < n; j++) acc += w[o * n + j] * x[j];
            y[o] = Math.Sin(freq[o] * (acc + bias[o]));
        }
    }

    // ------------------------------------------------------------------ parallel form (Naive)

    /// <summary>The operator on u [B, L, D] (L &lt;= l_max) -> out [B, L, D].</summary>
    public static Tensor<double> Forward(HyenaParameters p, Tensor<double> u) => ForwardWithIntermediates(p, u).Output;

    /// <summary><see cref="Forward"/>, keeping the short-conv output S and the pre-projection Y.</summary>
    public static HyenaIntermediates ForwardWithIntermediates(HyenaParameters p, Tensor<double> u)
    {
        var (_, length) = CheckInput(p, u, 0);
        var h = Filter(p, length);
        var filters = SplitFilters(p, h, length);
        var kShort = ShortKernel(p);
        return Run(p, u,
            x => CausalConvolution.Forward(x, kShort),
            (o, v) => CausalConvolution.Forward(v, filters[o], FilterBias(p, o)));
    }

    // ------------------------------------------------------------------ decoding form

    /// <summary>An empty state for a batch of B sequences (the l_max filter is computed once here).</summary>
    public static HyenaState InitialState(HyenaParameters p, int batch)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1, nameof(batch));
        int d = p.ModelWidth, inner = (p.Order + 1) * d;
        var filters = SplitFilters(p, Filter(p, p.MaxLength), p.MaxLength);
        var shortConv = CausalConvolution.InitialState(batch * inner, inner, 3);
        var longConv = new ConvolutionState[p.Order - 1];
        for (int o = 0; o < longConv.Length; o++) longConv[o] = CausalConvolution.InitialState(batch * d, d, p.MaxLength);
        return new HyenaState(batch, shortConv, longConv, filters);
    }

    /// <summary>A chunk u [B, Lc, D] with carried state (Position + Lc &lt;= l_max); chunked = one-shot exactly.</summary>
    public static Tensor<double> ForwardChunk(HyenaParameters p, HyenaState state, Tensor<double> u)
    {
        ArgumentNullException.ThrowIfNull(state);
        var (batch, _) = CheckInput(p, u, state.Position);
        if (batch != state.Batch)
            throw new ArgumentException($"state was made for batch {state.Batch}, the input has batch {batch}.", nameof(state));
        var kShort = ShortKernel(p);
        return Run(p, u,
            x => CausalConvolution.ForwardChunk(state.ShortConv, x, kShort),
            (o, v) => CausalConvolution.ForwardChunk(state.LongConv[o], v, state.Filters[o], FilterBias(p, o))).Output;
    }

    /// <summary>Prefill: the parallel output of u [B, L, D] and the state after it.</summary>
    public static (Tensor<double> Output, HyenaState State) Prefill(HyenaParameters p, Tensor<double> u)
    {
        var (batch, _) = CheckInput(p, u, 0);
        var state = InitialState(p, batch);
        return (ForwardChunk(p, state, u), state);
    }

    /// <summary>One token uT [B, D] -> out_t [B, D]; O(t) work per channel (the input history).</summary>
    public static Tensor<double> Step(HyenaParameters p, HyenaState state, Tensor<double> uT)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(uT);
        if (uT.Rank != 2 || uT.Dim(1) != p.ModelWidth)
            throw new ArgumentException($"uT must have shape [B, {p.ModelWidth}], got {Shapes.Format(uT.Shape)}.", nameof(uT));
        return ForwardChunk(p, state, uT.Reshape(uT.Dim(0), 1, p.ModelWidth)).Reshape(uT.Dim(0), p.ModelWidth);
    }

    // ------------------------------------------------------------------ operator matrix

    /// <summary>
    /// The data-controlled operator for one sequence u [L, D]: T [D, L, L] maps channel d of v (after the
    /// short conv) to channel d of Y (before out_proj):
    /// T = diag(x_0) (T_{h_{N-2}} diag(x_1)) ... (T_{h_0} diag(x_{N-1})), T_h = Toeplitz(h) + FilterBias on the diagonal.
    /// </summary>
    public static Tensor<double> Materialize(HyenaParameters p, Tensor<double> u)
    {
        ArgumentNullException.ThrowIfNull(u);
        if (u.Rank != 2)
            throw new ArgumentException($"u must have shape [L, D] (one sequence), got {Shapes.Format(u.Shape)}.", nameof(u));
        int length = u.Dim(0), d = p.ModelWidth;
        var inter = ForwardWithIntermediates(p, u.Reshape(1, length, d));
        var filters = SplitFilters(p, Filter(p, length), length);
        var m = Tensor<double>.Zeros(d, length, length);
        var next = new double[length * length];
        for (int c = 0; c < d; c++)
        {
            var mc = m.Data.AsSpan(c * length * length, length * length);
            for (int i = 0; i < length; i++) mc[i * length + i] = 1.0;
            for (int o = 0; o < p.Order - 1; o++)
            {
                var gate = inter.S.Data.AsSpan(((p.Order - 1 - o) * d + c) * length, length);
                var th = CausalConvolution.Materialize(filters[o].Slice(0, c, 1), FilterBias(p, o).Slice(0, c, 1), length);
                // next = T_h diag(gate) M, lower triangular: sum over r in [s, i].
                for (int i = 0; i < length; i++)
                    for (int s = 0; s <= i; s++)
                    {
                        double acc = 0.0;
                        for (int r = s; r <= i; r++) acc += th.Data[i * length + r] * gate[r] * mc[r * length + s];
                        next[i * length + s] = acc;
                    }
                next.CopyTo(mc);
            }
            var x0 = inter.S.Data.AsSpan(c * length, length);
            for (int i = 0; i < length; i++)
                for (int s = 0; s < length; s++) mc[i * length + s] *= x0[i];
        }
        return m;
    }

    // ------------------------------------------------------------------ autodiff composition

    /// <summary>The trainable parameters as variables (Deltas stay fixed, as safari registers them with lr 0).</summary>
    public sealed record Variables(HyenaParameters Template,
        Variable InW, Variable InB, Variable ShortW, Variable ShortB,
        Variable W0, Variable B0, Variable W1, Variable B1, Variable W2, Variable B2, Variable W3,
        Variable Freq, Variable FilterBias, Variable OutW, Variable OutB)
    {
        public static Variables From(HyenaParameters p)
        {
            ArgumentNullException.ThrowIfNull(p);
            p.Validate(nameof(p));
            int d = p.ModelWidth, inner = (p.Order + 1) * d, f = p.FilterWidth, df = p.FilterChannels;
            Variable V(double[] x, string name, params int[] shape) => Variable.Parameter(new Tensor<double>((double[])x.Clone(), shape), name);
            return new Variables(p,
                V(p.InW, "hyena.in_w", inner, d), V(p.InB, "hyena.in_b", inner),
                V(p.ShortW, "hyena.short_w", inner, 3), V(p.ShortB, "hyena.short_b", inner),
                V(p.W0, "hyena.w0", f, p.EmbeddingDim), V(p.B0, "hyena.b0", f), V(p.W1, "hyena.w1", f, f), V(p.B1, "hyena.b1", f),
                V(p.W2, "hyena.w2", f, f), V(p.B2, "hyena.b2", f), V(p.W3, "hyena.w3", df, f),
                V(p.Freq, "hyena.freq", f), V(p.FilterBias, "hyena.filter_bias", df),
                V(p.OutW, "hyena.out_w", d, d), V(p.OutB, "hyena.out_b", d));
        }

        public Variable[] All => [InW, InB, ShortW, ShortB, W0, B0, W1, B1, W2, B2, W3, Freq, FilterBias, OutW, OutB];
    }

    /// <summary>
    /// The operator as a composition of tape primitives: Linear, CausalConv1d (short conv), slices, gates,
    /// the filter MLP with a `sin` primitive and the shared frequency, and every long convolution as ONE
    /// `conv.causal` node with CausalConvolution's hand-written VJP. u [B, L, D].
    /// </summary>
    public static Variable Operator(Variable u, Variables p)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(p);
        var tp = p.Template;
        var (_, length) = CheckInput(tp, u.Value, 0);
        int d = tp.ModelWidth;
        var (z, t) = PositionalFeatures(tp.EmbeddingDim, tp.MaxLength);
        var window = Tensor<double>.Zeros(length, tp.FilterChannels);
        for (int k = 0; k < length; k++)
            for (int c = 0; c < tp.FilterChannels; c++) window.Data[k * tp.FilterChannels + c] = Math.Exp(-t[k] * Math.Abs(tp.Deltas[c]));
        Variable SinLinear(Variable x, Variable w, Variable b) => Ops.Sin(Ops.Mul(Ops.Add(Ops.MatMul(x, w, transB: true), b), p.Freq));
        var zl = Variable.Constant(z.Slice(0, 0, length));
        var a = SinLinear(SinLinear(SinLinear(zl, p.W0, p.B0), p.W1, p.B1), p.W2, p.B2);
        var h = Ops.Transpose(Ops.Mul(Ops.MatMul(a, p.W3, transB: true), Variable.Constant(window)));   // [Df, L]

        var s = Ops.CausalConv1d(Ops.Add(Ops.MatMul(u, p.InW, transB: true), p.InB), p.ShortW, p.ShortB);
        var sc = Ops.Permute(s, 0, 2, 1);                                                             // [B, (N+1)D, L]
        var v = Ops.Slice(sc, 1, tp.Order * d, d);
        for (int o = 0; o < tp.Order - 1; o++)
        {
            v = Ops.Mul(v, Ops.Slice(sc, 1, (tp.Order - 1 - o) * d, d));
            v = SsmOps.CausalConvolution(v, Ops.Slice(h, 0, o * d, d), Ops.Slice(p.FilterBias, 0, o * d, d));
        }
        var y = Ops.Permute(Ops.Mul(v, Ops.Slice(sc, 1, 0, d)), 0, 2, 1);
        return Ops.Add(Ops.MatMul(y, p.OutW, transB: true), p.OutB);
    }

    /// <summary>VJP of <see cref="Forward"/> for the cotangent dy [B, L, D] (through <see cref="Operator"/>).</summary>
    public static HyenaGradients Backward(HyenaParameters p, Tensor<double> u, Tensor<double> dy)
    {
        CheckInput(p, u, 0);
        Shapes.Same(dy, u.Shape, nameof(dy));
        var v = Variables.From(p);
        var x = Variable.Parameter(u.Clone());
        Operator(x, v).Backward(dy);
        double[] G(Variable w) => w.Grad?.Data ?? new double[w.Length];
        return new HyenaGradients(x.Grad!, G(v.InW), G(v.InB), G(v.ShortW), G(v.ShortB), G(v.W0), G(v.B0), G(v.W1), G(v.B1),
            G(v.W2), G(v.B2), G(v.W3), G(v.Freq), G(v.FilterBias), G(v.OutW), G(v.OutB));
    }

    // ------------------------------------------------------------------ shared pipeline

    /// <summary>
    /// in_proj then the short filter, channels first: u [B, L, D] times inW^T [D, inner] plus inB, transposed to
    /// [B, inner, L], <paramref name="shortConv"/> (without its bias), plus shortB (Hyena and the M2 mixer alike).
    /// </summary>
    internal static Tensor<double> ShortConvolved(Tensor<double> u, double[] inW, double[] inB, double[] shortB, Func<Tensor<double>, Tensor<double>> shortConv)
    {
        int batch = u.Dim(0), length = u.Dim(1), d = u.Dim(2), inner = inB.Length, rows = batch * length;
        var proj = new double[rows * inner];
        NaiveGemm.Multiply(false, true, rows, inner, d, 1.0, u.Data, d, inW, d, 0.0, proj, inner);
        var pc = Tensor<double>.Zeros(batch, inner, length);
        for (int b = 0; b < batch; b++)
            for (int l = 0; l < length; l++)
                for (int c = 0; c < inner; c++) pc.Data[(b * inner + c) * length + l] = proj[(b * length + l) * inner + c] + inB[c];
        var s = shortConv(pc);
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < inner; c++)
                for (int l = 0; l < length; l++) s.Data[(b * inner + c) * length + l] += shortB[c];
        return s;
    }

    /// <summary>out_proj of y [B, D, L] back to tokens: y transposed to [B, L, D] times outW^T plus outB (Hyena and the M2 mixer alike).</summary>
    internal static Tensor<double> OutProjected(Tensor<double> y, double[] outW, double[] outB)
    {
        int batch = y.Dim(0), d = y.Dim(1), length = y.Dim(2), rows = batch * length;
        var yTok = new double[rows * d];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < d; c++)
                for (int l = 0; l < length; l++) yTok[(b * length + l) * d + c] = y.Data[(b * d + c) * length + l];
        var output = new double[rows * d];
        NaiveGemm.Multiply(false, true, rows, d, d, 1.0, yTok, d, outW, d, 0.0, output, d);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < d; c++) output[r * d + c] += outB[c];
        return new Tensor<double>(output, batch, length, d);
    }

    private static HyenaIntermediates Run(HyenaParameters p, Tensor<double> u,
        Func<Tensor<double>, Tensor<double>> shortConv, Func<int, Tensor<double>, Tensor<double>> longConv)
    {
        int batch = u.Dim(0), length = u.Dim(1), d = p.ModelWidth, inner = (p.Order + 1) * d;
        var s = ShortConvolved(u, p.InW, p.InB, p.ShortB, shortConv);

        var v = Tensor<double>.Zeros(batch, d, length);
        for (int b = 0; b < batch; b++)
            s.Data.AsSpan((b * inner + p.Order * d) * length, d * length).CopyTo(v.Data.AsSpan(b * d * length));
        for (int o = 0; o < p.Order - 1; o++)
        {
            Gate(v, s, p.Order - 1 - o, d, inner, length);
            v = longConv(o, v);
        }
        Gate(v, s, 0, d, inner, length);
        return new HyenaIntermediates(s, v, OutProjected(v, p.OutW, p.OutB));
    }

    /// <summary>v *= x_i in place (x_i = s[:, i D:(i+1) D]).</summary>
    private static void Gate(Tensor<double> v, Tensor<double> s, int i, int d, int inner, int length)
    {
        int batch = v.Dim(0);
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < d * length; j++) v.Data[b * d * length + j] *= s.Data[(b * inner + i * d) * length + j];
    }

    /// <summary>The short conv as a causal kernel over lags: k[c, m] = ShortW[c, 2 - m] (ShortW[c, 2] hits lag 0).</summary>
    private static Tensor<double> ShortKernel(HyenaParameters p)
    {
        int inner = (p.Order + 1) * p.ModelWidth;
        var k = Tensor<double>.Zeros(inner, 3);
        for (int c = 0; c < inner; c++)
            for (int m = 0; m < 3; m++) k.Data[c * 3 + m] = p.ShortW[c * 3 + 2 - m];
        return k;
    }

    private static Tensor<double>[] SplitFilters(HyenaParameters p, Tensor<double> h, int length)
    {
        var filters = new Tensor<double>[p.Order - 1];
        for (int o = 0; o < filters.Length; o++) filters[o] = h.Slice(0, o * p.ModelWidth, p.ModelWidth).Reshape(p.ModelWidth, length);
        return filters;
    }

    private static Tensor<double> FilterBias(HyenaParameters p, int o) =>
        new(p.FilterBias.AsSpan(o * p.ModelWidth, p.ModelWidth).ToArray(), p.ModelWidth);

    private static (int Batch, int Length) CheckInput(HyenaParameters p, Tensor<double> u, long position)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        return CheckSequence(u, p.ModelWidth, p.MaxLength, position);
    }

    /// <summary>u [B, L, width] with B, L &gt;= 1 and position + L &lt;= maxLength (Hyena and the M2 mixer alike); returns (B, L).</summary>
    internal static (int Batch, int Length) CheckSequence(Tensor<double> u, int width, int maxLength, long position)
    {
        ArgumentNullException.ThrowIfNull(u);
        if (u.Rank != 3 || u.Dim(2) != width || u.Dim(0) < 1 || u.Dim(1) < 1)
            throw new ArgumentException($"u must have shape [B, L, {width}] with B, L >= 1, got {Shapes.Format(u.Shape)}.", nameof(u));
        if (position + u.Dim(1) > maxLength)
            throw new ArgumentException($"position + L must be <= l_max = {maxLength}, got {position} + {u.Dim(1)}.", nameof(u));
        return (u.Dim(0), u.Dim(1));
    }
}
