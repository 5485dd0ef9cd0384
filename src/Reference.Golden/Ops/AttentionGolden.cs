using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.IO;
using Reference.Operators.Attention;
using Reference.Operators.Recurrence;

namespace Reference.Golden.Ops;

/// <summary>
/// Golden cases of the attention family (issue 6): attention.softmax (causal, GQA, sliding window),
/// attention.linear (feature maps, normaliser), attention.decayed_linear (fixed per-channel decay)
/// and recurrence.gla (vector / scalar log-gates). Layout [B, H, L, X] as in the operators' files;
/// the naive definitions are each operator's Forward.
/// </summary>
public static class AttentionGolden
{
    private const string LongReduction =
        "attention is a length-L (and K) reduction per output: float64 reorderings (online softmax, chunked, recurrent) stay ~1e-14; " +
        "1e-12 leaves margin; float32 accumulates ~sqrt(L K) eps32 ~ 1e-6, so 1e-5 (the conventions' float32 bound) still fails a missed term";

    public static GoldenOp Softmax { get; } = new()
    {
        Name = "attention.softmax",
        Version = 1,
        Summary = "causal softmax attention: out[b, h] = softmax(scale q[b, h] k[b, h / G]^T, causal band of width window) v[b, h / G]; q [B, Hq, L, K], k [B, Hkv, L, K], v [B, Hkv, L, V]",
        AccumulationOrder = "per (b, h, t): s_j = scale * sum_p q[t, p] k[j, p] (p ascending); m = max s; e_j = exp(s_j - m); Z = sum_j e_j (j ascending); out = sum_j (e_j / Z) v[j] (j ascending)",
        Distribution = GoldenInputs.NormalF32 + " (q, k, v)",
        Cases =
        [
            Heads("single_1x1x1_l1", 601, 1, 1, 1, 1, 4, 3, 0, "edge"),
            Heads("mha_2x3_l17_k8", 602, 2, 3, 3, 17, 8, 5, 0),
            Heads("gqa_1x4of2_l33_k9", 603, 1, 4, 2, 33, 9, 7, 0),
            Heads("mqa_1x3of1_l65_k16", 604, 1, 3, 1, 65, 16, 8, 0),
            Heads("window5_1x2_l40_k8", 605, 1, 2, 2, 40, 8, 4, 5),
            Heads("window1_1x2_l9_k4", 606, 1, 2, 1, 9, 4, 4, 1, "edge"),
        ],
        Inputs = (p, rng) => Qkv(p, rng, p.Int("hkv")),
        Naive = (p, x) => Out(SoftmaxAttention.Forward(x["q"].ToTensor<double>(), x["k"].ToTensor<double>(), x["v"].ToTensor<double>(), SoftmaxOptions(p))),
        Fast = (p, x, precision) => precision == Precision.Float32 ? SoftmaxFast<float>(p, x) : SoftmaxFast<double>(p, x),
        Tolerance = (_, _) => Golden.Tolerance.NormRelative(1e-12, 1e-5, LongReduction),
    };

    public static GoldenOp Linear { get; } = new()
    {
        Name = "attention.linear",
        // Version 2: the query scale and the normaliser's eps are written in the params (they were
        // only in the C# documentation; the outputs are unchanged).
        Version = 2,
        Summary = "causal linear attention with feature map phi (identity, elu1, relu, taylor) and optional normaliser: out_t = sum_{s<=t} scale phi(q_t).phi(k_s) v_s [/ (sum_s scale phi(q_t).phi(k_s) + eps)]; q, k [B, H, L, K], v [B, H, L, V]; params scale (F^-1/2 for identity, elu1, relu with F the feature size; 1 for taylor, whose map carries the scaling) and eps",
        AccumulationOrder = "A[t, s] = scale * sum_f phi(q_t)[f] phi(k_s)[f] (f ascending); den_t = sum_s A[t, s] (s ascending) + eps; out_t = sum_s (A[t, s] / den_t) v_s (s ascending); taylor phi(x) = [1, x / K^(1/4), vec(x x^T) / (sqrt(2) sqrt(K))]",
        Distribution = GoldenInputs.NormalF32 + " (q, k, v)",
        Cases =
        [
            Mapped("identity_1x2_l17_k8", 611, 2, 17, 8, 5, "identity", false),
            Mapped("elu1_norm_2x2_l33_k9", 612, 2, 33, 9, 4, "elu1", true),
            Mapped("relu_1x1_l16_k7", 613, 1, 16, 7, 3, "relu", false),
            Mapped("taylor_norm_1x2_l20_k4", 614, 2, 20, 4, 3, "taylor", true),
        ],
        Inputs = (p, rng) => Qkv(p, rng, p.Int("h")),
        Naive = (p, x) => Out(LinearAttention.Forward(x["q"].ToTensor<double>(), x["k"].ToTensor<double>(), x["v"].ToTensor<double>(),
            new LinearAttentionOptions(MapOf(p.String("map")), p.Bool("normalize"), p.Double("scale"), p.Double("eps")))),
        Tolerance = (_, _) => Golden.Tolerance.NormRelative(1e-12, 1e-5, LongReduction),
    };

