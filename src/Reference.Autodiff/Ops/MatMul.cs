using System.Diagnostics;
using Reference.Core;
using Reference.Core.Linear;

namespace Reference.Autodiff;

/// <summary>
/// Batched matrix product C = op(A) op(B) with numpy.matmul broadcasting of the batch axes
/// (A [..., m, k] or [..., k, m] when transposed; B [..., k, n] or [..., n, k]).
/// VJP (G = dC): d op(A) = G op(B)^T and d op(B) = op(A)^T G, written so that no operand is ever
/// transposed in memory:
///   dA = G B^T (or G B when transB)          if !transA;   dA = op(B) G^T            if transA
///   dB = A^T G (or A G when transA)          if !transB;   dB = G^T op(A)            if transB
/// then summed over broadcast batch axes. Tier: NaiveGemm (the definition) unless inside
/// <see cref="Tape.UseFastKernels"/> (FastGemm, float64).
/// </summary>
public static partial class Ops
{
    public static Variable MatMul(Variable a, Variable b, bool transA = false, bool transB = false)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var c = Gemm(a.Value, b.Value, transA, transB);
        return Function.Apply("matmul", [a, b], c, g =>
        {
            Tensor<double>? ga = null, gb = null;
            if (a.RequiresGrad)
                ga = transA ? Gemm(b.Value, g, transB, true) : Gemm(g, b.Value, false, !transB);
            if (b.RequiresGrad)
                gb = transB ? Gemm(g, a.Value, true, transA) : Gemm(a.Value, g, !transA, false);
            return [ga is null ? null : Broadcasting.ReduceTo(ga, a.Shape), gb is null ? null : Broadcasting.ReduceTo(gb, b.Shape)];
        });
    }

    internal static Tensor<double> Gemm(Tensor<double> a, Tensor<double> b, bool transA, bool transB)
    {
        long start = Stopwatch.GetTimestamp();
        Tensor<double> c;
        if (Tape.FastKernels && a.Rank >= 2 && b.Rank >= 2)
        {
            // Output [..., m, n] from the current arena (batch axes broadcast as numpy.matmul); MatMulInto checks the shapes.
            int m = transA ? a.Dim(-1) : a.Dim(-2), n = transB ? b.Dim(-2) : b.Dim(-1);
            c = TensorArena.Uninitialized([.. Shapes.Broadcast(a.Shape[..^2], b.Shape[..^2]), m, n]);
            if ((transA ? a.Dim(-2) : a.Dim(-1)) == 0) Array.Clear(c.Data);   // an empty sum: C = 0 (the kernel would scale stale data)
            else FastGemm.MatMulInto(c, a, b, transA, transB);
        }
        else c = Tape.FastKernels ? FastGemm.MatMul(a, b, transA, transB) : NaiveGemm.MatMul(a, b, transA, transB);
        GemmTicks += Stopwatch.GetTimestamp() - start;
        GemmFlops += 2.0 * c.Length * (transA ? a.Dim(-2) : a.Dim(-1));
        return c;
    }

    /// <summary>
    /// Stopwatch ticks this thread spent in matrix products (forward and VJP). Read by the
    /// tape-overhead benchmark to split one forward + backward into GEMM time and everything else
    /// within the same run (robust to machine load); two timestamps per product cost nothing.
    /// </summary>
    [ThreadStatic] internal static long GemmTicks;

    /// <summary>Flops (2 m n k per product) this thread ran in matrix products, forward and VJP; read by the training-throughput benchmark.</summary>
    [ThreadStatic] internal static double GemmFlops;
}
