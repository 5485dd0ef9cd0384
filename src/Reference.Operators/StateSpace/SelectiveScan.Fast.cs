// The Fast tier of the selective scan (see SelectiveScan.cs for the paper, the glossary and the
// float64 definition): float or double, threads over blocks of W channels (W = one Vector256 of T:
// 8 floats or 4 doubles; 16 floats = one Vector512 on AVX-512 cores, where the decay is the
// degree-5 VectorMath.Exp2Decay(Vector512) with vscalefps) that share a B/C group, and per block and time chunk
//   1. u, delta and z of the W channels transposed to [time, W] (W x W register transposes), so
//      that time step t of the W channels is one vector and every elementwise step below runs on
//      whole vectors,
//   2. the recurrence with the channels in the SIMD lanes and the state index n unrolled; per step t
//        Delta_t = softplus(delta_t + bias),  x_n = exp(Delta_t A_n) o x_n + (Delta_t u_t) B_t[n],
//      (the decay as 2^(Delta_t A_n log2 e) with A_n log2 e precomputed: VectorMath.Exp2Decay, whose
//      argument is <= 0 because Delta >= 0 and A < 0; A_log is checked finite for that),
//        y_t = (sum_n C_t[n] x_n + D u_t) o silu(z_t),
//      where B_t[n] and C_t[n] are broadcasts (shared by the group) and the N chains x_n are
//      independent, so exp (computed in registers, no [L, N] decay buffer) and the FMAs of
//      different n overlap instead of waiting on one another; no horizontal sums,
//   3. y transposed back to the channel rows.
// For float32 with N = 16 states on AVX-512 (Mamba's default) a separate path (Lanes16) keeps the
// whole [16 states, 16 channels] state in registers, computes softplus, Delta u and the gate on the
// channel rows (no transposes of u and z), interleaved with the recurrence, which prefetches the rows ahead.
// A block that runs past its group's last channel fills the spare lanes with u = 0 and A = 0
// (decay 1, input 0: their state stays 0) and drops them on output. The lanes accumulate over n
// in the same order as the naive loop, but the decays are VectorMath.Exp2Decay's and the updates are fused
// multiply-adds, so results agree with the definition to rounding, not bitwise.
// Options: with the delta softplus switched off, Delta = delta + bias may be negative, so the decay
// uses the full-range VectorMath.Exp2 instead of Exp2Decay; an initial state [B, D, N] is loaded into
// the lanes before the first chunk and the last state stored after the last one. Complex A runs on a
// separate path (one thread per channel row, the N complex lanes as TensorPrimitives spans).
// ForwardFastInto writes into the caller's output; the B/C transposes, the per-thread chunk scratch
// and the work items' records come from per-thread pools (PerThread, ParallelItems), so a repeated
// call allocates nothing and touches no fresh pages.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.Operators.StateSpace;

