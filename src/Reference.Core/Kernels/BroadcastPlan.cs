namespace Reference.Core.Kernels;

/// <summary>
/// Iteration plan for a broadcast binary operation (NumPy rules, see <see cref="Shapes.Broadcast"/>).
/// The result index space is simplified before the loop: size-1 axes are dropped and adjacent axes
/// i, i+1 are merged when both operands step through them contiguously
/// (stride[i] = stride[i+1] * size[i+1], which also holds for two broadcast strides of 0).
/// What remains is an outer odometer and one innermost run per step.
/// </summary>
internal sealed class BroadcastPlan
{
    private readonly int[] outerShape;
    private readonly int[] outerStrideA;
    private readonly int[] outerStrideB;

    private BroadcastPlan(int[] resultShape, int[] shape, int[] strideA, int[] strideB)
    {
        ResultShape = resultShape;
        int rank = shape.Length;
        InnerLength = rank == 0 ? 1 : shape[rank - 1];
        InnerStrideA = rank == 0 ? 0 : strideA[rank - 1];
        InnerStrideB = rank == 0 ? 0 : strideB[rank - 1];
        outerShape = rank == 0 ? [] : shape[..^1];
        outerStrideA = rank == 0 ? [] : strideA[..^1];
        outerStrideB = rank == 0 ? [] : strideB[..^1];
    }

    /// <summary>The broadcast shape (what the result tensor gets).</summary>
    public int[] ResultShape { get; }

    /// <summary>Length of the innermost run after merging axes.</summary>
    public int InnerLength { get; }

    /// <summary>Step of operand a along the innermost run: 1 (contiguous) or 0 (repeated).</summary>
    public int InnerStrideA { get; }

    /// <summary>Step of operand b along the innermost run: 1 (contiguous) or 0 (repeated).</summary>
    public int InnerStrideB { get; }

    /// <summary>Plans a op b; throws ArgumentException (ParamName "b") when the shapes do not broadcast.</summary>
    public static BroadcastPlan Create(ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int[] result = Shapes.Broadcast(a, b);
        int[] sa = Shapes.BroadcastStrides(a, result);
        int[] sb = Shapes.BroadcastStrides(b, result);
        var shape = new List<int>();
        var strideA = new List<int>();
        var strideB = new List<int>();
        for (int axis = 0; axis < result.Length; axis++)
        {
            if (result[axis] == 1) continue;
            int last = shape.Count - 1;
            if (last >= 0 && strideA[last] == sa[axis] * result[axis] && strideB[last] == sb[axis] * result[axis])
            {
                shape[last] *= result[axis];
                strideA[last] = sa[axis];
                strideB[last] = sb[axis];
            }
            else
            {
                shape.Add(result[axis]);
                strideA.Add(sa[axis]);
                strideB.Add(sb[axis]);
            }
        }
        return new BroadcastPlan(result, [.. shape], [.. strideA], [.. strideB]);
    }

    /// <summary>A fresh odometer over the outer axes (row-major), starting at offset 0 in both operands.</summary>
    public Walker Outer() => new(this);

    /// <summary>Row-major odometer over the outer axes that tracks each operand's offset.</summary>
    public sealed class Walker
    {
        private readonly BroadcastPlan plan;
        private readonly int[] index;

        internal Walker(BroadcastPlan plan)
        {
            this.plan = plan;
            index = new int[plan.outerShape.Length];
        }

        public int OffsetA { get; private set; }

        public int OffsetB { get; private set; }

        public void Next()
        {
            for (int axis = index.Length - 1; axis >= 0; axis--)
            {
                index[axis]++;
                OffsetA += plan.outerStrideA[axis];
                OffsetB += plan.outerStrideB[axis];
                if (index[axis] < plan.outerShape[axis]) return;
                OffsetA -= plan.outerStrideA[axis] * plan.outerShape[axis];
                OffsetB -= plan.outerStrideB[axis] * plan.outerShape[axis];
                index[axis] = 0;
            }
        }
    }
}
