// Modularity matrix and relaxed modularity of differentiable connectomics.
// Paper: Ciric et al. (arXiv:2206.00649), section 2 (community detection); Newman, PNAS 103 (2006)
// for the modularity matrix; hypercoil's functional/graph.py (girvan_newman_null, modularity_matrix,
// coaffiliation, relaxed_modularity).
//
// Glossary: A [n, n] a weighted adjacency (non-negative in use), k_i = sum_j A_ij (row sums, the
// out-degrees), k_o = column sums, 2m = 1^T A 1, gamma the resolution, C [n, K] a soft community
// assignment (rows on the simplex; one-hot for a hard partition), H = C C^T the coaffiliation.
//   B = A - gamma k_i k_o^T / 2m                                    (Girvan-Newman null)
//   Q = (1 / 2m) sum_ij B_ij H_ij                                   (H's diagonal zeroed when excludeDiagonal)
// For a one-hot C and excludeDiagonal = false this is Newman's Q. Differences from hypercoil's
// relaxed_modularity defaults, by choice: no relu of A (sign '+'), the diagonal is kept unless asked,
// no coaffiliation normalization and no extra 1/2 for undirected graphs (those halve Newman's Q).
using Reference.Core;

namespace Reference.Operators.Connectomics;

/// <summary>Gradients of the relaxed modularity: d/dA and d/dC.</summary>
public sealed record ModularityGradients(Tensor<double> Adjacency, Tensor<double> Assignment);

public static partial class Modularity
{
    /// <summary>B = A - gamma k_i k_o^T / 2m for A [n, n].</summary>
    public static Tensor<double> Matrix(Tensor<double> adjacency, double gamma = 1)
    {
        var (n, ki, ko, twoM) = Degrees(adjacency);
        var b = Tensor<double>.Zeros(n, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) b.Data[i * n + j] = adjacency.Data[i * n + j] - gamma * ki[i] * ko[j] / twoM;
        return b;
    }

    /// <summary>Q = (1/2m) sum_ij B_ij (C C^T)_ij for A [n, n] and C [n, K]; a scalar tensor.</summary>
    public static Tensor<double> Relaxed(Tensor<double> adjacency, Tensor<double> assignment, double gamma = 1, bool excludeDiagonal = false)
    {
        var (n, _, _, twoM) = Degrees(adjacency);
        var h = Coaffiliation(assignment, n, excludeDiagonal);
        var b = Matrix(adjacency, gamma);
        double q = 0;
        for (int e = 0; e < n * n; e++) q += b.Data[e] * h[e];
        return Tensor<double>.Scalar(q / twoM);
    }

    /// <summary>
    /// Backward of <see cref="Relaxed"/> (g = dL/dQ). With s = 2m = 1^T A 1 and H (diagonal-masked):
    /// Q = &lt;A, H&gt;/s - gamma k_i^T H k_o / s^2, so
    /// <code>
    /// dQ/dA_ab = H_ab / s - &lt;A, H&gt; / s^2 - gamma ((H k_o)_a + (H^T k_i)_b) / s^2 + 2 gamma k_i^T H k_o / s^3
    /// dQ/dC    = (B_m + B_m^T) C / s          (B_m = B with the diagonal zeroed when excluded)
    /// </code>
    /// </summary>
    public static ModularityGradients RelaxedBackward(Tensor<double> adjacency, Tensor<double> assignment, double gamma, bool excludeDiagonal, double g)
    {
        var (n, ki, ko, s) = Degrees(adjacency);
        int k = assignment.Dim(1);
        var h = Coaffiliation(assignment, n, excludeDiagonal);
        var b = Matrix(adjacency, gamma);
        double ah = 0, khk = 0;
        var hko = new double[n];
        var htki = new double[n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                ah += adjacency.Data[i * n + j] * h[i * n + j];
                hko[i] += h[i * n + j] * ko[j];
                htki[j] += h[i * n + j] * ki[i];
                khk += ki[i] * h[i * n + j] * ko[j];
            }
        var ga = Tensor<double>.Zeros(n, n);
        for (int a = 0; a < n; a++)
            for (int c = 0; c < n; c++)
                ga.Data[a * n + c] = g * (h[a * n + c] / s - ah / (s * s) - gamma * (hko[a] + htki[c]) / (s * s) + 2 * gamma * khk / (s * s * s));
        var gc = Tensor<double>.Zeros(n, k);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (excludeDiagonal && i == j) continue;
                double w = g * (b.Data[i * n + j] + b.Data[j * n + i]) / s;
                for (int c = 0; c < k; c++) gc.Data[i * k + c] += w * assignment.Data[j * k + c];
            }
        return new ModularityGradients(ga, gc);
    }

    private static double[] Coaffiliation(Tensor<double> assignment, int n, bool excludeDiagonal)
    {
        ArgumentNullException.ThrowIfNull(assignment);
        if (assignment.Rank != 2 || assignment.Dim(0) != n || assignment.Dim(1) < 1)
            throw new ArgumentException($"assignment has shape {Shapes.Format(assignment.Shape)}; expected [{n}, K] with K >= 1.", nameof(assignment));
        var h = DenseMatrix.Multiply(assignment.Data, assignment.Data, n, assignment.Dim(1), n, transB: true);
        if (excludeDiagonal)
            for (int i = 0; i < n; i++) h[i * n + i] = 0;
        return h;
    }

    private static (int N, double[] Ki, double[] Ko, double TwoM) Degrees(Tensor<double> adjacency)
    {
        var (_, n) = DenseMatrix.Square(adjacency, nameof(adjacency));
        if (adjacency.Rank != 2) throw new ArgumentException($"adjacency has shape {Shapes.Format(adjacency.Shape)}; expected [n, n].", nameof(adjacency));
        var ki = new double[n];
        var ko = new double[n];
        double total = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double a = adjacency.Data[i * n + j];
                ki[i] += a;
                ko[j] += a;
                total += a;
            }
        if (!(total > 0)) throw new ArgumentException($"adjacency has total weight 2m = {total:G3}; expected > 0.", nameof(adjacency));
        return (n, ki, ko, total);
    }
}
