using System.Numerics;
using System.Runtime.Intrinsics;
using Reference.Core;
using Reference.Core.Kernels;
using Reference.Core.Linear;
using Reference.Operators.Attention;
using Reference.Operators.Kernels;

namespace Reference.Operators.Recurrence;

/// <summary>
/// Fast tier of the chunkwise GLA form: Yang et al., "Gated Linear Attention Transformers with
/// Hardware-Efficient Training" (arXiv:2312.06635), section 4.2 (chunkwise parallel form) and 4.3
/// (secondary-level chunking of the intra-chunk part), laid out for a CPU core the way the paper
/// lays it out for tensor cores: the inter-chunk read-out and state update, the off-diagonal
/// sub-blocks and, when its decays allow, the diagonal sub-block are dense tile products on
/// register-blocked Vector256 FMA micro-kernels (<see cref="ChunkKernels"/>).
/// <para>Glossary (code = paper): C = chunk length (<see cref="FastChunk"/>), c = sub-chunk length
/// (<see cref="FastSubChunk"/>); within a chunk, B_t = sum_{r = chunk start..t} g_r (log b_t relative
/// to the chunk start, &lt;= 0); alpha_t = exp(g_t); p, e = first and last position of a sub-block
/// (I is the row block of t, J the column block of s); S = state [K, V];
/// P_t = prod_{r = p..t} alpha_r = exp(B_t - B_(p-1)) and R_s = prod_{r = s+1..e} alpha_r =
/// exp(B_e - B_s) (decays to the boundaries of the own sub-block); Qr = scale Q o P, Kr = K o R;
/// Qe = Qr o exp(B_(p-1)) = scale Q o exp(B) (the paper's Q o Lambda), Ke = Kr o exp(B_last - B_e) =
/// K o exp(B_last - B) (K o Gamma); d_IJ = exp(B_(p_I - 1) - B_(e_J)).</para>
/// <para>Per chunk:
/// 0. one pass forward and one backward over the rows: B, alpha (the only exp per element), P, R,
///    Qr, Qe, Kr, Ke and K / P;
/// 1. inter-chunk read-out Qe S, computed together with step 4 (below);
/// 2. off-diagonal sub-blocks J &lt; I: A_IJ = Qr_I Diag(d_IJ) Kr_J^T (d = 1 for J = I - 1; one
///    product per row block, Q K^T-shaped, so no operand is transposed in memory);
/// 3. diagonal sub-blocks: A_II[t, s] = scale sum_k q_tk k_sk exp(B_tk - B_sk) (s &lt;= t) as the product
///    Qr_I (K_I / P_I)^T when every P in the block lies in [2^-60, 2^60] (see
///    <see cref="DiagonalRange"/>), otherwise elementwise in log space (vectorized exp of B_t - B_s);
///    exact zeros above the diagonal;
/// 4. with step 1, one tile product over the concatenated inner dimension K + C:
///    O = [Qe | A] [S ; V] = Qe S + A V (Qe and A share the rows of one buffer, the chunk's values
///    are copied under the state), so O is written once instead of read back for the intra part;
/// 5. state passing S = Diag(exp(B_last)) S + Ke^T V (tile product K x C x V, Ke read transposed, the
///    decay applied to the accumulators as they are loaded).</para>
/// <para>Numerics: no exponent is ever positive (for log-gates &lt;= 0) and no factor exceeds 1:
/// decays inside a sub-block are running products of at most c step decays alpha (the recurrence's
/// own arithmetic, relative error &lt;= c ulp), decays across sub-blocks and chunks are exps of
/// differences of cumulative log-gates. The one division, K / P, is used only where P is bounded
/// away from 0, so float32 neither overflows nor loses the small decays to subnormals; with stronger
/// gates the diagonal block falls back to the paper's elementwise log-space form.</para>
/// <para>Cost per token at K = V = 64: 2 K V multiply-adds for steps 1 and 5 whatever C (the floor
/// of every chunked form: each query reads the K x V state once, each key/value pair enters it
/// once); (C - c)(K + V)/2 for steps 2 and 4 off the diagonal, c (K + V)/2 on it; K exps. The
/// recurrent form does 3 K V per token but as a load/store-bound pass over the state (two stores
/// per vector of the state per step). Chunk sizes: see <see cref="FastChunk"/>.</para>
/// <para>Threads: heads in parallel; a call with fewer than two heads per thread runs steps 0, 2 and 3 of
/// every chunk in parallel first and then the state carry per head (see <see cref="ColumnBlocks{T}"/>), with
/// the same result bitwise.</para>
/// <para>Simplifications: a scalar gate is broadcast over the K channels (so it pays the vector
/// gate's exps).</para>
/// </summary>
public static partial class GatedLinearAttention
{
    /// <summary>
    /// Fast tier of the recurrent form (float32 or float64, heads in parallel): per step one fused
    /// vector pass over the K x V state, S[c, :] = exp(g_tc) S[c, :] + k_tc v_t and
    /// o_t += scale q_tc S[c, :]. The peer of <see cref="ChunkedFast{T}"/> in the benchmark.
    /// </summary>
    public static Tensor<T> RecurrentFast<T>(Tensor<T> q, Tensor<T> k, Tensor<T> v, Tensor<T> g, double? scale = null, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (b, h, l, kd, vd, kg) = Check(q, k, v, g);
        int threads = HeadShapes.Threads(maxThreads, nameof(maxThreads));
        T sc = T.CreateChecked(Scale(scale, kd));
        var o = Tensor<T>.Zeros(b, h, l, vd);
        Parallel.For(0, b * h, new ParallelOptions { MaxDegreeOfParallelism = threads }, bh =>
        {
            var s = new T[kd * vd];
            var alpha = new T[kg];
            var qs = new T[kd];
            for (int t = 0; t < l; t++)
            {
                VectorMath.Exp<T>(g.Data.AsSpan((bh * l + t) * kg, kg), alpha);
                TensorPrimitives.Multiply(q.Data.AsSpan((bh * l + t) * kd, kd), sc, qs);
                StateKernels.DecayUpdateRead<T>(s, alpha, k.Data.AsSpan((bh * l + t) * kd, kd), v.Data.AsSpan((bh * l + t) * vd, vd),
                    qs, o.Data.AsSpan((bh * l + t) * vd, vd));
            }
        });
        return o;
    }

