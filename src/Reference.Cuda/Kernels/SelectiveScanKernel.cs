using System.Numerics;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace Reference.Cuda.Kernels;

/// <summary>
/// Shapes of one selective scan: u, delta, z, out [B, D, L]; a_log [D, N]; b, c [B, G, N, L];
/// d, delta_bias [D]. Lanes (a power of two, at most 32) threads share one channel, thread lane
/// holding states lane and lane + Lanes; time is cut into Chunks chunks of SelectiveScanKernel.ChunkLength steps.
/// </summary>
internal readonly record struct ScanArgs(
    int B, int D, int L, int N, int G, int Lanes, int Chunks, int HasSkip, int HasGate, int HasBias)
{
    public int Items => B * D * Chunks;

    public int Blocks => B * Chunks * ((D + SelectiveScanKernel.Threads / Lanes - 1) / (SelectiveScanKernel.Threads / Lanes));
}

/// <summary>
/// The Mamba S6 selective scan (Gu and Dao, arXiv:2312.00752, Algorithm 2; selective_scan_ref's
/// layout), chunked over time like <c>SelectiveScan</c>'s chunked form, with the state carried
/// between chunks. Per channel d and state n: Delta_t = softplus(delta_t + bias) (threshold 20),
/// x_t = exp(Delta_t A_n) x_{t-1} + Delta_t b_t[n] u_t, y_t = sum_n c_t[n] x_t[n] + d u_t,
/// out_t = y_t silu(z_t). The recurrence is linear in x, so a chunk started from zero ends in
/// h_chunk, and the true end state is exp(A_n sum Delta) x_start + h_chunk:
/// <list type="number">
/// <item><see cref="TimeMajor{T}"/>: b and c [B, G, N, L] to [B, G, L, N], so that the N states of
/// one step are N consecutive values (one coalesced read by the lanes that hold them);</item>
/// <item><see cref="ChunkStates{T}"/>: every (b, d, chunk) in parallel runs its chunk from x = 0 and
/// stores h_chunk[n] and sum Delta;</item>
/// <item><see cref="CarryStates{T}"/>: every (b, d, n) walks its chunks in order, replacing h_chunk
/// by the state the chunk starts from;</item>
/// <item><see cref="ChunkOutputs{T}"/>: every chunk reruns from its true start state and writes out.</item>
/// </list>
/// A block of 256 threads takes one chunk of 256 / Lanes consecutive channels: it stages their u,
/// Delta (the softplus evaluated once per channel and step, while staging) and z for the chunk in
/// shared memory with coalesced reads, the channels' Lanes threads each hold one or two states, and
/// y_t's sum over n is a shuffle reduction within them; the outputs go back through shared memory
/// as coalesced rows. Accumulation order of y_t: the lanes' partial products summed as a butterfly
/// (pairs at distance Lanes / 2, ..., 1), not n ascending.
/// </summary>
internal static class SelectiveScanKernel
{
    public const int Threads = 256;

    /// <summary>Time steps per chunk (the staged rows are this long).</summary>
    public const int ChunkLength = 32;

    /// <summary>The fewest lanes per channel (at most 256 / 8 = 32 channels a block, so the staging fits 48 KiB in float64).</summary>
    public const int MinLanes = 8;

    private const int Staged = Threads / MinLanes * ChunkLength;

    public static KernelConfig ChunkConfig(ScanArgs s)
    {
        int perGroup = Threads / s.Lanes;
        int blocks = (s.D + perGroup - 1) / perGroup;
        return new KernelConfig(new Index1D(s.B * s.Chunks * blocks), new Index1D(Threads));
    }

    /// <summary>[B, G, N, L] to [B, G, L, N], one thread an element.</summary>
    public static void TimeMajor<T>(Index1D index, ArrayView<T> source, ArrayView<T> target, ScanArgs s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int t = index % s.L, rest = index / s.L, n = rest % s.N, bg = rest / s.N;
        target[((long)bg * s.L + t) * s.N + n] = source[index];
    }

