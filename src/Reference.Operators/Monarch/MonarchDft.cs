// The discrete Fourier transform written as a Monarch matrix, and the FFT convolution built on it.
//
// Papers: Dao, Chen et al., "Monarch" (arXiv:2204.00595), Sec. 3.2 (the DFT and its inverse are in the
// Monarch class, by the Cooley-Tukey factorization); Fu, Arora et al., "Monarch Mixer" (arXiv:2310.12109),
// Sec. 3 (the long convolution of M2 evaluated with Monarch DFTs); Cooley and Tukey (1965).
//
// Derivation. N = P K (P the first factor's block size). Read the input as a P x K grid and transpose it
// (the input shuffle S: x'[i P + a] = x[a K + i], i < K, a < P), so input index J = a K + i. Write the
// output index as Kout = sigma P + c (sigma < K, c < P). With w_n = exp(-2 pi i / n),
//   w_N^(J Kout) = w_N^((a K + i)(sigma P + c)) = w_P^(a c) . w_N^(i c) . w_K^(i sigma)
// (the term a K sigma P = a sigma N drops out). So F_N S = P2 BlockDiag(w2) P1 BlockDiag(w1) with the
// usual shapes w1 (K, P, P), w2 (P, K, K) (MonarchShape.Standard(K, P, P, K)):
//   w1[i, c, a]     = w_P^(c a)                  R = I_K (x) F_P: K copies of the P-point DFT
//   w2[c, sigma, i] = w_K^(sigma i) w_N^(c i)    L = BlockDiag(F_K diag(twiddles of row c)), the twiddles folded in
// and by the Monarch entry formula M[sigma P + c, i P + a] = w2[c, sigma, i] w1[i, c, a]: exactly the product
// above. DFT(x) = M S x: input shuffle, R, the perfect shuffle P1, twiddles and L, the output shuffle P2
// (natural order out). The inverse conjugates every block and twiddle and scales by 1/N (folded into w2).
// For N = b^2 this is the paper's F_N = P (I (x) F_b) P D (I (x) F_b) P with R = I (x) F_b.
//
// Glossary: N transform length, P, K the two factors (Split picks P >= K, P = K for N = b^2), S the input
// shuffle, w1, w2 the Monarch factors as in Monarch.cs; re/im inputs are System.Numerics.Complex rows.
//
// Deliberate simplifications: float64 naive tier only (the factored product of Monarch.cs, complex);
// twiddle and block angles reduced modulo their period before cos/sin; the convolution zero-pads to the
// power of two FftConvolution.FftSize picks and splits it as P = 2^ceil(e/2), K = 2^floor(e/2).
using System.Numerics;
using Reference.Core;
using Reference.Core.Fourier;

namespace Reference.Operators.Monarch;

