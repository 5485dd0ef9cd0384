// Hybrid models (ESS paper, arXiv:2504.19561: ESS per layer of a trained model locates where its
// memory is used, beyond the capacity TSS that every layer of a kind shares). Small-scale reading, per
// seed: a hybrid of recurrent (GLA) and softmax-attention blocks trained on in-context recall (MAD);
//   1. per layer: ESS (entropy form, summed over heads, mean over splits and held-out sequences; the
//      sequence-level tolerance form alongside), TSS per layer (descriptor formula, summed over heads,
//      mean over splits) and utilization ESS / TSS, and the per-position ESS of each layer;
//   2. per layer, the ablation cost: held-out accuracy of the trained model minus its accuracy with
//      that layer's sequence mixer removed (its residual branch skipped, everything else as trained);
//   3. the claim made testable: the layers that carry more state are the ones the model needs, i.e. the
//      Spearman correlation over layers of ESS with the ablation cost is > 0.
// Verdict: reproduced when the correlation is > 0 in every seed, not reproduced when < 0 in every
// seed, inconclusive otherwise (SeedAgreement).
using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Models;

namespace Reference.Experiments;

internal sealed record HybridSettings(int Width, int Vocabulary, int Length, int TrainCount, int TestCount, int EssSequences,
    IReadOnlyList<(string Label, MixerSpec Mixer)> Layers, FitSettings Fit) : IPresetSettings<HybridSettings>
{
    public static HybridSettings Small { get; } = new(
        Width: 32, Vocabulary: 16, Length: 32, TrainCount: 4000, TestCount: 256, EssSequences: 8,
        Layers:
        [
            ("gla", new MixerSpec("recurrence.gla", Heads: 2, KeyDim: 8)),
            ("softmax", new MixerSpec("attention.softmax", Heads: 2)),
            ("gla", new MixerSpec("recurrence.gla", Heads: 2, KeyDim: 8)),
        ],
        Fit: new FitSettings(Steps: 400, LearningRate: 3e-3, Batch: 32));

    public static HybridSettings Large { get; } = Small with
    {
        Width = 64, Length = 128, TrainCount = 12800, TestCount = 1280, EssSequences = 32,
        Layers =
        [
            ("gla", new MixerSpec("recurrence.gla", Heads: 4, KeyDim: 16)),
            ("softmax", new MixerSpec("attention.softmax", Heads: 4)),
            ("gla", new MixerSpec("recurrence.gla", Heads: 4, KeyDim: 16)),
            ("softmax", new MixerSpec("attention.softmax", Heads: 4)),
        ],
        Fit = new FitSettings(Steps: 4000, LearningRate: 1e-3, Batch: 64),
    };

    /// <summary>Steps and data sizes multiplied by the budget scale (tests run the preset at a tiny scale).</summary>
    public HybridSettings Scaled(double budgetScale) => this with
    {
        Fit = Fit.Scaled(budgetScale),
        TrainCount = Math.Max(64, (int)Math.Round(TrainCount * budgetScale)), TestCount = Math.Max(16, (int)Math.Round(TestCount * budgetScale)),
        EssSequences = Math.Max(2, (int)Math.Round(EssSequences * budgetScale)),
    };

    public ModelSpec Model() => new(Width, [.. Layers.Select(l => new BlockSpec(l.Mixer, new ChannelMixerSpec(ChannelMixerKind.SwiGlu)))]);

    public SyntheticTask Task() => new InContextRecallTask(Vocabulary, Length) { TrainCount = TrainCount, TestCount = TestCount };
}

/// <summary>One layer of the hybrid in one seed.</summary>
internal sealed record HybridLayer(ulong Seed, int Layer, string Mixer, double Ess, double ToleranceEss, double Tss, double Utilization, double AblationCost, double[] PerPosition);

/// <summary>One seed's trained hybrid: its layers, accuracy and bound check (one unit of the experiment).</summary>
internal sealed record HybridSeed(HybridLayer[] Layers, double Accuracy, double Excess, double Minimum);

internal sealed record HybridOutcome(IReadOnlyList<HybridLayer> Layers, IReadOnlyList<ulong> Seeds, double[] Accuracy, double[] Correlation, SeedSign Sign,
    double BoundExcess, double MinimumEss);

