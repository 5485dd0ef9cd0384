using System.Numerics;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace Reference.Cuda.Kernels;

/// <summary>
/// Shapes and strides of one batched GEMM launch: out[z] (M x N) = alpha op(a[z]) op(b[z]) + beta c[z].
/// Element (i, p) of op(a) sits at a[z * ABatch + i * ARow + p * ACol] (so a transposed a is just
/// swapped strides), element (p, j) of op(b) at b[z * BBatch + p * BRow + j * BCol], out (i, j) at
/// c[z * CBatch + i * Ldc + j].
/// </summary>
internal readonly record struct GemmArgs(
    int M, int N, int K, int ARow, int ACol, int BRow, int BCol, int Ldc, long ABatch, long BBatch, long CBatch, int ReadC);

/// <summary>
/// Tiled shared-memory GEMM (the GPU form of <c>Reference.Core.Linear.FastGemm</c>'s packed blocking):
/// a block of 256 threads owns a 128 x 128 tile of the output, walks k in slices of 8, stages
/// op(a)[128 x 8] and op(b)[8 x 128] in shared memory, and each thread keeps an 8 x 8 register tile
/// (rows ty + 16 i, columns tx + 16 j: strided, so a warp's shared reads are two broadcast rows and
/// 16 consecutive columns, free of bank conflicts). The next k slice is fetched into registers while
/// the current one is multiplied (register double buffering), so global latency hides behind 512
/// FMAs per thread per slice.
/// <para>Two stagings of the same blocking: <see cref="Kernel{T}"/> (scalar shared reads; float64)
/// and <see cref="KernelVector{T}"/> (16-byte reads of 4 rows; float32, 4 % faster on the H200,
/// bench/NOTES.md). Accumulation order per output in both: p ascending in one running sum (like
/// FastGemm's microkernel inside one k block), then alpha acc + beta c.</para>
/// </summary>
internal static class GemmKernel
{
    public const int Tile = 128;
    public const int Slice = 8;
    public const int Threads = 256;

    /// <summary>Row stride of the staged a slice: 128 + 4 words, so the 8 k values of one row land in 8 different banks.</summary>
    private const int AStride = Tile + 4;

    public static KernelConfig Config(GemmArgs s, int batch) =>
        new(new Index3D((s.N + Tile - 1) / Tile, (s.M + Tile - 1) / Tile, batch), new Index3D(Threads, 1, 1));

