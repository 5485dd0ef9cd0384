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
            "b, c [B x G x N x L] (channel d reads group d / (D / G)), d, delta_bias [D]; absent d, z, delta_bias mean 0, no gate, 0; " +
            "delta_softplus false: Delta = delta + delta_bias; complex: A = -exp(a_log) + i a_imag, b, c complex (b + i b_imag, c + i c_imag), " +
            "y_t = 2 Re(c_t . x_t) + d u_t (selective_scan_ref with complex A); x0: the state before t = 0; last_state: x_{L-1}",
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
            new("delta_softplus", "bool", "true", "false: Delta = delta + delta_bias, no softplus (selective_scan_ref's delta_softplus); delta is then drawn uniform(0.001, 0.3)"),
            new("complex", "bool", "false", "complex A with inputs a_imag, b_imag, c_imag (drawn after the others: a_imag uniform(0, 4), b_imag, c_imag normal(0, 1))"),
            new("initial_state", "bool", "false", "the input x0 (normal(0, 1), drawn last) is the state before t = 0"),
            new("return_last_state", "bool", "false", "also the output last_state (selective_scan_ref's return_last_state)"),
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
            new("a_imag", "[D, N]", "imaginary parts of A (params.complex)", Optional: true),
            new("b_imag", "[B, G, N, L]", "imaginary parts of B (params.complex)", Optional: true),
            new("c_imag", "[B, G, N, L]", "imaginary parts of C (params.complex)", Optional: true),
            new("x0", "[B, D, N] (complex: [B, D, N, 2], real and imaginary parts)", "initial state (params.initial_state)", Optional: true),
        ],
        Outputs =
        [
            new("out", "[B, D, L]", "out_t = (C_t . x_t + D u_t) silu(z_t) (complex: 2 Re(C_t . x_t))"),
            new("last_state", "[B, D, N] (complex: [B, D, N, 2])", "x_{L-1} (params.return_last_state)", Optional: true),
        ],
        NaiveEntry = "SelectiveScan.Recurrent(SelectiveScanInputs<double> p, state) (= Forward(p) from a zero state; the state holds the last one)",
        Naive = (p, x) =>
        {
            var s = InitialState(p, x);
            return Outputs(p, Recurrent(Inputs(p, x), s), s);
        },
        FastEntry = "SelectiveScan.ForwardFast<T>(u, delta, a_log, b, c, d, z, delta_bias, maxThreads: 1); with the options " +
            "SelectiveScan.ForwardFastWithState<T>(p, x0) (float32, float64)",
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastOut<float>(p, x) : FastOut<double>(p, x),
        Forms =
        [
            new("step loop (decoding)", "SelectiveScan.Step(token, state) for t = 0..L-1 on one SelectiveScanState (from x0)",
                (p, x) => NamedTensors.Outputs(("out", StepLoop(Inputs(p, x), InitialState(p, x)))), "out"),
            new($"chunked (C = {FormChunk})", $"SelectiveScan.Chunked(p, chunk: {FormChunk}, state from x0)",
                (p, x) => NamedTensors.Outputs(("out", Chunked(Inputs(p, x), FormChunk, InitialState(p, x)))), "out"),
            new("materialized T u", "SelectiveScan.Materialize(p) [B, D, L, L] (gate and skip inside T), then T u per (batch, channel); " +
                "with x0, plus the free response (Recurrent from x0 on u = 0)",
                (q, x) =>
                {
                    var p = Inputs(q, x);
                    var y = OperatorMatrices.Apply(Materialize(p), p.U);
                    if (InitialState(q, x) is { } s0)
                    {
                        var free = Recurrent(p with { U = Tensor<double>.Zeros(p.U.ShapeArray) }, s0);
                        for (int i = 0; i < y.Length; i++) y.Data[i] += free.Data[i];
                    }
                    return NamedTensors.Outputs(("out", y));
                }, "out"),
        ],
        MaterializeEntry = "SelectiveScan.Materialize(p) [B, D, L, L]",
        Materialize = (p, x) => OperatorMatrices.Rows(Materialize(Inputs(p, x))),
        RealizeEntry = "SelectiveScan.Realize(p, batch, channel): a_t = exp(Delta_t A), b_t = Delta_t B_t, c_t = silu(z_t) C_t; " +
            "and the direct term silu(z_t) D",
        Realize = (p, x) => RealizeAll(Inputs(p, x)),
        StepEntry = "SelectiveScan.Step(token, state) (token: SelectiveScanInputs<double> with L = 1; returns out [B, D])",
        State = "x [B, D, N] (SelectiveScanState)",
        TotalStateSizeFormula = "N per channel (D N per layer)",
        TotalStateSize = (p, _, _) => p.Int("state_size"),
        ParameterCount = p =>
        {
            long d = p.Int("channels");   // a_log [D, N]; the skip d [D] and delta_bias [D] when the params say they are present
            return d * p.Int("state_size") + (p.Bool("skip") ? d : 0) + (p.Bool("delta_bias") ? d : 0);
        },
        CacheSizeFormula = "D N (the scan state x; 2 D N with complex A: real and imaginary parts); constant in L",
        CacheSize = (p, _) => (long)p.Int("channels") * p.Int("state_size") * (Has(p, "complex") && p.Bool("complex") ? 2 : 1),
        Decoder = (p, inputs, b) =>
        {
            var (aLog, d, deltaBias, aImag) = (inputs.Double("a_log"), inputs.Optional<double>("d"), inputs.Optional<double>("delta_bias"), inputs.Optional<double>("a_imag"));
            bool softplus = !Has(p, "delta_softplus") || p.Bool("delta_softplus");
            var state = InitialState(p, inputs) ?? new SelectiveScanState(b, aLog.Dim(0), aLog.Dim(1), complex: aImag is not null);
            return new OperatorDecoder(b,
                x => OperatorDecoder.Unsqueeze(Step(new SelectiveScanInputs<double>(x["u"], x["delta"], aLog, x["b"], x["c"], d,
                    x.GetValueOrDefault("z"), deltaBias, softplus, aImag, x.GetValueOrDefault("b_imag"), x.GetValueOrDefault("c_imag")), state), 2),
                () => state.X.Length + (state.XImag?.Length ?? 0));
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
        Autodiff = (p, x, v) =>
        {
            // v follows Differentiable with the inputs the case lacks left out (any subset of d, z, delta_bias),
            // so the optional ones take the next variable in order when present.
            int next = 5;
            Variable? Opt(string name) => x.ContainsKey(name) ? v[next++] : null;
            return SsmOps.SelectiveScan(v[0], v[1], v[2], v[3], v[4], Opt("d"), Opt("z"), Opt("delta_bias"),
                !Has(p, "delta_softplus") || p.Bool("delta_softplus"));
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
            Extended("no_softplus_1x4x17_n8", 827, 1, 4, 17, 8, 1, true, true, (0, 0.1), softplus: false, complex: false, states: false),
            Extended("complex_1x4x16_n4", 828, 1, 4, 16, 4, 1, true, true, (-3, 0), softplus: true, complex: true, states: false),
            Extended("complex_groups2_no_softplus_2x4x9_n3", 829, 2, 4, 9, 3, 2, false, false, null, softplus: false, complex: true, states: false),
            Extended("states_1x4x20_n8", 830, 1, 4, 20, 8, 2, true, true, (-3, 0), softplus: true, complex: false, states: true),
            Extended("states_complex_1x2x11_n4", 831, 1, 2, 11, 4, 1, true, false, null, softplus: true, complex: true, states: true),
        ],
        DemoCase = "full_1x4x17_n8",
        DrawInputs = (p, rng) =>
        {
            int b = p.Int("batch"), d = p.Int("channels"), l = p.Int("length"), n = p.Int("state_size"), g = p.Int("groups");
            bool softplus = !Has(p, "delta_softplus") || p.Bool("delta_softplus");
            var x = new NamedArrays
            {
                ["u"] = CaseInputs.Normal(rng, b, d, l),
                // Without the softplus delta is the step itself: small and positive, as a discretized step.
                ["delta"] = softplus ? CaseInputs.Normal(rng, b, d, l) : CaseInputs.Uniform(rng, 0.001, 0.3, b, d, l),
                ["a_log"] = CaseInputs.Uniform(rng, -1, 2, d, n),
                ["b"] = CaseInputs.Normal(rng, b, g, n, l),
                ["c"] = CaseInputs.Normal(rng, b, g, n, l),
            };
            if (p.Bool("skip")) x["d"] = CaseInputs.Normal(rng, d);
            if (p.Bool("gate")) x["z"] = CaseInputs.Normal(rng, b, d, l);
            if (p.Bool("delta_bias")) x["delta_bias"] = CaseInputs.Uniform(rng, p.Double("bias_low"), p.Double("bias_high"), d);
            if (Has(p, "complex") && p.Bool("complex"))
            {
                x["a_imag"] = CaseInputs.Uniform(rng, 0, 4, d, n);
                x["b_imag"] = CaseInputs.Normal(rng, b, g, n, l);
                x["c_imag"] = CaseInputs.Normal(rng, b, g, n, l);
            }
            if (Has(p, "initial_state") && p.Bool("initial_state"))
                x["x0"] = Has(p, "complex") && p.Bool("complex") ? CaseInputs.Normal(rng, b, d, n, 2) : CaseInputs.Normal(rng, b, d, n);
            return x;
        },
        Tolerance = (_, _) => Reference.Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5, SelectiveSsmCases.ScanRationale),
    };

    /// <summary>Chunk length of the chunked form: shorter than every multi-step case (L = 9 to 33), so chunks and state passing are exercised.</summary>
    private const int FormChunk = 8;

    /// <summary>The scan's inputs from named arrays (absent d, z, delta_bias, a_imag, b_imag, c_imag stay null) and the softplus switch.</summary>
    private static SelectiveScanInputs<double> Inputs(JsonObject p, NamedArrays x) => Inputs<double>(p, x);

    private static SelectiveScanInputs<T> Inputs<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> => new(
        x.As<T>("u"), x.As<T>("delta"), x.As<T>("a_log"), x.As<T>("b"), x.As<T>("c"),
        x.Optional<T>("d"), x.Optional<T>("z"), x.Optional<T>("delta_bias"), !Has(p, "delta_softplus") || p.Bool("delta_softplus"),
        x.Optional<T>("a_imag"), x.Optional<T>("b_imag"), x.Optional<T>("c_imag"));

    private static bool Has(JsonObject p, string key) => p.ContainsKey(key) && p[key] is not null;

    /// <summary>A state holding x0 (params.initial_state; complex [B, D, N, 2] split into X and XImag), or null.</summary>
    private static SelectiveScanState? InitialState(JsonObject p, NamedArrays x)
    {
        if (!x.ContainsKey("x0")) return null;
        var x0 = x.Double("x0");
        bool complex = x.ContainsKey("a_imag");
        var s = new SelectiveScanState(x0.Dim(0), x0.Dim(1), x0.Dim(2), complex);
        if (!complex) x0.Data.CopyTo(s.X.Data, 0);
        else
            for (int i = 0; i < s.X.Length; i++) { s.X.Data[i] = x0.Data[2 * i]; s.XImag!.Data[i] = x0.Data[2 * i + 1]; }
        return s;
    }

    /// <summary>out, and last_state when params.return_last_state (from the state the run left; complex as [B, D, N, 2]).</summary>
    private static NamedArrays Outputs(JsonObject p, Tensor<double> y, SelectiveScanState? s)
    {
        if (!Has(p, "return_last_state") || !p.Bool("return_last_state")) return NamedTensors.Outputs(("out", y));
        var last = s!.XImag is null ? s.X : Tensor<double>.Zeros(s.X.Dim(0), s.X.Dim(1), s.X.Dim(2), 2);
        if (s.XImag is not null)
            for (int i = 0; i < s.X.Length; i++) { last.Data[2 * i] = s.X.Data[i]; last.Data[2 * i + 1] = s.XImag.Data[i]; }
        return NamedTensors.Outputs(("out", y), ("last_state", last));
    }

    internal static IReadOnlyList<DiagonalRealization> RealizeAll(SelectiveScanInputs<double> p)
    {
        p.Check();
        var result = new List<DiagonalRealization>(p.Batch * p.Channels);
        for (int b = 0; b < p.Batch; b++)
            for (int d = 0; d < p.Channels; d++) result.Add(Realize(p, b, d));
        return result;
    }

    /// <summary>The decoding path: <see cref="Step"/> token after token on one state, out [B, D, L].</summary>
    private static Tensor<double> StepLoop(SelectiveScanInputs<double> p, SelectiveScanState? initial)
    {
        p.Check();
        int bs = p.Batch, dd = p.Channels, l = p.Length;
        var state = initial ?? new SelectiveScanState(bs, dd, p.State, p.IsComplex);
        var y = Tensor<double>.Zeros(bs, dd, l);
        for (int t = 0; t < l; t++)
        {
            var yt = Step(p.Window(t, 1), state);
            for (int row = 0; row < bs * dd; row++) y.Data[row * l + t] = yt.Data[row];
        }
        return y;
    }

    private static NamedArrays FastOut<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (y, last) = ForwardFastWithState(Inputs<T>(p, x), x.Optional<T>("x0"), maxThreads: 1);
        return Has(p, "return_last_state") && p.Bool("return_last_state")
            ? NamedTensors.Outputs(("out", y), ("last_state", last)) : NamedTensors.Outputs(("out", y));
    }

    private static ConformanceCase Extended(string id, ulong seed, int batch, int channels, int length, int stateSize, int groups, bool skip, bool gate,
        (double Low, double High)? bias, bool softplus, bool complex, bool states)
    {
        var c = ScanCase(id, seed, batch, channels, length, stateSize, groups, skip, gate, bias);
        c.Params["delta_softplus"] = softplus;
        c.Params["complex"] = complex;
        c.Params["initial_state"] = states;
        c.Params["return_last_state"] = states;
        string extra = string.Join(", ", new[] { softplus ? null : "no softplus (delta uniform(0.001, 0.3))",
            complex ? "complex A (a_imag uniform(0, 4), b_imag, c_imag normal(0, 1))" : null,
            states ? "initial state x0 normal(0, 1) (drawn last), last_state output" : null }.Where(e => e is not null));
        return c with { Description = $"{c.Description}; {extra}" };
    }

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
