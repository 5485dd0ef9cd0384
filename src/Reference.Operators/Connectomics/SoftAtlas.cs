// Soft (learnable) atlas of differentiable connectomics.
// Paper: Ciric et al. (arXiv:2206.00649), section 2 (parcellation); hypercoil's nn/atlas.py with its
// Dirichlet initialization (init/dirichlet.py): log-weights per parcel and voxel, a softmax over
// parcels at each voxel, and parcel time series as the weighted mean of their voxels' series.
//
// Glossary: logits [P, V] log-weights theta (P parcels, V voxels), A = softmax_p(theta) [P, V] the
// soft assignment (each voxel's column sums to 1), x [..., V, T] voxel series.
//   A_pv = exp(theta_pv) / sum_q exp(theta_qv)          (max-shifted)
//   Abar_pv = A_pv / s_p,  s_p = sum_v A_pv               (mean normalization: each parcel's weights sum to 1)
//   parcels [..., P, T] = Abar x
// Init: theta[:, v] = log w, w ~ Dirichlet(alpha 1_P) independently per voxel (alpha = 50: nearly uniform).
using Reference.Core;

namespace Reference.Operators.Connectomics;

/// <summary>Gradients of the soft atlas: d/dlogits and d/dx.</summary>
public sealed record SoftAtlasGradients(Tensor<double> Logits, Tensor<double> X);

public static partial class SoftAtlas
{
    /// <summary>A = softmax over parcels (axis 0) of logits [P, V]: each voxel's assignment probabilities.</summary>
    public static Tensor<double> Assignment(Tensor<double> logits)
    {
        var (p, v) = CheckLogits(logits);
        var a = Tensor<double>.Zeros(p, v);
        for (int j = 0; j < v; j++)
        {
            double max = double.NegativeInfinity;
            for (int i = 0; i < p; i++) max = Math.Max(max, logits.Data[i * v + j]);
            double sum = 0;
            for (int i = 0; i < p; i++) sum += a.Data[i * v + j] = Math.Exp(logits.Data[i * v + j] - max);
            for (int i = 0; i < p; i++) a.Data[i * v + j] /= sum;
        }
        return a;
    }

    /// <summary>Parcel series [..., P, T] = Abar x for logits [P, V] and voxel series x [..., V, T].</summary>
    public static Tensor<double> Forward(Tensor<double> logits, Tensor<double> x)
    {
        var (p, v, batch, t) = Check(logits, x);
        var abar = Normalized(Assignment(logits), p, v);
        var y = Tensor<double>.Zeros(DenseMatrix.WithMatrixShape(x, p, t));
        for (int b = 0; b < batch; b++)
            DenseMatrix.Multiply(abar, x.Data.AsSpan(b * v * t, v * t), p, v, t).CopyTo(y.Data, b * p * t);
        return y;
    }

    /// <summary>
    /// Backward. With G = dL/dparcels:
    /// <code>
    /// dL/dx     = Abar^T G
    /// dL/dAbar  = sum_batch G x^T                                   [P, V]
    /// dL/dA_pv  = (dL/dAbar_pv - sum_v' dL/dAbar_pv' Abar_pv') / s_p (through Abar = A / s_p)
    /// dL/dtheta_pv = A_pv (dL/dA_pv - sum_q A_qv dL/dA_qv)          (the softmax over parcels)
    /// </code>
    /// </summary>
    public static SoftAtlasGradients Backward(Tensor<double> logits, Tensor<double> x, Tensor<double> g)
    {
        var (p, v, batch, t) = Check(logits, x);
        var a = Assignment(logits);
        var s = RowSums(a.Data, p, v);
        var abar = Normalized(a, p, v);
        var gx = Tensor<double>.Zeros(x.ShapeArray);
        var gAbar = new double[p * v];
        for (int b = 0; b < batch; b++)
        {
            var gb = g.Data.AsSpan(b * p * t, p * t);
            DenseMatrix.Multiply(abar, gb, v, p, t, transA: true).CopyTo(gx.Data, b * v * t);
            var gxT = DenseMatrix.Multiply(gb, x.Data.AsSpan(b * v * t, v * t), p, t, v, transB: true);
            for (int e = 0; e < p * v; e++) gAbar[e] += gxT[e];
        }
        var gA = new double[p * v];
        for (int i = 0; i < p; i++)
        {
            double dot = 0;
            for (int j = 0; j < v; j++) dot += gAbar[i * v + j] * abar[i * v + j];
            for (int j = 0; j < v; j++) gA[i * v + j] = (gAbar[i * v + j] - dot) / s[i];
        }
        var gTheta = Tensor<double>.Zeros(p, v);
        for (int j = 0; j < v; j++)
        {
            double dot = 0;
            for (int i = 0; i < p; i++) dot += a.Data[i * v + j] * gA[i * v + j];
            for (int i = 0; i < p; i++) gTheta.Data[i * v + j] = a.Data[i * v + j] * (gA[i * v + j] - dot);
        }
        return new SoftAtlasGradients(gTheta, gx);
    }

