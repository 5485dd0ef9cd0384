using System.Numerics;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace Reference.Cuda.Kernels;

/// <summary>
/// The selective scan in one pass, float32, N &lt;= 16: one warp per channel, its 32 lanes holding 8
/// consecutive steps each, so a warp covers a window of 256 steps and walks the sequence window by
/// window with the state carried in registers. Per channel d and state n the recurrence
/// x_t = e_t x_{t-1} + v_t, e_t = exp(Delta_t A_n), v_t = Delta_t u_t b_t[n], is an associative scan
/// on pairs: (P, h) then (P', h') composes to (P P', P' h + h'), so exp(Delta A) is evaluated once per
/// (channel, step, state) and the carry needs products only:
/// <list type="number">
/// <item>each lane folds its 8 steps into (P, h) = (prod e_t, the state its 8 steps reach from 0);</item>
/// <item>an inclusive Kogge-Stone scan of the pairs over the warp's lanes (shuffles up by 1, 2, ..., 16)
/// gives each lane the state its steps start from, given the window's start state;</item>
/// <item>the lane reruns its 8 steps from that start (e_t and v_t kept in registers), adding
/// c_t[n] x_t into its 8 outputs; lane 31's pair carries the state into the next window.</item>
/// </list>
/// The window's start states live one per lane (lane n holds state n, read by a shuffle), and so do
/// the A_n. A block of 8 warps takes 8 channels of one group: per window it stages the group's b and c
/// [B, G, N, L] rows (coalesced) into shared memory as [n, lane, 8 steps] with a pitch of 9, so the
/// 32 lanes reading their step k hit 32 distinct banks; u, softplus(delta + bias) and z are read per
/// lane as 8 consecutive values. Accumulation order of y_t: d u_t, then c_t[n] x_t for n ascending.
/// </summary>
internal static partial class SelectiveScanWarpKernel
{
    public const int Warps = 8;

    public const int Threads = Warps * 32;

    /// <summary>Steps per lane.</summary>
    public const int PerLane = 8;

    /// <summary>Steps per warp window (32 lanes of <see cref="PerLane"/>).</summary>
    public const int Window = 32 * PerLane;

    public const int States = 16;

    private const int Pitch = PerLane + 1;

    private const int StateStride = 32 * Pitch;

    /// <summary>Whether this kernel takes the scan: float32 and N &lt;= 16 (the staged b and c then fit 37 KiB).</summary>
    public static bool Applies<T>(ScanArgs s) => typeof(T) == typeof(float) && s.N <= States;

    private static int BlocksPerGroup(ScanArgs s) => (s.D / s.G + Warps - 1) / Warps;

    public static KernelConfig Config(ScanArgs s) => new(new Index1D(s.B * s.G * BlocksPerGroup(s)), new Index1D(Threads));

    public static void Scan<T>(ArrayView<T> u, ArrayView<T> delta, ArrayView<T> aLog, ArrayView<T> b, ArrayView<T> c,
        ArrayView<T> skip, ArrayView<T> z, ArrayView<T> bias, ArrayView<T> output, ScanArgs s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var bs = SharedMemory.Allocate<T>(States * StateStride);
        var cs = SharedMemory.Allocate<T>(States * StateStride);
        int perGroup = s.D / s.G, blocks = BlocksPerGroup(s);
        int id = Grid.IdxX, sub = id % blocks, bg = id / blocks, g = bg % s.G, batch = bg / s.G;
        int warp = Group.IdxX / 32, lane = Group.IdxX % 32, local = sub * Warps + warp;
        bool live = local < perGroup;
        int d = g * perGroup + (live ? local : 0);
        long row = ((long)batch * s.D + d) * s.L, vectors = ((long)batch * s.G + g) * s.N * s.L;
        T dd = s.HasSkip != 0 ? skip[d] : T.Zero, db = s.HasBias != 0 ? bias[d] : T.Zero;
        // Lane n holds A_n and the window's start state n.
        T aLane = lane < s.N ? -T.Exp(aLog[(long)d * s.N + lane]) : T.Zero, carry = T.Zero;
        int mine = lane * Pitch;
        for (int t0 = 0; t0 < s.L; t0 += Window)
        {
            Group.Barrier();
            for (int e = Group.IdxX; e < s.N * Window; e += Threads)
            {
                int n = e / Window, step = e % Window, at = n * StateStride + step / PerLane * Pitch + step % PerLane;
                bool on = t0 + step < s.L;
                long from = vectors + (long)n * s.L + t0 + (on ? step : 0);
                bs[at] = on ? b[from] : T.Zero;
                cs[at] = on ? c[from] : T.Zero;
            }
            int ts = t0 + lane * PerLane;
            var ut = Load(u, row, ts, live, s);
            var dt = Deltas(Load(delta, row, ts, live, s), db, ts, s);
            var du = new Row8<T>(dt.X0 * ut.X0, dt.X1 * ut.X1, dt.X2 * ut.X2, dt.X3 * ut.X3, dt.X4 * ut.X4, dt.X5 * ut.X5, dt.X6 * ut.X6, dt.X7 * ut.X7);
            var y = Row8<T>.Fma(default, ut, dd);
            Group.Barrier();
            for (int n = 0; n < s.N; n++)
            {
                T a = Warp.Shuffle(aLane, n), start = Warp.Shuffle(carry, n);
                var ex = new Row8<T>(T.Exp(dt.X0 * a), T.Exp(dt.X1 * a), T.Exp(dt.X2 * a), T.Exp(dt.X3 * a),
                    T.Exp(dt.X4 * a), T.Exp(dt.X5 * a), T.Exp(dt.X6 * a), T.Exp(dt.X7 * a));
                int at = n * StateStride + mine;
                var v = new Row8<T>(du.X0 * bs[at], du.X1 * bs[at + 1], du.X2 * bs[at + 2], du.X3 * bs[at + 3],
                    du.X4 * bs[at + 4], du.X5 * bs[at + 5], du.X6 * bs[at + 6], du.X7 * bs[at + 7]);
                // The lane's 8 steps from zero, and their total decay.
                T h = v.X0;
                h = ex.X1 * h + v.X1; h = ex.X2 * h + v.X2; h = ex.X3 * h + v.X3; h = ex.X4 * h + v.X4;
                h = ex.X5 * h + v.X5; h = ex.X6 * h + v.X6; h = ex.X7 * h + v.X7;
                T p = ex.X0 * ex.X1 * (ex.X2 * ex.X3) * (ex.X4 * ex.X5 * (ex.X6 * ex.X7));
                // Inclusive scan over the lanes: lane i ends with the composition of lanes 0..i.
                for (int o = 1; o < 32; o <<= 1)
                {
                    T po = Warp.ShuffleUp(p, o), ho = Warp.ShuffleUp(h, o);
                    if (lane >= o)
                    {
                        h = p * ho + h;
                        p *= po;
                    }
                }
                T pe = Warp.ShuffleUp(p, 1), he = Warp.ShuffleUp(h, 1);
                T x = lane == 0 ? start : pe * start + he;
                x = ex.X0 * x + v.X0; y.X0 += cs[at] * x;
                x = ex.X1 * x + v.X1; y.X1 += cs[at + 1] * x;
                x = ex.X2 * x + v.X2; y.X2 += cs[at + 2] * x;
                x = ex.X3 * x + v.X3; y.X3 += cs[at + 3] * x;
                x = ex.X4 * x + v.X4; y.X4 += cs[at + 4] * x;
                x = ex.X5 * x + v.X5; y.X5 += cs[at + 5] * x;
                x = ex.X6 * x + v.X6; y.X6 += cs[at + 6] * x;
                x = ex.X7 * x + v.X7; y.X7 += cs[at + 7] * x;
                T pt = Warp.Shuffle(p, 31), ht = Warp.Shuffle(h, 31);
                if (lane == n) carry = pt * start + ht;
            }
            if (live)
            {
                Store(output, z, row, ts, 0, y.X0, s); Store(output, z, row, ts, 1, y.X1, s);
                Store(output, z, row, ts, 2, y.X2, s); Store(output, z, row, ts, 3, y.X3, s);
                Store(output, z, row, ts, 4, y.X4, s); Store(output, z, row, ts, 5, y.X5, s);
                Store(output, z, row, ts, 6, y.X6, s); Store(output, z, row, ts, 7, y.X7, s);
            }
        }
    }

