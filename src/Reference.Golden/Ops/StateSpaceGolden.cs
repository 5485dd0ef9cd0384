using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.IO;
using Reference.Operators.StateSpace;

namespace Reference.Golden.Ops;

/// <summary>
/// Golden cases of the state-space family beyond the registered S4D, shift SSM and H3 (their golden ops come
/// from <see cref="S4D.Descriptor"/>, <see cref="ShiftSsm.Descriptor"/> and <see cref="H3.Descriptor"/>) (issues 5 and 6):
/// <list type="bullet">
/// <item>ssm.selective_scan: Mamba's S6 scan (<see cref="SelectiveScan.Forward"/>, selective_scan_ref layout; fast tier
/// <see cref="SelectiveScan.ForwardFast{T}"/>).</item>
/// <item>ssm.mamba_block: the Mamba block (<see cref="MambaBlock.Forward(MambaParameters, Tensor{double})"/>; fast tier
/// <see cref="MambaBlock.ForwardFast{T}(MambaFast{T}, Tensor{T}, int)"/>).</item>
/// <item>ssm.ssd: Mamba-2's SSD scan (<see cref="StateSpaceDuality.Forward"/>, ssd_minimal layout; fast tier the chunked
/// <see cref="StateSpaceDuality.ForwardFast{T}"/> with chunks of <see cref="GoldenSsdChunk"/> steps, so the cases of
/// 9 to 33 steps cross chunk boundaries and exercise the state passing).</item>
/// </list>
/// Optional inputs (d, z, delta_bias, dt_bias) are simply absent from a case that does not use them;
/// params say which are present.
/// </summary>
public static class StateSpaceGolden
{
    private const string ScanRationale =
        "a recurrence over L steps with N-term readouts: float64 reorderings (vectorized lanes, FFT or chunked routes) stay ~1e-14 " +
        "relative at these sizes (1e-12 leaves a margin); float32 exps and sums reach ~1e-6, so 1e-5 (the conventions' float32 bound) " +
        "still fails a dropped term or a wrong decay";

    // ------------------------------------------------------------------ ssm.selective_scan

    public static GoldenOp SelectiveScanOp { get; } = new()
    {
        Name = "ssm.selective_scan",
        Version = 1,
        Summary = "Mamba S6 scan (selective_scan_ref layout): Delta = softplus(delta + delta_bias) (threshold 20), A = -exp(a_log), " +
            "x_t = exp(Delta_t A) x_{t-1} + Delta_t b_t u_t, y_t = c_t . x_t + d u_t, out = y silu(z); u, delta, z [B x D x L], a_log [D x N], " +
            "b, c [B x G x N x L] (channel d reads group d / (D / G)), d, delta_bias [D]; absent d, z, delta_bias mean 0, no gate, 0",
        AccumulationOrder = "per (b, d) from x = 0, t ascending: for n ascending x_n = exp(Delta_t A_n) x_n + Delta_t b_n u_t; acc += c_n x_n (acc = 0 first); " +
            "y = acc + d u_t; out = y * z_t / (1 + exp(-z_t)); softplus(v) = v for v > 20, else max(v, 0) + log1p(exp(-|v|))",
        Distribution = "in order, each value rounded to float32 and stored as float64: u normal(0, 1) [B x D x L]; delta normal(0, 1) [B x D x L]; " +
            "a_log uniform(-1, 2) [D x N]; b, c normal(0, 1) [B x G x N x L] each; then when present d normal(0, 1) [D], z normal(0, 1) [B x D x L], " +
            "delta_bias uniform(params.bias_low, params.bias_high) [D] (normal and uniform as in " + CaseInputs.NormalF32 + ")",
        Cases =
        [
            ScanCase("length_one_1x2x1_n4", 821, 1, 2, 1, 4, 1, true, true, (-3, 0), "edge"),
            ScanCase("full_1x4x17_n8", 822, 1, 4, 17, 8, 1, true, true, (-3, 0)),
            ScanCase("groups2_2x4x16_n4", 823, 2, 4, 16, 4, 2, true, true, null),
            ScanCase("no_skip_no_gate_1x3x33_n16", 824, 1, 3, 33, 16, 1, false, false, null),
            ScanCase("groups3_skip_bias_1x6x9_n7", 825, 1, 6, 9, 7, 3, true, false, (-3, 0)),
            ScanCase("softplus_threshold_1x2x12_n4", 826, 1, 2, 12, 4, 1, true, true, (18, 22), "edge"),
        ],
        Inputs = (p, rng) =>
        {
            int b = p.Int("batch"), d = p.Int("channels"), l = p.Int("length"), n = p.Int("state_size"), g = p.Int("groups");
            var x = new NamedArrays
            {
                ["u"] = CaseInputs.Normal(rng, b, d, l),
                ["delta"] = CaseInputs.Normal(rng, b, d, l),
                ["a_log"] = CaseInputs.Uniform(rng, -1, 2, d, n),
                ["b"] = CaseInputs.Normal(rng, b, g, n, l),
                ["c"] = CaseInputs.Normal(rng, b, g, n, l),
            };
            if (p.Bool("skip")) x["d"] = CaseInputs.Normal(rng, d);
            if (p.Bool("gate")) x["z"] = CaseInputs.Normal(rng, b, d, l);
            if (p.Bool("delta_bias")) x["delta_bias"] = CaseInputs.Uniform(rng, p.Double("bias_low"), p.Double("bias_high"), d);
            return x;
        },
        Naive = (_, x) => new NamedArrays
        {
            ["out"] = NpyArray.FromTensor(SelectiveScan.Forward(new SelectiveScanInputs(
                x["u"].ToTensorDouble(), x["delta"].ToTensorDouble(), x["a_log"].ToTensorDouble(), x["b"].ToTensorDouble(), x["c"].ToTensorDouble(),
                Optional<double>(x, "d"), Optional<double>(x, "z"), Optional<double>(x, "delta_bias")))),
        },
        Fast = (_, x, precision) => precision == Precision.Float32 ? FastScan<float>(x) : FastScan<double>(x),
        Tolerance = (_, _) => Tolerance.NormRelative(1e-12, 1e-5, ScanRationale),
    };

