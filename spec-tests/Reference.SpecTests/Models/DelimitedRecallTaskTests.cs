using Reference.Models;

namespace Reference.SpecTests.Models;

public sealed class DelimitedRecallTaskTests
{
    [Theory]
    [InlineData(9, 44, 4)]
    [InlineData(17, 64, 4)]
    [InlineData(5, 10, 2)]
    public void Property_SegmentsArePairsClosedByTheDelimiterWithTheirOwnTables(int vocab, int length, int segments)
    {
        var task = new DelimitedRecallTask(vocab, length, segments) { TrainCount = 20, TestCount = 20 };
        var (train, test) = task.Generate(5);
        int keys = (vocab - 1) / 2, t = task.InputLength;
        Assert.Equal(length - 1, t);
        Assert.Equal(vocab - 1, task.Delimiter);
        for (int s = 0; s < 20; s++)
        {
            // The token list is the inputs plus the last train target; it ends with the delimiter.
            var tokens = test.Inputs.Skip(s * t).Take(t).Append(train.Targets[s * t + t - 1]).ToArray();
            var trainTokens = train.Inputs.Skip(s * t).Take(t).Append(train.Targets[s * t + t - 1]).ToArray();
            Assert.Equal(train.Inputs.Skip(s * t + 1).Take(t - 1), train.Targets.Skip(s * t).Take(t - 1));   // next-token targets
            Assert.Equal(task.Delimiter, trainTokens[^1]);
            Assert.Equal(segments, trainTokens.Count(x => x == task.Delimiter));
            var scored = test.Targets.Skip(s * t).Take(t).ToArray();
            var table = new Dictionary<int, int>();
            int pairs = 0, i = 0;
            while (i < tokens.Length)
            {
                if (tokens[i] == task.Delimiter)
                {
                    Assert.True(pairs >= 2, $"a segment of {pairs} pairs");
                    table.Clear();
                    pairs = 0;
                    i++;
                    continue;
                }
                int k = tokens[i], v = tokens[i + 1];
                Assert.InRange(k, 0, keys - 1);
                Assert.InRange(v, keys, 2 * keys - 1);
                bool seen = table.TryGetValue(k, out int bound);
                if (seen) Assert.Equal(bound, v);   // a key keeps its value within a segment
                table[k] = v;
                // Token i + 1 (the value) is input position i + 1, scored as target position i.
                Assert.Equal(seen ? v : SyntheticTask.IgnoreIndex, scored[i]);
                if (i > 0) Assert.Equal(SyntheticTask.IgnoreIndex, scored[i - 1]);
                pairs++;
                i += 2;
            }
        }
    }

    [Fact]
    public void Property_TablesChangeAcrossSegments()
    {
        // With fresh tables per segment, some key repeated across a delimiter must change its value.
        var task = new DelimitedRecallTask(9, 44, 4) { TrainCount = 50, TestCount = 1 };
        var (train, _) = task.Generate(2);
        int t = task.InputLength, changed = 0;
        for (int s = 0; s < 50; s++)
        {
            var tokens = train.Inputs.Skip(s * t).Take(t).ToArray();
            var previous = new Dictionary<int, int>();
            var current = new Dictionary<int, int>();
            for (int i = 0; i < tokens.Length;)
            {
                if (tokens[i] == task.Delimiter)
                {
                    (previous, current) = (current, new Dictionary<int, int>());
                    i++;
                    continue;
                }
                int k = tokens[i], v = tokens[i + 1];
                if (!current.ContainsKey(k) && previous.TryGetValue(k, out int old) && old != v) changed++;
                current[k] = v;
                i += 2;
            }
        }
        Assert.True(changed > 10, $"only {changed} rebindings across delimiters");
    }

    [Fact]
    public void Edge_ImpossibleSizesAreRejectedByName()
    {
        Assert.Contains("'vocab'", Assert.Throws<ArgumentException>(() => new DelimitedRecallTask(8, 44, 4) { TrainCount = 1, TestCount = 1 }).Message);
        Assert.Contains("'length'", Assert.Throws<ArgumentException>(() => new DelimitedRecallTask(9, 45, 4) { TrainCount = 1, TestCount = 1 }).Message);
        Assert.Contains("'length'", Assert.Throws<ArgumentException>(() => new DelimitedRecallTask(9, 18, 4) { TrainCount = 1, TestCount = 1 }).Message);
        Assert.Contains("'segments'", Assert.Throws<ArgumentException>(() => new DelimitedRecallTask(9, 44, 1) { TrainCount = 1, TestCount = 1 }).Message);
        var fromCatalog = TaskCatalog.Create(DelimitedRecallTask.TaskName, new Dictionary<string, string> { ["vocab"] = "9", ["length"] = "44", ["train"] = "2", ["test"] = "2" });
        Assert.Equal(43, fromCatalog.InputLength);
    }
}
