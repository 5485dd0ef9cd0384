// Distillation (ESS paper, arXiv:2504.19561: teachers that use more of their state are
// harder to distill into students with a small state, so teacher ESS predicts the distillation gap).
// Small-scale reading, per seed:
//   1. teachers of growing capacity, one model each: a short causal convolution block (the token shift
//      recall needs) then one memory block whose mixer varies (GLA with key dimension 2 .. 16, softmax
//      attention), trained on in-context recall (MAD) with cross-entropy;
//   2. teacher ESS: the memory layer's ESS (summed over its heads, mean over splits and over held-out
//      sequences), entropy-ESS (the verdict's) and the sequence-level tolerance-ESS (LayerSpectra);
//   3. one student per teacher, with the small-state mixer (GLA, key dimension 2), trained from the same
//      initialization on the KL divergence to its teacher's next-token distribution at every position
//      (Ops.DistillationKl); the distillation gap is the student's held-out KL to the teacher (nats per
//      position);
//   4. the Spearman correlation, over the teachers, of teacher ESS with the gap; and, for comparison,
//      of the teacher's TSS (the capacity the paper argues is the wrong predictor) with the gap.
// Verdict: reproduced when the ESS correlation is > 0 in every seed, not reproduced when it is < 0 in
// every seed, inconclusive otherwise (SeedAgreement).
using System.Text.Json.Nodes;
using Reference.Models;

namespace Reference.Experiments;

/// <summary>One teacher: a label and its memory mixer.</summary>
internal sealed record DistillationTeacher(string Label, MixerSpec Mixer);

/// <summary>Sizes of a distillation run.</summary>
internal sealed record DistillationSettings(
    int Width, int Vocabulary, int Length, int TrainCount, int TestCount, int EssSequences,
    IReadOnlyList<DistillationTeacher> Teachers, MixerSpec Student, int ShiftTaps, FitSettings TeacherFit, FitSettings StudentFit)
    : IPresetSettings<DistillationSettings>
{
    /// <summary>The small preset: 2 cores, minutes for 3 seeds.</summary>
    public static DistillationSettings Small { get; } = new(
        Width: 32, Vocabulary: 16, Length: 32, TrainCount: 4000, TestCount: 256, EssSequences: 8,
        Teachers:
        [
            new("gla k2", new MixerSpec("recurrence.gla", Heads: 1, KeyDim: 2)),
            new("gla k4", new MixerSpec("recurrence.gla", Heads: 1, KeyDim: 4)),
            new("gla k8", new MixerSpec("recurrence.gla", Heads: 1, KeyDim: 8)),
            new("gla k16", new MixerSpec("recurrence.gla", Heads: 1, KeyDim: 16)),
            new("softmax h2", new MixerSpec("attention.softmax", Heads: 2)),
        ],
        Student: new MixerSpec("recurrence.gla", Heads: 1, KeyDim: 2),
        ShiftTaps: 3,
        TeacherFit: new FitSettings(Steps: 400, LearningRate: 3e-3, Batch: 32),
        StudentFit: new FitSettings(Steps: 300, LearningRate: 3e-3, Batch: 32));

    /// <summary>The large preset: a bigger machine (wider models, longer sequences, more teachers and steps).</summary>
    public static DistillationSettings Large { get; } = Small with
    {
        Width = 64, Length = 128, TrainCount = 12800, TestCount = 1280, EssSequences = 32,
        Teachers =
        [
            new("gla k2", new MixerSpec("recurrence.gla", Heads: 1, KeyDim: 2)),
            new("gla k4", new MixerSpec("recurrence.gla", Heads: 1, KeyDim: 4)),
            new("gla k8", new MixerSpec("recurrence.gla", Heads: 1, KeyDim: 8)),
            new("gla k16", new MixerSpec("recurrence.gla", Heads: 1, KeyDim: 16)),
            new("gla k32", new MixerSpec("recurrence.gla", Heads: 1, KeyDim: 32)),
            new("softmax h4", new MixerSpec("attention.softmax", Heads: 4)),
        ],
        TeacherFit = new FitSettings(Steps: 4000, LearningRate: 1e-3, Batch: 64),
        StudentFit = new FitSettings(Steps: 4000, LearningRate: 1e-3, Batch: 64),
    };

    /// <summary>Steps and data sizes multiplied by the budget scale (tests run the preset at a tiny scale).</summary>
    public DistillationSettings Scaled(double budgetScale) => this with
    {
        TeacherFit = TeacherFit.Scaled(budgetScale), StudentFit = StudentFit.Scaled(budgetScale),
        TrainCount = Math.Max(64, (int)Math.Round(TrainCount * budgetScale)), TestCount = Math.Max(16, (int)Math.Round(TestCount * budgetScale)),
        EssSequences = Math.Max(2, (int)Math.Round(EssSequences * budgetScale)),
    };

    public ModelSpec Model(MixerSpec memory) => new(Width,
    [
        new BlockSpec(new MixerSpec("conv.causal", Taps: ShiftTaps), new ChannelMixerSpec(ChannelMixerKind.SwiGlu)),
        new BlockSpec(memory, new ChannelMixerSpec(ChannelMixerKind.SwiGlu)),
    ]);

    public SyntheticTask Task() => new InContextRecallTask(Vocabulary, Length) { TrainCount = TrainCount, TestCount = TestCount };
}

