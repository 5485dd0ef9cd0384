using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.Autodiff;

/// <summary>
/// Fast tier of <see cref="Ops.Conv3d(Variable, Variable, Variable?, Conv3dGeometry)"/>: direct
/// convolution as an implicit GEMM. The three products of the im2col form (see <c>Conv3d.cs</c>)
///   forward:  Y[q, o]  = sum_t X_col[t, q] W[o, t]             (q = n P + position, t = (c, a, b, e))
///   weights:  dW[o, t] = sum_q G[q, o] X_col[t, q]
///   input:    dX_col[t, q] = sum_o W[o, t] G[q, o],  dx = col2im(dX_col)
/// are evaluated without materializing X_col: X_col[t, q] = xs[base[q] + delta[t]], where xs is the
/// input (or a zero-padded copy of it when the geometry pads), base[q] the offset of output q's window
/// origin and delta[t] the offset of tap t inside the window. Each register tile keeps 12
/// Vector256 accumulators, as the GEMM micro-kernel (Goto and van de Geijn 2008; BLIS):
///   forward: 6 positions x 8 output channels; per tap, 6 broadcast input values x 2 weight vectors;
///   weights: 6 taps x 8 output channels; per position, 6 broadcast input values x 2 cotangent vectors;
///   input:   6 positions x one spatial tap x 8 input channels; per output channel, 6 broadcast
///            cotangents x 2 weight vectors, then the 12 sums are added as vectors onto a channels-last
///            accumulator of the sample (the col2im scatter), which is transposed into dx at the end.
/// Channels are taken in blocks of 8 (two vectors; a partial block is padded with zero weights).
/// Vector512 path (chosen as TensorPrimitives does: Vector512 when it is hardware accelerated, else the
/// Vector256 path above, else the Naive tier): a block of 8 channels is one Vector512, so a tile of
/// 6 or 8 positions x 8 channels has only 6 or 8 accumulators, too few to hide the FMA latency; each
/// tile instead keeps two sets, one for the even and one for the odd reduction indices (taps in the
/// forward, output channels in the input gradient), each summed in index order, and adds the two sets
/// (even + odd) at the end. The forward tile is 8 positions x 8 channels, transposed in registers
/// and stored as 8 vectors of 8 positions when its positions lie in one sample (the sums and the bias
/// addition rounded as in the scalar scatter, so the values do not depend on the tile's store). The
/// weight gradient's tile is taps x 8 channels with one accumulator per tap, each summed over the
/// positions in order as on the Vector256 path: 27 taps (one input channel's 3 x 3 x 3 window) for
/// 3 x 3 x 3 kernels, else 9 taps (27 and 216 taps are whole tiles); the tile size does not change the
/// values. The bias gradient sums each contiguous channel row of G (TensorPrimitives.Sum) per sample,
/// or per chunk segment in the weight-only backward, in sample (segment, then chunk) order.
/// Deterministic and independent of the thread count. Why not im2col + GEMM: with the decoders' 1..8
/// input and 8 output channels the column matrix is 27..216 times the input, written once and read a few times for 16 flops per element, so
/// it is bandwidth and allocation bound; here only the input itself is streamed (from cache: a window
/// is reused by every tap) and nothing proportional to the column matrix is allocated. The offsets
/// are cached per geometry (<see cref="Conv3dOffsets"/>); scratch (packed weights, the transposed
/// cotangent, the padded copy, the channels-last accumulator) comes from per-thread pools.
/// Threads: work is cut into fixed items (position chunks; samples for the scatter, whose windows
/// overlap only within a sample; position chunks with one partial dW each, summed in chunk order), so
/// results do not depend on the thread count; they run with ParallelItems.ForContiguous, so on a quiet
/// machine each thread takes the same samples in every call (and in the fused BatchNorm tail between
/// the convolutions), reading tensors it wrote itself. Without FMA the Naive tier runs instead.
/// </summary>
public static partial class Ops
{
    private const int ConvChannelBlock = 8;

    /// <summary>
    /// Products below this many multiply-adds run on the calling thread (2^17: the decoder's last
    /// convolution, 2.2e5 multiply-adds per product at batch 64, runs on every kernel thread; run on one,
    /// its ~90 us backward kept the other threads waiting).
    /// </summary>
    private const long ConvParallelMacs = 1L << 17;

    private static bool Conv3dDirectAvailable => Fma.IsSupported;

    /// <summary>Whether the tiles run on Vector512 (a JIT-time constant, as in TensorPrimitives).</summary>
    private static bool Conv3dVector512 => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary>
    /// Offsets of the implicit column matrix of one convolution geometry, read-only once made and shared
    /// through a small cache (<see cref="For"/>): a training loop calls the same few geometries every
    /// step, and rebuilding the position offsets on every call was ~3 % of the 3D-CNN decoder's step,
    /// serial work during which the other kernel threads waited.
    /// </summary>
    private sealed class Conv3dOffsets
    {
        private readonly record struct Key(int N, int Cin, int D, int H, int W, int Kd, int Kh, int Kw, int Sd, int Sh, int Sw,
            int Pd, int Ph, int Pw, int PdAfter, int PhAfter, int PwAfter, int PositionMultiple, int TapMultiple);

        /// <summary>Geometries kept (forward and backward of a few layers at a couple of batch sizes); the oldest is replaced.</summary>
        private const int CacheSize = 16;
        private static readonly Conv3dOffsets?[] Cache = new Conv3dOffsets?[CacheSize];
        private static int cacheNext;
        private static readonly object CacheGate = new();

        /// <summary>The offsets of <paramref name="p"/>'s geometry (shared and read-only: never write to them).</summary>
        public static Conv3dOffsets For(Conv3dPlan p, int positionMultiple, int tapMultiple)
        {
            var key = new Key(p.N, p.Cin, p.D, p.H, p.W, p.Kd, p.Kh, p.Kw, p.Sd, p.Sh, p.Sw, p.Pd, p.Ph, p.Pw, p.PdAfter, p.PhAfter, p.PwAfter,
                positionMultiple, tapMultiple);
            lock (CacheGate)
                foreach (var kept in Cache)
                    if (kept is not null && kept.key == key) return kept;
            var made = new Conv3dOffsets(p, positionMultiple, tapMultiple, key);
            lock (CacheGate)
            {
                Cache[cacheNext] = made;
                cacheNext = (cacheNext + 1) % CacheSize;
            }
            return made;
        }

        private Conv3dOffsets(Conv3dPlan p, int positionMultiple, int tapMultiple, Key key)
        {
            this.key = key;
            Dp = p.D + p.Pd + p.PdAfter; Hp = p.H + p.Ph + p.PhAfter; Wp = p.W + p.Pw + p.PwAfter;
            Vp = Dp * Hp * Wp;
            Positions = p.N * p.OutVolume;
            // One tile of slack past the rounded end: a tile of the scatter kernel starts at any
            // position (tiles restart at each sample) and reads its full width.
            PaddedPositions = RoundUp(Positions, positionMultiple) + positionMultiple;
            Taps = p.Taps;
            PaddedTaps = RoundUp(Taps, tapMultiple);
            var b = Base = new int[PaddedPositions];
            int q = 0;
            for (int n = 0; n < p.N; n++)
                for (int z = 0; z < p.Do; z++)
                    for (int u = 0; u < p.Ho; u++)
                    {
                        int row = n * p.Cin * Vp + (z * p.Sd * Hp + u * p.Sh) * Wp;
                        for (int v = 0; v < p.Wo; v++) b[q++] = row + v * p.Sw;
                    }
            var d = Delta = new int[PaddedTaps];
            int t = 0;
            for (int c = 0; c < p.Cin; c++)
                for (int a = 0; a < p.Kd; a++)
                    for (int bb = 0; bb < p.Kh; bb++)
                        for (int e = 0; e < p.Kw; e++) d[t++] = c * Vp + (a * Hp + bb) * Wp + e;
        }