    public static GoldenOp DecayedLinear { get; } = new()
    {
        Name = "attention.decayed_linear",
        Version = 1,
        Summary = "linear attention with fixed per-channel decay: out_t = sum_{s<=t} [sum_c scale q_tc k_sc exp((t - s) log_lambda[h, c])] v_s; log_lambda [H, K]",
        AccumulationOrder = "T[t, s] = sum_c scale q_tc k_sc exp((t - s) log_lambda_c) (c ascending); out_t = sum_s T[t, s] v_s (s ascending)",
        Distribution = GoldenInputs.NormalF32 + " (q, k, v), then log_lambda uniform(-1, -0.01) rounded to float32",
        Cases =
        [
            Mapped("decay_1x2_l17_k8", 621, 2, 17, 8, 5, null, false),
            Mapped("decay_2x1_l40_k9", 622, 1, 40, 9, 3, null, false),
        ],
        Inputs = (p, rng) =>
        {
            var x = Qkv(p, rng, p.Int("h"));
            x["log_lambda"] = GoldenInputs.Uniform(rng, -1, -0.01, p.Int("h"), p.Int("k"));
            return x;
        },
        Naive = (p, x) => Out(DecayedLinearAttention.Forward(x["q"].ToTensor<double>(), x["k"].ToTensor<double>(), x["v"].ToTensor<double>(),
            x["log_lambda"].ToTensor<double>())),
        Tolerance = (_, _) => Golden.Tolerance.NormRelative(1e-12, 1e-5, LongReduction),
    };

    public static GoldenOp GatedLinearAttentionOp { get; } = new()
    {
        Name = "recurrence.gla",
        Version = 1,
        Summary = "gated linear attention: S_t = Diag(exp(g_t)) S_{t-1} + k_t v_t^T, out_t = S_t^T (scale q_t); g [B, H, L, K] (vector) or [B, H, L, 1] (scalar) log-gates",
        AccumulationOrder = "G = cumsum_t g (t ascending); T[t, s] = sum_c scale q_tc k_sc exp(G_tc - G_sc) (c ascending); out_t = sum_{s<=t} T[t, s] v_s (s ascending)",
        Distribution = GoldenInputs.NormalF32 + " (q, k, v, then x of g's shape); g = logsigmoid(x) / 16 computed in float64, rounded to float32",
        Cases =
        [
            Gated("vector_1x2_l17_k8", 631, 2, 17, 8, 5, false),
            Gated("vector_2x1_l40_k16_v9", 632, 1, 40, 16, 9, false),
            Gated("scalar_1x2_l33_k7", 633, 2, 33, 7, 4, true),
            Gated("single_1x1_l1_k3", 634, 1, 1, 3, 2, false, "edge"),
        ],
        Inputs = (p, rng) =>
        {
            var x = Qkv(p, rng, p.Int("h"));
            var raw = GoldenInputs.Normal(rng, p.Int("b"), p.Int("h"), p.Int("l"), p.Bool("scalar_gate") ? 1 : p.Int("k")).ToTensor<double>();
            var g = GatedLinearAttention.LogSigmoidGate(raw);
            for (int i = 0; i < g.Length; i++) g.Data[i] = (float)g.Data[i];
            x["g"] = NpyArray.FromTensor(g);
            return x;
        },
        Naive = (p, x) => Out(GatedLinearAttention.Forward(x["q"].ToTensor<double>(), x["k"].ToTensor<double>(), x["v"].ToTensor<double>(), x["g"].ToTensor<double>())),
        Fast = (p, x, precision) => precision == Precision.Float32 ? GatedLinearAttentionFast<float>(x) : GatedLinearAttentionFast<double>(x),
        Tolerance = (_, _) => Golden.Tolerance.NormRelative(1e-12, 1e-5, LongReduction),
    };

