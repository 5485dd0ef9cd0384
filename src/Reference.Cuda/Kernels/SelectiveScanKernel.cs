using System.Numerics;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace Reference.Cuda.Kernels;

/// <summary>
/// Shapes of one selective scan: u, delta, z, out [B, D, L]; a_log [D, N]; b, c [B, G, N, L];
/// d, delta_bias [D]. Lanes (a power of two, at most 32) threads share one channel, thread lane
/// holding states lane and lane + Lanes; time is cut into Chunks chunks of ChunkLength steps.
/// </summary>
internal readonly record struct ScanArgs(
    int B, int D, int L, int N, int G, int Lanes, int ChunkLength, int Chunks, int HasSkip, int HasGate, int HasBias)
{
    public int Items => B * D * Chunks;
}

/// <summary>
/// The Mamba S6 selective scan (Gu and Dao, arXiv:2312.00752, Algorithm 2; selective_scan_ref's
/// layout), chunked over time like <c>SelectiveScan</c>'s chunked form, with the state carried
/// between chunks. Per channel d and state n: Delta_t = softplus(delta_t + bias) (threshold 20),
/// x_t = exp(Delta_t A_n) x_{t-1} + Delta_t b_t[n] u_t, y_t = sum_n c_t[n] x_t[n] + d u_t,
/// out_t = y_t silu(z_t). The recurrence is linear in x, so a chunk started from zero ends in
/// h_chunk, and the true end state is exp(A_n sum Delta) x_start + h_chunk:
/// <list type="number">
/// <item><see cref="ChunkStates{T}"/>: every (b, d, chunk) in parallel runs its chunk from x = 0 and
/// stores h_chunk[n] and sum Delta;</item>
/// <item><see cref="CarryStates{T}"/>: every (b, d, n) walks its chunks in order, replacing h_chunk
/// by the state the chunk starts from;</item>
/// <item><see cref="ChunkOutputs{T}"/>: every chunk reruns from its true start state and writes out.</item>
/// </list>
/// The N states of a channel sit in Lanes consecutive threads of a warp; y_t's sum over n is a
/// shuffle reduction within them. Accumulation order of y_t: the lanes' partial products are summed
/// as a butterfly (pairs at distance Lanes / 2, ..., 1), not n ascending.
/// </summary>
internal static class SelectiveScanKernel
{
    public const int Threads = 256;

    public static KernelConfig ChunkConfig(ScanArgs s)
    {
        int perGroup = Threads / s.Lanes;
        return new KernelConfig(new Index1D((s.Items + perGroup - 1) / perGroup), new Index1D(Threads));
    }

    public static void ChunkStates<T>(ArrayView<T> u, ArrayView<T> delta, ArrayView<T> aLog, ArrayView<T> bm, ArrayView<T> bias,
        ArrayView<T> states, ArrayView<T> deltaSums, ScanArgs s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int item = Grid.IdxX * (Threads / s.Lanes) + Group.IdxX / s.Lanes, lane = Group.IdxX % s.Lanes;
        if (item >= s.Items) return;
        int chunk = item % s.Chunks, bd = item / s.Chunks, batch = bd / s.D, d = bd % s.D;
        int g = d / (s.D / s.G), n0 = lane, n1 = lane + s.Lanes;
        bool has0 = n0 < s.N, has1 = n1 < s.N;
        T a0 = has0 ? -T.Exp(aLog[(long)d * s.N + n0]) : T.Zero, a1 = has1 ? -T.Exp(aLog[(long)d * s.N + n1]) : T.Zero;
        T db = s.HasBias != 0 ? bias[d] : T.Zero;
        long row = (long)bd * s.L, bRow = ((long)batch * s.G + g) * s.N * s.L;
        int t0 = chunk * s.ChunkLength, t1 = Math.Min(s.L, t0 + s.ChunkLength);
        T x0 = T.Zero, x1 = T.Zero, sum = T.Zero;
        for (int t = t0; t < t1; t++)
        {
            T dt = Softplus(delta[row + t] + db), du = dt * u[row + t];
            sum += dt;
            if (has0) x0 = T.Exp(dt * a0) * x0 + du * bm[bRow + (long)n0 * s.L + t];
            if (has1) x1 = T.Exp(dt * a1) * x1 + du * bm[bRow + (long)n1 * s.L + t];
        }
        long at = (long)item * s.N;
        if (has0) states[at + n0] = x0;
        if (has1) states[at + n1] = x1;
        if (lane == 0) deltaSums[item] = sum;
    }

