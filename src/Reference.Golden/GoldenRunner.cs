using System.Text.Json;
using System.Text.RegularExpressions;
using Reference.Core.IO;
using Reference.Golden.Backends;

namespace Reference.Golden;

public enum CaseStatus
{
    Pass,
    Fail,
    Skip,
    /// <summary>Failed, and listed in the xfail file: counted as skipped.</summary>
    XFail,
    /// <summary>Passed although listed in the xfail file: counted as failed (the list is stale).</summary>
    XPass,
}

/// <summary>The outcome of one case: its status, the per-output comparisons, and a message (skip reason, backend error).</summary>
public sealed record CaseResult(string Id, CaseStatus Status, IReadOnlyList<Comparison> Comparisons, string Message)
{
    public const string SkipListed = "listed in the skip file";

    public const string SkipOpVersion = "op_version differs from this build's";

    public const string SkipUnsupported = "not supported by the backend";

    public const string SkipExpected = "expected failures (xfail file)";

    /// <summary>Why a skipped case was skipped, as one of the Skip* kinds (the run's summary groups skips by it); empty for a case that ran.</summary>
    public string SkipKind { get; init; } = "";

    public bool Passed => Status == CaseStatus.Pass;

    public bool Failed => Status is CaseStatus.Fail or CaseStatus.XPass;

    public bool Skipped => Status is CaseStatus.Skip or CaseStatus.XFail;

    /// <summary>The runner's output line: "PASS op/case out norm_rel=3.1e-17 &lt;= 1e-12", "FAIL ...", "SKIP op/case (reason)".</summary>
    public string Line
    {
        get
        {
            string comparisons = string.Join("; ", Comparisons.Select(c => c.ToString()));
            string body = Comparisons.Count > 0 ? comparisons : Message;
            return Status switch
            {
                CaseStatus.Pass => $"PASS {Id} {body}",
                CaseStatus.Fail => $"FAIL {Id} {body}",
                CaseStatus.Skip => $"SKIP {Id} ({Message})",
                CaseStatus.XFail => $"XFAIL {Id} ({Message}) {comparisons}".TrimEnd(),
                _ => $"XPASS {Id} ({Message}) passed but is listed as an expected failure: {comparisons}",
            };
        }
    }
}

/// <summary>A line of a skip or xfail file: a case id (or glob) and the reason.</summary>
public sealed record ListEntry(string Pattern, string Reason);

/// <summary>Which cases to run and how; Precision overrides the backend's (or the candidate dtype's) choice of tolerance bound.</summary>
public sealed record RunOptions(string? Pattern = null, IReadOnlyList<ListEntry>? Skip = null, IReadOnlyList<ListEntry>? XFail = null, Precision? Precision = null);

/// <summary>
/// Runs the golden cases through a backend and compares every output with its tolerance.
/// Integrity problems (hash, manifest) are thrown as <see cref="GoldenIntegrityException"/>;
/// a backend that cannot run at all as <see cref="BackendUnavailableException"/>; anything a
/// backend throws for one case fails that case only.
/// </summary>
public static class GoldenRunner
{
    public static IEnumerable<CaseResult> Run(GoldenStore store, IGoldenBackend backend, RunOptions options)
    {
        foreach (var entry in store.ReadIndex().OrderBy(e => e.Id, StringComparer.Ordinal))
        {
            if (options.Pattern is not null && !Matches(options.Pattern, entry)) continue;
            var skip = options.Skip?.FirstOrDefault(s => Matches(s.Pattern, entry));
            if (skip is not null)
            {
                yield return new CaseResult(entry.Id, CaseStatus.Skip, [], skip.Reason) { SkipKind = CaseResult.SkipListed };
                continue;
            }
            var result = RunOne(store, backend, entry, options.Precision);
            var xfail = options.XFail?.FirstOrDefault(s => Matches(s.Pattern, entry));
            if (xfail is not null && result.Status != CaseStatus.Skip)
                result = result with
                {
                    Status = result.Passed ? CaseStatus.XPass : CaseStatus.XFail, Message = xfail.Reason,
                    SkipKind = result.Passed ? "" : CaseResult.SkipExpected,
                };
            yield return result;
        }
    }

