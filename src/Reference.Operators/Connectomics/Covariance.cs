// Covariance family of differentiable connectomics.
// Paper: Ciric et al., "Differentiable programming for functional connectomics" (arXiv:2206.00649),
// section 2 (the covariance module); semantics of rciric/hypercoil's functional/cov.py: variables x
// observations, i.e. X [..., V, T] with the covariance taken over the last axis.
//
// Glossary (code -> paper/hypercoil):
//   x [..., V, T]      X, V variables (regions), T observations (time points)
//   weight [T]         vector weights (numpy's aweights): w_t >= 0 weighs observation t
//   weight [T, T]      matrix weights M (symmetric PSD in use: a temporal coupling)
//   ddof               degrees of freedom removed (hypercoil: ddof = 1 - bias unless given)
//   l2                 ridge added to the diagonal of the covariance (not of paired covariance)
//
// Definition (vector weights are M = diag(w); no weights M = I):
//   W = 1^T M 1,   a = M 1 / W [T],   mu_X = X a [V],   X0 = X - mu_X 1^T
//   f = W - ddof * (c . c) / W,  c = M^T 1  (column sums: w for vectors, 1 for none -> f = T - ddof)
//   paired:      C_XY = X0 M Y0^T / f                      [..., Vx, Vy]
//   covariance:  S = X0 M X0^T / f + l2 I                   [..., V, V]
//   correlation: R_ij = S_ij / sqrt(S_ii S_jj)             (hypercoil adds float eps to the denominator: <= 2e-16 relative)
//   precision:   P = S^-1
//   partial correlation: -P_ij / sqrt(P_ii P_jj) off the diagonal, 1 on it
//   conditional covariance: S_X|Z = S_XX - C_XZ S_ZZ^-1 C_XZ^T (Schur complement; same weights, ddof, l2)
// Simplifications: weights are shared over the batch; hypercoil's rowvar = False is the caller's
// transpose; the pseudo-inverse fallback (require_nonsingular = False) is not offered: a singular
// covariance is an error that asks for a ridge.
using Reference.Core;

namespace Reference.Operators.Connectomics;

/// <summary>Gradients of a paired covariance: d/dX, d/dY and d/dweight (null when unweighted).</summary>
public sealed record CovarianceGradients(Tensor<double> X, Tensor<double> Y, Tensor<double>? Weight);

public static partial class Covariance
{
    /// <summary>Covariance of x [..., V, T] over its last axis: S [..., V, V] (see the file head for weight, ddof, l2).</summary>
    public static Tensor<double> Forward(Tensor<double> x, Tensor<double>? weight = null, int ddof = 1, double l2 = 0)
    {
        if (!(l2 >= 0) || !double.IsFinite(l2)) throw new ArgumentOutOfRangeException(nameof(l2), $"l2 = {l2}; expected a finite value >= 0.");
        var s = Paired(x, x, weight, ddof);
        int v = x.Dim(-2);
        for (int b = 0; b < s.Length / (v * v); b++)
            for (int i = 0; i < v; i++) s.Data[b * v * v + i * v + i] += l2;
        return s;
    }

    /// <summary>Paired (cross) covariance of x [..., Vx, T] and y [..., Vy, T]: C [..., Vx, Vy]; l2 does not apply.</summary>
    public static Tensor<double> Paired(Tensor<double> x, Tensor<double> y, Tensor<double>? weight = null, int ddof = 1)
    {
        var (batch, vx, vy, t) = CheckPair(x, y);
        var w = WeightTerms.Of(weight, t, ddof);
        var result = Tensor<double>.Zeros(DenseMatrix.WithMatrixShape(x, vx, vy));
        for (int b = 0; b < batch; b++)
        {
            var x0 = w.Center(x.Data.AsSpan(b * vx * t, vx * t), vx);
            var y0 = w.Center(y.Data.AsSpan(b * vy * t, vy * t), vy);
            var z = w.Apply(x0, vx);   // X0 M
            for (int i = 0; i < vx; i++)
                for (int j = 0; j < vy; j++)
                {
                    double acc = 0;
                    for (int s = 0; s < t; s++) acc += z[i * t + s] * y0[j * t + s];
                    result.Data[(b * vx + i) * vy + j] = acc / w.Factor;
                }
        }
        return result;
    }

