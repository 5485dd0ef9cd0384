// The Fast tier of the Mamba block (see MambaBlock.cs for the paper, the glossary and the float64
// definition) over T = float or double. Every tensor between the projections is kept channel-major,
// [B, E, L] (the selective scan's own layout), so no transpose is ever materialized:
//   [x; z]_b   = InProj X_b^T                 two batched FastGemm products, [E, L] each (u_b is [L, D])
//   x'         = silu(bias + sum_j w_j shift_{K-1-j}(x))   the width-K causal depthwise conv, one
//                vectorized multiply-add per tap over the whole length (K is 4 in Mamba: a direct
//                sum beats any FFT or im2col route), then FastActivations.Silu
//   dt_low, B, C = XProj rows x'_b             three batched products, [R, L], [N, L], [N, L]
//   delta_b    = DtProj dt_low_b               [E, L]
//   y          = SelectiveScan.ForwardFastInto(y, x', delta, A_log, B, C, D, z, dt bias)
//   out_b      = y_b^T OutProj^T               [L, D] (the product reads y_b transposed while packing)
// (ForwardFastInto keeps x, z, x', dt_low, B, C, delta and y in a per-thread workspace across calls of one shape)
// The conv adds bias then taps in the naive order; the products follow FastGemm's documented order,
// so float64 agrees with the definition to rounding (~1e-15 relative), not bitwise.
// The decoding step (StepFast) does the same per token with one SIMD dot per output (no packing for
// a handful of rows) and the scan step x = exp(Delta A) o x + Delta u B on N lanes.
using System.Numerics;
using Reference.Core;
using Reference.Core.Kernels;
using Reference.Core.Linear;

namespace Reference.Operators.StateSpace;

/// <summary>Mamba block weights rounded to T once (reuse across calls); stored as in <see cref="MambaParameters"/> (out x in).</summary>
public sealed class MambaFast<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal MambaFast(MambaParameters p)
    {
        Parameters = p;
        InProj = Round(p.InProj); ConvWeight = Round(p.ConvWeight); ConvBias = Round(p.ConvBias); XProj = Round(p.XProj);
        DtProj = Round(p.DtProj); DtBias = p.DtBias.Cast<T>(); ALog = p.ALog.Cast<T>(); D = p.D.Cast<T>(); OutProj = Round(p.OutProj);
        A = new T[p.ALog.Length];
        for (int i = 0; i < A.Length; i++) A[i] = T.CreateTruncating(-Math.Exp(p.ALog.Data[i]));
    }

    public MambaParameters Parameters { get; }

    internal readonly T[] InProj, ConvWeight, ConvBias, XProj, DtProj, OutProj;
    internal readonly Tensor<T> DtBias, ALog, D;

    /// <summary>A = -exp(A_log) [E, N], for the decoding step.</summary>
    internal readonly T[] A;

    private static T[] Round(Tensor<double> t)
    {
        var r = new T[t.Length];
        for (int i = 0; i < r.Length; i++) r[i] = T.CreateTruncating(t.Data[i]);
        return r;
    }
}

/// <summary>Fast decoding state of a Mamba block: conv window [B, E, K-1] (oldest first), scan state [B, E, N], and step buffers.</summary>
public sealed class MambaFastState<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal MambaFastState(int batch, MambaParameters p)
    {
        int e = p.InnerWidth, n = p.StateSize;
        Batch = batch;
        Conv = new T[batch * e * (p.ConvWidth - 1)];
        X = new T[batch * e * n];
        Xz = new T[batch * 2 * e];
        Xa = new T[batch * e];
        Xdbl = new T[batch * (p.DtRank + 2 * n)];
        Delta = new T[batch * e];
        Y = new T[batch * e];
        Decay = new T[n];
    }

    public int Batch { get; }

    /// <summary>[B, E, K-1]: x_{t-K+1}, ..., x_{t-1} per channel (zeros before the sequence starts).</summary>
    public T[] Conv { get; }

    /// <summary>The selective-scan state [B, E, N].</summary>
    public T[] X { get; }

    internal readonly T[] Xz, Xa, Xdbl, Delta, Y, Decay;
}

