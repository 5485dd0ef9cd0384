using System.Numerics;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Operators.Monarch;
using static Reference.SpecTests.Operators.Monarch.MonarchTestKit;
using MonarchOp = Reference.Operators.Monarch.Monarch;

namespace Reference.SpecTests.Operators.Monarch;

public class MonarchFastTests
{
    [Property(Arbitrary = [typeof(MonarchCase)])]
    public void Property_Fast64_EqualsNaive(MonarchCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var s = c.Shape;
        var w1 = Normal(rng, s.Weights1);
        var w2 = Normal(rng, s.Weights2);
        var x = Normal(rng, c.Batch * s.Inputs);
        var expected = new double[c.Batch * s.Outputs];
        MonarchOp.Multiply<double>(s, w1, w2, x, expected, c.Batch);
        var y = new double[expected.Length];
        MonarchOp.MultiplyFast<double>(s, w1, w2, x, y, c.Batch);
        Assert.True(Metrics.RelativeError(expected, y) <= 1e-13);
    }

    [Theory]
    [InlineData(8, 130)]
    [InlineData(5, 64)]
    [InlineData(16, 65)]
    public void Property_Fast32_ManyPanels_EqualsNaive_AndThreadsAgreeBitwise(int b, int batch)
    {
        var rng = new SplitMix64((ulong)(b + batch));
        var s = MonarchShape.Square(b);
        var w1 = Normal(rng, s.Weights1).Select(v => (float)v).ToArray();
        var w2 = Normal(rng, s.Weights2).Select(v => (float)v).ToArray();
        var x = Normal(rng, batch * s.Inputs).Select(v => (float)v).ToArray();
        var expected = new double[batch * s.Outputs];
        MonarchOp.Multiply<double>(s, [.. w1.Select(v => (double)v)], [.. w2.Select(v => (double)v)], [.. x.Select(v => (double)v)], expected, batch);
        var one = new float[expected.Length];
        var two = new float[expected.Length];
        MonarchOp.MultiplyFast<float>(s, w1, w2, x, one, batch, maxThreads: 1);
        MonarchOp.MultiplyFast<float>(s, w1, w2, x, two, batch, maxThreads: 2);
        Assert.True(Metrics.RelativeError(expected, one) <= 1e-5, $"{Metrics.RelativeError(expected, one)}");
        Assert.Equal(one, two);
    }

    [Fact]
    public void Property_FastComplex_EqualsNaiveComplex()
    {
        var rng = new SplitMix64(21);
        var s = new MonarchShape(2, 6, 3, 4, 5, 3);
        int batch = 70;
        var w1 = ComplexNormal(rng, s.Weights1);
        var w2 = ComplexNormal(rng, s.Weights2);
        var x = ComplexNormal(rng, batch * s.Inputs);
        var expected = new Complex[batch * s.Outputs];
        MonarchOp.Multiply<Complex>(s, w1, w2, x, expected, batch);
        var yr = new double[expected.Length];
        var yi = new double[expected.Length];
        MonarchOp.MultiplyFastComplex<double>(s, [.. w1.Select(z => z.Real)], [.. w1.Select(z => z.Imaginary)],
            [.. w2.Select(z => z.Real)], [.. w2.Select(z => z.Imaginary)], [.. x.Select(z => z.Real)], [.. x.Select(z => z.Imaginary)], yr, yi, batch, 2);
        Assert.True(RelativeError(expected, [.. yr.Zip(yi, (re, im) => new Complex(re, im))]) <= 1e-13);
    }

    [Fact]
    public void Negative_FastWithASwappedPermutation_IsCaught()
    {
        // The comparison above is sharp: a Monarch whose P1 were the identity differs by O(1).
        var rng = new SplitMix64(5);
        var s = MonarchShape.Square(3);
        var w1 = Normal(rng, s.Weights1);
        var w2 = Normal(rng, s.Weights2);
        var x = Normal(rng, 2 * s.Inputs);
        var y = new double[2 * s.Outputs];
        MonarchOp.MultiplyFast<double>(s, w1, w2, x, y, 2);
        var noShuffle = Flatten(MonarchTestKit.Mul(BlockDiagonal(w2, 3, 3, 3), BlockDiagonal(w1, 3, 3, 3)));
        Assert.True(Metrics.RelativeError(Apply(noShuffle, 9, 9, x, 2), y) > 0.1);
    }
}
