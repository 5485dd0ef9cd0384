using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;

namespace Reference.Operators.Connectomics;

public static partial class SpdMeans
{
    /// <summary>The registry entry of the SPD means ("connectomics.spd_mean").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "connectomics.spd_mean",
        Version = 1,
        Title = "Means of SPD matrices",
        Paper = ConnectomicsDescriptors.Paper + "semidefinite.py (mean_euc_spd, mean_harm_spd, mean_logeuc_spd, mean_geom_spd)",
        File = "src/Reference.Operators/Connectomics/SpdMeans.cs",
        Summary = "mean of x [N, V, V] SPD: euclidean (1/N) sum X_i, harmonic ((1/N) sum X_i^-1)^-1, log_euclidean exp((1/N) sum log X_i), " +
            "geometric (Karcher) G <- G^1/2 exp((1/N) sum log(G^-1/2 X_i G^-1/2)) G^1/2 from the Euclidean mean, a fixed number of steps",
        Causal = false,
        Parameters =
        [
            new("n", "int", "-", "matrices N"),
            new("v", "int", "-", "matrix size V"),
            new("mean", "string", "-", "euclidean, harmonic, log_euclidean or geometric"),
            new("iterations", "int", "10", "fixed-point steps of the geometric mean (hypercoil's default 10; unused by the others)"),
        ],
        Inputs = [new("x", "[N, V, V]", "SPD matrices")],
        Outputs = [new("mean", "[V, V]", "their mean (SPD)")],
        NaiveEntry = "SpdMeans.Euclidean / Harmonic / LogEuclidean (x), SpdMeans.Geometric(x, iterations, tolerance 0)",
        Naive = (p, x) => NamedTensors.Outputs(("mean", Naive(p.String("mean"), x.Double("x"), p.Int("iterations")))),
        AutodiffEntry = "ConnectomicsOps.EuclideanMean / HarmonicMean / LogEuclideanMean (x), ConnectomicsOps.GeometricMean(x, iterations) (unrolled on the tape)",
        Differentiable = ["x"],
        Autodiff = (p, _, d) => p.String("mean") switch
        {
            "euclidean" => ConnectomicsOps.EuclideanMean(d[0]),
            "harmonic" => ConnectomicsOps.HarmonicMean(d[0]),
            "log_euclidean" => ConnectomicsOps.LogEuclideanMean(d[0]),
            "geometric" => ConnectomicsOps.GeometricMean(d[0], p.Int("iterations")),
            var m => throw UnknownMean(m),
        },
        AccumulationOrder = "sums over the N matrices ascending, then / N; inverses by Gauss-Jordan with partial pivoting; log and exp by cyclic Jacobi " +
            "eigendecomposition (as connectomics.tangent_projection); a geometric step is the cone projection at G of the mean tangent projection at G",
        Distribution = "per matrix A = G G^T / k + I / 2 with G [V, k = V + 2] " + CaseInputs.NormalF32 + "; A computed in float64 (sums ascending) and rounded to float32",
        Cases =
        [
            Case("euclidean_n3_v4", 1851, 3, 4, "euclidean", 10),
            Case("harmonic_n3_v4", 1852, 3, 4, "harmonic", 10),
            Case("log_euclidean_n4_v3", 1853, 4, 3, "log_euclidean", 10),
            Case("geometric_n4_v3", 1854, 4, 3, "geometric", 10),
            Case("geometric_n2_v5_it3", 1855, 2, 5, "geometric", 3),
            Case("geometric_n1_v1", 1856, 1, 1, "geometric", 10, "edge"),
        ],
        DemoCase = "geometric_n4_v3",
        DrawInputs = (p, rng) => ConnectomicsDescriptors.DrawSpdStack(rng, "x", p.Int("n"), p.Int("v")),
        Tolerance = (p, _) => p.String("mean") == "euclidean"
            ? Core.Conformance.Tolerance.NormRelative(1e-13, 1e-6, "a sum of N matrices and one division: float64 ~1e-16, float32 ~N eps32")
            : Core.Conformance.Tolerance.NormRelative(1e-10, 1e-4,
                "inverses or eigendecompositions (repeated for the geometric mean's steps, each a contraction): float64 solvers agree to ~1e-14 x cond (< 1e2 here), so 1e-10; float32 ~1e-6 x cond, so 1e-4"),
        Without = ConnectomicsDescriptors.WithoutFast("N V x V inverses or eigendecompositions: cheap next to the covariance; no fast tier"),
    };

    private static Tensor<double> Naive(string mean, Tensor<double> x, int iterations) => mean switch
    {
        "euclidean" => Euclidean(x),
        "harmonic" => Harmonic(x),
        "log_euclidean" => LogEuclidean(x),
        "geometric" => Geometric(x, iterations, 0),
        _ => throw UnknownMean(mean),
    };

    private static ArgumentException UnknownMean(string mean) =>
        new($"mean = '{mean}'; expected euclidean, harmonic, log_euclidean or geometric.", nameof(mean));

    private static ConformanceCase Case(string id, ulong seed, int n, int v, string mean, int iterations, params string[] tags) =>
        new(id, seed, Params.Of(("n", n), ("v", v), ("mean", mean), ("iterations", iterations)), $"N {n}, V {v}, {mean} mean, {iterations} iterations", tags);
}