        private readonly Key key;

        /// <summary>Sizes of the (padded) source volume.</summary>
        public readonly int Dp, Hp, Wp, Vp;

        public readonly int Positions, PaddedPositions, Taps, PaddedTaps;

        /// <summary>base[q]: offset of output q's window origin in the source (0 past the last position, up to <see cref="PaddedPositions"/>).</summary>
        public readonly int[] Base;

        /// <summary>delta[t]: offset of tap t = (c, a, b, e) from the window origin (0 past the last tap).</summary>
        public readonly int[] Delta;
    }

    /// <summary>A zero tensor allocated as the tape's other results are (<see cref="Empty(int[])"/>), then cleared.</summary>
    private static Tensor<double> ZerosFor(int[] shape)
    {
        var t = Empty(shape);
        Array.Clear(t.Data);
        return t;
    }

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;

    private static bool Conv3dPads(Conv3dPlan p) => p.Pd + p.PdAfter + p.Ph + p.PhAfter + p.Pw + p.PwAfter > 0;

    /// <summary>xs = x with the geometry's zero padding, in a pooled array (only called when the geometry pads).</summary>
    private static PooledArray<double> Conv3dPadded(Conv3dPlan p, Conv3dOffsets off, double[] x)
    {
        var xp = PooledArray<double>.Rent(p.N * p.Cin * off.Vp);
        Array.Clear(xp.Data, 0, p.N * p.Cin * off.Vp);
        for (int nc = 0; nc < p.N * p.Cin; nc++)
            for (int i = 0; i < p.D; i++)
                for (int j = 0; j < p.H; j++)
                    x.AsSpan((nc * p.D + i) * p.H * p.W + j * p.W, p.W)
                        .CopyTo(xp.Data.AsSpan(nc * off.Vp + ((i + p.Pd) * off.Hp + j + p.Ph) * off.Wp + p.Pw));
        return xp;
    }

    private static int ConvThreads(Conv3dPlan p) => (long)p.N * p.OutVolume * p.Taps * p.Cout < ConvParallelMacs ? 1 : KernelThreads.Default;

    private static Tensor<double> Conv3dFastForward(Conv3dPlan p, double[] x, double[] w, double[]? bias)
    {
        var y = Empty(p.YShape);
        var off = Conv3dOffsets.For(p, DirectForward.Rows, 1);
        if (off.Positions == 0) return y;
        int blocks = (p.Cout + ConvChannelBlock - 1) / ConvChannelBlock;
        // Packed weights: block b, tap t -> the 8 output channels b*8.. of tap t (zero past Cout).
        var wp = PooledArray<double>.Rent(blocks * off.Taps * ConvChannelBlock);
        for (int b = 0; b < blocks; b++)
            for (int t = 0; t < off.Taps; t++)
                for (int j = 0; j < ConvChannelBlock; j++)
                {
                    int o = b * ConvChannelBlock + j;
                    wp.Data[(b * off.Taps + t) * ConvChannelBlock + j] = o < p.Cout ? w[o * off.Taps + t] : 0.0;
                }
        var xp = Conv3dPads(p) ? Conv3dPadded(p, off, x) : null;
        var body = new DirectForward(p, off, xp?.Data ?? x, wp.Data, bias, y.Data, blocks);
        ParallelItems.ForContiguous(body.Items, ConvThreads(p), body);
        PooledArray<double>.Return(wp);
        if (xp is not null) PooledArray<double>.Return(xp);
        return y;
    }

    private static (Tensor<double>? Gx, Tensor<double>? Gw, Tensor<double>? Gb) Conv3dFastBackward(Conv3dPlan p, double[] x, double[] w, double[] g,
        bool needX, bool needW, bool needB)
    {
        // gx: every element is written by its sample's transpose below (zeroed here only when there is no product).
        Tensor<double>? gx = needX ? Empty(p.XShape) : null;
        Tensor<double>? gw = needW ? ZerosFor(p.WShape) : null;
        Tensor<double>? gb = needB ? ZerosFor([p.Cout]) : null;
        int P = p.OutVolume;
        if ((gx is null && gw is null) || p.N * P == 0 || p.Taps == 0)
        {
            if (gb is not null)
                for (int n = 0; n < p.N; n++)
                    for (int o = 0; o < p.Cout; o++) gb.Data[o] += TensorPrimitives.Sum<double>(g.AsSpan((n * p.Cout + o) * P, P));
            if (gx is not null) Array.Clear(gx.Data);
            return (gx, gw, gb);
        }

        var off = Conv3dOffsets.For(p, DirectInput.Rows, DirectWeights.TapsPerTile(p));
        int blocks = (p.Cout + ConvChannelBlock - 1) / ConvChannelBlock, cPad = blocks * ConvChannelBlock;
        // Without dx (a first layer, whose input is data) each weight-gradient chunk transposes its own
        // cotangent rows into an in-cache scratch and sums its bias rows; with dx the whole cotangent
        // is transposed once, as the input gradient reads it too.
        bool chunkLocal = gx is null;
        PooledArray<double>? gt = null;
        if (!chunkLocal)
        {
            // The cotangent as [position, channel] rows (channels padded to whole blocks with zeros),
            // sample by sample on the kernel threads (contiguous ranges, as the input gradient's items
            // after it; on the caller alone this was serial time in which the helper waited); the bias
            // gradient sums the sample's contiguous channel rows of g while they are in cache
            // (TensorPrimitives.Sum), added here in sample order, as without a product above.
            gt = PooledArray<double>.Rent(off.PaddedPositions * cPad);
            var sums = gb is null ? null : PooledArray<double>.Rent(p.N * p.Cout);
            ParallelItems.ForContiguous(p.N, ConvThreads(p), new CotangentTranspose(g, gt.Data, p.Cout, P, cPad, sums?.Data));
            Array.Clear(gt.Data, p.N * P * cPad, (off.PaddedPositions - p.N * P) * cPad);
            if (sums is not null)
            {
                for (int n = 0; n < p.N; n++)
                    for (int o = 0; o < p.Cout; o++) gb!.Data[o] += sums.Data[n * p.Cout + o];
                PooledArray<double>.Return(sums);
            }
        }
        bool pads = Conv3dPads(p);
        int threads = ConvThreads(p);
        if (gw is not null)
        {
            var xp = pads ? Conv3dPadded(p, off, x) : null;
            var body = new DirectWeights(off, xp?.Data ?? x, gt?.Data, cPad, DirectWeights.TapsPerTile(p)) { G = g, Cout = p.Cout, OutVolume = P };
            var partial = PooledArray<double>.Rent(body.Chunks * off.PaddedTaps * cPad);
            body.Partial = partial.Data;
            if (chunkLocal && gb is not null) body.BiasPartial = new double[body.Chunks * cPad];
            ParallelItems.ForContiguous(body.Items, threads, body);
            // Sum the chunks' partial products in chunk order (independent of the thread count).
            for (int c = 0; c < body.Chunks; c++)
                for (int o = 0; o < p.Cout; o++)
                    for (int t = 0; t < off.Taps; t++) gw.Data[o * off.Taps + t] += partial.Data[(c * off.PaddedTaps + t) * cPad + o];
            if (body.BiasPartial is not null)
                for (int c = 0; c < body.Chunks; c++)
                    for (int o = 0; o < p.Cout; o++) gb!.Data[o] += body.BiasPartial[c * cPad + o];
            PooledArray<double>.Return(partial);
            if (xp is not null) PooledArray<double>.Return(xp);
        }
        if (gx is not null)
        {
            // Weights as [input channel block, spatial tap, output channel, 8 input channels] (zero past Cin).
            int k3 = p.WindowTaps, cinBlocks = (p.Cin + ConvChannelBlock - 1) / ConvChannelBlock;
            var wcl = PooledArray<double>.Rent(cinBlocks * k3 * p.Cout * ConvChannelBlock);
            for (int cb = 0; cb < cinBlocks; cb++)
                for (int st = 0; st < k3; st++)
                    for (int o = 0; o < p.Cout; o++)
                        for (int j = 0; j < ConvChannelBlock; j++)
                        {
                            int ci = cb * ConvChannelBlock + j;
                            wcl.Data[((cb * k3 + st) * p.Cout + o) * ConvChannelBlock + j] = ci < p.Cin ? w[o * off.Taps + ci * k3 + st] : 0.0;
                        }
            ParallelItems.ForContiguous(p.N, threads, new DirectInput(p, off, wcl.Data, gt!.Data, cPad, gx.Data));
            PooledArray<double>.Return(wcl);
        }
        if (gt is not null) PooledArray<double>.Return(gt);
        return (gx, gw, gb);
    }