    /// <summary>
    /// <see cref="Scan{T}"/> with two changes aimed at its latency bound (ncu, run 12: 3.9 warps per
    /// scheduler, 0.80 eligible, a third of the stall cycles on L1TEX): the states go in pairs (n, n + 1)
    /// through one loop body, so the two recurrences, lane scans and reruns are independent instruction
    /// streams ptxas can interleave; and (when <paramref name="prefetch"/> is 1) the next window's b and c
    /// staging values (thread i stages step i of every state, 32 registers), u and delta are loaded into
    /// registers before the current window's state loop, so their latency hides behind it. The staging
    /// is zero for states n &gt;= N, and lane n &gt;= N holds A = 0 and state 0, so an odd N's partner state
    /// contributes exactly 0. Same arithmetic per (step, state) and the same accumulation order of y_t as
    /// <see cref="Scan{T}"/>.
    /// </summary>
    public static void ScanPaired<T>(ArrayView<T> u, ArrayView<T> delta, ArrayView<T> aLog, ArrayView<T> b, ArrayView<T> c,
        ArrayView<T> skip, ArrayView<T> z, ArrayView<T> bias, ArrayView<T> output, ScanArgs s, int prefetch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var bs = SharedMemory.Allocate<T>(States * StateStride);
        var cs = SharedMemory.Allocate<T>(States * StateStride);
        int perGroup = s.D / s.G, blocks = BlocksPerGroup(s);
        int id = Grid.IdxX, sub = id % blocks, bg = id / blocks, g = bg % s.G, batch = bg / s.G;
        int tid = Group.IdxX, warp = tid / 32, lane = tid % 32, local = sub * Warps + warp;
        bool live = local < perGroup;
        int d = g * perGroup + (live ? local : 0);
        long row = ((long)batch * s.D + d) * s.L, vectors = ((long)batch * s.G + g) * s.N * s.L;
        T dd = s.HasSkip != 0 ? skip[d] : T.Zero, db = s.HasBias != 0 ? bias[d] : T.Zero;
        T aLane = lane < s.N ? -T.Exp(aLog[(long)d * s.N + lane]) : T.Zero, carry = T.Zero;
        int mine = lane * Pitch, stageAt = (tid >> 3) * Pitch + (tid & 7);
        var b0 = Stage(b, vectors, tid, 0, s); var b1 = Stage(b, vectors, tid, 8, s);
        var c0 = Stage(c, vectors, tid, 0, s); var c1 = Stage(c, vectors, tid, 8, s);
        var nu = Load(u, row, lane * PerLane, live, s);
        var nd = Load(delta, row, lane * PerLane, live, s);
        for (int t0 = 0; t0 < s.L; t0 += Window)
        {
            Group.Barrier();
            if (prefetch == 0 && t0 > 0)
            {
                b0 = Stage(b, vectors, t0 + tid, 0, s); b1 = Stage(b, vectors, t0 + tid, 8, s);
                c0 = Stage(c, vectors, t0 + tid, 0, s); c1 = Stage(c, vectors, t0 + tid, 8, s);
                nu = Load(u, row, t0 + lane * PerLane, live, s);
                nd = Load(delta, row, t0 + lane * PerLane, live, s);
            }
            Put(bs, b0, stageAt, 0); Put(bs, b1, stageAt, 8);
            Put(cs, c0, stageAt, 0); Put(cs, c1, stageAt, 8);
            int ts = t0 + lane * PerLane, t1 = t0 + Window;
            var ut = nu;
            var dt = Deltas(nd, db, ts, s);
            if (prefetch != 0 && t1 < s.L)
            {
                b0 = Stage(b, vectors, t1 + tid, 0, s); b1 = Stage(b, vectors, t1 + tid, 8, s);
                c0 = Stage(c, vectors, t1 + tid, 0, s); c1 = Stage(c, vectors, t1 + tid, 8, s);
                nu = Load(u, row, t1 + lane * PerLane, live, s);
                nd = Load(delta, row, t1 + lane * PerLane, live, s);
            }
            var du = new Row8<T>(dt.X0 * ut.X0, dt.X1 * ut.X1, dt.X2 * ut.X2, dt.X3 * ut.X3, dt.X4 * ut.X4, dt.X5 * ut.X5, dt.X6 * ut.X6, dt.X7 * ut.X7);
            var y = Row8<T>.Fma(default, ut, dd);
            Group.Barrier();
            for (int n = 0; n < s.N; n += 2)
            {
                int m = n + 1;
                T aN = Warp.Shuffle(aLane, n), aM = Warp.Shuffle(aLane, m);
                T sN = Warp.Shuffle(carry, n), sM = Warp.Shuffle(carry, m);
                var exN = Exps(dt, aN);
                var exM = Exps(dt, aM);
                int atN = n * StateStride + mine, atM = atN + StateStride;
                var vN = Inputs(du, bs, atN);
                var vM = Inputs(du, bs, atM);
                T hN = Fold(exN, vN), hM = Fold(exM, vM);
                T pN = Product(exN), pM = Product(exM);
                // Inclusive scans over the lanes, the two states side by side (a lane below the offset composes with the identity (1, 0)).
                for (int o = 1; o < 32; o <<= 1)
                {
                    T poN = Warp.ShuffleUp(pN, o), hoN = Warp.ShuffleUp(hN, o);
                    T poM = Warp.ShuffleUp(pM, o), hoM = Warp.ShuffleUp(hM, o);
                    bool take = lane >= o;
                    poN = take ? poN : T.One; hoN = take ? hoN : T.Zero;
                    poM = take ? poM : T.One; hoM = take ? hoM : T.Zero;
                    hN = pN * hoN + hN; pN *= poN;
                    hM = pM * hoM + hM; pM *= poM;
                }
                T peN = Warp.ShuffleUp(pN, 1), heN = Warp.ShuffleUp(hN, 1);
                T peM = Warp.ShuffleUp(pM, 1), heM = Warp.ShuffleUp(hM, 1);
                T xN = lane == 0 ? sN : peN * sN + heN;
                T xM = lane == 0 ? sM : peM * sM + heM;
                y = Rerun(y, exN, vN, cs, atN, xN);
                y = Rerun(y, exM, vM, cs, atM, xM);
                T ptN = Warp.Shuffle(pN, 31), htN = Warp.Shuffle(hN, 31);
                T ptM = Warp.Shuffle(pM, 31), htM = Warp.Shuffle(hM, 31);
                if (lane == n) carry = ptN * sN + htN;
                if (lane == m) carry = ptM * sM + htM;
            }
            if (live)
            {
                Store(output, z, row, ts, 0, y.X0, s); Store(output, z, row, ts, 1, y.X1, s);
                Store(output, z, row, ts, 2, y.X2, s); Store(output, z, row, ts, 3, y.X3, s);
                Store(output, z, row, ts, 4, y.X4, s); Store(output, z, row, ts, 5, y.X5, s);
                Store(output, z, row, ts, 6, y.X6, s); Store(output, z, row, ts, 7, y.X7, s);
            }
        }
    }

