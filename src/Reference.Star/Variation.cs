// Variation on the flat integer genome (STAR, arXiv:2411.17800, sec. 3.3: "k-point crossover and
// per-locus mutation on the genome, followed by repair"):
//   k-point crossover: k distinct cut points drawn in 1..n-1 (n = genome length), sorted; the children
//     copy parent a and parent b alternately between consecutive cuts, child 2 the complement. Loci are
//     exchanged position by position, so length and per-locus domains are kept by construction.
//   per-locus mutation: each locus, independently with probability p, takes a value drawn uniformly from
//     its domain other than its current one (a mutation always changes the locus; p = 0 is the identity).
// Both draw from one SplitMix64, so a run is a function of its seed. Repair is applied by the caller
// (Evolution), after every variation.
using Reference.Core;

namespace Reference.Star;

/// <summary>k-point crossover and per-locus mutation of genomes.</summary>
public static class Variation
{
    /// <summary>Two children of <paramref name="a"/> and <paramref name="b"/> by k-point crossover (k clamped to n - 1).</summary>
    public static (Genome, Genome) Crossover(Genome a, Genome b, int k, SplitMix64 rng)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(rng);
        if (a.Depth != b.Depth) throw new ArgumentException($"parents have {a.Depth} and {b.Depth} LIVs; crossover needs equal lengths.", nameof(b));
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), $"k must be >= 1, got {k}.");
        var x = a.Flatten();
        var y = b.Flatten();
        int n = x.Length;
        k = Math.Min(k, n - 1);
        if (k < 1) return (a, b);
        // k distinct cuts in 1..n-1 by a partial Fisher-Yates shuffle of 1..n-1.
        var positions = Enumerable.Range(1, n - 1).ToArray();
        for (int i = 0; i < k; i++)
        {
            int j = i + rng.NextInt(positions.Length - i);
            (positions[i], positions[j]) = (positions[j], positions[i]);
        }
        var cuts = positions.Take(k).Order().ToArray();
        bool swap = false;
        for (int i = 0, c = 0; i < n; i++)
        {
            while (c < cuts.Length && cuts[c] == i) { swap = !swap; c++; }
            if (swap) (x[i], y[i]) = (y[i], x[i]);
        }
        return (Genome.FromFlat(x), Genome.FromFlat(y));
    }

    /// <summary>Each locus mutates with probability <paramref name="p"/> to another value of its domain.</summary>
    public static Genome Mutate(Genome genome, GenomeSpace space, double p, SplitMix64 rng)
    {
        ArgumentNullException.ThrowIfNull(genome);
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(rng);
        if (!(p is >= 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(p), $"mutation probability must be in [0, 1], got {p}.");
        if (genome.Depth != space.Depth) throw new ArgumentException($"genome has {genome.Depth} LIVs, the space {space.Depth}.", nameof(genome));
        if (p == 0) return genome;
        var g = genome.Flatten();
        for (int i = 0; i < g.Length; i++)
        {
            if (!(rng.Uniform() < p)) continue;
            var others = space.Domain(i).Where(v => v != g[i]).ToArray();
            if (others.Length > 0) g[i] = others[rng.NextInt(others.Length)];
        }
        return Genome.FromFlat(g);
    }
}
