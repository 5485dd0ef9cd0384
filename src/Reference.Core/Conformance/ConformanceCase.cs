using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core.IO;

namespace Reference.Core.Conformance;

/// <summary>
/// One conformance case of an op: its id, seed, parameters, a sentence, and tags (edge, large,
/// slow, nonunique, ...). The golden set writes one directory per case; the demo and the registry
/// tests replay the same cases in memory.
/// </summary>
public sealed record ConformanceCase(string Id, ulong Seed, JsonObject Params, string Description, params string[] Tags);

/// <summary>Named arrays in a fixed order: a case's inputs or outputs, keyed by their names (each becomes NAME.npy).</summary>
public sealed class NamedArrays : OrderedDictionary<string, NpyArray>
{
    public NamedArrays()
    {
    }

    public NamedArrays(IEnumerable<KeyValuePair<string, NpyArray>> entries) : base(entries)
    {
    }

    /// <summary>The array called <paramref name="name"/>, or an error naming it and the names there are.</summary>
    public NpyArray Get(string name) =>
        TryGetValue(name, out var array) ? array
            : throw new ArgumentException($"input '{name}' is missing; the arrays are {string.Join(", ", Keys)}.", name);
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
public static class CaseInputs
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

    /// <summary>float64 values rounded to float32 and stored as float64 (parameters drawn by an initializer become exact float32 inputs).</summary>
    public static NpyArray RoundedF32(double[] data, int[] shape) => NpyArray.Of(data.Select(v => (double)(float)v).ToArray(), shape);

    /// <summary>A float64 input as the requested precision's element type (float32 inputs are exact by construction).</summary>
    public static T[] As<T>(NpyArray array) where T : unmanaged, IFloatingPointIeee754<T> => array.ToTensor<T>().Data;

    /// <summary>Wraps a fast-tier result as the output array of its precision (&lt;f4 or &lt;f8).</summary>
    public static NpyArray Output<T>(T[] data, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T> =>
        NpyArray.FromTensor(new Tensor<T>(data, shape));
}
