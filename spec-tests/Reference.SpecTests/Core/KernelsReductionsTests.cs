using System.Numerics;
using FsCheck.Xunit;
using MathNet.Numerics.Statistics;
using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.SpecTests.Core;

/// <summary>Reductions: Fast against Naive (whole spans and along axes), Naive against independent sums and MathNet.</summary>
[Trait("Category", "IsaParity")]
public class KernelsReductionsTests
{
    /// <summary>
    /// Bound on the difference of two summation orders of n terms in precision eps: each order errs
    /// by at most (number of sequential adds) eps sum|x|; TensorPrimitives runs about n/8 sequential
    /// adds per lane (plus the lane combination), the naive float64 loop is far below that.
    /// </summary>
    private static double SumTolerance<T>(int n, double sumAbs) => ((n / 8.0) + 16) * Eps<T>() * sumAbs + 1e-300;

    private static double Eps<T>() => typeof(T) == typeof(float) ? 1.2e-7 : 2.3e-16;

    [Property(Arbitrary = [typeof(VectorCase)])]
    public void Property_FastSpanFloat64_EqualsNaive(VectorCase c) => FastSpanEqualsNaive<double>(c);

    [Property(Arbitrary = [typeof(VectorCase)])]
    public void Property_FastSpanFloat32_EqualsNaive(VectorCase c) => FastSpanEqualsNaive<float>(c);

    private static void FastSpanEqualsNaive<T>(VectorCase c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var x = Close.Normal<T>(rng, c.Length, 0.5, 2);
        var w = Close.Normal<T>(rng, c.Length);
        var xd = Close.Widen<T>(x);
        var wd = Close.Widen<T>(w);
        int n = c.Length;
        double sumAbs = xd.Sum(Math.Abs);
        double tol = SumTolerance<T>(n, sumAbs);
        Assert.InRange(double.CreateTruncating(FastReductions.Sum<T>(x)) - NaiveReductions.Sum(xd), -tol, tol);
        Assert.InRange(double.CreateTruncating(FastReductions.Mean<T>(x)) - NaiveReductions.Mean(xd), -tol / n, tol / n);
        Assert.Equal(NaiveReductions.Max(xd), double.CreateTruncating(FastReductions.Max<T>(x)));
        Assert.Equal(NaiveReductions.Min(xd), double.CreateTruncating(FastReductions.Min<T>(x)));
        double dotTol = SumTolerance<T>(n, xd.Zip(wd, (a, b) => Math.Abs(a * b)).Sum());
        Assert.InRange(double.CreateTruncating(FastReductions.Dot<T>(x, w)) - NaiveReductions.Dot(xd, wd), -dotTol, dotTol);
        double rel = SumTolerance<T>(n, 1.0) * 4;
        double norm = NaiveReductions.L2Norm(xd);
        Assert.InRange(double.CreateTruncating(FastReductions.L2Norm<T>(x)), norm * (1 - rel), norm * (1 + rel));
        if (n > 1)
            foreach (int ddof in new[] { 0, 1 })
            {
                double v = NaiveReductions.Variance(xd, ddof);
                Assert.InRange(double.CreateTruncating(FastReductions.Variance<T>(x, ddof)), v * (1 - rel), v * (1 + rel));
            }
    }

    /// <summary>The naive sequential sum against Neumaier's compensated sum (an independent, more accurate order).</summary>
    [Property(Arbitrary = [typeof(VectorCase)])]
    public void Property_NaiveSum_MatchesCompensatedSum(VectorCase c)
    {
        var x = Close.Normal<double>(new SplitMix64((ulong)c.Seed), c.Length, 1, 3);
        double sum = 0, compensation = 0;
        foreach (double v in x)
        {
            double t = sum + v;
            compensation += Math.Abs(sum) >= Math.Abs(v) ? (sum - t) + v : (v - t) + sum;
            sum = t;
        }
        double tol = c.Length * 1.2e-16 * x.Sum(Math.Abs);
        Assert.InRange(NaiveReductions.Sum(x) - (sum + compensation), -tol, tol);
        double dot = NaiveReductions.Dot(x, x);
        Assert.Equal(Math.Sqrt(dot), NaiveReductions.L2Norm(x), 1e-12 * Math.Sqrt(dot));
    }

