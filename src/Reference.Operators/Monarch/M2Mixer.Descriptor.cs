using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;

namespace Reference.Operators.Monarch;

/// <summary>What the registry entries of the two M2 mixers share: parameters, inputs, draws, forms.</summary>
internal static class M2MixerDescriptors
{
    public const string Rationale =
        "two projections, a 3-tap conv, a float64 filter MLP and one long convolution of up to L terms (or 2p 2b-point transforms): float64 " +
        "reorderings stay a few eps64 times L relative (1e-12 leaves a wide margin)";

    public static readonly string[] ForwardFilter = ["w0", "b0", "w1", "b1", "w2", "b2", "w3"];
    public static readonly string[] ReverseFilter = ["r0", "rb0", "r1", "rb1", "r2", "rb2", "r3"];

    public static OperatorParameter[] Parameters(bool causal) =>
    [
        new("batch", "int", "-", "batch B"),
        new("length", "int", "-", "length L (<= max_length)"),
        new("width", "int", "-", "model width D"),
        new("filter_width", "int", "-", "width F of the filter MLP (M2's hyena_filter_order)"),
        new("embedding_dim", "int", "-", "positional feature size E (odd, >= 3; M2's hyena_emb_dim)"),
        new("max_length", "int", "-", "l_max: the grid of the positional features (filters are its first L samples)"),
        .. causal
            ? new OperatorParameter[]
            {
                new("block", "int", "-", "block b of the causal Monarch convolution (b^digits >= max_length)"),
                new("digits", "int", "-", "digits p of the causal Monarch convolution"),
            }
            : [],
    ];

    public static OperatorTensor[] Inputs(bool bidirectional) =>
    [
        new("in_w", "[3D, D]", "in_linear weight (out x in)"),
        new("in_b", "[3D]", "in_linear bias"),
        new("short_w", "[3D, 3]", "short depthwise conv weight; tap 2 hits the current token"),
        new("short_b", "[3D]", "short conv bias"),
        new("w0", "[F, E]", "filter MLP Linear(E, F) weight"),
        new("b0", "[F]", "its bias"),
        new("w1", "[F, F]", "filter MLP Linear(F, F) weight"),
        new("b1", "[F]", "its bias"),
        new("w2", "[F, F]", "filter MLP Linear(F, F) weight"),
        new("b2", "[F]", "its bias"),
        new("w3", "[D, F]", "filter MLP output Linear(F, D), no bias"),
        .. bidirectional
            ? new OperatorTensor[]
            {
                new("r0", "[F, E]", "reverse filter MLP Linear(E, F) weight (implicit_filter_rev)"),
                new("rb0", "[F]", "its bias"),
                new("r1", "[F, F]", "reverse filter Linear(F, F) weight"),
                new("rb1", "[F]", "its bias"),
                new("r2", "[F, F]", "reverse filter Linear(F, F) weight"),
                new("rb2", "[F]", "its bias"),
                new("r3", "[D, F]", "reverse filter output Linear(F, D), no bias"),
            }
            : [],
        new("freq", "[F]", "the Sin frequencies shared by every Sin layer (of both filters): sin(freq * x)"),
        new("deltas", "[D]", "exponential-window decays (fixed, not trained)"),
        new("filter_bias", "[D]", "the skip of the long convolution (filter_fn.bias)"),
        new("out_w", "[D, D]", "out_linear weight"),
        new("out_b", "[D]", "out_linear bias"),
        new("u", "[B, L, D]", "input, token-major"),
    ];

    public static string[] Differentiable(bool bidirectional) =>
        ["u", "in_w", "in_b", "short_w", "short_b", .. ForwardFilter, .. bidirectional ? ReverseFilter : [], "freq", "filter_bias", "out_w", "out_b"];

