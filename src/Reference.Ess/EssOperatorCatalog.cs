// The materialization contract ESS consumes, and seeded random instances of each operator.
//
// Issue 7 item 1 / spec/ess.md "The operator view": every operator yields, for one input, its
// operator matrix T per channel (per head for attention: one matrix per head, not per channel),
// the structural capacity it is compared to (total state size per channel or head at split s), and,
// for operators with an explicit diagonal state, the realization the factored path uses.
//
// Glossary:  Matrices [C, L, L]   T per channel (or head), y[c] = T[c] u[c]
//            Capacity(s)          per-channel TSS at split s (N for SSMs, k - 1 for a short conv,
//                                 d_k for linear attention, min(s, L - s) for softmax attention)
//            Realizations         one DiagonalRealization per channel, or null (dense path only)
// Deliberate choice: instances are random (SplitMix64(seed)) with the paper's initializations so
// the CLI and the demo can show typical ESS profiles; the operator math lives in
// Reference.Operators (or, for the short convolution's Toeplitz matrix, in its one-line definition).

using Reference.Core;

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
    public static IReadOnlyList<string> Names { get; } = ["shortconv"];

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
            _ => throw new ArgumentException($"operator '{name}' is not available; expected one of {string.Join(", ", Names)}.", nameof(name)),
        };
    }

    /// <summary>
    /// Short causal depthwise convolution with k taps (H3/Mamba's conv1d): T[i, j] = h[i - j] for
    /// 0 &lt;= i - j &lt; k, taps h ~ U(-1/sqrt(k), 1/sqrt(k)) (PyTorch's Conv1d init). TSS k - 1 per channel.
    /// </summary>
    private static EssInstance ShortConvolution(EssInstanceOptions o)
    {
        if (o.Taps < 1)
            throw new ArgumentOutOfRangeException(nameof(o), $"Taps = {o.Taps} must be >= 1.");
        var rng = new SplitMix64(o.Seed);
        int l = o.Length;
        var t = Tensor<double>.Zeros(o.Channels, l, l);
        double bound = 1.0 / Math.Sqrt(o.Taps);
        for (int c = 0; c < o.Channels; c++)
        {
            var h = new double[o.Taps];
            rng.FillUniform<double>(h, -bound, bound);
            for (int i = 0; i < l; i++)
                for (int j = Math.Max(0, i - o.Taps + 1); j <= i; j++) t.Data[(c * l + i) * l + j] = h[i - j];
        }
        return new EssInstance("shortconv", t, null, _ => o.Taps - 1,
            new Dictionary<string, object> { ["taps"] = o.Taps });
    }
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
