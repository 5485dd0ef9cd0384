// Monarch Mixer (M2) sequence mixers: a Hyena-like order-2 gated long convolution whose filters are
// Hyena's implicit filters. Two variants share this file's parameters and pipeline:
//   M2-BERT (non-causal, M2BertMixer): the bidirectional implicit long convolution of M2-BERT, a forward
//     and a reverse filter combined as [k, 0..0] + [0..0, reverse(k_rev)] (the `pad_flip` convention);
//   M2-GPT (causal, M2GptMixer): the same block with the causal Monarch convolution (CausalMonarch.cs,
//     the project's reference definition of causal M2, derived from the paper's text) in place of the
//     long convolution.
//
// Paper: Fu, Arora et al., "Monarch Mixer: A Simple Sub-Quadratic GEMM-Based Architecture"
// (arXiv:2310.12109), Sec. 3 (M2 layer: sequence mixing by Monarch long convolutions with gating),
// Sec. 4 (M2-BERT: bidirectional gated convolutions with Hyena filters, GLU dimension mixer), Sec. 5
// (M2-GPT: causal mixing). Conventions follow HazyResearch/m2 (bert/src/mm/monarch_mixer_sequence_mixer.py,
// hyena_utils.py); the implicit filter is Hyena's (Convolution/Hyena.cs, Hyena.Filter) with M2's
// frequency w = 10.
//
//   u [B, L, D] -> s = in_linear(u) [B, 3D, L] (channel-major), then the short depthwise causal conv
//     (3 taps, PyTorch Conv1d padding 2 and the first L outputs: ShortW[c, 2] hits the current token);
//   x1 = s[:, 0:D], x2 = s[:, D:2D], v = s[:, 2D:3D]   (M2's split order: x1 gates before, x2 after)
//   v = v * x1
//   y = LongConv(v) + FilterBias * v                   BERT: h * v (causal) + anti-causal with h_rev (pad_flip)
//                                                      GPT:  causal Monarch convolution of v with h
//   y = y * x2;  out = y OutW^T + OutB
// Filters: h[c, t] = (W3 a2(z_t))[c] exp(-t_norm |delta_c|), a0 = sin(Freq (W0 z_t + B0)), a1 = sin(Freq (W1 a0 + B1)),
// a2 = sin(Freq (W2 a1 + B2)), z the positional features on the l_max grid (Hyena.PositionalFeatures), first L
// samples for L < l_max. M2-BERT's reverse filter has its own MLP (R0..R3) and shares the Sin frequencies
// (one `act` module in M2) and the window.
//
// Glossary (code -> m2): InW, InB = in_linear; ShortW, ShortB = short_filter; W0..W3, B0..B2 = filter_fn.implicit_filter;
// R0..R3, RB0..RB2 = implicit_filter_rev; Freq = act.freq (init hyena_w = 10); Deltas = modulation.deltas (fixed);
// FilterBias = filter_fn.bias; OutW, OutB = out_linear. D = d_model, F = hyena_filter_order, E = hyena_emb_dim.
//
// Materialized operator (one sequence): T_c = diag(x2_c) T_long,c diag(x1_c) maps channel c of v (after the
// short conv) to y before out_linear, T_long = the long convolution's matrix with FilterBias on the diagonal.
// Decoding (GPT only): the short conv's last two projected tokens, and the input history of the causal
// Monarch convolution (CausalMonarchState): t values per channel after t tokens.
//
// Deliberate simplifications: no dropout, no residual_long_conv (M2-BERT's second filter on the raw input)
// and no hyena_training_additions (LayerNorm before the mixer); w_mod = 1; inputs longer than l_max are
// rejected; the naive tier runs float64 loops (Linear sums over the input index ascending, bias last); the
// fast tier is M2Mixer.Fast.cs.
using Reference.Autodiff;
using Reference.Core;
using Reference.Operators.Convolution;

namespace Reference.Operators.Monarch;

