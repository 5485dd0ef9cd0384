using Reference.Core;
using Reference.Star;

namespace Reference.SpecTests.Star;

/// <summary>
/// NSGA-II's selection (Deb et al. 2002) on hand-made point sets whose fronts and crowding distances are
/// worked out by hand, determinism for a seed, and convergence on ZDT1/2/3 (30 variables, population
/// 100, 250 generations, pymoo's default operators) to the analytic front: IGD at most 0.01 (ZDT1/2)
/// and 0.02 (ZDT3), what pymoo's NSGA-II reaches. The hypervolume is checked against inclusion-exclusion.
/// </summary>
public class Nsga2Tests
{
    [Fact]
    public void FrontsOfAHandMadeSet()
    {
        double[][] f =
        [
            [1, 5], [2, 3], [4, 1],      // front 1
            [2, 5], [3, 4], [5, 2],      // front 2 ([2,5] dominated by [1,5]; [3,4] by [2,3]; [5,2] by [4,1])
            [4, 5], [6, 6],              // front 3 ([4,5] by [3,4]); [6,6] by [5,2]... and by [4,5]: front 4
            [1, 5],                      // a duplicate of point 0: not dominated by it, so front 1
        ];
        var fronts = Nsga2.FastNonDominatedSort(f);
        Assert.Equal([0, 1, 2, 8], fronts[0]);
        Assert.Equal([3, 4, 5], fronts[1]);
        Assert.Equal([6], fronts[2]);
        Assert.Equal([7], fronts[3]);
        Assert.Equal(4, fronts.Count);
        Assert.Equal([0, 0, 0, 1, 1, 1, 2, 3, 0], Nsga2.Ranks(f));
    }

    [Fact]
    public void FrontsAreNonDominatedInsideAndDominatedFromTheFrontBefore()
    {
        var rng = new SplitMix64(3);
        for (int trial = 0; trial < 20; trial++)
        {
            var f = Enumerable.Range(0, 40).Select(_ => new[] { (double)rng.NextInt(6), (double)rng.NextInt(6), (double)rng.NextInt(6) }).ToArray();
            var fronts = Nsga2.FastNonDominatedSort(f);
            Assert.Equal(40, fronts.Sum(x => x.Length));
            for (int r = 0; r < fronts.Count; r++)
            {
                foreach (int p in fronts[r])
                {
                    Assert.DoesNotContain(fronts[r], q => Nsga2.Dominates(f[q], f[p]));
                    if (r > 0) Assert.Contains(fronts[r - 1], q => Nsga2.Dominates(f[q], f[p]));
                    // Nothing in a later front dominates p.
                    for (int s = r + 1; s < fronts.Count; s++) Assert.DoesNotContain(fronts[s], q => Nsga2.Dominates(f[q], f[p]));
                }
            }
        }
    }

    [Fact]
    public void CrowdingDistanceByHand()
    {
        // Front on a line: f1 = 0, 1, 3, 6, 10; f2 = 10, 6, 3, 1, 0. Ranges 10 and 10.
        double[][] f = [[3, 3], [0, 10], [10, 0], [1, 6], [6, 1]];
        int[] front = [0, 1, 2, 3, 4];
        var d = Nsga2.CrowdingDistance(f, front);
        Assert.Equal(double.PositiveInfinity, d[1]);
        Assert.Equal(double.PositiveInfinity, d[2]);
        Assert.Equal((3.0 - 0) / 10 + (10.0 - 3) / 10, d[3], 12);   // neighbours (0,10) and (3,3)
        Assert.Equal((6.0 - 1) / 10 + (6.0 - 1) / 10, d[0], 12);    // neighbours (1,6) and (6,1)
        Assert.Equal((10.0 - 3) / 10 + (3.0 - 0) / 10, d[4], 12);
        Assert.All(Nsga2.CrowdingDistance(f, [0, 3]), x => Assert.Equal(double.PositiveInfinity, x));
    }

