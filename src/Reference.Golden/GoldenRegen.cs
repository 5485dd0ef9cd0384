using System.Reflection;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.IO;

namespace Reference.Golden;

/// <summary>What regeneration did with one case: new, unchanged, resumed (a killed run's case finished), changed (refused), rewritten (forced), stale.</summary>
public sealed record RegenOutcome(string Id, string Status, string Detail);

/// <summary>
/// Produces the golden set from the registry: for each case, draw the inputs from the case's seed,
/// run the naive tier, write NAME.npy files and manifest.json, then golden/index.json. The bytes
/// are a pure function of the registry and the code (no clock, no machine state), apart from
/// reference.commit; a case whose files would be identical except for that field is left
/// untouched. A case whose bytes would change is refused unless <c>force</c> is set: golden data
/// changing is an event a reviewer must see.
/// <para>
/// Resumable: every file is written atomically and manifest.json last, so a killed run leaves a
/// case directory without a manifest, holding only files byte-identical to what regeneration
/// writes, plus temporaries (".NAME.PID.GUID.tmp") of a process that is gone. A re-run
/// recognizes that state, deletes the temporaries, writes the missing files and reports the case
/// as "resumed", without --force; index.json, written after every case, is rewritten when it is
/// missing or differs. A directory with a file whose bytes differ is still refused.
/// </para>
/// </summary>
public static class GoldenRegen
{
    /// <summary>The version and source commit this build was made from ("0.1.0", "ec5639b..." or "unknown").</summary>
    public static (string Version, string Commit) BuildInfo()
    {
        string informational = typeof(GoldenRegen).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        var parts = informational.Split('+', 2);
        return (parts[0], parts.Length > 1 && parts[1].Length > 0 ? parts[1] : "unknown");
    }

    /// <summary>The manifest and the file images (name -> bytes, manifest.json last) of one case.</summary>
    public static (GoldenManifest Manifest, OrderedDictionary<string, byte[]> Files) Build(GoldenOp op, ConformanceCase spec, string commit)
    {
        var inputs = op.Inputs(spec.Params, new SplitMix64(spec.Seed));
        var outputs = op.Naive(spec.Params, inputs);
        if (outputs.Count == 0) throw new InvalidOperationException($"{op.Name}/{spec.Id}: the naive tier returned no output.");
        var files = new OrderedDictionary<string, byte[]>(StringComparer.Ordinal);
        List<GoldenArray> Entries(NamedArrays arrays, bool isOutput)
        {
            var list = new List<GoldenArray>();
            foreach (var (name, array) in arrays)
            {
                string file = name + ".npy";
                if (files.ContainsKey(file)) throw new InvalidOperationException($"{op.Name}/{spec.Id}: two arrays are named '{name}'.");
                byte[] bytes = Npy.ToBytes(array);
                files.Add(file, bytes);
                list.Add(new GoldenArray(name, file, array.DType.NumpyName(), array.ShapeArray, ManifestJson.Sha256Hex(bytes),
                    isOutput ? op.Tolerance(spec.Params, name) : null, isOutput ? op.Canonicalization(name) : null));
            }
            return list;
        }
        var inputEntries = Entries(inputs, false);
        var outputEntries = Entries(outputs, true);
        var (version, _) = BuildInfo();
        var manifest = new GoldenManifest(GoldenManifest.CurrentSchema, op.Name, op.Version, spec.Id, spec.Description,
            (JsonObject)spec.Params.DeepClone(), inputEntries, outputEntries,
            new GeneratorInfo(spec.Seed, "splitmix64", op.Distribution),
            new ReferenceInfo(version, commit, "naive", op.AccumulationOrder), spec.Tags);
        files.Add(GoldenStore.ManifestFile, ManifestJson.ToBytes(manifest));
        return (manifest, files);
    }

    public static IReadOnlyList<IndexEntry> Index(IEnumerable<GoldenOp> ops) =>
        [.. ops.SelectMany(op => op.Cases.Select(c => new IndexEntry($"{op.Name}/{c.Id}", op.Name, c.Id, c.Tags)))];

    /// <summary>Regenerates the cases whose op (or op/case id) matches <paramref name="pattern"/> (all when null).</summary>
    public static IReadOnlyList<RegenOutcome> Run(GoldenStore store, string? pattern, bool force, IReadOnlyList<GoldenOp>? ops = null)
    {
        ops ??= GoldenRegistry.Ops;
        var index = Index(ops);
        var duplicate = index.GroupBy(e => e.Id).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new InvalidOperationException($"the registry defines {duplicate.Key} twice.");
        string commit = BuildInfo().Commit;
        var outcomes = new List<RegenOutcome>();
        AtomicFile.DeleteStaleTemporaries(store.Root);
        foreach (var op in ops)
            foreach (var spec in op.Cases)
            {
                var entry = new IndexEntry($"{op.Name}/{spec.Id}", op.Name, spec.Id, spec.Tags);
                if (pattern is not null && !GoldenRunner.Matches(pattern, entry)) continue;
                outcomes.Add(RegenOne(store, op, spec, entry.Id, commit, force));
            }

        // External cases (imported with `golden import`) are not the registry's: they stay in the index as they are.
        var external = ExternalCases(store, index.Select(e => e.Id).ToHashSet());
        index = [.. index, .. external];
        byte[] indexBytes = GoldenStore.IndexBytes(index);
        string indexPath = Path.Combine(store.Root, GoldenStore.IndexFile);
        if (!File.Exists(indexPath) || !File.ReadAllBytes(indexPath).AsSpan().SequenceEqual(indexBytes))
            AtomicFile.WriteAllBytes(indexPath, indexBytes);

        var known = index.Select(e => e.Id).ToHashSet();
        var knownOps = index.Select(e => e.Op).ToHashSet();
        foreach (var opDir in Directory.EnumerateDirectories(store.Root).Order(StringComparer.Ordinal))
        {
            string opName = Path.GetFileName(opDir);
            if (opName == "__pycache__") continue;
            if (!knownOps.Contains(opName))
            {
                outcomes.Add(new RegenOutcome(opName, "stale", "no op of this name in the registry"));
                continue;
            }
            foreach (var caseDir in Directory.EnumerateDirectories(opDir).Order(StringComparer.Ordinal))
            {
                AtomicFile.DeleteStaleTemporaries(caseDir);
                string id = $"{opName}/{Path.GetFileName(caseDir)}";
                if (!known.Contains(id)) outcomes.Add(new RegenOutcome(id, "stale", "no case of this id in the registry"));
            }
        }
        return outcomes;
    }

