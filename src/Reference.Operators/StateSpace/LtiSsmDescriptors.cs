using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;

namespace Reference.Operators.StateSpace;

/// <summary>
/// What the descriptors of the time-invariant SSM layers (ssm.s4d, ssm.shift, ssm.h3) share:
/// the discretization parameter, per-row application of operator matrices, the token-by-token
/// Step loop and the chunked run over channel-major sequences [.., C, L] (row r uses channel r mod C).
/// </summary>
internal static class LtiSsmDescriptors
{
    /// <summary>The meaning of params.discretization.</summary>
    public const string DiscretizationParameter = "zoh or bilinear (S4D's discretization of the continuous SSM)";

    /// <summary>params.discretization as the enum (ArgumentException naming the parameter otherwise).</summary>
    public static Discretization Method(JsonObject p) => p.String("discretization") switch
    {
        "zoh" => Discretization.Zoh,
        "bilinear" => Discretization.Bilinear,
        var other => throw new ArgumentException($"params.discretization must be zoh or bilinear, found {other}.", "discretization"),
    };

    /// <summary>A float64 parameter array stored as is (the ESS samples keep the initializer's exact values).</summary>
    public static NpyArray Exact(double[] data, params int[] shape) => NpyArray.Of((double[])data.Clone(), shape);

    /// <summary>The Step loop over u [.., C, L]: step(u_t [rows]) -> y_t [rows], t ascending.</summary>
    public static Tensor<double> StepLoop(Tensor<double> u, Func<double[], double[]> step)
    {
        int l = u.Dim(-1), rows = u.Length / l;
        var y = Tensor<double>.Zeros(u.ShapeArray);
        var ut = new double[rows];
        for (int t = 0; t < l; t++)
        {
            for (int r = 0; r < rows; r++) ut[r] = u.Data[r * l + t];
            var yt = step(ut);
            for (int r = 0; r < rows; r++) y.Data[r * l + t] = yt[r];
        }
        return y;
    }

    /// <summary>
    /// The kernel [C, Lk] read off a Step loop over C rows: the response to a unit impulse at t = 0, minus
    /// the skip at lag 0 (the recurrence's own impulse response, against the closed-form kernel).
    /// </summary>
    public static Tensor<double> ImpulseResponse(int channels, int kernelLength, double[] skip, Func<double[], double[]> step)
    {
        var k = Tensor<double>.Zeros(channels, kernelLength);
        var ut = new double[channels];
        for (int t = 0; t < kernelLength; t++)
        {
            Array.Fill(ut, t == 0 ? 1.0 : 0.0);
            var yt = step(ut);
            for (int c = 0; c < channels; c++) k.Data[c * kernelLength + t] = yt[c] - (t == 0 ? skip[c] : 0.0);
        }
        return k;
    }

    /// <summary>
    /// u [.., C, L] cut into chunks of <paramref name="chunk"/> steps along the last axis (the last one
    /// shorter), each run through <paramref name="run"/> (which carries the state), outputs reassembled.
    /// </summary>
    public static Tensor<double> ChunkedOverLastAxis(Tensor<double> u, int chunk, Func<Tensor<double>, Tensor<double>> run)
    {
        int l = u.Dim(-1), rows = u.Length / l;
        var lead = u.ShapeArray[..^1];
        var y = Tensor<double>.Zeros(u.ShapeArray);
        for (int t0 = 0; t0 < l; t0 += chunk)
        {
            int lc = Math.Min(chunk, l - t0);
            var piece = Tensor<double>.Zeros([.. lead, lc]);
            for (int r = 0; r < rows; r++) u.Data.AsSpan(r * l + t0, lc).CopyTo(piece.Data.AsSpan(r * lc, lc));
            var out_ = run(piece);
            for (int r = 0; r < rows; r++) out_.Data.AsSpan(r * lc, lc).CopyTo(y.Data.AsSpan(r * l + t0, lc));
        }
        return y;
    }
}