    /// <summary>
    /// Dirichlet initialization: logits [P, V] with column v = log w_v, w_v ~ Dirichlet(alpha, ..., alpha)
    /// (P gamma(alpha, 1) draws normalized; drawn column by column, parcels in order).
    /// </summary>
    public static Tensor<double> DirichletInit(int parcels, int voxels, SplitMix64 rng, double alpha = 50)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (parcels < 1) throw new ArgumentOutOfRangeException(nameof(parcels), $"parcels = {parcels}; expected >= 1.");
        if (voxels < 1) throw new ArgumentOutOfRangeException(nameof(voxels), $"voxels = {voxels}; expected >= 1.");
        if (!(alpha > 0) || !double.IsFinite(alpha)) throw new ArgumentOutOfRangeException(nameof(alpha), $"alpha = {alpha}; expected a finite value > 0.");
        var logits = Tensor<double>.Zeros(parcels, voxels);
        var w = new double[parcels];
        for (int j = 0; j < voxels; j++)
        {
            double sum = 0;
            for (int i = 0; i < parcels; i++) sum += w[i] = Gamma(rng, alpha);
            for (int i = 0; i < parcels; i++) logits.Data[i * voxels + j] = Math.Log(w[i] / sum);
        }
        return logits;
    }

    /// <summary>
    /// A gamma(shape, 1) draw by Marsaglia and Tsang (ACM TOMS 26, 2000): d = shape - 1/3, c = 1/sqrt(9 d);
    /// accept v = (1 + c z)^3 when log u &lt; z^2/2 + d - d v + d log v. Shapes below 1 use
    /// gamma(shape + 1) u^(1/shape).
    /// </summary>
    public static double Gamma(SplitMix64 rng, double shape)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (shape < 1) return Gamma(rng, shape + 1) * Math.Pow(rng.Uniform(), 1 / shape);
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double z = rng.Normal(), v = 1 + c * z;
            if (v <= 0) continue;
            v = v * v * v;
            double u = rng.Uniform();
            if (u > 0 && Math.Log(u) < 0.5 * z * z + d - d * v + d * Math.Log(v)) return d * v;
        }
    }

    private static double[] Normalized(Tensor<double> a, int p, int v)
    {
        var s = RowSums(a.Data, p, v);
        var abar = new double[p * v];
        for (int i = 0; i < p; i++)
            for (int j = 0; j < v; j++) abar[i * v + j] = a.Data[i * v + j] / s[i];
        return abar;
    }

    private static double[] RowSums(double[] a, int p, int v)
    {
        var s = new double[p];
        for (int i = 0; i < p; i++)
            for (int j = 0; j < v; j++) s[i] += a[i * v + j];
        return s;
    }

    private static (int P, int V) CheckLogits(Tensor<double> logits)
    {
        ArgumentNullException.ThrowIfNull(logits);
        if (logits.Rank != 2 || logits.Length == 0)
            throw new ArgumentException($"logits has shape {Shapes.Format(logits.Shape)}; expected [P, V] with P, V >= 1.", nameof(logits));
        return (logits.Dim(0), logits.Dim(1));
    }

    private static (int P, int V, int Batch, int T) Check(Tensor<double> logits, Tensor<double> x)
    {
        var (p, v) = CheckLogits(logits);
        var (batch, vx, t) = DenseMatrix.Matrices(x, nameof(x));
        if (vx != v) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}; expected [..., {v}, T] (V = logits' {v} voxels).", nameof(x));
        return (p, v, batch, t);
    }
}
