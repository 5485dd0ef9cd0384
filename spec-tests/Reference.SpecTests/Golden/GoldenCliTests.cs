using Reference.Core.Conformance;
using System.Text.Json;
using System.Text.RegularExpressions;
using Reference.SpecTests.Cli;

namespace Reference.SpecTests.Golden;

/// <summary>`reference golden ...`: output format, exit codes 0/1/2/3/4, integrity detection.</summary>
public partial class GoldenCliTests
{
    [GeneratedRegex(@"^\d+ passed, \d+ failed, \d+ skipped$")]
    private static partial Regex CountLine();

    private static string LastLine(string output) => output.TrimEnd('\n', '\r').Split('\n')[^1].TrimEnd('\r');

    [Fact]
    public void Run_NaiveOnTheDefaultGoldenDirectory_PassesWithOneLinePerCase()
    {
        var (code, output, error) = CliRunner.Run("golden", "run", "--backend", "naive", "--op", "linalg.*");
        Assert.True(code == 0, output + error);
        var lines = output.TrimEnd().Split('\n');
        Assert.All(lines[..^1], l => Assert.StartsWith("PASS linalg.gemm/", l));
        Assert.Matches(CountLine(), LastLine(output));
        Assert.Equal($"{lines.Length - 1} passed, 0 failed, 0 skipped", LastLine(output));
    }

    [Fact]
    public void Run_FastWithTheXFailFile_ExitsZero_AndReportsJson()
    {
        using var dir = new Core.TempDir();
        string report = Path.Combine(dir.Path, "r.json");
        var (code, output, error) = CliRunner.Run("golden", "run", "--backend", "fast32", "--xfail-file", GoldenFixture.FastXFail,
            "--golden", GoldenFixture.Committed, "--report", "json", report);
        Assert.True(code == 0, output + error);
        Assert.Matches(CountLine(), LastLine(output));
        using var json = JsonDocument.Parse(File.ReadAllBytes(report));
        var summary = json.RootElement.GetProperty("summary");
        Assert.Equal(0, summary.GetProperty("failed").GetInt32());
        Assert.Equal(LastLine(output), $"{summary.GetProperty("passed").GetInt32()} passed, 0 failed, {summary.GetProperty("skipped").GetInt32()} skipped");
        Assert.Equal("fast32", json.RootElement.GetProperty("backend").GetString());
    }

    [Fact]
    public void Run_SkipFileSkipsAndAStaleXFailEntryFails()
    {
        using var dir = new Core.TempDir();
        string skip = Path.Combine(dir.Path, "skip.txt"), xfail = Path.Combine(dir.Path, "xfail.txt");
        File.WriteAllText(skip, "# comment\nlinalg.gemm/tiny_1x1x1  too small to matter\n");
        File.WriteAllText(xfail, "linalg.gemm/vec_1x9x7  claimed broken, but it passes\n");
        var (code, output, _) = CliRunner.Run("golden", "run", "--op", "linalg.gemm", "--skip-file", skip, "--xfail-file", xfail);
        Assert.Equal(1, code);
        Assert.Contains("SKIP linalg.gemm/tiny_1x1x1 (too small to matter)", output);
        Assert.Contains("XPASS linalg.gemm/vec_1x9x7", output);
        Assert.EndsWith("8 passed, 1 failed, 1 skipped", LastLine(output));
    }

    [Fact]
    public void Negative_FailingCaseExitsOneWithEvidence()
    {
        using var dir = GoldenFixture.Copy(out string root);
        // The xfail file marks softmax as expected to fail; a scaled golden output makes it fail for real.
        // Here instead: the runner must report FAIL when the backend disagrees, shown through a process backend
        // that writes zeros (a shell one-liner, no Python needed).
        string script = Path.Combine(dir.Path, "zeros.sh");
        File.WriteAllText(script, "#!/bin/sh\n# usage: zeros.sh OP IN OUT: copies the input a.npy as out.npy (wrong on purpose)\ncp \"$2/a.npy\" \"$3/out.npy\"\n");
        var (code, output, _) = CliRunner.Run("golden", "run", "--golden", root, "--op", "linalg.gemm/odd_7x9x8_nn", "--backend", $"process:/bin/sh {script}");
        Assert.Equal(1, code);
        Assert.StartsWith("FAIL linalg.gemm/odd_7x9x8_nn out shape: shape (7, 8), expected (7, 9)", output);
        Assert.Equal("0 passed, 1 failed, 0 skipped", LastLine(output));
    }

