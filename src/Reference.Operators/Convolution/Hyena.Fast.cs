// The Fast tier of the Hyena operator (see Hyena.cs for the paper, the glossary and the naive definition): the filter by
// HyenaFilter.FilterFast (safari's default HyenaFilter: two inner layers, modulated, in T), the projections as
// TensorPrimitives dot products in T, the short and the long convolutions by CausalConvolution.ForwardFast (the real-FFT
// route from 64 taps on), the gates elementwise.
using System.Numerics;
using Reference.Core;

namespace Reference.Operators.Convolution;

public static partial class Hyena
{
    /// <summary>conv.hyena's implicit filter as a default-option <see cref="HyenaFilterParameters"/> over Df = (N_o - 1) D channels.</summary>
    public static HyenaFilterParameters FilterParameters(HyenaParameters p)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        return new HyenaFilterParameters(p.FilterChannels, p.FilterWidth, p.EmbeddingDim, p.MaxLength, p.W0, p.B0, [p.W1, p.W2], [p.B1, p.B2],
            p.W3, p.Freq, p.Deltas, p.FilterBias);
    }

    /// <summary>Fast tier of <see cref="Forward"/>: u [B, L, D] -> out [B, L, D] in float or double (weights rounded once to T).</summary>
    public static Tensor<T> ForwardFast<T>(HyenaParameters p, Tensor<T> u, int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        ArgumentNullException.ThrowIfNull(u);
        if (u.Rank != 3 || u.Dim(2) != p.ModelWidth || u.Dim(0) < 1 || u.Dim(1) < 1)
            throw new ArgumentException($"u must have shape [B, L, {p.ModelWidth}] with B, L >= 1, got {Shapes.Format(u.Shape)}.", nameof(u));
        if (u.Dim(1) > p.MaxLength)
            throw new ArgumentException($"L must be <= l_max = {p.MaxLength}, got {u.Dim(1)}.", nameof(u));
        int batch = u.Dim(0), length = u.Dim(1), d = p.ModelWidth, inner = (p.Order + 1) * d;
        static T[] R(double[] x) => x.Select(T.CreateTruncating).ToArray();
        var inW = R(p.InW);
        var inB = R(p.InB);
        // Projection, channel-major: pc[b, c, l] = in_w[c] . u[b, l] + in_b[c].
        var pc = Tensor<T>.Zeros(batch, inner, length);
        for (int b = 0; b < batch; b++)
            for (int l = 0; l < length; l++)
            {
                var x = u.Data.AsSpan((b * length + l) * d, d);
                for (int c = 0; c < inner; c++) pc.Data[(b * inner + c) * length + l] = TensorPrimitives.Dot<T>(inW.AsSpan(c * d, d), x) + inB[c];
            }
        var shortK = Tensor<T>.Zeros(inner, 3);
        for (int c = 0; c < inner; c++)
            for (int m = 0; m < 3; m++) shortK.Data[c * 3 + m] = T.CreateTruncating(p.ShortW[c * 3 + 2 - m]);
        var s = CausalConvolution.ForwardFast(pc, shortK, null, maxThreads);
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < inner; c++)
            {
                var row = s.Data.AsSpan((b * inner + c) * length, length);
                TensorPrimitives.Add(row, T.CreateTruncating(p.ShortB[c]), row);
            }
        var h = HyenaFilter.FilterFast<T>(FilterParameters(p), length);             // [Df, L]
        var bias = R(p.FilterBias);
        var v = Tensor<T>.Zeros(batch, d, length);
        for (int b = 0; b < batch; b++) s.Data.AsSpan((b * inner + p.Order * d) * length, d * length).CopyTo(v.Data.AsSpan(b * d * length));
        void Gate(int i)
        {
            for (int b = 0; b < batch; b++)
            {
                var vb = v.Data.AsSpan(b * d * length, d * length);
                TensorPrimitives.Multiply(vb, s.Data.AsSpan((b * inner + i * d) * length, d * length), vb);
            }
        }
        for (int o = 0; o < p.Order - 1; o++)
        {
            Gate(p.Order - 1 - o);
            var filter = new Tensor<T>(h.Data.AsSpan(o * d * length, d * length).ToArray(), d, length);
            v = CausalConvolution.ForwardFast(v, filter, new Tensor<T>(bias.AsSpan(o * d, d).ToArray(), d), maxThreads);
        }
        Gate(0);
        var outW = R(p.OutW);
        var outB = R(p.OutB);
        var output = Tensor<T>.Zeros(batch, length, d);
        var token = new T[d];
        for (int b = 0; b < batch; b++)
            for (int l = 0; l < length; l++)
            {
                for (int c = 0; c < d; c++) token[c] = v.Data[(b * d + c) * length + l];
                for (int j = 0; j < d; j++) output.Data[(b * length + l) * d + j] = TensorPrimitives.Dot<T>(outW.AsSpan(j * d, d), token) + outB[j];
            }
        return output;
    }
}
