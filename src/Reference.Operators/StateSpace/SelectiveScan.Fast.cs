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
    private static bool Wide<T>(bool softplus) => typeof(T) == typeof(float) && softplus && Avx512F.IsSupported && Vector512.IsHardwareAccelerated;

    private static void ScanCore<T>(Tensor<T> y, Tensor<T> u, Tensor<T> delta, Tensor<T> aLog, Tensor<T> b, Tensor<T> c,
        Tensor<T>? d, Tensor<T>? z, Tensor<T>? deltaBias, bool softplus, Tensor<T>? x0, Tensor<T>? xLast, int maxThreads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckFast(u, delta, aLog, b, c, d, z, deltaBias);
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        int bs = u.Dim(0), dd = u.Dim(1), l = u.Dim(2), n = aLog.Dim(1), gs = b.Dim(1);
        int width = Wide<T>(softplus) ? Vector512<float>.Count : Vector256<T>.Count;
        int timeMajor = bs * gs * l * n;
        // B and C time-major, then A log2(e), in one pooled buffer of the calling thread.
        var pooled = PooledArray<T>.Rent(2 * timeMajor + dd * n);
        TimeMajor(b, bs, gs, n, l, pooled.Data.AsSpan(0, timeMajor));
        TimeMajor(c, bs, gs, n, l, pooled.Data.AsSpan(timeMajor, timeMajor));
        // A log2(e) = -exp(A_log) / ln 2, rounded once from float64: the decays are then
        // exp(Delta A) = 2^(Delta A log2 e), one VectorMath.Exp2Decay (half the dependency chain of Exp).
        var a = pooled.Data.AsSpan(2 * timeMajor, dd * n);
        for (int i = 0; i < a.Length; i++) a[i] = T.CreateChecked(-Math.Exp(double.CreateChecked(aLog.Data[i])) / Math.Log(2.0));
        int groupSize = dd / gs, blocksPerGroup = (groupSize + width - 1) / width;
        var job = PerThread<ScanJob<T>, int>.Take(0);
        (job.Y, job.U, job.Delta, job.D, job.Z, job.Bias, job.X0, job.XLast, job.Work) = (y, u, delta, d, z, deltaBias, x0, xLast, pooled.Data);
        (job.TimeMajor, job.Channels, job.Length, job.States, job.Groups, job.Width, job.BlocksPerGroup, job.Softplus) =
            (timeMajor, dd, l, n, gs, width, blocksPerGroup, softplus);
        ParallelItems.For(bs * gs * blocksPerGroup, maxThreads, job);
        job.Release();
        PerThread<ScanJob<T>, int>.Give(job);
        PooledArray<T>.Return(pooled);
    }

    /// <summary>
    /// One call's arguments and the work of one block of W channels (a <see cref="ParallelItems"/> body,
    /// pooled per calling thread so that a call allocates nothing). Work = [B^T | C^T | A log2 e].
    /// </summary>
    private sealed class ScanJob<T> : IParallelBody, IPerThreadWorkspace<ScanJob<T>, int> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public Tensor<T> Y = null!, U = null!, Delta = null!;
        public Tensor<T>? D, Z, Bias, X0, XLast;
        public T[] Work = null!;
        public int TimeMajor, Channels, Length, States, Groups, Width, BlocksPerGroup;
        public bool Softplus;

        public static ScanJob<T> Create(int key) => new();

        public bool Fits(int key) => true;

        /// <summary>Drops the references to the call's tensors.</summary>
        public void Release() => (Y, U, Delta, D, Z, Bias, X0, XLast, Work) = (null!, null!, null!, null, null, null, null, null, null!);

        public void Run(int job)
        {
            int width = Width, n = States, l = Length, dd = Channels, gs = Groups, groupSize = dd / gs;
            var s = PerThread<Scratch<T>, (int, int)>.Take((n, width));
            int bg = job / BlocksPerGroup, bi = bg / gs, first = bg % gs * groupSize + job % BlocksPerGroup * width;
            int lanes = Math.Min(width, (bg % gs + 1) * groupSize - first);
            // Spare lanes: A = 0, bias = D = 0 and (below) u = delta = z = 0, so their state stays 0.
            for (int k = 0; k < n; k++)
                for (int lane = 0; lane < width; lane++)
                    s.A[k * width + lane] = lane < lanes ? Work[2 * TimeMajor + (first + lane) * n + k] : T.Zero;
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
    }

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
                TensorPrimitives.Exp(mag, mag);
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
                TensorPrimitives.Exp(decay, decay);
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
        TimeMajor(m, bs, gs, n, l, r);
        return r;
    }

    /// <summary><see cref="TimeMajor{T}(Tensor{T}, int, int, int, int)"/> into <paramref name="r"/> [B, G, L, N].</summary>
    private static void TimeMajor<T>(Tensor<T> m, int bs, int gs, int n, int l, Span<T> r) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int bg = 0; bg < bs * gs; bg++)
            for (int k = 0; k < n; k++)
            {
                var src = m.Data.AsSpan((bg * n + k) * l, l);
                for (int t = 0; t < l; t++) r[(bg * l + t) * n + k] = src[t];
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
        Shapes.Same(c, b.ShapeArray, nameof(c));
        if (d is not null) Shapes.Same(d, [dd], nameof(d));
        if (z is not null) Shapes.Same(z, [bs, dd, l], nameof(z));
        if (deltaBias is not null) Shapes.Same(deltaBias, [dd], nameof(deltaBias));    }
}
