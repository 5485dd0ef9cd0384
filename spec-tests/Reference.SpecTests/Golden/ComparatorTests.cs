using Reference.Core.Conformance;
using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Core.IO;
using Reference.Golden;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Golden;

/// <summary>A comparator case: a tolerance kind, an output length near SIMD widths, a seed, complex or real.</summary>
public sealed record CompareCase(string Kind, int Length, bool IsComplex, int Seed)
{
    public static Arbitrary<CompareCase> Arbitrary() =>
        (from kind in Gen.Elements(Tolerance.Ulp, Tolerance.AllClose, Tolerance.NormRel)
         from length in Gen.Elements(2, 3, 7, 8, 9, 16, 17, 33)
         from isComplex in ArbMap.Default.GeneratorFor<bool>()
         from seed in Cases.Seed
         select new CompareCase(kind, length, isComplex, seed)).ToArbitrary();

    /// <summary>Typical bounds of each kind (the ones the golden set uses).</summary>
    public Tolerance Tolerance => Kind switch
    {
        Tolerance.Ulp => Tolerance.Ulps(4, 4, "test"),
        Tolerance.AllClose => Tolerance.Close(1e-12, 1e-15, 1.3e-6, 1e-5, "test"),
        _ => Tolerance.NormRelative(1e-12, 1e-5, "test"),
    };

    /// <summary>Values of magnitude ~1 with distinct entries (so shuffling changes the array).</summary>
    public NpyArray Expected()
    {
        var rng = new SplitMix64((ulong)Seed);
        if (IsComplex)
            return NpyArray.Of(Enumerable.Range(0, Length).Select(_ => new Complex(rng.Uniform(0.5, 2), rng.Uniform(-2, -0.5))).ToArray(), Length);
        return NpyArray.Of(Enumerable.Range(0, Length).Select(_ => rng.Uniform(0.5, 2) * (rng.NextInt(2) == 0 ? -1 : 1)).ToArray(), Length);
    }

    public override string ToString() => $"CompareCase({Kind}, n {Length}, {(IsComplex ? "complex" : "real")}, seed {Seed})";
}

public class ComparatorTests
{
    [Property(Arbitrary = [typeof(CompareCase)])]
    public void Property_IdenticalOutputPasses(CompareCase c)
    {
        var e = c.Expected();
        foreach (var precision in new[] { Precision.Float64, Precision.Float32 })
        {
            var r = Comparator.Compare("y", e, e, c.Tolerance, precision);
            Assert.True(r.Passed, $"{c} {precision}: {r}");
            Assert.Equal(0, r.Value);
        }
    }

    [Property(Arbitrary = [typeof(CompareCase)])]
    public void Negative_ZeroedShuffledAndScaledOutputsFailEveryKind(CompareCase c)
    {
        var e = c.Expected();
        foreach (var precision in new[] { Precision.Float64, Precision.Float32 })
            foreach (var (name, wrong) in Controls.Perturbations(e, (ulong)c.Seed))
            {
                var r = Comparator.Compare("y", e, wrong, c.Tolerance, precision);
                Assert.False(r.Passed, $"{c} {precision}: the {name} control passed: {r}");
            }
    }

    [Fact]
    public void Property_DifferencesInsideTheBoundPass()
    {
        var e = NpyArray.Of(new[] { 1.0, -2.0, 3.0 }, 3);
        // 3 ulp in float64 each.
        var ulp = NpyArray.Of(e.Get<double>().Select(v => Math.BitIncrement(Math.BitIncrement(Math.BitIncrement(v)))).ToArray(), 3);
        Assert.True(Comparator.Compare("y", e, ulp, Tolerance.Ulps(4, 4, "t"), Precision.Float64).Passed);
        Assert.False(Comparator.Compare("y", e, ulp, Tolerance.Ulps(2, 2, "t"), Precision.Float64).Passed);
        // float32 candidate of float64 values: rounding alone is within 0.5 ulp of float32.
        var f32 = NpyArray.Of(new[] { 1f / 3, 2f / 3 }, 2);
        var e32 = NpyArray.Of(new[] { 1.0 / 3, 2.0 / 3 }, 2);
        Assert.True(Comparator.Compare("y", e32, f32, Tolerance.Ulps(0, 0, "t"), Precision.Float32).Passed);
        var close = NpyArray.Of(new[] { 1.0 + 0.9e-12, -2.0, 3.0 }, 3);
        Assert.True(Comparator.Compare("y", e, close, Tolerance.Close(1e-12, 0, 0, 0, "t"), Precision.Float64).Passed);
        var rel = NpyArray.Of(new[] { 1.0 + 1e-13, -2.0, 3.0 }, 3);
        Assert.True(Comparator.Compare("y", e, rel, Tolerance.NormRelative(1e-12, 1e-5, "t"), Precision.Float64).Passed);
    }

