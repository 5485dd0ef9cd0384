using System.Runtime.Intrinsics;
using Reference.Core.Kernels;

namespace Reference.Core.Linear;

/// <summary>
/// Packing of GEMM operands into the micro-kernel's layout (Goto and van de Geijn 2008, Sec. 6;
/// BLIS "packed micro-panels"). After packing, the micro-kernel reads both operands with unit
/// stride whatever the transposition and leading dimension of the stored matrices:
///   packed A: MR-tall micro-panels; panel q holds op(A)[ic + q MR + r, pc + p] at [q MR kc + p MR + r];
///   packed B: NR-wide micro-panels; panel q holds op(B)[pc + p, jc + q NR + j] at [q NR kc + p NR + j].
/// Rows (columns) past the edge of op(A) (op(B)) are zero, so edge tiles need no special kernel: the
/// padded lanes compute zeros that are never stored.
/// </summary>
internal static unsafe class GemmPacking
{
    /// <summary>
    /// Packs op(A)[ic:ic+mc, pc:pc+kc] (op(A)[i, p] = transA ? a[p lda + i] : a[i lda + p]) into p-major
    /// micro-panels (<paramref name="rowLength"/> = 0) or row-major ones whose rows hold rowLength
    /// elements (<see cref="GemmBlocking.ARowMajor"/>): panel q then holds op(A)[ic + q MR + r, pc + p]
    /// at [q MR rowLength + r rowLength + p].
    /// </summary>
    public static void PackA<T>(bool transA, T* a, nint lda, int ic, int pc, int mc, int kc, int mr, int rowLength, T* dest)
        where T : unmanaged
    {
        if (rowLength > 0)
        {
            PackARowMajor(transA, a, lda, ic, pc, mc, kc, mr, rowLength, dest);
            return;
        }
        for (int i0 = 0; i0 < mc; i0 += mr)
        {
            int rows = Math.Min(mr, mc - i0);
            T* panel = dest + (nint)i0 * kc;
            if (transA)
            {
                // Row p of the stored k x m matrix holds op(A)[:, p]: a contiguous run of `rows` values.
                T* src = a + (nint)pc * lda + ic + i0;
                for (int p = 0; p < kc; p++, src += lda)
                {
                    T* d = panel + (nint)p * mr;
                    int r = 0;
                    for (; r < rows; r++) d[r] = src[r];
                    for (; r < mr; r++) d[r] = default;
                }
            }
            else
            {
                // Rows of the stored m x k matrix are op(A) rows: read `rows` streams in step.
                T* src = a + (nint)(ic + i0) * lda + pc;
                if (rows == 6 && mr == 6)
                {
                    T* s0 = src, s1 = s0 + lda, s2 = s1 + lda, s3 = s2 + lda, s4 = s3 + lda, s5 = s4 + lda;
                    T* d = panel;
                    for (int p = 0; p < kc; p++, d += 6)
                    {
                        d[0] = s0[p]; d[1] = s1[p]; d[2] = s2[p]; d[3] = s3[p]; d[4] = s4[p]; d[5] = s5[p];
                    }
                }
                else
                {
                    // One stored row at a time: contiguous reads, stores with stride mr inside the panel
                    // (a few KB, in L1); rows past the edge are zero.
                    for (int r = 0; r < mr; r++)
                    {
                        T* d = panel + r;
                        if (r < rows)
                        {
                            T* s = src + r * lda;
                            for (int p = 0; p < kc; p++) d[(nint)p * mr] = s[p];
                        }
                        else
                        {
                            for (int p = 0; p < kc; p++) d[(nint)p * mr] = default;
                        }
                    }
                }
            }
        }
    }

    private static void PackARowMajor<T>(bool transA, T* a, nint lda, int ic, int pc, int mc, int kc, int mr, int rowLength, T* dest)
        where T : unmanaged
    {
        int rowsPadded = (mc + mr - 1) / mr * mr;
        if (!transA)
        {
            // Each row of the stored m x k matrix is a row of op(A): one contiguous copy (inline vectors:
            // rows are short, kc <= KC, and a library copy call per row cost more than the copy at k = 32).
            for (int i = 0; i < mc; i++) CopyRow(a + (nint)(ic + i) * lda + pc, dest + (nint)i * rowLength, kc);
        }
        else
        {
            // Row p of the stored k x m matrix holds op(A)[:, p]: the k x m block is transposed in W x W
            // register blocks (BlockTranspose, W = Vector256<T>.Count), W destination rows at a time so that
            // their lines stay in L1; the ragged edges element by element. (One strided store per value
            // across up to MC destination rows made this pack cost more than the product at n = 32.)
            T* src = a + (nint)pc * lda + ic;
            int w = Vector256<T>.Count, mFull = mc - mc % w, kFull = kc - kc % w;
            for (int i0 = 0; i0 < mFull; i0 += w)
            {
                for (int p0 = 0; p0 < kFull; p0 += w)
                    BlockTranspose.Square(ref src[(nint)p0 * lda + i0], lda, ref dest[(nint)i0 * rowLength + p0], rowLength);
                for (int p = kFull; p < kc; p++)
                    for (int i = i0; i < i0 + w; i++) dest[(nint)i * rowLength + p] = src[(nint)p * lda + i];
            }
            for (int i = mFull; i < mc; i++)
                for (int p = 0; p < kc; p++) dest[(nint)i * rowLength + p] = src[(nint)p * lda + i];
        }
        for (int i = mc; i < rowsPadded; i++) new Span<T>(dest + (nint)i * rowLength, kc).Clear();
    }

