using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;
using Reference.Operators.Recurrence;
using static Reference.Operators.Attention.AttentionDescriptorHelpers;

namespace Reference.Operators.Attention;

public static partial class DecayedLinearAttention
{
    /// <summary>The registry entry of decayed linear attention ("attention.decayed_linear").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "attention.decayed_linear",
        Version = 1,
        Title = "Decayed linear attention (fixed per-channel decay; RetNet's retention per channel)",
        Paper = "Sun et al., Retentive Network (arXiv:2307.08621), section 2.1 eqs. (1)-(6) (scalar gamma per head); " +
            "the per-channel diagonal generalisation is GLA (arXiv:2312.06635, section 2) with constant gates g_t = log lambda",
        File = "src/Reference.Operators/Attention/DecayedLinearAttention.cs",
        Summary = "linear attention with fixed per-channel decay: out_t = sum_{s<=t} [sum_c scale q_tc k_sc exp((t - s) log_lambda[h, c])] v_s; log_lambda [H, K]",
        Parameters =
        [
            new("b", "int", "-", "batch B"),
            new("h", "int", "-", "heads H"),
            new("l", "int", "-", "length L"),
            new("k", "int", "-", "key dimension K (scale = K^-1/2)"),
            new("v", "int", "-", "value dimension V"),
        ],
        Inputs =
        [
            new("q", "[B, H, L, K]", "queries (scaled by K^-1/2 inside)"),
            new("k", "[B, H, L, K]", "keys"),
            new("v", "[B, H, L, V]", "values"),
            new("log_lambda", "[H, K]", "log decay per head and key channel, log lambda <= 0 (input-invariant: a parameter, not a gate)"),
        ],
        Outputs = [new("out", "[B, H, L, V]", "o_t = S_t^T (scale q_t), S_t = Diag(lambda) S_{t-1} + k_t v_t^T")],
        NaiveEntry = "DecayedLinearAttention.Forward(q, k, v, logLambda)",
        Naive = (_, x) => NamedTensors.Outputs(("out", Forward(x.Double("q"), x.Double("k"), x.Double("v"), x.Double("log_lambda")))),
        Forms =
        [
            new("recurrent", "DecayedLinearAttention.Recurrent(q, k, v, logLambda)",
                (_, x) => NamedTensors.Outputs(("out", Recurrent(x.Double("q"), x.Double("k"), x.Double("v"), x.Double("log_lambda")))), "out"),
            new("chunked (C = 8)", "DecayedLinearAttention.Chunked(q, k, v, logLambda, chunk: 8)",
                (_, x) => NamedTensors.Outputs(("out", Chunked(x.Double("q"), x.Double("k"), x.Double("v"), x.Double("log_lambda"), 8))), "out"),
            new("decoding (Step per position)", "DecayedLinearAttention.Step(state, q_t, k_t, v_t, logLambda) for t = 0..L-1 from GatedLinearAttentionState.Zeros",
                (_, x) => NamedTensors.Outputs(("out", StepByStep(x))), "out"),
            new("materialized T v", "DecayedLinearAttention.Materialize(q, k, logLambda), then T v per head (HeadOperators.Apply)",
                (_, x) => NamedTensors.Outputs(("out", HeadOperators.Apply(Materialize(x.Double("q"), x.Double("k"), x.Double("log_lambda")), x.Double("v")))), "out"),
        ],
        MaterializeEntry = "DecayedLinearAttention.Materialize(q, k, logLambda) [B, H, L, L]: T[t, s] = scale q_t^T Diag(lambda)^(t - s) k_s",
        Materialize = (_, x) => HeadOperators.PerHead(Materialize(x.Double("q"), x.Double("k"), x.Double("log_lambda"))),
        RealizeEntry = "DecayedLinearAttention.Realize(q, k, logLambda, batch, head): a_t = lambda (constant), b_t = k_t, c_t = scale q_t",
        Realize = (_, x) => HeadOperators.ForEachHead(x.Double("q"), (b, h) => Realize(x.Double("q"), x.Double("k"), x.Double("log_lambda"), b, h)),
        StepEntry = "DecayedLinearAttention.Step(state, qt, kt, vt, logLambda)",
        State = "S [B, H, K, V] (GatedLinearAttentionState)",
        Decoder = (p, inputs, b) =>
        {
            var state = GatedLinearAttentionState.Zeros(b, p.Int("h"), p.Int("k"), p.Int("v"));
            var logLambda = inputs.Double("log_lambda");
            return new OperatorDecoder(b,
                x => OperatorDecoder.Unsqueeze(Step(state, OperatorDecoder.Squeeze(x, "q", 2), OperatorDecoder.Squeeze(x, "k", 2),
                    OperatorDecoder.Squeeze(x, "v", 2), logLambda), 2),
                () => state.S.Length);
        },
        TotalStateSizeFormula = "K per head and value column (H K V per layer)",
        TotalStateSize = (p, _, _) => p.Int("k"),
        // No ESS catalog instance today; one in the spirit of the others: q, k ~ N(0, 1) [1, H, L, K]
        // from SplitMix64(seed), in that order, then log_lambda ~ uniform(-1, -0.01) [H, K], then v.
        ParameterCount = p => (long)p.Int("h") * p.Int("k"),
        CacheSizeFormula = "H K V (the state S); constant in L",
        CacheSize = (p, _) => (long)p.Int("h") * p.Int("k") * p.Int("v"),
        Sample = o =>
        {
            CheckSample(o);
            var rng = new SplitMix64(o.Seed);
            var q = rng.NormalTensor<double>(0, 1, 1, o.Heads, o.Length, o.KeyDim);
            var k = rng.NormalTensor<double>(0, 1, 1, o.Heads, o.Length, o.KeyDim);
            var logLambda = rng.UniformTensor<double>(-1, -0.01, o.Heads, o.KeyDim);
            var v = rng.NormalTensor<double>(0, 1, 1, o.Heads, o.Length, o.KeyDim);
            return new OperatorSample(
                Params.Of(("b", 1), ("h", o.Heads), ("l", o.Length), ("k", o.KeyDim), ("v", o.KeyDim)),
                new NamedArrays
                {
                    ["q"] = NpyArray.FromTensor(q), ["k"] = NpyArray.FromTensor(k), ["v"] = NpyArray.FromTensor(v),
                    ["log_lambda"] = NpyArray.FromTensor(logLambda),
                });
        },
        AutodiffEntry = "AttentionOps.DecayedLinear(q, k, v, logLambda) (VJP: DecayedLinearAttention.Backward)",
        Differentiable = ["q", "k", "v", "log_lambda"],
        Constraints = new Dictionary<string, ParameterConstraint> { ["log_lambda"] = ParameterConstraint.NonPositive },
        Autodiff = (_, _, d) => AttentionOps.DecayedLinear(d[0], d[1], d[2], d[3]),
        AccumulationOrder = "T[t, s] = sum_c scale q_tc k_sc exp((t - s) log_lambda_c) (c ascending); out_t = sum_s T[t, s] v_s (s ascending)",
        Distribution = CaseInputs.NormalF32 + " (q, k, v), then log_lambda uniform(-1, -0.01) rounded to float32",
        Cases =
        [
            Mapped("decay_1x2_l17_k8", 621, 2, 17, 8, 5, null, false),
            Mapped("decay_2x1_l40_k9", 622, 1, 40, 9, 3, null, false),
        ],
        DrawInputs = (p, rng) =>
        {
            var x = HeadOperators.DrawQkv(p, rng, p.Int("h"));
            x["log_lambda"] = CaseInputs.Uniform(rng, -1, -0.01, p.Int("h"), p.Int("k"));
            return x;
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5, HeadOperators.LongReduction),
        Without = new Dictionary<string, string>
        {
            ["fast"] = "DecayedLinearAttention.cs has no fast tier (no Fast<T> entry point; only float64 Forward, Recurrent, Chunked, Step), " +
                "so the golden fast and fast32 backends skip attention.decayed_linear (GatedLinearAttention.ChunkedFast<T> with g_t = log_lambda " +
                "for every t computes the same map but is not wired as this op's fast tier)",
        },
    };

    private static Tensor<double> StepByStep(NamedArrays x)
    {
        var (q, k, v, logLambda) = (x.Double("q"), x.Double("k"), x.Double("v"), x.Double("log_lambda"));
        var state = GatedLinearAttentionState.Zeros(q.Dim(0), q.Dim(1), q.Dim(3), v.Dim(3));
        return StepLoop(q, k, v, (qt, kt, vt) => Step(state, qt, kt, vt, logLambda));
    }
}
