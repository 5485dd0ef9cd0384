using System.Text.Json.Nodes;

namespace Reference.Golden.Backends;

/// <summary>
/// A backend under test: anything that can run an op by name on NPY-shaped inputs. The naive and
/// fast tiers implement it in-process, <see cref="ProcessBackend"/> lets any language take part
/// through NPY directories, and a GPU path will be one more implementation.
/// </summary>
public interface IGoldenBackend
{
    /// <summary>The name `--backend` selects it by.</summary>
    string Name { get; }

    /// <summary>The precision whose tolerance applies; null: inferred per output (a float32 candidate gets the float32 bound).</summary>
    Precision? Precision { get; }

    /// <summary>Whether the backend implements the op at all (an unsupported op is skipped, not failed).</summary>
    bool Supports(string op);

    /// <summary>Runs the op; the result holds one array per output name of the case. Throws <see cref="NotSupportedException"/> to skip.</summary>
    NamedArrays Run(BackendRequest request);
}

/// <summary>
/// One case as a backend sees it: the op, its parameters, the inputs, the output names expected
/// back and, when known, each output's element count (what the manifest declares; a process
/// backend refuses output files larger than that implies).
/// </summary>
public sealed record BackendRequest(string Op, int OpVersion, string CaseId, JsonObject Params, NamedArrays Inputs, IReadOnlyList<string> OutputNames,
    IReadOnlyDictionary<string, long>? OutputElements = null)
{
    public static BackendRequest For(GoldenManifest m, NamedArrays inputs) =>
        new(m.Op, m.OpVersion, m.CaseId, m.Params, inputs, [.. m.Outputs.Select(o => o.Name)],
            m.Outputs.ToDictionary(o => o.Name, o => o.Shape.Aggregate(1L, (n, d) => n * d)));
}

/// <summary>The project's own tiers as backends: naive (float64 definition), fast (float64) and fast32.</summary>
public sealed class TierBackend : IGoldenBackend
{
    private readonly bool naive;

    private TierBackend(string name, bool naive, Precision precision)
    {
        Name = name;
        this.naive = naive;
        Precision = precision;
    }

    public static TierBackend NaiveTier { get; } = new("naive", true, Core.Conformance.Precision.Float64);

    public static TierBackend Fast64 { get; } = new("fast", false, Core.Conformance.Precision.Float64);

    public static TierBackend Fast32 { get; } = new("fast32", false, Core.Conformance.Precision.Float32);

    public string Name { get; }

    public Precision? Precision { get; }

    public bool Supports(string op) => GoldenRegistry.Find(op) is { } o && (naive || o.Fast is not null);

    public NamedArrays Run(BackendRequest request)
    {
        var definition = GoldenRegistry.Find(request.Op) ?? throw new NotSupportedException($"op '{request.Op}' is not registered in this build.");
        if (definition.Version != request.OpVersion)
            throw new NotSupportedException($"this build implements {request.Op} version {definition.Version}, the case is version {request.OpVersion}.");
        if (naive) return definition.Naive(request.Params, request.Inputs);
        if (definition.Fast is null) throw new NotSupportedException($"op '{request.Op}' has no fast tier.");
        return definition.Fast(request.Params, request.Inputs, Precision!.Value);
    }
}

public static class Backends
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Func<IGoldenBackend>> Registered = new();

    /// <summary>The names --backend accepts (registered backends, such as the CUDA path's cuda and cuda64, included).</summary>
    public static string Help => string.Join(" | ", new[] { "naive", "fast", "fast32" }.Concat(Registered.Keys.Order(StringComparer.Ordinal)).Append("process:<command>"));

    /// <summary>
    /// Adds a backend that lives above this assembly (Reference.Cuda registers cuda and cuda64 this
    /// way, keeping ILGPU out of the oracle's dependencies); registering a name again replaces it.
    /// </summary>
    public static void Register(string name, Func<IGoldenBackend> factory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(factory);
        if (name is "naive" or "fast" or "fast32" || name.StartsWith("process:", StringComparison.Ordinal))
            throw new ArgumentException($"backend name '{name}' is built in.", nameof(name));
        Registered[name] = factory;
    }

    /// <summary>
    /// Resolves a --backend value (ArgumentException for an unknown name; BackendUnavailableException
    /// when it cannot run); <paramref name="timeout"/> limits each case of a process backend
    /// (default <see cref="ProcessBackend.DefaultTimeout"/>).
    /// </summary>
    public static IGoldenBackend Resolve(string spec, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.StartsWith("process:", StringComparison.Ordinal)) return ProcessBackend.Create(spec["process:".Length..], timeout);
        return spec switch
        {
            "naive" => TierBackend.NaiveTier,
            "fast" => TierBackend.Fast64,
            "fast32" => TierBackend.Fast32,
            _ when Registered.TryGetValue(spec, out var factory) => factory(),
            _ => throw new ArgumentException($"backend '{spec}' is not one of {Help}.", nameof(spec)),
        };
    }
}
