using System.Numerics;
using ILGPU;
using ILGPU.Runtime;

namespace Reference.Cuda.Kernels;

/// <summary>
/// Where one gated linear recurrence reads and writes (element strides). Head h reads q, k from head
/// h / HeadsPerGroup (SSD's groups); column V of v is a column of ones when Normalize (its output is
/// the normaliser); the gate of channel c is at GB b + GH h + GT t + GC c (GC = 0: one gate a step;
/// HasGate = 0: no decay); the optional per-step key multiplier (SSD's Delta_t) at KB b + KH h + KT t.
/// HasState = 1: the carried state of (b, h) starts from, and ends in, the state buffer at
/// (b H + h) F Columns + SF c + SC col (feature c, value column col): SF = Columns, SC = 1 for the
/// [B, H, F, Columns] layout of GLA and linear attention, SF = 1, SC = F for SSD's [B, H, P, N].
/// </summary>
internal readonly record struct GatedLinearArgs(
    int B, int H, int L, int F, int V, int HeadsPerGroup, int Normalize,
    long QB, long QH, long QT, long VB, long VH, long VT, long OB, long OH, long OT,
    long GB, long GH, long GT, long GC, int HasGate, long KB, long KH, long KT, int HasKeyScale, int HasSkip,
    int HasState = 0, int SF = 0, int SC = 0)
{
    public int Columns => V + Normalize;

    public int Tiles => (Columns + GatedLinearKernel.ColumnTile - 1) / GatedLinearKernel.ColumnTile;
}

/// <summary>
/// The chunked form of the gated linear recurrence S_t = Diag(exp(g_t)) S_{t-1} + k_t v_t^T,
/// o_t = S_t^T (scale q_t) (+ d v_t), shared by GLA (Yang et al., arXiv:2312.06635, section 4.2 and
/// its secondary chunking in 4.3), linear attention (g = 0), decayed linear attention (g_t = log
/// lambda, constant) and Mamba-2's SSD (Dao and Gu, arXiv:2405.21060, section 7: scalar gate
/// Delta_t A_h, k_t = Delta_t B_t, q_t = C_t, v_t = x_t). With G_t the gate's cumulative sum inside a
/// chunk of C steps (G_t - G_s &lt;= 0 for s &lt;= t, so every exponential below is at most 1):
/// <list type="bullet">
/// <item>intra-chunk scores A[t, s] = sum_c q_tc k_sc exp(G_tc - G_sc), s &lt;= t;</item>
/// <item>o_t = sum_c q_tc exp(G_tc) S[c, :] + sum_{s &lt;= t} A[t, s] v_s (S the state before the chunk);</item>
/// <item>S[c, :] = exp(G_Cc) S[c, :] + sum_s k_sc exp(G_Cc - G_sc) v_s.</item>
/// </list>
/// One block of 256 threads owns one (batch, head, tile of 32 value columns); the state tile [F, 32]
/// stays in shared memory for the whole sequence, the chunk's q, k, G and v are staged beside it; with
/// a state buffer it is loaded from it before the first chunk and stored back after the last (each
/// block reads and writes only its own [F, 32] slice, so one buffer serves as s0 and final state).
/// F (the feature size) is at most 64 so that the staging fits 48 KiB in float64.
/// </summary>
internal static class GatedLinearKernel
{
    public const int Threads = 256;

    /// <summary>Time steps per chunk.</summary>
    public const int Chunk = 16;

    /// <summary>Value columns a block owns.</summary>
    public const int ColumnTile = 32;

    /// <summary>The largest feature size (key dimension after the feature map).</summary>
    public const int MaxFeatures = 64;

    public static KernelConfig Config(GatedLinearArgs a) => new(new Index1D(a.B * a.H * a.Tiles), new Index1D(Threads));

