// Rotary position embedding (Su et al., RoFormer, arXiv:2104.09864, sec. 3.4.2, eq. 34), in the
// half-split pairing of GPT-NeoX and LLaMA: channel i pairs with channel i + K/2, and position t
// rotates the pair by the angle t theta_i, theta_i = base^(-2i/K), base 10000:
//   y[.., i]       = x[.., i] cos(t theta_i) - x[.., i + K/2] sin(t theta_i)
//   y[.., i + K/2] = x[.., i + K/2] cos(t theta_i) + x[.., i] sin(t theta_i)
// i.e. y = x cos + rotate_half(x) sin with rotate_half(x) = [-x2, x1]. It is composed from tape
// operations (slice, concat, broadcast multiply), so its gradient is theirs. q . k then depends on
// positions only through their difference, which is all the model learns of order besides causality.
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
        var x1 = Ops.Slice(x, 3, 0, half);
        var x2 = Ops.Slice(x, 3, half, half);
        var rotated = Ops.Concat([Ops.Neg(x2), x1], 3);
        return x * cos + rotated * sin;
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
