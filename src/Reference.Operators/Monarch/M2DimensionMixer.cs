// The M2 dimension mixer: a gated linear unit whose two linear maps are block-diagonal (the first factor
// of a Monarch matrix), applied to every token independently.
//
// Paper: Fu, Arora et al., "Monarch Mixer" (arXiv:2310.12109), Sec. 3 (dimension mixing with Monarch
// matrices) and Sec. 4 (M2-BERT: the MLP becomes a GLU with block-diagonal weights, nblocks = 4).
// Conventions of HazyResearch/m2 (BertGatedLinearUnitMLP with BlockdiagLinear, bert/src/mm/blockdiag_linear.py):
//
//   x [B, L, D] per token:  h = BlockDiag(w_in) x            w_in [nb, 2I/nb, D/nb], no bias   -> h [2I]
//                           z = GELU(h[0:I]) * h[I:2I]       (exact GELU; the first half is gated)
//                           y = BlockDiag(w_out) z + b_out   w_out [nb, D/nb, I/nb]          -> y [D]
//   BlockDiag(w) x: block i of the output is w[i] x[i p:(i + 1) p] (Monarch.BlockDiagonal, block-major).
//
// The residual connection and the post-LayerNorm of M2-BERT's MLP belong to the block (M2EncoderBlock).
// Deliberate simplifications: D, 2I and I must be multiples of nb (BlockdiagLinear pads otherwise); no
// dropout. There is no time axis: no materialized sequence operator, no state.
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Kernels;
using Reference.Core.Linear;

namespace Reference.Operators.Monarch;

/// <summary>Parameters of the GLU dimension mixer: w_in [nb, 2I/nb, D/nb], w_out [nb, D/nb, I/nb], b_out [D].</summary>
public sealed record M2DimensionParameters(int ModelWidth, int Hidden, int Blocks, double[] WIn, double[] WOut, double[] BOut)
{
    /// <summary>
    /// Seeded init following m2's BlockdiagLinear: each factor as the block-diagonal part of a dense kaiming_uniform(a = sqrt(5))
    /// init scaled by sqrt(dense / blocks) = sqrt(nb), i.e. U(+-sqrt(nb) / sqrt(in)) with in the dense fan-in; b_out U(+-1/sqrt(I)).
    /// Draw order: w_in, w_out, b_out.
    /// </summary>
    public static M2DimensionParameters Initialize(SplitMix64 rng, int modelWidth, int hidden, int blocks)
    {
        ArgumentNullException.ThrowIfNull(rng);
        Check(modelWidth, hidden, blocks, nameof(blocks));
        double[] U(int count, double bound)
        {
            var a = new double[count];
            rng.FillUniform<double>(a, -bound, bound);
            return a;
        }
        double s = Math.Sqrt(blocks);
        var wIn = U(2 * hidden * modelWidth / blocks, s / Math.Sqrt(modelWidth));
        var wOut = U(modelWidth * hidden / blocks, s / Math.Sqrt(hidden));
        var bOut = U(modelWidth, 1.0 / Math.Sqrt(hidden));
        return new M2DimensionParameters(modelWidth, hidden, blocks, wIn, wOut, bOut);
    }

    internal static void Check(int d, int hidden, int blocks, string argument)
    {
        if (d < 1 || hidden < 1 || blocks < 1 || d % blocks != 0 || hidden % blocks != 0)
            throw new ArgumentException($"need D >= 1, I >= 1, nb >= 1 with nb dividing D and I; got D = {d}, I = {hidden}, nb = {blocks}.", argument);
    }

    internal void Validate(string argument)
    {
        Check(ModelWidth, Hidden, Blocks, argument);
        if (WIn.Length != 2 * Hidden * ModelWidth / Blocks || WOut.Length != ModelWidth * Hidden / Blocks || BOut.Length != ModelWidth)
            throw new ArgumentException($"parameter arrays do not match D = {ModelWidth}, I = {Hidden}, nb = {Blocks} (w_in [{Blocks}, {2 * Hidden / Blocks}, " +
                $"{ModelWidth / Blocks}], w_out [{Blocks}, {ModelWidth / Blocks}, {Hidden / Blocks}], b_out [{ModelWidth}]).", argument);
    }
}

