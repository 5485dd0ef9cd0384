using System.Diagnostics;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Reference.Core;
using Reference.Core.Linear;

namespace Reference.Bench;

/// <summary>
/// GEMM as a fraction of the FMA peak, timed by CPU time as well as wall time:
///   dotnet run -c Release --project bench/Reference.Bench -- --cpu-time [size] [repeats]
/// On a shared, oversubscribed VM, wall-clock rates measure the scheduler more than the code; the
/// CPU time consumed by this process is what the code itself costs (cache pollution by the other
/// tenants still shows). Both sides of each ratio are timed the same way, in the same run, and
/// interleaved: each repeat takes one sample of every item in turn, so a burst of load hits all
/// items alike. Items per thread count: the FMA peak (FmaChains' 12 register-resident
/// chains) on Vector256 and, where the JIT accelerates it, on Vector512; FastGemm on size^3 with the
/// kernel it picks (Vector512 where accelerated) and, for comparison, forced to the Vector256
/// kernel; float32 and float64. Rate = flops / (CPU seconds / threads), i.e. what the threads would
/// deliver with their cores to themselves (spinning counts as work, load imbalance lowers it).
/// CPU time is the process clock (clock_gettime(CLOCK_PROCESS_CPUTIME_ID), nanoseconds; the
/// Process class's figure moves in 10 ms ticks, too coarse for a 0.2 ms product), and each sample
/// repeats a product enough times to last about 20 ms. Reported: best and median over repeats, and
/// "of peak, paired median": the median over repeats of (the item's CPU rate / its peak's CPU rate in
/// the same repeat), i.e. each ratio from two samples taken a few hundred ms apart. The best-over-best
/// column takes its two bests from different repeats, so a change of the core's clock between repeats
/// (the peak's own best moved 183-224 GFLOP/s between runs minutes apart on this VM) moves it; the
/// paired ratio divides that out (bench/NOTES.md, gemm7).
/// </summary>
public static class CpuTimeRates
{
    private const long Iterations = 20_000_000;

    public static void Run(int size, int repeats = 9)
    {
        bool wide = Vector512.IsHardwareAccelerated;
        Console.WriteLine($"CPU-time rates, GEMM {size}^3, {Environment.ProcessorCount} cores, FastGemm kernel: {(FastGemm.KernelVectorBits == 0 ? "scalar" : $"Vector{FastGemm.KernelVectorBits}")}, " +
            $"Vector512 accelerated: {wide}, {repeats} interleaved repeats");
        Console.WriteLine("| Item | Threads | GFLOP/s CPU best | CPU median | wall best | wall median | Of peak (same width, CPU best) | Of peak, paired median |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (int threads in new[] { 1, 2 })
        {
            var items = new List<Item>
            {
                new("FMA peak float32 Vector256", 2.0 * threads * Iterations * FmaChains.Chains * Vector256<float>.Count, () => Peak(threads, 32, false)),
                new("FMA peak float64 Vector256", 2.0 * threads * Iterations * FmaChains.Chains * Vector256<double>.Count, () => Peak(threads, 64, false)),
            };
            if (wide)
            {
                items.Add(new("FMA peak float32 Vector512", 2.0 * threads * Iterations * FmaChains.Chains * Vector512<float>.Count, () => Peak(threads, 32, true)));
                items.Add(new("FMA peak float64 Vector512", 2.0 * threads * Iterations * FmaChains.Chains * Vector512<double>.Count, () => Peak(threads, 64, true)));
            }
            var kernels = wide ? new[] { GemmKernel.Vector512, GemmKernel.Vector256 } : new[] { GemmMicroKernel.Best };
            foreach (var kernel in kernels)
            {
                items.Add(GemmItem<float>(size, threads, kernel));
                items.Add(GemmItem<double>(size, threads, kernel));
            }
            if (threads == 1)
            {
                items.AddRange(Breakdown<float>(size, GemmMicroKernel.Best));
                items.AddRange(Breakdown<double>(size, GemmMicroKernel.Best));
            }
            foreach (var item in items) item.Calibrate();
            for (int repeat = 0; repeat < repeats; repeat++)
                foreach (var item in items) item.Sample(threads);
            foreach (var item in items)
            {
                string width = item.Name.Contains("Vector512", StringComparison.Ordinal) ? "Vector512" : "Vector256";
                if (item.Name.StartsWith("  packing", StringComparison.Ordinal)) width = "none";
                string type = item.Name.Contains("float32", StringComparison.Ordinal) ? "float32" : "float64";
                var peak = items.Find(i => i.Name == $"FMA peak {type} {width}");
                string ofPeak = peak is null ? "" : $"{100 * item.Best(cpu: true) / peak.Best(cpu: true):F0} % of {width}";
                string paired = peak is null || peak == item ? "" : $"{100 * item.PairedMedianRatio(peak):F0} %";
                Console.WriteLine($"| {item.Name} | {threads} | {item.Best(cpu: true):F1} | {item.Median(cpu: true):F1} | " +
                    $"{item.Best(cpu: false):F1} | {item.Median(cpu: false):F1} | {ofPeak} | {paired} |");
            }
        }
    }

    private static void Peak(int threads, int bits, bool wide) =>
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
        {
            if (bits == 32) { if (wide) FmaChains.Float32x512(Iterations); else FmaChains.Float32(Iterations); }
            else { if (wide) FmaChains.Float64x512(Iterations); else FmaChains.Float64(Iterations); }
        });

