using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.Autodiff;

/// <summary>
/// Pointwise functions y = f(x) and their VJPs g * f'(x). The activation math (GELU exact and
/// tanh, SiLU, sigmoid, tanh, softplus with PyTorch's threshold 20, their derivatives and the
/// stable branches) lives in Reference.Core.Kernels: NaiveActivations is the definition, and
/// FastActivations is used inside <see cref="Tape.UseFastKernels"/>. Sigmoid and tanh
/// differentiate from the saved output (y (1 - y), 1 - y^2), the others from the saved input.
/// exp, log, sqrt, abs and pow are one libm call per element and need no kernel.
/// </summary>
public static partial class Ops
{
    private delegate void Map(ReadOnlySpan<double> x, Span<double> y);
    private delegate void MapBackward(ReadOnlySpan<double> saved, ReadOnlySpan<double> dy, Span<double> dx);

    public static Variable Relu(Variable x) => Activation("relu", x, NaiveActivations.Relu, FastActivations.Relu,
        NaiveActivations.ReluBackward, FastActivations.ReluBackward, fromOutput: false);

    /// <summary>GELU, exact: x Phi(x) (Hendrycks and Gimpel 2016, sec. 2).</summary>
    /// On the fast tier, when the result will be differentiated, the forward also keeps GELU'(x) (one
    /// erf evaluation for both, <see cref="FastActivations.GeluWithDerivative"/>) and the VJP is g GELU'(x),
    /// bitwise what <see cref="FastActivations.GeluBackward{T}"/> would compute from x.
    public static Variable Gelu(Variable x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (!Tape.FastKernels || !Tape.IsRecording || !x.RequiresGrad)
            return Activation("gelu", x, NaiveActivations.Gelu, FastActivations.Gelu, NaiveActivations.GeluBackward, FastActivations.GeluBackward, fromOutput: false);
        var y = Empty(x.Value);
        var derivative = Empty(x.Value);
        FastActivations.GeluWithDerivative(x.Value.Data, y.Data, derivative.Data);
        return Function.Apply("gelu", [x], y, g =>
        {
            var gx = Empty(g);
            TensorPrimitives.Multiply(g.Data, derivative.Data, gx.Data);
            return [gx];
        });
    }

    /// <summary>GELU, tanh approximation (PyTorch approximate = "tanh").</summary>
    public static Variable GeluTanh(Variable x) => Activation("gelu_tanh", x, NaiveActivations.GeluTanh, FastActivations.GeluTanh,
        NaiveActivations.GeluTanhBackward, FastActivations.GeluTanhBackward, fromOutput: false);

    /// <summary>x sigmoid(x) (SiLU / Swish-1).</summary>
    public static Variable Silu(Variable x) => Activation("silu", x, NaiveActivations.Silu, FastActivations.Silu,
        NaiveActivations.SiluBackward, FastActivations.SiluBackward, fromOutput: false);

    /// <summary>log(1 + e^x), PyTorch's Softplus(beta = 1, threshold = 20).</summary>
    public static Variable Softplus(Variable x) => Activation("softplus", x, NaiveActivations.Softplus, FastActivations.Softplus,
        NaiveActivations.SoftplusBackward, FastActivations.SoftplusBackward, fromOutput: false);

    public static Variable Sigmoid(Variable x) => Activation("sigmoid", x, NaiveActivations.Sigmoid, FastActivations.Sigmoid,
        NaiveActivations.SigmoidBackward, FastActivations.SigmoidBackward, fromOutput: true);

    public static Variable Tanh(Variable x) => Activation("tanh", x, NaiveActivations.Tanh, FastActivations.Tanh,
        NaiveActivations.TanhBackward, FastActivations.TanhBackward, fromOutput: true);

    public static Variable Exp(Variable x) => Pointwise("exp", x, Math.Exp, (_, y) => y);

    /// <summary>sin(x): the activation of Hyena's implicit filter (Poli et al. 2023, sec. 3.3; safari's Sin with w = 1).</summary>
    public static Variable Sin(Variable x) => Pointwise("sin", x, Math.Sin, (v, _) => Math.Cos(v));

    public static Variable Log(Variable x) => Pointwise("log", x, Math.Log, (v, _) => 1.0 / v);

    public static Variable Abs(Variable x) => Pointwise("abs", x, Math.Abs, (v, _) => Math.Sign(v));

    public static Variable Sqrt(Variable x) => Pointwise("sqrt", x, Math.Sqrt, (_, y) => 0.5 / y);

    private static Variable Activation(string name, Variable x, Map naive, Map fast, MapBackward naiveBackward, MapBackward fastBackward, bool fromOutput)
    {
        ArgumentNullException.ThrowIfNull(x);
        bool useFast = Tape.FastKernels;
        var y = Empty(x.Value);
        (useFast ? fast : naive)(x.Value.Data, y.Data);
        return Function.Apply(name, [x], y, g =>
        {
            var gx = Empty(g);
            (useFast ? fastBackward : naiveBackward)(fromOutput ? y.Data : x.Value.Data, g.Data, gx.Data);
            return [gx];
        });
    }

    /// <summary>y = f(x) elementwise with VJP g * df(x, y).</summary>
    internal static Variable Pointwise(string name, Variable x, Func<double, double> f, Func<double, double, double> df)
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = Empty(x.Value);
        var xs = x.Value.Data;
        for (int i = 0; i < xs.Length; i++) y.Data[i] = f(xs[i]);
        return Function.Apply(name, [x], y, g =>
        {
            var gx = Empty(g);
            for (int i = 0; i < gx.Length; i++) gx.Data[i] = g.Data[i] * df(xs[i], y.Data[i]);
            return [gx];
        });
    }
}