public static partial class SelectiveScan
{
    /// <summary>
    /// <see cref="ForwardFast{T}(Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, int)"/> on the inputs record of the definition
    /// (<see cref="Forward(SelectiveScanInputs{double})"/>), here over T.
    /// </summary>
    public static Tensor<T> ForwardFast<T>(SelectiveScanInputs<T> p, int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T> =>
        ForwardFastWithState(p, null, maxThreads).Out;

    /// <summary>
    /// The fast scan of <paramref name="p"/> (every option: the softplus switch, complex A) from an initial state
    /// <paramref name="initialState"/> (null = zeros), also returning the last state (selective_scan_ref's
    /// return_last_state): real A [B, D, N]; complex A [B, D, N, 2] (real and imaginary parts, torch.view_as_real).
    /// Running a sequence in two pieces, the second from the first's last state, equals running it whole.
    /// </summary>
    public static (Tensor<T> Out, Tensor<T> LastState) ForwardFastWithState<T>(SelectiveScanInputs<T> p, Tensor<T>? initialState = null, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Check();
        int[] stateShape = p.IsComplex ? [p.Batch, p.Channels, p.State, 2] : [p.Batch, p.Channels, p.State];
        if (initialState is not null) Shapes.Same(initialState, stateShape, nameof(initialState));
        var last = Tensor<T>.Zeros(stateShape);
        if (p.IsComplex) return (ForwardFastComplex(p, initialState, last, maxThreads), last);
        var y = new Tensor<T>(GC.AllocateUninitializedArray<T>(p.U.Length), p.U.ShapeArray);   // every element is written
        ScanCore(y, p.U, p.Delta, p.ALog, p.B, p.C, p.D, p.Z, p.DeltaBias, p.DeltaSoftplus, initialState, last, maxThreads);
        return (y, last);
    }

    /// <summary>
    /// Fast selective scan over T (float or double), same layout and meaning as
    /// <see cref="Forward(SelectiveScanInputs{double})"/>: u, delta, z [B, D, L], A_log [D, N], B, C [B, G, N, L],
    /// D, bias [D] (null = absent). Returns out [B, D, L]. <paramref name="maxThreads"/> = 0 uses every core.
    /// </summary>
    public static Tensor<T> ForwardFast<T>(Tensor<T> u, Tensor<T> delta, Tensor<T> aLog, Tensor<T> b, Tensor<T> c,
        Tensor<T>? d = null, Tensor<T>? z = null, Tensor<T>? deltaBias = null, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckFast(u, delta, aLog, b, c, d, z, deltaBias);
        var y = new Tensor<T>(GC.AllocateUninitializedArray<T>(u.Length), u.ShapeArray);   // every element is written
        ScanCore(y, u, delta, aLog, b, c, d, z, deltaBias, true, null, null, maxThreads);
        return y;
    }

    /// <summary>
    /// <see cref="ForwardFast{T}(Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, int)"/>
    /// written into the caller's <paramref name="output"/> [B, D, L] (every element overwritten; its old contents
    /// do not matter); the workspaces come from per-thread pools kept across calls, so a repeated call allocates
    /// no arrays.
    /// </summary>
    public static void ForwardFastInto<T>(Tensor<T> output, Tensor<T> u, Tensor<T> delta, Tensor<T> aLog, Tensor<T> b, Tensor<T> c,
        Tensor<T>? d = null, Tensor<T>? z = null, Tensor<T>? deltaBias = null, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckFast(u, delta, aLog, b, c, d, z, deltaBias);
        Shapes.Output(output, u.Shape, nameof(output));
        ScanCore(output, u, delta, aLog, b, c, d, z, deltaBias, true, null, null, maxThreads);
    }

    /// <summary>
    /// Whether the float32 scan runs sixteen channels per block in one Vector512 (AVX-512; the decay
    /// is <see cref="VectorMath.Exp2Decay(Vector512{float})"/>). Without the softplus the decay needs the
    /// full-range exp, which runs on the Vector256 path.
    /// </summary>
    private static bool Sixteen<T>(bool softplus, int n) => Wide<T>(softplus) && n == Lanes16.Lanes && Avx512DQ.IsSupported;

    private static bool Wide<T>(bool softplus) => typeof(T) == typeof(float) && softplus && Avx512F.IsSupported && Vector512.IsHardwareAccelerated;

    private static void ScanCore<T>(Tensor<T> y, Tensor<T> u, Tensor<T> delta, Tensor<T> aLog, Tensor<T> b, Tensor<T> c,
        Tensor<T>? d, Tensor<T>? z, Tensor<T>? deltaBias, bool softplus, Tensor<T>? x0, Tensor<T>? xLast, int maxThreads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckFast(u, delta, aLog, b, c, d, z, deltaBias);
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        int bs = u.Dim(0), dd = u.Dim(1), l = u.Dim(2), n = aLog.Dim(1), gs = b.Dim(1);
        int width = Wide<T>(softplus) ? Vector512<float>.Count : Vector256<T>.Count;
        bool sixteen = Sixteen<T>(softplus, n);
        // The N = 16 path runs its recurrence over whole 16-step blocks: each group's B and C rows are
        // padded with zero steps (read with Delta u = 0, they leave the state alone).
        int padded = sixteen ? (l + Lanes16.Block - 1) / Lanes16.Block * Lanes16.Block : l;
        int timeMajor = bs * gs * padded * n;
        // B and C time-major in one pooled buffer of the calling thread (16 x 16 register transposes on
        // the N = 16 path). A log2(e) is computed per block by the thread that runs the block (ALog2E):
        // done here, its D N scalar float64 exps were ~2 % of the one-thread scan, run serially before
        // the parallel loop at two threads.
        var pooled = PooledArray<T>.Rent(2 * timeMajor);
        TimeMajor(b, bs, gs, n, l, padded, pooled.Data.AsSpan(0, timeMajor));
        TimeMajor(c, bs, gs, n, l, padded, pooled.Data.AsSpan(timeMajor, timeMajor));
        int groupSize = dd / gs, blocksPerGroup = (groupSize + width - 1) / width;
        var job = PerThread<ScanJob<T>, int>.Take(0);
        (job.Y, job.U, job.Delta, job.D, job.Z, job.Bias, job.X0, job.XLast, job.Work) = (y, u, delta, d, z, deltaBias, x0, xLast, pooled.Data);
        job.ALog = aLog.Data;
        (job.TimeMajor, job.Channels, job.Length, job.States, job.Groups, job.Width, job.BlocksPerGroup, job.Softplus) =
            (timeMajor, dd, l, n, gs, width, blocksPerGroup, softplus);
        (job.Padded, job.Sixteen) = (padded, sixteen);
        ParallelItems.For(bs * gs * blocksPerGroup, maxThreads, job);
        job.Release();
        PerThread<ScanJob<T>, int>.Give(job);
        PooledArray<T>.Return(pooled);
    }

    /// <summary>
    /// One call's arguments and the work of one block of W channels (a <see cref="ParallelItems"/> body,
    /// pooled per calling thread so that a call allocates nothing). Work = [B^T | C^T].
    /// </summary>
    private sealed class ScanJob<T> : IParallelBody, IPerThreadWorkspace<ScanJob<T>, int> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public Tensor<T> Y = null!, U = null!, Delta = null!;
        public Tensor<T>? D, Z, Bias, X0, XLast;
        public T[] Work = null!;
        public int TimeMajor, Channels, Length, States, Groups, Width, BlocksPerGroup, Padded;
        public bool Softplus, Sixteen;

        public static ScanJob<T> Create(int key) => new();

        public bool Fits(int key) => true;

        /// <summary>A_log [D, N] of the call.</summary>
        public T[] ALog = null!;

        /// <summary>Drops the references to the call's tensors.</summary>
        public void Release() => (Y, U, Delta, D, Z, Bias, X0, XLast, Work, ALog) = (null!, null!, null!, null, null, null, null, null, null!, null!);

        public void Run(int job)
        {
            if (Sixteen)
            {
                RunSixteen(job);
                return;
            }
            int width = Width, n = States, l = Length, dd = Channels, gs = Groups, groupSize = dd / gs;
            var s = PerThread<Scratch<T>, (int, int)>.Take((n, width));
            int bg = job / BlocksPerGroup, bi = bg / gs, first = bg % gs * groupSize + job % BlocksPerGroup * width;
            int lanes = Math.Min(width, (bg % gs + 1) * groupSize - first);
            // Spare lanes: A = 0, bias = D = 0 and (below) u = delta = z = 0, so their state stays 0.
            for (int k = 0; k < n; k++)
                for (int lane = 0; lane < width; lane++)
                    s.A[k * width + lane] = lane < lanes ? ALog2E(ALog[(first + lane) * n + k]) : T.Zero;
            for (int lane = 0; lane < width; lane++)
            {
                s.Bias[lane] = lane < lanes && Bias is not null ? Bias.Data[first + lane] : T.Zero;
                s.Skip[lane] = lane < lanes && D is not null ? D.Data[first + lane] : T.Zero;
            }
            Array.Clear(s.X);
            if (X0 is not null)
                for (int k = 0; k < n; k++)
                    for (int lane = 0; lane < lanes; lane++) s.X[k * width + lane] = X0.Data[(bi * dd + first + lane) * n + k];
            s.Softplus = Softplus;
            int row0 = (bi * dd + first) * l;
            for (int t0 = 0; t0 < l; t0 += Scratch<T>.Chunk)
            {
                int len = Math.Min(Scratch<T>.Chunk, l - t0);
                ToLanes(U.Data.AsSpan(row0 + t0), l, lanes, len, s.UT, width);
                ToLanes(Delta.Data.AsSpan(row0 + t0), l, lanes, len, s.DeltaT, width);
                if (Z is not null) ToLanes(Z.Data.AsSpan(row0 + t0), l, lanes, len, s.ZT, width);
                ScanLanes(len, Work.AsSpan((bg * l + t0) * n, len * n), Work.AsSpan(TimeMajor + (bg * l + t0) * n, len * n), Z is not null, s);
                FromLanes(s.YT, lanes, len, Y.Data.AsSpan(row0 + t0), l, width);
            }
            if (XLast is not null)
                for (int k = 0; k < n; k++)
                    for (int lane = 0; lane < lanes; lane++) XLast.Data[(bi * dd + first + lane) * n + k] = s.X[k * width + lane];
            PerThread<Scratch<T>, (int, int)>.Give(s);
        }

        /// <summary>One block of sixteen float channels on the N = 16 path (<see cref="Lanes16"/>).</summary>
        private void RunSixteen(int job)
        {
            const int w = Lanes16.Lanes, n = Lanes16.Lanes;
            int l = Length, dd = Channels, gs = Groups, groupSize = dd / gs;
            int bg = job / BlocksPerGroup, bi = bg / gs, first = bg % gs * groupSize + job % BlocksPerGroup * w;
            int lanes = Math.Min(w, (bg % gs + 1) * groupSize - first);
            var s = PerThread<Lanes16, int>.Take(0);
            var work = Unsafe.As<float[]>(Work);
            // A log2(e) of the block's lanes: the block's A_log rows are contiguous, so their exps run as one
            // float64 vector pass (TensorPrimitives.Exp) instead of 256 scalar Math.Exp calls.
            Span<double> exps = stackalloc double[w * n];
            var aRows = Unsafe.As<float[]>(ALog).AsSpan(first * n, lanes * n);
            for (int i = 0; i < aRows.Length; i++) exps[i] = aRows[i];
            TensorPrimitives.Exp(exps[..aRows.Length], exps[..aRows.Length]);
            for (int k = 0; k < n; k++)
                for (int lane = 0; lane < w; lane++)
                    s.A[k * w + lane] = lane < lanes ? (float)(-exps[lane * n + k] / Ln2) : 0f;
            Array.Clear(s.X);
            if (X0 is not null)
                for (int k = 0; k < n; k++)
                    for (int lane = 0; lane < lanes; lane++) s.X[k * w + lane] = Unsafe.As<float[]>(X0.Data)[(bi * dd + first + lane) * n + k];
            Lanes16.Block16(s, Unsafe.As<float[]>(Y.Data), Unsafe.As<float[]>(U.Data), Unsafe.As<float[]>(Delta.Data),
                Z is null ? null : Unsafe.As<float[]>(Z.Data), Bias is null ? null : Unsafe.As<float[]>(Bias.Data),
                D is null ? null : Unsafe.As<float[]>(D.Data), work, bg * Padded * n, TimeMajor + bg * Padded * n,
                first, (bi * dd + first) * l, lanes, l);
            if (XLast is not null)
                for (int k = 0; k < n; k++)
                    for (int lane = 0; lane < lanes; lane++) Unsafe.As<float[]>(XLast.Data)[(bi * dd + first + lane) * n + k] = s.X[k * w + lane];
            PerThread<Lanes16, int>.Give(s);
        }
    }

    private static readonly double Ln2 = Math.Log(2.0);

    /// <summary>
    /// A log2(e) = -exp(A_log) / ln 2, rounded once from float64: the decays are then
    /// exp(Delta A) = 2^(Delta A log2 e), one VectorMath.Exp2Decay (half the dependency chain of Exp).
    /// </summary>
    private static T ALog2E<T>(T aLog) where T : unmanaged, IFloatingPointIeee754<T> => T.CreateChecked(-Math.Exp(double.CreateChecked(aLog)) / Ln2);

    /// <summary>
    /// Per-thread scratch for one block of W channels and one time chunk: the block's u, delta, z and
    /// y as [Chunk, W] (time step t of the W channels = one vector); A log2(e) and the state [N, W] (the
    /// state carried across chunks); the lanes' bias and skip D. Kept across calls (PerThread).
    /// </summary>
    private sealed class Scratch<T>(int n, int width) : IPerThreadWorkspace<Scratch<T>, (int, int)> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static Scratch<T> Create((int, int) key) => new(key.Item1, key.Item2);

