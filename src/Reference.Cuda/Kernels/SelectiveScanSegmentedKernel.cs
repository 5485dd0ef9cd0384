using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Reference.Cuda.Kernels;

/// <summary>
/// The sequential float32 scan (<see cref="Scan{TBlock}"/>, a thread per (channel, state)) with time cut into
/// segments, so that D N S threads run at once instead of D N (D 2048, N 16 gives 32,768 threads, 8 warps per
/// multiprocessor, and <see cref="Scan{TBlock}"/> is latency bound there: bench/NOTES.md, "scanseq"). The
/// recurrence x_t = e_t x_{t-1} + v_t is linear in x, so a segment run from x = 0 ends in h_k and the true state
/// at its end is exp(A_n sum_{t in k} Delta_t) x_start + h_k (the same decomposition as the chunked CPU tier and
/// <see cref="SelectiveScanKernel"/>; Gu and Dao, arXiv:2312.00752, section 3.3.2, the hardware-aware scan):
/// <list type="number">
/// <item><see cref="SegmentStates"/>: every segment but the last, in parallel, runs its steps from x = 0 and stores
/// h_k[n] per (channel, state) and sum Delta per channel (Delta summed by the staging threads, one add per staged
/// value, then a warp reduction);</item>
/// <item>the carry, fused into the prologue of <see cref="SegmentOutputs"/>: thread (d, n) of segment k folds
/// x = exp2(a2 Sum_j) x + h_j over j &lt; k (one exp2 per earlier segment; at most <see cref="MaxSegments"/> - 1
/// loads and exponentials, against a segment of at least 128 steps), instead of a third launch whose S steps each
/// wait for a dependent global load;</item>
/// <item><see cref="SegmentOutputs"/>: every segment reruns from its true start state and writes y (the body of
/// <see cref="Scan{TBlock}"/> over the segment's chunks).</item>
/// </list>
/// A rerun rather than a correction y_t += sum_n c_t[n] exp(A_n cumsum Delta) x_start[n] on outputs written by
/// pass 1: both evaluate one exponential per (state, step) in each pass, but the correction reads y back, writes
/// it again and reads Delta once more (12 bytes per element against the rerun's 8 for the first pass's u and
/// Delta), and needs the prefix of Delta within the segment. Segments are whole numbers of 32-step chunks, so a
/// chunk never straddles two segments and only the last segment can end in a partial chunk.
/// </summary>
internal static partial class SelectiveScanSequentialKernel
{
    /// <summary>Channels a block of the segmented passes (16 x 16 states = 256 threads).</summary>
    public const int SegmentChannels = 16;

    public const int SegmentThreads = SegmentChannels * States;

    /// <summary>Blocks wanted per multiprocessor over one launch (see <see cref="SegmentLength"/>).</summary>
    public const int TargetGroupsPerMultiprocessor = 16;

    /// <summary>The shortest segment, in chunks: 128 steps, so the fused carry (one exp2 per earlier segment) stays small.</summary>
    public const int MinSegmentChunks = 4;

    /// <summary>The most segments: the last segment's carry folds MaxSegments - 1 earlier ones.</summary>
    public const int MaxSegments = 64;

    /// <summary>
    /// The segment length for the shape (a multiple of <see cref="Chunk"/>): enough segments that the output pass
    /// has about <see cref="TargetGroupsPerMultiprocessor"/> blocks of 8 warps per multiprocessor, i.e. several
    /// waves at the 2-3 resident blocks its registers allow (variant 6 measured 122 registers: 2 blocks, 16 warps
    /// per multiprocessor; capped at 85: 3 blocks, 24 warps), so the last wave's tail is small, with segments of at
    /// least <see cref="MinSegmentChunks"/> chunks and at most <see cref="MaxSegments"/> of them. D 2048, N 16,
    /// L 4096 on the H200's 132 multiprocessors: 128 blocks a segment, 17 segments wanted, 8 chunks each, so 16
    /// segments of 256 steps, 2048 blocks (1920 in the first pass), 7.8 waves at 2 blocks per multiprocessor.
    /// </summary>
    public static int SegmentLength(ScanArgs s, int multiprocessors)
    {
        int chunks = Math.Max(1, (s.L + Chunk - 1) / Chunk);
        int perSegment = s.B * s.G * BlocksPerGroup(s, SegmentChannels);
        int wanted = Math.Clamp((TargetGroupsPerMultiprocessor * Math.Max(1, multiprocessors) + perSegment - 1) / perSegment, 1, MaxSegments);
        return Math.Max(MinSegmentChunks, (chunks + wanted - 1) / wanted) * Chunk;
    }

