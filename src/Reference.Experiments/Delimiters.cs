// Delimiters (ESS paper, arXiv:2504.19561: ESS per position around end-of-sequence tokens;
// how strongly a model lowers its ESS at a delimiter orders the mixers softmax attention > GLA >
// weighted (decayed) linear attention > linear attention). The reason the order is expected: softmax
// attention can drop any past token at any query, GLA can close its input-dependent gate at the
// delimiter, decayed linear attention forgets at a fixed rate whatever the token, and linear attention
// never forgets. Small-scale reading, per seed and mixer:
//   1. a model (a short causal convolution block, then one memory block with the mixer) trained on
//      delimited-recall (Tasks/DelimitedRecallTask.cs: segments closed by a delimiter, each with its
//      own key-value table, so a model gains by dropping what came before a delimiter);
//   2. per held-out sequence, the memory layer's per-position ESS P_b(s) (mean over heads) in the
//      sequence-level tolerance form (LayerSpectra: a soft reset shrinks the past's singular values,
//      which a scale-invariant form cannot see) and in the entropy form;
//   3. the split at a delimiter at input position p is s = p (past: the tokens before it; a model that
//      resets there has H_p = 0, invariant 7 of docs/ess.md). Its positional baseline B(s) is the mean
//      of P_b'(s) over the sequences b' with no delimiter within one position of s, so the tent shape
//      of ESS along the sequence cancels;
//   4. modulation M = 1 - sum_(b,p) P_b(p) / sum_(b,p) B(p) (1: ESS vanishes at every delimiter, 0: no
//      change), and the profile R(o) = sum P_b(p + o) / sum B(p + o) for offsets o in [-w, w].
// Verdict on the order, pair by pair (SA - GLA, GLA - WLA, WLA - LA of M, per seed; SeedAgreement):
// reproduced when every pair is positive in every seed, not reproduced when some pair is negative in
// every seed, inconclusive otherwise. A planted control (a gated operator whose gate is exactly 0 at
// the delimiters, and the same operator with no gate) runs through the same modulation code and must
// give M = 1 and M near 0.
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Models;

namespace Reference.Experiments;

/// <summary>One mixer of the comparison.</summary>
internal sealed record DelimiterMixer(string Label, MixerSpec Mixer);

/// <summary>Sizes of a delimiter run.</summary>
internal sealed record DelimiterSettings(int Width, int Vocabulary, int Length, int Segments, int TrainCount, int TestCount, int EssSequences,
    int Window, IReadOnlyList<DelimiterMixer> Mixers, int ShiftTaps, FitSettings Fit) : IPresetSettings<DelimiterSettings>
{
    /// <summary>The paper's order, strongest modulation first.</summary>
    public static IReadOnlyList<string> PaperOrder { get; } = ["SA", "GLA", "WLA", "LA"];

    public static DelimiterSettings Small { get; } = new(
        Width: 32, Vocabulary: 9, Length: 44, Segments: 4, TrainCount: 4000, TestCount: 256, EssSequences: 24, Window: 4,
        Mixers:
        [
            new("SA", new MixerSpec("attention.softmax", Heads: 2)),
            new("GLA", new MixerSpec("recurrence.gla", Heads: 2, KeyDim: 8)),
            new("WLA", new MixerSpec("attention.decayed_linear", Heads: 2, KeyDim: 8)),
            new("LA", new MixerSpec("attention.linear", Heads: 2, KeyDim: 8)),
        ],
        ShiftTaps: 3,
        Fit: new FitSettings(Steps: 500, LearningRate: 3e-3, Batch: 32));

    public static DelimiterSettings Large { get; } = Small with
    {
        Width = 64, Vocabulary = 17, Length = 132, Segments = 6, TrainCount = 12800, TestCount = 1280, EssSequences = 64,
        Fit = new FitSettings(Steps: 4000, LearningRate: 1e-3, Batch: 64),
    };

    /// <summary>Steps and data sizes multiplied by the budget scale (tests run the preset at a tiny scale).</summary>
    public DelimiterSettings Scaled(double budgetScale) => this with
    {
        Fit = Fit.Scaled(budgetScale),
        TrainCount = Math.Max(64, (int)Math.Round(TrainCount * budgetScale)), TestCount = Math.Max(16, (int)Math.Round(TestCount * budgetScale)),
        EssSequences = Math.Max(6, (int)Math.Round(EssSequences * budgetScale)),
    };

    public ModelSpec Model(MixerSpec memory) => new(Width,
    [
        new BlockSpec(new MixerSpec("conv.causal", Taps: ShiftTaps), new ChannelMixerSpec(ChannelMixerKind.SwiGlu)),
        new BlockSpec(memory, new ChannelMixerSpec(ChannelMixerKind.SwiGlu)),
    ]);

    public DelimitedRecallTask Task() => new(Vocabulary, Length, Segments) { TrainCount = TrainCount, TestCount = TestCount };
}

