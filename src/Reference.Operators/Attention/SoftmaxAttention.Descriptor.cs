using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;
using static Reference.Operators.Attention.AttentionDescriptorHelpers;

namespace Reference.Operators.Attention;

public static partial class SoftmaxAttention
{
    /// <summary>The registry entry of softmax attention ("attention.softmax").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "attention.softmax",
        Version = 1,
        Title = "Softmax attention (MHA, GQA, MQA; causal, sliding window or non-causal; sinks, forget gate, row statistics)",
        Paper = "Vaswani et al., Attention Is All You Need (arXiv:1706.03762), section 3.2.1 eq. (1) and 3.2.3 (causal mask); " +
            "Ainslie et al., GQA (arXiv:2305.13245), section 2.2; Dao et al., FlashAttention (arXiv:2205.14135), Algorithm 1 (fast tier); " +
            "Lin et al., Forgetting Transformer (arXiv:2503.02130), eq. (5) (forget gate); Xiao et al., attention sinks (arXiv:2309.17453); " +
            "conventions of fla's naive_parallel_attn",
        File = "src/Reference.Operators/Attention/SoftmaxAttention.cs",
        Summary = "softmax attention: out[b, h] = softmax(scale q[b, h] k[b, h / G]^T + gate_scale (G_t - G_s), causal band of width window " +
            "or no mask, with the sink logit in the normaliser) v[b, h / G]; scale = params.scale (absent or 0: K^-1/2), G = cumsum g; " +
            "q [B, Hq, L, K], k [B, Hkv, L, K], v [B, Hkv, L, V]",
        Parameters =
        [
            new("b", "int", "-", "batch B"),
            new("hq", "int", "-", "query heads H (Hq)"),
            new("hkv", "int", "-", "key/value heads Hkv, a divisor of Hq (G = Hq / Hkv query heads share one: Hkv = Hq multi-head, 1 multi-query)"),
            new("l", "int", "-", "length L"),
            new("k", "int", "-", "key dimension K"),
            new("v", "int", "-", "value dimension V"),
            new("window", "int", "0", "sliding window W: position t attends to (t - W, t], W keys itself included; 0 = full causal (only with causal)"),
            new("causal", "bool", "true", "false: every query attends to every key (fla's causal = False)"),
            new("scale", "float", "0", "multiplier of q . k; 0 = K^-1/2"),
            new("sinks", "bool", "false", "true: the input sinks [Hq] holds one sink logit per query head (in the normaliser, no value)"),
            new("gate", "bool", "false", "true: the input g [B, Hq, L] is a log forget gate; score(t, s) += gate_scale (G_t - G_s), G = cumsum g"),
            new("gate_scale", "float", "1", "multiplier of the forget-gate bias (fla's g_scale)"),
            new("stats", "bool", "false", "true: also the outputs max_logit and lse [B, H, L]"),
        ],
        Inputs =
        [
            new("q", "[B, H, L, K]", "queries (H = Hq)"),
            new("k", "[B, Hkv, L, K]", "keys"),
            new("v", "[B, Hkv, L, V]", "values"),
            new("sinks", "[H]", "sink logit per query head (params.sinks)", Optional: true),
            new("g", "[B, H, L]", "log forget gate per query head and position (params.gate)", Optional: true),
        ],
        Outputs =
        [
            new("out", "[B, H, L, V]", "out_t = sum_{s live} exp(s_ts - M_t) / Z_t v_s per query head, Z_t = sum_s exp(s_ts - M_t) + exp(sink - M_t)"),
            new("max_logit", "[B, H, L]", "M_t = max(max_s s_ts, sink) (fla's max_logits; params.stats)", Optional: true),
            new("lse", "[B, H, L]", "M_t + log Z_t, the log of the softmax normaliser (params.stats)", Optional: true),
        ],
        NaiveEntry = "SoftmaxAttention.Forward(q, k, v, options, g); SoftmaxAttention.ForwardWithStats (params.stats)",
        Naive = (p, x) => Outputs(p, ForwardWithStats(x.Double("q"), x.Double("k"), x.Double("v"), Options(p, x), Gate<double>(p, x))),
        FastEntry = "SoftmaxAttention.ForwardFast<T>(q, k, v, options, g: g), ForwardFastWithStats<T> (float32, float64; tiled online softmax, FlashAttentionKernel)",
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastOut<float>(p, x) : FastOut<double>(p, x),
        Forms =
        [
            new("KV-cache decoding (Prefill L/2, Step)",
                "SoftmaxAttention.Prefill(k[:L/2], v[:L/2], options, g[:L/2]), then SoftmaxAttention.Step(cache, q_t, k_t, v_t, options, g_t) for t >= L/2 " +
                "(rows t < L/2: Forward on the prompt; non-causal cases: Forward, decoding being causal)",
                (p, x) => NamedTensors.Outputs(("out", Decode(p, x, fast: false))), "out"),
            new("fast KV-cache decoding, float64 (PrefillFast L/2, StepFast)",
                "SoftmaxAttention.PrefillFast<double>(k[:L/2], v[:L/2], options, g[:L/2]), then SoftmaxAttention.StepFast<double>(cache, q_t, k_t, v_t, options, gNew: g_t) " +
                "for t >= L/2 (online softmax over blocks and splits; rows t < L/2: Forward on the prompt; non-causal cases: Forward)",
                (p, x) => NamedTensors.Outputs(("out", Decode(p, x, fast: true))), "out"),
            new("materialized T v", "SoftmaxAttention.Materialize(q, k, options, g), then T v per query head (HeadOperators.Apply)",
                (p, x) => NamedTensors.Outputs(("out", HeadOperators.Apply(Materialize(x.Double("q"), x.Double("k"), Options(p, x), Gate<double>(p, x)), x.Double("v")))), "out"),
        ],
        MaterializeEntry = "SoftmaxAttention.Materialize(q, k, options, g) [B, Hq, L, L] (the attention probabilities P; rows sum to 1, less the sink's share)",
        Materialize = (p, x) => HeadOperators.PerHead(Materialize(x.Double("q"), x.Double("k"), Options(p, x), Gate<double>(p, x))),
        StepEntry = "SoftmaxAttention.Step(cache, qNew, kNew, vNew, options, gNew) (cache from SoftmaxAttention.Prefill(k, v, options, g)); " +
            "StepWithStats; fast tier: PrefillFast<T>, StepFast<T>, StepFastWithStats<T>",
        State = "KV cache (KvCache, KvCache<T>): keys [B, Hkv, n, K] and values [B, Hkv, n, V] of the last n = min(t + 1, W) positions " +
            "(every position without a window; a ring buffer of W slots with one)",
        Decoder = (p, inputs, b) =>
        {
            // Parameter inputs (sink logits) are read now; the forget gate, a sequence input, comes with each token.
            var options = Options(p, inputs);
            bool gated = Flag(p, "gate");
            var cache = new KvCache(b, p.Int("hkv"), p.Int("k"), p.Int("v"), options.Window);
            if (gated) cache.EnableGate(p.Int("hq"));
            return new OperatorDecoder(b,
                x => OperatorDecoder.Unsqueeze(Step(cache, OperatorDecoder.Squeeze(x, "q", 2), OperatorDecoder.Squeeze(x, "k", 2), OperatorDecoder.Squeeze(x, "v", 2), options,
                    gated ? OperatorDecoder.Squeeze(x, "g", 2) : null), 2),
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
        AutodiffEntry = "AttentionOps.Softmax(q, k, v, options) (VJP: SoftmaxAttention.Backward; the gate g by AttentionOps.ForgettingSoftmax, " +
            "the sinks' gradient SoftmaxAttentionGradients.DSinks)",
        Differentiable = ["q", "k", "v"],
        Autodiff = (p, x, d) => x.ContainsKey("g")
            ? AttentionOps.ForgettingSoftmax(d[0], d[1], d[2], new Reference.Autodiff.Variable(x.Double("g")), Options(p, x))
            : AttentionOps.Softmax(d[0], d[1], d[2], Options(p, x)),
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
            Extended("noncausal_1x3_l19_k8", 607, 1, 3, 3, 19, 8, 5, 0, causal: false, scale: 0.3, sinks: false, gate: false),
            Extended("sinks_1x4of2_l21_k8", 608, 1, 4, 2, 21, 8, 6, 0, causal: true, scale: 0, sinks: true, gate: false),
            Extended("forget_1x2_l33_k8", 609, 1, 2, 2, 33, 8, 4, 0, causal: true, scale: 0, sinks: false, gate: true),
            Extended("forget_sinks_window6_2x4of2_l26_k4", 610, 2, 4, 2, 26, 4, 3, 6, causal: true, scale: 0.7, sinks: true, gate: true,
                gateScale: 0.5),
            Extended("noncausal_sinks_forget_1x2of1_l13_k4", 611, 1, 2, 1, 13, 4, 4, 0, causal: false, scale: 0, sinks: true, gate: true),
            Extended("stats_single_1x1_l1_k2", 612, 1, 1, 1, 1, 2, 2, 0, causal: true, scale: 0, sinks: true, gate: true, tags: "edge"),
        ],
        DemoCase = "gqa_1x4of2_l33_k9",
        DrawInputs = (p, rng) =>
        {
            // q, k, v as every case; then, only in cases that have them, the sinks [Hq] ~ N(0, 1) and
            // g = logsigmoid(x + 2) [B, Hq, L] of x ~ N(0, 1) (mean about -0.13 per step: keys a few dozen
            // positions back keep a visible weight), computed in float64 and rounded to float32.
            var x = HeadOperators.DrawQkv(p, rng, p.Int("hkv"));
            if (Flag(p, "sinks")) x["sinks"] = CaseInputs.Normal(rng, p.Int("hq"));
            if (Flag(p, "gate"))
            {
                var g = CaseInputs.Normal(rng, p.Int("b"), p.Int("hq"), p.Int("l")).ToTensor<double>();
                for (int i = 0; i < g.Length; i++)
                {
                    double y = g.Data[i] + 2.0;
                    g.Data[i] = (float)(-(Math.Log(1.0 + Math.Exp(-Math.Abs(y))) + Math.Max(-y, 0.0)));
                }
                x["g"] = NpyArray.FromTensor(g);
            }
            return x;
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5, HeadOperators.LongReduction),
        Without = new Dictionary<string, string>
        {
            ["realize"] = "softmax attention has no finite diagonal state: T[t, s] = exp(scale q_t . k_s) / Z_t is not c_t^T (a_t ... a_{s+1}) b_s " +
                "for any finite N (the exponential kernel's feature space is infinite; the decoding state is the KV cache, which grows with t), " +
                "so ESS takes the dense path on Materialize",
        },
    };

