using BenchmarkDotNet.Running;

namespace Reference.Bench;

/// <summary>
/// Benchmarks: `dotnet run -c Release --project bench/Reference.Bench -- --filter '*'`
/// (BenchmarkSwitcher; pick classes with --filter, e.g. '*Gemm*').
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        // `--cpu-time [size] [repeats]`: GEMM vs FMA peak timed by CPU time and wall time, interleaved (see CpuTimeRates), for shared machines.
        if (args.Length > 0 && args[0] == "--cpu-time")
        {
            CpuTimeRates.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1024,
                args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 9);
            return;
        }
        // `--gemm-trace [size] [calls]`: where the two threads of FastGemm float32 products spend the wall time, per call (see GemmTraceProbe).
        if (args.Length > 0 && args[0] == "--gemm-trace")
        {
            GemmTraceProbe.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1024,
                args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 100);
            return;
        }
        // `--gla-cpu-time`: GLA chunked vs recurrent form and the chunk-size sweep, CPU time, one thread (see GlaCpuTime).
        if (args.Length > 0 && args[0] == "--gla-cpu-time")
        {
            GlaCpuTime.Run();
            return;
        }
        // `--monarch-cpu-time`: the Monarch multiply against its block GEMMs and the dense GEMM, CPU time (see MonarchCpuTime).
        if (args.Length > 0 && args[0] == "--monarch-cpu-time")
        {
            MonarchCpuTime.Run();
            return;
        }
        // `--flash-butterfly-cpu-time`: FlashButterfly's fast tier vs FftConvolution by CPU time (see FlashButterflyCpuTime).
        if (args.Length > 0 && args[0] == "--flash-butterfly-cpu-time")
        {
            FlashButterflyCpuTime.Run();
            return;
        }
        // `--causal-m2-cpu-time`: causal M2 per channel at N = 256 .. 16384, CPU time, exponent and exactness (see CausalMonarchCpuTime).
        if (args.Length > 0 && args[0] == "--causal-m2-cpu-time")
        {
            CausalMonarchCpuTime.Run();
            return;
        }
        // `--cnn3d-cpu-time`: the 3D-CNN decoder's training step against the float64 GEMM rate, CPU time (see Cnn3dTrainCpuTime).
        if (args.Length > 0 && args[0] == "--cnn3d-cpu-time")
        {
            Cnn3dTrainCpuTime.Run(args[1..]);
            return;
        }
        // `--training-cpu-time [repeats] [modes, e.g. tape,arena,dp2] [models, e.g. attention,h3,h3-64,h3-128]`: training steps of the attention and H3 models vs the float64 GEMM rate, CPU time (see TrainingCpuTime).
        if (args.Length > 0 && args[0] == "--training-cpu-time")
        {
            TrainingCpuTime.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 5,
                args.Length > 2 ? args[2].Split(',') : null, args.Length > 3 ? args[3].Split(',') : null);
            return;
        }
        // `--scan-floor`: the selective scan's compute floor (vector exp and FMA throughput) against the fast tier, CPU time (see SelectiveScanFloor).
        if (args.Length > 0 && args[0] == "--scan-floor")
        {
            SelectiveScanFloor.Run();
            return;
        }
        // `--into-cpu-time`: every fast tier's allocating form against its Into form, median and best per call (see IntoFormsCpuTime).
        if (args.Length > 0 && args[0] == "--into-cpu-time")
        {
            IntoFormsCpuTime.Run(args.Length > 1 ? args[1] : null);
            return;
        }
        // `--gla-split [calls]`: the GLA chunked Into call with its heads cut into 1-8 value-column blocks, 1 and 2 threads (see GlaSplit).
        if (args.Length > 0 && args[0] == "--gla-split")
        {
            GlaSplit.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 200);
            return;
        }
        // `--into-probe [tier] [calls]`: one tier's Into form at 1 and 2 threads, per-call distributions and helper shares (see IntoProbe).
        if (args.Length > 0 && args[0] == "--into-probe")
        {
            IntoProbe.Run(args.Length > 1 ? args[1] : "fftconv",
                args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 200);
            return;
        }
        // `--into-trace [tier] [calls] [threads] [alloc]`: one tier's Into calls at one thread count, per call with CPU time, switches, faults and the other core's idle share (see IntoTrace).
        if (args.Length > 0 && args[0] == "--into-trace")
        {
            IntoTrace.Run(args.Length > 1 ? args[1] : "gla",
                args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 300,
                args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 1, args.Length > 4 && args[4] == "alloc");
            return;
        }
        // `--step-parts [repeats] [conv]`: the width-32 H3 step's GEMM shapes, GELU and FFT convolution on one thread, best of
        // repeats (see StepParts); `conv`: only the FFT convolution's parts; `h3`: only one H3 layer's fast forward and backward;
        // `s4d`: only the H3 layer's S4D kernel and its gradient map; `gemm`: every GEMM shape of the step, SmallGemm's route
        // against the packed loops in the same process.
        if (args.Length > 0 && args[0] == "--step-parts")
        {
            StepParts.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 300,
                convolutionOnly: args.Length > 2 && args[2] == "conv", h3Only: args.Length > 2 && args[2] == "h3",
                s4dOnly: args.Length > 2 && args[2] == "s4d", gemmOnly: args.Length > 2 && args[2] == "gemm");
            return;
        }
        // `--elementwise-parts [repeats]`: the width-32 H3 step's GELU, LayerNorm and float64 Sigmoid/Tanh on one thread (see ElementwiseParts).
        if (args.Length > 0 && args[0] == "--elementwise-parts")
        {
            ElementwiseParts.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 300);
            return;
        }
        // `--train-memory [batch] [micro-batches] [threads] [steps]`: arenas, GC heap and peak RSS of the MQAR run's training step (see TrainMemory).
        if (args.Length > 0 && args[0] == "--train-memory")
        {
            TrainMemory.Run(args[1..]);
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
