// The materialization contract ESS consumes, and seeded random instances of each operator.
//
// Issue 7 item 1 / spec/ess.md "The operator view": every operator yields, for one input, its
// operator matrix T per channel (per head for attention: one matrix per head, not per channel),
// the structural capacity it is compared to (total state size per channel or head at split s), and,
// for operators with an explicit diagonal state, the realization the factored path uses.
//
// Glossary:  Matrices [C, L, L]   T per channel (or head), y[c] = T[c] u[c]
//            Capacity(s)          per-channel TSS at split s (N for SSMs, k - 1 for a short conv, L - 1 for Hyena,
//                                 d_k for linear attention, min(s, L - s) for softmax attention)
//            Realizations         one DiagonalRealization per channel, or null (dense path only)
// Deliberate choice: instances are random (SplitMix64(seed)) with the paper's initializations so
// the CLI and the demo can show typical ESS profiles; the operator math lives in
// Reference.Operators (or, for the short convolution's Toeplitz matrix, in its one-line definition).

using Reference.Core;
using Reference.Operators;
using Reference.Operators.Attention;
using Reference.Operators.Convolution;
using Reference.Operators.Recurrence;
using Reference.Operators.StateSpace;

namespace Reference.Ess;

/// <summary>What the ESS of one operator instance is computed from.</summary>
/// <param name="Operator">The CLI name (shortconv, s4d, ...).</param>
/// <param name="Matrices">T per channel or head, [C, L, L].</param>
/// <param name="Realizations">Per-channel diagonal realizations (factored path), or null.</param>
/// <param name="Capacity">Per-channel total state size at split s.</param>
/// <param name="Parameters">The instance's settings (reported in outputs).</param>
public sealed record EssInstance(
    string Operator,
    Tensor<double> Matrices,
    IReadOnlyList<DiagonalRealization>? Realizations,
    Func<int, double> Capacity,
    IReadOnlyDictionary<string, object> Parameters);

/// <summary>Settings of a random operator instance (options a given operator does not use are ignored).</summary>
public sealed record EssInstanceOptions(int Length, int Channels = 4, ulong Seed = 0, int Taps = 4, int State = 16,
    string Discretization = "zoh", int Heads = 1, int KeyDim = 16);

/// <summary>Seeded random instances of the operators ESS is defined on, by CLI name.</summary>
public static class EssOperatorCatalog
{
    /// <summary>The operator names this build can instantiate.</summary>
    public static IReadOnlyList<string> Names { get; } = ["shortconv", "longconv", "s4d", "h3", "hyena", "attention", "linear-attention", "gla", "mamba"];