    /// <summary>16-byte groups of one state's staged window in <see cref="ScanPairedVector{T}"/>: 32 lanes x 2.</summary>
    private const int VectorStateStride = 32 * 2;

    /// <summary>
    /// <see cref="ScanPaired{T}"/> (prefetching) with b and c staged for 16-byte reads: per state the
    /// window is [lane, 8 steps] without padding, so a lane reads its 8 values of b and of c as two
    /// <see cref="Row4{T}"/> each (<c>ld.shared.v4</c>) instead of 8 scalars, and one base address
    /// serves all of them (ncu, run 16: 134.6 M warp instructions, about 257 per (warp, window,
    /// state), of which 90 are floating-point; the scalar reads and their 32-to-64-bit index arithmetic
    /// are a large part of the rest). Lane l's two groups are stored swapped when l / 4 is odd, so the
    /// 8 lanes of a 16-byte access phase (stride 32 bytes) fall on 8 distinct bank quads; the staging
    /// stores of a warp (32 consecutive steps) still fill 32 consecutive words. Same arithmetic and
    /// accumulation order as <see cref="ScanPaired{T}"/>.
    /// </summary>
    public static void ScanPairedVector<T>(ArrayView<T> u, ArrayView<T> delta, ArrayView<T> aLog, ArrayView<T> b, ArrayView<T> c,
        ArrayView<T> skip, ArrayView<T> z, ArrayView<T> bias, ArrayView<T> output, ScanArgs s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var bs = SharedMemory.Allocate<Row4<T>>(States * VectorStateStride);
        var cs = SharedMemory.Allocate<Row4<T>>(States * VectorStateStride);
        var bScalar = bs.Cast<T>();
        var cScalar = cs.Cast<T>();
        int perGroup = s.D / s.G, blocks = BlocksPerGroup(s);
        int id = Grid.IdxX, sub = id % blocks, bg = id / blocks, g = bg % s.G, batch = bg / s.G;
        int tid = Group.IdxX, warp = tid / 32, lane = tid % 32, local = sub * Warps + warp;
        bool live = local < perGroup;
        int d = g * perGroup + (live ? local : 0);
        long row = ((long)batch * s.D + d) * s.L, vectors = ((long)batch * s.G + g) * s.N * s.L;
        T dd = s.HasSkip != 0 ? skip[d] : T.Zero, db = s.HasBias != 0 ? bias[d] : T.Zero;
        T aLane = lane < s.N ? -T.Exp(aLog[(long)d * s.N + lane]) : T.Zero, carry = T.Zero;
        int swap = (lane >> 2) & 1, first = 2 * lane + swap, second = 2 * lane + (swap ^ 1);
        int stageLane = tid >> 3, stageStep = tid & 7;
        int stageAt = 4 * (2 * stageLane + ((stageStep >> 2) ^ ((stageLane >> 2) & 1))) + (stageStep & 3);
        var b0 = Stage(b, vectors, tid, 0, s); var b1 = Stage(b, vectors, tid, 8, s);
        var c0 = Stage(c, vectors, tid, 0, s); var c1 = Stage(c, vectors, tid, 8, s);
        var nu = Load(u, row, lane * PerLane, live, s);
        var nd = Load(delta, row, lane * PerLane, live, s);
        bool take1 = lane >= 1, take2 = lane >= 2, take4 = lane >= 4, take8 = lane >= 8, take16 = lane >= 16;
        for (int t0 = 0; t0 < s.L; t0 += Window)
        {
            Group.Barrier();
            PutVector(bScalar, b0, stageAt, 0); PutVector(bScalar, b1, stageAt, 8);
            PutVector(cScalar, c0, stageAt, 0); PutVector(cScalar, c1, stageAt, 8);
            int ts = t0 + lane * PerLane, t1 = t0 + Window;
            var ut = nu;
            var dt = Deltas(nd, db, ts, s);
            if (t1 + Window <= s.L && s.N == States)
            {
                // The whole next window is in range and all 16 states exist: no per-element checks
                // (a warp without a channel reads channel g * perGroup's row and stores nothing).
                long at = vectors + t1 + tid;
                b0 = StageWhole(b, at, 0, s.L); b1 = StageWhole(b, at, 8, s.L);
                c0 = StageWhole(c, at, 0, s.L); c1 = StageWhole(c, at, 8, s.L);
                nu = LoadWhole(u, row + t1 + lane * PerLane);
                nd = LoadWhole(delta, row + t1 + lane * PerLane);
            }
            else if (t1 < s.L)
            {
                b0 = Stage(b, vectors, t1 + tid, 0, s); b1 = Stage(b, vectors, t1 + tid, 8, s);
                c0 = Stage(c, vectors, t1 + tid, 0, s); c1 = Stage(c, vectors, t1 + tid, 8, s);
                nu = Load(u, row, t1 + lane * PerLane, live, s);
                nd = Load(delta, row, t1 + lane * PerLane, live, s);
            }
            var du = new Row8<T>(dt.X0 * ut.X0, dt.X1 * ut.X1, dt.X2 * ut.X2, dt.X3 * ut.X3, dt.X4 * ut.X4, dt.X5 * ut.X5, dt.X6 * ut.X6, dt.X7 * ut.X7);
            var y = Row8<T>.Fma(default, ut, dd);
            Group.Barrier();
            for (int n = 0; n < s.N; n += 2)
            {
                int m = n + 1;
                T aN = Warp.Shuffle(aLane, n), aM = Warp.Shuffle(aLane, m);
                T sN = Warp.Shuffle(carry, n), sM = Warp.Shuffle(carry, m);
                var exN = Exps(dt, aN);
                var exM = Exps(dt, aM);
                int atN = n * VectorStateStride, atM = atN + VectorStateStride;
                var vN = Inputs(du, bs[atN + first], bs[atN + second]);
                var vM = Inputs(du, bs[atM + first], bs[atM + second]);
                T hN = Fold(exN, vN), hM = Fold(exM, vM);
                T pN = Product(exN), pM = Product(exM);
                var scan = new LaneScan<T>(pN, hN, pM, hM);
                scan = ScanLevel(scan, 1, take1); scan = ScanLevel(scan, 2, take2); scan = ScanLevel(scan, 4, take4);
                scan = ScanLevel(scan, 8, take8); scan = ScanLevel(scan, 16, take16);
                pN = scan.PN; hN = scan.HN; pM = scan.PM; hM = scan.HM;
                T peN = Warp.ShuffleUp(pN, 1), heN = Warp.ShuffleUp(hN, 1);
                T peM = Warp.ShuffleUp(pM, 1), heM = Warp.ShuffleUp(hM, 1);
                T xN = lane == 0 ? sN : peN * sN + heN;
                T xM = lane == 0 ? sM : peM * sM + heM;
                y = Rerun(y, exN, vN, cs[atN + first], cs[atN + second], xN);
                y = Rerun(y, exM, vM, cs[atM + first], cs[atM + second], xM);
                T ptN = Warp.Shuffle(pN, 31), htN = Warp.Shuffle(hN, 31);
                T ptM = Warp.Shuffle(pM, 31), htM = Warp.Shuffle(hM, 31);
                if (lane == n) carry = ptN * sN + htN;
                if (lane == m) carry = ptM * sM + htM;
            }
            if (live)
            {
                Store(output, z, row, ts, 0, y.X0, s); Store(output, z, row, ts, 1, y.X1, s);
                Store(output, z, row, ts, 2, y.X2, s); Store(output, z, row, ts, 3, y.X3, s);
                Store(output, z, row, ts, 4, y.X4, s); Store(output, z, row, ts, 5, y.X5, s);
                Store(output, z, row, ts, 6, y.X6, s); Store(output, z, row, ts, 7, y.X7, s);
            }
        }
    }

