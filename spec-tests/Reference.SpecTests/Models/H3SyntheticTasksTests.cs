using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Models;

namespace Reference.SpecTests.Models;

/// <summary>A task instance: vocabulary V, length L, seed of the example stream.</summary>
public sealed record TaskCase(int Vocabulary, int Length, int Seed)
{
    public static Arbitrary<TaskCase> Arbitrary() =>
        (from v in Gen.Elements(4, 5, 7, 8, 9, 12, 17, 20, 33)
         from l in Gen.Elements(3, 4, 7, 8, 9, 15, 16, 17, 30, 31, 40)
         from seed in Gen.Choose(0, int.MaxValue)
         select new TaskCase(v, l, seed)).ToArbitrary();
}

/// <summary>
/// The H3 synthetic-task generators (arXiv:2212.14052 Sec. 3.1; the official safari generators):
/// each example is checked token by token against the layout the paper's data module builds, the
/// random choices against their distributions (uniform planted position, uniform tokens, query among
/// the keys that occurred), the splits against the shift and the answer-only test mask.
/// </summary>
public class H3SyntheticTasksTests
{
    [Property(Arbitrary = [typeof(TaskCase)])]
    public void Property_InductionHead_Layout(TaskCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        int copy = c.Vocabulary - 1;
        for (int repeat = 0; repeat < 20; repeat++)
        {
            var x = H3SyntheticTasks.InductionHeadExample(rng, c.Vocabulary, c.Length);
            Assert.Equal(c.Length + 2, x.Length);
            var copies = Enumerable.Range(0, x.Length).Where(i => x[i] == copy).ToArray();
            Assert.Equal(2, copies.Length);
            int p = copies[0];
            Assert.InRange(p, 0, c.Length - 3);
            Assert.Equal(c.Length, copies[1]);
            Assert.Equal(x[p + 1], x[^1]);
            for (int i = 0; i < x.Length; i++)
                if (i != p && i != c.Length) Assert.InRange(x[i], 1, c.Vocabulary - 2);
        }
    }

    [Property(Arbitrary = [typeof(TaskCase)])]
    public void Property_AssociativeRecall_Layout(TaskCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        int n = c.Vocabulary - 2, keys = n / 2, pairs = c.Length / 2;
        for (int repeat = 0; repeat < 20; repeat++)
        {
            var x = H3SyntheticTasks.AssociativeRecallExample(rng, c.Vocabulary, c.Length);
            Assert.Equal(2 * pairs + 3, x.Length);
            var table = new Dictionary<int, int>();
            for (int i = 0; i < pairs; i++)
            {
                int k = x[2 * i], v = x[2 * i + 1];
                Assert.InRange(k, 1, keys);
                Assert.InRange(v, keys + 1, n);
                if (table.TryGetValue(k, out int seen)) Assert.Equal(seen, v);
                else table[k] = v;
            }
            Assert.Equal(c.Vocabulary - 1, x[2 * pairs]);
            Assert.True(table.ContainsKey(x[2 * pairs + 1]), $"query key {x[2 * pairs + 1]} never occurred");
            Assert.Equal(table[x[2 * pairs + 1]], x[2 * pairs + 2]);
        }
    }

    [Property(Arbitrary = [typeof(TaskCase)])]
    public void Property_Generate_ShiftsTargetsAndMasksTest(TaskCase c)
    {
        // At least V 7, L 7: the smallest tasks have fewer than 17 distinct examples (see Negative_*).
        int vocabulary = Math.Max(7, c.Vocabulary), length = Math.Max(7, c.Length);
        foreach (var task in new[] { H3Task.InductionHead, H3Task.AssociativeRecall })
        {
            var (train, test) = H3SyntheticTasks.Generate(task, vocabulary, length, 12, 5, (ulong)c.Seed);
            int t = H3SyntheticTasks.InputLength(task, length);
            Assert.Equal(t, train.Length);
            Assert.Equal(t, test.Length);

            // Replaying the stream reproduces the train examples in order (duplicates skipped).
            var rng = new SplitMix64((ulong)c.Seed);
            var seen = new HashSet<string>();
            for (int s = 0; s < train.Count;)
            {
                var x = H3SyntheticTasks.Example(task, rng, vocabulary, length);
                if (!seen.Add(string.Join(',', x))) continue;
                Assert.Equal(x[..t], train.Inputs[(s * t)..((s + 1) * t)]);
                Assert.Equal(x[1..], train.Targets[(s * t)..((s + 1) * t)]);
                s++;
            }
            for (int s = 0; s < test.Count; s++)
            {
                for (int i = 0; i < t - 1; i++) Assert.Equal(H3SyntheticTasks.IgnoreIndex, test.Targets[s * t + i]);
                Assert.NotEqual(H3SyntheticTasks.IgnoreIndex, test.Answer(s));
            }
            Assert.Equal(test.Count, Enumerable.Range(0, test.Count).Select(s => string.Join(',', [.. test.Inputs[(s * t)..((s + 1) * t)], test.Answer(s)])).Distinct().Count());
        }
    }

