using System.Numerics;
using ILGPU;
using ILGPU.Runtime;

namespace Reference.Cuda.Kernels;

/// <summary>Shapes of one causal convolution launch: u [C, L], k [C, Lk], y [C, L].</summary>
internal readonly record struct ConvolutionArgs(int Channels, int L, int KernelLength);

/// <summary>
/// Causal convolution y[c, t] = sum_{j = 0..min(t, Lk - 1)} k[c, j] u[c, t - j] as a tiled Toeplitz
/// product (the direct sum of <c>FftConvolution.NaiveCausal</c>, O(L Lk) per channel; the GPU
/// counterpart of the CPU's direct path for short kernels). A block of 256 threads owns 4096
/// consecutive outputs of one channel; taps come in slices of 256 with the matching stretch of u
/// (4096 + 255 values) staged in shared memory. Each thread owns 16 consecutive outputs and keeps
/// the 16 inputs they need at tap j in registers: at tap j + 1 the window slides by one, the value
/// that enters being the one its left neighbour lane just let go (a warp shuffle; lane 0 reads it
/// from shared memory), so each tap costs 16 FMAs, one shuffle and one broadcast read of the tap.
/// <para>Accumulation order: per output, taps j ascending in one running sum (the direct sum's order).</para>
/// </summary>
internal static class CausalConvolutionKernel
{
    public const int Outputs = 4096;
    private const int TapSlice = 256;
    private const int Window = Outputs + TapSlice;

    public static KernelConfig Config(ConvolutionArgs s) =>
        new(new Index3D((s.L + Outputs - 1) / Outputs, s.Channels, 1), new Index3D(256, 1, 1));

    public static void Kernel<T>(ArrayView<T> u, ArrayView<T> k, ArrayView<T> y, ConvolutionArgs s) where T : unmanaged, INumber<T>
    {
        var us = SharedMemory.Allocate<T>(Window);
        var ks = SharedMemory.Allocate<T>(TapSlice);
        int tid = Group.IdxX, lane = Warp.LaneIdx;
        int t0 = Grid.IdxX * Outputs, channel = Grid.IdxY;
        long uBase = (long)channel * s.L, kBase = (long)channel * s.KernelLength;
        int taps = Math.Min(s.KernelLength, t0 + Outputs);
        var y0 = default(Row8<T>); var y1 = default(Row8<T>);

        for (int j0 = 0; j0 < taps; j0 += TapSlice)
        {
            // us[x] = u[t0 - j0 - 255 + x]: every input the 4096 outputs need for taps j0 .. j0 + 255.
            int first = t0 - j0 - (TapSlice - 1);
            for (int x = tid; x < Window; x += 256)
            {
                int t = first + x;
                us[x] = t >= 0 && t < s.L ? u[uBase + t] : T.Zero;
            }
            for (int x = tid; x < TapSlice; x += 256)
                ks[x] = j0 + x < s.KernelLength ? k[kBase + j0 + x] : T.Zero;
            Group.Barrier();

            // Output t0 + 16 tid + i reads us[16 tid + i - jj + 255] at tap j0 + jj.
            int at = 16 * tid + TapSlice - 1;
            var w0 = new Row8<T>(us[at], us[at + 1], us[at + 2], us[at + 3], us[at + 4], us[at + 5], us[at + 6], us[at + 7]);
            var w1 = new Row8<T>(us[at + 8], us[at + 9], us[at + 10], us[at + 11], us[at + 12], us[at + 13], us[at + 14], us[at + 15]);
            int slice = Math.Min(TapSlice, taps - j0);
            for (int jj = 0; jj < slice; jj++)
            {
                T tap = ks[jj];
                y0 = Row8<T>.Fma(y0, w0, tap);
                y1 = Row8<T>.Fma(y1, w1, tap);
                T entering = Warp.ShuffleUp(w1.X7, 1);
                int from = at - jj - 1;
                if (lane == 0) entering = from >= 0 ? us[from] : T.Zero;
                w1 = Row8<T>.ShiftIn(w1, w0.X7);
                w0 = Row8<T>.ShiftIn(w0, entering);
            }
            Group.Barrier();
        }

        int tOut = t0 + 16 * tid;
        for (int i = 0; i < 8; i++)
        {
            if (tOut + i < s.L) y[uBase + tOut + i] = y0.Get(i);
            if (tOut + 8 + i < s.L) y[uBase + tOut + 8 + i] = y1.Get(i);
        }
    }
}