    private const float Log2E = 1.44269504088896341f;

    /// <summary>
    /// Variant 10: <see cref="ScanPairedVector{T}"/> in float32 with fewer instructions per (state, step) (bench/NOTES.md
    /// "scanfast"; same staging layout, lane scan, rerun and accumulation order of y_t). (a) e_t = 2^(Delta_t (A_n log2 e))
    /// with A_n log2 e formed once per lane and 2^x as one <c>ex2.approx.ftz.f32</c> (<see cref="FastMath.Exp2"/>): MUFU.EX2
    /// and the Delta multiply, where ILGPU's exp adds a multiply by log2 e and ptxas a subnormal fix-up around MUFU.EX2
    /// (ncu of variant 5: 7 instructions per exponential, 112 of the 285 per (warp, window, state pair)). The flushed
    /// subnormals change e_t by less than 1.2e-38; the argument is rounded twice, as in ILGPU's exp. (b) A lane's total
    /// decay P = prod e_t is 2^(a2 sum Delta_t), the sum formed once per window for all states (one multiply and one
    /// exponential per state instead of 7 multiplies). (c) The lane scan's levels as one predicated FMUL and FFMA per state
    /// (<see cref="ScanLevelIf"/>) instead of two selects of the identity and the FMUL and FFMA. (d) A lane's start state
    /// is lane i - 1's end state P s + h, formed once and moved by one shuffle (variant 5 moves P and h and forms it on the
    /// receiving lane), and the carry is lane 31's end state (one shuffle instead of two and a product). (e) When <paramref name="aligned"/> is 1 (the host found
    /// u, delta, b and c 16-byte aligned and L a multiple of 4) whole windows are loaded as 16-byte groups: a thread
    /// stages 4 steps of 4 states of b and of c (4 + 4 loads and shared stores instead of 16 + 16 and their 64-bit index
    /// arithmetic), a lane its 8 values of u and delta in 2 + 2. (f) softplus with <c>ex2</c>, <c>lg2</c> and
    /// <c>rcp.approx.ftz</c> (<see cref="FastSoftplus"/>) instead of a full-precision division.
    /// </summary>
    public static void ScanPairedFast(ArrayView<float> u, ArrayView<float> delta, ArrayView<float> aLog, ArrayView<float> b,
        ArrayView<float> c, ArrayView<float> skip, ArrayView<float> z, ArrayView<float> bias, ArrayView<float> output, ScanArgs s, int aligned)
    {
        var bs = SharedMemory.Allocate<Row4<float>>(States * VectorStateStride);
        var cs = SharedMemory.Allocate<Row4<float>>(States * VectorStateStride);
        int perGroup = s.D / s.G, blocks = BlocksPerGroup(s);
        int id = Grid.IdxX, sub = id % blocks, bg = id / blocks, g = bg % s.G, batch = bg / s.G;
        int tid = Group.IdxX, warp = tid / 32, lane = tid % 32, local = sub * Warps + warp;
        bool live = local < perGroup;
        int d = g * perGroup + (live ? local : 0);
        long row = ((long)batch * s.D + d) * s.L, vectors = ((long)batch * s.G + g) * s.N * s.L;
        float dd = s.HasSkip != 0 ? skip[d] : 0f, db = s.HasBias != 0 ? bias[d] : 0f;
        // Lane n holds A_n log2 e and the window's start state n.
        float a2Lane = lane < s.N ? -MathF.Exp(aLog[(long)d * s.N + lane]) * Log2E : 0f, carry = 0f;
        int swap = (lane >> 2) & 1, first = 2 * lane + swap, second = 2 * lane + (swap ^ 1);
        // The staging thread's 4-step group q of states n0 + 4 j: lane q / 2's group q % 2, stored swapped as above.
        int group = tid & 63, n0 = tid >> 6, stageAt = n0 * VectorStateStride + 2 * (group >> 1) + ((group & 1) ^ ((group >> 3) & 1));
        bool vector = aligned != 0 && s.N == States;
        int l4 = s.L / 4;
        var u4 = u.Cast<Row4<float>>();
        var d4 = delta.Cast<Row4<float>>();
        var b4 = b.Cast<Row4<float>>();
        var c4 = c.Cast<Row4<float>>();
        Tile4<float> bw, cw;
        Row8<float> nu, nd;
        if (vector && Window <= s.L)
        {
            long at = vectors / 4 + (long)n0 * l4 + group;
            bw = StageGroups(b4.AsAligned(16), at, l4); cw = StageGroups(c4.AsAligned(16), at, l4);
            nu = LoadGroups(u4.AsAligned(16), row / 4 + 2 * lane); nd = LoadGroups(d4.AsAligned(16), row / 4 + 2 * lane);
        }
        else
        {
            bw = StageGroupsChecked(b, vectors, 0, n0, group, s); cw = StageGroupsChecked(c, vectors, 0, n0, group, s);
            nu = Load(u, row, lane * PerLane, live, s); nd = Load(delta, row, lane * PerLane, live, s);
        }
        bool first0 = lane == 0, take1 = lane >= 1, take2 = lane >= 2, take4 = lane >= 4, take8 = lane >= 8, take16 = lane >= 16;
        for (int t0 = 0; t0 < s.L; t0 += Window)
        {
            Group.Barrier();
            PutGroups(bs, bw, stageAt); PutGroups(cs, cw, stageAt);
            int ts = t0 + lane * PerLane, t1 = t0 + Window;
            var ut = nu;
            var dt = FastDeltas(nd, db, ts, s);
            if (vector && t1 + Window <= s.L)
            {
                // The whole next window is in range: 16-byte loads without checks (a warp without a channel reads
                // channel g * perGroup's row and stores nothing).
                long at = (vectors + t1) / 4 + (long)n0 * l4 + group, mine = (row + t1) / 4 + 2 * lane;
                bw = StageGroups(b4.AsAligned(16), at, l4); cw = StageGroups(c4.AsAligned(16), at, l4);
                nu = LoadGroups(u4.AsAligned(16), mine); nd = LoadGroups(d4.AsAligned(16), mine);
            }
            else if (t1 < s.L)
            {
                bw = StageGroupsChecked(b, vectors, t1, n0, group, s); cw = StageGroupsChecked(c, vectors, t1, n0, group, s);
                nu = Load(u, row, t1 + lane * PerLane, live, s); nd = Load(delta, row, t1 + lane * PerLane, live, s);
            }
            var du = new Row8<float>(dt.X0 * ut.X0, dt.X1 * ut.X1, dt.X2 * ut.X2, dt.X3 * ut.X3, dt.X4 * ut.X4, dt.X5 * ut.X5, dt.X6 * ut.X6, dt.X7 * ut.X7);
            float sum = dt.X0 + dt.X1 + (dt.X2 + dt.X3) + (dt.X4 + dt.X5 + (dt.X6 + dt.X7));
            var y = Row8<float>.Fma(default, ut, dd);
            Group.Barrier();
            for (int n = 0; n < s.N; n += 2)
            {
                int m = n + 1;
                float aN = Warp.Shuffle(a2Lane, n), aM = Warp.Shuffle(a2Lane, m);
                float sN = Warp.Shuffle(carry, n), sM = Warp.Shuffle(carry, m);
                var exN = Exps2(dt, aN);
                var exM = Exps2(dt, aM);
                int atN = n * VectorStateStride, atM = atN + VectorStateStride;
                var vN = Inputs(du, bs[atN + first], bs[atN + second]);
                var vM = Inputs(du, bs[atM + first], bs[atM + second]);
                var scan = new LaneScan<float>(FastMath.Exp2(sum * aN), Fold(exN, vN), FastMath.Exp2(sum * aM), Fold(exM, vM));
                scan = ScanLevelIf(scan, 1, take1); scan = ScanLevelIf(scan, 2, take2); scan = ScanLevelIf(scan, 4, take4);
                scan = ScanLevelIf(scan, 8, take8); scan = ScanLevelIf(scan, 16, take16);
                // Lane i's end state from the window's start; lane i + 1 starts from it, lane 31's is the carry.
                float eN = scan.PN * sN + scan.HN, eM = scan.PM * sM + scan.HM;
                float xN = Warp.ShuffleUp(eN, 1), xM = Warp.ShuffleUp(eM, 1);
                xN = first0 ? sN : xN;
                xM = first0 ? sM : xM;
                y = Rerun(y, exN, vN, cs[atN + first], cs[atN + second], xN);
                y = Rerun(y, exM, vM, cs[atM + first], cs[atM + second], xM);
                float cN = Warp.Shuffle(eN, 31), cM = Warp.Shuffle(eM, 31);
                if (lane == n) carry = cN;
                if (lane == m) carry = cM;
            }
            if (live)
            {
                Store(output, z, row, ts, 0, y.X0, s); Store(output, z, row, ts, 1, y.X1, s);
                Store(output, z, row, ts, 2, y.X2, s); Store(output, z, row, ts, 3, y.X3, s);
                Store(output, z, row, ts, 4, y.X4, s); Store(output, z, row, ts, 5, y.X5, s);
                Store(output, z, row, ts, 6, y.X6, s); Store(output, z, row, ts, 7, y.X7, s);
            }
        }
    }

