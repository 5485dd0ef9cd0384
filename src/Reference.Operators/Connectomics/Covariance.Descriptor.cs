using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;

namespace Reference.Operators.Connectomics;

public static partial class Covariance
{
    /// <summary>The registry entry of the covariance ("connectomics.covariance").</summary>
    public static OperatorDescriptor Descriptor { get; } = ConnectomicsDescriptors.CovarianceLike(
        "connectomics.covariance", "Weighted covariance",
        "S = X0 M X0^T / f + l2 I over the last axis of x [B, V, T] (hypercoil cov: vector or matrix weights, ddof, l2)",
        "cov", "[B, V, V]", "covariance S",
        "Covariance.Forward(x, weight, ddof, l2)", (x, w, ddof, l2) => Forward(x, w, ddof, l2),
        "ConnectomicsOps.Covariance(x, weight, ddof, l2) (VJP: Covariance.Backward)", (x, w, ddof, l2) => ConnectomicsOps.Covariance(x, w, ddof, l2),
        Tolerance.NormRelative(1e-12, 1e-5,
            "a length-T dot product per entry after centring: float64 reorderings stay ~1e-15 (1e-12 leaves a margin); float32 GEMM accumulation ~sqrt(T) eps32 ~ 1e-6, so 1e-5"),
        fast: true);

    /// <summary>The registry entry of the Pearson correlation ("connectomics.correlation").</summary>
    public static class CorrelationMeasure
    {
        public static OperatorDescriptor Descriptor { get; } = ConnectomicsDescriptors.CovarianceLike(
            "connectomics.correlation", "Pearson correlation",
            "R_ij = S_ij / sqrt(S_ii S_jj) of the weighted covariance S of x [B, V, T] (hypercoil corr)",
            "corr", "[B, V, V]", "correlation R (1 on the diagonal)",
            "Covariance.Correlation(x, weight, ddof, l2)", (x, w, ddof, l2) => Correlation(x, w, ddof, l2),
            "ConnectomicsOps.Correlation(x, weight, ddof, l2) (VJPs: Covariance.Backward, Covariance.CorrelationFromBackward)",
            (x, w, ddof, l2) => ConnectomicsOps.Correlation(x, w, ddof, l2),
            Tolerance.NormRelative(1e-12, 1e-5,
                "the covariance's length-T sums, then one division by sqrt(S_ii S_jj): float64 ~1e-15, float32 ~1e-6"),
            fast: false);
    }

    /// <summary>The registry entry of the partial correlation ("connectomics.partial_correlation").</summary>
    public static class PartialCorrelationMeasure
    {
        public static OperatorDescriptor Descriptor { get; } = ConnectomicsDescriptors.CovarianceLike(
            "connectomics.partial_correlation", "Partial correlation",
            "-P_ij / sqrt(P_ii P_jj) off the diagonal, 1 on it, P = S^-1 the precision of x [B, V, T] (hypercoil partialcorr)",
            "pcorr", "[B, V, V]", "partial correlation",
            "Covariance.PartialCorrelation(x, weight, ddof, l2)", (x, w, ddof, l2) => PartialCorrelation(x, w, ddof, l2),
            "ConnectomicsOps.PartialCorrelation(x, weight, ddof, l2) (VJPs: Covariance.Backward, Covariance.InverseBackward, Covariance.CorrelationFromBackward)",
            (x, w, ddof, l2) => ConnectomicsOps.PartialCorrelation(x, w, ddof, l2),
            Tolerance.NormRelative(1e-10, 1e-4,
                "an inverse amplifies rounding by the covariance's condition number (< 1e2 for these T >> V cases): float64 routes (Gauss-Jordan vs LAPACK) ~1e-14 x cond, so 1e-10; float32 ~1e-6 x cond, so 1e-4"),
            fast: false);
    }
}

