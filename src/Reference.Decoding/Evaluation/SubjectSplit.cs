// Splits by subject, and only by subject (Varoquaux & Thirion-style held-out subjects; the
// challenges paper, arXiv:2108.06896, on leakage): a split is three disjoint sets of subjects, and
// the samples of a part are exactly the samples of its subjects. Building a split whose parts share
// a subject is an error, so no decoder can ever be trained and tested on the same person.
using Reference.Core;

namespace Reference.Decoding;

/// <summary>Train, validation and test subjects (disjoint by construction).</summary>
public sealed class SubjectSplit
{
    public SubjectSplit(IReadOnlyCollection<int> train, IReadOnlyCollection<int> validation, IReadOnlyCollection<int> test)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(validation);
        ArgumentNullException.ThrowIfNull(test);
        if (train.Count == 0) throw new ArgumentException("the split has no training subject; expected at least one.", nameof(train));
        if (test.Count == 0) throw new ArgumentException("the split has no test subject; expected at least one.", nameof(test));
        foreach (var (name, part) in new[] { ("train", train), ("validation", validation), ("test", test) })
            if (part.Distinct().Count() != part.Count) throw new ArgumentException($"the {name} subjects list a subject twice.", name);
        var shared = train.Intersect(test).Concat(train.Intersect(validation)).Concat(validation.Intersect(test)).Distinct().OrderBy(s => s).ToArray();
        if (shared.Length > 0)
            throw new ArgumentException($"subject leakage: subject(s) {string.Join(", ", shared.Select(Id))} appear in more than one of train, validation and test; expected disjoint subject sets.", nameof(test));
        Train = [.. train.Order()];
        Validation = [.. validation.Order()];
        Test = [.. test.Order()];
    }

    public int[] Train { get; }
    public int[] Validation { get; }
    public int[] Test { get; }

    public static string Id(int subject) => $"sub-{subject + 1:D2}";

    /// <summary>
    /// The fixed test subjects: the last <paramref name="testCount"/> of a seeded permutation of
    /// 0..subjects-1; the rest is the pool that learning curves draw training subjects from.
    /// </summary>
    public static (int[] Pool, int[] Test) HoldOut(int subjects, int testCount, ulong seed)
    {
        if (testCount < 1 || testCount >= subjects) throw new ArgumentException($"test_subjects = {testCount}; expected 1..{subjects - 1} of the {subjects} subjects.", "test_subjects");
        var order = Permutation(subjects, new SplitMix64(seed ^ 0x5E1EC7UL));
        return ([.. order.Take(subjects - testCount)], [.. order.Skip(subjects - testCount)]);
    }

    /// <summary>A split of <paramref name="trainCount"/> training and <paramref name="validationCount"/> validation subjects drawn from the pool (seeded), and the given test subjects.</summary>
    public static SubjectSplit Draw(int[] pool, int[] test, int trainCount, int validationCount, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(pool);
        if (trainCount < 1 || validationCount < 0 || trainCount + validationCount > pool.Length)
            throw new ArgumentException($"{trainCount} training + {validationCount} validation subjects; the pool has {pool.Length} (expected train >= 1 and their sum <= the pool).", "train_subjects");
        var order = Permutation(pool.Length, new SplitMix64(seed));
        return new SubjectSplit(order.Take(trainCount).Select(i => pool[i]).ToArray(), order.Skip(trainCount).Take(validationCount).Select(i => pool[i]).ToArray(), test);
    }

    private static int[] Permutation(int n, SplitMix64 rng)
    {
        var order = Enumerable.Range(0, n).ToArray();
        for (int i = n - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (order[i], order[j]) = (order[j], order[i]); }
        return order;
    }
}
