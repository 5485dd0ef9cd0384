using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Kernels;
using Reference.Core.Linear;

namespace Reference.Operators.StateSpace;

/// <summary>
/// Parameters of one Mamba block (Gu and Dao, arXiv:2312.00752, figure 3 and section 3.4; the
/// module "Mamba" of the reference code). Widths: D = ModelWidth (d_model), E = InnerWidth (d_inner
/// = expand D), N = StateSize (d_state), K = ConvWidth (d_conv), R = DtRank (ceil(D / 16)).
/// Weights are stored out x in, as nn.Linear.
/// </summary>
/// <param name="ModelWidth">D (d_model).</param>
/// <param name="InnerWidth">E (d_inner).</param>
/// <param name="StateSize">N (d_state).</param>
/// <param name="ConvWidth">K (d_conv).</param>
/// <param name="DtRank">R (dt_rank).</param>
/// <param name="InProj">[2E, D], the in-projection (no bias); rows 0..E-1 give x, rows E..2E-1 the gate z.</param>
/// <param name="ConvWeight">[E, K], depthwise causal convolution taps; tap K-1 weights the current sample.</param>
/// <param name="ConvBias">[E].</param>
/// <param name="XProj">[R + 2N, E], x_proj (no bias): rows 0..R-1 give dt_low, then N rows for B, N rows for C.</param>
/// <param name="DtProj">[E, R], dt_proj weight: delta = DtProj dt_low.</param>
/// <param name="DtBias">[E], dt_proj bias, applied inside the scan's softplus (delta_bias of selective_scan_fn).</param>
/// <param name="ALog">[E, N], A = -exp(A_log).</param>
/// <param name="D">[E], the skip of the scan.</param>
/// <param name="OutProj">[D, E], the out-projection (no bias).</param>
public sealed record MambaParameters(
    int ModelWidth, int InnerWidth, int StateSize, int ConvWidth, int DtRank,
    Tensor<double> InProj, Tensor<double> ConvWeight, Tensor<double> ConvBias, Tensor<double> XProj,
    Tensor<double> DtProj, Tensor<double> DtBias, Tensor<double> ALog, Tensor<double> D, Tensor<double> OutProj)
{
    /// <summary>
    /// Mamba's initialization, drawn from <paramref name="rng"/> in this order: in_proj, conv weight,
    /// conv bias, x_proj (nn.Linear / nn.Conv1d defaults: U(-1/sqrt(fan_in), 1/sqrt(fan_in))), dt_proj
    /// weight U(-R^-1/2, R^-1/2), the step sizes dt = max(exp(U[log dtMin, log dtMax]), dtFloor) with
    /// bias = softplus^-1(dt) = dt + log(-expm1(-dt)), then out_proj. A_log = log(1..N) (S4D-Real), D = 1.
    /// </summary>
    public static MambaParameters Initialize(SplitMix64 rng, int modelWidth, int stateSize = 16, int expand = 2, int convWidth = 4,
        double dtMin = 1e-3, double dtMax = 1e-1, double dtFloor = 1e-4)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfLessThan(modelWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(stateSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(expand, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(convWidth, 1);
        if (!(dtMin > 0 && dtMax >= dtMin))
            throw new ArgumentOutOfRangeException(nameof(dtMax), $"need 0 < dtMin <= dtMax, got dtMin = {dtMin}, dtMax = {dtMax}.");
        int d = modelWidth, e = expand * modelWidth, n = stateSize, k = convWidth, r = (modelWidth + 15) / 16;
        Tensor<double> U(double bound, params int[] shape) => rng.UniformTensor<double>(-bound, bound, shape);
        var inProj = U(1.0 / Math.Sqrt(d), 2 * e, d);
        var convWeight = U(1.0 / Math.Sqrt(k), e, k);
        var convBias = U(1.0 / Math.Sqrt(k), e);
        var xProj = U(1.0 / Math.Sqrt(e), r + 2 * n, e);
        var dtProj = U(1.0 / Math.Sqrt(r), e, r);
        var dtBias = Tensor<double>.Zeros(e);
        for (int c = 0; c < e; c++)
        {
            double dt = Math.Max(Math.Exp(rng.Uniform(Math.Log(dtMin), Math.Log(dtMax))), dtFloor);
            dtBias.Data[c] = dt + Math.Log(-ScalarMath.Expm1(-dt));
        }
        var outProj = U(1.0 / Math.Sqrt(e), d, e);
        return new MambaParameters(d, e, n, k, r, inProj, convWeight, convBias, xProj, dtProj, dtBias,
            SelectiveScan.InitialALog(e, n), Tensor<double>.Full(1.0, e), outProj);
    }

    /// <summary>Validates every array against the widths; names the offending parameter.</summary>
    public void Check()
    {
        int d = ModelWidth, e = InnerWidth, n = StateSize, k = ConvWidth, r = DtRank;
        if (d < 1 || e < 1 || n < 1 || k < 1 || r < 1)
            throw new ArgumentOutOfRangeException(nameof(ModelWidth), $"widths must be >= 1, got D = {d}, E = {e}, N = {n}, K = {k}, R = {r}.");
        Shapes.Same(InProj, [2 * e, d], nameof(InProj));
        Shapes.Same(ConvWeight, [e, k], nameof(ConvWeight));
        Shapes.Same(ConvBias, [e], nameof(ConvBias));
        Shapes.Same(XProj, [r + 2 * n, e], nameof(XProj));
        Shapes.Same(DtProj, [e, r], nameof(DtProj));
        Shapes.Same(DtBias, [e], nameof(DtBias));
        Shapes.Same(ALog, [e, n], nameof(ALog));
        Shapes.Same(D, [e], nameof(D));
        Shapes.Same(OutProj, [d, e], nameof(OutProj));
    }}

/// <summary>Mamba block parameters as autodiff variables (same names and shapes as <see cref="MambaParameters"/>).</summary>
public sealed record MambaVariables(
    int ModelWidth, int InnerWidth, int StateSize, int ConvWidth, int DtRank,
    Variable InProj, Variable ConvWeight, Variable ConvBias, Variable XProj,
    Variable DtProj, Variable DtBias, Variable ALog, Variable D, Variable OutProj)
{
    /// <summary>Trainable copies of <paramref name="p"/>.</summary>
    public static MambaVariables From(MambaParameters p)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Check();
        static Variable V(Tensor<double> t, string name) => Variable.Parameter(t.Clone(), name);
        return new MambaVariables(p.ModelWidth, p.InnerWidth, p.StateSize, p.ConvWidth, p.DtRank,
            V(p.InProj, "mamba.in_proj"), V(p.ConvWeight, "mamba.conv.weight"), V(p.ConvBias, "mamba.conv.bias"),
            V(p.XProj, "mamba.x_proj"), V(p.DtProj, "mamba.dt_proj.weight"), V(p.DtBias, "mamba.dt_proj.bias"),
            V(p.ALog, "mamba.A_log"), V(p.D, "mamba.D"), V(p.OutProj, "mamba.out_proj"));
    }

    public Variable[] All => [InProj, ConvWeight, ConvBias, XProj, DtProj, DtBias, ALog, D, OutProj];

    /// <summary>A parameter record viewing the variables' current values (no copy).</summary>
    public MambaParameters View() => new(ModelWidth, InnerWidth, StateSize, ConvWidth, DtRank,
        InProj.Value, ConvWeight.Value, ConvBias.Value, XProj.Value, DtProj.Value, DtBias.Value, ALog.Value, D.Value, OutProj.Value);
}

/// <summary>Decoding state of a Mamba block: the last K-1 conv inputs and the scan state.</summary>
public sealed class MambaState
{
    public MambaState(int batch, int innerWidth, int convWidth, int stateSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        Conv = Tensor<double>.Zeros(batch, innerWidth, convWidth - 1);
        Ssm = new SelectiveScanState(batch, innerWidth, stateSize);
    }

    /// <summary>[B, E, K-1]: x_{t-K+1}, ..., x_{t-1} (oldest first; zeros before the sequence starts).</summary>
    public Tensor<double> Conv { get; }

    /// <summary>The selective-scan state x [B, E, N].</summary>
    public SelectiveScanState Ssm { get; }
}

/// <summary>
/// The Mamba block (Gu and Dao, arXiv:2312.00752, figure 3, section 3.4; "Mamba.forward" and
/// "Mamba.step" of the reference code), for u [B, L, D]:
/// <code>
/// [x, z]  = u InProj^T                          x, z [B, L, E]
/// x'      = silu(causal_depthwise_conv(x) + b)  K taps per channel
/// [dt_low, B, C] = x' XProj^T                   [B, L, R], [B, L, N], [B, L, N]
/// delta   = dt_low DtProj^T                     [B, L, E]; Delta = softplus(delta + DtBias) inside the scan
/// y       = SelectiveScan(x', delta, A_log, B, C, D, gate z)   (one group: G = 1)
/// out     = y OutProj^T                         [B, L, D]
/// </code>
/// <para>Glossary: E = d_inner, N = d_state, K = d_conv, R = dt_rank; x' is the SSM input u of
/// <see cref="SelectiveScan"/>; the scan sees [B, E, L] (selective_scan_ref layout).</para>
/// <para>Three evaluations: <see cref="Forward(MambaParameters, Tensor{double})"/> (float64, NaiveGemm and the
/// scan's recurrence: the definition), <see cref="Step"/> (decoding one token with a
/// <see cref="MambaState"/>), and <see cref="Forward(Variable, MambaVariables)"/>, the same
/// composition on the autodiff tape with the scan as ONE node whose VJP is
/// <see cref="SelectiveScan.Backward"/>.</para>
/// <para>Simplifications: no residual, normalization or bias on in/out projections (the
/// reference's defaults bias = False, conv_bias = True); the surrounding residual block
/// (x + Mamba(RMSNorm(x))) belongs to the model.</para>
/// </summary>
public static partial class MambaBlock
{
    /// <summary>
    /// The selective scan the block runs on u [B, L, D], in the scan's layout: u = x' [B, E, L] (the conv's
    /// SiLU output), delta [B, E, L], a_log, B, C [B, 1, N, L], d, gate z [B, E, L], delta_bias = dt_bias.
    /// Computed by in_proj, the causal depthwise conv + SiLU, x_proj and dt_proj: everything of
    /// <see cref="Forward(MambaParameters, Tensor{double})"/> before the scan.
    /// </summary>
    public static SelectiveScanInputs<double> ScanInputs(MambaParameters p, Tensor<double> u)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Check();
        CheckInput(u, p.ModelWidth);
        int bs = u.Dim(0), l = u.Dim(1), e = p.InnerWidth, n = p.StateSize, r = p.DtRank, k = p.ConvWidth;
        var xz = NaiveGemm.MatMul(u, p.InProj, transB: true);
        var x = xz.Slice(2, 0, e);
        var z = xz.Slice(2, e, e);
        var xa = Tensor<double>.Zeros(bs, l, e);
        for (int b = 0; b < bs; b++)
            for (int t = 0; t < l; t++)
                for (int c = 0; c < e; c++)
                {
                    // Same order as Ops.CausalConv1d: bias, then taps j = 0..K-1 (tap K-1 = current sample).
                    double acc = p.ConvBias.Data[c];
                    for (int j = 0; j < k; j++)
                    {
                        int s = t - (k - 1) + j;
                        if (s >= 0) acc += p.ConvWeight.Data[c * k + j] * x.Data[(b * l + s) * e + c];
                    }
                    xa.Data[(b * l + t) * e + c] = NaiveActivations.Silu(acc);
                }
        var xdbl = NaiveGemm.MatMul(xa, p.XProj, transB: true);
        var delta = NaiveGemm.MatMul(xdbl.Slice(2, 0, r), p.DtProj, transB: true);
        return new SelectiveScanInputs<double>(
            xa.Permute(0, 2, 1), delta.Permute(0, 2, 1), p.ALog,
            xdbl.Slice(2, r, n).Permute(0, 2, 1).Reshape(bs, 1, n, l), xdbl.Slice(2, r + n, n).Permute(0, 2, 1).Reshape(bs, 1, n, l),
            p.D, z.Permute(0, 2, 1), p.DtBias);
    }

    /// <summary>out [B, L, D] for u [B, L, D] (float64, the definition): the scan of <see cref="ScanInputs"/>, then out_proj.</summary>
    public static Tensor<double> Forward(MambaParameters p, Tensor<double> u)
    {
        var y = SelectiveScan.Forward(ScanInputs(p, u)).Permute(0, 2, 1);
        return NaiveGemm.MatMul(y, p.OutProj, transB: true);
    }

    /// <summary>The zero state before the first token (conv window and scan state empty).</summary>
    public static MambaState InitialState(MambaParameters p, int batch)
    {
        ArgumentNullException.ThrowIfNull(p);
        return new MambaState(batch, p.InnerWidth, p.ConvWidth, p.StateSize);
    }

    /// <summary>
    /// Decodes one token u [B, D], advancing <paramref name="state"/> (conv window shifted by one,
    /// scan state by one step); returns out [B, D], equal to row t of <see cref="Forward(MambaParameters, Tensor{double})"/>.
    /// </summary>
    public static Tensor<double> Step(MambaParameters p, Tensor<double> token, MambaState state)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(token);
        ArgumentNullException.ThrowIfNull(state);
        p.Check();
        if (token.Rank != 2 || token.Dim(1) != p.ModelWidth)
            throw new ArgumentException($"token must be [B, D = {p.ModelWidth}], got {Shapes.Format(token.Shape)}.", nameof(token));
        int bs = token.Dim(0), e = p.InnerWidth, n = p.StateSize, r = p.DtRank, k = p.ConvWidth;
        if (!state.Conv.Shape.SequenceEqual([bs, e, k - 1]) || !state.Ssm.X.Shape.SequenceEqual([bs, e, n]))
            throw new ArgumentException($"state must hold conv [{bs}, {e}, {k - 1}] and x [{bs}, {e}, {n}], got {Shapes.Format(state.Conv.Shape)} and {Shapes.Format(state.Ssm.X.Shape)}.", nameof(state));
        var xz = NaiveGemm.MatMul(token, p.InProj, transB: true);
        var xa = Tensor<double>.Zeros(bs, e);
        for (int b = 0; b < bs; b++)
            for (int c = 0; c < e; c++)
            {
                var window = state.Conv.Data.AsSpan((b * e + c) * (k - 1), k - 1);
                double xNow = xz.Data[b * 2 * e + c];
                double acc = p.ConvBias.Data[c];
                for (int j = 0; j < k - 1; j++) acc += p.ConvWeight.Data[c * k + j] * window[j];
                acc += p.ConvWeight.Data[c * k + k - 1] * xNow;
                if (k > 1)
                {
                    window[1..].CopyTo(window);
                    window[^1] = xNow;
                }
                xa.Data[b * e + c] = NaiveActivations.Silu(acc);
            }
        var xdbl = NaiveGemm.MatMul(xa, p.XProj, transB: true);
        var delta = NaiveGemm.MatMul(xdbl.Slice(1, 0, r), p.DtProj, transB: true);
        var scan = new SelectiveScanInputs<double>(
            xa.Reshape(bs, e, 1), delta.Reshape(bs, e, 1), p.ALog,
            xdbl.Slice(1, r, n).Reshape(bs, 1, n, 1), xdbl.Slice(1, r + n, n).Reshape(bs, 1, n, 1),
            p.D, xz.Slice(1, e, e).Reshape(bs, e, 1), p.DtBias);
        var y = SelectiveScan.Step(scan, state.Ssm);
        return NaiveGemm.MatMul(y, p.OutProj, transB: true);
    }

    /// <summary>
    /// The same block on the autodiff tape: projections, convolution and SiLU are tape primitives,
    /// the scan is the single node "ssm.selective_scan" (<see cref="SsmOps.SelectiveScan"/>).
    /// </summary>
    public static Variable Forward(Variable u, MambaVariables p)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(p);
        p.View().Check();
        CheckInput(u.Value, p.ModelWidth);
        int bs = u.Shape[0], l = u.Shape[1], e = p.InnerWidth, n = p.StateSize, r = p.DtRank;
        var xz = Ops.MatMul(u, p.InProj, transB: true);
        var xa = Ops.Silu(Ops.CausalConv1d(Ops.Slice(xz, 2, 0, e), p.ConvWeight, p.ConvBias));
        var xdbl = Ops.MatMul(xa, p.XProj, transB: true);
        var delta = Ops.MatMul(Ops.Slice(xdbl, 2, 0, r), p.DtProj, transB: true);
        Variable Channels(Variable v) => Ops.Permute(v, 0, 2, 1);
        Variable Lanes(int start) => Ops.Reshape(Channels(Ops.Slice(xdbl, 2, start, n)), bs, 1, n, l);
        var y = SsmOps.SelectiveScan(Channels(xa), Channels(delta), p.ALog, Lanes(r), Lanes(r + n),
            p.D, Channels(Ops.Slice(xz, 2, e, e)), p.DtBias);
        return Ops.MatMul(Channels(y), p.OutProj, transB: true);
    }

    private static void CheckInput(Tensor<double> u, int modelWidth)
    {
        ArgumentNullException.ThrowIfNull(u);
        if (u.Rank != 3 || u.Dim(2) != modelWidth)
            throw new ArgumentException($"u must be [B, L, D = {modelWidth}], got {Shapes.Format(u.Shape)}.", nameof(u));
    }
}
