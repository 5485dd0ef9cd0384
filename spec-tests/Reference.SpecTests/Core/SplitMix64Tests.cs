using Reference.Core;

namespace Reference.SpecTests.Core;

public class SplitMix64Tests
{
    [Fact]
    public void Golden_FirstOutputsOfSeedZero_MatchTheReferenceImplementation()
    {
        // Values of Vigna's splitmix64.c for x = 0 (published with xoshiro's seeding code).
        var rng = new SplitMix64(0);
        Assert.Equal(0xE220A8397B1DCDAFUL, rng.NextUInt64());
        Assert.Equal(0x6E789E6AA1B965F4UL, rng.NextUInt64());
        Assert.Equal(0x06C45D188009454FUL, rng.NextUInt64());
    }

    [Fact]
    public void Property_NormalDraws_HaveUnitMomentsWithinSamplingError()
    {
        var rng = new SplitMix64(7);
        const int n = 200_000;
        double sum = 0, sumSq = 0;
        for (int i = 0; i < n; i++) { double x = rng.Normal(); sum += x; sumSq += x * x; }
        double mean = sum / n, variance = sumSq / n - mean * mean;
        // 5 standard errors: mean se = 1/sqrt(n), variance se = sqrt(2/n).
        Assert.InRange(mean, -5 / Math.Sqrt(n), 5 / Math.Sqrt(n));
        Assert.InRange(variance, 1 - 5 * Math.Sqrt(2.0 / n), 1 + 5 * Math.Sqrt(2.0 / n));
    }

    [Fact]
    public void Property_NextInt_StaysInRange()
    {
        var rng = new SplitMix64(3);
        for (int i = 0; i < 10_000; i++) Assert.InRange(rng.NextInt(7), 0, 6);
        Assert.Throws<ArgumentOutOfRangeException>(() => rng.NextInt(0));
    }
}
