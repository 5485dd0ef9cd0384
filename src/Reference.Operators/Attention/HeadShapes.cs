using System.Numerics;
using Reference.Core;

namespace Reference.Operators.Attention;

/// <summary>
/// Argument checks shared by the attention-family operators. Every per-head tensor is laid out
/// [B, H, L, X] (batch, head, position, feature), the layout of PyTorch's scaled_dot_product_attention.
/// </summary>
internal static class HeadShapes
{
    /// <summary>Checks that <paramref name="t"/> has rank 4 and returns (B, H, L, X).</summary>
    public static (int B, int H, int L, int X) Rank4<T>(Tensor<T> t, string argument) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(t, argument);
        if (t.Rank != 4)
            throw new ArgumentException($"{argument} must have rank 4 [B, H, L, X], got shape {Shapes.Format(t.Shape)}.", argument);
        return (t.Shape[0], t.Shape[1], t.Shape[2], t.Shape[3]);
    }

    /// <summary>Checks that axis <paramref name="axis"/> of <paramref name="t"/> has size <paramref name="expected"/>.</summary>
    public static void Dim<T>(Tensor<T> t, int axis, int expected, string argument, string meaning) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (t.Shape[axis] != expected)
            throw new ArgumentException(
                $"{argument} has {meaning} = {t.Shape[axis]} (axis {axis} of {Shapes.Format(t.Shape)}), expected {expected}.", argument);
    }

    /// <summary>Checks 0 &lt; chunk.</summary>
    public static void Chunk(int chunk, string argument)
    {
        if (chunk < 1)
            throw new ArgumentOutOfRangeException(argument, $"{argument} = {chunk} must be >= 1.");
    }

    /// <summary>Resolves the degree of parallelism: 0 means every core.</summary>
    public static int Threads(int maxThreads, string argument)
    {
        if (maxThreads < 0)
            throw new ArgumentOutOfRangeException(argument, $"{argument} = {maxThreads} must be >= 0 (0 = every core).");
        return maxThreads == 0 ? KernelThreads.Default : maxThreads;
    }
}
