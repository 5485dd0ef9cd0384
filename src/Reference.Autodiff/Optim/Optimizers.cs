using Reference.Core;

namespace Reference.Autodiff.Optim;

/// <summary>
/// Thin stateful wrappers applying <see cref="Updates"/> to a list of parameters. Parameters without
/// a gradient are skipped (as PyTorch). State tensors are per parameter, in parameter order, and
/// exposed by name for checkpoints.
/// </summary>
public abstract class Optimizer
{
    protected Optimizer(IEnumerable<Variable> parameters, double lr)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Parameters = parameters.ToArray();
        if (!(lr >= 0)) throw new ArgumentOutOfRangeException(nameof(lr), $"lr = {lr} must be >= 0.");
        Lr = lr;
    }

    public IReadOnlyList<Variable> Parameters { get; }

    /// <summary>Learning rate used by the next <see cref="Step"/> (schedules set it).</summary>
    public double Lr { get; set; }

    /// <summary>Number of completed steps.</summary>
    public long StepCount { get; set; }

    /// <summary>Short lower-case name ("sgd", "adam", "adamw") used in checkpoint keys.</summary>
    public abstract string Name { get; }

    public void Step()
    {
        StepCount++;
        for (int i = 0; i < Parameters.Count; i++)
            if (Parameters[i].Grad is { } g) Update(i, Parameters[i].Value.Data, g.Data);
    }

    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.ZeroGrad();
    }

    /// <summary>Named state buffers of parameter <paramref name="index"/> (e.g. "exp_avg"), for checkpoints; the arrays are live.</summary>
    public abstract IEnumerable<(string Name, double[] Buffer)> State(int index);

    protected abstract void Update(int index, Span<double> param, ReadOnlySpan<double> grad);
}

/// <summary>torch.optim.SGD (momentum, dampening, Nesterov, L2 weight decay).</summary>
public sealed class Sgd : Optimizer
{
    private readonly double[][] momentumBuffers;
    private readonly bool[] started;

    public Sgd(IEnumerable<Variable> parameters, double lr, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false)
        : base(parameters, lr)
    {
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException($"nesterov needs momentum > 0 and dampening = 0, got momentum = {momentum}, dampening = {dampening}.", nameof(nesterov));
        Momentum = momentum;
        Dampening = dampening;
        WeightDecay = weightDecay;
        Nesterov = nesterov;
        momentumBuffers = Parameters.Select(p => new double[momentum != 0 ? p.Length : 0]).ToArray();
        started = new bool[Parameters.Count];
    }

    public double Momentum { get; }
    public double Dampening { get; }
    public double WeightDecay { get; }
    public bool Nesterov { get; }
    public override string Name => "sgd";

    public override IEnumerable<(string Name, double[] Buffer)> State(int index)
    {
        if (Momentum != 0 && started[index]) yield return ("momentum_buffer", momentumBuffers[index]);
    }

    protected override void Update(int index, Span<double> param, ReadOnlySpan<double> grad)
    {
        Updates.Sgd(param, grad, momentumBuffers[index], !started[index], Lr, Momentum, Dampening, WeightDecay, Nesterov);
        started[index] = true;
    }

    /// <summary>Marks parameter <paramref name="index"/>'s momentum buffer as holding state (after a checkpoint load).</summary>
    public void MarkStarted(int index) => started[index] = true;
}

/// <summary>
/// Some of an optimizer's parameters with their own learning rate and weight decay (one of torch.optim's
/// param_groups, e.g. the SSM dynamics of S4D and H3 at lr min(1e-3, lr) without weight decay). Schedules
/// set <see cref="Lr"/> as they set the optimizer's; the optimizer's own rate and decay apply to every
/// parameter in no group.
/// </summary>
public sealed class ParameterGroup
{
    public ParameterGroup(string name, IEnumerable<Variable> parameters, double lr, double weightDecay)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(lr >= 0)) throw new ArgumentOutOfRangeException(nameof(lr), $"lr of group '{name}' = {lr} must be >= 0.");
        if (!(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(weightDecay), $"weightDecay of group '{name}' = {weightDecay} must be >= 0.");
        (Name, Parameters, Lr, WeightDecay) = (name, parameters.ToArray(), lr, weightDecay);
    }

    public string Name { get; }
    public IReadOnlyList<Variable> Parameters { get; }

    /// <summary>Learning rate of the group's parameters in the next step (schedules set it).</summary>
    public double Lr { get; set; }

    public double WeightDecay { get; }
}