    public static void ChunkStates<T>(ArrayView<T> u, ArrayView<T> delta, ArrayView<T> aLog, ArrayView<T> bt, ArrayView<T> bias,
        ArrayView<T> states, ArrayView<T> deltaSums, ScanArgs s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var us = SharedMemory.Allocate<T>(Staged);
        var dts = SharedMemory.Allocate<T>(Staged);
        var bs = SharedMemory.Allocate<T>(ChunkLength * 32);
        var w = Where(s);
        Stage(u, delta, bias, u, us, dts, dts, w, s, false);
        bool staged = StagesVectors(w, s);
        if (staged) StageVectors(bt, bs, w, s);
        Group.Barrier();

        T a0 = w.Has0 ? -T.Exp(aLog[(long)w.D * s.N + w.N0]) : T.Zero, a1 = w.Has1 ? -T.Exp(aLog[(long)w.D * s.N + w.N1]) : T.Zero;
        long bRow = ((long)w.Batch * s.G + w.G) * s.L * s.N;
        T x0 = T.Zero, x1 = T.Zero, sum = T.Zero;
        var ur = us.SubView(w.Channel * ChunkLength);
        var dr = dts.SubView(w.Channel * ChunkLength);
        // Two loops rather than a choice per step: ILGPU turns a per-step choice between a shared and
        // a global read into a select that performs both reads.
        if (staged)
        {
            for (int step = 0; step < w.Length; step++)
            {
                T dt = dr[step];
                sum += dt;
                if (w.Has0) x0 = T.Exp(dt * a0) * x0 + dt * ur[step] * bs[step * s.N + w.N0];
            }
        }
        else
        {
            for (int step = 0; step < w.Length; step++)
            {
                T dt = dr[step], du = dt * ur[step];
                sum += dt;
                long bn = bRow + (long)(w.T0 + step) * s.N;
                if (w.Has0) x0 = T.Exp(dt * a0) * x0 + du * bt[bn + w.N0];
                if (w.Has1) x1 = T.Exp(dt * a1) * x1 + du * bt[bn + w.N1];
            }
        }
        if (!w.Live) return;
        long item = ((long)w.Batch * s.D + w.D) * s.Chunks + w.Chunk, at = item * s.N;
        if (w.Has0) states[at + w.N0] = x0;
        if (w.Has1) states[at + w.N1] = x1;
        if (w.Lane == 0) deltaSums[item] = sum;
    }

    /// <summary>Groups of 64 for the carry pass: its B D N threads are few, so small groups spread them over every multiprocessor.</summary>
    public static KernelConfig CarryConfig(ScanArgs s) => new(new Index1D((s.B * s.D * s.N + 63) / 64), new Index1D(64));

    public static void CarryStates<T>(ArrayView<T> aLog, ArrayView<T> states, ArrayView<T> deltaSums, ScanArgs s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int index = Grid.GlobalIndex.X;
        if (index >= s.B * s.D * s.N) return;
        int n = index % s.N, bd = index / s.N, d = bd % s.D;
        T a = -T.Exp(aLog[(long)d * s.N + n]), x = T.Zero;
        long item = (long)bd * s.Chunks;
        // The next chunk's end state and Delta sum are read before this chunk's start state is written,
        // so each step waits for at most one round trip.
        T h = states[item * s.N + n], sum = deltaSums[item];
        for (int chunk = 0; chunk < s.Chunks; chunk++, item++)
        {
            T hNext = T.Zero, sumNext = T.Zero;
            if (chunk + 1 < s.Chunks)
            {
                hNext = states[(item + 1) * s.N + n];
                sumNext = deltaSums[item + 1];
            }
            states[item * s.N + n] = x;
            x = T.Exp(a * sum) * x + h;
            h = hNext;
            sum = sumNext;
        }
    }

