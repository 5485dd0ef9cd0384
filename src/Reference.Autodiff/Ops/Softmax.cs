using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.Autodiff;

/// <summary>
/// Softmax and log-softmax along one axis (Bridle 1990). The math (the log-sum-exp shift by the
/// row maximum, log-softmax as (x - max) - log sum exp(x - max), and the VJPs
/// softmax: g_x = y (g - sum_j g_j y_j), log-softmax: g_x = g - exp(y) sum_j g_j) is the row kernel
/// of Reference.Core.Kernels (NaiveNormalization, or FastNormalization in the Fast tier). Another
/// axis is moved last by a permutation, normalized, and moved back (two recorded permutes).
/// </summary>
public static partial class Ops
{
    public static Variable Softmax(Variable x, int axis = -1) => AlongAxis(x, axis, log: false);

    public static Variable LogSoftmax(Variable x, int axis = -1) => AlongAxis(x, axis, log: true);

    private static Variable AlongAxis(Variable x, int axis, bool log)
    {
        ArgumentNullException.ThrowIfNull(x);
        axis = Shapes.NormalizeAxis(axis, x.Rank, nameof(axis));
        if (axis == x.Rank - 1) return SoftmaxLastAxis(x, log);
        var perm = Enumerable.Range(0, x.Rank).Where(a => a != axis).Append(axis).ToArray();
        var inverse = new int[perm.Length];
        for (int i = 0; i < perm.Length; i++) inverse[perm[i]] = i;
        return Permute(SoftmaxLastAxis(Permute(x, perm), log), inverse);
    }

    private static Variable SoftmaxLastAxis(Variable x, bool log)
    {
        int cols = x.Shape[^1];
        bool fast = Tape.FastKernels;
        var y = Like(x.Value);
        if (cols > 0)
        {
            if (log) { if (fast) FastNormalization.LogSoftmax<double>(x.Value.Data, y.Data, cols); else NaiveNormalization.LogSoftmax(x.Value.Data, y.Data, cols); }
            else { if (fast) FastNormalization.Softmax<double>(x.Value.Data, y.Data, cols); else NaiveNormalization.Softmax(x.Value.Data, y.Data, cols); }
        }
        return Function.Apply(log ? "log_softmax" : "softmax", [x], y, g =>
        {
            var gx = Like(g);
            if (cols == 0) return [gx];
            if (log) { if (fast) FastNormalization.LogSoftmaxBackward<double>(y.Data, g.Data, gx.Data, cols); else NaiveNormalization.LogSoftmaxBackward(y.Data, g.Data, gx.Data, cols); }
            else { if (fast) FastNormalization.SoftmaxBackward<double>(y.Data, g.Data, gx.Data, cols); else NaiveNormalization.SoftmaxBackward(y.Data, g.Data, gx.Data, cols); }
            return [gx];
        });
    }
}