/// <summary>One mixer in one seed: its accuracy, modulation in both forms, the profile around delimiters and the mean per-position ESS.</summary>
internal sealed record DelimiterPoint(ulong Seed, string Mixer, double Accuracy, double Modulation, double EntropyModulation, double[] Profile,
    double[] EntropyProfile, double[] MeanEss, double BoundExcess, double MinimumEss);

internal sealed record DelimiterOutcome(IReadOnlyList<DelimiterPoint> Points, IReadOnlyList<ulong> Seeds, IReadOnlyList<(string Pair, double[] PerSeed, SeedSign Sign)> Pairs,
    double PlantedReset, double PlantedNoReset, SeedSign Sign);

internal static class Delimiters
{
    public const int MemoryLayer = 1;

    public static DelimiterOutcome Run(DelimiterSettings settings, IReadOnlyList<ulong> seeds, int threads, IProgress<string>? progress, CancellationToken cancellation,
        UnitCheckpoint? checkpoint = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(seeds);
        var task = settings.Task();
        var points = ExperimentUnits.ForSeeds(seeds, settings.Mixers, m => m.Label, task, (seed, mixer, train, test, ct) =>
        {
            var model = BackboneModel.Create(settings.Model(mixer.Mixer), task.Vocabulary, task.InputLength, seed * 7919 + 11);
            ExperimentFit.Train(model, train, settings.Fit, seed * 7919 + 12, cancellation: ct);
            double accuracy = ExperimentFit.Accuracy(model, test);
            int n = Math.Min(settings.EssSequences, test.Count), l = test.Length;
            var tolerance = new double[n][];
            var entropy = new double[n][];
            var delimiters = new int[n][];
            double excess = double.NegativeInfinity, minimum = double.PositiveInfinity;
            for (int b = 0; b < n; b++)
            {
                var sequence = test.Inputs.AsSpan(b * l, l).ToArray();
                var spectra = LayerSpectra.Of(model, sequence);
                tolerance[b] = ChannelMeans(spectra.Tolerance[MemoryLayer]!);
                entropy[b] = ChannelMeans(spectra.Entropy[MemoryLayer]!);
                delimiters[b] = DelimiterPositions(sequence, task.Delimiter);
                var (x, m) = spectra.CheckBounds();
                (excess, minimum) = (Math.Max(excess, x), Math.Min(minimum, m));
            }
            var (mod, profile) = Modulation(tolerance, delimiters, settings.Window);
            var (modEntropy, profileEntropy) = Modulation(entropy, delimiters, settings.Window);
            var mean = Enumerable.Range(0, l - 1).Select(s => tolerance.Average(p => p[s])).ToArray();
            progress?.Report($"delimiters seed {seed} {mixer.Label}: accuracy {accuracy:F3}, modulation {mod:F3} (entropy form {modEntropy:F3})");
            return new DelimiterPoint(seed, mixer.Label, accuracy, mod, modEntropy, profile, profileEntropy, mean, excess, minimum);
        }, Math.Max(1, threads), checkpoint, progress, cancellation);
        var pairs = new List<(string, double[], SeedSign)>();
        var order = DelimiterSettings.PaperOrder.Where(label => settings.Mixers.Any(m => m.Label == label)).ToArray();
        for (int i = 0; i + 1 < order.Length; i++)
        {
            var d = seeds.Select(seed => M(points, seed, order[i]) - M(points, seed, order[i + 1])).ToArray();
            pairs.Add(($"{order[i]} > {order[i + 1]}", d, SeedAgreement.Sign(d)));
        }
        var sign = pairs.All(p => p.Item3 == SeedSign.Positive) ? SeedSign.Positive
            : pairs.Any(p => p.Item3 == SeedSign.Negative) ? SeedSign.Negative : SeedSign.Overlap;
        var (reset, noReset) = PlantedControl(task, seeds.Count == 0 ? 0UL : seeds[0], settings.EssSequences, settings.Window);
        return new DelimiterOutcome(points, seeds, pairs, reset, noReset, sign);
    }

