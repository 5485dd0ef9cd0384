using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Knowledge-distillation loss (Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural
/// Network", arXiv:1503.02531, sec. 2): the KL divergence from the teacher's softened distribution to
/// the student's, scaled by T^2 so that its gradient keeps the size of the hard-target one as the
/// temperature T changes. Over student logits z [N, C] and teacher logits t [N, C] (a constant):
///   p = softmax(t / T), q = softmax(z / T),
///   loss_i = T^2 sum_c p[i, c] (log p[i, c] - log q[i, c])     (0 log 0 = 0; >= 0, 0 iff q_i = p_i),
/// over the rows kept by an optional mask; Mean divides by the kept rows (NaN when none, as
/// cross-entropy). VJP (one fused primitive): d loss_i / d z[i, c] = T (q[i, c] - p[i, c]).
/// </summary>
public static partial class Ops
{
    public static Variable DistillationKl(Variable studentLogits, Tensor<double> teacherLogits, double temperature = 1.0, bool[]? rows = null,
        Reduction reduction = Reduction.Mean)
    {
        ArgumentNullException.ThrowIfNull(studentLogits);
        ArgumentNullException.ThrowIfNull(teacherLogits);
        if (studentLogits.Rank != 2) throw new ArgumentException($"studentLogits has shape {Shapes.Format(studentLogits.Shape)}, expected [N, C].", nameof(studentLogits));
        if (!teacherLogits.ShapeArray.SequenceEqual(studentLogits.Shape))
            throw new ArgumentException($"teacherLogits has shape {Shapes.Format(teacherLogits.ShapeArray)}, expected the student's {Shapes.Format(studentLogits.Shape)}.", nameof(teacherLogits));
        if (!(temperature > 0) || !double.IsFinite(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), $"temperature = {temperature} must be finite and > 0.");
        int n = studentLogits.Shape[0], c = studentLogits.Shape[1];
        if (rows is not null && rows.Length != n) throw new ArgumentException($"rows has {rows.Length} entries, expected N = {n}.", nameof(rows));

        var logq = LogSoftmax(Variable.Constant(ScaledCopy(studentLogits.Value, 1.0 / temperature))).Value.Data;
        var logp = LogSoftmax(Variable.Constant(ScaledCopy(teacherLogits, 1.0 / temperature))).Value.Data;
        var perRow = new double[n];
        int count = 0;
        double t2 = temperature * temperature;
        for (int i = 0; i < n; i++)
        {
            if (rows is not null && !rows[i]) continue;
            count++;
            double kl = 0.0;
            for (int k = 0; k < c; k++)
            {
                double p = Math.Exp(logp[i * c + k]);
                if (p > 0) kl += p * (logp[i * c + k] - logq[i * c + k]);
            }
            perRow[i] = t2 * Math.Max(kl, 0.0);
        }
        var output = Reduce(perRow, [n], reduction, count);
        var kept = rows is null ? null : (bool[])rows.Clone();
        return Function.Apply("distillation_kl", [studentLogits], output, g =>
        {
            var gz = TensorArena.Zeros(n, c);
            for (int i = 0; i < n; i++)
            {
                if (kept is not null && !kept[i]) continue;
                double gi = ElementCotangent(g, i, reduction, count) * temperature;
                for (int k = 0; k < c; k++)
                    gz.Data[i * c + k] = gi * (Math.Exp(logq[i * c + k]) - Math.Exp(logp[i * c + k]));
            }
            return [gz];
        });
    }

    private static Tensor<double> ScaledCopy(Tensor<double> x, double factor)
    {
        var y = new double[x.Data.Length];
        for (int i = 0; i < y.Length; i++) y[i] = x.Data[i] * factor;
        return new Tensor<double>(y, x.ShapeArray);
    }
}
