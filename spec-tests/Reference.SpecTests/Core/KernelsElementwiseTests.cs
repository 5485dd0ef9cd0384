using System.Numerics;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.SpecTests.Core;

/// <summary>Elementwise kernels: Fast (float64, float32) against the naive definition, NumPy broadcasting rules.</summary>
[Trait("Category", "IsaParity")]
public class KernelsElementwiseTests
{
    private static readonly BinaryOp[] BinaryOps = Enum.GetValues<BinaryOp>();
    private static readonly UnaryOp[] UnaryOps = Enum.GetValues<UnaryOp>();

    [Property(Arbitrary = [typeof(BroadcastCase)])]
    public void Property_FastBroadcastFloat64_EqualsNaive(BroadcastCase c) => FastBroadcastEqualsNaive<double>(c);

    [Property(Arbitrary = [typeof(BroadcastCase)])]
    public void Property_FastBroadcastFloat32_EqualsNaive(BroadcastCase c) => FastBroadcastEqualsNaive<float>(c);

    private static void FastBroadcastEqualsNaive<T>(BroadcastCase c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var a = rng.NormalTensor<T>(0, 1, c.ShapeA);
        var b = rng.UniformTensor<T>(0.5, 2.0, c.ShapeB); // away from 0 so Divide stays finite
        foreach (var op in BinaryOps)
        {
            var expected = NaiveBinary(op, a.Cast<double>(), b.Cast<double>());
            var actual = FastBinary(op, a, b);
            Assert.Equal(expected.ShapeArray, actual.ShapeArray);
            // + - * / max min are correctly rounded in both tiers: float64 agrees bit for bit.
            if (typeof(T) == typeof(double)) Close.All(expected.Data, actual.Data, 0, 0, op.ToString());
            else Close.All(expected.Data, actual.Data, op.ToString());
        }
    }

    /// <summary>The naive broadcast against an independent index mapping: operand index = result index, or 0 where the operand has size 1.</summary>
    [Property(Arbitrary = [typeof(BroadcastCase)])]
    public void Property_NaiveBroadcast_MatchesExplicitIndexMapping(BroadcastCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var a = rng.NormalTensor<double>(0, 1, c.ShapeA);
        var b = rng.NormalTensor<double>(0, 1, c.ShapeB);
        var sum = NaiveElementwise.Subtract(a, b);
        int rank = Math.Max(a.Rank, b.Rank);
        var expectedShape = new int[rank];
        for (int i = 0; i < rank; i++)
            expectedShape[i] = Math.Max(DimFromRight(a, rank - 1 - i), DimFromRight(b, rank - 1 - i));
        Assert.Equal(expectedShape, sum.ShapeArray);
        var index = new int[rank];
        for (int flat = 0; flat < sum.Length; flat++)
        {
            int rest = flat;
            for (int i = rank - 1; i >= 0; i--) { index[i] = rest % expectedShape[i]; rest /= expectedShape[i]; }
            Assert.Equal(a[OperandIndex(a, index)] - b[OperandIndex(b, index)], sum.Data[flat]);
        }
    }

    private static int DimFromRight(Tensor<double> t, int k) => k < t.Rank ? t.Shape[t.Rank - 1 - k] : 1;

    private static int[] OperandIndex(Tensor<double> t, int[] resultIndex)
    {
        var idx = new int[t.Rank];
        for (int i = 0; i < t.Rank; i++)
        {
            int r = resultIndex[resultIndex.Length - t.Rank + i];
            idx[i] = t.Shape[i] == 1 ? 0 : r;
        }
        return idx;
    }

    [Property(Arbitrary = [typeof(VectorCase)])]
    public void Property_FastUnaryFloat64_EqualsNaive(VectorCase c) => FastUnaryEqualsNaive<double>(c);

    [Property(Arbitrary = [typeof(VectorCase)])]
    public void Property_FastUnaryFloat32_EqualsNaive(VectorCase c) => FastUnaryEqualsNaive<float>(c);

