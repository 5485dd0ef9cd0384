using System.Numerics;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace Reference.Cuda.Kernels;

/// <summary>
/// The selective scan for N &lt;= 16 states with one thread per channel holding all of its states in
/// registers (sixteen named locals; states n &gt;= N stay zero because their staged b and c are zero).
/// Same three passes and workspace as <see cref="SelectiveScanKernel"/> (chunk end states from zero,
/// <see cref="SelectiveScanKernel.CarryStates{T}"/>, outputs from the carried start states), but no
/// shuffle reduction: y_t = sum_n c_t[n] x_t[n] is summed in the thread, n ascending. A block of 64
/// threads takes 64 consecutive channels of one group for one chunk of 32 steps: u and softplus(delta)
/// are staged with coalesced reads into rows padded to 33 (so the 64 threads reading step s of their
/// rows hit distinct banks), b_t and c_t of the group are staged as [32, 16] and read as broadcasts;
/// b and c are read straight from their [B, G, N, L] rows (32 consecutive steps, coalesced), so no
/// time-major copy is needed; the gate silu(z) is applied while the outputs are written back.
/// </summary>
internal static class SelectiveScanRegisterKernel
{
    public const int Threads = 64;

    public const int States = 16;

    private const int Steps = SelectiveScanKernel.ChunkLength;

    private const int Pitch = Steps + 1;

    /// <summary>Whether this kernel takes the scan: N &lt;= 16.</summary>
    public static bool Applies(ScanArgs s) => s.N <= States;

    private static int BlocksPerGroup(ScanArgs s) => (s.D / s.G + Threads - 1) / Threads;

    public static KernelConfig Config(ScanArgs s) => new(new Index1D(s.B * s.G * BlocksPerGroup(s) * s.Chunks), new Index1D(Threads));

    public static void ChunkStates<T>(ArrayView<T> u, ArrayView<T> delta, ArrayView<T> aLog, ArrayView<T> b, ArrayView<T> bias,
        ArrayView<T> states, ArrayView<T> deltaSums, ScanArgs s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var us = SharedMemory.Allocate<T>(Threads * Pitch);
        var dts = SharedMemory.Allocate<T>(Threads * Pitch);
        var bs = SharedMemory.Allocate<T>(Steps * States);
        var w = Where(s);
        Stage(u, delta, bias, us, dts, w, s);
        StageVector(b, bs, w, s);
        Group.Barrier();
        int aRow = w.D * s.N;
        T a0 = A(aLog, aRow, 0, s), a1 = A(aLog, aRow, 1, s), a2 = A(aLog, aRow, 2, s), a3 = A(aLog, aRow, 3, s), a4 = A(aLog, aRow, 4, s), a5 = A(aLog, aRow, 5, s), a6 = A(aLog, aRow, 6, s), a7 = A(aLog, aRow, 7, s), a8 = A(aLog, aRow, 8, s), a9 = A(aLog, aRow, 9, s), a10 = A(aLog, aRow, 10, s), a11 = A(aLog, aRow, 11, s), a12 = A(aLog, aRow, 12, s), a13 = A(aLog, aRow, 13, s), a14 = A(aLog, aRow, 14, s), a15 = A(aLog, aRow, 15, s);
        T x0 = T.Zero, x1 = T.Zero, x2 = T.Zero, x3 = T.Zero, x4 = T.Zero, x5 = T.Zero, x6 = T.Zero, x7 = T.Zero, x8 = T.Zero, x9 = T.Zero, x10 = T.Zero, x11 = T.Zero, x12 = T.Zero, x13 = T.Zero, x14 = T.Zero, x15 = T.Zero;
        T sum = T.Zero;
        int my = Group.IdxX * Pitch;
        for (int step = 0; step < w.Length; step++)
        {
            T dt = dts[my + step], du = dt * us[my + step];
            int row = step * States;
            sum += dt;
                x0 = T.Exp(dt * a0) * x0 + du * bs[row + 0];
                x1 = T.Exp(dt * a1) * x1 + du * bs[row + 1];
                x2 = T.Exp(dt * a2) * x2 + du * bs[row + 2];
                x3 = T.Exp(dt * a3) * x3 + du * bs[row + 3];
                x4 = T.Exp(dt * a4) * x4 + du * bs[row + 4];
                x5 = T.Exp(dt * a5) * x5 + du * bs[row + 5];
                x6 = T.Exp(dt * a6) * x6 + du * bs[row + 6];
                x7 = T.Exp(dt * a7) * x7 + du * bs[row + 7];
                x8 = T.Exp(dt * a8) * x8 + du * bs[row + 8];
                x9 = T.Exp(dt * a9) * x9 + du * bs[row + 9];
                x10 = T.Exp(dt * a10) * x10 + du * bs[row + 10];
                x11 = T.Exp(dt * a11) * x11 + du * bs[row + 11];
                x12 = T.Exp(dt * a12) * x12 + du * bs[row + 12];
                x13 = T.Exp(dt * a13) * x13 + du * bs[row + 13];
                x14 = T.Exp(dt * a14) * x14 + du * bs[row + 14];
                x15 = T.Exp(dt * a15) * x15 + du * bs[row + 15];
        }
        if (w.Live)
        {
            long item = ((long)w.Batch * s.D + w.D) * s.Chunks + w.Chunk, at = item * s.N;
            if (0 < s.N) states[at + 0] = x0;
            if (1 < s.N) states[at + 1] = x1;
            if (2 < s.N) states[at + 2] = x2;
            if (3 < s.N) states[at + 3] = x3;
            if (4 < s.N) states[at + 4] = x4;
            if (5 < s.N) states[at + 5] = x5;
            if (6 < s.N) states[at + 6] = x6;
            if (7 < s.N) states[at + 7] = x7;
            if (8 < s.N) states[at + 8] = x8;
            if (9 < s.N) states[at + 9] = x9;
            if (10 < s.N) states[at + 10] = x10;
            if (11 < s.N) states[at + 11] = x11;
            if (12 < s.N) states[at + 12] = x12;
            if (13 < s.N) states[at + 13] = x13;
            if (14 < s.N) states[at + 14] = x14;
            if (15 < s.N) states[at + 15] = x15;
            deltaSums[item] = sum;
        }
    }

