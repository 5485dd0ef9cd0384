using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.IO;
using Reference.Operators.Convolution;
using Reference.Operators.StateSpace;

namespace Reference.Golden.Ops;

/// <summary>
/// Golden cases of the state-space family beyond S4D (issues 5 and 6; ssm.selective_scan, ssm.mamba_block and ssm.ssd
/// come from their descriptors in Reference.Operators/StateSpace):
/// <list type="bullet">
/// <item>ssm.shift: H3's shift SSM, y = k_shift * u + d u with k_shift[m] = sum_n b[n] c[n + m]
/// (<see cref="ShiftSsm.Forward"/>; fast tier: the taps, then <see cref="CausalConvolution.ForwardFast{T}"/>, as H3.Fast does).</item>
/// <item>ssm.h3: the H3 layer (<see cref="H3.Forward"/>, head_dim 1 and &gt; 1, head-major output; fast tier <see cref="H3.ForwardFast{T}"/>).</item>
/// </list>
/// </summary>
public static class StateSpaceGolden
{
    // ------------------------------------------------------------------ ssm.shift

    public static GoldenOp Shift { get; } = new()
    {
        Name = "ssm.shift",
        Version = 1,
        Summary = "shift SSM of H3: y[B x D x L] = k * u + d u per channel with taps k[D x N], k[c, m] = sum_{n = 0..N-1-m} b[c, n] c[c, n + m]; " +
            "u [B x D x L], b, c [D x N], d [D]; outputs y and taps",
        AccumulationOrder = "taps[c, m]: float64 acc = 0; acc += b[c, n] * c[c, n + m] for n = 0..N-1-m in order; " +
            "y[b, c, t]: acc = 0; acc += taps[c, j] * u[b, c, t - j] for j = 0..min(t, N - 1) in order; y = acc + d[c] * u[b, c, t]",
        Distribution = CaseInputs.NormalF32 + " (u [B x D x L], then b, then c [D x N], then d [D])",
        Cases =
        [
            ShiftCase("single_tap_length_one", 801, 1, 1, 1, 1, "edge"),
            ShiftCase("n4_2x3x17", 802, 2, 3, 17, 4),
            ShiftCase("taps_longer_than_l_1x2x5_n8", 803, 1, 2, 5, 8, "edge"),
            ShiftCase("n64_fft_route_1x2x100", 804, 1, 2, 100, 64),
        ],
        Inputs = (p, rng) =>
        {
            int d = p.Int("channels"), n = p.Int("state_size");
            return new NamedArrays
            {
                ["u"] = CaseInputs.Normal(rng, p.Int("batch"), d, p.Int("length")),
                ["b"] = CaseInputs.Normal(rng, d, n),
                ["c"] = CaseInputs.Normal(rng, d, n),
                ["d"] = CaseInputs.Normal(rng, d),
            };
        },
        Naive = (p, x) =>
        {
            var s = ShiftFrom(p, x);
            return new NamedArrays
            {
                ["y"] = NpyArray.FromTensor(ShiftSsm.Forward(s, x["u"].ToTensorDouble())),
                ["taps"] = NpyArray.FromTensor(ShiftSsm.Taps(s)),
            };
        },
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastShift<float>(p, x) : FastShift<double>(p, x),
        Tolerance = (_, output) => output == "taps"
            ? Tolerance.NormRelative(1e-12, 1e-5, "sums of at most N products: float64 ~1e-16 relative; float32 ~1e-7, bounded by the conventions' 1e-5")
            : Tolerance.NormRelative(1e-12, 1e-5,
                "a causal convolution with N taps: float64 reorderings (per-lag AXPYs, the FFT route from 64 taps) stay ~1e-14 relative; float32 ~1e-6"),
    };

    // ------------------------------------------------------------------ ssm.h3

    private static readonly string[] H3Names =
        ["wq", "bq", "wk", "bk", "wv", "bv", "shift_b", "shift_c", "shift_d", "log_neg_real_a", "imag_a", "b_re", "b_im", "c_re", "c_im", "log_delta", "d", "wo", "bo"];

