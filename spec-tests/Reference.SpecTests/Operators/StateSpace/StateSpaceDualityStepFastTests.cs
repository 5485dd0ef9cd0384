using System.Numerics;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Operators.StateSpace;
using static Reference.SpecTests.Operators.Attention.AttentionCheck;

namespace Reference.SpecTests.Operators.StateSpace;

public class StateSpaceDualityStepFastTests
{
    /// <summary>Float32 against the float64 definition: the conventions' norm_rel bound.</summary>
    private const double Float32Bound = 1e-5;

    /// <summary>
    /// Prefills steps [0, cut) with <see cref="StateSpaceDuality.ForwardFast{T}(Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}, int, int, Tensor{T})"/> carrying a state from
    /// <paramref name="s0"/>, then decodes steps [cut, L) one by one with <see cref="StateSpaceDuality.StepFast{T}"/>
    /// on that state. Returns y [B, L, H, P] and the final state, in float64.
    /// </summary>
    private static (Tensor<double> Y, Tensor<double> State) PrefillThenDecode<T>(StateSpaceDualityInputs<double> p, Tensor<double> s0, int cut, int chunk, int maxThreads = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (x, dt, b, c) = (p.X.Cast<T>(), p.Dt.Cast<T>(), p.B.Cast<T>(), p.C.Cast<T>());
        var (aLog, d, bias) = (p.ALog.Cast<T>(), p.D?.Cast<T>(), p.DtBias?.Cast<T>());
        var state = s0.Cast<T>();
        var y = Tensor<double>.Zeros(p.X.ShapeArray);
        var prefix = StateSpaceDuality.ForwardFast(x.Slice(1, 0, cut), dt.Slice(1, 0, cut), aLog, b.Slice(1, 0, cut), c.Slice(1, 0, cut),
            d, bias, chunk, maxThreads, state);
        int bs = p.Batch, hs = p.Heads, ps = p.HeadDim, gs = p.Groups, ns = p.State, l = p.Length;
        for (int bi = 0; bi < bs; bi++)
            for (int e = 0; e < cut * hs * ps; e++) y.Data[bi * l * hs * ps + e] = double.CreateChecked(prefix.Data[bi * cut * hs * ps + e]);
        for (int t = cut; t < l; t++)
        {
            var yt = StateSpaceDuality.StepFast(x.Slice(1, t, 1).Reshape(bs, hs, ps), dt.Slice(1, t, 1).Reshape(bs, hs), aLog,
                b.Slice(1, t, 1).Reshape(bs, gs, ns), c.Slice(1, t, 1).Reshape(bs, gs, ns), state, d, bias, maxThreads);
            Assert.Equal([bs, hs, ps], yt.ShapeArray);
            for (int bi = 0; bi < bs; bi++)
                for (int e = 0; e < hs * ps; e++) y.Data[(bi * l + t) * hs * ps + e] = double.CreateChecked(yt.Data[bi * hs * ps + e]);
        }
        return (y, state.Cast<double>());
    }

    private static Tensor<double> RandomState(SsdFastCase c) => new SplitMix64((ulong)c.Seed + 5).NormalTensor<double>(0, 1, c.B, c.H, c.P, c.N);

