using System.Buffers;
using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Reference.Core.Linear;

/// <summary>
/// Fast tier of <see cref="NaiveGemm"/>: same contract (row-major BLAS xGEMM, both transposes,
/// alpha/beta, beta = 0 does not read C), float32 or float64.
///
/// Algorithm: the five-loop blocked GEMM of Goto and van de Geijn, "Anatomy of High-Performance
/// Matrix Multiplication" (ACM TOMS 34(3), 2008), in the layered form of BLIS (Van Zee and van de
/// Geijn, ACM TOMS 41(3), 2015, Fig. 2):
///   for jc in steps of NC over n         (a KC x NC panel of op(B) is packed; it lives in L3)
///     for pc in steps of KC over k
///       pack op(B)[pc:pc+KC, jc:jc+NC] into NR-wide micro-panels            (GemmPacking.PackB)
///       for ic in steps of MC over m     (an MC x KC block of op(A) is packed; it lives in L2)
///         pack op(A)[ic:ic+MC, pc:pc+KC] into MR-tall micro-panels          (GemmPacking.PackA)
///         for jr in steps of NR, ir in steps of MR: the MR x NR register tile (GemmMicroKernel)
/// Packing copies both operands into contiguous, zero-padded panels whatever their transposition
/// and leading dimension, so one micro-kernel serves all four transpose cases and every edge tile.
/// One exception: the Vector512 kernel reads the full micro-panels of an A stored with a leading dimension
/// of 32, 64, 128 or 256 elements where they are (transposed or not), with those strides as constants; and it packs the
/// full micro-panels of another untransposed A inside the first tile of each (FastGemm.PackAndMultiply), not in a pass before.
/// Another: a small one-thread product (smallest dimension at most 64, operands within L2, n a multiple of NR; A transposed
/// or at most 64 rows) reads an untransposed B in place, its rows as the micro-panels, packs a transposed B once for all k,
/// and cuts the rows into balanced tiles (<see cref="SmallGemm"/>: the same chains and stores, so the same bits).
///
/// Glossary: MR x NR = register tile: with AVX-512 (Vector512 accelerated) 14 x 32 float32 or
/// 14 x 16 float64 (28 zmm accumulators + 2 loads of B + 1 broadcast of A = 31 of the 32 zmm
/// registers), else with AVX+FMA 6 x 16 float32 or 6 x 8 float64 (12 ymm accumulators + 2 + 1 = 15
/// of the 16 ymm registers); KC = depth of one rank-KC update (a KC x NR micro-panel of B stays in
/// L1); MC x KC = packed A block (L2); KC x NC = packed B panel (L3). <see cref="GemmBlocking"/>
/// holds the sizes per kernel; the packed layout follows the kernel that runs.
///
/// Accumulation order (documented because Fast is compared with Naive and with itself): for each
/// element, k is cut into consecutive blocks of KC; inside a block the products are added for
/// p = pc, pc+1, ... with one fused multiply-add each (float32 accumulators for float32); the first
/// block stores C = alpha * acc + beta * C (a single FMA; with beta = 0 C is not read; with a row or column bias
/// beta * bias in place of beta * C, C not read), later blocks C = alpha * acc + C. The order does not depend on the thread count: threads share the packed
/// B panel (and the A blocks, unless each A block is a single tile, which then packs it itself) and
/// take C tiles aligned to MC / NR from an atomic counter (<see cref="GemmSchedule{T}"/>; a product of one rank-KC step
/// whose A is read in place is cut into column chunks instead, each the one-thread loops, <see cref="GemmColumnTiles{T}"/>),
/// so 1 and 2 threads give bitwise identical results. The Vector512 and Vector256 kernels share KC
/// and run the same FMA chain per element (only the tile around it differs), so they too give
/// bitwise identical results. Without AVX+FMA (e.g. DOTNET_EnableAVX2=0) a scalar micro-kernel runs on the Vector256
/// layout (separate multiply and add, so the last bits differ from the FMA path).
/// As in reference BLAS, k = 0 or alpha = 0 returns early with C = beta C (A and B are not read; so
/// a NaN in A or B does not reach C there, where the Naive tier would propagate it).
///
/// Deliberate simplifications: no hand-written packing intrinsics (packing is O(mk + kn) per
/// block against O(mnk) work), blocking constants fixed per kernel and element type (the Vector256
/// ones for a Zen 3-class core, 32 KB L1d, 512 KB L2; the Vector512 ones for a Sapphire Rapids-class
/// core, 48 KB L1d, 2 MB L2).
/// </summary>
public static unsafe class FastGemm
{
    /// <summary>Products with m * n * k below this run on one thread (thread start-up would dominate).</summary>
    internal const long ParallelThreshold = 1L << 21;