    [Fact]
    public void SurvivalKeepsWholeFrontsThenTheLeastCrowded()
    {
        double[][] f = [[0, 10], [1, 8], [4, 4], [8, 1], [10, 0], [11, 11], [12, 12]];
        // Size 7 keeps all; 5 keeps front 1; 3 keeps its two boundaries and the widest interior point (4,4):
        // crowding 1.4 against 1.0 for (1,8) and (8,1).
        Assert.Equal(7, Nsga2.Survive(f, 7).Length);
        Assert.Equal([0, 1, 2, 3, 4], Nsga2.Survive(f, 5).Order());
        Assert.Equal([0, 2, 4], Nsga2.Survive(f, 3).Order());
        Assert.Equal([0, 1, 2, 3, 4, 5], Nsga2.Survive(f, 6).Order());
    }

    [Fact]
    public void TournamentPrefersLowerRankThenLargerCrowding()
    {
        Assert.True(Nsga2.CrowdedLess(0, 1, [0, 1], [0.1, 5]));
        Assert.True(Nsga2.CrowdedLess(1, 0, [2, 2], [0.1, double.PositiveInfinity]));
        Assert.False(Nsga2.CrowdedLess(0, 1, [1, 1], [1, 1]));
        var rng = new SplitMix64(5);
        int[] rank = [0, 3, 3, 3];
        double[] crowding = [1, 1, 1, 1];
        int best = Enumerable.Range(0, 4000).Count(_ => Nsga2.Tournament(rank, crowding, rng) == 0);
        Assert.InRange(best / 4000.0, 7.0 / 16 - 0.03, 7.0 / 16 + 0.03);   // wins unless neither draw is it: 1 - (3/4)^2
    }

    [Fact]
    public void HypervolumeEqualsInclusionExclusion()
    {
        var rng = new SplitMix64(11);
        for (int trial = 0; trial < 20; trial++)
        {
            int m = 2 + trial % 2, n = 1 + trial % 7;
            var pts = Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, m).Select(_ => rng.Uniform()).ToArray()).ToArray();
            double[] r = [.. Enumerable.Repeat(1.1, m)];
            double exact = 0;
            for (int mask = 1; mask < 1 << n; mask++)
            {
                var corner = new double[m];
                int bits = 0;
                for (int i = 0; i < n; i++)
                    if ((mask >> i & 1) != 0) { bits++; for (int k = 0; k < m; k++) corner[k] = Math.Max(corner[k], pts[i][k]); }
                double box = 1;
                for (int k = 0; k < m; k++) box *= r[k] - corner[k];
                exact += (bits % 2 == 1 ? 1 : -1) * box;
            }
            Assert.Equal(exact, Hypervolume.Compute(pts, r), 12);
        }
        Assert.Equal(0.0, Hypervolume.Compute([[2.0, 0.0]], [1.0, 1.0]));
    }

    [Fact]
    public void RealNsga2IsDeterministicForASeed()
    {
        var options = new RealNsga2Options(Population: 20, Generations: 10, Seed: 3);
        var (_, f1) = RealNsga2.Run(new Zdt(1), options);
        var (_, f2) = RealNsga2.Run(new Zdt(1), options);
        Assert.Equal(f1.SelectMany(x => x), f2.SelectMany(x => x));
        var (_, f3) = RealNsga2.Run(new Zdt(1), options with { Seed = 4 });
        Assert.NotEqual(f1.SelectMany(x => x), f3.SelectMany(x => x));
    }

    [Theory]
    [InlineData(1, 0.01)]
    [InlineData(2, 0.01)]
    [InlineData(3, 0.02)]
    public void ZdtConvergesToTheAnalyticFront(int which, double bound)
    {
        var problem = new Zdt(which);
        var (_, f) = RealNsga2.Run(problem, new RealNsga2Options(Seed: 1));
        var front = Nsga2.FastNonDominatedSort(f)[0].Select(i => f[i]).ToArray();
        double igd = Zdt.Igd(front, problem.TrueFront());
        Assert.True(igd <= bound, $"ZDT{which}: IGD {igd:G4} > {bound}");
        // Not trivially met: the random initial population is far from the front.
        var (_, f0) = RealNsga2.Run(problem, new RealNsga2Options(Generations: 0, Seed: 1));
        Assert.True(Zdt.Igd(f0, problem.TrueFront()) > 10 * bound);
    }
}
