// Fast tier of the causal Monarch convolution (CausalMonarch.cs): float32 or float64, split complex,
// every per-digit factor applied as GEMMs of the project's FastGemm, threads over the rows.
//
// Layout. The grid of G^p points (G = 2b) is row-major with digit 0 fastest. Applying F_a along digit a:
//   digit 0:      the grid read as [G^(p-1), G]: X' = X F_0^T (one GEMM, m = G^(p-1), n = k = G);
//   digit a >= 1: the grid read as [G^(p-1-a), G, G^a]: for every outer block o, X'[o] = F_a X[o]
//                 (m = k = G, n = G^a, leading dimension G^a).
// Complex as four real products (re = Fr Xr - Fi Xi, im = Fr Xi + Fi Xr; FastGemm with alpha -1 / beta 1 for
// the accumulating ones); the first pass of a real input skips the two products with Xi = 0. Per row:
// p passes to lift u, one complex product with the cached lift of k, p passes with the inverses, the
// real part read back at the embedded positions. Cost 2 p (2b)^(p+1) complex multiply-adds per row, i.e.
// 2 p 2^(p+1) N^(1 + 1/p): N^(3/2) for p = 2.
using System.Numerics;
using Reference.Core;
using Reference.Core.Linear;

namespace Reference.Operators.Monarch;

/// <summary>The per-digit factors and inverses of a <see cref="CausalMonarchPlan"/> in split storage and precision T.</summary>
public sealed class CausalMonarchFastPlan<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal CausalMonarchFastPlan(CausalMonarchPlan plan)
    {
        Plan = plan;
        int p = plan.P;
        Fr = new T[p][]; Fi = new T[p][]; Ir = new T[p][]; Ii = new T[p][];
        for (int a = 0; a < p; a++)
        {
            (Fr[a], Fi[a]) = Split(plan.Factors[a]);
            (Ir[a], Ii[a]) = Split(plan.Inverses[a]);
        }
    }

    public CausalMonarchPlan Plan { get; }
    internal T[][] Fr { get; }
    internal T[][] Fi { get; }
    internal T[][] Ir { get; }
    internal T[][] Ii { get; }

    private static (T[] Re, T[] Im) Split(Complex[] z)
    {
        var re = new T[z.Length];
        var im = new T[z.Length];
        for (int i = 0; i < z.Length; i++)
        {
            re[i] = T.CreateTruncating(z[i].Real);
            im[i] = T.CreateTruncating(z[i].Imaginary);
        }
        return (re, im);
    }
}

