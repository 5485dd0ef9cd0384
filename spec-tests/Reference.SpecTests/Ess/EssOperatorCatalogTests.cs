using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Ess;
using Reference.Operators;

namespace Reference.SpecTests.Ess;

/// <summary>
/// The ESS catalog is glue between the registry and the metric: which operators it offers, that an
/// instance is exactly the descriptor's sample, materialization, realization and TSS formula, the
/// bounds it enforces, and the summaries of a profile, each pinned on values computed here.
/// </summary>
public class EssOperatorCatalogTests
{
    [Fact]
    public void Names_AreExactlyTheCausalOperatorsWithSampleMaterializeAndTss()
    {
        var expected = OperatorRegistry.All
            .Where(d => d.Causal && d.Sample is not null && d.Materialize is not null && d.TotalStateSize is not null)
            .Select(d => d.Name).ToArray();
        Assert.Equal(expected, EssOperatorCatalog.Names);
        // Every family with an operator view is offered; the bidirectional convolution (not causal) is not.
        Assert.Contains("conv.causal", EssOperatorCatalog.Names);
        Assert.Contains("recurrence.gla", EssOperatorCatalog.Names);
        Assert.Contains("attention.softmax", EssOperatorCatalog.Names);
        Assert.Contains("ssm.s4d", EssOperatorCatalog.Names);
        Assert.DoesNotContain("conv.bidirectional", EssOperatorCatalog.Names);
        Assert.All(OperatorRegistry.All.Where(d => !d.Causal), d => Assert.DoesNotContain(d.Name, EssOperatorCatalog.Names));
    }

    public static TheoryData<string> CatalogNames => [.. EssOperatorCatalog.Names];

    [Theory]
    [MemberData(nameof(CatalogNames))]
    public void Create_IsTheDescriptorsSampleMaterializationRealizationAndTss(string name)
    {
        var options = new SampleOptions(7, 2, 11, Taps: 3, State: 4, Heads: 2, KeyDim: 3);
        var instance = EssOperatorCatalog.Create(name, options);
        var d = OperatorRegistry.Get(name);
        var sample = d.Sample!(options);
        var matrices = d.Materialize!(sample.Params, sample.Inputs);

        Assert.Equal(name, instance.Operator);
        Assert.Equal(matrices.ShapeArray, instance.Matrices.ShapeArray);
        Assert.Equal(matrices.Data, instance.Matrices.Data);
        Assert.Equal(7, instance.Matrices.Dim(-1));
        Assert.Equal(d.Realize is null, instance.Realizations is null);
        if (d.Realize is not null)
            Assert.Equal(d.Realize(sample.Params, sample.Inputs).Count, instance.Realizations!.Count);
        for (int s = 0; s <= 7; s++)
            Assert.Equal(d.TotalStateSize!(sample.Params, s, 7), instance.Capacity(s));
        Assert.Equal(sample.Params.Select(p => p.Key).Order(), instance.Parameters.Keys.Order());
    }

    [Fact]
    public void Create_ReportsParametersAsPlainValues()
    {
        var instance = EssOperatorCatalog.Create("ssm.s4d", new SampleOptions(6, 2, 3, State: 4, Discretization: "bilinear"));
        var d = OperatorRegistry.Get("ssm.s4d");
        var json = d.Sample!(new SampleOptions(6, 2, 3, State: 4, Discretization: "bilinear")).Params;
        foreach (var (key, node) in json)
        {
            object value = instance.Parameters[key];
            switch (node)
            {
                case JsonValue v when v.TryGetValue<int>(out var i): Assert.Equal(i, Assert.IsType<int>(value)); break;
                case JsonValue v when v.TryGetValue<double>(out var x): Assert.Equal(x, Assert.IsType<double>(value)); break;
                case JsonValue v when v.TryGetValue<bool>(out var b): Assert.Equal(b, Assert.IsType<bool>(value)); break;
                case JsonValue v when v.TryGetValue<string>(out var t): Assert.Equal(t, Assert.IsType<string>(value)); break;
                default: Assert.Equal(node?.ToJsonString() ?? "null", Assert.IsType<string>(value)); break;
            }
        }
        Assert.Contains(instance.Parameters.Values, v => v is string);
    }

