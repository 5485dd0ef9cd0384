using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.IO;
using Reference.Core.Kernels;

namespace Reference.Golden.Ops;

/// <summary>
/// Row-wise normalizations over x [rows x cols] and the pointwise activations, as defined by
/// <see cref="NaiveNormalization"/> and <see cref="NaiveActivations"/> (PyTorch's definitions and
/// defaults). nn.softmax, nn.log_softmax: y [rows x cols]. nn.layer_norm: y [rows x cols] with
/// gamma, beta [cols] and params eps, plus mean and rstd [rows] (what the backward pass keeps).
/// Activations nn.NAME: y = f(x) elementwise, x [n]; their inputs mix normal draws with the edge
/// values each function must get right (0, +-1e-8, +-20.5 around softplus' threshold, +-40).
/// </summary>
public static class KernelGolden
{
    private const string RowOrder = "each row independently; sums over the row in increasing column order into one float64 accumulator; " +
                                    "max subtracted before exp (log-sum-exp); two-pass mean then variance";

    /// <summary>Inputs x ~ scale * normal + shift per row, the shift testing that softmax subtracts the row maximum.</summary>
    private static string RowDistribution(string extra = "") =>
        "x = shift + scale * z, z " + CaseInputs.NormalF32 + extra + "; the affine map applied in float64 then rounded to float32";

    public static GoldenOp Softmax { get; } = Rowwise("nn.softmax", "y[r, :] = softmax(x[r, :]) over the last axis, x, y [rows x cols]",
        NaiveNormalization.Softmax, (x, y, cols, p) => FastNormalization.Softmax<float>(x, y, cols), (x, y, cols, p) => FastNormalization.Softmax<double>(x, y, cols),
        Tolerance.Close(1e-12, 1e-15, 1.3e-6, 1e-5,
            "elementwise after a cols-term sum: float64 exp and summation order differ by a few eps64, so rtol 1e-12 (atol 1e-15 for underflowing probabilities); float32: PyTorch's assert_close defaults"));

    public static GoldenOp LogSoftmax { get; } = Rowwise("nn.log_softmax", "y[r, :] = log_softmax(x[r, :]) over the last axis, x, y [rows x cols]",
        NaiveNormalization.LogSoftmax, (x, y, cols, p) => FastNormalization.LogSoftmax<float>(x, y, cols), (x, y, cols, p) => FastNormalization.LogSoftmax<double>(x, y, cols),
        Tolerance.Close(1e-12, 1e-12, 1.3e-6, 1e-5,
            "x - max - log(sum exp): the log of a cols-term sum is accurate to a few eps64 absolute, so rtol = atol = 1e-12; float32: PyTorch's assert_close defaults"));

