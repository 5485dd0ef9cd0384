// Fast tier of the M2 mixers (M2Mixer.cs) in float32 or float64: the projections as FastGemm products
// over all tokens, the short conv and the causal part of the long convolution by CausalConvolution.ForwardFast
// (its real-FFT route for long kernels), the anti-causal part of M2-BERT's pad_flip convolution as a causal
// convolution of the time-reversed input with the kernel [0, h_rev[0], h_rev[1], ..] (y[t] += sum_{m>=1}
// h_rev[m-1] u[t+m] is, with t' = L-1-t, sum_{m>=1} h_rev[m-1] u_rev[t'-m]), and M2-GPT's causal Monarch
// convolution by CausalMonarch.ForwardFast (per-digit GEMMs). The implicit filters are computed in float64
// (Hyena.Filter) and rounded to T once.
using System.Numerics;
using Reference.Core;
using Reference.Core.Linear;
using Reference.Operators.Convolution;

namespace Reference.Operators.Monarch;

internal static class M2MixingFast
{
    /// <summary>The pipeline of M2Mixer.cs in precision T; <paramref name="longConv"/> maps v [B, D, L] to the long convolution plus skip.</summary>
    public static Tensor<T> Run<T>(M2MixerParameters p, Tensor<T> u, Func<Tensor<T>, Tensor<T>> longConv) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int batch = u.Dim(0), length = u.Dim(1), d = p.ModelWidth, inner = 3 * d, rows = batch * length;
        var inW = Cast<T>(p.InW);
        var proj = new T[rows * inner];
        FastGemm.Multiply(false, true, rows, inner, d, T.One, u.Data, d, inW, d, T.Zero, proj, inner, maxThreads: 1);
        var pc = Tensor<T>.Zeros(batch, inner, length);
        for (int b = 0; b < batch; b++)
            for (int l = 0; l < length; l++)
                for (int c = 0; c < inner; c++) pc.Data[(b * inner + c) * length + l] = proj[(b * length + l) * inner + c] + T.CreateTruncating(p.InB[c]);
        var s = CausalConvolution.ForwardFast(pc, M2Mixing.ShortKernel(p).Cast<T>(), null, maxThreads: 1);
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < inner; c++)
            {
                T bias = T.CreateTruncating(p.ShortB[c]);
                for (int l = 0; l < length; l++) s.Data[(b * inner + c) * length + l] += bias;
            }
        var v = Tensor<T>.Zeros(batch, d, length);
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < d * length; j++) v.Data[b * d * length + j] = s.Data[(b * inner + 2 * d) * length + j] * s.Data[b * inner * length + j];
        var y = longConv(v);
        var yTok = new T[rows * d];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < d; c++)
                for (int l = 0; l < length; l++)
                    yTok[(b * length + l) * d + c] = y.Data[(b * d + c) * length + l] * s.Data[(b * inner + d + c) * length + l];
        var output = new T[rows * d];
        FastGemm.Multiply(false, true, rows, d, d, T.One, yTok, d, Cast<T>(p.OutW), d, T.Zero, output, d, maxThreads: 1);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < d; c++) output[r * d + c] += T.CreateTruncating(p.OutB[c]);
        return new Tensor<T>(output, batch, length, d);
    }

    public static T[] Cast<T>(double[] x) where T : unmanaged, IFloatingPointIeee754<T> => [.. x.Select(T.CreateTruncating)];

    /// <summary>v [.., C, L] reversed along time.</summary>
    public static Tensor<T> Reverse<T>(Tensor<T> v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int l = v.Dim(-1), rows = v.Length / l;
        var r = Tensor<T>.Zeros(v.ShapeArray);
        for (int i = 0; i < rows; i++)
            for (int t = 0; t < l; t++) r.Data[i * l + t] = v.Data[i * l + l - 1 - t];
        return r;
    }

    public static (int Batch, int Length) Check<T>(M2MixerParameters p, Tensor<T> u) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        ArgumentNullException.ThrowIfNull(u);
        if (u.Rank != 3 || u.Dim(2) != p.ModelWidth || u.Dim(0) < 1 || u.Dim(1) < 1 || u.Dim(1) > p.MaxLength)
            throw new ArgumentException($"u must have shape [B, L, {p.ModelWidth}] with B, L >= 1 and L <= l_max = {p.MaxLength}, got {Shapes.Format(u.Shape)}.", nameof(u));
        return (u.Dim(0), u.Dim(1));
    }
}

public static partial class M2BertMixer
{
    /// <summary>The fast tier in precision T (file head of M2Mixer.Fast.cs); u [B, L, D].</summary>
    public static Tensor<T> ForwardFast<T>(M2MixerParameters p, Tensor<T> u) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (_, length) = M2MixingFast.Check(p, u);
        if (!p.Bidirectional) throw new ArgumentException("M2-BERT needs the reverse filter (R0..R3).", nameof(p));
        var h = M2Mixing.Filter(p, length).Cast<T>();
        var hRev = M2Mixing.ReverseFilter(p, length);
        int d = p.ModelWidth;
        var shifted = Tensor<T>.Zeros(d, length);
        for (int c = 0; c < d; c++)
            for (int m = 1; m < length; m++) shifted.Data[c * length + m] = T.CreateTruncating(hRev.Data[c * length + m - 1]);
        var bias = M2Mixing.FilterBias(p).Cast<T>();
        return M2MixingFast.Run(p, u, v =>
        {
            var y = CausalConvolution.ForwardFast(v, h, bias, maxThreads: 1);
            var anti = M2MixingFast.Reverse(CausalConvolution.ForwardFast(M2MixingFast.Reverse(v), shifted, null, maxThreads: 1));
            for (int i = 0; i < y.Length; i++) y.Data[i] += anti.Data[i];
            return y;
        });
    }
}

public static partial class M2GptMixer
{
    /// <summary>The fast tier in precision T (file head of M2Mixer.Fast.cs); u [B, L, D], L &lt;= l_max &lt;= b^p.</summary>
    public static Tensor<T> ForwardFast<T>(M2MixerParameters p, CausalMonarchFastPlan<T> plan, Tensor<T> u) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(plan);
        var (_, length) = M2MixingFast.Check(p, u);
        if (length > plan.Plan.N) throw new ArgumentException($"L = {length} exceeds the plan's N = b^p = {plan.Plan.N}.", nameof(plan));
        var h = M2Mixing.Filter(p, length).Cast<T>();
        var bias = M2Mixing.FilterBias(p).Cast<T>();
        return M2MixingFast.Run(p, u, v => CausalMonarch.ForwardFast(plan, v, h, bias));
    }
}