    /// <summary>Pearson correlation of x [..., V, T]: the covariance normalized by <see cref="CorrelationFrom"/>.</summary>
    public static Tensor<double> Correlation(Tensor<double> x, Tensor<double>? weight = null, int ddof = 1, double l2 = 0) =>
        CorrelationFrom(Forward(x, weight, ddof, l2), nameof(x));

    /// <summary>Precision (inverse covariance) of x [..., V, T]; a singular covariance is an error naming x.</summary>
    public static Tensor<double> Precision(Tensor<double> x, Tensor<double>? weight = null, int ddof = 1, double l2 = 0) =>
        Inverse(Forward(x, weight, ddof, l2), nameof(x));

    /// <summary>Partial correlation of x [..., V, T]: -P_ij / sqrt(P_ii P_jj) off the diagonal, 1 on it (P the precision).</summary>
    public static Tensor<double> PartialCorrelation(Tensor<double> x, Tensor<double>? weight = null, int ddof = 1, double l2 = 0) =>
        CorrelationFrom(NegateOffDiagonal(Precision(x, weight, ddof, l2)), nameof(x));

    /// <summary>Covariance of x [..., V, T] conditioned on z [..., Vz, T]: S_XX - C_XZ S_ZZ^-1 C_XZ^T [..., V, V].</summary>
    public static Tensor<double> Conditional(Tensor<double> x, Tensor<double> z, Tensor<double>? weight = null, int ddof = 1, double l2 = 0)
    {
        var sxx = Forward(x, weight, ddof, l2);
        var cxz = Paired(x, z, weight, ddof);
        var pzz = Inverse(Forward(z, weight, ddof, l2), nameof(z));
        int v = x.Dim(-2), vz = z.Dim(-2);
        for (int b = 0; b < sxx.Length / (v * v); b++)
        {
            var c = cxz.Data.AsSpan(b * v * vz, v * vz);
            var cp = DenseMatrix.Multiply(c, pzz.Data.AsSpan(b * vz * vz, vz * vz), v, vz, vz);
            var schur = DenseMatrix.Multiply(cp, c, v, vz, v, transB: true);
            for (int i = 0; i < v * v; i++) sxx.Data[b * v * v + i] -= schur[i];
        }
        return sxx;
    }

