using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Reference.Core.Kernels;
using static Reference.Core.Linear.GemmMicroKernel; // MultiplyAdd, UpdateRow, StoreRow: the packed kernels' FMA and row stores

namespace Reference.Core.Linear;

/// <summary>
/// A one-thread route of <see cref="FastGemm"/> for small products (smallest dimension at most 64, operands within L2),
/// with the kernel of <see cref="GemmMicroKernel"/>'s Vector512 tile. The packed loops copy B into KC x NR micro-panels
/// (<see cref="GemmPacking.PackB"/>) per KC block; for an untransposed, row-major B with NR | n micro-panel jr is already
/// there (row p of it is B[p, jr..jr + NR), ldb apart), so this route reads B in place, and A too (transposed: MR
/// consecutive values per p, any lda; untransposed: lda 32, 64, 128 or 256 as a constant stride). A transposed B is
/// packed once into micro-panels of all k rows. At the width-32 H3 model's shapes the weight gradients' PackB was 4.3 % of
/// the training step's samples (bench/NOTES.md, h3w32 and h3gemm). Which products take this route: <see cref="Applies{T}"/>.
///
/// Rows: ceil(m / MR512) tiles of balanced height (m = 32: 10, 11, 11 rows, instead of 14, 14 and an edge tile of 4 on
/// the 7-row half kernel), each tile a kernel specialized for its row count (the same accumulators minus the unused ones).
///
/// Accumulation order: that of <see cref="FastGemm"/>, unchanged. Per element of C, k is cut into the same KC512 blocks;
/// inside a block one FMA chain over p in order, starting from zero; the first block stores alpha acc + beta C (C not read
/// for beta = 0; beta bias with a bias), later blocks alpha acc + C, each one FMA — the same expressions as the packed
/// kernel's store. The packed route's zero padding only fills lanes and rows that are not stored. So the results are the
/// same bits as the packed route (checked bitwise by GemmSmallTests), for any tile split.
/// </summary>
internal static unsafe class SmallGemm
{
    /// <summary>Operands (A and B) of at most this many bytes: they stay in a 2 MB L2 while the tiles re-read them.</summary>
    private const long FootprintLimit = 3L << 19;

    /// <summary>A transposed B of at most this many bytes is packed once, all k rows (the per-thread packing buffer).</summary>
    private const long TransposedLimit = 256 * 1024;

    /// <summary>A KC x n block of B of at most this many bytes is kept in L1 (48 KB) beside one A panel.</summary>
    private const long L1Block = 32 * 1024;

    /// <summary>The smallest of m, n, k at most this: a product the packed loops handle poorly (edge tiles, packing per flop).</summary>
    private const int SmallDimension = 64;

    /// <summary>Test and bench switch, per thread: true sends this thread's products to the packed loops (to compare the two routes).</summary>
    [ThreadStatic] internal static bool Disabled;

    /// <summary>Test hook: whether a one-thread product of this shape and these leading dimensions takes this route.</summary>
    internal static bool Takes<T>(bool transA, bool transB, int m, int n, int k, int lda, int ldb) where T : unmanaged =>
        Applies(new GemmProblem<T>(transA, transB, m, n, k, default, null, lda, null, ldb, default, null, n), GemmMicroKernel.Best);

    /// <summary>True when <see cref="Run{T}"/> computes this product (called for one-thread products only).</summary>
    public static bool Applies<T>(in GemmProblem<T> p, GemmKernel kernel) where T : unmanaged
    {
        if (Disabled || kernel != GemmKernel.Vector512) return false;
        // Where it was measured faster (bench `--step-parts N gemm`, bench/NOTES.md h3gemm): a transposed A (weight
        // gradients A^T B with B read in place; H3's du, output projection and dO), and few rows (H3's q/k/v projections and
        // its 32 x 32 x 256 weight gradients: balanced tiles instead of 14 + 14 + an edge of 4). Not where the packed loops
        // already ran at their best: many rows of an untransposed A (the MLP's x W^T and g W at k = 32 and 128: read in
        // place, B rows 1 KB apart were slower than packed panels).
        if (!p.TransA && p.M > SmallDimension) return false;
        if (p.TransB && (long)p.K * p.N * sizeof(T) > TransposedLimit) return false;
        if (p.N % (2 * Vector512<T>.Count) != 0) return false;
        if (!p.TransA && p.Lda is not (32 or 64 or 128 or 256)) return false;
        if (Math.Min(p.M, Math.Min(p.N, p.K)) > SmallDimension) return false;
        return ((long)p.M * p.K + (long)p.K * p.N) * sizeof(T) <= FootprintLimit;
    }

