// Fast tier of the Monarch multiply (Monarch.cs): float32 or float64, real or split-complex, batched,
// every block product a GEMM of the project's FastGemm, threads over the batch.
//
// Layout. The batch is cut into panels of up to PanelRows rows x [nb, N] (row-major, as given). The
// middle vector and the output are kept feature-major inside a panel (row f holds feature f of every
// row of the panel; leading dimension ld), where both permutations become strides of plain GEMMs:
//   stage 1, block i:      H[i Q + c, :] = w1[i] [Q x P] . X[:, i P .. i P + P]^T
//     (the panel's rows read as the transposed operand: FastGemm packs op(B) = B^T from the row-major x,
//     so the input is never transposed explicitly);
//   stage 2, block lambda: the rows of H that P1 sends to block lambda are rho L + lambda, rho < R, a
//     constant stride L: Z_lambda = H[lambda + L * (0..R-1), :] is the GEMM operand at offset lambda ld with
//     leading dimension L ld; the outputs g[lambda S + sigma] land, after P2, on rows sigma L + lambda of
//     Y^T: the same offset and stride. So Y^T[lambda + L * (0..S-1), :] = w2[lambda] [S x R] . Z_lambda;
// and Y^T [M, nb] is transposed back to y [nb, M] in 16 x 16 tiles. No permutation is materialized.
// The strides L ld are multiples of large powers of two for square sizes, which alias in the L1 cache
// (4K aliasing: rows 4096 bytes apart share a set); ld = PanelRows + 1 spreads consecutive rows of a
// strided operand over the sets. FastGemm packs each operand panel once per product.
//
// Complex: split storage (re, im) and four real products per block, re = Wr Xr - Wi Xi, im = Wr Xi + Wi Xr
// (FastGemm with alpha = -1 and beta = 1 for the accumulating ones).
//
// Threads: the panels are independent; up to maxThreads workers take whole panels (each with its own
// scratch), and every GEMM runs single-threaded inside its panel. The accumulation order of every output
// therefore does not depend on the thread count (FastGemm's own order inside each block product: KC-blocked
// FMA sums; see FastGemm.cs), so 1 and 2 threads agree bit for bit.
using System.Numerics;
using Reference.Core;
using Reference.Core.Linear;

namespace Reference.Operators.Monarch;

public static partial class Monarch
{
    /// <summary>Rows of the batch multiplied together in one panel (the GEMMs' n dimension).</summary>
    public const int PanelRows = 64;

    /// <summary>y [..., M] = M x for x [..., N] in precision T (fast tier; see the file head).</summary>
    public static Tensor<T> MultiplyFast<T>(Tensor<T> w1, Tensor<T> w2, Tensor<T> x, int maxThreads = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (shape, batch) = CheckTensors(w1, w2, x);
        var outShape = x.ShapeArray;
        outShape[^1] = shape.Outputs;
        var y = Tensor<T>.Zeros(outShape);
        MultiplyFast<T>(shape, w1.Data, w2.Data, x.Data, y.Data, batch, maxThreads);
        return y;
    }

    /// <summary>
    /// y = M x for every row, x [batch, N], y [batch, M], w1 [K, Q, P], w2 [L, S, R], real, in precision T.
    /// <paramref name="maxThreads"/>: 1 = the calling thread only, 0 = every core.
    /// </summary>
    public static void MultiplyFast<T>(MonarchShape shape, ReadOnlySpan<T> w1, ReadOnlySpan<T> w2, ReadOnlySpan<T> x, Span<T> y,
        int batch, int maxThreads = 1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(shape, w1.Length, w2.Length, x.Length, y.Length, batch);
        Run(shape, w1, default, w2, default, x, default, y, default, batch, maxThreads, complex: false);
    }

