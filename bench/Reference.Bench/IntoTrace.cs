using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Reference.Bench;

/// <summary>
/// Why one tier's Into calls spread, call by call, at one thread count (no alternation, so a one-thread trace has no
/// helper polling on the other core):
///   dotnet bench/Reference.Bench/bin/Release/net10.0/Reference.Bench.dll --into-trace [tier] [calls] [threads] [alloc]
/// ("alloc": each Into call after an untimed call of the allocating form, the order of --into-cpu-time; tier "gla-l2": the
/// GLA call at L 512, whose 1.25 MB of operands fit one core's L2)
/// Per call: wall time, the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID) and the process's, the caller's
/// involuntary context switches (getrusage RUSAGE_THREAD), the process's minor page faults (a fresh page touched by
/// any thread), gen-0 collections, the CPU the caller started and ended on, and the tasks runnable on the whole machine just before and after
/// the call (the larger; /proc/loadavg's 4th field, ours included: at one thread, 1 means nothing else wanted a core;
/// cpuidle residency in /sys is not updated on these VMs, and /proc/stat counts in 10 ms ticks). The calls are then split
/// into the fastest and slowest thirds by the caller's CPU time (the time the call's own instructions took, whatever
/// the preemption), and each third's mean of every column is printed, with the 8 slowest and 8 fastest calls. Nothing
/// here allocates between the first and last call (the sysfs files are read into a kept buffer), so the GC column
/// is the tier's own.
/// </summary>
public static class IntoTrace
{
    private sealed record Row(int Index, double Wall, double ThreadCpu, double ProcessCpu, long Invol, long Faults, int Gcs, int Cpu0, int Cpu1,
        int Runnable, double Gap, double Share, int LastOnHelpers, int LastItems, int HelperCpu);

