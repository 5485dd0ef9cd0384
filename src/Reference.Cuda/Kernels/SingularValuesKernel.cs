using System.Numerics;
using ILGPU;
using ILGPU.Runtime;

namespace Reference.Cuda.Kernels;

/// <summary>
/// Singular values of a batch of matrices by one-sided (Hestenes) Jacobi, the GPU counterpart of
/// <c>NaiveSingularValues</c> (Hestenes 1958; stopping test of Demmel and Veselic 1992, Algorithm
/// 4.1, without V). One warp owns one matrix: item b reads a rows x cols block at offset
/// <c>offsets[b]</c> with row stride lda (<c>shapes[4 b ..]</c> = rows, cols, lda, unused), copies its
/// n = min(rows, cols) vectors of length m = max(rows, cols) into the workspace at
/// <c>work[workOffsets[b] ..]</c> (column p of A, or row p when rows &lt; cols), divided by
/// scales[3 b] (the power of two at or below max |a_ij|, from the host: exact), and applies cyclic-by-row rotations (p &lt; q) until every pair
/// satisfies |g_p . g_q| &lt;= m u ||g_p|| ||g_q|| (scales[3 b + 1] = m u, u = 2^-24 or 2^-53) or holds a column with
/// ||g||^2 &lt;= scales[3 b + 2] = (m u ||A / scale||_F)^2, the noise floor below which a column's direction is rounding
/// (the naive tier's rule, which says why). Lane i owns entries i, i + 32, ... of every vector,
/// so each dot product is 32 partial sums joined by a butterfly (xor) shuffle, which leaves the
/// bitwise same total in every lane: the rotate/skip decision and the sweep loop are warp-uniform.
/// sigma[sigmaOffsets[b] + p] = ||g_p|| scale, unsorted (the host sorts descending);
/// status[b] = sweeps used, or -1 when maxSweeps + 1 sweeps still rotated.
/// <para>Accumulation order: per dot product, lane-strided partial sums then the xor tree (16, 8, 4, 2, 1).</para>
/// </summary>
internal static class SingularValuesKernel
{
    public const int Lanes = 32;

    public static KernelConfig Config(int count) => new(new Index3D(count, 1, 1), new Index3D(Lanes, 1, 1));

    private static T Sum<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int d = Lanes / 2; d >= 1; d /= 2) x += Warp.ShuffleXor(x, d);
        return x;
    }

    public static void Kernel<T>(ArrayView<T> a, ArrayView<long> offsets, ArrayView<int> shapes, ArrayView<long> workOffsets,
        ArrayView<long> sigmaOffsets, ArrayView<T> scales, ArrayView<T> work, ArrayView<T> sigma, ArrayView<int> status, int maxSweeps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int item = Grid.IdxX, lane = Group.IdxX;
        int rows = shapes[4 * item], cols = shapes[4 * item + 1], lda = shapes[4 * item + 2];
        long aBase = offsets[item], w = workOffsets[item], sBase = sigmaOffsets[item];
        int n = Math.Min(rows, cols), m = Math.Max(rows, cols);
        // Row and column strides of the copy: vector p is column p of A (or row p when rows < cols).
        long rowStride = 1, colStride = m;
        if (rows < cols)
        {
            rowStride = m;
            colStride = 1;
        }
        T scale = scales[3 * item], threshold = scales[3 * item + 1], noise = scales[3 * item + 2];
        for (int idx = lane; idx < rows * cols; idx += Lanes)
        {
            int i = idx / cols, j = idx % cols;
            work[w + i * rowStride + j * colStride] = a[aBase + (long)i * lda + j] / scale;
        }
        Warp.Barrier();

        int sweeps = 0;
        bool rotated = true;
        while (rotated && sweeps <= maxSweeps)
        {
            rotated = false;
            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++)
                {
                    T alpha = T.Zero, beta = T.Zero, gamma = T.Zero;
                    for (int i = lane; i < m; i += Lanes)
                    {
                        T gp = work[w + (long)p * m + i], gq = work[w + (long)q * m + i];
                        alpha += gp * gp;
                        beta += gq * gq;
                        gamma += gp * gq;
                    }
                    alpha = Sum(alpha);
                    beta = Sum(beta);
                    gamma = Sum(gamma);
                    if (T.Abs(gamma) > threshold * T.Sqrt(alpha) * T.Sqrt(beta) && T.Min(alpha, beta) > noise)
                    {
                        rotated = true;
                        // tan(theta): the smaller root of t^2 + 2 zeta t - 1 = 0 (|theta| <= pi/4).
                        T zeta = (beta - alpha) / (gamma + gamma);
                        T t = T.One / (T.Abs(zeta) + T.Sqrt(T.One + zeta * zeta));
                        if (zeta < T.Zero) t = -t;
                        T c = T.One / T.Sqrt(T.One + t * t), sn = c * t;
                        for (int i = lane; i < m; i += Lanes)
                        {
                            long ip = w + (long)p * m + i, iq = w + (long)q * m + i;
                            T gp = work[ip], gq = work[iq];
                            work[ip] = c * gp - sn * gq;
                            work[iq] = sn * gp + c * gq;
                        }
                    }
                }
            sweeps++;
        }

        for (int p = 0; p < n; p++)
        {
            T sum = T.Zero;
            for (int i = lane; i < m; i += Lanes)
            {
                T g = work[w + (long)p * m + i];
                sum += g * g;
            }
            sum = Sum(sum);
            if (lane == 0) sigma[sBase + p] = T.Sqrt(sum) * scale;
        }
        if (lane == 0) status[item] = rotated ? -1 : sweeps;
    }
}
