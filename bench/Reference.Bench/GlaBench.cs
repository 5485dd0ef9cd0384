using BenchmarkDotNet.Attributes;
using Reference.Core;
using Reference.Operators.Recurrence;

namespace Reference.Bench;

/// <summary>
/// GLA chunked form vs recurrent form at L 2048, K = V = 64 (target: chunked &gt;= 3x
/// faster). Both fast-tier kernels in float32 on one head per core (B 1, H 2, both cores), vector
/// gates logsigmoid(x)/16. Baseline: the fast recurrent form. The float64 oracle recurrence is
/// listed for scale. CPU time on one thread and the chunk-size sweep: `-- --gla-cpu-time`
/// (GlaCpuTime).
/// <para>Measured figures, the chunk-size sweep and why the 3x target is out of reach (the chunked
/// form's arithmetic floor is 2 K V multiply-adds per token against the recurrent form's 3 K V):
/// bench/NOTES.md, "Gated linear attention".</para>
/// </summary>
[MemoryDiagnoser]
public class GlaBench
{
    private Tensor<float> q = null!, k = null!, v = null!, g = null!;
    private Tensor<double> qd = null!, kd = null!, vd = null!, gd = null!;

    private const int B = 1, H = 2, L = 2048, K = 64, V = 64;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(7);
        qd = rng.NormalTensor<double>(0, 1, B, H, L, K);
        kd = rng.NormalTensor<double>(0, 1, B, H, L, K);
        vd = rng.NormalTensor<double>(0, 1, B, H, L, V);
        gd = GatedLinearAttention.LogSigmoidGate(rng.NormalTensor<double>(0, 1, B, H, L, K));
        (q, k, v, g) = (qd.Cast<float>(), kd.Cast<float>(), vd.Cast<float>(), gd.Cast<float>());
    }

    [Benchmark(Baseline = true)]
    public Tensor<float> RecurrentFast() => GatedLinearAttention.RecurrentFast(q, k, v, g);

    private readonly Tensor<float> o = Tensor<float>.Zeros(B, H, L, V);

    /// <summary>Into a kept output (the allocating call is timed in IntoFormsBench).</summary>
    [Benchmark]
    public Tensor<float> ChunkedFast()
    {
        GatedLinearAttention.ChunkedFastInto(o, q, k, v, g);
        return o;
    }

    [Benchmark]
    public Tensor<double> RecurrentNaiveFloat64() => GatedLinearAttention.Recurrent(qd, kd, vd, gd);
}
