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
}
