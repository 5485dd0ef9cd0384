using System.Text.Json;
using System.Text.Json.Nodes;
using Reference.Core.IO;

namespace Reference.Golden;

/// <summary>
/// What <see cref="GoldenImport"/> needs besides the directory of arrays: the op and its
/// parameters, the case id, and where the reference outputs came from. <see cref="Tolerances"/>
/// overrides the op's own tolerance per output (each with its rationale); <see cref="Extensions"/>
/// is kept verbatim in the manifest.
/// </summary>
public sealed record ImportSpec(
    string Op, string CaseId, JsonObject Params, Provenance Provenance, string? Description = null,
    IReadOnlyList<string>? Tags = null, JsonObject? Extensions = null, IReadOnlyDictionary<string, Tolerance>? Tolerances = null,
    string? AccumulationOrder = null);

/// <summary>The case written, where, and the oracle's naive tier held to the imported outputs (what `golden run --backend naive` will report).</summary>
public sealed record ImportResult(GoldenManifest Manifest, string Directory, IReadOnlyList<Comparison> OracleCheck, IReadOnlyList<string> Ignored, bool Replaced);

/// <summary>
/// `reference golden import`: turns a directory of NPY inputs and outputs computed by other code
/// (the official implementation of a paper, a backend's float64 path) into an external case of a
/// golden directory: manifest (tier external, with provenance), hashes, tolerances with their
/// rationale, index entry. Everything is checked before anything is written: the op exists, the
/// case id is valid, the params are the op's (declared names, types, required ones present), every
/// file is a readable NPY named after one of the op's inputs or outputs, the inputs have the shapes
/// the params imply and the op's naive tier runs on them and gives outputs of the imported shapes.
/// Bad input is an <see cref="ArgumentException"/> naming the argument (exit 2); a damaged golden
/// directory a <see cref="GoldenIntegrityException"/> (exit 3).
/// <para>
/// The write is all or nothing: the case is assembled in a hidden sibling directory
/// (".CASE.PID.GUID.import.tmp"), renamed into place, and index.json is then replaced atomically;
/// a failure in between puts the previous state back, so no reader ever sees a half-written case.
/// </para>
/// </summary>
public static partial class GoldenImport
{
    /// <summary>Dtypes accepted for imported outputs: the oracle is compared at float64 bounds, so float32 references are refused.</summary>
    private static readonly NpyDType[] OutputDTypes = [NpyDType.Float64, NpyDType.Complex128, NpyDType.Int64, NpyDType.Int32, NpyDType.Bool];

    public static ImportResult Run(GoldenStore store, string source, ImportSpec spec, bool force)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(spec);
        var op = GoldenRegistry.Find(spec.Op)
            ?? throw new ArgumentException($"--op: no op '{spec.Op}' in this build; see `reference golden list` or `reference ops`.", "--op");
        if (!ManifestJson.IsCaseId(spec.CaseId)) throw new ArgumentException($"--case: {ManifestJson.CaseIdProblem(spec.CaseId)}.", "--case");
        CheckParams(op, spec.Params);
        CheckProvenance(spec.Provenance);

        var (arrays, ignored) = ReadDirectory(source);
        var drawn = Draw(op, spec.Params);
        var inputs = new NamedArrays(arrays.Where(f => drawn.ContainsKey(f.Key)));
        var outputs = new NamedArrays(arrays.Where(f => !drawn.ContainsKey(f.Key)));
        var missing = drawn.Keys.Where(k => !inputs.ContainsKey(k)).ToList();
        if (missing.Count > 0)
            throw new ArgumentException($"{source}: input {string.Join(", ", missing.Select(m => $"'{m}.npy'"))} is missing ({op.Name} with these params reads {string.Join(", ", drawn.Keys)}).", "DIR");
        foreach (var (name, array) in inputs)
            if (!array.ShapeArray.SequenceEqual(drawn[name].ShapeArray))
                throw new ArgumentException($"{source}: input '{name}' has shape {Comparator.ShapeText(array.ShapeArray)}; {op.Name} with these params expects {Comparator.ShapeText(drawn[name].ShapeArray)}.", "DIR");