internal static class Hybrid
{
    public static HybridOutcome Run(HybridSettings settings, IReadOnlyList<ulong> seeds, int threads, IProgress<string>? progress, CancellationToken cancellation,
        UnitCheckpoint? checkpoint = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(seeds);
        var task = settings.Task();
        var perSeed = ExperimentUnits.ForSeeds(seeds, ["hybrid"], v => v, task, (seed, _, train, test, ct) =>
        {
            var model = BackboneModel.Create(settings.Model(), task.Vocabulary, task.InputLength, seed * 7919 + 21);
            ExperimentFit.Train(model, train, settings.Fit, seed * 7919 + 22, cancellation: ct);
            double accuracy = ExperimentFit.Accuracy(model, test);
            var (layers, excess, minimum) = Measure(model, test, settings.EssSequences, seed, accuracy);
            progress?.Report($"hybrid seed {seed}: accuracy {accuracy:F3}; ESS per layer {string.Join(", ", layers.Select(l => l.Ess.ToString("F2", System.Globalization.CultureInfo.InvariantCulture)))}");
            return new HybridSeed(layers, accuracy, excess, minimum);
        }, Math.Max(1, threads), checkpoint, progress, cancellation);
        var correlation = perSeed.Select(p => Correlation.Spearman(p.Layers.Select(x => x.Ess).ToArray(), p.Layers.Select(x => x.AblationCost).ToArray())).ToArray();
        return new HybridOutcome([.. perSeed.SelectMany(p => p.Layers)], seeds, [.. perSeed.Select(p => p.Accuracy)], correlation, SeedAgreement.Sign(correlation),
            perSeed.Max(p => p.Excess), perSeed.Min(p => p.Minimum));
    }

    /// <summary>Per layer ESS, TSS, utilization, per-position ESS and ablation cost of a trained model on held-out sequences.</summary>
    public static (HybridLayer[] Layers, double Excess, double Minimum) Measure(BackboneModel model, SyntheticSplit test, int sequences, ulong seed, double accuracy)
    {
        int n = Math.Min(sequences, test.Count), l = test.Length, depth = model.Blocks.Count;
        var ess = new double[depth];
        var tol = new double[depth];
        var tss = new double[depth];
        var perPosition = new double[depth][];
        for (int i = 0; i < depth; i++) perPosition[i] = new double[l - 1];
        double excess = double.NegativeInfinity, minimum = double.PositiveInfinity;
        for (int b = 0; b < n; b++)
        {
            var spectra = LayerSpectra.Of(model, test.Inputs.AsSpan(b * l, l).ToArray());
            for (int i = 0; i < depth; i++)
            {
                if (spectra.Entropy[i] is not { } e) continue;
                int c = e.GetLength(0);
                for (int s = 0; s < l - 1; s++)
                {
                    double v = SequenceSpectra.ChannelSum(e, s);
                    ess[i] += v / (l - 1) / n;
                    perPosition[i][s] += v / n;
                    tol[i] += SequenceSpectra.ChannelSum(spectra.Tolerance[i]!, s) / (l - 1) / n;
                    tss[i] += c * (spectra.Capacity[i]?[s] ?? double.NaN) / (l - 1) / n;
                }
            }
            var (x, m) = spectra.CheckBounds();
            (excess, minimum) = (Math.Max(excess, x), Math.Min(minimum, m));
        }
        var result = new HybridLayer[depth];
        for (int i = 0; i < depth; i++)
        {
            double cost = model.Blocks[i].Mixer is null ? 0 : accuracy - AblatedAccuracy(model, test, i);
            result[i] = new HybridLayer(seed, i, model.Blocks[i].Mixer?.Operator.Name ?? "none", ess[i], tol[i], tss[i], tss[i] > 0 ? ess[i] / tss[i] : double.NaN, cost, perPosition[i]);
        }
        return (result, excess, minimum);
    }

    /// <summary>Micro accuracy of the scored positions with block <paramref name="skipped"/>'s sequence mixer removed (its residual branch skipped).</summary>
    public static double AblatedAccuracy(BackboneModel model, SyntheticSplit split, int skipped, int batch = 64) =>
        AblatedMetrics(model, split, skipped, batch).Accuracy;

