// The Hyena implicit long filter with every option of safari's HyenaFilter, and the long convolution it
// drives: h = Window(t) . FFN(PositionalEncoding(t)), y = h * u + bias u.
//
// Paper: "Hyena Hierarchy" (Poli et al., arXiv:2302.10866), Sec. 3.3 (implicit filters: an FFN of positional
// features with sine activations, times an exponential-decay window), Appendix on the filter design. Options and
// constants follow safari's HyenaFilter / PositionalEmbedding / Sin / ExponentialModulation
// (HazyResearch/safari, src/models/sequence/hyena.py):
//   z_k [E]        positional features [t_k, cos(f_j w_k), -sin(f_j w_k)] on the l_max grid (Hyena.PositionalFeatures);
//                  or a given (trained: safari registers z with lr_pos_emb) embedding z [l_max, E]
//   a^0 = sin(freq . (W0 z_k + b0)); a^i = sin(freq . (W_i a^(i-1) + b_i)), i = 1..n_inner   (one shared Sin: one freq [F],
//                  initialized to w; num_inner_mlps = n_inner >= 0)
//   g_k = W_out a^(n_inner)  [D]  (no bias)
//   modulate:  h[c, k] = g_k[c] (exp(-t_k |delta_c|) + shift)       (ExponentialModulation; off: h = g)
//   deltas     linspace(ln(target) / slow_decay_pct, ln(target) / fast_decay_pct, D) unless given (modulation_lr > 0 trains them)
//   normalized: h[:, k] /= sum_c |h[c, k]|                            (safari normalizes over the channel axis of [1, L, D])
//   y[b, c, t] = sum_{j <= t} h[c, j] u[b, c, t - j] + bias[c] u[b, c, t]   (fftconv_ref, gelu off; bias off: 0 * bias)
// For L < l_max the filter is the first L samples of the l_max grid, as safari's pos_emb(L).
//
// Glossary (code -> safari):
//   FilterWidth F = `order` (the MLP width); EmbeddingDim E = emb_dim; MaxLength = seq_len; Channels D = d_model
//   W0 [F, E], B0 [F]; InnerW[i] [F, F], InnerB[i] [F]; WOut [D, F]; Freq [F]; Deltas [D]; Bias [D]; Z [l_max, E] or null
//
// Decoding form: the filter is arbitrary per position, so the convolution carries its input history
// (CausalConvolution's ConvolutionState, Lk = L). Backward pass: the composition on the tape (Operator): Linear layers,
// a `sin` node, the window exp(-t |delta|) through abs and exp nodes, the normalization through abs, sum and div, and the
// convolution as one conv.causal node (CausalConvolution.Backward).
using Reference.Autodiff;
using Reference.Core;
using Reference.Operators.StateSpace;

namespace Reference.Operators.Convolution;

/// <summary>safari HyenaFilter switches: modulate, shift, bias on/off, normalized.</summary>
public sealed record HyenaFilterOptions(bool Modulate = true, double Shift = 0.0, bool UseBias = true, bool Normalized = false)
{
    /// <summary>safari's defaults.</summary>
    public static HyenaFilterOptions Default { get; } = new();
}

