using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Reference.Core.Linear;

/// <summary>Which micro-kernel (and so which panel layout) a product runs with.</summary>
internal enum GemmKernel
{
    /// <summary>Separate multiply and add on the Vector256 kernel's layout (no AVX+FMA, e.g. DOTNET_EnableAVX2=0).</summary>
    Scalar,

    /// <summary>6 x 2 Vector256 tile, 12 ymm accumulators (AVX + FMA).</summary>
    Vector256,

    /// <summary>14 x 2 Vector512 tile, 28 zmm accumulators (AVX-512F, where the JIT accelerates Vector512).</summary>
    Vector512,
}

/// <summary>
/// Register tile (MR x NR) and cache blocks (MC x KC packed A, KC x NC packed B) of one kernel and
/// element type. The packing, the macro-kernel and the thread schedule read every size from here.
/// </summary>
/// <param name="MR">Rows of the register tile.</param>
/// <param name="NR">Columns of the register tile (two vectors).</param>
/// <param name="MC">Rows of a packed A block.</param>
/// <param name="KC">Depth of a rank-KC update.</param>
/// <param name="NC">Columns of a packed B panel.</param>
/// <param name="ARowMajor">
/// Layout of a packed A micro-panel: false = p-major (the MR values of column p together, at p MR + r);
/// true = row-major with the fixed row length KC (row r at r KC + p, whatever the block's kc), so that
/// packing a row-major A is a contiguous copy per row and the kernel's broadcasts use constant offsets.
/// </param>
internal readonly record struct GemmBlocking(int MR, int NR, int MC, int KC, int NC, bool ARowMajor)
{
    /// <summary>Elements per row of a packed A micro-panel for a block of depth kc (row blocks start at i0 times this).</summary>
    public int ARowLength(int kc) => ARowMajor ? KC : kc;
}

/// <summary>
/// The GEMM micro-kernels: an MR x NR tile of C updated by a rank-kc product of packed panels,
/// C_tile = alpha * sum_p a[:, p] b[p, :] + beta * C_tile (BLIS micro-kernel, Van Zee and van de Geijn
/// 2015, Sec. 2 and Fig. 3). Per p, the kernel loads two vectors of B (NR = 2 vectors wide), broadcasts
/// each of the MR values of A and issues 2 MR independent FMAs into register accumulators.
/// Chosen as TensorPrimitives chooses its paths: Vector512 where the JIT accelerates it (AVX-512:
/// 14 x 2 zmm tile, 32 registers), else Vector256 with FMA (6 x 2 ymm tile, 16 registers), else a
/// scalar loop on the Vector256 layout.
/// Generic over T (float or double); the typeof(T) tests are constants to the JIT, which compiles
/// one specialized body per element type.
/// </summary>
internal static unsafe class GemmMicroKernel
{
    /// <summary>Rows of the Vector256 (and scalar) register tile.</summary>
    public const int MR = 6;

    /// <summary>Rows of the Vector512 register tile.</summary>
    public const int MR512 = 14;

    /// <summary>Rows of the Vector512 edge kernel (panels of at most this many valid rows).</summary>
    public const int MR512Half = 7;

    /// <summary>KC of the Vector512 kernel, also the fixed row length of its row-major A micro-panels.</summary>
    public const int KC512 = 256;

    /// <summary>The fastest kernel the JIT accelerates in this process.</summary>
    public static GemmKernel Best { get; } =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? GemmKernel.Vector512
        : Avx.IsSupported && Fma.IsSupported ? GemmKernel.Vector256
        : GemmKernel.Scalar;

    /// <summary>
    /// Tile and blocks per kernel and element type.
    /// Vector256 (sized for a Zen 3-class core, 32 KB L1d, 512 KB L2): KC x NR x sizeof(T) = 16 KB keeps
    /// the B micro-panel in half of L1d; MC x KC x sizeof(T) = 144 KB keeps the packed A block in L2.
    /// Vector512 (sized for a Sapphire Rapids-class core, 48 KB L1d, 2 MB L2): the A micro-panel (14 KB
    /// float32 at KC = 256) stays in L1 while the KC x 128-byte B micro-panels (32 float32 or 16 float64
    /// columns) stream from L2; the A block MC x KC x sizeof(T) is 84 KB float32 and 168 KB float64
    /// (MC = 84, 6 micro-panels);
    /// NC = 1024 float32 / 512 float64 keeps the KC x NC B panel (1 MB) in L2 beside the A block and
    /// the C rows being updated (float64 1024^3 measured 70 % of peak with NC = 4096, 75 % with 512;
    /// float32 NC = 1024 packs A once per 1024 columns and measured ~3 points above 512 on two threads
    /// at 1024^3 with MC = 84, one thread unchanged; bench/NOTES.md, gemmkc).
    /// KC = 256 as for Vector256, so both kernels cut k identically (bitwise equal results); MC in
    /// 84..672 and KC = 128..384 measured within noise of these on one thread at 256^3 and 1024^3
    /// (bench/NOTES.md). On two threads MC = 84 measured ~5 (float32) and ~3 (float64) points of peak
    /// above MC = 168 at 1024^3 and 256^3 (CPU-time median; bench/NOTES.md, gemmkc); KC = 384 / 512 (fewer passes over C)
    /// measured no gain at 1024^3 and would cost the float64 A micro-panel its place in L1. MC does not
    /// change the accumulation order (results are the same bits for any MC).
    /// For Vector256, NC bounds the packed B panel (KC x NC, 4-8 MB) by the shared L3. NC is a multiple of NR.
    /// </summary>
    public static GemmBlocking Blocking<T>(GemmKernel kernel) => kernel switch
    {
        GemmKernel.Vector512 => typeof(T) == typeof(float)
            ? new GemmBlocking(MR512, 2 * Vector512<float>.Count, 84, KC512, 1024, ARowMajor: true)
            : new GemmBlocking(MR512, 2 * Vector512<double>.Count, 84, KC512, 512, ARowMajor: true),
        _ => typeof(T) == typeof(float)
            ? new GemmBlocking(MR, 2 * Vector256<float>.Count, 144, 256, 4080, ARowMajor: false)
            : new GemmBlocking(MR, 2 * Vector256<double>.Count, 72, 256, 4080, ARowMajor: false),
    };

