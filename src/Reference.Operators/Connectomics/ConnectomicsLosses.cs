// Losses of differentiable connectomics (each a scalar with a hand-written gradient).
// Paper: Ciric et al. (arXiv:2206.00649), section 2 (regularizers of atlases and connectomes);
// hypercoil's loss/functional.py (entropy, equilibrium, compactness, second_moment, log_det_gram,
// modularity, qcfc). Scalarizations are the plain means stated per loss.
//
//   entropy(P [R, K], rows on the simplex)   = (1/R) sum_r -sum_k p_rk log p_rk        (0 log 0 = 0)
//   equilibrium(A [P, V])                      = (1/P) sum_p (m_p - mbar)^2, m_p = mean_v A_pv, mbar = mean_p m_p
//   compactness(A [P, V], coords [V, D])       = (1/(P V)) sum_pv A_pv ||coords_v - mu_p||_2, mu_p = sum_v A_pv coords_v / sum_v A_pv
//   second moment(W [P, V] >= 0, x [V, T])     = (1/(P T)) sum_pt sum_v W_pv (x_vt - mu_pt)^2 / s_p, mu = W x / s, s_p = sum_v W_pv
//   log-det(S [n, n] SPD)                      = -log det sym(S) (by Cholesky of (S + S^T) / 2)
//   modularity(A, C)                           = -Q (the relaxed modularity, Modularity.Relaxed)
//   QC-FC(fc [N, E], qc [N])                   = (1/E) sum_e |pearson_n(fc[:, e], qc)|  (N subjects, E edges)
// Differences from hypercoil, by choice: no float eps inside the entropy's log; equilibrium squares
// the deviation hypercoil takes the absolute value of, then averages; second moment uses W, not |W|
// (equal for the non-negative atlases it is meant for); compactness has no floor or radius; QC-FC
// has no significance threshold (tol = 0, abs = true).
using Reference.Core;

namespace Reference.Operators.Connectomics;

public static partial class ConnectomicsLosses
{
    /// <summary>Mean row entropy of P [R, K]; entries must be &gt;= 0 (0 log 0 = 0).</summary>
    public static double Entropy(Tensor<double> p)
    {
        var (r, k) = Matrix(p, nameof(p));
        double h = 0;
        foreach (var v in p.Data)
        {
            if (!(v >= 0)) throw new ArgumentException($"p has an entry {v:G3}; expected probabilities >= 0.", nameof(p));
            if (v > 0) h -= v * Math.Log(v);
        }
        _ = k;
        return h / r;
    }

    /// <summary>dEntropy/dp = -(log p + 1) / R (p &gt; 0; the gradient is unbounded at 0).</summary>
    public static Tensor<double> EntropyBackward(Tensor<double> p, double g)
    {
        var (r, _) = Matrix(p, nameof(p));
        var d = Tensor<double>.Zeros(p.ShapeArray);
        for (int i = 0; i < p.Length; i++) d.Data[i] = -g * (Math.Log(p.Data[i]) + 1) / r;
        return d;
    }

    /// <summary>Equilibrium of a soft atlas A [P, V]: the variance of the parcels' mean masses.</summary>
    public static double Equilibrium(Tensor<double> a)
    {
        var (p, v) = Matrix(a, nameof(a));
        var m = Masses(a, p, v);
        double mbar = m.Average();
        return m.Sum(x => (x - mbar) * (x - mbar)) / p;
    }

    /// <summary>dEquilibrium/dA_pv = 2 (m_p - mbar) / (P V) (mbar's own term cancels: sum_p (m_p - mbar) = 0).</summary>
    public static Tensor<double> EquilibriumBackward(Tensor<double> a, double g)
    {
        var (p, v) = Matrix(a, nameof(a));
        var m = Masses(a, p, v);
        double mbar = m.Average();
        var d = Tensor<double>.Zeros(p, v);
        for (int i = 0; i < p; i++)
            for (int j = 0; j < v; j++) d.Data[i * v + j] = g * 2 * (m[i] - mbar) / (p * v);
        return d;
    }