    public static void Kernel<T>(ArrayView<T> q, ArrayView<T> k, ArrayView<T> v, ArrayView<T> g, ArrayView<T> keyScale,
        ArrayView<T> skip, ArrayView<T> carried, ArrayView<T> output, GatedLinearArgs a, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var state = SharedMemory.Allocate<T>(MaxFeatures * ColumnTile);
        var qs = SharedMemory.Allocate<T>(Chunk * MaxFeatures);
        var ks = SharedMemory.Allocate<T>(Chunk * MaxFeatures);
        var gs = SharedMemory.Allocate<T>(Chunk * MaxFeatures);
        var vs = SharedMemory.Allocate<T>(Chunk * ColumnTile);
        var scores = SharedMemory.Allocate<T>(Chunk * Chunk);
        int tid = Group.IdxX, f = a.F;
        int tile = Grid.IdxX % a.Tiles, bh = Grid.IdxX / a.Tiles, b = bh / a.H, h = bh % a.H, hg = h / a.HeadsPerGroup;
        int col0 = tile * ColumnTile, width = Math.Min(ColumnTile, a.Columns - col0);
        long qBase = b * a.QB + hg * a.QH, vBase = b * a.VB + h * a.VH, oBase = b * a.OB + h * a.OH;
        long gBase = b * a.GB + h * a.GH, kBase = b * a.KB + h * a.KH;
        T dh = a.HasSkip != 0 ? skip[h] : T.Zero;
        long sBase = (long)bh * f * a.Columns;
        for (int e = tid; e < f * ColumnTile; e += Threads)
        {
            int c = e / ColumnTile, j = e % ColumnTile;
            state[e] = a.HasState != 0 && j < width ? carried[sBase + c * a.SF + (col0 + j) * a.SC] : T.Zero;
        }

        for (int t0 = 0; t0 < a.L; t0 += Chunk)
        {
            int len = Math.Min(Chunk, a.L - t0);
            for (int e = tid; e < Chunk * f; e += Threads)
            {
                int s = e / f, c = e % f;
                bool on = s < len;
                long at = qBase + (t0 + s) * a.QT + c;
                T ksc = on && a.HasKeyScale != 0 ? keyScale[kBase + (t0 + s) * a.KT] : T.One;
                qs[e] = on ? q[at] * scale : T.Zero;
                ks[e] = on ? k[at] * ksc : T.Zero;
                gs[e] = on && a.HasGate != 0 ? g[gBase + (t0 + s) * a.GT + c * a.GC] : T.Zero;
            }
            for (int e = tid; e < Chunk * ColumnTile; e += Threads)
            {
                int s = e / ColumnTile, j = e % ColumnTile, col = col0 + j;
                bool on = s < len && j < width;
                vs[e] = !on ? T.Zero : col < a.V ? v[vBase + (t0 + s) * a.VT + col] : T.One;
            }
            Group.Barrier();
            // Cumulative gates; rows past the chunk's end hold g = 0, so row C - 1 is the chunk's total.
            for (int c = tid; c < f; c += Threads)
            {
                T run = T.Zero;
                for (int s = 0; s < Chunk; s++)
                {
                    run += gs[s * f + c];
                    gs[s * f + c] = run;
                }
            }
            Group.Barrier();
            for (int e = tid; e < Chunk * Chunk; e += Threads)
            {
                int t = e / Chunk, s = e % Chunk;
                T acc = T.Zero;
                if (s <= t)
                {
                    if (a.HasGate != 0)
                        for (int c = 0; c < f; c++) acc += qs[t * f + c] * ks[s * f + c] * T.Exp(gs[t * f + c] - gs[s * f + c]);
                    else
                        for (int c = 0; c < f; c++) acc += qs[t * f + c] * ks[s * f + c];
                }
                scores[e] = acc;
            }
            Group.Barrier();
            for (int e = tid; e < Chunk * ColumnTile; e += Threads)
            {
                int t = e / ColumnTile, j = e % ColumnTile, col = col0 + j;
                if (t >= len || j >= width) continue;
                T acc = T.Zero;
                for (int c = 0; c < f; c++)
                {
                    T decay = a.HasGate != 0 ? T.Exp(gs[t * f + c]) : T.One;
                    acc += qs[t * f + c] * decay * state[c * ColumnTile + j];
                }
                for (int s = 0; s <= t; s++) acc += scores[t * Chunk + s] * vs[s * ColumnTile + j];
                if (col < a.V) acc += dh * vs[t * ColumnTile + j];
                output[oBase + (t0 + t) * a.OT + col] = acc;
            }
            Group.Barrier();
            for (int e = tid; e < f * ColumnTile; e += Threads)
            {
                int c = e / ColumnTile, j = e % ColumnTile;
                T total = gs[(Chunk - 1) * f + c];
                T x = (a.HasGate != 0 ? T.Exp(total) : T.One) * state[e];
                for (int s = 0; s < len; s++)
                {
                    T decay = a.HasGate != 0 ? T.Exp(total - gs[s * f + c]) : T.One;
                    x += ks[s * f + c] * decay * vs[s * ColumnTile + j];
                }
                state[e] = x;
            }
            Group.Barrier();
        }
        if (a.HasState == 0) return;
        for (int e = tid; e < f * ColumnTile; e += Threads)
        {
            int c = e / ColumnTile, j = e % ColumnTile;
            if (j < width) carried[sBase + c * a.SF + (col0 + j) * a.SC] = state[e];
        }
    }

    /// <summary>
    /// Linear attention's feature map, one output feature a thread: x [rows, K] to phi(x) [rows, F];
    /// map 0 identity, 1 elu(x) + 1, 2 relu, 3 Taylor [1, x / r1, vec(x x^T) / r2] (Based, arXiv:2402.18668, section 3.1).
    /// </summary>
    public static void FeatureMap<T>(Index1D index, ArrayView<T> x, ArrayView<T> phi, int k, int f, int map, T r1, T r2)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        long row = index / f;
        int o = index % f;
        long at = row * k;
        T y;
        if (map == 3)
        {
            if (o == 0) y = T.One;
            else if (o <= k) y = x[at + o - 1] / r1;
            else
            {
                int i = o - 1 - k;
                y = x[at + i / k] * x[at + i % k] / r2;
            }
        }
        else
        {
            T xv = x[at + o];
            y = map == 1 ? (xv > T.Zero ? xv + T.One : T.Exp(xv)) : map == 2 ? T.Max(xv, T.Zero) : xv;
        }
        phi[index] = y;
    }

    /// <summary>out[row, j] = raw[row, j] / (raw[row, V] + eps): the normaliser was the ones column.</summary>
    public static void Normalize<T>(Index1D index, ArrayView<T> raw, ArrayView<T> output, int v, T eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long row = index / v;
        int j = index % v;
        output[index] = raw[row * (v + 1) + j] / (raw[row * (v + 1) + v] + eps);
    }

    /// <summary>SSD's step sizes and gates per (b, t, h): Delta = softplus(dt + bias) (threshold 20), gate = Delta A_h, A_h = -exp(a_log[h]).</summary>
    public static void SsdGates<T>(Index1D index, ArrayView<T> dt, ArrayView<T> aLog, ArrayView<T> bias, ArrayView<T> delta,
        ArrayView<T> gate, int heads, int hasBias) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int h = index % heads;
        T d = SelectiveScanKernel.Softplus(dt[index] + (hasBias != 0 ? bias[h] : T.Zero));
        delta[index] = d;
        gate[index] = -d * T.Exp(aLog[h]);
    }
}
