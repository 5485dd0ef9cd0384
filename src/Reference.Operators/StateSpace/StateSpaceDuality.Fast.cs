// The Fast tier of Mamba-2's SSD (see StateSpaceDuality.cs for the paper, the glossary and the
// float64 definition): the chunked algorithm of Dao and Gu (arXiv:2405.21060) section 6, figure 5
// (the "ssd_minimal" listing of the reference code), over T = float or double. With chunks of Q steps:
//   0. Delta = softplus(dt + bias) over [B, L, H] once; per (batch, group, chunk) the score block
//      CB[i, j] = C_i . B_j, one tile product shared by the H / G heads of the group;
//   then per (batch, head), chunk by chunk, with the state S [P, N] kept transposed (S^T [N, P]):
//   1. segment sums seg[i, j] = sum_{r = j+1..i} Delta_r A_h (j <= i) and seg[i, -] = sum_{r = 0..i}
//      Delta_r A_h (the decay of the state entering the chunk), one row at a time, each row the
//      previous one plus Delta_i A_h (vectorized), and exp of the row (one vectorized exp);
//      the masked mixing matrix M[i, j] = CB[i, j] exp(seg[i, j]) Delta_j for j <= i, 0 above;
//   2. diagonal block: Y = M X                                        (tile product, eq. 6 in the chunk)
//   3. the carried state: Y += diag(exp(seg[i, -])) C S^T            (tile product)
//   4. the skip: Y += D_h X
//   5. the state passed on: S^T <- exp(seg[last, -]) S^T + (w o B)^T X, w_j = exp(seg[last, j]) Delta_j.
// Numerics: the decays are exps of sums of log decays, never products of exps. Each segment sum is
// accumulated from its own terms only (as the masked-cumsum "segsum" of the reference code) rather
// than taken as a difference cum_i - cum_j of prefix sums, whose rounding is eps |cum_i| however
// close i and j are (float32, |cum| ~ 50 late in a chunk: ~3e-6 of a decay near 1); here the error
// of exp(seg[i, j]) is relative to |seg[i, j]| itself. Underflow of long decays to 0 is harmless.
// Accumulation orders differ from the recurrence (tile products, chunked state), so results agree
// with the definition to rounding, not bitwise.
// Decoding (StepFast): one token per (batch, head) is the recurrence itself, S <- a S + (Delta x) B^T,
// y = S C + D x, on the state S [B, H, P, N] that ForwardFast carries, so a prompt is prefilled by
// ForwardFast(state: S) and generation continues with StepFast on the same S. Each state row S[p, :]
// is updated and read out in one pass vectorized over N (load, FMA, store, FMA into the dot with C).
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Reference.Core;
using Reference.Core.Kernels;
using Reference.Core.Linear;

namespace Reference.Operators.StateSpace;

public static partial class StateSpaceDuality
{
    /// <summary>Chunk length Q of <see cref="ForwardFast{T}(Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, int, int, Tensor{T})"/> by default: the tiles (Q x Q, Q x P, N x P) stay in L1/L2.</summary>
    public const int DefaultFastChunk = 64;

    /// <summary>
    /// Fast SSD over T (float or double), same layout and meaning as <see cref="Chunked"/>:
    /// x [B, L, H, P], dt [B, L, H], A_log [H], B, C [B, L, G, N] (G divides H), D and dt bias [H]
    /// (null = absent). Returns y [B, L, H, P]. The sequence is cut into chunks of
    /// <paramref name="chunk"/> steps (the last may be shorter); <paramref name="maxThreads"/> = 0
    /// uses every core, 1 the calling thread only. <paramref name="state"/> S [B, H, P, N], when
    /// given, is the state before the first step and is overwritten with the state after the last
    /// (prefill, or a sequence fed in pieces); null starts from zero and keeps no state.
    /// </summary>
    public static Tensor<T> ForwardFast<T>(Tensor<T> x, Tensor<T> dt, Tensor<T> aLog, Tensor<T> b, Tensor<T> c,
        Tensor<T>? d = null, Tensor<T>? dtBias = null, int chunk = DefaultFastChunk, int maxThreads = 0, Tensor<T>? state = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckFast(x, dt, aLog, b, c, d, dtBias);
        return Chunks(x, null, null, aLog, b, c, d, chunk, maxThreads, state, dt, dtBias);
    }

