using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core.IO;
using Reference.Core.Linear;

namespace Reference.Golden.Ops;

/// <summary>
/// linalg.gemm: BLAS xGEMM in row-major storage, out[m x n] = alpha op(a) op(b) + beta c, with
/// op(x) = x or x^T (params trans_a, trans_b). Inputs a [m x k] (or [k x m] when trans_a),
/// b [k x n] (or [n x k] when trans_b), c [m x n] only when beta != 0. The naive definition is
/// <see cref="NaiveGemm.Multiply"/>; cases cover the sizes that break blocking and vector tails
/// (1, 7, 8, 9, 31, 33, 257) and every transpose combination.
/// </summary>
public static class GemmGolden
{
    public static GoldenOp Op { get; } = new()
    {
        Name = "linalg.gemm",
        Version = 1,
        Summary = "out[m x n] = alpha * op(a) @ op(b) + beta * c, op(x) = x or x^T, row-major",
        AccumulationOrder = "out[i, j]: float64 acc = 0; acc += a[i, p] * b[p, j] for p = 0..k-1 in order; out = alpha * acc (+ beta * c[i, j] when beta != 0)",
        Distribution = CaseInputs.NormalF32 + " (a, b, then c when beta != 0)",
        Cases =
        [
            Case("tiny_1x1x1", 101, 1, 1, 1, false, false, tags: "edge"),
            Case("vec_1x9x7", 102, 1, 9, 7, false, false, tags: "edge"),
            Case("odd_7x9x8_nn", 103, 7, 9, 8, false, false),
            Case("odd_9x7x31_tn", 104, 9, 7, 31, true, false),
            Case("odd_8x33x9_nt", 105, 8, 33, 9, false, true),
            Case("odd_33x31x7_tt", 106, 33, 31, 7, true, true),
            Case("long_k_5x6x257_nn", 107, 5, 6, 257, false, false),
            Case("alpha_beta_17x16x15_tn", 108, 17, 16, 15, true, false, alpha: -0.5, beta: 2.0),
            Case("square_32x32x32_nt", 109, 32, 32, 32, false, true),
            Case("empty_k_3x4x0", 110, 3, 4, 0, false, false, tags: "edge"),
        ],
        Inputs = (p, rng) =>
        {
            int m = p.Int("m"), n = p.Int("n"), k = p.Int("k");
            var inputs = new NamedArrays
            {
                ["a"] = p.Bool("trans_a") ? CaseInputs.Normal(rng, k, m) : CaseInputs.Normal(rng, m, k),
                ["b"] = p.Bool("trans_b") ? CaseInputs.Normal(rng, n, k) : CaseInputs.Normal(rng, k, n),
            };
            if (p.Double("beta") != 0) inputs["c"] = CaseInputs.Normal(rng, m, n);
            return inputs;
        },
        Naive = (p, x) =>
        {
            var (m, n, k, ta, tb, alpha, beta) = Read(p);
            var c = x.TryGetValue("c", out var c0) ? c0.ToDoubles() : new double[m * n];
            NaiveGemm.Multiply(ta, tb, m, n, k, alpha, x["a"].ToDoubles(), Lda(ta, m, k), x["b"].ToDoubles(), Ldb(tb, n, k), beta, c, n);
            return new NamedArrays { ["out"] = NpyArray.Of(c, m, n) };
        },
        Fast = (p, x, precision) => precision == Precision.Float32 ? Fast<float>(p, x) : Fast<double>(p, x),
        Tolerance = (p, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5,
            "GEMM is a length-k reduction per element: float64 reorderings stay within ~k eps64 relative (1e-12 leaves margin to k = 257); " +
            "float32 accumulates ~sqrt(k) eps32 ~ 1e-6, so 1e-5 (the conventions' float32 bound) fails any real bug (e.g. one missed term of 257)"),
    };

    private static NamedArrays Fast<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (m, n, k, ta, tb, alpha, beta) = Read(p);
        var c = x.TryGetValue("c", out var c0) ? CaseInputs.As<T>(c0) : new T[m * n];
        FastGemm.Multiply(ta, tb, m, n, k, T.CreateTruncating(alpha), CaseInputs.As<T>(x["a"]), Lda(ta, m, k),
            CaseInputs.As<T>(x["b"]), Ldb(tb, n, k), T.CreateTruncating(beta), c, n);
        return new NamedArrays { ["out"] = CaseInputs.Output(c, m, n) };
    }

    /// <summary>Row stride of the stored a (BLAS requires >= 1 even when a has no columns).</summary>
    private static int Lda(bool transA, int m, int k) => Math.Max(1, transA ? m : k);

    private static int Ldb(bool transB, int n, int k) => Math.Max(1, transB ? k : n);

    private static (int M, int N, int K, bool TransA, bool TransB, double Alpha, double Beta) Read(JsonObject p) =>
        (p.Int("m"), p.Int("n"), p.Int("k"), p.Bool("trans_a"), p.Bool("trans_b"), p.Double("alpha"), p.Double("beta"));

    private static ConformanceCase Case(string id, ulong seed, int m, int n, int k, bool ta, bool tb,
        double alpha = 1.0, double beta = 0.0, params string[] tags) =>
        new(id, seed, Params.Of(("m", m), ("n", n), ("k", k), ("trans_a", ta), ("trans_b", tb), ("alpha", alpha), ("beta", beta)),
            $"{m}x{k} @ {k}x{n}{(ta ? ", a transposed" : "")}{(tb ? ", b transposed" : "")}{(alpha != 1 || beta != 0 ? $", alpha {alpha}, beta {beta}" : "")}",
            tags);
}
