// The fast tier of KV-cache decoding for causal softmax attention (see SoftmaxAttention.cs for the
// papers, the glossary, the float64 definition Step and the cache's ring buffer). One new query per
// head attends to the cached positions (t - W, t] with the online softmax of Milakov and Gimelshein
// (arXiv:1805.02867), the per-row recurrence FlashAttention (arXiv:2205.14135, Algorithm 1) runs for
// every query; here there is one query row per head, so it is that recurrence alone:
//   for each block of Block cached keys (in position order):
//     s_j = (scale q) . k_j                         scores of the block
//     m_new = max(m, max_j s_j), alpha = exp(m - m_new)
//     l = alpha l + sum_j exp(s_j - m_new)          running normaliser (log-sum-exp shift: no overflow)
//     acc = alpha acc + sum_j exp(s_j - m_new) v_j  unnormalised output
//   o = acc / l.
// Grouped-query attention: the G query heads of a kv head are processed together, so each cached key
// and value row is read from memory once per step and reused for the G queries from L1 (a block of
// Block = 64 rows of K and of V is 2 x 16 KB at K = V = 64 float32). A step is bandwidth bound: it
// streams B Hkv n (K + V) cached values and does about as many multiply-adds per query head.
// Kernels: scores four keys at a time (four independent Vector256 FMA chains over the key dim, q loaded
// once for the four), values as acc += p_j v_j four keys per pass over acc (one load and store of acc
// per four FMAs). The ring buffer's live positions are at most two runs of contiguous slots (before
// and after the wrap), each walked in position order, so no index is computed per key.
// Split-KV (the flash-decoding scheme): the attended positions are cut into splits of SplitKeys = 1024
// positions; each split yields a partial (m, l, acc), and the partials are merged in split order:
//   m = max_s m_s,  l = sum_s exp(m_s - m) l_s,  acc = sum_s exp(m_s - m) acc_s,  o = acc / l,
// so even a single (batch, kv head), as in multi-query attention at B = 1, spreads over the cores once
// the cache is long. The split length is fixed (not derived from the core count), so the result does
// not depend on the thread count.
// Threads: work items are (batch, kv head, split), one thread each; small steps stay on the calling thread.
// Accumulation order: float64 differs from the definition (positions ascending, exact softmax after
// the max) only by rounding: blockwise rescaling, scale folded into q, vector partial sums, split merge.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Reference.Core;
using Reference.Core.Kernels;
using Reference.Core.Linear;
using Reference.Operators.Kernels;

namespace Reference.Operators.Attention;

public static partial class SoftmaxAttention
{
    /// <summary>
    /// Fast tier: tiled online softmax (FlashAttention Algorithm 1), float32 or float64, never
    /// materialising the L x L scores; see <see cref="FlashAttentionKernel"/> for the tiling, the
    /// register-blocked products and the thread schedule. Accumulators are in T (FlashAttention keeps
    /// fp32 accumulators likewise). <paramref name="maxThreads"/> = 0 uses every core; the result does
    /// not depend on the thread count.
    /// </summary>
    public static Tensor<T> ForwardFast<T>(Tensor<T> q, Tensor<T> k, Tensor<T> v, SoftmaxAttentionOptions? options = null, int maxThreads = 0,
        Tensor<T>? g = null) where T : unmanaged, IFloatingPointIeee754<T> => Flash(q, k, v, options, maxThreads, g, stats: false).Out;

    /// <summary>
    /// <see cref="ForwardFast{T}"/> written into the caller's <paramref name="output"/> [B, Hq, L, V] (every element
    /// overwritten; same options); the tile workspaces come from per-thread pools kept across calls, so a repeated
    /// call without a gate or sinks allocates nothing.
    /// </summary>
    public static void ForwardFastInto<T>(Tensor<T> output, Tensor<T> q, Tensor<T> k, Tensor<T> v, SoftmaxAttentionOptions? options = null,
        int maxThreads = 0, Tensor<T>? g = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (b, hq, l, _, _, vd) = Check(q, k, v);
        Shapes.Output(output, [b, hq, l, vd], nameof(output));
        FlashCore(output, q, k, v, options, maxThreads, g, stats: false);
    }

