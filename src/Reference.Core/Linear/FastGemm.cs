using System.Numerics;

namespace Reference.Core.Linear;

/// <summary>
/// Fast tier of <see cref="NaiveGemm"/>: same contract (row-major, both transposes, alpha/beta,
/// beta = 0 does not read C), float32 or float64.
/// </summary>
public static class FastGemm
{
    /// <summary>C = alpha op(A) op(B) + beta C; <paramref name="maxThreads"/> = 0 uses every core for large products.</summary>
    public static void Multiply<T>(bool transA, bool transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc, int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        GemmArguments.Check(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        // Row-by-row AXPY formulation; the packed micro-kernel replaces this.
        var row = new T[n];
        for (int i = 0; i < m; i++)
        {
            Array.Clear(row);
            for (int p = 0; p < k; p++)
            {
                T aip = transA ? a[p * lda + i] : a[i * lda + p];
                if (transB)
                    for (int j = 0; j < n; j++) row[j] += aip * b[j * ldb + p];
                else
                    TensorPrimitives.MultiplyAdd(b.Slice(p * ldb, n), aip, row, row);
            }
            var ci = c.Slice(i * ldc, n);
            if (beta == T.Zero) TensorPrimitives.Multiply(row, alpha, ci);
            else
            {
                TensorPrimitives.Multiply(ci, beta, ci);
                TensorPrimitives.MultiplyAdd(row, alpha, ci, ci);
            }
        }
    }

    /// <summary>numpy.matmul over the last two axes with broadcast batch axes.</summary>
    public static Tensor<T> MatMul<T>(Tensor<T> a, Tensor<T> b, bool transA = false, bool transB = false, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var plan = MatMulPlan.Create(a.Shape, b.Shape, transA, transB);
        var result = Tensor<T>.Zeros(plan.OutputShape);
        for (int batch = 0; batch < plan.BatchCount; batch++)
        {
            var (offA, offB) = plan.Offsets(batch);
            Multiply(transA, transB, plan.M, plan.N, plan.K, T.One,
                a.Data.AsSpan(offA, plan.SizeA), plan.Lda, b.Data.AsSpan(offB, plan.SizeB), plan.Ldb,
                T.Zero, result.Data.AsSpan(batch * plan.M * plan.N, plan.M * plan.N), plan.N, maxThreads);
        }
        return result;
    }
}