/// <summary>
/// Parameters of an M2 sequence mixer (float64 arrays, row-major, weights out x in). R0..R3, RB0..RB2 (the
/// reverse filter) are present for the bidirectional M2-BERT mixer and null for M2-GPT.
/// </summary>
public sealed record M2MixerParameters(
    int ModelWidth, int FilterWidth, int EmbeddingDim, int MaxLength,
    double[] InW, double[] InB, double[] ShortW, double[] ShortB,
    double[] W0, double[] B0, double[] W1, double[] B1, double[] W2, double[] B2, double[] W3,
    double[] Freq, double[] Deltas, double[] FilterBias, double[] OutW, double[] OutB,
    double[]? R0 = null, double[]? RB0 = null, double[]? R1 = null, double[]? RB1 = null, double[]? R2 = null, double[]? RB2 = null,
    double[]? R3 = null)
{
    /// <summary>Whether the reverse filter is present (M2-BERT).</summary>
    public bool Bidirectional => R0 is not null;

    /// <summary>
    /// Seeded init following M2: Linear layers and the short conv ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch defaults; fan_in = 3
    /// for the depthwise conv), Freq = w (M2's hyena_w = 10), FilterBias ~ N(0, 1), Deltas = linspace(ln(1e-2)/1.5, ln(1e-2)/0.3, D).
    /// Draw order: in W, b; short W, b; filter W0, B0, W1, B1, W2, B2, W3; (bidirectional) R0, RB0, R1, RB1, R2, RB2, R3; FilterBias;
    /// out W, b.
    /// </summary>
    public static M2MixerParameters Initialize(SplitMix64 rng, int modelWidth, int maxLength, bool bidirectional,
        int filterWidth = 16, int embeddingDim = 5, double frequency = 10.0)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfLessThan(modelWidth, 1, nameof(modelWidth));
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1, nameof(maxLength));
        ArgumentOutOfRangeException.ThrowIfLessThan(filterWidth, 1, nameof(filterWidth));
        if (embeddingDim < 3 || embeddingDim % 2 == 0)
            throw new ArgumentOutOfRangeException(nameof(embeddingDim), $"embeddingDim must be odd and >= 3, got {embeddingDim}.");
        int d = modelWidth, f = filterWidth, e = embeddingDim;
        double[] U(int count, int fanIn)
        {
            var a = new double[count];
            double bound = 1.0 / Math.Sqrt(fanIn);
            rng.FillUniform<double>(a, -bound, bound);
            return a;
        }
        var inW = U(3 * d * d, d); var inB = U(3 * d, d);
        var shortW = U(3 * d * 3, 3); var shortB = U(3 * d, 3);
        var w0 = U(f * e, e); var b0 = U(f, e); var w1 = U(f * f, f); var b1 = U(f, f); var w2 = U(f * f, f); var b2 = U(f, f); var w3 = U(d * f, f);
        double[]? r0 = null, rb0 = null, r1 = null, rb1 = null, r2 = null, rb2 = null, r3 = null;
        if (bidirectional)
        {
            r0 = U(f * e, e); rb0 = U(f, e); r1 = U(f * f, f); rb1 = U(f, f); r2 = U(f * f, f); rb2 = U(f, f); r3 = U(d * f, f);
        }
        var filterBias = new double[d];
        rng.FillNormal<double>(filterBias);
        var outW = U(d * d, d); var outB = U(d, d);
        var freq = Enumerable.Repeat(frequency, f).ToArray();
        double maxDecay = Math.Log(1e-2) / 0.3, minDecay = Math.Log(1e-2) / 1.5;
        var deltas = new double[d];
        for (int c = 0; c < d; c++) deltas[c] = d == 1 ? minDecay : minDecay + (maxDecay - minDecay) * c / (d - 1);
        return new M2MixerParameters(d, f, e, maxLength, inW, inB, shortW, shortB, w0, b0, w1, b1, w2, b2, w3, freq, deltas, filterBias,
            outW, outB, r0, rb0, r1, rb1, r2, rb2, r3);
    }

    /// <summary>The parameter arrays by name, in the descriptors' input order (the reverse filter only when present).</summary>
    public IEnumerable<(string Name, double[] Data, int[] Shape)> Arrays()
    {
        int d = ModelWidth, f = FilterWidth, e = EmbeddingDim;
        yield return ("in_w", InW, [3 * d, d]);
        yield return ("in_b", InB, [3 * d]);
        yield return ("short_w", ShortW, [3 * d, 3]);
        yield return ("short_b", ShortB, [3 * d]);
        yield return ("w0", W0, [f, e]);
        yield return ("b0", B0, [f]);
        yield return ("w1", W1, [f, f]);
        yield return ("b1", B1, [f]);
        yield return ("w2", W2, [f, f]);
        yield return ("b2", B2, [f]);
        yield return ("w3", W3, [d, f]);
        if (Bidirectional)
        {
            yield return ("r0", R0!, [f, e]);
            yield return ("rb0", RB0!, [f]);
            yield return ("r1", R1!, [f, f]);
            yield return ("rb1", RB1!, [f]);
            yield return ("r2", R2!, [f, f]);
            yield return ("rb2", RB2!, [f]);
            yield return ("r3", R3!, [d, f]);
        }
        yield return ("freq", Freq, [f]);
        yield return ("deltas", Deltas, [d]);
        yield return ("filter_bias", FilterBias, [d]);
        yield return ("out_w", OutW, [d, d]);
        yield return ("out_b", OutB, [d]);
    }

    /// <summary>Learned parameter count (Deltas are fixed).</summary>
    public static long Count(int d, int f, int e, bool bidirectional)
    {
        long filter = (long)f * e + f + 2L * (f * f + f) + (long)d * f;
        return 3L * d * d + 3 * d + 3L * d * 3 + 3 * d + filter * (bidirectional ? 2 : 1) + f + d + (long)d * d + d;
    }

    internal void Validate(string argument)
    {
        int d = ModelWidth, f = FilterWidth, e = EmbeddingDim;
        if (d < 1 || f < 1 || e < 3 || e % 2 == 0 || MaxLength < 1)
            throw new ArgumentException($"need D >= 1, F >= 1, odd E >= 3, l_max >= 1; got {d}, {f}, {e}, {MaxLength}.", argument);
        foreach (var (name, data, shape) in Arrays())
            if (data is null || data.Length != shape.Aggregate(1, (a, b) => a * b))
                throw new ArgumentException($"parameter {name} has {data?.Length ?? 0} elements, expected {Shapes.Format(shape)} (D = {d}, F = {f}, E = {e}).", argument);
        bool any = R0 is not null || RB0 is not null || R1 is not null || RB1 is not null || R2 is not null || RB2 is not null || R3 is not null;
        if (any && !Bidirectional)
            throw new ArgumentException("the reverse filter needs all of R0, RB0, R1, RB1, R2, RB2, R3 (M2-BERT) or none (M2-GPT).", argument);
    }
}

