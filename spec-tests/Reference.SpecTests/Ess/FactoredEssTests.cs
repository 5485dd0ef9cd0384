using FsCheck.Xunit;
using Reference.Core;
using Reference.Ess;
using Reference.Operators;

namespace Reference.SpecTests.Ess;

public class FactoredEssTests
{
    /// <summary>Per split: the factored singular values equal the dense ones (first min(N, s, L - s)), the dense tail is rounding noise.</summary>
    private static void AssertFactoredEqualsDense(DiagonalRealization r, EssCase c)
    {
        var t = r.Materialize();
        var splits = EffectiveStateSize.AllSplits(r.Length);
        var factored = FactoredEss.SplitSingularValues(r, splits);
        for (int k = 0; k < splits.Length; k++)
        {
            var dense = EffectiveStateSize.SplitSingularValues(t.Data, r.Length, splits[k]);
            int keep = Math.Min(r.RealStateSize, dense.Length);
            Assert.Equal(keep, factored[k].Length);
            double err = Metrics.RelativeError(dense.AsSpan(0, keep), factored[k]);
            Assert.True(err <= 1e-10, $"{c} s={splits[k]}: norm_rel {err:E2}");
            foreach (double tail in dense.AsSpan(keep)) Assert.True(tail <= 1e-12 * dense[0], $"{c} s={splits[k]}: dense tail {tail}");
        }
    }

    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_FactoredRealEqualsDense(EssCase c) =>
        AssertFactoredEqualsDense(EssOperators.RandomReal(c.Length, c.State, c.Rng(), lti: false), c);

    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_FactoredLtiRealEqualsDense(EssCase c) =>
        AssertFactoredEqualsDense(EssOperators.RandomReal(c.Length, c.State, c.Rng(), lti: true), c);

    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_FactoredComplexEqualsDense(EssCase c) =>
        AssertFactoredEqualsDense(EssOperators.RandomComplex(c.Length, c.State, c.Rng(), lti: c.Seed % 2 == 0), c);

    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_FactoredEssEqualsDenseEssOnAGrid(EssCase c)
    {
        var rng = c.Rng();
        var channels = new[] { EssOperators.RandomReal(c.Length, c.State, rng, false), EssOperators.RandomComplex(c.Length, c.State, rng, false) };
        var t = Tensor<double>.Zeros(2, c.Length, c.Length);
        for (int ch = 0; ch < 2; ch++) channels[ch].Materialize().Data.CopyTo(t.Data, ch * c.Length * c.Length);
        var grid = EffectiveStateSize.SplitGrid(c.Length, 5).Reverse().Append(EffectiveStateSize.SplitGrid(c.Length, 5).FirstOrDefault(1)).ToArray();
        var options = new EssOptions(EssMode.Entropy);
        var dense = EffectiveStateSize.Compute(t, options, grid);
        var factored = FactoredEss.Compute(channels, options, grid, maxThreads: 2);
        Assert.True(Metrics.RelativeError(dense.Data, factored.Data) <= 1e-10, $"{c}");
    }

    [Fact]
    public void Edge_RankDeficientAndZeroRealizations()
    {
        // All modes identical: rank 1 however large N is; zero readout: ESS 0.
        const int l = 12, n = 6;
        var a = Enumerable.Repeat(0.8, l * n).ToArray();
        var ones = Enumerable.Repeat(1.0, l * n).ToArray();
        var same = DiagonalRealization.Real(l, n, a, ones, ones);
        Assert.All(FactoredEss.Compute([same]).Data, e => Assert.Equal(1, e));
        var silent = DiagonalRealization.Real(l, n, a, ones, new double[l * n]);
        Assert.All(FactoredEss.Compute([silent]).Data, e => Assert.Equal(0, e));
        Assert.All(FactoredEss.Compute([silent], new EssOptions(EssMode.Entropy)).Data, e => Assert.Equal(0, e));
    }

