using Reference.Core;

namespace Reference.Operators;

/// <summary>
/// The materialized operators as the descriptors hand them out: one L x L matrix per row of an input
/// [.., C, L] (rows = batch x channels), applied by their definition y[r, t] = sum_s T[r, t, s] u[r, s].
/// </summary>
public static class OperatorMatrices
{
    /// <summary>
    /// y[r] = T[r mod M] u[r] for T [.., L, L] (M matrices, row-major) and u [.., L] with rows = u.Length / L a multiple of M (M = rows: one
    /// matrix per row; M = C: an input-independent operator shared by every batch row). s ascending; y has u's shape.
    /// </summary>
    public static Tensor<double> Apply(Tensor<double> t, Tensor<double> u)
    {
        ArgumentNullException.ThrowIfNull(t);
        ArgumentNullException.ThrowIfNull(u);
        int l = u.Dim(-1), rows = u.Length / l, matrices = t.Rank < 3 ? 0 : t.Length / (l * l);
        if (t.Rank < 3 || t.Dim(-2) != l || t.Dim(-1) != l || matrices == 0 || rows % matrices != 0)
            throw new ArgumentException($"t must have shape [.., {l}, {l}] with M = t.Length / L^2 dividing the {rows} rows of u {Shapes.Format(u.Shape)}, got {Shapes.Format(t.Shape)}.", nameof(t));
        var y = Tensor<double>.Zeros(u.ShapeArray);
        for (int r = 0; r < rows; r++)
        {
            int tBase = r % matrices * l * l;
            for (int i = 0; i < l; i++)
            {
                double acc = 0.0;
                for (int s = 0; s < l; s++) acc += t.Data[tBase + i * l + s] * u.Data[r * l + s];
                y.Data[r * l + i] = acc;
            }
        }
        return y;
    }

    /// <summary>[C, L, L] as one matrix per row of a [.., C, L] input: [rows, L, L], row r = channel r mod C.</summary>
    public static Tensor<double> PerRow(Tensor<double> perChannel, int rows)
    {
        ArgumentNullException.ThrowIfNull(perChannel);
        int c = perChannel.Dim(0), l = perChannel.Dim(1);
        if (rows == c) return perChannel;
        var t = Tensor<double>.Zeros(rows, l, l);
        for (int r = 0; r < rows; r++) perChannel.Data.AsSpan(r % c * l * l, l * l).CopyTo(t.Data.AsSpan(r * l * l));
        return t;
    }

    /// <summary>[C, L, L] repeated for every batch row: [B C, L, L] (an operator that does not depend on its input).</summary>
    public static Tensor<double> RepeatForBatch(Tensor<double> t, int batch) => PerRow(t, batch * t.Dim(0));

    /// <summary>The rows [R, L, L] of a per-row operator tensor [.., L, L].</summary>
    public static Tensor<double> Rows(Tensor<double> t) => t.Reshape(-1, t.Dim(-2), t.Dim(-1));
}
