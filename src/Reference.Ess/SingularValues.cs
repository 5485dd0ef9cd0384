// Singular values only, float64: the fast tier of the ESS metric.
//
// Golub and Kahan, "Calculating the singular values and pseudo-inverse of a matrix" (SIAM J. Numer.
// Anal. B 2, 1965) reduce A to an upper bidiagonal B = U^T A V with alternating Householder
// reflections; Golub and Reinsch, "Singular value decomposition and least squares solutions"
// (Numer. Math. 14, 1970, the Algol procedure `svd`) diagonalize B by implicitly shifted QR sweeps.
// Without U and V the reduction costs 4 m n^2 - 4 n^3 / 3 flops and the sweeps O(n^2).
//
// Glossary:  a (m x n, row-major)  the matrix A (transposed on copy when m < n so that m >= n)
//            d[k]                   diagonal of B;  f[k] = B[k-1, k] (f[0] = 0), its superdiagonal
//            alpha, tau, v          Householder reflection H = I - tau v v^T with H x = alpha e_1
//            c, s                   Givens rotation cosine/sine of a QR sweep
//
// Deliberate choices: the reflections are applied row by row (axpy and dot over contiguous rows of
// the row-major buffer, Vector256) instead of column by column, and the left reflection, the right
// reflection and the next left reflection's product are fused into one pass over the trailing rows
// (see Bidiagonalize); no FMA contraction; a batch of matrices is split over threads with one
// workspace per thread. Accuracy: absolute errors of order
// eps * sigma_1 (like LAPACK dgesvd), which is what a relative ESS tolerance needs; the naive tier
// (one-sided Jacobi, NaiveSingularValues) has high relative accuracy for small singular values.

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Reference.Core.Kernels;

namespace Reference.Ess;

/// <summary>
/// Singular values (no vectors) of dense float64 matrices by Householder bidiagonalization and
/// implicit-shift QR, batched over threads. Results are sorted in descending order.
/// </summary>
public static class SingularValues
{
    private const int MaxSweepsPerValue = 75;

    /// <summary>u = 2^-53, half the spacing of float64 at 1.</summary>
    internal const double UnitRoundoff = 1.1102230246251565e-16;

    /// <summary>Doubles of workspace <see cref="Compute(ReadOnlySpan{double}, int, int, int, Span{double}, Span{double})"/> needs.</summary>
    public static int WorkspaceSize(int rows, int cols) => rows * cols + 2 * Math.Max(rows, cols) + 3 * Math.Min(rows, cols);

    /// <summary>sigma[0..min(rows, cols)) of the rows x cols matrix a (row-major, stride cols), descending.</summary>
    public static double[] Compute(ReadOnlySpan<double> a, int rows, int cols)
    {
        var sigma = new double[Math.Min(rows, cols)];
        Compute(a, rows, cols, cols, sigma, new double[WorkspaceSize(rows, cols)]);
        return sigma;
    }

    /// <summary>
    /// Singular values of the rows x cols block whose element (i, j) is a[i * lda + j] (so a
    /// sub-block of a larger row-major matrix needs no copy), written to sigma[0..min(rows, cols))
    /// in descending order. <paramref name="workspace"/> holds at least <see cref="WorkspaceSize"/> doubles.
    /// </summary>
    public static void Compute(ReadOnlySpan<double> a, int rows, int cols, int lda, Span<double> sigma, Span<double> workspace)
    {
        CheckBlock(a.Length, rows, cols, lda);
        int p = Math.Min(rows, cols);
        if (sigma.Length < p)
            throw new ArgumentException($"sigma has {sigma.Length} elements, expected at least min(rows, cols) = {p}.", nameof(sigma));
        if (workspace.Length < WorkspaceSize(rows, cols))
            throw new ArgumentException($"workspace has {workspace.Length} elements, expected at least {WorkspaceSize(rows, cols)}.", nameof(workspace));
        if (p == 0) return;

        // Work on an m x n copy with m >= n (A and A^T have the same singular values).
        int m = Math.Max(rows, cols), n = p;
        var w = workspace[..(m * n)];
        var v = workspace.Slice(m * n, m);
        var vNext = workspace.Slice(m * n + m, m);
        var f = workspace.Slice(m * n + 2 * m, n);
        var z = workspace.Slice(m * n + 2 * m + n, n);
        var zNext = workspace.Slice(m * n + 2 * m + 2 * n, n);
        bool transpose = rows < cols;
        for (int i = 0; i < rows; i++)
        {
            var row = a.Slice(i * lda, cols);
            if (!AllFinite(row))
                throw new ArgumentException($"a contains a NaN or infinity in row {i}; singular values are defined for finite matrices only.", nameof(a));
            if (transpose)
                for (int j = 0; j < cols; j++) w[j * n + i] = row[j];
            else
                row.CopyTo(w.Slice(i * n, n));
        }
        // Scale by a power of two (exact) to max |a_ij| in [1, 2) so that no square in the
        // reflections over- or underflows.
        double max = Math.Abs(TensorPrimitives.MaxMagnitude(w));
        var d = sigma[..n];
        if (max == 0)
        {
            d.Clear();
            return;
        }
        double scale = PowerOfTwoScale(max);
        TensorPrimitives.Multiply(w, 1.0 / scale, w);
        Bidiagonalize(w, m, n, d, f, v, vNext, z, zNext);
        BidiagonalQr(d, f);
        for (int k = 0; k < n; k++) d[k] = Math.Abs(d[k]) * scale;
        d.Sort((x, y) => y.CompareTo(x));
    }