    /// <summary>
    /// The options of a case: the sliding window when params.window &gt; 0 (absent or 0: full causal), causal
    /// unless params.causal is false, the scale when params.scale &gt; 0 (else K^-1/2), the sinks input when
    /// params.sinks, params.gate_scale (default 1).
    /// </summary>
    private static SoftmaxAttentionOptions Options(JsonObject p, NamedArrays x) =>
        new(Window: Has(p, "window") && p.Int("window") > 0 ? p.Int("window") : null,
            Causal: !Has(p, "causal") || p.Bool("causal"),
            Scale: Has(p, "scale") && p.Double("scale") > 0 ? p.Double("scale") : null,
            Sinks: Flag(p, "sinks") ? x.Double("sinks").Data : null,
            GateScale: Has(p, "gate_scale") ? p.Double("gate_scale") : 1.0);

    private static bool Flag(JsonObject p, string key) => Has(p, key) && p.Bool(key);

    /// <summary>The gate g [B, Hq, L] when params.gate, else null.</summary>
    private static Tensor<T>? Gate<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> =>
        Flag(p, "gate") ? x.As<T>("g") : null;

    /// <summary>out, and max_logit and lse when params.stats.</summary>
    private static NamedArrays Outputs<T>(JsonObject p, SoftmaxAttentionResult<T> r) where T : unmanaged, IFloatingPointIeee754<T> =>
        Flag(p, "stats") ? NamedTensors.Outputs(("out", r.Out), ("max_logit", r.MaxLogit), ("lse", r.Lse)) : NamedTensors.Outputs(("out", r.Out));

