// The synthetic tasks of the seed papers as seeded generators (../shared/spec/tasks.md):
//   MAD (Poli et al., "Mechanistic Design and Scaling of Hybrid Architectures", arXiv:2403.17844,
//   sec. 3.1 and athms/mad-lab mad/data/instances.py with configs/tasks/*.yml): in-context recall,
//   noisy recall, fuzzy recall, selective copying, compression, memorization;
//   Zoology's MQAR (Arora et al., arXiv:2312.04927, sec. 3; HazyResearch/zoology zoology/data/multiquery_ar.py);
//   H3's associative recall and induction head (H3SyntheticTasks).
// Every generator draws from SplitMix64; the distribution is the official one, the stream is not.
// Train then test are drawn from one continuing stream (MAD draws its test set after its train set
// with the same generator). Targets use IgnoreIndex (-100) where nothing is scored.
//
// Where the loss and the score are taken (MAD's conventions):
//   recall tasks (in-context, noisy, fuzzy): train targets are the next token at every position
//     (inputs = tokens[:-1], targets = tokens[1:], nothing ignored); test targets keep only the
//     recalled values (values of keys seen before, and the final probe's value);
//   memorization, selective copying: inputs and targets aligned, the same in train and test;
//   MQAR: the value at each query position, train and test alike (Zoology);
//   H3 tasks: every next token in train, the final answer in test (H3's data module).
//
// Known flaws of the official generators and the choice made here:
//   - fuzzy recall: the official loop can end before the planted probe pair is placed, so the final
//     probe's key never appeared (about 2% of sequences at L 128). FIXED: such draws are rejected and
//     redrawn (the distribution is the official one conditioned on a recallable probe).
//   - selective copying: the official generator places the blanks with NumPy's global, unseeded
//     np.random.randint, so its data are not reproducible from the seed. FIXED: seeded here. KEPT:
//     blanks are inserted before a data token chosen uniformly (np.insert at indices in [0, T)), so
//     the last data token always sits right before the copy token, as in the official data.
//   - selective copying copied 16 tokens in every setting before a December 2024 fix: here T is a
//     parameter and is honoured.
//   - memorization: the fixed table pairs (V - 1) / 2 keys (127 for V 256) with shuffled values;
//     KEPT (the official table; one value id is never used).
//   - compression: the official generator never masks noise positions (returned targets = inputs);
//     here there is no noise option, so it does not arise. Compression is scored by MAD with an
//     encoder-decoder that reads the last position; a causal language model scoring its own inputs
//     is trivial, so `reference train` refuses it (the generator is still here and tested).
//   - MQAR: the filler is uniform over the whole vocabulary, so it can repeat a key as a distractor;
//     KEPT. Gaps are drawn one at a time proportional to the remaining weights (successive sampling),
//     the usual reading of np.random.choice(replace=False, p=...).
using System.Globalization;
using Reference.Core;

namespace Reference.Models;

/// <summary>One synthetic task with its settings: its vocabulary, the input length of its sequences and its two splits.</summary>
public abstract class SyntheticTask
{
    /// <summary>Target value meaning "not scored" (PyTorch's ignore_index).</summary>
    public const int IgnoreIndex = -100;

    /// <summary>The task's name in <see cref="TaskCatalog"/>.</summary>
    public abstract string Name { get; }

    /// <summary>Vocabulary V (every input and target id is in [0, V)).</summary>
    public abstract int Vocabulary { get; }

    /// <summary>Input length T of every sequence.</summary>
    public abstract int InputLength { get; }

    public required int TrainCount { get; init; }
    public required int TestCount { get; init; }

    /// <summary>The settings as "key value" text (logs, checkpoints).</summary>
    public abstract string Describe();

    /// <summary>Chance level of the scored positions (a uniform guess among the possible answers).</summary>
    public abstract double Chance { get; }

    /// <summary>One example: input ids [T], train targets [T], test targets [T].</summary>
    protected abstract (int[] Inputs, int[] TrainTargets, int[] TestTargets) Example(SplitMix64 rng);

