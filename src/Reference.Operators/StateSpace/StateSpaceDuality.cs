using System.Numerics;
using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.Operators.StateSpace;

/// <summary>Inputs of the Mamba-2 SSD layer's scan, time before heads (the layout of Mamba-2's ssd_minimal).</summary>
/// <param name="X">x [B, L, H, P], P = head dimension.</param>
/// <param name="Dt">dt [B, L, H], the step before softplus (Delta_t = softplus(dt_t + DtBias_h)).</param>
/// <param name="ALog">A_log [H]; one scalar A_h = -exp(A_log_h) per head.</param>
/// <param name="B">B [B, L, G, N], shared by the H / G heads of each group.</param>
/// <param name="C">C [B, L, G, N], grouped like B.</param>
/// <param name="D">D [H], the skip; null means 0.</param>
/// <param name="DtBias">[H] added to dt before the softplus; null means 0.</param>
public sealed record StateSpaceDualityInputs<T>(
    Tensor<T> X, Tensor<T> Dt, Tensor<T> ALog, Tensor<T> B, Tensor<T> C,
    Tensor<T>? D = null, Tensor<T>? DtBias = null) where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Batch => X.Dim(0);
    public int Length => X.Dim(1);
    public int Heads => X.Dim(2);
    public int HeadDim => X.Dim(3);
    public int Groups => B.Dim(2);
    public int State => B.Dim(3);

    /// <summary>Group of head h: h / (H / G).</summary>
    public int GroupOf(int h) => h / (Heads / Groups);

    /// <summary>Validates every shape against x [B, L, H, P]; names the argument.</summary>
    public void Check()
    {
        ArgumentNullException.ThrowIfNull(X);
        if (X.Rank != 4) throw new ArgumentException($"X must be [B, L, H, P], got {Shapes.Format(X.Shape)}.", nameof(X));
        int b = Batch, l = Length, h = Heads;
        Shapes.Same(Dt, [b, l, h], nameof(Dt));
        Shapes.Same(ALog, [h], nameof(ALog));
        if (B is null || B.Rank != 4 || B.Dim(0) != b || B.Dim(1) != l)
            throw new ArgumentException($"B must be [B = {b}, L = {l}, G, N], got {(B is null ? "null" : Shapes.Format(B.Shape))}.", nameof(B));
        if (Groups < 1 || h % Groups != 0)
            throw new ArgumentException($"B has G = {Groups} groups, which must divide H = {h}.", nameof(B));
        Shapes.Same(C, [b, l, Groups, State], nameof(C));
        if (D is not null) Shapes.Same(D, [h], nameof(D));
        if (DtBias is not null) Shapes.Same(DtBias, [h], nameof(DtBias));
    }}

/// <summary>Gradients of <see cref="StateSpaceDuality.Backward"/>, shaped like the inputs (null where the input was null).</summary>
public sealed record StateSpaceDualityGradients(
    Tensor<double> DX, Tensor<double> DDt, Tensor<double> DALog, Tensor<double> DB, Tensor<double> DC,
    Tensor<double>? DD, Tensor<double>? DDtBias);

/// <summary>Recurrent state of SSD: S [B, H, P, N] (one P x N matrix per head), updated in place.</summary>
public sealed class StateSpaceDualityState(int batch, int heads, int headDim, int state)
{
    public Tensor<double> S { get; } = Tensor<double>.Zeros(batch, heads, headDim, state);
}

