using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Reference.Cuda.Kernels;

/// <summary>
/// The selective scan in one pass, float32, N &lt;= 16, without a scan across lanes: one thread per
/// (channel, state) runs the recurrence x_t = e_t x_{t-1} + Delta_t u_t b_t[n], e_t = exp(Delta_t A_n)
/// (Gu and Dao, arXiv:2312.00752, Algorithm 2) sequentially over time. The critical path is one FMA
/// per step; e_t does not depend on the state, so the exponentials of consecutive steps overlap. A
/// block of 16 (or 8: <see cref="IScanBlock"/>) channels x 16 states walks the sequence in chunks of 32 steps: per chunk it stages
/// Delta_t (softplus once per channel and step), Delta_t u_t and u_t per channel and b_t, c_t per
/// state in shared memory (rows padded by one 16-byte group, read as groups of 4 steps), each thread
/// writes its products c_t[n] x_t to shared memory, and 128 threads then sum them over the states
/// (n ascending, after d u_t) into the chunk's outputs. The step loop is about 10 instructions per
/// (state, step) (a quarter of each 16-byte read, the exponential as exp2(Delta_t (A_n log2 e)): one
/// multiply and ex2.approx with its range fix-ups, the input product, the FMA, the output product, a
/// quarter store); with the staging (softplus, checked loads) and the output pass ncu counted about 19
/// on the H200 (79.2 M warp instructions against 101.2 M for
/// <see cref="SelectiveScanWarpKernel.ScanPairedVector{T}"/>), but D 2048 x N 16 gives only 32,768
/// threads, 8 warps per multiprocessor, and the kernel is latency bound there (5.3 cycles between a
/// warp's instructions): 0.22 ms, no faster than the warp scan (bench/NOTES.md, "scanseq"). The next chunk's
/// values are loaded into registers while the current one is computed. States n &gt;= N have A = 0 and
/// zero b and c, steps past L have Delta = 0 (e = 1, no input), so both contribute exactly 0.
/// </summary>
internal static partial class SelectiveScanSequentialKernel
{
    public const int States = 16;

    /// <summary>Steps per staged chunk.</summary>
    public const int Chunk = 32;

    /// <summary>16-byte groups of steps per chunk row (the step loop is written out for 8).</summary>
    private const int Quads = Chunk / 4;

    /// <summary>Row pitch in 16-byte groups: one of padding, so rows n and n + 1 start on different bank quads.</summary>
    private const int Pitch = Quads + 1;

    private const int ScalarPitch = 4 * Pitch;

    private const float Log2E = 1.44269504088896341f;

    /// <summary>Whether this kernel takes the scan: float32 and N &lt;= 16.</summary>
    public static bool Applies<T>(ScanArgs s) => typeof(T) == typeof(float) && s.N <= States;

    private static int BlocksPerGroup(ScanArgs s, int channels) => (s.D / s.G + channels - 1) / channels;

    public static KernelConfig Config<TBlock>(ScanArgs s) where TBlock : struct, IScanBlock =>
        new(new Index1D(s.B * s.G * BlocksPerGroup(s, default(TBlock).Channels)), new Index1D(default(TBlock).Channels * States));

