// The Fast tier of the long-convolution layer (see LongConvolution.cs for the paper, the glossary and
// the naive definition): the kernel pipeline in float64, rounded once to T, then the Fast causal convolution.
using Reference.Core;

namespace Reference.Operators.Convolution;

public static partial class LongConvolution
{
    /// <summary>
    /// Fast tier of <see cref="Convolve"/> for float or double: the kernel pipeline in float64 (it is
    /// O(C H Lk), negligible), rounded once to T, then <see cref="CausalConvolution.ForwardFast{T}"/>
    /// (per-lag AXPYs or the real-FFT route) over the C copies. u [B, H, L] -> y [B, C H, L].
    /// </summary>
    public static Tensor<T> ConvolveFast<T>(LongConvolutionParameters p, Tensor<T> u, double[]? dropMask = null, int maxThreads = 0)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        ArgumentNullException.ThrowIfNull(u);
        if (u.Rank != 3 || u.Dim(1) != p.Width || u.Dim(0) < 1 || u.Dim(2) < 1)
            throw new ArgumentException($"u must have shape [B, {p.Width}, L] with B, L >= 1, got {Shapes.Format(u.Shape)}.", nameof(u));
        int batch = u.Dim(0), length = u.Dim(2), slab = p.Width * length;
        var k = ProcessedKernel(p, dropMask).Cast<T>();
        var d = new Tensor<double>(p.D, p.D.Length).Cast<T>();
        var replicated = Tensor<T>.Zeros(batch, p.Channels * p.Width, length);
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < p.Channels; c++)
                u.Data.AsSpan(b * slab, slab).CopyTo(replicated.Data.AsSpan((b * p.Channels + c) * slab, slab));
        return CausalConvolution.ForwardFast(replicated, k, d, maxThreads);
    }
}
