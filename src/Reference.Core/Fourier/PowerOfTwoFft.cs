using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Reference.Core.Fourier;

/// <summary>
/// In-place complex FFT of a power-of-two length n over split storage (re[], im[]), the kernel
/// behind <see cref="FftPlan{T}"/>.
/// Algorithm: Cooley and Tukey (1965), decimation in frequency (Gentleman and Sande 1966), radix 2,
/// iterative. A stage with half-span m combines x[b + j] and x[b + j + m] (b a multiple of 2m):
///   x[b + j]     = a + c,
///   x[b + j + m] = (a - c) w^j,   w = exp(-2 pi i / (2m)),
/// leaving the spectrum in bit-reversed order, which a final permutation undoes.
/// Glossary: n = transform length, m = half-span of a butterfly stage, w = twiddle factor,
/// W = SIMD lanes (Vector256 of T: 8 floats or 4 doubles).
/// Implementation notes: the twiddles of every stage are precomputed in float64 (sin/cos of pi
/// times an exact dyadic fraction) and stored contiguously per stage, so a stage with m >= W is a
/// loop of Vector256 butterflies over j; the last three stages (m = 4, 2, 1) are fused into one
/// DFT-8 codelet per block of 8 with its constant twiddles (1, (1-i)/sqrt 2, -i, (-1-i)/sqrt 2).
/// Floating-point order: plain multiply then add (no FMA), so float and double results do not
/// depend on the instruction set beyond the vector width.
/// </summary>
internal sealed class PowerOfTwoFft<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int n;
    // Stage with half-span m uses twiddles w^j, j < m, stored at offset n - 2m (n - 1 values in all).
    private readonly T[] twiddleRe;
    private readonly T[] twiddleIm;
    // Bit-reversal permutation as a list of index pairs (i, rev(i)) with i < rev(i).
    private readonly int[] swapPairs;
    private readonly bool simd;

    /// <param name="n">Transform length, a power of two.</param>
    /// <param name="allowVectors">false forces the scalar stages (tests compare both paths).</param>
    public PowerOfTwoFft(int n, bool allowVectors = true)
    {
        if (n < 1 || !BitOperations.IsPow2(n))
            throw new ArgumentOutOfRangeException(nameof(n), n, $"n must be a power of two >= 1, got {n}.");
        this.n = n;
        simd = allowVectors && Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported;
        twiddleRe = new T[Math.Max(n - 1, 0)];
        twiddleIm = new T[Math.Max(n - 1, 0)];
        for (int m = n / 2; m >= 1; m >>= 1)
        {
            int offset = n - 2 * m;
            for (int j = 0; j < m; j++)
            {
                // w^j = exp(-2 pi i j / (2m)) = cos(pi j/m) - i sin(pi j/m); j/m is exact in binary.
                var (sin, cos) = double.SinCosPi((double)j / m);
                twiddleRe[offset + j] = T.CreateTruncating(cos);
                twiddleIm[offset + j] = T.CreateTruncating(-sin);
            }
        }
        int bits = BitOperations.Log2((uint)n);
        var pairs = new List<int>();
        for (int i = 0; i < n; i++)
        {
            int r = bits == 0 ? 0 : (int)(ReverseBits((uint)i) >> (32 - bits));
            if (i < r) { pairs.Add(i); pairs.Add(r); }
        }
        swapPairs = [.. pairs];
    }

    public int Length => n;

    private static uint ReverseBits(uint v)
    {
        v = ((v >> 1) & 0x55555555u) | ((v & 0x55555555u) << 1);
        v = ((v >> 2) & 0x33333333u) | ((v & 0x33333333u) << 2);
        v = ((v >> 4) & 0x0F0F0F0Fu) | ((v & 0x0F0F0F0Fu) << 4);
        v = ((v >> 8) & 0x00FF00FFu) | ((v & 0x00FF00FFu) << 8);
        return (v >> 16) | (v << 16);
    }

    /// <summary>X = DFT(x) in place (unscaled); re and im have length n.</summary>
    public void Forward(Span<T> re, Span<T> im)
    {
        if (re.Length != n) throw new ArgumentException($"re has length {re.Length}, expected {n}.", nameof(re));
        if (im.Length != n) throw new ArgumentException($"im has length {im.Length}, expected {n}.", nameof(im));
        if (n == 1) return;
        int lanes = Vector256<T>.Count;
        for (int m = n / 2; m >= 1; m >>= 1)
        {
            if (m == 4)
            {
                Dft8Blocks(re, im);
                break;
            }
            var wr = new ReadOnlySpan<T>(twiddleRe, n - 2 * m, m);
            var wi = new ReadOnlySpan<T>(twiddleIm, n - 2 * m, m);
            if (simd && m >= lanes) StageVector(re, im, m, wr, wi);
            else StageScalar(re, im, m, wr, wi);
        }
        BitReverse(re, im);
    }

    private void StageScalar(Span<T> re, Span<T> im, int m, ReadOnlySpan<T> wr, ReadOnlySpan<T> wi)
    {
        for (int b = 0; b < n; b += 2 * m)
        {
            for (int j = 0; j < m; j++)
            {
                int p = b + j, q = p + m;
                T ar = re[p], ai = im[p], cr = re[q], ci = im[q];
                re[p] = ar + cr;
                im[p] = ai + ci;
                T dr = ar - cr, di = ai - ci;
                re[q] = dr * wr[j] - di * wi[j];
                im[q] = dr * wi[j] + di * wr[j];
            }
        }
    }

    private void StageVector(Span<T> re, Span<T> im, int m, ReadOnlySpan<T> wr, ReadOnlySpan<T> wi)
    {
        int lanes = Vector256<T>.Count;
        ref T r0 = ref MemoryMarshal.GetReference(re);
        ref T i0 = ref MemoryMarshal.GetReference(im);
        ref T wr0 = ref MemoryMarshal.GetReference(wr);
        ref T wi0 = ref MemoryMarshal.GetReference(wi);
        for (int b = 0; b < n; b += 2 * m)
        {
            for (int j = 0; j < m; j += lanes)
            {
                nuint p = (nuint)(b + j), q = p + (nuint)m;
                var ar = Vector256.LoadUnsafe(ref r0, p);
                var ai = Vector256.LoadUnsafe(ref i0, p);
                var cr = Vector256.LoadUnsafe(ref r0, q);
                var ci = Vector256.LoadUnsafe(ref i0, q);
                var tr = Vector256.LoadUnsafe(ref wr0, (nuint)j);
                var ti = Vector256.LoadUnsafe(ref wi0, (nuint)j);
                (ar + cr).StoreUnsafe(ref r0, p);
                (ai + ci).StoreUnsafe(ref i0, p);
                var dr = ar - cr;
                var di = ai - ci;
                (dr * tr - di * ti).StoreUnsafe(ref r0, q);
                (dr * ti + di * tr).StoreUnsafe(ref i0, q);
            }
        }
    }

    /// <summary>The last three DIF stages (m = 4, 2, 1) of every block of 8, as one DFT-8 codelet.</summary>
    private void Dft8Blocks(Span<T> re, Span<T> im)
    {
        T h = T.CreateTruncating(Math.Sqrt(0.5));
        for (int b = 0; b < n; b += 8)
        {
            var r = re.Slice(b, 8);
            var s = im.Slice(b, 8);
            // Stage m = 4: twiddles 1, (1 - i)/sqrt2, -i, (-1 - i)/sqrt2.
            T a0r = r[0] + r[4], a0i = s[0] + s[4], d0r = r[0] - r[4], d0i = s[0] - s[4];
            T a1r = r[1] + r[5], a1i = s[1] + s[5], d1r = r[1] - r[5], d1i = s[1] - s[5];
            T a2r = r[2] + r[6], a2i = s[2] + s[6], d2r = r[2] - r[6], d2i = s[2] - s[6];
            T a3r = r[3] + r[7], a3i = s[3] + s[7], d3r = r[3] - r[7], d3i = s[3] - s[7];
            T e1r = (d1r + d1i) * h, e1i = (d1i - d1r) * h;   // d1 (1 - i)/sqrt2
            T e2r = d2i, e2i = -d2r;                           // d2 (-i)
            T e3r = (d3i - d3r) * h, e3i = -(d3r + d3i) * h;  // d3 (-1 - i)/sqrt2
            // Stage m = 2 (twiddles 1, -i) and m = 1, first on a, then on (d0, e1, e2, e3).
            T f0r = a0r + a2r, f0i = a0i + a2i, f2r = a0r - a2r, f2i = a0i - a2i;
            T f1r = a1r + a3r, f1i = a1i + a3i, f3r = a1i - a3i, f3i = a3r - a1r;
            r[0] = f0r + f1r; s[0] = f0i + f1i;
            r[1] = f0r - f1r; s[1] = f0i - f1i;
            r[2] = f2r + f3r; s[2] = f2i + f3i;
            r[3] = f2r - f3r; s[3] = f2i - f3i;
            T g0r = d0r + e2r, g0i = d0i + e2i, g2r = d0r - e2r, g2i = d0i - e2i;
            T g1r = e1r + e3r, g1i = e1i + e3i, g3r = e1i - e3i, g3i = e3r - e1r;
            r[4] = g0r + g1r; s[4] = g0i + g1i;
            r[5] = g0r - g1r; s[5] = g0i - g1i;
            r[6] = g2r + g3r; s[6] = g2i + g3i;
            r[7] = g2r - g3r; s[7] = g2i - g3i;
        }
    }

    private void BitReverse(Span<T> re, Span<T> im)
    {
        var pairs = swapPairs;
        for (int t = 0; t < pairs.Length; t += 2)
        {
            int i = pairs[t], j = pairs[t + 1];
            (re[i], re[j]) = (re[j], re[i]);
            (im[i], im[j]) = (im[j], im[i]);
        }
    }
}
