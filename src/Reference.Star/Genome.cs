// STAR's backbone genome (arXiv:2411.17800, sec. 3.2): five integers per LIV for a fixed depth,
//   1. LIV class id (LivCatalog),
//   2. featurizer-sharing group (1..depth),
//   3. featurizer-sharing strategy (1 none, 2 all featurizer weights shared with the group),
//   4. feature-group-sharing group (1..depth),
//   5. feature-group-sharing strategy (1 none, 2 reuse the group's computed features: K/V, B/C, ...).
// The flat form is the 5 * depth integers in layer order (what crossover and mutation act on); the JSON
// form names the classes too so a genome file can be read by a person.
//
// Validity (../shared/spec/star.md) and the repair that enforces it, in this order:
//   a. a class id outside the pool becomes pool[(id - 1) mod |pool|] (ids <= 0 map through |id|);
//   b. a group outside 1..depth is clamped into it; a strategy outside its domain becomes 1;
//   c. a feature-group strategy the class does not support (GMemless has no shareable features) becomes 1;
//   d. a sharing group's leader is its first member (lowest layer); a later member whose category or
//      differential status differs from the leader's (featurizer sharing), or whose feature signature or
//      differential status differs (feature-group sharing: the reused tensors must have the right shape),
//      falls back to strategy 1;
//   e. a group left with one member falls back to strategy 1.
// The leader never changes in d (it is never removed), so e only drops groups d already emptied, and a
// second pass finds nothing to change: repair is idempotent.
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Reference.Core;

namespace Reference.Star;

/// <summary>The five genes of one LIV.</summary>
public readonly record struct LivGene(int ClassId, int FeaturizerGroup, int FeaturizerStrategy, int FeatureGroup, int FeatureStrategy)
{
    public LivClass Class => LivCatalog.Get(ClassId);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{ClassId}.{FeaturizerGroup}.{FeaturizerStrategy}.{FeatureGroup}.{FeatureStrategy}");
}

/// <summary>An immutable backbone genome: five integers per LIV.</summary>
public sealed class Genome : IEquatable<Genome>
{
    public const int GenesPerLiv = 5;
    public const string Format = "reference.star.genome/1";
    private readonly int[] genes;

    private Genome(int[] genes) => this.genes = genes;

    /// <summary>The genome of the flat integers (length a positive multiple of 5; no validity check: see <see cref="GenomeSpace.Repair"/>).</summary>
    public static Genome FromFlat(ReadOnlySpan<int> flat)
    {
        if (flat.Length == 0 || flat.Length % GenesPerLiv != 0)
            throw new ArgumentException($"a genome has {GenesPerLiv} integers per LIV, got {flat.Length} integers.", nameof(flat));
        return new Genome(flat.ToArray());
    }

    public static Genome FromGenes(IEnumerable<LivGene> livs) =>
        FromFlat([.. livs.SelectMany(g => new[] { g.ClassId, g.FeaturizerGroup, g.FeaturizerStrategy, g.FeatureGroup, g.FeatureStrategy })]);

    /// <summary>Number of LIVs.</summary>
    public int Depth => genes.Length / GenesPerLiv;

    /// <summary>The flat integers (a copy).</summary>
    public int[] Flatten() => (int[])genes.Clone();

    public ReadOnlySpan<int> Flat => genes;

    public LivGene this[int layer] => new(genes[GenesPerLiv * layer], genes[GenesPerLiv * layer + 1], genes[GenesPerLiv * layer + 2],
        genes[GenesPerLiv * layer + 3], genes[GenesPerLiv * layer + 4]);

    public IEnumerable<LivGene> Livs => Enumerable.Range(0, Depth).Select(i => this[i]);

    /// <summary>The text form: one "class.fgroup.fstrategy.group.strategy" per LIV, space separated.</summary>
    public override string ToString() => string.Join(' ', Livs.Select(g => g.ToString()));

