using System.Buffers;
using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Reference.Core.Fourier;

/// <summary>
/// Causal linear convolution of every channel with its own kernel, the primitive behind the long
/// convolutions of H3, Hyena and S4's convolution mode (Gu et al. 2022, "Efficiently Modeling Long
/// Sequences with Structured State Spaces", sec. 3.3; Poli et al. 2023, "Hyena Hierarchy", sec. 3.3):
///   y[c, t] = sum_{j = 0}^{min(t, Lk - 1)} k[c, j] u[c, t - j],   0 &lt;= t &lt; L.
/// Fast path (convolution theorem): y = IDFT_n(DFT_n(u) * DFT_n(k)) restricted to t &lt; L, with both
/// sequences zero-padded to n. FFT size: n = the smallest power of two >= L + Lk' - 1, where
/// Lk' = min(Lk, L) (taps beyond L - 1 never reach an output); then the circular wrap-around of
/// the length-n product cannot reach any t &lt; L, so the result is the linear convolution.
/// Real FFTs (<see cref="RealFftPlan{T}"/>) are used, plans are cached per (T, n) and shared by
/// threads, and the buffers of a call come from the shared ArrayPool (nothing else is allocated).
/// Glossary: C = channels, L = sequence length, Lk = kernel length, n = FFT size, u = input,
/// k = kernel (filter), y = output.
/// Deliberate simplification: one FFT size per call (no overlap-add blocking for Lk much shorter
/// than L); the spectrum of k is recomputed per call.
/// </summary>
public static class FftConvolution
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
    /// The fast tier: same contract as <see cref="NaiveCausal"/> in float32 or float64, computed by
    /// real FFTs of size n (see the class remarks); channels are split over up to
    /// <paramref name="maxThreads"/> threads (1 = the calling thread only, 0 = every core).
    /// </summary>
    public static void Causal<T>(ReadOnlySpan<T> u, ReadOnlySpan<T> k, Span<T> y,
        int channels, int length, int kernelLength, int maxThreads = 1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(u.Length, k.Length, y.Length, channels, length, kernelLength, maxThreads);
        if (channels == 0 || length == 0) return;
        int taps = Math.Min(kernelLength, length);
        int n = FftSize(length, kernelLength);
        var plan = PlanCache<T>.Get(n);
        int threads = maxThreads == 0 ? Environment.ProcessorCount : maxThreads;
        threads = Math.Min(threads, channels);
        if (threads <= 1)
        {
            RunChannels(plan, u, k, y, 0, channels, length, kernelLength, taps);
            return;
        }
        // Spans cannot be captured by the worker lambdas: pin them and pass raw memory.
        unsafe
        {
            fixed (T* pu = u) fixed (T* pk = k) fixed (T* py = y)
            {
                T* au = pu, ak = pk, ay = py;
                int perThread = (channels + threads - 1) / threads;
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, w =>
                {
                    int c0 = w * perThread, c1 = Math.Min(channels, c0 + perThread);
                    if (c0 >= c1) return;
                    RunChannels(plan,
                        new ReadOnlySpan<T>(au, channels * length), new ReadOnlySpan<T>(ak, channels * kernelLength),
                        new Span<T>(ay, channels * length), c0, c1, length, kernelLength, taps);
                });
            }
        }
    }

    /// <summary>The FFT size used for (L, Lk): the smallest power of two >= L + min(Lk, L) - 1.</summary>
    public static int FftSize(int length, int kernelLength)
    {
        int taps = Math.Min(kernelLength, length);
        return (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(length + taps - 1, 1));
    }

    private static void RunChannels<T>(RealFftPlan<T> plan, ReadOnlySpan<T> u, ReadOnlySpan<T> k, Span<T> y,
        int c0, int c1, int length, int kernelLength, int taps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = plan.Length, bins = plan.Bins;
        int spectrum = Math.Max(n, bins);
        T[] buffer = ArrayPool<T>.Shared.Rent(n);
        T[] ur = ArrayPool<T>.Shared.Rent(spectrum), ui = ArrayPool<T>.Shared.Rent(spectrum);
        T[] kr = ArrayPool<T>.Shared.Rent(bins), ki = ArrayPool<T>.Shared.Rent(bins);
        try
        {
            var x = buffer.AsSpan(0, n);
            var sur = ur.AsSpan(0, spectrum);
            var sui = ui.AsSpan(0, spectrum);
            var skr = kr.AsSpan(0, bins);
            var ski = ki.AsSpan(0, bins);
            for (int c = c0; c < c1; c++)
            {
                k.Slice(c * kernelLength, taps).CopyTo(x);
                x[taps..].Clear();
                plan.ForwardCore(x, skr, ski);
                u.Slice(c * length, length).CopyTo(x);
                x[length..].Clear();
                plan.ForwardCore(x, sur, sui);
                ComplexMultiply(sur[..bins], sui[..bins], skr, ski);
                plan.InverseDestructive(sur, sui, x);
                x[..length].CopyTo(y.Slice(c * length, length));
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(buffer);
            ArrayPool<T>.Shared.Return(ur);
            ArrayPool<T>.Shared.Return(ui);
            ArrayPool<T>.Shared.Return(kr);
            ArrayPool<T>.Shared.Return(ki);
        }
    }

    /// <summary>
    /// a = a * b elementwise over split complex spans. One fused Vector256 pass (TensorPrimitives
    /// would need four passes and a temporary for (ar br - ai bi, ar bi + ai br)).
    /// </summary>
    internal static void ComplexMultiply<T>(Span<T> ar, Span<T> ai, ReadOnlySpan<T> br, ReadOnlySpan<T> bi)
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

    private static void Check(int uLength, int kLength, int yLength, int channels, int length, int kernelLength, int maxThreads)
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
        if (yLength != cu) throw new ArgumentException($"y has length {yLength}, expected channels * length = {cu}.", "y");
    }

    /// <summary>One real-FFT plan per (T, n), created on first use; safe under concurrent callers.</summary>
    private static class PlanCache<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        private static readonly ConcurrentDictionary<int, RealFftPlan<T>> Plans = new();

        public static RealFftPlan<T> Get(int n) => Plans.GetOrAdd(n, static size => new RealFftPlan<T>(size));
    }
}
