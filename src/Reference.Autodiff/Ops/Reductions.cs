using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Sums and means. Accumulation order: sequential float64 in row-major order of the input (for an
/// axis reduction, over the reduced index k = 0, 1, ... for each output element). VJP: the
/// cotangent is broadcast back over the reduced axis (times 1/n for the mean).
/// </summary>
public static partial class Ops
{
    /// <summary>Sum of every element: [...] -> [] (rank 0).</summary>
    public static Variable Sum(Variable x)
    {
        ArgumentNullException.ThrowIfNull(x);
        double s = 0.0;
        foreach (double v in x.Value.Data) s += v;
        var inShape = x.Value.ShapeArray;
        return Function.Apply("sum", [x], Tensor<double>.Scalar(s), g => [Tensor<double>.Full(g.Data[0], inShape)]);
    }

    /// <summary>Mean of every element: [...] -> [].</summary>
    public static Variable Mean(Variable x) => MulScalar(Sum(x), 1.0 / Math.Max(1, x.Length));

    /// <summary>Sum over <paramref name="axis"/>; the axis is kept with size 1 when <paramref name="keepDim"/>.</summary>
    public static Variable Sum(Variable x, int axis, bool keepDim = false)
    {
        ArgumentNullException.ThrowIfNull(x);
        axis = Shapes.NormalizeAxis(axis, x.Rank, nameof(axis));
        var inShape = x.Value.ShapeArray;
        int n = inShape[axis];
        var (outer, inner) = OuterInner(inShape, axis);
        var y = TensorArena.Zeros(ReducedShape(inShape, axis, keepDim));
        for (int o = 0; o < outer; o++)
        {
            var acc = y.Data.AsSpan(o * inner, inner);
            for (int k = 0; k < n; k++)
                TensorPrimitives.Add(acc, x.Value.Data.AsSpan((o * n + k) * inner, inner), acc);
        }
        return Function.Apply("sum_axis", [x], y, g =>
        {
            var gx = TensorArena.Zeros(inShape);
            for (int o = 0; o < outer; o++)
                for (int k = 0; k < n; k++)
                    g.Data.AsSpan(o * inner, inner).CopyTo(gx.Data.AsSpan((o * n + k) * inner, inner));
            return [gx];
        });
    }

    /// <summary>Mean over <paramref name="axis"/>.</summary>
    public static Variable Mean(Variable x, int axis, bool keepDim = false)
    {
        ArgumentNullException.ThrowIfNull(x);
        int n = x.Shape[Shapes.NormalizeAxis(axis, x.Rank, nameof(axis))];
        return MulScalar(Sum(x, axis, keepDim), 1.0 / Math.Max(1, n));
    }

    internal static int[] ReducedShape(int[] shape, int axis, bool keepDim)
    {
        if (keepDim)
        {
            var kept = (int[])shape.Clone();
            kept[axis] = 1;
            return kept;
        }
        return [.. shape[..axis], .. shape[(axis + 1)..]];
    }
}