    /// <summary>
    /// <see cref="ForwardFast{T}"/> with the per-row statistics MaxLogit and Lse [B, Hq, L] of
    /// <see cref="ForwardWithStats"/>, in T. The options (non-causal, sinks, the gate g [B, Hq, L]) as there.
    /// </summary>
    public static SoftmaxAttentionResult<T> ForwardFastWithStats<T>(Tensor<T> q, Tensor<T> k, Tensor<T> v, SoftmaxAttentionOptions? options = null,
        Tensor<T>? g = null, int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T> => Flash(q, k, v, options, maxThreads, g, stats: true);

    private static SoftmaxAttentionResult<T> Flash<T>(Tensor<T> q, Tensor<T> k, Tensor<T> v, SoftmaxAttentionOptions? options, int maxThreads,
        Tensor<T>? g, bool stats) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (b, hq, l, _, _, vd) = Check(q, k, v);
        var o = new Tensor<T>(GC.AllocateUninitializedArray<T>(b * hq * l * vd), b, hq, l, vd);   // every element is written
        return Flash(o, q, k, v, options, maxThreads, g, stats);
    }

    private static SoftmaxAttentionResult<T> Flash<T>(Tensor<T> o, Tensor<T> q, Tensor<T> k, Tensor<T> v, SoftmaxAttentionOptions? options,
        int maxThreads, Tensor<T>? g, bool stats) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (maxLogit, lse) = FlashCore(o, q, k, v, options, maxThreads, g, stats);
        return stats ? new SoftmaxAttentionResult<T>(o, maxLogit!, lse!) : new SoftmaxAttentionResult<T>(o, EmptyStats<T>(), EmptyStats<T>());
    }

    /// <summary>
    /// The kernel call behind every fast form: o written in place; the statistics (when asked for) returned.
    /// Builds no result record, so the Into form allocates nothing when there is no gate, sink or look-ahead.
    /// </summary>
    private static (Tensor<T>? MaxLogit, Tensor<T>? Lse) FlashCore<T>(Tensor<T> o, Tensor<T> q, Tensor<T> k, Tensor<T> v,
        SoftmaxAttentionOptions? options, int maxThreads, Tensor<T>? g, bool stats) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (b, hq, l, kd, hkv, vd) = Check(q, k, v);
        int threads = HeadShapes.Threads(maxThreads, nameof(maxThreads));
        T scale = T.CreateChecked(ResolveScale(options, kd));
        var (window, ahead) = ResolveMask(options, l);
        var sinks = ResolveSinks(options, hq);
        var gate = GateCumsum(g, b, hq, l);
        T gs = T.CreateChecked(ResolveGateScale(options));
        var maxLogit = stats ? Tensor<T>.Zeros(b, hq, l) : null;
        var lse = stats ? Tensor<T>.Zeros(b, hq, l) : null;
        FlashAttentionKernel.Extras<T>? extras = ahead == 0 && sinks is null && gate is null && !stats ? null
            : new(ahead, gate, gs, sinks?.Select(T.CreateChecked).ToArray(), maxLogit?.Data, lse?.Data);
        FlashAttentionKernel.Forward(q.Data, k.Data, v.Data, o.Data, b, hq, hkv, l, kd, vd, scale, window, threads, extras);
        return (maxLogit, lse);
    }

    /// <summary>The [0] statistics of a call that did not ask for them.</summary>
    private static Tensor<T> EmptyStats<T>() where T : unmanaged, IFloatingPointIeee754<T> => Tensor<T>.Zeros(0);

    /// <summary>Cached keys per online-softmax block of <see cref="StepFast{T}"/>.</summary>
    private const int DecodeBlock = 64;

    /// <summary>Attended positions per split of <see cref="StepFast{T}"/> (16 online-softmax blocks), fixed so results do not depend on the core count.</summary>
    private const int SplitKeys = 1024;

    /// <summary>Below this many multiply-adds (n Hq (K + V)) a step runs on the calling thread: thread start-up would dominate.</summary>
    private const long DecodeParallelWork = 1 << 16;

    /// <summary>
    /// Fast-tier counterpart of <see cref="Prefill"/> over T (float or double): a cache holding the keys and
    /// values of a prompt k [B, Hkv, L, K], v [B, Hkv, L, V]. With a sliding window W (options.Window) only the
    /// last W positions are kept, in a ring buffer of at most W slots; without one every position is kept.
    /// The storage is sized for the prompt at once (at least 16 slots, at most W). Pass the same options to
    /// <see cref="StepFast{T}"/>.
    /// </summary>
    public static KvCache<T> PrefillFast<T>(Tensor<T> k, Tensor<T> v, SoftmaxAttentionOptions? options = null, Tensor<T>? g = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (b, hkv, l, kd, vd, window) = CheckPrompt(k, v, options, g);
        var cache = new KvCache<T>(b, hkv, kd, vd, window, capacity: Math.Max(16, l));
        if (g is not null) cache.EnableGate(g.Dim(1));
        // Positions older than the window would be evicted at once: only the last W are copied in.
        cache.Skip(window is int w ? Math.Max(0, l - w) : 0);
        cache.AppendPrompt(k.Data, v.Data, l);
        if (g is not null) cache.SetPromptGate(g.Data, l);
        return cache;
    }

    /// <summary>
    /// Fast decoding step over T (float or double), the counterpart of <see cref="Step"/> with the same
    /// arguments, checks and cache semantics: appends kNew [B, Hkv, K] and vNew [B, Hkv, V] (evicting the
    /// oldest position of a full windowed cache), then the query qNew [B, Hq, K] at position
    /// t = cache.Count - 1 attends to the cached positions (t - W, t] (query head h reads kv head
    /// h / (Hq / Hkv)). Returns [B, Hq, V], row t of <see cref="ForwardFast{T}"/> up to rounding. O(W) work
    /// and memory per step with a window. <paramref name="maxThreads"/> = 0 uses every core; the result
    /// does not depend on it. A float64 definition cache (<see cref="KvCache"/>) is accepted too.
    /// </summary>
    public static Tensor<T> StepFast<T>(KvCache<T> cache, Tensor<T> qNew, Tensor<T> kNew, Tensor<T> vNew,
        SoftmaxAttentionOptions? options = null, int maxThreads = 0, Tensor<T>? gNew = null) where T : unmanaged, IFloatingPointIeee754<T> =>
        StepFastWithStats(cache, qNew, kNew, vNew, options, gNew, maxThreads).Out;

    /// <summary>
    /// <see cref="StepFast{T}"/> with the row statistics MaxLogit, Lse [B, Hq] (as <see cref="StepWithStats"/>); with a
    /// forget gate, gNew [B, Hq] is the new position's log gate (the cache was prefilled with g). A sink enters
    /// after the splits are merged: M = max(m, sink), l = l exp(m - M) + exp(sink - M).
    /// </summary>
    public static SoftmaxAttentionResult<T> StepFastWithStats<T>(KvCache<T> cache, Tensor<T> qNew, Tensor<T> kNew, Tensor<T> vNew,
        SoftmaxAttentionOptions? options = null, Tensor<T>? gNew = null, int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (window, scale, sinks, gateScale) = CheckStep(cache, qNew, kNew, vNew, options, gNew);
        int threads = HeadShapes.Threads(maxThreads, nameof(maxThreads));
        cache.Append(kNew.Data, vNew.Data, gNew is null ? default : gNew.Data);
        int b = cache.Batch, hq = qNew.Shape[1], hkv = cache.KvHeads, kd = cache.KeyDim, vd = cache.ValueDim, g = hq / hkv;
        long t = cache.Count - 1, first = Math.Max(0, t - window + 1);
        int n = (int)(t - first + 1);
        int splits = Math.Max(1, (n + SplitKeys - 1) / SplitKeys), items = b * hkv * splits;
        var d = new DecodeGeometry<T>(cache.Capacity, cache.Slot(first), n, splits, g, kd, vd, T.CreateChecked(scale),
            T.CreateChecked(gateScale), sinks?.Select(T.CreateChecked).ToArray());
        var partial = new DecodePartials<T>(items, d);
        int workers = (long)n * hq * (kd + vd) < DecodeParallelWork ? 1 : Math.Min(threads, items);
        if (workers <= 1)
        {
            var scratch = new DecodeScratch<T>(d);
            for (int item = 0; item < items; item++) DecodeSplit(cache, qNew.Data, item, d, scratch, partial);
        }
        else
            Parallel.For(0, items, new ParallelOptions { MaxDegreeOfParallelism = workers }, () => new DecodeScratch<T>(d),
                (item, _, scratch) => { DecodeSplit(cache, qNew.Data, item, d, scratch, partial); return scratch; }, _ => { });
        var o = Tensor<T>.Zeros(b, hq, vd);
        var maxLogit = Tensor<T>.Zeros(b, hq);
        var lse = Tensor<T>.Zeros(b, hq);
        for (int bkv = 0; bkv < b * hkv; bkv++)
            MergeSplits(bkv, d, partial, o.Data.AsSpan(bkv * g * vd, g * vd), maxLogit.Data.AsSpan(bkv * g, g), lse.Data.AsSpan(bkv * g, g));
        return new SoftmaxAttentionResult<T>(o, maxLogit, lse);
    }

    /// <summary>
    /// Sizes of one decoding step: the ring's Capacity, the slot of the oldest attended position, n attended
    /// positions in Splits splits, G query heads per kv head, key and value dims, the scale, the gate's scale
    /// and the sink logits per query head (null = none).
    /// </summary>
    private readonly record struct DecodeGeometry<T>(int Capacity, int FirstSlot, int N, int Splits, int G, int K, int V, T Scale,
        T GateScale, T[]? Sinks);

    /// <summary>Per-thread buffers of <see cref="StepFast{T}"/>, allocated once per step.</summary>
    private sealed class DecodeScratch<T>(DecodeGeometry<T> d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>scale q of the G query heads [G, K].</summary>
        public readonly T[] Q = new T[d.G * d.K];
        /// <summary>Scores, then probabilities, of one block [G, Block].</summary>
        public readonly T[] S = new T[d.G * DecodeBlock];
    }

    /// <summary>The partial results of every work item (batch, kv head, split): m, l [items, G] and acc [items, G, V].</summary>
    private sealed class DecodePartials<T>(int items, DecodeGeometry<T> d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public readonly T[] M = new T[items * d.G], L = new T[items * d.G], Acc = new T[items * d.G * d.V];
    }

    /// <summary>
    /// Work item = (batch, kv head) * Splits + split: the G query heads of that kv head over the split's
    /// attended positions [split SplitKeys, min(n, (split + 1) SplitKeys)), in position order.
    /// </summary>
    private static void DecodeSplit<T>(KvCache<T> cache, T[] q, int item, DecodeGeometry<T> d, DecodeScratch<T> s, DecodePartials<T> partial)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int bkv = item / d.Splits, j0 = item % d.Splits * SplitKeys, j1 = Math.Min(d.N, j0 + SplitKeys);
        TensorPrimitives.Multiply(q.AsSpan(bkv * d.G * d.K, d.G * d.K), d.Scale, s.Q);
        var m = partial.M.AsSpan(item * d.G, d.G);
        var l = partial.L.AsSpan(item * d.G, d.G);
        var acc = partial.Acc.AsSpan(item * d.G * d.V, d.G * d.V);
        m.Fill(T.NegativeInfinity);
        var keys = cache.Keys.AsSpan(bkv * d.Capacity * d.K, d.Capacity * d.K);
        var values = cache.Values.AsSpan(bkv * d.Capacity * d.V, d.Capacity * d.V);
        // Attended position j lives in slot (FirstSlot + j) mod Capacity: the range is one run of slots up
        // to the end of the ring, then (after the wrap) one run from slot 0.
        int slot = (int)((d.FirstSlot + (long)j0) % d.Capacity), run = Math.Min(j1 - j0, d.Capacity - slot);
        var gate = new GateView<T>(cache.GateCum, cache.GateTotal, bkv * d.G, d.Capacity);
        for (int b0 = 0; b0 < run; b0 += DecodeBlock)
            OnlineBlock(keys, values, slot + b0, Math.Min(DecodeBlock, run - b0), d, s, m, l, acc, gate);
        for (int b0 = 0; b0 < j1 - j0 - run; b0 += DecodeBlock)
            OnlineBlock(keys, values, b0, Math.Min(DecodeBlock, j1 - j0 - run - b0), d, s, m, l, acc, gate);
    }

    /// <summary>
    /// o [G, V] of (batch, kv head) bkv from its splits' partials, in split order: m = max_s m_s, then
    /// acc = sum_s exp(m_s - m) acc_s and l = sum_s exp(m_s - m) l_s (log-sum-exp merge), o = acc / l.
    /// </summary>
    private static void MergeSplits<T>(int bkv, DecodeGeometry<T> d, DecodePartials<T> partial, Span<T> o, Span<T> maxLogit, Span<T> lse)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int gi = 0; gi < d.G; gi++)
        {
            var og = o.Slice(gi * d.V, d.V);
            T m = T.NegativeInfinity, l = T.Zero;
            for (int sp = 0; sp < d.Splits; sp++) m = T.Max(m, partial.M[(bkv * d.Splits + sp) * d.G + gi]);
            for (int sp = 0; sp < d.Splits; sp++)
            {
                int item = bkv * d.Splits + sp;
                T w = T.Exp(partial.M[item * d.G + gi] - m);
                l += w * partial.L[item * d.G + gi];
                TensorPrimitives.MultiplyAdd(partial.Acc.AsSpan((item * d.G + gi) * d.V, d.V), w, og, og);
            }
            T factor = T.One / l;
            if (d.Sinks is not null)
            {
                T sink = d.Sinks[bkv % (d.Sinks.Length / d.G) * d.G + gi], big = T.Max(m, sink), a = T.Exp(m - big);
                l = l * a + T.Exp(sink - big);
                factor = a / l;
                m = big;
            }
            TensorPrimitives.Multiply(og, factor, og);
            maxLogit[gi] = m;
            lse[gi] = m + T.Log(l);
        }
    }

    /// <summary>
    /// One online-softmax block: the keys and values in slots [slot, slot + count) (contiguous, in position
    /// order) for the G query heads, updating their running m, l [G] and acc [G, V]. The first block meets
    /// m = -inf: alpha = exp(-inf) = 0 rescales an accumulator that is still 0.
    /// </summary>
    private static void OnlineBlock<T>(ReadOnlySpan<T> keys, ReadOnlySpan<T> values, int slot, int count, DecodeGeometry<T> d,
        DecodeScratch<T> s, Span<T> m, Span<T> l, Span<T> acc, GateView<T> gate) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var k = keys.Slice(slot * d.K, count * d.K);
        for (int gi = 0; gi < d.G; gi++)
        {
            var sg = s.S.AsSpan(gi * DecodeBlock, count);
            BlockScores(s.Q.AsSpan(gi * d.K, d.K), k, count, d.K, sg);
            if (gate.Cum is not null)
            {
                // Forgetting attention: + GateScale (G_t - G_j), G_j stored per slot for query head row.
                int row = gate.FirstRow + gi;
                T gt = gate.Total![row];
                var gj = gate.Cum.AsSpan(row * gate.Capacity + slot, count);
                for (int jj = 0; jj < count; jj++) sg[jj] += d.GateScale * (gt - gj[jj]);
            }
            T mOld = m[gi], mNew = T.Max(mOld, RowKernels.Max<T>(sg));
            T alpha = mOld == mNew ? T.One : T.Exp(mOld - mNew);
            var ag = acc.Slice(gi * d.V, d.V);
            if (alpha != T.One) TensorPrimitives.Multiply(ag, alpha, ag);
            l[gi] = alpha * l[gi] + RowKernels.ExpShiftSum(sg, mNew);
            m[gi] = mNew;
        }
        var v = values.Slice(slot * d.V, count * d.V);
        int j = 0;
        for (; j + 4 <= count; j += 4)
            for (int gi = 0; gi < d.G; gi++)
                AxpyFour(acc.Slice(gi * d.V, d.V), s.S.AsSpan(gi * DecodeBlock + j, 4), v.Slice(j * d.V, 4 * d.V), d.V);
        for (; j < count; j++)
            for (int gi = 0; gi < d.G; gi++)
            {
                var ag = acc.Slice(gi * d.V, d.V);
                TensorPrimitives.MultiplyAdd(v.Slice(j * d.V, d.V), s.S[gi * DecodeBlock + j], ag, ag);
            }
    }

    /// <summary>The cache's gate prefix sums seen from one (batch, kv head): its G query heads are rows FirstRow.. of Cum [rows, Capacity].</summary>
    private readonly record struct GateView<T>(T[]? Cum, T[]? Total, int FirstRow, int Capacity);

    /// <summary>
    /// s[j] = q . k_j for the count rows k_j of k [count, K] (row-major): four rows at a time, each with its
    /// own Vector256 FMA chain over the key dim and a scalar tail past the last full vector.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BlockScores<T>(ReadOnlySpan<T> q, ReadOnlySpan<T> k, int count, int kd, Span<T> s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count, full = kd / w * w;
        ref T qr = ref MemoryMarshal.GetReference(q);
        ref T kr = ref MemoryMarshal.GetReference(k);
        int j = 0;
        for (; j + 4 <= count; j += 4)
        {
            ref T k0 = ref Unsafe.Add(ref kr, j * kd);
            ref T k1 = ref Unsafe.Add(ref k0, kd);
            ref T k2 = ref Unsafe.Add(ref k1, kd);
            ref T k3 = ref Unsafe.Add(ref k2, kd);
            Vector256<T> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int c = 0; c < full; c += w)
            {
                var qv = Vector256.LoadUnsafe(ref qr, (nuint)c);
                a0 = VectorMath.FusedMultiplyAdd(qv, Vector256.LoadUnsafe(ref k0, (nuint)c), a0);
                a1 = VectorMath.FusedMultiplyAdd(qv, Vector256.LoadUnsafe(ref k1, (nuint)c), a1);
                a2 = VectorMath.FusedMultiplyAdd(qv, Vector256.LoadUnsafe(ref k2, (nuint)c), a2);
                a3 = VectorMath.FusedMultiplyAdd(qv, Vector256.LoadUnsafe(ref k3, (nuint)c), a3);
            }
            T s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
            for (int c = full; c < kd; c++)
            {
                T qc = Unsafe.Add(ref qr, c);
                s0 += qc * Unsafe.Add(ref k0, c); s1 += qc * Unsafe.Add(ref k1, c);
                s2 += qc * Unsafe.Add(ref k2, c); s3 += qc * Unsafe.Add(ref k3, c);
            }
            s[j] = s0; s[j + 1] = s1; s[j + 2] = s2; s[j + 3] = s3;
        }
        for (; j < count; j++) s[j] = TensorPrimitives.Dot(q, k.Slice(j * kd, kd));
    }

    /// <summary>
    /// acc += p[0] v_0 + p[1] v_1 + p[2] v_2 + p[3] v_3 for four rows of v [4, V] (row-major), added in that
    /// order: one load and one store of each vector of acc per four FMAs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AxpyFour<T>(Span<T> acc, ReadOnlySpan<T> p, ReadOnlySpan<T> v, int vd) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count, full = vd / w * w;
        ref T ar = ref MemoryMarshal.GetReference(acc);
        ref T v0 = ref MemoryMarshal.GetReference(v);
        ref T v1 = ref Unsafe.Add(ref v0, vd);
        ref T v2 = ref Unsafe.Add(ref v1, vd);
        ref T v3 = ref Unsafe.Add(ref v2, vd);
        T p0 = p[0], p1 = p[1], p2 = p[2], p3 = p[3];
        Vector256<T> b0 = Vector256.Create(p0), b1 = Vector256.Create(p1), b2 = Vector256.Create(p2), b3 = Vector256.Create(p3);
        for (int c = 0; c < full; c += w)
        {
            var a = Vector256.LoadUnsafe(ref ar, (nuint)c);
            a = VectorMath.FusedMultiplyAdd(b0, Vector256.LoadUnsafe(ref v0, (nuint)c), a);
            a = VectorMath.FusedMultiplyAdd(b1, Vector256.LoadUnsafe(ref v1, (nuint)c), a);
            a = VectorMath.FusedMultiplyAdd(b2, Vector256.LoadUnsafe(ref v2, (nuint)c), a);
            a = VectorMath.FusedMultiplyAdd(b3, Vector256.LoadUnsafe(ref v3, (nuint)c), a);
            a.StoreUnsafe(ref ar, (nuint)c);
        }
        for (int c = full; c < vd; c++)
        {
            T a = Unsafe.Add(ref ar, c);
            a = T.FusedMultiplyAdd(p0, Unsafe.Add(ref v0, c), a);
            a = T.FusedMultiplyAdd(p1, Unsafe.Add(ref v1, c), a);
            a = T.FusedMultiplyAdd(p2, Unsafe.Add(ref v2, c), a);
            Unsafe.Add(ref ar, c) = T.FusedMultiplyAdd(p3, Unsafe.Add(ref v3, c), a);
        }
    }
}

