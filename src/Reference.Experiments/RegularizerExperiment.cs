// Regularization against state collapse (arXiv:2504.19561: a penalty lambda ||A_t - I||_F^2 on the
// state transitions keeps the state in use, raising ESS and the accuracy of models whose ESS
// collapsed far below their TSS).
//
// Model: 2 blocks of GLA (one head, key dimension N) + SwiGLU on MQAR with more key-value pairs than
// the state comfortably holds. The transition of GLA at step t is A_t = Diag(exp g_t) with the log
// gates g_t = logsigmoid(W x_t) / 16 as fed to the operator (SequenceMixer.OnOperatorInput), so
//   ||A_t - I||_F^2 = sum_n (exp(g_t[n]) - 1)^2,
// averaged over batch, heads and steps, summed over layers, times lambda, is added to the loss.
// Sweep over lambda (0 = without) and seeds; measured: test accuracy, ESS (EssProbe), and the mean
// ||A_t - I||_F^2 after training. The claim is decided between lambda = 0 and the preset's declared
// lambda (chosen before running, not the best of the sweep): ESS higher and accuracy higher with it.
using System.Globalization;
using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Models;

namespace Reference.Experiments;

public sealed class RegularizerExperiment : IEssExperiment
{
    public string Name => "regularizer";

    public string Claim => "Regularization: adding lambda ||A_t - I||_F^2 on the state transitions counters state collapse, raising ESS and accuracy (GLA on MQAR, lambda swept, with against without).";

    public sealed record Grid(double[] Lambdas, double Declared, int StateSize, int Width, int Length, int Vocabulary, int Pairs, int Steps, int Batch,
        int TrainCount, int TestCount, double LearningRate, int EssSequences);

    public static Grid For(Preset preset) => preset == Preset.Small
        ? new Grid([0, 0.01, 0.1, 1], Declared: 0.1, StateSize: 8, Width: 32, Length: 32, Vocabulary: 64, Pairs: 8, Steps: 250, Batch: 32, TrainCount: 4000,
            TestCount: 200, LearningRate: 3e-3, EssSequences: 4)
        : new Grid([0, 0.001, 0.01, 0.1, 1, 10], Declared: 0.1, StateSize: 16, Width: 64, Length: 64, Vocabulary: 256, Pairs: 16, Steps: 3000, Batch: 64,
            TrainCount: 50000, TestCount: 1000, LearningRate: 1e-3, EssSequences: 16);

    /// <summary>One trained model of the sweep (one unit of the experiment).</summary>
    public sealed record RegularizerRun(double Lambda, ulong Seed, double Accuracy, double Ess, double Tss, double Deviation, double FinalLoss, double Seconds);

    public static ModelSpec Model(int stateSize, int width)
    {
        var block = new BlockSpec(new MixerSpec("recurrence.gla", Heads: 1, KeyDim: stateSize), new ChannelMixerSpec(ChannelMixerKind.SwiGlu));
        return new ModelSpec(width, [block, block]);
    }

    /// <summary>
    /// Hooks every GLA mixer of <paramref name="model"/> so that each forward pass records
    /// mean_{b, h, t} ||A_t - I||_F^2 of its layer; the returned function sums the recorded layers
    /// (on the tape) and clears them. Pass it, times lambda, as the training penalty.
    /// </summary>
    public static Func<Variable?> TransitionPenalty(BackboneModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var recorded = new List<Variable>();
        foreach (var block in model.Blocks)
            if (block.Mixer is { } mixer && mixer.Operator.Name == "recurrence.gla")
                mixer.OnOperatorInput = (name, g) =>
                {
                    if (name != "g") return;
                    int perStep = g.Shape[^1];                                    // g [B, H, L, K]: K lanes per step
                    var deviation = Ops.Square(Ops.Exp(g) - 1.0);                 // (a_t[n] - 1)^2
                    recorded.Add(Ops.Mean(deviation) * perStep);                  // mean over B, H, L of the sum over lanes
                };
        return () =>
        {
            if (recorded.Count == 0) return null;
            var total = recorded[0];
            for (int i = 1; i < recorded.Count; i++) total += recorded[i];
            recorded.Clear();
            return total;
        };
    }

