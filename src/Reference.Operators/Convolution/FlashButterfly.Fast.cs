// The Fast tier of FlashButterfly (see FlashButterfly.cs for the paper, the glossary and the naive
// definition): the same levels (Factors(N), the same blocks and twiddles) in float32 or float64, with
// Vector256 block products (the exact 16-point codelets on Vector512 where AVX-512 is accelerated), one thread per
// group of channels.
//
// Layout (Stockham autosort form of the recursion). The naive tier transposes after every level; here
// each level reads one buffer and writes the other so that the output lands in natural order with no
// transpose. Before level s the data of a row is a batch of b = m_0 ... m_(s-1) interleaved sequences
// of length n_s = N / b: element j of sequence beta sits at j b + beta. Level s (block size m, q = n_s / m,
// j = q j1 + j2) writes
//   out[(j2 m + k1) b + beta] = w_(n_s)^(j2 k1) sum_j1 B[k1, j1] in[(q j1 + j2) b + beta],
// which is steps 1 and 2 of the file head of FlashButterfly.cs for every sequence at once; the next
// level then transforms over j2 the m b sequences (k1, beta), and its output k2 at k2 (m b) + k1 b + beta
// is entry k1 + m k2 of the level's DFT (step 4, the natural order, for free). The base level has q = 1.
// Every level is a small complex GEMM: for b >= the vector width it is vectorized over the batch index
// beta (contiguous); the first level (b = 1) is vectorized over the output index k1 instead, reading the
// transposed block B^T. Accumulation: each output adds j1 = 0, 1, ... in that order with fused
// multiply-adds (re = sum Br xr - sum Bi xi, the two sums kept apart; im += Br xi, im += Bi xr), then one
// complex twiddle product.
//
// The convolution (exact blocks) transforms two real rows at once: z = x_a + i x_b has
// Z = X_a + i X_b with X[k] = conj(X[N - k]) for real rows, so X_a = (Z + R) / 2 and X_b = (Z - R) / (2 i)
// with R[k] = conj(Z[(N - k) mod N]); the product spectra are packed back as W = Y_a + i Y_b (one pass that reads
// both packed spectra, the kernel's split formed on the fly), and one inverse transform returns y_a + i y_b (both
// real). Three transforms serve two channels instead of six.
// The first level skips the zero padding (inputs j >= L never enter a block product) and the inverse's
// last level computes only the outputs t < L. The learned variant has per-channel blocks, which break the
// conjugate symmetry, so its rows are transformed one by one (the exact inverse as in the naive tier).
using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Reference.Core;
using Reference.Core.Fourier;
using Reference.Core.Kernels;

namespace Reference.Operators.Convolution;

public static partial class FlashButterfly
{
    // ------------------------------------------------------------------ plans

    /// <summary>The blocks of every level in T: Re, Im [f, f] row-major B[k1, j1]; TRe, TIm = B^T (level 0 only).</summary>
    internal sealed record LevelBlocks<T>(T[][] Re, T[][] Im, T[] TRe, T[] TIm) where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Whether these are the exact DFT blocks of a plan (the 16-point levels may then use the DFT_16 codelet).</summary>
        public bool Exact { get; init; }

