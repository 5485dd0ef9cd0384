// A time-varying diagonal state-space realization of one channel: the one contract between the
// operators with an explicit N-dim diagonal state (S4D, Mamba, linear attention, decayed LA, GLA)
// and its consumers (the ESS factored path, tests that rebuild T).
//
// Recurrence (per channel, per step t = 0..L-1, state x_t of N reals or M complex modes):
//     x_t = a_t * x_{t-1} + b_t u_t          (a_t, b_t: [N], elementwise; x_{-1} = 0)
//     y_t = Re(c_t . x_t) + skip_t u_t  (the direct term sits on the diagonal of T and never enters ESS)
// so the operator matrix is T[i, j] = Re sum_n c_i[n] (prod_{t=j+1..i} a_t[n]) b_j[n] for i > j,
// and T[i, i] = Re(c_i . b_i) + skip_i.
// Glossary (ESS paper, Section 3 / Mamba, Section 3): a_t = Abar_t = exp(Delta_t A), b_t = Bbar_t
// (Delta_t B_t for Mamba), c_t = C_t; for S4D the modes are complex and an adapter folds the factor 2
// of y = 2 Re(C x) into c (S4D.Realize does). Linear attention / GLA: a_t = decay (1 for LA), b_t = k_t, c_t = q_t.

using System.Numerics;
using Reference.Core;

namespace Reference.Operators;

/// <summary>
/// Per-step transition a_t, input vector b_t and readout c_t of one channel (arrays [L, N] row-major,
/// real, or [L, M] complex modes with T = Re(...)). Arrays are not copied.
/// </summary>
public sealed class DiagonalRealization
{
    private DiagonalRealization(int length, int modes, double[] aRe, double[]? aIm, double[] bRe, double[]? bIm, double[] cRe, double[]? cIm, double[]? skip)
    {
        if (skip is not null && skip.Length != length)
            throw new ArgumentException($"skip has {skip.Length} elements, expected L = {length}.", nameof(skip));
        Skip = skip;
        Length = length;
        Modes = modes;
        Transition = aRe; TransitionImag = aIm; Input = bRe; InputImag = bIm; Readout = cRe; ReadoutImag = cIm;
    }

    /// <summary>L, the sequence length.</summary>
    public int Length { get; }

    /// <summary>N real modes, or M complex modes.</summary>
    public int Modes { get; }

    /// <summary>Whether the modes are complex (T = Re of the complex kernel).</summary>
    public bool IsComplex => TransitionImag is not null;

    /// <summary>Dimension of the equivalent real state: N, or 2 M for complex modes.</summary>
    public int RealStateSize => IsComplex ? 2 * Modes : Modes;

    /// <summary>Real parts of a_t, b_t, c_t ([L, N] row-major); the Imag arrays are null for a real realization.</summary>
    public double[] Transition { get; }
    public double[]? TransitionImag { get; }
    public double[] Input { get; }
    public double[]? InputImag { get; }
    public double[] Readout { get; }
    public double[]? ReadoutImag { get; }

    /// <summary>The direct term per step [L] (D u_t), or null; only the diagonal of T sees it.</summary>
    public double[]? Skip { get; }

    /// <summary>A real realization: transition, input, readout each [L, N] row-major.</summary>
    public static DiagonalRealization Real(int length, int state, double[] transition, double[] input, double[] readout, double[]? skip = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfNegative(state);
        Check(transition, length, state, nameof(transition));
        Check(input, length, state, nameof(input));
        Check(readout, length, state, nameof(readout));
        return new DiagonalRealization(length, state, transition, null, input, null, readout, null, skip);
    }

    /// <summary>A complex-mode realization (T = Re sum_m ...): transition, input, readout each [L, M] row-major.</summary>
    public static DiagonalRealization Complex(int length, int modes, Complex[] transition, Complex[] input, Complex[] readout, double[]? skip = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfNegative(modes);
        Check(transition, length, modes, nameof(transition));
        Check(input, length, modes, nameof(input));
        Check(readout, length, modes, nameof(readout));
        return new DiagonalRealization(length, modes,
            transition.Select(z => z.Real).ToArray(), transition.Select(z => z.Imaginary).ToArray(),
            input.Select(z => z.Real).ToArray(), input.Select(z => z.Imaginary).ToArray(),
            readout.Select(z => z.Real).ToArray(), readout.Select(z => z.Imaginary).ToArray(), skip);
    }



    /// <summary>
    /// The operator matrix T [L, L] by its definition (naive float64): for each input position j the
    /// impulse response x = b_j, x = a_i * x for i > j, T[i, j] = Re(c_i . x), plus the skip on the diagonal. O(L^2 N).
    /// </summary>
    public Tensor<double> Materialize()
    {
        int l = Length, m = Modes;
        var t = Tensor<double>.Zeros(l, l);
        var xr = new double[m];
        var xi = new double[m];
        for (int j = 0; j < l; j++)
        {
            for (int n = 0; n < m; n++)
            {
                xr[n] = Input[j * m + n];
                xi[n] = InputImag is null ? 0 : InputImag[j * m + n];
            }
            for (int i = j; i < l; i++)
            {
                double sum = 0;
                for (int n = 0; n < m; n++)
                {
                    int at = i * m + n;
                    if (i > j)
                    {
                        double ar = Transition[at], ai = TransitionImag is null ? 0 : TransitionImag[at];
                        (xr[n], xi[n]) = (ar * xr[n] - ai * xi[n], ar * xi[n] + ai * xr[n]);
                    }
                    sum += Readout[at] * xr[n] - (ReadoutImag is null ? 0 : ReadoutImag[at] * xi[n]);
                }
                t[i, j] = i == j && Skip is not null ? sum + Skip[i] : sum;
            }
        }
        return t;
    }

    private static void Check<T>(T[] values, int length, int modes, string name)
    {
        ArgumentNullException.ThrowIfNull(values, name);
        if (values.Length != (long)length * modes)
            throw new ArgumentException($"{name} has {values.Length} elements, expected L * N = {length} * {modes} = {(long)length * modes}.", name);
    }
}
