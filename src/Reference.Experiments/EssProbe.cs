// ESS of a model as the experiments report it: ModelEss (Ess/ModelEss.cs: each layer's operator
// materialized at the input it receives, ESS at every split) on the first sequences of a split,
// reduced to per-layer numbers. Conventions (stated in every result.json through "ess"):
//   ESS of a layer  = sum over its channels (or heads) of ESS(s), mean over the splits and sequences
//                     (EssReducers.PerLayer), the paper's per-layer aggregate;
//   TSS of a layer  = channels x the descriptor's TSS per channel, mean over the same splits;
//   the model's ESS and TSS are the sums over its layers.
// The invariants 0 <= ESS(s) <= min(s, L - s) per channel are checked on every measurement.
using System.Text.Json.Nodes;
using Reference.Ess;
using Reference.Models;

namespace Reference.Experiments;

/// <summary>One measurement of a model's ESS.</summary>
/// <param name="Raw">The whole ModelEss result ([B, layers, C, S]).</param>
/// <param name="LayerEss">Per layer, ESS summed over channels, mean over splits and sequences.</param>
/// <param name="LayerTss">Per layer, TSS (channels x TSS per channel), mean over splits.</param>
/// <param name="PerSplit">Per split, the model's ESS (sum over layers and channels, mean over sequences).</param>
public sealed record EssMeasurement(ModelEssResult Raw, double[] LayerEss, double[] LayerTss, double[] PerSplit)
{
    public double Ess => LayerEss.Sum();
    public double Tss => LayerTss.Sum();

    public JsonObject ToJson() => new()
    {
        ["ess"] = Ess,
        ["tss"] = Tss,
        ["layer_ess"] = new JsonArray([.. LayerEss.Select(v => (JsonNode)JsonValue.Create(v))]),
        ["layer_tss"] = new JsonArray([.. LayerTss.Select(v => (JsonNode)JsonValue.Create(v))]),
    };
}

public static class EssProbe
{
    /// <summary>The ESS convention of the experiments: tolerance-ESS, relative tau 1e-3 (trained float64 models have no exact zeros; docs/ess.md).</summary>
    public static EssOptions DefaultOptions { get; } = new(EssMode.Tolerance, 1e-3, Relative: true);

    /// <summary>ESS of <paramref name="model"/> on the first <paramref name="sequences"/> inputs of <paramref name="split"/>.</summary>
    public static EssMeasurement Measure(BackboneModel model, SyntheticSplit split, int sequences, EssOptions? options = null, int threads = 0, int[]? splits = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(split);
        int b = Math.Clamp(sequences, 1, split.Count), l = split.Length;
        return Measure(model, split.Inputs.AsSpan(0, b * l).ToArray(), b, l, options, threads, splits);
    }

    /// <summary>ESS of <paramref name="model"/> on tokens [B, L] (row-major).</summary>
    public static EssMeasurement Measure(BackboneModel model, int[] tokens, int batch, int length, EssOptions? options = null, int threads = 0, int[]? splits = null)
    {
        var raw = ModelEss.Compute(model, tokens, batch, length, options ?? DefaultOptions, splits, threads);
        CheckBounds(raw, length);
        int layers = raw.Channels.Length, s = raw.Splits.Length, c = raw.Ess.Dim(2);
        var layerEss = raw.PerLayer;
        var layerTss = new double[layers];
        for (int i = 0; i < layers; i++)
            layerTss[i] = raw.TotalStateSize[i].Length == 0 ? 0 : raw.Channels[i] * raw.TotalStateSize[i].Average();
        var perSplit = new double[s];
        var data = raw.Ess.Data;
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < layers; i++)
                for (int ch = 0; ch < c; ch++)
                    for (int k = 0; k < s; k++) perSplit[k] += data[((b * layers + i) * c + ch) * s + k] / batch;
        return new EssMeasurement(raw, layerEss, layerTss, perSplit);
    }

    /// <summary>Invariant 1 of docs/ess.md on every entry: 0 &lt;= ESS(s) &lt;= min(s, L - s); InvalidOperationException otherwise.</summary>
    public static void CheckBounds(ModelEssResult raw, int length)
    {
        ArgumentNullException.ThrowIfNull(raw);
        int s = raw.Splits.Length;
        var data = raw.Ess.Data;
        for (int n = 0; n < data.Length; n++)
        {
            int split = raw.Splits[n % s];
            double bound = Math.Min(split, length - split);
            if (!(data[n] >= 0 && data[n] <= bound + 1e-9))
                throw new InvalidOperationException($"ESS {data[n]} at split {split} is outside [0, min(s, L - s) = {bound}].");
        }
    }
}

/// <summary>Correlations across points (runs), for "ESS tracks accuracy better than TSS".</summary>
public static class Correlation
{
    /// <summary>Pearson's r; NaN when either side is constant or fewer than 3 points.</summary>
    public static double Pearson(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count != y.Count) throw new ArgumentException($"x and y must have equal lengths, got {x.Count} and {y.Count}.", nameof(y));
        int n = x.Count;
        if (n < 3) return double.NaN;
        double mx = x.Average(), my = y.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < n; i++)
        {
            double dx = x[i] - mx, dy = y[i] - my;
            sxy += dx * dy; sxx += dx * dx; syy += dy * dy;
        }
        return sxx > 0 && syy > 0 ? sxy / Math.Sqrt(sxx * syy) : double.NaN;
    }

    /// <summary>Spearman's rank correlation (Pearson of average ranks).</summary>
    public static double Spearman(IReadOnlyList<double> x, IReadOnlyList<double> y) => Pearson(Ranks(x), Ranks(y));

    private static double[] Ranks(IReadOnlyList<double> v)
    {
        var idx = Enumerable.Range(0, v.Count).OrderBy(i => v[i]).ToArray();
        var ranks = new double[v.Count];
        for (int i = 0; i < idx.Length;)
        {
            int j = i;
            while (j + 1 < idx.Length && v[idx[j + 1]] == v[idx[i]]) j++;
            for (int k = i; k <= j; k++) ranks[idx[k]] = (i + j) / 2.0;
            i = j + 1;
        }
        return ranks;
    }
}
