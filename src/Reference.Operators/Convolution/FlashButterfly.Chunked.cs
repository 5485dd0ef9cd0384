// The fast tier's backward pass and the chunked (state-passing) convolution on top of FlashButterfly's block FFT.
//
// Backward (fast): the two correlations of FlashButterfly.Backward's derivation, du[s] = sum_t dy[t] k[t - s] + d dy[s] and
// dk[j] = sum_t dy[t] u[t - j], are causal convolutions of the time-reversed cotangent rev(dy)[n] = dy[L - 1 - n]:
//   conv(rev dy, k)[L - 1 - s] = sum_i k[i] dy[s + i] = du[s] - d dy[s]
//   conv(rev dy_r, u_r)[L - 1 - j] = sum_i u_r[i] dy_r[i + j]      (row r's own sequence u_r as the kernel)
// so both run through ConvolveFast (the exact block FFT, two real rows per complex transform): the first with the C kernels,
// the second with the B C rows as channels, summed over the batch per channel.
//
// Chunked state passing (Fu, Epstein et al., arXiv:2302.06646, Sec. 3.2: the sequence is processed in chunks that fit on chip;
// FlashConv, Fu, Dao et al., arXiv:2212.14052, Sec. 4, passes the state between chunks): the input is cut into chunks of Lc
// steps; each chunk's full linear convolution with the kernel (Lc + Lk - 1 values, by the block FFT on the chunk padded with
// Lk - 1 zeros) splits into the chunk's own outputs and a tail that belongs to the next Lk - 1 positions. The state is that
// tail, the pending contributions P[r, j] to position Position + j (j < Lk - 1), the dual of ConvolutionState's input
// history: y_chunk[t] = full[t] + P[t] (t < Lk - 1) + d u[t]; then P'[j] = P[Lc + j] (when Lc + j < Lk - 1) + full[Lc + j].
// Chunked with any chunk sizes equals the one-shot convolution up to the block FFT's round-off (the tests check it against
// the direct sum).
using System.Numerics;
using Reference.Core;

namespace Reference.Operators.Convolution;

/// <summary>
/// The carried state of <see cref="FlashButterfly.ForwardChunkFast{T}"/>: Pending [rows, Lk - 1], the contributions of the inputs
/// seen so far to the next Lk - 1 outputs, and the position.
/// </summary>
public sealed class ButterflyChunkState<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal ButterflyChunkState(int rows, int channels, int kernelLength)
    {
        Rows = rows;
        Channels = channels;
        KernelLength = kernelLength;
        Pending = new T[rows * (kernelLength - 1)];
    }

    public int Rows { get; }

    public int Channels { get; }

    public int KernelLength { get; }

    /// <summary>Tokens consumed so far.</summary>
    public long Position { get; internal set; }

    /// <summary>[rows, Lk - 1]: Pending[r, j] = sum of k[i] u_r[s] over seen s with s + i = Position + j.</summary>
    public T[] Pending { get; }
}

public static partial class FlashButterfly
{
    // ------------------------------------------------------------------ backward pass (fast tier)