/// <summary>
/// Mamba-2's state space duality (SSD): Dao and Gu, "Transformers are SSMs: Generalized Models and
/// Efficient Algorithms Through Structured State Space Duality" (arXiv:2405.21060), sections 3-6;
/// equation numbers below follow that paper. Per batch b and head h (scalar decay per head):
/// <code>
/// Delta_t = softplus(dt_t + bias_h),  A_h = -exp(A_log_h),  a_t = exp(Delta_t A_h)  (scalar)
/// S_t = a_t S_{t-1} + (Delta_t x_t) B_t^T       S [P, N]   (the SSM recurrence, eq. 1 / sec. 3.1)
/// y_t = S_t C_t + D_h x_t                        [P]
/// </code>
/// <para>Glossary (code = paper): X = x (head dim P), Dt = the projected dt before softplus,
/// ALog = log(-A), B, C = B_t, C_t (N = d_state), G groups of heads share B, C ("ngroups");
/// the scalar log decay of step t is Delta_t A_h (the paper's A_t after discretization).</para>
/// <para>Dual (attention-like) form, the 1-semiseparable matrix (sec. 3.2, eq. 6): for s &lt;= t,
/// T[t, s] = (C_t . B_s) exp(A_h (cum_t - cum_s)) Delta_s (+ D_h on the diagonal), cum = prefix sums of
/// Delta; y[:, p] = T x[:, p] for every p of the head. The decay is a difference of cumulative
/// sums (the "segsum"), never a product of exps.</para>
/// <para>Chunked algorithm (sec. 6, figure 5): the sequence is cut into chunks of Q steps; (1) the
/// diagonal blocks are the quadratic masked form inside each chunk, (2) each chunk's final state
/// from its own inputs, (3) states passed between chunks by the chunk's total decay, (4) the carried
/// state's contribution to every output of the next chunk. Equal to the recurrence to rounding.</para>
/// <para>Discretized entry (ssd_minimal_discrete of Mamba-2's ssd_minimal.py): the caller passes
/// X Delta and A Delta directly, xd [B, L, H, P] and ad [B, L, H] (any real log decay per step and
/// head): S_t = exp(ad_t) S_{t-1} + xd_t B_t^T, y_t = S_t C_t + D_h xd_t (<see cref="ForwardDiscrete"/>;
/// ssd_minimal_discrete has no D: pass null). With xd = Delta X and ad = Delta A_h it is the layer's
/// scan without D.</para>
/// <para>Simplifications: the Mamba-2 layer around it (projections, conv, gated RMSNorm) is not
/// here; no initial state other than the one in <see cref="StateSpaceDualityState"/>.</para>
/// </summary>
public static partial class StateSpaceDuality
{
    /// <summary>Delta [B, L, H] = softplus(dt + bias).</summary>
    public static Tensor<double> StepSizes(StateSpaceDualityInputs<double> p)
    {
        p.Check();
        var delta = Tensor<double>.Zeros(p.Batch, p.Length, p.Heads);
        for (int i = 0; i < delta.Length; i++)
            delta.Data[i] = NaiveActivations.Softplus(p.Dt.Data[i] + (p.DtBias?.Data[i % p.Heads] ?? 0.0));
        return delta;
    }

    /// <summary>The definition (float64): the recurrence from S = 0, output y [B, L, H, P].</summary>
    public static Tensor<double> Forward(StateSpaceDualityInputs<double> p) => Recurrent(p, null);

    /// <summary>
    /// The recurrence from <paramref name="state"/> (zeros when null), leaving the final state in it.
    /// y_t[p] sums S_t[p, n] C_t[n] over n ascending, then adds D_h x_t[p].
    /// </summary>
    public static Tensor<double> Recurrent(StateSpaceDualityInputs<double> p, StateSpaceDualityState? state)
    {
        p.Check();
        int bs = p.Batch, l = p.Length, hs = p.Heads, ps = p.HeadDim, n = p.State;
        state ??= new StateSpaceDualityState(bs, hs, ps, n);
        CheckState(state, p);
        var delta = StepSizes(p);
        var y = Tensor<double>.Zeros(bs, l, hs, ps);
        for (int b = 0; b < bs; b++)
            for (int h = 0; h < hs; h++)
            {
                var s = state.S.Data.AsSpan((b * hs + h) * ps * n, ps * n);
                double aH = -Math.Exp(p.ALog.Data[h]);
                int g = p.GroupOf(h);
                for (int t = 0; t < l; t++)
                {
                    double dt = delta.Data[(b * l + t) * hs + h], decay = Math.Exp(dt * aH);
                    int bc = ((b * l + t) * p.Groups + g) * n, xo = ((b * l + t) * hs + h) * ps;
                    for (int q = 0; q < ps; q++)
                    {
                        double xin = dt * p.X.Data[xo + q], acc = 0.0;
                        for (int k = 0; k < n; k++)
                        {
                            ref double sv = ref s[q * n + k];
                            sv = decay * sv + xin * p.B.Data[bc + k];
                            acc += sv * p.C.Data[bc + k];
                        }
                        y.Data[xo + q] = acc + (p.D?.Data[h] ?? 0.0) * p.X.Data[xo + q];
                    }
                }
            }
        return y;
    }

