namespace Reference.Operators.Attention;

/// <summary>
/// One head of a linear recurrence with a diagonal N-dimensional state, per step t:
/// x_t = a_t o x_{t-1} + b_t u_t, y_t = c_t . x_t (o = elementwise). Linear attention, decayed
/// linear attention and GLA are of this form for every value column u = v[:, j] (N = K): the gate
/// is the transition a_t, the key the input vector b_t, the (scaled, normalised) query the readout
/// c_t, so that y_t = sum_{s &lt;= t} c_t . (prod_{r=s+1..t} a_r) o b_s u_s = (T u)_t.
/// Arrays are row-major [L, N]; the ESS factored path takes them as
/// Reference.Ess.DiagonalRealization.Real(r.Length, r.State, r.Transition, r.Input, r.Readout).
/// </summary>
/// <param name="Length">L.</param>
/// <param name="State">N.</param>
/// <param name="Transition">a_t, [L, N], entries in [0, 1].</param>
/// <param name="Input">b_t, [L, N].</param>
/// <param name="Readout">c_t, [L, N].</param>
public sealed record HeadRealization(int Length, int State, double[] Transition, double[] Input, double[] Readout);