    private static NamedArrays FastOut<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> =>
        Outputs(p, ForwardFastWithStats(x.As<T>("q"), x.As<T>("k"), x.As<T>("v"), Options(p, x), Gate<T>(p, x)));

    /// <summary>
    /// The decoding loop: a prompt of the first L/2 positions goes into the cache at once (its output
    /// rows are the definition's on the prompt, attention being causal), then each later position is
    /// one step; with a window shorter than the prompt the cache skips the evicted positions.
    /// </summary>
    private static Tensor<double> Decode(JsonObject p, NamedArrays x, bool fast)
    {
        var (q, k, v) = (x.Double("q"), x.Double("k"), x.Double("v"));
        var options = Options(p, x);
        var g = Gate<double>(p, x);
        // Decoding is causal: a non-causal case's rows are the definition's (nothing to compare).
        if (!options.Causal) return Forward(q, k, v, options, g);
        int l = q.Dim(2), prompt = l / 2;
        var o = Tensor<double>.Zeros(q.Dim(0), q.Dim(1), l, v.Dim(3));
        var kp = k.Slice(2, 0, prompt);
        var vp = v.Slice(2, 0, prompt);
        var gp = g?.Reshape(g.Dim(0), g.Dim(1), l, 1).Slice(2, 0, prompt).Reshape(g.Dim(0), g.Dim(1), prompt);
        Tensor<double>? GateAt(int t) => g?.Reshape(g.Dim(0), g.Dim(1), l, 1).Slice(2, t, 1).Reshape(g.Dim(0), g.Dim(1));
        if (prompt > 0) SetPositions(o, 0, Forward(q.Slice(2, 0, prompt), kp, vp, options, gp));
        if (fast)
        {
            var cache = PrefillFast(kp, vp, options, gp);
            for (int t = prompt; t < l; t++) SetPositions(o, t, StepFast(cache, At(q, t), At(k, t), At(v, t), options, gNew: GateAt(t)));
        }
        else
        {
            var cache = Prefill(kp, vp, options, gp);
            for (int t = prompt; t < l; t++) SetPositions(o, t, Step(cache, At(q, t), At(k, t), At(v, t), options, GateAt(t)));
        }
        return o;
    }

