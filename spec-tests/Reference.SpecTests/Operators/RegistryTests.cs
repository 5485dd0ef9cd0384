using System.Reflection;
using System.Text.RegularExpressions;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Golden;
using Reference.Operators;
using Reference.SpecTests.Golden;

namespace Reference.SpecTests.Operators;

/// <summary>
/// The registry is the one list of operators: each registered operator must be complete everywhere
/// the project promises (golden cases committed, a numpy-backend function, the ESS view, gradients on
/// the tape, the demo), or say why not; and every representation of it must equal its definition on
/// its own conformance cases (<see cref="OperatorConformance"/>, the same checks the demo prints).
/// </summary>
public class RegistryTests
{
    /// <summary>The capabilities a descriptor states as present or explains in Without.</summary>
    private static readonly string[] Capabilities = ["fast", "forms", "materialize", "realize", "step", "autodiff", "golden", "ess"];

    public static TheoryData<string> Names => [.. OperatorRegistry.Names];

    [Fact]
    public void Registry_ListsOperatorsOfEveryFamily()
    {
        var families = OperatorRegistry.Names.Select(n => n[..n.IndexOf('.')]).Distinct().ToArray();
        Assert.Contains("recurrence", families);
        Assert.All(OperatorRegistry.Names, n => Assert.Matches(@"^[a-z0-9_]+\.[a-z0-9_]+$", n));
    }