        NamedArrays oracle;
        try { oracle = op.Naive(spec.Params, inputs); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IndexOutOfRangeException or FormatException)
        {
            throw new ArgumentException($"{op.Name} cannot run on these inputs and params: {e.Message.ReplaceLineEndings(" ")}", "--params");
        }
        if (outputs.Count == 0)
            throw new ArgumentException($"{source}: no output file: give at least one of {string.Join(", ", oracle.Keys.Select(n => n + ".npy"))}.", "DIR");
        var check = new List<Comparison>();
        var outputEntries = new List<(GoldenArray Entry, byte[] Bytes)>();
        foreach (var (name, array) in outputs)
        {
            if (!oracle.TryGetValue(name, out var computed))
                throw new ArgumentException($"{source}: '{name}.npy' is neither an input ({string.Join(", ", drawn.Keys)}) nor an output ({string.Join(", ", oracle.Keys)}) of {op.Name}.", "DIR");
            if (!array.ShapeArray.SequenceEqual(computed.ShapeArray))
                throw new ArgumentException($"{source}: output '{name}' has shape {Comparator.ShapeText(array.ShapeArray)}; {op.Name} gives {Comparator.ShapeText(computed.ShapeArray)} for these inputs.", "DIR");
            if (!OutputDTypes.Contains(array.DType))
                throw new ArgumentException($"{source}: output '{name}' is {array.DType.NumpyName()}; import float64 (or complex128) reference outputs: the oracle is compared at float64 bounds, so run the official code in float64.", "DIR");
            var tolerance = spec.Tolerances?.GetValueOrDefault(name) ?? Inherit(op.Tolerance(spec.Params, name), spec.Provenance);
            if (tolerance.Problem() is { } problem) throw new ArgumentException($"tolerance of '{name}': {problem}", "--spec");
            byte[] bytes = Npy.ToBytes(array);
            outputEntries.Add((new GoldenArray(name, name + ".npy", array.DType.NumpyName(), array.ShapeArray, ManifestJson.Sha256Hex(bytes),
                tolerance, op.Canonicalization(name)), bytes));
            check.Add(Comparator.Compare(name, array, computed, tolerance, Precision.Float64));
        }
        if (spec.Tolerances is { } given && given.Keys.FirstOrDefault(k => !outputs.ContainsKey(k)) is { } stray)
            throw new ArgumentException($"tolerances: '{stray}' is not an imported output ({string.Join(", ", outputs.Keys)}).", "--spec");

        var inputEntries = new List<(GoldenArray Entry, byte[] Bytes)>();
        foreach (var name in drawn.Keys)
        {
            byte[] bytes = Npy.ToBytes(inputs[name]);
            inputEntries.Add((new GoldenArray(name, name + ".npy", inputs[name].DType.NumpyName(), inputs[name].ShapeArray, ManifestJson.Sha256Hex(bytes)), bytes));
        }
        var (version, commit) = GoldenRegen.BuildInfo();
        var p = spec.Provenance;
        var manifest = new GoldenManifest(GoldenManifest.CurrentSchema, op.Name, op.Version, spec.CaseId,
            spec.Description ?? $"reference outputs of {p.Function} ({p.Repository} at {p.Commit})",
            (JsonObject)spec.Params.DeepClone(), [.. inputEntries.Select(e => e.Entry)], [.. outputEntries.Select(e => e.Entry)],
            null, new ReferenceInfo(version, commit, ReferenceInfo.ExternalTier, spec.AccumulationOrder, p), spec.Tags ?? [],
            (JsonObject?)spec.Extensions?.DeepClone());
        byte[] manifestBytes = ManifestJson.ToBytes(manifest);
        try { ManifestJson.Parse(manifestBytes, $"{manifest.Id}/{GoldenStore.ManifestFile}"); }
        catch (GoldenIntegrityException e) { throw new ArgumentException($"the case would not be valid: {e.Reason}", "--spec"); }

