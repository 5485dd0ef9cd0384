using System.Numerics;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Operators.Monarch;
using static Reference.SpecTests.Operators.Monarch.MonarchTestKit;
using MonarchOp = Reference.Operators.Monarch.Monarch;

namespace Reference.SpecTests.Operators.Monarch;

public class MonarchProjectionTests
{
    [Property(Arbitrary = [typeof(MonarchCase)])]
    public void Property_Projection_IsExactOnMonarchMatrices(MonarchCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var s = c.Shape;
        var dense = MonarchOp.Materialize<double>(s, Normal(rng, s.Weights1), Normal(rng, s.Weights2));
        var (w1, w2) = MonarchProjection.Project(s, dense);
        Assert.True(Metrics.RelativeError(dense, MonarchOp.Materialize<double>(s, w1, w2)) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(MonarchCase)], MaxTest = 20)]
    public void Property_ComplexProjection_IsExactOnComplexMonarchMatrices(MonarchCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var s = c.Shape;
        var dense = MonarchOp.Materialize<Complex>(s, ComplexNormal(rng, s.Weights1), ComplexNormal(rng, s.Weights2));
        var (w1, w2) = MonarchProjection.Project(s, dense);
        Assert.True(RelativeError(dense, MonarchOp.Materialize<Complex>(s, w1, w2)) <= 1e-12);
    }

    /// <summary>
    /// Optimality in Frobenius norm: no member of the class is closer to a random dense A than the projection,
    /// neither random members (w1, w2 ~ N(0, 1), scaled to A's size) nor small perturbations of the
    /// projection's own factors (which probe the local optimum from every direction).
    /// </summary>
    [Property(Arbitrary = [typeof(MonarchCase)], MaxTest = 20)]
    public void Property_Projection_IsNearestInFrobeniusNorm(MonarchCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var s = c.Shape;
        var a = Normal(rng, s.Outputs * s.Inputs);
        var (w1, w2) = MonarchProjection.Project(s, a);
        double best = Distance(a, MonarchOp.Materialize<double>(s, w1, w2));
        for (int trial = 0; trial < 30; trial++)
        {
            var random = MonarchOp.Materialize<double>(s, Normal(rng, s.Weights1), Normal(rng, s.Weights2));
            double scale = Norm(a) / Math.Max(Norm(random), 1e-300);
            for (int i = 0; i < random.Length; i++) random[i] *= scale;
            Assert.True(Distance(a, random) >= best - 1e-12, $"a random member is closer: {Distance(a, random)} < {best}");

            double eps = trial % 2 == 0 ? 1e-3 : 1e-1;
            var p1 = w1.Zip(Normal(rng, s.Weights1), (v, d) => v + eps * d).ToArray();
            var p2 = w2.Zip(Normal(rng, s.Weights2), (v, d) => v + eps * d).ToArray();
            double perturbed = Distance(a, MonarchOp.Materialize<double>(s, p1, p2));
            Assert.True(perturbed >= best - 1e-12, $"a perturbed projection is closer: {perturbed} < {best}");
        }
    }

    [Fact]
    public void Property_Projection_IsIdempotent_AndTheResidualIsNotInTheClass()
    {
        var rng = new SplitMix64(4);
        var s = MonarchShape.Square(4);
        var a = Normal(rng, 256);
        var (w1, w2) = MonarchProjection.Project(s, a);
        var projected = MonarchOp.Materialize<double>(s, w1, w2);
        var (v1, v2) = MonarchProjection.Project(s, projected);
        Assert.True(Metrics.RelativeError(projected, MonarchOp.Materialize<double>(s, v1, v2)) <= 1e-12);
        // A random 16 x 16 matrix is far from rank-1 blocks: the projection is a genuine approximation.
        Assert.True(Distance(a, projected) > 0.3 * Norm(a));
    }

    [Fact]
    public void Edge_WrongDenseSize_NamesDense()
    {
        var ex = Assert.Throws<ArgumentException>(() => MonarchProjection.Project(MonarchShape.Square(2), new double[15]));
        Assert.Equal("dense", ex.ParamName);
    }
}
