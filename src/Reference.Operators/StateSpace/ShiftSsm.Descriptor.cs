using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;
using Reference.Operators.Convolution;
using static Reference.Operators.StateSpace.LtiSsmDescriptors;

namespace Reference.Operators.StateSpace;

public static partial class ShiftSsm
{
    /// <summary>The registry entry of H3's shift SSM ("ssm.shift").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "ssm.shift",
        Version = 1,
        Title = "Shift SSM (H3)",
        Paper = "Fu, Dao et al., Hungry Hungry Hippos (arXiv:2212.14052), section 3.1 (A = shift matrix, k_shift[m] = C A^m B)",
        File = "src/Reference.Operators/StateSpace/ShiftSsm.cs",
        Summary = "shift SSM of H3: y[B x D x L] = k * u + d u per channel with taps k[D x N], k[c, m] = sum_{n = 0..N-1-m} b[c, n] c[c, n + m]; " +
            "u [B x D x L], b, c [D x N], d [D]; outputs y and taps",
        Parameters =
        [
            new("batch", "int", "-", "batch B"),
            new("channels", "int", "-", "channels D"),
            new("length", "int", "-", "length L"),
            new("state_size", "int", "-", "state size N (the shift register's length: N taps, lags 0..N-1)"),
        ],
        Inputs =
        [
            new("u", "[B, D, L]", "input sequence, channel-major"),
            new("b", "[D, N]", "B (H3 initializes e1: the register then holds the last N inputs)"),
            new("c", "[D, N]", "C"),
            new("d", "[D]", "skip D"),
        ],
        Outputs =
        [
            new("y", "[B, D, L]", "y = k * u + d u"),
            new("taps", "[D, N]", "k[c, m] = sum_n b[c, n] c[c, n + m]"),
        ],
        NaiveEntry = "ShiftSsm.Forward(p, u) (ShiftSsm.Taps, then CausalConvolution.Forward); ShiftSsm.Taps(p)",
        Naive = (p, x) =>
        {
            var s = From(p, x);
            return new NamedArrays
            {
                ["y"] = NpyArray.FromTensor(Forward(s, x.Double("u"))),
                ["taps"] = NpyArray.FromTensor(Taps(s)),
            };
        },
        FastEntry = "ShiftSsm.Taps(p), then CausalConvolution.ForwardFast<T>(u, taps, d) (float32, float64; as H3.ForwardFast does; FFT route from 64 taps)",
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastOut<float>(p, x) : FastOut<double>(p, x),
        Forms =
        [
            new("recurrent (shift register Step loop; taps = its impulse response)", "ShiftSsm.InitialState(p, rows), then ShiftSsm.Step(p, state, u_t) per token",
                (p, x) =>
                {
                    var s = From(p, x);
                    var u = x.Double("u");
                    var state = InitialState(s, u.Length / u.Dim(-1));
                    var impulse = InitialState(s, s.Channels);
                    return NamedTensors.Outputs(
                        ("y", StepLoop(u, ut => Step(s, state, ut))),
                        ("taps", ImpulseResponse(s.Channels, s.StateSize, s.Skip, ut => Step(s, impulse, ut))));
                }, "y", "taps"),
            new("taps + FFT convolution", "ShiftSsm.Taps(p), then FlashButterfly.Convolve(u, taps, d) (exact block FFT at every length)",
                (p, x) =>
                {
                    var s = From(p, x);
                    return NamedTensors.Outputs(("y", FlashButterfly.Convolve(x.Double("u"), Taps(s), s.SkipTensor())));
                }, "y"),
            new("materialized T u", "ShiftSsm.Materialize(p, length), then T[c] u[b, c] per row",
                (p, x) => NamedTensors.Outputs(("y", OperatorMatrices.Apply(Materialize(From(p, x), p.Int("length")), x.Double("u")))), "y"),
        ],
        MaterializeEntry = "ShiftSsm.Materialize(p, length) [D, L, L] (banded lower-triangular Toeplitz of the taps, D on the diagonal), repeated per batch row",
        Materialize = (p, x) => OperatorMatrices.RepeatForBatch(Materialize(From(p, x), p.Int("length")), p.Int("batch")),
        RealizeEntry = "ShiftSsm.Realize(p, channel, length): the ring-buffer realization (slot n captures u_t at t = n mod N: a_t[n] = 0, b_t[n] = 1, " +
            "else a_t[n] = 1, b_t[n] = 0; c_t[n] = taps[(t - n) mod N]), N real slots; the shift matrix itself is nilpotent, not diagonalizable",
        Realize = (p, x) =>
        {
            var s = From(p, x);
            int l = p.Int("length");
            var perChannel = Enumerable.Range(0, s.Channels).Select(c => Realize(s, c, l)).ToArray();
            return [.. Enumerable.Range(0, p.Int("batch") * s.Channels).Select(r => perChannel[r % s.Channels])];
        },
        StepEntry = "ShiftSsm.Step(p, state, u_t) (ShiftSsm.InitialState(p, rows))",
        State = "x [B D, N] (the shift register, ShiftSsmState)",
        TotalStateSizeFormula = "N per channel (the shift register; lag 0 acts within the step, so a split block has rank at most min(N - 1, s, L - s))",
        TotalStateSize = (p, _, _) => p.Int("state_size"),
        ParameterCount = p => (long)p.Int("channels") * (2L * p.Int("state_size") + 1),   // b, c [D, N] and the skip d [D]
        CacheSizeFormula = "D N (the shift register); constant in L",
        CacheSize = (p, _) => (long)p.Int("channels") * p.Int("state_size"),
        Decoder = (p, inputs, b) =>
        {
            var s = From(p, inputs);
            var state = InitialState(s, b * s.Channels);
            return new OperatorDecoder(b,
                x => new Tensor<double>(Step(s, state, OperatorDecoder.Squeeze(x, "u", 2).Data), b, s.Channels, 1),
                () => state.X.Length);
        },
        Sample = o =>
        {
            // No EssOperatorCatalog instance: this project's initialization of the shift SSM (b = e1, c ~ N(0, 1),
            // d ~ N(0, 1); with OfficialInit c ~ U(+-1/sqrt(N)) as the official H3 code), then u.
            var rng = new SplitMix64(o.Seed);
            var s = ShiftSsmParameters.Initialize(rng, o.Channels, o.State, o.OfficialInit ? ShiftSsmInit.KaimingUniform : ShiftSsmInit.Normal);
            var u = rng.NormalTensor<double>(0, 1, 1, o.Channels, o.Length);
            return new OperatorSample(
                Params.Of(("batch", 1), ("channels", o.Channels), ("length", o.Length), ("state_size", o.State)),
                new NamedArrays
                {
                    ["u"] = NpyArray.FromTensor(u),
                    ["b"] = Exact(s.B, s.Channels, s.StateSize), ["c"] = Exact(s.C, s.Channels, s.StateSize), ["d"] = Exact(s.Skip, s.Channels),
                });
        },
        AutodiffEntry = "SsmOps.ShiftSsm(u, ShiftSsmVariables) (VJP: ShiftSsm.Backward)",
        Differentiable = ["u", "b", "c", "d"],
        SsmDynamics = ["b"],   // safari's SSKernelShift registers B with the kernel lr; C is a plain parameter
        Autodiff = (_, _, v) => SsmOps.ShiftSsm(v[0], new ShiftSsmVariables(v[1], v[2], v[3])),
        AccumulationOrder = "taps[c, m]: float64 acc = 0; acc += b[c, n] * c[c, n + m] for n = 0..N-1-m in order; " +
            "y[b, c, t]: acc = 0; acc += taps[c, j] * u[b, c, t - j] for j = 0..min(t, N - 1) in order; y = acc + d[c] * u[b, c, t]",
        Distribution = CaseInputs.NormalF32 + " (u [B x D x L], then b, then c [D x N], then d [D])",
        Cases =
        [
            Case("single_tap_length_one", 801, 1, 1, 1, 1, "edge"),
            Case("n4_2x3x17", 802, 2, 3, 17, 4),
            Case("taps_longer_than_l_1x2x5_n8", 803, 1, 2, 5, 8, "edge"),
            Case("n64_fft_route_1x2x100", 804, 1, 2, 100, 64),
        ],
        DrawInputs = (p, rng) =>
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
        Tolerance = (_, output) => output == "taps"
            ? Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5, "sums of at most N products: float64 ~1e-16 relative; float32 ~1e-7, bounded by the conventions' 1e-5")
            : Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5,
                "a causal convolution with N taps: float64 reorderings (per-lag AXPYs, the FFT route from 64 taps) stay ~1e-14 relative; float32 ~1e-6"),
    };

    private static ShiftSsmParameters From(JsonObject p, NamedArrays x) =>
        new(p.Int("channels"), p.Int("state_size"), x.Get("b").ToDoubles(), x.Get("c").ToDoubles(), x.Get("d").ToDoubles());

    private static NamedArrays FastOut<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var taps = Taps(From(p, x)).Cast<T>();
        return new NamedArrays
        {
            ["y"] = NpyArray.FromTensor(CausalConvolution.ForwardFast(x.As<T>("u"), taps, x.As<T>("d"), maxThreads: 1)),
            ["taps"] = NpyArray.FromTensor(taps),
        };
    }

    private static ConformanceCase Case(string id, ulong seed, int batch, int channels, int length, int stateSize, params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("channels", channels), ("length", length), ("state_size", stateSize)),
            $"batch {batch}, D = {channels}, L = {length}, N = {stateSize} taps" +
            (Math.Min(stateSize, length) >= CausalConvolution.FftThreshold ? " (FFT route in the fast tier)" : ""), tags);
}
