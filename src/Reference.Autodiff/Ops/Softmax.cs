using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Softmax and log-softmax along one axis (Bridle 1990; the stable form subtracts the row maximum).
/// Glossary: y = softmax(x), s_i = x_i - max_j x_j, lse = log sum_j e^{s_j}.
/// Numerically delicate: log-sum-exp. Shifting by the maximum makes every exponent &lt;= 0, so
/// nothing overflows and the largest term is exactly 1 (the sum is >= 1, its log is safe).
/// VJPs: softmax: g_x = y * (g - sum_j g_j y_j); log-softmax: g_x = g - softmax(x) * sum_j g_j.
/// Accumulation order: along the axis, j = 0, 1, ...
/// </summary>
public static partial class Ops
{
    public static Variable Softmax(Variable x, int axis = -1) => SoftmaxCore(x, axis, log: false);

    public static Variable LogSoftmax(Variable x, int axis = -1) => SoftmaxCore(x, axis, log: true);

    private static Variable SoftmaxCore(Variable x, int axis, bool log)
    {
        ArgumentNullException.ThrowIfNull(x);
        axis = Shapes.NormalizeAxis(axis, x.Rank, nameof(axis));
        var shape = x.Value.ShapeArray;
        int n = shape[axis];
        var (outer, inner) = OuterInner(shape, axis);
        var xs = x.Value.Data;
        var y = Like(x.Value);
        var p = log ? Like(x.Value) : y;   // softmax probabilities (the same tensor for softmax)
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int b = o * n * inner + i;
                double max = double.NegativeInfinity;
                for (int j = 0; j < n; j++) max = Math.Max(max, xs[b + j * inner]);
                double sum = 0.0;
                for (int j = 0; j < n; j++) sum += Math.Exp(xs[b + j * inner] - max);
                double logSum = Math.Log(sum);
                for (int j = 0; j < n; j++)
                {
                    int e = b + j * inner;
                    p.Data[e] = Math.Exp(xs[e] - max) / sum;
                    if (log) y.Data[e] = (xs[e] - max) - logSum;   // not x - lse: that cancels when |max| >> lse - max
                }
            }
        return Function.Apply(log ? "log_softmax" : "softmax", [x], y, g =>
        {
            var gx = Like(g);
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < inner; i++)
                {
                    int b = o * n * inner + i;
                    double dot = 0.0;
                    for (int j = 0; j < n; j++)
                        dot += log ? g.Data[b + j * inner] : g.Data[b + j * inner] * p.Data[b + j * inner];
                    for (int j = 0; j < n; j++)
                    {
                        int e = b + j * inner;
                        gx.Data[e] = log ? g.Data[e] - p.Data[e] * dot : p.Data[e] * (g.Data[e] - dot);
                    }
                }
            return [gx];
        });
    }
}