/// <summary>Intermediates of one forward pass: S [B, 3D, L] after the short conv, Y [B, D, L] before out_linear.</summary>
public sealed record M2MixerIntermediates(Tensor<double> S, Tensor<double> Y, Tensor<double> Output);

/// <summary>The trainable parameters of an M2 mixer as tape variables (Deltas stay fixed, as in M2).</summary>
public sealed record M2MixerVariables(M2MixerParameters Template,
    Variable InW, Variable InB, Variable ShortW, Variable ShortB,
    Variable W0, Variable B0, Variable W1, Variable B1, Variable W2, Variable B2, Variable W3,
    Variable Freq, Variable FilterBias, Variable OutW, Variable OutB,
    Variable? R0 = null, Variable? RB0 = null, Variable? R1 = null, Variable? RB1 = null, Variable? R2 = null, Variable? RB2 = null,
    Variable? R3 = null)
{
    public static M2MixerVariables From(M2MixerParameters p)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        var v = p.Arrays().Where(a => a.Name != "deltas")
            .ToDictionary(a => a.Name, a => Variable.Parameter(new Tensor<double>((double[])a.Data.Clone(), a.Shape), "m2." + a.Name));
        return new M2MixerVariables(p, v["in_w"], v["in_b"], v["short_w"], v["short_b"], v["w0"], v["b0"], v["w1"], v["b1"], v["w2"], v["b2"],
            v["w3"], v["freq"], v["filter_bias"], v["out_w"], v["out_b"],
            v.GetValueOrDefault("r0"), v.GetValueOrDefault("rb0"), v.GetValueOrDefault("r1"), v.GetValueOrDefault("rb1"),
            v.GetValueOrDefault("r2"), v.GetValueOrDefault("rb2"), v.GetValueOrDefault("r3"));
    }

    public Variable[] All => R0 is null
        ? [InW, InB, ShortW, ShortB, W0, B0, W1, B1, W2, B2, W3, Freq, FilterBias, OutW, OutB]
        : [InW, InB, ShortW, ShortB, W0, B0, W1, B1, W2, B2, W3, R0, RB0!, R1!, RB1!, R2!, RB2!, R3!, Freq, FilterBias, OutW, OutB];
}

