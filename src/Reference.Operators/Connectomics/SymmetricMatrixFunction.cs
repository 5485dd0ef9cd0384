// Symmetric matrix functions by eigendecomposition, SPD projection and the tangent-space maps of
// differentiable connectomics.
// Paper: Ciric et al. (arXiv:2206.00649), section 2 (SPD geometry); hypercoil's functional/symmap.py
// and semidefinite.py. Daleckii-Krein: Daleckii and Krein (1965); see also Higham, Functions of
// Matrices (2008), Theorem 3.11.
//
// Glossary: A [..., n, n] a symmetric matrix (its symmetric part (A + A^T)/2 is used, as hypercoil
// does), A = Q diag(lambda) Q^T, f a scalar function, F(A) = Q diag(f(lambda)) Q^T.
//   log, exp, sqrt, inverse sqrt, power p: F = f(A) with the SPD domain lambda > 0 where f needs it
//   SPD projection: f(lambda) = max(lambda, eps) (the nearest matrix with eigenvalues >= eps in the
//     Frobenius norm; hypercoil's spd() shifts the whole spectrum instead: a documented difference)
//   tangent projection at reference O: T = log(O^-1/2 A O^-1/2); its inverse A = O^1/2 exp(T) O^1/2
// Simplifications: hypercoil's reconditioning (psi, random eigenspace jitter) is not offered; a matrix
// outside the domain is an error naming the argument and its smallest eigenvalue.
using Reference.Core;

namespace Reference.Operators.Connectomics;

/// <summary>A scalar function applied to eigenvalues: value, derivative and the open domain it needs (null: all reals).</summary>
/// <param name="Name">Short name for errors ("log", "sqrt", ...).</param>
/// <param name="Value">f(lambda).</param>
/// <param name="Derivative">f'(lambda) (the diagonal of the Daleckii-Krein kernel and its limit for close eigenvalues).</param>
/// <param name="Positive">Whether f needs lambda > 0 (the SPD domain).</param>
public sealed record EigenvalueMap(string Name, Func<double, double> Value, Func<double, double> Derivative, bool Positive)
{
    public static EigenvalueMap Log { get; } = new("log", Math.Log, l => 1 / l, true);
    public static EigenvalueMap Exp { get; } = new("exp", Math.Exp, Math.Exp, false);
    public static EigenvalueMap Sqrt { get; } = new("sqrt", Math.Sqrt, l => 0.5 / Math.Sqrt(l), true);
    public static EigenvalueMap InverseSqrt { get; } = new("inverse sqrt", l => 1 / Math.Sqrt(l), l => -0.5 / (l * Math.Sqrt(l)), true);

    /// <summary>lambda^p on lambda > 0.</summary>
    public static EigenvalueMap Power(double p) => new($"power {p}", l => Math.Pow(l, p), l => p * Math.Pow(l, p - 1), true);

    /// <summary>max(lambda, eps): the eigenvalue clamp of the SPD projection (derivative 1 above eps, 0 below).</summary>
    public static EigenvalueMap Clamp(double eps) => new($"clamp {eps}", l => Math.Max(l, eps), l => l > eps ? 1 : 0, false);
}

public static partial class SymmetricMatrixFunction
{
    /// <summary>
    /// F(A) = Q diag(f(lambda)) Q^T for A [..., n, n] (symmetric part), lambda from the Jacobi
    /// eigensolver. A matrix with an eigenvalue &lt;= 0 where <paramref name="map"/> needs lambda &gt; 0
    /// is an ArgumentException naming <paramref name="argument"/>.
    /// </summary>
    public static Tensor<double> Apply(Tensor<double> a, EigenvalueMap map, string argument = "a")
    {
        ArgumentNullException.ThrowIfNull(map);
        var (batch, n) = DenseMatrix.Square(a, argument);
        var r = Tensor<double>.Zeros(a.ShapeArray);
        for (int b = 0; b < batch; b++)
        {
            var (values, q) = Decompose(a, b, n, map, argument);
            DenseMatrix.Recompose(q, values.Select(map.Value).ToArray(), n).CopyTo(r.Data, b * n * n);
        }
        return r;
    }

    /// <summary>
    /// Backward (Daleckii-Krein). For symmetric S = sym(A) = Q diag(lambda) Q^T a perturbation dS gives
    /// dF = Q (K o (Q^T dS Q)) Q^T with the divided differences
    /// K_ij = (f(lambda_i) - f(lambda_j)) / (lambda_i - lambda_j), K_ii = f'(lambda_i)
    /// (f' at the midpoint when |lambda_i - lambda_j| &lt;= 1e-9 max(1, |lambda_i|), where the quotient
    /// loses its digits). K is symmetric, so &lt;G, dF&gt; = &lt;Q (K o (Q^T G Q)) Q^T, dS&gt;, and through
    /// S = (A + A^T)/2: dL/dA = sym(Q (K o (Q^T G Q)) Q^T).
    /// </summary>
    public static Tensor<double> Backward(Tensor<double> a, EigenvalueMap map, Tensor<double> g, string argument = "a")
    {
        ArgumentNullException.ThrowIfNull(map);
        var (batch, n) = DenseMatrix.Square(a, argument);
        var ga = Tensor<double>.Zeros(a.ShapeArray);
        for (int b = 0; b < batch; b++)
        {
            var (l, q) = Decompose(a, b, n, map, argument);
            var fl = l.Select(map.Value).ToArray();
            var inner = DenseMatrix.Multiply(DenseMatrix.Multiply(q, g.Data.AsSpan(b * n * n, n * n), n, n, n, transA: true), q, n, n, n);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                {
                    double gap = l[i] - l[j];
                    double k = Math.Abs(gap) <= 1e-9 * Math.Max(1, Math.Abs(l[i])) ? map.Derivative(0.5 * (l[i] + l[j])) : (fl[i] - fl[j]) / gap;
                    inner[i * n + j] *= k;
                }
            var full = DenseMatrix.Multiply(DenseMatrix.Multiply(q, inner, n, n, n), q, n, n, n, transB: true);
            DenseMatrix.Symmetrize(full, n).CopyTo(ga.Data, b * n * n);
        }
        return ga;
    }