/// <summary>The registry entry of the precision (inverse covariance, "connectomics.precision").</summary>
public static partial class Covariance
{
    public static class PrecisionMeasure
    {
        public static OperatorDescriptor Descriptor { get; } = ConnectomicsDescriptors.CovarianceLike(
            "connectomics.precision", "Precision (inverse covariance)",
            "P = S^-1 of the weighted covariance S (with its l2 ridge) of x [B, V, T] (hypercoil precision)",
            "prec", "[B, V, V]", "precision P",
            "Covariance.Precision(x, weight, ddof, l2)", (x, w, ddof, l2) => Precision(x, w, ddof, l2),
            "ConnectomicsOps.Precision(x, weight, ddof, l2) (VJPs: Covariance.Backward, Covariance.InverseBackward)",
            (x, w, ddof, l2) => ConnectomicsOps.Precision(x, w, ddof, l2),
            Tolerance.NormRelative(1e-10, 1e-4,
                "an inverse amplifies rounding by the covariance's condition number (< 1e2 for these T >> V cases): float64 routes (Gauss-Jordan vs LAPACK) ~1e-14 x cond, so 1e-10; float32 ~1e-6 x cond, so 1e-4"),
            fast: false);
    }
}

/// <summary>What the connectomics descriptors share: case parameters, input draws and the covariance-like template.</summary>
internal static class ConnectomicsDescriptors
{
    public const string Paper = "Ciric et al., Differentiable programming for functional connectomics (arXiv:2206.00649), section 2; semantics of rciric/hypercoil functional/";

    public static readonly IReadOnlyDictionary<string, string> NotASequenceMixer = new Dictionary<string, string>
    {
        ["forms"] = "one definition: a statistic of the whole series, with no recurrent, chunked or transform form to cross-check",
        ["materialize"] = "not a sequence mixer: the output is a V x V (or parcel x T) statistic, not y = T u along the sequence",
        ["realize"] = "not a sequence mixer: no diagonal state-space realization",
        ["step"] = "not a sequence mixer: no recurrent decoding step",
        ["ess"] = "not a sequence mixer: effective state size is defined for causal sequence operators",
    };

    /// <summary>Without for an op with no fast tier, plus the shared reasons.</summary>
    public static IReadOnlyDictionary<string, string> WithoutFast(string reason) =>
        new Dictionary<string, string>(NotASequenceMixer) { ["fast"] = reason };

    public static OperatorDescriptor CovarianceLike(string name, string title, string summary, string output, string outputShape, string outputMeaning,
        string naiveEntry, Func<Tensor<double>, Tensor<double>?, int, double, Tensor<double>> naive,
        string autodiffEntry, Func<Variable, Variable?, int, double, Variable> autodiff, Tolerance tolerance, bool fast) => new()
        {
            Name = name,
            Version = 1,
            Title = title,
            Paper = Paper + "cov.py",
            File = "src/Reference.Operators/Connectomics/Covariance.cs",
            Summary = summary,
            Causal = false,
            Parameters =
            [
                new("b", "int", "-", "batch B"),
                new("v", "int", "-", "variables (regions) V"),
                new("t", "int", "-", "observations (time points) T"),
                new("weights", "string", "none", "none, vector ([T], numpy aweights) or matrix ([T, T] symmetric coupling)"),
                new("ddof", "int", "1", "degrees of freedom removed: f = W - ddof c.c / W (W = 1^T M 1, c = M^T 1); hypercoil's bias = true is ddof 0"),
                new("l2", "float", "0", "ridge added to the covariance's diagonal"),
            ],
            Inputs =
            [
                new("x", "[B, V, T]", "variables x observations (covariance over the last axis)"),
                new("weight", "[T] or [T, T]", "observation weights (vector) or coupling (matrix)", Optional: true),
            ],
            Outputs = [new(output, outputShape, outputMeaning)],
            NaiveEntry = naiveEntry,
            Naive = (p, x) => NamedTensors.Outputs((output, naive(x.Double("x"), x.Optional<double>("weight"), p.Int("ddof"), p.Double("l2")))),
            FastEntry = fast ? "Covariance.ForwardFast<T>(x, weight, ddof, l2) (float32, float64; FastGemm)" : null,
            Fast = fast ? (p, x, precision) => precision == Precision.Float32 ? FastCovariance<float>(p, x, output) : FastCovariance<double>(p, x, output) : null,
            AutodiffEntry = autodiffEntry,
            Differentiable = ["x", "weight"],
            Autodiff = (p, _, d) => autodiff(d[0], d.Length > 1 ? d[1] : null, p.Int("ddof"), p.Double("l2")),
            AccumulationOrder = "a = M 1 / W (row sums, k ascending); mu_i = sum_t x_it a_t (t ascending); X0 = x - mu; " +
                "Z = X0 M (sum over s ascending; elementwise for vector weights); S_ij = (sum_t Z_it X0_jt, t ascending) / f, then + l2 on the diagonal; " +
                "inverses by Gauss-Jordan with partial pivoting; correlations S_ij d_i d_j with d_i = 1 / sqrt(S_ii)",
            Distribution = CaseInputs.NormalF32 + " (x [B, V, T]); then vector weights uniform[0.1, 1) [T], or matrix weights " +
                "M = U U^T / T (sums ascending) with U uniform[0, 1) [T, T] drawn row-major (not rounded), computed in float64 and rounded to float32",
            Cases =
            [
                Case("plain_b1_v4_t16", 1801, 1, 4, 16, "none", 1, 0),
                Case("vector_b2_v5_t23_l2", 1802, 2, 5, 23, "vector", 1, 0.1),
                Case("matrix_b1_v3_t12_ddof0", 1803, 1, 3, 12, "matrix", 0, 0),
                Case("vector_b1_v6_t40_ddof2", 1804, 1, 6, 40, "vector", 2, 0),
                Case("single_b1_v1_t3", 1805, 1, 1, 3, "none", 1, 0, "edge"),
            ],
            DemoCase = "vector_b2_v5_t23_l2",
            DrawInputs = DrawSeries,
            Tolerance = (_, _) => tolerance,
            Without = fast ? NotASequenceMixer : WithoutFast("the work is the covariance (connectomics.covariance has the GEMM tier); " +
                "the V x V normalization and inverse that follow are O(V^2) and O(V^3) and naive here"),
        };

