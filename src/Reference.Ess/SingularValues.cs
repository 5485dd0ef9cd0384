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
// the row-major buffer, which TensorPrimitives vectorizes) instead of column by column; a batch of
// matrices is split over threads with one workspace per thread. Accuracy: absolute errors of order
// eps * sigma_1 (like LAPACK dgesvd), which is what a relative ESS tolerance needs; the naive tier
// (one-sided Jacobi, NaiveSingularValues) has high relative accuracy for small singular values.

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
    public static int WorkspaceSize(int rows, int cols) => rows * cols + Math.Max(rows, cols) + 2 * Math.Min(rows, cols);

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
        var f = workspace.Slice(m * n + m, n);
        var z = workspace.Slice(m * n + m + n, n);
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
        Bidiagonalize(w, m, n, d, f, v, z);
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
        int threads = maxThreads == 0 ? Environment.ProcessorCount : maxThreads;
        threads = Math.Max(1, Math.Min(threads, count));
        if (threads == 1)
        {
            var work = new double[workspaceSize];
            for (int i = 0; i < count; i++) body(i, work);
            return;
        }
        int next = -1;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
        {
            var work = new double[workspaceSize];
            for (int i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next)) body(i, work);
        });
    }

    /// <summary>
    /// Householder reduction of w (m x n, m >= n, row-major) to upper bidiagonal form: d[k] = B[k, k],
    /// f[k + 1] = B[k, k + 1], f[0] = 0. Overwrites w; v (length m) and z (length n) are scratch.
    /// </summary>
    private static void Bidiagonalize(Span<double> w, int m, int n, Span<double> d, Span<double> f, Span<double> v, Span<double> z)
    {
        f[0] = 0;
        for (int k = 0; k < n; k++)
        {
            // Left reflection: zero column k below the diagonal.
            int len = m - k;
            var col = v[..len];
            for (int i = 0; i < len; i++) col[i] = w[(k + i) * n + k];
            double alpha = MakeReflector(col, out double tau);
            d[k] = alpha;
            int tail = n - k - 1;
            if (tau != 0 && tail > 0)
            {
                // H W = W - tau v (v^T W): z = v^T W[k:m, k+1:n] accumulated row by row, then rank-1 update.
                var zk = z[..tail];
                TensorPrimitives.Multiply(w.Slice(k * n + k + 1, tail), col[0], zk);
                for (int i = 1; i < len; i++)
                    TensorPrimitives.MultiplyAdd(w.Slice((k + i) * n + k + 1, tail), col[i], zk, zk);
                for (int i = 0; i < len; i++)
                {
                    var r = w.Slice((k + i) * n + k + 1, tail);
                    TensorPrimitives.MultiplyAdd(zk, -tau * col[i], r, r);
                }
            }
            if (k + 1 < n)
            {
                // Right reflection: zero row k right of the superdiagonal.
                var row = w.Slice(k * n + k + 1, tail);
                if (tail == 1)
                {
                    f[k + 1] = row[0];
                    continue;
                }
                double beta = MakeReflector(row, out double tauR);
                f[k + 1] = beta;
                if (tauR == 0) continue;
                for (int i = k + 1; i < m; i++)
                {
                    var r = w.Slice(i * n + k + 1, tail);
                    double t = TensorPrimitives.Dot(r, row);
                    if (t != 0) TensorPrimitives.MultiplyAdd(row, -tauR * t, r, r);
                }
            }
        }
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
                    double t = Hypot(ff, h);
                    f[j] = t;
                    cs = ff / t;
                    sn = h / t;
                    ff = x * cs + g * sn;
                    g = g * cs - x * sn;
                    h = yy * sn;
                    yy *= cs;
                    t = Hypot(ff, h);
                    d[j] = t;
                    if (t != 0)
                    {
                        cs = ff / t;
                        sn = h / t;
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
