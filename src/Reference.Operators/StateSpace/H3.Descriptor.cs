using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;
using static Reference.Operators.StateSpace.LtiSsmDescriptors;

namespace Reference.Operators.StateSpace;

public static partial class H3
{
    /// <summary>The H3 layer's inputs before u: its parameters, in the order of <see cref="H3Variables.All"/>.</summary>
    private static readonly string[] ParameterNames =
        ["wq", "bq", "wk", "bk", "wv", "bv", "shift_b", "shift_c", "shift_d", "log_neg_real_a", "imag_a", "b_re", "b_im", "c_re", "c_im", "log_delta", "d", "wo", "bo"];

    /// <summary>The registry entry of the H3 layer ("ssm.h3").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "ssm.h3",
        Version = 1,
        Title = "H3 layer (Hungry Hungry Hippos)",
        Paper = "Fu, Dao et al., Hungry Hungry Hippos (arXiv:2212.14052), section 3.2 and algorithm 1 (layer), section 3.3 (recurrent generation)",
        File = "src/Reference.Operators/StateSpace/H3.cs",
        Summary = "H3 layer on u [B x L x Dm]: q, k, v = u W^T + b; kbar = shift SSM(k) (taps from shift_b, shift_c, skip shift_d); " +
            "kv[d1, d2, h] = kbar[h hd + d1] v[h hd + d2]; ys = S4D(kv) over H = Dm/hd heads (as ssm.s4d, params.discretization, skip d); " +
            "o[h hd + d2] = sum_d1 q[h hd + d1] ys[d1, d2, h] (head-major); y = o wo^T + bo",
        Parameters =
        [
            new("batch", "int", "-", "batch B"),
            new("length", "int", "-", "length L"),
            new("width", "int", "-", "model width Dm (D)"),
            new("head_dim", "int", "-", "head dimension hd (divides Dm; H = Dm / hd heads)"),
            new("state_size", "int", "-", "state size N, even: the shift register's length and the S4D real state (N/2 complex modes)"),
            new("discretization", "string", "-", DiscretizationParameter),
        ],
        Inputs =
        [
            new("wq", "[D, D]", "query projection (out x in)"),
            new("bq", "[D]", "query bias"),
            new("wk", "[D, D]", "key projection"),
            new("bk", "[D]", "key bias"),
            new("wv", "[D, D]", "value projection"),
            new("bv", "[D]", "value bias"),
            new("shift_b", "[D, N]", "shift SSM B (ssm.shift's b)"),
            new("shift_c", "[D, N]", "shift SSM C"),
            new("shift_d", "[D]", "shift SSM skip"),
            new("log_neg_real_a", "[H, N/2]", "S4D log(-Re A) (ssm.s4d's)"),
            new("imag_a", "[H, N/2]", "S4D Im A"),
            new("b_re", "[H, N/2]", "S4D Re B"),
            new("b_im", "[H, N/2]", "S4D Im B"),
            new("c_re", "[H, N/2]", "S4D Re C"),
            new("c_im", "[H, N/2]", "S4D Im C"),
            new("log_delta", "[H]", "S4D log Delta"),
            new("d", "[H]", "S4D skip D"),
            new("wo", "[D, D]", "output projection"),
            new("bo", "[D]", "output bias"),
            new("u", "[B, L, D]", "layer input, token-major"),
        ],
        Outputs = [new("y", "[B, L, D]", "layer output")],
        NaiveEntry = "H3.Forward(p, u) (NaiveGemm projections, ShiftSsm.Forward, S4D.Forward)",
        Naive = (p, x) => new NamedArrays { ["y"] = NpyArray.FromTensor(Forward(From(p, x), x.Double("u"))) },
        FastEntry = "H3.ForwardFast<T>(H3.Prepare<T>(p), u) (float32, float64)",
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastOut<float>(p, x) : FastOut<double>(p, x),
        Forms =
        [
            new("recurrent (Step loop)", "H3.InitialState(p, B), then H3.Step(p, state, u_t) per token (shift register + diagonal state)",
                (p, x) =>
                {
                    var h3 = From(p, x);
                    var u = x.Double("u");
                    var state = InitialState(h3, u.Dim(0));
                    return NamedTensors.Outputs(("y", TokenLoop(u, ut => Step(h3, state, ut))));
                }, "y"),
            new("recurrent fast tier (StepFast<double>)", "H3.InitialFastState<double>(f, B), then H3.StepFast<double>(f, state, u_t, y_t) per token",
                (p, x) =>
                {
                    var f = Prepare<double>(From(p, x));
                    var u = x.Double("u");
                    var state = InitialFastState(f, u.Dim(0));
                    return NamedTensors.Outputs(("y", TokenLoop(u, ut =>
                    {
                        var yt = Tensor<double>.Zeros(ut.ShapeArray);
                        StepFast(f, state, ut.Data, yt.Data);
                        return yt;
                    })));
                }, "y"),
            new("chunked state passing (Lc = 8)", "H3.ForwardChunk(p, state, u_chunk) over chunks of 8 tokens (both SSMs carry their state)",
                (p, x) =>
                {
                    var h3 = From(p, x);
                    var u = x.Double("u");
                    var state = InitialState(h3, u.Dim(0));
                    return NamedTensors.Outputs(("y", TokenChunks(u, 8, chunk => ForwardChunk(h3, state, chunk))));
                }, "y"),
            new("materialized T v, then the output projection", "H3.Materialize(p, u[b]) per sequence, o[c] = T[c] v[c], y = o wo^T + bo",
                (p, x) => NamedTensors.Outputs(("y", ThroughMaterialized(From(p, x), x.Double("u")))), "y"),
        ],
        MaterializeEntry = "H3.Materialize(p, u[b]) [D, L, L] per sequence (v -> o before the output projection: gate(q, kbar) times T_ssm), stacked [B D, L, L]",
        Materialize = (p, x) => MaterializeBatch(From(p, x), x.Double("u")),
        RealizeEntry = "H3.Realize(p, intermediates, batch, channel): per d1 < hd a copy of the S4D modes with a_t = Abar, b_t = Bbar kbar_t[d1], " +
            "c_t = 2 C q_t[d1], skip_t = D sum_d1 q_t kbar_t (hd N/2 complex modes per channel)",
        Realize = (p, x) =>
        {
            var h3 = From(p, x);
            var inter = ForwardWithIntermediates(h3, x.Double("u"));
            int batch = x.Double("u").Dim(0);
            var result = new List<DiagonalRealization>(batch * h3.ModelWidth);
            for (int b = 0; b < batch; b++)
                for (int c = 0; c < h3.ModelWidth; c++) result.Add(Realize(h3, inter, b, c));
            return result;
        },
        StepEntry = "H3.Step(p, state, u_t) (H3.InitialState(p, B); H3.Prefill for a prompt; fast tier H3.StepFast<T>)",
        State = "shift register [B D, N] (ShiftSsmState) and diagonal state [B hd hd H, N/2] complex (S4DState), together H3State",
        Decoder = (p, inputs, b) =>
        {
            var h3 = From(p, inputs);
            var state = InitialState(h3, b);
            return new OperatorDecoder(b,
                x => OperatorDecoder.Unsqueeze(Step(h3, state, OperatorDecoder.Squeeze(x, "u", 1)), 1),
                () => state.Shift.X.Length + 2L * state.Ssm.X.Length);
        },
        TotalStateSizeFormula = "hd N per channel (the diagonal SSM's real state N for each d1 of the head; N for head_dim 1, the ESS instance); " +
            "the shift register feeds kbar, an input of the gate, so it is not counted",
        TotalStateSize = (p, _, _) => p.Int("head_dim") * p.Int("state_size"),
        ParameterCount = p =>
        {
            long d = p.Int("width"), n = p.Int("state_size"), h = d / p.Int("head_dim");
            return 4 * (d * d + d) + 2 * d * n + d + h * (6 * (n / 2) + 2);   // q, k, v, o; shift B, C, skip; S4D A (2), B (2), C (2) per mode, Delta, D
        },
        CacheSizeFormula = "D N (the shift register) + hd D N (hd hd H N/2 complex diagonal modes); constant in L",
        CacheSize = (p, _) => (long)p.Int("width") * p.Int("state_size") * (1 + p.Int("head_dim")),
        Sample = o =>
        {
            // EssOperatorCatalog "h3": H3Parameters.Initialize(SplitMix64(seed), C, hd 1, N, S4D-Lin, discretization), then u ~ N(0, 1) [L, C] from the same generator.
            // OfficialInit: the shift SSM's C as the official H3 code draws it (ShiftSsmInit.KaimingUniform); the draws after it then differ too.
            var method = o.Discretization switch
            {
                "zoh" => Discretization.Zoh,
                "bilinear" => Discretization.Bilinear,
                _ => throw new ArgumentOutOfRangeException(nameof(o), $"discretization '{o.Discretization}' must be zoh or bilinear."),
            };
            if (o.State < 2 || o.State % 2 != 0)
                throw new ArgumentOutOfRangeException(nameof(o), $"State = {o.State} must be even and >= 2 (N/2 complex modes).");
            var rng = new SplitMix64(o.Seed);
            var h3 = H3Parameters.Initialize(rng, o.Channels, headDim: 1, stateSize: o.State, method: method,
                shiftInit: o.OfficialInit ? ShiftSsmInit.KaimingUniform : ShiftSsmInit.Normal);
            var u = rng.NormalTensor<double>(0, 1, o.Length, o.Channels);
            var inputs = ToArrays(h3, Exact);
            inputs["u"] = NpyArray.FromTensor(u.Reshape(1, o.Length, o.Channels));
            return new OperatorSample(
                Params.Of(("batch", 1), ("length", o.Length), ("width", o.Channels), ("head_dim", 1), ("state_size", o.State),
                    ("discretization", o.Discretization)),
                inputs);
        },
        AutodiffEntry = "SsmOps.H3(u, H3Variables) (VJP: H3.Backward)",
        Differentiable = ["u", .. ParameterNames],
        // The official H3 layer (safari h3.py) passes the kernel lr to both SSKernels: the diagonal SSM's log_dt,
        // B, inv_A_real and A_imag and the shift SSM's B are registered with it; C and the skips are not.
        SsmDynamics = ["shift_b", "log_neg_real_a", "imag_a", "b_re", "b_im", "log_delta"],
        LinearInputs = [("wq", "bq"), ("wk", "bk"), ("wv", "bv"), ("wo", "bo")],
        Autodiff = (p, _, v) => SsmOps.H3(v[0], new H3Variables(p.Int("width"), p.Int("head_dim"), p.Int("state_size"), Method(p),
            v[1], v[2], v[3], v[4], v[5], v[6],
            new ShiftSsmVariables(v[7], v[8], v[9]),
            new S4DVariables(v[10], v[11], v[12], v[13], v[14], v[15], v[16], v[17]),
            v[18], v[19])),
        AccumulationOrder = "projections: acc = 0; acc += x[i] * w[j, i] for i ascending, then + b[j]; shift SSM as ssm.shift; kernel as ssm.s4d " +
            "(modes ascending) and its convolution as conv.causal (lags ascending, skip last); gate sum over d1 ascending; output projection as the others",
        Distribution = "parameters by H3Parameters.Initialize(SplitMix64(seed), Dm, hd, N, S4D-Lin, discretization): in order wq, bq, wk, bk, wv, bv " +
            "uniform(-1/sqrt(Dm), 1/sqrt(Dm)); shift: b = e1, c normal(0, 1) [Dm x N], shift_d normal(0, 1) [Dm]; S4D over H heads " +
            "(S4DParameters.Initialize: per head, modes ascending: c_re, c_im normal(0, 1)/sqrt(2), then log_delta uniform[log 1e-3, log 1e-1), then d " +
            "normal(0, 1); log_neg_real_a = log 0.5, imag_a = pi n, b = 1); wo, bo uniform(-1/sqrt(Dm), 1/sqrt(Dm)); every value rounded to float32; " +
            "then u " + CaseInputs.NormalF32,
        Cases =
        [
            Case("length_one_1x1x2_n2", 811, 1, 1, 2, 1, 2, "bilinear", "edge"),
            Case("hd1_1x17x2_n4", 812, 1, 17, 2, 1, 4, "bilinear"),
            Case("hd2_2x9x4_n8", 813, 2, 9, 4, 2, 8, "bilinear"),
            Case("hd4_one_head_1x16x4_n4", 814, 1, 16, 4, 4, 4, "bilinear"),
            Case("zoh_hd2_1x33x6_n8", 815, 1, 33, 6, 2, 8, "zoh"),
            Case("n64_fft_route_1x100x2", 816, 1, 100, 2, 1, 64, "bilinear"),
        ],
        DrawInputs = (p, rng) =>
        {
            var x = ToArrays(H3Parameters.Initialize(rng, p.Int("width"), p.Int("head_dim"), p.Int("state_size"), S4DInit.Lin, Method(p)), CaseInputs.RoundedF32);
            x["u"] = CaseInputs.Normal(rng, p.Int("batch"), p.Int("length"), p.Int("width"));
            return x;
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5,
            "three projections, two causal convolutions of up to L terms and a gate: float64 reorderings (FFT routes, factored kernel " +
            "exponentials, packed GEMM) stay ~1e-14 relative at L <= 100; float32 ~1e-6"),
    };

    private static H3Parameters From(JsonObject p, NamedArrays x)
    {
        int dm = p.Int("width"), hd = p.Int("head_dim"), n = p.Int("state_size");
        double[] A(string name) => x.Get(name).ToDoubles();
        var shift = new ShiftSsmParameters(dm, n, A("shift_b"), A("shift_c"), A("shift_d"));
        var ssm = new S4DParameters(dm / hd, n / 2, A("log_neg_real_a"), A("imag_a"), A("b_re"), A("b_im"), A("c_re"), A("c_im"), A("log_delta"), A("d"));
        return new H3Parameters(dm, hd, n, A("wq"), A("bq"), A("wk"), A("bk"), A("wv"), A("bv"), shift, ssm, A("wo"), A("bo"), Method(p));
    }

    /// <summary>The parameters as named arrays in <see cref="ParameterNames"/> order, each stored by <paramref name="store"/>.</summary>
    private static NamedArrays ToArrays(H3Parameters h3, Func<double[], int[], NpyArray> store)
    {
        int dm = h3.ModelWidth, n = h3.StateSize, heads = h3.Heads, m = n / 2;
        var s = h3.Ssm;
        double[][] arrays =
            [h3.Wq, h3.Bq, h3.Wk, h3.Bk, h3.Wv, h3.Bv, h3.Shift.B, h3.Shift.C, h3.Shift.Skip,
             s.LogNegRealA, s.ImagA, s.BRe, s.BIm, s.CRe, s.CIm, s.LogDelta, s.D, h3.Wo, h3.Bo];
        int[][] shapes =
            [[dm, dm], [dm], [dm, dm], [dm], [dm, dm], [dm], [dm, n], [dm, n], [dm],
             [heads, m], [heads, m], [heads, m], [heads, m], [heads, m], [heads, m], [heads], [heads], [dm, dm], [dm]];
        var x = new NamedArrays();
        for (int i = 0; i < ParameterNames.Length; i++) x[ParameterNames[i]] = store(arrays[i], shapes[i]);
        return x;
    }

    /// <summary>u [B, L, D] one token at a time: step(u_t [B, D]) -> y_t [B, D].</summary>
    private static Tensor<double> TokenLoop(Tensor<double> u, Func<Tensor<double>, Tensor<double>> step)
    {
        int batch = u.Dim(0), length = u.Dim(1), dm = u.Dim(2);
        var y = Tensor<double>.Zeros(u.ShapeArray);
        for (int t = 0; t < length; t++)
        {
            var ut = Tensor<double>.Zeros(batch, dm);
            for (int b = 0; b < batch; b++) u.Data.AsSpan((b * length + t) * dm, dm).CopyTo(ut.Data.AsSpan(b * dm, dm));
            var yt = step(ut);
            for (int b = 0; b < batch; b++) yt.Data.AsSpan(b * dm, dm).CopyTo(y.Data.AsSpan((b * length + t) * dm, dm));
        }
        return y;
    }

    /// <summary>u [B, L, D] in chunks of <paramref name="chunk"/> tokens (the last one shorter), each through <paramref name="run"/>.</summary>
    private static Tensor<double> TokenChunks(Tensor<double> u, int chunk, Func<Tensor<double>, Tensor<double>> run)
    {
        int batch = u.Dim(0), length = u.Dim(1), dm = u.Dim(2);
        var y = Tensor<double>.Zeros(u.ShapeArray);
        for (int t0 = 0; t0 < length; t0 += chunk)
        {
            int lc = Math.Min(chunk, length - t0);
            var piece = Tensor<double>.Zeros(batch, lc, dm);
            for (int b = 0; b < batch; b++) u.Data.AsSpan((b * length + t0) * dm, lc * dm).CopyTo(piece.Data.AsSpan(b * lc * dm, lc * dm));
            var yc = run(piece);
            for (int b = 0; b < batch; b++) yc.Data.AsSpan(b * lc * dm, lc * dm).CopyTo(y.Data.AsSpan((b * length + t0) * dm, lc * dm));
        }
        return y;
    }

    /// <summary>One sequence of u [B, L, D] as [L, D].</summary>
    private static Tensor<double> Sequence(Tensor<double> u, int b)
    {
        int length = u.Dim(1), dm = u.Dim(2);
        return new Tensor<double>(u.Data.AsSpan(b * length * dm, length * dm).ToArray(), length, dm);
    }

    /// <summary>[B D, L, L]: <see cref="Materialize"/> of every sequence, batch-major.</summary>
    private static Tensor<double> MaterializeBatch(H3Parameters p, Tensor<double> u)
    {
        int batch = u.Dim(0), length = u.Dim(1), dm = u.Dim(2);
        var t = Tensor<double>.Zeros(batch * dm, length, length);
        for (int b = 0; b < batch; b++) Materialize(p, Sequence(u, b)).Data.CopyTo(t.Data, b * dm * length * length);
        return t;
    }

    /// <summary>y = (T v) wo^T + bo with T from <see cref="Materialize"/> and v [B, D, L] from the forward pass's intermediates.</summary>
    private static Tensor<double> ThroughMaterialized(H3Parameters p, Tensor<double> u)
    {
        int batch = u.Dim(0), length = u.Dim(1), dm = u.Dim(2);
        var v = ForwardWithIntermediates(p, u).V;
        var o = OperatorMatrices.Apply(MaterializeBatch(p, u), v);   // [B, D, L]
        var y = Tensor<double>.Zeros(batch, length, dm);
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < length; t++)
                for (int j = 0; j < dm; j++)
                {
                    double acc = 0.0;
                    for (int i = 0; i < dm; i++) acc += o.Data[(b * dm + i) * length + t] * p.Wo[j * dm + i];
                    y.Data[(b * length + t) * dm + j] = acc + p.Bo[j];
                }
        return y;
    }

    private static NamedArrays FastOut<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> =>
        NamedTensors.Outputs(("y", ForwardFast(Prepare<T>(From(p, x)), x.As<T>("u"), maxThreads: 1)));

    private static ConformanceCase Case(string id, ulong seed, int batch, int length, int width, int headDim, int stateSize, string discretization,
        params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("length", length), ("width", width), ("head_dim", headDim), ("state_size", stateSize),
                ("discretization", discretization)),
            $"{discretization}: batch {batch}, L = {length}, Dm = {width}, head_dim {headDim} ({width / headDim} head(s)), N = {stateSize}", tags);
}
