using BenchmarkDotNet.Attributes;
using Reference.Core;
using Reference.Operators.StateSpace;

namespace Reference.Bench;

/// <summary>
/// Generating token L with an H3 layer (d_model 512, N 64, head_dim 1, float32, one thread):
/// the recurrent step (shift register + diagonal state, cost independent of L) against re-running
/// the parallel form on the prefix of length L (baseline). Tokens/s = 1 / mean time. Target: the
/// step wins from L &gt;= 64.
/// </summary>
[MemoryDiagnoser, MinColumn]
public class H3StepBench
{
    private const int ModelWidth = 512, StateSize = 64;
    private H3Fast<float> f = null!;
    private H3FastState<float> state = null!;
    private Tensor<float> prefix = null!;
    private float[] token = [], output = [];

    [Params(16, 64, 256)]
    public int L { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(5);
        var p = H3Parameters.Initialize(rng, ModelWidth, 1, StateSize);
        f = H3.Prepare<float>(p);
        prefix = rng.NormalTensor<float>(0, 1, 1, L, ModelWidth);
        state = H3.InitialFastState(f, 1);
        output = new float[ModelWidth];
        for (int t = 0; t < L - 1; t++) H3.StepFast(f, state, prefix.Data.AsSpan(t * ModelWidth, ModelWidth), output);
        token = prefix.Data.AsSpan((L - 1) * ModelWidth, ModelWidth).ToArray();
    }

    [Benchmark(Baseline = true, Description = "parallel form on the prefix")]
    public Tensor<float> ParallelPrefix() => H3.ForwardFast(f, prefix, maxThreads: 1);

    [Benchmark(Description = "recurrent step")]
    public float[] Step()
    {
        H3.StepFast(f, state, token, output);
        return output;
    }
}
