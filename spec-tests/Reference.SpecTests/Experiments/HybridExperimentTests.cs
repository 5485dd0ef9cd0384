using Reference.Experiments;
using Reference.Models;

namespace Reference.SpecTests.Experiments;

public sealed class HybridExperimentTests
{
    [Fact]
    public void Property_SmallPresetAtATinyBudgetKeepsItsInvariants()
    {
        var settings = HybridSettings.Small.Scaled(0.01);
        var outcome = Hybrid.Run(settings, [1UL, 2UL], threads: 2, progress: null, TestContext.Current.CancellationToken);
        Assert.Equal(2 * settings.Layers.Count, outcome.Layers.Count);
        Assert.True(outcome.BoundExcess <= 1e-9, $"ESS exceeds TSS by {outcome.BoundExcess}");
        Assert.True(outcome.MinimumEss >= 0);
        foreach (var layer in outcome.Layers)
        {
            Assert.InRange(layer.Ess, 0, layer.Tss);
            Assert.InRange(layer.Utilization, 0, 1);
            Assert.Equal(settings.Length - 2, layer.PerPosition.Length);
            Assert.All(layer.PerPosition, v => Assert.True(double.IsFinite(v) && v >= 0));
            Assert.InRange(layer.AblationCost, -1, 1);
        }
    }

    [Fact]
    public void Property_AblatingNothingReproducesTheModelsAccuracy()
    {
        // Skipping an index that is no block runs the same residual stream as BackboneModel.Logits.
        var settings = HybridSettings.Small;
        var (_, test) = settings.Task().Generate(3);
        var model = BackboneModel.Create(settings.Model(), settings.Vocabulary, settings.Length - 1, 4);
        Assert.Equal(ExperimentFit.Accuracy(model, test), Hybrid.AblatedAccuracy(model, test, skipped: -1), 12);
    }
}
