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
/// A pool of workers on this machine. Each worker is a dedicated thread (not a thread-pool thread) that
/// takes the next job from a shared counter, largest models first (longest-processing-time order keeps
/// the last wave of a generation short). With <see cref="WorkerCommand"/> set (what `reference evolve`
/// does), each worker hands its jobs to its own long-lived child process (`reference evaluate -`, the
/// <see cref="EvaluationServer"/> protocol): every evaluation then has a garbage-collected heap of its
/// own, so one worker's collections (stop-the-world in the workstation collector) never stop the other
/// workers, which in one process they do hundreds of times per evaluation; a job past the time limit kills
/// its child, which is started again for the next job. Without it, jobs run in-process, each on a thread
/// of its own so a job past the time limit can be abandoned. Either way each job caps the kernels inside
/// it at its share of the cores (<see cref="KernelThreads"/>: one thread per job with one worker per core),
/// so two trainings do not each fork GEMM and Parallel.For helpers that queue behind the other job.
/// Why this shape, and the measurements behind it: bench/NOTES.md, "STAR local executor".
/// </summary>
public sealed class LocalExecutor(int workers = 0, int retries = 2, TimeSpan? timeout = null, FaultInjector? faults = null) : IExecutor, IDisposable
{
    public string Name => "local";
    public int Workers { get; } = workers > 0 ? workers : Environment.ProcessorCount;
    public int Retries { get; } = retries >= 0 ? retries : throw new ArgumentOutOfRangeException(nameof(retries), $"retries must be >= 0, got {retries}.");
    public TimeSpan Timeout { get; } = timeout ?? TimeSpan.FromHours(1);

    /// <summary>Where each job's busy interval is logged (lane "worker-W"), if anywhere.</summary>
    public Timeline? Timeline { get; init; }

    /// <summary>
    /// The command line that runs `reference` (e.g. "dotnet /path/reference.dll", passed to /bin/sh): when set,
    /// each worker evaluates in a child process of its own, kept for the executor's lifetime; null: in-process.
    /// </summary>
    public string? WorkerCommand { get; init; }

    private readonly object childGate = new();
    private WorkerProcess?[]? children;
    private (double User, double System) retiredCpu;

    /// <summary>Kernel threads of one job: its share of the cores.</summary>
    private int KernelShare => Math.Max(1, Environment.ProcessorCount / Workers);

    /// <summary>CPU seconds (user, system) the worker processes used, as they last reported (0 in-process).</summary>
    public (double User, double System) ChildCpu
    {
        get
        {
            lock (childGate)
            {
                var (u, s) = retiredCpu;
                foreach (var c in children ?? []) if (c is not null) (u, s) = (u + c.Cpu.User, s + c.Cpu.System);
                return (u, s);
            }
        }
    }

    /// <summary>Ends the worker processes (their stdin is closed; one that does not exit in 10 s is killed).</summary>
    public void Dispose()
    {
        lock (childGate)
        {
            for (int w = 0; w < (children?.Length ?? 0); w++) Retire(w);
        }
    }

    private void Retire(int worker)
    {
        if (children?[worker] is not { } c) return;
        retiredCpu = (retiredCpu.User + c.Cpu.User, retiredCpu.System + c.Cpu.System);
        c.Dispose();
        children[worker] = null;
    }

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
            void Work(int worker)
            {
                for (int n = Interlocked.Increment(ref next); n < order.Length; n = Interlocked.Increment(ref next))
                {
                    int i = order[n];
                    string? failure = WorkerCommand is null
                        ? RunOne(i, round, genomes[i], settings, directory, $"worker-{worker}")
                        : RunInChild(worker, i, round, directory, $"worker-{worker}");
                    if (failure is not null) lock (gate) failures[i] = failure;
                    else finished(i);
                }
            }
            var threads = Enumerable.Range(0, Math.Min(Workers, order.Length) - 1)
                .Select(w => new Thread(() => Work(w + 1)) { IsBackground = true, Name = $"star-worker-{w + 1}" }).ToList();
            threads.ForEach(t => t.Start());
            Work(0);   // the calling thread is worker 0
            threads.ForEach(t => t.Join());
            return failures;
        }, onResult);
    }

    /// <summary>One attempt of job <paramref name="i"/> in worker <paramref name="worker"/>'s child process: null when it answered ok, else the reason.</summary>
    private string? RunInChild(int worker, int i, int round, string directory, string lane)
    {
        WorkerProcess child;
        lock (childGate)
        {
            children ??= new WorkerProcess?[Workers];
            child = children[worker] ??= WorkerProcess.Start(WorkerCommand!, KernelShare);
        }
        double start = Timeline?.Now ?? 0;
        string job = string.Join('\t', Path.GetFullPath(JobFiles.GenomePath(directory, i)), Path.GetFullPath(JobFiles.SettingsPath(directory)),
            Path.GetFullPath(JobFiles.ResultPath(directory, i)), faults?.Invoke(i, round) ?? "");
        var (reply, failure) = child.Ask(job, Timeout);
        if (failure is not null)
        {
            lock (childGate) Retire(worker);
            return failure;
        }
        Timeline?.Record(lane, $"job {i}", start, Timeline.Now, reply!.ThreadCpu);
        return reply!.Error;
    }

    /// <summary>One attempt of job <paramref name="i"/> in-process: null on success (result file written), else the reason.</summary>
    private string? RunOne(int i, int round, Genome genome, EvaluationSettings settings, string directory, string lane)
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
            using var busy = Timeline?.Begin(lane, $"job {i}");
            try
            {
                // This job's share of the cores for the kernels inside it (bench/NOTES.md, "STAR local executor").
                using var share = KernelThreads.Limit(KernelShare);
                result = GenomeEvaluator.Evaluate(genome, settings);
            }
            catch (Exception e) when (e is not OutOfMemoryException) { error = e; }
        }) { IsBackground = true, Name = $"star-eval-{i}" };
        job.Start();
        if (!job.Join(Timeout)) return $"timed out after {Timeout.TotalSeconds:G4} s";
        if (error is not null) return $"evaluation threw {error.GetType().Name}: {error.Message}";
        using var write = Timeline?.Begin(lane, $"write {i}");
        AtomicFile.WriteAllText(JobFiles.ResultPath(directory, i), result!.ToJson().ToJsonString());
        return null;
    }
}