    /// <summary>
    /// The chunked kernel: per-step input scale <paramref name="delta"/> [B, L, H] and log decay
    /// <paramref name="logDecay"/> [B, L, H] when given (the discretized entry), else Delta = softplus(dt + bias)
    /// and the log decay Delta A_h.
    /// </summary>
    private static Tensor<T> Chunks<T>(Tensor<T> x, T[]? delta, T[]? logDecay, Tensor<T> aLog, Tensor<T> b, Tensor<T> c, Tensor<T>? d,
        int chunk, int maxThreads, Tensor<T>? state, Tensor<T>? dt = null, Tensor<T>? dtBias = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (state is not null && !state.Shape.SequenceEqual([x.Dim(0), x.Dim(2), x.Dim(3), b.Dim(3)]))
            throw new ArgumentException(
                $"state must be S [B, H, P, N] = {Shapes.Format([x.Dim(0), x.Dim(2), x.Dim(3), b.Dim(3)])}, got {Shapes.Format(state.Shape)}.", nameof(state));
        ArgumentOutOfRangeException.ThrowIfLessThan(chunk, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        var g = new FastGeometry(x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3), b.Dim(2), b.Dim(3), Math.Max(1, Math.Min(chunk, x.Dim(1))));
        var y = Tensor<T>.Zeros(x.ShapeArray);
        if (g.L == 0 || g.H == 0 || g.N == 0) return AddSkipOnly(x, d, y, g);
        delta ??= FastStepSizes(dt!, dtBias, g.H);
        var options = new ParallelOptions { MaxDegreeOfParallelism = maxThreads == 0 ? KernelThreads.Default : maxThreads };

        var scores = new T[g.B * g.G * g.Chunks * g.Q * g.Q];
        Parallel.For(0, g.B * g.G * g.Chunks, options, () => new T[g.N * g.Q], (item, _, bT) =>
        {
            ChunkScores(c.Data, b.Data, item, g, bT, scores.AsSpan(item * g.Q * g.Q, g.Q * g.Q));
            return bT;
        }, _ => { });

        var aH = new T[g.H];
        for (int h = 0; h < g.H; h++) aH[h] = -T.Exp(aLog.Data[h]);
        Parallel.For(0, g.B * g.H, options, () => new FastScratch<T>(g), (bh, _, s) =>
        {
            HeadChunks(x.Data, b.Data, c.Data, delta, scores, aH[bh % g.H], d is null ? T.Zero : d.Data[bh % g.H], bh / g.H, bh % g.H, g, s, y.Data,
                state is null ? default : state.Data.AsSpan(bh * g.P * g.N, g.P * g.N), logDecay);
            return s;
        }, _ => { });
        return y;
    }

    /// <summary>
    /// <see cref="ForwardFast{T}(Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, int, int, Tensor{T})"/> on the inputs record of the definition
    /// (<see cref="Chunked"/>), here over T.
    /// </summary>
    /// <summary>
    /// Fast tier of <see cref="ForwardDiscrete"/> over T: the chunked algorithm on already-discretized inputs
    /// xd = X Delta [B, L, H, P] and ad = A Delta [B, L, H] (ssd_minimal_discrete), b, c [B, L, G, N], d [H] or null.
    /// The same kernel as <see cref="ForwardFast{T}(Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, int, int, Tensor{T})"/>
    /// with the step's log decay read from ad and an input scale of 1. <paramref name="state"/> S [B, H, P, N] as there
    /// (initial state in, final state out).
    /// </summary>
    public static Tensor<T> ForwardDiscreteFast<T>(Tensor<T> xd, Tensor<T> ad, Tensor<T> b, Tensor<T> c, Tensor<T>? d = null,
        int chunk = DefaultFastChunk, int maxThreads = 0, Tensor<T>? state = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        DiscreteInputs(xd, ad, b, c, d);
        var ones = Tensor<T>.Zeros(ad.ShapeArray);
        Array.Fill(ones.Data, T.One);
        return Chunks(xd, ones.Data, ad.Data, Tensor<T>.Zeros(xd.Dim(2)), b, c, d, chunk, maxThreads, state);
    }

