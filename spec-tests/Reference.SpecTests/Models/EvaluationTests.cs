using Reference.Autodiff;
using Reference.Core;
using Reference.Models;

namespace Reference.SpecTests.Models;

/// <summary>
/// Trainer.Evaluate applies the head at the scored positions only (BackboneModel.LogitsAt); its definition
/// is TaskMetrics over the full logits [B T, V] of every batch, unscored rows ignored. The two must give
/// the same micro and macro accuracy, scored count and loss.
/// </summary>
public sealed class EvaluationTests
{
    private const string Attention = """{"width": 16, "depth": 2, "block": {"mixer": {"operator": "attention.softmax", "heads": 2}, "channel_mixer": {"kind": "swiglu", "inner": 24}}}""";

    /// <summary>The definition: every batch's full logits into TaskMetrics.</summary>
    private static TaskMetrics FullLogits(BackboneModel model, SyntheticSplit split, int batch)
    {
        var metrics = new TaskMetrics(split.Vocabulary);
        using var noGrad = Tape.NoGrad();
        for (int start = 0; start < split.Count; start += batch)
        {
            int count = Math.Min(batch, split.Count - start);
            var (inputs, targets) = split.Batch(start, count);
            metrics.Add(model.Logits(inputs, count, split.Length).Value.Data, targets);
        }
        return metrics;
    }

    private static void AssertSame(TaskMetrics expected, TaskMetrics actual)
    {
        Assert.Equal(expected.Scored, actual.Scored);
        Assert.Equal(expected.Accuracy, actual.Accuracy);
        Assert.Equal(expected.MacroAccuracy, actual.MacroAccuracy);
        Assert.True(Math.Abs(expected.Loss - actual.Loss) <= 1e-12 * Math.Abs(expected.Loss), $"loss {expected.Loss} vs {actual.Loss}");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Property_EvaluateAtScoredPositionsEqualsTheFullLogits_Mqar(bool fast)
    {
        // MQAR scores a few query positions per sequence: the case the restriction is for.
        var task = new MqarTask(vocabulary: 20, length: 16, pairs: 3) { TrainCount = 1, TestCount = 43 };
        var (_, test) = task.Generate(5);
        Assert.Contains(SyntheticTask.IgnoreIndex, test.Targets);
        var model = BackboneModel.Create(ModelSpec.Parse(Attention), task.Vocabulary, task.InputLength, 9);
        using var tier = fast ? Tape.UseFastKernels() : default;
        var expected = FullLogits(model, test, 8);
        Assert.InRange(expected.Accuracy, 1e-9, 1 - 1e-9);   // a small vocabulary: the untrained model hits some and misses some, so argmax is compared
        AssertSame(expected, Trainer.Evaluate(model, test, 8));
    }

    [Fact]
    public void Property_EvaluateAtScoredPositionsEqualsTheFullLogits_UnscoredAndFullyScoredBatches()
    {
        // Batches of 4 over 10 sequences: the first with no scored target (TaskMetrics counts no batch),
        // the second partly scored, the last (2 sequences) scored everywhere (the full-logits branch).
        const int count = 10, length = 12, vocabulary = 11;
        var rng = new SplitMix64(21);
        var inputs = Enumerable.Range(0, count * length).Select(_ => rng.NextInt(vocabulary)).ToArray();
        var targets = Enumerable.Range(0, count * length).Select(i =>
            i < 4 * length || (i < 8 * length && i % 3 != 0) ? SyntheticTask.IgnoreIndex : rng.NextInt(vocabulary)).ToArray();
        var split = new SyntheticSplit(inputs, targets, count, length, vocabulary);
        var model = BackboneModel.Create(ModelSpec.Parse(Attention), vocabulary, length, 4);
        var expected = FullLogits(model, split, 4);
        Assert.Equal(4 * length / 3 + 2 * length, expected.Scored);
        AssertSame(expected, Trainer.Evaluate(model, split, 4));
    }
}
