using FsCheck;
using FsCheck.Fluent;
using Reference.Core;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Operators.Attention;

/// <summary>
/// A softmax-attention case: B batch, Hkv kv heads, G query heads per kv head, L length, K key dim,
/// V value dim, optional window W; values from SplitMix64(Seed). L reaches past the fast kernel's
/// 48-query tile so tile edges are exercised (<see cref="FlashCase"/> covers the tiling in depth).
/// </summary>
public sealed record SoftmaxCase(int B, int Hkv, int G, int L, int K, int V, int? Window, int Seed)
{
    public int Hq => Hkv * G;

    public (Tensor<double> Q, Tensor<double> K, Tensor<double> V) Inputs()
    {
        var rng = new SplitMix64((ulong)Seed);
        return (rng.NormalTensor<double>(0, 1, B, Hq, L, K), rng.NormalTensor<double>(0, 1, B, Hkv, L, K),
            rng.NormalTensor<double>(0, 1, B, Hkv, L, V));
    }

    public static Arbitrary<SoftmaxCase> Arbitrary() =>
        (from b in Gen.Elements(1, 2)
         from hkv in Gen.Elements(1, 2)
         from g in Gen.Elements(1, 2, 3)
         from l in Gen.Elements(1, 2, 7, 8, 9, 17, 33, 65, 70)
         from k in Gen.Elements(1, 4, 7, 8, 9, 16, 17)
         from v in Gen.Elements(1, 3, 8, 9, 17)
         from w in Gen.Elements<int?>(null, null, 1, 2, 5, 16, 64)
         from seed in Cases.Seed
         select new SoftmaxCase(b, hkv, g, l, k, v, w, seed)).ToArbitrary();
}

/// <summary>
/// A case aimed at the fast kernel's tiling (48-query tiles, 96-key tiles, 6 x NR register blocks):
/// L just below, at and past tile multiples, windows that cut key tiles and register blocks at
/// various offsets, value dims that need the zero-padded copy (not a multiple of 8 or 16) or not.
/// </summary>
public sealed record FlashCase(int Hkv, int G, int L, int K, int V, int? Window, int Seed)
{
    public SoftmaxCase Softmax => new(1, Hkv, G, L, K, V, Window, Seed);

    public static Arbitrary<FlashCase> Arbitrary() =>
        (from hkv in Gen.Elements(1, 2)
         from g in Gen.Elements(1, 2)
         from l in Gen.Elements(47, 48, 49, 95, 96, 97, 143, 145, 193)
         from k in Gen.Elements(1, 8, 17, 64)
         from v in Gen.Elements(1, 7, 16, 17, 64)
         from w in Gen.Elements<int?>(null, null, 1, 6, 47, 49, 96, 101)
         from seed in Cases.Seed
         select new FlashCase(hkv, g, l, k, v, w, seed)).ToArbitrary();
}

/// <summary>
/// Sliding-window decoding: window W, a prompt of Prompt positions (shorter or longer than W), then
/// Steps = 2 W + 3 generated positions (more than W, so the ring buffer wraps at least twice);
/// GQA through Hkv and G.
/// </summary>
public sealed record KvWindowCase(int Hkv, int G, int W, int Prompt, int K, int V, int Seed)
{
    public int Steps => 2 * W + 3;

    public SoftmaxCase Softmax => new(1, Hkv, G, Prompt + Steps, K, V, W, Seed);

    public static Arbitrary<KvWindowCase> Arbitrary() =>
        (from hkv in Gen.Elements(1, 2)
         from g in Gen.Elements(1, 2, 3)
         from w in Gen.Elements(1, 2, 3, 7, 16, 17)
         from prompt in Gen.Elements(1, 2, 9, 40)
         from k in Gen.Elements(1, 4, 9)
         from v in Gen.Elements(1, 3, 8)
         from seed in Cases.Seed
         select new KvWindowCase(hkv, g, w, prompt, k, v, seed)).ToArbitrary();
}

/// <summary>A per-head recurrence case (linear attention, decayed linear attention, GLA): B, H, L, K, V, chunk.</summary>
public sealed record HeadCase(int B, int H, int L, int K, int V, int Chunk, int Seed)
{
    public static Arbitrary<HeadCase> Arbitrary() =>
        (from b in Gen.Elements(1, 2)
         from h in Gen.Elements(1, 2)
         from l in Gen.Elements(1, 2, 7, 8, 9, 16, 17, 33)
         from k in Gen.Elements(1, 3, 4, 8, 9)
         from v in Gen.Elements(1, 2, 5, 8, 9)
         from chunk in Gen.Elements(1, 3, 4, 8, 16, 64)
         from seed in Cases.Seed
         select new HeadCase(b, h, l, k, v, chunk, seed)).ToArbitrary();
}

/// <summary>Helpers shared by the attention-family tests.</summary>
public static class AttentionCheck
{
    /// <summary>
    /// Central finite differences of the scalar loss(x) = &lt;cotangent, f(x)&gt; with respect to every
    /// element of <paramref name="x"/> (perturbed in place and restored).
    /// </summary>
    public static double[] FiniteDifference(Tensor<double> x, Func<double> loss, double h = 1e-5)
    {
        var g = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double saved = x.Data[i];
            x.Data[i] = saved + h;
            double up = loss();
            x.Data[i] = saved - h;
            double down = loss();
            x.Data[i] = saved;
            g[i] = (up - down) / (2 * h);
        }
        return g;
    }

    /// <summary>
    /// Asserts ||fd - analytic|| / (||fd|| + 1e-2) &lt;= tol for central differences of loss over x.
    /// The 1e-2 floor lets gradients that are exactly zero (the gates at L = 1) be compared with the
    /// finite differences' rounding noise (~1e-9) while leaving O(1) gradients judged relatively.
    /// </summary>
    public static void AssertGradient(Tensor<double> x, Func<double> loss, Tensor<double> analytic, string name, double tol = 1e-7)
    {
        var fd = FiniteDifference(x, loss);
        double e = Metrics.RelativeError(fd, analytic.Data, 1e-2);
        Assert.True(e <= tol, $"{name}: relative error {e:E2} against finite differences (tolerance {tol:E0})");
    }

    public static double Dot(Tensor<double> a, Tensor<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a.Data[i] * b.Data[i];
        return s;
    }

    public static double Rel(Tensor<double> expected, Tensor<double> actual)
    {
        Assert.Equal(expected.ShapeArray, actual.ShapeArray);
        return Metrics.RelativeError(expected.Data, actual.Data, 1e-300);
    }

    /// <summary>y[..., t, c] = sum_s T[..., t, s] x[..., s, c] over matching leading axes (T [.., L, L], x [.., L, C]).</summary>
    public static Tensor<double> Apply(Tensor<double> t, Tensor<double> x)
    {
        var y = Tensor<double>.Zeros(x.ShapeArray);
        int l = x.Shape[^2], c = x.Shape[^1], outer = x.Length / (l * c);
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < l; i++)
                for (int s = 0; s < l; s++)
                {
                    double w = t.Data[(o * l + i) * l + s];
                    for (int j = 0; j < c; j++) y.Data[(o * l + i) * c + j] += w * x.Data[(o * l + s) * c + j];
                }
        return y;
    }
}
