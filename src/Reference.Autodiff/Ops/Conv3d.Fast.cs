using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Fast tier of <see cref="Ops.Conv3d(Variable, Variable, Variable?, Conv3dGeometry)"/>: im2col + one
/// GEMM for the whole batch (Chellapilla, Puri and Simard, "High Performance Convolutional Neural
/// Networks for Document Processing", 2006). The column matrix X_col [K = Cin kd kh kw, N P]
/// (P = Do Ho Wo; column n P + q is output position q of sample n) is built once in the forward and
/// kept for the backward, so the three products are
///   forward:  Y_mat [Cout, N P] = W_mat [Cout, K] X_col                       (then laid out as [N, Cout, P] + bias)
///   backward: dW_mat [Cout, K] = G_mat X_col^T,   dX_col [K, N P] = W_mat^T G_mat,   dx = col2im(dX_col)
/// with G_mat [Cout, N P] the cotangent regrouped the same way. One GEMM over the batch (instead of
/// one per sample) gives FastGemm a long n (or k) dimension to split across threads.
/// </summary>
public static partial class Ops
{
    /// <summary>X_col [K, N P]: row (c, a, b, e), column (n, z, u, v) = x[n, c, z sd - pd + a, u sh - ph + b, v sw - pw + e] or 0.</summary>
    internal static double[] Conv3dIm2col(Conv3dPlan p, double[] x)
    {
        int P = p.OutVolume, np = p.N * P;
        var cols = GC.AllocateUninitializedArray<double>(p.Taps * np);
        int row = 0;
        for (int c = 0; c < p.Cin; c++)
            for (int a = 0; a < p.Kd; a++)
                for (int b = 0; b < p.Kh; b++)
                    for (int e = 0; e < p.Kw; e++, row++)
                        for (int n = 0; n < p.N; n++)
                        {
                            var dst = cols.AsSpan(row * np + n * P, P);
                            int xBase = (n * p.Cin + c) * p.InVolume;
                            for (int z = 0; z < p.Do; z++)
                            {
                                int i = z * p.Sd - p.Pd + a;
                                for (int u = 0; u < p.Ho; u++)
                                {
                                    int j = u * p.Sh - p.Ph + b;
                                    var seg = dst.Slice((z * p.Ho + u) * p.Wo, p.Wo);
                                    if ((uint)i >= (uint)p.D || (uint)j >= (uint)p.H) { seg.Clear(); continue; }
                                    int xRow = xBase + (i * p.H + j) * p.W;
                                    for (int v = 0; v < p.Wo; v++)
                                    {
                                        int l = v * p.Sw - p.Pw + e;
                                        seg[v] = (uint)l < (uint)p.W ? x[xRow + l] : 0.0;
                                    }
                                }
                            }
                        }
        return cols;
    }

    /// <summary>dx += col2im(dX_col): the adjoint of <see cref="Conv3dIm2col"/> (same traversal, scatter-add).</summary>
    private static void Conv3dCol2im(Conv3dPlan p, double[] gcols, double[] gx)
    {
        int P = p.OutVolume, np = p.N * P;
        int row = 0;
        for (int c = 0; c < p.Cin; c++)
            for (int a = 0; a < p.Kd; a++)
                for (int b = 0; b < p.Kh; b++)
                    for (int e = 0; e < p.Kw; e++, row++)
                        for (int n = 0; n < p.N; n++)
                        {
                            int src = row * np + n * P;
                            int xBase = (n * p.Cin + c) * p.InVolume;
                            for (int z = 0; z < p.Do; z++)
                            {
                                int i = z * p.Sd - p.Pd + a;
                                if ((uint)i >= (uint)p.D) continue;
                                for (int u = 0; u < p.Ho; u++)
                                {
                                    int j = u * p.Sh - p.Ph + b;
                                    if ((uint)j >= (uint)p.H) continue;
                                    int xRow = xBase + (i * p.H + j) * p.W;
                                    int s = src + (z * p.Ho + u) * p.Wo;
                                    for (int v = 0; v < p.Wo; v++)
                                    {
                                        int l = v * p.Sw - p.Pw + e;
                                        if ((uint)l < (uint)p.W) gx[xRow + l] += gcols[s + v];
                                    }
                                }
                            }
                        }
    }

    private static Tensor<double> Conv3dFastForward(Conv3dPlan p, double[] cols, double[] w, double[]? bias)
    {
        int P = p.OutVolume, np = p.N * P, k = p.Taps;
        var y = Empty(p.YShape);
        // One sample: [Cout, P] is already the output layout, so the GEMM writes y directly.
        var ymat = p.N == 1 ? y.Data : GC.AllocateUninitializedArray<double>(p.Cout * np);
        if (k == 0) Array.Clear(ymat);
        else GemmRaw(false, false, p.Cout, np, k, w, k, cols, np, 0.0, ymat, np);
        for (int n = 0; n < p.N; n++)
            for (int o = 0; o < p.Cout; o++)
            {
                var src = ymat.AsSpan(o * np + n * P, P);
                var dst = y.Data.AsSpan((n * p.Cout + o) * P, P);
                if (bias is not null) TensorPrimitives.Add(src, bias[o], dst);
                else if (p.N != 1) src.CopyTo(dst);
            }
        return y;
    }

    private static (Tensor<double>? Gx, Tensor<double>? Gw, Tensor<double>? Gb) Conv3dFastBackward(Conv3dPlan p, double[] cols, double[] w, double[] g,
        bool needX, bool needW, bool needB)
    {
        int P = p.OutVolume, np = p.N * P, k = p.Taps;
        double[] gmat;
        if (p.N == 1) gmat = g;
        else
        {
            gmat = GC.AllocateUninitializedArray<double>(p.Cout * np);
            for (int n = 0; n < p.N; n++)
                for (int o = 0; o < p.Cout; o++)
                    g.AsSpan((n * p.Cout + o) * P, P).CopyTo(gmat.AsSpan(o * np + n * P, P));
        }
        Tensor<double>? gx = null, gw = null, gb = null;
        if (needW)
        {
            gw = Tensor<double>.Zeros(p.WShape);
            if (k > 0 && np > 0) GemmRaw(false, true, p.Cout, k, np, gmat, np, cols, np, 0.0, gw.Data, k);
        }
        if (needX)
        {
            gx = Tensor<double>.Zeros(p.XShape);
            if (k > 0 && np > 0)
            {
                var gcols = GC.AllocateUninitializedArray<double>(k * np);
                GemmRaw(true, false, k, np, p.Cout, w, k, gmat, np, 0.0, gcols, np);
                Conv3dCol2im(p, gcols, gx.Data);
            }
        }
        if (needB)
        {
            gb = Tensor<double>.Zeros(p.Cout);
            for (int o = 0; o < p.Cout; o++) gb.Data[o] = TensorPrimitives.Sum<double>(gmat.AsSpan(o * np, np));
        }
        return (gx, gw, gb);
    }
}