    public static ConformanceCase Case(string id, ulong seed, int b, int v, int t, string weights, int ddof, double l2, params string[] tags) =>
        new(id, seed, Params.Of(("b", b), ("v", v), ("t", t), ("weights", weights), ("ddof", ddof), ("l2", l2)),
            $"B {b}, V {v}, T {t}, {weights} weights, ddof {ddof}, l2 {l2}", tags);

    public static NamedArrays DrawSeries(JsonObject p, SplitMix64 rng)
    {
        int t = p.Int("t");
        var inputs = new NamedArrays { ["x"] = CaseInputs.Normal(rng, p.Int("b"), p.Int("v"), t) };
        DrawWeights(p.String("weights"), t, rng, inputs);
        return inputs;
    }

    /// <summary>Adds "weight" to <paramref name="inputs"/>: nothing (none), uniform[0.1, 1) [T] (vector) or U U^T / T (matrix).</summary>
    public static void DrawWeights(string kind, int t, SplitMix64 rng, NamedArrays inputs)
    {
        switch (kind)
        {
            case "vector":
                inputs["weight"] = CaseInputs.Uniform(rng, 0.1, 1.0, t);
                break;
            case "matrix":
                // A positive semidefinite coupling with positive entries: U U^T / T.
                var u = new double[t * t];
                for (int i = 0; i < u.Length; i++) u[i] = rng.Uniform();
                var m = DenseMatrix.Multiply(u, u, t, t, t, transB: true);
                inputs["weight"] = CaseInputs.RoundedF32(m.Select(e => e / t).ToArray(), [t, t]);
                break;
        }
    }

    private static NamedArrays FastCovariance<T>(JsonObject p, NamedArrays x, string output) where T : unmanaged, IFloatingPointIeee754<T> =>
        NamedTensors.Outputs((output, Covariance.ForwardFast(x.As<T>("x"), x.Optional<T>("weight"), p.Int("ddof"), p.Double("l2"))));

