using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace Reference.Cuda.Kernels;

internal static partial class SelectiveScanWarpKernel
{
    /// <summary>Channels per block of <see cref="ScanSplit{TStates}"/>: two warps each, so a block has <see cref="Warps"/> warps.</summary>
    public const int SplitChannels = Warps / 2;

    /// <summary>States per warp of <see cref="ScanSplit{TStates}"/>: a channel's 16 states over its two warps.</summary>
    private const int HalfStates = States / 2;

    private static int SplitBlocksPerGroup(ScanArgs s) => (s.D / s.G + SplitChannels - 1) / SplitChannels;

    public static KernelConfig SplitConfig(ScanArgs s) => new(new Index1D(s.B * s.G * SplitBlocksPerGroup(s)), new Index1D(Threads));

    /// <summary>
    /// Variants 11 and 12: <see cref="ScanPairedFast"/> with a channel's states split over two warps (bench/NOTES.md "scan11").
    /// Variant 10 runs one warp per channel, 2,048 warps for the bench's D 2048, i.e. 15.5 warps per multiprocessor on the
    /// H200 whatever the register count; ncu measured 8.2 cycles between a warp's instructions (short scoreboard: MUFU,
    /// shared memory, shuffles), so the multiprocessor issued 1.86 instructions per clock of its 4. Here warp 2 k + h of a
    /// block takes states 8 h .. 8 h + 7 of the block's channel k (4 channels a block): twice the warps for the same work,
    /// each holding one state at a time (e_t, v_t: 16 registers) instead of a pair (32), and no register prefetch of the
    /// next window (48 registers in variant 10: the other resident groups hide the loads' latency instead), so the kernel
    /// is compiled for four resident groups (variant 11: 64 registers, 32 warps per multiprocessor) or three (variant 12:
    /// 85 registers, 24 warps, in case ptxas spills at 64). Per window: the block stages b and c as variant 10 (same
    /// layout and 16-byte loads); warp h computes softplus for steps 4 h .. 4 h + 3 of its lanes and hands them to its
    /// partner through shared memory (one softplus per step and channel, as in variant 10); after the barrier both read
    /// the lane's 8 Delta_t, run the lane fold, the lane scan and the rerun of variant 10 for their 8 states into a
    /// partial y_t, and each hands the partner the partial of the partner's 4 steps. After the next window's first barrier
    /// warp h adds its partner's partial to its own for steps 4 h .. 4 h + 3 and stores them (the gate as y z / (1 + 2^(-z
    /// log2 e)) with <see cref="FastMath.Exp2"/> and <see cref="FastMath.Reciprocal"/>), so the exchange costs no extra
    /// barrier. Accumulation order of y_t: d u_t and states 0..7 ascending in warp 0 (d u_t in the warp that stores the
    /// step), states 8..15 ascending in warp 1, then the two partials added. When <paramref name="aligned"/> is 1 (u,
    /// delta, b, c, the output and, if gated, z 16-byte aligned; L a multiple of 4) whole windows are read and written in
    /// 16-byte groups.
    /// </summary>
    public static void ScanSplit<TStates>(ArrayView<float> u, ArrayView<float> delta, ArrayView<float> aLog, ArrayView<float> b,
        ArrayView<float> c, ArrayView<float> skip, ArrayView<float> z, ArrayView<float> bias, ArrayView<float> output, ScanArgs s, int aligned)
        where TStates : struct, ISplitStates
    {
        var bs = SharedMemory.Allocate<Row4<float>>(States * VectorStateStride);
        var cs = SharedMemory.Allocate<Row4<float>>(States * VectorStateStride);
        // Per channel of the block and lane, two 4-step groups: the Delta_t each warp computes for its partner, and the
        // partial y_t each warp hands its partner.
        var dts = SharedMemory.Allocate<Row4<float>>(SplitChannels * 64);
        var ys = SharedMemory.Allocate<Row4<float>>(SplitChannels * 64);
        int perGroup = s.D / s.G, blocks = SplitBlocksPerGroup(s);
        int id = Grid.IdxX, sub = id % blocks, bg = id / blocks, g = bg % s.G, batch = bg / s.G;
        int tid = Group.IdxX, warp = tid / 32, lane = tid % 32, half = warp & 1, local = sub * SplitChannels + (warp >> 1);
        bool live = local < perGroup;
        int d = g * perGroup + (live ? local : 0);
        long row = ((long)batch * s.D + d) * s.L, vectors = ((long)batch * s.G + g) * s.N * s.L;
        float dd = s.HasSkip != 0 ? skip[d] : 0f, db = s.HasBias != 0 ? bias[d] : 0f;
        // This warp's states n0 .. n0 + count - 1; lane j < count holds A_{n0 + j} log2 e and the window's start state n0 + j.
        int n0 = half * HalfStates, count = Math.Max(0, Math.Min(s.N - n0, HalfStates));
        float a2Lane = lane < count ? -MathF.Exp(aLog[(long)d * s.N + n0 + lane]) * Log2E : 0f, carry = 0f;
        // d u_t enters y_t in the warp that stores step t: warp 0 steps 0..3 of a lane, warp 1 steps 4..7.
        float ddLo = half == 0 ? dd : 0f, ddHi = half == 0 ? 0f : dd;
        int swap = (lane >> 2) & 1, first = 2 * lane + swap, second = 2 * lane + (swap ^ 1);
        int group = tid & 63, sn0 = tid >> 6, stageAt = sn0 * VectorStateStride + 2 * (group >> 1) + ((group & 1) ^ ((group >> 3) & 1));
        // The lane's two groups in dts and ys; group `half` holds the steps this warp stores.
        int pairAt = (warp >> 1) * 64 + 2 * lane;
        // The lane's two groups of state n0 in the staged b and c (64-bit, so the states' constant offsets fold into the
        // shared loads' addresses).
        long bFirst = n0 * VectorStateStride + first, bSecond = n0 * VectorStateStride + second;
        bool vector = aligned != 0 && s.N == States;
        int l4 = s.L / 4;
        var u4 = u.Cast<Row4<float>>();
        var d4 = delta.Cast<Row4<float>>();
        var b4 = b.Cast<Row4<float>>();
        var c4 = c.Cast<Row4<float>>();
        bool first0 = lane == 0, take1 = lane >= 1, take2 = lane >= 2, take4 = lane >= 4, take8 = lane >= 8, take16 = lane >= 16;
        var kept = default(Row4<float>);
        for (int t0 = 0; t0 < s.L; t0 += Window)
        {
            Group.Barrier();
            // The previous window's steps of this warp: its partner's partial is in ys since the barrier.
            if (t0 > 0 && live) FinishSplit(output, z, Add(kept, ys[pairAt + half]), row, t0 - Window + lane * PerLane + 4 * half, vector, s);
            int ts = t0 + lane * PerLane, own = ts + 4 * half;
            Tile4<float> bw, cw;
            Row8<float> ut;
            Row4<float> raw;
            if (vector && t0 + Window <= s.L)
            {
                long at = (vectors + t0) / 4 + (long)sn0 * l4 + group, mine = (row + t0) / 4 + 2 * lane;
                bw = StageGroups(b4.AsAligned(16), at, l4); cw = StageGroups(c4.AsAligned(16), at, l4);
                ut = LoadGroups(u4.AsAligned(16), mine);
                raw = d4.AsAligned(16)[mine + half];
            }
            else
            {
                bw = StageGroupsChecked(b, vectors, t0, sn0, group, s); cw = StageGroupsChecked(c, vectors, t0, sn0, group, s);
                ut = Load(u, row, ts, live, s);
                raw = new Row4<float>(At(delta, row, own, live, s), At(delta, row, own + 1, live, s), At(delta, row, own + 2, live, s),
                    At(delta, row, own + 3, live, s));
            }
            PutGroups(bs, bw, stageAt); PutGroups(cs, cw, stageAt);
            dts[pairAt + half] = new Row4<float>(FastDelta(raw.X0, db, own, s), FastDelta(raw.X1, db, own + 1, s),
                FastDelta(raw.X2, db, own + 2, s), FastDelta(raw.X3, db, own + 3, s));
            Group.Barrier();
            Row4<float> lo = dts[pairAt], hi = dts[pairAt + 1];
            var dt = new Row8<float>(lo.X0, lo.X1, lo.X2, lo.X3, hi.X0, hi.X1, hi.X2, hi.X3);
            var du = new Row8<float>(dt.X0 * ut.X0, dt.X1 * ut.X1, dt.X2 * ut.X2, dt.X3 * ut.X3, dt.X4 * ut.X4, dt.X5 * ut.X5, dt.X6 * ut.X6, dt.X7 * ut.X7);
            float sum = dt.X0 + dt.X1 + (dt.X2 + dt.X3) + (dt.X4 + dt.X5 + (dt.X6 + dt.X7));
            var y = new Row8<float>(ut.X0 * ddLo, ut.X1 * ddLo, ut.X2 * ddLo, ut.X3 * ddLo, ut.X4 * ddHi, ut.X5 * ddHi, ut.X6 * ddHi, ut.X7 * ddHi);
            if (default(TStates).WrittenOut && count > 0)
            {
                // The 8 states written out (ILGPU does not unroll the loop): the state's lane, the shuffles' source lanes and
                // the shared offsets become constants, and ptxas may overlap one state's exponentials with the previous
                // state's lane scan. States past N (count < 8) hold A = 0, b = c = 0 and start 0, so they add exactly 0.
                var w = new SplitWindow(y, carry);
                w = SplitState(w, 0, dt, du, sum, a2Lane, lane, bs, cs, bFirst, bSecond, first0, take1, take2, take4, take8, take16);
                w = SplitState(w, 1, dt, du, sum, a2Lane, lane, bs, cs, bFirst, bSecond, first0, take1, take2, take4, take8, take16);
                w = SplitState(w, 2, dt, du, sum, a2Lane, lane, bs, cs, bFirst, bSecond, first0, take1, take2, take4, take8, take16);
                w = SplitState(w, 3, dt, du, sum, a2Lane, lane, bs, cs, bFirst, bSecond, first0, take1, take2, take4, take8, take16);
                w = SplitState(w, 4, dt, du, sum, a2Lane, lane, bs, cs, bFirst, bSecond, first0, take1, take2, take4, take8, take16);
                w = SplitState(w, 5, dt, du, sum, a2Lane, lane, bs, cs, bFirst, bSecond, first0, take1, take2, take4, take8, take16);
                w = SplitState(w, 6, dt, du, sum, a2Lane, lane, bs, cs, bFirst, bSecond, first0, take1, take2, take4, take8, take16);
                w = SplitState(w, 7, dt, du, sum, a2Lane, lane, bs, cs, bFirst, bSecond, first0, take1, take2, take4, take8, take16);
                y = w.Y;
                carry = w.Carry;
            }
            else if (!default(TStates).WrittenOut)
            {
                for (int j = 0; j < count; j++)
                {
                    var w = SplitState(new SplitWindow(y, carry), j, dt, du, sum, a2Lane, lane, bs, cs, bFirst, bSecond, first0, take1, take2,
                        take4, take8, take16);
                    y = w.Y;
                    carry = w.Carry;
                }
            }
            var yLo = new Row4<float>(y.X0, y.X1, y.X2, y.X3);
            var yHi = new Row4<float>(y.X4, y.X5, y.X6, y.X7);
            if (half == 0)
            {
                kept = yLo;
                ys[pairAt + 1] = yHi;
            }
            else
            {
                kept = yHi;
                ys[pairAt] = yLo;
            }
        }
        Group.Barrier();
        if (s.L > 0 && live)
        {
            int last = (s.L - 1) / Window * Window;
            FinishSplit(output, z, Add(kept, ys[pairAt + half]), row, last + lane * PerLane + 4 * half, vector && last + Window <= s.L, s);
        }
    }

