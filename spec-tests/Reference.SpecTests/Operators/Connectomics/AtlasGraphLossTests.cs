using System.Numerics;
using MathNet.Numerics.IntegralTransforms;
using MathNet.Numerics.Statistics;
using Reference.Autodiff;
using Reference.Core;
using Reference.Operators.Connectomics;
using static Reference.SpecTests.Operators.Connectomics.ConnectomicsTestKit;

namespace Reference.SpecTests.Operators.Connectomics;

/// <summary>Soft atlas, modularity, the losses and the product filter: closed forms, independent routes, gradients.</summary>
public class AtlasGraphLossTests
{
    private static void AssertPassed(GradCheck.Result r) => Assert.True(r.Passed, r.ToString());

    [Fact]
    public void SoftAtlas_HardLogits_GiveParcelMeans_AndColumnsSumToOne()
    {
        // Logits of +-40: the softmax is one-hot to 1e-34, so each parcel is the plain mean of its voxels.
        int[] label = [0, 1, 1, 2, 0, 2, 2];
        var logits = Tensor<double>.Zeros(3, 7);
        for (int v = 0; v < 7; v++)
            for (int p = 0; p < 3; p++) logits[p, v] = p == label[v] ? 40 : -40;
        var x = new SplitMix64(51).NormalTensor<double>(0, 1, 2, 7, 5);
        var y = SoftAtlas.Forward(logits, x);
        for (int b = 0; b < 2; b++)
            for (int p = 0; p < 3; p++)
                for (int t = 0; t < 5; t++)
                {
                    var members = Enumerable.Range(0, 7).Where(v => label[v] == p).ToArray();
                    Assert.Equal(members.Average(v => x[b, v, t]), y[b, p, t], 1e-13);
                }
        var a = SoftAtlas.Assignment(new SplitMix64(52).NormalTensor<double>(0, 3, 4, 9));
        for (int v = 0; v < 9; v++) Assert.Equal(1.0, Enumerable.Range(0, 4).Sum(p => a[p, v]), 1e-14);
    }

    [Fact]
    public void DirichletInit_HasTheDirichletMoments()
    {
        // Dirichlet(alpha 1_P): E w = 1/P, Var w = (P - 1) / (P^2 (P alpha + 1)).
        const int p = 4, v = 4000;
        const double alpha = 50;
        var w = SoftAtlas.Assignment(SoftAtlas.DirichletInit(p, v, new SplitMix64(53), alpha));
        var first = Enumerable.Range(0, v).Select(j => w[0, j]).ToArray();
        double expectedVar = (p - 1) / (p * p * (p * alpha + 1.0));
        Assert.Equal(1.0 / p, first.Mean(), 3e-3);
        Assert.InRange(first.Variance() / expectedVar, 0.9, 1.1);
        // Gamma(0.5): mean 0.5 (the shape < 1 boost).
        var rng = new SplitMix64(54);
        Assert.Equal(0.5, Enumerable.Range(0, 20000).Average(_ => SoftAtlas.Gamma(rng, 0.5)), 0.02);
    }

    [Fact]
    public void Gradient_SoftAtlas()
    {
        var rng = new SplitMix64(55);
        AssertPassed(Check(v => ConnectomicsOps.SoftAtlas(v[0], v[1]), rng.NormalTensor<double>(0, 1, 3, 6), rng.NormalTensor<double>(0, 1, 2, 6, 4)));
    }

    private static Tensor<double> TwoTriangles()
    {
        // Nodes 0-1-2 and 3-4-5 are triangles joined by the edge 2-3: 7 edges, 2m = 14.
        var a = Tensor<double>.Zeros(6, 6);
        foreach (var (i, j) in new[] { (0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5), (2, 3) }) { a[i, j] = 1; a[j, i] = 1; }
        return a;
    }

    [Fact]
    public void Modularity_OfTwoTriangles_IsFiveFourteenths()
    {
        // Newman: Q = sum_c (L_c / m - (d_c / 2m)^2) = 2 (3/7 - (7/14)^2) = 5/14.
        var c = Tensor<double>.Zeros(6, 2);
        for (int i = 0; i < 6; i++) c[i, i < 3 ? 0 : 1] = 1;
        Assert.Equal(5.0 / 14, Modularity.Relaxed(TwoTriangles(), c).Data[0], 1e-15);
        // One community: Q = 0. The modularity matrix's rows sum to 0 (gamma = 1, symmetric A).
        Assert.Equal(0.0, Modularity.Relaxed(TwoTriangles(), Tensor<double>.Full(1.0, 6, 1)).Data[0], 1e-15);
        var b = Modularity.Matrix(TwoTriangles());
        for (int i = 0; i < 6; i++) Assert.Equal(0.0, Enumerable.Range(0, 6).Sum(j => b[i, j]), 1e-14);
        Assert.Equal(1 - 3.0 * 3 / 14, b[2, 3], 1e-15);   // A_23 - k_2 k_3 / 2m
    }

