using Reference.Experiments;

namespace Reference.SpecTests.Experiments;

public sealed class DistillationExperimentTests
{
    [Fact]
    public void Property_SmallPresetAtATinyBudgetKeepsItsInvariants()
    {
        var settings = DistillationSettings.Small.Scaled(0.01);
        var outcome = Distillation.Run(settings, [1UL, 2UL], threads: 2, progress: null, TestContext.Current.CancellationToken);
        Assert.Equal(2 * settings.Teachers.Count, outcome.Points.Count);
        foreach (var p in outcome.Points)
        {
            Assert.True(p.BoundExcess <= 1e-9, $"{p.Teacher}: ESS exceeds TSS by {p.BoundExcess}");
            Assert.True(p.MinimumEss >= 0);
            Assert.InRange(p.TeacherEntropyEss, 0, p.TeacherTss);
            Assert.InRange(p.TeacherToleranceEss, 0, p.TeacherTss);
            Assert.True(p.StudentGap >= 0 && double.IsFinite(p.StudentGap));
            Assert.InRange(p.TeacherAccuracy, 0, 1);
        }
        Assert.Equal(2, outcome.EssCorrelation.Length);
        Assert.All(outcome.EssCorrelation, r => Assert.True(double.IsNaN(r) || r is >= -1 and <= 1));
    }

    [Fact]
    public void Property_StudentIdenticalToItsTeacherHasNoGap()
    {
        var settings = DistillationSettings.Small;
        var (_, test) = new Reference.Models.InContextRecallTask(16, 32) { TrainCount = 1, TestCount = 8 }.Generate(1);
        var a = Reference.Models.BackboneModel.Create(settings.Model(settings.Student), 16, 31, 5);
        var b = Reference.Models.BackboneModel.Create(settings.Model(settings.Student), 16, 31, 5);
        var c = Reference.Models.BackboneModel.Create(settings.Model(settings.Student), 16, 31, 6);
        Assert.Equal(0.0, ExperimentFit.DistillationGap(a, b, test), 12);
        Assert.True(ExperimentFit.DistillationGap(a, c, test) > 0);
    }

    [Fact]
    public void Property_DistillationTrainingLowersTheGap()
    {
        var settings = DistillationSettings.Small;
        var (train, test) = new Reference.Models.InContextRecallTask(16, 32) { TrainCount = 64, TestCount = 16 }.Generate(2);
        var teacher = Reference.Models.BackboneModel.Create(settings.Model(settings.Teachers[2].Mixer), 16, 31, 7);
        var student = Reference.Models.BackboneModel.Create(settings.Model(settings.Student), 16, 31, 8);
        double before = ExperimentFit.DistillationGap(student, teacher, test);
        var losses = ExperimentFit.Train(student, train, new FitSettings(Steps: 30, LearningRate: 3e-3, Batch: 8), 9, teacher, TestContext.Current.CancellationToken);
        Assert.True(losses[^1] < losses[0], $"KL {losses[0]} -> {losses[^1]}");
        Assert.True(ExperimentFit.DistillationGap(student, teacher, test) < before);
    }

    [Fact]
    public void Property_SeedSignsNeedEverySeed()
    {
        Assert.Equal(SeedSign.Positive, SeedAgreement.Sign([0.1, 0.3]));
        Assert.Equal(SeedSign.Negative, SeedAgreement.Sign([-0.1, -0.3]));
        Assert.Equal(SeedSign.Overlap, SeedAgreement.Sign([-0.1, 0.3]));
        Assert.Equal(SeedSign.Overlap, SeedAgreement.Sign([double.NaN, 0.3]));
    }
}
