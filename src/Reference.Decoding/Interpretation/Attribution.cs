using Reference.Autodiff;
using Reference.Core;

namespace Reference.Decoding.Interpretation;

/// <summary>Settings of the attribution methods (defaults: the interpretation benchmark's, `shared/spec/decoding.md`).</summary>
public sealed record AttributionOptions
{
    /// <summary>SmoothGrad: noisy samples and the noise sd (absolute, in input units; Captum NoiseTunnel stdevs).</summary>
    public int SmoothGradSamples { get; init; } = 50;
    public double SmoothGradSigma { get; init; } = 1;
    /// <summary>Integrated gradients: Gauss-Legendre steps.</summary>
    public int IntegratedGradientsSteps { get; init; } = 50;
    /// <summary>
    /// Baselines of integrated gradients and DeepLift, averaged: each is one sample (the model's
    /// input shape without the batch axis). Empty: zero only. The benchmark passes zero and the
    /// mean test input.
    /// </summary>
    public IReadOnlyList<Tensor<double>> Baselines { get; init; } = [];
    /// <summary>DeepLift-SHAP's reference distribution [M, sample shape] and how many of its rows to draw per input.</summary>
    public Tensor<double>? ShapBaselines { get; init; }
    public int ShapSamples { get; init; } = 50;
    /// <summary>LRP: gamma on convolutions, and the epsilon of the linear layers' rule (0: LRP-0).</summary>
    public double LrpGamma { get; init; } = 0.25;
    public double LrpEpsilon { get; init; }
    /// <summary>
    /// LRP's canonizer (e.g. <see cref="ExplainedDecoder.Canonize"/>: BatchNorm folded into the
    /// convolution before it) applied around the LRP pass; while it is active, evaluation-mode
    /// BatchNorm is the identity and passes relevance unchanged. Null: no canonization.
    /// </summary>
    public Func<IDisposable>? Canonize { get; init; }
    /// <summary>Grad-CAM's layer: the output of the last primitive with this name (null: the last convolution of any dimension).</summary>
    public string? CamLayer { get; init; }
    /// <summary>Seed of SmoothGrad's noise and DeepLift-SHAP's draws.</summary>
    public ulong Seed { get; init; } = 1;
}

/// <summary>
/// Attribution maps of a differentiable classifier f: x [N, sample...] -> logits [N, C] for the
/// target class of each row (the true class in the benchmark), as Captum defines them (names and
/// conventions; Zennit for LRP). Every map has the input's shape.
/// <code>
/// gradient              |d f_y / d x|                                  (Captum Saliency, abs = True)
/// smoothgrad            mean_s |d f_y / d x (x + N(0, sigma^2))|       (NoiseTunnel over Saliency)
/// input_x_gradient      x * d f_y / d x
/// integrated_gradients  (x - x') * sum_k w_k d f_y / d x (x' + alpha_k (x - x'))   (Gauss-Legendre alpha_k, w_k on [0, 1])
/// deeplift              (x - x') * m(x, x'), m the Rescale multipliers (BackwardRules)
/// deeplift_shap         mean over M references b_m of deeplift(x, b_m)
/// guided_backprop       d f_y / d x with the guided ReLU rule
/// guided_gradcam        guided_backprop * upsample(ReLU(sum_k alpha_k A_k)), alpha_k = spatial mean of d f_y / d A_k
/// lrp                   relevance at the input; gamma rule on convolutions, LRP-0 (epsilon) on linear layers,
///                       activations pass; the output relevance is f_y(x) (Captum's LRP convention; Zennit seeds 1,
///                       which scales each map by 1 / f_y(x))
/// </code>
/// Integrated gradients and DeepLift average over <see cref="AttributionOptions.Baselines"/>
/// (zero when none). Models must be in evaluation mode (no batch statistics, no dropout):
/// DeepLift runs input and baseline as one batch.
/// </summary>
public static class Attribution
{
    public static IReadOnlyList<string> Methods { get; } =
    [
        "gradient", "smoothgrad", "input_x_gradient", "integrated_gradients", "deeplift", "deeplift_shap",
        "guided_backprop", "guided_gradcam", "lrp",
    ];

