// Autodiff adapters: each attention-family operator registered as ONE differentiable primitive whose
// VJP is the operator's own hand-written Backward (Reference.Autodiff.Function.Apply). The math lives
// in SoftmaxAttention.cs, LinearAttention.cs, DecayedLinearAttention.cs and
// ../Recurrence/GatedLinearAttention.cs; nothing here recomputes it.
using Reference.Autodiff;
using Reference.Operators.Recurrence;

namespace Reference.Operators.Attention;

/// <summary>Attention operators as autodiff primitives (float64; shapes as in each operator's file).</summary>
public static class AttentionOps
{
    /// <summary>Causal softmax attention, primitive "attention.softmax": q [B, Hq, L, K], k [B, Hkv, L, K], v [B, Hkv, L, V].</summary>
    public static Variable Softmax(Variable q, Variable k, Variable v, SoftmaxAttentionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(q); ArgumentNullException.ThrowIfNull(k); ArgumentNullException.ThrowIfNull(v);
        if (Tape.FastKernels && q.Rank == 4 && SoftmaxAttention.BackwardFastSupports(options, q.Shape[1]))
        {
            // Fast tier: the tiled float64 forward with its log-sum-exp, and the GEMM backward that recomputes P from it.
            var r = SoftmaxAttention.ForwardFastWithStats(q.Value, k.Value, v.Value, options);
            return Function.Apply("attention.softmax", [q, k, v], r.Out, gy =>
            {
                var g = SoftmaxAttention.BackwardFast(q.Value, k.Value, v.Value, r.Out, r.Lse, gy, options);
                return [g.Dq, g.Dk, g.Dv];
            });
        }
        var y = SoftmaxAttention.Forward(q.Value, k.Value, v.Value, options);
        return Function.Apply("attention.softmax", [q, k, v], y, gy =>
        {
            var g = SoftmaxAttention.Backward(q.Value, k.Value, v.Value, gy, options);
            return [g.Dq, g.Dk, g.Dv];
        });
    }

    /// <summary>
    /// Forgetting attention, primitive "attention.softmax_forget": softmax attention with the log forget gate
    /// g [B, Hq, L] differentiated too (options: window, causal, scale, sinks, gate scale).
    /// </summary>
    public static Variable ForgettingSoftmax(Variable q, Variable k, Variable v, Variable g, SoftmaxAttentionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(q); ArgumentNullException.ThrowIfNull(k); ArgumentNullException.ThrowIfNull(v);
        ArgumentNullException.ThrowIfNull(g);
        var y = SoftmaxAttention.Forward(q.Value, k.Value, v.Value, options, g.Value);
        return Function.Apply("attention.softmax_forget", [q, k, v, g], y, gy =>
        {
            var r = SoftmaxAttention.Backward(q.Value, k.Value, v.Value, gy, options, g.Value);
            return [r.Dq, r.Dk, r.Dv, r.Dg!];
        });
    }

    /// <summary>Linear attention, primitive "attention.linear": q, k [B, H, L, K] (raw, phi applied inside), v [B, H, L, V].</summary>
    public static Variable Linear(Variable q, Variable k, Variable v, LinearAttentionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(q); ArgumentNullException.ThrowIfNull(k); ArgumentNullException.ThrowIfNull(v);
        var y = LinearAttention.Forward(q.Value, k.Value, v.Value, options);
        return Function.Apply("attention.linear", [q, k, v], y, gy =>
        {
            var g = LinearAttention.Backward(q.Value, k.Value, v.Value, gy, options);
            return [g.Dq, g.Dk, g.Dv];
        });
    }

    /// <summary>Decayed linear attention, primitive "attention.decayed_linear": logLambda [H, K].</summary>
    public static Variable DecayedLinear(Variable q, Variable k, Variable v, Variable logLambda, double? scale = null)
    {
        ArgumentNullException.ThrowIfNull(q); ArgumentNullException.ThrowIfNull(k); ArgumentNullException.ThrowIfNull(v);
        ArgumentNullException.ThrowIfNull(logLambda);
        var y = DecayedLinearAttention.Forward(q.Value, k.Value, v.Value, logLambda.Value, scale);
        return Function.Apply("attention.decayed_linear", [q, k, v, logLambda], y, gy =>
        {
            var g = DecayedLinearAttention.Backward(q.Value, k.Value, v.Value, logLambda.Value, gy, scale);
            return [g.Dq, g.Dk, g.Dv, g.DLogLambda];
        });
    }

    /// <summary>Gated linear attention, primitive "recurrence.gla": g [B, H, L, K or 1] log-gates.</summary>
    public static Variable GatedLinear(Variable q, Variable k, Variable v, Variable g, double? scale = null)
    {
        ArgumentNullException.ThrowIfNull(q); ArgumentNullException.ThrowIfNull(k); ArgumentNullException.ThrowIfNull(v);
        ArgumentNullException.ThrowIfNull(g);
        var y = GatedLinearAttention.Forward(q.Value, k.Value, v.Value, g.Value, scale);
        return Function.Apply("recurrence.gla", [q, k, v, g], y, gy =>
        {
            var r = GatedLinearAttention.Backward(q.Value, k.Value, v.Value, g.Value, gy, scale);
            return [r.Dq, r.Dk, r.Dv, r.Dg];
        });
    }

    /// <summary>fla's gate squashing g = logsigmoid(x) / normalizer, primitive "recurrence.gla_gate".</summary>
    public static Variable LogSigmoidGate(Variable x, double normalizer = GatedLinearAttention.GateNormalizer)
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = GatedLinearAttention.LogSigmoidGate(x.Value, normalizer);
        return Function.Apply("recurrence.gla_gate", [x], y, gy => [GatedLinearAttention.LogSigmoidGateBackward(x.Value, gy, normalizer)]);
    }
}
