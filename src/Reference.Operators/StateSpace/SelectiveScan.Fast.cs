// The Fast tier of the selective scan (see SelectiveScan.cs for the paper, the glossary and the
// float64 definition): float or double, threads over blocks of W channels (W = one Vector256 of T:
// 8 floats or 4 doubles) that share a B/C group, and per block
//   1. Delta = softplus(delta + bias) and Delta u per channel row (vectorized over L), transposed
//      to [L, W] so that time step t of the W channels is one vector,
//   2. the recurrence with the channels in the SIMD lanes and the state index n unrolled:
//        x_n = exp(Delta_t A_n) o x_n + (Delta_t u_t) B_t[n],   y_t = sum_n C_t[n] x_n,
//      where B_t[n] and C_t[n] are broadcasts (shared by the group) and the N chains x_n are
//      independent, so exp (computed in registers, no [L, N] decay buffer) and the FMAs of
//      different n overlap instead of waiting on one another; no horizontal sums,
//   3. y transposed back to rows, then the skip and the silu(z) gate (vectorized over L).
// A block that runs past its group's last channel fills the spare lanes with Delta = 0 and u = 0
// (decay 1, input 0: their state stays 0) and drops them on output. The lanes accumulate over n
// in the same order as the naive loop, but exp is VectorMath.Exp's, so results agree with the
// definition to rounding, not bitwise.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.Operators.StateSpace;

public static partial class SelectiveScan
{
    /// <summary>
    /// Fast selective scan over T (float or double), same layout and meaning as
    /// <see cref="Forward(SelectiveScanInputs)"/>: u, delta, z [B, D, L], A_log [D, N], B, C [B, G, N, L],
    /// D, bias [D] (null = absent). Returns out [B, D, L]. <paramref name="maxThreads"/> = 0 uses every core.
    /// </summary>
    public static Tensor<T> ForwardFast<T>(Tensor<T> u, Tensor<T> delta, Tensor<T> aLog, Tensor<T> b, Tensor<T> c,
        Tensor<T>? d = null, Tensor<T>? z = null, Tensor<T>? deltaBias = null, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckFast(u, delta, aLog, b, c, d, z, deltaBias);
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        int bs = u.Dim(0), dd = u.Dim(1), l = u.Dim(2), n = aLog.Dim(1), gs = b.Dim(1);
        int width = Vector256<T>.Count;
        var bT = TimeMajor(b, bs, gs, n, l);
        var cT = TimeMajor(c, bs, gs, n, l);
        var a = new T[dd * n];
        for (int i = 0; i < a.Length; i++) a[i] = -T.Exp(aLog.Data[i]);
        int groupSize = dd / gs, blocksPerGroup = (groupSize + width - 1) / width;
        var y = new Tensor<T>(GC.AllocateUninitializedArray<T>(bs * dd * l), bs, dd, l);   // every element is written below
        var options = new ParallelOptions { MaxDegreeOfParallelism = maxThreads == 0 ? Environment.ProcessorCount : maxThreads };
        Parallel.For(0, bs * gs * blocksPerGroup, options,
            () => new Scratch<T>(n),
            (job, _, s) =>
            {
                int bg = job / blocksPerGroup, bi = bg / gs, first = bg % gs * groupSize + job % blocksPerGroup * width;
                int lanes = Math.Min(width, (bg % gs + 1) * groupSize - first);
                // Spare lanes: A = 0 and (below) Delta = Delta u = 0, so their state stays 0.
                for (int k = 0; k < n; k++)
                    for (int lane = 0; lane < width; lane++)
                        s.A[k * width + lane] = lane < lanes ? a[(first + lane) * n + k] : T.Zero;
                Array.Clear(s.X);
                Array.Clear(s.DtT);
                Array.Clear(s.DuT);
                for (int t0 = 0; t0 < l; t0 += Scratch<T>.Chunk)
                {
                    int len = Math.Min(Scratch<T>.Chunk, l - t0);
                    for (int lane = 0; lane < lanes; lane++)
                    {
                        int row = (bi * dd + first + lane) * l + t0;
                        StepInputs(u.Data.AsSpan(row, len), delta.Data.AsSpan(row, len),
                            deltaBias is null ? T.Zero : deltaBias.Data[first + lane], lane, s);
                    }
                    ScanLanes(len, bT.AsSpan((bg * l + t0) * n, len * n), cT.AsSpan((bg * l + t0) * n, len * n), s);
                    for (int lane = 0; lane < lanes; lane++)
                    {
                        int ch = first + lane, row = (bi * dd + ch) * l + t0;
                        Output(u.Data.AsSpan(row, len), d is null ? T.Zero : d.Data[ch], z is null ? default : z.Data.AsSpan(row, len),
                            lane, y.Data.AsSpan(row, len), s);
                    }
                }
                return s;
            },
            _ => { });
        return y;
    }

