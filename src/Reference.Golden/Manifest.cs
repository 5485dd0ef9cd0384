using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Reference.Golden;

/// <summary>
/// One array of a case: an input (no tolerance) or an output (with its tolerance). File: the .npy
/// name inside the case directory; DType: numpy's name (float64, float32, int64, int32,
/// complex128, bool); Sha256: lowercase hex SHA-256 of the whole .npy file; Canonicalization:
/// how to make a non-unique output comparable ("none" when the output is unique).
/// </summary>
public sealed record GoldenArray(string Name, string File, string DType, int[] Shape, string Sha256,
    Tolerance? Tolerance = null, string? Canonicalization = null);

/// <summary>
/// How the inputs were drawn: generator seed, RNG and distribution (enough to regenerate them
/// elsewhere). The seed is null only in an external case, whose inputs are given as files.
/// </summary>
public sealed record GeneratorInfo(ulong? Seed, string Rng, string Distribution);

/// <summary>
/// Where reference outputs that did not come from this project were computed: the repository, the
/// commit (or released version) of it, the function, and the exact call that produced them, so a
/// reader can rerun it. Every field is a non-empty string.
/// </summary>
public sealed record Provenance(string Repository, string Commit, string Function, string Call);

/// <summary>
/// What produced the outputs. Tier "naive": this project's naive tier (project version, source
/// commit and accumulation order required, no provenance). Tier "external": other code, named by
/// <see cref="Provenance"/>; the project version and commit are then those of the build that
/// imported the case, and the accumulation order is what the provider states (may be absent).
/// </summary>
public sealed record ReferenceInfo(string? ProjectVersion, string? Commit, string Tier, string? AccumulationOrder, Provenance? Provenance = null)
{
    public const string NaiveTier = "naive";

    public const string ExternalTier = "external";

    public bool IsExternal => Tier == ExternalTier;
}

/// <summary>
/// golden/&lt;op&gt;/&lt;case-id&gt;/manifest.json (schema_version 1; golden/README.md documents
/// every field). Serialized deterministically: fixed key order, two-space indentation, '\n'
/// line ends, shortest round-trip numbers. <see cref="Generator"/> is null only for an external
/// case, whose inputs are given rather than drawn; <see cref="Extensions"/> is the one object
/// where a provider keeps keys of its own (kept verbatim, never interpreted).
/// </summary>
public sealed record GoldenManifest(
    int SchemaVersion, string Op, int OpVersion, string CaseId, string Description, JsonObject Params,
    IReadOnlyList<GoldenArray> Inputs, IReadOnlyList<GoldenArray> Outputs,
    GeneratorInfo? Generator, ReferenceInfo Reference, IReadOnlyList<string> Tags, JsonObject? Extensions = null)
{
    public const int CurrentSchema = 1;

    public string Id => $"{Op}/{CaseId}";
}

public static partial class ManifestJson
{
    [GeneratedRegex(@"^[a-z0-9_]+(\.[a-z0-9_]+)*$")]
    internal static partial Regex OpName();