    public static IReadOnlyList<GoldenOp> All { get; } = [Softmax, Linear, DecayedLinear, GatedLinearAttentionOp];

    private static NamedArrays SoftmaxFast<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var o = SoftmaxAttention.ForwardFast(x["q"].ToTensor<T>(), x["k"].ToTensor<T>(), x["v"].ToTensor<T>(), SoftmaxOptions(p));
        return new NamedArrays { ["out"] = NpyArray.FromTensor(o) };
    }

    private static NamedArrays GatedLinearAttentionFast<T>(NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var o = GatedLinearAttention.ChunkedFast(x["q"].ToTensor<T>(), x["k"].ToTensor<T>(), x["v"].ToTensor<T>(), x["g"].ToTensor<T>());
        return new NamedArrays { ["out"] = NpyArray.FromTensor(o) };
    }

    private static SoftmaxAttentionOptions SoftmaxOptions(JsonObject p) => new(Window: p.Int("window") > 0 ? p.Int("window") : null);

    private static FeatureMap MapOf(string name) => name switch
    {
        "identity" => FeatureMap.Identity,
        "elu1" => FeatureMap.EluPlusOne,
        "relu" => FeatureMap.Relu,
        "taylor" => FeatureMap.Taylor,
        _ => throw new ArgumentException($"map = '{name}', expected identity, elu1, relu or taylor.", "map"),
    };

    private static NamedArrays Qkv(JsonObject p, SplitMix64 rng, int kvHeads)
    {
        int b = p.Int("b"), l = p.Int("l"), k = p.Int("k"), v = p.Int("v");
        int h = p.ContainsKey("hq") ? p.Int("hq") : p.Int("h");
        return new NamedArrays
        {
            ["q"] = GoldenInputs.Normal(rng, b, h, l, k),
            ["k"] = GoldenInputs.Normal(rng, b, kvHeads, l, k),
            ["v"] = GoldenInputs.Normal(rng, b, kvHeads, l, v),
        };
    }

    private static NamedArrays Out(Tensor<double> o) => new() { ["out"] = NpyArray.FromTensor(o) };

    private static GoldenCaseSpec Heads(string id, ulong seed, int b, int hq, int hkv, int l, int k, int v, int window, params string[] tags) =>
        new(id, seed, Params.Of(("b", b), ("hq", hq), ("hkv", hkv), ("l", l), ("k", k), ("v", v), ("window", window)),
            $"B {b}, Hq {hq}, Hkv {hkv}, L {l}, K {k}, V {v}{(window > 0 ? $", window {window}" : ", full causal")}", tags);

    private static GoldenCaseSpec Mapped(string id, ulong seed, int h, int l, int k, int v, string? map, bool normalize, params string[] tags) =>
        new(id, seed, map is null
                ? Params.Of(("b", 1), ("h", h), ("l", l), ("k", k), ("v", v))
                : Params.Of(("b", 1), ("h", h), ("l", l), ("k", k), ("v", v), ("map", map), ("normalize", normalize),
                    ("scale", map == "taylor" ? 1.0 : 1.0 / Math.Sqrt(LinearAttention.FeatureDim(MapOf(map), k))),
                    ("eps", new LinearAttentionOptions().Eps)),
            $"B 1, H {h}, L {l}, K {k}, V {v}{(map is null ? "" : $", map {map}{(normalize ? ", normalised" : "")}")}", tags);

    private static GoldenCaseSpec Gated(string id, ulong seed, int h, int l, int k, int v, bool scalar, params string[] tags) =>
        new(id, seed, Params.Of(("b", 1), ("h", h), ("l", l), ("k", k), ("v", v), ("scalar_gate", scalar)),
            $"B 1, H {h}, L {l}, K {k}, V {v}, {(scalar ? "scalar" : "vector")} gates", tags);
}
