using System.Globalization;
using System.Numerics;
using Reference.Core;
using Reference.Core.IO;

namespace Reference.Golden;

/// <summary>
/// The verdict on one output: the metric, its value against the threshold, and evidence (Detail:
/// where the largest difference is and, on failure, the first few (expected, actual) pairs).
/// </summary>
public sealed record Comparison(string Output, bool Passed, string Metric, double Value, double Threshold, string Detail)
{
    /// <summary>"out norm_rel=3.1e-07 &lt;= 1e-05" (failure: "&gt;" and the detail).</summary>
    public override string ToString()
    {
        string head = Metric switch
        {
            "shape" or "dtype" or "nonfinite" => $"{Output} {Metric}: {Detail}",
            _ => $"{Output} {Metric}={Comparator.Fmt(Value)} {(Passed ? "<=" : ">")} {Comparator.Fmt(Threshold)}",
        };
        return Passed || Metric is "shape" or "dtype" or "nonfinite" ? head : $"{head} {Detail}";
    }
}

/// <summary>
/// Compares a candidate output with the golden one under a <see cref="Tolerance"/>. Policy shared
/// with golden/check.py: shapes must match exactly; a complex output needs a complex candidate,
/// a real one a real (float32 or float64) candidate, integer and boolean outputs must be equal;
/// non-finite values must match position by position (NaN with NaN, +Inf with +Inf), and the
/// metric is taken over the finite positions. Complex numbers: |z| for differences and norms,
/// ulp counted on the real and imaginary parts separately.
/// </summary>
public static class Comparator
{
    private const int Pairs = 3;