    private static ConformanceCase Extended(string id, ulong seed, int b, int hq, int hkv, int l, int k, int v, int window, bool causal,
        double scale, bool sinks, bool gate, double gateScale = 1.0, params string[] tags) =>
        new(id, seed, Params.Of(("b", b), ("hq", hq), ("hkv", hkv), ("l", l), ("k", k), ("v", v), ("window", window), ("causal", causal),
                ("scale", scale), ("sinks", sinks), ("gate", gate), ("gate_scale", gateScale), ("stats", true)),
            $"B {b}, Hq {hq}, Hkv {hkv}, L {l}, K {k}, V {v}, {(causal ? window > 0 ? $"window {window}" : "full causal" : "non-causal")}, " +
            $"scale {(scale > 0 ? scale.ToString(System.Globalization.CultureInfo.InvariantCulture) : "K^-1/2")}" +
            $"{(sinks ? ", sinks" : "")}{(gate ? $", forget gate (gate_scale {gateScale.ToString(System.Globalization.CultureInfo.InvariantCulture)})" : "")}, " +
            "with max_logit and lse", tags);

    private static ConformanceCase Heads(string id, ulong seed, int b, int hq, int hkv, int l, int k, int v, int window, params string[] tags) =>
        new(id, seed, Params.Of(("b", b), ("hq", hq), ("hkv", hkv), ("l", l), ("k", k), ("v", v), ("window", window)),
            $"B {b}, Hq {hq}, Hkv {hkv}, L {l}, K {k}, V {v}{(window > 0 ? $", window {window}" : ", full causal")}", tags);
}