    /// <summary>
    /// The decoding route of a generation: a prompt through the chunked fast forward (its carried state), the
    /// rest token by token through the fast step, equals the definition's recurrence over the whole sequence,
    /// outputs and final state, from a zero and from a random initial state.
    /// </summary>
    [Property(Arbitrary = [typeof(SsdFastCase)], MaxTest = 40)]
    public void Property_PrefillFastThenStepFast_EqualsTheDefinition_Float64AndFloat32(SsdFastCase c)
    {
        var p = c.Inputs();
        int cut = c.Seed % 2 == 0 ? c.L / 3 : c.L - 1;
        foreach (var s0 in new[] { Tensor<double>.Zeros(c.B, c.H, c.P, c.N), RandomState(c) })
        {
            var definition = new StateSpaceDualityState(c.B, c.H, c.P, c.N);
            s0.Data.CopyTo(definition.S.Data, 0);
            var expected = StateSpaceDuality.Recurrent(p, definition);
            var (y64, s64) = PrefillThenDecode<double>(p, s0, cut, c.Chunk);
            var (y32, s32) = PrefillThenDecode<float>(p, s0, cut, c.Chunk, maxThreads: 0);
            string errors = $"cut {cut}: float64 y {Rel(expected, y64):E2} (prefill {Rel(expected.Slice(1, 0, cut), y64.Slice(1, 0, cut)):E2}), " +
                $"S {Rel(definition.S, s64):E2}; float32 y {Rel(expected, y32):E2}, S {Rel(definition.S, s32):E2}";
            Assert.True(Rel(expected, y64) <= 1e-12, errors);
            Assert.True(Rel(definition.S, s64) <= 1e-12, errors);
            Assert.True(Rel(expected, y32) <= Float32Bound, errors);
            Assert.True(Rel(definition.S, s32) <= Float32Bound, errors);
        }
    }

    /// <summary>
    /// Token by token from a random state, side by side with the definition's Step: float64 agrees to rounding
    /// at every step; the fast step also advances the definition's own <see cref="StateSpaceDualityState.S"/>.
    /// </summary>
    [Property(Arbitrary = [typeof(SsdFastCase)], MaxTest = 30)]
    public void Property_StepFastFloat64_EqualsTheDefinitionStep_OnItsState(SsdFastCase c)
    {
        var p = c.Inputs();
        var definition = new StateSpaceDualityState(c.B, c.H, c.P, c.N);
        var shared = new StateSpaceDualityState(c.B, c.H, c.P, c.N);
        RandomState(c).Data.CopyTo(definition.S.Data, 0);
        RandomState(c).Data.CopyTo(shared.S.Data, 0);
        for (int t = 0; t < Math.Min(c.L, 17); t++)
        {
            var token = p with { X = p.X.Slice(1, t, 1), Dt = p.Dt.Slice(1, t, 1), B = p.B.Slice(1, t, 1), C = p.C.Slice(1, t, 1) };
            var expected = StateSpaceDuality.Step(token, definition);
            var actual = StateSpaceDuality.StepFast(token.X.Reshape(c.B, c.H, c.P), token.Dt.Reshape(c.B, c.H), p.ALog,
                token.B.Reshape(c.B, c.G, c.N), token.C.Reshape(c.B, c.G, c.N), shared.S, p.D, p.DtBias);
            Assert.True(Rel(expected, actual) <= 1e-13, $"step {t}");
            Assert.True(Rel(definition.S, shared.S) <= 1e-13, $"state after step {t}");
        }
    }

    [Fact]
    public void Edge_NoSkipNoBias_AndDecaysThatUnderflow()
    {
        // A = -2^20 on every head: exp(Delta A) underflows to exactly 0, so S becomes (Delta x) B^T at each step.
        var p = new SsdCase(2, 4, 2, 9, 6, 17, 4, 3).Inputs() with { D = null, DtBias = null };
        p = p with { ALog = Tensor<double>.Full(20 * Math.Log(2), 4) };
        var state = Tensor<float>.Zeros(2, 4, 9, 17);
        var definition = new StateSpaceDualityState(2, 4, 9, 17);
        var expected = StateSpaceDuality.Recurrent(p, definition);
        for (int t = 0; t < 6; t++)
        {
            var y = StateSpaceDuality.StepFast(p.X.Slice(1, t, 1).Reshape(2, 4, 9).Cast<float>(), p.Dt.Slice(1, t, 1).Reshape(2, 4).Cast<float>(),
                p.ALog.Cast<float>(), p.B.Slice(1, t, 1).Reshape(2, 2, 17).Cast<float>(), p.C.Slice(1, t, 1).Reshape(2, 2, 17).Cast<float>(), state);
            Assert.All(y.Data, v => Assert.True(float.IsFinite(v)));
            Assert.True(Rel(expected.Slice(1, t, 1).Reshape(2, 4, 9), y.Cast<double>()) <= Float32Bound);
        }
        Assert.True(Rel(definition.S, state.Cast<double>()) <= Float32Bound);
    }

