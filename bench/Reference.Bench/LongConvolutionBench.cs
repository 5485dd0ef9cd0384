using BenchmarkDotNet.Attributes;
using Reference.Core;
using Reference.Core.Fourier;
using Reference.Operators.Convolution;

namespace Reference.Bench;

/// <summary>
/// The long-convolution core (smoothing + squash + K * u + D u) over H 64 channels, L 1024, one
/// thread, naive float64 direct sum as baseline vs the Fast tier (CausalConvolution.ForwardFast:
/// real-FFT route) in float64 and float32. No numeric target.
/// </summary>
[MemoryDiagnoser]
public class LongConvolutionBench
{
    private LongConvolutionParameters p = null!;
    private Tensor<double> u = null!;
    private Tensor<float> u32 = null!;

    [Params(1024)]
    public int L { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        p = LongConvolutionParameters.Initialize(new SplitMix64(1), 64, L, 1, 3e-3, 3, kernelStd: 0.05);
        u = new SplitMix64(2).NormalTensor<double>(0, 1, 1, 64, L);
        u32 = u.Cast<float>();
    }

    [Benchmark(Baseline = true)]
    public Tensor<double> NaiveDirect() => LongConvolution.Convolve(p, u);

    [Benchmark]
    public Tensor<double> FastFloat64() => LongConvolution.ConvolveFast(p, u, maxThreads: 1);

    [Benchmark]
    public Tensor<float> FastFloat32() => LongConvolution.ConvolveFast(p, u32, maxThreads: 1);
}

/// <summary>
/// FlashButterfly's exact block FFT (naive float64 GEMM blocks, 16 x 16 x 16 for N 4096) against the
/// Core FFT plan (radix-2, float64) on 16 rows; the baseline is the block FFT.
/// </summary>
[MemoryDiagnoser]
public class BlockFftBench
{
    private double[] re = null!, im = null!, wr = null!, wi = null!;
    private FftPlan<double> plan = null!;

    [Params(4096)]
    public int N { get; set; }

    private const int Rows = 16;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(3);
        re = rng.NormalTensor<double>(0, 1, Rows * N).Data;
        im = rng.NormalTensor<double>(0, 1, Rows * N).Data;
        wr = new double[Rows * N];
        wi = new double[Rows * N];
        plan = new FftPlan<double>(N);
    }

    [Benchmark(Baseline = true)]
    public double BlockFft()
    {
        re.CopyTo(wr, 0);
        im.CopyTo(wi, 0);
        FlashButterfly.Forward(wr, wi, Rows, N);
        return wr[1];
    }

    [Benchmark]
    public double CoreFftPlan()
    {
        re.CopyTo(wr, 0);
        im.CopyTo(wi, 0);
        for (int r = 0; r < Rows; r++) plan.Forward(wr.AsSpan(r * N, N), wi.AsSpan(r * N, N));
        return wr[1];
    }
}

/// <summary>
/// Hyena decoding (D 64, order 2, l_max 512): one Step after a prefill of L tokens (input-history cache,
/// O(L) per channel) against re-running the parallel form on the L + 1 prefix (the baseline).
/// </summary>
[MemoryDiagnoser]
public class HyenaDecodeBench
{
    private HyenaParameters p = null!;
    private Tensor<double> u = null!, token = null!, prefix = null!;
    private HyenaState state = null!;

    [Params(64, 256)]
    public int L { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        p = HyenaParameters.Initialize(new SplitMix64(4), 64, 512);
        u = new SplitMix64(5).NormalTensor<double>(0, 1, 1, L + 1, 64);
        prefix = u.Slice(1, 0, L);
        token = u.Slice(1, L, 1).Reshape(1, 64);
    }

    [IterationSetup(Target = nameof(Step))]
    public void PrefillState() => state = Hyena.Prefill(p, prefix).State;

    [Benchmark(Baseline = true)]
    public Tensor<double> ParallelOnPrefix() => Hyena.Forward(p, u);

    [Benchmark]
    public Tensor<double> Step() => Hyena.Step(p, state, token);
}
