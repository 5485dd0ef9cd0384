using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

using Reference.Core.Kernels;

namespace Reference.Core.Fourier;

/// <summary>
/// Complex FFT of a power-of-two length n over split storage (re[], im[]), the kernel behind
/// <see cref="FftPlan{T}"/>.
/// Algorithm: Cooley and Tukey (1965) by decimation in frequency (Gentleman and Sande 1966),
/// iterative. A radix-2 pass with half-span m combines x[b + j] and x[b + j + m] (b a multiple of 2m):
///   x[b + j] = a + c,   x[b + j + m] = (a - c) w^j,   w = exp(-2 pi i / (2m)).
/// Two consecutive radix-2 levels (half-spans 2q and q) are fused into one radix-4 pass
/// (a0..a3 = x[b + j + {0, q, 2q, 3q}], omega = exp(-2 pi i / (4q))):
///   x[b+j] = (a0 + a2) + (a1 + a3),             x[b+j+q]  = ((a0 + a2) - (a1 + a3)) omega^(2j),
///   x[b+j+2q] = ((a0 - a2) - i (a1 - a3)) omega^j, x[b+j+3q] = ((a0 - a2) + i (a1 - a3)) omega^(3j),
/// which needs three twiddle products per four points instead of four.
/// After the levels with half-span >= P (the leaf size, P = 8 for float, 4 for double) every block
/// of P consecutive points still needs a DFT_P; DIF leaves the output in bit-reversed order, so
/// the DFT_P of block b, y_b[s], belongs at X[s n/P + rev(b)] (rev reverses log2(n/P) bits). The
/// leaf pass computes those DFT_P and writes them straight to their final places: with Vector256,
/// P blocks whose rev(b) are consecutive are loaded, transposed (P x P) so that one vector holds one
/// element of P blocks, run through the DFT_P codelet lane-parallel, and stored as P contiguous
/// vectors. No separate bit-reversal pass is needed.
/// Glossary: n = length, m = radix-2 half-span, q = radix-4 quarter-span, w/omega = twiddles,
/// P = leaf (codelet) size = lanes of Vector256 of T, rev = bit reversal.
/// Data flow: the first pass reads the caller's arrays and writes a scratch pair, the middle passes
/// work in place on the scratch, the leaf pass writes the result back to the caller's arrays.
/// Twiddles are computed in float64 (sin/cos of pi times an exact dyadic fraction) and rounded
/// once to T. Arithmetic is plain multiply then add (no FMA); the scalar path (no Vector256, or
/// tests forcing it) runs the same operations in the same order, so both paths agree to the bit.
/// Lengths below P^2 use plain radix-2 passes down to m = 1 and an explicit bit-reversal permutation.
/// With Vector512 the radix passes whose span holds whole Vector512s run 512 bits wide (the same operations per lane, so
/// the same bits); the leaf stays Vector256 (its transpose is P x P with P = Vector256's lanes).
/// Zero-padded convolutions prune the first pass's zero operands and the leaf's unwanted half (<see cref="ForwardPruned(Span{T}, Span{T}, bool, bool)"/>).
/// </summary>
internal sealed class PowerOfTwoFft<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int n;
    private readonly bool simd;
    private readonly bool wide;           // Vector512 for the radix passes whose span holds whole Vector512s
    private readonly int leaf;            // P
    private readonly bool leafPath;       // n >= P^2: radix-4/2 passes + leaf pass
    private readonly Pass[] passes;
    private readonly T[] twiddleRe, twiddleIm;
    private readonly int[] leafGroupBlock; // rev_{n/P^2}(g) for leaf group g (leaf path)
    private readonly int[] swapPairs;      // bit-reversal pairs (small-n path)
    private readonly T sqrtHalf = T.CreateTruncating(Math.Sqrt(0.5));

    /// <summary>One pass: Radix 2 (Span = half-span m) or 4 (Span = quarter-span q); twiddles at Offset.</summary>
    private readonly record struct Pass(int Radix, int Span, int Offset);

    /// <param name="n">Transform length, a power of two.</param>
    /// <param name="allowVectors">false forces the scalar path (tests compare both paths).</param>
    public PowerOfTwoFft(int n, bool allowVectors = true)
    {
        if (n < 1 || !BitOperations.IsPow2(n))
            throw new ArgumentOutOfRangeException(nameof(n), n, $"n must be a power of two >= 1, got {n}.");
        this.n = n;
        leaf = typeof(T) == typeof(float) ? 8 : 4;
        simd = allowVectors && Vector256.IsHardwareAccelerated && Avx.IsSupported && Vector256<T>.Count == leaf;
        wide = simd && Vector512.IsHardwareAccelerated;
        leafPath = n >= leaf * leaf;
        var list = new List<Pass>();
        var twr = new List<double>();
        var twi = new List<double>();
        void Add(double fraction) // appends exp(-i pi fraction)
        {
            var (sin, cos) = double.SinCosPi(fraction);
            twr.Add(cos);
            twi.Add(-sin);
        }
        if (leafPath)
        {
            int levels = BitOperations.Log2((uint)(n / leaf));
            int m = n / 2;
            if (levels % 2 == 1)
            {
                list.Add(new Pass(2, m, twr.Count));
                for (int j = 0; j < m; j++) Add((double)j / m);
                m /= 2;
            }
            for (; m >= leaf; m /= 4)
            {
                int q = m / 2;
                list.Add(new Pass(4, q, twr.Count));
                for (int p = 1; p <= 3; p++)
                    for (int j = 0; j < q; j++) Add((double)(p * j) / (2 * q));  // omega^(p j) = exp(-2 pi i p j / (4q))
            }
            int groups = n / (leaf * leaf);
            int groupBits = BitOperations.Log2((uint)groups);
            leafGroupBlock = new int[groups];
            for (int g = 0; g < groups; g++) leafGroupBlock[g] = Reverse(g, groupBits);
            swapPairs = [];
        }
        else
        {
            for (int m = n / 2; m >= 1; m /= 2)
            {
                list.Add(new Pass(2, m, twr.Count));
                for (int j = 0; j < m; j++) Add((double)j / m);
            }
            int bits = BitOperations.Log2((uint)n);
            var pairs = new List<int>();
            for (int i = 0; i < n; i++)
            {
                int r = Reverse(i, bits);
                if (i < r) { pairs.Add(i); pairs.Add(r); }
            }
            swapPairs = [.. pairs];
            leafGroupBlock = [];
        }
        passes = [.. list];
        twiddleRe = twr.Select(T.CreateTruncating).ToArray();
        twiddleIm = twi.Select(T.CreateTruncating).ToArray();
    }

    public int Length => n;

    private static int Reverse(int value, int bits) =>
        bits == 0 ? 0 : (int)(ReverseBits((uint)value) >> (32 - bits));

    private static uint ReverseBits(uint v)
    {
        v = ((v >> 1) & 0x55555555u) | ((v & 0x55555555u) << 1);
        v = ((v >> 2) & 0x33333333u) | ((v & 0x33333333u) << 2);
        v = ((v >> 4) & 0x0F0F0F0Fu) | ((v & 0x0F0F0F0Fu) << 4);
        v = ((v >> 8) & 0x00FF00FFu) | ((v & 0x00FF00FFu) << 8);
        return (v >> 16) | (v << 16);
    }

    /// <summary>X = DFT(x) in place (unscaled); re and im have length n. Rents an n-point scratch pair.</summary>
    public void Forward(Span<T> re, Span<T> im)
    {
        if (re.Length != n) throw new ArgumentException($"re has length {re.Length}, expected {n}.", nameof(re));
        if (im.Length != n) throw new ArgumentException($"im has length {im.Length}, expected {n}.", nameof(im));
        if (!leafPath)
        {
            ForwardSmall(re, im);
            return;
        }
        ForwardPruned(re, im, upperHalfZero: false, lowerHalfOnly: false);
    }

    /// <summary>X = DFT(x) in place with caller-provided scratch (length >= n each, not overlapping re/im).</summary>
    public void Forward(Span<T> re, Span<T> im, Span<T> scratchRe, Span<T> scratchIm) =>
        ForwardPruned(re, im, scratchRe, scratchIm, upperHalfZero: false, lowerHalfOnly: false);

    /// <summary>
    /// <see cref="Forward(Span{T}, Span{T})"/> for the two shapes of a zero-padded convolution (Markel 1971, "FFT pruning";
    /// Sorensen and Burrus 1993, "Efficient computation of the DFT with only a subset of input or output points"):
    /// <paramref name="upperHalfZero"/>: x[n/2..n) are zeros (they must hold zeros; the vector passes do not read them):
    /// the first pass, whose butterflies pair x[j] with x[j + n/2] (radix 2) or x[j], x[j + n/4] with x[j + n/2], x[j + 3n/4]
    /// (radix 4), drops the zero operands. <paramref name="lowerHalfOnly"/>: only X[0..n/2) are wanted (X[n/2..n) are left
    /// unspecified): the leaf pass computes and stores only the lower half of each DFT_P (X[s n/P + rev(b)] with s &lt; P/2).
    /// The values are those of the full transform: a + 0 = a and a - 0 = a exactly, so only the sign of a zero result can
    /// differ (-0 + 0 is +0).
    /// </summary>
    public void ForwardPruned(Span<T> re, Span<T> im, bool upperHalfZero, bool lowerHalfOnly)
    {
        if (re.Length != n) throw new ArgumentException($"re has length {re.Length}, expected {n}.", nameof(re));
        if (im.Length != n) throw new ArgumentException($"im has length {im.Length}, expected {n}.", nameof(im));
        if (!leafPath)
        {
            ForwardSmall(re, im);
            return;
        }
        if (n > ThreadScratchMax)
        {
            T[] sr = ArrayPool<T>.Shared.Rent(n), si = ArrayPool<T>.Shared.Rent(n);
            ForwardPruned(re, im, sr, si, upperHalfZero, lowerHalfOnly);
            ArrayPool<T>.Shared.Return(sr);
            ArrayPool<T>.Shared.Return(si);
            return;
        }
        // Short transforms keep their scratch pair per thread: the convolutions run thousands of them per training step,
        // where renting two arrays from the shared pool and returning them cost about 5 % of a 512-point real transform.
        if (threadScratchRe is null || threadScratchRe.Length < n)
        {
            threadScratchRe = new T[ThreadScratchMax];
            threadScratchIm = new T[ThreadScratchMax];
        }
        ForwardPruned(re, im, threadScratchRe, threadScratchIm!, upperHalfZero, lowerHalfOnly);
    }

    /// <summary>Longest transform whose scratch is kept per thread (2 x 32 KB for float64; longer ones rent from the shared pool).</summary>
    private const int ThreadScratchMax = 4096;

    [ThreadStatic] private static T[]? threadScratchRe, threadScratchIm;

    private void ForwardPruned(Span<T> re, Span<T> im, Span<T> scratchRe, Span<T> scratchIm, bool upperHalfZero, bool lowerHalfOnly)
    {
        if (!leafPath)
        {
            ForwardSmall(re, im);
            return;
        }
        ref T xr = ref MemoryMarshal.GetReference(re);
        ref T xi = ref MemoryMarshal.GetReference(im);
        ref T sr = ref MemoryMarshal.GetReference(scratchRe[..n]);
        ref T si = ref MemoryMarshal.GetReference(scratchIm[..n]);
        for (int p = 0; p < passes.Length; p++)
        {
            var pass = passes[p];
            // The first pass reads the input and writes the scratch; the others work in place.
            ref T fr = ref p == 0 ? ref xr : ref sr;
            ref T fi = ref p == 0 ? ref xi : ref si;
            // The scalar path reads the zeros: the same values (tests compare the two paths bit for bit).
            bool zeros = p == 0 && upperHalfZero && simd;
            bool wideSpan = wide && pass.Span % Vector512<T>.Count == 0;
            if (pass.Radix == 2)
            {
                if (zeros && wideSpan) Radix2Vector<UpperZero, Simd512<T>>(ref fr, ref fi, ref sr, ref si, pass);
                else if (zeros) Radix2Vector<UpperZero, Simd256<T>>(ref fr, ref fi, ref sr, ref si, pass);
                else if (wideSpan) Radix2Vector<Full, Simd512<T>>(ref fr, ref fi, ref sr, ref si, pass);
                else if (simd) Radix2Vector<Full, Simd256<T>>(ref fr, ref fi, ref sr, ref si, pass);
                else Radix2Scalar(ref fr, ref fi, ref sr, ref si, pass);
            }
            else
            {
                if (zeros && wideSpan) Radix4Vector<UpperZero, Simd512<T>>(ref fr, ref fi, ref sr, ref si, pass);
                else if (zeros) Radix4Vector<UpperZero, Simd256<T>>(ref fr, ref fi, ref sr, ref si, pass);
                else if (wideSpan) Radix4Vector<Full, Simd512<T>>(ref fr, ref fi, ref sr, ref si, pass);
                else if (simd) Radix4Vector<Full, Simd256<T>>(ref fr, ref fi, ref sr, ref si, pass);
                else Radix4Scalar(ref fr, ref fi, ref sr, ref si, pass);
            }
        }
        if (simd)
        {
            if (leaf == 8)
            {
                if (lowerHalfOnly) LeafVector8<Lower>(ref sr, ref si, ref xr, ref xi);
                else LeafVector8<Full>(ref sr, ref si, ref xr, ref xi);
            }
            else if (lowerHalfOnly) LeafVector4<Lower>(ref sr, ref si, ref xr, ref xi);
            else LeafVector4<Full>(ref sr, ref si, ref xr, ref xi);
        }
        else LeafScalar(ref sr, ref si, ref xr, ref xi);
    }

    /// <summary>Which operands or outputs a pass prunes, a type parameter so that the JIT compiles each variant without the test.</summary>
    private interface IPrune
    {
        /// <summary>The operands in the upper half of the first pass's span are zeros and are not read.</summary>
        static abstract bool UpperHalfZero { get; }

        /// <summary>Only the lower half of the leaf's DFT_P outputs is computed and stored.</summary>
        static abstract bool LowerHalfOnly { get; }
    }

    private struct Full : IPrune
    {
        public static bool UpperHalfZero => false;
        public static bool LowerHalfOnly => false;
    }

    private struct UpperZero : IPrune
    {
        public static bool UpperHalfZero => true;
        public static bool LowerHalfOnly => false;
    }

    private struct Lower : IPrune
    {
        public static bool UpperHalfZero => false;
        public static bool LowerHalfOnly => true;
    }

    private void Radix2Scalar(ref T fr, ref T fi, ref T tr, ref T ti, Pass pass)
    {
        int m = pass.Span;
        ref T wr0 = ref twiddleRe[pass.Offset];
        ref T wi0 = ref twiddleIm[pass.Offset];
        for (int b = 0; b < n; b += 2 * m)
        {
            for (int j = 0; j < m; j++)
            {
                int p = b + j, q = p + m;
                T ar = Unsafe.Add(ref fr, p), ai = Unsafe.Add(ref fi, p);
                T cr = Unsafe.Add(ref fr, q), ci = Unsafe.Add(ref fi, q);
                T wr = Unsafe.Add(ref wr0, j), wi = Unsafe.Add(ref wi0, j);
                Unsafe.Add(ref tr, p) = ar + cr;
                Unsafe.Add(ref ti, p) = ai + ci;
                T dr = ar - cr, di = ai - ci;
                Unsafe.Add(ref tr, q) = dr * wr - di * wi;
                Unsafe.Add(ref ti, q) = dr * wi + di * wr;
            }
        }
    }

    /// <summary>A radix-2 pass at SIMD width TV (Vector256 or Vector512: the same operations per lane).</summary>
    private void Radix2Vector<TPrune, TV>(ref T fr, ref T fi, ref T tr, ref T ti, Pass pass)
        where TPrune : struct, IPrune where TV : struct, ISimd<TV, T>
    {
        int m = pass.Span, lanes = TV.Count;
        ref T wr0 = ref twiddleRe[pass.Offset];
        ref T wi0 = ref twiddleIm[pass.Offset];
        for (int b = 0; b < n; b += 2 * m)
        {
            for (int j = 0; j < m; j += lanes)
            {
                nuint p = (nuint)(b + j), q = p + (nuint)m;
                var ar = TV.Load(ref fr, p);
                var ai = TV.Load(ref fi, p);
                var wr = TV.Load(ref wr0, (nuint)j);
                var wi = TV.Load(ref wi0, (nuint)j);
                if (TPrune.UpperHalfZero)
                {
                    // c = 0: a + c = a and a - c = a.
                    ar.Store(ref tr, p);
                    ai.Store(ref ti, p);
                    (ar * wr - ai * wi).Store(ref tr, q);
                    (ar * wi + ai * wr).Store(ref ti, q);
                    continue;
                }
                var cr = TV.Load(ref fr, q);
                var ci = TV.Load(ref fi, q);
                (ar + cr).Store(ref tr, p);
                (ai + ci).Store(ref ti, p);
                var dr = ar - cr;
                var di = ai - ci;
                (dr * wr - di * wi).Store(ref tr, q);
                (dr * wi + di * wr).Store(ref ti, q);
            }
        }
    }

    private void Radix4Scalar(ref T fr, ref T fi, ref T tr, ref T ti, Pass pass)
    {
        int q = pass.Span;
        ref T w1r = ref twiddleRe[pass.Offset];
        ref T w1i = ref twiddleIm[pass.Offset];
        ref T w2r = ref Unsafe.Add(ref w1r, q);
        ref T w2i = ref Unsafe.Add(ref w1i, q);
        ref T w3r = ref Unsafe.Add(ref w1r, 2 * q);
        ref T w3i = ref Unsafe.Add(ref w1i, 2 * q);
        for (int b = 0; b < n; b += 4 * q)
        {
            for (int j = 0; j < q; j++)
            {
                int p0 = b + j, p1 = p0 + q, p2 = p1 + q, p3 = p2 + q;
                T a0r = Unsafe.Add(ref fr, p0), a0i = Unsafe.Add(ref fi, p0);
                T a1r = Unsafe.Add(ref fr, p1), a1i = Unsafe.Add(ref fi, p1);
                T a2r = Unsafe.Add(ref fr, p2), a2i = Unsafe.Add(ref fi, p2);
                T a3r = Unsafe.Add(ref fr, p3), a3i = Unsafe.Add(ref fi, p3);
                T sr = a0r + a2r, si = a0i + a2i, dr = a0r - a2r, di = a0i - a2i;
                T tr13 = a1r + a3r, ti13 = a1i + a3i;
                T er = a1i - a3i, ei = a3r - a1r;                  // e = -i (a1 - a3)
                Unsafe.Add(ref tr, p0) = sr + tr13;
                Unsafe.Add(ref ti, p0) = si + ti13;
                T c1r = sr - tr13, c1i = si - ti13;
                T c2r = dr + er, c2i = di + ei;
                T c3r = dr - er, c3i = di - ei;
                T vr = Unsafe.Add(ref w2r, j), vi = Unsafe.Add(ref w2i, j);
                Unsafe.Add(ref tr, p1) = c1r * vr - c1i * vi;
                Unsafe.Add(ref ti, p1) = c1r * vi + c1i * vr;
                vr = Unsafe.Add(ref w1r, j); vi = Unsafe.Add(ref w1i, j);
                Unsafe.Add(ref tr, p2) = c2r * vr - c2i * vi;
                Unsafe.Add(ref ti, p2) = c2r * vi + c2i * vr;
                vr = Unsafe.Add(ref w3r, j); vi = Unsafe.Add(ref w3i, j);
                Unsafe.Add(ref tr, p3) = c3r * vr - c3i * vi;
                Unsafe.Add(ref ti, p3) = c3r * vi + c3i * vr;
            }
        }
    }

    /// <summary>A radix-4 pass at SIMD width TV (Vector256 or Vector512: the same operations per lane).</summary>
    private void Radix4Vector<TPrune, TV>(ref T fr, ref T fi, ref T tr, ref T ti, Pass pass)
        where TPrune : struct, IPrune where TV : struct, ISimd<TV, T>
    {
        int q = pass.Span, lanes = TV.Count;
        ref T w1r = ref twiddleRe[pass.Offset];
        ref T w1i = ref twiddleIm[pass.Offset];
        ref T w2r = ref Unsafe.Add(ref w1r, q);
        ref T w2i = ref Unsafe.Add(ref w1i, q);
        ref T w3r = ref Unsafe.Add(ref w1r, 2 * q);
        ref T w3i = ref Unsafe.Add(ref w1i, 2 * q);
        nuint uq = (nuint)q;
        for (int b = 0; b < n; b += 4 * q)
        {
            for (int j = 0; j < q; j += lanes)
            {
                nuint p0 = (nuint)(b + j), p1 = p0 + uq, p2 = p1 + uq, p3 = p2 + uq, uj = (nuint)j;
                var a0r = TV.Load(ref fr, p0); var a0i = TV.Load(ref fi, p0);
                var a1r = TV.Load(ref fr, p1); var a1i = TV.Load(ref fi, p1);
                TV sr, si, dr, di, tr13, ti13, er, ei;
                if (TPrune.UpperHalfZero)
                {
                    // a2 = a3 = 0: s = d = a0, a1 + a3 = a1, e = -i (a1 - a3) = (Im a1, -Re a1).
                    sr = dr = a0r; si = di = a0i;
                    tr13 = a1r; ti13 = a1i;
                    er = a1i; ei = -a1r;
                }
                else
                {
                    var a2r = TV.Load(ref fr, p2); var a2i = TV.Load(ref fi, p2);
                    var a3r = TV.Load(ref fr, p3); var a3i = TV.Load(ref fi, p3);
                    sr = a0r + a2r; si = a0i + a2i; dr = a0r - a2r; di = a0i - a2i;
                    tr13 = a1r + a3r; ti13 = a1i + a3i;
                    er = a1i - a3i; ei = a3r - a1r;
                }
                (sr + tr13).Store(ref tr, p0);
                (si + ti13).Store(ref ti, p0);
                var c1r = sr - tr13; var c1i = si - ti13;
                var c2r = dr + er; var c2i = di + ei;
                var c3r = dr - er; var c3i = di - ei;
                var vr = TV.Load(ref w2r, uj); var vi = TV.Load(ref w2i, uj);
                (c1r * vr - c1i * vi).Store(ref tr, p1);
                (c1r * vi + c1i * vr).Store(ref ti, p1);
                vr = TV.Load(ref w1r, uj); vi = TV.Load(ref w1i, uj);
                (c2r * vr - c2i * vi).Store(ref tr, p2);
                (c2r * vi + c2i * vr).Store(ref ti, p2);
                vr = TV.Load(ref w3r, uj); vi = TV.Load(ref w3i, uj);
                (c3r * vr - c3i * vi).Store(ref tr, p3);
                (c3r * vi + c3i * vr).Store(ref ti, p3);
            }
        }
    }

    /// <summary>Leaf pass without vectors: DFT_P of every block b, y_b[s] written to X[s n/P + rev(b)].</summary>
    private void LeafScalar(ref T fr, ref T fi, ref T tr, ref T ti)
    {
        int p = leaf, blocks = n / p, groups = leafGroupBlock.Length;
        Span<T> xr = stackalloc T[8], xi = stackalloc T[8];
        for (int g = 0; g < groups; g++)
        {
            for (int t = 0; t < p; t++)
            {
                // Block b = rev(g P + t) = rev_P(t) n/P^2 + rev(g): its output goes to column g P + t.
                int b = Reverse(t, BitOperations.Log2((uint)p)) * groups + leafGroupBlock[g];
                for (int r = 0; r < p; r++)
                {
                    xr[r] = Unsafe.Add(ref fr, b * p + r);
                    xi[r] = Unsafe.Add(ref fi, b * p + r);
                }
                if (p == 8) Dft8(xr, xi); else Dft4(xr, xi);
                int column = g * p + t;
                for (int s = 0; s < p; s++)
                {
                    Unsafe.Add(ref tr, s * blocks + column) = xr[s];
                    Unsafe.Add(ref ti, s * blocks + column) = xi[s];
                }
            }
        }
    }

    /// <summary>DFT_8 in natural order, the same operations as <see cref="LeafVector8"/>.</summary>
    private void Dft8(Span<T> xr, Span<T> xi)
    {
        T h = sqrtHalf;
        T a0r = xr[0] + xr[4], a0i = xi[0] + xi[4], d0r = xr[0] - xr[4], d0i = xi[0] - xi[4];
        T a1r = xr[1] + xr[5], a1i = xi[1] + xi[5], d1r = xr[1] - xr[5], d1i = xi[1] - xi[5];
        T a2r = xr[2] + xr[6], a2i = xi[2] + xi[6], d2r = xr[2] - xr[6], d2i = xi[2] - xi[6];
        T a3r = xr[3] + xr[7], a3i = xi[3] + xi[7], d3r = xr[3] - xr[7], d3i = xi[3] - xi[7];
        T e1r = (d1r + d1i) * h, e1i = (d1i - d1r) * h;   // d1 (1 - i)/sqrt2
        T e2r = d2i, e2i = -d2r;                           // d2 (-i)
        T e3r = (d3i - d3r) * h, e3i = -(d3r + d3i) * h;  // d3 (-1 - i)/sqrt2
        T f0r = a0r + a2r, f0i = a0i + a2i, f2r = a0r - a2r, f2i = a0i - a2i;
        T f1r = a1r + a3r, f1i = a1i + a3i, f3r = a1i - a3i, f3i = a3r - a1r;
        T g0r = d0r + e2r, g0i = d0i + e2i, g2r = d0r - e2r, g2i = d0i - e2i;
        T g1r = e1r + e3r, g1i = e1i + e3i, g3r = e1i - e3i, g3i = e3r - e1r;
        xr[0] = f0r + f1r; xi[0] = f0i + f1i;
        xr[4] = f0r - f1r; xi[4] = f0i - f1i;
        xr[2] = f2r + f3r; xi[2] = f2i + f3i;
        xr[6] = f2r - f3r; xi[6] = f2i - f3i;
        xr[1] = g0r + g1r; xi[1] = g0i + g1i;
        xr[5] = g0r - g1r; xi[5] = g0i - g1i;
        xr[3] = g2r + g3r; xi[3] = g2i + g3i;
        xr[7] = g2r - g3r; xi[7] = g2i - g3i;
    }

    /// <summary>DFT_4 in natural order, the same operations as <see cref="LeafVector4"/>.</summary>
    private static void Dft4(Span<T> xr, Span<T> xi)
    {
        T a0r = xr[0] + xr[2], a0i = xi[0] + xi[2], d0r = xr[0] - xr[2], d0i = xi[0] - xi[2];
        T a1r = xr[1] + xr[3], a1i = xi[1] + xi[3], d1r = xi[1] - xi[3], d1i = xr[3] - xr[1];
        xr[0] = a0r + a1r; xi[0] = a0i + a1i;
        xr[2] = a0r - a1r; xi[2] = a0i - a1i;
        xr[1] = d0r + d1r; xi[1] = d0i + d1i;
        xr[3] = d0r - d1r; xi[3] = d0i - d1i;
    }

    private void LeafVector8<TPrune>(ref T fr, ref T fi, ref T tr, ref T ti) where TPrune : struct, IPrune
    {
        int blocks = n / 8, groups = leafGroupBlock.Length;
        var h = Vector256.Create(sqrtHalf);
        for (int g = 0; g < groups; g++)
        {
            // Blocks rev_8(t) groups + rev(g), t = 0..7: offsets 8 (t' groups + base) for t' = rev_8(t).
            nuint baseOffset = (nuint)(8 * leafGroupBlock[g]), stride = (nuint)(8 * groups);
            var r0 = Vector256.LoadUnsafe(ref fr, baseOffset);
            var r1 = Vector256.LoadUnsafe(ref fr, baseOffset + 4 * stride);
            var r2 = Vector256.LoadUnsafe(ref fr, baseOffset + 2 * stride);
            var r3 = Vector256.LoadUnsafe(ref fr, baseOffset + 6 * stride);
            var r4 = Vector256.LoadUnsafe(ref fr, baseOffset + 1 * stride);
            var r5 = Vector256.LoadUnsafe(ref fr, baseOffset + 5 * stride);
            var r6 = Vector256.LoadUnsafe(ref fr, baseOffset + 3 * stride);
            var r7 = Vector256.LoadUnsafe(ref fr, baseOffset + 7 * stride);
            var i0 = Vector256.LoadUnsafe(ref fi, baseOffset);
            var i1 = Vector256.LoadUnsafe(ref fi, baseOffset + 4 * stride);
            var i2 = Vector256.LoadUnsafe(ref fi, baseOffset + 2 * stride);
            var i3 = Vector256.LoadUnsafe(ref fi, baseOffset + 6 * stride);
            var i4 = Vector256.LoadUnsafe(ref fi, baseOffset + 1 * stride);
            var i5 = Vector256.LoadUnsafe(ref fi, baseOffset + 5 * stride);
            var i6 = Vector256.LoadUnsafe(ref fi, baseOffset + 3 * stride);
            var i7 = Vector256.LoadUnsafe(ref fi, baseOffset + 7 * stride);
            Transpose8(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
            Transpose8(ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
            var a0r = r0 + r4; var a0i = i0 + i4; var d0r = r0 - r4; var d0i = i0 - i4;
            var a1r = r1 + r5; var a1i = i1 + i5; var d1r = r1 - r5; var d1i = i1 - i5;
            var a2r = r2 + r6; var a2i = i2 + i6; var d2r = r2 - r6; var d2i = i2 - i6;
            var a3r = r3 + r7; var a3i = i3 + i7; var d3r = r3 - r7; var d3i = i3 - i7;
            var e1r = (d1r + d1i) * h; var e1i = (d1i - d1r) * h;
            var e2r = d2i; var e2i = -d2r;
            var e3r = (d3i - d3r) * h; var e3i = -(d3r + d3i) * h;
            var f0r = a0r + a2r; var f0i = a0i + a2i; var f2r = a0r - a2r; var f2i = a0i - a2i;
            var f1r = a1r + a3r; var f1i = a1i + a3i; var f3r = a1i - a3i; var f3i = a3r - a1r;
            var g0r = d0r + e2r; var g0i = d0i + e2i; var g2r = d0r - e2r; var g2i = d0i - e2i;
            var g1r = e1r + e3r; var g1i = e1i + e3i; var g3r = e1i - e3i; var g3i = e3r - e1r;
            nuint column = (nuint)(8 * g), row = (nuint)blocks;
            (f0r + f1r).StoreUnsafe(ref tr, column); (f0i + f1i).StoreUnsafe(ref ti, column);
            (g0r + g1r).StoreUnsafe(ref tr, column + row); (g0i + g1i).StoreUnsafe(ref ti, column + row);
            (f2r + f3r).StoreUnsafe(ref tr, column + 2 * row); (f2i + f3i).StoreUnsafe(ref ti, column + 2 * row);
            (g2r + g3r).StoreUnsafe(ref tr, column + 3 * row); (g2i + g3i).StoreUnsafe(ref ti, column + 3 * row);
            if (TPrune.LowerHalfOnly) continue;
            (f0r - f1r).StoreUnsafe(ref tr, column + 4 * row); (f0i - f1i).StoreUnsafe(ref ti, column + 4 * row);
            (g0r - g1r).StoreUnsafe(ref tr, column + 5 * row); (g0i - g1i).StoreUnsafe(ref ti, column + 5 * row);
            (f2r - f3r).StoreUnsafe(ref tr, column + 6 * row); (f2i - f3i).StoreUnsafe(ref ti, column + 6 * row);
            (g2r - g3r).StoreUnsafe(ref tr, column + 7 * row); (g2i - g3i).StoreUnsafe(ref ti, column + 7 * row);
        }
    }

    private void LeafVector4<TPrune>(ref T fr, ref T fi, ref T tr, ref T ti) where TPrune : struct, IPrune
    {
        int blocks = n / 4, groups = leafGroupBlock.Length;
        for (int g = 0; g < groups; g++)
        {
            nuint baseOffset = (nuint)(4 * leafGroupBlock[g]), stride = (nuint)(4 * groups);
            var r0 = Vector256.LoadUnsafe(ref fr, baseOffset);
            var r1 = Vector256.LoadUnsafe(ref fr, baseOffset + 2 * stride);
            var r2 = Vector256.LoadUnsafe(ref fr, baseOffset + stride);
            var r3 = Vector256.LoadUnsafe(ref fr, baseOffset + 3 * stride);
            var i0 = Vector256.LoadUnsafe(ref fi, baseOffset);
            var i1 = Vector256.LoadUnsafe(ref fi, baseOffset + 2 * stride);
            var i2 = Vector256.LoadUnsafe(ref fi, baseOffset + stride);
            var i3 = Vector256.LoadUnsafe(ref fi, baseOffset + 3 * stride);
            Transpose4(ref r0, ref r1, ref r2, ref r3);
            Transpose4(ref i0, ref i1, ref i2, ref i3);
            var a0r = r0 + r2; var a0i = i0 + i2; var d0r = r0 - r2; var d0i = i0 - i2;
            var a1r = r1 + r3; var a1i = i1 + i3; var d1r = i1 - i3; var d1i = r3 - r1;
            nuint column = (nuint)(4 * g), row = (nuint)blocks;
            (a0r + a1r).StoreUnsafe(ref tr, column); (a0i + a1i).StoreUnsafe(ref ti, column);
            (d0r + d1r).StoreUnsafe(ref tr, column + row); (d0i + d1i).StoreUnsafe(ref ti, column + row);
            if (TPrune.LowerHalfOnly) continue;
            (a0r - a1r).StoreUnsafe(ref tr, column + 2 * row); (a0i - a1i).StoreUnsafe(ref ti, column + 2 * row);
            (d0r - d1r).StoreUnsafe(ref tr, column + 3 * row); (d0i - d1i).StoreUnsafe(ref ti, column + 3 * row);
        }
    }

    /// <summary>In-register 8 x 8 float transpose (<see cref="BlockTranspose.InRegisters(ref Vector256{float}, ref Vector256{float}, ref Vector256{float}, ref Vector256{float}, ref Vector256{float}, ref Vector256{float}, ref Vector256{float}, ref Vector256{float})"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8(ref Vector256<T> v0, ref Vector256<T> v1, ref Vector256<T> v2, ref Vector256<T> v3,
        ref Vector256<T> v4, ref Vector256<T> v5, ref Vector256<T> v6, ref Vector256<T> v7) =>
        BlockTranspose.InRegisters(ref Unsafe.As<Vector256<T>, Vector256<float>>(ref v0), ref Unsafe.As<Vector256<T>, Vector256<float>>(ref v1),
            ref Unsafe.As<Vector256<T>, Vector256<float>>(ref v2), ref Unsafe.As<Vector256<T>, Vector256<float>>(ref v3),
            ref Unsafe.As<Vector256<T>, Vector256<float>>(ref v4), ref Unsafe.As<Vector256<T>, Vector256<float>>(ref v5),
            ref Unsafe.As<Vector256<T>, Vector256<float>>(ref v6), ref Unsafe.As<Vector256<T>, Vector256<float>>(ref v7));

    /// <summary>In-register 4 x 4 double transpose (<see cref="BlockTranspose.InRegisters(ref Vector256{double}, ref Vector256{double}, ref Vector256{double}, ref Vector256{double})"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose4(ref Vector256<T> v0, ref Vector256<T> v1, ref Vector256<T> v2, ref Vector256<T> v3) =>
        BlockTranspose.InRegisters(ref Unsafe.As<Vector256<T>, Vector256<double>>(ref v0), ref Unsafe.As<Vector256<T>, Vector256<double>>(ref v1),
            ref Unsafe.As<Vector256<T>, Vector256<double>>(ref v2), ref Unsafe.As<Vector256<T>, Vector256<double>>(ref v3));

    /// <summary>Short lengths (n &lt; P^2): radix-2 passes down to m = 1 in place, then bit reversal.</summary>
    private void ForwardSmall(Span<T> re, Span<T> im)
    {
        ref T xr = ref MemoryMarshal.GetReference(re);
        ref T xi = ref MemoryMarshal.GetReference(im);
        foreach (var pass in passes) Radix2Scalar(ref xr, ref xi, ref xr, ref xi, pass);
        var pairs = swapPairs;
        for (int t = 0; t < pairs.Length; t += 2)
        {
            int i = pairs[t], j = pairs[t + 1];
            (re[i], re[j]) = (re[j], re[i]);
            (im[i], im[j]) = (im[j], im[i]);
        }
    }
}