        public bool Fits((int, int) key) => key == (n, width);

        /// <summary>Time steps per chunk: keeps the chunk's buffers and B, C rows in L1/L2.</summary>
        public const int Chunk = 256;

        /// <summary>Channels per block (lanes of the state vectors).</summary>
        public int Width => width;

        public readonly T[] UT = new T[Chunk * width], DeltaT = new T[Chunk * width], DuT = new T[Chunk * width], ZT = new T[Chunk * width], YT = new T[Chunk * width];
        public readonly T[] A = new T[n * width], X = new T[n * width];
        public readonly T[] Bias = new T[width], Skip = new T[width];

        /// <summary>Delta = softplus(delta + bias) when set, else delta + bias (which may be negative: full-range exp).</summary>
        public bool Softplus = true;
    }

    /// <summary>
    /// rows[lane * stride + t] for lane &lt; lanes, t &lt; len into lanesT[t * W + lane] (spare lanes 0):
    /// register transposes of V x V sub-blocks (V = Vector256&lt;T&gt;.Count, W a multiple of V) for a full
    /// block, element copies for the time tail and partial blocks.
    /// </summary>
    private static void ToLanes<T>(ReadOnlySpan<T> rows, int stride, int lanes, int len, T[] lanesT, int width) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int sub = Vector256<T>.Count, t = 0;
        ref T src = ref MemoryMarshal.GetReference(rows);
        ref T dst = ref MemoryMarshal.GetArrayDataReference(lanesT);
        if (lanes == width)
        {
            // Two sub-blocks of time per step: each row's 64-byte line is used whole while it is in L1
            // (the rows are a whole stride apart and compete for the same cache sets).
            for (; t + 2 * sub <= len; t += 2 * sub)
                for (int r = 0; r < width; r += sub)
                {
                    BlockTranspose.Square(ref Unsafe.Add(ref src, r * stride + t), stride, ref Unsafe.Add(ref dst, t * width + r), width);
                    BlockTranspose.Square(ref Unsafe.Add(ref src, r * stride + t + sub), stride, ref Unsafe.Add(ref dst, (t + sub) * width + r), width);
                }
            for (; t + sub <= len; t += sub)
                for (int r = 0; r < width; r += sub)
                    BlockTranspose.Square(ref Unsafe.Add(ref src, r * stride + t), stride, ref Unsafe.Add(ref dst, t * width + r), width);
        }
        for (; t < len; t++)
            for (int lane = 0; lane < width; lane++)
                Unsafe.Add(ref dst, t * width + lane) = lane < lanes ? rows[lane * stride + t] : T.Zero;
    }

    /// <summary>The inverse of <see cref="ToLanes{T}"/> for the real lanes: lanesT[t * W + lane] into rows[lane * stride + t].</summary>
    private static void FromLanes<T>(T[] lanesT, int lanes, int len, Span<T> rows, int stride, int width) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int sub = Vector256<T>.Count, t = 0;
        ref T src = ref MemoryMarshal.GetArrayDataReference(lanesT);
        ref T dst = ref MemoryMarshal.GetReference(rows);
        if (lanes == width)
        {
            for (; t + 2 * sub <= len; t += 2 * sub)
                for (int r = 0; r < width; r += sub)
                {
                    BlockTranspose.Square(ref Unsafe.Add(ref src, t * width + r), width, ref Unsafe.Add(ref dst, r * stride + t), stride);
                    BlockTranspose.Square(ref Unsafe.Add(ref src, (t + sub) * width + r), width, ref Unsafe.Add(ref dst, r * stride + t + sub), stride);
                }
            for (; t + sub <= len; t += sub)
                for (int r = 0; r < width; r += sub)
                    BlockTranspose.Square(ref Unsafe.Add(ref src, t * width + r), width, ref Unsafe.Add(ref dst, r * stride + t), stride);
        }
        for (; t < len; t++)
            for (int lane = 0; lane < lanes; lane++)
                rows[lane * stride + t] = Unsafe.Add(ref src, t * width + lane);
    }

    /// <summary>
    /// The block's time chunk in three passes over [len, W] rows (lanes = channels): the inputs
    /// Delta = softplus(delta + bias) and Delta u; the recurrence with n unrolled (bT, cT [len, N]);
    /// the output (scan + D u) o silu(z). Reads UT, DeltaT (overwritten by Delta), ZT; writes DuT, YT.
    /// The passes are separate so that the recurrence loop holds nothing but its exps and FMAs:
    /// with softplus inside it, every step waited for that step's softplus (an exp, a log and a
    /// division in a row) before its N exps could start, because the out-of-order window is already
    /// full of the previous step's exps. The elementwise passes run on Vector256 of T whatever W is
    /// (the lane's bias and skip repeat every W elements); the recurrence on Vector512 when W = 16.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // long loops: skip the tier-0 JIT
    private static void ScanLanes<T>(int len, ReadOnlySpan<T> bT, ReadOnlySpan<T> cT, bool gate, Scratch<T> s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = s.A.Length / s.Width;
        ref T x = ref MemoryMarshal.GetArrayDataReference(s.X);
        ref T a = ref MemoryMarshal.GetArrayDataReference(s.A);
        ref T uRef = ref MemoryMarshal.GetArrayDataReference(s.UT);
        ref T dtRef = ref MemoryMarshal.GetArrayDataReference(s.DeltaT);
        ref T duRef = ref MemoryMarshal.GetArrayDataReference(s.DuT);
        ref T zRef = ref MemoryMarshal.GetArrayDataReference(s.ZT);
        ref T yRef = ref MemoryMarshal.GetArrayDataReference(s.YT);
        ref T bRef = ref MemoryMarshal.GetReference(bT);
        ref T cRef = ref MemoryMarshal.GetReference(cT);
        ref T biasRef = ref MemoryMarshal.GetArrayDataReference(s.Bias);
        ref T skipRef = ref MemoryMarshal.GetArrayDataReference(s.Skip);
        nuint width = (nuint)s.Width, sub = (nuint)Vector256<T>.Count, end = (nuint)len * width;
        var threshold = Vector256.Create(T.CreateTruncating(NaiveActivations.SoftplusThreshold));
        bool softplus = s.Softplus;
        for (nuint i = 0; i < end; i += sub)
        {
            var pre = Vector256.LoadUnsafe(ref dtRef, i) + Vector256.LoadUnsafe(ref biasRef, i % width);
            var dt = softplus ? Softplus(pre, threshold) : pre;
            dt.StoreUnsafe(ref dtRef, i);
            (dt * Vector256.LoadUnsafe(ref uRef, i)).StoreUnsafe(ref duRef, i);
        }
        if (width == (nuint)Vector512<float>.Count && typeof(T) == typeof(float))
            Recurrence512(len, n, ref Unsafe.As<T, float>(ref x), ref Unsafe.As<T, float>(ref a), ref Unsafe.As<T, float>(ref dtRef),
                ref Unsafe.As<T, float>(ref duRef), ref Unsafe.As<T, float>(ref yRef), ref Unsafe.As<T, float>(ref bRef), ref Unsafe.As<T, float>(ref cRef));
        else
            for (int t = 0; t < len; t++)
            {
                nuint lanes = (nuint)t * width, row = (nuint)(t * n);
                var dt = Vector256.LoadUnsafe(ref dtRef, lanes);
                var du = Vector256.LoadUnsafe(ref duRef, lanes);
                var acc = Vector256<T>.Zero;
                for (nuint k = 0; k < (nuint)n; k++)
                {
                    var power = dt * Vector256.LoadUnsafe(ref a, k * width);
                    var decay = softplus ? VectorMath.Exp2Decay(power) : VectorMath.Exp2(power);
                    var xk = VectorMath.FusedMultiplyAdd(decay, Vector256.LoadUnsafe(ref x, k * width), du * Vector256.Create(Unsafe.Add(ref bRef, row + k)));
                    xk.StoreUnsafe(ref x, k * width);
                    acc = VectorMath.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref cRef, row + k)), xk, acc);
                }
                acc.StoreUnsafe(ref yRef, lanes);
            }
        for (nuint i = 0; i < end; i += sub)
        {
            var yt = VectorMath.FusedMultiplyAdd(Vector256.LoadUnsafe(ref skipRef, i % width), Vector256.LoadUnsafe(ref uRef, i), Vector256.LoadUnsafe(ref yRef, i));
            if (gate)
            {
                var zt = Vector256.LoadUnsafe(ref zRef, i);
                yt = yt * zt / (Vector256<T>.One + VectorMath.Exp(-zt));   // silu(z) = z / (1 + e^-z)
            }
            yt.StoreUnsafe(ref yRef, i);
        }
    }

    /// <summary>
    /// The recurrence of <see cref="ScanLanes{T}"/> for sixteen float channels per vector (AVX-512):
    /// per step t and state n, x_n = 2^(Delta_t A_n log2 e) o x_n + (Delta_t u_t) B_t[n] and
    /// y_t += C_t[n] x_n: one vector exp (<see cref="VectorMath.Exp2Decay(Vector512{float})"/>, 9
    /// instructions), two multiplies and two FMAs per sixteen (channel, state) pairs, the N chains
    /// independent. This is the loop the compute floor in the bench counts.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Recurrence512(int len, int n, ref float x, ref float a, ref float dtRef, ref float duRef, ref float yRef,
        ref float bRef, ref float cRef)
    {
        const int W = 16;
        for (int t = 0; t < len; t++)
        {
            nuint lanes = (nuint)(t * W), row = (nuint)(t * n);
            var dt = Vector512.LoadUnsafe(ref dtRef, lanes);
            var du = Vector512.LoadUnsafe(ref duRef, lanes);
            var acc = Vector512<float>.Zero;
            for (nuint k = 0; k < (nuint)n; k++)
            {
                var decay = VectorMath.Exp2Decay(dt * Vector512.LoadUnsafe(ref a, k * W));
                var xk = Avx512F.FusedMultiplyAdd(decay, Vector512.LoadUnsafe(ref x, k * W), du * Vector512.Create(Unsafe.Add(ref bRef, row + k)));
                xk.StoreUnsafe(ref x, k * W);
                acc = Avx512F.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref cRef, row + k)), xk, acc);
            }
            acc.StoreUnsafe(ref yRef, lanes);
        }
    }

    /// <summary>
    /// The float32 scan for N = 16 states on AVX-512 (Mamba's default; softplus on): per block of sixteen
    /// channels and chunk of <see cref="Chunk"/> steps,
    ///   1. per channel row (contiguous in time, no transpose): Delta = softplus(delta + bias) and Delta u,
    ///      one Vector512 of sixteen steps at a time, into [16 channels, Chunk] rows;
    ///   2. Delta and Delta u turned to [Chunk, 16] by 16 x 16 register transposes (one step = one vector);
    ///   3. the recurrence (<see cref="Recurrence16"/>) with the whole state in registers;
    ///   4. y back to rows by the same transpose, and per row y = (y + D u) o silu(z) written to the output
    ///      (z is never transposed).
    /// Steps 1 and 4 of the neighbouring chunks run interleaved with step 3, one row per 8 recurrence steps
    /// (see Block16), and the recurrence prefetches the rows ahead of them, one line of delta, u, z and y per
    /// step (sixteen rows a whole row apart are too many streams for the hardware prefetcher).
    /// The decay is 2^(Delta A log2 e) by <see cref="Exp2"/> (vrndscaleps and vreducepd split the argument,
    /// degree-5 polynomial, vscalefps), exact for every Delta A &lt;= 0 including -inf. Spare lanes of a
    /// partial block have A = 0 and Delta = Delta u = 0 (state stays 0) and are not written out; the
    /// steps past the end of the sequence in the last chunk likewise.
    /// </summary>
    private sealed class Lanes16 : IPerThreadWorkspace<Lanes16, int>
    {
        /// <summary>Channels per block = states = floats per Vector512.</summary>
        public const int Lanes = 16;

        /// <summary>Steps per transpose block; the recurrence runs over whole blocks.</summary>
        public const int Block = 16;

        /// <summary>Steps per chunk: six [16, Chunk] buffers of 8 KB stay in L1/L2.</summary>
        public const int Chunk = 128;

        public readonly float[] DtRows = new float[Lanes * Chunk], DuRows = new float[Lanes * Chunk], YRows = new float[Lanes * Chunk];
        public readonly float[] DtT = new float[Chunk * Lanes], DuT = new float[Chunk * Lanes], YT = new float[Chunk * Lanes];

        /// <summary>A log2(e) and the state, [16 states, 16 lanes].</summary>
        public readonly float[] A = new float[Lanes * Lanes], X = new float[Lanes * Lanes];

        public static Lanes16 Create(int key) => new();

        public bool Fits(int key) => true;

        /// <summary>
        /// One block: channels first..first+lanes-1, row0 the flat index of (batch, first, 0); B^T and C^T
        /// [padded, 16] start at bStart and cStart of <paramref name="work"/>; A and the initial state are
        /// already in <see cref="A"/> and <see cref="X"/>, the last state is left in <see cref="X"/>.
        /// </summary>
        public static unsafe void Block16(Lanes16 s, float[] y, float[] u, float[] delta, float[]? z, float[]? bias, float[]? skip, float[] work,
            int bStart, int cStart, int first, int row0, int lanes, int l)
        {
            // Raw addresses for prefetch hints only (a hint at a stale or out-of-range address is harmless).
            float* pDelta = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(delta));
            float* pU = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(u));
            float* pZ = z is null ? pU : (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(z));
            float* pY = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(y));
            if (lanes < Lanes)
            {
                Array.Clear(s.DtRows);
                Array.Clear(s.DuRows);
            }
            // Software-pipelined over chunks: while chunk c's recurrence runs, Delta and Delta u of chunk c + 1
            // are computed into the row buffers (free once chunk c is transposed) and chunk c - 1's output rows
            // are written, one channel row per eight recurrence steps, so that their loads and divisions overlap
            // with the recurrence's FP work instead of running as passes of their own.
            int chunks = (l + Chunk - 1) / Chunk;
            InputRows(s, u, delta, bias, first, row0, lanes, l, 0);
            for (int c = 0; c < chunks; c++)
            {
                int t0 = c * Chunk, len = Math.Min(Chunk, l - t0), steps = (len + Block - 1) / Block * Block;
                for (int tb = 0; tb < steps; tb += Block)
                {
                    Transpose(ref s.DtRows[tb], Chunk, ref s.DtT[tb * Lanes], Lanes);
                    Transpose(ref s.DuRows[tb], Chunk, ref s.DuT[tb * Lanes], Lanes);
                }
                bool next = c + 1 < chunks, previous = c > 0;
                if (steps == Chunk && lanes == Lanes)
                {
                    // Prefetched meanwhile: delta and u two chunks ahead (the next chunk's are read now), z and
                    // y of this chunk (written during the next chunk's recurrence), or the next block's rows.
                    nint ahead = Ahead(row0, l, t0 + 2 * Chunk), here = row0 + t0;
                    const int rowSteps = Chunk / Lanes;
                    for (int j = 0; j < Lanes; j++)
                    {
                        int at = j * rowSteps;
                        Recurrence16(rowSteps, ref s.A[0], ref s.X[0], ref s.DtT[at * Lanes], ref s.DuT[at * Lanes], ref s.YT[at * Lanes],
                            ref work[bStart + (t0 + at) * Lanes], ref work[cStart + (t0 + at) * Lanes],
                            pDelta + ahead + j * l, pU + ahead + j * l, pZ + here + j * l, pY + here + j * l, l);
                        if (next)
                        {
                            int tn = t0 + Chunk, lenNext = Math.Min(Chunk, l - tn);
                            InputRow(ref delta[row0 + j * l + tn], ref u[row0 + j * l + tn], bias is null ? 0f : bias[first + j], lenNext,
                                (lenNext + Block - 1) / Block * Block, ref s.DtRows[j * Chunk], ref s.DuRows[j * Chunk]);
                        }
                        if (previous) OutputRowOf(s, y, u, z, skip, first, row0, l, t0 - Chunk, Chunk, j);
                    }
                }
                else
                {
                    nint ahead = Ahead(row0, l, t0 + Chunk);
                    Recurrence16(steps, ref s.A[0], ref s.X[0], ref s.DtT[0], ref s.DuT[0], ref s.YT[0], ref work[bStart + t0 * Lanes], ref work[cStart + t0 * Lanes],
                        pDelta + ahead, pU + ahead, pZ + ahead, pY + ahead, l);
                    if (next) InputRows(s, u, delta, bias, first, row0, lanes, l, t0 + Chunk);
                    if (previous)
                        for (int j = 0; j < lanes; j++) OutputRowOf(s, y, u, z, skip, first, row0, l, t0 - Chunk, Chunk, j);
                }
                for (int tb = 0; tb < steps; tb += Block)
                    Transpose(ref s.YT[tb * Lanes], Lanes, ref s.YRows[tb], Chunk);
            }
            int tl = (chunks - 1) * Chunk;
            for (int j = 0; j < lanes; j++) OutputRowOf(s, y, u, z, skip, first, row0, l, tl, l - tl, j);
        }

        /// <summary>Flat index of time step t of the block's first row, continuing into the next block's rows past the end.</summary>
        private static nint Ahead(int row0, int l, int t) => t < l ? row0 + t : row0 + (nint)Lanes * l + (t - l);

        /// <summary>Delta and Delta u of the chunk at t0 for rows 0..lanes-1 into the row buffers.</summary>
        private static void InputRows(Lanes16 s, float[] u, float[] delta, float[]? bias, int first, int row0, int lanes, int l, int t0)
        {
            int len = Math.Min(Chunk, l - t0), steps = (len + Block - 1) / Block * Block;
            for (int j = 0; j < lanes; j++)
                InputRow(ref delta[row0 + j * l + t0], ref u[row0 + j * l + t0], bias is null ? 0f : bias[first + j], len, steps,
                    ref s.DtRows[j * Chunk], ref s.DuRows[j * Chunk]);
        }

        /// <summary>Row j of the output chunk at t0 (len steps) from the transposed scan in <see cref="YRows"/>.</summary>
        private static void OutputRowOf(Lanes16 s, float[] y, float[] u, float[]? z, float[]? skip, int first, int row0, int l, int t0, int len, int j) =>
            OutputRow(ref s.YRows[j * Chunk], ref u[row0 + j * l + t0], ref z is null ? ref Unsafe.NullRef<float>() : ref z[row0 + j * l + t0],
                skip is null ? 0f : skip[first + j], len, ref y[row0 + j * l + t0]);

        /// <summary>Delta = softplus(delta + bias), Delta u for one channel's len steps; steps len..steps-1 get 0.</summary>
        private static unsafe void InputRow(ref float delta, ref float u, float bias, int len, int steps, ref float dt, ref float du)
        {
            var b = Vector512.Create(bias);
            int t = 0;
            for (; t + Lanes <= len; t += Lanes)
            {
                var d = Softplus(Vector512.LoadUnsafe(ref delta, (nuint)t) + b);
                d.StoreUnsafe(ref dt, (nuint)t);
                (d * Vector512.LoadUnsafe(ref u, (nuint)t)).StoreUnsafe(ref du, (nuint)t);
            }
            if (t < steps)
            {
                Span<float> dv = stackalloc float[Lanes], uv = stackalloc float[Lanes];
                dv.Clear();
                uv.Clear();
                for (int i = 0; t + i < len; i++)
                {
                    dv[i] = Unsafe.Add(ref delta, t + i);
                    uv[i] = Unsafe.Add(ref u, t + i);
                }
                var live = Vector512.LessThan(Vector512.Create(0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), Vector512.Create((float)(len - t)));
                var d = Vector512.ConditionalSelect(live, Softplus(Vector512.Create<float>(dv) + b), Vector512<float>.Zero);
                d.StoreUnsafe(ref dt, (nuint)t);
                (d * Vector512.Create<float>(uv)).StoreUnsafe(ref du, (nuint)t);
            }
        }

        /// <summary>y = (scan + D u) o silu(z) (z null: no gate) for one channel's len steps.</summary>
        private static unsafe void OutputRow(ref float scan, ref float u, ref float z, float skip, int len, ref float y)
        {
            var d = Vector512.Create(skip);
            bool gate = !Unsafe.IsNullRef(ref z);
            int t = 0;
            for (; t + Lanes <= len; t += Lanes)
            {
                var v = Avx512F.FusedMultiplyAdd(d, Vector512.LoadUnsafe(ref u, (nuint)t), Vector512.LoadUnsafe(ref scan, (nuint)t));
                if (gate)
                {
                    var zt = Vector512.LoadUnsafe(ref z, (nuint)t);
                    // silu(z) = z / (1 + 2^(-z log2 e)); the argument capped at 128 makes the power +inf, silu -0.
                    v = v * zt / (Vector512<float>.One + Exp2(Vector512.Min(zt * Vector512.Create(-Log2E), Vector512.Create(128f))));
                }
                v.StoreUnsafe(ref y, (nuint)t);
            }
            for (; t < len; t++)
            {
                float v = skip * Unsafe.Add(ref u, t) + Unsafe.Add(ref scan, t);
                if (gate)
                {
                    float zt = Unsafe.Add(ref z, t);
                    v = v * zt / (1 + MathF.Exp(-zt));
                }
                Unsafe.Add(ref y, t) = v;
            }
        }

        private const float Log2E = 1.44269504088896341f;

        /// <summary>
        /// 2^y: n = round(y) (vrndscaleps) and f = y - n in [-1/2, 1/2] (vreduceps, exact) side by side,
        /// 2^f by VectorMath.Exp2Decay's degree-5 polynomial, times 2^n by vscalefps. -inf gives 0
        /// (vreduceps of an infinity is 0, vscalefps by -inf is 0), +inf gives +inf, NaN stays NaN.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector512<float> Exp2(Vector512<float> y)
        {
            var n = Avx512F.RoundScale(y, 0);
            var f = Avx512DQ.Reduce(y, 0);
            var p = Avx512F.FusedMultiplyAdd(Vector512.Create(1.3264631852507591e-03f), f, Vector512.Create(9.671486914157867e-03f));
            p = Avx512F.FusedMultiplyAdd(p, f, Vector512.Create(5.550733581185341e-02f));
            p = Avx512F.FusedMultiplyAdd(p, f, Vector512.Create(2.4022242426872253e-01f));
            p = Avx512F.FusedMultiplyAdd(p, f, Vector512.Create(6.931470036506653e-01f));
            p = Avx512F.FusedMultiplyAdd(p, f, Vector512<float>.One);
            return Avx512F.Scale(p, n);
        }

        /// <summary>
        /// PyTorch's softplus (threshold 20): max(x, 0) + log1p(e), e = exp(-|x|) in (0, 1], with
        /// log1p(e) = 2 atanh(s), s = e / (2 + e) in (0, 1/3]: the odd series 2 (s + s^3/3 + ... + s^13/13)
        /// (next term below 2e-8 relative), no log kernel and no rounding of 1 + e; x itself above 20.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector512<float> Softplus(Vector512<float> x)
        {
            var e = Exp2(Vector512.Abs(x) * Vector512.Create(-Log2E));
            var s = e / (Vector512.Create(2f) + e);
            var s2 = s * s;
            var p = Avx512F.FusedMultiplyAdd(Vector512.Create(2f / 13), s2, Vector512.Create(2f / 11));
            p = Avx512F.FusedMultiplyAdd(p, s2, Vector512.Create(2f / 9));
            p = Avx512F.FusedMultiplyAdd(p, s2, Vector512.Create(2f / 7));
            p = Avx512F.FusedMultiplyAdd(p, s2, Vector512.Create(2f / 5));
            p = Avx512F.FusedMultiplyAdd(p, s2, Vector512.Create(2f / 3));
            p = Avx512F.FusedMultiplyAdd(p, s2, Vector512.Create(2f));
            var r = Avx512F.FusedMultiplyAdd(p, s, Vector512.Max(x, Vector512<float>.Zero));
            return Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512.Create((float)NaiveActivations.SoftplusThreshold)), x, r);
        }

        /// <summary>x_k = 2^(Delta A_k log2 e) o x_k + (Delta u) B_t[k] for one state k.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector512<float> Update(Vector512<float> dt, Vector512<float> du, Vector512<float> xk, ref float a, int k, ref float bt) =>
            Avx512F.FusedMultiplyAdd(Exp2(dt * Vector512.LoadUnsafe(ref a, (nuint)(k * Lanes))), xk, du * Vector512.Create(Unsafe.Add(ref bt, k)));

        /// <summary>
        /// The recurrence for <paramref name="len"/> steps (a multiple of 16), state [16 states, 16 channels] in
        /// sixteen registers across the steps (loaded from and stored to <paramref name="x"/>): per state k,
        /// x_k = 2^(Delta_t A_k log2 e) o x_k + (Delta_t u_t) B_t[k] and y_t += C_t[k] x_k, with B and C as
        /// broadcasts; two partial sums for y shorten its dependency chain. Written out per state because
        /// the JIT keeps locals, not array elements, in registers.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static unsafe void Recurrence16(int len, ref float a, ref float x, ref float dtRef, ref float duRef, ref float yRef, ref float bRef, ref float cRef,
            float* nextDelta, float* nextU, float* nextZ, float* nextY, nint stride)
        {
            var x0 = Vector512.LoadUnsafe(ref x, 0);
            var x1 = Vector512.LoadUnsafe(ref x, 16);
            var x2 = Vector512.LoadUnsafe(ref x, 32);
            var x3 = Vector512.LoadUnsafe(ref x, 48);
            var x4 = Vector512.LoadUnsafe(ref x, 64);
            var x5 = Vector512.LoadUnsafe(ref x, 80);
            var x6 = Vector512.LoadUnsafe(ref x, 96);
            var x7 = Vector512.LoadUnsafe(ref x, 112);
            var x8 = Vector512.LoadUnsafe(ref x, 128);
            var x9 = Vector512.LoadUnsafe(ref x, 144);
            var x10 = Vector512.LoadUnsafe(ref x, 160);
            var x11 = Vector512.LoadUnsafe(ref x, 176);
            var x12 = Vector512.LoadUnsafe(ref x, 192);
            var x13 = Vector512.LoadUnsafe(ref x, 208);
            var x14 = Vector512.LoadUnsafe(ref x, 224);
            var x15 = Vector512.LoadUnsafe(ref x, 240);
            for (nuint lanes = 0; lanes < (nuint)len * Lanes; lanes += Lanes)
            {
                var dt = Vector512.LoadUnsafe(ref dtRef, lanes);
                var du = Vector512.LoadUnsafe(ref duRef, lanes);
                ref float bt = ref Unsafe.Add(ref bRef, lanes);
                ref float ct = ref Unsafe.Add(ref cRef, lanes);
                // Step s fetches line s % 8 of row s / 8 of the next chunk's delta, u, z and y: 128 steps, 16 rows x 8 lines.
                nuint step = lanes / Lanes;
                nint at = (nint)(step >> 3) * stride + (nint)((step & 7) << 4);
                Sse.Prefetch0(nextDelta + at);
                Sse.Prefetch0(nextU + at);
                Sse.Prefetch0(nextZ + at);
                Sse.Prefetch0(nextY + at);
                x0 = Update(dt, du, x0, ref a, 0, ref bt);
                var y0 = Vector512.Create(Unsafe.Add(ref ct, 0)) * x0;
                x1 = Update(dt, du, x1, ref a, 1, ref bt);
                var y1 = Vector512.Create(Unsafe.Add(ref ct, 1)) * x1;
                x2 = Update(dt, du, x2, ref a, 2, ref bt);
                y0 = Avx512F.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref ct, 2)), x2, y0);
                x3 = Update(dt, du, x3, ref a, 3, ref bt);
                y1 = Avx512F.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref ct, 3)), x3, y1);
                x4 = Update(dt, du, x4, ref a, 4, ref bt);
                y0 = Avx512F.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref ct, 4)), x4, y0);
                x5 = Update(dt, du, x5, ref a, 5, ref bt);
                y1 = Avx512F.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref ct, 5)), x5, y1);
                x6 = Update(dt, du, x6, ref a, 6, ref bt);
                y0 = Avx512F.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref ct, 6)), x6, y0);
                x7 = Update(dt, du, x7, ref a, 7, ref bt);
                y1 = Avx512F.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref ct, 7)), x7, y1);
                x8 = Update(dt, du, x8, ref a, 8, ref bt);
                y0 = Avx512F.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref ct, 8)), x8, y0);
                x9 = Update(dt, du, x9, ref a, 9, ref bt);
                y1 = Avx512F.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref ct, 9)), x9, y1);
                x10 = Update(dt, du, x10, ref a, 10, ref bt);
                y0 = Avx512F.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref ct, 10)), x10, y0);
                x11 = Update(dt, du, x11, ref a, 11, ref bt);
                y1 = Avx512F.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref ct, 11)), x11, y1);
                x12 = Update(dt, du, x12, ref a, 12, ref bt);
                y0 = Avx512F.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref ct, 12)), x12, y0);
                x13 = Update(dt, du, x13, ref a, 13, ref bt);
                y1 = Avx512F.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref ct, 13)), x13, y1);
                x14 = Update(dt, du, x14, ref a, 14, ref bt);
                y0 = Avx512F.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref ct, 14)), x14, y0);
                x15 = Update(dt, du, x15, ref a, 15, ref bt);
                y1 = Avx512F.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref ct, 15)), x15, y1);
                (y0 + y1).StoreUnsafe(ref yRef, lanes);
            }
            x0.StoreUnsafe(ref x, 0);
            x1.StoreUnsafe(ref x, 16);
            x2.StoreUnsafe(ref x, 32);
            x3.StoreUnsafe(ref x, 48);
            x4.StoreUnsafe(ref x, 64);
            x5.StoreUnsafe(ref x, 80);
            x6.StoreUnsafe(ref x, 96);
            x7.StoreUnsafe(ref x, 112);
            x8.StoreUnsafe(ref x, 128);
            x9.StoreUnsafe(ref x, 144);
            x10.StoreUnsafe(ref x, 160);
            x11.StoreUnsafe(ref x, 176);
            x12.StoreUnsafe(ref x, 192);
            x13.StoreUnsafe(ref x, 208);
            x14.StoreUnsafe(ref x, 224);
            x15.StoreUnsafe(ref x, 240);
        }

        /// <summary>dst[j * dstStride + i] = src[i * srcStride + j] for i, j &lt; 16: unpacks of 32- and 64-bit pairs, then 128-bit lane shuffles.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static void Transpose(ref float src, nint ss, ref float dst, nint ds)
        {
            var r0 = Vector512.LoadUnsafe(ref src); var r1 = Vector512.LoadUnsafe(ref Unsafe.Add(ref src, ss));
            var r2 = Vector512.LoadUnsafe(ref Unsafe.Add(ref src, 2 * ss)); var r3 = Vector512.LoadUnsafe(ref Unsafe.Add(ref src, 3 * ss));
            var r4 = Vector512.LoadUnsafe(ref Unsafe.Add(ref src, 4 * ss)); var r5 = Vector512.LoadUnsafe(ref Unsafe.Add(ref src, 5 * ss));
            var r6 = Vector512.LoadUnsafe(ref Unsafe.Add(ref src, 6 * ss)); var r7 = Vector512.LoadUnsafe(ref Unsafe.Add(ref src, 7 * ss));
            var r8 = Vector512.LoadUnsafe(ref Unsafe.Add(ref src, 8 * ss)); var r9 = Vector512.LoadUnsafe(ref Unsafe.Add(ref src, 9 * ss));
            var r10 = Vector512.LoadUnsafe(ref Unsafe.Add(ref src, 10 * ss)); var r11 = Vector512.LoadUnsafe(ref Unsafe.Add(ref src, 11 * ss));
            var r12 = Vector512.LoadUnsafe(ref Unsafe.Add(ref src, 12 * ss)); var r13 = Vector512.LoadUnsafe(ref Unsafe.Add(ref src, 13 * ss));
            var r14 = Vector512.LoadUnsafe(ref Unsafe.Add(ref src, 14 * ss)); var r15 = Vector512.LoadUnsafe(ref Unsafe.Add(ref src, 15 * ss));
            // Stage 1: interleave pairs of rows (32-bit elements).
            var t0 = Avx512F.UnpackLow(r0, r1); var t1 = Avx512F.UnpackHigh(r0, r1);
            var t2 = Avx512F.UnpackLow(r2, r3); var t3 = Avx512F.UnpackHigh(r2, r3);
            var t4 = Avx512F.UnpackLow(r4, r5); var t5 = Avx512F.UnpackHigh(r4, r5);
            var t6 = Avx512F.UnpackLow(r6, r7); var t7 = Avx512F.UnpackHigh(r6, r7);
            var t8 = Avx512F.UnpackLow(r8, r9); var t9 = Avx512F.UnpackHigh(r8, r9);
            var t10 = Avx512F.UnpackLow(r10, r11); var t11 = Avx512F.UnpackHigh(r10, r11);
            var t12 = Avx512F.UnpackLow(r12, r13); var t13 = Avx512F.UnpackHigh(r12, r13);
            var t14 = Avx512F.UnpackLow(r14, r15); var t15 = Avx512F.UnpackHigh(r14, r15);
            // Stage 2: interleave 64-bit pairs.
            r0 = Lo64(t0, t2); r1 = Hi64(t0, t2); r2 = Lo64(t1, t3); r3 = Hi64(t1, t3);
            r4 = Lo64(t4, t6); r5 = Hi64(t4, t6); r6 = Lo64(t5, t7); r7 = Hi64(t5, t7);
            r8 = Lo64(t8, t10); r9 = Hi64(t8, t10); r10 = Lo64(t9, t11); r11 = Hi64(t9, t11);
            r12 = Lo64(t12, t14); r13 = Hi64(t12, t14); r14 = Lo64(t13, t15); r15 = Hi64(t13, t15);
            // Stage 3 and 4: 128-bit lanes.
            t0 = Avx512F.Shuffle4x128(r0, r4, 0x88); t1 = Avx512F.Shuffle4x128(r1, r5, 0x88);
            t2 = Avx512F.Shuffle4x128(r2, r6, 0x88); t3 = Avx512F.Shuffle4x128(r3, r7, 0x88);
            t4 = Avx512F.Shuffle4x128(r0, r4, 0xDD); t5 = Avx512F.Shuffle4x128(r1, r5, 0xDD);
            t6 = Avx512F.Shuffle4x128(r2, r6, 0xDD); t7 = Avx512F.Shuffle4x128(r3, r7, 0xDD);
            t8 = Avx512F.Shuffle4x128(r8, r12, 0x88); t9 = Avx512F.Shuffle4x128(r9, r13, 0x88);
            t10 = Avx512F.Shuffle4x128(r10, r14, 0x88); t11 = Avx512F.Shuffle4x128(r11, r15, 0x88);
            t12 = Avx512F.Shuffle4x128(r8, r12, 0xDD); t13 = Avx512F.Shuffle4x128(r9, r13, 0xDD);
            t14 = Avx512F.Shuffle4x128(r10, r14, 0xDD); t15 = Avx512F.Shuffle4x128(r11, r15, 0xDD);
            Avx512F.Shuffle4x128(t0, t8, 0x88).StoreUnsafe(ref dst);
            Avx512F.Shuffle4x128(t1, t9, 0x88).StoreUnsafe(ref Unsafe.Add(ref dst, ds));
            Avx512F.Shuffle4x128(t2, t10, 0x88).StoreUnsafe(ref Unsafe.Add(ref dst, 2 * ds));
            Avx512F.Shuffle4x128(t3, t11, 0x88).StoreUnsafe(ref Unsafe.Add(ref dst, 3 * ds));
            Avx512F.Shuffle4x128(t4, t12, 0x88).StoreUnsafe(ref Unsafe.Add(ref dst, 4 * ds));
            Avx512F.Shuffle4x128(t5, t13, 0x88).StoreUnsafe(ref Unsafe.Add(ref dst, 5 * ds));
            Avx512F.Shuffle4x128(t6, t14, 0x88).StoreUnsafe(ref Unsafe.Add(ref dst, 6 * ds));
            Avx512F.Shuffle4x128(t7, t15, 0x88).StoreUnsafe(ref Unsafe.Add(ref dst, 7 * ds));
            Avx512F.Shuffle4x128(t0, t8, 0xDD).StoreUnsafe(ref Unsafe.Add(ref dst, 8 * ds));
            Avx512F.Shuffle4x128(t1, t9, 0xDD).StoreUnsafe(ref Unsafe.Add(ref dst, 9 * ds));
            Avx512F.Shuffle4x128(t2, t10, 0xDD).StoreUnsafe(ref Unsafe.Add(ref dst, 10 * ds));
            Avx512F.Shuffle4x128(t3, t11, 0xDD).StoreUnsafe(ref Unsafe.Add(ref dst, 11 * ds));
            Avx512F.Shuffle4x128(t4, t12, 0xDD).StoreUnsafe(ref Unsafe.Add(ref dst, 12 * ds));
            Avx512F.Shuffle4x128(t5, t13, 0xDD).StoreUnsafe(ref Unsafe.Add(ref dst, 13 * ds));
            Avx512F.Shuffle4x128(t6, t14, 0xDD).StoreUnsafe(ref Unsafe.Add(ref dst, 14 * ds));
            Avx512F.Shuffle4x128(t7, t15, 0xDD).StoreUnsafe(ref Unsafe.Add(ref dst, 15 * ds));
        }



        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector512<float> Lo64(Vector512<float> a, Vector512<float> b) => Avx512F.UnpackLow(a.AsDouble(), b.AsDouble()).AsSingle();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector512<float> Hi64(Vector512<float> a, Vector512<float> b) => Avx512F.UnpackHigh(a.AsDouble(), b.AsDouble()).AsSingle();
    }

    /// <summary>
    /// PyTorch's softplus (threshold 20) on one vector: max(x, 0) + log1p(exp(-|x|)), with
    /// log1p(e) = log(w) e / (w - 1), w = 1 + e (Goldberg's correction, exact to a few ulps without a
    /// log1p kernel; e when w rounds to 1); x itself above the threshold.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> Softplus<T>(Vector256<T> x, Vector256<T> threshold) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var e = VectorMath.Exp(-Vector256.Abs(x));
        var w = Vector256<T>.One + e;
        var wm1 = w - Vector256<T>.One;
        var log1p = Vector256.ConditionalSelect(Vector256.Equals(wm1, Vector256<T>.Zero), e, VectorMath.Log(w) * e / wm1);
        return Vector256.ConditionalSelect(Vector256.GreaterThan(x, threshold), x, Vector256.Max(x, Vector256<T>.Zero) + log1p);
    }

    /// <summary>
    /// Complex A, one (batch, channel) row per work item, the N complex lanes as spans: per t, Delta (softplus or
    /// not), exp(Delta A) = exp(Delta Re A) (cos + i sin)(Delta Im A) by TensorPrimitives, x = exp(Delta A) o x +
    /// Delta u B_t, y = 2 sum_n Re(C_t x) + D u, times silu(z). x0, xLast [B, D, N, 2] (re, im).
    /// </summary>
    private static Tensor<T> ForwardFastComplex<T>(SelectiveScanInputs<T> p, Tensor<T>? x0, Tensor<T> xLast, int maxThreads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int bs = p.Batch, dd = p.Channels, l = p.Length, n = p.State, gs = p.Groups;
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        var bRe = TimeMajor(p.B, bs, gs, n, l);
        var bIm = TimeMajor(p.BImag!, bs, gs, n, l);
        var cRe = TimeMajor(p.C, bs, gs, n, l);
        var cIm = TimeMajor(p.CImag!, bs, gs, n, l);
        var aRe = new T[dd * n];
        for (int i = 0; i < aRe.Length; i++) aRe[i] = T.CreateChecked(-Math.Exp(double.CreateChecked(p.ALog.Data[i])));
        var y = Tensor<T>.Zeros(bs, dd, l);
        var options = new ParallelOptions { MaxDegreeOfParallelism = maxThreads == 0 ? KernelThreads.Default : maxThreads };
        Parallel.For(0, bs * dd, options, () => new T[8 * n], (row, _, w) =>
        {
            int bi = row / dd, ch = row % dd, bg = bi * gs + p.GroupOf(ch);
            var xr = w.AsSpan(0, n); var xi = w.AsSpan(n, n); var mag = w.AsSpan(2 * n, n); var ang = w.AsSpan(3 * n, n);
            var cos = w.AsSpan(4 * n, n); var sin = w.AsSpan(5 * n, n); var t1 = w.AsSpan(6 * n, n); var t2 = w.AsSpan(7 * n, n);
            for (int k = 0; k < n; k++)
            {
                xr[k] = x0 is null ? T.Zero : x0.Data[(row * n + k) * 2];
                xi[k] = x0 is null ? T.Zero : x0.Data[(row * n + k) * 2 + 1];
            }
            var ar = aRe.AsSpan(ch * n, n);
            var ai = p.AImag!.Data.AsSpan(ch * n, n);
            T bias = p.DeltaBias is null ? T.Zero : p.DeltaBias.Data[ch], skip = p.D is null ? T.Zero : p.D.Data[ch];
            for (int t = 0; t < l; t++)
            {
                T pre = p.Delta.Data[row * l + t] + bias;
                T dt = p.DeltaSoftplus ? T.CreateChecked(NaiveActivations.Softplus(double.CreateChecked(pre))) : pre;
                T u = p.U.Data[row * l + t], du = dt * u;
                TensorPrimitives.Multiply(ar, dt, mag);
                VectorMath.Exp<T>(mag, mag);
                TensorPrimitives.Multiply(ai, dt, ang);
                TensorPrimitives.Cos(ang, cos);
                TensorPrimitives.Sin(ang, sin);
                TensorPrimitives.Multiply(cos, mag, cos);                       // Re exp(Delta A)
                TensorPrimitives.Multiply(sin, mag, sin);                       // Im exp(Delta A)
                var br = bRe.AsSpan((bg * l + t) * n, n); var bim = bIm.AsSpan((bg * l + t) * n, n);
                // t1 = Re(e) xr - Im(e) xi + du Re B;  t2 = Re(e) xi + Im(e) xr + du Im B.
                TensorPrimitives.Multiply(cos, xr, t1);
                TensorPrimitives.Multiply(sin, xi, mag);
                TensorPrimitives.Subtract(t1, mag, t1);
                TensorPrimitives.MultiplyAdd(br, du, t1, t1);
                TensorPrimitives.Multiply(cos, xi, t2);
                TensorPrimitives.MultiplyAdd(sin, xr, t2, t2);
                TensorPrimitives.MultiplyAdd(bim, du, t2, t2);
                t1.CopyTo(xr);
                t2.CopyTo(xi);
                T acc = TensorPrimitives.Dot(cRe.AsSpan((bg * l + t) * n, n), xr) - TensorPrimitives.Dot(cIm.AsSpan((bg * l + t) * n, n), xi);
                T yt = T.CreateChecked(2) * acc + skip * u;
                if (p.Z is not null)
                {
                    T zt = p.Z.Data[row * l + t];
                    yt = yt * zt / (T.One + T.Exp(-zt));
                }
                y.Data[row * l + t] = yt;
            }
            for (int k = 0; k < n; k++)
            {
                xLast.Data[(row * n + k) * 2] = xr[k];
                xLast.Data[(row * n + k) * 2 + 1] = xi[k];
            }
            return w;
        }, _ => { });
        return y;
    }

    /// <summary>
    /// Fast tier of <see cref="StateUpdate"/> over T (mamba's selective_state_update with heads and groups): state
    /// [B, H, P, N] advanced in place, returns out [B, H, P]. Work items are (batch, head); each state row [N] is
    /// updated with TensorPrimitives (exp(Delta a) o state + (Delta x) b, then the dot with c).
    /// <paramref name="maxThreads"/> = 0 uses every core; the result does not depend on it.
    /// </summary>
    public static Tensor<T> StateUpdateFast<T>(Tensor<T> state, Tensor<T> x, Tensor<T> dt, Tensor<T> a, Tensor<T> b, Tensor<T> c,
        Tensor<T>? d = null, Tensor<T>? z = null, Tensor<T>? dtBias = null, bool dtSoftplus = false, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (bs, hs, ps, n, gs) = CheckStateUpdate(state, x, dt, a, b, c, d, z, dtBias);
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        var o = Tensor<T>.Zeros(bs, hs, ps);
        var options = new ParallelOptions { MaxDegreeOfParallelism = maxThreads == 0 ? KernelThreads.Default : maxThreads };
        Parallel.For(0, bs * hs, options, () => new T[n], (bh, _, decay) =>
        {
            int bi = bh / hs, h = bh % hs, g = h / (hs / gs);
            var bRow = b.Data.AsSpan((bi * gs + g) * n, n);
            var cRow = c.Data.AsSpan((bi * gs + g) * n, n);
            for (int q = 0; q < ps; q++)
            {
                int row = bh * ps + q, hp = h * ps + q;
                T pre = dt.Data[row] + (dtBias is null ? T.Zero : dtBias.Data[hp]);
                T step = dtSoftplus ? T.CreateChecked(NaiveActivations.Softplus(double.CreateChecked(pre))) : pre;
                var s = state.Data.AsSpan(row * n, n);
                TensorPrimitives.Multiply(a.Data.AsSpan(hp * n, n), step, decay);
                VectorMath.Exp<T>(decay, decay);
                TensorPrimitives.Multiply(s, decay, s);
                TensorPrimitives.MultiplyAdd(bRow, step * x.Data[row], s, s);
                T y = TensorPrimitives.Dot(s, cRow) + (d is null ? T.Zero : d.Data[hp]) * x.Data[row];
                if (z is not null)
                {
                    T zt = z.Data[row];
                    y = y * zt / (T.One + T.Exp(-zt));
                }
                o.Data[row] = y;
            }
            return decay;
        }, _ => { });
        return o;
    }

    /// <summary>B or C [B, G, N, L] transposed to [B, G, L, N], so that time step t of a group is N contiguous values.</summary>
    private static T[] TimeMajor<T>(Tensor<T> m, int bs, int gs, int n, int l) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = new T[bs * gs * l * n];
        TimeMajor(m, bs, gs, n, l, l, r);
        return r;
    }

    /// <summary>
    /// <see cref="TimeMajor{T}(Tensor{T}, int, int, int, int)"/> into <paramref name="r"/> [B, G, padded, N]:
    /// steps l..padded-1 of every group are zeros.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // called a few times per scan: the tier-0 JIT would keep the transposes' vectors on the stack
    private static void TimeMajor<T>(Tensor<T> m, int bs, int gs, int n, int l, int padded, Span<T> r) where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool blocks = typeof(T) == typeof(float) && n == Lanes16.Lanes && Avx512F.IsSupported && Vector512.IsHardwareAccelerated;
        for (int bg = 0; bg < bs * gs; bg++)
        {
            int t0 = 0;
            if (blocks)
                for (; t0 + Lanes16.Block <= l; t0 += Lanes16.Block)
                    Lanes16.Transpose(ref Unsafe.As<T, float>(ref m.Data[bg * n * l + t0]), l,
                        ref Unsafe.As<T, float>(ref r[(bg * padded + t0) * n]), n);
            for (int k = 0; k < n; k++)
            {
                var src = m.Data.AsSpan((bg * n + k) * l, l);
                for (int t = t0; t < l; t++) r[(bg * padded + t) * n + k] = src[t];
            }
            r.Slice((bg * padded + l) * n, (padded - l) * n).Clear();
        }
    }

    private static void CheckFast<T>(Tensor<T> u, Tensor<T> delta, Tensor<T> aLog, Tensor<T> b, Tensor<T> c,
        Tensor<T>? d, Tensor<T>? z, Tensor<T>? deltaBias) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(u);
        if (u.Rank != 3) throw new ArgumentException($"u must be [B, D, L], got {Shapes.Format(u.Shape)}.", nameof(u));
        int bs = u.Dim(0), dd = u.Dim(1), l = u.Dim(2);
        Shapes.Same(delta, [bs, dd, l], nameof(delta));
        if (aLog is null || aLog.Rank != 2 || aLog.Dim(0) != dd)
            throw new ArgumentException($"aLog must be [D = {dd}, N], got {(aLog is null ? "null" : Shapes.Format(aLog.Shape))}.", nameof(aLog));
        int n = aLog.Dim(1);
        for (int i = 0; i < aLog.Data.Length; i++)
            if (!T.IsFinite(aLog.Data[i]))
                throw new ArgumentException($"aLog must be finite (A = -exp(A_log) is a decay rate), got {aLog.Data[i]} at flat index {i}.", nameof(aLog));
        if (b is null || b.Rank != 4 || b.Dim(0) != bs || b.Dim(2) != n || b.Dim(3) != l || b.Dim(1) < 1 || dd % b.Dim(1) != 0)
            throw new ArgumentException($"b must be [B = {bs}, G | {dd}, N = {n}, L = {l}], got {(b is null ? "null" : Shapes.Format(b.Shape))}.", nameof(b));
        Shapes.Same(c, b.Shape, nameof(c));
        if (d is not null) Shapes.Same(d, [dd], nameof(d));
        if (z is not null) Shapes.Same(z, [bs, dd, l], nameof(z));
        if (deltaBias is not null) Shapes.Same(deltaBias, [dd], nameof(deltaBias));    }
}
