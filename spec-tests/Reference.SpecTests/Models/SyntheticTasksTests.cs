using Reference.Models;

namespace Reference.SpecTests.Models;

public sealed class SyntheticTasksTests
{
    private const int Ignore = SyntheticTask.IgnoreIndex;

    private static IEnumerable<int> Row(int[] a, int s, int t) => a.Skip(s * t).Take(t);

    [Fact]
    public void Property_MqarQueriesRecallTheirContextPairs()
    {
        var task = new MqarTask(vocabulary: 128, length: 64, pairs: 8) { TrainCount = 50, TestCount = 20 };
        var (train, test) = task.Generate(7);
        foreach (var split in new[] { train, test })
            for (int s = 0; s < split.Count; s++)
            {
                var x = Row(split.Inputs, s, 64).ToArray();
                var y = Row(split.Targets, s, 64).ToArray();
                var keys = Enumerable.Range(0, 8).Select(j => x[2 * j]).ToArray();
                Assert.Equal(8, keys.Distinct().Count());
                Assert.All(keys, k => Assert.InRange(k, 1, 63));
                Assert.All(Enumerable.Range(0, 8), j => Assert.InRange(x[2 * j + 1], 64, 127));
                int scored = 0;
                for (int i = 0; i < 64; i++)
                {
                    if (y[i] == Ignore) continue;
                    scored++;
                    Assert.True(i >= 16 && (i - 16) % 2 == 0, $"query at {i} is not in the query region's even slots");
                    int j = Array.IndexOf(keys, x[i]);
                    Assert.True(j >= 0, "the query key appeared in the context");
                    Assert.Equal(x[2 * j + 1], y[i]);
                }
                Assert.Equal(8, scored);
            }
    }

    [Fact]
    public void Property_MqarGapsFollowThePowerLaw()
    {
        // With a = 0.01 the weights (g + 1)^(a - 1) favour short gaps: the first query slot is filled far more often than the last.
        var (train, _) = new MqarTask(vocabulary: 512, length: 64, pairs: 2) { TrainCount = 2000, TestCount = 1 }.Generate(3);
        int first = 0, last = 0;
        for (int s = 0; s < train.Count; s++)
        {
            if (train.Targets[s * 64 + 4] != Ignore) first++;
            if (train.Targets[s * 64 + 62] != Ignore) last++;
        }
        Assert.True(first > 10 * Math.Max(1, last), $"first slot {first}, last slot {last}");
    }

    [Fact]
    public void Property_InContextRecallScoresOnlyValuesOfRepeatedKeys()
    {
        var task = new InContextRecallTask(16, 64) { TrainCount = 20, TestCount = 40 };
        var (train, test) = task.Generate(1);
        Assert.Equal(63, test.Length);
        for (int s = 0; s < test.Count; s++)
        {
            var x = Row(test.Inputs, s, 63).ToArray();
            var y = Row(test.Targets, s, 63).ToArray();
            var table = new Dictionary<int, int>();
            for (int i = 0; i + 1 < 63; i += 2)
            {
                Assert.InRange(x[i], 0, 7);
                if (table.TryGetValue(x[i], out int v)) Assert.Equal(v, x[i + 1]);
                else table[x[i]] = x[i + 1];
            }
            // the target at position i is the next token (a value) when scored; it is scored iff its key came before.
            var seen = new HashSet<int>();
            for (int i = 0; i < 63; i += 2)
            {
                bool repeated = seen.Contains(x[i]);
                Assert.Equal(repeated ? table[x[i]] : Ignore, y[i]);
                seen.Add(x[i]);
            }
            Assert.NotEqual(Ignore, y[62]);   // the probe's value is always scored (its key appeared)
        }
        // Train targets are the inputs shifted by one, nothing ignored.
        for (int i = 0; i < 62; i++) Assert.Equal(train.Inputs[i + 1], train.Targets[i]);
    }

    [Fact]
    public void Property_NoisyRecallUsesNoiseIdsInPairs()
    {
        var (_, test) = new InContextRecallTask(32, 128, 16, 0.5, noisy: true) { TrainCount = 1, TestCount = 30 }.Generate(2);
        int noise = 0;
        for (int s = 0; s < test.Count; s++)
            for (int i = 0; i + 1 < 126; i += 2)
            {
                int a = test.Inputs[s * 127 + i], b = test.Inputs[s * 127 + i + 1];
                Assert.Equal(a >= 16, b >= 16);   // a slot is two noise tokens or a pair
                if (a >= 16) { noise++; Assert.Equal(Ignore, test.Targets[s * 127 + i]); }
            }
        Assert.InRange(noise / (30.0 * 62), 0.4, 0.6);
    }

    [Fact]
    public void Property_FuzzyRecallProbeKeyAlwaysAppearedBefore()
    {
        var task = new FuzzyRecallTask(16, 64) { TrainCount = 5, TestCount = 200 };
        var (_, test) = task.Generate(4);
        for (int s = 0; s < test.Count; s++)
        {
            var x = Row(test.Inputs, s, 64).ToArray();
            var y = Row(test.Targets, s, 64).ToArray();
            // The last scored run of targets is the probe's value; the 3 tokens before it (shifted) are the probe key.
            int end = 63;
            Assert.NotEqual(Ignore, y[end]);
            int start = end;
            while (start > 0 && y[start - 1] != Ignore) start--;
            var key = x.Skip(start - 2).Take(3).ToArray();   // input i holds token i; y[i] = token i + 1
            string context = string.Join(',', x.Take(start - 2));
            Assert.Contains(string.Join(',', key), context);
        }
    }

