using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.Conformance;
using static Reference.Operators.Convolution.ConvolutionDescriptors;

namespace Reference.Operators.Convolution;

public static partial class CausalConvolution
{
    /// <summary>The bidirectional convolution (<see cref="ForwardBidirectional"/>) as its own registered operator.</summary>
    public static class Bidirectional
    {
        /// <summary>The registry entry of the bidirectional convolution ("conv.bidirectional").</summary>
        public static OperatorDescriptor Descriptor { get; } = new()
        {
            Name = "conv.bidirectional",
            Version = 1,
            Title = "Bidirectional convolution (conjugate and pad_flip conventions)",
            Paper = "Fu, Epstein et al., Simple Hardware-Efficient Long Convolutions (arXiv:2302.06646), Sec. 2 (the bidirectional kernel pair); " +
                "conventions of H3 / safari fftconv_ref (conjugate) and M2 / safari LongConv (pad_flip)",
            File = "src/Reference.Operators/Convolution/CausalConvolution.cs",
            Summary = "y[C x L] = causal conv of u with k plus the anti-causal part with k_rev (mode conjugate: lag 0 up, pad_flip: lag 1 up) plus d * u",
            Causal = false,
            Parameters =
            [
                new("channels", "int", "-", "channels C"),
                new("length", "int", "-", "length L"),
                new("kernel_length", "int", "-", "length of k and of k_rev (Lk = Lr)"),
                new("mode", "string", "-", "conjugate: y[t] += sum_{m=0..L-1-t} k_rev[m] u[t+m]; pad_flip: y[t] += sum_{m=1..L-1-t} k_rev[m-1] u[t+m]"),
            ],
            Inputs =
            [
                new("u", "[C, L]", "input sequence"),
                new("k", "[C, Lk]", "causal kernel: k[c, j] acts on lag j"),
                new("k_rev", "[C, Lk]", "anti-causal kernel: k_rev[c, 0] acts on lag 0 (conjugate) or lag -1 (pad_flip)"),
                new("d", "[C]", "skip D (absent: D = 0)", Optional: true),
            ],
            Outputs = [new("y", "[C, L]", "causal part + anti-causal part + D u")],
            NaiveEntry = "CausalConvolution.ForwardBidirectional(u, k, kRev, d, mode)",
            Naive = (p, x) => NamedTensors.Outputs(("y",
                ForwardBidirectional(x.Double("u"), x.Double("k"), x.Double("k_rev"), Skip(x), Mode(p)))),
            FastEntry = "CausalConvolution.ForwardBidirectionalFast<T>(u, k, kRev, d, mode) (float32, float64: both parts by ForwardFast, " +
                "the anti-causal one on the time-reversed input)",
            Fast = (p, x, precision) => precision == Precision.Float32 ? FastOut<float>(p, x) : FastOut<double>(p, x),
            Forms =
            [
                new("causal + time-reversed causal", "CausalConvolution.Forward(u, k, d) + reverse(CausalConvolution.Forward(reverse(u), k_rev')) " +
                    "(k_rev' = k_rev for conjugate, [0, k_rev] for pad_flip)",
                    (p, x) => NamedTensors.Outputs(("y", TwoCausalPasses(p, x))), "y"),
                new("materialized T u", "CausalConvolution.MaterializeBidirectional(k, kRev, d, L, mode), then T u per channel",
                    (p, x) => NamedTensors.Outputs(("y", OperatorMatrices.Apply(MaterializeBoth(p, x), x.Double("u")))), "y"),
            ],
            MaterializeEntry = "CausalConvolution.MaterializeBidirectional(k, kRev, d, L, mode) [C, L, L] (full, not triangular)",
            Materialize = MaterializeBoth,
            AccumulationOrder = ConvOrder + "; then acc2 = 0; acc2 += k_rev[c, m - o] * u[c, t + m] for m = o..min(L - 1 - t, Lr - 1 + o) in order " +
                "(o = 0 for conjugate, 1 for pad_flip); y += acc2",
            Distribution = CaseInputs.NormalF32 + " (u, then k, then k_rev, then d)",
            Cases =
            [
                Case("conjugate_2x16", 511, 2, 16, 16, "conjugate"),
                Case("pad_flip_2x16", 512, 2, 16, 16, "pad_flip"),
                Case("conjugate_short_kernels_1x9_k3", 513, 1, 9, 3, "conjugate"),
                Case("pad_flip_length_one", 514, 1, 1, 1, "pad_flip", "edge"),
            ],
            DemoCase = "pad_flip_2x16",
            DrawInputs = (p, rng) => new NamedArrays
            {
                ["u"] = CaseInputs.Normal(rng, p.Int("channels"), p.Int("length")),
                ["k"] = CaseInputs.Normal(rng, p.Int("channels"), p.Int("kernel_length")),
                ["k_rev"] = CaseInputs.Normal(rng, p.Int("channels"), p.Int("kernel_length")),
                ["d"] = CaseInputs.Normal(rng, p.Int("channels")),
            },
            Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5, Rationale),
            AutodiffEntry = "ConvolutionOps.Bidirectional(u, k, k_rev, mode, d) (VJP: CausalConvolution.BackwardBidirectional)",
            Differentiable = ["u", "k", "k_rev", "d"],
            Autodiff = (p, _, v) => ConvolutionOps.Bidirectional(v[0], v[1], v[2], Mode(p), v.Length > 3 ? v[3] : null),
            Without = new Dictionary<string, string>
            {
                ["realize"] = "not causal: output t reads inputs after t, so no recurrence over t (diagonal or not) realizes T",
                ["step"] = "not causal: output t needs the inputs up to L - 1, so there is no token-by-token decoding (the file head says so)",
                ["ess"] = "not causal: ESS is defined on causal (lower-triangular) operators; the catalog has no bidirectional instance",
            },
        };

