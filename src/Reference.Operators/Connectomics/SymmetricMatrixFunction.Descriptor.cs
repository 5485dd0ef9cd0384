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

public static partial class SymmetricMatrixFunction
{
    /// <summary>The registry entry of the inverse tangent projection ("connectomics.cone_projection").</summary>
    public static class ConeProjection
    {
        public static OperatorDescriptor Descriptor { get; } = new()
        {
            Name = "connectomics.cone_projection",
            Version = 1,
            Title = "Inverse tangent projection (tangent space to the SPD cone)",
            Paper = ConnectomicsDescriptors.Paper + "semidefinite.py (cone_project_spd)",
            File = "src/Reference.Operators/Connectomics/SymmetricMatrixFunction.cs",
            Summary = "X = O^1/2 exp(T) O^1/2 for symmetric t [B, V, V] at the SPD reference O [V, V]; the inverse of connectomics.tangent_projection",
            Causal = false,
            Parameters =
            [
                new("b", "int", "-", "batch B"),
                new("v", "int", "-", "matrix size V"),
            ],
            Inputs =
            [
                new("t", "[B, V, V]", "symmetric tangent vectors"),
                new("reference", "[V, V]", "SPD point of tangency O"),
            ],
            Outputs = [new("x", "[B, V, V]", "SPD matrices")],
            NaiveEntry = "SymmetricMatrixFunction.ConeProject(t, reference)",
            Naive = (_, x) => NamedTensors.Outputs(("x", ConeProject(x.Double("t"), x.Double("reference")))),
            AutodiffEntry = "ConnectomicsOps.ConeProject(t, reference) (VJPs: SymmetricMatrixFunction.Backward (Daleckii-Krein), matmul)",
            Differentiable = ["t", "reference"],
            Autodiff = (_, _, d) => ConnectomicsOps.ConeProject(d[0], d[1]),
            AccumulationOrder = "cyclic Jacobi eigendecompositions of sym(O) and sym(T) (as connectomics.tangent_projection); O^1/2 = Q diag(lambda^1/2) Q^T and " +
                "exp(T) = Q diag(e^lambda) Q^T (k ascending); X = O^1/2 exp(T) O^1/2 (two products, k ascending)",
            Distribution = "t: per matrix S = (G + G^T) / 4 with G [V, V] " + CaseInputs.NormalF32 + " (computed in float64, rounded to float32); " +
                "then the reference A = G G^T / k + I / 2 with G [V, k = V + 2] as in connectomics.tangent_projection",
            Cases =
            [
                new("b2_v3", 1831, Params.Of(("b", 2), ("v", 3)), "B 2, V 3"),
                new("b3_v5", 1832, Params.Of(("b", 3), ("v", 5)), "B 3, V 5"),
                new("b1_v1", 1833, Params.Of(("b", 1), ("v", 1)), "B 1, V 1 (scalar o e^t)", "edge"),
            ],
            DemoCase = "b3_v5",
            DrawInputs = (p, rng) =>
            {
                int b = p.Int("b"), v = p.Int("v");
                return new NamedArrays
                {
                    ["t"] = CaseInputs.RoundedF32(ConnectomicsDescriptors.DrawSymmetric(rng, b, v, 0.25), [b, v, v]),
                    ["reference"] = CaseInputs.RoundedF32(ConnectomicsDescriptors.DrawSpd(rng, v, v + 2), [v, v]),
                };
            },
            Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-10, 1e-4,
                "two eigendecompositions and an exponential of moderate symmetric matrices (|eigenvalues| < ~2): float64 eigensolvers agree to ~1e-14 x cond, so 1e-10; float32 ~1e-6 x cond, so 1e-4"),
            Without = ConnectomicsDescriptors.WithoutFast("V x V eigendecompositions are cheap next to the covariance; no fast tier"),
        };
    }

    /// <summary>The registry entry of the SPD projection ("connectomics.spd_projection").</summary>
    public static class SpdProjection
    {
        public static OperatorDescriptor Descriptor { get; } = new()
        {
            Name = "connectomics.spd_projection",
            Version = 1,
            Title = "Projection onto the SPD cone (eigenvalue clamp)",
            Paper = ConnectomicsDescriptors.Paper + "matrix.py (spd: eigenvalues clamped below at eps)",
            File = "src/Reference.Operators/Connectomics/SymmetricMatrixFunction.cs",
            Summary = "Q diag(max(lambda, eps)) Q^T of symmetric a [B, V, V] = Q diag(lambda) Q^T: the nearest (Frobenius) matrix with eigenvalues >= eps",
            Causal = false,
            Parameters =
            [
                new("b", "int", "-", "batch B"),
                new("v", "int", "-", "matrix size V"),
                new("eps", "float", "1e-6", "the smallest eigenvalue kept"),
            ],
            Inputs = [new("a", "[B, V, V]", "symmetric (possibly indefinite) matrices")],
            Outputs = [new("spd", "[B, V, V]", "SPD matrices")],
            NaiveEntry = "SymmetricMatrixFunction.ProjectSpd(a, eps)",
            Naive = (p, x) => NamedTensors.Outputs(("spd", ProjectSpd(x.Double("a"), p.Double("eps")))),
            AutodiffEntry = "ConnectomicsOps.ProjectSpd(a, eps) (VJP: SymmetricMatrixFunction.Backward (Daleckii-Krein with the clamp's divided differences))",
            Differentiable = ["a"],
            Autodiff = (p, _, d) => ConnectomicsOps.ProjectSpd(d[0], p.Double("eps")),
            AccumulationOrder = "cyclic Jacobi eigendecomposition of sym(a) (as connectomics.tangent_projection); Q diag(max(lambda, eps)) Q^T (k ascending)",
            Distribution = "per matrix S = (G + G^T) / 2 with G [V, V] " + CaseInputs.NormalF32 + " (computed in float64, rounded to float32): indefinite, so the clamp acts",
            Cases =
            [
                new("b2_v3_eps0.1", 1841, Params.Of(("b", 2), ("v", 3), ("eps", 0.1)), "B 2, V 3, eps 0.1"),
                new("b3_v6_eps1e-6", 1842, Params.Of(("b", 3), ("v", 6), ("eps", 1e-6)), "B 3, V 6, eps 1e-6 (hypercoil's default)"),
                new("b1_v1_eps0.5", 1843, Params.Of(("b", 1), ("v", 1), ("eps", 0.5)), "B 1, V 1 (max(a, eps))", "edge"),
            ],
            DemoCase = "b3_v6_eps1e-6",
            DrawInputs = (p, rng) =>
            {
                int b = p.Int("b"), v = p.Int("v");
                return new NamedArrays { ["a"] = CaseInputs.RoundedF32(ConnectomicsDescriptors.DrawSymmetric(rng, b, v, 0.5), [b, v, v]) };
            },
            Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-10, 1e-4,
                "one eigendecomposition of a well-scaled symmetric matrix: float64 eigensolvers (Jacobi vs LAPACK) agree to ~1e-14 relative, so 1e-10; float32 inputs ~1e-6, so 1e-4"),
            Without = ConnectomicsDescriptors.WithoutFast("V x V eigendecompositions are cheap next to the covariance; no fast tier"),
        };
    }
}
