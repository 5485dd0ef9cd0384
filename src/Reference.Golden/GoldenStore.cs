using System.Text.Json;
using System.Text.Json.Nodes;
using Reference.Core.IO;

namespace Reference.Golden;

/// <summary>One line of golden/index.json.</summary>
public sealed record IndexEntry(string Id, string Op, string CaseId, IReadOnlyList<string> Tags);

/// <summary>
/// A golden directory on disk: golden/index.json lists every case; each case lives in
/// golden/&lt;op&gt;/&lt;case-id&gt;/ with manifest.json and its .npy files. Every read checks
/// what it reads (hash, NPY header against the manifest's dtype and shape) and reports damage as
/// <see cref="GoldenIntegrityException"/>.
/// </summary>
public sealed class GoldenStore
{
    public const string IndexFile = "index.json";
    public const string ManifestFile = "manifest.json";

    /// <summary>Top-level files that belong to golden/ without being cases.</summary>
    public static readonly IReadOnlyList<string> SupportFiles = ["index.json", "README.md", "check.py", "numpy_backend.py", "rng.py", ".gitkeep"];

    private GoldenStore(string root) => Root = root;

    public string Root { get; }

    /// <summary>Opens an existing golden directory (ArgumentException when it does not exist).</summary>
    public static GoldenStore Open(string root)
    {
        if (!Directory.Exists(root))
            throw new ArgumentException($"golden directory '{root}' does not exist.", nameof(root));
        return new GoldenStore(Path.GetFullPath(root));
    }

    /// <summary>Opens (creating when needed) a directory that <see cref="GoldenRegen"/> will fill.</summary>
    public static GoldenStore Create(string root)
    {
        if (File.Exists(root)) throw new ArgumentException($"golden directory '{root}' is a file, not a directory.", nameof(root));
        Directory.CreateDirectory(root);
        return new GoldenStore(Path.GetFullPath(root));
    }

    /// <summary>A golden directory that may not exist yet (`golden import` creates it only when it writes).</summary>
    public static GoldenStore At(string root)
    {
        if (File.Exists(root)) throw new ArgumentException($"golden directory '{root}' is a file, not a directory.", nameof(root));
        return new GoldenStore(Path.GetFullPath(root));
    }

