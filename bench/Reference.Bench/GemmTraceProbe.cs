using System.Diagnostics;
using Reference.Core;
using Reference.Core.Linear;

namespace Reference.Bench;

/// <summary>
/// Where the two threads of one FastGemm float32 product spend its wall time:
///   dotnet bench/Reference.Bench/bin/Release/net10.0/Reference.Bench.dll --gemm-trace [size] [calls]
/// Runs size^3 products (Vector512 kernel where accelerated): per round one at 1 thread, then two at 2 threads, and
/// records the second two-thread call's tasks with GemmTrace (each pack and tile from its claim to its end, each wait that spun; wall and thread CPU
/// clocks). Per call: wall time, the helper's start delay (its first claim after the call began), each thread's busy
/// time (tasks less their waits), waits, the caller's final wait (call end after its last task) and the helper's
/// idle tail (call end after its last task), then "threads busy" = busy time of both / wall. A task whose wall time
/// exceeds its thread CPU time lost that time off the CPU (preempted). Prints the distribution over calls and the
/// timelines of the median and the slowest call; GEMMTRACE_DUMP=file writes every event (call, kind, 0 = caller / 1 = helper,
/// index, wall start and end in Stopwatch ticks, thread CPU start and end in ns) for analysis (bench/NOTES.md, gemm2t).
/// </summary>
public static class GemmTraceProbe
{
    private sealed record CallStats(double Wall, double HelperDelay, double BusyCaller, double BusyHelper, double WaitCaller,
        double WaitHelper, double FinalWait, double HelperTail, double OffCpu, int TasksHelper, int Tasks, GemmTrace.Event[] Events);

