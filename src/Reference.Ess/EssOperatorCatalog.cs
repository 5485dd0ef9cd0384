// The operators ESS is computed on: every registered operator with an operator view.
//
// docs/ess.md, "The operator view": every operator yields, for one input, its operator
// matrix T per channel (per head for attention: one matrix per head, not per channel), the
// structural capacity it is compared to (total state size per channel or head at split s), and,
// for operators with an explicit diagonal state, the realization the factored path uses. All of it
// comes from the operator's registry descriptor (Sample, Materialize, Realize, TotalStateSize):
// the seeded instances use each paper's initialization so the CLI and the demo show typical
// profiles, and nothing here repeats an operator.

using Reference.Core;
using Reference.Operators;

namespace Reference.Ess;

/// <summary>What the ESS of one operator instance is computed from.</summary>
/// <param name="Operator">The registered name (e.g. recurrence.gla).</param>
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

/// <summary>Seeded random instances of the registered operators that have an operator view, by registered name.</summary>
public static class EssOperatorCatalog
{
    /// <summary>The registered operators ESS can be computed on (causal, with a sample, a materialized operator and a TSS formula).</summary>
    public static IReadOnlyList<string> Names =>
        [.. OperatorRegistry.All.Where(d => d.Causal && d.Sample is not null && d.Materialize is not null && d.TotalStateSize is not null).Select(d => d.Name)];

    /// <summary>A random instance of <paramref name="name"/> with the given settings.</summary>
    public static EssInstance Create(string name, SampleOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Length < 2)
            throw new ArgumentOutOfRangeException(nameof(options), $"Length = {options.Length} must be >= 2 (ESS needs at least one split).");
        if (options.Channels < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"Channels = {options.Channels} must be >= 1.");
        if (!Names.Contains(name))
            throw new ArgumentException($"operator '{name}' is not available; expected one of {string.Join(", ", Names)}.", nameof(name));
        var d = OperatorRegistry.Get(name);
        var sample = d.Sample!(options);
        var matrices = d.Materialize!(sample.Params, sample.Inputs);
        var realizations = d.Realize?.Invoke(sample.Params, sample.Inputs);
        int length = options.Length;
        var parameters = sample.Params.ToDictionary(p => p.Key, p => Plain(p.Value));
        return new EssInstance(name, matrices, realizations, s => d.TotalStateSize!(sample.Params, s, length), parameters);
    }

    private static object Plain(System.Text.Json.Nodes.JsonNode? node) => node switch
    {
        System.Text.Json.Nodes.JsonValue v when v.TryGetValue<int>(out var i) => i,
        System.Text.Json.Nodes.JsonValue v when v.TryGetValue<double>(out var x) => x,
        System.Text.Json.Nodes.JsonValue v when v.TryGetValue<bool>(out var b) => b,
        System.Text.Json.Nodes.JsonValue v when v.TryGetValue<string>(out var t) => t,
        _ => node?.ToJsonString() ?? "null",
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
    /// <summary>
    /// Computes the profile (factored path when the instance has realizations, dense otherwise);
    /// <paramref name="progress"/> gets (done, total) work items from the worker threads.
    /// </summary>
    public static EssProfile Of(EssInstance instance, EssOptions options, int[]? splits = null, int maxThreads = 0, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(instance);
        int length = instance.Matrices.Dim(-1);
        splits ??= EffectiveStateSize.AllSplits(length);
        bool factored = instance.Realizations is not null;
        var perChannel = factored
            ? FactoredEss.Compute(instance.Realizations!, options, splits, maxThreads, progress)
            : EffectiveStateSize.Compute(instance.Matrices, options, splits, maxThreads, progress);
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