    public static M2MixerParameters ParametersOf(JsonObject p, NamedArrays x)
    {
        double[] A(string name) => x[name].ToDoubles();
        double[]? R(string name) => x.ContainsKey(name) ? x[name].ToDoubles() : null;
        return new M2MixerParameters(p.Int("width"), p.Int("filter_width"), p.Int("embedding_dim"), p.Int("max_length"),
            A("in_w"), A("in_b"), A("short_w"), A("short_b"), A("w0"), A("b0"), A("w1"), A("b1"), A("w2"), A("b2"), A("w3"),
            A("freq"), A("deltas"), A("filter_bias"), A("out_w"), A("out_b"),
            R("r0"), R("rb0"), R("r1"), R("rb1"), R("r2"), R("rb2"), R("r3"));
    }

    /// <summary>The adapter's variables from the descriptor's differentiable inputs v (order of <see cref="Differentiable"/>; v[0] is u).</summary>
    public static M2MixerVariables VariablesOf(M2MixerParameters tp, Variable[] v)
    {
        int d = tp.ModelWidth, f = tp.FilterWidth, e = tp.EmbeddingDim;
        bool bi = tp.Bidirectional;
        int o = bi ? 7 : 0;
        return new M2MixerVariables(tp,
            Ops.Reshape(v[1], 3 * d, d), v[2], Ops.Reshape(v[3], 3 * d, 3), v[4],
            Ops.Reshape(v[5], f, e), v[6], Ops.Reshape(v[7], f, f), v[8], Ops.Reshape(v[9], f, f), v[10], Ops.Reshape(v[11], d, f),
            v[12 + o], v[13 + o], Ops.Reshape(v[14 + o], d, d), v[15 + o],
            bi ? Ops.Reshape(v[12], f, e) : null, bi ? v[13] : null, bi ? Ops.Reshape(v[14], f, f) : null, bi ? v[15] : null,
            bi ? Ops.Reshape(v[16], f, f) : null, bi ? v[17] : null, bi ? Ops.Reshape(v[18], d, f) : null);
    }

    public static NamedArrays Arrays(M2MixerParameters mp, bool roundToF32)
    {
        var arrays = new NamedArrays();
        foreach (var (name, data, shape) in mp.Arrays())
            arrays[name] = roundToF32 ? CaseInputs.RoundedF32(data, shape) : NpyArray.Of(data, shape);
        return arrays;
    }

    public static NamedArrays Draw(JsonObject p, SplitMix64 rng, bool bidirectional)
    {
        var mp = M2MixerParameters.Initialize(rng, p.Int("width"), p.Int("max_length"), bidirectional, p.Int("filter_width"), p.Int("embedding_dim"));
        var arrays = Arrays(mp, roundToF32: true);
        arrays["u"] = CaseInputs.Normal(rng, p.Int("batch"), p.Int("length"), p.Int("width"));
        return arrays;
    }

    public static string Distribution(bool bidirectional) =>
        $"parameters by M2MixerParameters.Initialize(SplitMix64(seed), D, l_max, bidirectional: {(bidirectional ? "true" : "false")}, F, E, w = 10) " +
        "(PyTorch default uniform Linear and Conv1d init, N(0, 1) filter bias, in the draw order of its doc comment), each rounded to float32; " +
        "then u " + CaseInputs.NormalF32;

    /// <summary>T per (sequence, channel), [B D, L, L].</summary>
    public static Tensor<double> MaterializeRows(Tensor<double> u, int d, Func<Tensor<double>, Tensor<double>> perSequence)
    {
        int b = u.Dim(0), l = u.Dim(1);
        var t = Tensor<double>.Zeros(b * d, l, l);
        for (int bi = 0; bi < b; bi++) perSequence(u.Slice(0, bi, 1).Reshape(l, d)).Data.CopyTo(t.Data, bi * d * l * l);
        return t;
    }

