// Rotary position embedding (Su et al., RoFormer, arXiv:2104.09864, sec. 3.4.2, eq. 34), in the
// half-split pairing of GPT-NeoX and LLaMA: channel i pairs with channel i + K/2, and position t
// rotates the pair by the angle t theta_i, theta_i = base^(-2i/K), base 10000:
//   y[.., i]       = x[.., i] cos(t theta_i) - x[.., i + K/2] sin(t theta_i)
//   y[.., i + K/2] = x[.., i + K/2] cos(t theta_i) + x[.., i] sin(t theta_i)
// i.e. y = x cos + rotate_half(x) sin with rotate_half(x) = [-x2, x1]. q . k then depends on
// positions only through their difference, which is all the model learns of order besides causality.
// One tape primitive ("rotary"): the composition of slices, negation, concatenation, two broadcast
// products and a sum recorded ~11 tensors of x's size per application (forward and backward), a third of a
// width-128 attention block's training memory (bench/NOTES.md, trainmem); the primitive records its output and
// its cotangent only, with the composition's arithmetic element for element (each entry the same products and
// the same one addition, so the same bits: the VJP is dx = g cos + rotate_half^T(g sin),
// rotate_half^T(u) = [u2, -u1]).
using Reference.Autodiff;
using Reference.Core;

namespace Reference.Models;

/// <summary>Rotary embedding of x [B, L, H, K] (K even) along L.</summary>
public sealed class Rotary(double theta = 10000.0)
{
    private readonly Dictionary<(int L, int K), (Variable Cos, Variable Sin)> tables = [];

    /// <summary>x [B, L, H, K] -> rotated [B, L, H, K].</summary>
    public Variable Apply(Variable x) => Apply(x, 0);

    /// <summary>
    /// x [B, L, H, K] holding positions offset .. offset + L - 1 -> rotated (decoding passes the
    /// position of its one token; the angles are the same numbers the whole-sequence table holds).
    /// </summary>
    public Variable Apply(Variable x, int offset)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 4 || x.Shape[3] % 2 != 0)
            throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [B, L, H, K] with K even.", nameof(x));
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        int length = x.Shape[1], k = x.Shape[3], half = k / 2;
        var (cos, sin) = offset == 0 ? Table(length, k) : Angles(offset, length, k);
        return Rotate(x, cos.Value.Data, sin.Value.Data);
    }

    /// <summary>y = x cos + rotate_half(x) sin for x [B, L, H, K] and tables [L, 1, K], one primitive (see the file's comment).</summary>
    private static Variable Rotate(Variable x, double[] cos, double[] sin)
    {
        int batch = x.Shape[0], length = x.Shape[1], heads = x.Shape[2], k = x.Shape[3], half = k / 2;
        var input = x.Value.Data;
        var y = TensorArena.Uninitialized(x.Value.ShapeArray);
        var output = y.Data;
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < length; t++)
                for (int h = 0; h < heads; h++)
                {
                    int row = ((b * length + t) * heads + h) * k, angle = t * k;
                    for (int i = 0; i < half; i++)
                    {
                        output[row + i] = input[row + i] * cos[angle + i] + -input[row + i + half] * sin[angle + i];
                        output[row + i + half] = input[row + i + half] * cos[angle + i + half] + input[row + i] * sin[angle + i + half];
                    }
                }
        return Function.Apply("rotary", [x], y, g =>
        {
            var gx = TensorArena.Uninitialized(g.ShapeArray);
            var cot = g.Data;
            var result = gx.Data;
            for (int b = 0; b < batch; b++)
                for (int t = 0; t < length; t++)
                    for (int h = 0; h < heads; h++)
                    {
                        int row = ((b * length + t) * heads + h) * k, angle = t * k;
                        for (int i = 0; i < half; i++)
                        {
                            result[row + i] = cot[row + i] * cos[angle + i] + cot[row + i + half] * sin[angle + i + half];
                            result[row + i + half] = cot[row + i + half] * cos[angle + i + half] + -(cot[row + i] * sin[angle + i]);
                        }
                    }
            return [gx];
        });
    }

    /// <summary>cos and sin [L, 1, K] of positions 0 .. L - 1 (broadcast over batch and heads), kept per (L, K).</summary>
    private (Variable Cos, Variable Sin) Table(int length, int k)
    {
        // Locked: data-parallel training runs the forward of several micro-batches at once.
        lock (tables)
        {
            if (tables.TryGetValue((length, k), out var t)) return t;
            t = Angles(0, length, k);
            tables[(length, k)] = t;
            return t;
        }
    }

    /// <summary>cos and sin [L, 1, K] of positions offset .. offset + L - 1.</summary>
    private (Variable Cos, Variable Sin) Angles(int offset, int length, int k)
    {
        int half = k / 2;
        var cos = Tensor<double>.Zeros(length, 1, k);
        var sin = Tensor<double>.Zeros(length, 1, k);
        for (int row = 0; row < length; row++)
            for (int i = 0; i < half; i++)
            {
                double angle = (offset + row) * Math.Pow(theta, -2.0 * i / k);
                cos.Data[row * k + i] = cos.Data[row * k + i + half] = Math.Cos(angle);
                sin.Data[row * k + i] = sin.Data[row * k + i + half] = Math.Sin(angle);
            }
        return (Variable.Constant(cos), Variable.Constant(sin));
    }
}