    public static Tensor<T> ForwardFast<T>(StateSpaceDualityInputs<T> p, int chunk = DefaultFastChunk, int maxThreads = 0, Tensor<T>? state = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        return ForwardFast(p.X, p.Dt, p.ALog, p.B, p.C, p.D, p.DtBias, chunk, maxThreads, state);
    }

    /// <summary>Sizes of one fast SSD call; Q = chunk length used (at most L), Chunks = ceil(L / Q).</summary>
    private readonly record struct FastGeometry(int B, int L, int H, int P, int G, int N, int Q)
    {
        public int Chunks => (L + Q - 1) / Q;

        /// <summary>Offset of x_t / y_t [P] of (batch, head); rows of one head are H P apart.</summary>
        public int Xo(int batch, int t, int h) => ((batch * L + t) * H + h) * P;

        /// <summary>Offset of B_t / C_t [N] of (batch, group); rows are G N apart.</summary>
        public int Bo(int batch, int t, int group) => ((batch * L + t) * G + group) * N;
    }

    /// <summary>Per-thread buffers of the head loop (no allocation inside it).</summary>
    private sealed class FastScratch<T>(FastGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public readonly T[] Delta = new T[g.Q], Seg = new T[g.Q + 1], Exp = new T[g.Q + 1], Enter = new T[g.Q],
            M = new T[g.Q * g.Q], ScaledC = new T[g.Q * g.N], WeightedBT = new T[g.N * g.Q], StateT = new T[g.N * g.P];
    }