    /// <summary>The train split (train targets) then the test split (test targets), from one SplitMix64(seed) stream.</summary>
    public virtual (SyntheticSplit Train, SyntheticSplit Test) Generate(ulong seed)
    {
        var rng = new SplitMix64(seed);
        return (Split(rng, TrainCount, train: true), Split(rng, TestCount, train: false));
    }

    /// <summary>The sequences of each train segment (<see cref="GenerateSegments"/>): one segment of TrainCount for every task but a mixture.</summary>
    public virtual IReadOnlyList<int> TrainSegmentCounts => [TrainCount];

    /// <summary>
    /// The train split as segments, each of one length (one segment for every task but a mixture such as
    /// <see cref="MqarMixTask"/>, whose segments differ in length and are batched apart), and the test split.
    /// </summary>
    public virtual (IReadOnlyList<SyntheticSplit> Train, SyntheticSplit Test) GenerateSegments(ulong seed)
    {
        var (train, test) = Generate(seed);
        return ([train], test);
    }

    /// <summary><paramref name="count"/> examples drawn in order from <paramref name="rng"/>, with their train or test targets.</summary>
    internal SyntheticSplit Split(SplitMix64 rng, int count, bool train)
    {
        int t = InputLength;
        var inputs = new int[count * t];
        var targets = new int[count * t];
        for (int s = 0; s < count; s++)
        {
            var (x, yTrain, yTest) = Example(rng);
            x.CopyTo(inputs, s * t);
            (train ? yTrain : yTest).CopyTo(targets, s * t);
        }
        return new SyntheticSplit(inputs, targets, count, t, Vocabulary);
    }

    protected static ArgumentException Bad(string name, string message) => new($"task setting '{name}' {message}.", name);

    protected void CheckCounts()
    {
        if (TrainCount < 1) throw Bad("train", $"must be >= 1, got {TrainCount}");
        if (TestCount < 1) throw Bad("test", $"must be >= 1, got {TestCount}");
    }

    protected static string Text(params (string Key, object Value)[] items) =>
        string.Join(", ", items.Select(i => string.Create(CultureInfo.InvariantCulture, $"{i.Key} {i.Value}")));
}

/// <summary>
/// MAD in-context recall (and noisy recall with a noise vocabulary), multi-query as MAD's configs:
/// keys 0..K-1 and values K..2K-1 with K = (V - noise) / 2, noise ids after them; L/2 - 1 slots, each a
/// pair "k v" (a key keeps its value within a sequence) or, with probability frac, two noise tokens
/// (one uniformly chosen slot is never noise); then a probe "k v" of a key that appeared. The token
/// list has length L; inputs are its first L - 1 tokens.
/// </summary>
public sealed class InContextRecallTask : SyntheticTask
{
    public InContextRecallTask(int vocabulary = 16, int length = 128, int noiseVocabulary = 0, double fracNoise = 0.0, bool noisy = false)
    {
        Noisy = noisy;
        if (length < 4 || length % 2 != 0) throw Bad("length", $"must be even and >= 4 (at least one pair and the probe), got {length}");
        if (noiseVocabulary < 0) throw Bad("noise_vocab", $"must be >= 0, got {noiseVocabulary}");
        if (!(fracNoise >= 0 && fracNoise < 1)) throw Bad("frac_noise", $"must be in [0, 1), got {fracNoise}");
        if (fracNoise > 0 && noiseVocabulary == 0) throw Bad("noise_vocab", "must be > 0 when frac_noise > 0");
        if ((vocabulary - noiseVocabulary) / 2 < 1) throw Bad("vocab", $"= {vocabulary} leaves no key and value ids after {noiseVocabulary} noise ids");
        (V, L, NoiseVocabulary, FracNoise) = (vocabulary, length, noiseVocabulary, fracNoise);
    }