    /// <summary>
    /// Decoding: one token per (b, h) (L = 1 in the inputs); returns y [B, H, P]. The fast tier is
    /// <see cref="StepFast{T}"/> (StateSpaceDuality.Fast.cs) on the state <see cref="ForwardFast{T}(Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, int, int, Tensor{T})"/> carries.
    /// </summary>
    public static Tensor<double> Step(StateSpaceDualityInputs<double> token, StateSpaceDualityState state)
    {
        token.Check();
        if (token.Length != 1)
            throw new ArgumentException($"token must hold one time step, got L = {token.Length}.", nameof(token));
        return Recurrent(token, state).Reshape(token.Batch, token.Heads, token.HeadDim);
    }

    /// <summary>
    /// The SSD chunked algorithm with chunks of <paramref name="chunk"/> steps (the last may be
    /// shorter), from <paramref name="state"/> (zeros when null; left holding the final state).
    /// Within a chunk, cum_i = sum_{r = start..start+i} Delta_r A_h is the running log decay.
    /// </summary>
    public static Tensor<double> Chunked(StateSpaceDualityInputs<double> p, int chunk, StateSpaceDualityState? state = null)
    {
        p.Check();
        ArgumentOutOfRangeException.ThrowIfLessThan(chunk, 1);
        int bs = p.Batch, l = p.Length, hs = p.Heads, ps = p.HeadDim, n = p.State, gs = p.Groups;
        state ??= new StateSpaceDualityState(bs, hs, ps, n);
        CheckState(state, p);
        var delta = StepSizes(p);
        var y = Tensor<double>.Zeros(bs, l, hs, ps);
        var cum = new double[chunk];
        for (int b = 0; b < bs; b++)
            for (int h = 0; h < hs; h++)
            {
                var s = state.S.Data.AsSpan((b * hs + h) * ps * n, ps * n);
                double aH = -Math.Exp(p.ALog.Data[h]), skip = p.D?.Data[h] ?? 0.0;
                int g = p.GroupOf(h);
                int Bc(int t) => ((b * l + t) * gs + g) * n;
                int Xo(int t) => ((b * l + t) * hs + h) * ps;
                double Dt(int t) => delta.Data[(b * l + t) * hs + h];
                for (int start = 0; start < l; start += chunk)
                {
                    int len = Math.Min(chunk, l - start);
                    double run = 0.0;
                    for (int i = 0; i < len; i++) cum[i] = run += Dt(start + i) * aH;
                    for (int i = 0; i < len; i++)
                    {
                        int ti = start + i;
                        // (1) diagonal block: sum_{j <= i} (C_i . B_j) exp(cum_i - cum_j) Delta_j x_j.
                        for (int j = 0; j <= i; j++)
                        {
                            int tj = start + j;
                            double cb = 0.0;
                            for (int k = 0; k < n; k++) cb += p.C.Data[Bc(ti) + k] * p.B.Data[Bc(tj) + k];
                            double w = cb * Math.Exp(cum[i] - cum[j]) * Dt(tj);
                            for (int q = 0; q < ps; q++) y.Data[Xo(ti) + q] += w * p.X.Data[Xo(tj) + q];
                        }
                        // (4) the carried state, decayed from the chunk start through step i: exp(cum_i) S C_i.
                        double enter = Math.Exp(cum[i]);
                        for (int q = 0; q < ps; q++)
                        {
                            double acc = 0.0;
                            for (int k = 0; k < n; k++) acc += s[q * n + k] * p.C.Data[Bc(ti) + k];
                            y.Data[Xo(ti) + q] += enter * acc + skip * p.X.Data[Xo(ti) + q];
                        }
                    }
                    // (2) + (3): S <- exp(cum_last) S + sum_j exp(cum_last - cum_j) Delta_j x_j B_j^T.
                    double total = Math.Exp(cum[len - 1]);
                    for (int e = 0; e < ps * n; e++) s[e] *= total;
                    for (int j = 0; j < len; j++)
                    {
                        int tj = start + j;
                        double w = Math.Exp(cum[len - 1] - cum[j]) * Dt(tj);
                        for (int q = 0; q < ps; q++)
                        {
                            double wx = w * p.X.Data[Xo(tj) + q];
                            for (int k = 0; k < n; k++) s[q * n + k] += wx * p.B.Data[Bc(tj) + k];
                        }
                    }
                }
            }
        return y;
    }

