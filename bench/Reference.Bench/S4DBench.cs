using BenchmarkDotNet.Attributes;
using Reference.Core;
using Reference.Operators.Convolution;
using Reference.Operators.StateSpace;

namespace Reference.Bench;

/// <summary>
/// S4D kernel generation, H 256 channels, N 64 (32 complex modes), L 4096 (issue 5 target: &lt;= 10 ms
/// in float32). Baseline = the naive float64 definition (one complex exp per (h, n, l)); the Fast
/// tier factors exp(l log Abar) = exp(m b log Abar) exp(j log Abar).
/// </summary>
[MemoryDiagnoser]
public class S4DKernelBench
{
    private const int Channels = 256, StateSize = 64, Length = 4096;
    private S4DParameters p = null!;

    [GlobalSetup]
    public void Setup() => p = S4DParameters.Initialize(new SplitMix64(3), Channels, StateSize, S4DInit.Lin);

    [Benchmark(Baseline = true, Description = "Naive f64 kernel")]
    public Tensor<double> Naive() => S4D.Kernel(p, Length, Discretization.Zoh);

    [Benchmark(Description = "Fast f32 kernel, 1 thread")]
    public Tensor<float> Fast32OneThread() => S4D.KernelFast<float>(p, Length, Discretization.Zoh, maxThreads: 1);

    [Benchmark(Description = "Fast f32 kernel, all cores")]
    public Tensor<float> Fast32() => S4D.KernelFast<float>(p, Length, Discretization.Zoh, maxThreads: 0);

    [Benchmark(Description = "Fast f64 kernel, 1 thread")]
    public Tensor<double> Fast64OneThread() => S4D.KernelFast<double>(p, Length, Discretization.Zoh, maxThreads: 1);
}

/// <summary>
/// The causal convolution of the S4D layer, 256 channels, L 4096, kernel length 4096, one thread
/// (issue 5 target: Fast FFT route in float32 &lt;= 20 ms). Baseline = the naive float64 direct sum.
/// </summary>
[MemoryDiagnoser]
public class CausalConvolutionBench
{
    private const int Channels = 256, Length = 4096;
    private Tensor<double> u = null!, k = null!, d = null!;
    private Tensor<float> u32 = null!, k32 = null!, d32 = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(4);
        u = rng.NormalTensor<double>(0, 1, 1, Channels, Length);
        k = rng.NormalTensor<double>(0, 1, Channels, Length);
        d = rng.NormalTensor<double>(0, 1, Channels);
        (u32, k32, d32) = (u.Cast<float>(), k.Cast<float>(), d.Cast<float>());
    }

    [Benchmark(Baseline = true, Description = "Naive f64 direct sum")]
    public Tensor<double> Naive() => CausalConvolution.Forward(u, k, d);

    [Benchmark(Description = "Fast f32 FFT route, 1 thread")]
    public Tensor<float> Fast32() => CausalConvolution.ForwardFast(u32, k32, d32, maxThreads: 1);

    [Benchmark(Description = "Fast f64 FFT route, 1 thread")]
    public Tensor<double> Fast64() => CausalConvolution.ForwardFast(u, k, d, maxThreads: 1);
}
