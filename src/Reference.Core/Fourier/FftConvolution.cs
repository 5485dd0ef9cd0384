using System.Buffers;
using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Reference.Core.Kernels;

namespace Reference.Core.Fourier;

/// <summary>
/// Causal linear convolution of every channel with its own kernel, the primitive behind the long
/// convolutions of S4's convolutional mode (Gu, Goel and Re 2022, "Efficiently Modeling Long
/// Sequences with Structured State Spaces", sec. 2.4), H3 (Fu et al. 2023, "Hungry Hungry Hippos",
/// sec. 4, FlashConv) and Hyena (Poli et al. 2023, "Hyena Hierarchy"):
///   y[c, t] = sum_{j = 0}^{min(t, Lk - 1)} k[c, j] u[c, t - j],   0 &lt;= t &lt; L.
/// Fast path (convolution theorem): y = IDFT_n(DFT_n(u) * DFT_n(k)) restricted to t &lt; L, with both
/// sequences zero-padded to n. FFT size: n = the smallest power of two >= L + Lk' - 1, where
/// Lk' = min(Lk, L) (taps beyond L - 1 never reach an output); then the circular wrap-around of
/// the length-n product cannot reach any t &lt; L, so the result is the linear convolution.
/// Real FFTs (<see cref="RealFftPlan{T}"/>) are used, plans are cached per (T, n) and shared by
/// threads, and the buffers of a call come from the shared ArrayPool (nothing else is allocated).
/// Glossary: C = channels, L = sequence length, Lk = kernel length, n = FFT size, u = input,
/// k = kernel (filter), y = output.
/// Gradients: <see cref="CausalBackward"/> (correlation theorem) against <see cref="NaiveCausalBackward"/>.
/// NaN/Inf policy: the FFT mixes every sample of a channel, so a NaN or Inf anywhere in u[c] or
/// k[c] reaches every output of channel c (the direct sum would only reach t >= its position);
/// other channels are unaffected.
/// Short kernels (Lk' &lt;= <see cref="DirectMaxTaps"/>) use the direct sum vectorized over t instead.
/// Deliberate simplification: one FFT size per call (no overlap-add blocking for Lk much shorter
/// than L); the spectrum of k is recomputed per call (once per channel).
/// </summary>
public static partial class FftConvolution
{
    /// <summary>
    /// The definition: the direct sum in float64, for each (c, t) adding the terms j = 0, 1, ...,
    /// min(t, Lk - 1) in that order into an accumulator starting at 0.
    /// u, y [C x L] and k [C x Lk] row-major.
    /// </summary>
    public static void NaiveCausal(ReadOnlySpan<double> u, ReadOnlySpan<double> k, Span<double> y,
        int channels, int length, int kernelLength)
    {
        Check(u.Length, k.Length, y.Length, channels, length, kernelLength, 1);
        for (int c = 0; c < channels; c++)
        {
            var uc = u.Slice(c * length, length);
            var kc = k.Slice(c * kernelLength, kernelLength);
            for (int t = 0; t < length; t++)
            {
                double acc = 0.0;
                int last = Math.Min(t, kernelLength - 1);
                for (int j = 0; j <= last; j++) acc += kc[j] * uc[t - j];
                y[c * length + t] = acc;
            }
        }
    }

    /// <summary>
    /// Kernels with at most this many effective taps (Lk' = min(Lk, L)) take the direct route: L Lk'
    /// vectorized multiply-adds beat three real FFTs of size n there (the crossover is measured:
    /// bench/NOTES.md, "FFT causal convolution").
    /// </summary>
    public const int DirectMaxTaps = 32;