    public static GoldenOp LayerNorm { get; } = new()
    {
        Name = "nn.layer_norm",
        Version = 1,
        Summary = "y = (x - mean) / sqrt(var + eps) * gamma + beta per row (biased variance, torch.nn.LayerNorm), x, y [rows x cols], gamma, beta [cols]; also mean, rstd [rows]",
        AccumulationOrder = RowOrder,
        Distribution = RowDistribution(" (x, then gamma = 1 + 0.1 z, beta = 0.1 z with z drawn the same way)"),
        Cases =
        [
            NormCase("single_1x1", 401, 1, 1, 1, 0, "edge"),
            NormCase("rows_3x7", 402, 3, 7, 1, 0),
            NormCase("rows_4x33", 403, 4, 33, 2, 0),
            NormCase("offset_2x16", 404, 2, 16, 0.1, 100, "edge"),
            NormCase("wide_2x257", 405, 2, 257, 1, 0),
        ],
        Inputs = (p, rng) =>
        {
            int rows = p.Int("rows"), cols = p.Int("cols");
            return new NamedArrays
            {
                ["x"] = Affine(rng, p.Double("shift"), p.Double("scale"), rows, cols),
                ["gamma"] = Affine(rng, 1.0, 0.1, cols),
                ["beta"] = Affine(rng, 0.0, 0.1, cols),
            };
        },
        Naive = (p, x) =>
        {
            int rows = p.Int("rows"), cols = p.Int("cols");
            var (y, mean, rstd) = (new double[rows * cols], new double[rows], new double[rows]);
            NaiveNormalization.LayerNorm(x["x"].ToDoubles(), x["gamma"].ToDoubles(), x["beta"].ToDoubles(), y, mean, rstd, cols, p.Double("eps"));
            return new NamedArrays { ["y"] = NpyArray.Of(y, rows, cols), ["mean"] = NpyArray.Of(mean, rows), ["rstd"] = NpyArray.Of(rstd, rows) };
        },
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastLayerNorm<float>(p, x) : FastLayerNorm<double>(p, x),
        Tolerance = (p, output) => output switch
        {
            "rstd" => Tolerance.Close(1e-10, 1e-12, 1e-5, 1e-5,
                "1 / sqrt(var + eps) after a two-pass variance (first-order insensitive to the mean's rounding): float64 rtol 1e-10; float32 1e-5 relative"),
            "mean" => Tolerance.Close(1e-12, 1e-12, 1.3e-6, 1e-5,
                "a cols-term mean: a few eps relative in either precision; float32: PyTorch's assert_close defaults"),
            _ => LayerNormY(1 + Math.Abs(p.Double("shift")) / p.Double("scale")),
        },
    };

    public static GoldenOp RmsNorm { get; } = new()
    {
        Name = "nn.rms_norm",
        Version = 1,
        Summary = "y = x / sqrt(mean(x^2) + eps) * gamma per row (Zhang and Sennrich 2019), x, y [rows x cols], gamma [cols]; also rstd [rows]",
        AccumulationOrder = RowOrder,
        Distribution = RowDistribution(" (x, then gamma = 1 + 0.1 z with z drawn the same way)"),
        Cases =
        [
            NormCase("single_1x1", 451, 1, 1, 1, 0, NaiveNormalization.DefaultRmsNormEps, "edge"),
            NormCase("rows_3x7", 452, 3, 7, 1, 0, NaiveNormalization.DefaultRmsNormEps),
            NormCase("rows_2x33", 453, 2, 33, 2, 0, NaiveNormalization.DefaultRmsNormEps),
            NormCase("offset_2x16", 454, 2, 16, 0.1, 100, NaiveNormalization.DefaultRmsNormEps, "edge"),
        ],
        Inputs = (p, rng) => new NamedArrays
        {
            ["x"] = Affine(rng, p.Double("shift"), p.Double("scale"), p.Int("rows"), p.Int("cols")),
            ["gamma"] = Affine(rng, 1.0, 0.1, p.Int("cols")),
        },
        Naive = (p, x) =>
        {
            int rows = p.Int("rows"), cols = p.Int("cols");
            var (y, rstd) = (new double[rows * cols], new double[rows]);
            NaiveNormalization.RmsNorm(x["x"].ToDoubles(), x["gamma"].ToDoubles(), y, rstd, cols, p.Double("eps"));
            return new NamedArrays { ["y"] = NpyArray.Of(y, rows, cols), ["rstd"] = NpyArray.Of(rstd, rows) };
        },
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastRmsNorm<float>(p, x) : FastRmsNorm<double>(p, x),
        // No mean is subtracted, so there is no cancellation: a cols-term sum of squares and one rsqrt.
        Tolerance = (_, output) => output == "rstd"
            ? Tolerance.Close(1e-12, 0, 2e-6, 0,
                "1 / sqrt(mean(x^2) + eps) is a positive scale (0.01 for the offset rows), so it is compared relatively: a few eps after a cols-term sum of squares")
            : Tolerance.Close(1e-12, 1e-12, 1.3e-6, 1e-5,
                "a cols-term sum of squares (no cancellation: nothing is subtracted) and one rsqrt: a few eps relative; float32: PyTorch's assert_close defaults"),
    };

