using System.Globalization;

namespace Reference.Core.Conformance;

/// <summary>The precision a backend computed in; it selects which bound of a tolerance applies.</summary>
public enum Precision
{
    Float64,
    Float32,
}

/// <summary>
/// The bound of one tolerance kind at one precision (only the fields of that kind are set):
/// <list type="bullet">
/// <item><c>ulp</c>: MaxUlp (units in the last place of the candidate's precision, elementwise),
/// with an optional Atol under which a difference passes regardless (values near zero).</item>
/// <item><c>allclose</c>: Rtol and Atol, numpy.allclose: |actual - expected| &lt;= Atol + Rtol |expected|.</item>
/// <item><c>norm_rel</c>: Max and Floor: ||expected - actual||_2 / (||expected||_2 + Floor) &lt;= Max.</item>
/// </list>
/// </summary>
public sealed record ToleranceBound(double? Rtol = null, double? Atol = null, double? Max = null, double? Floor = null, long? MaxUlp = null)
{
    public override string ToString()
    {
        var parts = new List<string>();
        if (MaxUlp is { } u) parts.Add($"max_ulp {u}");
        if (Rtol is { } r) parts.Add($"rtol {Fmt(r)}");
        if (Atol is { } a) parts.Add($"atol {Fmt(a)}");
        if (Max is { } m) parts.Add($"max {Fmt(m)}");
        if (Floor is { } f) parts.Add($"floor {Fmt(f)}");
        return string.Join(", ", parts);
    }

    public static string Fmt(double v) => v == 0 ? "0" : v.ToString("0.##e+00", CultureInfo.InvariantCulture);
}

/// <summary>
/// A per-output tolerance as the manifest stores it: a kind (<see cref="Kinds"/>), one bound per
/// precision (a float64 backend is held to <see cref="Float64"/>, a float32 one to
/// <see cref="Float32"/>), and a one-line rationale saying where the numbers come from.
/// </summary>
public sealed record Tolerance(string Kind, ToleranceBound Float64, ToleranceBound Float32, string Rationale)
{
    public const string Ulp = "ulp";
    public const string AllClose = "allclose";
    public const string NormRel = "norm_rel";

    /// <summary>Exact equality; for integer and boolean outputs (no bound fields).</summary>
    public const string Exact = "exact";

    public static readonly IReadOnlyList<string> Kinds = [Ulp, AllClose, NormRel, Exact];

    public ToleranceBound For(Precision precision) => precision == Precision.Float32 ? Float32 : Float64;

    public static Tolerance NormRelative(double max64, double max32, string rationale, double floor = 1e-300) =>
        new(NormRel, new ToleranceBound(Max: max64, Floor: floor), new ToleranceBound(Max: max32, Floor: floor), rationale);

    public static Tolerance Close(double rtol64, double atol64, double rtol32, double atol32, string rationale) =>
        new(AllClose, new ToleranceBound(Rtol: rtol64, Atol: atol64), new ToleranceBound(Rtol: rtol32, Atol: atol32), rationale);

    public static Tolerance Ulps(long ulp64, long ulp32, string rationale, double atol64 = 0, double atol32 = 0) =>
        new(Ulp, new ToleranceBound(Atol: atol64, MaxUlp: ulp64), new ToleranceBound(Atol: atol32, MaxUlp: ulp32), rationale);

    public static Tolerance ExactMatch(string rationale) => new(Exact, new ToleranceBound(), new ToleranceBound(), rationale);

    /// <summary>Checks that the kind is known and the bound carries exactly the fields it needs.</summary>
    public string? Problem()
    {
        if (!Kinds.Contains(Kind)) return $"unknown tolerance kind '{Kind}' (expected one of {string.Join(", ", Kinds)})";
        if (string.IsNullOrWhiteSpace(Rationale)) return "the tolerance has no rationale";
        foreach (var (name, b) in new[] { ("float64", Float64), ("float32", Float32) })
        {
            string? p = Kind switch
            {
                Ulp => b.MaxUlp is >= 0 && b.Rtol is null && b.Max is null && b.Floor is null && b.Atol is null or >= 0 ? null : "ulp needs max_ulp >= 0 and optionally atol >= 0",
                AllClose => b.Rtol is >= 0 && b.Atol is >= 0 && b.Max is null && b.Floor is null && b.MaxUlp is null ? null : "allclose needs rtol >= 0 and atol >= 0",
                NormRel => b.Max is > 0 && b.Floor is >= 0 && b.Rtol is null && b.Atol is null && b.MaxUlp is null ? null : "norm_rel needs max > 0 and floor >= 0",
                _ => b == new ToleranceBound() ? null : "exact takes no bound fields",
            };
            if (p is not null) return $"{name} bound: {p}";
        }
        return null;
    }
}