public static partial class MambaBlock
{
    /// <summary>Rounds the parameters to T once (validated here).</summary>
    public static MambaFast<T> Prepare<T>(MambaParameters p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Check();
        return new MambaFast<T>(p);
    }

    /// <summary>Fast tier of <see cref="Forward(MambaParameters, Tensor{double})"/> (prepares the weights on every call).</summary>
    public static Tensor<T> ForwardFast<T>(MambaParameters p, Tensor<T> u, int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T> =>
        ForwardFast(Prepare<T>(p), u, maxThreads);

    /// <summary>
    /// Fast tier of <see cref="Forward(MambaParameters, Tensor{double})"/>: out [B, L, D] for u [B, L, D]
    /// over T. <paramref name="maxThreads"/> = 0 uses every core, 1 the calling thread only.
    /// </summary>
    public static Tensor<T> ForwardFast<T>(MambaFast<T> f, Tensor<T> u, int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (bs, l, dm) = CheckFast(f, u, maxThreads);
        var output = Tensor<T>.Zeros(bs, l, dm);
        ForwardFastInto(output, f, u, maxThreads);
        return output;
    }

    /// <summary>
    /// <see cref="ForwardFast{T}(MambaFast{T}, Tensor{T}, int)"/> written into the caller's <paramref name="output"/>
    /// [B, L, D] (every element overwritten). The intermediates (x, z, x', dt_low, B, C, delta, the scan's y) live in a
    /// per-thread workspace kept across calls of the same shape, and the scan writes into it with
    /// <see cref="SelectiveScan.ForwardFastInto{T}"/>, so a repeated call touches no fresh pages.
    /// </summary>
    public static void ForwardFastInto<T>(Tensor<T> output, MambaFast<T> f, Tensor<T> u, int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (bs, l, dm) = CheckFast(f, u, maxThreads);
        Shapes.Output(output, [bs, l, dm], nameof(output));
        if (bs == 0 || l == 0) return;
        var p = f.Parameters;
        int e = p.InnerWidth, n = p.StateSize, r = p.DtRank, el = e * l;
        var work = PerThread<MambaWork<T>, (int, int, int, int, int)>.Take((bs, e, l, n, r));
        var (x, z, xa, dtLow, bm, cm, delta) = (work.X.Data, work.Z.Data, work.Xa.Data, work.DtLow, work.B.Data, work.C.Data, work.Delta.Data);

        // [x; z]_b = InProj X_b^T: rows 0..E-1 of InProj give x, rows E..2E-1 the gate z, both [B, E, L].
        FastGemm.MultiplyBatched(false, true, e, l, dm, T.One, f.InProj.AsSpan(0, e * dm), dm, 0, u.Data, dm, l * dm,
            T.Zero, x, l, el, bs, maxThreads);
        FastGemm.MultiplyBatched(false, true, e, l, dm, T.One, f.InProj.AsSpan(e * dm), dm, 0, u.Data, dm, l * dm,
            T.Zero, z, l, el, bs, maxThreads);

        var options = new ParallelOptions { MaxDegreeOfParallelism = maxThreads == 0 ? KernelThreads.Default : maxThreads };
        Parallel.For(0, bs * e, options, row => ConvSiluRow(f, row % e, x.AsSpan(row * l, l), xa.AsSpan(row * l, l)));

        // dt_low, B, C = XProj x'_b (row blocks of XProj), then delta_b = DtProj dt_low_b.
        FastGemm.MultiplyBatched(false, false, r, l, e, T.One, f.XProj.AsSpan(0, r * e), e, 0, xa, l, el, T.Zero, dtLow, l, r * l, bs, maxThreads);
        FastGemm.MultiplyBatched(false, false, n, l, e, T.One, f.XProj.AsSpan(r * e, n * e), e, 0, xa, l, el, T.Zero, bm, l, n * l, bs, maxThreads);
        FastGemm.MultiplyBatched(false, false, n, l, e, T.One, f.XProj.AsSpan((r + n) * e, n * e), e, 0, xa, l, el, T.Zero, cm, l, n * l, bs, maxThreads);
        FastGemm.MultiplyBatched(false, false, e, l, r, T.One, f.DtProj, r, 0, dtLow, l, r * l, T.Zero, delta, l, el, bs, maxThreads);

        SelectiveScan.ForwardFastInto(work.Y, work.Xa, work.Delta, f.ALog, work.B, work.C, f.D, work.Z, f.DtBias, maxThreads);

        // out_b [L, D] = y_b^T OutProj^T: y_b is [E, L], so op(A) = A^T with lda = L.
        FastGemm.MultiplyBatched(true, true, l, dm, e, T.One, work.Y.Data, l, el, f.OutProj, e, 0, T.Zero, output.Data, dm, l * dm, bs, maxThreads);
        PerThread<MambaWork<T>, (int, int, int, int, int)>.Give(work);
    }

    private static (int Batch, int Length, int Width) CheckFast<T>(MambaFast<T> f, Tensor<T> u, int maxThreads) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        var p = f.Parameters;
        if (u is null || u.Rank != 3 || u.Dim(2) != p.ModelWidth)
            throw new ArgumentException($"u must be [B, L, D = {p.ModelWidth}], got {(u is null ? "null" : Shapes.Format(u.Shape))}.", nameof(u));
        return (u.Dim(0), u.Dim(1), p.ModelWidth);
    }

