using Reference.Core;
using Reference.Core.IO;
using Reference.Operators.Convolution;

namespace Reference.Golden.Ops;

/// <summary>
/// conv.long: the convolution core of the long-convolution layer (eval mode, no dropout):
/// K = Squash(Smooth(W)), y[b, c H + h, :] = K[c, h, :] * u[b, h, :] + D[c, h] u[b, h, :]
/// (<see cref="LongConvolution.Convolve"/>), u [B, H, L], W [C, H, Lk], D [C, H], y [B, C H, L].
/// conv.hyena: the Hyena operator (<see cref="Hyena.Forward"/>) on u [B, L, D]; every parameter is an
/// input array (drawn by <see cref="HyenaParameters.Initialize"/> from the case seed, rounded to float32).
/// </summary>
public static class LongConvolutionGolden
{
    private const string Rationale =
        "direct sums of up to L products after a float64 kernel pipeline; float64 reorderings stay a few eps64 times L relative " +
        "(1e-12 leaves a wide margin); float32 ~1e-5 (the conventions' bound)";

    public static GoldenOp LongConv { get; } = new()
    {
        Name = "conv.long",
        Version = 1,
        Summary = "y [B, C H, L] = Squash_lambda(Smooth_window(W)) * u + D u per (c, h); u [B, H, L], W [C, H, Lk], D [C, H]",
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
        Inputs = (p, rng) => new NamedArrays
        {
            ["u"] = CaseInputs.Normal(rng, p.Int("batch"), p.Int("width"), p.Int("length")),
            ["w"] = CaseInputs.Normal(rng, p.Int("channels"), p.Int("width"), p.Int("kernel_length")),
            ["d"] = CaseInputs.Normal(rng, p.Int("channels"), p.Int("width")),
        },
        Naive = (p, x) =>
        {
            int b = p.Int("batch"), h = p.Int("width"), c = p.Int("channels"), l = p.Int("length"), lk = p.Int("kernel_length");
            var prm = new LongConvolutionParameters(h, c, lk, x["w"].ToDoubles(), x["d"].ToDoubles(), new double[2 * h * c * h],
                new double[2 * h], p.Double("lambda"), p.Int("window"));
            var y = LongConvolution.Convolve(prm, new Tensor<double>(x["u"].ToDoubles(), b, h, l));
            return new NamedArrays { ["y"] = NpyArray.Of(y.Data, b, c * h, l) };
        },
        Tolerance = (_, _) => Tolerance.NormRelative(1e-12, 1e-5, Rationale),
    };

    public static GoldenOp HyenaOp { get; } = new()
    {
        Name = "conv.hyena",
        Version = 1,
        Summary = "out [B, L, D] = Hyena order-N_o operator (safari HyenaOperator: in_proj, 3-tap causal conv, implicit Sin-MLP filters " +
            "with exponential window, gates, out_proj); every parameter is an input",
        AccumulationOrder = "Linear: sum over the input index ascending, bias last; causal convolutions as conv.long (lags ascending, skip last); " +
            "filter MLP per position in float64",
        Distribution = "parameters by HyenaParameters.Initialize(SplitMix64(seed)) (PyTorch default uniform Linear init, N(0, 1) filter bias), " +
            "each rounded to float32; then u " + CaseInputs.NormalF32,
        Cases =
        [
            HyenaCase("order2_1x1x1", 611, 1, 1, 1, 2, 4, 3, "edge"),
            HyenaCase("order2_2x9x3", 612, 2, 9, 3, 2, 8, 3),
            HyenaCase("order3_1x16x2_lmax20", 613, 1, 16, 2, 3, 8, 5),
        ],
        Inputs = (p, rng) =>
        {
            int d = p.Int("width"), l = p.Int("length");
            var hp = HyenaParameters.Initialize(rng, d, p.Int("max_length"), p.Int("order"), p.Int("filter_width"), p.Int("embedding_dim"));
            var arrays = new NamedArrays();
            foreach (var (name, data) in Arrays(hp)) arrays[name] = NpyArray.Of(data.Select(v => (double)(float)v).ToArray(), data.Length);
            arrays["u"] = CaseInputs.Normal(rng, p.Int("batch"), l, d);
            return arrays;
        },
        Naive = (p, x) =>
        {
            int d = p.Int("width"), order = p.Int("order"), f = p.Int("filter_width"), e = p.Int("embedding_dim");
            double[] A(string name) => x[name].ToDoubles();
            var hp = new HyenaParameters(d, order, f, e, p.Int("max_length"), A("in_w"), A("in_b"), A("short_w"), A("short_b"),
                A("w0"), A("b0"), A("w1"), A("b1"), A("w2"), A("b2"), A("w3"), A("freq"), A("deltas"), A("filter_bias"), A("out_w"), A("out_b"));
            int b = p.Int("batch"), l = p.Int("length");
            var y = Hyena.Forward(hp, new Tensor<double>(A("u"), b, l, d));
            return new NamedArrays { ["y"] = NpyArray.Of(y.Data, b, l, d) };
        },
        Tolerance = (_, _) => Tolerance.NormRelative(1e-12, 1e-5, Rationale),
    };

    private static IEnumerable<(string Name, double[] Data)> Arrays(HyenaParameters p) =>
    [
        ("in_w", p.InW), ("in_b", p.InB), ("short_w", p.ShortW), ("short_b", p.ShortB), ("w0", p.W0), ("b0", p.B0),
        ("w1", p.W1), ("b1", p.B1), ("w2", p.W2), ("b2", p.B2), ("w3", p.W3), ("freq", p.Freq), ("deltas", p.Deltas),
        ("filter_bias", p.FilterBias), ("out_w", p.OutW), ("out_b", p.OutB),
    ];

    private static ConformanceCase Case(string id, ulong seed, int batch, int width, int channels, int length, int kernelLength,
        int window, double lambda, params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("width", width), ("channels", channels), ("length", length),
            ("kernel_length", kernelLength), ("window", window), ("lambda", lambda)),
            $"B = {batch}, H = {width}, C = {channels}, L = {length}, Lk = {kernelLength}, window {window}, lambda {lambda}", tags);

    private static ConformanceCase HyenaCase(string id, ulong seed, int batch, int length, int width, int order, int filterWidth,
        int embeddingDim, params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("length", length), ("width", width), ("order", order), ("filter_width", filterWidth),
            ("embedding_dim", embeddingDim), ("max_length", length + 4)),
            $"B = {batch}, L = {length} (l_max = {length + 4}), D = {width}, order {order}, filter width {filterWidth}, E = {embeddingDim}", tags);
}
