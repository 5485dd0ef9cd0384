using System.Globalization;
using System.Text;
using System.Text.Json;
using Reference.Autodiff;
using Reference.Core;

namespace Reference.Decoding.Interpretation;

/// <summary>Settings of <see cref="InterpretationBenchmark.Run"/>.</summary>
public sealed record BenchmarkOptions
{
    public string Kind { get; init; } = "mlp";
    public int Hidden { get; init; } = 32;
    /// <summary>Training seeds (each: a trained model, a label-permuted model and a random-weight model).</summary>
    public int Seeds { get; init; } = 3;
    /// <summary>At most this many test trials are explained (the first ones).</summary>
    public int Trials { get; init; } = 45;
    public int Epochs { get; init; } = 60;
    /// <summary>Adam learning rate of every trained decoder.</summary>
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>The epoch early stopping keeps (<see cref="EpochSelection"/>): `accuracy` or `loss`.</summary>
    public string Selection { get; init; } = "accuracy";
    /// <summary>No epoch before this one is kept; patience counts from it (beyond Epochs: the last epoch).</summary>
    public int MinEpochs { get; init; } = EpochSelection.DefaultMinEpochs;
    /// <summary>Candidate epochs without a better one before training stops.</summary>
    public int Patience { get; init; } = 15;
    public IReadOnlyList<string> Methods { get; init; } = Interpretation.Attribution.Methods;
    public AttributionOptions Attribution { get; init; } = new();
}

/// <summary>One method on one trained model.</summary>
/// <param name="Method">The method's name.</param>
/// <param name="Seed">The training seed.</param>
/// <param name="TestAccuracy">The decoder's test accuracy.</param>
/// <param name="ChanceFraction">Faithfulness: smallest occluded fraction at which accuracy falls to chance (NaN: not within 50%).</param>
/// <param name="MeanAccuracy">Mean accuracy over the occlusion grid (lower: more faithful; defined when chance is never reached).</param>
/// <param name="MiPermutedLabels">Mean mutual information with the maps of the label-permuted model (sanity: low is good).</param>
/// <param name="MiRandomWeights">Mean mutual information with the maps of the random-weight model (sanity: low is good).</param>
/// <param name="Plausibility">Agreement with the GLM and the truth.</param>
/// <param name="Curve">The occlusion curve.</param>
public sealed record MethodResult(string Method, int Seed, double TestAccuracy, double ChanceFraction, double MeanAccuracy,
    double MiPermutedLabels, double MiRandomWeights, PlausibilityResult Plausibility, OcclusionCurve Curve);