    /// <summary>B symmetric matrices (G + G^T) * scale with G [V, V] normal rounded to float32, computed in float64.</summary>
    public static double[] DrawSymmetric(SplitMix64 rng, int b, int v, double scale)
    {
        var s = new double[b * v * v];
        for (int m = 0; m < b; m++)
        {
            var g = CaseInputs.Normal(rng, v, v).ToDoubles();
            for (int i = 0; i < v; i++)
                for (int j = 0; j < v; j++) s[m * v * v + i * v + j] = (g[i * v + j] + g[j * v + i]) * scale;
        }
        return s;
    }

    /// <summary>N SPD matrices [N, V, V] drawn by <see cref="DrawSpd"/> with k = V + 2, rounded to float32.</summary>
    public static NamedArrays DrawSpdStack(SplitMix64 rng, string name, int count, int v)
    {
        var x = new double[count * v * v];
        for (int i = 0; i < count; i++) DrawSpd(rng, v, v + 2).CopyTo(x, i * v * v);
        return new NamedArrays { [name] = CaseInputs.RoundedF32(x, [count, v, v]) };
    }

    /// <summary>A random SPD matrix B B^T / k + I / 2 from B ~ normal rounded to float32 [n, k], computed in float64 (then rounded to float32).</summary>
    public static double[] DrawSpd(SplitMix64 rng, int n, int k)
    {
        var b = CaseInputs.Normal(rng, n, k).ToDoubles();
        var a = DenseMatrix.Multiply(b, b, n, k, n, transB: true);
        for (int i = 0; i < n * n; i++) a[i] /= k;
        for (int i = 0; i < n; i++) a[i * n + i] += 0.5;
        return a;
    }
}

/// <summary>The registry entries of the paired (cross) and conditional covariance.</summary>
public static partial class Covariance
{
    /// <summary>"connectomics.paired_covariance": C_XY = X0 M Y0^T / f (hypercoil pairedcov; l2 has no effect there, so it is no parameter here).</summary>
    public static class PairedMeasure
    {
        public static OperatorDescriptor Descriptor { get; } = new()
        {
            Name = "connectomics.paired_covariance",
            Version = 1,
            Title = "Paired (cross) covariance",
            Paper = ConnectomicsDescriptors.Paper + "cov.py (pairedcov)",
            File = "src/Reference.Operators/Connectomics/Covariance.cs",
            Summary = "C = X0 M Y0^T / f of x [B, Vx, T] and y [B, Vy, T], each centred by its own weighted mean (hypercoil pairedcov: vector or matrix weights, ddof; no ridge)",
            Causal = false,
            Parameters =
            [
                new("b", "int", "-", "batch B"),
                new("vx", "int", "-", "variables of x, Vx"),
                new("vy", "int", "-", "variables of y, Vy"),
                new("t", "int", "-", "observations (time points) T"),
                new("weights", "string", "none", "none, vector ([T], numpy aweights) or matrix ([T, T] symmetric coupling)"),
                new("ddof", "int", "1", "degrees of freedom removed: f = W - ddof c.c / W (W = 1^T M 1, c = M^T 1)"),
            ],
            Inputs =
            [
                new("x", "[B, Vx, T]", "first set of variables x observations"),
                new("y", "[B, Vy, T]", "second set of variables x the same observations"),
                new("weight", "[T] or [T, T]", "observation weights (vector) or coupling (matrix)", Optional: true),
            ],
            Outputs = [new("pcov", "[B, Vx, Vy]", "cross covariance C")],
            NaiveEntry = "Covariance.Paired(x, y, weight, ddof)",
            Naive = (p, x) => NamedTensors.Outputs(("pcov", Paired(x.Double("x"), x.Double("y"), x.Optional<double>("weight"), p.Int("ddof")))),
            AutodiffEntry = "ConnectomicsOps.PairedCovariance(x, y, weight, ddof) (VJP: Covariance.PairedBackward)",
            Differentiable = ["x", "y", "weight"],
            Autodiff = (p, _, d) => ConnectomicsOps.PairedCovariance(d[0], d[1], d.Length > 2 ? d[2] : null, p.Int("ddof")),
            AccumulationOrder = "a = M 1 / W (row sums, k ascending); mu = x a, nu = y a (t ascending); X0 = x - mu, Y0 = y - nu; " +
                "Z = X0 M (sum over s ascending; elementwise for vector weights); C_ij = (sum_t Z_it Y0_jt, t ascending) / f",
            Distribution = CaseInputs.NormalF32 + " (x [B, Vx, T], then y [B, Vy, T]); then vector weights uniform[0.1, 1) [T], or matrix weights " +
                "M = U U^T / T (sums ascending) with U uniform[0, 1) [T, T] drawn row-major (not rounded), computed in float64 and rounded to float32",
            Cases =
            [
                PairCase("plain_b1_vx3_vy4_t16", 1811, 1, 3, 4, 16, "none", 1),
                PairCase("vector_b2_vx4_vy2_t21", 1812, 2, 4, 2, 21, "vector", 1),
                PairCase("matrix_b1_vx2_vy3_t10_ddof0", 1813, 1, 2, 3, 10, "matrix", 0),
                PairCase("vector_b1_vx5_vy5_t30_ddof2", 1814, 1, 5, 5, 30, "vector", 2),
                PairCase("single_b1_vx1_vy1_t2", 1815, 1, 1, 1, 2, "none", 1, "edge"),
            ],
            DemoCase = "vector_b2_vx4_vy2_t21",
            DrawInputs = (p, rng) => DrawTwoSeries(p, rng, "y", p.Int("vx"), p.Int("vy")),
            Tolerance = (_, _) => Tolerance.NormRelative(1e-12, 1e-5,
                "a length-T dot product per entry after centring, as the covariance: float64 reorderings ~1e-15, float32 accumulation ~sqrt(T) eps32, so 1e-5"),
            Without = ConnectomicsDescriptors.WithoutFast("the cross product is the covariance's GEMM with two operands; connectomics.covariance carries the GEMM tier"),
        };

