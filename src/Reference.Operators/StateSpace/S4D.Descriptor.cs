using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;
using Reference.Operators.Convolution;
using static Reference.Operators.StateSpace.LtiSsmDescriptors;

namespace Reference.Operators.StateSpace;

public static partial class S4D
{
    /// <summary>The S4D layer's inputs after u: its parameters, in the order of <see cref="S4DVariables"/>.</summary>
    private static readonly string[] ParameterNames = ["log_neg_real_a", "imag_a", "b_re", "b_im", "c_re", "c_im", "log_delta", "d"];

    /// <summary>The registry entry of the S4D layer ("ssm.s4d").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "ssm.s4d",
        Version = 1,
        Title = "S4D diagonal state-space layer",
        Paper = "Gu, Gupta, Goel, Re, On the Parameterization and Initialization of Diagonal State Space Models (arXiv:2206.11893), " +
            "sections 3.1 (ZOH and bilinear), 3.2 / eq. (5) (Vandermonde kernel), 4 (S4D-Lin), 5 (parameterization)",
        File = "src/Reference.Operators/StateSpace/S4D.cs",
        Summary = "y[B x H x L] = K * u + d u with the S4D kernel K[H x L] = 2 Re sum_n C Bbar Abar^l (A = -exp(log_neg_real_a) + i imag_a, Delta = exp(log_delta))",
        Parameters =
        [
            new("batch", "int", "-", "batch B"),
            new("channels", "int", "-", "channels H (one SSM copy each)"),
            new("length", "int", "-", "length L (the kernel spans the whole sequence)"),
            new("state_size", "int", "-", "real state size N per channel, even (N/2 complex modes M)"),
            new("discretization", "string", "-", DiscretizationParameter),
        ],
        Inputs =
        [
            new("u", "[B, H, L]", "input sequence, channel-major"),
            new("log_neg_real_a", "[H, N/2]", "log(-Re A) per mode (Re A = -exp(.) < 0)"),
            new("imag_a", "[H, N/2]", "Im A per mode"),
            new("b_re", "[H, N/2]", "Re B"),
            new("b_im", "[H, N/2]", "Im B"),
            new("c_re", "[H, N/2]", "Re C"),
            new("c_im", "[H, N/2]", "Im C"),
            new("log_delta", "[H]", "log of the step size Delta"),
            new("d", "[H]", "skip D"),
        ],
        Outputs =
        [
            new("y", "[B, H, L]", "y = K * u + D u"),
            new("kernel", "[H, L]", "K[h, l] = 2 Re sum_n C_n Bbar_n Abar_n^l"),
        ],
        NaiveEntry = "S4D.Forward(p, u, method) (S4D.Kernel, then CausalConvolution.Forward); S4D.Kernel(p, length, method)",
        Naive = (p, x) =>
        {
            var s = From(p, x);
            var method = Method(p);
            return new NamedArrays
            {
                ["y"] = NpyArray.FromTensor(Forward(s, x.Double("u"), method)),
                ["kernel"] = NpyArray.FromTensor(Kernel(s, p.Int("length"), method)),
            };
        },
        FastEntry = "S4D.ForwardFast<T>(p, u, method), S4D.KernelFast<T>(p, length, method) (float32, float64; base-8 factored powers, FFT convolution from 64 taps)",
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastOut<float>(p, x) : FastOut<double>(p, x),
        Forms =
        [
            new("recurrent (Step loop; kernel = its impulse response)", "S4D.InitialState(p, rows), then S4D.Step(p, state, u_t, method) per token",
                (p, x) =>
                {
                    var s = From(p, x);
                    var method = Method(p);
                    var u = x.Double("u");
                    var state = InitialState(s, u.Length / u.Dim(-1));
                    var impulse = InitialState(s, s.Channels);
                    return NamedTensors.Outputs(
                        ("y", StepLoop(u, ut => Step(s, state, ut, method))),
                        ("kernel", ImpulseResponse(s.Channels, p.Int("length"), s.D, ut => Step(s, impulse, ut, method))));
                }, "y", "kernel"),
            new("chunked state passing (Lc = 8)", "S4D.ForwardChunk(p, state, u_chunk, method) over chunks of 8 steps (FlashConv, H3 section 4.2)",
                (p, x) =>
                {
                    var s = From(p, x);
                    var method = Method(p);
                    var u = x.Double("u");
                    var state = InitialState(s, u.Length / u.Dim(-1));
                    return NamedTensors.Outputs(("y", ChunkedOverLastAxis(u, 8, chunk => ForwardChunk(s, state, chunk, method))));
                }, "y"),
            new("kernel + FFT convolution", "S4D.Kernel(p, length, method), then FlashButterfly.Convolve(u, K, d) (exact block FFT at every length)",
                (p, x) =>
                {
                    var s = From(p, x);
                    return NamedTensors.Outputs(("y", FlashButterfly.Convolve(x.Double("u"), Kernel(s, p.Int("length"), Method(p)), s.SkipTensor())));
                }, "y"),
            new("materialized T u", "S4D.Materialize(p, length, method), then T[h] u[b, h] per row",
                (p, x) => NamedTensors.Outputs(("y", OperatorMatrices.Apply(Materialize(From(p, x), p.Int("length"), Method(p)), x.Double("u")))), "y"),
        ],
        MaterializeEntry = "S4D.Materialize(p, length, method) [H, L, L] (lower-triangular Toeplitz of K, D on the diagonal), repeated per batch row",
        Materialize = (p, x) => OperatorMatrices.RepeatForBatch(Materialize(From(p, x), p.Int("length"), Method(p)), p.Int("batch")),
        RealizeEntry = "S4D.Realize(p, channel, length, method): a_t = Abar, b_t = Bbar, c_t = 2 C (complex modes, time-invariant), skip D",
        Realize = (p, x) =>
        {
            var s = From(p, x);
            var method = Method(p);
            int l = p.Int("length");
            var perChannel = Enumerable.Range(0, s.Channels).Select(h => Realize(s, h, l, method)).ToArray();
            return [.. Enumerable.Range(0, p.Int("batch") * s.Channels).Select(r => perChannel[r % s.Channels])];
        },
        StepEntry = "S4D.Step(p, state, u_t, method) (S4D.InitialState(p, rows); S4D.Prefill for a prompt)",
        State = "x [B H, N/2] complex modes (S4DState)",
        Decoder = (p, inputs, b) =>
        {
            var s = From(p, inputs);
            var method = Method(p);
            var state = InitialState(s, b * s.Channels);
            return new OperatorDecoder(b,
                x => new Tensor<double>(Step(s, state, OperatorDecoder.Squeeze(x, "u", 2).Data, method), b, s.Channels, 1),
                () => 2L * state.X.Length);
        },
        TotalStateSizeFormula = "N per channel (N/2 complex modes = N reals)",
        TotalStateSize = (p, _, _) => p.Int("state_size"),
        ParameterCount = p => (long)p.Int("channels") * (6 * (p.Int("state_size") / 2) + 2),
        CacheSizeFormula = "H N (N/2 complex modes per channel); constant in L",
        CacheSize = (p, _) => (long)p.Int("channels") * p.Int("state_size"),
        Sample = o =>
        {
            // EssOperatorCatalog "s4d": S4D-Lin parameters from SplitMix64(seed) (the only draws); u after them.
            if (o.State < 2 || o.State % 2 != 0)
                throw new ArgumentOutOfRangeException(nameof(o), $"State = {o.State} must be even and >= 2 (N/2 complex modes).");
            var rng = new SplitMix64(o.Seed);
            var s = S4DParameters.Initialize(rng, o.Channels, o.State, S4DInit.Lin);
            var u = rng.NormalTensor<double>(0, 1, 1, o.Channels, o.Length);
            var inputs = ToArrays(s);
            inputs["u"] = NpyArray.FromTensor(u);
            return new OperatorSample(
                Params.Of(("batch", 1), ("channels", o.Channels), ("length", o.Length), ("state_size", o.State), ("discretization", o.Discretization)),
                inputs);
        },
        AutodiffEntry = "SsmOps.S4D(u, S4DVariables, method) (VJP: S4D.Backward)",
        Differentiable = ["u", .. ParameterNames],
        SsmDynamics = ["log_neg_real_a", "imag_a", "b_re", "b_im", "log_delta"],   // S4D's SSKernelDiag registers log_dt, B, A with the kernel lr
        Autodiff = (p, _, v) => SsmOps.S4D(v[0], new S4DVariables(v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]), Method(p)),
        AccumulationOrder = "K[h, l]: float64 acc = 0; acc += Re(C_n Bbar_n exp(l log Abar_n)) for n = 0..M-1 in order; K = 2 acc; then y as conv.causal with k = K",
        Distribution = "in order, each value rounded to float32 and stored as float64: u normal(0, 1) [B x H x L]; log_neg_real_a = log(0.5) + uniform[-0.5, 0.5) [H x M]; " +
            "imag_a = pi n + uniform[-0.5, 0.5) [H x M]; b_re, b_im, c_re, c_im normal(0, 1) [H x M] each; log_delta uniform[log 1e-3, log 1e-1) [H]; d normal(0, 1) [H] " +
            "(normal and uniform as in " + CaseInputs.NormalF32 + ")",
        Cases =
        [
            Case("zoh_1x2x16_n8", 521, 1, 2, 16, 8, "zoh"),
            Case("bilinear_1x2x16_n8", 522, 1, 2, 16, 8, "bilinear"),
            Case("zoh_2x3x33_n16", 523, 2, 3, 33, 16, "zoh"),
            Case("bilinear_1x4x100_n64", 524, 1, 4, 100, 64, "bilinear"),
            Case("zoh_length_one", 525, 1, 1, 1, 2, "zoh", "edge"),
        ],
        DemoCase = "bilinear_1x4x100_n64",
        DrawInputs = (p, rng) =>
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
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5,
            "a sum over M modes of complex exponentials then a conv of L terms: float64 factored exponentials and FFT reorderings stay ~1e-14 " +
            "relative at L <= 100; float32 ~1e-6"),
    };

    /// <summary>The S4D parameters of named arrays (H = params channels, M = state_size / 2).</summary>
    internal static S4DParameters From(JsonObject p, NamedArrays x) =>
        new(p.Int("channels"), p.Int("state_size") / 2,
            x.Get("log_neg_real_a").ToDoubles(), x.Get("imag_a").ToDoubles(), x.Get("b_re").ToDoubles(), x.Get("b_im").ToDoubles(),
            x.Get("c_re").ToDoubles(), x.Get("c_im").ToDoubles(), x.Get("log_delta").ToDoubles(), x.Get("d").ToDoubles());

    /// <summary>The parameters as named arrays ([H, M] modes, [H] channels), values exact.</summary>
    internal static NamedArrays ToArrays(S4DParameters s) => new()
    {
        ["log_neg_real_a"] = Exact(s.LogNegRealA, s.Channels, s.Modes), ["imag_a"] = Exact(s.ImagA, s.Channels, s.Modes),
        ["b_re"] = Exact(s.BRe, s.Channels, s.Modes), ["b_im"] = Exact(s.BIm, s.Channels, s.Modes),
        ["c_re"] = Exact(s.CRe, s.Channels, s.Modes), ["c_im"] = Exact(s.CIm, s.Channels, s.Modes),
        ["log_delta"] = Exact(s.LogDelta, s.Channels), ["d"] = Exact(s.D, s.Channels),
    };

    private static NamedArrays FastOut<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = From(p, x);
        var method = Method(p);
        return new NamedArrays
        {
            ["y"] = NpyArray.FromTensor(ForwardFast(s, x.As<T>("u"), method, maxThreads: 1)),
            ["kernel"] = NpyArray.FromTensor(KernelFast<T>(s, p.Int("length"), method, maxThreads: 1)),
        };
    }

    private static ConformanceCase Case(string id, ulong seed, int batch, int channels, int length, int stateSize, string discretization, params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("channels", channels), ("length", length), ("state_size", stateSize), ("discretization", discretization)),
            $"{discretization}: batch {batch}, H = {channels}, L = {length}, N = {stateSize} ({stateSize / 2} complex modes)", tags);
}