/// <summary>What the two M2 mixers share: filters, the gated pipeline, the materialized operator and the tape composition.</summary>
public static class M2Mixing
{
    /// <summary>The forward filter h [D, L] (Hyena.Filter with the M2 filter's weights).</summary>
    public static Tensor<double> Filter(M2MixerParameters p, int length) => Hyena.Filter(AsHyena(p, p.W0, p.B0, p.W1, p.B1, p.W2, p.B2, p.W3), length);

    /// <summary>The reverse filter h_rev [D, L] of M2-BERT (its own MLP, the same Sin frequencies and window).</summary>
    public static Tensor<double> ReverseFilter(M2MixerParameters p, int length)
    {
        if (!p.Bidirectional) throw new ArgumentException("the parameters have no reverse filter (M2-GPT).", nameof(p));
        return Hyena.Filter(AsHyena(p, p.R0!, p.RB0!, p.R1!, p.RB1!, p.R2!, p.RB2!, p.R3!), length);
    }

    /// <summary>An order-2 Hyena parameter set whose filter MLP, frequencies and decays are the given M2 ones (its projections are unused).</summary>
    private static HyenaParameters AsHyena(M2MixerParameters p, double[] w0, double[] b0, double[] w1, double[] b1, double[] w2, double[] b2, double[] w3)
    {
        p.Validate(nameof(p));
        var template = HyenaParameters.Initialize(new SplitMix64(0), p.ModelWidth, p.MaxLength, 2, p.FilterWidth, p.EmbeddingDim);
        return template with { W0 = w0, B0 = b0, W1 = w1, B1 = b1, W2 = w2, B2 = b2, W3 = w3, Freq = p.Freq, Deltas = p.Deltas };
    }

