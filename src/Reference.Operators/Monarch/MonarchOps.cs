// Autodiff adapters of the Monarch multiply and the MonarchLinear layer: one differentiable primitive whose
// VJP is Monarch.Backward (Monarch.cs); nothing here recomputes the math.
//
// MonarchLinear follows fly's MonarchLinear (Dao, Chen et al., arXiv:2204.00595, Sec. 5: Monarch replacing
// the dense layers of a Transformer): with nblocks blocks, in_blk = ceil(in / nblocks), out_blk =
// ceil(out / nblocks), the input is zero-padded to N = nblocks in_blk and the output cut to the first
// out features of M = nblocks out_blk. Factor shapes (this project's w1 (K, Q, P), w2 (L, S, R)):
//   N <= M (widening): w1 (nblocks, in_blk, in_blk),  w2 (nblocks, out_blk, in_blk)
//   N >  M (narrowing): w1 (nblocks, out_blk, in_blk), w2 (nblocks, out_blk, out_blk)
// (the square block sits on the smaller side, as fly does). Initialization: each factor uniform in
// +-1/sqrt(its block's input size), then the bias as nn.Linear's, all from the given SplitMix64 in that order.
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;

namespace Reference.Operators.Monarch;

public static class MonarchOps
{
    /// <summary>
    /// `monarch.multiply`: y [..., M] = M x for x [..., N], w1 [K, Q, P], w2 [L, S, R]
    /// (<see cref="Monarch.Multiply(Tensor{double}, Tensor{double}, Tensor{double})"/>); VJP <see cref="Monarch.Backward"/>.
    /// </summary>
    public static Variable Multiply(Variable w1, Variable w2, Variable x)
    {
        ArgumentNullException.ThrowIfNull(w1);
        ArgumentNullException.ThrowIfNull(w2);
        ArgumentNullException.ThrowIfNull(x);
        var y = Monarch.Multiply(w1.Value, w2.Value, x.Value);
        return Function.Apply("monarch.multiply", [w1, w2, x], y, g =>
        {
            var r = Monarch.Backward(w1.Value, w2.Value, x.Value, g);
            return [r.W1, r.W2, r.Input];
        });
    }

    /// <summary>
    /// `monarch.linear`: y [..., out] = (M pad(x))[..., :out] + bias for x [..., in]: x zero-padded to N, the
    /// product cut to its first <paramref name="outFeatures"/> outputs. VJP: Monarch.Backward with the
    /// cotangent zero-padded to M (the cut outputs carry no gradient) and dx cut back to the first in features.
    /// </summary>
    public static Variable Linear(Variable x, Variable w1, Variable w2, int outFeatures, Variable? bias = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(w1);
        ArgumentNullException.ThrowIfNull(w2);
        var shape = MonarchShape.Of(w1.Value.Shape, w2.Value.Shape);
        int inFeatures = x.Value.Rank < 1 ? 0 : x.Value.Shape[^1];
        if (inFeatures < 1 || inFeatures > shape.Inputs)
            throw new ArgumentException($"x has shape {Shapes.Format(x.Value.Shape)}, expected [..., in] with 1 <= in <= N = {shape.Inputs}.", nameof(x));
        if (outFeatures < 1 || outFeatures > shape.Outputs)
            throw new ArgumentOutOfRangeException(nameof(outFeatures), $"outFeatures must be in [1, M = {shape.Outputs}], got {outFeatures}.");
        if (bias is not null && (bias.Value.Rank != 1 || bias.Value.Length != outFeatures))
            throw new ArgumentException($"bias has shape {Shapes.Format(bias.Value.Shape)}, expected [{outFeatures}].", nameof(bias));
        int rows = x.Value.Length / inFeatures;
        var padded = Resize(x.Value, rows, inFeatures, shape.Inputs);
        var full = Monarch.Multiply(w1.Value, w2.Value, padded);
        var y = Resize(full, rows, shape.Outputs, outFeatures);
        if (bias is not null)
            for (int b = 0; b < rows; b++)
                for (int j = 0; j < outFeatures; j++) y.Data[b * outFeatures + j] += bias.Value.Data[j];
        var outShape = x.Value.ShapeArray;
        outShape[^1] = outFeatures;
        y = y.Reshape(outShape);
        Variable[] inputs = bias is null ? [x, w1, w2] : [x, w1, w2, bias];
        return Function.Apply("monarch.linear", inputs, y, g =>
        {
            var r = Monarch.Backward(w1.Value, w2.Value, padded, Resize(g, rows, outFeatures, shape.Outputs));
            var dx = Resize(r.Input, rows, shape.Inputs, inFeatures).Reshape(x.Value.ShapeArray);
            if (bias is null) return [dx, r.W1, r.W2];
            var db = Tensor<double>.Zeros(outFeatures);
            for (int b = 0; b < rows; b++)
                for (int j = 0; j < outFeatures; j++) db.Data[j] += g.Data[b * outFeatures + j];
            return [dx, r.W1, r.W2, db];
        });
    }

