using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;
using Reference.Core.Kernels;

namespace Reference.Operators.StateSpace;

public static partial class SelectiveScan
{
    /// <summary>The registry entry of Mamba's selective scan S6 ("ssm.selective_scan").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "ssm.selective_scan",
        Version = 1,
        Title = "Selective scan (Mamba S6)",
        Paper = "Gu and Dao, Mamba: Linear-Time Sequence Modeling with Selective State Spaces (arXiv:2312.00752), Algorithm 2 and section 3.5 (selective_scan_ref)",
        File = "src/Reference.Operators/StateSpace/SelectiveScan.cs",
        Summary = "Mamba S6 scan (selective_scan_ref layout): Delta = softplus(delta + delta_bias) (threshold 20), A = -exp(a_log), " +
            "x_t = exp(Delta_t A) x_{t-1} + Delta_t b_t u_t, y_t = c_t . x_t + d u_t, out = y silu(z); u, delta, z [B x D x L], a_log [D x N], " +
            "b, c [B x G x N x L] (channel d reads group d / (D / G)), d, delta_bias [D]; absent d, z, delta_bias mean 0, no gate, 0",
        Parameters =
        [
            new("batch", "int", "-", "batch B"),
            new("channels", "int", "-", "channels D (d_inner of the block)"),
            new("length", "int", "-", "length L"),
            new("state_size", "int", "-", "state lanes N per channel (d_state)"),
            new("groups", "int", "-", "groups G of channels sharing b, c (G divides D)"),
            new("skip", "bool", "-", "whether the case draws the skip d"),
            new("gate", "bool", "-", "whether the case draws the gate z"),
            new("delta_bias", "bool", "-", "whether the case draws delta_bias"),
            new("bias_low", "double", "none (only with delta_bias)", "lower end of delta_bias's uniform draw"),
            new("bias_high", "double", "none (only with delta_bias)", "upper end of delta_bias's uniform draw"),
        ],
        Inputs =
        [
            new("u", "[B, D, L]", "the SSM input per channel"),
            new("delta", "[B, D, L]", "step sizes before the softplus"),
            new("a_log", "[D, N]", "A = -exp(a_log), a real negative diagonal per channel"),
            new("b", "[B, G, N, L]", "input vectors B_t, shared by the D / G channels of a group"),
            new("c", "[B, G, N, L]", "readout vectors C_t, grouped like b"),
            new("d", "[D]", "skip D (absent: 0)", Optional: true),
            new("z", "[B, D, L]", "gate: out = y silu(z) (absent: no gate)", Optional: true),
            new("delta_bias", "[D]", "added to delta before the softplus (absent: 0)", Optional: true),
        ],
        Outputs = [new("out", "[B, D, L]", "out_t = (C_t . x_t + D u_t) silu(z_t)")],
        NaiveEntry = "SelectiveScan.Forward(SelectiveScanInputs<double> p) (= Recurrent(p, null))",
        Naive = (_, x) => NamedTensors.Outputs(("out", Forward(Inputs(x)))),
        FastEntry = "SelectiveScan.ForwardFast<T>(u, delta, a_log, b, c, d, z, delta_bias, maxThreads: 1) (float32, float64)",
        Fast = (_, x, precision) => precision == Precision.Float32 ? FastOut<float>(x) : FastOut<double>(x),
        Forms =
        [
            new("step loop (decoding)", "SelectiveScan.Step(token, state) for t = 0..L-1 on one SelectiveScanState",
                (_, x) => NamedTensors.Outputs(("out", StepLoop(Inputs(x)))), "out"),
            new($"chunked (C = {FormChunk})", $"SelectiveScan.Chunked(p, chunk: {FormChunk})",
                (_, x) => NamedTensors.Outputs(("out", Chunked(Inputs(x), FormChunk))), "out"),
            new("materialized T u", "SelectiveScan.Materialize(p) [B, D, L, L] (gate and skip inside T), then T u per (batch, channel)",
                (_, x) =>
                {
                    var p = Inputs(x);
                    return NamedTensors.Outputs(("out", OperatorMatrices.Apply(Materialize(p), p.U)));
                }, "out"),
        ],
        MaterializeEntry = "SelectiveScan.Materialize(p) [B, D, L, L]",
        Materialize = (_, x) => OperatorMatrices.Rows(Materialize(Inputs(x))),
        RealizeEntry = "SelectiveScan.Realize(p, batch, channel): a_t = exp(Delta_t A), b_t = Delta_t B_t, c_t = silu(z_t) C_t; " +
            "and the direct term silu(z_t) D",
        Realize = (_, x) => RealizeAll(Inputs(x)),
        StepEntry = "SelectiveScan.Step(token, state) (token: SelectiveScanInputs<double> with L = 1; returns out [B, D])",
        State = "x [B, D, N] (SelectiveScanState)",
        TotalStateSizeFormula = "N per channel (D N per layer)",
        TotalStateSize = (p, _, _) => p.Int("state_size"),
        ParameterCount = p =>
        {
            long d = p.Int("channels");   // a_log [D, N]; the skip d [D] and delta_bias [D] when the params say they are present
            return d * p.Int("state_size") + (p.Bool("skip") ? d : 0) + (p.Bool("delta_bias") ? d : 0);
        },
        CacheSizeFormula = "D N (the scan state x); constant in L",
        CacheSize = (p, _) => (long)p.Int("channels") * p.Int("state_size"),
        Decoder = (_, inputs, b) =>
        {
            var (aLog, d, deltaBias) = (inputs.Double("a_log"), inputs.Optional<double>("d"), inputs.Optional<double>("delta_bias"));
            var state = new SelectiveScanState(b, aLog.Dim(0), aLog.Dim(1));
            return new OperatorDecoder(b,
                x => OperatorDecoder.Unsqueeze(Step(new SelectiveScanInputs<double>(x["u"], x["delta"], aLog, x["b"], x["c"], d,
                    x.TryGetValue("z", out var z) ? z : null, deltaBias), state), 2),
                () => state.X.Length);
        },
        Sample = o =>
        {
            // Exactly the ESS catalog's "mamba" instance: u ~ N(0, 1), delta ~ N(-2.5, 1) before the softplus
            // (steps around 0.01-0.5), B, C ~ N(0, 1) in one group, A_log = log(1..N) (S4D-Real), no gate, skip or bias.
            if (o.State < 1)
                throw new ArgumentOutOfRangeException(nameof(o), $"State = {o.State} must be >= 1.");
            var rng = new SplitMix64(o.Seed);
            var u = rng.NormalTensor<double>(0, 1, 1, o.Channels, o.Length);
            var delta = rng.NormalTensor<double>(-2.5, 1, 1, o.Channels, o.Length);
            var aLog = InitialALog(o.Channels, o.State);
            var b = rng.NormalTensor<double>(0, 1, 1, 1, o.State, o.Length);
            var c = rng.NormalTensor<double>(0, 1, 1, 1, o.State, o.Length);
            return new OperatorSample(
                Params.Of(("batch", 1), ("channels", o.Channels), ("length", o.Length), ("state_size", o.State), ("groups", 1),
                    ("skip", false), ("gate", false), ("delta_bias", false)),
                new NamedArrays
                {
                    ["u"] = NpyArray.FromTensor(u), ["delta"] = NpyArray.FromTensor(delta), ["a_log"] = NpyArray.FromTensor(aLog),
                    ["b"] = NpyArray.FromTensor(b), ["c"] = NpyArray.FromTensor(c),
                });
        },
        AutodiffEntry = "SsmOps.SelectiveScan(u, delta, a_log, b, c, d, z, delta_bias) (VJP: SelectiveScan.Backward)",
        Differentiable = ["u", "delta", "a_log", "b", "c", "d", "z", "delta_bias"],
        Autodiff = (_, x, v) =>
        {
            // v follows Differentiable with the inputs the case lacks left out (any subset of d, z, delta_bias),
            // so the optional ones take the next variable in order when present.
            int next = 5;
            Variable? Opt(string name) => x.ContainsKey(name) ? v[next++] : null;
            return SsmOps.SelectiveScan(v[0], v[1], v[2], v[3], v[4], Opt("d"), Opt("z"), Opt("delta_bias"));
        },
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
        DemoCase = "full_1x4x17_n8",
        DrawInputs = (p, rng) =>
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
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5, SelectiveSsmCases.ScanRationale),
    };

    /// <summary>Chunk length of the chunked form: shorter than every multi-step case (L = 9 to 33), so chunks and state passing are exercised.</summary>
    private const int FormChunk = 8;

    /// <summary>The scan's inputs from named arrays (absent d, z, delta_bias stay null).</summary>
    private static SelectiveScanInputs<double> Inputs(NamedArrays x) => new(
        x.Double("u"), x.Double("delta"), x.Double("a_log"), x.Double("b"), x.Double("c"),
        x.Optional<double>("d"), x.Optional<double>("z"), x.Optional<double>("delta_bias"));

    internal static IReadOnlyList<DiagonalRealization> RealizeAll(SelectiveScanInputs<double> p)
    {
        p.Check();
        var result = new List<DiagonalRealization>(p.Batch * p.Channels);
        for (int b = 0; b < p.Batch; b++)
            for (int d = 0; d < p.Channels; d++) result.Add(Realize(p, b, d));
        return result;
    }

    /// <summary>The decoding path: <see cref="Step"/> token after token on one state, out [B, D, L].</summary>
    private static Tensor<double> StepLoop(SelectiveScanInputs<double> p)
    {
        p.Check();
        int bs = p.Batch, dd = p.Channels, l = p.Length;
        var state = new SelectiveScanState(bs, dd, p.State);
        var y = Tensor<double>.Zeros(bs, dd, l);
        for (int t = 0; t < l; t++)
        {
            var token = new SelectiveScanInputs<double>(
                p.U.Slice(2, t, 1), p.Delta.Slice(2, t, 1), p.ALog, p.B.Slice(3, t, 1), p.C.Slice(3, t, 1),
                p.D, p.Z?.Slice(2, t, 1), p.DeltaBias);
            var yt = Step(token, state);
            for (int row = 0; row < bs * dd; row++) y.Data[row * l + t] = yt.Data[row];
        }
        return y;
    }

    private static NamedArrays FastOut<T>(NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> =>
        NamedTensors.Outputs(("out", ForwardFast(x.As<T>("u"), x.As<T>("delta"), x.As<T>("a_log"), x.As<T>("b"), x.As<T>("c"),
            x.Optional<T>("d"), x.Optional<T>("z"), x.Optional<T>("delta_bias"), maxThreads: 1)));

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
}
