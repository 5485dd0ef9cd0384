using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;
using static Reference.Operators.StateSpace.LtiSsmDescriptors;

namespace Reference.Operators.StateSpace;

public static partial class S4D
{
    /// <summary>The S4D layer with an initial state and its final state as a registered operator ("ssm.s4d_state").</summary>
    public static class WithState
    {
        /// <summary>The registry entry: ssm.s4d's inputs plus the optional initial state, its output y plus the final state.</summary>
        public static OperatorDescriptor Descriptor { get; } = new()
        {
            Name = "ssm.s4d_state",
            Version = 1,
            Title = "S4D layer with initial and final state",
            Paper = "Gu, Gupta, Goel, Re (arXiv:2206.11893), sections 3.1-3.2 (the diagonal recurrence x_t = Abar x_{t-1} + Bbar u_t, " +
                "y_t = 2 Re(C x_t) + D u_t); state passing between chunks as in H3's FlashConv (arXiv:2212.14052, Sec. 4.2)",
            File = "src/Reference.Operators/StateSpace/S4D.cs",
            Summary = "y[B x H x L], final state x_L [B x H x N/2] (re, im) of the S4D recurrence started from x_0 = state (absent: 0): " +
                "y = K * u + D u + 2 Re sum_n C_n Abar_n^(l+1) x_0",
            Parameters = Descriptor_Parameters,
            Inputs =
            [
                .. S4D.Descriptor.Inputs,
                new("state_re", "[B, H, N/2]", "Re of the initial complex modes x_0 (absent: 0)", Optional: true),
                new("state_im", "[B, H, N/2]", "Im of the initial complex modes x_0 (absent: 0)", Optional: true),
            ],
            Outputs =
            [
                new("y", "[B, H, L]", "the layer's output from the initial state"),
                new("final_state_re", "[B, H, N/2]", "Re x_L"),
                new("final_state_im", "[B, H, N/2]", "Im x_L"),
            ],
            NaiveEntry = "S4D.ForwardChunk(p, state, u, method) (state = the initial modes on entry, the final ones on return)",
            Naive = (p, x) => Run(p, x, (s, state, u, method) => ForwardChunk(s, state, u, method)),
            FastEntry = "S4D.ForwardChunkFast<T>(p, state, u, method) (float32, float64; the zero-state part by ForwardFast, the state terms in float64)",
            Fast = (p, x, precision) => precision == Precision.Float32 ? FastOut<float>(p, x) : FastOut<double>(p, x),
            Forms =
            [
                new("recurrent", "S4D.Step(p, state, u_t, method) per token from the initial state",
                    (p, x) => Run(p, x, (s, state, u, method) =>
                    {
                        int l = u.Dim(-1), rows = u.Length / l;
                        var y = Tensor<double>.Zeros(u.ShapeArray);
                        var ut = new double[rows];
                        for (int t = 0; t < l; t++)
                        {
                            for (int r = 0; r < rows; r++) ut[r] = u.Data[r * l + t];
                            var yt = Step(s, state, ut, method);
                            for (int r = 0; r < rows; r++) y.Data[r * l + t] = yt[r];
                        }
                        return y;
                    }), "y", "final_state_re", "final_state_im"),
                new("two chunks", "S4D.ForwardChunk over u[.., :L/2] then u[.., L/2:] through one state",
                    (p, x) => Run(p, x, (s, state, u, method) =>
                        ChunkedOverLastAxis(u, Math.Max(1, (u.Dim(-1) + 1) / 2), chunk => ForwardChunk(s, state, chunk, method))),
                    "y", "final_state_re", "final_state_im"),
            ],
            StepEntry = "S4D.Step(p, state, u_t, method)",
            State = "x [B H, N/2] complex modes (S4DState), given as state_re, state_im and returned as final_state_re, final_state_im",
            AccumulationOrder = "as ssm.s4d for K * u + D u; then per row and mode (ascending) the state response 2 Re(C_n s_n exp((l + 1) log Abar_n)) " +
                "added to y[l]; the final state exp(L log Abar) s + sum_j exp((L - 1 - j) log Abar) Bbar u_j (j ascending)",
            Distribution = "as ssm.s4d (u, then the parameters), then when params.initial_state state_re, state_im normal(0, 1) [B x H x N/2] " +
                "(" + CaseInputs.NormalF32 + ")",
            Cases =
            [
                Case("zoh_from_zero_1x2x16_n8", 531, 1, 2, 16, 8, "zoh", false),
                Case("zoh_from_state_2x3x33_n16", 532, 2, 3, 33, 16, "zoh", true),
                Case("bilinear_from_state_1x2x70_n8", 533, 1, 2, 70, 8, "bilinear", true),
                Case("zoh_from_state_length_one", 534, 1, 1, 1, 2, "zoh", true, "edge"),
            ],
            DrawInputs = (p, rng) =>
            {
                var x = S4D.Descriptor.DrawInputs(p, rng);
                if (p.ContainsKey("initial_state") && p.Bool("initial_state"))
                {
                    int b = p.Int("batch"), h = p.Int("channels"), m = p.Int("state_size") / 2;
                    x["state_re"] = CaseInputs.Normal(rng, b, h, m);
                    x["state_im"] = CaseInputs.Normal(rng, b, h, m);
                }
                return x;
            },
            Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5,
                "ssm.s4d's bound (complex exponentials summed over M modes, a convolution of L terms) for y and a recurrence of L steps for the " +
                "final state: float64 ~1e-14 relative at L <= 70; float32 ~1e-6"),
            Without = new Dictionary<string, string>
            {
                ["materialize"] = "affine in u once x_0 != 0; its linear part is ssm.s4d's T (S4D.Materialize)",
                ["realize"] = "ssm.s4d's realization (S4D.Realize) is the same recurrence; this op adds only the boundary states",
                ["autodiff"] = "the layer's VJP is ssm.s4d's (SsmOps.S4D); the state boundary is not on the tape",
                ["ess"] = "ssm.s4d's ESS instance covers the operator (the state only shifts the output)",
            },
        };