    /// <summary>Compactness of A [P, V] with voxel coordinates [V, D]: mean mass-weighted distance to each parcel's centre of mass.</summary>
    public static double Compactness(Tensor<double> a, Tensor<double> coords)
    {
        var (p, v, dim) = CheckCoords(a, coords);
        var (mu, _) = Centroids(a, coords, p, v, dim);
        double total = 0;
        for (int i = 0; i < p; i++)
            for (int j = 0; j < v; j++) total += a.Data[i * v + j] * Distance(coords, j, mu, i, dim);
        return total / (p * v);
    }

    /// <summary>
    /// dCompactness/dA_pv = (d_pv + u_p . (c_v - mu_p) / s_p) / (P V) with d_pv = ||c_v - mu_p||,
    /// u_p = sum_v' A_pv' (mu_p - c_v') / d_pv' (the centroid's dependence on A, dmu_p/dA_pv = (c_v - mu_p) / s_p).
    /// </summary>
    public static Tensor<double> CompactnessBackward(Tensor<double> a, Tensor<double> coords, double g)
    {
        var (p, v, dim) = CheckCoords(a, coords);
        var (mu, s) = Centroids(a, coords, p, v, dim);
        var grad = Tensor<double>.Zeros(p, v);
        for (int i = 0; i < p; i++)
        {
            var u = new double[dim];
            for (int j = 0; j < v; j++)
            {
                double dist = Distance(coords, j, mu, i, dim);
                for (int e = 0; e < dim; e++) u[e] += a.Data[i * v + j] * (mu[i * dim + e] - coords.Data[j * dim + e]) / dist;
            }
            for (int j = 0; j < v; j++)
            {
                double dot = 0;
                for (int e = 0; e < dim; e++) dot += u[e] * (coords.Data[j * dim + e] - mu[i * dim + e]);
                grad.Data[i * v + j] = g * (Distance(coords, j, mu, i, dim) + dot / s[i]) / (p * v);
            }
        }
        return grad;
    }

    /// <summary>Second moment of voxel series x [V, T] around each parcel's weighted mean, W [P, V] &gt;= 0.</summary>
    public static double SecondMoment(Tensor<double> w, Tensor<double> x)
    {
        var (p, v, t, mu, s) = Moments(w, x);
        double total = 0;
        for (int i = 0; i < p; i++)
            for (int k = 0; k < t; k++)
            {
                double sigma = 0;
                for (int j = 0; j < v; j++)
                {
                    double d = x.Data[j * t + k] - mu[i * t + k];
                    sigma += w.Data[i * v + j] * d * d;
                }
                total += sigma / s[i];
            }
        return total / (p * t);
    }

    /// <summary>
    /// Gradients of the second moment (mu's terms vanish: sum_v W_pv (x_vt - mu_pt) = 0):
    /// dL/dW_pv = sum_t ((x_vt - mu_pt)^2 - sigma_pt) / (s_p P T), dL/dx_vt = sum_p 2 W_pv (x_vt - mu_pt) / (s_p P T).
    /// </summary>
    public static (Tensor<double> W, Tensor<double> X) SecondMomentBackward(Tensor<double> w, Tensor<double> x, double g)
    {
        var (p, v, t, mu, s) = Moments(w, x);
        var gw = Tensor<double>.Zeros(p, v);
        var gx = Tensor<double>.Zeros(v, t);
        double scale = g / (p * t);
        for (int i = 0; i < p; i++)
            for (int k = 0; k < t; k++)
            {
                double sigma = 0;
                for (int j = 0; j < v; j++)
                {
                    double d = x.Data[j * t + k] - mu[i * t + k];
                    sigma += w.Data[i * v + j] * d * d;
                }
                sigma /= s[i];
                for (int j = 0; j < v; j++)
                {
                    double d = x.Data[j * t + k] - mu[i * t + k];
                    gw.Data[i * v + j] += scale * (d * d - sigma) / s[i];
                    gx.Data[j * t + k] += scale * 2 * w.Data[i * v + j] * d / s[i];
                }
            }
        return (gw, gx);
    }

