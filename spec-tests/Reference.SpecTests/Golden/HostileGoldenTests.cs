using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Reference.Core.IO;
using Reference.Golden;
using Reference.Golden.Backends;
using Reference.SpecTests.Cli;

namespace Reference.SpecTests.Golden;

/// <summary>
/// Issue 22: the golden runner pointed at hostile manifests, hostile process backends and
/// half-done regenerations. Each test is one class of the structured attacks: it gives a clean
/// error (or a clean result), never a crash, a hang or a read or write outside the case's folders.
/// </summary>
public class HostileGoldenTests
{
    private const string Case = "linalg.gemm/odd_7x9x8_nn";

    /// <summary>A golden directory holding only <see cref="Case"/> (fast to copy and to damage).</summary>
    internal static Reference.SpecTests.Core.TempDir MiniGolden(out string root)
    {
        var dir = new Reference.SpecTests.Core.TempDir();
        root = Path.Combine(dir.Path, "golden");
        string source = Path.Combine(GoldenFixture.Committed, Case);
        string target = Path.Combine(root, Case);
        Directory.CreateDirectory(target);
        foreach (var file in Directory.EnumerateFiles(source)) File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        File.WriteAllBytes(Path.Combine(root, GoldenStore.IndexFile),
            GoldenStore.IndexBytes([new IndexEntry(Case, "linalg.gemm", "odd_7x9x8_nn", [])]));
        return dir;
    }

    private static string ManifestPath(string root) => Path.Combine(root, Case, GoldenStore.ManifestFile);

    private static (int Code, string Out, string Err) RunWithin(int seconds, params string[] args)
    {
        return Reference.SpecTests.Core.HostileFileTests.Within(seconds, () => CliRunner.Run(args), $"`reference {string.Join(' ', args)}`");
    }

    private static void EditManifest(string root, Action<JsonObject> edit)
    {
        var node = JsonNode.Parse(File.ReadAllBytes(ManifestPath(root)))!.AsObject();
        edit(node);
        File.WriteAllText(ManifestPath(root), node.ToJsonString());
    }

    // ---------------------------------------------------------------- 1. path traversal

    [Theory]
    [InlineData("../../escaped")]
    [InlineData("/tmp/escaped")]
    [InlineData("a b")]
    [InlineData("")]
    public void Negative_ArrayNameThatIsNotAnIdentifier_IsAnIntegrityError(string name)
    {
        using var dir = MiniGolden(out string root);
        EditManifest(root, m => m["inputs"]![0]!["name"] = name);
        var e = Assert.Throws<GoldenIntegrityException>(() => GoldenStore.Open(root).LoadManifest(Case));
        Assert.Contains("name", e.Reason);
        Assert.Contains("identifier", e.Reason);
        var (code, output, _) = CliRunner.Run("golden", "verify", "--golden", root);
        Assert.Equal(3, code);
        Assert.Contains("manifest.json", output);
    }

    [Fact]
    public void Negative_CaseFileThatIsASymlinkOutOfTheGoldenDirectory_IsAnIntegrityError()
    {
        using var dir = MiniGolden(out string root);
        string inside = Path.Combine(root, Case, "a.npy"), outside = Path.Combine(dir.Path, "a.npy");
        File.Move(inside, outside);
        File.CreateSymbolicLink(inside, outside);
        var (code, output, _) = CliRunner.Run("golden", "verify", "--golden", root);
        Assert.Equal(3, code);
        Assert.Contains("outside", output);
    }

    [Fact]
    public void Negative_ProcessBackendOutputThatIsASymlinkOutOfItsFolder_FailsTheCase()
    {
        using var dir = MiniGolden(out string root);
        // The "backend" links the right answer from outside its output folder: the runner must not follow it.
        string answer = Path.Combine(dir.Path, "answer.npy");
        File.Copy(Path.Combine(root, Case, "out.npy"), answer);
        string script = Path.Combine(dir.Path, "link.sh");
        File.WriteAllText(script, $"ln -s '{answer}' \"$3/out.npy\"\n");
        var (code, output, _) = RunWithin(60, "golden", "run", "--golden", root, "--backend", $"process:/bin/sh {script}");
        Assert.Equal(1, code);
        Assert.Contains("FAIL " + Case, output);
        Assert.Contains("outside", output);
    }

    // ---------------------------------------------------------------- 3. hostile process backends

    [Fact]
    public void Negative_ProcessBackendThatSleeps_TimesOutAndFailsTheCase()
    {
        using var dir = MiniGolden(out string root);
        string script = Path.Combine(dir.Path, "sleep.sh");
        File.WriteAllText(script, "sleep 600\n");
        var (code, output, error) = RunWithin(60, "golden", "run", "--golden", root, "--backend", $"process:/bin/sh {script}", "--timeout", "1");
        Assert.True(code == 1, output + error);
        Assert.Contains("FAIL " + Case, output);
        Assert.Contains("timed out after 1 s", output);
    }