    public static void Scan<TBlock>(ArrayView<float> u, ArrayView<float> delta, ArrayView<float> aLog, ArrayView<float> b, ArrayView<float> c,
        ArrayView<float> skip, ArrayView<float> z, ArrayView<float> bias, ArrayView<float> output, ScanArgs s)
        where TBlock : struct, IScanBlock
    {
        int channels = default(TBlock).Channels;
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
        int perGroup = s.D / s.G, blocks = BlocksPerGroup(s, channels);
        int id = Grid.IdxX, sub = id % blocks, bg = id / blocks, g = bg % s.G, batch = bg / s.G;
        int tid = Group.IdxX, ch = tid / States, n = tid % States, first = sub * channels;
        int local = first + ch, d = g * perGroup + (local < perGroup ? local : 0);
        float a2 = n < s.N ? -MathF.Exp(aLog[(long)d * s.N + n]) * Log2E : 0f;
        long rows = ((long)batch * s.D + g * perGroup + first) * s.L, vectors = ((long)batch * s.G + g) * s.N * s.L;
        // Staging: thread tid stages step tid % 32 of channel rows r0 = tid / 32 and r0 + C / 2 (u and delta) and of
        // state rows r0 + j C / 2, j < 32 / C (b and c; slots 2 and 3 only with 8 channels).
        int r0 = tid / Chunk, r1 = r0 + channels / 2, r2 = r0 + channels, r3 = r1 + channels, step = tid % Chunk;
        bool four = channels < States;
        bool live0 = first + r0 < perGroup, live1 = first + r1 < perGroup;
        float bias0 = s.HasBias != 0 && live0 ? bias[g * perGroup + first + r0] : 0f;
        float bias1 = s.HasBias != 0 && live1 ? bias[g * perGroup + first + r1] : 0f;
        int at0 = r0 * ScalarPitch + step, at1 = r1 * ScalarPitch + step, at2 = r2 * ScalarPitch + step, at3 = r3 * ScalarPitch + step;
        float u0 = Row(u, rows, r0, live0, step, s), u1 = Row(u, rows, r1, live1, step, s);
        float d0 = Row(delta, rows, r0, live0, step, s), d1 = Row(delta, rows, r1, live1, step, s);
        float b0 = Row(b, vectors, r0, r0 < s.N, step, s), b1 = Row(b, vectors, r1, r1 < s.N, step, s);
        float c0 = Row(c, vectors, r0, r0 < s.N, step, s), c1 = Row(c, vectors, r1, r1 < s.N, step, s);
        float b2 = four ? Row(b, vectors, r2, r2 < s.N, step, s) : 0f, b3 = four ? Row(b, vectors, r3, r3 < s.N, step, s) : 0f;
        float c2 = four ? Row(c, vectors, r2, r2 < s.N, step, s) : 0f, c3 = four ? Row(c, vectors, r3, r3 < s.N, step, s) : 0f;
        int rowD = ch * Pitch, rowN = n * Pitch, rowP = tid * Pitch;
        float h = 0f;
        for (int t0 = 0; t0 < s.L; t0 += Chunk)
        {
            Group.Barrier();
            bool on = t0 + step < s.L;
            float dt0 = on ? SelectiveScanKernel.Softplus(d0 + bias0) : 0f, dt1 = on ? SelectiveScanKernel.Softplus(d1 + bias1) : 0f;
            dtScalar[at0] = dt0; duScalar[at0] = dt0 * u0; uScalar[at0] = u0; bScalar[at0] = b0; cScalar[at0] = c0;
            dtScalar[at1] = dt1; duScalar[at1] = dt1 * u1; uScalar[at1] = u1; bScalar[at1] = b1; cScalar[at1] = c1;
            if (four)
            {
                bScalar[at2] = b2; cScalar[at2] = c2; bScalar[at3] = b3; cScalar[at3] = c3;
            }
            int t1 = t0 + Chunk;
            if (t1 < s.L)
            {
                int next = t1 + step;
                u0 = Row(u, rows, r0, live0, next, s); u1 = Row(u, rows, r1, live1, next, s);
                d0 = Row(delta, rows, r0, live0, next, s); d1 = Row(delta, rows, r1, live1, next, s);
                b0 = Row(b, vectors, r0, r0 < s.N, next, s); b1 = Row(b, vectors, r1, r1 < s.N, next, s);
                c0 = Row(c, vectors, r0, r0 < s.N, next, s); c1 = Row(c, vectors, r1, r1 < s.N, next, s);
                if (four)
                {
                    b2 = Row(b, vectors, r2, r2 < s.N, next, s); b3 = Row(b, vectors, r3, r3 < s.N, next, s);
                    c2 = Row(c, vectors, r2, r2 < s.N, next, s); c3 = Row(c, vectors, r3, r3 < s.N, next, s);
                }
            }
            Group.Barrier();
            h = ChunkSteps(dts, dus, bs, cs, ps, rowD, rowN, rowP, a2, h);
            Group.Barrier();
            ChunkOutputs(us, ps, skip, output, z, tid, channels, first, perGroup, g, rows, t0, s);
        }
    }

    /// <summary>Channels per block of <see cref="Scan{TBlock}"/> (a constant after inlining, so the shared arrays have constant sizes).</summary>
    public interface IScanBlock
    {
        int Channels { get; }
    }

    /// <summary>16 channels a block: 128 blocks for D = 2048, one per multiprocessor.</summary>
    public readonly struct SixteenChannels : IScanBlock
    {
        public int Channels => 16;
    }

    /// <summary>8 channels a block: two blocks per multiprocessor, so one block's barriers and output pass overlap the other's steps.</summary>
    public readonly struct EightChannels : IScanBlock
    {
        public int Channels => 8;
    }

    /// <summary>The products c_t[n] x_t of four steps and the state after them (a struct, not a ref, so ILGPU keeps both in registers).</summary>
    private readonly struct Advanced(Row4<float> p, float h)
    {
        public readonly Row4<float> P = p;
        public readonly float H = h;
    }

