using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;

namespace Reference.Operators.Convolution;

public static partial class FlashButterfly
{
    /// <summary>safari's LongConv(block_fft_conv=True) convolution as a registered operator ("conv.block_fft_conv").</summary>
    public static class SafariConvolution
    {
        private static readonly string[] UNames = ["mat_u_2", "mat_u_4", "mat_u_8", "mat_u_16"];
        private static readonly string[] KNames = ["mat_k_2", "mat_k_4", "mat_k_8", "mat_k_16"];

        /// <summary>The registry entry of the block-FFT convolution in safari's convention.</summary>
        public static OperatorDescriptor Descriptor { get; } = new()
        {
            Name = "conv.block_fft_conv",
            Version = 1,
            Title = "Block-FFT convolution in safari's convention (LongConv with block_fft_conv)",
            Paper = "Fu, Epstein et al., Simple Hardware-Efficient Long Convolutions (arXiv:2302.06646), Sec. 3.2-3.3; safari's LongConv " +
                "(src/models/sequence/long_conv.py, block_fft_conv=True) with two BlockFFT modules (block_fft.py)",
            File = "src/Reference.Operators/Convolution/FlashButterfly.Safari.cs",
            Summary = "y[B x C x L] = Re(ifft_N(F_u u . F_k k))[:L] + d u, N = pow2 >= Lk + L, F_u and F_k safari block FFTs with their own " +
                "mat_f (absent: exact DFT blocks), ifft the exact inverse DFT",
            Causal = false,
            Parameters =
            [
                new("batch", "int", "-", "batch B"),
                new("channels", "int", "-", "channels C"),
                new("length", "int", "-", "length L"),
                new("kernel_length", "int", "-", "kernel length Lk (N = the power of two >= Lk + L)"),
                new("skip", "bool", "true", "whether the case draws d"),
                new("learned", "bool", "true", "whether the case draws both modules' mat_f (false: exact blocks: the causal convolution)"),
                new("shared", "bool", "false", "drawn blocks have Hb = 1 (false: Hb = C)"),
                new("block_noise", "float", "0", "drawn blocks = exact DFT + block_noise * normal(0, 1) per real entry"),
            ],
            Inputs =
            [
                new("u", "[B, C, L]", "input, channel-major"),
                new("k", "[C, Lk]", "kernel"),
                new("d", "[C]", "skip D (absent: 0)", Optional: true),
                new("mat_u_2", "[Hb, 2, 2, 2]", "block_fft_u's mat_2 (re, im last); absent: exact", Optional: true),
                new("mat_u_4", "[Hb, 4, 4, 2]", "block_fft_u's mat_4", Optional: true),
                new("mat_u_8", "[Hb, 8, 8, 2]", "block_fft_u's mat_8", Optional: true),
                new("mat_u_16", "[Hb, 16, 16, 2]", "block_fft_u's mat_16", Optional: true),
                new("mat_k_2", "[Hb, 2, 2, 2]", "block_fft_k's mat_2", Optional: true),
                new("mat_k_4", "[Hb, 4, 4, 2]", "block_fft_k's mat_4", Optional: true),
                new("mat_k_8", "[Hb, 8, 8, 2]", "block_fft_k's mat_8", Optional: true),
                new("mat_k_16", "[Hb, 16, 16, 2]", "block_fft_k's mat_16", Optional: true),
            ],
            Outputs = [new("y", "[B, C, L]", "the convolution's output (the causal convolution k * u + d u at exact blocks)")],
            NaiveEntry = "FlashButterfly.ConvolveSafari(pu, pk, u, k, d)",
            Naive = (_, x) => NamedTensors.Outputs(("y", ConvolveSafari(Blocks(x, UNames), Blocks(x, KNames), x.Double("u"), x.Double("k"),
                ConvolutionDescriptors.Skip(x)))),
            FastEntry = "FlashButterfly.ConvolveSafariFast<T>(pu, pk, u, k, d) (float32, float64)",
            Fast = (_, x, precision) => precision == Precision.Float32 ? FastOut<float>(x) : FastOut<double>(x),
            Forms =
            [
                new("materialized T u", "column s of T[c] = ConvolveSafari on the unit impulse e_s, d on the diagonal; then T u per row",
                    (p, x) => NamedTensors.Outputs(("y", OperatorMatrices.Apply(MaterializeRows(p, x), x.Double("u")))), "y"),
                new("tape composition", "two conv.block_fft nodes, the complex product, an exact inverse conv.block_fft node, the real part",
                    (p, x) => NamedTensors.Outputs(("y", TapeForward(p, x))), "y"),
            ],
            MaterializeEntry = "FlashButterfly.ConvolveSafari on the unit impulses e_s, s < L; [B C, L, L] (lower triangular at exact blocks only)",
            Materialize = MaterializeRows,
            AutodiffEntry = "conv.block_fft nodes (ConvolutionOps.SafariBlockFft) for u, k and the exact inverse, products and slices on the tape",
            Differentiable = ["u", "k", "d", .. UNames, .. KNames],
            Autodiff = (p, x, v) =>
            {
                int i = 0;
                var u = v[i++];
                var k = v[i++];
                var d = x.ContainsKey("d") ? v[i++] : null;
                var mu = UNames.Select(n => x.ContainsKey(n) ? v[i++] : null).ToArray();
                var mk = KNames.Select(n => x.ContainsKey(n) ? v[i++] : null).ToArray();
                return Compose(p, u, k, d, mu, mk);
            },
            AccumulationOrder = "F_u u and F_k k as conv.block_fft (forward, N = pow2 >= Lk + L); Z = U K per frequency; w = exact inverse of " +
                "conv.flash_butterfly (conj blocks, 1/N); y = Re(w)[:L] + d u",
            Distribution = CaseInputs.NormalF32 + " (u, k, then d when params.skip; then when params.learned the noise [Hb, f, f, 2] for f = 2, 4, 8, 16 " +
                "of block_fft_u, then of block_fft_k; mat = exact DFT block + block_noise * noise, rounded to float32)",
            Cases =
            [
                Case("exact_1x2x8_k8", 1401, 1, 2, 8, 8, true, false, false, 0.0, "edge"),
                Case("learned_2x2x16_k16", 1402, 2, 2, 16, 16, true, true, false, 0.1),
                Case("shared_learned_1x3x40_k24_no_skip", 1403, 1, 3, 40, 24, false, true, true, 0.05),
            ],
            DrawInputs = (p, rng) =>
            {
                int b = p.Int("batch"), c = p.Int("channels");
                var x = new NamedArrays
                {
                    ["u"] = CaseInputs.Normal(rng, b, c, p.Int("length")),
                    ["k"] = CaseInputs.Normal(rng, c, p.Int("kernel_length")),
                };
                if (!p.ContainsKey("skip") || p.Bool("skip")) x["d"] = CaseInputs.Normal(rng, c);
                if (!p.ContainsKey("learned") || p.Bool("learned"))
                {
                    int hb = p.ContainsKey("shared") && p.Bool("shared") ? 1 : c;
                    double scale = p.ContainsKey("block_noise") ? p.Double("block_noise") : 0.0;
                    foreach (var names in new[] { UNames, KNames })
                        for (int i = 0; i < 4; i++)
                        {
                            int f = SafariBlocks.Sizes[i];
                            var (er, ei) = DftBlock(f, inverse: false);
                            var noise = CaseInputs.Normal(rng, hb, f, f, 2).ToTensorDouble();
                            var mat = new double[hb * f * f * 2];
                            for (int h = 0; h < hb; h++)
                                for (int e = 0; e < f * f; e++)
                                {
                                    mat[(h * f * f + e) * 2] = er[e] + scale * noise.Data[(h * f * f + e) * 2];
                                    mat[(h * f * f + e) * 2 + 1] = ei[e] + scale * noise.Data[(h * f * f + e) * 2 + 1];
                                }
                            x[names[i]] = CaseInputs.RoundedF32(mat, [hb, f, f, 2]);
                        }
                }
                return x;
            },
            Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5,
                "two block transforms near the DFT, a product and the exact inverse of size N <= 128: float64 ~1e-15 relative (1e-12 leaves a margin); " +
                "float32 ~1e-6, 1e-5 is the conventions' float32 bound"),
            Without = new Dictionary<string, string>
            {
                ["realize"] = "learned blocks make the map a general linear operator of u (no recurrence)",
                ["step"] = "the transforms mix every position of the padded sequence: no token step",
                ["ess"] = "ESS needs a causal operator; at exact blocks conv.causal's instance covers it",
            },
        };