    /// <summary>
    /// C[m x n] = alpha op(A)[m x k] op(B)[k x n] + beta C (row-major, leading dimensions as in
    /// <see cref="NaiveGemm.Multiply"/>). <paramref name="maxThreads"/> = 0 uses
    /// KernelThreads.Default threads for large products; small products run on one thread.
    /// A bias (<paramref name="columnBias"/>, n values, or <paramref name="rowBias"/>, m values; at most one) stands in for
    /// C: C = alpha op(A) op(B) + beta bias, C not read (bias[j] in every row, or bias[i] in every column). The same bits
    /// as filling C with the bias and multiplying with beta, without the pass that fills C.
    /// </summary>
    public static void Multiply<T>(bool transA, bool transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc, int maxThreads = 0, ReadOnlySpan<T> columnBias = default, ReadOnlySpan<T> rowBias = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        GemmArguments.Check(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        CheckBias(m, n, columnBias, rowBias);
        int threads = ResolveThreads(maxThreads);
        fixed (T* pa = a) fixed (T* pb = b) fixed (T* pc = c) fixed (T* pColumn = columnBias) fixed (T* pRow = rowBias)
        {
            var problem = new GemmProblem<T>(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, Bias(pColumn, pRow));
            Run(problem, threads, GemmMicroKernel.Best);
        }
    }

    /// <summary>The bias of a product: a null pointer is an empty span (no bias).</summary>
    private static GemmBias<T> Bias<T>(T* columnBias, T* rowBias) where T : unmanaged =>
        rowBias != null ? new GemmBias<T>(rowBias, perRow: true) : new GemmBias<T>(columnBias, perRow: false);

    private static void CheckBias<T>(int m, int n, ReadOnlySpan<T> columnBias, ReadOnlySpan<T> rowBias)
    {
        if (!columnBias.IsEmpty && !rowBias.IsEmpty)
            throw new ArgumentException($"columnBias and rowBias both given ({columnBias.Length} and {rowBias.Length} values): expected at most one.", nameof(rowBias));
        if (!columnBias.IsEmpty && columnBias.Length != n)
            throw new ArgumentException($"columnBias has {columnBias.Length} values, expected n = {n} (or none).", nameof(columnBias));
        if (!rowBias.IsEmpty && rowBias.Length != m)
            throw new ArgumentException($"rowBias has {rowBias.Length} values, expected m = {m} (or none).", nameof(rowBias));
    }

    /// <summary>
    /// <paramref name="batchCount"/> independent products C_i = alpha op(A_i) op(B_i) + beta C_i with
    /// A_i = a[i * strideA ..], B_i = b[i * strideB ..], C_i = c[i * strideC ..]. A stride of 0
    /// broadcasts one operand over the batch; strideC must keep the C_i disjoint. Many small
    /// products are spread over threads by batch, large ones are threaded inside each product;
    /// either way every element is accumulated in the order of <see cref="Multiply{T}"/>. A bias as in
    /// <see cref="Multiply{T}"/>, the same for every product of the batch.
    /// </summary>
    public static void MultiplyBatched<T>(bool transA, bool transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, int strideA, ReadOnlySpan<T> b, int ldb, int strideB,
        T beta, Span<T> c, int ldc, int strideC, int batchCount, int maxThreads = 0,
        ReadOnlySpan<T> columnBias = default, ReadOnlySpan<T> rowBias = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (batchCount < 0)
            throw new ArgumentOutOfRangeException(nameof(batchCount), $"batchCount = {batchCount} must be >= 0.");
        int threads = ResolveThreads(maxThreads);
        // Validate batch 0 with the full spans, then the extent reached by the last batch.
        GemmArguments.Check(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        CheckBias(m, n, columnBias, rowBias);
        if (batchCount == 0) return;
        long extentA = MatrixExtent(transA ? k : m, transA ? m : k, lda);
        long extentB = MatrixExtent(transB ? n : k, transB ? k : n, ldb);
        long extentC = MatrixExtent(m, n, ldc);
        CheckStride("a", nameof(strideA), strideA, extentA, a.Length, batchCount, requireDisjoint: false);
        CheckStride("b", nameof(strideB), strideB, extentB, b.Length, batchCount, requireDisjoint: false);
        CheckStride("c", nameof(strideC), strideC, extentC, c.Length, batchCount, requireDisjoint: true);
        var offsets = ArrayPool<long>.Shared.Rent(3 * batchCount);
        try
        {
            for (int i = 0; i < batchCount; i++)
            {
                offsets[3 * i] = (long)i * strideA;
                offsets[3 * i + 1] = (long)i * strideB;
                offsets[3 * i + 2] = (long)i * strideC;
            }
            fixed (T* pa = a) fixed (T* pb = b) fixed (T* pc = c) fixed (T* pColumn = columnBias) fixed (T* pRow = rowBias)
            {
                var problem = new GemmProblem<T>(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, Bias(pColumn, pRow));
                RunBatched(problem, offsets, batchCount, threads, GemmMicroKernel.Best);
            }
        }
        finally
        {
            ArrayPool<long>.Shared.Return(offsets);
        }
    }

    /// <summary>numpy.matmul over the last two axes with broadcast batch axes: [..., m, k] x [..., k, n] -> [..., m, n].</summary>
    public static Tensor<T> MatMul<T>(Tensor<T> a, Tensor<T> b, bool transA = false, bool transB = false, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var result = Tensor<T>.Zeros(MatMulPlan.Create(a.Shape, b.Shape, transA, transB).OutputShape);
        MatMulInto(result, a, b, transA, transB, maxThreads);
        return result;
    }

    /// <summary>
    /// <see cref="MatMul{T}"/> written into <paramref name="output"/> (shape [..., m, n], every element
    /// overwritten, not read). Packing panels live in per-thread and shared pools that survive calls,
    /// so a warm call touches no fresh pages; training loops and benches use this form.
    /// </summary>
    public static void MatMulInto<T>(Tensor<T> output, Tensor<T> a, Tensor<T> b, bool transA = false, bool transB = false, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        int threads = ResolveThreads(maxThreads);
        var plan = MatMulPlan.Create(a.Shape, b.Shape, transA, transB);
        Shapes.Same(output, plan.OutputShape, nameof(output));
        if (output.Length == 0) return;
        var offsets = ArrayPool<long>.Shared.Rent(3 * plan.BatchCount);
        try
        {
            for (int batch = 0; batch < plan.BatchCount; batch++)
            {
                var (offA, offB) = plan.Offsets(batch);
                offsets[3 * batch] = offA;
                offsets[3 * batch + 1] = offB;
                offsets[3 * batch + 2] = (long)batch * plan.M * plan.N;
            }
            fixed (T* pa = a.Data) fixed (T* pb = b.Data) fixed (T* pc = output.Data)
            {
                var problem = new GemmProblem<T>(transA, transB, plan.M, plan.N, plan.K, T.One,
                    pa, plan.Lda, pb, plan.Ldb, T.Zero, pc, plan.N);
                RunBatched(problem, offsets, plan.BatchCount, threads, GemmMicroKernel.Best);
            }
        }
        finally
        {
            ArrayPool<long>.Shared.Return(offsets);
        }
    }

    /// <summary>True when a vector FMA micro-kernel runs (AVX and FMA enabled in the JIT).</summary>
    public static bool VectorKernelAvailable => GemmMicroKernel.Best != GemmKernel.Scalar;

    /// <summary>Bits per vector of the micro-kernel that runs: 512 (AVX-512), 256 (AVX + FMA) or 0 (scalar).</summary>
    public static int KernelVectorBits => GemmMicroKernel.Best switch
    {
        GemmKernel.Vector512 => 512,
        GemmKernel.Vector256 => 256,
        _ => 0,
    };

    /// <summary>
    /// Test hook: <see cref="Multiply{T}"/> with the fastest kernel (true) or the scalar fallback (false),
    /// so the fallback is exercised on machines that have FMA.
    /// </summary>
    internal static void MultiplyWithKernel<T>(bool useVectorKernel, bool transA, bool transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc, int maxThreads, ReadOnlySpan<T> columnBias = default, ReadOnlySpan<T> rowBias = default)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        MultiplyWithKernel(useVectorKernel ? GemmMicroKernel.Best : GemmKernel.Scalar, transA, transB, m, n, k,
            alpha, a, lda, b, ldb, beta, c, ldc, maxThreads, columnBias, rowBias);

    /// <summary>
    /// Test and bench hook: <see cref="Multiply{T}"/> with the given kernel and its panel layout. A
    /// kernel the JIT does not accelerate in this process falls back to the next one down.
    /// </summary>
    internal static void MultiplyWithKernel<T>(GemmKernel kernel, bool transA, bool transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc, int maxThreads, ReadOnlySpan<T> columnBias = default, ReadOnlySpan<T> rowBias = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        GemmArguments.Check(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        CheckBias(m, n, columnBias, rowBias);
        if (kernel > GemmMicroKernel.Best) kernel = GemmMicroKernel.Best;
        fixed (T* pa = a) fixed (T* pb = b) fixed (T* pc = c) fixed (T* pColumn = columnBias) fixed (T* pRow = rowBias)
        {
            var problem = new GemmProblem<T>(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, Bias(pColumn, pRow));
            Run(problem, ResolveThreads(maxThreads), kernel);
        }
    }

    private static int ResolveThreads(int maxThreads)
    {
        if (maxThreads < 0)
            throw new ArgumentOutOfRangeException(nameof(maxThreads), $"maxThreads = {maxThreads} must be >= 0 (0 = every core).");
        return maxThreads == 0 ? KernelThreads.Default : maxThreads;
    }

    private static long MatrixExtent(int rows, int cols, int ld) => rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;

    private static void CheckStride(string name, string strideName, int stride, long extent, int length, int batchCount, bool requireDisjoint)
    {
        if (stride < 0)
            throw new ArgumentOutOfRangeException(strideName, $"{strideName} = {stride} must be >= 0.");
        if (requireDisjoint && batchCount > 1 && stride < extent)
            throw new ArgumentOutOfRangeException(strideName, $"{strideName} = {stride} must be >= {extent} (one C matrix) so that the outputs do not overlap.");
        long needed = extent == 0 ? 0 : (long)(batchCount - 1) * stride + extent;
        if (length < needed)
            throw new ArgumentException($"{name} has {length} elements, {batchCount} matrices with {strideName} = {stride} need {needed}.", name);
    }

    private static void RunBatched<T>(in GemmProblem<T> problem, long[] offsets, int batchCount, int threads, GemmKernel kernel)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        long work = (long)problem.M * problem.N * problem.K;
        if (threads <= 1 || batchCount == 1 || work >= ParallelThreshold)
        {
            for (int i = 0; i < batchCount; i++)
                Run(problem.Offset(offsets[3 * i], offsets[3 * i + 1], offsets[3 * i + 2]), threads, kernel);
            return;
        }
        // Many small products: contiguous ranges of batches per thread, each product single-threaded.
        int workers = Math.Min(threads, batchCount);
        if (work * batchCount < ParallelThreshold) workers = 1;
        var shared = problem;
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, t =>
        {
            int first = (int)((long)batchCount * t / workers), last = (int)((long)batchCount * (t + 1) / workers);
            for (int i = first; i < last; i++)
                Run(shared.Offset(offsets[3 * i], offsets[3 * i + 1], offsets[3 * i + 2]), 1, kernel);
        });
    }

    /// <summary>One product: degenerate cases, then the blocked loops on one thread or the shared schedule on several.</summary>
    private static void Run<T>(in GemmProblem<T> p, int threads, GemmKernel kernel) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (p.M == 0 || p.N == 0) return;
        if (p.K == 0 || p.Alpha == T.Zero)
        {
            // op(A) op(B) contributes nothing: C = beta C (beta bias), and as in BLAS beta = 0 writes zeros without reading C.
            for (int i = 0; i < p.M; i++)
            {
                var row = new Span<T>(p.C + (nint)i * p.Ldc, p.N);
                if (p.Beta == T.Zero) { row.Clear(); continue; }
                if (p.Bias.Values != null)
                {
                    if (p.Bias.PerRow) row.Fill(p.Bias.Values[i]);
                    else new ReadOnlySpan<T>(p.Bias.Values, p.N).CopyTo(row);
                }
                TensorPrimitives.Multiply(row, p.Beta, row);
            }
            return;
        }
        long work = (long)p.M * p.N * p.K;
        int workers = work < ParallelThreshold ? 1 : threads;
        if (workers <= 1)
        {
            if (SmallGemm.Applies(p, kernel)) SmallGemm.Run(p);
            else Blocked(p, kernel);
        }
        else if (GemmColumnTiles<T>.Applies(p.M, p.N, p.K, p.Lda, kernel)) GemmColumnTiles<T>.Run(p, workers, kernel);
        else GemmSchedule<T>.Run(p, workers, kernel);
    }