    /// <summary>
    /// The pipeline of the file head on u [B, L, D]: projections, short conv (<paramref name="shortConv"/> on [B, 3D, L] without
    /// its bias), gates, <paramref name="longConv"/> on v [B, D, L] (it includes FilterBias v), gate, out_linear.
    /// </summary>
    internal static M2MixerIntermediates Run(M2MixerParameters p, Tensor<double> u,
        Func<Tensor<double>, Tensor<double>> shortConv, Func<Tensor<double>, Tensor<double>> longConv)
    {
        int batch = u.Dim(0), length = u.Dim(1), d = p.ModelWidth, inner = 3 * d;
        var s = Hyena.ShortConvolved(u, p.InW, p.InB, p.ShortB, shortConv);
        var v = Tensor<double>.Zeros(batch, d, length);
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < d * length; j++)
                v.Data[b * d * length + j] = s.Data[(b * inner + 2 * d) * length + j] * s.Data[b * inner * length + j];
        var y = longConv(v);
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < d * length; j++) y.Data[b * d * length + j] *= s.Data[(b * inner + d) * length + j];
        return new M2MixerIntermediates(s, y, Hyena.OutProjected(y, p.OutW, p.OutB));
    }

    /// <summary>The short conv as a causal kernel over lags: k[c, m] = ShortW[c, 2 - m].</summary>
    internal static Tensor<double> ShortKernel(M2MixerParameters p)
    {
        int inner = 3 * p.ModelWidth;
        var k = Tensor<double>.Zeros(inner, 3);
        for (int c = 0; c < inner; c++)
            for (int m = 0; m < 3; m++) k.Data[c * 3 + m] = p.ShortW[c * 3 + 2 - m];
        return k;
    }

    internal static Tensor<double> FilterBias(M2MixerParameters p) => new((double[])p.FilterBias.Clone(), p.ModelWidth);

    /// <summary>
    /// T [D, L, L] for one sequence: T_c = diag(x2_c) longMatrix[c] diag(x1_c) (v -> y before out_linear), with x1, x2 from S.
    /// </summary>
    internal static Tensor<double> GateMatrix(M2MixerParameters p, Tensor<double> s, Tensor<double> longMatrix, int length)
    {
        int d = p.ModelWidth;
        var t = longMatrix.Clone();
        for (int c = 0; c < d; c++)
        {
            var x1 = s.Data.AsSpan(c * length, length);
            var x2 = s.Data.AsSpan((d + c) * length, length);
            for (int i = 0; i < length; i++)
                for (int j = 0; j < length; j++) t.Data[(c * length + i) * length + j] *= x2[i] * x1[j];
        }
        return t;
    }

    /// <summary>out = (T v) OutW^T + OutB with v the last third of S (one sequence per batch row), T [B D, L, L].</summary>
    internal static Tensor<double> ThroughMatrix(M2MixerParameters p, Tensor<double> s, Tensor<double> t)
    {
        int b = s.Dim(0), l = s.Dim(2), d = p.ModelWidth, inner = 3 * d;
        var v = Tensor<double>.Zeros(b, d, l);
        for (int bi = 0; bi < b; bi++) s.Data.AsSpan((bi * inner + 2 * d) * l, d * l).CopyTo(v.Data.AsSpan(bi * d * l));
        var y = OperatorMatrices.Apply(t, v);
        var output = Tensor<double>.Zeros(b, l, d);
        for (int bi = 0; bi < b; bi++)
            for (int i = 0; i < l; i++)
                for (int j = 0; j < d; j++)
                {
                    double acc = 0.0;
                    for (int c = 0; c < d; c++) acc += y.Data[(bi * d + c) * l + i] * p.OutW[j * d + c];
                    output.Data[(bi * l + i) * d + j] = acc + p.OutB[j];
                }
        return output;
    }

    /// <summary>
    /// The mixer on the tape: Linear, CausalConv1d (short conv), slices and gates, the filter MLP with a `sin` primitive and the
    /// shared frequencies, and the long convolution as one node (<paramref name="longConv"/>(v [B, D, L], h [D, L], h_rev or null,
    /// FilterBias)). u [B, L, D].
    /// </summary>
    internal static Variable Operator(Variable u, M2MixerVariables p, Func<Variable, Variable, Variable?, Variable, Variable> longConv)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(p);
        var tp = p.Template;
        int length = u.Value.Dim(1), d = tp.ModelWidth;
        var (z, t) = Hyena.PositionalFeatures(tp.EmbeddingDim, tp.MaxLength);
        var window = Tensor<double>.Zeros(length, d);
        for (int k = 0; k < length; k++)
            for (int c = 0; c < d; c++) window.Data[k * d + c] = Math.Exp(-t[k] * Math.Abs(tp.Deltas[c]));
        var zl = Variable.Constant(z.Slice(0, 0, length));
        Variable SinLinear(Variable x, Variable w, Variable b) => Ops.Sin(Ops.Mul(Ops.Add(Ops.MatMul(x, w, transB: true), b), p.Freq));
        Variable FilterOf(Variable w0, Variable b0, Variable w1, Variable b1, Variable w2, Variable b2, Variable w3)
        {
            var a = SinLinear(SinLinear(SinLinear(zl, w0, b0), w1, b1), w2, b2);
            return Ops.Transpose(Ops.Mul(Ops.MatMul(a, w3, transB: true), Variable.Constant(window)));   // [D, L]
        }
        var h = FilterOf(p.W0, p.B0, p.W1, p.B1, p.W2, p.B2, p.W3);
        var hRev = p.R0 is null ? null : FilterOf(p.R0, p.RB0!, p.R1!, p.RB1!, p.R2!, p.RB2!, p.R3!);

        var s = Ops.CausalConv1d(Ops.Add(Ops.MatMul(u, p.InW, transB: true), p.InB), p.ShortW, p.ShortB);
        var sc = Ops.Permute(s, 0, 2, 1);                                                                 // [B, 3D, L]
        var v = Ops.Mul(Ops.Slice(sc, 1, 2 * d, d), Ops.Slice(sc, 1, 0, d));
        var y = Ops.Mul(longConv(v, h, hRev, p.FilterBias), Ops.Slice(sc, 1, d, d));
        return Ops.Add(Ops.MatMul(Ops.Permute(y, 0, 2, 1), p.OutW, transB: true), p.OutB);
    }

    internal static (int Batch, int Length) CheckInput(M2MixerParameters p, Tensor<double> u, long position = 0)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        return Hyena.CheckSequence(u, p.ModelWidth, p.MaxLength, position);
    }
}

/// <summary>The M2-BERT sequence mixer (non-causal; see the file head of M2Mixer.cs).</summary>
public static partial class M2BertMixer
{
    /// <summary>The mixer on u [B, L, D] (L &lt;= l_max) -> out [B, L, D].</summary>
    public static Tensor<double> Forward(M2MixerParameters p, Tensor<double> u) => ForwardWithIntermediates(p, u).Output;

