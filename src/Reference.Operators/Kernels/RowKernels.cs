using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Reference.Core.Kernels;

namespace Reference.Operators.Kernels;

/// <summary>Fused row passes of the online softmax (one call per row instead of four).</summary>
internal static class RowKernels
{
    /// <summary>max_j x[j] (x non-empty).</summary>
    public static T Max<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count, j = 0;
        T max = T.NegativeInfinity;
        if (Vector256.IsHardwareAccelerated && x.Length >= w)
        {
            ref T r = ref MemoryMarshal.GetReference(x);
            var vm = Vector256.LoadUnsafe(ref r);
            for (j = w; j + w <= x.Length; j += w) vm = Vector256.Max(vm, Vector256.LoadUnsafe(ref r, (nuint)j));
            for (int e = 0; e < w; e++) max = T.Max(max, vm[e]);
        }
        for (; j < x.Length; j++) max = T.Max(max, x[j]);
        return max;
    }

    /// <summary>x[j] = exp(x[j] - shift) in place; returns sum_j x[j] (shift >= every x[j], so no overflow).</summary>
    public static T ExpShiftSum<T>(Span<T> x, T shift) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count, j = 0;
        T sum = T.Zero;
        if (Vector256.IsHardwareAccelerated && x.Length >= w)
        {
            ref T r = ref MemoryMarshal.GetReference(x);
            var vs = Vector256.Create(shift);
            var acc = Vector256<T>.Zero;
            for (; j + w <= x.Length; j += w)
            {
                var e = VectorMath.Exp(Vector256.LoadUnsafe(ref r, (nuint)j) - vs);
                e.StoreUnsafe(ref r, (nuint)j);
                acc += e;
            }
            sum = Vector256.Sum(acc);
        }
        for (; j < x.Length; j++)
        {
            x[j] = T.Exp(x[j] - shift);
            sum += x[j];
        }
        return sum;
    }
}