    /// <summary>Segments of <paramref name="segmentLength"/> steps covering L (the last one may be shorter).</summary>
    public static int Segments(ScanArgs s, int segmentLength) => (s.L + segmentLength - 1) / segmentLength;

    /// <summary>The first pass's launch: every segment but the last (none when there is one segment).</summary>
    public static KernelConfig StatesConfig(ScanArgs s, int segmentLength) =>
        new(new Index1D(s.B * s.G * BlocksPerGroup(s, SegmentChannels) * (Segments(s, segmentLength) - 1)), new Index1D(SegmentThreads));

    public static KernelConfig OutputsConfig(ScanArgs s, int segmentLength) =>
        new(new Index1D(s.B * s.G * BlocksPerGroup(s, SegmentChannels) * Segments(s, segmentLength)), new Index1D(SegmentThreads));

    /// <summary>
    /// Pass 1: segment k (k &lt; S - 1, so always whole chunks) from x = 0; states[((b D + d) S + k) N + n] = h_k[n]
    /// and sums[(b D + d) S + k] = sum of Delta over the segment. Per (state, step): exp2, the input product and the
    /// FMA; c, z and the outputs are not read.
    /// </summary>
    public static void SegmentStates(ArrayView<float> u, ArrayView<float> delta, ArrayView<float> aLog, ArrayView<float> b,
        ArrayView<float> bias, ArrayView<float> states, ArrayView<float> sums, ScanArgs s, int segmentLength)
    {
        const int channels = SegmentChannels;
        var dts = SharedMemory.Allocate<Row4<float>>(channels * Pitch);
        var dus = SharedMemory.Allocate<Row4<float>>(channels * Pitch);
        var bs = SharedMemory.Allocate<Row4<float>>(States * Pitch);
        var dtScalar = dts.Cast<float>();
        var duScalar = dus.Cast<float>();
        var bScalar = bs.Cast<float>();
        int perGroup = s.D / s.G, blocks = BlocksPerGroup(s, channels), segments = Segments(s, segmentLength), launched = segments - 1;
        int id = Grid.IdxX, sub = id % blocks, rest = id / blocks, segment = rest % launched, bg = rest / launched, g = bg % s.G, batch = bg / s.G;
        int tid = Group.IdxX, ch = tid / States, n = tid % States, first = sub * channels;
        int local = first + ch, d = g * perGroup + (local < perGroup ? local : 0);
        float a2 = n < s.N ? -MathF.Exp(aLog[(long)d * s.N + n]) * Log2E : 0f;
        long rows = ((long)batch * s.D + g * perGroup + first) * s.L, vectors = ((long)batch * s.G + g) * s.N * s.L;
        // Staging as in Scan: warp r0 = tid / 32 stages step tid % 32 of channel rows r0 and r0 + 8 and state rows r0 and r0 + 8.
        int r0 = tid / Chunk, r1 = r0 + channels / 2, step = tid % Chunk;
        bool live0 = first + r0 < perGroup, live1 = first + r1 < perGroup;
        float bias0 = s.HasBias != 0 && live0 ? bias[g * perGroup + first + r0] : 0f;
        float bias1 = s.HasBias != 0 && live1 ? bias[g * perGroup + first + r1] : 0f;
        int at0 = r0 * ScalarPitch + step, at1 = r1 * ScalarPitch + step;
        int begin = segment * segmentLength, end = begin + segmentLength;
        float u0 = Row(u, rows, r0, live0, begin + step, s), u1 = Row(u, rows, r1, live1, begin + step, s);
        float d0 = Row(delta, rows, r0, live0, begin + step, s), d1 = Row(delta, rows, r1, live1, begin + step, s);
        float b0 = Row(b, vectors, r0, r0 < s.N, begin + step, s), b1 = Row(b, vectors, r1, r1 < s.N, begin + step, s);
        int rowD = ch * Pitch, rowN = n * Pitch;
        float h = 0f, sum0 = 0f, sum1 = 0f;
        for (int t0 = begin; t0 < end; t0 += Chunk)
        {
            Group.Barrier();
            // Every step of this pass is before L (the last segment is not run here), so no per-step check.
            float dt0 = SelectiveScanKernel.Softplus(d0 + bias0), dt1 = SelectiveScanKernel.Softplus(d1 + bias1);
            sum0 += dt0;
            sum1 += dt1;
            dtScalar[at0] = dt0; duScalar[at0] = dt0 * u0; bScalar[at0] = b0;
            dtScalar[at1] = dt1; duScalar[at1] = dt1 * u1; bScalar[at1] = b1;
            int t1 = t0 + Chunk;
            if (t1 < end)
            {
                int next = t1 + step;
                u0 = Row(u, rows, r0, live0, next, s); u1 = Row(u, rows, r1, live1, next, s);
                d0 = Row(delta, rows, r0, live0, next, s); d1 = Row(delta, rows, r1, live1, next, s);
                b0 = Row(b, vectors, r0, r0 < s.N, next, s); b1 = Row(b, vectors, r1, r1 < s.N, next, s);
            }
            Group.Barrier();
            h = Decay(dts[rowD], dus[rowD], bs[rowN], a2, h);
            h = Decay(dts[rowD + 1], dus[rowD + 1], bs[rowN + 1], a2, h);
            h = Decay(dts[rowD + 2], dus[rowD + 2], bs[rowN + 2], a2, h);
            h = Decay(dts[rowD + 3], dus[rowD + 3], bs[rowN + 3], a2, h);
            h = Decay(dts[rowD + 4], dus[rowD + 4], bs[rowN + 4], a2, h);
            h = Decay(dts[rowD + 5], dus[rowD + 5], bs[rowN + 5], a2, h);
            h = Decay(dts[rowD + 6], dus[rowD + 6], bs[rowN + 6], a2, h);
            h = Decay(dts[rowD + 7], dus[rowD + 7], bs[rowN + 7], a2, h);
        }
        // The warp's 32 lanes hold the 32 steps' partial sums of rows r0 and r1.
        for (int width = Chunk / 2; width > 0; width >>= 1)
        {
            sum0 += Warp.ShuffleXor(sum0, width);
            sum1 += Warp.ShuffleXor(sum1, width);
        }
        long channelRow = (long)batch * s.D + g * perGroup + first;
        if (step == 0 && live0) sums[(channelRow + r0) * segments + segment] = sum0;
        if (step == 0 && live1) sums[(channelRow + r1) * segments + segment] = sum1;
        if (local < perGroup && n < s.N) states[((channelRow + ch) * segments + segment) * s.N + n] = h;
    }

