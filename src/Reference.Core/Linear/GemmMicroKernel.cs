using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Reference.Core.Linear;

/// <summary>
/// The GEMM micro-kernel: an MR x NR tile of C updated by a rank-kc product of packed panels,
/// C_tile = alpha * sum_p a[:, p] b[p, :] + beta * C_tile (BLIS micro-kernel, Van Zee and van de Geijn
/// 2015, Sec. 2 and Fig. 3). The tile is held in 12 Vector256 registers (MR = 6 rows x 2 vectors):
/// per p, two vectors of B are loaded, each of the 6 values of A is broadcast, and 12 independent
/// FMAs are issued; 12 independent chains cover the FMA latency x throughput product (4 cycles x
/// 2 pipes = 8) of current x86 cores.
/// Generic over T (float: NR = 16, double: NR = 8); the typeof(T) tests are constants to the JIT,
/// which compiles one specialized body per element type.
/// </summary>
internal static unsafe class GemmMicroKernel
{
    /// <summary>Rows of the register tile.</summary>
    public const int MR = 6;

    /// <summary>Columns of the register tile: two Vector256 of T.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NR<T>() => 2 * Vector256<T>.Count;

    /// <summary>
    /// (MC, KC, NC) per element type. KC x NR x sizeof(T) = 16 KB keeps the B micro-panel in half of
    /// a 32 KB L1d; MC x KC x sizeof(T) = 144 KB keeps the packed A block well inside a 512 KB L2;
    /// NC x KC bounds the packed B panel (4 MB float32, 8 MB float64) by the shared L3.
    /// </summary>
    public static (int MC, int KC, int NC) Blocking<T>() =>
        typeof(T) == typeof(float) ? (144, 256, 4080) : (72, 256, 4080);
    static readonly int TuneMC64 = int.Parse(Environment.GetEnvironmentVariable("MC64") ?? "72");
    static readonly int TuneKC64 = int.Parse(Environment.GetEnvironmentVariable("KC64") ?? "256");

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> MultiplyAdd<T>(Vector256<T> a, Vector256<T> b, Vector256<T> c)
    {
        if (typeof(T) == typeof(float))
            return Fma.MultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        return Fma.MultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
    }

    /// <summary>Vector256 + FMA kernel (requires Avx and Fma). mr x nr is the valid part of the tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Vector<T>(int kc, T* a, T* b, T* c, nint ldc, T alpha, T beta, int mr, int nr)
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
            else
            {
                var betaV = Vector256.Create(beta);
                UpdateRow(c, w, c00, c01, alphaV, betaV); c += ldc;
                UpdateRow(c, w, c10, c11, alphaV, betaV); c += ldc;
                UpdateRow(c, w, c20, c21, alphaV, betaV); c += ldc;
                UpdateRow(c, w, c30, c31, alphaV, betaV); c += ldc;
                UpdateRow(c, w, c40, c41, alphaV, betaV); c += ldc;
                UpdateRow(c, w, c50, c51, alphaV, betaV);
            }
            return;
        }
        StoreEdge(c, ldc, alpha, beta, mr, nr, c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51);
    }

    /// <summary>
    /// Edge tile: spill the accumulators and merge only the valid mr x nr part. Kept out of the
    /// kernel so that the hot path has no stack buffer to zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StoreEdge<T>(T* c, nint ldc, T alpha, T beta, int mr, int nr,
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
        Merge(tile, ld, c, ldc, alpha, beta, mr, nr, fused: true);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void UpdateRow<T>(T* c, int w, Vector256<T> lo, Vector256<T> hi, Vector256<T> alphaV, Vector256<T> betaV)
        where T : unmanaged
    {
        MultiplyAdd(lo, alphaV, Vector256.Load(c) * betaV).Store(c);
        MultiplyAdd(hi, alphaV, Vector256.Load(c + w) * betaV).Store(c + w);
    }

    /// <summary>
    /// Scalar kernel on the same packed panels, for machines (or JIT settings such as
    /// DOTNET_EnableAVX2=0) without AVX+FMA: separate multiply and add, same summation order in p.
    /// </summary>
    public static void Scalar<T>(int kc, T* a, T* b, T* c, nint ldc, T alpha, T beta, int mr, int nr)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int ld = NR<T>();
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
        Merge(tile, ld, c, ldc, alpha, beta, mr, nr, fused: false);
    }

    /// <summary>C[:mr, :nr] = alpha * tile + beta * C (beta = 0: C not read); fused matches the vector store's rounding.</summary>
    private static void Merge<T>(T* tile, int ld, T* c, nint ldc, T alpha, T beta, int mr, int nr, bool fused)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int r = 0; r < mr; r++, c += ldc, tile += ld)
        {
            for (int j = 0; j < nr; j++)
            {
                if (beta == T.Zero) c[j] = tile[j] * alpha;
                else if (fused) c[j] = T.FusedMultiplyAdd(tile[j], alpha, c[j] * beta);
                else c[j] = tile[j] * alpha + c[j] * beta;
            }
        }
    }
}
