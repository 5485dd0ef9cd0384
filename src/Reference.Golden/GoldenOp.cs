using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.IO;

namespace Reference.Golden;

/// <summary>One committed case of an op: its id, seed, parameters, a sentence, and tags (edge, large, slow, nonunique, ...).</summary>
public sealed record GoldenCaseSpec(string Id, ulong Seed, JsonObject Params, string Description, params string[] Tags);

/// <summary>
/// Everything the golden machinery needs to know about one op. An operator adds itself with one
/// file defining a <see cref="GoldenOp"/> (see Ops/GemmGolden.cs) and one line in
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

    public required IReadOnlyList<GoldenCaseSpec> Cases { get; init; }

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
}

/// <summary>Reading parameters with errors that name the parameter (ArgumentException).</summary>
public static class Params
{
    public static JsonObject Of(params (string Key, JsonNode? Value)[] entries)
    {
        var o = new JsonObject();
        foreach (var (key, value) in entries) o[key] = value;
        return o;
    }

    public static int Int(this JsonObject p, string key) =>
        p[key] is JsonValue v && v.TryGetValue<int>(out var n) ? n : throw Missing(p, key, "an integer");

    public static double Double(this JsonObject p, string key) =>
        p[key] is JsonValue v && v.TryGetValue<double>(out var d) ? d : throw Missing(p, key, "a number");

    public static bool Bool(this JsonObject p, string key) =>
        p[key] is JsonValue v && v.TryGetValue<bool>(out var b) ? b : throw Missing(p, key, "true or false");

    public static string String(this JsonObject p, string key) =>
        p[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw Missing(p, key, "a string");

    private static ArgumentException Missing(JsonObject p, string key, string expected) =>
        new($"params.{key} must be {expected}, found {(p.ContainsKey(key) ? p[key]?.ToJsonString() ?? "null" : "nothing")}.", key);
}

/// <summary>Input arrays drawn from SplitMix64 in a documented way (golden/README.md repeats it).</summary>
public static class GoldenInputs
{
    /// <summary>The distribution sentence for <see cref="Normal"/>.</summary>
    public const string NormalF32 =
        "normal(0, 1) by SplitMix64 Box-Muller (golden/README.md), each draw rounded to float32 and stored as float64, row-major, arrays drawn in input order";

    /// <summary>
    /// Standard normal draws rounded to float32 and stored as float64: a float32 backend then
    /// reads exactly the values the float64 definition used, so its error is its own arithmetic.
    /// </summary>
    public static NpyArray Normal(SplitMix64 rng, params int[] shape)
    {
        var data = new double[Shapes.ElementCount(shape, nameof(shape))];
        for (int i = 0; i < data.Length; i++) data[i] = (float)rng.Normal();
        return NpyArray.Of(data, shape);
    }

    /// <summary>Uniform draws in [low, high) rounded to float32, stored as float64.</summary>
    public static NpyArray Uniform(SplitMix64 rng, double low, double high, params int[] shape)
    {
        var data = new double[Shapes.ElementCount(shape, nameof(shape))];
        for (int i = 0; i < data.Length; i++) data[i] = (float)rng.Uniform(low, high);
        return NpyArray.Of(data, shape);
    }

    /// <summary>A float64 input as the requested precision's element type (float32 inputs are exact by construction).</summary>
    public static T[] As<T>(NpyArray array) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> => array.ToTensor<T>().Data;

    /// <summary>Wraps a fast-tier result as the output array of its precision (&lt;f4 or &lt;f8).</summary>
    public static NpyArray Output<T>(T[] data, params int[] shape) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> =>
        NpyArray.FromTensor(new Tensor<T>(data, shape));
}
