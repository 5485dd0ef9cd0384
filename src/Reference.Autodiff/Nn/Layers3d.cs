using Reference.Core;

namespace Reference.Autodiff.Nn;

/// <summary>
/// nn.Conv3d: x [N, Cin, D, H, W] -> [N, Cout, Do, Ho, Wo] (see <see cref="Ops.Conv3d(Variable, Variable, Variable?, Conv3dGeometry)"/>).
/// Init as PyTorch: weight [Cout, Cin, kd, kh, kw] ~ kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(fan_in),
/// 1/sqrt(fan_in)), fan_in = Cin kd kh kw, then bias from the same bound. <see cref="SamePadding"/>
/// selects TensorFlow's padding = "same" for the input size seen at each call.
/// </summary>
public sealed class Conv3d : Layer
{
    public Conv3d(int inChannels, int outChannels, int kernel, SplitMix64 rng, int stride = 1, int padding = 0, bool bias = true)
        : this(inChannels, outChannels, [kernel, kernel, kernel], rng, [stride, stride, stride], padding, bias) { }

    public Conv3d(int inChannels, int outChannels, int[] kernel, SplitMix64 rng, int[] stride, int padding = 0, bool bias = true, bool samePadding = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outChannels);
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(stride);
        ArgumentNullException.ThrowIfNull(rng);
        if (kernel.Length != 3 || kernel.Any(k => k < 1)) throw new ArgumentException($"kernel is [{string.Join(", ", kernel)}], expected 3 sizes >= 1.", nameof(kernel));
        Kernel = kernel;
        Geometry = new Conv3dGeometry(stride, [padding, padding, padding], [padding, padding, padding]);
        SamePadding = samePadding;
        Weight = RegisterParameter("weight", Init.KaimingUniform(rng, Math.Sqrt(5.0), outChannels, inChannels, kernel[0], kernel[1], kernel[2]));
        double bound = 1.0 / Math.Sqrt(inChannels * kernel[0] * kernel[1] * kernel[2]);
        Bias = bias ? RegisterParameter("bias", Init.Uniform(rng, -bound, bound, outChannels)) : null;
    }

    public int[] Kernel { get; }
    public Conv3dGeometry Geometry { get; }
    public bool SamePadding { get; }
    public Variable Weight { get; }
    public Variable? Bias { get; }

    /// <summary>The geometry applied to an input of spatial size <paramref name="spatial"/>.</summary>
    public Conv3dGeometry GeometryFor(ReadOnlySpan<int> spatial) => SamePadding ? Conv3dGeometry.Same(spatial, Kernel, Geometry.Stride) : Geometry;

    public override Variable Forward(Variable x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 5) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [N, Cin, D, H, W].", nameof(x));
        return Ops.Conv3d(x, Weight, Bias, GeometryFor(x.Shape[2..]));
    }
}

/// <summary>
/// nn.BatchNorm1d/2d/3d over x [N, C, ...] (<see cref="Ops.BatchNorm"/>): weight 1 and bias 0 at init;
/// running mean 0 and variance 1, updated in training mode with <see cref="Momentum"/> (PyTorch's
/// convention: new = (1 - m) old + m batch; Keras' momentum 0.99 is m = 0.01); eval mode uses them.
/// The running statistics are buffers, not parameters (not seen by optimizers or gradcheck).
/// </summary>
public sealed class BatchNorm : Layer
{
    public BatchNorm(int channels, double eps = Ops.DefaultBatchNormEps, double momentum = Ops.DefaultBatchNormMomentum, bool affine = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        Eps = eps;
        Momentum = momentum;
        Weight = affine ? RegisterParameter("weight", Init.Ones(channels)) : null;
        Bias = affine ? RegisterParameter("bias", Init.Zeros(channels)) : null;
        RunningMean = new double[channels];
        RunningVar = Enumerable.Repeat(1.0, channels).ToArray();
    }

