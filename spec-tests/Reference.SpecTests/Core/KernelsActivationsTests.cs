using System.Numerics;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Core.Kernels;
using MathSpecial = MathNet.Numerics.SpecialFunctions;

namespace Reference.SpecTests.Core;

/// <summary>Activations: Fast against Naive, GELU against MathNet's erf, analytic identities, derivatives against finite differences.</summary>
[Trait("Category", "IsaParity")]
public class KernelsActivationsTests
{
    private delegate void Forward<T>(ReadOnlySpan<T> x, Span<T> y);
    private delegate void Backward<T>(ReadOnlySpan<T> input, ReadOnlySpan<T> dy, Span<T> dx);

    /// <summary>One activation in both tiers; FromOutput: the backward kernel reads y, not x.</summary>
    private sealed record Kernel(string Name, Func<double, double> F, Func<double, double> Derivative, bool FromOutput,
        Forward<double> NaiveForward, Backward<double> NaiveBackward,
        Forward<double> FastForward64, Backward<double> FastBackward64,
        Forward<float> FastForward32, Backward<float> FastBackward32, double Kink = double.NaN);

    private static readonly Kernel[] Kernels =
    [
        new("Relu", NaiveActivations.Relu, NaiveActivations.ReluDerivative, false, NaiveActivations.Relu, NaiveActivations.ReluBackward,
            FastActivations.Relu, FastActivations.ReluBackward, FastActivations.Relu, FastActivations.ReluBackward, 0),
        new("Gelu", NaiveActivations.Gelu, NaiveActivations.GeluDerivative, false, NaiveActivations.Gelu, NaiveActivations.GeluBackward,
            FastActivations.Gelu, FastActivations.GeluBackward, FastActivations.Gelu, FastActivations.GeluBackward),
        new("GeluTanh", NaiveActivations.GeluTanh, NaiveActivations.GeluTanhDerivative, false, NaiveActivations.GeluTanh, NaiveActivations.GeluTanhBackward,
            FastActivations.GeluTanh, FastActivations.GeluTanhBackward, FastActivations.GeluTanh, FastActivations.GeluTanhBackward),
        new("Silu", NaiveActivations.Silu, NaiveActivations.SiluDerivative, false, NaiveActivations.Silu, NaiveActivations.SiluBackward,
            FastActivations.Silu, FastActivations.SiluBackward, FastActivations.Silu, FastActivations.SiluBackward),
        new("Sigmoid", NaiveActivations.Sigmoid, x => NaiveActivations.Sigmoid(x) * NaiveActivations.Sigmoid(-x), true, NaiveActivations.Sigmoid, NaiveActivations.SigmoidBackward,
            FastActivations.Sigmoid, FastActivations.SigmoidBackward, FastActivations.Sigmoid, FastActivations.SigmoidBackward),
        new("LogSigmoid", NaiveActivations.LogSigmoid, NaiveActivations.LogSigmoidDerivative, false, NaiveActivations.LogSigmoid, NaiveActivations.LogSigmoidBackward,
            FastActivations.LogSigmoid, FastActivations.LogSigmoidBackward, FastActivations.LogSigmoid, FastActivations.LogSigmoidBackward),
        new("Tanh", Math.Tanh, x => 1 - Math.Tanh(x) * Math.Tanh(x), true, NaiveActivations.Tanh, NaiveActivations.TanhBackward,
            FastActivations.Tanh, FastActivations.TanhBackward, FastActivations.Tanh, FastActivations.TanhBackward),
        new("Softplus", NaiveActivations.Softplus, NaiveActivations.SoftplusDerivative, false, NaiveActivations.Softplus, NaiveActivations.SoftplusBackward,
            FastActivations.Softplus, FastActivations.SoftplusBackward, FastActivations.Softplus, FastActivations.SoftplusBackward, NaiveActivations.SoftplusThreshold),
        new("Elu", x => NaiveActivations.Elu(x), x => NaiveActivations.EluDerivative(x), false,
            (x, y) => NaiveActivations.Elu(x, y), (x, dy, dx) => NaiveActivations.EluBackward(x, dy, dx),
            (x, y) => FastActivations.Elu(x, y), (x, dy, dx) => FastActivations.EluBackward(x, dy, dx),
            (x, y) => FastActivations.Elu(x, y), (x, dy, dx) => FastActivations.EluBackward(x, dy, dx), 0),
    ];

    [Property(Arbitrary = [typeof(VectorCase)])]
    public void Property_FastFloat64_EqualsNaive(VectorCase c)
    {
        foreach (var k in Kernels) FastEqualsNaive(c, k, k.FastForward64, k.FastBackward64);
    }

