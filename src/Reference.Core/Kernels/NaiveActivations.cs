namespace Reference.Core.Kernels;

/// <summary>
/// Naive tier of the pointwise activations (the definition), float64, forward and backward.
/// Backward kernels compute dx = dy * f'(.), from the input x, or from the output y where the
/// derivative is a function of y alone (Sigmoid: y (1 - y); Tanh: 1 - y^2), which is what an
/// autodiff tape keeps. Every scalar function is public so tests and other kernels share it.
/// <para>
/// Definitions (PyTorch's, torch.nn.functional, with their default arguments):
/// <list type="bullet">
/// <item>Relu(x) = max(x, 0); NaN propagates; the derivative at 0 is taken as 0.</item>
/// <item>Gelu(x) = x Phi(x), Phi the standard normal CDF (Hendrycks and Gimpel, "Gaussian Error
/// Linear Units", 2016, sec. 2). Phi is evaluated as erfc(-x / sqrt 2) / 2 (<see cref="ScalarMath.NormalCdf"/>)
/// rather than PyTorch's (1 + erf(x / sqrt 2)) / 2: equal mathematically, but 1 + erf cancels for
/// x &lt;&lt; 0 (PyTorch's float64 GELU is 0 below x = -38; this one keeps full relative accuracy).
/// Gelu'(x) = Phi(x) + x phi(x).</item>
/// <item>GeluTanh(x) = x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2 (same paper, eq. in sec. 2;
/// approximate='tanh').</item>
/// <item>Sigmoid(x) = 1 / (1 + exp(-x)), evaluated as exp(x) / (1 + exp(x)) for x &lt; 0 so exp
/// never overflows. Silu(x) = x Sigmoid(x) (Elfwing et al. 2018; Ramachandran et al.'s Swish-1).</item>
/// <item>LogSigmoid(x) = min(x, 0) - log1p(exp(-|x|)) (stable: exp of a non-positive number,
/// log1p without cancellation); its derivative is Sigmoid(-x).</item>
/// <item>Softplus(x) = log1p(exp(x)), and x itself where x &gt; 20 (beta 1, threshold 20).</item>
/// <item>Elu(x) = x for x &gt; 0, alpha expm1(x) otherwise (Clevert et al. 2016), alpha = 1.</item>
/// </list>
/// </para>
/// </summary>
public static class NaiveActivations
{
    /// <summary>sqrt(2 / pi), the GELU tanh-approximation scale.</summary>
    public const double GeluTanhBeta = 0.79788456080286535588;

    /// <summary>The cubic coefficient of the GELU tanh approximation.</summary>
    public const double GeluTanhKappa = 0.044715;

    /// <summary>Softplus switches to the identity above this input (PyTorch's default threshold).</summary>
    public const double SoftplusThreshold = 20.0;

    public static double Relu(double x) => Math.Max(x, 0.0);
    public static double ReluDerivative(double x) => x > 0.0 ? 1.0 : 0.0;

    public static double Gelu(double x) => x * ScalarMath.NormalCdf(x);
    public static double GeluDerivative(double x) => ScalarMath.NormalCdf(x) + x * ScalarMath.NormalPdf(x);

    public static double GeluTanh(double x) => 0.5 * x * (1.0 + Math.Tanh(GeluTanhBeta * (x + GeluTanhKappa * x * x * x)));

    /// <summary>d/dx of GeluTanh: (1 + t)/2 + x/2 (1 - t^2) beta (1 + 3 kappa x^2), t = tanh(inner).</summary>
    public static double GeluTanhDerivative(double x)
    {
        double t = Math.Tanh(GeluTanhBeta * (x + GeluTanhKappa * x * x * x));
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GeluTanhBeta * (1.0 + 3.0 * GeluTanhKappa * x * x);
    }

    public static double Sigmoid(double x)
    {
        if (x >= 0.0) return 1.0 / (1.0 + Math.Exp(-x));
        double e = Math.Exp(x);
        return e / (1.0 + e);
    }

    public static double Silu(double x) => x * Sigmoid(x);

    public static double SiluDerivative(double x)
    {
        double s = Sigmoid(x);
        return s * (1.0 + x * (1.0 - s));
    }

    public static double LogSigmoid(double x) => Math.Min(x, 0.0) - ScalarMath.Log1p(Math.Exp(-Math.Abs(x)));
    public static double LogSigmoidDerivative(double x) => Sigmoid(-x);

    public static double Softplus(double x) => x > SoftplusThreshold ? x : ScalarMath.Log1p(Math.Exp(x));
    public static double SoftplusDerivative(double x) => x > SoftplusThreshold ? 1.0 : Sigmoid(x);

    public static double Elu(double x, double alpha = 1.0) => x > 0.0 ? x : alpha * ScalarMath.Expm1(x);
    public static double EluDerivative(double x, double alpha = 1.0) => x > 0.0 ? 1.0 : alpha * Math.Exp(x);

    public static void Relu(ReadOnlySpan<double> x, Span<double> y) => Map<ReluOp>(x, y);
    public static void Gelu(ReadOnlySpan<double> x, Span<double> y) => Map<GeluOp>(x, y);
    public static void GeluTanh(ReadOnlySpan<double> x, Span<double> y) => Map<GeluTanhOp>(x, y);
    public static void Silu(ReadOnlySpan<double> x, Span<double> y) => Map<SiluOp>(x, y);
    public static void Sigmoid(ReadOnlySpan<double> x, Span<double> y) => Map<SigmoidOp>(x, y);
    public static void LogSigmoid(ReadOnlySpan<double> x, Span<double> y) => Map<LogSigmoidOp>(x, y);
    public static void Tanh(ReadOnlySpan<double> x, Span<double> y) => Map<TanhOp>(x, y);
    public static void Softplus(ReadOnlySpan<double> x, Span<double> y) => Map<SoftplusOp>(x, y);

