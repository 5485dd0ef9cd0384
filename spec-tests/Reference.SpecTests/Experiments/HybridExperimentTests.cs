using Reference.Autodiff;
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

    [Theory]
    [InlineData(-1)]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Property_AblatedMetricsAtTheScoredRowsEqualTheFullLogitsDefinition(int skipped)
    {
        // The definition: the ablated residual stream's full logits [B T, V] of every batch into TaskMetrics (unscored rows
        // ignored there); AblatedMetrics applies the head at the scored rows only. Same micro and macro accuracy and
        // scored count, loss to float64 reassociation. Batch 48 does not divide the 256 test sequences (a short last batch).
        var settings = HybridSettings.Small;
        var (_, test) = settings.Task().Generate(3);
        Assert.Contains(SyntheticTask.IgnoreIndex, test.Targets);
        var model = BackboneModel.Create(settings.Model(), settings.Vocabulary, settings.Length - 1, 4);
        const int batch = 48;
        var expected = new TaskMetrics(test.Vocabulary);
        using (Tape.UseFastKernels())
        using (Tape.NoGrad())
        {
            for (int start = 0; start < test.Count; start += batch)
            {
                int count = Math.Min(batch, test.Count - start);
                var (inputs, targets) = test.Batch(start, count);
                var x = Ops.Embedding(model.Embedding, inputs, count, test.Length);
                for (int i = 0; i < model.Blocks.Count; i++)
                {
                    var block = model.Blocks[i];
                    if (block.Mixer is not null && i != skipped) x = x + block.Mixer.Forward(block.MixerNorm!.Forward(x));
                    if (block.Channel is not null) x = x + block.Channel.Forward(block.ChannelNorm!.Forward(x));
                }
                var h = Ops.Reshape(model.FinalNorm.Forward(x), count * test.Length, model.Spec.Width);
                expected.Add(Ops.MatMul(h, model.Head, transB: true).Value.Data, targets);
            }
        }
        var actual = Hybrid.AblatedMetrics(model, test, skipped, batch);
        Assert.True(expected.Accuracy > 0 && expected.Accuracy < 1, $"accuracy {expected.Accuracy}: the comparison needs some right and some wrong rows");
        Assert.Equal(expected.Scored, actual.Scored);
        Assert.Equal(expected.Accuracy, actual.Accuracy);
        Assert.Equal(expected.MacroAccuracy, actual.MacroAccuracy);
        Assert.Equal(expected.Loss, actual.Loss, 1e-12);
        Assert.Equal(actual.Accuracy, Hybrid.AblatedAccuracy(model, test, skipped, batch));
    }
}
