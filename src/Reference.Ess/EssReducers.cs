// Reducers over the raw ESS tensor and the capacity it is compared to (total state size, TSS).
//
// ESS paper (arXiv:2504.19561), Section 3.2 (aggregation over positions, channels and layers) and
// Section 4 (utilization ESS / TSS: "state saturation" when ESS approaches TSS, "state collapse"
// when it stays far below). Conventions in docs/ess.md.
//
// Glossary:  ess [..., S]              raw ESS (e.g. [B, layers, C, S] or [C, S]), S splits last
//            TSS                       total state size of a model (or one layer)
//            utilization               ESS / TSS
// Deliberate choice: reducers are plain axis reductions (mean, max, sum) so every aggregate of the
// paper is a composition; PerLayer and Total fix the order for the [B, layers, C, S] layout.

using Reference.Core;

namespace Reference.Ess;

/// <summary>How an axis of the ESS tensor is reduced.</summary>
public enum EssReduction
{
    Mean,
    Max,
    Sum,
}

/// <summary>Axis reductions of an ESS tensor and the usual aggregates.</summary>
public static class EssReducers
{
    /// <summary>Reduces <paramref name="axis"/> (negative counts from the end) of <paramref name="ess"/>; the axis is removed.</summary>
    public static Tensor<double> Reduce(Tensor<double> ess, int axis, EssReduction reduction)
    {
        ArgumentNullException.ThrowIfNull(ess);
        if (!Enum.IsDefined(reduction))
            throw new ArgumentOutOfRangeException(nameof(reduction), $"reduction = {(int)reduction} must be Mean, Max or Sum.");
        axis = Shapes.NormalizeAxis(axis, ess.Rank, nameof(axis));
        int outer = 1, inner = 1, size = ess.Dim(axis);
        for (int a = 0; a < axis; a++) outer *= ess.Dim(a);
        for (int a = axis + 1; a < ess.Rank; a++) inner *= ess.Dim(a);
        if (size == 0 && reduction != EssReduction.Sum)
            throw new ArgumentException($"axis {axis} of {ess} is empty; its {reduction} is undefined.", nameof(ess));
        var shape = ess.ShapeArray.Where((_, a) => a != axis).ToArray();
        var result = Tensor<double>.Zeros(shape);
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                double acc = reduction == EssReduction.Max ? double.NegativeInfinity : 0;
                for (int k = 0; k < size; k++)
                {
                    double value = ess.Data[(o * size + k) * inner + i];
                    acc = reduction == EssReduction.Max ? Math.Max(acc, value) : acc + value;
                }
                result.Data[o * inner + i] = reduction == EssReduction.Mean ? acc / size : acc;
            }
        return result;
    }

    /// <summary>Mean over the splits (last axis).</summary>
    public static Tensor<double> MeanOverSplits(Tensor<double> ess) => Reduce(ess, -1, EssReduction.Mean);

    /// <summary>Max over the splits (last axis).</summary>
    public static Tensor<double> MaxOverSplits(Tensor<double> ess) => Reduce(ess, -1, EssReduction.Max);

    /// <summary>Mean over the batch (first axis).</summary>
    public static Tensor<double> MeanOverBatch(Tensor<double> ess) => Reduce(ess, 0, EssReduction.Mean);

    /// <summary>Sum over the channels or heads (axis -2 of [..., C, S]).</summary>
    public static Tensor<double> SumOverChannels(Tensor<double> ess) => Reduce(ess, -2, EssReduction.Sum);

    /// <summary>Mean over the channels or heads (axis -2 of [..., C, S]).</summary>
    public static Tensor<double> MeanOverChannels(Tensor<double> ess) => Reduce(ess, -2, EssReduction.Mean);

    /// <summary>
    /// Per-layer ESS of a [B, layers, C, S] tensor: mean over batch, sum over channels, mean over
    /// splits, giving [layers] (the layer's state in use, averaged over positions and inputs).
    /// </summary>
    public static Tensor<double> PerLayer(Tensor<double> ess)
    {
        ArgumentNullException.ThrowIfNull(ess);
        if (ess.Rank != 4)
            throw new ArgumentException($"ess must have shape [B, layers, C, S]; got {ess}.", nameof(ess));
        return MeanOverSplits(SumOverChannels(MeanOverBatch(ess)));
    }

    /// <summary>Whole-model ESS of a [B, layers, C, S] tensor: the sum of <see cref="PerLayer"/>.</summary>
    public static double Total(Tensor<double> ess) => Reduce(PerLayer(ess), 0, EssReduction.Sum).Data[0];

    /// <summary>Utilization ESS / TSS elementwise (TSS > 0).</summary>
    public static Tensor<double> Utilization(Tensor<double> ess, double totalStateSize)
    {
        ArgumentNullException.ThrowIfNull(ess);
        if (!(totalStateSize > 0) || !double.IsFinite(totalStateSize))
            throw new ArgumentOutOfRangeException(nameof(totalStateSize), $"totalStateSize = {totalStateSize} must be finite and > 0.");
        var result = ess.Clone();
        TensorPrimitives.Divide(result.Data, totalStateSize, result.Data);
        return result;
    }
}

/// <summary>
/// Total state size (TSS) per family (docs/ess.md, "Total state size"): the memory a recurrence of the operator carries,
/// the capacity ESS is compared to.
/// </summary>
public static class TotalStateSize
{
    /// <summary>SSM (S4D, Mamba): d_inner * N (N real state per channel).</summary>
    public static long Ssm(int innerWidth, int state) => Product(innerWidth, nameof(innerWidth), state, nameof(state));

    /// <summary>Linear attention / GLA: H * d_k * d_v.</summary>
    public static long LinearAttention(int heads, int keyDim, int valueDim) =>
        Product(heads, nameof(heads), keyDim, nameof(keyDim)) * Positive(valueDim, nameof(valueDim));

    /// <summary>Softmax attention at step s: the KV cache 2 * s * n_kv * d_head.</summary>
    public static long SoftmaxAttention(int split, int kvHeads, int headDim) =>
        2L * Positive(split, nameof(split)) * Product(kvHeads, nameof(kvHeads), headDim, nameof(headDim));

    /// <summary>Short convolution with k taps over d channels: (k - 1) * d.</summary>
    public static long ShortConvolution(int taps, int width) => Product(Positive(taps, nameof(taps)) - 1, nameof(taps), width, nameof(width));

    /// <summary>The structural per-channel bound any operator obeys at split s: min(s, L - s).</summary>
    public static int SplitBound(int split, int length)
    {
        if (split < 0 || split > length)
            throw new ArgumentOutOfRangeException(nameof(split), $"split = {split} must be in [0, L = {length}].");
        return Math.Min(split, length - split);
    }

    private static long Product(int x, string xName, int y, string yName) => (long)NonNegative(x, xName) * Positive(y, yName);

    private static int Positive(int value, string name) =>
        value > 0 ? value : throw new ArgumentOutOfRangeException(name, $"{name} = {value} must be > 0.");

    private static int NonNegative(int value, string name) =>
        value >= 0 ? value : throw new ArgumentOutOfRangeException(name, $"{name} = {value} must be >= 0.");
}
