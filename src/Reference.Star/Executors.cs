// Where genome evaluations run. One generation's evaluations are a batch of self-contained jobs in a
// directory (the same file protocol for every executor):
//   DIR/settings.json                     the evaluation settings
//   DIR/task-I/genome.json                job I's genome
//   DIR/task-I/result.json                its result, written atomically by the job (`reference evaluate`)
// A job whose result file is missing or unreadable after it ended (it exited non-zero, was killed at
// its time limit, or ended without writing) is retried, up to `retries` more times; then its result is
// a failure (objectives +inf, the reason kept), never dropped. Executors:
//   local  `workers` dedicated threads evaluating in-process, largest models first (default: one per core);
//   slurm  one `sbatch --array` job array per round (the first round every job, retries only the failed
//          indices), results read from the files; the round ends when all are there or the array left squeue.
// Faults for tests are injected per (task, attempt): "exit1" (the job exits with status 1), "noresult"
// (it exits 0 without writing), "hang" (it never ends; the time limit kills it). The local executor
// simulates them in-process; the Slurm executor passes them to `reference evaluate --fault`.
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.IO;

namespace Reference.Star;

/// <summary>Runs one generation's evaluations.</summary>
public interface IExecutor
{
    string Name { get; }

    /// <summary>Evaluates <paramref name="genomes"/> in <paramref name="directory"/>; one result per genome, in order (failures included).</summary>
    IReadOnlyList<EvaluationResult> Run(IReadOnlyList<Genome> genomes, EvaluationSettings settings, string directory, Action<EvaluationResult>? onResult = null);
}

/// <summary>Per-(task, attempt) injected faults (tests).</summary>
public delegate string? FaultInjector(int task, int attempt);

/// <summary>The file protocol shared by the executors.</summary>
public static class JobFiles
{
    public static string TaskDirectory(string directory, int task) => Path.Combine(directory, $"task-{task}");
    public static string GenomePath(string directory, int task) => Path.Combine(TaskDirectory(directory, task), "genome.json");
    public static string ResultPath(string directory, int task) => Path.Combine(TaskDirectory(directory, task), "result.json");
    public static string SettingsPath(string directory) => Path.Combine(directory, "settings.json");

    public static void Prepare(IReadOnlyList<Genome> genomes, EvaluationSettings settings, string directory)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(SettingsPath(directory), settings.ToJson().ToJsonString());
        for (int i = 0; i < genomes.Count; i++)
        {
            Directory.CreateDirectory(TaskDirectory(directory, i));
            AtomicFile.WriteAllText(GenomePath(directory, i), genomes[i].ToJson());
            if (File.Exists(ResultPath(directory, i))) File.Delete(ResultPath(directory, i));
        }
    }

    /// <summary>The result job <paramref name="task"/> wrote, or null with the reason.</summary>
    public static (EvaluationResult? Result, string? Why) Read(string directory, int task, Genome genome)
    {
        string path = ResultPath(directory, task);
        if (!File.Exists(path)) return (null, "no result file");
        try
        {
            var r = EvaluationResult.FromJson(JsonNode.Parse(File.ReadAllText(path)));
            return r.Genome.Equals(genome) ? (r, null) : (null, "result file holds another genome");
        }
        catch (Exception e) when (e is InvalidDataException or System.Text.Json.JsonException or ArgumentException or InvalidOperationException or FormatException)
        {
            return (null, $"unreadable result file ({e.Message})");
        }
    }

    /// <summary>Rounds of attempts until every job has a result or has used its retries.</summary>
    public static IReadOnlyList<EvaluationResult> WithRetries(IReadOnlyList<Genome> genomes, string directory, int retries,
        Func<IReadOnlyList<int>, int, IReadOnlyDictionary<int, string>> attempt, Action<EvaluationResult>? onResult) =>
        WithRetries(genomes, directory, retries, (pending, round, _) => attempt(pending, round), onResult);

    /// <summary>
    /// As above; the attempt may also call its third argument with a job index as soon as that job's result
    /// file is written, so the result is reported (and logged by the evolution) while the round still runs.
    /// </summary>
    public static IReadOnlyList<EvaluationResult> WithRetries(IReadOnlyList<Genome> genomes, string directory, int retries,
        Func<IReadOnlyList<int>, int, Action<int>, IReadOnlyDictionary<int, string>> attempt, Action<EvaluationResult>? onResult)
    {
        var results = new EvaluationResult?[genomes.Count];
        var why = new string[genomes.Count];
        var pending = Enumerable.Range(0, genomes.Count).ToList();
        var gate = new object();
        for (int round = 0; round <= retries && pending.Count > 0; round++)
        {
            int attemptNumber = round + 1;
            void Finished(int i)
            {
                var (r, _) = Read(directory, i, genomes[i]);
                if (r is null) return;
                lock (gate)
                {
                    if (results[i] is not null) return;
                    results[i] = r with { Attempts = attemptNumber };
                }
                onResult?.Invoke(results[i]!);
            }
            var failures = attempt(pending, round, Finished);
            var still = new List<int>();
            foreach (int i in pending)
            {
                if (results[i] is not null) continue;
                var (r, reason) = Read(directory, i, genomes[i]);
                if (r is not null)
                {
                    results[i] = r with { Attempts = round + 1 };
                    onResult?.Invoke(results[i]!);
                }
                else
                {
                    why[i] = failures.TryGetValue(i, out var f) ? $"{f}; {reason}" : reason!;
                    still.Add(i);
                }
            }
            pending = still;
        }
        foreach (int i in pending)
        {
            results[i] = EvaluationResult.Failure(genomes[i], $"failed after {retries + 1} attempts: {why[i]}", retries + 1);
            onResult?.Invoke(results[i]!);
        }
        return [.. results.Select(r => r!)];
    }
}

