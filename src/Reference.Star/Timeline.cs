// Where an evolution's wall time goes: busy intervals per lane (the evolution's own thread, each local
// worker), each with the CPU time its thread spent inside it. A worker lane's idle stretches inside an
// evaluation phase are the second core waiting (for a straggler at the end of a generation, for the
// serial work between generations); an interval whose thread CPU is well below its wall time is a thread
// that waited (on the garbage collector's stop-the-world pauses, on I/O, on the scheduler of a loaded
// machine). bench/NOTES.md ("STAR local executor") reads these to show where the cores idle.
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;

namespace Reference.Star;

/// <summary>One busy interval: seconds since the timeline began, and the CPU seconds of its thread inside it.</summary>
public sealed record TimelineSpan(string Lane, string What, double Start, double End, double ThreadCpu)
{
    public double Wall => End - Start;
}

/// <summary>Thread-safe log of busy intervals (see the file comment).</summary>
public sealed partial class Timeline
{
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private readonly List<TimelineSpan> spans = [];
    private readonly (double User, double System) cpuAtStart = ProcessCpuSeconds();

    /// <summary>Seconds since the timeline began.</summary>
    public double Now => clock.Elapsed.TotalSeconds;

    /// <summary>Starts an interval on the calling thread; it is recorded when the scope is disposed (on the same thread).</summary>
    public Scope Begin(string lane, string what) => new(this, lane, what, Now, ThreadCpuSeconds());

    public IReadOnlyList<TimelineSpan> Spans
    {
        get { lock (spans) return [.. spans]; }
    }

    /// <summary>Process CPU seconds (user, system) since the timeline began.</summary>
    public (double User, double System) ProcessCpu
    {
        get
        {
            var (u, s) = ProcessCpuSeconds();
            return (u - cpuAtStart.User, s - cpuAtStart.System);
        }
    }

    /// <summary>Records an interval measured elsewhere (a child process's job: its thread CPU as the child reported it).</summary>
    public void Record(string lane, string what, double start, double end, double threadCpu) => Add(new TimelineSpan(lane, what, start, end, threadCpu));

    private void Add(TimelineSpan span)
    {
        lock (spans) spans.Add(span);
    }

    public readonly struct Scope(Timeline timeline, string lane, string what, double start, double cpu) : IDisposable
    {
        public void Dispose() => timeline.Add(new TimelineSpan(lane, what, start, timeline.Now, ThreadCpuSeconds() - cpu));
    }

    /// <summary>The intervals as JSON lines (lane, what, start, end, thread_cpu; seconds).</summary>
    public string ToJsonLines()
    {
        var text = new StringBuilder();
        foreach (var s in Spans.OrderBy(s => s.Start))
            text.AppendLine(new JsonObject
            {
                ["lane"] = s.Lane, ["what"] = s.What, ["start"] = Math.Round(s.Start, 4), ["end"] = Math.Round(s.End, 4), ["thread_cpu"] = Math.Round(s.ThreadCpu, 4),
            }.ToJsonString());
        return text.ToString();
    }

    /// <summary>
    /// Per worker lane (names starting with "worker"): busy seconds, the share of the evaluation phases it was
    /// busy, and its threads' CPU seconds; the evaluation phases are the "evaluate" intervals of the main lane.
    /// </summary>
    public string Summary()
    {
        var all = Spans;
        double phases = all.Where(s => s.Lane == "main" && s.What.StartsWith("evaluate", StringComparison.Ordinal)).Sum(s => s.Wall);
        double serial = all.Where(s => s.Lane == "main" && !s.What.StartsWith("evaluate", StringComparison.Ordinal)).Sum(s => s.Wall);
        var lines = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"evaluation phases {phases:F1} s; serial work between them {serial:F1} s"),
        };
        foreach (var lane in all.Select(s => s.Lane).Where(l => l.StartsWith("worker", StringComparison.Ordinal)).Distinct().Order(StringComparer.Ordinal))
        {
            var mine = all.Where(s => s.Lane == lane).ToList();
            double busy = mine.Sum(s => s.Wall), cpu = mine.Sum(s => s.ThreadCpu);
            int jobs = mine.Count(s => s.What.StartsWith("job", StringComparison.Ordinal));
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"  {lane}: {jobs} jobs, busy {busy:F1} s ({(phases > 0 ? 100 * busy / phases : 0):F0}% of the phases), thread CPU {cpu:F1} s"));
        }
        return string.Join('\n', lines);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    private const int ClockThreadCpuTime = 3;   // CLOCK_THREAD_CPUTIME_ID (Linux)

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>CPU seconds of the calling thread (Linux); 0 elsewhere, where no portable call gives it.</summary>
    public static double ThreadCpuSeconds()
    {
        if (OperatingSystem.IsLinux() && ClockGetTime(ClockThreadCpuTime, out var t) == 0) return t.Seconds + t.Nanoseconds * 1e-9;
        return 0;
    }

    /// <summary>CPU seconds of this process so far: user and system (page faults, allocation, I/O).</summary>
    public static (double User, double System) ProcessCpuSeconds()
    {
        using var p = Process.GetCurrentProcess();
        return (p.UserProcessorTime.TotalSeconds, p.PrivilegedProcessorTime.TotalSeconds);
    }
}
