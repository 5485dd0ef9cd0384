using Reference.Core;

namespace Reference.Autodiff.Nn;

/// <summary>
/// y = x W^T + b (nn.Linear): x [..., in], W [out, in], b [out], y [..., out]. Initialization as
/// PyTorch: W ~ kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), then b from the same
/// bound, both drawn from the given SplitMix64 in that order.
/// </summary>
public sealed class Linear : Layer
{
    public Linear(int inFeatures, int outFeatures, SplitMix64 rng, bool bias = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inFeatures);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outFeatures);
        ArgumentNullException.ThrowIfNull(rng);
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = RegisterParameter("weight", Init.KaimingUniform(rng, Math.Sqrt(5.0), outFeatures, inFeatures));
        double bound = 1.0 / Math.Sqrt(inFeatures);
        Bias = bias ? RegisterParameter("bias", Init.Uniform(rng, -bound, bound, outFeatures)) : null;
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Variable Weight { get; }
    public Variable? Bias { get; }

    public override Variable Forward(Variable x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank < 1 || x.Shape[^1] != InFeatures)
            throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [..., {InFeatures}].", nameof(x));
        var rows = x.Rank == 2 ? x : Ops.Reshape(x, -1, InFeatures);
        var y = Ops.MatMul(rows, Weight, transB: true);
        if (Bias is not null) y = y + Bias;
        return x.Rank == 2 ? y : Ops.Reshape(y, [.. x.Shape[..^1], OutFeatures]);
    }
}

/// <summary>Token embedding table (nn.Embedding): weight [V, D] ~ N(0, 1); ids [S...] -> [S..., D].</summary>
public sealed class Embedding : Module
{
    public Embedding(int vocabulary, int dim, SplitMix64 rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabulary);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        ArgumentNullException.ThrowIfNull(rng);
        Weight = RegisterParameter("weight", Init.Normal(rng, 0, 1, vocabulary, dim));
    }

    public Variable Weight { get; }

    public Variable Forward(int[] ids, params int[] idsShape) => Ops.Embedding(Weight, ids, idsShape);
}

/// <summary>nn.LayerNorm over the last axis D: weight = 1, bias = 0 at init.</summary>
public sealed class LayerNorm : Layer
{
    public LayerNorm(int dim, double eps = 1e-5, bool bias = true)
    {
        Eps = eps;
        Weight = RegisterParameter("weight", Init.Ones(dim));
        Bias = bias ? RegisterParameter("bias", Init.Zeros(dim)) : null;
    }

    public double Eps { get; }
    public Variable Weight { get; }
    public Variable? Bias { get; }

    public override Variable Forward(Variable x) => Ops.LayerNorm(x, Weight, Bias, Eps);
}

/// <summary>RMSNorm over the last axis D: weight = 1 at init.</summary>
public sealed class RmsNorm : Layer
{
    public RmsNorm(int dim, double eps = 1e-6)
    {
        Eps = eps;
        Weight = RegisterParameter("weight", Init.Ones(dim));
    }

    public double Eps { get; }
    public Variable Weight { get; }

    public override Variable Forward(Variable x) => Ops.RmsNorm(x, Weight, Eps);
}

/// <summary>The pointwise nonlinearities available as layers.</summary>
public enum ActivationKind { Relu, Gelu, GeluTanh, Silu, Softplus, Sigmoid, Tanh }

/// <summary>A parameter-free pointwise nonlinearity.</summary>
public sealed class Activation(ActivationKind kind) : Layer
{
    public ActivationKind Kind { get; } = kind;

    public override Variable Forward(Variable x) => Apply(Kind, x);

    public static Variable Apply(ActivationKind kind, Variable x) => kind switch
    {
        ActivationKind.Relu => Ops.Relu(x),
        ActivationKind.Gelu => Ops.Gelu(x),
        ActivationKind.GeluTanh => Ops.GeluTanh(x),
        ActivationKind.Silu => Ops.Silu(x),
        ActivationKind.Softplus => Ops.Softplus(x),
        ActivationKind.Sigmoid => Ops.Sigmoid(x),
        ActivationKind.Tanh => Ops.Tanh(x),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), $"kind = {kind} is not a known activation."),
    };
}

/// <summary>Softmax or log-softmax along an axis as a layer.</summary>
public sealed class Softmax(int axis = -1, bool log = false) : Layer
{
    public override Variable Forward(Variable x) => log ? Ops.LogSoftmax(x, axis) : Ops.Softmax(x, axis);
}

/// <summary>Dropout with its own seeded stream (one draw per element per training call); identity in eval mode.</summary>
public sealed class Dropout(double p, ulong seed) : Layer
{
    private readonly SplitMix64 rng = new(seed);

    public double P { get; } = p is >= 0 and <= 1 ? p : throw new ArgumentOutOfRangeException(nameof(p), $"p = {p} must be in [0, 1].");

    public override Variable Forward(Variable x) => Training && P > 0 ? Ops.Dropout(x, P, rng) : x;
}

/// <summary>
/// Depthwise causal Conv1d layer: x [B, L, C] -> [B, L, C], weight [C, K], bias [C]. Init as
/// nn.Conv1d(C, C, K, groups = C): fan_in = K, weight and bias ~ U(-1/sqrt(K), 1/sqrt(K)).
/// </summary>
public sealed class CausalConv1d : Layer
{
    public CausalConv1d(int channels, int kernelSize, SplitMix64 rng, bool bias = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kernelSize);
        ArgumentNullException.ThrowIfNull(rng);
        double bound = 1.0 / Math.Sqrt(kernelSize);
        Weight = RegisterParameter("weight", Init.Uniform(rng, -bound, bound, channels, kernelSize));
        Bias = bias ? RegisterParameter("bias", Init.Uniform(rng, -bound, bound, channels)) : null;
    }

    public Variable Weight { get; }
    public Variable? Bias { get; }

    public override Variable Forward(Variable x) => Ops.CausalConv1d(x, Weight, Bias);
}

/// <summary>Layers applied in order; children are named "0", "1", ...</summary>
public sealed class Sequential : Layer
{
    private readonly Layer[] layers;

    public Sequential(params Layer[] layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        this.layers = layers;
        for (int i = 0; i < layers.Length; i++) RegisterModule(i.ToString(System.Globalization.CultureInfo.InvariantCulture), layers[i]);
    }

    public IReadOnlyList<Layer> Layers => layers;

    public override Variable Forward(Variable x)
    {
        foreach (var layer in layers) x = layer.Forward(x);
        return x;
    }
}
