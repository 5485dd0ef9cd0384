// First-level GLM, voxel by voxel:   y_v = X beta_v + e_v      y_v [T], X [T, p], beta_v [p]
//
// OLS:   beta = (X'X)^-1 X'y,  r = y - X beta,  sigma^2 = r'r / (T - p),  Var(c'beta) = sigma^2 c'(X'X)^-1 c.
// AR(1) prewhitening (nilearn's ar1 noise model, SPM's AR(1) in spirit): rho_v = sum_t r_t r_{t-1} /
// sum_t r_t^2 from the OLS residuals, rounded to 0.01 (voxels share one whitened design per value)
// and clipped to [-0.99, 0.99]; then OLS on the whitened data W y = W X beta + W e with
//   (W u)_0 = sqrt(1 - rho^2) u_0,   (W u)_t = u_t - rho u_{t-1}   (the Cholesky factor of the AR(1) precision),
// which is generalized least squares for AR(1) noise; its sigma^2, dof T - p and (X'W'WX)^-1.
// Threads over voxels; the p x p algebra is a Cholesky factorization of the column-scaled Gram
// matrix, whose pivots detect a rank-deficient design (one clear error naming the column).
namespace Reference.Neuro.Glm;

/// <summary>A fitted first-level GLM.</summary>
public sealed class GlmFit
{
    public required int Scans { get; init; }
    public required int Voxels { get; init; }
    public required string[] Columns { get; init; }
    /// <summary>Estimates [p, V].</summary>
    public required double[] Beta { get; init; }
    /// <summary>Residual variance sigma^2 per voxel [V].</summary>
    public required double[] Sigma2 { get; init; }
    /// <summary>AR(1) coefficient used per voxel [V] (0 without prewhitening).</summary>
    public required double[] Rho { get; init; }
    public required double Dof { get; init; }
    /// <summary>(X'X)^-1 [p, p] per AR(1) bin (one bin without prewhitening), and the bin of each voxel [V].</summary>
    public required IReadOnlyList<double[]> Covariances { get; init; }
    public required int[] Bin { get; init; }

    /// <summary>Effect c'beta, its standard error, t and z per voxel for contrast weights <paramref name="c"/> [p].</summary>
    public ContrastMaps Contrast(double[] c)
    {
        ArgumentNullException.ThrowIfNull(c);
        int p = Columns.Length;
        if (c.Length != p) throw new ArgumentException($"the contrast has {c.Length} weights, the design {p} columns.", nameof(c));
        if (c.All(w => w == 0)) throw new ArgumentException("the contrast's weights are all zero; expected at least one nonzero weight.", nameof(c));
        var quad = Covariances.Select(cov =>
        {
            double q = 0;
            for (int i = 0; i < p; i++)
                for (int j = 0; j < p; j++) q += c[i] * cov[i * p + j] * c[j];
            return q;
        }).ToArray();
        var effect = new double[Voxels];
        var se = new double[Voxels];
        var t = new double[Voxels];
        var z = new double[Voxels];
        double dof = Dof;
        Parallel.For(0, Voxels, v =>
        {
            double e = 0;
            for (int i = 0; i < p; i++) e += c[i] * Beta[i * Voxels + v];
            double s = Math.Sqrt(Sigma2[v] * quad[Bin[v]]);
            effect[v] = e;
            se[v] = s;
            t[v] = s > 0 ? e / s : 0;
            z[v] = TToZ.Convert(t[v], dof);
        });
        return new ContrastMaps(effect, se, t, z, dof);
    }
}

/// <summary>Per-voxel maps of one contrast.</summary>
public sealed record ContrastMaps(double[] Effect, double[] StandardError, double[] T, double[] Z, double Dof);