    private int V { get; }
    private int L { get; }
    public int NoiseVocabulary { get; }
    public double FracNoise { get; }
    public bool Noisy { get; }
    public override string Name => Noisy ? "noisy-recall" : "in-context-recall";
    public override int Vocabulary => V;
    public override int InputLength => L - 1;
    private int Keys => (V - NoiseVocabulary) / 2;
    public override double Chance => 1.0 / Keys;
    public override string Describe() => Text(("vocab", V), ("length", L), ("noise_vocab", NoiseVocabulary), ("frac_noise", FracNoise), ("train", TrainCount), ("test", TestCount));

    protected override (int[], int[], int[]) Example(SplitMix64 rng)
    {
        int keys = Keys, slots = L / 2 - 1, nonSpecial = V - NoiseVocabulary;
        var tokens = new List<int>(L);
        var test = new List<int>(L);
        var table = new int[keys];
        Array.Fill(table, -1);
        var presented = new List<int>();
        var seen = new bool[keys];
        int keep = rng.NextInt(slots + 1);   // the official not_noise_idx is drawn over L/2 slots, the last being the probe's
        for (int i = 0; i < slots; i++)
        {
            if (FracNoise > 0 && i != keep && rng.Uniform() < FracNoise)
            {
                for (int j = 0; j < 2; j++) { tokens.Add(nonSpecial + rng.NextInt(NoiseVocabulary)); test.Add(IgnoreIndex); }
                continue;
            }
            int k = rng.NextInt(keys);
            if (table[k] < 0) table[k] = keys + rng.NextInt(nonSpecial - keys);
            tokens.Add(k);
            tokens.Add(table[k]);
            test.Add(IgnoreIndex);
            test.Add(seen[k] ? table[k] : IgnoreIndex);
            if (!seen[k]) { seen[k] = true; presented.Add(k); }
        }
        if (presented.Count == 0)
        {
            // Every slot was noise (possible only when slot "keep" is the probe's): the official code then fails; redraw.
            return Example(rng);
        }
        int probe = presented[rng.NextInt(presented.Count)];
        tokens.Add(probe); tokens.Add(table[probe]);
        test.Add(IgnoreIndex); test.Add(table[probe]);
        return Shifted(tokens, test);
    }

    /// <summary>inputs = tokens[:-1]; train targets = tokens[1:]; test targets = scored[1:].</summary>
    internal static (int[], int[], int[]) Shifted(List<int> tokens, List<int> scored)
    {
        int n = tokens.Count - 1;
        return ([.. tokens.Take(n)], [.. tokens.Skip(1)], [.. scored.Skip(1)]);
    }
}

/// <summary>
/// MAD fuzzy in-context recall (multi-query): keys are tuples of 1..kMotif distinct ids from
/// 0..K-1, values tuples of 1..vMotif distinct ids from K..2K-1 (K = (V - 1) / 2; V - 1 is the pad
/// token); test sequences use keys of size kMotif only. A probe pair is planted at a uniform point
/// and repeated at the end; the list is left-padded with V - 1 to L + 1 tokens; inputs are its first L.
/// </summary>
public sealed class FuzzyRecallTask : SyntheticTask
{
    public FuzzyRecallTask(int vocabulary = 16, int length = 128, int keyMotif = 3, int valueMotif = 3)
    {
        if (keyMotif < 1) throw Bad("k_motif", $"must be >= 1, got {keyMotif}");
        if (valueMotif < 1) throw Bad("v_motif", $"must be >= 1, got {valueMotif}");
        int half = (vocabulary - 1) / 2;
        if (half < Math.Max(keyMotif, valueMotif)) throw Bad("vocab", $"= {vocabulary} gives {half} key ids, fewer than the motif sizes {keyMotif}, {valueMotif}");
        if (length < 4 * (keyMotif + valueMotif) + 1)
            throw Bad("length", $"must be >= 4 (k_motif + v_motif) + 1 = {4 * (keyMotif + valueMotif) + 1} (room for the planted probe and its repeat), got {length}");
        (V, L, KeyMotif, ValueMotif) = (vocabulary, length, keyMotif, valueMotif);
    }

