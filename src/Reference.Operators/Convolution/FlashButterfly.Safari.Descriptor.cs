using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;

namespace Reference.Operators.Convolution;

public static partial class FlashButterfly
{
    /// <summary>The safari-compatible block FFT as its own registered operator ("conv.block_fft").</summary>
    public static class SafariBlockFft
    {
        private static readonly string[] MatNames = ["mat_2", "mat_4", "mat_8", "mat_16"];

        /// <summary>The registry entry of safari's BlockFFT transform.</summary>
        public static OperatorDescriptor Descriptor { get; } = new()
        {
            Name = "conv.block_fft",
            Version = 1,
            Title = "Block FFT in safari's convention (BlockFFT: power-of-two size, learned blocks shared per size)",
            Paper = "Fu, Epstein et al., Simple Hardware-Efficient Long Convolutions for Sequence Modeling (arXiv:2302.06646), Sec. 3.2-3.3; " +
                "conventions of safari's BlockFFT / block_fft (HazyResearch/safari, src/models/sequence/block_fft.py)",
            File = "src/Reference.Operators/Convolution/FlashButterfly.Safari.cs",
            Summary = "y[B x H x N x 2] = F_p x (forward) or (1/N) conj(F_p conj x) (inverse) of x = x_re + i x_im [B x H x L] zero-padded to " +
                "N = pow2 >= n: 16-point levels then one block of the rest, every level of size f using mat_f [Hb x f x f x 2] (Hb = 1 or H; " +
                "absent: the exact DFT block)",
            Causal = false,
            Parameters =
            [
                new("batch", "int", "-", "batch B"),
                new("channels", "int", "-", "channels H"),
                new("length", "int", "-", "input length L (<= N)"),
                new("n", "int", "-", "requested size; the transform has N = the smallest power of two >= n (>= 2)"),
                new("inverse", "bool", "false", "false: block_fft(x, n); true: BlockFFT.forward(x, n, forward=False) = (1/N) conj(F_p conj x)"),
                new("complex_input", "bool", "true", "whether the case draws x_im (false: a real input, x_im absent)"),
                new("learned", "bool", "true", "whether the case draws mat_2..mat_16 (false: absent, the exact DFT blocks)"),
                new("shared", "bool", "false", "drawn blocks have Hb = 1 (one per size for every channel, ref_dft_matrix(n) with H = 1); false: Hb = H"),
                new("block_noise", "float", "0", "drawn blocks = exact DFT blocks + block_noise * normal(0, 1) per real entry"),
            ],
            Inputs =
            [
                new("x_re", "[B, H, L]", "real part of the input"),
                new("x_im", "[B, H, L]", "imaginary part of the input (absent: 0)", Optional: true),
                new("mat_2", "[Hb, 2, 2, 2]", "safari's mat_2 (view_as_real layout: [..., (re, im)]); absent: the exact DFT block", Optional: true),
                new("mat_4", "[Hb, 4, 4, 2]", "mat_4", Optional: true),
                new("mat_8", "[Hb, 8, 8, 2]", "mat_8", Optional: true),
                new("mat_16", "[Hb, 16, 16, 2]", "mat_16", Optional: true),
            ],
            Outputs = [new("y", "[B, H, N, 2]", "the transform in natural order, view_as_real layout (re, im)")],
            NaiveEntry = "FlashButterfly.SafariTransform(blocks, re, im, B H, H, L, n, inverse)",
            Naive = (p, x) => NamedTensors.Outputs(("y", Naive(p, x))),
            FastEntry = "FlashButterfly.SafariTransformFast<T>(blocks, re, im, B H, H, L, n, inverse) (float32, float64; the Stockham levels of " +
                "FlashButterfly.Fast.cs with the shared blocks rounded once to T)",
            Fast = (p, x, precision) => precision == Precision.Float32 ? FastOut<float>(p, x) : FastOut<double>(p, x),
            Forms =
            [
                new("safari's recursion, literally", "x as an (m, n') grid, mat_m down the columns, the (n', m) twiddles on the transpose, " +
                    "then mat_n' or the recursion on every column, flattened (n' m); Complex arithmetic",
                    (p, x) => NamedTensors.Outputs(("y", Literal(p, x))), "y"),
            ],
            AutodiffEntry = "ConvolutionOps.SafariBlockFft(blocks..., x_re, x_im, ...) (VJP: FlashButterfly.SafariBackward)",
            Differentiable = ["x_re", "x_im", .. MatNames],
            Autodiff = (p, x, v) =>
            {
                int i = 0;
                var xr = v[i++];
                var xi = x.ContainsKey("x_im") ? v[i++] : null;
                var mats = new Variable?[4];
                for (int m = 0; m < 4; m++) mats[m] = x.ContainsKey(MatNames[m]) ? v[i++] : null;
                return ConvolutionOps.SafariBlockFft(xr, xi, mats, Channels(p), p.Int("n"), Inverse(p));
            },
            AccumulationOrder = "per row: zero-pad to N; level s (block f, q = n_s / f): A[k1, j2] = sum_j1 B[k1, j1] x[q j1 + j2] (NaiveGemm, j1 " +
                "ascending, re = ArBr - AiBi then im = ArBi + AiBr), times w_(n_s)^(j2 k1) (conjugate when inverse; angle reduced modulo n_s), " +
                "the rest on every row, X[k1 + f k2] = A'[k1, k2]; the base Y = X B^T; inverse: conj blocks, then times 1/N",
            Distribution = CaseInputs.NormalF32 + " (x_re, then x_im when params.complex_input, then when params.learned the noise e [Hb, f, f, 2] " +
                "for f = 2, 4, 8, 16 in order; mat_f = exact DFT block + block_noise * e, rounded to float32)",
            Cases =
            [
                Case("exact_forward_1x2x20_n32", 1201, 1, 2, 20, 32, false, true, false, false, 0.0, "edge"),
                Case("learned_forward_2x2x24_n24", 1202, 2, 2, 24, 24, false, true, true, false, 0.1),
                Case("learned_inverse_1x3x64_n64", 1203, 1, 3, 64, 64, true, true, true, false, 0.1),
                Case("shared_forward_real_1x2x100_n256", 1204, 1, 2, 100, 256, false, false, true, true, 0.05),
                Case("shared_inverse_1x1x300_n512", 1205, 1, 1, 300, 512, true, true, true, true, 0.05),
                Case("one_block_1x2x5_n8", 1206, 1, 2, 5, 8, false, true, true, false, 0.1, "edge"),
            ],
            DrawInputs = (p, rng) =>
            {
                int b = p.Int("batch"), h = p.Int("channels"), l = p.Int("length");
                var x = new NamedArrays { ["x_re"] = CaseInputs.Normal(rng, b, h, l) };
                if (Flag(p, "complex_input", true)) x["x_im"] = CaseInputs.Normal(rng, b, h, l);
                if (Flag(p, "learned", true))
                {
                    int hb = Flag(p, "shared", false) ? 1 : h;
                    double scale = p.ContainsKey("block_noise") ? p.Double("block_noise") : 0.0;
                    foreach (int f in SafariBlocks.Sizes)
                    {
                        var (er, ei) = DftBlock(f, inverse: false);
                        var noise = CaseInputs.Normal(rng, hb, f, f, 2).ToTensorDouble();
                        var mat = new double[hb * f * f * 2];
                        for (int c = 0; c < hb; c++)
                            for (int e = 0; e < f * f; e++)
                            {
                                mat[(c * f * f + e) * 2] = er[e] + scale * noise.Data[(c * f * f + e) * 2];
                                mat[(c * f * f + e) * 2 + 1] = ei[e] + scale * noise.Data[(c * f * f + e) * 2 + 1];
                            }
                        x[MatNames[SafariBlocks.IndexOf(f)]] = CaseInputs.RoundedF32(mat, [hb, f, f, 2]);
                    }
                }
                return x;
            },
            Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5,
                "a block transform of size N <= 512 with f <= 16 point blocks near the DFT: float64 round-off ~1e-15 relative to the output " +
                "norm (1e-12 leaves a margin); float32 ~1e-6, 1e-5 is the conventions' float32 bound"),
            Without = new Dictionary<string, string>
            {
                ["materialize"] = "a transform of length N (complex, not a causal sequence map); its dense matrix is the form " +
                    "\"safari's recursion, literally\" applied to unit vectors",
                ["realize"] = "a transform, no recurrence",
                ["step"] = "every output frequency reads the whole padded sequence: no token step",
                ["ess"] = "ESS needs a causal sequence operator; the transform is not one",
            },
        };