    public ExperimentReport Run(ExperimentOptions options, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var g = For(options.Preset);
        var runs = new JsonArray();
        var ess = new double[g.Lambdas.Length][];
        var acc = new double[g.Lambdas.Length][];
        var dev = new double[g.Lambdas.Length][];
        for (int i = 0; i < g.Lambdas.Length; i++) (ess[i], acc[i], dev[i]) = (new double[options.Seeds.Count], new double[options.Seeds.Count], new double[options.Seeds.Count]);
        var jobs = (from si in Enumerable.Range(0, options.Seeds.Count) from li in Enumerable.Range(0, g.Lambdas.Length) select (Seed: si, Lambda: li)).ToArray();
        // One task for every seed; each seed draws its own splits, once, when a unit first needs them.
        var task = TaskCatalog.Create("mqar", new Dictionary<string, string>
        {
            ["vocab"] = g.Vocabulary.ToString(CultureInfo.InvariantCulture), ["length"] = g.Length.ToString(CultureInfo.InvariantCulture),
            ["pairs"] = g.Pairs.ToString(CultureInfo.InvariantCulture),
            ["train"] = options.Scaled(g.TrainCount, g.Batch).ToString(CultureInfo.InvariantCulture),
            ["test"] = options.Scaled(g.TestCount, 16).ToString(CultureInfo.InvariantCulture),
        });
        var data = options.Seeds.ToDictionary(seed => seed, seed => new Lazy<(SyntheticSplit Train, SyntheticSplit Test)>(() => task.Generate(seed)));
        string[] keys = [.. jobs.Select(j => ExperimentUnits.Key($"s{options.Seeds[j.Seed]}", $"lambda{g.Lambdas[j.Lambda].ToString("R", CultureInfo.InvariantCulture)}"))];
        var units = ExperimentUnits.Run(keys, (u, ct) =>
        {
            ulong seed = options.Seeds[jobs[u].Seed];
            double lambda = g.Lambdas[jobs[u].Lambda];
            var (train, test) = data[seed].Value;
            var model = BackboneModel.Create(Model(g.StateSize, g.Width), task.Vocabulary, task.InputLength, seed + 1);
            var penalty = TransitionPenalty(model);
            var t = ExperimentTraining.Train(model, train, test,
                new TrainOptions(Steps: options.Scaled(g.Steps, 2), LearningRate: g.LearningRate, Batch: Math.Min(g.Batch, train.Count), Seed: seed, EvalBatch: 64),
                lambda > 0 ? () => penalty() is { } p ? p * lambda : null : () => { penalty(); return null; }, ct);
            double deviation = MeanDeviation(model, test, penalty);
            foreach (var block in model.Blocks) if (block.Mixer is { } m) m.OnOperatorInput = null;
            var e = EssProbe.Measure(model, test, g.EssSequences, EssProbe.DefaultOptions, threads: 1);
            options.Report($"regularizer: lambda {lambda} seed {seed}: accuracy {t.Accuracy:F3}, ESS {e.Ess:F2} / TSS {e.Tss:F0}, ||A - I||^2 {deviation:G3} ({t.Seconds:F1} s)");
            return new RegularizerRun(lambda, seed, t.Accuracy, e.Ess, e.Tss, deviation, t.FinalLoss, t.Seconds);
        }, options.ThreadCount, options.Checkpoint(Name, g), options.Progress, cancellation);
        for (int u = 0; u < jobs.Length; u++)
        {
            var (si, li) = jobs[u];
            var r = units[u];
            (ess[li][si], acc[li][si], dev[li][si]) = (r.Ess, r.Accuracy, r.Deviation);
            runs.Add(new JsonObject
            {
                ["lambda"] = r.Lambda, ["seed"] = r.Seed, ["accuracy"] = r.Accuracy, ["ess"] = r.Ess, ["tss"] = r.Tss,
                ["transition_deviation"] = r.Deviation, ["final_task_loss"] = r.FinalLoss, ["seconds"] = r.Seconds,
            });
        }
        int without = Array.IndexOf(g.Lambdas, 0.0), with = Array.IndexOf(g.Lambdas, g.Declared);
        var essWith = SeedSpread.Of(ess[with]);
        var essWithout = SeedSpread.Of(ess[without]);
        var accWith = SeedSpread.Of(acc[with]);
        var accWithout = SeedSpread.Of(acc[without]);
        var essVerdict = Verdicts.Greater(essWith, essWithout);
        var accVerdict = Verdicts.Greater(accWith, accWithout);
        var result = new JsonObject
        {
            ["grid"] = new JsonObject
            {
                ["lambdas"] = new JsonArray([.. g.Lambdas.Select(l => (JsonNode)l)]), ["declared_lambda"] = g.Declared, ["state_size"] = g.StateSize,
                ["width"] = g.Width, ["length"] = g.Length, ["vocab"] = g.Vocabulary, ["pairs"] = g.Pairs, ["steps"] = options.Scaled(g.Steps, 2),
                ["batch"] = g.Batch, ["lr"] = g.LearningRate,
            },
            ["ess_options"] = EssProbe.DefaultOptions.ToString(),
            ["penalty"] = "lambda * sum over GLA layers of mean over batch, heads and steps of ||Diag(exp g_t) - I||_F^2",
            ["by_lambda"] = new JsonArray([.. g.Lambdas.Select((l, i) => (JsonNode)new JsonObject
            {
                ["lambda"] = l, ["ess"] = SeedSpread.Of(ess[i]).ToJson(), ["accuracy"] = SeedSpread.Of(acc[i]).ToJson(), ["transition_deviation"] = SeedSpread.Of(dev[i]).ToJson(),
            })]),
            ["ess_verdict"] = Verdicts.Text(essVerdict),
            ["accuracy_verdict"] = Verdicts.Text(accVerdict),
            ["runs"] = runs,
        };
        string measured = $"lambda {g.Declared.ToString(CultureInfo.InvariantCulture)} vs 0: ESS {essWith.Format("F2")} vs {essWithout.Format("F2")} ({Verdicts.Text(essVerdict)}); "
            + $"accuracy {accWith.Format("F3")} vs {accWithout.Format("F3")} ({Verdicts.Text(accVerdict)}); ||A_t - I||^2 {SeedSpread.Of(dev[with]).Format("G3")} vs {SeedSpread.Of(dev[without]).Format("G3")}.";
        // lambda = 0 is drawn at a tenth of the smallest positive lambda on the log axis.
        double smallest = g.Lambdas.Where(l => l > 0).Min();
        double[] xs = [.. g.Lambdas.Select(l => l > 0 ? l : smallest / 10)];
        var figures = new List<ExperimentFigure>
        {
            ExperimentPlots.Figure("regularizer_ess.png", "ESS vs lambda (lambda = 0 drawn at the left end; bars: std over seeds)", "lambda", "ESS (sum over layers)",
                [new PlotSeries("ESS", xs, [.. ess.Select(v => v.Average())], [.. ess.Select(v => SeedSpread.Of(v).Std)])], logX: true),
            ExperimentPlots.Figure("regularizer_accuracy.png", "MQAR accuracy vs lambda (lambda = 0 drawn at the left end; bars: std over seeds)", "lambda", "test accuracy",
                [new PlotSeries("accuracy", xs, [.. acc.Select(v => v.Average())], [.. acc.Select(v => SeedSpread.Of(v).Std)])], logX: true),
        };
        return new ExperimentReport(Name, Claim, Verdicts.All([essVerdict, accVerdict]), measured, result, figures);
    }

    /// <summary>mean ||A_t - I||_F^2 (summed over layers) of the trained model on the test split's first sequences.</summary>
    private static double MeanDeviation(BackboneModel model, SyntheticSplit test, Func<Variable?> penalty)
    {
        int b = Math.Min(16, test.Count);
        using (Tape.NoGrad())
        {
            _ = model.Logits(test.Inputs.AsSpan(0, b * test.Length).ToArray(), b, test.Length);
            return penalty()?.Item() ?? 0.0;
        }
    }
}
