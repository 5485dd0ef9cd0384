using MathNet.Numerics.LinearAlgebra;
using Reference.Autodiff;
using Reference.Core;

namespace Reference.SpecTests.Operators.Connectomics;

/// <summary>Shared draws and probes of the connectomics tests.</summary>
internal static class ConnectomicsTestKit
{
    /// <summary>f = sum(w o y) with w ~ N(0, 1) from <paramref name="seed"/>: a scalar probe whose gradient is a generic cotangent.</summary>
    public static Variable Probe(Variable y, ulong seed)
    {
        var w = new SplitMix64(seed).NormalTensor<double>(0, 1, y.Value.ShapeArray);
        return Ops.Sum(Ops.Mul(y, Variable.Constant(w)));
    }

    /// <summary>Gradient check of a probe of f with respect to every input.</summary>
    public static GradCheck.Result Check(Func<Variable[], Variable> f, params Tensor<double>[] inputs) =>
        GradCheck.Check(v => Probe(f(v), 99), inputs);

    /// <summary>A random SPD matrix [n, n] = B B^T / n + shift I, B ~ N(0, 1).</summary>
    public static Tensor<double> Spd(SplitMix64 rng, int n, double shift = 0.5)
    {
        var b = rng.NormalTensor<double>(0, 1, n, n);
        var a = Tensor<double>.Zeros(n, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double acc = 0;
                for (int k = 0; k < n; k++) acc += b[i, k] * b[j, k];
                a[i, j] = acc / n + (i == j ? shift : 0);
            }
        return a;
    }

    /// <summary>A stack [count, n, n] of random SPD matrices.</summary>
    public static Tensor<double> SpdStack(SplitMix64 rng, int count, int n)
    {
        var s = Tensor<double>.Zeros(count, n, n);
        for (int i = 0; i < count; i++) Spd(rng, n).Data.CopyTo(s.Data, i * n * n);
        return s;
    }

    public static Matrix<double> ToMatrix(Tensor<double> t, int offset = 0)
    {
        int r = t.Dim(-2), c = t.Dim(-1);
        return Matrix<double>.Build.Dense(r, c, (i, j) => t.Data[offset + i * c + j]);
    }

    public static double[] Flat(Matrix<double> m)
    {
        var r = new double[m.RowCount * m.ColumnCount];
        for (int i = 0; i < m.RowCount; i++)
            for (int j = 0; j < m.ColumnCount; j++) r[i * m.ColumnCount + j] = m[i, j];
        return r;
    }

    /// <summary>f applied to a symmetric matrix through MathNet's symmetric EVD (an eigensolver independent of the Jacobi one).</summary>
    public static Matrix<double> MathNetFunction(Matrix<double> a, Func<double, double> f)
    {
        var evd = ((a + a.Transpose()) / 2).Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        var d = Matrix<double>.Build.DenseOfDiagonalArray(evd.EigenValues.Select(z => f(z.Real)).ToArray());
        return evd.EigenVectors * d * evd.EigenVectors.Transpose();
    }

    public static double RelativeError(double[] expected, double[] actual) => Metrics.RelativeError(expected, actual);
}
