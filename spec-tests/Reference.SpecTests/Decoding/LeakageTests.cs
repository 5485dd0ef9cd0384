using Reference.Decoding;

namespace Reference.SpecTests.Decoding;

/// <summary>Splits are by subject only: a split whose parts share a subject cannot be built.</summary>
public class LeakageTests
{
    [Theory]
    [InlineData(new[] { 0, 1, 2 }, new int[0], new[] { 2, 3 }, "sub-03")]
    [InlineData(new[] { 0, 1 }, new[] { 4 }, new[] { 4, 5 }, "sub-05")]
    [InlineData(new[] { 6, 1 }, new[] { 6 }, new[] { 3 }, "sub-07")]
    public void SharedSubject_Throws_NamingIt(int[] train, int[] validation, int[] test, string named)
    {
        var e = Assert.Throws<ArgumentException>(() => new SubjectSplit(train, validation, test));
        Assert.Contains("leakage", e.Message);
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void DrawnSplits_AreDisjoint_AndCoverOnlyTheirSubjects()
    {
        var (pool, test) = SubjectSplit.HoldOut(10, 3, 4);
        Assert.Empty(pool.Intersect(test));
        for (ulong seed = 0; seed < 20; seed++)
        {
            var s = SubjectSplit.Draw(pool, test, 4, 2, seed);
            Assert.Empty(s.Train.Intersect(s.Test).Concat(s.Train.Intersect(s.Validation)).Concat(s.Validation.Intersect(s.Test)));
            Assert.Equal(test.Order(), s.Test);
        }
    }

    private static string PretrainConfig(int seed, int? skip) =>
        "{\"data\": {\"preset\": \"small\", \"subjects\": 6, \"seed\": 5, \"maps\": false}, \"test_subjects\": 2, \"train_subjects\": [2], " +
        "\"decoders\": [{\"name\": \"p\", \"kind\": \"sequence\", \"width\": 8, \"depth\": 1, \"architecture\": \"gpt2\", \"heads\": 2, " +
        "\"pretrain\": {\"framework\": \"csm\", \"steps\": 1, " + (skip is null ? "" : $"\"skip_subjects\": {skip}, ") +
        $"\"data\": {{\"preset\": \"small\", \"subjects\": 10, \"seed\": {seed}, \"maps\": false}}}}}}]}}";

    /// <summary>
    /// Pre-training data with the decoding data's seed holds the decoding subjects first (subjects are
    /// drawn in order from the seed), so it is refused unless skip_subjects passes all of them; another
    /// seed needs no skip.
    /// </summary>
    [Theory]
    [InlineData(5, null, "data.seed")]
    [InlineData(5, 5, "data.seed")]
    [InlineData(5, 10, "skip_subjects")]
    [InlineData(5, -1, "skip_subjects")]
    public void PretrainingOnTheDecodingSubjects_IsRefused(int seed, int? skip, string field)
    {
        var e = Assert.Throws<ArgumentException>(() => DecodeConfig.Parse(PretrainConfig(seed, skip)));
        Assert.Contains(field, e.Message);
    }

    [Theory]
    [InlineData(5, 6)]
    [InlineData(7, null)]
    public void PretrainingOnOtherSubjects_IsAccepted(int seed, int? skip)
    {
        var config = DecodeConfig.Parse(PretrainConfig(seed, skip));
        Assert.Equal(skip ?? 0, config.Decoders.Single(d => d.Name == "p").PretrainSkipSubjects);
    }
}