    public static M2MixerIntermediates ForwardWithIntermediates(M2MixerParameters p, Tensor<double> u)
    {
        var (_, length) = M2Mixing.CheckInput(p, u);
        if (!p.Bidirectional) throw new ArgumentException("M2-BERT needs the reverse filter (R0..R3).", nameof(p));
        var h = M2Mixing.Filter(p, length);
        var hRev = M2Mixing.ReverseFilter(p, length);
        var kShort = M2Mixing.ShortKernel(p);
        var bias = M2Mixing.FilterBias(p);
        return M2Mixing.Run(p, u, x => CausalConvolution.Forward(x, kShort),
            v => CausalConvolution.ForwardBidirectional(v, h, hRev, bias, BidirectionalMode.PadFlip));
    }

    /// <summary>T [D, L, L] for one sequence u [L, D]: diag(x2) (Toeplitz(h) + anti-causal(h_rev, pad_flip) + FilterBias) diag(x1).</summary>
    public static Tensor<double> Materialize(M2MixerParameters p, Tensor<double> u)
    {
        ArgumentNullException.ThrowIfNull(u);
        if (u.Rank != 2) throw new ArgumentException($"u must have shape [L, D] (one sequence), got {Shapes.Format(u.Shape)}.", nameof(u));
        int length = u.Dim(0);
        var s = ForwardWithIntermediates(p, u.Reshape(1, length, p.ModelWidth)).S;
        var longMatrix = CausalConvolution.MaterializeBidirectional(M2Mixing.Filter(p, length), M2Mixing.ReverseFilter(p, length),
            M2Mixing.FilterBias(p), length, BidirectionalMode.PadFlip);
        return M2Mixing.GateMatrix(p, s.Reshape(3 * p.ModelWidth, length), longMatrix, length);
    }

    /// <summary>The mixer on the tape; the long convolution is one conv.bidirectional node (VJP CausalConvolution.BackwardBidirectional).</summary>
    public static Variable Operator(Variable u, M2MixerVariables p)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (p.R0 is null) throw new ArgumentException("M2-BERT needs the reverse filter variables.", nameof(p));
        M2Mixing.CheckInput(p.Template, u.Value);
        return M2Mixing.Operator(u, p, (v, h, hRev, bias) => ConvolutionOps.Bidirectional(v, h, hRev!, BidirectionalMode.PadFlip, bias));
    }
}

/// <summary>Decoding state of <see cref="M2GptMixer"/>: the short conv's history and the causal Monarch convolution's input history.</summary>
public sealed class M2GptState
{
    internal M2GptState(int batch, ConvolutionState shortConv, CausalMonarchState longConv)
    {
        Batch = batch;
        ShortConv = shortConv;
        LongConv = longConv;
    }

    public int Batch { get; }

    /// <summary>Tokens consumed so far.</summary>
    public long Position => ShortConv.Position;

    /// <summary>The last two projected tokens per inner channel (rows B 3D).</summary>
    public ConvolutionState ShortConv { get; }

    /// <summary>The input history of the causal Monarch convolution (rows B D) and its l_max kernel.</summary>
    public CausalMonarchState LongConv { get; }
}

/// <summary>The M2-GPT mixer (causal: the causal Monarch convolution as the long convolution; see the file head of M2Mixer.cs).</summary>
public static partial class M2GptMixer
{
    /// <summary>The mixer on u [B, L, D] (L &lt;= l_max &lt;= b^p) -> out [B, L, D].</summary>
    public static Tensor<double> Forward(M2MixerParameters p, CausalMonarchPlan plan, Tensor<double> u) => ForwardWithIntermediates(p, plan, u).Output;

    public static M2MixerIntermediates ForwardWithIntermediates(M2MixerParameters p, CausalMonarchPlan plan, Tensor<double> u)
    {
        var (_, length) = CheckPlan(p, plan, u);
        var h = M2Mixing.Filter(p, length);
        var kShort = M2Mixing.ShortKernel(p);
        var bias = M2Mixing.FilterBias(p);
        return M2Mixing.Run(p, u, x => CausalConvolution.Forward(x, kShort), v => CausalMonarch.Forward(plan, v, h, bias));
    }