    /// <summary>
    /// Per-thread scratch for one block of W channels and one time chunk: a row's Delta and Delta u
    /// [Chunk]; the block's Delta, Delta u, y [Chunk, W]; A and the state [N, W] (carried across chunks).
    /// </summary>
    private sealed class Scratch<T>(int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Time steps per chunk: keeps the chunk's buffers and B, C rows in L1/L2.</summary>
        public const int Chunk = 256;

        public static int Width => Vector256<T>.Count;

        public readonly T[] Dt = new T[Chunk], Du = new T[Chunk], Work = new T[Chunk];
        public readonly T[] DtT = new T[Chunk * Width], DuT = new T[Chunk * Width], YT = new T[Chunk * Width];
        public readonly T[] A = new T[n * Width], X = new T[n * Width];
    }

    /// <summary>Lane <paramref name="lane"/> of the block: Delta = softplus(delta + bias) and Delta u, written time-major.</summary>
    private static void StepInputs<T>(ReadOnlySpan<T> u, ReadOnlySpan<T> delta, T bias, int lane, Scratch<T> s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int len = u.Length, width = Scratch<T>.Width;
        var dt = s.Dt.AsSpan(0, len);
        var du = s.Du.AsSpan(0, len);
        TensorPrimitives.Add(delta, bias, dt);
        Softplus(dt, du, s.Work.AsSpan(0, len));
        TensorPrimitives.Multiply(dt, u, du);
        ref T dtT = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(s.DtT), lane);
        ref T duT = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(s.DuT), lane);
        ref T dtRow = ref MemoryMarshal.GetReference(dt);
        ref T duRow = ref MemoryMarshal.GetReference(du);
        for (int t = 0; t < len; t++)   // len <= Chunk: the column stays inside [Chunk, W]
        {
            Unsafe.Add(ref dtT, t * width) = Unsafe.Add(ref dtRow, t);
            Unsafe.Add(ref duT, t * width) = Unsafe.Add(ref duRow, t);
        }
    }

    /// <summary>The recurrence over <paramref name="len"/> steps for the W channels of the block (lanes = channels, n unrolled); bT, cT [len, N]; writes YT [len, W].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // long loops: skip the tier-0 JIT
    private static void ScanLanes<T>(int len, ReadOnlySpan<T> bT, ReadOnlySpan<T> cT, Scratch<T> s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = s.A.Length / Scratch<T>.Width;
        ref T x = ref MemoryMarshal.GetArrayDataReference(s.X);
        ref T a = ref MemoryMarshal.GetArrayDataReference(s.A);
        ref T dtRef = ref MemoryMarshal.GetArrayDataReference(s.DtT);
        ref T duRef = ref MemoryMarshal.GetArrayDataReference(s.DuT);
        ref T yRef = ref MemoryMarshal.GetArrayDataReference(s.YT);
        ref T bRef = ref MemoryMarshal.GetReference(bT);
        ref T cRef = ref MemoryMarshal.GetReference(cT);
        nuint width = (nuint)Scratch<T>.Width;
        for (int t = 0; t < len; t++)
        {
            nuint lanes = (nuint)t * width, row = (nuint)(t * n);
            var dt = Vector256.LoadUnsafe(ref dtRef, lanes);
            var du = Vector256.LoadUnsafe(ref duRef, lanes);
            var acc = Vector256<T>.Zero;
            for (nuint k = 0; k < (nuint)n; k++)
            {
                var decay = VectorMath.Exp(dt * Vector256.LoadUnsafe(ref a, k * width));
                var xk = decay * Vector256.LoadUnsafe(ref x, k * width) + du * Vector256.Create(Unsafe.Add(ref bRef, row + k));
                xk.StoreUnsafe(ref x, k * width);
                acc += Vector256.Create(Unsafe.Add(ref cRef, row + k)) * xk;
            }
            acc.StoreUnsafe(ref yRef, lanes);
        }
    }

    /// <summary>Lane <paramref name="lane"/>'s output segment: y = (scan + D u) o silu(z), silu(z) = z / (1 + e^-z).</summary>
    private static void Output<T>(ReadOnlySpan<T> u, T skip, ReadOnlySpan<T> z, int lane, Span<T> y, Scratch<T> s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = Scratch<T>.Width, w = Vector256<T>.Count, t = 0;
        ref T column = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(s.YT), lane);
        for (int i = 0; i < y.Length; i++) y[i] = Unsafe.Add(ref column, i * width);   // y.Length <= Chunk
        if (skip != T.Zero) TensorPrimitives.MultiplyAdd(u, skip, y, y);
        if (z.IsEmpty) return;
        for (; t + w <= y.Length; t += w)
        {
            var zv = Vector256.Create(z.Slice(t));
            (Vector256.Create(y.Slice(t)) * zv / (Vector256<T>.One + VectorMath.Exp(-zv))).CopyTo(y.Slice(t));
        }
        for (; t < y.Length; t++) y[t] = y[t] * z[t] / (T.One + T.Exp(-z[t]));
    }

    /// <summary>
    /// PyTorch's softplus (threshold 20) in place, vectorized: max(x, 0) + log1p(exp(-|x|)), with
    /// log1p(e) = log(w) e / (w - 1), w = 1 + e (Goldberg's correction, exact to a few ulps without a
    /// log1p kernel; e when w rounds to 1). The generic scalar kernel costs more than the whole scan.
    /// </summary>
    private static void Softplus<T>(Span<T> x, Span<T> e, Span<T> w) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = x.Length, width = Vector256<T>.Count, i = 0;
        for (; i + width <= n; i += width)
        {
            var ev = VectorMath.Exp(-Vector256.Abs(Vector256.Create(x.Slice(i))));
            ev.CopyTo(e.Slice(i));
            (Vector256<T>.One + ev).CopyTo(w.Slice(i));
        }
        for (; i < n; i++)
        {
            e[i] = T.Exp(-T.Abs(x[i]));
            w[i] = T.One + e[i];
        }
        VectorMath.Log<T>(w, w);
        var threshold = T.CreateTruncating(NaiveActivations.SoftplusThreshold);
        for (i = 0; i + width <= n; i += width)
        {
            var xv = Vector256.Create(x.Slice(i));
            var ev = Vector256.Create(e.Slice(i));
            var wm1 = (Vector256<T>.One + ev) - Vector256<T>.One;
            var log1p = Vector256.ConditionalSelect(Vector256.Equals(wm1, Vector256<T>.Zero), ev, Vector256.Create(w.Slice(i)) * ev / wm1);
            var soft = Vector256.Max(xv, Vector256<T>.Zero) + log1p;
            Vector256.ConditionalSelect(Vector256.GreaterThan(xv, Vector256.Create(threshold)), xv, soft).CopyTo(x.Slice(i));
        }
        for (; i < n; i++)
        {
            T wm1 = (T.One + e[i]) - T.One;
            T log1p = wm1 == T.Zero ? e[i] : w[i] * e[i] / wm1;
            x[i] = x[i] > threshold ? x[i] : T.Max(x[i], T.Zero) + log1p;
        }
    }

    /// <summary>B or C [B, G, N, L] transposed to [B, G, L, N], so that time step t of a group is N contiguous values.</summary>
    private static T[] TimeMajor<T>(Tensor<T> m, int bs, int gs, int n, int l) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = new T[bs * gs * l * n];
        for (int bg = 0; bg < bs * gs; bg++)
            for (int k = 0; k < n; k++)
            {
                var src = m.Data.AsSpan((bg * n + k) * l, l);
                for (int t = 0; t < l; t++) r[(bg * l + t) * n + k] = src[t];
            }
        return r;
    }

    private static void CheckFast<T>(Tensor<T> u, Tensor<T> delta, Tensor<T> aLog, Tensor<T> b, Tensor<T> c,
        Tensor<T>? d, Tensor<T>? z, Tensor<T>? deltaBias) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(u);
        if (u.Rank != 3) throw new ArgumentException($"u must be [B, D, L], got {Shapes.Format(u.Shape)}.", nameof(u));
        int bs = u.Dim(0), dd = u.Dim(1), l = u.Dim(2);
        Same(delta, [bs, dd, l], nameof(delta));
        if (aLog is null || aLog.Rank != 2 || aLog.Dim(0) != dd)
            throw new ArgumentException($"aLog must be [D = {dd}, N], got {(aLog is null ? "null" : Shapes.Format(aLog.Shape))}.", nameof(aLog));
        int n = aLog.Dim(1);
        if (b is null || b.Rank != 4 || b.Dim(0) != bs || b.Dim(2) != n || b.Dim(3) != l || b.Dim(1) < 1 || dd % b.Dim(1) != 0)
            throw new ArgumentException($"b must be [B = {bs}, G | {dd}, N = {n}, L = {l}], got {(b is null ? "null" : Shapes.Format(b.Shape))}.", nameof(b));
        Same(c, b.ShapeArray, nameof(c));
        if (d is not null) Same(d, [dd], nameof(d));
        if (z is not null) Same(z, [bs, dd, l], nameof(z));
        if (deltaBias is not null) Same(deltaBias, [dd], nameof(deltaBias));

        static void Same(Tensor<T>? t, int[] shape, string name)
        {
            if (t is null || !t.Shape.SequenceEqual(shape))
                throw new ArgumentException($"{name} must have shape {Shapes.Format(shape)}, got {(t is null ? "null" : Shapes.Format(t.Shape))}.", name);
        }
    }
}
