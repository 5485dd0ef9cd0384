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
            new("scalar_gate", "bool", "false", "one log-gate per head and step ([B, H, L, 1]) instead of one per key channel"),
        ],
        Inputs =
        [
            new("q", "[B, H, L, K]", "queries (scaled by K^-1/2 inside)"),
            new("k", "[B, H, L, K]", "keys"),
            new("v", "[B, H, L, V]", "values"),
            new("g", "[B, H, L, K] or [B, H, L, 1]", "log forget gates log alpha_t <= 0 (fla's gk)"),
        ],
        Outputs = [new("out", "[B, H, L, V]", "o_t = S_t^T (scale q_t)")],
        NaiveEntry = "GatedLinearAttention.Forward(q, k, v, g)",
        Naive = (_, x) => NamedTensors.Outputs(("out", Forward(x.Double("q"), x.Double("k"), x.Double("v"), x.Double("g")))),
        FastEntry = "GatedLinearAttention.ChunkedFast<T>(q, k, v, g) (float32, float64); RecurrentFast<T>",
        Fast = (_, x, precision) => precision == Precision.Float32 ? FastOut<float>(x) : FastOut<double>(x),
        Forms =
        [
            new("recurrent", "GatedLinearAttention.Recurrent(q, k, v, g)",
                (_, x) => NamedTensors.Outputs(("out", Recurrent(x.Double("q"), x.Double("k"), x.Double("v"), x.Double("g")))), "out"),
            new("chunked (C = 8)", "GatedLinearAttention.Chunked(q, k, v, g, chunk: 8)",
                (_, x) => NamedTensors.Outputs(("out", Chunked(x.Double("q"), x.Double("k"), x.Double("v"), x.Double("g"), 8))), "out"),
            new("materialized T v", "GatedLinearAttention.Materialize(q, k, g), then T v per head",
                (_, x) => NamedTensors.Outputs(("out", HeadOperators.Apply(Materialize(x.Double("q"), x.Double("k"), x.Double("g")), x.Double("v")))), "out"),
        ],
        MaterializeEntry = "GatedLinearAttention.Materialize(q, k, g) [B, H, L, L]",
        Materialize = (_, x) => HeadOperators.PerHead(Materialize(x.Double("q"), x.Double("k"), x.Double("g"))),
        RealizeEntry = "GatedLinearAttention.Realize(q, k, g, batch, head): a_t = exp(g_t), b_t = k_t, c_t = scale q_t",
        Realize = (_, x) => HeadOperators.ForEachHead(x.Double("q"), (b, h) => Realize(x.Double("q"), x.Double("k"), x.Double("g"), b, h)),
        StepEntry = "GatedLinearAttention.Step(state, q_t, k_t, v_t, g_t)",
        State = "S [B, H, K, V] (GatedLinearAttentionState)",
        Decoder = (p, _, b) =>
        {
            var state = GatedLinearAttentionState.Zeros(b, p.Int("h"), p.Int("k"), p.Int("v"));
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
        ],
        DemoCase = "vector_2x1_l40_k16_v9",
        DrawInputs = (p, rng) =>
        {
            var x = HeadOperators.DrawQkv(p, rng, p.Int("h"));
            var raw = CaseInputs.Normal(rng, p.Int("b"), p.Int("h"), p.Int("l"), p.Bool("scalar_gate") ? 1 : p.Int("k")).ToTensor<double>();
            var g = LogSigmoidGate(raw);
            for (int i = 0; i < g.Length; i++) g.Data[i] = (float)g.Data[i];
            x["g"] = NpyArray.FromTensor(g);
            return x;
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5, HeadOperators.LongReduction),
    };

    private static NamedArrays FastOut<T>(NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> =>
        NamedTensors.Outputs(("out", ChunkedFast(x.As<T>("q"), x.As<T>("k"), x.As<T>("v"), x.As<T>("g"))));

    private static ConformanceCase Case(string id, ulong seed, int h, int l, int k, int v, bool scalar, params string[] tags) =>
        new(id, seed, Params.Of(("b", 1), ("h", h), ("l", l), ("k", k), ("v", v), ("scalar_gate", scalar)),
            $"B 1, H {h}, L {l}, K {k}, V {v}, {(scalar ? "scalar" : "vector")} gates", tags);
}
