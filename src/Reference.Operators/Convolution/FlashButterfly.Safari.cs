// The safari-compatible block FFT: the same Cooley-Tukey block recursion as FlashButterfly.cs, with the
// conventions of safari's BlockFFT (HazyResearch/safari, src/models/sequence/block_fft.py), which the
// long-convolution paper's code trains:
//   - the transform size is N = the smallest power of two >= the requested n, the input zero-padded to N;
//   - the levels are 16-point blocks while the remaining length exceeds 16, then one dense block of the
//     remaining size r in {2, 4, 8, 16} (for powers of two this is exactly Factors(N) of FlashButterfly.cs);
//   - the learned blocks are ONE matrix per block size f in {2, 4, 8, 16} (safari's mat_f), shared by every
//     level of that size, either one for all channels (H = 1) or one per channel [H, f, f];
//   - forward: X = F_p x; "inverse": (1/N) conj(F_p conj(x)), i.e. the same recursion with conjugated blocks
//     and conjugated twiddles, scaled 1/N (the exact inverse DFT when the blocks are the exact DFT blocks, and
//     not the inverse of F_p once they are learned).
// Paper: Fu, Epstein et al., Simple Hardware-Efficient Long Convolutions for Sequence Modeling
// (arXiv:2302.06646), Sec. 3.2 (FlashButterfly's block FFT) and Sec. 3.3 (learned blocks initialized to the
// DFT). Level s of length n_s = m q (m = the level's block size): x viewed as m x q (x[q j1 + j2]),
// A = M_m x down the columns, A[k1, j2] *= w_(n_s)^(j2 k1), the rest on every row k1 of A, X[k1 + m k2] = A'[k1, k2].
// A request n <= 16 is one dense block of size N (safari's block_fft fails there: its base case reads an
// undefined block size; the one-block transform is its evident intent); N = 1 has no block and is rejected.
//
// Glossary (code -> safari):
//   SafariBlocks.Re[i], Im[i] [Hb, f, f], f = 2^(i+1)   mat_f (view_as_real's last axis split), Hb = 1 or H
//   x [rows, L] (L <= N), row r of channel r mod H       the input of block_fft(x, n), complex
//   y [rows, N]                                           the transform (natural order)
// Backward: SafariBackward, the adjoint of the recursion (FlashButterfly.Adjoint, derived on BackwardLearned)
// with each level's block gradient summed into its size's shared matrix.
using System.Numerics;
using Reference.Core;
using Reference.Core.Fourier;

namespace Reference.Operators.Convolution;

/// <summary>safari's learned DFT blocks: Re[i], Im[i] hold mat_f [Hb, f, f] for f = 2^(i+1), i = 0..3 (Hb = 1: shared by all channels).</summary>
public sealed record SafariBlocks(int Channels, double[][] Re, double[][] Im)
{
    /// <summary>The block sizes safari learns (max_m = 16).</summary>
    public static IReadOnlyList<int> Sizes { get; } = [2, 4, 8, 16];

    /// <summary>The exact DFT blocks (safari's learn_dft_matrices = False, or its initialization).</summary>
    public static SafariBlocks Exact(int channels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1, nameof(channels));
        var re = new double[4][];
        var im = new double[4][];
        for (int i = 0; i < 4; i++)
        {
            int f = Sizes[i];
            var (br, bi) = FlashButterfly.DftBlock(f, inverse: false);
            re[i] = new double[channels * f * f];
            im[i] = new double[channels * f * f];
            for (int c = 0; c < channels; c++)
            {
                br.CopyTo(re[i], c * f * f);
                bi.CopyTo(im[i], c * f * f);
            }
        }
        return new SafariBlocks(channels, re, im);
    }

    /// <summary>The index of block size f in <see cref="Sizes"/>.</summary>
    public static int IndexOf(int f) => f switch
    {
        2 => 0,
        4 => 1,
        8 => 2,
        16 => 3,
        _ => throw new ArgumentOutOfRangeException(nameof(f), $"safari's block sizes are 2, 4, 8, 16, got {f}."),
    };

    /// <summary>Block f of channel c (c mod Hb), conjugated when asked: (re, im) [f, f].</summary>
    internal (double[] Re, double[] Im) Block(int f, int channel, bool conjugate)
    {
        int i = IndexOf(f), ff = f * f, c = Channels == 1 ? 0 : channel;
        var re = Re[i].AsSpan(c * ff, ff).ToArray();
        var im = Im[i].AsSpan(c * ff, ff).ToArray();
        if (conjugate)
            for (int e = 0; e < ff; e++) im[e] = -im[e];
        return (re, im);
    }

    internal void Validate(string argument)
    {
        if (Channels < 1 || Re.Length != 4 || Im.Length != 4
            || Enumerable.Range(0, 4).Any(i => Re[i].Length != Channels * Sizes[i] * Sizes[i] || Im[i].Length != Channels * Sizes[i] * Sizes[i]))
            throw new ArgumentException($"expected mat_f [Hb = {Channels}, f, f] (re and im) for f = 2, 4, 8, 16.", argument);
    }
}

