using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.Autodiff;

/// <summary>
/// The elementwise tail of a convolution block in training mode, BatchNorm (batch statistics) ->
/// ReLU -> Dropout3d, as one Fast-tier primitive "batch_norm_relu_dropout3d": x [N, C, *S], S = prod S,
/// M = N S values per channel, m[n, c] the Dropout3d mask (0 or 1 / (1 - p); 1 without dropout):
/// <code>
///   y = (x - mu_c) (gamma_c rstd_c) + beta_c        Ops.BatchNorm, training (batch mean, biased variance)
///   r = max(y, 0)                                   Ops.Relu
///   z = r m[n, c]                                   Ops.Dropout3d
/// </code>
/// Backward (G = dL/dz): dr = G m[n, c]; dy = dr 1[y &gt; 0] with y recomputed from x; then
/// BatchNorm's closed form dx = (gamma_c rstd_c / M) (M dy - sum dy - xhat sum dy xhat), dgamma_c =
/// sum dy xhat, dbeta_c = sum dy (derived in <c>BatchNorm.cs</c>).
/// <para>
/// Why one primitive: the three primitives in sequence read and write four tensors of the block's
/// size in the forward and five in the backward (x, y, r, z and their cotangents), eight passes over
/// memory that, for the decoders' first convolution, no longer fits the L2 cache (0.9 MB per tensor
/// at batch 16, 3.6 MB at batch 64). Here one channel is an item: its N rows are read for the two
/// statistics passes and once more to write z, and each row's y, r and z are formed while the row
/// sits in L1; the backward keeps dy of one channel in the dx rows (L2) between its two passes.
/// Channels are independent, so items run on up to every kernel thread.
/// </para>
/// <para>
/// Same arithmetic as the three Fast-tier primitives: the same kernels (BatchNorm's row sums, centered
/// scale-shift and closed-form backward, TensorPrimitives.Max and Multiply; in the backward one loop
/// per row that performs the dropout product, the recomputed scale-shift, the ReLU select and
/// BatchNorm's two sums with those kernels' operations and accumulation order), applied to the same
/// rows in the same order, and the mask drawn from the same stream in
/// the same order (one Uniform per (n, c), row-major, channel kept when u &gt;= p), so the result,
/// the gradients and the running statistics are bitwise those of BatchNorm, Relu and Dropout3d
/// recorded one after the other (the tests check it). The Naive tier is those three primitives; the
/// layers use this one only in training mode inside <see cref="Tape.UseFastKernels"/>
/// (<see cref="Nn.FusedBlocks"/>), so the evaluation-mode graphs that attribution methods trace and
/// override by primitive name ("relu", "batch_norm") are unchanged.
/// </para>
/// </summary>
public static partial class Ops
{
    /// <summary>Blocks below this many elements run on the calling thread.</summary>
    private const int FusedTailParallelElements = 1 << 15;

    /// <summary>How the fused tail cuts its items on several threads (the values are the same either way).</summary>
    internal enum FusedTailItems
    {
        /// <summary>Samples when the calling thread's previous parallel call really ran on several threads (a helper took at least a quarter of its items), else channels.</summary>
        Auto,
        Channels,
        Samples,
    }

    /// <summary>The calling thread's choice of <see cref="FusedTailItems"/> (tests set it to run both ways).</summary>
    [ThreadStatic] internal static FusedTailItems FusedTailItemsChoice;

    /// <summary>
    /// Whether a fused tail on <paramref name="threads"/> threads runs by samples. By samples a thread
    /// reads back what it wrote in the convolution before (its contiguous ranges), but streams its share
    /// of the block three times (forward) or twice (backward) where a channel item reads its rows from L2
    /// after the first pass; so when the previous call ran (nearly) all on the caller, which then holds
    /// the whole block, channels are cheaper: on the loaded machine, with the helper not scheduled, samples
    /// made the batch-64 forward 418 -> 559 us and the backward 589 -> 700 us (bench/NOTES.md, cnnaff).
    /// </summary>
    private static bool FusedTailBySamples(int threads)
    {
        if (threads <= 1) return false;
        if (FusedTailItemsChoice != FusedTailItems.Auto) return FusedTailItemsChoice == FusedTailItems.Samples;
        var (items, onHelpers) = ParallelItems.LastCall;
        return 4L * onHelpers >= items && onHelpers > 0;
    }

