using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.IO;
using Reference.Operators.Convolution;
using Reference.Operators.StateSpace;

namespace Reference.Golden.Ops;

/// <summary>
/// conv.causal: y[b, c, t] = sum_{j = 0..min(t, Lk - 1)} k[c, j] u[b, c, t - j] + d[c] u[b, c, t],
/// u, y [B x C x L], k [C x Lk], d [C] (<see cref="CausalConvolution.Forward"/>; fast tier
/// <see cref="CausalConvolution.ForwardFast{T}"/>: per-lag AXPYs below 64 taps, the FFT route above).
/// conv.bidirectional: the causal part plus the anti-causal part of the `conjugate` or `pad_flip`
/// convention (params.mode) with k_rev [C x Lr] (<see cref="CausalConvolution.ForwardBidirectional"/>; naive only).
/// (ssm.s4d is registered: its golden op comes from <see cref="S4D.Descriptor"/>.)
/// </summary>
public static class ConvolutionGolden
{
    private const string ConvOrder =
        "y[b, c, t]: float64 acc = 0; acc += k[c, j] * u[b, c, t - j] for j = 0..min(t, Lk - 1) in order; y = acc + d[c] * u[b, c, t]";

    private const string Rationale =
        "a sum of up to L products per output: float64 reorderings (FFT route, AXPY order) stay ~1e-14 relative at these sizes " +
        "(1e-12 leaves a margin); float32 FFT/AXPY reach ~1e-6, so 1e-5 is the conventions' float32 bound";

    public static GoldenOp Causal { get; } = new()
    {
        Name = "conv.causal",
        Version = 1,
        Summary = "y[B x C x L] = causal convolution of u[B x C x L] with k[C x Lk] per channel plus skip d[C] * u",
        AccumulationOrder = ConvOrder,
        Distribution = CaseInputs.NormalF32 + " (u, then k, then d)",
        Cases =
        [
            Case("one_tap_length_one", 501, 1, 1, 1, 1, "edge"),
            Case("short_2x3x17_k4", 502, 2, 3, 17, 4),
            Case("kernel_longer_than_l_1x2x9_k17", 503, 1, 2, 9, 17, "edge"),
            Case("fft_route_2x2x100_k100", 504, 2, 2, 100, 100),
            Case("fft_route_1x4x129_k65", 505, 1, 4, 129, 65),
        ],
        Inputs = (p, rng) => new NamedArrays
        {
            ["u"] = CaseInputs.Normal(rng, p.Int("batch"), p.Int("channels"), p.Int("length")),
            ["k"] = CaseInputs.Normal(rng, p.Int("channels"), p.Int("kernel_length")),
            ["d"] = CaseInputs.Normal(rng, p.Int("channels")),
        },
        Naive = (_, x) => new NamedArrays
        {
            ["y"] = NpyArray.FromTensor(CausalConvolution.Forward(x["u"].ToTensorDouble(), x["k"].ToTensorDouble(), x["d"].ToTensorDouble())),
        },
        Fast = (_, x, precision) => precision == Precision.Float32 ? FastCausal<float>(x) : FastCausal<double>(x),
        Tolerance = (_, _) => Tolerance.NormRelative(1e-12, 1e-5, Rationale),
    };

    public static GoldenOp Bidirectional { get; } = new()
    {
        Name = "conv.bidirectional",
        Version = 1,
        Summary = "y[C x L] = causal conv of u with k plus the anti-causal part with k_rev (mode conjugate: lag 0 up, pad_flip: lag 1 up) plus d * u",
        AccumulationOrder = ConvOrder + "; then acc2 = 0; acc2 += k_rev[c, m - o] * u[c, t + m] for m = o..min(L - 1 - t, Lr - 1 + o) in order " +
            "(o = 0 for conjugate, 1 for pad_flip); y += acc2",
        Distribution = CaseInputs.NormalF32 + " (u, then k, then k_rev, then d)",
        Cases =
        [
            BiCase("conjugate_2x16", 511, 2, 16, 16, "conjugate"),
            BiCase("pad_flip_2x16", 512, 2, 16, 16, "pad_flip"),
            BiCase("conjugate_short_kernels_1x9_k3", 513, 1, 9, 3, "conjugate"),
            BiCase("pad_flip_length_one", 514, 1, 1, 1, "pad_flip", "edge"),
        ],
        Inputs = (p, rng) => new NamedArrays
        {
            ["u"] = CaseInputs.Normal(rng, p.Int("channels"), p.Int("length")),
            ["k"] = CaseInputs.Normal(rng, p.Int("channels"), p.Int("kernel_length")),
            ["k_rev"] = CaseInputs.Normal(rng, p.Int("channels"), p.Int("kernel_length")),
            ["d"] = CaseInputs.Normal(rng, p.Int("channels")),
        },
        Naive = (p, x) => new NamedArrays
        {
            ["y"] = NpyArray.FromTensor(CausalConvolution.ForwardBidirectional(x["u"].ToTensorDouble(), x["k"].ToTensorDouble(),
                x["k_rev"].ToTensorDouble(), x["d"].ToTensorDouble(), Mode(p))),
        },
        Tolerance = (_, _) => Tolerance.NormRelative(1e-12, 1e-5, Rationale),
    };

    private static NamedArrays FastCausal<T>(NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> => new()
    {
        ["y"] = NpyArray.FromTensor(CausalConvolution.ForwardFast(x["u"].ToTensor<T>(), x["k"].ToTensor<T>(), x["d"].ToTensor<T>(), maxThreads: 1)),
    };

    private static BidirectionalMode Mode(JsonObject p) => p.String("mode") switch
    {
        "conjugate" => BidirectionalMode.Conjugate,
        "pad_flip" => BidirectionalMode.PadFlip,
        var other => throw new ArgumentException($"params.mode must be conjugate or pad_flip, found {other}.", "mode"),
    };

    private static ConformanceCase Case(string id, ulong seed, int batch, int channels, int length, int kernelLength, params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("channels", channels), ("length", length), ("kernel_length", kernelLength)),
            $"batch {batch}, {channels} channel(s), L = {length}, kernel length {kernelLength}{(Math.Min(kernelLength, length) >= CausalConvolution.FftThreshold ? " (FFT route in the fast tier)" : "")}", tags);

    private static ConformanceCase BiCase(string id, ulong seed, int channels, int length, int kernelLength, string mode, params string[] tags) =>
        new(id, seed, Params.Of(("channels", channels), ("length", length), ("kernel_length", kernelLength), ("mode", mode)),
            $"{mode}: {channels} channel(s), L = {length}, kernel lengths {kernelLength}", tags);

}