    [Fact]
    public void Create_AcceptsTheSmallestValidSizesAndRejectsBelow()
    {
        // Length 2 is the smallest with a split (s = 1); one channel is enough.
        var smallest = EssOperatorCatalog.Create("conv.causal", new SampleOptions(2, 1, 0, Taps: 2));
        Assert.Equal([1, 2, 2], smallest.Matrices.ShapeArray);

        var shortLength = Assert.Throws<ArgumentOutOfRangeException>(() => EssOperatorCatalog.Create("conv.causal", new SampleOptions(1, 1)));
        Assert.Equal("options", shortLength.ParamName);
        Assert.Contains("Length = 1", shortLength.Message);
        var noChannels = Assert.Throws<ArgumentOutOfRangeException>(() => EssOperatorCatalog.Create("conv.causal", new SampleOptions(4, 0)));
        Assert.Equal("options", noChannels.ParamName);
        Assert.Contains("Channels = 0", noChannels.Message);
        Assert.Throws<ArgumentNullException>(() => EssOperatorCatalog.Create("conv.causal", null!));
        var unknown = Assert.Throws<ArgumentException>(() => EssOperatorCatalog.Create("conv.bidirectional", new SampleOptions(4)));
        Assert.Equal("name", unknown.ParamName);
        Assert.Contains("conv.causal", unknown.Message);
    }

    [Fact]
    public void Of_UsesTheGivenSplitsAndTheFactoredPathExactlyWhenThereAreRealizations()
    {
        var s4d = EssOperatorCatalog.Create("ssm.s4d", new SampleOptions(9, 2, 5, State: 4));
        var factored = EssProfile.Of(s4d, EssOptions.Default, [2, 5]);
        Assert.True(factored.Factored);
        Assert.Equal([2, 5], factored.Splits);
        Assert.Equal([2, 2], factored.PerChannel.ShapeArray);
        var dense = EffectiveStateSize.Compute(s4d.Matrices, EssOptions.Default, [2, 5]);
        Assert.True(Metrics.RelativeError(dense.Data, factored.PerChannel.Data) <= 1e-9);
        Assert.Equal([s4d.Capacity(2), s4d.Capacity(5)], factored.Capacity);
        Assert.Equal([(dense[0, 0] + dense[1, 0]) / 2, (dense[0, 1] + dense[1, 1]) / 2], factored.Mean, (a, b) => Math.Abs(a - b) <= 1e-9);

        var conv = EssOperatorCatalog.Create("conv.causal", new SampleOptions(9, 2, 5, Taps: 3));
        var all = EssProfile.Of(conv, EssOptions.Default);
        Assert.False(all.Factored);
        Assert.Equal(EffectiveStateSize.AllSplits(9), all.Splits);
        Assert.Throws<ArgumentNullException>(() => EssProfile.Of(null!, EssOptions.Default));
    }

    [Fact]
    public void Summaries_ArePinnedOnAHandMadeProfile()
    {
        // Two channels, three splits; capacity 0 at the last split (skipped by the utilization).
        var perChannel = new Tensor<double>([1, 2, 5, 3, 4, 1], 2, 3);
        var profile = new EssProfile([1, 2, 3], perChannel, [2, 3, 3], [4, 6, 0], false);
        Assert.Equal((2 + 3 + 3) / 3.0, profile.MeanEss, 12);
        Assert.Equal(5, profile.MaxEss);
        Assert.Equal((2 / 4.0 + 3 / 6.0) / 2, profile.Utilization, 12);

        var empty = new EssProfile([], Tensor<double>.Zeros(2, 0), [], [], false);
        Assert.Equal(0, empty.MeanEss);
        Assert.Equal(0, empty.MaxEss);
        Assert.Equal(0, empty.Utilization);
        var noCapacity = new EssProfile([1], new Tensor<double>([1.0, 2.0], 2, 1), [1.5], [0], false);
        Assert.Equal(0, noCapacity.Utilization);
        // Negative ESS never occurs, but the max must still be the max, not a clamp at zero.
        Assert.Equal(-1, new EssProfile([1], new Tensor<double>([-3.0, -1.0], 2, 1), [-2], [1], false).MaxEss);
    }
}