    public static Comparison Compare(string output, NpyArray expected, NpyArray actual, Tolerance tolerance, Precision precision)
    {
        if (!expected.Shape.SequenceEqual(actual.Shape))
            return Fail(output, "shape", $"shape {ShapeText(actual.Shape)}, expected {ShapeText(expected.Shape)}");
        bool expectedComplex = expected.DType == NpyDType.Complex128, actualComplex = actual.DType == NpyDType.Complex128;
        bool expectedFloat = expected.DType is NpyDType.Float32 or NpyDType.Float64;
        bool actualFloat = actual.DType is NpyDType.Float32 or NpyDType.Float64;
        if (expectedComplex != actualComplex || expectedFloat != actualFloat || (!expectedComplex && !expectedFloat && expected.DType != actual.DType))
            return Fail(output, "dtype", $"dtype {actual.DType.NumpyName()}, expected {expected.DType.NumpyName()}");
        if (tolerance.Kind == Tolerance.Exact || (!expectedComplex && !expectedFloat))
            return CompareExact(output, expected, actual);

        var (er, ei) = Parts(expected);
        var (ar, ai) = Parts(actual);
        string? nonFinite = NonFiniteMismatch(expected.Shape, er, ei, ar, ai);
        if (nonFinite is not null) return Fail(output, "nonfinite", nonFinite);

        var bound = tolerance.For(precision);
        var worst = new Worst(Pairs);
        double maxAbs = 0;
        int maxAt = -1;
        double metric;
        double threshold;
        string metricName = tolerance.Kind;
        switch (tolerance.Kind)
        {
            case Tolerance.NormRel:
            {
                double diff2 = 0, norm2 = 0;
                for (int i = 0; i < er.Length; i++)
                {
                    if (!Finite(er, ei, i)) continue;
                    double d = Abs(er[i] - ar[i], ei is null ? 0 : ei[i] - ai![i]);
                    double e = Abs(er[i], ei is null ? 0 : ei[i]);
                    diff2 += d * d;
                    norm2 += e * e;
                    worst.Offer(i, d);
                    if (d > maxAbs || maxAt < 0) (maxAbs, maxAt) = (d, i);
                }
                metric = Math.Sqrt(diff2) / (Math.Sqrt(norm2) + bound.Floor!.Value);
                threshold = bound.Max!.Value;
                break;
            }
            case Tolerance.AllClose:
            {
                // The ratio |a - e| / (atol + rtol |e|) is <= 1 exactly where numpy.allclose holds.
                metric = 0;
                for (int i = 0; i < er.Length; i++)
                {
                    if (!Finite(er, ei, i)) continue;
                    double d = Abs(er[i] - ar[i], ei is null ? 0 : ei[i] - ai![i]);
                    double allowed = bound.Atol!.Value + bound.Rtol!.Value * Abs(er[i], ei is null ? 0 : ei[i]);
                    double ratio = d == 0 ? 0 : allowed == 0 ? double.PositiveInfinity : d / allowed;
                    if (ratio > 1) worst.Offer(i, ratio);
                    metric = Math.Max(metric, ratio);
                    if (d > maxAbs || maxAt < 0) (maxAbs, maxAt) = (d, i);
                }
                threshold = 1;
                metricName = $"allclose(rtol {ToleranceBound.Fmt(bound.Rtol!.Value)}, atol {ToleranceBound.Fmt(bound.Atol!.Value)}) ratio";
                break;
            }
            case Tolerance.Ulp:
            {
                metric = 0;
                double atol = bound.Atol ?? 0;
                for (int i = 0; i < er.Length; i++)
                {
                    if (!Finite(er, ei, i)) continue;
                    double d = Abs(er[i] - ar[i], ei is null ? 0 : ei[i] - ai![i]);
                    if (d > maxAbs || maxAt < 0) (maxAbs, maxAt) = (d, i);
                    if (d <= atol) continue;
                    double u = UlpDistance(er[i], ar[i], precision);
                    if (ei is not null) u = Math.Max(u, UlpDistance(ei[i], ai![i], precision));
                    if (u > bound.MaxUlp!.Value) worst.Offer(i, u);
                    metric = Math.Max(metric, u);
                }
                threshold = bound.MaxUlp!.Value;
                metricName = precision == Precision.Float32 ? "ulp32" : "ulp64";
                break;
            }
            default:
                throw new ArgumentException($"tolerance kind '{tolerance.Kind}' is not one of {string.Join(", ", Tolerance.Kinds)}.", nameof(tolerance));
        }

        bool passed = metric <= threshold;
        string detail = maxAt < 0 ? "no finite elements" : $"max_abs {Fmt(maxAbs)} @ {IndexText(expected.Shape, maxAt)}";
        if (!passed)
            detail += " (expected, actual): " + string.Join(" ", worst.Indices().Select(i =>
                $"{IndexText(expected.Shape, i)} ({Value(er, ei, i)}, {Value(ar, ai, i)})"));
        return new Comparison(output, passed, metricName, metric, threshold, detail);
    }

    private static Comparison CompareExact(string output, NpyArray expected, NpyArray actual)
    {
        var (er, ei) = Parts(expected);
        var (ar, ai) = Parts(actual);
        int mismatches = 0;
        var first = new List<int>();
        for (int i = 0; i < er.Length; i++)
        {
            bool same = BitEqual(er[i], ar[i]) && (ei is null || BitEqual(ei[i], ai![i]));
            if (same) continue;
            mismatches++;
            if (first.Count < Pairs) first.Add(i);
        }
        string detail = mismatches == 0 ? "all equal" : "(expected, actual): " + string.Join(" ", first.Select(i =>
            $"{IndexText(expected.Shape, i)} ({Value(er, ei, i)}, {Value(ar, ai, i)})"));
        return new Comparison(output, mismatches == 0, "mismatches", mismatches, 0, detail);
    }

    private static bool BitEqual(double a, double b) => a == b || (double.IsNaN(a) && double.IsNaN(b));

    private static Comparison Fail(string output, string metric, string detail) =>
        new(output, false, metric, double.NaN, double.NaN, detail);

    /// <summary>Real and imaginary parts as float64 (imaginary null for real arrays).</summary>
    internal static (double[] Re, double[]? Im) Parts(NpyArray a)
    {
        if (a.Data is Complex[] z) return ([.. z.Select(c => c.Real)], [.. z.Select(c => c.Imaginary)]);
        return (a.ToDoubles(), null);
    }

