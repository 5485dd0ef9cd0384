using MathNet.Numerics.LinearAlgebra;
using Reference.Core;
using Reference.Operators.Connectomics;
using static Reference.SpecTests.Operators.Connectomics.ConnectomicsTestKit;

namespace Reference.SpecTests.Operators.Connectomics;

public class SpdGeometryTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(9)]
    public void SymmetricEigen_EqualsMathNetEigenvalues_AndReconstructs(int n)
    {
        var a = Spd(new SplitMix64((ulong)n), n, shift: -0.2);
        var (values, q) = DenseMatrix.SymmetricEigen(a.Data, n);
        var expected = ToMatrix(a).Evd(Symmetricity.Symmetric).EigenValues.Select(z => z.Real).OrderBy(v => v).ToArray();
        Assert.True(RelativeError(expected, values) < 1e-13);
        Assert.True(RelativeError(a.Data, DenseMatrix.Recompose(q, values, n)) < 1e-13);
        var qtq = DenseMatrix.Multiply(q, q, n, n, n, transA: true);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) Assert.Equal(i == j ? 1 : 0, qtq[i * n + j], 1e-14);
    }

    [Theory]
    [InlineData("log")]
    [InlineData("exp")]
    [InlineData("sqrt")]
    [InlineData("inverse sqrt")]
    [InlineData("power")]
    public void SymmetricFunction_EqualsMathNetEvdRoute(string name)
    {
        var a = SpdStack(new SplitMix64(21), 2, 5);
        (Tensor<double> ours, Func<double, double> f) = name switch
        {
            "log" => (SymmetricMatrixFunction.Log(a), Math.Log),
            "exp" => (SymmetricMatrixFunction.Exp(a), Math.Exp),
            "sqrt" => (SymmetricMatrixFunction.Sqrt(a), Math.Sqrt),
            "inverse sqrt" => (SymmetricMatrixFunction.InverseSqrt(a), (Func<double, double>)(l => 1 / Math.Sqrt(l))),
            _ => (SymmetricMatrixFunction.Power(a, -1.3), l => Math.Pow(l, -1.3)),
        };
        for (int b = 0; b < 2; b++)
        {
            var expected = Flat(MathNetFunction(ToMatrix(a, b * 25), f));
            Assert.True(RelativeError(expected, ours.Data.AsSpan(b * 25, 25).ToArray()) < 1e-12, name);
        }
    }

    [Fact]
    public void SymmetricFunction_Identities()
    {
        var a = Spd(new SplitMix64(22), 6);
        Assert.True(RelativeError(a.Data, SymmetricMatrixFunction.Exp(SymmetricMatrixFunction.Log(a)).Data) < 1e-13);
        var root = ToMatrix(SymmetricMatrixFunction.Sqrt(a));
        Assert.True(RelativeError(a.Data, Flat(root * root)) < 1e-13);
        var w = ToMatrix(SymmetricMatrixFunction.InverseSqrt(a));
        Assert.True(RelativeError(Flat(Matrix<double>.Build.DenseIdentity(6)), Flat(w * ToMatrix(a) * w)) < 1e-13);
        Assert.True(RelativeError(SymmetricMatrixFunction.Sqrt(a).Data, SymmetricMatrixFunction.Power(a, 0.5).Data) < 1e-13);
    }

    [Fact]
    public void ProjectSpd_ClampsTheSpectrum_AndKeepsAnSpdMatrix()
    {
        var sym = new Tensor<double>(DenseMatrix.Symmetrize(new SplitMix64(23).NormalTensor<double>(0, 1, 5, 5).Data, 5), 5, 5);
        var p = SymmetricMatrixFunction.ProjectSpd(sym, 1e-3);
        var (before, _) = DenseMatrix.SymmetricEigen(sym.Data, 5);
        var (after, _) = DenseMatrix.SymmetricEigen(p.Data, 5);
        Assert.True(before[0] < 0);
        for (int i = 0; i < 5; i++) Assert.Equal(Math.Max(before[i], 1e-3), after[i], 1e-12);
        var spd = Spd(new SplitMix64(24), 5);
        Assert.True(RelativeError(spd.Data, SymmetricMatrixFunction.ProjectSpd(spd, 1e-3).Data) < 1e-14);
    }

    [Fact]
    public void TangentProjection_EqualsAnIndependentEigendecomposition_AndConeProjectionInvertsIt()
    {
        var rng = new SplitMix64(25);
        var x = SpdStack(rng, 3, 4);
        var reference = Spd(rng, 4);
        var t = SymmetricMatrixFunction.TangentProject(x, reference);
        var w = MathNetFunction(ToMatrix(reference), l => 1 / Math.Sqrt(l));
        for (int b = 0; b < 3; b++)
        {
            var expected = Flat(MathNetFunction(w * ToMatrix(x, b * 16) * w, Math.Log));
            Assert.True(RelativeError(expected, t.Data.AsSpan(b * 16, 16).ToArray()) < 1e-12);
        }
        Assert.True(RelativeError(x.Data, SymmetricMatrixFunction.ConeProject(t, reference).Data) < 1e-12);
        // At the reference itself the tangent vector is 0.
        var atReference = SymmetricMatrixFunction.TangentProject(reference, reference);
        Assert.All(atReference.Data, v => Assert.True(Math.Abs(v) < 1e-13));
    }

    [Fact]
    public void GeometricMean_OfCommutingMatrices_IsExpOfTheMeanLog()
    {
        // X_i = Q diag(lambda_i) Q^T share eigenvectors: the Karcher mean is Q diag(prod lambda_i^(1/N)) Q^T,
        // which is also the log-Euclidean mean.
        var rng = new SplitMix64(26);
        var q = ToMatrix(rng.NormalTensor<double>(0, 1, 4, 4)).QR().Q;
        var x = Tensor<double>.Zeros(3, 4, 4);
        var logSum = new double[4];
        for (int i = 0; i < 3; i++)
        {
            var l = Enumerable.Range(0, 4).Select(_ => rng.Uniform(0.2, 5)).ToArray();
            for (int k = 0; k < 4; k++) logSum[k] += Math.Log(l[k]) / 3;
            Flat(q * Matrix<double>.Build.DenseOfDiagonalArray(l) * q.Transpose()).CopyTo(x.Data, i * 16);
        }
        var expected = Flat(q * Matrix<double>.Build.DenseOfDiagonalArray(logSum.Select(Math.Exp).ToArray()) * q.Transpose());
        Assert.True(RelativeError(expected, SpdMeans.Geometric(x, maxIterations: 50, tolerance: 1e-15).Data) < 1e-12);
        Assert.True(RelativeError(expected, SpdMeans.LogEuclidean(x).Data) < 1e-12);
        // Harmonic mean of commuting matrices: the harmonic mean of each eigenvalue (checked on the diagonal case).
    }

    [Fact]
    public void GeometricMean_IsAFixedPoint_TheTangentVectorsAverageToZero()
    {
        var x = SpdStack(new SplitMix64(27), 4, 4);
        var g = SpdMeans.Geometric(x, maxIterations: 100, tolerance: 1e-14);
        var t = SymmetricMatrixFunction.TangentProject(x, g);
        var mean = SpdMeans.Euclidean(t);
        double scale = t.Data.Max(Math.Abs);
        Assert.All(mean.Data, v => Assert.True(Math.Abs(v) < 1e-12 * scale, $"{v}"));
        // A non-commuting sample: the geometric mean differs from the log-Euclidean one.
        Assert.True(RelativeError(g.Data, SpdMeans.LogEuclidean(x).Data) > 1e-6);
    }

    [Fact]
    public void EuclideanAndHarmonicMeans_OfDiagonalMatrices_AreTheEntrywiseMeans()
    {
        var x = Tensor<double>.Zeros(2, 2, 2);
        x[0, 0, 0] = 1; x[0, 1, 1] = 4; x[1, 0, 0] = 3; x[1, 1, 1] = 12;
        var e = SpdMeans.Euclidean(x);
        var h = SpdMeans.Harmonic(x);
        Assert.Equal([2.0, 0, 0, 8.0], e.Data);
        Assert.Equal(2 / (1.0 + 1 / 3.0), h[0, 0], 1e-14);
        Assert.Equal(2 / (1 / 4.0 + 1 / 12.0), h[1, 1], 1e-14);
        Assert.Equal(0.0, h[0, 1], 1e-15);
    }
}
