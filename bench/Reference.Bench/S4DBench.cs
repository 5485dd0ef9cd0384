using BenchmarkDotNet.Attributes;
using Reference.Core;
using Reference.Core.Fourier;
using Reference.Operators.Convolution;
using Reference.Operators.StateSpace;

namespace Reference.Bench;

/// <summary>
/// S4D kernel generation, H 256 channels, N 64 (32 complex modes), L 4096 (target: &lt;= 10 ms
/// in float32). Baseline = the unfactored Vandermonde product, vectorized: one complex exponential
/// exp(l log Abar) per (h, n, l) with TensorPrimitives Exp/SinCos in float64 (the naive scalar
/// definition takes seconds here and is checked against in the tests instead); the Fast tier
/// writes l in base 8, multiplies one exactly evaluated factor per digit (M log8 L exponentials) and
/// finishes with one real [L/b, 2M] x [2M, b] FastGemm product per channel.
/// <para>Measured figures and the previous version's: bench/NOTES.md, "S4D kernel generation".</para>
/// </summary>
[MemoryDiagnoser, MinColumn]
public class S4DKernelBench
{
    private const int Channels = 256, StateSize = 64, Length = 4096;
    private S4DParameters p = null!;

    [GlobalSetup]
    public void Setup() => p = S4DParameters.Initialize(new SplitMix64(3), Channels, StateSize, S4DInit.Lin);

    [Benchmark(Baseline = true, Description = "Unfactored vectorized f64, 1 thread")]
    public double[] Unfactored()
    {
        var k = new double[Channels * Length];
        var re = new double[Length]; var im = new double[Length];
        var mag = new double[Length]; var sin = new double[Length]; var cos = new double[Length];
        for (int h = 0; h < Channels; h++)
            for (int n = 0; n < p.Modes; n++)
            {
                var (_, bbar, log) = S4D.Discretize(p, h, n, Discretization.Zoh);
                var coef = 2.0 * p.C(h, n) * bbar;
                for (int l = 0; l < Length; l++) { re[l] = l * log.Real; im[l] = l * log.Imaginary; }
                TensorPrimitives.Exp(re, mag);
                TensorPrimitives.SinCos(im, sin, cos);
                var kh = k.AsSpan(h * Length, Length);
                TensorPrimitives.Multiply(mag, cos, cos);
                TensorPrimitives.Multiply(mag, sin, sin);
                TensorPrimitives.MultiplyAdd(cos, coef.Real, kh, kh);
                TensorPrimitives.MultiplyAdd(sin, -coef.Imaginary, kh, kh);
            }
        return k;
    }

    // The fast tiers write into kept outputs (the allocating call is timed in IntoFormsBench).
    private readonly Tensor<float> k32 = Tensor<float>.Zeros(Channels, Length);
    private readonly Tensor<double> k64 = Tensor<double>.Zeros(Channels, Length);

    [Benchmark(Description = "Fast f32 kernel, 1 thread")]
    public Tensor<float> Fast32OneThread()
    {
        S4D.KernelFastInto(k32, p, Length, Discretization.Zoh, maxThreads: 1);
        return k32;
    }

    [Benchmark(Description = "Fast f32 kernel, all cores")]
    public Tensor<float> Fast32()
    {
        S4D.KernelFastInto(k32, p, Length, Discretization.Zoh, maxThreads: 0);
        return k32;
    }

    [Benchmark(Description = "Fast f64 kernel, 1 thread")]
    public Tensor<double> Fast64OneThread()
    {
        S4D.KernelFastInto(k64, p, Length, Discretization.Zoh, maxThreads: 1);
        return k64;
    }
}

/// <summary>
/// The causal convolution with skip of the S4D layer, 256 channels, L 4096, kernel length 4096, one
/// thread (target: Fast FFT route in float32 &lt;= 20 ms). Baseline = the peer
/// Reference.Core.Fourier.FftConvolution.Causal without the skip (the naive float64 direct sum,
/// 2.1e9 multiply-adds, takes minutes on this VM and is checked against in the tests instead).
/// </summary>
[MemoryDiagnoser, MinColumn]
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

    [Benchmark(Baseline = true, Description = "Peer FftConvolution.Causal f32, 1 thread")]
    public float[] Peer()
    {
        var y = new float[Channels * Length];
        FftConvolution.Causal<float>(u32.Data, k32.Data, y, Channels, Length, Length, maxThreads: 1);
        return y;
    }

    [Benchmark(Description = "Fast f32 FFT route, 1 thread")]
    public Tensor<float> Fast32() => CausalConvolution.ForwardFast(u32, k32, d32, maxThreads: 1);

    [Benchmark(Description = "Fast f64 FFT route, 1 thread")]
    public Tensor<double> Fast64() => CausalConvolution.ForwardFast(u, k, d, maxThreads: 1);
}