    /// <summary>
    /// Fast tier of <see cref="Backward"/> in float or double: du, dk, dd of y = k * u + d u for the cotangent dy (u's shape)
    /// by two ConvolveFast correlations (file head); dk is zero past the first min(Lk, L) taps.
    /// </summary>
    public static (Tensor<T> Input, Tensor<T> Kernel, Tensor<T>? Skip) BackwardFast<T>(Tensor<T> u, Tensor<T> k, Tensor<T>? d, Tensor<T> dy,
        int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (rows, channels, length, kernelLength) = CausalConvolution.Check(u, k, d);
        Shapes.Same(dy, u.Shape, nameof(dy));
        int taps = Math.Min(kernelLength, length);
        var reversed = Tensor<T>.Zeros(u.ShapeArray);
        for (int r = 0; r < rows; r++)
            for (int t = 0; t < length; t++) reversed.Data[r * length + t] = dy.Data[r * length + length - 1 - t];
        var du = ConvolveFast(reversed, k, null, maxThreads);
        Reverse(du.Data, rows, length);
        var corr = ConvolveFast(reversed.Reshape(1, rows, length), u.Reshape(rows, length), null, maxThreads);
        var dk = Tensor<T>.Zeros(k.ShapeArray);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < taps; j++) dk.Data[(r % channels) * kernelLength + j] += corr.Data[r * length + length - 1 - j];
        Tensor<T>? dd = null;
        if (d is not null)
        {
            dd = Tensor<T>.Zeros(d.ShapeArray);
            for (int r = 0; r < rows; r++)
            {
                T skip = d.Data[r % channels], acc = T.Zero;
                for (int t = 0; t < length; t++)
                {
                    du.Data[r * length + t] += skip * dy.Data[r * length + t];
                    acc += dy.Data[r * length + t] * u.Data[r * length + t];
                }
                dd.Data[r % channels] += acc;
            }
        }
        return (du, dk, dd);
    }

    private static void Reverse<T>(T[] data, int rows, int length)
    {
        for (int r = 0; r < rows; r++) data.AsSpan(r * length, length).Reverse();
    }

    // ------------------------------------------------------------------ chunked state passing

    /// <summary>A zero state (nothing pending) for rows = product of u's leading axes times C.</summary>
    public static ButterflyChunkState<T> InitialChunkState<T>(int rows, int channels, int kernelLength) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1, nameof(channels));
        ArgumentOutOfRangeException.ThrowIfLessThan(kernelLength, 1, nameof(kernelLength));
        if (rows < 1 || rows % channels != 0)
            throw new ArgumentException($"rows must be a positive multiple of channels = {channels}, got {rows}.", nameof(rows));
        return new ButterflyChunkState<T>(rows, channels, kernelLength);
    }

    /// <summary>
    /// One chunk uChunk [.., C, Lc] of the causal convolution with k [C, Lk] and skip d, through the fast block FFT on the
    /// chunk padded to Lc + Lk - 1, plus the pending contributions of earlier chunks (file head); advances the state.
    /// </summary>
    public static Tensor<T> ForwardChunkFast<T>(ButterflyChunkState<T> state, Tensor<T> uChunk, Tensor<T> k, Tensor<T>? d = null,
        int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(state);
        var (rows, channels, length, kernelLength) = CausalConvolution.Check(uChunk, k, d);
        if (rows != state.Rows || channels != state.Channels || kernelLength != state.KernelLength)
            throw new ArgumentException(
                $"state holds rows {state.Rows}, C {state.Channels}, Lk {state.KernelLength}; got rows {rows}, C {channels}, Lk {kernelLength}.",
                nameof(state));
        int h = kernelLength - 1, full = length + h;
        var padded = Tensor<T>.Zeros(rows, full);
        for (int r = 0; r < rows; r++) uChunk.Data.AsSpan(r * length, length).CopyTo(padded.Data.AsSpan(r * full));
        var z = ConvolveFast(padded.Reshape(rows / channels, channels, full), k, null, maxThreads);
        var y = Tensor<T>.Zeros(uChunk.ShapeArray);
        var next = new T[h];
        for (int r = 0; r < rows; r++)
        {
            var pending = state.Pending.AsSpan(r * h, h);
            var zr = z.Data.AsSpan(r * full, full);
            T skip = d is null ? T.Zero : d.Data[r % channels];
            for (int t = 0; t < length; t++)
                y.Data[r * length + t] = zr[t] + (t < h ? pending[t] : T.Zero) + skip * uChunk.Data[r * length + t];
            for (int j = 0; j < h; j++) next[j] = (length + j < h ? pending[length + j] : T.Zero) + zr[length + j];
            next.CopyTo(pending);
        }
        state.Position += length;
        return y;
    }

    /// <summary>u [.., C, L] in chunks of <paramref name="chunk"/> steps through one <see cref="ButterflyChunkState{T}"/>.</summary>
    public static Tensor<T> ConvolveChunkedFast<T>(Tensor<T> u, Tensor<T> k, Tensor<T>? d, int chunk, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (rows, channels, length, kernelLength) = CausalConvolution.Check(u, k, d);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunk, 1, nameof(chunk));
        var state = InitialChunkState<T>(rows, channels, kernelLength);
        var y = Tensor<T>.Zeros(u.ShapeArray);
        for (int t0 = 0; t0 < length; t0 += chunk)
        {
            int n = Math.Min(chunk, length - t0);
            var part = ForwardChunkFast(state, u.Slice(-1, t0, n), k, d, maxThreads);
            for (int r = 0; r < rows; r++) part.Data.AsSpan(r * n, n).CopyTo(y.Data.AsSpan(r * length + t0));
        }
        return y;
    }
}
