using Reference.Core;

namespace Reference.Autodiff;

/// <summary>Fast tier of the global pools of <c>Pooling3d.cs</c>: one TensorPrimitives reduction per (n, c) row.</summary>
public static partial class Ops
{
    private static void GlobalPoolFast(double[] x, int rows, int s, bool max, double[] y, int[] argmax)
    {
        for (int r = 0; r < rows; r++)
        {
            var row = x.AsSpan(r * s, s);
            if (max)
            {
                // IndexOfMax returns the first index of the maximum, as the naive scan.
                int best = TensorPrimitives.IndexOfMax<double>(row);
                argmax[r] = best;
                y[r] = row[best];
            }
            else y[r] = TensorPrimitives.Sum<double>(row) / s;
        }
    }
}