    /// <summary>
    /// The 1-semiseparable operator per head, [B, H, L, L]:
    /// T[t, s] = (C_t . B_s) exp(A_h (cum_t - cum_s)) Delta_s for s &lt;= t, plus D_h on the diagonal.
    /// </summary>
    public static Tensor<double> Materialize(StateSpaceDualityInputs<double> p)
    {
        p.Check();
        int bs = p.Batch, l = p.Length, hs = p.Heads, n = p.State, gs = p.Groups;
        var delta = StepSizes(p);
        var cum = new double[l];
        var tm = Tensor<double>.Zeros(bs, hs, l, l);
        for (int b = 0; b < bs; b++)
            for (int h = 0; h < hs; h++)
            {
                double aH = -Math.Exp(p.ALog.Data[h]);
                int g = p.GroupOf(h);
                double run = 0.0;
                for (int t = 0; t < l; t++) cum[t] = run += delta.Data[(b * l + t) * hs + h];
                for (int t = 0; t < l; t++)
                    for (int s = 0; s <= t; s++)
                    {
                        double cb = 0.0;
                        for (int k = 0; k < n; k++)
                            cb += p.C.Data[((b * l + t) * gs + g) * n + k] * p.B.Data[((b * l + s) * gs + g) * n + k];
                        double v = cb * Math.Exp(aH * (cum[t] - cum[s])) * delta.Data[(b * l + s) * hs + h];
                        if (s == t) v += p.D?.Data[h] ?? 0.0;
                        tm.Data[((b * hs + h) * l + t) * l + s] = v;
                    }
            }
        return tm;
    }

    /// <summary>
    /// The diagonal realization of head (b, h) for ESS, arrays [L, N]: transition a_t = exp(Delta_t A_h)
    /// (the same scalar on every lane), input b_t = Delta_t B_t, readout c_t = C_t, and the direct term D_h on T's
    /// diagonal (the ESS factored path never reads it; with it the realization materializes to <see cref="Materialize"/>'s T).
    /// </summary>
    public static DiagonalRealization Realize(StateSpaceDualityInputs<double> p, int batch, int head)
    {
        p.Check();
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(batch, p.Batch);
        ArgumentOutOfRangeException.ThrowIfNegative(head);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(head, p.Heads);
        int l = p.Length, n = p.State, g = p.GroupOf(head);
        var delta = StepSizes(p);
        double aH = -Math.Exp(p.ALog.Data[head]);
        var a = new double[l * n];
        var bIn = new double[l * n];
        var c = new double[l * n];
        for (int t = 0; t < l; t++)
        {
            double dt = delta.Data[(batch * l + t) * p.Heads + head];
            int bc = ((batch * l + t) * p.Groups + g) * n;
            for (int k = 0; k < n; k++)
            {
                a[t * n + k] = Math.Exp(dt * aH);
                bIn[t * n + k] = dt * p.B.Data[bc + k];
                c[t * n + k] = p.C.Data[bc + k];
            }
        }
        double[]? skip = p.D is null ? null : Enumerable.Repeat(p.D.Data[head], l).ToArray();
        return DiagonalRealization.Real(l, n, a, bIn, c, skip);
    }

