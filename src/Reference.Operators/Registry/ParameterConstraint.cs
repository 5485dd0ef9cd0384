using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.Operators;

/// <summary>
/// A domain a learned parameter input must stay in, and the reparametrization a trainer uses to keep
/// it there: the trainer stores an unconstrained raw tensor r, feeds the operator <see cref="ParameterConstraints.Apply(ParameterConstraint, Variable)"/>
/// of it, and starts r at <see cref="ParameterConstraints.Inverse(ParameterConstraint, double)"/> of the Sample's value, so the operator sees the
/// Sample's initialization and no gradient step can leave the domain.
/// </summary>
public enum ParameterConstraint
{
    /// <summary>Any real value.</summary>
    None,

    /// <summary>
    /// value &lt;= 0, fed as -softplus(r) (a log decay log lambda: 0 &lt; lambda = exp(value) &lt;= 1). Softplus is
    /// strictly positive, so the fed value is &lt; 0 for every finite r; the inverse r = log(expm1(-value))
    /// needs value &lt; 0.
    /// </summary>
    NonPositive,
}

/// <summary>The constraint's map from raw to constrained values, on the tape and on plain numbers, and its inverse.</summary>
public static class ParameterConstraints
{
    /// <summary>The constrained value of raw <paramref name="raw"/> on the tape (gradients flow through).</summary>
    public static Variable Apply(this ParameterConstraint constraint, Variable raw) => constraint switch
    {
        ParameterConstraint.None => raw,
        ParameterConstraint.NonPositive => Ops.Neg(Ops.Softplus(raw)),
        _ => throw new ArgumentOutOfRangeException(nameof(constraint), $"constraint = {constraint}; expected None or NonPositive."),
    };

    /// <summary>The constrained value of one raw number: -softplus(r) for NonPositive, the tape's softplus (threshold 20).</summary>
    public static double Apply(this ParameterConstraint constraint, double raw) => constraint switch
    {
        ParameterConstraint.None => raw,
        ParameterConstraint.NonPositive => -NaiveActivations.Softplus(raw),
        _ => throw new ArgumentOutOfRangeException(nameof(constraint), $"constraint = {constraint}; expected None or NonPositive."),
    };

    /// <summary>The raw number whose constrained value is <paramref name="value"/> (ArgumentOutOfRangeException outside the open domain).</summary>
    public static double Inverse(this ParameterConstraint constraint, double value)
    {
        switch (constraint)
        {
            case ParameterConstraint.None:
                return value;
            case ParameterConstraint.NonPositive:
                if (!(value < 0) || !double.IsFinite(value))
                    throw new ArgumentOutOfRangeException(nameof(value), $"value = {value}; a NonPositive parameter starts at a finite value < 0 (-softplus never reaches 0).");
                // softplus(r) = a  <=>  r = log(e^a - 1) = a + log(1 - e^-a), the second form for large a.
                double a = -value;
                return a > 1 ? a + ScalarMath.Log1p(-Math.Exp(-a)) : Math.Log(ScalarMath.Expm1(a));
            default:
                throw new ArgumentOutOfRangeException(nameof(constraint), $"constraint = {constraint}; expected None or NonPositive.");
        }
    }

    /// <summary>Elementwise <see cref="Apply(ParameterConstraint, double)"/> of a tensor.</summary>
    public static Tensor<double> Apply(this ParameterConstraint constraint, Tensor<double> raw) => Map(raw, x => constraint.Apply(x));

    /// <summary>Elementwise <see cref="Inverse(ParameterConstraint, double)"/> of a tensor.</summary>
    public static Tensor<double> Inverse(this ParameterConstraint constraint, Tensor<double> value) => Map(value, x => constraint.Inverse(x));

    private static Tensor<double> Map(Tensor<double> x, Func<double, double> f)
    {
        var source = x.Span;
        var target = new double[source.Length];
        for (int i = 0; i < source.Length; i++) target[i] = f(source[i]);
        return new Tensor<double>(target, x.Shape.ToArray());
    }
}
