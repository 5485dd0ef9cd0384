using System.Buffers;
using System.Numerics;

namespace Reference.Core.Fourier;

/// <summary>
/// FFT of any length n through a power-of-two circular convolution: Bluestein's chirp-z algorithm
/// (Bluestein 1970; Rabiner, Schafer and Rader 1969, "The chirp z-transform algorithm").
/// With j k = (j^2 + k^2 - (k - j)^2) / 2,
///   X[k] = c[k] sum_j (x[j] c[j]) conj(c[k - j]),   c[j] = exp(-pi i j^2 / n),
/// a convolution of a[j] = x[j] c[j] with the chirp filter b[j] = conj(c[j]) (j from -(n-1) to n-1),
/// evaluated circularly with a power-of-two size m >= 2n - 1 so no wrap-around reaches k &lt; n.
/// Glossary: n = transform length, m = convolution (inner FFT) length, c = chirp, b = filter,
/// B = DFT_m(b) scaled by 1/m (the inverse's scale folded in).
/// Numerically delicate spot: the chirp angle pi j^2 / n is reduced exactly in integers as
/// (j^2 mod 2n) before sin/cos, otherwise large j lose the angle's low digits. The chirp and B are
/// computed in float64 and rounded once to T.
/// </summary>
internal sealed class Bluestein<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int n;
    private readonly int m;
    private readonly PowerOfTwoFft<T> inner;
    private readonly T[] chirpRe, chirpIm;
    private readonly T[] filterRe, filterIm;

    public Bluestein(int n)
    {
        this.n = n;
        m = (int)BitOperations.RoundUpToPowerOf2((uint)(2 * n - 1));
        inner = new PowerOfTwoFft<T>(m);
        chirpRe = new T[n];
        chirpIm = new T[n];
        var br = new double[m];
        var bi = new double[m];
        for (int j = 0; j < n; j++)
        {
            long r = (long)j * j % (2L * n);
            var (sin, cos) = double.SinCosPi((double)r / n);
            chirpRe[j] = T.CreateTruncating(cos);
            chirpIm[j] = T.CreateTruncating(-sin);
            // b[j] = b[-j] = conj(c[j]) = cos + i sin, stored circularly at j and m - j.
            br[j] = cos;
            bi[j] = sin;
            if (j > 0) { br[m - j] = cos; bi[m - j] = sin; }
        }
        new PowerOfTwoFft<double>(m).Forward(br, bi);
        filterRe = new T[m];
        filterIm = new T[m];
        for (int k = 0; k < m; k++)
        {
            filterRe[k] = T.CreateTruncating(br[k] / m);
            filterIm[k] = T.CreateTruncating(bi[k] / m);
        }
    }

    public void Forward(Span<T> re, Span<T> im)
    {
        T[] ar = ArrayPool<T>.Shared.Rent(m), ai = ArrayPool<T>.Shared.Rent(m);
        try
        {
            var sr = ar.AsSpan(0, m);
            var si = ai.AsSpan(0, m);
            for (int j = 0; j < n; j++)
            {
                sr[j] = re[j] * chirpRe[j] - im[j] * chirpIm[j];
                si[j] = re[j] * chirpIm[j] + im[j] * chirpRe[j];
            }
            sr[n..].Clear();
            si[n..].Clear();
            inner.Forward(sr, si);
            for (int k = 0; k < m; k++)
            {
                T pr = sr[k] * filterRe[k] - si[k] * filterIm[k];
                T pi = sr[k] * filterIm[k] + si[k] * filterRe[k];
                sr[k] = pr;
                si[k] = pi;
            }
            // Inverse DFT by the swap identity IDFT(z) = swap(DFT(swap z)) / m; the 1/m is in B.
            inner.Forward(si, sr);
            for (int k = 0; k < n; k++)
            {
                re[k] = sr[k] * chirpRe[k] - si[k] * chirpIm[k];
                im[k] = sr[k] * chirpIm[k] + si[k] * chirpRe[k];
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(ar);
            ArrayPool<T>.Shared.Return(ai);
        }
    }
}
