// Singular values by one-sided Jacobi: the naive (definition) tier of the ESS metric.
//
// Hestenes, "Inversion of matrices by biorthogonalization and related results" (J. SIAM 6, 1958);
// the convergence test and rotation follow Demmel and Veselic, "Jacobi's method is more accurate
// than QR" (SIAM J. Matrix Anal. Appl. 13, 1992), Algorithm 4.1 without accumulating V.
//
// Glossary:  g[p] (length m)     column p of A (held as a row of the copy G = A^T)
//            alpha, beta, gamma  ||g_p||^2, ||g_q||^2, g_p . g_q  (entries of the 2 x 2 Gram block)
//            zeta, t, c, s       the rotation that diagonalizes the Gram block: t = tan(theta)
//            sigma_p             ||g_p|| once every pair is orthogonal
//
// Plane rotations G <- G J(p, q, theta) are applied until every pair of columns satisfies
// |gamma| <= m u sqrt(alpha beta) or holds a column below the noise floor m u ||A||_F; the column norms are then the singular values, each with a small
// *relative* error (the method's selling point for the small singular values ESS counts) down to
// that floor; below it, as for any backward-stable method, only the absolute error m u ||A||_F holds.
// Scalar loops in index order, no threads, no SIMD: this is the reference the fast tier is
// checked against.

namespace Reference.Ess;

/// <summary>Singular values by one-sided (Hestenes) Jacobi, float64, sequential.</summary>
public static class NaiveSingularValues
{
    private const int MaxSweeps = 100;

    /// <summary>sigma[0..min(rows, cols)) of the rows x cols row-major matrix a (stride lda), descending.</summary>
    public static double[] Compute(ReadOnlySpan<double> a, int rows, int cols, int lda)
    {
        SingularValues.CheckBlock(a.Length, rows, cols, lda);
        // Orthogonalize the shorter dimension's vectors: n vectors of length m, n = min(rows, cols).
        bool transpose = rows < cols;
        int n = Math.Min(rows, cols), m = Math.Max(rows, cols);
        var g = new double[n * m];
        double scale = 0;
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
            {
                double value = a[i * lda + j];
                if (!double.IsFinite(value))
                    throw new ArgumentException($"a[{i}, {j}] = {value}; singular values are defined for finite matrices only.", nameof(a));
                if (transpose) g[i * m + j] = value;
                else g[j * m + i] = value;
                scale = Math.Max(scale, Math.Abs(value));
            }
        // Work on A / max|a_ij| so that the squared norms neither overflow nor underflow early.
        // (a power of two, so the scaling is exact).
        if (scale > 0)
        {
            scale = SingularValues.PowerOfTwoScale(scale);
            for (int i = 0; i < g.Length; i++) g[i] /= scale;
        }
        // Convergence threshold on |cos| of the angle between two columns: m u (the rounding error
        // of an m-term dot product); eps alone can cycle on columns that are pure rounding noise.
        double threshold = Math.Max(1, m) * SingularValues.UnitRoundoff;
        // Columns below the method's backward error, ||g|| <= m u ||A||_F, are rounding noise (what a
        // rotation leaves of a column that was a multiple of another): their direction is arbitrary, so
        // rotating them never makes them orthogonal; they only shrink by a factor u per sweep until
        // underflow, where the tangent itself rounds to zero. Such a pair counts as converged; leaving it
        // moves no singular value by more than that norm, inside the m u ||A|| backward error.
        double frobenius2 = 0;
        for (int i = 0; i < g.Length; i++) frobenius2 += g[i] * g[i];
        double noise = threshold * threshold * frobenius2;

        for (int sweep = 0; ; sweep++)
        {
            bool rotated = false;
            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++)
                {
                    double alpha = 0, beta = 0, gamma = 0;
                    for (int i = 0; i < m; i++)
                    {
                        double gp = g[p * m + i], gq = g[q * m + i];
                        alpha += gp * gp;
                        beta += gq * gq;
                        gamma += gp * gq;
                    }
                    if (gamma == 0 || Math.Abs(gamma) <= threshold * Math.Sqrt(alpha) * Math.Sqrt(beta)) continue;
                    if (Math.Min(alpha, beta) <= noise) continue;
                    rotated = true;
                    // tan(theta) is the smaller root of t^2 + 2 zeta t - 1 = 0 (|theta| <= pi/4).
                    double zeta = (beta - alpha) / (2.0 * gamma);
                    double t = (zeta >= 0 ? 1.0 : -1.0) / (Math.Abs(zeta) + Math.Sqrt(1.0 + zeta * zeta));
                    double c = 1.0 / Math.Sqrt(1.0 + t * t), s = c * t;
                    for (int i = 0; i < m; i++)
                    {
                        double gp = g[p * m + i], gq = g[q * m + i];
                        g[p * m + i] = c * gp - s * gq;
                        g[q * m + i] = s * gp + c * gq;
                    }
                }
            if (!rotated) break;
            if (sweep == MaxSweeps)
                throw new ArithmeticException($"one-sided Jacobi did not converge in {MaxSweeps} sweeps.");
        }

        var sigma = new double[n];
        for (int p = 0; p < n; p++)
        {
            double sum = 0;
            for (int i = 0; i < m; i++) sum += g[p * m + i] * g[p * m + i];
            sigma[p] = Math.Sqrt(sum) * scale;
        }
        Array.Sort(sigma, (x, y) => y.CompareTo(x));
        return sigma;
    }
}