    private static CaseResult RunOne(GoldenStore store, IGoldenBackend backend, IndexEntry entry, Precision? forced)
    {
        if (!backend.Supports(entry.Op))
            return new CaseResult(entry.Id, CaseStatus.Skip, [], $"backend {backend.Name} does not implement {entry.Op}") { SkipKind = CaseResult.SkipUnsupported };
        var manifest = store.LoadManifest(entry.Id);
        // The project's tiers implement one version of each op: a case of another version would be
        // checked against a different definition, so it is skipped, and said so.
        if (backend is TierBackend && GoldenRegistry.Find(manifest.Op) is { } op && op.Version != manifest.OpVersion)
            return new CaseResult(entry.Id, CaseStatus.Skip, [],
                $"op_version differs: the case is {manifest.Op} version {manifest.OpVersion}, this build implements version {op.Version}") { SkipKind = CaseResult.SkipOpVersion };
        var inputs = store.LoadInputs(manifest);
        var expected = new NamedArrays();
        foreach (var o in manifest.Outputs) expected.Add(o.Name, store.LoadArray(manifest, o));

        NamedArrays actual;
        try
        {
            actual = backend.Run(BackendRequest.For(manifest, inputs));
        }
        catch (NotSupportedException e)
        {
            return new CaseResult(entry.Id, CaseStatus.Skip, [], e.Message) { SkipKind = CaseResult.SkipUnsupported };
        }
        catch (Exception e) when (e is not BackendUnavailableException and not GoldenIntegrityException)
        {
            return new CaseResult(entry.Id, CaseStatus.Fail, [], $"backend error: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
        }

        var comparisons = new List<Comparison>();
        foreach (var o in manifest.Outputs)
        {
            if (!actual.TryGetValue(o.Name, out var candidate))
            {
                comparisons.Add(new Comparison(o.Name, false, "missing", double.NaN, double.NaN, "the backend returned no such output"));
                continue;
            }
            var precision = forced ?? backend.Precision ?? (candidate.DType == NpyDType.Float32 ? Precision.Float32 : Precision.Float64);
            comparisons.Add(Comparator.Compare(o.Name, expected[o.Name], candidate, o.Tolerance!, precision));
        }
        return new CaseResult(entry.Id, comparisons.All(c => c.Passed) ? CaseStatus.Pass : CaseStatus.Fail, comparisons, "");
    }

    /// <summary>
    /// Glob match ('*' any run, '?' one character) against the op name, or against "op/case-id"
    /// when the pattern contains '/'.
    /// </summary>
    public static bool Matches(string pattern, IndexEntry entry)
    {
        string target = pattern.Contains('/') ? entry.Id : entry.Op;
        string regex = "^" + Regex.Escape(pattern).Replace(@"\*", ".*").Replace(@"\?", ".") + "$";
        return Regex.IsMatch(target, regex);
    }

    /// <summary>
    /// Reads a skip or xfail file: one case id (or glob) per line followed by its reason; '#'
    /// starts a comment; blank lines are ignored. A line without a reason is an error: every
    /// skip must say why.
    /// </summary>
    public static IReadOnlyList<ListEntry> ReadList(string path, string option)
    {
        if (!File.Exists(path)) throw new ArgumentException($"{option} file '{path}' does not exist.", option);
        var entries = new List<ListEntry>();
        int number = 0;
        foreach (var raw in File.ReadLines(path))
        {
            number++;
            string line = raw.Split('#', 2)[0].Trim();
            if (line.Length == 0) continue;
            var parts = line.Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (parts.Length < 2)
                throw new ArgumentException($"{path}:{number}: '{line}' needs a reason after the case id.", option);
            entries.Add(new ListEntry(parts[0], parts[1]));
        }
        return entries;
    }

    /// <summary>The machine-readable report: backend, golden directory, one object per case, and the counts.</summary>
    public static byte[] JsonReport(string backend, string golden, IReadOnlyList<CaseResult> results)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, ManifestJson.WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("backend", backend);
            w.WriteString("golden", golden);
            w.WriteStartArray("cases");
            foreach (var r in results)
            {
                w.WriteStartObject();
                w.WriteString("id", r.Id);
                w.WriteString("status", r.Status.ToString().ToLowerInvariant());
                w.WriteString("message", r.Message);
                if (r.SkipKind.Length > 0) w.WriteString("skip_kind", r.SkipKind);
                w.WriteStartArray("outputs");
                foreach (var c in r.Comparisons)
                {
                    w.WriteStartObject();
                    w.WriteString("name", c.Output);
                    w.WriteBoolean("passed", c.Passed);
                    w.WriteString("metric", c.Metric);
                    WriteNumberOrNull(w, "value", c.Value);
                    WriteNumberOrNull(w, "threshold", c.Threshold);
                    w.WriteString("detail", c.Detail);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteString("line", r.Line);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("summary");
            w.WriteNumber("passed", results.Count(r => r.Passed));
            w.WriteNumber("failed", results.Count(r => r.Failed));
            w.WriteNumber("skipped", results.Count(r => r.Skipped));
            w.WriteEndObject();
            w.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    private static void WriteNumberOrNull(Utf8JsonWriter w, string key, double value)
    {
        if (double.IsFinite(value)) w.WriteNumber(key, value);
        else if (double.IsPositiveInfinity(value)) w.WriteString(key, "inf");
        else w.WriteNull(key);
    }
}