/// <summary>One teacher and its student in one seed.</summary>
internal sealed record DistillationPoint(ulong Seed, string Teacher, double TeacherEntropyEss, double TeacherToleranceEss, double TeacherTss,
    double TeacherAccuracy, double StudentGap, double StudentAccuracy, double BoundExcess, double MinimumEss);

/// <summary>Every point and the per-seed correlations.</summary>
internal sealed record DistillationOutcome(IReadOnlyList<DistillationPoint> Points, IReadOnlyList<ulong> Seeds, double[] EssCorrelation,
    double[] ToleranceEssCorrelation, double[] TssCorrelation, SeedSign Sign);

internal static class Distillation
{
    /// <summary>The memory layer (block 1) of the teacher models.</summary>
    public const int MemoryLayer = 1;

    public static DistillationOutcome Run(DistillationSettings settings, IReadOnlyList<ulong> seeds, int threads, IProgress<string>? progress, CancellationToken cancellation,
        UnitCheckpoint? checkpoint = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(seeds);
        var task = settings.Task();
        var points = ExperimentUnits.ForSeeds(seeds, settings.Teachers, t => t.Label, task, (seed, teacherSpec, train, test, ct) =>
        {
            var teacher = BackboneModel.Create(settings.Model(teacherSpec.Mixer), task.Vocabulary, task.InputLength, seed * 7919 + 1);
            ExperimentFit.Train(teacher, train, settings.TeacherFit, seed * 7919 + 2, cancellation: ct);
            double teacherAccuracy = ExperimentFit.Accuracy(teacher, test);
            var (entropy, tolerance, tss, excess, minimum) = MemoryLayerEss(teacher, test, settings.EssSequences);
            var student = BackboneModel.Create(settings.Model(settings.Student), task.Vocabulary, task.InputLength, seed * 7919 + 3);
            ExperimentFit.Train(student, train, settings.StudentFit, seed * 7919 + 4, teacher, ct);
            double gap = ExperimentFit.DistillationGap(student, teacher, test);
            progress?.Report($"distillation seed {seed} {teacherSpec.Label}: teacher ESS {entropy:F2} (acc {teacherAccuracy:F3}), student KL {gap:F4}");
            return new DistillationPoint(seed, teacherSpec.Label, entropy, tolerance, tss, teacherAccuracy, gap, ExperimentFit.Accuracy(student, test), excess, minimum);
        }, Math.Max(1, threads), checkpoint, progress, cancellation);
        var ess = new double[seeds.Count];
        var tol = new double[seeds.Count];
        var cap = new double[seeds.Count];
        for (int i = 0; i < seeds.Count; i++)
        {
            var p = points.Where(x => x.Seed == seeds[i]).ToArray();
            var gaps = p.Select(x => x.StudentGap).ToArray();
            ess[i] = Correlation.Spearman(p.Select(x => x.TeacherEntropyEss).ToArray(), gaps);
            tol[i] = Correlation.Spearman(p.Select(x => x.TeacherToleranceEss).ToArray(), gaps);
            cap[i] = Correlation.Spearman(p.Select(x => x.TeacherTss).ToArray(), gaps);
        }
        return new DistillationOutcome(points, seeds, ess, tol, cap, SeedAgreement.Sign(ess));
    }

    /// <summary>
    /// The memory layer's ESS (summed over heads, mean over splits and the first <paramref name="sequences"/>
    /// test sequences) in both forms, its TSS (summed over heads, mean over splits) and the bound check.
    /// </summary>
    public static (double Entropy, double Tolerance, double Tss, double Excess, double Minimum) MemoryLayerEss(BackboneModel model, SyntheticSplit test, int sequences)
    {
        int n = Math.Min(sequences, test.Count), l = test.Length;
        double entropy = 0, tolerance = 0, tss = 0, excess = double.NegativeInfinity, minimum = double.PositiveInfinity;
        for (int b = 0; b < n; b++)
        {
            var spectra = LayerSpectra.Of(model, test.Inputs.AsSpan(b * l, l).ToArray());
            var e = spectra.Entropy[MemoryLayer]!;
            var k = spectra.Tolerance[MemoryLayer]!;
            int c = e.GetLength(0);
            for (int s = 0; s < l - 1; s++)
            {
                entropy += SequenceSpectra.ChannelSum(e, s) / (l - 1) / n;
                tolerance += SequenceSpectra.ChannelSum(k, s) / (l - 1) / n;
                tss += c * (spectra.Capacity[MemoryLayer]?[s] ?? double.NaN) / (l - 1) / n;
            }
            var (x, m) = spectra.CheckBounds();
            (excess, minimum) = (Math.Max(excess, x), Math.Min(minimum, m));
        }
        return (entropy, tolerance, tss, excess, minimum);
    }
}