    /// <summary>-log det S for S [n, n] SPD (its symmetric part; Cholesky: -2 sum log L_ii); a non-SPD S names s.</summary>
    public static double LogDet(Tensor<double> s)
    {
        var (_, n) = DenseMatrix.Square(s, nameof(s));
        var l = Cholesky(s, n);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += Math.Log(l[i * n + i]);
        return -2 * sum;
    }

    /// <summary>d(-log det sym(S))/dS = -sym(S)^-1 (symmetric; through sym, the symmetric part of the gradient).</summary>
    public static Tensor<double> LogDetBackward(Tensor<double> s, double g)
    {
        var (_, n) = DenseMatrix.Square(s, nameof(s));
        Cholesky(s, n);
        var inv = DenseMatrix.Symmetrize(DenseMatrix.Inverse(DenseMatrix.Symmetrize(s.Data, n), n, nameof(s)), n);
        for (int i = 0; i < inv.Length; i++) inv[i] *= -g;
        return new Tensor<double>(inv, n, n);
    }

    /// <summary>QC-FC: mean absolute Pearson correlation over N subjects between each edge of fc [N, E] and qc [N].</summary>
    public static double QcFc(Tensor<double> fc, Tensor<double> qc)
    {
        var (n, e) = CheckQc(fc, qc);
        double total = 0;
        for (int k = 0; k < e; k++) total += Math.Abs(EdgeCorrelation(fc, qc, n, e, k).R);
        return total / e;
    }

    /// <summary>
    /// Gradients of QC-FC. For a = centred fc[:, e], b = centred qc, r = a.b / (|a| |b|):
    /// dr/dfc_i = b_i / (|a| |b|) - r a_i / |a|^2 and dr/dqc_i = a_i / (|a| |b|) - r b_i / |b|^2 (both sum to 0,
    /// so centring passes them through), times sign(r) / E.
    /// </summary>
    public static (Tensor<double> Fc, Tensor<double> Qc) QcFcBackward(Tensor<double> fc, Tensor<double> qc, double g)
    {
        var (n, e) = CheckQc(fc, qc);
        var gf = Tensor<double>.Zeros(n, e);
        var gq = Tensor<double>.Zeros(n);
        for (int k = 0; k < e; k++)
        {
            var (r, a, b, na, nb) = EdgeCorrelation(fc, qc, n, e, k);
            double w = g * Math.Sign(r) / e;
            for (int i = 0; i < n; i++)
            {
                gf.Data[i * e + k] = w * (b[i] / (na * nb) - r * a[i] / (na * na));
                gq.Data[i] += w * (a[i] / (na * nb) - r * b[i] / (nb * nb));
            }
        }
        return (gf, gq);
    }

    private static (double R, double[] A, double[] B, double NormA, double NormB) EdgeCorrelation(Tensor<double> fc, Tensor<double> qc, int n, int e, int k)
    {
        double ma = 0, mb = 0;
        for (int i = 0; i < n; i++) { ma += fc.Data[i * e + k] / n; mb += qc.Data[i] / n; }
        var a = new double[n];
        var b = new double[n];
        double dot = 0, aa = 0, bb = 0;
        for (int i = 0; i < n; i++)
        {
            a[i] = fc.Data[i * e + k] - ma;
            b[i] = qc.Data[i] - mb;
            dot += a[i] * b[i];
            aa += a[i] * a[i];
            bb += b[i] * b[i];
        }
        if (!(aa > 0) || !(bb > 0))
            throw new ArgumentException($"{(aa > 0 ? "qc" : $"fc (edge {k})")} is constant over the subjects; expected some variation.", aa > 0 ? nameof(qc) : nameof(fc));
        double na = Math.Sqrt(aa), nb = Math.Sqrt(bb);
        return (dot / (na * nb), a, b, na, nb);
    }

    private static double[] Cholesky(Tensor<double> matrix, int n)
    {
        var s = new Tensor<double>(DenseMatrix.Symmetrize(matrix.Data, n), n, n);
        var l = new double[n * n];
        for (int j = 0; j < n; j++)
        {
            double d = s.Data[j * n + j];
            for (int k = 0; k < j; k++) d -= l[j * n + k] * l[j * n + k];
            if (!(d > 0))
                throw new ArgumentException($"s is not symmetric positive definite (Cholesky pivot {j} is {d:G3}); expected an SPD matrix.", nameof(s));
            l[j * n + j] = Math.Sqrt(d);
            for (int i = j + 1; i < n; i++)
            {
                double v = s.Data[i * n + j];
                for (int k = 0; k < j; k++) v -= l[i * n + k] * l[j * n + k];
                l[i * n + j] = v / l[j * n + j];
            }
        }
        return l;
    }