    /// <summary>
    /// `monarch.causal_conv`: y = causal Monarch convolution of u [.., C, L] with k [C, Lk] plus d u
    /// (<see cref="CausalMonarch.Forward"/>); VJP <see cref="CausalMonarch.Backward"/>.
    /// </summary>
    public static Variable CausalConvolution(CausalMonarchPlan plan, Variable u, Variable k, Variable? d = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(k);
        var y = CausalMonarch.Forward(plan, u.Value, k.Value, d?.Value);
        Variable[] inputs = d is null ? [u, k] : [u, k, d];
        return Function.Apply("monarch.causal_conv", inputs, y, g =>
        {
            var r = CausalMonarch.Backward(plan, u.Value, k.Value, d?.Value, g);
            return d is null ? [r.Input, r.Kernel] : [r.Input, r.Kernel, r.Skip!];
        });
    }

    /// <summary>[rows, from] -> [rows, to]: the first min(from, to) columns copied, the rest zero.</summary>
    private static Tensor<double> Resize(Tensor<double> a, int rows, int from, int to)
    {
        var result = Tensor<double>.Zeros(rows, to);
        int keep = Math.Min(from, to);
        for (int b = 0; b < rows; b++) a.Data.AsSpan(b * from, keep).CopyTo(result.Data.AsSpan(b * to, keep));
        return result;
    }
}

/// <summary>
/// A drop-in for <see cref="Autodiff.Nn.Linear"/> with a Monarch weight: y = (M pad(x))[..., :out] + b,
/// x [..., in], y [..., out] (shapes and initialization in the file head of MonarchOps.cs).
/// </summary>
public sealed class MonarchLinear : Layer
{
    public MonarchLinear(int inFeatures, int outFeatures, int nblocks, SplitMix64 rng, bool bias = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inFeatures);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outFeatures);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(nblocks);
        ArgumentNullException.ThrowIfNull(rng);
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        int inBlock = (inFeatures + nblocks - 1) / nblocks, outBlock = (outFeatures + nblocks - 1) / nblocks;
        Shape = inBlock <= outBlock
            ? new MonarchShape(nblocks, inBlock, inBlock, nblocks, outBlock, inBlock)
            : new MonarchShape(nblocks, outBlock, inBlock, nblocks, outBlock, outBlock);
        double bound1 = 1.0 / Math.Sqrt(Shape.P), bound2 = 1.0 / Math.Sqrt(Shape.R);
        W1 = RegisterParameter("w1", Init.Uniform(rng, -bound1, bound1, Shape.K, Shape.Q, Shape.P));
        W2 = RegisterParameter("w2", Init.Uniform(rng, -bound2, bound2, Shape.L, Shape.S, Shape.R));
        double bound = 1.0 / Math.Sqrt(inFeatures);
        Bias = bias ? RegisterParameter("bias", Init.Uniform(rng, -bound, bound, outFeatures)) : null;
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }

    /// <summary>The factor shapes (N = K P >= in, M = L S >= out).</summary>
    public MonarchShape Shape { get; }

    public Variable W1 { get; }
    public Variable W2 { get; }
    public Variable? Bias { get; }

    public override Variable Forward(Variable x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank < 1 || x.Shape[^1] != InFeatures)
            throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [..., {InFeatures}].", nameof(x));
        return MonarchOps.Linear(x, W1, W2, OutFeatures, Bias);
    }
}
