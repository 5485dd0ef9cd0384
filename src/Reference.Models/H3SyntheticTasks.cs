// The two synthetic language-modelling tasks of H3, the in-context skills that motivated the layer.
//
// Paper: H3, Fu, Dao et al., arXiv:2212.14052, Sec. 3.1 and Table 1 (data as in the official
// generators, HazyResearch/safari src/dataloaders/synthetics.py, configs pipeline/induction_head and
// experiment/synthetics/associative_recall):
//   Induction head:      "a b c => d e f ... => ?"  -> d   (recall the token after the special "=>")
//   Associative recall:  "a 2 c 4 b 3 ... => c ?"   -> 4   (recall the value of a queried key)
// Vocabulary of size V (the paper: V = 20): noop 0, ordinary tokens 1..n with n = V - 2, the special
// copy token "=>" = n + 1 (this is the order the official string vocabulary sorts into: ".", digits,
// "=>"). Associative recall splits the ordinary tokens into keys 1..n/2 and values n/2+1..n.
//
// Glossary (code -> paper / official generator):
//   length L          input_seq_len (induction: 30, recall: 40 in the paper's configs)
//   Copy, Noop        copy_prefix "=>", noop "."
//   example           the full token list; inputs = example[:-1], targets = example[1:]
//   trainCount/testCount   num_examples / num_test_examples (paper: 5,000 / 500)
//
// Layouts (one example, before the shift):
//   induction head (length L + 2): L tokens uniform over 1..n, then "=>"; one position p uniform in
//     [0, L - 3] is overwritten with "=>", the token X already at p + 1 is kept, and X is appended:
//     "t_0 .. t_{p-1} => X t_{p+2} .. t_{L-1} => X". (The official num_triggers = 1, induction_len = 1.)
//   associative recall (length 2 floor(L/2) + 3): a fresh key -> value table (each key's value uniform
//     over the values, values may repeat); floor(L/2) pairs "k v" with k uniform over the keys; then
//     "=> q v(q)", q uniform over the keys and, if q did not occur, redrawn uniformly among the keys
//     that occurred (allow_dot = False: the answer is always in context).
// Where the loss is taken (as the official data module): training targets are next tokens at every
// position (no ignore index; only the last one is predictable for induction, while recall also
// rewards repeated keys inside the sequence); test targets are kept only at the final position (the
// answer), every other one is IgnoreIndex, so test accuracy = accuracy of the answer token.
//
// Deliberate choices: examples are drawn from SplitMix64 (the distribution matches the official one,
// the stream does not); duplicates are rejected within a split (the official torch.unique + refill)
// but, as there, not across splits; train then test are drawn from one continuing stream; the
// official final shuffle is dropped (examples are i.i.d. already).
using Reference.Core;

namespace Reference.Models;

/// <summary>The two H3 synthetic tasks.</summary>
public enum H3Task
{
    /// <summary>Recall the token that followed the special token "=>" earlier in the sequence.</summary>
    InductionHead,

    /// <summary>Recall the value paired with the queried key earlier in the sequence.</summary>
    AssociativeRecall,
}

/// <summary>
/// A split of a synthetic task: Inputs and Targets [S, T] row-major (S sequences of T tokens), the
/// targets shifted by one (Targets[s, t] = example[s][t + 1]); ignored targets are
/// <see cref="H3SyntheticTasks.IgnoreIndex"/>.
/// </summary>
public sealed record SyntheticSplit(int[] Inputs, int[] Targets, int Count, int Length, int Vocabulary)
{
    /// <summary>Rows <paramref name="start"/>.. of the split as a batch (copies).</summary>
    public (int[] Inputs, int[] Targets) Batch(int start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        if (count < 1 || start + count > Count)
            throw new ArgumentOutOfRangeException(nameof(count), $"rows [{start}, {start + count}) must lie inside [0, {Count}), got count {count}.");
        return (Inputs.AsSpan(start * Length, count * Length).ToArray(), Targets.AsSpan(start * Length, count * Length).ToArray());
    }

    /// <summary>The answer of sequence s (its final target).</summary>
    public int Answer(int s) => Targets[s * Length + Length - 1];
}

public static class H3SyntheticTasks
{
    /// <summary>Target value meaning "no loss here" (PyTorch's default ignore_index).</summary>
    public const int IgnoreIndex = -100;

    /// <summary>The noop token "." (id 0).</summary>
    public const int Noop = 0;

    /// <summary>The special copy token "=>" of a vocabulary of size V (id V - 1).</summary>
    public static int Copy(int vocabulary) => vocabulary - 1;

    /// <summary>
    /// One induction-head example of length L + 2 (see the file head): L uniform ordinary tokens with
    /// "=>" X planted at a uniform position p in [0, L - 3], then "=> X".
    /// </summary>
    public static int[] InductionHeadExample(SplitMix64 rng, int vocabulary, int length)
    {
        ArgumentNullException.ThrowIfNull(rng);
        Check(H3Task.InductionHead, vocabulary, length);
        int n = vocabulary - 2, copy = Copy(vocabulary);
        var example = new int[length + 2];
        for (int t = 0; t < length; t++) example[t] = 1 + rng.NextInt(n);
        int p = rng.NextInt(length - 2);
        example[p] = copy;
        example[length] = copy;
        example[length + 1] = example[p + 1];
        return example;
    }