    public static GoldenOp H3Layer { get; } = new()
    {
        Name = "ssm.h3",
        Version = 1,
        Summary = "H3 layer on u [B x L x Dm]: q, k, v = u W^T + b; kbar = shift SSM(k) (taps from shift_b, shift_c, skip shift_d); " +
            "kv[d1, d2, h] = kbar[h hd + d1] v[h hd + d2]; ys = S4D(kv) over H = Dm/hd heads (as ssm.s4d, params.discretization, skip d); " +
            "o[h hd + d2] = sum_d1 q[h hd + d1] ys[d1, d2, h] (head-major); y = o wo^T + bo",
        AccumulationOrder = "projections: acc = 0; acc += x[i] * w[j, i] for i ascending, then + b[j]; shift SSM as ssm.shift; kernel as ssm.s4d " +
            "(modes ascending) and its convolution as conv.causal (lags ascending, skip last); gate sum over d1 ascending; output projection as the others",
        Distribution = "parameters by H3Parameters.Initialize(SplitMix64(seed), Dm, hd, N, S4D-Lin, discretization): in order wq, bq, wk, bk, wv, bv " +
            "uniform(-1/sqrt(Dm), 1/sqrt(Dm)); shift: b = e1, c normal(0, 1) [Dm x N], shift_d normal(0, 1) [Dm]; S4D over H heads " +
            "(S4DParameters.Initialize: per head, modes ascending: c_re, c_im normal(0, 1)/sqrt(2), then log_delta uniform[log 1e-3, log 1e-1), then d " +
            "normal(0, 1); log_neg_real_a = log 0.5, imag_a = pi n, b = 1); wo, bo uniform(-1/sqrt(Dm), 1/sqrt(Dm)); every value rounded to float32; " +
            "then u " + CaseInputs.NormalF32,
        Cases =
        [
            H3Case("length_one_1x1x2_n2", 811, 1, 1, 2, 1, 2, "bilinear", "edge"),
            H3Case("hd1_1x17x2_n4", 812, 1, 17, 2, 1, 4, "bilinear"),
            H3Case("hd2_2x9x4_n8", 813, 2, 9, 4, 2, 8, "bilinear"),
            H3Case("hd4_one_head_1x16x4_n4", 814, 1, 16, 4, 4, 4, "bilinear"),
            H3Case("zoh_hd2_1x33x6_n8", 815, 1, 33, 6, 2, 8, "zoh"),
            H3Case("n64_fft_route_1x100x2", 816, 1, 100, 2, 1, 64, "bilinear"),
        ],
        Inputs = (p, rng) =>
        {
            int dm = p.Int("width"), hd = p.Int("head_dim"), n = p.Int("state_size"), heads = dm / hd, m = n / 2;
            var h3 = H3Parameters.Initialize(rng, dm, hd, n, S4DInit.Lin, Method(p));
            var s = h3.Ssm;
            double[][] arrays =
                [h3.Wq, h3.Bq, h3.Wk, h3.Bk, h3.Wv, h3.Bv, h3.Shift.B, h3.Shift.C, h3.Shift.Skip,
                 s.LogNegRealA, s.ImagA, s.BRe, s.BIm, s.CRe, s.CIm, s.LogDelta, s.D, h3.Wo, h3.Bo];
            int[][] shapes =
                [[dm, dm], [dm], [dm, dm], [dm], [dm, dm], [dm], [dm, n], [dm, n], [dm],
                 [heads, m], [heads, m], [heads, m], [heads, m], [heads, m], [heads, m], [heads], [heads], [dm, dm], [dm]];
            var x = new NamedArrays();
            for (int i = 0; i < H3Names.Length; i++) x[H3Names[i]] = RoundedF32(arrays[i], shapes[i]);
            x["u"] = CaseInputs.Normal(rng, p.Int("batch"), p.Int("length"), dm);
            return x;
        },
        Naive = (p, x) => new NamedArrays { ["y"] = NpyArray.FromTensor(H3.Forward(H3From(p, x), x["u"].ToTensorDouble())) },
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastH3<float>(p, x) : FastH3<double>(p, x),
        Tolerance = (_, _) => Tolerance.NormRelative(1e-12, 1e-5,
            "three projections, two causal convolutions of up to L terms and a gate: float64 reorderings (FFT routes, factored kernel " +
            "exponentials, packed GEMM) stay ~1e-14 relative at L <= 100; float32 ~1e-6"),
    };

