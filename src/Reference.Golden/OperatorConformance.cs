using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;
using Reference.Operators;

namespace Reference.Golden;

/// <summary>One representation of an operator held against its definition on one case.</summary>
/// <param name="Form">"fast", "fast32", a form's name, or "realize" (the diagonal realization against the materialized matrix).</param>
/// <param name="Comparisons">One comparison per output the form produces.</param>
public sealed record FormCheck(string Form, IReadOnlyList<Comparison> Comparisons)
{
    public bool Passed => Comparisons.All(c => c.Passed);

    /// <summary>The largest metric over the outputs (norm_rel, ulp or allclose ratio, as the case's tolerance kind says).</summary>
    public double Worst => Comparisons.Count == 0 ? 0 : Comparisons.Max(c => c.Value);
}

/// <summary>
/// Every representation of a registered operator checked against its definition in one place (the
/// demo and the registry tests both call this): the fast tier at float64 and float32 under the
/// case's tolerance, each of the paper's forms (recurrent, chunked, materialized, ...) under the
/// case's float64 bound, and the diagonal realization against the materialized operator.
/// </summary>
public static class OperatorConformance
{
    /// <summary>Runs the naive definition on the case's inputs and holds every other representation to it.</summary>
    public static IReadOnlyList<FormCheck> Check(OperatorDescriptor d, ConformanceCase c)
    {
        ArgumentNullException.ThrowIfNull(d);
        ArgumentNullException.ThrowIfNull(c);
        var inputs = d.InputsOf(c);
        var expected = d.Naive(c.Params, inputs);
        var checks = new List<FormCheck>();
        if (d.Fast is not null)
        {
            checks.Add(Against(d, c, "fast", expected, d.Fast(c.Params, inputs, Precision.Float64), Precision.Float64, expected.Keys));
            checks.Add(Against(d, c, "fast32", expected, d.Fast(c.Params, inputs, Precision.Float32), Precision.Float32, expected.Keys));
        }
        foreach (var form in d.Forms)
            checks.Add(Against(d, c, form.Name, expected, form.Run(c.Params, inputs), Precision.Float64, form.Outputs));
        if (d.Materialize is not null && d.Realize is not null)
            checks.Add(RealizationAgainstMatrix(d.Materialize(c.Params, inputs), d.Realize(c.Params, inputs)));
        return checks;
    }

    /// <summary>
    /// Each channel's realization materialized by its own definition (impulse responses through the
    /// diagonal recurrence) against the operator's materialized matrix, norm_rel &lt;= 1e-12.
    /// </summary>
    public static FormCheck RealizationAgainstMatrix(Tensor<double> matrices, IReadOnlyList<DiagonalRealization> realizations)
    {
        int c = matrices.Dim(0), l = matrices.Dim(1);
        if (realizations.Count != c)
            return new("realize", [new Comparison("T", false, "shape", realizations.Count, c, $"{realizations.Count} realizations for {c} matrices")]);
        var fromRealizations = Tensor<double>.Zeros(c, l, l);
        for (int ch = 0; ch < c; ch++) realizations[ch].Materialize().Data.CopyTo(fromRealizations.Data, ch * l * l);
        var tolerance = Tolerance.NormRelative(1e-12, 1e-5,
            "two float64 routes to the same L x L matrix (products of decays vs the operator's own closed form) differ by ~1e-15 relative");
        return new("realize", [Comparator.Compare("T", NpyArray.FromTensor(matrices), NpyArray.FromTensor(fromRealizations), tolerance, Precision.Float64)]);
    }

    /// <summary>
    /// The tape adapter's gradient of the probe f = sum(w * y) (w ~ N(0, 1) from the case's seed)
    /// with respect to every differentiable input, against central finite differences of the
    /// adapter's own forward (<see cref="GradCheck"/>, float64).
    /// </summary>
    public static GradCheck.Result GradientCheck(OperatorDescriptor d, ConformanceCase c)
    {
        ArgumentNullException.ThrowIfNull(d);
        ArgumentNullException.ThrowIfNull(c);
        if (d.Autodiff is null) throw new ArgumentException($"{d.Name} has no autodiff adapter ({d.Without.GetValueOrDefault("autodiff")}).", nameof(d));
        var x = d.InputsOf(c);
        // Optional inputs a case leaves out are not differentiated (the adapters take them last).
        var points = d.Differentiable.Where(x.ContainsKey).Select(x.Double).ToArray();
        var y = d.Naive(c.Params, x)[d.Outputs[0].Name].ToTensorDouble();
        var w = new SplitMix64(c.Seed ^ 0xD1B54A32D192ED03UL).NormalTensor<double>(0, 1, y.ShapeArray);
        return GradCheck.Check(v => Autodiff.Ops.Sum(Autodiff.Ops.Mul(d.Autodiff(c.Params, x, v), Variable.Constant(w))), points);
    }

    /// <summary>The non-edge case with the fewest input elements (the cheapest for finite differences).</summary>
    public static ConformanceCase SmallestCase(OperatorDescriptor d)
    {
        ArgumentNullException.ThrowIfNull(d);
        return d.Cases.Where(c => !c.Tags.Contains("edge")).DefaultIfEmpty(d.Cases[0])
            .MinBy(c => d.InputsOf(c).Values.Sum(a => (long)a.Count))!;
    }

    private static FormCheck Against(OperatorDescriptor d, ConformanceCase c, string form, NamedArrays expected, NamedArrays actual,
        Precision precision, IEnumerable<string> outputs)
    {
        var comparisons = new List<Comparison>();
        foreach (var name in outputs)
        {
            if (!expected.TryGetValue(name, out var reference))
                comparisons.Add(new Comparison(name, false, "shape", 0, 0, $"the definition has no output '{name}'"));
            else if (!actual.TryGetValue(name, out var candidate))
                comparisons.Add(new Comparison(name, false, "shape", 0, 0, $"{form} returned no output '{name}'"));
            else
                comparisons.Add(Comparator.Compare(name, reference, candidate, d.Tolerance(c.Params, name), precision));
        }
        return new(form, comparisons);
    }
}
