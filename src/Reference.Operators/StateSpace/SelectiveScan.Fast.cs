// The Fast tier of the selective scan (see SelectiveScan.cs for the paper, the glossary and the
// float64 definition): float or double, threads over the (batch, channel) rows, and per row
//   1. Delta = softplus(delta + bias) and Delta u over the whole row (TensorPrimitives),
//   2. every decay exp(Delta_t A_n) of the row in one vectorized exp over [L, N'] (the exps are
//      the bulk of the arithmetic; doing them in bulk takes them off the recurrence's critical path),
//   3. the recurrence x = a_t o x + (Delta_t u_t) B_t with Vector256 over the state lanes n, B and C
//      of each group transposed once to [L, N'] so a time step reads N' contiguous lanes,
//   4. the skip and the silu(z) gate over the row (TensorPrimitives).
// N' = N rounded up to a whole number of vectors; padded lanes have A = 0 (decay 1) and B = C = 0,
// so they stay 0 and add nothing. Accumulation order differs from the naive one (lanes summed by
// vector then horizontally), so results agree to rounding, not bitwise.
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
        int width = Vector256<T>.Count, np = (n + width - 1) / width * width;
        var bT = Lanes(b, bs, gs, n, np, l);
        var cT = Lanes(c, bs, gs, n, np, l);
        var aPad = new T[dd * np];
        for (int ch = 0; ch < dd; ch++)
            for (int k = 0; k < n; k++) aPad[ch * np + k] = -T.Exp(aLog.Data[ch * n + k]);
        var y = Tensor<T>.Zeros(bs, dd, l);
        var options = new ParallelOptions { MaxDegreeOfParallelism = maxThreads == 0 ? Environment.ProcessorCount : maxThreads };
        Parallel.For(0, bs * dd, options,
            () => new Scratch<T>(l, np),
            (row, _, s) =>
            {
                int bi = row / dd, ch = row % dd, g = ch / (dd / gs);
                ScanRow(u.Data.AsSpan(row * l, l), delta.Data.AsSpan(row * l, l), aPad.AsSpan(ch * np, np),
                    bT.AsSpan((bi * gs + g) * l * np, l * np), cT.AsSpan((bi * gs + g) * l * np, l * np),
                    d is null ? T.Zero : d.Data[ch], z is null ? default : z.Data.AsSpan(row * l, l),
                    deltaBias is null ? T.Zero : deltaBias.Data[ch], y.Data.AsSpan(row * l, l), s);
                return s;
            },
            _ => { });
        return y;
    }

    /// <summary>Per-thread scratch: step sizes and Delta u [L], decays [L, N'], state [N'].</summary>
    private sealed class Scratch<T>(int length, int lanes) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public readonly T[] Dt = new T[length], Du = new T[length], Work = new T[length], Decay = new T[length * lanes], X = new T[lanes];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // long loops: skip the tier-0 JIT
    private static void ScanRow<T>(ReadOnlySpan<T> u, ReadOnlySpan<T> delta, ReadOnlySpan<T> a, ReadOnlySpan<T> bT, ReadOnlySpan<T> cT,
        T skip, ReadOnlySpan<T> z, T bias, Span<T> y, Scratch<T> s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int l = u.Length, np = a.Length, width = Vector256<T>.Count;
        var dt = s.Dt.AsSpan();
        TensorPrimitives.Add(delta, bias, dt);
        Softplus(dt, s.Du, s.Work);
        TensorPrimitives.Multiply(dt, u, s.Du);
        var decay = s.Decay.AsSpan();
        ref T aRef = ref MemoryMarshal.GetReference(a);
        ref T dec = ref MemoryMarshal.GetReference(decay);
        for (int t = 0; t < l; t++)
        {
            var step = Vector256.Create(dt[t]);
            for (int k = 0; k < np; k += width)
                (step * Vector256.LoadUnsafe(ref aRef, (nuint)k)).StoreUnsafe(ref dec, (nuint)(t * np + k));
        }
        VectorExp(decay);
        Array.Clear(s.X);
        ref T x = ref MemoryMarshal.GetArrayDataReference(s.X);
        ref T bRef = ref MemoryMarshal.GetReference(bT);
        ref T cRef = ref MemoryMarshal.GetReference(cT);
        for (int t = 0; t < l; t++)
        {
            var du = Vector256.Create(s.Du[t]);
            var acc = Vector256<T>.Zero;
            nuint offset = (nuint)(t * np);
            for (int k = 0; k < np; k += width)
            {
                var xv = Vector256.LoadUnsafe(ref x, (nuint)k);
                xv = Vector256.LoadUnsafe(ref dec, offset + (nuint)k) * xv + du * Vector256.LoadUnsafe(ref bRef, offset + (nuint)k);
                xv.StoreUnsafe(ref x, (nuint)k);
                acc += Vector256.LoadUnsafe(ref cRef, offset + (nuint)k) * xv;
            }
            y[t] = Vector256.Sum(acc);
        }
        if (skip != T.Zero) TensorPrimitives.MultiplyAdd(u, skip, y, y);
        if (!z.IsEmpty)
        {
            var gate = s.Dt.AsSpan();   // Delta is no longer needed: reuse its buffer for silu(z)
            FastActivations.Silu<T>(z, gate);
            TensorPrimitives.Multiply(y, gate, y);
        }
    }

    /// <summary>
    /// PyTorch's softplus (threshold 20) in place, vectorized: max(x, 0) + log1p(exp(-|x|)), with
    /// log1p(e) = log(w) e / (w - 1), w = 1 + e (Goldberg's correction, exact to a few ulps without a
    /// log1p kernel; e when w rounds to 1). The generic scalar kernel costs more than the whole scan.
    /// </summary>
    private static void Softplus<T>(Span<T> x, Span<T> e, Span<T> w) where T : unmanaged, IFloatingPointIeee754<T>
    {
        TensorPrimitives.Abs(x, e);
        TensorPrimitives.Negate(e, e);
        VectorExp(e);
        TensorPrimitives.Add(e, T.One, w);
        VectorLog(w);
        T threshold = T.CreateTruncating(NaiveActivations.SoftplusThreshold);
        for (int i = 0; i < x.Length; i++)
        {
            T wm1 = (T.One + e[i]) - T.One;
            T log1p = wm1 == T.Zero ? e[i] : w[i] * e[i] / wm1;
            x[i] = x[i] > threshold ? x[i] : T.Max(x[i], T.Zero) + log1p;
        }
    }

    private static void VectorLog<T>(Span<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            var f = MemoryMarshal.Cast<T, float>(x);
            TensorPrimitives.Log(f, f);
        }
        else if (typeof(T) == typeof(double))
        {
            var d = MemoryMarshal.Cast<T, double>(x);
            TensorPrimitives.Log(d, d);
        }
        else
        {
            TensorPrimitives.Log<T>(x, x);
        }
    }

    /// <summary>
    /// exp in place through the float/double overloads of TensorPrimitives.Exp, which are vectorized;
    /// the generic Exp&lt;T&gt; falls back to one scalar call per element (about 7x slower here).
    /// </summary>
    private static void VectorExp<T>(Span<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            var f = MemoryMarshal.Cast<T, float>(x);
            TensorPrimitives.Exp(f, f);
        }
        else if (typeof(T) == typeof(double))
        {
            var d = MemoryMarshal.Cast<T, double>(x);
            TensorPrimitives.Exp(d, d);
        }
        else
        {
            TensorPrimitives.Exp<T>(x, x);
        }
    }

    /// <summary>B or C [B, G, N, L] transposed to [B, G, L, N'] with zero lanes n &gt;= N.</summary>
    private static T[] Lanes<T>(Tensor<T> m, int bs, int gs, int n, int np, int l) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = new T[bs * gs * l * np];
        for (int bg = 0; bg < bs * gs; bg++)
            for (int k = 0; k < n; k++)
            {
                var src = m.Data.AsSpan((bg * n + k) * l, l);
                for (int t = 0; t < l; t++) r[(bg * l + t) * np + k] = src[t];
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
