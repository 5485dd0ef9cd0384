using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Scaled dot-product attention with an additive mask (Vaswani et al. 2017, eq. 1; the mask of
/// sec. 3.2.3), composed from the recorded primitives <see cref="MatMul"/>, <see cref="Add"/> and
/// <see cref="Softmax(Variable, int)"/>, so its VJP is theirs and its tier is theirs (NaiveGemm /
/// FastGemm, naive / fast softmax rows):
/// <code>
///   S = q k^T / sqrt(dk) + M      P = softmax_rows(S)      y = P v
/// </code>
/// q [B, h, Lq, dk], k [B, h, Lk, dk], v [B, h, Lk, dv], M a constant broadcastable to [B, h, Lq, Lk]
/// holding 0 (attend) or <see cref="MaskedLogit"/> (blocked): exp(MaskedLogit - max) is exactly 0 in
/// float64, so blocked keys get probability 0 and no gradient, without the NaN that -inf gives on a
/// fully blocked row. The optional dropout (p, rng) drops attention probabilities (inverted
/// scaling) as in GPT-2 and BERT. The operator library's causal/bidirectional flash kernel
/// (Reference.Operators SoftmaxAttention) computes the same map for the masks it supports; this
/// composite adds arbitrary masks (key padding) and lives here because the layer library cannot
/// reference the operator library; the spec tests check the two against each other.
/// </summary>
public static partial class Ops
{
    public const double MaskedLogit = -1e9;

    public static Variable ScaledDotProductAttention(Variable q, Variable k, Variable v, Tensor<double>? mask = null, (double P, SplitMix64 Rng)? dropout = null)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        if (q.Rank < 2 || k.Rank != q.Rank || v.Rank != q.Rank || k.Shape[^1] != q.Shape[^1] || v.Shape[^2] != k.Shape[^2])
            throw new ArgumentException($"q {Shapes.Format(q.Shape)}, k {Shapes.Format(k.Shape)}, v {Shapes.Format(v.Shape)}: expected [..., Lq, dk], [..., Lk, dk], [..., Lk, dv].", nameof(k));
        var scores = MulScalar(MatMul(q, k, transB: true), 1.0 / Math.Sqrt(q.Shape[^1]));
        if (mask is not null) scores = Add(scores, Variable.Constant(mask));
        var probs = Softmax(scores, -1);
        if (dropout is { P: > 0 } d) probs = Dropout(probs, d.P, d.Rng);
        return MatMul(probs, v);
    }

    /// <summary>Causal mask [L, L]: 0 where key j &lt;= query i, <see cref="MaskedLogit"/> above the diagonal.</summary>
    public static Tensor<double> CausalMask(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var m = Tensor<double>.Zeros(length, length);
        for (int i = 0; i < length; i++)
            for (int j = i + 1; j < length; j++) m.Data[i * length + j] = MaskedLogit;
        return m;
    }

    /// <summary>Key padding mask [B, 1, 1, L] from valid[b][t] (true = a real position, false = padding).</summary>
    public static Tensor<double> PaddingMask(bool[][] valid)
    {
        ArgumentNullException.ThrowIfNull(valid);
        int b = valid.Length, len = b == 0 ? 0 : valid[0].Length;
        var m = Tensor<double>.Zeros(b, 1, 1, len);
        for (int i = 0; i < b; i++)
        {
            if (valid[i].Length != len) throw new ArgumentException($"valid[{i}] has {valid[i].Length} entries, expected {len} (all rows equally long).", nameof(valid));
            for (int t = 0; t < len; t++) if (!valid[i][t]) m.Data[i * len + t] = MaskedLogit;
        }
        return m;
    }
}
