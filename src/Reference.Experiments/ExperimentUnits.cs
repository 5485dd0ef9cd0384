// The units of an experiment: one trained and measured model (or one seed of a multi-model
// measurement) is a unit, the experiments' grids are lists of units, and this file runs them.
//   - Workers: independent units run on `ExperimentOptions.ThreadCount` workers, each unit with its
//     kernels capped at one thread (KernelThreads.Limit(1)), so a unit's numbers do not depend on how
//     many workers ran beside it; results come back in the order of the keys, whatever finished first.
//   - Checkpoint: every finished unit is written atomically to OUT/units/KEY.json with the settings
//     that produced it; `--resume` reads the finished units back and computes only the missing ones.
//     Doubles are written shortest-round-trip (NaN and infinities as named literals), so a resumed
//     run reports bit for bit what an uninterrupted run reports. A unit written under other settings
//     is refused (one clear error), never mixed in silently.
using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Reference.Core;
using Reference.Core.IO;
using Reference.Models;

namespace Reference.Experiments;

/// <summary>Where an experiment's finished units are written, and whether finished ones are read back.</summary>
/// <param name="Directory">OUT/units.</param>
/// <param name="Settings">Everything besides the key that decides a unit's numbers (preset, budget scale, the grid), as text.</param>
/// <param name="Resume">Read finished units back instead of recomputing them.</param>
public sealed record UnitCheckpoint(string Directory, string Settings, bool Resume)
{
    public const string Folder = "units";

    /// <summary>The checkpoint of <paramref name="experiment"/> under <paramref name="options"/>, fingerprinted by <paramref name="settings"/> (serialized to JSON).</summary>
    public static UnitCheckpoint For(ExperimentOptions options, string experiment, object settings)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(settings);
        var fingerprint = new JsonObject
        {
            ["experiment"] = experiment,
            ["preset"] = options.Preset.ToString().ToLowerInvariant(),
            ["budget_scale"] = options.BudgetScale,
            ["settings"] = JsonSerializer.SerializeToNode(settings, settings.GetType(), ExperimentUnits.Json),
        };
        return new UnitCheckpoint(Path.Combine(options.OutputDirectory, Folder), fingerprint.ToJsonString(), options.Resume);
    }
}