    // ------------------------------------------------------------------ ssm.mamba_block

    private static readonly string[] MambaNames = ["in_proj", "conv_weight", "conv_bias", "x_proj", "dt_proj", "dt_bias", "a_log", "d", "out_proj"];

    public static GoldenOp MambaBlockOp { get; } = new()
    {
        Name = "ssm.mamba_block",
        Version = 1,
        Summary = "Mamba block on u [B x L x D]: [x, z] = u in_proj^T (in_proj [2E x D]); x' = silu(causal depthwise conv(x, conv_weight [E x K]) + conv_bias), " +
            "tap K-1 on the current sample; [dt_low, B, C] = x' x_proj^T (x_proj [R + 2N x E]); delta = dt_low dt_proj^T (dt_proj [E x R]); " +
            "y = ssm.selective_scan(x', delta, a_log [E x N], B, C (one group), d [E], gate z, delta_bias = dt_bias [E]); out = y out_proj^T (out_proj [D x E])",
        AccumulationOrder = "matrix products: acc = 0; acc += x[i] * w[j, i] for i ascending (no biases); conv: acc = conv_bias[c]; acc += conv_weight[c, j] * x[t - K + 1 + j] " +
            "for j = 0..K-1 in order (terms before t = 0 skipped); scan as ssm.selective_scan",
        Distribution = "parameters by MambaParameters.Initialize(SplitMix64(seed), D, N, expand, K) (in order in_proj, conv_weight, conv_bias, x_proj uniform(-1/sqrt(fan_in), " +
            "1/sqrt(fan_in)), dt_proj uniform(-1/sqrt(R), 1/sqrt(R)), per channel dt = max(exp(uniform[log 1e-3, log 1e-1)), 1e-4) with dt_bias = dt + log(-expm1(-dt)), " +
            "out_proj; a_log[e, n] = log(n + 1), d = 1), every value rounded to float32; then u " + CaseInputs.NormalF32,
        Cases =
        [
            MambaCase("length_one_1x1_d4", 831, 1, 1, 4, 4, 2, 4, "edge"),
            MambaCase("conv_width_one_1x5_d2", 832, 1, 5, 2, 3, 2, 1, "edge"),
            MambaCase("d4_1x17_n4", 833, 1, 17, 4, 4, 2, 4),
            MambaCase("d3_2x9_n8_k3", 834, 2, 9, 3, 8, 2, 3),
            MambaCase("d17_rank2_expand1_1x33_n8", 835, 1, 33, 17, 8, 1, 4),
        ],
        Inputs = (p, rng) =>
        {
            var m = MambaParameters.Initialize(rng, p.Int("width"), p.Int("state_size"), p.Int("expand"), p.Int("conv_width"));
            Tensor<double>[] tensors = [m.InProj, m.ConvWeight, m.ConvBias, m.XProj, m.DtProj, m.DtBias, m.ALog, m.D, m.OutProj];
            var x = new NamedArrays();
            for (int i = 0; i < MambaNames.Length; i++) x[MambaNames[i]] = RoundedF32(tensors[i].Data, tensors[i].ShapeArray);
            x["u"] = CaseInputs.Normal(rng, p.Int("batch"), p.Int("length"), p.Int("width"));
            return x;
        },
        Naive = (p, x) => new NamedArrays { ["y"] = NpyArray.FromTensor(MambaBlock.Forward(MambaFrom(p, x), x["u"].ToTensorDouble())) },
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastMamba<float>(p, x) : FastMamba<double>(p, x),
        Tolerance = (_, _) => Tolerance.NormRelative(1e-12, 1e-5, ScanRationale + "; the projections add sums of at most 2E terms"),
    };