    /// <summary>A random instance of <paramref name="name"/> with the given settings.</summary>
    public static EssInstance Create(string name, EssInstanceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Length < 2)
            throw new ArgumentOutOfRangeException(nameof(options), $"Length = {options.Length} must be >= 2 (ESS needs at least one split).");
        if (options.Channels < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"Channels = {options.Channels} must be >= 1.");
        return name switch
        {
            "shortconv" => ShortConvolution(options),
            "longconv" => LongConvolution(options),
            "s4d" => DiagonalSsm(options),
            "h3" => H3Layer(options),
            "hyena" => HyenaLayer(options),
            "attention" => Attention(options),
            "linear-attention" => LinearAttentionHeads(options),
            "gla" => GatedLinearAttentionHeads(options),
            "mamba" => SelectiveSsm(options),
            _ => throw new ArgumentException($"operator '{name}' is not available; expected one of {string.Join(", ", Names)}.", nameof(name)),
        };
    }

    /// <summary>
    /// Short causal depthwise convolution with k taps (H3/Mamba's conv1d, CausalConvolution):
    /// T[i, j] = h[i - j] for 0 &lt;= i - j &lt; k, taps ~ U(-1/sqrt(k), 1/sqrt(k)) (PyTorch's Conv1d
    /// init). TSS k - 1 per channel.
    /// </summary>
    private static EssInstance ShortConvolution(EssInstanceOptions o)
    {
        if (o.Taps < 1)
            throw new ArgumentOutOfRangeException(nameof(o), $"Taps = {o.Taps} must be >= 1.");
        double bound = 1.0 / Math.Sqrt(o.Taps);
        var taps = new SplitMix64(o.Seed).UniformTensor<double>(-bound, bound, o.Channels, o.Taps);
        return new EssInstance("shortconv", CausalConvolution.Materialize(taps, null, o.Length), null, _ => o.Taps - 1,
            new Dictionary<string, object> { ["taps"] = o.Taps });
    }

    /// <summary>
    /// Long (explicit, length-L) convolution: a random filter h[t] ~ N(0, 1) exp(-t / (L/4)) / sqrt(L)
    /// per channel (a decaying random kernel, as long-conv models learn); capacity min(s, L - s).
    /// </summary>
    private static EssInstance LongConvolution(EssInstanceOptions o)
    {
        var rng = new SplitMix64(o.Seed);
        int l = o.Length;
        var kernel = Tensor<double>.Zeros(o.Channels, l);
        for (int c = 0; c < o.Channels; c++)
            for (int t = 0; t < l; t++) kernel.Data[c * l + t] = rng.Normal() * Math.Exp(-t / (l / 4.0)) / Math.Sqrt(l);
        return new EssInstance("longconv", CausalConvolution.Materialize(kernel, null, l), null, s => Math.Min(s, l - s),
            new Dictionary<string, object> { ["kernel_length"] = l });
    }

    /// <summary>
    /// S4D (diagonal LTI SSM, S4D-Lin init, ZOH or bilinear) with real state size N per channel:
    /// dense T from S4D.Materialize and the complex-mode realization S4D.Realize for the factored
    /// path. TSS N per channel.
    /// </summary>
    private static EssInstance DiagonalSsm(EssInstanceOptions o)
    {
        var method = ParseDiscretization(o.Discretization);
        if (o.State < 2 || o.State % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(o), $"State = {o.State} must be even and >= 2 (N/2 complex modes).");
        var p = S4DParameters.Initialize(new SplitMix64(o.Seed), o.Channels, o.State, S4DInit.Lin);
        var realizations = Enumerable.Range(0, o.Channels)
            .Select(c => S4D.Realize(p, c, o.Length, method)).ToArray();
        return new EssInstance("s4d", S4D.Materialize(p, o.Length, method), realizations, _ => o.State,
            new Dictionary<string, object> { ["state"] = o.State, ["discretization"] = o.Discretization, ["init"] = "S4D-Lin" });
    }

    /// <summary>
    /// H3 layer (head dim 1, model width C) on a random input u ~ N(0, 1) [L, C]: the gated operator
    /// diag(q) T_ssm diag(kbar) per channel from H3.Materialize. TSS N per channel (the diagonal SSM's
    /// real state; the shift SSM feeds kbar, which is an input of the gate).
    /// </summary>
    private static EssInstance H3Layer(EssInstanceOptions o)
    {
        var method = ParseDiscretization(o.Discretization);
        if (o.State < 2 || o.State % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(o), $"State = {o.State} must be even and >= 2 (N/2 complex modes).");
        var rng = new SplitMix64(o.Seed);
        var p = H3Parameters.Initialize(rng, o.Channels, headDim: 1, stateSize: o.State, method: method);
        var u = rng.NormalTensor<double>(0, 1, o.Length, o.Channels);
        return new EssInstance("h3", H3.Materialize(p, u), null, _ => o.State,
            new Dictionary<string, object> { ["state"] = o.State, ["discretization"] = o.Discretization, ["head_dim"] = 1 });
    }

    /// <summary>
    /// Hyena operator of order 2 (model width C, filter MLP width 64, safari init) on a random input
    /// u ~ N(0, 1) [L, C]: the gated long convolution diag(x_0) T_h diag(x_1) per channel from
    /// Hyena.Materialize. TSS L - 1 per channel (spec/ess.md, gated convolution row, long filters:
    /// the implicit filter spans the whole sequence, so a recurrence realizing it carries L - 1 past
    /// inputs; the split bound min(s, L - s) on rank(H_s) is tighter at every split but is not a state size).
    /// </summary>
    private static EssInstance HyenaLayer(EssInstanceOptions o)
    {
        var rng = new SplitMix64(o.Seed);
        var p = HyenaParameters.Initialize(rng, o.Channels, o.Length);
        var u = rng.NormalTensor<double>(0, 1, o.Length, o.Channels);
        return new EssInstance("hyena", Hyena.Materialize(p, u), null, _ => o.Length - 1,
            new Dictionary<string, object> { ["order"] = p.Order, ["filter_width"] = p.FilterWidth, ["embedding_dim"] = p.EmbeddingDim });
    }

    /// <summary>
    /// Causal softmax attention with H heads of key dim d_k on random q, k ~ N(0, 1) [1, H, L, d_k]:
    /// one operator matrix per head from SoftmaxAttention.Materialize (the channels of a head share
    /// it). Capacity min(s, L - s) per head (the KV cache grows with s).
    /// </summary>
    private static EssInstance Attention(EssInstanceOptions o)
    {
        if (o.Heads < 1)
            throw new ArgumentOutOfRangeException(nameof(o), $"Heads = {o.Heads} must be >= 1.");
        if (o.KeyDim < 1)
            throw new ArgumentOutOfRangeException(nameof(o), $"KeyDim = {o.KeyDim} must be >= 1.");
        var rng = new SplitMix64(o.Seed);
        int l = o.Length;
        var q = rng.NormalTensor<double>(0, 1, 1, o.Heads, l, o.KeyDim);
        var k = rng.NormalTensor<double>(0, 1, 1, o.Heads, l, o.KeyDim);
        var t = SoftmaxAttention.Materialize(q, k).Reshape(o.Heads, l, l);
        return new EssInstance("attention", t, null, s => Math.Min(s, l - s),
            new Dictionary<string, object> { ["heads"] = o.Heads, ["key_dim"] = o.KeyDim });
    }

    /// <summary>
    /// Linear attention (identity feature map, unnormalized) with H heads on random q, k ~ N(0, 1)
    /// [1, H, L, d_k]: T per head from LinearAttention.Materialize, the realization (a_t = 1, b_t = k_t,
    /// c_t = scale q_t) from LinearAttention.Realize. TSS d_k per head and value column.
    /// </summary>
    private static EssInstance LinearAttentionHeads(EssInstanceOptions o)
    {
        var (q, k) = RandomQueriesAndKeys(o);
        var t = LinearAttention.Materialize(q, k).Reshape(o.Heads, o.Length, o.Length);
        var realizations = Enumerable.Range(0, o.Heads).Select(h => LinearAttention.Realize(q, k, 0, h)).ToArray();
        return new EssInstance("linear-attention", t, realizations, _ => o.KeyDim,
            new Dictionary<string, object> { ["heads"] = o.Heads, ["key_dim"] = o.KeyDim, ["feature_map"] = "identity" });
    }

    /// <summary>
    /// Gated linear attention with H heads: q, k ~ N(0, 1), log-sigmoid gates from x ~ N(0, 1)
    /// (GatedLinearAttention.LogSigmoidGate, the paper's normalizer). T per head from
    /// GatedLinearAttention.Materialize, the realization (a_t = exp(g_t)) from Realize. TSS d_k.
    /// </summary>
    private static EssInstance GatedLinearAttentionHeads(EssInstanceOptions o)
    {
        var (q, k) = RandomQueriesAndKeys(o);
        var g = GatedLinearAttention.LogSigmoidGate(new SplitMix64(o.Seed ^ 0x9E3779B97F4A7C15UL).NormalTensor<double>(0, 1, 1, o.Heads, o.Length, o.KeyDim));
        var t = GatedLinearAttention.Materialize(q, k, g).Reshape(o.Heads, o.Length, o.Length);
        var realizations = Enumerable.Range(0, o.Heads).Select(h => GatedLinearAttention.Realize(q, k, g, 0, h)).ToArray();
        return new EssInstance("gla", t, realizations, _ => o.KeyDim,
            new Dictionary<string, object> { ["heads"] = o.Heads, ["key_dim"] = o.KeyDim, ["gate"] = "logsigmoid" });
    }

    /// <summary>
    /// Mamba's selective SSM (S6) on C channels with N state lanes: u ~ N(0, 1), delta ~ N(-2.5, 1)
    /// before the softplus (steps around 0.01-0.5), A from Mamba's S4D-Real init (A_log = log(1..N)),
    /// B, C ~ N(0, 1) in one group, no gate or skip. T per channel from SelectiveScan.Materialize,
    /// the realization (a_t = exp(Delta_t A), b_t = Delta_t B_t, c_t = C_t) from Realize. TSS N.
    /// </summary>
    private static EssInstance SelectiveSsm(EssInstanceOptions o)
    {
        if (o.State < 1)
            throw new ArgumentOutOfRangeException(nameof(o), $"State = {o.State} must be >= 1.");
        var rng = new SplitMix64(o.Seed);
        var p = new SelectiveScanInputs<double>(
            rng.NormalTensor<double>(0, 1, 1, o.Channels, o.Length), rng.NormalTensor<double>(-2.5, 1, 1, o.Channels, o.Length),
            SelectiveScan.InitialALog(o.Channels, o.State),
            rng.NormalTensor<double>(0, 1, 1, 1, o.State, o.Length), rng.NormalTensor<double>(0, 1, 1, 1, o.State, o.Length));
        var t = SelectiveScan.Materialize(p).Reshape(o.Channels, o.Length, o.Length);
        var realizations = Enumerable.Range(0, o.Channels).Select(c => SelectiveScan.Realize(p, 0, c)).ToArray();
        return new EssInstance("mamba", t, realizations, _ => o.State,
            new Dictionary<string, object> { ["state"] = o.State, ["delta_mean"] = -2.5, ["init"] = "S4D-Real" });
    }

    private static (Tensor<double> Q, Tensor<double> K) RandomQueriesAndKeys(EssInstanceOptions o)
    {
        if (o.Heads < 1)
            throw new ArgumentOutOfRangeException(nameof(o), $"Heads = {o.Heads} must be >= 1.");
        var rng = new SplitMix64(o.Seed);
        return (rng.NormalTensor<double>(0, 1, 1, o.Heads, o.Length, o.KeyDim), rng.NormalTensor<double>(0, 1, 1, o.Heads, o.Length, o.KeyDim));
    }

    private static Discretization ParseDiscretization(string name) => name switch
    {
        "zoh" => Discretization.Zoh,
        "bilinear" => Discretization.Bilinear,
        _ => throw new ArgumentOutOfRangeException(nameof(name), $"discretization '{name}' must be zoh or bilinear."),
    };
}

