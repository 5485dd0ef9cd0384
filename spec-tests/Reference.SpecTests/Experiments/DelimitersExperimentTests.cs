using Reference.Core;
using Reference.Experiments;
using Reference.Models;

namespace Reference.SpecTests.Experiments;

public sealed class DelimitersExperimentTests
{
    [Fact]
    public void Property_PlantedResetGivesFullModulationAndNoGateNone()
    {
        // Invariant 7 of docs/ess.md through the experiment's own ESS and modulation code: a gate of
        // exactly 0 at each delimiter makes H_p = 0 there (M = 1); without a gate nothing changes (M = 0).
        var task = new DelimitedRecallTask(9, 44, 4) { TrainCount = 1, TestCount = 24 };
        var (reset, noReset) = Delimiters.PlantedControl(task, 3, 24, 4);
        Assert.Equal(1.0, reset, 12);
        Assert.Equal(0.0, noReset, 12);
    }

    [Fact]
    public void Property_PlantedResetZeroesTheSplitAtTheDelimiterAndBoundsTheSplitsBefore()
    {
        int[] sequence = [0, 5, 1, 6, 8, 2, 7, 3, 4, 0, 5, 8, 1, 6, 2, 7];
        var (gated, _) = Delimiters.PlantedOperators(new SplitMix64(4), sequence, 8, 4);
        var spectra = LayerSpectra.Of([gated], [null]);
        var ess = Delimiters.ChannelMeans(spectra.Tolerance[0]!);
        foreach (int p in Delimiters.DelimiterPositions(sequence, 8))
        {
            Assert.Equal(0.0, ess[p - 1]);                                    // split p
            for (int s = Math.Max(1, p - 3); s < p; s++) Assert.True(ess[s - 1] <= p - s, $"ESS({s}) = {ess[s - 1]} > {p - s}");
        }
    }

    [Fact]
    public void Property_ModulationOfAConstantProfileIsZeroAndOfAHoleIsOne()
    {
        var flat = Enumerable.Range(0, 4).Select(_ => Enumerable.Repeat(3.0, 15).ToArray()).ToArray();
        int[][] delimiters = [[5], [9], [], [12]];
        var (m, profile) = Delimiters.Modulation(flat, delimiters, 2);
        Assert.Equal(0.0, m, 12);
        Assert.All(profile, r => Assert.Equal(1.0, r, 12));
        var holed = flat.Select(p => (double[])p.Clone()).ToArray();
        for (int b = 0; b < 4; b++) foreach (int p in delimiters[b]) holed[b][p - 1] = 0;
        Assert.Equal(1.0, Delimiters.Modulation(holed, delimiters, 2).Modulation, 12);
    }

    [Fact]
    public void Property_SmallPresetAtATinyBudgetKeepsItsInvariants()
    {
        var settings = DelimiterSettings.Small.Scaled(0.01);
        var outcome = Delimiters.Run(settings, [1UL, 2UL], threads: 2, progress: null, TestContext.Current.CancellationToken);
        Assert.Equal(2 * settings.Mixers.Count, outcome.Points.Count);
        foreach (var p in outcome.Points)
        {
            Assert.True(p.BoundExcess <= 1e-9, $"{p.Mixer}: ESS exceeds TSS by {p.BoundExcess}");
            Assert.True(p.MinimumEss >= 0);
            Assert.Equal(settings.Length - 2, p.MeanEss.Length);             // one ESS per split s = 1..L_in - 1
            Assert.All(p.MeanEss, v => Assert.True(double.IsFinite(v) && v >= 0));
            Assert.Equal(2 * settings.Window + 1, p.Profile.Length);
            Assert.True(double.IsFinite(p.Modulation) && p.Modulation <= 1, $"{p.Mixer}: M = {p.Modulation}");
        }
        Assert.Equal(3, outcome.Pairs.Count);
        Assert.Equal(1.0, outcome.PlantedReset, 12);
    }
}