    /// <summary>Matrix logarithm of SPD matrices [..., n, n].</summary>
    public static Tensor<double> Log(Tensor<double> a) => Apply(a, EigenvalueMap.Log, nameof(a));

    /// <summary>Matrix exponential of symmetric matrices [..., n, n].</summary>
    public static Tensor<double> Exp(Tensor<double> a) => Apply(a, EigenvalueMap.Exp, nameof(a));

    /// <summary>Principal square root of SPD matrices [..., n, n].</summary>
    public static Tensor<double> Sqrt(Tensor<double> a) => Apply(a, EigenvalueMap.Sqrt, nameof(a));

    /// <summary>Inverse principal square root of SPD matrices [..., n, n].</summary>
    public static Tensor<double> InverseSqrt(Tensor<double> a) => Apply(a, EigenvalueMap.InverseSqrt, nameof(a));

    /// <summary>A^p of SPD matrices [..., n, n].</summary>
    public static Tensor<double> Power(Tensor<double> a, double p) => Apply(a, EigenvalueMap.Power(p), nameof(a));

    /// <summary>SPD projection: eigenvalues clamped below at <paramref name="eps"/> (default 1e-6, hypercoil's eps).</summary>
    public static Tensor<double> ProjectSpd(Tensor<double> a, double eps = 1e-6)
    {
        if (!(eps > 0)) throw new ArgumentOutOfRangeException(nameof(eps), $"eps = {eps}; expected > 0.");
        return Apply(a, EigenvalueMap.Clamp(eps), nameof(a));
    }

    /// <summary>
    /// Tangent projection at <paramref name="reference"/> [n, n] (or [..., n, n] like x):
    /// T = log(O^-1/2 X O^-1/2) for X [..., n, n] SPD.
    /// </summary>
    public static Tensor<double> TangentProject(Tensor<double> x, Tensor<double> reference)
    {
        var (batch, n) = DenseMatrix.Square(x, nameof(x));
        var w = Apply(CheckReference(reference, x, n), EigenvalueMap.InverseSqrt, nameof(reference));
        return Apply(Sandwich(w, x, batch, n), EigenvalueMap.Log, nameof(x));
    }

    /// <summary>The inverse of <see cref="TangentProject"/>: X = O^1/2 exp(T) O^1/2 for T [..., n, n] symmetric.</summary>
    public static Tensor<double> ConeProject(Tensor<double> t, Tensor<double> reference)
    {
        var (batch, n) = DenseMatrix.Square(t, nameof(t));
        var root = Apply(CheckReference(reference, t, n), EigenvalueMap.Sqrt, nameof(reference));
        return Sandwich(root, Apply(t, EigenvalueMap.Exp, nameof(t)), batch, n);
    }

    /// <summary>W X W for W [n, n] (or one per matrix of X) and X [batch, n, n].</summary>
    internal static Tensor<double> Sandwich(Tensor<double> w, Tensor<double> x, int batch, int n)
    {
        var r = Tensor<double>.Zeros(x.ShapeArray);
        bool shared = w.Length == n * n;
        for (int b = 0; b < batch; b++)
        {
            var wb = w.Data.AsSpan(shared ? 0 : b * n * n, n * n);
            var wx = DenseMatrix.Multiply(wb, x.Data.AsSpan(b * n * n, n * n), n, n, n);
            DenseMatrix.Multiply(wx, wb, n, n, n).CopyTo(r.Data, b * n * n);
        }
        return r;
    }

    internal static Tensor<double> CheckReference(Tensor<double> reference, Tensor<double> x, int n)
    {
        var (batch, m) = DenseMatrix.Square(reference, nameof(reference));
        if (m != n || (reference.Rank != 2 && !reference.Shape.SequenceEqual(x.Shape)))
            throw new ArgumentException($"reference has shape {Shapes.Format(reference.Shape)}; expected [{n}, {n}] or {Shapes.Format(x.Shape)}.", nameof(reference));
        _ = batch;
        return reference;
    }

    private static (double[] Values, double[] Vectors) Decompose(Tensor<double> a, int b, int n, EigenvalueMap map, string argument)
    {
        var (values, q) = DenseMatrix.SymmetricEigen(a.Data.AsSpan(b * n * n, n * n), n);
        if (map.Positive && !(values[0] > 0))
            throw new ArgumentException(
                $"{argument}{(a.Rank > 2 ? $" (matrix {b})" : "")} is not symmetric positive definite: smallest eigenvalue {values[0]:G3}; {map.Name} needs eigenvalues > 0.",
                argument);
        return (values, q);
    }
}