    private static void FastUnaryEqualsNaive<T>(VectorCase c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var x = Close.Normal<T>(rng, c.Length, 0, 2);
        var positive = x.Select(v => T.Abs(v) + T.CreateTruncating(0.1)).ToArray();
        foreach (var op in UnaryOps)
        {
            var input = op is UnaryOp.Log or UnaryOp.Sqrt or UnaryOp.Reciprocal ? positive : x;
            var expected = Close.Widen<T>(input).Select(v => NaiveElementwise.Apply(op, v)).ToArray();
            var actual = new T[c.Length];
            var fast = FastUnary<T>(op);
            fast(input, actual);
            Close.All(expected, actual, op.ToString());
            // The span and tensor entry points agree, and the naive span kernel is the scalar definition.
            var tensor = FastUnaryTensor<T>(op)(Tensor<T>.FromSpan(input, c.Length));
            Assert.Equal(actual, tensor.Data);
            var naive = new double[c.Length];
            NaiveUnary(op)(Close.Widen<T>(input), naive);
            Assert.Equal(expected, naive);
        }
    }

    [Property(Arbitrary = [typeof(VectorCase)])]
    public void Property_FastScaleAddScalarAxpy_EqualsNaive(VectorCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var x = Close.Normal<double>(rng, c.Length);
        var y = Close.Normal<double>(rng, c.Length);
        double alpha = rng.Uniform(-2, 2);
        var (e, a) = (new double[c.Length], new double[c.Length]);
        NaiveElementwise.Scale(x, alpha, e);
        FastElementwise.Scale<double>(x, alpha, a);
        Assert.Equal(e, a);
        NaiveElementwise.AddScalar(x, alpha, e);
        FastElementwise.AddScalar<double>(x, alpha, a);
        Assert.Equal(e, a);
        var ye = (double[])y.Clone();
        var ya = (double[])y.Clone();
        NaiveElementwise.Axpy(alpha, x, ye);
        FastElementwise.Axpy<double>(alpha, x, ya);
        Close.All(ye, ya, 1e-15, 1e-15, "axpy"); // the fast tier may fuse the multiply-add

        var xf = x.Select(v => (float)v).ToArray();
        var yf = y.Select(v => (float)v).ToArray();
        var expected = new double[c.Length];
        for (int i = 0; i < c.Length; i++) expected[i] = yf[i] + (double)(float)alpha * xf[i];
        FastElementwise.Axpy((float)alpha, xf, yf);
        Close.All(expected, yf, "axpy float32");
    }