    public static void Elu(ReadOnlySpan<double> x, Span<double> y, double alpha = 1.0)
    {
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        for (int i = 0; i < x.Length; i++) y[i] = Elu(x[i], alpha);
    }

    /// <summary>dx = dy * Relu'(x).</summary>
    public static void ReluBackward(ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx) => MapBackward<ReluOp>(x, dy, dx);
    /// <summary>dx = dy * (Phi(x) + x phi(x)).</summary>
    public static void GeluBackward(ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx) => MapBackward<GeluOp>(x, dy, dx);
    public static void GeluTanhBackward(ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx) => MapBackward<GeluTanhOp>(x, dy, dx);
    public static void SiluBackward(ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx) => MapBackward<SiluOp>(x, dy, dx);
    public static void LogSigmoidBackward(ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx) => MapBackward<LogSigmoidOp>(x, dy, dx);
    public static void SoftplusBackward(ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx) => MapBackward<SoftplusOp>(x, dy, dx);

    public static void EluBackward(ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx, double alpha = 1.0)
    {
        ActivationChecks.Backward(x.Length, dy.Length, dx.Length);
        for (int i = 0; i < x.Length; i++) dx[i] = dy[i] * EluDerivative(x[i], alpha);
    }

    /// <summary>From the forward output y = Sigmoid(x): dx = dy * y (1 - y).</summary>
    public static void SigmoidBackward(ReadOnlySpan<double> y, ReadOnlySpan<double> dy, Span<double> dx)
    {
        ActivationChecks.Backward(y.Length, dy.Length, dx.Length);
        for (int i = 0; i < y.Length; i++) dx[i] = dy[i] * (y[i] * (1.0 - y[i]));
    }

    /// <summary>From the forward output y = tanh(x): dx = dy * (1 - y^2).</summary>
    public static void TanhBackward(ReadOnlySpan<double> y, ReadOnlySpan<double> dy, Span<double> dx)
    {
        ActivationChecks.Backward(y.Length, dy.Length, dx.Length);
        for (int i = 0; i < y.Length; i++) dx[i] = dy[i] * (1.0 - y[i] * y[i]);
    }

    private static void Map<TOp>(ReadOnlySpan<double> x, Span<double> y) where TOp : IScalarActivation
    {
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        for (int i = 0; i < x.Length; i++) y[i] = TOp.Value(x[i]);
    }

    private static void MapBackward<TOp>(ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx) where TOp : IScalarActivation
    {
        ActivationChecks.Backward(x.Length, dy.Length, dx.Length);
        for (int i = 0; i < x.Length; i++) dx[i] = dy[i] * TOp.Derivative(x[i]);
    }
}

/// <summary>A pointwise activation as a pair of float64 scalar functions (used by both tiers, inlined through generics).</summary>
internal interface IScalarActivation
{
    static abstract double Value(double x);
    static abstract double Derivative(double x);
}

internal readonly struct ReluOp : IScalarActivation
{
    public static double Value(double x) => NaiveActivations.Relu(x);
    public static double Derivative(double x) => NaiveActivations.ReluDerivative(x);
}

internal readonly struct GeluOp : IScalarActivation
{
    public static double Value(double x) => NaiveActivations.Gelu(x);
    public static double Derivative(double x) => NaiveActivations.GeluDerivative(x);
}

internal readonly struct GeluTanhOp : IScalarActivation
{
    public static double Value(double x) => NaiveActivations.GeluTanh(x);
    public static double Derivative(double x) => NaiveActivations.GeluTanhDerivative(x);
}

internal readonly struct SiluOp : IScalarActivation
{
    public static double Value(double x) => NaiveActivations.Silu(x);
    public static double Derivative(double x) => NaiveActivations.SiluDerivative(x);
}

internal readonly struct SigmoidOp : IScalarActivation
{
    public static double Value(double x) => NaiveActivations.Sigmoid(x);
    public static double Derivative(double x)
    {
        double s = NaiveActivations.Sigmoid(x);
        return s * (1.0 - s);
    }
}

internal readonly struct LogSigmoidOp : IScalarActivation
{
    public static double Value(double x) => NaiveActivations.LogSigmoid(x);
    public static double Derivative(double x) => NaiveActivations.LogSigmoidDerivative(x);
}

internal readonly struct TanhOp : IScalarActivation
{
    public static double Value(double x) => Math.Tanh(x);
    public static double Derivative(double x)
    {
        double t = Math.Tanh(x);
        return 1.0 - t * t;
    }
}

internal readonly struct SoftplusOp : IScalarActivation
{
    public static double Value(double x) => NaiveActivations.Softplus(x);
    public static double Derivative(double x) => NaiveActivations.SoftplusDerivative(x);
}

internal readonly struct EluOp : IScalarActivation
{
    public static double Value(double x) => NaiveActivations.Elu(x);
    public static double Derivative(double x) => NaiveActivations.EluDerivative(x);
}

internal static class ActivationChecks
{
    public static void Backward(int n, int dyLength, int dxLength)
    {
        ElementwiseChecks.SameLength(n, dyLength, "dy");
        ElementwiseChecks.SameLength(n, dxLength, "dx");
    }
}
