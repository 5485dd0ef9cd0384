using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Reference.Core.Fourier;

/// <summary>
/// Fast DFT of a real sequence x of length n >= 1, returning the n/2 + 1 non-redundant bins
/// X[0..n/2] (the rest follow from Hermitian symmetry X[n - k] = conj X[k]); numpy.fft.rfft/irfft.
/// Even n, the half-length complex trick (Cooley, Lewis and Welch 1970; Sorensen et al. 1987):
/// pack z[j] = x[2j] + i x[2j+1] (h = n/2 points), Z = DFT_h(z), then with w = exp(-2 pi i / n)
///   E[k] = (Z[k] + conj Z[h-k]) / 2        (spectrum of the even samples),
///   O[k] = (Z[k] - conj Z[h-k]) / (2i)     (spectrum of the odd samples),
///   X[k] = E[k] + w^k O[k],   X[h-k] = conj(E[k] - w^k O[k]),   Z[h] = Z[0].
/// The inverse runs the same identities backwards (E, O from X[k] and X[h-k], Z = E + i O,
/// z = IDFT_h(Z), unpack). Odd n go through the full complex plan.
/// Glossary: n = real length, h = n/2 = complex length, w^k = post-processing twiddle.
/// Inverse convention (as numpy's irfft): the input is read as the Hermitian spectrum it
/// describes, so the imaginary parts of X[0] and (even n) X[n/2] are ignored.
/// A plan is immutable after construction and may be shared by threads.
/// </summary>
public sealed class RealFftPlan<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int n;
    private readonly int half;
    private readonly FftPlan<T> complex;
    private readonly T[] postRe = [], postIm = [];
    private readonly T inverseHalfScale;

    public RealFftPlan(int n)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), n, $"n must be >= 1, got {n}.");
        this.n = n;
        half = n / 2;
        inverseHalfScale = T.CreateTruncating(1.0 / Math.Max(half, 1));
        if (n % 2 == 0)
        {
            complex = new FftPlan<T>(half);
            postRe = new T[half / 2 + 1];
            postIm = new T[half / 2 + 1];
            for (int k = 0; k <= half / 2; k++)
            {
                var (sin, cos) = double.SinCosPi(2.0 * k / n);
                postRe[k] = T.CreateTruncating(cos);
                postIm[k] = T.CreateTruncating(-sin);
            }
        }
        else complex = new FftPlan<T>(n);
    }

    /// <summary>The real length n.</summary>
    public int Length => n;

    /// <summary>Number of spectrum bins, n/2 + 1.</summary>
    public int Bins => half + 1;

    /// <summary>Spectrum of one real sequence: x [n] -> re, im [n/2 + 1].</summary>
    public void Forward(ReadOnlySpan<T> x, Span<T> re, Span<T> im)
    {
        Check(x.Length, re.Length, im.Length, 1, nameof(x));
        CheckNoOverlap(x, re, im);
        ForwardCore(x, re, im);
    }

    /// <summary>Real sequence (scaled 1/n) of one Hermitian spectrum: re, im [n/2 + 1] -> x [n].</summary>
    public void Inverse(ReadOnlySpan<T> re, ReadOnlySpan<T> im, Span<T> x)
    {
        Check(x.Length, re.Length, im.Length, 1, nameof(x));
        InverseRows(re, im, x, 1);
    }

    /// <summary>Spectra of every row: x [rows x n] -> re, im [rows x (n/2 + 1)].</summary>
    public void ForwardRows(ReadOnlySpan<T> x, Span<T> re, Span<T> im, int rows)
    {
        Check(x.Length, re.Length, im.Length, rows, nameof(x));
        CheckNoOverlap(x, re, im);
        for (int r = 0; r < rows; r++)
            ForwardCore(x.Slice(r * n, n), re.Slice(r * Bins, Bins), im.Slice(r * Bins, Bins));
    }

    /// <summary>Real rows (scaled 1/n) of every spectrum: re, im [rows x (n/2 + 1)] -> x [rows x n].</summary>
    public void InverseRows(ReadOnlySpan<T> re, ReadOnlySpan<T> im, Span<T> x, int rows)
    {
        Check(x.Length, re.Length, im.Length, rows, nameof(x));
        int scratch = Math.Max(n, Bins);
        T[] sr = ArrayPool<T>.Shared.Rent(scratch), si = ArrayPool<T>.Shared.Rent(scratch);
        try
        {
            for (int r = 0; r < rows; r++)
            {
                re.Slice(r * Bins, Bins).CopyTo(sr);
                im.Slice(r * Bins, Bins).CopyTo(si);
                InverseDestructive(sr.AsSpan(0, scratch), si.AsSpan(0, scratch), x.Slice(r * n, n));
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(sr);
            ArrayPool<T>.Shared.Return(si);
        }
    }

    /// <summary>
    /// Forward transform without argument checks: x [&lt;= n] (zero-padded to n) -> re, im [n/2 + 1].
    /// re and im have length >= n/2 + 1 and are overwritten in full.
    /// </summary>
    internal void ForwardCore(ReadOnlySpan<T> x, Span<T> re, Span<T> im)
    {
        if (n % 2 == 1)
        {
            ForwardOdd(x, re, im);
            return;
        }
        int h = half;
        SplitComplexLayout.Deinterleave(x, re[..h], im[..h]);
        // A zero-padded input (x.Length <= n/2, the convolution's case) leaves z[h/2..h) zero: the complex transform's
        // first pass skips those operands (pruning, FftPlan.ForwardPruned; the same values).
        if (h % 2 == 0 && x.Length <= h) complex.ForwardPruned(re[..h], im[..h], upperHalfZero: true, lowerHalfOnly: false);
        else complex.ForwardCore(re[..h], im[..h]);
        T oneHalf = T.CreateTruncating(0.5);
        // k = 0 pairs with Z[h] = Z[0]: X[0] = Re Z0 + Im Z0, X[h] = Re Z0 - Im Z0, both real.
        T z0r = re[0], z0i = im[0];
        re[0] = z0r + z0i; im[0] = T.Zero;
        re[h] = z0r - z0i; im[h] = T.Zero;
        int k = 1;
        if (Simd512<T>.CanReverse) k = ForwardPairs<Simd512<T>>(re, im, k);
        if (Simd256<T>.CanReverse) k = ForwardPairs<Simd256<T>>(re, im, k);
        for (int l = h - k; k <= l; k++, l--)
        {
            T zkr = re[k], zki = im[k], zlr = re[l], zli = im[l];
            T er = (zkr + zlr) * oneHalf, ei = (zki - zli) * oneHalf;
            // O = (Z[k] - conj Z[l]) / (2i)
            T or = (zki + zli) * oneHalf, oi = (zlr - zkr) * oneHalf;
            T wr = postRe[k], wi = postIm[k];
            T tr = wr * or - wi * oi, ti = wr * oi + wi * or;
            re[k] = er + tr; im[k] = ei + ti;
            re[l] = er - tr; im[l] = ti - ei;
        }
    }

    /// <summary>
    /// Inverse transform that overwrites its inputs: re, im hold the n/2 + 1 bins in their first
    /// entries and have length >= max(n, n/2 + 1) (odd n use them as complex scratch); x [&lt;= n]
    /// receives the first x.Length samples of the real sequence scaled by 1/n.
    /// </summary>
    internal void InverseDestructive(Span<T> re, Span<T> im, Span<T> x)
    {
        if (n % 2 == 1)
        {
            InverseOdd(re, im, x);
            return;
        }
        int h = half;
        T oneHalf = T.CreateTruncating(0.5);
        T x0 = re[0], xh = re[h];
        re[0] = (x0 + xh) * oneHalf;
        im[0] = (x0 - xh) * oneHalf;
        int k = 1;
        if (Simd512<T>.CanReverse) k = InversePairs<Simd512<T>>(re, im, k);
        if (Simd256<T>.CanReverse) k = InversePairs<Simd256<T>>(re, im, k);
        for (int l = h - k; k <= l; k++, l--)
        {
            T xkr = re[k], xki = im[k], xlr = re[l], xli = im[l];
            T er = (xkr + xlr) * oneHalf, ei = (xki - xli) * oneHalf;
            T fr = (xkr - xlr) * oneHalf, fi = (xki + xli) * oneHalf;   // F = w^k O
            T wr = postRe[k], wi = postIm[k];
            T or = wr * fr + wi * fi, oi = wr * fi - wi * fr;           // O = conj(w^k) F
            re[k] = er - oi; im[k] = ei + or;                           // Z[k] = E + i O
            re[l] = er + oi; im[l] = or - ei;                           // Z[l] = conj E + i conj O
        }
        // Only the first x.Length samples are returned: at most n/2 of them (the convolution's first L outputs of 2L) need
        // only z[0..h/2), the lower half of the complex inverse (its leaf pass prunes the rest; the same values).
        if (h % 2 == 0 && x.Length <= h) complex.InverseUnscaledLowerHalf(re[..h], im[..h]);
        else complex.InverseUnscaled(re[..h], im[..h]);
        // z / h gives the even and odd samples: the inverse of an h-point DFT, scaled 1/h = 2/n.
        SplitComplexLayout.Interleave<T>(re[..h], im[..h], inverseHalfScale, x);
    }

    /// <summary>
    /// <see cref="ForwardCore"/>'s post-processing from pair k on at SIMD width TV, W pairs at once: bins k..k+W-1 ascending
    /// against h-k..h-k-W+1, a lane-reversed load (the scalar loop's operations per pair, so the same bits at either width);
    /// returns the first k left to the narrower width or the scalar loop.
    /// </summary>
    private int ForwardPairs<TV>(Span<T> re, Span<T> im, int k) where TV : struct, ISimd<TV, T>
    {
        int h = half, lanes = TV.Count;
        var half2 = TV.Create(T.CreateTruncating(0.5));
        ref T pr = ref MemoryMarshal.GetReference(re);
        ref T pi = ref MemoryMarshal.GetReference(im);
        ref T wr0 = ref postRe[0];
        ref T wi0 = ref postIm[0];
        for (; 2 * k + 2 * lanes - 2 < h; k += lanes)
        {
            nuint uk = (nuint)k, ul = (nuint)(h - k - lanes + 1);
            var zkr = TV.Load(ref pr, uk);
            var zki = TV.Load(ref pi, uk);
            var zlr = TV.Load(ref pr, ul).Reverse();
            var zli = TV.Load(ref pi, ul).Reverse();
            var er = (zkr + zlr) * half2; var ei = (zki - zli) * half2;
            var or = (zki + zli) * half2; var oi = (zlr - zkr) * half2;
            var wr = TV.Load(ref wr0, uk);
            var wi = TV.Load(ref wi0, uk);
            var tr = wr * or - wi * oi; var ti = wr * oi + wi * or;
            (er + tr).Store(ref pr, uk);
            (ei + ti).Store(ref pi, uk);
            (er - tr).Reverse().Store(ref pr, ul);
            (ti - ei).Reverse().Store(ref pi, ul);
        }
        return k;
    }

    /// <summary><see cref="InverseDestructive"/>'s pre-processing from pair k on at SIMD width TV (as <see cref="ForwardPairs{TV}"/>).</summary>
    private int InversePairs<TV>(Span<T> re, Span<T> im, int k) where TV : struct, ISimd<TV, T>
    {
        int h = half, lanes = TV.Count;
        var half2 = TV.Create(T.CreateTruncating(0.5));
        ref T pr = ref MemoryMarshal.GetReference(re);
        ref T pi = ref MemoryMarshal.GetReference(im);
        ref T wr0 = ref postRe[0];
        ref T wi0 = ref postIm[0];
        for (; 2 * k + 2 * lanes - 2 < h; k += lanes)
        {
            nuint uk = (nuint)k, ul = (nuint)(h - k - lanes + 1);
            var xkr = TV.Load(ref pr, uk);
            var xki = TV.Load(ref pi, uk);
            var xlr = TV.Load(ref pr, ul).Reverse();
            var xli = TV.Load(ref pi, ul).Reverse();
            var er = (xkr + xlr) * half2; var ei = (xki - xli) * half2;
            var fr = (xkr - xlr) * half2; var fi = (xki + xli) * half2;
            var wr = TV.Load(ref wr0, uk);
            var wi = TV.Load(ref wi0, uk);
            var or = wr * fr + wi * fi; var oi = wr * fi - wi * fr;
            (er - oi).Store(ref pr, uk);
            (ei + or).Store(ref pi, uk);
            (er + oi).Reverse().Store(ref pr, ul);
            (or - ei).Reverse().Store(ref pi, ul);
        }
        return k;
    }

    private void ForwardOdd(ReadOnlySpan<T> x, Span<T> re, Span<T> im)
    {
        T[] sr = ArrayPool<T>.Shared.Rent(n), si = ArrayPool<T>.Shared.Rent(n);
        try
        {
            var a = sr.AsSpan(0, n);
            var b = si.AsSpan(0, n);
            x.CopyTo(a);
            a[x.Length..].Clear();
            b.Clear();
            complex.ForwardCore(a, b);
            a[..Bins].CopyTo(re);
            b[..Bins].CopyTo(im);
            im[0] = T.Zero;
        }
        finally
        {
            ArrayPool<T>.Shared.Return(sr);
            ArrayPool<T>.Shared.Return(si);
        }
    }

    private void InverseOdd(Span<T> re, Span<T> im, Span<T> x)
    {
        // Rebuild the full Hermitian spectrum in place: X[n - k] = conj X[k], Im X[0] ignored.
        im[0] = T.Zero;
        for (int k = 1; k < Bins; k++)
        {
            re[n - k] = re[k];
            im[n - k] = -im[k];
        }
        complex.InverseCore(re[..n], im[..n]);
        re[..x.Length].CopyTo(x);
    }

    private static void CheckNoOverlap(ReadOnlySpan<T> x, Span<T> re, Span<T> im)
    {
        if (re.Overlaps(im)) throw new ArgumentException("im must not overlap re.", nameof(im));
        if (x.Overlaps(re) || x.Overlaps(im))
            throw new ArgumentException("x must not overlap re or im (the forward transform is out of place).", nameof(x));
    }

    private void Check(int xLength, int reLength, int imLength, int rows, string xName)
    {
        if (rows < 0) throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows must be >= 0, got {rows}.");
        long nx = (long)rows * n, nb = (long)rows * Bins;
        if (xLength != nx) throw new ArgumentException($"{xName} has length {xLength}, expected rows * n = {nx}.", xName);
        if (reLength != nb) throw new ArgumentException($"re has length {reLength}, expected rows * (n/2 + 1) = {nb}.", "re");
        if (imLength != nb) throw new ArgumentException($"im has length {imLength}, expected rows * (n/2 + 1) = {nb}.", "im");
    }
}
