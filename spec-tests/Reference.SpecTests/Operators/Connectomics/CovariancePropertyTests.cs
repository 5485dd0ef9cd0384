using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Autodiff;
using Reference.Core;
using Reference.SpecTests.Core;
using Reference.Operators.Connectomics;
using static Reference.SpecTests.Operators.Connectomics.ConnectomicsTestKit;

namespace Reference.SpecTests.Operators.Connectomics;

/// <summary>A covariance case: Batch x V series of T observations, weights none / vector / matrix, ddof; values from SplitMix64(Seed).</summary>
public sealed record CovarianceCase(int Batch, int V, int T, string Weights, int Ddof, int Seed)
{
    public static Arbitrary<CovarianceCase> Arbitrary() =>
        (from batch in Gen.Choose(1, 2)
         from v in Gen.Elements(1, 2, 3, 5, 8, 9)
         from t in Gen.Elements(3, 4, 7, 8, 16, 17)
         from weights in Gen.Elements("none", "vector", "matrix")
         from ddof in Gen.Elements(0, 1)
         from seed in Cases.Seed
         select new CovarianceCase(batch, v, t, weights, ddof, seed)).ToArbitrary();

    public (Tensor<double> X, Tensor<double>? W) Draw()
    {
        var rng = new SplitMix64((ulong)Seed);
        var x = rng.NormalTensor<double>(0, 1, Batch, V, T);
        Tensor<double>? w = Weights switch
        {
            "vector" => rng.UniformTensor<double>(0.2, 1.0, T),
            "matrix" => null,
            _ => null,
        };
        if (Weights == "matrix")
        {
            // A PSD coupling with positive entries: U U^T.
            var u = rng.UniformTensor<double>(0, 1, T, T).Data;
            w = new Tensor<double>(DenseMatrix.Multiply(u, u, T, T, T, transB: true), T, T);
        }
        return (x, w);
    }
}

public class CovariancePropertyTests
{
    [Property(Arbitrary = [typeof(CovarianceCase)])]
    public void Property_FastTierEqualsTheDefinition(CovarianceCase c)
    {
        var (x, w) = c.Draw();
        var naive = Covariance.Forward(x, w, c.Ddof, 0.1);
        Assert.True(RelativeError(naive.Data, Covariance.ForwardFast(x, w, c.Ddof, 0.1).Data) < 1e-13);
        var x32 = new Tensor<float>(x.Data.Select(v => (float)v).ToArray(), x.ShapeArray);
        var w32 = w is null ? null : new Tensor<float>(w.Data.Select(v => (float)v).ToArray(), w.ShapeArray);
        var fast32 = Covariance.ForwardFast(x32, w32, c.Ddof, 0.1);
        Assert.True(Metrics.RelativeError(naive.Data, fast32.Data) < 1e-5);
    }

    [Property(Arbitrary = [typeof(CovarianceCase)])]
    public void Property_CovarianceIsSymmetricPsd_AndInvariantToShiftsOfEachSeries(CovarianceCase c)
    {
        var (x, w) = c.Draw();
        var s = Covariance.Forward(x, w, c.Ddof);
        var shifted = x.Clone();
        for (int r = 0; r < c.Batch * c.V; r++)
            for (int t = 0; t < c.T; t++) shifted.Data[r * c.T + t] += 3.5 * (r + 1);
        Assert.True(RelativeError(s.Data, Covariance.Forward(shifted, w, c.Ddof).Data) < 1e-12);
        for (int b = 0; b < c.Batch; b++)
        {
            var (values, _) = DenseMatrix.SymmetricEigen(s.Data.AsSpan(b * c.V * c.V, c.V * c.V), c.V);
            Assert.True(values[0] >= -1e-12 * Math.Max(1, values[^1]), $"smallest eigenvalue {values[0]}");
            for (int i = 0; i < c.V; i++)
                for (int j = 0; j < c.V; j++) Assert.Equal(s[b, i, j], s[b, j, i], 1e-13);
        }
    }

    [Property(Arbitrary = [typeof(CovarianceCase)], MaxTest = 10)]
    public void Property_CovarianceGradientMatchesFiniteDifferences(CovarianceCase c)
    {
        var (x, w) = c.Draw();
        var r = w is null
            ? Check(v => ConnectomicsOps.Covariance(v[0], ddof: c.Ddof), x)
            : Check(v => ConnectomicsOps.Covariance(v[0], v[1], c.Ddof), x, w);
        Assert.True(r.Passed, r.ToString());
    }
}