    /// <summary>The cases on disk, outside the registry's ids, whose manifest parses and says tier external.</summary>
    private static List<IndexEntry> ExternalCases(GoldenStore store, HashSet<string> registered)
    {
        var found = new List<IndexEntry>();
        foreach (var opDir in Directory.EnumerateDirectories(store.Root).Order(StringComparer.Ordinal))
            foreach (var caseDir in Directory.EnumerateDirectories(opDir).Order(StringComparer.Ordinal))
            {
                string id = $"{Path.GetFileName(opDir)}/{Path.GetFileName(caseDir)}";
                if (!registered.Contains(id) && IsExternal(store, id, out var manifest))
                    found.Add(new IndexEntry(id, manifest!.Op, manifest.CaseId, manifest.Tags));
            }
        return found;
    }

    private static bool IsExternal(GoldenStore store, string id, out GoldenManifest? manifest)
    {
        manifest = null;
        if (!File.Exists(Path.Combine(store.CaseDirectory(id), GoldenStore.ManifestFile))) return false;
        try { manifest = store.LoadManifest(id); }
        catch (GoldenIntegrityException) { return false; }
        return manifest.Reference.IsExternal;
    }

    private static RegenOutcome RegenOne(GoldenStore store, GoldenOp op, ConformanceCase spec, string id, string commit, bool force)
    {
        var (_, files) = Build(op, spec, commit);
        string dir = store.CaseDirectory(id);
        if (Directory.Exists(dir) && IsExternal(store, id, out _))
            return new RegenOutcome(id, "changed", "an external case (imported reference outputs) holds this id; regeneration never overwrites one (not written)");
        if (!Directory.Exists(dir))
        {
            Write(dir, files);
            return new RegenOutcome(id, "new", $"{files.Count} files");
        }
        var cleaned = AtomicFile.DeleteStaleTemporaries(dir);
        var differences = new List<string>();
        var missing = new List<string>();
        foreach (var (name, bytes) in files)
        {
            string path = Path.Combine(dir, name);
            if (!File.Exists(path)) { missing.Add(name); continue; }
            var existing = File.ReadAllBytes(path);
            if (name == GoldenStore.ManifestFile) existing = WithCommit(existing, commit, store.Relative(path));
            if (!existing.AsSpan().SequenceEqual(bytes)) differences.Add($"{name} differs");
        }
        foreach (var path in Directory.EnumerateFileSystemEntries(dir))
            if (!files.ContainsKey(Path.GetFileName(path))) differences.Add($"{Path.GetFileName(path)} is extra");
        string tidied = cleaned.Count == 0 ? "" : $"{cleaned.Count} stale temporaries deleted";
        if (differences.Count == 0 && missing.Count == 0) return new RegenOutcome(id, "unchanged", tidied);
        if (differences.Count == 0 && missing.Contains(GoldenStore.ManifestFile))
        {
            // A killed run's case: what is there is exactly what would be written; finish it (manifest last).
            foreach (var (name, bytes) in files)
                if (missing.Contains(name)) AtomicFile.WriteAllBytes(Path.Combine(dir, name), bytes);
            return new RegenOutcome(id, "resumed", string.Join(", ", new[] { $"{string.Join(", ", missing)} written", tidied }.Where(t => t.Length > 0)));
        }
        differences.InsertRange(0, missing.Select(name => $"{name} missing"));
        if (!force) return new RegenOutcome(id, "changed", string.Join(", ", differences) + " (not written; use --force)");
        foreach (var path in Directory.EnumerateFileSystemEntries(dir))
            if (!files.ContainsKey(Path.GetFileName(path)))
            {
                if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
                else File.Delete(path);
            }
        Write(dir, files);
        return new RegenOutcome(id, "rewritten", string.Join(", ", differences));
    }

    /// <summary>The existing manifest re-serialized with the current commit (unparseable bytes are returned as they are: they differ).</summary>
    private static byte[] WithCommit(byte[] existing, string commit, string path)
    {
        try
        {
            var m = ManifestJson.Parse(existing, path);
            return ManifestJson.ToBytes(m with { Reference = m.Reference with { Commit = commit } });
        }
        catch (GoldenIntegrityException)
        {
            return existing;
        }
    }

    private static void Write(string dir, OrderedDictionary<string, byte[]> files)
    {
        Directory.CreateDirectory(dir);
        foreach (var (name, bytes) in files) AtomicFile.WriteAllBytes(Path.Combine(dir, name), bytes);
    }
}