/// <summary>
/// The local executor's child process: `reference evaluate -` reads one job per line from stdin (genome JSON
/// path, settings JSON path, result JSON path, injected fault or empty; tab separated), evaluates it, writes
/// the result file atomically, and answers one line: "ok" or "error", the thread's CPU seconds for the job,
/// the process's user and system CPU seconds so far, and for an error the reason (tab separated). The
/// faults act as `reference evaluate --fault` does: exit1 ends the process with status 1, noresult answers
/// ok without writing, hang never answers.
/// </summary>
public static class EvaluationServer
{
    /// <summary>Serves jobs until stdin ends; returns the process exit status.</summary>
    public static int Serve(TextReader input, TextWriter output, int kernelThreads)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        using var share = KernelThreads.Limit(kernelThreads);
        string? settingsPath = null;
        EvaluationSettings? settings = null;
        while (input.ReadLine() is { } line)
        {
            var parts = line.Split('\t');
            if (parts.Length != 4) throw new InvalidDataException($"evaluation server: expected 4 tab-separated fields, got '{line}'.");
            switch (parts[3])
            {
                case "exit1": return 1;
                case "hang": Thread.Sleep(System.Threading.Timeout.Infinite); break;
            }
            double cpu = Timeline.ThreadCpuSeconds();
            string? error = null;
            try
            {
                if (parts[1] != settingsPath)
                {
                    settings = EvaluationSettings.FromJson(JsonNode.Parse(File.ReadAllText(parts[1])));
                    settingsPath = parts[1];
                }
                var genome = Genome.ParseJson(File.ReadAllText(parts[0]));
                if (parts[3] != "noresult") AtomicFile.WriteAllText(parts[2], GenomeEvaluator.Evaluate(genome, settings!).ToJson().ToJsonString());
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                error = $"evaluation threw {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ").Replace('\t', ' ')}";
            }
            var (u, s) = Timeline.ProcessCpuSeconds();
            string usage = string.Create(CultureInfo.InvariantCulture, $"{Timeline.ThreadCpuSeconds() - cpu:R}\t{u:R}\t{s:R}");
            output.WriteLine(error is null ? $"ok\t{usage}" : $"error\t{usage}\t{error}");
            output.Flush();
        }
        return 0;
    }
}

/// <summary>The parent's side of one <see cref="EvaluationServer"/> child process.</summary>
internal sealed class WorkerProcess : IDisposable
{
    private readonly Process process;

    private WorkerProcess(Process process) => this.process = process;

    /// <summary>CPU seconds (user, system) of the child, as of its last answer.</summary>
    public (double User, double System) Cpu { get; private set; }

    public sealed record Reply(double ThreadCpu, string? Error);

    public static WorkerProcess Start(string command, int kernelThreads)
    {
        var info = new ProcessStartInfo("/bin/sh") { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(string.Create(CultureInfo.InvariantCulture, $"exec {command} evaluate - --kernel-threads {kernelThreads}"));
        return new WorkerProcess(Process.Start(info) ?? throw new InvalidOperationException($"the worker process ({command}) did not start."));
    }

    /// <summary>Sends one job and waits for its answer: (reply, null), or (null, why) when the child ended or timed out.</summary>
    public (Reply? Reply, string? Failure) Ask(string job, TimeSpan timeout)
    {
        Task<string?> read;
        try
        {
            process.StandardInput.WriteLine(job);
            process.StandardInput.Flush();
            read = process.StandardOutput.ReadLineAsync();
        }
        catch (IOException e) { return (null, $"worker process ended ({e.Message})"); }
        if (!read.Wait(timeout))
        {
            process.Kill(entireProcessTree: true);
            return (null, $"timed out after {timeout.TotalSeconds:G4} s");
        }
        if (read.Result is not { } line)
        {
            process.WaitForExit();
            return (null, $"exit status {process.ExitCode}");
        }
        var f = line.Split('\t');
        if (f.Length < 4 || f[0] is not ("ok" or "error")) return (null, $"worker process answered '{line}'");
        Cpu = (double.Parse(f[2], CultureInfo.InvariantCulture), double.Parse(f[3], CultureInfo.InvariantCulture));
        return (new Reply(double.Parse(f[1], CultureInfo.InvariantCulture), f[0] == "ok" ? null : string.Join(' ', f[4..])), null);
    }

    public void Dispose()
    {
        try
        {
            process.StandardInput.Close();
            if (!process.WaitForExit(TimeSpan.FromSeconds(10))) process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException) { }
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        catch (InvalidOperationException) { }
        process.Dispose();
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