    [Fact]
    public void Property_MetricsMatchTheirDefinitions()
    {
        var e = NpyArray.Of(new[] { 3.0, 4.0 }, 2);
        var a = NpyArray.Of(new[] { 3.0, 4.6 }, 2);
        var norm = Comparator.Compare("y", e, a, Tolerance.NormRelative(1, 1, "t", floor: 0), Precision.Float64);
        Assert.Equal(0.6 / 5.0, norm.Value, 14);
        var close = Comparator.Compare("y", e, a, Tolerance.Close(0.1, 0.1, 0, 0, "t"), Precision.Float64);
        Assert.Equal(0.6 / (0.1 + 0.1 * 4.0), close.Value, 14);
        Assert.False(close.Passed);
        Assert.Contains("@ [1]", close.Detail);
        Assert.Contains("(4, 4.6)", close.Detail);
    }

    [Fact]
    public void Edge_UlpDistanceCountsRepresentableFloats()
    {
        Assert.Equal(0, Comparator.UlpDistance(0.0, -0.0, Precision.Float64));
        Assert.Equal(1, Comparator.UlpDistance(1.0, Math.BitIncrement(1.0), Precision.Float64));
        Assert.Equal(2, Comparator.UlpDistance(double.Epsilon, -double.Epsilon, Precision.Float64));
        Assert.Equal(1, Comparator.UlpDistance(1.0, MathF.BitIncrement(1f), Precision.Float32));
        Assert.Equal(0, Comparator.UlpDistance(1.0, 1.0 + 1e-12, Precision.Float32));
        Assert.True(Comparator.UlpDistance(double.MaxValue, -double.MaxValue, Precision.Float64) > 1e19);
    }

    [Fact]
    public void Edge_NonFiniteValuesMustMatchPositionByPosition()
    {
        var e = NpyArray.Of(new[] { 1.0, double.NaN, double.PositiveInfinity }, 3);
        var tol = Tolerance.NormRelative(1e-12, 1e-5, "t");
        Assert.True(Comparator.Compare("y", e, NpyArray.Of(new[] { 1.0, double.NaN, double.PositiveInfinity }, 3), tol, Precision.Float64).Passed);
        var r = Comparator.Compare("y", e, NpyArray.Of(new[] { 1.0, 0.0, double.PositiveInfinity }, 3), tol, Precision.Float64);
        Assert.False(r.Passed);
        Assert.Equal("nonfinite", r.Metric);
        Assert.False(Comparator.Compare("y", e, NpyArray.Of(new[] { 1.0, double.NaN, double.NegativeInfinity }, 3), tol, Precision.Float64).Passed);
        Assert.False(Comparator.Compare("y", NpyArray.Of(new[] { 1.0 }, 1), NpyArray.Of(new[] { double.NaN }, 1), tol, Precision.Float64).Passed);
    }

