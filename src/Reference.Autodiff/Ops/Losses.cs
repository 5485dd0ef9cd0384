using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.Autodiff;

/// <summary>How a loss reduces its per-element values (PyTorch's reduction argument).</summary>
public enum Reduction
{
    /// <summary>Mean over the contributing elements (for cross-entropy: over targets not ignored).</summary>
    Mean,
    Sum,
    /// <summary>Per-element losses with the input's shape (per-sample for cross-entropy).</summary>
    None,
}

/// <summary>
/// Losses with PyTorch's definitions (torch.nn.functional: cross_entropy, mse_loss, l1_loss,
/// binary_cross_entropy_with_logits).
/// Cross-entropy over logits z [N, C] and class ids y [N] with label smoothing eps (Szegedy et al.
/// 2016, sec. 7, in PyTorch's form): with log p = log_softmax(z),
///   loss_i = (1 - eps) (-log p[i, y_i]) + (eps / C) sum_c (-log p[i, c]),
/// ignored where y_i = ignoreIndex; Mean divides by the number of non-ignored targets (NaN when
/// all are ignored, as PyTorch). VJP (one fused primitive): g_z[i, c] = g_i (p[i, c] - q[i, c]),
/// q = (1 - eps) onehot(y_i) + eps / C. BCE with logits x, targets t:
///   loss = max(x, 0) - x t + log(1 + e^-|x|)     (stable: never exponentiates a positive number),
/// VJP g (sigmoid(x) - t).
/// </summary>
public static partial class Ops
{
    public static Variable CrossEntropy(Variable logits, int[] targets, int ignoreIndex = -100, double labelSmoothing = 0.0,
        Reduction reduction = Reduction.Mean)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(targets);
        if (logits.Rank != 2) throw new ArgumentException($"logits has shape {Shapes.Format(logits.Shape)}, expected [N, C].", nameof(logits));
        int n = logits.Shape[0], c = logits.Shape[1];
        if (targets.Length != n) throw new ArgumentException($"targets has {targets.Length} entries, expected N = {n}.", nameof(targets));
        if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), $"labelSmoothing = {labelSmoothing} must be in [0, 1].");
        for (int i = 0; i < n; i++)
            if (targets[i] != ignoreIndex && (uint)targets[i] >= (uint)c)
                throw new ArgumentOutOfRangeException(nameof(targets), $"targets[{i}] = {targets[i]} is outside [0, {c}) and is not ignoreIndex {ignoreIndex}.");

        var logp = LogSoftmax(Variable.Constant(logits.Value)).Value.Data;
        var perSample = new double[n];
        int count = 0;
        for (int i = 0; i < n; i++)
        {
            if (targets[i] == ignoreIndex) continue;
            count++;
            double smooth = 0.0;
            for (int k = 0; k < c; k++) smooth -= logp[i * c + k];
            perSample[i] = (1.0 - labelSmoothing) * -logp[i * c + targets[i]] + labelSmoothing / c * smooth;
        }
        var output = Reduce(perSample, [n], reduction, count);
        var saved = (int[])targets.Clone();
        bool fast = Tape.FastKernels;
        return Function.Apply("cross_entropy", [logits], output, g =>
        {
            if (fast) return [CrossEntropyGradientFast(logp, saved, g, n, c, ignoreIndex, labelSmoothing, reduction, count)];
            var gz = TensorArena.Zeros(n, c);
            for (int i = 0; i < n; i++)
            {
                if (saved[i] == ignoreIndex) continue;
                double gi = ElementCotangent(g, i, reduction, count);
                for (int k = 0; k < c; k++)
                {
                    double q = labelSmoothing / c + (k == saved[i] ? 1.0 - labelSmoothing : 0.0);
                    gz.Data[i * c + k] = gi * (Math.Exp(logp[i * c + k]) - q);
                }
            }
            return [gz];
        });
    }

    /// <summary>
    /// The fast tier's cross-entropy VJP: g_z[i, c] = g_i (p[i, c] - q[i, c]) as the scalar loop above, with p = exp(log p) for all
    /// N C entries in one vectorized exp, VectorMath.Exp (within an ulp or two of Math.Exp, whose scalar calls took ~1.2 % of the
    /// width-32 H3 training step: bench/NOTES.md, h3w32 ninth session; not TensorPrimitives.Exp, whose values for a log p below
    /// -708 in a vector depended on the arena buffer's alignment: bench/NOTES.md, detbits); the subtraction of q and the product with g_i as there
    /// (the target's q rounded as one number, so each entry is the scalar expression applied to the vector exp's value).
    /// </summary>
    private static Tensor<double> CrossEntropyGradientFast(double[] logp, int[] targets, Tensor<double> g, int n, int c, int ignoreIndex,
        double labelSmoothing, Reduction reduction, int count)
    {
        var gz = TensorArena.Uninitialized(n, c);
        VectorMath.Exp<double>(logp.AsSpan(0, n * c), gz.Data);
        double other = labelSmoothing / c, target = labelSmoothing / c + (1.0 - labelSmoothing);
        for (int i = 0; i < n; i++)
        {
            var row = gz.Data.AsSpan(i * c, c);
            if (targets[i] == ignoreIndex)
            {
                row.Clear();
                continue;
            }
            double gi = ElementCotangent(g, i, reduction, count);
            for (int k = 0; k < c; k++) row[k] = gi * (row[k] - (k == targets[i] ? target : other));
        }
        return gz;
    }

    /// <summary>
    /// Mean squared error (x - t)^2 (x and t of the same shape), one fused primitive:
    /// forward one pass, VJP g_x = 2 (x - t) g / n (Mean), g_t = -g_x.
    /// </summary>
    public static Variable MseLoss(Variable input, Variable target, Reduction reduction = Reduction.Mean)
    {
        CheckSameShape(input, target);
        var x = input.Value.Data;
        var t = target.Value.Data;
        var diff = GC.AllocateUninitializedArray<double>(x.Length);
        TensorPrimitives.Subtract(x, t, diff);
        Tensor<double> output;
        if (reduction == Reduction.None)
        {
            output = Empty(input.Value);
            TensorPrimitives.Multiply(diff, diff, output.Data);
        }
        else
        {
            double s = 0.0;
            foreach (double d in diff) s += d * d;
            output = Tensor<double>.Scalar(reduction == Reduction.Mean ? s / x.Length : s);
        }
        return Function.Apply("mse_loss", [input, target], output, g =>
        {
            var gx = Empty(input.Value);
            if (reduction == Reduction.None) TensorPrimitives.Multiply(g.Data, diff, gx.Data);
            else TensorPrimitives.Multiply(diff, ElementCotangent(g, 0, reduction, x.Length), gx.Data);
            TensorPrimitives.Multiply(gx.Data, 2.0, gx.Data);
            return [input.RequiresGrad ? gx : null, target.RequiresGrad ? Negate(gx) : null];
        });
    }

    /// <summary>Mean absolute error |x - t| (subgradient 0 at 0, as PyTorch).</summary>
    public static Variable L1Loss(Variable input, Variable target, Reduction reduction = Reduction.Mean)
    {
        CheckSameShape(input, target);
        return ReduceVariable(Abs(input - target), reduction);
    }

    /// <summary>Binary cross-entropy on logits; targets in [0, 1] with the logits' shape.</summary>
    public static Variable BceWithLogits(Variable logits, Variable targets, Reduction reduction = Reduction.Mean)
    {
        CheckSameShape(logits, targets);
        var x = logits.Value.Data;
        var t = targets.Value.Data;
        var loss = Like(logits.Value);
        for (int i = 0; i < x.Length; i++)
            loss.Data[i] = Math.Max(x[i], 0.0) - x[i] * t[i] + ScalarMath.Log1p(Math.Exp(-Math.Abs(x[i])));
        var elementwise = Function.Apply("bce_with_logits", [logits, targets], loss, g =>
        {
            var gx = Like(g);
            var gt = Like(g);
            for (int i = 0; i < gx.Length; i++)
            {
                gx.Data[i] = g.Data[i] * (NaiveActivations.Sigmoid(x[i]) - t[i]);
                gt.Data[i] = -g.Data[i] * x[i];
            }
            return [gx, gt];
        });
        return ReduceVariable(elementwise, reduction);
    }

    private static Variable ReduceVariable(Variable v, Reduction reduction) => reduction switch
    {
        Reduction.Mean => Mean(v),
        Reduction.Sum => Sum(v),
        Reduction.None => v,
        _ => throw new ArgumentOutOfRangeException(nameof(reduction), $"reduction = {reduction} is not Mean, Sum or None."),
    };

    private static Tensor<double> Reduce(double[] values, int[] shape, Reduction reduction, int count)
    {
        double s = 0.0;
        foreach (double v in values) s += v;
        return reduction switch
        {
            Reduction.Mean => Tensor<double>.Scalar(s / count),
            Reduction.Sum => Tensor<double>.Scalar(s),
            Reduction.None => new Tensor<double>(values, shape),
            _ => throw new ArgumentOutOfRangeException(nameof(reduction), $"reduction = {reduction} is not Mean, Sum or None."),
        };
    }

    private static double ElementCotangent(Tensor<double> g, int i, Reduction reduction, int count) => reduction switch
    {
        Reduction.Mean => g.Data[0] / count,
        Reduction.Sum => g.Data[0],
        _ => g.Data[i],
    };

    private static void CheckSameShape(Variable input, Variable target)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(target);
        if (!input.Shape.SequenceEqual(target.Shape))
            throw new ArgumentException($"target has shape {Shapes.Format(target.Shape)}, expected the input's shape {Shapes.Format(input.Shape)}.", nameof(target));
    }
}
