// The LIV classes of STAR's search space (Thomas et al., "STAR: Synthesis of Tailored Architectures",
// arXiv:2411.17800, sec. 3 and table 1) as this project fixes them (../shared/spec/star.md): nine base
// classes and the differential variants 10..17 of classes 1..8, y = LIV_a(x) - LIV_b(x) with separate
// weights. The paper's operator genome (featurizer class, token mixing, sparsity, nonlinearity, channel
// mixing) is given for each class: GConv-1 = 73111 and GConv-2 = 83111 are the paper's, the rest are the
// project's reading of its table.
//
// What the genome needs from a class (this file) is its category (token-mixing family: sharing groups
// must agree on it), its differential status, the feature groups it can share as computed features
// (feature-group-sharing strategy 2), and the signature of those features (their shape: K/V of an
// attention with K/V repeat 4 cannot stand in for full K/V). The layers themselves are in LivLayers.cs.
namespace Reference.Star;

/// <summary>Token-mixing family of a LIV (sharing groups are formed within one).</summary>
public enum LivCategory
{
    /// <summary>Low rank token mixing: softmax attention.</summary>
    Attention,

    /// <summary>Sequentially semi-separable token mixing: a recurrence.</summary>
    Recurrence,

    /// <summary>Scaled Toeplitz token mixing: a gated convolution.</summary>
    Convolution,

    /// <summary>Diagonal token mixing: a channel mixer.</summary>
    Memoryless,
}

/// <summary>One LIV class of the table.</summary>
/// <param name="Id">Class id (1..17).</param>
/// <param name="Name">SA-1, Rec-2, GConv-1-Diff, ...</param>
/// <param name="Category">Token-mixing family.</param>
/// <param name="BaseId">The base class (itself unless differential).</param>
/// <param name="OperatorGenome">The paper's five-digit operator genome of the base class.</param>
/// <param name="SharedFeatures">Names of the computed features strategy 2 of feature-group sharing reuses (empty: none).</param>
/// <param name="FeatureSignature">Shape key of those features; members of a feature-sharing group must agree.</param>
/// <param name="Description">What it is.</param>
public sealed record LivClass(int Id, string Name, LivCategory Category, int BaseId, string OperatorGenome,
    IReadOnlyList<string> SharedFeatures, string FeatureSignature, string Description)
{
    /// <summary>True for the differential variants y = LIV_a(x) - LIV_b(x).</summary>
    public bool Differential => Id != BaseId;

    /// <summary>The feature-group-sharing strategies valid for this class (1 none; 2 the shared features, when it has any).</summary>
    public IReadOnlyList<int> FeatureStrategies => SharedFeatures.Count > 0 ? [1, 2] : [1];
}

/// <summary>The table of LIV classes (../shared/spec/star.md).</summary>
public static class LivCatalog
{
    /// <summary>Featurizer-sharing strategies: 1 none, 2 all featurizer weights shared.</summary>
    public static readonly IReadOnlyList<int> FeaturizerStrategies = [1, 2];

    private static readonly LivClass[] Base =
    [
        new(1, "SA-1", LivCategory.Attention, 1, "21111", ["k", "v"], "kv/1", "multi-head softmax attention"),
        new(2, "SA-2", LivCategory.Attention, 2, "22111", ["k", "v"], "kv/1", "attention with a short depthwise convolution (3 taps) on q, k, v in the featurizer"),
        new(3, "SA-3", LivCategory.Attention, 3, "21113", ["k", "v"], "kv/4", "attention with K/V repeated 4x (grouped-query)"),
        new(4, "SA-4", LivCategory.Attention, 4, "21113", ["k", "v"], "kv/2", "attention with K/V repeated 2x (grouped-query)"),
        new(5, "Rec-1", LivCategory.Recurrence, 5, "54112", ["b", "c"], "bc/16", "selective recurrence (Mamba's S6 scan), state expansion 16"),
        new(6, "Rec-2", LivCategory.Recurrence, 6, "64113", ["q", "k"], "qk/2", "gated linear recurrence (GLA), state expansion 2"),
        new(7, "GConv-1", LivCategory.Convolution, 7, "73111", ["k", "v"], "kv", "short explicit gated convolution, kernel 3"),
        new(8, "GConv-2", LivCategory.Convolution, 8, "83111", ["k", "v"], "kv", "long implicit gated convolution (Hyena-like filter)"),
        new(9, "GMemless", LivCategory.Memoryless, 9, "91121", [], "", "SwiGLU channel mixer"),
    ];

    /// <summary>All 17 classes, indexed by id - 1.</summary>
    public static readonly IReadOnlyList<LivClass> All =
    [
        .. Base,
        .. Base.Take(8).Select(b => b with { Id = b.Id + 9, Name = b.Name + "-Diff", Description = $"differential {b.Name}: y = LIV_a(x) - LIV_b(x), two {b.Name} with separate weights" }),
    ];

    /// <summary>The class of <paramref name="id"/> (ArgumentOutOfRangeException naming the valid range otherwise).</summary>
    public static LivClass Get(int id) => id is >= 1 and <= 17 ? All[id - 1]
        : throw new ArgumentOutOfRangeException(nameof(id), $"LIV class id must be in 1..17, got {id}.");

    /// <summary>The class named <paramref name="name"/> (SA-1, GConv-2-Diff, ...) or its id as text.</summary>
    public static LivClass Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (int.TryParse(name, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int id)) return Get(id);
        return All.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"LIV class '{name}' is unknown; classes: {string.Join(", ", All.Select(c => c.Name))}.", nameof(name));
    }
}
