using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// NumPy broadcasting for the tape: expanding an operand to the broadcast shape (forward) and the
/// adjoint, summing a cotangent over the broadcast axes back to the operand's shape (backward).
/// Reduction order: the cotangent's elements are visited in row-major order and added into the
/// reduced element they map to (float64), so results do not depend on the tier.
/// </summary>
public static class Broadcasting
{
    /// <summary>A tensor of shape <paramref name="shape"/> reading <paramref name="t"/> broadcast (t itself when the shapes agree).</summary>
    public static Tensor<double> Expand(Tensor<double> t, ReadOnlySpan<int> shape)
    {
        if (t.Shape.SequenceEqual(shape)) return t;
        var result = TensorArena.Zeros(shape.ToArray());
        Shapes.GatherStrided<double>(t.Data, Shapes.BroadcastStrides(t.Shape, shape), shape, result.Data);
        return result;
    }

    /// <summary>
    /// Sums <paramref name="g"/> (broadcast shape) over the axes where <paramref name="shape"/> was
    /// broadcast: the VJP of <see cref="Expand"/>. Returns g itself when the shapes agree.
    /// </summary>
    public static Tensor<double> ReduceTo(Tensor<double> g, ReadOnlySpan<int> shape)
    {
        if (g.Shape.SequenceEqual(shape)) return g;
        var result = TensorArena.Zeros(shape.ToArray());
        var target = g.Shape;
        int rank = target.Length;
        if (g.Length == 0) return result;
        if (rank == 0) { result.Data[0] = g.Data[0]; return result; }
        var strides = Shapes.BroadcastStrides(shape, target);

        // Common case (bias of a linear layer): the reduced tensor is a suffix of the rows.
        int suffix = result.Length;
        if (IsTrailingBlock(shape, target))
        {
            for (int row = 0; row < g.Length; row += suffix)
                TensorPrimitives.Add(result.Data, g.Data.AsSpan(row, suffix), result.Data);
            return result;
        }

        Span<int> index = stackalloc int[rank];
        int dst = 0;
        for (int src = 0; src < g.Length; src++)
        {
            result.Data[dst] += g.Data[src];
            for (int a = rank - 1; a >= 0; a--)
            {
                index[a]++;
                dst += strides[a];
                if (index[a] < target[a]) break;
                dst -= strides[a] * target[a];
                index[a] = 0;
            }
        }
        return result;
    }

    /// <summary>True when <paramref name="shape"/> (after dropping leading 1s) equals the trailing axes of <paramref name="target"/>.</summary>
    private static bool IsTrailingBlock(ReadOnlySpan<int> shape, ReadOnlySpan<int> target)
    {
        int lead = 0;
        while (lead < shape.Length && shape[lead] == 1) lead++;
        var core = shape[lead..];
        return core.Length > 0 && core.SequenceEqual(target[(target.Length - core.Length)..]);
    }
}
