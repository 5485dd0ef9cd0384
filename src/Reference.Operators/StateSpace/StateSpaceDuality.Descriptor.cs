using System.Numerics;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;
using Reference.Core.Kernels;

namespace Reference.Operators.StateSpace;

public static partial class StateSpaceDuality
{
    /// <summary>The registry entry of Mamba-2's SSD scan ("ssm.ssd").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "ssm.ssd",
        Version = 1,
        Title = "State space duality (Mamba-2 SSD)",
        Paper = "Dao and Gu, Transformers are SSMs: Generalized Models and Efficient Algorithms Through Structured State Space Duality " +
            "(arXiv:2405.21060), sections 3-6 (recurrence sec. 3.1, 1-semiseparable matrix eq. 6, chunked algorithm sec. 6 / figure 5; ssd_minimal)",
        File = "src/Reference.Operators/StateSpace/StateSpaceDuality.cs",
        Summary = "Mamba-2 SSD scan (ssd_minimal layout): Delta = softplus(dt + dt_bias) (threshold 20), a_t = exp(Delta_t A_h), A_h = -exp(a_log[h]); " +
            "S_t = a_t S_{t-1} + (Delta_t x_t) b_t^T [P x N], y_t = S_t c_t + d[h] x_t; x, y [B x L x H x P], dt [B x L x H], a_log [H], " +
            "b, c [B x L x G x N] (head h reads group h / (H / G)), d, dt_bias [H]; absent d, dt_bias mean 0; " +
            "discrete (ssd_minimal_discrete): x = X Delta and a = A Delta [B x L x H] given, S_t = exp(a_t) S_{t-1} + x_t b_t^T, y_t = S_t c_t + d[h] x_t; " +
            "s0: the state before t = 0; final_state: S_{L-1}",
        Parameters =
        [
            new("batch", "int", "-", "batch B"),
            new("length", "int", "-", "length L"),
            new("heads", "int", "-", "heads H"),
            new("head_dim", "int", "-", "head dimension P (the value columns V of a head, which share its operator)"),
            new("groups", "int", "-", "groups G of heads sharing b, c (G divides H; ngroups)"),
            new("state_size", "int", "-", "state size N (d_state)"),
            new("skip", "bool", "-", "whether the case draws the skip d"),
            new("dt_bias", "bool", "-", "whether the case draws dt_bias"),
            new("discrete", "bool", "false", "inputs already discretized: x = X Delta, a = A Delta (drawn uniform(-0.5, -0.001) after x), no dt, a_log, dt_bias"),
            new("initial_state", "bool", "false", "the input s0 (normal(0, 1), drawn last) is the state before t = 0"),
            new("return_final_state", "bool", "false", "also the output final_state"),
        ],
        Inputs =
        [
            new("x", "[B, L, H, V]", "the SSM input per head, V = head_dim P columns"),
            new("dt", "[B, L, H]", "step sizes before the softplus (all but discrete cases)", Optional: true),
            new("a_log", "[H]", "one scalar A_h = -exp(a_log[h]) per head (all but discrete cases)", Optional: true),
            new("a", "[B, L, H]", "A Delta, the log decay of each step (discrete cases)", Optional: true),
            new("s0", "[B, H, P, N]", "initial state (params.initial_state)", Optional: true),
            new("b", "[B, L, G, N]", "input vectors B_t, shared by the H / G heads of a group"),
            new("c", "[B, L, G, N]", "readout vectors C_t, grouped like b"),
            new("d", "[H]", "skip D (absent: 0)", Optional: true),
            new("dt_bias", "[H]", "added to dt before the softplus (absent: 0)", Optional: true),
        ],
        Outputs =
        [
            new("y", "[B, L, H, V]", "y_t = S_t C_t + D_h x_t"),
            new("final_state", "[B, H, P, N]", "S_{L-1} (params.return_final_state)", Optional: true),
        ],
        NaiveEntry = "StateSpaceDuality.Forward(StateSpaceDualityInputs<double> p) (= Recurrent(p, null)); Recurrent(p, state) from s0; " +
            "discrete cases: StateSpaceDuality.ForwardDiscrete(x, a, b, c, d, state)",
        Naive = (p, x) =>
        {
            var state = StartState(x);
            var y = IsDiscrete(p) ? ForwardDiscrete(x.Double("x"), x.Double("a"), x.Double("b"), x.Double("c"), x.Optional<double>("d"), state)
                : Recurrent(Inputs(x), state);
            return WithState(p, y, state.S);
        },
        FastEntry = $"StateSpaceDuality.ForwardFast<T>(x, dt, a_log, b, c, d, dt_bias, chunk: {GoldenChunk}, maxThreads: 1) (float32, float64; the chunked algorithm)",
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastOut<float>(p, x) : FastOut<double>(p, x),
        Forms =
        [
            new("step loop (decoding)", "StateSpaceDuality.Step(token, state) for t = 0..L-1 on one StateSpaceDualityState (from s0); " +
                "discrete cases: ForwardDiscrete on each step in turn",
                (p, x) => WithState(p, IsDiscrete(p) ? DiscretePieces(x, 1, out var s) : StepLoop(Inputs(x), s = StartState(x)), s.S), "y"),
            new("recurrent in two pieces", "StateSpaceDuality.Recurrent(first half, state), then Recurrent(second half, state) (ForwardDiscrete for discrete cases)",
                (p, x) => WithState(p, IsDiscrete(p) ? DiscretePieces(x, Math.Max(1, x.Double("x").Dim(1) / 2), out var s)
                    : RecurrentInPieces(Inputs(x), s = StartState(x)), s.S), "y"),
            new($"chunked (Q = {GoldenChunk})", $"StateSpaceDuality.Chunked(p, chunk: {GoldenChunk}, state); discrete cases: the chunked kernel " +
                $"ForwardDiscreteFast<double>(chunk: {GoldenChunk})",
                (p, x) =>
                {
                    var s = StartState(x);
                    var y = IsDiscrete(p)
                        ? ForwardDiscreteFast(x.Double("x"), x.Double("a"), x.Double("b"), x.Double("c"), x.Optional<double>("d"), GoldenChunk, 1, s.S)
                        : Chunked(Inputs(x), GoldenChunk, s);
                    return WithState(p, y, s.S);
                }, "y"),
            new("materialized T x", "StateSpaceDuality.Materialize(p) [B, H, L, L] (MaterializeDiscrete for discrete cases), then y[:, h, :] = T[h] x[:, h, :] " +
                "per column; with s0, plus the free response (the recurrence from s0 on x = 0)",
                (p, x) =>
                {
                    var xs = x.Double("x");
                    var y = ApplyPerHead(MaterializeOf(p, x), xs);
                    if (x.ContainsKey("s0"))
                    {
                        var zero = Tensor<double>.Zeros(xs.ShapeArray);
                        var free = IsDiscrete(p) ? ForwardDiscrete(zero, x.Double("a"), x.Double("b"), x.Double("c"), null, StartState(x))
                            : Recurrent(Inputs(x) with { X = zero, D = null }, StartState(x));
                        for (int i = 0; i < y.Length; i++) y.Data[i] += free.Data[i];
                    }
                    return NamedTensors.Outputs(("y", y));
                }, "y"),
            new("StepFast loop (float64)", "StateSpaceDuality.StepFast<double>(x_t, dt_t, a_log, b_t, c_t, state, d, dt_bias) for t = 0..L-1 (from s0); " +
                "discrete cases: ForwardDiscreteFast<double> on each step in turn",
                (p, x) => NamedTensors.Outputs(("y", StepFastLoop(p, x))), "y"),
        ],
        MaterializeEntry = "StateSpaceDuality.Materialize(p) [B, H, L, L]; MaterializeDiscrete(x, a, b, c, d) for discrete cases",
        Materialize = (p, x) => OperatorMatrices.Rows(MaterializeOf(p, x)),
        RealizeEntry = "StateSpaceDuality.Realize(p, batch, head): a_t = exp(Delta_t A_h) on every lane, b_t = Delta_t B_t, c_t = C_t; " +
            "and the direct term D_h",
        Realize = (q, x) =>
        {
            if (IsDiscrete(q)) return RealizeDiscrete(x);
            var p = Inputs(x);
            var result = new List<DiagonalRealization>(p.Batch * p.Heads);
            for (int b = 0; b < p.Batch; b++)
                for (int h = 0; h < p.Heads; h++) result.Add(Realize(p, b, h));
            return result;
        },
        StepEntry = "StateSpaceDuality.Step(token, state) (token: StateSpaceDualityInputs<double> with L = 1; returns y [B, H, P]); StateSpaceDuality.StepFast<T>(x, dt, a_log, b, c, state, d, dt_bias)",
        State = "S [B, H, P, N] (StateSpaceDualityState; StepFast and ForwardFast(state:) carry the same layout)",
        TotalStateSizeFormula = "N per head and value column (H P N per layer)",
        TotalStateSize = (p, _, _) => p.Int("state_size"),
        ParameterCount = p =>
        {
            long h = p.Int("heads");   // a_log [H]; the skip d [H] and dt_bias [H] when the params say they are present
            return h + (p.Bool("skip") ? h : 0) + (p.Bool("dt_bias") ? h : 0);
        },
        CacheSizeFormula = "H P N (the state S); constant in L",
        CacheSize = (p, _) => (long)p.Int("heads") * p.Int("head_dim") * p.Int("state_size"),
        Decoder = (p, inputs, b) =>
        {
            var d = inputs.Optional<double>("d");
            // From s0 when the inputs carry one (params.initial_state), zeros otherwise.
            var state = new StateSpaceDualityState(b, p.Int("heads"), p.Int("head_dim"), p.Int("state_size"));
            if (inputs.ContainsKey("s0")) inputs.Double("s0").Data.CopyTo(state.S.Data, 0);
            if (IsDiscrete(p))
                // Already discretized inputs (ssd_minimal_discrete): one step of the discrete recurrence per token.
                return new OperatorDecoder(b, x => ForwardDiscrete(x["x"], x["a"], x["b"], x["c"], d, state), () => state.S.Length);
            var (aLog, dtBias) = (inputs.Double("a_log"), inputs.Optional<double>("dt_bias"));
            return new OperatorDecoder(b,
                x => OperatorDecoder.Unsqueeze(Step(new StateSpaceDualityInputs<double>(x["x"], x["dt"], aLog, x["b"], x["c"], d, dtBias), state), 1),
                () => state.S.Length);
        },
        Sample = o =>
        {
            // Mamba-2's initialization (mamba_ssm/modules/mamba2.py) where it has one: dt_bias = softplus^-1(dt) with
            // dt = max(exp(uniform[log 1e-3, log 1e-1)), 1e-4) per head; A_log = log(1..H) (Mamba-2 draws A ~ uniform[1, 16];
            // here one deterministic rate per head, as S4D-Real); x, dt (the projection's output before the bias), B, C ~ N(0, 1)
            // in one group; no skip (D sits on T's diagonal and never enters ESS). Head dimension P = KeyDim.
            if (o.Heads < 1)
                throw new ArgumentOutOfRangeException(nameof(o), $"Heads = {o.Heads} must be >= 1.");
            if (o.State < 1)
                throw new ArgumentOutOfRangeException(nameof(o), $"State = {o.State} must be >= 1.");
            var rng = new SplitMix64(o.Seed);
            int h = o.Heads, l = o.Length, ps = o.KeyDim, n = o.State;
            var xs = rng.NormalTensor<double>(0, 1, 1, l, h, ps);
            var dt = rng.NormalTensor<double>(0, 1, 1, l, h);
            var b = rng.NormalTensor<double>(0, 1, 1, l, 1, n);
            var c = rng.NormalTensor<double>(0, 1, 1, l, 1, n);
            var dtBias = Tensor<double>.Zeros(h);
            for (int i = 0; i < h; i++)
            {
                double step = Math.Max(Math.Exp(rng.Uniform(Math.Log(1e-3), Math.Log(1e-1))), 1e-4);
                dtBias.Data[i] = step + Math.Log(-ScalarMath.Expm1(-step));
            }
            var aLog = Tensor<double>.Zeros(h);
            for (int i = 0; i < h; i++) aLog.Data[i] = Math.Log(i + 1);
            return new OperatorSample(
                Params.Of(("batch", 1), ("length", l), ("heads", h), ("head_dim", ps), ("groups", 1), ("state_size", n),
                    ("skip", false), ("dt_bias", true)),
                new NamedArrays
                {
                    ["x"] = NpyArray.FromTensor(xs), ["dt"] = NpyArray.FromTensor(dt), ["a_log"] = NpyArray.FromTensor(aLog),
                    ["b"] = NpyArray.FromTensor(b), ["c"] = NpyArray.FromTensor(c), ["dt_bias"] = NpyArray.FromTensor(dtBias),
                });
        },
        AutodiffEntry = "SsmOps.StateSpaceDuality(x, dt, a_log, b, c, d, dt_bias) (VJP: StateSpaceDuality.Backward)",
        Differentiable = ["x", "dt", "a_log", "b", "c", "d", "dt_bias"],
        Autodiff = (_, x, v) =>
        {
            // v follows Differentiable with the inputs the case lacks left out (dt_bias may come without d),
            // so the optional ones take the next variable in order when present.
            int next = 5;
            Variable? Opt(string name) => x.ContainsKey(name) ? v[next++] : null;
            return SsmOps.StateSpaceDuality(v[0], v[1], v[2], v[3], v[4], Opt("d"), Opt("dt_bias"));
        },
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
            Extended("states_1x19x2_p3_n4", 846, 1, 19, 2, 3, 1, 4, true, true, discrete: false),
            Extended("discrete_1x17x4_p2_n5", 847, 1, 17, 4, 2, 2, 5, false, false, discrete: true, states: false),
            Extended("discrete_states_2x12x2_p3_n3", 848, 2, 12, 2, 3, 1, 3, true, false, discrete: true),
        ],
        DemoCase = "groups2_1x33x4_p3_n5",
        DrawInputs = (p, rng) =>
        {
            int b = p.Int("batch"), l = p.Int("length"), h = p.Int("heads"), g = p.Int("groups"), n = p.Int("state_size");
            if (IsDiscrete(p))
            {
                // ssd_minimal_discrete's inputs: X Delta ~ N(0, 1), A Delta ~ uniform(-0.5, -0.001) (a decay per step and head).
                var xd = new NamedArrays
                {
                    ["x"] = CaseInputs.Normal(rng, b, l, h, p.Int("head_dim")),
                    ["a"] = CaseInputs.Uniform(rng, -0.5, -0.001, b, l, h),
                    ["b"] = CaseInputs.Normal(rng, b, l, g, n),
                    ["c"] = CaseInputs.Normal(rng, b, l, g, n),
                };
                if (p.Bool("skip")) xd["d"] = CaseInputs.Normal(rng, h);
                if (Flag(p, "initial_state")) xd["s0"] = CaseInputs.Normal(rng, b, h, p.Int("head_dim"), n);
                return xd;
            }
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
            if (Flag(p, "initial_state")) x["s0"] = CaseInputs.Normal(rng, b, h, p.Int("head_dim"), n);
            return x;
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5, SelectiveSsmCases.ScanRationale),
    };

    /// <summary>
    /// Chunk length of the fast tier in the golden runs and of the chunked form: shorter than most cases
    /// (9 to 33 steps), so chunks and the state passing between them are exercised.
    /// </summary>
    internal const int GoldenChunk = 8;

    /// <summary>SSD inputs from named arrays (absent d, dt_bias stay null).</summary>
    private static StateSpaceDualityInputs<double> Inputs(NamedArrays x) => new(
        x.Double("x"), x.Double("dt"), x.Double("a_log"), x.Double("b"), x.Double("c"), x.Optional<double>("d"), x.Optional<double>("dt_bias"));

    private static bool Flag(System.Text.Json.Nodes.JsonObject p, string key) => p.ContainsKey(key) && p[key] is not null && p.Bool(key);

    private static bool IsDiscrete(System.Text.Json.Nodes.JsonObject p) => Flag(p, "discrete");

    /// <summary>A state holding s0 when the case has one, else zeros ([B, H, P, N] from x and b).</summary>
    private static StateSpaceDualityState StartState(NamedArrays x)
    {
        var xs = x.Double("x");
        var s = new StateSpaceDualityState(xs.Dim(0), xs.Dim(2), xs.Dim(3), x.Double("b").Dim(3));
        if (x.ContainsKey("s0")) x.Double("s0").Data.CopyTo(s.S.Data, 0);
        return s;
    }

    /// <summary>y, and final_state when params.return_final_state.</summary>
    private static NamedArrays WithState(System.Text.Json.Nodes.JsonObject p, Tensor<double> y, Tensor<double> s) =>
        Flag(p, "return_final_state") ? NamedTensors.Outputs(("y", y), ("final_state", s)) : NamedTensors.Outputs(("y", y));

    private static Tensor<double> MaterializeOf(System.Text.Json.Nodes.JsonObject p, NamedArrays x) => IsDiscrete(p)
        ? MaterializeDiscrete(x.Double("x"), x.Double("a"), x.Double("b"), x.Double("c"), x.Optional<double>("d"))
        : Materialize(Inputs(x));

    /// <summary>The discretized entry run in pieces of <paramref name="piece"/> steps from s0, each from the state the last left.</summary>
    private static Tensor<double> DiscretePieces(NamedArrays x, int piece, out StateSpaceDualityState state)
    {
        var (xd, ad, b, c, d) = (x.Double("x"), x.Double("a"), x.Double("b"), x.Double("c"), x.Optional<double>("d"));
        state = StartState(x);
        var y = Tensor<double>.Zeros(xd.ShapeArray);
        int l = xd.Dim(1), row = xd.Dim(2) * xd.Dim(3);
        for (int start = 0; start < l; start += piece)
        {
            int len = Math.Min(piece, l - start);
            var yp = ForwardDiscrete(xd.Slice(1, start, len), ad.Slice(1, start, len), b.Slice(1, start, len), c.Slice(1, start, len), d, state);
            for (int bi = 0; bi < xd.Dim(0); bi++) yp.Data.AsSpan(bi * len * row, len * row).CopyTo(y.Data.AsSpan((bi * l + start) * row));
        }
        return y;
    }

    /// <summary>The discretized operator's realization per (batch, head): a_t = exp(a_t) on every lane, b_t = B_t, c_t = C_t, the direct term D_h.</summary>
    private static IReadOnlyList<DiagonalRealization> RealizeDiscrete(NamedArrays x)
    {
        var (xd, ad, b, c, d) = (x.Double("x"), x.Double("a"), x.Double("b"), x.Double("c"), x.Optional<double>("d"));
        int bs = xd.Dim(0), l = xd.Dim(1), hs = xd.Dim(2), gs = b.Dim(2), n = b.Dim(3);
        var result = new List<DiagonalRealization>(bs * hs);
        for (int bi = 0; bi < bs; bi++)
            for (int h = 0; h < hs; h++)
            {
                int g = h / (hs / gs);
                var (a, bIn, cOut) = (new double[l * n], new double[l * n], new double[l * n]);
                for (int t = 0; t < l; t++)
                    for (int k = 0; k < n; k++)
                    {
                        a[t * n + k] = Math.Exp(ad.Data[(bi * l + t) * hs + h]);
                        bIn[t * n + k] = b.Data[((bi * l + t) * gs + g) * n + k];
                        cOut[t * n + k] = c.Data[((bi * l + t) * gs + g) * n + k];
                    }
                double[]? skip = d is null ? null : Enumerable.Repeat(d.Data[h], l).ToArray();
                result.Add(DiagonalRealization.Real(l, n, a, bIn, cOut, skip));
            }
        return result;
    }

    /// <summary>The decoding path: <see cref="Step"/> token after token on one state, y [B, L, H, P].</summary>
    private static Tensor<double> StepLoop(StateSpaceDualityInputs<double> p, StateSpaceDualityState? start = null)
    {
        p.Check();
        var state = start ?? new StateSpaceDualityState(p.Batch, p.Heads, p.HeadDim, p.State);
        var y = Tensor<double>.Zeros(p.X.ShapeArray);
        for (int t = 0; t < p.Length; t++)
        {
            var token = new StateSpaceDualityInputs<double>(p.X.Slice(1, t, 1), p.Dt.Slice(1, t, 1), p.ALog, p.B.Slice(1, t, 1), p.C.Slice(1, t, 1), p.D, p.DtBias);
            PlaceStep(y, t, Step(token, state).Data);
        }
        return y;
    }

    /// <summary><see cref="Recurrent"/> over the first half, then over the rest from the state it left.</summary>
    private static Tensor<double> RecurrentInPieces(StateSpaceDualityInputs<double> p, StateSpaceDualityState? start = null)
    {
        p.Check();
        int l = p.Length, first = l / 2;
        var state = start ?? new StateSpaceDualityState(p.Batch, p.Heads, p.HeadDim, p.State);
        if (first == 0) return Recurrent(p, state);
        StateSpaceDualityInputs<double> Piece(int start, int len) => new(p.X.Slice(1, start, len), p.Dt.Slice(1, start, len), p.ALog,
            p.B.Slice(1, start, len), p.C.Slice(1, start, len), p.D, p.DtBias);
        var y1 = Recurrent(Piece(0, first), state);
        var y2 = Recurrent(Piece(first, l - first), state);
        var y = Tensor<double>.Zeros(p.X.ShapeArray);
        int row = p.Heads * p.HeadDim;
        for (int b = 0; b < p.Batch; b++)
        {
            y1.Data.AsSpan(b * first * row, first * row).CopyTo(y.Data.AsSpan(b * l * row));
            y2.Data.AsSpan(b * (l - first) * row, (l - first) * row).CopyTo(y.Data.AsSpan((b * l + first) * row));
        }
        return y;
    }

    /// <summary>The fast decoding path at float64: <see cref="StepFast{T}"/> token after token on one state S [B, H, P, N].</summary>
    private static Tensor<double> StepFastLoop(System.Text.Json.Nodes.JsonObject q, NamedArrays named)
    {
        var state = StartState(named).S;
        if (IsDiscrete(q))
        {
            var (xd, ad, b, c, d) = (named.Double("x"), named.Double("a"), named.Double("b"), named.Double("c"), named.Optional<double>("d"));
            var yd = Tensor<double>.Zeros(xd.ShapeArray);
            for (int t = 0; t < xd.Dim(1); t++)
                PlaceStep(yd, t, ForwardDiscreteFast(xd.Slice(1, t, 1), ad.Slice(1, t, 1), b.Slice(1, t, 1), c.Slice(1, t, 1), d, 1, 1, state).Data);
            return yd;
        }
        var p = Inputs(named);
        p.Check();
        int bs = p.Batch, hs = p.Heads, ps = p.HeadDim, gs = p.Groups, n = p.State;
        var y = Tensor<double>.Zeros(p.X.ShapeArray);
        for (int t = 0; t < p.Length; t++)
        {
            var yt = StepFast(p.X.Slice(1, t, 1).Reshape(bs, hs, ps), p.Dt.Slice(1, t, 1).Reshape(bs, hs), p.ALog,
                p.B.Slice(1, t, 1).Reshape(bs, gs, n), p.C.Slice(1, t, 1).Reshape(bs, gs, n), state, p.D, p.DtBias, maxThreads: 1);
            PlaceStep(y, t, yt.Data);
        }
        return y;
    }

    /// <summary>Writes one step's y [B, H, P] into y [B, L, H, P] at time t.</summary>
    private static void PlaceStep(Tensor<double> y, int t, double[] step)
    {
        int bs = y.Dim(0), l = y.Dim(1), row = y.Dim(2) * y.Dim(3);
        for (int b = 0; b < bs; b++) step.AsSpan(b * row, row).CopyTo(y.Data.AsSpan((b * l + t) * row, row));
    }

    /// <summary>y[b, :, h, p] = T[b, h] x[b, :, h, p] for T [B, H, L, L] and x [B, L, H, P].</summary>
    private static Tensor<double> ApplyPerHead(Tensor<double> tm, Tensor<double> x)
    {
        int bs = x.Dim(0), l = x.Dim(1), hs = x.Dim(2), ps = x.Dim(3);
        var y = Tensor<double>.Zeros(x.ShapeArray);
        for (int b = 0; b < bs; b++)
            for (int h = 0; h < hs; h++)
                for (int t = 0; t < l; t++)
                    for (int s = 0; s < l; s++)
                    {
                        double w = tm.Data[((b * hs + h) * l + t) * l + s];
                        for (int q = 0; q < ps; q++) y.Data[((b * l + t) * hs + h) * ps + q] += w * x.Data[((b * l + s) * hs + h) * ps + q];
                    }
        return y;
    }

    private static NamedArrays FastOut<T>(System.Text.Json.Nodes.JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool states = x.ContainsKey("s0") || Flag(p, "return_final_state");
        var xs = x.As<T>("x");
        var state = !states ? null : x.ContainsKey("s0") ? x.As<T>("s0") : Tensor<T>.Zeros(xs.Dim(0), xs.Dim(2), xs.Dim(3), x.As<T>("b").Dim(3));
        var y = IsDiscrete(p)
            ? ForwardDiscreteFast(xs, x.As<T>("a"), x.As<T>("b"), x.As<T>("c"), x.Optional<T>("d"), GoldenChunk, 1, state)
            : ForwardFast(xs, x.As<T>("dt"), x.As<T>("a_log"), x.As<T>("b"), x.As<T>("c"), x.Optional<T>("d"), x.Optional<T>("dt_bias"), GoldenChunk,
                maxThreads: 1, state: state);
        return Flag(p, "return_final_state") ? NamedTensors.Outputs(("y", y), ("final_state", state!)) : NamedTensors.Outputs(("y", y));
    }

    private static ConformanceCase Extended(string id, ulong seed, int batch, int length, int heads, int headDim, int groups, int stateSize,
        bool skip, bool dtBias, bool discrete, bool states = true)
    {
        var c = SsdCase(id, seed, batch, length, heads, headDim, groups, stateSize, skip, dtBias);
        c.Params["discrete"] = discrete;
        c.Params["initial_state"] = states;
        c.Params["return_final_state"] = states;
        string extra = string.Join(", ", new[] { discrete ? "discretized inputs (x = X Delta, a = A Delta uniform(-0.5, -0.001))" : null,
            states ? "initial state s0 normal(0, 1) (drawn last), final_state output" : null }.Where(e => e is not null));
        return c with { Description = $"{c.Description}; {extra}" };
    }

    private static ConformanceCase SsdCase(string id, ulong seed, int batch, int length, int heads, int headDim, int groups, int stateSize,
        bool skip, bool dtBias, params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("length", length), ("heads", heads), ("head_dim", headDim), ("groups", groups),
                ("state_size", stateSize), ("skip", skip), ("dt_bias", dtBias)),
            $"batch {batch}, L = {length}, H = {heads}, P = {headDim}, G = {groups}, N = {stateSize}; {(skip ? "skip d" : "no skip")}, " +
            (dtBias ? "dt_bias" : "no dt_bias"), tags);
}
