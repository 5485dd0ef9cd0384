using Reference.Core;
using Reference.Operators.Connectomics;
using static Reference.SpecTests.Operators.Connectomics.ConnectomicsTestKit;

namespace Reference.SpecTests.Operators.Connectomics;

/// <summary>Bad input gives one ArgumentException whose ParamName is the offending argument.</summary>
public class ConnectomicsBadInputTests
{
    private static void Names(string argument, Action act) => Assert.Equal(argument, Assert.ThrowsAny<ArgumentException>(act).ParamName);

    [Fact]
    public void Edge_CovarianceShapesAndWeights()
    {
        var x = new SplitMix64(41).NormalTensor<double>(0, 1, 3, 5);
        Names("x", () => Covariance.Forward(Tensor<double>.Zeros(5)));
        Names("weight", () => Covariance.Forward(x, Tensor<double>.Full(1.0, 4)));
        Names("weight", () => Covariance.Forward(x, Tensor<double>.Full(1.0, 5, 4)));
        Names("weight", () => Covariance.Forward(x, Tensor<double>.Zeros(5)));
        Names("ddof", () => Covariance.Forward(x, ddof: 5));
        Names("ddof", () => Covariance.Forward(x, ddof: -1));
        Names("l2", () => Covariance.Forward(x, l2: -1));
        Names("y", () => Covariance.Paired(x, Tensor<double>.Zeros(2, 6)));
    }

    [Fact]
    public void Edge_SingularCovariance_NamesTheSeries_AndARidgeFixesIt()
    {
        // 4 variables, 3 observations: rank 2 after centering.
        var x = new SplitMix64(42).NormalTensor<double>(0, 1, 4, 3);
        var e = Assert.Throws<ArgumentException>(() => Covariance.Precision(x));
        Assert.Equal("x", e.ParamName);
        Assert.Contains("singular", e.Message);
        Assert.All(Covariance.Precision(x, l2: 0.1).Data, v => Assert.True(double.IsFinite(v)));
        Names("z", () => Covariance.Conditional(new SplitMix64(43).NormalTensor<double>(0, 1, 2, 3), x));
    }

    [Fact]
    public void Edge_ConstantVariable_HasNoCorrelation()
    {
        var x = new SplitMix64(44).NormalTensor<double>(0, 1, 3, 6);
        for (int t = 0; t < 6; t++) x[1, t] = 2;
        Assert.Contains("diagonal entry 1", Assert.Throws<ArgumentException>(() => Covariance.Correlation(x)).Message);
    }

    [Fact]
    public void Edge_NonSpdWhereSpdIsRequired_NamesTheArgumentAndTheEigenvalue()
    {
        var indefinite = new Tensor<double>([1, 2, 2, 1], 2, 2);   // eigenvalues 3 and -1
        var e = Assert.Throws<ArgumentException>(() => SymmetricMatrixFunction.Log(indefinite));
        Assert.Equal("a", e.ParamName);
        Assert.Contains("-1", e.Message);
        var spd = Spd(new SplitMix64(45), 2);
        Names("reference", () => SymmetricMatrixFunction.TangentProject(spd, indefinite));
        Names("x", () => SymmetricMatrixFunction.TangentProject(indefinite, spd));
        Names("reference", () => SymmetricMatrixFunction.TangentProject(spd, Spd(new SplitMix64(46), 3)));
        Names("a", () => SymmetricMatrixFunction.Sqrt(Tensor<double>.Zeros(2, 3)));
        Names("x", () => SpdMeans.LogEuclidean(spd));
        Names("eps", () => SymmetricMatrixFunction.ProjectSpd(spd, 0));
        // exp needs no definiteness.
        Assert.All(SymmetricMatrixFunction.Exp(indefinite).Data, v => Assert.True(double.IsFinite(v)));
    }

    [Fact]
    public void Edge_ResidualizationShapesAndCollinearConfounds()
    {
        var rng = new SplitMix64(47);
        var y = rng.NormalTensor<double>(0, 1, 3, 8);
        Names("confounds", () => Residualization.Forward(y, Tensor<double>.Zeros(2, 7)));
        Names("l2", () => Residualization.Forward(y, Tensor<double>.Full(1.0, 1, 8), -0.5));
        var collinear = rng.NormalTensor<double>(0, 1, 2, 8);
        for (int t = 0; t < 8; t++) collinear[1, t] = 2 * collinear[0, t];
        Names("confounds", () => Residualization.Forward(y, collinear));
        Assert.All(Residualization.Forward(y, collinear, 0.1).Data, v => Assert.True(double.IsFinite(v)));
    }

    [Theory]
    [InlineData("connectomics.spd_mean", "mean", "median")]
    [InlineData("connectomics.loss", "kind", "variance")]
    [InlineData("connectomics.product_filter", "mask", "gaussian")]
    public void Edge_RegisteredOps_UnknownChoice_NamesTheParameter(string op, string parameter, string value)
    {
        var d = Reference.Operators.OperatorRegistry.Get(op);
        var c = d.Cases[0];
        var p = (System.Text.Json.Nodes.JsonObject)c.Params.DeepClone();
        p[parameter] = value;
        var e = Assert.ThrowsAny<ArgumentException>(() => d.Naive(p, d.InputsOf(c)));
        Assert.Equal(parameter, e.ParamName);
        Assert.Contains(value, e.Message);
    }
}
