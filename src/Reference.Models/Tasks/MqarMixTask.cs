// MQAR trained on a mixture of (length, pairs) configurations and tested on one, as Zoology trains it
// (Arora et al., "Simple linear attention language models balance the recall-throughput tradeoff",
// arXiv:2402.18668, fig. 2; HazyResearch/zoology zoology/experiments/paper_configs/arxiv24_based_figure2/configs.py
// and mqar_example_configs/original_mqar_configs.py): train segments (L 64, 4 pairs, 100,000),
// (128, 8, 20,000), (256, 16, 20,000), (256, 32, 20,000), (256, 64, 20,000), each drawn by the MQAR generator
// (MqarTask), and a test split of one configuration (here by default L 256 with 64 pairs, the check).
//
// Batching. Zoology's _SyntheticDataset (zoology/data/utils.py) cuts each segment into batches of its own
// sequences (never mixing lengths) and its DataLoader does not shuffle, so every epoch runs the segments in
// their listed order: the longest, hardest segment last, just before each evaluation. Here every batch is
// likewise one segment's, but the epoch's batches run in a seeded random order (Trainer's MixtureOrder), so
// an evaluation at any step sees a model trained on the whole mixture, not on a stretch of the shortest
// segment. A segment gives floor(count / B) full batches per epoch from a fresh permutation of its sequences
// (Zoology keeps a last partial batch; over epochs the permutations use every sequence).
//
// Each segment's sequences are generated from one continuing SplitMix64 stream, segments in order, then the
// test split (Zoology seeds each segment apart): the distribution is the official one, the stream is not.
using System.Globalization;
using Reference.Core;

namespace Reference.Models;

/// <summary>One train segment of an MQAR mixture: <paramref name="Count"/> sequences of length <paramref name="Length"/> with <paramref name="Pairs"/> key-value pairs.</summary>
public sealed record MqarSegment(int Length, int Pairs, int Count)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Length}:{Pairs}:{Count}");
}

/// <summary>
/// MQAR with a train mixture of (length, pairs, count) segments and a test split of one (length, pairs)
/// configuration, all with vocabulary V and the same power-law gap exponent. The model is built for the
/// test length, which must be at least every segment's length.
/// </summary>
public sealed class MqarMixTask : SyntheticTask
{
    public const string TaskName = "mqar-mix";

    /// <summary>Zoology's train mixture (arxiv24_based_figure2/configs.py) as the "mix" setting's text.</summary>
    public const string ZoologyMix = "64:4:100000,128:8:20000,256:16:20000,256:32:20000,256:64:20000";

    public MqarMixTask(IReadOnlyList<MqarSegment> mix, int vocabulary = 8192, int length = 256, int pairs = 64, double powerA = 0.01)
    {
        ArgumentNullException.ThrowIfNull(mix);
        if (mix.Count == 0) throw Bad("mix", "must name at least one segment LENGTH:PAIRS:COUNT");
        Test = new MqarTask(vocabulary, length, pairs, powerA) { TrainCount = 1, TestCount = 1 };
        var segments = new MqarTask[mix.Count];
        for (int i = 0; i < mix.Count; i++)
        {
            var m = mix[i];
            if (m.Count < 1) throw Bad("mix", $"segment {i} ({m}) must have count >= 1");
            if (m.Length > length) throw Bad("mix", $"segment {i} ({m}) is longer than the test length {length} the model is built for");
            try { segments[i] = new MqarTask(vocabulary, m.Length, m.Pairs, powerA) { TrainCount = m.Count, TestCount = 1 }; }
            catch (ArgumentException e) { throw Bad("mix", $"segment {i} ({m}) is impossible: {e.Message}"); }
        }
        (Mix, Segments, V, L, Pairs, PowerA) = ([.. mix], segments, vocabulary, length, pairs, powerA);
    }

    /// <summary>The train segments in order.</summary>
    public IReadOnlyList<MqarSegment> Mix { get; }
    private MqarTask[] Segments { get; }
    public override IReadOnlyList<int> TrainSegmentCounts => [.. Mix.Select(m => m.Count)];
    private MqarTask Test { get; }
    private int V { get; }
    private int L { get; }
    public int Pairs { get; }
    public double PowerA { get; }
    public override string Name => TaskName;
    public override int Vocabulary => V;
    public override int InputLength => L;
    public override double Chance => Test.Chance;

    public override string Describe() =>
        Text(("vocab", V), ("length", L), ("pairs", Pairs), ("power_a", PowerA), ("mix", FormatMix(Mix)), ("train", TrainCount), ("test", TestCount));

    /// <summary>The mixture as the "mix" setting's text: LENGTH:PAIRS:COUNT segments separated by commas.</summary>
    public static string FormatMix(IEnumerable<MqarSegment> mix) => string.Join(",", mix);

    /// <summary>Parses LENGTH:PAIRS:COUNT[,LENGTH:PAIRS:COUNT...]; an ArgumentException naming "mix" otherwise.</summary>
    public static IReadOnlyList<MqarSegment> ParseMix(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<MqarSegment>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var f = part.Split(':', StringSplitOptions.TrimEntries);
            if (f.Length != 3 || !int.TryParse(f[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int length)
                || !int.TryParse(f[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int pairs)
                || !int.TryParse(f[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out int count))
                throw Bad("mix", $"must be LENGTH:PAIRS:COUNT segments separated by commas (e.g. {ZoologyMix}), got segment '{part}'");
            result.Add(new MqarSegment(length, pairs, count));
        }
        return result;
    }

    /// <summary>Not used: the mixture has several lengths; <see cref="GenerateSegments"/> gives its splits.</summary>
    protected override (int[], int[], int[]) Example(SplitMix64 rng) =>
        throw new InvalidOperationException("mqar-mix draws its examples per segment (GenerateSegments).");

    /// <summary>Refused: the train split is several segments of different lengths (<see cref="GenerateSegments"/>).</summary>
    public override (SyntheticSplit Train, SyntheticSplit Test) Generate(ulong seed) =>
        throw new InvalidOperationException("task 'mqar-mix' has train segments of several lengths; use GenerateSegments.");

    /// <summary>The segments in order, then the test split, from one SplitMix64(seed) stream.</summary>
    public override (IReadOnlyList<SyntheticSplit> Train, SyntheticSplit Test) GenerateSegments(ulong seed)
    {
        if (TrainCount != Segments.Sum(s => s.TrainCount))
            throw Bad("train", $"of mqar-mix is the segments' total {Segments.Sum(s => s.TrainCount)}, got {TrainCount}");
        var rng = new SplitMix64(seed);
        var train = Segments.Select(s => s.Split(rng, s.TrainCount, train: true)).ToArray();
        return (train, Test.Split(rng, TestCount, train: false));
    }
}