    /// <summary>
    /// <see cref="ScanLevel{T}"/> with the lanes below o keeping their pair by predication (<see cref="FastMath.MulIf"/>,
    /// <see cref="FastMath.FmaIf"/>: one predicated FMUL and FFMA per state) instead of selecting the identity (1, 0)
    /// for them (two selects, then the FMUL and FFMA).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static LaneScan<float> ScanLevelIf(LaneScan<float> x, int o, bool take)
    {
        float poN = Warp.ShuffleUp(x.PN, o), hoN = Warp.ShuffleUp(x.HN, o);
        float poM = Warp.ShuffleUp(x.PM, o), hoM = Warp.ShuffleUp(x.HM, o);
        return new LaneScan<float>(FastMath.MulIf(take, x.PN, poN), FastMath.FmaIf(take, x.PN, hoN, x.HN),
            FastMath.MulIf(take, x.PM, poM), FastMath.FmaIf(take, x.PM, hoM, x.HM));
    }

    /// <summary>b or c as 16-byte groups: group <paramref name="at"/> (state n0, the thread's 4 steps) and those of states n0 + 4, + 8, + 12 (rows L / 4 groups apart), unchecked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Tile4<float> StageGroups(ArrayView<Row4<float>> x, long at, int l4) =>
        new(x[at], x[at + 4L * l4], x[at + 8L * l4], x[at + 12L * l4]);