    /// <summary>The five blocked loops on the calling thread (packing buffers are per thread and reused).</summary>
    internal static void Blocked<T>(in GemmProblem<T> p, GemmKernel kernel) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var blocking = GemmMicroKernel.Blocking<T>(kernel);
        var (mr, nr, mcMax, kcMax, ncMax, _) = blocking;
        int kcBuf = Math.Min(kcMax, p.K);
        int mcBuf = Math.Min(mcMax, RoundUp(p.M, mr));
        int ncBuf = Math.Min(ncMax, RoundUp(p.N, nr));
        T* packA = PackingBuffers<T>.A(mcBuf * blocking.ARowLength(kcBuf));
        T* packB = PackingBuffers<T>.B(kcBuf * ncBuf);
        int unpackedRows = UnpackedRows(p.Lda, p.M, kernel);
        for (int jc = 0; jc < p.N; jc += ncMax)
        {
            int nc = Math.Min(ncMax, p.N - jc);
            for (int pc = 0; pc < p.K; pc += kcMax)
            {
                int kc = Math.Min(kcMax, p.K - pc);
                GemmPacking.PackB(p.TransB, p.B, p.Ldb, pc, jc, kc, nc, nr, packB);
                T beta = pc == 0 ? p.Beta : T.One;
                for (int ic = 0; ic < p.M; ic += mcMax)
                {
                    int mc = Math.Min(mcMax, p.M - ic);
                    // Full micro-panels of an A read in place (see UnpackedRows), the rest packed.
                    int inPlace = Math.Clamp(unpackedRows - ic, 0, mc);
                    if (inPlace > 0)
                        MacroKernelInPlace(p.TransA, mc: inPlace, nc, kc, p.Alpha, beta, p.TransA ? p.A + (nint)pc * p.Lda + ic : p.A + (nint)ic * p.Lda + pc, p.Lda,
                            packB, p.C + (nint)ic * p.Ldc + jc, p.Ldc, pc == 0 ? p.Bias.At(ic, jc) : default);
                    if (inPlace == mc) continue;
                    PackAndMultiply(p, kernel, ic + inPlace, mc - inPlace, pc, kc, jc, nc, beta, packA, packB);
                }
            }
        }
    }

    /// <summary>
    /// C[ic:ic+mc, jc:jc+nc] (+)= alpha op(A)[ic:ic+mc, pc:pc+kc] times the packed B panel, with op(A)'s block packed into
    /// <paramref name="packA"/> on the way. Vector512 on an untransposed A, kc a multiple of the vector width: each full
    /// 14-row micro-panel is packed by its first tile (<see cref="GemmMicroKernel.Vector512KernelPackA{T}"/>), the other
    /// tiles of its row read the copy; an edge panel is packed first. Otherwise the whole block is packed first
    /// (GemmPacking.PackA), then the macro-kernel runs. Same packed values, same kernels' FMA chains: same bits either way.
    /// The two-thread schedule's tiles that pack their own A block call this too. The bias (if any) is added in the first
    /// rank-KC update (pc = 0) only, as beta is.
    /// </summary>
    internal static void PackAndMultiply<T>(in GemmProblem<T> p, GemmKernel kernel, int ic, int mc, int pc, int kc, int jc, int nc, T beta, T* packA, T* packB)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var blocking = GemmMicroKernel.Blocking<T>(kernel);
        int mr = blocking.MR, nr = blocking.NR;
        T* c = p.C + (nint)ic * p.Ldc + jc;
        var bias = pc == 0 ? p.Bias.At(ic, jc) : default;
        if (kernel != GemmKernel.Vector512 || p.TransA || kc % Vector512<T>.Count != 0)
        {
            GemmPacking.PackA(p.TransA, p.A, p.Lda, ic, pc, mc, kc, mr, blocking.ARowMajor ? blocking.KC : 0, packA);
            MacroKernel(kernel, mc, nc, kc, p.Alpha, beta, packA, packB, c, p.Ldc, bias);
            return;
        }
        const int kcRow = GemmMicroKernel.KC512;
        int full = mc - mc % mr;
        for (int ir = 0; ir < full; ir += mr)
        {
            T* aPanel = packA + (nint)ir * kcRow;
            T* cRow = c + (nint)ir * p.Ldc;
            GemmMicroKernel.Vector512KernelPackA(kc, p.A + (nint)(ic + ir) * p.Lda + pc, p.Lda, aPanel, packB, cRow, p.Ldc, p.Alpha, beta, Math.Min(nr, nc), bias.At(ir, 0));
            for (int jr = nr; jr < nc; jr += nr)
                GemmMicroKernel.Vector512Kernel<T, Stride256, Stride1>(kc, aPanel, packB + (nint)jr * kc, cRow + jr, p.Ldc, p.Alpha, beta, mr, Math.Min(nr, nc - jr), bias.At(ir, jr));
        }
        if (full == mc) return;
        GemmPacking.PackA(false, p.A, p.Lda, ic + full, pc, mc - full, kc, mr, kcRow, packA + (nint)full * kcRow);
        MacroKernel(kernel, mc - full, nc, kc, p.Alpha, beta, packA + (nint)full * kcRow, packB, c + (nint)full * p.Ldc, p.Ldc, bias.At(full, 0));
    }

    /// <summary>
    /// Rows of op(A) whose MR-tall micro-panels the Vector512 kernel reads in place instead of packing: for a stored A whose
    /// leading dimension is 32, 64, 128 or 256 elements, transposed or not, every full panel, i.e. the first m - m % MR rows.
    /// The kernel reads element (r, p) of such a panel lda elements apart along r (untransposed) or along p (transposed), so
    /// packing it only copied it (at k = 32 the copy of A cost a third of the product, the transposed copy of a weight
    /// gradient's A a quarter: bench/NOTES.md, h3qkv). The kernel reads the same values in the same order either way: the
    /// results are the same bits. Edge panels (fewer than MR rows) are packed with their zero rows as before. 0 otherwise.
    /// </summary>
    internal static int UnpackedRows(nint lda, int m, GemmKernel kernel) =>
        kernel == GemmKernel.Vector512 && lda is 32 or 64 or 128 or 256 ? m - m % GemmMicroKernel.MR512 : 0;

    /// <summary>
    /// The Vector512 loops of <see cref="MacroKernel"/> on full micro-panels of an A read in place: <paramref name="a"/> points
    /// at op(A)[ic, pc], whose rows are lda apart (untransposed) or adjacent with columns lda apart (transposed).
    /// </summary>
    private static void MacroKernelInPlace<T>(bool transA, int mc, int nc, int kc, T alpha, T beta, T* a, nint lda, T* packB, T* c, nint ldc, GemmBias<T> bias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (lda, transA)
        {
            case (32, false): MacroKernelInPlace<T, Stride32, Stride1>(mc, nc, kc, alpha, beta, a, packB, c, ldc, bias); break;
            case (64, false): MacroKernelInPlace<T, Stride64, Stride1>(mc, nc, kc, alpha, beta, a, packB, c, ldc, bias); break;
            case (128, false): MacroKernelInPlace<T, Stride128, Stride1>(mc, nc, kc, alpha, beta, a, packB, c, ldc, bias); break;
            case (256, false): MacroKernelInPlace<T, Stride256, Stride1>(mc, nc, kc, alpha, beta, a, packB, c, ldc, bias); break;
            case (32, true): MacroKernelInPlace<T, Stride1, Stride32>(mc, nc, kc, alpha, beta, a, packB, c, ldc, bias); break;
            case (64, true): MacroKernelInPlace<T, Stride1, Stride64>(mc, nc, kc, alpha, beta, a, packB, c, ldc, bias); break;
            case (128, true): MacroKernelInPlace<T, Stride1, Stride128>(mc, nc, kc, alpha, beta, a, packB, c, ldc, bias); break;
            case (256, true): MacroKernelInPlace<T, Stride1, Stride256>(mc, nc, kc, alpha, beta, a, packB, c, ldc, bias); break;
            default: throw new ArgumentOutOfRangeException(nameof(lda), $"lda = {lda}: expected 32, 64, 128 or 256 (UnpackedRows).");
        }
    }

    private static void MacroKernelInPlace<T, TRow, TColumn>(int mc, int nc, int kc, T alpha, T beta, T* a, T* packB, T* c, nint ldc, GemmBias<T> bias)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TRow : struct, IStride
        where TColumn : struct, IStride
    {
        const int mr = GemmMicroKernel.MR512;
        int nr = 2 * Vector512<T>.Count;
        for (int ir = 0; ir < mc; ir += mr)
        {
            T* aPanel = a + (nint)ir * TRow.Value;
            for (int jr = 0; jr < nc; jr += nr)
                GemmMicroKernel.Vector512Kernel<T, TRow, TColumn>(kc, aPanel, packB + (nint)jr * kc, c + ir * ldc + jr, ldc, alpha, beta, mr, Math.Min(nr, nc - jr), bias.At(ir, jr));
        }
    }

    /// <summary>
    /// C[mc x nc] (+)= alpha * packedA[mc x kc] packedB[kc x nc], one MR x NR tile at a time. Loop order
    /// per kernel: Vector256 keeps a KC x NR micro-panel of B in L1 (16 KB) while the A micro-panels
    /// stream from L2 (jr outer); Vector512's B micro-panel is 32 KB at KC = 256, which with a 14 KB A
    /// micro-panel would fill a 48 KB L1d, so there the A micro-panel stays in L1 and the B micro-panels
    /// stream from L2 (ir outer). Either order computes each tile the same way.
    /// </summary>
    internal static void MacroKernel<T>(GemmKernel kernel, int mc, int nc, int kc, T alpha, T beta, T* packA, T* packB, T* c, nint ldc, GemmBias<T> bias = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var blocking = GemmMicroKernel.Blocking<T>(kernel);
        int mr = blocking.MR, nr = blocking.NR;
        nint aRow = blocking.ARowLength(kc);
        if (kernel == GemmKernel.Vector512)
        {
            for (int ir = 0; ir < mc; ir += mr)
            {
                int mRows = Math.Min(mr, mc - ir);
                T* aPanel = packA + ir * aRow;
                for (int jr = 0; jr < nc; jr += nr)
                    GemmMicroKernel.Run(kernel, kc, aPanel, packB + (nint)jr * kc, c + ir * ldc + jr, ldc, alpha, beta, mRows, Math.Min(nr, nc - jr), bias.At(ir, jr));
            }
            return;
        }
        for (int jr = 0; jr < nc; jr += nr)
        {
            int nCols = Math.Min(nr, nc - jr);
            T* bPanel = packB + (nint)jr * kc;
            for (int ir = 0; ir < mc; ir += mr)
                GemmMicroKernel.Run(kernel, kc, packA + ir * aRow, bPanel, c + ir * ldc + jr, ldc, alpha, beta, Math.Min(mr, mc - ir), nCols, bias.At(ir, jr));
        }
    }

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;
}