    /// <summary>R_ij = S_ij / sqrt(S_ii S_jj) for S [..., n, n]; a diagonal entry &lt;= 0 names <paramref name="argument"/>.</summary>
    public static Tensor<double> CorrelationFrom(Tensor<double> s, string argument = "s")
    {
        var (batch, n) = DenseMatrix.Square(s, argument);
        var r = Tensor<double>.Zeros(s.ShapeArray);
        for (int b = 0; b < batch; b++)
        {
            var d = InverseRootDiagonal(s.Data.AsSpan(b * n * n, n * n), n, argument);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) r.Data[b * n * n + i * n + j] = s.Data[b * n * n + i * n + j] * d[i] * d[j];
        }
        return r;
    }

    /// <summary>
    /// Backward of <see cref="CorrelationFrom"/>: with d_i = S_ii^-1/2 and R_ij = S_ij d_i d_j,
    /// dL/dS_ij = G_ij d_i d_j, plus on the diagonal (dd_i/dS_ii = -d_i^3 / 2)
    /// dL/dS_ii += -(d_i^2 / 2) sum_j (G_ij R_ij + G_ji R_ji).
    /// </summary>
    public static Tensor<double> CorrelationFromBackward(Tensor<double> s, Tensor<double> g)
    {
        var (batch, n) = DenseMatrix.Square(s, nameof(s));
        var r = CorrelationFrom(s);
        var gs = Tensor<double>.Zeros(s.ShapeArray);
        for (int b = 0; b < batch; b++)
        {
            int o = b * n * n;
            var d = InverseRootDiagonal(s.Data.AsSpan(o, n * n), n, nameof(s));
            for (int i = 0; i < n; i++)
            {
                double acc = 0;
                for (int j = 0; j < n; j++)
                {
                    gs.Data[o + i * n + j] = g.Data[o + i * n + j] * d[i] * d[j];
                    acc += g.Data[o + i * n + j] * r.Data[o + i * n + j] + g.Data[o + j * n + i] * r.Data[o + j * n + i];
                }
                gs.Data[o + i * n + i] += -0.5 * d[i] * d[i] * acc;
            }
        }
        return gs;
    }

    /// <summary>A^-1 for A [..., n, n] (Gauss-Jordan); a singular matrix is an error naming <paramref name="argument"/>.</summary>
    public static Tensor<double> Inverse(Tensor<double> a, string argument = "a")
    {
        var (batch, n) = DenseMatrix.Square(a, argument);
        var inv = Tensor<double>.Zeros(a.ShapeArray);
        for (int b = 0; b < batch; b++)
            DenseMatrix.Inverse(a.Data.AsSpan(b * n * n, n * n), n, argument).CopyTo(inv.Data, b * n * n);
        return inv;
    }

    /// <summary>Backward of the inverse P = A^-1: dL/dA = -P^T G P^T (from dP = -P dA P).</summary>
    public static Tensor<double> InverseBackward(Tensor<double> inverse, Tensor<double> g)
    {
        var (batch, n) = DenseMatrix.Square(inverse, nameof(inverse));
        var ga = Tensor<double>.Zeros(inverse.ShapeArray);
        for (int b = 0; b < batch; b++)
        {
            var p = inverse.Data.AsSpan(b * n * n, n * n);
            var pg = DenseMatrix.Multiply(p, g.Data.AsSpan(b * n * n, n * n), n, n, n, transA: true);
            var pgp = DenseMatrix.Multiply(pg, p, n, n, n, transB: true);
            for (int i = 0; i < n * n; i++) ga.Data[b * n * n + i] = -pgp[i];
        }
        return ga;
    }

    /// <summary>(2 I - 1) o A: off-diagonal entries negated (hypercoil's partial covariance from the precision); its own adjoint.</summary>
    public static Tensor<double> NegateOffDiagonal(Tensor<double> a)
    {
        var (batch, n) = DenseMatrix.Square(a, nameof(a));
        var r = Tensor<double>.Zeros(a.ShapeArray);
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    r.Data[b * n * n + i * n + j] = i == j ? a.Data[b * n * n + i * n + j] : -a.Data[b * n * n + i * n + j];
        return r;
    }

    /// <summary>
    /// Backward of <see cref="Paired"/> (and of <see cref="Forward"/> with y = x, whose gradient is
    /// X + Y). With Gs = G / f (G = dL/dC, not assumed symmetric):
    /// <code>
    /// dL/dX0 = Gs Y0 M^T,   dL/dY0 = Gs^T X0 M
    /// dL/dX  = dL/dX0 - (dL/dX0 1) a^T          (X0 = X (I - a 1^T)), same for Y
    /// dL/df  = -&lt;G, C&gt; / f
    /// dL/da  = -X^T (dL/dX0 1) - Y^T (dL/dY0 1)
    /// dL/dM_kl = (X0^T Gs Y0)_kl + dL/df (1 - ddof (2 c_l / W - c.c / W^2)) + (dL/da_k - dL/da . a) / W
    /// </code>
    /// (a_k = sum_l M_kl / W and W = 1^T M 1 give the last term; f's derivative uses c = M^T 1.)
    /// Vector weights take the diagonal of the same expression with M = diag(w).
    /// </summary>
    public static CovarianceGradients PairedBackward(Tensor<double> x, Tensor<double> y, Tensor<double>? weight, int ddof, Tensor<double> g)
    {
        var (batch, vx, vy, t) = CheckPair(x, y);
        var w = WeightTerms.Of(weight, t, ddof);
        var gx = Tensor<double>.Zeros(x.ShapeArray);
        var gy = Tensor<double>.Zeros(y.ShapeArray);
        var gw = weight is null ? null : Tensor<double>.Zeros(weight.ShapeArray);
        for (int b = 0; b < batch; b++)
        {
            var xs = x.Data.AsSpan(b * vx * t, vx * t);
            var ys = y.Data.AsSpan(b * vy * t, vy * t);
            var x0 = w.Center(xs, vx);
            var y0 = w.Center(ys, vy);
            var gs = new double[vx * vy];
            double dLdf = 0;
            var z = w.Apply(x0, vx);
            for (int i = 0; i < vx; i++)
                for (int j = 0; j < vy; j++)
                {
                    double gij = g.Data[(b * vx + i) * vy + j];
                    gs[i * vy + j] = gij / w.Factor;
                    double cij = 0;
                    for (int s = 0; s < t; s++) cij += z[i * t + s] * y0[j * t + s];
                    dLdf -= gij * cij / (w.Factor * w.Factor);
                }
            var dx0 = w.ApplyTransposed(DenseMatrix.Multiply(gs, y0, vx, vy, t), vx);               // Gs Y0 M^T
            var dy0 = DenseMatrix.Multiply(gs, z, vy, vx, t, transA: true);                         // Gs^T (X0 M)
            var dLda = new double[t];
            Uncenter(dx0, xs, vx, t, w.A, gx.Data.AsSpan(b * vx * t, vx * t), dLda);
            Uncenter(dy0, ys, vy, t, w.A, gy.Data.AsSpan(b * vy * t, vy * t), dLda);
            if (gw is null) continue;
            double aDot = 0;
            for (int k = 0; k < t; k++) aDot += dLda[k] * w.A[k];
            double q = 0;
            for (int k = 0; k < t; k++) q += w.C[k] * w.C[k];
            // X0^T Gs Y0 (only its diagonal for vector weights).
            var xg = DenseMatrix.Multiply(x0, gs, t, vx, vy, transA: true);                        // [T, Vy]
            if (weight!.Rank == 1)
                for (int k = 0; k < t; k++)
                {
                    double direct = 0;
                    for (int j = 0; j < vy; j++) direct += xg[k * vy + j] * y0[j * t + k];
                    gw.Data[k] += direct + dLdf * (1 - ddof * (2 * w.C[k] / w.Sum - q / (w.Sum * w.Sum))) + (dLda[k] - aDot) / w.Sum;
                }
            else
            {
                var direct = DenseMatrix.Multiply(xg, y0, t, vy, t);
                for (int k = 0; k < t; k++)
                    for (int l = 0; l < t; l++)
                        gw.Data[k * t + l] += direct[k * t + l] + dLdf * (1 - ddof * (2 * w.C[l] / w.Sum - q / (w.Sum * w.Sum))) + (dLda[k] - aDot) / w.Sum;
            }
        }
        return new CovarianceGradients(gx, gy, gw);
    }

    /// <summary>Backward of <see cref="Forward"/>: the paired backward with y = x, the two input gradients summed (l2 has none).</summary>
    public static (Tensor<double> X, Tensor<double>? Weight) Backward(Tensor<double> x, Tensor<double>? weight, int ddof, Tensor<double> g)
    {
        var r = PairedBackward(x, x, weight, ddof, g);
        for (int i = 0; i < r.X.Length; i++) r.X.Data[i] += r.Y.Data[i];
        return (r.X, r.Weight);
    }

    /// <summary>dL/dX from dL/dX0 through X0 = X - (X a) 1^T, accumulating dL/da = -X^T (dL/dX0 1).</summary>
    private static void Uncenter(double[] d0, ReadOnlySpan<double> x, int v, int t, double[] a, Span<double> dx, double[] dLda)
    {
        for (int i = 0; i < v; i++)
        {
            double rowSum = 0;
            for (int s = 0; s < t; s++) rowSum += d0[i * t + s];
            for (int s = 0; s < t; s++)
            {
                dx[i * t + s] = d0[i * t + s] - rowSum * a[s];
                dLda[s] -= x[i * t + s] * rowSum;
            }
        }
    }

    private static double[] InverseRootDiagonal(ReadOnlySpan<double> s, int n, string argument)
    {
        // A variance at rounding level of the largest one (a constant series centred in floating
        // point) counts as zero.
        var d = new double[n];
        double largest = 0;
        for (int i = 0; i < n; i++) largest = Math.Max(largest, s[i * n + i]);
        for (int i = 0; i < n; i++)
        {
            double v = s[i * n + i];
            if (!(v > 1e-14 * largest))
                throw new ArgumentException(
                    $"{argument}: diagonal entry {i} of the matrix to normalize is {v:G3} (largest {largest:G3}); expected > 0 (a constant variable, or a covariance that is not positive definite, has no correlation).", argument);
            d[i] = 1 / Math.Sqrt(v);
        }
        return d;
    }

    private static (int Batch, int Vx, int Vy, int T) CheckPair(Tensor<double> x, Tensor<double> y)
    {
        var (batch, vx, t) = DenseMatrix.Matrices(x, nameof(x));
        var (batchY, vy, ty) = DenseMatrix.Matrices(y, nameof(y));
        if (ty != t || batchY != batch || !x.Shape[..^2].SequenceEqual(y.Shape[..^2]))
            throw new ArgumentException($"y has shape {Shapes.Format(y.Shape)}; expected [{string.Join(", ", x.ShapeArray[..^2])}{(x.Rank > 2 ? ", " : "")}Vy, {t}] to match x {Shapes.Format(x.Shape)}.", nameof(y));
        if (t < 1) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}; expected T >= 1 observations.", nameof(x));
        return (batch, vx, vy, t);
    }

    /// <summary>The weight's derived terms: a = M 1 / W, c = M^T 1, W, the normalizer f, and M's action on rows.</summary>
    private sealed class WeightTerms
    {
        private Tensor<double>? weight;
        private int t;

        public double[] A { get; private init; } = [];
        public double[] C { get; private init; } = [];
        public double Sum { get; private init; }
        public double Factor { get; private init; }

        public static WeightTerms Of(Tensor<double>? weight, int t, int ddof)
        {
            if (ddof < 0) throw new ArgumentOutOfRangeException(nameof(ddof), $"ddof = {ddof}; expected >= 0.");
            var rowSums = new double[t];
            var colSums = new double[t];
            if (weight is null)
            {
                Array.Fill(rowSums, 1.0);
                Array.Fill(colSums, 1.0);
            }
            else if (weight.Rank == 1 && weight.Length == t)
            {
                weight.Data.CopyTo(rowSums, 0);
                weight.Data.CopyTo(colSums, 0);
            }
            else if (weight.Rank == 2 && weight.Dim(0) == t && weight.Dim(1) == t)
                for (int k = 0; k < t; k++)
                    for (int l = 0; l < t; l++)
                    {
                        rowSums[k] += weight.Data[k * t + l];
                        colSums[l] += weight.Data[k * t + l];
                    }
            else
                throw new ArgumentException($"weight has shape {Shapes.Format(weight.Shape)}; expected [{t}] (vector weights) or [{t}, {t}] (matrix weights).", nameof(weight));
            double sum = 0, q = 0;
            for (int k = 0; k < t; k++)
            {
                sum += rowSums[k];
                q += colSums[k] * colSums[k];
            }
            if (!(sum > 0))
                throw new ArgumentException($"weight sums to {sum:G3}; expected a positive total weight.", nameof(weight));
            double f = sum - ddof * q / sum;
            if (!(f > 0))
                throw new ArgumentException($"ddof = {ddof} leaves a normalizer W - ddof sum(c^2)/W = {f:G3}; expected > 0 (too few observations for ddof).", nameof(ddof));
            return new WeightTerms
            {
                weight = weight,
                t = t,
                A = rowSums.Select(r => r / sum).ToArray(),
                C = colSums,
                Sum = sum,
                Factor = f,
            };
        }

        /// <summary>X0 = X - (X a) 1^T for X [v, T].</summary>
        public double[] Center(ReadOnlySpan<double> x, int v)
        {
            var x0 = new double[v * t];
            for (int i = 0; i < v; i++)
            {
                double mu = 0;
                for (int s = 0; s < t; s++) mu += x[i * t + s] * A[s];
                for (int s = 0; s < t; s++) x0[i * t + s] = x[i * t + s] - mu;
            }
            return x0;
        }

        /// <summary>Z M for Z [v, T].</summary>
        public double[] Apply(double[] z, int v) => Act(z, v, transposed: false);

        /// <summary>Z M^T for Z [v, T].</summary>
        public double[] ApplyTransposed(double[] z, int v) => Act(z, v, transposed: true);

        private double[] Act(double[] z, int v, bool transposed)
        {
            if (weight is null) return (double[])z.Clone();
            var r = new double[v * t];
            if (weight.Rank == 1)
            {
                for (int i = 0; i < v; i++)
                    for (int s = 0; s < t; s++) r[i * t + s] = z[i * t + s] * weight.Data[s];
                return r;
            }
            return DenseMatrix.Multiply(z, weight.Data, v, t, t, transB: transposed);
        }
    }
}