public static class MonarchDft
{
    /// <summary>
    /// The factor split of N used by <see cref="Forward"/> when none is given: P the smallest divisor of N with
    /// P &gt;= sqrt(N), K = N / P (N = b^2 gives P = K = b; a prime N gives P = N, K = 1, one dense block).
    /// </summary>
    public static (int P, int K) Split(int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1, nameof(n));
        for (int p = (int)Math.Ceiling(Math.Sqrt(n)); p <= n; p++)
            if (n % p == 0 && (long)p * p >= n) return (p, n / p);
        return (n, 1);
    }

    /// <summary>
    /// The Monarch factors of the DFT (inverse: the IDFT, scaled 1/N) of length N = P K, composed with the
    /// input shuffle (see the file head): w1 [K, P, P], w2 [P, K, K], shape MonarchShape.Standard(K, P, P, K).
    /// </summary>
    public static (MonarchShape Shape, Complex[] W1, Complex[] W2) Factors(int p, int k, bool inverse = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(p, 1, nameof(p));
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1, nameof(k));
        int n = p * k;
        double sign = inverse ? 1.0 : -1.0, scale = inverse ? 1.0 / n : 1.0;
        var shape = MonarchShape.Standard(k, p, p, k);
        var w1 = new Complex[k * p * p];
        for (int i = 0; i < k; i++)
            for (int c = 0; c < p; c++)
                for (int a = 0; a < p; a++)
                    w1[(i * p + c) * p + a] = Root(sign, (long)c * a, p);
        var w2 = new Complex[p * k * k];
        for (int c = 0; c < p; c++)
            for (int sigma = 0; sigma < k; sigma++)
                for (int i = 0; i < k; i++)
                    w2[(c * k + sigma) * k + i] = scale * Root(sign, (long)sigma * i, k) * Root(sign, (long)c * i, n);
        return (shape, w1, w2);
    }

    /// <summary>The input shuffle S of the file head for each row: out[i P + a] = x[a K + i], x, out [rows, P K].</summary>
    public static Complex[] Shuffle(ReadOnlySpan<Complex> x, int p, int k, int rows)
    {
        Monarch.CheckLength(x.Length, (long)rows * p * k, nameof(x), $"[{rows}, {p * k}]");
        int n = p * k;
        var result = new Complex[rows * n];
        for (int row = 0; row < rows; row++)
            for (int i = 0; i < k; i++)
                for (int a = 0; a < p; a++)
                    result[row * n + i * p + a] = x[row * n + a * k + i];
        return result;
    }

    /// <summary>X[r, f] = sum_j x[r, j] exp(-2 pi i j f / N) of each row of x [rows, N] as M S x (N = P K from <see cref="Split"/>).</summary>
    public static Complex[] Forward(ReadOnlySpan<Complex> x, int n, int rows) => Transform(x, n, rows, inverse: false);

    /// <summary>x[r, j] = (1/N) sum_f X[r, f] exp(+2 pi i j f / N) of each row as a Monarch (conjugate factors, 1/N folded in).</summary>
    public static Complex[] Inverse(ReadOnlySpan<Complex> x, int n, int rows) => Transform(x, n, rows, inverse: true);

    private static Complex[] Transform(ReadOnlySpan<Complex> x, int n, int rows, bool inverse)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1, nameof(n));
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        var (p, k) = Split(n);
        var (shape, w1, w2) = Factors(p, k, inverse);
        var shuffled = Shuffle(x, p, k, rows);
        var y = new Complex[rows * n];
        Monarch.Multiply<Complex>(shape, w1, w2, shuffled, y, rows);
        return y;
    }

    /// <summary>
    /// Causal convolution y[c, t] = sum_{j &lt;= min(t, Lk - 1)} k[c, j] u[c, t - j] of u [C, L] with k [C, Lk]
    /// through Monarch DFTs: zero-pad u and the first min(Lk, L) taps to N = FftConvolution.FftSize(L, Lk),
    /// transform both, multiply, inverse transform, keep the real part of the first L entries.
    /// </summary>
    public static double[] CausalConvolution(ReadOnlySpan<double> u, ReadOnlySpan<double> k, int channels, int length, int kernelLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(channels);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1, nameof(length));
        ArgumentOutOfRangeException.ThrowIfLessThan(kernelLength, 1, nameof(kernelLength));
        Monarch.CheckLength(u.Length, (long)channels * length, nameof(u), $"[{channels}, {length}]");
        Monarch.CheckLength(k.Length, (long)channels * kernelLength, nameof(k), $"[{channels}, {kernelLength}]");
        int n = FftConvolution.FftSize(length, kernelLength), taps = Math.Min(kernelLength, length);
        var xu = new Complex[channels * n];
        var xk = new Complex[channels * n];
        for (int c = 0; c < channels; c++)
        {
            for (int t = 0; t < length; t++) xu[c * n + t] = u[c * length + t];
            for (int j = 0; j < taps; j++) xk[c * n + j] = k[c * kernelLength + j];
        }
        var fu = Forward(xu, n, channels);
        var fk = Forward(xk, n, channels);
        for (int i = 0; i < fu.Length; i++) fu[i] *= fk[i];
        var w = Inverse(fu, n, channels);
        var y = new double[channels * length];
        for (int c = 0; c < channels; c++)
            for (int t = 0; t < length; t++) y[c * length + t] = w[c * n + t].Real;
        return y;
    }

    /// <summary>exp(sign 2 pi i e / period) with e reduced modulo the period first, so the angle stays in [0, 2 pi).</summary>
    private static Complex Root(double sign, long e, int period)
    {
        double angle = sign * 2.0 * Math.PI * (e % period) / period;
        return new Complex(Math.Cos(angle), Math.Sin(angle));
    }
}