    [Property(Arbitrary = [typeof(VectorCase)])]
    public void Property_FastFloat32_EqualsNaive(VectorCase c)
    {
        foreach (var k in Kernels) FastEqualsNaive(c, k, k.FastForward32, k.FastBackward32);
    }

    private static void FastEqualsNaive<T>(VectorCase c, Kernel k, Forward<T> forward, Backward<T> backward) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var x = Close.Normal<T>(rng, c.Length, 0, 4);
        var dy = Close.Normal<T>(rng, c.Length);
        var xd = Close.Widen<T>(x);
        var dyd = Close.Widen<T>(dy);

        var expected = new double[c.Length];
        k.NaiveForward(xd, expected);
        var y = new T[c.Length];
        forward(x, y);
        Close.All(expected, y, k.Name);

        // Backward from the input, or from the output rounded to T (what a T-precision tape stores).
        var input = k.FromOutput ? y : x;
        var expectedDx = new double[c.Length];
        k.NaiveBackward(Close.Widen<T>(input), dyd, expectedDx);
        var dx = new T[c.Length];
        backward(input, dy, dx);
        Close.All(expectedDx, dx, k.Name + " backward");

        // In place: output written over the input.
        var inPlace = (T[])x.Clone();
        forward(inPlace, inPlace);
        Assert.Equal(y, inPlace);
    }

    /// <summary>dx = dy f'(x) against central differences of the naive forward, h = 1e-5 (1 + |x|), float64.</summary>
    [Property(Arbitrary = [typeof(VectorCase)])]
    public void Property_NaiveBackward_MatchesCentralDifferences(VectorCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var x = Close.Normal<double>(rng, Math.Min(c.Length, 64), 0, 4);
        x[0] = 21.5; // beyond the softplus threshold
        var dy = Close.Normal<double>(rng, x.Length);
        foreach (var k in Kernels)
        {
            var y = new double[x.Length];
            k.NaiveForward(x, y);
            var dx = new double[x.Length];
            k.NaiveBackward(k.FromOutput ? y : x, dy, dx);
            for (int i = 0; i < x.Length; i++)
            {
                double h = 1e-5 * (1 + Math.Abs(x[i]));
                if (Math.Abs(x[i] - k.Kink) < 10 * h) continue;
                double fd = dy[i] * (k.F(x[i] + h) - k.F(x[i] - h)) / (2 * h);
                Assert.True(Math.Abs(fd - dx[i]) <= 1e-7 * (1 + Math.Abs(dx[i])),
                    $"{k.Name}'({x[i]:R}): analytic {dx[i]:R}, central difference {fd:R}");
                Assert.Equal(dy[i] * k.Derivative(x[i]), dx[i], 1e-15 * (1 + Math.Abs(dx[i])));
            }
        }
    }

    /// <summary>
    /// Our erf/erfc (Cody's rational approximations) against MathNet's (Boost's) and against the
    /// independent series / continued-fraction evaluation in <see cref="ErfReference"/>.
    /// </summary>
    [Property(Arbitrary = [typeof(VectorCase)])]
    public void Property_Erf_MatchesMathNet(VectorCase c)
    {
        var x = Close.Normal<double>(new SplitMix64((ulong)c.Seed), c.Length, 0, 3);
        foreach (double v in x)
        {
            Assert.Equal(MathSpecial.Erf(v), ScalarMath.Erf(v), 2e-15 * Math.Abs(MathSpecial.Erf(v)) + 1e-300);
            // MathNet's own erfc drifts to ~6e-14 relative near x = 23 (see Golden_ErfErfcGelu_HighPrecisionValues).
            double erfc = MathSpecial.Erfc(v);
            Assert.True(Math.Abs(erfc - ScalarMath.Erfc(v)) <= 1e-13 * erfc, $"erfc({v:R}): MathNet {erfc:R}, ours {ScalarMath.Erfc(v):R}");
            Assert.Equal(ErfReference.Erf(v), ScalarMath.Erf(v), 2e-15 * Math.Abs(ErfReference.Erf(v)) + 1e-300);
            // The reference forms erfc as 1 - erf below 1.5, inheriting the series' ~1e-15 absolute error.
            Assert.Equal(ErfReference.Erfc(v), ScalarMath.Erfc(v), 2e-15 * ErfReference.Erfc(v) + 1.5e-15);
            double gelu = 0.5 * v * (1 + MathSpecial.Erf(v / Math.Sqrt(2)));
            Assert.Equal(gelu, NaiveActivations.Gelu(v), 1e-15 * (1 + Math.Abs(v)));
            double gelu2 = 0.5 * v * MathSpecial.Erfc(-v / Math.Sqrt(2));
            Assert.Equal(gelu2, NaiveActivations.Gelu(v), 1e-13 * Math.Abs(gelu2) + 1e-300);
        }
    }

    [Property(Arbitrary = [typeof(VectorCase)])]
    public void Property_AnalyticIdentities(VectorCase c)
    {
        var x = Close.Normal<double>(new SplitMix64((ulong)c.Seed), c.Length, 0, 8);
        foreach (double v in x)
        {
            Assert.Equal(1.0, NaiveActivations.Sigmoid(v) + NaiveActivations.Sigmoid(-v), 2.3e-16);
            // Beyond the threshold softplus returns x itself and drops log1p(exp(-|x|)) <= exp(-20) = 2e-9.
            double threshold = Math.Abs(v) > NaiveActivations.SoftplusThreshold ? 1.01 * Math.Exp(-Math.Abs(v)) : 0;
            Assert.Equal(v, NaiveActivations.Softplus(v) - NaiveActivations.Softplus(-v), 4e-16 * (1 + Math.Abs(v)) + threshold);
            Assert.Equal(-NaiveActivations.Softplus(-v), NaiveActivations.LogSigmoid(v), 4e-16 * (1 + Math.Abs(v)) + threshold);
            Assert.Equal(v * NaiveActivations.Sigmoid(v), NaiveActivations.Silu(v), 0);
            Assert.Equal(2 * NaiveActivations.Sigmoid(2 * v) - 1, Math.Tanh(v), 1e-15);
            Assert.Equal(v, NaiveActivations.Gelu(v) - NaiveActivations.Gelu(-v), 1e-15 * (1 + Math.Abs(v)));
        }
    }

    /// <summary>
    /// Values computed with mpmath at 40 digits (mpmath.erf, mpmath.erfc, x * mpmath.ncdf(x)) at
    /// binary-exact x. Gelu(-30) is -1.47e-196: the erfc form keeps it, 1 + erf(x / sqrt 2) would give 0.
    /// </summary>
    [Fact]
    public void Golden_ErfErfcGelu_HighPrecisionValues()
    {
        (double X, double Erf, double Erfc, double Gelu)[] table =
        [
            (0.375, 0.40411690943482229832, 0.59588309056517770168, 0.24231366250227142289),
            (1.75, 0.98667167121918244377, 0.013328328780817556228, 1.6798964754883200918),
            (-1.25, -0.92290012825645823014, 1.9229001282564582301, -0.13206221708356907211),
            (3.5, 0.99999925690162765859, 7.4309837234141274552e-7, 3.4991857982233756624),
            (5.5, 0.99999999999999264215, 7.3578479179743980631e-15, 5.4999998955574064376),
            (10.25, 1.0, 1.2900138905042904038e-47, 10.25),
            (22.75, 1.0, 4.163775674054040907e-227, 22.75),
            (1e-8, 1.1283791670955125363e-8, 0.99999998871620832904, 5.0000000398942280401e-9),
            (-5.5, -0.99999999999999264215, 1.9999999999999926421, -1.0444259356238245661e-7),
            (-30, -1.0, 2.0, -1.4720141781444561179e-196),
        ];
        foreach (var (x, erf, erfc, gelu) in table)
        {
            Assert.Equal(erf, ScalarMath.Erf(x), 1e-15 * Math.Abs(erf));
            Assert.Equal(erfc, ScalarMath.Erfc(x), 2e-15 * erfc);
            Assert.Equal(gelu, NaiveActivations.Gelu(x), 2e-15 * Math.Abs(gelu));
        }
    }

    /// <summary>Inputs long enough to be split over the cores give the same elements as the naive loop.</summary>
    [Fact]
    public void Edge_LongInputs_SplitOverCores_MatchNaive()
    {
        int n = 3 * 32768 + 5;
        var rng = new SplitMix64(23);
        var x = Close.Normal<float>(rng, n, 0, 4);
        var dy = Close.Normal<float>(rng, n);
        foreach (var k in Kernels.Where(k => k.Name is "Gelu" or "Softplus" or "LogSigmoid"))
        {
            var expected = new double[n];
            k.NaiveForward(Close.Widen<float>(x), expected);
            var y = new float[n];
            k.FastForward32(x, y);
            Close.All(expected, y, k.Name);
            k.NaiveBackward(Close.Widen<float>(x), Close.Widen<float>(dy), expected);
            k.FastBackward32(x, dy, y);
            Close.All(expected, y, k.Name + " backward");
        }
    }

    [Fact]
    public void Edge_ExtremeInputs_StayFinite()
    {
        double[] x = [-3e38, -1000, -40, -20.5, 0, 20.5, 40, 1000, 3e38]; // finite in float32 too
        foreach (var k in Kernels)
        {
            var y = new double[x.Length];
            k.NaiveForward(x, y);
            var y64 = new double[x.Length];
            k.FastForward64(x, y64);
            var y32 = new float[x.Length];
            k.FastForward32(x.Select(v => (float)v).ToArray(), y32);
            for (int i = 0; i < x.Length; i++)
            {
                Assert.False(double.IsNaN(y[i]), $"{k.Name}({x[i]}) is NaN");
                Assert.False(double.IsNaN(y64[i]), $"fast {k.Name}({x[i]}) is NaN");
                Assert.False(float.IsNaN(y32[i]), $"fast float32 {k.Name}({x[i]}) is NaN");
            }
        }
        Assert.Equal(0.0, NaiveActivations.Sigmoid(-1000));
        Assert.Equal(1.0, NaiveActivations.Sigmoid(1000));
        Assert.Equal(-1000.0, NaiveActivations.LogSigmoid(-1000));
        Assert.Equal(1000.0, NaiveActivations.Softplus(1000));
        Assert.Equal(Math.Exp(-40), NaiveActivations.Softplus(-40), 1e-30);
        Assert.Equal(-1.0, NaiveActivations.Elu(-1000));
        Assert.Equal(40.0, NaiveActivations.Gelu(40));
        Assert.Equal(0.0, NaiveActivations.Gelu(-40), 1e-300);
        Assert.True(double.IsNaN(NaiveActivations.Relu(double.NaN)));
    }

    [Fact]
    public void Edge_ScalarMath_SpecialValues()
    {
        Assert.Equal(0.0, ScalarMath.Erf(0));
        Assert.Equal(1.0, ScalarMath.Erf(double.PositiveInfinity));
        Assert.Equal(-1.0, ScalarMath.Erf(double.NegativeInfinity));
        Assert.Equal(2.0, ScalarMath.Erfc(double.NegativeInfinity));
        Assert.Equal(0.0, ScalarMath.Erfc(30));
        Assert.True(double.IsNaN(ScalarMath.Erf(double.NaN)));
        // expm1 and log1p near 0 against mpmath (40 digits).
        (double T, double Expm1, double Log1p)[] small =
        [
            (1e-12, 1.0000000000004999799e-12, 9.9999999999949997989e-13),
            (-3e-9, -2.9999999954999999845e-9, -3.000000004499999989e-9),
            (1e-6, 1.0000005000001666215e-6, 9.9999950000033328783e-7),
            (-2.5e-5, -0.000024999687502604151589, -0.00002500031250520843219),
        ];
        foreach (var (t, expm1, log1p) in small)
        {
            Assert.Equal(expm1, ScalarMath.Expm1(t), 2.5e-16 * Math.Abs(t));
            Assert.Equal(log1p, ScalarMath.Log1p(t), 2.5e-16 * Math.Abs(t));
        }
        Assert.Equal(Math.E - 1, ScalarMath.Expm1(1), 4e-16);
        Assert.Equal(Math.Log(3), ScalarMath.Log1p(2), 4e-16);
        Assert.Equal(-1.0, ScalarMath.Expm1(-800));
        Assert.Equal(double.PositiveInfinity, ScalarMath.Expm1(800));
        Assert.Equal(double.PositiveInfinity, ScalarMath.Log1p(double.PositiveInfinity));
        Assert.Equal(double.NegativeInfinity, ScalarMath.Log1p(-1));
    }

    [Fact]
    public void Edge_LengthMismatch_NamesTheArgument()
    {
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => FastActivations.Gelu<float>(new float[3], new float[2])).ParamName);
        Assert.Equal("dy", Assert.Throws<ArgumentException>(() => NaiveActivations.SiluBackward(new double[3], new double[2], new double[3])).ParamName);
        Assert.Equal("dx", Assert.Throws<ArgumentException>(() => FastActivations.TanhBackward<double>(new double[3], new double[3], new double[4])).ParamName);
    }

    /// <summary>The tanh approximation differs from exact GELU by up to ~5e-4: the float32 tolerance tells them apart.</summary>
    [Fact]
    public void Negative_GeluTanhIsNotExactGelu()
    {
        var x = Enumerable.Range(-40, 81).Select(i => i / 10.0).ToArray();
        var exact = new double[x.Length];
        NaiveActivations.Gelu(x, exact);
        var approx = new float[x.Length];
        FastActivations.GeluTanh(x.Select(v => (float)v).ToArray(), approx);
        Assert.ThrowsAny<Exception>(() => Close.All(exact, approx));
    }

    /// <summary>
    /// The float64 GELU's SIMD lanes (GeluVector) at every interval boundary of Cody's erf (|z| = 0.46875, 4,
    /// 26.543 with z = -x / sqrt 2), where the density underflows (|x| = 40), far out, at 0 and non-finite
    /// values, against the naive scalar definition; lengths that leave a scalar tail.
    /// </summary>
    [Fact]
    public void Edge_GeluFloat64Lanes_MatchNaiveAtIntervalBoundaries()
    {
        var points = new List<double> { 0.0, -0.0, 1e-300, -1e-300, 1e-8, 39.9, 40.0, 40.1, -37.5, -38.0, -39.9, -40.1, 1e3, -1e3, 1e300, -1e300 };
        foreach (double z in new[] { 0.46875, 4.0, 26.543 })
            foreach (double s in new[] { -1.0, 1.0 })
                foreach (double d in new[] { -1e-12, 0.0, 1e-12, -1e-3, 1e-3 })
                    points.Add(-s * (z + d) * ScalarMath.Sqrt2);
        for (int trim = 0; trim < 3; trim++)
        {
            var x = points.Skip(trim).ToArray();
            var dy = x.Select((_, i) => 1.0 + 0.25 * (i % 5)).ToArray();
            var expected = new double[x.Length];
            var actual = new double[x.Length];
            NaiveActivations.Gelu(x, expected);
            FastActivations.Gelu<double>(x, actual);
            Close.All(expected, actual, "Gelu float64 lanes");
            NaiveActivations.GeluBackward(x, dy, expected);
            FastActivations.GeluBackward<double>(x, dy, actual);
            Close.All(expected, actual, "Gelu float64 lanes backward");
        }
        var special = new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity, 1.0 };
        var y = new double[special.Length];
        FastActivations.Gelu<double>(special, y);
        Assert.True(double.IsNaN(y[0]));
        Assert.Equal(double.PositiveInfinity, y[1]);
        Assert.Equal(NaiveActivations.Gelu(double.NegativeInfinity), y[2]);
        Assert.Equal(NaiveActivations.Gelu(1.0), y[3], 1e-15);
    }

    /// <summary>
    /// The training forward's GELU with its derivative (Ops.Gelu on the fast tier keeps d and its VJP is dy d):
    /// y bitwise FastActivations.Gelu, dy d bitwise FastActivations.GeluBackward, on every Cody interval,
    /// both sides of |x| = 5.66 and 40, non-finite values and a length that leaves a scalar tail.
    /// </summary>
    [Fact]
    public void GeluWithDerivative_EqualsGeluAndGeluBackward_Bitwise()
    {
        var rng = new SplitMix64(29);
        double[] special = [0.0, -0.0, 0.46875 * Math.Sqrt(2), -0.66, 4 * Math.Sqrt(2), 5.6, 5.7, -5.7, 26.6, -39.9, 40.1, -41, 1e300, -1e300,
            double.NaN, double.PositiveInfinity, double.NegativeInfinity];
        var x = new double[1027];
        for (int i = 0; i < x.Length; i++) x[i] = i < special.Length ? special[i] : rng.Normal() * (i % 3 == 0 ? 8 : 1.5);
        var dy = new double[x.Length];
        for (int i = 0; i < dy.Length; i++) dy[i] = rng.Normal();
        var y = new double[x.Length];
        var d = new double[x.Length];
        FastActivations.GeluWithDerivative(x, y, d);
        var yRef = new double[x.Length];
        var dxRef = new double[x.Length];
        FastActivations.Gelu<double>(x, yRef);
        FastActivations.GeluBackward<double>(x, dy, dxRef);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.Equal(BitConverter.DoubleToInt64Bits(yRef[i]), BitConverter.DoubleToInt64Bits(y[i]));
            Assert.Equal(BitConverter.DoubleToInt64Bits(dxRef[i]), BitConverter.DoubleToInt64Bits(dy[i] * d[i]));
        }
        Assert.Equal("d", Assert.Throws<ArgumentException>(() => FastActivations.GeluWithDerivative(x, y, new double[3])).ParamName);
    }
}