    /// <summary>
    /// Reverse-mode gradients of y = Forward(p) given dY [B, L, H, P]. The adjoint H_t = dL/dS_t [P, N]
    /// runs backwards: H_t = dy_t C_t^T + a_{t+1} H_{t+1}; then dC_t = S_t^T dy_t,
    /// dx_t = D dy_t + Delta_t H_t B_t, dB_t = Delta_t H_t^T x_t,
    /// dDelta_t = &lt;H_t, x_t B_t^T&gt; + &lt;H_t, S_{t-1}&gt; a_t A_h, dA_h = sum_t &lt;H_t, S_{t-1}&gt; a_t Delta_t,
    /// dA_log = dA A, ddt = dDelta softplus'(dt + bias). Group gradients sum over the group's heads.
    /// </summary>
    public static StateSpaceDualityGradients Backward(StateSpaceDualityInputs<double> p, Tensor<double> dY)
    {
        p.Check();
        int bs = p.Batch, l = p.Length, hs = p.Heads, ps = p.HeadDim, n = p.State, gs = p.Groups;
        if (dY is null || !dY.Shape.SequenceEqual([bs, l, hs, ps]))
            throw new ArgumentException($"dY must have shape {Shapes.Format([bs, l, hs, ps])}, got {(dY is null ? "null" : Shapes.Format(dY.Shape))}.", nameof(dY));
        var delta = StepSizes(p);
        var dX = Tensor<double>.Zeros(bs, l, hs, ps);
        var dDt = Tensor<double>.Zeros(bs, l, hs);
        var dALog = Tensor<double>.Zeros(hs);
        var dB = Tensor<double>.Zeros(bs, l, gs, n);
        var dC = Tensor<double>.Zeros(bs, l, gs, n);
        var dD = p.D is null ? null : Tensor<double>.Zeros(hs);
        var dBias = p.DtBias is null ? null : Tensor<double>.Zeros(hs);
        int sz = ps * n;
        var states = new double[(l + 1) * sz];   // states[t + 1] = S_t, states[0] = S_{-1} = 0
        var adj = new double[sz];
        for (int b = 0; b < bs; b++)
            for (int h = 0; h < hs; h++)
            {
                double aH = -Math.Exp(p.ALog.Data[h]), skip = p.D?.Data[h] ?? 0.0;
                int g = p.GroupOf(h);
                Array.Clear(states);
                // Forward again, keeping every state (the naive tier trades memory for clarity).
                for (int t = 0; t < l; t++)
                {
                    double dt = delta.Data[(b * l + t) * hs + h], decay = Math.Exp(dt * aH);
                    int bc = ((b * l + t) * gs + g) * n, xo = ((b * l + t) * hs + h) * ps;
                    for (int q = 0; q < ps; q++)
                        for (int k = 0; k < n; k++)
                            states[(t + 1) * sz + q * n + k] = decay * states[t * sz + q * n + k] + dt * p.X.Data[xo + q] * p.B.Data[bc + k];
                }
                Array.Clear(adj);
                double dA = 0.0;
                for (int t = l - 1; t >= 0; t--)
                {
                    double dt = delta.Data[(b * l + t) * hs + h], decay = Math.Exp(dt * aH);
                    int bc = ((b * l + t) * gs + g) * n, xo = ((b * l + t) * hs + h) * ps;
                    double dDelta = 0.0, dDecay = 0.0;
                    for (int q = 0; q < ps; q++)
                    {
                        double dy = dY.Data[xo + q], x = p.X.Data[xo + q];
                        if (dD is not null) dD.Data[h] += dy * x;
                        double dx = skip * dy;
                        for (int k = 0; k < n; k++)
                        {
                            int e = q * n + k;
                            adj[e] += dy * p.C.Data[bc + k];   // H_t = dy_t C_t^T + (a_{t+1} H_{t+1}, folded in at t + 1)
                            dC.Data[bc + k] += dy * states[(t + 1) * sz + e];
                            dx += dt * adj[e] * p.B.Data[bc + k];
                            dB.Data[bc + k] += dt * adj[e] * x;
                            dDelta += adj[e] * x * p.B.Data[bc + k];
                            dDecay += adj[e] * states[t * sz + e];
                        }
                        dX.Data[xo + q] = dx;
                    }
                    for (int e = 0; e < sz; e++) adj[e] *= decay;   // carry a_t H_t to step t - 1
                    dDelta += dDecay * decay * aH;
                    dA += dDecay * decay * dt;
                    double pre = p.Dt.Data[(b * l + t) * hs + h] + (p.DtBias?.Data[h] ?? 0.0);
                    double dRaw = dDelta * NaiveActivations.SoftplusDerivative(pre);
                    dDt.Data[(b * l + t) * hs + h] = dRaw;
                    if (dBias is not null) dBias.Data[h] += dRaw;
                }
                dALog.Data[h] += dA * aH;
            }
        return new StateSpaceDualityGradients(dX, dDt, dALog, dB, dC, dD, dBias);
    }