/// <summary>ESS of an <see cref="EssInstance"/>: per channel and split, with the aggregates the CLI reports.</summary>
/// <param name="Splits">The splits s.</param>
/// <param name="PerChannel">ESS [C, S].</param>
/// <param name="Mean">Mean over channels per split [S].</param>
/// <param name="Capacity">Per-channel TSS per split [S].</param>
/// <param name="Factored">Whether the factored path computed it.</param>
public sealed record EssProfile(int[] Splits, Tensor<double> PerChannel, double[] Mean, double[] Capacity, bool Factored)
{
    /// <summary>Computes the profile (factored path when the instance has realizations, dense otherwise).</summary>
    public static EssProfile Of(EssInstance instance, EssOptions options, int[]? splits = null, int maxThreads = 0)
    {
        ArgumentNullException.ThrowIfNull(instance);
        int length = instance.Matrices.Dim(-1);
        splits ??= EffectiveStateSize.AllSplits(length);
        bool factored = instance.Realizations is not null;
        var perChannel = factored
            ? FactoredEss.Compute(instance.Realizations!, options, splits, maxThreads)
            : EffectiveStateSize.Compute(instance.Matrices, options, splits, maxThreads);
        var mean = EssReducers.MeanOverChannels(perChannel).Data;
        var capacity = splits.Select(instance.Capacity).ToArray();
        return new EssProfile(splits, perChannel, mean, capacity, factored);
    }

    /// <summary>Mean ESS over channels and splits.</summary>
    public double MeanEss => Mean.Length == 0 ? 0 : Mean.Average();

    /// <summary>Max ESS over channels and splits.</summary>
    public double MaxEss => PerChannel.Length == 0 ? 0 : PerChannel.Data.Max();

    /// <summary>Mean over splits of mean ESS / per-channel TSS (splits with zero capacity skipped).</summary>
    public double Utilization
    {
        get
        {
            var ratios = Mean.Zip(Capacity).Where(p => p.Second > 0).Select(p => p.First / p.Second).ToArray();
            return ratios.Length == 0 ? 0 : ratios.Average();
        }
    }
}
