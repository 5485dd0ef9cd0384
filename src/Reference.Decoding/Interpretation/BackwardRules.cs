using Reference.Autodiff;
using Reference.Core;

namespace Reference.Decoding.Interpretation;

/// <summary>
/// The method-specific backward passes, as rules for <see cref="Tape.OverrideBackward"/> keyed by
/// primitive name: no layer is copied, the forward pass is the model's own.
/// <list type="bullet">
/// <item>Guided backprop (Springenberg et al. 2015, eq. in fig. 1; Captum GuidedBackprop): at a
/// ReLU, only positive cotangents pass where the input was positive: g_in = max(g_out, 0) 1[x &gt; 0].</item>
/// <item>DeepLift Rescale (Shrikumar et al. 2017, sec. 3.5.1; Captum DeepLift): input and baseline
/// are run as one batch [x; x'], and at every elementwise nonlinearity y = f(u) the derivative
/// is replaced by the multiplier m = (f(u) - f(u')) / (u - u') (the local derivative where
/// |u - u'| &lt; 1e-10). Linear primitives keep their gradient, so the chain rule for multipliers
/// holds and the input multiplier times (x - x') sums to f(x) - f(x') (summation to delta).</item>
/// <item>LRP (Bach et al. 2015; Montavon et al. 2019, sec. 10.2; Zennit's BasicHook): for an
/// affine primitive z = A(w) a + b (first input the activation, second the weight, optional third
/// the bias) relevance at the output R_z becomes R_a = a * A(w')^T (R_z / z'), z' = A(w') a + b'
/// with w' = w + gamma w+ and b' = b + gamma b+ (gamma = 0: LRP-0; the epsilon rule adds epsilon
/// sign(z') to z'). A(w')^T is applied by replaying the primitive with w' and back-propagating
/// through the replay. Activations pass relevance unchanged (Zennit's Pass).</item>
/// </list>
/// Every rule assumes the batch axis is outermost (row-major), as in the project's layers.
/// </summary>
public static class BackwardRules
{
    /// <summary>Elementwise single-input nonlinearities of the tape (the primitives DeepLift rescales and LRP passes).</summary>
    public static IReadOnlyList<string> Nonlinearities { get; } =
        ["relu", "gelu", "gelu_tanh", "silu", "softplus", "sigmoid", "tanh", "exp", "log", "sin", "abs", "sqrt"];

    /// <summary>Affine primitives with (activation, weight[, bias]) inputs that LRP treats as layers; convolutions get the gamma rule.</summary>
    public static IReadOnlyList<string> LinearLayers { get; } = ["linear"];

    /// <summary>Convolution primitives (gamma rule in LRP; the last one is Grad-CAM's layer).</summary>
    public static IReadOnlyList<string> Convolutions { get; } = ["conv3d", "conv2d", "conv1d"];

    /// <summary>Guided backprop's ReLU rule.</summary>
    public static IReadOnlyDictionary<string, BackwardRule> GuidedBackprop() => new Dictionary<string, BackwardRule>
    {
        ["relu"] = ctx =>
        {
            var x = ctx.Inputs[0].Value.Data;
            var g = ctx.OutputGrad.Data;
            var gx = new double[g.Length];
            for (int i = 0; i < g.Length; i++) gx[i] = x[i] > 0 && g[i] > 0 ? g[i] : 0;
            return [new Tensor<double>(gx, ctx.Inputs[0].Value.ShapeArray)];
        },
    };

    /// <summary>DeepLift's Rescale rule at every elementwise nonlinearity of a batch [x; x'] (two halves along the outer axis).</summary>
    public static IReadOnlyDictionary<string, BackwardRule> DeepLiftRescale()
    {
        var rules = new Dictionary<string, BackwardRule>();
        foreach (var name in Nonlinearities) rules[name] = Rescale;
        return rules;
    }