    /// <summary>
    /// The discretized entry (ssd_minimal_discrete): xd = X Delta [B, L, H, P], ad = A Delta [B, L, H], b, c
    /// [B, L, G, N], d [H] or null; the recurrence S_t = exp(ad_t) S_{t-1} + xd_t B_t^T, y_t[p] = sum_n S_t[p, n]
    /// C_t[n] (n ascending) + D_h xd_t[p], from <paramref name="state"/> (zeros when null; left holding the final
    /// state, ssd_minimal_discrete's final_state). Returns y [B, L, H, P].
    /// </summary>
    public static Tensor<double> ForwardDiscrete(Tensor<double> xd, Tensor<double> ad, Tensor<double> b, Tensor<double> c,
        Tensor<double>? d = null, StateSpaceDualityState? state = null)
    {
        var p = DiscreteInputs(xd, ad, b, c, d);
        int bs = p.Batch, l = p.Length, hs = p.Heads, ps = p.HeadDim, n = p.State;
        state ??= new StateSpaceDualityState(bs, hs, ps, n);
        CheckState(state, p);
        var y = Tensor<double>.Zeros(bs, l, hs, ps);
        for (int bi = 0; bi < bs; bi++)
            for (int h = 0; h < hs; h++)
            {
                var s = state.S.Data.AsSpan((bi * hs + h) * ps * n, ps * n);
                int g = p.GroupOf(h);
                for (int t = 0; t < l; t++)
                {
                    double decay = Math.Exp(ad.Data[(bi * l + t) * hs + h]);
                    int bc = ((bi * l + t) * p.Groups + g) * n, xo = ((bi * l + t) * hs + h) * ps;
                    for (int q = 0; q < ps; q++)
                    {
                        double xin = xd.Data[xo + q], acc = 0.0;
                        for (int k = 0; k < n; k++)
                        {
                            ref double sv = ref s[q * n + k];
                            sv = decay * sv + xin * b.Data[bc + k];
                            acc += sv * c.Data[bc + k];
                        }
                        y.Data[xo + q] = acc + (d?.Data[h] ?? 0.0) * xin;
                    }
                }
            }
        return y;
    }

    /// <summary>
    /// The discretized operator per head [B, H, L, L]: T[t, s] = (C_t . B_s) exp(sum_{s &lt; r &lt;= t} ad_r) for s &lt;= t
    /// (the segment sum taken term by term), plus D_h on the diagonal; y[:, h, :] = T[h] xd[:, h, :].
    /// </summary>
    public static Tensor<double> MaterializeDiscrete(Tensor<double> xd, Tensor<double> ad, Tensor<double> b, Tensor<double> c, Tensor<double>? d = null)
    {
        var p = DiscreteInputs(xd, ad, b, c, d);
        int bs = p.Batch, l = p.Length, hs = p.Heads, n = p.State;
        var tm = Tensor<double>.Zeros(bs, hs, l, l);
        for (int bi = 0; bi < bs; bi++)
            for (int h = 0; h < hs; h++)
            {
                int g = p.GroupOf(h);
                for (int t = 0; t < l; t++)
                {
                    double seg = 0.0;
                    for (int s0 = t; s0 >= 0; s0--)
                    {
                        if (s0 < t) seg += ad.Data[(bi * l + s0 + 1) * hs + h];
                        double cb = 0.0;
                        for (int k = 0; k < n; k++) cb += c.Data[((bi * l + t) * p.Groups + g) * n + k] * b.Data[((bi * l + s0) * p.Groups + g) * n + k];
                        tm.Data[((bi * hs + h) * l + t) * l + s0] = cb * Math.Exp(seg) + (s0 == t ? d?.Data[h] ?? 0.0 : 0.0);
                    }
                }
            }
        return tm;
    }

    /// <summary>Shape checks of the discretized entry, reusing the layer's: xd as X, ad as dt, A_log unused (zeros).</summary>
    internal static StateSpaceDualityInputs<T> DiscreteInputs<T>(Tensor<T> xd, Tensor<T> ad, Tensor<T> b, Tensor<T> c, Tensor<T>? d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(xd);
        if (xd.Rank != 4) throw new ArgumentException($"xd must be X Delta [B, L, H, P], got {Shapes.Format(xd.Shape)}.", nameof(xd));
        if (ad is null || !ad.Shape.SequenceEqual([xd.Dim(0), xd.Dim(1), xd.Dim(2)]))
            throw new ArgumentException($"ad must be A Delta [B, L, H] = {Shapes.Format([xd.Dim(0), xd.Dim(1), xd.Dim(2)])}, got " +
                $"{(ad is null ? "null" : Shapes.Format(ad.Shape))}.", nameof(ad));
        var p = new StateSpaceDualityInputs<T>(xd, ad, Tensor<T>.Zeros(xd.Dim(2)), b, c, d);
        p.Check();
        return p;
    }

    private static void CheckState(StateSpaceDualityState state, StateSpaceDualityInputs<double> p)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!state.S.Shape.SequenceEqual([p.Batch, p.Heads, p.HeadDim, p.State]))
            throw new ArgumentException($"state must hold S {Shapes.Format([p.Batch, p.Heads, p.HeadDim, p.State])}, got {Shapes.Format(state.S.Shape)}.", nameof(state));
    }
}