        private static bool Flag(JsonObject p, string name, bool fallback) => p.ContainsKey(name) ? p.Bool(name) : fallback;

        private static bool Inverse(JsonObject p) => Flag(p, "inverse", false);

        private static int Channels(JsonObject p) => p.Int("channels");

        /// <summary>The blocks of a case: each mat_f given, or the exact block (Hb of the given ones, else 1).</summary>
        internal static SafariBlocks Blocks(JsonObject p, NamedArrays x)
        {
            int hb = MatNames.Where(x.ContainsKey).Select(m => x[m].Shape[0]).DefaultIfEmpty(1).First();
            var exact = SafariBlocks.Exact(hb);
            for (int i = 0; i < 4; i++)
            {
                if (!x.ContainsKey(MatNames[i])) continue;
                var mat = x.Double(MatNames[i]);
                int f = SafariBlocks.Sizes[i];
                if (mat.Rank != 4 || mat.Dim(0) != hb || mat.Dim(1) != f || mat.Dim(2) != f || mat.Dim(3) != 2)
                    throw new ArgumentException($"{MatNames[i]} must have shape [Hb = {hb}, {f}, {f}, 2], got {Shapes.Format(mat.Shape)}.", MatNames[i]);
                for (int e = 0; e < hb * f * f; e++)
                {
                    exact.Re[i][e] = mat.Data[2 * e];
                    exact.Im[i][e] = mat.Data[2 * e + 1];
                }
            }
            return exact;
        }

