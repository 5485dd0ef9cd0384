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
            "b, c [B x L x G x N] (head h reads group h / (H / G)), d, dt_bias [H]; absent d, dt_bias mean 0",
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
        ],
        Inputs =
        [
            new("x", "[B, L, H, V]", "the SSM input per head, V = head_dim P columns"),
            new("dt", "[B, L, H]", "step sizes before the softplus"),
            new("a_log", "[H]", "one scalar A_h = -exp(a_log[h]) per head"),
            new("b", "[B, L, G, N]", "input vectors B_t, shared by the H / G heads of a group"),
            new("c", "[B, L, G, N]", "readout vectors C_t, grouped like b"),
            new("d", "[H]", "skip D (absent: 0)", Optional: true),
            new("dt_bias", "[H]", "added to dt before the softplus (absent: 0)", Optional: true),
        ],
        Outputs = [new("y", "[B, L, H, V]", "y_t = S_t C_t + D_h x_t")],
        NaiveEntry = "StateSpaceDuality.Forward(StateSpaceDualityInputs<double> p) (= Recurrent(p, null))",
        Naive = (_, x) => NamedTensors.Outputs(("y", Forward(Inputs(x)))),
        FastEntry = $"StateSpaceDuality.ForwardFast<T>(x, dt, a_log, b, c, d, dt_bias, chunk: {GoldenChunk}, maxThreads: 1) (float32, float64; the chunked algorithm)",
        Fast = (_, x, precision) => precision == Precision.Float32 ? FastOut<float>(x) : FastOut<double>(x),
        Forms =
        [
            new("step loop (decoding)", "StateSpaceDuality.Step(token, state) for t = 0..L-1 on one StateSpaceDualityState",
                (_, x) => NamedTensors.Outputs(("y", StepLoop(Inputs(x)))), "y"),
            new("recurrent in two pieces", "StateSpaceDuality.Recurrent(first half, state), then Recurrent(second half, state)",
                (_, x) => NamedTensors.Outputs(("y", RecurrentInPieces(Inputs(x)))), "y"),
            new($"chunked (Q = {GoldenChunk})", $"StateSpaceDuality.Chunked(p, chunk: {GoldenChunk})",
                (_, x) => NamedTensors.Outputs(("y", Chunked(Inputs(x), GoldenChunk))), "y"),
            new("materialized T x", "StateSpaceDuality.Materialize(p) [B, H, L, L], then y[:, h, :] = T[h] x[:, h, :] per column",
                (_, x) =>
                {
                    var p = Inputs(x);
                    return NamedTensors.Outputs(("y", ApplyPerHead(Materialize(p), p.X)));
                }, "y"),
            new("StepFast loop (float64)", "StateSpaceDuality.StepFast<double>(x_t, dt_t, a_log, b_t, c_t, state, d, dt_bias) for t = 0..L-1",
                (_, x) => NamedTensors.Outputs(("y", StepFastLoop(x))), "y"),
        ],
        MaterializeEntry = "StateSpaceDuality.Materialize(p) [B, H, L, L]",
        Materialize = (_, x) => OperatorMatrices.Rows(Materialize(Inputs(x))),
        RealizeEntry = "StateSpaceDuality.Realize(p, batch, head): a_t = exp(Delta_t A_h) on every lane, b_t = Delta_t B_t, c_t = C_t; " +
            "and the direct term D_h",
        Realize = (_, x) =>
        {
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
            var (aLog, d, dtBias) = (inputs.Double("a_log"), inputs.Optional<double>("d"), inputs.Optional<double>("dt_bias"));
            var state = new StateSpaceDualityState(b, p.Int("heads"), p.Int("head_dim"), p.Int("state_size"));
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
        ],
        DemoCase = "groups2_1x33x4_p3_n5",
        DrawInputs = (p, rng) =>
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

    /// <summary>The decoding path: <see cref="Step"/> token after token on one state, y [B, L, H, P].</summary>
    private static Tensor<double> StepLoop(StateSpaceDualityInputs<double> p)
    {
        p.Check();
        var state = new StateSpaceDualityState(p.Batch, p.Heads, p.HeadDim, p.State);
        var y = Tensor<double>.Zeros(p.X.ShapeArray);
        for (int t = 0; t < p.Length; t++)
        {
            var token = new StateSpaceDualityInputs<double>(p.X.Slice(1, t, 1), p.Dt.Slice(1, t, 1), p.ALog, p.B.Slice(1, t, 1), p.C.Slice(1, t, 1), p.D, p.DtBias);
            PlaceStep(y, t, Step(token, state).Data);
        }
        return y;
    }

    /// <summary><see cref="Recurrent"/> over the first half, then over the rest from the state it left.</summary>
    private static Tensor<double> RecurrentInPieces(StateSpaceDualityInputs<double> p)
    {
        p.Check();
        int l = p.Length, first = l / 2;
        if (first == 0) return Recurrent(p, null);
        var state = new StateSpaceDualityState(p.Batch, p.Heads, p.HeadDim, p.State);
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
    private static Tensor<double> StepFastLoop(NamedArrays named)
    {
        var p = Inputs(named);
        p.Check();
        int bs = p.Batch, hs = p.Heads, ps = p.HeadDim, gs = p.Groups, n = p.State;
        var state = Tensor<double>.Zeros(bs, hs, ps, n);
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

    private static NamedArrays FastOut<T>(NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> =>
        NamedTensors.Outputs(("y", ForwardFast(x.As<T>("x"), x.As<T>("dt"), x.As<T>("a_log"), x.As<T>("b"), x.As<T>("c"),
            x.Optional<T>("d"), x.Optional<T>("dt_bias"), GoldenChunk, maxThreads: 1)));

    private static ConformanceCase SsdCase(string id, ulong seed, int batch, int length, int heads, int headDim, int groups, int stateSize,
        bool skip, bool dtBias, params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("length", length), ("heads", heads), ("head_dim", headDim), ("groups", groups),
                ("state_size", stateSize), ("skip", skip), ("dt_bias", dtBias)),
            $"batch {batch}, L = {length}, H = {heads}, P = {headDim}, G = {groups}, N = {stateSize}; {(skip ? "skip d" : "no skip")}, " +
            (dtBias ? "dt_bias" : "no dt_bias"), tags);
}
