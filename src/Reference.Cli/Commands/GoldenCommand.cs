using Reference.Core.Conformance;
using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Reference.Core.IO;
using Reference.Golden;
using Reference.Golden.Backends;

namespace Reference.Cli.Commands;

/// <summary>
/// `reference golden list|verify|run|regen|explain|import`: the conformance runner over golden/.
/// Every verb takes --golden DIR (default: golden/ next to Reference.sln, found by walking up
/// from the current directory). Exit codes: 0 all passed, 1 a case failed (or regen refused a
/// change), 2 usage, 3 golden integrity (hash, manifest, orphan), 4 backend unavailable.
/// `run` and `verify` print one line per case and end with "N passed, N failed, N skipped".
/// </summary>
public static class GoldenCommand
{
    public static Command Create()
    {
        var command = new Command("golden", "Golden vectors: list, verify, run a backend against them, regenerate, explain a case.");
        command.Subcommands.Add(List());
        command.Subcommands.Add(Verify());
        command.Subcommands.Add(Run());
        command.Subcommands.Add(Regen());
        command.Subcommands.Add(Explain());
        command.Subcommands.Add(Import());
        return command;
    }

    private static Option<string?> GoldenOption() => new("--golden")
    {
        Description = "The golden directory (default: golden/ beside Reference.sln above the current directory, else the set installed with the tool).",
        HelpName = "DIR",
    };

    private static Option<string?> OpOption() => new("--op")
    {
        Description = "Only cases whose op (or op/case-id, when the pattern has a '/') matches this glob ('*', '?').",
        HelpName = "PATTERN",
    };

    private static Option<bool> AllowEmptyOption() => new("--allow-empty")
    {
        Description = "Accept a run that checks no case (an empty index, an --op matching nothing, every case skipped); without it that exits 1.",
        Arity = ArgumentArity.Zero,
    };

    /// <summary>Exit 1 with one line when nothing was checked, unless --allow-empty (a run that checks nothing must not pass silently).</summary>
    private static int Empty(TextWriter error, string what, bool allowed)
    {
        if (allowed) return ExitCodes.Success;
        error.WriteLine($"error: no case was checked ({what}); pass --allow-empty to accept that.");
        return ExitCodes.CheckFailed;
    }

    /// <summary>
    /// --golden DIR, else the golden/ of the checkout above the current directory, else (for reading
    /// only) the golden set installed with the tool.
    /// </summary>
    private static string RootPath(string? given, bool reading = false)
    {
        if (given is not null) return given;
        return GoldenStore.FindDefaultRoot(Environment.CurrentDirectory)
            ?? (reading ? GoldenStore.InstalledRoot() : null)
            ?? throw new CliException(reading
                ? "no --golden DIR given, no Reference.sln above the current directory to find golden/ from, and no golden set installed with this program."
                : "no --golden DIR given and no Reference.sln above the current directory to find golden/ from (the golden set installed with the tool is read-only: name a directory).");
    }

    private static GoldenStore OpenStore(string? given)
    {
        string root = RootPath(given, reading: true);
        if (!Directory.Exists(root)) throw new CliException($"--golden: directory '{root}' does not exist.");
        return GoldenStore.Open(root);
    }

    /// <summary>Maps the golden library's failures to the CLI's exit codes.</summary>
    private static int Guard(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (GoldenIntegrityException e)
        {
            throw new CliException($"golden integrity: {e.Message}", ExitCodes.Integrity);
        }
        catch (BackendUnavailableException e)
        {
            throw new CliException($"backend unavailable: {e.Message}", ExitCodes.BackendUnavailable);
        }
        catch (ArgumentException e)
        {
            throw new CliException(e.Message, ExitCodes.Usage);
        }
    }

