using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;

namespace Reference.Operators.Convolution;

public static partial class HyenaFilter
{
    /// <summary>The registry entry of safari's HyenaFilter with its options ("conv.hyena_filter").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "conv.hyena_filter",
        Version = 1,
        Title = "Hyena implicit filter and its long convolution (safari HyenaFilter, every option)",
        Paper = "Poli et al., Hyena Hierarchy (arXiv:2302.10866), Sec. 3.3 (implicit filters, exponential window); options and constants of " +
            "safari's HyenaFilter / PositionalEmbedding / Sin / ExponentialModulation (HazyResearch/safari, src/models/sequence/hyena.py)",
        File = "src/Reference.Operators/Convolution/HyenaFilter.cs",
        Summary = "h[D x L] = (W_out sin(freq (W_n ... sin(freq (W0 z + b0)) ...)))(t) times (exp(-t |deltas|) + shift) when modulate, / its " +
            "channel L1 norm when normalized; y[B x D x L] = h * u + bias u (bias off: no skip)",
        Parameters =
        [
            new("batch", "int", "-", "batch B"),
            new("width", "int", "-", "channels D (safari's d_model)"),
            new("length", "int", "-", "length L (<= max_length)"),
            new("max_length", "int", "-", "l_max (safari's seq_len): the grid of the positional features"),
            new("embedding_dim", "int", "-", "E (emb_dim, odd >= 3)"),
            new("filter_width", "int", "-", "F (safari's `order`: the MLP width)"),
            new("num_inner_mlps", "int", "2", "inner Linear(F, F) + Sin layers (>= 0)"),
            new("modulate", "bool", "true", "multiply by the exponential window (false: h = the MLP output)"),
            new("shift", "float", "0", "window = exp(-t |delta|) + shift"),
            new("fast_decay_pct", "float", "0.3", "deltas (when not given) = linspace(ln(target) / slow_decay_pct, ln(target) / fast_decay_pct, D)"),
            new("slow_decay_pct", "float", "1.5", "see fast_decay_pct"),
            new("target", "float", "0.01", "see fast_decay_pct"),
            new("bias", "bool", "true", "add bias u (false: safari's 0 * bias)"),
            new("normalized", "bool", "false", "divide h at every position by its L1 norm over the channels"),
            new("w", "float", "1", "the drawn freq value (safari's Sin w; freq is an input)"),
            new("given_deltas", "bool", "false", "whether the case draws deltas (trained with modulation_lr > 0) or leaves them to the percentages"),
            new("given_z", "bool", "false", "whether the case draws a positional embedding z (trained with lr_pos_emb) instead of the fixed features"),
        ],
        Inputs =
        [
            new("u", "[B, D, L]", "input, channel-major"),
            new("w0", "[F, E]", "Linear(E, F) weight"),
            new("b0", "[F]", "its bias"),
            new("inner_w", "[n, F, F]", "the n = num_inner_mlps inner Linear(F, F) weights (absent when n = 0)", Optional: true),
            new("inner_b", "[n, F]", "their biases (absent when n = 0)", Optional: true),
            new("w_out", "[D, F]", "the last Linear(F, D), no bias"),
            new("freq", "[F]", "the Sin frequency shared by every layer"),
            new("deltas", "[D]", "window decays (absent: from the decay percentages)", Optional: true),
            new("z", "[l_max, E]", "positional embedding (absent: [t, cos(f w), -sin(f w)] of PositionalEmbedding)", Optional: true),
            new("bias", "[D]", "the skip of the long convolution"),
        ],
        Outputs =
        [
            new("y", "[B, D, L]", "HyenaFilter.forward: y = h * u + bias u"),
            new("h", "[D, L]", "HyenaFilter.filter(L), transposed to [D, L]"),
        ],
        NaiveEntry = "HyenaFilter.Forward(p, u), HyenaFilter.Filter(p, L)",
        Naive = (p, x) =>
        {
            var hp = ParametersOf(p, x);
            var u = x.Double("u");
            return NamedTensors.Outputs(("y", Forward(hp, u)), ("h", Filter(hp, u.Dim(-1))));
        },
        FastEntry = "HyenaFilter.ForwardFast<T>(p, u), HyenaFilter.FilterFast<T>(p, L) (float32, float64: the MLP by TensorPrimitives in T, " +
            "the convolution by CausalConvolution.ForwardFast)",
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastOut<float>(p, x) : FastOut<double>(p, x),
        Forms =
        [
            new("recurrent", "HyenaFilter.Recurrent(p, u): CausalConvolution.Step with the length-L filter per token",
                (p, x) => NamedTensors.Outputs(("y", Recurrent(ParametersOf(p, x), x.Double("u")))), "y"),
            new("materialized T u", "HyenaFilter.Materialize(p, L) [D, L, L], then T u per row",
                (p, x) => NamedTensors.Outputs(("y", OperatorMatrices.Apply(MaterializeRows(p, x), x.Double("u")))), "y"),
            new("tape composition", "HyenaFilter.Operator(u, Variables.From(p)) and FilterOperator (the autodiff graph's forward values)",
                (p, x) =>
                {
                    var hp = ParametersOf(p, x);
                    var v = Variables.From(hp);
                    var u = x.Double("u");
                    return NamedTensors.Outputs(("y", Operator(Variable.Constant(u), v).Value), ("h", FilterOperator(v, u.Dim(-1)).Value));
                }, "y", "h"),
        ],
        MaterializeEntry = "HyenaFilter.Materialize(p, L) [D, L, L] (Toeplitz of h plus bias on the diagonal), repeated over the batch",
        Materialize = MaterializeRows,
        StepEntry = "HyenaFilter.Recurrent(p, u) (CausalConvolution.Step per token with the filter of length L)",
        State = "ConvolutionState: the input history [B D, L - 1] (the implicit filter spans the sequence)",
        TotalStateSizeFormula = "L - 1 per channel (the implicit filter spans the sequence; docs/ess.md)",
        TotalStateSize = (_, _, l) => l - 1,
        Sample = o =>
        {
            var rng = new SplitMix64(o.Seed);
            var hp = HyenaFilterParameters.Initialize(rng, o.Channels, o.Length, filterWidth: 16);
            var x = Arrays(hp);
            x["u"] = Core.IO.NpyArray.FromTensor(rng.NormalTensor<double>(0, 1, 1, o.Channels, o.Length));
            return new OperatorSample(Params.Of(("batch", 1), ("width", o.Channels), ("length", o.Length), ("max_length", o.Length),
                ("embedding_dim", 3), ("filter_width", 16), ("num_inner_mlps", 2)), x);
        },
        AutodiffEntry = "HyenaFilter.Operator(u, HyenaFilter.Variables) (tape composition; the convolution is one conv.causal node)",
        Differentiable = ["u", "w0", "b0", "inner_w", "inner_b", "w_out", "freq", "deltas", "z", "bias"],
        Autodiff = (p, x, v) =>
        {
            var hp = ParametersOf(p, x);
            int i = 0, f = hp.FilterWidth, n = hp.InnerMlps;
            var u = v[i++];
            var w0 = Ops.Reshape(v[i++], f, hp.EmbeddingDim);
            var b0 = v[i++];
            Variable[] innerW = [], innerB = [];
            if (x.ContainsKey("inner_w"))
            {
                var all = v[i++];
                innerW = Enumerable.Range(0, n).Select(j => Ops.Reshape(Ops.Slice(all, 0, j, 1), f, f)).ToArray();
            }
            if (x.ContainsKey("inner_b"))
            {
                var all = v[i++];
                innerB = Enumerable.Range(0, n).Select(j => Ops.Reshape(Ops.Slice(all, 0, j, 1), f)).ToArray();
            }
            var wOut = Ops.Reshape(v[i++], hp.Channels, f);
            var freq = v[i++];
            var deltas = x.ContainsKey("deltas") ? v[i++] : Variable.Constant(new Tensor<double>(hp.Deltas, hp.Channels));
            var z = x.ContainsKey("z") ? Ops.Reshape(v[i++], hp.MaxLength, hp.EmbeddingDim) : null;
            var bias = v[i++];
            return Operator(u, new Variables(hp, w0, b0, innerW, innerB, wOut, freq, deltas, bias, z));
        },
        AccumulationOrder = "per position k: Linear sums over the input index ascending, bias last, then sin(freq x); the output Linear over F " +
            "ascending; times (exp(-t_k |delta_c|) + shift); the L1 norm over c ascending; the convolution as conv.causal (lags ascending, skip last)",
        Distribution = "weights by HyenaFilterParameters.Initialize(SplitMix64(seed), D, l_max, F, E, n, w, fast, slow, target) (PyTorch uniform " +
            "Linear init in the order w0, b0, (w_i, b_i) per inner layer, w_out; bias ~ N(0, 1)), each rounded to float32; then " +
            CaseInputs.NormalF32 + " for u [B, D, L], then deltas [D] when given_deltas, then z [l_max, E] when given_z",
        Cases =
        [
            Case("defaults_1x2x9", 1301, 1, 2, 9, 3, 8, 2, true, 0.0, true, false, false, false, tags: ["edge"]),
            Case("no_inner_shift_bias_off_2x3x12", 1302, 2, 3, 12, 5, 8, 0, true, 0.5, false, false, true, false),
            Case("three_inner_unmodulated_normalized_1x3x10", 1303, 1, 3, 10, 3, 6, 3, false, 0.0, true, true, false, true),
            Case("one_inner_given_z_decays_0_1_0_9_1x2x70", 1304, 1, 2, 70, 3, 8, 1, true, 0.1, true, false, false, true, fast: 0.1, slow: 0.9),
        ],
        DrawInputs = (p, rng) =>
        {
            int d = p.Int("width"), lmax = p.Int("max_length"), e = p.Int("embedding_dim");
            var hp = HyenaFilterParameters.Initialize(rng, d, lmax, p.Int("filter_width"), e, Get(p, "num_inner_mlps", 2),
                GetD(p, "w", 1.0), GetD(p, "fast_decay_pct", 0.3), GetD(p, "slow_decay_pct", 1.5), GetD(p, "target", 1e-2));
            var x = Arrays(hp, rounded: true);
            x["u"] = CaseInputs.Normal(rng, p.Int("batch"), d, p.Int("length"));
            if (GetB(p, "given_deltas", false)) x["deltas"] = CaseInputs.Normal(rng, d);
            if (GetB(p, "given_z", false)) x["z"] = CaseInputs.Normal(rng, lmax, e);
            return x;
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5,
            "a float64 MLP per position and sums of up to L products (the FFT route in the fast tier): float64 reorderings stay ~1e-14 " +
            "relative (1e-12 leaves a margin); float32 ~1e-6, 1e-5 is the conventions' float32 bound"),
        Without = new Dictionary<string, string>
        {
            ["realize"] = "no finite diagonal state: the implicit filter is an arbitrary length-L sequence (the convolution carries its input history)",
        },
    };

    private static int Get(JsonObject p, string name, int fallback) => p.ContainsKey(name) ? p.Int(name) : fallback;

    private static double GetD(JsonObject p, string name, double fallback) => p.ContainsKey(name) ? p.Double(name) : fallback;

    private static bool GetB(JsonObject p, string name, bool fallback) => p.ContainsKey(name) ? p.Bool(name) : fallback;

    /// <summary>The arrays of p as named inputs (deltas and z are left out: DrawInputs adds them when the case gives them).</summary>
    private static NamedArrays Arrays(HyenaFilterParameters p, bool rounded = false)
    {
        Core.IO.NpyArray A(double[] data, params int[] shape) =>
            rounded ? CaseInputs.RoundedF32(data, shape) : Core.IO.NpyArray.Of((double[])data.Clone(), shape);
        int f = p.FilterWidth, n = p.InnerMlps;
        var x = new NamedArrays
        {
            ["w0"] = A(p.W0, f, p.EmbeddingDim),
            ["b0"] = A(p.B0, f),
            ["w_out"] = A(p.WOut, p.Channels, f),
            ["freq"] = A(p.Freq, f),
            ["bias"] = A(p.Bias, p.Channels),
        };
        if (n > 0)
        {
            x["inner_w"] = A(p.InnerW.SelectMany(w => w).ToArray(), n, f, f);
            x["inner_b"] = A(p.InnerB.SelectMany(b => b).ToArray(), n, f);
        }
        return x;
    }

    internal static HyenaFilterParameters ParametersOf(JsonObject p, NamedArrays x)
    {
        int d = p.Int("width"), f = p.Int("filter_width"), e = p.Int("embedding_dim"), n = Get(p, "num_inner_mlps", 2);
        double[] A(string name) => x[name].ToDoubles();
        double[][] Split(string name, int size) =>
            x.ContainsKey(name) ? A(name).Chunk(size).ToArray() : [];
        var innerW = Split("inner_w", f * f);
        var innerB = Split("inner_b", f);
        if (innerW.Length != n || innerB.Length != n)
            throw new ArgumentException($"inner_w and inner_b must hold num_inner_mlps = {n} layers, got {innerW.Length} and {innerB.Length}.", nameof(x));
        var deltas = x.ContainsKey("deltas") ? A("deltas")
            : Deltas(d, GetD(p, "fast_decay_pct", 0.3), GetD(p, "slow_decay_pct", 1.5), GetD(p, "target", 1e-2));
        return new HyenaFilterParameters(d, f, e, p.Int("max_length"), A("w0"), A("b0"), innerW, innerB, A("w_out"), A("freq"), deltas, A("bias"),
            x.ContainsKey("z") ? A("z") : null)
        {
            Options = new HyenaFilterOptions(GetB(p, "modulate", true), GetD(p, "shift", 0.0), GetB(p, "bias", true), GetB(p, "normalized", false)),
        };
    }

    private static NamedArrays FastOut<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var hp = ParametersOf(p, x);
        var u = x.As<T>("u");
        return NamedTensors.Outputs(("y", ForwardFast(hp, u, maxThreads: 1)), ("h", FilterFast<T>(hp, u.Dim(-1))));
    }

    private static Tensor<double> MaterializeRows(JsonObject p, NamedArrays x) =>
        OperatorMatrices.PerRow(Materialize(ParametersOf(p, x), p.Int("length")), p.Int("batch") * p.Int("width"));

    private static ConformanceCase Case(string id, ulong seed, int batch, int width, int length, int embeddingDim, int filterWidth, int inner,
        bool modulate, double shift, bool bias, bool normalized, bool givenDeltas, bool givenZ, double fast = 0.3, double slow = 1.5,
        string[]? tags = null) =>
        new(id, seed, Params.Of(("batch", batch), ("width", width), ("length", length), ("max_length", length + 3), ("embedding_dim", embeddingDim),
                ("filter_width", filterWidth), ("num_inner_mlps", inner), ("modulate", modulate), ("shift", shift), ("fast_decay_pct", fast),
                ("slow_decay_pct", slow), ("target", 0.01), ("bias", bias), ("normalized", normalized), ("w", 1.0), ("given_deltas", givenDeltas),
                ("given_z", givenZ)),
            $"B = {batch}, D = {width}, L = {length} (l_max = {length + 3}), E = {embeddingDim}, F = {filterWidth}, {inner} inner layer(s), " +
            $"{(modulate ? $"modulated (shift {shift}, decays {fast}/{slow})" : "unmodulated")}, bias {(bias ? "on" : "off")}" +
            $"{(normalized ? ", normalized" : "")}{(givenDeltas ? ", given deltas" : "")}{(givenZ ? ", given z" : "")}", tags ?? []);
}