    /// <summary>
    /// The metrics of the scored positions with block <paramref name="skipped"/>'s sequence mixer removed. The head is applied
    /// at the scored positions only (a gather of those rows of the final norm's output, then the head, as
    /// <see cref="BackboneModel.LogitsAt"/> and Trainer.Evaluate): TaskMetrics reads no other row, so the metrics are those
    /// of the full logits [B T, V] without their unscored rows (vocabulary-wide logits at every position were the bulk of
    /// the ablation's memory and head work).
    /// </summary>
    internal static TaskMetrics AblatedMetrics(BackboneModel model, SyntheticSplit split, int skipped, int batch = 64)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(split);
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), $"batch must be >= 1, got {batch}.");
        var metrics = new TaskMetrics(split.Vocabulary);
        using var tier = Tape.UseFastKernels();
        using (Tape.NoGrad())
        {
            for (int start = 0; start < split.Count; start += batch)
            {
                int count = Math.Min(batch, split.Count - start);
                var (inputs, targets) = split.Batch(start, count);
                int scored = 0;
                foreach (int target in targets) if (target != SyntheticTask.IgnoreIndex) scored++;
                if (scored == 0) continue;   // TaskMetrics.Add counts nothing (not even a batch) without a scored target
                var x = Ops.Embedding(model.Embedding, inputs, count, split.Length);
                for (int i = 0; i < model.Blocks.Count; i++)
                {
                    var block = model.Blocks[i];
                    if (block.Mixer is not null && i != skipped) x = x + block.Mixer.Forward(block.MixerNorm!.Forward(x));
                    if (block.Channel is not null) x = x + block.Channel.Forward(block.ChannelNorm!.Forward(x));
                }
                var h = Ops.Reshape(model.FinalNorm.Forward(x), count * split.Length, model.Spec.Width);
                if (scored == targets.Length)
                {
                    metrics.Add(Ops.MatMul(h, model.Head, transB: true).Value.Data, targets);
                    continue;
                }
                var rows = new int[scored];
                var kept = new int[scored];
                for (int i = 0, j = 0; i < targets.Length; i++)
                    if (targets[i] != SyntheticTask.IgnoreIndex) { rows[j] = i; kept[j++] = targets[i]; }
                metrics.Add(Ops.MatMul(Ops.Embedding(h, rows, rows.Length), model.Head, transB: true).Value.Data, kept);
            }
        }
        return metrics;
    }
}

/// <summary>`reference experiment hybrid`.</summary>
public sealed class HybridExperiment : IEssExperiment
{
    public string Name => "hybrid";

    public string Claim => "Hybrids (arXiv:2504.19561): ESS per layer shows where a hybrid (recurrence + attention) model uses its state; " +
        "tested here as: layers with more ESS cost more accuracy when removed, i.e. corr(layer ESS, ablation cost) > 0.";