    [Property(Arbitrary = [typeof(VectorCase)])]
    public void Property_NaiveMeanVariance_MatchMathNet(VectorCase c)
    {
        var x = Close.Normal<double>(new SplitMix64((ulong)c.Seed), c.Length, 3, 2);
        Assert.Equal(Statistics.Mean(x), NaiveReductions.Mean(x), 1e-12 * (1 + Math.Abs(Statistics.Mean(x))));
        double pop = Statistics.PopulationVariance(x);
        Assert.Equal(pop, NaiveReductions.Variance(x), 1e-12 * (1 + pop));
        Assert.Equal(Statistics.Maximum(x), NaiveReductions.Max(x));
        Assert.Equal(Statistics.Minimum(x), NaiveReductions.Min(x));
        if (c.Length > 1)
        {
            double sample = Statistics.Variance(x);
            Assert.Equal(sample, NaiveReductions.Variance(x, ddof: 1), 1e-12 * (1 + sample));
        }
    }

    [Property(Arbitrary = [typeof(AxisCase)])]
    public void Property_FastAxisFloat64_EqualsNaive(AxisCase c) => FastAxisEqualsNaive<double>(c);

    [Property(Arbitrary = [typeof(AxisCase)])]
    public void Property_FastAxisFloat32_EqualsNaive(AxisCase c) => FastAxisEqualsNaive<float>(c);

    private static void FastAxisEqualsNaive<T>(AxisCase c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = new SplitMix64((ulong)c.Seed).NormalTensor<T>(0.5, 2, c.Shape);
        var xd = x.Cast<double>();
        int n = c.Shape[c.Axis < 0 ? c.Axis + c.Shape.Length : c.Axis];
        double rtol = SumTolerance<T>(n, 1.0) * 4;
        // Sums along an axis scale with sum |x| of the line: compare against the naive sum of |x| along the same axis.
        var sumAbs = NaiveReductions.Sum(NaiveElementwise.Abs(xd), c.Axis, c.KeepDims);
        Check(NaiveReductions.Sum(xd, c.Axis, c.KeepDims), FastReductions.Sum(x, c.Axis, c.KeepDims), sumAbs, rtol);
        Check(NaiveReductions.Mean(xd, c.Axis, c.KeepDims), FastReductions.Mean(x, c.Axis, c.KeepDims), NaiveElementwise.Scale(sumAbs, 1.0 / n), rtol);
        Check(NaiveReductions.Max(xd, c.Axis, c.KeepDims), FastReductions.Max(x, c.Axis, c.KeepDims), null, 0);
        Check(NaiveReductions.Min(xd, c.Axis, c.KeepDims), FastReductions.Min(x, c.Axis, c.KeepDims), null, 0);
        var norm = NaiveReductions.L2Norm(xd, c.Axis, c.KeepDims);
        Check(norm, FastReductions.L2Norm(x, c.Axis, c.KeepDims), norm, rtol);
        var variance = NaiveReductions.Variance(xd, c.Axis, c.KeepDims);
        Check(variance, FastReductions.Variance(x, c.Axis, c.KeepDims), variance, rtol);
    }