    /// <summary>
    /// The chunk's 32 steps of one (channel, state) from state h, as 8 groups of 4 written out (a counted loop costs a
    /// counter, compare and branch per group); group i's products go to ps[rowP + i]. Returns the state after the chunk.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ChunkSteps(ArrayView<Row4<float>> dts, ArrayView<Row4<float>> dus, ArrayView<Row4<float>> bs, ArrayView<Row4<float>> cs,
        ArrayView<Row4<float>> ps, int rowD, int rowN, int rowP, float a2, float h)
    {
        var s0 = Steps(dts[rowD], dus[rowD], bs[rowN], cs[rowN], a2, h);
        var s1 = Steps(dts[rowD + 1], dus[rowD + 1], bs[rowN + 1], cs[rowN + 1], a2, s0.H);
        ps[rowP] = s0.P; ps[rowP + 1] = s1.P;
        var s2 = Steps(dts[rowD + 2], dus[rowD + 2], bs[rowN + 2], cs[rowN + 2], a2, s1.H);
        var s3 = Steps(dts[rowD + 3], dus[rowD + 3], bs[rowN + 3], cs[rowN + 3], a2, s2.H);
        ps[rowP + 2] = s2.P; ps[rowP + 3] = s3.P;
        var s4 = Steps(dts[rowD + 4], dus[rowD + 4], bs[rowN + 4], cs[rowN + 4], a2, s3.H);
        var s5 = Steps(dts[rowD + 5], dus[rowD + 5], bs[rowN + 5], cs[rowN + 5], a2, s4.H);
        ps[rowP + 4] = s4.P; ps[rowP + 5] = s5.P;
        var s6 = Steps(dts[rowD + 6], dus[rowD + 6], bs[rowN + 6], cs[rowN + 6], a2, s5.H);
        var s7 = Steps(dts[rowD + 7], dus[rowD + 7], bs[rowN + 7], cs[rowN + 7], a2, s6.H);
        ps[rowP + 6] = s6.P; ps[rowP + 7] = s7.P;
        return s7.H;
    }

    /// <summary>
    /// The chunk's outputs: thread tid &lt; channels * Quads writes 4 steps of channel first + tid / Quads (when it exists),
    /// y = D u + the 16 states' products of ps in ascending order, gated and stored by <see cref="Store"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ChunkOutputs(ArrayView<Row4<float>> us, ArrayView<Row4<float>> ps, ArrayView<float> skip, ArrayView<float> output,
        ArrayView<float> z, int tid, int channels, int first, int perGroup, int g, long rows, int t0, ScanArgs s)
    {
        if (tid < channels * Quads)
        {
            int oc = tid / Quads, k = tid % Quads, ol = first + oc;
            if (ol < perGroup)
            {
                int od = g * perGroup + ol;
                float dd = s.HasSkip != 0 ? skip[od] : 0f;
                var u4 = us[oc * Pitch + k];
                var y = new Row4<float>(dd * u4.X0, dd * u4.X1, dd * u4.X2, dd * u4.X3);
                // The 16 states' products in ascending order, written out (ILGPU keeps a counted loop: its counter, compare and branch per state).
                int p0 = oc * States * Pitch + k;
                y = Add(Add(Add(Add(y, ps[p0]), ps[p0 + Pitch]), ps[p0 + 2 * Pitch]), ps[p0 + 3 * Pitch]);
                y = Add(Add(Add(Add(y, ps[p0 + 4 * Pitch]), ps[p0 + 5 * Pitch]), ps[p0 + 6 * Pitch]), ps[p0 + 7 * Pitch]);
                y = Add(Add(Add(Add(y, ps[p0 + 8 * Pitch]), ps[p0 + 9 * Pitch]), ps[p0 + 10 * Pitch]), ps[p0 + 11 * Pitch]);
                y = Add(Add(Add(Add(y, ps[p0 + 12 * Pitch]), ps[p0 + 13 * Pitch]), ps[p0 + 14 * Pitch]), ps[p0 + 15 * Pitch]);
                long row = rows + (long)oc * s.L;
                int ts = t0 + 4 * k;
                Store(output, z, row, ts, y.X0, s); Store(output, z, row, ts + 1, y.X1, s);
                Store(output, z, row, ts + 2, y.X2, s); Store(output, z, row, ts + 3, y.X3, s);
            }
        }
    }

    /// <summary>Four steps of one (channel, state) from state h.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Advanced Steps(Row4<float> dt, Row4<float> du, Row4<float> bt, Row4<float> ct, float a2, float h)
    {
        float e0 = XMath.Exp2(dt.X0 * a2), e1 = XMath.Exp2(dt.X1 * a2), e2 = XMath.Exp2(dt.X2 * a2), e3 = XMath.Exp2(dt.X3 * a2);
        float x = e0 * h + du.X0 * bt.X0;
        float p0 = ct.X0 * x;
        x = e1 * x + du.X1 * bt.X1;
        float p1 = ct.X1 * x;
        x = e2 * x + du.X2 * bt.X2;
        float p2 = ct.X2 * x;
        x = e3 * x + du.X3 * bt.X3;
        float p3 = ct.X3 * x;
        return new Advanced(new Row4<float>(p0, p1, p2, p3), x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Row4<float> Add(Row4<float> y, Row4<float> p) => new(y.X0 + p.X0, y.X1 + p.X1, y.X2 + p.X2, y.X3 + p.X3);

    /// <summary>Step t of row r of a [rows, L] block starting at <paramref name="start"/>; 0 for a row that is not there or t &gt;= L.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Row(ArrayView<float> x, long start, int r, bool there, int t, ScanArgs s) =>
        there && t < s.L ? x[start + (long)r * s.L + t] : 0f;

    /// <summary>out_t = y_t silu(z_t) (or y_t without the gate), for a step before L.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ArrayView<float> output, ArrayView<float> z, long row, int t, float y, ScanArgs s)
    {
        if (t >= s.L) return;
        if (s.HasGate != 0)
        {
            float zt = z[row + t];
            y *= zt / (1f + MathF.Exp(-zt));
        }
        output[row + t] = y;
    }
}
