using BenchmarkDotNet.Attributes;
using Reference.Autodiff;
using Reference.Autodiff.Optim;
using Reference.Core;
using Reference.Core.Linear;
using Reference.Decoding.Networks;

namespace Reference.Bench;

/// <summary>
/// One training step of the interpretation benchmark's 3D-CNN (<see cref="Cnn3dDecoder"/>: three
/// blocks of 8 filters at 20 x 24 x 20, 4 classes) on a batch of volumes, in the Fast tier: forward,
/// cross-entropy, backward, Adam step. Its work is the convolution and head flops of the step
/// (<see cref="Cnn3dDecoder.TrainingFlops"/>: forward, weight and input gradients; BatchNorm, ReLU,
/// dropout and im2col are overhead, not work). Baseline: a float64 FastGemm 512 x 512 x 512 in the
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
        var loss = Ops.CrossEntropy(net.Forward(Variable.Constant(x)), targets);
        loss.Backward();
        adam.Step();
        return loss.Item();
    }

    public double Work(string method) => method == nameof(Gemm64) ? 2.0 * GemmSize * GemmSize * GemmSize
        : new Cnn3dDecoder([1, .. Volume], Classes, new SplitMix64(20)).TrainingFlops(Batch);

    public string Unit(string method) => "GFLOP/s";

    public string? PeakMethod(string method) => method == nameof(TrainStep) ? nameof(Gemm64) : null;

    public int Threads => Environment.ProcessorCount;
}

/// <summary>
/// <see cref="Cnn3dTrainBench"/> timed by CPU time (the shared VM's wall clock measures the scheduler;
/// see <see cref="CpuTimeRates"/>): the training step and the float64 FastGemm 512^3 baseline, each as
/// flops per (CPU seconds / threads), best of 4 rounds of 20 calls after 30 warm-up calls (tiered JIT).
/// Also prints the GC pause time and bytes allocated per step, the overhead that dominates.
///   dotnet run -c Release --project bench/Reference.Bench -- --cnn3d-cpu-time
/// </summary>
public static class Cnn3dTrainCpuTime
{
    public static void Run()
    {
        int threads = Environment.ProcessorCount;
        Console.WriteLine($"3D-CNN training step at 20 x 24 x 20 (fast tier, float64) vs FastGemm 512^3 float64; CPU-time rates, {threads} threads");
        Console.WriteLine("| Batch | Step (CPU ms / thread) | Step GFLOP/s | GEMM GFLOP/s | Of GEMM rate | GC pause per step | Allocated per step |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (int batch in new[] { 16, 64 })
        {
            var bench = new Cnn3dTrainBench { Batch = batch };
            bench.Setup();
            for (int i = 0; i < 30; i++) bench.TrainStep();
            var pause0 = GC.GetTotalPauseDuration();
            long bytes0 = GC.GetTotalAllocatedBytes();
            double step = Best(threads, () => bench.TrainStep());
            double pause = (GC.GetTotalPauseDuration() - pause0).TotalMilliseconds / 80;
            double bytes = (GC.GetTotalAllocatedBytes() - bytes0) / 80.0;
            for (int i = 0; i < 3; i++) bench.Gemm64();
            double gemm = Best(threads, bench.Gemm64);
            double stepRate = bench.Work(nameof(Cnn3dTrainBench.TrainStep)) / step / 1e6;
            double gemmRate = bench.Work(nameof(Cnn3dTrainBench.Gemm64)) / gemm / 1e6;
            Console.WriteLine($"| {batch} | {step:F2} | {stepRate:F2} | {gemmRate:F1} | {100 * stepRate / gemmRate:F1} % | {pause:F1} ms | {bytes / 1e6:F1} MB |");
        }
    }

    /// <summary>Fewest CPU milliseconds per call / threads over 4 rounds of 20 calls (CPU time has jiffy resolution, so one call is too short to time).</summary>
    private static double Best(int threads, Action action)
    {
        var process = System.Diagnostics.Process.GetCurrentProcess();
        double best = double.MaxValue;
        for (int round = 0; round < 4; round++)
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
