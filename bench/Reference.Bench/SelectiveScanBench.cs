using BenchmarkDotNet.Attributes;
using Reference.Core;
using Reference.Operators.StateSpace;

namespace Reference.Bench;

/// <summary>
/// Mamba's selective scan at the target size: d_inner D = 1024, N = 16, L = 2048, batch 1,
/// one group, with skip, gate and delta bias, float32 Fast tier on 1 and 2 threads, against the
/// float64 definition (baseline, one thread). The scan is memory bound in principle, so its rate is
/// reported in GB/s to compare with MachineLimitsBench.Triad (run both with --join):
/// bytes per scan = reads u, delta, z [D, L] + B, C [N, L] + A_log [D, N] + D, bias [D], writes out [D, L]
/// = (4 D L + 2 N L + D N + 2 D) sizeof(T). Target: >= 60% of the triad bandwidth.
/// <para>Measured figures and why the target is out of reach on this CPU (the scan is compute bound:
/// one exponential per (t, n) pair): bench/NOTES.md, "Selective scan (S6)".</para>
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

    private Tensor<float>? y;

    /// <summary>Into a kept output (the allocating call is timed in IntoFormsBench).</summary>
    [Benchmark(Description = "fast float32")]
    public Tensor<float> Fast32()
    {
        y ??= Tensor<float>.Zeros(1, Channels, Length);
        SelectiveScan.ForwardFastInto(y, u, delta, aLog, b, c, d, z, bias, Threads);
        return y;
    }

    public double Work(string method) =>
        (4.0 * Channels * Length + 2.0 * State * Length + Channels * State + 2.0 * Channels) * (method == nameof(Naive) ? sizeof(double) : sizeof(float));

    public string Unit(string method) => "GB/s";

    public string? PeakMethod(string method) => null;
}
