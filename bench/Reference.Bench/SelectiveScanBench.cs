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
/// <para>Measured (2026-11-29, quiet 2-core AMD EPYC VM, `--filter '*SelectiveScanBench*' '*MachineLimitsBench*'
/// --job short`): triad 15.8 GB/s (1 thread), 21.0 GB/s (2 threads); fast float32 57 ms (1 thread),
/// 34 ms (2 threads) = 1.0 GB/s, about 5% of the triad: the target is not met (before the
/// channel-lane rewrite: 91 ms / 51 ms). On this CPU the scan
/// is compute bound, not memory bound: every (t, n) pair needs one exp(Delta_t A_n), and the
/// recurrence's inner loop (channels in the 8 lanes, JIT listing of ScanLanes) is ~45 instructions
/// per 8 pairs, 26 of them the exp; D L N / 8 = 4.2M such iterations are ~1.2 ms per state index on
/// one core, and the per-(t, channel) staging costs another ~25 ms per thread (perf, N = 1: the silu
/// gate 22%, the two scalar lane transposes 19% + 17%, softplus 14%, the recurrence 15% of the
/// operator's own samples); in-register 8 x 8 transposes are the next step. 60% of the 2-thread triad would be 2.2 ms per scan, i.e. fewer
/// than 3 instructions per (t, n) lane-vector on two cores: less than the recurrence's own three
/// FMAs without any exp. The GPU kernel the target comes from has ~50x more arithmetic per byte.</para>
/// </summary>
[Config(typeof(ThroughputConfig))]
public class SelectiveScanBench : IWorkload
{
    private const int Channels = 1024, State = 16, Length = 2048;
    private Tensor<float> u = null!, delta = null!, aLog = null!, b = null!, c = null!, d = null!, z = null!, bias = null!;
    private SelectiveScanInputs naive = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(6);
        var p = new SelectiveScanInputs(
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
