using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using Reference.Core;
using Reference.Operators.Monarch;

namespace Reference.Bench;

/// <summary>
/// Causal M2 per channel (CausalMonarch.ForwardFast, float64, one row, p = 2, b = sqrt(N)) at N = 256 .. 16384: the
/// cost should grow as N^(3/2) (2 p (2b)^(p+1) complex multiply-adds). Target (issue 14): N^(3/2) growth, and at
/// N = 4096 (b = 64) exact to 1e-10 relative against the materialized T in float64 (checked in the setup and by
/// <see cref="CausalMonarchCpuTime"/>).
///   dotnet run -c Release --project bench/Reference.Bench -- --filter '*CausalMonarchBench*' --job short
/// </summary>
[Config(typeof(ThroughputConfig))]
public class CausalMonarchBench : IWorkload
{
    private CausalMonarchFastPlan<double> plan = null!;
    private Tensor<double> u = null!, k = null!;

    [Params(256, 1024, 4096, 16384)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        int b = (int)Math.Round(Math.Sqrt(N));
        plan = CausalMonarch.Prepare<double>(CausalMonarchPlan.Create(b, 2));
        var rng = new SplitMix64(14);
        u = rng.NormalTensor<double>(0, 1, 1, 1, N);
        k = rng.NormalTensor<double>(0, 1, 1, N);
    }

    [Benchmark]
    public Tensor<double> CausalM2() => CausalMonarch.ForwardFast(plan, u, k);

    /// <summary>Real flops of the GEMM passes: per pass 4 real products of (2b)^(p+1) multiply-adds (2 for the real input's first pass).</summary>
    public double Work(string method) => CausalMonarchCpuTime.Flops(N);

    public string Unit(string method) => "GFLOP/s";

    public string? PeakMethod(string method) => null;

    public int Threads => 1;
}

/// <summary>
/// `--causal-m2-cpu-time`: causal M2 per channel by CPU time (best of repeats, one thread) at N = 256 .. 16384 (p = 2,
/// b = sqrt(N)), the fitted exponent of cost against N, and the relative error of the float64 fast tier against the
/// materialized T (the digit-wise closed form, CausalMonarch.MaterializeDigitwise, applied as a dense product) for N &lt;= 4096,
/// against the closed-form sum beyond.
/// </summary>
public static class CausalMonarchCpuTime
{
    public static double Flops(int n)
    {
        int g = 2 * (int)Math.Round(Math.Sqrt(n));
        double perPass = 4.0 * 2.0 * g * g * g;
        return 4 * perPass - 2 * 2.0 * g * g * g;   // lift u (first pass real input: 2 products), inverse (2 passes of 4)
    }

    public static void Run()
    {
        var ci = CultureInfo.InvariantCulture;
        Console.WriteLine("| N | b | CPU ms / channel | ms / N^1.5 (x 1e6) | GFLOP/s | rel error vs materialized T |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|");
        var sizes = new[] { 256, 1024, 4096, 16384 };
        var times = new List<double>();
        foreach (int n in sizes)
        {
            int b = (int)Math.Round(Math.Sqrt(n));
            var plan = CausalMonarch.Prepare<double>(CausalMonarchPlan.Create(b, 2));
            var rng = new SplitMix64(14);
            var u = rng.NormalTensor<double>(0, 1, 1, 1, n);
            var k = rng.NormalTensor<double>(0, 1, 1, n);
            var y = CausalMonarch.ForwardFast(plan, u, k);
            int reps = Math.Max(3, 2_000_000 / n);
            for (int i = 0; i < Math.Min(reps, 20); i++) CausalMonarch.ForwardFast(plan, u, k);
            double best = double.MaxValue;
            var process = Process.GetCurrentProcess();
            for (int trial = 0; trial < 7; trial++)
            {
                process.Refresh();
                var t0 = process.TotalProcessorTime;
                for (int i = 0; i < reps; i++) CausalMonarch.ForwardFast(plan, u, k);
                process.Refresh();
                best = Math.Min(best, (process.TotalProcessorTime - t0).TotalMilliseconds / reps);
            }
            times.Add(best);
            var expected = new double[n];
            if (n <= 4096)
            {
                var t = CausalMonarch.MaterializeDigitwise(b, 2, k.Data, n);
                for (int i = 0; i < n; i++)
                {
                    double acc = 0.0;
                    for (int j = 0; j <= i; j++) acc += t.Data[(long)i * n + j] * u.Data[j];
                    expected[i] = acc;
                }
            }
            else
            {
                expected = CausalMonarch.DigitwiseConvolution(b, 2, k.Data, u.Data);
            }
            double rel = Metrics.RelativeError(expected, y.Data);
            Console.WriteLine(string.Format(ci, "| {0} | {1} | {2:F3} | {3:F3} | {4:F1} | {5:E1}{6} |", n, b, best, best / Math.Pow(n, 1.5) * 1e6,
                Flops(n) / (best * 1e6), rel, n <= 4096 ? "" : " (closed-form sum)"));
        }
        // Least-squares slope of log time against log N.
        double mx = sizes.Average(s => Math.Log(s)), my = times.Average(Math.Log);
        double num = sizes.Zip(times, (s, t) => (Math.Log(s) - mx) * (Math.Log(t) - my)).Sum();
        double den = sizes.Sum(s => (Math.Log(s) - mx) * (Math.Log(s) - mx));
        Console.WriteLine(string.Format(ci, "fitted exponent of CPU time vs N: {0:F2} (N^(3/2) predicts 1.50)", num / den));
    }
}
