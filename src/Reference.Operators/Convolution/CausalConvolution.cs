// Causal convolution with a skip term: the shared primitive of H3, the long-convolution layer,
// S4D's convolutional mode and Hyena.
//
// Papers: H3, "Hungry Hungry Hippos" (Fu, Dao et al., arXiv:2212.14052), Sec. 3 (the SSM as a
// convolution y = K * u + D u) and Sec. 4 (FlashConv: FFT convolution, and state passing across
// chunks so sequences longer than one block reuse the carried state); "Simple Hardware-Efficient
// Long Convolutions" (Fu, Epstein et al., arXiv:2302.06646), Sec. 2 (y = k * u + D u, the
// bidirectional kernel pair).
//
// Glossary (code -> paper):
//   u [.., C, L]     input sequence u, channel-major (row r uses kernel channel r mod C)
//   k [C, Lk]        kernel K (also written k or h), tap k[j] acts on lag j
//   kRev [C, Lr]     the anti-causal kernel of the bidirectional variants
//   d [C]            skip D (optional; null means D = 0)
//   y [.., C, L]     output y[t] = sum_{j=0..min(t, Lk-1)} k[j] u[t-j] + D u[t]
//   ConvolutionState the FlashConv carried state for a finite kernel: the last Lk-1 inputs
//   T [C, L, L]      the operator matrix: lower-triangular Toeplitz T[t, s] = k[t-s], D added on the diagonal
//
// Naive accumulation order: for each output t the taps are summed j = 0, 1, ... in float64 from 0,
// then D u[t] is added last. The Fast tier uses per-lag AXPYs (TensorPrimitives) for short kernels
// and the FFT route (zero-pad to n >= L + Lk - 1, rfft, multiply, irfft with the same n, keep the
// first L) for long ones; its sums are in a different order, so it is compared with a relative
// tolerance (~1e-12 in float64, growing with L max|k|; ~1e-5 in float32).
//
// Bidirectional variants (docs/operators.md pins both, by name, because repositories differ):
//   conjugate  (H3 / safari fftconv_ref: spectrum rfft(k) + conj(rfft(kRev))):
//              y[t] += sum_{m=0..L-1-t} kRev[m] u[t+m]        (kRev[0] lands on lag 0, like k[0])
//   pad_flip   (M2 and safari LongConv: kernel [k, 0..0] + [0..0, reverse(kRev)], n = 2L):
//              y[t] += sum_{m=1..L-1-t} kRev[m-1] u[t+m]      (kRev[0] lands on lag -1)
// Their operator matrices are full (not triangular); chunked/streaming evaluation does not exist
// for them (the future is needed).
//
// Deliberate simplifications: one kernel per channel (no kernel "channels" axis: stack layers
// instead); kernels longer than L are truncated to L (taps beyond lag L-1 never act).
using Reference.Core;

namespace Reference.Operators.Convolution;

/// <summary>Which bidirectional convention of docs/operators.md to use.</summary>
public enum BidirectionalMode
{
    /// <summary>`conjugate`: y[t] += sum_{m=0..L-1-t} kRev[m] u[t+m].</summary>
    Conjugate,

    /// <summary>`pad_flip`: y[t] += sum_{m=1..L-1-t} kRev[m-1] u[t+m].</summary>
    PadFlip,
}

/// <summary>Gradients of a causal convolution with skip (same shapes as u, k and d).</summary>
public sealed record ConvolutionGradients(Tensor<double> Input, Tensor<double> Kernel, Tensor<double>? Skip);

/// <summary>Gradients of <see cref="CausalConvolution.BackwardBidirectional"/>, shaped like u, k, kRev and d.</summary>
public sealed record BidirectionalConvolutionGradients(Tensor<double> Input, Tensor<double> Kernel, Tensor<double> ReverseKernel, Tensor<double>? Skip);

/// <summary>
/// The streaming state of a causal convolution with a finite kernel (FlashConv state passing):
/// the last Lk-1 inputs of every row, oldest first, zeros before the sequence start.
/// </summary>
public sealed class ConvolutionState
{
    internal ConvolutionState(int rows, int channels, int kernelLength)
    {
        Rows = rows;
        Channels = channels;
        KernelLength = kernelLength;
        History = new double[rows * Math.Max(kernelLength - 1, 0)];
    }

    public int Rows { get; }

    public int Channels { get; }

    public int KernelLength { get; }

    /// <summary>Tokens consumed so far.</summary>
    public long Position { get; internal set; }

    /// <summary>[rows, Lk - 1]: History[r, i] = u_r[Position - (Lk - 1) + i] (zero before the start).</summary>
    public double[] History { get; }
}

