// Fast tier of the covariance: the O(V^2 T) product runs through the project's GEMM (FastGemm,
// float32 or float64); centering and weighting are O(V T) TensorPrimitives passes. For 400 regions x
// 1,200 time points the GEMM is ~99.9 % of the flops (2 V^2 T against ~3 V T), so the tier runs at
// the GEMM's rate (bench/Reference.Bench/ConnectomicsBench.cs; figures in bench/NOTES.md).
// The weight terms (a = M 1 / W, c = M^T 1, W, f) are computed in float64 from the weight; matrix
// weights cost one more GEMM, Z = X0 M.
using System.Numerics;
using Reference.Core;
using Reference.Core.Linear;

namespace Reference.Operators.Connectomics;

public static partial class Covariance
{
    /// <summary>The fast tier of <see cref="Forward"/>: x [..., V, T] in float32 or float64, S [..., V, V] = X0 M X0^T / f + l2 I by FastGemm.</summary>
    public static Tensor<T> ForwardFast<T>(Tensor<T> x, Tensor<T>? weight = null, int ddof = 1, double l2 = 0, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (batch, v, t) = DenseMatrix.Matrices(x, nameof(x));
        if (t < 1) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}; expected T >= 1 observations.", nameof(x));
        if (!(l2 >= 0) || !double.IsFinite(l2)) throw new ArgumentOutOfRangeException(nameof(l2), $"l2 = {l2}; expected a finite value >= 0.");
        Tensor<double>? weight64 = weight is null ? null : new Tensor<double>(weight.Data.Select(double.CreateChecked).ToArray(), weight.ShapeArray);
        var terms = WeightTerms.Of(weight64, t, ddof);
        var a = terms.A.Select(T.CreateChecked).ToArray();
        var result = Tensor<T>.Zeros(DenseMatrix.WithMatrixShape(x, v, v));
        // Scratch from the shared pool: a fresh 4 MB buffer per call (400 x 1,200 doubles) would be a
        // large-object allocation, whose zeroing and collection show next to a 30 ms GEMM.
        var x0 = System.Buffers.ArrayPool<T>.Shared.Rent(v * t);
        var z = weight is null ? x0 : System.Buffers.ArrayPool<T>.Shared.Rent(v * t);
        T alpha = T.CreateChecked(1 / terms.Factor), ridge = T.CreateChecked(l2);
        try
        {
            for (int b = 0; b < batch; b++)
            {
                var xb = x.Data.AsSpan(b * v * t, v * t);
                for (int i = 0; i < v; i++)
                {
                    var row = xb.Slice(i * t, t);
                    T mu = TensorPrimitives.Dot<T>(row, a);
                    TensorPrimitives.Subtract(row, mu, x0.AsSpan(i * t, t));
                    if (weight is { Rank: 1 }) TensorPrimitives.Multiply<T>(x0.AsSpan(i * t, t), weight.Data, z.AsSpan(i * t, t));
                }
                if (weight is { Rank: 2 })
                    FastGemm.Multiply(false, false, v, t, t, T.One, x0, t, weight.Data, t, T.Zero, z, t, maxThreads);
                var s = result.Data.AsSpan(b * v * v, v * v);
                FastGemm.Multiply(false, true, v, v, t, alpha, z, t, x0, t, T.Zero, s, v, maxThreads);
                for (int i = 0; i < v; i++) s[i * v + i] += ridge;
            }
        }
        finally
        {
            System.Buffers.ArrayPool<T>.Shared.Return(x0);
            if (!ReferenceEquals(z, x0)) System.Buffers.ArrayPool<T>.Shared.Return(z);
        }
        return result;
    }
}