    /// <summary>
    /// Singular values of <paramref name="count"/> matrices of size rows x cols stored back to back
    /// in <paramref name="a"/>: sigma[b, 0..min(rows, cols)) per matrix b, descending. Matrices are
    /// spread over up to <paramref name="maxThreads"/> threads (0: every core).
    /// </summary>
    public static void ComputeBatch(ReadOnlyMemory<double> a, int count, int rows, int cols, Memory<double> sigma, int maxThreads = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        int size = rows * cols, p = Math.Min(rows, cols);
        if (a.Length != (long)count * size)
            throw new ArgumentException($"a has {a.Length} elements, expected count * rows * cols = {(long)count * size}.", nameof(a));
        if (sigma.Length != (long)count * p)
            throw new ArgumentException($"sigma has {sigma.Length} elements, expected count * min(rows, cols) = {(long)count * p}.", nameof(sigma));
        ForEachWithWorkspace(count, WorkspaceSize(rows, cols), maxThreads, (b, work) =>
            Compute(a.Span.Slice(b * size, size), rows, cols, cols, sigma.Span.Slice(b * p, p), work));
    }

    /// <summary>
    /// Runs body(item, workspace) for item in [0, count) over up to maxThreads threads (0: every
    /// core); each thread owns one workspace of the given size, so the body allocates nothing.
    /// </summary>
    internal static void ForEachWithWorkspace(int count, int workspaceSize, int maxThreads, Action<int, Span<double>> body)
    {
        int threads = maxThreads == 0 ? Reference.Core.KernelThreads.Default : maxThreads;
        threads = Math.Max(1, Math.Min(threads, count));
        if (threads == 1)
        {
            var pooled = PooledArray<double>.Rent(workspaceSize);
            for (int i = 0; i < count; i++) body(i, pooled.Data.AsSpan(0, workspaceSize));
            PooledArray<double>.Return(pooled);
            return;
        }
        int next = -1;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
        {
            var pooled = PooledArray<double>.Rent(workspaceSize);
            var work = pooled.Data.AsSpan(0, workspaceSize);
            for (int i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next)) body(i, work);
            PooledArray<double>.Return(pooled);
        });
    }

    /// <summary>
    /// Householder reduction of w (m x n, m >= n, row-major) to upper bidiagonal form: d[k] = B[k, k],
    /// f[k + 1] = B[k, k + 1], f[0] = 0. Overwrites w; v, vNext (length m), z, zNext (length n) are
    /// scratch.
    /// One pass over the trailing rows per step k: each row i > k receives the left reflection
    /// (W_i -= tau v_i z, with z = v^T W computed in the previous pass), then the right reflection
    /// (W_i -= tauR (W_i . u) u), and then contributes x_i W_i[k+2:] to the next left reflection's
    /// z, where x = column k+1 is the next reflector's raw vector. Since v' = (x - beta' e_1) /
    /// (x_0 - beta'), z' = v'^T W = (sum_i x_i W_i - beta' W_(k+1)) / (x_0 - beta') needs only sums
    /// that the same pass accumulates (LAPACK's dgebd2 does these as four separate passes).
    /// </summary>
    private static void Bidiagonalize(Span<double> w, int m, int n, Span<double> d, Span<double> f,
        Span<double> v, Span<double> vNext, Span<double> z, Span<double> zNext)
    {
        f[0] = 0;
        // Left reflector of column 0 and z = v^T W[0:m, 1:n].
        for (int i = 0; i < m; i++) v[i] = w[i * n];
        d[0] = MakeReflector(v[..m], out double tau);
        if (n > 1)
        {
            var z0 = z[..(n - 1)];
            z0.Clear();
            if (tau != 0)
                for (int i = 0; i < m; i++) Axpy(v[i], w.Slice(i * n + 1, n - 1), z0);
        }
        for (int k = 0; k < n - 1; k++)
        {
            int tail = n - k - 1;
            var zk = z[..tail];
            var rowK = w.Slice(k * n + k + 1, tail);
            if (tau != 0) Axpy(-tau, zk, rowK);

            // Right reflector from row k's tail (it becomes u in place).
            double tauR = 0;
            if (tail >= 2) f[k + 1] = MakeReflector(rowK, out tauR);
            else f[k + 1] = rowK[0];

            // Fused pass over the rows below k.
            var acc = zNext[..Math.Max(0, tail - 1)];
            acc.Clear();
            var x = vNext[..(m - k - 1)];
            for (int i = k + 1; i < m; i++)
            {
                var r = w.Slice(i * n + k + 1, tail);
                double a = tau * v[i - k];
                if (tauR != 0)
                {
                    double t = AxpyDot(-a, zk, r, rowK);
                    Axpy(-tauR * t, rowK, r);
                }
                else if (a != 0) Axpy(-a, zk, r);
                x[i - k - 1] = r[0];
                if (tail > 1) Axpy(r[0], r[1..], acc);
            }

            // Next left reflector (column k + 1, rows k + 1..m-1) and its z.
            double x0 = x[0];
            d[k + 1] = MakeReflector(x, out tau);
            if (tau != 0 && tail > 1)
            {
                double beta = d[k + 1], inv = 1.0 / (x0 - beta);
                var rowNext = w.Slice((k + 1) * n + k + 2, tail - 1);
                Axpy(-beta, rowNext, acc);
                for (int j = 0; j < acc.Length; j++) acc[j] *= inv;
            }
            Swap(ref v, ref vNext);
            Swap(ref z, ref zNext);
        }
    }

    private static void Swap(ref Span<double> a, ref Span<double> b)
    {
        var t = a;
        a = b;
        b = t;
    }

    /// <summary>y += alpha x (Vector256 where accelerated; mul then add, no FMA contraction).</summary>
    private static void Axpy(double alpha, ReadOnlySpan<double> x, Span<double> y)
    {
        int len = y.Length, j = 0;
        ref double xr = ref MemoryMarshal.GetReference(x);
        ref double yr = ref MemoryMarshal.GetReference(y);
        if (Vector256.IsHardwareAccelerated && len >= 4)
        {
            var va = Vector256.Create(alpha);
            for (; j <= len - 4; j += 4)
                (Vector256.LoadUnsafe(ref yr, (nuint)j) + va * Vector256.LoadUnsafe(ref xr, (nuint)j)).StoreUnsafe(ref yr, (nuint)j);
        }
        for (; j < len; j++) Unsafe.Add(ref yr, j) += alpha * Unsafe.Add(ref xr, j);
    }

    /// <summary>y += alpha x, then returns y . u (one sweep over y).</summary>
    private static double AxpyDot(double alpha, ReadOnlySpan<double> x, Span<double> y, ReadOnlySpan<double> u)
    {
        int len = y.Length, j = 0;
        ref double xr = ref MemoryMarshal.GetReference(x);
        ref double yr = ref MemoryMarshal.GetReference(y);
        ref double ur = ref MemoryMarshal.GetReference(u);
        double dot = 0;
        if (Vector256.IsHardwareAccelerated && len >= 4)
        {
            var va = Vector256.Create(alpha);
            var sum = Vector256<double>.Zero;
            for (; j <= len - 4; j += 4)
            {
                var yv = Vector256.LoadUnsafe(ref yr, (nuint)j) + va * Vector256.LoadUnsafe(ref xr, (nuint)j);
                yv.StoreUnsafe(ref yr, (nuint)j);
                sum += yv * Vector256.LoadUnsafe(ref ur, (nuint)j);
            }
            dot = Vector256.Sum(sum);
        }
        for (; j < len; j++)
        {
            double yj = Unsafe.Add(ref yr, j) + alpha * Unsafe.Add(ref xr, j);
            Unsafe.Add(ref yr, j) = yj;
            dot += yj * Unsafe.Add(ref ur, j);
        }
        return dot;
    }

    /// <summary>
    /// Householder reflection H = I - tau v v^T with H x = beta e_1 (x of length >= 1): returns
    /// beta = -sign(x_0) ||x|| (the sign that avoids cancellation) and overwrites x with v, scaled so
    /// that v_0 = 1 (then tau = (beta - x_0) / beta lies in [1, 2] and nothing underflows). When
    /// x_1.. are zero already, tau = 0 and beta = x_0.
    /// </summary>
    private static double MakeReflector(Span<double> x, out double tau)
    {
        double x0 = x[0];
        double tailNorm = x.Length > 1 ? TensorPrimitives.Norm(x[1..]) : 0.0;
        if (tailNorm == 0)
        {
            tau = 0;
            return x0;
        }
        double norm = Hypot(x0, tailNorm);
        double beta = x0 > 0 ? -norm : norm;
        tau = (beta - x0) / beta;
        TensorPrimitives.Multiply(x[1..], 1.0 / (x0 - beta), x[1..]);
        x[0] = 1;
        return beta;
    }

    /// <summary>
    /// Golub-Reinsch implicit-shift QR on the bidiagonal (d, f), singular values only. On return d
    /// holds the singular values up to sign. Negligible entries are those below eps * ||B||_inf.
    /// </summary>
    private static void BidiagonalQr(Span<double> d, Span<double> f)
    {
        int n = d.Length;
        double bnorm = 0;
        for (int i = 0; i < n; i++) bnorm = Math.Max(bnorm, Math.Abs(d[i]) + Math.Abs(f[i]));
        if (bnorm == 0) return;
        double small = double.Epsilon + UnitRoundoff * bnorm;

        for (int k = n - 1; k >= 0; k--)
        {
            for (int sweep = 0; ; sweep++)
            {
                if (sweep == MaxSweepsPerValue)
                    throw new ArithmeticException($"bidiagonal QR did not converge for singular value {k} after {MaxSweepsPerValue} sweeps.");
                // Find the unreduced block l..k: f[l] negligible splits it off; a negligible d[l-1]
                // lets f[l] be chased out by rotations (f[0] = 0 ends the scan).
                int l = k;
                bool chase = false;
                for (; l >= 0; l--)
                {
                    if (Math.Abs(f[l]) <= small) break;
                    if (Math.Abs(d[l - 1]) <= small) { chase = true; break; }
                }
                if (chase)
                {
                    double c = 0, s = 1;
                    for (int i = l; i <= k; i++)
                    {
                        double g = s * f[i];
                        f[i] *= c;
                        if (Math.Abs(g) <= small) break;
                        double h = Hypot(d[i], g);
                        c = d[i] / h;
                        s = -g / h;
                        d[i] = h;
                    }
                }
                double z = d[k];
                if (l == k) break;

                // Wilkinson-type shift from the trailing 2 x 2 block of B^T B.
                double x = d[l], y = d[k - 1], gk = f[k - 1], hk = f[k];
                double ff = ((y - z) * (y + z) + (gk - hk) * (gk + hk)) / (2.0 * hk * y);
                double r = Hypot(ff, 1.0);
                ff = ((x - z) * (x + z) + hk * (y / (ff + Math.CopySign(r, ff)) - hk)) / x;

                // One implicit QR sweep chasing the bulge from l to k.
                double cs = 1, sn = 1;
                for (int j = l; j < k; j++)
                {
                    int i = j + 1;
                    double g = f[i];
                    double yy = d[i];
                    double h = sn * g;
                    g *= cs;
                    double t = RotationNorm(ff, h);
                    f[j] = t;
                    double inv = 1.0 / t;
                    cs = ff * inv;
                    sn = h * inv;
                    ff = x * cs + g * sn;
                    g = g * cs - x * sn;
                    h = yy * sn;
                    yy *= cs;
                    t = RotationNorm(ff, h);
                    d[j] = t;
                    if (t != 0)
                    {
                        inv = 1.0 / t;
                        cs = ff * inv;
                        sn = h * inv;
                    }
                    ff = cs * g + sn * yy;
                    x = cs * yy - sn * g;
                }
                f[l] = 0;
                f[k] = ff;
                d[k] = x;
            }
        }
    }

    /// <summary>
    /// sqrt(a^2 + b^2) for the QR sweeps: the plain formula (the matrix is scaled to max |a_ij| in
    /// [1, 2), so nothing overflows), falling back to <see cref="Hypot"/> when the squares could have
    /// underflowed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double RotationNorm(double a, double b)
    {
        double r = Math.Sqrt(a * a + b * b);
        return r > 1e-150 ? r : Hypot(a, b);
    }

    /// <summary>2^floor(log2 x) for x > 0: dividing by it is exact and brings x into [1, 2).</summary>
    internal static double PowerOfTwoScale(double x) => Math.ScaleB(1.0, Math.ILogB(x));

    /// <summary>sqrt(a^2 + b^2) without overflow or destructive underflow.</summary>
    internal static double Hypot(double a, double b)
    {
        a = Math.Abs(a);
        b = Math.Abs(b);
        double big = Math.Max(a, b), little = Math.Min(a, b);
        if (big == 0) return 0;
        double q = little / big;
        return big * Math.Sqrt(1.0 + q * q);
    }

    private static bool AllFinite(ReadOnlySpan<double> x)
    {
        foreach (double value in x)
            if (!double.IsFinite(value)) return false;
        return true;
    }

    internal static void CheckBlock(int length, int rows, int cols, int lda)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        if (lda < cols)
            throw new ArgumentOutOfRangeException(nameof(lda), $"lda = {lda} must be >= cols = {cols}.");
        long needed = rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * lda + cols;
        if (length < needed)
            throw new ArgumentException($"a has {length} elements, the {rows} x {cols} block with lda {lda} needs {needed}.", "a");
    }
}
