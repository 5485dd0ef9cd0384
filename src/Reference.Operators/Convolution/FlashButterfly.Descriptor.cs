using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.Fourier;
using static Reference.Operators.Convolution.ConvolutionDescriptors;

namespace Reference.Operators.Convolution;

public static partial class FlashButterfly
{
    /// <summary>The registry entry of the FlashButterfly convolution ("conv.flash_butterfly").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "conv.flash_butterfly",
        Version = 1,
        Title = "FlashButterfly convolution (block-FFT causal convolution)",
        Paper = "Fu, Epstein et al., Simple Hardware-Efficient Long Convolutions for Sequence Modeling (arXiv:2302.06646), Sec. 3.2 " +
            "(FlashButterfly: the FFT as block-DFT GEMMs with twiddles) and Sec. 3.3 (learned blocks initialized to the exact DFT)",
        File = "src/Reference.Operators/Convolution/FlashButterfly.cs",
        Summary = "y[B x C x L] = k * u + d u, the causal convolution of u[B x C x L] with k[C x Lk] through the exact block FFT of size " +
            "N = pow2 >= L + min(Lk, L) - 1 (levels of f <= 16 point DFT blocks), plus skip d[C] * u",
        Parameters =
        [
            new("batch", "int", "-", "batch B"),
            new("channels", "int", "-", "channels C (one kernel each)"),
            new("length", "int", "-", "length L"),
            new("kernel_length", "int", "-", "kernel length Lk (taps beyond lag L - 1 never act)"),
            new("skip", "bool", "true", "whether the case draws the skip d (false: D = 0, the d = null path)"),
        ],
        Inputs =
        [
            new("u", "[B, C, L]", "input sequence, channel-major"),
            new("k", "[C, Lk]", "kernel: tap k[c, j] acts on lag j"),
            new("d", "[C]", "skip D (absent: D = 0)", Optional: true),
        ],
        Outputs = [new("y", "[B, C, L]", "y[t] = sum_{j <= min(t, Lk - 1)} k[j] u[t - j] + D u[t]")],
        NaiveEntry = "FlashButterfly.Convolve(u, k, d)",
        Naive = (_, x) => NamedTensors.Outputs(("y", Convolve(x.Double("u"), x.Double("k"), Skip(x)))),
        FastEntry = "FlashButterfly.ConvolveFast<T>(u, k, d) (float32, float64): the same levels in Stockham order with Vector256 block " +
            "products, two real channels per complex transform, channel pairs on threads (FlashButterfly.Fast.cs)",
        Fast = (_, x, precision) => precision == Precision.Float32 ? FastOut<float>(x) : FastOut<double>(x),
        Forms =
        [
            new("learned blocks at the exact init", "FlashButterfly.ConvolveLearned(ButterflyParameters.InitializeExact(FftConvolution.FftSize(L, Lk), C), u, k, d)",
                (p, x) =>
                {
                    var blocks = ButterflyParameters.InitializeExact(FftConvolution.FftSize(p.Int("length"), p.Int("kernel_length")), p.Int("channels"));
                    return NamedTensors.Outputs(("y", ConvolveLearned(blocks, x.Double("u"), x.Double("k"), Skip(x))));
                }, "y"),
            new("three-pass (Sec. 3.2)", "FlashButterfly.ConvolveThreePass(u, k, d): first level over the whole sequence, then chunk by chunk " +
                "(forward, product, inverse on each chunk of N / m), then the first level's adjoint",
                (_, x) => NamedTensors.Outputs(("y", ConvolveThreePass(x.Double("u"), x.Double("k"), Skip(x)))), "y"),
            new("chunked state passing on the fast tier (Lc = 8)", "FlashButterfly.ConvolveChunkedFast<double>(u, k, d, 8): ForwardChunkFast per chunk, " +
                "the pending tail of the earlier chunks' full convolutions carried as the state",
                (_, x) => NamedTensors.Outputs(("y", ConvolveChunkedFast(x.Double("u"), x.Double("k"), Skip(x), 8, maxThreads: 1))), "y"),
            new("direct causal sum", "CausalConvolution.Forward(u, k, d)",
                (_, x) => NamedTensors.Outputs(("y", CausalConvolution.Forward(x.Double("u"), x.Double("k"), Skip(x)))), "y"),
            new("materialized T u", "CausalConvolution.Materialize(k, d, L), then T u per row",
                (p, x) => NamedTensors.Outputs(("y", OperatorMatrices.Apply(MaterializeRows(p, x), x.Double("u")))), "y"),
        ],
        MaterializeEntry = "CausalConvolution.Materialize(k, d, L) [C, L, L] (the causal Toeplitz matrix of k plus D), repeated over the batch",
        Materialize = MaterializeRows,
        AutodiffEntry = "ConvolutionOps.FlashButterfly(u, k, d) (VJP: FlashButterfly.Backward)",
        Differentiable = ["u", "k", "d"],
        Autodiff = (_, _, v) => ConvolutionOps.FlashButterfly(v[0], v[1], v.Length > 2 ? v[2] : null),
        AccumulationOrder = "x = u and kappa = k[:, :min(Lk, L)] zero-padded to N = FftConvolution.FftSize(L, Lk); X = F_N x, K = F_N kappa by the " +
            "block recursion (levels Factors(N): the largest divisor f <= 16 while the length exceeds 16, then a dense base; every block product " +
            "a NaiveGemm with the inner index ascending, re = ArBr - AiBi then im = ArBi + AiBr; twiddle angles reduced modulo the level length); " +
            "Z = X K; w = conj(F_N) Z by the same recursion, times 1/N; y = Re(w)[:L] + d u",
        Distribution = CaseInputs.NormalF32 + " (u, then k, then d when params.skip is true)",
        Cases =
        [
            Case("one_level_2x3x12_k5", 901, 2, 3, 12, 5, true),
            Case("two_levels_1x2x64_k64", 902, 1, 2, 64, 64, true),
            Case("three_levels_short_kernel_1x2x256_k100", 903, 1, 2, 256, 100, true),
            Case("length_one_no_skip_k3", 904, 1, 1, 1, 3, false, "edge"),
        ],
        DemoCase = "three_levels_short_kernel_1x2x256_k100",
        DrawInputs = (p, rng) =>
        {
            var x = new NamedArrays
            {
                ["u"] = CaseInputs.Normal(rng, p.Int("batch"), p.Int("channels"), p.Int("length")),
                ["k"] = CaseInputs.Normal(rng, p.Int("channels"), p.Int("kernel_length")),
            };
            if (HasSkip(p)) x["d"] = CaseInputs.Normal(rng, p.Int("channels"));
            return x;
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5,
            "an exact block FFT of size N <= 512 (f <= 16 point DFT blocks and twiddles): float64 round-off grows like eps64 log N relative to " +
            "the output norm, ~1e-15 here (1e-12 leaves a margin); a float32 backend reaches ~1e-6, 1e-5 is the conventions' float32 bound"),
        Without = new Dictionary<string, string>
        {
            ["realize"] = "no diagonal state: the convolution's state is the shift register of the last Lk - 1 inputs (a nilpotent transition)",
            ["step"] = "the block FFT transforms whole sequences; decoding the same convolution token by token is conv.causal's " +
                "CausalConvolution.Step (ConvolutionState)",
            ["ess"] = "the same operator matrix as conv.causal (FlashButterfly changes how the convolution is evaluated, not what it is); " +
                "conv.causal's ESS instance covers it",
        },
    };

    private static NamedArrays FastOut<T>(NamedArrays x) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> =>
        NamedTensors.Outputs(("y", ConvolveFast(x.As<T>("u"), x.As<T>("k"), x.Optional<T>("d"), maxThreads: 1)));

    private static bool HasSkip(JsonObject p) => !p.ContainsKey("skip") || p.Bool("skip");

    /// <summary>T per row of u: CausalConvolution.Materialize(k, d, L) [C, L, L] repeated over the batch, [B C, L, L].</summary>
    private static Tensor<double> MaterializeRows(JsonObject p, NamedArrays x) =>
        OperatorMatrices.PerRow(CausalConvolution.Materialize(x.Double("k"), Skip(x), p.Int("length")), p.Int("batch") * p.Int("channels"));

    private static ConformanceCase Case(string id, ulong seed, int batch, int channels, int length, int kernelLength, bool skip,
        params string[] tags)
    {
        int n = FftConvolution.FftSize(length, kernelLength);
        var factors = Factors(n);
        return new(id, seed, Params.Of(("batch", batch), ("channels", channels), ("length", length), ("kernel_length", kernelLength), ("skip", skip)),
            $"batch {batch}, {channels} channel(s), L = {length}, kernel length {kernelLength}{(skip ? "" : ", no skip")}: N = {n}, " +
            $"{factors.Length} level(s) [{string.Join(", ", factors)}]", tags);
    }
}