    [Fact]
    public void Negative_BadRealizationsAreRejected()
    {
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => DiagonalRealization.Real(4, 2, new double[8], new double[7], new double[8])).ParamName);
        var r = DiagonalRealization.Real(4, 2, new double[8], new double[8], new double[8]);
        var r5 = DiagonalRealization.Real(5, 2, new double[10], new double[10], new double[10]);
        Assert.Equal("channels", Assert.Throws<ArgumentException>(() => FactoredEss.Compute([r, r5])).ParamName);
        Assert.Equal("splits", Assert.Throws<ArgumentOutOfRangeException>(() => FactoredEss.Compute([r], splits: [4])).ParamName);
    }

    [Fact]
    public void Negative_WrongFactorIsDetected()
    {
        // The comparison fails when the realization differs by one transition value.
        var rng = new SplitMix64(9);
        var r = EssOperators.RandomReal(16, 3, rng, lti: false);
        var t = r.Materialize();
        var factored = FactoredEss.SplitSingularValues(r, [8])[0];
        t[9, 2] *= 1 + 1e-3;
        var dense = EffectiveStateSize.SplitSingularValues(t.Data, 16, 8);
        Assert.True(Metrics.RelativeError(dense.AsSpan(0, 3), factored) > 1e-10);
    }

    [Fact]
    public void Edge_NoChannels_GiveNoRowsAndOneColumnPerRequestedSplit()
    {
        Assert.Equal([0, 0], FactoredEss.Compute([]).ShapeArray);
        Assert.Equal([0, 2], FactoredEss.Compute([], splits: [2, 5]).ShapeArray);
        Assert.Equal([0, 3], FactoredEss.Compute(Array.Empty<DiagonalRealization>(), new EssOptions(EssMode.Entropy), [1, 1, 7]).ShapeArray);
    }

    [Fact]
    public void Negative_NullsOptionsThreadsAndSplits_NameTheArgument()
    {
        var rng = new SplitMix64(4);
        var r = EssOperators.RandomReal(6, 2, rng, lti: false);
        Assert.Equal("realization", Assert.Throws<ArgumentNullException>(() => FactoredEss.SplitSingularValues(null!)).ParamName);
        foreach (int bad in new[] { 0, 6, -1, 7 })
        {
            Assert.Equal("splits", Assert.Throws<ArgumentOutOfRangeException>(() => FactoredEss.SplitSingularValues(r, [bad])).ParamName);
            Assert.Equal("splits", Assert.Throws<ArgumentOutOfRangeException>(() => FactoredEss.SplitSingularValues(r, [3, bad])).ParamName);
            Assert.Equal("splits", Assert.Throws<ArgumentOutOfRangeException>(() => FactoredEss.Compute([r], splits: [bad])).ParamName);
        }
        Assert.Equal("channels", Assert.Throws<ArgumentNullException>(() => FactoredEss.Compute(null!)).ParamName);
        Assert.Equal("channels", Assert.Throws<ArgumentNullException>(() => FactoredEss.Compute([r, null!])).ParamName);
        Assert.Equal("channels", Assert.Throws<ArgumentNullException>(() => FactoredEss.Compute([null!, r])).ParamName);
        Assert.Equal("Mode", Assert.Throws<ArgumentOutOfRangeException>(() => FactoredEss.Compute([r], new EssOptions((EssMode)5))).ParamName);
        Assert.Equal("Tolerance", Assert.Throws<ArgumentOutOfRangeException>(() => FactoredEss.Compute([r], new EssOptions(Tolerance: -1e-3))).ParamName);
        Assert.Equal("Tolerance", Assert.Throws<ArgumentOutOfRangeException>(() => FactoredEss.Compute([r], new EssOptions(Tolerance: double.PositiveInfinity))).ParamName);
        Assert.Equal("maxThreads", Assert.Throws<ArgumentOutOfRangeException>(() => FactoredEss.Compute([r], maxThreads: -1)).ParamName);
        // The options are validated even when there is nothing to compute.
        Assert.Equal("Mode", Assert.Throws<ArgumentOutOfRangeException>(() => FactoredEss.Compute([], new EssOptions((EssMode)5))).ParamName);
        Assert.Equal("maxThreads", Assert.Throws<ArgumentOutOfRangeException>(() => FactoredEss.Compute([], maxThreads: -2)).ParamName);
    }
}