    private static bool Finite(double[] re, double[]? im, int i) => double.IsFinite(re[i]) && (im is null || double.IsFinite(im[i]));

    private static string? NonFiniteMismatch(ReadOnlySpan<int> shape, double[] er, double[]? ei, double[] ar, double[]? ai)
    {
        for (int i = 0; i < er.Length; i++)
        {
            bool ok = SameClass(er[i], ar[i]) && (ei is null || SameClass(ei[i], ai![i]));
            if (!ok) return $"{IndexText(shape, i)} expected {Value(er, ei, i)}, actual {Value(ar, ai, i)} (non-finite values must match exactly)";
        }
        return null;
    }

    /// <summary>Both finite, both NaN, or the same infinity.</summary>
    private static bool SameClass(double e, double a) =>
        double.IsFinite(e) ? double.IsFinite(a) : double.IsNaN(e) ? double.IsNaN(a) : e == a;

    private static double Abs(double re, double im) => im == 0 ? Math.Abs(re) : Complex.Abs(new Complex(re, im));

    /// <summary>
    /// Distance in units in the last place of the given precision: both values rounded to it and
    /// mapped to integers that order like the reals (so -0 and +0 are 0 apart and adjacent floats 1).
    /// </summary>
    public static double UlpDistance(double expected, double actual, Precision precision)
    {
        if (precision == Precision.Float32)
        {
            static long Ordered(float x) { int b = BitConverter.SingleToInt32Bits(x); return b < 0 ? (long)int.MinValue - b : b; }
            return Math.Abs((double)(Ordered((float)expected) - Ordered((float)actual)));
        }
        static Int128 Ordered64(double x) { long b = BitConverter.DoubleToInt64Bits(x); return b < 0 ? (Int128)long.MinValue - b : b; }
        return (double)Int128.Abs(Ordered64(expected) - Ordered64(actual));
    }

    internal static string Fmt(double v) =>
        double.IsNaN(v) ? "nan" : v == 0 ? "0" : Math.Abs(v) >= 1e-3 && Math.Abs(v) < 1e4 && v == Math.Round(v)
            ? v.ToString(CultureInfo.InvariantCulture)
            : v.ToString("0.#e+00", CultureInfo.InvariantCulture);

    private static string Value(double[] re, double[]? im, int i) =>
        im is null ? re[i].ToString("R", CultureInfo.InvariantCulture)
                   : $"{re[i].ToString("R", CultureInfo.InvariantCulture)}{(im[i] < 0 ? "-" : "+")}{Math.Abs(im[i]).ToString("R", CultureInfo.InvariantCulture)}j";

    internal static string ShapeText(ReadOnlySpan<int> shape) => Npy.ShapeRepr([.. shape.ToArray().Select(d => (long)d)]);

    /// <summary>A flat C-order index as [i0,i1,...].</summary>
    internal static string IndexText(ReadOnlySpan<int> shape, int flat)
    {
        var index = new int[shape.Length];
        for (int a = shape.Length - 1; a >= 0; a--)
        {
            index[a] = shape[a] == 0 ? 0 : flat % shape[a];
            flat = shape[a] == 0 ? 0 : flat / shape[a];
        }
        return "[" + string.Join(",", index) + "]";
    }

    /// <summary>The few indices with the largest score (insertion into a tiny sorted list; no allocation per element).</summary>
    private sealed class Worst(int capacity)
    {
        private readonly List<(int Index, double Score)> items = new(capacity + 1);

        public void Offer(int index, double score)
        {
            if (items.Count == capacity && score <= items[^1].Score) return;
            int at = items.FindIndex(p => p.Score < score);
            items.Insert(at < 0 ? items.Count : at, (index, score));
            if (items.Count > capacity) items.RemoveAt(capacity);
        }

        public IEnumerable<int> Indices() => items.Select(p => p.Index);
    }
}