public static class FirstLevel
{
    /// <summary>
    /// Fits y [T, V] (row-major: the voxels of one scan contiguous) on the design x [T, p].
    /// <paramref name="ar1"/> adds AR(1) prewhitening.
    /// </summary>
    public static GlmFit Fit(double[] y, int voxels, double[] x, string[] columns, bool ar1 = false, int maxThreads = -1)
    {
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(columns);
        int p = columns.Length;
        if (p < 1) throw new ArgumentException("the design has no columns.", nameof(columns));
        if (voxels < 1 || y.Length % voxels != 0) throw new ArgumentException($"y has {y.Length} values, not a multiple of {voxels} voxels.", nameof(y));
        int t = y.Length / voxels;
        if (x.Length != t * p) throw new ArgumentException($"the design has {x.Length} values; expected {t} scans x {p} columns = {t * p}.", nameof(x));
        if (t <= p) throw new ArgumentException($"{t} scans for {p} design columns; expected more scans than columns (no residual degrees of freedom).", nameof(x));
        foreach (double d in x) if (!double.IsFinite(d)) throw new ArgumentException("the design has a non-finite value.", nameof(x));
        var options = new ParallelOptions { MaxDegreeOfParallelism = maxThreads };

        var (pinv, cov) = Solve(x, t, p, columns);
        var beta = new double[p * voxels];
        var sigma2 = new double[voxels];
        var rho = new double[voxels];
        var bin = new int[voxels];
        var covariances = new List<double[]> { cov };
        // OLS for every voxel, in blocks of voxels.
        const int block = 256;
        int blocks = (voxels + block - 1) / block;
        Parallel.For(0, blocks, options, b =>
        {
            int v0 = b * block, v1 = Math.Min(voxels, v0 + block);
            var yv = new double[t];
            var r = new double[t];
            for (int v = v0; v < v1; v++)
            {
                for (int i = 0; i < t; i++) yv[i] = y[i * voxels + v];
                FitOne(yv, x, pinv, t, p, r, beta, v, voxels, out double rss);
                sigma2[v] = rss / (t - p);
                if (ar1)
                {
                    double num = 0, den = 0;
                    for (int i = 0; i < t; i++) { den += r[i] * r[i]; if (i > 0) num += r[i] * r[i - 1]; }
                    rho[v] = den > 0 ? Math.Clamp(Math.Round(num / den * 100) / 100, -0.99, 0.99) : 0;
                }
            }
        });
        if (ar1)
        {
            var groups = Enumerable.Range(0, voxels).GroupBy(v => rho[v]).OrderBy(g => g.Key).ToList();
            covariances.Clear();
            foreach (var g in groups)
            {
                double r0 = g.Key;
                var xw = Whiten(x, t, p, r0);
                var (pw, cw) = Solve(xw, t, p, columns);
                int index = covariances.Count;
                covariances.Add(cw);
                var members = g.ToArray();
                Parallel.For(0, (members.Length + block - 1) / block, options, b =>
                {
                    var yv = new double[t];
                    var r = new double[t];
                    for (int m = b * block; m < Math.Min(members.Length, (b + 1) * block); m++)
                    {
                        int v = members[m];
                        for (int i = 0; i < t; i++) yv[i] = y[i * voxels + v];
                        var yw = Whiten(yv, t, 1, r0);
                        FitOne(yw, xw, pw, t, p, r, beta, v, voxels, out double rss);
                        sigma2[v] = rss / (t - p);
                        bin[v] = index;
                    }
                });
            }
        }
        return new GlmFit { Scans = t, Voxels = voxels, Columns = columns, Beta = beta, Sigma2 = sigma2, Rho = rho, Dof = t - p, Covariances = covariances, Bin = bin };
    }

    /// <summary>W u for AR(1) coefficient rho, column by column of u [T, cols].</summary>
    public static double[] Whiten(double[] u, int t, int cols, double rho)
    {
        var w = new double[u.Length];
        double first = Math.Sqrt(1 - rho * rho);
        for (int j = 0; j < cols; j++) w[j] = first * u[j];
        for (int i = 1; i < t; i++)
            for (int j = 0; j < cols; j++) w[i * cols + j] = u[i * cols + j] - rho * u[(i - 1) * cols + j];
        return w;
    }

