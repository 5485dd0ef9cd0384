// The Fast tier of the causal convolution (see CausalConvolution.cs for the papers, the glossary and
// the naive definition): per-lag vectorized AXPYs for short kernels, the real-FFT route for long ones.
using Reference.Core;
using Reference.Core.Fourier;

namespace Reference.Operators.Convolution;

public static partial class CausalConvolution
{
    // ------------------------------------------------------------------ parallel form (Fast)

    /// <summary>Kernels with at least this many effective taps (min(Lk, L)) take the FFT route in <see cref="ForwardFast{T}"/>.</summary>
    public const int FftThreshold = 64;

    /// <summary>
    /// Fast tier of <see cref="Forward"/> for float or double: one vectorized AXPY per lag for short
    /// kernels, the FFT route (Reference.Core.Fourier.FftConvolution: zero-pad to a power of two
    /// n >= L + Lk - 1, real FFTs, keep the first L) from <see cref="FftThreshold"/> taps on; then
    /// D u is added. Rows in parallel up to <paramref name="maxThreads"/> (0 = all cores, 1 = the
    /// calling thread).
    /// </summary>
    public static Tensor<T> ForwardFast<T>(Tensor<T> u, Tensor<T> k, Tensor<T>? d = null, int maxThreads = 0)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var (rows, channels, length, kernelLength) = Check(u, k, d);
        var y = Tensor<T>.Zeros(u.ShapeArray);
        int taps = Math.Min(kernelLength, length);
        if (taps >= FftThreshold)
        {
            int slab = channels * length;
            for (int b = 0; b < rows / channels; b++)
                FftConvolution.Causal<T>(u.Data.AsSpan(b * slab, slab), k.Data, y.Data.AsSpan(b * slab, slab),
                    channels, length, kernelLength, maxThreads);
            if (d is not null)
                for (int r = 0; r < rows; r++)
                    TensorPrimitives.MultiplyAdd(u.Data.AsSpan(r * length, length), d.Data[r % channels],
                        y.Data.AsSpan(r * length, length), y.Data.AsSpan(r * length, length));
            return y;
        }
        var options = new ParallelOptions { MaxDegreeOfParallelism = maxThreads > 0 ? maxThreads : KernelThreads.Default };
        Parallel.For(0, rows, options, r =>
        {
            int c = r % channels;
            var ur = u.Data.AsSpan(r * length, length);
            var kc = k.Data.AsSpan(c * kernelLength, taps);
            var yr = y.Data.AsSpan(r * length, length);
            if (d is not null) TensorPrimitives.Multiply(ur, d.Data[c], yr);
            // y[j..L) += k[j] u[0..L-j): one vectorized AXPY per lag.
            for (int j = 0; j < taps; j++)
                TensorPrimitives.MultiplyAdd(ur[..(length - j)], kc[j], yr[j..], yr[j..]);
        });
        return y;
    }

    /// <summary>
    /// Fast tier of <see cref="ForwardBidirectional"/> for float or double: the causal part by <see cref="ForwardFast{T}"/>, the
    /// anti-causal part as a causal convolution of the time-reversed input, sum_m kRev[m - o] u[t + m] = conv(rev u, k')[L - 1 - t]
    /// with k' = kRev delayed by o (o = 0 conjugate, 1 pad_flip), also by ForwardFast; then the two are added.
    /// </summary>
    public static Tensor<T> ForwardBidirectionalFast<T>(Tensor<T> u, Tensor<T> k, Tensor<T> kRev, Tensor<T>? d, BidirectionalMode mode,
        int maxThreads = 0) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var (rows, channels, length, _) = Check(u, k, d);
        ArgumentNullException.ThrowIfNull(kRev);
        if (kRev.Rank != 2 || kRev.Dim(0) != channels || kRev.Dim(1) < 1)
            throw new ArgumentException($"kRev must have shape [C = {channels}, Lr] with Lr >= 1, got {Shapes.Format(kRev.Shape)}.", nameof(kRev));
        int offset = mode == BidirectionalMode.Conjugate ? 0 : 1, lr = kRev.Dim(1);
        var delayed = Tensor<T>.Zeros(channels, lr + offset);
        for (int c = 0; c < channels; c++) kRev.Data.AsSpan(c * lr, lr).CopyTo(delayed.Data.AsSpan(c * (lr + offset) + offset));
        var reversed = Tensor<T>.Zeros(u.ShapeArray);
        for (int r = 0; r < rows; r++)
            for (int t = 0; t < length; t++) reversed.Data[r * length + t] = u.Data[r * length + length - 1 - t];
        var anti = ForwardFast(reversed, delayed, null, maxThreads);
        var y = ForwardFast(u, k, d, maxThreads);
        for (int r = 0; r < rows; r++)
        {
            var yr = y.Data.AsSpan(r * length, length);
            var ar = anti.Data.AsSpan(r * length, length);
            ar.Reverse();
            TensorPrimitives.Add(yr, ar, yr);
        }
        return y;
    }
}
