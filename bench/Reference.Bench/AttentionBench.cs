using BenchmarkDotNet.Attributes;
using Reference.Core;
using Reference.Core.Linear;
using Reference.Operators.Attention;

namespace Reference.Bench;

/// <summary>
/// Target: causal attention, B 1, H 8, L 1024, head dim 64, float32, both cores, &lt;= 21 ms.
/// Baseline: the materialised route (S = Q K^T by FastGemm, causal mask + softmax by
/// TensorPrimitives, O = P V by FastGemm), parallel over heads. Rate counts the useful flops of the
/// live (query, key) pairs only (1.07 GFLOP for the causal case); the FMA peak of this machine is
/// 92.7 GFLOP/s float32 per core (MachineLimitsBench).
/// <para>Run: dotnet run -c Release --project bench/Reference.Bench -- --filter '*AttentionBench*' --job short --inProcess.
/// Measured figures (the table, one-thread CPU time, the split by stage): bench/NOTES.md, "Softmax attention".</para>
/// </summary>
[Config(typeof(ThroughputConfig))]
public class AttentionBench : IWorkload
{
    private Tensor<float> q = null!, k = null!, v = null!;

    [Params(1024)]
    public int L { get; set; }

    private const int B = 1, H = 8, D = 64;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(42);
        q = rng.NormalTensor<float>(0, 1, B, H, L, D);
        k = rng.NormalTensor<float>(0, 1, B, H, L, D);
        v = rng.NormalTensor<float>(0, 1, B, H, L, D);
    }

    [Benchmark(Baseline = true)]
    public Tensor<float> GemmSoftmaxGemm()
    {
        var o = Tensor<float>.Zeros(B, H, L, D);
        float scale = 1f / MathF.Sqrt(D);
        Parallel.For(0, B * H, bh =>
        {
            var s = new float[L * L];
            FastGemm.Multiply(false, true, L, L, D, scale, q.Data.AsSpan(bh * L * D, L * D), D,
                k.Data.AsSpan(bh * L * D, L * D), D, 0f, s, L, maxThreads: 1);
            for (int t = 0; t < L; t++)
            {
                var row = s.AsSpan(t * L, L);
                var live = row[..(t + 1)];
                TensorPrimitives.Subtract(live, TensorPrimitives.Max(live), live);
                TensorPrimitives.Exp(live, live);
                TensorPrimitives.Divide(live, TensorPrimitives.Sum(live), live);
                row[(t + 1)..].Clear();
            }
            FastGemm.Multiply(false, false, L, D, L, 1f, s, L, v.Data.AsSpan(bh * L * D, L * D), D,
                0f, o.Data.AsSpan(bh * L * D, L * D), D, maxThreads: 1);
        });
        return o;
    }

    private Tensor<float>? flashOut;

    /// <summary>The fast tier writes into a kept output (the allocating call is timed in IntoFormsBench).</summary>
    private Tensor<float> Flash(SoftmaxAttentionOptions? options, int maxThreads)
    {
        flashOut ??= Tensor<float>.Zeros(B, H, L, D);
        SoftmaxAttention.ForwardFastInto(flashOut, q, k, v, options, maxThreads);
        return flashOut;
    }

    [Benchmark]
    public Tensor<float> FlashTiled() => Flash(null, 0);

    [Benchmark]
    public Tensor<float> FlashTiledOneThread() => Flash(null, 1);

    /// <summary>Sliding window of 256 keys: the kernel visits only the key tiles inside the band.</summary>
    [Benchmark]
    public Tensor<float> FlashTiledWindow256() => Flash(new SoftmaxAttentionOptions(Window: Window), 0);

    private const int Window = 256;

    /// <summary>
    /// Useful flops: 2 per multiply-add of Q K^T and of P V over the live (query, key) pairs only
    /// (what the masked baseline computes and throws away is not counted).
    /// </summary>
    public double Work(string method)
    {
        double pairs = method == nameof(FlashTiledWindow256)
            ? Window * (Window + 1.0) / 2 + (double)(L - Window) * Window
            : L * (L + 1.0) / 2;
        return 2.0 * 2.0 * B * H * pairs * D;
    }

    public string Unit(string method) => "GFLOP/s";

    public string? PeakMethod(string method) => null;

    public int Threads => Environment.ProcessorCount;
}