    /// <summary>
    /// The 8 x 8 block r0..r7 (row i = r_i) transposed in registers (r_j[i] = old r_i[j]): pairs within
    /// 128-bit lanes, then pairs of pairs, then halves (8 + 16 two-source permutes).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(ref Vector512<double> r0, ref Vector512<double> r1, ref Vector512<double> r2, ref Vector512<double> r3,
        ref Vector512<double> r4, ref Vector512<double> r5, ref Vector512<double> r6, ref Vector512<double> r7)
    {
        var t0 = Avx512F.UnpackLow(r0, r1); var t1 = Avx512F.UnpackHigh(r0, r1);
        var t2 = Avx512F.UnpackLow(r2, r3); var t3 = Avx512F.UnpackHigh(r2, r3);
        var t4 = Avx512F.UnpackLow(r4, r5); var t5 = Avx512F.UnpackHigh(r4, r5);
        var t6 = Avx512F.UnpackLow(r6, r7); var t7 = Avx512F.UnpackHigh(r6, r7);
        var pairsLow = Vector512.Create(0L, 1, 8, 9, 4, 5, 12, 13);
        var pairsHigh = Vector512.Create(2L, 3, 10, 11, 6, 7, 14, 15);
        var u0 = Avx512F.PermuteVar8x64x2(t0, pairsLow, t2); var u2 = Avx512F.PermuteVar8x64x2(t0, pairsHigh, t2);
        var u1 = Avx512F.PermuteVar8x64x2(t1, pairsLow, t3); var u3 = Avx512F.PermuteVar8x64x2(t1, pairsHigh, t3);
        var u4 = Avx512F.PermuteVar8x64x2(t4, pairsLow, t6); var u6 = Avx512F.PermuteVar8x64x2(t4, pairsHigh, t6);
        var u5 = Avx512F.PermuteVar8x64x2(t5, pairsLow, t7); var u7 = Avx512F.PermuteVar8x64x2(t5, pairsHigh, t7);
        var halvesLow = Vector512.Create(0L, 1, 2, 3, 8, 9, 10, 11);
        var halvesHigh = Vector512.Create(4L, 5, 6, 7, 12, 13, 14, 15);
        r0 = Avx512F.PermuteVar8x64x2(u0, halvesLow, u4); r4 = Avx512F.PermuteVar8x64x2(u0, halvesHigh, u4);
        r1 = Avx512F.PermuteVar8x64x2(u1, halvesLow, u5); r5 = Avx512F.PermuteVar8x64x2(u1, halvesHigh, u5);
        r2 = Avx512F.PermuteVar8x64x2(u2, halvesLow, u6); r6 = Avx512F.PermuteVar8x64x2(u2, halvesHigh, u6);
        r3 = Avx512F.PermuteVar8x64x2(u3, halvesLow, u7); r7 = Avx512F.PermuteVar8x64x2(u3, halvesHigh, u7);
    }

    /// <summary>
    /// dst[j * ldDst + i] = src[i * ldSrc + j] for i &lt; rows, j &lt; cols: the [rows, cols] block src as
    /// columns of dst (rows ldDst apart), in 8 x 8 Vector512 register blocks (<see cref="Transpose8x8"/>)
    /// on the Vector512 path when rows is 8 (the decoders' 8 channels), else 4 x 4 blocks
    /// (<see cref="BlockTranspose"/>), with scalar edges.
    /// </summary>
    private static void TransposeRows(ReadOnlySpan<double> src, int rows, int cols, int ldSrc, Span<double> dst, int ldDst)
    {
        if (rows > 0 && cols > 0) _ = src[(rows - 1) * ldSrc + cols - 1] + dst[(cols - 1) * ldDst + rows - 1];
        const int B = 4;
        ref double s0 = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(src);
        ref double d0 = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(dst);
        if (Conv3dVector512 && rows == ConvChannelBlock)
        {
            int j = 0;
            for (; j + 8 <= cols; j += 8)
            {
                var r0 = Vector512.LoadUnsafe(ref s0, (nuint)j);
                var r1 = Vector512.LoadUnsafe(ref s0, (nuint)(ldSrc + j));
                var r2 = Vector512.LoadUnsafe(ref s0, (nuint)(2 * ldSrc + j));
                var r3 = Vector512.LoadUnsafe(ref s0, (nuint)(3 * ldSrc + j));
                var r4 = Vector512.LoadUnsafe(ref s0, (nuint)(4 * ldSrc + j));
                var r5 = Vector512.LoadUnsafe(ref s0, (nuint)(5 * ldSrc + j));
                var r6 = Vector512.LoadUnsafe(ref s0, (nuint)(6 * ldSrc + j));
                var r7 = Vector512.LoadUnsafe(ref s0, (nuint)(7 * ldSrc + j));
                Transpose8x8(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
                r0.StoreUnsafe(ref d0, (nuint)(j * ldDst)); r1.StoreUnsafe(ref d0, (nuint)((j + 1) * ldDst));
                r2.StoreUnsafe(ref d0, (nuint)((j + 2) * ldDst)); r3.StoreUnsafe(ref d0, (nuint)((j + 3) * ldDst));
                r4.StoreUnsafe(ref d0, (nuint)((j + 4) * ldDst)); r5.StoreUnsafe(ref d0, (nuint)((j + 5) * ldDst));
                r6.StoreUnsafe(ref d0, (nuint)((j + 6) * ldDst)); r7.StoreUnsafe(ref d0, (nuint)((j + 7) * ldDst));
            }
            for (; j < cols; j++)
                for (int r = 0; r < rows; r++) dst[j * ldDst + r] = src[r * ldSrc + j];
            return;
        }
        int i = 0;
        for (; i + B <= rows; i += B)
        {
            int j = 0;
            for (; j + B <= cols; j += B)
                BlockTranspose.Square(ref Unsafe.Add(ref s0, (nint)i * ldSrc + j), ldSrc, ref Unsafe.Add(ref d0, (nint)j * ldDst + i), ldDst);
            for (; j < cols; j++)
                for (int r = i; r < i + B; r++) dst[j * ldDst + r] = src[r * ldSrc + j];
        }
        for (; i < rows; i++)
            for (int j = 0; j < cols; j++) dst[j * ldDst + i] = src[i * ldSrc + j];
    }

    /// <summary>
    /// Item n: sample n's cotangent rows g[n] [Cout, P] as [position, channel] rows of gt (channels padded to
    /// cPad with zeros), and, with <paramref name="sums"/>, the sum of each of its channel rows
    /// (TensorPrimitives.Sum, while the rows are in cache) into sums[n Cout + o].
    /// </summary>
    private sealed class CotangentTranspose(double[] g, double[] gt, int cout, int P, int cPad, double[]? sums) : IParallelBody
    {
        public void Run(int n)
        {
            var dst = gt.AsSpan(n * P * cPad, P * cPad);
            if (cPad > cout) dst.Clear();
            TransposeRows(g.AsSpan(n * cout * P, cout * P), cout, P, P, dst, cPad);
            if (sums is not null)
                for (int o = 0; o < cout; o++) sums[n * cout + o] = TensorPrimitives.Sum<double>(g.AsSpan((n * cout + o) * P, P));
        }
    }

    /// <summary>Forward tiles: 8 (Vector512) or 6 (Vector256) positions x 8 output channels, items of <see cref="TilesPerItem"/> tiles.</summary>
    private sealed unsafe class DirectForward(Conv3dPlan p, Conv3dOffsets off, double[] xs, double[] wp, double[]? bias, double[] y, int blocks) : IParallelBody
    {
        /// <summary>Positions per tile: 8 on the Vector512 path (the 8 x 8 tile is transposed in registers and stored as 8 vectors), 6 on the Vector256 path.</summary>
        public static int Rows => Conv3dVector512 ? 8 : 6;
        private const int MaxRows = 8;
        private const int TilesPerItem = 16;

        public int Items => ((off.Positions + Rows - 1) / Rows + TilesPerItem - 1) / TilesPerItem;

        /// <summary>
        /// tile[r, j] = sum_t x[bases[r] + delta[t]] w[t, j] for 6 rows r and 8 channels j. A method of
        /// its own so that the loop's few live pointers stay in registers (inlined into the tile walk,
        /// the JIT spilled and reloaded them on every tap).
        /// </summary>
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private static void ForwardTile(double* x, int* bases, int* delta, int taps, double* w, double* tile)
        {
            double* x0 = x + bases[0], x1 = x + bases[1], x2 = x + bases[2], x3 = x + bases[3], x4 = x + bases[4], x5 = x + bases[5];
            Vector256<double> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
            Vector256<double> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
            for (int* dp = delta, end = delta + taps; dp < end; dp++, w += ConvChannelBlock)
            {
                nint d = *dp;
                var w0 = Vector256.Load(w);
                var w1 = Vector256.Load(w + 4);
                var a = Vector256.Create(x0[d]);
                c00 = Fma.MultiplyAdd(a, w0, c00); c01 = Fma.MultiplyAdd(a, w1, c01);
                a = Vector256.Create(x1[d]);
                c10 = Fma.MultiplyAdd(a, w0, c10); c11 = Fma.MultiplyAdd(a, w1, c11);
                a = Vector256.Create(x2[d]);
                c20 = Fma.MultiplyAdd(a, w0, c20); c21 = Fma.MultiplyAdd(a, w1, c21);
                a = Vector256.Create(x3[d]);
                c30 = Fma.MultiplyAdd(a, w0, c30); c31 = Fma.MultiplyAdd(a, w1, c31);
                a = Vector256.Create(x4[d]);
                c40 = Fma.MultiplyAdd(a, w0, c40); c41 = Fma.MultiplyAdd(a, w1, c41);
                a = Vector256.Create(x5[d]);
                c50 = Fma.MultiplyAdd(a, w0, c50); c51 = Fma.MultiplyAdd(a, w1, c51);
            }
            c00.Store(tile); c01.Store(tile + 4); c10.Store(tile + 8); c11.Store(tile + 12);
            c20.Store(tile + 16); c21.Store(tile + 20); c30.Store(tile + 24); c31.Store(tile + 28);
            c40.Store(tile + 32); c41.Store(tile + 36); c50.Store(tile + 40); c51.Store(tile + 44);
        }

        /// <summary>
        /// <see cref="ForwardTile"/> on Vector512 for 8 positions (one vector = the 8 channels):
        /// accumulators e[r] over the even taps and o[r] over the odd taps, sum[r] = e[r] + o[r]. Without
        /// <paramref name="y"/>, tile[r, j] = sum[r][j]; with it (8 positions of one sample, 8 channels),
        /// the 8 x 8 block is transposed in registers and y[j P + r] = sum[r][j] (+ bias[j]) stored as 8
        /// vectors (each value rounded as in the scalar scatter: the sum, plus the bias once).
        /// </summary>
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private static void ForwardTile512(double* x, int* bases, int* delta, int taps, double* w, double* tile, double* y, nint P, double* bias)
        {
            double* x0 = x + bases[0], x1 = x + bases[1], x2 = x + bases[2], x3 = x + bases[3];
            double* x4 = x + bases[4], x5 = x + bases[5], x6 = x + bases[6], x7 = x + bases[7];
            Vector512<double> e0 = default, e1 = default, e2 = default, e3 = default, e4 = default, e5 = default, e6 = default, e7 = default;
            Vector512<double> o0 = default, o1 = default, o2 = default, o3 = default, o4 = default, o5 = default, o6 = default, o7 = default;
            int* dp = delta;
            for (int* end = delta + (taps & ~1); dp < end; dp += 2, w += 2 * ConvChannelBlock)
            {
                nint d = dp[0], dOdd = dp[1];
                var we = Vector512.Load(w);
                var wo = Vector512.Load(w + ConvChannelBlock);
                e0 = Avx512F.FusedMultiplyAdd(Vector512.Create(x0[d]), we, e0); o0 = Avx512F.FusedMultiplyAdd(Vector512.Create(x0[dOdd]), wo, o0);
                e1 = Avx512F.FusedMultiplyAdd(Vector512.Create(x1[d]), we, e1); o1 = Avx512F.FusedMultiplyAdd(Vector512.Create(x1[dOdd]), wo, o1);
                e2 = Avx512F.FusedMultiplyAdd(Vector512.Create(x2[d]), we, e2); o2 = Avx512F.FusedMultiplyAdd(Vector512.Create(x2[dOdd]), wo, o2);
                e3 = Avx512F.FusedMultiplyAdd(Vector512.Create(x3[d]), we, e3); o3 = Avx512F.FusedMultiplyAdd(Vector512.Create(x3[dOdd]), wo, o3);
                e4 = Avx512F.FusedMultiplyAdd(Vector512.Create(x4[d]), we, e4); o4 = Avx512F.FusedMultiplyAdd(Vector512.Create(x4[dOdd]), wo, o4);
                e5 = Avx512F.FusedMultiplyAdd(Vector512.Create(x5[d]), we, e5); o5 = Avx512F.FusedMultiplyAdd(Vector512.Create(x5[dOdd]), wo, o5);
                e6 = Avx512F.FusedMultiplyAdd(Vector512.Create(x6[d]), we, e6); o6 = Avx512F.FusedMultiplyAdd(Vector512.Create(x6[dOdd]), wo, o6);
                e7 = Avx512F.FusedMultiplyAdd(Vector512.Create(x7[d]), we, e7); o7 = Avx512F.FusedMultiplyAdd(Vector512.Create(x7[dOdd]), wo, o7);
            }
            if ((taps & 1) != 0)
            {
                nint d = *dp;
                var we = Vector512.Load(w);
                e0 = Avx512F.FusedMultiplyAdd(Vector512.Create(x0[d]), we, e0); e1 = Avx512F.FusedMultiplyAdd(Vector512.Create(x1[d]), we, e1);
                e2 = Avx512F.FusedMultiplyAdd(Vector512.Create(x2[d]), we, e2); e3 = Avx512F.FusedMultiplyAdd(Vector512.Create(x3[d]), we, e3);
                e4 = Avx512F.FusedMultiplyAdd(Vector512.Create(x4[d]), we, e4); e5 = Avx512F.FusedMultiplyAdd(Vector512.Create(x5[d]), we, e5);
                e6 = Avx512F.FusedMultiplyAdd(Vector512.Create(x6[d]), we, e6); e7 = Avx512F.FusedMultiplyAdd(Vector512.Create(x7[d]), we, e7);
            }
            e0 += o0; e1 += o1; e2 += o2; e3 += o3; e4 += o4; e5 += o5; e6 += o6; e7 += o7;
            if (y is null)
            {
                e0.Store(tile); e1.Store(tile + 8); e2.Store(tile + 16); e3.Store(tile + 24);
                e4.Store(tile + 32); e5.Store(tile + 40); e6.Store(tile + 48); e7.Store(tile + 56);
                return;
            }
            // 8 x 8 transpose: rows = positions -> rows = channels.
            Transpose8x8(ref e0, ref e1, ref e2, ref e3, ref e4, ref e5, ref e6, ref e7);
            if (bias is not null)
            {
                e0 += Vector512.Create(bias[0]); e1 += Vector512.Create(bias[1]); e2 += Vector512.Create(bias[2]); e3 += Vector512.Create(bias[3]);
                e4 += Vector512.Create(bias[4]); e5 += Vector512.Create(bias[5]); e6 += Vector512.Create(bias[6]); e7 += Vector512.Create(bias[7]);
            }
            e0.Store(y); e1.Store(y + P); e2.Store(y + 2 * P); e3.Store(y + 3 * P);
            e4.Store(y + 4 * P); e5.Store(y + 5 * P); e6.Store(y + 6 * P); e7.Store(y + 7 * P);
        }

        /// <summary>y[j P + r] = tile[r, j] (+ bias[o0 + j]) for 6 rows r and 8 channels j (each sum rounded once, as the general scatter).</summary>
        private static void StoreTileColumns(double* tile, double* y, int P, double[]? bias, int o0)
        {
            for (int j = 0; j < ConvChannelBlock; j++, y += P, tile++)
            {
                if (bias is null)
                {
                    y[0] = tile[0]; y[1] = tile[8]; y[2] = tile[16]; y[3] = tile[24]; y[4] = tile[32]; y[5] = tile[40];
                }
                else
                {
                    double bj = bias[o0 + j];
                    y[0] = tile[0] + bj; y[1] = tile[8] + bj; y[2] = tile[16] + bj; y[3] = tile[24] + bj; y[4] = tile[32] + bj; y[5] = tile[40] + bj;
                }
            }
        }

        public void Run(int item)
        {
            int taps = off.Taps, P = p.OutVolume, cout = p.Cout, rows = Rows;
            int first = item * TilesPerItem * rows, last = Math.Min(off.Positions, first + TilesPerItem * rows);
            double* tile = stackalloc double[MaxRows * ConvChannelBlock];
            fixed (double* x = xs, wpk = wp, yd = y, bd = bias)
            fixed (int* baseP = off.Base, delta = off.Delta)
                // (n0, pos0): sample and position of the tile's first row, advanced without division.
                for (int q0 = first, n0 = first / P, pos0 = first - first / P * P; q0 < last; q0 += rows)
                {
                    for (int b = 0; b < blocks; b++)
                    {
                        // The common tile: whole rows of positions of one sample, 8 channels.
                        int channels = Math.Min(ConvChannelBlock, cout - b * ConvChannelBlock);
                        bool common = channels == ConvChannelBlock && pos0 + rows <= P;
                        double* yTile = yd + ((nint)n0 * cout + b * ConvChannelBlock) * P + pos0;
                        if (Conv3dVector512)
                        {
                            // Common tiles are stored (transposed) by the kernel itself.
                            ForwardTile512(x, baseP + q0, delta, taps, wpk + (nint)b * taps * ConvChannelBlock, tile,
                                common ? yTile : null, P, bias is null ? null : bd + b * ConvChannelBlock);
                            if (common) continue;
                        }
                        else
                        {
                            ForwardTile(x, baseP + q0, delta, taps, wpk + (nint)b * taps * ConvChannelBlock, tile);
                            if (common)
                            {
                                // 6 contiguous stores per channel.
                                StoreTileColumns(tile, yTile, P, bias, b * ConvChannelBlock);
                                continue;
                            }
                        }
                        // Scatter the tile to y[n, o, position] (a tile's positions may straddle samples).
                        for (int r = 0, n = n0, pos = pos0; r < rows && q0 + r < off.Positions; r++, pos++)
                        {
                            while (pos >= P) { pos -= P; n++; }
                            double* yq = yd + ((nint)n * cout + b * ConvChannelBlock) * P + pos;
                            for (int j = 0; j < channels; j++)
                                yq[(nint)j * P] = bias is null ? tile[r * ConvChannelBlock + j] : tile[r * ConvChannelBlock + j] + bias[b * ConvChannelBlock + j];
                        }
                    }
                    for (pos0 += rows; pos0 >= P; n0++) pos0 -= P;
                }
        }
    }

    /// <summary>
    /// Weight-gradient tiles: <see cref="TapsPerTile"/> taps x 8 output channels summed over a chunk of
    /// positions; item = (chunk, tap tile, channel block), each chunk writes its own partial dW.
    /// </summary>
    private sealed unsafe class DirectWeights(Conv3dOffsets off, double[] xs, double[]? gt, int cPad, int Rows) : IParallelBody
    {
        /// <summary>
        /// Taps per tile: on the Vector512 path 27 for 3 x 3 x 3 kernels (a tile = one input channel's
        /// window, addressed by three planes of three rows of three consecutive taps, so no per-tap
        /// offsets occupy registers), else 9 (27 and 216 taps are whole tiles); 6 on the Vector256 path.
        /// </summary>
        public static int TapsPerTile(Conv3dPlan p) => !Conv3dVector512 ? 6 : p.Kd == 3 && p.Kh == 3 && p.Kw == 3 ? 27 : 9;
        private const int ChunkPositions = 2048;

        public double[] Partial = [];

        /// <summary>Chunk-local mode (no gt): the cotangent [N, Cout, P], and the chunks' bias sums [chunk, cPad] when wanted.</summary>
        public double[] G = [];
        public int Cout, OutVolume;
        public double[]? BiasPartial;

        public int Chunks => (off.Positions + ChunkPositions - 1) / ChunkPositions;

        private int TapTiles => (off.Taps + Rows - 1) / Rows;

        /// <summary>(chunk, tap tile, channel block) items on the shared gt; whole chunks in chunk-local mode.</summary>
        public int Items => gt is null ? Chunks : Chunks * TapTiles * (cPad / ConvChannelBlock);

        public void Run(int item)
        {
            if (gt is null)
            {
                RunChunk(item);
                return;
            }
            int blocks = cPad / ConvChannelBlock;
            int b = item % blocks, rest = item / blocks, tt = rest % TapTiles, chunk = rest / TapTiles;
            int first = chunk * ChunkPositions, last = Math.Min(off.Positions, first + ChunkPositions);
            fixed (double* x = xs, g = gt, part = Partial)
            fixed (int* baseP = off.Base, delta = off.Delta)
            {
                int t0 = tt * Rows;
                // Partial[chunk, tap, channel]: rows t0.. of this chunk's dW^T.
                Tile(x, baseP + first, last - first, g + (nint)first * cPad + b * ConvChannelBlock, delta + t0,
                    part + ((nint)chunk * off.PaddedTaps + t0) * cPad + b * ConvChannelBlock);
            }
        }

        /// <summary>dst[r, j] = sum_q x[bases[q] + delta[r]] g[q, j] for the tile's Rows taps r and 8 channels j, positions in order.</summary>
        private void Tile(double* x, int* bases, int count, double* g, int* delta, double* dst)
        {
            if (Rows == 27) WeightsTile27(x + delta[0], bases, count, g, cPad, off.Hp * off.Wp, off.Wp, dst);
            else if (Conv3dVector512) WeightsTile512(x, bases, count, g, cPad, delta, dst);
            else WeightsTile(x, bases, count, g, cPad, delta, dst);
        }

        /// <summary>One chunk on its own: its cotangent rows transposed into a per-thread scratch (L2), its bias sums, then every tap tile and channel block.</summary>
        private void RunChunk(int chunk)
        {
            int first = chunk * ChunkPositions, last = Math.Min(off.Positions, first + ChunkPositions), count = last - first;
            var rows = PooledArray<double>.Rent(count * cPad);
            if (cPad > Cout) Array.Clear(rows.Data, 0, count * cPad);
            for (int q = first; q < last;)
            {
                int n = q / OutVolume, pos = q - n * OutVolume, length = Math.Min(last - q, OutVolume - pos);
                TransposeRows(G.AsSpan(n * Cout * OutVolume + pos), Cout, length, OutVolume, rows.Data.AsSpan((q - first) * cPad, length * cPad), cPad);
                // The bias sums: the segment's contiguous channel rows of G (in cache), segments in order.
                if (BiasPartial is not null)
                    for (int o = 0; o < Cout; o++)
                        BiasPartial[chunk * cPad + o] += TensorPrimitives.Sum<double>(G.AsSpan((n * Cout + o) * OutVolume + pos, length));
                q += length;
            }
            fixed (double* x = xs, g = rows.Data, part = Partial)
            fixed (int* baseP = off.Base, delta = off.Delta)
                for (int t0 = 0; t0 < off.Taps; t0 += Rows)
                    for (int b = 0; b < cPad / ConvChannelBlock; b++)
                        Tile(x, baseP + first, count, g + b * ConvChannelBlock, delta + t0,
                            part + ((nint)chunk * off.PaddedTaps + t0) * cPad + b * ConvChannelBlock);
            PooledArray<double>.Return(rows);
        }

        /// <summary>dst[r, j] = sum_q x[bases[q] + delta[r]] g[q, j] for 6 taps r, 8 channels j, q &lt; count (rows of dst cPad apart).</summary>
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private static void WeightsTile(double* x, int* bases, int count, double* g, nint cPad, int* delta, double* dst)
        {
            nint d0 = delta[0], d1 = delta[1], d2 = delta[2], d3 = delta[3], d4 = delta[4], d5 = delta[5];
            Vector256<double> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
            Vector256<double> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
            for (int* bp = bases, end = bases + count; bp < end; bp++, g += cPad)
            {
                double* xq = x + *bp;
                var g0 = Vector256.Load(g);
                var g1 = Vector256.Load(g + 4);
                var a = Vector256.Create(xq[d0]);
                c00 = Fma.MultiplyAdd(a, g0, c00); c01 = Fma.MultiplyAdd(a, g1, c01);
                a = Vector256.Create(xq[d1]);
                c10 = Fma.MultiplyAdd(a, g0, c10); c11 = Fma.MultiplyAdd(a, g1, c11);
                a = Vector256.Create(xq[d2]);
                c20 = Fma.MultiplyAdd(a, g0, c20); c21 = Fma.MultiplyAdd(a, g1, c21);
                a = Vector256.Create(xq[d3]);
                c30 = Fma.MultiplyAdd(a, g0, c30); c31 = Fma.MultiplyAdd(a, g1, c31);
                a = Vector256.Create(xq[d4]);
                c40 = Fma.MultiplyAdd(a, g0, c40); c41 = Fma.MultiplyAdd(a, g1, c41);
                a = Vector256.Create(xq[d5]);
                c50 = Fma.MultiplyAdd(a, g0, c50); c51 = Fma.MultiplyAdd(a, g1, c51);
            }
            c00.Store(dst); c01.Store(dst + 4); dst += cPad;
            c10.Store(dst); c11.Store(dst + 4); dst += cPad;
            c20.Store(dst); c21.Store(dst + 4); dst += cPad;
            c30.Store(dst); c31.Store(dst + 4); dst += cPad;
            c40.Store(dst); c41.Store(dst + 4); dst += cPad;
            c50.Store(dst); c51.Store(dst + 4);
        }

        /// <summary>
        /// dst[r, j] = sum_q x[bases[q] + r'] g[q, j] for the 27 taps r = (a, b, e) of a 3 x 3 x 3 window,
        /// r' = (a Hp + b) Wp + e (x already offset to the tile's channel), 8 channels j, on Vector512:
        /// 27 accumulators, each summed in position order as in <see cref="WeightsTile512"/> (so the
        /// same values as three 9-tap tiles), but the cotangent vector and the window origin are loaded
        /// once per position for 27 FMAs instead of 9.
        /// </summary>
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private static void WeightsTile27(double* x, int* bases, int count, double* g, nint cPad, nint hw, nint wp, double* dst)
        {
            Vector512<double> c000 = default, c001 = default, c002 = default, c010 = default, c011 = default, c012 = default, c020 = default, c021 = default, c022 = default;
            Vector512<double> c100 = default, c101 = default, c102 = default, c110 = default, c111 = default, c112 = default, c120 = default, c121 = default, c122 = default;
            Vector512<double> c200 = default, c201 = default, c202 = default, c210 = default, c211 = default, c212 = default, c220 = default, c221 = default, c222 = default;
            nint w2 = 2 * wp;
            for (int* bp = bases, end = bases + count; bp < end; bp++, g += cPad)
            {
                double* plane = x + *bp;
                var gq = Vector512.Load(g);
                double* r = plane;
                c000 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[0]), gq, c000); c001 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[1]), gq, c001); c002 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[2]), gq, c002);
                r = plane + wp;
                c010 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[0]), gq, c010); c011 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[1]), gq, c011); c012 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[2]), gq, c012);
                r = plane + w2;
                c020 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[0]), gq, c020); c021 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[1]), gq, c021); c022 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[2]), gq, c022);
                plane += hw; r = plane;
                c100 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[0]), gq, c100); c101 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[1]), gq, c101); c102 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[2]), gq, c102);
                r = plane + wp;
                c110 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[0]), gq, c110); c111 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[1]), gq, c111); c112 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[2]), gq, c112);
                r = plane + w2;
                c120 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[0]), gq, c120); c121 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[1]), gq, c121); c122 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[2]), gq, c122);
                plane += hw; r = plane;
                c200 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[0]), gq, c200); c201 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[1]), gq, c201); c202 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[2]), gq, c202);
                r = plane + wp;
                c210 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[0]), gq, c210); c211 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[1]), gq, c211); c212 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[2]), gq, c212);
                r = plane + w2;
                c220 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[0]), gq, c220); c221 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[1]), gq, c221); c222 = Avx512F.FusedMultiplyAdd(Vector512.Create(r[2]), gq, c222);
            }
            c000.Store(dst); dst += cPad; c001.Store(dst); dst += cPad; c002.Store(dst); dst += cPad; c010.Store(dst); dst += cPad; c011.Store(dst); dst += cPad; c012.Store(dst); dst += cPad; c020.Store(dst); dst += cPad; c021.Store(dst); dst += cPad; c022.Store(dst); dst += cPad;
            c100.Store(dst); dst += cPad; c101.Store(dst); dst += cPad; c102.Store(dst); dst += cPad; c110.Store(dst); dst += cPad; c111.Store(dst); dst += cPad; c112.Store(dst); dst += cPad; c120.Store(dst); dst += cPad; c121.Store(dst); dst += cPad; c122.Store(dst); dst += cPad;
            c200.Store(dst); dst += cPad; c201.Store(dst); dst += cPad; c202.Store(dst); dst += cPad; c210.Store(dst); dst += cPad; c211.Store(dst); dst += cPad; c212.Store(dst); dst += cPad; c220.Store(dst); dst += cPad; c221.Store(dst); dst += cPad; c222.Store(dst);
        }

        /// <summary>
        /// dst[r, j] = sum_q x[bases[q] + delta[r]] g[q, j] for 9 taps r and 8 channels j on Vector512
        /// (one vector = the 8 channels; 9 accumulators, each summed in position order as in <see cref="WeightsTile"/>).
        /// </summary>
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private static void WeightsTile512(double* x, int* bases, int count, double* g, nint cPad, int* delta, double* dst)
        {
            nint d0 = delta[0], d1 = delta[1], d2 = delta[2], d3 = delta[3], d4 = delta[4], d5 = delta[5], d6 = delta[6], d7 = delta[7], d8 = delta[8];
            Vector512<double> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default, c8 = default;
            for (int* bp = bases, end = bases + count; bp < end; bp++, g += cPad)
            {
                double* xq = x + *bp;
                var gq = Vector512.Load(g);
                c0 = Avx512F.FusedMultiplyAdd(Vector512.Create(xq[d0]), gq, c0);
                c1 = Avx512F.FusedMultiplyAdd(Vector512.Create(xq[d1]), gq, c1);
                c2 = Avx512F.FusedMultiplyAdd(Vector512.Create(xq[d2]), gq, c2);
                c3 = Avx512F.FusedMultiplyAdd(Vector512.Create(xq[d3]), gq, c3);
                c4 = Avx512F.FusedMultiplyAdd(Vector512.Create(xq[d4]), gq, c4);
                c5 = Avx512F.FusedMultiplyAdd(Vector512.Create(xq[d5]), gq, c5);
                c6 = Avx512F.FusedMultiplyAdd(Vector512.Create(xq[d6]), gq, c6);
                c7 = Avx512F.FusedMultiplyAdd(Vector512.Create(xq[d7]), gq, c7);
                c8 = Avx512F.FusedMultiplyAdd(Vector512.Create(xq[d8]), gq, c8);
            }
            c0.Store(dst); dst += cPad; c1.Store(dst); dst += cPad; c2.Store(dst); dst += cPad;
            c3.Store(dst); dst += cPad; c4.Store(dst); dst += cPad; c5.Store(dst); dst += cPad;
            c6.Store(dst); dst += cPad; c7.Store(dst); dst += cPad; c8.Store(dst);
        }
    }

    /// <summary>
    /// Input gradient, one sample per item (windows of different samples never overlap), accumulated
    /// channels last: acc[voxel, c] of the (padded) sample volume, c in blocks of 8, in a per-thread
    /// scratch that stays in cache. A tile is 6 positions x one spatial tap (a, b, e) x 8 input
    /// channels: per output channel o, 6 broadcast cotangents G[q, o] x 2 weight vectors W[o, c.., a, b, e],
    /// and the 12 sums are added onto acc at (origin(q) + delta(a, b, e), c..) as 12 vector adds (the
    /// col2im scatter, a whole vector per add instead of one scalar per tap). Then acc is transposed
    /// (and cropped of the padding) into the sample's dx [Cin, D, H, W], writing every element once.
    /// </summary>
    private sealed unsafe class DirectInput(Conv3dPlan p, Conv3dOffsets off, double[] wcl, double[] gt, int cPad, double[] gxs) : IParallelBody
    {
        public const int Rows = 6;

        /// <summary>
        /// For every spatial tap st &lt; k3: d_r[delta[st] cl + (0..8)] += sum_o g[o, r] w[st, o, 0..8) for 6
        /// rows r (g packed as cout groups of 6, w as k3 x cout rows of 8). One call per tile and channel
        /// block: the tap loop is inside, so the six destinations stay in registers and the call's cost
        /// is spread over k3 taps; the packed g is read with constant offsets (no stride registers).
        /// </summary>
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private static void InputTile(double* g, double* w, int cout, int* delta, int k3, nint cl,
            double* d0, double* d1, double* d2, double* d3, double* d4, double* d5)
        {
            for (int* dp = delta, dEnd = delta + k3; dp < dEnd; dp++)
            {
                Vector256<double> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
                Vector256<double> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
                for (double* gp = g, end = g + (nint)cout * Rows; gp < end; gp += Rows, w += ConvChannelBlock)
                {
                    var w0 = Vector256.Load(w);
                    var w1 = Vector256.Load(w + 4);
                    var a = Vector256.Create(gp[0]);
                    c00 = Fma.MultiplyAdd(a, w0, c00); c01 = Fma.MultiplyAdd(a, w1, c01);
                    a = Vector256.Create(gp[1]);
                    c10 = Fma.MultiplyAdd(a, w0, c10); c11 = Fma.MultiplyAdd(a, w1, c11);
                    a = Vector256.Create(gp[2]);
                    c20 = Fma.MultiplyAdd(a, w0, c20); c21 = Fma.MultiplyAdd(a, w1, c21);
                    a = Vector256.Create(gp[3]);
                    c30 = Fma.MultiplyAdd(a, w0, c30); c31 = Fma.MultiplyAdd(a, w1, c31);
                    a = Vector256.Create(gp[4]);
                    c40 = Fma.MultiplyAdd(a, w0, c40); c41 = Fma.MultiplyAdd(a, w1, c41);
                    a = Vector256.Create(gp[5]);
                    c50 = Fma.MultiplyAdd(a, w0, c50); c51 = Fma.MultiplyAdd(a, w1, c51);
                }
                nint o = *dp * cl;
                double* t = d0 + o; (Vector256.Load(t) + c00).Store(t); (Vector256.Load(t + 4) + c01).Store(t + 4);
                t = d1 + o; (Vector256.Load(t) + c10).Store(t); (Vector256.Load(t + 4) + c11).Store(t + 4);
                t = d2 + o; (Vector256.Load(t) + c20).Store(t); (Vector256.Load(t + 4) + c21).Store(t + 4);
                t = d3 + o; (Vector256.Load(t) + c30).Store(t); (Vector256.Load(t + 4) + c31).Store(t + 4);
                t = d4 + o; (Vector256.Load(t) + c40).Store(t); (Vector256.Load(t + 4) + c41).Store(t + 4);
                t = d5 + o; (Vector256.Load(t) + c50).Store(t); (Vector256.Load(t + 4) + c51).Store(t + 4);
            }
        }

        /// <summary>
        /// <see cref="InputTile"/> on Vector512 (one vector = the 8 input channels): per spatial tap,
        /// accumulators e[r] over the even output channels and o[r] over the odd ones, then
        /// d_r += e[r] + o[r].
        /// </summary>
        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private static void InputTile512(double* g, double* w, int cout, int* delta, int k3, nint cl,
            double* d0, double* d1, double* d2, double* d3, double* d4, double* d5)
        {
            for (int* dp = delta, dEnd = delta + k3; dp < dEnd; dp++)
            {
                Vector512<double> e0 = default, e1 = default, e2 = default, e3 = default, e4 = default, e5 = default;
                Vector512<double> o0 = default, o1 = default, o2 = default, o3 = default, o4 = default, o5 = default;
                double* gp = g;
                for (double* end = g + (nint)(cout & ~1) * Rows; gp < end; gp += 2 * Rows, w += 2 * ConvChannelBlock)
                {
                    var we = Vector512.Load(w);
                    var wo = Vector512.Load(w + ConvChannelBlock);
                    e0 = Avx512F.FusedMultiplyAdd(Vector512.Create(gp[0]), we, e0); o0 = Avx512F.FusedMultiplyAdd(Vector512.Create(gp[Rows]), wo, o0);
                    e1 = Avx512F.FusedMultiplyAdd(Vector512.Create(gp[1]), we, e1); o1 = Avx512F.FusedMultiplyAdd(Vector512.Create(gp[Rows + 1]), wo, o1);
                    e2 = Avx512F.FusedMultiplyAdd(Vector512.Create(gp[2]), we, e2); o2 = Avx512F.FusedMultiplyAdd(Vector512.Create(gp[Rows + 2]), wo, o2);
                    e3 = Avx512F.FusedMultiplyAdd(Vector512.Create(gp[3]), we, e3); o3 = Avx512F.FusedMultiplyAdd(Vector512.Create(gp[Rows + 3]), wo, o3);
                    e4 = Avx512F.FusedMultiplyAdd(Vector512.Create(gp[4]), we, e4); o4 = Avx512F.FusedMultiplyAdd(Vector512.Create(gp[Rows + 4]), wo, o4);
                    e5 = Avx512F.FusedMultiplyAdd(Vector512.Create(gp[5]), we, e5); o5 = Avx512F.FusedMultiplyAdd(Vector512.Create(gp[Rows + 5]), wo, o5);
                }
                if ((cout & 1) != 0)
                {
                    var we = Vector512.Load(w);
                    e0 = Avx512F.FusedMultiplyAdd(Vector512.Create(gp[0]), we, e0); e1 = Avx512F.FusedMultiplyAdd(Vector512.Create(gp[1]), we, e1);
                    e2 = Avx512F.FusedMultiplyAdd(Vector512.Create(gp[2]), we, e2); e3 = Avx512F.FusedMultiplyAdd(Vector512.Create(gp[3]), we, e3);
                    e4 = Avx512F.FusedMultiplyAdd(Vector512.Create(gp[4]), we, e4); e5 = Avx512F.FusedMultiplyAdd(Vector512.Create(gp[5]), we, e5);
                    w += ConvChannelBlock;
                }
                nint o = *dp * cl;
                double* t = d0 + o; (Vector512.Load(t) + (e0 + o0)).Store(t);
                t = d1 + o; (Vector512.Load(t) + (e1 + o1)).Store(t);
                t = d2 + o; (Vector512.Load(t) + (e2 + o2)).Store(t);
                t = d3 + o; (Vector512.Load(t) + (e3 + o3)).Store(t);
                t = d4 + o; (Vector512.Load(t) + (e4 + o4)).Store(t);
                t = d5 + o; (Vector512.Load(t) + (e5 + o5)).Store(t);
            }
        }

        public void Run(int n)
        {
            int P = p.OutVolume, k3 = p.WindowTaps, cout = p.Cout, cin = p.Cin;
            int cinBlocks = (cin + ConvChannelBlock - 1) / ConvChannelBlock, cl = cinBlocks * ConvChannelBlock;
            int accLength = off.Vp * cl;
            // The sample's accumulator, then a junk volume of the same size that a partial tile's missing rows add into.
            var accArray = PooledArray<double>.Rent(2 * accLength);
            Array.Clear(accArray.Data, 0, accLength);
            double* rows = stackalloc double[Rows * cout];
            double** d = stackalloc double*[Rows];
            int sampleBase = n * cin * off.Vp;
            fixed (double* w = wcl, g = gt, acc = accArray.Data, gx = gxs)
            fixed (int* baseP = off.Base, delta = off.Delta)
            {
                for (int q0 = n * P; q0 < (n + 1) * P; q0 += Rows)
                {
                    int count = Math.Min(Rows, (n + 1) * P - q0);
                    // The tile's cotangents packed as [o, r] (missing rows: zeros, added into the junk volume).
                    for (int o = 0; o < cout; o++)
                        for (int r = 0; r < Rows; r++) rows[o * Rows + r] = r < count ? g[(nint)(q0 + r) * cPad + o] : 0.0;
                    for (int cb = 0; cb < cinBlocks; cb++)
                    {
                        // Window origins in the sample's padded volume (in voxels: the offsets' channel-0 part), channel block cb.
                        for (int r = 0; r < Rows; r++)
                            d[r] = (r < count ? acc + (nint)(baseP[q0 + r] - sampleBase) * cl : acc + accLength) + cb * ConvChannelBlock;
                        // delta[st] for st < k3 is the spatial offset of tap (a, b, e) of channel 0.
                        if (Conv3dVector512)
                            InputTile512(rows, w + (nint)cb * k3 * cout * ConvChannelBlock, cout, delta, k3, cl, d[0], d[1], d[2], d[3], d[4], d[5]);
                        else
                            InputTile(rows, w + (nint)cb * k3 * cout * ConvChannelBlock, cout, delta, k3, cl, d[0], d[1], d[2], d[3], d[4], d[5]);
                    }
                }
                // dx[n, c, i, j, l] = acc[((i + Pd) Hp + j + Ph) Wp + l + Pw, c], in 4 x 4 blocks (voxels x channels).
                int volume = p.D * p.H * p.W;
                for (int i = 0; i < p.D; i++)
                    for (int j = 0; j < p.H; j++)
                    {
                        double* src = acc + (nint)((i + p.Pd) * off.Hp + j + p.Ph) * off.Wp * cl + (nint)p.Pw * cl;
                        double* dst = gx + (nint)n * cin * volume + (nint)(i * p.H + j) * p.W;
                        int c = 0;
                        for (; c + 4 <= cin; c += 4)
                        {
                            int l = 0;
                            for (; l + 4 <= p.W; l += 4)
                                BlockTranspose.Square(ref src[(nint)l * cl + c], cl, ref dst[(nint)c * volume + l], volume);
                            for (; l < p.W; l++)
                                for (int cc = c; cc < c + 4; cc++) dst[(nint)cc * volume + l] = src[(nint)l * cl + cc];
                        }
                        for (; c < cin; c++)
                            for (int l = 0; l < p.W; l++) dst[(nint)c * volume + l] = src[(nint)l * cl + c];
                    }
            }
            PooledArray<double>.Return(accArray);
        }
    }
}