    private static double M(IEnumerable<DelimiterPoint> points, ulong seed, string label) => points.First(p => p.Seed == seed && p.Mixer == label).Modulation;

    /// <summary>Per split, the mean over channels of ESS [C, S].</summary>
    public static double[] ChannelMeans(double[,] ess) => [.. Enumerable.Range(0, ess.GetLength(1)).Select(k => SequenceSpectra.ChannelMean(ess, k))];

    /// <summary>Input positions p >= 1 that hold the delimiter (splits p = 1..L-1 exist for them).</summary>
    public static int[] DelimiterPositions(int[] sequence, int delimiter) =>
        [.. Enumerable.Range(1, Math.Max(0, sequence.Length - 1)).Where(p => sequence[p] == delimiter)];

    /// <summary>
    /// Modulation M and the profile R(o), o = -w..w (see the file head), from per-sequence ESS profiles
    /// [b][s - 1] (splits s = 1..L-1) and each sequence's delimiter positions. NaN where no baseline exists.
    /// </summary>
    public static (double Modulation, double[] Profile) Modulation(double[][] profiles, int[][] delimiters, int window)
    {
        ArgumentNullException.ThrowIfNull(profiles);
        ArgumentNullException.ThrowIfNull(delimiters);
        if (profiles.Length != delimiters.Length) throw new ArgumentException($"profiles has {profiles.Length} sequences, delimiters {delimiters.Length}.", nameof(delimiters));
        ArgumentOutOfRangeException.ThrowIfNegative(window);
        if (profiles.Length == 0) return (double.NaN, new double[2 * window + 1]);
        int splits = profiles[0].Length;
        var baseline = new double[splits + 1];      // by split s
        for (int s = 1; s <= splits; s++)
        {
            double sum = 0;
            int count = 0;
            for (int b = 0; b < profiles.Length; b++)
            {
                if (delimiters[b].Any(p => Math.Abs(p - s) <= 1)) continue;
                sum += profiles[b][s - 1];
                count++;
            }
            baseline[s] = count > 0 ? sum / count : double.NaN;
        }
        var profile = new double[2 * window + 1];
        for (int o = -window; o <= window; o++)
        {
            double at = 0, reference = 0;
            for (int b = 0; b < profiles.Length; b++)
                foreach (int p in delimiters[b])
                {
                    int s = p + o;
                    if (s < 1 || s > splits || double.IsNaN(baseline[s])) continue;
                    at += profiles[b][s - 1];
                    reference += baseline[s];
                }
            profile[o + window] = reference > 0 ? at / reference : double.NaN;
        }
        return (1 - profile[window], profile);
    }

    /// <summary>
    /// The planted control: on the task's own held-out sequences, a gated linear operator (random q, k,
    /// key dimension 4, gates uniform in (0.5, 1)) with the gate set to exactly 0 at the delimiters, and
    /// the same operator with every gate 1 (no forgetting), through the same ESS and modulation code.
    /// Returns (M with the planted reset, M without a gate): 1 and about 0.
    /// </summary>
    public static (double Reset, double NoReset) PlantedControl(DelimitedRecallTask task, ulong seed, int sequences, int window)
    {
        var (_, test) = task.Generate(seed);
        int n = Math.Min(sequences, test.Count), l = test.Length;
        var reset = new double[n][];
        var none = new double[n][];
        var delimiters = new int[n][];
        var rng = new SplitMix64(seed ^ 0xD1B54A32D192ED03UL);
        for (int b = 0; b < n; b++)
        {
            var sequence = test.Inputs.AsSpan(b * l, l).ToArray();
            delimiters[b] = DelimiterPositions(sequence, task.Delimiter);
            var (gated, ungated) = PlantedOperators(rng, sequence, task.Delimiter, 4);
            reset[b] = ChannelMeans(LayerSpectra.Of([gated], [null]).Tolerance[0]!);
            none[b] = ChannelMeans(LayerSpectra.Of([ungated], [null]).Tolerance[0]!);
        }
        return (Modulation(reset, delimiters, window).Modulation, Modulation(none, delimiters, window).Modulation);
    }

