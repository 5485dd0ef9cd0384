using System.Numerics;

namespace Reference.Operators.StateSpace;

/// <summary>
/// A per-channel diagonal state-space realization with complex modes, the input of the ESS
/// factored path: for i &gt; j (0-based)
///   T[i, j] = Re( sum_n c_i[n] (prod_{t=j+1..i} a_t[n]) b_j[n] ),
/// and T[i, i] = Re( sum_n c_i[n] b_i[n] ) + Skip[i]. Arrays are [L, N] row-major (N complex modes).
/// A real operator written with conjugate-pair modes (S4D: y = 2 Re(C x)) folds the factor 2 into
/// the readout, so the real state size is 2N (each complex mode is a rank-2 real block).
/// </summary>
public sealed record ComplexDiagonalRealization(
    int Length, int Modes, Complex[] Transition, Complex[] Input, Complex[] Readout, double[] Skip)
{
    /// <summary>The dense T [L, L] of the realization (O(L^2 N), for checks).</summary>
    public double[] ToDense()
    {
        var t = new double[Length * Length];
        var carry = new Complex[Modes];
        for (int j = 0; j < Length; j++)
        {
            for (int n = 0; n < Modes; n++) carry[n] = Input[j * Modes + n];
            for (int i = j; i < Length; i++)
            {
                if (i > j)
                    for (int n = 0; n < Modes; n++) carry[n] *= Transition[i * Modes + n];
                Complex acc = Complex.Zero;
                for (int n = 0; n < Modes; n++) acc += Readout[i * Modes + n] * carry[n];
                t[i * Length + j] = acc.Real + (i == j ? Skip[i] : 0.0);
            }
        }
        return t;
    }
}
