using System.Numerics;
using ILGPU;
using ILGPU.Runtime;

namespace Reference.Cuda.Kernels;

/// <summary>
/// S4D's convolution kernel (Gu et al., arXiv:2206.11893, eq. (5), the Vandermonde product)
/// K[h, l] = sum_n Re(coef[h, n] exp(l log Abar[h, n])), coef = 2 C Bbar, one thread per (h, l).
/// Like the CPU fast tier, the per-mode factors (Bbar, log Abar of the chosen discretization) and the
/// powers are float64; only the result is rounded to T. The powers are evaluated directly as
/// exp(l Re log) (cos, sin)(l Im log): l Im log reaches thousands of radians at long L, where a
/// float32 argument would already be off by more than the float32 bound.
/// </summary>
internal static class S4DKernel
{
    /// <summary>
    /// kernel[r, l] for rows r = b H + h of every batch row b (the convolution reads one kernel row per
    /// (b, h)), float32 result. Two non-generic entries rather than one generic one: ILGPU does not
    /// compile the generic-math conversion from double to T.
    /// </summary>
    public static void GenerateSingle(Index1D index, ArrayView<double> coefRe, ArrayView<double> coefIm, ArrayView<double> logRe,
        ArrayView<double> logIm, ArrayView<float> kernel, int channels, int modes, int length) =>
        kernel[index] = (float)Sum(index, coefRe, coefIm, logRe, logIm, channels, modes, length);

    /// <summary>As <see cref="GenerateSingle"/>, float64 result.</summary>
    public static void GenerateDouble(Index1D index, ArrayView<double> coefRe, ArrayView<double> coefIm, ArrayView<double> logRe,
        ArrayView<double> logIm, ArrayView<double> kernel, int channels, int modes, int length) =>
        kernel[index] = Sum(index, coefRe, coefIm, logRe, logIm, channels, modes, length);

    private static double Sum(int index, ArrayView<double> coefRe, ArrayView<double> coefIm, ArrayView<double> logRe,
        ArrayView<double> logIm, int channels, int modes, int length)
    {
        int l = index % length, row = index / length, h = row % channels;
        double acc = 0.0, step = l;
        for (int n = 0; n < modes; n++)
        {
            int at = h * modes + n;
            double mag = Math.Exp(step * logRe[at]), arg = step * logIm[at];
            acc += mag * (coefRe[at] * Math.Cos(arg) - coefIm[at] * Math.Sin(arg));
        }
        return acc;
    }

    /// <summary>y[r, t] += d[r mod H] u[r, t] (the skip term after the convolution).</summary>
    public static void AddSkip<T>(Index1D index, ArrayView<T> u, ArrayView<T> d, ArrayView<T> y, int channels, int length)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int h = index / length % channels;
        y[index] += d[h] * u[index];
    }
}
