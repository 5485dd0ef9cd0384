using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;

namespace Reference.Operators.Connectomics;

public static partial class SoftAtlas
{
    /// <summary>The registry entry of the soft atlas ("connectomics.soft_atlas").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "connectomics.soft_atlas",
        Version = 1,
        Title = "Soft atlas (learnable parcellation)",
        Paper = ConnectomicsDescriptors.Paper + "../nn/atlas.py (softmax over parcels, mean normalization)",
        File = "src/Reference.Operators/Connectomics/SoftAtlas.cs",
        Summary = "parcels [B, P, T] = Abar x, A = softmax over parcels of logits [P, V], Abar = A with each parcel's row divided by its sum; x [B, V, T]",
        Causal = false,
        Parameters =
        [
            new("b", "int", "-", "batch B"),
            new("p", "int", "-", "parcels P"),
            new("v", "int", "-", "voxels V"),
            new("t", "int", "-", "time points T"),
        ],
        Inputs =
        [
            new("logits", "[P, V]", "log-weights theta (Dirichlet(50) log draws when initialized by SoftAtlas.DirichletInit)"),
            new("x", "[B, V, T]", "voxel series"),
        ],
        Outputs = [new("parcels", "[B, P, T]", "parcel series: each parcel's weighted mean of voxel series")],
        NaiveEntry = "SoftAtlas.Forward(logits, x)",
        Naive = (_, x) => NamedTensors.Outputs(("parcels", Forward(x.Double("logits"), x.Double("x")))),
        AutodiffEntry = "ConnectomicsOps.SoftAtlas(logits, x) (VJP: SoftAtlas.Backward)",
        Differentiable = ["logits", "x"],
        Autodiff = (_, _, d) => ConnectomicsOps.SoftAtlas(d[0], d[1]),
        AccumulationOrder = "per voxel: max over parcels, exp(theta - max), sum over parcels ascending, divide; s_p = sum_v A_pv (v ascending); " +
            "parcels[b, p, t] = sum_v (A_pv / s_p) x[b, v, t] (v ascending)",
        Distribution = CaseInputs.NormalF32 + " (logits [P, V], then x [B, V, T])",
        Cases =
        [
            new("b1_p3_v10_t6", 1831, Params.Of(("b", 1), ("p", 3), ("v", 10), ("t", 6)), "B 1, P 3, V 10, T 6"),
            new("b2_p5_v24_t17", 1832, Params.Of(("b", 2), ("p", 5), ("v", 24), ("t", 17)), "B 2, P 5, V 24, T 17"),
            new("b1_p1_v2_t1", 1833, Params.Of(("b", 1), ("p", 1), ("v", 2), ("t", 1)), "B 1, one parcel (the voxel mean), T 1", "edge"),
        ],
        DemoCase = "b2_p5_v24_t17",
        DrawInputs = (p, rng) => new NamedArrays
        {
            ["logits"] = CaseInputs.Normal(rng, p.Int("p"), p.Int("v")),
            ["x"] = CaseInputs.Normal(rng, p.Int("b"), p.Int("v"), p.Int("t")),
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5,
            "a softmax over P and a length-V weighted mean per output: float64 reorderings ~1e-15 (1e-12 leaves a margin); float32 ~sqrt(V) eps32, so 1e-5"),
        Without = ConnectomicsDescriptors.WithoutFast("a [P, V] x [V, T] product per batch; the GEMM tier would only wrap FastGemm; none yet"),
    };
}
