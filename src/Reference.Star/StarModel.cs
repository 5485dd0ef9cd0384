// A genome compiled into a real language model (STAR, arXiv:2411.17800, sec. 3.2): token embedding, one
// pre-norm residual block per LIV (x = x + LIV(LayerNorm(x))), a final LayerNorm and a head, as the
// models layer's backbone (docs/models.md) but with the genome's sharing, which a ModelSpec cannot say:
//   featurizer sharing (strategy 2 in a featurizer group): every LIV of the group after the first uses the
//     first one's featurizer tensors (same name and shape; branch a with a, b with b for differential
//     classes). The model registers each tensor once, so optimizers, checkpoints and the parameter count
//     see one tensor, and the tape sums the gradients of all its uses.
//   feature-group sharing (strategy 2 in a feature group): every LIV of the group after the first takes the
//     first one's computed features (K/V, B/C, q/k, the convolution's k/v) in the same forward pass.
// Parameter count and cache also come from the class formulas (LivFormulas) with the same sharing rules;
// the tests compare both with the real tensors and the operators' real decoding states.
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;

namespace Reference.Star;

/// <summary>The language model of a genome.</summary>
public sealed class StarModel : Module
{
    private readonly LivBranch[][] branches;
    private readonly Layer[] norms;
    private readonly int[] featureLeaders;

    private StarModel(Genome genome, LivSizes sizes, int vocabulary, ulong seed)
    {
        Genome = genome;
        Sizes = sizes;
        Vocabulary = vocabulary;
        var rng = new SplitMix64(seed);
        Embedding = RegisterParameter("embedding", Init.Normal(rng, 0.0, 0.02, vocabulary, sizes.Width));
        var featurizerLeaders = GenomeSpace.FeaturizerLeaders(genome);
        featureLeaders = GenomeSpace.FeatureLeaders(genome);
        branches = new LivBranch[genome.Depth][];
        norms = new Layer[genome.Depth];
        for (int i = 0; i < genome.Depth; i++)
        {
            var cls = genome[i].Class;
            norms[i] = RegisterModule($"norm{i}", new LayerNorm(sizes.Width));
            var shared = featureLeaders[i] != i ? new HashSet<string>(cls.SharedFeatures) : [];
            int count = cls.Differential ? 2 : 1;
            branches[i] = new LivBranch[count];
            for (int j = 0; j < count; j++)
            {
                string prefix = $"liv{i}_{(char)('a' + j)}_";
                var leader = featurizerLeaders[i] != i ? branches[featurizerLeaders[i]][j] : null;
                branches[i][j] = new LivBranch(cls.BaseId, sizes, leader, shared, (name, value) => RegisterParameter(prefix + name, value), rng);
            }
        }
        FinalNorm = RegisterModule("final_norm", new LayerNorm(sizes.Width));
        Head = RegisterParameter("head", Init.Normal(rng, 0.0, 0.02, vocabulary, sizes.Width));
    }

    /// <summary>The model of a valid genome (repair it first) for a vocabulary, seeded.</summary>
    public static StarModel Create(Genome genome, LivSizes sizes, int vocabulary, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(genome);
        ArgumentNullException.ThrowIfNull(sizes);
        sizes.Validate();
        if (vocabulary < 2) throw new ArgumentOutOfRangeException(nameof(vocabulary), $"vocabulary must be >= 2, got {vocabulary}.");
        var space = new GenomeSpace(genome.Depth);
        if (!space.Repair(genome).Equals(genome)) throw new ArgumentException($"genome {genome} is not valid (repair changes it to {space.Repair(genome)}).", nameof(genome));
        return new StarModel(genome, sizes, vocabulary, seed);
    }

    public Genome Genome { get; }
    public LivSizes Sizes { get; }
    public int Vocabulary { get; }
    public Variable Embedding { get; }
    public Layer FinalNorm { get; }
    public Variable Head { get; }

    /// <summary>The branches of layer i (two for a differential class).</summary>
    public IReadOnlyList<LivBranch> Branches(int layer) => branches[layer];