    /// <summary>
    /// The fast tier: same contract as <see cref="NaiveCausal"/> in float32 or float64. Kernels
    /// longer than <see cref="DirectMaxTaps"/> go through real FFTs of size n (see the class
    /// remarks), shorter ones through the vectorized direct sum; channels are split over up to
    /// <paramref name="maxThreads"/> threads (1 = the calling thread only, 0 = every core).
    /// </summary>
    public static void Causal<T>(ReadOnlySpan<T> u, ReadOnlySpan<T> k, Span<T> y,
        int channels, int length, int kernelLength, int maxThreads = 1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(u.Length, k.Length, y.Length, channels, length, kernelLength, maxThreads);
        if (channels == 0 || length == 0) return;
        var plan = Math.Min(kernelLength, length) <= DirectMaxTaps ? null : PlanCache<T>.Get(FftSize(length, kernelLength));
        RunChannelBlocks(false, plan, u, default, k, y, default, default, 1, channels, length, kernelLength, maxThreads);
    }

    /// <summary>
    /// The definition of the gradients of <see cref="NaiveCausal"/> for an upstream gradient dy [C x L]
    /// (the adjoint of the linear maps u -> y and k -> y), float64 direct sums:
    ///   du[c, s] = sum_{j = 0}^{min(Lk - 1, L - 1 - s)} k[c, j] dy[c, s + j]   (j ascending),
    ///   dk[c, j] = sum_{t = j}^{L - 1} dy[c, t] u[c, t - j]                   (t ascending; 0 for j >= L).
    /// u, dy, du [C x L]; k, dk [C x Lk].
    /// </summary>
    public static void NaiveCausalBackward(ReadOnlySpan<double> dy, ReadOnlySpan<double> u, ReadOnlySpan<double> k,
        Span<double> du, Span<double> dk, int channels, int length, int kernelLength)
    {
        Check(u.Length, k.Length, dy.Length, channels, length, kernelLength, 1, nameof(dy));
        CheckGradients(du.Length, dk.Length, channels, length, kernelLength);
        for (int c = 0; c < channels; c++)
        {
            var dyc = dy.Slice(c * length, length);
            var uc = u.Slice(c * length, length);
            var kc = k.Slice(c * kernelLength, kernelLength);
            for (int s = 0; s < length; s++)
            {
                double acc = 0.0;
                int last = Math.Min(kernelLength - 1, length - 1 - s);
                for (int j = 0; j <= last; j++) acc += kc[j] * dyc[s + j];
                du[c * length + s] = acc;
            }
            for (int j = 0; j < kernelLength; j++)
            {
                double acc = 0.0;
                for (int t = j; t < length; t++) acc += dyc[t] * uc[t - j];
                dk[c * kernelLength + j] = acc;
            }
        }
    }

