using System.Diagnostics;
using Reference.Core;
using Reference.Core.Kernels;
using Reference.Core.Linear;

namespace Reference.Bench;

/// <summary>
/// `--step-parts [repeats]`: parts of the width-32 H3 training step (bench/models/h3-2layer.json, one micro-batch of dp2:
/// 4 sequences x L 256 = 1024 tokens) on one thread, each the best of <c>repeats</c> calls by wall time on warm buffers:
/// the MLP's products (x W^T forward at k = 32 and 128, g W for the input gradient, the weight gradient g^T x), the
/// projection weight gradient of H3 (dy_b u_b, 32 x 32 x 256), the bias rows written before a product (per-row copies and
/// FastElementwise.BroadcastRows), GELU with its derivative on 1024 x 128 values, and the diagonal SSM's FFT convolution
/// forward and backward at H3's shape with its real FFT of size 512 alone.
/// A figure per part that a whole step on a shared machine cannot give (the step's CPU time moves by 20 % between runs at
/// load 30); a hash of each result shows whether two builds computed the same bits.
/// </summary>
public static class StepParts
{
    public static void Run(int repeats, bool convolutionOnly = false, bool h3Only = false, bool s4dOnly = false, bool gemmOnly = false)
    {
        var rng = new SplitMix64(2);
        if (gemmOnly)
        {
            StepGemms(rng, repeats);
            Console.WriteLine($"load average at the end {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
            return;
        }
        if (s4dOnly)
        {
            S4DKernel(rng, repeats);
            Console.WriteLine($"load average at the end {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
            return;
        }
        if (h3Only)
        {
            H3Layer(rng, repeats);
            Console.WriteLine($"load average at the end {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
            return;
        }
        if (!convolutionOnly) ProductsAndGelu(rng, repeats);
        Convolution(rng, repeats);
        Console.WriteLine($"load average at the end {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
    }

    private static void ProductsAndGelu(SplitMix64 rng, int repeats)
    {
        (int M, int N, int K, bool TransA, bool TransB)[] shapes =
            [(1024, 128, 32, false, true), (1024, 32, 128, false, true), (1024, 32, 128, false, false), (1024, 128, 32, false, false),
             (32, 32, 256, false, false), (128, 32, 1024, true, false), (32, 128, 1024, true, false)];
        foreach (var (m, n, k, ta, tb) in shapes)
        {
            var a = rng.NormalTensor<double>(0, 1, m * k).Data;
            var b = rng.NormalTensor<double>(0, 1, k * n).Data;
            var c = new double[m * n];
            int lda = ta ? m : k, ldb = tb ? k : n;
            double best = Best(repeats, () => FastGemm.Multiply(ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, n, maxThreads: 1));
            Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"GEMM {m} x {n} x {k} {(ta ? "T" : "N")}{(tb ? "T" : "N")}: {2.0 * m * n * k / best / 1e9:F1} GFLOP/s, {best * 1e6:F1} us, hash {Hash(c)}"));
        }
        // The products that add a bias (Ops.Linear's forward at k = 32 and 128; per sequence, H3's q/k/v projections with a row
        // bias and its output projection with a column bias): the bias written into C and the product accumulated onto it
        // with beta = 1 (main before h3bias), against the bias in the GEMM's store (FastGemm's columnBias / rowBias).
        (int M, int N, int K, bool TransA, bool TransB, bool PerRow)[] biased =
            [(1024, 128, 32, false, true, false), (1024, 32, 128, false, true, false), (32, 256, 32, false, true, true), (256, 32, 32, true, true, false)];
        foreach (var (m, n, k, ta, tb, perRow) in biased)
        {
            var a = rng.NormalTensor<double>(0, 1, m * k).Data;
            var b = rng.NormalTensor<double>(0, 1, k * n).Data;
            var bias = rng.NormalTensor<double>(0, 1, perRow ? m : n).Data;
            var filled = new double[m * n];
            var stored = new double[m * n];
            int lda = ta ? m : k, ldb = tb ? k : n;
            double fill = Best(repeats, () =>
            {
                if (perRow) for (int r = 0; r < m; r++) filled.AsSpan(r * n, n).Fill(bias[r]);
                else FastElementwise.BroadcastRows<double>(bias, filled);
                FastGemm.Multiply(ta, tb, m, n, k, 1.0, a, lda, b, ldb, 1.0, filled, n, maxThreads: 1);
            });
            double store = Best(repeats, () => FastGemm.Multiply(ta, tb, m, n, k, 1.0, a, lda, b, ldb, 1.0, stored, n, maxThreads: 1,
                columnBias: perRow ? default : bias, rowBias: perRow ? bias : default));
            Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"GEMM {m} x {n} x {k} {(ta ? "T" : "N")}{(tb ? "T" : "N")} + {(perRow ? "row" : "column")} bias: fill then beta 1 {fill * 1e6:F1} us, in the store {store * 1e6:F1} us, hash {Hash(filled)} {Hash(stored)}"));
        }
        // The bias rows written before a product accumulated onto them (Ops.Linear, H3's output projection): one copy per
        // row as before, and FastElementwise.BroadcastRows.
        foreach (int width in (int[])[32, 128])
        {
            var bias = rng.NormalTensor<double>(0, 1, width).Data;
            var rows = new double[1024 * width];
            double perRow = Best(repeats, () => { for (int r = 0; r < 1024; r++) bias.CopyTo(rows, r * width); });
            double doubling = Best(repeats, () => FastElementwise.BroadcastRows<double>(bias, rows));
            Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"bias rows 1024 x {width}: per-row copies {perRow * 1e6:F2} us, BroadcastRows {doubling * 1e6:F2} us"));
        }
        var x = rng.NormalTensor<double>(0, 1, 1024 * 128).Data;
        var y = new double[x.Length];
        var d = new double[x.Length];
        double gelu = Best(repeats, () => FastActivations.GeluWithDerivative(x, y, d));
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"GELU with derivative, {x.Length} values: {gelu / x.Length * 1e9:F2} ns per value, {gelu * 1e6:F1} us, hash {Hash(y)} {Hash(d)}"));
    }

    /// <summary>
    /// Every GEMM shape of one micro-batch of the width-32 H3 step (bench/models/h3-2layer.json: 4 x 256 tokens, width 32,
    /// MLP 128, two layers; H3's products per sequence), float64 on one thread with the operands' leading dimensions of the
    /// step: the packed loops (SmallGemm off) and FastGemm as it runs (SmallGemm where it applies), alternated, best of
    /// repeats each (order swapped every round); count = calls per micro-batch and step, so count x time is the shape's share of a thread's step.
    /// </summary>
    private static void StepGemms(SplitMix64 rng, int repeats)
    {
        (string Name, int M, int N, int K, bool TransA, bool TransB, int Bias, int Count)[] shapes =
        [
            ("MLP up x W^T + b", 1024, 128, 32, false, true, 2, 2), ("MLP down x W^T + b", 1024, 32, 128, false, true, 2, 2),
            ("MLP down dx = g W", 1024, 128, 32, false, false, 0, 2), ("MLP up dx = g W", 1024, 32, 128, false, false, 0, 2),
            ("MLP down dW = g^T x", 32, 128, 1024, true, false, 0, 2), ("MLP up dW = g^T x", 128, 32, 1024, true, false, 0, 2),
            ("H3 q/k/v W u_b^T + b", 32, 256, 32, false, true, 1, 24), ("H3 out o_b^T Wo^T + b", 256, 32, 32, true, true, 2, 8),
            ("H3 dO = Wo^T dy_b^T", 32, 256, 32, true, true, 0, 8), ("H3 dWo += dy_b^T o_b^T", 32, 32, 256, true, true, 0, 8),
            ("H3 du += dq_b^T Wq", 256, 32, 32, true, false, 0, 24), ("H3 dWq += dq_b u_b", 32, 32, 256, false, false, 0, 24),
        ];
        double totalOld = 0, totalNew = 0;
        foreach (var (name, m, n, k, ta, tb, biasKind, count) in shapes)
        {
            var a = rng.NormalTensor<double>(0, 1, m * k).Data;
            var b = rng.NormalTensor<double>(0, 1, k * n).Data;
            var bias = rng.NormalTensor<double>(0, 1, biasKind == 1 ? m : n).Data;
            // One C for both routes (two arrays differ in their alignment to cache lines, which moved identical code by 2-3 %).
            var c = new double[m * n];
            string hashOld = "", hashNew = "";
            int lda = ta ? m : k, ldb = tb ? k : n;
            double beta = biasKind == 0 ? 0.0 : 1.0;
            ReadOnlySpan<double> Column() => biasKind == 2 ? bias : default;
            ReadOnlySpan<double> Row() => biasKind == 1 ? bias : default;
            void Old()
            {
                SmallGemm.Disabled = true;
                FastGemm.Multiply(ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, n, maxThreads: 1, columnBias: Column(), rowBias: Row());
                SmallGemm.Disabled = false;
            }
            void New() => FastGemm.Multiply(ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, n, maxThreads: 1, columnBias: Column(), rowBias: Row());
            double old = double.MaxValue, fresh = double.MaxValue;
            // Four rounds, the order swapped every round.
            for (int round = 0; round < 4; round++)
            {
                if (round % 2 == 1) { fresh = Math.Min(fresh, Best(repeats / 4 + 1, New)); hashNew = Hash(c); }
                old = Math.Min(old, Best(repeats / 4 + 1, Old));
                hashOld = Hash(c);
                if (round % 2 == 0) { fresh = Math.Min(fresh, Best(repeats / 4 + 1, New)); hashNew = Hash(c); }
            }
            totalOld += count * old;
            totalNew += count * fresh;
            Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"| {name} | {m} x {n} x {k} {(ta ? "T" : "N")}{(tb ? "T" : "N")} | {count} | {old * 1e6:F1} us ({2.0 * m * n * k / old / 1e9:F1} GFLOP/s) | {fresh * 1e6:F1} us ({2.0 * m * n * k / fresh / 1e9:F1} GFLOP/s) | {fresh / old:F3} | {(hashOld == hashNew ? "same" : "DIFFER")} |"));
        }
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"| all, x count (one micro-batch's products in a step) | | | {totalOld * 1e6:F0} us | {totalNew * 1e6:F0} us | {totalNew / totalOld:F3} | |"));
    }

    private static void Convolution(SplitMix64 rng, int repeats)
    {
        // H3's diagonal-SSM convolution at the step's shape (one micro-batch: 4 sequences x 32 channels, L = Lk = 256, FFT
        // size 512): the forward keeping u's spectra and the backward reusing them, as H3's fast path calls them.
        const int sequences = 4, channels = 32, length = 256;
        var u = rng.NormalTensor<double>(0, 1, sequences * channels * length).Data;
        var kernel = rng.NormalTensor<double>(0, 1, channels * length).Data;
        var dy = rng.NormalTensor<double>(0, 1, u.Length).Data;
        var yc = new double[u.Length];
        var du = new double[u.Length];
        var dk = new double[kernel.Length];
        var spectra = new double[sequences * channels * 2 * Reference.Core.Fourier.FftConvolution.SpectrumBins(length, length)];
        double convForward = Best(repeats, () =>
            Reference.Core.Fourier.FftConvolution.CausalBatched<double>(u, kernel, yc, sequences, channels, length, length, 1, spectra));
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"S4D FFT convolution forward, {sequences} x {channels} x {length}: {convForward * 1e6:F1} us, hash {Hash(yc)}"));
        double convBackward = Best(repeats, () =>
            Reference.Core.Fourier.FftConvolution.CausalBackwardBatched<double>(dy, u, kernel, du, dk, sequences, channels, length, length, 1, spectra));
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"S4D FFT convolution backward, {sequences} x {channels} x {length}: {convBackward * 1e6:F1} us, hash {Hash(du)} {Hash(dk)}"));
        // Its transforms alone: the real FFT of size 512 of one zero-padded row of 256 and the inverse's first 256 samples.
        var plan = new Reference.Core.Fourier.RealFftPlan<double>(2 * length);
        var re = new double[plan.Length];
        var im = new double[plan.Length];
        var row = u.AsSpan(0, length).ToArray();
        double forward = Best(repeats, () => { for (int r = 0; r < 64; r++) plan.ForwardCore(row, re, im); });
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"real FFT 512 of 256 samples: {forward / 64 * 1e9:F0} ns, hash {Hash(re)} {Hash(im)}"));
        var back = new double[length];
        double inverse = Best(repeats, () => { for (int r = 0; r < 64; r++) { plan.ForwardCore(row, re, im); plan.InverseDestructive(re, im, back); } });
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"real FFT 512 forward + inverse to 256 samples: {inverse / 64 * 1e9:F0} ns (the inverse: {(inverse - forward) / 64 * 1e9:F0}), hash {Hash(back)}"));
    }

    /// <summary>
    /// One H3 layer of the step (one micro-batch: 4 sequences x L 256, width 32, state 64) forward and backward as the tape's fast
    /// tier calls them (H3.ForwardTrainingFast, H3.BackwardFast with the S4D kernel-gradient map deferred as in a data-parallel
    /// step), on one thread, buffers from a TensorArena reset per call: the layer's own elementwise passes and convolutions with
    /// its products. Public entry points only, so an older build of the libraries runs the same part.
    /// </summary>
    private static void H3Layer(SplitMix64 rng, int repeats)
    {
        const int batch = 4, length = 256, width = 32;
        var p = Reference.Operators.StateSpace.H3Parameters.Initialize(rng, width, 1, 64);
        var u = rng.NormalTensor<double>(0, 1, batch, length, width);
        var dy = rng.NormalTensor<double>(0, 1, batch, length, width);
        var arena = new Reference.Autodiff.TensorArena();
        double[] y = [], du = [];
        void Layer()
        {
            arena.Reset();
            using var scope = arena.Use();
            var saved = Reference.Operators.StateSpace.H3.ForwardTrainingFast(p, u, 1);
            var grads = Reference.Operators.StateSpace.H3.BackwardFast(p, u, dy, saved, 1, _ => true);
            y = saved.Values.Output.Data;
            du = grads.Input.Data;
        }
        double seconds = Best(repeats, Layer);
        // The process's CPU time over the same number of calls: on a loaded machine the best wall time moves with the other
        // tenants, the CPU time only counts the slices this process ran.
        var me = Process.GetCurrentProcess();
        var cpu0 = me.TotalProcessorTime;
        for (int r = 0; r < repeats; r++) Layer();
        me.Refresh();
        double cpu = (me.TotalProcessorTime - cpu0).TotalSeconds / repeats;
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"H3 layer forward + backward, {batch} x {length} x {width}, state 64: best {seconds * 1e6:F1} us wall, mean {cpu * 1e6:F1} us CPU, hash {Hash((double[])y.Clone())} {Hash((double[])du.Clone())}"));
    }

    /// <summary>
    /// The H3 layer's S4D kernel (32 channels x 32 complex modes, L 256, bilinear, as H3.Initialize makes them) by
    /// S4D.KernelFastInto on one thread, and the deferred gradient map dK -> parameter gradients (S4D.KernelGradients with
    /// powers by multiplication, one thread): in the step the kernel is computed once per layer (shared by the micro-batches,
    /// so the H3 layer part above does not include it) and the map once per layer on the summed dK.
    /// </summary>
    private static void S4DKernel(SplitMix64 rng, int repeats)
    {
        const int width = 32, length = 256;
        var p = Reference.Operators.StateSpace.H3Parameters.Initialize(rng, width, 1, 64);
        var ssm = p.Ssm;
        var kernel = new Tensor<double>(new double[ssm.Channels * length], ssm.Channels, length);
        double forward = Best(repeats, () => Reference.Operators.StateSpace.S4D.KernelFastInto(kernel, ssm, length, p.Method, 1));
        var dk = rng.NormalTensor<double>(0, 1, ssm.Channels * length).Data;
        int hm = ssm.Channels * ssm.Modes;
        var g = new Reference.Operators.StateSpace.S4DGradients(Tensor<double>.Zeros(1), new double[hm], new double[hm], new double[hm],
            new double[hm], new double[hm], new double[hm], new double[ssm.Channels], new double[ssm.Channels]);
        double backward = Best(repeats, () =>
            Reference.Operators.StateSpace.S4D.KernelGradients(ssm, dk, length, p.Method, g, powersByMultiplication: true, maxThreads: 1));
        double[] grads = [.. g.LogNegRealA, .. g.ImagA, .. g.BRe, .. g.BIm, .. g.CRe, .. g.CIm, .. g.LogDelta];
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"S4D kernel, {ssm.Channels} x {ssm.Modes} modes x {length}: {forward * 1e6:F1} us, hash {Hash(kernel.Data)}"));
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"S4D kernel gradient map: {backward * 1e6:F1} us, hash {Hash(grads)}"));
    }

    /// <summary>Best wall time of <paramref name="repeats"/> calls after one warm-up call (the part benches' timing).</summary>
    internal static double Best(int repeats, Action body)
    {
        body();
        double best = double.MaxValue;
        for (int r = 0; r < repeats; r++)
        {
            long start = Stopwatch.GetTimestamp();
            body();
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return best;
    }

    /// <summary>FNV-1a over the values' bits: equal hashes show two builds or routes gave the same bits.</summary>
    internal static string Hash(double[] v)
    {
        ulong h = 1469598103934665603UL;
        foreach (double x in v) h = (h ^ (ulong)BitConverter.DoubleToInt64Bits(x)) * 1099511628211UL;
        return h.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
    }
}
