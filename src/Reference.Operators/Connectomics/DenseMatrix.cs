// Small dense float64 linear algebra for the connectomics operators: row-major matrices in flat
// arrays, products in a fixed order (k ascending), Gauss-Jordan inversion with partial pivoting and
// the cyclic Jacobi eigensolver for symmetric matrices. Naive by design: these are the definitions
// the operators are checked against, not a fast path (covariance's fast tier uses FastGemm).
using Reference.Core;

namespace Reference.Operators.Connectomics;

/// <summary>Row-major float64 matrix kernels shared by the connectomics operators (scalar loops, fixed order).</summary>
public static class DenseMatrix
{
    /// <summary>C [m, n] = op(A) op(B), op = transpose when asked; A [m, k] (or [k, m]), B [k, n] (or [n, k]); sums over k ascending.</summary>
    public static double[] Multiply(ReadOnlySpan<double> a, ReadOnlySpan<double> b, int m, int k, int n, bool transA = false, bool transB = false)
    {
        var c = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double acc = 0;
                for (int p = 0; p < k; p++)
                    acc += (transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
                c[i * n + j] = acc;
            }
        return c;
    }

    /// <summary>The transpose of A [m, n].</summary>
    public static double[] Transpose(ReadOnlySpan<double> a, int m, int n)
    {
        var t = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) t[j * m + i] = a[i * n + j];
        return t;
    }

    /// <summary>(A + A^T) / 2 of A [n, n].</summary>
    public static double[] Symmetrize(ReadOnlySpan<double> a, int n)
    {
        var s = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) s[i * n + j] = 0.5 * (a[i * n + j] + a[j * n + i]);
        return s;
    }

    /// <summary>
    /// A^-1 of A [n, n] by Gauss-Jordan elimination with partial pivoting. A pivot below
    /// 1e-13 n max|A| (relative to the matrix's scale) means A is singular to working precision:
    /// an ArgumentException naming <paramref name="argument"/>.
    /// </summary>
    public static double[] Inverse(ReadOnlySpan<double> a, int n, string argument)
    {
        var w = a.ToArray();
        var inv = new double[n * n];
        for (int i = 0; i < n; i++) inv[i * n + i] = 1;
        double scale = 0;
        foreach (var v in w) scale = Math.Max(scale, Math.Abs(v));
        if (!double.IsFinite(scale))
            throw new ArgumentException($"{argument} has a non-finite entry; expected a finite invertible {n} x {n} matrix.", argument);
        double tiny = 1e-13 * n * scale;
        for (int col = 0; col < n; col++)
        {
            int pivot = col;
            for (int r = col + 1; r < n; r++)
                if (Math.Abs(w[r * n + col]) > Math.Abs(w[pivot * n + col])) pivot = r;
            if (!(Math.Abs(w[pivot * n + col]) > tiny))
                throw new ArgumentException(
                    $"{argument} is singular: pivot {w[pivot * n + col]:G3} in column {col} (max |entry| {scale:G3}); expected an invertible {n} x {n} matrix (add an l2 ridge).",
                    argument);
            if (pivot != col)
                for (int j = 0; j < n; j++)
                {
                    (w[col * n + j], w[pivot * n + j]) = (w[pivot * n + j], w[col * n + j]);
                    (inv[col * n + j], inv[pivot * n + j]) = (inv[pivot * n + j], inv[col * n + j]);
                }
            double p = w[col * n + col];
            for (int j = 0; j < n; j++)
            {
                w[col * n + j] /= p;
                inv[col * n + j] /= p;
            }
            for (int r = 0; r < n; r++)
            {
                if (r == col) continue;
                double f = w[r * n + col];
                if (f == 0) continue;
                for (int j = 0; j < n; j++)
                {
                    w[r * n + j] -= f * w[col * n + j];
                    inv[r * n + j] -= f * inv[col * n + j];
                }
            }
        }
        return inv;
    }

    /// <summary>
    /// Eigendecomposition of the symmetric part of A [n, n] by cyclic Jacobi rotations:
    /// sym(A) = Q diag(lambda) Q^T with lambda ascending and Q's columns the eigenvectors (Q [n, n]
    /// row-major, column j = eigenvector j). Jacobi is slow (O(n^3) per sweep, ~6-10 sweeps) but
    /// accurate to a few ulp of ||A|| in every eigenvalue and orthogonal to rounding, which is
    /// what an oracle wants. Rotation angles follow Golub and Van Loan, Algorithm 8.5.2 (the
    /// small-angle root of t^2 + 2 tau t - 1 = 0).
    /// </summary>
    public static (double[] Values, double[] Vectors) SymmetricEigen(ReadOnlySpan<double> a, int n)
    {
        var s = Symmetrize(a, n);
        var q = new double[n * n];
        for (int i = 0; i < n; i++) q[i * n + i] = 1;
        double total = 0;
        foreach (var v in s) total += v * v;
        if (!double.IsFinite(total)) throw new ArgumentException("matrix has a non-finite entry.", nameof(a));
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0;
            for (int i = 0; i < n; i++)
                for (int j = i + 1; j < n; j++) off += s[i * n + j] * s[i * n + j];
            if (off <= 1e-30 * total) break;
            for (int p = 0; p < n; p++)
                for (int r = p + 1; r < n; r++)
                {
                    double apr = s[p * n + r];
                    if (apr == 0) continue;
                    // An entry below the diagonals' last bit is zeroed outright (Numerical Recipes' rule).
                    double g = 100 * Math.Abs(apr);
                    if (sweep > 3 && Math.Abs(s[p * n + p]) + g == Math.Abs(s[p * n + p]) && Math.Abs(s[r * n + r]) + g == Math.Abs(s[r * n + r]))
                    {
                        s[p * n + r] = 0;
                        s[r * n + p] = 0;
                        continue;
                    }
                    double tau = (s[r * n + r] - s[p * n + p]) / (2 * apr);
                    double t = Math.Sign(tau) / (Math.Abs(tau) + Math.Sqrt(1 + tau * tau));
                    if (tau == 0) t = 1;
                    double c = 1 / Math.Sqrt(1 + t * t), sn = t * c;
                    for (int k = 0; k < n; k++)
                    {
                        double skp = s[k * n + p], skr = s[k * n + r];
                        s[k * n + p] = c * skp - sn * skr;
                        s[k * n + r] = sn * skp + c * skr;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double spk = s[p * n + k], srk = s[r * n + k];
                        s[p * n + k] = c * spk - sn * srk;
                        s[r * n + k] = sn * spk + c * srk;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double qkp = q[k * n + p], qkr = q[k * n + r];
                        q[k * n + p] = c * qkp - sn * qkr;
                        q[k * n + r] = sn * qkp + c * qkr;
                    }
                }
        }
        var order = Enumerable.Range(0, n).OrderBy(i => s[i * n + i]).ToArray();
        var values = new double[n];
        var vectors = new double[n * n];
        for (int j = 0; j < n; j++)
        {
            values[j] = s[order[j] * n + order[j]];
            for (int k = 0; k < n; k++) vectors[k * n + j] = q[k * n + order[j]];
        }
        return (values, vectors);
    }

    /// <summary>Q diag(d) Q^T for Q [n, n] (columns = eigenvectors), symmetrized exactly.</summary>
    public static double[] Recompose(ReadOnlySpan<double> q, ReadOnlySpan<double> d, int n)
    {
        var r = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++)
            {
                double acc = 0;
                for (int k = 0; k < n; k++) acc += q[i * n + k] * d[k] * q[j * n + k];
                r[i * n + j] = acc;
                r[j * n + i] = acc;
            }
        return r;
    }

    /// <summary>Number of matrices in a [..., m, n] tensor and its last two sizes; rank below 2 names the argument.</summary>
    public static (int Batch, int Rows, int Cols) Matrices<T>(Tensor<T> t, string argument)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(t, argument);
        if (t.Rank < 2)
            throw new ArgumentException($"{argument} has shape {Shapes.Format(t.Shape)}; expected [..., rows, cols] (rank >= 2).", argument);
        int rows = t.Dim(-2), cols = t.Dim(-1);
        return (rows * cols == 0 ? 0 : t.Length / (rows * cols), rows, cols);
    }

    /// <summary>A [..., n, n] tensor's batch size and n; a non-square matrix names the argument.</summary>
    public static (int Batch, int N) Square(Tensor<double> t, string argument)
    {
        var (batch, rows, cols) = Matrices(t, argument);
        if (rows != cols)
            throw new ArgumentException($"{argument} has shape {Shapes.Format(t.Shape)}; expected square matrices [..., n, n].", argument);
        if (rows == 0) throw new ArgumentException($"{argument} has shape {Shapes.Format(t.Shape)}; expected n >= 1.", argument);
        return (batch, rows);
    }

    /// <summary>The shape of <paramref name="t"/> with its last two axes replaced.</summary>
    public static int[] WithMatrixShape<T>(Tensor<T> t, int rows, int cols) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var s = t.ShapeArray;
        s[^2] = rows;
        s[^1] = cols;
        return s;
    }
}