    public static void CarryStates<T>(Index1D index, ArrayView<T> aLog, ArrayView<T> states, ArrayView<T> deltaSums, ScanArgs s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = index % s.N, bd = index / s.N, d = bd % s.D;
        T a = -T.Exp(aLog[(long)d * s.N + n]), x = T.Zero;
        for (int chunk = 0; chunk < s.Chunks; chunk++)
        {
            long item = (long)bd * s.Chunks + chunk;
            T h = states[item * s.N + n];
            states[item * s.N + n] = x;
            x = T.Exp(a * deltaSums[item]) * x + h;
        }
    }

    public static void ChunkOutputs<T>(ArrayView<T> u, ArrayView<T> delta, ArrayView<T> aLog, ArrayView<T> bm, ArrayView<T> cm,
        ArrayView<T> skip, ArrayView<T> z, ArrayView<T> bias, ArrayView<T> states, ArrayView<T> output, ScanArgs s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int item = Grid.IdxX * (Threads / s.Lanes) + Group.IdxX / s.Lanes, lane = Group.IdxX % s.Lanes;
        // Threads past the last item still take part in the shuffles below (a warp shuffles as one).
        bool live = item < s.Items;
        int safe = live ? item : 0;
        int chunk = safe % s.Chunks, bd = safe / s.Chunks, batch = bd / s.D, d = bd % s.D;
        int g = d / (s.D / s.G), n0 = lane, n1 = lane + s.Lanes;
        bool has0 = n0 < s.N, has1 = n1 < s.N;
        T a0 = has0 ? -T.Exp(aLog[(long)d * s.N + n0]) : T.Zero, a1 = has1 ? -T.Exp(aLog[(long)d * s.N + n1]) : T.Zero;
        T db = s.HasBias != 0 ? bias[d] : T.Zero, dd = s.HasSkip != 0 ? skip[d] : T.Zero;
        long row = (long)bd * s.L, bRow = ((long)batch * s.G + g) * s.N * s.L, at = (long)safe * s.N;
        T x0 = has0 && live ? states[at + n0] : T.Zero, x1 = has1 && live ? states[at + n1] : T.Zero;
        int t0 = chunk * s.ChunkLength, t1 = Math.Min(s.L, t0 + s.ChunkLength);
        // Every lane of the warp runs ChunkLength steps (the last chunk is shorter), so the shuffles stay converged.
        for (int step = 0; step < s.ChunkLength; step++)
        {
            int t = t0 + step;
            bool on = live && t < t1;
            T ut = on ? u[row + t] : T.Zero, part = T.Zero;
            if (on)
            {
                T dt = Softplus(delta[row + t] + db), du = dt * ut;
                if (has0)
                {
                    long bn = bRow + (long)n0 * s.L + t;
                    x0 = T.Exp(dt * a0) * x0 + du * bm[bn];
                    part = cm[bn] * x0;
                }
                if (has1)
                {
                    long bn = bRow + (long)n1 * s.L + t;
                    x1 = T.Exp(dt * a1) * x1 + du * bm[bn];
                    part += cm[bn] * x1;
                }
            }
            for (int width = s.Lanes >> 1; width > 0; width >>= 1) part += Warp.ShuffleXor(part, width);
            if (lane == 0 && on)
            {
                T yt = part + dd * ut;
                if (s.HasGate != 0)
                {
                    T zt = z[row + t];
                    yt *= zt / (T.One + T.Exp(-zt));
                }
                output[row + t] = yt;
            }
        }
    }

    /// <summary>
    /// PyTorch's softplus with threshold 20, as the CPU tiers evaluate it: x above 20, else
    /// max(x, 0) + log1p(exp(-|x|)) with log1p(e) = log(w) e / (w - 1), w = 1 + e (Goldberg).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Softplus<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T twenty = (T.One + T.One) * (T.One + T.One) * (T.One + T.One + T.One + T.One + T.One);
        if (x > twenty) return x;
        T e = T.Exp(-T.Abs(x)), w = T.One + e, wm1 = w - T.One;
        T log1p = wm1 == T.Zero ? e : T.Log(w) * e / wm1;
        return T.Max(x, T.Zero) + log1p;
    }
}
