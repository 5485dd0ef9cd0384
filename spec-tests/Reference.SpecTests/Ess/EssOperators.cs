using System.Numerics;
using Reference.Core;
using Reference.Ess;
using Reference.Operators;

namespace Reference.SpecTests.Ess;

/// <summary>
/// Operator matrices T built from their float64 definitions (docs/ess.md, the table of "The operator view"), independent of the
/// library's operator code, for the ESS invariants.
/// </summary>
public static class EssOperators
{
    /// <summary>Short causal convolution: T[i, j] = h[i - j] for 0 &lt;= i - j &lt; k.</summary>
    public static Tensor<double> ShortConvolution(double[] h, int length)
    {
        var t = Tensor<double>.Zeros(length, length);
        for (int i = 0; i < length; i++)
            for (int j = Math.Max(0, i - h.Length + 1); j <= i; j++) t[i, j] = h[i - j];
        return t;
    }

    /// <summary>Gated convolution c_i h[i - j] b_j (H3/Hyena form).</summary>
    public static Tensor<double> Gated(Tensor<double> t, double[] c, double[] b)
    {
        var g = t.Clone();
        int l = t.Dim(0);
        for (int i = 0; i < l; i++)
            for (int j = 0; j < l; j++) g[i, j] = c[i] * t[i, j] * b[j];
        return g;
    }

    /// <summary>Causal softmax attention of one head: softmax_j(q_i . k_j / sqrt(d_k)) over j &lt;= i (log-sum-exp with the row max).</summary>
    public static Tensor<double> SoftmaxAttention(Tensor<double> q, Tensor<double> k, int? delimiter = null)
    {
        int l = q.Dim(0), d = q.Dim(1);
        var t = Tensor<double>.Zeros(l, l);
        var scores = new double[l];
        for (int i = 0; i < l; i++)
        {
            // A delimiter at e masks every key before e for queries at or after e.
            int first = delimiter is int e && i >= e ? e : 0;
            double max = double.NegativeInfinity;
            for (int j = first; j <= i; j++)
            {
                double dot = 0;
                for (int p = 0; p < d; p++) dot += q[i, p] * k[j, p];
                scores[j] = dot / Math.Sqrt(d);
                max = Math.Max(max, scores[j]);
            }
            double sum = 0;
            for (int j = first; j <= i; j++) sum += Math.Exp(scores[j] - max);
            for (int j = first; j <= i; j++) t[i, j] = Math.Exp(scores[j] - max) / sum;
        }
        return t;
    }

    /// <summary>A real diagonal realization with random poles in (0.3, 0.95), b and c ~ N(0, 1); time-varying unless lti.</summary>
    public static DiagonalRealization RandomReal(int length, int state, SplitMix64 rng, bool lti)
    {
        var a = new double[length * state];
        var b = new double[length * state];
        var c = new double[length * state];
        for (int t = 0; t < length; t++)
            for (int n = 0; n < state; n++)
            {
                int at = t * state + n;
                a[at] = lti && t > 0 ? a[n] : rng.Uniform(0.3, 0.95);
                b[at] = lti && t > 0 ? b[n] : rng.Normal();
                c[at] = lti && t > 0 ? c[n] : rng.Normal();
            }
        return DiagonalRealization.Real(length, state, a, b, c);
    }

    /// <summary>A complex-mode realization (S4D-like: |a| in (0.5, 0.97), random phases), time-varying unless lti.</summary>
    public static DiagonalRealization RandomComplex(int length, int modes, SplitMix64 rng, bool lti)
    {
        var a = new Complex[length * modes];
        var b = new Complex[length * modes];
        var c = new Complex[length * modes];
        for (int t = 0; t < length; t++)
            for (int n = 0; n < modes; n++)
            {
                int at = t * modes + n;
                a[at] = lti && t > 0 ? a[n] : Complex.FromPolarCoordinates(rng.Uniform(0.5, 0.97), rng.Uniform(0, Math.PI));
                b[at] = lti && t > 0 ? b[n] : new Complex(rng.Normal(), rng.Normal());
                c[at] = lti && t > 0 ? c[n] : new Complex(rng.Normal(), rng.Normal());
            }
        return DiagonalRealization.Complex(length, modes, a, b, c);
    }
}
