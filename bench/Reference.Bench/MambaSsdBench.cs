using BenchmarkDotNet.Attributes;
using Reference.Core;
using Reference.Operators.StateSpace;

namespace Reference.Bench;

/// <summary>
/// The Mamba block at d_model 256 (E = 512, N = 16, K = 4, R = 16), batch 1, L = 1024: the fast tier
/// (FastGemm projections, vectorized conv, fast selective scan) in float32 and float64 on 1 and 2
/// threads, against the float64 definition (baseline: NaiveGemm and the scan's recurrence, one thread).
/// Weights are prepared (rounded to T) once, outside the timed call.
/// Measured figures: bench/NOTES.md, "Mamba block".
/// </summary>
[MemoryDiagnoser]
public class MambaBlockBench
{
    private const int ModelWidth = 256, State = 16, Length = 1024;
    private MambaParameters p = null!;
    private MambaFast<float> f32 = null!;
    private MambaFast<double> f64 = null!;
    private Tensor<double> u = null!;
    private Tensor<float> u32 = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        p = MambaParameters.Initialize(new SplitMix64(61), ModelWidth, State);
        u = new SplitMix64(62).NormalTensor<double>(0, 1, 1, Length, ModelWidth);
        u32 = u.Cast<float>();
        f32 = MambaBlock.Prepare<float>(p);
        f64 = MambaBlock.Prepare<double>(p);
    }

    [Benchmark(Baseline = true, Description = "naive float64")]
    public Tensor<double> Naive() => MambaBlock.Forward(p, u);

    [Benchmark(Description = "fast float64")]
    public Tensor<double> Fast64() => MambaBlock.ForwardFast(f64, u, Threads);

    [Benchmark(Description = "fast float32")]
    public Tensor<float> Fast32() => MambaBlock.ForwardFast(f32, u32, Threads);
}

/// <summary>
/// Mamba-2's SSD at H = 8 heads, P = 64, N = 64, one group, batch 1, L = 2048: the chunked fast tier
/// (chunks of 64) in float32 and float64 on 1 and 2 threads, against the float64 recurrence (the
/// definition, baseline, one thread). Work: the recurrence does 2 L H P N multiply-adds; the chunked
/// form about L H (Q P / 2 + 2 N P) + L G Q N / 2 (Q = 64), the same order, but as tile products.
/// Measured figures and the chunk-length sweep behind the default of 64: bench/NOTES.md, "Mamba-2 SSD".
/// </summary>
[MemoryDiagnoser]
public class SsdBench
{
    private const int Heads = 8, HeadDim = 64, State = 64, Length = 2048;
    private StateSpaceDualityInputs<double> naive = null!;
    private Tensor<float> x = null!, dt = null!, aLog = null!, b = null!, c = null!, d = null!, bias = null!;
    private Tensor<double> xd = null!, dtd = null!, aLogd = null!, bd = null!, cd = null!, dd = null!, biasd = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(63);
        naive = new StateSpaceDualityInputs<double>(
            rng.NormalTensor<double>(0, 1, 1, Length, Heads, HeadDim), rng.NormalTensor<double>(-2.5, 1, 1, Length, Heads),
            Tensor<double>.FromSpan(Enumerable.Range(0, Heads).Select(_ => Math.Log(rng.Uniform(1, 16))).ToArray(), Heads),
            rng.NormalTensor<double>(0, 1, 1, Length, 1, State), rng.NormalTensor<double>(0, 1, 1, Length, 1, State),
            rng.NormalTensor<double>(0, 1, Heads), rng.NormalTensor<double>(0, 0.5, Heads));
        (xd, dtd, aLogd, bd, cd, dd, biasd) = (naive.X, naive.Dt, naive.ALog, naive.B, naive.C, naive.D!, naive.DtBias!);
        (x, dt, aLog, b, c, d, bias) = (xd.Cast<float>(), dtd.Cast<float>(), aLogd.Cast<float>(), bd.Cast<float>(), cd.Cast<float>(),
            dd.Cast<float>(), biasd.Cast<float>());
    }

    [Benchmark(Baseline = true, Description = "naive float64 recurrence")]
    public Tensor<double> Naive() => StateSpaceDuality.Forward(naive);

    [Benchmark(Description = "fast float64 chunked")]
    public Tensor<double> Fast64() => StateSpaceDuality.ForwardFast(xd, dtd, aLogd, bd, cd, dd, biasd, maxThreads: Threads);

    [Benchmark(Description = "fast float32 chunked")]
    public Tensor<float> Fast32() => StateSpaceDuality.ForwardFast(x, dt, aLog, b, c, d, bias, maxThreads: Threads);
}
