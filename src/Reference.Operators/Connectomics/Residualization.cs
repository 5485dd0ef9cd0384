// Residualization (confound regression) of differentiable connectomics.
// Paper: Ciric et al. (arXiv:2206.00649), section 2 (denoising); hypercoil's functional/resid.py
// (residualise with rowvar = True and return_mode = 'residual').
//
// Glossary: y [..., V, T] the series to clean (V variables), confounds [C, T] or [..., C, T] the
// regressors X (no implicit intercept: pass a row of ones to remove the mean), l2 the ridge.
// Definition: beta = argmin ||X^T beta - Y^T||^2 + ||l2 beta||^2 (hypercoil appends l2 I as extra
// rows of X^T and zeros to Y^T, so the penalty is l2^2 ||beta||^2):
//   A = X X^T + l2^2 I [C, C],  beta = A^-1 X Y^T [C, V],  residual R = Y - beta^T X [..., V, T].
// A singular A (collinear confounds and l2 = 0) is an error naming the confounds.
using Reference.Core;

namespace Reference.Operators.Connectomics;

/// <summary>Gradients of a residualization: d/dy and d/dconfounds.</summary>
public sealed record ResidualizationGradients(Tensor<double> Y, Tensor<double> Confounds);

public static partial class Residualization
{
    /// <summary>R = Y - beta^T X with beta = (X X^T + l2^2 I)^-1 X Y^T, per matrix of the batch.</summary>
    public static Tensor<double> Forward(Tensor<double> y, Tensor<double> confounds, double l2 = 0)
    {
        var (batch, v, c, t, shared) = Check(y, confounds, l2);
        var r = Tensor<double>.Zeros(y.ShapeArray);
        for (int b = 0; b < batch; b++)
        {
            var x = confounds.Data.AsSpan(shared ? 0 : b * c * t, c * t);
            var ys = y.Data.AsSpan(b * v * t, v * t);
            var beta = Betas(x, ys, c, v, t, l2);
            var fit = DenseMatrix.Multiply(beta, x, v, c, t, transA: true);
            for (int e = 0; e < v * t; e++) r.Data[b * v * t + e] = ys[e] - fit[e];
        }
        return r;
    }

    /// <summary>
    /// Backward. With B = A^-1, H = X^T B X (so R = Y (I - H)), beta = B X Y^T and gamma = B X G^T:
    /// <code>
    /// dL/dY = G (I - H) = G - gamma^T X
    /// dL/dX = -gamma Y - beta G + (gamma beta^T + beta gamma^T) X = -gamma R - beta (G - gamma^T X)
    /// </code>
    /// (the last from d(Y X^T B X) = Y dX^T B X + Y X^T B dX - Y X^T B (dX X^T + X dX^T) B X).
    /// Shared confounds [C, T] receive the gradient summed over the batch.
    /// </summary>
    public static ResidualizationGradients Backward(Tensor<double> y, Tensor<double> confounds, double l2, Tensor<double> g)
    {
        var (batch, v, c, t, shared) = Check(y, confounds, l2);
        var gy = Tensor<double>.Zeros(y.ShapeArray);
        var gx = Tensor<double>.Zeros(confounds.ShapeArray);
        for (int b = 0; b < batch; b++)
        {
            var x = confounds.Data.AsSpan(shared ? 0 : b * c * t, c * t);
            var ys = y.Data.AsSpan(b * v * t, v * t);
            var gs = g.Data.AsSpan(b * v * t, v * t);
            var beta = Betas(x, ys, c, v, t, l2);
            var gamma = Betas(x, gs, c, v, t, l2);
            var gammaX = DenseMatrix.Multiply(gamma, x, v, c, t, transA: true);   // gamma^T X [V, T]
            var betaX = DenseMatrix.Multiply(beta, x, v, c, t, transA: true);     // beta^T X
            var resid = new double[v * t];
            var gPerp = new double[v * t];
            for (int e = 0; e < v * t; e++)
            {
                gy.Data[b * v * t + e] = gs[e] - gammaX[e];
                resid[e] = ys[e] - betaX[e];
                gPerp[e] = gs[e] - gammaX[e];
            }
            var t1 = DenseMatrix.Multiply(gamma, resid, c, v, t);
            var t2 = DenseMatrix.Multiply(beta, gPerp, c, v, t);
            int o = shared ? 0 : b * c * t;
            for (int e = 0; e < c * t; e++) gx.Data[o + e] -= t1[e] + t2[e];
        }
        return new ResidualizationGradients(gy, gx);
    }

    /// <summary>beta = (X X^T + l2^2 I)^-1 X Y^T [C, V] for X [C, T], Y [V, T].</summary>
    private static double[] Betas(ReadOnlySpan<double> x, ReadOnlySpan<double> y, int c, int v, int t, double l2)
    {
        var a = DenseMatrix.Multiply(x, x, c, t, c, transB: true);
        for (int i = 0; i < c; i++) a[i * c + i] += l2 * l2;
        var inv = DenseMatrix.Inverse(a, c, "confounds");
        var xy = DenseMatrix.Multiply(x, y, c, t, v, transB: true);
        return DenseMatrix.Multiply(inv, xy, c, c, v);
    }

    private static (int Batch, int V, int C, int T, bool Shared) Check(Tensor<double> y, Tensor<double> confounds, double l2)
    {
        var (batch, v, t) = DenseMatrix.Matrices(y, nameof(y));
        var (cb, c, ct) = DenseMatrix.Matrices(confounds, nameof(confounds));
        bool shared = confounds.Rank == 2;
        if (ct != t || c < 1 || (!shared && (!confounds.Shape[..^2].SequenceEqual(y.Shape[..^2]) || cb != batch)))
            throw new ArgumentException(
                $"confounds has shape {Shapes.Format(confounds.Shape)}; expected [C, {t}] or [{string.Join(", ", y.ShapeArray[..^2])}{(y.Rank > 2 ? ", " : "")}C, {t}] with C >= 1 for y {Shapes.Format(y.Shape)}.",
                nameof(confounds));
        if (!(l2 >= 0) || !double.IsFinite(l2)) throw new ArgumentOutOfRangeException(nameof(l2), $"l2 = {l2}; expected a finite value >= 0.");
        return (batch, v, c, t, shared);
    }
}
