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
        RunChannelBlocks(false, PlanCache<T>.Get(FftSize(length, kernelLength)), u, default, k, y, default, uSpectra, sequences, channels,
            length, kernelLength, maxThreads);
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
        RunChannelBlocks(true, PlanCache<T>.Get(FftSize(length, kernelLength)), dy, u, k, du, dk, uSpectra, sequences, channels,
            length, kernelLength, maxThreads);
    }

    /// <summary>
    /// Every entry point's work over channels [0, C): the forward (x = u, y written, uSpectra written when not empty; a null
    /// plan takes the direct route, one sequence only) or the backward (x = dy, u, du = y and dk written, uSpectra read when
    /// not empty). Channels are split into blocks taken dynamically (about 8 per thread), not one fixed share per thread: on a
    /// shared machine a helper that starts late only takes fewer blocks, where a fixed half made the call wait for the late
    /// helper's whole half (the two-thread spread of the Into median, bench/NOTES.md). Each channel's result does not depend
    /// on the split. The job is pooled per calling thread and ParallelItems allocates nothing per call (Parallel.For did).
    /// </summary>
    private static void RunChannelBlocks<T>(bool backward, RealFftPlan<T>? plan, ReadOnlySpan<T> x, ReadOnlySpan<T> u, ReadOnlySpan<T> k,
        Span<T> y, Span<T> dk, ReadOnlySpan<T> uSpectra, int sequences, int channels, int length, int kernelLength, int maxThreads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int taps = Math.Min(kernelLength, length);
        int threads = Math.Min(maxThreads == 0 ? KernelThreads.Default : maxThreads, channels);
        if (threads <= 1)
        {
            if (backward) RunBatchedBackwardChannels(plan!, x, u, k, y, dk, uSpectra, 0, channels, sequences, channels, length, kernelLength, taps);
            else if (plan is null) RunDirectChannels(x, k, y, 0, channels, length, kernelLength, taps);
            // The forward's uSpectra is the caller's writable span, passed here read-only to share the signature with the backward.
            else RunBatchedChannels(plan, x, k, y, MemoryMarshal.CreateSpan(ref MemoryMarshal.GetReference(uSpectra), uSpectra.Length),
                0, channels, sequences, channels, length, kernelLength, taps);
            return;
        }
        // Spans cannot be stored in the pooled job: pin them and pass raw memory.
        unsafe
        {
            fixed (T* px = x) fixed (T* pu = u) fixed (T* pk = k) fixed (T* py = y) fixed (T* pdk = dk) fixed (T* ps = uSpectra)
            {
                var job = PerThread<ChannelJob<T>, int>.Take(0);
                job.X = px;
                job.U = pu;
                job.K = pk;
                job.Y = py;
                job.Dk = pdk;
                job.Spectra = ps;
                (job.Plan, job.Backward) = (plan, backward);
                int block = Math.Max(1, (channels + 8 * threads - 1) / (8 * threads));
                (job.Sequences, job.Channels, job.Length, job.KernelLength, job.Taps, job.Block, job.SpectraLength) =
                    (sequences, channels, length, kernelLength, taps, block, uSpectra.Length);
                ParallelItems.For((channels + block - 1) / block, threads, job);
                job.X = job.U = job.K = job.Y = job.Dk = job.Spectra = null;
                job.Plan = null;
                PerThread<ChannelJob<T>, int>.Give(job);
            }
        }
    }

    /// <summary>Channel block w of a multi-threaded <see cref="RunChannelBlocks{T}"/> call (a ParallelItems body, pooled per calling thread).</summary>
    private sealed unsafe class ChannelJob<T> : IParallelBody, IPerThreadWorkspace<ChannelJob<T>, int> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* X, U, K, Y, Dk, Spectra;
        public RealFftPlan<T>? Plan;
        public bool Backward;
        public int Sequences, Channels, Length, KernelLength, Taps, Block, SpectraLength;

        public static ChannelJob<T> Create(int key) => new();

        public bool Fits(int key) => true;

        public void Run(int w)
        {
            int c0 = w * Block, c1 = Math.Min(Channels, c0 + Block);
            if (c0 >= c1) return;
            int rows = Sequences * Channels * Length, ck = Channels * KernelLength;
            var x = new ReadOnlySpan<T>(X, rows);
            var k = new ReadOnlySpan<T>(K, ck);
            var y = new Span<T>(Y, rows);
            if (Backward)
                RunBatchedBackwardChannels(Plan!, x, new ReadOnlySpan<T>(U, rows), k, y, new Span<T>(Dk, ck), new ReadOnlySpan<T>(Spectra, SpectraLength),
                    c0, c1, Sequences, Channels, Length, KernelLength, Taps);
            else if (Plan is null) RunDirectChannels(x, k, y, c0, c1, Length, KernelLength, Taps);
            else RunBatchedChannels(Plan, x, k, y, new Span<T>(Spectra, SpectraLength), c0, c1, Sequences, Channels, Length, KernelLength, Taps);
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
        T[] gr = ArrayPool<T>.Shared.Rent(spectrum), gi = ArrayPool<T>.Shared.Rent(spectrum);
        T[] ur = ArrayPool<T>.Shared.Rent(spectrum), ui = ArrayPool<T>.Shared.Rent(spectrum);
        T[] kr = ArrayPool<T>.Shared.Rent(spectrum), ki = ArrayPool<T>.Shared.Rent(spectrum);
        T[] ar = ArrayPool<T>.Shared.Rent(spectrum), ai = ArrayPool<T>.Shared.Rent(spectrum);
        try
        {
            Span<T> sgr = gr.AsSpan(0, spectrum), sgi = gi.AsSpan(0, spectrum), sur = ur.AsSpan(0, spectrum), sui = ui.AsSpan(0, spectrum);
            Span<T> skr = kr.AsSpan(0, spectrum), ski = ki.AsSpan(0, spectrum);
            // One sequence whose u is transformed here (the unbatched CausalBackward): dk's product is written over U's
            // spectrum, read by nothing after it, so the call touches six buffers, not eight (measured: bench/NOTES.md, tidy).
            bool sumInU = sequences == 1 && uSpectra.IsEmpty;
            Span<T> sar = sumInU ? sur : ar.AsSpan(0, spectrum), sai = sumInU ? sui : ai.AsSpan(0, spectrum);
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
                    // DY conj(U) written (s = 0) or added to the sum, then DY conj(K) over DY (its last read) as the inverse's
                    // input: the products and sums of copying K and U and multiplying in place, without the copies.
                    if (s == 0) MultiplyConjugate<T, Overwrite>(sgr[..bins], sgi[..bins], ukr, uki, sar[..bins], sai[..bins]);
                    else MultiplyConjugate<T, Accumulate>(sgr[..bins], sgi[..bins], ukr, uki, sar[..bins], sai[..bins]);
                    MultiplyConjugate<T, Overwrite>(sgr[..bins], sgi[..bins], skr[..bins], ski[..bins], sgr[..bins], sgi[..bins]);
                    plan.InverseDestructive(sgr, sgi, du.Slice(row, length));
                }
                var dkc = dk.Slice(c * kernelLength, kernelLength);
                plan.InverseDestructive(sar, sai, dkc[..taps]);
                dkc[taps..].Clear();
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(gr);
            ArrayPool<T>.Shared.Return(gi);
            ArrayPool<T>.Shared.Return(ur);
            ArrayPool<T>.Shared.Return(ui);
            ArrayPool<T>.Shared.Return(kr);
            ArrayPool<T>.Shared.Return(ki);
            ArrayPool<T>.Shared.Return(ar);
            ArrayPool<T>.Shared.Return(ai);
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