    /// <summary>
    /// Chunk length C of <see cref="ChunkedFast{T}"/>, chosen together with <see cref="FastSubChunk"/>
    /// by a sweep (`--gla-cpu-time`; figures in bench/NOTES.md, "Gated linear attention"): larger
    /// chunks grow the intra-chunk work C (K + V)/2, and sub-chunks shorter than one vector run the
    /// sub-block products on scalar tails. It keeps the two-level structure of the paper (one
    /// off-diagonal sub-block per chunk); c = 8 is one float32 vector.
    /// </summary>
    public const int FastChunk = 16;

    /// <summary>Sub-chunk length c of the secondary chunking in <see cref="ChunkedFast{T}"/> (divides <see cref="FastChunk"/>).</summary>
    public const int FastSubChunk = 8;

    /// <summary>
    /// Fast tier of the chunkwise form (float32 or float64, heads in parallel, or chunks then heads: see
    /// <see cref="ColumnBlocks{T}"/>), chunks of
    /// <see cref="FastChunk"/> positions with secondary chunks of <see cref="FastSubChunk"/>;
    /// the algorithm is described on this file's class comment. Same result as
    /// <see cref="Recurrent"/> up to rounding.
    /// </summary>
    public static Tensor<T> ChunkedFast<T>(Tensor<T> q, Tensor<T> k, Tensor<T> v, Tensor<T> g, double? scale = null, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ChunkedFastSized(q, k, v, g, FastChunk, FastSubChunk, scale, maxThreads);

    /// <summary>
    /// <see cref="ChunkedFast{T}"/> written into the caller's <paramref name="output"/> [B, H, L, V] (every element
    /// overwritten); the chunk workspaces come from per-thread pools kept across calls, so a repeated call
    /// allocates no arrays.
    /// </summary>
    public static void ChunkedFastInto<T>(Tensor<T> output, Tensor<T> q, Tensor<T> k, Tensor<T> v, Tensor<T> g, double? scale = null,
        int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (b, h, l, _, vd, _) = Check(q, k, v, g);
        Shapes.Output(output, [b, h, l, vd], nameof(output));
        ChunkedCore(output, q, k, v, g, FastChunk, FastSubChunk, scale, maxThreads, null, null);
    }

    /// <summary>
    /// <see cref="ChunkedFast{T}"/> from an initial state S0 [B, H, K, V] (null = zeros), also returning the final
    /// state S_L [B, H, K, V] (fla's initial_state and output_final_state): running a sequence in two pieces, the
    /// second from the first's final state, equals running it whole. S is the recurrence's state
    /// S_t = Diag(exp(g_t)) S_{t-1} + k_t v_t^T, so o_t = S_t^T (scale q_t).
    /// </summary>
    public static (Tensor<T> Out, Tensor<T> FinalState) ChunkedFastWithState<T>(Tensor<T> q, Tensor<T> k, Tensor<T> v, Tensor<T> g,
        Tensor<T>? initialState = null, double? scale = null, int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (b, h, _, kd, vd, _) = Check(q, k, v, g);
        if (initialState is not null) Shapes.Same(initialState, [b, h, kd, vd], nameof(initialState));
        var final = Tensor<T>.Zeros(b, h, kd, vd);
        var o = ChunkedFastSized(q, k, v, g, FastChunk, FastSubChunk, scale, maxThreads, initialState?.Data, final.Data);
        return (o, final);
    }

    /// <summary><see cref="ChunkedFast{T}"/> with explicit chunk and sub-chunk lengths (tests, chunk-size measurement).</summary>
    /// <remarks><paramref name="columnBlocks"/> (tests, bench): see <see cref="ChunkedCore{T}"/>; the result is bitwise the same for every value.</remarks>
    internal static Tensor<T> ChunkedFastSized<T>(Tensor<T> q, Tensor<T> k, Tensor<T> v, Tensor<T> g, int chunk, int subChunk,
        double? scale = null, int maxThreads = 0, T[]? initialState = null, T[]? finalState = null, int columnBlocks = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (b, h, l, _, vd, _) = Check(q, k, v, g);
        // Every element of o is written (the read-out of step 1 overwrites), so it is not zeroed first.
        var o = new Tensor<T>(GC.AllocateUninitializedArray<T>(b * h * l * vd), b, h, l, vd);
        ChunkedCore(o, q, k, v, g, chunk, subChunk, scale, maxThreads, initialState, finalState, columnBlocks);
        return o;
    }

    /// <summary>
    /// Value-column blocks per head of a multi-thread chunked call, or 0 for the fused form (one item per head).
    /// With at least <see cref="ItemsPerThread"/> heads per thread, or one thread, the fused form: each chunk's
    /// state-independent part is computed and used at once. With fewer heads the call has too few items: at two
    /// threads and two heads, a quarter of quiet calls ran at the one-thread time, because a helper placed on the
    /// caller's core cannot hand an item back (bench/NOTES.md, gemm6 and glasplit sections). Those calls run in two
    /// parallel phases instead: (1) every chunk's state-independent part (steps 0, 2, 3: gates, exps, [Qe | A], Ke,
    /// exp(B_last), about 40 % of the work) into a per-call buffer, in items of <see cref="PrepareChunks"/> chunks, since
    /// it reads no state; (2) the sequential state carry (steps 1, 4, 5) per head and block of value columns, which are
    /// independent in S [K, V] and O. Both phases run the same operations on the same values as the fused form, and
    /// the products compute every column in the same order whatever the block (<see cref="TileGemm"/>), so the result
    /// is bitwise that of the fused form for every thread and block count. The carry is cut into column blocks only
    /// when there are fewer heads than threads: measured at B 1, H 2, K = V = 64 on two threads (glasplit), two blocks
    /// per head took 1.20 ms median against 1.00 for one (each block reads its head's whole prepared buffer, and
    /// cutting the fused form itself into column blocks recomputes steps 0, 2 and 3 per block: 1.4x the one-thread
    /// time for two blocks).
    /// </summary>
    internal static int ColumnBlocks<T>(int heads, int vd, int threads) where T : unmanaged
    {
        if (threads <= 1 || heads >= ItemsPerThread * threads) return 0;
        return Math.Clamp((threads + heads - 1) / heads, 1, Math.Max(1, vd / Vector256<T>.Count));
    }

    /// <summary>Target items per thread of a multi-thread chunked call (see <see cref="ColumnBlocks{T}"/>; measured in bench/NOTES.md, glasplit).</summary>
    internal const int ItemsPerThread = 2;

    /// <summary>Chunks per item of the prepare phase (see <see cref="ColumnBlocks{T}"/>): 128 positions at C = 16.</summary>
    internal const int PrepareChunks = 8;

    /// <remarks><paramref name="columnBlocks"/> (tests, bench): 0 = <see cref="ColumnBlocks{T}"/>'s choice; negative = the fused form;
    /// n &gt;= 1 = the two-phase form with n value-column blocks per head (clamped to one vector per block).</remarks>
    internal static void ChunkedCore<T>(Tensor<T> o, Tensor<T> q, Tensor<T> k, Tensor<T> v, Tensor<T> g, int chunk, int subChunk,
        double? scale, int maxThreads, T[]? initialState, T[]? finalState, int columnBlocks = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (b, h, l, kd, vd, kg) = Check(q, k, v, g);
        HeadShapes.Chunk(chunk, nameof(chunk));
        HeadShapes.Chunk(subChunk, nameof(subChunk));
        if (chunk % subChunk != 0)
            throw new ArgumentOutOfRangeException(nameof(subChunk), $"subChunk = {subChunk} must divide chunk = {chunk}.");
        int threads = HeadShapes.Threads(maxThreads, nameof(maxThreads));
        T sc = T.CreateChecked(Scale(scale, kd));
        int blocks = columnBlocks switch { > 0 => columnBlocks, < 0 => 0, _ => ColumnBlocks<T>(b * h, vd, threads) };
        var job = PerThread<ChunkJob<T>, int>.Take(0);
        (job.Q, job.K, job.V, job.G, job.O, job.Initial, job.Final) = (q.Data, k.Data, v.Data, g.Data, o.Data, initialState, finalState);
        (job.Chunk, job.SubChunk, job.Length, job.KDim, job.VDim, job.GDim, job.Scale) = (chunk, subChunk, l, kd, vd, kg, sc);
        if (blocks == 0)
        {
            (job.Phase, job.Blocks, job.Width) = (0, 1, vd);
            ParallelItems.For(b * h, threads, job);
        }
        else
        {
            // Blocks of `width` columns, a multiple of the vector width (the last block may be narrower).
            int w = Vector256<T>.Count;
            blocks = Math.Clamp(blocks, 1, Math.Max(1, vd / w));
            int width = blocks == 1 ? vd : Math.Min(vd, ((vd + blocks - 1) / blocks + w - 1) / w * w);
            int chunks = (l + chunk - 1) / chunk, ranges = (chunks + PrepareChunks - 1) / PrepareChunks;
            var prepared = PerThread<PreparedBuffer<T>, int>.Take(b * h * chunks * PreparedSize(chunk, kd));
            (job.Prepared, job.Chunks, job.Ranges, job.Blocks, job.Width, job.Heads) = (prepared.Data, chunks, ranges, (vd + width - 1) / width, width, b * h);
            job.Phase = 1;
            ParallelItems.For(b * h * ranges, threads, job);
            job.Phase = 2;
            ParallelItems.For(b * h * job.Blocks, threads, job);
            job.Prepared = null;
            PerThread<PreparedBuffer<T>, int>.Give(prepared);
        }
        (job.Q, job.K, job.V, job.G, job.O, job.Initial, job.Final) = (null!, null!, null!, null!, null!, null, null);
        PerThread<ChunkJob<T>, int>.Give(job);
    }

    /// <summary>The per-call buffer of the two-phase form's prepared chunks (kept across calls per calling thread).</summary>
    private sealed class PreparedBuffer<T> : IPerThreadWorkspace<PreparedBuffer<T>, int> where T : unmanaged
    {
        public T[] Data { get; private init; } = [];

        public static PreparedBuffer<T> Create(int key) => new() { Data = new T[key] };

        public bool Fits(int key) => Data.Length == key;
    }

    /// <summary>
    /// One item of a chunked call (a ParallelItems body, pooled per calling thread): Phase 0, head item (the fused form);
    /// phase 1, chunks (item % Ranges) * PrepareChunks onwards of head item / Ranges into Prepared; phase 2, column block
    /// item / Heads of head item % Heads from Prepared (see <see cref="ColumnBlocks{T}"/>). The chunk workspace is
    /// per thread and kept across calls (every buffer is written before it is read within a chunk, and the
    /// state is cleared per head).
    /// </summary>
    private sealed class ChunkJob<T> : IParallelBody, IPerThreadWorkspace<ChunkJob<T>, int> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T[] Q = null!, K = null!, V = null!, G = null!, O = null!;
        public T[]? Initial, Final, Prepared;
        public int Chunk, SubChunk, Length, KDim, VDim, GDim, Blocks, Width, Phase, Chunks, Ranges, Heads;
        public T Scale;

        public static ChunkJob<T> Create(int key) => new();

        public bool Fits(int key) => true;

        public void Run(int item)
        {
            int l = Length, kd = KDim, vd = VDim, kg = GDim, chunk = Chunk, size = PreparedSize(chunk, kd);
            var ws = PerThread<ChunkWorkspace<T>, (int, int, int, int)>.Take((chunk, SubChunk, kd, Width));
            if (Phase == 1)
            {
                int head = item / Ranges, first = item % Ranges * PrepareChunks, lda = kd + chunk;
                for (int ci = first; ci < Math.Min(Chunks, first + PrepareChunks); ci++)
                {
                    int t0 = head * l + ci * chunk, n = Math.Min(chunk, l - ci * chunk);
                    var slot = Prepared.AsSpan((head * Chunks + ci) * size, size);
                    PrepareChunk<T>(Q.AsSpan(t0 * kd, n * kd), K.AsSpan(t0 * kd, n * kd), G.AsSpan(t0 * kg, n * kg), kg, Scale, ws,
                        slot[..(chunk * lda)], slot.Slice(chunk * lda, chunk * kd), slot.Slice(chunk * (lda + kd), kd));
                }
                PerThread<ChunkWorkspace<T>, (int, int, int, int)>.Give(ws);
                return;
            }
            // Phase 2 takes block-major items, so that concurrent items are other heads' blocks where there are
            // several heads: two threads writing two blocks of one head's output rows share a cache line per row.
            int bh = Phase == 2 ? item % Heads : item / Blocks, col0 = (Phase == 2 ? item / Heads : item % Blocks) * Width;
            ChunkedHead(Q.AsSpan(bh * l * kd, l * kd), K.AsSpan(bh * l * kd, l * kd), V.AsSpan(bh * l * vd, l * vd),
                G.AsSpan(bh * l * kg, l * kg), kg, Scale, O.AsSpan(bh * l * vd, l * vd), vd, col0, Math.Min(Width, vd - col0), ws,
                Initial is null ? default : Initial.AsSpan(bh * kd * vd, kd * vd),
                Final is null ? default : Final.AsSpan(bh * kd * vd, kd * vd),
                Prepared is null ? default : Prepared.AsSpan(bh * Chunks * size, Chunks * size));
            PerThread<ChunkWorkspace<T>, (int, int, int, int)>.Give(ws);
        }
    }

