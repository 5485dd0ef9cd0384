using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;

namespace Reference.Operators.Connectomics;

public static partial class Modularity
{
    /// <summary>The registry entry of the relaxed modularity and the modularity matrix ("connectomics.modularity").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "connectomics.modularity",
        Version = 1,
        Title = "Relaxed modularity and the modularity matrix",
        Paper = ConnectomicsDescriptors.Paper + "graph.py (girvan_newman_null, modularity_matrix, relaxed_modularity); Newman, PNAS 103 (2006)",
        File = "src/Reference.Operators/Connectomics/Modularity.cs",
        Summary = "B = A - gamma k_i k_o^T / 2m and Q = (1 / 2m) sum_ij B_ij (C C^T)_ij for adjacency A [n, n] and soft assignment C [n, K] " +
            "(no relu of A, no coaffiliation normalization, no extra 1/2: Newman's Q for a one-hot C)",
        Causal = false,
        Parameters =
        [
            new("n", "int", "-", "nodes n"),
            new("k", "int", "-", "communities K"),
            new("gamma", "float", "1", "resolution of the Girvan-Newman null"),
            new("exclude_diagonal", "bool", "false", "zero the coaffiliation's diagonal (self-affiliation does not count)"),
        ],
        Inputs =
        [
            new("adjacency", "[n, n]", "weighted adjacency (total weight 2m > 0)"),
            new("assignment", "[n, K]", "soft community assignment (one-hot for a hard partition)"),
        ],
        Outputs =
        [
            new("q", "[]", "relaxed modularity Q (the loss is -Q)"),
            new("modularity_matrix", "[n, n]", "B = A - gamma k_i k_o^T / 2m"),
        ],
        NaiveEntry = "Modularity.Relaxed(adjacency, assignment, gamma, excludeDiagonal), Modularity.Matrix(adjacency, gamma)",
        Naive = (p, x) => NamedTensors.Outputs(
            ("q", Relaxed(x.Double("adjacency"), x.Double("assignment"), p.Double("gamma"), p.Bool("exclude_diagonal"))),
            ("modularity_matrix", Matrix(x.Double("adjacency"), p.Double("gamma")))),
        AutodiffEntry = "ConnectomicsOps.RelaxedModularity(adjacency, assignment, gamma, excludeDiagonal) (VJP: Modularity.RelaxedBackward)",
        Differentiable = ["adjacency", "assignment"],
        Autodiff = (p, _, d) => ConnectomicsOps.RelaxedModularity(d[0], d[1], p.Double("gamma"), p.Bool("exclude_diagonal")),
        AccumulationOrder = "k_i row sums and k_o column sums (ascending); 2m = sum of k_i (ascending); B row-major; H = C C^T (K ascending), diagonal zeroed " +
            "when excluded; Q = (sum_ij B_ij H_ij, row-major) / 2m",
        Distribution = "adjacency: U uniform[0, 1) [n, n] (rounded to float32), A = (U + U^T) / 2 in float64, rounded to float32; then assignment uniform[0, 1) [n, K] (float32)",
        Cases =
        [
            Case("n5_k2", 1861, 5, 2, 1, false),
            Case("n8_k3_gamma0.5_nodiag", 1862, 8, 3, 0.5, true),
            Case("n2_k1", 1863, 2, 1, 1, false, "edge"),
        ],
        DemoCase = "n8_k3_gamma0.5_nodiag",
        DrawInputs = (p, rng) =>
        {
            int n = p.Int("n");
            var u = CaseInputs.Uniform(rng, 0, 1, n, n).ToDoubles();
            var a = new double[n * n];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) a[i * n + j] = (u[i * n + j] + u[j * n + i]) / 2;
            return new NamedArrays
            {
                ["adjacency"] = CaseInputs.RoundedF32(a, [n, n]),
                ["assignment"] = CaseInputs.Uniform(rng, 0, 1, n, p.Int("k")),
            };
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-4,
            "sums of n^2 products of O(1) terms: float64 reorderings ~1e-15 (1e-12 leaves a margin); Q cancels (B's entries sum to (1 - gamma) 2m), " +
            "so float32 errors ~n eps32 relative to the terms are ~1e-5 relative to Q (numpy float32 measured 5.8e-6): 1e-4"),
        Without = ConnectomicsDescriptors.WithoutFast("O(n^2 K) sums over a connectome: small; no fast tier"),
    };

    private static ConformanceCase Case(string id, ulong seed, int n, int k, double gamma, bool excludeDiagonal, params string[] tags) =>
        new(id, seed, Params.Of(("n", n), ("k", k), ("gamma", gamma), ("exclude_diagonal", excludeDiagonal)),
            $"n {n}, K {k}, gamma {gamma}, diagonal {(excludeDiagonal ? "excluded" : "kept")}", tags);
}