/// <summary>HyenaFilter parameters (float64, row-major, weights out x in); Z null: the fixed positional features.</summary>
public sealed record HyenaFilterParameters(int Channels, int FilterWidth, int EmbeddingDim, int MaxLength,
    double[] W0, double[] B0, double[][] InnerW, double[][] InnerB, double[] WOut, double[] Freq, double[] Deltas, double[] Bias,
    double[]? Z = null)
{
    public HyenaFilterOptions Options { get; init; } = HyenaFilterOptions.Default;

    /// <summary>num_inner_mlps.</summary>
    public int InnerMlps => InnerW.Length;

    /// <summary>
    /// Seeded init as safari: Linear layers ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) in the order W0, b0, (W_i, b_i) per inner layer, W_out;
    /// bias ~ N(0, 1); freq = w; deltas from the decay percentages; the fixed positional features (Z null).
    /// </summary>
    public static HyenaFilterParameters Initialize(SplitMix64 rng, int channels, int maxLength, int filterWidth = 64, int embeddingDim = 3,
        int innerMlps = 2, double w = 1.0, double fastDecayPct = 0.3, double slowDecayPct = 1.5, double target = 1e-2)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1, nameof(channels));
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1, nameof(maxLength));
        ArgumentOutOfRangeException.ThrowIfLessThan(filterWidth, 1, nameof(filterWidth));
        ArgumentOutOfRangeException.ThrowIfNegative(innerMlps, nameof(innerMlps));
        if (embeddingDim < 3 || embeddingDim % 2 == 0)
            throw new ArgumentOutOfRangeException(nameof(embeddingDim), $"embeddingDim must be odd and >= 3, got {embeddingDim}.");
        double[] U(int count, int fanIn)
        {
            var a = new double[count];
            double bound = 1.0 / Math.Sqrt(fanIn);
            rng.FillUniform<double>(a, -bound, bound);
            return a;
        }
        int f = filterWidth;
        var w0 = U(f * embeddingDim, embeddingDim);
        var b0 = U(f, embeddingDim);
        var innerW = new double[innerMlps][];
        var innerB = new double[innerMlps][];
        for (int i = 0; i < innerMlps; i++)
        {
            innerW[i] = U(f * f, f);
            innerB[i] = U(f, f);
        }
        var wOut = U(channels * f, f);
        var bias = new double[channels];
        rng.FillNormal<double>(bias);
        return new HyenaFilterParameters(channels, f, embeddingDim, maxLength, w0, b0, innerW, innerB, wOut,
            Enumerable.Repeat(w, f).ToArray(), HyenaFilter.Deltas(channels, fastDecayPct, slowDecayPct, target), bias);
    }

    internal void Validate(string argument)
    {
        int f = FilterWidth, e = EmbeddingDim, d = Channels;
        if (d < 1 || f < 1 || e < 3 || e % 2 == 0 || MaxLength < 1)
            throw new ArgumentException($"need D >= 1, F >= 1, odd E >= 3, l_max >= 1; got {d}, {f}, {e}, {MaxLength}.", argument);
        if (W0.Length != f * e || B0.Length != f || InnerW.Length != InnerB.Length || InnerW.Any(w => w.Length != f * f)
            || InnerB.Any(b => b.Length != f) || WOut.Length != d * f || Freq.Length != f || Deltas.Length != d || Bias.Length != d
            || (Z is not null && Z.Length != MaxLength * e))
            throw new ArgumentException(
                $"parameter arrays do not match D = {d}, F = {f}, E = {e}, l_max = {MaxLength} (W0 [{f}, {e}], inner [{f}, {f}], W_out [{d}, {f}], Z [{MaxLength}, {e}]).",
                argument);
        if (!double.IsFinite(Options.Shift))
            throw new ArgumentException($"Options.Shift must be finite, got {Options.Shift}.", argument);
    }
}

public static partial class HyenaFilter
{
    // ------------------------------------------------------------------ the filter

