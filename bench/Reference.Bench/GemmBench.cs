using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using MathNet.Numerics;
using MathNet.Numerics.LinearAlgebra;
using Reference.Core;
using Reference.Core.Linear;

namespace Reference.Bench;

/// <summary>
/// Square GEMM C = A B (n^3, 2 n^3 flops) in float32 and float64: FastGemm against MathNet's managed
/// provider (the peer, baseline of each precision) on 1 and 2 threads. "Of peak" compares with the
/// FMA peak of MachineLimitsBench measured in the same run:
///   dotnet run -c Release --project bench/Reference.Bench -- --filter '*MachineLimits*' '*Gemm*' --job short --join
/// Targets at 1024 and 256 (float32): >= 85 % of the 1-thread peak on 1 thread, >= 80 % of the
/// 2-thread peak on 2. The peak is the one of the vector width FastGemm's kernel uses in this
/// process (FmaPeak32x512 / FmaPeak64x512 where Vector512 is accelerated, else FmaPeak32 / FmaPeak64).
/// </summary>
[Config(typeof(ThroughputConfig))]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
public class GemmBench : IWorkload
{
    private float[] a32 = [], b32 = [], c32 = [];
    private double[] a64 = [], b64 = [], c64 = [];
    private Matrix<float>? ma32, mb32, mc32;
    private Matrix<double>? ma64, mb64, mc64;

    [Params(256, 1024)]
    public int Size { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(1);
        int count = Size * Size;
        a64 = new double[count]; b64 = new double[count]; c64 = new double[count];
        rng.FillNormal<double>(a64);
        rng.FillNormal<double>(b64);
        a32 = a64.Select(x => (float)x).ToArray(); b32 = b64.Select(x => (float)x).ToArray(); c32 = new float[count];
        // MathNet stores column-major; the product of the stored buffers is a GEMM of the same size.
        Control.UseManaged();
        Control.MaxDegreeOfParallelism = Threads;
        ma32 = Matrix<float>.Build.Dense(Size, Size, a32); mb32 = Matrix<float>.Build.Dense(Size, Size, b32);
        mc32 = Matrix<float>.Build.Dense(Size, Size);
        ma64 = Matrix<double>.Build.Dense(Size, Size, a64); mb64 = Matrix<double>.Build.Dense(Size, Size, b64);
        mc64 = Matrix<double>.Build.Dense(Size, Size);
    }

    [Benchmark(Baseline = true), BenchmarkCategory("float32")]
    public void MathNet32() => ma32!.Multiply(mb32!, mc32!);

    [Benchmark, BenchmarkCategory("float32")]
    public void Fast32() => FastGemm.Multiply(false, false, Size, Size, Size, 1f, a32, Size, b32, Size, 0f, c32, Size, Threads);

    [Benchmark(Baseline = true), BenchmarkCategory("float64")]
    public void MathNet64() => ma64!.Multiply(mb64!, mc64!);

    [Benchmark, BenchmarkCategory("float64")]
    public void Fast64() => FastGemm.Multiply(false, false, Size, Size, Size, 1.0, a64, Size, b64, Size, 0.0, c64, Size, Threads);

    public double Work(string method) => 2.0 * Size * Size * Size;

    public string Unit(string method) => "GFLOP/s";

    public string? PeakMethod(string method) =>
        (method.EndsWith("32", StringComparison.Ordinal) ? "FmaPeak32" : "FmaPeak64") + (FastGemm.KernelVectorBits == 512 ? "x512" : "");
}

/// <summary>
/// The definition (NaiveGemm, float64 scalar triple loop, one thread) at 256^3 only (1024^3 would
/// take seconds per call), against FastGemm float64 on one thread.
/// </summary>
[Config(typeof(ThroughputConfig))]
public class GemmNaiveBench : IWorkload
{
    private double[] a = [], b = [], c = [];

    [Params(256)]
    public int Size { get; set; }

    public int Threads => 1;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(2);
        a = new double[Size * Size]; b = new double[Size * Size]; c = new double[Size * Size];
        rng.FillNormal<double>(a);
        rng.FillNormal<double>(b);
    }

    [Benchmark(Baseline = true)]
    public void Naive64() => NaiveGemm.Multiply(false, false, Size, Size, Size, 1.0, a, Size, b, Size, 0.0, c, Size);

    [Benchmark]
    public void Fast64() => FastGemm.Multiply(false, false, Size, Size, Size, 1.0, a, Size, b, Size, 0.0, c, Size, 1);

    public double Work(string method) => 2.0 * Size * Size * Size;

    public string Unit(string method) => "GFLOP/s";

    public string? PeakMethod(string method) => "FmaPeak64";
}