    [Fact]
    public void Property_SelectiveCopyingTargetsAreTheDataInOrder()
    {
        var task = new SelectiveCopyingTask(16, 64, 8) { TrainCount = 30, TestCount = 1 };
        var (train, _) = task.Generate(5);
        for (int s = 0; s < train.Count; s++)
        {
            var x = Row(train.Inputs, s, 64).ToArray();
            var y = Row(train.Targets, s, 64).ToArray();
            int copy = Array.IndexOf(x, 15);
            Assert.Equal(64 - 8 - 1, copy);
            var data = x.Take(copy).Where(t => t != 14).ToArray();
            Assert.Equal(8, data.Length);
            Assert.Equal(data, y.Skip(56));
            Assert.All(y.Take(56), t => Assert.Equal(Ignore, t));
            Assert.NotEqual(14, x[copy - 1]);   // the kept official layout: the last data token precedes the copy token
        }
    }

    [Fact]
    public void Property_MemorizationUsesOneFixedTable()
    {
        var task = new MemorizationTask() { TrainCount = 20, TestCount = 20 };
        Assert.Equal(127, task.Table.Count);   // the official table's 127 keys (V 256)
        Assert.Equal(127, task.Table.Distinct().Count());
        var (train, test) = task.Generate(6);
        foreach (var split in new[] { train, test })
            for (int i = 0; i < split.Inputs.Length; i += 2)
            {
                Assert.Equal(255, split.Inputs[i + 1]);
                Assert.Equal(task.Table[split.Inputs[i]], split.Targets[i + 1]);
                Assert.Equal(Ignore, split.Targets[i]);
            }
    }

    [Fact]
    public void Property_CompressionEndsWithTheCompressionToken()
    {
        var (train, _) = new CompressionTask(16, 32) { TrainCount = 10, TestCount = 1 }.Generate(8);
        for (int s = 0; s < 10; s++)
        {
            Assert.Equal(15, train.Inputs[s * 32 + 31]);
            Assert.Equal(Row(train.Inputs, s, 32), Row(train.Targets, s, 32));
            Assert.All(train.Inputs.Skip(s * 32).Take(31), t => Assert.InRange(t, 0, 14));
        }
    }

    [Fact]
    public void Property_GeneratorsAreSeeded()
    {
        foreach (var name in TaskCatalog.Names)
        {
            // mqar-mix has no train count but segments (MqarMixTests checks them).
            var small = name == MqarMixTask.TaskName
                ? new Dictionary<string, string> { ["mix"] = "16:2:3,32:4:2", ["test"] = "2" }
                : new Dictionary<string, string> { ["train"] = "3", ["test"] = "2" };
            var a = TaskCatalog.Create(name, small).GenerateSegments(11);
            var b = TaskCatalog.Create(name, small).GenerateSegments(11);
            Assert.Equal(a.Train.Count, b.Train.Count);
            for (int i = 0; i < a.Train.Count; i++)
            {
                Assert.Equal(a.Train[i].Inputs, b.Train[i].Inputs);
                Assert.All(a.Train[i].Inputs, t => Assert.InRange(t, 0, a.Train[i].Vocabulary - 1));
            }
            Assert.Equal(a.Test.Targets, b.Test.Targets);
        }
    }

    [Fact]
    public void Edge_ImpossibleSizesAreRejectedByName()
    {
        var e = Assert.Throws<ArgumentException>(() => TaskCatalog.Create("mqar", new Dictionary<string, string> { ["length"] = "64", ["pairs"] = "17" }));
        Assert.Contains("'pairs'", e.Message);
        e = Assert.Throws<ArgumentException>(() => TaskCatalog.Create("selective-copying", new Dictionary<string, string> { ["length"] = "33", ["copies"] = "16" }));
        Assert.Contains("'length'", e.Message);
        e = Assert.Throws<ArgumentException>(() => TaskCatalog.Create("in-context-recall", new Dictionary<string, string> { ["length"] = "7" }));
        Assert.Contains("'length'", e.Message);
        e = Assert.Throws<ArgumentException>(() => TaskCatalog.Create("mqar", new Dictionary<string, string> { ["pair"] = "4" }));
        Assert.Contains("'pair'", e.Message);
        e = Assert.Throws<ArgumentException>(() => TaskCatalog.Create("recall"));
        Assert.Contains("mqar", e.Message);
    }

    [Fact]
    public void Property_MacroAccuracyIsTorchmetricsMacro()
    {
        // Targets 0, 0, 1, 2; predictions 0, 1, 1, 1 (argmax of one-hot logits); V = 4.
        // recall: class 0 1/2, class 1 1/1, class 2 0/1; class 3 absent everywhere (dropped) -> (0.5 + 1 + 0) / 3.
        var m = new TaskMetrics(4);
        double[] logits = [1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0];
        m.Add(logits, [0, 0, 1, 2]);
        Assert.Equal(0.5, m.Accuracy, 15);
        Assert.Equal(0.5, m.MacroAccuracy, 15);
        // A second batch (one target of class 3, predicted 3) averages per batch: (0.5 + 1) / 2.
        m.Add([0, 0, 0, 1, 0, 0, 0, 0], [3, Ignore]);
        Assert.Equal(0.75, m.MacroAccuracy, 15);
        Assert.Equal(3.0 / 5, m.Accuracy, 15);
    }
}