    /// <summary>How <see cref="ScanSplit{TStates}"/> walks a warp's 8 states (a constant after inlining: one kernel each).</summary>
    public interface ISplitStates
    {
        /// <summary>The 8 states written out (true) or a loop over the warp's states (false).</summary>
        bool WrittenOut { get; }
    }

    /// <summary>Variants 11 and 12: the 8 states written out, with constant lanes and shared offsets.</summary>
    public readonly struct StatesWrittenOut : ISplitStates
    {
        public bool WrittenOut => true;
    }

    /// <summary>Variant 13: a loop over the warp's states, as variant 10 loops over its pairs (the control for the unrolling).</summary>
    public readonly struct StatesLooped : ISplitStates
    {
        public bool WrittenOut => false;
    }

    /// <summary>A warp's partial y_t of its lane's 8 steps and the start state its lane j holds, between two states.</summary>
    private readonly struct SplitWindow(Row8<float> y, float carry)
    {
        public readonly Row8<float> Y = y;
        public readonly float Carry = carry;
    }

    /// <summary>
    /// State n0 + j of the window (variant 10's arithmetic for one state): the decays, the inputs, the lane fold and its
    /// total decay, the lane scan, the rerun into y_t from the lane's start state, and lane j's carry into the next window.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static SplitWindow SplitState(SplitWindow w, int j, Row8<float> dt, Row8<float> du, float sum, float a2Lane, int lane,
        ArrayView<Row4<float>> bs, ArrayView<Row4<float>> cs, long bFirst, long bSecond, bool first0, bool take1, bool take2,
        bool take4, bool take8, bool take16)
    {
        float a = Warp.Shuffle(a2Lane, j), start = Warp.Shuffle(w.Carry, j);
        var ex = Exps2(dt, a);
        long at = (long)j * VectorStateStride;
        var v = Inputs(du, bs[bFirst + at], bs[bSecond + at]);
        var scan = new LanePair(FastMath.Exp2(sum * a), Fold(ex, v));
        scan = ScanLevelOne(scan, 1, take1); scan = ScanLevelOne(scan, 2, take2); scan = ScanLevelOne(scan, 4, take4);
        scan = ScanLevelOne(scan, 8, take8); scan = ScanLevelOne(scan, 16, take16);
        // Lane i's end state from the window's start; lane i + 1 starts from it, lane 31's is the carry.
        float end = scan.P * start + scan.H;
        float x = Warp.ShuffleUp(end, 1);
        x = first0 ? start : x;
        var y = Rerun(w.Y, ex, v, cs[bFirst + at], cs[bSecond + at], x);
        float next = Warp.Shuffle(end, 31);
        return new SplitWindow(y, lane == j ? next : w.Carry);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row4<float> Add(Row4<float> x, Row4<float> y) => new(x.X0 + y.X0, x.X1 + y.X1, x.X2 + y.X2, x.X3 + y.X3);

    /// <summary>
    /// out_t = y_t silu(z_t) (or y_t without the gate) for the 4 steps from <paramref name="t"/>: one 16-byte store (and
    /// load of z) when <paramref name="whole"/> (aligned, all 4 before L), else element by element before L.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FinishSplit(ArrayView<float> output, ArrayView<float> z, Row4<float> y, long row, int t, bool whole, ScanArgs s)
    {
        if (whole)
        {
            long at = (row + t) / 4;
            if (s.HasGate != 0)
            {
                var zt = z.Cast<Row4<float>>().AsAligned(16)[at];
                y = new Row4<float>(y.X0 * FastSilu(zt.X0), y.X1 * FastSilu(zt.X1), y.X2 * FastSilu(zt.X2), y.X3 * FastSilu(zt.X3));
            }
            output.Cast<Row4<float>>().AsAligned(16)[at] = y;
            return;
        }
        FinishOne(output, z, y.X0, row, t, s); FinishOne(output, z, y.X1, row, t + 1, s);
        FinishOne(output, z, y.X2, row, t + 2, s); FinishOne(output, z, y.X3, row, t + 3, s);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FinishOne(ArrayView<float> output, ArrayView<float> z, float y, long row, int t, ScanArgs s)
    {
        if (t >= s.L) return;
        output[row + t] = s.HasGate != 0 ? y * FastSilu(z[row + t]) : y;
    }

    /// <summary>silu(z) = z / (1 + e^-z) with one <c>ex2.approx.ftz</c> and one <c>rcp.approx.ftz</c> (e^-z past the float range gives 1 / inf = 0, silu's limit).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float FastSilu(float z) => z * FastMath.Reciprocal(1f + FastMath.Exp2(-z * Log2E));

    /// <summary>One state's pair (P, h) of a lane during the lane scan.</summary>
    private readonly struct LanePair(float p, float h)
    {
        public readonly float P = p, H = h;
    }

    /// <summary>Variant 10's lane scan level (a predicated FMUL and FFMA) for one state.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static LanePair ScanLevelOne(LanePair x, int o, bool take)
    {
        float po = Warp.ShuffleUp(x.P, o), ho = Warp.ShuffleUp(x.H, o);
        // h first, so the old P dies at the multiply and ptxas can write both in place.
        float h = FastMath.FmaIf(take, x.P, ho, x.H);
        return new LanePair(FastMath.MulIf(take, x.P, po), h);
    }
}