    [Fact]
    public void Property_InductionHead_PlantedPositionAndTokensUniform()
    {
        const int vocabulary = 20, length = 30, samples = 28_000;
        var rng = new SplitMix64(11);
        var position = new int[length - 2];
        var token = new int[vocabulary];
        for (int s = 0; s < samples; s++)
        {
            var x = H3SyntheticTasks.InductionHeadExample(rng, vocabulary, length);
            position[Array.IndexOf(x, vocabulary - 1)]++;
            token[x[^1]]++;
        }
        // Pearson chi-square against uniform: the 0.999 quantile for 27 and 17 degrees of freedom
        // is 55.5 and 40.8; a generator skewed by one slot (e.g. [0, L-2] or [1, L-3]) lands far above.
        Assert.True(ChiSquare(position) < 55.5, $"planted position chi2 = {ChiSquare(position):F1}");
        Assert.Equal(0, token[0] + token[vocabulary - 1]);
        Assert.True(ChiSquare(token[1..^1]) < 40.8, $"answer token chi2 = {ChiSquare(token[1..^1]):F1}");
    }

    [Fact]
    public void Property_AssociativeRecall_QueryUniformOverKeysThatOccurred()
    {
        // With 9 keys and 2 pairs, most keys are absent: the official generator redraws the query among
        // the keys that occurred, so the query is one of the (at most two) listed keys, each with
        // probability 1/2 when they differ (by symmetry of the redraw), never an absent key.
        const int vocabulary = 20, length = 4, samples = 20_000;
        var rng = new SplitMix64(5);
        int first = 0, second = 0;
        for (int s = 0; s < samples; s++)
        {
            var x = H3SyntheticTasks.AssociativeRecallExample(rng, vocabulary, length);
            if (x[0] == x[2]) continue;
            if (x[5] == x[0]) first++;
            else if (x[5] == x[2]) second++;
            else Assert.Fail($"query {x[5]} is not a listed key ({x[0]}, {x[2]})");
        }
        double z = (first - second) / Math.Sqrt(first + second);
        Assert.True(Math.Abs(z) < 4, $"first {first} vs second {second} (z = {z:F2})");
    }

    [Fact]
    public void Edge_SmallestSizes()
    {
        var rng = new SplitMix64(3);
        // V 3: one ordinary token 1 and "=>" = 2; L 3: the planted position can only be 0.
        Assert.Equal([2, 1, 1, 2, 1], H3SyntheticTasks.InductionHeadExample(rng, 3, 3));
        // V 4: key 1, value 2, "=>" 3; L 2: one pair.
        var recall = H3SyntheticTasks.AssociativeRecallExample(rng, 4, 2);
        Assert.Equal([1, 2, 3, 1, 2], recall);
        Assert.Equal(1.0 / 18, H3SyntheticTasks.Chance(H3Task.InductionHead, 20), 15);
        Assert.Equal(1.0 / 9, H3SyntheticTasks.Chance(H3Task.AssociativeRecall, 20), 15);
    }

    [Fact]
    public void Negative_InvalidArgumentsNameTheArgument()
    {
        var rng = new SplitMix64(1);
        Assert.Equal("vocabulary", Assert.Throws<ArgumentOutOfRangeException>(() => H3SyntheticTasks.InductionHeadExample(rng, 2, 10)).ParamName);
        Assert.Equal("length", Assert.Throws<ArgumentOutOfRangeException>(() => H3SyntheticTasks.InductionHeadExample(rng, 20, 2)).ParamName);
        Assert.Equal("vocabulary", Assert.Throws<ArgumentOutOfRangeException>(() => H3SyntheticTasks.AssociativeRecallExample(rng, 3, 10)).ParamName);
        Assert.Equal("trainCount", Assert.Throws<ArgumentOutOfRangeException>(() => H3SyntheticTasks.Generate(H3Task.InductionHead, 20, 10, 0, 1, 0)).ParamName);
        // V 3, L 3 has only 1 * 1 * 1 = 1 distinct induction example: asking for 2 must fail, not loop.
        Assert.Equal("trainCount", Assert.Throws<ArgumentOutOfRangeException>(() => H3SyntheticTasks.Generate(H3Task.InductionHead, 3, 3, 2, 1, 0)).ParamName);
    }

    private static double ChiSquare(int[] counts)
    {
        double expected = counts.Sum() / (double)counts.Length;
        return counts.Sum(c => (c - expected) * (c - expected) / expected);
    }
}