    public static OperatorSample Sample(SampleOptions o, bool causal)
    {
        // Catalog settings: F = 16 (M2's default hyena_filter_order), E = 5 (M2-BERT's configs), l_max = L, w = 10; u ~ N(0, 1) [L, C], unrounded.
        var rng = new SplitMix64(o.Seed);
        var mp = M2MixerParameters.Initialize(rng, o.Channels, o.Length, bidirectional: !causal);
        var u = rng.NormalTensor<double>(0, 1, o.Length, o.Channels);
        var arrays = Arrays(mp, roundToF32: false);
        arrays["u"] = NpyArray.FromTensor(u.Reshape(1, o.Length, o.Channels));
        var p = Params.Of(("batch", 1), ("length", o.Length), ("width", o.Channels), ("filter_width", mp.FilterWidth),
            ("embedding_dim", mp.EmbeddingDim), ("max_length", mp.MaxLength));
        if (causal)
        {
            p["block"] = CausalMonarchPlan.BlockFor(o.Length, 2);
            p["digits"] = 2;
        }
        return new OperatorSample(p, arrays);
    }

    public static ConformanceCase Case(string id, ulong seed, int batch, int length, int width, int filterWidth, int embeddingDim, int maxLength,
        (int B, int P)? plan, params string[] tags)
    {
        var p = Params.Of(("batch", batch), ("length", length), ("width", width), ("filter_width", filterWidth), ("embedding_dim", embeddingDim),
            ("max_length", maxLength));
        if (plan is { } bp)
        {
            p["block"] = bp.B;
            p["digits"] = bp.P;
        }
        return new(id, seed, p, $"B = {batch}, L = {length} (l_max = {maxLength}), D = {width}, F = {filterWidth}, E = {embeddingDim}" +
            (plan is { } q ? $", b = {q.B}, p = {q.P}" : ""), tags);
    }
}

