// Autodiff adapters: each operator of this family registered as ONE differentiable primitive whose
// VJP is the operator's own hand-written Backward (Reference.Autodiff.Function.Apply). The operator
// math lives in CausalConvolution.cs, S4D.cs, ShiftSsm.cs and H3.cs; nothing here recomputes it.
using Reference.Autodiff;
using Reference.Core;
using Reference.Operators.Convolution;

namespace Reference.Operators.StateSpace;

/// <summary>S4D parameters as autodiff variables ([H, M] mode arrays, [H] channel arrays).</summary>
public sealed record S4DVariables(
    Variable LogNegRealA, Variable ImagA, Variable BRe, Variable BIm, Variable CRe, Variable CIm,
    Variable LogDelta, Variable D)
{
    /// <summary>Trainable copies of <paramref name="p"/>.</summary>
    public static S4DVariables From(S4DParameters p)
    {
        ArgumentNullException.ThrowIfNull(p);
        Variable Mode(double[] x, string name) => Variable.Parameter(new Tensor<double>((double[])x.Clone(), p.Channels, p.Modes), name);
        Variable Chan(double[] x, string name) => Variable.Parameter(new Tensor<double>((double[])x.Clone(), p.Channels), name);
        return new S4DVariables(Mode(p.LogNegRealA, "ssm.log_a"), Mode(p.ImagA, "ssm.imag_a"), Mode(p.BRe, "ssm.b_re"),
            Mode(p.BIm, "ssm.b_im"), Mode(p.CRe, "ssm.c_re"), Mode(p.CIm, "ssm.c_im"), Chan(p.LogDelta, "ssm.log_delta"), Chan(p.D, "ssm.d"));
    }

    public Variable[] All => [LogNegRealA, ImagA, BRe, BIm, CRe, CIm, LogDelta, D];

    /// <summary>A parameter record viewing the variables' current values (no copy).</summary>
    public S4DParameters View() => new(LogNegRealA.Value.Dim(0), LogNegRealA.Value.Dim(1),
        LogNegRealA.Value.Data, ImagA.Value.Data, BRe.Value.Data, BIm.Value.Data, CRe.Value.Data, CIm.Value.Data,
        LogDelta.Value.Data, D.Value.Data);
}

/// <summary>Shift-SSM parameters as variables: B, C [D, N], Skip [D].</summary>
public sealed record ShiftSsmVariables(Variable B, Variable C, Variable Skip)
{
    public static ShiftSsmVariables From(ShiftSsmParameters p)
    {
        ArgumentNullException.ThrowIfNull(p);
        return new ShiftSsmVariables(
            Variable.Parameter(new Tensor<double>((double[])p.B.Clone(), p.Channels, p.StateSize), "shift.b"),
            Variable.Parameter(new Tensor<double>((double[])p.C.Clone(), p.Channels, p.StateSize), "shift.c"),
            Variable.Parameter(new Tensor<double>((double[])p.Skip.Clone(), p.Channels), "shift.d"));
    }

    public Variable[] All => [B, C, Skip];

    public ShiftSsmParameters View() => new(B.Value.Dim(0), B.Value.Dim(1), B.Value.Data, C.Value.Data, Skip.Value.Data);
}

/// <summary>H3 layer parameters as variables (weights [Dm, Dm] out x in, biases [Dm]).</summary>
public sealed record H3Variables(
    int ModelWidth, int HeadDim, int StateSize, Discretization Method,
    Variable Wq, Variable Bq, Variable Wk, Variable Bk, Variable Wv, Variable Bv,
    ShiftSsmVariables Shift, S4DVariables Ssm, Variable Wo, Variable Bo)
{
    public static H3Variables From(H3Parameters p)
    {
        ArgumentNullException.ThrowIfNull(p);
        int dm = p.ModelWidth;
        Variable W(double[] x, string name) => Variable.Parameter(new Tensor<double>((double[])x.Clone(), dm, dm), name);
        Variable V(double[] x, string name) => Variable.Parameter(new Tensor<double>((double[])x.Clone(), dm), name);
        return new H3Variables(dm, p.HeadDim, p.StateSize, p.Method,
            W(p.Wq, "h3.wq"), V(p.Bq, "h3.bq"), W(p.Wk, "h3.wk"), V(p.Bk, "h3.bk"), W(p.Wv, "h3.wv"), V(p.Bv, "h3.bv"),
            ShiftSsmVariables.From(p.Shift), S4DVariables.From(p.Ssm), W(p.Wo, "h3.wo"), V(p.Bo, "h3.bo"));
    }

    public Variable[] All => [Wq, Bq, Wk, Bk, Wv, Bv, .. Shift.All, .. Ssm.All, Wo, Bo];

    public H3Parameters View() => new(ModelWidth, HeadDim, StateSize,
        Wq.Value.Data, Bq.Value.Data, Wk.Value.Data, Bk.Value.Data, Wv.Value.Data, Bv.Value.Data,
        Shift.View(), Ssm.View(), Wo.Value.Data, Bo.Value.Data, Method);
}