    private static Item GemmItem<T>(int n, int threads, GemmKernel kernel) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new SplitMix64(1);
        var a = new T[n * n];
        var b = new T[n * n];
        var c = new T[n * n];
        rng.FillNormal<T>(a);
        rng.FillNormal<T>(b);
        string type = typeof(T) == typeof(float) ? "float32" : "float64";
        return new($"FastGemm {type} {kernel} kernel", 2.0 * n * n * n,
            () => FastGemm.MultiplyWithKernel(kernel, false, false, n, n, n, T.One, a, n, b, n, T.Zero, c, n, threads));
    }

    /// <summary>
    /// Where one thread's time goes in an n^3 product (rates in GFLOP/s of the product's 2 n^3 flops,
    /// so that 1 / rate adds up): "packing" = only the packing calls of the blocked loops (B once
    /// per (jc, pc), A once per (jc, pc, ic)); "macro-kernel" = only the tiles, every step reading
    /// the first packed A block and B panel (no packing, panels already in cache as far as they fit);
    /// "micro-kernel" = one MR x NR tile of depth KC repeated on the same micro-panels (L1), i.e. the
    /// kernel's own ceiling, counted with the full tile's flops.
    /// </summary>
    private static Item[] Breakdown<T>(int n, GemmKernel kernel) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var blocking = GemmMicroKernel.Blocking<T>(kernel);
        var (mr, nr, mcMax, kcMax, ncMax, _) = blocking;
        var rng = new SplitMix64(2);
        var a = new T[n * n];
        var b = new T[n * n];
        var c = new T[n * n];
        rng.FillNormal<T>(a);
        rng.FillNormal<T>(b);
        int mcPad = Math.Min(mcMax, (n + mr - 1) / mr * mr), kc0 = Math.Min(kcMax, n), ncPad = Math.Min(ncMax, (n + nr - 1) / nr * nr);
        var packA = GC.AllocateArray<T>(mcPad * blocking.ARowLength(kc0) + 64, pinned: true);
        var packB = GC.AllocateArray<T>(ncPad * kc0 + 64, pinned: true);
        string type = typeof(T) == typeof(float) ? "float32" : "float64";
        double flops = 2.0 * n * n * n;
        unsafe void Pack()
        {
            fixed (T* pa = a) fixed (T* pb = b) fixed (T* qa = packA) fixed (T* qb = packB)
                for (int jc = 0; jc < n; jc += ncMax)
                    for (int pc = 0; pc < n; pc += kcMax)
                    {
                        int kc = Math.Min(kcMax, n - pc), nc = Math.Min(ncMax, n - jc);
                        GemmPacking.PackB(false, pb, n, pc, jc, kc, nc, nr, qb);
                        for (int ic = 0; ic < n; ic += mcMax)
                            GemmPacking.PackA(false, pa, n, ic, pc, Math.Min(mcMax, n - ic), kc, mr, blocking.ARowMajor ? kcMax : 0, qa);
                    }
        }
        unsafe void Macro()
        {
            fixed (T* qa = packA) fixed (T* qb = packB) fixed (T* pc = c)
                for (int jc = 0; jc < n; jc += ncMax)
                    for (int p = 0; p < n; p += kcMax)
                        for (int ic = 0; ic < n; ic += mcMax)
                            FastGemm.MacroKernel(kernel, Math.Min(mcMax, n - ic), Math.Min(ncMax, n - jc), Math.Min(kcMax, n - p),
                                T.One, p == 0 ? T.Zero : T.One, qa, qb, pc + (nint)ic * n + jc, n);
        }
        int tiles = (int)Math.Max(1, flops / (2.0 * mr * nr * kc0));
        unsafe void Micro()
        {
            fixed (T* qa = packA) fixed (T* qb = packB) fixed (T* pc = c)
                for (int t = 0; t < tiles; t++)
                    GemmMicroKernel.Run(kernel, kc0, qa, qb, pc, n, T.One, T.Zero, mr, nr);
        }
        Pack();
        return
        [
            new($"  packing only, {type} {kernel} layout", flops, Pack),
            new($"  macro-kernel only, {type} {kernel}", flops, Macro),
            new($"  micro-kernel only (one tile in L1), {type} {kernel}", 2.0 * tiles * mr * nr * kc0, Micro),
        ];
    }

    /// <summary>One timed thing: its flops per call, calls per sample, and the rates of its samples.</summary>
    private sealed class Item(string name, double flops, Action action)
    {
        private readonly List<double> cpuRates = [], wallRates = [];
        private readonly List<double> cpuRateByRepeat = [];
        private int calls = 1;

        public string Name => name;

        /// <summary>Warms the JIT and the buffers, then sets the calls per sample to last ~20 ms.</summary>
        public void Calibrate()
        {
            for (int i = 0; i < 3; i++) action();
            var watch = Stopwatch.StartNew();
            action();
            double seconds = watch.Elapsed.TotalSeconds;
            calls = (int)Math.Clamp(0.02 / Math.Max(seconds, 1e-7), 1, 10_000);
        }

        public void Sample(int threads)
        {
            double cpu0 = ProcessCpuSeconds();
            long wall0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < calls; i++) action();
            double wall = Stopwatch.GetElapsedTime(wall0).TotalSeconds;
            double cpu = (ProcessCpuSeconds() - cpu0) / threads;
            if (cpu > 0) cpuRates.Add(flops * calls / cpu / 1e9);
            cpuRateByRepeat.Add(cpu > 0 ? flops * calls / cpu / 1e9 : double.NaN);
            wallRates.Add(flops * calls / wall / 1e9);
        }

        /// <summary>Median over repeats of this item's CPU rate over <paramref name="reference"/>'s in the same repeat.</summary>
        public double PairedMedianRatio(Item reference)
        {
            var ratios = cpuRateByRepeat.Zip(reference.cpuRateByRepeat, (x, y) => x / y)
                .Where(double.IsFinite).Order().ToArray();
            return ratios.Length == 0 ? 0 : ratios[ratios.Length / 2];
        }

        public double Best(bool cpu) => (cpu ? cpuRates : wallRates).DefaultIfEmpty(0).Max();

        public double Median(bool cpu)
        {
            var sorted = (cpu ? cpuRates : wallRates).Order().ToArray();
            return sorted.Length == 0 ? 0 : sorted[sorted.Length / 2];
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>CPU time of the whole process (all threads), in seconds, to the nanosecond on Linux.</summary>
    private static double ProcessCpuSeconds()
    {
        const int ProcessCpuTimeClock = 2; // CLOCK_PROCESS_CPUTIME_ID
        if (OperatingSystem.IsLinux() && ClockGetTime(ProcessCpuTimeClock, out var time) == 0)
            return time.Seconds + time.Nanoseconds * 1e-9;
        return Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
    }
}
