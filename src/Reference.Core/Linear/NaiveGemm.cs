namespace Reference.Core.Linear;

/// <summary>
/// The definition of general matrix multiplication (BLAS xGEMM, row-major):
/// C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C, op(X) = X or X^T.
/// Leading dimensions are row strides of the stored matrices: A is stored m x k (lda >= k) or, when
/// transposed, k x m (lda >= m); likewise B. float64, scalar loops, no threads.
/// Accumulation order: for each (i, j) the products are summed for p = 0, 1, ..., k-1 into a
/// float64 accumulator starting at 0, then C = alpha * acc + beta * C. As in BLAS, beta = 0 means C
/// is not read (NaN in C does not propagate).
/// </summary>
public static class NaiveGemm
{
    public static void Multiply(bool transA, bool transB, int m, int n, int k,
        double alpha, ReadOnlySpan<double> a, int lda, ReadOnlySpan<double> b, int ldb,
        double beta, Span<double> c, int ldc)
    {
        GemmArguments.Check(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double acc = 0.0;
                for (int p = 0; p < k; p++)
                {
                    double aip = transA ? a[p * lda + i] : a[i * lda + p];
                    double bpj = transB ? b[j * ldb + p] : b[p * ldb + j];
                    acc += aip * bpj;
                }
                ref double cij = ref c[i * ldc + j];
                cij = beta == 0.0 ? alpha * acc : alpha * acc + beta * cij;
            }
        }
    }

    /// <summary>
    /// Batched matrix product over the last two axes with NumPy broadcasting of the leading
    /// (batch) axes, as numpy.matmul: [..., m, k] x [..., k, n] -> [..., m, n].
    /// </summary>
    public static Tensor<double> MatMul(Tensor<double> a, Tensor<double> b, bool transA = false, bool transB = false)
    {
        var plan = MatMulPlan.Create(a.Shape, b.Shape, transA, transB);
        var result = Tensor<double>.Zeros(plan.OutputShape);
        for (int batch = 0; batch < plan.BatchCount; batch++)
        {
            var (offA, offB) = plan.Offsets(batch);
            Multiply(transA, transB, plan.M, plan.N, plan.K, 1.0,
                a.Data.AsSpan(offA, plan.SizeA), plan.Lda, b.Data.AsSpan(offB, plan.SizeB), plan.Ldb,
                0.0, result.Data.AsSpan(batch * plan.M * plan.N, plan.M * plan.N), plan.N);
        }
        return result;
    }
}

/// <summary>Argument validation shared by every GEMM tier (names the argument and the expected size).</summary>
internal static class GemmArguments
{
    public static void Check(bool transA, bool transB, int m, int n, int k,
        int lengthA, int lda, int lengthB, int ldb, int lengthC, int ldc)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), $"m = {m} must be >= 0.");
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), $"n = {n} must be >= 0.");
        if (k < 0) throw new ArgumentOutOfRangeException(nameof(k), $"k = {k} must be >= 0.");
        int rowsA = transA ? k : m, colsA = transA ? m : k;
        int rowsB = transB ? n : k, colsB = transB ? k : n;
        CheckMatrix("a", "lda", rowsA, colsA, lengthA, lda);
        CheckMatrix("b", "ldb", rowsB, colsB, lengthB, ldb);
        CheckMatrix("c", "ldc", m, n, lengthC, ldc);
    }

    private static void CheckMatrix(string name, string ldName, int rows, int cols, int length, int ld)
    {
        if (ld < Math.Max(1, cols))
            throw new ArgumentOutOfRangeException(ldName, $"{ldName} = {ld} must be >= max(1, {cols}).");
        long needed = rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (length < needed)
            throw new ArgumentException($"{name} has {length} elements, a {rows} x {cols} matrix with {ldName} = {ld} needs {needed}.", name);
    }
}

/// <summary>Shape plan of a broadcast batched matmul (numpy.matmul semantics on rank >= 2 operands).</summary>
internal sealed class MatMulPlan
{
    public int M, N, K, Lda, Ldb, SizeA, SizeB, BatchCount;
    public int[] OutputShape = [];
    private int[] batchShape = [], stridesA = [], stridesB = [];

    public static MatMulPlan Create(ReadOnlySpan<int> shapeA, ReadOnlySpan<int> shapeB, bool transA, bool transB)
    {
        if (shapeA.Length < 2) throw new ArgumentException($"a has shape {Shapes.Format(shapeA)}, expected rank >= 2.", "a");
        if (shapeB.Length < 2) throw new ArgumentException($"b has shape {Shapes.Format(shapeB)}, expected rank >= 2.", "b");
        int ra = shapeA[^2], ca = shapeA[^1], rb = shapeB[^2], cb = shapeB[^1];
        var plan = new MatMulPlan
        {
            M = transA ? ca : ra, K = transA ? ra : ca, N = transB ? rb : cb,
            Lda = ca, Ldb = cb, SizeA = ra * ca, SizeB = rb * cb,
        };
        int kb = transB ? cb : rb;
        if (kb != plan.K)
            throw new ArgumentException($"inner dimensions differ: a {Shapes.Format(shapeA)} gives k = {plan.K}, b {Shapes.Format(shapeB)} gives k = {kb}.", "b");
        var batchA = shapeA[..^2];
        var batchB = shapeB[..^2];
        plan.batchShape = Shapes.Broadcast(batchA, batchB);
        plan.stridesA = Shapes.BroadcastStrides(batchA, plan.batchShape);
        plan.stridesB = Shapes.BroadcastStrides(batchB, plan.batchShape);
        for (int i = 0; i < plan.stridesA.Length; i++) { plan.stridesA[i] *= plan.SizeA; plan.stridesB[i] *= plan.SizeB; }
        plan.BatchCount = 1;
        foreach (int d in plan.batchShape) plan.BatchCount *= d;
        plan.OutputShape = [.. plan.batchShape, plan.M, plan.N];
        return plan;
    }

    /// <summary>Element offsets of batch <paramref name="batch"/>'s A and B matrices.</summary>
    public (int A, int B) Offsets(int batch)
    {
        int offA = 0, offB = 0;
        for (int axis = batchShape.Length - 1; axis >= 0; axis--)
        {
            int i = batch % batchShape[axis];
            batch /= batchShape[axis];
            offA += i * stridesA[axis];
            offB += i * stridesB[axis];
        }
        return (offA, offB);
    }
}