    /// <summary>
    /// z = Dropout3d(Relu(BatchNorm(x))) in training mode (see the type's summary). Without
    /// <paramref name="dropoutRng"/> there is no dropout (z = r). The running statistics are updated in
    /// place as <see cref="BatchNorm"/> does in training mode.
    /// </summary>
    public static Variable BatchNormReluDropout3d(Variable x, Variable? weight, Variable? bias, double[] runningMean, double[] runningVar,
        double momentum, double eps, double p, SplitMix64? dropoutRng)
    {
        var (n, c, s) = CheckBatchNormArguments(x, weight, bias, runningMean, runningVar, momentum, eps);
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(nameof(p), $"p = {p} must be in [0, 1].");
        int m = n * s;
        if (m <= 1) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}: training batch norm needs more than one value per channel.", nameof(x));

        double[]? mask = null;
        if (dropoutRng is not null)
        {
            // Ops.Dropout3d's draws: one Uniform per (n, c) in row-major order.
            double scale = p == 1.0 ? 0.0 : 1.0 / (1.0 - p);
            mask = new double[n * c];
            for (int r = 0; r < mask.Length; r++) mask[r] = dropoutRng.Uniform() >= p ? scale : 0.0;
        }
        var tail = new FusedTail(x.Value.Data, n, c, s, weight?.Value.Data, bias?.Value.Data, mask, eps);
        var z = Empty(x.Value);
        tail.Z = z.Data;
        int threads = (long)n * c * s < FusedTailParallelElements ? 1 : KernelThreads.Default;
        if (FusedTailBySamples(threads)) tail.RunBySamples(threads);
        else ParallelItems.For(c, threads, tail);
        for (int ch = 0; ch < c; ch++)
        {
            runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * tail.Mean[ch];
            runningVar[ch] = (1 - momentum) * runningVar[ch] + momentum * tail.Variance[ch] * m / (m - 1);
        }
        return Function.Apply("batch_norm_relu_dropout3d", NormInputs(x, weight, bias), z, g =>
        {
            var gx = x.RequiresGrad ? Empty(x.Value) : null;
            var gw = weight is null ? null : Tensor<double>.Zeros(c);
            var gb = bias is null ? null : Tensor<double>.Zeros(c);
            var backward = new FusedTailBackward(tail, g.Data, gx?.Data, gw?.Data, gb?.Data);
            if (FusedTailBySamples(threads)) backward.RunBySamples(threads);
            else ParallelItems.For(c, threads, backward);
            return NormGrads(gx, gw, gb, weight is not null, bias is not null);
        });
    }

    /// <summary>
    /// Forward items: on one thread, one channel each (its statistics, then y, r and z row by row, the
    /// channel's rows in L2 between the passes). On several threads (<see cref="RunBySamples"/>), three
    /// calls whose items are samples, run with <see cref="ParallelItems.ForContiguous"/> as the
    /// convolutions before and after it are: every row's sum, then (with the means) every row's squared
    /// deviations, then z; between the calls the row partials are added per channel in sample order,
    /// the order of the channel items' own loops, so the bits are the same on any number of threads.
    /// Why: the convolution's items are positions in sample order, so with channel items every channel
    /// read half its rows from the other core's cache (cnn2t, bench/NOTES.md: the block's regions ran
    /// 1.25-1.6 x faster on two threads, GEMM 1.6-1.75 x); with sample items a thread reads back the
    /// rows it has just written and writes those that it will read in the next convolution.
    /// </summary>
    private sealed class FusedTail(double[] x, int n, int c, int s, double[]? gamma, double[]? beta, double[]? mask, double eps) : IParallelBody
    {
        public readonly double[] X = x, Mean = new double[c], Variance = new double[c], Rstd = new double[c];
        public readonly double[]? Gamma = gamma, Beta = beta, Mask = mask;
        public readonly int N = n, C = c, S = s;
        public double[] Z = [];

        /// <summary>-1: items are channels; 0, 1, 2: items are samples, the pass of <see cref="RunBySamples"/>.</summary>
        private int pass = -1;

        /// <summary>Per (sample, channel) row: its sum (pass 0), then its squared deviations from the channel mean (pass 1).</summary>
        private double[] rowSums = [];

        public double Scale(int ch) => (Gamma?[ch] ?? 1.0) * Rstd[ch];

        public double Shift(int ch) => Beta?[ch] ?? 0.0;

        public void RunBySamples(int threads)
        {
            var rows = PooledArray<double>.Rent(N * C);
            rowSums = rows.Data;
            double count = (double)N * S;
            pass = 0;
            ParallelItems.ForContiguous(N, threads, this);
            for (int ch = 0; ch < C; ch++)
            {
                double sum = 0;
                for (int b = 0; b < N; b++) sum += rowSums[b * C + ch];
                Mean[ch] = sum / count;
            }
            pass = 1;
            ParallelItems.ForContiguous(N, threads, this);
            for (int ch = 0; ch < C; ch++)
            {
                double sq = 0;
                for (int b = 0; b < N; b++) sq += rowSums[b * C + ch];
                Variance[ch] = sq / count;
                Rstd[ch] = 1.0 / Math.Sqrt(Variance[ch] + eps);
            }
            pass = 2;
            ParallelItems.ForContiguous(N, threads, this);
            PooledArray<double>.Return(rows);
            rowSums = [];
        }

        public void Run(int item)
        {
            if (pass >= 0)
            {
                RunSample(item);
                return;
            }
            int ch = item;
            // BatchNormStatsFast for one channel: row sums in row order, then the squared deviations.
            double count = (double)N * S, sum = 0;
            for (int b = 0; b < N; b++) sum += TensorPrimitives.Sum<double>(X.AsSpan((b * C + ch) * S, S));
            double mu = sum / count, sq = 0;
            for (int b = 0; b < N; b++) sq += SumOfSquaredDeviations(X.AsSpan((b * C + ch) * S, S), mu);
            Mean[ch] = mu;
            Variance[ch] = sq / count;
            Rstd[ch] = 1.0 / Math.Sqrt(Variance[ch] + eps);
            double k = Scale(ch), shift = Shift(ch);
            for (int b = 0; b < N; b++)
            {
                int o = (b * C + ch) * S;
                CenterScaleShiftReluMask(X.AsSpan(o, S), mu, k, shift, Mask is not null, Mask?[b * C + ch] ?? 1.0, Z.AsSpan(o, S));
            }
        }

        /// <summary>Sample b's C rows in the current pass.</summary>
        private void RunSample(int b)
        {
            for (int ch = 0; ch < C; ch++)
            {
                int o = (b * C + ch) * S;
                var row = X.AsSpan(o, S);
                if (pass == 0) rowSums[b * C + ch] = TensorPrimitives.Sum<double>(row);
                else if (pass == 1) rowSums[b * C + ch] = SumOfSquaredDeviations(row, Mean[ch]);
                else CenterScaleShiftReluMask(row, Mean[ch], Scale(ch), Shift(ch), Mask is not null, Mask?[b * C + ch] ?? 1.0, Z.AsSpan(o, S));
            }
        }
    }

    /// <summary>
    /// z_i = max((x_i - mu) scale + shift, 0) (times mask when masked) in one pass: per element the
    /// operations of <see cref="CenterScaleShift"/> (subtract, multiply, add, each rounded; no FMA),
    /// TensorPrimitives.Max (IEEE 754:2019 maximum, as Vector512/256.Max and Math.Max) and
    /// TensorPrimitives.Multiply applied one after the other, so the bits are those of the three
    /// passes; Vector512 when accelerated, else Vector256, then the scalar tail.
    /// </summary>
    private static void CenterScaleShiftReluMask(ReadOnlySpan<double> x, double mu, double scale, double shift, bool masked, double mask, Span<double> z)
    {
        if (z.Length < x.Length) throw new ArgumentException($"z must hold {x.Length} elements.", nameof(z));
        int i = 0;
        ref double rx = ref MemoryMarshal.GetReference(x);
        ref double rz = ref MemoryMarshal.GetReference(z);
        if (Vector512.IsHardwareAccelerated)
        {
            var m = Vector512.Create(mu);
            var k = Vector512.Create(scale);
            var b = Vector512.Create(shift);
            var mv = Vector512.Create(mask);
            for (; i <= x.Length - 8; i += 8)
            {
                var y = Vector512.Max((Vector512.LoadUnsafe(ref rx, (nuint)i) - m) * k + b, Vector512<double>.Zero);
                (masked ? y * mv : y).StoreUnsafe(ref rz, (nuint)i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var m = Vector256.Create(mu);
            var k = Vector256.Create(scale);
            var b = Vector256.Create(shift);
            var mv = Vector256.Create(mask);
            for (; i <= x.Length - 4; i += 4)
            {
                var y = Vector256.Max((Vector256.LoadUnsafe(ref rx, (nuint)i) - m) * k + b, Vector256<double>.Zero);
                (masked ? y * mv : y).StoreUnsafe(ref rz, (nuint)i);
            }
        }
        for (; i < x.Length; i++)
        {
            double y = Math.Max((x[i] - mu) * scale + shift, 0.0);
            z[i] = masked ? y * mask : y;
        }
    }

    /// <summary>
    /// One row of the backward in one pass: dy_i = 1[y_i &gt; 0] (g_i m) with y_i = (x_i - mu) k + shift
    /// (g_i itself without a mask), stored, and returns (sum dy, sum dy (x - mu)). The same operations
    /// in the same order as Dropout3d's backward (g m), <see cref="CenterScaleShift"/>, the ReLU
    /// backward's select (x &gt; 0 ? dy : 0) and <see cref="SumAndCenteredDot"/> applied one after the
    /// other (the same vector steps: 16 with two Vector512 accumulators where Vector512 is accelerated,
    /// else 4 with one Vector256 accumulator; the same reduction and scalar tail), so the bits are theirs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (double SumG, double SumGCentered) TailBackwardRow(ReadOnlySpan<double> g, bool masked, double mask, ReadOnlySpan<double> x,
        double mu, double k, double shift, Span<double> dy)
    {
        int i = 0, length = g.Length;
        double sg = 0, sgc = 0;
        if (Vector512.IsHardwareAccelerated && length >= 16)
        {
            var m = Vector512.Create(mu);
            var kv = Vector512.Create(k);
            var sv = Vector512.Create(shift);
            var mv = Vector512.Create(mask);
            Vector512<double> ag0 = default, ag1 = default, agc0 = default, agc1 = default;
            ref double rg = ref MemoryMarshal.GetReference(g);
            ref double rx = ref MemoryMarshal.GetReference(x);
            ref double rd = ref MemoryMarshal.GetReference(dy);
            for (; i <= length - 16; i += 16)
            {
                var x0 = Vector512.LoadUnsafe(ref rx, (nuint)i);
                var x1 = Vector512.LoadUnsafe(ref rx, (nuint)i + 8);
                var g0 = Vector512.LoadUnsafe(ref rg, (nuint)i);
                var g1 = Vector512.LoadUnsafe(ref rg, (nuint)i + 8);
                if (masked)
                {
                    g0 *= mv;
                    g1 *= mv;
                }
                var d0 = Vector512.ConditionalSelect(Vector512.GreaterThan((x0 - m) * kv + sv, Vector512<double>.Zero), g0, Vector512<double>.Zero);
                var d1 = Vector512.ConditionalSelect(Vector512.GreaterThan((x1 - m) * kv + sv, Vector512<double>.Zero), g1, Vector512<double>.Zero);
                d0.StoreUnsafe(ref rd, (nuint)i);
                d1.StoreUnsafe(ref rd, (nuint)i + 8);
                ag0 += d0;
                ag1 += d1;
                agc0 += d0 * (x0 - m);
                agc1 += d1 * (x1 - m);
            }
            sg = Vector512.Sum(ag0 + ag1);
            sgc = Vector512.Sum(agc0 + agc1);
        }
        else if (Vector256.IsHardwareAccelerated && length >= 4)
        {
            var m = Vector256.Create(mu);
            var kv = Vector256.Create(k);
            var sv = Vector256.Create(shift);
            var mv = Vector256.Create(mask);
            Vector256<double> ag = default, agc = default;
            ref double rg = ref MemoryMarshal.GetReference(g);
            ref double rx = ref MemoryMarshal.GetReference(x);
            ref double rd = ref MemoryMarshal.GetReference(dy);
            for (; i <= length - 4; i += 4)
            {
                var xv = Vector256.LoadUnsafe(ref rx, (nuint)i);
                var gv = Vector256.LoadUnsafe(ref rg, (nuint)i);
                if (masked) gv *= mv;
                var y = (xv - m) * kv + sv;
                var d = Vector256.ConditionalSelect(Vector256.GreaterThan(y, Vector256<double>.Zero), gv, Vector256<double>.Zero);
                d.StoreUnsafe(ref rd, (nuint)i);
                ag += d;
                agc += d * (xv - m);
            }
            sg = Vector256.Sum(ag);
            sgc = Vector256.Sum(agc);
        }
        for (; i < length; i++)
        {
            double y = (x[i] - mu) * k + shift;
            double d = y > 0 ? (masked ? g[i] * mask : g[i]) : 0.0;
            dy[i] = d;
            sg += d;
            sgc += d * (x[i] - mu);
        }
        return (sg, sgc);
    }

    /// <summary>
    /// Backward items: on one thread, one channel each (dy row by row with the channel sums, then dx in
    /// place); on several (<see cref="RunBySamples"/>), two calls whose items are samples (as the forward's,
    /// for the same reason): dy and every row's two sums, then, with the channel sums added per channel
    /// in sample order (the channel items' order, so the same bits), dx in place.
    /// </summary>
    private sealed class FusedTailBackward(FusedTail f, double[] g, double[]? gx, double[]? gw, double[]? gb) : IParallelBody
    {
        /// <summary>-1: items are channels; 0, 1: items are samples, the pass of <see cref="RunBySamples"/>.</summary>
        private int pass = -1;

        /// <summary>
        /// Pooled, in sections of N C: per (sample, channel) row sum dy, then sum dy (x - mu) (pass 0);
        /// in sections of C after them, per channel the slope and the offset of the closed form's dx (pass 1).
        /// </summary>
        private double[] sums = [];

        public void RunBySamples(int threads)
        {
            int n = f.N, c = f.C, rows = n * c, slopes = 2 * rows, offsets = 2 * rows + c;
            double count = (double)n * f.S;
            var work = PooledArray<double>.Rent(2 * rows + 2 * c);
            sums = work.Data;
            pass = 0;
            ParallelItems.ForContiguous(n, threads, this);
            for (int ch = 0; ch < c; ch++)
            {
                double sumG = 0, sumGc = 0;
                for (int b = 0; b < n; b++)
                {
                    sumG += sums[b * c + ch];
                    sumGc += sums[rows + b * c + ch];
                }
                double rstd = f.Rstd[ch], k = f.Scale(ch), sumGx = sumGc * rstd;
                if (gw is not null) gw[ch] = sumGx;
                if (gb is not null) gb[ch] = sumG;
                sums[slopes + ch] = -k * sumGx * rstd / count;
                sums[offsets + ch] = -k * sumG / count;
            }
            if (gx is not null)
            {
                pass = 1;
                ParallelItems.ForContiguous(n, threads, this);
            }
            PooledArray<double>.Return(work);
            sums = [];
        }

        /// <summary>Sample b's C rows in the current pass.</summary>
        private void RunSample(int b)
        {
            int c = f.C, s = f.S, rows = f.N * c, slopes = 2 * rows, offsets = 2 * rows + c;
            var scratch = gx is null ? PooledArray<double>.Rent(s) : null;
            for (int ch = 0; ch < c; ch++)
            {
                int o = (b * c + ch) * s;
                if (pass == 0)
                {
                    var dy = gx is null ? scratch!.Data.AsSpan(0, s) : gx.AsSpan(o, s);
                    (sums[b * c + ch], sums[rows + b * c + ch]) = TailBackwardRow(g.AsSpan(o, s), f.Mask is not null, f.Mask?[b * c + ch] ?? 1.0,
                        f.X.AsSpan(o, s), f.Mean[ch], f.Scale(ch), f.Shift(ch), dy);
                }
                else ScaledPlusCentered(gx!.AsSpan(o, s), f.Scale(ch), f.X.AsSpan(o, s), f.Mean[ch], sums[slopes + ch], sums[offsets + ch], gx.AsSpan(o, s));
            }
            if (scratch is not null) PooledArray<double>.Return(scratch);
        }

        public void Run(int item)
        {
            if (pass >= 0)
            {
                RunSample(item);
                return;
            }
            int ch = item;
            int n = f.N, c = f.C, s = f.S;
            double count = (double)n * s, mu = f.Mean[ch], rstd = f.Rstd[ch], k = f.Scale(ch), shift = f.Shift(ch);
            // dy rows live in dx (L2 between the two passes); without dx, one pooled row at a time.
            var scratch = gx is null ? PooledArray<double>.Rent(s) : null;
            double sumG = 0, sumGc = 0;
            for (int b = 0; b < n; b++)
            {
                int o = (b * c + ch) * s;
                var dy = gx is null ? scratch!.Data.AsSpan(0, s) : gx.AsSpan(o, s);
                var (rowG, rowGc) = TailBackwardRow(g.AsSpan(o, s), f.Mask is not null, f.Mask?[b * c + ch] ?? 1.0, f.X.AsSpan(o, s), mu, k, shift, dy);
                sumG += rowG;
                sumGc += rowGc;
            }
            if (scratch is not null) PooledArray<double>.Return(scratch);
            // BatchNormBackwardFast for one channel, training mode.
            double sumGx = sumGc * rstd;
            if (gw is not null) gw[ch] = sumGx;
            if (gb is not null) gb[ch] = sumG;
            if (gx is null) return;
            double slope = -k * sumGx * rstd / count, offset = -k * sumG / count;
            for (int b = 0; b < n; b++)
            {
                int o = (b * c + ch) * s;
                ScaledPlusCentered(gx.AsSpan(o, s), k, f.X.AsSpan(o, s), mu, slope, offset, gx.AsSpan(o, s));
            }
        }
    }
}