public static partial class M2BertMixer
{
    /// <summary>The registry entry of the M2-BERT sequence mixer ("monarch.m2_bert").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "monarch.m2_bert",
        Version = 1,
        Title = "M2-BERT sequence mixer (bidirectional gated implicit long convolution)",
        Paper = "Fu, Arora et al., Monarch Mixer (arXiv:2310.12109), Sec. 3-4 (M2-BERT sequence mixing); conventions of HazyResearch/m2 " +
            "MonarchMixerSequenceMixing and HyenaFilter (bidirectional, w = 10)",
        File = "src/Reference.Operators/Monarch/M2Mixer.cs",
        Summary = "out [B, L, D] = out_linear(x2 * (h * v + anti-causal(h_rev) * v + filter_bias v)), v = v0 * x1, (x1, x2, v0) = 3-tap causal conv " +
            "of in_linear(u) split in thirds; h, h_rev implicit Hyena filters (shared Sin frequencies), pad_flip convention",
        Causal = false,
        Parameters = M2MixerDescriptors.Parameters(causal: false),
        Inputs = M2MixerDescriptors.Inputs(bidirectional: true),
        Outputs = [new("y", "[B, L, D]", "the mixer's output after out_linear")],
        NaiveEntry = "M2BertMixer.Forward(p, u)",
        Naive = (p, x) => NamedTensors.Outputs(("y", Forward(M2MixerDescriptors.ParametersOf(p, x), x.Double("u")))),
        FastEntry = "M2BertMixer.ForwardFast<T>(p, u) (float32, float64; FastGemm projections, CausalConvolution.ForwardFast for both directions)",
        Fast = (p, x, precision) => precision == Precision.Float32
            ? NamedTensors.Outputs(("y", ForwardFast(M2MixerDescriptors.ParametersOf(p, x), x.As<float>("u"))))
            : NamedTensors.Outputs(("y", ForwardFast(M2MixerDescriptors.ParametersOf(p, x), x.As<double>("u")))),
        Forms =
        [
            new("materialized T v, then out_linear", "M2BertMixer.Materialize(p, u[b]) [D, L, L] applied to v (the last third after the short conv), then out_linear",
                (p, x) =>
                {
                    var mp = M2MixerDescriptors.ParametersOf(p, x);
                    var u = x.Double("u");
                    return NamedTensors.Outputs(("y", M2Mixing.ThroughMatrix(mp, ForwardWithIntermediates(mp, u).S,
                        M2MixerDescriptors.MaterializeRows(u, mp.ModelWidth, us => Materialize(mp, us)))));
                }, "y"),
            new("tape composition", "M2BertMixer.Operator(u, M2MixerVariables.From(p)) (the autodiff graph's forward)",
                (p, x) =>
                {
                    var mp = M2MixerDescriptors.ParametersOf(p, x);
                    using var _ = Tape.NoGrad();
                    return NamedTensors.Outputs(("y", Operator(Variable.Constant(x.Double("u")), M2MixerVariables.From(mp)).Value));
                }, "y"),
        ],
        MaterializeEntry = "M2BertMixer.Materialize(p, u[b]) [D, L, L] per sequence (two-sided: diag(x2) T_bidirectional diag(x1), v -> y before out_linear)",
        Materialize = (p, x) =>
        {
            var mp = M2MixerDescriptors.ParametersOf(p, x);
            return M2MixerDescriptors.MaterializeRows(x.Double("u"), mp.ModelWidth, us => Materialize(mp, us));
        },
        ParameterCount = p => M2MixerParameters.Count(p.Int("width"), p.Int("filter_width"), p.Int("embedding_dim"), bidirectional: true),
        AutodiffEntry = "M2BertMixer.Operator(u, M2MixerVariables) (tape composition; the long convolution is one conv.bidirectional node, " +
            "VJP CausalConvolution.BackwardBidirectional)",
        Differentiable = M2MixerDescriptors.Differentiable(bidirectional: true),
        Autodiff = (p, x, v) => Operator(v[0], M2MixerDescriptors.VariablesOf(M2MixerDescriptors.ParametersOf(p, x), v)),
        AccumulationOrder = "Linear: sum over the input index ascending, bias last; short conv as conv.causal; filters as Hyena.Filter (float64); " +
            "long convolution as conv.bidirectional (pad_flip: causal lags ascending, skip, then anti-causal lags ascending)",
        Distribution = M2MixerDescriptors.Distribution(bidirectional: true),
        Cases =
        [
            M2MixerDescriptors.Case("l1_1x1x1", 1431, 1, 1, 1, 4, 3, 4, null, "edge"),
            M2MixerDescriptors.Case("d3_2x9x3_f8", 1432, 2, 9, 3, 8, 3, 13, null),
            M2MixerDescriptors.Case("d2_1x16x2_f8_e5", 1433, 1, 16, 2, 8, 5, 16, null),
        ],
        DrawInputs = (p, rng) => M2MixerDescriptors.Draw(p, rng, bidirectional: true),
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5, M2MixerDescriptors.Rationale),
        Without = new Dictionary<string, string>
        {
            ["realize"] = "non-causal: the anti-causal filter sees the future, so no recurrence (diagonal or otherwise) produces it left to right",
            ["step"] = "non-causal (M2-BERT is an encoder mixer): output t depends on inputs after t, there is no decoding form",
            ["ess"] = "ESS measures the state of a causal map at each split; this mixer is two-sided (its causal sibling is monarch.m2_gpt)",
        },
    };
}