    public ExperimentReport Run(ExperimentOptions options, CancellationToken cancellation)
    {
        var settings = PresetSettings.For<HybridSettings>(options);
        var outcome = Hybrid.Run(settings, options.Seeds, options.ThreadCount, options.Progress, cancellation, options.Checkpoint(Name, settings));
        var verdict = SeedAgreement.ToVerdict(outcome.Sign, options.Seeds.Count);
        int depth = settings.Layers.Count;
        SeedSpread Of(int layer, Func<HybridLayer, double> f) => SeedSpread.Of(outcome.Layers.Where(l => l.Layer == layer).Select(f));
        string PerLayer(Func<HybridLayer, double> f, string format) => string.Join("; ", Enumerable.Range(0, depth).Select(i => $"{i} {settings.Layers[i].Label} {Of(i, f).Format(format)}"));
        var correlation = SeedSpread.Of(outcome.Correlation.Select(x => double.IsNaN(x) ? 0 : x));
        string measured = $"hybrid [{string.Join(", ", settings.Layers.Select(l => l.Label))}] (SwiGLU after each mixer) trained on in-context recall, {options.Seeds.Count} seeds, " +
            $"accuracy {SeedSpread.Of(outcome.Accuracy).Format()}. Per layer ESS (entropy, summed over heads): {PerLayer(l => l.Ess, "F2")}. " +
            $"TSS: {PerLayer(l => l.Tss, "F2")}. Utilization: {PerLayer(l => l.Utilization, "F3")}. Ablation cost (accuracy lost without the layer's mixer): " +
            $"{PerLayer(l => l.AblationCost, "F3")}. Spearman(layer ESS, ablation cost): {correlation.Format()}; verdict rule: > 0 (< 0) in every seed.";
        var result = new JsonObject
        {
            ["ess"] = "entropy-ESS summed over heads, mean over splits and held-out sequences; tolerance form: tau = " +
                $"{LayerSpectra.DefaultRho} x the largest sigma_1 over splits of each head's operator on each sequence",
            ["task"] = settings.Task().Describe(),
            ["steps"] = settings.Fit.Steps, ["width"] = settings.Width,
            ["layers"] = new JsonArray([.. settings.Layers.Select(l => (JsonNode)JsonValue.Create($"{l.Mixer.Operator} heads {l.Mixer.Heads}" + (l.Mixer.KeyDim is { } k ? $" k {k}" : "")))]),
            ["accuracy"] = OutcomeJson.Numbers(outcome.Accuracy),
            ["spearman_ess_ablation"] = OutcomeJson.Numbers(outcome.Correlation),
            ["max_ess_minus_tss"] = OutcomeJson.Number(outcome.BoundExcess),
            ["min_ess"] = OutcomeJson.Number(outcome.MinimumEss),
            ["per_layer"] = new JsonArray([.. outcome.Layers.Select(l => (JsonNode)new JsonObject
            {
                ["seed"] = l.Seed, ["layer"] = l.Layer, ["mixer"] = l.Mixer, ["ess"] = OutcomeJson.Number(l.Ess), ["tolerance_ess"] = OutcomeJson.Number(l.ToleranceEss),
                ["tss"] = OutcomeJson.Number(l.Tss), ["utilization"] = OutcomeJson.Number(l.Utilization), ["ablation_cost"] = OutcomeJson.Number(l.AblationCost),
                ["ess_per_split"] = OutcomeJson.Numbers(l.PerPosition),
            })]),
        };
        double[] layerX = [.. Enumerable.Range(0, depth).Select(i => (double)i)];
        var byLayer = new List<PlotSeries>
        {
            new("ESS", layerX, [.. Enumerable.Range(0, depth).Select(i => Of(i, l => l.Ess).Mean)], [.. Enumerable.Range(0, depth).Select(i => Of(i, l => l.Ess).Std)]),
            new("TSS", layerX, [.. Enumerable.Range(0, depth).Select(i => Of(i, l => l.Tss).Mean)]),
        };
        int splits = outcome.Layers[0].PerPosition.Length;
        double[] splitX = [.. Enumerable.Range(1, splits).Select(s => (double)s)];
        var positions = Enumerable.Range(0, depth).Select(i => new PlotSeries($"{i} {settings.Layers[i].Label}", splitX,
            [.. Enumerable.Range(0, splits).Select(s => outcome.Layers.Where(l => l.Layer == i).Average(l => l.PerPosition[s]))])).ToList();
        var ablation = options.Seeds.Select(seed =>
        {
            var l = outcome.Layers.Where(x => x.Seed == seed).ToArray();
            return new PlotSeries($"seed {seed}", [.. l.Select(x => x.Ess)], [.. l.Select(x => x.AblationCost)], Lines: false);
        }).ToList();
        return new ExperimentReport(Name, Claim, verdict, measured, result,
        [
            ExperimentPlots.Figure("hybrid_layers.png", "Hybrid: ESS and TSS per layer", "layer", "state (summed over heads)", byLayer),
            ExperimentPlots.Figure("hybrid_positions.png", "Hybrid: ESS per split, per layer", "split s", "ESS (entropy, summed over heads)", positions),
            ExperimentPlots.Figure("hybrid_ablation.png", "Hybrid: layer ESS vs accuracy lost when the layer's mixer is removed", "layer ESS", "ablation cost (accuracy)", ablation),
        ]);
    }
}
