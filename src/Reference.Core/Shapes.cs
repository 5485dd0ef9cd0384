using System.Numerics;

namespace Reference.Core;

/// <summary>Shape arithmetic shared by every kernel: element counts, strides, NumPy broadcasting.</summary>
public static class Shapes
{
    /// <summary>Largest element count a tensor may hold (int-indexed buffers).</summary>
    public const long MaxElements = int.MaxValue;

    public static string Format(ReadOnlySpan<int> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    /// <summary>
    /// The argument check of every operator: <paramref name="t"/> is not null and has exactly the shape
    /// <paramref name="expected"/>; otherwise throws naming the argument, the expected and the actual shape.
    /// </summary>
    public static void Same<T>(Tensor<T>? t, ReadOnlySpan<int> expected, string argument) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(t, argument);
        if (!t.Shape.SequenceEqual(expected))
            throw new ArgumentException($"{argument} must have shape {Format(expected)}, got {Format(t.Shape)}.", argument);
    }

    /// <summary>
    /// The check of a caller's output buffer (the <c>...Into</c> forms of the fast tiers): <paramref name="output"/>
    /// is not null and has exactly the shape <paramref name="expected"/>; otherwise one error naming the argument,
    /// the expected shape and length, and what it got.
    /// </summary>
    public static void Output<T>(Tensor<T>? output, ReadOnlySpan<int> expected, string argument) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(output, argument);
        if (!output.Shape.SequenceEqual(expected))
            throw new ArgumentException(
                $"{argument} must have shape {Format(expected)} (length {ElementCount(expected, argument)}), got {Format(output.Shape)} (length {output.Data.Length}).",
                argument);
    }

    /// <summary>Product of the dimensions; throws naming <paramref name="argument"/> on negative or overflowing shapes.</summary>
    public static long ElementCount(ReadOnlySpan<int> shape, string argument)
    {
        long count = 1;
        for (int a = 0; a < shape.Length; a++)
        {
            if (shape[a] < 0)
                throw new ArgumentException($"{argument}[{a}] = {shape[a]} must be >= 0.", argument);
            count *= shape[a];
            if (count > MaxElements)
                throw new ArgumentException($"{argument} {Format(shape)} has more than {MaxElements} elements.", argument);
        }
        return count;
    }

    public static int[] Strides(ReadOnlySpan<int> shape)
    {
        var strides = new int[shape.Length];
        int stride = 1;
        for (int a = shape.Length - 1; a >= 0; a--)
        {
            strides[a] = stride;
            stride *= shape[a];
        }
        return strides;
    }

    public static int NormalizeAxis(int axis, int rank, string argument)
    {
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank)
            throw new ArgumentOutOfRangeException(argument, $"{argument} = {axis} is outside [-{rank}, {rank}).");
        return a;
    }

    public static void CheckPermutation(int[] perm, int rank, string argument)
    {
        ArgumentNullException.ThrowIfNull(perm, argument);
        if (perm.Length != rank)
            throw new ArgumentException($"{argument} has {perm.Length} entries, expected {rank}.", argument);
        var seen = new bool[rank];
        foreach (int p in perm)
        {
            if (p < 0 || p >= rank || seen[p])
                throw new ArgumentException($"{argument} {Format(perm)} is not a permutation of 0..{rank - 1}.", argument);
            seen[p] = true;
        }
    }

    /// <summary>
    /// NumPy broadcasting: align shapes on the right; each pair of dimensions must be equal or one
    /// of them 1. Returns the broadcast shape; an incompatible pair throws an ArgumentException
    /// whose ParamName is "b" (the right operand, by convention the one being broadcast).
    /// </summary>
    public static int[] Broadcast(ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var result = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            int db = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"shapes {Format(a)} and {Format(b)} do not broadcast (axis {i}: {da} vs {db}).", nameof(b));
            result[i] = da == 1 ? db : da;
        }
        return result;
    }

    /// <summary>
    /// Strides of <paramref name="shape"/> read as the broadcast shape <paramref name="target"/>:
    /// broadcast (size-1 or missing) axes get stride 0.
    /// </summary>
    public static int[] BroadcastStrides(ReadOnlySpan<int> shape, ReadOnlySpan<int> target)
    {
        var own = Strides(shape);
        var strides = new int[target.Length];
        int offset = target.Length - shape.Length;
        for (int i = 0; i < target.Length; i++)
        {
            if (i < offset || shape[i - offset] == 1) strides[i] = 0;
            else strides[i] = own[i - offset];
        }
        return strides;
    }

    /// <summary>
    /// Copies source elements addressed by <paramref name="strides"/> over the index space
    /// <paramref name="shape"/> into the contiguous <paramref name="destination"/> in row-major order.
    /// </summary>
    public static void GatherStrided<T>(ReadOnlySpan<T> source, ReadOnlySpan<int> strides, ReadOnlySpan<int> shape, Span<T> destination)
    {
        int rank = shape.Length;
        if (rank == 0)
        {
            if (destination.Length > 0) destination[0] = source[0];
            return;
        }
        int n = destination.Length;
        if (n == 0) return;
        Span<int> index = stackalloc int[rank];
        int inner = shape[rank - 1], innerStride = strides[rank - 1];
        int src = 0;
        for (int dst = 0; dst < n; dst += inner)
        {
            for (int j = 0, s = src; j < inner; j++, s += innerStride) destination[dst + j] = source[s];
            for (int a = rank - 2; a >= 0; a--)
            {
                index[a]++;
                src += strides[a];
                if (index[a] < shape[a]) break;
                src -= strides[a] * shape[a];
                index[a] = 0;
            }
        }
    }
}
