using BenchmarkDotNet.Attributes;
using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.Bench;

/// <summary>
/// Elementwise and reduction kernels on a [B*L = 1024, D = 1024] activation (1M elements):
/// bias add with a broadcast row vector, exp, sum along the last axis and along the first axis.
/// Baseline: the naive float64 definition.
/// </summary>
[MemoryDiagnoser]
public class ElementwiseBench
{
    private const int Rows = 1024, Cols = 1024;
    private Tensor<double> x64 = null!, bias64 = null!;
    private Tensor<float> x32 = null!, bias32 = null!;
    private double[] y64 = [];
    private float[] y32 = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(1);
        x64 = rng.NormalTensor<double>(0, 1, Rows, Cols);
        bias64 = rng.NormalTensor<double>(0, 1, Cols);
        x32 = x64.Cast<float>();
        bias32 = bias64.Cast<float>();
        y64 = new double[Rows * Cols];
        y32 = new float[Rows * Cols];
    }

    [Benchmark(Baseline = true, Description = "Naive f64 x + bias[D]")]
    public Tensor<double> NaiveBiasAdd() => NaiveElementwise.Add(x64, bias64);

    [Benchmark(Description = "Fast f64 x + bias[D]")]
    public Tensor<double> FastBiasAdd64() => FastElementwise.Add(x64, bias64);

    [Benchmark(Description = "Fast f32 x + bias[D]")]
    public Tensor<float> FastBiasAdd32() => FastElementwise.Add(x32, bias32);

    [Benchmark(Description = "Naive f64 exp")]
    public void NaiveExp() => NaiveElementwise.Exp(x64.Data, y64);

    [Benchmark(Description = "Fast f32 exp")]
    public void FastExp32() => FastElementwise.Exp<float>(x32.Data, y32);

    [Benchmark(Description = "Naive f64 sum(axis -1)")]
    public Tensor<double> NaiveSumLast() => NaiveReductions.Sum(x64, -1);

    [Benchmark(Description = "Fast f32 sum(axis -1)")]
    public Tensor<float> FastSumLast32() => FastReductions.Sum(x32, -1);

    [Benchmark(Description = "Naive f64 sum(axis 0)")]
    public Tensor<double> NaiveSumFirst() => NaiveReductions.Sum(x64, 0);

    [Benchmark(Description = "Fast f32 sum(axis 0)")]
    public Tensor<float> FastSumFirst32() => FastReductions.Sum(x32, 0);
}

/// <summary>Activations forward and backward over 1M elements; baseline: naive float64 GELU.</summary>
[MemoryDiagnoser]
public class ActivationsBench
{
    private const int N = 1 << 20;
    private double[] x64 = [], y64 = [], dy64 = [];
    private float[] x32 = [], y32 = [], dy32 = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(2);
        x64 = new double[N];
        dy64 = new double[N];
        rng.FillNormal<double>(x64, 0, 2);
        rng.FillNormal<double>(dy64);
        x32 = Array.ConvertAll(x64, v => (float)v);
        dy32 = Array.ConvertAll(dy64, v => (float)v);
        y64 = new double[N];
        y32 = new float[N];
    }

    [Benchmark(Baseline = true, Description = "Naive f64 Gelu")]
    public void NaiveGelu() => NaiveActivations.Gelu(x64, y64);

    [Benchmark(Description = "Fast f64 Gelu")]
    public void FastGelu64() => FastActivations.Gelu<double>(x64, y64);

    [Benchmark(Description = "Fast f32 Gelu")]
    public void FastGelu32() => FastActivations.Gelu<float>(x32, y32);

    [Benchmark(Description = "Fast f32 GeluTanh")]
    public void FastGeluTanh32() => FastActivations.GeluTanh<float>(x32, y32);

    [Benchmark(Description = "Naive f64 Silu")]
    public void NaiveSilu() => NaiveActivations.Silu(x64, y64);

    [Benchmark(Description = "Fast f32 Silu")]
    public void FastSilu32() => FastActivations.Silu<float>(x32, y32);

    [Benchmark(Description = "Fast f32 Silu backward")]
    public void FastSiluBackward32() => FastActivations.SiluBackward<float>(x32, dy32, y32);

    [Benchmark(Description = "Fast f32 Softplus")]
    public void FastSoftplus32() => FastActivations.Softplus<float>(x32, y32);
}

/// <summary>Row-wise softmax and layer norm on [1024 x 1024]; baseline: naive float64 softmax.</summary>
[MemoryDiagnoser]
public class NormalizationBench
{
    private const int Rows = 1024, Cols = 1024;
    private double[] x64 = [], y64 = [], gamma64 = [], beta64 = [], mean64 = [], rstd64 = [];
    private float[] x32 = [], y32 = [], gamma32 = [], beta32 = [], mean32 = [], rstd32 = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(3);
        x64 = new double[Rows * Cols];
        rng.FillNormal<double>(x64, 0, 3);
        gamma64 = new double[Cols];
        beta64 = new double[Cols];
        rng.FillNormal<double>(gamma64, 1, 0.2);
        rng.FillNormal<double>(beta64);
        x32 = Array.ConvertAll(x64, v => (float)v);
        gamma32 = Array.ConvertAll(gamma64, v => (float)v);
        beta32 = Array.ConvertAll(beta64, v => (float)v);
        y64 = new double[Rows * Cols];
        y32 = new float[Rows * Cols];
        (mean64, rstd64, mean32, rstd32) = (new double[Rows], new double[Rows], new float[Rows], new float[Rows]);
    }

    [Benchmark(Baseline = true, Description = "Naive f64 softmax")]
    public void NaiveSoftmax() => NaiveNormalization.Softmax(x64, y64, Cols);

    [Benchmark(Description = "Fast f64 softmax")]
    public void FastSoftmax64() => FastNormalization.Softmax<double>(x64, y64, Cols);

    [Benchmark(Description = "Fast f32 softmax")]
    public void FastSoftmax32() => FastNormalization.Softmax<float>(x32, y32, Cols);

    [Benchmark(Description = "Naive f64 layer norm")]
    public void NaiveLayerNorm() => NaiveNormalization.LayerNorm(x64, gamma64, beta64, y64, mean64, rstd64, Cols);

    [Benchmark(Description = "Fast f32 layer norm")]
    public void FastLayerNorm32() => FastNormalization.LayerNorm<float>(x32, gamma32, beta32, y32, mean32, rstd32, Cols);
}
