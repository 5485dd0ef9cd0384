using System.Numerics;

namespace Reference.Core;

/// <summary>
/// The project's dense tensor: a contiguous row-major buffer plus a shape. Element type is float
/// (the fast path) or double (the oracle's precision). There are no strides: every tensor owns a
/// C-ordered buffer, views are only made by <see cref="Reshape"/> (which shares the buffer); slicing
/// and transposition copy. That keeps every kernel a loop over a flat span.
/// </summary>
public sealed class Tensor<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int[] shape;

    /// <summary>Wraps <paramref name="data"/> (not copied) as a tensor of the given shape.</summary>
    public Tensor(T[] data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        long count = Shapes.ElementCount(shape, nameof(shape));
        if (count != data.Length)
            throw new ArgumentException(
                $"data has {data.Length} elements but shape {Shapes.Format(shape)} needs {count}.", nameof(data));
        Data = data;
        this.shape = (int[])shape.Clone();
    }

    /// <summary>The row-major element buffer (length = product of the shape).</summary>
    public T[] Data { get; }

    /// <summary>A copy-free view of the shape.</summary>
    public ReadOnlySpan<int> Shape => shape;

    /// <summary>The shape as a new array (for APIs that need one).</summary>
    public int[] ShapeArray => (int[])shape.Clone();

    public int Rank => shape.Length;

    public int Length => Data.Length;

    public Span<T> Span => Data;

    /// <summary>Size of dimension <paramref name="axis"/>; negative axes count from the end.</summary>
    public int Dim(int axis) => shape[Shapes.NormalizeAxis(axis, Rank, nameof(axis))];

    public static Tensor<T> Zeros(params int[] shape) =>
        new(new T[Shapes.ElementCount(shape, nameof(shape))], shape);

    public static Tensor<T> Full(T value, params int[] shape)
    {
        var t = Zeros(shape);
        Array.Fill(t.Data, value);
        return t;
    }

    /// <summary>A scalar (rank 0) tensor.</summary>
    public static Tensor<T> Scalar(T value) => new([value]);

    /// <summary>Copies <paramref name="values"/> into a new tensor of the given shape.</summary>
    public static Tensor<T> FromSpan(ReadOnlySpan<T> values, params int[] shape) => new(values.ToArray(), shape);

    /// <summary>Row-major strides (in elements) of the shape.</summary>
    public int[] Strides() => Shapes.Strides(shape);

    /// <summary>Element access by full index (bounds checked per axis).</summary>
    public T this[params int[] index]
    {
        get => Data[Offset(index)];
        set => Data[Offset(index)] = value;
    }

    private int Offset(int[] index)
    {
        if (index.Length != Rank)
            throw new ArgumentException($"index has {index.Length} components but the tensor has rank {Rank}.", nameof(index));
        int offset = 0;
        for (int a = 0; a < Rank; a++)
        {
            if ((uint)index[a] >= (uint)shape[a])
                throw new IndexOutOfRangeException($"index[{a}] = {index[a]} is outside [0, {shape[a]}).");
            offset = offset * shape[a] + index[a];
        }
        return offset;
    }

    /// <summary>
    /// A view with a new shape over the same buffer (one dimension may be -1 and is inferred).
    /// </summary>
    public Tensor<T> Reshape(params int[] newShape)
    {
        ArgumentNullException.ThrowIfNull(newShape);
        var resolved = (int[])newShape.Clone();
        int infer = -1;
        long known = 1;
        for (int a = 0; a < resolved.Length; a++)
        {
            if (resolved[a] == -1)
            {
                if (infer >= 0) throw new ArgumentException("at most one dimension of newShape may be -1.", nameof(newShape));
                infer = a;
            }
            else if (resolved[a] < 0)
                throw new ArgumentException($"newShape[{a}] = {resolved[a]} must be >= 0 or -1.", nameof(newShape));
            else known *= resolved[a];
        }
        if (infer >= 0)
        {
            if (known == 0 || Length % known != 0)
                throw new ArgumentException($"cannot infer -1 in {Shapes.Format(newShape)} for {Length} elements.", nameof(newShape));
            resolved[infer] = (int)(Length / known);
        }
        else if (known != Length)
            throw new ArgumentException($"newShape {Shapes.Format(newShape)} has {known} elements, expected {Length}.", nameof(newShape));
        return new Tensor<T>(Data, resolved);
    }

    /// <summary>A copy with the axes permuted: result.Shape[i] = Shape[perm[i]] (NumPy's transpose).</summary>
    public Tensor<T> Permute(params int[] perm)
    {
        Shapes.CheckPermutation(perm, Rank, nameof(perm));
        var outShape = new int[Rank];
        for (int i = 0; i < Rank; i++) outShape[i] = shape[perm[i]];
        var result = Zeros(outShape);
        var inStrides = Strides();
        var strideOfOut = new int[Rank];
        for (int i = 0; i < Rank; i++) strideOfOut[i] = inStrides[perm[i]];
        Shapes.GatherStrided(Data, strideOfOut, outShape, result.Data);
        return result;
    }

    /// <summary>A copy with the last two axes swapped (matrix transpose, batched over leading axes).</summary>
    public Tensor<T> Transpose()
    {
        if (Rank < 2) throw new InvalidOperationException($"Transpose needs rank >= 2, the tensor has rank {Rank}.");
        var perm = Enumerable.Range(0, Rank).ToArray();
        (perm[^1], perm[^2]) = (perm[^2], perm[^1]);
        return Permute(perm);
    }

    /// <summary>A copy of indices [start, start + length) along <paramref name="axis"/>.</summary>
    public Tensor<T> Slice(int axis, int start, int length)
    {
        axis = Shapes.NormalizeAxis(axis, Rank, nameof(axis));
        if (start < 0 || length < 0 || start + length > shape[axis])
            throw new ArgumentOutOfRangeException(nameof(start),
                $"slice [{start}, {start + length}) is outside [0, {shape[axis]}) on axis {axis}.");
        var outShape = ShapeArray;
        outShape[axis] = length;
        var result = Zeros(outShape);
        int outer = 1, inner = 1;
        for (int a = 0; a < axis; a++) outer *= shape[a];
        for (int a = axis + 1; a < Rank; a++) inner *= shape[a];
        for (int o = 0; o < outer; o++)
            Data.AsSpan((o * shape[axis] + start) * inner, length * inner)
                .CopyTo(result.Data.AsSpan(o * length * inner, length * inner));
        return result;
    }

    /// <summary>A copy that owns its buffer.</summary>
    public Tensor<T> Clone() => new((T[])Data.Clone(), shape);

    /// <summary>Converts element type (double -> float rounds to nearest).</summary>
    public Tensor<TOut> Cast<TOut>() where TOut : unmanaged, IFloatingPointIeee754<TOut>
    {
        var result = new TOut[Length];
        for (int i = 0; i < Length; i++) result[i] = TOut.CreateTruncating(Data[i]);
        return new Tensor<TOut>(result, shape);
    }

    public override string ToString() => $"Tensor<{typeof(T).Name}>{Shapes.Format(shape)}";
}