    /// <summary>
    /// C = alpha op(A) B + beta C (or beta bias) for a product that <see cref="Applies{T}"/>: for each KC block, the row
    /// tiles with all column panels each (B's block in L1), or for a wider B each NR-wide column panel (kept in L1) with all
    /// row tiles. m, n, k > 0 and alpha != 0 (FastGemm.Run
    /// handles the rest).
    /// </summary>
    public static void Run<T>(in GemmProblem<T> p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nr = 2 * Vector512<T>.Count;
        if (p.TransB)
        {
            // op(B) = B^T: packed once into NR-wide panels of all k rows (the packed route packs the same panels per KC block).
            T* packed = PackingBuffers<T>.B(p.K * p.N);
            if (typeof(T) == typeof(double)) PackTransposed((double*)p.B, p.Ldb, p.N, p.K, (double*)packed);
            else GemmPacking.PackB(true, p.B, p.Ldb, 0, 0, p.K, p.N, nr, packed);
            RunInPlace(p, packed, panelScale: p.K, rowStep: nr);
            return;
        }
        RunInPlace(p, p.B, panelScale: 1, rowStep: p.Ldb);
    }

    /// <summary>
    /// PackB's layout of a transposed float64 B (stored n x k, ldb apart), all k rows: panel j0 (16 columns of op(B)) at
    /// dest + j0 k, row p of it = B[j0..j0 + 16, p]. 8 x 8 blocks transposed in zmm registers (unpack, then two 128-bit
    /// lane shuffles: 24 shuffles per 64 values), the k % 8 tail element by element. PackB's Vector256 4 x 4 blocks took
    /// ~2.3 us of a 9.2 us 32 x 256 x 32 product (against 6.9 us with B untransposed; bench/NOTES.md, h3gemm). A copy:
    /// the same values.
    /// </summary>
    private static void PackTransposed(double* b, nint ldb, int n, int k, double* dest)
    {
        const int nr = 16;
        int kFull = k - k % 8;
        for (int j0 = 0; j0 < n; j0 += nr)
        {
            double* panel = dest + (nint)j0 * k;
            for (int half = 0; half < nr; half += 8)
            {
                double* src = b + (nint)(j0 + half) * ldb;
                for (int p0 = 0; p0 < kFull; p0 += 8)
                {
                    var r0 = Vector512.Load(src + p0);
                    var r1 = Vector512.Load(src + ldb + p0);
                    var r2 = Vector512.Load(src + 2 * ldb + p0);
                    var r3 = Vector512.Load(src + 3 * ldb + p0);
                    var r4 = Vector512.Load(src + 4 * ldb + p0);
                    var r5 = Vector512.Load(src + 5 * ldb + p0);
                    var r6 = Vector512.Load(src + 6 * ldb + p0);
                    var r7 = Vector512.Load(src + 7 * ldb + p0);
                    BlockTranspose.InRegisters(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
                    double* d = panel + (nint)p0 * nr + half;
                    r0.Store(d); r1.Store(d + 1 * nr); r2.Store(d + 2 * nr); r3.Store(d + 3 * nr);
                    r4.Store(d + 4 * nr); r5.Store(d + 5 * nr); r6.Store(d + 6 * nr); r7.Store(d + 7 * nr);
                }
                for (int p = kFull; p < k; p++)
                    for (int jj = 0; jj < 8; jj++) panel[(nint)p * nr + half + jj] = src[jj * ldb + p];
            }
        }
    }

    /// <summary>B's column panel jr starts at b + jr panelScale, its rows rowStep apart (in place: 1, ldb; packed: k, NR).</summary>
    private static void RunInPlace<T>(in GemmProblem<T> p, T* b, nint panelScale, nint rowStep) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (p.TransA) Run<T, Stride1>(p, b, panelScale, rowStep);
        else
        {
            switch (p.Lda)
            {
                case 32: Run<T, Stride32>(p, b, panelScale, rowStep); break;
                case 64: Run<T, Stride64>(p, b, panelScale, rowStep); break;
                case 128: Run<T, Stride128>(p, b, panelScale, rowStep); break;
                case 256: Run<T, Stride256>(p, b, panelScale, rowStep); break;
                default: throw new ArgumentOutOfRangeException(nameof(p), $"lda = {p.Lda}: expected 32, 64, 128 or 256 (SmallGemm.Applies).");
            }
        }
    }

