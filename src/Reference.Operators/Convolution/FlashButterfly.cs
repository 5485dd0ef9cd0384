// FlashButterfly: the FFT of a long convolution written as a few dense block-DFT matrix products
// (GEMMs) with twiddle factors between them, so that the blocks can run on matrix units and, in the
// learned variant, become trainable parameters.
//
// Paper: "Simple Hardware-Efficient Long Convolutions for Sequence Modeling" (Fu, Epstein et al.,
// arXiv:2302.06646), Sec. 3.2 (FlashButterfly: the FFT as a Monarch/butterfly decomposition
// F_N = P (I_m (x) F_n) P^T D (I_n (x) F_m) P evaluated as block GEMMs), Sec. 3.3 (learning the
// butterfly blocks: the small DFT blocks become parameters initialized to the exact DFT).
// Cooley-Tukey (Cooley and Tukey 1965), for N = m n with j = n j1 + j2 and k = k1 + m k2:
//   X[k1 + m k2] = sum_j2 w_n^(j2 k2) [ w_N^(j2 k1) ( sum_j1 w_m^(j1 k1) x[n j1 + j2] ) ]
//   step 1  view x as an m x n matrix (row j1, column j2); A = F_m x: length-m DFTs down the columns (one GEMM)
//   step 2  twiddles A[k1, j2] *= w_N^(j2 k1)
//   step 3  length-n DFTs along the rows of A (recursively, while n > 16), giving B[k1, k2]
//   step 4  natural order: X[k1 + m k2] = B[k1, k2] (a transpose)
// with w_s = exp(-2 pi i / s) (forward; the inverse conjugates every block and twiddle and scales 1/N).
//
// Glossary (code -> paper):
//   Factors(N)        the block sizes m_0, m_1, ..., m_last (product N): each level takes the largest
//                     divisor m <= 16 of the current length while it exceeds 16; the last is the dense base
//   block [f, f]      F_f, the f-point DFT matrix F[a, b] = w_f^(a b) (exact) or a learned complex block
//   re, im [rows, N]  split complex data (rows transformed independently)
//   ButterflyParameters  the learned variant: one complex block per level per channel [C, f, f]
//                     (shared by the block-diagonal copies of that level), initialized to the exact DFT
//   u, y [.., C, L]; k [C, Lk]; d [C]   as in CausalConvolution.cs
//   g_z               the gradient of a complex variable, dL/dRe z + i dL/dIm z (backward pass)
//
// Backward pass: Backward (u, k, d) and BackwardLearned (also every learned block entry), derived in
// their doc comments; the tape adapters are in ConvolutionOps.cs.
//
// Tiers: this file is the float64 naive tier (NaiveGemm for every block product, twiddle angles reduced
// modulo N before cos/sin); FlashButterfly.Fast.cs is the float32/float64 fast tier of the same levels.
// The tape adapters (ConvolutionOps.cs) run this naive tier forward and backward in float64.
// Deliberate simplifications: a length with no divisor in [2, 16] (a prime > 16) is one
// dense DFT block; the learned convolution transforms u and k with the learned blocks and returns with
// the exact inverse (after training the round trip is no longer the identity, as the paper notes).
using Reference.Core;
using Reference.Core.Fourier;
using Reference.Core.Linear;

namespace Reference.Operators.Convolution;

/// <summary>Learned butterfly blocks: BlockRe[level], BlockIm[level] hold [C, f, f] with f = Factors[level].</summary>
public sealed record ButterflyParameters(int Length, int Channels, int[] Factors, double[][] BlockRe, double[][] BlockIm)
{
    /// <summary>Blocks equal to the exact DFT matrices for every channel (the paper's initialization).</summary>
    public static ButterflyParameters InitializeExact(int length, int channels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1, nameof(length));
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1, nameof(channels));
        var factors = FlashButterfly.Factors(length);
        var re = new double[factors.Length][];
        var im = new double[factors.Length][];
        for (int l = 0; l < factors.Length; l++)
        {
            int f = factors[l];
            var (br, bi) = FlashButterfly.DftBlock(f, inverse: false);
            re[l] = new double[channels * f * f];
            im[l] = new double[channels * f * f];
            for (int c = 0; c < channels; c++)
            {
                br.CopyTo(re[l], c * f * f);
                bi.CopyTo(im[l], c * f * f);
            }
        }
        return new ButterflyParameters(length, channels, factors, re, im);
    }

    internal void Validate(string argument)
    {
        if (Length < 1 || Channels < 1 || !Factors.SequenceEqual(FlashButterfly.Factors(Length))
            || BlockRe.Length != Factors.Length || BlockIm.Length != Factors.Length
            || Enumerable.Range(0, Factors.Length).Any(l => BlockRe[l].Length != Channels * Factors[l] * Factors[l]
                                                          || BlockIm[l].Length != Channels * Factors[l] * Factors[l]))
            throw new ArgumentException(
                $"expected Factors = [{string.Join(", ", FlashButterfly.Factors(Math.Max(Length, 1)))}] and blocks [C = {Channels}, f, f] per level.", argument);
    }
}