/// <summary>`reference experiment distillation`.</summary>
public sealed class DistillationExperiment : IEssExperiment
{
    public string Name => "distillation";

    public string Claim => "Distillation (arXiv:2504.19561): teacher ESS predicts how hard a teacher is to distill; teachers that use more state leave a larger gap " +
        "(student KL to the teacher) when distilled into a small-state student, i.e. corr(teacher ESS, gap) > 0.";

    public ExperimentReport Run(ExperimentOptions options, CancellationToken cancellation)
    {
        var settings = PresetSettings.For<DistillationSettings>(options);
        var outcome = Distillation.Run(settings, options.Seeds, options.ThreadCount, options.Progress, cancellation, options.Checkpoint(Name, settings));
        var verdict = SeedAgreement.ToVerdict(outcome.Sign, options.Seeds.Count);
        var ess = SeedSpread.Of(outcome.EssCorrelation.Select(x => double.IsNaN(x) ? 0 : x));
        var tol = SeedSpread.Of(outcome.ToleranceEssCorrelation.Select(x => double.IsNaN(x) ? 0 : x));
        var tss = SeedSpread.Of(outcome.TssCorrelation.Select(x => double.IsNaN(x) ? 0 : x));
        var labels = settings.Teachers.Select(t => t.Label).ToArray();
        string PerTeacher(Func<DistillationPoint, double> f, string format) => string.Join(", ", labels.Select(l =>
            $"{l} {SeedSpread.Of(outcome.Points.Where(p => p.Teacher == l).Select(f)).Format(format)}"));
        string measured = $"{labels.Length} teachers (conv + {string.Join(", ", labels)}) trained on in-context recall, each distilled into a conv + GLA k2 student, " +
            $"{options.Seeds.Count} seeds. Spearman(teacher entropy-ESS, student KL): {ess.Format()}; with the sequence-level tolerance-ESS: {tol.Format()}; " +
            $"with teacher TSS: {tss.Format()}. Teacher ESS: {PerTeacher(p => p.TeacherEntropyEss, "F2")}. Student KL (nats/position): {PerTeacher(p => p.StudentGap, "F4")}. " +
            $"Teacher accuracy: {PerTeacher(p => p.TeacherAccuracy, "F3")}. Verdict rule: the correlation must be > 0 (< 0) in every seed.";
        var result = new JsonObject
        {
            ["ess"] = "entropy-ESS of the memory layer (block 1), summed over heads, mean over splits and held-out sequences; tolerance form: tau = " +
                $"{LayerSpectra.DefaultRho} x the largest sigma_1 over splits of each head's operator on each sequence",
            ["task"] = settings.Task().Describe(),
            ["teacher_steps"] = settings.TeacherFit.Steps, ["student_steps"] = settings.StudentFit.Steps, ["width"] = settings.Width,
            ["student"] = settings.Student.Operator + " k" + settings.Student.KeyDim,
            ["spearman_ess_gap"] = OutcomeJson.Numbers(outcome.EssCorrelation),
            ["spearman_tolerance_ess_gap"] = OutcomeJson.Numbers(outcome.ToleranceEssCorrelation),
            ["spearman_tss_gap"] = OutcomeJson.Numbers(outcome.TssCorrelation),
            ["spread_spearman_ess_gap"] = ess.ToJson(),
            ["max_ess_minus_tss"] = OutcomeJson.Number(outcome.Points.Max(p => p.BoundExcess)),
            ["min_ess"] = OutcomeJson.Number(outcome.Points.Min(p => p.MinimumEss)),
            ["points"] = new JsonArray([.. outcome.Points.Select(p => (JsonNode)new JsonObject
            {
                ["seed"] = p.Seed, ["teacher"] = p.Teacher, ["teacher_ess"] = OutcomeJson.Number(p.TeacherEntropyEss),
                ["teacher_tolerance_ess"] = OutcomeJson.Number(p.TeacherToleranceEss), ["teacher_tss"] = OutcomeJson.Number(p.TeacherTss),
                ["teacher_accuracy"] = OutcomeJson.Number(p.TeacherAccuracy), ["student_kl"] = OutcomeJson.Number(p.StudentGap),
                ["student_accuracy"] = OutcomeJson.Number(p.StudentAccuracy),
            })]),
        };
        var series = options.Seeds.Select(seed =>
        {
            var p = outcome.Points.Where(x => x.Seed == seed).ToArray();
            return new PlotSeries($"seed {seed}", [.. p.Select(x => x.TeacherEntropyEss)], [.. p.Select(x => x.StudentGap)], Lines: false);
        }).ToList();
        var figure = ExperimentPlots.Figure("distillation.png", "Distillation: teacher ESS vs student gap", "teacher ESS (entropy, memory layer)",
            "student KL to teacher (nats/position)", series);
        return new ExperimentReport(Name, Claim, verdict, measured, result, [figure]);
    }
}