    private static void Run<T, TRow>(in GemmProblem<T> p, T* b, nint panelScale, nint rowStep) where T : unmanaged, IFloatingPointIeee754<T> where TRow : struct, IStride
    {
        const int mr = GemmMicroKernel.MR512, kcMax = GemmMicroKernel.KC512;
        int nr = 2 * Vector512<T>.Count;
        int tiles = (p.M + mr - 1) / mr;
        // Per p, A moves by one column: lda elements when transposed (rows adjacent), one element otherwise.
        nint aStep = p.TransA ? p.Lda : 1;
        for (int pc = 0; pc < p.K; pc += kcMax)
        {
            int kc = Math.Min(kcMax, p.K - pc);
            T beta = pc == 0 ? p.Beta : T.One;
            var bias = pc == 0 ? p.Bias : default;
            T* aBlock = p.TransA ? p.A + (nint)pc * p.Lda : p.A + pc;
            T* bBlock = b + (nint)pc * rowStep;
            if ((long)kc * p.N * sizeof(T) <= L1Block)
            {
                // B's block fits in L1: each row tile's A panel stays in L1 across the column panels, A is read once.
                int row = 0;
                for (int t = 0; t < tiles; t++)
                {
                    int rows = (p.M - row) / (tiles - t);
                    T* a = p.TransA ? aBlock + row : aBlock + (nint)row * p.Lda;
                    for (int jr = 0; jr < p.N; jr += nr)
                        Tile<T, TRow>(rows, kc, a, aStep, bBlock + jr * panelScale, rowStep, p.C + (nint)row * p.Ldc + jr, p.Ldc, p.Alpha, beta, bias.At(row, jr));
                    row += rows;
                }
                continue;
            }
            // Else each KC x NR panel of B stays in L1 while the row tiles pass over it.
            for (int jr = 0; jr < p.N; jr += nr)
            {
                int row = 0;
                for (int t = 0; t < tiles; t++)
                {
                    int rows = (p.M - row) / (tiles - t);
                    T* a = p.TransA ? aBlock + row : aBlock + (nint)row * p.Lda;
                    Tile<T, TRow>(rows, kc, a, aStep, bBlock + jr * panelScale, rowStep, p.C + (nint)row * p.Ldc + jr, p.Ldc, p.Alpha, beta, bias.At(row, jr));
                    row += rows;
                }
            }
        }
    }

    private static void Tile<T, TRow>(int rows, int kc, T* a, nint aStep, T* b, nint ldb, T* c, nint ldc, T alpha, T beta, GemmBias<T> bias)
        where T : unmanaged, IFloatingPointIeee754<T> where TRow : struct, IStride
    {
        switch (rows)
        {
            case 1: Kernel<T, TRow, Rows1>(kc, a, aStep, b, ldb, c, ldc, alpha, beta, bias); break;
            case 2: Kernel<T, TRow, Rows2>(kc, a, aStep, b, ldb, c, ldc, alpha, beta, bias); break;
            case 3: Kernel<T, TRow, Rows3>(kc, a, aStep, b, ldb, c, ldc, alpha, beta, bias); break;
            case 4: Kernel<T, TRow, Rows4>(kc, a, aStep, b, ldb, c, ldc, alpha, beta, bias); break;
            case 5: Kernel<T, TRow, Rows5>(kc, a, aStep, b, ldb, c, ldc, alpha, beta, bias); break;
            case 6: Kernel<T, TRow, Rows6>(kc, a, aStep, b, ldb, c, ldc, alpha, beta, bias); break;
            case 7: Kernel<T, TRow, Rows7>(kc, a, aStep, b, ldb, c, ldc, alpha, beta, bias); break;
            case 8: Kernel<T, TRow, Rows8>(kc, a, aStep, b, ldb, c, ldc, alpha, beta, bias); break;
            case 9: Kernel<T, TRow, Rows9>(kc, a, aStep, b, ldb, c, ldc, alpha, beta, bias); break;
            case 10: Kernel<T, TRow, Rows10>(kc, a, aStep, b, ldb, c, ldc, alpha, beta, bias); break;
            case 11: Kernel<T, TRow, Rows11>(kc, a, aStep, b, ldb, c, ldc, alpha, beta, bias); break;
            case 12: Kernel<T, TRow, Rows12>(kc, a, aStep, b, ldb, c, ldc, alpha, beta, bias); break;
            case 13: Kernel<T, TRow, Rows13>(kc, a, aStep, b, ldb, c, ldc, alpha, beta, bias); break;
            case 14: Kernel<T, TRow, Rows14>(kc, a, aStep, b, ldb, c, ldc, alpha, beta, bias); break;
            default: throw new ArgumentOutOfRangeException(nameof(rows), $"rows = {rows}: expected 1..{GemmMicroKernel.MR512}.");
        }
    }