    /// <summary>Display names (the paper's).</summary>
    public static string DisplayName(string method) => method switch
    {
        "gradient" => "Gradient",
        "smoothgrad" => "SmoothGrad",
        "input_x_gradient" => "InputXGradient",
        "integrated_gradients" => "IntegratedGradients",
        "deeplift" => "DeepLift",
        "deeplift_shap" => "DeepLiftShap",
        "guided_backprop" => "GuidedBackprop",
        "guided_gradcam" => "GuidedGradCam",
        "lrp" => "LRP",
        _ => method,
    };

    /// <summary>The map of <paramref name="method"/> (one of <see cref="Methods"/>) for inputs x [N, ...] and targets [N].</summary>
    public static Tensor<double> Compute(string method, Func<Variable, Variable> model, Tensor<double> x, int[] targets, AttributionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(targets);
        options ??= new AttributionOptions();
        if (x.Rank < 2) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}; expected [N, ...] with a batch axis.", nameof(x));
        if (targets.Length != x.Shape[0]) throw new ArgumentException($"{targets.Length} targets for {x.Shape[0]} inputs; expected one per input.", nameof(targets));
        return method switch
        {
            "gradient" => Abs(Gradient(model, x, targets)),
            "smoothgrad" => SmoothGrad(model, x, targets, options.SmoothGradSamples, options.SmoothGradSigma, options.Seed),
            "input_x_gradient" => Mul(x, Gradient(model, x, targets)),
            "integrated_gradients" => AverageOverBaselines(x, options, b => IntegratedGradients(model, x, targets, b, options.IntegratedGradientsSteps)),
            "deeplift" => AverageOverBaselines(x, options, b => DeepLift(model, x, targets, b)),
            "deeplift_shap" => DeepLiftShap(model, x, targets, options.ShapBaselines
                ?? throw new ArgumentException("deeplift_shap needs ShapBaselines (a reference set [M, ...]).", nameof(options)), options.ShapSamples, options.Seed),
            "guided_backprop" => Gradient(model, x, targets, BackwardRules.GuidedBackprop()),
            "guided_gradcam" => GuidedGradCam(model, x, targets, options.CamLayer),
            "lrp" => Lrp(model, x, targets, options.LrpGamma, options.LrpEpsilon, options.Canonize),
            _ => throw new ArgumentException($"unknown method '{method}'; expected one of {string.Join(", ", Methods)}.", nameof(method)),
        };
    }

    /// <summary>The logits f(x) [N, C] without recording.</summary>
    public static Tensor<double> Logits(Func<Variable, Variable> model, Tensor<double> x)
    {
        using var _ = Tape.NoGrad();
        return model(Variable.Constant(x)).Value;
    }

    /// <summary>d f_y / d x under optional backward rules; the seed is 1 at each row's target (times <paramref name="seedScale"/>[row] when given).</summary>
    public static Tensor<double> Gradient(Func<Variable, Variable> model, Tensor<double> x, int[] targets,
        IReadOnlyDictionary<string, BackwardRule>? rules = null, Func<Tensor<double>, double[]>? seedScale = null, int seedRows = -1)
    {
        var xv = Variable.Parameter(x.Clone());
        var logits = model(xv);
        var seed = Seed(logits, targets, seedRows < 0 ? targets.Length : seedRows, seedScale?.Invoke(logits.Value));
        if (rules is null) logits.Backward(seed);
        else
            using (Tape.OverrideBackward(rules))
                logits.Backward(seed);
        return xv.Grad ?? Tensor<double>.Zeros(x.ShapeArray);
    }

    private static Tensor<double> Seed(Variable logits, int[] targets, int rows, double[]? scale)
    {
        if (logits.Rank != 2 || logits.Shape[0] < rows)
            throw new InvalidOperationException($"the model returned logits of shape {Shapes.Format(logits.Shape)}; expected [N, classes].");
        int c = logits.Shape[1];
        var seed = Tensor<double>.Zeros(logits.Value.ShapeArray);
        for (int i = 0; i < rows; i++)
        {
            int t = targets[i % targets.Length];
            if (t < 0 || t >= c) throw new ArgumentException($"target {t} of row {i} is not a class in 0..{c - 1}.", nameof(targets));
            seed.Data[i * c + t] = scale is null ? 1 : scale[i];
        }
        return seed;
    }

    public static Tensor<double> SmoothGrad(Func<Variable, Variable> model, Tensor<double> x, int[] targets, int samples, double sigma, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(samples);
        if (!(sigma >= 0)) throw new ArgumentOutOfRangeException(nameof(sigma), $"sigma = {sigma}; expected >= 0.");
        var rng = new SplitMix64(seed);
        var sum = Tensor<double>.Zeros(x.ShapeArray);
        for (int s = 0; s < samples; s++)
        {
            var noisy = x.Clone();
            for (int i = 0; i < noisy.Length; i++) noisy.Data[i] += sigma * rng.Normal();
            var g = Gradient(model, noisy, targets);
            for (int i = 0; i < g.Length; i++) sum.Data[i] += Math.Abs(g.Data[i]);
        }
        for (int i = 0; i < sum.Length; i++) sum.Data[i] /= samples;
        return sum;
    }

    /// <summary>Integrated gradients from one baseline (sample-shaped, broadcast over the batch).</summary>
    public static Tensor<double> IntegratedGradients(Func<Variable, Variable> model, Tensor<double> x, int[] targets, Tensor<double> baseline, int steps)
    {
        var b = Broadcast(baseline, x);
        var (alphas, weights) = GaussLegendre.UnitInterval(steps);
        var sum = Tensor<double>.Zeros(x.ShapeArray);
        for (int k = 0; k < steps; k++)
        {
            var point = new Tensor<double>(new double[x.Length], x.ShapeArray);
            for (int i = 0; i < x.Length; i++) point.Data[i] = b.Data[i] + alphas[k] * (x.Data[i] - b.Data[i]);
            var g = Gradient(model, point, targets);
            for (int i = 0; i < g.Length; i++) sum.Data[i] += weights[k] * g.Data[i];
        }
        for (int i = 0; i < sum.Length; i++) sum.Data[i] *= x.Data[i] - b.Data[i];
        return sum;
    }

    /// <summary>DeepLift (Rescale) from one baseline (sample-shaped or the input's shape).</summary>
    public static Tensor<double> DeepLift(Func<Variable, Variable> model, Tensor<double> x, int[] targets, Tensor<double> baseline)
    {
        var b = Broadcast(baseline, x);
        int n = x.Shape[0];
        var pair = new double[2 * x.Length];
        x.Data.CopyTo(pair, 0);
        b.Data.CopyTo(pair, x.Length);
        int[] shape = x.ShapeArray;
        shape[0] = 2 * n;
        var g = Gradient(model, new Tensor<double>(pair, shape), targets, BackwardRules.DeepLiftRescale(), seedRows: n);
        var a = Tensor<double>.Zeros(x.ShapeArray);
        for (int i = 0; i < x.Length; i++) a.Data[i] = (x.Data[i] - b.Data[i]) * g.Data[i];
        return a;
    }

    /// <summary>DeepLift-SHAP: for each input, DeepLift against <paramref name="samples"/> rows drawn without replacement from the references, averaged.</summary>
    public static Tensor<double> DeepLiftShap(Func<Variable, Variable> model, Tensor<double> x, int[] targets, Tensor<double> references, int samples, ulong seed)
    {
        int per = x.Length / x.Shape[0];
        if (references.Rank != x.Rank || references.Length / references.Shape[0] != per)
            throw new ArgumentException($"references have shape {Shapes.Format(references.Shape)}; expected [M, {Shapes.Format(x.Shape[1..])}].", nameof(references));
        int m = references.Shape[0], k = Math.Min(samples, m);
        var rng = new SplitMix64(seed);
        var result = Tensor<double>.Zeros(x.ShapeArray);
        for (int row = 0; row < x.Shape[0]; row++)
        {
            var order = Enumerable.Range(0, m).ToArray();
            for (int i = 0; i < k; i++)
            {
                int j = i + rng.NextInt(m - i);
                (order[i], order[j]) = (order[j], order[i]);
            }
            int[] shape = x.ShapeArray;
            shape[0] = k;
            var xs = new Tensor<double>(new double[k * per], shape);
            var bs = new Tensor<double>(new double[k * per], shape);
            for (int i = 0; i < k; i++)
            {
                Array.Copy(x.Data, row * per, xs.Data, i * per, per);
                Array.Copy(references.Data, order[i] * per, bs.Data, i * per, per);
            }
            var a = DeepLift(model, xs, Enumerable.Repeat(targets[row], k).ToArray(), bs);
            for (int i = 0; i < k; i++)
                for (int j = 0; j < per; j++) result.Data[row * per + j] += a.Data[i * per + j] / k;
        }
        return result;
    }

    /// <summary>LRP relevance at the input (output relevance f_y(x)).</summary>
    public static Tensor<double> Lrp(Func<Variable, Variable> model, Tensor<double> x, int[] targets, double gamma, double epsilon, Func<IDisposable>? canonize = null)
    {
        int c = -1;
        var rules = new Dictionary<string, BackwardRule>(BackwardRules.Lrp(gamma, 0, epsilon));
        using var canonized = canonize?.Invoke();
        if (canonized is not null)
            rules["batch_norm_eval"] = ctx =>
            {
                var r = new Tensor<double>?[ctx.Inputs.Count];
                r[0] = ctx.OutputGrad;
                return r;
            };
        return Gradient(model, x, targets, rules, logits =>
        {
            c = logits.Shape[1];
            return targets.Select((t, i) => logits.Data[i * c + t]).ToArray();
        });
    }

    /// <summary>
    /// Grad-CAM (Selvaraju et al. 2017, eqs. 1-2; Captum LayerGradCam with relu_attributions) on
    /// the output A [N, K, spatial...] of the last primitive named <paramref name="layer"/>: the map
    /// ReLU(sum_k alpha_k A_k), alpha_k the spatial mean of d f_y / d A_k, [N, 1, spatial...].
    /// </summary>
    public static Tensor<double> GradCam(Func<Variable, Variable> model, Tensor<double> x, int[] targets, string? layer = null)
    {
        var xv = Variable.Parameter(x.Clone());
        var logits = model(xv);
        var names = layer is null ? BackwardRules.Convolutions : [layer];
        var node = Tape.Trace(logits).LastOrDefault(n => names.Contains(n.Name))
            ?? throw new InvalidOperationException($"Grad-CAM needs a '{string.Join("' or '", names)}' primitive in the model; it has none (a model without convolutions has no Grad-CAM).");
        var a = node.Outputs[0];
        a.RetainGrad();
        logits.Backward(Seed(logits, targets, targets.Length, null));
        if (a.Rank < 3) throw new InvalidOperationException($"Grad-CAM's layer output has shape {Shapes.Format(a.Shape)}; expected [N, channels, spatial...].");
        int n = a.Shape[0], k = a.Shape[1], s = a.Length / (n * k);
        var cam = new double[n * s];
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < k; ch++)
            {
                double alpha = 0;
                int off = (i * k + ch) * s;
                for (int j = 0; j < s; j++) alpha += a.Grad!.Data[off + j];
                alpha /= s;
                for (int j = 0; j < s; j++) cam[i * s + j] += alpha * a.Value.Data[off + j];
            }
        for (int i = 0; i < cam.Length; i++) cam[i] = Math.Max(cam[i], 0);
        int[] shape = a.Value.ShapeArray;
        shape[1] = 1;
        return new Tensor<double>(cam, shape);
    }

    /// <summary>Guided backprop times the nearest-neighbour upsampled Grad-CAM map (Captum GuidedGradCam).</summary>
    public static Tensor<double> GuidedGradCam(Func<Variable, Variable> model, Tensor<double> x, int[] targets, string? layer = null)
    {
        var cam = GradCam(model, x, targets, layer);
        var guided = Gradient(model, x, targets, BackwardRules.GuidedBackprop());
        var up = UpsampleNearest(cam, x.Shape[2..].ToArray());
        int n = x.Shape[0], channels = x.Shape[1], s = x.Length / (n * channels);
        var result = Tensor<double>.Zeros(x.ShapeArray);
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < channels; ch++)
                for (int j = 0; j < s; j++) result.Data[(i * channels + ch) * s + j] = guided.Data[(i * channels + ch) * s + j] * up[i * s + j];
        return result;
    }

    /// <summary>
    /// Nearest-neighbour upsampling of [N, 1, d...] to [N, 1, size...] as torch.nn.functional.interpolate(mode = "nearest"):
    /// source index floor(i * d / size) per axis. Returns [N, prod(size)].
    /// </summary>
    internal static double[] UpsampleNearest(Tensor<double> map, int[] size)
    {
        if (map.Rank - 2 != size.Length)
            throw new InvalidOperationException($"Grad-CAM map {Shapes.Format(map.Shape)} and input spatial size {Shapes.Format(size)} differ in rank.");
        int n = map.Shape[0], rank = size.Length;
        var from = map.Shape[2..].ToArray();
        int inner = from.Aggregate(1, (p, d) => p * d), outer = size.Aggregate(1, (p, d) => p * d);
        var result = new double[n * outer];
        var index = new int[rank];
        for (int o = 0; o < outer; o++)
        {
            int rem = o, src = 0;
            for (int ax = rank - 1; ax >= 0; ax--)
            {
                index[ax] = rem % size[ax];
                rem /= size[ax];
            }
            for (int ax = 0; ax < rank; ax++) src = src * from[ax] + (int)((long)index[ax] * from[ax] / size[ax]);
            for (int i = 0; i < n; i++) result[i * outer + o] = map.Data[i * inner + src];
        }
        return result;
    }

    private static Tensor<double> AverageOverBaselines(Tensor<double> x, AttributionOptions options, Func<Tensor<double>, Tensor<double>> method)
    {
        var baselines = options.Baselines.Count > 0 ? options.Baselines : [Tensor<double>.Zeros(x.Shape[1..].ToArray())];
        var sum = Tensor<double>.Zeros(x.ShapeArray);
        foreach (var b in baselines)
        {
            var a = method(b);
            for (int i = 0; i < a.Length; i++) sum.Data[i] += a.Data[i] / baselines.Count;
        }
        return sum;
    }

    /// <summary>A sample-shaped baseline repeated over the batch, or a full-shape one as is.</summary>
    internal static Tensor<double> Broadcast(Tensor<double> baseline, Tensor<double> x)
    {
        if (baseline.Shape.SequenceEqual(x.Shape)) return baseline;
        int per = x.Length / x.Shape[0];
        if (baseline.Length != per)
            throw new ArgumentException($"baseline has shape {Shapes.Format(baseline.Shape)}; expected one sample {Shapes.Format(x.Shape[1..])} or the input's {Shapes.Format(x.Shape)}.", nameof(baseline));
        var b = new double[x.Length];
        for (int i = 0; i < x.Shape[0]; i++) baseline.Data.CopyTo(b, i * per);
        return new Tensor<double>(b, x.ShapeArray);
    }

    private static Tensor<double> Abs(Tensor<double> t)
    {
        var r = t.Clone();
        for (int i = 0; i < r.Length; i++) r.Data[i] = Math.Abs(r.Data[i]);
        return r;
    }

    private static Tensor<double> Mul(Tensor<double> a, Tensor<double> b)
    {
        var r = a.Clone();
        for (int i = 0; i < r.Length; i++) r.Data[i] *= b.Data[i];
        return r;
    }
}
