using Reference.Autodiff;
using Reference.Core;
using Reference.Models;

namespace Reference.SpecTests.Models;

/// <summary>
/// Rotary is one tape primitive; its definition is the composition y = x cos + rotate_half(x) sin, rotate_half(x) =
/// [-x2, x1], from tape operations (slices, negation, concatenation, broadcast products, a sum) with the tables
/// cos/sin [L, 1, K] of RoFormer's angles t base^(-2i/K). The primitive must give the composition's bits, forward and
/// gradient (a training run at one micro-batch kept its bits across the change), on both tiers.
/// </summary>
public sealed class RotaryTests
{
    /// <summary>The composition, with the tables built here from the formula (not read from Rotary).</summary>
    private static Variable Composed(Variable x, int offset)
    {
        int length = x.Shape[1], k = x.Shape[3], half = k / 2;
        var cos = new double[length * k];
        var sin = new double[length * k];
        for (int t = 0; t < length; t++)
            for (int i = 0; i < half; i++)
            {
                double angle = (offset + t) * Math.Pow(10000.0, -2.0 * i / k);
                cos[t * k + i] = cos[t * k + i + half] = Math.Cos(angle);
                sin[t * k + i] = sin[t * k + i + half] = Math.Sin(angle);
            }
        var x1 = Ops.Slice(x, 3, 0, half);
        var x2 = Ops.Slice(x, 3, half, half);
        var rotated = Ops.Concat([Ops.Neg(x2), x1], 3);
        return x * Variable.Constant(new Tensor<double>(cos, length, 1, k)) + rotated * Variable.Constant(new Tensor<double>(sin, length, 1, k));
    }

    private static long[] Bits(double[] values) => [.. values.Select(BitConverter.DoubleToInt64Bits)];

    [Theory]
    [InlineData(false, 0)]
    [InlineData(true, 0)]
    [InlineData(true, 7)]
    public void Property_ThePrimitiveEqualsTheCompositionBitForBit(bool fast, int offset)
    {
        var rng = new SplitMix64(11);
        var x0 = rng.NormalTensor<double>(0, 1, 2, 5, 3, 8);
        var weights = Variable.Constant(rng.NormalTensor<double>(0, 1, 2, 5, 3, 8));
        using var tier = fast ? Tape.UseFastKernels() : default;
        var a = Variable.Parameter(new Tensor<double>((double[])x0.Data.Clone(), x0.ShapeArray));
        var ya = Composed(a, offset);
        Ops.Sum(ya * weights).Backward();
        var b = Variable.Parameter(new Tensor<double>((double[])x0.Data.Clone(), x0.ShapeArray));
        var yb = new Rotary().Apply(b, offset);
        Ops.Sum(yb * weights).Backward();
        Assert.Equal(ya.Value.ShapeArray, yb.Value.ShapeArray);
        Assert.Equal(Bits(ya.Value.Data), Bits(yb.Value.Data));
        Assert.Equal(Bits(a.Grad!.Data), Bits(b.Grad!.Data));
        Assert.NotEqual(x0.Data, yb.Value.Data);
    }
}