    /// <summary>
    /// An R x NR tile (R = <typeparamref name="TRows"/>, at most 14; NR = two Vector512s) of C from kc columns of A in place
    /// (element (r, p) at a[r TRow + p aStep]) and kc rows of B in place (ldb apart): per p two loads of B and R broadcasts
    /// of A, 2 R FMA chains; the rows beyond R are compiled out (their conditions are constants to the JIT).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static void Kernel<T, TRow, TRows>(int kc, T* a, nint aStep, T* b, nint ldb, T* c, nint ldc, T alpha, T beta, GemmBias<T> bias)
        where T : unmanaged, IFloatingPointIeee754<T> where TRow : struct, IStride where TRows : struct, IStride
    {
        int w = Vector512<T>.Count;
        // No prefetch of the C tile (the packed kernel's): at k = 32 the tile is stored a few hundred cycles later, and the
        // products at k = 32 measured 3-7 % faster without it (at k = 256 and 1024 the same either way).
        Vector512<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default;
        Vector512<T> c70 = default, c71 = default, c80 = default, c81 = default, c90 = default, c91 = default, ca0 = default, ca1 = default, cb0 = default, cb1 = default, cc0 = default, cc1 = default, cd0 = default, cd1 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + w);
            var ai = Vector512.Create(a[0]);
            c00 = MultiplyAdd(ai, b0, c00); c01 = MultiplyAdd(ai, b1, c01);
            if (TRows.Value > 1) { ai = Vector512.Create(a[1 * TRow.Value]); c10 = MultiplyAdd(ai, b0, c10); c11 = MultiplyAdd(ai, b1, c11); }
            if (TRows.Value > 2) { ai = Vector512.Create(a[2 * TRow.Value]); c20 = MultiplyAdd(ai, b0, c20); c21 = MultiplyAdd(ai, b1, c21); }
            if (TRows.Value > 3) { ai = Vector512.Create(a[3 * TRow.Value]); c30 = MultiplyAdd(ai, b0, c30); c31 = MultiplyAdd(ai, b1, c31); }
            if (TRows.Value > 4) { ai = Vector512.Create(a[4 * TRow.Value]); c40 = MultiplyAdd(ai, b0, c40); c41 = MultiplyAdd(ai, b1, c41); }
            if (TRows.Value > 5) { ai = Vector512.Create(a[5 * TRow.Value]); c50 = MultiplyAdd(ai, b0, c50); c51 = MultiplyAdd(ai, b1, c51); }
            if (TRows.Value > 6) { ai = Vector512.Create(a[6 * TRow.Value]); c60 = MultiplyAdd(ai, b0, c60); c61 = MultiplyAdd(ai, b1, c61); }
            if (TRows.Value > 7) { ai = Vector512.Create(a[7 * TRow.Value]); c70 = MultiplyAdd(ai, b0, c70); c71 = MultiplyAdd(ai, b1, c71); }
            if (TRows.Value > 8) { ai = Vector512.Create(a[8 * TRow.Value]); c80 = MultiplyAdd(ai, b0, c80); c81 = MultiplyAdd(ai, b1, c81); }
            if (TRows.Value > 9) { ai = Vector512.Create(a[9 * TRow.Value]); c90 = MultiplyAdd(ai, b0, c90); c91 = MultiplyAdd(ai, b1, c91); }
            if (TRows.Value > 10) { ai = Vector512.Create(a[10 * TRow.Value]); ca0 = MultiplyAdd(ai, b0, ca0); ca1 = MultiplyAdd(ai, b1, ca1); }
            if (TRows.Value > 11) { ai = Vector512.Create(a[11 * TRow.Value]); cb0 = MultiplyAdd(ai, b0, cb0); cb1 = MultiplyAdd(ai, b1, cb1); }
            if (TRows.Value > 12) { ai = Vector512.Create(a[12 * TRow.Value]); cc0 = MultiplyAdd(ai, b0, cc0); cc1 = MultiplyAdd(ai, b1, cc1); }
            if (TRows.Value > 13) { ai = Vector512.Create(a[13 * TRow.Value]); cd0 = MultiplyAdd(ai, b0, cd0); cd1 = MultiplyAdd(ai, b1, cd1); }
            a += aStep;
            b += ldb;
        }
        var alphaV = Vector512.Create(alpha);
        var betaV = Vector512.Create(beta);
        Store(c + 0 * ldc, w, c00, c01, alphaV, beta, betaV, bias, 0);
        if (TRows.Value > 1) Store(c + 1 * ldc, w, c10, c11, alphaV, beta, betaV, bias, 1);
        if (TRows.Value > 2) Store(c + 2 * ldc, w, c20, c21, alphaV, beta, betaV, bias, 2);
        if (TRows.Value > 3) Store(c + 3 * ldc, w, c30, c31, alphaV, beta, betaV, bias, 3);
        if (TRows.Value > 4) Store(c + 4 * ldc, w, c40, c41, alphaV, beta, betaV, bias, 4);
        if (TRows.Value > 5) Store(c + 5 * ldc, w, c50, c51, alphaV, beta, betaV, bias, 5);
        if (TRows.Value > 6) Store(c + 6 * ldc, w, c60, c61, alphaV, beta, betaV, bias, 6);
        if (TRows.Value > 7) Store(c + 7 * ldc, w, c70, c71, alphaV, beta, betaV, bias, 7);
        if (TRows.Value > 8) Store(c + 8 * ldc, w, c80, c81, alphaV, beta, betaV, bias, 8);
        if (TRows.Value > 9) Store(c + 9 * ldc, w, c90, c91, alphaV, beta, betaV, bias, 9);
        if (TRows.Value > 10) Store(c + 10 * ldc, w, ca0, ca1, alphaV, beta, betaV, bias, 10);
        if (TRows.Value > 11) Store(c + 11 * ldc, w, cb0, cb1, alphaV, beta, betaV, bias, 11);
        if (TRows.Value > 12) Store(c + 12 * ldc, w, cc0, cc1, alphaV, beta, betaV, bias, 12);
        if (TRows.Value > 13) Store(c + 13 * ldc, w, cd0, cd1, alphaV, beta, betaV, bias, 13);
    }

    /// <summary>
    /// Row r of the tile: C = alpha acc (beta = 0, C not read), else alpha acc + beta init by one FMA, init = C's row, or the
    /// bias (bias[r] broadcast, or the bias's NR values): the packed kernel's own row stores (UpdateRow, StoreRow).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(T* c, int w, Vector512<T> lo, Vector512<T> hi, Vector512<T> alphaV, T beta, Vector512<T> betaV, GemmBias<T> bias, int r)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (beta == T.Zero)
        {
            (lo * alphaV).Store(c);
            (hi * alphaV).Store(c + w);
        }
        else if (bias.Values == null)
            UpdateRow(c, w, lo, hi, alphaV, betaV);
        else if (bias.PerRow)
            StoreRow(c, w, lo, hi, alphaV, Vector512.Create(bias.Values[r]) * betaV);
        else
            StoreRow(c, w, lo, hi, alphaV, Vector512.Load(bias.Values) * betaV, Vector512.Load(bias.Values + w) * betaV);
    }

    private struct Rows1 : IStride { public static int Value => 1; }
    private struct Rows2 : IStride { public static int Value => 2; }
    private struct Rows3 : IStride { public static int Value => 3; }
    private struct Rows4 : IStride { public static int Value => 4; }
    private struct Rows5 : IStride { public static int Value => 5; }
    private struct Rows6 : IStride { public static int Value => 6; }
    private struct Rows7 : IStride { public static int Value => 7; }
    private struct Rows8 : IStride { public static int Value => 8; }
    private struct Rows9 : IStride { public static int Value => 9; }
    private struct Rows10 : IStride { public static int Value => 10; }
    private struct Rows11 : IStride { public static int Value => 11; }
    private struct Rows12 : IStride { public static int Value => 12; }
    private struct Rows13 : IStride { public static int Value => 13; }
    private struct Rows14 : IStride { public static int Value => 14; }
}