    /// <summary>ExponentialModulation's decays: linspace(ln(target) / slowDecayPct, ln(target) / fastDecayPct, D) (torch.linspace, D = 1: the first).</summary>
    public static double[] Deltas(int channels, double fastDecayPct, double slowDecayPct, double target)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1, nameof(channels));
        if (!(fastDecayPct > 0) || !(slowDecayPct > 0) || !double.IsFinite(fastDecayPct) || !double.IsFinite(slowDecayPct))
            throw new ArgumentOutOfRangeException(nameof(fastDecayPct), $"the decay percentages must be finite and > 0, got fast {fastDecayPct}, slow {slowDecayPct}.");
        if (!(target > 0) || !double.IsFinite(target))
            throw new ArgumentOutOfRangeException(nameof(target), $"target must be finite and > 0, got {target}.");
        double maxDecay = Math.Log(target) / fastDecayPct, minDecay = Math.Log(target) / slowDecayPct;
        var deltas = new double[channels];
        for (int c = 0; c < channels; c++) deltas[c] = channels == 1 ? minDecay : minDecay + (maxDecay - minDecay) * c / (channels - 1);
        return deltas;
    }

    /// <summary>The filters h [D, L] (L &lt;= l_max), see the file head.</summary>
    public static Tensor<double> Filter(HyenaFilterParameters p, int length)
    {
        var (z, t) = Features(p, length);
        int f = p.FilterWidth, e = p.EmbeddingDim, d = p.Channels;
        var h = Tensor<double>.Zeros(d, length);
        var a = new double[f];
        var b = new double[f];
        for (int k = 0; k < length; k++)
        {
            SinLinear(z.AsSpan(k * e, e), p.W0, p.B0, p.Freq, a);
            for (int i = 0; i < p.InnerMlps; i++)
            {
                SinLinear(a, p.InnerW[i], p.InnerB[i], p.Freq, b);
                b.CopyTo(a, 0);
            }
            double norm = 0.0;
            for (int c = 0; c < d; c++)
            {
                double acc = 0.0;
                for (int j = 0; j < f; j++) acc += p.WOut[c * f + j] * a[j];
                if (p.Options.Modulate) acc *= Math.Exp(-t[k] * Math.Abs(p.Deltas[c])) + p.Options.Shift;
                h.Data[c * length + k] = acc;
                norm += Math.Abs(acc);
            }
            if (p.Options.Normalized)
                for (int c = 0; c < d; c++) h.Data[c * length + k] /= norm;
        }
        return h;
    }

    private static void SinLinear(ReadOnlySpan<double> x, double[] w, double[] bias, double[] freq, Span<double> y)
    {
        int n = x.Length;
        for (int o = 0; o < y.Length; o++)
        {
            double acc = 0.0;
            for (int j = 0; j < n; j++) acc += w[o * n + j] * x[j];
            y[o] = Math.Sin(freq[o] * (acc + bias[o]));
        }
    }

    /// <summary>The positional features z [l_max * E] (given or fixed) and t_k = k / (l_max - 1), checked against L.</summary>
    private static (double[] Z, double[] T) Features(HyenaFilterParameters p, int length)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        if (length < 1 || length > p.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(length), $"length must be in [1, l_max = {p.MaxLength}], got {length}.");
        var (z, t) = Hyena.PositionalFeatures(p.EmbeddingDim, p.MaxLength);
        return (p.Z ?? z.Data, t);
    }

    // ------------------------------------------------------------------ the long convolution (parallel form)

    /// <summary>HyenaFilter.forward: y = h * u + bias u for u [B, D, L] (bias off: no skip).</summary>
    public static Tensor<double> Forward(HyenaFilterParameters p, Tensor<double> u)
    {
        int length = CheckInput(p, u);
        return CausalConvolution.Forward(u, Filter(p, length), Skip(p));
    }

    private static Tensor<double>? Skip(HyenaFilterParameters p) => p.Options.UseBias ? new Tensor<double>((double[])p.Bias.Clone(), p.Channels) : null;

    // ------------------------------------------------------------------ decoding form

    /// <summary>Token by token: the convolution's input history (ConvolutionState with Lk = L) and the filter of length L.</summary>
    public static Tensor<double> Recurrent(HyenaFilterParameters p, Tensor<double> u)
    {
        int length = CheckInput(p, u), rows = u.Length / length;
        var h = Filter(p, length);
        var skip = Skip(p);
        var state = CausalConvolution.InitialState(rows, p.Channels, length);
        var y = Tensor<double>.Zeros(u.ShapeArray);
        var ut = new double[rows];
        for (int t = 0; t < length; t++)
        {
            for (int r = 0; r < rows; r++) ut[r] = u.Data[r * length + t];
            var yt = CausalConvolution.Step(state, ut, h, skip);
            for (int r = 0; r < rows; r++) y.Data[r * length + t] = yt[r];
        }
        return y;
    }

    // ------------------------------------------------------------------ operator matrix

    /// <summary>T [D, L, L] = Toeplitz(h[c]) + bias[c] I per channel (the map u[b, c] -> y[b, c]).</summary>
    public static Tensor<double> Materialize(HyenaFilterParameters p, int length) => CausalConvolution.Materialize(Filter(p, length), Skip(p), length);

    // ------------------------------------------------------------------ autodiff composition

    /// <summary>The trainable arrays as variables (Z and Deltas too: safari can train them with lr_pos_emb and modulation_lr).</summary>
    public sealed record Variables(HyenaFilterParameters Template, Variable W0, Variable B0, Variable[] InnerW, Variable[] InnerB,
        Variable WOut, Variable Freq, Variable Deltas, Variable Bias, Variable? Z)
    {
        public static Variables From(HyenaFilterParameters p)
        {
            ArgumentNullException.ThrowIfNull(p);
            p.Validate(nameof(p));
            int f = p.FilterWidth;
            Variable V(double[] x, string name, params int[] shape) => Variable.Parameter(new Tensor<double>((double[])x.Clone(), shape), name);
            return new Variables(p, V(p.W0, "hyena_filter.w0", f, p.EmbeddingDim), V(p.B0, "hyena_filter.b0", f),
                p.InnerW.Select((w, i) => V(w, $"hyena_filter.inner_w{i}", f, f)).ToArray(),
                p.InnerB.Select((b, i) => V(b, $"hyena_filter.inner_b{i}", f)).ToArray(),
                V(p.WOut, "hyena_filter.w_out", p.Channels, f), V(p.Freq, "hyena_filter.freq", f), V(p.Deltas, "hyena_filter.deltas", p.Channels),
                V(p.Bias, "hyena_filter.bias", p.Channels), p.Z is null ? null : V(p.Z, "hyena_filter.z", p.MaxLength, p.EmbeddingDim));
        }
    }

    /// <summary>The filter h [D, L] on the tape (see the file head for the nodes).</summary>
    public static Variable FilterOperator(Variables p, int length)
    {
        ArgumentNullException.ThrowIfNull(p);
        var tp = p.Template;
        var (z, t) = Features(tp, length);
        var zl = p.Z is null ? Variable.Constant(new Tensor<double>(z.AsSpan(0, length * tp.EmbeddingDim).ToArray(), length, tp.EmbeddingDim))
            : Ops.Slice(p.Z, 0, 0, length);
        Variable SinLinear(Variable x, Variable w, Variable b) => Ops.Sin(Ops.Mul(Ops.Add(Ops.MatMul(x, w, transB: true), b), p.Freq));
        var a = SinLinear(zl, p.W0, p.B0);
        for (int i = 0; i < p.InnerW.Length; i++) a = SinLinear(a, p.InnerW[i], p.InnerB[i]);
        var g = Ops.MatMul(a, p.WOut, transB: true);                                                    // [L, D]
        if (tp.Options.Modulate)
        {
            var minusT = Variable.Constant(new Tensor<double>(t.AsSpan(0, length).ToArray().Select(v => -v).ToArray(), length, 1));
            var window = Ops.AddScalar(Ops.Exp(Ops.Mul(minusT, Ops.Abs(p.Deltas))), tp.Options.Shift);  // [L, D]
            g = Ops.Mul(g, window);
        }
        if (tp.Options.Normalized) g = Ops.Div(g, Ops.Sum(Ops.Abs(g), 1, keepDim: true));
        return Ops.Transpose(g);
    }

    /// <summary>HyenaFilter.forward on the tape: u [B, D, L] -> one conv.causal node with the filter and the bias.</summary>
    public static Variable Operator(Variable u, Variables p)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(p);
        int length = CheckInput(p.Template, u.Value);
        return SsmOps.CausalConvolution(u, FilterOperator(p, length), p.Template.Options.UseBias ? p.Bias : null);
    }

    internal static int CheckInput<T>(HyenaFilterParameters p, Tensor<T> u) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        ArgumentNullException.ThrowIfNull(u);
        if (u.Rank < 2 || u.Dim(-2) != p.Channels || u.Dim(-1) < 1 || u.Length == 0)
            throw new ArgumentException($"u must have shape [.., D = {p.Channels}, L] with L >= 1, got {Shapes.Format(u.Shape)}.", nameof(u));
        if (u.Dim(-1) > p.MaxLength)
            throw new ArgumentException($"L must be <= l_max = {p.MaxLength}, got {u.Dim(-1)}.", nameof(u));
        return u.Dim(-1);
    }
}