    [Fact]
    public void Gradient_RelaxedModularity()
    {
        var rng = new SplitMix64(56);
        var a = rng.UniformTensor<double>(0, 1, 5, 5);
        var c = SoftAtlas.Assignment(rng.NormalTensor<double>(0, 1, 5, 3));
        AssertPassed(GradCheck.Check(v => ConnectomicsOps.RelaxedModularity(v[0], v[1], gamma: 1.3), [a, c]));
        AssertPassed(GradCheck.Check(v => ConnectomicsOps.ModularityLoss(v[0], v[1], excludeDiagonal: true), [a, c]));
    }

    [Fact]
    public void Losses_ClosedForms()
    {
        // Entropy of uniform rows = log K; of one-hot rows = 0.
        Assert.Equal(Math.Log(4), ConnectomicsLosses.Entropy(Tensor<double>.Full(0.25, 3, 4)), 1e-15);
        Assert.Equal(0.0, ConnectomicsLosses.Entropy(new Tensor<double>([1, 0, 0, 1], 2, 2)));
        // Equilibrium: masses (0.5, 0.25, 0.25)/..., by hand.
        var atlas = new Tensor<double>([1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1], 3, 4);   // masses 0.5, 0.25, 0.5
        double mbar = (0.5 + 0.25 + 0.5) / 3;
        Assert.Equal(((0.5 - mbar) * (0.5 - mbar) * 2 + (0.25 - mbar) * (0.25 - mbar)) / 3, ConnectomicsLosses.Equilibrium(atlas), 1e-15);
        // Compactness: two voxels at x = 0 and x = 2 in one parcel: centroid 1, distances 1 + 1, / (P V) = 1.
        Assert.Equal(1.0, ConnectomicsLosses.Compactness(new Tensor<double>([1, 1], 1, 2), new Tensor<double>([0, 0, 2, 0], 2, 2)), 1e-15);
        // Second moment of one parcel holding all voxels equally: the biased variance over voxels, averaged over time.
        var x = new SplitMix64(57).NormalTensor<double>(0, 1, 5, 3);
        double expected = Enumerable.Range(0, 3).Average(t => Enumerable.Range(0, 5).Select(v => x[v, t]).PopulationVariance());
        Assert.Equal(expected, ConnectomicsLosses.SecondMoment(Tensor<double>.Full(1.0, 1, 5), x), 1e-14);
        // Log-det: -log det against MathNet.
        var s = Spd(new SplitMix64(58), 5);
        Assert.Equal(-Math.Log(ToMatrix(s).Determinant()), ConnectomicsLosses.LogDet(s), 1e-12);
        // QC-FC against MathNet's Pearson.
        var fc = new SplitMix64(59).NormalTensor<double>(0, 1, 8, 3);
        var qc = new SplitMix64(60).NormalTensor<double>(0, 1, 8);
        double qcfc = Enumerable.Range(0, 3).Average(e => Math.Abs(Correlation.Pearson(Enumerable.Range(0, 8).Select(i => fc[i, e]), qc.Data)));
        Assert.Equal(qcfc, ConnectomicsLosses.QcFc(fc, qc), 1e-14);
    }

    [Fact]
    public void Gradient_Losses()
    {
        var rng = new SplitMix64(61);
        var a = SoftAtlas.Assignment(rng.NormalTensor<double>(0, 1, 3, 6));
        AssertPassed(GradCheck.Check(v => ConnectomicsOps.Entropy(v[0]), [a]));
        AssertPassed(GradCheck.Check(v => ConnectomicsOps.Equilibrium(v[0]), [a]));
        var coords = rng.NormalTensor<double>(0, 1, 6, 3);
        AssertPassed(GradCheck.Check(v => ConnectomicsOps.Compactness(v[0], coords), [a]));
        AssertPassed(GradCheck.Check(v => ConnectomicsOps.SecondMoment(v[0], v[1]), [a, rng.NormalTensor<double>(0, 1, 6, 4)]));
        AssertPassed(GradCheck.Check(v => ConnectomicsOps.LogDetLoss(v[0]), [Spd(rng, 4)]));
        AssertPassed(GradCheck.Check(v => ConnectomicsOps.QcFc(v[0], v[1]), [rng.NormalTensor<double>(0, 1, 7, 4), rng.NormalTensor<double>(0, 1, 7)]));
        // Through the atlas: entropy of the soft assignment as a function of the logits (transposed rows = voxels).
        AssertPassed(GradCheck.Check(v => ConnectomicsOps.Equilibrium(Ops.Softmax(v[0], 0)), [rng.NormalTensor<double>(0, 1, 3, 5)]));
    }

