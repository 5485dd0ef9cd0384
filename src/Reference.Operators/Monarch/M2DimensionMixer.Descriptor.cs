using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;
using Reference.Core.Kernels;

namespace Reference.Operators.Monarch;

public static partial class M2DimensionMixer
{
    /// <summary>The registry entry of the M2 dimension mixer ("monarch.glu_mlp").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "monarch.glu_mlp",
        Version = 1,
        Title = "M2 dimension mixer (block-diagonal GLU)",
        Paper = "Fu, Arora et al., Monarch Mixer (arXiv:2310.12109), Sec. 3-4 (dimension mixing with block-diagonal Monarch factors, GLU); " +
            "conventions of HazyResearch/m2 BertGatedLinearUnitMLP with BlockdiagLinear",
        File = "src/Reference.Operators/Monarch/M2DimensionMixer.cs",
        Summary = "y [B, L, D] = BlockDiag(w_out) (GELU(h[:I]) * h[I:]) + b_out with h = BlockDiag(w_in) x per token; w_in [nb, 2I/nb, D/nb], " +
            "w_out [nb, D/nb, I/nb] (exact GELU)",
        Parameters =
        [
            new("batch", "int", "-", "batch B"),
            new("length", "int", "-", "length L (tokens are independent)"),
            new("width", "int", "-", "model width D (a multiple of nb)"),
            new("hidden", "int", "-", "hidden width I (a multiple of nb; the first map has 2I outputs)"),
            new("blocks", "int", "-", "blocks nb of both block-diagonal maps (M2-BERT: 4)"),
        ],
        Inputs =
        [
            new("w_in", "[nb, 2I/nb, D/nb]", "first block-diagonal map (gated_layers, no bias)"),
            new("w_out", "[nb, D/nb, I/nb]", "second block-diagonal map (wo)"),
            new("b_out", "[D]", "bias of the second map"),
            new("x", "[B, L, D]", "input, token-major"),
        ],
        Outputs = [new("y", "[B, L, D]", "the mixer's output (before M2-BERT's residual and LayerNorm)")],
        NaiveEntry = "M2DimensionMixer.Forward(p, x) (Monarch.BlockDiagonal, NaiveActivations.Gelu)",
        Naive = (p, x) => NamedTensors.Outputs(("y", Forward(ParametersOf(p, x), x.Double("x")))),
        FastEntry = "M2DimensionMixer.ForwardFast<T>(p, x) (float32, float64; one strided FastGemm per block over all tokens)",
        Fast = (p, x, precision) => precision == Precision.Float32
            ? NamedTensors.Outputs(("y", ForwardFast(ParametersOf(p, x), x.As<float>("x"))))
            : NamedTensors.Outputs(("y", ForwardFast(ParametersOf(p, x), x.As<double>("x")))),
        Forms =
        [
            new("dense block-diagonal matrices", "M2DimensionMixer.DenseBlockDiagonal(w_in), (w_out) [out, in], then dense products per token",
                (p, x) => NamedTensors.Outputs(("y", ThroughDense(ParametersOf(p, x), x.Double("x")))), "y"),
        ],
        AutodiffEntry = "M2DimensionMixer.Operator(x, w_in, w_out, b_out) (VJP: M2DimensionMixer.Backward)",
        Differentiable = ["x", "w_in", "w_out", "b_out"],
        Autodiff = (_, _, v) => Operator(v[0], v[1], v[2], v[3]),
        AccumulationOrder = "block products as Monarch.BlockDiagonal (block input index ascending, float64 acc = 0); GELU x Phi(x) by erfc; " +
            "bias added last",
        Distribution = "parameters by M2DimensionParameters.Initialize(SplitMix64(seed), D, I, nb) (w_in, w_out, b_out uniform, see its doc " +
            "comment), each rounded to float32; then x " + CaseInputs.NormalF32,
        Cases =
        [
            Case("one_block_1x1x2_i2", 1451, 1, 1, 2, 2, 1, "edge"),
            Case("nb2_2x3x4_i6", 1452, 2, 3, 4, 6, 2),
            Case("nb4_1x5x8_i16", 1453, 1, 5, 8, 16, 4),
        ],
        DrawInputs = (p, rng) =>
        {
            var mp = M2DimensionParameters.Initialize(rng, p.Int("width"), p.Int("hidden"), p.Int("blocks"));
            int d = mp.ModelWidth, i = mp.Hidden, nb = mp.Blocks;
            return new NamedArrays
            {
                ["w_in"] = CaseInputs.RoundedF32(mp.WIn, [nb, 2 * i / nb, d / nb]),
                ["w_out"] = CaseInputs.RoundedF32(mp.WOut, [nb, d / nb, i / nb]),
                ["b_out"] = CaseInputs.RoundedF32(mp.BOut, [d]),
                ["x"] = CaseInputs.Normal(rng, p.Int("batch"), p.Int("length"), d),
            };
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5,
            "two block products of at most D/nb and I/nb terms and one GELU per hidden unit: float64 reorderings stay a few eps64 relative"),
        Without = new Dictionary<string, string>
        {
            ["materialize"] = "no sequence operator: each token is mixed across features on its own (a GELU-gated map, not linear in x), so " +
                "there is no L x L matrix to materialize",
            ["realize"] = "no time axis: nothing is carried from one token to the next",
            ["step"] = "no state: the decoding form is the forward on the new token alone",
            ["ess"] = "no state to measure: the map is per token (ESS 0 at every split by definition)",
        },
    };

    private static M2DimensionParameters ParametersOf(JsonObject p, NamedArrays x) =>
        new(p.Int("width"), p.Int("hidden"), p.Int("blocks"), x["w_in"].ToDoubles(), x["w_out"].ToDoubles(), x["b_out"].ToDoubles());

    /// <summary>y = W_out (GELU(g) * n) + b with (g, n) = W_in x, W the dense block-diagonal matrices (input index ascending).</summary>
    private static Tensor<double> ThroughDense(M2DimensionParameters p, Tensor<double> x)
    {
        int d = p.ModelWidth, i = p.Hidden, nb = p.Blocks, rows = x.Length / d;
        var wIn = DenseBlockDiagonal(p.WIn, nb, 2 * i / nb, d / nb);
        var wOut = DenseBlockDiagonal(p.WOut, nb, d / nb, i / nb);
        var y = Tensor<double>.Zeros(x.ShapeArray);
        var h = new double[2 * i];
        for (int r = 0; r < rows; r++)
        {
            for (int o = 0; o < 2 * i; o++)
            {
                double acc = 0.0;
                for (int c = 0; c < d; c++) acc += wIn[o * d + c] * x.Data[r * d + c];
                h[o] = acc;
            }
            for (int o = 0; o < d; o++)
            {
                double acc = 0.0;
                for (int j = 0; j < i; j++) acc += wOut[o * i + j] * (NaiveActivations.Gelu(h[j]) * h[i + j]);
                y.Data[r * d + o] = acc + p.BOut[o];
            }
        }
        return y;
    }

    private static ConformanceCase Case(string id, ulong seed, int batch, int length, int width, int hidden, int blocks, params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("length", length), ("width", width), ("hidden", hidden), ("blocks", blocks)),
            $"B = {batch}, L = {length}, D = {width}, I = {hidden}, nb = {blocks}", tags);
}