/// <summary>torch.optim.Adam (L2 weight decay folded into the gradient) or AdamW (decoupled decay); see <see cref="Updates.Adam"/>.</summary>
public class Adam : Optimizer
{
    private readonly double[][] expAvg, expAvgSq;
    private readonly long[] steps;
    private readonly ParameterGroup[] groups;
    private readonly int[] groupOf;

    public Adam(IEnumerable<Variable> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
        : this(parameters, lr, beta1, beta2, eps, weightDecay, decoupled: false) { }

    /// <summary>Adam or AdamW (<paramref name="decoupled"/>); <paramref name="groups"/>: parameters (each one of the optimizer's, in at most one group) with their own lr and weight decay.</summary>
    protected Adam(IEnumerable<Variable> parameters, double lr, double beta1, double beta2, double eps, double weightDecay, bool decoupled,
        IReadOnlyList<ParameterGroup>? groups = null)
        : base(parameters, lr)
    {
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(beta1), $"beta1 = {beta1} must be in [0, 1).");
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(beta2), $"beta2 = {beta2} must be in [0, 1).");
        if (!(eps >= 0)) throw new ArgumentOutOfRangeException(nameof(eps), $"eps = {eps} must be >= 0.");
        (Beta1, Beta2, Eps, WeightDecay, Decoupled) = (beta1, beta2, eps, weightDecay, decoupled);
        expAvg = Parameters.Select(p => new double[p.Length]).ToArray();
        expAvgSq = Parameters.Select(p => new double[p.Length]).ToArray();
        steps = new long[Parameters.Count];
        this.groups = groups?.ToArray() ?? [];
        groupOf = new int[Parameters.Count];
        Array.Fill(groupOf, -1);
        var index = new Dictionary<Variable, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < Parameters.Count; i++) index.TryAdd(Parameters[i], i);
        for (int g = 0; g < this.groups.Length; g++)
        {
            ArgumentNullException.ThrowIfNull(this.groups[g], nameof(groups));
            foreach (var p in this.groups[g].Parameters)
            {
                if (!index.TryGetValue(p, out int i))
                    throw new ArgumentException($"group '{this.groups[g].Name}' holds a parameter that is not among the optimizer's parameters.", nameof(groups));
                if (groupOf[i] >= 0)
                    throw new ArgumentException($"parameter {i} is in groups '{this.groups[groupOf[i]].Name}' and '{this.groups[g].Name}'; it may be in one at most.", nameof(groups));
                groupOf[i] = g;
            }
        }
    }

    /// <summary>The parameter groups (empty: every parameter uses <see cref="Optimizer.Lr"/> and <see cref="WeightDecay"/>).</summary>
    public IReadOnlyList<ParameterGroup> Groups => groups;

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }
    public double WeightDecay { get; }
    public bool Decoupled { get; }
    public override string Name => "adam";

    /// <summary>Per-parameter step counts (a parameter that had no gradient on some step lags behind, as in PyTorch).</summary>
    public long[] ParameterSteps => steps;

    public override IEnumerable<(string Name, double[] Buffer)> State(int index)
    {
        yield return ("exp_avg", expAvg[index]);
        yield return ("exp_avg_sq", expAvgSq[index]);
    }

    protected override void Update(int index, Span<double> param, ReadOnlySpan<double> grad)
    {
        steps[index]++;
        int g = groupOf[index];
        double lr = g < 0 ? Lr : groups[g].Lr, weightDecay = g < 0 ? WeightDecay : groups[g].WeightDecay;
        Updates.Adam(param, grad, expAvg[index], expAvgSq[index], steps[index], lr, Beta1, Beta2, Eps, weightDecay, Decoupled);
    }
}

/// <summary>torch.optim.AdamW (Loshchilov and Hutter 2019): decoupled weight decay, default 1e-2; optional parameter groups.</summary>
public sealed class AdamW(IEnumerable<Variable> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 1e-2,
    IReadOnlyList<ParameterGroup>? groups = null)
    : Adam(parameters, lr, beta1, beta2, eps, weightDecay, decoupled: true, groups)
{
    public override string Name => "adamw";
}

