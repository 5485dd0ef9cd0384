using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.Fourier;
using Reference.Core.IO;

namespace Reference.Golden.Ops;

/// <summary>
/// fft.fft: the unnormalized forward DFT of every row, X[r, k] = sum_j x[r, j] exp(-2 pi i j k / n)
/// (numpy.fft.fft's convention), x, X [rows x n] complex128. Definition: <see cref="NaiveDft"/>
/// (direct O(n^2) sum); fast tier: <see cref="FftPlan{T}"/> (radix-2 for powers of two, Bluestein
/// otherwise), so the cases cover both paths.
/// fft.causal_conv: y[c, t] = sum_{j &lt;= min(t, Lk - 1)} k[c, j] u[c, t - j], u, y [C x L],
/// k [C x Lk]. Definition: <see cref="FftConvolution.NaiveCausal"/> (the direct sum); fast tier:
/// <see cref="FftConvolution.Causal{T}"/> through real FFTs.
/// </summary>
public static class FourierGolden
{
    private const string DftOrder = "X[r, k]: float64 complex acc = 0; acc += x[r, j] * exp(-2 pi i ((j k) mod n) / n) for j = 0..n-1 in order";

    private const string ReductionRationale =
        "an n-term sum per output: float64 FFT/DFT reorderings stay ~log2(n) eps64 relative (1e-12 leaves a wide margin); " +
        "float32 FFTs (incl. Bluestein's three transforms) reach ~1e-6, so 1e-5 is the conventions' float32 bound";

    public static GoldenOp Fft { get; } = new()
    {
        Name = "fft.fft",
        Version = 1,
        Summary = "X[rows x n] = unnormalized forward DFT of each row of x[rows x n] (numpy.fft.fft), complex128",
        AccumulationOrder = DftOrder,
        Distribution = "complex normal: for each element in row-major order, real then imaginary part drawn as in " + CaseInputs.NormalF32,
        Cases =
        [
            FftCase("n1", 201, 1, 1, "edge"),
            FftCase("pow2_n2", 202, 2, 2),
            FftCase("pow2_n8", 203, 3, 8),
            FftCase("pow2_n64", 204, 2, 64),
            FftCase("odd_n3", 205, 2, 3),
            FftCase("prime_n7", 206, 1, 7),
            FftCase("n12", 207, 2, 12),
            FftCase("prime_n17", 208, 1, 17),
            FftCase("prime_n97", 209, 1, 97),
            FftCase("n100", 210, 2, 100),
        ],
        Inputs = (p, rng) => new NamedArrays { ["x"] = ComplexNormal(rng, p.Int("rows"), p.Int("n")) },
        Naive = (p, x) =>
        {
            int rows = p.Int("rows"), n = p.Int("n");
            var input = x["x"].Get<Complex>();
            var result = new Complex[rows * n];
            for (int r = 0; r < rows; r++) NaiveDft.Forward(input.AsSpan(r * n, n), result.AsSpan(r * n, n));
            return new NamedArrays { ["y"] = NpyArray.Of(result, rows, n) };
        },
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastFft<float>(p, x) : FastFft<double>(p, x),
        Tolerance = (_, _) => Tolerance.NormRelative(1e-12, 1e-5, ReductionRationale),
    };

    public static GoldenOp CausalConv { get; } = new()
    {
        Name = "fft.causal_conv",
        Version = 1,
        Summary = "y[C x L]: y[c, t] = sum_{j = 0..min(t, Lk - 1)} k[c, j] u[c, t - j], u [C x L], k [C x Lk]",
        AccumulationOrder = "y[c, t]: float64 acc = 0; acc += k[c, j] * u[c, t - j] for j = 0..min(t, Lk - 1) in order (the direct sum)",
        Distribution = CaseInputs.NormalF32 + " (u, then k)",
        Cases =
        [
            ConvCase("single_1x1_k1", 301, 1, 1, 1, "edge"),
            ConvCase("short_kernel_2x64_k5", 302, 2, 64, 5),
            ConvCase("full_kernel_3x16_k16", 303, 3, 16, 16),
            ConvCase("odd_2x33_k7", 304, 2, 33, 7),
            ConvCase("long_kernel_3x9_k17", 305, 3, 9, 17, "edge"),
            ConvCase("channels_4x100_k100", 306, 4, 100, 100),
        ],
        Inputs = (p, rng) => new NamedArrays
        {
            ["u"] = CaseInputs.Normal(rng, p.Int("channels"), p.Int("length")),
            ["k"] = CaseInputs.Normal(rng, p.Int("channels"), p.Int("kernel_length")),
        },
        Naive = (p, x) =>
        {
            int c = p.Int("channels"), l = p.Int("length"), lk = p.Int("kernel_length");
            var y = new double[c * l];
            FftConvolution.NaiveCausal(x["u"].ToDoubles(), x["k"].ToDoubles(), y, c, l, lk);
            return new NamedArrays { ["y"] = NpyArray.Of(y, c, l) };
        },
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastConv<float>(p, x) : FastConv<double>(p, x),
        Tolerance = (_, _) => Tolerance.NormRelative(1e-12, 1e-5, ReductionRationale),
    };

    private static NamedArrays FastFft<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = p.Int("rows"), n = p.Int("n");
        var input = x["x"].Get<Complex>();
        var re = new T[rows * n];
        var im = new T[rows * n];
        for (int i = 0; i < input.Length; i++)
        {
            re[i] = T.CreateTruncating(input[i].Real);
            im[i] = T.CreateTruncating(input[i].Imaginary);
        }
        new FftPlan<T>(n).ForwardRows(re, im, rows);
        var result = new Complex[rows * n];
        for (int i = 0; i < result.Length; i++) result[i] = new Complex(double.CreateTruncating(re[i]), double.CreateTruncating(im[i]));
        return new NamedArrays { ["y"] = NpyArray.Of(result, rows, n) };
    }

    private static NamedArrays FastConv<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int c = p.Int("channels"), l = p.Int("length"), lk = p.Int("kernel_length");
        var y = new T[c * l];
        FftConvolution.Causal<T>(CaseInputs.As<T>(x["u"]), CaseInputs.As<T>(x["k"]), y, c, l, lk);
        return new NamedArrays { ["y"] = CaseInputs.Output(y, c, l) };
    }

    private static NpyArray ComplexNormal(SplitMix64 rng, int rows, int n)
    {
        var data = new Complex[rows * n];
        for (int i = 0; i < data.Length; i++)
        {
            double re = (float)rng.Normal();
            double im = (float)rng.Normal();
            data[i] = new Complex(re, im);
        }
        return NpyArray.Of(data, rows, n);
    }

    private static ConformanceCase FftCase(string id, ulong seed, int rows, int n, params string[] tags) =>
        new(id, seed, Params.Of(("rows", rows), ("n", n)),
            $"{rows} row(s) of length {n} ({(BitOperations.IsPow2(n) ? "power of two" : "not a power of two: Bluestein in the fast tier")})", tags);

    private static ConformanceCase ConvCase(string id, ulong seed, int channels, int length, int kernelLength, params string[] tags) =>
        new(id, seed, Params.Of(("channels", channels), ("length", length), ("kernel_length", kernelLength)),
            $"{channels} channel(s), L = {length}, kernel length {kernelLength}", tags);
}
