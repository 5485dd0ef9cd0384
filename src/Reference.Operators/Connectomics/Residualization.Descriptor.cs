using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;

namespace Reference.Operators.Connectomics;

public static partial class Residualization
{
    /// <summary>The registry entry of confound residualization ("connectomics.residualize").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "connectomics.residualize",
        Version = 1,
        Title = "Confound residualization",
        Paper = ConnectomicsDescriptors.Paper + "resid.py (residualise, rowvar, l2 by row augmentation)",
        File = "src/Reference.Operators/Connectomics/Residualization.cs",
        Summary = "R = y - beta^T X, beta = (X X^T + l2^2 I)^-1 X y^T: y [B, V, T] regressed on confounds X [C, T] (no implicit intercept)",
        Causal = false,
        Parameters =
        [
            new("b", "int", "-", "batch B"),
            new("v", "int", "-", "variables V"),
            new("t", "int", "-", "observations T"),
            new("c", "int", "-", "confounds C"),
            new("l2", "float", "0", "ridge: l2 I rows appended to the design (penalty l2^2 ||beta||^2)"),
        ],
        Inputs =
        [
            new("y", "[B, V, T]", "series to clean"),
            new("confounds", "[C, T]", "regressors (shared over the batch)"),
        ],
        Outputs = [new("residual", "[B, V, T]", "y minus its least-squares fit on the confounds")],
        NaiveEntry = "Residualization.Forward(y, confounds, l2)",
        Naive = (p, x) => NamedTensors.Outputs(("residual", Forward(x.Double("y"), x.Double("confounds"), p.Double("l2")))),
        AutodiffEntry = "ConnectomicsOps.Residualize(y, confounds, l2) (VJP: Residualization.Backward)",
        Differentiable = ["y", "confounds"],
        Autodiff = (p, _, d) => ConnectomicsOps.Residualize(d[0], d[1], p.Double("l2")),
        AccumulationOrder = "A = X X^T + l2^2 I (t ascending); Gauss-Jordan inverse with partial pivoting; X y^T (t ascending); beta = A^-1 (X y^T) (k ascending); fit = beta^T X (c ascending); R = y - fit",
        Distribution = CaseInputs.NormalF32 + " (y [B, V, T], then confounds [C, T])",
        Cases =
        [
            Case("b1_v3_t12_c2", 1821, 1, 3, 12, 2, 0),
            Case("b2_v4_t30_c5_ridge", 1822, 2, 4, 30, 5, 0.5),
            Case("b1_v1_t2_c1", 1823, 1, 1, 2, 1, 0, "edge"),
        ],
        DemoCase = "b2_v4_t30_c5_ridge",
        DrawInputs = (p, rng) => new NamedArrays
        {
            ["y"] = CaseInputs.Normal(rng, p.Int("b"), p.Int("v"), p.Int("t")),
            ["confounds"] = CaseInputs.Normal(rng, p.Int("c"), p.Int("t")),
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-10, 1e-4,
            "a C x C solve amplifies rounding by cond(X X^T) (< 1e2 here): float64 solvers agree to ~1e-14 x cond, so 1e-10; float32 ~1e-6 x cond, so 1e-4"),
        Without = ConnectomicsDescriptors.WithoutFast("C x C solves and O(C V T) products: small next to the covariance; no fast tier"),
    };

    private static ConformanceCase Case(string id, ulong seed, int b, int v, int t, int c, double l2, params string[] tags) =>
        new(id, seed, Params.Of(("b", b), ("v", v), ("t", t), ("c", c), ("l2", l2)), $"B {b}, V {v}, T {t}, C {c}, l2 {l2}", tags);
}