    private int V { get; }
    private int L { get; }
    public int KeyMotif { get; }
    public int ValueMotif { get; }
    public override string Name => "fuzzy-recall";
    public override int Vocabulary => V;
    public override int InputLength => L;
    public override double Chance => 1.0 / ((V - 1) - (V - 1) / 2);
    public override string Describe() => Text(("vocab", V), ("length", L), ("k_motif", KeyMotif), ("v_motif", ValueMotif), ("train", TrainCount), ("test", TestCount));

    public override (SyntheticSplit Train, SyntheticSplit Test) Generate(ulong seed)
    {
        var rng = new SplitMix64(seed);
        return (Draw(rng, TrainCount, true), Draw(rng, TestCount, false));
    }

    private SyntheticSplit Draw(SplitMix64 rng, int count, bool train)
    {
        var inputs = new int[count * L];
        var targets = new int[count * L];
        for (int s = 0; s < count;)
        {
            var e = Draw(rng, train);
            if (e is null) continue;   // the probe's key never appeared (the official flaw): redraw
            e.Value.Inputs.CopyTo(inputs, s * L);
            e.Value.Targets.CopyTo(targets, s * L);
            s++;
        }
        return new SyntheticSplit(inputs, targets, count, L, V);
    }

    /// <summary>Not used: <see cref="Generate"/> draws whole splits (a draw can be rejected).</summary>
    protected override (int[], int[], int[]) Example(SplitMix64 rng) => throw new InvalidOperationException("fuzzy recall draws through Generate.");

    private int[] Tuple(SplitMix64 rng, int size, int offset, int count)
    {
        // A uniform ordered tuple of distinct ids: the official code draws one of all permutations of that size.
        var pool = Enumerable.Range(offset, count).ToArray();
        var t = new int[size];
        for (int i = 0; i < size; i++)
        {
            int j = i + rng.NextInt(count - i);
            (pool[i], pool[j]) = (pool[j], pool[i]);
            t[i] = pool[i];
        }
        return t;
    }

    private (int[] Inputs, int[] Targets)? Draw(SplitMix64 rng, bool train)
    {
        int half = (V - 1) / 2, values = (V - 1) - half, pad = V - 1;
        int kProbeSize = train ? 1 + rng.NextInt(KeyMotif) : KeyMotif;
        int vProbeSize = 1 + rng.NextInt(ValueMotif);
        var kProbe = Tuple(rng, kProbeSize, 0, half);
        var vProbe = Tuple(rng, vProbeSize, half, values);
        int probeSize = kProbeSize + vProbeSize;
        int probeAt = rng.NextInt(L - 2 * probeSize);
        bool probeAdded = false, probeSeen = false;
        var table = new Dictionary<string, int[]>();
        var tokens = new List<int>(L + 1);
        var scored = new List<int>(L + 1);
        string Key(int[] k) => string.Join(',', k);
        string probeKey = Key(kProbe);
        while (tokens.Count < L - probeSize - (KeyMotif + ValueMotif))
        {
            int kSize = train ? 1 + rng.NextInt(KeyMotif) : KeyMotif;
            int vSize = 1 + rng.NextInt(ValueMotif);
            if (tokens.Count >= probeAt && !probeAdded)
            {
                tokens.AddRange(kProbe); tokens.AddRange(vProbe);
                for (int i = 0; i < probeSize; i++) scored.Add(IgnoreIndex);
                table[probeKey] = vProbe;
                probeAdded = probeSeen = true;
                continue;
            }
            var k = Tuple(rng, kSize, 0, half);
            string key = Key(k);
            int[] v;
            if (key == probeKey) { v = vProbe; probeAdded = probeSeen = true; }
            else if (!table.TryGetValue(key, out v!)) v = Tuple(rng, vSize, half, values);
            bool before = table.ContainsKey(key);
            table[key] = v;
            tokens.AddRange(k); tokens.AddRange(v);
            for (int i = 0; i < k.Length; i++) scored.Add(IgnoreIndex);
            foreach (int x in v) scored.Add(before ? x : IgnoreIndex);
        }
        if (!probeSeen) return null;
        tokens.AddRange(kProbe); tokens.AddRange(vProbe);
        for (int i = 0; i < kProbeSize; i++) scored.Add(IgnoreIndex);
        scored.AddRange(vProbe);
        int padding = L + 1 - tokens.Count;
        if (padding > 0)
        {
            tokens.InsertRange(0, Enumerable.Repeat(pad, padding));
            scored.InsertRange(0, Enumerable.Repeat(IgnoreIndex, padding));
        }
        var all = tokens.ToArray();
        var y = train ? all.Skip(1).ToArray() : scored.Skip(1).ToArray();
        return (all[..L], y);
    }
}