    public double Eps { get; }
    /// <summary>
    /// Weight of the batch statistics in the running update. Settable so that a trainer can set it to 1
    /// for one pass over a whole training set (the running statistics then become that set's
    /// statistics, as NeuralTraining's recalibration does).
    /// </summary>
    public double Momentum
    {
        get;
        set => field = value is >= 0 and <= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Momentum), $"momentum = {value} must be in [0, 1].");
    }
    public Variable? Weight { get; }
    public Variable? Bias { get; }
    public double[] RunningMean { get; }
    public double[] RunningVar { get; }

    public override Variable Forward(Variable x) => Ops.BatchNorm(x, Weight, Bias, RunningMean, RunningVar, Training, Momentum, Eps);
}

/// <summary>nn.Dropout3d / SpatialDropout3D with its own seeded stream (one draw per (n, c) per training call); identity in eval mode.</summary>
public sealed class Dropout3d(double p, ulong seed) : Layer
{
    private readonly SplitMix64 rng = new(seed);

    public double P { get; } = p is >= 0 and <= 1 ? p : throw new ArgumentOutOfRangeException(nameof(p), $"p = {p} must be in [0, 1].");

    /// <summary>True when <see cref="Forward"/> draws a mask (training mode and p &gt; 0); otherwise it is the identity.</summary>
    public bool Active => Training && P > 0;

    /// <summary>The layer's stream, for <see cref="FusedBlocks"/> (which draws from it exactly as <see cref="Forward"/> would).</summary>
    internal SplitMix64 Generator => rng;

    public override Variable Forward(Variable x) => Active ? Ops.Dropout3d(x, P, rng) : x;
}

/// <summary>
/// Runs a list of layers as <see cref="Sequential"/> does, except that each BatchNorm -> ReLU
/// (-> Dropout3d) run in training mode inside <see cref="Tape.UseFastKernels"/> is recorded as the one
/// primitive <see cref="Ops.BatchNormReluDropout3d"/>: the same values, gradients, running statistics
/// and dropout draws (bitwise), in one pass over memory per direction instead of three. Everywhere
/// else (Naive tier, evaluation mode, any other layer) each layer runs on its own, so the graphs that
/// attribution methods trace in evaluation mode keep their "batch_norm_eval" and "relu" primitives.
/// </summary>
public static class FusedBlocks
{
    public static Variable Forward(IReadOnlyList<Layer> layers, Variable x)
    {
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentNullException.ThrowIfNull(x);
        for (int i = 0; i < layers.Count; i++)
        {
            if (Tape.FastKernels && i + 1 < layers.Count && layers[i] is BatchNorm { Training: true } bn
                && layers[i + 1] is Activation { Kind: ActivationKind.Relu })
            {
                var dropout = i + 2 < layers.Count ? layers[i + 2] as Dropout3d : null;
                x = Ops.BatchNormReluDropout3d(x, bn.Weight, bn.Bias, bn.RunningMean, bn.RunningVar, bn.Momentum, bn.Eps,
                    dropout?.P ?? 0, dropout is { Active: true } ? dropout.Generator : null);
                i += dropout is null ? 1 : 2;
                continue;
            }
            x = layers[i].Forward(x);
        }
        return x;
    }
}

/// <summary>nn.MaxPool3d / nn.AvgPool3d with a cubic kernel (stride defaults to the kernel, as PyTorch).</summary>
public sealed class Pool3d(bool max, int kernel, int? stride = null, int padding = 0) : Layer
{
    public bool Max { get; } = max;

    public override Variable Forward(Variable x) => Max ? Ops.MaxPool3d(x, kernel, stride, padding) : Ops.AvgPool3d(x, kernel, stride, padding);
}

/// <summary>Global average or max pooling: [N, C, *S] -> [N, C].</summary>
public sealed class GlobalPool(bool max) : Layer
{
    public bool Max { get; } = max;

    public override Variable Forward(Variable x) => Max ? Ops.GlobalMaxPool(x) : Ops.GlobalAvgPool(x);
}

/// <summary>nn.Flatten(): [N, ...] -> [N, prod(...)].</summary>
public sealed class Flatten : Layer
{
    public override Variable Forward(Variable x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank < 1) throw new ArgumentException("x is a scalar, expected [N, ...].", nameof(x));
        return Ops.Reshape(x, x.Shape[0], x.Shape[0] == 0 ? 0 : x.Length / x.Shape[0]);
    }
}
