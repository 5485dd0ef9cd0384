using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;
using static Reference.Operators.Attention.AttentionDescriptorHelpers;

namespace Reference.Operators.Attention;

public static partial class SoftmaxAttention
{
    /// <summary>The registry entry of causal softmax attention ("attention.softmax").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "attention.softmax",
        Version = 1,
        Title = "Causal softmax attention (MHA, GQA, MQA, sliding window)",
        Paper = "Vaswani et al., Attention Is All You Need (arXiv:1706.03762), section 3.2.1 eq. (1) and 3.2.3 (causal mask); " +
            "Ainslie et al., GQA (arXiv:2305.13245), section 2.2; Dao et al., FlashAttention (arXiv:2205.14135), Algorithm 1 (fast tier)",
        File = "src/Reference.Operators/Attention/SoftmaxAttention.cs",
        Summary = "causal softmax attention: out[b, h] = softmax(scale q[b, h] k[b, h / G]^T, causal band of width window) v[b, h / G]; q [B, Hq, L, K], k [B, Hkv, L, K], v [B, Hkv, L, V]",
        Parameters =
        [
            new("b", "int", "-", "batch B"),
            new("hq", "int", "-", "query heads H (Hq)"),
            new("hkv", "int", "-", "key/value heads Hkv, a divisor of Hq (G = Hq / Hkv query heads share one: Hkv = Hq multi-head, 1 multi-query)"),
            new("l", "int", "-", "length L"),
            new("k", "int", "-", "key dimension K (scale = K^-1/2)"),
            new("v", "int", "-", "value dimension V"),
            new("window", "int", "0", "sliding window W: position t attends to (t - W, t], W keys itself included; 0 = full causal"),
        ],
        Inputs =
        [
            new("q", "[B, H, L, K]", "queries (H = Hq; scaled by K^-1/2 inside)"),
            new("k", "[B, Hkv, L, K]", "keys"),
            new("v", "[B, Hkv, L, V]", "values"),
        ],
        Outputs = [new("out", "[B, H, L, V]", "out_t = sum_{s in (t - W, t]} softmax_s(scale q_t . k_s) v_s per query head")],
        NaiveEntry = "SoftmaxAttention.Forward(q, k, v, options)",
        Naive = (p, x) => NamedTensors.Outputs(("out", Forward(x.Double("q"), x.Double("k"), x.Double("v"), Options(p)))),
        FastEntry = "SoftmaxAttention.ForwardFast<T>(q, k, v, options) (float32, float64; tiled online softmax, FlashAttentionKernel)",
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastOut<float>(p, x) : FastOut<double>(p, x),
        Forms =
        [
            new("KV-cache decoding (Prefill L/2, Step)",
                "SoftmaxAttention.Prefill(k[:L/2], v[:L/2], options), then SoftmaxAttention.Step(cache, q_t, k_t, v_t, options) for t >= L/2 " +
                "(rows t < L/2: Forward on the prompt)",
                (p, x) => NamedTensors.Outputs(("out", Decode(p, x, fast: false))), "out"),
            new("fast KV-cache decoding, float64 (PrefillFast L/2, StepFast)",
                "SoftmaxAttention.PrefillFast<double>(k[:L/2], v[:L/2], options), then SoftmaxAttention.StepFast<double>(cache, q_t, k_t, v_t, options) " +
                "for t >= L/2 (online softmax over blocks and splits; rows t < L/2: Forward on the prompt)",
                (p, x) => NamedTensors.Outputs(("out", Decode(p, x, fast: true))), "out"),
            new("materialized T v", "SoftmaxAttention.Materialize(q, k, options), then T v per query head (HeadOperators.Apply)",
                (p, x) => NamedTensors.Outputs(("out", HeadOperators.Apply(Materialize(x.Double("q"), x.Double("k"), Options(p)), x.Double("v")))), "out"),
        ],
        MaterializeEntry = "SoftmaxAttention.Materialize(q, k, options) [B, Hq, L, L] (the attention probabilities P; rows sum to 1)",
        Materialize = (p, x) => HeadOperators.PerHead(Materialize(x.Double("q"), x.Double("k"), Options(p))),
        StepEntry = "SoftmaxAttention.Step(cache, qNew, kNew, vNew, options) (cache from SoftmaxAttention.Prefill(k, v, options)); " +
            "fast tier: PrefillFast<T>, StepFast<T>",
        State = "KV cache (KvCache, KvCache<T>): keys [B, Hkv, n, K] and values [B, Hkv, n, V] of the last n = min(t + 1, W) positions " +
            "(every position without a window; a ring buffer of W slots with one)",
        Decoder = (p, _, b) =>
        {
            var options = Options(p);
            var cache = new KvCache(b, p.Int("hkv"), p.Int("k"), p.Int("v"), options.Window);
            return new OperatorDecoder(b,
                x => OperatorDecoder.Unsqueeze(Step(cache, OperatorDecoder.Squeeze(x, "q", 2), OperatorDecoder.Squeeze(x, "k", 2), OperatorDecoder.Squeeze(x, "v", 2), options), 2),
                () => (long)b * p.Int("hkv") * Math.Min(cache.Count, options.Window ?? long.MaxValue) * (p.Int("k") + p.Int("v")));
        },
        TotalStateSizeFormula = "min(s, L - s) per head (the KV cache grows with s; the rank of the split's Hankel block is at most " +
            "min(s, L - s)); with a window W, min(s, L - s, W - 1) (only W - 1 past positions are still attended)",
        TotalStateSize = (p, s, l) =>
        {
            int window = Has(p, "window") ? p.Int("window") : 0;
            return window > 0 ? Math.Min(Math.Min(s, l - s), window - 1) : Math.Min(s, l - s);
        },
        // The ESS catalog's "attention" instance: q, k ~ N(0, 1) [1, H, L, K] from SplitMix64(seed), in
        // that order; v (not used by the operator view) is drawn after them.
        ParameterCount = _ => 0,
        CacheSizeFormula = "Hkv min(L, W) (K + V) (keys and values of every attended position; W = L without a window)",
        CacheSize = (p, l) =>
        {
            int window = Has(p, "window") ? p.Int("window") : 0;
            return (long)p.Int("hkv") * (window > 0 ? Math.Min(l, window) : l) * (p.Int("k") + p.Int("v"));
        },
        Sample = o =>
        {
            CheckSample(o);
            var rng = new SplitMix64(o.Seed);
            var q = rng.NormalTensor<double>(0, 1, 1, o.Heads, o.Length, o.KeyDim);
            var k = rng.NormalTensor<double>(0, 1, 1, o.Heads, o.Length, o.KeyDim);
            var v = rng.NormalTensor<double>(0, 1, 1, o.Heads, o.Length, o.KeyDim);
            return new OperatorSample(
                Params.Of(("b", 1), ("hq", o.Heads), ("hkv", o.Heads), ("l", o.Length), ("k", o.KeyDim), ("v", o.KeyDim), ("window", 0)),
                new NamedArrays { ["q"] = NpyArray.FromTensor(q), ["k"] = NpyArray.FromTensor(k), ["v"] = NpyArray.FromTensor(v) });
        },
        AutodiffEntry = "AttentionOps.Softmax(q, k, v, options) (VJP: SoftmaxAttention.Backward)",
        Differentiable = ["q", "k", "v"],
        Autodiff = (p, _, d) => AttentionOps.Softmax(d[0], d[1], d[2], Options(p)),
        AccumulationOrder = "per (b, h, t): s_j = scale * sum_p q[t, p] k[j, p] (p ascending); m = max s; e_j = exp(s_j - m); Z = sum_j e_j (j ascending); out = sum_j (e_j / Z) v[j] (j ascending)",
        Distribution = CaseInputs.NormalF32 + " (q, k, v)",
        Cases =
        [
            Heads("single_1x1x1_l1", 601, 1, 1, 1, 1, 4, 3, 0, "edge"),
            Heads("mha_2x3_l17_k8", 602, 2, 3, 3, 17, 8, 5, 0),
            Heads("gqa_1x4of2_l33_k9", 603, 1, 4, 2, 33, 9, 7, 0),
            Heads("mqa_1x3of1_l65_k16", 604, 1, 3, 1, 65, 16, 8, 0),
            Heads("window5_1x2_l40_k8", 605, 1, 2, 2, 40, 8, 4, 5),
            Heads("window1_1x2_l9_k4", 606, 1, 2, 1, 9, 4, 4, 1, "edge"),
        ],
        DemoCase = "gqa_1x4of2_l33_k9",
        DrawInputs = (p, rng) => HeadOperators.DrawQkv(p, rng, p.Int("hkv")),
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5, HeadOperators.LongReduction),
        Without = new Dictionary<string, string>
        {
            ["realize"] = "softmax attention has no finite diagonal state: T[t, s] = exp(scale q_t . k_s) / Z_t is not c_t^T (a_t ... a_{s+1}) b_s " +
                "for any finite N (the exponential kernel's feature space is infinite; the decoding state is the KV cache, which grows with t), " +
                "so ESS takes the dense path on Materialize",
        },
    };

    /// <summary>The options of a case: the sliding window when params.window &gt; 0 (absent or 0: full causal), the default scale K^-1/2.</summary>
    private static SoftmaxAttentionOptions Options(JsonObject p) =>
        new(Window: Has(p, "window") && p.Int("window") > 0 ? p.Int("window") : null);

    private static NamedArrays FastOut<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> =>
        NamedTensors.Outputs(("out", ForwardFast(x.As<T>("q"), x.As<T>("k"), x.As<T>("v"), Options(p))));

    /// <summary>
    /// The decoding loop: a prompt of the first L/2 positions goes into the cache at once (its output
    /// rows are the definition's on the prompt, attention being causal), then each later position is
    /// one step; with a window shorter than the prompt the cache skips the evicted positions.
    /// </summary>
    private static Tensor<double> Decode(JsonObject p, NamedArrays x, bool fast)
    {
        var (q, k, v) = (x.Double("q"), x.Double("k"), x.Double("v"));
        var options = Options(p);
        int l = q.Dim(2), prompt = l / 2;
        var o = Tensor<double>.Zeros(q.Dim(0), q.Dim(1), l, v.Dim(3));
        var kp = k.Slice(2, 0, prompt);
        var vp = v.Slice(2, 0, prompt);
        if (prompt > 0) SetPositions(o, 0, Forward(q.Slice(2, 0, prompt), kp, vp, options));
        if (fast)
        {
            var cache = PrefillFast(kp, vp, options);
            for (int t = prompt; t < l; t++) SetPositions(o, t, StepFast(cache, At(q, t), At(k, t), At(v, t), options));
        }
        else
        {
            var cache = Prefill(kp, vp, options);
            for (int t = prompt; t < l; t++) SetPositions(o, t, Step(cache, At(q, t), At(k, t), At(v, t), options));
        }
        return o;
    }

    private static ConformanceCase Heads(string id, ulong seed, int b, int hq, int hkv, int l, int k, int v, int window, params string[] tags) =>
        new(id, seed, Params.Of(("b", b), ("hq", hq), ("hkv", hkv), ("l", l), ("k", k), ("v", v), ("window", window)),
            $"B {b}, Hq {hq}, Hkv {hkv}, L {l}, K {k}, V {v}{(window > 0 ? $", window {window}" : ", full causal")}", tags);
}
