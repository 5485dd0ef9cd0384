namespace Reference.Core.Kernels;

/// <summary>
/// Naive tier of the reductions (the definition). Accumulation order: one float64 accumulator,
/// elements added in increasing index order (along an axis: increasing position on that axis),
/// no pairwise or blocked summation, so the rounding error of a sum of n terms is bounded by
/// (n - 1) eps sum |x_i| (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., eq. 4.4).
/// <para>
/// Variance is two-pass (mean first, then the sum of squared deviations): the one-pass formula
/// E[x^2] - E[x]^2 subtracts two nearly equal numbers when |mean| &gt;&gt; std (catastrophic
/// cancellation, Chan, Golub and LeVeque, The American Statistician 37(3), 1983); the two-pass
/// form has no such cancellation. ddof = 0 is the biased (population) variance, NumPy's default;
/// ddof = 1 the unbiased one.
/// </para>
/// <para>
/// Empty input: Sum 0, Dot 0, L2Norm 0, Mean and Variance NaN (0/0, as NumPy), Max/Min throw (no
/// identity). NaN propagates through Max/Min (numpy.max semantics).
/// L2Norm is sqrt(sum x^2) without rescaling: it overflows for |x| beyond about 1e154 (documented
/// simplification; BLAS nrm2 rescales).
/// </para>
/// Axis reductions: x of shape [..., n, ...] reduced along axis gives [..., ...] (or [..., 1, ...]
/// with keepDims).
/// </summary>
public static class NaiveReductions
{
    public static double Sum(ReadOnlySpan<double> x)
    {
        double acc = 0.0;
        for (int i = 0; i < x.Length; i++) acc += x[i];
        return acc;
    }

    public static double Mean(ReadOnlySpan<double> x) => Sum(x) / x.Length;

    public static double Max(ReadOnlySpan<double> x)
    {
        ReductionChecks.NonEmpty(x.Length, nameof(x), "Max");
        double acc = x[0];
        for (int i = 1; i < x.Length; i++) acc = Math.Max(acc, x[i]);
        return acc;
    }

    public static double Min(ReadOnlySpan<double> x)
    {
        ReductionChecks.NonEmpty(x.Length, nameof(x), "Min");
        double acc = x[0];
        for (int i = 1; i < x.Length; i++) acc = Math.Min(acc, x[i]);
        return acc;
    }

    /// <summary>Two-pass variance: sum_i (x_i - mean)^2 / (n - ddof).</summary>
    public static double Variance(ReadOnlySpan<double> x, int ddof = 0)
    {
        ReductionChecks.Ddof(ddof);
        double mean = Mean(x);
        double acc = 0.0;
        for (int i = 0; i < x.Length; i++)
        {
            double d = x[i] - mean;
            acc += d * d;
        }
        return acc / (x.Length - ddof);
    }

    public static double L2Norm(ReadOnlySpan<double> x)
    {
        double acc = 0.0;
        for (int i = 0; i < x.Length; i++) acc += x[i] * x[i];
        return Math.Sqrt(acc);
    }

    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        ElementwiseChecks.SameLength(a.Length, b.Length, nameof(b));
        double acc = 0.0;
        for (int i = 0; i < a.Length; i++) acc += a[i] * b[i];
        return acc;
    }

    public static Tensor<double> Sum(Tensor<double> x, int axis, bool keepDims = false) => AlongAxis(x, axis, keepDims, Sum);
    public static Tensor<double> Mean(Tensor<double> x, int axis, bool keepDims = false) => AlongAxis(x, axis, keepDims, Mean);
    public static Tensor<double> Max(Tensor<double> x, int axis, bool keepDims = false) => AlongAxis(x, axis, keepDims, Max);
    public static Tensor<double> Min(Tensor<double> x, int axis, bool keepDims = false) => AlongAxis(x, axis, keepDims, Min);
    public static Tensor<double> L2Norm(Tensor<double> x, int axis, bool keepDims = false) => AlongAxis(x, axis, keepDims, L2Norm);

    public static Tensor<double> Variance(Tensor<double> x, int axis, bool keepDims = false, int ddof = 0)
    {
        ReductionChecks.Ddof(ddof);
        return AlongAxis(x, axis, keepDims, line => Variance(line, ddof));
    }

    private delegate double LineReduction(ReadOnlySpan<double> line);

    /// <summary>Copies each line along the axis (x[o, :, i]) into a buffer and reduces it with the span definition.</summary>
    private static Tensor<double> AlongAxis(Tensor<double> x, int axis, bool keepDims, LineReduction reduce)
    {
        ArgumentNullException.ThrowIfNull(x);
        var (outer, n, inner, a) = AxisSplit.Of(x.Shape, axis);
        var result = Tensor<double>.Zeros(AxisSplit.ReducedShape(x.Shape, a, keepDims));
        var line = new double[n];
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                for (int k = 0; k < n; k++) line[k] = x.Data[(o * n + k) * inner + i];
                result.Data[o * inner + i] = reduce(line);
            }
        return result;
    }
}

/// <summary>x viewed as [outer, n, inner] around one axis.</summary>
internal static class AxisSplit
{
    public static (int Outer, int N, int Inner, int Axis) Of(ReadOnlySpan<int> shape, int axis)
    {
        int a = Shapes.NormalizeAxis(axis, shape.Length, nameof(axis));
        int outer = 1, inner = 1;
        for (int d = 0; d < a; d++) outer *= shape[d];
        for (int d = a + 1; d < shape.Length; d++) inner *= shape[d];
        return (outer, shape[a], inner, a);
    }

    public static int[] ReducedShape(ReadOnlySpan<int> shape, int axis, bool keepDims)
    {
        var result = new List<int>(shape.Length);
        for (int d = 0; d < shape.Length; d++)
        {
            if (d != axis) result.Add(shape[d]);
            else if (keepDims) result.Add(1);
        }
        return [.. result];
    }
}

internal static class ReductionChecks
{
    public static void NonEmpty(int length, string argument, string what)
    {
        if (length == 0)
            throw new ArgumentException($"{what} of an empty {argument} is undefined (expected at least 1 element, got 0).", argument);
    }

    public static void Ddof(int ddof)
    {
        if (ddof < 0)
            throw new ArgumentOutOfRangeException(nameof(ddof), $"ddof = {ddof} must be >= 0.");
    }
}
