using Reference.Models;

namespace Reference.SpecTests.Models;

/// <summary>
/// The H3 paper's synthetic tasks (arXiv:2212.14052 Sec. 3.1, Table 1) solved by a small trained H3
/// language model: seeded data, seeded model, stated held-out accuracy. Two controls keep the
/// accuracy honest: the untrained model is at or below chance (the accuracy comes from training),
/// and the same training without a sequence mixer stays at chance (it comes from H3's token mixing,
/// not from the MLPs memorizing the training set).
/// CI settings are scaled down from the paper's (V 20, L 30/40, N 64, 5,000 sequences x 400 epochs on
/// a GPU) to fit the float64 CPU tape (<see cref="ToyTrainingOptions.Small"/>: V 12, L 16 / 8, N 8,
/// loss at the answer only, a few hundred steps). The paper-sized runs are
/// explicit (run with -explicit only -method '*PaperData*').
/// </summary>
public class H3ToyTrainingTests(ITestOutputHelper output)
{
    /// <summary>CI induction head (<see cref="ToyTrainingOptions.Small"/>): measured test accuracy 1.000 after 400 steps (untrained 0.043, chance 0.100; seeds s = 2, 3, 4, 5 (model s, data s + 1000) also 1.000).</summary>
    private static readonly ToyTrainingOptions Induction = ToyTrainingOptions.Small(H3Task.InductionHead) with { DataSeed = 1001, ModelSeed = 1 };

    /// <summary>CI associative recall (<see cref="ToyTrainingOptions.Small"/>): measured test accuracy 0.990 after 600 steps (untrained 0.047, chance 0.200; seeds s = 2, 3 (model s, data s + 1000): 1.000, 0.983).</summary>
    private static readonly ToyTrainingOptions Recall = ToyTrainingOptions.Small(H3Task.AssociativeRecall) with { DataSeed = 1001, ModelSeed = 1 };

    [Fact]
    public void Property_TinyH3_SolvesInductionHead()
    {
        var result = Train(Induction);
        Assert.True(result.InitialAccuracy <= result.Chance + 0.05, $"untrained accuracy {result.InitialAccuracy:F3} is above chance {result.Chance:F3}");
        Assert.True(result.TestAccuracy >= 0.95, $"test accuracy {result.TestAccuracy:F3} < 0.95");
    }

    [Fact]
    public void Property_TinyH3_SolvesAssociativeRecall()
    {
        var result = Train(Recall);
        Assert.True(result.InitialAccuracy <= result.Chance + 0.05, $"untrained accuracy {result.InitialAccuracy:F3} is above chance {result.Chance:F3}");
        Assert.True(result.TestAccuracy >= 0.95, $"test accuracy {result.TestAccuracy:F3} < 0.95");
    }

    [Fact]
    public void Negative_WithoutMixer_InductionHeadStaysAtChance()
    {
        // The answer is the token after the first "=>": without token mixing the last position sees
        // only "=>" itself, so no amount of training beats 1/n (here 0.100) beyond sampling noise.
        var result = Train(Induction with { Mixer = ToyMixer.None });
        Assert.True(result.TestAccuracy <= result.Chance + 0.06, $"mixer-less accuracy {result.TestAccuracy:F3} is above chance {result.Chance:F3}");
    }

    [Fact]
    public void Negative_InvalidTrainingOptionsNameTheArgument()
    {
        var o = ToyTrainingOptions.Small(H3Task.InductionHead);
        Assert.Equal("o", Assert.Throws<ArgumentOutOfRangeException>(() => H3ToyTraining.Train(o with { Steps = -1 })).ParamName);
        Assert.Equal("o", Assert.Throws<ArgumentOutOfRangeException>(() => H3ToyTraining.Train(o with { TrainCount = 16 })).ParamName);
        Assert.Equal("o", Assert.Throws<ArgumentOutOfRangeException>(() => H3ToyTraining.Train(o with { WarmupFraction = 1.5 })).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => H3ToyTraining.Train(o with { StateSize = 7 })).ParamName);
    }

    [Fact(Explicit = true)]
    public void Property_PaperData_InductionHead()
    {
        // The paper's data (V 20, L 30, 5,000 / 500 sequences) and model size (D 32, 2 blocks, N 64,
        // hd 1) with the small preset's recipe (init std 0.1, loss at the answer, AdamW 3e-3, no
        // weight decay). Measured: test accuracy 1.000 from step 600 on (0.998 at 500, 0.704 at 400;
        // untrained 0.040, chance 0.056), ~6 min on the 2-core VM under heavy load.
        var result = Train(ToyTrainingOptions.Small(H3Task.InductionHead) with
        {
            Vocabulary = 20, Length = 30, StateSize = 64, TestCount = 500, Steps = 1000, DataSeed = 1001, ModelSeed = 1, EvaluateEvery = 100,
        });
        Assert.True(result.TestAccuracy >= 0.95, $"test accuracy {result.TestAccuracy:F3} < 0.95");
    }

    [Fact(Explicit = true)]
    public void Property_PaperData_AssociativeRecall()
    {
        // The paper's data layout (V 20: 9 keys, 9 values; L 40: 20 pairs; 500 test sequences) and
        // model size (D 32, 2 blocks, N 64) with the small preset's recipe (hd 4, init std 0.1, loss at
        // the answer, AdamW 3e-3, no weight decay), 20,000 training sequences and 3,000 steps.
        // Measured: test accuracy 0.920 (0.854 at step 750, 0.914 at 2,000; untrained 0.054, chance
        // 0.111), ~22 min on the 2-core VM under heavy load. With the paper's 5,000 sequences and
        // 1,500 steps: 0.876 (train loss 0.13, a generalization gap). Not 0.95: the paper trains 62,800
        // steps; this CPU budget stops short, and the bound below states what was measured.
        var result = Train(ToyTrainingOptions.Small(H3Task.AssociativeRecall) with
        {
            Vocabulary = 20, Length = 40, StateSize = 64, TrainCount = 20000, TestCount = 500, Steps = 3000,
            DataSeed = 1001, ModelSeed = 1, EvaluateEvery = 250,
        });
        Assert.True(result.TestAccuracy >= 0.9, $"test accuracy {result.TestAccuracy:F3} < 0.9");
    }

    private ToyTrainingResult Train(ToyTrainingOptions options)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = H3ToyTraining.Train(options with { EvaluateEvery = options.EvaluateEvery == 0 ? 50 : options.EvaluateEvery },
            p => output.WriteLine($"step {p.Step,5} loss {p.Loss:F4} test accuracy {p.TestAccuracy:F3}"));
        output.WriteLine($"{options.Task}: test accuracy {result.TestAccuracy:F3} (untrained {result.InitialAccuracy:F3}, chance {result.Chance:F3}), {clock.Elapsed.TotalSeconds:F1} s");
        return result;
    }
}