    private static double[] Masses(Tensor<double> a, int p, int v)
    {
        var m = new double[p];
        for (int i = 0; i < p; i++)
            for (int j = 0; j < v; j++) m[i] += a.Data[i * v + j] / v;
        return m;
    }

    private static (double[] Mu, double[] S) Centroids(Tensor<double> a, Tensor<double> coords, int p, int v, int dim)
    {
        var mu = new double[p * dim];
        var s = new double[p];
        for (int i = 0; i < p; i++)
        {
            for (int j = 0; j < v; j++)
            {
                s[i] += a.Data[i * v + j];
                for (int e = 0; e < dim; e++) mu[i * dim + e] += a.Data[i * v + j] * coords.Data[j * dim + e];
            }
            if (!(s[i] > 0)) throw new ArgumentException($"a: parcel {i} has total mass {s[i]:G3}; expected > 0.", nameof(a));
            for (int e = 0; e < dim; e++) mu[i * dim + e] /= s[i];
        }
        return (mu, s);
    }

    private static double Distance(Tensor<double> coords, int j, double[] mu, int i, int dim)
    {
        double d = 0;
        for (int e = 0; e < dim; e++) d += (coords.Data[j * dim + e] - mu[i * dim + e]) * (coords.Data[j * dim + e] - mu[i * dim + e]);
        return Math.Sqrt(d);
    }

    private static (int P, int V, int T, double[] Mu, double[] S) Moments(Tensor<double> w, Tensor<double> x)
    {
        var (p, v) = Matrix(w, nameof(w));
        var (vx, t) = Matrix(x, nameof(x));
        if (vx != v) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}; expected [{v}, T] (W's {v} voxels).", nameof(x));
        var s = new double[p];
        for (int i = 0; i < p; i++)
        {
            for (int j = 0; j < v; j++) s[i] += w.Data[i * v + j];
            if (!(s[i] > 0)) throw new ArgumentException($"w: parcel {i} has total weight {s[i]:G3}; expected > 0.", nameof(w));
        }
        var mu = DenseMatrix.Multiply(w.Data, x.Data, p, v, t);
        for (int i = 0; i < p; i++)
            for (int k = 0; k < t; k++) mu[i * t + k] /= s[i];
        return (p, v, t, mu, s);
    }

    private static (int P, int V, int Dim) CheckCoords(Tensor<double> a, Tensor<double> coords)
    {
        var (p, v) = Matrix(a, nameof(a));
        var (vc, dim) = Matrix(coords, nameof(coords));
        if (vc != v) throw new ArgumentException($"coords has shape {Shapes.Format(coords.Shape)}; expected [{v}, D] (one row per voxel).", nameof(coords));
        return (p, v, dim);
    }

    private static (int N, int E) CheckQc(Tensor<double> fc, Tensor<double> qc)
    {
        var (n, e) = Matrix(fc, nameof(fc));
        ArgumentNullException.ThrowIfNull(qc);
        if (qc.Rank != 1 || qc.Length != n)
            throw new ArgumentException($"qc has shape {Shapes.Format(qc.Shape)}; expected [{n}] (one value per subject of fc).", nameof(qc));
        if (n < 2) throw new ArgumentException($"fc has shape {Shapes.Format(fc.Shape)}; expected N >= 2 subjects.", nameof(fc));
        return (n, e);
    }

    private static (int Rows, int Cols) Matrix(Tensor<double> t, string argument)
    {
        ArgumentNullException.ThrowIfNull(t, argument);
        if (t.Rank != 2 || t.Length == 0)
            throw new ArgumentException($"{argument} has shape {Shapes.Format(t.Shape)}; expected a non-empty matrix.", argument);
        return (t.Dim(0), t.Dim(1));
    }
}