    /// <summary>
    /// The intermediates of one fast block forward for (batch, inner width E, length L, state N, dt rank R), kept per
    /// thread (<see cref="PerThread{TItem, TKey}"/>) and reused by calls of exactly that shape.
    /// </summary>
    private sealed class MambaWork<T> : IPerThreadWorkspace<MambaWork<T>, (int Batch, int Inner, int Length, int State, int Rank)>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly (int, int, int, int, int) key;

        private MambaWork((int Batch, int Inner, int Length, int State, int Rank) k)
        {
            key = k;
            var (bs, e, l, n, r) = k;
            (X, Z, Xa, Delta, Y) = (Tensor<T>.Zeros(bs, e, l), Tensor<T>.Zeros(bs, e, l), Tensor<T>.Zeros(bs, e, l), Tensor<T>.Zeros(bs, e, l), Tensor<T>.Zeros(bs, e, l));
            (B, C) = (Tensor<T>.Zeros(bs, 1, n, l), Tensor<T>.Zeros(bs, 1, n, l));
            DtLow = new T[bs * r * l];
        }

        /// <summary>x, the gate z, x' = silu(conv x), delta and the scan's y [B, E, L]; B and C [B, 1, N, L].</summary>
        public readonly Tensor<T> X, Z, Xa, Delta, Y, B, C;

        /// <summary>dt_low [B, R, L].</summary>
        public readonly T[] DtLow;

        public static MambaWork<T> Create((int Batch, int Inner, int Length, int State, int Rank) k) => new(k);