/// <summary>Runs the units of an experiment on several workers, with a checkpoint per finished unit.</summary>
public static class ExperimentUnits
{
    /// <summary>The serializer of unit files: fields too (tuples), NaN and infinities as named literals.</summary>
    public static JsonSerializerOptions Json { get; } = new()
    {
        IncludeFields = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>
    /// Computes <paramref name="compute"/>(i) for every key i (keys unique; letters, digits, '.', '_', '-'
    /// and '+' only) on <paramref name="workers"/> workers, each unit's kernels on one thread, and returns
    /// the results in key order. With a <paramref name="checkpoint"/>, each finished unit is written to
    /// it and, when resuming, finished units are read back instead of computed. Cancellation stops the
    /// workers between units (finished units stay written) and then throws OperationCanceledException.
    /// </summary>
    public static T[] Run<T>(IReadOnlyList<string> keys, Func<int, CancellationToken, T> compute, int workers, UnitCheckpoint? checkpoint,
        IProgress<string>? progress, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(compute);
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers), $"workers = {workers}; expected >= 1.");
        if (keys.Distinct().Count() != keys.Count) throw new ArgumentException("unit keys must be unique.", nameof(keys));
        foreach (var key in keys)
            if (key.Length == 0 || !key.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '+'))
                throw new ArgumentException($"unit key '{key}' must be non-empty letters, digits, '.', '_', '-' or '+'.", nameof(keys));
        var results = new T[keys.Count];
        var done = new bool[keys.Count];
        if (checkpoint is not null)
        {
            Directory.CreateDirectory(checkpoint.Directory);
            if (checkpoint.Resume)
                for (int i = 0; i < keys.Count; i++)
                    if (TryRead(checkpoint, keys[i], out T? value)) (results[i], done[i]) = (value!, true);
        }
        int reused = done.Count(d => d);
        if (reused > 0) progress?.Report($"resume: {reused} of {keys.Count} units read back from {checkpoint!.Directory}");
        var pending = new ConcurrentQueue<int>(Enumerable.Range(0, keys.Count).Where(i => !done[i]));
        int finished = reused;
        var failures = new ConcurrentQueue<Exception>();
        void Work()
        {
            using var single = KernelThreads.Limit(1);
            while (!cancellation.IsCancellationRequested && failures.IsEmpty && pending.TryDequeue(out int i))
            {
                try
                {
                    var value = compute(i, cancellation);
                    if (checkpoint is not null) Write(checkpoint, keys[i], value);
                    results[i] = value;
                    done[i] = true;
                    progress?.Report($"unit {Interlocked.Increment(ref finished)}/{keys.Count} done: {keys[i]}");
                }
                catch (OperationCanceledException) when (cancellation.IsCancellationRequested) { return; }
                catch (Exception e) { failures.Enqueue(e); return; }
            }
        }
        int count = Math.Min(workers, Math.Max(1, pending.Count));
        var threads = Enumerable.Range(0, count).Select(_ => new Thread(Work, 16 << 20) { IsBackground = true }).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        if (!failures.IsEmpty) throw failures.Count == 1 ? failures.First() : new AggregateException(failures);
        cancellation.ThrowIfCancellationRequested();
        return results;
    }

    /// <summary>
    /// The seed loop of the experiments that train one model per (seed, variant): every seed's task
    /// splits generated once (lazily, shared by its units), units keyed "s{seed}-{variant label}" in
    /// seed-major order, results in that order.
    /// </summary>
    public static T[] ForSeeds<TVariant, T>(IReadOnlyList<ulong> seeds, IReadOnlyList<TVariant> variants, Func<TVariant, string> label, SyntheticTask task,
        Func<ulong, TVariant, SyntheticSplit, SyntheticSplit, CancellationToken, T> compute, int workers, UnitCheckpoint? checkpoint,
        IProgress<string>? progress, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(seeds);
        ArgumentNullException.ThrowIfNull(variants);
        ArgumentNullException.ThrowIfNull(task);
        var jobs = seeds.SelectMany(seed => variants.Select(v => (Seed: seed, Variant: v))).ToArray();
        var splits = seeds.Distinct().ToDictionary(s => s, s => new Lazy<(SyntheticSplit Train, SyntheticSplit Test)>(() => task.Generate(s)));
        string[] keys = [.. jobs.Select(j => Key($"s{j.Seed}", label(j.Variant)))];
        return Run(keys, (i, ct) =>
        {
            var (seed, variant) = jobs[i];
            var (train, test) = splits[seed].Value;
            return compute(seed, variant, train, test, ct);
        }, workers, checkpoint, progress, cancellation);
    }

    /// <summary>A unit key from parts: joined by '-', any character outside letters, digits, '.', '_' and '+' replaced by '_'.</summary>
    public static string Key(params object[] parts) => string.Join("-", parts.Select(p =>
        new string([.. Convert.ToString(p, System.Globalization.CultureInfo.InvariantCulture)!.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '+' ? c : '_')])));

    private static string PathOf(UnitCheckpoint checkpoint, string key) => Path.Combine(checkpoint.Directory, key + ".json");

    private static void Write<T>(UnitCheckpoint checkpoint, string key, T value)
    {
        var node = new JsonObject
        {
            ["key"] = key,
            ["settings"] = checkpoint.Settings,
            ["value"] = JsonSerializer.SerializeToNode(value, Json),
        };
        AtomicFile.WriteAllText(PathOf(checkpoint, key), node.ToJsonString() + "\n");
    }

    private static bool TryRead<T>(UnitCheckpoint checkpoint, string key, out T? value)
    {
        value = default;
        string path = PathOf(checkpoint, key);
        if (!File.Exists(path)) return false;
        JsonObject node;
        try { node = JsonNode.Parse(File.ReadAllText(path))!.AsObject(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException)
        {
            throw new InvalidDataException($"unit file '{path}' is not a unit of an experiment ({e.Message}); remove it or run without --resume.", e);
        }
        if (node["settings"]?.GetValue<string>() != checkpoint.Settings)
            throw new InvalidDataException($"unit file '{path}' was written with other settings (preset, budget scale or grid); remove {checkpoint.Directory} or run without --resume.");
        value = node["value"].Deserialize<T>(Json);
        if (value is null) throw new InvalidDataException($"unit file '{path}' holds no value; remove it or run without --resume.");
        return true;
    }
}

/// <summary>The settings of an experiment by preset, scaled by the budget (the Run wrappers of distillation, delimiters, hybrid).</summary>
internal interface IPresetSettings<TSelf> where TSelf : IPresetSettings<TSelf>
{
    static abstract TSelf Small { get; }

    static abstract TSelf Large { get; }

    TSelf Scaled(double budgetScale);
}

internal static class PresetSettings
{
    /// <summary>Validates <paramref name="options"/> and returns the preset's settings scaled by its budget.</summary>
    public static TSettings For<TSettings>(ExperimentOptions options) where TSettings : IPresetSettings<TSettings>
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return (options.Preset == Preset.Small ? TSettings.Small : TSettings.Large).Scaled(options.BudgetScale);
    }
}
