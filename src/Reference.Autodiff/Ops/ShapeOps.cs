using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Shape primitives. Each is a linear map whose VJP is its adjoint: reshape -> reshape back,
/// permute(p) -> permute(p^-1), slice -> zero-padded placement, concat -> slices.
/// </summary>
public static partial class Ops
{
    /// <summary>Same elements, new shape (one axis may be -1). The value shares the input's buffer.</summary>
    public static Variable Reshape(Variable x, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = x.Value.Reshape(shape);
        var inShape = x.Value.ShapeArray;
        return Function.Apply("reshape", [x], y, g => [g.Reshape(inShape)]);
    }

    /// <summary>result.Shape[i] = x.Shape[perm[i]] (NumPy transpose with axes).</summary>
    public static Variable Permute(Variable x, params int[] perm)
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = x.Value.Permute(perm);
        var inverse = new int[perm.Length];
        for (int i = 0; i < perm.Length; i++) inverse[perm[i]] = i;
        return Function.Apply("permute", [x], y, g => [g.Permute(inverse)]);
    }

    /// <summary>Swaps the last two axes (copy).</summary>
    public static Variable Transpose(Variable x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank < 2) throw new ArgumentException($"x has rank {x.Rank}, expected rank >= 2.", nameof(x));
        var perm = Enumerable.Range(0, x.Rank).ToArray();
        (perm[^1], perm[^2]) = (perm[^2], perm[^1]);
        return Permute(x, perm);
    }

    /// <summary>Indices [start, start + length) along <paramref name="axis"/>.</summary>
    public static Variable Slice(Variable x, int axis, int start, int length)
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = x.Value.Slice(axis, start, length);
        axis = Shapes.NormalizeAxis(axis, x.Rank, nameof(axis));
        var inShape = x.Value.ShapeArray;
        return Function.Apply("slice", [x], y, g =>
        {
            var gx = TensorArena.Zeros(inShape);
            var (outer, inner) = OuterInner(inShape, axis);
            for (int o = 0; o < outer; o++)
                g.Data.AsSpan(o * length * inner, length * inner)
                    .CopyTo(gx.Data.AsSpan((o * inShape[axis] + start) * inner));
            return [gx];
        });
    }

    /// <summary>Joins tensors along <paramref name="axis"/>; all other axes must agree.</summary>
    public static Variable Concat(Variable[] xs, int axis)
    {
        ArgumentNullException.ThrowIfNull(xs);
        if (xs.Length == 0) throw new ArgumentException("xs is empty, expected at least one tensor.", nameof(xs));
        int rank = xs[0].Rank;
        axis = Shapes.NormalizeAxis(axis, rank, nameof(axis));
        var outShape = xs[0].Value.ShapeArray;
        outShape[axis] = 0;
        for (int t = 0; t < xs.Length; t++)
        {
            var s = xs[t].Shape;
            bool ok = s.Length == rank;
            for (int a = 0; ok && a < rank; a++) ok = a == axis || s[a] == outShape[a];
            if (!ok)
                throw new ArgumentException($"xs[{t}] has shape {Shapes.Format(s)}, expected {Shapes.Format(xs[0].Shape)} except on axis {axis}.", nameof(xs));
            outShape[axis] += s[axis];
        }
        var y = TensorArena.Zeros(outShape);
        var (outer, inner) = OuterInner(outShape, axis);
        int offset = 0;
        var starts = new int[xs.Length];
        for (int t = 0; t < xs.Length; t++)
        {
            starts[t] = offset;
            int len = xs[t].Shape[axis];
            for (int o = 0; o < outer; o++)
                xs[t].Value.Data.AsSpan(o * len * inner, len * inner).CopyTo(y.Data.AsSpan((o * outShape[axis] + offset) * inner));
            offset += len;
        }
        return Function.Apply("concat", xs, y, g =>
        {
            var grads = new Tensor<double>?[xs.Length];
            for (int t = 0; t < xs.Length; t++)
                if (xs[t].RequiresGrad) grads[t] = g.Slice(axis, starts[t], xs[t].Shape[axis]);
            return grads;
        });
    }

    /// <summary>Products of the dimensions before and after <paramref name="axis"/>.</summary>
    internal static (int Outer, int Inner) OuterInner(ReadOnlySpan<int> shape, int axis)
    {
        int outer = 1, inner = 1;
        for (int a = 0; a < axis; a++) outer *= shape[a];
        for (int a = axis + 1; a < shape.Length; a++) inner *= shape[a];
        return (outer, inner);
    }
}
