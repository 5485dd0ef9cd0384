using System.Collections.Concurrent;
using System.Numerics;
using ILGPU;
using ILGPU.Runtime;
using Reference.Cuda.Kernels;

namespace Reference.Cuda;

/// <summary>
/// The CUDA path's operators on host arrays (float32 or float64): each call copies its inputs to
/// the device, launches the kernel(s), copies the result back and releases every device buffer
/// before returning (the buffers are <c>using</c>-scoped). The <c>Launch*</c> members take device
/// views instead, for callers that keep data on the device (the bench).
/// </summary>
public static partial class GpuOps
{
    private static readonly ConcurrentDictionary<(Accelerator, string, Type), Delegate> Kernels = new();

    private static TDelegate Kernel<TDelegate>(Accelerator accelerator, string name, Type type, Func<Accelerator, TDelegate> load)
        where TDelegate : Delegate =>
        (TDelegate)Kernels.GetOrAdd((accelerator, name, type), _ => load(accelerator));

    /// <summary>
    /// Launch bounds for a kernel of <paramref name="threads"/> threads that should keep <paramref name="groups"/>
    /// groups resident per multiprocessor (PTX .maxntid and .minnctapersm, so ptxas caps registers at
    /// 65536 / (threads groups)); on ILGPU's CPU accelerator, which has no such limit, none.
    /// </summary>
    private static KernelSpecialization Resident(Accelerator accelerator, int threads, int groups) =>
        accelerator.AcceleratorType == AcceleratorType.Cuda ? new KernelSpecialization(threads, groups) : KernelSpecialization.Empty;

    /// <summary>The device the ops run on (opened on first use; see <see cref="GpuDevice"/>).</summary>
    public static GpuDevice Device => GpuDevice.Shared;

    // ---------------------------------------------------------------- GEMM