    public static void Run(int size, int calls)
    {
        Console.WriteLine($"GEMM trace, float32 {size}^3, kernel Vector{FastGemm.KernelVectorBits}, {calls} calls per thread count; load average {SelectiveScanFloor.LoadAverage()}");
        var rng = new SplitMix64(1);
        var a = new float[size * size];
        var b = new float[size * size];
        var c = new float[size * size];
        rng.FillNormal<float>(a);
        rng.FillNormal<float>(b);
        void Call(int threads) => FastGemm.MultiplyWithKernel(GemmMicroKernel.Best, false, false, size, size, size, 1f, a, size, b, size, 0f, c, size, threads);
        for (int w = 0; w < 5; w++) { Call(1); Call(2); }
        var trace = new GemmTrace(4096);
        var one = new double[calls];
        var stats = new List<CallStats>();
        for (int i = 0; i < calls; i++)
        {
            long s = Stopwatch.GetTimestamp();
            Call(1);
            one[i] = Stopwatch.GetElapsedTime(s).TotalMilliseconds;
            Call(2);   // the traced call follows another two-thread call, as in a loop of products (warm helper)
            trace.Clear();
            GemmTrace.Active = trace;
            Call(2);
            GemmTrace.Active = null;
            stats.Add(Analyze(trace.Events.ToArray()));
        }
        var oneSorted = one.Order().ToArray();
        Console.WriteLine($"1 thread wall ms: min {oneSorted[0]:F2} median {P(oneSorted, 0.5):F2} p90 {P(oneSorted, 0.9):F2}");
        Console.WriteLine("2 threads, per call (ms; busy = tasks less their waits; off-CPU = task wall less task CPU, both threads):");
        Console.WriteLine("| stat | wall | helper start | busy caller | busy helper | waits caller | waits helper | final wait | helper tail | off-CPU | helper tasks | threads busy |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (name, q) in new[] { ("min", 0.0), ("p10", 0.1), ("p25", 0.25), ("median", 0.5), ("p75", 0.75), ("p90", 0.9), ("max", 1.0) })
        {
            double Pick(Func<CallStats, double> f) => P(stats.Select(f).Order().ToArray(), q);
            Console.WriteLine($"| {name} | {Pick(x => x.Wall):F2} | {Pick(x => x.HelperDelay):F2} | {Pick(x => x.BusyCaller):F2} | {Pick(x => x.BusyHelper):F2} | " +
                $"{Pick(x => x.WaitCaller):F2} | {Pick(x => x.WaitHelper):F2} | {Pick(x => x.FinalWait):F2} | {Pick(x => x.HelperTail):F2} | {Pick(x => x.OffCpu):F2} | " +
                $"{Pick(x => x.TasksHelper):F0} / {stats[0].Tasks} | {Pick(x => (x.BusyCaller + x.BusyHelper) / x.Wall):F2} |");
        }
        double lost = stats.Sum(x => 2 * x.Wall - x.BusyCaller - x.BusyHelper);
        Console.WriteLine($"Idle thread-time over all calls {lost:F1} ms: helper start {100 * stats.Sum(x => x.HelperDelay) / lost:F0} %, waits caller {100 * stats.Sum(x => x.WaitCaller) / lost:F0} %, " +
            $"waits helper {100 * stats.Sum(x => x.WaitHelper) / lost:F0} %, final wait {100 * stats.Sum(x => x.FinalWait) / lost:F0} %, helper tail {100 * stats.Sum(x => x.HelperTail) / lost:F0} %");
        if (Environment.GetEnvironmentVariable("GEMMTRACE_DUMP") is { Length: > 0 } dump)
            File.WriteAllLines(dump, stats.SelectMany((x, call) => x.Events.Select(e =>
                $"{call} {e.Kind} {(e.Thread == x.Events.Single(v => v.Kind == GemmTrace.Call).Thread ? 0 : 1)} {e.Index} {e.WallStart} {e.WallEnd} {e.CpuStart} {e.CpuEnd}")));
        var byWall = stats.OrderBy(x => x.Wall).ToArray();
        Timeline("median call", byWall[byWall.Length / 2]);
        Timeline("slowest call", byWall[^1]);
        Console.WriteLine($"load average at the end {SelectiveScanFloor.LoadAverage()}");
    }

    private static double P(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)(q * (sorted.Length - 1) + 0.5))];

    private static double Ms(long ticks) => ticks * 1e3 / Stopwatch.Frequency;

    private static CallStats Analyze(GemmTrace.Event[] events)
    {
        var call = events.Single(e => e.Kind == GemmTrace.Call);
        int caller = call.Thread;
        var tasks = events.Where(e => e.Kind == GemmTrace.Task).ToArray();
        var helperTasks = tasks.Where(e => e.Thread != caller).ToArray();
        double wall = Ms(call.WallEnd - call.WallStart);
        double delay = helperTasks.Length == 0 ? wall : Ms(helperTasks.Min(e => e.WallStart) - call.WallStart);
        double tail = helperTasks.Length == 0 ? 0 : Ms(call.WallEnd - helperTasks.Max(e => e.WallEnd));
        double Waits(bool onCaller) => events.Where(e => e.Kind == GemmTrace.Wait && (e.Thread == caller) == onCaller).Sum(e => Ms(e.WallEnd - e.WallStart));
        double TaskTime(bool onCaller) => tasks.Where(e => (e.Thread == caller) == onCaller).Sum(e => Ms(e.WallEnd - e.WallStart));
        double waitCaller = Waits(true), waitHelper = Waits(false);
        var callerTasks = tasks.Where(e => e.Thread == caller).ToArray();
        double final = callerTasks.Length == 0 ? wall : Ms(call.WallEnd - callerTasks.Max(e => e.WallEnd));
        double offCpu = tasks.Sum(e => Ms(e.WallEnd - e.WallStart) - (e.CpuEnd - e.CpuStart) * 1e-6);
        return new CallStats(wall, delay, TaskTime(true) - waitCaller, TaskTime(false) - waitHelper, waitCaller, waitHelper, final, tail, offCpu,
            helperTasks.Length, call.Index, events);
    }

    private static void Timeline(string title, CallStats call)
    {
        var start = call.Events.Single(e => e.Kind == GemmTrace.Call);
        Console.WriteLine($"Timeline, {title}: wall {call.Wall:F2} ms (times in ms from the call's start; C = caller, H = helper; task [claim, end] wall / thread CPU, waits inside)");
        foreach (var e in call.Events.Where(e => e.Kind != GemmTrace.Call).OrderBy(e => e.WallStart))
        {
            string who = e.Thread == start.Thread ? "C" : "H";
            string kind = e.Kind == GemmTrace.Task ? "task" : "  wait in";
            Console.WriteLine($"  {who} {kind} {e.Index}: {Ms(e.WallStart - start.WallStart):F3} - {Ms(e.WallEnd - start.WallStart):F3} " +
                $"({Ms(e.WallEnd - e.WallStart):F3} wall / {(e.CpuEnd - e.CpuStart) * 1e-6:F3} CPU)");
        }
    }
}
