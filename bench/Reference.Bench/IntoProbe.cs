using System.Diagnostics;
using Reference.Core.Fourier;
using Reference.Core.Kernels;

namespace Reference.Bench;

/// <summary>
/// Where a two-thread Into call's time goes, per call rather than as one median:
///   dotnet bench/Reference.Bench/bin/Release/net10.0/Reference.Bench.dll --into-probe [tier] [calls]
/// Runs the tier's Into form at 1 and 2 threads alternately (calls of each after warm-ups) and prints the
/// wall-time distribution (min, percentiles, max), the process CPU time per call and the share of the
/// items a helper ran per call (ParallelItems.HelperItems), with the 2-thread calls split by that share.
/// For fftconv it also times the same channel blocks through a replica of FftConvolution.Causal's
/// parallel body that stamps each block (start, end, caller or helper): the helper's start delay, the
/// caller's wait at the end and the block times on each thread, by the wall clock and the thread's CPU
/// clock (a block that lost no time off the CPU is "undisturbed"), a few slow undisturbed calls' block
/// timelines, and the context switches per call of each thread of the process (/proc/self/task). The thread
/// CPU clock is a system call at every block boundary, which on this kernel is also where a pending
/// preemption lands, so the dumps show the threads switching at block boundaries; the totals are not affected.
/// To see a tier without the other processes' load, run it in its own session at a high autogroup weight
/// (bench/NOTES.md, gemm6 section).
/// </summary>
public static class IntoProbe
{
    public static void Run(string tier, int calls)
    {
        var tiers = new IntoTiers();
        Console.WriteLine($"Into probe, tier {tier}, {calls} calls per thread count; load average {SelectiveScanFloor.LoadAverage()}");
        for (int w = 0; w < 5; w++)
        {
            tiers.Into(tier, 1);
            tiers.Into(tier, 2);
        }
        var wall = new double[2][];
        var cpu = new double[2][];
        var share = new double[calls];
        for (int t = 0; t < 2; t++) (wall[t], cpu[t]) = (new double[calls], new double[calls]);
        for (int i = 0; i < calls; i++)
            for (int t = 0; t < 2; t++)
            {
                long d0 = ParallelItems.DispatchedItems, h0 = ParallelItems.HelperItems;
                double c0 = GlaCpuTime.CpuSeconds();
                long s = Stopwatch.GetTimestamp();
                tiers.Into(tier, t + 1);
                wall[t][i] = Stopwatch.GetElapsedTime(s).TotalMilliseconds;
                cpu[t][i] = (GlaCpuTime.CpuSeconds() - c0) * 1e3;
                if (t == 1)
                {
                    Thread.SpinWait(2000);   // the helper adds its count just after the call returns
                    long d = ParallelItems.DispatchedItems - d0;
                    share[i] = d == 0 ? 0 : (double)(ParallelItems.HelperItems - h0) / d;
                }
            }
        Console.WriteLine("| Threads | min | p10 | p25 | median | p75 | p90 | max | median / min | CPU median | CPU min |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (int t = 0; t < 2; t++)
        {
            var s = wall[t].Order().ToArray();
            var c = cpu[t].Order().ToArray();
            Console.WriteLine($"| {t + 1} | {s[0]:F2} | {P(s, 0.1):F2} | {P(s, 0.25):F2} | {P(s, 0.5):F2} | {P(s, 0.75):F2} | {P(s, 0.9):F2} | {s[^1]:F2} | " +
                $"{P(s, 0.5) / s[0]:F2} | {P(c, 0.5):F2} | {c[0]:F2} |");
        }
        var shares = share.Order().ToArray();
        Console.WriteLine($"2-thread calls, helper share of items: min {shares[0]:F2} p25 {P(shares, 0.25):F2} median {P(shares, 0.5):F2} p75 {P(shares, 0.75):F2} max {shares[^1]:F2}");
        foreach (var (lo, hi) in new[] { (0.0, 0.25), (0.25, 0.4), (0.4, 1.01) })
        {
            var sel = Enumerable.Range(0, calls).Where(i => share[i] >= lo && share[i] < hi).Select(i => wall[1][i]).Order().ToArray();
            if (sel.Length > 0) Console.WriteLine($"  helper share [{lo:F2}, {hi:F2}): {sel.Length} calls, wall median {P(sel, 0.5):F2} ms, min {sel[0]:F2}");
        }
        if (tier == "fftconv") Timeline(calls);
        Console.WriteLine($"load average at the end {SelectiveScanFloor.LoadAverage()}");
    }

    private static double P(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)(q * (sorted.Length - 1) + 0.5))];

    private const int C = 256, L = 4096;

    /// <summary>The replica of FftConvolution.Causal's two-thread call (same blocks, same per-block route) with per-block stamps.</summary>
    private static void Timeline(int calls)
    {
        var rng = new Reference.Core.SplitMix64(6);
        float[] u = rng.NormalTensor<float>(0, 1, C, L).Data, k = rng.NormalTensor<float>(0, 1, C, L).Data, y = new float[C * L];
        int block = (C + 15) / 16, items = (C + block - 1) / block;
        var body = new StampBody(u, k, y, block, items);
        for (int w = 0; w < 5; w++) ParallelItems.For(items, 2, body.Reset());
        Console.WriteLine($"Replica timeline, {items} blocks of {block} channels, {calls} calls per thread count, alternating (ms); " +
            "a call is undisturbed when no block of it lost more than 2 % of its wall time off the CPU (thread CPU clock):");
        var r = new Dictionary<string, List<double>>();
        void Add(string key, double v)
        {
            if (!r.TryGetValue(key, out var list)) r[key] = list = [];
            list.Add(v);
        }
        double Ms(long ticks) => ticks * 1e3 / Stopwatch.Frequency;
        int dumped = 0;
        for (int i = 0; i < calls; i++)
            for (int threads = 1; threads <= 2; threads++)
            {
                body.Reset();
                long s = Stopwatch.GetTimestamp();
                ParallelItems.For(items, threads, body);
                long e = Stopwatch.GetTimestamp();
                Thread.SpinWait(2000);
                long firstHelper = long.MaxValue, lastCaller = s;
                int nh = 0;
                bool undisturbed = true;
                double off = 0;
                for (int b = 0; b < items; b++)
                {
                    double w = Ms(body.End[b] - body.Start[b]), c = body.CpuEnd[b] - body.CpuStart[b];
                    off += Math.Max(0, w - c);
                    if (w - c > 0.02 * w) undisturbed = false;
                    string who = body.OnCaller[b] ? "caller" : "helper";
                    Add($"{threads}T block CPU on {who}", c);
                    if (body.OnCaller[b]) lastCaller = Math.Max(lastCaller, body.End[b]);
                    else
                    {
                        firstHelper = Math.Min(firstHelper, body.Start[b]);
                        nh++;
                    }
                }
                string tag = undisturbed ? "undisturbed" : "disturbed";
                if (threads == 2)
                    for (int b = 0; b < items; b++)
                    {
                        double w = Ms(body.End[b] - body.Start[b]), c = body.CpuEnd[b] - body.CpuStart[b];
                        if (w - c > 0.02 * w) continue;
                        // Share of this on-CPU block's interval covered by on-CPU blocks of the other thread (both running at once).
                        long overlap = 0;
                        for (int o = 0; o < items; o++)
                        {
                            double wo = Ms(body.End[o] - body.Start[o]), co = body.CpuEnd[o] - body.CpuStart[o];
                            if (body.OnCaller[o] == body.OnCaller[b] || wo - co > 0.02 * wo) continue;
                            overlap += Math.Max(0, Math.Min(body.End[b], body.End[o]) - Math.Max(body.Start[b], body.Start[o]));
                        }
                        double f = (double)overlap / Math.Max(1, body.End[b] - body.Start[b]);
                        if (f < 0.05) Add("2T on-CPU block, other thread not in a block", c);
                        else if (f > 0.9) Add("2T on-CPU block, other thread on-CPU in blocks", c);
                    }
                Add($"{threads}T call wall, all", Ms(e - s));
                if (threads == 2 && undisturbed && Ms(e - s) > 12 && dumped++ < 4)
                {
                    var line = new System.Text.StringBuilder($"  dump: wall {Ms(e - s):F2}:");
                    foreach (int b in Enumerable.Range(0, items).OrderBy(b => body.Start[b]))
                        line.Append($" {(body.OnCaller[b] ? 'C' : 'H')}[{Ms(body.Start[b] - s):F2}-{Ms(body.End[b] - s):F2}]");
                    Console.WriteLine(line);
                }
                Add($"{threads}T call wall, {tag}", Ms(e - s));
                Add($"{threads}T blocks' time off CPU per call", off);
                if (threads == 2)
                {
                    Add($"2T blocks on helper, {tag}", nh);
                    if (nh > 0) Add($"2T helper start delay, {tag}", Ms(firstHelper - s));
                    Add($"2T caller wait at end, {tag}", Ms(e - lastCaller));
                }
            }
        foreach (int threads in new[] { 1, 2, 1, 2 })
        {
            var before = Switches();
            long s0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < calls; i++) ParallelItems.For(items, threads, body.Reset());
            double ms = Ms(Stopwatch.GetTimestamp() - s0) / calls;
            var after = Switches();
            Console.WriteLine($"  {threads}T, {calls} calls back to back, {ms:F2} ms per call; context switches per call by thread (voluntary / involuntary):" +
                string.Concat(after.Where(kv => before.ContainsKey(kv.Key)).Select(kv => (kv.Key, V: kv.Value.V - before[kv.Key].V, N: kv.Value.N - before[kv.Key].N))
                    .Where(x => x.V + x.N > 0).Select(x => $" {x.Key} {(double)x.V / calls:F2} / {(double)x.N / calls:F2};")));
        }
        foreach (var (key, v) in r.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var s = v.Order().ToArray();
            Console.WriteLine($"  {key,-40} min {s[0]:F3} p10 {P(s, 0.1):F3} p25 {P(s, 0.25):F3} median {P(s, 0.5):F3} p75 {P(s, 0.75):F3} p90 {P(s, 0.9):F3} max {s[^1]:F3} (n {s.Length}, median / min {P(s, 0.5) / Math.Max(s[0], 1e-9):F2})");
        }
    }

    /// <summary>Voluntary and involuntary context switches of every thread of this process, by "name (tid)".</summary>
    private static Dictionary<string, (long V, long N)> Switches()
    {
        var result = new Dictionary<string, (long V, long N)>();
        foreach (var dir in Directory.GetDirectories("/proc/self/task"))
        {
            try
            {
                string name = File.ReadAllText(Path.Combine(dir, "comm")).Trim();
                long v = 0, n = 0;
                foreach (var line in File.ReadLines(Path.Combine(dir, "status")))
                {
                    if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal)) v = long.Parse(line.Split(':')[1].Trim());
                    if (line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal)) n = long.Parse(line.Split(':')[1].Trim());
                }
                result[$"{name} ({Path.GetFileName(dir)})"] = (v, n);
            }
            catch (IOException)
            {
                // The thread ended meanwhile.
            }
        }
        return result;
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>This thread's CPU time in ms (CLOCK_THREAD_CPUTIME_ID).</summary>
    internal static double ThreadCpuMs() => ClockGetTime(3, out var t) == 0 ? t.Seconds * 1e3 + t.Nanoseconds * 1e-6 : 0;

    private sealed class StampBody(float[] u, float[] k, float[] y, int block, int items) : IParallelBody
    {
        public readonly long[] Start = new long[items], End = new long[items];
        public readonly bool[] OnCaller = new bool[items];
        public readonly double[] CpuStart = new double[items], CpuEnd = new double[items];
        private int callerId;

        public StampBody Reset()
        {
            callerId = Environment.CurrentManagedThreadId;
            return this;
        }

        public void Run(int item)
        {
            CpuStart[item] = ThreadCpuMs();
            Start[item] = Stopwatch.GetTimestamp();
            int c0 = item * block, n = Math.Min(C, c0 + block) - c0;
            FftConvolution.CausalRoute<float>(u.AsSpan(c0 * L, n * L), k.AsSpan(c0 * L, n * L), y.AsSpan(c0 * L, n * L), n, L, L, direct: false);
            End[item] = Stopwatch.GetTimestamp();
            CpuEnd[item] = ThreadCpuMs();
            OnCaller[item] = Environment.CurrentManagedThreadId == callerId;
        }
    }
}