/// <summary>Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_ with norm_type 2).</summary>
public static class GradClip
{
    /// <summary>
    /// total = ||(||g_1||_2, ..., ||g_n||_2)||_2 over parameters that have a gradient; every gradient
    /// is multiplied by min(1, maxNorm / (total + 1e-6)) (always, as PyTorch). Returns total
    /// (<see cref="GlobalNorm(IEnumerable{Variable})"/>).
    /// </summary>
    public static double ClipGradNorm(IEnumerable<Variable> parameters, double maxNorm)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(maxNorm >= 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), $"maxNorm = {maxNorm} must be >= 0.");
        var grads = parameters.Where(p => p.Grad is not null).Select(p => p.Grad!).ToArray();
        double total = GlobalNorm(grads);
        double coef = Math.Min(1.0, maxNorm / (total + 1e-6));
        foreach (var g in grads) TensorPrimitives.Multiply(g.Data, coef, g.Data);
        return total;
    }

    /// <summary>
    /// The global 2-norm ||(||g_1||_2, ..., ||g_n||_2)||_2 of the parameters' gradients (those without one are
    /// skipped), without changing them: what <see cref="ClipGradNorm"/> clips by, for logging when nothing is clipped.
    /// Accumulation: per-parameter sums of squares in element order, then over parameters in order.
    /// </summary>
    public static double GlobalNorm(IEnumerable<Variable> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        return GlobalNorm(parameters.Where(p => p.Grad is not null).Select(p => p.Grad!).ToArray());
    }

    private static double GlobalNorm(Tensor<double>[] grads)
    {
        double sumOfSquaredNorms = 0.0;
        foreach (var g in grads)
        {
            double ss = 0.0;
            foreach (double v in g.Data) ss += v * v;
            double norm = Math.Sqrt(ss);
            sumOfSquaredNorms += norm * norm;
        }
        return Math.Sqrt(sumOfSquaredNorms);
    }
}

/// <summary>
/// Learning-rate schedules as multipliers of the base rate at step s (0-based), as Hugging Face's
/// get_linear_schedule_with_warmup / get_cosine_schedule_with_warmup: linear warm-up s / W for
/// s &lt; W, then linear decay (T - s) / (T - D) or cosine decay 0.5 (1 + cos(pi p)),
/// p = (s - D) / (T - D), clamped at 0, optionally floored at <c>minRatio</c>. D, the step where the
/// decay begins, is W by default (those schedules); D &gt; W holds the rate constant (factor 1) on
/// W &lt;= s &lt; D first: warmup-stable-decay (WSD; MiniCPM, Hu et al., arXiv:2404.06395, whose decay is
/// exponential, here the same linear or cosine one), which keeps the full rate until late in training
/// and anneals only in the last T - D steps.
/// </summary>
public static class LrSchedule
{
    public static double LinearWarmupLinearDecay(long step, long warmupSteps, long totalSteps, double minRatio = 0.0, long? decayStartStep = null)
    {
        long decayStart = decayStartStep ?? warmupSteps;
        Check(step, warmupSteps, decayStart, totalSteps);
        if (step < warmupSteps) return (double)step / Math.Max(1, warmupSteps);
        if (step < decayStart) return 1.0;
        double decay = Math.Max(0.0, (double)(totalSteps - step) / Math.Max(1, totalSteps - decayStart));
        return minRatio + (1.0 - minRatio) * decay;
    }

    public static double LinearWarmupCosineDecay(long step, long warmupSteps, long totalSteps, double minRatio = 0.0, long? decayStartStep = null)
    {
        long decayStart = decayStartStep ?? warmupSteps;
        Check(step, warmupSteps, decayStart, totalSteps);
        if (step < warmupSteps) return (double)step / Math.Max(1, warmupSteps);
        if (step < decayStart) return 1.0;
        double progress = Math.Min(1.0, (double)(step - decayStart) / Math.Max(1, totalSteps - decayStart));
        double decay = Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * progress)));
        return minRatio + (1.0 - minRatio) * decay;
    }

    private static void Check(long step, long warmupSteps, long decayStartStep, long totalSteps)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), $"step = {step} must be >= 0.");
        if (warmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(warmupSteps), $"warmupSteps = {warmupSteps} must be >= 0.");
        if (totalSteps < warmupSteps)
            throw new ArgumentOutOfRangeException(nameof(totalSteps), $"totalSteps = {totalSteps} must be >= warmupSteps = {warmupSteps}.");
        if (decayStartStep < warmupSteps || decayStartStep > totalSteps)
            throw new ArgumentOutOfRangeException(nameof(decayStartStep),
                $"decayStartStep = {decayStartStep} must be in [warmupSteps, totalSteps] = [{warmupSteps}, {totalSteps}].");
    }
}
