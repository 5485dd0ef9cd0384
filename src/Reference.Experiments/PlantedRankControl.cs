// The synthetic control of the experiment pipeline: a model whose one mixer has a planted state rank
// r (decayed linear attention or GLA with key dimension r, one head) must give ESS(s) = min(r, s, L - s)
// at every split through the same path the experiments use (BackboneModel -> SequenceMixer.OperatorView
// -> the descriptor's Materialize -> ESS -> EssProbe's reductions -> ExperimentWriter). By
// minimal-realization theory (the paper's sec. 3) H_s = O_s R_s has rank at most r, and generic
// projections of generic inputs reach it. The ESS here is the float64 default (relative tau 1e-6),
// since the statement is an exact rank. The decayed operator's log decays are redrawn in
// [-0.2, -0.01]: with the sample's range down to -1 the r x r block at s = r has columns scaled by up
// to e^-(r-1), and its smallest singular value can fall below 1e-6 relative (conditioning, not rank).
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Ess;
using Reference.Models;

namespace Reference.Experiments;

public sealed class PlantedRankControl : IEssExperiment
{
    public string Name => "control";

    public string Claim => "Control (sec. 3, minimal realization): a mixer with a planted state rank r has ESS(s) = min(r, s, L - s) at every split; the experiment pipeline must return it.";

    /// <summary>The planted ranks of a preset.</summary>
    public static int[] Ranks(Preset preset) => preset == Preset.Small ? [1, 2, 4, 8] : [1, 2, 4, 8, 16];

    public static readonly string[] Operators = ["attention.decayed_linear", "recurrence.gla"];

    /// <summary>The one-block model with a planted rank r (no channel mixer, width 2 max(r, 8)).</summary>
    public static ModelSpec Model(string op, int rank) =>
        new(2 * Math.Max(rank, 8), [new BlockSpec(new MixerSpec(op, Heads: 1, KeyDim: rank), null)]);

    public ExperimentReport Run(ExperimentOptions options, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        int length = options.Preset == Preset.Small ? 32 : 64, vocabulary = 64, sequences = 2;
        var ranks = Ranks(options.Preset);
        var result = new JsonObject { ["length"] = length, ["ess_options"] = EssOptions.Default.ToString(), ["sequences"] = sequences };
        var rows = new JsonArray();
        var series = new List<PlotSeries>();
        bool allExact = true;
        var maxErrors = new List<double>();
        foreach (var op in Operators)
        {
            var meanByRank = new List<double>();
            var errByRank = new List<double>();
            foreach (int r in ranks)
            {
                var measured = new List<double>();
                foreach (ulong seed in options.Seeds)
                {
                    cancellation.ThrowIfCancellationRequested();
                    var model = BackboneModel.Create(Model(op, r), vocabulary, length, seed);
                    var rng = new SplitMix64(seed ^ 0xC0FFEEUL);
                    foreach (var (pname, p) in model.NamedParameters())
                        if (pname.EndsWith("log_lambda", StringComparison.Ordinal))
                            for (int i = 0; i < p.Value.Data.Length; i++) p.Value.Data[i] = -0.01 - 0.19 * rng.Uniform();
                    var tokens = new int[sequences * length];
                    for (int i = 0; i < tokens.Length; i++) tokens[i] = rng.NextInt(vocabulary);
                    var m = EssProbe.Measure(model, tokens, sequences, length, EssOptions.Default, options.Threads);
                    double maxError = 0;
                    for (int k = 0; k < m.Raw.Splits.Length; k++)
                    {
                        int s = m.Raw.Splits[k];
                        maxError = Math.Max(maxError, Math.Abs(m.PerSplit[k] - Math.Min(r, Math.Min(s, length - s))));
                    }
                    maxErrors.Add(maxError);
                    allExact &= maxError == 0;
                    measured.Add(m.PerSplit.Max());
                    rows.Add(new JsonObject
                    {
                        ["operator"] = op, ["rank"] = r, ["seed"] = seed, ["max_ess"] = m.PerSplit.Max(), ["mean_ess"] = m.Ess,
                        ["max_abs_error"] = maxError, ["per_split"] = new JsonArray([.. m.PerSplit.Select(v => (JsonNode)JsonValue.Create(v))]),
                    });
                }
                var spread = SeedSpread.Of(measured);
                meanByRank.Add(spread.Mean);
                errByRank.Add(spread.Std);
                options.Report($"control: {op} planted rank {r}: max ESS over splits {spread}");
            }
            series.Add(new PlotSeries(op, [.. ranks.Select(r => (double)r)], [.. meanByRank], [.. errByRank]));
        }
        series.Add(new PlotSeries("planted rank (expected)", [.. ranks.Select(r => (double)r)], [.. ranks.Select(r => (double)r)]));
        result["runs"] = rows;
        var verdict = allExact ? Verdict.Reproduced : Verdict.NotReproduced;
        string measuredText = $"{Operators.Length} operators x planted ranks {string.Join(", ", ranks)} x {options.Seeds.Count} seeds at L {length}: "
            + (allExact ? "ESS(s) = min(r, s, L - s) exactly at every split of every run."
                : $"ESS differs from min(r, s, L - s); largest absolute error {maxErrors.Max()}.");
        var figure = ExperimentPlots.Figure("control.png", $"Planted-rank control (L {length}, tolerance-ESS relative 1e-6)", "planted rank r",
            "max over splits of ESS", series);
        return new ExperimentReport(Name, Claim, verdict, measuredText, result, [figure]);
    }
}
