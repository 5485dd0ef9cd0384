// Projection of a dense matrix onto the Monarch class: the Monarch matrix nearest in Frobenius norm.
//
// Paper: Dao, Chen et al., "Monarch" (arXiv:2204.00595), Sec. 3.3 and Algorithm 1 (projection onto the
// Monarch class by reshaping into blocks and taking a rank-1 SVD of each; Theorem 3.3: this is optimal).
//
// Derivation (for the factor shapes of Monarch.cs). By the entry formula,
//   M[sigma L + lambda, i P + a] = sum over c in C(lambda, i) of w2[lambda, sigma, rho(c)] w1[i, c, a],
//   C(lambda, i) = { c < Q : (i Q + c) mod L = lambda },  rho(c) = (i Q + c) div L.
// Cut M into the L K blocks B(lambda, i) = M[{sigma L + lambda}_sigma, {i P + a}_a] of size S x P; they
// partition M. B(lambda, i) is a sum of |C(lambda, i)| outer products w2[lambda, :, rho(c)] w1[i, c, :]^T,
// and every parameter vector appears in exactly one block (f = i Q + c = rho L + lambda fixes both), so
// the blocks are independent: the nearest Monarch matrix takes, in each block, the nearest matrix of
// rank <= |C(lambda, i)|, the truncated SVD (Eckart-Young), and zero where C is empty. In the usual shape
// (L = Q, R = K) every |C| is 1: a rank-1 SVD per block, the paper's algorithm. The singular value is split
// evenly, w2 column = u_t sqrt(s_t), w1 row = sqrt(s_t) v_t^H (the factorization is unique only up to
// this scaling and, for repeated singular values, a rotation; the product is what the projection defines).
//
// Glossary: dense [M, N] row-major (M = L S outputs, N = K P inputs); U, s, V^H the SVD of one block.
//
// Deliberate simplifications: the small SVDs are MathNet.Numerics' (real and complex), as the
// projection is a preprocessing step and not on any hot path; float64 only.
using System.Numerics;
using MathNet.Numerics.LinearAlgebra;

namespace Reference.Operators.Monarch;

public static class MonarchProjection
{
    /// <summary>
    /// The factors w1 [K, Q, P], w2 [L, S, R] of the Monarch matrix nearest (Frobenius norm) to
    /// dense [M, N] = [L S, K P] (row-major), by a truncated SVD per block (file head). Exact when dense is Monarch.
    /// </summary>
    public static (double[] W1, double[] W2) Project(MonarchShape shape, ReadOnlySpan<double> dense) =>
        ProjectCore(shape, dense, v => v);

    /// <summary>The complex projection (blocks and factors complex; the same construction with V^H).</summary>
    public static (Complex[] W1, Complex[] W2) Project(MonarchShape shape, ReadOnlySpan<Complex> dense) =>
        ProjectCore(shape, dense, v => v.Real);

    private static (T[] W1, T[] W2) ProjectCore<T>(MonarchShape shape, ReadOnlySpan<T> dense, Func<T, double> real)
        where T : struct, IEquatable<T>, IFormattable, INumberBase<T>
    {
        shape.Validate(nameof(shape));
        var (k, q, p, l, s, r) = shape;
        int n = shape.Inputs;
        Monarch.CheckLength(dense.Length, (long)shape.Outputs * n, nameof(dense), $"[M = {shape.Outputs}, N = {n}]");
        var w1 = new T[shape.Weights1];
        var w2 = new T[shape.Weights2];
        Array.Fill(w1, T.Zero);
        Array.Fill(w2, T.Zero);
        var members = new List<int>();
        for (int lambda = 0; lambda < l; lambda++)
            for (int i = 0; i < k; i++)
            {
                members.Clear();
                for (int c = 0; c < q; c++)
                    if ((i * q + c) % l == lambda) members.Add(c);
                if (members.Count == 0) continue;
                var block = Matrix<T>.Build.Dense(s, p);
                for (int sigma = 0; sigma < s; sigma++)
                    for (int a = 0; a < p; a++)
                        block[sigma, a] = dense[(sigma * l + lambda) * n + i * p + a];
                var svd = block.Svd(computeVectors: true);
                int rank = Math.Min(members.Count, Math.Min(s, p));
                for (int t = 0; t < rank; t++)
                {
                    int c = members[t], rho = (i * q + c) / l;
                    var root = T.CreateTruncating(Math.Sqrt(real(svd.S[t])));
                    for (int sigma = 0; sigma < s; sigma++) w2[(lambda * s + sigma) * r + rho] = svd.U[sigma, t] * root;
                    for (int a = 0; a < p; a++) w1[(i * q + c) * p + a] = root * svd.VT[t, a];
                }
            }
        return (w1, w2);
    }
}