    public static void Run(string tier, int calls, int threads, bool withAllocating = false)
    {
        var tiers = new IntoTiers();
        Action<int> into = t => tiers.Into(tier, t);
        if (tier == "gla-l2")
        {
            // The GLA tier's call at a quarter of its length (L 512): q, k, v, g and the output take 1.25 MB, inside one core's
            // 2 MB L2, where the bench shape's 5 MB streams through L3: a spread that stays here is not the memory hierarchy's.
            var rng = new Reference.Core.SplitMix64(6);
            var (q, k, v) = (rng.NormalTensor<float>(0, 1, 1, 2, 512, 64), rng.NormalTensor<float>(0, 1, 1, 2, 512, 64), rng.NormalTensor<float>(0, 1, 1, 2, 512, 64));
            var g = Reference.Operators.Recurrence.GatedLinearAttention.LogSigmoidGate(rng.NormalTensor<double>(0, 1, 1, 2, 512, 64)).Cast<float>();
            var o = Reference.Core.Tensor<float>.Zeros(1, 2, 512, 64);
            into = t => Reference.Operators.Recurrence.GatedLinearAttention.ChunkedFastInto(o, q, k, v, g, maxThreads: t);
        }
        using var loadavg = File.OpenHandle("/proc/loadavg");
        var buffer = new byte[128];
        // The 4th field of /proc/loadavg, "running/threads": tasks runnable on the whole machine now (ours included).
        int Runnable()
        {
            int n = RandomAccess.Read(loadavg, buffer, 0), i = 0, fields = 0;
            while (i < n && fields < 3) if (buffer[i++] == (byte)' ') fields++;
            int v = 0;
            for (; i < n && buffer[i] >= (byte)'0' && buffer[i] <= (byte)'9'; i++) v = v * 10 + buffer[i] - '0';
            return v;
        }
        // The CPU the first dedicated helper last ran on (/proc/self/task/TID/stat, field 39), read after each call:
        // -1 before the helper exists.
        SafeFileHandle? helperStat = null;
        var statBuffer = new byte[1024];
        int HelperCpu()
        {
            if (helperStat is null)
                foreach (var dir in Directory.GetDirectories("/proc/self/task"))
                    if (File.ReadAllText(Path.Combine(dir, "comm")).StartsWith("ParallelItems h", StringComparison.Ordinal))
                    {
                        helperStat = File.OpenHandle(Path.Combine(dir, "stat"));
                        break;
                    }
            if (helperStat is null) return -1;
            int n = RandomAccess.Read(helperStat, statBuffer, 0), i = 0;
            while (i < n && statBuffer[i] != (byte)')') i++;   // the name may hold spaces; fields count from after it
            int field = 2;
            for (; i < n && field < 39; i++) if (statBuffer[i] == (byte)' ') field++;
            int v = 0;
            for (; i < n && statBuffer[i] >= (byte)'0' && statBuffer[i] <= (byte)'9'; i++) v = v * 10 + statBuffer[i] - '0';
            return v;
        }
        var rows = new Row[calls];
        for (int w = 0; w < 10; w++) into(threads);
        Console.WriteLine($"Into trace, tier {tier}, {threads} thread(s), {calls} calls back to back{(withAllocating ? ", each after an allocating call (untimed, as in --into-cpu-time)" : "")}; load average {SelectiveScanFloor.LoadAverage()}");
        long lastEnd = Stopwatch.GetTimestamp();
        for (int i = 0; i < calls; i++)
        {
            if (withAllocating) tiers.Allocating(tier, threads);
            int run0 = Runnable();
            Usage(1, out var t0);
            Usage(0, out var p0);
            int gc0 = GC.CollectionCount(0), cpuStart = GetCpu();
            long d0 = Reference.Core.Kernels.ParallelItems.DispatchedItems, h0 = Reference.Core.Kernels.ParallelItems.HelperItems;
            double pc0 = GlaCpuTime.CpuSeconds(), tc0 = IntoProbe.ThreadCpuMs();
            long s = Stopwatch.GetTimestamp();
            into(threads);
            long e = Stopwatch.GetTimestamp();
            double tc1 = IntoProbe.ThreadCpuMs(), pc1 = GlaCpuTime.CpuSeconds();
            int cpuEnd = GetCpu(), gc1 = GC.CollectionCount(0);
            Usage(0, out var p1);
            Usage(1, out var t1);
            int run1 = Runnable(), helperCpu = threads > 1 ? HelperCpu() : -1;
            var last = Reference.Core.Kernels.ParallelItems.LastCall;
            Thread.SpinWait(2000);   // the helper adds its count just after the call returns
            long dispatched = Reference.Core.Kernels.ParallelItems.DispatchedItems - d0;
            double share = dispatched == 0 ? 0 : (double)(Reference.Core.Kernels.ParallelItems.HelperItems - h0) / dispatched;
            double wall = (e - s) * 1e3 / Stopwatch.Frequency;
            rows[i] = new Row(i, wall, tc1 - tc0, (pc1 - pc0) * 1e3, t1.Nivcsw - t0.Nivcsw, p1.MinFlt - p0.MinFlt, gc1 - gc0, cpuStart, cpuEnd,
                Math.Max(run0, run1),
                (s - lastEnd) * 1e3 / Stopwatch.Frequency, share, last.OnHelpers, last.Items, helperCpu);
            lastEnd = Stopwatch.GetTimestamp();
        }
        Console.WriteLine($"load average at the end {SelectiveScanFloor.LoadAverage()}");
        double Pct(IEnumerable<double> values, double q)
        {
            var a = values.Order().ToArray();
            return a[Math.Min(a.Length - 1, (int)(q * (a.Length - 1) + 0.5))];
        }
        Console.WriteLine("| column | min | p10 | p25 | median | p75 | p90 | max |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (name, f) in new (string, Func<Row, double>)[] { ("wall ms", r => r.Wall), ("caller CPU ms", r => r.ThreadCpu), ("process CPU ms", r => r.ProcessCpu),
                     ("runnable tasks on the machine", r => r.Runnable) })
            Console.WriteLine($"| {name} | {Pct(rows.Select(f), 0):F3} | {Pct(rows.Select(f), 0.1):F3} | {Pct(rows.Select(f), 0.25):F3} | {Pct(rows.Select(f), 0.5):F3} | " +
                $"{Pct(rows.Select(f), 0.75):F3} | {Pct(rows.Select(f), 0.9):F3} | {Pct(rows.Select(f), 1):F3} |");
        double wallMedian = Pct(rows.Select(r => r.Wall), 0.5), cpuMedian = Pct(rows.Select(r => r.ThreadCpu), 0.5);
        Console.WriteLine($"wall median / min {wallMedian / rows.Min(r => r.Wall):F3}; caller CPU median / min {cpuMedian / rows.Min(r => r.ThreadCpu):F3}; " +
            $"calls with a minor fault {rows.Count(r => r.Faults > 0)}, with a gen-0 GC {rows.Count(r => r.Gcs > 0)}, with an involuntary switch {rows.Count(r => r.Invol > 0)}, " +
            $"that changed CPU {rows.Count(r => r.Cpu0 != r.Cpu1)}");
        var byCpu = rows.OrderBy(r => r.ThreadCpu).ToArray();
        int third = calls / 3;
        Console.WriteLine("| calls by caller CPU time | n | wall | caller CPU | process CPU | invol. switches | faults | GCs | runnable tasks | runnable <= 1 | gap before ms | helper share of items | last loop's items on helpers | helper last on the caller's CPU |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (name, set) in new[] { ("fastest third", byCpu[..third]), ("middle third", byCpu[third..^third]), ("slowest third", byCpu[^third..]) })
            Console.WriteLine($"| {name} | {set.Length} | {set.Average(r => r.Wall):F3} | {set.Average(r => r.ThreadCpu):F3} | {set.Average(r => r.ProcessCpu):F3} | " +
                $"{set.Average(r => (double)r.Invol):F2} | {set.Average(r => (double)r.Faults):F2} | {set.Average(r => (double)r.Gcs):F2} | " +
                $"{set.Average(r => (double)r.Runnable):F2} | {set.Count(r => r.Runnable <= 1)} | {set.Average(r => r.Gap):F3} | {set.Average(r => r.Share):F2} | {set.Average(r => (double)r.LastOnHelpers):F2} of {set.Average(r => (double)r.LastItems):F0} | {set.Count(r => r.HelperCpu == r.Cpu1)} |");
        var byWall = rows.OrderBy(r => r.Wall).ToArray();
        foreach (var (name, set) in new[] { ("fastest third by wall", byWall[..third]), ("slowest third by wall", byWall[^third..]) }.Concat(threads > 1 ? [("helper last on the caller's CPU", rows.Where(r => r.HelperCpu == r.Cpu1).ToArray()), ("helper last on another CPU", rows.Where(r => r.HelperCpu >= 0 && r.HelperCpu != r.Cpu1).ToArray())] : []).Where(x => x.Item2.Length > 0))
            Console.WriteLine($"| {name} | {set.Length} | {set.Average(r => r.Wall):F3} | {set.Average(r => r.ThreadCpu):F3} | {set.Average(r => r.ProcessCpu):F3} | " +
                $"{set.Average(r => (double)r.Invol):F2} | {set.Average(r => (double)r.Faults):F2} | {set.Average(r => (double)r.Gcs):F2} | " +
                $"{set.Average(r => (double)r.Runnable):F2} | {set.Count(r => r.Runnable <= 1)} | {set.Average(r => r.Gap):F3} | {set.Average(r => r.Share):F2} | {set.Average(r => (double)r.LastOnHelpers):F2} of {set.Average(r => (double)r.LastItems):F0} | {set.Count(r => r.HelperCpu == r.Cpu1)} |");
        // Caller CPU time against the runnable tasks around the call (one thread: did the slow call share the machine?).
        Console.WriteLine("| runnable tasks | n | caller CPU median | caller CPU min | wall median |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var (lo, hi) in new[] { (0, 1), (2, 2), (3, 4), (5, 1000) })
        {
            var sel = rows.Where(r => r.Runnable >= lo && r.Runnable <= hi).ToArray();
            if (sel.Length > 0)
                Console.WriteLine($"| {lo}-{hi} | {sel.Length} | {Pct(sel.Select(r => r.ThreadCpu), 0.5):F3} | {sel.Min(r => r.ThreadCpu):F3} | {Pct(sel.Select(r => r.Wall), 0.5):F3} |");
        }
        Console.WriteLine("slowest and fastest calls by caller CPU (index, wall, caller CPU, process CPU, invol., faults, CPU start/end, runnable tasks, helper share, last loop's items on helpers):");
        foreach (var r in byCpu[^8..].Reverse().Concat(byCpu[..8]))
            Console.WriteLine($"  #{r.Index,4} {r.Wall:F3} {r.ThreadCpu:F3} {r.ProcessCpu:F3} {r.Invol} {r.Faults} {r.Cpu0}/{r.Cpu1} {r.Runnable} {r.Share:F2} {r.LastOnHelpers}");
        // Is the caller's CPU time a drift over the run (whole periods slow) or call to call? Means of consecutive blocks of calls.
        int block = Math.Max(1, calls / 20);
        Console.WriteLine($"caller CPU ms, mean per block of {block} consecutive calls: " +
            string.Join(" ", Enumerable.Range(0, calls / block).Select(b => rows.Skip(b * block).Take(block).Average(r => r.ThreadCpu).ToString("F3"))));
        Console.WriteLine($"runnable tasks, mean per block: " +
            string.Join(" ", Enumerable.Range(0, calls / block).Select(b => rows.Skip(b * block).Take(block).Average(r => (double)r.Runnable).ToString("F1"))));
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RUsage
    {
        public long UtimeS, UtimeUs, StimeS, StimeUs, MaxRss, IxRss, IdRss, IsRss, MinFlt, MajFlt, NSwap, InBlock, OuBlock, MsgSnd, MsgRcv, NSignals, Nvcsw, Nivcsw;
    }

    [DllImport("libc", EntryPoint = "getrusage")]
    private static extern int GetRUsage(int who, out RUsage usage);

    [DllImport("libc", EntryPoint = "sched_getcpu")]
    private static extern int GetCpu();

    /// <summary>getrusage: who 0 = the process (all threads), 1 = the calling thread.</summary>
    private static void Usage(int who, out RUsage usage)
    {
        if (GetRUsage(who, out usage) != 0) usage = default;
    }
}