/// <summary>
/// Gradients of <see cref="FlashButterfly.BackwardLearned"/>: u, k, d as in <see cref="ConvolutionGradients"/>,
/// and BlockRe[level], BlockIm[level] [C, f, f] = dL/d Re and dL/d Im of every learned block entry.
/// </summary>
public sealed record LearnedConvolutionGradients(
    Tensor<double> Input, Tensor<double> Kernel, Tensor<double>? Skip, double[][] BlockRe, double[][] BlockIm);

public static partial class FlashButterfly
{
    /// <summary>Lengths up to this are one dense DFT block.</summary>
    public const int BaseSize = 16;

    /// <summary>The block sizes of the recursion for length n (product n; see the file head).</summary>
    public static int[] Factors(int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1, nameof(n));
        var factors = new List<int>();
        while (n > BaseSize)
        {
            int m = 0;
            for (int f = BaseSize; f >= 2 && m == 0; f--) if (n % f == 0) m = f;
            if (m == 0) break;
            factors.Add(m);
            n /= m;
        }
        factors.Add(n);
        return [.. factors];
    }

    /// <summary>The f-point DFT matrix F[a, b] = exp(-+2 pi i a b / f) (minus for forward), split re/im [f, f].</summary>
    public static (double[] Re, double[] Im) DftBlock(int f, bool inverse)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(f, 1, nameof(f));
        var re = new double[f * f];
        var im = new double[f * f];
        double sign = inverse ? 1.0 : -1.0;
        for (int a = 0; a < f; a++)
            for (int b = 0; b < f; b++)
            {
                // Reduce a b modulo f first so the angle stays in [0, 2 pi) and cos/sin are accurate.
                double angle = sign * 2.0 * Math.PI * ((long)a * b % f) / f;
                re[a * f + b] = Math.Cos(angle);
                im[a * f + b] = Math.Sin(angle);
            }
        return (re, im);
    }

    // ------------------------------------------------------------------ exact block FFT

    /// <summary>In-place forward DFT X[k] = sum_j x[j] exp(-2 pi i j k / N) of each row of re, im [rows, N].</summary>
    public static void Forward(Span<double> re, Span<double> im, int rows, int n) => Exact(re, im, rows, n, inverse: false);

    /// <summary>In-place inverse DFT (scaled 1/N) of each row of re, im [rows, N].</summary>
    public static void Inverse(Span<double> re, Span<double> im, int rows, int n)
    {
        Exact(re, im, rows, n, inverse: true);
        double scale = 1.0 / n;
        for (int i = 0; i < rows * n; i++)
        {
            re[i] *= scale;
            im[i] *= scale;
        }
    }

    private static void Exact(Span<double> re, Span<double> im, int rows, int n, bool inverse)
    {
        CheckData(re, im, rows, n);
        var factors = Factors(n);
        var blocks = factors.Select(f => DftBlock(f, inverse)).ToArray();
        Apply(re, im, rows, n, factors, 0, l => (blocks[l].Re, blocks[l].Im), inverse);
    }

    // ------------------------------------------------------------------ learned variant

    /// <summary>
    /// The learned transform: the same recursion with channel c's blocks for row r (c = r mod C) and the
    /// exact twiddles. re, im [rows, N]. With exact blocks it equals <see cref="Forward"/> bit for bit.
    /// </summary>
    public static void LearnedForward(ButterflyParameters p, Span<double> re, Span<double> im, int rows)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        CheckData(re, im, rows, p.Length);
        if (rows % p.Channels != 0)
            throw new ArgumentException($"rows must be a multiple of C = {p.Channels}, got {rows}.", nameof(rows));
        int n = p.Length;
        for (int r = 0; r < rows; r++)
        {
            int c = r % p.Channels;
            Apply(re.Slice(r * n, n), im.Slice(r * n, n), 1, n, p.Factors, 0, l =>
            {
                int ff = p.Factors[l] * p.Factors[l];
                return (p.BlockRe[l].AsSpan(c * ff, ff).ToArray(), p.BlockIm[l].AsSpan(c * ff, ff).ToArray());
            }, inverse: false);
        }
    }

    // ------------------------------------------------------------------ the recursion

    private static void Apply(Span<double> re, Span<double> im, int rows, int n, int[] factors, int level,
        Func<int, (double[] Re, double[] Im)> block, bool inverse)
    {
        var (br, bi) = block(level);
        if (level == factors.Length - 1)
        {
            // Dense base: Y = X B^T for the rows X [rows, n].
            var yr = new double[rows * n];
            var yi = new double[rows * n];
            ComplexGemm(rows, n, n, re, im, n, false, br, bi, n, true, yr, yi, n);
            yr.CopyTo(re);
            yi.CopyTo(im);
            return;
        }
        int m = factors[level], q = n / m;
        var ar = new double[rows * n];
        var ai = new double[rows * n];
        double sign = inverse ? 1.0 : -1.0;
        for (int r = 0; r < rows; r++)
        {
            // Step 1: A = F_m X with X the m x q view of the row (columns are the length-m sequences).
            var xr = re.Slice(r * n, n);
            var xi = im.Slice(r * n, n);
            ComplexGemm(m, q, m, br, bi, m, false, xr, xi, q, false, ar.AsSpan(r * n, n), ai.AsSpan(r * n, n), q);
            // Step 2: twiddles w_n^(j2 k1), the angle reduced modulo n.
            Twiddle(ar.AsSpan(r * n, n), ai.AsSpan(r * n, n), m, q, n, sign);
        }
        // Step 3: length-q transforms along the rows of every A (rows * m sequences).
        Apply(ar, ai, rows * m, q, factors, level + 1, block, inverse);
        // Step 4: natural order X[k1 + m k2] = B[k1, k2].
        for (int r = 0; r < rows; r++)
            for (int k1 = 0; k1 < m; k1++)
                for (int k2 = 0; k2 < q; k2++)
                {
                    re[r * n + k1 + m * k2] = ar[r * n + k1 * q + k2];
                    im[r * n + k1 + m * k2] = ai[r * n + k1 * q + k2];
                }
    }

    /// <summary>Complex C = op(A) op(B) in split form: four real NaiveGemm products (re = ArBr - AiBi, im = ArBi + AiBr).</summary>
    private static void ComplexGemm(int m, int n, int k, ReadOnlySpan<double> ar, ReadOnlySpan<double> ai, int lda, bool transA,
        ReadOnlySpan<double> br, ReadOnlySpan<double> bi, int ldb, bool transB, Span<double> cr, Span<double> ci, int ldc)
    {
        NaiveGemm.Multiply(transA, transB, m, n, k, 1.0, ar, lda, br, ldb, 0.0, cr, ldc);
        NaiveGemm.Multiply(transA, transB, m, n, k, -1.0, ai, lda, bi, ldb, 1.0, cr, ldc);
        NaiveGemm.Multiply(transA, transB, m, n, k, 1.0, ar, lda, bi, ldb, 0.0, ci, ldc);
        NaiveGemm.Multiply(transA, transB, m, n, k, 1.0, ai, lda, br, ldb, 1.0, ci, ldc);
    }

    // ------------------------------------------------------------------ the long convolution on it

    /// <summary>
    /// Causal convolution y = k * u + d u (u [.., C, L], k [C, Lk], d [C] or null) through the exact block
    /// FFT: zero-pad u and the first min(Lk, L) taps to N = FftConvolution.FftSize(L, Lk), transform,
    /// multiply, inverse, keep the first L, add d u.
    /// </summary>
    public static Tensor<double> Convolve(Tensor<double> u, Tensor<double> k, Tensor<double>? d = null) =>
        ConvolveCore(u, k, d, null);

    /// <summary>
    /// The learned-block convolution: u and k go through <see cref="LearnedForward"/> (p.Length must be
    /// FftConvolution.FftSize(L, Lk)), the product returns through the exact inverse. At init = <see cref="Convolve"/>.
    /// </summary>
    public static Tensor<double> ConvolveLearned(ButterflyParameters p, Tensor<double> u, Tensor<double> k, Tensor<double>? d = null)
    {
        ArgumentNullException.ThrowIfNull(p);
        return ConvolveCore(u, k, d, p);
    }

    private static Tensor<double> ConvolveCore(Tensor<double> u, Tensor<double> k, Tensor<double>? d, ButterflyParameters? p)
    {
        var (rows, channels, length, kernelLength) = CausalConvolution.Check(u, k, d);
        int n = FftConvolution.FftSize(length, kernelLength), taps = Math.Min(kernelLength, length);
        if (p is not null && (p.Length != n || p.Channels != channels))
            throw new ArgumentException($"p must have Length = {n} and Channels = {channels}, got {p.Length} and {p.Channels}.", nameof(p));
        var kr = new double[channels * n];
        var ki = new double[channels * n];
        for (int c = 0; c < channels; c++) k.Data.AsSpan(c * kernelLength, taps).CopyTo(kr.AsSpan(c * n));
        var xr = new double[rows * n];
        var xi = new double[rows * n];
        for (int r = 0; r < rows; r++) u.Data.AsSpan(r * length, length).CopyTo(xr.AsSpan(r * n));
        if (p is null)
        {
            Forward(kr, ki, channels, n);
            Forward(xr, xi, rows, n);
        }
        else
        {
            LearnedForward(p, kr, ki, channels);
            LearnedForward(p, xr, xi, rows);
        }
        for (int r = 0; r < rows; r++)
            for (int f = 0; f < n; f++)
            {
                int i = r * n + f, j = (r % channels) * n + f;
                double vr = xr[i] * kr[j] - xi[i] * ki[j], vi = xr[i] * ki[j] + xi[i] * kr[j];
                xr[i] = vr;
                xi[i] = vi;
            }
        Inverse(xr, xi, rows, n);
        var y = Tensor<double>.Zeros(u.ShapeArray);
        for (int r = 0; r < rows; r++)
        {
            double skip = d is null ? 0.0 : d.Data[r % channels];
            for (int t = 0; t < length; t++) y.Data[r * length + t] = xr[r * n + t] + skip * u.Data[r * length + t];
        }
        return y;
    }

    // ------------------------------------------------------------------ three-pass form (Sec. 3.2)

    /// <summary>
    /// The paper's three-pass FlashButterfly for sequences longer than on-chip memory (Sec. 3.2, the "alternate"
    /// Butterfly decomposition F_N = P (I_m (x) F_q) D (F_m (x) I_q), m = Factors(N)[0], q = N / m): only the first
    /// level touches the whole sequence; everything else works on one chunk of length q at a time.
    ///   pass 1  A = D (F_m (x) I_q) x for x = pad(u) and for kappa = pad(k[:taps]): row k1 of A (a chunk of q values) is
    ///           sum_j1 w_m^(j1 k1) x[q j1 + j2], times w_N^(j2 k1)
    ///   pass 2  per chunk k1: Z_k1 = conj(F_q) (F_q A_k1 . F_q K_k1) with F_q the remaining levels (Factors(q));
    ///           F_q A_k1 is entries k1 + m k2 of F_N x, so the product is the spectrum product in the chunk's order
    ///   pass 3  w[q j1 + j2] = (1/N) sum_k1 conj(w_m^(j1 k1)) conj(w_N^(j2 k1)) Z_k1[j2] (the adjoint of pass 1), y = Re(w)[:L] + d u
    /// No chunk ever needs the natural-order spectrum (P and P^T cancel between the forward and the inverse). Equal to
    /// <see cref="Convolve"/> (float64 naive tier: DftBlock and twiddle angles as the recursion, NaiveGemm-free sums).
    /// The paper's chunked state passing across sequence chunks is FlashConv's (H3, Sec. 4.2), here
    /// <see cref="CausalConvolution.ForwardChunk"/>; the long-convolution paper's own split of a long sequence is this one.
    /// </summary>
    public static Tensor<double> ConvolveThreePass(Tensor<double> u, Tensor<double> k, Tensor<double>? d = null)
    {
        var (rows, channels, length, kernelLength) = CausalConvolution.Check(u, k, d);
        int n = FftConvolution.FftSize(length, kernelLength), taps = Math.Min(kernelLength, length);
        int m = Factors(n)[0], q = n / m;
        var (fr, fi) = DftBlock(m, inverse: false);

        // Pass 1 on a real padded row x [n] -> A [m, q] (row-major: chunk k1 at k1 q).
        (double[] Re, double[] Im) FirstPass(ReadOnlySpan<double> x)
        {
            var ar = new double[n];
            var ai = new double[n];
            for (int k1 = 0; k1 < m; k1++)
                for (int j2 = 0; j2 < q; j2++)
                {
                    double sr = 0.0, si = 0.0;
                    for (int j1 = 0; j1 < m; j1++)
                    {
                        double v = q * j1 + j2 < x.Length ? x[q * j1 + j2] : 0.0;
                        sr += fr[k1 * m + j1] * v;
                        si += fi[k1 * m + j1] * v;
                    }
                    double angle = -2.0 * Math.PI * ((long)j2 * k1 % n) / n;
                    double c = Math.Cos(angle), s = Math.Sin(angle);
                    ar[k1 * q + j2] = sr * c - si * s;
                    ai[k1 * q + j2] = sr * s + si * c;
                }
            return (ar, ai);
        }

        var kernels = new (double[] Re, double[] Im)[channels];
        for (int c = 0; c < channels; c++)
        {
            var a = FirstPass(k.Data.AsSpan(c * kernelLength, taps));
            if (m < n) Forward(a.Re, a.Im, m, q);         // pass 2's F_q of the kernel chunks (no chunk: N = m, one level)
            kernels[c] = a;
        }
        var y = Tensor<double>.Zeros(u.ShapeArray);
        for (int r = 0; r < rows; r++)
        {
            int c = r % channels;
            var (zr, zi) = FirstPass(u.Data.AsSpan(r * length, length));
            // Pass 2, chunk by chunk: forward on the chunk, product with the kernel's chunk, unscaled inverse on the chunk.
            for (int k1 = 0; k1 < m; k1++)
            {
                var cr = zr.AsSpan(k1 * q, q);
                var ci = zi.AsSpan(k1 * q, q);
                if (q > 1) Forward(cr, ci, 1, q);
                for (int j = 0; j < q; j++)
                {
                    double kr = kernels[c].Re[k1 * q + j], ki = kernels[c].Im[k1 * q + j];
                    (cr[j], ci[j]) = (cr[j] * kr - ci[j] * ki, cr[j] * ki + ci[j] * kr);
                }
                if (q > 1)
                {
                    Inverse(cr, ci, 1, q);
                    for (int j = 0; j < q; j++)
                    {
                        cr[j] *= q;
                        ci[j] *= q;
                    }
                }
            }
            // Pass 3: conjugate twiddles, then conj(F_m) across the chunks, 1/N; only t < L is kept.
            double skip = d is null ? 0.0 : d.Data[c];
            for (int t = 0; t < length; t++)
            {
                int j1 = t / q, j2 = t % q;
                double acc = 0.0;
                for (int k1 = 0; k1 < m; k1++)
                {
                    double angle = 2.0 * Math.PI * (((long)j2 * k1 % n) / (double)n + ((long)j1 * k1 % m) / (double)m);
                    acc += zr[k1 * q + j2] * Math.Cos(angle) - zi[k1 * q + j2] * Math.Sin(angle);
                }
                y.Data[r * length + t] = acc / n + skip * u.Data[r * length + t];
            }
        }
        return y;
    }

    // ------------------------------------------------------------------ backward pass

    /// <summary>
    /// Vector-Jacobian product of <see cref="Convolve"/> for the cotangent dy (u's shape): du, dk, dd
    /// shaped like u, k, d (dk is zero past the first min(Lk, L) taps, which never reach y).
    /// <para>Derivation. Write the convolution of one row as linear maps on C^N (N = FftSize(L, Lk)):
    /// x = pad(u), kappa = pad(k[:taps]), U = F x, K = F kappa, Z = U . K (elementwise),
    /// w = (1/N) conj(F) Z (the exact inverse), y = Re(w)[:L] + d u. For a real loss of complex
    /// variables carry the gradient g_z = dL/dRe z + i dL/dIm z; then (i) a C-linear map z' = M z has
    /// g_z = M^H g_z', (ii) z = a . b has g_a = g_z . conj(b), g_b = g_z . conj(a), (iii) a real input
    /// takes Re of its complex gradient. Backwards: g_w = pad(dy) (real), g_Z = (1/N) F g_w (the adjoint
    /// of (1/N) F^H), g_U = g_Z . conj(K), g_K = sum over the channel's rows of g_Z . conj(U),
    /// g_x = F^H g_U, g_kappa = F^H g_K. F is symmetric, so F^H = conj(F) is the unscaled inverse
    /// transform and g_x = IFFT(FFT(dy) . conj(K)): du[s] = sum_t dy[t] k[t - s] + d dy[s] and
    /// dk[j] = sum_t dy[t] u[t - j] are correlations computed with the same block transforms. The
    /// padding N >= L + taps - 1 keeps the circular wrap out of the first L (resp. taps) entries.
    /// dd = sum_t dy[t] u[t] over the channel's rows.</para>
    /// </summary>
    public static ConvolutionGradients Backward(Tensor<double> u, Tensor<double> k, Tensor<double>? d, Tensor<double> dy)
    {
        var r = BackwardCore(u, k, d, dy, null);
        return new ConvolutionGradients(r.Input, r.Kernel, r.Skip);
    }

    /// <summary>
    /// Vector-Jacobian product of <see cref="ConvolveLearned"/>: du, dk, dd as in <see cref="Backward"/>
    /// with the learned transform F_p in place of F (g_x = F_p^H g_U, g_kappa = F_p^H g_K), and the
    /// gradient of every learned block entry.
    /// <para>Derivation of F_p^H and of the block gradients. One level of F_p is a product of linear
    /// factors: X -> A = B X (the block B [m, m] on the m x q view of the row, one copy per row of the
    /// level), A -> A . W (the exact twiddles, a diagonal), the next level on the rows of A, and the
    /// permutation [k1, k2] -> k1 + m k2. The VJP of a product of factors is the product of their
    /// adjoints in reverse order: un-permute g_out, run the next level's adjoint, multiply by conj(W)
    /// (the adjoint of a diagonal), then g_X = B^H g_A. The base level Y = X B^T has g_X = g_Y conj(B).
    /// For the block entries, A = B X gives g_B = g_A X^H (dL = Re sum conj(g_A) dB X), summed over
    /// every copy of the block (the rows of the level and every row of the channel), and the base
    /// gives g_B = g_Y^T conj(X). dL/dRe B = Re g_B and dL/dIm B = Im g_B. The level inputs X are
    /// recomputed from the row (the naive tier trades time for clarity, as the forward does).</para>
    /// </summary>
    public static LearnedConvolutionGradients BackwardLearned(ButterflyParameters p, Tensor<double> u, Tensor<double> k,
        Tensor<double>? d, Tensor<double> dy)
    {
        ArgumentNullException.ThrowIfNull(p);
        return BackwardCore(u, k, d, dy, p);
    }

    private static LearnedConvolutionGradients BackwardCore(Tensor<double> u, Tensor<double> k, Tensor<double>? d,
        Tensor<double> dy, ButterflyParameters? p)
    {
        var (rows, channels, length, kernelLength) = CausalConvolution.Check(u, k, d);
        Shapes.Same(dy, u.Shape, nameof(dy));
        int n = FftConvolution.FftSize(length, kernelLength), taps = Math.Min(kernelLength, length);
        if (p is not null)
        {
            p.Validate(nameof(p));
            if (p.Length != n || p.Channels != channels)
                throw new ArgumentException($"p must have Length = {n} and Channels = {channels}, got {p.Length} and {p.Channels}.", nameof(p));
        }
        // The padded transform inputs (kept for the learned adjoint) and their transforms U, K.
        var kappa = new double[channels * n];
        for (int c = 0; c < channels; c++) k.Data.AsSpan(c * kernelLength, taps).CopyTo(kappa.AsSpan(c * n));
        var x = new double[rows * n];
        for (int r = 0; r < rows; r++) u.Data.AsSpan(r * length, length).CopyTo(x.AsSpan(r * n));
        var (kr, ki) = ((double[])kappa.Clone(), new double[channels * n]);
        var (xr, xi) = ((double[])x.Clone(), new double[rows * n]);
        if (p is null)
        {
            Forward(kr, ki, channels, n);
            Forward(xr, xi, rows, n);
        }
        else
        {
            LearnedForward(p, kr, ki, channels);
            LearnedForward(p, xr, xi, rows);
        }
        // g_Z = (1/N) FFT(pad dy); g_U = g_Z . conj(K); g_K = sum over rows of g_Z . conj(U).
        var gr = new double[rows * n];
        var gi = new double[rows * n];
        for (int r = 0; r < rows; r++) dy.Data.AsSpan(r * length, length).CopyTo(gr.AsSpan(r * n));
        Forward(gr, gi, rows, n);
        var gkr = new double[channels * n];
        var gki = new double[channels * n];
        double scale = 1.0 / n;
        for (int r = 0; r < rows; r++)
            for (int f = 0; f < n; f++)
            {
                int i = r * n + f, j = (r % channels) * n + f;
                double zr = gr[i] * scale, zi = gi[i] * scale;
                gkr[j] += zr * xr[i] + zi * xi[i];
                gki[j] += zi * xr[i] - zr * xi[i];
                gr[i] = zr * kr[j] + zi * ki[j];
                gi[i] = zi * kr[j] - zr * ki[j];
            }
        // g_x = F^H g_U and g_kappa = F^H g_K.
        double[][]? dRe = null, dIm = null;
        if (p is null)
        {
            Exact(gr, gi, rows, n, inverse: true);
            Exact(gkr, gki, channels, n, inverse: true);
        }
        else
        {
            dRe = p.Factors.Select(f => new double[channels * f * f]).ToArray();
            dIm = p.Factors.Select(f => new double[channels * f * f]).ToArray();
            LearnedAdjoint(p, x, gr, gi, rows, dRe, dIm);
            LearnedAdjoint(p, kappa, gkr, gki, channels, dRe, dIm);
        }
        var du = Tensor<double>.Zeros(u.ShapeArray);
        var dk = Tensor<double>.Zeros(k.ShapeArray);
        var dd = d is null ? null : Tensor<double>.Zeros(d.ShapeArray);
        for (int r = 0; r < rows; r++)
        {
            int c = r % channels;
            double skip = d is null ? 0.0 : d.Data[c];
            for (int t = 0; t < length; t++)
            {
                double g = dy.Data[r * length + t];
                du.Data[r * length + t] = gr[r * n + t] + skip * g;
                if (dd is not null) dd.Data[c] += g * u.Data[r * length + t];
            }
        }
        for (int c = 0; c < channels; c++)
            for (int j = 0; j < taps; j++) dk.Data[c * kernelLength + j] = gkr[c * n + j];
        return new LearnedConvolutionGradients(du, dk, dd, dRe ?? [], dIm ?? []);
    }

    /// <summary>
    /// g &lt;- F_p^H g for each row of g [rows, N] (channel r mod C), where the transform's input was the
    /// real row x [rows, N]; adds the gradients of channel c's blocks into dRe, dIm [level][C, f, f].
    /// </summary>
    private static void LearnedAdjoint(ButterflyParameters p, double[] x, double[] gr, double[] gi, int rows,
        double[][] dRe, double[][] dIm)
    {
        int n = p.Length, levels = p.Factors.Length;
        var zero = new double[n];
        for (int r = 0; r < rows; r++)
        {
            int c = r % p.Channels;
            var blocks = new (double[] Re, double[] Im)[levels];
            var blockRe = new double[levels][];
            var blockIm = new double[levels][];
            for (int l = 0; l < levels; l++)
            {
                int ff = p.Factors[l] * p.Factors[l];
                blocks[l] = (p.BlockRe[l].AsSpan(c * ff, ff).ToArray(), p.BlockIm[l].AsSpan(c * ff, ff).ToArray());
                blockRe[l] = new double[ff];
                blockIm[l] = new double[ff];
            }
            Adjoint(x.AsSpan(r * n, n), zero, gr.AsSpan(r * n, n), gi.AsSpan(r * n, n), 1, n, p.Factors, 0, blocks, blockRe, blockIm);
            for (int l = 0; l < levels; l++)
            {
                int ff = p.Factors[l] * p.Factors[l];
                for (int e = 0; e < ff; e++)
                {
                    dRe[l][c * ff + e] += blockRe[l][e];
                    dIm[l][c * ff + e] += blockIm[l][e];
                }
            }
        }
    }

    /// <summary>
    /// The reverse of <see cref="Apply"/> (forward blocks): given the level's input x [rows, n] and the
    /// gradient g of its output, overwrites g with the gradient of x and adds the gradients of the blocks
    /// into dRe, dIm [level][f, f] (the derivation is on <see cref="BackwardLearned"/>).
    /// </summary>
    private static void Adjoint(ReadOnlySpan<double> xr, ReadOnlySpan<double> xi, Span<double> gr, Span<double> gi,
        int rows, int n, int[] factors, int level, (double[] Re, double[] Im)[] blocks, double[][] dRe, double[][] dIm, double sign = -1.0)
    {
        var (br, bi) = blocks[level];
        var conjBi = bi.Select(v => -v).ToArray();
        var conjXi = new double[rows * n];
        for (int i = 0; i < rows * n; i++) conjXi[i] = -xi[i];
        int f = factors[level];
        var tr = new double[f * f];
        var ti = new double[f * f];
        if (level == factors.Length - 1)
        {
            // Y = X B^T: g_B = g_Y^T conj(X), g_X = g_Y conj(B).
            ComplexGemm(n, n, rows, gr, gi, n, true, xr, conjXi, n, false, tr, ti, n);
            Accumulate(dRe[level], dIm[level], tr, ti);
            var hr = new double[rows * n];
            var hi = new double[rows * n];
            ComplexGemm(rows, n, n, gr, gi, n, false, br, conjBi, n, false, hr, hi, n);
            hr.CopyTo(gr);
            hi.CopyTo(gi);
            return;
        }
        int m = f, q = n / m;
        // Recompute the next level's input A' = (B X) . W.
        var ar = new double[rows * n];
        var ai = new double[rows * n];
        for (int r = 0; r < rows; r++)
        {
            ComplexGemm(m, q, m, br, bi, m, false, xr.Slice(r * n, n), xi.Slice(r * n, n), q, false, ar.AsSpan(r * n, n), ai.AsSpan(r * n, n), q);
            Twiddle(ar.AsSpan(r * n, n), ai.AsSpan(r * n, n), m, q, n, sign);
        }
        // Un-permute: the gradient of B_out[k1, k2] is g[k1 + m k2].
        var sr = new double[rows * n];
        var si = new double[rows * n];
        for (int r = 0; r < rows; r++)
            for (int k1 = 0; k1 < m; k1++)
                for (int k2 = 0; k2 < q; k2++)
                {
                    sr[r * n + k1 * q + k2] = gr[r * n + k1 + m * k2];
                    si[r * n + k1 * q + k2] = gi[r * n + k1 + m * k2];
                }
        Adjoint(ar, ai, sr, si, rows * m, q, factors, level + 1, blocks, dRe, dIm, sign);
        for (int r = 0; r < rows; r++)
        {
            // The twiddles' adjoint multiplies by conj(W), then A = B X gives g_B += g_A X^H and g_X = B^H g_A.
            Twiddle(sr.AsSpan(r * n, n), si.AsSpan(r * n, n), m, q, n, -sign);
            ComplexGemm(m, m, q, sr.AsSpan(r * n, n), si.AsSpan(r * n, n), q, false, xr.Slice(r * n, n), conjXi.AsSpan(r * n, n), q, true, tr, ti, m);
            Accumulate(dRe[level], dIm[level], tr, ti);
            ComplexGemm(m, q, m, br, conjBi, m, true, sr.AsSpan(r * n, n), si.AsSpan(r * n, n), q, false, gr.Slice(r * n, n), gi.Slice(r * n, n), q);
        }
    }

    /// <summary>A[k1, j2] *= exp(sign 2 pi i j2 k1 / n) on the m x q view of one row (sign -1: the forward twiddles).</summary>
    private static void Twiddle(Span<double> re, Span<double> im, int m, int q, int n, double sign)
    {
        for (int k1 = 1; k1 < m; k1++)
            for (int j2 = 1; j2 < q; j2++)
            {
                double angle = sign * 2.0 * Math.PI * ((long)j2 * k1 % n) / n;
                double c = Math.Cos(angle), s = Math.Sin(angle);
                int i = k1 * q + j2;
                double vr = re[i], vi = im[i];
                re[i] = vr * c - vi * s;
                im[i] = vr * s + vi * c;
            }
    }

    private static void Accumulate(double[] accRe, double[] accIm, double[] re, double[] im)
    {
        for (int e = 0; e < accRe.Length; e++)
        {
            accRe[e] += re[e];
            accIm[e] += im[e];
        }
    }

    private static void CheckData<T>(Span<T> re, Span<T> im, int rows, int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1, nameof(n));
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 0, nameof(rows));
        if (re.Length != (long)rows * n)
            throw new ArgumentException($"re must hold rows * n = {(long)rows * n} values, got {re.Length}.", nameof(re));
        if (im.Length != (long)rows * n)
            throw new ArgumentException($"im must hold rows * n = {(long)rows * n} values, got {im.Length}.", nameof(im));
    }
}
