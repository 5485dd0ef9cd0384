using Reference.Golden;

namespace Reference.SpecTests.Golden;

/// <summary>Paths of the repository's golden set, and scratch copies of it that tests may damage.</summary>
public static class GoldenFixture
{
    public static string RepoRoot { get; } = Path.GetDirectoryName(
        GoldenStore.FindDefaultRoot(AppContext.BaseDirectory) ?? throw new InvalidOperationException("Reference.sln not found above the test binaries"))!;

    public static string Committed => Path.Combine(RepoRoot, "golden");

    /// <summary>The known failures of the fast tiers, with reasons (shared with .ci/run).</summary>
    public static string FastXFail => Path.Combine(RepoRoot, ".ci", "golden-xfail-fast.txt");

    /// <summary>A copy of the committed golden set in a fresh temporary directory.</summary>
    public static Reference.SpecTests.Core.TempDir Copy(out string root)
    {
        var dir = new Reference.SpecTests.Core.TempDir();
        root = Path.Combine(dir.Path, "golden");
        foreach (var file in Directory.EnumerateFiles(Committed, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(Committed, file);
            if (relative.Contains("__pycache__")) continue;
            string target = Path.Combine(root, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        return dir;
    }
}
