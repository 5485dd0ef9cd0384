// The real-text task: next-token prediction on a small English corpus, Debian's `fortunes`
// packages (installed by the project's set-up, .ci/run and the README; nothing is downloaded at run
// time). The corpus is every top-level file of the fortune directory (the plain-text databases, not
// their .dat indexes or .u8 links, nor the off/ subdirectory), each split into entries at its "%"
// lines, in file-name order then file order. Entry i goes to the held-out split when i mod 10 = 9
// (a fixed 10%; whole entries, so no sentence is in both), to the training split otherwise. Each
// split's entries are tokenized and joined with a separator token (a newline byte for bytes, GPT-2's
// <|endoftext|> for gpt2), then cut into non-overlapping windows of L + 1 tokens: inputs the first
// L, targets the last L (every position scored). Perplexity = exp(mean cross-entropy) over the
// held-out windows.
//
// Tokenizers: "bytes" (UTF-8 bytes, vocabulary 256) or "gpt2" (Microsoft.ML.Tokenizers'
// TiktokenTokenizer for GPT-2 with its data package, vocabulary 50257, byte-level BPE).
using System.Globalization;
using System.Text;
using Microsoft.ML.Tokenizers;
using Reference.Core;

namespace Reference.Models;

/// <summary>Encodes text to token ids and back: UTF-8 bytes or GPT-2's BPE.</summary>
public sealed class TextCodec
{
    private readonly Tokenizer? gpt2;

    private TextCodec(string name, Tokenizer? tokenizer) => (Name, gpt2) = (name, tokenizer);

    /// <summary>"bytes" or "gpt2".</summary>
    public string Name { get; }

    /// <summary>Vocabulary V: 256 for bytes, 50257 for GPT-2.</summary>
    public int Vocabulary => gpt2 is null ? 256 : 50257;

    /// <summary>The token between two corpus entries: '\n' for bytes, &lt;|endoftext|&gt; (50256) for GPT-2.</summary>
    public int Separator => gpt2 is null ? '\n' : 50256;

    public static TextCodec Create(string name) => name switch
    {
        "bytes" => new TextCodec(name, null),
        "gpt2" => new TextCodec(name, TiktokenTokenizer.CreateForModel("gpt2")),
        _ => throw new ArgumentException($"task setting 'tokenizer' must be bytes or gpt2, got '{name}'.", "tokenizer"),
    };

    /// <summary>The codec of a task description written by the text task ("... tokenizer gpt2 ..."), or null for another task.</summary>
    public static TextCodec? ForTask(string task)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (!task.StartsWith(TextTask.TaskName, StringComparison.Ordinal)) return null;
        int at = task.IndexOf("tokenizer ", StringComparison.Ordinal);
        if (at < 0) return null;
        string rest = task[(at + "tokenizer ".Length)..];
        int end = rest.IndexOf(',', StringComparison.Ordinal);
        return Create((end < 0 ? rest : rest[..end]).Trim());
    }

    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return gpt2 is null ? [.. Encoding.UTF8.GetBytes(text).Select(b => (int)b)] : [.. gpt2.EncodeToIds(text)];
    }

    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        return gpt2 is null ? Encoding.UTF8.GetString([.. ids.Select(i => (byte)i)]) : gpt2.Decode(ids) ?? "";
    }
}

/// <summary>Next-token prediction on the fortunes corpus (see the file head); test loss gives the held-out perplexity.</summary>
public sealed class TextTask : SyntheticTask
{
    public const string TaskName = "text";
    public const string DefaultCorpus = "/usr/share/games/fortunes";

    private readonly TextCodec codec;
    private (SyntheticSplit Train, SyntheticSplit Test)? splits;

