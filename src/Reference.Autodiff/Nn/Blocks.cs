using Reference.Core;

namespace Reference.Autodiff.Nn;

/// <summary>Two-layer MLP: fc2(act(fc1(x))), x [..., D] -> [..., D_out].</summary>
public sealed class Mlp : Layer
{
    public Mlp(int dim, int hidden, int outDim, ActivationKind activation, SplitMix64 rng, bool bias = true)
    {
        Fc1 = RegisterModule("fc1", new Linear(dim, hidden, rng, bias));
        Fc2 = RegisterModule("fc2", new Linear(hidden, outDim, rng, bias));
        ActivationKind = activation;
    }

    public Linear Fc1 { get; }
    public Linear Fc2 { get; }
    public ActivationKind ActivationKind { get; }

    public override Variable Forward(Variable x) => Fc2.Forward(Activation.Apply(ActivationKind, Fc1.Forward(x)));
}

/// <summary>
/// Gated MLP (Shazeer, "GLU Variants Improve Transformer", 2020, eqs. 5-6):
/// FFN(x) = (act(x W) * (x V)) W2, with act = sigmoid (GLU) or SiLU/Swish_1 (SwiGLU); no biases by
/// default, as in the paper. x [..., D] -> [..., D]; W, V [D -> hidden], W2 [hidden -> D].
/// </summary>
public sealed class GatedMlp : Layer
{
    public GatedMlp(int dim, int hidden, ActivationKind gate, SplitMix64 rng, bool bias = false)
    {
        Gate = gate;
        W = RegisterModule("w", new Linear(dim, hidden, rng, bias));
        V = RegisterModule("v", new Linear(dim, hidden, rng, bias));
        W2 = RegisterModule("w2", new Linear(hidden, dim, rng, bias));
    }

    /// <summary>GLU: sigmoid gate.</summary>
    public static GatedMlp Glu(int dim, int hidden, SplitMix64 rng) => new(dim, hidden, ActivationKind.Sigmoid, rng);

    /// <summary>SwiGLU: SiLU gate.</summary>
    public static GatedMlp SwiGlu(int dim, int hidden, SplitMix64 rng) => new(dim, hidden, ActivationKind.Silu, rng);

    public ActivationKind Gate { get; }
    public Linear W { get; }
    public Linear V { get; }
    public Linear W2 { get; }

    public override Variable Forward(Variable x) => W2.Forward(Activation.Apply(Gate, W.Forward(x)) * V.Forward(x));
}

/// <summary>
/// Residual pre-norm block (Xiong et al., "On Layer Normalization in the Transformer
/// Architecture", 2020, fig. 1b): y = x + sublayer(norm(x)). x [..., D] -> [..., D].
/// </summary>
public sealed class PreNormResidual : Layer
{
    public PreNormResidual(Layer norm, Layer sublayer)
    {
        Norm = RegisterModule("norm", norm);
        Sublayer = RegisterModule("mixer", sublayer);
    }

    public Layer Norm { get; }
    public Layer Sublayer { get; }

    public override Variable Forward(Variable x) => x + Sublayer.Forward(Norm.Forward(x));
}
