// Binary L2-regularized logistic regression (the linear baseline of the decoding papers):
//
//   minimize  L(w, b) = (1/n) sum_i [log(1 + e^{z_i}) - y_i z_i] + (lambda/2) ||w||^2,   z_i = w.x_i + b,  y_i in {0, 1}
//
// (the intercept b is not penalized). L is strictly convex for lambda > 0; Newton's method with a
// backtracking line search converges to the unique minimizer, where the gradient
//   dL/dw = (1/n) X^T (sigma(z) - y) + lambda w,   dL/db = (1/n) sum_i (sigma(z_i) - y_i)
// vanishes (the tests check this stationarity). Hessian (1/n) X^T S X + lambda I with S = diag(sigma(1 - sigma)).
//
// More features than samples (d > n, e.g. voxel maps): the stationarity condition gives
// w = -(1/(n lambda)) X^T (sigma(z) - y), so the minimizer lies in the row space of X. With the thin
// QR factorization X^T = Q R (Q [d, n] orthonormal columns, R [n, n]) and w = Q v, z = R^T v + b and
// ||w|| = ||v||: the problem in v is the same penalized logistic regression on the n features R^T,
// whose Newton steps cost O(n^3) instead of O(d^3). Its minimizer v* gives the exact primal
// minimizer w* = Q v* (the gradient component orthogonal to the row space is lambda w_perp = 0).
using MathNet.Numerics.LinearAlgebra;

namespace Reference.Neuro.Connectome;

public sealed class LogisticRegression
{
    public required double[] Weights { get; init; }
    public required double Bias { get; init; }
    public required double Lambda { get; init; }
    public required int Iterations { get; init; }

    /// <summary>P(y = 1 | x) for one sample.</summary>
    public double Probability(ReadOnlySpan<double> x)
    {
        if (x.Length != Weights.Length) throw new ArgumentException($"{x.Length} features; the model has {Weights.Length}.", nameof(x));
        double z = Bias;
        for (int j = 0; j < x.Length; j++) z += Weights[j] * x[j];
        return Sigmoid(z);
    }

    public int Predict(ReadOnlySpan<double> x) => Probability(x) >= 0.5 ? 1 : 0;

    /// <summary>Fits x [n, d] row-major with labels y in {0, 1}.</summary>
    public static LogisticRegression Fit(double[] x, int[] y, double lambda, int maxIterations = 100, double tolerance = 1e-11)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        int n = y.Length;
        if (n < 2 || x.Length % n != 0) throw new ArgumentException($"{x.Length} feature values for {n} labels; expected n >= 2 rows of equal length.", nameof(x));
        if (y.Any(l => l is not (0 or 1))) throw new ArgumentException("labels must be 0 or 1.", nameof(y));
        if (!(lambda > 0)) throw new ArgumentOutOfRangeException(nameof(lambda), $"lambda = {lambda}; expected > 0 (the L2 penalty makes the problem strictly convex).");
        int d = x.Length / n;
        if (d > n) return FitInRowSpace(x, y, lambda, n, d, maxIterations, tolerance);
        var theta = new double[d + 1];
        int iterations = 0;
        double loss = Loss(x, y, theta, lambda, n, d);
        for (; iterations < maxIterations; iterations++)
        {
            var (g, h) = GradientAndHessian(x, y, theta, lambda, n, d);
            double norm = Math.Sqrt(g.Sum(v => v * v));
            if (norm < tolerance) break;
            var step = Matrix<double>.Build.DenseOfArray(h).Cholesky().Solve(Vector<double>.Build.DenseOfArray(g)).ToArray();
            double t = 1, decrease = g.Zip(step).Sum(q => q.First * q.Second);
            double[] next;
            double nextLoss;
            while (true)
            {
                next = theta.Select((v, j) => v - t * step[j]).ToArray();
                nextLoss = Loss(x, y, next, lambda, n, d);
                if (nextLoss <= loss - 1e-4 * t * decrease || t < 1e-10) break;
                t /= 2;
            }
            theta = next;
            loss = nextLoss;
        }
        return new LogisticRegression { Weights = theta[..d], Bias = theta[d], Lambda = lambda, Iterations = iterations };
    }

    /// <summary>d &gt; n: Newton on the n row-space coordinates R^T of the samples, then w = Q v (see the head of the file).</summary>
    private static LogisticRegression FitInRowSpace(double[] x, int[] y, double lambda, int n, int d, int maxIterations, double tolerance)
    {
        var xt = Matrix<double>.Build.Dense(d, n, (j, i) => x[i * d + j]);
        var qr = xt.QR(MathNet.Numerics.LinearAlgebra.Factorization.QRMethod.Thin);
        var rt = qr.R.Transpose();
        var reduced = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++) reduced[i * n + k] = rt[i, k];
        var inner = Fit(reduced, y, lambda, maxIterations, tolerance);
        var w = (qr.Q * Vector<double>.Build.DenseOfArray(inner.Weights)).ToArray();
        return new LogisticRegression { Weights = w, Bias = inner.Bias, Lambda = lambda, Iterations = inner.Iterations };
    }

    /// <summary>The gradient of the objective at this model (the stationarity check).</summary>
    public double[] Gradient(double[] x, int[] y)
    {
        int n = y.Length, d = Weights.Length;
        return GradientAndHessian(x, y, [.. Weights, Bias], Lambda, n, d).Gradient;
    }

    internal static double Sigmoid(double z) => z >= 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z));

    private static double Z(double[] x, double[] theta, int i, int d)
    {
        double z = theta[d];
        for (int j = 0; j < d; j++) z += theta[j] * x[i * d + j];
        return z;
    }

    private static double Loss(double[] x, int[] y, double[] theta, double lambda, int n, int d)
    {
        double loss = 0;
        for (int i = 0; i < n; i++)
        {
            double z = Z(x, theta, i, d);
            // log(1 + e^z) without overflow.
            loss += (z > 0 ? z + Math.Log(1 + Math.Exp(-z)) : Math.Log(1 + Math.Exp(z))) - y[i] * z;
        }
        double penalty = 0;
        for (int j = 0; j < d; j++) penalty += theta[j] * theta[j];
        return loss / n + lambda / 2 * penalty;
    }

    private static (double[] Gradient, double[,] Hessian) GradientAndHessian(double[] x, int[] y, double[] theta, double lambda, int n, int d)
    {
        var g = new double[d + 1];
        var h = new double[d + 1, d + 1];
        var row = new double[d + 1];
        for (int i = 0; i < n; i++)
        {
            double p = Sigmoid(Z(x, theta, i, d));
            for (int j = 0; j < d; j++) row[j] = x[i * d + j];
            row[d] = 1;
            double r = (p - y[i]) / n, s = p * (1 - p) / n;
            for (int a = 0; a <= d; a++)
            {
                g[a] += r * row[a];
                if (s == 0) continue;
                for (int b = 0; b <= a; b++) h[a, b] += s * row[a] * row[b];
            }
        }
        for (int a = 0; a <= d; a++)
            for (int b = 0; b < a; b++) h[b, a] = h[a, b];
        for (int j = 0; j < d; j++) { g[j] += lambda * theta[j]; h[j, j] += lambda; }
        // The unpenalized intercept: a tiny ridge keeps the Hessian definite when every p is 0 or 1.
        h[d, d] += 1e-12;
        return (g, h);
    }
}
