using System.Collections.Concurrent;
using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Reference.Autodiff;
using Reference.Autodiff.Optim;
using Reference.Core;
using Reference.Core.Linear;
using Reference.Models;

namespace Reference.Bench;

/// <summary>
/// One training step of a model (forward, cross-entropy, backward, gradient clipping, AdamW; the fast
/// tier, as `reference train` runs it) against the project's GEMM rate: the "Of peak" column is the
/// step's model-FLOP rate over FastGemm's float64 rate (1024^3, same thread count) in the same run,
/// i.e. tokens/s over the bound "model FLOPs at the GEMM rate" (issue 15's target: >= 30 %).
///   attention  bench/models/attention-2layer.json (width 128, 2 layers, 2 heads, SwiGLU 352) on MQAR's
///              vocabulary 8192, L 256, batch 8;
///   h3         bench/models/h3-2layer.json (width 32, N 64, MLP 128, tied head) on vocabulary 20, L 256, batch 8;
///   h3-64      the same H3 model at width 64 (MLP 256), the width of the model that meets the associative-recall check
///              (bench/models/h3-2layer-64-dropout.json without its dropout), same L, batch and vocabulary;
///   h3-128     the same H3 model at the attention model's width 128 (MLP 512, 4x as at width 32), same L, batch and vocabulary
///              (`--training-cpu-time` only: issue 15 names "a 2-layer width-128 attention model and an H3 model").
/// Model FLOPs of a step = the tape's matrix products, forward and VJP (counted exactly as 2 m n k while the
/// step runs) + attention's causal score and value products, 3 x 2 L^2 D per layer and sequence (forward
/// and twice that backward) + H3's own projections and FFT convolutions (<see cref="TrainingStep.H3LayerFlops"/>);
/// elementwise work is not counted. `--training-cpu-time` runs the same steps timed by CPU time (see <see cref="TrainingCpuTime"/>):
///   dotnet run -c Release --project bench/Reference.Bench -- --filter '*TrainingThroughputBench*' --job short --inProcess
/// </summary>
[Config(typeof(ThroughputConfig))]
public class TrainingThroughputBench : IWorkload
{
    private TrainingStep? step;
    private double[] a = [], b = [], c = [];
    private const int GemmSize = 1024;

    [Params("attention", "h3")]
    public string Model { get; set; } = "attention";

    public int Threads => 2;

    [GlobalSetup]
    public void Setup()
    {
        step = TrainingStep.Create(Model);
        var rng = new SplitMix64(15);
        a = new double[GemmSize * GemmSize];
        b = new double[GemmSize * GemmSize];
        c = new double[GemmSize * GemmSize];
        rng.FillNormal<double>(a);
        rng.FillNormal<double>(b);
    }

    [Benchmark]
    public double Train() => step!.Run();

    [Benchmark(Baseline = true)]
    public void Gemm64() => FastGemm.Multiply(false, false, GemmSize, GemmSize, GemmSize, 1.0, a, GemmSize, b, GemmSize, 0.0, c, GemmSize, Threads);

    public double Work(string method) => method == nameof(Gemm64) ? 2.0 * GemmSize * GemmSize * GemmSize : TrainingStep.Flops(Model);

    public string Unit(string method) => "GFLOP/s";

    public string? PeakMethod(string method) => method == nameof(Train) ? nameof(Gemm64) : null;
}

/// <summary>
/// A model, its optimizer and one fixed batch: <see cref="Run"/> is one training step. Modes: "tape" is the
/// plain single-tape step (Backward into the parameters' Grad, every tensor from the heap); "arena" is
/// `reference train`'s step with one micro-batch (Trainer.BatchSteps: a TensorArena reused across steps,
/// kernels threaded inside); "dp2" splits the batch into two micro-batches computed on two threads at once.
/// </summary>
public sealed class TrainingStep
{
    private static readonly ConcurrentDictionary<string, (double Flops, double GemmFlops)> Counted = new();
    private readonly BackboneModel model;
    private readonly AdamW optimizer;
    private readonly int[] inputs, targets;
    private readonly Trainer.BatchSteps? steps;

    public const int Batch = 8, Length = 256;

    private TrainingStep(string name, ModelSpec spec, int vocabulary, string mode)
    {
        Name = name;
        Spec = spec;
        Vocabulary = vocabulary;
        Mode = mode;
        model = BackboneModel.Create(spec, vocabulary, Length, 1);
        optimizer = new AdamW(model.Parameters(), 1e-3, 0.9, 0.999, 1e-8, 0.0);
        var rng = new SplitMix64(7);
        inputs = [.. Enumerable.Range(0, Batch * Length).Select(_ => rng.NextInt(vocabulary))];
        targets = [.. Enumerable.Range(0, Batch * Length).Select(_ => rng.NextInt(vocabulary))];
        steps = mode switch
        {
            "tape" => null,
            "arena" => new Trainer.BatchSteps(model, 1, 1, Batch, Length),
            "dp2" => new Trainer.BatchSteps(model, 2, 2, Batch, Length),
            _ => throw new ArgumentException($"mode '{mode}': expected tape, arena or dp2.", nameof(mode)),
        };
    }