public static class SsmOps
{
    /// <summary>`conv.causal`: y = k * u + d u for u [.., C, L], k [C, Lk], d [C] (or null).</summary>
    public static Variable CausalConvolution(Variable u, Variable k, Variable? d = null)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(k);
        var y = Convolution.CausalConvolution.Forward(u.Value, k.Value, d?.Value);
        Variable[] inputs = d is null ? [u, k] : [u, k, d];
        return Function.Apply("conv.causal", inputs, y, g =>
        {
            var grads = Convolution.CausalConvolution.Backward(u.Value, k.Value, d?.Value, g);
            return d is null ? [grads.Input, grads.Kernel] : [grads.Input, grads.Kernel, grads.Skip];
        });
    }

    /// <summary>`ssm.s4d`: the S4D layer y = K * u + D u for u [.., H, L].</summary>
    public static Variable S4D(Variable u, S4DVariables p, Discretization method)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(p);
        var y = StateSpace.S4D.Forward(p.View(), u.Value, method);
        return Function.Apply("ssm.s4d", [u, .. p.All], y, g =>
        {
            var r = StateSpace.S4D.Backward(p.View(), u.Value, g, method);
            return [r.Input, Like(p.LogNegRealA, r.LogNegRealA), Like(p.ImagA, r.ImagA), Like(p.BRe, r.BRe), Like(p.BIm, r.BIm),
                Like(p.CRe, r.CRe), Like(p.CIm, r.CIm), Like(p.LogDelta, r.LogDelta), Like(p.D, r.D)];
        });
    }

    /// <summary>`ssm.shift`: the shift SSM of H3 for u [.., D, L].</summary>
    public static Variable ShiftSsm(Variable u, ShiftSsmVariables p)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(p);
        var y = StateSpace.ShiftSsm.Forward(p.View(), u.Value);
        return Function.Apply("ssm.shift", [u, .. p.All], y, g =>
        {
            var r = StateSpace.ShiftSsm.Backward(p.View(), u.Value, g);
            return [r.Input, Like(p.B, r.B), Like(p.C, r.C), Like(p.Skip, r.Skip)];
        });
    }

    /// <summary>`ssm.h3`: the whole H3 layer for u [B, L, Dm] as one primitive with its hand-written VJP.</summary>
    public static Variable H3(Variable u, H3Variables p)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(p);
        // Inside Tape.UseFastKernels the fast float64 forward keeps its intermediates for the fast VJP;
        // otherwise the naive definition (whose backward recomputes the forward).
        var view = p.View();
        var saved = Tape.FastKernels ? StateSpace.H3.ForwardTrainingFast(view, u.Value) : null;
        var y = saved?.Values.Output ?? StateSpace.H3.Forward(view, u.Value);
        int length = u.Value.Dim(1);
        return Function.Apply("ssm.h3", [u, .. p.All], y, g =>
        {
            // Fast tier inside a data-parallel step whose parameters hold the S4D leaves: the map dK -> their gradients
            // (linear in dK) runs once per step on the micro-batches' summed dK (DeferredGradients), not per micro-batch.
            bool deferred = false;
            var r = saved is null ? StateSpace.H3.Backward(view, u.Value, g)
                : StateSpace.H3.BackwardFast(view, u.Value, g, saved, kernelGradient: dK =>
                    deferred = DeferredGradients.TryDefer(p.Ssm.LogNegRealA, dK, () => new S4DKernelGradient(p.Ssm, length, p.Method)));
            return [r.Input, Like(p.Wq, r.Wq), Like(p.Bq, r.Bq), Like(p.Wk, r.Wk), Like(p.Bk, r.Bk), Like(p.Wv, r.Wv), Like(p.Bv, r.Bv),
                Like(p.Shift.B, r.Shift.B), Like(p.Shift.C, r.Shift.C), Like(p.Shift.Skip, r.Shift.Skip),
                Kept(p.Ssm.LogNegRealA, r.Ssm.LogNegRealA), Kept(p.Ssm.ImagA, r.Ssm.ImagA), Kept(p.Ssm.BRe, r.Ssm.BRe),
                Kept(p.Ssm.BIm, r.Ssm.BIm), Kept(p.Ssm.CRe, r.Ssm.CRe), Kept(p.Ssm.CIm, r.Ssm.CIm),
                Kept(p.Ssm.LogDelta, r.Ssm.LogDelta), Like(p.Ssm.D, r.Ssm.D), Like(p.Wo, r.Wo), Like(p.Bo, r.Bo)];
            Tensor<double>? Kept(Variable v, double[] data) => deferred ? null : Like(v, data);
        });
    }

    /// <summary>
    /// The S4D kernel parameters' gradients from dK [H, L] (<see cref="StateSpace.S4D.KernelGradients"/>, its fast
    /// tier's Horner sums as in H3's fast backward), run by the data-parallel step on the micro-batches' summed dK.
    /// </summary>
    private sealed class S4DKernelGradient(S4DVariables p, int length, Discretization method) : DeferredGradient
    {
        public override IReadOnlyList<Variable> Leaves { get; } = [p.LogNegRealA, p.ImagA, p.BRe, p.BIm, p.CRe, p.CIm, p.LogDelta];

        public override Tensor<double>[] Finish(double[] partialSum)
        {
            var view = p.View();
            int hm = view.Channels * view.Modes;
            var g = new S4DGradients(null!, new double[hm], new double[hm], new double[hm], new double[hm], new double[hm], new double[hm],
                new double[view.Channels], []);
            // Channels over the cores: this runs after the micro-batches, on the step's thread (channels are independent: same bits).
            StateSpace.S4D.KernelGradients(view, partialSum, length, method, g, powersByMultiplication: true, maxThreads: 0);
            return [Like(p.LogNegRealA, g.LogNegRealA), Like(p.ImagA, g.ImagA), Like(p.BRe, g.BRe), Like(p.BIm, g.BIm),
                Like(p.CRe, g.CRe), Like(p.CIm, g.CIm), Like(p.LogDelta, g.LogDelta)];
        }
    }

    /// <summary>
    /// `ssm.selective_scan`: the Mamba scan (S6) in selective_scan_ref layout, u, delta, z [B, D, L],
    /// A_log [D, N], B, C [B, G, N, L], D, bias [D]; null skip, gate or bias mean absent. One node whose
    /// VJP is <see cref="StateSpace.SelectiveScan.Backward"/>.
    /// </summary>
    public static Variable SelectiveScan(Variable u, Variable delta, Variable aLog, Variable b, Variable c,
        Variable? d = null, Variable? z = null, Variable? deltaBias = null, bool deltaSoftplus = true)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(delta);
        ArgumentNullException.ThrowIfNull(aLog);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(c);
        var p = new SelectiveScanInputs<double>(u.Value, delta.Value, aLog.Value, b.Value, c.Value, d?.Value, z?.Value, deltaBias?.Value, deltaSoftplus);
        var y = StateSpace.SelectiveScan.Forward(p);
        Variable[] inputs = [u, delta, aLog, b, c, .. Present(d), .. Present(z), .. Present(deltaBias)];
        return Function.Apply("ssm.selective_scan", inputs, y, g =>
        {
            var r = StateSpace.SelectiveScan.Backward(p, g);
            Tensor<double>?[] grads = [r.DU, r.DDelta, r.DALog, r.DB, r.DC];
            if (d is not null) grads = [.. grads, r.DD];
            if (z is not null) grads = [.. grads, r.DZ];
            if (deltaBias is not null) grads = [.. grads, r.DDeltaBias];
            return grads;
        });
    }

    /// <summary>
    /// `ssm.ssd`: the Mamba-2 SSD scan in ssd_minimal layout, x [B, L, H, P], dt [B, L, H] (before the
    /// softplus), A_log [H], B, C [B, L, G, N], D, dt_bias [H]; null skip or bias mean absent. One node whose
    /// forward is <see cref="StateSpace.StateSpaceDuality.Forward"/> and whose VJP is
    /// <see cref="StateSpace.StateSpaceDuality.Backward"/>.
    /// </summary>
    public static Variable StateSpaceDuality(Variable x, Variable dt, Variable aLog, Variable b, Variable c,
        Variable? d = null, Variable? dtBias = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(dt);
        ArgumentNullException.ThrowIfNull(aLog);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(c);
        var p = new StateSpaceDualityInputs<double>(x.Value, dt.Value, aLog.Value, b.Value, c.Value, d?.Value, dtBias?.Value);
        var y = StateSpace.StateSpaceDuality.Forward(p);
        Variable[] inputs = [x, dt, aLog, b, c, .. Present(d), .. Present(dtBias)];
        return Function.Apply("ssm.ssd", inputs, y, g =>
        {
            var r = StateSpace.StateSpaceDuality.Backward(p, g);
            Tensor<double>?[] grads = [r.DX, r.DDt, r.DALog, r.DB, r.DC];
            if (d is not null) grads = [.. grads, r.DD];
            if (dtBias is not null) grads = [.. grads, r.DDtBias];
            return grads;
        });
    }

    private static Variable[] Present(Variable? v) => v is null ? [] : [v];

    private static Tensor<double> Like(Variable v, double[] data) => new(data, v.Value.ShapeArray);
}