        private static IReadOnlyList<OperatorParameter> Descriptor_Parameters =>
        [
            .. S4D.Descriptor.Parameters,
            new("initial_state", "bool", "false", "whether the case draws an initial state (false: x_0 = 0, the inputs absent)"),
        ];

        private static S4DState InitialFrom(S4DParameters s, JsonObject p, NamedArrays x)
        {
            int rows = p.Int("batch") * s.Channels;
            var state = InitialState(s, rows);
            if (x.ContainsKey("state_re") || x.ContainsKey("state_im"))
            {
                var re = x.TryGetValue("state_re", out var a) ? a.ToDoubles() : new double[rows * s.Modes];
                var im = x.TryGetValue("state_im", out var b) ? b.ToDoubles() : new double[rows * s.Modes];
                if (re.Length != rows * s.Modes || im.Length != rows * s.Modes)
                    throw new ArgumentException($"state_re and state_im must hold [B, H, N/2] = {rows * s.Modes} values.", nameof(x));
                for (int i = 0; i < rows * s.Modes; i++) state.X[i] = new Complex(re[i], im[i]);
            }
            return state;
        }

        private static NamedArrays Run(JsonObject p, NamedArrays x, Func<S4DParameters, S4DState, Tensor<double>, Discretization, Tensor<double>> body)
        {
            var s = From(p, x);
            var state = InitialFrom(s, p, x);
            var y = body(s, state, x.Double("u"), Method(p));
            var (re, im) = Split<double>(state, p);
            return NamedTensors.Outputs(("y", y), ("final_state_re", re), ("final_state_im", im));
        }

        private static (Tensor<T> Re, Tensor<T> Im) Split<T>(S4DState state, JsonObject p) where T : unmanaged, IFloatingPointIeee754<T>
        {
            int b = p.Int("batch"), h = p.Int("channels"), m = state.Modes;
            var re = Tensor<T>.Zeros(b, h, m);
            var im = Tensor<T>.Zeros(b, h, m);
            for (int i = 0; i < state.X.Length; i++)
            {
                re.Data[i] = T.CreateTruncating(state.X[i].Real);
                im.Data[i] = T.CreateTruncating(state.X[i].Imaginary);
            }
            return (re, im);
        }

        private static NamedArrays FastOut<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var s = From(p, x);
            var state = InitialFrom(s, p, x);
            var y = ForwardChunkFast(s, state, x.As<T>("u"), Method(p), maxThreads: 1);
            var (re, im) = Split<T>(state, p);
            return NamedTensors.Outputs(("y", y), ("final_state_re", re), ("final_state_im", im));
        }

        private static ConformanceCase Case(string id, ulong seed, int batch, int channels, int length, int stateSize, string discretization,
            bool initial, params string[] tags) =>
            new(id, seed, Params.Of(("batch", batch), ("channels", channels), ("length", length), ("state_size", stateSize),
                    ("discretization", discretization), ("initial_state", initial)),
                $"{discretization}: batch {batch}, H = {channels}, L = {length}, N = {stateSize}, " + (initial ? "from a drawn state" : "from x_0 = 0"), tags);
    }
}
