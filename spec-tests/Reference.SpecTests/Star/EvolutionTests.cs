using System.Diagnostics;
using System.Text.Json.Nodes;
using Reference.Cli;
using Reference.Core;
using Reference.Star;

namespace Reference.SpecTests.Star;

/// <summary>
/// Evaluation jobs, executors and the evolution loop: objectives of a genome (params and cache are the
/// model's), the local executor's failure paths with injected faults (a task that exits 1, one that
/// never writes its result, one that hangs past its time limit: retried, then marked failed, never
/// dropped), determinism, a killed child process resumed without losing or repeating an evaluation, and
/// a short real evolution at small width that raises the hypervolume of the initial population.
/// </summary>
public sealed class EvolutionTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("star-evolution-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(root, recursive: true); }
        catch (IOException) { }
    }

    internal static readonly IReadOnlyDictionary<string, string> TinyTask = new Dictionary<string, string>
    {
        ["vocab"] = "16", ["length"] = "8", ["pairs"] = "2", ["train"] = "200", ["test"] = "32",
    };

    internal static EvaluationSettings Tiny(params string[] objectives) =>
        new(objectives, "mqar", TinyTask, Width: 8, Heads: 4, Steps: 6, Batch: 8, LearningRate: 1e-2, Seed: 1, CachePrefix: 64, EvalSamples: 32);

    [Fact]
    public void EvaluationGivesTheModelsParamsAndCache()
    {
        var g = Genome.ParseText("1.1.2.1.2 1.1.2.1.2 8.1.1.1.1");
        var r = GenomeEvaluator.Evaluate(g, Tiny("cache", "params", "quality"));
        var model = StarModel.Create(g, new LivSizes(8, 4), 16, 2);
        Assert.Equal(model.ParameterCount(), r.Values["params"]);
        Assert.Equal(model.CacheSizes(64).Sum(), r.Values["cache"]);
        Assert.InRange(r.Values["quality"], 0.5, 4.0);          // cross-entropy near ln 16 = 2.77 after six steps
        Assert.Equal([r.Values["params"], r.Values["quality"]], r.Vector(["params", "quality"]));
        var back = EvaluationResult.FromJson(JsonNode.Parse(r.ToJson().ToJsonString()));
        Assert.Equal(g, back.Genome);
        Assert.Equal(r.Values["quality"], back.Values["quality"]);
        Assert.Equal(r.Values["quality"], GenomeEvaluator.Evaluate(g, Tiny("quality")).Values["quality"]);   // a pure function of genome and settings
        Assert.Contains("unknown objective 'speed'", Assert.Throws<ArgumentException>(() => Tiny("speed").Validate()).Message);
    }

    [Fact]
    public void LocalExecutorRetriesInjectedFaultsThenMarksFailed()
    {
        var space = new GenomeSpace(2);
        var rng = new SplitMix64(3);
        var genomes = Enumerable.Range(0, 5).Select(_ => space.Random(rng)).ToList();
        // Task 1 exits 1 once; task 2 never writes its result; task 3 hangs once; task 4 exits 1 every time.
        string? Fault(int task, int attempt) => (task, attempt) switch
        {
            (1, 0) => "exit1",
            (2, _) => "noresult",
            (3, 0) => "hang",
            (4, _) => "exit1",
            _ => null,
        };
        var seen = new List<EvaluationResult>();
        var results = new LocalExecutor(workers: 2, retries: 2, timeout: TimeSpan.FromSeconds(30), faults: Fault)
            .Run(genomes, Tiny("params", "cache"), Path.Combine(root, "gen"), r => { lock (seen) seen.Add(r); });
        Assert.Equal(5, results.Count);
        Assert.Equal(5, seen.Count);                                      // every task reported once, failures included
        for (int i = 0; i < 5; i++) Assert.Equal(genomes[i], results[i].Genome);
        Assert.False(results[0].Failed);
        Assert.Equal(1, results[0].Attempts);
        Assert.False(results[1].Failed);
        Assert.Equal(2, results[1].Attempts);
        Assert.True(results[2].Failed);
        Assert.Contains("no result file", results[2].Error);
        Assert.Equal(3, results[2].Attempts);
        Assert.False(results[3].Failed);
        Assert.True(results[4].Failed);
        Assert.Contains("exit status 1", results[4].Error);
        Assert.All(results[4].Vector(["params", "cache"]), v => Assert.Equal(double.PositiveInfinity, v));
        Assert.Equal(results[0].Values["params"], StarModel.Create(genomes[0], new LivSizes(8, 4), 16, 2).ParameterCount());
    }

    /// <summary>`reference` as the local executor's worker processes run it (the test host's copy).</summary>
    private static string WorkerCommand()
    {
        string host = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "reference.exe" : "reference");
        return File.Exists(host) ? $"\"{host}\"" : $"dotnet \"{Path.Combine(AppContext.BaseDirectory, "reference.dll")}\"";
    }

    [Fact]
    public void WorkerProcessesRetryInjectedFaultsThenMarkFailed()
    {
        var space = new GenomeSpace(2);
        var rng = new SplitMix64(4);
        var genomes = Enumerable.Range(0, 5).Select(_ => space.Random(rng)).ToList();
        // Task 1's process exits 1 once; task 2 never writes its result; task 3 hangs once (its process is killed
        // and a new one started); task 4's process exits 1 every time. The others run in the surviving processes.
        string? Fault(int task, int attempt) => (task, attempt) switch
        {
            (1, 0) => "exit1",
            (2, _) => "noresult",
            (3, 0) => "hang",
            (4, _) => "exit1",
            _ => null,
        };
        var timeline = new Timeline();
        IReadOnlyList<EvaluationResult> results;
        using (var executor = new LocalExecutor(workers: 2, retries: 2, timeout: TimeSpan.FromSeconds(20), faults: Fault) { WorkerCommand = WorkerCommand(), Timeline = timeline })
        {
            results = executor.Run(genomes, Tiny("params", "cache"), Path.Combine(root, "gen"));
            Assert.True(executor.ChildCpu.User > 0);
        }
        Assert.Equal([false, false, true, false, true], results.Select(r => r.Failed));
        Assert.Equal([1, 2, 3, 2, 3], results.Select(r => r.Attempts));
        Assert.Contains("no result file", results[2].Error);
        Assert.Contains("exit status 1", results[4].Error);
        for (int i = 0; i < 5; i++) Assert.Equal(genomes[i], results[i].Genome);
        // The children compute what the in-process evaluation computes.
        foreach (int i in new[] { 0, 1, 3 })
            Assert.Equal(GenomeEvaluator.Evaluate(genomes[i], Tiny("params", "cache")).Values, results[i].Values);
        Assert.Equal(6, timeline.Spans.Count(s => s.What.StartsWith("job", StringComparison.Ordinal)));   // one busy interval per answered attempt: 0, 1, 2 (three times, noresult), 3
    }

    [Fact]
    public void FrontIsTheSameForAnyWorkerCountInOrOutOfProcess()
    {
        // Trained quality included: evaluations are pure functions of genome and settings, whatever thread or process runs them.
        var options = new EvolutionOptions(Population: 6, Generations: 2, Depth: 3, Pool: [1, 5, 6, 7, 9], Seed: 7);
        var settings = Tiny("quality", "params", "cache") with { Steps = 3, EvalSamples = 16 };
        string Run(string name, LocalExecutor executor)
        {
            var dir = Path.Combine(root, name);
            using (executor) new Evolution(options, settings, executor, dir).Run(resume: false);
            return string.Join('\n', File.ReadAllLines(Path.Combine(dir, Evolution.LogFile)).Select(l => { var o = (JsonObject)JsonNode.Parse(l)!; o.Remove("seconds"); return o.ToJsonString(); }));
        }
        string one = Run("one", new LocalExecutor(workers: 1));
        Assert.Equal(one, Run("two", new LocalExecutor(workers: 2)));
        Assert.Equal(one, Run("two-processes", new LocalExecutor(workers: 2) { WorkerCommand = WorkerCommand() }));
    }

    [Fact]
    public void EvolutionIsDeterministicAndFailedGenomesRankLast()
    {
        var options = new EvolutionOptions(Population: 6, Generations: 2, Depth: 3, Seed: 5);
        string Run(string name, FaultInjector? faults)
        {
            var dir = Path.Combine(root, name);
            new Evolution(options, Tiny("params", "cache"), new LocalExecutor(2, 0, null, faults), dir).Run(resume: false);
            return string.Join('\n', File.ReadAllLines(Path.Combine(dir, Evolution.LogFile)).Select(l => { var o = (JsonObject)JsonNode.Parse(l)!; o.Remove("seconds"); return o.ToJsonString(); }));
        }
        Assert.Equal(Run("a", null), Run("b", null));
        // With every first task failing, the run still completes, the failures are logged, and none survives into a front.
        var dir = Path.Combine(root, "c");
        var (records, final) = new Evolution(options, Tiny("params", "cache"), new LocalExecutor(2, 0, null, (t, _) => t == 0 ? "exit1" : null), dir).Run(resume: false);
        var failures = File.ReadAllLines(Path.Combine(dir, Evolution.EvaluationsFile)).Count(l => l.Contains("\"failed\"", StringComparison.Ordinal));
        Assert.Equal(3, failures);
        Assert.All(records, r => Assert.All(r.Front, i => Assert.False(r.Population[i].Failed)));
        Assert.Equal(6, final.Count);
    }

    [Fact]
    public void ShortRealEvolutionImprovesTheHypervolume()
    {
        var options = new EvolutionOptions(Population: 8, Generations: 4, Depth: 3, Pool: [1, 3, 5, 6, 7, 9, 12, 16], Seed: 2);
        var (records, _) = new Evolution(options, Tiny("quality", "params", "cache"), new LocalExecutor(), Path.Combine(root, "hv")).Run(resume: false);
        Assert.Equal(5, records.Count);
        Assert.True(records[^1].Hypervolume > records[0].Hypervolume, $"hypervolume {records[0].Hypervolume} -> {records[^1].Hypervolume}");
        Assert.True(File.Exists(Path.Combine(root, "hv", Evolution.CheckpointFile)));
    }

    [Fact]
    public void KilledChildResumesWithoutLosingOrRepeatingAnEvaluation()
    {
        string[] Args(string dir, params string[] extra) =>
        [
            "evolve", "--population", "6", "--generations", "5", "--depth", "3", "--seed", "3", "--objectives", "quality,params,cache",
            "--width", "8", "--steps", "4", "--batch", "8", "--workers", "1", "--task-option", "vocab=16", "--task-option", "length=8",
            "--task-option", "train=200", "--task-option", "test=32", "--eval-samples", "16", "--out", dir, .. extra,
        ];
        string whole = Path.Combine(root, "whole"), killed = Path.Combine(root, "killed");
        var (code, _, error) = Cli(Args(whole));
        Assert.True(code == 0, error);

        string host = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "reference.exe" : "reference");
        var info = File.Exists(host) ? new ProcessStartInfo(host) : new ProcessStartInfo("dotnet") { ArgumentList = { Path.Combine(AppContext.BaseDirectory, "reference.dll") } };
        foreach (var a in Args(killed)) info.ArgumentList.Add(a);
        info.RedirectStandardOutput = info.RedirectStandardError = true;
        string evaluations = Path.Combine(killed, Evolution.EvaluationsFile);
        using (var child = Process.Start(info)!)
        {
            child.OutputDataReceived += (_, _) => { };
            child.ErrorDataReceived += (_, _) => { };
            child.BeginOutputReadLine();
            child.BeginErrorReadLine();
            var deadline = Stopwatch.StartNew();
            // Kill in the middle of generation 2: after its checkpoint of generation 1, with some evaluations of generation 2 done.
            while (!child.HasExited && deadline.Elapsed < TimeSpan.FromSeconds(120))
            {
                if (File.Exists(evaluations) && ReadShared(evaluations).Count(l => l.Contains("\"generation\":2", StringComparison.Ordinal)) >= 1) break;
                Thread.Sleep(2);
            }
            Assert.False(child.HasExited, "the child finished before it could be killed");
            child.Kill(entireProcessTree: true);
            child.WaitForExit();
        }
        int before = ReadShared(evaluations).Length;
        var (code2, output, error2) = Cli(Args(killed, "--resume"));
        Assert.True(code2 == 0, error2);
        var lines = File.ReadAllLines(evaluations);
        var keys = lines.Select(l => ((JsonObject)JsonNode.Parse(l)!)["genome"]!["genes"]!.ToJsonString()).ToArray();
        Assert.Equal(keys.Length, keys.Distinct().Count());                                   // none evaluated twice
        Assert.True(lines.Length >= before);                                                   // none lost
        Assert.Contains($"evaluations run by this process: {lines.Length - before} ", output);
        // The same evaluations and the same final generation as the uninterrupted run.
        var wholeKeys = File.ReadAllLines(Path.Combine(whole, Evolution.EvaluationsFile)).Select(l => ((JsonObject)JsonNode.Parse(l)!)["genome"]!["genes"]!.ToJsonString());
        Assert.Equal(wholeKeys.Order(), keys.Order());
        static string Final(string dir) => ((JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(dir, Evolution.CheckpointFile)))!)["population"]!.ToJsonString();
        Assert.Equal(Final(whole), Final(killed));
        Assert.Equal(6, File.ReadAllLines(Path.Combine(killed, Evolution.LogFile)).Length);   // generations 0..5, none twice
        Assert.True(File.Exists(Path.Combine(killed, "front-005.png")));
        Assert.Contains("motifs", File.ReadAllText(Path.Combine(killed, "motifs.txt")));
    }

    [Fact]
    public void EvaluateVerbTakesGenomeJsonAndWritesResultJson()
    {
        string genome = Path.Combine(root, "g.json"), result = Path.Combine(root, "r.json");
        File.WriteAllText(genome, """{"genes": [[5,1,1,1,1],[16,2,2,1,1],[16,2,2,1,1]]}""");
        var (code, _, error) = Cli(["evaluate", genome, "--objectives", "params,cache", "--width", "8", "--cache-length", "100", "--out", result]);
        Assert.True(code == 0, error);
        var r = EvaluationResult.FromJson(JsonNode.Parse(File.ReadAllText(result)));
        Assert.Equal(16L * 8 + 2 * 8 + 2 * 2 * 2 * 8, (long)r.Values["cache"]);   // Rec-1 16 D + (k - 1) D, two GConv-1-Diff 2 x 2 (k - 1) D
        File.WriteAllText(genome, """{"genes": [[1,1,2,1,1],[7,1,2,1,1]]}""");
        (code, _, error) = Cli(["evaluate", genome, "--objectives", "params"]);
        Assert.Equal(2, code);
        Assert.Contains("not valid", error);
        Assert.Equal(1, Cli(["evaluate", genome, "--fault", "exit1"]).Code);
    }

    [Fact]
    public void EvolveRefusesBadInputInOneLineBeforeWritingAnything()
    {
        string dir = Path.Combine(root, "bad");
        foreach (var (args, message) in new (string[], string)[]
        {
            (["--objectives", "quality,speed"], "unknown objective 'speed'"),
            (["--pool", "SA-1,Nope"], "LIV class 'Nope' is unknown"),
            (["--heads", "2", "--pool", "SA-3"], "needs heads divisible by 4"),
            (["--population", "1"], "'population' must be >= 2"),
            (["--executor", "cloud"], "--executor must be local or slurm"),
        })
        {
            var (code, _, error) = Cli(["evolve", "--out", dir, .. args]);
            Assert.Equal(2, code);
            Assert.Contains(message, error);
            Assert.Single(error.Trim().Split('\n'));
            Assert.False(Directory.Exists(dir));
        }
        var (c, _, e) = Cli(["evolve", "--out", Path.Combine(root, "none"), "--resume", "--generations", "0"]);
        Assert.Equal(2, c);
        Assert.Contains("no checkpoint", e);
    }

    internal static (int Code, string Output, string Error) Cli(string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = Program.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static string[] ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return new StreamReader(stream).ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}
