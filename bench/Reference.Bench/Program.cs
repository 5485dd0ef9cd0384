using BenchmarkDotNet.Running;

namespace Reference.Bench;

/// <summary>
/// Benchmarks: `dotnet run -c Release --project bench/Reference.Bench -- --filter '*'`
/// (BenchmarkSwitcher; pick classes with --filter, e.g. '*Gemm*').
/// </summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