    /// <summary>Delta [B, L, H] = softplus(dt + bias) (PyTorch's softplus with threshold 20, rounded once to T).</summary>
    private static T[] FastStepSizes<T>(Tensor<T> dt, Tensor<T>? bias, int heads) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var delta = (T[])dt.Data.Clone();
        if (bias is not null)
            for (int row = 0; row < delta.Length; row += heads)
                TensorPrimitives.Add(delta.AsSpan(row, heads), bias.Data, delta.AsSpan(row, heads));
        FastActivations.Softplus<T>(delta, delta);
        return delta;
    }

    /// <summary>CB[i, j] = C_{start+i} . B_{start+j} for one (batch, group, chunk) item, [Q, Q] with leading dimension Q.</summary>
    private static void ChunkScores<T>(T[] c, T[] b, int item, FastGeometry g, T[] bT, Span<T> cb) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int batch = item / (g.G * g.Chunks), group = item / g.Chunks % g.G, start = item % g.Chunks * g.Q;
        int len = Math.Min(g.Q, g.L - start);
        for (int j = 0; j < len; j++)
        {
            var bj = b.AsSpan(g.Bo(batch, start + j, group), g.N);
            for (int n = 0; n < g.N; n++) bT[n * g.Q + j] = bj[n];
        }
        // Only the lower triangle is used: row block [i0, i0 + RowBlock) needs columns j < i0 + RowBlock.
        for (int i0 = 0; i0 < len; i0 += RowBlock)
        {
            int rows = Math.Min(RowBlock, len - i0);
            TileGemm.Multiply<T>(rows, i0 + rows, g.N, c.AsSpan(g.Bo(batch, start + i0, group)), g.G * g.N, bT, g.Q,
                cb[(i0 * g.Q)..], g.Q, accumulate: false);
        }
    }

    /// <summary>Rows per product over a lower-triangular operand (TileGemm's register block is 4 rows).</summary>
    private const int RowBlock = 4;

    /// <summary>Steps 1-5 of the file head for one (batch, head), all chunks in order.</summary>
    private static void HeadChunks<T>(T[] x, T[] b, T[] c, T[] delta, T[] scores, T aH, T skip, int batch, int h, FastGeometry g,
        FastScratch<T> s, T[] y, Span<T> state, T[]? logDecay = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int group = h / (g.H / g.G), q = g.Q, ldx = g.H * g.P;
        bool carried = !state.IsEmpty;
        Array.Clear(s.StateT);
        if (carried)
            for (int p = 0; p < g.P; p++)
                for (int n = 0; n < g.N; n++) s.StateT[n * g.P + p] = state[p * g.N + n];
        for (int ci = 0; ci < g.Chunks; ci++)
        {
            int start = ci * q, len = Math.Min(q, g.L - start);
            for (int i = 0; i < len; i++) s.Delta[i] = delta[(batch * g.L + start + i) * g.H + h];
            var cb = scores.AsSpan(((batch * g.G + group) * g.Chunks + ci) * q * q, q * q);

            // 1. Seg[0] = seg[i, -] (state entering the chunk), Seg[1 + j] = seg[i, j]; row i = row i-1 + Delta_i A_h on j < i.
            s.Seg[0] = T.Zero;
            for (int i = 0; i < len; i++)
            {
                var open = s.Seg.AsSpan(0, i + 1);   // the state column and the columns j < i
                TensorPrimitives.Add(open, logDecay is null ? s.Delta[i] * aH : logDecay[(batch * g.L + start + i) * g.H + h], open);
                s.Seg[i + 1] = T.Zero;
                VectorMath.Exp<T>(s.Seg.AsSpan(0, i + 2), s.Exp.AsSpan(0, i + 2));
                s.Enter[i] = s.Exp[0];
                var row = s.M.AsSpan(i * q, len);
                TensorPrimitives.Multiply(s.Exp.AsSpan(1, i + 1), s.Delta.AsSpan(0, i + 1), row[..(i + 1)]);
                TensorPrimitives.Multiply(row[..(i + 1)], cb.Slice(i * q, i + 1), row[..(i + 1)]);
                row[(i + 1)..].Clear();
            }

            // 2. Y = M X on the chunk's rows of this head; M is lower triangular, so row block [i0, i0 + 4) stops at step i0 + 3.
            var xChunk = x.AsSpan(g.Xo(batch, start, h));
            var yChunk = y.AsSpan(g.Xo(batch, start, h));
            for (int i0 = 0; i0 < len; i0 += RowBlock)
            {
                int rows = Math.Min(RowBlock, len - i0);
                TileGemm.Multiply<T>(rows, g.P, i0 + rows, s.M.AsSpan(i0 * q), q, xChunk, ldx, yChunk[(i0 * ldx)..], ldx, accumulate: false);
            }

            // 3. Y += diag(exp(seg[i, -])) C S^T (nothing is carried into the first chunk from the zero state).
            if (ci > 0 || carried)
            {
                for (int i = 0; i < len; i++)
                    TensorPrimitives.Multiply(c.AsSpan(g.Bo(batch, start + i, group), g.N), s.Enter[i], s.ScaledC.AsSpan(i * g.N, g.N));
                TileGemm.Multiply<T>(len, g.P, g.N, s.ScaledC, g.N, s.StateT, g.P, yChunk, ldx, accumulate: true);
            }

            // 4. Y += D_h X.
            if (skip != T.Zero)
                for (int i = 0; i < len; i++)
                {
                    var yi = yChunk.Slice(i * ldx, g.P);
                    TensorPrimitives.MultiplyAdd(xChunk.Slice(i * ldx, g.P), skip, yi, yi);
                }

            // 5. S^T <- exp(seg[last, -]) S^T + sum_j exp(seg[last, j]) Delta_j B_j x_j^T (Exp still holds row len-1).
            if (start + len < g.L || carried)
            {
                for (int j = 0; j < len; j++)
                {
                    T w = s.Exp[1 + j] * s.Delta[j];
                    var bj = b.AsSpan(g.Bo(batch, start + j, group), g.N);
                    for (int n = 0; n < g.N; n++) s.WeightedBT[n * q + j] = w * bj[n];
                }
                TensorPrimitives.Multiply(s.StateT, s.Exp[0], s.StateT);
                TileGemm.Multiply<T>(g.N, g.P, len, s.WeightedBT, q, xChunk, ldx, s.StateT, g.P, accumulate: true);
            }
        }
        if (carried)
            for (int p = 0; p < g.P; p++)
                for (int n = 0; n < g.N; n++) state[p * g.N + n] = s.StateT[n * g.P + p];
    }

    /// <summary>Below this many state entries (B H P N) a step runs on the calling thread: thread start-up would dominate.</summary>
    private const long StepParallelWork = 1 << 16;

    /// <summary>
    /// Fast decoding step over T (float or double), the counterpart of <see cref="Step"/>: one token per
    /// (batch, head), x [B, H, P], dt [B, H], A_log [H], b, c [B, G, N] (G divides H), d and dt bias [H]
    /// (null = absent). The state S [B, H, P, N], the layout <see cref="ForwardFast{T}(Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, int, int, Tensor{T})"/> carries (and
    /// <see cref="StateSpaceDualityState.S"/> holds in float64), is advanced in place: Delta = softplus(dt + bias),
    /// a = exp(Delta A_h), S &lt;- a S + (Delta x) B^T, and y = S C + D x is returned [B, H, P].
    /// <paramref name="maxThreads"/> = 0 uses every core; the result does not depend on it.
    /// </summary>
    public static Tensor<T> StepFast<T>(Tensor<T> x, Tensor<T> dt, Tensor<T> aLog, Tensor<T> b, Tensor<T> c, Tensor<T> state,
        Tensor<T>? d = null, Tensor<T>? dtBias = null, int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 3) throw new ArgumentException($"x must be one token [B, H, P], got {Shapes.Format(x.Shape)}.", nameof(x));
        int bs = x.Dim(0), hs = x.Dim(1), ps = x.Dim(2);
        if (b is null || b.Rank != 3 || b.Dim(0) != bs || b.Dim(1) < 1 || hs % b.Dim(1) != 0)
            throw new ArgumentException($"b must be [B = {bs}, G | {hs}, N], got {(b is null ? "null" : Shapes.Format(b.Shape))}.", nameof(b));
        int gs = b.Dim(1), ns = b.Dim(2);
        Shapes.Same(dt, [bs, hs], nameof(dt));
        Shapes.Same(aLog, [hs], nameof(aLog));
        Shapes.Same(c, b.ShapeArray, nameof(c));
        Shapes.Same(state, [bs, hs, ps, ns], nameof(state));
        if (d is not null) Shapes.Same(d, [hs], nameof(d));
        if (dtBias is not null) Shapes.Same(dtBias, [hs], nameof(dtBias));
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);

        var delta = FastStepSizes(dt, dtBias, hs);
        var y = Tensor<T>.Zeros(bs, hs, ps);
        void Head(int bh)
        {
            int batch = bh / hs, h = bh % hs, bc = (batch * gs + h / (hs / gs)) * ns;
            T dtH = delta[bh], decay = T.Exp(dtH * -T.Exp(aLog.Data[h])), skip = d is null ? T.Zero : d.Data[h];
            var sHead = state.Data.AsSpan(bh * ps * ns, ps * ns);
            var bRow = b.Data.AsSpan(bc, ns);
            var cRow = c.Data.AsSpan(bc, ns);
            for (int p = 0; p < ps; p++)
            {
                T xp = x.Data[bh * ps + p];
                y.Data[bh * ps + p] = StateRowStep(sHead.Slice(p * ns, ns), decay, dtH * xp, bRow, cRow) + skip * xp;
            }
        }
        int items = bs * hs;
        int workers = (long)items * ps * ns < StepParallelWork ? 1 : Math.Min(maxThreads == 0 ? KernelThreads.Default : maxThreads, items);
        if (workers <= 1)
            for (int bh = 0; bh < items; bh++) Head(bh);
        else
            Parallel.For(0, items, new ParallelOptions { MaxDegreeOfParallelism = workers }, Head);
        return y;
    }

    /// <summary>
    /// One state row s = S[p, :] [N]: s &lt;- decay s + xin B (xin = Delta x_p), returns s . C, in one pass
    /// over N vectorized by Vector256 (a scalar tail past the last full vector).
    /// </summary>
    private static T StateRowStep<T>(Span<T> s, T decay, T xin, ReadOnlySpan<T> bRow, ReadOnlySpan<T> cRow)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count, n = s.Length, full = n / w * w;
        ref T sr = ref MemoryMarshal.GetReference(s);
        ref T br = ref MemoryMarshal.GetReference(bRow);
        ref T cr = ref MemoryMarshal.GetReference(cRow);
        var vDecay = Vector256.Create(decay);
        var vXin = Vector256.Create(xin);
        var acc = Vector256<T>.Zero;
        for (int k = 0; k < full; k += w)
        {
            var sv = VectorMath.FusedMultiplyAdd(vXin, Vector256.LoadUnsafe(ref br, (nuint)k), vDecay * Vector256.LoadUnsafe(ref sr, (nuint)k));
            sv.StoreUnsafe(ref sr, (nuint)k);
            acc = VectorMath.FusedMultiplyAdd(sv, Vector256.LoadUnsafe(ref cr, (nuint)k), acc);
        }
        T dot = Vector256.Sum(acc);
        for (int k = full; k < n; k++)
        {
            ref T sk = ref Unsafe.Add(ref sr, k);
            sk = T.FusedMultiplyAdd(xin, Unsafe.Add(ref br, k), decay * sk);
            dot = T.FusedMultiplyAdd(sk, Unsafe.Add(ref cr, k), dot);
        }
        return dot;
    }

    /// <summary>No step, head or state lane: y = D x only (any state passes through unchanged).</summary>
    private static Tensor<T> AddSkipOnly<T>(Tensor<T> x, Tensor<T>? d, Tensor<T> y, FastGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (d is null || y.Length == 0) return y;
        for (int i = 0; i < y.Length; i++) y.Data[i] = d.Data[i / g.P % g.H] * x.Data[i];
        return y;
    }

    private static void CheckFast<T>(Tensor<T> x, Tensor<T> dt, Tensor<T> aLog, Tensor<T> b, Tensor<T> c, Tensor<T>? d, Tensor<T>? dtBias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 4) throw new ArgumentException($"x must be [B, L, H, P], got {Shapes.Format(x.Shape)}.", nameof(x));
        int bs = x.Dim(0), l = x.Dim(1), h = x.Dim(2);
        Shapes.Same(dt, [bs, l, h], nameof(dt));
        Shapes.Same(aLog, [h], nameof(aLog));
        if (b is null || b.Rank != 4 || b.Dim(0) != bs || b.Dim(1) != l || b.Dim(2) < 1 || h % b.Dim(2) != 0)
            throw new ArgumentException($"b must be [B = {bs}, L = {l}, G | {h}, N], got {(b is null ? "null" : Shapes.Format(b.Shape))}.", nameof(b));
        Shapes.Same(c, b.ShapeArray, nameof(c));
        if (d is not null) Shapes.Same(d, [h], nameof(d));
        if (dtBias is not null) Shapes.Same(dtBias, [h], nameof(dtBias));    }
}