        /// <summary>The blocks of one module from its four mat inputs (absent: exact; Hb from the given ones).</summary>
        private static SafariBlocks Blocks(NamedArrays x, string[] names)
        {
            var renamed = new NamedArrays();
            for (int i = 0; i < 4; i++)
                if (x.ContainsKey(names[i])) renamed[$"mat_{SafariBlocks.Sizes[i]}"] = x[names[i]];
            return SafariBlockFft.Blocks(new JsonObject(), renamed);
        }

        private static NamedArrays FastOut<T>(NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
        {
            SafariBlocks Rounded(SafariBlocks b) => b with
            {
                Re = b.Re.Select(m => m.Select(v => double.CreateTruncating(T.CreateTruncating(v))).ToArray()).ToArray(),
                Im = b.Im.Select(m => m.Select(v => double.CreateTruncating(T.CreateTruncating(v))).ToArray()).ToArray(),
            };
            return NamedTensors.Outputs(("y", ConvolveSafariFast(Rounded(Blocks(x, UNames)), Rounded(Blocks(x, KNames)), x.As<T>("u"), x.As<T>("k"),
                x.Optional<T>("d"))));
        }

        private static Tensor<double> MaterializeRows(JsonObject p, NamedArrays x)
        {
            int channels = p.Int("channels"), length = p.Int("length");
            var pu = Blocks(x, UNames);
            var pk = Blocks(x, KNames);
            var k = x.Double("k");
            var d = ConvolutionDescriptors.Skip(x);
            var t = Tensor<double>.Zeros(channels, length, length);
            for (int s = 0; s < length; s++)
            {
                var impulse = Tensor<double>.Zeros(1, channels, length);
                for (int c = 0; c < channels; c++) impulse.Data[c * length + s] = 1.0;
                var column = ConvolveSafari(pu, pk, impulse, k, d);
                for (int c = 0; c < channels; c++)
                    for (int i = 0; i < length; i++) t.Data[(c * length + i) * length + s] = column.Data[c * length + i];
            }
            return OperatorMatrices.PerRow(t, p.Int("batch") * channels);
        }

        private static Tensor<double> TapeForward(JsonObject p, NamedArrays x)
        {
            Variable? V(string name) => x.ContainsKey(name) ? Variable.Constant(x.Double(name)) : null;
            return Compose(p, V("u")!, V("k")!, V("d"), UNames.Select(V).ToArray(), KNames.Select(V).ToArray()).Value;
        }

        /// <summary>The convolution on the tape: conv.block_fft of u and of k, the complex product (real ops), the exact inverse, Re[:L], + d u.</summary>
        private static Variable Compose(JsonObject p, Variable u, Variable k, Variable? d, Variable?[] mu, Variable?[] mk)
        {
            int b = p.Int("batch"), c = p.Int("channels"), l = p.Int("length"), kl = p.Int("kernel_length"), n = SafariSize(kl + l);
            var uf = ConvolutionOps.SafariBlockFft(u, null, mu, c, n, inverse: false);                             // [B, C, N, 2]
            var kf = ConvolutionOps.SafariBlockFft(Ops.Reshape(k, 1, c, kl), null, mk, c, n, inverse: false);     // [1, C, N, 2]
            Variable Part(Variable z, int i) => Ops.Slice(z, 3, i, 1);
            var re = Ops.Sub(Ops.Mul(Part(uf, 0), Part(kf, 0)), Ops.Mul(Part(uf, 1), Part(kf, 1)));
            var im = Ops.Add(Ops.Mul(Part(uf, 0), Part(kf, 1)), Ops.Mul(Part(uf, 1), Part(kf, 0)));
            var w = ConvolutionOps.SafariBlockFft(Ops.Reshape(re, b, c, n), Ops.Reshape(im, b, c, n), [null, null, null, null], c, n, inverse: true);
            var y = Ops.Slice(Ops.Reshape(Part(w, 0), b, c, n), 2, 0, l);
            return d is null ? y : Ops.Add(y, Ops.Mul(u, Ops.Reshape(d, c, 1)));
        }

        private static ConformanceCase Case(string id, ulong seed, int batch, int channels, int length, int kernelLength, bool skip, bool learned,
            bool shared, double noise, params string[] tags) =>
            new(id, seed, Params.Of(("batch", batch), ("channels", channels), ("length", length), ("kernel_length", kernelLength), ("skip", skip),
                    ("learned", learned), ("shared", shared), ("block_noise", noise)),
                $"batch {batch}, {channels} channel(s), L = {length}, Lk = {kernelLength}: N = {SafariSize(kernelLength + length)}, " +
                (learned ? $"{(shared ? "shared" : "per-channel")} blocks = DFT + {noise} noise" : "exact blocks") + (skip ? "" : ", no skip"), tags);
    }
}
