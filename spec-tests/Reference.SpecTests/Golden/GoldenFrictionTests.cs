using System.Text.RegularExpressions;
using Reference.Golden;
using Reference.SpecTests.Cli;

namespace Reference.SpecTests.Golden;

/// <summary>
/// What an outsider tripped over: an upper-case case id (exit 3 with a message about something
/// else), a case of another op_version skipped without a word, and params no command listed.
/// </summary>
public class GoldenFrictionTests
{
    private static readonly string[] Cases = ["linalg.gemm/odd_7x9x8_nn", "linalg.gemm/tiny_1x1x1"];

    /// <summary>A golden directory with two committed GEMM cases, whose ids <paramref name="rename"/> may change.</summary>
    private static Reference.SpecTests.Core.TempDir TwoCases(out string root, Func<string, string>? rename = null)
    {
        rename ??= id => id;
        var dir = new Reference.SpecTests.Core.TempDir();
        root = Path.Combine(dir.Path, "golden");
        var entries = new List<IndexEntry>();
        foreach (var id in Cases)
        {
            string newId = rename(id), caseId = newId.Split('/')[1];
            string target = Path.Combine(root, newId);
            Directory.CreateDirectory(target);
            foreach (var file in Directory.EnumerateFiles(Path.Combine(GoldenFixture.Committed, id)))
                File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
            string manifest = Path.Combine(target, GoldenStore.ManifestFile);
            File.WriteAllText(manifest, File.ReadAllText(manifest).Replace($"\"case_id\": \"{id.Split('/')[1]}\"", $"\"case_id\": \"{caseId}\""));
            entries.Add(new IndexEntry(newId, "linalg.gemm", caseId, GoldenStore.Open(Path.Combine(GoldenFixture.Committed)).LoadManifest(id).Tags));
        }
        File.WriteAllBytes(Path.Combine(root, GoldenStore.IndexFile), GoldenStore.IndexBytes(entries));
        return dir;
    }

    [Fact]
    public void Negative_UpperCaseCaseId_SaysCaseIdsAreLowerCase_AndNamesTheFix()
    {
        using var dir = TwoCases(out string root, id => id.Replace("tiny", "Tiny"));
        var (code, _, error) = CliRunner.Run("golden", "run", "--golden", root);
        Assert.Equal(3, code);
        Assert.Contains("case ids are lower case", error);
        Assert.Contains("rename it 'tiny_1x1x1'", error);
        Assert.DoesNotContain("inconsistent", error);
        (code, var output, _) = CliRunner.Run("golden", "verify", "--golden", root);
        Assert.Equal(3, code);
        Assert.Contains("case ids are lower case", output);
    }

    [Fact]
    public void OpVersionDiffers_IsSkippedWithTheReason_CountedAndNoted()
    {
        using var dir = TwoCases(out string root);
        string manifest = Path.Combine(root, "linalg.gemm", "tiny_1x1x1", GoldenStore.ManifestFile);
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace("\"op_version\": 1", "\"op_version\": 2"));
        Assert.Equal(0, CliRunner.Run("golden", "verify", "--golden", root).Code);

        var (code, output, error) = CliRunner.Run("golden", "run", "--golden", root, "--backend", "fast");
        Assert.Equal(0, code);
        Assert.Contains("SKIP linalg.gemm/tiny_1x1x1 (op_version differs: the case is linalg.gemm version 2, this build implements version 1)", output);
        Assert.EndsWith("1 passed, 0 failed, 1 skipped", output.TrimEnd());
        Assert.Contains("note: 1 skipped: op_version differs from this build's (linalg.gemm/tiny_1x1x1)", error);

        // Alone, the skipped case is a run that checked nothing: exit 1.
        (code, _, error) = CliRunner.Run("golden", "run", "--golden", root, "--op", "linalg.gemm/tiny*");
        Assert.Equal(1, code);
        Assert.Contains("every case was skipped", error);
    }

    [Fact]
    public void EveryCaseOfEveryOp_PassesTheParamsCheckImportApplies()
    {
        // Every key a case gives is a parameter the op declares (`ops show` prints), of its declared
        // type, and every parameter without a default is given: the same check `golden import` applies.
        var problems = new List<string>();
        foreach (var op in GoldenRegistry.Ops)
            foreach (var c in op.Cases)
            {
                try { GoldenImport.CheckParams(op, c.Params); }
                catch (ArgumentException e) { problems.Add($"{op.Name}/{c.Id}: {e.Message}"); }
            }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void OpsShow_PrintsEveryParameterWithTypeAndDefault_ForEveryGoldenOp()
    {
        foreach (var op in GoldenRegistry.Ops)
        {
            var (code, output, error) = CliRunner.Run("ops", "show", op.Name);
            Assert.True(code == 0, $"{op.Name}: {error}");
            var parameters = op.ParameterList();
            Assert.NotEmpty(parameters);
            foreach (var p in parameters)
                Assert.Matches(new Regex($@"(?m)^  {Regex.Escape(p.Name)} +{Regex.Escape(p.Type)} +default {Regex.Escape(p.Default)} "), output);
        }
        var (_, gemm, _) = CliRunner.Run("ops", "show", "linalg.gemm");
        Assert.Matches(@"(?m)^  trans_a +bool +default - ", gemm);
        Assert.Matches(@"(?m)^  alpha +float +default - ", gemm);
    }

    [Fact]
    public void Negative_OpsShowOfAnUnknownName_ListsKernelOpsToo()
    {
        var (code, _, error) = CliRunner.Run("ops", "show", "linalg.gemmm");
        Assert.Equal(2, code);
        Assert.Contains("linalg.gemm", error);
    }
}