    /// <summary>
    /// Bound on the within-sub-block decay P = exp(B_t - B_(p-1)) for the diagonal sub-block to be
    /// formed as Qr (K / P)^T: with 2^-60 &lt;= P &lt;= 2^60, k / P and q P stay far inside float32's
    /// range (|q P| and |k / P| stay within [2^-120, 2^120] for |q|, |k| in [2^-60, 2^60]: no
    /// overflow, no subnormals).
    /// </summary>
    private const double DiagonalRange = 1.152921504606846976e18;

    /// <summary>Buffers of <see cref="ChunkedHead{T}"/> (allocated once per worker thread and call, reused by every chunk and head).</summary>
    private sealed class ChunkWorkspace<T> : IPerThreadWorkspace<ChunkWorkspace<T>, (int, int, int, int)> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static ChunkWorkspace<T> Create((int, int, int, int) key) => new(key.Item1, key.Item2, key.Item3, key.Item4);

        public bool Fits((int, int, int, int) key) => key == (C, Sub, KDim, VDim);

        public ChunkWorkspace(int chunk, int subChunk, int kd, int vd)
        {
            (C, Sub, KDim, VDim) = (chunk, subChunk, kd, vd);
            StateV = new T[(kd + chunk) * vd];   // vd: the widest column block this workspace serves
            Cum = new T[chunk * kd];
            Alpha = new T[chunk * kd];
            QeA = new T[chunk * (kd + chunk)];
            Qr = new T[chunk * kd];
            Ke = new T[chunk * kd];
            Kr = new T[chunk * kd];
            Ki = new T[chunk * kd];
            Kd = new T[chunk * kd];
            D = new T[chunk / subChunk * kd];
            Safe = new bool[chunk / subChunk];
            Zero = new T[kd];
            One = new T[kd];
            One.AsSpan().Fill(T.One);
            Gate = new T[kd];
            Run = new T[kd];
            E = new T[kd];
            Last = new T[kd];
        }