    // ------------------------------------------------------------------ ssm.ssd

    public static GoldenOp Ssd { get; } = new()
    {
        Name = "ssm.ssd",
        Version = 1,
        Summary = "Mamba-2 SSD scan (ssd_minimal layout): Delta = softplus(dt + dt_bias) (threshold 20), a_t = exp(Delta_t A_h), A_h = -exp(a_log[h]); " +
            "S_t = a_t S_{t-1} + (Delta_t x_t) b_t^T [P x N], y_t = S_t c_t + d[h] x_t; x, y [B x L x H x P], dt [B x L x H], a_log [H], " +
            "b, c [B x L x G x N] (head h reads group h / (H / G)), d, dt_bias [H]; absent d, dt_bias mean 0",
        AccumulationOrder = "per (b, h) from S = 0, t ascending: for p ascending, for n ascending S[p, n] = a_t S[p, n] + (Delta_t x_t[p]) b_t[n]; " +
            "acc += S[p, n] c_t[n] (acc = 0 first); y_t[p] = acc + d[h] x_t[p]",
        Distribution = "in order, each value rounded to float32 and stored as float64: x normal(0, 1) [B x L x H x P]; dt normal(0, 1) [B x L x H]; " +
            "a_log uniform(-1, 2) [H]; b, c normal(0, 1) [B x L x G x N] each; then when present d normal(0, 1) [H], dt_bias uniform(-3, 0) [H] " +
            "(normal and uniform as in " + CaseInputs.NormalF32 + ")",
        Cases =
        [
            SsdCase("length_one_1x1x2_p2_n3", 841, 1, 1, 2, 2, 1, 3, true, true, "edge"),
            SsdCase("p1_1x17x2_n4", 842, 1, 17, 2, 1, 1, 4, true, true),
            SsdCase("p4_2x16x2_n8", 843, 2, 16, 2, 4, 1, 8, true, true),
            SsdCase("groups2_1x33x4_p3_n5", 844, 1, 33, 4, 3, 2, 5, true, false),
            SsdCase("no_skip_groups3_1x9x3_p2_n16", 845, 1, 9, 3, 2, 3, 16, false, false),
        ],
        Inputs = (p, rng) =>
        {
            int b = p.Int("batch"), l = p.Int("length"), h = p.Int("heads"), g = p.Int("groups"), n = p.Int("state_size");
            var x = new NamedArrays
            {
                ["x"] = CaseInputs.Normal(rng, b, l, h, p.Int("head_dim")),
                ["dt"] = CaseInputs.Normal(rng, b, l, h),
                ["a_log"] = CaseInputs.Uniform(rng, -1, 2, h),
                ["b"] = CaseInputs.Normal(rng, b, l, g, n),
                ["c"] = CaseInputs.Normal(rng, b, l, g, n),
            };
            if (p.Bool("skip")) x["d"] = CaseInputs.Normal(rng, h);
            if (p.Bool("dt_bias")) x["dt_bias"] = CaseInputs.Uniform(rng, -3, 0, h);
            return x;
        },
        Naive = (_, x) => new NamedArrays
        {
            ["y"] = NpyArray.FromTensor(StateSpaceDuality.Forward(new SsdInputs(
                x["x"].ToTensorDouble(), x["dt"].ToTensorDouble(), x["a_log"].ToTensorDouble(), x["b"].ToTensorDouble(), x["c"].ToTensorDouble(),
                Optional<double>(x, "d"), Optional<double>(x, "dt_bias")))),
        },
        Fast = (_, x, precision) => precision == Precision.Float32 ? FastSsd<float>(x) : FastSsd<double>(x),
        Tolerance = (_, _) => Tolerance.NormRelative(1e-12, 1e-5, ScanRationale),
    };

    public static IReadOnlyList<GoldenOp> All { get; } = [SelectiveScanOp, MambaBlockOp, Ssd];

    // ------------------------------------------------------------------ fast tiers

