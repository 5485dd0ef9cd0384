// The Fast tier of HyenaFilter (see HyenaFilter.cs for the paper, the options and the definition): the filter MLP in T
// with TensorPrimitives dot products and sines per layer, the window and the normalization in T, then the long
// convolution by CausalConvolution.ForwardFast (the real-FFT route above its threshold).
using System.Numerics;
using Reference.Core;

namespace Reference.Operators.Convolution;

public static partial class HyenaFilter
{
    /// <summary>Fast tier of <see cref="Filter"/>: h [D, L] in float or double (weights rounded once to T).</summary>
    public static Tensor<T> FilterFast<T>(HyenaFilterParameters p, int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (z, t) = Features(p, length);
        int f = p.FilterWidth, e = p.EmbeddingDim, d = p.Channels;
        static T[] R(double[] x) => x.Select(T.CreateTruncating).ToArray();
        var w0 = R(p.W0);
        var b0 = R(p.B0);
        var inner = p.InnerW.Select(R).ToArray();
        var innerB = p.InnerB.Select(R).ToArray();
        var wOut = R(p.WOut);
        var freq = R(p.Freq);
        var zt = R(z);
        var window = new T[d * length];
        for (int c = 0; c < d; c++)
            for (int k = 0; k < length; k++)
                window[c * length + k] = p.Options.Modulate
                    ? T.Exp(-T.CreateTruncating(t[k]) * T.Abs(T.CreateTruncating(p.Deltas[c]))) + T.CreateTruncating(p.Options.Shift)
                    : T.One;
        var h = Tensor<T>.Zeros(d, length);
        var a = new T[f];
        var b = new T[f];
        var col = new T[d];
        for (int k = 0; k < length; k++)
        {
            Layer(zt.AsSpan(k * e, e), w0, b0, freq, a);
            for (int i = 0; i < inner.Length; i++)
            {
                Layer(a, inner[i], innerB[i], freq, b);
                b.CopyTo(a, 0);
            }
            for (int c = 0; c < d; c++) col[c] = TensorPrimitives.Dot<T>(wOut.AsSpan(c * f, f), a) * window[c * length + k];
            if (p.Options.Normalized)
            {
                T norm = TensorPrimitives.SumOfMagnitudes<T>(col);
                TensorPrimitives.Divide(col, norm, col);
            }
            for (int c = 0; c < d; c++) h.Data[c * length + k] = col[c];
        }
        return h;
    }

    private static void Layer<T>(ReadOnlySpan<T> x, T[] w, T[] bias, T[] freq, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = x.Length;
        for (int o = 0; o < y.Length; o++) y[o] = TensorPrimitives.Dot<T>(w.AsSpan(o * n, n), x) + bias[o];
        TensorPrimitives.Multiply(y, freq, y);
        TensorPrimitives.Sin<T>(y, y);
    }

    /// <summary>Fast tier of <see cref="Forward"/> for u [B, D, L] in float or double.</summary>
    public static Tensor<T> ForwardFast<T>(HyenaFilterParameters p, Tensor<T> u, int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int length = CheckInput(p, u);
        var skip = p.Options.UseBias ? new Tensor<T>(p.Bias.Select(T.CreateTruncating).ToArray(), p.Channels) : null;
        return CausalConvolution.ForwardFast(u, FilterFast<T>(p, length), skip, maxThreads);
    }
}