/// <summary>Gradients of <see cref="FlashButterfly.SafariBackward"/>: the input's real and imaginary parts [rows, L] and each mat_f's.</summary>
public sealed record SafariGradients(double[] InputRe, double[] InputIm, double[][] BlockRe, double[][] BlockIm);

public static partial class FlashButterfly
{
    /// <summary>safari's transform size for a request n: the smallest power of two >= n (n >= 2).</summary>
    public static int SafariSize(int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 2, nameof(n));
        if (n > 1 << 30)
            throw new ArgumentOutOfRangeException(nameof(n), $"n must be <= 2^30, got {n}.");
        return (int)BitOperations.RoundUpToPowerOf2((uint)n);
    }

    /// <summary>
    /// safari's block_fft(x, n) (forward) or BlockFFT.forward(x, n, forward=False) (inverse) of each row of x [rows, L]
    /// (row r of channel r mod H, L &lt;= N = SafariSize(n)), zero-padded to N: returns y [rows, N] split re/im.
    /// </summary>
    public static (double[] Re, double[] Im) SafariTransform(SafariBlocks p, ReadOnlySpan<double> re, ReadOnlySpan<double> im,
        int rows, int channels, int length, int n, bool inverse)
    {
        int size = CheckSafari(p, re, im, rows, channels, length, n);
        var factors = Factors(size);
        var yr = new double[rows * size];
        var yi = new double[rows * size];
        for (int r = 0; r < rows; r++)
        {
            re.Slice(r * length, length).CopyTo(yr.AsSpan(r * size));
            im.Slice(r * length, length).CopyTo(yi.AsSpan(r * size));
            var blocks = factors.Select(f => p.Block(f, r % channels, inverse)).ToArray();
            Apply(yr.AsSpan(r * size, size), yi.AsSpan(r * size, size), 1, size, factors, 0, l => blocks[l], inverse);
        }
        if (inverse)
            for (int i = 0; i < yr.Length; i++)
            {
                yr[i] /= size;
                yi[i] /= size;
            }
        return (yr, yi);
    }

    /// <summary>
    /// Vector-Jacobian product of <see cref="SafariTransform"/> for the cotangent (gRe, gIm) [rows, N]: the gradients
    /// of the input (re, im) [rows, L] and of every mat_f.
    /// <para>Derivation: the forward is C-linear in x, X = F_p x, so g_x = F_p^H g_X (g = dL/dRe + i dL/dIm), computed level
    /// by level by the adjoint of FlashButterfly.BackwardLearned (un-permute, the next level's adjoint, conj twiddles,
    /// B^H), which also gives g_B = g_A X^H per level copy. A level of size f uses mat_f, so mat_f's gradient is the sum
    /// over its levels (and over the channels when Hb = 1). The inverse is (1/N) F_(conj p, conj w) x: the cotangent is
    /// scaled by 1/N, the recursion runs with conjugated twiddles, and the block used is conj(mat_f), whose gradient
    /// maps back as dL/dRe mat_f = Re g_B and dL/dIm mat_f = -Im g_B. Padding entries j >= L take no gradient.</para>
    /// </summary>
    public static SafariGradients SafariBackward(SafariBlocks p, ReadOnlySpan<double> re, ReadOnlySpan<double> im,
        int rows, int channels, int length, int n, bool inverse, ReadOnlySpan<double> gRe, ReadOnlySpan<double> gIm)
    {
        int size = CheckSafari(p, re, im, rows, channels, length, n);
        if (gRe.Length != rows * size || gIm.Length != rows * size)
            throw new ArgumentException($"the cotangent must hold rows * N = {rows * size} values (re and im).", nameof(gRe));
        var factors = Factors(size);
        var dRe = SafariBlocks.Sizes.Select(f => new double[p.Channels * f * f]).ToArray();
        var dIm = SafariBlocks.Sizes.Select(f => new double[p.Channels * f * f]).ToArray();
        var dxRe = new double[rows * length];
        var dxIm = new double[rows * length];
        double scale = inverse ? 1.0 / size : 1.0;
        var xr = new double[size];
        var xi = new double[size];
        var gr = new double[size];
        var gi = new double[size];
        for (int r = 0; r < rows; r++)
        {
            Array.Clear(xr);
            Array.Clear(xi);
            re.Slice(r * length, length).CopyTo(xr);
            im.Slice(r * length, length).CopyTo(xi);
            for (int j = 0; j < size; j++)
            {
                gr[j] = gRe[r * size + j] * scale;
                gi[j] = gIm[r * size + j] * scale;
            }
            var blocks = factors.Select(f => p.Block(f, r % channels, inverse)).ToArray();
            var levelRe = factors.Select(f => new double[f * f]).ToArray();
            var levelIm = factors.Select(f => new double[f * f]).ToArray();
            Adjoint(xr, xi, gr, gi, 1, size, factors, 0, blocks, levelRe, levelIm, inverse ? 1.0 : -1.0);
            gr.AsSpan(0, length).CopyTo(dxRe.AsSpan(r * length));
            gi.AsSpan(0, length).CopyTo(dxIm.AsSpan(r * length));
            int c = p.Channels == 1 ? 0 : r % channels;
            for (int l = 0; l < factors.Length; l++)
            {
                int f = factors[l], ff = f * f, i = SafariBlocks.IndexOf(f);
                for (int e = 0; e < ff; e++)
                {
                    dRe[i][c * ff + e] += levelRe[l][e];
                    dIm[i][c * ff + e] += inverse ? -levelIm[l][e] : levelIm[l][e];
                }
            }
        }
        return new SafariGradients(dxRe, dxIm, dRe, dIm);
    }

    /// <summary>Fast tier of <see cref="SafariTransform"/> in float or double: the Stockham levels of FlashButterfly.Fast.cs with the shared blocks.</summary>
    public static (T[] Re, T[] Im) SafariTransformFast<T>(SafariBlocks p, ReadOnlySpan<T> re, ReadOnlySpan<T> im,
        int rows, int channels, int length, int n, bool inverse) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int size = CheckSafari(p, re, im, rows, channels, length, n);
        var plan = BlockPlan<T>.Get(size);
        var factors = plan.Factors;
        var perChannel = new LevelBlocks<T>[p.Channels];
        for (int c = 0; c < p.Channels; c++)
        {
            int channel = c;
            perChannel[c] = LevelBlocks<T>.From(factors, l =>
            {
                int i = SafariBlocks.IndexOf(factors[l]), ff = factors[l] * factors[l];
                return (p.Re[i], p.Im[i], channel * ff);
            }, conjugate: inverse);
        }
        var yr = new T[rows * size];
        var yi = new T[rows * size];
        var sr = new T[size];
        var si = new T[size];
        T scale = T.One / T.CreateTruncating(size);
        for (int r = 0; r < rows; r++)
        {
            var rowRe = yr.AsSpan(r * size, size);
            var rowIm = yi.AsSpan(r * size, size);
            re.Slice(r * length, length).CopyTo(rowRe);
            im.Slice(r * length, length).CopyTo(rowIm);
            plan.Transform(perChannel[p.Channels == 1 ? 0 : r % channels], inverse, rowRe, rowIm, sr, si, length, size);
            if (inverse)
            {
                System.Numerics.Tensors.TensorPrimitives.Multiply(rowRe, scale, rowRe);
                System.Numerics.Tensors.TensorPrimitives.Multiply(rowIm, scale, rowIm);
            }
        }
        return (yr, yi);
    }

    private static int CheckSafari<T>(SafariBlocks p, ReadOnlySpan<T> re, ReadOnlySpan<T> im, int rows, int channels, int length, int n)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        int size = SafariSize(n);
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1, nameof(channels));
        if (p.Channels != 1 && p.Channels != channels)
            throw new ArgumentException($"the blocks must have Hb = 1 or Hb = H = {channels}, got {p.Channels}.", nameof(p));
        if (rows < 1 || rows % channels != 0)
            throw new ArgumentException($"rows must be a positive multiple of H = {channels}, got {rows}.", nameof(rows));
        if (length < 1 || length > size)
            throw new ArgumentOutOfRangeException(nameof(length), $"length must be in [1, N = {size}] (N = the power of two >= n = {n}), got {length}.");
        if (re.Length != rows * length || im.Length != rows * length)
            throw new ArgumentException($"re and im must hold rows * L = {rows * length} values, got {re.Length} and {im.Length}.", nameof(re));
        return size;
    }

    // ------------------------------------------------------------------ safari's LongConv(block_fft_conv=True)

    /// <summary>
    /// safari's LongConv with block_fft_conv: u_f = BlockFFT_u(u, N), k_f = BlockFFT_k(k, N) with N = the power of two >= Lk + L
    /// (safari passes n = L_kernel + L), y = Re(ifft_N(u_f k_f))[:L] + d u with the exact inverse DFT (torch.fft.ifft). u [.., C, L],
    /// k [C, Lk], d [C] or null; pu, pk the two modules' blocks (Hb = 1 or C).
    /// </summary>
    public static Tensor<double> ConvolveSafari(SafariBlocks pu, SafariBlocks pk, Tensor<double> u, Tensor<double> k, Tensor<double>? d = null)
    {
        var (rows, channels, length, kernelLength) = CausalConvolution.Check(u, k, d);
        int n = SafariSize(kernelLength + length);
        var (kr, ki) = SafariTransform(pk, k.Data, new double[k.Length], channels, channels, kernelLength, n, inverse: false);
        var (xr, xi) = SafariTransform(pu, u.Data, new double[u.Length], rows, channels, length, n, inverse: false);
        for (int r = 0; r < rows; r++)
            for (int f = 0; f < n; f++)
            {
                int i = r * n + f, j = (r % channels) * n + f;
                (xr[i], xi[i]) = (xr[i] * kr[j] - xi[i] * ki[j], xr[i] * ki[j] + xi[i] * kr[j]);
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

    /// <summary>Fast tier of <see cref="ConvolveSafari"/> in float or double (SafariTransformFast, then the fast exact inverse).</summary>
    public static Tensor<T> ConvolveSafariFast<T>(SafariBlocks pu, SafariBlocks pk, Tensor<T> u, Tensor<T> k, Tensor<T>? d = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (rows, channels, length, kernelLength) = CausalConvolution.Check(u, k, d);
        int n = SafariSize(kernelLength + length);
        var (kr, ki) = SafariTransformFast(pk, k.Data, new T[k.Length], channels, channels, kernelLength, n, inverse: false);
        var (xr, xi) = SafariTransformFast(pu, u.Data, new T[u.Length], rows, channels, length, n, inverse: false);
        for (int r = 0; r < rows; r++)
        {
            int c = r % channels;
            FftConvolution.ComplexMultiply(xr.AsSpan(r * n, n), xi.AsSpan(r * n, n), kr.AsSpan(c * n, n), ki.AsSpan(c * n, n));
        }
        InverseFast<T>(xr, xi, rows, n);
        var y = Tensor<T>.Zeros(u.ShapeArray);
        for (int r = 0; r < rows; r++)
        {
            T skip = d is null ? T.Zero : d.Data[r % channels];
            for (int t = 0; t < length; t++) y.Data[r * length + t] = xr[r * n + t] + skip * u.Data[r * length + t];
        }
        return y;
    }
}