/// <summary>
/// MAD memorization: a fixed table (from SplitMix64(tableSeed), the same for every sequence and
/// split) maps K = (V - 1) / 2 keys 0..K-1 to distinct values among K..V-2; V - 1 is the insert
/// token. A sequence is L/2 pairs "k INS" with k uniform; the target at INS is the key's value.
/// </summary>
public sealed class MemorizationTask : SyntheticTask
{
    private readonly int[] table;

    public MemorizationTask(int vocabulary = 256, int length = 32, ulong tableSeed = 12345)
    {
        if (vocabulary < 4) throw Bad("vocab", $"must be >= 4 (a key, a value and the insert token), got {vocabulary}");
        if (length < 2 || length % 2 != 0) throw Bad("length", $"must be even and >= 2, got {length}");
        (V, L) = (vocabulary, length);
        int keys = (V - 1) / 2, values = (V - 1) - keys;
        var rng = new SplitMix64(tableSeed);
        var keyOrder = Shuffled(rng, 0, keys);
        var valueOrder = Shuffled(rng, keys, values);
        table = new int[keys];
        for (int i = 0; i < keys; i++) table[keyOrder[i]] = valueOrder[i];
    }

    private int V { get; }
    private int L { get; }
    public override string Name => "memorization";
    public override int Vocabulary => V;
    public override int InputLength => L;
    public override double Chance => 1.0 / ((V - 1) - (V - 1) / 2);
    public IReadOnlyList<int> Table => table;
    public override string Describe() => Text(("vocab", V), ("length", L), ("train", TrainCount), ("test", TestCount));

    protected override (int[], int[], int[]) Example(SplitMix64 rng)
    {
        var x = new int[L];
        var y = new int[L];
        for (int i = 0; i < L / 2; i++)
        {
            int k = rng.NextInt(table.Length);
            x[2 * i] = k; x[2 * i + 1] = V - 1;
            y[2 * i] = IgnoreIndex; y[2 * i + 1] = table[k];
        }
        return (x, y, y);
    }

    private static int[] Shuffled(SplitMix64 rng, int offset, int count)
    {
        var a = Enumerable.Range(offset, count).ToArray();
        for (int i = a.Length - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (a[i], a[j]) = (a[j], a[i]); }
        return a;
    }
}

/// <summary>MAD compression: L - 1 uniform ids 0..V-2 then the compression token V - 1; the target is the input itself (every position).</summary>
public sealed class CompressionTask : SyntheticTask
{
    public CompressionTask(int vocabulary = 16, int length = 32)
    {
        if (vocabulary < 2) throw Bad("vocab", $"must be >= 2, got {vocabulary}");
        if (length < 2) throw Bad("length", $"must be >= 2, got {length}");
        (V, L) = (vocabulary, length);
    }

    private int V { get; }
    private int L { get; }
    public override string Name => "compression";
    public override int Vocabulary => V;
    public override int InputLength => L;
    public override double Chance => 1.0 / (V - 1);
    public override string Describe() => Text(("vocab", V), ("length", L), ("train", TrainCount), ("test", TestCount));