    [Fact]
    public void Run_PrecisionOptionSelectsTheBound()
    {
        // The float64 fast tier held to the float32 bounds passes; the float32 tier held to the float64 bounds fails.
        var (code, output, _) = CliRunner.Run("golden", "run", "--backend", "fast", "--op", "linalg.gemm", "--precision", "float32");
        Assert.Equal(0, code);
        Assert.Contains("<= 1e-05", output);
        (code, output, _) = CliRunner.Run("golden", "run", "--backend", "fast32", "--op", "linalg.gemm/square*", "--precision", "float64");
        Assert.Equal(1, code);
        Assert.Contains("> 1e-12", output);
        (code, _, _) = CliRunner.Run("golden", "run", "--precision", "float16");
        Assert.Equal(2, code);
    }

    [Fact]
    public void Negative_VerifyDetectsACorruptedNpy_Exit3NamingTheFile()
    {
        using var dir = GoldenFixture.Copy(out string root);
        string file = Path.Combine(root, "fft.fft", "n12", "y.npy");
        var bytes = File.ReadAllBytes(file);
        bytes[^5] ^= 0x01;
        File.WriteAllBytes(file, bytes);
        var (code, output, _) = CliRunner.Run("golden", "verify", "--golden", root);
        Assert.Equal(3, code);
        Assert.Contains("BAD  fft.fft/n12/y.npy: sha256", output);
        Assert.Matches(CountLine(), LastLine(output));
        Assert.EndsWith("1 failed, 0 skipped", LastLine(output));

        // run reads the same file: integrity error, exit 3, the file named on stderr.
        var (runCode, _, runError) = CliRunner.Run("golden", "run", "--golden", root, "--op", "fft.fft");
        Assert.Equal(3, runCode);
        Assert.Contains("fft.fft/n12/y.npy", runError);
    }

    [Fact]
    public void Negative_VerifyDetectsAWrongHashATruncatedFileAndOrphans()
    {
        using var dir = GoldenFixture.Copy(out string root);
        string manifest = Path.Combine(root, "nn.relu", "edges_n10", "manifest.json");
        string text = File.ReadAllText(manifest);
        var sha = Regex.Match(text, "\"sha256\": \"([0-9a-f]{64})\"").Groups[1].Value;
        File.WriteAllText(manifest, text.Replace(sha, new string('0', 64)));
        string truncated = Path.Combine(root, "nn.softmax", "rows_2x7", "y.npy");
        File.WriteAllBytes(truncated, File.ReadAllBytes(truncated)[..100]);
        File.WriteAllText(Path.Combine(root, "nn.relu", "edges_n10", "stray.npy"), "x");
        Directory.CreateDirectory(Path.Combine(root, "nn.relu", "ghost_case"));

        var (code, output, _) = CliRunner.Run("golden", "verify", "--golden", root);
        Assert.Equal(3, code);
        Assert.Contains("BAD  nn.relu/edges_n10/x.npy: sha256", output);
        Assert.Contains("BAD  nn.softmax/rows_2x7/y.npy: sha256", output);
        Assert.Contains("BAD  nn.relu/edges_n10/stray.npy: orphan", output);
        Assert.Contains("BAD  nn.relu/ghost_case: orphan", output);
    }

