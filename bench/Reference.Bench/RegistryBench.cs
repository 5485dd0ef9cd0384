using BenchmarkDotNet.Attributes;
using Reference.Core.Conformance;
using Reference.Operators;

namespace Reference.Bench;

/// <summary>
/// Every registered operator on its demo case, read from the registry: the naive float64
/// definition (baseline) against the fast tier at float64 and float32, through the descriptors'
/// named-array entry points (so the conversion of the inputs is inside the timing for both tiers).
/// Operators without a fast tier report the definition alone. A new operator appears here without
/// touching this file; the per-operator benches (SelectiveScanBench, GlaBench, ...) time the typed
/// entry points at the sizes of the papers.
/// </summary>
[MemoryDiagnoser]
public class RegistryBench
{
    private OperatorDescriptor descriptor = null!;
    private ConformanceCase demoCase = null!;
    private NamedArrays inputs = null!;

    public static IEnumerable<string> Operators => OperatorRegistry.Names;

    [ParamsSource(nameof(Operators))]
    public string Operator { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        descriptor = OperatorRegistry.Get(Operator);
        demoCase = descriptor.DemoCaseSpec;
        inputs = descriptor.InputsOf(demoCase);
    }

    [Benchmark(Baseline = true)]
    public NamedArrays Naive() => descriptor.Naive(demoCase.Params, inputs);

    [Benchmark]
    public NamedArrays? Fast64() => descriptor.Fast?.Invoke(demoCase.Params, inputs, Precision.Float64);

    [Benchmark]
    public NamedArrays? Fast32() => descriptor.Fast?.Invoke(demoCase.Params, inputs, Precision.Float32);
}