    /// <summary>Parses the text form of <see cref="ToString"/>.</summary>
    public static Genome ParseText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var flat = new List<int>();
        foreach (var liv in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = liv.Split('.');
            if (parts.Length != GenesPerLiv) throw new ArgumentException($"genome text: '{liv}' must be {GenesPerLiv} integers joined by '.'.", nameof(text));
            foreach (var p in parts)
                flat.Add(int.TryParse(p, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) ? v
                    : throw new ArgumentException($"genome text: '{p}' in '{liv}' is not an integer.", nameof(text)));
        }
        return FromFlat([.. flat]);
    }

    /// <summary>The JSON form: format, depth, the genes as one array of five per LIV, the class names (informative).</summary>
    public JsonObject ToJsonObject()
    {
        var livs = new JsonArray();
        foreach (var g in Livs) livs.Add(new JsonArray(g.ClassId, g.FeaturizerGroup, g.FeaturizerStrategy, g.FeatureGroup, g.FeatureStrategy));
        return new JsonObject
        {
            ["format"] = Format,
            ["depth"] = Depth,
            ["genes"] = livs,
            ["classes"] = new JsonArray([.. Livs.Select(g => (JsonNode?)(g.ClassId is >= 1 and <= 17 ? g.Class.Name : "?"))]),
        };
    }

    public string ToJson() => ToJsonObject().ToJsonString();

    /// <summary>Parses the JSON form (an object with "genes", or a bare array of five-integer arrays); errors name the field.</summary>
    public static Genome ParseJson(string json)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(json); }
        catch (JsonException e) { throw new ArgumentException($"genome JSON is not valid JSON: {e.Message}", nameof(json)); }
        return FromJson(root);
    }

    public static Genome FromJson(JsonNode? root)
    {
        JsonNode? genesNode = root;
        if (root is JsonObject o)
        {
            if (o["format"] is JsonValue f && f.TryGetValue<string>(out var fmt) && fmt != Format)
                throw new ArgumentException($"genome field 'format' is '{fmt}', expected '{Format}'.", "genome");
            genesNode = o["genes"] ?? throw new ArgumentException("genome field 'genes' is required.", "genome");
        }
        if (genesNode is not JsonArray list || list.Count == 0) throw new ArgumentException("genome field 'genes' must be a non-empty array of five-integer arrays.", "genome");
        var flat = new List<int>();
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i] is not JsonArray liv || liv.Count != GenesPerLiv)
                throw new ArgumentException($"genome field 'genes[{i}]' must be an array of {GenesPerLiv} integers.", "genome");
            for (int j = 0; j < GenesPerLiv; j++)
                flat.Add(liv[j] is JsonValue v && v.TryGetValue<int>(out int x) ? x
                    : throw new ArgumentException($"genome field 'genes[{i}][{j}]' must be an integer, got {liv[j]?.ToJsonString() ?? "null"}.", "genome"));
        }
        return FromFlat([.. flat]);
    }

    public bool Equals(Genome? other) => other is not null && genes.AsSpan().SequenceEqual(other.genes);

    public override bool Equals(object? obj) => Equals(obj as Genome);

    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var g in genes) h.Add(g);
        return h.ToHashCode();
    }
}

/// <summary>The space genomes live in: a depth and a pool of LIV classes; per-locus domains, random draws and the repair.</summary>
public sealed class GenomeSpace
{
    public GenomeSpace(int depth, IReadOnlyList<int>? pool = null)
    {
        if (depth < 1) throw new ArgumentOutOfRangeException(nameof(depth), $"depth must be >= 1, got {depth}.");
        pool ??= [.. Enumerable.Range(1, 17)];
        if (pool.Count == 0) throw new ArgumentException("the class pool must not be empty.", nameof(pool));
        foreach (var id in pool) LivCatalog.Get(id);
        if (pool.Distinct().Count() != pool.Count) throw new ArgumentException("the class pool lists a class twice.", nameof(pool));
        Depth = depth;
        Pool = [.. pool.Order()];
    }

    public int Depth { get; }

    /// <summary>Class ids a genome may use, ascending.</summary>
    public IReadOnlyList<int> Pool { get; }

    public int Length => Depth * Genome.GenesPerLiv;

    /// <summary>The values locus <paramref name="locus"/> (0..4 within a LIV) may take before the class-dependent rules.</summary>
    public IReadOnlyList<int> Domain(int locus) => (locus % Genome.GenesPerLiv) switch
    {
        0 => Pool,
        1 or 3 => [.. Enumerable.Range(1, Depth)],
        _ => [1, 2],
    };

