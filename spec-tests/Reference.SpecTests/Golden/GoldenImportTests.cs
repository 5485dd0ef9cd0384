using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Reference.Core.IO;
using Reference.Golden;
using Reference.Golden.Ops;
using Reference.SpecTests.Cli;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Golden;

/// <summary>
/// The runner for outsiders: external cases (tier external, provenance, extensions kept),
/// `golden import` (valid case from a directory of NPY files; bad input is one line and exit 2 or
/// 3 with nothing written), and the README's walkthrough run as written.
/// </summary>
public class GoldenImportTests
{
    private const string GemmParams = """{"m": 3, "n": 5, "k": 4, "trans_a": false, "trans_b": false, "alpha": 1, "beta": 0}""";

    private static readonly string[] Provenance =
        ["--repository", "https://github.com/numpy/numpy", "--commit", "v1.24.2", "--function", "numpy.matmul", "--call", "a @ b"];

    /// <summary>
    /// GEMM vectors computed by the test's own triple loop (out[i, j] = sum_p a[i, p] b[p, j]),
    /// independent of the project's GEMM; <paramref name="scale"/> perturbs the output.
    /// </summary>
    private static string GemmVectors(string parent, string name = "vec", double scale = 1.0)
    {
        string dir = Path.Combine(parent, name);
        Directory.CreateDirectory(dir);
        var rng = new Reference.Core.SplitMix64(7);
        double[] a = [.. Enumerable.Range(0, 12).Select(_ => rng.Normal())], b = [.. Enumerable.Range(0, 20).Select(_ => rng.Normal())];
        var o = new double[15];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 5; j++)
            {
                double acc = 0;
                for (int p = 0; p < 4; p++) acc += a[i * 4 + p] * b[p * 5 + j];
                o[i * 5 + j] = acc * scale;
            }
        Npy.Write(Path.Combine(dir, "a.npy"), NpyArray.Of(a, 3, 4));
        Npy.Write(Path.Combine(dir, "b.npy"), NpyArray.Of(b, 4, 5));
        Npy.Write(Path.Combine(dir, "out.npy"), NpyArray.Of(o, 3, 5));
        return dir;
    }

    private static (int Code, string Out, string Err) Import(string vectors, string golden, params string[] extra) =>
        CliRunner.Run(["golden", "import", vectors, "--golden", golden, .. extra]);

    private static (int Code, string Out, string Err) ImportGemm(string vectors, string golden, params string[] extra) =>
        Import(vectors, golden, ["--op", "linalg.gemm", "--params", GemmParams, .. Provenance, .. extra]);

    /// <summary>Every file and directory under <paramref name="root"/> (hidden ones too) with the hash of its bytes.</summary>
    private static List<string> Snapshot(string root) =>
        !Directory.Exists(root) ? ["(absent)"]
        : [.. Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Order(StringComparer.Ordinal)
            .Select(p => Path.GetRelativePath(root, p) + (File.Exists(p) ? " " + ManifestJson.Sha256Hex(File.ReadAllBytes(p)) : "/"))];

    // ---------------------------------------------------------------- 8. import, verify, run

    [Fact]
    public void Import_GemmVectorsFromIndependentCode_VerifyAndRunPass_AndAPerturbedOutputFails()
    {
        using var dir = new TempDir();
        string golden = Path.Combine(dir.Path, "mine");
        var (code, output, error) = ImportGemm(GemmVectors(dir.Path), golden);
        Assert.True(code == 0, output + error);
        Assert.Contains("imported linalg.gemm/vec (external: numpy.matmul", output);
        Assert.Contains("oracle now: out norm_rel=", output);

        var m = GoldenStore.Open(golden).LoadManifest("linalg.gemm/vec");
        Assert.Equal(ReferenceInfo.ExternalTier, m.Reference.Tier);
        Assert.Null(m.Generator);
        Assert.Equal(new Provenance("https://github.com/numpy/numpy", "v1.24.2", "numpy.matmul", "a @ b"), m.Reference.Provenance);
        Assert.Equal(["a", "b"], m.Inputs.Select(a => a.Name));
        Assert.Equal("norm_rel", m.Outputs.Single().Tolerance!.Kind);
        Assert.Contains("numpy.matmul", m.Outputs.Single().Tolerance!.Rationale);
        Assert.Contains("GEMM is a length-k reduction", m.Outputs.Single().Tolerance!.Rationale);

        (code, output, error) = CliRunner.Run("golden", "verify", "--golden", golden);
        Assert.True(code == 0, output + error);
        Assert.Contains("OK   linalg.gemm/vec (external: numpy.matmul, https://github.com/numpy/numpy at v1.24.2)", output);
        (code, output, error) = CliRunner.Run("golden", "run", "--backend", "naive", "--golden", golden);
        Assert.True(code == 0, output + error);
        Assert.StartsWith("PASS linalg.gemm/vec out norm_rel=", output);
        (code, output, _) = CliRunner.Run("golden", "explain", "--golden", golden, "linalg.gemm/vec");
        Assert.Equal(0, code);
        Assert.Contains("  call       a @ b", output);
        Assert.Contains("generator    none: the inputs are given (external case)", output);
        Assert.Contains($"reproduce    reference golden run --backend naive --golden {Path.GetFullPath(golden)} --op 'linalg.gemm/vec'", output);
        (code, output, _) = CliRunner.Run("golden", "run", "--backend", "fast32", "--golden", golden);
        Assert.Equal(0, code);

        // Negative control: the "official" output off by 1e-3 relative is imported (the run judges it) and then fails.
        (code, output, error) = ImportGemm(GemmVectors(dir.Path, "off", 1 + 1e-3), golden);
        Assert.True(code == 0, output + error);
        (code, output, _) = CliRunner.Run("golden", "run", "--backend", "naive", "--golden", golden, "--op", "linalg.gemm/off");
        Assert.Equal(1, code);
        Assert.StartsWith("FAIL linalg.gemm/off out norm_rel=", output);
    }

    [Fact]
    public void Import_ExistingCase_NeedsForce_AndForceReplacesIt()
    {
        using var dir = new TempDir();
        string golden = Path.Combine(dir.Path, "mine");
        Assert.Equal(0, ImportGemm(GemmVectors(dir.Path), golden).Code);
        var before = Snapshot(golden);
        var (code, _, error) = ImportGemm(GemmVectors(dir.Path, "vec", 2.0), golden);
        Assert.Equal(2, code);
        Assert.Contains("already exists", error);
        Assert.Equal(before, Snapshot(golden));
        (code, var output, error) = ImportGemm(Path.Combine(dir.Path, "vec"), golden, "--force");
        Assert.True(code == 0, error);
        Assert.StartsWith("replaced linalg.gemm/vec", output);
        Assert.Equal(1, CliRunner.Run("golden", "run", "--golden", golden).Code);
        Assert.Single(GoldenStore.Open(golden).ReadIndex());
    }

    [Fact]
    public void Import_IntoACopyOfTheCommittedSet_RejectsTheProjectsOwnIds_AndRegenKeepsTheExternalCase()
    {
        using var dir = HostileGoldenTests.MiniGolden(out string root);
        string vectors = GemmVectors(dir.Path, "odd_7x9x8_nn");
        var (code, _, error) = ImportGemm(vectors, root, "--force");
        Assert.Equal(2, code);
        Assert.Contains("one of the project's own cases", error);

        Assert.Equal(0, ImportGemm(GemmVectors(dir.Path, "numpy_matmul"), root).Code);
        var regen = GoldenRegen.Run(GoldenStore.Open(root), "linalg.gemm/odd_7x9x8_nn", force: false, ops: [GemmGolden.Op]);
        Assert.DoesNotContain(regen, o => o.Id.Contains("numpy_matmul"));
        Assert.Contains(GoldenStore.Open(root).ReadIndex(), e => e.Id == "linalg.gemm/numpy_matmul");
        Assert.Equal(0, CliRunner.Run("golden", "run", "--golden", root, "--op", "linalg.gemm/numpy_matmul").Code);
    }

    [Fact]
    public void Import_SpecFile_GivesEverything_AndItsToleranceAndExtensionsAreKept()
    {
        using var dir = new TempDir();
        string golden = Path.Combine(dir.Path, "mine");
        string spec = Path.Combine(dir.Path, "spec.json");
        File.WriteAllText(spec, """
            {"op": "linalg.gemm", "case_id": "from_spec", "params": PARAMS,
             "provenance": {"repository": "r", "commit": "c", "function": "f", "call": "f(a, b)"},
             "tags": ["edge"],
             "tolerances": {"out": {"kind": "allclose", "float64": {"rtol": 1e-9, "atol": 0}, "float32": {"rtol": 1e-4, "atol": 1e-5}, "rationale": "ours"}},
             "extensions": {"ticket": "ABC-1", "nested": {"list": [1, 2.5, "x"]}}}
            """.Replace("PARAMS", GemmParams));
        var (code, output, error) = Import(GemmVectors(dir.Path), golden, "--spec", spec);
        Assert.True(code == 0, output + error);
        var m = GoldenStore.Open(golden).LoadManifest("linalg.gemm/from_spec");
        Assert.Equal("allclose", m.Outputs[0].Tolerance!.Kind);
        Assert.Equal("ours", m.Outputs[0].Tolerance!.Rationale);
        Assert.Equal(["edge"], m.Tags);
        Assert.Equal("""{"ticket":"ABC-1","nested":{"list":[1,2.5,"x"]}}""", m.Extensions!.ToJsonString());
        Assert.Equal(0, CliRunner.Run("golden", "verify", "--golden", golden).Code);
    }

    /// <summary>Bad input to import: one line on stderr, exit 2 (3 for a damaged target set), and the target untouched.</summary>
    [Theory]
    [InlineData("unknown_op", 2, "no op 'linalg.gemmm'")]
    [InlineData("upper_case_id", 2, "case ids are lower case")]
    [InlineData("unknown_param", 2, "'mm' is not a parameter of linalg.gemm")]
    [InlineData("missing_param", 2, "linalg.gemm needs k")]
    [InlineData("wrong_type", 2, "m must be int")]
    [InlineData("params_not_json", 2, "--params: not valid JSON")]
    [InlineData("params_not_object", 2, "--params must be a JSON object")]
    [InlineData("missing_input", 2, "input 'b.npy' is missing")]
    [InlineData("input_shape", 2, "input 'a' has shape (4, 3)")]
    [InlineData("output_shape", 2, "output 'out' has shape (5, 3)")]
    [InlineData("stray_file", 2, "'extra.npy' is neither an input")]
    [InlineData("bad_file_name", 2, "plain identifier")]
    [InlineData("malformed_npy", 2, "a.npy")]
    [InlineData("float32_output", 2, "run the official code in float64")]
    [InlineData("no_output", 2, "no output file")]
    [InlineData("no_provenance", 2, "--call is required")]
    [InlineData("spec_unknown_key", 2, "unknown key 'opp'")]
    [InlineData("spec_bad_json", 2, "not valid JSON")]
    [InlineData("spec_bad_tolerance", 2, "tolerances.out")]
    [InlineData("not_a_directory", 2, "is not a directory")]
    [InlineData("damaged_index", 3, "index")]
    public void Negative_BadImport_IsOneLine_AndWritesNothing(string kind, int expectedCode, string message)
    {
        using var dir = new TempDir();
        string golden = Path.Combine(dir.Path, "mine");
        Assert.Equal(0, ImportGemm(GemmVectors(dir.Path, "first"), golden).Code);
        string vectors = GemmVectors(dir.Path);
        string spec = Path.Combine(dir.Path, "spec.json");
        string[] args = ["--op", "linalg.gemm", "--params", GemmParams, .. Provenance];
        string[] WithParams(string json) => ["--op", "linalg.gemm", "--params", json, .. Provenance];
        switch (kind)
        {
            case "unknown_op": args = ["--op", "linalg.gemmm", "--params", GemmParams, .. Provenance]; break;
            case "upper_case_id": args = [.. args, "--case", "Numpy_Matmul"]; break;
            case "unknown_param": args = WithParams(GemmParams.Replace("\"m\"", "\"mm\"")); break;
            case "missing_param": args = WithParams(GemmParams.Replace("\"k\": 4, ", "")); break;
            case "wrong_type": args = WithParams(GemmParams.Replace("\"m\": 3", "\"m\": \"3\"")); break;
            case "params_not_json": args = WithParams("{m: 3"); break;
            case "params_not_object": args = WithParams("[3]"); break;
            case "missing_input": File.Delete(Path.Combine(vectors, "b.npy")); break;
            case "input_shape": Npy.Write(Path.Combine(vectors, "a.npy"), NpyArray.Of(new double[12], 4, 3)); break;
            case "output_shape": Npy.Write(Path.Combine(vectors, "out.npy"), NpyArray.Of(new double[15], 5, 3)); break;
            case "stray_file": Npy.Write(Path.Combine(vectors, "extra.npy"), NpyArray.Of(new double[1], 1)); break;
            case "bad_file_name": Npy.Write(Path.Combine(vectors, "out-2.npy"), NpyArray.Of(new double[1], 1)); break;
            case "malformed_npy": File.WriteAllBytes(Path.Combine(vectors, "a.npy"), Encoding.ASCII.GetBytes("\x93NUMPY garbage")); break;
            case "float32_output": Npy.Write(Path.Combine(vectors, "out.npy"), NpyArray.Of(new float[15], 3, 5)); break;
            case "no_output": File.Delete(Path.Combine(vectors, "out.npy")); break;
            case "no_provenance": args = args[..^2]; break;
            case "spec_unknown_key": File.WriteAllText(spec, """{"opp": "linalg.gemm"}"""); args = [.. args, "--spec", spec]; break;
            case "spec_bad_json": File.WriteAllText(spec, """{"op": "linalg.gemm",}"""); args = [.. args, "--spec", spec]; break;
            case "spec_bad_tolerance":
                File.WriteAllText(spec, """{"tolerances": {"out": {"kind": "norm_rel", "float64": {"max": 1e400}, "float32": {"max": 1}, "rationale": "x"}}}""");
                args = [.. args, "--spec", spec];
                break;
            case "not_a_directory": vectors = Path.Combine(vectors, "a.npy"); break;
            case "damaged_index": File.WriteAllText(Path.Combine(golden, GoldenStore.IndexFile), "{\"schema_version\": 1, \"cases\": [}"); break;
        }
        var before = Snapshot(golden);
        var (code, output, error) = Import(vectors, golden, args);
        Assert.True(expectedCode == code, $"exit {code}: {output}{error}");
        Assert.Single(error.TrimEnd('\n').Split('\n'));
        Assert.StartsWith("error: ", error);
        Assert.Contains(message, error);
        Assert.Equal(before, Snapshot(golden));
    }

    [Theory]
    [InlineData("staged", false)]
    [InlineData("moved", false)]
    [InlineData("staged", true)]
    [InlineData("moved", true)]
    public void Negative_FailureWhileWriting_PutsThePreviousStateBack(string stage, bool replacing)
    {
        using var dir = new TempDir();
        string golden = Path.Combine(dir.Path, "mine");
        Assert.Equal(0, ImportGemm(GemmVectors(dir.Path, "first"), golden).Code);
        string vectors = GemmVectors(dir.Path, replacing ? "first" : "second", replacing ? 2.0 : 1.0);
        var before = Snapshot(golden);
        string root = Path.GetFullPath(golden);
        GoldenImport.FaultInjection = (r, s) =>
        {
            if (r == root && s == stage) throw new IOException($"injected failure at {s}");
        };
        try
        {
            var (code, _, error) = ImportGemm(vectors, golden, "--force");
            Assert.Equal(2, code);
            Assert.Contains("injected failure", error);
        }
        finally
        {
            GoldenImport.FaultInjection = null;
        }
        Assert.Equal(before, Snapshot(golden));
        Assert.Equal(0, CliRunner.Run("golden", "verify", "--golden", golden).Code);
    }

    [Fact]
    public void Import_AfterAKilledImport_CleansItsStagingAndPutsAReplacedCaseBack()
    {
        using var dir = new TempDir();
        string golden = Path.Combine(dir.Path, "mine");
        Assert.Equal(0, ImportGemm(GemmVectors(dir.Path, "first"), golden).Code);
        var before = Snapshot(golden).Where(e => !e.StartsWith("index.json", StringComparison.Ordinal)).ToList();
        // A killed import of pid 2^22 + 1 (above Linux's pid_max default, so never alive): it had moved
        // 'first' aside and staged 'second'.
        string opDir = Path.Combine(golden, "linalg.gemm"), guid = Guid.NewGuid().ToString("N");
        Directory.Move(Path.Combine(opDir, "first"), Path.Combine(opDir, $".first.4194305.{guid}.replaced.tmp"));
        Directory.CreateDirectory(Path.Combine(opDir, $".second.4194305.{guid}.import.tmp"));
        File.WriteAllText(Path.Combine(opDir, $".second.4194305.{guid}.import.tmp", "a.npy"), "partial");
        Assert.Equal(3, CliRunner.Run("golden", "verify", "--golden", golden).Code);

        var (code, output, error) = ImportGemm(GemmVectors(dir.Path, "second"), golden);
        Assert.True(code == 0, output + error);
        Assert.Equal(0, CliRunner.Run("golden", "verify", "--golden", golden).Code);
        Assert.Equal(before, Snapshot(golden).Where(e => !e.StartsWith("linalg.gemm/second", StringComparison.Ordinal) && !e.StartsWith("index.json", StringComparison.Ordinal)));
    }

    // ---------------------------------------------------------------- 7. the external tier in the manifest

    private static JsonObject ExternalManifest()
    {
        using var dir = new TempDir();
        string golden = Path.Combine(dir.Path, "mine");
        Assert.Equal(0, ImportGemm(GemmVectors(dir.Path), golden).Code);
        return JsonNode.Parse(File.ReadAllBytes(Path.Combine(golden, "linalg.gemm", "vec", GoldenStore.ManifestFile)))!.AsObject();
    }

    private static GoldenManifest Parse(JsonObject o) => ManifestJson.Parse(Encoding.UTF8.GetBytes(o.ToJsonString()), "m.json");

    [Fact]
    public void Manifest_ExternalWithExtensions_RoundTripsByteForByte()
    {
        var o = ExternalManifest();
        o["extensions"] = JsonNode.Parse("""{"provider": {"suite": "mamba-tests", "ids": [3, 4]}, "dtype_policy": "float64 only"}""");
        var m = Parse(o);
        Assert.Equal("mamba-tests", m.Extensions!["provider"]!["suite"]!.GetValue<string>());
        byte[] bytes = ManifestJson.ToBytes(m);
        Assert.Equal(bytes, ManifestJson.ToBytes(ManifestJson.Parse(bytes, "m.json")));
        Assert.Contains("\"dtype_policy\": \"float64 only\"", Encoding.UTF8.GetString(bytes));
        Assert.Contains("\"call\": \"a @ b\"", Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public void Manifest_ExternalGeneratorWithoutSeed_IsAccepted_ButANaiveOneNeedsItsSeed()
    {
        var o = ExternalManifest();
        o["generator"] = JsonNode.Parse("""{"rng": "torch.Generator().manual_seed", "distribution": "torch.randn, float64"}""");
        var m = Parse(o);
        Assert.Null(m.Generator!.Seed);
        Assert.DoesNotContain("\"seed\"", Encoding.UTF8.GetString(ManifestJson.ToBytes(m)));
        var reference = o["reference"]!.AsObject();
        reference["tier"] = "naive";
        reference["accumulation_order"] = "x";
        reference.Remove("provenance");
        var e = Assert.Throws<GoldenIntegrityException>(() => Parse(o));
        Assert.Contains("generator lacks 'seed'", e.Reason);
    }

    [Theory]
    [InlineData("unknown top-level key", "has an unknown key 'vendor'")]
    [InlineData("extensions not an object", "extensions must be a JSON object")]
    [InlineData("no provenance", "reference lacks 'provenance'")]
    [InlineData("empty call", "reference.provenance.call is empty")]
    [InlineData("provenance key missing", "reference.provenance lacks 'function'")]
    [InlineData("unknown tier", "reference.tier is 'pytorch'")]
    [InlineData("naive tier with provenance", "reference has an unknown key 'provenance'")]
    [InlineData("naive tier without generator", "manifest lacks 'generator'")]
    [InlineData("external without inputs or generator", "must list its inputs")]
    [InlineData("upper-case case id", "case ids are lower case")]
    public void Negative_ExternalManifestProblems_AreIntegrityErrorsNamingTheField(string kind, string message)
    {
        var o = ExternalManifest();
        var reference = o["reference"]!.AsObject();
        switch (kind)
        {
            case "unknown top-level key": o["vendor"] = "x"; break;
            case "extensions not an object": o["extensions"] = "x"; break;
            case "no provenance": reference.Remove("provenance"); break;
            case "empty call": reference["provenance"]!["call"] = " "; break;
            case "provenance key missing": reference["provenance"]!.AsObject().Remove("function"); break;
            case "unknown tier": reference["tier"] = "pytorch"; break;
            case "naive tier with provenance": reference["tier"] = "naive"; reference["accumulation_order"] = "x"; break;
            case "naive tier without generator":
                reference["tier"] = "naive"; reference["accumulation_order"] = "x"; reference.Remove("provenance");
                break;
            case "external without inputs or generator": o["inputs"] = new JsonArray(); break;
            case "upper-case case id": o["case_id"] = "Vec"; break;
        }
        var e = Assert.Throws<GoldenIntegrityException>(() => Parse(o));
        Assert.Contains(message, e.Reason);
    }

    [Fact]
    public void Verify_DamagedExternalCase_IsBad_AndExitsThree()
    {
        using var dir = new TempDir();
        string golden = Path.Combine(dir.Path, "mine");
        Assert.Equal(0, ImportGemm(GemmVectors(dir.Path), golden).Code);
        string path = Path.Combine(golden, "linalg.gemm", "vec", GoldenStore.ManifestFile);
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"call\": \"a @ b\"", "\"call\": \"\""));
        var (code, output, _) = CliRunner.Run("golden", "verify", "--golden", golden);
        Assert.Equal(3, code);
        Assert.Contains("BAD  linalg.gemm/vec/manifest.json: manifest schema: reference.provenance.call is empty", output);
    }

    // ---------------------------------------------------------------- the README walkthrough

    /// <summary>The commands between the walkthrough markers of golden/README.md, continuation lines joined, split into words as sh would.</summary>
    internal static List<string[]> WalkthroughCommands()
    {
        string readme = File.ReadAllText(Path.Combine(GoldenFixture.Committed, "README.md"));
        int begin = readme.IndexOf("<!-- walkthrough:begin -->", StringComparison.Ordinal), end = readme.IndexOf("<!-- walkthrough:end -->", StringComparison.Ordinal);
        Assert.True(begin >= 0 && end > begin, "golden/README.md lacks the walkthrough markers");
        string block = readme[begin..end].Replace("\\\n", " ");
        return [.. block.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("reference ", StringComparison.Ordinal)).Select(ShellWords)];
    }

    private static string[] ShellWords(string line)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        bool inWord = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (c is '\'' or '"')
            {
                int close = line.IndexOf(c, i + 1);
                current.Append(line, i + 1, close - i - 1);
                i = close;
                inWord = true;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (inWord) words.Add(current.ToString());
                current.Clear();
                inWord = false;
            }
            else
            {
                current.Append(c);
                inWord = true;
            }
        }
        if (inWord) words.Add(current.ToString());
        return [.. words];
    }

    [Fact]
    public void Readme_Walkthrough_RunsAsWritten()
    {
        if (!NpyTests.NumpyAvailable.Value) Assert.Skip("/usr/bin/python3 with numpy is not installed");
        var commands = WalkthroughCommands();
        Assert.Equal(3, commands.Count);
        var import = commands[0];
        Assert.Equal(["reference", "golden", "import"], import[..3]);
        string op = import[Array.IndexOf(import, "--op") + 1];
        var parameters = JsonNode.Parse(import[Array.IndexOf(import, "--params") + 1])!.AsObject();

        using var dir = new TempDir();
        string vectors = Path.Combine(dir.Path, "vectors"), input = Path.Combine(dir.Path, "in"), output = Path.Combine(dir.Path, "out");
        foreach (var d in new[] { vectors, input, output }) Directory.CreateDirectory(d);
        // Inputs: drawn by the project's generator (any values do); the draw needs the bias range the
        // walkthrough leaves out, since the official code's inputs are given, not drawn.
        var forDraw = (JsonObject)parameters.DeepClone();
        forDraw["bias_low"] = -3.0;
        forDraw["bias_high"] = 0.0;
        var inputs = GoldenRegistry.Find(op)!.Inputs(forDraw, new Reference.Core.SplitMix64(2024));
        foreach (var (name, array) in inputs)
        {
            Npy.Write(Path.Combine(input, name + ".npy"), array);
            Npy.Write(Path.Combine(vectors, name + ".npy"), array);
        }
        File.WriteAllText(Path.Combine(input, "params.json"), new JsonObject
        {
            ["op"] = op, ["op_version"] = GoldenRegistry.Find(op)!.Version, ["case_id"] = "walkthrough", ["params"] = parameters.DeepClone(),
            ["inputs"] = new JsonArray([.. inputs.Keys.Select(k => (JsonNode)k)]), ["outputs"] = new JsonArray("out"),
        }.ToJsonString());
        // In place of the official code: the NumPy backend, written independently from the paper.
        var info = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { Path.Combine(GoldenFixture.Committed, "numpy_backend.py"), op, input, output }) info.ArgumentList.Add(a);
        using (var python = Process.Start(info)!)
        {
            string stderr = python.StandardError.ReadToEnd();
            python.WaitForExit();
            Assert.True(python.ExitCode == 0, stderr);
        }
        File.Copy(Path.Combine(output, "out.npy"), Path.Combine(vectors, "out.npy"));

        string golden = Path.Combine(dir.Path, "mine");
        string Substitute(string word) => word switch { "vectors/" => vectors + "/", "mine/" => golden + "/", _ => word };
        var results = commands.Select(c => CliRunner.Run([.. c[1..].Select(Substitute)])).ToList();
        Assert.All(results, r => Assert.True(r.Code == 0, r.Out + r.Err));
        string caseId = import[Array.IndexOf(import, "--case") + 1];
        Assert.Contains($"PASS {op}/{caseId} out norm_rel=", results[2].Out);
        Assert.EndsWith("1 passed, 0 failed, 0 skipped", results[2].Out.TrimEnd());

        // The same commands on an official output off by 1e-6 relative: the run must fail.
        var outArray = Npy.Read(Path.Combine(vectors, "out.npy"));
        Npy.Write(Path.Combine(vectors, "out.npy"), NpyArray.Of(outArray.ToDoubles().Select(v => v * (1 + 1e-6)).ToArray(), outArray.ShapeArray));
        Directory.Delete(golden, recursive: true);
        results = commands.Select(c => CliRunner.Run([.. c[1..].Select(Substitute)])).ToList();
        Assert.Equal(0, results[0].Code);
        Assert.Equal(0, results[1].Code);
        Assert.Equal(1, results[2].Code);
        Assert.Contains($"FAIL {op}/{caseId}", results[2].Out);
    }
}
