using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;
using Reference.Core.Linear;

namespace Reference.Bench;

/// <summary>
/// Tape overhead (target: &lt;= 15 %): forward + backward of a 4-layer width-256 MLP
/// (Linear-ReLU x 3, Linear, mean-squared loss) on a batch of 1024, float64, Fast tier (FastGemm
/// inside <see cref="Tape.UseFastKernels"/>), against exactly the GEMMs that pass performs, called
/// directly on preallocated buffers: per layer forward X W^T, weight gradient G^T X, and input
/// gradient G W (not for the first layer, whose input needs no gradient): 11 products of
/// 1024 x 256 x 256. Breakdown: Forward alone, and ForwardBackward minus GemmOnly = tape overhead
/// (bias copies, ReLU and its mask, loss, bias-gradient reductions, gradient accumulation, allocation).
/// The table's ratios are at the mercy of machine load between benchmarks; the [GlobalCleanup] line
/// "AutodiffBench breakdown" times GEMM inside the very TapeForwardBackward calls and is the figure
/// to quote. Measured figures: bench/NOTES.md, "Autodiff tape overhead".
/// </summary>
[MemoryDiagnoser]
public class AutodiffBench
{
    private const int Batch = 1024, Width = 256, Depth = 4;
    private Sequential model = null!;
    private Variable input = null!, target = null!;
    private double[] x = [], g = [], y = [];
    private double[][] weights = [], activations = [], weightGrads = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(1);
        var layers = new List<Layer>();
        for (int l = 0; l < Depth; l++)
        {
            layers.Add(new Linear(Width, Width, rng));
            if (l < Depth - 1) layers.Add(new Activation(ActivationKind.Relu));
        }
        model = new Sequential([.. layers]);
        input = Variable.Constant(rng.NormalTensor<double>(0, 1, Batch, Width));
        target = Variable.Constant(rng.NormalTensor<double>(0, 1, Batch, Width));

        weights = model.Parameters().Where(p => p.Rank == 2).Select(p => p.Value.Data).ToArray();
        x = input.Value.Data;
        g = rng.NormalTensor<double>(0, 1, Batch, Width).Data;
        y = new double[Batch * Width];
        activations = Enumerable.Range(0, Depth).Select(_ => new double[Batch * Width]).ToArray();
        weightGrads = Enumerable.Range(0, Depth).Select(_ => new double[Width * Width]).ToArray();
    }

    /// <summary>The 11 GEMMs of one forward + backward, nothing else.</summary>
    [Benchmark(Baseline = true)]
    public void GemmOnly()
    {
        var a = x;
        for (int l = 0; l < Depth; l++)
        {
            FastGemm.Multiply(false, true, Batch, Width, Width, 1.0, a, Width, weights[l], Width, 0.0, activations[l], Width);
            a = activations[l];
        }
        for (int l = Depth - 1; l >= 0; l--)
        {
            var layerInput = l == 0 ? x : activations[l - 1];
            FastGemm.Multiply(true, false, Width, Width, Batch, 1.0, g, Width, layerInput, Width, 0.0, weightGrads[l], Width);
            if (l > 0) FastGemm.Multiply(false, false, Batch, Width, Width, 1.0, g, Width, weights[l], Width, 0.0, y, Width);
        }
    }

    [Benchmark]
    public double TapeForward()
    {
        using var fast = Tape.UseFastKernels();
        return Ops.MseLoss(model.Forward(input), target).Item();
    }

    [Benchmark]
    public double TapeForwardBackward()
    {
        long start = Stopwatch.GetTimestamp(), gemmBefore = Ops.GemmTicks;
        using var fast = Tape.UseFastKernels();
        model.ZeroGrad();
        var loss = Ops.MseLoss(model.Forward(input), target);
        loss.Backward();
        totalTicks += Stopwatch.GetTimestamp() - start;
        gemmTicks += Ops.GemmTicks - gemmBefore;
        return loss.Item();
    }

    private long totalTicks, gemmTicks;

    /// <summary>
    /// In-run breakdown of every TapeForwardBackward call (GEMM time measured inside the same calls,
    /// so machine load affects both parts alike): overhead = (total - GEMM) / GEMM.
    /// </summary>
    [GlobalCleanup]
    public void Breakdown()
    {
        if (gemmTicks == 0) return;
        double total = totalTicks * 1e3 / Stopwatch.Frequency, gemm = gemmTicks * 1e3 / Stopwatch.Frequency;
        Console.WriteLine($"// AutodiffBench breakdown: forward+backward {total:F1} ms in all, GEMM {gemm:F1} ms, " +
            $"everything else {total - gemm:F1} ms = tape overhead {(total - gemm) / gemm:P1} of GEMM time");
        totalTicks = gemmTicks = 0;
    }
}
