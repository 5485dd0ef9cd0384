using Reference.Autodiff;
using Reference.Core;
using Reference.Operators.Connectomics;
using static Reference.SpecTests.Operators.Connectomics.ConnectomicsTestKit;

namespace Reference.SpecTests.Operators.Connectomics;

/// <summary>Every connectomics primitive and composite on the tape against central finite differences (float64).</summary>
public class ConnectomicsGradientTests
{
    private static void AssertPassed(GradCheck.Result r) => Assert.True(r.Passed, r.ToString());

    [Theory]
    [InlineData("none", 1, 0.0)]
    [InlineData("none", 0, 0.3)]
    [InlineData("vector", 1, 0.0)]
    [InlineData("vector", 2, 0.1)]
    [InlineData("matrix", 1, 0.0)]
    [InlineData("matrix", 0, 0.0)]
    public void Gradient_Covariance(string weights, int ddof, double l2)
    {
        var rng = new SplitMix64(11);
        var x = rng.NormalTensor<double>(0, 1, 2, 3, 6);
        if (weights == "none")
        {
            AssertPassed(Check(v => ConnectomicsOps.Covariance(v[0], ddof: ddof, l2: l2), x));
            return;
        }
        // Matrix weights: a general (non-symmetric) matrix, so no symmetry is assumed by the backward.
        var w = weights == "vector" ? rng.UniformTensor<double>(0.3, 1.5, 6) : rng.UniformTensor<double>(0.0, 1.0, 6, 6);
        AssertPassed(Check(v => ConnectomicsOps.Covariance(v[0], v[1], ddof, l2), x, w));
    }

    [Theory]
    [InlineData("none")]
    [InlineData("vector")]
    [InlineData("matrix")]
    public void Gradient_PairedCovariance(string weights)
    {
        var rng = new SplitMix64(12);
        var x = rng.NormalTensor<double>(0, 1, 3, 7);
        var y = rng.NormalTensor<double>(0, 1, 2, 7);
        if (weights == "none")
        {
            AssertPassed(Check(v => ConnectomicsOps.PairedCovariance(v[0], v[1]), x, y));
            return;
        }
        var w = weights == "vector" ? rng.UniformTensor<double>(0.3, 1.5, 7) : rng.UniformTensor<double>(0.0, 1.0, 7, 7);
        AssertPassed(Check(v => ConnectomicsOps.PairedCovariance(v[0], v[1], v[2]), x, y, w));
    }

    [Fact]
    public void Gradient_CorrelationPrecisionPartialCorrelation()
    {
        var rng = new SplitMix64(13);
        var x = rng.NormalTensor<double>(0, 1, 2, 3, 9);
        var w = rng.UniformTensor<double>(0.3, 1.5, 9);
        AssertPassed(Check(v => ConnectomicsOps.Correlation(v[0], v[1]), x, w));
        AssertPassed(Check(v => ConnectomicsOps.Precision(v[0], l2: 0.1), x));
        AssertPassed(Check(v => ConnectomicsOps.PartialCorrelation(v[0], v[1]), x, w));
    }

    [Fact]
    public void Gradient_ConditionalCovariance()
    {
        var rng = new SplitMix64(14);
        var x = rng.NormalTensor<double>(0, 1, 3, 10);
        var z = rng.NormalTensor<double>(0, 1, 2, 10);
        AssertPassed(Check(v => ConnectomicsOps.ConditionalCovariance(v[0], v[1], l2: 0.05), x, z));
    }

    public static TheoryData<string> Maps => ["log", "exp", "sqrt", "inverse sqrt", "power", "clamp"];

    [Theory]
    [MemberData(nameof(Maps))]
    public void Gradient_SymmetricFunction_DaleckiiKrein(string name)
    {
        var map = name switch
        {
            "log" => EigenvalueMap.Log,
            "exp" => EigenvalueMap.Exp,
            "sqrt" => EigenvalueMap.Sqrt,
            "inverse sqrt" => EigenvalueMap.InverseSqrt,
            "power" => EigenvalueMap.Power(0.7),
            _ => EigenvalueMap.Clamp(0.3),
        };
        var rng = new SplitMix64(15);
        var a = SpdStack(rng, 2, 4);
        if (name == "clamp")
        {
            // Indefinite symmetric input: some eigenvalues are clamped, none sits at the kink.
            var sym = rng.NormalTensor<double>(0, 1, 4, 4);
            a = new Tensor<double>(DenseMatrix.Symmetrize(sym.Data, 4), 4, 4);
        }
        AssertPassed(Check(v => ConnectomicsOps.SymmetricFunction(v[0], map), a));
    }

    [Fact]
    public void Gradient_SymmetricFunction_WithARepeatedEigenvalue()
    {
        // Q diag(2, 2, 3) Q^T: the divided difference meets 0/0 and takes f' (the Daleckii-Krein limit).
        var q = ToMatrix(new SplitMix64(16).NormalTensor<double>(0, 1, 3, 3)).QR().Q;
        var a = q * MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.DenseOfDiagonalArray([2.0, 2.0, 3.0]) * q.Transpose();
        var t = new Tensor<double>(DenseMatrix.Symmetrize(Flat(a), 3), 3, 3);
        AssertPassed(Check(v => ConnectomicsOps.Log(v[0]), t));
        AssertPassed(Check(v => ConnectomicsOps.Sqrt(v[0]), t));
    }

    [Fact]
    public void Gradient_TangentAndConeProjection_WithRespectToInputAndReference()
    {
        var rng = new SplitMix64(17);
        var x = SpdStack(rng, 2, 3);
        var reference = Spd(rng, 3);
        AssertPassed(Check(v => ConnectomicsOps.TangentProject(v[0], v[1]), x, reference));
        var t = SymmetricMatrixFunction.TangentProject(x, reference);
        AssertPassed(Check(v => ConnectomicsOps.ConeProject(v[0], v[1]), t, reference));
    }

    [Fact]
    public void Gradient_Means()
    {
        var x = SpdStack(new SplitMix64(18), 3, 3);
        AssertPassed(Check(v => ConnectomicsOps.HarmonicMean(v[0]), x));
        AssertPassed(Check(v => ConnectomicsOps.LogEuclideanMean(v[0]), x));
        AssertPassed(Check(v => ConnectomicsOps.GeometricMean(v[0], iterations: 3), x));
    }

    [Theory]
    [InlineData(0.0, false)]
    [InlineData(0.5, false)]
    [InlineData(0.2, true)]
    public void Gradient_Residualize(double l2, bool batchedConfounds)
    {
        var rng = new SplitMix64(19);
        var y = rng.NormalTensor<double>(0, 1, 2, 3, 8);
        var x = batchedConfounds ? rng.NormalTensor<double>(0, 1, 2, 2, 8) : rng.NormalTensor<double>(0, 1, 2, 8);
        AssertPassed(Check(v => ConnectomicsOps.Residualize(v[0], v[1], l2), y, x));
    }
}