/// <summary>
/// The interpretation benchmark on simulated trial maps (arXiv:2205.15581's analyses on ground truth):
/// per seed a decoder is trained (plus one on permuted training labels and one left at random
/// weights), every method explains the test trials for their true class, and each method gets
/// its occlusion faithfulness, its sanity-check mutual informations and its plausibility against
/// the GLM and the planted truth, suppressor voxels reported separately.
/// </summary>
public static class InterpretationBenchmark
{
    public static List<MethodResult> Run(TrialMaps data, BenchmarkOptions options, Action<string>? log = null, Action<int, ExplainedDecoder>? trained = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        log ??= _ => { };
        bool volume = ExplainedDecoder.Builders.ContainsKey(options.Kind);
        var test = data.Indices("test").Take(options.Trials).ToArray();
        if (test.Length == 0) throw new ArgumentException("the data set has no test trials; expected a test split.", nameof(data));
        var x = data.Inputs(test, volume);
        var labels = test.Select(i => data.Labels[i]).ToArray();
        var allTest = data.Inputs(data.Indices("test"), volume);
        var attribution = options.Attribution with
        {
            Baselines = [Tensor<double>.Zeros(x.Shape[1..].ToArray()), Mean(allTest)],
            ShapBaselines = options.Attribution.ShapBaselines ?? allTest,
        };
        var units = data.UnitPositions(volume);
        var truth = data.TruthContrast();
        var results = new List<MethodResult>();
        for (int seed = 1; seed <= options.Seeds; seed++)
        {
            var spec = new DecoderSpec { Kind = options.Kind, Hidden = options.Hidden, Classes = data.Classes, Volume = volume, Seed = (ulong)seed };
            var model = Train(spec, data, options);
            var permuted = Train(spec with { PermutedLabels = true, Seed = (ulong)(seed + 100) }, data, options);
            var random = model.Randomized((ulong)(seed + 1000));
            trained?.Invoke(seed, model);
            log(string.Create(CultureInfo.InvariantCulture,
                $"seed {seed}: {model}, test accuracy {model.Spec.TestAccuracy:F3} (validation {model.Spec.ValidationAccuracy:F3}); permuted-label model test accuracy {permuted.Spec.TestAccuracy:F3}"));
            foreach (var method in options.Methods)
            {
                if (method == "guided_gradcam" && !volume) continue;
                var maps = Attribution.Compute(method, model.Forward, x, labels, attribution with { Canonize = model.Canonize });
                var curve = Faithfulness.Occlusion(model.Forward, x, labels, maps, units);
                var mapsPermuted = Attribution.Compute(method, permuted.Forward, x, labels, attribution with { Canonize = permuted.Canonize });
                var mapsRandom = Attribution.Compute(method, random.Forward, x, labels, attribution with { Canonize = random.Canonize });
                var u = data.ToUnits(maps, volume);
                var up = data.ToUnits(mapsPermuted, volume);
                var ur = data.ToUnits(mapsRandom, volume);
                int v = data.Units;
                double miP = 0, miR = 0;
                for (int i = 0; i < test.Length; i++)
                {
                    miP += MutualInformation.Ksg(u.AsSpan(i * v, v), up.AsSpan(i * v, v), seed: (ulong)i) / test.Length;
                    miR += MutualInformation.Ksg(u.AsSpan(i * v, v), ur.AsSpan(i * v, v), seed: (ulong)i) / test.Length;
                }
                var plausibility = Plausibility.Measure(u, labels, data.Classes, data.GlmContrast, truth, data.Layout.Suppressor, data.Layout.Support);
                var r = new MethodResult(method, seed, model.Spec.TestAccuracy, curve.ChanceFraction, curve.Accuracy.Average(), miP, miR, plausibility, curve);
                results.Add(r);
                log(Format(r));
            }
        }
        return results;
    }

    private static ExplainedDecoder Train(DecoderSpec spec, TrialMaps data, BenchmarkOptions options) =>
        ExplainedDecoder.Train(spec, data, options.Epochs, options.LearningRate, patience: options.Patience, selection: options.Selection, minEpochs: options.MinEpochs);

