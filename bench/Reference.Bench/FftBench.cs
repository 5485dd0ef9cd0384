using System.Numerics;
using BenchmarkDotNet.Attributes;
using MathNet.Numerics.IntegralTransforms;
using Reference.Core;
using Reference.Core.Fourier;

namespace Reference.Bench;

/// <summary>
/// Real FFT of 8192 points: our RealFftPlan (float32, float64) against MathNet's managed
/// Fourier.ForwardReal (float64, the baseline) and our complex FFT of the same length.
/// </summary>
[MemoryDiagnoser, MinColumn, MedianColumn]
public class FftRealBench
{
    private const int N = 8192;
    private readonly RealFftPlan<float> plan32 = new(N);
    private readonly RealFftPlan<double> plan64 = new(N);
    private readonly FftPlan<float> complex32 = new(N);
    private float[] x32 = [], re32 = [], im32 = [], cre32 = [], cim32 = [];
    private double[] x64 = [], re64 = [], im64 = [], mathNet = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(1);
        x64 = new double[N];
        rng.FillNormal<double>(x64);
        x32 = Array.ConvertAll(x64, v => (float)v);
        re32 = new float[N / 2 + 1]; im32 = new float[N / 2 + 1];
        re64 = new double[N / 2 + 1]; im64 = new double[N / 2 + 1];
        cre32 = new float[N]; cim32 = new float[N];
        mathNet = new double[N + 2];
    }

    [Benchmark(Baseline = true, Description = "MathNet ForwardReal f64")]
    public void MathNetReal()
    {
        x64.CopyTo(mathNet, 0);
        Fourier.ForwardReal(mathNet, N, FourierOptions.Matlab);
    }

    [Benchmark(Description = "RealFftPlan f64")]
    public void Real64() => plan64.Forward(x64, re64, im64);

    [Benchmark(Description = "RealFftPlan f32")]
    public void Real32() => plan32.Forward(x32, re32, im32);

    [Benchmark(Description = "FftPlan (complex) f32")]
    public void Complex32()
    {
        x32.CopyTo(cre32, 0);
        Array.Clear(cim32);
        complex32.Forward(cre32, cim32);
    }
}
