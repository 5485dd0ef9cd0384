// Initialization: does the featurization of the state transition decide whether a larger state is
// used? (arXiv:2504.19561, ESS-informed initialization: with S6-style featurization the ESS stalls
// as the state grows, with GLA-style featurization it keeps growing.)
//
// S6-style: Mamba's selective scan (ssm.selective_scan), A_t = exp(Delta_t A) with one step
//   Delta_t = softplus(w . x_t) per channel shared by all N lanes and A = -(1, 2, ..., N) (S4D-Real,
//   the descriptor's Sample): lane n decays like exp(-Delta (n + 1)), so the added lanes forget
//   faster and faster.
// GLA-style: gated linear attention (recurrence.gla), A_t = Diag(exp(logsigmoid(W x_t) / 16)), one
//   data-dependent gate per state lane, all lanes alike at initialization.
// For each state size N (per channel for S6, per head for GLA, so both bound ESS per channel by N)
// and seed: ESS per channel of the freshly initialized 2-block model and of the same model after
// training on MQAR. The stall is measured as the growth ESS(N_max) / ESS(N_min); the claim is
// growth(GLA) > growth(S6), decided on the spread over seeds, at initialization and after training.
using System.Globalization;
using System.Text.Json.Nodes;
using Reference.Models;

namespace Reference.Experiments;

public sealed class InitializationExperiment : IEssExperiment
{
    public string Name => "initialization";

    public string Claim => "ESS-informed initialization: as the state size grows, the ESS of S6-style featurization (Mamba's shared step and A = -(1..N)) stalls while GLA-style featurization (one sigmoid gate per lane) keeps growing, at initialization and after training.";

    public static readonly (string Label, string Operator)[] Featurizations = [("S6", "ssm.selective_scan"), ("GLA", "recurrence.gla")];

    public sealed record Grid(int[] StateSizes, int Width, int Length, int Vocabulary, int Pairs, int Steps, int Batch, int TrainCount, int TestCount,
        double LearningRate, int EssSequences);

    public static Grid For(Preset preset) => preset == Preset.Small
        ? new Grid([2, 4, 8, 16], Width: 16, Length: 32, Vocabulary: 64, Pairs: 4, Steps: 200, Batch: 32, TrainCount: 3000, TestCount: 128, LearningRate: 3e-3, EssSequences: 2)
        : new Grid([2, 4, 8, 16, 32, 64], Width: 64, Length: 64, Vocabulary: 256, Pairs: 8, Steps: 3000, Batch: 64, TrainCount: 50000, TestCount: 1000, LearningRate: 1e-3, EssSequences: 8);

    /// <summary>One model of the grid, at initialization and trained (one unit of the experiment).</summary>
    public sealed record InitializationRun(string Featurization, string Operator, int StateSize, ulong Seed, double EssPerChannelInit, double EssPerChannelTrained,
        double EssInit, double EssTrained, double Tss, double Accuracy, double Seconds);

    /// <summary>2 blocks of (mixer with state size N, SwiGLU); GLA with one head of key dimension N.</summary>
    public static ModelSpec Model(string op, int stateSize, int width)
    {
        var mixer = op == "recurrence.gla" ? new MixerSpec(op, Heads: 1, KeyDim: stateSize) : new MixerSpec(op, StateSize: stateSize);
        var block = new BlockSpec(mixer, new ChannelMixerSpec(ChannelMixerKind.SwiGlu));
        return new ModelSpec(width, [block, block]);
    }

