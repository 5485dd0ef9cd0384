using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using Reference.Core;

namespace Reference.SpecTests.Core;

/// <summary>A flat vector of Length elements drawn from SplitMix64(Seed).</summary>
public sealed record VectorCase(int Length, int Seed)
{
    public static Arbitrary<VectorCase> Arbitrary() =>
        (from n in Gen.Elements([.. Cases.EdgeSizes, 127, 255, 257, 1000, 4099])
         from seed in Cases.Seed
         select new VectorCase(n, seed)).ToArbitrary();
}

/// <summary>An [Rows x Cols] matrix from SplitMix64(Seed), for the row-wise kernels.</summary>
public sealed record RowsCase(int Rows, int Cols, int Seed)
{
    public static Arbitrary<RowsCase> Arbitrary() =>
        (from rows in Gen.Elements(1, 2, 3, 7, 8, 9)
         from cols in Gen.Elements([.. Cases.EdgeSizes, 127, 257])
         from seed in Cases.Seed
         select new RowsCase(rows, cols, seed)).ToArbitrary();
}

/// <summary>
/// Two shapes that broadcast (NumPy rules): a result shape of rank 0-4 is drawn, then each operand
/// independently drops some leading axes and sets some axes to 1. Equal shapes, scalars and row
/// vectors come out of the same generator with a boosted probability.
/// </summary>
public sealed record BroadcastCase(int[] ShapeA, int[] ShapeB, int Seed)
{
    public static Arbitrary<BroadcastCase> Arbitrary() =>
        (from rank in Gen.Choose(0, 4)
         from dims in Gen.ArrayOf(Gen.Elements(1, 2, 3, 7, 8, 9, 16, 17), rank)
         from kind in Gen.Choose(0, 4)
         from maskA in Gen.ArrayOf(Gen.Choose(0, 2), rank)
         from maskB in Gen.ArrayOf(Gen.Choose(0, 2), rank)
         from dropA in Gen.Choose(0, rank)
         from dropB in Gen.Choose(0, rank)
         from seed in Cases.Seed
         select Make(dims, kind, maskA, maskB, dropA, dropB, seed)).ToArbitrary();

    private static BroadcastCase Make(int[] dims, int kind, int[] maskA, int[] maskB, int dropA, int dropB, int seed)
    {
        int[] Operand(int[] mask, int drop) =>
            [.. dims.Select((d, i) => mask[i] == 0 ? 1 : d).Skip(drop)];
        return kind switch
        {
            0 => new BroadcastCase(dims, (int[])dims.Clone(), seed),                       // equal shapes
            1 => new BroadcastCase(dims, [], seed),                                         // b scalar
            2 => new BroadcastCase([1], dims, seed),                                        // a one element
            3 => new BroadcastCase(dims, dims.Length == 0 ? [] : [dims[^1]], seed),        // row vector
            _ => new BroadcastCase(Operand(maskA, dropA), Operand(maskB, dropB), seed),
        };
    }

    public override string ToString() => $"BroadcastCase({Shapes.Format(ShapeA)}, {Shapes.Format(ShapeB)}, {Seed})";
}

/// <summary>A tensor shape and one axis to reduce along.</summary>
public sealed record AxisCase(int[] Shape, int Axis, bool KeepDims, int Seed)
{
    public static Arbitrary<AxisCase> Arbitrary() =>
        (from rank in Gen.Choose(1, 4)
         from dims in Gen.ArrayOf(Gen.Elements(1, 2, 3, 7, 8, 9, 16, 17, 33), rank)
         from axis in Gen.Choose(-rank, rank - 1)
         from keep in ArbMap.Default.GeneratorFor<bool>()
         from seed in Cases.Seed
         select new AxisCase(dims, axis, keep, seed)).ToArbitrary();

    public override string ToString() => $"AxisCase({Shapes.Format(Shape)}, axis {Axis}, keepDims {KeepDims}, {Seed})";
}

/// <summary>Comparisons with a tolerance per element type (PyTorch allclose defaults for float32).</summary>
public static class Close
{
    /// <summary>
    /// (rtol, atol) for a Fast result in precision T against the float64 naive definition: PyTorch's
    /// allclose defaults for float32; for float64 a few hundred ulp, which leaves room for
    /// TensorPrimitives' vectorized exp/tanh (1-2 ulp) amplified by the conditioning of composite
    /// formulas such as GELU-tanh's derivative near tanh = -1.
    /// </summary>
    public static (double Rtol, double Atol) Tolerance<T>() =>
        typeof(T) == typeof(float) ? (1.3e-6, 1e-5) : (1e-13, 1e-13);

    /// <summary>|expected - actual| &lt;= atol + rtol |expected| element by element (NaN must match NaN).</summary>
    public static void All<T>(ReadOnlySpan<double> expected, ReadOnlySpan<T> actual, double rtol, double atol, string what = "")
        where T : INumberBase<T>
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = double.CreateTruncating(actual[i]);
            if (double.IsNaN(e) && double.IsNaN(a)) continue;
            if (e == a) continue;
            Assert.True(Math.Abs(e - a) <= atol + rtol * Math.Abs(e),
                $"{what} element {i}: expected {e:R}, actual {a:R}, |diff| {Math.Abs(e - a):E3} > {atol} + {rtol} * |expected|");
        }
    }

    public static void All<T>(ReadOnlySpan<double> expected, ReadOnlySpan<T> actual, string what = "") where T : INumberBase<T>
    {
        var (rtol, atol) = Tolerance<T>();
        All(expected, actual, rtol, atol, what);
    }

    /// <summary>Widens any float/double buffer to float64.</summary>
    public static double[] Widen<T>(ReadOnlySpan<T> x) where T : INumberBase<T>
    {
        var r = new double[x.Length];
        for (int i = 0; i < x.Length; i++) r[i] = double.CreateTruncating(x[i]);
        return r;
    }

    /// <summary>Values drawn in float64 and rounded to T, so Naive and Fast see the same inputs.</summary>
    public static T[] Normal<T>(SplitMix64 rng, int n, double mean = 0, double std = 1) where T : INumberBase<T>
    {
        var r = new T[n];
        rng.FillNormal<T>(r, mean, std);
        return r;
    }
}