        var files = new OrderedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (entry, bytes) in inputEntries.Concat(outputEntries)) files.Add(entry.File, bytes);
        files.Add(GoldenStore.ManifestFile, manifestBytes);
        bool replaced = Write(store, manifest, files, force);
        return new ImportResult(manifest, store.CaseDirectory(manifest.Id), check, ignored, replaced);
    }

    /// <summary>The op's own tolerance, its rationale extended to say what it is now applied to.</summary>
    private static Tolerance Inherit(Tolerance t, Provenance p) => t with
    {
        Rationale = $"the op's golden tolerance, applied to reference outputs of {p.Function} ({p.Repository}): {t.Rationale}",
    };

    private static void CheckProvenance(Provenance p)
    {
        foreach (var (field, value) in new[] { ("repository", p.Repository), ("commit", p.Commit), ("function", p.Function), ("call", p.Call) })
            if (string.IsNullOrWhiteSpace(value))
                throw new ArgumentException($"--{field} is required (or provenance.{field} in --spec): an external case names the repository, commit, function and exact call its outputs came from.", $"--{field}");
    }

    /// <summary>Every key is a parameter the op reads, of its declared type; every parameter without a default is given.</summary>
    public static void CheckParams(GoldenOp op, JsonObject given)
    {
        ArgumentNullException.ThrowIfNull(op);
        ArgumentNullException.ThrowIfNull(given);
        var declared = op.ParameterList();
        string names = string.Join(", ", declared.Select(d => $"{d.Name} ({d.Type}{(d.Default == "-" ? ", required" : $", default {d.Default}")})"));
        foreach (var (key, value) in given)
        {
            var parameter = declared.FirstOrDefault(d => d.Name == key)
                ?? throw new ArgumentException($"--params: '{key}' is not a parameter of {op.Name}; its parameters are {names}.", "--params");
            if (!OfType(value, parameter.Type))
                throw new ArgumentException($"--params: {key} must be {parameter.Type}, found {value?.ToJsonString() ?? "null"}.", "--params");
        }
        var absent = declared.Where(d => d.Default == "-" && !given.ContainsKey(d.Name)).Select(d => d.Name).ToList();
        if (absent.Count > 0)
            throw new ArgumentException($"--params: {op.Name} needs {string.Join(", ", absent)} (no default); its parameters are {names}.", "--params");
    }

    private static bool OfType(JsonNode? value, string type)
    {
        var kind = value?.GetValueKind();
        return type switch
        {
            "int" => kind == JsonValueKind.Number && value!.AsValue().TryGetValue<int>(out _),
            "float" or "double" => kind == JsonValueKind.Number,
            "bool" => kind is JsonValueKind.True or JsonValueKind.False,
            "string" => kind == JsonValueKind.String,
            _ => true,
        };
    }

    /// <summary>
    /// The inputs the op reads for these params, drawn once: their names and shapes are what the
    /// imported inputs must have. A parameter that only shapes the random draw (a uniform range,
    /// say) and that the user left out, having a default, is given a placeholder for this draw only;
    /// the definition runs on the user's params.
    /// </summary>
    private static NamedArrays Draw(GoldenOp op, JsonObject parameters)
    {
        var forDraw = (JsonObject)parameters.DeepClone();
        var declared = op.ParameterList();
        while (true)
        {
            try { return op.Inputs(forDraw, new Core.SplitMix64(0)); }
            catch (ArgumentException e) when (e.ParamName is { } key && !forDraw.ContainsKey(key)
                && declared.FirstOrDefault(d => d.Name == key) is { Default: not "-" } optional)
            {
                forDraw[key] = optional.Type switch { "int" => 1, "bool" => false, "string" => "", _ => (JsonNode)0.5 };
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or IndexOutOfRangeException or OverflowException)
            {
                throw new ArgumentException($"--params: {op.Name} cannot use these params: {e.Message.ReplaceLineEndings(" ")}", "--params");
            }
        }
    }

    /// <summary>The NPY files of the directory, split later into inputs and outputs by name; other files are listed as ignored.</summary>
    private static (SortedDictionary<string, NpyArray> Arrays, List<string> Ignored) ReadDirectory(string source)
    {
        if (!Directory.Exists(source)) throw new ArgumentException($"DIR: '{source}' is not a directory.", "DIR");
        var all = new SortedDictionary<string, NpyArray>(StringComparer.Ordinal);
        var ignored = new List<string>();
        foreach (var path in Directory.EnumerateFileSystemEntries(source).Order(StringComparer.Ordinal))
        {
            string file = Path.GetFileName(path);
            if (!file.EndsWith(".npy", StringComparison.Ordinal)) { ignored.Add(file); continue; }
            string name = file[..^4];
            if (!ManifestJson.ArrayName().IsMatch(name))
                throw new ArgumentException($"{source}: '{file}': an array name is a plain identifier ([A-Za-z_][A-Za-z0-9_]*) followed by .npy.", "DIR");
            try { all[name] = Npy.Read(path); }
            catch (NpyFormatException e) { throw new ArgumentException($"{source}: {e.Message.ReplaceLineEndings(" ")}", "DIR"); }
            catch (IOException e) { throw new ArgumentException($"{source}: cannot read '{file}': {e.Message.ReplaceLineEndings(" ")}", "DIR"); }
        }
        return (all, ignored);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^\.(?<case>.+)\.(?<pid>[0-9]+)\.[0-9a-f]{32}\.(?<kind>import|replaced)\.tmp$")]
    private static partial System.Text.RegularExpressions.Regex WorkDirectory();

    /// <summary>
    /// What an import killed half-way left in <paramref name="opDir"/> (its writer process is gone):
    /// a staging directory is deleted; a replaced case moved aside is moved back when its place is
    /// empty (the kill came between the two renames), deleted otherwise.
    /// </summary>
    internal static void RecoverKilledImports(string opDir)
    {
        if (!Directory.Exists(opDir)) return;
        foreach (var path in Directory.EnumerateDirectories(opDir))
        {
            var match = WorkDirectory().Match(Path.GetFileName(path));
            if (!match.Success || IsAlive(int.Parse(match.Groups["pid"].ValueSpan, System.Globalization.CultureInfo.InvariantCulture))) continue;
            string original = Path.Combine(opDir, match.Groups["case"].Value);
            if (match.Groups["kind"].Value == "replaced" && !Directory.Exists(original)) Directory.Move(path, original);
            else Directory.Delete(path, recursive: true);
        }
    }

    private static bool IsAlive(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Tests only: called with the golden root at each stage of the write ("staged", "moved") to simulate a failure there.</summary>
    internal static Action<string, string>? FaultInjection { get; set; }

    /// <summary>Installs the case (all or nothing, see the class summary); returns whether a case was replaced.</summary>
    private static bool Write(GoldenStore store, GoldenManifest manifest, OrderedDictionary<string, byte[]> files, bool force)
    {
        string indexPath = Path.Combine(store.Root, GoldenStore.IndexFile);
        bool createdRoot = !Directory.Exists(store.Root);
        IReadOnlyList<IndexEntry> index = !createdRoot && (File.Exists(indexPath) || Directory.EnumerateFileSystemEntries(store.Root).Any())
            ? store.ReadIndex() : [];
        string target = store.CaseDirectory(manifest.Id);
        bool exists = Directory.Exists(target) || File.Exists(target);
        if (exists && !force)
            throw new ArgumentException($"--case: {manifest.Id} already exists in {store.Root} (pass --force to replace it).", "--case");
        if (exists && File.Exists(Path.Combine(target, GoldenStore.ManifestFile)))
        {
            var old = store.LoadManifest(manifest.Id);
            if (!old.Reference.IsExternal)
                throw new ArgumentException($"--case: {manifest.Id} is one of the project's own cases (tier {old.Reference.Tier}); import under another id.", "--case");
        }

        Directory.CreateDirectory(store.Root);
        string opDir = Path.GetDirectoryName(target)!;
        RecoverKilledImports(opDir);
        bool createdOpDir = !Directory.Exists(opDir);
        Directory.CreateDirectory(opDir);
        string stamp = $"{Environment.ProcessId}.{Guid.NewGuid():N}";
        string staging = Path.Combine(opDir, $".{manifest.CaseId}.{stamp}.import.tmp");
        string trash = Path.Combine(opDir, $".{manifest.CaseId}.{stamp}.replaced.tmp");
        var newIndex = index.Where(e => e.Id != manifest.Id).Append(new IndexEntry(manifest.Id, manifest.Op, manifest.CaseId, manifest.Tags));
        bool moved = false, trashed = false;
        try
        {
            Directory.CreateDirectory(staging);
            foreach (var (name, bytes) in files) AtomicFile.WriteAllBytes(Path.Combine(staging, name), bytes);
            FaultInjection?.Invoke(store.Root, "staged");
            if (exists) { Directory.Move(target, trash); trashed = true; }
            Directory.Move(staging, target);
            moved = true;
            FaultInjection?.Invoke(store.Root, "moved");
            AtomicFile.WriteAllBytes(indexPath, GoldenStore.IndexBytes(newIndex));
        }
        catch
        {
            if (moved) Directory.Delete(target, recursive: true);
            if (trashed) Directory.Move(trash, target);
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            if (createdOpDir && Directory.Exists(opDir) && !Directory.EnumerateFileSystemEntries(opDir).Any()) Directory.Delete(opDir);
            if (createdRoot && Directory.Exists(store.Root) && !Directory.EnumerateFileSystemEntries(store.Root).Any()) Directory.Delete(store.Root);
            throw;
        }
        if (trashed) Directory.Delete(trash, recursive: true);
        return exists;
    }
}

/// <summary>
/// The spec file of `golden import --spec FILE` (strict JSON, every key optional; command-line
/// options override it): op, case_id, description, params, provenance {repository, commit,
/// function, call}, tags, accumulation_order, tolerances {OUTPUT: tolerance object as in a
/// manifest}, extensions (kept verbatim).
/// </summary>
public sealed record ImportSpecFile(
    string? Op, string? CaseId, string? Description, JsonObject? Params, string? Repository, string? Commit, string? Function, string? Call,
    IReadOnlyList<string>? Tags, string? AccumulationOrder, IReadOnlyDictionary<string, Tolerance>? Tolerances, JsonObject? Extensions)
{
    private static readonly string[] Keys = ["op", "case_id", "description", "params", "provenance", "tags", "accumulation_order", "tolerances", "extensions"];

    /// <summary>Parses the spec file; every problem is an ArgumentException naming the file and the key (exit 2).</summary>
    public static ImportSpecFile Parse(byte[] bytes, string path)
    {
        JsonNode? root;
        try { root = ManifestJson.ParseJson(bytes, path, "import spec"); }
        catch (GoldenIntegrityException e) { throw new ArgumentException($"--spec: {e.Message}", "--spec"); }
        if (root is not JsonObject o) throw new ArgumentException($"--spec: {path}: must be a JSON object.", "--spec");
        ArgumentException Bad(string what) => new($"--spec: {path}: {what}.", "--spec");
        foreach (var (key, _) in o)
            if (!Keys.Contains(key)) throw Bad($"unknown key '{key}' (keys: {string.Join(", ", Keys)})");
        string? Text(JsonObject from, string key, string shown) => !from.ContainsKey(key) ? null
            : from[key] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : throw Bad($"'{shown}' must be a string");
        JsonObject? Obj(string key) => !o.ContainsKey(key) ? null : o[key] as JsonObject ?? throw Bad($"'{key}' must be a JSON object");
        var provenance = Obj("provenance");
        if (provenance?.Select(kv => kv.Key).FirstOrDefault(k => k is not ("repository" or "commit" or "function" or "call")) is { } stray)
            throw Bad($"unknown key 'provenance.{stray}' (keys: repository, commit, function, call)");
        List<string>? tags = null;
        if (o.ContainsKey("tags"))
            tags = o["tags"] is JsonArray a
                ? [.. a.Select(t => t is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : throw Bad("'tags' must be an array of strings"))]
                : throw Bad("'tags' must be an array of strings");
        Dictionary<string, Tolerance>? tolerances = null;
        if (Obj("tolerances") is { } t)
        {
            tolerances = [];
            foreach (var (name, node) in t)
            {
                try { tolerances[name] = ManifestJson.ParseTolerance(node, path, $"tolerances.{name}"); }
                catch (GoldenIntegrityException e) { throw Bad($"tolerances.{name}: {e.Reason}"); }
            }
        }
        return new ImportSpecFile(Text(o, "op", "op"), Text(o, "case_id", "case_id"), Text(o, "description", "description"), Obj("params"),
            provenance is null ? null : Text(provenance, "repository", "provenance.repository"),
            provenance is null ? null : Text(provenance, "commit", "provenance.commit"),
            provenance is null ? null : Text(provenance, "function", "provenance.function"),
            provenance is null ? null : Text(provenance, "call", "provenance.call"),
            tags, Text(o, "accumulation_order", "accumulation_order"), tolerances, Obj("extensions"));
    }
}
