using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.IO;
using Reference.Operators;

namespace Reference.Golden;

/// <summary>
/// Everything the golden machinery needs to know about one op. A registered sequence operator
/// comes from its <see cref="OperatorDescriptor"/> (<see cref="From"/>); the kernels below the
/// operators (GEMM, FFT, activations, ESS) define a <see cref="GoldenOp"/> in Ops/ and add it to
/// <see cref="GoldenRegistry"/>: how to draw the inputs from a seed, the naive definition that
/// produces the golden outputs, optionally the fast tier, and a tolerance per output.
/// Input and output names must differ (each becomes NAME.npy in the case directory).
/// </summary>
public sealed class GoldenOp
{
    /// <summary>Stable dotted name, e.g. "linalg.gemm" (the directory under golden/).</summary>
    public required string Name { get; init; }

    /// <summary>Bumped when the op's definition or parameter meaning changes.</summary>
    public required int Version { get; init; }

    /// <summary>One line: what the op computes, with its shapes.</summary>
    public required string Summary { get; init; }

    /// <summary>The naive tier's documented summation order (written into every manifest).</summary>
    public required string AccumulationOrder { get; init; }

    /// <summary>How <see cref="Inputs"/> turns the seed into arrays, precisely enough to redo it in Python.</summary>
    public required string Distribution { get; init; }

    public required IReadOnlyList<ConformanceCase> Cases { get; init; }

    /// <summary>Draws the inputs of a case from a generator seeded with the case's seed.</summary>
    public required Func<JsonObject, SplitMix64, NamedArrays> Inputs { get; init; }

    /// <summary>The definition: float64 naive tier. Golden outputs come only from here.</summary>
    public required Func<JsonObject, NamedArrays, NamedArrays> Naive { get; init; }

    /// <summary>The fast tier at the given precision (null: the fast backend skips the op).</summary>
    public Func<JsonObject, NamedArrays, Precision, NamedArrays>? Fast { get; init; }

    /// <summary>The tolerance of an output given the case's parameters.</summary>
    public required Func<JsonObject, string, Tolerance> Tolerance { get; init; }

    /// <summary>Canonicalization hint per output ("none" unless the output is non-unique).</summary>
    public Func<string, string> Canonicalization { get; init; } = _ => "none";

    /// <summary>The parameters the op reads, with type, default and meaning (a registered operator's descriptor states them); null: see <see cref="ParameterList"/>.</summary>
    public IReadOnlyList<OperatorParameter>? Parameters { get; init; }

    /// <summary>
    /// The declared parameters, or, for a kernel op that declares none, the keys its cases use:
    /// type from the JSON values, default "-" when every case gives the key (required), otherwise
    /// "(case-dependent)".
    /// </summary>
    public IReadOnlyList<OperatorParameter> ParameterList()
    {
        if (Parameters is not null) return Parameters;
        var keys = Cases.SelectMany(c => c.Params.Select(kv => kv.Key)).Distinct().ToList();
        return [.. keys.Select(key =>
        {
            var values = Cases.Where(c => c.Params.ContainsKey(key)).Select(c => c.Params[key]).ToList();
            string type = values.Select(TypeOf).Distinct().Aggregate((a, b) => a == "int" && b == "float" || a == "float" && b == "int" ? "float" : a == b ? a : $"{a}|{b}");
            string seen = string.Join(", ", values.Select(v => v?.ToJsonString() ?? "null").Distinct().Take(6));
            return new OperatorParameter(key, type, values.Count == Cases.Count ? "-" : "(case-dependent)", $"values in the cases: {seen}");
        })];
    }

    private static string TypeOf(System.Text.Json.Nodes.JsonNode? node) => node?.GetValueKind() switch
    {
        System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False => "bool",
        System.Text.Json.JsonValueKind.String => "string",
        System.Text.Json.JsonValueKind.Number => node.AsValue().TryGetValue<int>(out _) ? "int" : "float",
        System.Text.Json.JsonValueKind.Array => "array",
        System.Text.Json.JsonValueKind.Object => "object",
        _ => "null",
    };

    /// <summary>The golden op of a registered operator: its descriptor carries the cases, the definition and the fast tier.</summary>
    public static GoldenOp From(OperatorDescriptor d)
    {
        ArgumentNullException.ThrowIfNull(d);
        return new()
        {
            Name = d.Name,
            Version = d.Version,
            Summary = d.Summary,
            AccumulationOrder = d.AccumulationOrder,
            Distribution = d.Distribution,
            Cases = d.Cases,
            Inputs = d.DrawInputs,
            Naive = d.Naive,
            Fast = d.Fast,
            Tolerance = d.Tolerance,
            Canonicalization = d.Canonicalization,
            Parameters = d.Parameters,
        };
    }
}