        private static NamedArrays FastOut<T>(JsonObject p, NamedArrays x) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> =>
            NamedTensors.Outputs(("y", ForwardBidirectionalFast(x.As<T>("u"), x.As<T>("k"), x.As<T>("k_rev"), x.Optional<T>("d"), Mode(p), maxThreads: 1)));

        private static BidirectionalMode Mode(JsonObject p) => p.String("mode") switch
        {
            "conjugate" => BidirectionalMode.Conjugate,
            "pad_flip" => BidirectionalMode.PadFlip,
            var other => throw new ArgumentException($"params.mode must be conjugate or pad_flip, found {other}.", "mode"),
        };

        private static Tensor<double> MaterializeBoth(JsonObject p, NamedArrays x) =>
            MaterializeBidirectional(x.Double("k"), x.Double("k_rev"), Skip(x), p.Int("length"), Mode(p));

        /// <summary>The anti-causal part as a causal convolution of the time-reversed input with k_rev (shifted one lag for pad_flip).</summary>
        private static Tensor<double> TwoCausalPasses(JsonObject p, NamedArrays x)
        {
            var u = x.Double("u");
            var kRev = x.Double("k_rev");
            if (Mode(p) == BidirectionalMode.PadFlip)
            {
                int c = kRev.Dim(0), lr = kRev.Dim(1);
                var shifted = Tensor<double>.Zeros(c, lr + 1);
                for (int ch = 0; ch < c; ch++) kRev.Data.AsSpan(ch * lr, lr).CopyTo(shifted.Data.AsSpan(ch * (lr + 1) + 1));
                kRev = shifted;
            }
            var y = Forward(u, x.Double("k"), Skip(x));
            var anti = Reverse(Forward(Reverse(u), kRev));
            for (int i = 0; i < y.Length; i++) y.Data[i] += anti.Data[i];
            return y;
        }

        private static ConformanceCase Case(string id, ulong seed, int channels, int length, int kernelLength, string mode, params string[] tags) =>
            new(id, seed, Params.Of(("channels", channels), ("length", length), ("kernel_length", kernelLength), ("mode", mode)),
                $"{mode}: {channels} channel(s), L = {length}, kernel lengths {kernelLength}", tags);
    }
}
