using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;
using static Reference.Operators.Attention.AttentionDescriptorHelpers;

namespace Reference.Operators.Attention;

public static partial class LinearAttention
{
    /// <summary>The registry entry of linear attention ("attention.linear").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "attention.linear",
        // Version 2: the query scale and the normaliser's eps are written in the params (they were
        // only in the C# documentation; the outputs are unchanged).
        Version = 2,
        Title = "Linear attention (feature maps, optional normaliser)",
        Paper = "Katharopoulos et al., Transformers are RNNs (arXiv:2006.16236), section 3.2 eqs. (4)-(6) and 3.4 eqs. (16)-(20); " +
            "chunkwise form of Yang et al. (arXiv:2312.06635), section 3.3; Taylor map of Based (arXiv:2402.18668), section 3.1",
        File = "src/Reference.Operators/Attention/LinearAttention.cs",
        Summary = "causal linear attention with feature map phi (identity, elu1, relu, taylor) and optional normaliser: out_t = sum_{s<=t} scale phi(q_t).phi(k_s) v_s [/ (sum_s scale phi(q_t).phi(k_s) + eps)]; q, k [B, H, L, K], v [B, H, L, V]; params scale (F^-1/2 for identity, elu1, relu with F the feature size; 1 for taylor, whose map carries the scaling) and eps",
        Parameters =
        [
            new("b", "int", "-", "batch B"),
            new("h", "int", "-", "heads H"),
            new("l", "int", "-", "length L"),
            new("k", "int", "-", "key dimension K"),
            new("v", "int", "-", "value dimension V"),
            new("map", "string", "identity", "feature map phi: identity (F = K), elu1 = elu(x) + 1 (F = K), relu (F = K), taylor = [1, x / K^(1/4), vec(x x^T) / (sqrt(2) sqrt(K))] (F = 1 + K + K^2)"),
            new("normalize", "bool", "false", "divide out_t by den_t = sum_{s<=t} scale phi(q_t).phi(k_s) + eps (fla's normalize_output)"),
            new("scale", "double", "F^-1/2 (1 for taylor)", "multiplier of phi(q)"),
            new("eps", "double", "1e-10", "added to the normaliser den_t"),
            new("initial_state", "bool", "false", "the input s0 (drawn last) is the state before t = 0"),
            new("return_final_state", "bool", "false", "also the output final_state"),
        ],
        Inputs =
        [
            new("q", "[B, H, L, K]", "queries (raw: phi is applied inside, then scale)"),
            new("k", "[B, H, L, K]", "keys (raw: phi is applied inside)"),
            new("v", "[B, H, L, V]", "values"),
            new("s0", "[B, H, F, V] ([B, H, F, V + 1] = [S | z] when normalising)", "initial state (params.initial_state)", Optional: true),
        ],
        Outputs =
        [
            new("out", "[B, H, L, V]", "o_t = S_t^T (scale phi(q_t)) [/ (scale phi(q_t) . z_t + eps)]"),
            new("final_state", "[B, H, F, V] ([B, H, F, V + 1] = [S | z] when normalising)", "the state after the last step (params.return_final_state)", Optional: true),
        ],
        NaiveEntry = "LinearAttention.Forward(q, k, v, options); cases with an initial or final state: LinearAttention.Recurrent(q, k, v, options, state)",
        Naive = (p, x) =>
        {
            if (!HasState(p)) return NamedTensors.Outputs(("out", Forward(x.Double("q"), x.Double("k"), x.Double("v"), Options(p))));
            var state = StartState(p, x);
            var o = Recurrent(x.Double("q"), x.Double("k"), x.Double("v"), Options(p), state);
            return Flag(p, "return_final_state") ? NamedTensors.Outputs(("out", o), ("final_state", Packed(state, Options(p).Normalize)))
                : NamedTensors.Outputs(("out", o));
        },
        FastEntry = "LinearAttention.ForwardFast<T>(q, k, v, options) (float32, float64; GLA's chunkwise kernel with zero log gates, the normaliser as a value column of ones)",
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastOut<float>(p, x) : FastOut<double>(p, x),
        Forms =
        [
            new("recurrent", "LinearAttention.Recurrent(q, k, v, options) (from s0)",
                (p, x) => NamedTensors.Outputs(("out", Recurrent(x.Double("q"), x.Double("k"), x.Double("v"), Options(p), StartState(p, x)))), "out"),
            new("chunked (C = 8)", "LinearAttention.Chunked(q, k, v, chunk: 8, options) (from s0)",
                (p, x) => NamedTensors.Outputs(("out", Chunked(x.Double("q"), x.Double("k"), x.Double("v"), 8, Options(p), StartState(p, x)))), "out"),
            new("decoding (Step per position)", "LinearAttention.Step(state, q_t, k_t, v_t, options) for t = 0..L-1 from s0 (zeros without)",
                (p, x) => NamedTensors.Outputs(("out", StepByStep(p, x))), "out"),
            new("materialized T v", "LinearAttention.Materialize(q, k, options), then T v per head (HeadOperators.Apply); with s0, the unnormalised " +
                "A v plus the free response S0^T (scale phi(q_t)), divided (when normalising) by A 1 + scale phi(q_t) . z0 + eps",
                (p, x) => NamedTensors.Outputs(("out", MaterializedWithState(p, x))), "out"),
        ],
        // With the normaliser, T = A / den_t row by row: den_t depends on q and k only, so v -> out is
        // still linear and T is exact for normalize = true as well (not only for the unnormalized map);
        // the realization folds 1 / den_t into its readout.
        MaterializeEntry = "LinearAttention.Materialize(q, k, options) [B, H, L, L]: A[t, s] = scale phi(q_t).phi(k_s), divided by den_t when normalize " +
            "(den_t depends on q, k only, so T stays the exact linear map v -> out)",
        Materialize = (p, x) => HeadOperators.PerHead(Materialize(x.Double("q"), x.Double("k"), Options(p))),
        RealizeEntry = "LinearAttention.Realize(q, k, batch, head, options): N = F, a_t = 1, b_t = phi(k_t), c_t = scale phi(q_t) / den_t " +
            "(den_t = 1 unnormalized; with normalize the q, k-dependent den_t folds into the readout)",
        Realize = (p, x) => HeadOperators.ForEachHead(x.Double("q"), (b, h) => Realize(x.Double("q"), x.Double("k"), b, h, Options(p))),
        StepEntry = "LinearAttention.Step(state, qt, kt, vt, options)",
        State = "LinearAttentionState: S [B, H, F, V] and the key sum z [B, H, F] (z read only when normalising)",
        Decoder = (p, inputs, b) =>
        {
            var options = Options(p);
            // From s0 when the inputs carry one (params.initial_state), zeros otherwise.
            var state = inputs.ContainsKey("s0") ? StartState(p, inputs) : new LinearAttentionState(b, p.Int("h"), FeatureDim(options.Map, p.Int("k")), p.Int("v"));
            return new OperatorDecoder(b,
                x => OperatorDecoder.Unsqueeze(Step(state, OperatorDecoder.Squeeze(x, "q", 2), OperatorDecoder.Squeeze(x, "k", 2),
                    OperatorDecoder.Squeeze(x, "v", 2), options), 2),
                () => state.S.Length + state.Z.Length);
        },
        TotalStateSizeFormula = "F per head and value column (F = K for identity, elu1, relu; 1 + K + K^2 for taylor), H F V per layer; " +
            "the normaliser adds the key sum z [F] per head, shared by the V columns",
        TotalStateSize = (p, _, _) => FeatureDim(Options(p).Map, p.Int("k")),
        // The ESS instance: identity map, unnormalized, default scale
        // K^-1/2; q, k ~ N(0, 1) [1, H, L, K] from SplitMix64(seed), in that order; v drawn after them.
        ParameterCount = _ => 0,
        CacheSizeFormula = "H (F V + F): the state S [H, F, V] and the key sum z [H, F], F = K (identity, elu1, relu) or 1 + K + K^2 (taylor); constant in L",
        CacheSize = (p, _) =>
        {
            int k = p.Int("k"), f = Has(p, "map") && p.String("map") == "taylor" ? 1 + k + k * k : k;
            return (long)p.Int("h") * (f * (long)p.Int("v") + f);
        },
        Sample = o =>
        {
            CheckSample(o);
            var rng = new SplitMix64(o.Seed);
            var q = rng.NormalTensor<double>(0, 1, 1, o.Heads, o.Length, o.KeyDim);
            var k = rng.NormalTensor<double>(0, 1, 1, o.Heads, o.Length, o.KeyDim);
            var v = rng.NormalTensor<double>(0, 1, 1, o.Heads, o.Length, o.KeyDim);
            return new OperatorSample(
                Params.Of(("b", 1), ("h", o.Heads), ("l", o.Length), ("k", o.KeyDim), ("v", o.KeyDim), ("map", "identity"), ("normalize", false)),
                new NamedArrays { ["q"] = NpyArray.FromTensor(q), ["k"] = NpyArray.FromTensor(k), ["v"] = NpyArray.FromTensor(v) });
        },
        AutodiffEntry = "AttentionOps.Linear(q, k, v, options) (VJP: LinearAttention.Backward, through phi by FeatureMapBackward)",
        Differentiable = ["q", "k", "v"],
        Autodiff = (p, _, d) => AttentionOps.Linear(d[0], d[1], d[2], Options(p)),
        AccumulationOrder = "A[t, s] = scale * sum_f phi(q_t)[f] phi(k_s)[f] (f ascending); den_t = sum_s A[t, s] (s ascending) + eps; out_t = sum_s (A[t, s] / den_t) v_s (s ascending); taylor phi(x) = [1, x / K^(1/4), vec(x x^T) / (sqrt(2) sqrt(K))]",
        Distribution = CaseInputs.NormalF32 + " (q, k, v)",
        Cases =
        [
            Mapped("identity_1x2_l17_k8", 611, 2, 17, 8, 5, "identity", false),
            Mapped("elu1_norm_2x2_l33_k9", 612, 2, 33, 9, 4, "elu1", true),
            Mapped("relu_1x1_l16_k7", 613, 1, 16, 7, 3, "relu", false),
            Mapped("taylor_norm_1x2_l20_k4", 614, 2, 20, 4, 3, "taylor", true),
            WithStates(Mapped("states_identity_1x2_l19_k5", 615, 2, 19, 5, 4, "identity", false)),
            WithStates(Mapped("states_elu1_norm_1x2_l23_k6", 616, 2, 23, 6, 3, "elu1", true)),
        ],
        DemoCase = "elu1_norm_2x2_l33_k9",
        DrawInputs = (p, rng) =>
        {
            var x = HeadOperators.DrawQkv(p, rng, p.Int("h"));
            if (Flag(p, "initial_state"))
            {
                // s0 ~ N(0, 1) [B, H, F, V (+ 1)]; with the normaliser the key sum z (last column) is |s0| + 1 rounded to
                // float32, positive as a sum of elu + 1 or Taylor features is, so den stays away from 0.
                int f = FeatureDim(Options(p).Map, p.Int("k")), vd = p.Int("v"), width = Options(p).Normalize ? vd + 1 : vd;
                var s0 = CaseInputs.Normal(rng, p.Int("b"), p.Int("h"), f, width).ToTensor<double>();
                if (width > vd)
                    for (int row = 0; row < s0.Length / width; row++)
                        s0.Data[row * width + vd] = (float)(Math.Abs(s0.Data[row * width + vd]) + 1.0);
                x["s0"] = NpyArray.FromTensor(s0);
            }
            return x;
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5, HeadOperators.LongReduction),
    };

    private static NamedArrays FastOut<T>(JsonObject p, NamedArrays x) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var (o, final) = ForwardFast(x.As<T>("q"), x.As<T>("k"), x.As<T>("v"), Options(p), x.Optional<T>("s0"), maxThreads: 1);
        return Flag(p, "return_final_state") ? NamedTensors.Outputs(("out", o), ("final_state", final)) : NamedTensors.Outputs(("out", o));
    }

    /// <summary>The options of params: map (default identity), normalize (false), scale (absent: F^-1/2, 1 for taylor), eps (1e-10).</summary>
    private static LinearAttentionOptions Options(JsonObject p) => new(
        Has(p, "map") ? MapOf(p.String("map")) : FeatureMap.Identity,
        Has(p, "normalize") && p.Bool("normalize"),
        Has(p, "scale") ? p.Double("scale") : null,
        Has(p, "eps") ? p.Double("eps") : new LinearAttentionOptions().Eps);

    private static Tensor<double> StepByStep(JsonObject p, NamedArrays x)
    {
        var options = Options(p);
        var (q, k, v) = (x.Double("q"), x.Double("k"), x.Double("v"));
        var state = StartState(p, x);
        return StepLoop(q, k, v, (qt, kt, vt) => Step(state, qt, kt, vt, options));
    }

    private static ConformanceCase WithStates(ConformanceCase c)
    {
        c.Params["initial_state"] = true;
        c.Params["return_final_state"] = true;
        return c with { Description = c.Description + "; initial state s0 (drawn last), final_state output" };
    }

    /// <summary>
    /// The materialized form: T v, or with an initial state (S0, z0) the unnormalised A v plus the free responses
    /// S0^T (scale phi(q_t)) and, when normalising, the denominator A 1 + z0 . (scale phi(q_t)) + eps, the free
    /// responses computed by the recurrence on zero values from the state.
    /// </summary>
    private static Tensor<double> MaterializedWithState(JsonObject p, NamedArrays x)
    {
        var (q, k, v) = (x.Double("q"), x.Double("k"), x.Double("v"));
        var options = Options(p);
        if (!x.ContainsKey("s0")) return HeadOperators.Apply(Materialize(q, k, options), v);
        var plain = options with { Normalize = false };
        var a = Materialize(q, k, plain);
        var start = StartState(p, x);
        var num = HeadOperators.Apply(a, v);
        var free = Recurrent(q, k, Tensor<double>.Zeros(v.ShapeArray), plain, start);
        for (int i = 0; i < num.Length; i++) num.Data[i] += free.Data[i];
        if (!options.Normalize) return num;
        int b = q.Dim(0), h = q.Dim(1), l = q.Dim(2), vd = v.Dim(3), f = start.Z.Dim(2);
        var den = HeadOperators.Apply(a, Tensor<double>.Full(1.0, b, h, l, 1));
        var zState = new LinearAttentionState(b, h, f, 1);
        StartState(p, x).Z.Data.CopyTo(zState.S.Data, 0);
        var zFree = Recurrent(q, k, Tensor<double>.Zeros(b, h, l, 1), plain, zState);
        for (int row = 0; row < b * h * l; row++)
        {
            double d = den.Data[row] + zFree.Data[row] + options.Eps;
            for (int c = 0; c < vd; c++) num.Data[row * vd + c] /= d;
        }
        return num;
    }

    private static bool Flag(JsonObject p, string key) => Has(p, key) && p.Bool(key);

    private static bool HasState(JsonObject p) => Flag(p, "initial_state") || Flag(p, "return_final_state");

    /// <summary>A state holding s0 ([S | z] when normalising, S otherwise) when the case has one, else zeros.</summary>
    private static LinearAttentionState StartState(JsonObject p, NamedArrays x)
    {
        var (q, v) = (x.Double("q"), x.Double("v"));
        int b = q.Dim(0), h = q.Dim(1), f = FeatureDim(Options(p).Map, q.Dim(3)), vd = v.Dim(3);
        var state = new LinearAttentionState(b, h, f, vd);
        if (!x.ContainsKey("s0")) return state;
        var s0 = x.Double("s0");
        int width = s0.Dim(3);
        for (int row = 0; row < b * h * f; row++)
        {
            s0.Data.AsSpan(row * width, vd).CopyTo(state.S.Data.AsSpan(row * vd));
            if (width > vd) state.Z.Data[row] = s0.Data[row * width + vd];
        }
        return state;
    }

    /// <summary>The state as the fast tier carries it: [S | z] [B, H, F, V + 1] when normalising, S otherwise.</summary>
    private static Tensor<double> Packed(LinearAttentionState state, bool normalize)
    {
        if (!normalize) return state.S;
        int b = state.S.Dim(0), h = state.S.Dim(1), f = state.S.Dim(2), vd = state.S.Dim(3);
        var t = Tensor<double>.Zeros(b, h, f, vd + 1);
        for (int row = 0; row < b * h * f; row++)
        {
            state.S.Data.AsSpan(row * vd, vd).CopyTo(t.Data.AsSpan(row * (vd + 1)));
            t.Data[row * (vd + 1) + vd] = state.Z.Data[row];
        }
        return t;
    }
}