public static partial class SoftmaxAttention
{
    /// <summary>True when <see cref="BackwardFast"/> covers these options (no sinks; the gate is not an option here).</summary>
    public static bool BackwardFastSupports(SoftmaxAttentionOptions? options, int hq) => ResolveSinks(options, hq) is null;

    /// <summary>
    /// Fast-tier VJP of <see cref="Forward"/> in float64 (no sinks, no gate), from the forward's output
    /// <paramref name="o"/> and log-sum-exp <paramref name="lse"/> [B, Hq, L] (<see cref="ForwardFastWithStats{T}"/>),
    /// as FlashAttention-2's backward recomputes P instead of storing it: per (batch, query head), with
    /// FastGemm products on the work item's thread,
    ///   S = scale Q K^T,  P = exp(S - lse) on the live keys (0 elsewhere),  dV += P^T dO,  dP = dO V^T,
    ///   dS = scale P o (dP - rowsum(dO o O)),  dQ = dS K,  dK += dS^T Q
    /// (rowsum(dO o O) = rowsum(P o dP) of <see cref="Backward"/>). Items are (batch, kv head) pairs, their query
    /// heads in ascending order, so dK and dV of a kv head are summed in a fixed order whatever the thread count.
    /// The products span the full L x L square (the masked half is zero work wasted for the simplicity of one GEMM).
    /// </summary>
    public static SoftmaxAttentionGradients BackwardFast(Tensor<double> q, Tensor<double> k, Tensor<double> v, Tensor<double> o,
        Tensor<double> lse, Tensor<double> dOut, SoftmaxAttentionOptions? options = null, int maxThreads = 0)
    {
        var (b, hq, l, kd, hkv, vd) = Check(q, k, v);
        Shapes.Same(dOut, [b, hq, l, vd], nameof(dOut));
        Shapes.Same(o, [b, hq, l, vd], nameof(o));
        Shapes.Same(lse, [b, hq, l], nameof(lse));
        if (!BackwardFastSupports(options, hq)) throw new ArgumentException("BackwardFast does not take attention sinks; use Backward.", nameof(options));
        double scale = ResolveScale(options, kd);
        var (window, ahead) = ResolveMask(options, l);
        int threads = HeadShapes.Threads(maxThreads, nameof(maxThreads));
        var dq = new Tensor<double>(GC.AllocateUninitializedArray<double>(q.Length), q.ShapeArray);
        var dk = Tensor<double>.Zeros(k.ShapeArray);
        var dv = Tensor<double>.Zeros(v.ShapeArray);
        int group = hq / hkv;
        Parallel.For(0, b * hkv, new ParallelOptions { MaxDegreeOfParallelism = threads }, item =>
        {
            int bi = item / hkv, kvh = item % hkv;
            var s = System.Buffers.ArrayPool<double>.Shared.Rent(l * l);
            var dp = System.Buffers.ArrayPool<double>.Shared.Rent(l * l);
            try
            {
                int kOff = (bi * hkv + kvh) * l * kd, vOff = (bi * hkv + kvh) * l * vd;
                var kh = k.Data.AsSpan(kOff, l * kd);
                var vh = v.Data.AsSpan(vOff, l * vd);
                for (int h = kvh * group; h < (kvh + 1) * group; h++)
                {
                    int qOff = (bi * hq + h) * l * kd, oOff = (bi * hq + h) * l * vd, rowOff = (bi * hq + h) * l;
                    var qh = q.Data.AsSpan(qOff, l * kd);
                    var doh = dOut.Data.AsSpan(oOff, l * vd);
                    FastGemm.Multiply(false, true, l, l, kd, scale, qh, kd, kh, kd, 0.0, s, l, maxThreads: 1);
                    for (int t = 0; t < l; t++)
                    {
                        int first = Math.Max(0, t - window + 1), last = Math.Min(l - 1, t + ahead);
                        var row = s.AsSpan(t * l, l);
                        row[..first].Clear();
                        if (last + 1 < l) row[(last + 1)..].Clear();
                        var live = row[first..(last + 1)];
                        TensorPrimitives.Subtract(live, lse.Data[rowOff + t], live);
                        VectorMath.Exp<double>(live, live);
                    }
                    FastGemm.Multiply(true, false, l, vd, l, 1.0, s, l, doh, vd, 1.0, dv.Data.AsSpan(vOff, l * vd), vd, maxThreads: 1);
                    FastGemm.Multiply(false, true, l, l, vd, 1.0, doh, vd, vh, vd, 0.0, dp, l, maxThreads: 1);
                    for (int t = 0; t < l; t++)
                    {
                        double rowDot = TensorPrimitives.Dot(doh.Slice(t * vd, vd), o.Data.AsSpan(oOff + t * vd, vd));
                        var dpr = dp.AsSpan(t * l, l);
                        TensorPrimitives.Subtract(dpr, rowDot, dpr);
                        TensorPrimitives.Multiply(dpr, s.AsSpan(t * l, l), dpr);
                        TensorPrimitives.Multiply(dpr, scale, dpr);
                    }
                    FastGemm.Multiply(false, false, l, kd, l, 1.0, dp, l, kh, kd, 0.0, dq.Data.AsSpan(qOff, l * kd), kd, maxThreads: 1);
                    FastGemm.Multiply(true, false, l, kd, l, 1.0, dp, l, qh, kd, 1.0, dk.Data.AsSpan(kOff, l * kd), kd, maxThreads: 1);
                }
            }
            finally
            {
                System.Buffers.ArrayPool<double>.Shared.Return(s);
                System.Buffers.ArrayPool<double>.Shared.Return(dp);
            }
        });
        return new SoftmaxAttentionGradients(dq, dk, dv, null, null);
    }
}