    /// <summary>BroadcastRows against writing the row into every row one element at a time (rows 0, 1, powers of two and not).</summary>
    [Fact]
    public void Property_BroadcastRows_WritesTheRowIntoEveryRow()
    {
        foreach (int width in (int[])[1, 3, 8, 32, 33])
            foreach (int rows in (int[])[0, 1, 2, 3, 5, 8, 1023, 1024])
            {
                var row = Enumerable.Range(0, width).Select(j => 0.5 + j * 1.25).ToArray();
                var expected = new double[width * rows];
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < width; j++) expected[r * width + j] = row[j];
                var actual = Enumerable.Repeat(double.NaN, width * rows).ToArray();
                FastElementwise.BroadcastRows<double>(row, actual);
                Assert.Equal(expected, actual);
            }
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => FastElementwise.BroadcastRows<double>(new double[3], new double[7])).ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => FastElementwise.BroadcastRows<double>([], new double[1])).ParamName);
    }

    /// <summary>
    /// AddColumnSums against the scalar sums of each column in row order onto the given start values, bitwise (column counts
    /// around the 8- and 32-column blocks, no rows, one row, many rows), and its argument check.
    /// </summary>
    [Fact]
    public void Property_AddColumnSums_IsTheInOrderColumnSumBitwise()
    {
        var rng = new SplitMix64(12);
        foreach (int columns in (int[])[1, 7, 8, 9, 31, 32, 33, 40, 128, 130])
            foreach (int rows in (int[])[0, 1, 5, 1024])
            {
                var x = rng.NormalTensor<double>(0, 10, rows * columns).Data;
                var start = rng.NormalTensor<double>(0, 1e3, columns).Data;
                var expected = (double[])start.Clone();
                for (int j = 0; j < columns; j++)
                    for (int r = 0; r < rows; r++) expected[j] += x[r * columns + j];
                var actual = (double[])start.Clone();
                FastElementwise.AddColumnSums(x, actual);
                Assert.Equal(expected, actual);
            }
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => FastElementwise.AddColumnSums(new double[7], new double[3])).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => FastElementwise.AddColumnSums(new double[1], [])).ParamName);
    }

    [Fact]
    public void Edge_IncompatibleShapes_NameTheArgument()
    {
        var a = Tensor<double>.Zeros(2, 3);
        var b = Tensor<double>.Zeros(4);
        var e = Assert.Throws<ArgumentException>(() => NaiveElementwise.Add(a, b));
        Assert.Equal("b", e.ParamName);
        Assert.Contains("[2, 3]", e.Message);
        Assert.Contains("[4]", e.Message);
        Assert.Equal("b", Assert.Throws<ArgumentException>(() => FastElementwise.Multiply(a, b)).ParamName);
        Assert.Equal("b", Assert.Throws<ArgumentException>(() => FastElementwise.Add(Tensor<float>.Zeros(3, 4, 5), Tensor<float>.Zeros(2, 1))).ParamName);
    }

    [Fact]
    public void Edge_SpanLengthMismatch_NamesTheArgument()
    {
        var e = Assert.Throws<ArgumentException>(() => FastElementwise.Add<float>(new float[3], new float[4], new float[3]));
        Assert.Equal("b", e.ParamName);
        Assert.Contains("4", e.Message);
        Assert.Equal("result", Assert.Throws<ArgumentException>(() => NaiveElementwise.Exp(new double[3], new double[2])).ParamName);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => FastElementwise.Axpy<double>(1.0, new double[3], new double[2])).ParamName);
    }

    [Fact]
    public void Edge_BroadcastShapes_FollowNumPy()
    {
        Assert.Equal([4, 3, 5], FastElementwise.Add(Tensor<double>.Zeros(3, 1), Tensor<double>.Zeros(4, 1, 5)).ShapeArray);
        Assert.Equal([2, 0], FastElementwise.Add(Tensor<double>.Zeros(2, 1), Tensor<double>.Zeros(0)).ShapeArray);
        Assert.Equal(Array.Empty<int>(), NaiveElementwise.Add(Tensor<double>.Scalar(1), Tensor<double>.Scalar(2)).ShapeArray);
        var r = FastElementwise.Subtract(Tensor<double>.Scalar(10), Tensor<double>.FromSpan([1.0, 2.0, 3.0], 3));
        Assert.Equal([9.0, 8.0, 7.0], r.Data);
        var d = FastElementwise.Divide(Tensor<float>.FromSpan([1f, 2f], 2, 1), Tensor<float>.FromSpan([4f, 8f], 2));
        Assert.Equal([0.25f, 0.125f, 0.5f, 0.25f], d.Data);
    }

    [Fact]
    public void Edge_MaximumPropagatesNaN_AndOrdersSignedZeros()
    {
        double[] a = [double.NaN, 1.0, -0.0, 0.0];
        double[] b = [1.0, double.NaN, 0.0, -0.0];
        var naive = new double[4];
        var fast = new double[4];
        NaiveElementwise.Maximum(a, b, naive);
        FastElementwise.Maximum<double>(a, b, fast);
        foreach (var r in new[] { naive, fast })
        {
            Assert.True(double.IsNaN(r[0]) && double.IsNaN(r[1]));
            Assert.True(double.IsPositive(r[2]) && double.IsPositive(r[3]));
        }
        NaiveElementwise.Minimum(a, b, naive);
        FastElementwise.Minimum<double>(a, b, fast);
        foreach (var r in new[] { naive, fast })
            Assert.True(double.IsNegative(r[2]) && double.IsNegative(r[3]));
    }

    [Fact]
    public void Negative_ComparatorRejectsAPerturbedResult()
    {
        var rng = new SplitMix64(3);
        var a = rng.NormalTensor<float>(0, 1, 9, 17);
        var b = rng.NormalTensor<float>(0, 1, 17);
        var expected = NaiveElementwise.Add(a.Cast<double>(), b.Cast<double>());
        var actual = FastElementwise.Add(a, b);
        Close.All(expected.Data, actual.Data);
        var scaled = actual.Data.Select(v => v * 1.001f).ToArray();
        Assert.ThrowsAny<Exception>(() => Close.All(expected.Data, scaled));
        var wrongBroadcast = FastElementwise.Add(a, FastElementwise.Scale(b, 0f)); // drops b
        Assert.ThrowsAny<Exception>(() => Close.All(expected.Data, wrongBroadcast.Data));
    }

    private static Tensor<double> NaiveBinary(BinaryOp op, Tensor<double> a, Tensor<double> b) => op switch
    {
        BinaryOp.Add => NaiveElementwise.Add(a, b),
        BinaryOp.Subtract => NaiveElementwise.Subtract(a, b),
        BinaryOp.Multiply => NaiveElementwise.Multiply(a, b),
        BinaryOp.Divide => NaiveElementwise.Divide(a, b),
        BinaryOp.Maximum => NaiveElementwise.Maximum(a, b),
        _ => NaiveElementwise.Minimum(a, b),
    };

    private static Tensor<T> FastBinary<T>(BinaryOp op, Tensor<T> a, Tensor<T> b) where T : unmanaged, IFloatingPointIeee754<T> => op switch
    {
        BinaryOp.Add => FastElementwise.Add(a, b),
        BinaryOp.Subtract => FastElementwise.Subtract(a, b),
        BinaryOp.Multiply => FastElementwise.Multiply(a, b),
        BinaryOp.Divide => FastElementwise.Divide(a, b),
        BinaryOp.Maximum => FastElementwise.Maximum(a, b),
        _ => FastElementwise.Minimum(a, b),
    };

    private delegate void SpanMap<T>(ReadOnlySpan<T> x, Span<T> y);

    private static SpanMap<T> FastUnary<T>(UnaryOp op) where T : unmanaged, IFloatingPointIeee754<T> => op switch
    {
        UnaryOp.Negate => FastElementwise.Negate,
        UnaryOp.Abs => FastElementwise.Abs,
        UnaryOp.Exp => FastElementwise.Exp,
        UnaryOp.Log => FastElementwise.Log,
        UnaryOp.Sqrt => FastElementwise.Sqrt,
        UnaryOp.Square => FastElementwise.Square,
        _ => FastElementwise.Reciprocal,
    };

    private static SpanMap<double> NaiveUnary(UnaryOp op) => op switch
    {
        UnaryOp.Negate => NaiveElementwise.Negate,
        UnaryOp.Abs => NaiveElementwise.Abs,
        UnaryOp.Exp => NaiveElementwise.Exp,
        UnaryOp.Log => NaiveElementwise.Log,
        UnaryOp.Sqrt => NaiveElementwise.Sqrt,
        UnaryOp.Square => NaiveElementwise.Square,
        _ => NaiveElementwise.Reciprocal,
    };

    private static Func<Tensor<T>, Tensor<T>> FastUnaryTensor<T>(UnaryOp op) where T : unmanaged, IFloatingPointIeee754<T> => op switch
    {
        UnaryOp.Negate => FastElementwise.Negate,
        UnaryOp.Abs => FastElementwise.Abs,
        UnaryOp.Exp => FastElementwise.Exp,
        UnaryOp.Log => FastElementwise.Log,
        UnaryOp.Sqrt => FastElementwise.Sqrt,
        UnaryOp.Square => FastElementwise.Square,
        _ => FastElementwise.Reciprocal,
    };
}
