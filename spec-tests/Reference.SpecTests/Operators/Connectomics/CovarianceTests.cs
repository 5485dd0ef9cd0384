using MathNet.Numerics.Statistics;
using Reference.Core;
using Reference.Operators.Connectomics;
using static Reference.SpecTests.Operators.Connectomics.ConnectomicsTestKit;

namespace Reference.SpecTests.Operators.Connectomics;

public class CovarianceTests
{
    private static double[] Row(Tensor<double> x, int b, int i)
    {
        int v = x.Dim(-2), t = x.Dim(-1);
        return x.Data.AsSpan((b * v + i) * t, t).ToArray();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(0)]
    public void Covariance_Unweighted_EqualsMathNet(int ddof)
    {
        var x = new SplitMix64(1).NormalTensor<double>(0, 1, 2, 4, 11);
        var s = Covariance.Forward(x, ddof: ddof);
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                {
                    double expected = ddof == 1 ? Row(x, b, i).Covariance(Row(x, b, j)) : Row(x, b, i).PopulationCovariance(Row(x, b, j));
                    Assert.Equal(expected, s[b, i, j], 1e-13);
                }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Covariance_VectorWeights_EqualNumpyAweightsFormula(int ddof)
    {
        // numpy.cov(x, aweights=w, ddof=ddof), written from its documentation:
        // avg = sum w x / v1; c = sum w (x - avg)(y - avg) / (v1 - ddof v2 / v1), v1 = sum w, v2 = sum w^2.
        var rng = new SplitMix64(2);
        var x = rng.NormalTensor<double>(0, 1, 3, 9);
        var w = rng.UniformTensor<double>(0.2, 2.0, 9);
        var s = Covariance.Forward(x, w, ddof);
        double v1 = w.Data.Sum(), v2 = w.Data.Sum(a => a * a);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
            {
                double ai = 0, aj = 0, c = 0;
                for (int t = 0; t < 9; t++) { ai += w[t] * x[i, t] / v1; aj += w[t] * x[j, t] / v1; }
                for (int t = 0; t < 9; t++) c += w[t] * (x[i, t] - ai) * (x[j, t] - aj);
                Assert.Equal(c / (v1 - ddof * v2 / v1), s[i, j], 1e-13);
            }
    }

    [Fact]
    public void Covariance_IntegerWeightsWithDdof0_EqualRepeatedObservations()
    {
        var rng = new SplitMix64(3);
        var x = rng.NormalTensor<double>(0, 1, 3, 5);
        var w = new Tensor<double>([1, 3, 2, 1, 4], 5);
        var repeated = new List<double>[3];
        for (int i = 0; i < 3; i++)
        {
            repeated[i] = [];
            for (int t = 0; t < 5; t++)
                for (int r = 0; r < (int)w[t]; r++) repeated[i].Add(x[i, t]);
        }
        var s = Covariance.Forward(x, w, ddof: 0);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) Assert.Equal(repeated[i].PopulationCovariance(repeated[j]), s[i, j], 1e-13);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Covariance_DiagonalMatrixWeights_EqualVectorWeights_AndIdentityEqualsUnweighted(int ddof)
    {
        var rng = new SplitMix64(4);
        var x = rng.NormalTensor<double>(0, 1, 2, 3, 7);
        var w = rng.UniformTensor<double>(0.1, 1.5, 7);
        var m = Tensor<double>.Zeros(7, 7);
        var eye = Tensor<double>.Zeros(7, 7);
        for (int t = 0; t < 7; t++) { m[t, t] = w[t]; eye[t, t] = 1; }
        Assert.True(RelativeError(Covariance.Forward(x, w, ddof).Data, Covariance.Forward(x, m, ddof).Data) < 1e-14);
        Assert.True(RelativeError(Covariance.Forward(x, ddof: ddof).Data, Covariance.Forward(x, eye, ddof).Data) < 1e-14);
    }

    [Fact]
    public void Covariance_L2_AddsToTheDiagonalOnly()
    {
        var x = new SplitMix64(5).NormalTensor<double>(0, 1, 3, 6);
        var s0 = Covariance.Forward(x);
        var s1 = Covariance.Forward(x, l2: 0.25);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) Assert.Equal(s0[i, j] + (i == j ? 0.25 : 0), s1[i, j], 1e-15);
    }