    /// <summary>The same groups element by element: zero for a state n &gt;= N or a step t &gt;= L.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Tile4<float> StageGroupsChecked(ArrayView<float> x, long vectors, int t0, int n0, int group, ScanArgs s) =>
        new(GroupChecked(x, vectors, t0 + 4 * group, n0, s), GroupChecked(x, vectors, t0 + 4 * group, n0 + 4, s),
            GroupChecked(x, vectors, t0 + 4 * group, n0 + 8, s), GroupChecked(x, vectors, t0 + 4 * group, n0 + 12, s));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row4<float> GroupChecked(ArrayView<float> x, long vectors, int t, int n, ScanArgs s) =>
        new(StageAt(x, vectors, t, n, s), StageAt(x, vectors, t + 1, n, s), StageAt(x, vectors, t + 2, n, s), StageAt(x, vectors, t + 3, n, s));

    /// <summary>Stores the thread's 4 groups (states n0 + 4 j) into the [n, lane, 2 groups of 4 steps] layout.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PutGroups(ArrayView<Row4<float>> shared, Tile4<float> v, int at)
    {
        const int stride = 4 * VectorStateStride;
        shared[at] = v.R0; shared[at + stride] = v.R1; shared[at + 2 * stride] = v.R2; shared[at + 3 * stride] = v.R3;
    }

    /// <summary>8 consecutive values as two 16-byte groups from group <paramref name="at"/>, unchecked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row8<float> LoadGroups(ArrayView<Row4<float>> x, long at)
    {
        Row4<float> lo = x[at], hi = x[at + 1];
        return new(lo.X0, lo.X1, lo.X2, lo.X3, hi.X0, hi.X1, hi.X2, hi.X3);
    }

    private const float Ln2 = 0.693147180559945309f;

    /// <summary>Delta_t = softplus(delta_t + bias) (<see cref="FastSoftplus"/>) for steps before L; 0 past L.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row8<float> FastDeltas(Row8<float> raw, float bias, int ts, ScanArgs s) =>
        new(FastDelta(raw.X0, bias, ts, s), FastDelta(raw.X1, bias, ts + 1, s), FastDelta(raw.X2, bias, ts + 2, s), FastDelta(raw.X3, bias, ts + 3, s),
            FastDelta(raw.X4, bias, ts + 4, s), FastDelta(raw.X5, bias, ts + 5, s), FastDelta(raw.X6, bias, ts + 6, s), FastDelta(raw.X7, bias, ts + 7, s));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float FastDelta(float raw, float bias, int t, ScanArgs s) => t < s.L ? FastSoftplus(raw + bias) : 0f;