    /// <summary>The computed features of the last forward pass, per layer and branch (inspection and tests).</summary>
    public List<Dictionary<string, Variable>[]> LastFeatures { get; } = [];

    /// <summary>Logits [B T, V] of tokens [B, T].</summary>
    public Variable Logits(int[] tokens, int batch, int length)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (batch < 1 || length < 1 || tokens.Length != batch * length)
            throw new ArgumentException($"tokens must hold B * T = {batch} * {length} ids, got {tokens.Length}.", nameof(tokens));
        var x = Ops.Embedding(Embedding, tokens, batch, length);
        LastFeatures.Clear();
        for (int i = 0; i < branches.Length; i++)
        {
            var h = norms[i].Forward(x);
            var features = new Dictionary<string, Variable>[branches[i].Length];
            Variable? y = null;
            for (int j = 0; j < branches[i].Length; j++)
            {
                features[j] = featureLeaders[i] != i ? new Dictionary<string, Variable>(LastFeatures[featureLeaders[i]][j]) : [];
                var out_ = branches[i][j].Forward(h, features[j]);
                y = y is null ? out_ : y - out_;
            }
            LastFeatures.Add(features);
            x = x + y!;
        }
        var final = Ops.Reshape(FinalNorm.Forward(x), batch * length, Sizes.Width);
        return Ops.MatMul(final, Head, transB: true);
    }

    /// <summary>Learned parameters from the class formulas, each shared tensor once.</summary>
    public long FormulaParameterCount() => FormulaParameterCount(Genome, Sizes, Vocabulary, sharing: true);

    /// <summary>The formula count of a genome; with <paramref name="sharing"/> false, as if every LIV owned its weights.</summary>
    public static long FormulaParameterCount(Genome genome, LivSizes sizes, int vocabulary, bool sharing)
    {
        ArgumentNullException.ThrowIfNull(genome);
        ArgumentNullException.ThrowIfNull(sizes);
        long d = sizes.Width;
        long total = 2 * vocabulary * d + 2 * d;                                      // embedding, head, final norm
        var fLeaders = GenomeSpace.FeaturizerLeaders(genome);
        var gLeaders = GenomeSpace.FeatureLeaders(genome);
        var owned = new List<HashSet<string>[]>();
        for (int i = 0; i < genome.Depth; i++)
        {
            var cls = genome[i].Class;
            total += 2 * d;                                                            // the block's LayerNorm
            var mine = new HashSet<string>[cls.Differential ? 2 : 1];
            for (int j = 0; j < mine.Length; j++)
            {
                mine[j] = [];
                foreach (var part in LivFormulas.Parts(cls.BaseId, sizes))
                {
                    if (sharing && gLeaders[i] != i && part.Feature is not null && cls.SharedFeatures.Contains(part.Feature)) continue;
                    if (sharing && part.Featurizer && fLeaders[i] != i && owned[fLeaders[i]][j].Contains(part.Name + Shape(part))) continue;
                    mine[j].Add(part.Name + Shape(part));
                    total += part.Count;
                }
            }
            owned.Add(mine);
        }
        return total;
    }

    private static string Shape(LivPart p) => "[" + string.Join(",", p.Shape) + "]";

    /// <summary>Per layer, cache elements after <paramref name="length"/> tokens (shared K/V and convolution inputs carried by the leader only).</summary>
    public static long[] CacheSizes(Genome genome, LivSizes sizes, int length, bool sharing = true)
    {
        ArgumentNullException.ThrowIfNull(genome);
        ArgumentNullException.ThrowIfNull(sizes);
        var gLeaders = GenomeSpace.FeatureLeaders(genome);
        var result = new long[genome.Depth];
        for (int i = 0; i < genome.Depth; i++)
        {
            var cls = genome[i].Class;
            foreach (var (feature, elements) in LivFormulas.Cache(cls.BaseId, sizes, length))
                if (!(sharing && gLeaders[i] != i && feature is not null && cls.SharedFeatures.Contains(feature)))
                    result[i] += (cls.Differential ? 2 : 1) * elements;
        }
        return result;
    }

    public long[] CacheSizes(int length) => CacheSizes(Genome, Sizes, length);
}