    private static void FitOne(double[] yv, double[] x, double[] pinv, int t, int p, double[] r, double[] beta, int v, int voxels, out double rss)
    {
        Span<double> b = stackalloc double[p];
        for (int j = 0; j < p; j++)
        {
            double s = 0;
            for (int i = 0; i < t; i++) s += pinv[j * t + i] * yv[i];
            b[j] = s;
            beta[j * voxels + v] = s;
        }
        rss = 0;
        for (int i = 0; i < t; i++)
        {
            double fit = 0;
            for (int j = 0; j < p; j++) fit += x[i * p + j] * b[j];
            r[i] = yv[i] - fit;
            rss += r[i] * r[i];
        }
    }

    /// <summary>
    /// (X'X)^-1 X' [p, T] and (X'X)^-1 [p, p] by Cholesky of the Gram matrix of the unit-norm
    /// columns; a pivot below 1e-10 (the column's residual norm after projecting out the
    /// columns before it, relative to its norm) means a rank-deficient design.
    /// </summary>
    internal static (double[] Pinv, double[] Covariance) Solve(double[] x, int t, int p, string[] columns)
    {
        var norm = new double[p];
        for (int j = 0; j < p; j++)
        {
            double s = 0;
            for (int i = 0; i < t; i++) s += x[i * p + j] * x[i * p + j];
            norm[j] = Math.Sqrt(s);
            if (norm[j] == 0) throw new ArgumentException($"the design is singular: column '{columns[j]}' is all zeros.", nameof(x));
        }
        var g = new double[p * p];
        for (int a = 0; a < p; a++)
            for (int b = 0; b <= a; b++)
            {
                double s = 0;
                for (int i = 0; i < t; i++) s += x[i * p + a] * x[i * p + b];
                g[a * p + b] = g[b * p + a] = s / (norm[a] * norm[b]);
            }
        var l = new double[p * p];
        for (int j = 0; j < p; j++)
        {
            double d = g[j * p + j];
            for (int k = 0; k < j; k++) d -= l[j * p + k] * l[j * p + k];
            if (!(d > 1e-10))
                throw new ArgumentException($"the design is singular (rank deficient): column '{columns[j]}' is a linear combination of the columns before it (relative residual {Math.Sqrt(Math.Max(d, 0)):G2}); remove or change it.", nameof(x));
            l[j * p + j] = Math.Sqrt(d);
            for (int i = j + 1; i < p; i++)
            {
                double s = g[i * p + j];
                for (int k = 0; k < j; k++) s -= l[i * p + k] * l[j * p + k];
                l[i * p + j] = s / l[j * p + j];
            }
        }
        // Inverse of G = L L' column by column, then undo the scaling: (X'X)^-1 = D^-1 G^-1 D^-1.
        var inv = new double[p * p];
        var e = new double[p];
        for (int c = 0; c < p; c++)
        {
            Array.Clear(e);
            e[c] = 1;
            for (int i = 0; i < p; i++)
            {
                double s = e[i];
                for (int k = 0; k < i; k++) s -= l[i * p + k] * e[k];
                e[i] = s / l[i * p + i];
            }
            for (int i = p - 1; i >= 0; i--)
            {
                double s = e[i];
                for (int k = i + 1; k < p; k++) s -= l[k * p + i] * e[k];
                e[i] = s / l[i * p + i];
            }
            for (int i = 0; i < p; i++) inv[i * p + c] = e[i] / (norm[i] * norm[c]);
        }
        var pinv = new double[p * t];
        for (int j = 0; j < p; j++)
            for (int i = 0; i < t; i++)
            {
                double s = 0;
                for (int k = 0; k < p; k++) s += inv[j * p + k] * x[i * p + k];
                pinv[j * t + i] = s;
            }
        return (pinv, inv);
    }
}