        private static ConformanceCase PairCase(string id, ulong seed, int b, int vx, int vy, int t, string weights, int ddof, params string[] tags) =>
            new(id, seed, Params.Of(("b", b), ("vx", vx), ("vy", vy), ("t", t), ("weights", weights), ("ddof", ddof)),
                $"B {b}, Vx {vx}, Vy {vy}, T {t}, {weights} weights, ddof {ddof}", tags);
    }

    /// <summary>"connectomics.conditional_covariance": S_X|Z = S_XX - C_XZ S_ZZ^-1 C_XZ^T (hypercoil conditionalcov; l2 enters S_XX and S_ZZ, not C_XZ).</summary>
    public static class ConditionalMeasure
    {
        public static OperatorDescriptor Descriptor { get; } = new()
        {
            Name = "connectomics.conditional_covariance",
            Version = 1,
            Title = "Conditional covariance",
            Paper = ConnectomicsDescriptors.Paper + "cov.py (conditionalcov)",
            File = "src/Reference.Operators/Connectomics/Covariance.cs",
            Summary = "S_X|Z = S_XX - C_XZ S_ZZ^-1 C_XZ^T for x [B, V, T] conditioned on z [B, Vz, T]: the Schur complement of the joint covariance " +
                "(hypercoil conditionalcov: the ridge l2 is added to S_XX and S_ZZ, the paired C_XZ has none)",
            Causal = false,
            Parameters =
            [
                new("b", "int", "-", "batch B"),
                new("v", "int", "-", "variables of x, V"),
                new("vz", "int", "-", "conditioning variables Vz"),
                new("t", "int", "-", "observations (time points) T"),
                new("weights", "string", "none", "none, vector ([T], numpy aweights) or matrix ([T, T] symmetric coupling)"),
                new("ddof", "int", "1", "degrees of freedom removed: f = W - ddof c.c / W (W = 1^T M 1, c = M^T 1)"),
                new("l2", "float", "0", "ridge added to the diagonals of S_XX and S_ZZ"),
            ],
            Inputs =
            [
                new("x", "[B, V, T]", "variables x observations"),
                new("z", "[B, Vz, T]", "conditioning variables x the same observations"),
                new("weight", "[T] or [T, T]", "observation weights (vector) or coupling (matrix)", Optional: true),
            ],
            Outputs = [new("ccov", "[B, V, V]", "conditional covariance S_X|Z")],
            NaiveEntry = "Covariance.Conditional(x, z, weight, ddof, l2)",
            Naive = (p, x) => NamedTensors.Outputs(("ccov", Conditional(x.Double("x"), x.Double("z"), x.Optional<double>("weight"), p.Int("ddof"), p.Double("l2")))),
            AutodiffEntry = "ConnectomicsOps.ConditionalCovariance(x, z, weight, ddof, l2) (VJPs: Covariance.Backward, Covariance.PairedBackward, Covariance.InverseBackward, MatMul)",
            Differentiable = ["x", "z", "weight"],
            Autodiff = (p, _, d) => ConnectomicsOps.ConditionalCovariance(d[0], d[1], d.Length > 2 ? d[2] : null, p.Int("ddof"), p.Double("l2")),
            AccumulationOrder = "S_XX and S_ZZ as connectomics.covariance, C_XZ as connectomics.paired_covariance; S_ZZ^-1 by Gauss-Jordan with partial pivoting; " +
                "K = C_XZ S_ZZ^-1 then K C_XZ^T (inner sums ascending), subtracted from S_XX",
            Distribution = CaseInputs.NormalF32 + " (x [B, V, T], then z [B, Vz, T]); then vector weights uniform[0.1, 1) [T], or matrix weights " +
                "M = U U^T / T (sums ascending) with U uniform[0, 1) [T, T] drawn row-major (not rounded), computed in float64 and rounded to float32",
            Cases =
            [
                CondCase("plain_b1_v3_vz2_t20", 1821, 1, 3, 2, 20, "none", 1, 0),
                CondCase("vector_b2_v4_vz3_t25_l2", 1822, 2, 4, 3, 25, "vector", 1, 0.1),
                CondCase("matrix_b1_v3_vz2_t14_ddof0", 1823, 1, 3, 2, 14, "matrix", 0, 0),
                CondCase("vector_b1_v5_vz4_t40_ddof2", 1824, 1, 5, 4, 40, "vector", 2, 0),
                CondCase("single_b1_v1_vz1_t4", 1825, 1, 1, 1, 4, "none", 1, 0, "edge"),
            ],
            DemoCase = "vector_b2_v4_vz3_t25_l2",
            DrawInputs = (p, rng) => DrawTwoSeries(p, rng, "z", p.Int("v"), p.Int("vz")),
            Tolerance = (_, _) => Tolerance.NormRelative(1e-10, 1e-4,
                "an inverse of S_ZZ amplifies rounding by its condition number (< 1e2 for these T >> Vz cases): float64 routes ~1e-14 x cond, so 1e-10; float32 ~1e-6 x cond, so 1e-4"),
            Without = ConnectomicsDescriptors.WithoutFast("the work is two covariances and a paired one (connectomics.covariance has the GEMM tier); " +
                "the Vz x Vz inverse and the Schur product are O(Vz^3 + V^2 Vz) and naive here"),
        };

        private static ConformanceCase CondCase(string id, ulong seed, int b, int v, int vz, int t, string weights, int ddof, double l2, params string[] tags) =>
            new(id, seed, Params.Of(("b", b), ("v", v), ("vz", vz), ("t", t), ("weights", weights), ("ddof", ddof), ("l2", l2)),
                $"B {b}, V {v}, Vz {vz}, T {t}, {weights} weights, ddof {ddof}, l2 {l2}", tags);
    }

    /// <summary>x [B, Vx, T], then the second series <paramref name="second"/> [B, V2, T], then the weights as <see cref="ConnectomicsDescriptors.DrawSeries"/> draws them.</summary>
    private static NamedArrays DrawTwoSeries(JsonObject p, SplitMix64 rng, string second, int vx, int v2)
    {
        int b = p.Int("b"), t = p.Int("t");
        var inputs = new NamedArrays { ["x"] = CaseInputs.Normal(rng, b, vx, t), [second] = CaseInputs.Normal(rng, b, v2, t) };
        ConnectomicsDescriptors.DrawWeights(p.String("weights"), t, rng, inputs);
        return inputs;
    }
}
