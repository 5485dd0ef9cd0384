using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Gradient check by central finite differences in float64 (the test every VJP must pass).
/// <para>
/// For f: (x_0, ..., x_{m-1}) -> scalar, the analytic gradient comes from one backward pass; the
/// numeric one perturbs each element e of each checked input by the step
/// h = step * max(1, |x_e|) (relative for large entries so that x + h != x, absolute near 0) and
/// takes (f(x + h e) - f(x - h e)) / (2 h). Central differences have truncation error
/// O(h^2 f''') ~ 1e-12 and rounding error ~ eps |f| / h ~ 1e-10 |f| at h = 1e-6, hence the default
/// tolerances |analytic - numeric| &lt;= atol max(1, |f(x)|) + rtol |numeric| with rtol = 1e-6 and
/// atol = 1e-8: the absolute allowance scales with |f(x)| because the rounding error does (a probe
/// f = sum(w * y) over hundreds of elements easily has |f| ~ 100).
/// </para>
/// The report names the worst element (largest error / allowance).
/// Cost: 2 forward passes per checked element; keep shapes small (tens to a few hundred elements).
/// Simplifications: f must be deterministic (seeded dropout must reuse its seed on each call) and
/// smooth at the sample point (kinks such as relu at 0 are hit with probability ~ h).
/// </summary>
public static class GradCheck
{
    public const double DefaultStep = 1e-6;
    public const double DefaultRtol = 1e-6;
    public const double DefaultAtol = 1e-8;

    /// <summary>Outcome: pass/fail, the worst element and a one-line report.</summary>
    public sealed record Result(bool Passed, int WorstInput, int WorstIndex, double Analytic, double Numeric, double AbsError, int Checked)
    {
        public override string ToString() =>
            $"gradcheck {(Passed ? "passed" : "FAILED")}: {Checked} elements, worst at input {WorstInput} element {WorstIndex}: " +
            $"analytic {Analytic:R} vs numeric {Numeric:R} (|diff| = {AbsError:E2})";
    }

    /// <summary>
    /// Checks d f / d inputs[i] for every i with <paramref name="check"/>[i] true (default: all).
    /// The inputs are copied; f receives fresh variables requiring grad.
    /// </summary>
    public static Result Check(Func<Variable[], Variable> f, Tensor<double>[] inputs,
        double step = DefaultStep, double rtol = DefaultRtol, double atol = DefaultAtol, bool[]? check = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(inputs);
        if (check is not null && check.Length != inputs.Length)
            throw new ArgumentException($"check has {check.Length} entries, expected {inputs.Length} (one per input).", nameof(check));
        if (!(step > 0)) throw new ArgumentOutOfRangeException(nameof(step), $"step = {step} must be > 0.");

        var points = inputs.Select(t => t.Clone()).ToArray();
        var variables = points.Select((t, i) => new Variable(t, check?[i] ?? true)).ToArray();
        var y = f(variables);
        if (y.Length != 1)
            throw new ArgumentException($"f must return one element, it returned shape {Shapes.Format(y.Shape)}.", nameof(f));
        if (y.RequiresGrad) y.Backward();

        var analytic = variables.Select(v => v.Grad).ToArray();
        var checkedPoints = points.Select((t, i) => check?[i] ?? true ? t : null).ToArray();
        return Compare(() => Evaluate(f, points), checkedPoints, analytic, step, rtol, atol);
    }

    /// <summary>
    /// Checks the gradients of a scalar function of module parameters (or any leaves it closes
    /// over): <paramref name="f"/> is run once with recording and backward, then once per
    /// perturbation under <see cref="Tape.NoGrad"/>, with each parameter's value perturbed in place
    /// (restored afterwards). Existing gradients of the parameters are cleared first.
    /// </summary>
    public static Result CheckParameters(Func<Variable> f, IReadOnlyList<Variable> parameters,
        double step = DefaultStep, double rtol = DefaultRtol, double atol = DefaultAtol)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(parameters);
        foreach (var p in parameters) p.ZeroGrad();
        var y = f();
        if (y.Length != 1)
            throw new ArgumentException($"f must return one element, it returned shape {Shapes.Format(y.Shape)}.", nameof(f));
        if (y.RequiresGrad) y.Backward();
        var analytic = parameters.Select(p => p.Grad).ToArray();
        foreach (var p in parameters) p.ZeroGrad();
        return Compare(() =>
        {
            using var scope = Tape.NoGrad();
            return f().Item();
        }, parameters.Select(p => (Tensor<double>?)p.Value).ToArray(), analytic, step, rtol, atol);
    }

    /// <summary>Central differences of <paramref name="evaluate"/> over every element of the non-null points.</summary>
    private static Result Compare(Func<double> evaluate, Tensor<double>?[] points, Tensor<double>?[] analytic, double step, double rtol, double atol)
    {
        var worst = new Result(true, -1, -1, 0, 0, 0, 0);
        double worstRatio = -1;
        double absAllowance = atol * Math.Max(1.0, Math.Abs(evaluate()));
        int count = 0;
        for (int i = 0; i < points.Length; i++)
        {
            if (points[i] is not { } point) continue;
            var x = point.Data;
            var a = analytic[i]?.Data ?? new double[x.Length];
            for (int e = 0; e < x.Length; e++)
            {
                double saved = x[e];
                double h = step * Math.Max(1.0, Math.Abs(saved));
                x[e] = saved + h;
                double plus = evaluate();
                x[e] = saved - h;
                double minus = evaluate();
                x[e] = saved;
                double numeric = (plus - minus) / (2.0 * h);
                double err = Math.Abs(a[e] - numeric);
                double ratio = err / (absAllowance + rtol * Math.Abs(numeric));
                if (double.IsNaN(ratio)) ratio = double.PositiveInfinity;
                count++;
                if (ratio > worstRatio)
                {
                    worstRatio = ratio;
                    worst = new Result(ratio <= 1.0, i, e, a[e], numeric, err, 0);
                }
            }
        }
        return worst with { Checked = count, Passed = worstRatio <= 1.0 };
    }

    private static double Evaluate(Func<Variable[], Variable> f, Tensor<double>[] points)
    {
        using var scope = Tape.NoGrad();
        return f(points.Select(Variable.Constant).ToArray()).Item();
    }
}
