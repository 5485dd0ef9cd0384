// Means of SPD matrices (reference points for the tangent projection).
// Paper: Ciric et al. (arXiv:2206.00649), section 2; hypercoil's functional/semidefinite.py
// (mean_euc_spd, mean_harm_spd, mean_logeuc_spd, mean_geom_spd). Geometric (Karcher) mean: Moakher,
// SIAM J. Matrix Anal. Appl. 26 (2005), the fixed point of sum_i log(G^-1/2 X_i G^-1/2) = 0.
//
//   X [N, n, n], N SPD matrices; each mean is [n, n]
//   Euclidean:      (1/N) sum_i X_i
//   harmonic:       ((1/N) sum_i X_i^-1)^-1
//   log-Euclidean:  exp((1/N) sum_i log X_i)
//   geometric:      G_0 = Euclidean mean; G_{k+1} = G_k^1/2 exp((1/N) sum_i log(G_k^-1/2 X_i G_k^-1/2)) G_k^1/2
//                   until ||G_{k+1} - G_k||_F <= tol ||G_k||_F or max_iter steps (hypercoil: a fixed
//                   number of steps, 10, from the Euclidean mean; its eps is unused there).
// At the geometric mean the tangent vectors at G average to zero (the fixed-point property the tests check);
// for commuting X_i it equals the log-Euclidean mean.
using Reference.Core;

namespace Reference.Operators.Connectomics;

public static partial class SpdMeans
{
    /// <summary>(1/N) sum_i X_i for X [N, n, n].</summary>
    public static Tensor<double> Euclidean(Tensor<double> x)
    {
        var (count, n) = Stack(x);
        var m = Tensor<double>.Zeros(n, n);
        for (int i = 0; i < count; i++)
            for (int e = 0; e < n * n; e++) m.Data[e] += x.Data[i * n * n + e];
        for (int e = 0; e < n * n; e++) m.Data[e] /= count;
        return m;
    }

    /// <summary>((1/N) sum_i X_i^-1)^-1 for X [N, n, n]; a singular X_i names x.</summary>
    public static Tensor<double> Harmonic(Tensor<double> x)
    {
        Stack(x);
        return Covariance.Inverse(Euclidean(Covariance.Inverse(x, nameof(x))), nameof(x));
    }

    /// <summary>exp((1/N) sum_i log X_i) for X [N, n, n] SPD.</summary>
    public static Tensor<double> LogEuclidean(Tensor<double> x)
    {
        Stack(x);
        return SymmetricMatrixFunction.Exp(Euclidean(SymmetricMatrixFunction.Apply(x, EigenvalueMap.Log, nameof(x))));
    }

    /// <summary>
    /// The Riemannian (Karcher) mean of X [N, n, n] SPD by the fixed-point iteration of the file head,
    /// from the Euclidean mean; stops when the relative step is &lt;= <paramref name="tolerance"/> or after
    /// <paramref name="maxIterations"/> steps.
    /// </summary>
    public static Tensor<double> Geometric(Tensor<double> x, int maxIterations = 10, double tolerance = 0)
    {
        var (_, n) = Stack(x);
        if (maxIterations < 0) throw new ArgumentOutOfRangeException(nameof(maxIterations), $"maxIterations = {maxIterations}; expected >= 0.");
        var g = Euclidean(x);
        for (int k = 0; k < maxIterations; k++)
        {
            var next = GeometricStep(x, g);
            double step = 0, norm = 0;
            for (int e = 0; e < n * n; e++)
            {
                step += (next.Data[e] - g.Data[e]) * (next.Data[e] - g.Data[e]);
                norm += g.Data[e] * g.Data[e];
            }
            g = next;
            if (Math.Sqrt(step) <= tolerance * Math.Sqrt(norm)) break;
        }
        return g;
    }

    /// <summary>One step G -> G^1/2 exp(mean_i log(G^-1/2 X_i G^-1/2)) G^1/2 (cone projection of the mean tangent vector).</summary>
    public static Tensor<double> GeometricStep(Tensor<double> x, Tensor<double> g) =>
        SymmetricMatrixFunction.ConeProject(Euclidean(SymmetricMatrixFunction.TangentProject(x, g)), g);

    private static (int Count, int N) Stack(Tensor<double> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 3 || x.Dim(1) != x.Dim(2) || x.Dim(0) < 1 || x.Dim(1) < 1)
            throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}; expected a stack [N, n, n] with N, n >= 1.", nameof(x));
        return (x.Dim(0), x.Dim(1));
    }
}