    protected override (int[], int[], int[]) Example(SplitMix64 rng)
    {
        var x = new int[L];
        for (int i = 0; i < L - 1; i++) x[i] = rng.NextInt(V - 1);
        x[L - 1] = V - 1;
        return (x, (int[])x.Clone(), (int[])x.Clone());
    }
}

/// <summary>
/// MAD selective copying: T data ids uniform over 0..V-3, L - 2T - 1 blanks (V - 2) each inserted
/// before a uniformly chosen data token, then the copy token V - 1 and T blanks; the targets are the
/// data in order on the last T positions.
/// </summary>
public sealed class SelectiveCopyingTask : SyntheticTask
{
    public SelectiveCopyingTask(int vocabulary = 16, int length = 256, int copies = 16)
    {
        if (vocabulary < 3) throw Bad("vocab", $"must be >= 3 (a data id, blank and copy), got {vocabulary}");
        if (copies < 1) throw Bad("copies", $"must be >= 1, got {copies}");
        if (length <= 2 * copies + 1) throw Bad("length", $"must be > 2 copies + 1 = {2 * copies + 1} (the data, the copy token and the answer slots), got {length}");
        (V, L, Copies) = (vocabulary, length, copies);
    }

    private int V { get; }
    private int L { get; }
    public int Copies { get; }
    public override string Name => "selective-copying";
    public override int Vocabulary => V;
    public override int InputLength => L;
    public override double Chance => 1.0 / (V - 2);
    public override string Describe() => Text(("vocab", V), ("length", L), ("copies", Copies), ("train", TrainCount), ("test", TestCount));

    protected override (int[], int[], int[]) Example(SplitMix64 rng)
    {
        int t = Copies, blanks = L - 2 * t - 1, blank = V - 2, copy = V - 1;
        var data = new int[t];
        for (int i = 0; i < t; i++) data[i] = rng.NextInt(V - 2);
        var before = new int[t];   // blanks inserted before data token i
        for (int b = 0; b < blanks; b++) before[rng.NextInt(t)]++;
        var x = new List<int>(L);
        for (int i = 0; i < t; i++) { x.AddRange(Enumerable.Repeat(blank, before[i])); x.Add(data[i]); }
        x.Add(copy);
        x.AddRange(Enumerable.Repeat(blank, t));
        var y = new int[L];
        Array.Fill(y, IgnoreIndex);
        data.CopyTo(y, L - t);
        return ([.. x], y, y);
    }
}

/// <summary>
/// Zoology's multi-query associative recall: N distinct keys from 1..V/2-1 and N distinct values from
/// V/2..V-1 as "k v" pairs (context 2N), then a query region of L - 2N tokens where key j sits at
/// 2N + 2 g_j with gaps g_j distinct in [0, (L - 2N)/2) drawn with weights (g + 1)^(a - 1); every other
/// position is uniform over the vocabulary. The target at key j's query position is its value.
/// </summary>
public sealed class MqarTask : SyntheticTask
{
    public MqarTask(int vocabulary = 8192, int length = 64, int pairs = 4, double powerA = 0.01)
    {
        if (length < 2 || length % 2 != 0) throw Bad("length", $"must be even and >= 2, got {length}");
        if (pairs < 1) throw Bad("pairs", $"must be >= 1, got {pairs}");
        if (4 * pairs > length) throw Bad("pairs", $"= {pairs} needs length >= 4 pairs = {4 * pairs} (context and queries), got length {length}");
        if (vocabulary <= length) throw Bad("vocab", $"must be > length {length} (Zoology's condition), got {vocabulary}");
        if (vocabulary / 2 - 1 < pairs) throw Bad("vocab", $"= {vocabulary} has {vocabulary / 2 - 1} keys, fewer than pairs {pairs}");
        if (!(powerA > 0)) throw Bad("power_a", $"must be > 0, got {powerA}");
        (V, L, Pairs, PowerA) = (vocabulary, length, pairs, powerA);
    }