    /// <summary>
    /// T[i, j] = q_i^T diag(prod_{t = j+1..i} a_t) k_j (j &lt;= i), one channel [1, L, L], with a_t = 0 at
    /// the delimiters (the planted reset) and, for comparison, with every a_t = 1.
    /// </summary>
    public static (Tensor<double> Gated, Tensor<double> Ungated) PlantedOperators(SplitMix64 rng, int[] sequence, int delimiter, int keyDim)
    {
        int l = sequence.Length;
        var q = new double[l, keyDim];
        var k = new double[l, keyDim];
        var a = new double[l, keyDim];
        for (int t = 0; t < l; t++)
            for (int d = 0; d < keyDim; d++)
            {
                q[t, d] = rng.Normal();
                k[t, d] = rng.Normal();
                a[t, d] = sequence[t] == delimiter ? 0.0 : rng.Uniform(0.5, 1.0);
            }
        var gated = Tensor<double>.Zeros(1, l, l);
        var ungated = Tensor<double>.Zeros(1, l, l);
        var decay = new double[keyDim];
        for (int j = 0; j < l; j++)
        {
            Array.Fill(decay, 1.0);
            for (int i = j; i < l; i++)
            {
                if (i > j) for (int d = 0; d < keyDim; d++) decay[d] *= a[i, d];
                double g = 0, u = 0;
                for (int d = 0; d < keyDim; d++)
                {
                    g += q[i, d] * decay[d] * k[j, d];
                    u += q[i, d] * k[j, d];
                }
                gated.Data[i * l + j] = g;
                ungated.Data[i * l + j] = u;
            }
        }
        return (gated, ungated);
    }
}

/// <summary>`reference experiment delimiters`.</summary>
public sealed class DelimitersExperiment : IEssExperiment
{
    public string Name => "delimiters";

    public string Claim => "Delimiters (arXiv:2504.19561): ESS drops at delimiter (EOS) tokens, and the strength of this modulation orders the mixers " +
        "softmax attention > GLA > weighted (decayed) linear attention > linear attention.";

