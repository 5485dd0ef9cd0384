using BenchmarkDotNet.Attributes;
using Reference.Core;
using Reference.Operators.Attention;
using Reference.Operators.StateSpace;

namespace Reference.Bench;

/// <summary>
/// One decoding step of causal softmax attention with a KV cache: B 1, H = Hkv = 8, K = V = 64, a cache
/// of Cache positions. The caches are windowed (W = Cache) and prefilled with Cache positions, so every
/// step evicts the oldest position and attends to exactly Cache keys: the cost per invocation stays the
/// same however many times BenchmarkDotNet calls it. Baseline: the float64 definition Step; the fast
/// StepFast in float32 on every core and on one, and in float64.
/// Rate = bytes of the cache streamed per step (B Hkv Cache (K + V) elements): a step is bandwidth bound.
/// Not measured yet (checked to run with --job dry only):
///   dotnet run -c Release --project bench/Reference.Bench -- --filter '*KvDecodeBench*' --job short --inProcess
/// </summary>
[Config(typeof(ThroughputConfig))]
public class KvDecodeBench : IWorkload
{
    private const int B = 1, H = 8, D = 64;
    private KvCache naive = null!;
    private KvCache<float> fast32 = null!, fast32One = null!;
    private KvCache<double> fast64 = null!;
    private Tensor<double> q = null!, k = null!, v = null!;
    private Tensor<float> q32 = null!, k32 = null!, v32 = null!;
    private SoftmaxAttentionOptions options = null!;

    [Params(1024, 4096)]
    public int Cache { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(71);
        var prompt = (K: rng.NormalTensor<double>(0, 1, B, H, Cache, D), V: rng.NormalTensor<double>(0, 1, B, H, Cache, D));
        options = new SoftmaxAttentionOptions(Window: Cache);
        naive = SoftmaxAttention.Prefill(prompt.K, prompt.V, options);
        fast64 = SoftmaxAttention.PrefillFast(prompt.K, prompt.V, options);
        fast32 = SoftmaxAttention.PrefillFast(prompt.K.Cast<float>(), prompt.V.Cast<float>(), options);
        fast32One = SoftmaxAttention.PrefillFast(prompt.K.Cast<float>(), prompt.V.Cast<float>(), options);
        (q, k, v) = (rng.NormalTensor<double>(0, 1, B, H, D), rng.NormalTensor<double>(0, 1, B, H, D), rng.NormalTensor<double>(0, 1, B, H, D));
        (q32, k32, v32) = (q.Cast<float>(), k.Cast<float>(), v.Cast<float>());
    }

    [Benchmark(Baseline = true, Description = "naive float64 Step")]
    public Tensor<double> Naive() => SoftmaxAttention.Step(naive, q, k, v, options);

    [Benchmark(Description = "fast float64")]
    public Tensor<double> Fast64() => SoftmaxAttention.StepFast(fast64, q, k, v, options);

    [Benchmark(Description = "fast float32")]
    public Tensor<float> Fast32() => SoftmaxAttention.StepFast(fast32, q32, k32, v32, options);

    [Benchmark(Description = "fast float32, 1 thread")]
    public Tensor<float> Fast32OneThread() => SoftmaxAttention.StepFast(fast32One, q32, k32, v32, options, maxThreads: 1);

    public double Work(string method) => (double)B * H * Cache * 2 * D * (method is nameof(Naive) or nameof(Fast64) ? 8 : 4);

    public string Unit(string method) => "GB/s";

    public string? PeakMethod(string method) => null;

    public int Threads => Environment.ProcessorCount;
}

/// <summary>
/// One decoding step of Mamba-2's SSD at the size of a Mamba-2 2.7B layer: B 1, H = 80 heads of P = 64,
/// N = 128, one group (state 80 x 64 x 128 = 655 k entries per layer). Baseline: the float64 definition
/// Step; StepFast in float32 and float64 on the state ForwardFast carries.
/// Rate = bytes of the state read and written per step (2 B H P N elements).
/// Not measured yet (checked to run with --job dry only):
///   dotnet run -c Release --project bench/Reference.Bench -- --filter '*SsdDecodeBench*' --job short --inProcess
/// </summary>
[Config(typeof(ThroughputConfig))]
public class SsdDecodeBench : IWorkload
{
    private const int B = 1, H = 80, P = 64, N = 128;
    private StateSpaceDualityInputs<double> token = null!;
    private StateSpaceDualityState naive = null!;
    private Tensor<double> state64 = null!;
    private Tensor<float> state32 = null!;
    private Tensor<float> x = null!, dt = null!, aLog = null!, b = null!, c = null!, d = null!, bias = null!;
    private Tensor<double> x64 = null!, dt64 = null!, b64 = null!, c64 = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(73);
        token = new StateSpaceDualityInputs<double>(
            rng.NormalTensor<double>(0, 1, B, 1, H, P), rng.NormalTensor<double>(-2.5, 1, B, 1, H),
            Tensor<double>.FromSpan(Enumerable.Range(0, H).Select(_ => Math.Log(rng.Uniform(1, 16))).ToArray(), H),
            rng.NormalTensor<double>(0, 1, B, 1, 1, N), rng.NormalTensor<double>(0, 1, B, 1, 1, N),
            rng.NormalTensor<double>(0, 1, H), rng.NormalTensor<double>(0, 0.5, H));
        naive = new StateSpaceDualityState(B, H, P, N);
        rng.FillNormal<double>(naive.S.Data);
        state64 = naive.S.Clone();
        state32 = naive.S.Cast<float>();
        (x64, dt64, b64, c64) = (token.X.Reshape(B, H, P), token.Dt.Reshape(B, H), token.B.Reshape(B, 1, N), token.C.Reshape(B, 1, N));
        (x, dt, b, c) = (x64.Cast<float>(), dt64.Cast<float>(), b64.Cast<float>(), c64.Cast<float>());
        (aLog, d, bias) = (token.ALog.Cast<float>(), token.D!.Cast<float>(), token.DtBias!.Cast<float>());
    }

    [Benchmark(Baseline = true, Description = "naive float64 Step")]
    public Tensor<double> Naive() => StateSpaceDuality.Step(token, naive);

    [Benchmark(Description = "fast float64")]
    public Tensor<double> Fast64() => StateSpaceDuality.StepFast(x64, dt64, token.ALog, b64, c64, state64, token.D, token.DtBias);

    [Benchmark(Description = "fast float32")]
    public Tensor<float> Fast32() => StateSpaceDuality.StepFast(x, dt, aLog, b, c, state32, d, bias);

    public double Work(string method) => 2.0 * B * H * P * N * (method is nameof(Naive) or nameof(Fast64) ? 8 : 4);

    public string Unit(string method) => "GB/s";

    public string? PeakMethod(string method) => null;

    public int Threads => Environment.ProcessorCount;
}
