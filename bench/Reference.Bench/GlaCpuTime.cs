using System.Diagnostics;
using System.Runtime.InteropServices;
using Reference.Core;
using Reference.Operators.Recurrence;

namespace Reference.Bench;

/// <summary>
/// GLA chunked vs recurrent form timed by CPU time on one thread (the GlaBench workload: B 1, H 2,
/// L 2048, K = V = 64, float32, gates logsigmoid(x)/16), plus the sweep over chunk and sub-chunk
/// lengths that chose <see cref="GatedLinearAttention.FastChunk"/> and
/// <see cref="GatedLinearAttention.FastSubChunk"/>:
///   dotnet run -c Release --project bench/Reference.Bench -- --gla-cpu-time
/// On the shared VM, wall time measures the scheduler; the process CPU time of one thread measures
/// the code (cache pollution by other tenants still shows). Each figure is the best of 15 repeats of
/// a batch of calls, all kernels interleaved; compare ratios within one run.
/// </summary>
public static class GlaCpuTime
{
    private const int B = 1, H = 2, L = 2048, K = 64, V = 64;

    public static void Run()
    {
        var rng = new SplitMix64(7);
        var q = rng.NormalTensor<float>(0, 1, B, H, L, K);
        var k = rng.NormalTensor<float>(0, 1, B, H, L, K);
        var v = rng.NormalTensor<float>(0, 1, B, H, L, V);
        var g = GatedLinearAttention.LogSigmoidGate(rng.NormalTensor<double>(0, 1, B, H, L, K)).Cast<float>();
        var configs = new[] { (8, 8), (16, 4), (16, 8), (16, 16), (32, 8), (32, 16), (64, 8), (64, 16) };
        var actions = new List<Action> { () => GatedLinearAttention.RecurrentFast(q, k, v, g, maxThreads: 1) };
        foreach (var (chunk, sub) in configs)
            actions.Add(() => GatedLinearAttention.ChunkedFastSized(q, k, v, g, chunk, sub, maxThreads: 1));
        var ms = Best(actions);
        Console.WriteLine($"GLA float32, B {B}, H {H}, L {L}, K {K}, V {V}, one thread, CPU ms per call (best of interleaved repeats)");
        Console.WriteLine("| Kernel | C | c | CPU ms | Recurrent / this |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        Console.WriteLine($"| RecurrentFast | | | {ms[0]:F2} | 1.00 |");
        for (int i = 0; i < actions.Count - 1; i++)
        {
            var (chunk, sub) = configs[i % configs.Length];
            string mark = chunk == GatedLinearAttention.FastChunk && sub == GatedLinearAttention.FastSubChunk ? " (default)" : "";
            Console.WriteLine($"| ChunkedFast{mark} | {chunk} | {sub} | {ms[i + 1]:F2} | {ms[0] / ms[i + 1]:F2} |");
        }
    }

    /// <summary>
    /// Lowest CPU milliseconds per call of each action over repeats of a batch of calls (about 50 ms
    /// each), the actions interleaved within each repeat so that they see the same load; three calls
    /// first warm the JIT and the buffers.
    /// </summary>
    private static double[] Best(List<Action> actions)
    {
        var batch = new int[actions.Count];
        var best = new double[actions.Count];
        for (int a = 0; a < actions.Count; a++)
        {
            for (int i = 0; i < 3; i++) actions[a]();
            double start = CpuSeconds();
            actions[a]();
            batch[a] = Math.Max(1, (int)(0.05 / Math.Max(CpuSeconds() - start, 1e-5)));
            best[a] = double.MaxValue;
        }
        for (int repeat = 0; repeat < 15; repeat++)
            for (int a = 0; a < actions.Count; a++)
            {
                double start = CpuSeconds();
                for (int i = 0; i < batch[a]; i++) actions[a]();
                best[a] = Math.Min(best[a], (CpuSeconds() - start) * 1e3 / batch[a]);
            }
        return best;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>CPU time of the process: CLOCK_PROCESS_CPUTIME_ID on Linux (ns resolution), else Process.TotalProcessorTime (a 10-16 ms tick).</summary>
    internal static double CpuSeconds()
    {
        if (OperatingSystem.IsLinux() && ClockGetTime(2, out var t) == 0) return t.Seconds + t.Nanoseconds * 1e-9;
        return Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
    }
}