/// <summary>
/// A pool of threads evaluating in-process. Each worker is a dedicated thread (not a thread-pool thread)
/// that takes the next job from a shared counter, largest models first (longest-processing-time order
/// keeps the last wave of a generation short), and runs each job on its own thread so a job past the
/// time limit can be abandoned. Each job caps the kernels inside it at its share of the cores
/// (<see cref="KernelThreads"/>: one thread per job with one worker per core), so two trainings do not
/// each fork GEMM and Parallel.For helpers that queue behind the other job and spin in fork/join waits.
/// Why this shape, and the measurements behind it: bench/NOTES.md, "STAR local executor".
/// </summary>
public sealed class LocalExecutor(int workers = 0, int retries = 2, TimeSpan? timeout = null, FaultInjector? faults = null) : IExecutor
{
    public string Name => "local";
    public int Workers { get; } = workers > 0 ? workers : Environment.ProcessorCount;
    public int Retries { get; } = retries >= 0 ? retries : throw new ArgumentOutOfRangeException(nameof(retries), $"retries must be >= 0, got {retries}.");
    public TimeSpan Timeout { get; } = timeout ?? TimeSpan.FromHours(1);

    public IReadOnlyList<EvaluationResult> Run(IReadOnlyList<Genome> genomes, EvaluationSettings settings, string directory, Action<EvaluationResult>? onResult = null)
    {
        ArgumentNullException.ThrowIfNull(genomes);
        ArgumentNullException.ThrowIfNull(settings);
        JobFiles.Prepare(genomes, settings, directory);
        int vocabulary = settings.CreateTask().Vocabulary;
        return JobFiles.WithRetries(genomes, directory, Retries, (pending, round, finished) =>
        {
            var failures = new Dictionary<int, string>();
            var gate = new object();
            // Largest first; ties in index order, so the schedule is deterministic for given genomes.
            int[] order = [.. pending.OrderByDescending(i => StarModel.FormulaParameterCount(genomes[i], settings.Sizes, vocabulary, sharing: true)).ThenBy(i => i)];
            int next = -1;
            void Work()
            {
                for (int n = Interlocked.Increment(ref next); n < order.Length; n = Interlocked.Increment(ref next))
                {
                    int i = order[n];
                    string? failure = RunOne(i, round, genomes[i], settings, directory);
                    if (failure is not null) lock (gate) failures[i] = failure;
                    else finished(i);
                }
            }
            var threads = Enumerable.Range(0, Math.Min(Workers, order.Length) - 1)
                .Select(w => new Thread(Work) { IsBackground = true, Name = $"star-worker-{w + 1}" }).ToList();
            threads.ForEach(t => t.Start());
            Work();   // the calling thread is worker 0
            threads.ForEach(t => t.Join());
            return failures;
        }, onResult);
    }

    /// <summary>One attempt of job <paramref name="i"/>: null on success (result file written), else the reason.</summary>
    private string? RunOne(int i, int round, Genome genome, EvaluationSettings settings, string directory)
    {
        switch (faults?.Invoke(i, round))
        {
            case "exit1": return "exit status 1";
            case "noresult": return null;
            case "hang": return $"timed out after {Timeout.TotalSeconds:G4} s";
        }
        EvaluationResult? result = null;
        Exception? error = null;
        var job = new Thread(() =>
        {
            try
            {
                // This job's share of the cores for the kernels inside it (bench/NOTES.md, "STAR local executor").
                using var share = KernelThreads.Limit(Math.Max(1, Environment.ProcessorCount / Workers));
                result = GenomeEvaluator.Evaluate(genome, settings);
            }
            catch (Exception e) when (e is not OutOfMemoryException) { error = e; }
        }) { IsBackground = true, Name = $"star-eval-{i}" };
        job.Start();
        if (!job.Join(Timeout)) return $"timed out after {Timeout.TotalSeconds:G4} s";
        if (error is not null) return $"evaluation threw {error.GetType().Name}: {error.Message}";
        AtomicFile.WriteAllText(JobFiles.ResultPath(directory, i), result!.ToJson().ToJsonString());
        return null;
    }
}