    public string Name { get; }
    public string Mode { get; }
    public ModelSpec Spec { get; }
    public int Vocabulary { get; }
    public int Tokens => Batch * Length;

    public static TrainingStep Create(string name, string mode = "dp2") => name switch
    {
        "attention" => new(name, ModelSpec.Parse("""
            { "width": 128, "depth": 2, "block": { "mixer": { "operator": "attention.softmax", "heads": 2 }, "channel_mixer": { "kind": "swiglu", "inner": 352 } } }
            """), 8192, mode),
        "h3" => new(name, ModelSpec.Parse("""
            { "width": 32, "depth": 2, "block": { "mixer": { "operator": "ssm.h3", "state_size": 64 }, "channel_mixer": { "kind": "mlp", "inner": 128 } }, "tied_head": true }
            """), 20, mode),
        "h3-64" => new(name, ModelSpec.Parse("""
            { "width": 64, "depth": 2, "block": { "mixer": { "operator": "ssm.h3", "state_size": 64 }, "channel_mixer": { "kind": "mlp", "inner": 256 } }, "tied_head": true }
            """), 20, mode),
        "h3-128" => new(name, ModelSpec.Parse("""
            { "width": 128, "depth": 2, "block": { "mixer": { "operator": "ssm.h3", "state_size": 64 }, "channel_mixer": { "kind": "mlp", "inner": 512 } }, "tied_head": true }
            """), 20, mode),
        _ => throw new ArgumentException($"model '{name}': expected attention, h3, h3-64 or h3-128.", nameof(name)),
    };

    /// <summary>One step; returns the loss.</summary>
    public double Run()
    {
        using var tier = Tape.UseFastKernels();
        optimizer.ZeroGrad();
        double loss;
        if (steps is null)
        {
            var l = Ops.CrossEntropy(model.Logits(inputs, Batch, Length), targets);
            l.Backward();
            loss = l.Item();
        }
        else loss = steps.Run(inputs, targets);
        GradClip.ClipGradNorm(model.Parameters(), 1.0);
        optimizer.Step();
        return loss;
    }

    /// <summary>Model FLOPs of one step of <paramref name="name"/> (see the bench's comment), counted once per process.</summary>
    public static double Flops(string name) => Count(name).Flops;

    /// <summary>(model FLOPs, of which the tape's matrix products) of one step, counted on the single-tape step.</summary>
    public static (double Flops, double GemmFlops) Count(string name) => Counted.GetOrAdd(name, n =>
    {
        var s = Create(n, "tape");
        double before = Ops.GemmFlops;
        s.Run();
        double gemm = Ops.GemmFlops - before;
        int attentionLayers = s.Spec.Blocks.Count(x => x.Mixer?.Operator == "attention.softmax");
        double attention = 3.0 * 2.0 * Length * (double)Length * s.Spec.Width * attentionLayers * Batch;
        double h3 = s.Spec.Blocks.Where(x => x.Mixer?.Operator == "ssm.h3").Sum(x => H3LayerFlops(s.Spec.Width, Length, x.Mixer!.StateSize, Batch));
        return (gemm + attention + h3, gemm);
    });

    /// <summary>
    /// FLOPs of one H3 layer (head dim 1) on <paramref name="sequences"/> sequences, forward and backward, that the
    /// tape does not see (the layer is one primitive): its four D x D projections, 2 L D^2 each forward and twice
    /// that backward; its two causal convolutions (the shift SSM's N taps and the S4D kernel's L) per channel as
    /// H3's FFTConv computes them (Fu et al., arXiv:2212.14052: y = iFFT(FFT(u) FFT(k)); its reference fftconv
    /// differentiated by autograd), by real FFTs of size n = FftConvolution.FftSize (2.5 n log2 n each,
    /// the usual count) over n / 2 + 1 bins: forward rfft(u) and irfft per sequence, rfft(k) once per channel
    /// (shared by the batch), one spectrum product (6 flops per bin); backward rfft(dy) and irfft(du) per
    /// sequence, irfft(dk) once per channel (the forward's spectra of u and k are kept), two spectrum products per
    /// sequence and the batch sum of dk's spectrum (2 flops per bin). The S4D kernel generation and its gradient
    /// (O(H N L) per layer and step) and all elementwise work are not counted.
    /// (Before 2026-12-04's fifth session this counted 8 transforms per sequence and channel, k's transform and
    /// u's twice per sequence: about 1.8x the FFTConv count for the convolutions, 1.12x for the whole width-32 step, 1.03x at width 128.)
    /// </summary>
    public static double H3LayerFlops(int width, int length, int stateSize, int sequences)
    {
        double projections = sequences * 3.0 * 4 * 2.0 * length * width * (double)width;
        double Convolution(int taps)
        {
            int n = Reference.Core.Fourier.FftConvolution.FftSize(length, taps);
            double fft = 2.5 * n * Math.Log2(n), bins = n / 2 + 1;
            return width * (sequences * (4 * fft + (6 + 2 * 6 + 2) * bins) + 2 * fft);
        }
        return projections + Convolution(stateSize) + Convolution(length);
    }

