using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.IO;
using Reference.Operators.StateSpace;

namespace Reference.Golden.Ops;

/// <summary>
/// ssm.s4d: the S4D layer y = K * u + D u with K[h, l] = 2 Re sum_n C_n Bbar_n Abar_n^l (params.discretization
/// zoh or bilinear), u, y [B x H x L]; the parameters are inputs; outputs y and the kernel K [H x L]
/// (<see cref="S4D.Forward"/>, <see cref="S4D.Kernel"/>; fast tier <see cref="S4D.ForwardFast{T}"/>, <see cref="S4D.KernelFast{T}"/>).
/// conv.causal and conv.bidirectional are registered operators: their cases live in their descriptors
/// (CausalConvolution.Descriptor, CausalConvolution.Bidirectional.Descriptor).
/// </summary>
public static class ConvolutionGolden
{
    public static GoldenOp S4DLayer { get; } = new()
    {
        Name = "ssm.s4d",
        Version = 1,
        Summary = "y[B x H x L] = K * u + d u with the S4D kernel K[H x L] = 2 Re sum_n C Bbar Abar^l (A = -exp(log_neg_real_a) + i imag_a, Delta = exp(log_delta))",
        AccumulationOrder = "K[h, l]: float64 acc = 0; acc += Re(C_n Bbar_n exp(l log Abar_n)) for n = 0..M-1 in order; K = 2 acc; then y as conv.causal with k = K",
        Distribution = "in order, each value rounded to float32 and stored as float64: u normal(0, 1) [B x H x L]; log_neg_real_a = log(0.5) + uniform[-0.5, 0.5) [H x M]; " +
            "imag_a = pi n + uniform[-0.5, 0.5) [H x M]; b_re, b_im, c_re, c_im normal(0, 1) [H x M] each; log_delta uniform[log 1e-3, log 1e-1) [H]; d normal(0, 1) [H] " +
            "(normal and uniform as in " + CaseInputs.NormalF32 + ")",
        Cases =
        [
            S4DCase("zoh_1x2x16_n8", 521, 1, 2, 16, 8, "zoh"),
            S4DCase("bilinear_1x2x16_n8", 522, 1, 2, 16, 8, "bilinear"),
            S4DCase("zoh_2x3x33_n16", 523, 2, 3, 33, 16, "zoh"),
            S4DCase("bilinear_1x4x100_n64", 524, 1, 4, 100, 64, "bilinear"),
            S4DCase("zoh_length_one", 525, 1, 1, 1, 2, "zoh", "edge"),
        ],
        Inputs = (p, rng) =>
        {
            int b = p.Int("batch"), h = p.Int("channels"), l = p.Int("length"), m = p.Int("state_size") / 2;
            var u = CaseInputs.Normal(rng, b, h, l);
            var logA = CaseInputs.Uniform(rng, -0.5, 0.5, h, m);
            var logAData = logA.Get<double>();
            for (int i = 0; i < logAData.Length; i++) logAData[i] = (float)(Math.Log(0.5) + logAData[i]);
            var imag = CaseInputs.Uniform(rng, -0.5, 0.5, h, m);
            var imagData = imag.Get<double>();
            for (int i = 0; i < imagData.Length; i++) imagData[i] = (float)(Math.PI * (i % m) + imagData[i]);
            return new NamedArrays
            {
                ["u"] = u, ["log_neg_real_a"] = logA, ["imag_a"] = imag,
                ["b_re"] = CaseInputs.Normal(rng, h, m), ["b_im"] = CaseInputs.Normal(rng, h, m),
                ["c_re"] = CaseInputs.Normal(rng, h, m), ["c_im"] = CaseInputs.Normal(rng, h, m),
                ["log_delta"] = CaseInputs.Uniform(rng, Math.Log(1e-3), Math.Log(1e-1), h),
                ["d"] = CaseInputs.Normal(rng, h),
            };
        },
        Naive = (p, x) =>
        {
            var s = S4DFrom(p, x);
            var method = Method(p);
            return new NamedArrays
            {
                ["y"] = NpyArray.FromTensor(S4D.Forward(s, x["u"].ToTensorDouble(), method)),
                ["kernel"] = NpyArray.FromTensor(S4D.Kernel(s, p.Int("length"), method)),
            };
        },
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastS4D<float>(p, x) : FastS4D<double>(p, x),
        Tolerance = (_, _) => Tolerance.NormRelative(1e-12, 1e-5,
            "a sum over M modes of complex exponentials then a conv of L terms: float64 factored exponentials and FFT reorderings stay ~1e-14 " +
            "relative at L <= 100; float32 ~1e-6"),
    };

    private static NamedArrays FastS4D<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = S4DFrom(p, x);
        var method = Method(p);
        return new NamedArrays
        {
            ["y"] = NpyArray.FromTensor(S4D.ForwardFast(s, x["u"].ToTensor<T>(), method, maxThreads: 1)),
            ["kernel"] = NpyArray.FromTensor(S4D.KernelFast<T>(s, p.Int("length"), method, maxThreads: 1)),
        };
    }

    private static S4DParameters S4DFrom(JsonObject p, NamedArrays x) =>
        new(p.Int("channels"), p.Int("state_size") / 2,
            x["log_neg_real_a"].ToDoubles(), x["imag_a"].ToDoubles(), x["b_re"].ToDoubles(), x["b_im"].ToDoubles(),
            x["c_re"].ToDoubles(), x["c_im"].ToDoubles(), x["log_delta"].ToDoubles(), x["d"].ToDoubles());

    private static Discretization Method(JsonObject p) => p.String("discretization") switch
    {
        "zoh" => Discretization.Zoh,
        "bilinear" => Discretization.Bilinear,
        var other => throw new ArgumentException($"params.discretization must be zoh or bilinear, found {other}.", "discretization"),
    };

    private static ConformanceCase S4DCase(string id, ulong seed, int batch, int channels, int length, int stateSize, string discretization, params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("channels", channels), ("length", length), ("state_size", stateSize), ("discretization", discretization)),
            $"{discretization}: batch {batch}, H = {channels}, L = {length}, N = {stateSize} ({stateSize / 2} complex modes)", tags);
}