    /// <summary>The repository's golden/: walk up from <paramref name="start"/> to the folder holding Reference.sln.</summary>
    public static string? FindDefaultRoot(string start)
    {
        for (var dir = new DirectoryInfo(Path.GetFullPath(start)); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Reference.sln")))
                return Path.Combine(dir.FullName, "golden");
        return null;
    }

    /// <summary>
    /// The golden set installed next to the program (the `reference` .NET tool carries a copy of
    /// the repository's golden/ in its package), or null when there is none. Read-only by intent:
    /// regen and import never default to it.
    /// </summary>
    public static string? InstalledRoot()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "golden");
        return File.Exists(Path.Combine(path, IndexFile)) ? path : null;
    }

    public string CaseDirectory(string id) => Path.Combine(Root, id.Replace('/', Path.DirectorySeparatorChar));

    public string Relative(string path) => Path.GetRelativePath(Root, path).Replace(Path.DirectorySeparatorChar, '/');

    public IReadOnlyList<IndexEntry> ReadIndex()
    {
        string path = Path.Combine(Root, IndexFile);
        if (!File.Exists(path)) throw new GoldenIntegrityException(path, "index.json is missing (run `reference golden regen`)");
        var root = ManifestJson.ParseJson(ReadChecked(path, path), path, "index");
        if (root is not JsonObject o || o["schema_version"] is not JsonValue version || !version.TryGetValue<int>(out int schema)
            || schema != GoldenManifest.CurrentSchema || o["cases"] is not JsonArray cases)
            throw new GoldenIntegrityException(path, $"index must be {{\"schema_version\": {GoldenManifest.CurrentSchema}, \"cases\": [...]}}");
        var entries = new List<IndexEntry>();
        int number = 0;
        foreach (var node in cases)
        {
            number++;
            if (node is not JsonObject c) throw new GoldenIntegrityException(path, $"index entry {number} must be a JSON object");
            string Field(string key) =>
                c[key] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>()
                : throw new GoldenIntegrityException(path, $"index entry {number} lacks '{key}' (a string)");
            string op = Field("op"), caseId = Field("case_id"), id = Field("id");
            if (!ManifestJson.IsCaseId(caseId))
                throw new GoldenIntegrityException(path, $"index entry {number} ('{id}'): {ManifestJson.CaseIdProblem(caseId)}");
            if (!ManifestJson.OpName().IsMatch(op))
                throw new GoldenIntegrityException(path, $"index entry {number} ('{id}'): op '{op}' is not a dotted lower-case name such as linalg.gemm");
            if (id != $"{op}/{caseId}")
                throw new GoldenIntegrityException(path, $"index entry {number} is inconsistent: id '{id}' must be op/case_id = '{op}/{caseId}'");
            if (c["tags"] is not JsonArray tagArray)
                throw new GoldenIntegrityException(path, $"index entry {number} ('{id}') lacks 'tags' (an array of strings)");
            var tags = tagArray.Select(t => t is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>()
                : throw new GoldenIntegrityException(path, $"index entry {number} ('{id}'): 'tags' must hold only strings")).ToList();
            entries.Add(new IndexEntry(id, op, caseId, tags));
        }
        if (entries.Select(e => e.Id).Distinct().Count() != entries.Count)
            throw new GoldenIntegrityException(path, "the index lists a case twice");
        return entries;
    }

    private string? realRoot;

    /// <summary>
    /// The bytes of a file of the set, after checking that it resolves (through every symbolic
    /// link) to a regular file inside the golden directory: a link out of the set, or a FIFO that
    /// would block the reader, is an integrity error naming <paramref name="shown"/>.
    /// </summary>
    private byte[] ReadChecked(string path, string shown)
    {
        realRoot ??= FileKinds.RealPath(Root);
        string real = FileKinds.RealPath(path);
        if (!FileKinds.IsInside(real, realRoot))
            throw new GoldenIntegrityException(shown, $"resolves to '{real}', outside the golden directory '{realRoot}'");
        var kind = FileKinds.Of(real);
        if (kind is not (FileKind.Regular or FileKind.Unknown))
            throw new GoldenIntegrityException(shown, $"is not a regular file (it is a {kind})");
        return File.ReadAllBytes(real);
    }

    public static byte[] IndexBytes(IEnumerable<IndexEntry> entries)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, ManifestJson.WriterOptions))
        {
            w.WriteStartObject();
            w.WriteNumber("schema_version", GoldenManifest.CurrentSchema);
            w.WriteStartArray("cases");
            foreach (var e in entries.OrderBy(e => e.Id, StringComparer.Ordinal))
            {
                w.WriteStartObject();
                w.WriteString("id", e.Id);
                w.WriteString("op", e.Op);
                w.WriteString("case_id", e.CaseId);
                w.WriteStartArray("tags");
                foreach (var t in e.Tags) w.WriteStringValue(t);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    public GoldenManifest LoadManifest(string id)
    {
        string path = Path.Combine(CaseDirectory(id), ManifestFile);
        if (!File.Exists(path)) throw new GoldenIntegrityException(Relative(path), "manifest.json is missing");
        var manifest = ManifestJson.Parse(ReadChecked(path, Relative(path)), Relative(path));
        if (manifest.Id != id)
            throw new GoldenIntegrityException(Relative(path), $"manifest says op/case_id '{manifest.Id}' but lives in '{id}'");
        return manifest;
    }

    /// <summary>Reads one array of a case, checking its SHA-256, its NPY validity and the manifest's dtype and shape.</summary>
    public NpyArray LoadArray(GoldenManifest manifest, GoldenArray entry)
    {
        string path = Path.Combine(CaseDirectory(manifest.Id), entry.File);
        string shown = Relative(path);
        if (!File.Exists(path)) throw new GoldenIntegrityException(shown, "file listed in the manifest is missing");
        byte[] bytes = ReadChecked(path, shown);
        string sha = ManifestJson.Sha256Hex(bytes);
        if (sha != entry.Sha256)
            throw new GoldenIntegrityException(shown, $"sha256 {sha} does not match the manifest's {entry.Sha256}");
        NpyArray array;
        try { array = Npy.FromBytes(bytes, shown); }
        catch (NpyFormatException e) { throw new GoldenIntegrityException(shown, e.Reason, e); }
        if (array.DType.NumpyName() != entry.DType || !array.Shape.SequenceEqual(entry.Shape))
            throw new GoldenIntegrityException(shown,
                $"file holds {array.DType.NumpyName()} {Comparator.ShapeText(array.Shape)}, the manifest says {entry.DType} {Comparator.ShapeText(entry.Shape)}");
        return array;
    }

    public NamedArrays LoadInputs(GoldenManifest m)
    {
        var result = new NamedArrays();
        foreach (var a in m.Inputs) result.Add(a.Name, LoadArray(m, a));
        return result;
    }

    /// <summary>The indexed cases whose manifest says tier external, with their provenance (cases that do not load are left out).</summary>
    public IReadOnlyDictionary<string, Provenance> ExternalCases()
    {
        var found = new Dictionary<string, Provenance>(StringComparer.Ordinal);
        foreach (var entry in ReadIndex())
        {
            try
            {
                if (LoadManifest(entry.Id).Reference.Provenance is { } p) found[entry.Id] = p;
            }
            catch (GoldenIntegrityException)
            {
            }
        }
        return found;
    }

    /// <summary>
    /// Checks the whole set: the index parses; every indexed case has a valid manifest whose files
    /// exist, hash correctly and match their declared dtype and shape; nothing on disk is left out
    /// (orphan directories or files). Returns one (path, problem) per defect and the number of
    /// cases checked.
    /// </summary>
    public (int Cases, IReadOnlyList<(string Where, string Problem)> Problems, IReadOnlyList<string> GoodCases) Verify()
    {
        var problems = new List<(string, string)>();
        var good = new List<string>();
        IReadOnlyList<IndexEntry> index;
        try { index = ReadIndex(); }
        catch (GoldenIntegrityException e) { return (0, [(Relative(e.Path), e.Reason)], []); }

        var expectedDirs = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in index)
        {
            expectedDirs.Add(entry.Op);
            expectedDirs.Add(entry.Id);
            int before = problems.Count;
            try
            {
                var manifest = LoadManifest(entry.Id);
                if (!manifest.Tags.SequenceEqual(entry.Tags)) problems.Add((entry.Id, "tags in index.json differ from the manifest's"));
                foreach (var a in manifest.Inputs.Concat(manifest.Outputs))
                {
                    try { LoadArray(manifest, a); }
                    catch (GoldenIntegrityException e) { problems.Add((e.Path, e.Reason)); }
                }
                var listed = manifest.Inputs.Concat(manifest.Outputs).Select(a => a.File).Append(ManifestFile).ToHashSet();
                foreach (var file in Directory.EnumerateFileSystemEntries(CaseDirectory(entry.Id)).Order(StringComparer.Ordinal))
                    if (!listed.Contains(Path.GetFileName(file)))
                        problems.Add((Relative(file), "orphan: not listed in the case's manifest"));
            }
            catch (GoldenIntegrityException e) { problems.Add((e.Path, e.Reason)); }
            if (problems.Count == before) good.Add(entry.Id);
        }

        foreach (var top in Directory.EnumerateFileSystemEntries(Root).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(top);
            if (File.Exists(top))
            {
                if (!SupportFiles.Contains(name)) problems.Add((name, "orphan: unexpected file at the top of the golden directory"));
                continue;
            }
            if (name == "__pycache__") continue;
            if (!expectedDirs.Contains(name)) { problems.Add((name, "orphan: directory not in index.json")); continue; }
            foreach (var sub in Directory.EnumerateFileSystemEntries(top).Order(StringComparer.Ordinal))
                if (!expectedDirs.Contains($"{name}/{Path.GetFileName(sub)}"))
                    problems.Add((Relative(sub), "orphan: not a case listed in index.json"));
        }
        return (index.Count, problems, good);
    }
}