    public static void ChunkOutputs<T>(ArrayView<T> u, ArrayView<T> delta, ArrayView<T> aLog, ArrayView<T> bt, ArrayView<T> ct,
        ArrayView<T> skip, ArrayView<T> z, ArrayView<T> bias, ArrayView<T> states, ArrayView<T> output, ScanArgs s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var us = SharedMemory.Allocate<T>(Staged);
        var dts = SharedMemory.Allocate<T>(Staged);
        var zs = SharedMemory.Allocate<T>(Staged);
        var bs = SharedMemory.Allocate<T>(ChunkLength * 32);
        var cs = SharedMemory.Allocate<T>(ChunkLength * 32);
        var w = Where(s);
        Stage(u, delta, bias, z, us, dts, zs, w, s, s.HasGate != 0);
        bool staged = StagesVectors(w, s);
        if (staged)
        {
            StageVectors(bt, bs, w, s);
            StageVectors(ct, cs, w, s);
        }
        Group.Barrier();

        T a0 = w.Has0 ? -T.Exp(aLog[(long)w.D * s.N + w.N0]) : T.Zero, a1 = w.Has1 ? -T.Exp(aLog[(long)w.D * s.N + w.N1]) : T.Zero;
        T dd = s.HasSkip != 0 && w.Live ? skip[w.D] : T.Zero;
        long bRow = ((long)w.Batch * s.G + w.G) * s.L * s.N;
        long at = (((long)w.Batch * s.D + w.D) * s.Chunks + w.Chunk) * s.N;
        T x0 = w.Has0 ? states[at + w.N0] : T.Zero, x1 = w.Has1 ? states[at + w.N1] : T.Zero;
        int row = w.Channel * ChunkLength;
        // Every lane runs the same number of steps (the chunk's length is the block's), so the shuffles
        // stay converged; staged and unstaged b, c are two loops (see ChunkStates).
        if (staged)
        {
            for (int step = 0; step < w.Length; step++)
            {
                T ut = us[row + step], dt = dts[row + step], part = T.Zero;
                if (w.Has0)
                {
                    int at0 = step * s.N + w.N0;
                    x0 = T.Exp(dt * a0) * x0 + dt * ut * bs[at0];
                    part = cs[at0] * x0;
                }
                Finish(part, ut, dd, zs, us, row + step, w, s);
            }
        }
        else
        {
            for (int step = 0; step < w.Length; step++)
            {
                T ut = us[row + step], dt = dts[row + step], du = dt * ut, part = T.Zero;
                long bn = bRow + (long)(w.T0 + step) * s.N;
                if (w.Has0)
                {
                    x0 = T.Exp(dt * a0) * x0 + du * bt[bn + w.N0];
                    part = ct[bn + w.N0] * x0;
                }
                if (w.Has1)
                {
                    x1 = T.Exp(dt * a1) * x1 + du * bt[bn + w.N1];
                    part += ct[bn + w.N1] * x1;
                }
                Finish(part, ut, dd, zs, us, row + step, w, s);
            }
        }
        Group.Barrier();

        int perGroup = Threads / s.Lanes;
        for (int e = Group.IdxX; e < perGroup * ChunkLength; e += Threads)
        {
            int channel = e / ChunkLength, step = e % ChunkLength, d = w.FirstChannel + channel;
            if (d < s.D && step < w.Length) output[((long)w.Batch * s.D + d) * s.L + w.T0 + step] = us[e];
        }
    }

    /// <summary>Where a thread stands: its block's chunk and channels, its own channel and states.</summary>
    private readonly record struct Position(int Batch, int Chunk, int T0, int Length, int FirstChannel, int Channel, int D, int G,
        int Lane, int N0, int N1, bool Live, bool Has0, bool Has1);

