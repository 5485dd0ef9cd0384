using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;
using Reference.Operators.Attention;

namespace Reference.Operators.Recurrence;

public static partial class GatedLinearAttention
{
    /// <summary>The registry entry of gated linear attention ("recurrence.gla").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "recurrence.gla",
        Version = 1,
        Title = "Gated linear attention",
        Paper = "Yang et al., Gated Linear Attention Transformers with Hardware-Efficient Training (arXiv:2312.06635), sections 4.1-4.3",
        File = "src/Reference.Operators/Recurrence/GatedLinearAttention.cs",
        Summary = "gated linear attention: S_t = Diag(exp(g_t)) S_{t-1} + k_t v_t^T, out_t = S_t^T (scale q_t); g [B, H, L, K] (vector) or [B, H, L, 1] (scalar) log-gates",
        Parameters =
        [
            new("b", "int", "-", "batch B"),
            new("h", "int", "-", "heads H"),
            new("l", "int", "-", "length L"),
            new("k", "int", "-", "key dimension K"),
            new("v", "int", "-", "value dimension V"),
            new("scalar_gate", "bool", "false", "one log-gate per head and step ([B, H, L, 1]) instead of one per key channel (simple GLA)"),
            new("initial_state", "bool", "false", "the input s0 [B, H, K, V] (normal(0, 1), drawn last) is the state before t = 0 (fla's initial_state)"),
            new("return_final_state", "bool", "false", "also the output final_state (fla's output_final_state)"),
        ],
        Inputs =
        [
            new("q", "[B, H, L, K]", "queries (scaled by K^-1/2 inside)"),
            new("k", "[B, H, L, K]", "keys"),
            new("v", "[B, H, L, V]", "values"),
            new("g", "[B, H, L, K] or [B, H, L, 1]", "log forget gates log alpha_t <= 0 (fla's gk)"),
            new("s0", "[B, H, K, V]", "initial state (params.initial_state)", Optional: true),
        ],
        Outputs =
        [
            new("out", "[B, H, L, V]", "o_t = S_t^T (scale q_t)"),
            new("final_state", "[B, H, K, V]", "S_{L-1} (params.return_final_state)", Optional: true),
        ],
        NaiveEntry = "GatedLinearAttention.Forward(q, k, v, g); cases with an initial or final state: GatedLinearAttention.Recurrent(q, k, v, g, state)",
        Naive = (p, x) =>
        {
            if (!HasState(p)) return NamedTensors.Outputs(("out", Forward(x.Double("q"), x.Double("k"), x.Double("v"), x.Double("g"))));
            var state = StartState(x);
            return WithState(p, Recurrent(x.Double("q"), x.Double("k"), x.Double("v"), x.Double("g"), state), state.S);
        },
        FastEntry = "GatedLinearAttention.ChunkedFast<T>(q, k, v, g) (float32, float64); ChunkedFastWithState<T>(q, k, v, g, s0); RecurrentFast<T>",
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastOut<float>(p, x) : FastOut<double>(p, x),
        Forms =
        [
            new("recurrent", "GatedLinearAttention.Recurrent(q, k, v, g) (from s0)",
                (_, x) => NamedTensors.Outputs(("out", Recurrent(x.Double("q"), x.Double("k"), x.Double("v"), x.Double("g"), StartState(x)))), "out"),
            new("chunked (C = 8)", "GatedLinearAttention.Chunked(q, k, v, g, chunk: 8) (from s0)",
                (_, x) => NamedTensors.Outputs(("out", Chunked(x.Double("q"), x.Double("k"), x.Double("v"), x.Double("g"), 8, StartState(x)))), "out"),
            new("materialized T v", "GatedLinearAttention.Materialize(q, k, g), then T v per head; with s0, plus the free response (Recurrent from s0 on v = 0)",
                (_, x) =>
                {
                    var (q, k, v, g) = (x.Double("q"), x.Double("k"), x.Double("v"), x.Double("g"));
                    var y = HeadOperators.Apply(Materialize(q, k, g), v);
                    if (x.ContainsKey("s0"))
                    {
                        var free = Recurrent(q, k, Tensor<double>.Zeros(v.ShapeArray), g, StartState(x));
                        for (int i = 0; i < y.Length; i++) y.Data[i] += free.Data[i];
                    }
                    return NamedTensors.Outputs(("out", y));
                }, "out"),
        ],
        MaterializeEntry = "GatedLinearAttention.Materialize(q, k, g) [B, H, L, L]",
        Materialize = (_, x) => HeadOperators.PerHead(Materialize(x.Double("q"), x.Double("k"), x.Double("g"))),
        RealizeEntry = "GatedLinearAttention.Realize(q, k, g, batch, head): a_t = exp(g_t), b_t = k_t, c_t = scale q_t",
        Realize = (_, x) => HeadOperators.ForEachHead(x.Double("q"), (b, h) => Realize(x.Double("q"), x.Double("k"), x.Double("g"), b, h)),
        StepEntry = "GatedLinearAttention.Step(state, q_t, k_t, v_t, g_t)",
        State = "S [B, H, K, V] (GatedLinearAttentionState)",
        Decoder = (p, inputs, b) =>
        {
            // From s0 when the inputs carry one (params.initial_state), zeros otherwise.
            var state = inputs.ContainsKey("s0") ? StartState(inputs) : GatedLinearAttentionState.Zeros(b, p.Int("h"), p.Int("k"), p.Int("v"));
            return new OperatorDecoder(b,
                x => OperatorDecoder.Unsqueeze(Step(state, OperatorDecoder.Squeeze(x, "q", 2), OperatorDecoder.Squeeze(x, "k", 2),
                    OperatorDecoder.Squeeze(x, "v", 2), OperatorDecoder.Squeeze(x, "g", 2)), 2),
                () => state.S.Length);
        },
        TotalStateSizeFormula = "K per head and value column (H K V per layer)",
        TotalStateSize = (p, _, _) => p.Int("k"),
        ParameterCount = _ => 0,
        CacheSizeFormula = "H K V (the state S); constant in L",
        CacheSize = (p, _) => (long)p.Int("h") * p.Int("k") * p.Int("v"),
        Sample = o =>
        {
            var rng = new SplitMix64(o.Seed);
            var q = rng.NormalTensor<double>(0, 1, 1, o.Heads, o.Length, o.KeyDim);
            var k = rng.NormalTensor<double>(0, 1, 1, o.Heads, o.Length, o.KeyDim);
            var g = LogSigmoidGate(new SplitMix64(o.Seed ^ 0x9E3779B97F4A7C15UL).NormalTensor<double>(0, 1, 1, o.Heads, o.Length, o.KeyDim));
            var v = rng.NormalTensor<double>(0, 1, 1, o.Heads, o.Length, o.KeyDim);
            return new OperatorSample(
                Params.Of(("b", 1), ("h", o.Heads), ("l", o.Length), ("k", o.KeyDim), ("v", o.KeyDim), ("scalar_gate", false)),
                new NamedArrays { ["q"] = NpyArray.FromTensor(q), ["k"] = NpyArray.FromTensor(k), ["v"] = NpyArray.FromTensor(v), ["g"] = NpyArray.FromTensor(g) });
        },
        AutodiffEntry = "AttentionOps.GatedLinear(q, k, v, g) (VJP: GatedLinearAttention.Backward)",
        Differentiable = ["q", "k", "v", "g"],
        Autodiff = (_, _, d) => AttentionOps.GatedLinear(d[0], d[1], d[2], d[3]),
        AccumulationOrder = "G = cumsum_t g (t ascending); T[t, s] = sum_c scale q_tc k_sc exp(G_tc - G_sc) (c ascending); out_t = sum_{s<=t} T[t, s] v_s (s ascending)",
        Distribution = CaseInputs.NormalF32 + " (q, k, v, then x of g's shape); g = logsigmoid(x) / 16 computed in float64, rounded to float32",
        Cases =
        [
            Case("vector_1x2_l17_k8", 631, 2, 17, 8, 5, false),
            Case("vector_2x1_l40_k16_v9", 632, 1, 40, 16, 9, false),
            Case("scalar_1x2_l33_k7", 633, 2, 33, 7, 4, true),
            Case("single_1x1_l1_k3", 634, 1, 1, 3, 2, false, "edge"),
            StateCase("states_vector_1x2_l21_k6_v5", 635, 2, 21, 6, 5, false),
            StateCase("states_simple_1x2_l19_k4_v3", 636, 2, 19, 4, 3, true),
        ],
        DemoCase = "vector_2x1_l40_k16_v9",
        DrawInputs = (p, rng) =>
        {
            var x = HeadOperators.DrawQkv(p, rng, p.Int("h"));
            var raw = CaseInputs.Normal(rng, p.Int("b"), p.Int("h"), p.Int("l"), p.Bool("scalar_gate") ? 1 : p.Int("k")).ToTensor<double>();
            var g = LogSigmoidGate(raw);
            for (int i = 0; i < g.Length; i++) g.Data[i] = (float)g.Data[i];
            x["g"] = NpyArray.FromTensor(g);
            if (Flag(p, "initial_state")) x["s0"] = CaseInputs.Normal(rng, p.Int("b"), p.Int("h"), p.Int("k"), p.Int("v"));
            return x;
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5, HeadOperators.LongReduction),
    };

    private static NamedArrays FastOut<T>(System.Text.Json.Nodes.JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!HasState(p)) return NamedTensors.Outputs(("out", ChunkedFast(x.As<T>("q"), x.As<T>("k"), x.As<T>("v"), x.As<T>("g"))));
        var (o, final) = ChunkedFastWithState(x.As<T>("q"), x.As<T>("k"), x.As<T>("v"), x.As<T>("g"), x.Optional<T>("s0"));
        return Flag(p, "return_final_state") ? NamedTensors.Outputs(("out", o), ("final_state", final)) : NamedTensors.Outputs(("out", o));
    }

    private static bool Flag(System.Text.Json.Nodes.JsonObject p, string key) => p.ContainsKey(key) && p[key] is not null && p.Bool(key);

    private static bool HasState(System.Text.Json.Nodes.JsonObject p) => Flag(p, "initial_state") || Flag(p, "return_final_state");

    /// <summary>A state holding s0 when the case has one, else zeros.</summary>
    private static GatedLinearAttentionState StartState(NamedArrays x)
    {
        var (q, v) = (x.Double("q"), x.Double("v"));
        return x.ContainsKey("s0") ? new GatedLinearAttentionState(x.Double("s0").Clone())
            : GatedLinearAttentionState.Zeros(q.Dim(0), q.Dim(1), q.Dim(3), v.Dim(3));
    }

    private static NamedArrays WithState(System.Text.Json.Nodes.JsonObject p, Tensor<double> o, Tensor<double> s) =>
        Flag(p, "return_final_state") ? NamedTensors.Outputs(("out", o), ("final_state", s)) : NamedTensors.Outputs(("out", o));

    private static ConformanceCase StateCase(string id, ulong seed, int h, int l, int k, int v, bool scalar)
    {
        var c = Case(id, seed, h, l, k, v, scalar);
        c.Params["initial_state"] = true;
        c.Params["return_final_state"] = true;
        return c with { Description = c.Description + "; initial state s0 normal(0, 1) (drawn last), final_state output" };
    }

    private static ConformanceCase Case(string id, ulong seed, int h, int l, int k, int v, bool scalar, params string[] tags) =>
        new(id, seed, Params.Of(("b", 1), ("h", h), ("l", l), ("k", k), ("v", v), ("scalar_gate", scalar)),
            $"B 1, H {h}, L {l}, K {k}, V {v}, {(scalar ? "scalar" : "vector")} gates", tags);
}
