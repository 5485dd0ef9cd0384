using System.Numerics;
using BenchmarkDotNet.Attributes;
using MathNet.Numerics.IntegralTransforms;
using Reference.Core;
using Reference.Core.Fourier;

namespace Reference.Bench;

/// <summary>
/// Causal FFT convolution, 256 channels x L 4096 with Lk 4096 (FFT size 8192), float32, one
/// thread (target: &lt;= 25 ms). Baseline = the same algorithm on MathNet's managed
/// complex FFT (float64 Complex, one forward per signal and one inverse per channel).
/// </summary>
[MemoryDiagnoser, MinColumn, MedianColumn]
public class FftConvolutionBench
{
    private const int Channels = 256, Length = 4096, KernelLength = 4096;
    private float[] u = [], k = [], y = [];
    private double[] u64 = [], k64 = [], y64 = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(2);
        u64 = new double[Channels * Length];
        k64 = new double[Channels * KernelLength];
        rng.FillNormal<double>(u64);
        rng.FillNormal<double>(k64);
        u = Array.ConvertAll(u64, v => (float)v);
        k = Array.ConvertAll(k64, v => (float)v);
        y = new float[Channels * Length];
        y64 = new double[Channels * Length];
    }

    [Benchmark(Baseline = true, Description = "MathNet-based f64")]
    public void MathNetBased()
    {
        int n = FftConvolution.FftSize(Length, KernelLength);
        var a = new Complex[n];
        var b = new Complex[n];
        for (int c = 0; c < Channels; c++)
        {
            Array.Clear(a);
            Array.Clear(b);
            for (int t = 0; t < Length; t++) a[t] = u64[c * Length + t];
            for (int j = 0; j < KernelLength; j++) b[j] = k64[c * KernelLength + j];
            Fourier.Forward(a, FourierOptions.Matlab);
            Fourier.Forward(b, FourierOptions.Matlab);
            for (int i = 0; i < n; i++) a[i] *= b[i];
            Fourier.Inverse(a, FourierOptions.Matlab);
            for (int t = 0; t < Length; t++) y64[c * Length + t] = a[t].Real;
        }
    }

    [Benchmark(Description = "FftConvolution f32 1 thread")]
    public void Fast32() => FftConvolution.Causal<float>(u, k, y, Channels, Length, KernelLength, maxThreads: 1);

    [Benchmark(Description = "FftConvolution f64 1 thread")]
    public void Fast64() => FftConvolution.Causal<double>(u64, k64, y64, Channels, Length, KernelLength, maxThreads: 1);

    [Benchmark(Description = "FftConvolution f32 2 threads")]
    public void Fast32TwoThreads() => FftConvolution.Causal<float>(u, k, y, Channels, Length, KernelLength, maxThreads: 2);
}

/// <summary>The direct O(L Lk) sum on 8 channels (x 32 to compare with 256) against the FFT path.</summary>
[MemoryDiagnoser, MinColumn, MedianColumn]
public class FftConvolutionDirectBench
{
    private const int Channels = 8, Length = 4096, KernelLength = 4096;
    private double[] u = [], k = [], y = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(3);
        u = new double[Channels * Length];
        k = new double[Channels * KernelLength];
        rng.FillNormal<double>(u);
        rng.FillNormal<double>(k);
        y = new double[Channels * Length];
    }

    [Benchmark(Baseline = true, Description = "NaiveCausal f64 (direct sum)")]
    public void Direct() => FftConvolution.NaiveCausal(u, k, y, Channels, Length, KernelLength);

    [Benchmark(Description = "FftConvolution f64 1 thread")]
    public void Fast() => FftConvolution.Causal<double>(u, k, y, Channels, Length, KernelLength, maxThreads: 1);
}