    private static Position Where(ScanArgs s)
    {
        int perGroup = Threads / s.Lanes, blocks = (s.D + perGroup - 1) / perGroup;
        int id = Grid.IdxX, block = id % blocks, rest = id / blocks, chunk = rest % s.Chunks, batch = rest / s.Chunks;
        int channel = Group.IdxX / s.Lanes, lane = Group.IdxX % s.Lanes, first = block * perGroup, d = first + channel;
        bool live = d < s.D;
        int safe = live ? d : 0, t0 = chunk * ChunkLength;
        return new Position(batch, chunk, t0, Math.Min(ChunkLength, s.L - t0), first, channel, safe, safe / (s.D / s.G),
            lane, lane, lane + s.Lanes, live, live && lane < s.N, live && lane + s.Lanes < s.N);
    }

    /// <summary>y_t = (sum over the channel's lanes of part) + d u_t, gated by silu(z_t), written over u_t in shared memory by lane 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish<T>(T part, T ut, T dd, ArrayView<T> zs, ArrayView<T> us, int at, Position w, ScanArgs s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int width = s.Lanes >> 1; width > 0; width >>= 1) part += Warp.ShuffleXor(part, width);
        if (w.Lane != 0) return;
        T yt = part + dd * ut;
        if (s.HasGate != 0)
        {
            T zt = zs[at];
            yt *= zt / (T.One + T.Exp(-zt));
        }
        us[at] = yt;
    }

    /// <summary>
    /// Whether the block stages b_t and c_t for its chunk in shared memory: when N &lt;= 32 (one state
    /// a lane) and all its channels read one group; otherwise every step reads them from device
    /// memory (correct, but each step then waits for a load).
    /// </summary>
    private static bool StagesVectors(Position w, ScanArgs s)
    {
        int perGroup = Threads / s.Lanes, size = s.D / s.G, last = Math.Min(s.D, w.FirstChannel + perGroup) - 1;
        return s.N <= 32 && w.FirstChannel / size == last / size;
    }

    /// <summary>The chunk's rows of a time-major b or c [B, G, L, N] for the block's group, into shared memory (step-major, N a row).</summary>
    private static void StageVectors<T>(ArrayView<T> source, ArrayView<T> target, Position w, ScanArgs s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int g = w.FirstChannel / (s.D / s.G);
        long first = (((long)w.Batch * s.G + g) * s.L + w.T0) * s.N;
        for (int e = Group.IdxX; e < w.Length * s.N; e += Threads) target[e] = source[first + e];
    }

    /// <summary>Stages the block's u, softplus(delta + bias) and (when gated) z rows for its chunk, coalesced along time.</summary>
    private static void Stage<T>(ArrayView<T> u, ArrayView<T> delta, ArrayView<T> bias, ArrayView<T> z,
        ArrayView<T> us, ArrayView<T> dts, ArrayView<T> zs, Position w, ScanArgs s, bool gate) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int perGroup = Threads / s.Lanes;
        for (int e = Group.IdxX; e < perGroup * ChunkLength; e += Threads)
        {
            int channel = e / ChunkLength, step = e % ChunkLength, d = w.FirstChannel + channel;
            bool on = d < s.D && step < w.Length;
            long at = ((long)w.Batch * s.D + d) * s.L + w.T0 + step;
            us[e] = on ? u[at] : T.Zero;
            dts[e] = on ? Softplus(delta[at] + (s.HasBias != 0 ? bias[d] : T.Zero)) : T.Zero;
            if (gate) zs[e] = on ? z[at] : T.Zero;
        }
    }

    /// <summary>
    /// PyTorch's softplus with threshold 20, as the CPU tiers evaluate it: x above 20, else
    /// max(x, 0) + log1p(exp(-|x|)) with log1p(e) = log(w) e / (w - 1), w = 1 + e (Goldberg).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static T Softplus<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T twenty = (T.One + T.One) * (T.One + T.One) * (T.One + T.One + T.One + T.One + T.One);
        if (x > twenty) return x;
        T e = T.Exp(-T.Abs(x)), w = T.One + e, wm1 = w - T.One;
        T log1p = wm1 == T.Zero ? e : T.Log(w) * e / wm1;
        return T.Max(x, T.Zero) + log1p;
    }
}