    private static Command List()
    {
        var golden = GoldenOption();
        var op = OpOption();
        var json = new Option<bool>("--json") { Description = "Print the cases as a JSON array.", Arity = ArgumentArity.Zero };
        var command = new Command("list", "List the golden cases (id, tags, input and output shapes).") { golden, op, json };
        command.SetAction(parse => Guard(() =>
        {
            var output = parse.InvocationConfiguration.Output;
            var store = OpenStore(parse.GetValue(golden));
            string? pattern = parse.GetValue(op);
            var entries = store.ReadIndex().Where(e => pattern is null || GoldenRunner.Matches(pattern, e)).OrderBy(e => e.Id, StringComparer.Ordinal).ToList();
            var manifests = entries.Select(e => store.LoadManifest(e.Id)).ToList();
            if (parse.GetValue(json))
            {
                var array = new JsonArray();
                foreach (var m in manifests)
                    array.Add(new JsonObject
                    {
                        ["id"] = m.Id,
                        ["op"] = m.Op,
                        ["case_id"] = m.CaseId,
                        ["description"] = m.Description,
                        ["tags"] = new JsonArray([.. m.Tags.Select(t => (JsonNode)t)]),
                        ["inputs"] = Arrays(m.Inputs),
                        ["outputs"] = Arrays(m.Outputs),
                    });
                output.WriteLine(array.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                return ExitCodes.Success;
            }
            foreach (var m in manifests)
            {
                string tags = m.Tags.Count == 0 ? "" : $" [{string.Join(",", m.Tags)}]";
                output.WriteLine($"{m.Id}{tags}  {Shapes(m.Inputs)} -> {Shapes(m.Outputs)}");
            }
            output.WriteLine($"{manifests.Count} cases");
            return ExitCodes.Success;
        }));
        return command;
    }

    private static JsonArray Arrays(IEnumerable<GoldenArray> arrays) =>
        [.. arrays.Select(a => (JsonNode)new JsonObject { ["name"] = a.Name, ["dtype"] = a.DType, ["shape"] = new JsonArray([.. a.Shape.Select(d => (JsonNode)d)]) })];

    private static string Shapes(IEnumerable<GoldenArray> arrays) =>
        string.Join(" ", arrays.Select(a => $"{a.Name}{Npy.ShapeRepr([.. a.Shape.Select(d => (long)d)])}"));

    private static Command Verify()
    {
        var golden = GoldenOption();
        var allowEmpty = AllowEmptyOption();
        var command = new Command("verify", "Check the golden set's integrity: index, manifest schema, sha256 of every file, orphans.") { golden, allowEmpty };
        command.SetAction(parse => Guard(() =>
        {
            var output = parse.InvocationConfiguration.Output;
            var store = OpenStore(parse.GetValue(golden));
            var (cases, problems, good) = store.Verify();
            var external = good.Count > 0 ? store.ExternalCases() : new Dictionary<string, Provenance>();
            foreach (var id in good)
                output.WriteLine(external.TryGetValue(id, out var p) ? $"OK   {id} (external: {p.Function}, {p.Repository} at {p.Commit})" : $"OK   {id}");
            foreach (var (where, problem) in problems) output.WriteLine($"BAD  {where}: {problem}");
            output.WriteLine($"{good.Count} passed, {problems.Count} failed, 0 skipped");
            if (problems.Count > 0) return ExitCodes.Integrity;
            return cases == 0 ? Empty(parse.InvocationConfiguration.Error, "the index lists no case", parse.GetValue(allowEmpty)) : ExitCodes.Success;
        }));
        return command;
    }

    private static Command Run()
    {
        var golden = GoldenOption();
        var op = OpOption();
        var backend = new Option<string>("--backend")
        {
            Description = $"The backend to check: {Backends.Help}. process:CMD runs `CMD OP IN_DIR OUT_DIR` per case (golden/README.md).",
            DefaultValueFactory = _ => "naive",
            HelpName = "NAME",
        };
        var skipFile = new Option<string?>("--skip-file") { Description = "Cases to skip: one id (or glob) and a reason per line.", HelpName = "FILE" };
        var xfailFile = new Option<string?>("--xfail-file") { Description = "Expected failures: one id (or glob) and a reason per line; a passing one fails (XPASS).", HelpName = "FILE" };
        var report = new Option<string[]>("--report")
        {
            Description = "Also write a machine-readable report: --report json FILE.",
            Arity = new ArgumentArity(2, 2),
            AllowMultipleArgumentsPerToken = true,
            HelpName = "json FILE",
        };
        var precision = new Option<string?>("--precision")
        {
            Description = "Hold every output to this precision's bound (float32 | float64); default: the backend's own, or the candidate's dtype for process backends.",
            HelpName = "float32|float64",
        };
        precision.AcceptOnlyFromAmong("float32", "float64");
        var timeout = new Option<double>("--timeout")
        {
            Description = $"process backends: seconds one case may take before its process tree is killed and the case fails (default {ProcessBackend.DefaultTimeout.TotalSeconds:0}).",
            DefaultValueFactory = _ => ProcessBackend.DefaultTimeout.TotalSeconds,
            HelpName = "SECONDS",
        };
        var allowEmpty = AllowEmptyOption();
        var command = new Command("run", "Run a backend on the golden cases and compare every output with its tolerance.")
            { golden, op, backend, skipFile, xfailFile, report, precision, timeout, allowEmpty };
        command.SetAction(parse => Guard(() =>
        {
            var output = parse.InvocationConfiguration.Output;
            string[]? reportArgs = parse.GetValue(report);
            if (reportArgs is { Length: > 0 } && reportArgs[0] != "json")
                throw new CliException($"--report: format '{reportArgs[0]}' is not supported (expected: --report json FILE).");
            var store = OpenStore(parse.GetValue(golden));
            var options = new RunOptions(
                parse.GetValue(op),
                parse.GetValue(skipFile) is { } s ? GoldenRunner.ReadList(s, "--skip-file") : null,
                parse.GetValue(xfailFile) is { } x ? GoldenRunner.ReadList(x, "--xfail-file") : null,
                parse.GetValue(precision) switch { "float32" => Precision.Float32, "float64" => Precision.Float64, _ => null });
            double seconds = parse.GetValue(timeout);
            if (!double.IsFinite(seconds) || seconds <= 0 || seconds > TimeSpan.MaxValue.TotalSeconds / 2)
                throw new CliException($"--timeout must be a positive number of seconds, got {seconds}.");
            var chosen = Backends.Resolve(parse.GetValue(backend)!, TimeSpan.FromSeconds(seconds));
            var results = new List<CaseResult>();
            foreach (var result in GoldenRunner.Run(store, chosen, options))
            {
                output.WriteLine(result.Line);
                results.Add(result);
            }
            if (reportArgs is { Length: 2 })
                OutputFile.Write(reportArgs[1], (Action<Stream>)(stream => stream.Write(GoldenRunner.JsonReport(chosen.Name, store.Root, results))),
                    "--report", parse.InvocationConfiguration.Error);
            int failed = results.Count(r => r.Failed), passed = results.Count(r => r.Passed);
            // The count line stays last on stdout; why cases were skipped goes to stderr, grouped, so no skip passes unseen.
            foreach (var group in results.Where(r => r.Skipped).GroupBy(r => r.SkipKind).OrderBy(g => g.Key, StringComparer.Ordinal))
                parse.InvocationConfiguration.Error.WriteLine($"note: {group.Count()} skipped: {group.Key} ({string.Join(", ", group.Take(3).Select(r => r.Id))}{(group.Count() > 3 ? ", ..." : "")})");
            output.WriteLine($"{passed} passed, {failed} failed, {results.Count(r => r.Skipped)} skipped");
            if (failed > 0) return ExitCodes.CheckFailed;
            if (passed > 0) return ExitCodes.Success;
            string pattern = parse.GetValue(op) is { } p ? $"--op '{p}' matched no run case" : "the index lists no case to run";
            return Empty(parse.InvocationConfiguration.Error, results.Count > 0 ? "every case was skipped" : pattern, parse.GetValue(allowEmpty));
        }));
        return command;
    }

    private static Command Regen()
    {
        var golden = GoldenOption();
        var op = OpOption();
        var force = new Option<bool>("--force") { Description = "Overwrite cases whose bytes would change (and delete their extra files).", Arity = ArgumentArity.Zero };
        var command = new Command("regen", "Regenerate the golden cases from their seeds with the naive tier (byte-reproducible).") { golden, op, force };
        command.SetAction(parse => Guard(() =>
        {
            var output = parse.InvocationConfiguration.Output;
            string root = RootPath(parse.GetValue(golden));
            if (File.Exists(root)) throw new CliException($"--golden: '{root}' is a file, not a directory.");
            var store = GoldenStore.Create(root);
            var outcomes = GoldenRegen.Run(store, parse.GetValue(op), parse.GetValue(force));
            foreach (var o in outcomes)
                output.WriteLine($"{o.Status,-10}{o.Id}{(o.Detail.Length > 0 ? $"  {o.Detail}" : "")}");
            int refused = outcomes.Count(o => o.Status == "changed");
            output.WriteLine($"{outcomes.Count(o => o.Status == "new")} new, {outcomes.Count(o => o.Status == "rewritten")} rewritten, " +
                $"{outcomes.Count(o => o.Status == "unchanged")} unchanged, {refused} changed (not written), {outcomes.Count(o => o.Status == "stale")} stale" +
                (outcomes.Any(o => o.Status == "resumed") ? $", {outcomes.Count(o => o.Status == "resumed")} resumed" : ""));
            return refused == 0 ? ExitCodes.Success : ExitCodes.CheckFailed;
        }));
        return command;
    }

    private static Command Explain()
    {
        var golden = GoldenOption();
        var id = new Argument<string>("CASE") { Description = "The case id, op/case-id (see `reference golden list`)." };
        var command = new Command("explain", "Explain one case: op, parameters, arrays, tolerances and their rationale, provenance.") { golden, id };
        command.SetAction(parse => Guard(() =>
        {
            var output = parse.InvocationConfiguration.Output;
            var store = OpenStore(parse.GetValue(golden));
            string caseId = parse.GetValue(id)!;
            if (!store.ReadIndex().Any(e => e.Id == caseId))
                throw new CliException($"CASE: no case '{caseId}' in {Path.Combine(store.Root, GoldenStore.IndexFile)} (see `reference golden list`).");
            var m = store.LoadManifest(caseId);
            var op = GoldenRegistry.Find(m.Op);
            void Line(string key, string value) => output.WriteLine($"{key,-13}{value}");
            Line("case", m.Id);
            Line("op", $"{m.Op} version {m.OpVersion}{(op is null ? " (not registered in this build)" : $": {op.Summary}")}");
            Line("description", m.Description);
            Line("params", m.Params.ToJsonString());
            foreach (var a in m.Inputs) Line("input", $"{a.Name}: {a.DType} {Npy.ShapeRepr([.. a.Shape.Select(d => (long)d)])} {a.File} sha256 {a.Sha256}");
            foreach (var a in m.Outputs)
            {
                var t = a.Tolerance!;
                Line("output", $"{a.Name}: {a.DType} {Npy.ShapeRepr([.. a.Shape.Select(d => (long)d)])} {a.File} sha256 {a.Sha256}");
                Line("  tolerance", $"{t.Kind}; float64 backends: {Bound(t.Float64)}; float32 backends: {Bound(t.Float32)}");
                Line("  rationale", t.Rationale);
                Line("  canonical", a.Canonicalization ?? "none");
            }
            Line("generator", m.Generator is { } g ? $"{g.Rng}{(g.Seed is { } seed ? $" seed {seed}" : " (no seed: the inputs are given)")}: {g.Distribution}" : "none: the inputs are given (external case)");
            if (m.Reference.Provenance is { } p)
            {
                Line("reference", $"external: outputs computed by other code; imported with project {m.Reference.ProjectVersion ?? "?"}, commit {m.Reference.Commit ?? "?"}");
                Line("  repository", p.Repository);
                Line("  commit", p.Commit);
                Line("  function", p.Function);
                Line("  call", p.Call);
            }
            else Line("reference", $"{m.Reference.Tier} tier, project {m.Reference.ProjectVersion}, commit {m.Reference.Commit}");
            Line("accumulation", m.Reference.AccumulationOrder ?? "(not stated)");
            if (m.Extensions is { } x) Line("extensions", x.ToJsonString());
            Line("tags", m.Tags.Count == 0 ? "(none)" : string.Join(", ", m.Tags));
            Line("directory", store.CaseDirectory(m.Id));
            string? checkout = GoldenStore.FindDefaultRoot(Environment.CurrentDirectory);
            string where = checkout is not null && Path.GetFullPath(checkout) == store.Root ? "" : $" --golden {store.Root}";
            Line("reproduce", $"reference golden run --backend naive{where} --op '{m.Id}'");
            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command Import()
    {
        var golden = new Option<string?>("--golden")
        {
            Description = "The golden directory to add the case to (created when missing; default: golden/ beside Reference.sln above the current directory).",
            HelpName = "DIR",
        };
        var dir = new Argument<string>("DIR") { Description = "A directory of NAME.npy files: the op's inputs and the reference outputs (named after the op's outputs)." };
        var op = new Option<string?>("--op") { Description = "The op the outputs are reference values of (see `reference golden list`, `reference ops show NAME`).", HelpName = "NAME" };
        var parameters = new Option<string?>("--params") { Description = "The op's params as a JSON object, e.g. '{\"m\": 2, ...}' (`reference ops show NAME` lists them).", HelpName = "JSON" };
        var spec = new Option<string?>("--spec") { Description = "A JSON file with any of op, case_id, description, params, provenance, tags, accumulation_order, tolerances, extensions (options override it).", HelpName = "FILE" };
        var caseId = new Option<string?>("--case") { Description = "The case id (lower case; default: DIR's name, lower-cased, other characters as '_').", HelpName = "ID" };
        var description = new Option<string?>("--description") { Description = "One sentence for the manifest.", HelpName = "TEXT" };
        var repository = new Option<string?>("--repository") { Description = "Provenance: the repository of the code that computed the outputs.", HelpName = "URL" };
        var commit = new Option<string?>("--commit") { Description = "Provenance: its commit (or released version).", HelpName = "REV" };
        var function = new Option<string?>("--function") { Description = "Provenance: the function called.", HelpName = "NAME" };
        var call = new Option<string?>("--call") { Description = "Provenance: the exact call, with its arguments.", HelpName = "TEXT" };
        var tags = new Option<string[]>("--tag") { Description = "A tag (repeatable).", HelpName = "TAG" };
        var force = new Option<bool>("--force") { Description = "Replace an external case of the same id.", Arity = ArgumentArity.Zero };
        var command = new Command("import", "Turn a directory of NPY inputs and reference outputs from other code into an external case (manifest, hashes, tolerances, index).")
            { dir, golden, op, parameters, spec, caseId, description, repository, commit, function, call, tags, force };
        command.SetAction(parse => Guard(() =>
        {
            var output = parse.InvocationConfiguration.Output;
            string source = parse.GetValue(dir)!;
            ImportSpecFile? file = null;
            if (parse.GetValue(spec) is { } specPath)
            {
                if (!File.Exists(specPath)) throw new CliException($"--spec: file '{specPath}' does not exist.");
                file = ImportSpecFile.Parse(File.ReadAllBytes(specPath), specPath);
            }
            string opName = parse.GetValue(op) ?? file?.Op ?? throw new CliException("--op NAME is required (or \"op\" in --spec).");
            JsonObject parsedParams;
            if (parse.GetValue(parameters) is { } json)
            {
                JsonNode? node;
                try { node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false }); }
                catch (JsonException e) { throw new CliException($"--params: not valid JSON ({e.Message.ReplaceLineEndings(" ")})."); }
                parsedParams = node as JsonObject ?? throw new CliException("--params must be a JSON object, e.g. '{\"l\": 8}'.");
            }
            else parsedParams = file?.Params ?? throw new CliException("--params JSON is required (or \"params\" in --spec); `reference ops show NAME` lists an op's params.");
            string id = parse.GetValue(caseId) ?? file?.CaseId ?? DefaultCaseId(source);
            var provenance = new Provenance(
                parse.GetValue(repository) ?? file?.Repository ?? "", parse.GetValue(commit) ?? file?.Commit ?? "",
                parse.GetValue(function) ?? file?.Function ?? "", parse.GetValue(call) ?? file?.Call ?? "");
            string[] givenTags = parse.GetValue(tags) ?? [];
            var importSpec = new ImportSpec(opName, id, parsedParams, provenance, parse.GetValue(description) ?? file?.Description,
                givenTags.Length > 0 ? givenTags : file?.Tags, file?.Extensions, file?.Tolerances, file?.AccumulationOrder);
            string root = RootPath(parse.GetValue(golden));
            if (File.Exists(root)) throw new CliException($"--golden: '{root}' is a file, not a directory.");
            if (!Directory.Exists(source)) throw new CliException($"DIR: '{source}' is not a directory.");
            var result = GoldenImport.Run(GoldenStore.At(root), source, importSpec, parse.GetValue(force));
            var m = result.Manifest;
            output.WriteLine($"{(result.Replaced ? "replaced" : "imported")} {m.Id} (external: {provenance.Function}, {provenance.Repository} at {provenance.Commit}) into {result.Directory}");
            foreach (var a in m.Inputs) output.WriteLine($"  input  {a.Name} {a.DType} {Npy.ShapeRepr([.. a.Shape.Select(d => (long)d)])}");
            foreach (var a in m.Outputs) output.WriteLine($"  output {a.Name} {a.DType} {Npy.ShapeRepr([.. a.Shape.Select(d => (long)d)])} {a.Tolerance!.Kind}: float64 {Bound(a.Tolerance.Float64)}");
            foreach (var name in result.Ignored) output.WriteLine($"  ignored {name} (not a .npy file)");
            output.WriteLine($"oracle now: {string.Join("; ", result.OracleCheck.Select(c => c.ToString()))}");
            output.WriteLine($"next: reference golden verify --golden {root} && reference golden run --backend naive --golden {root} --op '{m.Id}'");
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>A directory's name as a case id: lower case, every character outside [a-z0-9_.-] replaced by '_'.</summary>
    internal static string DefaultCaseId(string source)
    {
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(source))).ToLowerInvariant();
        var chars = name.Select(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '.' or '-' ? c : '_').ToArray();
        string id = new string(chars).TrimStart('_', '.', '-');
        return id.Length == 0 ? "imported" : id;
    }

    private static string Bound(ToleranceBound b)
    {
        string text = b.ToString();
        return text.Length == 0 ? "exact equality" : text;
    }
}