    private static NamedArrays FastRmsNorm<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = p.Int("rows"), cols = p.Int("cols");
        var (y, rstd) = (new T[rows * cols], new T[rows]);
        FastNormalization.RmsNorm<T>(CaseInputs.As<T>(x["x"]), CaseInputs.As<T>(x["gamma"]), y, rstd, cols, p.Double("eps"));
        return new NamedArrays { ["y"] = CaseInputs.Output(y, rows, cols), ["rstd"] = CaseInputs.Output(rstd, rows) };
    }

    /// <summary>
    /// y = (x - mean) rstd loses digits when the row's offset dwarfs its spread: the mean's
    /// rounding (eps |shift|) divided by the spread (scale) is the condition number cond times eps.
    /// A float32 backend that accumulates in float32 is then held to atol 4 eps32 cond (cond = 1
    /// for centered rows gives PyTorch's default); one that accumulates in float64 (PyTorch on CPU)
    /// passes easily. For cond = 1001 (offset 100, spread 0.1) that is 2.4e-4, still far below the
    /// 1e-3 scaling a negative control applies to outputs of size ~1.
    /// </summary>
    private static Tolerance LayerNormY(double cond) =>
        Tolerance.Close(1e-10, 1e-12 * cond, 1.3e-6, Math.Max(1e-5, 4 * 5.9604644775390625e-8 * cond),
            $"normalized values are O(1) after mean and variance reductions; the row offset makes the condition number {cond:0.#} " +
            "(|shift| / scale + 1) and the float32 atol max(1e-5, 4 eps32 cond); float64 rtol 1e-10, atol 1e-12 cond");

    private static GoldenOp Rowwise(string name, string summary, NaiveRow naive, FastRow<float> fast32, FastRow<double> fast64, Tolerance tolerance) => new()
    {
        Name = name,
        Version = 1,
        Summary = summary,
        AccumulationOrder = RowOrder,
        Distribution = RowDistribution(),
        Cases =
        [
            RowCase("single_1x1", 501, 1, 1, 1, 0, "edge"),
            RowCase("rows_2x7", 502, 2, 7, 1, 0),
            RowCase("rows_3x16", 503, 3, 16, 3, 0),
            RowCase("rows_2x33", 504, 2, 33, 5, 0),
            RowCase("shifted_2x9", 505, 2, 9, 4, 1000, "edge"),
            RowCase("peaked_1x31", 506, 1, 31, 40, 0, "edge"),
        ],
        Inputs = (p, rng) => new NamedArrays { ["x"] = Affine(rng, p.Double("shift"), p.Double("scale"), p.Int("rows"), p.Int("cols")) },
        Naive = (p, x) =>
        {
            int rows = p.Int("rows"), cols = p.Int("cols");
            var y = new double[rows * cols];
            naive(x["x"].ToDoubles(), y, cols);
            return new NamedArrays { ["y"] = NpyArray.Of(y, rows, cols) };
        },
        Fast = (p, x, precision) =>
        {
            int rows = p.Int("rows"), cols = p.Int("cols");
            if (precision == Precision.Float32)
            {
                var y = new float[rows * cols];
                fast32(CaseInputs.As<float>(x["x"]), y, cols, p);
                return new NamedArrays { ["y"] = CaseInputs.Output(y, rows, cols) };
            }
            var y64 = new double[rows * cols];
            fast64(CaseInputs.As<double>(x["x"]), y64, cols, p);
            return new NamedArrays { ["y"] = CaseInputs.Output(y64, rows, cols) };
        },
        Tolerance = (_, _) => tolerance,
    };

    private delegate void NaiveRow(ReadOnlySpan<double> x, Span<double> y, int cols);

    private delegate void FastRow<T>(ReadOnlySpan<T> x, Span<T> y, int cols, JsonObject p);

    private delegate void NaiveMap(ReadOnlySpan<double> x, Span<double> y);

    private delegate void FastMap<T>(ReadOnlySpan<T> x, Span<T> y);

    /// <summary>Edge inputs every activation case starts with, before the normal draws.</summary>
    private static readonly double[] EdgeInputs = [0.0, -0.0, 1e-8, -1e-8, 1.0, -1.0, 20.5, -20.5, 40.0, -40.0];

    public static IReadOnlyList<GoldenOp> Activations { get; } =
    [
        Activation("relu", "max(x, 0)", NaiveActivations.Relu, FastActivations.Relu, FastActivations.Relu,
            Tolerance.Ulps(0, 0, "max(x, 0) is exact in every precision")),
        Activation("gelu", "x Phi(x), Phi the standard normal CDF (erf form)", NaiveActivations.Gelu, FastActivations.Gelu, FastActivations.Gelu,
            Tolerance.Ulps(8, 4, "a few roundings around erfc: the definition is up to 4 ulp from the correctly rounded value (measured against an 80-digit evaluation, e.g. x = -4.2074), so a backend within 2-4 ulp of the truth (a libm erf) stays within 8 ulp of this output in float64; atol covers outputs that underflow toward 0 for x << 0", 1e-300, 1e-37)),
        Activation("gelu_tanh", "x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2", NaiveActivations.GeluTanh, FastActivations.GeluTanh, FastActivations.GeluTanh,
            Tolerance.Ulps(16, 16, "tanh of a cubic: the inner polynomial's rounding is amplified near the tanh knee and 1 + tanh cancels for x << 0; atol for near-zero outputs", 1e-15, 1e-6)),
        Activation("silu", "x sigmoid(x)", NaiveActivations.Silu, FastActivations.Silu, FastActivations.Silu,
            Tolerance.Ulps(8, 8, "product of x and a sigmoid (exp, add, divide: ~3 roundings, exp implementations differ by 1-2 ulp); atol for near-zero outputs", 1e-300, 1e-37)),
        Activation("sigmoid", "1 / (1 + exp(-x))", NaiveActivations.Sigmoid, FastActivations.Sigmoid, FastActivations.Sigmoid,
            Tolerance.Ulps(8, 8, "exp, add, divide (~3 roundings; exp implementations differ by 1-2 ulp); atol for outputs near 0 (x << 0)", 1e-300, 1e-37)),
        Activation("log_sigmoid", "min(x, 0) - log1p(exp(-|x|))", NaiveActivations.LogSigmoid, FastActivations.LogSigmoid, FastActivations.LogSigmoid,
            Tolerance.Ulps(4, 4, "log1p(exp(.)) in its stable form: 2-3 roundings; atol for outputs near 0 (x >> 0)", 1e-300, 1e-37)),
        Activation("tanh", "tanh(x)", NaiveActivations.Tanh, FastActivations.Tanh, FastActivations.Tanh,
            Tolerance.Ulps(4, 4, "one libm-class function: implementations agree within 1-2 ulp")),
        Activation("softplus", "log1p(exp(x)), x above 20", NaiveActivations.Softplus, FastActivations.Softplus, FastActivations.Softplus,
            Tolerance.Ulps(4, 4, "log1p(exp(x)) with PyTorch's threshold 20: 2-3 roundings; atol for outputs near 0 (x << 0)", 1e-300, 1e-37)),
        Activation("elu", "x for x > 0, expm1(x) otherwise (alpha 1)", (x, y) => NaiveActivations.Elu(x, y), (x, y) => FastActivations.Elu<float>(x, y), (x, y) => FastActivations.Elu<double>(x, y),
            Tolerance.Ulps(4, 4, "expm1 in its accurate form: implementations agree within 1-2 ulp")),
    ];

    private static GoldenOp Activation(string name, string formula, NaiveMap naive, FastMap<float> fast32, FastMap<double> fast64, Tolerance tolerance) => new()
    {
        Name = "nn." + name,
        Version = 1,
        Summary = $"y = {formula} elementwise, x, y [n] (PyTorch's definition)",
        AccumulationOrder = "elementwise: no reduction; the naive tier evaluates the documented scalar formula in float64",
        Distribution = $"x starts with the {EdgeInputs.Length} edge values [{string.Join(", ", EdgeInputs.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}], " +
                       "the rest is scale * z, z " + CaseInputs.NormalF32 + "; the product rounded to float32",
        Cases =
        [
            new("edges_n10", 601, Params.Of(("n", EdgeInputs.Length), ("scale", 1.0)), "only the edge values", "edge"),
            new("normal_n33", 602, Params.Of(("n", 33), ("scale", 1.0)), "edge values then standard normal draws"),
            new("wide_n67", 603, Params.Of(("n", 67), ("scale", 8.0)), "edge values then normal draws of scale 8 (saturation regions)"),
        ],
        Inputs = (p, rng) =>
        {
            int n = p.Int("n");
            double scale = p.Double("scale");
            var data = new double[n];
            for (int i = 0; i < n; i++) data[i] = i < EdgeInputs.Length ? EdgeInputs[i] : (float)(scale * (float)rng.Normal());
            return new NamedArrays { ["x"] = NpyArray.Of(data, n) };
        },
        Naive = (p, x) =>
        {
            var y = new double[x["x"].Count];
            naive(x["x"].ToDoubles(), y);
            return new NamedArrays { ["y"] = NpyArray.Of(y, y.Length) };
        },
        Fast = (p, x, precision) =>
        {
            int n = x["x"].Count;
            if (precision == Precision.Float32)
            {
                var y = new float[n];
                fast32(CaseInputs.As<float>(x["x"]), y);
                return new NamedArrays { ["y"] = CaseInputs.Output(y, n) };
            }
            var y64 = new double[n];
            fast64(CaseInputs.As<double>(x["x"]), y64);
            return new NamedArrays { ["y"] = CaseInputs.Output(y64, n) };
        },
        Tolerance = (_, _) => tolerance,
    };

    private static NamedArrays FastLayerNorm<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = p.Int("rows"), cols = p.Int("cols");
        var (y, mean, rstd) = (new T[rows * cols], new T[rows], new T[rows]);
        FastNormalization.LayerNorm<T>(CaseInputs.As<T>(x["x"]), CaseInputs.As<T>(x["gamma"]), CaseInputs.As<T>(x["beta"]), y, mean, rstd, cols, p.Double("eps"));
        return new NamedArrays { ["y"] = CaseInputs.Output(y, rows, cols), ["mean"] = CaseInputs.Output(mean, rows), ["rstd"] = CaseInputs.Output(rstd, rows) };
    }

    /// <summary>shift + scale * z per element (z a float32-rounded normal draw), rounded to float32.</summary>
    private static NpyArray Affine(SplitMix64 rng, double shift, double scale, params int[] shape)
    {
        var data = new double[Shapes.ElementCount(shape, nameof(shape))];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(shift + scale * (float)rng.Normal());
        return NpyArray.Of(data, shape);
    }

    private static ConformanceCase RowCase(string id, ulong seed, int rows, int cols, double scale, double shift, params string[] tags) =>
        new(id, seed, Params.Of(("rows", rows), ("cols", cols), ("scale", scale), ("shift", shift)),
            $"{rows} row(s) of {cols}, x = {shift} + {scale} z", tags);

    /// <summary>A normalization case: a row case plus the eps (PyTorch's LayerNorm default unless given).</summary>
    private static ConformanceCase NormCase(string id, ulong seed, int rows, int cols, double scale, double shift, params string[] tags) =>
        NormCase(id, seed, rows, cols, scale, shift, NaiveNormalization.DefaultLayerNormEps, tags);

    private static ConformanceCase NormCase(string id, ulong seed, int rows, int cols, double scale, double shift, double eps, params string[] tags)
    {
        var spec = RowCase(id, seed, rows, cols, scale, shift, tags);
        spec.Params["eps"] = eps;
        return spec;
    }
}
