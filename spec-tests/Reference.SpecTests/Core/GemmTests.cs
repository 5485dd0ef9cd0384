using FsCheck.Xunit;
using Reference.Core;
using Reference.Core.Linear;

namespace Reference.SpecTests.Core;

[Trait("Category", "IsaParity")]
public class GemmTests
{
    [Property(Arbitrary = [typeof(GemmCase)])]
    public void Property_FastFloat64_EqualsNaive(GemmCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var a = rng.NormalTensor<double>(0, 1, c.TransA ? [c.K, c.M] : [c.M, c.K]);
        var b = rng.NormalTensor<double>(0, 1, c.TransB ? [c.N, c.K] : [c.K, c.N]);
        var expected = NaiveGemm.MatMul(a, b, c.TransA, c.TransB);
        var actual = FastGemm.MatMul(a, b, c.TransA, c.TransB);
        Assert.Equal(expected.ShapeArray, actual.ShapeArray);
        Assert.True(Metrics.RelativeError(expected.Data, actual.Data) <= 1e-13);
    }

    [Fact]
    public void Edge_MismatchedInnerDimension_NamesTheArgument()
    {
        var a = Tensor<double>.Zeros(3, 4);
        var b = Tensor<double>.Zeros(5, 2);
        var e = Assert.Throws<ArgumentException>(() => NaiveGemm.MatMul(a, b));
        Assert.Equal("b", e.ParamName);
    }

    [Fact]
    public void Property_NaiveMatMul_MatchesMathNet()
    {
        var rng = new SplitMix64(11);
        var a = rng.NormalTensor<double>(0, 1, 9, 17);
        var b = rng.NormalTensor<double>(0, 1, 17, 5);
        var ma = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(9, 17, (i, j) => a[i, j]);
        var mb = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(17, 5, (i, j) => b[i, j]);
        var expected = ma * mb;
        var actual = NaiveGemm.MatMul(a, b);
        for (int i = 0; i < 9; i++)
            for (int j = 0; j < 5; j++)
                Assert.Equal(expected[i, j], actual[i, j], 1e-12);
    }
}
