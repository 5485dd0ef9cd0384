using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using MathNet.Numerics.Distributions;
using Reference.Core;
using Reference.Neuro.Glm;
using Reference.Neuro.Simulation;

namespace Reference.SpecTests.Neuro;

/// <summary>The HRFs against independently computed values, the design regressors and the cosine drift basis.</summary>
public class HrfDesignTests
{
    // spm_hrf(2) with SPM's defaults, computed with Python's math.gamma (an independent gamma
    // function): g(t; 6, 1) - g(t; 16, 1) / 6 at t = 0, 2, ..., 32, divided by the sum.
    private static readonly double[] SpmTr2 =
    [
        0.0, 0.08656608099363564, 0.3748882364716898, 0.38492338174546215, 0.21611731564655748, 0.07686956525508494,
        0.0016201771980006747, -0.030607811734045056, -0.0373060781329994, -0.03083737159887304, -0.020516133352120488,
        -0.011644163749061213, -0.005820631471825839, -0.0026185424981861978, -0.0010773237440855712, -0.00041044352235731856,
        -0.000146257506876445,
    ];

    [Fact]
    public void SpmHrf_MatchesValuesComputedWithPythonsGamma()
    {
        var h = Hrf.Spm.Sample(2);
        Assert.Equal(SpmTr2.Length, h.Length);
        for (int i = 0; i < h.Length; i++) Assert.Equal(SpmTr2[i], h[i], 1e-13);
        Assert.Equal(1.0, h.Sum(), 1e-12);
    }

    [Fact]
    public void GloverHrf_MatchesValuesComputedWithPythonsGamma()
    {
        // Glover with nilearn's parameters (shape 6/0.9, 12/0.9, scale 0.9, undershoot weight 0.35) at dt 0.5 s,
        // samples 2, 6, 10, 12, 20, 30, 40 (t = 1, 3, 5, 6, 10, 15, 20 s), Python math.gamma.
        int[] at = [2, 6, 10, 12, 20, 30, 40];
        double[] expected = [0.00131391512656615, 0.07194382990783443, 0.13940815557547034, 0.12547455911562386, -0.003944977811486831, -0.017097707888731918, -0.0024187399183417104];
        var h = Hrf.Glover.Sample(0.5);
        for (int i = 0; i < at.Length; i++) Assert.Equal(expected[i], h[at[i]], 1e-13);
    }

    [Property(MaxTest = 50)]
    public Property HrfShape_IsADifferenceOfMathNetGammaDensities() =>
        Prop.ForAll(Gen.Choose(1, 3200).ToArbitrary(), Gen.Elements("spm", "glover").ToArbitrary(), (centi, name) =>
        {
            var hrf = Hrf.Named(name);
            double t = centi / 100.0;
            double expected = Gamma.PDF(hrf.Delay / hrf.Dispersion, 1 / hrf.Dispersion, t)
                - Gamma.PDF(hrf.Undershoot / hrf.UndershootDispersion, 1 / hrf.UndershootDispersion, t) / hrf.Ratio;
            return Math.Abs(hrf.Evaluate(t) - expected) <= 1e-13;
        });

    [Fact]
    public void SpmHrf_PeaksNearFiveSeconds()
    {
        var h = Hrf.Spm.Sample(0.1);
        int peak = Array.IndexOf(h, h.Max());
        // The mode of a gamma(6, 1) density is 5 s; the undershoot moves it by less than a sample.
        Assert.InRange(peak * 0.1, 4.9, 5.1);
        Assert.True(h.Skip(100).Min() < 0);
    }

    [Fact]
    public void LongBlock_RegressorRisesToOne()
    {
        var x = Design.Regressor([new StimulusEvent(10, 200, "a", 0)], 150, 2, Hrf.Spm);
        Assert.Equal(0.0, x[4], 12);
        // 45 s into the block the HRF (32 s long) has been fully integrated: the plateau is the unit sum.
        Assert.Equal(1.0, x[(10 + 45) / 2], 9);
    }

    [Property(MaxTest = 30)]
    public Property Regressor_IsLinearInTheEvents() =>
        Prop.ForAll(Gen.Choose(1, 1000).ToArbitrary(), seed =>
        {
            var rng = new SplitMix64((ulong)seed);
            var a = new StimulusEvent(rng.Uniform(0, 100), rng.Uniform(0, 10), "a", 0);
            var b = new StimulusEvent(rng.Uniform(0, 100), rng.Uniform(0, 10), "a", 1);
            var xa = Design.Regressor([a], 80, 1.5, Hrf.Glover);
            var xb = Design.Regressor([b], 80, 1.5, Hrf.Glover);
            var xab = Design.Regressor([a, b], 80, 1.5, Hrf.Glover);
            return Enumerable.Range(0, 80).All(i => Math.Abs(xab[i] - xa[i] - xb[i]) < 1e-12);
        });

    [Fact]
    public void EventsTsv_RoundTrips()
    {
        var events = Design.EventRelated(["a", "b"], 100, 2, 1, 3, 6, new SplitMix64(4));
        var back = Design.ParseTsv(Design.ToTsv(events), "x");
        Assert.Equal(events.Count, back.Count);
        for (int i = 0; i < events.Count; i++)
        {
            Assert.Equal(events[i].Onset, back[i].Onset, 6);
            Assert.Equal(events[i].Condition, back[i].Condition);
        }
        Assert.Equal(events.Count(e => e.Condition == "a"), events.Count(e => e.Condition == "b"), 1.0);
        var bad = Assert.Throws<FormatException>(() => Design.ParseTsv("onset\tduration\n1\t2\n", "e.tsv"));
        Assert.Contains("trial_type", bad.Message);
    }

    [Theory]
    [InlineData(200, 2.0, 128.0, 6)]
    [InlineData(100, 1.0, 128.0, 1)]
    [InlineData(300, 0.72, 100.0, 4)]
    [InlineData(10, 30.0, 128.0, 4)]
    public void CosineDrift_OrderIsNilearns(int scans, double tr, double cutoff, int order)
    {
        // nilearn's _cosine_drift: order = min(n - 1, floor(2 n dt high_pass)) with high_pass = 1 / cutoff.
        Assert.Equal(order, CosineDrift.Order(scans, tr, cutoff));
    }

    [Fact]
    public void CosineDrift_IsOrthonormalAndOrthogonalToTheConstant()
    {
        int n = 200;
        var c = CosineDrift.Basis(n, 2);
        int k = c.Length / n;
        for (int a = 0; a < k; a++)
        {
            Assert.Equal(0.0, Enumerable.Range(0, n).Sum(t => c[t * k + a]), 10);
            for (int b = 0; b < k; b++)
                Assert.Equal(a == b ? 1.0 : 0.0, Enumerable.Range(0, n).Sum(t => c[t * k + a] * c[t * k + b]), 10);
        }
        // The slowest cosine has period 2 n TR (half a cycle over the run): 800 s here, above the cutoff.
        Assert.Equal(Math.Sqrt(2.0 / n) * Math.Cos(Math.PI * 0.5 / n), c[0], 14);
    }
}
