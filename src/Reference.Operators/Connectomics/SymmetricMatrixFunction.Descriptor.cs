using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;

namespace Reference.Operators.Connectomics;

public static partial class SymmetricMatrixFunction
{
    /// <summary>The registry entry of the tangent projection ("connectomics.tangent_projection").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "connectomics.tangent_projection",
        Version = 1,
        Title = "Tangent projection of SPD matrices",
        Paper = ConnectomicsDescriptors.Paper + "semidefinite.py (tangent_project_spd)",
        File = "src/Reference.Operators/Connectomics/SymmetricMatrixFunction.cs",
        Summary = "T = log(O^-1/2 X O^-1/2) for SPD x [B, V, V] at the SPD reference O [V, V], both by symmetric eigendecomposition",
        Causal = false,
        Parameters =
        [
            new("b", "int", "-", "batch B"),
            new("v", "int", "-", "matrix size V"),
        ],
        Inputs =
        [
            new("x", "[B, V, V]", "SPD matrices (e.g. covariances)"),
            new("reference", "[V, V]", "SPD point of tangency O (e.g. a mean)"),
        ],
        Outputs = [new("tangent", "[B, V, V]", "symmetric tangent vectors")],
        NaiveEntry = "SymmetricMatrixFunction.TangentProject(x, reference)",
        Naive = (_, x) => NamedTensors.Outputs(("tangent", TangentProject(x.Double("x"), x.Double("reference")))),
        AutodiffEntry = "ConnectomicsOps.TangentProject(x, reference) (VJPs: SymmetricMatrixFunction.Backward (Daleckii-Krein), matmul)",
        Differentiable = ["x", "reference"],
        Autodiff = (_, _, d) => ConnectomicsOps.TangentProject(d[0], d[1]),
        AccumulationOrder = "cyclic Jacobi eigendecomposition of sym(O) (rotations row-major over p < r, sweeps until off-diagonal^2 <= 1e-30 ||O||^2); " +
            "O^-1/2 = Q diag(lambda^-1/2) Q^T (k ascending); M = O^-1/2 X O^-1/2 (two products, k ascending); the same for log(sym(M))",
        Distribution = "per matrix (x's B matrices, then the reference): A = G G^T / k + I / 2 with G [V, k = V + 2] " + CaseInputs.NormalF32 +
            "; A computed in float64 (sums ascending) and rounded to float32",
        Cases =
        [
            new("b2_v3", 1811, Params.Of(("b", 2), ("v", 3)), "B 2, V 3"),
            new("b3_v6", 1812, Params.Of(("b", 3), ("v", 6)), "B 3, V 6"),
            new("b1_v1", 1813, Params.Of(("b", 1), ("v", 1)), "B 1, V 1 (scalar log(x / o))", "edge"),
        ],
        DemoCase = "b3_v6",
        DrawInputs = (p, rng) =>
        {
            int b = p.Int("b"), v = p.Int("v");
            var x = new double[b * v * v];
            for (int i = 0; i < b; i++) ConnectomicsDescriptors.DrawSpd(rng, v, v + 2).CopyTo(x, i * v * v);
            return new NamedArrays
            {
                ["x"] = CaseInputs.RoundedF32(x, [b, v, v]),
                ["reference"] = CaseInputs.RoundedF32(ConnectomicsDescriptors.DrawSpd(rng, v, v + 2), [v, v]),
            };
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-10, 1e-4,
            "two eigendecompositions and a logarithm: float64 eigensolvers (Jacobi vs LAPACK) agree to ~1e-14 x the condition number (< 1e2 here), so 1e-10; float32 ~1e-6 x cond, so 1e-4"),
        Without = ConnectomicsDescriptors.WithoutFast("V x V eigendecompositions of connectomes are cheap next to the covariance; no fast tier"),
    };
}