    [Fact]
    public void Registry_EveryOperatorClassHasADescriptor()
    {
        // An operator class is a public static class of Reference.Operators with a public static
        // Materialize: the operator view every registered operator gives. A new one must register.
        var registered = OperatorRegistry.DeclaringTypes.Values.ToHashSet();
        var operators = typeof(OperatorRegistry).Assembly.GetTypes()
            .Where(t => t is { IsPublic: true, IsAbstract: true, IsSealed: true })
            .Where(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static).Any(m => m.Name == "Materialize"));
        Assert.All(operators, t => Assert.True(registered.Contains(t), $"{t.FullName} has a Materialize but no registered Descriptor"));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Registry_DescriptorStatesEveryCapabilityOrWhyNot(string name)
    {
        var d = OperatorRegistry.Get(name);
        Assert.False(string.IsNullOrWhiteSpace(d.Summary));
        Assert.NotEmpty(d.Parameters);
        Assert.NotEmpty(d.Inputs);
        Assert.NotEmpty(d.Outputs);
        Assert.True(File.Exists(Path.Combine(GoldenFixture.RepoRoot, d.File)), $"{name}: File = {d.File} does not exist");
        Assert.All(d.Without.Keys, k => Assert.Contains(k, Capabilities));
        var present = new Dictionary<string, bool>
        {
            ["fast"] = d.Fast is not null && d.FastEntry is not null,
            ["forms"] = d.Forms.Count > 0,
            ["materialize"] = d.Materialize is not null && d.MaterializeEntry is not null,
            ["realize"] = d.Realize is not null && d.RealizeEntry is not null,
            ["step"] = d.StepEntry is not null && d.State is not null,
            ["autodiff"] = d.Autodiff is not null && d.AutodiffEntry is not null && d.Differentiable.Count > 0,
            ["golden"] = d.Cases.Count > 0,
            ["ess"] = d.Materialize is not null && d.Sample is not null && d.TotalStateSize is not null && d.TotalStateSizeFormula is not null,
        };
        foreach (var capability in Capabilities)
            Assert.True(present[capability] ^ d.Without.ContainsKey(capability),
                present[capability]
                    ? $"{name} has {capability} and also explains why it has none"
                    : $"{name} lacks {capability} and does not say why (OperatorDescriptor.Without[\"{capability}\"])");
        Assert.All(d.Differentiable, input => Assert.Contains(input, d.Inputs.Select(i => i.Name)));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Registry_CasesDrawTheDeclaredInputsAndTheDefinitionReturnsTheDeclaredOutputs(string name)
    {
        var d = OperatorRegistry.Get(name);
        var declared = d.Inputs.Select(i => i.Name).ToHashSet();
        var required = d.Inputs.Where(i => !i.Optional).Select(i => i.Name);
        foreach (var c in d.Cases)
        {
            var x = d.InputsOf(c);
            Assert.All(x.Keys, k => Assert.True(declared.Contains(k), $"{name}/{c.Id} draws '{k}', which Inputs does not declare"));
            Assert.All(required, k => Assert.True(x.ContainsKey(k), $"{name}/{c.Id} lacks the required input '{k}'"));
            // An optional output (e.g. attention's row statistics) appears only in the cases that ask for it.
            var produced = d.Naive(c.Params, x).Keys.ToList();
            Assert.Equal(d.Outputs.Where(o => !o.Optional || produced.Contains(o.Name)).Select(o => o.Name), produced);
            Assert.All(d.Parameters.Where(p => p.Default == "-"), p =>
                Assert.True(c.Params.ContainsKey(p.Name), $"{name}/{c.Id} lacks the parameter '{p.Name}', which has no default"));
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Property_EveryRepresentationEqualsTheDefinitionOnEveryCase(string name)
    {
        var d = OperatorRegistry.Get(name);
        foreach (var c in d.Cases)
            foreach (var check in OperatorConformance.Check(d, c))
                Assert.True(check.Passed, $"{name}/{c.Id} {check.Form}: {string.Join("; ", check.Comparisons)}");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Property_AdapterGradientsMatchFiniteDifferences(string name)
    {
        var d = OperatorRegistry.Get(name);
        if (d.Autodiff is null) return; // Registry_DescriptorStatesEveryCapabilityOrWhyNot holds it to Without["autodiff"]
        var c = OperatorConformance.SmallestCase(d);
        var result = OperatorConformance.GradientCheck(d, c);
        Assert.True(result.Passed, $"{name}/{c.Id}: {result}");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Property_SampleMaterializesOneOperatorPerChannelAndItsRealizationsAgree(string name)
    {
        var d = OperatorRegistry.Get(name);
        if (d.Sample is null || d.Materialize is null) return; // held to Without["ess"] above
        var sample = d.Sample(new SampleOptions(Length: 12, Channels: 3, Seed: 5, Taps: 3, State: 4, Heads: 2, KeyDim: 4));
        var t = d.Materialize(sample.Params, sample.Inputs);
        Assert.Equal(3, t.Rank);
        Assert.Equal(12, t.Dim(1));
        Assert.Equal(12, t.Dim(2));
        for (int ch = 0; ch < t.Dim(0) && d.Causal; ch++)
            for (int i = 0; i < 12; i++)
                for (int j = i + 1; j < 12; j++)
                    Assert.True(t[ch, i, j] == 0, $"{name}: T[{ch}, {i}, {j}] = {t[ch, i, j]} above the diagonal (a causal operator)");
        for (int s = 1; s < 12; s++)
        {
            double tss = d.TotalStateSize!(sample.Params, s, 12);
            Assert.True(double.IsFinite(tss) && tss >= 0, $"{name}: TSS({s}) = {tss}");
        }
        if (d.Realize is not null)
        {
            var check = OperatorConformance.RealizationAgainstMatrix(t, d.Realize(sample.Params, sample.Inputs));
            Assert.True(check.Passed, $"{name}: {string.Join("; ", check.Comparisons)}");
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Golden_EveryCaseIsCommittedAndTheNumpyBackendImplementsTheOp(string name)
    {
        var d = OperatorRegistry.Get(name);
        foreach (var c in d.Cases)
            Assert.True(File.Exists(Path.Combine(GoldenFixture.Committed, d.Name, c.Id, "manifest.json")),
                $"{name}/{c.Id} is not committed under golden/ (reference golden regen)");
        string backend = File.ReadAllText(Path.Combine(GoldenFixture.Committed, "numpy_backend.py"));
        Assert.True(d.Cases.Count == 0 || Regex.IsMatch(backend, $"\"{Regex.Escape(name)}\"\\s*:"),
            $"golden/numpy_backend.py has no entry \"{name}\": in OPS");
    }
}
