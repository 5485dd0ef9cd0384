using System.Numerics;
using FsCheck.Xunit;
using Reference.Autodiff;
using Reference.Core;
using Reference.Operators.Monarch;
using static Reference.SpecTests.Operators.Monarch.MonarchTestKit;
using MonarchOp = Reference.Operators.Monarch.Monarch;

namespace Reference.SpecTests.Operators.Monarch;

public class MonarchTests
{
    [Property(Arbitrary = [typeof(MonarchCase)])]
    public void Property_Materialize_EqualsTheSpecsProductOfPermutationsAndBlocks(MonarchCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var s = c.Shape;
        var w1 = Normal(rng, s.Weights1);
        var w2 = Normal(rng, s.Weights2);
        var expected = DenseMonarch(s, w1, w2);
        Assert.True(Metrics.RelativeError(expected, MonarchOp.Materialize<double>(s, w1, w2)) <= 1e-13);
    }

    [Property(Arbitrary = [typeof(MonarchCase)])]
    public void Property_FactoredProduct_EqualsMaterializedMatrixTimesX(MonarchCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var s = c.Shape;
        var w1 = Normal(rng, s.Weights1);
        var w2 = Normal(rng, s.Weights2);
        var x = Normal(rng, c.Batch * s.Inputs);
        var y = new double[c.Batch * s.Outputs];
        MonarchOp.Multiply<double>(s, w1, w2, x, y, c.Batch);
        var expected = Apply(DenseMonarch(s, w1, w2), s.Outputs, s.Inputs, x, c.Batch);
        Assert.True(Metrics.RelativeError(expected, y) <= 1e-13);
    }