    /// <summary>
    /// Fast gradients (same contract as <see cref="NaiveCausalBackward"/>) by the correlation theorem:
    /// du = IDFT(DY conj(K)) and dk = IDFT(DY conj(U)), both restricted to their first L (resp. Lk')
    /// lags. With the forward FFT size n >= L + Lk' - 1 the circular wrap-around of the negative lags
    /// lands at indices >= L (resp. >= Lk') and is cut away; taps j >= L get dk = 0.
    /// Five real FFTs of size n per channel.
    /// </summary>
    public static void CausalBackward<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> u, ReadOnlySpan<T> k, Span<T> du, Span<T> dk,
        int channels, int length, int kernelLength, int maxThreads = 1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(u.Length, k.Length, dy.Length, channels, length, kernelLength, maxThreads, nameof(dy));
        CheckGradients(du.Length, dk.Length, channels, length, kernelLength);
        if (channels == 0) return;
        if (length == 0)
        {
            dk.Clear();
            return;
        }
        // The batched core with one sequence: the same transforms and products (DY conj(K) and DY conj(U) written
        // rather than multiplied in place, the same expressions), so the same bits.
        RunChannelBlocks(true, PlanCache<T>.Get(FftSize(length, kernelLength)), dy, u, k, du, dk, default, 1, channels, length,
            kernelLength, maxThreads);
    }

    /// <summary>
    /// (cr, ci) = (ar, ai) conj(br, bi) elementwise, or (cr, ci) += it with <see cref="Accumulate"/> (the product rounded
    /// before the sum, as a product written and then added). c may be a or b: each element (or vector) is loaded before it is stored.
    /// </summary>
    internal static void MultiplyConjugate<T, TStore>(ReadOnlySpan<T> ar, ReadOnlySpan<T> ai, ReadOnlySpan<T> br, ReadOnlySpan<T> bi,
        Span<T> cr, Span<T> ci) where T : unmanaged, IFloatingPointIeee754<T> where TStore : IComplexStore
    {
        int count = ar.Length, i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            ref T pr = ref MemoryMarshal.GetReference(ar);
            ref T pi = ref MemoryMarshal.GetReference(ai);
            ref T qr = ref MemoryMarshal.GetReference(br);
            ref T qi = ref MemoryMarshal.GetReference(bi);
            ref T tr = ref MemoryMarshal.GetReference(cr);
            ref T ti = ref MemoryMarshal.GetReference(ci);
            for (; i <= count - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                var xr = Vector256.LoadUnsafe(ref pr, (nuint)i);
                var xi = Vector256.LoadUnsafe(ref pi, (nuint)i);
                var zr = Vector256.LoadUnsafe(ref qr, (nuint)i);
                var zi = Vector256.LoadUnsafe(ref qi, (nuint)i);
                var re = xr * zr + xi * zi;
                var im = xi * zr - xr * zi;
                if (TStore.Adds)
                {
                    re = Vector256.LoadUnsafe(ref tr, (nuint)i) + re;
                    im = Vector256.LoadUnsafe(ref ti, (nuint)i) + im;
                }
                re.StoreUnsafe(ref tr, (nuint)i);
                im.StoreUnsafe(ref ti, (nuint)i);
            }
        }
        for (; i < count; i++)
        {
            T xr = ar[i], xi = ai[i], zr = br[i], zi = bi[i];
            T re = xr * zr + xi * zi, im = xi * zr - xr * zi;
            cr[i] = TStore.Adds ? cr[i] + re : re;
            ci[i] = TStore.Adds ? ci[i] + im : im;
        }
    }

    /// <summary>How <see cref="MultiplyConjugate{T, TStore}"/> stores: a type parameter, so the JIT compiles each form without the test.</summary>
    internal interface IComplexStore
    {
        /// <summary>Whether the product is added to the destination rather than written over it.</summary>
        static abstract bool Adds { get; }
    }

    /// <summary>c = a conj(b).</summary>
    internal readonly struct Overwrite : IComplexStore
    {
        public static bool Adds => false;
    }

    /// <summary>c += a conj(b).</summary>
    internal readonly struct Accumulate : IComplexStore
    {
        public static bool Adds => true;
    }

    private static void CheckGradients(int duLength, int dkLength, int channels, int length, int kernelLength)
    {
        long cu = (long)channels * length, ck = (long)channels * kernelLength;
        if (duLength != cu) throw new ArgumentException($"du has length {duLength}, expected channels * length = {cu}.", "du");
        if (dkLength != ck) throw new ArgumentException($"dk has length {dkLength}, expected channels * kernelLength = {ck}.", "dk");
    }

    /// <summary>
    /// The direct route of the fast tier for short kernels: per channel, y = k[0] u followed by
    /// y[j..L) += k[j] u[0..L-j) for j = 1, ..., Lk' - 1 (TensorPrimitives over t), so each output
    /// adds its terms in the definition's order j = 0, 1, ... .
    /// </summary>
    internal static void RunDirectChannels<T>(ReadOnlySpan<T> u, ReadOnlySpan<T> k, Span<T> y,
        int c0, int c1, int length, int kernelLength, int taps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int c = c0; c < c1; c++)
        {
            var uc = u.Slice(c * length, length);
            var kc = k.Slice(c * kernelLength, taps);
            var yc = y.Slice(c * length, length);
            TensorPrimitives.Multiply(uc, kc[0], yc);
            for (int j = 1; j < taps; j++)
                TensorPrimitives.MultiplyAdd(uc[..(length - j)], kc[j], yc[j..], yc[j..]);
        }
    }

    /// <summary>Both routes of the fast tier on every channel, for tests and benches: direct = true forces the direct sum.</summary>
    internal static void CausalRoute<T>(ReadOnlySpan<T> u, ReadOnlySpan<T> k, Span<T> y,
        int channels, int length, int kernelLength, bool direct) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(u.Length, k.Length, y.Length, channels, length, kernelLength, 1);
        if (channels == 0 || length == 0) return;
        int taps = Math.Min(kernelLength, length);
        if (direct) RunDirectChannels(u, k, y, 0, channels, length, kernelLength, taps);
        else RunBatchedChannels(PlanCache<T>.Get(FftSize(length, kernelLength)), u, k, y, default, 0, channels, 1, channels, length,
            kernelLength, taps);
    }

    /// <summary>The FFT size used for (L, Lk): the smallest power of two >= L + min(Lk, L) - 1.</summary>
    public static int FftSize(int length, int kernelLength)
    {
        int taps = Math.Min(kernelLength, length);
        return (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(length + taps - 1, 1));
    }

    /// <summary>
    /// a = a * b elementwise over split complex spans. One fused Vector256 pass (TensorPrimitives
    /// would need four passes and a temporary for (ar br - ai bi, ar bi + ai br)).
    /// </summary>
    public static void ComplexMultiply<T>(Span<T> ar, Span<T> ai, ReadOnlySpan<T> br, ReadOnlySpan<T> bi)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int count = ar.Length, i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            ref T pr = ref MemoryMarshal.GetReference(ar);
            ref T pi = ref MemoryMarshal.GetReference(ai);
            ref T qr = ref MemoryMarshal.GetReference(br);
            ref T qi = ref MemoryMarshal.GetReference(bi);
            for (; i <= count - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                var xr = Vector256.LoadUnsafe(ref pr, (nuint)i);
                var xi = Vector256.LoadUnsafe(ref pi, (nuint)i);
                var zr = Vector256.LoadUnsafe(ref qr, (nuint)i);
                var zi = Vector256.LoadUnsafe(ref qi, (nuint)i);
                (xr * zr - xi * zi).StoreUnsafe(ref pr, (nuint)i);
                (xr * zi + xi * zr).StoreUnsafe(ref pi, (nuint)i);
            }
        }
        for (; i < count; i++)
        {
            T xr = ar[i], xi = ai[i];
            ar[i] = xr * br[i] - xi * bi[i];
            ai[i] = xr * bi[i] + xi * br[i];
        }
    }

    private static void Check(int uLength, int kLength, int yLength, int channels, int length, int kernelLength, int maxThreads, string yName = "y")
    {
        if (channels < 0) throw new ArgumentOutOfRangeException(nameof(channels), channels, $"channels must be >= 0, got {channels}.");
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), length, $"length must be >= 0, got {length}.");
        if (kernelLength < 1) throw new ArgumentOutOfRangeException(nameof(kernelLength), kernelLength, $"kernelLength must be >= 1, got {kernelLength}.");
        if (maxThreads < 0) throw new ArgumentOutOfRangeException(nameof(maxThreads), maxThreads, $"maxThreads must be >= 0, got {maxThreads}.");
        if ((long)length + kernelLength > (1 << 29))
            throw new ArgumentOutOfRangeException(nameof(length), length, $"length + kernelLength must be <= 2^29, got {(long)length + kernelLength}.");
        long cu = (long)channels * length, ck = (long)channels * kernelLength;
        if (uLength != cu) throw new ArgumentException($"u has length {uLength}, expected channels * length = {cu}.", "u");
        if (kLength != ck) throw new ArgumentException($"k has length {kLength}, expected channels * kernelLength = {ck}.", "k");
        if (yLength != cu) throw new ArgumentException($"{yName} has length {yLength}, expected channels * length = {cu}.", yName);
    }

    /// <summary>One real-FFT plan per (T, n), created on first use; safe under concurrent callers.</summary>
    private static class PlanCache<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        private static readonly ConcurrentDictionary<int, RealFftPlan<T>> Plans = new();

        public static RealFftPlan<T> Get(int n) => Plans.GetOrAdd(n, static size => new RealFftPlan<T>(size));
    }
}