    /// <summary>
    /// One associative-recall example of length 2 floor(L/2) + 3: floor(L/2) "k v" pairs under a fresh
    /// key -> value table, then "=> q v(q)" with q a key that occurred (see the file head).
    /// </summary>
    public static int[] AssociativeRecallExample(SplitMix64 rng, int vocabulary, int length)
    {
        ArgumentNullException.ThrowIfNull(rng);
        Check(H3Task.AssociativeRecall, vocabulary, length);
        int n = vocabulary - 2, keys = n / 2, values = n - keys, pairs = length / 2;
        var table = new int[keys];
        for (int k = 0; k < keys; k++) table[k] = 1 + keys + rng.NextInt(values);
        var present = new bool[keys];
        var presentList = new List<int>(keys);
        var example = new int[2 * pairs + 3];
        for (int i = 0; i < pairs; i++)
        {
            int k = rng.NextInt(keys);
            example[2 * i] = 1 + k;
            example[2 * i + 1] = table[k];
            if (!present[k]) { present[k] = true; presentList.Add(k); }
        }
        int q = rng.NextInt(keys);
        if (!present[q]) q = presentList[rng.NextInt(presentList.Count)];
        example[2 * pairs] = Copy(vocabulary);
        example[2 * pairs + 1] = 1 + q;
        example[2 * pairs + 2] = table[q];
        return example;
    }

    /// <summary>One example of <paramref name="task"/>.</summary>
    public static int[] Example(H3Task task, SplitMix64 rng, int vocabulary, int length) => task switch
    {
        H3Task.InductionHead => InductionHeadExample(rng, vocabulary, length),
        H3Task.AssociativeRecall => AssociativeRecallExample(rng, vocabulary, length),
        _ => throw new ArgumentOutOfRangeException(nameof(task), $"task must be InductionHead or AssociativeRecall, got {task}."),
    };

    /// <summary>
    /// The train and test splits, drawn in that order from one SplitMix64(seed) stream, duplicates
    /// rejected within a split. Train targets: every next token; test targets: the answer only.
    /// </summary>
    public static (SyntheticSplit Train, SyntheticSplit Test) Generate(H3Task task, int vocabulary, int length,
        int trainCount, int testCount, ulong seed)
    {
        Check(task, vocabulary, length);
        ArgumentOutOfRangeException.ThrowIfLessThan(trainCount, 1, nameof(trainCount));
        ArgumentOutOfRangeException.ThrowIfLessThan(testCount, 1, nameof(testCount));
        var rng = new SplitMix64(seed);
        var train = Split(task, rng, vocabulary, length, trainCount, answerOnly: false, nameof(trainCount));
        var test = Split(task, rng, vocabulary, length, testCount, answerOnly: true, nameof(testCount));
        return (train, test);
    }

    /// <summary>Input length T of a task's sequences (the example length minus one).</summary>
    public static int InputLength(H3Task task, int length) => task == H3Task.InductionHead ? length + 1 : 2 * (length / 2) + 2;

    /// <summary>Accuracy of always guessing uniformly among the possible answers (1/n or 1/(n - n/2)).</summary>
    public static double Chance(H3Task task, int vocabulary) =>
        task == H3Task.InductionHead ? 1.0 / (vocabulary - 2) : 1.0 / (vocabulary - 2 - (vocabulary - 2) / 2);

    private static SyntheticSplit Split(H3Task task, SplitMix64 rng, int vocabulary, int length, int count, bool answerOnly, string argument)
    {
        int t = InputLength(task, length);
        if ((long)count * t > Array.MaxLength)
            throw new ArgumentOutOfRangeException(argument, $"{argument} = {count} sequences of {t} tokens exceed the largest array ({Array.MaxLength} elements).");
        var inputs = new int[count * t];
        var targets = new int[count * t];
        var seen = new HashSet<string>(count);
        int rejected = 0;
        for (int s = 0; s < count;)
        {
            var example = Example(task, rng, vocabulary, length);
            if (!seen.Add(string.Join(',', example)))
            {
                // The example space is tiny only for toy settings; a cap keeps a bad request from looping.
                if (++rejected > 100 * count + 1000)
                    throw new ArgumentOutOfRangeException(argument,
                        $"only {s} distinct examples found for V = {vocabulary}, L = {length}; asked for {count}.");
                continue;
            }
            example.AsSpan(0, t).CopyTo(inputs.AsSpan(s * t, t));
            for (int i = 0; i < t; i++)
                targets[s * t + i] = answerOnly && i < t - 1 ? IgnoreIndex : example[i + 1];
            s++;
        }
        return new SyntheticSplit(inputs, targets, count, t, vocabulary);
    }

    private static void Check(H3Task task, int vocabulary, int length)
    {
        int minVocabulary = task == H3Task.InductionHead ? 3 : 4;
        if (vocabulary < minVocabulary)
            throw new ArgumentOutOfRangeException(nameof(vocabulary),
                $"vocabulary must be >= {minVocabulary} (noop, \"=>\" and the ordinary tokens), got {vocabulary}.");
        int minLength = task == H3Task.InductionHead ? 3 : 2;
        if (length < minLength)
            throw new ArgumentOutOfRangeException(nameof(length), $"length must be >= {minLength} for {task}, got {length}.");
    }
}
