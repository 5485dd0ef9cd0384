// Direct (time-domain) batched causal convolution for short kernels, forward and backward, in float64
// Vector512 lanes: the training path of H3's shift SSM (N = 64 taps at L = 256), where FFTs of size 512 for
// 64 taps cost more than the taps themselves. Same contract as FftConvolution.CausalBatched and
// CausalBackwardBatched (u, y, dy, du [S, C, L] sharing k, dk [C, Lk]):
//   y[t]  = sum_(j < T, j <= t) k[j] u[t - j]
//   du[t] = sum_(j < T, t + j < L) k[j] dy[t + j]
//   dk[j] = sum_s sum_(t >= j) dy_s[t] u_s[t - j]          (sequences in order), T = min(Lk, L) taps, dk[j >= L] = 0.
// Each row is copied once into a zero-padded buffer (T zeros before u, T after dy) so that every output
// block of 8 lags is T broadcast fused multiply-adds of unaligned loads with no boundary tests, four blocks
// (or four lags of dk) at once so that independent chains hide the FMA latency; lags past the last whole block,
// and machines without Vector512, run the same sums scalar.
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Reference.Core;

namespace Reference.Operators.Convolution;

public static partial class CausalConvolution
{
    /// <summary>
    /// y[s, c] = k[c] * u[s, c] (causal, first L outputs) by direct sums, plus skip[c] u[s, c] when <paramref name="skip"/> is
    /// given (one entry per channel: y[t] = sum + u[t] skip[c], rounded as a separate pass of u skip + y would round it);
    /// every y element written.
    /// </summary>
    public static void DirectBatched(ReadOnlySpan<double> u, ReadOnlySpan<double> k, Span<double> y, int sequences, int channels,
        int length, int kernelLength, int maxThreads = 1, ReadOnlySpan<double> skip = default)
    {
        CheckDirect(u.Length, k.Length, y.Length, sequences, channels, length, kernelLength, "y");
        CheckSkip(skip, channels);
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        int threads = Math.Min(maxThreads == 0 ? KernelThreads.Default : maxThreads, channels);
        if (threads <= 1)
        {
            DirectChannels(u, k, y, 0, channels, sequences, channels, length, kernelLength, skip);
            return;
        }
        unsafe
        {
            fixed (double* pu = u) fixed (double* pk = k) fixed (double* py = y) fixed (double* ps = skip)
            {
                double* au = pu, ak = pk, ay = py, askip = ps;
                int perThread = (channels + threads - 1) / threads, total = u.Length, ck = k.Length, cs = skip.Length;
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, w =>
                {
                    int c0 = w * perThread, c1 = Math.Min(channels, c0 + perThread);
                    if (c0 < c1)
                        DirectChannels(new ReadOnlySpan<double>(au, total), new ReadOnlySpan<double>(ak, ck), new Span<double>(ay, total),
                            c0, c1, sequences, channels, length, kernelLength, new ReadOnlySpan<double>(askip, cs));
                });
            }
        }
    }

    private static void DirectChannels(ReadOnlySpan<double> u, ReadOnlySpan<double> k, Span<double> y, int c0, int c1, int sequences,
        int channels, int length, int kernelLength, ReadOnlySpan<double> skip)
    {
        int taps = Math.Min(kernelLength, length);
        var padded = ArrayPool<double>.Shared.Rent(taps + length);
        try
        {
            var p = padded.AsSpan(0, taps + length);
            p[..taps].Clear();
            for (int s = 0; s < sequences; s++)
                for (int c = c0; c < c1; c++)
                {
                    int row = (s * channels + c) * length;
                    u.Slice(row, length).CopyTo(p[taps..]);
                    // y[t] = sum_j k[j] p[taps + t - j] (+ u[t] skip[c])
                    CorrelateReversed(p, k.Slice(c * kernelLength, taps), y.Slice(row, length), taps, skip.IsEmpty ? null : skip[c]);
                }
        }
        finally
        {
            ArrayPool<double>.Shared.Return(padded);
        }
    }

    /// <summary>
    /// Gradients of <see cref="DirectBatched"/>: du (every element written; with <paramref name="skip"/> given, plus dy skip[c],
    /// rounded as a separate pass of dy skip + du would round it) and dk (overwritten, summed over sequences in order; the skip's
    /// own gradient is the caller's).
    /// </summary>
    public static void DirectBackwardBatched(ReadOnlySpan<double> dy, ReadOnlySpan<double> u, ReadOnlySpan<double> k, Span<double> du,
        Span<double> dk, int sequences, int channels, int length, int kernelLength, int maxThreads = 1, ReadOnlySpan<double> skip = default)
    {
        CheckDirect(u.Length, k.Length, dy.Length, sequences, channels, length, kernelLength, "dy");
        if (du.Length != u.Length) throw new ArgumentException($"du has length {du.Length}, expected S * C * L = {u.Length}.", nameof(du));
        if (dk.Length != k.Length) throw new ArgumentException($"dk has length {dk.Length}, expected C * Lk = {k.Length}.", nameof(dk));
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        CheckSkip(skip, channels);
        dk.Clear();
        int threads = Math.Min(maxThreads == 0 ? KernelThreads.Default : maxThreads, channels);
        if (threads <= 1)
        {
            DirectBackwardChannels(dy, u, k, du, dk, 0, channels, sequences, channels, length, kernelLength, skip);
            return;
        }
        unsafe
        {
            fixed (double* pdy = dy) fixed (double* pu = u) fixed (double* pk = k) fixed (double* pdu = du) fixed (double* pdk = dk) fixed (double* ps = skip)
            {
                double* ady = pdy, au = pu, ak = pk, adu = pdu, adk = pdk, askip = ps;
                int perThread = (channels + threads - 1) / threads, total = u.Length, ck = k.Length, cs = skip.Length;
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, w =>
                {
                    int c0 = w * perThread, c1 = Math.Min(channels, c0 + perThread);
                    if (c0 < c1)
                        DirectBackwardChannels(new ReadOnlySpan<double>(ady, total), new ReadOnlySpan<double>(au, total), new ReadOnlySpan<double>(ak, ck),
                            new Span<double>(adu, total), new Span<double>(adk, ck), c0, c1, sequences, channels, length, kernelLength,
                            new ReadOnlySpan<double>(askip, cs));
                });
            }
        }
    }

    private static void DirectBackwardChannels(ReadOnlySpan<double> dy, ReadOnlySpan<double> u, ReadOnlySpan<double> k, Span<double> du,
        Span<double> dk, int c0, int c1, int sequences, int channels, int length, int kernelLength, ReadOnlySpan<double> skip)
    {
        int taps = Math.Min(kernelLength, length);
        var bufferU = ArrayPool<double>.Shared.Rent(taps + length);
        var bufferDy = ArrayPool<double>.Shared.Rent(taps + length);
        try
        {
            var pu = bufferU.AsSpan(0, taps + length);
            var pdy = bufferDy.AsSpan(0, taps + length);
            pu[..taps].Clear();
            pdy[length..].Clear();
            for (int s = 0; s < sequences; s++)
                for (int c = c0; c < c1; c++)
                {
                    int row = (s * channels + c) * length;
                    var g = dy.Slice(row, length);
                    var kc = k.Slice(c * kernelLength, taps);
                    g.CopyTo(pdy);
                    u.Slice(row, length).CopyTo(pu[taps..]);
                    // du[t] = sum_j k[j] pdy[t + j] (+ dy[t] skip[c])
                    Correlate(pdy, kc, du.Slice(row, length), skip.IsEmpty ? null : skip[c]);
                    // dk[j] += sum_t dy[t] pu[taps + t - j]
                    LagDots(g, pu, dk.Slice(c * kernelLength, taps), taps);
                }
        }
        finally
        {
            ArrayPool<double>.Shared.Return(bufferU);
            ArrayPool<double>.Shared.Return(bufferDy);
        }
    }

    /// <summary>
    /// out[t] = sum_(j &lt; taps) k[j] p[taps + t - j] (taps fused-multiply-added in j order per lag), then + p[taps + t] skip
    /// when <paramref name="skip"/> is given. The first taps entries of p are zeros: a block of lags ending at t_last stops at
    /// tap t_last, since every later tap only adds k[j] 0 to its lanes. Those terms come last in each lane's chain and add a
    /// signed zero to a sum that stays as it was (a sum that started at +0 is never -0 here), so for finite k the result is the
    /// full chain's, bit for bit (an infinite or NaN tap no longer reaches outputs through the zero padding).
    /// </summary>
    private static void CorrelateReversed(ReadOnlySpan<double> p, ReadOnlySpan<double> k, Span<double> output, int taps, double? skip)
    {
        int length = output.Length, t = 0;
        double d = skip.GetValueOrDefault();
        bool withSkip = skip.HasValue;
        if (Vector512.IsHardwareAccelerated)
        {
            ref double pr = ref MemoryMarshal.GetReference(p);
            ref double kr = ref MemoryMarshal.GetReference(k);
            ref double or = ref MemoryMarshal.GetReference(output);
            const int W = 8;
            var dv = Vector512.Create(d);
            // Four blocks of 8 lags at once: four independent accumulation chains per broadcast tap.
            for (; t + 4 * W <= length; t += 4 * W)
            {
                Vector512<double> a0 = default, a1 = default, a2 = default, a3 = default;
                int end = Math.Min(taps, t + 4 * W);
                for (int j = 0; j < end; j++)
                {
                    var kj = Vector512.Create(Unsafe.Add(ref kr, j));
                    nuint at = (nuint)(taps + t - j);
                    a0 = Vector512.FusedMultiplyAdd(kj, Vector512.LoadUnsafe(ref pr, at), a0);
                    a1 = Vector512.FusedMultiplyAdd(kj, Vector512.LoadUnsafe(ref pr, at + W), a1);
                    a2 = Vector512.FusedMultiplyAdd(kj, Vector512.LoadUnsafe(ref pr, at + 2 * W), a2);
                    a3 = Vector512.FusedMultiplyAdd(kj, Vector512.LoadUnsafe(ref pr, at + 3 * W), a3);
                }
                if (withSkip)
                {
                    nuint at = (nuint)(taps + t);
                    a0 += Vector512.LoadUnsafe(ref pr, at) * dv;
                    a1 += Vector512.LoadUnsafe(ref pr, at + W) * dv;
                    a2 += Vector512.LoadUnsafe(ref pr, at + 2 * W) * dv;
                    a3 += Vector512.LoadUnsafe(ref pr, at + 3 * W) * dv;
                }
                a0.StoreUnsafe(ref or, (nuint)t);
                a1.StoreUnsafe(ref or, (nuint)(t + W));
                a2.StoreUnsafe(ref or, (nuint)(t + 2 * W));
                a3.StoreUnsafe(ref or, (nuint)(t + 3 * W));
            }
            for (; t + W <= length; t += W)
            {
                Vector512<double> a0 = default;
                int end = Math.Min(taps, t + W);
                for (int j = 0; j < end; j++)
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref kr, j)), Vector512.LoadUnsafe(ref pr, (nuint)(taps + t - j)), a0);
                if (withSkip) a0 += Vector512.LoadUnsafe(ref pr, (nuint)(taps + t)) * dv;
                a0.StoreUnsafe(ref or, (nuint)t);
            }
        }
        for (; t < length; t++)
        {
            double acc = 0.0;
            int end = Math.Min(taps, t + 1);
            for (int j = 0; j < end; j++) acc = Math.FusedMultiplyAdd(k[j], p[taps + t - j], acc);
            output[t] = withSkip ? acc + p[taps + t] * d : acc;
        }
    }

    /// <summary>
    /// out[t] = sum_(j &lt; k.Length) k[j] p[t + j] (taps fused-multiply-added in j order per lag), then + p[t] skip when
    /// <paramref name="skip"/> is given. p holds output.Length values and zeros after them: a block of lags starting at t stops
    /// at tap L - t (the later taps only add k[j] 0, last in each chain: the same bits for finite k, as in CorrelateReversed).
    /// </summary>
    private static void Correlate(ReadOnlySpan<double> p, ReadOnlySpan<double> k, Span<double> output, double? skip)
    {
        int length = output.Length, taps = k.Length, t = 0;
        double d = skip.GetValueOrDefault();
        bool withSkip = skip.HasValue;
        if (Vector512.IsHardwareAccelerated)
        {
            ref double pr = ref MemoryMarshal.GetReference(p);
            ref double kr = ref MemoryMarshal.GetReference(k);
            ref double or = ref MemoryMarshal.GetReference(output);
            const int W = 8;
            var dv = Vector512.Create(d);
            for (; t + 4 * W <= length; t += 4 * W)
            {
                Vector512<double> a0 = default, a1 = default, a2 = default, a3 = default;
                int end = Math.Min(taps, length - t);
                for (int j = 0; j < end; j++)
                {
                    var kj = Vector512.Create(Unsafe.Add(ref kr, j));
                    nuint at = (nuint)(t + j);
                    a0 = Vector512.FusedMultiplyAdd(kj, Vector512.LoadUnsafe(ref pr, at), a0);
                    a1 = Vector512.FusedMultiplyAdd(kj, Vector512.LoadUnsafe(ref pr, at + W), a1);
                    a2 = Vector512.FusedMultiplyAdd(kj, Vector512.LoadUnsafe(ref pr, at + 2 * W), a2);
                    a3 = Vector512.FusedMultiplyAdd(kj, Vector512.LoadUnsafe(ref pr, at + 3 * W), a3);
                }
                if (withSkip)
                {
                    nuint at = (nuint)t;
                    a0 += Vector512.LoadUnsafe(ref pr, at) * dv;
                    a1 += Vector512.LoadUnsafe(ref pr, at + W) * dv;
                    a2 += Vector512.LoadUnsafe(ref pr, at + 2 * W) * dv;
                    a3 += Vector512.LoadUnsafe(ref pr, at + 3 * W) * dv;
                }
                a0.StoreUnsafe(ref or, (nuint)t);
                a1.StoreUnsafe(ref or, (nuint)(t + W));
                a2.StoreUnsafe(ref or, (nuint)(t + 2 * W));
                a3.StoreUnsafe(ref or, (nuint)(t + 3 * W));
            }
            for (; t + W <= length; t += W)
            {
                Vector512<double> a0 = default;
                int end = Math.Min(taps, length - t);
                for (int j = 0; j < end; j++)
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref kr, j)), Vector512.LoadUnsafe(ref pr, (nuint)(t + j)), a0);
                if (withSkip) a0 += Vector512.LoadUnsafe(ref pr, (nuint)t) * dv;
                a0.StoreUnsafe(ref or, (nuint)t);
            }
        }
        for (; t < length; t++)
        {
            double acc = 0.0;
            int end = Math.Min(taps, length - t);
            for (int j = 0; j < end; j++) acc = Math.FusedMultiplyAdd(k[j], p[t + j], acc);
            output[t] = withSkip ? acc + p[t] * d : acc;
        }
    }

    /// <summary>
    /// dk[j] += sum_t g[t] p[taps + t - j] for j &lt; taps: four lags at a time share each block of g (four
    /// independent chains in lanes over t), then each lag's lanes are summed and the tail added. p's first taps entries are
    /// zeros, so lag j's terms with t &lt; j are k-independent zeros: its lanes start at the block holding t = j (the blocks
    /// before would add g 0 to lanes still at +0, which leaves them +0: the same bits for finite g).
    /// </summary>
    private static void LagDots(ReadOnlySpan<double> g, ReadOnlySpan<double> p, Span<double> dk, int taps)
    {
        int length = g.Length, j = 0;
        const int W = 8;
        int blocks = Vector512.IsHardwareAccelerated ? length / W * W : 0;
        if (blocks > 0)
        {
            ref double gr = ref MemoryMarshal.GetReference(g);
            ref double pr = ref MemoryMarshal.GetReference(p);
            for (; j + 4 <= taps; j += 4)
            {
                Vector512<double> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int t = Math.Min(j / W * W, blocks); t < blocks; t += W)
                {
                    var gv = Vector512.LoadUnsafe(ref gr, (nuint)t);
                    nuint at = (nuint)(taps + t - j);
                    a0 = Vector512.FusedMultiplyAdd(gv, Vector512.LoadUnsafe(ref pr, at), a0);
                    a1 = Vector512.FusedMultiplyAdd(gv, Vector512.LoadUnsafe(ref pr, at - 1), a1);
                    a2 = Vector512.FusedMultiplyAdd(gv, Vector512.LoadUnsafe(ref pr, at - 2), a2);
                    a3 = Vector512.FusedMultiplyAdd(gv, Vector512.LoadUnsafe(ref pr, at - 3), a3);
                }
                dk[j] += Tail(g, p, taps, j, blocks, Vector512.Sum(a0));
                dk[j + 1] += Tail(g, p, taps, j + 1, blocks, Vector512.Sum(a1));
                dk[j + 2] += Tail(g, p, taps, j + 2, blocks, Vector512.Sum(a2));
                dk[j + 3] += Tail(g, p, taps, j + 3, blocks, Vector512.Sum(a3));
            }
            for (; j < taps; j++)
            {
                Vector512<double> a0 = default;
                for (int t = Math.Min(j / W * W, blocks); t < blocks; t += W)
                    a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref gr, (nuint)t), Vector512.LoadUnsafe(ref pr, (nuint)(taps + t - j)), a0);
                dk[j] += Tail(g, p, taps, j, blocks, Vector512.Sum(a0));
            }
        }
        for (; j < taps; j++) dk[j] += Tail(g, p, taps, j, 0, 0.0);

        static double Tail(ReadOnlySpan<double> g, ReadOnlySpan<double> p, int taps, int j, int from, double sum)
        {
            for (int t = from; t < g.Length; t++) sum = Math.FusedMultiplyAdd(g[t], p[taps + t - j], sum);
            return sum;
        }
    }

    private static void CheckSkip(ReadOnlySpan<double> skip, int channels)
    {
        if (!skip.IsEmpty && skip.Length != channels)
            throw new ArgumentException($"skip has length {skip.Length}, expected one entry per channel, C = {channels} (or none).", nameof(skip));
    }

    private static void CheckDirect(int uLength, int kLength, int yLength, int sequences, int channels, int length, int kernelLength, string yName)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sequences);
        ArgumentOutOfRangeException.ThrowIfNegative(channels);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (kernelLength < 1) throw new ArgumentOutOfRangeException(nameof(kernelLength), $"kernelLength = {kernelLength}, expected >= 1.");
        long rows = (long)sequences * channels * length, ck = (long)channels * kernelLength;
        if (uLength != rows) throw new ArgumentException($"u has length {uLength}, expected S * C * L = {rows}.", "u");
        if (yLength != rows) throw new ArgumentException($"{yName} has length {yLength}, expected S * C * L = {rows}.", yName);
        if (kLength != ck) throw new ArgumentException($"k has length {kLength}, expected C * Lk = {ck}.", "k");
    }
}