    /// <summary>Ticks this thread spent in the tape's matrix products (forward and VJP).</summary>
    public static long GemmTicks => Ops.GemmTicks;
}

/// <summary>
/// `--training-cpu-time`: training steps of both models in each mode (see <see cref="TrainingStep"/>) and the
/// float64 GEMM, timed by wall and by this process's CPU time, best of repeats. Columns: tokens/s (wall);
/// cores used (CPU / wall); the share of the CPU time spent in the kernel (sys: page faults of fresh memory);
/// the model-FLOP rate by wall and its fraction of the GEMM's wall rate on 2 threads; the same by CPU time
/// (FLOPs per CPU-second, which does not see an idle core but is robust to the other tenants); bytes the
/// process allocated per step (all threads).
/// </summary>
public static class TrainingCpuTime
{
    public static void Run(int repeats, string[]? modes = null, string[]? models = null)
    {
        modes ??= ["tape", "arena", "dp2"];
        models ??= ["attention", "h3", "h3-128"];
        var me = Process.GetCurrentProcess();
        const int n = 1024;
        var rng = new SplitMix64(15);
        var a = new double[n * n];
        var b = new double[n * n];
        var c = new double[n * n];
        rng.FillNormal<double>(a);
        rng.FillNormal<double>(b);
        var gemm = Best(me, repeats, () => FastGemm.Multiply(false, false, n, n, n, 1.0, a, n, b, n, 0.0, c, n, 2));
        double gemmFlops = 2.0 * n * n * n;
        Console.WriteLine($"FastGemm float64 1024^3, 2 threads: {gemmFlops / gemm.Wall / 1e9:F1} GFLOP/s wall, {gemmFlops / gemm.Cpu / 1e9:F1} GFLOP/s per CPU-second; load average {LoadAverage()}; GC: server {System.Runtime.GCSettings.IsServerGC}, latency {System.Runtime.GCSettings.LatencyMode}");
        Console.WriteLine("| model | mode | tokens/step | model GFLOP/step (GEMM part) | tokens/s (wall) | cores used | sys share of CPU | GFLOP/s wall | of GEMM rate (wall) | GFLOP/CPU-s | of GEMM rate (CPU) | MB allocated/step |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var name in models)
        {
            var (flops, gemmPart) = TrainingStep.Count(name);
            foreach (var mode in modes)
            {
                var step = TrainingStep.Create(name, mode);
                var r = Best(me, repeats, () => step.Run());
                Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"| {name} | {mode} | {step.Tokens} | {flops / 1e9:F3} ({gemmPart / 1e9:F3}) | {step.Tokens / r.Wall:F0} | {r.Cpu / r.Wall:F2} | {100 * r.Sys / r.Cpu:F0} % | {flops / r.Wall / 1e9:F2} | {100 * (flops / r.Wall) / (gemmFlops / gemm.Wall):F1} % | {flops / r.Cpu / 1e9:F2} | {100 * (flops / r.Cpu) / (gemmFlops / gemm.Cpu):F1} % | {r.Bytes / 1e6:F1} |"));
            }
        }
        Console.WriteLine($"load average at the end {LoadAverage()}");
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";

    /// <summary>(best wall seconds, and of that repeat: CPU seconds, system CPU seconds, bytes allocated); two warm-up calls first.</summary>
    private static (double Wall, double Cpu, double Sys, long Bytes) Best(Process me, int repeats, Action body)
    {
        body();
        body();
        (double Wall, double Cpu, double Sys, long Bytes) best = (double.MaxValue, 0, 0, 0);
        for (int r = 0; r < repeats; r++)
        {
            me.Refresh();
            var cpu0 = me.TotalProcessorTime;
            var sys0 = me.PrivilegedProcessorTime;
            long bytes0 = GC.GetTotalAllocatedBytes(true);
            var clock = Stopwatch.StartNew();
            body();
            double wall = clock.Elapsed.TotalSeconds;
            long bytes = GC.GetTotalAllocatedBytes(true) - bytes0;
            me.Refresh();
            double cpu = (me.TotalProcessorTime - cpu0).TotalSeconds;
            double sys = (me.PrivilegedProcessorTime - sys0).TotalSeconds;
            if (wall < best.Wall) best = (wall, cpu, sys, bytes);
        }
        return best;
    }
}
