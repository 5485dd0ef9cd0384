using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;
using Reference.Core.Kernels;
using Reference.Core.Linear;

namespace Reference.Operators.StateSpace;

public static partial class MambaBlock
{
    private static readonly string[] ParameterNames = ["in_proj", "conv_weight", "conv_bias", "x_proj", "dt_proj", "dt_bias", "a_log", "d", "out_proj"];

    /// <summary>
    /// The registry entry of the Mamba block ("ssm.mamba_block"). The block is not linear in u (the
    /// projections feed the SiLU after the conv, the scan's step sizes, B, C and the gate), so its
    /// operator view is the one the ESS paper takes: the selective scan's input-dependent operator per
    /// inner channel at the given u, mixing the scan input x' (<see cref="ScanInputs"/>).
    /// </summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "ssm.mamba_block",
        Version = 1,
        Title = "Mamba block",
        Paper = "Gu and Dao, Mamba: Linear-Time Sequence Modeling with Selective State Spaces (arXiv:2312.00752), figure 3 and section 3.4 (Mamba.forward, Mamba.step)",
        File = "src/Reference.Operators/StateSpace/MambaBlock.cs",
        Summary = "Mamba block on u [B x L x D]: [x, z] = u in_proj^T (in_proj [2E x D]); x' = silu(causal depthwise conv(x, conv_weight [E x K]) + conv_bias), " +
            "tap K-1 on the current sample; [dt_low, B, C] = x' x_proj^T (x_proj [R + 2N x E]); delta = dt_low dt_proj^T (dt_proj [E x R]); " +
            "y = ssm.selective_scan(x', delta, a_log [E x N], B, C (one group), d [E], gate z, delta_bias = dt_bias [E]); out = y out_proj^T (out_proj [D x E])",
        Parameters =
        [
            new("batch", "int", "-", "batch B"),
            new("length", "int", "-", "length L"),
            new("width", "int", "-", "model width D (d_model)"),
            new("state_size", "int", "-", "state lanes N per inner channel (d_state)"),
            new("expand", "int", "-", "inner width E = expand D (d_inner)"),
            new("conv_width", "int", "-", "taps of the causal depthwise conv (d_conv)"),
            new("dt_rank", "int", "-", "rank R of the step-size projection (ceil(D / 16))"),
        ],
        Inputs =
        [
            new("in_proj", "[2E, D]", "in-projection (no bias): rows 0..E-1 give x, rows E..2E-1 the gate z; E = expand D"),
            new("conv_weight", "[E, conv_width]", "depthwise causal conv taps; the last tap weights the current sample"),
            new("conv_bias", "[E]", "conv bias"),
            new("x_proj", "[R + 2N, E]", "x_proj (no bias): R rows give dt_low, then N rows B, N rows C; R = dt_rank"),
            new("dt_proj", "[E, R]", "delta = dt_low dt_proj^T"),
            new("dt_bias", "[E]", "dt_proj's bias, added inside the scan's softplus"),
            new("a_log", "[E, N]", "A = -exp(a_log)"),
            new("d", "[E]", "the scan's skip D"),
            new("out_proj", "[D, E]", "out-projection (no bias)"),
            new("u", "[B, L, D]", "the block's input"),
        ],
        Outputs = [new("y", "[B, L, D]", "the block's output")],
        NaiveEntry = "MambaBlock.Forward(MambaParameters p, Tensor<double> u)",
        Naive = (p, x) => NamedTensors.Outputs(("y", Forward(From(p, x), x.Double("u")))),
        FastEntry = "MambaBlock.ForwardFast<T>(MambaBlock.Prepare<T>(p), u, maxThreads: 1) (float32, float64)",
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastOut<float>(p, x) : FastOut<double>(p, x),
        Forms =
        [
            new("step loop (decoding)", "MambaBlock.Step(p, token, state) for t = 0..L-1 on one MambaState",
                (p, x) => NamedTensors.Outputs(("y", StepLoop(From(p, x), x.Double("u")))), "y"),
            new("StepFast loop (float64)", "MambaBlock.StepFast<double>(f, state, token, output) for t = 0..L-1 on one MambaFastState<double>",
                (p, x) => NamedTensors.Outputs(("y", StepFastLoop(From(p, x), x.Double("u")))), "y"),
            new("materialized scan operator", "SelectiveScan.Materialize(ScanInputs(p, u)) [B, E, L, L], T x' per inner channel, then out_proj",
                (p, x) => NamedTensors.Outputs(("y", ThroughMaterializedScan(From(p, x), x.Double("u")))), "y"),
        ],
        MaterializeEntry = "SelectiveScan.Materialize(MambaBlock.ScanInputs(p, u)) [B, E, L, L]: the scan's operator per inner channel at this u " +
            "(gate silu(z) and skip D inside; it mixes x', the conv's output, not u: the block is not linear in u)",
        Materialize = (p, x) => OperatorMatrices.Rows(SelectiveScan.Materialize(ScanInputs(From(p, x), x.Double("u")))),
        RealizeEntry = "SelectiveScan.Realize(MambaBlock.ScanInputs(p, u), batch, channel) per inner channel: a_t = exp(Delta_t A), b_t = Delta_t B_t, " +
            "c_t = silu(z_t) C_t and the direct term silu(z_t) D",
        Realize = (p, x) => SelectiveScan.RealizeAll(ScanInputs(From(p, x), x.Double("u"))),
        Decoder = (p, inputs, b) =>
        {
            var mamba = From(p, inputs);
            var state = InitialState(mamba, b);
            return new OperatorDecoder(b,
                x => OperatorDecoder.Unsqueeze(Step(mamba, OperatorDecoder.Squeeze(x, "u", 1), state), 1),
                () => state.Conv.Length + state.Ssm.X.Length);
        },
        StepEntry = "MambaBlock.Step(p, token [B, D], state) (returns [B, D]); MambaBlock.StepFast<T>(f, state, token, output)",
        State = "conv window [B, E, conv_width - 1] and scan state x [B, E, N] (MambaState; MambaFastState<T>)",
        TotalStateSizeFormula = "N per inner channel (the scan state x that T factors through; the conv window of conv_width - 1 feeds x', T's input, " +
            "so the block's decoding state is E (N + conv_width - 1) per layer)",
        TotalStateSize = (p, _, _) => p.Int("state_size"),
        ParameterCount = p =>
        {
            long d = p.Int("width"), e = p.Int("expand") * d, n = p.Int("state_size"), w = p.Int("conv_width"), r = p.Int("dt_rank");
            return 2 * e * d + e * w + e + (r + 2 * n) * e + e * r + e + e * n + e + d * e;
        },
        CacheSizeFormula = "E (conv_width - 1) (conv window) + E N (scan state), E = expand D; constant in L",
        CacheSize = (p, _) =>
        {
            long e = (long)p.Int("expand") * p.Int("width");
            return e * (p.Int("conv_width") - 1) + e * p.Int("state_size");
        },
        Sample = o =>
        {
            // Mamba's initialization (MambaParameters.Initialize: D = Channels, N = State, expand 2, d_conv = Taps), then u ~ N(0, 1) [1, L, D]
            // from the same generator (as the catalog's H3 and Hyena instances draw their input after their parameters).
            var rng = new SplitMix64(o.Seed);
            var m = MambaParameters.Initialize(rng, o.Channels, o.State, expand: 2, convWidth: o.Taps);
            var u = rng.NormalTensor<double>(0, 1, 1, o.Length, o.Channels);
            Tensor<double>[] tensors = [m.InProj, m.ConvWeight, m.ConvBias, m.XProj, m.DtProj, m.DtBias, m.ALog, m.D, m.OutProj];
            var x = new NamedArrays();
            for (int i = 0; i < ParameterNames.Length; i++) x[ParameterNames[i]] = NpyArray.FromTensor(tensors[i]);
            x["u"] = NpyArray.FromTensor(u);
            return new OperatorSample(
                Params.Of(("batch", 1), ("length", o.Length), ("width", o.Channels), ("state_size", o.State), ("expand", 2),
                    ("conv_width", o.Taps), ("dt_rank", m.DtRank)),
                x);
        },
        AutodiffEntry = "MambaBlock.Forward(Variable u, MambaVariables p): the block composed on the tape (Ops.MatMul, Ops.CausalConv1d, Ops.Silu, " +
            "Ops.Slice/Permute/Reshape) with the scan as one node SsmOps.SelectiveScan (VJP: SelectiveScan.Backward)",
        Differentiable = ["u", .. ParameterNames],
        Autodiff = (p, _, v) => Forward(v[0], new MambaVariables(p.Int("width"), p.Int("expand") * p.Int("width"), p.Int("state_size"),
            p.Int("conv_width"), p.Int("dt_rank"), v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9])),
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
        DrawInputs = (p, rng) =>
        {
            var m = MambaParameters.Initialize(rng, p.Int("width"), p.Int("state_size"), p.Int("expand"), p.Int("conv_width"));
            Tensor<double>[] tensors = [m.InProj, m.ConvWeight, m.ConvBias, m.XProj, m.DtProj, m.DtBias, m.ALog, m.D, m.OutProj];
            var x = new NamedArrays();
            for (int i = 0; i < ParameterNames.Length; i++) x[ParameterNames[i]] = CaseInputs.RoundedF32(tensors[i].Data, tensors[i].ShapeArray);
            x["u"] = CaseInputs.Normal(rng, p.Int("batch"), p.Int("length"), p.Int("width"));
            return x;
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5, SelectiveSsmCases.ScanRationale + "; the projections add sums of at most 2E terms"),
    };

    /// <summary>The block's parameters from named arrays and the case's widths.</summary>
    private static MambaParameters From(JsonObject p, NamedArrays x) =>
        new(p.Int("width"), p.Int("expand") * p.Int("width"), p.Int("state_size"), p.Int("conv_width"), p.Int("dt_rank"),
            x.Double("in_proj"), x.Double("conv_weight"), x.Double("conv_bias"), x.Double("x_proj"), x.Double("dt_proj"), x.Double("dt_bias"),
            x.Double("a_log"), x.Double("d"), x.Double("out_proj"));

    /// <summary>The decoding path: <see cref="Step"/> token after token on one state, out [B, L, D].</summary>
    private static Tensor<double> StepLoop(MambaParameters p, Tensor<double> u)
    {
        CheckInput(u, p.ModelWidth);
        int bs = u.Dim(0), l = u.Dim(1), dm = p.ModelWidth;
        var state = InitialState(p, bs);
        var y = Tensor<double>.Zeros(bs, l, dm);
        for (int t = 0; t < l; t++)
        {
            var yt = Step(p, u.Slice(1, t, 1).Reshape(bs, dm), state);
            for (int b = 0; b < bs; b++) yt.Data.AsSpan(b * dm, dm).CopyTo(y.Data.AsSpan((b * l + t) * dm, dm));
        }
        return y;
    }

    /// <summary>The fast decoding path at float64: <see cref="StepFast{T}"/> token after token on one state, out [B, L, D].</summary>
    private static Tensor<double> StepFastLoop(MambaParameters p, Tensor<double> u)
    {
        CheckInput(u, p.ModelWidth);
        int bs = u.Dim(0), l = u.Dim(1), dm = p.ModelWidth;
        var f = Prepare<double>(p);
        var state = InitialFastState(f, bs);
        var y = Tensor<double>.Zeros(bs, l, dm);
        var output = new double[bs * dm];
        for (int t = 0; t < l; t++)
        {
            StepFast<double>(f, state, u.Slice(1, t, 1).Data, output);
            for (int b = 0; b < bs; b++) output.AsSpan(b * dm, dm).CopyTo(y.Data.AsSpan((b * l + t) * dm, dm));
        }
        return y;
    }

    /// <summary>out = (T x') out_proj^T with T = the scan's materialized operator per inner channel at this u.</summary>
    private static Tensor<double> ThroughMaterializedScan(MambaParameters p, Tensor<double> u)
    {
        var s = ScanInputs(p, u);
        var y = OperatorMatrices.Apply(SelectiveScan.Materialize(s), s.U);
        return NaiveGemm.MatMul(y.Permute(0, 2, 1), p.OutProj, transB: true);
    }

    private static NamedArrays FastOut<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> =>
        NamedTensors.Outputs(("y", ForwardFast(Prepare<T>(From(p, x)), x.As<T>("u"), maxThreads: 1)));

    private static ConformanceCase MambaCase(string id, ulong seed, int batch, int length, int width, int stateSize, int expand, int convWidth,
        params string[] tags)
    {
        int rank = (width + 15) / 16;
        return new(id, seed, Params.Of(("batch", batch), ("length", length), ("width", width), ("state_size", stateSize), ("expand", expand),
                ("conv_width", convWidth), ("dt_rank", rank)),
            $"batch {batch}, L = {length}, D = {width}, E = {expand * width}, N = {stateSize}, K = {convWidth}, R = {rank}", tags);
    }
}
