using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using Reference.Core;
using Reference.Operators.Monarch;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Operators.Monarch;

/// <summary>A Monarch case: factor shapes w1 (K, Q, P), w2 (L, S, R) with L R = K Q, Batch rows, values from SplitMix64(Seed).</summary>
public sealed record MonarchCase(int K, int Q, int P, int L, int S, int R, int Batch, int Seed)
{
    public MonarchShape Shape => new(K, Q, P, L, S, R);

    public static Arbitrary<MonarchCase> Arbitrary() =>
        (from k in Gen.Choose(1, 4)
         from q in Gen.Choose(1, 5)
         from l in Gen.Elements(Divisors(k * q))
         from p in Gen.Choose(1, 5)
         from s in Gen.Choose(1, 5)
         from batch in Gen.Choose(1, 3)
         from seed in Cases.Seed
         select new MonarchCase(k, q, p, l, s, k * q / l, batch, seed)).ToArbitrary();

    private static int[] Divisors(int n) => [.. Enumerable.Range(1, n).Where(d => n % d == 0)];
}

/// <summary>Dense matrices built straight from the spec's sentences (independent of Monarch.cs's index formulas).</summary>
public static class MonarchTestKit
{
    public static double[] Normal(SplitMix64 rng, int count) => rng.NormalTensor<double>(0, 1, count).Data;

    public static Complex[] ComplexNormal(SplitMix64 rng, int count)
    {
        var z = new Complex[count];
        for (int i = 0; i < count; i++) z[i] = new Complex(rng.Normal(), rng.Normal());
        return z;
    }

    /// <summary>The dense block-diagonal matrix [nblocks q, nblocks p] of w (nblocks, q, p).</summary>
    public static T[,] BlockDiagonal<T>(T[] w, int nblocks, int q, int p) where T : INumberBase<T>
    {
        var d = new T[nblocks * q, nblocks * p];
        for (int i = 0; i < nblocks * q; i++)
            for (int j = 0; j < nblocks * p; j++) d[i, j] = T.Zero;
        for (int b = 0; b < nblocks; b++)
            for (int i = 0; i < q; i++)
                for (int j = 0; j < p; j++) d[b * q + i, b * p + j] = w[(b * q + i) * p + j];
        return d;
    }

    /// <summary>
    /// The permutation matrix of "read the vector as a rows x cols row-major grid and transpose it":
    /// out (cols x rows row-major) = grid^T, out[c rows + r] = in[r cols + c].
    /// </summary>
    public static T[,] GridTranspose<T>(int rows, int cols) where T : INumberBase<T>
    {
        int n = rows * cols;
        var d = new T[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) d[i, j] = T.Zero;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) d[c * rows + r, r * cols + c] = T.One;
        return d;
    }

    public static T[,] Mul<T>(T[,] a, T[,] b) where T : INumberBase<T>
    {
        int m = a.GetLength(0), k = a.GetLength(1), n = b.GetLength(1);
        Assert.Equal(k, b.GetLength(0));
        var c = new T[m, n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                T acc = T.Zero;
                for (int t = 0; t < k; t++) acc += a[i, t] * b[t, j];
                c[i, j] = acc;
            }
        return c;
    }

    /// <summary>M = P2 BlockDiag(w2) P1 BlockDiag(w1) as dense products (the spec's definition, term by term).</summary>
    public static T[] DenseMonarch<T>(MonarchShape s, T[] w1, T[] w2) where T : INumberBase<T>
    {
        var b1 = BlockDiagonal(w1, s.K, s.Q, s.P);
        var p1 = GridTranspose<T>(s.R, s.L);
        var b2 = BlockDiagonal(w2, s.L, s.S, s.R);
        var p2 = GridTranspose<T>(s.L, s.S);
        return Flatten(Mul(p2, Mul(b2, Mul(p1, b1))));
    }

    public static T[] Flatten<T>(T[,] a)
    {
        int m = a.GetLength(0), n = a.GetLength(1);
        var f = new T[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) f[i * n + j] = a[i, j];
        return f;
    }

    /// <summary>y[b] = dense x[b] for dense [m, n] row-major.</summary>
    public static T[] Apply<T>(T[] dense, int m, int n, T[] x, int batch) where T : INumberBase<T>
    {
        var y = new T[batch * m];
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < m; i++)
            {
                T acc = T.Zero;
                for (int j = 0; j < n; j++) acc += dense[i * n + j] * x[b * n + j];
                y[b * m + i] = acc;
            }
        return y;
    }

    /// <summary>||a - b||_2 / ||a||_2 for complex vectors.</summary>
    public static double RelativeError(Complex[] reference, Complex[] actual)
    {
        Assert.Equal(reference.Length, actual.Length);
        double num = 0, den = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            num += (reference[i] - actual[i]).Magnitude * (reference[i] - actual[i]).Magnitude;
            den += reference[i].Magnitude * reference[i].Magnitude;
        }
        return Math.Sqrt(num) / Math.Max(Math.Sqrt(den), 1e-300);
    }

    public static double Norm(ReadOnlySpan<double> a)
    {
        double s = 0;
        foreach (var v in a) s += v * v;
        return Math.Sqrt(s);
    }

    public static double Distance(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
        return Math.Sqrt(s);
    }
}