    public static void Kernel<T>(ArrayView<T> a, ArrayView<T> b, ArrayView<T> c, GemmArgs s, T alpha, T beta)
        where T : unmanaged, INumber<T>
    {
        var sa = SharedMemory.Allocate<T>(Slice * AStride);
        var sb = SharedMemory.Allocate<T>(Slice * Tile);
        int tid = Group.IdxX, tx = tid & 15, ty = tid >> 4;
        int row0 = Grid.IdxY * Tile, col0 = Grid.IdxX * Tile;
        long aBase = Grid.IdxZ * s.ABatch, bBase = Grid.IdxZ * s.BBatch, cBase = Grid.IdxZ * s.CBatch;
        bool aAlongK = s.ACol == 1, bAlongN = s.BCol == 1;

        var acc0 = default(Row8<T>); var acc1 = default(Row8<T>); var acc2 = default(Row8<T>); var acc3 = default(Row8<T>);
        var acc4 = default(Row8<T>); var acc5 = default(Row8<T>); var acc6 = default(Row8<T>); var acc7 = default(Row8<T>);

        // Prefetch of the first slice: each thread carries 4 elements of a's slice and 4 of b's.
        var pa = new Row4<T>(LoadA(a, s, aBase, row0, 0, tid, aAlongK), LoadA(a, s, aBase, row0, 0, tid + 256, aAlongK),
            LoadA(a, s, aBase, row0, 0, tid + 512, aAlongK), LoadA(a, s, aBase, row0, 0, tid + 768, aAlongK));
        var pb = new Row4<T>(LoadB(b, s, bBase, col0, 0, tid, bAlongN), LoadB(b, s, bBase, col0, 0, tid + 256, bAlongN),
            LoadB(b, s, bBase, col0, 0, tid + 512, bAlongN), LoadB(b, s, bBase, col0, 0, tid + 768, bAlongN));

        for (int k0 = 0; k0 < s.K; k0 += Slice)
        {
            StoreA(sa, pa, tid, aAlongK);
            StoreB(sb, pb, tid, bAlongN);
            Group.Barrier();
            int next = k0 + Slice;
            if (next < s.K)
            {
                pa = new Row4<T>(LoadA(a, s, aBase, row0, next, tid, aAlongK), LoadA(a, s, aBase, row0, next, tid + 256, aAlongK),
                    LoadA(a, s, aBase, row0, next, tid + 512, aAlongK), LoadA(a, s, aBase, row0, next, tid + 768, aAlongK));
                pb = new Row4<T>(LoadB(b, s, bBase, col0, next, tid, bAlongN), LoadB(b, s, bBase, col0, next, tid + 256, bAlongN),
                    LoadB(b, s, bBase, col0, next, tid + 512, bAlongN), LoadB(b, s, bBase, col0, next, tid + 768, bAlongN));
            }
            for (int kk = 0; kk < Slice; kk++)
            {
                // Sub-views with constant offsets: the 16 shared reads become one base address plus
                // immediates (indexing with ar + 16 etc. costs a 64-bit multiply-add per read).
                var ar = sa.SubView(kk * AStride + ty);
                var br = sb.SubView(kk * Tile + tx);
                var bv = new Row8<T>(br[0], br[16], br[32], br[48], br[64], br[80], br[96], br[112]);
                acc0 = Row8<T>.Fma(acc0, ar[0], bv);
                acc1 = Row8<T>.Fma(acc1, ar[16], bv);
                acc2 = Row8<T>.Fma(acc2, ar[32], bv);
                acc3 = Row8<T>.Fma(acc3, ar[48], bv);
                acc4 = Row8<T>.Fma(acc4, ar[64], bv);
                acc5 = Row8<T>.Fma(acc5, ar[80], bv);
                acc6 = Row8<T>.Fma(acc6, ar[96], bv);
                acc7 = Row8<T>.Fma(acc7, ar[112], bv);
            }
            Group.Barrier();
        }

        StoreRow(c, s, cBase, row0 + ty, col0 + tx, acc0, alpha, beta);
        StoreRow(c, s, cBase, row0 + ty + 16, col0 + tx, acc1, alpha, beta);
        StoreRow(c, s, cBase, row0 + ty + 32, col0 + tx, acc2, alpha, beta);
        StoreRow(c, s, cBase, row0 + ty + 48, col0 + tx, acc3, alpha, beta);
        StoreRow(c, s, cBase, row0 + ty + 64, col0 + tx, acc4, alpha, beta);
        StoreRow(c, s, cBase, row0 + ty + 80, col0 + tx, acc5, alpha, beta);
        StoreRow(c, s, cBase, row0 + ty + 96, col0 + tx, acc6, alpha, beta);
        StoreRow(c, s, cBase, row0 + ty + 112, col0 + tx, acc7, alpha, beta);
    }

