using System.Numerics;
using System.Runtime.InteropServices;

namespace Reference.Operators.StateSpace;

/// <summary>
/// exp over a span through the float and double overloads of TensorPrimitives.Exp, which are
/// vectorized; the generic TensorPrimitives.Exp&lt;T&gt; falls back to one scalar call per element.
/// The decays exp(Delta A) of the fast state-space tiers go through here.
/// </summary>
internal static class VectorExp
{
    /// <summary>y = exp(x) elementwise (x and y may be the same span).</summary>
    public static void Apply<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
            TensorPrimitives.Exp(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y));
        else if (typeof(T) == typeof(double))
            TensorPrimitives.Exp(MemoryMarshal.Cast<T, double>(x), MemoryMarshal.Cast<T, double>(y));
        else
            TensorPrimitives.Exp(x, y);
    }
}