    private static NamedArrays FastScan<T>(NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> => new()
    {
        ["out"] = NpyArray.FromTensor(SelectiveScan.ForwardFast(x["u"].ToTensor<T>(), x["delta"].ToTensor<T>(), x["a_log"].ToTensor<T>(),
            x["b"].ToTensor<T>(), x["c"].ToTensor<T>(), Optional<T>(x, "d"), Optional<T>(x, "z"), Optional<T>(x, "delta_bias"), maxThreads: 1)),
    };

    /// <summary>Chunk length of the fast SSD in the golden runs: shorter than most cases, so chunks and state passing are exercised.</summary>
    public const int GoldenSsdChunk = 8;

    private static NamedArrays FastMamba<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> => new()
    {
        ["y"] = NpyArray.FromTensor(MambaBlock.ForwardFast(MambaBlock.Prepare<T>(MambaFrom(p, x)), x["u"].ToTensor<T>(), maxThreads: 1)),
    };

    private static NamedArrays FastSsd<T>(NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> => new()
    {
        ["y"] = NpyArray.FromTensor(StateSpaceDuality.ForwardFast(x["x"].ToTensor<T>(), x["dt"].ToTensor<T>(), x["a_log"].ToTensor<T>(),
            x["b"].ToTensor<T>(), x["c"].ToTensor<T>(), Optional<T>(x, "d"), Optional<T>(x, "dt_bias"), GoldenSsdChunk, maxThreads: 1)),
    };

    // ------------------------------------------------------------------ parameters from arrays

    private static MambaParameters MambaFrom(JsonObject p, NamedArrays x)
    {
        Tensor<double> T(string name) => x[name].ToTensorDouble();
        return new MambaParameters(p.Int("width"), p.Int("expand") * p.Int("width"), p.Int("state_size"), p.Int("conv_width"), p.Int("dt_rank"),
            T("in_proj"), T("conv_weight"), T("conv_bias"), T("x_proj"), T("dt_proj"), T("dt_bias"), T("a_log"), T("d"), T("out_proj"));
    }

    private static Tensor<T>? Optional<T>(NamedArrays x, string name) where T : unmanaged, IFloatingPointIeee754<T> =>
        x.TryGetValue(name, out var a) ? a.ToTensor<T>() : null;

    /// <summary>A drawn float64 parameter rounded to float32 and stored as float64 (a float32 backend reads the exact values).</summary>
    private static NpyArray RoundedF32(double[] data, int[] shape) => NpyArray.Of(data.Select(v => (double)(float)v).ToArray(), shape);

    // ------------------------------------------------------------------ case lists

    private static ConformanceCase ScanCase(string id, ulong seed, int batch, int channels, int length, int stateSize, int groups, bool skip, bool gate,
        (double Low, double High)? bias, params string[] tags)
    {
        var p = Params.Of(("batch", batch), ("channels", channels), ("length", length), ("state_size", stateSize), ("groups", groups),
            ("skip", skip), ("gate", gate), ("delta_bias", bias is not null));
        if (bias is { } range)
        {
            p["bias_low"] = range.Low;
            p["bias_high"] = range.High;
        }
        string options = string.Join(", ", new[] { skip ? "skip d" : "no skip", gate ? "silu(z) gate" : "no gate",
            bias is { } r ? $"delta_bias in [{r.Low}, {r.High})" : "no delta_bias" });
        return new(id, seed, p, $"batch {batch}, D = {channels}, L = {length}, N = {stateSize}, G = {groups}; {options}", tags);
    }

    private static ConformanceCase MambaCase(string id, ulong seed, int batch, int length, int width, int stateSize, int expand, int convWidth,
        params string[] tags)
    {
        int rank = (width + 15) / 16;
        return new(id, seed, Params.Of(("batch", batch), ("length", length), ("width", width), ("state_size", stateSize), ("expand", expand),
                ("conv_width", convWidth), ("dt_rank", rank)),
            $"batch {batch}, L = {length}, D = {width}, E = {expand * width}, N = {stateSize}, K = {convWidth}, R = {rank}", tags);
    }

    private static ConformanceCase SsdCase(string id, ulong seed, int batch, int length, int heads, int headDim, int groups, int stateSize,
        bool skip, bool dtBias, params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("length", length), ("heads", heads), ("head_dim", headDim), ("groups", groups),
                ("state_size", stateSize), ("skip", skip), ("dt_bias", dtBias)),
            $"batch {batch}, L = {length}, H = {heads}, P = {headDim}, G = {groups}, N = {stateSize}; {(skip ? "skip d" : "no skip")}, " +
            (dtBias ? "dt_bias" : "no dt_bias"), tags);
}