    [Fact]
    public void Correlation_EqualsMathNetPearson_AndPrecisionInvertsTheCovariance()
    {
        var x = new SplitMix64(6).NormalTensor<double>(0, 1, 4, 13);
        var r = Covariance.Correlation(x);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) Assert.Equal(Correlation.Pearson(Row(x, 0, i), Row(x, 0, j)), r[i, j], 1e-13);
        var product = ToMatrix(Covariance.Forward(x)) * ToMatrix(Covariance.Precision(x));
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) Assert.Equal(i == j ? 1 : 0, product[i, j], 1e-12);
    }

    [Fact]
    public void PartialCorrelation_FromThePrecision_EqualsTheCorrelationOfRegressionResiduals()
    {
        // Definition by regression: residualize variables i and j on every other variable plus an
        // intercept (least squares), correlate the residuals.
        const int v = 4, t = 30;
        var x = new SplitMix64(7).NormalTensor<double>(0, 1, v, t);
        for (int s = 0; s < t; s++) x[1, s] += 0.7 * x[0, s];
        var p = Covariance.PartialCorrelation(x);
        for (int i = 0; i < v; i++)
            for (int j = 0; j < v; j++)
            {
                if (i == j) { Assert.Equal(1.0, p[i, j], 1e-13); continue; }
                var others = Enumerable.Range(0, v).Where(k => k != i && k != j).ToArray();
                var design = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(t, others.Length + 1, (s, c) => c == others.Length ? 1 : x[others[c], s]);
                double[] Resid(int k)
                {
                    var yk = MathNet.Numerics.LinearAlgebra.Vector<double>.Build.Dense(t, s => x[k, s]);
                    return (yk - design * design.QR().Solve(yk)).ToArray();
                }
                Assert.Equal(Correlation.Pearson(Resid(i), Resid(j)), p[i, j], 1e-12);
            }
    }

    [Fact]
    public void ConditionalCovariance_EqualsTheCovarianceOfResidualsOnTheConditioningSet()
    {
        const int t = 25;
        var rng = new SplitMix64(8);
        var x = rng.NormalTensor<double>(0, 1, 3, t);
        var z = rng.NormalTensor<double>(0, 1, 2, t);
        var c = Covariance.Conditional(x, z);
        var confounds = Tensor<double>.Zeros(3, t);
        for (int s = 0; s < t; s++) { confounds[0, s] = z[0, s]; confounds[1, s] = z[1, s]; confounds[2, s] = 1; }
        var residual = Residualization.Forward(x, confounds);
        var expected = Covariance.Forward(residual);
        Assert.True(RelativeError(expected.Data, c.Data) < 1e-12, $"{RelativeError(expected.Data, c.Data)}");
    }

    [Fact]
    public void Paired_OfXWithItself_IsTheCovariance_AndTransposesWithTheArguments()
    {
        var rng = new SplitMix64(9);
        var x = rng.NormalTensor<double>(0, 1, 2, 3, 8);
        var y = rng.NormalTensor<double>(0, 1, 2, 5, 8);
        var w = rng.UniformTensor<double>(0.1, 1, 8, 8);
        Assert.True(RelativeError(Covariance.Forward(x, w).Data, Covariance.Paired(x, x, w).Data) < 1e-15);
        var xy = Covariance.Paired(x, y);
        var yx = Covariance.Paired(y, x);
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 5; j++) Assert.Equal(xy[b, i, j], yx[b, j, i], 1e-14);
    }
}