    public static IReadOnlyList<GoldenOp> All { get; } = [Shift, H3Layer];

    // ------------------------------------------------------------------ fast tiers

    private static NamedArrays FastShift<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = ShiftFrom(p, x);
        var taps = ShiftSsm.Taps(s).Cast<T>();
        return new NamedArrays
        {
            ["y"] = NpyArray.FromTensor(CausalConvolution.ForwardFast(x["u"].ToTensor<T>(), taps, x["d"].ToTensor<T>(), maxThreads: 1)),
            ["taps"] = NpyArray.FromTensor(taps),
        };
    }

    private static NamedArrays FastH3<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> => new()
    {
        ["y"] = NpyArray.FromTensor(H3.ForwardFast(H3.Prepare<T>(H3From(p, x)), x["u"].ToTensor<T>(), maxThreads: 1)),
    };

    // ------------------------------------------------------------------ parameters from arrays

    private static ShiftSsmParameters ShiftFrom(JsonObject p, NamedArrays x) =>
        new(p.Int("channels"), p.Int("state_size"), x["b"].ToDoubles(), x["c"].ToDoubles(), x["d"].ToDoubles());

    private static H3Parameters H3From(JsonObject p, NamedArrays x)
    {
        int dm = p.Int("width"), hd = p.Int("head_dim"), n = p.Int("state_size");
        double[] A(string name) => x[name].ToDoubles();
        var shift = new ShiftSsmParameters(dm, n, A("shift_b"), A("shift_c"), A("shift_d"));
        var ssm = new S4DParameters(dm / hd, n / 2, A("log_neg_real_a"), A("imag_a"), A("b_re"), A("b_im"), A("c_re"), A("c_im"), A("log_delta"), A("d"));
        return new H3Parameters(dm, hd, n, A("wq"), A("bq"), A("wk"), A("bk"), A("wv"), A("bv"), shift, ssm, A("wo"), A("bo"), Method(p));
    }

    private static Discretization Method(JsonObject p) => p.String("discretization") switch
    {
        "zoh" => Discretization.Zoh,
        "bilinear" => Discretization.Bilinear,
        var other => throw new ArgumentException($"params.discretization must be zoh or bilinear, found {other}.", "discretization"),
    };

    /// <summary>A drawn float64 parameter rounded to float32 and stored as float64 (a float32 backend reads the exact values).</summary>
    private static NpyArray RoundedF32(double[] data, int[] shape) => NpyArray.Of(data.Select(v => (double)(float)v).ToArray(), shape);

    // ------------------------------------------------------------------ case lists

    private static ConformanceCase ShiftCase(string id, ulong seed, int batch, int channels, int length, int stateSize, params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("channels", channels), ("length", length), ("state_size", stateSize)),
            $"batch {batch}, D = {channels}, L = {length}, N = {stateSize} taps" +
            (Math.Min(stateSize, length) >= CausalConvolution.FftThreshold ? " (FFT route in the fast tier)" : ""), tags);

    private static ConformanceCase H3Case(string id, ulong seed, int batch, int length, int width, int headDim, int stateSize, string discretization,
        params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("length", length), ("width", width), ("head_dim", headDim), ("state_size", stateSize),
                ("discretization", discretization)),
            $"{discretization}: batch {batch}, L = {length}, Dm = {width}, head_dim {headDim} ({width / headDim} head(s)), N = {stateSize}", tags);
}
