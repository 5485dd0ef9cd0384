using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Star;

namespace Reference.SpecTests.Star;

/// <summary>An arbitrary flat genome (any integers, valid or not), a depth, a pool and a seed.</summary>
public sealed record GenomeCase(int Depth, int[] Pool, int[] Flat, ulong Seed)
{
    public static Arbitrary<GenomeCase> Arbitrary() =>
        (from depth in Gen.Choose(1, 9)
         from poolMask in Gen.Choose(1, (1 << 17) - 1)
         from flat in Gen.ArrayOf(Gen.Choose(-3, 20), 5 * depth)
         from seed in Gen.Choose(0, int.MaxValue)
         select new GenomeCase(depth, [.. Enumerable.Range(1, 17).Where(i => (poolMask >> (i - 1) & 1) != 0)], flat, (ulong)seed)).ToArbitrary();
}

/// <summary>
/// STAR's genome (arXiv:2411.17800 sec. 3.2; ../shared/spec/star.md): flatten/parse round trips,
/// the validity rules checked by an independent checker written from the rule text (not by calling
/// repair again), idempotent repair, k-point crossover keeping length and per-locus domains and
/// exchanging loci position by position, per-locus mutation (p = 0 identity; p = 1 changes every locus
/// that has another value).
/// </summary>
public class GenomeVariationTests
{
    /// <summary>The rules, stated directly: the reason a genome is invalid, or null.</summary>
    private static string? Violation(Genome g, GenomeSpace space)
    {
        for (int i = 0; i < g.Depth; i++)
        {
            var x = g[i];
            if (!space.Pool.Contains(x.ClassId)) return $"layer {i}: class {x.ClassId} not in pool";
            if (x.FeaturizerGroup < 1 || x.FeaturizerGroup > g.Depth || x.FeatureGroup < 1 || x.FeatureGroup > g.Depth) return $"layer {i}: group out of range";
            if (x.FeaturizerStrategy is not (1 or 2) || x.FeatureStrategy is not (1 or 2)) return $"layer {i}: strategy out of range";
            if (x.Class.Category == LivCategory.Memoryless && x.FeatureStrategy == 2) return $"layer {i}: GMemless has no features to share";
        }
        foreach (var (groupLocus, featurizer) in new[] { (0, true), (1, false) })
        {
            var members = Enumerable.Range(0, g.Depth)
                .Where(i => (featurizer ? g[i].FeaturizerStrategy : g[i].FeatureStrategy) == 2)
                .GroupBy(i => featurizer ? g[i].FeaturizerGroup : g[i].FeatureGroup);
            foreach (var group in members)
            {
                var list = group.ToList();
                if (list.Count < 2) return $"group {group.Key} ({(featurizer ? "featurizer" : "feature")}) has one member";
                var lead = g[list[0]].Class;
                foreach (var m in list)
                {
                    var c = g[m].Class;
                    if (c.Differential != lead.Differential) return "differential status differs within a group";
                    if (featurizer && c.Category != lead.Category) return "category differs within a featurizer group";
                    if (!featurizer && c.FeatureSignature != lead.FeatureSignature) return "feature signature differs within a feature group";
                }
            }
        }
        return null;
    }

    [Property(Arbitrary = [typeof(GenomeCase)])]
    public void Property_RepairIsIdempotentAndAlwaysValid(GenomeCase c)
    {
        var space = new GenomeSpace(c.Depth, c.Pool);
        var repaired = space.Repair(Genome.FromFlat(c.Flat));
        Assert.Null(Violation(repaired, space));
        Assert.Equal(repaired, space.Repair(repaired));
        Assert.True(space.IsValid(repaired));
    }

    [Property(Arbitrary = [typeof(GenomeCase)])]
    public void Property_RepairKeepsValidGenomes(GenomeCase c)
    {
        var space = new GenomeSpace(c.Depth, c.Pool);
        var g = space.Random(new SplitMix64(c.Seed));
        Assert.Null(Violation(g, space));
        Assert.Equal(g, space.Repair(g));
    }

    [Property(Arbitrary = [typeof(GenomeCase)])]
    public void Property_FlattenParseRoundTrips(GenomeCase c)
    {
        var g = Genome.FromFlat(c.Flat);
        Assert.Equal(c.Flat, g.Flatten());
        Assert.Equal(g, Genome.FromFlat(g.Flatten()));
        Assert.Equal(g, Genome.ParseText(g.ToString()));
        Assert.Equal(g, Genome.ParseJson(g.ToJson()));
    }