    [Fact]
    public void Negative_ShapeDtypeAndExactMismatchesFail()
    {
        var tol = Tolerance.NormRelative(1e-12, 1e-5, "t");
        var e = NpyArray.Of(new[] { 1.0, 2.0 }, 2);
        Assert.Equal("shape", Comparator.Compare("y", e, NpyArray.Of(new[] { 1.0, 2.0 }, 1, 2), tol, Precision.Float64).Metric);
        Assert.Equal("dtype", Comparator.Compare("y", e, NpyArray.Of(new[] { Complex.One, 2 * Complex.One }, 2), tol, Precision.Float64).Metric);
        Assert.Equal("dtype", Comparator.Compare("y", e, NpyArray.Of(new[] { 1L, 2L }, 2), tol, Precision.Float64).Metric);
        Assert.True(Comparator.Compare("y", e, NpyArray.Of(new[] { 1f, 2f }, 2), tol, Precision.Float32).Passed);
        var ints = NpyArray.Of(new[] { 1L, 2L }, 2);
        var exact = Tolerance.ExactMatch("t");
        Assert.True(Comparator.Compare("y", ints, NpyArray.Of(new[] { 1L, 2L }, 2), exact, Precision.Float64).Passed);
        var bad = Comparator.Compare("y", ints, NpyArray.Of(new[] { 1L, 3L }, 2), exact, Precision.Float64);
        Assert.False(bad.Passed);
        Assert.Equal(1, bad.Value);
    }

    [Fact]
    public void Negative_MalformedTolerancesAreReported()
    {
        Assert.Null(Tolerance.NormRelative(1e-12, 1e-5, "r").Problem());
        Assert.NotNull(new Tolerance("rel", new ToleranceBound(Max: 1), new ToleranceBound(Max: 1), "r").Problem());
        Assert.NotNull(new Tolerance(Tolerance.NormRel, new ToleranceBound(Max: 1), new ToleranceBound(Rtol: 1), "r").Problem());
        Assert.NotNull(Tolerance.NormRelative(1e-12, 1e-5, " ").Problem());
        Assert.NotNull(new Tolerance(Tolerance.AllClose, new ToleranceBound(Rtol: -1, Atol: 0), new ToleranceBound(Rtol: 0, Atol: 0), "r").Problem());
    }
}

/// <summary>The deliberately wrong outputs every comparison must reject (conventions: negative controls).</summary>
public static class Controls
{
    /// <summary>Zeroed, shuffled (a seeded derangement-like permutation), and scaled by 1 + 1e-3; controls that leave the array bit-identical are omitted.</summary>
    public static IEnumerable<(string Name, NpyArray Wrong)> Perturbations(NpyArray expected, ulong seed)
    {
        var candidates = new List<(string, NpyArray)>
        {
            ("zeroed", Map(expected, _ => 0.0, _ => Complex.Zero)),
            ("shuffled", Shuffle(expected, seed)),
            ("scaled", Map(expected, v => v * (1 + 1e-3), z => z * (1 + 1e-3))),
        };
        return candidates.Where(c => !c.Item2.Equals(expected));
    }

    private static NpyArray Map(NpyArray a, Func<double, double> real, Func<Complex, Complex> complex) => a.Data switch
    {
        Complex[] z => NpyArray.Of(z.Select(complex).ToArray(), a.ShapeArray),
        float[] f => NpyArray.Of(f.Select(v => (float)real(v)).ToArray(), a.ShapeArray),
        _ => NpyArray.Of(a.ToDoubles().Select(real).ToArray(), a.ShapeArray),
    };

    /// <summary>Rotates the elements by a seeded offset in [1, n) after a seeded swap sequence, so no shuffle is the identity for n >= 2.</summary>
    private static NpyArray Shuffle(NpyArray a, ulong seed)
    {
        int n = a.Count;
        if (n < 2) return a;
        int shift = 1 + new SplitMix64(seed).NextInt(n - 1);
        int[] order = [.. Enumerable.Range(0, n).Select(i => (i + shift) % n)];
        double[] values = a.Data is Complex[] ? [] : a.ToDoubles();
        return a.Data switch
        {
            Complex[] z => NpyArray.Of(order.Select(i => z[i]).ToArray(), a.ShapeArray),
            float[] f => NpyArray.Of(order.Select(i => f[i]).ToArray(), a.ShapeArray),
            _ => NpyArray.Of(order.Select(i => values[i]).ToArray(), a.ShapeArray),
        };
    }
}