    /// <summary>
    /// The complex product in split storage: every operand as real and imaginary parts of the shapes of
    /// <see cref="MultiplyFast{T}(MonarchShape, ReadOnlySpan{T}, ReadOnlySpan{T}, ReadOnlySpan{T}, Span{T}, int, int)"/>.
    /// </summary>
    public static void MultiplyFastComplex<T>(MonarchShape shape, ReadOnlySpan<T> w1Re, ReadOnlySpan<T> w1Im,
        ReadOnlySpan<T> w2Re, ReadOnlySpan<T> w2Im, ReadOnlySpan<T> xRe, ReadOnlySpan<T> xIm, Span<T> yRe, Span<T> yIm,
        int batch, int maxThreads = 1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(shape, w1Re.Length, w2Re.Length, xRe.Length, yRe.Length, batch);
        Check(shape, w1Im.Length, w2Im.Length, xIm.Length, yIm.Length, batch);
        Run(shape, w1Re, w1Im, w2Re, w2Im, xRe, xIm, yRe, yIm, batch, maxThreads, complex: true);
    }

    private static unsafe void Run<T>(MonarchShape shape, ReadOnlySpan<T> w1r, ReadOnlySpan<T> w1i, ReadOnlySpan<T> w2r, ReadOnlySpan<T> w2i,
        ReadOnlySpan<T> xr, ReadOnlySpan<T> xi, Span<T> yr, Span<T> yi, int batch, int maxThreads, bool complex)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        if (batch == 0) return;
        int panels = (batch + PanelRows - 1) / PanelRows;
        int threads = Math.Min(maxThreads == 0 ? KernelThreads.Default : maxThreads, panels);
        fixed (T* pw1r = w1r) fixed (T* pw1i = w1i) fixed (T* pw2r = w2r) fixed (T* pw2i = w2i)
        fixed (T* pxr = xr) fixed (T* pxi = xi) fixed (T* pyr = yr) fixed (T* pyi = yi)
        {
            var o = new Operands<T>(shape, batch, complex, pw1r, pw1i, pw2r, pw2i, pxr, pxi, pyr, pyi);
            if (threads <= 1)
            {
                var scratch = PanelScratch<T>.ForThisThread(shape, complex);
                for (int panel = 0; panel < panels; panel++) RunPanel(o, panel, scratch);
                return;
            }
            int perThread = (panels + threads - 1) / threads;
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, w =>
            {
                var scratch = PanelScratch<T>.ForThisThread(o.Shape, o.Complex);
                for (int panel = w * perThread; panel < Math.Min(panels, (w + 1) * perThread); panel++) RunPanel(o, panel, scratch);
            });
        }
    }

    private static unsafe void RunPanel<T>(Operands<T> o, int panel, PanelScratch<T> s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (k, q, p, l, sOut, r) = o.Shape;
        int n = o.Shape.Inputs, m = o.Shape.Outputs;
        int row0 = panel * PanelRows, nb = Math.Min(PanelRows, o.Batch - row0), ld = s.Ld;
        int parts = o.Complex ? 2 : 1;
        var w1r = new ReadOnlySpan<T>(o.W1r, o.Shape.Weights1);
        var w2r = new ReadOnlySpan<T>(o.W2r, o.Shape.Weights2);
        var w1i = o.Complex ? new ReadOnlySpan<T>(o.W1i, o.Shape.Weights1) : default;
        var w2i = o.Complex ? new ReadOnlySpan<T>(o.W2i, o.Shape.Weights2) : default;
        var xr = new ReadOnlySpan<T>(o.Xr + (long)row0 * n, nb * n);
        var xi = o.Complex ? new ReadOnlySpan<T>(o.Xi + (long)row0 * n, nb * n) : default;
        for (int i = 0; i < k; i++)
            BlockProduct(q, nb, p, w1r.Slice(i * q * p), w1i.IsEmpty ? w1i : w1i.Slice(i * q * p),
                xr.Slice(i * p), xi.IsEmpty ? xi : xi.Slice(i * p), n, transB: true,
                s.Hr.AsSpan(i * q * ld), s.Hi.AsSpan(o.Complex ? i * q * ld : 0), ld, o.Complex);
        for (int lambda = 0; lambda < l; lambda++)
            BlockProduct(sOut, nb, r, w2r.Slice(lambda * sOut * r), w2i.IsEmpty ? w2i : w2i.Slice(lambda * sOut * r),
                s.Hr.AsSpan(lambda * ld), s.Hi.AsSpan(o.Complex ? lambda * ld : 0), l * ld, transB: false,
                s.Yr.AsSpan(lambda * ld), s.Yi.AsSpan(o.Complex ? lambda * ld : 0), l * ld, o.Complex);
        for (int part = 0; part < parts; part++)
            TransposeOut(part == 0 ? s.Yr : s.Yi, ld, m, nb, new Span<T>((part == 0 ? o.Yr : o.Yi) + (long)row0 * m, nb * m));
    }

    /// <summary>
    /// C [rows x cols] = W [rows x depth] op(B) (op(B) = B [depth x cols], or B^T for B stored [cols x depth]; leading
    /// dimensions ldb, ldc), real or split complex.
    /// </summary>
    private static void BlockProduct<T>(int rows, int cols, int depth, ReadOnlySpan<T> wr, ReadOnlySpan<T> wi,
        ReadOnlySpan<T> br, ReadOnlySpan<T> bi, int ldb, bool transB, Span<T> cr, Span<T> ci, int ldc, bool complex)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        FastGemm.Multiply(false, transB, rows, cols, depth, T.One, wr, depth, br, ldb, T.Zero, cr, ldc, maxThreads: 1);
        if (!complex) return;
        FastGemm.Multiply(false, transB, rows, cols, depth, -T.One, wi, depth, bi, ldb, T.One, cr, ldc, maxThreads: 1);
        FastGemm.Multiply(false, transB, rows, cols, depth, T.One, wr, depth, bi, ldb, T.Zero, ci, ldc, maxThreads: 1);
        FastGemm.Multiply(false, transB, rows, cols, depth, T.One, wi, depth, br, ldb, T.One, ci, ldc, maxThreads: 1);
    }

    /// <summary>dst[b * m + f] = src[f * ld + b] for b &lt; rows, f &lt; m, in 16 x 16 tiles, each tile row written as one contiguous run.</summary>
    private static void TransposeOut<T>(ReadOnlySpan<T> src, int ld, int m, int rows, Span<T> dst)
    {
        const int tile = 16;
        for (int b0 = 0; b0 < rows; b0 += tile)
            for (int f0 = 0; f0 < m; f0 += tile)
                for (int b = b0; b < Math.Min(rows, b0 + tile); b++)
                    for (int f = f0; f < Math.Min(m, f0 + tile); f++)
                        dst[b * m + f] = src[f * ld + b];
    }

    /// <summary>The panel's leading dimension, PanelRows + 1 (odd: see the file head on 4K aliasing).</summary>
    private const int PanelLeading = PanelRows + 1;

    /// <summary>
    /// The panel's middle and output buffers (feature-major, leading dimension Ld), one set per thread, kept and
    /// grown on demand: a call at N = 4096 needs 2 MB, which would otherwise be a large-object allocation per call.
    /// </summary>
    private sealed class PanelScratch<T> where T : unmanaged
    {
        [ThreadStatic] private static PanelScratch<T>? cached;

        private PanelScratch(int middle, int outputs, bool complex)
        {
            Ld = PanelLeading;
            Hr = new T[middle * Ld];
            Yr = new T[outputs * Ld];
            Hi = complex ? new T[middle * Ld] : [];
            Yi = complex ? new T[outputs * Ld] : [];
        }

        public static PanelScratch<T> ForThisThread(MonarchShape shape, bool complex)
        {
            var s = cached;
            if (s is null || s.Hr.Length < shape.Middle * PanelLeading || s.Yr.Length < shape.Outputs * PanelLeading
                || (complex && (s.Hi.Length < shape.Middle * PanelLeading || s.Yi.Length < shape.Outputs * PanelLeading)))
                cached = s = new PanelScratch<T>(shape.Middle, shape.Outputs, complex);
            return s;
        }

        public int Ld { get; }
        public T[] Hr { get; }
        public T[] Hi { get; }
        public T[] Yr { get; }
        public T[] Yi { get; }
    }

    private readonly unsafe struct Operands<T>(MonarchShape shape, int batch, bool complex, T* w1r, T* w1i, T* w2r, T* w2i,
        T* xr, T* xi, T* yr, T* yi) where T : unmanaged
    {
        public readonly MonarchShape Shape = shape;
        public readonly int Batch = batch;
        public readonly bool Complex = complex;
        public readonly T* W1r = w1r, W1i = w1i, W2r = w2r, W2i = w2i, Xr = xr, Xi = xi, Yr = yr, Yi = yi;
    }
}
