using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Reference.Bench;

/// <summary>
/// Work done by one invocation of a benchmark, so that mean times become rates (GFLOP/s, GB/s).
/// Benchmarks that report a rate implement this on their class; the columns read the parameter
/// values of the case from BenchmarkDotNet and ask a fresh instance.
/// </summary>
public interface IWorkload
{
    /// <summary>Floating-point operations (unit "GFLOP/s") or bytes moved (unit "GB/s") by one call of <paramref name="method"/>.</summary>
    double Work(string method);

    /// <summary>"GFLOP/s" or "GB/s" for <paramref name="method"/>.</summary>
    string Unit(string method);

    /// <summary>For a GEMM-like method: the name of the FMA-peak benchmark (same precision) it is compared with, else null.</summary>
    string? PeakMethod(string method);

    /// <summary>Threads used by the case (to pair it with the peak measured on as many threads).</summary>
    int Threads { get; }
}

/// <summary>Rate = work / mean time, and the fraction of the same-run FMA peak on as many threads.</summary>
public sealed class RateColumn(bool peakFraction) : IColumn
{
    public string Id => peakFraction ? "PeakFraction" : "Rate";
    public string ColumnName => peakFraction ? "Of peak" : "Rate";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => peakFraction ? 1 : 0;
    public bool IsNumeric => false;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => peakFraction
        ? "Rate / FMA peak of the same precision and thread count measured in the same run (needs --join with *MachineLimits*)"
        : "Work per call / mean time: GFLOP/s (2 per FMA) or GB/s (STREAM counting: bytes read + written, no write-allocate)";

    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var (rate, unit, workload) = Rate(summary, benchmarkCase);
        if (rate is null || workload is null) return "-";
        if (!peakFraction) return $"{rate.Value:F1} {unit}";
        string? peakName = workload.PeakMethod(benchmarkCase.Descriptor.WorkloadMethod.Name);
        if (peakName is null) return "-";
        foreach (var other in summary.BenchmarksCases)
        {
            if (other.Descriptor.WorkloadMethod.Name != peakName) continue;
            var (peak, _, peakWorkload) = Rate(summary, other);
            if (peak is > 0 && peakWorkload is not null && peakWorkload.Threads == workload.Threads)
                return $"{100 * rate.Value / peak.Value:F0} %";
        }
        return "no peak";
    }

    private static (double? Rate, string Unit, IWorkload? Workload) Rate(Summary summary, BenchmarkCase benchmarkCase)
    {
        var workload = Instantiate(benchmarkCase);
        var mean = summary[benchmarkCase]?.ResultStatistics?.Mean;
        if (workload is null || mean is null or <= 0) return (null, "", workload);
        string method = benchmarkCase.Descriptor.WorkloadMethod.Name;
        double work = workload.Work(method);
        if (work <= 0) return (null, "", workload);
        return (work / mean.Value, workload.Unit(method), workload); // work per ns = G per s
    }

    /// <summary>A fresh instance of the benchmark class with the case's [Params] values assigned.</summary>
    private static IWorkload? Instantiate(BenchmarkCase benchmarkCase)
    {
        var type = benchmarkCase.Descriptor.Type;
        if (!typeof(IWorkload).IsAssignableFrom(type)) return null;
        var instance = (IWorkload)Activator.CreateInstance(type)!;
        foreach (var parameter in benchmarkCase.Parameters.Items)
        {
            var property = type.GetProperty(parameter.Name);
            if (property is not null) property.SetValue(instance, parameter.Value);
            else type.GetField(parameter.Name)?.SetValue(instance, parameter.Value);
        }
        return instance;
    }
}

/// <summary>Config shared by the rate benchmarks: memory diagnoser plus the rate and peak-fraction columns.</summary>
public sealed class ThroughputConfig : ManualConfig
{
    public ThroughputConfig()
    {
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(new RateColumn(peakFraction: false), new RateColumn(peakFraction: true));
    }
}