/// <summary>Gradients of <see cref="M2DimensionMixer.Backward"/>.</summary>
public sealed record M2DimensionGradients(Tensor<double> Input, Tensor<double> WIn, Tensor<double> WOut, Tensor<double> BOut);

public static partial class M2DimensionMixer
{
    /// <summary>y [.., D] for x [.., D] (every token independently; file head).</summary>
    public static Tensor<double> Forward(M2DimensionParameters p, Tensor<double> x)
    {
        var (rows, d, i, nb) = Check(p, x);
        var h = new double[rows * 2 * i];
        Monarch.BlockDiagonal<double>(p.WIn, nb, 2 * i / nb, d / nb, x.Data, h, rows);
        var z = new double[rows * i];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < i; j++) z[r * i + j] = NaiveActivations.Gelu(h[r * 2 * i + j]) * h[r * 2 * i + i + j];
        var y = Tensor<double>.Zeros(x.ShapeArray);
        Monarch.BlockDiagonal<double>(p.WOut, nb, d / nb, i / nb, z, y.Data, rows);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < d; c++) y.Data[r * d + c] += p.BOut[c];
        return y;
    }

    /// <summary>
    /// The fast tier in precision T: every block product a strided GEMM of FastGemm over all tokens at once
    /// (block i reads columns i p .. (i + 1) p of x with leading dimension D and writes its columns of h), GELU in float64 per element.
    /// </summary>
    public static Tensor<T> ForwardFast<T>(M2DimensionParameters p, Tensor<T> x) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(x);
        p.Validate(nameof(p));
        int d = p.ModelWidth, i = p.Hidden, nb = p.Blocks;
        if (x.Rank < 1 || x.Shape[^1] != d) throw new ArgumentException($"x must be [..., D = {d}], got {Shapes.Format(x.Shape)}.", nameof(x));
        int rows = x.Length / d, qIn = 2 * i / nb, pIn = d / nb, qOut = d / nb, pOut = i / nb;
        var wIn = p.WIn.Select(T.CreateTruncating).ToArray();
        var wOut = p.WOut.Select(T.CreateTruncating).ToArray();
        var h = new T[rows * 2 * i];
        for (int b = 0; b < nb; b++)
            FastGemm.Multiply(false, true, rows, qIn, pIn, T.One, x.Data.AsSpan(b * pIn), d, wIn.AsSpan(b * qIn * pIn), pIn, T.Zero,
                h.AsSpan(b * qIn), 2 * i, maxThreads: 1);
        var z = new T[rows * i];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < i; j++)
                z[r * i + j] = T.CreateTruncating(NaiveActivations.Gelu(double.CreateTruncating(h[r * 2 * i + j]))) * h[r * 2 * i + i + j];
        var y = Tensor<T>.Zeros(x.ShapeArray);
        for (int b = 0; b < nb; b++)
            FastGemm.Multiply(false, true, rows, qOut, pOut, T.One, z.AsSpan(b * pOut), i, wOut.AsSpan(b * qOut * pOut), pOut, T.Zero,
                y.Data.AsSpan(b * qOut), d, maxThreads: 1);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < d; c++) y.Data[r * d + c] += T.CreateTruncating(p.BOut[c]);
        return y;
    }

    /// <summary>The dense [rows, cols] matrix of a block-diagonal weight w [nb, q, p] (for the independent dense form).</summary>
    public static double[] DenseBlockDiagonal(double[] w, int nb, int q, int p)
    {
        var dense = new double[nb * q * nb * p];
        for (int b = 0; b < nb; b++)
            for (int r = 0; r < q; r++)
                for (int c = 0; c < p; c++) dense[(b * q + r) * nb * p + b * p + c] = w[(b * q + r) * p + c];
        return dense;
    }

    /// <summary>
    /// VJP for the cotangent dy (x's shape). Derivation: y = B_out z + b with z = GELU(g) * n, (g, n) = B_in x. Then
    /// db = sum_rows dy; dz = B_out^T dy and dw_out[i] = sum_rows dy_i z_i^T (block products are bilinear, Monarch.Backward);
    /// dn = dz GELU(g), dg = dz n GELU'(g); dx = B_in^T [dg, dn] and dw_in[i] = sum_rows [dg, dn]_i x_i^T.
    /// </summary>
    public static M2DimensionGradients Backward(M2DimensionParameters p, Tensor<double> x, Tensor<double> dy)
    {
        var (rows, d, i, nb) = Check(p, x);
        ArgumentNullException.ThrowIfNull(dy);
        Shapes.Same(dy, x.Shape, nameof(dy));
        int qIn = 2 * i / nb, pIn = d / nb, qOut = d / nb, pOut = i / nb;
        var h = new double[rows * 2 * i];
        Monarch.BlockDiagonal<double>(p.WIn, nb, qIn, pIn, x.Data, h, rows);
        var z = new double[rows * i];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < i; j++) z[r * i + j] = NaiveActivations.Gelu(h[r * 2 * i + j]) * h[r * 2 * i + i + j];
        var dbOut = Tensor<double>.Zeros(d);
        var dwOut = Tensor<double>.Zeros(nb, qOut, pOut);
        var dwIn = Tensor<double>.Zeros(nb, qIn, pIn);
        var dx = Tensor<double>.Zeros(x.ShapeArray);
        var dz = new double[i];
        var dh = new double[2 * i];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < d; c++) dbOut.Data[c] += dy.Data[r * d + c];
            Array.Clear(dz);
            for (int b = 0; b < nb; b++)
                for (int o = 0; o < qOut; o++)
                {
                    double g = dy.Data[r * d + b * qOut + o];
                    for (int a = 0; a < pOut; a++)
                    {
                        dz[b * pOut + a] += p.WOut[(b * qOut + o) * pOut + a] * g;
                        dwOut.Data[(b * qOut + o) * pOut + a] += g * z[r * i + b * pOut + a];
                    }
                }
            for (int j = 0; j < i; j++)
            {
                double gate = h[r * 2 * i + j], lin = h[r * 2 * i + i + j];
                dh[i + j] = dz[j] * NaiveActivations.Gelu(gate);
                dh[j] = dz[j] * lin * NaiveActivations.GeluDerivative(gate);
            }
            for (int b = 0; b < nb; b++)
                for (int o = 0; o < qIn; o++)
                {
                    double g = dh[b * qIn + o];
                    for (int a = 0; a < pIn; a++)
                    {
                        dx.Data[r * d + b * pIn + a] += p.WIn[(b * qIn + o) * pIn + a] * g;
                        dwIn.Data[(b * qIn + o) * pIn + a] += g * x.Data[r * d + b * pIn + a];
                    }
                }
        }
        return new M2DimensionGradients(dx, dwIn, dwOut, dbOut);
    }

    /// <summary>
    /// `monarch.glu_mlp` on the tape: one node, VJP <see cref="Backward"/>. x [.., D], w_in [nb, 2I/nb, D/nb], w_out [nb, D/nb, I/nb], b_out [D].
    /// </summary>
    public static Variable Operator(Variable x, Variable wIn, Variable wOut, Variable bOut)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(wIn);
        ArgumentNullException.ThrowIfNull(wOut);
        ArgumentNullException.ThrowIfNull(bOut);
        if (wIn.Value.Rank != 3 || wOut.Value.Rank != 3)
            throw new ArgumentException($"w_in and w_out must be [nb, q, p], got {Shapes.Format(wIn.Value.Shape)} and {Shapes.Format(wOut.Value.Shape)}.", nameof(wIn));
        int nb = wIn.Value.Dim(0), d = nb * wIn.Value.Dim(2), hidden = nb * wIn.Value.Dim(1) / 2;
        var p = new M2DimensionParameters(d, hidden, nb, wIn.Value.Data, wOut.Value.Data, bOut.Value.Data);
        var y = Forward(p, x.Value);
        return Function.Apply("monarch.glu_mlp", [x, wIn, wOut, bOut], y, g =>
        {
            var r = Backward(p, x.Value, g);
            return [r.Input, r.WIn, r.WOut, r.BOut];
        });
    }

    private static (int Rows, int D, int I, int Nb) Check(M2DimensionParameters p, Tensor<double> x)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(x);
        p.Validate(nameof(p));
        if (x.Rank < 1 || x.Shape[^1] != p.ModelWidth)
            throw new ArgumentException($"x must be [..., D = {p.ModelWidth}], got {Shapes.Format(x.Shape)}.", nameof(x));
        return (x.Length / p.ModelWidth, p.ModelWidth, p.Hidden, p.Blocks);
    }
}