    /// <summary>dest[0..count) = src[0..count), Vector512 or Vector256 blocks then the tail.</summary>
    private static void CopyRow<T>(T* src, T* dest, int count) where T : unmanaged
    {
        int p = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; p + Vector512<T>.Count <= count; p += Vector512<T>.Count) Vector512.Store(Vector512.Load(src + p), dest + p);
        else if (Vector256.IsHardwareAccelerated)
            for (; p + Vector256<T>.Count <= count; p += Vector256<T>.Count) Vector256.Store(Vector256.Load(src + p), dest + p);
        for (; p < count; p++) dest[p] = src[p];
    }

    /// <summary>Rows of B per pass of <see cref="PackBRowBlocks{T}"/>.</summary>
    private const int PackBRows = 8;

    /// <summary>
    /// The full 2 W-wide micro-panels (W = Vector512 lanes) of an untransposed B, <paramref name="width"/> columns from
    /// <paramref name="src"/> = B[pc, jc]: PackBRows rows at a time across every panel, so that each source row is read
    /// front to back in one pass (its 4 KB at n = 1024 in sequence, which the hardware prefetchers follow) instead of
    /// 128 bytes of each of kc rows per panel (a new page per load, rows a page apart: a miss each from memory when B is
    /// cold). Measured about 1 point of the FMA peak at 1024^3 on one thread (bench/NOTES.md, gemm1t). Same values in the
    /// same places as the panel-by-panel copy.
    /// </summary>
    private static void PackBRowBlocks<T>(T* src, nint ldb, int kc, int width, T* dest) where T : unmanaged
    {
        int w = Vector512<T>.Count, nr = 2 * w;
        for (int p0 = 0; p0 < kc; p0 += PackBRows)
        {
            int rows = Math.Min(PackBRows, kc - p0);
            for (int j0 = 0; j0 < width; j0 += nr)
            {
                T* s = src + (nint)p0 * ldb + j0;
                T* d = dest + (nint)j0 * kc + (nint)p0 * nr;
                for (int p = 0; p < rows; p++, s += ldb, d += nr)
                {
                    Vector512.Store(Vector512.Load(s), d);
                    Vector512.Store(Vector512.Load(s + w), d + w);
                }
            }
        }
    }

    /// <summary>Packs op(B)[pc:pc+kc, jc:jc+nc] (op(B)[p, j] = transB ? b[j ldb + p] : b[p ldb + j]).</summary>
    public static void PackB<T>(bool transB, T* b, nint ldb, int pc, int jc, int kc, int nc, int nr, T* dest)
        where T : unmanaged
    {
        int first = 0;
        if (!transB && nr == 2 * Vector512<T>.Count)
        {
            first = nc - nc % nr;
            PackBRowBlocks(b + (nint)pc * ldb + jc, ldb, kc, first, dest);
        }
        for (int j0 = first; j0 < nc; j0 += nr)
        {
            int cols = Math.Min(nr, nc - j0);
            T* panel = dest + (nint)j0 * kc;
            if (!transB)
            {
                // Row p of B holds op(B)[p, :]: copy `cols` contiguous values per p (two vectors for a full panel).
                T* src = b + (nint)pc * ldb + jc + j0;
                if (cols == nr && nr == 2 * Vector256<T>.Count)
                {
                    int w = Vector256<T>.Count;
                    for (int p = 0; p < kc; p++, src += ldb)
                    {
                        T* d = panel + (nint)p * nr;
                        Vector256.Store(Vector256.Load(src), d);
                        Vector256.Store(Vector256.Load(src + w), d + w);
                    }
                }
                else
                {
                    for (int p = 0; p < kc; p++, src += ldb)
                    {
                        T* d = panel + (nint)p * nr;
                        int j = 0;
                        for (; j < cols; j++) d[j] = src[j];
                        for (; j < nr; j++) d[j] = default;
                    }
                }
            }
            else
            {
                // Row j of the stored n x k matrix is column j of op(B). A full panel is transposed in
                // W x W register blocks (as PackARowMajor's transposed case), the last kc % W rows and
                // partial panels element by element (scattered with stride nr).
                int w = Vector256<T>.Count;
                if (cols == nr && nr % w == 0)
                {
                    int kFull = kc - kc % w;
                    T* src0 = b + (nint)(jc + j0) * ldb + pc;
                    for (int j = 0; j < nr; j += w)
                    {
                        for (int p0 = 0; p0 < kFull; p0 += w)
                            BlockTranspose.Square(ref src0[(nint)j * ldb + p0], ldb, ref panel[(nint)p0 * nr + j], nr);
                        for (int p = kFull; p < kc; p++)
                            for (int jj = j; jj < j + w; jj++) panel[(nint)p * nr + jj] = src0[(nint)jj * ldb + p];
                    }
                    continue;
                }
                for (int j = 0; j < nr; j++)
                {
                    T* d = panel + j;
                    if (j < cols)
                    {
                        T* src = b + (nint)(jc + j0 + j) * ldb + pc;
                        for (int p = 0; p < kc; p++) d[(nint)p * nr] = src[p];
                    }
                    else
                    {
                        for (int p = 0; p < kc; p++) d[(nint)p * nr] = default;
                    }
                }
            }
        }
    }
}
