using BenchmarkDotNet.Attributes;
using Reference.Autodiff;
using Reference.Autodiff.Optim;
using Reference.Core;
using Reference.Core.Kernels;
using Reference.Core.Linear;
using Reference.Decoding.Networks;

namespace Reference.Bench;

/// <summary>
/// One training step of the interpretation benchmark's 3D-CNN (<see cref="Cnn3dDecoder"/>: three
/// blocks of 8 filters at 20 x 24 x 20, 4 classes) on a batch of volumes, in the Fast tier: forward,
/// cross-entropy, backward, Adam step. Its work is the convolution and head flops of the step
/// (<see cref="Cnn3dDecoder.TrainingFlops"/>: forward, weight and input gradients; BatchNorm, ReLU,
/// dropout and the kernels' index work are overhead, not work). Baseline: a float64 FastGemm 512 x 512 x 512 in the
/// same run, so "Of peak" is the step's flop rate as a fraction of the project's measured GEMM rate
/// (target >= 30 %):
///   dotnet run -c Release --project bench/Reference.Bench -- --filter '*Cnn3dTrainBench*' --job short
/// </summary>
[Config(typeof(ThroughputConfig))]
public class Cnn3dTrainBench : IWorkload
{
    private const int GemmSize = 512, Classes = 4;
    private static readonly int[] Volume = [20, 24, 20];
    private double[] a = [], b = [], c = [];
    private Cnn3dDecoder net = null!;
    private Adam adam = null!;
    private readonly TensorArena arena = new();
    private Tensor<double> x = null!;
    private int[] targets = [];

    [Params(16, 64)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(19);
        a = rng.NormalTensor<double>(0, 1, GemmSize, GemmSize).Data;
        b = rng.NormalTensor<double>(0, 1, GemmSize, GemmSize).Data;
        c = new double[GemmSize * GemmSize];
        net = new Cnn3dDecoder([1, .. Volume], Classes, new SplitMix64(20));
        adam = new Adam(net.Parameters());
        x = rng.NormalTensor<double>(0, 1, Batch, 1, Volume[0], Volume[1], Volume[2]);
        targets = Enumerable.Range(0, Batch).Select(i => i % Classes).ToArray();
    }

    [Benchmark(Baseline = true)]
    public void Gemm64() => FastGemm.Multiply(false, false, GemmSize, GemmSize, GemmSize, 1.0, a, GemmSize, b, GemmSize, 0.0, c, GemmSize);

    [Benchmark]
    public double TrainStep()
    {
        using var fast = Tape.UseFastKernels();
        net.ZeroGrad();
        double value;
        using (arena.Use())
        {
            var loss = Ops.CrossEntropy(net.Forward(Variable.Constant(x)), targets);
            loss.Backward();
            value = loss.Item();
        }
        arena.Reset();
        adam.Step();
        return value;
    }

    public double Work(string method) => method == nameof(Gemm64) ? 2.0 * GemmSize * GemmSize * GemmSize
        : new Cnn3dDecoder([1, .. Volume], Classes, new SplitMix64(20)).TrainingFlops(Batch);

    public string Unit(string method) => "GFLOP/s";

    public string? PeakMethod(string method) => method == nameof(TrainStep) ? nameof(Gemm64) : null;

    public int Threads => Environment.ProcessorCount;
}

