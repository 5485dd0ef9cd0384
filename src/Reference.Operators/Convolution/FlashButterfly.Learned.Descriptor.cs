using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.Fourier;
using static Reference.Operators.Convolution.ConvolutionDescriptors;

namespace Reference.Operators.Convolution;

public static partial class FlashButterfly
{
    /// <summary>
    /// The learned blocks of <paramref name="p"/> as one array [C, S, 2], S = sum over levels of f^2: level l's
    /// block B[a, b] of channel c at [c, offset_l + a f + b, (re, im)], offset_l = sum of f^2 over the earlier levels.
    /// </summary>
    public static Tensor<double> PackBlocks(ButterflyParameters p)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        int s = p.Factors.Sum(f => f * f);
        var packed = Tensor<double>.Zeros(p.Channels, s, 2);
        for (int c = 0; c < p.Channels; c++)
            for (int l = 0, offset = 0; l < p.Factors.Length; offset += p.Factors[l] * p.Factors[l], l++)
                for (int e = 0; e < p.Factors[l] * p.Factors[l]; e++)
                {
                    int ff = p.Factors[l] * p.Factors[l];
                    packed.Data[(c * s + offset + e) * 2] = p.BlockRe[l][c * ff + e];
                    packed.Data[(c * s + offset + e) * 2 + 1] = p.BlockIm[l][c * ff + e];
                }
        return packed;
    }

    /// <summary>The inverse of <see cref="PackBlocks"/> for a transform of length <paramref name="length"/>: blocks [C, S, 2].</summary>
    public static ButterflyParameters UnpackBlocks(int length, Tensor<double> blocks)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        var factors = Factors(length);
        int s = factors.Sum(f => f * f);
        if (blocks.Rank != 3 || blocks.Dim(0) < 1 || blocks.Dim(1) != s || blocks.Dim(2) != 2)
            throw new ArgumentException($"blocks must have shape [C, {s}, 2] for length {length} (levels [{string.Join(", ", factors)}]), got {Shapes.Format(blocks.Shape)}.", nameof(blocks));
        int channels = blocks.Dim(0);
        var re = factors.Select(f => new double[channels * f * f]).ToArray();
        var im = factors.Select(f => new double[channels * f * f]).ToArray();
        for (int c = 0; c < channels; c++)
            for (int l = 0, offset = 0; l < factors.Length; offset += factors[l] * factors[l], l++)
                for (int e = 0; e < factors[l] * factors[l]; e++)
                {
                    re[l][c * factors[l] * factors[l] + e] = blocks.Data[(c * s + offset + e) * 2];
                    im[l][c * factors[l] * factors[l] + e] = blocks.Data[(c * s + offset + e) * 2 + 1];
                }
        return new ButterflyParameters(length, channels, factors, re, im);
    }

    /// <summary>The learned-block convolution as its own registered operator ("conv.flash_butterfly_learned").</summary>
    public static class Learned
    {
        /// <summary>The registry entry of the learned FlashButterfly convolution.</summary>
        public static OperatorDescriptor Descriptor { get; } = new()
        {
            Name = "conv.flash_butterfly_learned",
            Version = 1,
            Title = "FlashButterfly convolution with learned butterfly blocks",
            Paper = "Fu, Epstein et al., Simple Hardware-Efficient Long Convolutions for Sequence Modeling (arXiv:2302.06646), Sec. 3.3 " +
                "(the block-DFT matrices of FlashButterfly become per-channel parameters initialized to the exact DFT)",
            File = "src/Reference.Operators/Convolution/FlashButterfly.cs",
            Summary = "y[B x C x L] = Re(F_N^-1 (F_p x . F_p kappa))[:L] + d u with x = u, kappa = k[:, :min(Lk, L)] zero-padded to " +
                "N = pow2 >= L + min(Lk, L) - 1, F_p the block recursion of FlashButterfly with channel c's learned blocks (blocks[C, S, 2]) and " +
                "the exact twiddles, F_N^-1 the exact inverse DFT",
            Causal = false,
            Parameters =
            [
                new("batch", "int", "-", "batch B"),
                new("channels", "int", "-", "channels C (one kernel and one set of blocks each)"),
                new("length", "int", "-", "length L"),
                new("kernel_length", "int", "-", "kernel length Lk (taps beyond lag L - 1 never act)"),
                new("skip", "bool", "true", "whether the case draws the skip d (false: D = 0, the d = null path)"),
                new("block_noise", "float", "-", "the drawn blocks are the exact DFT blocks plus block_noise * normal(0, 1) per real entry"),
            ],
            Inputs =
            [
                new("u", "[B, C, L]", "input sequence, channel-major"),
                new("k", "[C, Lk]", "kernel: tap k[c, j] acts on lag j"),
                new("d", "[C]", "skip D (absent: D = 0)", Optional: true),
                new("blocks", "[C, S, 2]", "learned blocks, S = sum of f^2 over the levels Factors(N): level l's B[a, b] at [c, offset_l + a f + b, (re, im)]; " +
                    "level 0 acts as A[k1, j2] = sum_j1 B[k1, j1] x[q j1 + j2], the last level as y[a] = sum_b B[a, b] x[b]"),
            ],
            Outputs = [new("y", "[B, C, L]", "y = Re(F_N^-1 (F_p u . F_p k))[:L] + D u (the causal convolution when the blocks are the exact DFT)")],
            NaiveEntry = "FlashButterfly.ConvolveLearned(FlashButterfly.UnpackBlocks(N, blocks), u, k, d)",
            Naive = (p, x) => NamedTensors.Outputs(("y", ConvolveLearned(Blocks(p, x), x.Double("u"), x.Double("k"), Skip(x)))),
            FastEntry = "FlashButterfly.ConvolveLearnedFast<T>(p, u, k, d) (float32, float64; blocks rounded once to T)",
            Fast = (p, x, precision) => precision == Precision.Float32 ? FastOut<float>(p, x) : FastOut<double>(p, x),
            Forms =
            [
                new("materialized T u", "T[c][:, s] = the convolution of the unit impulse at s (the map is linear in u), then T u per row",
                    (p, x) => NamedTensors.Outputs(("y", OperatorMatrices.Apply(MaterializeRows(p, x), x.Double("u")))), "y"),
                new("dense transform matrices", "F_p of each channel materialized as an N x N complex matrix (LearnedForward of the unit vectors), " +
                    "then Re(IDFT(F_p u . F_p k)) by System.Numerics.Complex sums", (p, x) => NamedTensors.Outputs(("y", DenseForm(p, x))), "y"),
            ],
            MaterializeEntry = "FlashButterfly.ConvolveLearned on the unit impulses e_s, s < L (column s of T[c]), d on the diagonal; [B C, L, L] " +
                "(not lower triangular once the blocks leave the DFT)",
            Materialize = MaterializeRows,
            AutodiffEntry = "ConvolutionOps.FlashButterflyLearned(blocks, u, k, d) (VJP: FlashButterfly.BackwardLearned)",
            Differentiable = ["u", "k", "d", "blocks"],
            Autodiff = (p, _, v) => ConvolutionOps.FlashButterflyLearned(N(p), v[^1], v[0], v[1], v.Length > 3 ? v[2] : null),
            AccumulationOrder = "x = u and kappa = k[:, :min(Lk, L)] zero-padded to N = FftConvolution.FftSize(L, Lk); X = F_p x, K = F_p kappa by the " +
                "block recursion of conv.flash_butterfly with channel c's blocks (every block product a NaiveGemm with the inner index ascending, " +
                "re = ArBr - AiBi then im = ArBi + AiBr; exact twiddles, angles reduced modulo the level length); Z = X K; w = conj(F_N) Z by the " +
                "exact recursion, times 1/N; y = Re(w)[:L] + d u",
            Distribution = CaseInputs.NormalF32 + " (u, then k, then d when params.skip is true, then the block noise e [C, S, 2]); " +
                "blocks = exact DFT blocks + block_noise * e, rounded to float32",
            Cases =
            [
                LearnedCase("one_level_2x3x12_k5", 911, 2, 3, 12, 5, true, 0.1),
                LearnedCase("two_levels_1x2x64_k64", 912, 1, 2, 64, 64, true, 0.1),
                LearnedCase("three_levels_1x2x256_k100_no_skip", 913, 1, 2, 256, 100, false, 0.05),
                LearnedCase("exact_init_1x1x20_k20", 914, 1, 1, 20, 20, true, 0.0, "edge"),
            ],
            DemoCase = "two_levels_1x2x64_k64",
            DrawInputs = (p, rng) =>
            {
                var x = new NamedArrays
                {
                    ["u"] = CaseInputs.Normal(rng, p.Int("batch"), p.Int("channels"), p.Int("length")),
                    ["k"] = CaseInputs.Normal(rng, p.Int("channels"), p.Int("kernel_length")),
                };
                if (HasSkip(p)) x["d"] = CaseInputs.Normal(rng, p.Int("channels"));
                var exact = PackBlocks(ButterflyParameters.InitializeExact(N(p), p.Int("channels")));
                var noise = CaseInputs.Normal(rng, exact.ShapeArray).ToTensorDouble();
                double scale = p.Double("block_noise");
                x["blocks"] = CaseInputs.RoundedF32(exact.Data.Select((v, i) => v + scale * noise.Data[i]).ToArray(), exact.ShapeArray);
                return x;
            },
            Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5,
                "a block transform of size N <= 512 with f <= 16 point blocks near the DFT (norm ~ sqrt(f)), a product and the exact inverse: " +
                "float64 round-off ~1e-15 relative to the output norm (1e-12 leaves a margin); float32 ~1e-6, 1e-5 is the conventions' float32 bound"),
            Without = new Dictionary<string, string>
            {
                ["realize"] = "no diagonal state: learned blocks make the map a general (non-Toeplitz, non-causal) linear operator of u",
                ["step"] = "the learned transform mixes every position of the padded sequence (non-causal once the blocks move), so there is no token step",
                ["ess"] = "ESS needs a causal operator; the learned map is causal only at the exact-DFT init, where conv.causal's ESS instance covers it",
            },
        };

        private static int N(JsonObject p) => FftConvolution.FftSize(p.Int("length"), p.Int("kernel_length"));

        private static ButterflyParameters Blocks(JsonObject p, NamedArrays x) => UnpackBlocks(N(p), x.Double("blocks"));

        private static NamedArrays FastOut<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
        {
            // The fast tier at T reads the blocks rounded to T, as a float32 backend would.
            var blocks = UnpackBlocks(N(p), x.As<T>("blocks").Cast<double>());
            return NamedTensors.Outputs(("y", ConvolveLearnedFast(blocks, x.As<T>("u"), x.As<T>("k"), x.Optional<T>("d"), maxThreads: 1)));
        }

        /// <summary>T per row: column s of T[c] is the naive learned convolution of the impulse e_s (no skip), plus d[c] on the diagonal; [B C, L, L].</summary>
        private static Tensor<double> MaterializeRows(JsonObject p, NamedArrays x)
        {
            int channels = p.Int("channels"), length = p.Int("length");
            var blocks = Blocks(p, x);
            var k = x.Double("k");
            var d = Skip(x);
            var t = Tensor<double>.Zeros(channels, length, length);
            for (int s = 0; s < length; s++)
            {
                var impulse = Tensor<double>.Zeros(1, channels, length);
                for (int c = 0; c < channels; c++) impulse.Data[c * length + s] = 1.0;
                var column = ConvolveLearned(blocks, impulse, k, d);
                for (int c = 0; c < channels; c++)
                    for (int i = 0; i < length; i++) t.Data[(c * length + i) * length + s] = column.Data[c * length + i];
            }
            return OperatorMatrices.PerRow(t, p.Int("batch") * channels);
        }

        /// <summary>
        /// The learned convolution with each channel's transform as a dense N x N complex matrix M[:, j] = F_p e_j
        /// (LearnedForward of the unit vectors), X = M x and K = M kappa by Complex sums, then the inverse DFT
        /// w[t] = (1/N) sum_f Z[f] exp(+2 pi i f t / N) written out, y = Re(w)[:L] + d u.
        /// </summary>
        private static Tensor<double> DenseForm(JsonObject p, NamedArrays x)
        {
            var blocks = Blocks(p, x);
            var u = x.Double("u");
            var k = x.Double("k");
            var d = Skip(x);
            int n = blocks.Length, channels = blocks.Channels, length = u.Dim(-1), rows = u.Length / length, kl = k.Dim(1);
            int taps = Math.Min(kl, length);
            var matrices = new Complex[channels][,];
            for (int c = 0; c < channels; c++)
            {
                var one = ButterflyParameters.InitializeExact(n, 1);
                for (int l = 0; l < blocks.Factors.Length; l++)
                {
                    int ff = blocks.Factors[l] * blocks.Factors[l];
                    Array.Copy(blocks.BlockRe[l], c * ff, one.BlockRe[l], 0, ff);
                    Array.Copy(blocks.BlockIm[l], c * ff, one.BlockIm[l], 0, ff);
                }
                var re = new double[n * n];
                var im = new double[n * n];
                for (int j = 0; j < n; j++) re[j * n + j] = 1.0;
                LearnedForward(one, re, im, n);
                matrices[c] = new Complex[n, n];
                for (int j = 0; j < n; j++)
                    for (int f = 0; f < n; f++) matrices[c][f, j] = new Complex(re[j * n + f], im[j * n + f]);
            }
            var y = Tensor<double>.Zeros(u.ShapeArray);
            for (int r = 0; r < rows; r++)
            {
                int c = r % channels;
                var z = new Complex[n];
                for (int f = 0; f < n; f++)
                {
                    Complex xf = 0, kf = 0;
                    for (int j = 0; j < length; j++) xf += matrices[c][f, j] * u.Data[r * length + j];
                    for (int j = 0; j < taps; j++) kf += matrices[c][f, j] * k.Data[c * kl + j];
                    z[f] = xf * kf;
                }
                for (int t = 0; t < length; t++)
                {
                    Complex w = 0;
                    for (int f = 0; f < n; f++) w += z[f] * Complex.FromPolarCoordinates(1.0, 2.0 * Math.PI * ((long)f * t % n) / n);
                    y.Data[r * length + t] = w.Real / n + (d is null ? 0.0 : d.Data[c] * u.Data[r * length + t]);
                }
            }
            return y;
        }

        private static ConformanceCase LearnedCase(string id, ulong seed, int batch, int channels, int length, int kernelLength, bool skip,
            double noise, params string[] tags)
        {
            int n = FftConvolution.FftSize(length, kernelLength);
            return new(id, seed, Params.Of(("batch", batch), ("channels", channels), ("length", length), ("kernel_length", kernelLength),
                    ("skip", skip), ("block_noise", noise)),
                $"batch {batch}, {channels} channel(s), L = {length}, kernel length {kernelLength}{(skip ? "" : ", no skip")}: N = {n}, " +
                $"levels [{string.Join(", ", Factors(n))}], blocks = DFT + {noise} noise", tags);
        }
    }
}