    [Property(Arbitrary = [typeof(MonarchCase)], MaxTest = 20)]
    public void Property_ComplexWeights_FactoredEqualsMaterializedEqualsSpecProduct(MonarchCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var s = c.Shape;
        var w1 = ComplexNormal(rng, s.Weights1);
        var w2 = ComplexNormal(rng, s.Weights2);
        var x = ComplexNormal(rng, c.Batch * s.Inputs);
        var dense = DenseMonarch(s, w1, w2);
        Assert.True(RelativeError(dense, MonarchOp.Materialize<Complex>(s, w1, w2)) <= 1e-13);
        var y = new Complex[c.Batch * s.Outputs];
        MonarchOp.Multiply<Complex>(s, w1, w2, x, y, c.Batch);
        Assert.True(RelativeError(Apply(dense, s.Outputs, s.Inputs, x, c.Batch), y) <= 1e-13);
    }

    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(3, 2, 4, 2)]
    [InlineData(4, 5, 3, 1)]
    public void Property_BlockDiagonal_EqualsDenseBlockMatrix(int nblocks, int q, int p, int batch)
    {
        var rng = new SplitMix64(77);
        var w = Normal(rng, nblocks * q * p);
        var x = Normal(rng, batch * nblocks * p);
        var y = new double[batch * nblocks * q];
        MonarchOp.BlockDiagonal<double>(w, nblocks, q, p, x, y, batch);
        var expected = Apply(Flatten(BlockDiagonal(w, nblocks, q, p)), nblocks * q, nblocks * p, x, batch);
        Assert.True(Metrics.RelativeError(expected, y) <= 1e-14);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Property_SquareCase_IsPLPR_WithThePerfectShuffleItsOwnInverse(int b)
    {
        var rng = new SplitMix64((ulong)b);
        var s = MonarchShape.Square(b);
        var w1 = Normal(rng, s.Weights1);
        var w2 = Normal(rng, s.Weights2);
        var shuffle = GridTranspose<double>(b, b);
        Assert.Equal(Flatten(MonarchTestKit.Mul(shuffle, shuffle)), Flatten(GridTranspose<double>(1, b * b)));
        var plpr = Flatten(MonarchTestKit.Mul(shuffle, MonarchTestKit.Mul(BlockDiagonal(w2, b, b, b),
            MonarchTestKit.Mul(shuffle, BlockDiagonal(w1, b, b, b)))));
        Assert.True(Metrics.RelativeError(plpr, MonarchOp.Materialize<double>(s, w1, w2)) <= 1e-13);
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(3, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 2)]
    [InlineData(2, 3)]
    [InlineData(3, 3)]
    [InlineData(2, 4)]
    public void Property_OrderP_FactoredProductEqualsClosedFormMatrix(int b, int order)
    {
        var rng = new SplitMix64((ulong)(b * 10 + order));
        int n = (int)Math.Pow(b, order), batch = 2;
        var factors = Enumerable.Range(0, order).Select(_ => Normal(rng, n / b * b * b)).ToArray();
        var x = Normal(rng, batch * n);
        var y = new double[batch * n];
        MonarchOp.MultiplyOrder(b, factors, x, y, batch);
        var dense = MonarchOp.MaterializeOrder(b, factors);
        Assert.True(Metrics.RelativeError(Apply(dense, n, n, x, batch), y) <= 1e-13);

        // The definition as dense products: Rot B_{p-1} ... Rot B_0 with Rot the rotation's permutation matrix.
        var rotation = new double[n, n];
        for (int j = 0; j < n; j++) rotation[MonarchOp.Rotate(j, b, n), j] = 1;
        var product = GridTranspose<double>(1, n);
        foreach (var f in factors) product = MonarchTestKit.Mul(rotation, MonarchTestKit.Mul(BlockDiagonal(f, n / b, b, b), product));
        Assert.True(Metrics.RelativeError(Flatten(product), dense) <= 1e-13);
    }

    [Fact]
    public void Property_OrderTwo_IsTheSquareMonarch()
    {
        var rng = new SplitMix64(3);
        int b = 4;
        var w1 = Normal(rng, b * b * b);
        var w2 = Normal(rng, b * b * b);
        Assert.True(Metrics.RelativeError(MonarchOp.Materialize<double>(MonarchShape.Square(b), w1, w2),
            MonarchOp.MaterializeOrder(b, [w1, w2])) <= 1e-14);
        var z1 = ComplexNormal(rng, b * b * b);
        var z2 = ComplexNormal(rng, b * b * b);
        var x = ComplexNormal(rng, 2 * b * b);
        var yOrder = new Complex[2 * b * b];
        var yMonarch = new Complex[2 * b * b];
        MonarchOp.MultiplyOrder(b, [z1, z2], x, yOrder, 2);
        MonarchOp.Multiply<Complex>(MonarchShape.Square(b), z1, z2, x, yMonarch, 2);
        Assert.True(RelativeError(yMonarch, yOrder) <= 1e-14);
    }

    [Fact]
    public void Property_StandardShape_BlocksAreRankOne()
    {
        // With L = Q and R = K every (lambda, i) block of M is the outer product w2[lambda, :, i] w1[i, lambda, :].
        var rng = new SplitMix64(11);
        var s = MonarchShape.Standard(3, 4, 2, 5);
        var w1 = Normal(rng, s.Weights1);
        var w2 = Normal(rng, s.Weights2);
        var dense = MonarchOp.Materialize<double>(s, w1, w2);
        for (int lambda = 0; lambda < s.L; lambda++)
            for (int i = 0; i < s.K; i++)
                for (int sigma = 0; sigma < s.S; sigma++)
                    for (int a = 0; a < s.P; a++)
                        Assert.Equal(w2[(lambda * s.S + sigma) * s.R + i] * w1[(i * s.Q + lambda) * s.P + a],
                            dense[(sigma * s.L + lambda) * s.Inputs + i * s.P + a], 14);
    }

    [Property(Arbitrary = [typeof(MonarchCase)], MaxTest = 10)]
    public void Property_Backward_MatchesCentralFiniteDifferences(MonarchCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var s = c.Shape;
        var w1 = new Tensor<double>(Normal(rng, s.Weights1), s.K, s.Q, s.P);
        var w2 = new Tensor<double>(Normal(rng, s.Weights2), s.L, s.S, s.R);
        var x = new Tensor<double>(Normal(rng, c.Batch * s.Inputs), c.Batch, s.Inputs);
        var probe = new Tensor<double>(Normal(rng, c.Batch * s.Outputs), c.Batch, s.Outputs);
        var result = GradCheck.Check(v => Ops.Sum(Ops.Mul(MonarchOps.Multiply(v[0], v[1], v[2]), Variable.Constant(probe))), [w1, w2, x]);
        Assert.True(result.Passed, result.ToString());
    }

    [Fact]
    public void Edge_MismatchedMiddle_NamesW2AndTheExpectedProduct()
    {
        var ex = Assert.Throws<ArgumentException>(() => MonarchShape.Of([2, 3, 4], [4, 2, 2]));
        Assert.Equal("w2", ex.ParamName);
        Assert.Contains("L R = K Q = 6", ex.Message);
        var bad = Assert.Throws<ArgumentException>(() =>
            MonarchOp.Multiply(Tensor<double>.Zeros(2, 2, 2), Tensor<double>.Zeros(2, 2, 2), Tensor<double>.Zeros(3, 5)));
        Assert.Equal("x", bad.ParamName);
    }

    [Fact]
    public void Edge_EmptyBatch_ReturnsEmpty()
    {
        var y = MonarchOp.MultiplyFast(new Tensor<double>(new double[8], 2, 2, 2), new Tensor<double>(new double[8], 2, 2, 2), Tensor<double>.Zeros(0, 4));
        Assert.Equal(0, y.Length);
        Assert.Equal(0, MonarchOp.Multiply(new Tensor<double>(new double[8], 2, 2, 2), new Tensor<double>(new double[8], 2, 2, 2), Tensor<double>.Zeros(0, 4)).Length);
    }
}