    [Property(Arbitrary = [typeof(GenomeCase)])]
    public void Property_CrossoverKeepsLengthDomainsAndLoci(GenomeCase c)
    {
        var space = new GenomeSpace(c.Depth, c.Pool);
        var rng = new SplitMix64(c.Seed);
        var a = space.Random(rng);
        var b = space.Random(rng);
        foreach (int k in new[] { 1, 2, 3, 7 })
        {
            var (x, y) = Variation.Crossover(a, b, k, rng);
            Assert.Equal(a.Depth, x.Depth);
            Assert.Equal(a.Depth, y.Depth);
            int switches = 0;
            bool? fromA = null;
            for (int i = 0; i < space.Length; i++)
            {
                Assert.Contains(x.Flat[i], space.Domain(i));
                Assert.Contains(y.Flat[i], space.Domain(i));
                // Each locus comes from one parent and its partner from the other.
                Assert.True(x.Flat[i] == a.Flat[i] && y.Flat[i] == b.Flat[i] || x.Flat[i] == b.Flat[i] && y.Flat[i] == a.Flat[i]);
                if (a.Flat[i] != b.Flat[i])
                {
                    bool now = x.Flat[i] == a.Flat[i];
                    if (fromA is { } was && was != now) switches++;
                    fromA = now;
                }
            }
            Assert.True(switches <= Math.Min(k, space.Length - 1));
        }
    }

    [Fact]
    public void CrossoverWithKCutsAlternatesExactlyKTimes()
    {
        var a = Genome.FromFlat([.. Enumerable.Repeat(1, 30)]);
        var b = Genome.FromFlat([.. Enumerable.Repeat(2, 30)]);
        var rng = new SplitMix64(4);
        for (int k = 1; k <= 5; k++)
        {
            var (x, _) = Variation.Crossover(a, b, k, rng);
            int runs = 1;
            for (int i = 1; i < 30; i++) if (x.Flat[i] != x.Flat[i - 1]) runs++;
            Assert.Equal(k + 1, runs);
            Assert.Equal(1, x.Flat[0]);
        }
    }

    [Property(Arbitrary = [typeof(GenomeCase)])]
    public void Property_MutationWithZeroProbabilityIsTheIdentity(GenomeCase c)
    {
        var space = new GenomeSpace(c.Depth, c.Pool);
        var rng = new SplitMix64(c.Seed);
        var g = space.Random(rng);
        ulong before = rng.State;
        Assert.Same(g, Variation.Mutate(g, space, 0.0, rng));
        Assert.Equal(before, rng.State);
    }

    [Property(Arbitrary = [typeof(GenomeCase)])]
    public void Property_MutationStaysInDomainsAndPOneChangesEveryLocus(GenomeCase c)
    {
        var space = new GenomeSpace(c.Depth, c.Pool);
        var rng = new SplitMix64(c.Seed);
        var g = space.Random(rng);
        var m = Variation.Mutate(g, space, 1.0, rng);
        for (int i = 0; i < space.Length; i++)
        {
            Assert.Contains(m.Flat[i], space.Domain(i));
            if (space.Domain(i).Count > 1) Assert.NotEqual(g.Flat[i], m.Flat[i]);
        }
    }

    [Fact]
    public void MutationRateMatchesP()
    {
        var space = new GenomeSpace(24);
        var rng = new SplitMix64(9);
        int changed = 0, total = 0;
        for (int r = 0; r < 200; r++)
        {
            var g = space.Random(rng);
            var m = Variation.Mutate(g, space, 0.1, rng);
            for (int i = 0; i < space.Length; i++) { total++; if (g.Flat[i] != m.Flat[i]) changed++; }
        }
        double rate = (double)changed / total;   // 24000 Bernoulli(0.1): sd 0.0019
        Assert.InRange(rate, 0.092, 0.108);
    }

    [Fact]
    public void RepairOnHandMadeGenomes()
    {
        var space = new GenomeSpace(4, [1, 2, 3, 5, 7, 9, 10, 16]);
        // SA-1 and GConv-1 in one featurizer group: the later GConv-1 falls back; the group is then alone.
        var g = space.Repair(Genome.ParseText("1.1.2.1.1 7.1.2.1.1 9.2.1.2.2 2.3.1.1.1"));
        Assert.Equal("1.1.1.1.1 7.1.1.1.1 9.2.1.2.1 2.3.1.1.1", g.ToString());
        // SA-1 and SA-2 share K/V (same signature); SA-3 (K/V repeated 4x) cannot join them.
        g = space.Repair(Genome.ParseText("1.1.1.2.2 2.1.1.2.2 3.1.1.2.2 5.1.1.1.1"));
        Assert.Equal("1.1.1.2.2 2.1.1.2.2 3.1.1.2.1 5.1.1.1.1", g.ToString());
        // A differential class and a plain one cannot share; out-of-pool 4 -> pool[(4-1) mod 8] = 5; groups clamped.
        g = space.Repair(Genome.ParseText("10.9.2.1.1 1.4.2.1.1 4.0.1.1.1 16.4.2.1.1"));
        Assert.Equal("10.4.1.1.1 1.4.1.1.1 5.1.1.1.1 16.4.1.1.1", g.ToString());
    }

    [Fact]
    public void ParseErrorsNameTheField()
    {
        Assert.Contains("genes[1][2]", Assert.Throws<ArgumentException>(() => Genome.ParseJson("{\"genes\": [[1,1,1,1,1],[1,1,\"x\",1,1]]}")).Message);
        Assert.Contains("5 integers per LIV", Assert.Throws<ArgumentException>(() => Genome.FromFlat([1, 2, 3])).Message);
        Assert.Contains("format", Assert.Throws<ArgumentException>(() => Genome.ParseJson("{\"format\": \"other/1\", \"genes\": [[1,1,1,1,1]]}")).Message);
    }
}