    private static void Check<T>(Tensor<double> expected, Tensor<T> actual, Tensor<double>? scale, double rtol) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.Equal(expected.ShapeArray, actual.ShapeArray);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected.Data[i], a = double.CreateTruncating(actual.Data[i]);
            double tol = scale is null ? 0 : rtol * scale.Data[i] + 1e-300;
            Assert.True(Math.Abs(e - a) <= tol || (double.IsNaN(e) && double.IsNaN(a)), $"element {i}: expected {e:R}, actual {a:R}, tol {tol:E2}");
        }
    }

    /// <summary>Axis reduction against an independent route: move the axis last (Permute) and reduce contiguous rows.</summary>
    [Property(Arbitrary = [typeof(AxisCase)])]
    public void Property_NaiveAxisReduction_MatchesPermutedRows(AxisCase c)
    {
        var x = new SplitMix64((ulong)c.Seed).NormalTensor<double>(0, 1, c.Shape);
        int rank = c.Shape.Length, axis = c.Axis < 0 ? c.Axis + rank : c.Axis;
        int[] perm = [.. Enumerable.Range(0, rank).Where(d => d != axis), axis];
        var moved = x.Permute(perm);
        int n = c.Shape[axis];
        var sum = NaiveReductions.Sum(x, c.Axis, c.KeepDims);
        var max = NaiveReductions.Max(x, c.Axis, c.KeepDims);
        int[] expectedShape = [.. c.Shape.Select((d, i) => i == axis ? (c.KeepDims ? 1 : -1) : d).Where(d => d >= 0)];
        Assert.Equal(expectedShape, sum.ShapeArray);
        for (int row = 0; row < sum.Length; row++)
        {
            var line = moved.Data.AsSpan(row * n, n);
            double s = 0;
            foreach (double v in line) s += v;
            Assert.Equal(s, sum.Data[row]);
            Assert.Equal(line.ToArray().Max(), max.Data[row]);
        }
    }

    [Fact]
    public void Edge_EmptyInputs_FollowNumPy()
    {
        Assert.Equal(0.0, NaiveReductions.Sum([]));
        Assert.Equal(0f, FastReductions.Sum<float>([]));
        Assert.True(double.IsNaN(NaiveReductions.Mean([])));
        Assert.True(float.IsNaN(FastReductions.Mean<float>([])));
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => NaiveReductions.Max([])).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => FastReductions.Min<double>([])).ParamName);
        var empty = Tensor<double>.Zeros(3, 0, 2);
        Assert.Equal(new double[6], NaiveReductions.Sum(empty, 1).Data);
        Assert.Equal(new double[6], FastReductions.Sum(empty, 1).Data);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => FastReductions.Max(empty, 1)).ParamName);
        Assert.Equal("axis", Assert.Throws<ArgumentOutOfRangeException>(() => FastReductions.Sum(empty, 3)).ParamName);
        Assert.Equal("ddof", Assert.Throws<ArgumentOutOfRangeException>(() => NaiveReductions.Variance([1.0], -1)).ParamName);
    }

    [Fact]
    public void Edge_MaxPropagatesNaN()
    {
        double[] x = [1, double.NaN, 3];
        Assert.True(double.IsNaN(NaiveReductions.Max(x)));
        Assert.True(double.IsNaN(FastReductions.Max<double>(x)));
        Assert.True(double.IsNaN(FastReductions.Max(Tensor<double>.FromSpan(x, 3, 1), 0).Data[0]));
    }

    /// <summary>
    /// Variance cancellation: 1e9 + {0, 1, 2, 3} has variance exactly 1.25. The two-pass form gets it
    /// exactly; the one-pass E[x^2] - E[x]^2 subtracts two numbers near 1e18 whose spacing is 128.
    /// </summary>
    [Fact]
    public void Negative_OnePassVarianceCancels_TwoPassDoesNot()
    {
        double[] x = [1e9, 1e9 + 1, 1e9 + 2, 1e9 + 3];
        Assert.Equal(1.25, NaiveReductions.Variance(x));
        Assert.Equal(1.25, FastReductions.Variance<double>(x));
        Assert.Equal(1.25, FastReductions.Variance(Tensor<double>.FromSpan(x, 4, 1), 0).Data[0]);
        double onePass = x.Select(v => v * v).Average() - x.Average() * x.Average();
        Assert.True(Math.Abs(onePass - 1.25) > 0.1, $"one-pass gave {onePass}");
    }

    [Fact]
    public void Negative_ToleranceRejectsADroppedElement()
    {
        var x = Close.Normal<float>(new SplitMix64(5), 4099, 0.5, 2);
        double tol = SumTolerance<float>(x.Length, x.Sum(v => Math.Abs((double)v)));
        double full = NaiveReductions.Sum(Close.Widen<float>(x));
        var dropped = (float[])x.Clone();
        int largest = Array.IndexOf(x, x.MaxBy(Math.Abs));
        dropped[largest] = 0f;
        Assert.True(Math.Abs(full - FastReductions.Sum<float>(dropped)) > tol, "a missing term must exceed the tolerance");
        Assert.True(Math.Abs(full - FastReductions.Sum<float>(x)) <= tol);
    }
}