/// <summary>
/// <see cref="Cnn3dTrainBench"/> timed by CPU time (the shared VM's wall clock measures the scheduler;
/// see <see cref="CpuTimeRates"/>): the training step and the float64 FastGemm 512^3 baseline at the
/// same thread count (1, then every core), each as flops per (CPU seconds / threads), best of 8
/// rounds of 20 calls after 30 warm-up calls (tiered JIT). Also prints the GC pause time and bytes
/// allocated per step, and the share of the step's parallel items that ran on a ParallelItems helper
/// (<see cref="ParallelItems.HelperItems"/>: near 50 % when 2 threads really shared the work; near 0 %
/// when the helper was not scheduled in time and the caller ran everything, so that CPU time / 2
/// flatters the row: such a row measures one thread, not two). With <c>profile</c>, instead times every layer's forward and every
/// primitive's backward inside the step (process CPU time, best of 20 steps; see <see cref="Profile"/>).
///   dotnet run -c Release --project bench/Reference.Bench -- --cnn3d-cpu-time [profile] [tail=channels|tail=samples]
/// </summary>
public static class Cnn3dTrainCpuTime
{
    public static void Run(string[] args)
    {
        // tail=channels / tail=samples: how the fused BatchNorm tail cuts its items on several threads
        // (default: auto, see Ops.FusedTailItems), to tell its cut from the convolutions' contiguous ranges.
        if (args.Contains("tail=channels")) Ops.FusedTailItemsChoice = Ops.FusedTailItems.Channels;
        if (args.Contains("tail=samples")) Ops.FusedTailItemsChoice = Ops.FusedTailItems.Samples;
        if (args.Contains("profile"))
        {
            foreach (int threads in new[] { 1, Environment.ProcessorCount }.Distinct())
                foreach (int batch in new[] { 16, 64 }) Profile(batch, threads);
            return;
        }
        Console.WriteLine($"3D-CNN training step at 20 x 24 x 20 (fast tier, float64) vs FastGemm 512^3 float64 at the same thread count; CPU-time rates");
        Console.WriteLine("| Threads | Batch | Step (CPU ms / thread) | Step GFLOP/s | GEMM GFLOP/s | Of GEMM rate | GC pause per step | Allocated per step | Step items on helpers |");
        Console.WriteLine("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (int threads in new[] { 1, Environment.ProcessorCount }.Distinct())
        {
            using var limit = KernelThreads.Limit(threads);
            foreach (int batch in new[] { 16, 64 })
            {
                var bench = new Cnn3dTrainBench { Batch = batch };
                bench.Setup();
                for (int i = 0; i < 30; i++) bench.TrainStep();
                var pause0 = GC.GetTotalPauseDuration();
                long bytes0 = GC.GetTotalAllocatedBytes();
                long dispatched0 = ParallelItems.DispatchedItems, helpers0 = ParallelItems.HelperItems;
                double step = Best(threads, () => bench.TrainStep());
                double pause = (GC.GetTotalPauseDuration() - pause0).TotalMilliseconds / (20 * Rounds);
                double bytes = (GC.GetTotalAllocatedBytes() - bytes0) / (20.0 * Rounds);
                long dispatched = ParallelItems.DispatchedItems - dispatched0;
                string onHelpers = dispatched == 0 ? "-" : $"{100.0 * (ParallelItems.HelperItems - helpers0) / dispatched:F0} %";
                for (int i = 0; i < 3; i++) bench.Gemm64();
                double gemm = Best(threads, bench.Gemm64);
                double stepRate = bench.Work(nameof(Cnn3dTrainBench.TrainStep)) / step / 1e6;
                double gemmRate = bench.Work(nameof(Cnn3dTrainBench.Gemm64)) / gemm / 1e6;
                Console.WriteLine($"| {threads} | {batch} | {step:F2} | {stepRate:F2} | {gemmRate:F1} | {100 * stepRate / gemmRate:F1} % | {pause:F1} ms | {bytes / 1e6:F2} MB | {onHelpers} |");
            }
        }
    }

    /// <summary>
    /// Where one training step's time goes: each layer's forward (timed around Layer.Forward) and
    /// each primitive's backward (timed by a backward override that calls the recorded VJP), process
    /// CPU time in microseconds (every thread's, so with 2 threads a row is the CPU both spent, spinning
    /// included; on a loaded machine CPU time is less distorted than the wall clock), the fewest over 20 steps after 30 warm-up steps, with
    /// <paramref name="threads"/> kernel threads; forward and backward inside a <see cref="TensorArena"/>
    /// scope as in <see cref="Cnn3dTrainBench.TrainStep"/> (Adam outside). Rows sum to less than the step (tape bookkeeping,
    /// leaf accumulation and the loss are not in a row; Adam is its own row).
    /// </summary>
    private static void Profile(int batch, int threads)
    {
        using var limit = KernelThreads.Limit(threads);
        var bench = new Cnn3dTrainBench { Batch = batch };
        bench.Setup();
        var net = new Cnn3dDecoder([1, 20, 24, 20], 4, new SplitMix64(20));
        var adam = new Adam(net.Parameters());
        var rng = new SplitMix64(19);
        var x = rng.NormalTensor<double>(0, 1, batch, 1, 20, 24, 20);
        var targets = Enumerable.Range(0, batch).Select(i => i % 4).ToArray();
        var best = new Dictionary<string, double>();
        var order = new List<string>();
        var current = new Dictionary<string, double>();
        void Add(string key, long ticks)
        {
            if (!current.ContainsKey(key)) { current[key] = 0; if (!order.Contains(key)) order.Add(key); }
            current[key] += ticks * 1e-3;
        }
        var names = new[] { "conv3d", "batch_norm_relu_dropout3d", "batch_norm", "relu", "dropout3d", "reshape", "linear", "cross_entropy" };
        var rules = names.ToDictionary(n => n, n => (BackwardRule)(ctx =>
        {
            long t0 = CpuNanoseconds();
            var r = ctx.Default([.. ctx.OutputGrads]);
            Add("bwd " + n + " #" + ctx.Inputs[0].Length, CpuNanoseconds() - t0);
            return r;
        }));
        var arena = new TensorArena();
        for (int step = 0; step < 50; step++)
        {
            current.Clear();
            long s0 = CpuNanoseconds();
            using (Tape.UseFastKernels())
            {
                var scope = arena.Use();
                net.ZeroGrad();
                var h = Variable.Constant(x);
                var layers = net.Body.Layers;
                for (int li = 0; li < layers.Count; li++)
                {
                    // BatchNorm, ReLU and Dropout3d run together as the decoder runs them (FusedBlocks).
                    int count = layers[li] is Reference.Autodiff.Nn.BatchNorm ? Math.Min(3, layers.Count - li) : 1;
                    long t0 = CpuNanoseconds();
                    h = Reference.Autodiff.Nn.FusedBlocks.Forward([.. layers.Skip(li).Take(count)], h);
                    Add($"fwd {li} {string.Join("+", layers.Skip(li).Take(count).Select(l => l.GetType().Name))}", CpuNanoseconds() - t0);
                    li += count - 1;
                }
                var loss = Ops.CrossEntropy(h, targets);
                long b0 = CpuNanoseconds();
                using (Tape.OverrideBackward(rules)) loss.Backward();
                Add("backward (all)", CpuNanoseconds() - b0);
                scope.Dispose();
                arena.Reset();
                long a0 = CpuNanoseconds();
                adam.Step();
                Add("adam", CpuNanoseconds() - a0);
            }
            Add("step", CpuNanoseconds() - s0);
            if (step < 30) continue;
            foreach (var (k, v) in current) best[k] = best.TryGetValue(k, out var b) ? Math.Min(b, v) : v;
        }
        Console.WriteLine($"Profile, batch {batch}, {threads} threads (process CPU us, best of 20 steps; 'bwd NAME #len' = the backward of the primitive whose first input has len elements)");
        foreach (var k in order) Console.WriteLine($"  {k,-40} {best[k],10:F0}");
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>The process's CPU time in nanoseconds (CLOCK_PROCESS_CPUTIME_ID on Linux: every thread, ns resolution), else TotalProcessorTime.</summary>
    private static long CpuNanoseconds()
    {
        if (OperatingSystem.IsLinux() && ClockGetTime(2, out var t) == 0) return t.Seconds * 1_000_000_000 + t.Nanoseconds;
        return System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.Ticks * 100;
    }

    /// <summary>
    /// Rounds of 20 calls of which <see cref="Best"/> keeps the fastest: 8 (was 4: at load averages of 50-100
    /// on the 2 shared cores all 4 rounds of a row were sometimes disturbed, one row in ~9 reading 2/3 of the others).
    /// </summary>
    private const int Rounds = 8;

    /// <summary>Fewest CPU milliseconds per call / threads over <see cref="Rounds"/> rounds of 20 calls (CPU time has jiffy resolution, so one call is too short to time).</summary>
    private static double Best(int threads, Action action)
    {
        var process = System.Diagnostics.Process.GetCurrentProcess();
        double best = double.MaxValue;
        for (int round = 0; round < Rounds; round++)
        {
            process.Refresh();
            var start = process.TotalProcessorTime;
            for (int i = 0; i < 20; i++) action();
            process.Refresh();
            best = Math.Min(best, (process.TotalProcessorTime - start).TotalMilliseconds / 20 / threads);
        }
        return best;
    }
}
