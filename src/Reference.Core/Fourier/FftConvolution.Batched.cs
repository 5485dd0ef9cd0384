using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Reference.Core.Kernels;

namespace Reference.Core.Fourier;

/// <summary>
/// Batched forms of <see cref="FftConvolution.Causal{T}"/> and <see cref="FftConvolution.CausalBackward{T}"/>
/// for S sequences that share one kernel per channel (u, y, dy, du [S, C, L], k, dk [C, Lk]): each
/// channel's kernel spectrum is transformed once for all S sequences instead of once per sequence, and
/// the kernel gradient dk = sum_s IDFT(DY_s conj(U_s)) is summed in the frequency domain (in sequence
/// order) and transformed back once per channel (linearity of the DFT). Forward: 2 real FFTs per
/// (sequence, channel) plus 1 per channel (3 per pair unbatched); backward: 3 per pair plus 2 per
/// channel (5 per pair unbatched), 2 per pair when the forward kept u's spectra (its uSpectra argument). y and du are bitwise those of the per-sequence calls (the same
/// transforms and products); dk differs from the per-sequence sum by float64 reassociation only.
/// The FFT route only (every kernel of at least <see cref="DirectMaxTaps"/> + 1 effective taps);
/// channels are split over up to maxThreads threads (1 = the calling thread, 0 = every core).
/// </summary>
public static partial class FftConvolution
{
    /// <summary>
    /// y[s, c] = k[c] * u[s, c] (causal, first L outputs) for every sequence s; every y element written.
    /// When <paramref name="uSpectra"/> is not empty (S C x 2 <see cref="SpectrumBins"/> values) it receives each
    /// row's spectrum as the forward computed it, [Re U | Im U] per row s C + c, for <see cref="CausalBackwardBatched{T}"/>
    /// to reuse (a training step then transforms u once instead of twice).
    /// </summary>
    public static void CausalBatched<T>(ReadOnlySpan<T> u, ReadOnlySpan<T> k, Span<T> y, int sequences,
        int channels, int length, int kernelLength, int maxThreads = 1, Span<T> uSpectra = default) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckBatched(u.Length, k.Length, y.Length, sequences, channels, length, kernelLength, maxThreads);
        CheckSpectra(uSpectra.Length, sequences, channels, length, kernelLength, nameof(uSpectra));
        if (sequences == 0 || channels == 0 || length == 0) return;
        int taps = Math.Min(kernelLength, length);
        var plan = PlanCache<T>.Get(FftSize(length, kernelLength));
        int threads = Math.Min(maxThreads == 0 ? KernelThreads.Default : maxThreads, channels);
        if (threads <= 1)
        {
            RunBatchedChannels(plan, u, k, y, uSpectra, 0, channels, sequences, channels, length, kernelLength, taps);
            return;
        }
        unsafe
        {
            fixed (T* pu = u) fixed (T* pk = k) fixed (T* py = y) fixed (T* ps = uSpectra)
            {
                T* au = pu, ak = pk, ay = py, aspec = ps;
                int perThread = (channels + threads - 1) / threads, total = sequences * channels * length, ck = channels * kernelLength;
                int spectra = uSpectra.Length;
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, w =>
                {
                    int c0 = w * perThread, c1 = Math.Min(channels, c0 + perThread);
                    if (c0 < c1)
                        RunBatchedChannels(plan, new ReadOnlySpan<T>(au, total), new ReadOnlySpan<T>(ak, ck), new Span<T>(ay, total),
                            new Span<T>(aspec, spectra), c0, c1, sequences, channels, length, kernelLength, taps);
                });
            }
        }
    }

    /// <summary>Bins of the real spectrum one row of <see cref="CausalBatched{T}"/> is transformed to (n / 2 + 1, n = <see cref="FftSize"/>).</summary>
    public static int SpectrumBins(int length, int kernelLength) => FftSize(length, kernelLength) / 2 + 1;

    private static void CheckSpectra(int spectraLength, int sequences, int channels, int length, int kernelLength, string name)
    {
        if (spectraLength == 0) return;
        long expected = (long)sequences * channels * 2 * SpectrumBins(length, kernelLength);
        if (spectraLength != expected)
            throw new ArgumentException($"{name} has length {spectraLength}, expected S * C * 2 * SpectrumBins = {expected} (or empty).", name);
    }

    /// <summary>
    /// Gradients of <see cref="CausalBatched{T}"/>: du[s, c] = IDFT(DY conj(K)) (first L lags) and
    /// dk[c] = IDFT(sum_s DY_s conj(U_s)) (first Lk' lags, taps from L on get 0); every du and dk element written.
    /// </summary>
    /// <remarks><paramref name="uSpectra"/>, when not empty, holds u's spectra as <see cref="CausalBatched{T}"/> wrote them; they
    /// replace the transforms of u (the same values, so the results are bitwise those without them).</remarks>
    public static void CausalBackwardBatched<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> u, ReadOnlySpan<T> k, Span<T> du, Span<T> dk,
        int sequences, int channels, int length, int kernelLength, int maxThreads = 1, ReadOnlySpan<T> uSpectra = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckBatched(u.Length, k.Length, dy.Length, sequences, channels, length, kernelLength, maxThreads, nameof(dy));
        CheckSpectra(uSpectra.Length, sequences, channels, length, kernelLength, nameof(uSpectra));
        if (du.Length != u.Length) throw new ArgumentException($"du has length {du.Length}, expected S * C * L = {u.Length}.", nameof(du));
        if (dk.Length != k.Length) throw new ArgumentException($"dk has length {dk.Length}, expected C * Lk = {k.Length}.", nameof(dk));
        if (channels == 0) return;
        if (sequences == 0 || length == 0)
        {
            dk.Clear();
            return;
        }
        int taps = Math.Min(kernelLength, length);
        var plan = PlanCache<T>.Get(FftSize(length, kernelLength));
        int threads = Math.Min(maxThreads == 0 ? KernelThreads.Default : maxThreads, channels);
        if (threads <= 1)
        {
            RunBatchedBackwardChannels(plan, dy, u, k, du, dk, uSpectra, 0, channels, sequences, channels, length, kernelLength, taps);
            return;
        }
        unsafe
        {
            fixed (T* pdy = dy) fixed (T* pu = u) fixed (T* pk = k) fixed (T* pdu = du) fixed (T* pdk = dk) fixed (T* ps = uSpectra)
            {
                T* ady = pdy, au = pu, ak = pk, adu = pdu, adk = pdk, aspec = ps;
                int perThread = (channels + threads - 1) / threads, total = sequences * channels * length, ck = channels * kernelLength;
                int spectra = uSpectra.Length;
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, w =>
                {
                    int c0 = w * perThread, c1 = Math.Min(channels, c0 + perThread);
                    if (c0 < c1)
                        RunBatchedBackwardChannels(plan, new ReadOnlySpan<T>(ady, total), new ReadOnlySpan<T>(au, total), new ReadOnlySpan<T>(ak, ck),
                            new Span<T>(adu, total), new Span<T>(adk, ck), new ReadOnlySpan<T>(aspec, spectra), c0, c1, sequences, channels, length, kernelLength, taps);
                });
            }
        }
    }

    private static void RunBatchedChannels<T>(RealFftPlan<T> plan, ReadOnlySpan<T> u, ReadOnlySpan<T> k, Span<T> y, Span<T> uSpectra,
        int c0, int c1, int sequences, int channels, int length, int kernelLength, int taps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = plan.Length, bins = plan.Bins, spectrum = Math.Max(n, bins), slab = channels * length;
        T[] ur = ArrayPool<T>.Shared.Rent(spectrum), ui = ArrayPool<T>.Shared.Rent(spectrum);
        T[] kr = ArrayPool<T>.Shared.Rent(spectrum), ki = ArrayPool<T>.Shared.Rent(spectrum);
        try
        {
            var sur = ur.AsSpan(0, spectrum);
            var sui = ui.AsSpan(0, spectrum);
            var skr = kr.AsSpan(0, spectrum);
            var ski = ki.AsSpan(0, spectrum);
            for (int c = c0; c < c1; c++)
            {
                plan.ForwardCore(k.Slice(c * kernelLength, taps), skr, ski);
                for (int s = 0; s < sequences; s++)
                {
                    int row = s * slab + c * length;
                    plan.ForwardCore(u.Slice(row, length), sur, sui);
                    if (!uSpectra.IsEmpty)
                    {
                        var kept = uSpectra.Slice((s * channels + c) * 2 * bins, 2 * bins);
                        sur[..bins].CopyTo(kept);
                        sui[..bins].CopyTo(kept[bins..]);
                    }
                    ComplexMultiply(sur[..bins], sui[..bins], skr[..bins], ski[..bins]);
                    plan.InverseDestructive(sur, sui, y.Slice(row, length));
                }
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(ur);
            ArrayPool<T>.Shared.Return(ui);
            ArrayPool<T>.Shared.Return(kr);
            ArrayPool<T>.Shared.Return(ki);
        }
    }

    private static void RunBatchedBackwardChannels<T>(RealFftPlan<T> plan, ReadOnlySpan<T> dy, ReadOnlySpan<T> u, ReadOnlySpan<T> k,
        Span<T> du, Span<T> dk, ReadOnlySpan<T> uSpectra, int c0, int c1, int sequences, int channels, int length, int kernelLength, int taps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = plan.Length, bins = plan.Bins, spectrum = Math.Max(n, bins), slab = channels * length;
        T[] gr = ArrayPool<T>.Shared.Rent(bins), gi = ArrayPool<T>.Shared.Rent(bins);
        T[] ur = ArrayPool<T>.Shared.Rent(spectrum), ui = ArrayPool<T>.Shared.Rent(spectrum);
        T[] kr = ArrayPool<T>.Shared.Rent(spectrum), ki = ArrayPool<T>.Shared.Rent(spectrum);
        T[] wr = ArrayPool<T>.Shared.Rent(spectrum), wi = ArrayPool<T>.Shared.Rent(spectrum);
        T[] ar = ArrayPool<T>.Shared.Rent(spectrum), ai = ArrayPool<T>.Shared.Rent(spectrum);
        try
        {
            Span<T> sgr = gr.AsSpan(0, bins), sgi = gi.AsSpan(0, bins), sur = ur.AsSpan(0, spectrum), sui = ui.AsSpan(0, spectrum);
            Span<T> skr = kr.AsSpan(0, spectrum), ski = ki.AsSpan(0, spectrum), swr = wr.AsSpan(0, spectrum), swi = wi.AsSpan(0, spectrum);
            Span<T> sar = ar.AsSpan(0, spectrum), sai = ai.AsSpan(0, spectrum);
            for (int c = c0; c < c1; c++)
            {
                plan.ForwardCore(k.Slice(c * kernelLength, taps), skr, ski);
                for (int s = 0; s < sequences; s++)
                {
                    int row = s * slab + c * length;
                    plan.ForwardCore(dy.Slice(row, length), sgr, sgi);
                    ReadOnlySpan<T> ukr = sur[..bins], uki = sui[..bins];
                    if (uSpectra.IsEmpty) plan.ForwardCore(u.Slice(row, length), sur, sui);
                    else
                    {
                        var kept = uSpectra.Slice((s * channels + c) * 2 * bins, 2 * bins);
                        ukr = kept[..bins];
                        uki = kept[bins..];
                    }
                    // DY conj(K) into the inverse's buffers, DY conj(U) written (s = 0) or added to the sum: the products
                    // and sums of copying K and U and multiplying in place, without the copies.
                    MultiplyConjugate<T, Overwrite>(sgr, sgi, skr[..bins], ski[..bins], swr[..bins], swi[..bins]);
                    if (s == 0) MultiplyConjugate<T, Overwrite>(sgr, sgi, ukr, uki, sar[..bins], sai[..bins]);
                    else MultiplyConjugate<T, Accumulate>(sgr, sgi, ukr, uki, sar[..bins], sai[..bins]);
                    plan.InverseDestructive(swr, swi, du.Slice(row, length));
                }
                var dkc = dk.Slice(c * kernelLength, kernelLength);
                plan.InverseDestructive(sar, sai, dkc[..taps]);
                dkc[taps..].Clear();
            }
        }
        finally
        {
            foreach (var a in new[] { gr, gi, ur, ui, kr, ki, wr, wi, ar, ai }) ArrayPool<T>.Shared.Return(a);
        }
    }

    private static void CheckBatched(int uLength, int kLength, int yLength, int sequences, int channels, int length, int kernelLength,
        int maxThreads, string yName = "y")
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sequences);
        ArgumentOutOfRangeException.ThrowIfNegative(channels);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        if (kernelLength < 1) throw new ArgumentOutOfRangeException(nameof(kernelLength), $"kernelLength = {kernelLength}, expected >= 1.");
        long rows = (long)sequences * channels * length, ck = (long)channels * kernelLength;
        if (uLength != rows) throw new ArgumentException($"u has length {uLength}, expected S * C * L = {rows}.", "u");
        if (yLength != rows) throw new ArgumentException($"{yName} has length {yLength}, expected S * C * L = {rows}.", yName);
        if (kLength != ck) throw new ArgumentException($"k has length {kLength}, expected C * Lk = {ck}.", "k");
    }
}