    [GeneratedRegex(@"^[a-z0-9][a-z0-9_.-]*$")]
    internal static partial Regex CaseId();

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]*\.npy$")]
    internal static partial Regex FileName();

    /// <summary>An input or output name: a plain identifier (backends build file names from it: NAME.npy).</summary>
    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$")]
    public static partial Regex ArrayName();

    [GeneratedRegex(@"^[0-9a-f]{64}$")]
    private static partial Regex Sha();

    [GeneratedRegex(@"^[a-z0-9_]+$")]
    private static partial Regex Tag();

    private static readonly string[] DTypes = ["float64", "float32", "int64", "int32", "complex128", "bool"];

    private static readonly string[] TopKeys =
        ["schema_version", "op", "op_version", "case_id", "description", "params", "inputs", "outputs", "reference", "tags"];

    /// <summary>The top-level key whose object holds a provider's own keys (kept, not interpreted).</summary>
    public const string ExtensionsKey = "extensions";

    /// <summary>The rule a case id follows, as error messages state it.</summary>
    public const string CaseIdRule = "case ids are lower case: a-z, 0-9, then also '_', '.', '-'";

    /// <summary>Whether <paramref name="id"/> is a valid case id.</summary>
    public static bool IsCaseId(string id) => CaseId().IsMatch(id);

    /// <summary>Why <paramref name="id"/> is not a valid case id (naming the lower-case form when that is the only problem).</summary>
    public static string CaseIdProblem(string id) =>
        id.Any(char.IsUpper) && CaseId().IsMatch(id.ToLowerInvariant())
            ? $"case id '{id}' has upper-case letters; {CaseIdRule} (rename it '{id.ToLowerInvariant()}')"
            : $"case id '{id}' is not valid; {CaseIdRule}";

    // Relaxed escaping keeps apostrophes and the like readable; output stays plain UTF-8 JSON.
    internal static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = true, IndentSize = 2, NewLine = "\n", Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static byte[] ToBytes(GoldenManifest m)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteNumber("schema_version", m.SchemaVersion);
            w.WriteString("op", m.Op);
            w.WriteNumber("op_version", m.OpVersion);
            w.WriteString("case_id", m.CaseId);
            w.WriteString("description", m.Description);
            w.WritePropertyName("params");
            m.Params.WriteTo(w);
            WriteArrays(w, "inputs", m.Inputs);
            WriteArrays(w, "outputs", m.Outputs);
            if (m.Generator is { } g)
            {
                w.WriteStartObject("generator");
                if (g.Seed is { } seed) w.WriteNumber("seed", seed);
                w.WriteString("rng", g.Rng);
                w.WriteString("distribution", g.Distribution);
                w.WriteEndObject();
            }
            w.WriteStartObject("reference");
            if (m.Reference.ProjectVersion is { } version) w.WriteString("project_version", version);
            if (m.Reference.Commit is { } commit) w.WriteString("commit", commit);
            w.WriteString("tier", m.Reference.Tier);
            if (m.Reference.AccumulationOrder is { } order) w.WriteString("accumulation_order", order);
            if (m.Reference.Provenance is { } p)
            {
                w.WriteStartObject("provenance");
                w.WriteString("repository", p.Repository);
                w.WriteString("commit", p.Commit);
                w.WriteString("function", p.Function);
                w.WriteString("call", p.Call);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteStartArray("tags");
            foreach (var tag in m.Tags) w.WriteStringValue(tag);
            w.WriteEndArray();
            if (m.Extensions is { } extensions)
            {
                w.WritePropertyName(ExtensionsKey);
                extensions.WriteTo(w);
            }
            w.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    private static void WriteArrays(Utf8JsonWriter w, string key, IReadOnlyList<GoldenArray> arrays)
    {
        w.WriteStartArray(key);
        foreach (var a in arrays)
        {
            w.WriteStartObject();
            w.WriteString("name", a.Name);
            w.WriteString("file", a.File);
            w.WriteString("dtype", a.DType);
            w.WriteStartArray("shape");
            foreach (int d in a.Shape) w.WriteNumberValue(d);
            w.WriteEndArray();
            w.WriteString("sha256", a.Sha256);
            if (a.Tolerance is { } t)
            {
                w.WriteStartObject("tolerance");
                w.WriteString("kind", t.Kind);
                WriteBound(w, "float64", t.Float64);
                WriteBound(w, "float32", t.Float32);
                w.WriteString("rationale", t.Rationale);
                w.WriteEndObject();
            }
            if (a.Canonicalization is { } c) w.WriteString("canonicalization", c);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WriteBound(Utf8JsonWriter w, string key, ToleranceBound b)
    {
        w.WriteStartObject(key);
        if (b.MaxUlp is { } u) w.WriteNumber("max_ulp", u);
        if (b.Rtol is { } r) w.WriteNumber("rtol", r);
        if (b.Atol is { } a) w.WriteNumber("atol", a);
        if (b.Max is { } m) w.WriteNumber("max", m);
        if (b.Floor is { } f) w.WriteNumber("floor", f);
        w.WriteEndObject();
    }

    /// <summary>Parses and validates a manifest; every problem is a <see cref="GoldenIntegrityException"/> naming <paramref name="path"/>.</summary>
    public static GoldenManifest Parse(byte[] bytes, string path)
    {
        var root = ParseJson(bytes, path, "manifest");
        var r = new Reader(path);
        var o = r.Object(root, "manifest");
        r.ExactKeys(o, "manifest", TopKeys, ["generator", ExtensionsKey]);
        int schema = r.Int(o, "schema_version");
        if (schema != GoldenManifest.CurrentSchema)
            throw r.Fail($"schema_version {schema} is not supported (expected {GoldenManifest.CurrentSchema})");
        string op = r.Matching(o, "op", OpName(), "a dotted lowercase name such as linalg.gemm");
        int opVersion = r.Int(o, "op_version");
        if (opVersion < 1) throw r.Fail($"op_version {opVersion} must be >= 1");
        string caseId = r.String(o, "case_id");
        if (!IsCaseId(caseId)) throw r.Fail(CaseIdProblem(caseId));
        string description = r.String(o, "description");
        var parameters = r.Object(o["params"], "params");
        var inputs = r.Arrays(o, "inputs", isOutput: false);
        var outputs = r.Arrays(o, "outputs", isOutput: true);
        if (outputs.Count == 0) throw r.Fail("outputs is empty");
        var names = inputs.Concat(outputs).Select(a => a.File).ToList();
        if (names.Distinct().Count() != names.Count) throw r.Fail("two arrays share a file name");
        var reference = ParseReference(r, r.Object(o["reference"], "reference"));
        GeneratorInfo? generator = null;
        if (o.ContainsKey("generator"))
        {
            var g = r.Object(o["generator"], "generator");
            // The seed regenerates the inputs of a naive case; an external case's inputs are given, so it may have none.
            r.ExactKeys(g, "generator", reference.IsExternal ? ["rng", "distribution"] : ["seed", "rng", "distribution"], reference.IsExternal ? ["seed"] : []);
            generator = new GeneratorInfo(g.ContainsKey("seed") ? r.ULong(g, "seed") : null, r.String(g, "rng"), r.String(g, "distribution"));
        }
        else if (!reference.IsExternal)
            throw r.Fail("manifest lacks 'generator' (only an external case, whose inputs are given, may leave it out)");
        else if (inputs.Count == 0)
            throw r.Fail("an external case without 'generator' must list its inputs");
        var tagArray = o["tags"] as JsonArray ?? throw r.Fail("tags must be an array of strings");
        var tags = new List<string>();
        foreach (var t in tagArray)
        {
            string tag = t is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw r.Fail("tags must be an array of strings");
            if (!Tag().IsMatch(tag)) throw r.Fail($"tag '{tag}' must be a lowercase word");
            tags.Add(tag);
        }
        JsonObject? extensions = o.ContainsKey(ExtensionsKey) ? r.Object(o[ExtensionsKey], ExtensionsKey) : null;
        return new GoldenManifest(schema, op, opVersion, caseId, description, parameters, inputs, outputs, generator, reference, tags, extensions);
    }

    /// <summary>
    /// reference: tier naive (this project's naive tier: project_version, commit, accumulation_order)
    /// or external (other code: provenance with repository, commit, function and call, each a
    /// non-empty string; project_version, commit and accumulation_order optional).
    /// </summary>
    private static ReferenceInfo ParseReference(Reader r, JsonObject re)
    {
        string tier = r.String(re, "tier");
        switch (tier)
        {
            case ReferenceInfo.NaiveTier:
                r.ExactKeys(re, "reference", ["project_version", "commit", "tier", "accumulation_order"], []);
                return new ReferenceInfo(r.String(re, "project_version"), r.String(re, "commit"), tier, r.String(re, "accumulation_order"));
            case ReferenceInfo.ExternalTier:
                r.ExactKeys(re, "reference", ["tier", "provenance"], ["project_version", "commit", "accumulation_order"]);
                var p = r.Object(re["provenance"], "reference.provenance");
                string[] fields = ["repository", "commit", "function", "call"];
                r.ExactKeys(p, "reference.provenance", fields, []);
                foreach (var field in fields)
                    if (string.IsNullOrWhiteSpace(r.String(p, field)))
                        throw r.Fail($"reference.provenance.{field} is empty (an external case names the repository, commit, function and exact call that produced its outputs)");
                string? Optional(string key) => re.ContainsKey(key) ? r.String(re, key) : null;
                return new ReferenceInfo(Optional("project_version"), Optional("commit"), tier, Optional("accumulation_order"),
                    new Provenance(r.String(p, "repository"), r.String(p, "commit"), r.String(p, "function"), r.String(p, "call")));
            default:
                throw r.Fail($"reference.tier is '{tier}'; expected '{ReferenceInfo.NaiveTier}' (outputs of this project's naive tier) " +
                    $"or '{ReferenceInfo.ExternalTier}' (outputs of other code, named in reference.provenance)");
        }
    }

    /// <summary>A tolerance object as a manifest holds it ({kind, float64, float32, rationale}); problems are integrity errors naming <paramref name="path"/>.</summary>
    public static Tolerance ParseTolerance(JsonNode? node, string path, string what)
    {
        var r = new Reader(path);
        var t = r.Object(node, what);
        r.ExactKeys(t, what, ["kind", "float64", "float32", "rationale"], []);
        var tolerance = new Tolerance(r.String(t, "kind"), r.Bound(t, "float64"), r.Bound(t, "float32"), r.String(t, "rationale"));
        return tolerance.Problem() is { } problem ? throw r.Fail($"{what}: {problem}") : tolerance;
    }

    /// <summary>Strict options: no comments, no trailing commas, no key twice in one object.</summary>
    internal static readonly JsonDocumentOptions StrictJson = new()
    {
        AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow, AllowDuplicateProperties = false,
    };

    /// <summary>
    /// Parses a golden JSON file strictly: valid UTF-8 (checked first, so no string read later can
    /// fail to transcode), valid JSON, and no duplicate keys (which JSON readers resolve differently).
    /// Every problem is a <see cref="GoldenIntegrityException"/> naming <paramref name="path"/>.
    /// </summary>
    internal static JsonNode? ParseJson(byte[] bytes, string path, string what)
    {
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
        {
            int at = -1;
            try { new UTF8Encoding(false, throwOnInvalidBytes: true).GetCharCount(bytes); }
            catch (DecoderFallbackException e) { at = e.Index; }
            throw new GoldenIntegrityException(path, $"{what} is not valid UTF-8 (bad byte at offset {at})");
        }
        try
        {
            return JsonNode.Parse(bytes, documentOptions: StrictJson);
        }
        catch (JsonException e)
        {
            throw new GoldenIntegrityException(path, $"{what} is not valid JSON ({e.Message.ReplaceLineEndings(" ")})");
        }
    }

    private sealed class Reader(string path)
    {
        public GoldenIntegrityException Fail(string reason) => new(path, $"manifest schema: {reason}");

        public JsonObject Object(JsonNode? node, string what) => node as JsonObject ?? throw Fail($"{what} must be a JSON object");

        public void ExactKeys(JsonObject o, string what, string[] required, string[] optional)
        {
            foreach (var key in required)
                if (!o.ContainsKey(key)) throw Fail($"{what} lacks '{key}'");
            foreach (var (key, _) in o)
                if (!required.Contains(key) && !optional.Contains(key)) throw Fail($"{what} has an unknown key '{key}'");
        }

        public string String(JsonObject o, string key) =>
            o[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw Fail($"'{key}' must be a string");

        public string Matching(JsonObject o, string key, Regex pattern, string rule)
        {
            string s = String(o, key);
            return pattern.IsMatch(s) ? s : throw Fail($"{key} '{s}' is not valid ({rule})");
        }

        public int Int(JsonObject o, string key) =>
            o[key] is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<int>(out var n) ? n : throw Fail($"'{key}' must be an integer");

        public ulong ULong(JsonObject o, string key) =>
            o[key] is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<ulong>(out var n) ? n : throw Fail($"'{key}' must be a non-negative integer");

        public double? Double(JsonObject o, string key) =>
            !o.ContainsKey(key) ? null
            : o[key] is JsonValue v && v.GetValueKind() == JsonValueKind.Number
                ? v.TryGetValue<double>(out var d) && double.IsFinite(d) ? d
                    : throw Fail($"'{key}' = {v.ToJsonString()} is not a finite float64 number (a bound of infinity checks nothing)")
            : throw Fail($"'{key}' must be a number");

        public List<GoldenArray> Arrays(JsonObject o, string key, bool isOutput)
        {
            var list = o[key] as JsonArray ?? throw Fail($"'{key}' must be an array");
            var result = new List<GoldenArray>();
            foreach (var node in list)
            {
                var a = Object(node, $"an entry of {key}");
                ExactKeys(a, $"{key} entry", isOutput ? ["name", "file", "dtype", "shape", "sha256", "tolerance", "canonicalization"] : ["name", "file", "dtype", "shape", "sha256"], []);
                string name = String(a, "name");
                if (!ArrayName().IsMatch(name))
                    throw Fail($"{key} name '{name}' is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*; backends write NAME.npy)");
                string file = Matching(a, "file", FileName(), "a plain name ending in .npy");
                string dtype = String(a, "dtype");
                if (!DTypes.Contains(dtype)) throw Fail($"{key} '{name}': dtype '{dtype}' is not one of {string.Join(", ", DTypes)}");
                var shapeNode = a["shape"] as JsonArray ?? throw Fail($"{key} '{name}': shape must be an array of integers");
                var shape = shapeNode.Select(d => d is JsonValue v && v.TryGetValue<int>(out var n) && n >= 0 ? n
                    : throw Fail($"{key} '{name}': shape must be an array of non-negative integers")).ToArray();
                string sha = String(a, "sha256");
                if (!Sha().IsMatch(sha)) throw Fail($"{key} '{name}': sha256 must be 64 lowercase hex digits");
                Tolerance? tolerance = null;
                string? canonical = null;
                if (isOutput)
                {
                    var t = Object(a["tolerance"], $"{key} '{name}' tolerance");
                    ExactKeys(t, "tolerance", ["kind", "float64", "float32", "rationale"], []);
                    tolerance = new Tolerance(String(t, "kind"), Bound(t, "float64"), Bound(t, "float32"), String(t, "rationale"));
                    if (tolerance.Problem() is { } problem) throw Fail($"{key} '{name}': {problem}");
                    canonical = String(a, "canonicalization");
                }
                result.Add(new GoldenArray(name, file, dtype, shape, sha, tolerance, canonical));
            }
            if (result.Select(x => x.Name).Distinct().Count() != result.Count) throw Fail($"{key} has duplicate names");
            return result;
        }

        public ToleranceBound Bound(JsonObject t, string key)
        {
            var b = Object(t[key], $"tolerance.{key}");
            ExactKeys(b, $"tolerance.{key}", [], ["max_ulp", "rtol", "atol", "max", "floor"]);
            long? ulp = b.ContainsKey("max_ulp")
                ? b["max_ulp"] is JsonValue v && v.TryGetValue<long>(out var n) ? n : throw Fail($"tolerance.{key}.max_ulp must be an integer")
                : null;
            return new ToleranceBound(Double(b, "rtol"), Double(b, "atol"), Double(b, "max"), Double(b, "floor"), ulp);
        }
    }

    /// <summary>Lowercase hex SHA-256.</summary>
    public static string Sha256Hex(ReadOnlySpan<byte> bytes) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));

    internal static string Invariant(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    internal static string Utf8(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
