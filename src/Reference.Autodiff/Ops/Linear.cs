using System.Diagnostics;
using Reference.Core;
using Reference.Core.Linear;

namespace Reference.Autodiff;

/// <summary>
/// The affine map of a linear layer as one fused primitive (torch.nn.functional.linear):
/// y = x W^T + b, x [..., in] (rows R = product of the leading axes), W [out, in], b [out] or null,
/// y [..., out]. The product is added onto the bias (acc + b rounded once, as a separate add would): the fast tier's
/// GEMM takes b as a column bias in its store (no pass over y), the naive tier writes b into y first and accumulates
/// onto it (GEMM with beta = 1); the same bits either way.
/// VJP (G = dy as [R, out]): dx = G W, dW = G^T x, db = column sums of G (rows in order).
/// Tier: NaiveGemm, or FastGemm inside <see cref="Tape.UseFastKernels"/>.
/// </summary>
public static partial class Ops
{
    public static Variable Linear(Variable x, Variable weight, Variable? bias = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Rank != 2) throw new ArgumentException($"weight has shape {Shapes.Format(weight.Shape)}, expected [out, in].", nameof(weight));
        int outF = weight.Shape[0], inF = weight.Shape[1];
        if (x.Rank < 1 || x.Shape[^1] != inF)
            throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [..., {inF}].", nameof(x));
        CheckVector(bias, outF, nameof(bias));
        int rows = inF == 0 ? 0 : x.Length / inF;
        int[] outShape = [.. x.Shape[..^1], outF];
        var y = Empty(outShape);
        GemmRaw(false, true, rows, outF, inF, x.Value.Data, inF, weight.Value.Data, inF, bias is null ? 0.0 : 1.0, y.Data, outF, bias?.Value.Data);
        Variable[] inputs = bias is null ? [x, weight] : [x, weight, bias];
        return Function.Apply("linear", inputs, y, g =>
        {
            Tensor<double>? gx = null, gw = null, gb = null;
            if (x.RequiresGrad)
            {
                gx = Empty(x.Value);
                GemmRaw(false, false, rows, inF, outF, g.Data, outF, weight.Value.Data, inF, 0.0, gx.Data, inF);
            }
            if (weight.RequiresGrad)
            {
                gw = Empty(weight.Value);
                GemmRaw(true, false, outF, inF, rows, g.Data, outF, x.Value.Data, inF, 0.0, gw.Data, inF);
            }
            if (bias is not null && bias.RequiresGrad)
            {
                gb = Like(bias.Value);
                // The rows in order, the column sums held in registers (the bits of one Add per row).
                Reference.Core.Kernels.FastElementwise.AddColumnSums(g.Data.AsSpan(0, rows * outF), gb.Data);
            }
            return bias is null ? [gx, gw] : [gx, gw, gb];
        }, replay: v => Linear(v[0], v[1], v.Length > 2 ? v[2] : null));
    }

    /// <summary>
    /// C = op(A) op(B) + beta C on raw row-major buffers, in the current tier (timed into <see cref="GemmTicks"/>); with a
    /// column bias (n values), beta bias[j] in place of beta C[i, j] (C not read).
    /// </summary>
    private static void GemmRaw(bool transA, bool transB, int m, int n, int k, double[] a, int lda, double[] b, int ldb, double beta, double[] c, int ldc,
        double[]? columnBias = null)
    {
        long start = Stopwatch.GetTimestamp();
        if (Tape.FastKernels) FastGemm.Multiply(transA, transB, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc, columnBias: columnBias is null ? default : columnBias.AsSpan(0, n));
        else
        {
            if (columnBias is not null)
                for (int i = 0; i < m; i++) columnBias.AsSpan(0, n).CopyTo(c.AsSpan(i * ldc, n));
            NaiveGemm.Multiply(transA, transB, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
        }
        GemmTicks += Stopwatch.GetTimestamp() - start;
        GemmFlops += 2.0 * m * n * k;
    }
}