    /// <summary>
    /// Batched row-major GEMM: out[z] (m x n) = alpha op(a[z]) op(b[z]) + beta c[z]; a holds batch
    /// matrices of m x k (k x m when transA), b of k x n (n x k when transB), c of m x n (read only
    /// when beta != 0; null means zeros).
    /// </summary>
    public static T[] Gemm<T>(bool transA, bool transB, int m, int n, int k, T alpha, T[] a, T[] b, T beta, T[]? c, int batch = 1)
        where T : unmanaged, INumber<T>
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (m < 0 || n < 0 || k < 0 || batch < 1) throw new ArgumentException($"GEMM sizes must be m, n, k >= 0 and batch >= 1; got m {m}, n {n}, k {k}, batch {batch}.", nameof(m));
        if (a.Length != (long)batch * m * k) throw new ArgumentException($"a has {a.Length} elements; expected batch * m * k = {(long)batch * m * k}.", nameof(a));
        if (b.Length != (long)batch * k * n) throw new ArgumentException($"b has {b.Length} elements; expected batch * k * n = {(long)batch * k * n}.", nameof(b));
        bool readC = beta != T.Zero && c is not null;
        if (readC && c!.Length != (long)batch * m * n) throw new ArgumentException($"c has {c.Length} elements; expected batch * m * n = {(long)batch * m * n}.", nameof(c));
        var result = new T[(long)batch * m * n];
        if (result.Length == 0) return result;
        var acc = Device.Accelerator;
        using var da = acc.Allocate1D(a.Length == 0 ? new T[1] : a);
        using var db = acc.Allocate1D(b.Length == 0 ? new T[1] : b);
        using var dc = readC ? acc.Allocate1D(c!) : acc.Allocate1D<T>(result.Length);
        LaunchGemm(transA, transB, m, n, k, alpha, da.View, db.View, readC ? beta : T.Zero, dc.View, batch);
        acc.Synchronize();
        dc.View.CopyToCPU(result);
        return result;
    }

    /// <summary>
    /// Whether the vector staging runs double-buffered with padded slices (<see cref="GemmKernel.KernelDoubleBuffered{T}"/>)
    /// or with one buffer and two barriers per slice (<see cref="GemmKernel.KernelVector{T}"/>); the bench times both.
    /// </summary>
    internal static bool GemmDoubleBuffered { get; set; } = true;

    /// <summary>
    /// Whether the double-buffered GEMM is compiled for two resident groups per multiprocessor (registers capped
    /// at 128: run 14 measured 147 registers, one group of 8 warps per multiprocessor); the bench times both.
    /// </summary>
    internal static bool GemmTwoGroupsPerMultiprocessor { get; set; } = true;

    /// <summary>Enqueues the batched GEMM on device views (see <see cref="Gemm{T}"/>; c is written, and read when beta != 0).</summary>
    public static void LaunchGemm<T>(bool transA, bool transB, int m, int n, int k, T alpha, ArrayView<T> a, ArrayView<T> b,
        T beta, ArrayView<T> c, int batch = 1) where T : unmanaged, INumber<T> =>
        LaunchGemm(transA, transB, m, n, k, alpha, a, b, beta, c, batch, vector: System.Runtime.CompilerServices.Unsafe.SizeOf<T>() == 4);

    /// <summary>
    /// The GEMM launch with the staging layout chosen: vector (16-byte reads of 4 rows; measured
    /// faster in float32, slower in float64 on the H200, bench/NOTES.md) or scalar (one padded array).
    /// </summary>
    internal static void LaunchGemm<T>(bool transA, bool transB, int m, int n, int k, T alpha, ArrayView<T> a, ArrayView<T> b,
        T beta, ArrayView<T> c, int batch, bool vector) where T : unmanaged, INumber<T>
    {
        var args = new GemmArgs(m, n, k,
            ARow: transA ? 1 : k, ACol: transA ? m : 1, BRow: transB ? 1 : n, BCol: transB ? k : 1, Ldc: n,
            ABatch: (long)m * k, BBatch: (long)k * n, CBatch: (long)m * n, ReadC: beta != T.Zero ? 1 : 0);
        var acc = Device.Accelerator;
        var kernel = !vector ? Kernel(acc, "gemm", typeof(T), x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, GemmArgs, T, T>(GemmKernel.Kernel))
            : GemmDoubleBuffered && GemmTwoGroupsPerMultiprocessor
            ? Kernel(acc, "gemm.double_buffered.two_groups", typeof(T), x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, GemmArgs, T, T>(
                GemmKernel.KernelDoubleBuffered, Resident(x, GemmKernel.Threads, 2)))
            : GemmDoubleBuffered
            ? Kernel(acc, "gemm.double_buffered", typeof(T), x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, GemmArgs, T, T>(GemmKernel.KernelDoubleBuffered))
            : Kernel(acc, "gemm.vector", typeof(T), x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, GemmArgs, T, T>(GemmKernel.KernelVector));
        kernel(GemmKernel.Config(args, batch), a, b, c, args, alpha, beta);
    }

    // ---------------------------------------------------------------- attention

    /// <summary>
    /// Causal softmax attention: q [B, Hq, L, K], k [B, Hkv, L, K], v [B, Hkv, L, V] (row-major,
    /// flattened) to out [B, Hq, L, V]; scale K^-1/2; window W &gt; 0 keeps keys (t - W, t].
    /// </summary>
    public static T[] CausalAttention<T>(T[] q, T[] k, T[] v, int batch, int hq, int hkv, int l, int kd, int vd, int window)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckAttention(q, k, v, batch, hq, hkv, l, kd, vd, window);
        var result = new T[(long)batch * hq * l * vd];
        if (result.Length == 0) return result;
        var acc = Device.Accelerator;
        using var dq = acc.Allocate1D(q);
        using var dk = acc.Allocate1D(k);
        using var dv = acc.Allocate1D(v);
        using var dout = acc.Allocate1D<T>(result.Length);
        LaunchCausalAttention<T>(dq.View, dk.View, dv.View, dout.View, batch, hq, hkv, l, kd, vd, window);
        acc.Synchronize();
        dout.View.CopyToCPU(result);
        return result;
    }

    /// <summary>
    /// Attention launch, float32 with K &lt;= 64 (<see cref="AttentionKernel.VectorFits"/>): 0 the vector kernel
    /// (<see cref="AttentionKernel.KernelVector{T}"/>), 1 the same with the heaviest causal query tiles first,
    /// 2 the same compiled for two resident groups per multiprocessor (registers capped at 128), 3 for three
    /// (capped at 85), 4 the scalar kernel (<see cref="AttentionKernel.Kernel{T}"/>); the bench times all five. Run 19
    /// on the H200 (bench/NOTES.md, "cuda7"): 6.36, 6.30, 6.41, 6.76 and 8.51 ms; 1 is within the spread of 0, so 0 stays.
    /// float64 and K &gt; 64 always take the scalar kernel.
    /// </summary>
    internal static int AttentionVariant { get; set; }

    public static void LaunchCausalAttention<T>(ArrayView<T> q, ArrayView<T> k, ArrayView<T> v, ArrayView<T> output,
        int batch, int hq, int hkv, int l, int kd, int vd, int window) where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool vector = AttentionVariant != 4 && AttentionKernel.VectorFits(System.Runtime.CompilerServices.Unsafe.SizeOf<T>(), kd);
        var args = new AttentionArgs(hq, hkv, l, kd, vd, window, vector && AttentionVariant == 1 ? 1 : 0);
        var acc = Device.Accelerator;
        var kernel = !vector
            ? Kernel(acc, "attention", typeof(T),
                x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, AttentionArgs, T>(AttentionKernel.Kernel))
            : AttentionVariant is 2 or 3
            ? Kernel(acc, AttentionVariant == 2 ? "attention.vector.two_groups" : "attention.vector.three_groups", typeof(T),
                x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, AttentionArgs, T>(
                    AttentionKernel.KernelVector, Resident(x, 256, AttentionVariant)))
            : Kernel(acc, "attention.vector", typeof(T),
                x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, AttentionArgs, T>(AttentionKernel.KernelVector));
        kernel(AttentionKernel.Config(args, batch), q, k, v, output, args, T.One / T.Sqrt(T.CreateTruncating(kd)));
    }

    private static void CheckAttention<T>(T[] q, T[] k, T[] v, int batch, int hq, int hkv, int l, int kd, int vd, int window)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        if (batch < 1 || hq < 1 || hkv < 1 || l < 0 || kd < 1 || vd < 1)
            throw new ArgumentException($"attention needs B, Hq, Hkv, K, V >= 1 and L >= 0; got B {batch}, Hq {hq}, Hkv {hkv}, L {l}, K {kd}, V {vd}.", nameof(batch));
        if (hq % hkv != 0) throw new ArgumentException($"Hkv = {hkv} must divide Hq = {hq}.", nameof(hkv));
        if (window < 0) throw new ArgumentException($"window must be >= 0 (0 = full causal); got {window}.", nameof(window));
        if (q.Length != (long)batch * hq * l * kd) throw new ArgumentException($"q has {q.Length} elements; expected B Hq L K = {(long)batch * hq * l * kd}.", nameof(q));
        if (k.Length != (long)batch * hkv * l * kd) throw new ArgumentException($"k has {k.Length} elements; expected B Hkv L K = {(long)batch * hkv * l * kd}.", nameof(k));
        if (v.Length != (long)batch * hkv * l * vd) throw new ArgumentException($"v has {v.Length} elements; expected B Hkv L V = {(long)batch * hkv * l * vd}.", nameof(v));
    }

    // ---------------------------------------------------------------- causal convolution

    /// <summary>y[c, t] = sum_{j &lt;= min(t, Lk - 1)} k[c, j] u[c, t - j]; u [C, L], k [C, Lk] flattened, y [C, L].</summary>
    public static T[] CausalConvolution<T>(T[] u, T[] k, int channels, int l, int kernelLength, ConvolutionPath path = ConvolutionPath.Auto)
        where T : unmanaged, INumber<T>
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(k);
        if (channels < 1 || l < 0 || kernelLength < 1)
            throw new ArgumentException($"convolution needs C >= 1, L >= 0, Lk >= 1; got C {channels}, L {l}, Lk {kernelLength}.", nameof(channels));
        if (u.Length != (long)channels * l) throw new ArgumentException($"u has {u.Length} elements; expected C L = {(long)channels * l}.", nameof(u));
        if (k.Length != (long)channels * kernelLength) throw new ArgumentException($"k has {k.Length} elements; expected C Lk = {(long)channels * kernelLength}.", nameof(k));
        var result = new T[u.Length];
        if (result.Length == 0) return result;
        var acc = Device.Accelerator;
        using var du = acc.Allocate1D(u);
        using var dk = acc.Allocate1D(k);
        using var dy = acc.Allocate1D<T>(result.Length);
        LaunchCausalConvolution<T>(du.View, dk.View, dy.View, channels, l, kernelLength, path);
        acc.Synchronize();
        dy.View.CopyToCPU(result);
        return result;
    }

    /// <summary>Which causal convolution kernel runs: by kernel length (auto), the direct sum, or the FFT.</summary>
    public enum ConvolutionPath { Auto, Direct, Fft }

    /// <summary>Taps up to which the direct sum runs (auto): below this the FFT's fixed passes cost more than L Lk FMAs.</summary>
    public const int DirectConvolutionTaps = 64;

    /// <summary>
    /// Enqueues the causal convolution on device views: the direct Toeplitz sum for min(L, Lk) &lt;= <see cref="DirectConvolutionTaps"/>,
    /// else the FFT (<see cref="FftConvolutionKernel"/>), whose workspace of <see cref="ConvolutionWorkspaceLength"/> elements is
    /// <paramref name="workspace"/> when given (a caller that launches repeatedly keeps one), else allocated for the call
    /// and released after a synchronize.
    /// </summary>
    public static void LaunchCausalConvolution<T>(ArrayView<T> u, ArrayView<T> k, ArrayView<T> y, int channels, int l, int kernelLength,
        ConvolutionPath path = ConvolutionPath.Auto, ArrayView<T> workspace = default) where T : unmanaged, INumber<T>
    {
        if (channels < 1 || l < 1 || kernelLength < 1) return;
        var acc = Device.Accelerator;
        bool fft = path == ConvolutionPath.Fft || (path == ConvolutionPath.Auto && Math.Min(l, kernelLength) > DirectConvolutionTaps);
        if (fft && FftArgs(channels, l, kernelLength) is { } args)
        {
            long need = ConvolutionWorkspaceLength<T>(channels, l, kernelLength);
            if (workspace.Length >= need)
            {
                LaunchFftConvolution(u, k, y, workspace, args);
                return;
            }
            using var owned = acc.Allocate1D<T>(need);
            LaunchFftConvolution(u, k, y, owned.View, args);
            acc.Synchronize();
            return;
        }
        var direct = new ConvolutionArgs(channels, l, kernelLength);
        var kernel = Kernel(acc, "conv", typeof(T),
            x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, ConvolutionArgs>(CausalConvolutionKernel.Kernel));
        kernel(CausalConvolutionKernel.Config(direct), u, k, y, direct);
    }

    /// <summary>The transform shape for u [C, L], k [C, Lk]: N = 2^ceil(log2(L + min(L, Lk) - 1)); null past 2^22 (the direct sum then runs).</summary>
    private static FftConvolutionArgs? FftArgs(int channels, int l, int kernelLength)
    {
        long span = (long)l + Math.Min(l, kernelLength) - 1;
        int logN = 0;
        while ((1L << logN) < span) logN++;
        if (logN > FftConvolutionKernel.MaxLogN) return null;
        return new FftConvolutionArgs(channels, l, kernelLength, logN / 2, logN - logN / 2);
    }

    /// <summary>Elements of T the FFT convolution's workspace takes: packed spectra (2 C N), pair spectra (2 ceil(C/2) N), twiddles (2 N), scales and weights (2 C).</summary>
    public static long ConvolutionWorkspaceLength<T>(int channels, int l, int kernelLength) where T : unmanaged, INumber<T> =>
        FftArgs(channels, l, kernelLength) is { } s ? 2L * s.N * (s.Channels + s.Pairs + 1) + 2L * s.Channels : 0;

    private static void LaunchFftConvolution<T>(ArrayView<T> u, ArrayView<T> k, ArrayView<T> y, ArrayView<T> workspace, FftConvolutionArgs s)
        where T : unmanaged, INumber<T>
    {
        var acc = Device.Accelerator;
        long spectrumLength = 2L * s.N * s.Channels, pairsLength = 2L * s.N * s.Pairs;
        var spectrum = workspace.SubView(0, spectrumLength);
        var pairs = workspace.SubView(spectrumLength, pairsLength);
        var table = workspace.SubView(spectrumLength + pairsLength, 2L * s.N);
        var scale = workspace.SubView(spectrumLength + pairsLength + 2L * s.N, 2L * s.Channels);
        if (typeof(T) == typeof(float))
        {
            var twiddle = Kernel(acc, "fftconv.twiddle", typeof(float), x => x.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int>(FftConvolutionKernel.TwiddleSingle));
            twiddle(s.N, table.Cast<float>(), s.N);
            FftStages(u.Cast<float>(), k.Cast<float>(), y.Cast<float>(), spectrum.Cast<float>(), pairs.Cast<float>(), table.Cast<float>(), scale.Cast<float>(), s);
        }
        else if (typeof(T) == typeof(double))
        {
            var twiddle = Kernel(acc, "fftconv.twiddle", typeof(double), x => x.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, int>(FftConvolutionKernel.TwiddleDouble));
            twiddle(s.N, table.Cast<double>(), s.N);
            FftStages(u.Cast<double>(), k.Cast<double>(), y.Cast<double>(), spectrum.Cast<double>(), pairs.Cast<double>(), table.Cast<double>(), scale.Cast<double>(), s);
        }
        else throw new NotSupportedException($"the FFT convolution runs in float32 or float64, not {typeof(T).Name}.");
    }

    private static void FftStages<T>(ArrayView<T> u, ArrayView<T> k, ArrayView<T> y, ArrayView<T> spectrum, ArrayView<T> pairs, ArrayView<T> table,
        ArrayView<T> scale, FftConvolutionArgs s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var acc = Device.Accelerator;
        var scaleKernel = Kernel(acc, "fftconv.scale", typeof(T),
            x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, FftConvolutionArgs>(FftConvolutionKernel.Scale));
        var columns = Kernel(acc, "fftconv.columns", typeof(T),
            x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, FftConvolutionArgs>(FftConvolutionKernel.ForwardColumns));
        var rows = Kernel(acc, "fftconv.rows", typeof(T),
            x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>, FftConvolutionArgs, int>(FftConvolutionKernel.Rows));
        var product = Kernel(acc, "fftconv.product", typeof(T),
            x => x.LoadAutoGroupedStreamKernel<Index2D, ArrayView<T>, ArrayView<T>, ArrayView<T>, T, FftConvolutionArgs>(FftConvolutionKernel.Product));
        var inverse = Kernel(acc, "fftconv.inverse", typeof(T),
            x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, FftConvolutionArgs>(FftConvolutionKernel.InverseColumns));
        scaleKernel(FftConvolutionKernel.ScaleConfig(s), u, k, scale, s);
        columns(FftConvolutionKernel.ColumnConfig(s, s.Channels), u, k, scale, spectrum, table, s);
        rows(FftConvolutionKernel.RowConfig(s, s.Channels), spectrum, table, s, 0);
        product(new Index2D(s.N, s.Pairs), spectrum, scale, pairs, T.One / T.CreateTruncating(s.N), s);
        rows(FftConvolutionKernel.RowConfig(s, s.Pairs), pairs, table, s, 1);
        inverse(FftConvolutionKernel.ColumnConfig(s, s.Pairs), pairs, table, scale, y, s);
    }

    // ---------------------------------------------------------------- selective scan

    /// <summary>The largest state size the scan kernel holds (two states per lane, 32 lanes).</summary>
    public const int MaxScanStates = 64;

    /// <summary>
    /// The Mamba S6 selective scan in selective_scan_ref's layout: u, delta [B, D, L], a_log [D, N],
    /// b, c [B, G, N, L], optional d [D], z [B, D, L], delta_bias [D]; out [B, D, L]. N &lt;= 64.
    /// </summary>
    public static T[] SelectiveScan<T>(T[] u, T[] delta, T[] aLog, T[] b, T[] c, T[]? d, T[]? z, T[]? deltaBias,
        int batch, int channels, int l, int n, int groups) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = ScanShape(batch, channels, l, n, groups, d is not null, z is not null, deltaBias is not null);
        long bdl = (long)batch * channels * l, bgnl = (long)batch * groups * n * l;
        Expect(u, bdl, nameof(u)); Expect(delta, bdl, nameof(delta)); Expect(aLog, (long)channels * n, nameof(aLog));
        Expect(b, bgnl, nameof(b)); Expect(c, bgnl, nameof(c));
        if (d is not null) Expect(d, channels, nameof(d));
        if (z is not null) Expect(z, bdl, nameof(z));
        if (deltaBias is not null) Expect(deltaBias, channels, nameof(deltaBias));
        var result = new T[bdl];
        if (bdl == 0) return result;
        var acc = Device.Accelerator;
        using var du = acc.Allocate1D(u);
        using var ddelta = acc.Allocate1D(delta);
        using var da = acc.Allocate1D(aLog);
        using var dbm = acc.Allocate1D(b);
        using var dcm = acc.Allocate1D(c);
        using var dd = acc.Allocate1D(d ?? new T[1]);
        using var dz = acc.Allocate1D(z ?? new T[1]);
        using var dbias = acc.Allocate1D(deltaBias ?? new T[1]);
        using var states = acc.Allocate1D<T>((long)s.Items * n);
        using var sums = acc.Allocate1D<T>(s.Items);
        using var bt = acc.Allocate1D<T>(bgnl);
        using var ct = acc.Allocate1D<T>(bgnl);
        using var dout = acc.Allocate1D<T>(bdl);
        LaunchSelectiveScan<T>(s, du.View, ddelta.View, da.View, dbm.View, dcm.View, dd.View, dz.View, dbias.View,
            states.View, sums.View, bt.View, ct.View, dout.View);
        acc.Synchronize();
        dout.View.CopyToCPU(result);
        return result;
    }

    /// <summary>
    /// The launch shape of a scan (lanes per channel, chunks); the workspace needs Items N states,
    /// Items sums, and two time-major copies of b and c (B G L N each).
    /// </summary>
    internal static ScanArgs ScanShape(int batch, int channels, int l, int n, int groups, bool skip, bool gate, bool bias)
    {
        if (batch < 1 || channels < 1 || l < 0 || n < 1 || groups < 1)
            throw new ArgumentException($"scan needs B, D, N, G >= 1 and L >= 0; got B {batch}, D {channels}, L {l}, N {n}, G {groups}.", nameof(batch));
        if (channels % groups != 0) throw new ArgumentException($"groups G = {groups} must divide D = {channels}.", nameof(groups));
        if (n > MaxScanStates) throw new NotSupportedException($"the scan kernel holds N <= {MaxScanStates} states per channel; got N = {n}.");
        int lanes = Math.Clamp((int)BitOperations.RoundUpToPowerOf2((uint)n), SelectiveScanKernel.MinLanes, 32);
        int chunks = Math.Max(1, (l + SelectiveScanKernel.ChunkLength - 1) / SelectiveScanKernel.ChunkLength);
        return new ScanArgs(batch, channels, l, n, groups, lanes, chunks, skip ? 1 : 0, gate ? 1 : 0, bias ? 1 : 0);
    }

    /// <summary>
    /// Which one-pass float32 scan runs (the bench times all three on the H200, bench/NOTES.md "CUDA path, sixth
    /// session"): 0 <see cref="SelectiveScanWarpKernel.Scan{T}"/>, 1 <see cref="SelectiveScanWarpKernel.ScanPaired{T}"/>
    /// (states in pairs), 2 the same with the next window prefetched into registers; 3 and 4 are 1 and 2 compiled
    /// for two resident groups per multiprocessor (registers capped at 128; run 14 measured 240 registers, so one
    /// group of 8 warps per multiprocessor and the 256 groups of D 2048 in two waves); 5
    /// <see cref="SelectiveScanWarpKernel.ScanPairedVector{T}"/> (4 with 16-byte reads of the staged b and c, the lane
    /// scan written out and whole windows loaded unchecked), capped as 4: 0.205 ms against 0.247 ms for 4 in run 19;
    /// 6 and 7 <see cref="SelectiveScanSequentialKernel.Scan{TBlock}"/> (a thread per channel and state, sequential over time,
    /// no lane scan) with 16 and 8 channels a block: 0.221-0.227 and 0.218-0.222 ms against 0.213-0.224 ms for 5 in the
    /// same H200 run (bench/NOTES.md, "scanseq"), so 5 stays the default; 8 and 9 the same sequential scan with time
    /// cut into segments (<see cref="SelectiveScanSequentialKernel.SegmentStates"/> then
    /// <see cref="SelectiveScanSequentialKernel.SegmentOutputs"/>, which folds the carry into its prologue), 9 compiled for
    /// three resident groups per multiprocessor (registers capped at 85): 0.246-0.248 ms at the shape's 256-step segments, 0.216 ms
    /// for 8 at 1024, against 0.210-0.214 ms for 5 in the same H200 run, so 5 stays the default (bench/NOTES.md, "scanseg on the H200");
    /// 10 <see cref="SelectiveScanWarpKernel.ScanPairedFast"/> (5 with one-instruction exponentials, a predicated lane scan, one
    /// shuffle per state for the lanes' start states and the carry, 16-byte loads of whole windows when the views are aligned and
    /// a softplus without division; 67.6 M warp instructions against 5's 101.2 M by ncu): 0.160-0.164 ms against 0.209-0.216 ms
    /// for 5 in the same H200 run, golden 72/72 with it, so 10 is the default (bench/NOTES.md, "scanfast on the H200");
    /// 11, 12 and 13 <see cref="SelectiveScanWarpKernel.ScanSplit{TStates}"/> (10 with a channel's states split over two warps,
    /// one state at a time and no register prefetch, for twice the warps per multiprocessor): 11 the states written out for
    /// four resident groups (64 registers), 12 the same for three (85 registers), 13 a loop over the states for four: not yet
    /// measured on the H200 (bench/NOTES.md, "scan11").
    /// </summary>
    internal static int WarpScanVariant { get; set; } = 10;

    private static int scanSegmentLength;

    /// <summary>
    /// The segment length of scan variants 8 and 9 in steps: 0 (the default) takes
    /// <see cref="SelectiveScanSequentialKernel.SegmentLength"/> for the shape and the device's multiprocessors; the
    /// bench and the tests set others to sweep and to cross segment edges.
    /// </summary>
    internal static int ScanSegmentLength
    {
        get => scanSegmentLength;
        set
        {
            if (value < 0 || value % SelectiveScanSequentialKernel.Chunk != 0)
                throw new ArgumentOutOfRangeException(nameof(value), value,
                    $"the scan's segment length must be 0 (from the shape) or a positive multiple of {SelectiveScanSequentialKernel.Chunk} steps.");
            scanSegmentLength = value;
        }
    }

    internal static void LaunchSelectiveScan<T>(ScanArgs s, ArrayView<T> u, ArrayView<T> delta, ArrayView<T> aLog, ArrayView<T> b,
        ArrayView<T> c, ArrayView<T> d, ArrayView<T> z, ArrayView<T> bias, ArrayView<T> states, ArrayView<T> sums,
        ArrayView<T> bt, ArrayView<T> ct, ArrayView<T> output) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var acc = Device.Accelerator;
        var transpose = Kernel(acc, "scan.time_major", typeof(T), x => x.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>,
            ScanArgs>(SelectiveScanKernel.TimeMajor));
        var first = Kernel(acc, "scan.states", typeof(T), x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>,
            ArrayView<T>, ArrayView<T>, ArrayView<T>, ScanArgs>(SelectiveScanKernel.ChunkStates));
        var carry = Kernel(acc, "scan.carry", typeof(T), x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>,
            ArrayView<T>, ScanArgs>(SelectiveScanKernel.CarryStates));
        var outputs = Kernel(acc, "scan.outputs", typeof(T), x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>,
            ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ScanArgs>(SelectiveScanKernel.ChunkOutputs));
        int bgnl = s.B * s.G * s.N * s.L;
        if (bgnl == 0) return;
        if (SelectiveScanWarpKernel.Applies<T>(s))
        {
            // float32, N <= 16: one pass, a warp per channel, the state carried window by window.
            if (WarpScanVariant == 0)
            {
                var scan = Kernel(acc, "scan.warp", typeof(T), x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>,
                    ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ScanArgs>(SelectiveScanWarpKernel.Scan));
                scan(SelectiveScanWarpKernel.Config(s), u, delta, aLog, b, c, d, z, bias, output, s);
                return;
            }
            if (WarpScanVariant is 6 or 7 && SelectiveScanSequentialKernel.Applies<T>(s))
            {
                bool sixteen = WarpScanVariant == 6;
                var sequential = Kernel(acc, sixteen ? "scan.sequential.16" : "scan.sequential.8", typeof(T), x => x.LoadStreamKernel<ArrayView<float>,
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                    ArrayView<float>, ScanArgs>(sixteen ? SelectiveScanSequentialKernel.Scan<SelectiveScanSequentialKernel.SixteenChannels>
                        : SelectiveScanSequentialKernel.Scan<SelectiveScanSequentialKernel.EightChannels>));
                var config = sixteen ? SelectiveScanSequentialKernel.Config<SelectiveScanSequentialKernel.SixteenChannels>(s)
                    : SelectiveScanSequentialKernel.Config<SelectiveScanSequentialKernel.EightChannels>(s);
                sequential(config, u.Cast<float>(), delta.Cast<float>(), aLog.Cast<float>(), b.Cast<float>(),
                    c.Cast<float>(), d.Cast<float>(), z.Cast<float>(), bias.Cast<float>(), output.Cast<float>(), s);
                return;
            }
            if (WarpScanVariant is 8 or 9 && SelectiveScanSequentialKernel.Applies<T>(s))
            {
                LaunchSegmentedScan(s, u.Cast<float>(), delta.Cast<float>(), aLog.Cast<float>(), b.Cast<float>(), c.Cast<float>(),
                    d.Cast<float>(), z.Cast<float>(), bias.Cast<float>(), states.Cast<float>(), sums.Cast<float>(), output.Cast<float>(),
                    WarpScanVariant == 9);
                return;
            }
            if (WarpScanVariant == 10)
            {
                var fast = Kernel(acc, "scan.warp.paired.fast", typeof(T), x => x.LoadStreamKernel<ArrayView<float>, ArrayView<float>,
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                    ScanArgs, int>(SelectiveScanWarpKernel.ScanPairedFast, Resident(x, SelectiveScanWarpKernel.Threads, 2)));
                bool aligned = s.L % 4 == 0 && Aligned16(u) && Aligned16(delta) && Aligned16(b) && Aligned16(c);
                fast(SelectiveScanWarpKernel.Config(s), u.Cast<float>(), delta.Cast<float>(), aLog.Cast<float>(), b.Cast<float>(),
                    c.Cast<float>(), d.Cast<float>(), z.Cast<float>(), bias.Cast<float>(), output.Cast<float>(), s, aligned ? 1 : 0);
                return;
            }
            if (WarpScanVariant is 11 or 12 or 13)
            {
                // 11: the states written out, four resident groups (64 registers, 32 warps per multiprocessor); 12: the same,
                // three groups (85 registers, 24 warps); 13: a loop over the states, four groups.
                int groups = WarpScanVariant == 12 ? 3 : 4;
                var split = WarpScanVariant == 13
                    ? Kernel(acc, "scan.warp.split.looped", typeof(T), x => x.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
                        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ScanArgs, int>(
                        SelectiveScanWarpKernel.ScanSplit<SelectiveScanWarpKernel.StatesLooped>, Resident(x, SelectiveScanWarpKernel.Threads, 4)))
                    : Kernel(acc, groups == 4 ? "scan.warp.split.four_groups" : "scan.warp.split.three_groups", typeof(T), x => x.LoadStreamKernel<
                        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                        ArrayView<float>, ArrayView<float>, ScanArgs, int>(SelectiveScanWarpKernel.ScanSplit<SelectiveScanWarpKernel.StatesWrittenOut>,
                        Resident(x, SelectiveScanWarpKernel.Threads, groups)));
                bool aligned = s.L % 4 == 0 && Aligned16(u) && Aligned16(delta) && Aligned16(b) && Aligned16(c) && Aligned16(output)
                    && (s.HasGate == 0 || Aligned16(z));
                split(SelectiveScanWarpKernel.SplitConfig(s), u.Cast<float>(), delta.Cast<float>(), aLog.Cast<float>(), b.Cast<float>(),
                    c.Cast<float>(), d.Cast<float>(), z.Cast<float>(), bias.Cast<float>(), output.Cast<float>(), s, aligned ? 1 : 0);
                return;
            }
            if (WarpScanVariant == 5)
            {
                var vector = Kernel(acc, "scan.warp.paired.vector", typeof(T), x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>,
                    ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ScanArgs>(
                    SelectiveScanWarpKernel.ScanPairedVector, Resident(x, SelectiveScanWarpKernel.Threads, 2)));
                vector(SelectiveScanWarpKernel.Config(s), u, delta, aLog, b, c, d, z, bias, output, s);
                return;
            }
            bool capped = WarpScanVariant >= 3;
            var paired = Kernel(acc, capped ? "scan.warp.paired.two_groups" : "scan.warp.paired", typeof(T), x => x.LoadStreamKernel<ArrayView<T>,
                ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ScanArgs, int>(
                SelectiveScanWarpKernel.ScanPaired, capped ? Resident(x, SelectiveScanWarpKernel.Threads, 2) : KernelSpecialization.Empty));
            paired(SelectiveScanWarpKernel.Config(s), u, delta, aLog, b, c, d, z, bias, output, s, WarpScanVariant is 2 or 4 ? 1 : 0);
            return;
        }
        if (SelectiveScanRegisterKernel.Applies(s))
        {
            // float64, N <= 16: one thread per channel, states in registers, b and c read from their own layout.
            var firstR = Kernel(acc, "scan.states.registers", typeof(T), x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>,
                ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ScanArgs>(SelectiveScanRegisterKernel.ChunkStates));
            var outputsR = Kernel(acc, "scan.outputs.registers", typeof(T), x => x.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>,
                ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ScanArgs>(SelectiveScanRegisterKernel.ChunkOutputs));
            if (s.Chunks > 1)
            {
                firstR(SelectiveScanRegisterKernel.Config(s), u, delta, aLog, b, bias, states, sums, s);
                carry(SelectiveScanKernel.CarryConfig(s), aLog, states, sums, s);
            }
            else
            {
                states.MemSetToZero();
            }
            outputsR(SelectiveScanRegisterKernel.Config(s), u, delta, aLog, b, c, d, z, bias, states, output, s);
            return;
        }
        transpose(bgnl, b, bt, s);
        transpose(bgnl, c, ct, s);
        if (s.Chunks > 1)
        {
            first(SelectiveScanKernel.ChunkConfig(s), u, delta, aLog, bt, bias, states, sums, s);
            carry(SelectiveScanKernel.CarryConfig(s), aLog, states, sums, s);
        }
        else
        {
            states.MemSetToZero();
        }
        outputs(SelectiveScanKernel.ChunkConfig(s), u, delta, aLog, bt, ct, d, z, bias, states, output, s);
    }

    /// <summary>Whether a view starts on a 16-byte boundary (device buffers do; a sub-view may not), so kernels may read it in 16-byte groups.</summary>
    private static bool Aligned16<T>(ArrayView<T> view) where T : unmanaged => view.LoadEffectiveAddressAsPtr().ToInt64() % 16 == 0;

    /// <summary>
    /// Scan variants 8 and 9: the segments' end states from zero (every segment but the last), then every segment from
    /// its carried start state; the workspace's states (B D Chunks N) and sums (B D Chunks) hold B D S and B D S N
    /// values, S &lt;= Chunks since a segment is at least one chunk.
    /// </summary>
    private static void LaunchSegmentedScan(ScanArgs s, ArrayView<float> u, ArrayView<float> delta, ArrayView<float> aLog,
        ArrayView<float> b, ArrayView<float> c, ArrayView<float> d, ArrayView<float> z, ArrayView<float> bias,
        ArrayView<float> states, ArrayView<float> sums, ArrayView<float> output, bool capped)
    {
        var acc = Device.Accelerator;
        int length = ScanSegmentLength > 0 ? ScanSegmentLength : SelectiveScanSequentialKernel.SegmentLength(s, acc.NumMultiprocessors);
        int groups = capped ? 3 : 1;
        var first = Kernel(acc, capped ? "scan.segmented.states.three_groups" : "scan.segmented.states", typeof(float), x => x.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ScanArgs, int>(
            SelectiveScanSequentialKernel.SegmentStates, capped ? Resident(x, SelectiveScanSequentialKernel.SegmentThreads, groups) : KernelSpecialization.Empty));
        var outputs = Kernel(acc, capped ? "scan.segmented.outputs.three_groups" : "scan.segmented.outputs", typeof(float), x => x.LoadStreamKernel<
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ScanArgs, int>(
            SelectiveScanSequentialKernel.SegmentOutputs, capped ? Resident(x, SelectiveScanSequentialKernel.SegmentThreads, groups) : KernelSpecialization.Empty));
        if (SelectiveScanSequentialKernel.Segments(s, length) > 1)
            first(SelectiveScanSequentialKernel.StatesConfig(s, length), u, delta, aLog, b, bias, states, sums, s, length);
        outputs(SelectiveScanSequentialKernel.OutputsConfig(s, length), u, delta, aLog, b, c, d, z, bias, output, states, sums, s, length);
    }

    private static void Expect<T>(T[] x, long length, string name)
    {
        ArgumentNullException.ThrowIfNull(x, name);
        if (x.Length != length) throw new ArgumentException($"{name} has {x.Length} elements; expected {length}.", name);
    }
}
