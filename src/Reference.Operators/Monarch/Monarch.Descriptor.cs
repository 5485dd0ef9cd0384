using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;

namespace Reference.Operators.Monarch;

public static partial class Monarch
{
    /// <summary>The registry entry of the Monarch multiply ("monarch.multiply").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "monarch.multiply",
        Version = 1,
        Title = "Monarch matrix multiply (M = P2 BlockDiag(w2) P1 BlockDiag(w1))",
        Paper = "Dao, Chen et al., Monarch (arXiv:2204.00595), Definition 3.1; Fu, Arora et al., Monarch Mixer (arXiv:2310.12109), Sec. 2 " +
            "(rectangular factor shapes and permutations as in shared/spec/operators.md, \"Monarch matrices and M2\")",
        File = "src/Reference.Operators/Monarch/Monarch.cs",
        Summary = "y[B x M] = M x for every row of x[B x N], M = P2 BlockDiag(w2) P1 BlockDiag(w1), w1[K x Q x P] (N = K P), w2[L x S x R] " +
            "(L R = K Q, M = L S); P1 reads the K Q middle vector as an R x L grid and transposes it, P2 reads L x S and transposes " +
            "(y[sigma L + lambda]); real float64 or complex128 (params.complex)",
        Causal = false,
        Parameters =
        [
            new("batch", "int", "-", "rows B of x (independent vectors)"),
            new("k", "int", "-", "blocks K of w1"),
            new("q", "int", "-", "block rows Q of w1 (outputs per block)"),
            new("p", "int", "-", "block columns P of w1 (inputs per block; N = K P)"),
            new("l", "int", "-", "blocks L of w2 (L R = K Q)"),
            new("s", "int", "-", "block rows S of w2 (M = L S)"),
            new("r", "int", "-", "block columns R of w2"),
            new("complex", "bool", "false", "whether w1, w2, x (and y) are complex128"),
        ],
        Inputs =
        [
            new("w1", "[K, Q, P]", "first block-diagonal factor (R of Definition 3.1), block i maps x[i P:(i + 1) P]"),
            new("w2", "[L, S, R]", "second block-diagonal factor (L of Definition 3.1)"),
            new("x", "[B, N]", "input vectors, one per row"),
        ],
        Outputs = [new("y", "[B, M]", "y[b] = M x[b]")],
        NaiveEntry = "Monarch.Multiply(w1, w2, x) (real) / Monarch.Multiply<Complex>(shape, w1, w2, x, y, B)",
        Naive = (p, x) => Run(p, x, (shape, w1, w2, v, batch) =>
        {
            var y = new double[batch * shape.Outputs];
            Multiply<double>(shape, w1, w2, v, y, batch);
            return y;
        }, (shape, w1, w2, v, batch) =>
        {
            var y = new Complex[batch * shape.Outputs];
            Multiply<Complex>(shape, w1, w2, v, y, batch);
            return y;
        }),
        FastEntry = "Monarch.MultiplyFast<T>(w1, w2, x) (real) / Monarch.MultiplyFastComplex<T> (split complex), T = float or double",
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastOutputs<float>(p, x) : FastOutputs<double>(p, x),
        Forms =
        [
            new("materialized M x", "Monarch.Materialize(w1, w2) [M, N] (closed form), then y = x M^T",
                (p, x) => Run(p, x, (shape, w1, w2, v, batch) => Dense<double>(Materialize<double>(shape, w1, w2), v, shape, batch),
                    (shape, w1, w2, v, batch) => Dense<Complex>(Materialize<Complex>(shape, w1, w2), v, shape, batch)), "y"),
            new("projected onto the class and multiplied", "MonarchProjection.Project(shape, Monarch.Materialize(w1, w2)), then Monarch.Multiply",
                (p, x) => Run(p, x, (shape, w1, w2, v, batch) =>
                {
                    var (a, b) = MonarchProjection.Project(shape, Materialize<double>(shape, w1, w2));
                    var y = new double[batch * shape.Outputs];
                    Multiply<double>(shape, a, b, v, y, batch);
                    return y;
                }, (shape, w1, w2, v, batch) =>
                {
                    var (a, b) = MonarchProjection.Project(shape, Materialize<Complex>(shape, w1, w2));
                    var y = new Complex[batch * shape.Outputs];
                    Multiply<Complex>(shape, a, b, v, y, batch);
                    return y;
                }), "y"),
        ],
        MaterializeEntry = "Monarch.Materialize(w1, w2) [M, N] (closed form of the entries), returned as [1, M, N]; complex cases as [2, M, N] " +
            "(real part, imaginary part)",
        Materialize = (p, x) =>
        {
            var shape = ShapeOf(p);
            if (!IsComplex(p))
                return new Tensor<double>(Materialize<double>(shape, x.Get("w1").Get<double>(), x.Get("w2").Get<double>()), 1, shape.Outputs, shape.Inputs);
            var dense = Materialize<Complex>(shape, x.Get("w1").Get<Complex>(), x.Get("w2").Get<Complex>());
            var t = Tensor<double>.Zeros(2, shape.Outputs, shape.Inputs);
            for (int i = 0; i < dense.Length; i++)
            {
                t.Data[i] = dense[i].Real;
                t.Data[dense.Length + i] = dense[i].Imaginary;
            }
            return t;
        },
        AutodiffEntry = "MonarchOps.Multiply(w1, w2, x) (VJP: Monarch.Backward; real cases)",
        Differentiable = ["w1", "w2", "x"],
        Autodiff = (_, _, v) => MonarchOps.Multiply(v[0], v[1], v[2]),
        AccumulationOrder = "per row: h[i Q + c] = sum_a w1[i, c, a] x[i P + a] (a ascending, float64 or complex128 acc = 0, one rounding per " +
            "product and per addition); z[lambda R + rho] = h[rho L + lambda]; g[lambda S + sigma] = sum_rho w2[lambda, sigma, rho] z[lambda R + rho] " +
            "(rho ascending); y[sigma L + lambda] = g[lambda S + sigma]",
        Distribution = CaseInputs.NormalF32 + " (w1, then w2, then x; complex cases draw the real then the imaginary part of each element, " +
            "in row-major order)",
        Cases =
        [
            Case("general_small_4_to_6", 1408, 1, new MonarchShape(2, 3, 2, 3, 2, 2), false),
            Case("square_b4", 1401, 3, new MonarchShape(4, 4, 4, 4, 4, 4), false),
            Case("rectangular_standard_15_to_8", 1402, 2, MonarchShape.Standard(3, 4, 5, 2), false),
            Case("general_middle_6_to_20", 1403, 2, new MonarchShape(2, 6, 3, 4, 5, 3), false),
            Case("complex_square_b3", 1404, 2, MonarchShape.Square(3), true),
            Case("complex_rectangular_8_to_6", 1405, 2, MonarchShape.Standard(2, 3, 4, 2), true),
            Case("one_by_one", 1406, 1, MonarchShape.Square(1), false, "edge"),
            Case("square_b8_batch5", 1407, 5, MonarchShape.Square(8), false),
        ],
        DemoCase = "square_b8_batch5",
        DrawInputs = (p, rng) =>
        {
            var shape = ShapeOf(p);
            int batch = p.Int("batch");
            if (!IsComplex(p))
                return new NamedArrays
                {
                    ["w1"] = CaseInputs.Normal(rng, shape.K, shape.Q, shape.P),
                    ["w2"] = CaseInputs.Normal(rng, shape.L, shape.S, shape.R),
                    ["x"] = CaseInputs.Normal(rng, batch, shape.Inputs),
                };
            return new NamedArrays
            {
                ["w1"] = ComplexNormal(rng, shape.K, shape.Q, shape.P),
                ["w2"] = ComplexNormal(rng, shape.L, shape.S, shape.R),
                ["x"] = ComplexNormal(rng, batch, shape.Inputs),
            };
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5,
            "two block products of at most 8 terms each: float64 reorderings differ by a few eps64 relative to the output norm (1e-12 leaves a " +
            "wide margin, also for the SVD of the projection form); float32 reaches ~1e-7, 1e-5 is the conventions' float32 bound"),
        Without = new Dictionary<string, string>
        {
            ["realize"] = "not a sequence operator: M mixes the features of one vector, there is no time axis and no recurrent state",
            ["step"] = "not a sequence operator: one product per vector, nothing is carried from one row to the next",
            ["ess"] = "ESS measures the state a causal sequence map needs; M is a non-causal feature mixer (its rank structure is what " +
                "MonarchProjection works with instead)",
        },
    };

    private static bool IsComplex(JsonObject p) => p.ContainsKey("complex") && p.Bool("complex");

    private static MonarchShape ShapeOf(JsonObject p)
    {
        var shape = new MonarchShape(p.Int("k"), p.Int("q"), p.Int("p"), p.Int("l"), p.Int("s"), p.Int("r"));
        shape.Validate("params");
        return shape;
    }

    private delegate TOut[] Product<TOut>(MonarchShape shape, TOut[] w1, TOut[] w2, TOut[] x, int batch);

    /// <summary>Runs the real or the complex route of a form on the case's arrays and wraps y [B, M].</summary>
    private static NamedArrays Run(JsonObject p, NamedArrays x, Product<double> real, Product<Complex> complex)
    {
        var shape = ShapeOf(p);
        int batch = p.Int("batch");
        if (!IsComplex(p))
        {
            var y = real(shape, x.Double("w1").Data, x.Double("w2").Data, x.Double("x").Data, batch);
            return new NamedArrays { ["y"] = NpyArray.Of(y, batch, shape.Outputs) };
        }
        var yc = complex(shape, x.Get("w1").Get<Complex>(), x.Get("w2").Get<Complex>(), x.Get("x").Get<Complex>(), batch);
        return new NamedArrays { ["y"] = NpyArray.Of(yc, batch, shape.Outputs) };
    }

    /// <summary>y[b, o] = sum_j dense[o, j] x[b, j] (j ascending).</summary>
    private static T[] Dense<T>(T[] dense, T[] x, MonarchShape shape, int batch) where T : INumberBase<T>
    {
        int n = shape.Inputs, m = shape.Outputs;
        var y = new T[batch * m];
        for (int b = 0; b < batch; b++)
            for (int o = 0; o < m; o++)
            {
                T acc = T.Zero;
                for (int j = 0; j < n; j++) acc += dense[o * n + j] * x[b * n + j];
                y[b * m + o] = acc;
            }
        return y;
    }

    private static NamedArrays FastOutputs<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shape = ShapeOf(p);
        int batch = p.Int("batch");
        if (!IsComplex(p))
        {
            var y = new T[batch * shape.Outputs];
            MultiplyFast<T>(shape, x.As<T>("w1").Data, x.As<T>("w2").Data, x.As<T>("x").Data, y, batch);
            return new NamedArrays { ["y"] = NpyArray.FromTensor(new Tensor<T>(y, batch, shape.Outputs)) };
        }
        var (w1r, w1i) = Split<T>(x.Get("w1").Get<Complex>());
        var (w2r, w2i) = Split<T>(x.Get("w2").Get<Complex>());
        var (xr, xi) = Split<T>(x.Get("x").Get<Complex>());
        var yr = new T[batch * shape.Outputs];
        var yi = new T[batch * shape.Outputs];
        MultiplyFastComplex<T>(shape, w1r, w1i, w2r, w2i, xr, xi, yr, yi, batch);
        var yc = new Complex[yr.Length];
        for (int i = 0; i < yc.Length; i++) yc[i] = new Complex(double.CreateTruncating(yr[i]), double.CreateTruncating(yi[i]));
        return new NamedArrays { ["y"] = NpyArray.Of(yc, batch, shape.Outputs) };
    }

    private static (T[] Re, T[] Im) Split<T>(Complex[] z) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var re = new T[z.Length];
        var im = new T[z.Length];
        for (int i = 0; i < z.Length; i++)
        {
            re[i] = T.CreateTruncating(z[i].Real);
            im[i] = T.CreateTruncating(z[i].Imaginary);
        }
        return (re, im);
    }

    private static NpyArray ComplexNormal(SplitMix64 rng, params int[] shape)
    {
        var data = new Complex[Shapes.ElementCount(shape, nameof(shape))];
        for (int i = 0; i < data.Length; i++)
        {
            double re = (float)rng.Normal();
            double im = (float)rng.Normal();
            data[i] = new Complex(re, im);
        }
        return NpyArray.Of(data, shape);
    }

    private static ConformanceCase Case(string id, ulong seed, int batch, MonarchShape shape, bool complex, params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("k", shape.K), ("q", shape.Q), ("p", shape.P), ("l", shape.L), ("s", shape.S), ("r", shape.R),
            ("complex", complex)),
            $"batch {batch}, {shape}{(complex ? ", complex128" : "")}", tags);
}