/// <summary>Pointers and sizes of one product; sub-problems are views of rows or columns of C.</summary>
internal readonly unsafe struct GemmProblem<T> where T : unmanaged
{
    public readonly bool TransA, TransB;
    public readonly int M, N, K;
    public readonly T Alpha, Beta;
    public readonly T* A, B, C;
    public readonly nint Lda, Ldb, Ldc;

    /// <summary>Added in place of C's values by the first rank-KC update (none by default): C = alpha op(A) op(B) + beta bias.</summary>
    public readonly GemmBias<T> Bias;

    public GemmProblem(bool transA, bool transB, int m, int n, int k, T alpha, T* a, nint lda, T* b, nint ldb, T beta, T* c, nint ldc, GemmBias<T> bias = default)
    {
        TransA = transA; TransB = transB; M = m; N = n; K = k; Alpha = alpha; Beta = beta;
        A = a; Lda = lda; B = b; Ldb = ldb; C = c; Ldc = ldc; Bias = bias;
    }

    /// <summary>The same product on matrices starting at the given element offsets (one batch; the bias is shared).</summary>
    public GemmProblem<T> Offset(long offA, long offB, long offC) =>
        new(TransA, TransB, M, N, K, Alpha, A + offA, Lda, B + offB, Ldb, Beta, C + offC, Ldc, Bias);

    /// <summary>Rows [first, first + count) of C: rows of op(A).</summary>
    public GemmProblem<T> Rows(int first, int count) =>
        new(TransA, TransB, count, N, K, Alpha, TransA ? A + first : A + first * Lda, Lda, B, Ldb, Beta, C + first * Ldc, Ldc, Bias.At(first, 0));

    /// <summary>Columns [first, first + count) of C: columns of op(B).</summary>
    public GemmProblem<T> Columns(int first, int count) =>
        new(TransA, TransB, M, count, K, Alpha, A, Lda, TransB ? B + first * Ldb : B + first, Ldb, Beta, C + first, Ldc, Bias.At(0, first));
}

/// <summary>
/// Per-thread packing buffers, grown on demand and kept (no allocation per call once warm). They are
/// pinned (pinned object heap) and 64-byte aligned so that packed panels start on cache lines.
/// </summary>
internal static unsafe class PackingBuffers<T> where T : unmanaged
{
    [ThreadStatic] private static T[]? a;
    [ThreadStatic] private static T[]? b;

    public static T* A(int length) => Get(ref a, length);

    public static T* B(int length) => Get(ref b, length);

    private static T* Get(ref T[]? buffer, int length)
    {
        int pad = 64 / sizeof(T);
        if (buffer is null || buffer.Length < length + pad)
            buffer = GC.AllocateUninitializedArray<T>(length + pad, pinned: true);
        nint address = (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(buffer));
        nint aligned = (address + 63) & ~(nint)63;
        return (T*)aligned;
    }
}
