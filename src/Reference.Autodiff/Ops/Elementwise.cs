using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Pointwise functions y = f(x) and their VJPs g * f'(x). The derivative is written in terms of x
/// and y where that is cheaper or more stable (exp: y; tanh: 1 - y^2; sigmoid: y (1 - y)).
/// Numerically delicate spots: sigmoid and softplus are evaluated in the branch that never
/// exponentiates a large positive number; softplus follows PyTorch (beta = 1, threshold 20: x > 20
/// returns x).
/// </summary>
public static partial class Ops
{
    public static Variable Exp(Variable x) => Pointwise("exp", x, Math.Exp, (_, y) => y);

    public static Variable Log(Variable x) => Pointwise("log", x, Math.Log, (v, _) => 1.0 / v);

    public static Variable Tanh(Variable x) => Pointwise("tanh", x, Math.Tanh, (_, y) => 1.0 - y * y);

    public static Variable Sigmoid(Variable x) => Pointwise("sigmoid", x, SigmoidScalar, (_, y) => y * (1.0 - y));

    /// <summary>max(x, 0); the derivative at 0 is taken as 0 (PyTorch).</summary>
    public static Variable Relu(Variable x)
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = Like(x.Value);
        TensorPrimitives.Max(x.Value.Data, 0.0, y.Data);
        return Function.Apply("relu", [x], y, g =>
        {
            var gx = Like(g);
            var xs = x.Value.Data;
            for (int i = 0; i < gx.Length; i++) gx.Data[i] = xs[i] > 0.0 ? g.Data[i] : 0.0;
            return [gx];
        });
    }

    /// <summary>x sigmoid(x) (SiLU / swish).</summary>
    public static Variable Silu(Variable x) => Pointwise("silu", x, v => v * SigmoidScalar(v), (v, _) =>
    {
        double s = SigmoidScalar(v);
        return s * (1.0 + v * (1.0 - s));
    });

    /// <summary>log(1 + e^x), PyTorch's Softplus(beta = 1, threshold = 20).</summary>
    public static Variable Softplus(Variable x) => Pointwise("softplus", x, SoftplusScalar, (v, _) => v > 20.0 ? 1.0 : SigmoidScalar(v));

    /// <summary>
    /// GELU, tanh approximation (Hendrycks and Gimpel 2016, sec. 2; PyTorch approximate="tanh"):
    /// 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3);
    /// derivative 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2), t = tanh(u).
    /// </summary>
    public static Variable GeluTanh(Variable x) => Pointwise("gelu_tanh", x,
        v => 0.5 * v * (1.0 + Math.Tanh(GeluC * (v + 0.044715 * v * v * v))),
        (v, _) =>
        {
            double t = Math.Tanh(GeluC * (v + 0.044715 * v * v * v));
            return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * GeluC * (1.0 + 3.0 * 0.044715 * v * v);
        });

    /// <summary>sqrt(2 / pi).</summary>
    private const double GeluC = 0.7978845608028654;

    public static Variable Abs(Variable x) => Pointwise("abs", x, Math.Abs, (v, _) => Math.Sign(v));

    public static Variable Sqrt(Variable x) => Pointwise("sqrt", x, Math.Sqrt, (_, y) => 0.5 / y);

    /// <summary>1 / (1 + e^-x) without overflow: for x &lt; 0 it is e^x / (1 + e^x).</summary>
    internal static double SigmoidScalar(double x)
    {
        if (x >= 0) return 1.0 / (1.0 + Math.Exp(-x));
        double e = Math.Exp(x);
        return e / (1.0 + e);
    }

    /// <summary>log(1 + e^x) = max(x, 0) + log1p(e^-|x|) (no overflow, no cancellation), x for x &gt; 20.</summary>
    internal static double SoftplusScalar(double x) => x > 20.0 ? x : Math.Max(x, 0.0) + Log1p(Math.Exp(-Math.Abs(x)));

    /// <summary>log(1 + u) accurate for small u (the classic (u * log(1+u)) / ((1+u) - 1) correction).</summary>
    internal static double Log1p(double u)
    {
        double w = 1.0 + u;
        return w == 1.0 ? u : Math.Log(w) * u / (w - 1.0);
    }

    /// <summary>y = f(x) elementwise with VJP g * df(x, y).</summary>
    internal static Variable Pointwise(string name, Variable x, Func<double, double> f, Func<double, double, double> df)
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = Like(x.Value);
        var xs = x.Value.Data;
        for (int i = 0; i < xs.Length; i++) y.Data[i] = f(xs[i]);
        return Function.Apply(name, [x], y, g =>
        {
            var gx = Like(g);
            for (int i = 0; i < gx.Length; i++) gx.Data[i] = g.Data[i] * df(xs[i], y.Data[i]);
            return [gx];
        });
    }
}