    /// <summary>
    /// softplus(x) = max(x, 0) + log1p(e), e = exp(-|x|), as <see cref="SelectiveScanKernel.Softplus{T}"/> (log1p(e) =
    /// log(w) e / (w - 1) with w = 1 + e, which cancels the rounding of w), with e and log(w) as single MUFU
    /// instructions (<see cref="FastMath.Exp2"/>, <see cref="FastMath.Log2"/>; w lies in [1, 2], never subnormal, so
    /// lg2's ftz form changes nothing) and the division as a multiply by <see cref="FastMath.Reciprocal"/> (1 ulp),
    /// where ILGPU emits a full-precision division (a reciprocal, its Newton steps and a range check).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float FastSoftplus(float x)
    {
        if (x > 20f) return x;
        float e = FastMath.Exp2(-MathF.Abs(x) * Log2E), w = 1f + e, wm1 = w - 1f;
        float log1p = wm1 == 0f ? e : FastMath.Log2(w) * Ln2 * e * FastMath.Reciprocal(wm1);
        return MathF.Max(x, 0f) + log1p;
    }

    /// <summary>e_t = 2^(Delta_t a2) for the lane's 8 steps, a2 = A_n log2 e (one ex2.approx.ftz.f32 each on the GPU).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row8<float> Exps2(Row8<float> dt, float a2) =>
        new(FastMath.Exp2(dt.X0 * a2), FastMath.Exp2(dt.X1 * a2), FastMath.Exp2(dt.X2 * a2), FastMath.Exp2(dt.X3 * a2),
            FastMath.Exp2(dt.X4 * a2), FastMath.Exp2(dt.X5 * a2), FastMath.Exp2(dt.X6 * a2), FastMath.Exp2(dt.X7 * a2));