    [Fact]
    public void Negative_VerifyRejectsAManifestThatBreaksTheSchema()
    {
        using var dir = GoldenFixture.Copy(out string root);
        string manifest = Path.Combine(root, "linalg.gemm", "tiny_1x1x1", "manifest.json");
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace("\"kind\": \"norm_rel\"", "\"kind\": \"relative\""));
        var (code, output, _) = CliRunner.Run("golden", "verify", "--golden", root);
        Assert.Equal(3, code);
        Assert.Contains("linalg.gemm/tiny_1x1x1/manifest.json: manifest schema:", output);
        Assert.Contains("unknown tolerance kind 'relative'", output);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"schema_version\": \"1\", \"cases\": []}")]
    [InlineData("{\"schema_version\": 1, \"cases\": [{\"id\": \"a/b\"}]}")]
    [InlineData("not json")]
    public void Negative_AMalformedIndexExitsThree(string index)
    {
        using var dir = GoldenFixture.Copy(out string root);
        File.WriteAllText(Path.Combine(root, "index.json"), index);
        var (code, output, error) = CliRunner.Run("golden", "verify", "--golden", root);
        Assert.Equal(3, code);
        Assert.Contains("index", output);
        (code, _, error) = CliRunner.Run("golden", "run", "--golden", root);
        Assert.Equal(3, code);
        Assert.StartsWith("error: golden integrity:", error);
    }

    [Fact]
    public void Negative_UsageErrorsExitTwo_AndMissingBackendProgramExitsFour()
    {
        var (code, _, error) = CliRunner.Run("golden", "run", "--backend", "cuda-someday");
        Assert.Equal(2, code);
        Assert.Contains("backend 'cuda-someday' is not one of", error);
        (code, _, error) = CliRunner.Run("golden", "run", "--golden", "/no/such/golden/dir");
        Assert.Equal(2, code);
        Assert.Contains("/no/such/golden/dir", error);
        (code, _, error) = CliRunner.Run("golden", "run", "--skip-file", "/no/such/skip.txt");
        Assert.Equal(2, code);
        Assert.Contains("--skip-file", error);
        (code, _, error) = CliRunner.Run("golden", "run", "--report", "xml", "r.xml");
        Assert.Equal(2, code);
        (code, _, error) = CliRunner.Run("golden", "run", "--backend", "process:/no/such/program --flag");
        Assert.Equal(4, code);
        Assert.Contains("/no/such/program", error);
        (code, _, error) = CliRunner.Run("golden", "explain", "linalg.gemm/no_such_case");
        Assert.Equal(2, code);
        Assert.Contains("no case 'linalg.gemm/no_such_case'", error);
    }

    [Fact]
    public void List_And_Explain_DescribeTheCases()
    {
        var (code, output, _) = CliRunner.Run("golden", "list", "--op", "fft.*");
        Assert.Equal(0, code);
        Assert.Contains("fft.fft/prime_n97  x(1, 97) -> y(1, 97)", output);
        Assert.Matches(@"^\d+ cases$", LastLine(output));

        (code, output, _) = CliRunner.Run("golden", "list", "--json", "--op", "linalg.gemm/tiny*");
        Assert.Equal(0, code);
        using var json = JsonDocument.Parse(output);
        var only = Assert.Single(json.RootElement.EnumerateArray());
        Assert.Equal("linalg.gemm/tiny_1x1x1", only.GetProperty("id").GetString());
        Assert.Equal("edge", only.GetProperty("tags")[0].GetString());

        (code, output, _) = CliRunner.Run("golden", "explain", "nn.layer_norm/offset_2x16");
        Assert.Equal(0, code);
        Assert.Contains("  tolerance  allclose;", output);
        Assert.Contains("rationale", output);
        Assert.Contains("splitmix64 seed 404", output);
        Assert.Contains("reproduce    reference golden run --backend naive --op 'nn.layer_norm/offset_2x16'", output);
    }

    [Fact]
    public void Regen_IntoAnEmptyDirectoryThenAgain_IsNewThenUnchanged()
    {
        using var dir = new Core.TempDir();
        var (code, output, _) = CliRunner.Run("golden", "regen", "--golden", dir.Path, "--op", "nn.relu");
        Assert.Equal(0, code);
        Assert.Contains("new       nn.relu/edges_n10", output);
        (code, output, _) = CliRunner.Run("golden", "regen", "--golden", dir.Path, "--op", "nn.relu");
        Assert.Equal(0, code);
        Assert.Contains("0 new, 0 rewritten, 3 unchanged, 0 changed (not written)", output);
        (code, output, _) = CliRunner.Run("golden", "verify", "--golden", dir.Path);
        Assert.Equal(3, code); // the index lists every registered case; only nn.relu was generated here
        Assert.Contains("manifest.json is missing", output);
    }
}