public static partial class CausalMonarch
{
    /// <summary>The fast tier's copy of the plan's factors in precision T (make once, reuse).</summary>
    public static CausalMonarchFastPlan<T> Prepare<T>(CausalMonarchPlan plan) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(plan);
        return new CausalMonarchFastPlan<T>(plan);
    }

    /// <summary>
    /// <see cref="Forward"/> in precision T through GEMMs: u [.., C, L], k [C, Lk], d [C] or null (L, Lk &lt;= N).
    /// <paramref name="maxThreads"/>: 1 = the calling thread, 0 = every core (rows are independent).
    /// </summary>
    public static Tensor<T> ForwardFast<T>(CausalMonarchFastPlan<T> fast, Tensor<T> u, Tensor<T> k, Tensor<T>? d = null, int maxThreads = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(fast);
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        var plan = fast.Plan;
        if (k.Rank != 2 || k.Dim(1) < 1 || k.Dim(1) > plan.N)
            throw new ArgumentException($"k must be [C, Lk] with 1 <= Lk <= N = b^p = {plan.N}, got {Shapes.Format(k.Shape)}.", nameof(k));
        int channels = k.Dim(0), lk = k.Dim(1);
        if (u.Rank < 2 || u.Dim(u.Rank - 2) != channels || u.Dim(u.Rank - 1) < 1 || u.Dim(u.Rank - 1) > plan.N)
            throw new ArgumentException($"u must be [..., C = {channels}, L] with 1 <= L <= N = b^p = {plan.N}, got {Shapes.Format(u.Shape)}.", nameof(u));
        if (d is not null && (d.Rank != 1 || d.Length != channels))
            throw new ArgumentException($"d must be [C = {channels}], got {Shapes.Format(d.Shape)}.", nameof(d));
        int length = u.Dim(u.Rank - 1), rows = u.Length / length, grid = plan.Grid;
        var kr = new T[channels * grid];
        var ki = new T[channels * grid];
        {
            var s = new Scratch<T>(grid);
            for (int c = 0; c < channels; c++)
            {
                LiftFast(fast, k.Data.AsSpan(c * lk, lk), s);
                s.Ar.AsSpan(0, grid).CopyTo(kr.AsSpan(c * grid));
                s.Ai.AsSpan(0, grid).CopyTo(ki.AsSpan(c * grid));
            }
        }
        var y = Tensor<T>.Zeros(u.ShapeArray);
        var ud = u.Data;
        var yd = y.Data;
        var dd = d?.Data;
        void RunRows(int from, int to)
        {
            var s = new Scratch<T>(grid);
            for (int r = from; r < to; r++)
            {
                int c = r % channels;
                var ur = ud.AsSpan(r * length, length);
                LiftFast(fast, ur, s);
                var kcr = kr.AsSpan(c * grid, grid);
                var kci = ki.AsSpan(c * grid, grid);
                for (int g = 0; g < grid; g++)
                {
                    T re = s.Ar[g] * kcr[g] - s.Ai[g] * kci[g];
                    T im = s.Ar[g] * kci[g] + s.Ai[g] * kcr[g];
                    s.Ar[g] = re;
                    s.Ai[g] = im;
                }
                ApplyDigitsFast(fast, fast.Ir, fast.Ii, s, realInput: false);
                T skip = dd is null ? T.Zero : dd[c];
                var emb = plan.Embedding;
                for (int i = 0; i < length; i++) yd[r * length + i] = s.Ar[emb[i]] + skip * ur[i];
            }
        }
        int threads = maxThreads == 0 ? KernelThreads.Default : maxThreads;
        threads = Math.Max(1, Math.Min(threads, rows));
        if (threads == 1) RunRows(0, rows);
        else
        {
            int per = (rows + threads - 1) / threads;
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, w => RunRows(w * per, Math.Min(rows, (w + 1) * per)));
        }
        return y;
    }

    /// <summary>s.A &lt;- M' E x (split complex).</summary>
    private static void LiftFast<T>(CausalMonarchFastPlan<T> fast, ReadOnlySpan<T> x, Scratch<T> s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var plan = fast.Plan;
        Array.Clear(s.Ar);
        Array.Clear(s.Ai);
        for (int j = 0; j < x.Length; j++) s.Ar[plan.Embedding[j]] = x[j];
        ApplyDigitsFast(fast, fast.Fr, fast.Fi, s, realInput: true);
    }

    /// <summary>s.A &lt;- (mats[p-1] (x) ... (x) mats[0]) s.A by GEMMs (see the file head); s.B is the ping-pong buffer.</summary>
    private static void ApplyDigitsFast<T>(CausalMonarchFastPlan<T> fast, T[][] mr, T[][] mi, Scratch<T> s, bool realInput)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var plan = fast.Plan;
        int g = plan.G, grid = plan.Grid, stride = 1;
        bool imagZero = realInput;
        for (int a = 0; a < plan.P; a++)
        {
            if (a == 0)
            {
                int m = grid / g;
                FastGemm.Multiply(false, true, m, g, g, T.One, s.Ar, g, mr[a], g, T.Zero, s.Br, g, maxThreads: 1);
                FastGemm.Multiply(false, true, m, g, g, T.One, s.Ar, g, mi[a], g, T.Zero, s.Bi, g, maxThreads: 1);
                if (!imagZero)
                {
                    FastGemm.Multiply(false, true, m, g, g, -T.One, s.Ai, g, mi[a], g, T.One, s.Br, g, maxThreads: 1);
                    FastGemm.Multiply(false, true, m, g, g, T.One, s.Ai, g, mr[a], g, T.One, s.Bi, g, maxThreads: 1);
                }
            }
            else
            {
                int outer = grid / (stride * g), block = g * stride;
                for (int o = 0; o < outer; o++)
                {
                    var xr = s.Ar.AsSpan(o * block, block);
                    var xi = s.Ai.AsSpan(o * block, block);
                    var cr = s.Br.AsSpan(o * block, block);
                    var ci = s.Bi.AsSpan(o * block, block);
                    FastGemm.Multiply(false, false, g, stride, g, T.One, mr[a], g, xr, stride, T.Zero, cr, stride, maxThreads: 1);
                    FastGemm.Multiply(false, false, g, stride, g, T.One, mi[a], g, xr, stride, T.Zero, ci, stride, maxThreads: 1);
                    if (!imagZero)
                    {
                        FastGemm.Multiply(false, false, g, stride, g, -T.One, mi[a], g, xi, stride, T.One, cr, stride, maxThreads: 1);
                        FastGemm.Multiply(false, false, g, stride, g, T.One, mr[a], g, xi, stride, T.One, ci, stride, maxThreads: 1);
                    }
                }
            }
            imagZero = false;
            s.Swap();
            stride *= g;
        }
    }

    private sealed class Scratch<T>(int grid) where T : unmanaged
    {
        public T[] Ar = new T[grid], Ai = new T[grid], Br = new T[grid], Bi = new T[grid];

        public void Swap()
        {
            (Ar, Br) = (Br, Ar);
            (Ai, Bi) = (Bi, Ai);
        }
    }
}
