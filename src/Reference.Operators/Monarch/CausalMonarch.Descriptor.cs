using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;

namespace Reference.Operators.Monarch;

public static partial class CausalMonarch
{
    /// <summary>The registry entry of the causal Monarch convolution ("monarch.causal_conv").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "monarch.causal_conv",
        Version = 1,
        Title = "Causal Monarch convolution (causal M2, the project's reference definition)",
        Paper = "Fu, Arora et al., Monarch Mixer (arXiv:2310.12109), Sec. 5 (causal M2 via multivariate polynomial evaluation and " +
            "interpolation); derived from the paper's text, no public code (shared/spec/operators.md, \"Monarch matrices and M2\")",
        File = "src/Reference.Operators/Monarch/CausalMonarch.cs",
        Summary = "y[B x C x L] = R M'^-1 ((M' E k) * (M' E u)) + d u per channel, N = b^p >= L: per-digit padding E onto the (2b)^p grid, " +
            "M' = F_{p-1} (x) ... (x) F_0 with F_a = Vandermonde(2b roots of unity) times the monomial basis (the 2b-point DFT), read back " +
            "at the embedded positions; equal to the digit-wise causal convolution y[i] = sum_{j <= i digit-wise} k[i (-) j] u[j]",
        Parameters =
        [
            new("batch", "int", "-", "batch B"),
            new("channels", "int", "-", "channels C (one kernel each)"),
            new("length", "int", "-", "length L (<= b^p; zero padded at the end)"),
            new("kernel_length", "int", "-", "kernel length Lk (<= b^p)"),
            new("block", "int", "-", "block b (the base of the digits; 2b nodes per digit)"),
            new("digits", "int", "-", "digits p (factors of M'; N = b^p)"),
        ],
        Inputs =
        [
            new("u", "[B, C, L]", "input sequence, channel-major"),
            new("k", "[C, Lk]", "kernel, indexed like the sequence (k[c, j] pairs with digit-wise lag j)"),
            new("d", "[C]", "skip D (absent: D = 0)", Optional: true),
        ],
        Outputs = [new("y", "[B, C, L]", "y[i] = sum over j <= i digit-wise of k[i (-) j] u[j] + D u[i]")],
        NaiveEntry = "CausalMonarch.Forward(CausalMonarchPlan.Create(b, p), u, k, d) (Complex loops through M' and M'^-1)",
        Naive = (p, x) => NamedTensors.Outputs(("y", Forward(PlanOf(p), x.Double("u"), x.Double("k"), Skip(x)))),
        FastEntry = "CausalMonarch.ForwardFast<T>(CausalMonarch.Prepare<T>(plan), u, k, d) (float32, float64; per-digit GEMMs of FastGemm)",
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastOut<float>(p, x) : FastOut<double>(p, x),
        Forms =
        [
            new("digit-wise closed form", "CausalMonarch.DigitwiseConvolution(b, p, k, u) per row, plus d u",
                (p, x) => NamedTensors.Outputs(("y", ClosedForm(p, x))), "y"),
            new("coefficient domain (no nodes)", "CausalMonarch.MaterializeCoefficients(plan, k, L) per channel (+ d), then T u",
                (p, x) => NamedTensors.Outputs(("y", OperatorMatrices.Apply(CoefficientRows(p, x), x.Double("u")))), "y"),
            new("materialized T u (definition on unit vectors)", "CausalMonarch.Materialize(plan, k[c], L, d[c]) per channel, then T u per row",
                (p, x) => NamedTensors.Outputs(("y", OperatorMatrices.Apply(ProbedRows(p, x), x.Double("u")))), "y"),
            new("materialized T u (closed form)", "CausalMonarch.Materialize(plan, k, d, L) [C, L, L] (the digit-wise closed form), then T u per row",
                (p, x) => NamedTensors.Outputs(("y", OperatorMatrices.Apply(MaterializeRows(p, x), x.Double("u")))), "y"),
            new("recurrent (input history)", "CausalMonarch.InitialState(plan, B C, k, d), then CausalMonarch.Step(state, u_t) per token",
                (p, x) => NamedTensors.Outputs(("y", Recurrent(p, x))), "y"),
        ],
        MaterializeEntry = "CausalMonarch.Materialize(plan, k, d, L) [C, L, L] (the digit-wise closed form of the default monomial plan: exact zeros " +
            "outside the digit-wise order; the forms hold it and the definition on unit vectors to the naive output), repeated over the batch",
        Materialize = MaterializeRows,
        StepEntry = "CausalMonarch.Step(state, u_t) (CausalMonarch.InitialState(plan, rows, k, d))",
        State = "CausalMonarchState: History [B C, N] (every input so far: the last position N - 1 dominates every index digit-wise, so no past " +
            "input can be dropped before the block ends) and Position",
        TotalStateSizeFormula = "s at split s (the input history the decoding form carries; the measured ESS reaches min(s, L - s), docs/monarch.md)",
        TotalStateSize = (_, s, _) => s,
        ParameterCount = p => (long)p.Int("channels") * p.Int("kernel_length"),
        CacheSizeFormula = "C L (the input history); grows with L like Hyena's",
        CacheSize = (p, l) => (long)p.Int("channels") * l,
        Decoder = (p, inputs, b) =>
        {
            // u_t [B, C, 1] is the B C rows of one position, in the row order Step takes.
            var k = inputs.Double("k");
            int rows = b * k.Dim(0);
            var state = InitialState(PlanOf(p), rows, k, Skip(inputs));
            return new OperatorDecoder(b, x => new Tensor<double>(Step(state, x["u"].Data), x["u"].ShapeArray), () => (long)rows * state.Position);
        },
        Sample = o =>
        {
            // p = 2, b = ceil(sqrt(L)); kernel k[c, j] ~ N(0, 1) exp(-3 j / L) (a decaying long kernel, as implicit filters are), no skip; u ~ N(0, 1).
            int b = CausalMonarchPlan.BlockFor(o.Length, 2);
            var rng = new SplitMix64(o.Seed);
            var k = rng.NormalTensor<double>(0, 1, o.Channels, o.Length);
            for (int c = 0; c < o.Channels; c++)
                for (int j = 0; j < o.Length; j++) k.Data[c * o.Length + j] *= Math.Exp(-3.0 * j / o.Length);
            var u = rng.NormalTensor<double>(0, 1, 1, o.Channels, o.Length);
            return new OperatorSample(
                Params.Of(("batch", 1), ("channels", o.Channels), ("length", o.Length), ("kernel_length", o.Length), ("block", b), ("digits", 2)),
                new NamedArrays { ["u"] = NpyArray.FromTensor(u), ["k"] = NpyArray.FromTensor(k) });
        },
        AutodiffEntry = "MonarchOps.CausalConvolution(plan, u, k, d) (VJP: CausalMonarch.Backward)",
        Differentiable = ["u", "k", "d"],
        Autodiff = (p, _, v) => MonarchOps.CausalConvolution(PlanOf(p), v[0], v[1], v.Length > 2 ? v[2] : null),
        AccumulationOrder = "per row: M' E u by digits a = 0..p-1, each fiber sum over the basis index ascending (complex128 acc = 0); the product " +
            "with M' E k; M'^-1 by digits a = 0..p-1 likewise; y = real part at the embedded positions + d[c] * u",
        Distribution = CaseInputs.NormalF32 + " (u, then k, then d)",
        Cases =
        [
            Case("hand_b2_p2_1x1x4", 1421, 1, 1, 4, 4, 2, 2, "edge"),
            Case("b3_p2_2x2x9", 1422, 2, 2, 9, 9, 3, 2),
            Case("b2_p3_1x2x8", 1423, 1, 2, 8, 8, 2, 3),
            Case("b4_p2_padded_1x3x13_k11", 1424, 1, 3, 13, 11, 4, 2),
            Case("b5_p1_fft_conv_1x2x5", 1425, 1, 2, 5, 5, 5, 1),
            Case("b8_p2_1x2x64", 1426, 1, 2, 64, 64, 8, 2),
        ],
        DrawInputs = (p, rng) => new NamedArrays
        {
            ["u"] = CaseInputs.Normal(rng, p.Int("batch"), p.Int("channels"), p.Int("length")),
            ["k"] = CaseInputs.Normal(rng, p.Int("channels"), p.Int("kernel_length")),
            ["d"] = CaseInputs.Normal(rng, p.Int("channels")),
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5,
            "2p passes of 2b-point transforms (the DFT: unitary up to 1/(2b)) and one product: float64 reorderings stay ~1e-15 relative; " +
            "the closed form and the coefficient domain reach the same values to ~1e-15; float32 ~1e-7"),
        Without = new Dictionary<string, string>
        {
            ["realize"] = "no diagonal realization: T is not a sum of decaying exponentials in t - s (it is not even Toeplitz: T[i, j] depends " +
                "on the digits of i and j), and decoding carries the input history (CausalMonarchState)",
        },
    };

    private static readonly Dictionary<(int B, int P), CausalMonarchPlan> Plans = [];

    /// <summary>The default plan of the case's block and digits (cached: plans are immutable).</summary>
    internal static CausalMonarchPlan PlanOf(int b, int p)
    {
        lock (Plans)
        {
            if (!Plans.TryGetValue((b, p), out var plan)) Plans[(b, p)] = plan = CausalMonarchPlan.Create(b, p);
            return plan;
        }
    }

    private static CausalMonarchPlan PlanOf(JsonObject p) => PlanOf(p.Int("block"), p.Int("digits"));

    private static Tensor<double>? Skip(NamedArrays x) => x.TryGetValue("d", out var d) ? d.ToTensorDouble() : null;

    private static Tensor<double> MaterializeRows(JsonObject p, NamedArrays x) =>
        OperatorMatrices.PerRow(Materialize(PlanOf(p), x.Double("k"), Skip(x), p.Int("length")), p.Int("batch") * p.Int("channels"));

    private static Tensor<double> ProbedRows(JsonObject p, NamedArrays x)
    {
        var plan = PlanOf(p);
        var k = x.Double("k");
        var d = Skip(x);
        int channels = k.Dim(0), lk = k.Dim(1), l = p.Int("length");
        var t = Tensor<double>.Zeros(channels, l, l);
        for (int c = 0; c < channels; c++)
            Materialize(plan, k.Data.AsSpan(c * lk, lk), l, d is null ? 0.0 : d.Data[c]).Data.CopyTo(t.Data, c * l * l);
        return OperatorMatrices.PerRow(t, p.Int("batch") * channels);
    }

    private static Tensor<double> CoefficientRows(JsonObject p, NamedArrays x)
    {
        var plan = PlanOf(p);
        var k = x.Double("k");
        var d = Skip(x);
        int channels = k.Dim(0), lk = k.Dim(1), l = p.Int("length");
        var t = Tensor<double>.Zeros(channels, l, l);
        for (int c = 0; c < channels; c++)
        {
            var tc = MaterializeCoefficients(plan, k.Data.AsSpan(c * lk, lk), l);
            for (int i = 0; i < l; i++) tc.Data[i * l + i] += d is null ? 0.0 : d.Data[c];
            tc.Data.CopyTo(t.Data, c * l * l);
        }
        return OperatorMatrices.PerRow(t, p.Int("batch") * channels);
    }

    private static Tensor<double> ClosedForm(JsonObject p, NamedArrays x)
    {
        var u = x.Double("u");
        var k = x.Double("k");
        var d = Skip(x);
        int b = p.Int("block"), digits = p.Int("digits"), channels = k.Dim(0), lk = k.Dim(1), l = u.Dim(-1), rows = u.Length / l;
        var y = Tensor<double>.Zeros(u.ShapeArray);
        for (int r = 0; r < rows; r++)
        {
            int c = r % channels;
            var yr = DigitwiseConvolution(b, digits, k.Data.AsSpan(c * lk, lk), u.Data.AsSpan(r * l, l));
            for (int i = 0; i < l; i++) y.Data[r * l + i] = yr[i] + (d is null ? 0.0 : d.Data[c]) * u.Data[r * l + i];
        }
        return y;
    }

    private static Tensor<double> Recurrent(JsonObject p, NamedArrays x)
    {
        var u = x.Double("u");
        int l = u.Dim(-1), rows = u.Length / l;
        var state = InitialState(PlanOf(p), rows, x.Double("k"), Skip(x));
        var y = Tensor<double>.Zeros(u.ShapeArray);
        var ut = new double[rows];
        for (int t = 0; t < l; t++)
        {
            for (int r = 0; r < rows; r++) ut[r] = u.Data[r * l + t];
            var yt = Step(state, ut);
            for (int r = 0; r < rows; r++) y.Data[r * l + t] = yt[r];
        }
        return y;
    }

    private static NamedArrays FastOut<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> =>
        NamedTensors.Outputs(("y", ForwardFast(Prepare<T>(PlanOf(p)), x.As<T>("u"), x.As<T>("k"), x.Optional<T>("d"))));

    private static ConformanceCase Case(string id, ulong seed, int batch, int channels, int length, int kernelLength, int b, int digits,
        params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("channels", channels), ("length", length), ("kernel_length", kernelLength),
            ("block", b), ("digits", digits)),
            $"batch {batch}, {channels} channel(s), L = {length}, kernel length {kernelLength}, b = {b}, p = {digits} (N = {(int)Math.Pow(b, digits)})", tags);
}
