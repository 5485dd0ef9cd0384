using System.Diagnostics;
using System.Numerics;
using ILGPU;
using ILGPU.Runtime;
using Reference.Core;
using Reference.Cuda;
using Reference.Golden;

namespace Reference.Cuda.Bench;

/// <summary>
/// The CUDA path's bench on the issue's shapes (float32): GEMM 4096^3, causal attention B 4 H 16
/// L 4096 D 64, causal convolution C 1024 L 16384 (kernel as long as the input), selective scan
/// B 1 D 2048 N 16 L 4096; plus the device-to-device copy rate (the memory ceiling). Inputs are
/// random (never zeros), each op is checked against a float64 evaluation on the host at sampled
/// outputs, and each time is the median of repeated launches, each followed by a synchronize
/// (the first launch, which compiles the kernel, is not counted). bench/cuda/torch_bench.py times
/// PyTorch on the same shapes. Usage: Reference.Cuda.Bench [scan | conv] | golden DIR [cuda|cuda64] | ptx 5|10|11|12|13.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        // golden DIR [BACKEND [SCAN_VARIANT]]: the golden set on the backend, with the float32 scan variant of GpuOps.WarpScanVariant.
        if (args.Length >= 4 && args[0] == "golden") GpuOps.WarpScanVariant = int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture);
        if (args.Length >= 2 && args[0] == "golden") return Golden(args[1], args.Length > 2 ? args[2] : "cuda");
        // ptx VARIANT: the PTX ILGPU generates for scan variant 5 or 10 to 13 on sm_90, without a GPU (no device is opened).
        if (args.Length == 2 && args[0] == "ptx")
        {
            Console.Write(PtxListing.Scan(int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture)));
            return 0;
        }
        var device = GpuDevice.Shared;
        Console.WriteLine($"device: {device.Description}");
        var rng = new SplitMix64(2026);
        Copy(device.Accelerator);
        if (args.Length >= 1 && args[0] == "scan")
        {
            // scan [variant [segment]]: one scan kernel alone (for ncu), the default or variant 0..13 of GpuOps.WarpScanVariant;
            // for the segmented variants 8 and 9, the segment length in steps (a multiple of 32; default: from the shape).
            if (args.Length > 1) GpuOps.WarpScanVariant = int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
            if (args.Length > 2) GpuOps.ScanSegmentLength = int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture);
            Scan(device.Accelerator, rng, 2048, 16, 4096);
            return 0;
        }
        if (args.Length >= 1 && args[0] == "attention")
        {
            // attention [variant]: the causal attention alone (for ncu), variant 0..4 of GpuOps.AttentionVariant.
            if (args.Length > 1) GpuOps.AttentionVariant = int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
            Attention(device.Accelerator, rng, 4, 16, 4096, 64);
            return 0;
        }
        if (args.Length >= 1 && args[0] == "gemm")
        {
            // gemm [single|double|double2]: the float32 vector GEMM alone (for ncu), one or two shared buffers (double2: two groups per SM).
            if (args.Length > 1)
            {
                GpuOps.GemmDoubleBuffered = args[1] != "single";
                GpuOps.GemmTwoGroupsPerMultiprocessor = args[1] == "double2";
            }
            Gemm(device.Accelerator, rng, 4096, vector: true);
            return 0;
        }
        if (args.Length == 1 && args[0] == "conv")
        {
            Convolution(device.Accelerator, rng, 1024, 16384);
            return 0;
        }
        bool doubleBuffered = GpuOps.GemmDoubleBuffered;
        int scanVariant = GpuOps.WarpScanVariant;
        Gemm(device.Accelerator, rng, 4096, vector: false);
        GpuOps.GemmDoubleBuffered = false;
        Gemm(device.Accelerator, rng, 4096, vector: true);
        GpuOps.GemmDoubleBuffered = true;
        bool twoGroups = GpuOps.GemmTwoGroupsPerMultiprocessor;
        GpuOps.GemmTwoGroupsPerMultiprocessor = false;
        Gemm(device.Accelerator, rng, 4096, vector: true);
        GpuOps.GemmTwoGroupsPerMultiprocessor = true;
        Gemm(device.Accelerator, rng, 4096, vector: true);
        GpuOps.GemmTwoGroupsPerMultiprocessor = twoGroups;
        GpuOps.GemmDoubleBuffered = doubleBuffered;
        int attentionVariant = GpuOps.AttentionVariant;
        for (int variant = 0; variant < 5; variant++)
        {
            GpuOps.AttentionVariant = variant;
            Attention(device.Accelerator, rng, 4, 16, 4096, 64);
        }
        GpuOps.AttentionVariant = attentionVariant;
        Attention(device.Accelerator, rng, 4, 16, 4096, 64);
        Convolution(device.Accelerator, rng, 1024, 16384);
        for (int variant = 0; variant <= 13; variant++)
        {
            GpuOps.WarpScanVariant = variant;
            Scan(device.Accelerator, rng, 2048, 16, 4096);
        }
        GpuOps.WarpScanVariant = scanVariant;
        Scan(device.Accelerator, rng, 2048, 16, 4096);
        Gemm64(device.Accelerator, rng, 4096);
        return 0;
    }

    private static int Golden(string dir, string backendName)
    {
        CudaBackend.Register();
        var backend = Reference.Golden.Backends.Backends.Resolve(backendName);
        var store = GoldenStore.Open(dir);
        int failed = 0, passed = 0;
        foreach (var result in GoldenRunner.Run(store, backend, new RunOptions()))
        {
            if (result.Skipped) continue;
            Console.WriteLine(result.Line);
            if (result.Failed) failed++;
            if (result.Passed) passed++;
        }
        Console.WriteLine($"golden {backendName} (scan variant {GpuOps.WarpScanVariant}): {passed} passed, {failed} failed");
        return failed == 0 ? 0 : 1;
    }

    private static float[] Random(SplitMix64 rng, long n, double scale = 1.0)
    {
        var x = new float[n];
        for (long i = 0; i < n; i++) x[i] = (float)(scale * rng.Normal());
        return x;
    }

    /// <summary>Median seconds of <paramref name="reps"/> runs of launch + synchronize, after one warm-up run.</summary>
    private static double Time(Accelerator acc, Action launch, int reps)
    {
        launch();
        acc.Synchronize();
        var times = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            long start = Stopwatch.GetTimestamp();
            launch();
            acc.Synchronize();
            times[r] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        Array.Sort(times);
        return times[reps / 2];
    }

    private static void Report(string name, double seconds, string rate, double relError)
    {
        Console.WriteLine($"RESULT {name,-40} {seconds * 1e3,10:F3} ms  {rate,-28} sampled max rel err {relError:E2}");
    }

    private static void Copy(Accelerator acc)
    {
        long n = 1L << 28; // 1 GiB of float32
        using var a = acc.Allocate1D<float>(n);
        using var b = acc.Allocate1D<float>(n);
        a.MemSet(1);
        double s = Time(acc, () => a.View.CopyTo(b.View), 10);
        Report("copy 1 GiB device-to-device", s, $"{2.0 * n * 4 / s / 1e12:F2} TB/s (read+write)", 0);
    }

    private static void Gemm(Accelerator acc, SplitMix64 rng, int n, bool vector)
    {
        var a = Random(rng, (long)n * n);
        var b = Random(rng, (long)n * n);
        using var da = acc.Allocate1D(a);
        using var db = acc.Allocate1D(b);
        using var dc = acc.Allocate1D<float>((long)n * n);
        dc.MemSet(0xFF);
        double s = Time(acc, () => GpuOps.LaunchGemm(false, false, n, n, n, 1f, da.View, db.View, 0f, dc.View, 1, vector), 10);
        var c = dc.GetAsArray1D();
        double err = 0;
        for (int sample = 0; sample < 64; sample++)
        {
            int i = (int)(rng.NextUInt64() % (ulong)n), j = (int)(rng.NextUInt64() % (ulong)n);
            double dot = 0, mag = 0;
            for (int p = 0; p < n; p++) { dot += (double)a[(long)i * n + p] * b[(long)p * n + j]; mag += Math.Abs((double)a[(long)i * n + p] * b[(long)p * n + j]); }
            err = Math.Max(err, Math.Abs(c[(long)i * n + j] - dot) / mag);
        }
        Report($"gemm f32 {n}^3 {(!vector ? "scalar" : GpuOps.GemmDoubleBuffered ? (GpuOps.GemmTwoGroupsPerMultiprocessor ? "vector double-buffered 2/SM" : "vector double-buffered") : "vector")}", s, $"{2.0 * n * n * (double)n / s / 1e12:F2} TFLOP/s", err);
    }

    private static void Gemm64(Accelerator acc, SplitMix64 rng, int n)
    {
        var a = Array.ConvertAll(Random(rng, (long)n * n), x => (double)x);
        var b = Array.ConvertAll(Random(rng, (long)n * n), x => (double)x);
        using var da = acc.Allocate1D(a);
        using var db = acc.Allocate1D(b);
        using var dc = acc.Allocate1D<double>((long)n * n);
        double s = Time(acc, () => GpuOps.LaunchGemm(false, false, n, n, n, 1.0, da.View, db.View, 0.0, dc.View), 5);
        var c = dc.GetAsArray1D();
        double err = 0;
        for (int sample = 0; sample < 16; sample++)
        {
            int i = (int)(rng.NextUInt64() % (ulong)n), j = (int)(rng.NextUInt64() % (ulong)n);
            double dot = 0, mag = 0;
            for (int p = 0; p < n; p++) { dot += a[(long)i * n + p] * b[(long)p * n + j]; mag += Math.Abs(a[(long)i * n + p] * b[(long)p * n + j]); }
            err = Math.Max(err, Math.Abs(c[(long)i * n + j] - dot) / mag);
        }
        Report($"gemm f64 {n}^3", s, $"{2.0 * n * n * (double)n / s / 1e12:F2} TFLOP/s", err);
    }

    private static void Attention(Accelerator acc, SplitMix64 rng, int batch, int heads, int l, int d)
    {
        long count = (long)batch * heads * l * d;
        var q = Random(rng, count);
        var k = Random(rng, count);
        var v = Random(rng, count);
        using var dq = acc.Allocate1D(q);
        using var dk = acc.Allocate1D(k);
        using var dv = acc.Allocate1D(v);
        using var dout = acc.Allocate1D<float>(count);
        dout.MemSet(0xFF);
        double s = Time(acc, () => GpuOps.LaunchCausalAttention<float>(dq.View, dk.View, dv.View, dout.View, batch, heads, heads, l, d, d, 0), 10);
        var o = dout.GetAsArray1D();
        double err = 0, scale = 1 / Math.Sqrt(d);
        var e = new double[l];
        for (int sample = 0; sample < 16; sample++)
        {
            int bh = (int)(rng.NextUInt64() % (ulong)(batch * heads)), t = sample == 0 ? l - 1 : (int)(rng.NextUInt64() % (ulong)l);
            long base0 = (long)bh * l * d;
            double m = double.NegativeInfinity, z = 0;
            for (int j = 0; j <= t; j++)
            {
                double dot = 0;
                for (int c = 0; c < d; c++) dot += (double)q[base0 + (long)t * d + c] * k[base0 + (long)j * d + c];
                e[j] = scale * dot;
                m = Math.Max(m, e[j]);
            }
            for (int j = 0; j <= t; j++) { e[j] = Math.Exp(e[j] - m); z += e[j]; }
            for (int c = 0; c < d; c++)
            {
                double acc0 = 0;
                for (int j = 0; j <= t; j++) acc0 += e[j] / z * v[base0 + (long)j * d + c];
                err = Math.Max(err, Math.Abs(o[base0 + (long)t * d + c] - acc0) / (Math.Abs(acc0) + 1e-3));
            }
        }
        double flops = 4.0 * batch * heads * (double)l * l / 2 * d; // QK^T and PV over the causal half
        Report($"attention f32 B{batch} H{heads} L{l} D{d} causal v{GpuOps.AttentionVariant}", s, $"{flops / s / 1e12:F2} TFLOP/s (causal half)", err);
    }

    private static void Convolution(Accelerator acc, SplitMix64 rng, int channels, int l)
    {
        var u = Random(rng, (long)channels * l);
        var k = Random(rng, (long)channels * l, 1.0 / Math.Sqrt(l));
        using var du = acc.Allocate1D(u);
        using var dk = acc.Allocate1D(k);
        using var dy = acc.Allocate1D<float>((long)channels * l);
        using var work = acc.Allocate1D<float>(GpuOps.ConvolutionWorkspaceLength<float>(channels, l, l));
        // Two whole channels against the float64 direct sum: ||y - y*|| / ||y*|| (the FFT's error is relative to the norms).
        var reference = new double[2][];
        for (int r = 0; r < 2; r++)
        {
            int c = r == 0 ? 0 : channels - 1;
            reference[r] = new double[l];
            for (int t = 0; t < l; t++)
            {
                double sum = 0;
                for (int j = 0; j <= t; j++) sum += (double)k[(long)c * l + j] * u[(long)c * l + t - j];
                reference[r][t] = sum;
            }
        }
        foreach (var path in new[] { GpuOps.ConvolutionPath.Fft, GpuOps.ConvolutionPath.Direct })
        {
            dy.MemSet(0xFF);
            double s = Time(acc, () => GpuOps.LaunchCausalConvolution<float>(du.View, dk.View, dy.View, channels, l, l, path, work.View),
                path == GpuOps.ConvolutionPath.Fft ? 20 : 5);
            var y = dy.GetAsArray1D();
            double err = 0;
            for (int r = 0; r < 2; r++)
            {
                int c = r == 0 ? 0 : channels - 1;
                double diff2 = 0, ref2 = 0;
                for (int t = 0; t < l; t++)
                {
                    double d = y[(long)c * l + t] - reference[r][t];
                    diff2 += double.IsFinite(d) ? d * d : double.PositiveInfinity;
                    ref2 += reference[r][t] * reference[r][t];
                }
                err = Math.Max(err, Math.Sqrt(diff2 / ref2));
            }
            double flops = 2.0 * channels * (double)l * (l + 1) / 2;
            Report($"causal conv f32 C{channels} L{l} Lk{l} ({(path == GpuOps.ConvolutionPath.Fft ? "FFT" : "direct")})", s,
                $"{flops / s / 1e12:F2} direct-sum TFLOP/s", err);
        }
    }

    private static void Scan(Accelerator acc, SplitMix64 rng, int channels, int n, int l)
    {
        long count = (long)channels * l;
        var u = Random(rng, count);
        var delta = Random(rng, count, 0.5);
        var aLog = new float[channels * n];
        for (int i = 0; i < aLog.Length; i++) aLog[i] = (float)Math.Log(1 + i % n);
        var b = Random(rng, (long)n * l);
        var c = Random(rng, (long)n * l);
        var s = GpuOps.ScanShape(1, channels, l, n, 1, false, false, false);
        using var du = acc.Allocate1D(u);
        using var ddelta = acc.Allocate1D(delta);
        using var da = acc.Allocate1D(aLog);
        using var db = acc.Allocate1D(b);
        using var dc = acc.Allocate1D(c);
        using var dummy = acc.Allocate1D<float>(1);
        using var states = acc.Allocate1D<float>((long)s.Items * n);
        using var sums = acc.Allocate1D<float>(s.Items);
        using var bt = acc.Allocate1D<float>((long)n * l);
        using var ct = acc.Allocate1D<float>((long)n * l);
        using var dout = acc.Allocate1D<float>(count);
        dout.MemSet(0xFF);
        double seconds = Time(acc, () => GpuOps.LaunchSelectiveScan<float>(s, du.View, ddelta.View, da.View, db.View, dc.View,
            dummy.View, dummy.View, dummy.View, states.View, sums.View, bt.View, ct.View, dout.View), 20);
        var o = dout.GetAsArray1D();
        double err = 0;
        for (int sample = 0; sample < 8; sample++)
        {
            int d = (int)(rng.NextUInt64() % (ulong)channels);
            var x = new double[n];
            double ref2 = 0, diff2 = 0;
            for (int t = 0; t < l; t++)
            {
                double raw = delta[(long)d * l + t], dt = raw > 20 ? raw : Math.Log(1 + Math.Exp(raw)), y = 0;
                for (int i = 0; i < n; i++)
                {
                    x[i] = Math.Exp(-dt * Math.Exp(aLog[d * n + i])) * x[i] + dt * b[(long)i * l + t] * u[(long)d * l + t];
                    y += c[(long)i * l + t] * x[i];
                }
                ref2 += y * y;
                diff2 += (o[(long)d * l + t] - y) * (o[(long)d * l + t] - y);
            }
            err = Math.Max(err, Math.Sqrt(diff2 / ref2));
        }
        double bytes = 4.0 * (3 * count + 2L * n * l + (long)channels * n);
        string segments = GpuOps.WarpScanVariant is 8 or 9
            ? $" segment {(GpuOps.ScanSegmentLength > 0 ? GpuOps.ScanSegmentLength : Reference.Cuda.Kernels.SelectiveScanSequentialKernel.SegmentLength(s, acc.NumMultiprocessors))}"
            : "";
        Report($"selective scan f32 D{channels} N{n} L{l} v{GpuOps.WarpScanVariant}{segments}", seconds, $"{bytes / seconds / 1e12:F2} TB/s of minimal traffic", err);
    }
}