    /// <summary>
    /// The same blocking with the staged slices held as groups of 4 consecutive rows (columns), read
    /// as one 16-byte <see cref="Row4{T}"/> each (ILGPU emits <c>ld.shared.v4</c> for it): a thread
    /// owns rows 4 ty + 0..3 and 64 + 4 ty + 0..3 and the same pattern of columns, so a k step is 4
    /// vector reads for 64 FMAs instead of 16 scalar reads.
    /// </summary>
    public static void KernelVector<T>(ArrayView<T> a, ArrayView<T> b, ArrayView<T> c, GemmArgs s, T alpha, T beta)
        where T : unmanaged, INumber<T>
    {
        var sa = SharedMemory.Allocate<Row4<T>>(Slice * Tile / 4);
        var sb = SharedMemory.Allocate<Row4<T>>(Slice * Tile / 4);
        var saScalar = sa.Cast<T>();
        var sbScalar = sb.Cast<T>();
        int tid = Group.IdxX, tx = tid & 15, ty = tid >> 4;
        int row0 = Grid.IdxY * Tile, col0 = Grid.IdxX * Tile;
        long aBase = Grid.IdxZ * s.ABatch, bBase = Grid.IdxZ * s.BBatch, cBase = Grid.IdxZ * s.CBatch;
        bool aAlongK = s.ACol == 1, bAlongN = s.BCol == 1;

        var acc0 = default(Row8<T>); var acc1 = default(Row8<T>); var acc2 = default(Row8<T>); var acc3 = default(Row8<T>);
        var acc4 = default(Row8<T>); var acc5 = default(Row8<T>); var acc6 = default(Row8<T>); var acc7 = default(Row8<T>);
        var pa = new Row4<T>(LoadA(a, s, aBase, row0, 0, tid, aAlongK), LoadA(a, s, aBase, row0, 0, tid + 256, aAlongK),
            LoadA(a, s, aBase, row0, 0, tid + 512, aAlongK), LoadA(a, s, aBase, row0, 0, tid + 768, aAlongK));
        var pb = new Row4<T>(LoadB(b, s, bBase, col0, 0, tid, bAlongN), LoadB(b, s, bBase, col0, 0, tid + 256, bAlongN),
            LoadB(b, s, bBase, col0, 0, tid + 512, bAlongN), LoadB(b, s, bBase, col0, 0, tid + 768, bAlongN));

        for (int k0 = 0; k0 < s.K; k0 += Slice)
        {
            StoreVector(saScalar, pa, tid, aAlongK, true);
            StoreVector(sbScalar, pb, tid, bAlongN, false);
            Group.Barrier();
            int next = k0 + Slice;
            if (next < s.K)
            {
                pa = new Row4<T>(LoadA(a, s, aBase, row0, next, tid, aAlongK), LoadA(a, s, aBase, row0, next, tid + 256, aAlongK),
                    LoadA(a, s, aBase, row0, next, tid + 512, aAlongK), LoadA(a, s, aBase, row0, next, tid + 768, aAlongK));
                pb = new Row4<T>(LoadB(b, s, bBase, col0, next, tid, bAlongN), LoadB(b, s, bBase, col0, next, tid + 256, bAlongN),
                    LoadB(b, s, bBase, col0, next, tid + 512, bAlongN), LoadB(b, s, bBase, col0, next, tid + 768, bAlongN));
            }
            for (int kk = 0; kk < Slice; kk++)
            {
                var a0 = sa[kk * 32 + ty]; var a1 = sa[kk * 32 + 16 + ty];
                var b0 = sb[kk * 32 + tx]; var b1 = sb[kk * 32 + 16 + tx];
                var bv = new Row8<T>(b0.X0, b0.X1, b0.X2, b0.X3, b1.X0, b1.X1, b1.X2, b1.X3);
                acc0 = Row8<T>.Fma(acc0, a0.X0, bv);
                acc1 = Row8<T>.Fma(acc1, a0.X1, bv);
                acc2 = Row8<T>.Fma(acc2, a0.X2, bv);
                acc3 = Row8<T>.Fma(acc3, a0.X3, bv);
                acc4 = Row8<T>.Fma(acc4, a1.X0, bv);
                acc5 = Row8<T>.Fma(acc5, a1.X1, bv);
                acc6 = Row8<T>.Fma(acc6, a1.X2, bv);
                acc7 = Row8<T>.Fma(acc7, a1.X3, bv);
            }
            Group.Barrier();
        }

        int r = row0 + 4 * ty, j = col0 + 4 * tx;
        StoreQuads(c, s, cBase, r, j, acc0, alpha, beta);
        StoreQuads(c, s, cBase, r + 1, j, acc1, alpha, beta);
        StoreQuads(c, s, cBase, r + 2, j, acc2, alpha, beta);
        StoreQuads(c, s, cBase, r + 3, j, acc3, alpha, beta);
        StoreQuads(c, s, cBase, r + 64, j, acc4, alpha, beta);
        StoreQuads(c, s, cBase, r + 65, j, acc5, alpha, beta);
        StoreQuads(c, s, cBase, r + 66, j, acc6, alpha, beta);
        StoreQuads(c, s, cBase, r + 67, j, acc7, alpha, beta);
    }

