using System.Globalization;
using Reference.Models;

namespace Reference.SpecTests.Cli;

public class ToyCliTests
{
    [Fact]
    public void Toy_ReportsTheLibraryRunForTheSameOptions()
    {
        // A short run (the wiring, not the learning: the Models tests train to full accuracy). The
        // verb maps --seed s to model seed s and data seed s + 1000 on top of the small preset.
        var (code, output, error) = CliRunner.Run("toy", "--task", "recall", "--seed", "4", "--steps", "8", "--train", "100",
            "--test", "40", "--eval-every", "4");
        Assert.True(code == 0, error);
        var expected = H3ToyTraining.Train(ToyTrainingOptions.Small(H3Task.AssociativeRecall) with
        {
            Steps = 8, TrainCount = 100, TestCount = 40, ModelSeed = 4, DataSeed = 1004, EvaluateEvery = 4,
        });
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains(lines, l => l.StartsWith("task recall (small preset): V 12, L 8, train 100, test 40, data seed 1004", StringComparison.Ordinal));
        foreach (var point in expected.Curve)
            Assert.Contains(lines, l => l.StartsWith(string.Create(CultureInfo.InvariantCulture,
                $"{point.Step,4} {point.Loss,9:F4} {point.TestAccuracy,9:F3}").Trim(), StringComparison.Ordinal));
        Assert.Equal(string.Create(CultureInfo.InvariantCulture,
            $"test accuracy {expected.TestAccuracy:F3} (untrained {expected.InitialAccuracy:F3}, chance 0.200) on 40 held-out sequences"), lines[^1]);
    }

    [Theory]
    [InlineData("--task", "copy")]
    [InlineData("--task", "induction", "--preset", "large")]
    [InlineData("--task", "induction", "--mixer", "attention")]
    [InlineData("--task", "induction", "--state", "7")]
    public void Toy_RejectsBadArgumentsWithUsageExitCode(params string[] args)
    {
        var (code, _, error) = CliRunner.Run(["toy", .. args]);
        Assert.Equal(2, code);
        Assert.False(string.IsNullOrWhiteSpace(error));
    }
}