    /// <summary>T [D, L, L] for one sequence u [L, D]: diag(x2) (T_M2(h) + FilterBias) diag(x1), lower triangular.</summary>
    public static Tensor<double> Materialize(M2MixerParameters p, CausalMonarchPlan plan, Tensor<double> u)
    {
        ArgumentNullException.ThrowIfNull(u);
        if (u.Rank != 2) throw new ArgumentException($"u must have shape [L, D] (one sequence), got {Shapes.Format(u.Shape)}.", nameof(u));
        int length = u.Dim(0);
        var s = ForwardWithIntermediates(p, plan, u.Reshape(1, length, p.ModelWidth)).S;
        var longMatrix = CausalMonarch.Materialize(plan, M2Mixing.Filter(p, length), M2Mixing.FilterBias(p), length);
        return M2Mixing.GateMatrix(p, s.Reshape(3 * p.ModelWidth, length), longMatrix, length);
    }

    /// <summary>An empty decoding state for B sequences (the l_max filter is computed once here).</summary>
    public static M2GptState InitialState(M2MixerParameters p, CausalMonarchPlan plan, int batch)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(plan);
        p.Validate(nameof(p));
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1, nameof(batch));
        if (p.MaxLength > plan.N) throw new ArgumentException($"the plan covers N = {plan.N} < l_max = {p.MaxLength} positions.", nameof(plan));
        int d = p.ModelWidth;
        var shortConv = CausalConvolution.InitialState(batch * 3 * d, 3 * d, 3);
        var longConv = CausalMonarch.InitialState(plan, batch * d, M2Mixing.Filter(p, p.MaxLength), M2Mixing.FilterBias(p));
        return new M2GptState(batch, shortConv, longConv);
    }

    /// <summary>A chunk u [B, Lc, D] with carried state; chunked = one-shot.</summary>
    public static Tensor<double> ForwardChunk(M2MixerParameters p, M2GptState state, Tensor<double> u)
    {
        ArgumentNullException.ThrowIfNull(state);
        var (batch, length) = M2Mixing.CheckInput(p, u, state.Position);
        if (batch != state.Batch) throw new ArgumentException($"state was made for batch {state.Batch}, the input has batch {batch}.", nameof(state));
        var kShort = M2Mixing.ShortKernel(p);
        return M2Mixing.Run(p, u, x => CausalConvolution.ForwardChunk(state.ShortConv, x, kShort), v =>
        {
            int rows = batch * p.ModelWidth;
            var y = Tensor<double>.Zeros(v.ShapeArray);
            var vt = new double[rows];
            for (int t = 0; t < length; t++)
            {
                for (int r = 0; r < rows; r++) vt[r] = v.Data[r * length + t];
                var yt = CausalMonarch.Step(state.LongConv, vt);
                for (int r = 0; r < rows; r++) y.Data[r * length + t] = yt[r];
            }
            return y;
        }).Output;
    }

    /// <summary>One token uT [B, D] -> out_t [B, D].</summary>
    public static Tensor<double> Step(M2MixerParameters p, M2GptState state, Tensor<double> uT)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(uT);
        if (uT.Rank != 2 || uT.Dim(1) != p.ModelWidth)
            throw new ArgumentException($"uT must have shape [B, {p.ModelWidth}], got {Shapes.Format(uT.Shape)}.", nameof(uT));
        return ForwardChunk(p, state, uT.Reshape(uT.Dim(0), 1, p.ModelWidth)).Reshape(uT.Dim(0), p.ModelWidth);
    }

    /// <summary>The mixer on the tape; the long convolution is one monarch.causal_conv node (VJP CausalMonarch.Backward).</summary>
    public static Variable Operator(Variable u, M2MixerVariables p, CausalMonarchPlan plan)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(u);
        CheckPlan(p.Template, plan, u.Value);
        return M2Mixing.Operator(u, p, (v, h, _, bias) => MonarchOps.CausalConvolution(plan, v, h, bias));
    }

    private static (int Batch, int Length) CheckPlan(M2MixerParameters p, CausalMonarchPlan plan, Tensor<double> u)
    {
        var r = M2Mixing.CheckInput(p, u);
        ArgumentNullException.ThrowIfNull(plan);
        if (r.Length > plan.N) throw new ArgumentException($"L = {r.Length} exceeds the plan's N = b^p = {plan.N}.", nameof(plan));
        return r;
    }
}