    [Fact]
    public void Negative_ProcessBackendWhoseChildKeepsThePipesOpen_DoesNotHang()
    {
        using var dir = MiniGolden(out string root);
        string script = Path.Combine(dir.Path, "child.sh");
        // Writes the right answer, then leaves a grandchild holding stdout and stderr.
        // The grandchild writes its pid first, so the test can see that it did not outlive the case.
        string pidFile = Path.Combine(dir.Path, "grandchild.pid");
        File.WriteAllText(script, $"cp '{Path.Combine(root, Case, "out.npy")}' \"$3/out.npy\"\n/bin/sh -c 'echo $$ > {pidFile}; exec sleep 600' &\n"
            + $"while [ ! -s {pidFile} ]; do sleep 0.05; done\nexit 0\n");
        var (code, output, error) = RunWithin(60, "golden", "run", "--golden", root, "--backend", $"process:/bin/sh {script}", "--timeout", "5");
        Assert.True(code == 0, output + error);
        Assert.Contains("PASS " + Case, output);
        int pid = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(GoneWithin(pid, TimeSpan.FromSeconds(10)), $"the backend's grandchild {pid} (sleep 600) outlived the case");
    }

    /// <summary>Whether process <paramref name="pid"/> is gone (or a zombie waiting for init to reap it) within <paramref name="limit"/>.</summary>
    private static bool GoneWithin(int pid, TimeSpan limit)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (watch.Elapsed < limit)
        {
            string stat = $"/proc/{pid}/stat";
            if (!File.Exists(stat)) return true;
            try
            {
                string text = File.ReadAllText(stat);
                if (text[(text.LastIndexOf(')') + 2)..].StartsWith('Z')) return true;
            }
            catch (IOException) { return true; }
            Thread.Sleep(50);
        }
        return false;
    }

    [Fact]
    public void Negative_ProcessBackendThatWritesAFifoAsAnOutput_FailsTheCase()
    {
        using var dir = MiniGolden(out string root);
        string script = Path.Combine(dir.Path, "fifo.sh");
        File.WriteAllText(script, "mkfifo \"$3/out.npy\"\n");
        var (code, output, _) = RunWithin(60, "golden", "run", "--golden", root, "--backend", $"process:/bin/sh {script}");
        Assert.Equal(1, code);
        Assert.Contains("not a regular file", output);
    }

    [Fact]
    public void Negative_ProcessBackendOutputLargerThanTheManifestImplies_IsRefusedUnread()
    {
        using var dir = MiniGolden(out string root);
        // A valid .npy header for 20 M float64 (160 MB, sparse on disk): far more than the 7 x 9 the manifest declares.
        string big = Path.Combine(dir.Path, "big.npy");
        string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (20000000,), }";
        byte[] header = Reference.SpecTests.Core.NpyValues.Preamble(1, dict, 128);
        using (var stream = new FileStream(big, FileMode.CreateNew))
        {
            stream.Write(header);
            stream.SetLength(header.Length + 20_000_000L * 8);
        }
        string script = Path.Combine(dir.Path, "big.sh");
        File.WriteAllText(script, $"ln '{big}' \"$3/out.npy\" 2>/dev/null || cp --sparse=always '{big}' \"$3/out.npy\"\n");
        var (code, output, _) = RunWithin(60, "golden", "run", "--golden", root, "--backend", $"process:/bin/sh {script}");
        Assert.Equal(1, code);
        Assert.Contains("larger than", output);
    }

    [Fact]
    public void Negative_ProcessBackendThatFloodsItsOutput_KeepsOnlyTheTail()
    {
        using var dir = MiniGolden(out string root);
        string script = Path.Combine(dir.Path, "flood.sh");
        // 64 MB on stdout and on stderr, then the last stderr line the failure must show.
        File.WriteAllText(script, "head -c 67108864 /dev/zero | tr '\\0' x\nhead -c 67108864 /dev/zero | tr '\\0' y >&2\necho >&2\necho 'the last line' >&2\nexit 3\n");
        var request = BackendRequest.For(GoldenStore.Open(root).LoadManifest(Case), GoldenStore.Open(root).LoadInputs(GoldenStore.Open(root).LoadManifest(Case)));
        var backend = ProcessBackendFor($"/bin/sh {script}");
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidOperationException>(() => backend.Run(request));
        Assert.Contains("the last line", e.Message);
        Assert.True(e.Message.Length < 2000, e.Message.Length.ToString());
        // The 128 MB of output were read in bounded chunks, not collected (the reader threads' share is not counted here,
        // but the captured text is returned to this thread, so a collected copy would show).
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 32 << 20, $"{GC.GetAllocatedBytesForCurrentThread() - before} bytes allocated");
    }

    private static Reference.Golden.Backends.IGoldenBackend ProcessBackendFor(string command) =>
        Reference.Golden.Backends.Backends.Resolve("process:" + command);

    // ---------------------------------------------------------------- 6. wrong exit codes

    [Fact]
    public void Negative_ManifestWithADuplicateKey_Exit3NamingTheFileAndTheField()
    {
        using var dir = MiniGolden(out string root);
        string text = File.ReadAllText(ManifestPath(root));
        File.WriteAllText(ManifestPath(root), text.Replace("\"op_version\": 1,", "\"op_version\": 1, \"op_version\": 2,"));
        var (code, output, error) = CliRunner.Run("golden", "verify", "--golden", root);
        Assert.True(code == 3, output + error);
        Assert.Contains("manifest.json", output);
        Assert.Contains("op_version", output);
        (code, _, error) = CliRunner.Run("golden", "run", "--golden", root);
        Assert.Equal(3, code);
        Assert.Contains("op_version", error);
    }

    [Fact]
    public void Negative_IndexEntryWithoutTags_Exit3NamingTheFileAndTheField()
    {
        using var dir = MiniGolden(out string root);
        string index = Path.Combine(root, GoldenStore.IndexFile);
        var node = JsonNode.Parse(File.ReadAllBytes(index))!;
        node["cases"]![0]!.AsObject().Remove("tags");
        File.WriteAllText(index, node.ToJsonString());
        var (code, _, error) = CliRunner.Run("golden", "list", "--golden", root);
        Assert.True(code == 3, error);
        Assert.Contains("index.json", error);
        Assert.Contains("'tags'", error);
    }

    [Fact]
    public void Negative_IndexWithADuplicateKey_Exit3()
    {
        using var dir = MiniGolden(out string root);
        string index = Path.Combine(root, GoldenStore.IndexFile);
        File.WriteAllText(index, File.ReadAllText(index).Replace("\"schema_version\": 1,", "\"schema_version\": 1, \"schema_version\": 1,"));
        var (code, _, error) = CliRunner.Run("golden", "list", "--golden", root);
        Assert.True(code == 3, error);
        Assert.Contains("index.json", error);
        Assert.Contains("schema_version", error);
    }

    [Fact]
    public void Negative_ManifestThatIsNotUtf8_Exit3NamingTheFile()
    {
        using var dir = MiniGolden(out string root);
        byte[] bytes = File.ReadAllBytes(ManifestPath(root));
        string text = Encoding.UTF8.GetString(bytes);
        int at = Encoding.UTF8.GetByteCount(text[..(text.IndexOf("\"description\": \"", StringComparison.Ordinal) + 16)]);
        bytes[at] = 0xff;
        File.WriteAllBytes(ManifestPath(root), bytes);
        var (code, output, error) = CliRunner.Run("golden", "verify", "--golden", root);
        Assert.True(code == 3, output + error);
        Assert.Contains("manifest.json", output);
        Assert.Contains("UTF-8", output);
    }

    // ---------------------------------------------------------------- 7. runs that pass with nothing checked

    [Fact]
    public void Negative_OpMatchingNoCase_FailsUnlessAllowed()
    {
        using var dir = MiniGolden(out string root);
        var (code, _, error) = CliRunner.Run("golden", "run", "--golden", root, "--op", "no.such.op");
        Assert.Equal(1, code);
        Assert.Contains("--allow-empty", error);
        (code, _, _) = CliRunner.Run("golden", "run", "--golden", root, "--op", "no.such.op", "--allow-empty");
        Assert.Equal(0, code);
    }

    [Fact]
    public void Negative_EmptyIndex_FailsRunAndVerifyUnlessAllowed()
    {
        using var dir = new Reference.SpecTests.Core.TempDir();
        File.WriteAllBytes(Path.Combine(dir.Path, GoldenStore.IndexFile), GoldenStore.IndexBytes([]));
        Assert.Equal(1, CliRunner.Run("golden", "run", "--golden", dir.Path).Code);
        Assert.Equal(1, CliRunner.Run("golden", "verify", "--golden", dir.Path).Code);
        Assert.Equal(0, CliRunner.Run("golden", "run", "--golden", dir.Path, "--allow-empty").Code);
        Assert.Equal(0, CliRunner.Run("golden", "verify", "--golden", dir.Path, "--allow-empty").Code);
    }

    [Theory]
    [InlineData("1e400")]
    [InlineData("-1e400")]
    public void Negative_NonFiniteTolerance_IsAnIntegrityError(string value)
    {
        using var dir = MiniGolden(out string root);
        string text = File.ReadAllText(ManifestPath(root));
        string changed = System.Text.RegularExpressions.Regex.Replace(text, "\"max\": [0-9.eE+-]+", $"\"max\": {value}");
        Assert.NotEqual(text, changed);
        File.WriteAllText(ManifestPath(root), changed);
        var (code, output, _) = CliRunner.Run("golden", "verify", "--golden", root);
        Assert.Equal(3, code);
        Assert.Contains("finite", output);
    }

    // ---------------------------------------------------------------- 8. killed regeneration

    [Fact]
    public void Regen_AfterAKilledRun_FinishesTheHalfDoneCase_AndCleansTemporaries()
    {
        using var dir = MiniGolden(out string root);
        string caseDir = Path.Combine(root, Case);
        // The state a kill leaves: some arrays written, the manifest (written last) and index.json missing,
        // temporaries of a writer that is gone (pid 2^22 + 1 is above Linux's pid_max default... and any live pid's).
        File.Delete(Path.Combine(caseDir, GoldenStore.ManifestFile));
        File.Delete(Path.Combine(caseDir, "out.npy"));
        File.Delete(Path.Combine(root, GoldenStore.IndexFile));
        string deadPid = "4194305";
        File.WriteAllText(Path.Combine(caseDir, $".out.npy.{deadPid}.{Guid.NewGuid():N}.tmp"), "half");
        File.WriteAllText(Path.Combine(root, $".index.json.{deadPid}.{Guid.NewGuid():N}.tmp"), "half");

        var (code, output, error) = CliRunner.Run("golden", "regen", "--golden", root, "--op", Case);
        Assert.True(code == 0, output + error);
        Assert.Contains("resumed", output);
        Assert.Empty(Directory.EnumerateFiles(root, "*.tmp", SearchOption.AllDirectories));
        Assert.True(File.Exists(Path.Combine(root, GoldenStore.IndexFile)));
        Assert.True(File.Exists(Path.Combine(caseDir, GoldenStore.ManifestFile)));
        Assert.Equal(File.ReadAllBytes(Path.Combine(GoldenFixture.Committed, Case, "out.npy")), File.ReadAllBytes(Path.Combine(caseDir, "out.npy")));
    }

    [Fact]
    public void Negative_Regen_HalfDoneCaseWithDifferentBytes_IsStillRefused()
    {
        using var dir = MiniGolden(out string root);
        string caseDir = Path.Combine(root, Case);
        File.Delete(Path.Combine(caseDir, GoldenStore.ManifestFile));
        var bytes = File.ReadAllBytes(Path.Combine(caseDir, "a.npy"));
        bytes[^1] ^= 1;
        File.WriteAllBytes(Path.Combine(caseDir, "a.npy"), bytes);
        var (code, output, _) = CliRunner.Run("golden", "regen", "--golden", root, "--op", Case);
        Assert.Equal(1, code);
        Assert.Contains("a.npy differs", output);
    }

    [Fact]
    public void Regen_KilledChildProcess_ReRunFinishes()
    {
        // A real kill: a child `reference golden regen` into an empty directory, killed as soon as the first case directory
        // appears; the re-run must then finish without --force and leave no temporaries.
        string cli = Path.Combine(GoldenFixture.RepoRoot, "src", "Reference.Cli", "bin", "Release", "net10.0", "reference.dll");
        if (!File.Exists(cli)) cli = Path.Combine(AppContext.BaseDirectory, "reference.dll");
        using var dir = new Reference.SpecTests.Core.TempDir();
        string root = Path.Combine(dir.Path, "golden");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { cli, "golden", "regen", "--golden", root, "--op", "linalg.gemm" }) start.ArgumentList.Add(a);
        using (var child = Process.Start(start)!)
        {
            var watch = Stopwatch.StartNew();
            while (!child.HasExited && watch.Elapsed < TimeSpan.FromSeconds(60)
                && !(Directory.Exists(Path.Combine(root, "linalg.gemm")) && Directory.EnumerateFileSystemEntries(Path.Combine(root, "linalg.gemm")).Any()))
                Thread.Sleep(1);
            if (!child.HasExited) child.Kill(entireProcessTree: true);
            child.WaitForExit();
        }
        var (code, output, error) = CliRunner.Run("golden", "regen", "--golden", root, "--op", "linalg.gemm");
        Assert.True(code == 0, output + error);
        Assert.Empty(Directory.EnumerateFiles(root, "*.tmp", SearchOption.AllDirectories));
        (code, output, error) = CliRunner.Run("golden", "run", "--golden", root, "--op", "linalg.gemm");
        Assert.True(code == 0, output + error);
    }
}