/// <summary>One `sbatch --array` per round of a generation on a real Slurm cluster.</summary>
/// <param name="command">The command line that runs `reference` on the nodes (e.g. "dotnet /path/reference.dll").</param>
/// <param name="retries">Extra attempts of a failed task.</param>
/// <param name="timeLimitMinutes">Slurm --time of each task.</param>
/// <param name="faults">Injected faults, passed to `reference evaluate --fault`.</param>
/// <param name="sbatchOptions">Extra sbatch options (partition, ...).</param>
public sealed class SlurmExecutor(string command, int retries = 2, int timeLimitMinutes = 10, FaultInjector? faults = null, string sbatchOptions = "") : IExecutor
{
    public string Name => "slurm";

    /// <summary>Per round: seconds from submit to the last result (or the array leaving the queue), and the slowest task's own seconds.</summary>
    public List<(double Wall, double SlowestTask)> Rounds { get; } = [];

    public IReadOnlyList<EvaluationResult> Run(IReadOnlyList<Genome> genomes, EvaluationSettings settings, string directory, Action<EvaluationResult>? onResult = null)
    {
        ArgumentNullException.ThrowIfNull(genomes);
        ArgumentNullException.ThrowIfNull(settings);
        JobFiles.Prepare(genomes, settings, directory);
        string full = Path.GetFullPath(directory);
        return JobFiles.WithRetries(genomes, directory, retries, (pending, round) =>
        {
            var script = new StringBuilder();
            script.AppendLine("#!/bin/bash");
            script.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --job-name=star-eval");
            script.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --array={string.Join(',', pending)}");
            script.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --time={timeLimitMinutes}");
            script.AppendLine("#SBATCH --cpus-per-task=1");
            script.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --output={full}/task-%a/slurm-{round}.out");
            script.AppendLine("i=$SLURM_ARRAY_TASK_ID");
            script.AppendLine("fault=");
            var injected = pending.Select(i => (i, f: faults?.Invoke(i, round))).Where(p => p.f is not null).ToArray();
            if (injected.Length > 0)
            {
                script.AppendLine("case $i in");
                foreach (var (i, f) in injected) script.AppendLine(CultureInfo.InvariantCulture, $"  {i}) fault=\"--fault {f}\" ;;");
                script.AppendLine("esac");
            }
            script.AppendLine(CultureInfo.InvariantCulture,
                $"exec {command} evaluate \"{full}/task-$i/genome.json\" --settings \"{full}/settings.json\" --out \"{full}/task-$i/result.json\" $fault");
            string path = Path.Combine(full, $"array-{round}.sh");
            AtomicFile.WriteAllText(path, script.ToString());
            var clock = Stopwatch.StartNew();
            var (code, stdout, stderr) = Shell("sbatch", ["--parsable", .. sbatchOptions.Split(' ', StringSplitOptions.RemoveEmptyEntries), path]);
            string jobId = stdout.Trim().Split(';')[0];
            if (code != 0 || jobId.Length == 0) throw new InvalidOperationException($"sbatch failed (exit {code}): {stderr.Trim()}");
            // Poll the result files (cheap) and squeue (once a second) rather than `sbatch --wait`, whose
            // polling backs off to tens of seconds: the round ends when every result is there or the array left the queue.
            var lastQueue = Stopwatch.StartNew();
            while (true)
            {
                if (pending.All(i => File.Exists(JobFiles.ResultPath(full, i)))) break;
                if (lastQueue.Elapsed >= TimeSpan.FromSeconds(1))
                {
                    lastQueue.Restart();
                    var (qcode, queued, _) = Shell("squeue", ["-h", "-j", jobId, "-o", "%i"]);
                    if (qcode == 0 && string.IsNullOrWhiteSpace(queued)) break;
                }
                Thread.Sleep(100);
            }
            double slowest = pending.Select(i => JobFiles.Read(full, i, genomes[i]).Result?.Seconds ?? 0).DefaultIfEmpty(0).Max();
            Rounds.Add((clock.Elapsed.TotalSeconds, slowest));
            return pending.Where(i => !File.Exists(JobFiles.ResultPath(full, i)))
                .ToDictionary(i => i, i => $"Slurm array task {jobId}_{i} ended without a result (see task-{i}/slurm-{round}.out)");
        }, onResult);
    }

    private static (int Code, string Stdout, string Stderr) Shell(string program, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{program} did not start.");
        var stderrTask = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout, stderrTask.Result);
    }
}