        public int C { get; }
        public int Sub { get; }
        public int KDim { get; }
        /// <summary>Columns of the widest value-column block this workspace serves (the head's V when unsplit).</summary>
        public int VDim { get; }
        /// <summary>[K + C, width]: the state's column block S[:, block] (rows 0..K, carried across chunks) over the chunk's values in those columns (rows K..K + C).</summary>
        public T[] StateV { get; }
        public T[] Cum { get; }
        public T[] Alpha { get; }
        /// <summary>[C, K + C]: row t = [Qe_t | A[t, 0..C)], the left operand of the fused read-out O = Qe S + A V.</summary>
        public T[] QeA { get; }
        public T[] Qr { get; }
        public T[] Ke { get; }
        public T[] Kr { get; }
        public T[] Ki { get; }
        public T[] Kd { get; }
        public T[] D { get; }
        public bool[] Safe { get; }
        public T[] Zero { get; }
        public T[] One { get; }
        public T[] Gate { get; }
        public T[] Run { get; }
        public T[] E { get; }
        /// <summary>exp(B_last) of the chunk being run by the fused form (the prepared form keeps one per chunk).</summary>
        public T[] Last { get; }
    }

    /// <summary>
    /// One head's value columns col0..col0 + wc: q, k [L, K], v [L, V], g [L, Kg], o [L, V] (those columns written), from the
    /// state s0 [K, V] (empty: zeros); those columns of the final state into sLast when not empty. With
    /// <paramref name="prepared"/> empty, each chunk's state-independent part (<see cref="PrepareChunk{T}"/>) is computed here;
    /// otherwise it is read from <paramref name="prepared"/> (the head's chunks one after the other, <see cref="PreparedSize"/> each).
    /// </summary>
    private static void ChunkedHead<T>(ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, ReadOnlySpan<T> g, int kg, T sc,
        Span<T> o, int vd, int col0, int wc, ChunkWorkspace<T> ws, ReadOnlySpan<T> s0 = default, Span<T> sLast = default,
        ReadOnlySpan<T> prepared = default) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int kd = ws.KDim, chunk = ws.C, l = q.Length / kd, lda = kd + chunk, size = PreparedSize(chunk, kd);
        Span<T> sv = ws.StateV, s = sv[..(kd * wc)];
        s.Clear();
        if (!s0.IsEmpty)
            for (int r = 0; r < kd; r++) s0.Slice(r * vd + col0, wc).CopyTo(s.Slice(r * wc, wc));
        for (int c0 = 0, ci = 0; c0 < l; c0 += chunk, ci++)
        {
            int n = Math.Min(chunk, l - c0);
            ReadOnlySpan<T> qea = ws.QeA, ke = ws.Ke, e = ws.Last;
            if (prepared.IsEmpty)
                PrepareChunk(q.Slice(c0 * kd, n * kd), k.Slice(c0 * kd, n * kd), g.Slice(c0 * kg, n * kg), kg, sc, ws, ws.QeA, ws.Ke, ws.Last);
            else
            {
                var slot = prepared.Slice(ci * size, size);
                qea = slot[..(chunk * lda)];
                ke = slot.Slice(chunk * lda, chunk * kd);
                e = slot.Slice(chunk * (lda + kd), kd);
            }
            var oc = o.Slice(c0 * vd + col0);
            // The chunk's values in this block's columns, under the state: [S ; V] as one operand of step 4.
            var vc = sv.Slice(kd * wc, n * wc);
            for (int t = 0; t < n; t++) v.Slice((c0 + t) * vd + col0, wc).CopyTo(vc.Slice(t * wc, wc));

            // 1 + 4. Read-out of the carried state and the intra-chunk part as one product:
            //    O = [Qe | A] [S ; V] = Qe S + A V.
            TileGemm.Multiply(n, wc, kd + n, qea, lda, 1, sv, wc, oc, vd, accumulate: false);

            // 5. State passing: S = Diag(exp(B_last)) S + Ke^T V (Ke read transposed, the decay applied
            //    to the accumulators as they are loaded).
            TileGemm.Multiply(kd, wc, n, ke, 1, kd, vc, wc, s, wc, accumulate: true, rowScale: e);
        }
        if (!sLast.IsEmpty)
            for (int r = 0; r < kd; r++) s.Slice(r * wc, wc).CopyTo(sLast.Slice(r * vd + col0, wc));
    }

    /// <summary>Elements of one chunk's state-independent part: [Qe | A] (C x (K + C)), Ke (C x K) and the chunk decay exp(B_last) (K).</summary>
    private static int PreparedSize(int chunk, int kd) => chunk * (kd + chunk) + chunk * kd + kd;

    /// <summary>
    /// Steps 0, 2 and 3 of one chunk of n = q.Length / K positions, which read q, k and g only (not the state, not v):
    /// qea [C, K + C] gets row t = [Qe_t | A[t, 0..n)] (zeros above the diagonal), ke [C, K] gets Ke, decay [K] gets
    /// exp(B_last). Uses the workspace's other buffers as scratch.
    /// </summary>
    private static void PrepareChunk<T>(ReadOnlySpan<T> qc, ReadOnlySpan<T> kc, ReadOnlySpan<T> gc, int kg, T sc, ChunkWorkspace<T> ws,
        Span<T> qea, Span<T> ke, Span<T> decay) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int kd = ws.KDim, chunk = ws.C, sub = ws.Sub, n = qc.Length / kd, lda = kd + chunk;
        Span<T> cum = ws.Cum, alpha = ws.Alpha, qr = ws.Qr, kr = ws.Kr, ki = ws.Ki, kdec = ws.Kd;
        Span<T> d = ws.D, run = ws.Run, e = ws.E;
        ReadOnlySpan<T> zero = ws.Zero, one = ws.One, g = gc;
        T lowest = T.CreateChecked(1.0 / DiagonalRange), highest = T.CreateChecked(DiagonalRange);
        // Forward over the chunk: B_t, alpha_t = exp(g_t), and per sub-block the running decay
        // P_t = prod_{r = p..t} alpha_r = exp(B_t - B_(p-1)), giving Qr_t = scale q_t o P_t,
        // Qe_t = Qr_t o exp(B_(p-1)) and (K / P)^T for the diagonal sub-block.
        for (int p = 0, blk = 0; p < n; p += sub, blk++)
        {
            int end = Math.Min(p + sub, n);
            ChunkKernels.Decay(p == 0 ? zero : cum.Slice((p - 1) * kd, kd), zero, e);
            var min = Vector256.Create(T.PositiveInfinity);
            var max = Vector256.Create(T.NegativeInfinity);
            for (int t = p; t < end; t++)
            {
                ReadOnlySpan<T> gt = g.Slice(t * kg, kg);
                if (kg == 1) { ws.Gate.AsSpan().Fill(gt[0]); gt = ws.Gate; }
                ChunkKernels.GateRow(gt, t == 0 ? zero : cum.Slice((t - 1) * kd, kd), qc.Slice(t * kd, kd), kc.Slice(t * kd, kd),
                    e, sc, first: t == p, cum.Slice(t * kd, kd), alpha.Slice(t * kd, kd), run, qr.Slice(t * kd, kd), qea.Slice(t * lda, kd),
                    ki.Slice(t * kd, kd), ref min, ref max);
            }
            ws.Safe[blk] = ChunkKernels.LaneBounds(min, max, lowest, highest);
        }
        ReadOnlySpan<T> last = cum.Slice((n - 1) * kd, kd);

        // Backward within each sub-block: R_s = prod_{r = s+1..e} alpha_r = exp(B_e - B_s), giving
        // Kr_s = k_s o R_s and Ke_s = Kr_s o exp(B_last - B_e).
        for (int p = 0; p < n; p += sub)
        {
            int end = Math.Min(p + sub, n);
            ChunkKernels.Decay(last, cum.Slice((end - 1) * kd, kd), e);
            one.CopyTo(run);
            for (int t = end - 1; t >= p; t--)
                ChunkKernels.KeyRow(kc.Slice(t * kd, kd), e, alpha.Slice(t * kd, kd), run, kr.Slice(t * kd, kd), ke.Slice(t * kd, kd));
        }

        for (int p = 0, blk = 0; p < n; p += sub, blk++)
        {
            int len = Math.Min(sub, n - p);
            // 2. Off-diagonal sub-blocks: A[I, 0..p) = Qr_I (Kr with the rows of block J scaled by
            //    d_IJ = exp(B_(p-1) - B_(e_J)), which is 1 for the neighbouring block J = I - 1)^T.
            if (p > 0)
            {
                ReadOnlySpan<T> kb = kr;
                if (p > sub)
                {
                    ReadOnlySpan<T> boundary = cum.Slice((p - 1) * kd, kd);
                    for (int j = 0; j < p / sub - 1; j++)
                        ChunkKernels.Decay(boundary, cum.Slice((j * sub + sub - 1) * kd, kd), d.Slice(j * kd, kd));
                    one.CopyTo(d.Slice((p / sub - 1) * kd, kd));
                    ChunkKernels.ScaleRowBlocks<T>(kr, kdec, p, kd, sub, d);
                    kb = kdec;
                }
                ChunkKernels.GemmNT(len, p, kd, qr.Slice(p * kd), kd, kb, kd, qea.Slice(p * lda + kd), lda);
            }
            // 3. Diagonal sub-block: A_II[t, s] = scale sum_k q_tk k_sk exp(B_tk - B_sk), s <= t. When the
            //    decays inside the block stay within DiagonalRange, as the product Qr_I (K_I / P_I)^T;
            //    otherwise elementwise in log space. Exact zeros above the diagonal either way.
            if (ws.Safe[blk])
            {
                ChunkKernels.GemmNT(len, len, kd, qr.Slice(p * kd), kd, ki.Slice(p * kd), kd, qea.Slice(p * lda + kd + p), lda);
            }
            else
            {
                for (int t = p; t < p + len; t++)
                {
                    ReadOnlySpan<T> qt = qc.Slice(t * kd, kd), bt = cum.Slice(t * kd, kd);
                    var ar = qea.Slice(t * lda + kd, n);
                    for (int r = p; r < t; r++)
                        ar[r] = sc * ChunkKernels.DecayedDot(qt, kc.Slice(r * kd, kd), bt, cum.Slice(r * kd, kd));
                    ar[t] = sc * TensorPrimitives.Dot(qt, kc.Slice(t * kd, kd));
                }
            }
            // Exact zeros above the diagonal, up to the chunk's last column.
            for (int t = p; t < p + len; t++) qea.Slice(t * lda + kd + t + 1, n - t - 1).Clear();
        }

        ChunkKernels.Decay(last, zero, decay);
    }
}