    /// <summary>Row stride (in 4-element groups) of a staged slice in <see cref="KernelDoubleBuffered{T}"/>: 128 + 4 words.</summary>
    private const int PaddedQuads = (Tile + 4) / 4;

    /// <summary>Elements of one staged slice in <see cref="KernelDoubleBuffered{T}"/>.</summary>
    private const int PaddedSlice = Slice * (Tile + 4);

    /// <summary>
    /// <see cref="KernelVector{T}"/> with two shared buffers per operand and one barrier per k slice:
    /// slice k + 1's global loads are issued before slice k's FMAs and stored into the other buffer
    /// after them, then one barrier (the second buffer is what makes the barrier before the stores
    /// unnecessary: a buffer is written again only after every thread has passed the barrier that
    /// follows its last reads). Each staged k row is padded by 4 words (16 bytes, so the 16-byte reads
    /// stay aligned): the scalar stores of a k-contiguous a slice (8 threads per row, rows 0..3 of a
    /// warp at k 0..7) then hit 32 distinct banks instead of 4. Same accumulation order as
    /// <see cref="KernelVector{T}"/>.
    /// </summary>
    public static void KernelDoubleBuffered<T>(ArrayView<T> a, ArrayView<T> b, ArrayView<T> c, GemmArgs s, T alpha, T beta)
        where T : unmanaged, INumber<T>
    {
        var sa = SharedMemory.Allocate<Row4<T>>(2 * PaddedSlice / 4);
        var sb = SharedMemory.Allocate<Row4<T>>(2 * PaddedSlice / 4);
        var saScalar = sa.Cast<T>();
        var sbScalar = sb.Cast<T>();
        int tid = Group.IdxX, tx = tid & 15, ty = tid >> 4;
        int row0 = Grid.IdxY * Tile, col0 = Grid.IdxX * Tile;
        long aBase = Grid.IdxZ * s.ABatch, bBase = Grid.IdxZ * s.BBatch, cBase = Grid.IdxZ * s.CBatch;
        bool aAlongK = s.ACol == 1, bAlongN = s.BCol == 1;

        var acc0 = default(Row8<T>); var acc1 = default(Row8<T>); var acc2 = default(Row8<T>); var acc3 = default(Row8<T>);
        var acc4 = default(Row8<T>); var acc5 = default(Row8<T>); var acc6 = default(Row8<T>); var acc7 = default(Row8<T>);
        var pa = new Row4<T>(LoadA(a, s, aBase, row0, 0, tid, aAlongK), LoadA(a, s, aBase, row0, 0, tid + 256, aAlongK),
            LoadA(a, s, aBase, row0, 0, tid + 512, aAlongK), LoadA(a, s, aBase, row0, 0, tid + 768, aAlongK));
        var pb = new Row4<T>(LoadB(b, s, bBase, col0, 0, tid, bAlongN), LoadB(b, s, bBase, col0, 0, tid + 256, bAlongN),
            LoadB(b, s, bBase, col0, 0, tid + 512, bAlongN), LoadB(b, s, bBase, col0, 0, tid + 768, bAlongN));
        StorePadded(saScalar, pa, tid, aAlongK, true, 0);
        StorePadded(sbScalar, pb, tid, bAlongN, false, 0);
        Group.Barrier();

        int buffer = 0;
        for (int k0 = 0; k0 < s.K; k0 += Slice)
        {
            int next = k0 + Slice;
            if (next < s.K)
            {
                pa = new Row4<T>(LoadA(a, s, aBase, row0, next, tid, aAlongK), LoadA(a, s, aBase, row0, next, tid + 256, aAlongK),
                    LoadA(a, s, aBase, row0, next, tid + 512, aAlongK), LoadA(a, s, aBase, row0, next, tid + 768, aAlongK));
                pb = new Row4<T>(LoadB(b, s, bBase, col0, next, tid, bAlongN), LoadB(b, s, bBase, col0, next, tid + 256, bAlongN),
                    LoadB(b, s, bBase, col0, next, tid + 512, bAlongN), LoadB(b, s, bBase, col0, next, tid + 768, bAlongN));
            }
            var ra = sa.SubView(buffer * (PaddedSlice / 4));
            var rb = sb.SubView(buffer * (PaddedSlice / 4));
            for (int kk = 0; kk < Slice; kk++)
            {
                var a0 = ra[kk * PaddedQuads + ty]; var a1 = ra[kk * PaddedQuads + 16 + ty];
                var b0 = rb[kk * PaddedQuads + tx]; var b1 = rb[kk * PaddedQuads + 16 + tx];
                var bv = new Row8<T>(b0.X0, b0.X1, b0.X2, b0.X3, b1.X0, b1.X1, b1.X2, b1.X3);
                acc0 = Row8<T>.Fma(acc0, a0.X0, bv);
                acc1 = Row8<T>.Fma(acc1, a0.X1, bv);
                acc2 = Row8<T>.Fma(acc2, a0.X2, bv);
                acc3 = Row8<T>.Fma(acc3, a0.X3, bv);
                acc4 = Row8<T>.Fma(acc4, a1.X0, bv);
                acc5 = Row8<T>.Fma(acc5, a1.X1, bv);
                acc6 = Row8<T>.Fma(acc6, a1.X2, bv);
                acc7 = Row8<T>.Fma(acc7, a1.X3, bv);
            }
            buffer ^= 1;
            if (next < s.K)
            {
                StorePadded(saScalar, pa, tid, aAlongK, true, buffer);
                StorePadded(sbScalar, pb, tid, bAlongN, false, buffer);
            }
            Group.Barrier();
        }

        int r = row0 + 4 * ty, j = col0 + 4 * tx;
        StoreQuads(c, s, cBase, r, j, acc0, alpha, beta);
        StoreQuads(c, s, cBase, r + 1, j, acc1, alpha, beta);
        StoreQuads(c, s, cBase, r + 2, j, acc2, alpha, beta);
        StoreQuads(c, s, cBase, r + 3, j, acc3, alpha, beta);
        StoreQuads(c, s, cBase, r + 64, j, acc4, alpha, beta);
        StoreQuads(c, s, cBase, r + 65, j, acc5, alpha, beta);
        StoreQuads(c, s, cBase, r + 66, j, acc6, alpha, beta);
        StoreQuads(c, s, cBase, r + 67, j, acc7, alpha, beta);
    }