    private static Tensor<double>?[] Rescale(BackwardContext ctx)
    {
        var u = ctx.Inputs[0].Value.Data;
        var y = ctx.Outputs[0].Value.Data;
        var g = ctx.OutputGrad.Data;
        if (u.Length % 2 != 0)
            throw new InvalidOperationException($"DeepLift: the '{ctx.Name}' input has {u.Length} elements, not the two equal halves of a batch [x; x'].");
        var local = ctx.Default(ctx.OutputGrad)[0]!.Data;
        int half = u.Length / 2;
        var gx = new double[u.Length];
        for (int i = 0; i < half; i++)
        {
            double du = u[i] - u[i + half];
            if (Math.Abs(du) < 1e-10)
            {
                gx[i] = local[i];
                gx[i + half] = local[i + half];
            }
            else
            {
                double m = (y[i] - y[i + half]) / du;
                gx[i] = g[i] * m;
                gx[i + half] = g[i + half] * m;
            }
        }
        return [new Tensor<double>(gx, ctx.Inputs[0].Value.ShapeArray)];
    }

    /// <summary>
    /// LRP: the epsilon rule (LRP-0 at epsilon = 0) on linear layers, the gamma rule on
    /// convolutions, relevance passed through activations.
    /// </summary>
    public static IReadOnlyDictionary<string, BackwardRule> Lrp(double convGamma = 0.25, double linearGamma = 0, double epsilon = 0)
    {
        if (!(convGamma >= 0) || !(linearGamma >= 0)) throw new ArgumentOutOfRangeException(nameof(convGamma), $"gamma = {convGamma}, {linearGamma}; expected >= 0.");
        if (!(epsilon >= 0)) throw new ArgumentOutOfRangeException(nameof(epsilon), $"epsilon = {epsilon}; expected >= 0.");
        var rules = new Dictionary<string, BackwardRule>();
        foreach (var name in Nonlinearities) rules[name] = ctx => [ctx.OutputGrad];
        rules["dropout"] = ctx => [ctx.OutputGrad];
        foreach (var name in LinearLayers) rules[name] = ctx => Affine(ctx, linearGamma, epsilon);
        foreach (var name in Convolutions) rules[name] = ctx => Affine(ctx, convGamma, epsilon);
        return rules;
    }

    /// <summary>R_a = a * A(w')^T (R_z / stab(z')) for z' = A(w') a + b' (see the type's documentation).</summary>
    internal static Tensor<double>?[] Affine(BackwardContext ctx, double gamma, double epsilon)
    {
        if (ctx.Inputs.Count < 2)
            throw new InvalidOperationException($"LRP: the primitive '{ctx.Name}' has {ctx.Inputs.Count} inputs; expected (activation, weight[, bias]).");
        var a = ctx.Inputs[0].Value;
        var inputs = new Variable[ctx.Inputs.Count];
        var av = Variable.Parameter(a.Clone());
        inputs[0] = av;
        for (int i = 1; i < inputs.Length; i++)
        {
            var p = ctx.Inputs[i].Value.Clone();
            if (gamma != 0)
                for (int j = 0; j < p.Length; j++) p.Data[j] += gamma * Math.Max(p.Data[j], 0);
            inputs[i] = Variable.Constant(p);
        }
        using (Tape.SuspendOverrides())
        {
            var z = ctx.Replay(inputs);
            var r = ctx.OutputGrad.Data;
            var s = new double[r.Length];
            for (int k = 0; k < s.Length; k++)
            {
                double zk = z.Value.Data[k];
                // Zennit's stabilizer z + epsilon (sign(z) + [z == 0]); at epsilon = 0 an exactly zero
                // output passes no relevance (its incoming relevance is 0 in a ReLU network anyway).
                double d = zk + epsilon * (Math.Sign(zk) + (zk == 0 ? 1 : 0));
                s[k] = d == 0 ? 0 : r[k] / d;
            }
            z.Backward(new Tensor<double>(s, z.Value.ShapeArray));
        }
        var c = av.Grad!;
        var ra = new double[a.Length];
        for (int j = 0; j < ra.Length; j++) ra[j] = a.Data[j] * c.Data[j];
        var result = new Tensor<double>?[ctx.Inputs.Count];
        result[0] = new Tensor<double>(ra, a.ShapeArray);
        return result;
    }
}