    /// <param name="corpus">Directory of fortune files.</param>
    /// <param name="tokenizer">bytes or gpt2.</param>
    /// <param name="length">Input length L.</param>
    /// <param name="train">Training windows kept (0 = all).</param>
    /// <param name="test">Held-out windows kept (0 = all).</param>
    [System.Diagnostics.CodeAnalysis.SetsRequiredMembers]
    public TextTask(string corpus, string tokenizer, int length, int train, int test)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        if (length < 1) throw Bad("length", $"must be >= 1, got {length}");
        if (train < 0) throw Bad("train", $"must be >= 0 (0: every window), got {train}");
        if (test < 0) throw Bad("test", $"must be >= 0 (0: every window), got {test}");
        if (!Directory.Exists(corpus))
            throw Bad("corpus", $"'{corpus}' is not a directory (install Debian's fortunes packages: apt-get install fortunes; the project's set-up does)");
        codec = TextCodec.Create(tokenizer);
        (Corpus, L, TrainLimit, TestLimit) = (corpus, length, train, test);
        var (trainWindows, testWindows) = Build();
        if (trainWindows.Count == 0 || testWindows.Count == 0)
            throw Bad("length", $"= {length} leaves no window of L + 1 tokens in a split of the corpus '{corpus}'");
        splits = (Split(trainWindows), Split(testWindows));
        TrainCount = splits.Value.Train.Count;
        TestCount = splits.Value.Test.Count;
    }

    public string Corpus { get; }
    public TextCodec Codec => codec;
    private int L { get; }
    private int TrainLimit { get; }
    private int TestLimit { get; }
    public override string Name => TaskName;
    public override int Vocabulary => codec.Vocabulary;
    public override int InputLength => L;
    public override double Chance => 1.0 / codec.Vocabulary;
    public override string Describe() => Text(("tokenizer", codec.Name), ("length", L), ("train", TrainCount), ("test", TestCount), ("corpus", Corpus));

    /// <summary>The corpus entries in order (file name, then position in the file).</summary>
    public static IReadOnlyList<string> Entries(string corpus)
    {
        var entries = new List<string>();
        foreach (var file in Directory.GetFiles(corpus).Where(f => Path.GetExtension(f) is "").Order(StringComparer.Ordinal))
        {
            var current = new StringBuilder();
            foreach (var line in File.ReadLines(file, Encoding.UTF8))
            {
                if (line == "%") { Flush(); continue; }
                current.Append(line).Append('\n');
            }
            Flush();

            void Flush()
            {
                var text = current.ToString().Trim();
                if (text.Length > 0) entries.Add(text);
                current.Clear();
            }
        }
        return entries;
    }

    private (List<int[]> Train, List<int[]> Test) Build()
    {
        var entries = Entries(Corpus);
        var train = new List<int>();
        var test = new List<int>();
        for (int i = 0; i < entries.Count; i++)
        {
            var target = i % 10 == 9 ? test : train;
            target.AddRange(codec.Encode(entries[i]));
            target.Add(codec.Separator);
        }
        return (Windows(train, TrainLimit), Windows(test, TestLimit));
    }

    private List<int[]> Windows(List<int> stream, int limit)
    {
        var windows = new List<int[]>();
        for (int start = 0; start + L + 1 <= stream.Count && (limit == 0 || windows.Count < limit); start += L + 1)
            windows.Add(stream.GetRange(start, L + 1).ToArray());
        return windows;
    }

    private SyntheticSplit Split(List<int[]> windows)
    {
        var inputs = new int[windows.Count * L];
        var targets = new int[windows.Count * L];
        for (int s = 0; s < windows.Count; s++)
        {
            windows[s].AsSpan(0, L).CopyTo(inputs.AsSpan(s * L));
            windows[s].AsSpan(1, L).CopyTo(targets.AsSpan(s * L));
        }
        return new SyntheticSplit(inputs, targets, windows.Count, L, Vocabulary);
    }

    /// <summary>The corpus splits (the seed does not enter: the corpus and its split are fixed).</summary>
    public override (SyntheticSplit Train, SyntheticSplit Test) Generate(ulong seed) => splits!.Value;

    protected override (int[] Inputs, int[] TrainTargets, int[] TestTargets) Example(SplitMix64 rng) =>
        throw new NotSupportedException("the text task is a fixed corpus, not a generator.");
}