    /// <summary>A state large enough to be split over threads (B H P N = 2 x 8 x 64 x 64): one head per thread, same bits.</summary>
    [Fact]
    public void Property_StepFast_IsIndependentOfTheThreadCount()
    {
        var p = new SsdCase(2, 8, 2, 64, 3, 64, 4, 8).Inputs();
        var s0 = new SplitMix64(9).NormalTensor<float>(0, 1, 2, 8, 64, 64);
        var one = PrefillThenDecode<float>(p, s0.Cast<double>(), 0, 64, maxThreads: 1);
        var two = PrefillThenDecode<float>(p, s0.Cast<double>(), 0, 64, maxThreads: 2);
        Assert.Equal(one.Y.Data, two.Y.Data);
        Assert.Equal(one.State.Data, two.State.Data);
        var definition = new StateSpaceDualityState(2, 8, 64, 64);
        s0.Cast<double>().Data.CopyTo(definition.S.Data, 0);
        Assert.True(Rel(StateSpaceDuality.Recurrent(p, definition), one.Y) <= Float32Bound);
    }

    [Fact]
    public void Negative_ComparatorRejectsAWrongStep()
    {
        var c = new SsdFastCase(1, 2, 1, 8, 9, 8, 4, 4);
        var p = c.Inputs();
        var expected = StateSpaceDuality.Forward(p);
        var (y, _) = PrefillThenDecode<float>(p, Tensor<double>.Zeros(1, 2, 8, 8), 3, 4);
        TensorPrimitives.Multiply(y.Data, 1 + 1e-3, y.Data);
        Assert.True(Rel(expected, y) > Float32Bound);
        // Starting from another state than the definition's (zero) changes the continuation.
        var (wrong, _) = PrefillThenDecode<double>(p, RandomState(c), 3, 4);
        Assert.True(Rel(expected.Slice(1, 3, 6), wrong.Slice(1, 3, 6)) > 1e-3);
    }

    [Fact]
    public void Negative_BadArguments_NameTheArgument()
    {
        var x = Tensor<float>.Zeros(2, 4, 3);
        var dt = Tensor<float>.Zeros(2, 4);
        var aLog = Tensor<float>.Zeros(4);
        var b = Tensor<float>.Zeros(2, 2, 5);
        var s = Tensor<float>.Zeros(2, 4, 3, 5);
        string Name(Action call) => Assert.ThrowsAny<ArgumentException>(call).ParamName!;
        Assert.Equal("x", Name(() => StateSpaceDuality.StepFast(Tensor<float>.Zeros(2, 1, 4, 3), dt, aLog, b, b, s)));
        Assert.Equal("dt", Name(() => StateSpaceDuality.StepFast(x, Tensor<float>.Zeros(2, 3), aLog, b, b, s)));
        Assert.Equal("aLog", Name(() => StateSpaceDuality.StepFast(x, dt, Tensor<float>.Zeros(2), b, b, s)));
        Assert.Equal("b", Name(() => StateSpaceDuality.StepFast(x, dt, aLog, Tensor<float>.Zeros(2, 3, 5), Tensor<float>.Zeros(2, 3, 5), s)));
        Assert.Equal("c", Name(() => StateSpaceDuality.StepFast(x, dt, aLog, b, Tensor<float>.Zeros(2, 2, 4), s)));
        Assert.Equal("state", Name(() => StateSpaceDuality.StepFast(x, dt, aLog, b, b, Tensor<float>.Zeros(2, 4, 5, 3))));
        Assert.Equal("d", Name(() => StateSpaceDuality.StepFast(x, dt, aLog, b, b, s, d: Tensor<float>.Zeros(3))));
        Assert.Equal("dtBias", Name(() => StateSpaceDuality.StepFast(x, dt, aLog, b, b, s, dtBias: Tensor<float>.Zeros(2, 4))));
        Assert.Equal("maxThreads", Name(() => StateSpaceDuality.StepFast(x, dt, aLog, b, b, s, maxThreads: -1)));
    }
}
