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
        ],
        Inputs =
        [
            new("q", "[B, H, L, K]", "queries (raw: phi is applied inside, then scale)"),
            new("k", "[B, H, L, K]", "keys (raw: phi is applied inside)"),
            new("v", "[B, H, L, V]", "values"),
        ],
        Outputs = [new("out", "[B, H, L, V]", "o_t = S_t^T (scale phi(q_t)) [/ (scale phi(q_t) . z_t + eps)]")],
        NaiveEntry = "LinearAttention.Forward(q, k, v, options)",
        Naive = (p, x) => NamedTensors.Outputs(("out", Forward(x.Double("q"), x.Double("k"), x.Double("v"), Options(p)))),
        Forms =
        [
            new("recurrent", "LinearAttention.Recurrent(q, k, v, options)",
                (p, x) => NamedTensors.Outputs(("out", Recurrent(x.Double("q"), x.Double("k"), x.Double("v"), Options(p)))), "out"),
            new("chunked (C = 8)", "LinearAttention.Chunked(q, k, v, chunk: 8, options)",
                (p, x) => NamedTensors.Outputs(("out", Chunked(x.Double("q"), x.Double("k"), x.Double("v"), 8, Options(p)))), "out"),
            new("decoding (Step per position)", "LinearAttention.Step(state, q_t, k_t, v_t, options) for t = 0..L-1 from a zero LinearAttentionState",
                (p, x) => NamedTensors.Outputs(("out", StepByStep(p, x))), "out"),
            new("materialized T v", "LinearAttention.Materialize(q, k, options), then T v per head (HeadOperators.Apply)",
                (p, x) => NamedTensors.Outputs(("out", HeadOperators.Apply(Materialize(x.Double("q"), x.Double("k"), Options(p)), x.Double("v")))), "out"),
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
        Decoder = (p, _, b) =>
        {
            var options = Options(p);
            var state = new LinearAttentionState(b, p.Int("h"), FeatureDim(options.Map, p.Int("k")), p.Int("v"));
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
        ],
        DemoCase = "elu1_norm_2x2_l33_k9",
        DrawInputs = (p, rng) => HeadOperators.DrawQkv(p, rng, p.Int("h")),
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5, HeadOperators.LongReduction),
        Without = new Dictionary<string, string>
        {
            ["fast"] = "LinearAttention.cs has no fast tier (no Fast<T> entry point; only float64 Forward, Recurrent, Chunked, Step), " +
                "so the golden fast and fast32 backends skip attention.linear",
        },
    };

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
        var state = new LinearAttentionState(q.Dim(0), q.Dim(1), FeatureDim(options.Map, q.Dim(3)), v.Dim(3));
        return StepLoop(q, k, v, (qt, kt, vt) => Step(state, qt, kt, vt, options));
    }
}