    /// <summary>One tile with the chosen kernel; mr x nr is the valid part of the tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run<T>(GemmKernel kernel, int kc, T* a, T* b, T* c, nint ldc, T alpha, T beta, int mr, int nr, GemmBias<T> bias = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (kernel == GemmKernel.Vector512)
        {
            if (mr <= MR512Half) Vector512KernelHalf(kc, a, b, c, ldc, alpha, beta, mr, nr, bias);
            else Vector512Kernel<T, Stride256, Stride1>(kc, a, b, c, ldc, alpha, beta, mr, nr, bias);
        }
        else if (kernel == GemmKernel.Vector256) Vector(kc, a, b, c, ldc, alpha, beta, mr, nr, bias);
        else Scalar(kc, a, b, c, ldc, alpha, beta, mr, nr, bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> MultiplyAdd<T>(Vector256<T> a, Vector256<T> b, Vector256<T> c)
    {
        if (typeof(T) == typeof(float))
            return Fma.MultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        return Fma.MultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
    }

    /// <summary>Vector256 + FMA kernel (requires Avx and Fma). mr x nr is the valid part of the tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Vector<T>(int kc, T* a, T* b, T* c, nint ldc, T alpha, T beta, int mr, int nr, GemmBias<T> bias = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count;
        // The tile of C is touched only after the kc loop: request its lines now so that the misses
        // (C is re-read once per rank-KC update and usually sits in L3 or memory) overlap the FMAs.
        for (int r = 0; r < mr; r++)
        {
            Sse.Prefetch0(c + r * ldc);
            Sse.Prefetch0(c + r * ldc + (2 * w - 1));
        }
        Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + w);
            var ai = Vector256.Create(a[0]);
            c00 = MultiplyAdd(ai, b0, c00); c01 = MultiplyAdd(ai, b1, c01);
            ai = Vector256.Create(a[1]);
            c10 = MultiplyAdd(ai, b0, c10); c11 = MultiplyAdd(ai, b1, c11);
            ai = Vector256.Create(a[2]);
            c20 = MultiplyAdd(ai, b0, c20); c21 = MultiplyAdd(ai, b1, c21);
            ai = Vector256.Create(a[3]);
            c30 = MultiplyAdd(ai, b0, c30); c31 = MultiplyAdd(ai, b1, c31);
            ai = Vector256.Create(a[4]);
            c40 = MultiplyAdd(ai, b0, c40); c41 = MultiplyAdd(ai, b1, c41);
            ai = Vector256.Create(a[5]);
            c50 = MultiplyAdd(ai, b0, c50); c51 = MultiplyAdd(ai, b1, c51);
            a += MR;
            b += 2 * w;
        }
        if (mr == MR && nr == 2 * w)
        {
            var alphaV = Vector256.Create(alpha);
            if (beta == T.Zero)
            {
                // beta = 0: C is write-only (NaN or garbage in C must not propagate).
                (c00 * alphaV).Store(c); (c01 * alphaV).Store(c + w); c += ldc;
                (c10 * alphaV).Store(c); (c11 * alphaV).Store(c + w); c += ldc;
                (c20 * alphaV).Store(c); (c21 * alphaV).Store(c + w); c += ldc;
                (c30 * alphaV).Store(c); (c31 * alphaV).Store(c + w); c += ldc;
                (c40 * alphaV).Store(c); (c41 * alphaV).Store(c + w); c += ldc;
                (c50 * alphaV).Store(c); (c51 * alphaV).Store(c + w);
            }
            else if (bias.Values == null)
            {
                var betaV = Vector256.Create(beta);
                UpdateRow(c, w, c00, c01, alphaV, betaV); c += ldc;
                UpdateRow(c, w, c10, c11, alphaV, betaV); c += ldc;
                UpdateRow(c, w, c20, c21, alphaV, betaV); c += ldc;
                UpdateRow(c, w, c30, c31, alphaV, betaV); c += ldc;
                UpdateRow(c, w, c40, c41, alphaV, betaV); c += ldc;
                UpdateRow(c, w, c50, c51, alphaV, betaV);
            }
            else if (bias.PerRow)
            {
                // The bias in place of the loaded C: the same FMA onto the same value as after a fill with the bias.
                var betaV = Vector256.Create(beta);
                T* v = bias.Values;
                StoreRow(c, w, c00, c01, alphaV, Vector256.Create(v[0]) * betaV); c += ldc;
                StoreRow(c, w, c10, c11, alphaV, Vector256.Create(v[1]) * betaV); c += ldc;
                StoreRow(c, w, c20, c21, alphaV, Vector256.Create(v[2]) * betaV); c += ldc;
                StoreRow(c, w, c30, c31, alphaV, Vector256.Create(v[3]) * betaV); c += ldc;
                StoreRow(c, w, c40, c41, alphaV, Vector256.Create(v[4]) * betaV); c += ldc;
                StoreRow(c, w, c50, c51, alphaV, Vector256.Create(v[5]) * betaV);
            }
            else
            {
                var betaV = Vector256.Create(beta);
                var lo = Vector256.Load(bias.Values) * betaV;
                var hi = Vector256.Load(bias.Values + w) * betaV;
                StoreRow(c, w, c00, c01, alphaV, lo, hi); c += ldc;
                StoreRow(c, w, c10, c11, alphaV, lo, hi); c += ldc;
                StoreRow(c, w, c20, c21, alphaV, lo, hi); c += ldc;
                StoreRow(c, w, c30, c31, alphaV, lo, hi); c += ldc;
                StoreRow(c, w, c40, c41, alphaV, lo, hi); c += ldc;
                StoreRow(c, w, c50, c51, alphaV, lo, hi);
            }
            return;
        }
        StoreEdge(c, ldc, alpha, beta, mr, nr, bias, c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51);
    }

    /// <summary>
    /// Edge tile: spill the accumulators and merge only the valid mr x nr part. Kept out of the
    /// kernel so that the hot path has no stack buffer to zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StoreEdge<T>(T* c, nint ldc, T alpha, T beta, int mr, int nr, GemmBias<T> bias,
        Vector256<T> c00, Vector256<T> c01, Vector256<T> c10, Vector256<T> c11, Vector256<T> c20, Vector256<T> c21,
        Vector256<T> c30, Vector256<T> c31, Vector256<T> c40, Vector256<T> c41, Vector256<T> c50, Vector256<T> c51)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count, ld = 2 * w;
        T* tile = stackalloc T[MR * 2 * w];
        c00.Store(tile); c01.Store(tile + w);
        c10.Store(tile + ld); c11.Store(tile + ld + w);
        c20.Store(tile + 2 * ld); c21.Store(tile + 2 * ld + w);
        c30.Store(tile + 3 * ld); c31.Store(tile + 3 * ld + w);
        c40.Store(tile + 4 * ld); c41.Store(tile + 4 * ld + w);
        c50.Store(tile + 5 * ld); c51.Store(tile + 5 * ld + w);
        Merge(tile, ld, c, ldc, alpha, beta, mr, nr, fused: true, bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void UpdateRow<T>(T* c, int w, Vector256<T> lo, Vector256<T> hi, Vector256<T> alphaV, Vector256<T> betaV)
        where T : unmanaged
    {
        MultiplyAdd(lo, alphaV, Vector256.Load(c) * betaV).Store(c);
        MultiplyAdd(hi, alphaV, Vector256.Load(c + w) * betaV).Store(c + w);
    }

    /// <summary>A row of C = alpha acc + init (init = beta bias, scaled by the caller): UpdateRow with init in place of beta C.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow<T>(T* c, int w, Vector256<T> lo, Vector256<T> hi, Vector256<T> alphaV, Vector256<T> initLo, Vector256<T> initHi)
        where T : unmanaged
    {
        MultiplyAdd(lo, alphaV, initLo).Store(c);
        MultiplyAdd(hi, alphaV, initHi).Store(c + w);
    }

    /// <summary>StoreRow with one init vector for both halves (a per-row bias).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow<T>(T* c, int w, Vector256<T> lo, Vector256<T> hi, Vector256<T> alphaV, Vector256<T> init)
        where T : unmanaged => StoreRow(c, w, lo, hi, alphaV, init, init);

    /// <summary>
    /// K steps ahead at which the Vector512 kernels prefetch the packed B micro-panel (both cache lines of step p + BAhead,
    /// running on into the next tile's micro-panel, which follows in the packed panel). Without it a sampling profile put
    /// the most samples of the k loop on the first FMAs of a step, those that wait for B's loads (B streams from L2);
    /// 8, 16 and 32 steps ahead measured alike, about 1 point of the FMA peak above none at 1024^3 (bench/NOTES.md,
    /// gemm1t). A prefetch past the end of the buffer is only a hint (no fault).
    /// </summary>
    private const int BAhead = 16;

    /// <summary>
    /// Step p of the C tile's prefetch, one cache line per k step over the first 2 mr steps: line p % 2 (the row's first or
    /// last; 2 W values span two 64-byte lines when aligned) of row p / 2. Spread out rather than all 2 mr lines at the
    /// tile's start: about half a point of the FMA peak at 1024^3, as much as no C prefetch at all (bench/NOTES.md, gemm1t;
    /// no hardware counters here to say why; a guess: 28 misses at once held the line fill buffers that the first steps'
    /// B loads need).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchC<T>(T* c, nint ldc, int p, int ld) where T : unmanaged =>
        Sse.Prefetch0(c + (p >> 1) * ldc + (p & 1) * (ld - 1));

    /// <summary>
    /// The k steps over which a tile's k loop spreads its C prefetch (<see cref="PrefetchC{T}"/>): 2 mr, or 0 when the loop is
    /// shorter than that (kc &lt; 2 mr), in which case every line of the tile is prefetched here, before the loop, as before.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int PrefetchCSpread<T>(T* c, nint ldc, int kc, int mr, int ld) where T : unmanaged
    {
        if (kc >= 2 * mr) return 2 * mr;
        for (int r = 0; r < mr; r++)
        {
            Sse.Prefetch0(c + r * ldc);
            Sse.Prefetch0(c + r * ldc + (ld - 1));
        }
        return 0;
    }

    /// <summary>a b + c by one fused multiply-add (AVX-512F); SmallGemm's kernels share it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<T> MultiplyAdd<T>(Vector512<T> a, Vector512<T> b, Vector512<T> c)
    {
        if (typeof(T) == typeof(float))
            return Avx512F.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        return Avx512F.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
    }

    /// <summary>
    /// Vector512 kernel (AVX-512F): an MR512 x 2 W tile (W = Vector512 lanes: 14 x 32 float32, 14 x 16
    /// float64) in 28 zmm accumulators; per p, 2 vectors of B are loaded and each of the 14 values of
    /// A is broadcast (28 + 2 + 1 of the 32 zmm registers). 28 independent FMA chains cover the
    /// latency x throughput product (4 cycles x 2 pipes). A full tile updates C from the registers; an
    /// edge tile goes through a stack tile and <see cref="MergeTile512"/>, with no call while an
    /// accumulator is live (per-row calls on the edge path made the JIT's allocator store every
    /// accumulator to the stack inside the k loop). mr x nr is the valid part of the tile.
    /// Element (r, p) of the A micro-panel is at a[r <typeparamref name="TRow"/> + p <typeparamref name="TColumn"/>]: (KC512, 1) in
    /// the packed micro-panels; where <see cref="FastGemm"/> reads full panels of a stored A in place, (lda, 1) for an
    /// untransposed A and (1, lda) for a transposed one. The strides are types so that the JIT compiles them as constant
    /// offsets, as for the packed layout.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    public static void Vector512Kernel<T, TRow, TColumn>(int kc, T* a, T* b, T* c, nint ldc, T alpha, T beta, int mr, int nr, GemmBias<T> bias = default)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TRow : struct, IStride
        where TColumn : struct, IStride
    {
        int w = Vector512<T>.Count, ld = 2 * w;
        int cLines = PrefetchCSpread(c, ldc, kc, mr, ld); // the C tile's lines, one per k step (PrefetchC) or all now
        Vector512<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default;
        Vector512<T> c70 = default, c71 = default, c80 = default, c81 = default, c90 = default, c91 = default, ca0 = default, ca1 = default, cb0 = default, cb1 = default, cc0 = default, cc1 = default, cd0 = default, cd1 = default;
        for (int p = 0; p < kc; p++)
        {
            if (p < cLines) PrefetchC(c, ldc, p, ld);
            Sse.Prefetch0(b + BAhead * ld);
            Sse.Prefetch0(b + BAhead * ld + w);
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + w);
            var ai = Vector512.Create(a[0]);
            c00 = MultiplyAdd(ai, b0, c00); c01 = MultiplyAdd(ai, b1, c01);
            ai = Vector512.Create(a[1 * TRow.Value]);
            c10 = MultiplyAdd(ai, b0, c10); c11 = MultiplyAdd(ai, b1, c11);
            ai = Vector512.Create(a[2 * TRow.Value]);
            c20 = MultiplyAdd(ai, b0, c20); c21 = MultiplyAdd(ai, b1, c21);
            ai = Vector512.Create(a[3 * TRow.Value]);
            c30 = MultiplyAdd(ai, b0, c30); c31 = MultiplyAdd(ai, b1, c31);
            ai = Vector512.Create(a[4 * TRow.Value]);
            c40 = MultiplyAdd(ai, b0, c40); c41 = MultiplyAdd(ai, b1, c41);
            ai = Vector512.Create(a[5 * TRow.Value]);
            c50 = MultiplyAdd(ai, b0, c50); c51 = MultiplyAdd(ai, b1, c51);
            ai = Vector512.Create(a[6 * TRow.Value]);
            c60 = MultiplyAdd(ai, b0, c60); c61 = MultiplyAdd(ai, b1, c61);
            ai = Vector512.Create(a[7 * TRow.Value]);
            c70 = MultiplyAdd(ai, b0, c70); c71 = MultiplyAdd(ai, b1, c71);
            ai = Vector512.Create(a[8 * TRow.Value]);
            c80 = MultiplyAdd(ai, b0, c80); c81 = MultiplyAdd(ai, b1, c81);
            ai = Vector512.Create(a[9 * TRow.Value]);
            c90 = MultiplyAdd(ai, b0, c90); c91 = MultiplyAdd(ai, b1, c91);
            ai = Vector512.Create(a[10 * TRow.Value]);
            ca0 = MultiplyAdd(ai, b0, ca0); ca1 = MultiplyAdd(ai, b1, ca1);
            ai = Vector512.Create(a[11 * TRow.Value]);
            cb0 = MultiplyAdd(ai, b0, cb0); cb1 = MultiplyAdd(ai, b1, cb1);
            ai = Vector512.Create(a[12 * TRow.Value]);
            cc0 = MultiplyAdd(ai, b0, cc0); cc1 = MultiplyAdd(ai, b1, cc1);
            ai = Vector512.Create(a[13 * TRow.Value]);
            cd0 = MultiplyAdd(ai, b0, cd0); cd1 = MultiplyAdd(ai, b1, cd1);
            a += TColumn.Value;
            b += ld;
        }
        if (mr == MR512 && nr == ld)
        {
            var alphaV = Vector512.Create(alpha);
            if (beta == T.Zero)
            {
                (c00 * alphaV).Store(c + 0 * ldc); (c01 * alphaV).Store(c + 0 * ldc + w);
                (c10 * alphaV).Store(c + 1 * ldc); (c11 * alphaV).Store(c + 1 * ldc + w);
                (c20 * alphaV).Store(c + 2 * ldc); (c21 * alphaV).Store(c + 2 * ldc + w);
                (c30 * alphaV).Store(c + 3 * ldc); (c31 * alphaV).Store(c + 3 * ldc + w);
                (c40 * alphaV).Store(c + 4 * ldc); (c41 * alphaV).Store(c + 4 * ldc + w);
                (c50 * alphaV).Store(c + 5 * ldc); (c51 * alphaV).Store(c + 5 * ldc + w);
                (c60 * alphaV).Store(c + 6 * ldc); (c61 * alphaV).Store(c + 6 * ldc + w);
                (c70 * alphaV).Store(c + 7 * ldc); (c71 * alphaV).Store(c + 7 * ldc + w);
                (c80 * alphaV).Store(c + 8 * ldc); (c81 * alphaV).Store(c + 8 * ldc + w);
                (c90 * alphaV).Store(c + 9 * ldc); (c91 * alphaV).Store(c + 9 * ldc + w);
                (ca0 * alphaV).Store(c + 10 * ldc); (ca1 * alphaV).Store(c + 10 * ldc + w);
                (cb0 * alphaV).Store(c + 11 * ldc); (cb1 * alphaV).Store(c + 11 * ldc + w);
                (cc0 * alphaV).Store(c + 12 * ldc); (cc1 * alphaV).Store(c + 12 * ldc + w);
                (cd0 * alphaV).Store(c + 13 * ldc); (cd1 * alphaV).Store(c + 13 * ldc + w);
            }
            else if (bias.Values == null)
            {
                var betaV = Vector512.Create(beta);
                UpdateRow(c + 0 * ldc, w, c00, c01, alphaV, betaV);
                UpdateRow(c + 1 * ldc, w, c10, c11, alphaV, betaV);
                UpdateRow(c + 2 * ldc, w, c20, c21, alphaV, betaV);
                UpdateRow(c + 3 * ldc, w, c30, c31, alphaV, betaV);
                UpdateRow(c + 4 * ldc, w, c40, c41, alphaV, betaV);
                UpdateRow(c + 5 * ldc, w, c50, c51, alphaV, betaV);
                UpdateRow(c + 6 * ldc, w, c60, c61, alphaV, betaV);
                UpdateRow(c + 7 * ldc, w, c70, c71, alphaV, betaV);
                UpdateRow(c + 8 * ldc, w, c80, c81, alphaV, betaV);
                UpdateRow(c + 9 * ldc, w, c90, c91, alphaV, betaV);
                UpdateRow(c + 10 * ldc, w, ca0, ca1, alphaV, betaV);
                UpdateRow(c + 11 * ldc, w, cb0, cb1, alphaV, betaV);
                UpdateRow(c + 12 * ldc, w, cc0, cc1, alphaV, betaV);
                UpdateRow(c + 13 * ldc, w, cd0, cd1, alphaV, betaV);
            }
            else if (bias.PerRow)
            {
                // The bias in place of the loaded C: the same FMA onto the same value as after a fill with the bias.
                var betaV = Vector512.Create(beta);
                T* v = bias.Values;
                StoreRow(c + 0 * ldc, w, c00, c01, alphaV, Vector512.Create(v[0]) * betaV);
                StoreRow(c + 1 * ldc, w, c10, c11, alphaV, Vector512.Create(v[1]) * betaV);
                StoreRow(c + 2 * ldc, w, c20, c21, alphaV, Vector512.Create(v[2]) * betaV);
                StoreRow(c + 3 * ldc, w, c30, c31, alphaV, Vector512.Create(v[3]) * betaV);
                StoreRow(c + 4 * ldc, w, c40, c41, alphaV, Vector512.Create(v[4]) * betaV);
                StoreRow(c + 5 * ldc, w, c50, c51, alphaV, Vector512.Create(v[5]) * betaV);
                StoreRow(c + 6 * ldc, w, c60, c61, alphaV, Vector512.Create(v[6]) * betaV);
                StoreRow(c + 7 * ldc, w, c70, c71, alphaV, Vector512.Create(v[7]) * betaV);
                StoreRow(c + 8 * ldc, w, c80, c81, alphaV, Vector512.Create(v[8]) * betaV);
                StoreRow(c + 9 * ldc, w, c90, c91, alphaV, Vector512.Create(v[9]) * betaV);
                StoreRow(c + 10 * ldc, w, ca0, ca1, alphaV, Vector512.Create(v[10]) * betaV);
                StoreRow(c + 11 * ldc, w, cb0, cb1, alphaV, Vector512.Create(v[11]) * betaV);
                StoreRow(c + 12 * ldc, w, cc0, cc1, alphaV, Vector512.Create(v[12]) * betaV);
                StoreRow(c + 13 * ldc, w, cd0, cd1, alphaV, Vector512.Create(v[13]) * betaV);
            }
            else
            {
                var betaV = Vector512.Create(beta);
                var lo = Vector512.Load(bias.Values) * betaV;
                var hi = Vector512.Load(bias.Values + w) * betaV;
                StoreRow(c + 0 * ldc, w, c00, c01, alphaV, lo, hi);
                StoreRow(c + 1 * ldc, w, c10, c11, alphaV, lo, hi);
                StoreRow(c + 2 * ldc, w, c20, c21, alphaV, lo, hi);
                StoreRow(c + 3 * ldc, w, c30, c31, alphaV, lo, hi);
                StoreRow(c + 4 * ldc, w, c40, c41, alphaV, lo, hi);
                StoreRow(c + 5 * ldc, w, c50, c51, alphaV, lo, hi);
                StoreRow(c + 6 * ldc, w, c60, c61, alphaV, lo, hi);
                StoreRow(c + 7 * ldc, w, c70, c71, alphaV, lo, hi);
                StoreRow(c + 8 * ldc, w, c80, c81, alphaV, lo, hi);
                StoreRow(c + 9 * ldc, w, c90, c91, alphaV, lo, hi);
                StoreRow(c + 10 * ldc, w, ca0, ca1, alphaV, lo, hi);
                StoreRow(c + 11 * ldc, w, cb0, cb1, alphaV, lo, hi);
                StoreRow(c + 12 * ldc, w, cc0, cc1, alphaV, lo, hi);
                StoreRow(c + 13 * ldc, w, cd0, cd1, alphaV, lo, hi);
            }
            return;
        }
        byte* tileBytes = stackalloc byte[MR512 * 2 * 64];
        T* tile = (T*)tileBytes;
        c00.Store(tile + 0 * ld); c01.Store(tile + 0 * ld + w);
        c10.Store(tile + 1 * ld); c11.Store(tile + 1 * ld + w);
        c20.Store(tile + 2 * ld); c21.Store(tile + 2 * ld + w);
        c30.Store(tile + 3 * ld); c31.Store(tile + 3 * ld + w);
        c40.Store(tile + 4 * ld); c41.Store(tile + 4 * ld + w);
        c50.Store(tile + 5 * ld); c51.Store(tile + 5 * ld + w);
        c60.Store(tile + 6 * ld); c61.Store(tile + 6 * ld + w);
        c70.Store(tile + 7 * ld); c71.Store(tile + 7 * ld + w);
        c80.Store(tile + 8 * ld); c81.Store(tile + 8 * ld + w);
        c90.Store(tile + 9 * ld); c91.Store(tile + 9 * ld + w);
        ca0.Store(tile + 10 * ld); ca1.Store(tile + 10 * ld + w);
        cb0.Store(tile + 11 * ld); cb1.Store(tile + 11 * ld + w);
        cc0.Store(tile + 12 * ld); cc1.Store(tile + 12 * ld + w);
        cd0.Store(tile + 13 * ld); cd1.Store(tile + 13 * ld + w);
        MergeTile512(tile, c, ldc, alpha, beta, mr, nr, bias);
    }

    /// <summary>
    /// The Vector512 kernel on a full 14-row panel of an untransposed A that is not packed yet: it packs the panel while it
    /// computes its first tile. <paramref name="src"/> points at op(A)[i0, pc] (rows lda apart), <paramref name="a"/> at the
    /// panel's place in the row-major packed block (rows KC512 apart). The k loop runs in chunks of one cache line of A
    /// (W = Vector512 lanes); while chunk q is being multiplied, the 14 source lines of chunk q + 1 are copied into the
    /// packed panel (one zmm load and store each) and those of chunk q + 3 prefetched, so the copy's loads wait on no
    /// FMA and no FMA waits on them. The broadcasts read the packed copy, whose rows fall in different L1 sets (the source
    /// rows of a 1024-wide A are 4 KB apart: all 14 in one 12-way set). The tiles after this one read the packed panel as
    /// usual, so the block's separate packing pass (Goto and van de Geijn 2008, Sec. 6) disappears into the first column
    /// of tiles (bench/NOTES.md, gemm85: about even on one thread, +1-2 points on two). Same FMA chain per element and the
    /// same store as <see cref="Vector512Kernel{T, TRow, TColumn}"/>: the results are the same bits. Requires kc a
    /// multiple of W.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    public static void Vector512KernelPackA<T>(int kc, T* src, nint lda, T* a, T* b, T* c, nint ldc, T alpha, T beta, int nr, GemmBias<T> bias = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector512<T>.Count, ld = 2 * w;
        int cLines = PrefetchCSpread(c, ldc, kc, MR512, ld);
        for (int r = 0; r < MR512; r++)
        {
            Sse.Prefetch0(src + r * lda + w);
            Sse.Prefetch0(src + r * lda + 2 * w);
            Vector512.Load(src + r * lda).Store(a + r * KC512);
        }
        Vector512<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default;
        Vector512<T> c70 = default, c71 = default, c80 = default, c81 = default, c90 = default, c91 = default, ca0 = default, ca1 = default, cb0 = default, cb1 = default, cc0 = default, cc1 = default, cd0 = default, cd1 = default;
        for (int p0 = 0; p0 < kc; p0 += w)
        {
            if (p0 + w < kc)
            {
                T* s = src + p0 + w;
                T* d = a + w; // a has advanced to column p0 of the packed panel
                for (int r = 0; r < MR512; r++, s += lda, d += KC512)
                {
                    Sse.Prefetch0(s + 2 * w);
                    Vector512.Load(s).Store(d);
                }
            }
            for (int p = 0; p < w; p++)
            {
                if (p0 + p < cLines) PrefetchC(c, ldc, p0 + p, ld);
                Sse.Prefetch0(b + BAhead * ld);
                Sse.Prefetch0(b + BAhead * ld + w);
                var b0 = Vector512.Load(b);
                var b1 = Vector512.Load(b + w);
                var ai = Vector512.Create(a[0]);
                c00 = MultiplyAdd(ai, b0, c00); c01 = MultiplyAdd(ai, b1, c01);
                ai = Vector512.Create(a[1 * KC512]);
                c10 = MultiplyAdd(ai, b0, c10); c11 = MultiplyAdd(ai, b1, c11);
                ai = Vector512.Create(a[2 * KC512]);
                c20 = MultiplyAdd(ai, b0, c20); c21 = MultiplyAdd(ai, b1, c21);
                ai = Vector512.Create(a[3 * KC512]);
                c30 = MultiplyAdd(ai, b0, c30); c31 = MultiplyAdd(ai, b1, c31);
                ai = Vector512.Create(a[4 * KC512]);
                c40 = MultiplyAdd(ai, b0, c40); c41 = MultiplyAdd(ai, b1, c41);
                ai = Vector512.Create(a[5 * KC512]);
                c50 = MultiplyAdd(ai, b0, c50); c51 = MultiplyAdd(ai, b1, c51);
                ai = Vector512.Create(a[6 * KC512]);
                c60 = MultiplyAdd(ai, b0, c60); c61 = MultiplyAdd(ai, b1, c61);
                ai = Vector512.Create(a[7 * KC512]);
                c70 = MultiplyAdd(ai, b0, c70); c71 = MultiplyAdd(ai, b1, c71);
                ai = Vector512.Create(a[8 * KC512]);
                c80 = MultiplyAdd(ai, b0, c80); c81 = MultiplyAdd(ai, b1, c81);
                ai = Vector512.Create(a[9 * KC512]);
                c90 = MultiplyAdd(ai, b0, c90); c91 = MultiplyAdd(ai, b1, c91);
                ai = Vector512.Create(a[10 * KC512]);
                ca0 = MultiplyAdd(ai, b0, ca0); ca1 = MultiplyAdd(ai, b1, ca1);
                ai = Vector512.Create(a[11 * KC512]);
                cb0 = MultiplyAdd(ai, b0, cb0); cb1 = MultiplyAdd(ai, b1, cb1);
                ai = Vector512.Create(a[12 * KC512]);
                cc0 = MultiplyAdd(ai, b0, cc0); cc1 = MultiplyAdd(ai, b1, cc1);
                ai = Vector512.Create(a[13 * KC512]);
                cd0 = MultiplyAdd(ai, b0, cd0); cd1 = MultiplyAdd(ai, b1, cd1);
                a++;
                b += ld;
            }
        }
        byte* tileBytes = stackalloc byte[MR512 * 2 * 64];
        T* tile = (T*)tileBytes;
        c00.Store(tile + 0 * ld); c01.Store(tile + 0 * ld + w);
        c10.Store(tile + 1 * ld); c11.Store(tile + 1 * ld + w);
        c20.Store(tile + 2 * ld); c21.Store(tile + 2 * ld + w);
        c30.Store(tile + 3 * ld); c31.Store(tile + 3 * ld + w);
        c40.Store(tile + 4 * ld); c41.Store(tile + 4 * ld + w);
        c50.Store(tile + 5 * ld); c51.Store(tile + 5 * ld + w);
        c60.Store(tile + 6 * ld); c61.Store(tile + 6 * ld + w);
        c70.Store(tile + 7 * ld); c71.Store(tile + 7 * ld + w);
        c80.Store(tile + 8 * ld); c81.Store(tile + 8 * ld + w);
        c90.Store(tile + 9 * ld); c91.Store(tile + 9 * ld + w);
        ca0.Store(tile + 10 * ld); ca1.Store(tile + 10 * ld + w);
        cb0.Store(tile + 11 * ld); cb1.Store(tile + 11 * ld + w);
        cc0.Store(tile + 12 * ld); cc1.Store(tile + 12 * ld + w);
        cd0.Store(tile + 13 * ld); cd1.Store(tile + 13 * ld + w);
        MergeTile512(tile, c, ldc, alpha, beta, MR512, nr, bias);
    }

    /// <summary>
    /// The Vector512 kernel for an edge panel of at most 7 rows (e.g. the last 4 rows of m = 256 =
    /// 18 x 14 + 4): 7 x 2 W accumulators, half the FMAs of the 14-row kernel on the same packed
    /// panels and the same FMA chain per element (identical results).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    public static void Vector512KernelHalf<T>(int kc, T* a, T* b, T* c, nint ldc, T alpha, T beta, int mr, int nr, GemmBias<T> bias = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector512<T>.Count, ld = 2 * w;
        int cLines = PrefetchCSpread(c, ldc, kc, mr, ld);
        Vector512<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default;
        for (int p = 0; p < kc; p++)
        {
            if (p < cLines) PrefetchC(c, ldc, p, ld);
            Sse.Prefetch0(b + BAhead * ld);
            Sse.Prefetch0(b + BAhead * ld + w);
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + w);
            var ai = Vector512.Create(a[0]);
            c00 = MultiplyAdd(ai, b0, c00); c01 = MultiplyAdd(ai, b1, c01);
            ai = Vector512.Create(a[1 * KC512]);
            c10 = MultiplyAdd(ai, b0, c10); c11 = MultiplyAdd(ai, b1, c11);
            ai = Vector512.Create(a[2 * KC512]);
            c20 = MultiplyAdd(ai, b0, c20); c21 = MultiplyAdd(ai, b1, c21);
            ai = Vector512.Create(a[3 * KC512]);
            c30 = MultiplyAdd(ai, b0, c30); c31 = MultiplyAdd(ai, b1, c31);
            ai = Vector512.Create(a[4 * KC512]);
            c40 = MultiplyAdd(ai, b0, c40); c41 = MultiplyAdd(ai, b1, c41);
            ai = Vector512.Create(a[5 * KC512]);
            c50 = MultiplyAdd(ai, b0, c50); c51 = MultiplyAdd(ai, b1, c51);
            ai = Vector512.Create(a[6 * KC512]);
            c60 = MultiplyAdd(ai, b0, c60); c61 = MultiplyAdd(ai, b1, c61);
            a++;
            b += ld;
        }
        byte* tileBytes = stackalloc byte[MR512Half * 2 * 64];
        T* tile = (T*)tileBytes;
        c00.Store(tile + 0 * ld); c01.Store(tile + 0 * ld + w);
        c10.Store(tile + 1 * ld); c11.Store(tile + 1 * ld + w);
        c20.Store(tile + 2 * ld); c21.Store(tile + 2 * ld + w);
        c30.Store(tile + 3 * ld); c31.Store(tile + 3 * ld + w);
        c40.Store(tile + 4 * ld); c41.Store(tile + 4 * ld + w);
        c50.Store(tile + 5 * ld); c51.Store(tile + 5 * ld + w);
        c60.Store(tile + 6 * ld); c61.Store(tile + 6 * ld + w);
        MergeTile512(tile, c, ldc, alpha, beta, mr, nr, bias);
    }

    /// <summary>A row of C = alpha acc + beta C by one FMA per vector (the store of every Vector512 kernel, SmallGemm's too).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void UpdateRow<T>(T* c, int w, Vector512<T> lo, Vector512<T> hi, Vector512<T> alphaV, Vector512<T> betaV)
        where T : unmanaged
    {
        MultiplyAdd(lo, alphaV, Vector512.Load(c) * betaV).Store(c);
        MultiplyAdd(hi, alphaV, Vector512.Load(c + w) * betaV).Store(c + w);
    }

    /// <summary>A row of C = alpha acc + init (init = beta bias, scaled by the caller): UpdateRow with init in place of beta C.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void StoreRow<T>(T* c, int w, Vector512<T> lo, Vector512<T> hi, Vector512<T> alphaV, Vector512<T> initLo, Vector512<T> initHi)
        where T : unmanaged
    {
        MultiplyAdd(lo, alphaV, initLo).Store(c);
        MultiplyAdd(hi, alphaV, initHi).Store(c + w);
    }

    /// <summary>StoreRow with one init vector for both halves (a per-row bias).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void StoreRow<T>(T* c, int w, Vector512<T> lo, Vector512<T> hi, Vector512<T> alphaV, Vector512<T> init)
        where T : unmanaged => StoreRow(c, w, lo, hi, alphaV, init, init);

    /// <summary>
    /// C[:mr, :nr] = alpha * tile + beta * C (beta = 0: C not read; with a bias, beta * bias in place of beta * C), rounded
    /// as the Vector256 kernel's store (one FMA of the accumulator with alpha onto beta C), full rows on Vector512.
    /// </summary>
    private static void MergeTile512<T>(T* tile, T* c, nint ldc, T alpha, T beta, int mr, int nr, GemmBias<T> bias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector512<T>.Count, ld = 2 * w;
        if (nr < ld)
        {
            Merge(tile, ld, c, ldc, alpha, beta, mr, nr, fused: true, bias);
            return;
        }
        var alphaV = Vector512.Create(alpha);
        if (beta == T.Zero)
        {
            for (int r = 0; r < mr; r++, tile += ld, c += ldc)
            {
                (Vector512.Load(tile) * alphaV).Store(c);
                (Vector512.Load(tile + w) * alphaV).Store(c + w);
            }
            return;
        }
        var betaV = Vector512.Create(beta);
        for (int r = 0; r < mr; r++, tile += ld, c += ldc)
        {
            T* init = bias.Row(c, r, out bool broadcast);
            var lo = broadcast ? Vector512.Create(*init) : Vector512.Load(init);
            var hi = broadcast ? lo : Vector512.Load(init + w);
            MultiplyAdd(Vector512.Load(tile), alphaV, lo * betaV).Store(c);
            MultiplyAdd(Vector512.Load(tile + w), alphaV, hi * betaV).Store(c + w);
        }
    }

    /// <summary>
    /// Scalar kernel on the same packed panels, for machines (or JIT settings such as
    /// DOTNET_EnableAVX2=0) without AVX+FMA: separate multiply and add, same summation order in p.
    /// </summary>
    public static void Scalar<T>(int kc, T* a, T* b, T* c, nint ldc, T alpha, T beta, int mr, int nr, GemmBias<T> bias = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int ld = 2 * Vector256<T>.Count;
        T* tile = stackalloc T[MR * ld];
        new Span<T>(tile, MR * ld).Clear();
        for (int p = 0; p < kc; p++, a += MR, b += ld)
        {
            for (int r = 0; r < MR; r++)
            {
                T ar = a[r];
                T* t = tile + r * ld;
                for (int j = 0; j < ld; j++) t[j] += ar * b[j];
            }
        }
        Merge(tile, ld, c, ldc, alpha, beta, mr, nr, fused: false, bias);
    }

    /// <summary>
    /// C[:mr, :nr] = alpha * tile + beta * C (beta = 0: C not read; with a bias, beta * bias in place of beta * C); fused
    /// matches the vector store's rounding.
    /// </summary>
    private static void Merge<T>(T* tile, int ld, T* c, nint ldc, T alpha, T beta, int mr, int nr, bool fused, GemmBias<T> bias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int r = 0; r < mr; r++, c += ldc, tile += ld)
        {
            T* init = bias.Row(c, r, out bool broadcast);
            nint step = broadcast ? 0 : 1;
            for (int j = 0; j < nr; j++)
            {
                if (beta == T.Zero) c[j] = tile[j] * alpha;
                else if (fused) c[j] = T.FusedMultiplyAdd(tile[j], alpha, init[j * step] * beta);
                else c[j] = tile[j] * alpha + init[j * step] * beta;
            }
        }
    }
}

