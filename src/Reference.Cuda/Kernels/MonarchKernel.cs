using System.Numerics;
using ILGPU;
using ILGPU.Runtime;

namespace Reference.Cuda.Kernels;

/// <summary>Monarch factor shapes: w1 [K, Q, P] (N = K P inputs), w2 [L, S, R] (L R = K Q, M = L S outputs).</summary>
internal readonly record struct MonarchArgs(int Batch, int K, int Q, int P, int L, int S, int R, int Complex)
{
    public int Inputs => K * P;

    public int Middle => K * Q;

    public int Outputs => L * S;
}

/// <summary>
/// The Monarch multiply y = P2 BlockDiag(w2) P1 BlockDiag(w1) x (Dao et al., arXiv:2204.00595,
/// Definition 3.1), as the two block products of the CPU fast tier, one thread an output of each:
/// <see cref="First{T}"/> h[b, i Q + c] = sum_a w1[i, c, a] x[b, i P + a]; <see cref="Second{T}"/>
/// folds both permutations into its indices: y[b, sigma L + lambda] = sum_rho w2[lambda, sigma, rho]
/// h[b, rho L + lambda]. Complex operands are split (re, im) views and have their own entries (a
/// per-term branch on the element type trips ILGPU's if-conversion).
/// </summary>
internal static class MonarchKernel
{
    public static void First<T>(Index1D index, ArrayView<T> w1, ArrayView<T> x, ArrayView<T> h, MonarchArgs m)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int o = index % m.Middle, b = index / m.Middle, i = o / m.Q;
        long w = (long)o * m.P, xb = (long)b * m.Inputs + (long)i * m.P;
        T acc = T.Zero;
        for (int a = 0; a < m.P; a++) acc += w1[w + a] * x[xb + a];
        h[index] = acc;
    }

    public static void Second<T>(Index1D index, ArrayView<T> w2, ArrayView<T> h, ArrayView<T> y, MonarchArgs m)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int o = index % m.Outputs, b = index / m.Outputs, sigma = o / m.L, lambda = o % m.L;
        long w = ((long)lambda * m.S + sigma) * m.R, hb = (long)b * m.Middle + lambda;
        T acc = T.Zero;
        for (int rho = 0; rho < m.R; rho++) acc += w2[w + rho] * h[hb + (long)rho * m.L];
        y[index] = acc;
    }

    public static void FirstComplex<T>(Index1D index, ArrayView<T> w1Re, ArrayView<T> w1Im, ArrayView<T> xRe, ArrayView<T> xIm,
        ArrayView<T> hRe, ArrayView<T> hIm, MonarchArgs m) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int o = index % m.Middle, b = index / m.Middle, i = o / m.Q;
        long w = (long)o * m.P, xb = (long)b * m.Inputs + (long)i * m.P;
        T re = T.Zero, im = T.Zero;
        for (int a = 0; a < m.P; a++)
        {
            T wr = w1Re[w + a], wi = w1Im[w + a], xr = xRe[xb + a], xi = xIm[xb + a];
            re += wr * xr - wi * xi;
            im += wr * xi + wi * xr;
        }
        hRe[index] = re;
        hIm[index] = im;
    }

    public static void SecondComplex<T>(Index1D index, ArrayView<T> w2Re, ArrayView<T> w2Im, ArrayView<T> hRe, ArrayView<T> hIm,
        ArrayView<T> yRe, ArrayView<T> yIm, MonarchArgs m) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int o = index % m.Outputs, b = index / m.Outputs, sigma = o / m.L, lambda = o % m.L;
        long w = ((long)lambda * m.S + sigma) * m.R, hb = (long)b * m.Middle + lambda;
        T re = T.Zero, im = T.Zero;
        for (int rho = 0; rho < m.R; rho++)
        {
            long at = hb + (long)rho * m.L;
            T wr = w2Re[w + rho], wi = w2Im[w + rho], xr = hRe[at], xi = hIm[at];
            re += wr * xr - wi * xi;
            im += wr * xi + wi * xr;
        }
        yRe[index] = re;
        yIm[index] = im;
    }
}