    /// <summary>True when every locus lies in its domain and the rules hold (repair would change nothing).</summary>
    public bool IsValid(Genome genome) => genome.Depth == Depth && Repair(genome).Equals(genome);

    /// <summary>A uniformly drawn genome, repaired.</summary>
    public Genome Random(SplitMix64 rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var flat = new int[Length];
        for (int i = 0; i < flat.Length; i++)
        {
            var domain = Domain(i);
            flat[i] = domain[rng.NextInt(domain.Count)];
        }
        return Repair(Genome.FromFlat(flat));
    }

    /// <summary>The valid genome nearest in the rules' sense (see the file header); idempotent.</summary>
    public Genome Repair(Genome genome)
    {
        ArgumentNullException.ThrowIfNull(genome);
        if (genome.Depth != Depth) throw new ArgumentException($"genome has {genome.Depth} LIVs, the space {Depth}.", nameof(genome));
        var g = genome.Flatten();
        int n = Depth;
        for (int i = 0; i < n; i++)
        {
            int at = Genome.GenesPerLiv * i;
            if (!Pool.Contains(g[at])) g[at] = Pool[(int)((Math.Abs((long)g[at]) + Pool.Count - 1) % Pool.Count)];
            g[at + 1] = Math.Clamp(g[at + 1], 1, n);
            g[at + 3] = Math.Clamp(g[at + 3], 1, n);
            if (g[at + 2] is not (1 or 2)) g[at + 2] = 1;
            if (!LivCatalog.Get(g[at]).FeatureStrategies.Contains(g[at + 4])) g[at + 4] = 1;
        }
        // Featurizer sharing: category and differential status agree with the leader.
        EnforceGroups(g, 1, 2, c => $"{c.Category}/{c.Differential}");
        // Feature-group sharing: the reused features have the same shape, and the differential status agrees.
        EnforceGroups(g, 3, 4, c => $"{c.FeatureSignature}/{c.Differential}");
        return Genome.FromFlat(g);
    }

    private void EnforceGroups(int[] g, int groupLocus, int strategyLocus, Func<LivClass, string> key)
    {
        var leaders = new Dictionary<int, int>();
        for (int i = 0; i < Depth; i++)
        {
            int at = Genome.GenesPerLiv * i;
            if (g[at + strategyLocus] != 2) continue;
            if (!leaders.TryGetValue(g[at + groupLocus], out int leader)) leaders[g[at + groupLocus]] = i;
            else if (key(LivCatalog.Get(g[at])) != key(LivCatalog.Get(g[Genome.GenesPerLiv * leader]))) g[at + strategyLocus] = 1;
        }
        foreach (var (group, leader) in leaders)
        {
            bool alone = true;
            for (int i = leader + 1; i < Depth && alone; i++)
                if (g[Genome.GenesPerLiv * i + strategyLocus] == 2 && g[Genome.GenesPerLiv * i + groupLocus] == group) alone = false;
            if (alone) g[Genome.GenesPerLiv * leader + strategyLocus] = 1;
        }
    }

    /// <summary>Sharing groups of a valid genome: for each layer, the leader layer whose featurizer weights it uses (itself when none).</summary>
    public static int[] FeaturizerLeaders(Genome genome) => Leaders(genome, 1, 2);

    /// <summary>For each layer, the leader layer whose computed features it reuses (itself when none).</summary>
    public static int[] FeatureLeaders(Genome genome) => Leaders(genome, 3, 4);

    private static int[] Leaders(Genome genome, int groupLocus, int strategyLocus)
    {
        ArgumentNullException.ThrowIfNull(genome);
        var flat = genome.Flat;
        var result = new int[genome.Depth];
        var first = new Dictionary<int, int>();
        for (int i = 0; i < result.Length; i++)
        {
            int at = Genome.GenesPerLiv * i;
            result[i] = i;
            if (flat[at + strategyLocus] != 2) continue;
            if (first.TryGetValue(flat[at + groupLocus], out int leader)) result[i] = leader;
            else first[flat[at + groupLocus]] = i;
        }
        return result;
    }
}
