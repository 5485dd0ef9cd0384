using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;

namespace Reference.Operators.Convolution;

public static partial class LongConvolution
{
    private const string Rationale =
        "direct sums of up to L products after a float64 kernel pipeline; float64 reorderings stay a few eps64 times L relative " +
        "(1e-12 leaves a wide margin); float32 ~1e-5 (the conventions' bound)";

    /// <summary>The registry entry of the long-convolution core ("conv.long", eval mode: no dropout).</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "conv.long",
        Version = 1,
        Title = "Long convolution (Smooth, Squash, convolution + D)",
        Paper = "Fu, Epstein et al., Simple Hardware-Efficient Long Convolutions for Sequence Modeling (arXiv:2302.06646), " +
            "Sec. 3.1 (the Squash and Smooth regularizers) and Sec. 2 (y = K * u + D u)",
        File = "src/Reference.Operators/Convolution/LongConvolution.cs",
        Summary = "y [B, C H, L] = Squash_lambda(Smooth_window(W)) * u + D u per (c, h); u [B, H, L], W [C, H, Lk], D [C, H]",
        Parameters =
        [
            new("batch", "int", "-", "batch B"),
            new("width", "int", "-", "model channels H"),
            new("channels", "int", "-", "kernel copies C (output channel c H + h)"),
            new("length", "int", "-", "length L"),
            new("kernel_length", "int", "-", "kernel length Lk (l_max; taps beyond lag L - 1 never act)"),
            new("window", "int", "-", "odd moving-average window of Smooth (1 = no smoothing)"),
            new("lambda", "float", "-", "soft threshold of Squash (0 = no squashing)"),
        ],
        Inputs =
        [
            new("u", "[B, H, L]", "input, channel-major"),
            new("w", "[C, H, Lk]", "the explicit kernel parameters W"),
            new("d", "[C, H]", "skip D (absent: D = 0)", Optional: true),
        ],
        Outputs = [new("y", "[B, C H, L]", "y[b, c H + h] = K[c, h] * u[b, h] + D[c, h] u[b, h], K = Squash(Smooth(W))")],
        NaiveEntry = "LongConvolution.Convolve(p, u) (kernel by ProcessedKernel(p): Smooth, then Squash)",
        Naive = (p, x) => NamedTensors.Outputs(("y", Convolve(ParametersOf(p, x), x.Double("u")))),
        FastEntry = "LongConvolution.ConvolveFast<T>(p, u) (float32, float64): the kernel pipeline in float64, then CausalConvolution.ForwardFast<T>",
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastOut<float>(p, x) : FastOut<double>(p, x),
        Forms =
        [
            new("block FFT", "FlashButterfly.Convolve(u copied over C, LongConvolution.ProcessedKernel(p), D)",
                (p, x) =>
                {
                    var prm = ParametersOf(p, x);
                    var y = FlashButterfly.Convolve(Copies(x.Double("u"), prm.Channels), ProcessedKernel(prm), new Tensor<double>(prm.D, prm.D.Length));
                    return NamedTensors.Outputs(("y", y));
                }, "y"),
            new("materialized T u", "LongConvolution.Materialize(p, L), then T u per output row",
                (p, x) => NamedTensors.Outputs(("y",
                    OperatorMatrices.Apply(MaterializeRows(p, x), Copies(x.Double("u"), p.Int("channels"))))), "y"),
        ],
        MaterializeEntry = "LongConvolution.Materialize(p, L) [C H, L, L] (Toeplitz K plus D), repeated over the batch",
        Materialize = MaterializeRows,
        TotalStateSizeFormula = "min(s, L - s, Lk - 1) per channel (an arbitrary kernel: the rank bound of the split block; " +
            "min(s, L - s) for the length-L kernels of the sample)",
        TotalStateSize = (p, s, l) => Math.Min(Math.Min(s, l - s), p.Int("kernel_length") - 1),
        Sample = o =>
        {
            // A decaying random kernel, as long-conv models learn: h[t] ~ N(0, 1) exp(-t / (L/4)) / sqrt(L) per channel, kernel length L, no Smooth (window 1),
            // no Squash (lambda 0), no skip, so that ProcessedKernel(p) is exactly h; then u ~ N(0, 1) [1, C, L].
            var rng = new SplitMix64(o.Seed);
            int l = o.Length;
            var kernel = Tensor<double>.Zeros(o.Channels, l);
            for (int c = 0; c < o.Channels; c++)
                for (int t = 0; t < l; t++) kernel.Data[c * l + t] = rng.Normal() * Math.Exp(-t / (l / 4.0)) / Math.Sqrt(l);
            var u = rng.NormalTensor<double>(0, 1, 1, o.Channels, l);
            return new OperatorSample(
                Params.Of(("batch", 1), ("width", o.Channels), ("channels", 1), ("length", l), ("kernel_length", l), ("window", 1), ("lambda", 0.0)),
                new NamedArrays { ["u"] = NpyArray.FromTensor(u), ["w"] = NpyArray.FromTensor(kernel.Reshape(1, o.Channels, l)) });
        },
        AutodiffEntry = "LongConvolution.ConvolveOp(u, LongConvolution.Variables) (VJP: LongConvolution.ConvolveBackward)",
        Differentiable = ["u", "w", "d"],
        Autodiff = (p, x, v) =>
        {
            var prm = ParametersOf(p, x);
            var vars = new Variables(prm, v[1], v[2],
                Variable.Constant(new Tensor<double>(prm.W, 2 * prm.Width, prm.Channels * prm.Width)),
                Variable.Constant(new Tensor<double>(prm.Bias, 2 * prm.Width)));
            return ConvolveOp(v[0], vars);
        },
        AccumulationOrder = "Smooth: s[t] = (sum_{j = t-w/2..t+w/2, in range} W[j], ascending) / w; Squash: sign(s) max(|s| - lambda, 0); " +
            "y[t]: acc = 0; acc += K[j] u[t - j] for j = 0..min(t, Lk - 1) in order; then + D u[t]",
        Distribution = CaseInputs.NormalF32 + " (u, then W, then D)",
        Cases =
        [
            Case("single_1x1x1", 601, 1, 1, 1, 1, 1, 1, 0.5, "edge"),
            Case("smooth3_2x3x9", 602, 2, 3, 1, 9, 9, 3, 0.5),
            Case("copies2_1x2x16_k17", 603, 1, 2, 2, 16, 17, 5, 0.3),
            Case("nosquash_2x2x33", 604, 2, 2, 1, 33, 33, 7, 0.0),
        ],
        DrawInputs = (p, rng) => new NamedArrays
        {
            ["u"] = CaseInputs.Normal(rng, p.Int("batch"), p.Int("width"), p.Int("length")),
            ["w"] = CaseInputs.Normal(rng, p.Int("channels"), p.Int("width"), p.Int("kernel_length")),
            ["d"] = CaseInputs.Normal(rng, p.Int("channels"), p.Int("width")),
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5, Rationale),
        Without = new Dictionary<string, string>
        {
            ["realize"] = "no diagonal state: an explicit length-Lk kernel is realized only by the shift register of the last Lk - 1 inputs " +
                "(a nilpotent transition); ESS takes the dense path on Materialize",
            ["step"] = "LongConvolution has no decoding entry of its own; its core streams through conv.causal's CausalConvolution.Step with " +
                "k = ProcessedKernel(p) (ConvolutionState, O(Lk) per channel)",
        },
    };

    /// <summary>The eval-mode parameters of a case: W and D from the inputs (D = 0 when absent), no output Linear (zeros).</summary>
    private static LongConvolutionParameters ParametersOf(JsonObject p, NamedArrays x)
    {
        int h = p.Int("width"), c = p.Int("channels");
        var d = x.TryGetValue("d", out var da) ? da.ToDoubles() : new double[c * h];
        return new LongConvolutionParameters(h, c, p.Int("kernel_length"), x["w"].ToDoubles(), d, new double[2 * h * c * h],
            new double[2 * h], p.Double("lambda"), p.Int("window"));
    }

    /// <summary>T per output row: Materialize(p, L) [C H, L, L] repeated over the batch, [B C H, L, L].</summary>
    private static Tensor<double> MaterializeRows(JsonObject p, NamedArrays x) =>
        OperatorMatrices.PerRow(Materialize(ParametersOf(p, x), p.Int("length")), p.Int("batch") * p.Int("channels") * p.Int("width"));

    /// <summary>u [B, H, L] copied over the C kernel copies: [B, C H, L] (row b, c H + h holds u[b, h]).</summary>
    private static Tensor<double> Copies(Tensor<double> u, int copies)
    {
        int batch = u.Dim(0), slab = u.Dim(1) * u.Dim(2);
        var r = Tensor<double>.Zeros(batch, copies * u.Dim(1), u.Dim(2));
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < copies; c++) u.Data.AsSpan(b * slab, slab).CopyTo(r.Data.AsSpan((b * copies + c) * slab));
        return r;
    }

    private static NamedArrays FastOut<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> =>
        NamedTensors.Outputs(("y", ConvolveFast(ParametersOf(p, x), x.As<T>("u"), maxThreads: 1)));

    private static ConformanceCase Case(string id, ulong seed, int batch, int width, int channels, int length, int kernelLength,
        int window, double lambda, params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("width", width), ("channels", channels), ("length", length),
            ("kernel_length", kernelLength), ("window", window), ("lambda", lambda)),
            $"B = {batch}, H = {width}, C = {channels}, L = {length}, Lk = {kernelLength}, window {window}, lambda {lambda}", tags);
}
