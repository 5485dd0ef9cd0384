using System.Numerics;

namespace Reference.Core.Fourier;

/// <summary>
/// Fast complex DFT of a fixed length n >= 1 over split storage (real parts and imaginary parts in
/// two spans), float32 or float64. Same contract as <see cref="NaiveDft"/>:
///   Forward: X[k] = sum_j x[j] exp(-2 pi i j k / n) (unscaled),
///   Inverse: x[j] = (1/n) sum_k X[k] exp(+2 pi i j k / n).
/// Power-of-two n use <see cref="PowerOfTwoFft{T}"/> (iterative decimation in frequency: radix-4
/// passes, a radix-2 pass when the level count is odd, a transposed DFT-8/DFT-4 leaf codelet that
/// also performs the bit reversal; Vector256 across butterflies; precomputed twiddles); every other n uses Bluestein's chirp-z (<see cref="Bluestein{T}"/>),
/// which costs three power-of-two FFTs of size >= 2n - 1.
/// The inverse is the forward transform with the two spans swapped (swap(z) = i conj(z), so
/// IDFT(z) = swap(DFT(swap(z))) / n) followed by the 1/n scale.
/// A plan is immutable after construction and may be shared by threads.
/// </summary>
public sealed class FftPlan<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly PowerOfTwoFft<T>? pow2;
    private readonly Bluestein<T>? bluestein;
    private readonly T inverseScale;

    public FftPlan(int n)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), n, $"n must be >= 1, got {n}.");
        if (n > (1 << 29)) throw new ArgumentOutOfRangeException(nameof(n), n, $"n must be <= 2^29, got {n}.");
        Length = n;
        if (BitOperations.IsPow2(n)) pow2 = new PowerOfTwoFft<T>(n);
        else bluestein = new Bluestein<T>(n);
        inverseScale = T.CreateTruncating(1.0 / n);
    }

    /// <summary>The transform length n.</summary>
    public int Length { get; }

    /// <summary>In-place forward DFT of one sequence: re, im [n].</summary>
    public void Forward(Span<T> re, Span<T> im)
    {
        Check(re, im, 1);
        ForwardCore(re, im);
    }

    /// <summary>In-place inverse DFT (scaled 1/n) of one sequence: re, im [n].</summary>
    public void Inverse(Span<T> re, Span<T> im)
    {
        Check(re, im, 1);
        InverseCore(re, im);
    }

    /// <summary>In-place forward DFT of every row: re, im [rows x n] row-major.</summary>
    public void ForwardRows(Span<T> re, Span<T> im, int rows)
    {
        Check(re, im, rows);
        int n = Length;
        for (int r = 0; r < rows; r++) ForwardCore(re.Slice(r * n, n), im.Slice(r * n, n));
    }

    /// <summary>In-place inverse DFT (scaled 1/n) of every row: re, im [rows x n] row-major.</summary>
    public void InverseRows(Span<T> re, Span<T> im, int rows)
    {
        Check(re, im, rows);
        int n = Length;
        for (int r = 0; r < rows; r++) InverseCore(re.Slice(r * n, n), im.Slice(r * n, n));
    }

    internal void ForwardCore(Span<T> re, Span<T> im)
    {
        if (pow2 is not null) pow2.Forward(re, im);
        else bluestein!.Forward(re, im);
    }

    /// <summary>
    /// <see cref="ForwardCore"/> of a sequence whose upper half holds zeros (<paramref name="upperHalfZero"/>) or of which only
    /// the lower half of the spectrum is wanted (<paramref name="lowerHalfOnly"/>: X[n/2..n) left unspecified); power-of-two
    /// lengths prune the butterflies that read the zeros or write the unwanted half (<see cref="PowerOfTwoFft{T}.ForwardPruned(Span{T}, Span{T}, bool, bool)"/>),
    /// other lengths run the full transform. The values are the full transform's.
    /// </summary>
    internal void ForwardPruned(Span<T> re, Span<T> im, bool upperHalfZero, bool lowerHalfOnly)
    {
        if (pow2 is not null) pow2.ForwardPruned(re, im, upperHalfZero, lowerHalfOnly);
        else bluestein!.Forward(re, im);
    }

    /// <summary>Inverse without the 1/n scale (the caller folds it into another step).</summary>
    internal void InverseUnscaled(Span<T> re, Span<T> im) => ForwardCore(im, re);

    /// <summary><see cref="InverseUnscaled"/> of which only x[0..n/2) are wanted (x[n/2..n) left unspecified).</summary>
    internal void InverseUnscaledLowerHalf(Span<T> re, Span<T> im) => ForwardPruned(im, re, upperHalfZero: false, lowerHalfOnly: true);

    internal void InverseCore(Span<T> re, Span<T> im)
    {
        ForwardCore(im, re);
        TensorPrimitives.Multiply(re, inverseScale, re);
        TensorPrimitives.Multiply(im, inverseScale, im);
    }

    private void Check(Span<T> re, Span<T> im, int rows)
    {
        if (rows < 0) throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows must be >= 0, got {rows}.");
        long expected = (long)rows * Length;
        if (re.Length != expected)
            throw new ArgumentException($"re has length {re.Length}, expected rows * n = {expected}.", nameof(re));
        if (im.Length != expected)
            throw new ArgumentException($"im has length {im.Length}, expected rows * n = {expected}.", nameof(im));
        if (re.Overlaps(im))
            throw new ArgumentException("im must not overlap re.", nameof(im));
    }
}