/// <summary>
/// What a product's first rank-KC update adds its result to in place of C's own values: C = alpha op(A) op(B) + beta bias,
/// the bias broadcast along C's rows (one value per column: a linear layer's y = x W^T + b) or along its columns (one value
/// per row: H3's channel-major projections). The store computes the same FMA onto beta bias that it computed onto beta C
/// after a pass that filled C with the bias, so the results are the same bits without that pass (bench/NOTES.md, h3bias).
/// Later rank-KC updates accumulate onto C as without a bias. <see cref="Values"/> null: no bias (C's own values).
/// </summary>
internal readonly unsafe struct GemmBias<T> where T : unmanaged
{
    /// <summary>The bias of the first row (<see cref="PerRow"/>) or first column of the block or tile at hand; null: none.</summary>
    public readonly T* Values;

    /// <summary>True: one value per row of C; false: one value per column.</summary>
    public readonly bool PerRow;

    public GemmBias(T* values, bool perRow)
    {
        Values = values;
        PerRow = perRow;
    }

    /// <summary>The bias of the sub-block of C that starts at [row, column] of this one.</summary>
    public GemmBias<T> At(nint row, nint column) => Values == null ? this : new(Values + (PerRow ? row : column), PerRow);

    /// <summary>
    /// The values row r of the tile adds (C's row <paramref name="cRow"/> itself without a bias); broadcast: one value for
    /// every column (a per-row bias), else one per column.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T* Row(T* cRow, int r, out bool broadcast)
    {
        broadcast = Values != null && PerRow;
        return Values == null ? cRow : PerRow ? Values + r : Values;
    }
}

/// <summary>A distance in elements between values of A that a Vector512 micro-kernel reads (a compile-time constant per type).</summary>
internal interface IStride
{
    static abstract int Value { get; }
}

internal struct Stride1 : IStride { public static int Value => 1; }

internal struct Stride32 : IStride { public static int Value => 32; }

internal struct Stride64 : IStride { public static int Value => 64; }

internal struct Stride128 : IStride { public static int Value => 128; }

internal struct Stride256 : IStride { public static int Value => GemmMicroKernel.KC512; }