public static partial class M2GptMixer
{
    /// <summary>The registry entry of the M2-GPT mixer ("monarch.m2_gpt").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "monarch.m2_gpt",
        Version = 1,
        Title = "M2-GPT mixer (gated causal Monarch convolution with an implicit filter)",
        Paper = "Fu, Arora et al., Monarch Mixer (arXiv:2310.12109), Sec. 5 (causal M2); the causal map is this project's reference definition " +
            "derived from the paper's text (monarch.causal_conv, shared/spec/operators.md), the block around it M2's sequence mixer",
        File = "src/Reference.Operators/Monarch/M2Mixer.cs",
        Summary = "out [B, L, D] = out_linear(x2 * (CausalM2(h, v) + filter_bias v)), v = v0 * x1, (x1, x2, v0) = 3-tap causal conv of in_linear(u); " +
            "h the implicit Hyena filter, CausalM2 the causal Monarch convolution with b^p >= l_max (monomial basis, 2b roots of unity)",
        Parameters = M2MixerDescriptors.Parameters(causal: true),
        Inputs = M2MixerDescriptors.Inputs(bidirectional: false),
        Outputs = [new("y", "[B, L, D]", "the mixer's output after out_linear")],
        NaiveEntry = "M2GptMixer.Forward(p, CausalMonarchPlan.Create(b, p), u)",
        Naive = (p, x) => NamedTensors.Outputs(("y", Forward(M2MixerDescriptors.ParametersOf(p, x), PlanOf(p), x.Double("u")))),
        FastEntry = "M2GptMixer.ForwardFast<T>(p, CausalMonarch.Prepare<T>(plan), u) (float32, float64; FastGemm projections, " +
            "CausalMonarch.ForwardFast)",
        Fast = (p, x, precision) => precision == Precision.Float32
            ? NamedTensors.Outputs(("y", ForwardFast(M2MixerDescriptors.ParametersOf(p, x), CausalMonarch.Prepare<float>(PlanOf(p)), x.As<float>("u"))))
            : NamedTensors.Outputs(("y", ForwardFast(M2MixerDescriptors.ParametersOf(p, x), CausalMonarch.Prepare<double>(PlanOf(p)), x.As<double>("u")))),
        Forms =
        [
            new("recurrent", "M2GptMixer.InitialState(p, plan, B), then M2GptMixer.Step(p, state, u_t) per token",
                (p, x) => NamedTensors.Outputs(("y", Recurrent(p, x, 1))), "y"),
            new("chunked (C = 4)", "M2GptMixer.InitialState, then M2GptMixer.ForwardChunk(p, state, u[:, t0:t0 + 4]) per chunk",
                (p, x) => NamedTensors.Outputs(("y", Recurrent(p, x, 4))), "y"),
            new("materialized T v, then out_linear", "M2GptMixer.Materialize(p, plan, u[b]) [D, L, L] applied to v, then out_linear",
                (p, x) =>
                {
                    var mp = M2MixerDescriptors.ParametersOf(p, x);
                    var u = x.Double("u");
                    return NamedTensors.Outputs(("y", M2Mixing.ThroughMatrix(mp, ForwardWithIntermediates(mp, PlanOf(p), u).S, MaterializeRows(p, x))));
                }, "y"),
            new("tape composition", "M2GptMixer.Operator(u, M2MixerVariables.From(p), plan) (the autodiff graph's forward)",
                (p, x) =>
                {
                    var mp = M2MixerDescriptors.ParametersOf(p, x);
                    using var _ = Tape.NoGrad();
                    return NamedTensors.Outputs(("y", Operator(Variable.Constant(x.Double("u")), M2MixerVariables.From(mp), PlanOf(p)).Value));
                }, "y"),
        ],
        MaterializeEntry = "M2GptMixer.Materialize(p, plan, u[b]) [D, L, L] per sequence: diag(x2) (T_M2(h) + filter_bias) diag(x1), lower triangular",
        Materialize = MaterializeRows,
        StepEntry = "M2GptMixer.Step(p, state, u_t) (InitialState(p, plan, B); ForwardChunk for chunks)",
        State = "M2GptState: the short conv's last two projected tokens [B 3D, 2] (ConvolutionState) and the causal Monarch convolution's " +
            "input history [B D, b^p] with the l_max filter (CausalMonarchState)",
        TotalStateSizeFormula = "s at split s per channel (the input history of the causal Monarch convolution; docs/monarch.md)",
        TotalStateSize = (_, s, _) => s,
        ParameterCount = p => M2MixerParameters.Count(p.Int("width"), p.Int("filter_width"), p.Int("embedding_dim"), bidirectional: false),
        CacheSizeFormula = "6 D (short conv history) + D L (the input history of the causal Monarch convolution)",
        CacheSize = (p, l) => 6L * p.Int("width") + (long)p.Int("width") * l,
        Decoder = (p, inputs, b) =>
        {
            var mp = M2MixerDescriptors.ParametersOf(p, inputs);
            var state = InitialState(mp, PlanOf(p), b);
            int d = mp.ModelWidth;
            return new OperatorDecoder(b, x => Step(mp, state, x["u"].Reshape(b, d)).Reshape(b, 1, d),
                () => (long)b * (6L * d + (long)d * state.Position));
        },
        Sample = o => M2MixerDescriptors.Sample(o, causal: true),
        AutodiffEntry = "M2GptMixer.Operator(u, M2MixerVariables, plan) (tape composition; the long convolution is one monarch.causal_conv node, " +
            "VJP CausalMonarch.Backward)",
        Differentiable = M2MixerDescriptors.Differentiable(bidirectional: false),
        Autodiff = (p, x, v) => Operator(v[0], M2MixerDescriptors.VariablesOf(M2MixerDescriptors.ParametersOf(p, x), v), PlanOf(p)),
        AccumulationOrder = "Linear: sum over the input index ascending, bias last; short conv as conv.causal; filter as Hyena.Filter (float64); " +
            "the long convolution as monarch.causal_conv (complex128 passes over the digits), skip last",
        Distribution = M2MixerDescriptors.Distribution(bidirectional: false),
        Cases =
        [
            M2MixerDescriptors.Case("l1_1x1x1_b2_p1", 1441, 1, 1, 1, 4, 3, 2, (2, 1), "edge"),
            M2MixerDescriptors.Case("d3_2x9x3_f8_b4_p2", 1442, 2, 9, 3, 8, 3, 13, (4, 2)),
            M2MixerDescriptors.Case("d2_1x16x2_f8_e5_b2_p4", 1443, 1, 16, 2, 8, 5, 16, (2, 4)),
        ],
        DrawInputs = (p, rng) => M2MixerDescriptors.Draw(p, rng, bidirectional: false),
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5, M2MixerDescriptors.Rationale),
        Without = new Dictionary<string, string>
        {
            ["realize"] = "no diagonal realization: the causal Monarch convolution is not a sum of exponentials (monarch.causal_conv) and the " +
                "gates make T input-dependent; decoding carries the input history",
        },
    };

    private static CausalMonarchPlan PlanOf(JsonObject p)
    {
        int b = p.Int("block"), digits = p.Int("digits");
        if (Math.Pow(b, digits) < p.Int("max_length"))
            throw new ArgumentException($"params: block^digits = {b}^{digits} must be >= max_length = {p.Int("max_length")}.", "params");
        return CausalMonarch.PlanOf(b, digits);
    }

    private static Tensor<double> MaterializeRows(JsonObject p, NamedArrays x)
    {
        var mp = M2MixerDescriptors.ParametersOf(p, x);
        var plan = PlanOf(p);
        return M2MixerDescriptors.MaterializeRows(x.Double("u"), mp.ModelWidth, us => Materialize(mp, plan, us));
    }

    /// <summary>The decoding form in chunks of <paramref name="chunk"/> tokens (1 = Step per token).</summary>
    private static Tensor<double> Recurrent(JsonObject p, NamedArrays x, int chunk)
    {
        var mp = M2MixerDescriptors.ParametersOf(p, x);
        var u = x.Double("u");
        int b = u.Dim(0), l = u.Dim(1), d = u.Dim(2);
        var state = InitialState(mp, PlanOf(p), b);
        var y = Tensor<double>.Zeros(b, l, d);
        for (int t0 = 0; t0 < l; t0 += chunk)
        {
            int n = Math.Min(chunk, l - t0);
            var part = chunk == 1
                ? Step(mp, state, u.Slice(1, t0, 1).Reshape(b, d)).Reshape(b, 1, d)
                : ForwardChunk(mp, state, u.Slice(1, t0, n));
            for (int bi = 0; bi < b; bi++) part.Data.AsSpan(bi * n * d, n * d).CopyTo(y.Data.AsSpan((bi * l + t0) * d));
        }
        return y;
    }
}
