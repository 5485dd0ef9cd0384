using System.Numerics;

namespace Reference.Core.Fourier;

/// <summary>
/// The definition of the discrete Fourier transform (Cooley and Tukey 1965, eq. 1; any signal
/// processing text): for a sequence x of length n,
///   forward  X[k] = sum_{j=0}^{n-1} x[j] exp(-2 pi i j k / n),
///   inverse  x[j] = (1/n) sum_{k=0}^{n-1} X[k] exp(+2 pi i j k / n).
/// Glossary: n = transform length, j = time index, k = frequency index, X = spectrum.
/// Naive tier: float64 over <see cref="Complex"/>, O(n^2), no threads, no SIMD.
/// Accumulation order: for each k the terms are added for j = 0, 1, ..., n-1 into a Complex
/// accumulator starting at 0. Accuracy: the twiddle angle is reduced exactly in integers as
/// r = (j k) mod n before the cosine and sine are taken (of pi * 2r/n), so large j k do not lose
/// digits in the argument reduction; the inverse multiplies the sum by 1/n at the end.
/// </summary>
public static class NaiveDft
{
    /// <summary>X = DFT(x); <paramref name="x"/> and <paramref name="result"/> have length n (must not overlap).</summary>
    public static void Forward(ReadOnlySpan<Complex> x, Span<Complex> result) => Transform(x, result, -1.0, 1.0);

    /// <summary>x = IDFT(X) scaled by 1/n; spans of length n (must not overlap).</summary>
    public static void Inverse(ReadOnlySpan<Complex> x, Span<Complex> result) =>
        Transform(x, result, +1.0, x.Length == 0 ? 1.0 : 1.0 / x.Length);

    /// <summary>Convenience: the forward DFT of a new array.</summary>
    public static Complex[] Forward(ReadOnlySpan<Complex> x)
    {
        var result = new Complex[x.Length];
        Forward(x, result);
        return result;
    }

    /// <summary>Convenience: the inverse DFT (scaled 1/n) of a new array.</summary>
    public static Complex[] Inverse(ReadOnlySpan<Complex> x)
    {
        var result = new Complex[x.Length];
        Inverse(x, result);
        return result;
    }

    private static void Transform(ReadOnlySpan<Complex> x, Span<Complex> result, double sign, double scale)
    {
        int n = x.Length;
        if (result.Length != n)
            throw new ArgumentException($"result has length {result.Length}, expected {n} (the length of x).", nameof(result));
        if (n == 0) return;
        if (x.Overlaps(result))
            throw new ArgumentException("result must not overlap x (the transform is out of place).", nameof(result));
        for (int k = 0; k < n; k++)
        {
            Complex acc = Complex.Zero;
            for (int j = 0; j < n; j++)
            {
                long r = (long)j * k % n;
                var (sin, cos) = double.SinCosPi(2.0 * r / n);
                acc += x[j] * new Complex(cos, sign * sin);
            }
            result[k] = acc * scale;
        }
    }
}
