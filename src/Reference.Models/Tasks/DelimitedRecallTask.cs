// In-context recall over documents separated by a delimiter (end-of-sequence) token: the setting of
// the ESS paper's delimiter study (arXiv:2504.19561: ESS per position around EOS tokens),
// built from MAD's in-context recall (arXiv:2403.17844, sec. 3.1) so that a small model can learn it.
// A sequence is S segments; each is a run of "k v" pairs followed by the delimiter. Every segment draws
// its own key -> value table, so a binding from an earlier segment is a wrong answer in a later one:
// a model scores well only if it stops using what came before the delimiter, which is the behaviour
// whose trace in ESS (a drop at the delimiter) the experiment measures.
//
// Layout: keys 0..K-1, values K..2K-1, delimiter V - 1, K = (V - 1) / 2. The token list has length L =
// 2 P + S (P pairs in all, S delimiters, the last one closing the sequence); segment i holds m_i >= 2
// pairs, m_i = 2 + a multinomial share of the P - 2 S spare pairs (uniform over segments), so the
// delimiters sit at varying positions. Inputs are the first L - 1 tokens (MAD's recall shift); train
// targets are the next token everywhere; test targets keep the values of keys already seen in the
// same segment.
using Reference.Core;

namespace Reference.Models;

/// <summary>In-context recall over S delimiter-separated segments with their own key-value tables.</summary>
public sealed class DelimitedRecallTask : SyntheticTask
{
    public const string TaskName = "delimited-recall";

    public DelimitedRecallTask(int vocabulary = 17, int length = 64, int segments = 4)
    {
        if (vocabulary < 5 || vocabulary % 2 == 0) throw Bad("vocab", $"must be odd and >= 5 (keys, values and the delimiter), got {vocabulary}");
        if (segments < 2) throw Bad("segments", $"must be >= 2 (a delimiter between two segments), got {segments}");
        if ((length - segments) % 2 != 0) throw Bad("length", $"minus segments must be even (2 tokens per pair plus one delimiter per segment), got length {length}, segments {segments}");
        if ((length - segments) / 2 < 2 * segments) throw Bad("length", $"= {length} leaves fewer than 2 pairs per segment for {segments} segments (needs length >= {5 * segments})");
        (V, L, Segments) = (vocabulary, length, segments);
    }

    private int V { get; }
    private int L { get; }
    public int Segments { get; }

    /// <summary>The delimiter's id (V - 1).</summary>
    public int Delimiter => V - 1;

    private int Keys => (V - 1) / 2;
    public override string Name => TaskName;
    public override int Vocabulary => V;
    public override int InputLength => L - 1;
    public override double Chance => 1.0 / Keys;
    public override string Describe() => Text(("vocab", V), ("length", L), ("segments", Segments), ("train", TrainCount), ("test", TestCount));

    protected override (int[], int[], int[]) Example(SplitMix64 rng)
    {
        int keys = Keys, pairs = (L - Segments) / 2;
        var perSegment = new int[Segments];
        Array.Fill(perSegment, 2);
        for (int spare = pairs - 2 * Segments; spare > 0; spare--) perSegment[rng.NextInt(Segments)]++;
        var tokens = new List<int>(L);
        var test = new List<int>(L);
        var table = new int[keys];
        foreach (int m in perSegment)
        {
            Array.Fill(table, -1);
            for (int p = 0; p < m; p++)
            {
                int k = rng.NextInt(keys);
                bool seen = table[k] >= 0;
                if (!seen) table[k] = keys + rng.NextInt(keys);
                tokens.Add(k); tokens.Add(table[k]);
                test.Add(IgnoreIndex); test.Add(seen ? table[k] : IgnoreIndex);
            }
            tokens.Add(Delimiter);
            test.Add(IgnoreIndex);
        }
        return InContextRecallTask.Shifted(tokens, test);
    }
}
