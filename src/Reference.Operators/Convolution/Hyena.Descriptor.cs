using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;

namespace Reference.Operators.Convolution;

public static partial class Hyena
{
    private const string Rationale =
        "direct sums of up to L products after a float64 kernel pipeline; float64 reorderings stay a few eps64 times L relative " +
        "(1e-12 leaves a wide margin); float32 ~1e-5 (the conventions' bound)";

    /// <summary>The registry entry of the Hyena operator ("conv.hyena").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "conv.hyena",
        Version = 1,
        Title = "Hyena operator",
        Paper = "Poli et al., Hyena Hierarchy: Towards Larger Convolutional Language Models (arXiv:2302.10866), Sec. 3.2 (Definition 3.1, " +
            "the order-N recurrence), Sec. 3.3 (implicit filters), Algorithms 1-3; constants of safari's HyenaOperator",
        File = "src/Reference.Operators/Convolution/Hyena.cs",
        Summary = "out [B, L, D] = Hyena order-N_o operator (safari HyenaOperator: in_proj, 3-tap causal conv, implicit Sin-MLP filters " +
            "with exponential window, gates, out_proj); every parameter is an input",
        Parameters =
        [
            new("batch", "int", "-", "batch B"),
            new("length", "int", "-", "length L (<= max_length)"),
            new("width", "int", "-", "model width D"),
            new("order", "int", "-", "order N_o of the recurrence (N_o gates, N_o - 1 long filters)"),
            new("filter_width", "int", "-", "width F of the filter MLP"),
            new("embedding_dim", "int", "-", "positional feature size E (odd, >= 3)"),
            new("max_length", "int", "-", "l_max: the grid of the positional features (filters are its first L samples)"),
        ],
        Inputs =
        [
            new("in_w", "[(N_o + 1) D D]", "in_proj weight, row-major [(N_o + 1) D, D]"),
            new("in_b", "[(N_o + 1) D]", "in_proj bias"),
            new("short_w", "[(N_o + 1) D 3]", "short depthwise conv weight, row-major [(N_o + 1) D, 3]; tap 2 hits the current token"),
            new("short_b", "[(N_o + 1) D]", "short conv bias"),
            new("w0", "[F E]", "filter MLP Linear(E, F) weight, row-major [F, E]"),
            new("b0", "[F]", "its bias"),
            new("w1", "[F F]", "filter MLP Linear(F, F) weight"),
            new("b1", "[F]", "its bias"),
            new("w2", "[F F]", "filter MLP Linear(F, F) weight"),
            new("b2", "[F]", "its bias"),
            new("w3", "[(N_o - 1) D F]", "filter MLP output Linear(F, (N_o - 1) D), no bias, row-major [(N_o - 1) D, F]"),
            new("freq", "[F]", "the frequency vector shared by every Sin layer: sin(freq * x)"),
            new("deltas", "[(N_o - 1) D]", "exponential-window decays (fixed, not trained)"),
            new("filter_bias", "[(N_o - 1) D]", "the skip D of each long convolution"),
            new("out_w", "[D D]", "out_proj weight, row-major [D, D]"),
            new("out_b", "[D]", "out_proj bias"),
            new("u", "[B, L, D]", "input, token-major"),
        ],
        Outputs = [new("y", "[B, L, D]", "the operator's output after out_proj")],
        NaiveEntry = "Hyena.Forward(p, u)",
        Naive = (p, x) => NamedTensors.Outputs(("y", Forward(ParametersOf(p, x), x.Double("u")))),
        FastEntry = "Hyena.ForwardFast<T>(p, u) (float32, float64: the filter by HyenaFilter.FilterFast, projections by TensorPrimitives, " +
            "every convolution by CausalConvolution.ForwardFast)",
        Fast = (p, x, precision) => precision == Precision.Float32
            ? NamedTensors.Outputs(("y", ForwardFast(ParametersOf(p, x), x.As<float>("u"), maxThreads: 1)))
            : NamedTensors.Outputs(("y", ForwardFast(ParametersOf(p, x), x.As<double>("u"), maxThreads: 1))),
        Forms =
        [
            new("recurrent", "Hyena.InitialState(p, B), then Hyena.Step(p, state, u_t) per token",
                (p, x) => NamedTensors.Outputs(("y", Recurrent(ParametersOf(p, x), x.Double("u")))), "y"),
            new("chunked (C = 4)", "Hyena.InitialState(p, B), then Hyena.ForwardChunk(p, state, u[:, t0:t0 + 4]) per chunk",
                (p, x) => NamedTensors.Outputs(("y", Chunked(ParametersOf(p, x), x.Double("u"), 4))), "y"),
            new("materialized T v, then out_proj", "Hyena.Materialize(p, u[b]) [D, L, L] applied to v (the last projection after the short conv), " +
                    "then out_proj",
                (p, x) => NamedTensors.Outputs(("y", ThroughMatrix(ParametersOf(p, x), x.Double("u")))), "y"),
        ],
        MaterializeEntry = "Hyena.Materialize(p, u[b]) [D, L, L] per sequence: diag(x_0) T_h diag(x_1) (order 2), v -> y before out_proj",
        Materialize = (p, x) => MaterializeRows(ParametersOf(p, x), x.Double("u")),
        StepEntry = "Hyena.Step(p, state, u_t) (Prefill(p, u) for a prompt; ForwardChunk for chunks)",
        State = "HyenaState: short-conv history [B (N_o + 1) D, 2], the input history [B D, l_max - 1] of each of the N_o - 1 long " +
            "convolutions (ConvolutionState), and the l_max filters h [D, l_max]",
        TotalStateSizeFormula = "L - 1 per channel (the implicit filter spans the sequence: a recurrence carries the L - 1 past inputs; docs/ess.md)",
        TotalStateSize = (_, _, l) => l - 1,
        ParameterCount = p =>
        {
            // in_proj, short conv (weights and biases), filter MLP (three hidden layers with biases, output without), the shared
            // frequencies, one skip per long-filter channel, out_proj; the window decays are fixed, not learned.
            long d = p.Int("width"), o = p.Int("order"), f = p.Int("filter_width"), e = p.Int("embedding_dim"), inner = (o + 1) * d;
            return inner * d + inner + inner * 3 + inner + f * e + f + 2 * (f * f + f) + (o - 1) * d * f + f + (o - 1) * d + d * d + d;
        },
        CacheSizeFormula = "2 (N_o + 1) D (the short convolution's last 2 inputs) + (N_o - 1) D (l_max - 1) (each long convolution's input history); " +
            "constant in L (sized by l_max)",
        CacheSize = (p, _) => (long)p.Int("width") * (2L * (p.Int("order") + 1) + (long)(p.Int("order") - 1) * (p.Int("max_length") - 1)),
        Decoder = (p, inputs, b) =>
        {
            var hp = ParametersOf(p, inputs);
            var state = InitialState(hp, b);
            return new OperatorDecoder(b,
                x => OperatorDecoder.Unsqueeze(Step(hp, state, OperatorDecoder.Squeeze(x, "u", 1)), 1),
                () => state.ShortConv.History.Length + state.LongConv.Sum(c => (long)c.History.Length));
        },
        Sample = o =>
        {
            // The catalog's "hyena": order 2, filter width 64, E = 3, l_max = L (safari init), then u ~ N(0, 1) [L, C], unrounded.
            var rng = new SplitMix64(o.Seed);
            var hp = HyenaParameters.Initialize(rng, o.Channels, o.Length);
            var u = rng.NormalTensor<double>(0, 1, o.Length, o.Channels);
            var arrays = new NamedArrays();
            foreach (var (name, data) in Arrays(hp)) arrays[name] = NpyArray.Of(data, data.Length);
            arrays["u"] = NpyArray.FromTensor(u.Reshape(1, o.Length, o.Channels));
            return new OperatorSample(
                Params.Of(("batch", 1), ("length", o.Length), ("width", o.Channels), ("order", hp.Order), ("filter_width", hp.FilterWidth),
                    ("embedding_dim", hp.EmbeddingDim), ("max_length", hp.MaxLength)),
                arrays);
        },
        AutodiffEntry = "Hyena.Operator(u, Hyena.Variables) (tape composition; every long convolution is one conv.causal node, VJP CausalConvolution.Backward)",
        Differentiable = ["u", "in_w", "in_b", "short_w", "short_b", "w0", "b0", "w1", "b1", "w2", "b2", "w3", "freq", "filter_bias", "out_w", "out_b"],
        Autodiff = (p, x, v) =>
        {
            var hp = ParametersOf(p, x);
            int d = hp.ModelWidth, inner = (hp.Order + 1) * d, f = hp.FilterWidth, df = hp.FilterChannels;
            var vars = new Variables(hp,
                Ops.Reshape(v[1], inner, d), v[2], Ops.Reshape(v[3], inner, 3), v[4],
                Ops.Reshape(v[5], f, hp.EmbeddingDim), v[6], Ops.Reshape(v[7], f, f), v[8], Ops.Reshape(v[9], f, f), v[10],
                Ops.Reshape(v[11], df, f), v[12], v[13], Ops.Reshape(v[14], d, d), v[15]);
            return Operator(v[0], vars);
        },
        AccumulationOrder = "Linear: sum over the input index ascending, bias last; causal convolutions as conv.long (lags ascending, skip last); " +
            "filter MLP per position in float64",
        Distribution = "parameters by HyenaParameters.Initialize(SplitMix64(seed)) (PyTorch default uniform Linear init, N(0, 1) filter bias), " +
            "each rounded to float32; then u " + CaseInputs.NormalF32,
        Cases =
        [
            Case("order2_1x1x1", 611, 1, 1, 1, 2, 4, 3, "edge"),
            Case("order2_2x9x3", 612, 2, 9, 3, 2, 8, 3),
            Case("order3_1x16x2_lmax20", 613, 1, 16, 2, 3, 8, 5),
        ],
        DrawInputs = (p, rng) =>
        {
            int d = p.Int("width"), l = p.Int("length");
            var hp = HyenaParameters.Initialize(rng, d, p.Int("max_length"), p.Int("order"), p.Int("filter_width"), p.Int("embedding_dim"));
            var arrays = new NamedArrays();
            foreach (var (name, data) in Arrays(hp)) arrays[name] = NpyArray.Of(data.Select(v => (double)(float)v).ToArray(), data.Length);
            arrays["u"] = CaseInputs.Normal(rng, p.Int("batch"), l, d);
            return arrays;
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5, Rationale),
        Without = new Dictionary<string, string>
        {
            ["realize"] = "no finite diagonal state: the implicit filters are arbitrary length-L sequences and the operator is gated by the " +
                "input, so decoding carries the O(L) input history (HyenaState), not a diagonal recurrence",
        },
    };

    private static IEnumerable<(string Name, double[] Data)> Arrays(HyenaParameters p) =>
    [
        ("in_w", p.InW), ("in_b", p.InB), ("short_w", p.ShortW), ("short_b", p.ShortB), ("w0", p.W0), ("b0", p.B0),
        ("w1", p.W1), ("b1", p.B1), ("w2", p.W2), ("b2", p.B2), ("w3", p.W3), ("freq", p.Freq), ("deltas", p.Deltas),
        ("filter_bias", p.FilterBias), ("out_w", p.OutW), ("out_b", p.OutB),
    ];

    private static HyenaParameters ParametersOf(JsonObject p, NamedArrays x)
    {
        double[] A(string name) => x[name].ToDoubles();
        return new HyenaParameters(p.Int("width"), p.Int("order"), p.Int("filter_width"), p.Int("embedding_dim"), p.Int("max_length"),
            A("in_w"), A("in_b"), A("short_w"), A("short_b"), A("w0"), A("b0"), A("w1"), A("b1"), A("w2"), A("b2"), A("w3"),
            A("freq"), A("deltas"), A("filter_bias"), A("out_w"), A("out_b"));
    }

    /// <summary>The decoding form: one <see cref="Step"/> per token of u [B, L, D].</summary>
    private static Tensor<double> Recurrent(HyenaParameters p, Tensor<double> u)
    {
        int b = u.Dim(0), l = u.Dim(1), d = u.Dim(2);
        var state = InitialState(p, b);
        var y = Tensor<double>.Zeros(b, l, d);
        for (int t = 0; t < l; t++)
        {
            var yt = Step(p, state, u.Slice(1, t, 1).Reshape(b, d));
            for (int bi = 0; bi < b; bi++) yt.Data.AsSpan(bi * d, d).CopyTo(y.Data.AsSpan((bi * l + t) * d));
        }
        return y;
    }

    /// <summary>Chunks of <paramref name="chunk"/> tokens through one <see cref="HyenaState"/>.</summary>
    private static Tensor<double> Chunked(HyenaParameters p, Tensor<double> u, int chunk)
    {
        int b = u.Dim(0), l = u.Dim(1), d = u.Dim(2);
        var state = InitialState(p, b);
        var y = Tensor<double>.Zeros(b, l, d);
        for (int t0 = 0; t0 < l; t0 += chunk)
        {
            int n = Math.Min(chunk, l - t0);
            var part = ForwardChunk(p, state, u.Slice(1, t0, n));
            for (int bi = 0; bi < b; bi++) part.Data.AsSpan(bi * n * d, n * d).CopyTo(y.Data.AsSpan((bi * l + t0) * d));
        }
        return y;
    }

    /// <summary>T per (sequence, channel): Materialize(p, u[b]) [D, L, L] stacked over the batch, [B D, L, L].</summary>
    private static Tensor<double> MaterializeRows(HyenaParameters p, Tensor<double> u)
    {
        int b = u.Dim(0), l = u.Dim(1), d = u.Dim(2);
        var t = Tensor<double>.Zeros(b * d, l, l);
        for (int bi = 0; bi < b; bi++)
            Materialize(p, u.Slice(0, bi, 1).Reshape(l, d)).Data.CopyTo(t.Data, bi * d * l * l);
        return t;
    }

    /// <summary>out = (T v) out_w^T + out_b with v the last projection after the short conv (ForwardWithIntermediates' S).</summary>
    private static Tensor<double> ThroughMatrix(HyenaParameters p, Tensor<double> u)
    {
        int b = u.Dim(0), l = u.Dim(1), d = u.Dim(2), inner = (p.Order + 1) * d;
        var s = ForwardWithIntermediates(p, u).S;                       // [B, (N_o + 1) D, L]
        var v = Tensor<double>.Zeros(b, d, l);
        for (int bi = 0; bi < b; bi++) s.Data.AsSpan((bi * inner + p.Order * d) * l, d * l).CopyTo(v.Data.AsSpan(bi * d * l));
        var y = OperatorMatrices.Apply(MaterializeRows(p, u), v);  // [B, D, L]
        var output = Tensor<double>.Zeros(b, l, d);
        for (int bi = 0; bi < b; bi++)
            for (int t = 0; t < l; t++)
                for (int j = 0; j < d; j++)
                {
                    double acc = 0.0;
                    for (int c = 0; c < d; c++) acc += y.Data[(bi * d + c) * l + t] * p.OutW[j * d + c];
                    output.Data[(bi * l + t) * d + j] = acc + p.OutB[j];
                }
        return output;
    }

    private static ConformanceCase Case(string id, ulong seed, int batch, int length, int width, int order, int filterWidth,
        int embeddingDim, params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("length", length), ("width", width), ("order", order), ("filter_width", filterWidth),
            ("embedding_dim", embeddingDim), ("max_length", length + 4)),
            $"B = {batch}, L = {length} (l_max = {length + 4}), D = {width}, order {order}, filter width {filterWidth}, E = {embeddingDim}", tags);
}