    public static Tensor<double> Mean(Tensor<double> x)
    {
        int n = x.Shape[0], per = x.Length / n;
        var m = new double[per];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < per; j++) m[j] += x.Data[i * per + j] / n;
        return new Tensor<double>(m, x.Shape[1..].ToArray());
    }

    private static string Format(MethodResult r) => string.Create(CultureInfo.InvariantCulture,
        $"  {Attribution.DisplayName(r.Method),-20} chance at {Pct(r.ChanceFraction),6}  mean acc {r.MeanAccuracy:F3}  MI perm {r.MiPermutedLabels:F3} rand {r.MiRandomWeights:F3}  r(GLM) {r.Plausibility.GlmCorrelation:F3} r(truth) {r.Plausibility.TruthCorrelation:F3}  suppressor ratio {r.Plausibility.SuppressorRatio:F3} top-10% share {r.Plausibility.SuppressorTopShare:F2}");

    private static string Pct(double f) => double.IsNaN(f) ? ">50%" : string.Create(CultureInfo.InvariantCulture, $"{100 * f:F1}%");

    /// <summary>Per-method means and sds over seeds, and the method orderings.</summary>
    public static string Summary(IReadOnlyList<MethodResult> results)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| method | chance reached at (% occluded) | mean occlusion accuracy | MI permuted labels | MI random weights | r(GLM) | r(truth) | suppressor / truth |mean map| | suppressor top-10% enrichment |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var g in results.GroupBy(r => r.Method))
        {
            string F(Func<MethodResult, double> f, string fmt, double scale = 1)
            {
                var v = g.Select(f).Select(d => double.IsNaN(d) ? 0.55 : d).Select(d => d * scale).ToArray();
                double mean = v.Average(), sd = v.Length > 1 ? Math.Sqrt(v.Sum(d => (d - mean) * (d - mean)) / (v.Length - 1)) : 0;
                return mean.ToString(fmt, CultureInfo.InvariantCulture) + " ± " + sd.ToString(fmt, CultureInfo.InvariantCulture);
            }
            sb.AppendLine($"| {Attribution.DisplayName(g.Key)} | {F(r => r.ChanceFraction, "F1", 100)} | {F(r => r.MeanAccuracy, "F3")} | {F(r => r.MiPermutedLabels, "F3")} | {F(r => r.MiRandomWeights, "F3")} | {F(r => r.Plausibility.GlmCorrelation, "F3")} | {F(r => r.Plausibility.TruthCorrelation, "F3")} | {F(r => r.Plausibility.SuppressorRatio, "F3")} | {F(r => r.Plausibility.SuppressorTopShare, "F2")} |");
        }
        sb.AppendLine();
        sb.AppendLine("(chance never reached within 50% counts as 55%; ± is the sd over seeds)");
        sb.AppendLine();
        sb.AppendLine("Most faithful first (mean occlusion accuracy, lower = more faithful): " + string.Join(" > ", Order(results, r => r.MeanAccuracy, ascending: true)));
        sb.AppendLine("Most plausible first (r with truth): " + string.Join(" > ", Order(results, r => r.Plausibility.TruthCorrelation, ascending: false)));
        sb.AppendLine("Most plausible first (r with GLM): " + string.Join(" > ", Order(results, r => r.Plausibility.GlmCorrelation, ascending: false)));
        var methods = results.Select(r => r.Method).Distinct().ToArray();
        var faith = methods.Select(m => results.Where(r => r.Method == m).Average(r => r.MeanAccuracy)).ToArray();
        var plaus = methods.Select(m => results.Where(r => r.Method == m).Average(r => r.Plausibility.TruthCorrelation)).ToArray();
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"Spearman rank correlation over methods of faithfulness (-mean occlusion accuracy) with plausibility (r truth): {Spearman(faith.Select(f => -f).ToArray(), plaus):F3} (negative: the faithful methods are the less plausible ones, the paper's finding)"));
        var spread = Spread(results);
        sb.AppendLine();
        sb.AppendLine("Ranks within each seed (1 = most faithful / most plausible), mean ± sd over seeds:");
        sb.AppendLine();
        sb.AppendLine("| method | faithfulness rank | plausibility rank (r truth) | plausibility rank (r GLM) |");
        sb.AppendLine("|---|---|---|---|");
        foreach (var m in spread.Methods)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {Attribution.DisplayName(m.Method)} | {m.FaithfulnessRank.Mean:F2} ± {m.FaithfulnessRank.Sd:F2} | {m.TruthRank.Mean:F2} ± {m.TruthRank.Sd:F2} | {m.GlmRank.Mean:F2} ± {m.GlmRank.Sd:F2} |"));
        sb.AppendLine();
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"Spearman of faithfulness with r(truth) within each seed: {spread.SpearmanTruth.Mean:F3} ± {spread.SpearmanTruth.Sd:F3} (range {spread.SpearmanTruth.Min:F3} to {spread.SpearmanTruth.Max:F3}; per seed {string.Join(", ", spread.SpearmanTruthPerSeed.Select(v => v.ToString("F2", CultureInfo.InvariantCulture)))})"));
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"Spearman of faithfulness with r(GLM) within each seed: {spread.SpearmanGlm.Mean:F3} ± {spread.SpearmanGlm.Sd:F3} (range {spread.SpearmanGlm.Min:F3} to {spread.SpearmanGlm.Max:F3})"));
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"Decoder test accuracy over seeds: {spread.TestAccuracy.Mean:F3} ± {spread.TestAccuracy.Sd:F3} (range {spread.TestAccuracy.Min:F3} to {spread.TestAccuracy.Max:F3})"));
        return sb.ToString();
    }

    /// <summary>
    /// The spread over seeds of the method orderings: within each seed the methods are ranked
    /// (1 = lowest mean occlusion accuracy, i.e. most faithful; 1 = highest r with the truth or the
    /// GLM, i.e. most plausible; ties share the mean rank), and the Spearman correlation of
    /// faithfulness (minus the mean occlusion accuracy) with plausibility is taken per seed.
    /// </summary>
    public static SeedSpread Spread(IReadOnlyList<MethodResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var methods = results.Select(r => r.Method).Distinct().ToArray();
        var seeds = results.Select(r => r.Seed).Distinct().OrderBy(s => s).ToArray();
        var faithRanks = new List<double>[methods.Length];
        var truthRanks = new List<double>[methods.Length];
        var glmRanks = new List<double>[methods.Length];
        for (int m = 0; m < methods.Length; m++) (faithRanks[m], truthRanks[m], glmRanks[m]) = ([], [], []);
        var rhoTruth = new List<double>();
        var rhoGlm = new List<double>();
        var accuracy = new List<double>();
        foreach (int seed in seeds)
        {
            var rows = methods.Select(m => results.Single(r => r.Seed == seed && r.Method == m)).ToArray();
            var faith = rows.Select(r => -r.MeanAccuracy).ToArray();
            var truth = rows.Select(r => r.Plausibility.TruthCorrelation).ToArray();
            var glm = rows.Select(r => r.Plausibility.GlmCorrelation).ToArray();
            // Ranks are ascending from 0; rank 1 goes to the largest value.
            var rf = Ranks(faith);
            var rt = Ranks(truth);
            var rg = Ranks(glm);
            for (int m = 0; m < methods.Length; m++)
            {
                faithRanks[m].Add(methods.Length - rf[m]);
                truthRanks[m].Add(methods.Length - rt[m]);
                glmRanks[m].Add(methods.Length - rg[m]);
            }
            rhoTruth.Add(Spearman(faith, truth));
            rhoGlm.Add(Spearman(faith, glm));
            accuracy.Add(rows[0].TestAccuracy);
        }
        var perMethod = methods.Select((m, i) => new MethodRanks(m, SpreadStat.Of(faithRanks[i]), SpreadStat.Of(truthRanks[i]), SpreadStat.Of(glmRanks[i])))
            .OrderBy(r => r.FaithfulnessRank.Mean).ToArray();
        return new SeedSpread(seeds.Length, perMethod, SpreadStat.Of(rhoTruth), SpreadStat.Of(rhoGlm), rhoTruth.ToArray(), SpreadStat.Of(accuracy));
    }

    /// <summary>Machine-readable summary: per-method means and sds of every measure, the rank spread and the per-seed Spearman correlations.</summary>
    public static string Json(IReadOnlyList<MethodResult> results, IReadOnlyDictionary<string, object>? settings = null)
    {
        var spread = Spread(results);
        var methods = results.GroupBy(r => r.Method).Select(g => new Dictionary<string, object>
        {
            ["method"] = g.Key,
            ["chance_fraction"] = SpreadStat.Of(g.Select(r => double.IsNaN(r.ChanceFraction) ? 0.55 : r.ChanceFraction)),
            ["mean_occlusion_accuracy"] = SpreadStat.Of(g.Select(r => r.MeanAccuracy)),
            ["mi_permuted_labels"] = SpreadStat.Of(g.Select(r => r.MiPermutedLabels)),
            ["mi_random_weights"] = SpreadStat.Of(g.Select(r => r.MiRandomWeights)),
            ["r_glm"] = SpreadStat.Of(g.Select(r => r.Plausibility.GlmCorrelation)),
            ["r_truth"] = SpreadStat.Of(g.Select(r => r.Plausibility.TruthCorrelation)),
            ["suppressor_ratio"] = SpreadStat.Of(g.Select(r => r.Plausibility.SuppressorRatio)),
            ["suppressor_top_share"] = SpreadStat.Of(g.Select(r => r.Plausibility.SuppressorTopShare)),
        }).ToArray();
        var root = new Dictionary<string, object>
        {
            ["settings"] = settings ?? new Dictionary<string, object>(),
            ["seeds"] = spread.Seeds,
            ["test_accuracy"] = spread.TestAccuracy,
            ["methods"] = methods,
            ["ranks"] = spread.Methods,
            ["spearman_faithfulness_r_truth"] = spread.SpearmanTruth,
            ["spearman_faithfulness_r_truth_per_seed"] = spread.SpearmanTruthPerSeed,
            ["spearman_faithfulness_r_glm"] = spread.SpearmanGlm,
        };
        return JsonSerializer.Serialize(root, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower });
    }

    private static IEnumerable<string> Order(IReadOnlyList<MethodResult> results, Func<MethodResult, double> key, bool ascending)
    {
        var means = results.GroupBy(r => r.Method).Select(g => (g.Key, Mean: g.Average(key)));
        return (ascending ? means.OrderBy(m => m.Mean) : means.OrderByDescending(m => m.Mean)).Select(m => Attribution.DisplayName(m.Key));
    }

    public static double Spearman(double[] a, double[] b) => Plausibility.Pearson(Ranks(a), Ranks(b));

    private static double[] Ranks(double[] v)
    {
        var order = Enumerable.Range(0, v.Length).OrderBy(i => v[i]).ToArray();
        var r = new double[v.Length];
        for (int i = 0; i < order.Length;)
        {
            int j = i;
            while (j + 1 < order.Length && v[order[j + 1]] == v[order[i]]) j++;
            for (int k = i; k <= j; k++) r[order[k]] = (i + j) / 2.0;
            i = j + 1;
        }
        return r;
    }

    /// <summary>CSV of every result row (one per method and seed).</summary>
    public static string Csv(IReadOnlyList<MethodResult> results)
    {
        var sb = new StringBuilder("method,seed,test_accuracy,chance_fraction,mean_occlusion_accuracy,mi_permuted_labels,mi_random_weights,r_glm,r_truth,suppressor_ratio,suppressor_top_share\n");
        foreach (var r in results)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Method},{r.Seed},{r.TestAccuracy:R},{r.ChanceFraction:R},{r.MeanAccuracy:R},{r.MiPermutedLabels:R},{r.MiRandomWeights:R},{r.Plausibility.GlmCorrelation:R},{r.Plausibility.TruthCorrelation:R},{r.Plausibility.SuppressorRatio:R},{r.Plausibility.SuppressorTopShare:R}"));
        return sb.ToString();
    }
}

/// <summary>Mean, sample sd (0 for one value), minimum and maximum of a set of values.</summary>
public sealed record SpreadStat(double Mean, double Sd, double Min, double Max)
{
    public static SpreadStat Of(IEnumerable<double> values)
    {
        var v = values.ToArray();
        if (v.Length == 0) return new SpreadStat(double.NaN, double.NaN, double.NaN, double.NaN);
        double mean = v.Average();
        double sd = v.Length > 1 ? Math.Sqrt(v.Sum(d => (d - mean) * (d - mean)) / (v.Length - 1)) : 0;
        return new SpreadStat(mean, sd, v.Min(), v.Max());
    }
}

/// <summary>A method's ranks over seeds (1 = most faithful, most plausible).</summary>
public sealed record MethodRanks(string Method, SpreadStat FaithfulnessRank, SpreadStat TruthRank, SpreadStat GlmRank);

/// <summary>The spread over seeds of the method orderings (see <see cref="InterpretationBenchmark.Spread"/>).</summary>
public sealed record SeedSpread(int Seeds, MethodRanks[] Methods, SpreadStat SpearmanTruth, SpreadStat SpearmanGlm, double[] SpearmanTruthPerSeed, SpreadStat TestAccuracy);