        public bool Fits((int Batch, int Inner, int Length, int State, int Rank) k) => k == key;
    }

    /// <summary>xa = silu(bias_c + sum_{j = 0..K-1} w[c, j] x[t - (K-1) + j]) over one channel's row of L samples.</summary>
    private static void ConvSiluRow<T>(MambaFast<T> f, int channel, ReadOnlySpan<T> x, Span<T> xa) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int k = f.Parameters.ConvWidth, l = x.Length;
        xa.Fill(f.ConvBias[channel]);
        for (int j = 0; j < k; j++)
        {
            int shift = k - 1 - j;   // tap j reads the sample `shift` steps back; the first `shift` outputs see the zero padding
            if (shift >= l) continue;
            var target = xa[shift..];
            TensorPrimitives.MultiplyAdd(x[..(l - shift)], f.ConvWeight[channel * k + j], target, target);
        }
        FastActivations.Silu<T>(xa, xa);
    }

    /// <summary>The zero fast decoding state for <paramref name="batch"/> sequences.</summary>
    public static MambaFastState<T> InitialFastState<T>(MambaFast<T> f, int batch) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        return new MambaFastState<T>(batch, f.Parameters);
    }

    /// <summary>
    /// Fast decoding of one token: token [B, D] -> output [B, D], advancing <paramref name="s"/>; equal
    /// (to rounding) to row t of <see cref="ForwardFast{T}(MambaFast{T}, Tensor{T}, int)"/>. O(D E + E (R + N)) per token.
    /// </summary>
    public static void StepFast<T>(MambaFast<T> f, MambaFastState<T> s, ReadOnlySpan<T> token, Span<T> output)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(s);
        var p = f.Parameters;
        int bs = s.Batch, dm = p.ModelWidth, e = p.InnerWidth, n = p.StateSize, r = p.DtRank, k = p.ConvWidth, xw = r + 2 * n;
        if (s.X.Length != bs * e * n || s.Conv.Length != bs * e * (k - 1))
            throw new ArgumentException($"s must be a state of this block (E = {e}, N = {n}, K = {k}).", nameof(s));
        if (token.Length != bs * dm)
            throw new ArgumentException($"token has {token.Length} values, expected B * D = {bs * dm}.", nameof(token));
        if (output.Length != bs * dm)
            throw new ArgumentException($"output has {output.Length} values, expected B * D = {bs * dm}.", nameof(output));

        MatVec(token, f.InProj, bs, 2 * e, dm, s.Xz);
        for (int b = 0; b < bs; b++)
            for (int c = 0; c < e; c++)
            {
                var window = s.Conv.AsSpan((b * e + c) * (k - 1), k - 1);
                T xNow = s.Xz[b * 2 * e + c], acc = f.ConvBias[c];
                for (int j = 0; j < k - 1; j++) acc += f.ConvWeight[c * k + j] * window[j];
                acc += f.ConvWeight[c * k + k - 1] * xNow;
                if (k > 1)
                {
                    window[1..].CopyTo(window);
                    window[^1] = xNow;
                }
                s.Xa[b * e + c] = acc;
            }
        FastActivations.Silu<T>(s.Xa, s.Xa);
        MatVec(s.Xa, f.XProj, bs, xw, e, s.Xdbl);
        for (int b = 0; b < bs; b++)
        {
            var delta = s.Delta.AsSpan(b * e, e);
            MatVec(s.Xdbl.AsSpan(b * xw, r), f.DtProj, 1, e, r, delta);
            TensorPrimitives.Add(delta, f.DtBias.Data, delta);
        }
        FastActivations.Softplus<T>(s.Delta, s.Delta);

        // Scan step per channel: x = exp(Delta A) o x + (Delta u) B, y = C . x + D u.
        for (int b = 0; b < bs; b++)
        {
            var bT = s.Xdbl.AsSpan(b * xw + r, n);
            var cT = s.Xdbl.AsSpan(b * xw + r + n, n);
            for (int c = 0; c < e; c++)
            {
                int row = b * e + c;
                T dt = s.Delta[row], xin = s.Xa[row];
                var state = s.X.AsSpan(row * n, n);
                TensorPrimitives.Multiply(f.A.AsSpan(c * n, n), dt, s.Decay);
                VectorMath.Exp<T>(s.Decay, s.Decay);
                TensorPrimitives.Multiply(state, s.Decay, state);
                TensorPrimitives.MultiplyAdd(bT, dt * xin, state, state);
                s.Y[row] = TensorPrimitives.Dot(cT, state) + f.D.Data[c] * xin;
            }
        }

        // Gate y silu(z), then the out-projection.
        for (int b = 0; b < bs; b++)
        {
            var gate = s.Xa.AsSpan(b * e, e);   // x' is no longer needed: its buffer takes silu(z)
            FastActivations.Silu<T>(s.Xz.AsSpan(b * 2 * e + e, e), gate);
            TensorPrimitives.Multiply(s.Y.AsSpan(b * e, e), gate, s.Y.AsSpan(b * e, e));
        }
        MatVec(s.Y, f.OutProj, bs, dm, e, output);
    }

    /// <summary>y[b, j] = W[j, :] . x[b, :] for W [rows, cols] (out x in): one SIMD dot per output, no packing for a few rows.</summary>
    private static void MatVec<T>(ReadOnlySpan<T> x, T[] w, int batch, int rows, int cols, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int b = 0; b < batch; b++)
        {
            var xb = x.Slice(b * cols, cols);
            for (int j = 0; j < rows; j++) y[b * rows + j] = TensorPrimitives.Dot(w.AsSpan(j * cols, cols), xb);
        }
    }
}