public static partial class CausalConvolution
{
    // ------------------------------------------------------------------ parallel form (Naive)

    /// <summary>
    /// The definition: y[r, t] = sum_{j=0..min(t, Lk-1)} k[c, j] u[r, t-j] + d[c] u[r, t], c = r mod C.
    /// u [.., C, L], k [C, Lk], d [C] or null; returns y with u's shape.
    /// </summary>
    public static Tensor<double> Forward(Tensor<double> u, Tensor<double> k, Tensor<double>? d = null)
    {
        var (rows, channels, length, kernelLength) = Check(u, k, d);
        var y = Tensor<double>.Zeros(u.ShapeArray);
        for (int r = 0; r < rows; r++)
        {
            int c = r % channels;
            var ur = u.Data.AsSpan(r * length, length);
            var kc = k.Data.AsSpan(c * kernelLength, kernelLength);
            var yr = y.Data.AsSpan(r * length, length);
            double skip = d is null ? 0.0 : d.Data[c];
            for (int t = 0; t < length; t++)
            {
                double acc = 0.0;
                int taps = Math.Min(t + 1, kernelLength);
                for (int j = 0; j < taps; j++) acc += kc[j] * ur[t - j];
                yr[t] = acc + skip * ur[t];
            }
        }
        return y;
    }

    /// <summary>
    /// Bidirectional convolution (naive definition): the causal part of <see cref="Forward"/> plus the
    /// anti-causal part of <paramref name="mode"/> with kRev [C, Lr] (see the file head).
    /// </summary>
    public static Tensor<double> ForwardBidirectional(Tensor<double> u, Tensor<double> k, Tensor<double> kRev,
        Tensor<double>? d, BidirectionalMode mode)
    {
        var (rows, channels, length, _) = Check(u, k, d);
        int reverseLength = CheckReverse(kRev, channels);
        var y = Forward(u, k, d);
        int offset = mode == BidirectionalMode.Conjugate ? 0 : 1;
        for (int r = 0; r < rows; r++)
        {
            int c = r % channels;
            var ur = u.Data.AsSpan(r * length, length);
            var kr = kRev.Data.AsSpan(c * reverseLength, reverseLength);
            var yr = y.Data.AsSpan(r * length, length);
            for (int t = 0; t < length; t++)
            {
                double acc = 0.0;
                for (int m = offset; m <= length - 1 - t && m - offset < reverseLength; m++)
                    acc += kr[m - offset] * ur[t + m];
                yr[t] += acc;
            }
        }
        return y;
    }

    // ------------------------------------------------------------------ chunked / recurrent form