    private static void StorePadded<T>(ArrayView<T> target, Row4<T> v, int tid, bool along, bool isA, int buffer) where T : unmanaged, INumber<T>
    {
        int offset = buffer * PaddedSlice;
        StorePadded(target, v.X0, tid, along, isA, offset); StorePadded(target, v.X1, tid + 256, along, isA, offset);
        StorePadded(target, v.X2, tid + 512, along, isA, offset); StorePadded(target, v.X3, tid + 768, along, isA, offset);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StorePadded<T>(ArrayView<T> target, T v, int e, bool along, bool isA, int offset) where T : unmanaged, INumber<T>
    {
        int idx = isA ? (along ? e >> 3 : e & (Tile - 1)) : (along ? e & (Tile - 1) : e >> 3);
        int kk = isA ? (along ? e & 7 : e >> 7) : (along ? e >> 7 : e & 7);
        target[offset + kk * (Tile + 4) + idx] = v;
    }

    /// <summary>Stores the 4 prefetched elements of a slice (a: row-major [k][row]; b: [k][col]) as scalars into the vector layout.</summary>
    private static void StoreVector<T>(ArrayView<T> target, Row4<T> v, int tid, bool along, bool isA) where T : unmanaged, INumber<T>
    {
        StoreVector(target, v.X0, tid, along, isA); StoreVector(target, v.X1, tid + 256, along, isA);
        StoreVector(target, v.X2, tid + 512, along, isA); StoreVector(target, v.X3, tid + 768, along, isA);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreVector<T>(ArrayView<T> target, T v, int e, bool along, bool isA) where T : unmanaged, INumber<T>
    {
        // a: along = k contiguous (row = e >> 3); b: along = n contiguous (col = e & 127).
        int idx = isA ? (along ? e >> 3 : e & (Tile - 1)) : (along ? e & (Tile - 1) : e >> 3);
        int kk = isA ? (along ? e & 7 : e >> 7) : (along ? e >> 7 : e & 7);
        target[kk * Tile + idx] = v;
    }

    /// <summary>Row i of the output: columns j0 + 0..3 from X0..X3 and j0 + 64 + 0..3 from X4..X7.</summary>
    private static void StoreQuads<T>(ArrayView<T> c, GemmArgs s, long cBase, int i, int j0, Row8<T> acc, T alpha, T beta)
        where T : unmanaged, INumber<T>
    {
        if (i >= s.M) return;
        long rowBase = cBase + (long)i * s.Ldc;
        for (int q = 0; q < 8; q++)
        {
            int j = j0 + (q < 4 ? q : 60 + q);
            if (j >= s.N) continue;
            T value = alpha * acc.Get(q);
            if (s.ReadC != 0) value += beta * c[rowBase + j];
            c[rowBase + j] = value;
        }
    }

    /// <summary>
    /// Element e (0..1023) of the a slice: when a's k is contiguous, 8 consecutive threads read one
    /// row's 8 k values (one 32-byte sector); otherwise consecutive threads walk the rows. Zero outside.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T LoadA<T>(ArrayView<T> a, GemmArgs s, long aBase, int row0, int k0, int e, bool alongK)
        where T : unmanaged, INumber<T>
    {
        int r = alongK ? e >> 3 : e & (Tile - 1), kk = alongK ? e & 7 : e >> 7;
        int i = row0 + r, p = k0 + kk;
        return i < s.M && p < s.K ? a[aBase + (long)i * s.ARow + (long)p * s.ACol] : T.Zero;
    }

    private static void StoreA<T>(ArrayView<T> sa, Row4<T> v, int tid, bool alongK) where T : unmanaged, INumber<T>
    {
        StoreA(sa, v.X0, tid, alongK); StoreA(sa, v.X1, tid + 256, alongK);
        StoreA(sa, v.X2, tid + 512, alongK); StoreA(sa, v.X3, tid + 768, alongK);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreA<T>(ArrayView<T> sa, T v, int e, bool alongK) where T : unmanaged, INumber<T>
    {
        int r = alongK ? e >> 3 : e & (Tile - 1), kk = alongK ? e & 7 : e >> 7;
        sa[kk * AStride + r] = v;
    }

    /// <summary>Element e of the b slice: consecutive threads walk columns when b's n is contiguous, else k.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T LoadB<T>(ArrayView<T> b, GemmArgs s, long bBase, int col0, int k0, int e, bool alongN)
        where T : unmanaged, INumber<T>
    {
        int col = alongN ? e & (Tile - 1) : e >> 3, kk = alongN ? e >> 7 : e & 7;
        int j = col0 + col, p = k0 + kk;
        return j < s.N && p < s.K ? b[bBase + (long)p * s.BRow + (long)j * s.BCol] : T.Zero;
    }

    private static void StoreB<T>(ArrayView<T> sb, Row4<T> v, int tid, bool alongN) where T : unmanaged, INumber<T>
    {
        StoreB(sb, v.X0, tid, alongN); StoreB(sb, v.X1, tid + 256, alongN);
        StoreB(sb, v.X2, tid + 512, alongN); StoreB(sb, v.X3, tid + 768, alongN);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreB<T>(ArrayView<T> sb, T v, int e, bool alongN) where T : unmanaged, INumber<T>
    {
        int col = alongN ? e & (Tile - 1) : e >> 3, kk = alongN ? e >> 7 : e & 7;
        sb[kk * Tile + col] = v;
    }

    private static void StoreRow<T>(ArrayView<T> c, GemmArgs s, long cBase, int i, int j0, Row8<T> acc, T alpha, T beta)
        where T : unmanaged, INumber<T>
    {
        if (i >= s.M) return;
        long rowBase = cBase + (long)i * s.Ldc;
        for (int q = 0; q < 8; q++)
        {
            int j = j0 + 16 * q;
            if (j >= s.N) return;
            T value = alpha * acc.Get(q);
            if (s.ReadC != 0) value += beta * c[rowBase + j];
            c[rowBase + j] = value;
        }
    }
}