    public static void ChunkOutputs<T>(ArrayView<T> u, ArrayView<T> delta, ArrayView<T> aLog, ArrayView<T> b, ArrayView<T> c,
        ArrayView<T> skip, ArrayView<T> z, ArrayView<T> bias, ArrayView<T> states, ArrayView<T> output, ScanArgs s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var us = SharedMemory.Allocate<T>(Threads * Pitch);
        var dts = SharedMemory.Allocate<T>(Threads * Pitch);
        var bs = SharedMemory.Allocate<T>(Steps * States);
        var cs = SharedMemory.Allocate<T>(Steps * States);
        var w = Where(s);
        Stage(u, delta, bias, us, dts, w, s);
        StageVector(b, bs, w, s);
        StageVector(c, cs, w, s);
        Group.Barrier();
        int aRow = w.D * s.N;
        long at = (((long)w.Batch * s.D + w.D) * s.Chunks + w.Chunk) * s.N;
        T a0 = A(aLog, aRow, 0, s), a1 = A(aLog, aRow, 1, s), a2 = A(aLog, aRow, 2, s), a3 = A(aLog, aRow, 3, s), a4 = A(aLog, aRow, 4, s), a5 = A(aLog, aRow, 5, s), a6 = A(aLog, aRow, 6, s), a7 = A(aLog, aRow, 7, s), a8 = A(aLog, aRow, 8, s), a9 = A(aLog, aRow, 9, s), a10 = A(aLog, aRow, 10, s), a11 = A(aLog, aRow, 11, s), a12 = A(aLog, aRow, 12, s), a13 = A(aLog, aRow, 13, s), a14 = A(aLog, aRow, 14, s), a15 = A(aLog, aRow, 15, s);
        T x0 = Start(states, at, 0, s), x1 = Start(states, at, 1, s), x2 = Start(states, at, 2, s), x3 = Start(states, at, 3, s), x4 = Start(states, at, 4, s), x5 = Start(states, at, 5, s), x6 = Start(states, at, 6, s), x7 = Start(states, at, 7, s), x8 = Start(states, at, 8, s), x9 = Start(states, at, 9, s), x10 = Start(states, at, 10, s), x11 = Start(states, at, 11, s), x12 = Start(states, at, 12, s), x13 = Start(states, at, 13, s), x14 = Start(states, at, 14, s), x15 = Start(states, at, 15, s);
        T dd = s.HasSkip != 0 ? skip[w.D] : T.Zero;
        int my = Group.IdxX * Pitch;
        for (int step = 0; step < w.Length; step++)
        {
            T ut = us[my + step], dt = dts[my + step], du = dt * ut;
            int row = step * States;
                x0 = T.Exp(dt * a0) * x0 + du * bs[row + 0];
                x1 = T.Exp(dt * a1) * x1 + du * bs[row + 1];
                x2 = T.Exp(dt * a2) * x2 + du * bs[row + 2];
                x3 = T.Exp(dt * a3) * x3 + du * bs[row + 3];
                x4 = T.Exp(dt * a4) * x4 + du * bs[row + 4];
                x5 = T.Exp(dt * a5) * x5 + du * bs[row + 5];
                x6 = T.Exp(dt * a6) * x6 + du * bs[row + 6];
                x7 = T.Exp(dt * a7) * x7 + du * bs[row + 7];
                x8 = T.Exp(dt * a8) * x8 + du * bs[row + 8];
                x9 = T.Exp(dt * a9) * x9 + du * bs[row + 9];
                x10 = T.Exp(dt * a10) * x10 + du * bs[row + 10];
                x11 = T.Exp(dt * a11) * x11 + du * bs[row + 11];
                x12 = T.Exp(dt * a12) * x12 + du * bs[row + 12];
                x13 = T.Exp(dt * a13) * x13 + du * bs[row + 13];
                x14 = T.Exp(dt * a14) * x14 + du * bs[row + 14];
                x15 = T.Exp(dt * a15) * x15 + du * bs[row + 15];
                T part = cs[row + 0] * x0 + cs[row + 1] * x1 + cs[row + 2] * x2 + cs[row + 3] * x3 + cs[row + 4] * x4 + cs[row + 5] * x5 + cs[row + 6] * x6 + cs[row + 7] * x7 + cs[row + 8] * x8 + cs[row + 9] * x9 + cs[row + 10] * x10 + cs[row + 11] * x11 + cs[row + 12] * x12 + cs[row + 13] * x13 + cs[row + 14] * x14 + cs[row + 15] * x15;
            us[my + step] = part + dd * ut;
        }
        Group.Barrier();
        for (int e = Group.IdxX; e < Threads * Steps; e += Threads)
        {
            int channel = e / Steps, step = e % Steps, local = w.First + channel;
            if (local >= s.D / s.G || step >= w.Length) continue;
            long o = ((long)w.Batch * s.D + w.GroupStart + local) * s.L + w.T0 + step;
            T y = us[channel * Pitch + step];
            if (s.HasGate != 0)
            {
                T zt = z[o];
                y *= zt / (T.One + T.Exp(-zt));
            }
            output[o] = y;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T A<T>(ArrayView<T> aLog, int row, int n, ScanArgs s) where T : unmanaged, IFloatingPointIeee754<T> =>
        n < s.N ? -T.Exp(aLog[row + n]) : T.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Start<T>(ArrayView<T> states, long at, int n, ScanArgs s) where T : unmanaged, IFloatingPointIeee754<T> =>
        n < s.N ? states[at + n] : T.Zero;

    /// <summary>A thread's place: its block's batch row, group, chunk and first channel (within the group), its own channel.</summary>
    private readonly record struct Position(int Batch, int Chunk, int T0, int Length, int GroupStart, int First, int D, bool Live, int Group);

    private static Position Where(ScanArgs s)
    {
        int perGroup = s.D / s.G, blocks = BlocksPerGroup(s);
        int id = Grid.IdxX, chunk = id % s.Chunks, rest = id / s.Chunks, sub = rest % blocks, bg = rest / blocks;
        int g = bg % s.G, batch = bg / s.G, first = sub * Threads, local = first + Group.IdxX;
        bool live = local < perGroup;
        int t0 = chunk * Steps;
        return new Position(batch, chunk, t0, Math.Min(Steps, s.L - t0), g * perGroup, first, g * perGroup + (live ? local : first), live, g);
    }

    /// <summary>u and softplus(delta + bias) of the block's channels for its chunk, coalesced along time, into rows of Pitch.</summary>
    private static void Stage<T>(ArrayView<T> u, ArrayView<T> delta, ArrayView<T> bias, ArrayView<T> us, ArrayView<T> dts, Position w, ScanArgs s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int perGroup = s.D / s.G;
        for (int e = Group.IdxX; e < Threads * Steps; e += Threads)
        {
            int channel = e / Steps, step = e % Steps, local = w.First + channel;
            bool on = local < perGroup && step < w.Length;
            int d = w.GroupStart + (on ? local : 0);
            long at = ((long)w.Batch * s.D + d) * s.L + w.T0 + step;
            us[channel * Pitch + step] = on ? u[at] : T.Zero;
            dts[channel * Pitch + step] = on ? SelectiveScanKernel.Softplus(delta[at] + (s.HasBias != 0 ? bias[d] : T.Zero)) : T.Zero;
        }
    }

    /// <summary>The group's b or c [B, G, N, L] for the chunk as [32 steps, 16 states], zeros past N and past the chunk's end.</summary>
    private static void StageVector<T>(ArrayView<T> source, ArrayView<T> target, Position w, ScanArgs s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long first = ((long)w.Batch * s.G + w.Group) * s.N * s.L + w.T0;
        for (int e = Group.IdxX; e < States * Steps; e += Threads)
        {
            int n = e / Steps, step = e % Steps;
            target[step * States + n] = n < s.N && step < w.Length ? source[first + (long)n * s.L + step] : T.Zero;
        }
    }
}
