using Reference.Golden;
using Reference.Operators;

namespace Reference.SpecTests.Operators.Connectomics;

/// <summary>
/// The registry's gradient check runs each op's smallest case, which for these multi-kind ops is a
/// degenerate one (a 1 x 1 mean, a one-entry entropy, a T = 1 filter). Here every case of every kind
/// is checked: the tape adapter's hand-written VJPs against central finite differences.
/// </summary>
public class ConnectomicsRegistryGradientTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var name in new[]
                 {
                     "connectomics.precision", "connectomics.spd_projection", "connectomics.cone_projection", "connectomics.spd_mean",
                     "connectomics.product_filter", "connectomics.modularity", "connectomics.loss",
                     "connectomics.paired_covariance", "connectomics.conditional_covariance",
                 })
            foreach (var c in OperatorRegistry.Get(name).Cases) data.Add(name, c.Id);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Property_EveryCase_AdapterGradientsMatchFiniteDifferences(string name, string caseId)
    {
        var d = OperatorRegistry.Get(name);
        var c = d.Cases.Single(x => x.Id == caseId);
        var result = OperatorConformance.GradientCheck(d, c);
        Assert.True(result.Passed, $"{name}/{caseId}: {result}");
    }
}