        private static Tensor<double> Naive(JsonObject p, NamedArrays x)
        {
            var re = x.Double("x_re");
            var im = x.TryGetValue("x_im", out var a) ? a.ToTensorDouble() : Tensor<double>.Zeros(re.ShapeArray);
            int h = Channels(p), l = re.Dim(-1), rows = re.Length / l, n = SafariSize(p.Int("n"));
            var (yr, yi) = SafariTransform(Blocks(p, x), re.Data, im.Data, rows, h, l, p.Int("n"), Inverse(p));
            return Interleave(yr, yi, re.Dim(0), h, n);
        }

        private static NamedArrays FastOut<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var re = x.As<T>("x_re");
            var im = x.Optional<T>("x_im") ?? Tensor<T>.Zeros(re.ShapeArray);
            int h = Channels(p), l = re.Dim(-1), rows = re.Length / l, n = SafariSize(p.Int("n"));
            // The fast tier reads the blocks rounded to T, as a T backend would.
            var blocks = Blocks(p, x);
            var rounded = blocks with
            {
                Re = blocks.Re.Select(b => b.Select(v => double.CreateTruncating(T.CreateTruncating(v))).ToArray()).ToArray(),
                Im = blocks.Im.Select(b => b.Select(v => double.CreateTruncating(T.CreateTruncating(v))).ToArray()).ToArray(),
            };
            var (yr, yi) = SafariTransformFast(rounded, re.Data, im.Data, rows, h, l, p.Int("n"), Inverse(p));
            var y = new T[rows * n * 2];
            for (int i = 0; i < rows * n; i++)
            {
                y[2 * i] = yr[i];
                y[2 * i + 1] = yi[i];
            }
            return new NamedArrays { ["y"] = NpyArray.FromTensor(new Tensor<T>(y, re.Dim(0), h, n, 2)) };
        }

        internal static Tensor<double> Interleave(double[] re, double[] im, int batch, int channels, int n)
        {
            var y = Tensor<double>.Zeros(batch, channels, n, 2);
            for (int i = 0; i < re.Length; i++)
            {
                y.Data[2 * i] = re[i];
                y.Data[2 * i + 1] = im[i];
            }
            return y;
        }

        /// <summary>
        /// safari's _cooley_tukey written out on Complex arrays in its own layout: x (length m n') as K[a, b] = x[a n' + b];
        /// kf[r, b] = sum_a M_m[r, a] K[a, b]; kf2[b, r] = exp(-2 pi i b r / (m n')) kf[r, b]; out[s, r] = sum_b M_n'[s, b] kf2[b, r]
        /// (n' &lt;= 16) or the recursion with m = 16 on every column r; y[s m + r] = out[s, r]. Inverse: conj(F(conj x)) / N.
        /// </summary>
        private static Tensor<double> Literal(JsonObject p, NamedArrays x)
        {
            var re = x.Double("x_re");
            var im = x.TryGetValue("x_im", out var a) ? a.ToTensorDouble() : Tensor<double>.Zeros(re.ShapeArray);
            var blocks = Blocks(p, x);
            int h = Channels(p), l = re.Dim(-1), rows = re.Length / l, n = SafariSize(p.Int("n"));
            bool inverse = Inverse(p);
            var yr = new double[rows * n];
            var yi = new double[rows * n];
            for (int r = 0; r < rows; r++)
            {
                int c = blocks.Channels == 1 ? 0 : r % h;
                Complex[,] Mat(int f)
                {
                    var (br, bi) = blocks.Block(f, c, conjugate: false);
                    var m = new Complex[f, f];
                    for (int i = 0; i < f; i++)
                        for (int j = 0; j < f; j++) m[i, j] = new Complex(br[i * f + j], bi[i * f + j]);
                    return m;
                }
                var v = new Complex[n];
                for (int t = 0; t < l; t++) v[t] = new Complex(re.Data[r * l + t], inverse ? -im.Data[r * l + t] : im.Data[r * l + t]);
                Complex[] result;
                if (n <= 16)
                {
                    var mat = Mat(n);
                    result = new Complex[n];
                    for (int s = 0; s < n; s++)
                        for (int j = 0; j < n; j++) result[s] += mat[s, j] * v[j];
                }
                else result = CooleyTukey(v, n / 16, 16, Mat);
                for (int f = 0; f < n; f++)
                {
                    var z = inverse ? Complex.Conjugate(result[f]) / n : result[f];
                    yr[r * n + f] = z.Real;
                    yi[r * n + f] = z.Imaginary;
                }
            }
            return Interleave(yr, yi, re.Dim(0), h, n);
        }

        private static Complex[] CooleyTukey(Complex[] x, int n, int m, Func<int, Complex[,]> mat)
        {
            var mm = mat(m);
            var kf2 = new Complex[n, m];
            for (int r = 0; r < m; r++)
                for (int b = 0; b < n; b++)
                {
                    Complex acc = 0;
                    for (int a = 0; a < m; a++) acc += mm[r, a] * x[a * n + b];
                    kf2[b, r] = Complex.FromPolarCoordinates(1.0, -2.0 * Math.PI * ((long)b * r % (n * m)) / (n * m)) * acc;
                }
            var output = new Complex[n * m];
            if (n <= 16)
            {
                var mn = mat(n);
                for (int s = 0; s < n; s++)
                    for (int r = 0; r < m; r++)
                    {
                        Complex acc = 0;
                        for (int b = 0; b < n; b++) acc += mn[s, b] * kf2[b, r];
                        output[s * m + r] = acc;
                    }
            }
            else
                for (int r = 0; r < m; r++)
                {
                    var column = new Complex[n];
                    for (int b = 0; b < n; b++) column[b] = kf2[b, r];
                    var inner = CooleyTukey(column, n / 16, 16, mat);
                    for (int s = 0; s < n; s++) output[s * m + r] = inner[s];
                }
            return output;
        }

        private static ConformanceCase Case(string id, ulong seed, int batch, int channels, int length, int n, bool inverse, bool complexInput,
            bool learned, bool shared, double noise, params string[] tags)
        {
            int size = SafariSize(n);
            return new(id, seed, Params.Of(("batch", batch), ("channels", channels), ("length", length), ("n", n), ("inverse", inverse),
                    ("complex_input", complexInput), ("learned", learned), ("shared", shared), ("block_noise", noise)),
                $"{(inverse ? "inverse" : "forward")}, batch {batch}, {channels} channel(s), L = {length}, n = {n}: N = {size}, levels " +
                $"[{string.Join(", ", Factors(size))}], {(complexInput ? "complex" : "real")} input, " +
                (learned ? $"{(shared ? "shared" : "per-channel")} blocks = DFT + {noise} noise" : "exact blocks"), tags);
        }
    }
}