    public ExperimentReport Run(ExperimentOptions options, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var g = For(options.Preset);
        var runs = new JsonArray();
        // [featurization][N index][seed index]
        var init = new double[Featurizations.Length][][];
        var trained = new double[Featurizations.Length][][];
        var accuracy = new double[Featurizations.Length][][];
        for (int f = 0; f < Featurizations.Length; f++)
        {
            init[f] = new double[g.StateSizes.Length][];
            trained[f] = new double[g.StateSizes.Length][];
            accuracy[f] = new double[g.StateSizes.Length][];
            for (int i = 0; i < g.StateSizes.Length; i++)
            {
                init[f][i] = new double[options.Seeds.Count];
                trained[f][i] = new double[options.Seeds.Count];
                accuracy[f][i] = new double[options.Seeds.Count];
            }
        }
        var jobs = (from si in Enumerable.Range(0, options.Seeds.Count)
                    from f in Enumerable.Range(0, Featurizations.Length)
                    from i in Enumerable.Range(0, g.StateSizes.Length)
                    select (Seed: si, F: f, N: i)).ToArray();
        // One task for every seed; each seed draws its own splits, once, when a unit first needs them.
        var task = TaskCatalog.Create("mqar", new Dictionary<string, string>
        {
            ["vocab"] = g.Vocabulary.ToString(CultureInfo.InvariantCulture), ["length"] = g.Length.ToString(CultureInfo.InvariantCulture),
            ["pairs"] = g.Pairs.ToString(CultureInfo.InvariantCulture),
            ["train"] = options.Scaled(g.TrainCount, g.Batch).ToString(CultureInfo.InvariantCulture),
            ["test"] = options.Scaled(g.TestCount, 16).ToString(CultureInfo.InvariantCulture),
        });
        var data = options.Seeds.ToDictionary(seed => seed, seed => new Lazy<(SyntheticSplit Train, SyntheticSplit Test)>(() => task.Generate(seed)));
        string[] keys = [.. jobs.Select(j => ExperimentUnits.Key($"s{options.Seeds[j.Seed]}", Featurizations[j.F].Label, $"n{g.StateSizes[j.N]}"))];
        var units = ExperimentUnits.Run(keys, (u, ct) =>
        {
            ulong seed = options.Seeds[jobs[u].Seed];
            var (train, test) = data[seed].Value;
            var (label, op) = Featurizations[jobs[u].F];
            int n = g.StateSizes[jobs[u].N];
            var model = BackboneModel.Create(Model(op, n, g.Width), task.Vocabulary, task.InputLength, seed + 1);
            var before = EssProbe.Measure(model, test, g.EssSequences, EssProbe.DefaultOptions, threads: 1);
            var t = ExperimentTraining.Train(model, train, test,
                new TrainOptions(Steps: options.Scaled(g.Steps, 2), LearningRate: g.LearningRate, Batch: Math.Min(g.Batch, train.Count), Seed: seed, EvalBatch: 64),
                null, ct);
            var after = EssProbe.Measure(model, test, g.EssSequences, EssProbe.DefaultOptions, threads: 1);
            options.Report($"initialization: {label} N {n} seed {seed}: ESS per channel {before.MeanPerChannel:F2} at init, {after.MeanPerChannel:F2} trained; accuracy {t.Accuracy:F3} ({t.Seconds:F1} s)");
            return new InitializationRun(label, op, n, seed, before.MeanPerChannel, after.MeanPerChannel, before.Ess, after.Ess, after.Tss, t.Accuracy, t.Seconds);
        }, options.ThreadCount, options.Checkpoint(Name, g), options.Progress, cancellation);
        for (int u = 0; u < jobs.Length; u++)
        {
            var (si, f, i) = jobs[u];
            var r = units[u];
            init[f][i][si] = r.EssPerChannelInit;
            trained[f][i][si] = r.EssPerChannelTrained;
            accuracy[f][i][si] = r.Accuracy;
            runs.Add(new JsonObject
            {
                ["featurization"] = r.Featurization, ["operator"] = r.Operator, ["state_size"] = r.StateSize, ["seed"] = r.Seed,
                ["ess_per_channel_init"] = r.EssPerChannelInit, ["ess_per_channel_trained"] = r.EssPerChannelTrained,
                ["ess_init"] = r.EssInit, ["ess_trained"] = r.EssTrained, ["tss"] = r.Tss, ["accuracy"] = r.Accuracy, ["seconds"] = r.Seconds,
            });
        }
        int last = g.StateSizes.Length - 1;
        SeedSpread Growth(double[][][] ess, int f) => SeedSpread.Of(Enumerable.Range(0, options.Seeds.Count).Select(s => ess[f][last][s] / Math.Max(ess[f][0][s], 1e-12)));
        var result = new JsonObject
        {
            ["grid"] = new JsonObject
            {
                ["state_sizes"] = new JsonArray([.. g.StateSizes.Select(n => (JsonNode)n)]), ["width"] = g.Width, ["length"] = g.Length, ["vocab"] = g.Vocabulary,
                ["pairs"] = g.Pairs, ["steps"] = options.Scaled(g.Steps, 2), ["batch"] = g.Batch, ["lr"] = g.LearningRate,
            },
            ["ess_options"] = EssProbe.DefaultOptions.ToString(),
            ["ess_reduction"] = "ESS per channel (S6) or head (GLA), mean over channels, layers, splits and test sequences",
            ["runs"] = runs,
        };
        var verdicts = new List<Verdict>();
        var measured = new List<string>();
        var figures = new List<ExperimentFigure>();
        foreach (var (stage, ess) in new[] { ("init", init), ("trained", trained) })
        {
            var s6 = Growth(ess, 0);
            var gla = Growth(ess, 1);
            var verdict = Verdicts.Greater(gla, s6);
            verdicts.Add(verdict);
            result[$"growth_{stage}"] = new JsonObject { ["S6"] = s6.ToJson(), ["GLA"] = gla.ToJson(), ["verdict"] = Verdicts.Text(verdict) };
            measured.Add($"{stage}: ESS per channel grows x{gla.Format("F2")} for GLA and x{s6.Format("F2")} for S6 from N {g.StateSizes[0]} to N {g.StateSizes[last]} ({Verdicts.Text(verdict)})");
            figures.Add(ExperimentPlots.Figure($"initialization_{stage}.png", $"ESS per channel vs state size ({(stage == "init" ? "at initialization" : "after training on MQAR")}; bars: std over seeds)",
                "state size N", "ESS per channel", [.. Enumerable.Range(0, Featurizations.Length).Select(f => new PlotSeries(Featurizations[f].Label + "-style",
                    [.. g.StateSizes.Select(n => (double)n)], [.. ess[f].Select(v => v.Average())], [.. ess[f].Select(v => SeedSpread.Of(v).Std)]))
                    .Append(new PlotSeries("N (bound)", [.. g.StateSizes.Select(n => (double)n)], [.. g.StateSizes.Select(n => (double)n)]))], logX: true));
        }
        var acc = new JsonObject();
        for (int f = 0; f < Featurizations.Length; f++)
            acc[Featurizations[f].Label] = new JsonArray([.. accuracy[f].Select(v => (JsonNode)SeedSpread.Of(v).ToJson())]);
        result["accuracy_by_state_size"] = acc;
        return new ExperimentReport(Name, Claim, Verdicts.All(verdicts), string.Join("; ", measured) + ".", result, figures);
    }
}
