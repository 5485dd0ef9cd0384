using Reference.Core;
using Reference.Core.Conformance;

namespace Reference.Operators.Convolution;

/// <summary>
/// What the convolution family's descriptors share: the tolerance rationale, per-row operator
/// matrices (one Toeplitz matrix per kernel channel, repeated over the batch) applied to the input,
/// the optional skip input, and the chunked and token-by-token runs of <see cref="CausalConvolution"/>'s
/// carried state (conv.causal's forms).
/// </summary>
internal static class ConvolutionDescriptors
{
    /// <summary>The tolerance rationale of conv.causal and conv.bidirectional (unchanged from their golden ops).</summary>
    public const string Rationale =
        "a sum of up to L products per output: float64 reorderings (FFT route, AXPY order) stay ~1e-14 relative at these sizes " +
        "(1e-12 leaves a margin); float32 FFT/AXPY reach ~1e-6, so 1e-5 is the conventions' float32 bound";

    /// <summary>The naive accumulation order of conv.causal (written into its manifests).</summary>
    public const string ConvOrder =
        "y[b, c, t]: float64 acc = 0; acc += k[c, j] * u[b, c, t - j] for j = 0..min(t, Lk - 1) in order; y = acc + d[c] * u[b, c, t]";

    /// <summary>The skip input d when the case has one, else null (D = 0).</summary>
    public static Tensor<double>? Skip(NamedArrays x, string name = "d") => x.TryGetValue(name, out var d) ? d.ToTensorDouble() : null;

    /// <summary>FlashConv state passing: u [.., C, L] in chunks of <paramref name="chunk"/> steps through one <see cref="ConvolutionState"/>.</summary>
    public static Tensor<double> Chunked(Tensor<double> u, Tensor<double> k, Tensor<double>? d, int chunk)
    {
        int l = u.Dim(-1), rows = u.Length / l;
        var state = CausalConvolution.InitialState(rows, k.Dim(0), k.Dim(1));
        var y = Tensor<double>.Zeros(u.ShapeArray);
        for (int t0 = 0; t0 < l; t0 += chunk)
        {
            int n = Math.Min(chunk, l - t0);
            var part = CausalConvolution.ForwardChunk(state, u.Slice(-1, t0, n), k, d);
            for (int r = 0; r < rows; r++) part.Data.AsSpan(r * n, n).CopyTo(y.Data.AsSpan(r * l + t0));
        }
        return y;
    }

    /// <summary>The decoding form: <see cref="CausalConvolution.Step"/> once per token of u [.., C, L].</summary>
    public static Tensor<double> Recurrent(Tensor<double> u, Tensor<double> k, Tensor<double>? d)
    {
        int l = u.Dim(-1), rows = u.Length / l;
        var state = CausalConvolution.InitialState(rows, k.Dim(0), k.Dim(1));
        var y = Tensor<double>.Zeros(u.ShapeArray);
        var ut = new double[rows];
        for (int t = 0; t < l; t++)
        {
            for (int r = 0; r < rows; r++) ut[r] = u.Data[r * l + t];
            var yt = CausalConvolution.Step(state, ut, k, d);
            for (int r = 0; r < rows; r++) y.Data[r * l + t] = yt[r];
        }
        return y;
    }

    /// <summary>u [.., L] reversed along time (a copy).</summary>
    public static Tensor<double> Reverse(Tensor<double> u)
    {
        int l = u.Dim(-1), rows = u.Length / l;
        var r = Tensor<double>.Zeros(u.ShapeArray);
        for (int i = 0; i < rows; i++)
            for (int t = 0; t < l; t++) r.Data[i * l + t] = u.Data[i * l + l - 1 - t];
        return r;
    }
}
