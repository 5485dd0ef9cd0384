using System.Diagnostics;
using Reference.Core;
using Reference.Core.Kernels;
using Reference.Operators.Recurrence;

namespace Reference.Bench;

/// <summary>
/// The GLA chunked Into call at the IntoTiers shape (B 1, H 2, L 2048, K = V = 64, float32), fused (blocks -1: one
/// item per head, the form before the glasplit change) and two-phase with 1, 2 or 4 value-column blocks per head
/// (GatedLinearAttention.ColumnBlocks; items of the carry phase = heads x blocks, of the prepare phase 2 x 16), at 1 and
/// 2 threads, calls of every variant interleaved so that they see the same load:
///   dotnet bench/Reference.Bench/bin/Release/net10.0/Reference.Bench.dll --gla-split [calls]
/// Per variant: wall median, p25, p75, p90 and min per call, process CPU median per call, the wall median over the
/// least call of the unsplit one-thread variant (the issue 23 ratio's reference: a call without fresh pages, here
/// also fused), and the median share of items a helper ran (ParallelItems.HelperItems). The blocks
///  the one-thread CPU rows show the two-phase form's price (its prepared buffer goes through memory).
/// </summary>
public static class GlaSplit
{
    public static void Run(int calls)
    {
        var rng = new SplitMix64(6);
        var q = rng.NormalTensor<float>(0, 1, 1, 2, 2048, 64);
        var k = rng.NormalTensor<float>(0, 1, 1, 2, 2048, 64);
        var v = rng.NormalTensor<float>(0, 1, 1, 2, 2048, 64);
        var g = GatedLinearAttention.LogSigmoidGate(rng.NormalTensor<double>(0, 1, 1, 2, 2048, 64)).Cast<float>();
        var o = Tensor<float>.Zeros(1, 2, 2048, 64);
        int auto = GatedLinearAttention.ColumnBlocks<float>(2, 64, 2);   // 0 = fused
        var variants = new List<(int Threads, int Blocks)>();
        foreach (int t in new[] { 1, 2 })
            foreach (int bl in new[] { -1, 1, 2, 4 }) variants.Add((t, bl));
        void Call((int Threads, int Blocks) x) =>
            GatedLinearAttention.ChunkedCore(o, q, k, v, g, GatedLinearAttention.FastChunk, GatedLinearAttention.FastSubChunk, null, x.Threads, null, null, x.Blocks);
        Console.WriteLine($"GLA chunked Into, B 1 H 2 L 2048 K = V = 64 float32, {calls} calls per variant interleaved; automatic blocks at 2 threads: {auto}; " +
            $"load average {SelectiveScanFloor.LoadAverage()}");
        for (int w = 0; w < 5; w++) foreach (var x in variants) Call(x);
        var wall = variants.Select(_ => new double[calls]).ToArray();
        var cpu = variants.Select(_ => new double[calls]).ToArray();
        var share = variants.Select(_ => new double[calls]).ToArray();
        for (int i = 0; i < calls; i++)
            for (int j = 0; j < variants.Count; j++)
            {
                long d0 = ParallelItems.DispatchedItems, h0 = ParallelItems.HelperItems;
                double c0 = GlaCpuTime.CpuSeconds();
                long s = Stopwatch.GetTimestamp();
                Call(variants[j]);
                wall[j][i] = Stopwatch.GetElapsedTime(s).TotalMilliseconds;
                cpu[j][i] = (GlaCpuTime.CpuSeconds() - c0) * 1e3;
                if (variants[j].Threads > 1)
                {
                    Thread.SpinWait(2000);   // the helper adds its count just after the call returns
                    long d = ParallelItems.DispatchedItems - d0;
                    share[j][i] = d == 0 ? 0 : (double)(ParallelItems.HelperItems - h0) / d;
                }
            }
        double reference = wall[0].Min();
        Console.WriteLine("| Threads | Blocks | Items | min ms | p25 | median | p75 | p90 | median / min | median / (1 thread, 1 block) min | CPU median ms | helper share median | calls with helper share 0 or 1 |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (int j = 0; j < variants.Count; j++)
        {
            var s = wall[j].Order().ToArray();
            var c = cpu[j].Order().ToArray();
            var h = share[j].Order().ToArray();
            int lopsided = variants[j].Threads > 1 ? share[j].Count(x => x <= 0 || x >= 1) : 0;
            Console.WriteLine($"| {variants[j].Threads} | {variants[j].Blocks} | {(variants[j].Blocks < 0 ? "2" : $"32 + {2 * variants[j].Blocks}")} | {s[0]:F3} | {P(s, 0.25):F3} | {P(s, 0.5):F3} | {P(s, 0.75):F3} | {P(s, 0.9):F3} | " +
                $"{P(s, 0.5) / s[0]:F2} | {P(s, 0.5) / reference:F2} | {P(c, 0.5):F3} | {(variants[j].Threads > 1 ? P(h, 0.5).ToString("F2") : "")} | {lopsided} |");
        }
        Console.WriteLine($"load average at the end {SelectiveScanFloor.LoadAverage()}");
    }

    private static double P(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)(q * (sorted.Length - 1) + 0.5))];
}
