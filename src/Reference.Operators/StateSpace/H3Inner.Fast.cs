// The Fast tier of the H3 inner op (see H3Inner.cs for the paper, the glossary and the definition): both
// convolutions through CausalConvolution.ForwardFast (per-lag AXPYs below its FFT threshold, the real FFT
// above), the outer products and the contraction over d1 in T.
using System.Numerics;
using Reference.Core;
using Reference.Operators.Convolution;

namespace Reference.Operators.StateSpace;

public static partial class H3Inner
{
    /// <summary>Fast tier of <see cref="Forward"/> for float or double (threads: CausalConvolution.ForwardFast's <paramref name="maxThreads"/>).</summary>
    public static Tensor<T> ForwardFast<T>(Tensor<T> q, Tensor<T> k, Tensor<T> v, Tensor<T>? shiftK, Tensor<T>? shiftD,
        Tensor<T> ssmK, Tensor<T>? d, int headDim, int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (batch, dm, length) = Check(q, k, v, shiftK, shiftD, ssmK, d, headDim);
        var kbar = shiftK is null ? k : CausalConvolution.ForwardFast(k, shiftK, shiftD, maxThreads);
        var ys = CausalConvolution.ForwardFast(OuterProducts(kbar, v, headDim), ssmK, d, maxThreads);
        return Contract(q, ys, batch, dm, length, headDim);
    }
}
