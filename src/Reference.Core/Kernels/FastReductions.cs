using System.Numerics;

namespace Reference.Core.Kernels;

/// <summary>
/// Fast tier of <see cref="NaiveReductions"/> (same contract, same empty-input and NaN rules),
/// generic over float and double; the accumulator has the element type T.
/// <para>
/// Accumulation order (this is where Fast and Naive differ): over a whole span, whatever
/// TensorPrimitives does: Sum, SumOfSquares, Dot and Norm keep one partial sum per vector lane
/// (Vector512, Vector256 or Vector128, whichever the JIT enables, with several vectors in flight)
/// and combine the lanes at the end, so the result depends on the instruction set (the ISA-parity
/// test runs check it under AVX2 and SIMD switched off). Max/Min are exact in any order. Along an
/// axis that is not the last one, the reduction is vectorized across the other positions instead:
/// acc[o, :] += x[o, k, :] for k = 0, 1, ..., n-1, so each output element is summed in exactly
/// the naive (sequential) order, only in precision T.
/// </para>
/// Variance is two-pass (mean, then sum of squared deviations), as in the naive tier.
/// </summary>
public static class FastReductions
{
    /// <summary>Block of elements processed through a stack buffer when a reduction needs a temporary.</summary>
    private const int Block = 256;

    public static T Sum<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.Sum(x);

    public static T Mean<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T> =>
        TensorPrimitives.Sum(x) / T.CreateTruncating(x.Length);

    public static T Max<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ReductionChecks.NonEmpty(x.Length, nameof(x), "Max");
        return TensorPrimitives.Max(x);
    }

    public static T Min<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ReductionChecks.NonEmpty(x.Length, nameof(x), "Min");
        return TensorPrimitives.Min(x);
    }

    /// <summary>Two-pass variance: sum_i (x_i - mean)^2 / (n - ddof).</summary>
    public static T Variance<T>(ReadOnlySpan<T> x, int ddof = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ReductionChecks.Ddof(ddof);
        T mean = Mean(x);
        Span<T> deviation = stackalloc T[Block];
        T acc = T.Zero;
        for (int start = 0; start < x.Length; start += Block)
        {
            int len = Math.Min(Block, x.Length - start);
            var d = deviation[..len];
            TensorPrimitives.Subtract(x.Slice(start, len), mean, d);
            acc += TensorPrimitives.SumOfSquares<T>(d);
        }
        return acc / T.CreateTruncating(x.Length - ddof);
    }

    public static T L2Norm<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.Norm(x);

    public static T Dot<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ElementwiseChecks.SameLength(a.Length, b.Length, nameof(b));
        return TensorPrimitives.Dot(a, b);
    }

    public static Tensor<T> Sum<T>(Tensor<T> x, int axis, bool keepDims = false) where T : unmanaged, IFloatingPointIeee754<T> =>
        AlongAxis(x, axis, keepDims, Kind.Sum, 0);

    public static Tensor<T> Mean<T>(Tensor<T> x, int axis, bool keepDims = false) where T : unmanaged, IFloatingPointIeee754<T> =>
        AlongAxis(x, axis, keepDims, Kind.Mean, 0);

    public static Tensor<T> Max<T>(Tensor<T> x, int axis, bool keepDims = false) where T : unmanaged, IFloatingPointIeee754<T> =>
        AlongAxis(x, axis, keepDims, Kind.Max, 0);

    public static Tensor<T> Min<T>(Tensor<T> x, int axis, bool keepDims = false) where T : unmanaged, IFloatingPointIeee754<T> =>
        AlongAxis(x, axis, keepDims, Kind.Min, 0);

    public static Tensor<T> L2Norm<T>(Tensor<T> x, int axis, bool keepDims = false) where T : unmanaged, IFloatingPointIeee754<T> =>
        AlongAxis(x, axis, keepDims, Kind.L2Norm, 0);

    public static Tensor<T> Variance<T>(Tensor<T> x, int axis, bool keepDims = false, int ddof = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ReductionChecks.Ddof(ddof);
        return AlongAxis(x, axis, keepDims, Kind.Variance, ddof);
    }

    private enum Kind { Sum, Mean, Max, Min, L2Norm, Variance }

    private static T Line<T>(Kind kind, ReadOnlySpan<T> line, int ddof) where T : unmanaged, IFloatingPointIeee754<T> => kind switch
    {
        Kind.Sum => Sum(line),
        Kind.Mean => Mean(line),
        Kind.Max => Max(line),
        Kind.Min => Min(line),
        Kind.L2Norm => L2Norm(line),
        _ => Variance(line, ddof),
    };

    private static Tensor<T> AlongAxis<T>(Tensor<T> x, int axis, bool keepDims, Kind kind, int ddof) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        var (outer, n, inner, a) = AxisSplit.Of(x.Shape, axis);
        var result = Tensor<T>.Zeros(AxisSplit.ReducedShape(x.Shape, a, keepDims));
        if (result.Length == 0) return result;
        if (inner == 1)
        {
            for (int o = 0; o < outer; o++) result.Data[o] = Line(kind, x.Data.AsSpan(o * n, n), ddof);
            return result;
        }
        if (n == 0 && kind is Kind.Max or Kind.Min)
            ReductionChecks.NonEmpty(0, nameof(x), kind.ToString());

        T count = T.CreateTruncating(n);
        var mean = kind == Kind.Variance ? new T[inner] : [];
        var deviation = kind == Kind.Variance ? new T[inner] : [];
        for (int o = 0; o < outer; o++)
        {
            var acc = result.Data.AsSpan(o * inner, inner);
            var slabs = x.Data.AsSpan(o * n * inner, n * inner);
            switch (kind)
            {
                case Kind.Sum:
                case Kind.Mean:
                    for (int k = 0; k < n; k++) TensorPrimitives.Add(acc, slabs.Slice(k * inner, inner), acc);
                    if (kind == Kind.Mean) TensorPrimitives.Divide(acc, count, acc);
                    break;
                case Kind.Max:
                    slabs[..inner].CopyTo(acc);
                    for (int k = 1; k < n; k++) TensorPrimitives.Max(acc, slabs.Slice(k * inner, inner), acc);
                    break;
                case Kind.Min:
                    slabs[..inner].CopyTo(acc);
                    for (int k = 1; k < n; k++) TensorPrimitives.Min(acc, slabs.Slice(k * inner, inner), acc);
                    break;
                case Kind.L2Norm:
                    for (int k = 0; k < n; k++)
                    {
                        var slab = slabs.Slice(k * inner, inner);
                        TensorPrimitives.MultiplyAdd(slab, slab, acc, acc);
                    }
                    TensorPrimitives.Sqrt(acc, acc);
                    break;
                default:
                    Array.Clear(mean);
                    for (int k = 0; k < n; k++) TensorPrimitives.Add(mean, slabs.Slice(k * inner, inner), mean);
                    TensorPrimitives.Divide(mean, count, mean);
                    for (int k = 0; k < n; k++)
                    {
                        TensorPrimitives.Subtract(slabs.Slice(k * inner, inner), mean, deviation);
                        TensorPrimitives.MultiplyAdd(deviation, deviation, acc, acc);
                    }
                    TensorPrimitives.Divide(acc, T.CreateTruncating(n - ddof), acc);
                    break;
            }
        }
        return result;
    }
}
