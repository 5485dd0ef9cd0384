using Reference.Decoding;
using Reference.Neuro.Simulation;

namespace Reference.SpecTests.Decoding;

/// <summary>
/// Decoders on the simulator (small preset, block design, CNR 3): the trial maps carry their
/// condition's truth map, a logistic regression on them is well above chance on held-out
/// subjects, and at chance once the labels are permuted (the negative control).
/// </summary>
public class DecoderAccuracyTests
{
    private static readonly SimulationOptions Options = SimulationOptions.FromPreset("small") with { Subjects = 8, Cnr = 3, Seed = 5 };
    private static readonly DecodingSet Set = DecodingSet.Build(Options);
    private static readonly SubjectSplit Split = new([0, 1, 2, 3, 4], [], [5, 6, 7]);

    private static double TestAccuracy(DecodingSet data) =>
        Decoder.Score(new LogisticDecoder("lr", LinearFeatures.Maps, [0.1]).Fit(data, Split, 1), data, data.SamplesOf(Split.Test)).Accuracy;

    [Fact]
    public void TrialMaps_MatchTheirConditionsTruthMap()
    {
        // Independent of every decoder: the truth map with the largest inner product with a
        // trial's z map is its labelled condition's (events, labels and maps line up).
        var truth = Simulator.Run(Options).Layout.Truth;
        int v = Set.Voxels, hits = 0;
        for (int i = 0; i < Set.Count; i++)
        {
            var score = new double[Set.Classes];
            for (int c = 0; c < Set.Classes; c++)
                for (int u = 0; u < v; u++) score[c] += Set.Maps[i * v + u] * truth[c * v + u];
            if (Array.IndexOf(score, score.Max()) == Set.Label[i]) hits++;
        }
        Assert.Equal(8 * 7, Set.Count);
        Assert.Equal(Set.Count, hits);
    }

    [Fact]
    public void MapLogisticRegression_WellAboveChance_AtCnr3()
    {
        var test = Set.SamplesOf(Split.Test);
        double chance = Decoder.Chance(Set, test);
        double accuracy = TestAccuracy(Set);
        Assert.True(accuracy >= 0.9, $"accuracy {accuracy:F3} on {test.Length} test samples (chance {chance:F3}); expected >= 0.9 at CNR 3.");
    }

    [Fact]
    public void MapLogisticRegression_AtChance_OnPermutedLabels()
    {
        // Averaged over permutations: one 21-sample test set scatters widely around 1/3.
        const int permutations = 6;
        double mean = 0;
        for (ulong s = 1; s <= permutations; s++) mean += TestAccuracy(Set.WithPermutedLabels(s)) / permutations;
        Assert.InRange(mean, 1.0 / 3 - 0.15, 1.0 / 3 + 0.15);
    }
}