    /// <summary>
    /// Pass 3: segment k's start state from the first pass's h_j and Delta sums (j &lt; k, folded in order), then
    /// <see cref="Scan{TBlock}"/>'s chunks over the segment: same exponentials, products and accumulation order of y_t
    /// (d u_t, then c_t[n] x_t for n ascending) as variant 6.
    /// </summary>
    public static void SegmentOutputs(ArrayView<float> u, ArrayView<float> delta, ArrayView<float> aLog, ArrayView<float> b,
        ArrayView<float> c, ArrayView<float> skip, ArrayView<float> z, ArrayView<float> bias, ArrayView<float> output,
        ArrayView<float> states, ArrayView<float> sums, ScanArgs s, int segmentLength)
    {
        const int channels = SegmentChannels;
        var dts = SharedMemory.Allocate<Row4<float>>(channels * Pitch);
        var dus = SharedMemory.Allocate<Row4<float>>(channels * Pitch);
        var us = SharedMemory.Allocate<Row4<float>>(channels * Pitch);
        var bs = SharedMemory.Allocate<Row4<float>>(States * Pitch);
        var cs = SharedMemory.Allocate<Row4<float>>(States * Pitch);
        var ps = SharedMemory.Allocate<Row4<float>>(channels * States * Pitch);
        var dtScalar = dts.Cast<float>();
        var duScalar = dus.Cast<float>();
        var uScalar = us.Cast<float>();
        var bScalar = bs.Cast<float>();
        var cScalar = cs.Cast<float>();
        int perGroup = s.D / s.G, blocks = BlocksPerGroup(s, channels), segments = Segments(s, segmentLength);
        int id = Grid.IdxX, sub = id % blocks, rest = id / blocks, segment = rest % segments, bg = rest / segments, g = bg % s.G, batch = bg / s.G;
        int tid = Group.IdxX, ch = tid / States, n = tid % States, first = sub * channels;
        int local = first + ch, d = g * perGroup + (local < perGroup ? local : 0);
        float a2 = n < s.N ? -MathF.Exp(aLog[(long)d * s.N + n]) * Log2E : 0f;
        long rows = ((long)batch * s.D + g * perGroup + first) * s.L, vectors = ((long)batch * s.G + g) * s.N * s.L;
        int r0 = tid / Chunk, r1 = r0 + channels / 2, step = tid % Chunk;
        bool live0 = first + r0 < perGroup, live1 = first + r1 < perGroup;
        float bias0 = s.HasBias != 0 && live0 ? bias[g * perGroup + first + r0] : 0f;
        float bias1 = s.HasBias != 0 && live1 ? bias[g * perGroup + first + r1] : 0f;
        int at0 = r0 * ScalarPitch + step, at1 = r1 * ScalarPitch + step;
        int begin = segment * segmentLength, end = Math.Min(s.L, begin + segmentLength);
        float u0 = Row(u, rows, r0, live0, begin + step, s), u1 = Row(u, rows, r1, live1, begin + step, s);
        float d0 = Row(delta, rows, r0, live0, begin + step, s), d1 = Row(delta, rows, r1, live1, begin + step, s);
        float b0 = Row(b, vectors, r0, r0 < s.N, begin + step, s), b1 = Row(b, vectors, r1, r1 < s.N, begin + step, s);
        float c0 = Row(c, vectors, r0, r0 < s.N, begin + step, s), c1 = Row(c, vectors, r1, r1 < s.N, begin + step, s);
        // The carry: x_start(k) = sum over j < k of (the decay of segments j + 1 .. k - 1) h_j, folded in order. States
        // n >= N have a2 = 0 and no h_j, so they stay 0; a dead channel (local >= perGroup) folds channel d's, unused.
        long item = ((long)batch * s.D + d) * segments;
        float h = 0f;
        for (int j = 0; j < segment; j++)
            h = XMath.Exp2(a2 * sums[item + j]) * h + (n < s.N ? states[(item + j) * s.N + n] : 0f);
        int rowD = ch * Pitch, rowN = n * Pitch, rowP = tid * Pitch;
        for (int t0 = begin; t0 < end; t0 += Chunk)
        {
            Group.Barrier();
            bool on = t0 + step < s.L;
            float dt0 = on ? SelectiveScanKernel.Softplus(d0 + bias0) : 0f, dt1 = on ? SelectiveScanKernel.Softplus(d1 + bias1) : 0f;
            dtScalar[at0] = dt0; duScalar[at0] = dt0 * u0; uScalar[at0] = u0; bScalar[at0] = b0; cScalar[at0] = c0;
            dtScalar[at1] = dt1; duScalar[at1] = dt1 * u1; uScalar[at1] = u1; bScalar[at1] = b1; cScalar[at1] = c1;
            int t1 = t0 + Chunk;
            if (t1 < end)
            {
                int next = t1 + step;
                u0 = Row(u, rows, r0, live0, next, s); u1 = Row(u, rows, r1, live1, next, s);
                d0 = Row(delta, rows, r0, live0, next, s); d1 = Row(delta, rows, r1, live1, next, s);
                b0 = Row(b, vectors, r0, r0 < s.N, next, s); b1 = Row(b, vectors, r1, r1 < s.N, next, s);
                c0 = Row(c, vectors, r0, r0 < s.N, next, s); c1 = Row(c, vectors, r1, r1 < s.N, next, s);
            }
            Group.Barrier();
            h = ChunkSteps(dts, dus, bs, cs, ps, rowD, rowN, rowP, a2, h);
            Group.Barrier();
            ChunkOutputs(us, ps, skip, output, z, tid, channels, first, perGroup, g, rows, t0, s);
        }
    }

    /// <summary>Four steps of one (channel, state) from state h, without outputs (the first pass).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Decay(Row4<float> dt, Row4<float> du, Row4<float> bt, float a2, float h)
    {
        float e0 = XMath.Exp2(dt.X0 * a2), e1 = XMath.Exp2(dt.X1 * a2), e2 = XMath.Exp2(dt.X2 * a2), e3 = XMath.Exp2(dt.X3 * a2);
        float x = e0 * h + du.X0 * bt.X0;
        x = e1 * x + du.X1 * bt.X1;
        x = e2 * x + du.X2 * bt.X2;
        return e3 * x + du.X3 * bt.X3;
    }
}
