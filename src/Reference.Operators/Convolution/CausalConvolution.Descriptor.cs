using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;
using Reference.Operators.StateSpace;
using static Reference.Operators.Convolution.ConvolutionDescriptors;

namespace Reference.Operators.Convolution;

public static partial class CausalConvolution
{
    /// <summary>The registry entry of the causal convolution with skip ("conv.causal").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "conv.causal",
        Version = 1,
        Title = "Causal convolution with skip",
        Paper = "Fu, Dao et al., Hungry Hungry Hippos (arXiv:2212.14052), Sec. 3 (the SSM as a convolution y = K * u + D u) and Sec. 4 " +
            "(FlashConv: FFT convolution, state passing across chunks); Fu, Epstein et al., Simple Hardware-Efficient Long Convolutions " +
            "(arXiv:2302.06646), Sec. 2",
        File = "src/Reference.Operators/Convolution/CausalConvolution.cs",
        Summary = "y[B x C x L] = causal convolution of u[B x C x L] with k[C x Lk] per channel plus skip d[C] * u",
        Parameters =
        [
            new("batch", "int", "-", "batch B"),
            new("channels", "int", "-", "channels C (one kernel each)"),
            new("length", "int", "-", "length L"),
            new("kernel_length", "int", "-", "kernel length Lk (taps beyond lag L - 1 never act)"),
        ],
        Inputs =
        [
            new("u", "[B, C, L]", "input sequence, channel-major"),
            new("k", "[C, Lk]", "kernel: tap k[c, j] acts on lag j"),
            new("d", "[C]", "skip D (absent: D = 0)", Optional: true),
        ],
        Outputs = [new("y", "[B, C, L]", "y[t] = sum_{j <= min(t, Lk - 1)} k[j] u[t - j] + D u[t]")],
        NaiveEntry = "CausalConvolution.Forward(u, k, d)",
        Naive = (_, x) => NamedTensors.Outputs(("y", Forward(x.Double("u"), x.Double("k"), Skip(x)))),
        FastEntry = "CausalConvolution.ForwardFast<T>(u, k, d) (float32, float64): per-lag AXPYs below FftThreshold = 64 taps, the real-FFT route above",
        Fast = (_, x, precision) => precision == Precision.Float32 ? FastOut<float>(x) : FastOut<double>(x),
        Forms =
        [
            new("chunked (state passing, C = 5)", "CausalConvolution.InitialState, then ForwardChunk(state, u[.., t0:t0 + 5], k, d) per chunk",
                (_, x) => NamedTensors.Outputs(("y", Chunked(x.Double("u"), x.Double("k"), Skip(x), 5))), "y"),
            new("recurrent", "CausalConvolution.Step(state, u_t, k, d) per token",
                (_, x) => NamedTensors.Outputs(("y", Recurrent(x.Double("u"), x.Double("k"), Skip(x)))), "y"),
            new("block FFT", "FlashButterfly.Convolve(u, k, d) (exact block-DFT FFT of size FftConvolution.FftSize(L, Lk))",
                (_, x) => NamedTensors.Outputs(("y", FlashButterfly.Convolve(x.Double("u"), x.Double("k"), Skip(x)))), "y"),
            new("materialized T u", "CausalConvolution.Materialize(k, d, L), then T u per row",
                (p, x) => NamedTensors.Outputs(("y", OperatorMatrices.Apply(MaterializeRows(p, x), x.Double("u")))), "y"),
        ],
        MaterializeEntry = "CausalConvolution.Materialize(k, d, L) [C, L, L], repeated over the batch",
        Materialize = MaterializeRows,
        StepEntry = "CausalConvolution.Step(state, u_t, k, d) (Prefill(u, k, d) for a prompt; ForwardChunk for chunks)",
        State = "ConvolutionState: History [B C, Lk - 1] (the last Lk - 1 inputs of every row, zeros before the start) and Position",
        Decoder = (_, inputs, b) =>
        {
            var k = inputs.Double("k");
            var d = Skip(inputs);
            int c = k.Dim(0);
            var state = InitialState(b * c, c, k.Dim(1));
            return new OperatorDecoder(b,
                x => new Tensor<double>(Step(state, OperatorDecoder.Squeeze(x, "u", 2).Data, k, d), b, c, 1),
                () => state.History.Length);
        },
        TotalStateSizeFormula = "k - 1 per channel (the last k - 1 inputs; k = kernel_length taps)",
        TotalStateSize = (p, _, _) => p.Int("kernel_length") - 1,
        ParameterCount = p => (long)p.Int("channels") * p.Int("kernel_length"),
        CacheSizeFormula = "C (Lk - 1) (the last Lk - 1 inputs); constant in L",
        CacheSize = (p, _) => (long)p.Int("channels") * (p.Int("kernel_length") - 1),
        Sample = o =>
        {
            // A short convolution: taps ~ U(-1/sqrt(k), 1/sqrt(k)) (PyTorch's Conv1d init), no skip; then u ~ N(0, 1).
            if (o.Taps < 1)
                throw new ArgumentOutOfRangeException(nameof(o), $"Taps = {o.Taps} must be >= 1.");
            double bound = 1.0 / Math.Sqrt(o.Taps);
            var rng = new SplitMix64(o.Seed);
            var taps = rng.UniformTensor<double>(-bound, bound, o.Channels, o.Taps);
            var u = rng.NormalTensor<double>(0, 1, 1, o.Channels, o.Length);
            return new OperatorSample(
                Params.Of(("batch", 1), ("channels", o.Channels), ("length", o.Length), ("kernel_length", o.Taps)),
                new NamedArrays { ["u"] = NpyArray.FromTensor(u), ["k"] = NpyArray.FromTensor(taps) });
        },
        AutodiffEntry = "SsmOps.CausalConvolution(u, k, d) (VJP: CausalConvolution.Backward)",
        Differentiable = ["u", "k", "d"],
        Autodiff = (_, _, v) => SsmOps.CausalConvolution(v[0], v[1], v.Length > 2 ? v[2] : null),
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
        DrawInputs = (p, rng) => new NamedArrays
        {
            ["u"] = CaseInputs.Normal(rng, p.Int("batch"), p.Int("channels"), p.Int("length")),
            ["k"] = CaseInputs.Normal(rng, p.Int("channels"), p.Int("kernel_length")),
            ["d"] = CaseInputs.Normal(rng, p.Int("channels")),
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5, Rationale),
        Without = new Dictionary<string, string>
        {
            ["realize"] = "no diagonal state: the state is the shift register of the last Lk - 1 inputs (ConvolutionState), whose transition " +
                "is a nilpotent shift, not a diagonal; ESS takes the dense path on Materialize",
        },
    };

    /// <summary>T per row of u: Materialize(k, d, L) [C, L, L] repeated over the batch, [B C, L, L].</summary>
    private static Tensor<double> MaterializeRows(JsonObject p, NamedArrays x) =>
        OperatorMatrices.PerRow(Materialize(x.Double("k"), Skip(x), p.Int("length")), p.Int("batch") * p.Int("channels"));

    private static NamedArrays FastOut<T>(NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> =>
        NamedTensors.Outputs(("y", ForwardFast(x.As<T>("u"), x.As<T>("k"), x.Optional<T>("d"), maxThreads: 1)));

    private static ConformanceCase Case(string id, ulong seed, int batch, int channels, int length, int kernelLength, params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("channels", channels), ("length", length), ("kernel_length", kernelLength)),
            $"batch {batch}, {channels} channel(s), L = {length}, kernel length {kernelLength}{(Math.Min(kernelLength, length) >= FftThreshold ? " (FFT route in the fast tier)" : "")}", tags);
}