    /// <summary>The two states' pairs (P, h) of one lane during the lane scan.</summary>
    private readonly struct LaneScan<T>(T pn, T hn, T pm, T hm) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public readonly T PN = pn, HN = hn, PM = pm, HM = hm;
    }

    /// <summary>One Kogge-Stone level at offset o: (P', h') of the lane o below, then (P, h) composes onto it; lanes below o take the identity (1, 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static LaneScan<T> ScanLevel<T>(LaneScan<T> x, int o, bool take) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T poN = Warp.ShuffleUp(x.PN, o), hoN = Warp.ShuffleUp(x.HN, o);
        T poM = Warp.ShuffleUp(x.PM, o), hoM = Warp.ShuffleUp(x.HM, o);
        poN = take ? poN : T.One; hoN = take ? hoN : T.Zero;
        poM = take ? poM : T.One; hoM = take ? hoM : T.Zero;
        return new LaneScan<T>(x.PN * poN, x.PN * hoN + x.HN, x.PM * poM, x.PM * hoM + x.HM);
    }

    /// <summary>b or c of states n0 .. n0 + 7 at element <paramref name="at"/> of state 0's row (rows L apart), unchecked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row8<T> StageWhole<T>(ArrayView<T> x, long at, int n0, int l) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long r = at + (long)n0 * l;
        return new(x[r], x[r + l], x[r + 2L * l], x[r + 3L * l], x[r + 4L * l], x[r + 5L * l], x[r + 6L * l], x[r + 7L * l]);
    }

    /// <summary>8 consecutive values from element <paramref name="at"/>, unchecked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row8<T> LoadWhole<T>(ArrayView<T> x, long at) where T : unmanaged, IFloatingPointIeee754<T> =>
        new(x[at], x[at + 1], x[at + 2], x[at + 3], x[at + 4], x[at + 5], x[at + 6], x[at + 7]);

    /// <summary>Writes states n0 .. n0 + 7 of one staged step into the [n, lane, 2 groups of 4 steps] layout.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PutVector<T>(ArrayView<T> shared, Row8<T> v, int stageAt, int n0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int stride = 4 * VectorStateStride;
        int at = n0 * stride + stageAt;
        shared[at] = v.X0; shared[at + stride] = v.X1; shared[at + 2 * stride] = v.X2; shared[at + 3 * stride] = v.X3;
        shared[at + 4 * stride] = v.X4; shared[at + 5 * stride] = v.X5; shared[at + 6 * stride] = v.X6; shared[at + 7 * stride] = v.X7;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row8<T> Inputs<T>(Row8<T> du, Row4<T> b0, Row4<T> b1) where T : unmanaged, IFloatingPointIeee754<T> =>
        new(du.X0 * b0.X0, du.X1 * b0.X1, du.X2 * b0.X2, du.X3 * b0.X3, du.X4 * b1.X0, du.X5 * b1.X1, du.X6 * b1.X2, du.X7 * b1.X3);

    /// <summary>The rerun of the lane's 8 steps (as above) with its 8 values of c in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row8<T> Rerun<T>(Row8<T> y, Row8<T> ex, Row8<T> v, Row4<T> c0, Row4<T> c1, T x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        x = ex.X0 * x + v.X0; y.X0 += c0.X0 * x;
        x = ex.X1 * x + v.X1; y.X1 += c0.X1 * x;
        x = ex.X2 * x + v.X2; y.X2 += c0.X2 * x;
        x = ex.X3 * x + v.X3; y.X3 += c0.X3 * x;
        x = ex.X4 * x + v.X4; y.X4 += c1.X0 * x;
        x = ex.X5 * x + v.X5; y.X5 += c1.X1 * x;
        x = ex.X6 * x + v.X6; y.X6 += c1.X2 * x;
        x = ex.X7 * x + v.X7; y.X7 += c1.X3 * x;
        return y;
    }

    /// <summary>b or c of states n0 .. n0 + 7 at step t of the group's [N, L] rows; zero for n &gt;= N or t &gt;= L.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row8<T> Stage<T>(ArrayView<T> x, long vectors, int t, int n0, ScanArgs s) where T : unmanaged, IFloatingPointIeee754<T> =>
        new(StageAt(x, vectors, t, n0, s), StageAt(x, vectors, t, n0 + 1, s), StageAt(x, vectors, t, n0 + 2, s), StageAt(x, vectors, t, n0 + 3, s),
            StageAt(x, vectors, t, n0 + 4, s), StageAt(x, vectors, t, n0 + 5, s), StageAt(x, vectors, t, n0 + 6, s), StageAt(x, vectors, t, n0 + 7, s));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T StageAt<T>(ArrayView<T> x, long vectors, int t, int n, ScanArgs s) where T : unmanaged, IFloatingPointIeee754<T> =>
        n < s.N && t < s.L ? x[vectors + (long)n * s.L + t] : T.Zero;

    /// <summary>Writes states n0 .. n0 + 7 of one staged step into the [n, lane, 8 steps] layout.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put<T>(ArrayView<T> shared, Row8<T> v, int stageAt, int n0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int at = n0 * StateStride + stageAt;
        shared[at] = v.X0; shared[at + StateStride] = v.X1; shared[at + 2 * StateStride] = v.X2; shared[at + 3 * StateStride] = v.X3;
        shared[at + 4 * StateStride] = v.X4; shared[at + 5 * StateStride] = v.X5; shared[at + 6 * StateStride] = v.X6; shared[at + 7 * StateStride] = v.X7;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row8<T> Exps<T>(Row8<T> dt, T a) where T : unmanaged, IFloatingPointIeee754<T> =>
        new(T.Exp(dt.X0 * a), T.Exp(dt.X1 * a), T.Exp(dt.X2 * a), T.Exp(dt.X3 * a), T.Exp(dt.X4 * a), T.Exp(dt.X5 * a), T.Exp(dt.X6 * a), T.Exp(dt.X7 * a));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row8<T> Inputs<T>(Row8<T> du, ArrayView<T> bs, int at) where T : unmanaged, IFloatingPointIeee754<T> =>
        new(du.X0 * bs[at], du.X1 * bs[at + 1], du.X2 * bs[at + 2], du.X3 * bs[at + 3],
            du.X4 * bs[at + 4], du.X5 * bs[at + 5], du.X6 * bs[at + 6], du.X7 * bs[at + 7]);

    /// <summary>The state a lane's 8 steps reach from 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Fold<T>(Row8<T> ex, Row8<T> v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T h = v.X0;
        h = ex.X1 * h + v.X1; h = ex.X2 * h + v.X2; h = ex.X3 * h + v.X3; h = ex.X4 * h + v.X4;
        h = ex.X5 * h + v.X5; h = ex.X6 * h + v.X6; h = ex.X7 * h + v.X7;
        return h;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Product<T>(Row8<T> ex) where T : unmanaged, IFloatingPointIeee754<T> =>
        ex.X0 * ex.X1 * (ex.X2 * ex.X3) * (ex.X4 * ex.X5 * (ex.X6 * ex.X7));

    /// <summary>The lane's 8 steps from start x, adding c_t[n] x_t into y.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row8<T> Rerun<T>(Row8<T> y, Row8<T> ex, Row8<T> v, ArrayView<T> cs, int at, T x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        x = ex.X0 * x + v.X0; y.X0 += cs[at] * x;
        x = ex.X1 * x + v.X1; y.X1 += cs[at + 1] * x;
        x = ex.X2 * x + v.X2; y.X2 += cs[at + 2] * x;
        x = ex.X3 * x + v.X3; y.X3 += cs[at + 3] * x;
        x = ex.X4 * x + v.X4; y.X4 += cs[at + 4] * x;
        x = ex.X5 * x + v.X5; y.X5 += cs[at + 5] * x;
        x = ex.X6 * x + v.X6; y.X6 += cs[at + 6] * x;
        x = ex.X7 * x + v.X7; y.X7 += cs[at + 7] * x;
        return y;
    }

    /// <summary>8 consecutive values of a [B, D, L] row from step ts, zeros past L (and for a warp without a channel).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row8<T> Load<T>(ArrayView<T> x, long row, int ts, bool live, ScanArgs s) where T : unmanaged, IFloatingPointIeee754<T> =>
        new(At(x, row, ts, live, s), At(x, row, ts + 1, live, s), At(x, row, ts + 2, live, s), At(x, row, ts + 3, live, s),
            At(x, row, ts + 4, live, s), At(x, row, ts + 5, live, s), At(x, row, ts + 6, live, s), At(x, row, ts + 7, live, s));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T At<T>(ArrayView<T> x, long row, int t, bool live, ScanArgs s) where T : unmanaged, IFloatingPointIeee754<T> =>
        live && t < s.L ? x[row + t] : T.Zero;

    /// <summary>Delta_t = softplus(delta_t + bias) for steps before L; 0 past L, so those steps keep the state (e = 1, v = 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row8<T> Deltas<T>(Row8<T> raw, T bias, int ts, ScanArgs s) where T : unmanaged, IFloatingPointIeee754<T> =>
        new(Delta(raw.X0, bias, ts, s), Delta(raw.X1, bias, ts + 1, s), Delta(raw.X2, bias, ts + 2, s), Delta(raw.X3, bias, ts + 3, s),
            Delta(raw.X4, bias, ts + 4, s), Delta(raw.X5, bias, ts + 5, s), Delta(raw.X6, bias, ts + 6, s), Delta(raw.X7, bias, ts + 7, s));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Delta<T>(T raw, T bias, int t, ScanArgs s) where T : unmanaged, IFloatingPointIeee754<T> =>
        t < s.L ? SelectiveScanKernel.Softplus(raw + bias) : T.Zero;

    /// <summary>out_t = y_t silu(z_t) (or y_t without the gate), for a step before L.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(ArrayView<T> output, ArrayView<T> z, long row, int ts, int k, T y, ScanArgs s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int t = ts + k;
        if (t >= s.L) return;
        if (s.HasGate != 0)
        {
            T zt = z[row + t];
            y *= zt / (T.One + T.Exp(-zt));
        }
        output[row + t] = y;
    }
}