    public ExperimentReport Run(ExperimentOptions options, CancellationToken cancellation)
    {
        var settings = PresetSettings.For<DelimiterSettings>(options);
        var outcome = Delimiters.Run(settings, options.Seeds, options.ThreadCount, options.Progress, cancellation, options.Checkpoint(Name, settings));
        var verdict = SeedAgreement.ToVerdict(outcome.Sign, options.Seeds.Count);
        var labels = settings.Mixers.Select(m => m.Label).ToArray();
        SeedSpread Of(string label, Func<DelimiterPoint, double> f) => SeedSpread.Of(outcome.Points.Where(p => p.Mixer == label).Select(f));
        string measured = $"conv + memory block trained on delimited-recall ({settings.Task().Describe()}), {options.Seeds.Count} seeds. " +
            $"Modulation M = 1 - ESS at the delimiter split / positional baseline (sequence-level tolerance-ESS): " +
            string.Join("; ", labels.Select(l => $"{l} {Of(l, p => p.Modulation).Format()}")) + ". Entropy-ESS form: " +
            string.Join("; ", labels.Select(l => $"{l} {Of(l, p => p.EntropyModulation).Format()}")) + ". Accuracy: " +
            string.Join("; ", labels.Select(l => $"{l} {Of(l, p => p.Accuracy).Format()}")) + ". Pairwise differences of M per seed: " +
            string.Join("; ", outcome.Pairs.Select(p => $"{p.Pair}: {SeedSpread.Of(p.PerSeed).Format()} ({(p.Sign == SeedSign.Positive ? "holds in every seed" : p.Sign == SeedSign.Negative ? "reversed in every seed" : "seeds disagree")})")) +
            $". Planted control: gate 0 at delimiters gives M = {outcome.PlantedReset:F3}, no gate M = {outcome.PlantedNoReset:F3}.";
        var result = new JsonObject
        {
            ["ess"] = $"memory layer (block 1), mean over heads; tolerance-ESS with tau = {LayerSpectra.DefaultRho} x the largest sigma_1 over splits of each head's operator on the sequence; entropy-ESS alongside",
            ["task"] = settings.Task().Describe(),
            ["steps"] = settings.Fit.Steps, ["width"] = settings.Width, ["window"] = settings.Window, ["ess_sequences"] = settings.EssSequences,
            ["planted_reset_modulation"] = OutcomeJson.Number(outcome.PlantedReset),
            ["planted_no_gate_modulation"] = OutcomeJson.Number(outcome.PlantedNoReset),
            ["max_ess_minus_tss"] = OutcomeJson.Number(outcome.Points.Max(p => p.BoundExcess)),
            ["min_ess"] = OutcomeJson.Number(outcome.Points.Min(p => p.MinimumEss)),
            ["pairs"] = new JsonArray([.. outcome.Pairs.Select(p => (JsonNode)new JsonObject
            {
                ["pair"] = p.Pair, ["per_seed"] = OutcomeJson.Numbers(p.PerSeed), ["sign"] = p.Sign.ToString().ToLowerInvariant(),
            })]),
            ["mixers"] = new JsonArray([.. labels.Select(l => (JsonNode)new JsonObject
            {
                ["label"] = l, ["operator"] = settings.Mixers.First(m => m.Label == l).Mixer.Operator,
                ["modulation"] = Of(l, p => p.Modulation).ToJson(), ["entropy_modulation"] = Of(l, p => p.EntropyModulation).ToJson(),
                ["accuracy"] = Of(l, p => p.Accuracy).ToJson(),
            })]),
            ["points"] = new JsonArray([.. outcome.Points.Select(p => (JsonNode)new JsonObject
            {
                ["seed"] = p.Seed, ["mixer"] = p.Mixer, ["accuracy"] = OutcomeJson.Number(p.Accuracy), ["modulation"] = OutcomeJson.Number(p.Modulation),
                ["entropy_modulation"] = OutcomeJson.Number(p.EntropyModulation), ["profile"] = OutcomeJson.Numbers(p.Profile),
                ["entropy_profile"] = OutcomeJson.Numbers(p.EntropyProfile), ["mean_ess_per_split"] = OutcomeJson.Numbers(p.MeanEss),
            })]),
        };
        double[] offsets = [.. Enumerable.Range(-settings.Window, 2 * settings.Window + 1).Select(o => (double)o)];
        var profile = labels.Select(l =>
        {
            var points = outcome.Points.Where(p => p.Mixer == l).ToArray();
            var spreads = offsets.Select((_, i) => SeedSpread.Of(points.Select(p => double.IsFinite(p.Profile[i]) ? p.Profile[i] : 0))).ToArray();
            return new PlotSeries(l, offsets, [.. spreads.Select(s => s.Mean)], [.. spreads.Select(s => s.Std)]);
        }).ToList();
        var modulation = labels.Select((l, i) =>
        {
            var s = Of(l, p => p.Modulation);
            return new PlotSeries(l, [i + 1.0], [s.Mean], [s.Std], Lines: false);
        }).ToList();
        return new ExperimentReport(Name, Claim, verdict, measured, result,
        [
            ExperimentPlots.Figure("delimiters_profile.png", "ESS around delimiters (ratio to positional baseline)", "split offset from the delimiter",
                "ESS / baseline", profile),
            ExperimentPlots.Figure("delimiters_modulation.png", "Modulation at delimiters (paper order SA > GLA > WLA > LA)", "mixer (1 SA, 2 GLA, 3 WLA, 4 LA)",
                "modulation M", modulation),
        ]);
    }
}
