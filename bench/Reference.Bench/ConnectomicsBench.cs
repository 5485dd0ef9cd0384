using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Reference.Core;
using Reference.Core.Linear;
using Reference.Operators.Connectomics;

namespace Reference.Bench;

/// <summary>
/// Covariance of many regions (issue 18's target): 400 regions x 1,200 time points, S = X0 X0^T / (T - 1)
/// by <see cref="Covariance.ForwardFast{T}"/> against the bare GEMM of the same shape (m = n = 400,
/// k = 1,200, 2 V^2 T flops; the baseline of each precision). "Of peak" here is the covariance's rate as
/// a fraction of that GEMM's rate in the same run (target >= 50 %):
///   dotnet run -c Release --project bench/Reference.Bench -- --filter '*ConnectomicsBench*' --job short
/// </summary>
[Config(typeof(ThroughputConfig))]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
public class ConnectomicsBench : IWorkload
{
    private const int Regions = 400, TimePoints = 1200;
    private Tensor<double> x64 = Tensor<double>.Zeros(1, 1);
    private Tensor<float> x32 = Tensor<float>.Zeros(1, 1);
    private double[] c64 = [];
    private float[] c32 = [];

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        x64 = new SplitMix64(18).NormalTensor<double>(0, 1, Regions, TimePoints);
        x32 = new Tensor<float>(x64.Data.Select(v => (float)v).ToArray(), Regions, TimePoints);
        c64 = new double[Regions * Regions];
        c32 = new float[Regions * Regions];
    }

    [Benchmark(Baseline = true), BenchmarkCategory("float64")]
    public void Gemm64() => FastGemm.Multiply(false, true, Regions, Regions, TimePoints, 1.0, x64.Data, TimePoints, x64.Data, TimePoints, 0.0, c64, Regions, Threads);

    [Benchmark, BenchmarkCategory("float64")]
    public Tensor<double> Covariance64() => Covariance.ForwardFast(x64, maxThreads: Threads);

    [Benchmark(Baseline = true), BenchmarkCategory("float32")]
    public void Gemm32() => FastGemm.Multiply(false, true, Regions, Regions, TimePoints, 1f, x32.Data, TimePoints, x32.Data, TimePoints, 0f, c32, Regions, Threads);

    [Benchmark, BenchmarkCategory("float32")]
    public Tensor<float> Covariance32() => Covariance.ForwardFast(x32, maxThreads: Threads);

    public double Work(string method) => 2.0 * Regions * Regions * TimePoints;

    public string Unit(string method) => "GFLOP/s";

    public string? PeakMethod(string method) => method.StartsWith("Covariance", StringComparison.Ordinal)
        ? (method.EndsWith("32", StringComparison.Ordinal) ? "Gemm32" : "Gemm64") : null;
}