        /// <summary>Blocks from float64 arrays (offset into [C, f, f] records), conjugated when asked.</summary>
        public static LevelBlocks<T> From(int[] factors, Func<int, (double[] Re, double[] Im, int Offset)> source, bool conjugate)
        {
            var re = new T[factors.Length][];
            var im = new T[factors.Length][];
            for (int l = 0; l < factors.Length; l++)
            {
                int ff = factors[l] * factors[l];
                var (r, i, offset) = source(l);
                re[l] = new T[ff];
                im[l] = new T[ff];
                for (int e = 0; e < ff; e++)
                {
                    re[l][e] = T.CreateTruncating(r[offset + e]);
                    im[l][e] = T.CreateTruncating(conjugate ? -i[offset + e] : i[offset + e]);
                }
            }
            int m = factors[0];
            var tre = new T[m * m];
            var tim = new T[m * m];
            for (int a = 0; a < m; a++)
                for (int b = 0; b < m; b++)
                {
                    tre[b * m + a] = re[0][a * m + b];
                    tim[b * m + a] = im[0][a * m + b];
                }
            return new LevelBlocks<T>(re, im, tre, tim);
        }
    }

    /// <summary>
    /// Everything of a length-N transform that does not depend on the data: the levels, the twiddles of
    /// every level (forward, [q, m] row-major: w_(n_s)^(j2 k1), computed in float64 with the exponent
    /// reduced modulo n_s and rounded once to T), and the exact DFT blocks of both directions.
    /// </summary>
    internal sealed class BlockPlan<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public int Length { get; }
        public int[] Factors { get; }
        public T[][] TwiddleRe { get; }
        public T[][] TwiddleIm { get; }
        public T[][] ConjTwiddleIm { get; }
        /// <summary>Level 0's twiddles transposed, [m, q] row-major (k1 q + j2), for the codelet route vectorized over j2.</summary>
        public T[] FirstTwiddleRe { get; }
        public T[] FirstTwiddleIm { get; }
        public T[] FirstConjTwiddleIm { get; }
        public LevelBlocks<T> Forward { get; }
        public LevelBlocks<T> Inverse { get; }

        private BlockPlan(int n)
        {
            Length = n;
            Factors = FlashButterfly.Factors(n);
            int levels = Factors.Length;
            TwiddleRe = new T[levels][];
            TwiddleIm = new T[levels][];
            ConjTwiddleIm = new T[levels][];
            int sub = n;
            for (int s = 0; s < levels; s++)
            {
                int m = Factors[s], q = sub / m;
                TwiddleRe[s] = new T[q * m];
                TwiddleIm[s] = new T[q * m];
                ConjTwiddleIm[s] = new T[q * m];
                for (int j2 = 0; j2 < q; j2++)
                    for (int k1 = 0; k1 < m; k1++)
                    {
                        double angle = -2.0 * Math.PI * ((long)j2 * k1 % sub) / sub;
                        TwiddleRe[s][j2 * m + k1] = T.CreateTruncating(Math.Cos(angle));
                        TwiddleIm[s][j2 * m + k1] = T.CreateTruncating(Math.Sin(angle));
                        ConjTwiddleIm[s][j2 * m + k1] = -TwiddleIm[s][j2 * m + k1];
                    }
                sub = q;
            }
            int m0 = Factors[0], q0 = n / m0;
            FirstTwiddleRe = new T[n];
            FirstTwiddleIm = new T[n];
            FirstConjTwiddleIm = new T[n];
            for (int k1 = 0; k1 < m0; k1++)
                for (int j2 = 0; j2 < q0; j2++)
                {
                    FirstTwiddleRe[k1 * q0 + j2] = TwiddleRe[0][j2 * m0 + k1];
                    FirstTwiddleIm[k1 * q0 + j2] = TwiddleIm[0][j2 * m0 + k1];
                    FirstConjTwiddleIm[k1 * q0 + j2] = ConjTwiddleIm[0][j2 * m0 + k1];
                }
            var exact = Factors.Select(f => DftBlock(f, inverse: false)).ToArray();
            Forward = LevelBlocks<T>.From(Factors, l => (exact[l].Re, exact[l].Im, 0), conjugate: false) with { Exact = true };
            Inverse = LevelBlocks<T>.From(Factors, l => (exact[l].Re, exact[l].Im, 0), conjugate: true) with { Exact = true };
        }

        private static readonly ConcurrentDictionary<int, BlockPlan<T>> Cache = new();

        public static BlockPlan<T> Get(int n) => Cache.GetOrAdd(n, static size => new BlockPlan<T>(size));

        /// <summary>
        /// One row, in place: re, im [N] -> the block transform (natural order), forward twiddles unless
        /// conjugate. Entries j >= nonzero of the input must be zero (the first level may skip them); on the last level only
        /// the outputs t &lt; outputs are required (others may be left unwritten). scratch: 2 N values.
        /// </summary>
        public void Transform(LevelBlocks<T> blocks, bool conjugate, Span<T> re, Span<T> im, Span<T> scratchRe, Span<T> scratchIm,
            int nonzero, int outputs) =>
            Transform(blocks, conjugate, re, im, scratchRe, scratchIm, nonzero, outputs, default, default, default, default);

        /// <summary>
        /// The same transform reading its input from sourceRe, sourceIm [nonzero] (the entries j >= nonzero taken as zero)
        /// and writing its first <paramref name="outputs"/> results to destRe, destIm [outputs] instead of re, im, which
        /// then serve as workspace: this saves the copies in and out of a row. The first level reads the source in
        /// place when it touches no entry j >= nonzero (the 16-point codelet with nonzero a multiple of q), else the
        /// source is copied into re first; the last level writes the destination in place when it writes no entry
        /// t >= outputs, else its result is copied out. Empty source or destination spans mean re, im.
        /// </summary>
        public void Transform(LevelBlocks<T> blocks, bool conjugate, Span<T> re, Span<T> im, Span<T> scratchRe, Span<T> scratchIm,
            int nonzero, int outputs, ReadOnlySpan<T> sourceRe, ReadOnlySpan<T> sourceIm, Span<T> destRe, Span<T> destIm)
        {
            int n = Length, levels = Factors.Length, batch = 1, sub = n;
            bool simd = Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported, wide = Wide<T>();
            // A 16-point codelet level runs on Vector512 when its vectorized extent is a multiple of that width, else on Vector256.
            bool Fits(int extent) => simd && extent % Vector256<T>.Count == 0;
            bool FitsWide(int extent) => wide && extent % Vector512<T>.Count == 0;
            bool firstCodelet = blocks.Exact && Factors[0] == 16 && Fits(n / 16);
            bool hasSource = !sourceRe.IsEmpty;
            if (hasSource && !(firstCodelet && nonzero % (n / 16) == 0 && nonzero <= n))
            {
                sourceRe[..nonzero].CopyTo(re);
                sourceIm[..nonzero].CopyTo(im);
                re[nonzero..].Clear();
                im[nonzero..].Clear();
                hasSource = false;
            }
            bool hasDest = !destRe.IsEmpty;
            Span<T> inRe = re, inIm = im, outRe = scratchRe, outIm = scratchIm;
            ReadOnlySpan<T> firstRe = hasSource ? sourceRe : re, firstIm = hasSource ? sourceIm : im;
            bool wroteDest = false;
            for (int s = 0; s < levels; s++)
            {
                int m = Factors[s], q = sub / m;
                var twIm = conjugate ? ConjTwiddleIm[s] : TwiddleIm[s];
                bool last = s == levels - 1;
                bool codelet = blocks.Exact && m == 16 && simd;
                // A 16-point level followed by a final 2-point level (q = 2) runs as one pass (Level16Then2).
                bool fused = codelet && s > 0 && s == levels - 2 && Factors[levels - 1] == 2 && Fits(batch);
                int k1count = last ? Math.Min(m, (outputs + batch - 1) / batch) : m;
                int k2count = fused ? Math.Min(2, (outputs + 16 * batch - 1) / (16 * batch)) : 0;
                if (hasDest && s > 0 && ((last && k1count * batch <= destRe.Length) || (fused && k2count * 16 * batch <= destRe.Length)))
                {
                    outRe = destRe;
                    outIm = destIm;
                    wroteDest = true;
                }
                if (fused)
                {
                    if (FitsWide(batch)) Level16Then2Wide(inRe, inIm, outRe, outIm, TwiddleRe[s], twIm, batch, k2count, conjugate);
                    else Level16Then2(inRe, inIm, outRe, outIm, TwiddleRe[s], twIm, batch, k2count, conjugate);
                    inRe = outRe;
                    inIm = outIm;
                    break;
                }
                if (s == 0 && codelet && FitsWide(q))
                    FirstLevel16Wide(firstRe, firstIm, outRe, outIm, FirstTwiddleRe, conjugate ? FirstConjTwiddleIm : FirstTwiddleIm, q, Math.Min(nonzero, n), conjugate);
                else if (s == 0 && codelet && Fits(q))
                    FirstLevel16(firstRe, firstIm, outRe, outIm, FirstTwiddleRe, conjugate ? FirstConjTwiddleIm : FirstTwiddleIm, q, Math.Min(nonzero, n), conjugate);
                else if (s == 0)
                    FirstLevel(firstRe, firstIm, outRe, outIm, blocks.TRe, blocks.TIm, TwiddleRe[s], twIm, m, q, Math.Min(nonzero, n));
                else if (codelet && FitsWide(batch))
                    BatchLevel16Wide(inRe, inIm, outRe, outIm, TwiddleRe[s], twIm, q, batch, k1count, conjugate);
                else if (codelet && Fits(batch))
                    BatchLevel16(inRe, inIm, outRe, outIm, TwiddleRe[s], twIm, q, batch, k1count, conjugate);
                else
                    BatchLevel(inRe, inIm, outRe, outIm, blocks.Re[s], blocks.Im[s], TwiddleRe[s], twIm, m, q, batch, k1count);
                var nextRe = outRe;
                var nextIm = outIm;
                outRe = inRe;
                outIm = inIm;
                inRe = nextRe;
                inIm = nextIm;
                batch *= m;
                sub = q;
            }
            if (wroteDest) return;
            if (hasDest)
            {
                inRe[..outputs].CopyTo(destRe);
                inIm[..outputs].CopyTo(destIm);
            }
            else if (!Unsafe.AreSame(ref MemoryMarshal.GetReference(inRe), ref MemoryMarshal.GetReference(re)))
            {
                inRe.CopyTo(re);
                inIm.CopyTo(im);
            }
        }
    }

    // ------------------------------------------------------------------ level kernels

    /// <summary>
    /// Level 0 (b = 1): out[j2 m + k1] = tw[j2, k1] sum_(j1 &lt; j1max) B[k1, j1] x[q j1 + j2], vectorized over k1
    /// (two vectors of outputs per pass) with the transposed block bt[j1 m + k1]; j1max = the count of j1 with
    /// q j1 + j2 &lt; nonzero. The real part keeps sum Br xr and sum Bi xi apart and subtracts once at the end.
    /// </summary>
    private static void FirstLevel<T>(ReadOnlySpan<T> xr, ReadOnlySpan<T> xi, Span<T> outRe, Span<T> outIm,
        ReadOnlySpan<T> btr, ReadOnlySpan<T> bti, ReadOnlySpan<T> twr, ReadOnlySpan<T> twi, int m, int q, int nonzero)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector256<T>.Count;
        bool simd = Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported;
        ref T brRef = ref MemoryMarshal.GetReference(btr);
        ref T biRef = ref MemoryMarshal.GetReference(bti);
        ref T xrRef = ref MemoryMarshal.GetReference(xr);
        ref T xiRef = ref MemoryMarshal.GetReference(xi);
        ref T wrRef = ref MemoryMarshal.GetReference(twr);
        ref T wiRef = ref MemoryMarshal.GetReference(twi);
        ref T orRef = ref MemoryMarshal.GetReference(outRe);
        ref T oiRef = ref MemoryMarshal.GetReference(outIm);
        for (int j2 = 0; j2 < q; j2++)
        {
            int j1max = j2 >= nonzero ? 0 : Math.Min(m, (nonzero - j2 + q - 1) / q);
            int k1 = 0;
            if (simd)
            {
                for (; k1 <= m - lanes; k1 += 2 * lanes)
                {
                    // Two output vectors k1 and k1 + lanes (the second only when it fits) share each broadcast input.
                    bool two = k1 + 2 * lanes <= m;
                    int k1b = two ? k1 + lanes : k1;
                    var r0 = Vector256<T>.Zero; var s0 = Vector256<T>.Zero; var i0 = Vector256<T>.Zero;
                    var r1 = Vector256<T>.Zero; var s1 = Vector256<T>.Zero; var i1 = Vector256<T>.Zero;
                    for (int j1 = 0; j1 < j1max; j1++)
                    {
                        var vr = Vector256.Create(Unsafe.Add(ref xrRef, q * j1 + j2));
                        var vi = Vector256.Create(Unsafe.Add(ref xiRef, q * j1 + j2));
                        var b0r = Vector256.LoadUnsafe(ref brRef, (nuint)(j1 * m + k1));
                        var b0i = Vector256.LoadUnsafe(ref biRef, (nuint)(j1 * m + k1));
                        var b1r = Vector256.LoadUnsafe(ref brRef, (nuint)(j1 * m + k1b));
                        var b1i = Vector256.LoadUnsafe(ref biRef, (nuint)(j1 * m + k1b));
                        r0 = VectorMath.FusedMultiplyAdd(b0r, vr, r0);
                        s0 = VectorMath.FusedMultiplyAdd(b0i, vi, s0);
                        i0 = VectorMath.FusedMultiplyAdd(b0r, vi, i0);
                        i0 = VectorMath.FusedMultiplyAdd(b0i, vr, i0);
                        r1 = VectorMath.FusedMultiplyAdd(b1r, vr, r1);
                        s1 = VectorMath.FusedMultiplyAdd(b1i, vi, s1);
                        i1 = VectorMath.FusedMultiplyAdd(b1r, vi, i1);
                        i1 = VectorMath.FusedMultiplyAdd(b1i, vr, i1);
                    }
                    StoreTwiddled(r0 - s0, i0, ref wrRef, ref wiRef, ref orRef, ref oiRef, j2 * m + k1);
                    if (two) StoreTwiddled(r1 - s1, i1, ref wrRef, ref wiRef, ref orRef, ref oiRef, j2 * m + k1b);
                    else k1 -= lanes;
                }
            }
            for (; k1 < m; k1++)
            {
                T accR = T.Zero, accS = T.Zero, accI = T.Zero;
                for (int j1 = 0; j1 < j1max; j1++)
                {
                    T vr = xr[q * j1 + j2], vi = xi[q * j1 + j2], br = btr[j1 * m + k1], bi = bti[j1 * m + k1];
                    accR = T.FusedMultiplyAdd(br, vr, accR);
                    accS = T.FusedMultiplyAdd(bi, vi, accS);
                    accI = T.FusedMultiplyAdd(br, vi, accI);
                    accI = T.FusedMultiplyAdd(bi, vr, accI);
                }
                accR -= accS;
                T wr = twr[j2 * m + k1], wi = twi[j2 * m + k1];
                outRe[j2 * m + k1] = accR * wr - accI * wi;
                outIm[j2 * m + k1] = accR * wi + accI * wr;
            }
        }
    }

    /// <summary>out[at..at + lanes) = (re + i im) tw[at..at + lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreTwiddled<T>(Vector256<T> re, Vector256<T> im, ref T wrRef, ref T wiRef, ref T orRef, ref T oiRef, int at)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var wr = Vector256.LoadUnsafe(ref wrRef, (nuint)at);
        var wi = Vector256.LoadUnsafe(ref wiRef, (nuint)at);
        (re * wr - im * wi).StoreUnsafe(ref orRef, (nuint)at);
        (re * wi + im * wr).StoreUnsafe(ref oiRef, (nuint)at);
    }

    /// <summary>
    /// Level s > 0 (batch b): out[(j2 m + k1) b + beta] = tw[j2, k1] sum_j1 B[k1, j1] in[(q j1 + j2) b + beta] for
    /// k1 &lt; k1count, vectorized over beta; two outputs k1 share each input vector load. No twiddle when q = 1.
    /// </summary>
    private static void BatchLevel<T>(ReadOnlySpan<T> xr, ReadOnlySpan<T> xi, Span<T> outRe, Span<T> outIm,
        ReadOnlySpan<T> blockRe, ReadOnlySpan<T> blockIm, ReadOnlySpan<T> twr, ReadOnlySpan<T> twi, int m, int q, int b, int k1count)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector256<T>.Count;
        bool simd = Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && b >= lanes;
        int vectorEnd = simd ? b - b % lanes : 0;
        ref T xrRef = ref MemoryMarshal.GetReference(xr);
        ref T xiRef = ref MemoryMarshal.GetReference(xi);
        ref T orRef = ref MemoryMarshal.GetReference(outRe);
        ref T oiRef = ref MemoryMarshal.GetReference(outIm);
        ref T bRe = ref MemoryMarshal.GetReference(blockRe);
        ref T bIm = ref MemoryMarshal.GetReference(blockIm);
        for (int j2 = 0; j2 < q; j2++)
        {
            int k1 = 0;
            for (; k1 < k1count; k1 += 2)
            {
                bool pair = k1 + 1 < k1count;
                int k1b = pair ? k1 + 1 : k1;
                T w0r = twr[j2 * m + k1], w0i = twi[j2 * m + k1], w1r = twr[j2 * m + k1b], w1i = twi[j2 * m + k1b];
                int o0 = (j2 * m + k1) * b, o1 = (j2 * m + k1b) * b;
                for (int beta = 0; beta < vectorEnd; beta += lanes)
                {
                    var a0r = Vector256<T>.Zero; var a0s = Vector256<T>.Zero; var a0i = Vector256<T>.Zero;
                    var a1r = Vector256<T>.Zero; var a1s = Vector256<T>.Zero; var a1i = Vector256<T>.Zero;
                    for (int j1 = 0; j1 < m; j1++)
                    {
                        nuint at = (nuint)((q * j1 + j2) * b + beta);
                        var vr = Vector256.LoadUnsafe(ref xrRef, at);
                        var vi = Vector256.LoadUnsafe(ref xiRef, at);
                        var b0r = Vector256.Create(Unsafe.Add(ref bRe, k1 * m + j1));
                        var b0i = Vector256.Create(Unsafe.Add(ref bIm, k1 * m + j1));
                        var b1r = Vector256.Create(Unsafe.Add(ref bRe, k1b * m + j1));
                        var b1i = Vector256.Create(Unsafe.Add(ref bIm, k1b * m + j1));
                        a0r = VectorMath.FusedMultiplyAdd(b0r, vr, a0r);
                        a0s = VectorMath.FusedMultiplyAdd(b0i, vi, a0s);
                        a0i = VectorMath.FusedMultiplyAdd(b0r, vi, a0i);
                        a0i = VectorMath.FusedMultiplyAdd(b0i, vr, a0i);
                        a1r = VectorMath.FusedMultiplyAdd(b1r, vr, a1r);
                        a1s = VectorMath.FusedMultiplyAdd(b1i, vi, a1s);
                        a1i = VectorMath.FusedMultiplyAdd(b1r, vi, a1i);
                        a1i = VectorMath.FusedMultiplyAdd(b1i, vr, a1i);
                    }
                    a0r -= a0s;
                    a1r -= a1s;
                    if (q > 1)
                    {
                        var (t0r, t0i) = (a0r, a0i);
                        a0r = t0r * Vector256.Create(w0r) - t0i * Vector256.Create(w0i);
                        a0i = t0r * Vector256.Create(w0i) + t0i * Vector256.Create(w0r);
                        var (t1r, t1i) = (a1r, a1i);
                        a1r = t1r * Vector256.Create(w1r) - t1i * Vector256.Create(w1i);
                        a1i = t1r * Vector256.Create(w1i) + t1i * Vector256.Create(w1r);
                    }
                    a0r.StoreUnsafe(ref orRef, (nuint)(o0 + beta));
                    a0i.StoreUnsafe(ref oiRef, (nuint)(o0 + beta));
                    if (pair)
                    {
                        a1r.StoreUnsafe(ref orRef, (nuint)(o1 + beta));
                        a1i.StoreUnsafe(ref oiRef, (nuint)(o1 + beta));
                    }
                }
                for (int kk = k1; kk <= k1b; kk++)
                {
                    T wr = twr[j2 * m + kk], wi = twi[j2 * m + kk];
                    for (int beta = vectorEnd; beta < b; beta++)
                    {
                        T accR = T.Zero, accS = T.Zero, accI = T.Zero;
                        for (int j1 = 0; j1 < m; j1++)
                        {
                            int at = (q * j1 + j2) * b + beta;
                            T vr = xr[at], vi = xi[at], br = blockRe[kk * m + j1], bi = blockIm[kk * m + j1];
                            accR = T.FusedMultiplyAdd(br, vr, accR);
                            accS = T.FusedMultiplyAdd(bi, vi, accS);
                            accI = T.FusedMultiplyAdd(br, vi, accI);
                            accI = T.FusedMultiplyAdd(bi, vr, accI);
                        }
                        accR -= accS;
                        if (q > 1) (accR, accI) = (accR * wr - accI * wi, accR * wi + accI * wr);
                        outRe[(j2 * m + kk) * b + beta] = accR;
                        outIm[(j2 * m + kk) * b + beta] = accI;
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ the exact 16-point block as a codelet

    /// <summary>w_16^(c p) for c, p &lt; 4 (index 4 c + p), the internal twiddles of DFT_16 = 4 x 4 (float64, rounded once).</summary>
    private static class Codelet16<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static readonly T[] Re = Enumerable.Range(0, 16).Select(i => T.CreateTruncating(Math.Cos(-2.0 * Math.PI * (i / 4) * (i % 4) / 16))).ToArray();
        public static readonly T[] Im = Enumerable.Range(0, 16).Select(i => T.CreateTruncating(Math.Sin(-2.0 * Math.PI * (i / 4) * (i % 4) / 16))).ToArray();
    }

    /// <summary>
    /// The exact block F_16 (conj(F_16) when inverse) applied lane-wise and fused with the level's twiddles:
    /// x[j1] = the vector at x + j1 inStride (zero for j1 &gt;= j1max), X[k1] = sum_j1 w_16^(j1 k1) x[j1] computed as
    /// 4 x 4 (j1 = 4 a + c, k1 = p + 4 r): Y[c][p] = DFT_4 over a of x[4 a + c], times w_16^(c p) (into the tile),
    /// then X[p + 4 r] = DFT_4 over c of Y[c][p]; X[k1] times the twiddle (a broadcast of tw[k1] or the vector at
    /// tw + k1 twStride) is stored at y + k1 outStride for k1 &lt; count. The same block as the dense product with ~10
    /// flops per point instead of 16 complex multiply-adds ("complex multiplies as fits" for the exact blocks;
    /// learned blocks stay GEMMs).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dft16<T>(ref T xr, ref T xi, nint inStride, int j1max, ref T yr, ref T yi, nint outStride, int count,
        ref T wr, ref T wi, nint twStride, bool broadcast, bool twiddle, bool inverse, Span<Vector256<T>> tile)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var cr = Codelet16<T>.Re;
        var ci = Codelet16<T>.Im;
        for (int c = 0; c < 4; c++)
        {
            Vector256<T> Load(ref T x, int j1) => j1 < j1max ? Vector256.LoadUnsafe(ref Unsafe.Add(ref x, j1 * inStride)) : Vector256<T>.Zero;
            var (y0r, y0i, y1r, y1i, y2r, y2i, y3r, y3i) = Dft4(Load(ref xr, c), Load(ref xi, c), Load(ref xr, 4 + c), Load(ref xi, 4 + c),
                Load(ref xr, 8 + c), Load(ref xi, 8 + c), Load(ref xr, 12 + c), Load(ref xi, 12 + c), inverse);
            tile[8 * c] = y0r;
            tile[8 * c + 1] = y0i;
            if (c == 0)
            {
                tile[2] = y1r; tile[3] = y1i; tile[4] = y2r; tile[5] = y2i; tile[6] = y3r; tile[7] = y3i;
                continue;
            }
            (tile[8 * c + 2], tile[8 * c + 3]) = Rotate(y1r, y1i, cr[4 * c + 1], ci[4 * c + 1], inverse);
            (tile[8 * c + 4], tile[8 * c + 5]) = Rotate(y2r, y2i, cr[4 * c + 2], ci[4 * c + 2], inverse);
            (tile[8 * c + 6], tile[8 * c + 7]) = Rotate(y3r, y3i, cr[4 * c + 3], ci[4 * c + 3], inverse);
        }
        for (int p = 0; p < 4; p++)
        {
            var (x0r, x0i, x1r, x1i, x2r, x2i, x3r, x3i) = Dft4(tile[2 * p], tile[2 * p + 1], tile[8 + 2 * p], tile[9 + 2 * p],
                tile[16 + 2 * p], tile[17 + 2 * p], tile[24 + 2 * p], tile[25 + 2 * p], inverse);
            Store(x0r, x0i, p, ref yr, ref yi, outStride, count, ref wr, ref wi, twStride, broadcast, twiddle);
            Store(x1r, x1i, p + 4, ref yr, ref yi, outStride, count, ref wr, ref wi, twStride, broadcast, twiddle);
            Store(x2r, x2i, p + 8, ref yr, ref yi, outStride, count, ref wr, ref wi, twStride, broadcast, twiddle);
            Store(x3r, x3i, p + 12, ref yr, ref yi, outStride, count, ref wr, ref wi, twStride, broadcast, twiddle);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(Vector256<T> vr, Vector256<T> vi, int k1, ref T yr, ref T yi, nint outStride, int count,
        ref T wr, ref T wi, nint twStride, bool broadcast, bool twiddle) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (k1 >= count) return;
        if (twiddle)
        {
            var cr = broadcast ? Vector256.Create(Unsafe.Add(ref wr, k1)) : Vector256.LoadUnsafe(ref Unsafe.Add(ref wr, k1 * twStride));
            var ci = broadcast ? Vector256.Create(Unsafe.Add(ref wi, k1)) : Vector256.LoadUnsafe(ref Unsafe.Add(ref wi, k1 * twStride));
            (vr, vi) = (vr * cr - vi * ci, vr * ci + vi * cr);
        }
        vr.StoreUnsafe(ref Unsafe.Add(ref yr, k1 * outStride));
        vi.StoreUnsafe(ref Unsafe.Add(ref yi, k1 * outStride));
    }

    /// <summary>(vr + i vi) (cr + i ci), or times the conjugate when inverse.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<T>, Vector256<T>) Rotate<T>(Vector256<T> vr, Vector256<T> vi, T cr, T ci, bool inverse)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Vector256.Create(cr);
        var i = Vector256.Create(inverse ? -ci : ci);
        return (vr * r - vi * i, vr * i + vi * r);
    }

    /// <summary>
    /// y_r = sum_a w_4^(a r) x_a (w_4 = -i forward, +i inverse): with A = x0 + x2, B = x0 - x2, C = x1 + x3,
    /// E = x1 - x3: y0 = A + C, y2 = A - C, y1 = B -+ i E, y3 = B +- i E.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<T>, Vector256<T>, Vector256<T>, Vector256<T>, Vector256<T>, Vector256<T>, Vector256<T>, Vector256<T>) Dft4<T>(
        Vector256<T> x0r, Vector256<T> x0i, Vector256<T> x1r, Vector256<T> x1i, Vector256<T> x2r, Vector256<T> x2i,
        Vector256<T> x3r, Vector256<T> x3i, bool inverse) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var ar = x0r + x2r; var ai = x0i + x2i;
        var br = x0r - x2r; var bi = x0i - x2i;
        var cr = x1r + x3r; var ci = x1i + x3i;
        var er = x1r - x3r; var ei = x1i - x3i;
        if (inverse) (er, ei) = (-er, -ei);
        return (ar + cr, ai + ci, br + ei, bi - er, ar - cr, ai - ci, br - ei, bi + er);
    }

    /// <summary>
    /// Level 0 with the exact 16-point block, vectorized over j2 (q a multiple of the vector width): the lanes hold
    /// j2 .. j2 + W - 1, X[k1] = DFT_16 of x[q j1 + j2] (j1 with q j1 &gt;= nonzero read as zero) times the transposed
    /// twiddles tw[k1 q + j2], into a tile; W x W block transposes write out[j2 16 + k1].
    /// </summary>
    private static void FirstLevel16<T>(ReadOnlySpan<T> xr, ReadOnlySpan<T> xi, Span<T> outRe, Span<T> outIm,
        ReadOnlySpan<T> twr, ReadOnlySpan<T> twi, int q, int nonzero, bool inverse) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector256<T>.Count;
        Span<Vector256<T>> tile = stackalloc Vector256<T>[32];
        Span<Vector256<T>> resultRe = stackalloc Vector256<T>[16];
        Span<Vector256<T>> resultIm = stackalloc Vector256<T>[16];
        ref T xrRef = ref MemoryMarshal.GetReference(xr);
        ref T xiRef = ref MemoryMarshal.GetReference(xi);
        ref T wrRef = ref MemoryMarshal.GetReference(twr);
        ref T wiRef = ref MemoryMarshal.GetReference(twi);
        ref T tileRe = ref Unsafe.As<Vector256<T>, T>(ref MemoryMarshal.GetReference(resultRe));
        ref T tileIm = ref Unsafe.As<Vector256<T>, T>(ref MemoryMarshal.GetReference(resultIm));
        ref T orRef = ref MemoryMarshal.GetReference(outRe);
        ref T oiRef = ref MemoryMarshal.GetReference(outIm);
        for (int j2 = 0; j2 < q; j2 += lanes)
        {
            // Whole vectors only: j1 is kept while its first lane q j1 + j2 is below nonzero (the rest are zeros).
            int j1max = j2 >= nonzero ? 0 : Math.Min(16, (nonzero - j2 + q - 1) / q);
            Dft16(ref Unsafe.Add(ref xrRef, j2), ref Unsafe.Add(ref xiRef, j2), q, j1max, ref tileRe, ref tileIm, lanes, 16,
                ref Unsafe.Add(ref wrRef, j2), ref Unsafe.Add(ref wiRef, j2), q, broadcast: false, twiddle: true, inverse, tile);
            for (int kb = 0; kb < 16; kb += lanes)
            {
                BlockTranspose.Square(ref Unsafe.Add(ref tileRe, kb * lanes), lanes, ref Unsafe.Add(ref orRef, j2 * 16 + kb), 16);
                BlockTranspose.Square(ref Unsafe.Add(ref tileIm, kb * lanes), lanes, ref Unsafe.Add(ref oiRef, j2 * 16 + kb), 16);
            }
        }
    }

    /// <summary>
    /// Level s &gt; 0 with the exact 16-point block, vectorized over beta (b a multiple of the vector width):
    /// out[(j2 16 + k1) b + beta] = tw[j2, k1] DFT_16(in[(q j1 + j2) b + beta])[k1] for k1 &lt; k1count; no twiddle when q = 1.
    /// </summary>
    private static void BatchLevel16<T>(ReadOnlySpan<T> xr, ReadOnlySpan<T> xi, Span<T> outRe, Span<T> outIm,
        ReadOnlySpan<T> twr, ReadOnlySpan<T> twi, int q, int b, int k1count, bool inverse) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector256<T>.Count;
        Span<Vector256<T>> tile = stackalloc Vector256<T>[32];
        ref T xrRef = ref MemoryMarshal.GetReference(xr);
        ref T xiRef = ref MemoryMarshal.GetReference(xi);
        ref T wrRef = ref MemoryMarshal.GetReference(twr);
        ref T wiRef = ref MemoryMarshal.GetReference(twi);
        ref T orRef = ref MemoryMarshal.GetReference(outRe);
        ref T oiRef = ref MemoryMarshal.GetReference(outIm);
        for (int j2 = 0; j2 < q; j2++)
            for (int beta = 0; beta < b; beta += lanes)
                Dft16(ref Unsafe.Add(ref xrRef, j2 * b + beta), ref Unsafe.Add(ref xiRef, j2 * b + beta), (nint)q * b, 16,
                    ref Unsafe.Add(ref orRef, j2 * 16 * b + beta), ref Unsafe.Add(ref oiRef, j2 * 16 * b + beta), b, k1count,
                    ref Unsafe.Add(ref wrRef, j2 * 16), ref Unsafe.Add(ref wiRef, j2 * 16), 1, broadcast: true, twiddle: q > 1, inverse, tile);
    }

    /// <summary>
    /// The last two levels in one pass when they are 16 x 2 (q = 2 at the 16-point level, batch b): for each vector of
    /// beta, the two twiddled DFT_16 columns X_(j2)[k1] (j2 = 0, 1, <see cref="BatchLevel16"/>'s values) are kept in a
    /// stack tile and the 2-point level writes out[k2 16 b + k1 b + beta] = X_0[k1] + (-1)^k2 X_1[k1] for k2 &lt; k2count,
    /// i.e. the exact block F_2 (its own conjugate) without the pass through memory between the levels.
    /// </summary>
    private static void Level16Then2<T>(ReadOnlySpan<T> xr, ReadOnlySpan<T> xi, Span<T> outRe, Span<T> outIm,
        ReadOnlySpan<T> twr, ReadOnlySpan<T> twi, int b, int k2count, bool inverse) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector256<T>.Count;
        Span<Vector256<T>> tile = stackalloc Vector256<T>[32];
        Span<Vector256<T>> column = stackalloc Vector256<T>[64];
        ref T cRef = ref Unsafe.As<Vector256<T>, T>(ref MemoryMarshal.GetReference(column));
        ref T xrRef = ref MemoryMarshal.GetReference(xr);
        ref T xiRef = ref MemoryMarshal.GetReference(xi);
        ref T wrRef = ref MemoryMarshal.GetReference(twr);
        ref T wiRef = ref MemoryMarshal.GetReference(twi);
        ref T orRef = ref MemoryMarshal.GetReference(outRe);
        ref T oiRef = ref MemoryMarshal.GetReference(outIm);
        nint half = 16 * (nint)b;
        for (int beta = 0; beta < b; beta += lanes)
        {
            // Columns j2 = 0, 1 at vectors [0, 16) re, [16, 32) im, [32, 48) re, [48, 64) im.
            for (int j2 = 0; j2 < 2; j2++)
                Dft16(ref Unsafe.Add(ref xrRef, j2 * b + beta), ref Unsafe.Add(ref xiRef, j2 * b + beta), 2 * (nint)b, 16,
                    ref Unsafe.Add(ref cRef, j2 * 32 * lanes), ref Unsafe.Add(ref cRef, (j2 * 32 + 16) * lanes), lanes, 16,
                    ref Unsafe.Add(ref wrRef, j2 * 16), ref Unsafe.Add(ref wiRef, j2 * 16), 1, broadcast: true, twiddle: true, inverse, tile);
            for (int k1 = 0; k1 < 16; k1++)
            {
                var ar = column[k1]; var ai = column[16 + k1];
                var br = column[32 + k1]; var bi = column[48 + k1];
                nint at = (nint)k1 * b + beta;
                (ar + br).StoreUnsafe(ref Unsafe.Add(ref orRef, at));
                (ai + bi).StoreUnsafe(ref Unsafe.Add(ref oiRef, at));
                if (k2count < 2) continue;
                (ar - br).StoreUnsafe(ref Unsafe.Add(ref orRef, half + at));
                (ai - bi).StoreUnsafe(ref Unsafe.Add(ref oiRef, half + at));
            }
        }
    }

    // ------------------------------------------------------------------ the same codelets on Vector512

    // The 16-point levels above, one vector of 16 float (8 double) lanes at a time where the JIT accelerates Vector512
    // (AVX-512): the same operations in the same order, so the results equal the Vector256 route's lane for lane; half
    // the instructions per point, which is what these load/store-heavy codelets are bound by. Dft16Wide also skips the
    // zero half of a first-level block: when j1 >= 8 are all padding (x[8 + c] = x[12 + c] = 0), the first DFT_4 of
    // each column is two butterflies of x[c] and x[4 + c] (Dft4Half), the same values as Dft4 with those zeros.

    /// <summary>Whether the Vector512 codelets run: the JIT accelerates Vector512 of T (AVX-512).</summary>
    private static bool Wide<T>() where T : unmanaged => Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported;

    /// <summary><see cref="Dft16"/> on Vector512 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dft16Wide<T>(ref T xr, ref T xi, nint inStride, int j1max, ref T yr, ref T yi, nint outStride, int count,
        ref T wr, ref T wi, nint twStride, bool broadcast, bool twiddle, bool inverse, Span<Vector512<T>> tile)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var cr = Codelet16<T>.Re;
        var ci = Codelet16<T>.Im;
        bool half = j1max <= 8;
        for (int c = 0; c < 4; c++)
        {
            Vector512<T> Load(ref T x, int j1) => j1 < j1max ? Vector512.LoadUnsafe(ref Unsafe.Add(ref x, j1 * inStride)) : Vector512<T>.Zero;
            var (y0r, y0i, y1r, y1i, y2r, y2i, y3r, y3i) = half
                ? Dft4Half(Load(ref xr, c), Load(ref xi, c), Load(ref xr, 4 + c), Load(ref xi, 4 + c), inverse)
                : Dft4(Load(ref xr, c), Load(ref xi, c), Load(ref xr, 4 + c), Load(ref xi, 4 + c),
                    Load(ref xr, 8 + c), Load(ref xi, 8 + c), Load(ref xr, 12 + c), Load(ref xi, 12 + c), inverse);
            tile[8 * c] = y0r;
            tile[8 * c + 1] = y0i;
            if (c == 0)
            {
                tile[2] = y1r; tile[3] = y1i; tile[4] = y2r; tile[5] = y2i; tile[6] = y3r; tile[7] = y3i;
                continue;
            }
            (tile[8 * c + 2], tile[8 * c + 3]) = Rotate(y1r, y1i, cr[4 * c + 1], ci[4 * c + 1], inverse);
            (tile[8 * c + 4], tile[8 * c + 5]) = Rotate(y2r, y2i, cr[4 * c + 2], ci[4 * c + 2], inverse);
            (tile[8 * c + 6], tile[8 * c + 7]) = Rotate(y3r, y3i, cr[4 * c + 3], ci[4 * c + 3], inverse);
        }
        for (int p = 0; p < 4; p++)
        {
            var (x0r, x0i, x1r, x1i, x2r, x2i, x3r, x3i) = Dft4(tile[2 * p], tile[2 * p + 1], tile[8 + 2 * p], tile[9 + 2 * p],
                tile[16 + 2 * p], tile[17 + 2 * p], tile[24 + 2 * p], tile[25 + 2 * p], inverse);
            Store(x0r, x0i, p, ref yr, ref yi, outStride, count, ref wr, ref wi, twStride, broadcast, twiddle);
            Store(x1r, x1i, p + 4, ref yr, ref yi, outStride, count, ref wr, ref wi, twStride, broadcast, twiddle);
            Store(x2r, x2i, p + 8, ref yr, ref yi, outStride, count, ref wr, ref wi, twStride, broadcast, twiddle);
            Store(x3r, x3i, p + 12, ref yr, ref yi, outStride, count, ref wr, ref wi, twStride, broadcast, twiddle);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(Vector512<T> vr, Vector512<T> vi, int k1, ref T yr, ref T yi, nint outStride, int count,
        ref T wr, ref T wi, nint twStride, bool broadcast, bool twiddle) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (k1 >= count) return;
        if (twiddle)
        {
            var cr = broadcast ? Vector512.Create(Unsafe.Add(ref wr, k1)) : Vector512.LoadUnsafe(ref Unsafe.Add(ref wr, k1 * twStride));
            var ci = broadcast ? Vector512.Create(Unsafe.Add(ref wi, k1)) : Vector512.LoadUnsafe(ref Unsafe.Add(ref wi, k1 * twStride));
            (vr, vi) = (vr * cr - vi * ci, vr * ci + vi * cr);
        }
        vr.StoreUnsafe(ref Unsafe.Add(ref yr, k1 * outStride));
        vi.StoreUnsafe(ref Unsafe.Add(ref yi, k1 * outStride));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<T>, Vector512<T>) Rotate<T>(Vector512<T> vr, Vector512<T> vi, T cr, T ci, bool inverse)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Vector512.Create(cr);
        var i = Vector512.Create(inverse ? -ci : ci);
        return (vr * r - vi * i, vr * i + vi * r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<T>, Vector512<T>, Vector512<T>, Vector512<T>, Vector512<T>, Vector512<T>, Vector512<T>, Vector512<T>) Dft4<T>(
        Vector512<T> x0r, Vector512<T> x0i, Vector512<T> x1r, Vector512<T> x1i, Vector512<T> x2r, Vector512<T> x2i,
        Vector512<T> x3r, Vector512<T> x3i, bool inverse) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var ar = x0r + x2r; var ai = x0i + x2i;
        var br = x0r - x2r; var bi = x0i - x2i;
        var cr = x1r + x3r; var ci = x1i + x3i;
        var er = x1r - x3r; var ei = x1i - x3i;
        if (inverse) (er, ei) = (-er, -ei);
        return (ar + cr, ai + ci, br + ei, bi - er, ar - cr, ai - ci, br - ei, bi + er);
    }

    /// <summary>The Vector512 DFT_4 with x2 = x3 = 0: A = B = x0, C = E = x1 (E = -x1 when inverse).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<T>, Vector512<T>, Vector512<T>, Vector512<T>, Vector512<T>, Vector512<T>, Vector512<T>, Vector512<T>) Dft4Half<T>(
        Vector512<T> x0r, Vector512<T> x0i, Vector512<T> x1r, Vector512<T> x1i, bool inverse) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (er, ei) = inverse ? (-x1r, -x1i) : (x1r, x1i);
        return (x0r + x1r, x0i + x1i, x0r + ei, x0i - er, x0r - x1r, x0i - x1i, x0r - ei, x0i + er);
    }

    /// <summary><see cref="FirstLevel16"/> on Vector512 lanes (q a multiple of Vector512's width).</summary>
    private static void FirstLevel16Wide<T>(ReadOnlySpan<T> xr, ReadOnlySpan<T> xi, Span<T> outRe, Span<T> outIm,
        ReadOnlySpan<T> twr, ReadOnlySpan<T> twi, int q, int nonzero, bool inverse) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector512<T>.Count, w = Vector256<T>.Count;
        Span<Vector512<T>> tile = stackalloc Vector512<T>[32];
        Span<Vector512<T>> resultRe = stackalloc Vector512<T>[16];
        Span<Vector512<T>> resultIm = stackalloc Vector512<T>[16];
        ref T xrRef = ref MemoryMarshal.GetReference(xr);
        ref T xiRef = ref MemoryMarshal.GetReference(xi);
        ref T wrRef = ref MemoryMarshal.GetReference(twr);
        ref T wiRef = ref MemoryMarshal.GetReference(twi);
        ref T tileRe = ref Unsafe.As<Vector512<T>, T>(ref MemoryMarshal.GetReference(resultRe));
        ref T tileIm = ref Unsafe.As<Vector512<T>, T>(ref MemoryMarshal.GetReference(resultIm));
        ref T orRef = ref MemoryMarshal.GetReference(outRe);
        ref T oiRef = ref MemoryMarshal.GetReference(outIm);
        for (int j2 = 0; j2 < q; j2 += lanes)
        {
            int j1max = j2 >= nonzero ? 0 : Math.Min(16, (nonzero - j2 + q - 1) / q);
            Dft16Wide(ref Unsafe.Add(ref xrRef, j2), ref Unsafe.Add(ref xiRef, j2), q, j1max, ref tileRe, ref tileIm, lanes, 16,
                ref Unsafe.Add(ref wrRef, j2), ref Unsafe.Add(ref wiRef, j2), q, broadcast: false, twiddle: true, inverse, tile);
            // The [16 k1, lanes] tile to out[(j2 + lane) 16 + k1] in w x w block transposes (w = Vector256's width).
            for (int kb = 0; kb < 16; kb += w)
                for (int lb = 0; lb < lanes; lb += w)
                {
                    BlockTranspose.Square(ref Unsafe.Add(ref tileRe, kb * lanes + lb), lanes, ref Unsafe.Add(ref orRef, (j2 + lb) * 16 + kb), 16);
                    BlockTranspose.Square(ref Unsafe.Add(ref tileIm, kb * lanes + lb), lanes, ref Unsafe.Add(ref oiRef, (j2 + lb) * 16 + kb), 16);
                }
        }
    }

    /// <summary><see cref="BatchLevel16"/> on Vector512 lanes (b a multiple of Vector512's width).</summary>
    private static void BatchLevel16Wide<T>(ReadOnlySpan<T> xr, ReadOnlySpan<T> xi, Span<T> outRe, Span<T> outIm,
        ReadOnlySpan<T> twr, ReadOnlySpan<T> twi, int q, int b, int k1count, bool inverse) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector512<T>.Count;
        Span<Vector512<T>> tile = stackalloc Vector512<T>[32];
        ref T xrRef = ref MemoryMarshal.GetReference(xr);
        ref T xiRef = ref MemoryMarshal.GetReference(xi);
        ref T wrRef = ref MemoryMarshal.GetReference(twr);
        ref T wiRef = ref MemoryMarshal.GetReference(twi);
        ref T orRef = ref MemoryMarshal.GetReference(outRe);
        ref T oiRef = ref MemoryMarshal.GetReference(outIm);
        for (int j2 = 0; j2 < q; j2++)
            for (int beta = 0; beta < b; beta += lanes)
                Dft16Wide(ref Unsafe.Add(ref xrRef, j2 * b + beta), ref Unsafe.Add(ref xiRef, j2 * b + beta), (nint)q * b, 16,
                    ref Unsafe.Add(ref orRef, j2 * 16 * b + beta), ref Unsafe.Add(ref oiRef, j2 * 16 * b + beta), b, k1count,
                    ref Unsafe.Add(ref wrRef, j2 * 16), ref Unsafe.Add(ref wiRef, j2 * 16), 1, broadcast: true, twiddle: q > 1, inverse, tile);
    }

    /// <summary><see cref="Level16Then2"/> on Vector512 lanes (b a multiple of Vector512's width).</summary>
    private static void Level16Then2Wide<T>(ReadOnlySpan<T> xr, ReadOnlySpan<T> xi, Span<T> outRe, Span<T> outIm,
        ReadOnlySpan<T> twr, ReadOnlySpan<T> twi, int b, int k2count, bool inverse) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector512<T>.Count;
        Span<Vector512<T>> tile = stackalloc Vector512<T>[32];
        Span<Vector512<T>> column = stackalloc Vector512<T>[64];
        ref T cRef = ref Unsafe.As<Vector512<T>, T>(ref MemoryMarshal.GetReference(column));
        ref T xrRef = ref MemoryMarshal.GetReference(xr);
        ref T xiRef = ref MemoryMarshal.GetReference(xi);
        ref T wrRef = ref MemoryMarshal.GetReference(twr);
        ref T wiRef = ref MemoryMarshal.GetReference(twi);
        ref T orRef = ref MemoryMarshal.GetReference(outRe);
        ref T oiRef = ref MemoryMarshal.GetReference(outIm);
        nint half = 16 * (nint)b;
        for (int beta = 0; beta < b; beta += lanes)
        {
            for (int j2 = 0; j2 < 2; j2++)
                Dft16Wide(ref Unsafe.Add(ref xrRef, j2 * b + beta), ref Unsafe.Add(ref xiRef, j2 * b + beta), 2 * (nint)b, 16,
                    ref Unsafe.Add(ref cRef, j2 * 32 * lanes), ref Unsafe.Add(ref cRef, (j2 * 32 + 16) * lanes), lanes, 16,
                    ref Unsafe.Add(ref wrRef, j2 * 16), ref Unsafe.Add(ref wiRef, j2 * 16), 1, broadcast: true, twiddle: true, inverse, tile);
            for (int k1 = 0; k1 < 16; k1++)
            {
                var ar = column[k1]; var ai = column[16 + k1];
                var br = column[32 + k1]; var bi = column[48 + k1];
                nint at = (nint)k1 * b + beta;
                (ar + br).StoreUnsafe(ref Unsafe.Add(ref orRef, at));
                (ai + bi).StoreUnsafe(ref Unsafe.Add(ref oiRef, at));
                if (k2count < 2) continue;
                (ar - br).StoreUnsafe(ref Unsafe.Add(ref orRef, half + at));
                (ai - bi).StoreUnsafe(ref Unsafe.Add(ref oiRef, half + at));
            }
        }
    }

    // ------------------------------------------------------------------ transforms (Fast)

    /// <summary>Fast tier of <see cref="Forward"/>: in-place DFT of each row of re, im [rows, N] in float or double.</summary>
    public static void ForwardFast<T>(Span<T> re, Span<T> im, int rows, int n) where T : unmanaged, IFloatingPointIeee754<T> =>
        ExactFast(re, im, rows, n, inverse: false);

    /// <summary>Fast tier of <see cref="Inverse"/>: in-place inverse DFT (scaled 1/N) of each row of re, im [rows, N].</summary>
    public static void InverseFast<T>(Span<T> re, Span<T> im, int rows, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ExactFast(re, im, rows, n, inverse: true);
        TensorPrimitives.Multiply(re, T.One / T.CreateTruncating(n), re);
        TensorPrimitives.Multiply(im, T.One / T.CreateTruncating(n), im);
    }

    private static void ExactFast<T>(Span<T> re, Span<T> im, int rows, int n, bool inverse) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckData(re, im, rows, n);
        var plan = BlockPlan<T>.Get(n);
        var sr = new T[n];
        var si = new T[n];
        for (int r = 0; r < rows; r++)
            plan.Transform(inverse ? plan.Inverse : plan.Forward, inverse, re.Slice(r * n, n), im.Slice(r * n, n), sr, si, n, n);
    }

    /// <summary>Fast tier of <see cref="LearnedForward"/>: channel c's learned blocks for row r (c = r mod C), in float or double.</summary>
    public static void LearnedForwardFast<T>(ButterflyParameters p, Span<T> re, Span<T> im, int rows) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        CheckData(re, im, rows, p.Length);
        if (rows % p.Channels != 0)
            throw new ArgumentException($"rows must be a multiple of C = {p.Channels}, got {rows}.", nameof(rows));
        int n = p.Length;
        var plan = BlockPlan<T>.Get(n);
        var blocks = Enumerable.Range(0, p.Channels).Select(c => LearnedBlocks<T>(p, c)).ToArray();
        var sr = new T[n];
        var si = new T[n];
        for (int r = 0; r < rows; r++)
            plan.Transform(blocks[r % p.Channels], false, re.Slice(r * n, n), im.Slice(r * n, n), sr, si, n, n);
    }

    private static LevelBlocks<T> LearnedBlocks<T>(ButterflyParameters p, int channel) where T : unmanaged, IFloatingPointIeee754<T> =>
        LevelBlocks<T>.From(p.Factors, l => (p.BlockRe[l], p.BlockIm[l], channel * p.Factors[l] * p.Factors[l]), conjugate: false);

    // ------------------------------------------------------------------ convolutions (Fast)

    /// <summary>
    /// Fast tier of <see cref="Convolve"/> for float or double: y = k * u + d u through the exact block FFT
    /// of size N = FftConvolution.FftSize(L, Lk), two channels per complex transform (file head); pairs of
    /// channels run in parallel up to <paramref name="maxThreads"/> (0 = all cores, 1 = the calling thread).
    /// </summary>
    public static Tensor<T> ConvolveFast<T>(Tensor<T> u, Tensor<T> k, Tensor<T>? d = null, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CausalConvolution.Check(u, k, d);
        // Every output entry is written (no zeroing needed).
        var y = new Tensor<T>(GC.AllocateUninitializedArray<T>(u.Length), u.ShapeArray);
        ConvolveFastInto(u, k, y.Data, d, maxThreads);
        return y;
    }

    /// <summary>
    /// <see cref="ConvolveFast"/> into a caller-owned output y [u's shape] (every entry overwritten), so that repeated
    /// calls allocate nothing but their pooled workspaces (a 4 MB output per call otherwise costs Gen2 collections).
    /// </summary>
    public static void ConvolveFastInto<T>(Tensor<T> u, Tensor<T> k, T[] y, Tensor<T>? d = null, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (rows, channels, length, kernelLength) = CausalConvolution.Check(u, k, d);
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads, nameof(maxThreads));
        ArgumentNullException.ThrowIfNull(y);
        if (y.Length != u.Length)
            throw new ArgumentException($"y must have u's length {u.Length}, got {y.Length}.", nameof(y));
        int n = FftConvolution.FftSize(length, kernelLength), taps = Math.Min(kernelLength, length), batch = rows / channels;
        var plan = BlockPlan<T>.Get(n);
        T[] ud = u.Data, kd = k.Data, yd = y;
        T scale = T.One / T.CreateTruncating(4 * (long)n);
        ForEachWithScratch<T>((channels + 1) / 2, maxThreads, 8 * n, (pair, work) =>
        {
            int ca = 2 * pair, cb = ca + 1;
            bool two = cb < channels;
            Span<T> kr = work.AsSpan(0, n), ki = work.AsSpan(n, n), zr = work.AsSpan(2 * n, n), zi = work.AsSpan(3 * n, n);
            Span<T> wr = work.AsSpan(4 * n, n), wi = work.AsSpan(5 * n, n), sr = work.AsSpan(6 * n, n), si = work.AsSpan(7 * n, n);
            // Z_k = F(k_a + i k_b) (taps zero-padded to N) into kr, ki; w and s are the transforms' workspace. A full pair
            // reads its rows in place and every transform writes its last level straight into its destination (Transform's
            // source and destination); a lone last channel goes through a zero-filled buffer.
            if (two)
                plan.Transform(plan.Forward, false, wr, wi, sr, si, taps, n,
                    kd.AsSpan(ca * kernelLength, taps), kd.AsSpan(cb * kernelLength, taps), kr, ki);
            else
            {
                kd.AsSpan(ca * kernelLength, taps).CopyTo(wr);
                wr[taps..].Clear();
                wi.Clear();
                plan.Transform(plan.Forward, false, wr, wi, sr, si, taps, n, default, default, kr, ki);
            }
            for (int bi = 0; bi < batch; bi++)
            {
                int ra = bi * channels + ca, rb = ra + 1;
                if (two)
                {
                    plan.Transform(plan.Forward, false, wr, wi, sr, si, length, n,
                        ud.AsSpan(ra * length, length), ud.AsSpan(rb * length, length), zr, zi);
                    PackedProduct(zr, zi, kr, ki, wr, wi, scale);
                    plan.Transform(plan.Inverse, true, wr, wi, sr, si, n, length,
                        default, default, yd.AsSpan(ra * length, length), yd.AsSpan(rb * length, length));
                    continue;
                }
                ud.AsSpan(ra * length, length).CopyTo(wr);
                wr[length..].Clear();
                wi.Clear();
                plan.Transform(plan.Forward, false, wr, wi, sr, si, length, n, default, default, zr, zi);
                PackedProduct(zr, zi, kr, ki, wr, wi, scale);
                plan.Transform(plan.Inverse, true, wr, wi, sr, si, n, length);
                wr[..length].CopyTo(yd.AsSpan(ra * length, length));
            }
        });
        if (d is not null) AddSkip(u, d, yd, rows, channels, length);
    }

    /// <summary>The lanes of v in reverse order (one permute: vpermps / vpermpd).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> ReverseLanes<T>(Vector256<T> v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) return Vector256.Shuffle(v.AsSingle(), Vector256.Create(7, 6, 5, 4, 3, 2, 1, 0)).As<float, T>();
        if (typeof(T) == typeof(double)) return Vector256.Shuffle(v.AsDouble(), Vector256.Create(3L, 2, 1, 0)).As<double, T>();
        throw new NotSupportedException($"ReverseLanes runs on float or double, not {typeof(T).Name}.");
    }

    /// <summary>The lanes of v in reverse order (one permute: vpermps / vpermpd).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> ReverseLanes<T>(Vector512<T> v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
            return Vector512.Shuffle(v.AsSingle(), Vector512.Create(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)).As<float, T>();
        if (typeof(T) == typeof(double)) return Vector512.Shuffle(v.AsDouble(), Vector512.Create(7L, 6, 5, 4, 3, 2, 1, 0)).As<double, T>();
        throw new NotSupportedException($"ReverseLanes runs on float or double, not {typeof(T).Name}.");
    }

    /// <summary>
    /// W = Z P + conj(Z') Q for the packed input spectrum Z = U_a + i U_b and kernel spectrum K = K_a + i K_b (X'[f] =
    /// X[(N - f) mod N], read reversed in place), so that W = s (U_a K_a + i U_b K_b) = Y_a + i Y_b scaled for the unscaled
    /// inverse transform (s = 4 scale). The kernel's factors are formed on the fly from K and K' (no pass of their own):
    /// K_a = (K + conj K') / 2, K_b = (K - conj K') / (2 i), P = s (K_a + K_b) / 2, Q = s (K_a - K_b) / 2, i.e.
    /// P = scale (Kr + Kr' + Ki + Ki', Ki - Ki' + Kr' - Kr), Q = scale (Kr + Kr' - Ki - Ki', Ki - Ki' + Kr - Kr'), and
    /// Wr = Zr Pr - Zi Pi + Zr' Qr + Zi' Qi, Wi = Zr Pi + Zi Pr + Zr' Qi - Zi' Qr.
    /// </summary>
    private static void PackedProduct<T>(ReadOnlySpan<T> zr, ReadOnlySpan<T> zi, ReadOnlySpan<T> kr, ReadOnlySpan<T> ki,
        Span<T> wr, Span<T> wi, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = zr.Length, f = 0;
        void One(ReadOnlySpan<T> zr, ReadOnlySpan<T> zi, ReadOnlySpan<T> kr, ReadOnlySpan<T> ki, Span<T> wr, Span<T> wi, int f)
        {
            int g = (n - f) % n;
            T sum = kr[f] + kr[g], isum = ki[f] + ki[g], idiff = ki[f] - ki[g], diff = kr[g] - kr[f];
            T pr = (sum + isum) * scale, pi = (idiff + diff) * scale, qr = (sum - isum) * scale, qi = (idiff - diff) * scale;
            wr[f] = zr[f] * pr - zi[f] * pi + zr[g] * qr + zi[g] * qi;
            wi[f] = zr[f] * pi + zi[f] * pr + zr[g] * qi - zi[g] * qr;
        }
        One(zr, zi, kr, ki, wr, wi, f++);
        ref T zrRef = ref MemoryMarshal.GetReference(zr);
        ref T ziRef = ref MemoryMarshal.GetReference(zi);
        ref T krRef = ref MemoryMarshal.GetReference(kr);
        ref T kiRef = ref MemoryMarshal.GetReference(ki);
        ref T wrRef = ref MemoryMarshal.GetReference(wr);
        ref T wiRef = ref MemoryMarshal.GetReference(wi);
        if (Wide<T>())
        {
            int lanes = Vector512<T>.Count;
            var sv = Vector512.Create(scale);
            for (; f + lanes <= n; f += lanes)
            {
                nuint at = (nuint)f, mirror = (nuint)(n - f - lanes + 1);
                var k0 = Vector512.LoadUnsafe(ref krRef, at);
                var k1 = Vector512.LoadUnsafe(ref kiRef, at);
                var k2 = ReverseLanes(Vector512.LoadUnsafe(ref krRef, mirror));
                var k3 = ReverseLanes(Vector512.LoadUnsafe(ref kiRef, mirror));
                var sum = k0 + k2; var isum = k1 + k3; var idiff = k1 - k3; var diff = k2 - k0;
                var p0 = (sum + isum) * sv; var p1 = (idiff + diff) * sv; var q0 = (sum - isum) * sv; var q1 = (idiff - diff) * sv;
                var a = Vector512.LoadUnsafe(ref zrRef, at);
                var b = Vector512.LoadUnsafe(ref ziRef, at);
                var c = ReverseLanes(Vector512.LoadUnsafe(ref zrRef, mirror));
                var e = ReverseLanes(Vector512.LoadUnsafe(ref ziRef, mirror));
                (a * p0 - b * p1 + c * q0 + e * q1).StoreUnsafe(ref wrRef, at);
                (a * p1 + b * p0 + c * q1 - e * q0).StoreUnsafe(ref wiRef, at);
            }
        }
        else if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            int lanes = Vector256<T>.Count;
            var sv = Vector256.Create(scale);
            for (; f + lanes <= n; f += lanes)
            {
                nuint at = (nuint)f, mirror = (nuint)(n - f - lanes + 1);
                var k0 = Vector256.LoadUnsafe(ref krRef, at);
                var k1 = Vector256.LoadUnsafe(ref kiRef, at);
                var k2 = ReverseLanes(Vector256.LoadUnsafe(ref krRef, mirror));
                var k3 = ReverseLanes(Vector256.LoadUnsafe(ref kiRef, mirror));
                var sum = k0 + k2; var isum = k1 + k3; var idiff = k1 - k3; var diff = k2 - k0;
                var p0 = (sum + isum) * sv; var p1 = (idiff + diff) * sv; var q0 = (sum - isum) * sv; var q1 = (idiff - diff) * sv;
                var a = Vector256.LoadUnsafe(ref zrRef, at);
                var b = Vector256.LoadUnsafe(ref ziRef, at);
                var c = ReverseLanes(Vector256.LoadUnsafe(ref zrRef, mirror));
                var e = ReverseLanes(Vector256.LoadUnsafe(ref ziRef, mirror));
                (a * p0 - b * p1 + c * q0 + e * q1).StoreUnsafe(ref wrRef, at);
                (a * p1 + b * p0 + c * q1 - e * q0).StoreUnsafe(ref wiRef, at);
            }
        }
        for (; f < n; f++) One(zr, zi, kr, ki, wr, wi, f);
    }

    /// <summary>
    /// Fast tier of <see cref="ConvolveLearned"/> for float or double: each row and kernel through its
    /// channel's learned blocks, the product, the exact inverse; channels in parallel up to
    /// <paramref name="maxThreads"/> (0 = all cores).
    /// </summary>
    public static Tensor<T> ConvolveLearnedFast<T>(ButterflyParameters p, Tensor<T> u, Tensor<T> k, Tensor<T>? d = null, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        var (rows, channels, length, kernelLength) = CausalConvolution.Check(u, k, d);
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads, nameof(maxThreads));
        int n = FftConvolution.FftSize(length, kernelLength), taps = Math.Min(kernelLength, length), batch = rows / channels;
        if (p.Length != n || p.Channels != channels)
            throw new ArgumentException($"p must have Length = {n} and Channels = {channels}, got {p.Length} and {p.Channels}.", nameof(p));
        var plan = BlockPlan<T>.Get(n);
        var y = Tensor<T>.Zeros(u.ShapeArray);
        T[] ud = u.Data, kd = k.Data, yd = y.Data;
        T scale = T.One / T.CreateTruncating(n);
        ForEachWithScratch<T>(channels, maxThreads, 6 * n, (c, work) =>
        {
            var blocks = LearnedBlocks<T>(p, c);
            var zk = work.AsSpan(0, 2 * n);
            var zu = work.AsSpan(2 * n, 2 * n);
            var scratch = work.AsSpan(4 * n, 2 * n);
            zk.Clear();
            kd.AsSpan(c * kernelLength, taps).CopyTo(zk);
            plan.Transform(blocks, false, zk[..n], zk[n..], scratch[..n], scratch[n..], taps, n);
            TensorPrimitives.Multiply(zk, scale, zk);
            for (int bi = 0; bi < batch; bi++)
            {
                int r = bi * channels + c;
                zu.Clear();
                ud.AsSpan(r * length, length).CopyTo(zu);
                plan.Transform(blocks, false, zu[..n], zu[n..], scratch[..n], scratch[n..], length, n);
                FftConvolution.ComplexMultiply(zu[..n], zu[n..], zk[..n], zk[n..]);
                plan.Transform(plan.Inverse, true, zu[..n], zu[n..], scratch[..n], scratch[n..], n, length);
                zu[..length].CopyTo(yd.AsSpan(r * length, length));
            }
        });
        if (d is not null) AddSkip(u, d, y.Data, rows, channels, length);
        return y;
    }

    /// <summary>
    /// body(i, scratch) for i &lt; count: on the calling thread when maxThreads = 1, else Parallel.For up to maxThreads
    /// (0 = all cores); each worker rents one scratch array of at least <paramref name="scratch"/> values from the shared
    /// ArrayPool (a fresh array per partition would be a large-object allocation per call).
    /// </summary>
    private static void ForEachWithScratch<T>(int count, int maxThreads, int scratch, Action<int, T[]> body)
    {
        if (maxThreads == 1 || count <= 1)
        {
            var work = System.Buffers.ArrayPool<T>.Shared.Rent(scratch);
            try
            {
                for (int i = 0; i < count; i++) body(i, work);
            }
            finally
            {
                System.Buffers.ArrayPool<T>.Shared.Return(work);
            }
            return;
        }
        var options = new ParallelOptions { MaxDegreeOfParallelism = maxThreads > 0 ? maxThreads : KernelThreads.Default };
        Parallel.For(0, count, options, () => System.Buffers.ArrayPool<T>.Shared.Rent(scratch), (i, _, work) =>
        {
            body(i, work);
            return work;
        }, work => System.Buffers.ArrayPool<T>.Shared.Return(work));
    }

    /// <summary>y[r] += d[r mod C] u[r] for every row (TensorPrimitives).</summary>
    private static void AddSkip<T>(Tensor<T> u, Tensor<T> d, T[] y, int rows, int channels, int length)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int r = 0; r < rows; r++)
            TensorPrimitives.MultiplyAdd(u.Data.AsSpan(r * length, length), d.Data[r % channels],
                y.AsSpan(r * length, length), y.AsSpan(r * length, length));
    }
}