    [Theory]
    [InlineData(16)]
    [InlineData(15)]
    public void FrequencyFilter_EqualsTheFftRoute_AndTheIdealMaskKeepsOnlyItsBand(int t)
    {
        var rng = new SplitMix64(62);
        var x = rng.NormalTensor<double>(0, 1, 2, t);
        int k = t / 2 + 1;
        var re = rng.NormalTensor<double>(0, 1, k);
        var im = rng.NormalTensor<double>(0, 1, k);
        var y = FrequencyFilter.Forward(x, re, im);
        for (int r = 0; r < 2; r++)
        {
            // numpy irfft(w * rfft(x), t) through MathNet's complex FFT: Hermitian-extend the product spectrum.
            var spectrum = Enumerable.Range(0, t).Select(s => new Complex(x[r, s], 0)).ToArray();
            Fourier.Forward(spectrum, FourierOptions.AsymmetricScaling);
            var full = new Complex[t];
            for (int f = 0; f < k; f++)
            {
                var w = new Complex(re[f], f == 0 || 2 * f == t ? 0 : im[f]);
                var z = w * spectrum[f];
                if (f == 0 || 2 * f == t) z = new Complex(z.Real, 0);
                full[f] = z;
                if (f > 0) full[t - f] = Complex.Conjugate(z);
            }
            Fourier.Inverse(full, FourierOptions.AsymmetricScaling);
            Assert.True(RelativeError(full.Select(c => c.Real).ToArray(), y.Data.AsSpan(r * t, t).ToArray()) < 1e-13);
        }
        // Ideal mask: a cosine inside the band passes unchanged, one outside is removed.
        var mask = FrequencyFilter.IdealBandMask(t, 1.0, 0.1, 0.3);
        var zero = Tensor<double>.Zeros(k);
        var inBand = new Tensor<double>(Enumerable.Range(0, t).Select(s => Math.Cos(2 * Math.PI * 3 * s / t)).ToArray(), t);
        var outBand = new Tensor<double>(Enumerable.Range(0, t).Select(s => Math.Cos(2 * Math.PI * 7 * s / t)).ToArray(), t);
        Assert.True(RelativeError(inBand.Data, FrequencyFilter.Forward(inBand, mask, zero).Data) < 1e-13);
        Assert.All(FrequencyFilter.Forward(outBand, mask, zero).Data, v => Assert.True(Math.Abs(v) < 1e-13));
    }

    [Theory]
    [InlineData(8)]
    [InlineData(7)]
    public void Gradient_FrequencyFilter(int t)
    {
        var rng = new SplitMix64(63);
        AssertPassed(Check(v => ConnectomicsOps.FrequencyFilter(v[0], v[1], v[2]),
            rng.NormalTensor<double>(0, 1, 2, t), rng.NormalTensor<double>(0, 1, t / 2 + 1), rng.NormalTensor<double>(0, 1, t / 2 + 1)));
    }

    [Fact]
    public void Edge_AtlasGraphLossInputs_NameTheArgument()
    {
        static void Names(string argument, Action act) => Assert.Equal(argument, Assert.ThrowsAny<ArgumentException>(act).ParamName);
        Names("x", () => SoftAtlas.Forward(Tensor<double>.Zeros(2, 3), Tensor<double>.Zeros(4, 5)));
        Names("alpha", () => SoftAtlas.DirichletInit(2, 3, new SplitMix64(1), 0));
        Names("assignment", () => Modularity.Relaxed(TwoTriangles(), Tensor<double>.Zeros(5, 2)));
        Names("adjacency", () => Modularity.Relaxed(Tensor<double>.Zeros(2, 2), Tensor<double>.Zeros(2, 1)));
        Names("s", () => ConnectomicsLosses.LogDet(new Tensor<double>([1, 2, 2, 1], 2, 2)));
        Names("qc", () => ConnectomicsLosses.QcFc(Tensor<double>.Zeros(4, 2), Tensor<double>.Zeros(3)));
        Names("re", () => FrequencyFilter.Forward(Tensor<double>.Zeros(8), Tensor<double>.Zeros(4), Tensor<double>.Zeros(5)));
    }
}
