using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;

namespace Reference.Operators.Connectomics;

public static partial class ConnectomicsLosses
{
    private const string Kinds = "entropy, equilibrium, compactness, second_moment, log_det or qcfc";

    /// <summary>The registry entry of the connectomics losses ("connectomics.loss"; the modularity loss is -q of connectomics.modularity).</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "connectomics.loss",
        Version = 1,
        Title = "Connectomics losses (atlas and connectome regularizers)",
        Paper = ConnectomicsDescriptors.Paper + "loss/functional.py (entropy, equilibrium, compactness, second_moment, log_det_gram, qcfc)",
        File = "src/Reference.Operators/Connectomics/ConnectomicsLosses.cs",
        Summary = "a scalar of a [R, C] by kind: entropy (1/R) sum -p log p; equilibrium var_p(mean_v A_pv); compactness (1/(P V)) sum A_pv ||coords_v - mu_p||; " +
            "second_moment (1/(P T)) sum_pt sum_v W_pv (x_vt - mu_pt)^2 / s_p (x = b); log_det -log det S; qcfc (1/E) sum_e |pearson_n(fc[:, e], qc)| (fc = a, qc = b)",
        Causal = false,
        Parameters =
        [
            new("kind", "string", "-", Kinds),
            new("r", "int", "-", "rows R of a (rows of P, parcels P, n of S, subjects N)"),
            new("c", "int", "-", "columns C of a (classes K, voxels V, n of S, edges E)"),
            new("m", "int", "0", "compactness: coordinate dimensions D; second_moment: observations T; else unused"),
        ],
        Inputs =
        [
            new("a", "[R, C]", "probabilities (entropy), atlas (equilibrium, compactness, second_moment), SPD matrix (log_det), edges over subjects (qcfc)"),
            new("coords", "[C, M]", "compactness: voxel coordinates (a constant)", Optional: true),
            new("b", "[C, M] or [R]", "second_moment: voxel series x [V, T]; qcfc: quality measure qc [N]", Optional: true),
        ],
        Outputs = [new("loss", "[]", "the loss (a scalar)")],
        NaiveEntry = "ConnectomicsLosses.Entropy / Equilibrium (a), Compactness(a, coords), SecondMoment(a, b), LogDet(a), QcFc(a, b)",
        Naive = (p, x) => NamedTensors.Outputs(("loss", Tensor<double>.Scalar(Naive(p, x)))),
        AutodiffEntry = "ConnectomicsOps.Entropy / Equilibrium / Compactness / SecondMoment / LogDetLoss / QcFc (VJPs: the matching ConnectomicsLosses.*Backward)",
        Differentiable = ["a", "b"],
        Autodiff = (p, x, d) => p.String("kind") switch
        {
            "entropy" => ConnectomicsOps.Entropy(d[0]),
            "equilibrium" => ConnectomicsOps.Equilibrium(d[0]),
            "compactness" => ConnectomicsOps.Compactness(d[0], x.Double("coords")),
            "second_moment" => ConnectomicsOps.SecondMoment(d[0], d[1]),
            "log_det" => ConnectomicsOps.LogDetLoss(d[0]),
            "qcfc" => ConnectomicsOps.QcFc(d[0], d[1]),
            var k => throw UnknownKind(k),
        },
        AccumulationOrder = "row-major sums over a's entries, then one division by the count; centroids and parcel means by sums over voxels ascending; " +
            "log-det by the Cholesky factor of (S + S^T) / 2 (2 sum log L_jj, j ascending); Pearson by two-pass centring over subjects ascending",
        Distribution = "entropy: logits " + CaseInputs.NormalF32 + " [R, C], a = row softmax in float64 rounded to float32; equilibrium: a uniform[0, 1) [R, C]; " +
            "compactness: a uniform[0.05, 1) [R, C], then coords normal [C, M]; second_moment: a uniform[0.05, 1) [R, C], then b normal [C, M]; " +
            "log_det: a = G G^T / k + I / 2 with G normal [R, k = R + 2] in float64, rounded to float32; qcfc: a normal [R, C], then b normal [R] (all float32)",
        Cases =
        [
            Case("entropy_r4_c3", 1881, "entropy", 4, 3, 0),
            Case("equilibrium_r3_c7", 1882, "equilibrium", 3, 7, 0),
            Case("compactness_r3_c8_d3", 1883, "compactness", 3, 8, 3),
            Case("second_moment_r2_c6_t9", 1884, "second_moment", 2, 6, 9),
            Case("log_det_r5", 1885, "log_det", 5, 5, 0),
            Case("qcfc_r12_c4", 1886, "qcfc", 12, 4, 0),
            Case("entropy_r1_c1", 1887, "entropy", 1, 1, 0, "edge"),
        ],
        DemoCase = "second_moment_r2_c6_t9",
        DrawInputs = (p, rng) => Draw(p, rng),
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-11, 1e-5,
            "one scalar from O(R C M) sums (a 5 x 5 Cholesky for log_det): float64 reorderings ~1e-14 (1e-11 leaves a margin); float32 ~sqrt(R C M) eps32, so 1e-5"),
        Without = ConnectomicsDescriptors.WithoutFast("scalar regularizers of small atlases and connectomes; no fast tier"),
    };

    private static double Naive(JsonObject p, NamedArrays x) => p.String("kind") switch
    {
        "entropy" => Entropy(x.Double("a")),
        "equilibrium" => Equilibrium(x.Double("a")),
        "compactness" => Compactness(x.Double("a"), x.Double("coords")),
        "second_moment" => SecondMoment(x.Double("a"), x.Double("b")),
        "log_det" => LogDet(x.Double("a")),
        "qcfc" => QcFc(x.Double("a"), x.Double("b")),
        var k => throw UnknownKind(k),
    };

    private static NamedArrays Draw(JsonObject p, SplitMix64 rng)
    {
        int r = p.Int("r"), c = p.Int("c"), m = p.Int("m");
        switch (p.String("kind"))
        {
            case "entropy":
                var logits = CaseInputs.Normal(rng, r, c).ToDoubles();
                var prob = new double[r * c];
                for (int i = 0; i < r; i++)
                {
                    double max = double.NegativeInfinity, sum = 0;
                    for (int j = 0; j < c; j++) max = Math.Max(max, logits[i * c + j]);
                    for (int j = 0; j < c; j++) sum += prob[i * c + j] = Math.Exp(logits[i * c + j] - max);
                    for (int j = 0; j < c; j++) prob[i * c + j] /= sum;
                }
                return new NamedArrays { ["a"] = CaseInputs.RoundedF32(prob, [r, c]) };
            case "equilibrium":
                return new NamedArrays { ["a"] = CaseInputs.Uniform(rng, 0, 1, r, c) };
            case "compactness":
                return new NamedArrays { ["a"] = CaseInputs.Uniform(rng, 0.05, 1, r, c), ["coords"] = CaseInputs.Normal(rng, c, m) };
            case "second_moment":
                return new NamedArrays { ["a"] = CaseInputs.Uniform(rng, 0.05, 1, r, c), ["b"] = CaseInputs.Normal(rng, c, m) };
            case "log_det":
                return new NamedArrays { ["a"] = CaseInputs.RoundedF32(ConnectomicsDescriptors.DrawSpd(rng, r, r + 2), [r, r]) };
            case "qcfc":
                return new NamedArrays { ["a"] = CaseInputs.Normal(rng, r, c), ["b"] = CaseInputs.Normal(rng, r) };
            default:
                throw UnknownKind(p.String("kind"));
        }
    }

    private static ArgumentException UnknownKind(string kind) => new($"kind = '{kind}'; expected {Kinds}.", nameof(kind));

    private static ConformanceCase Case(string id, ulong seed, string kind, int r, int c, int m, params string[] tags) =>
        new(id, seed, Params.Of(("kind", kind), ("r", r), ("c", c), ("m", m)), $"{kind}, a [{r}, {c}]{(m > 0 ? $", M {m}" : "")}", tags);
}