    /// <summary>A zero state (no history) for rows = product of u's leading axes times C.</summary>
    public static ConvolutionState InitialState(int rows, int channels, int kernelLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1, nameof(channels));
        ArgumentOutOfRangeException.ThrowIfLessThan(kernelLength, 1, nameof(kernelLength));
        if (rows < 1 || rows % channels != 0)
            throw new ArgumentException($"rows must be a positive multiple of channels = {channels}, got {rows}.", nameof(rows));
        return new ConvolutionState(rows, channels, kernelLength);
    }

    /// <summary>
    /// One chunk with carried state (FlashConv state passing): the chunk is convolved as the tail of
    /// [history, chunk] and the history is advanced. uChunk [.., C, Lc]; chunked = one-shot exactly
    /// (the padded history contributes exact zeros at the start).
    /// </summary>
    public static Tensor<double> ForwardChunk(ConvolutionState state, Tensor<double> uChunk, Tensor<double> k, Tensor<double>? d = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        var (rows, channels, length, kernelLength) = Check(uChunk, k, d);
        if (rows != state.Rows || channels != state.Channels || kernelLength != state.KernelLength)
            throw new ArgumentException(
                $"state holds rows {state.Rows}, C {state.Channels}, Lk {state.KernelLength}; got rows {rows}, C {channels}, Lk {kernelLength}.",
                nameof(state));
        int h = kernelLength - 1;
        var y = Tensor<double>.Zeros(uChunk.ShapeArray);
        var extended = new double[h + length];
        for (int r = 0; r < rows; r++)
        {
            int c = r % channels;
            var hist = state.History.AsSpan(r * h, h);
            var ur = uChunk.Data.AsSpan(r * length, length);
            hist.CopyTo(extended);
            ur.CopyTo(extended.AsSpan(h));
            var kc = k.Data.AsSpan(c * kernelLength, kernelLength);
            var yr = y.Data.AsSpan(r * length, length);
            double skip = d is null ? 0.0 : d.Data[c];
            long position = state.Position;
            for (int t = 0; t < length; t++)
            {
                double acc = 0.0;
                // Same terms and order as Forward: lags beyond the sequence start are skipped.
                long taps = Math.Min(position + t + 1, kernelLength);
                for (int j = 0; j < taps; j++) acc += kc[j] * extended[h + t - j];
                yr[t] = acc + skip * ur[t];
            }
            extended.AsSpan(length, h).CopyTo(hist);
        }
        state.Position += length;
        return y;
    }

    /// <summary>Prefill: the parallel output of u [.., C, L] and the state after it.</summary>
    public static (Tensor<double> Output, ConvolutionState State) Prefill(Tensor<double> u, Tensor<double> k, Tensor<double>? d = null)
    {
        var (rows, channels, _, kernelLength) = Check(u, k, d);
        var state = InitialState(rows, channels, kernelLength);
        return (ForwardChunk(state, u, k, d), state);
    }

    /// <summary>One token: uT [rows] (one value per row), returns y_t [rows] and advances the state.</summary>
    public static double[] Step(ConvolutionState state, ReadOnlySpan<double> uT, Tensor<double> k, Tensor<double>? d = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (uT.Length != state.Rows)
            throw new ArgumentException($"uT has {uT.Length} values, expected rows = {state.Rows}.", nameof(uT));
        var chunk = new Tensor<double>(uT.ToArray(), state.Rows / state.Channels, state.Channels, 1);
        return ForwardChunk(state, chunk, k, d).Data;
    }

    // ------------------------------------------------------------------ operator matrix

    /// <summary>T [C, L, L]: T[c, t, s] = k[c, t-s] for 0 &lt;= t-s &lt; Lk, plus d[c] on the diagonal.</summary>
    public static Tensor<double> Materialize(Tensor<double> k, Tensor<double>? d, int length)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1, nameof(length));
        var (channels, kernelLength) = CheckKernel(k, d);
        var m = Tensor<double>.Zeros(channels, length, length);
        for (int c = 0; c < channels; c++)
            for (int t = 0; t < length; t++)
                for (int s = Math.Max(0, t - kernelLength + 1); s <= t; s++)
                    m.Data[(c * length + t) * length + s] = k.Data[c * kernelLength + t - s]
                        + (s == t && d is not null ? d.Data[c] : 0.0);
        return m;
    }

    /// <summary>The full (two-sided) operator matrix of <see cref="ForwardBidirectional"/>, [C, L, L].</summary>
    public static Tensor<double> MaterializeBidirectional(Tensor<double> k, Tensor<double> kRev, Tensor<double>? d,
        int length, BidirectionalMode mode)
    {
        var m = Materialize(k, d, length);
        int channels = k.Dim(0);
        int reverseLength = CheckReverse(kRev, channels);
        int offset = mode == BidirectionalMode.Conjugate ? 0 : 1;
        for (int c = 0; c < channels; c++)
            for (int t = 0; t < length; t++)
                for (int s = t + offset; s < length && s - t - offset < reverseLength; s++)
                    m.Data[(c * length + t) * length + s] += kRev.Data[c * reverseLength + s - t - offset];
        return m;
    }

    // ------------------------------------------------------------------ backward

    /// <summary>
    /// Vector-Jacobian product of <see cref="Forward"/> for the cotangent dy (u's shape):
    /// du[s] = sum_t dy[t] k[t-s] + D dy[s] (a correlation), dk[j] = sum_t dy[t] u[t-j],
    /// dD = sum_t dy[t] u[t] (kernel and skip gradients summed over the rows of a channel).
    /// </summary>
    public static ConvolutionGradients Backward(Tensor<double> u, Tensor<double> k, Tensor<double>? d, Tensor<double> dy)
    {
        var (rows, channels, length, kernelLength) = Check(u, k, d);
        Shapes.Same(dy, u.Shape, nameof(dy));
        var du = Tensor<double>.Zeros(u.ShapeArray);
        var dk = Tensor<double>.Zeros(k.ShapeArray);
        var dd = d is null ? null : Tensor<double>.Zeros(d.ShapeArray);
        for (int r = 0; r < rows; r++)
        {
            int c = r % channels;
            var ur = u.Data.AsSpan(r * length, length);
            var gr = dy.Data.AsSpan(r * length, length);
            var kc = k.Data.AsSpan(c * kernelLength, kernelLength);
            var dur = du.Data.AsSpan(r * length, length);
            double skip = d is null ? 0.0 : d.Data[c];
            for (int s = 0; s < length; s++)
            {
                double acc = 0.0;
                for (int t = s; t < length && t - s < kernelLength; t++) acc += gr[t] * kc[t - s];
                dur[s] = acc + skip * gr[s];
            }
            for (int j = 0; j < kernelLength; j++)
            {
                double acc = 0.0;
                for (int t = j; t < length; t++) acc += gr[t] * ur[t - j];
                dk.Data[c * kernelLength + j] += acc;
            }
            if (dd is not null)
            {
                double acc = 0.0;
                for (int t = 0; t < length; t++) acc += gr[t] * ur[t];
                dd.Data[c] += acc;
            }
        }
        return new ConvolutionGradients(du, dk, dd);
    }

    /// <summary>
    /// Vector-Jacobian product of <see cref="ForwardBidirectional"/> for the cotangent dy (u's shape). The
    /// causal part is <see cref="Backward"/>; the anti-causal part y[t] += sum_m kRev[m - o] u[t + m]
    /// (m = o..min(L - 1 - t, Lr - 1 + o), o = 0 for conjugate, 1 for pad_flip) is linear in u and in kRev, so
    /// du[s] += sum_t dy[t] kRev[s - t - o] over the t with 0 &lt;= s - t - o &lt; Lr (a convolution of dy with kRev,
    /// the causal part's correlation mirrored), and dkRev[j] = sum_t dy[t] u[t + j + o] over t + j + o &lt;= L - 1
    /// (summed over the rows of a channel).
    /// </summary>
    public static BidirectionalConvolutionGradients BackwardBidirectional(Tensor<double> u, Tensor<double> k, Tensor<double> kRev,
        Tensor<double>? d, BidirectionalMode mode, Tensor<double> dy)
    {
        var (rows, channels, length, _) = Check(u, k, d);
        int reverseLength = CheckReverse(kRev, channels);
        var causal = Backward(u, k, d, dy);
        var du = causal.Input;
        var dkRev = Tensor<double>.Zeros(kRev.ShapeArray);
        int offset = mode == BidirectionalMode.Conjugate ? 0 : 1;
        for (int r = 0; r < rows; r++)
        {
            int c = r % channels;
            var ur = u.Data.AsSpan(r * length, length);
            var gr = dy.Data.AsSpan(r * length, length);
            var kr = kRev.Data.AsSpan(c * reverseLength, reverseLength);
            var dur = du.Data.AsSpan(r * length, length);
            for (int s = 0; s < length; s++)
            {
                double acc = 0.0;
                for (int t = 0; t <= s - offset; t++)
                    if (s - t - offset < reverseLength) acc += gr[t] * kr[s - t - offset];
                dur[s] += acc;
            }
            for (int j = 0; j < reverseLength; j++)
            {
                double acc = 0.0;
                for (int t = 0; t + j + offset < length; t++) acc += gr[t] * ur[t + j + offset];
                dkRev.Data[c * reverseLength + j] += acc;
            }
        }
        return new BidirectionalConvolutionGradients(du, causal.Kernel, dkRev, causal.Skip);
    }

    // ------------------------------------------------------------------ argument checks

    internal static (int Rows, int Channels, int Length, int KernelLength) Check<T>(Tensor<T> u, Tensor<T> k, Tensor<T>? d)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(u);
        var (channels, kernelLength) = CheckKernel(k, d);
        if (u.Rank < 2)
            throw new ArgumentException($"u must have shape [.., C, L] (rank >= 2), got rank {u.Rank}.", nameof(u));
        if (u.Dim(-2) != channels)
            throw new ArgumentException($"u has {u.Dim(-2)} channels (axis -2), expected C = {channels} from k.", nameof(u));
        int length = u.Dim(-1);
        if (length < 1)
            throw new ArgumentException($"u must have length L >= 1 (axis -1), got {length}.", nameof(u));
        return (u.Length / length, channels, length, kernelLength);
    }

    private static (int Channels, int KernelLength) CheckKernel<T>(Tensor<T> k, Tensor<T>? d)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(k);
        if (k.Rank != 2 || k.Dim(0) < 1 || k.Dim(1) < 1)
            throw new ArgumentException($"k must have shape [C, Lk] with C, Lk >= 1, got {Shapes.Format(k.Shape)}.", nameof(k));
        if (d is not null && (d.Rank != 1 || d.Dim(0) != k.Dim(0)))
            throw new ArgumentException($"d must have shape [{k.Dim(0)}], got {Shapes.Format(d.Shape)}.", nameof(d));
        return (k.Dim(0), k.Dim(1));
    }

    private static int CheckReverse(Tensor<double> kRev, int channels)
    {
        ArgumentNullException.ThrowIfNull(kRev);
        if (kRev.Rank != 2 || kRev.Dim(0) != channels || kRev.Dim(1) < 1)
            throw new ArgumentException($"kRev must have shape [{channels}, Lr] with Lr >= 1, got {Shapes.Format(kRev.Shape)}.", nameof(kRev));
        return kRev.Dim(1);
    }
}
