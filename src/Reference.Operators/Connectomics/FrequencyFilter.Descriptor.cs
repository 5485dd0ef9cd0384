using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;

namespace Reference.Operators.Connectomics;

public static partial class FrequencyFilter
{
    /// <summary>The registry entry of the frequency product filter with learned or ideal transfer functions ("connectomics.product_filter").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "connectomics.product_filter",
        Version = 1,
        Title = "Frequency product filter (learned or ideal band mask)",
        Paper = ConnectomicsDescriptors.Paper + "fourier.py (product_filter) and init/freqfilter.py (ideal masks)",
        File = "src/Reference.Operators/Connectomics/FrequencyFilter.cs",
        Summary = "y = irfft(w o rfft(x), T) along the last axis of x [B, V, T]; w = re + i im [T/2 + 1] given (mask learned), w = tanh(|p|) p / |p| " +
            "of the preimage p = re + i im (mask amplitude_atanh) or the ideal band " +
            "mask 1[low <= k / (T dt) <= high] (mask ideal); the imaginary parts of bins 0 and T/2 are ignored (numpy's irfft)",
        Causal = false,
        Parameters =
        [
            new("b", "int", "-", "batch B"),
            new("v", "int", "-", "variables V"),
            new("t", "int", "-", "observations T"),
            new("mask", "string", "learned", "learned (re, im given), amplitude_atanh (re, im the preimage p: w = tanh(|p|) p / |p|, hypercoil's default " +
                "domain) or ideal (band mask from low, high, dt; re and im absent)"),
            new("low", "float", "0", "ideal mask: lowest frequency kept (Hz)"),
            new("high", "float", "0", "ideal mask: highest frequency kept (Hz)"),
            new("dt", "float", "1", "ideal mask: sampling period (s)"),
        ],
        Inputs =
        [
            new("x", "[B, V, T]", "series"),
            new("re", "[T/2 + 1]", "real part of the transfer function (mask learned) or of its preimage (mask amplitude_atanh)", Optional: true),
            new("im", "[T/2 + 1]", "imaginary part of the transfer function (mask learned) or of its preimage (mask amplitude_atanh)", Optional: true),
        ],
        Outputs = [new("y", "[B, V, T]", "filtered series")],
        NaiveEntry = "FrequencyFilter.Forward(x, re, im) (direct circular convolution), re = FrequencyFilter.IdealBandMask(T, dt, low, high) and im = 0 for mask ideal, " +
            "(re, im) = FrequencyFilter.AmplitudeTanh(re, im) first for mask amplitude_atanh",
        Naive = (p, x) =>
        {
            var (re, im) = Transfer(p, x);
            return NamedTensors.Outputs(("y", Forward(x.Double("x"), re, im)));
        },
        AutodiffEntry = "ConnectomicsOps.FrequencyFilter(x, re, im) (VJP: FrequencyFilter.Backward; the ideal mask is a constant), " +
            "after ConnectomicsOps.AmplitudeTanh(re, im) (VJP: FrequencyFilter.AmplitudeTanhBackward) for mask amplitude_atanh",
        Differentiable = ["x", "re", "im"],
        Autodiff = (p, x, d) =>
        {
            if (d.Length == 3 && p.String("mask") == "amplitude_atanh")
            {
                var (wre, wim) = ConnectomicsOps.AmplitudeTanh(d[1], d[2]);
                return ConnectomicsOps.FrequencyFilter(d[0], wre, wim);
            }
            if (d.Length == 3) return ConnectomicsOps.FrequencyFilter(d[0], d[1], d[2]);
            var (re, im) = Transfer(p, x);
            return ConnectomicsOps.FrequencyFilter(d[0], Variable.Constant(re), Variable.Constant(im));
        },
        AccumulationOrder = "mask amplitude_atanh: w_k = g(r_k) p_k with r_k = sqrt(re_k^2 + im_k^2), g = tanh(r) / r (Taylor series below r = 1e-2); " +
            "kernel h[m] = (1/T) sum_k c_k (re_k cos(2 pi (k m mod T) / T) - im_k sin(...)), k ascending (c_k = 1 at bins 0 and T/2, else 2); " +
            "y_t = sum_s x_s h[(t - s) mod T], s ascending",
        Distribution = CaseInputs.NormalF32 + " (x [B, V, T]); mask learned or amplitude_atanh: then re uniform[-1, 1) [T/2 + 1], then im uniform[-1, 1) [T/2 + 1] (float32)",
        Cases =
        [
            Case("learned_b1_v2_t8", 1871, 1, 2, 8, "learned", 0, 0, 1),
            Case("learned_b2_v3_t11", 1872, 2, 3, 11, "learned", 0, 0, 1),
            Case("ideal_b1_v3_t40_band", 1873, 1, 3, 40, "ideal", 0.01, 0.09, 2),
            Case("ideal_b2_v2_t17_lowpass", 1874, 2, 2, 17, "ideal", 0, 0.2, 1),
            Case("learned_b1_v1_t1", 1875, 1, 1, 1, "learned", 0, 0, 1, "edge"),
            Case("atanh_b1_v2_t9", 1876, 1, 2, 9, "amplitude_atanh", 0, 0, 1),
            Case("atanh_b2_v3_t16", 1877, 2, 3, 16, "amplitude_atanh", 0, 0, 1),
        ],
        DemoCase = "ideal_b1_v3_t40_band",
        DrawInputs = (p, rng) =>
        {
            int t = p.Int("t");
            var inputs = new NamedArrays { ["x"] = CaseInputs.Normal(rng, p.Int("b"), p.Int("v"), t) };
            if (p.String("mask") is "learned" or "amplitude_atanh")
            {
                inputs["re"] = CaseInputs.Uniform(rng, -1, 1, t / 2 + 1);
                inputs["im"] = CaseInputs.Uniform(rng, -1, 1, t / 2 + 1);
            }
            return inputs;
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5,
            "a length-T circular convolution with a kernel of T/2 + 1 cosines: float64 direct vs FFT routes ~T eps64 (1e-12 leaves a margin); float32 ~sqrt(T) eps32, so 1e-5"),
        Without = ConnectomicsDescriptors.WithoutFast("the direct form is O(T^2) per series, small for fMRI lengths; an FFT tier would pay off only for long series"),
    };

    private static (Tensor<double> Re, Tensor<double> Im) Transfer(System.Text.Json.Nodes.JsonObject p, NamedArrays x)
    {
        if (p.String("mask") == "learned") return (x.Double("re"), x.Double("im"));
        if (p.String("mask") == "amplitude_atanh") return AmplitudeTanh(x.Double("re"), x.Double("im"));
        if (p.String("mask") != "ideal") throw new ArgumentException($"mask = '{p.String("mask")}'; expected learned, amplitude_atanh or ideal.", "mask");
        int t = x.Double("x").Dim(-1);
        return (IdealBandMask(t, p.Double("dt"), p.Double("low"), p.Double("high")), Tensor<double>.Zeros(t / 2 + 1));
    }

    private static ConformanceCase Case(string id, ulong seed, int b, int v, int t, string mask, double low, double high, double dt, params string[] tags) =>
        new(id, seed, Params.Of(("b", b), ("v", v), ("t", t), ("mask", mask), ("low", low), ("high", high), ("dt", dt)),
            mask switch
            {
                "ideal" => $"B {b}, V {v}, T {t}, ideal band [{low}, {high}] Hz at dt {dt} s",
                "amplitude_atanh" => $"B {b}, V {v}, T {t}, amplitude-atanh transfer function tanh(|p|) p / |p|",
                _ => $"B {b}, V {v}, T {t}, learned transfer function",
            }, tags);
}