    private int V { get; }
    private int L { get; }
    public int Pairs { get; }
    public double PowerA { get; }
    public override string Name => "mqar";
    public override int Vocabulary => V;
    public override int InputLength => L;
    public override double Chance => 1.0 / (V - V / 2);
    public override string Describe() => Text(("vocab", V), ("length", L), ("pairs", Pairs), ("power_a", PowerA), ("train", TrainCount), ("test", TestCount));

    protected override (int[], int[], int[]) Example(SplitMix64 rng)
    {
        int n = Pairs, context = 2 * n, space = (L - context) / 2, half = V / 2;
        var keys = Distinct(rng, 1, half - 1, n);
        var values = Distinct(rng, half, V - half, n);
        var x = new int[L];
        var y = new int[L];
        Array.Fill(x, -1);
        Array.Fill(y, IgnoreIndex);
        for (int j = 0; j < n; j++) { x[2 * j] = keys[j]; x[2 * j + 1] = values[j]; }
        var weights = new double[space];
        for (int g = 0; g < space; g++) weights[g] = PowerA * Math.Pow(g + 1, PowerA - 1);
        for (int j = 0; j < n; j++)
        {
            double total = 0;
            foreach (double w in weights) total += w;
            double u = rng.Uniform() * total, acc = 0;
            int gap = space - 1;
            for (int g = 0; g < space; g++)
            {
                if (weights[g] == 0) continue;
                acc += weights[g];
                if (u < acc) { gap = g; break; }
            }
            while (weights[gap] == 0) gap--;   // rounding at the top end
            weights[gap] = 0;
            x[context + 2 * gap] = keys[j];
            y[context + 2 * gap] = values[j];
        }
        for (int i = 0; i < L; i++) if (x[i] < 0) x[i] = rng.NextInt(V);
        return (x, y, y);
    }

    /// <summary>n distinct ids from offset..offset+count-1, in draw order (a partial Fisher-Yates).</summary>
    private static int[] Distinct(SplitMix64 rng, int offset, int count, int n)
    {
        var chosen = new Dictionary<int, int>();
        var result = new int[n];
        for (int i = 0; i < n; i++)
        {
            int j = i + rng.NextInt(count - i);
            int at = chosen.GetValueOrDefault(j, j), here = chosen.GetValueOrDefault(i, i);
            chosen[j] = here;
            result[i] = offset + at;
        }
        return result;
    }
}

/// <summary>H3's associative recall or induction head (H3SyntheticTasks) as a task of the catalog.</summary>
public sealed class H3CatalogTask : SyntheticTask
{
    public H3CatalogTask(H3Task task, int vocabulary = 20, int length = 40)
    {
        // The H3 generator validates its own sizes; one example makes it say so now.
        _ = H3SyntheticTasks.Example(task, new SplitMix64(0), vocabulary, length);
        (Task, V, L) = (task, vocabulary, length);
    }

    public H3Task Task { get; }
    private int V { get; }
    private int L { get; }
    public override string Name => Task == H3Task.AssociativeRecall ? "h3-recall" : "h3-induction";
    public override int Vocabulary => V;
    public override int InputLength => H3SyntheticTasks.InputLength(Task, L);
    public override double Chance => H3SyntheticTasks.Chance(Task, V);
    public override string Describe() => Text(("vocab", V), ("length", L), ("train", TrainCount), ("test", TestCount));

    public override (SyntheticSplit Train, SyntheticSplit Test) Generate(ulong seed) =>
        H3SyntheticTasks.Generate(Task, V, L, TrainCount, TestCount, seed);

    /// <summary>Not used: H3SyntheticTasks draws whole splits (it rejects duplicates).</summary>
    protected override (int[], int[], int[]) Example(SplitMix64 rng) => throw new InvalidOperationException("the H3 tasks draw through Generate.");
}
