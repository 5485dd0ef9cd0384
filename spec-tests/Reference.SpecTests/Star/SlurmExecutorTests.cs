using System.Diagnostics;
using Reference.Core;
using Reference.Star;

namespace Reference.SpecTests.Star;

/// <summary>
/// The Slurm executor on a real one-node cluster (../shared/tools/slurm-local.sh start; Debian's
/// slurm-wlm and munge). Explicit: not run by `dotnet test` or CI; run with
/// `Reference.SpecTests -class Reference.SpecTests.Star.SlurmExecutorTests -explicit only` after starting
/// the cluster. Checks the same failure paths as the local executor's test (a task that exits 1 once,
/// one that never writes its result, one that hangs past Slurm's time limit once) and a short evolution
/// through sbatch arrays, printing the per-generation overhead (submit to last result minus the slowest task).
/// </summary>
[Trait("Category", "Slurm")]
public sealed class SlurmExecutorTests(ITestOutputHelper output) : IDisposable
{
    // The cluster's nodes must see the directory: a path on this machine's file system, not a private /tmp namespace.
    private readonly string root = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"star-slurm-{Environment.ProcessId}")).FullName;

    public void Dispose()
    {
        try { Directory.Delete(root, recursive: true); }
        catch (IOException) { }
    }

    private static string Command()
    {
        string host = Path.Combine(AppContext.BaseDirectory, "reference");
        return File.Exists(host) ? $"\"{host}\"" : $"dotnet \"{Path.Combine(AppContext.BaseDirectory, "reference.dll")}\"";
    }

    [Fact(Explicit = true)]
    public void FailurePathsOnRealSlurm()
    {
        var space = new GenomeSpace(2);
        var rng = new SplitMix64(3);
        var genomes = Enumerable.Range(0, 4).Select(_ => space.Random(rng)).ToList();
        string? Fault(int task, int attempt) => (task, attempt) switch { (1, 0) => "exit1", (2, _) => "noresult", (3, 0) => "hang", _ => null };
        var executor = new SlurmExecutor(Command(), retries: 1, timeLimitMinutes: 1, faults: Fault);
        var results = executor.Run(genomes, EvolutionTests.Tiny("params", "cache"), Path.Combine(root, "faults"));
        Assert.False(results[0].Failed);
        Assert.False(results[1].Failed);
        Assert.Equal(2, results[1].Attempts);
        Assert.True(results[2].Failed);
        Assert.Contains("no result", results[2].Error);
        Assert.False(results[3].Failed);                 // killed at Slurm's 1-minute limit, then retried
        Assert.Equal(2, results[3].Attempts);
        foreach (var (wall, slowest) in executor.Rounds) output.WriteLine($"round: {wall:F1} s wall, slowest task {slowest:F1} s");
    }

    [Fact(Explicit = true)]
    public void ShortEvolutionThroughSlurm()
    {
        var executor = new SlurmExecutor(Command(), retries: 1, timeLimitMinutes: 5);
        var options = new EvolutionOptions(Population: 4, Generations: 2, Depth: 3, Seed: 1);
        var clock = Stopwatch.StartNew();
        var (records, final) = new Evolution(options, EvolutionTests.Tiny("quality", "params", "cache"), executor, Path.Combine(root, "evolve")).Run(resume: false);
        Assert.Equal(3, records.Count);
        Assert.All(final, r => Assert.False(r.Failed));
        foreach (var (wall, slowest) in executor.Rounds)
            output.WriteLine($"generation round: submit to last result {wall:F1} s, slowest task {slowest:F1} s, overhead {wall - slowest:F1} s");
        output.WriteLine($"total {clock.Elapsed.TotalSeconds:F1} s");
        Assert.All(executor.Rounds, r => Assert.True(r.Wall - r.SlowestTask < 10, $"overhead {r.Wall - r.SlowestTask:F1} s"));
    }
}
