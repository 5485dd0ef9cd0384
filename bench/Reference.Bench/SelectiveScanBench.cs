using BenchmarkDotNet.Attributes;
using Reference.Core;
using Reference.Operators.StateSpace;

namespace Reference.Bench;

/// <summary>
/// Mamba's selective scan at the issue-6 target size: d_inner D = 1024, N = 16, L = 2048, batch 1,
/// one group, with skip, gate and delta bias, float32 Fast tier on 1 and 2 threads, against the
/// float64 definition (baseline, one thread). The scan is memory bound in principle, so its rate is
/// reported in GB/s to compare with MachineLimitsBench.Triad (run both with --join):
/// bytes per scan = reads u, delta, z [D, L] + B, C [N, L] + A_log [D, N] + D, bias [D], writes out [D, L]
/// = (4 D L + 2 N L + D N + 2 D) sizeof(T). Target: >= 60% of the triad bandwidth.
/// <para>Measured 2026-11-29 on the quiet 2-core AMD EPYC (Zen 3) VM,
/// `--filter '*SelectiveScanBench*' --job medium`: fast float32 35.2 ms (1 thread), 21.0 ms
/// (2 threads) = 1.6 GB/s, 9 % of the 2-thread triad (17.9-21.0 GB/s in MachineLimitsBench): the
/// target is not met. Earlier: 57 / 34 ms (channel lanes, per-row staging), 91 / 51 ms (first fast tier).</para>
/// <para>Why it cannot be met on this CPU: the scan is compute bound, not memory bound. Every (t, n)
/// pair needs its own decay exp(Delta_t A_n) (no factor is shared across n or t for learned A),
/// D L N = 33.5M exponentials per scan. The cheapest exact-to-an-ulp vector exponential here,
/// VectorMath.Exp2Decay with log2(e) folded into A (2^x without range selects), takes 2.1 ns per 8
/// lanes in a tight loop on one core (VectorMath.Exp 4.1 ns): 33.5M / 8 x 2.1 ns = 8.8 ms on one core,
/// 4.4 ms on two, before the recurrence's two FMAs per pair and any staging, while 60 % of the
/// 2-thread triad is 2.7-3.2 ms for the 33.9 MB the scan moves. The GPU kernel the target comes from
/// has ~50x more arithmetic per byte. Where the time goes now (perf, one thread, N = 16): the
/// softplus, recurrence and gate passes (one inlined method) ~70 %, of which the recurrence loop runs
/// at ~12 cycles per 8 pairs against a ~6-cycle issue bound (the exp's dependency chain fills Zen 3's
/// FP scheduler); the W x W register transposes of u, delta, z and y (rows 8 KB apart, streamed from
/// memory) ~10 %; the runtime's Vector256.Log in softplus (one per step and lane) ~7 %.</para>
/// </summary>
[Config(typeof(ThroughputConfig))]
public class SelectiveScanBench : IWorkload
{
    private const int Channels = 1024, State = 16, Length = 2048;
    private Tensor<float> u = null!, delta = null!, aLog = null!, b = null!, c = null!, d = null!, z = null!, bias = null!;
    private SelectiveScanInputs<double> naive = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(6);
        var p = new SelectiveScanInputs<double>(
            rng.NormalTensor<double>(0, 1, 1, Channels, Length), rng.NormalTensor<double>(-2.5, 1, 1, Channels, Length),
            SelectiveScan.InitialALog(Channels, State), rng.NormalTensor<double>(0, 1, 1, 1, State, Length),
            rng.NormalTensor<double>(0, 1, 1, 1, State, Length), Tensor<double>.Full(1.0, Channels),
            rng.NormalTensor<double>(0, 1, 1, Channels, Length), rng.NormalTensor<double>(0, 0.5, Channels));
        naive = p;
        (u, delta, aLog, b, c, d, z, bias) = (p.U.Cast<float>(), p.Delta.Cast<float>(), p.ALog.Cast<float>(), p.B.Cast<float>(),
            p.C.Cast<float>(), p.D!.Cast<float>(), p.Z!.Cast<float>(), p.DeltaBias!.Cast<float>());
    }

    [Benchmark(Baseline = true, Description = "naive float64 recurrence")]
    public Tensor<double> Naive() => SelectiveScan.Forward(naive);

    [Benchmark(Description = "fast float32")]
    public Tensor<float> Fast32() => SelectiveScan.ForwardFast(u, delta, aLog, b, c, d, z, bias, Threads);

    public double Work(string method) =>
        (4.0 * Channels * Length + 2.0 * State * Length + Channels * State + 2.0 * Channels) * (method == nameof(Naive) ? sizeof(double) : sizeof(float));

    public string Unit(string method) => "GB/s";

    public string? PeakMethod(string method) => null;
}
