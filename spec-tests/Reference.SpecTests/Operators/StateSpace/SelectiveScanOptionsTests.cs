using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Autodiff;
using Reference.Core;
using Reference.Operators.StateSpace;
using Reference.SpecTests.Core;
using static Reference.SpecTests.Operators.Attention.AttentionCheck;

namespace Reference.SpecTests.Operators.StateSpace;

/// <summary>
/// A selective-scan case with selective_scan_ref's options: complex A, the delta softplus on or off,
/// an initial state; B, D channels in G groups, L steps, N state lanes, a split point for chunking.
/// </summary>
public sealed record ScanOptionsCase(int B, int D, int G, int L, int N, bool Complex, bool Softplus, bool Initial, bool Gate, int Split, int Seed)
{
    public static Arbitrary<ScanOptionsCase> Arbitrary() =>
        (from b in Gen.Elements(1, 2)
         from g in Gen.Elements(1, 2)
         from perGroup in Gen.Elements(1, 3, 5, 9)
         from l in Gen.Elements(1, 2, 7, 17, 40)
         from n in Gen.Elements(1, 3, 8, 16)
         from complex in ArbMap.Default.GeneratorFor<bool>()
         from softplus in ArbMap.Default.GeneratorFor<bool>()
         from initial in ArbMap.Default.GeneratorFor<bool>()
         from gate in ArbMap.Default.GeneratorFor<bool>()
         from split in Gen.Choose(0, 40)
         from seed in Cases.Seed
         select new ScanOptionsCase(b, g * perGroup, g, l, n, complex, softplus, initial, gate, Math.Min(split, l), seed)).ToArbitrary();

    /// <summary>
    /// Inputs: delta ~ N(-2.5, 1) with the softplus, uniform(0.001, 0.3) without (a discretized step);
    /// A_log = log(1..N) + N(0, 0.3); Im A ~ uniform(0, 4); B, C (and their imaginary parts), D, z ~ N(0, 1).
    /// </summary>
    public SelectiveScanInputs<double> Inputs()
    {
        var rng = new SplitMix64((ulong)Seed);
        var u = rng.NormalTensor<double>(0, 1, B, D, L);
        var delta = Softplus ? rng.NormalTensor<double>(-2.5, 1.0, B, D, L) : rng.UniformTensor<double>(0.001, 0.3, B, D, L);
        var aLog = SelectiveScan.InitialALog(D, N);
        for (int i = 0; i < aLog.Length; i++) aLog.Data[i] += rng.Normal(0, 0.3);
        var bIn = rng.NormalTensor<double>(0, 1, B, G, N, L);
        var cOut = rng.NormalTensor<double>(0, 1, B, G, N, L);
        var skip = rng.NormalTensor<double>(0, 1, D);
        var z = Gate ? rng.NormalTensor<double>(0, 1, B, D, L) : null;
        var bias = Softplus ? rng.NormalTensor<double>(0, 0.5, D) : rng.UniformTensor<double>(0, 0.05, D);
        var p = new SelectiveScanInputs<double>(u, delta, aLog, bIn, cOut, skip, z, bias, Softplus);
        return Complex ? p with
        {
            AImag = rng.UniformTensor<double>(0, 4, D, N), BImag = rng.NormalTensor<double>(0, 1, B, G, N, L),
            CImag = rng.NormalTensor<double>(0, 1, B, G, N, L),
        } : p;
    }

    /// <summary>x0 [B, D, N] (complex: [B, D, N, 2]) ~ N(0, 1), or null.</summary>
    public Tensor<double>? InitialState() =>
        !Initial ? null : new SplitMix64((ulong)Seed ^ 0xABCDEFUL).NormalTensor<double>(0, 1, Complex ? new[] { B, D, N, 2 } : new[] { B, D, N });
}

/// <summary>
/// The selective scan's options (complex A, the softplus switch, initial and last states) across the
/// definition, the fast tier at float64 and float32, the step loop, the chunked form and the
/// materialized operator, with hand-derived cases.
/// </summary>
public class SelectiveScanOptionsTests
{
    /// <summary>A definition state holding x0 (complex x0 [B, D, N, 2] split into X and XImag).</summary>
    private static SelectiveScanState State(ScanOptionsCase c, Tensor<double>? x0)
    {
        var s = new SelectiveScanState(c.B, c.D, c.N, c.Complex);
        if (x0 is null) return s;
        for (int i = 0; i < s.X.Length; i++)
        {
            s.X.Data[i] = c.Complex ? x0.Data[2 * i] : x0.Data[i];
            if (c.Complex) s.XImag!.Data[i] = x0.Data[2 * i + 1];
        }
        return s;
    }

    /// <summary>The state as the fast tier returns it ([B, D, N], complex [B, D, N, 2]).</summary>
    private static Tensor<double> Packed(SelectiveScanState s)
    {
        if (s.XImag is null) return s.X;
        var t = Tensor<double>.Zeros(s.X.Dim(0), s.X.Dim(1), s.X.Dim(2), 2);
        for (int i = 0; i < s.X.Length; i++) { t.Data[2 * i] = s.X.Data[i]; t.Data[2 * i + 1] = s.XImag.Data[i]; }
        return t;
    }

    [Property(Arbitrary = [typeof(ScanOptionsCase)], MaxTest = 60)]
    public void Property_DefinitionFastStepChunkedMaterialized_Agree(ScanOptionsCase c)
    {
        var p = c.Inputs();
        var x0 = c.InitialState();
        var state = State(c, x0);
        var y = SelectiveScan.Recurrent(p, state);

        var (fast, last) = SelectiveScan.ForwardFastWithState(p, x0);
        Assert.True(Rel(y, fast) <= 1e-12, $"fast64 {Rel(y, fast):E2}");
        Assert.True(Rel(Packed(state), last) <= 1e-12, $"fast64 last state {Rel(Packed(state), last):E2}");

        var p32 = new SelectiveScanInputs<float>(p.U.Cast<float>(), p.Delta.Cast<float>(), p.ALog.Cast<float>(), p.B.Cast<float>(), p.C.Cast<float>(),
            p.D?.Cast<float>(), p.Z?.Cast<float>(), p.DeltaBias?.Cast<float>(), p.DeltaSoftplus, p.AImag?.Cast<float>(), p.BImag?.Cast<float>(),
            p.CImag?.Cast<float>());
        var (fast32, last32) = SelectiveScan.ForwardFastWithState(p32, x0?.Cast<float>());
        Assert.True(Rel(y, fast32.Cast<double>()) <= 1e-5, $"fast32 {Rel(y, fast32.Cast<double>()):E2}");
        Assert.True(Rel(Packed(state), last32.Cast<double>()) <= 1e-5);

        var stepState = State(c, x0);
        var steps = Tensor<double>.Zeros(c.B, c.D, c.L);
        for (int t = 0; t < c.L; t++)
        {
            var yt = SelectiveScan.Step(p.Window(t, 1), stepState);
            for (int row = 0; row < c.B * c.D; row++) steps.Data[row * c.L + t] = yt.Data[row];
        }
        Assert.True(Rel(y, steps) <= 1e-12, $"steps {Rel(y, steps):E2}");

        var chunkState = State(c, x0);
        Assert.True(Rel(y, SelectiveScan.Chunked(p, 4, chunkState)) <= 1e-12);
        Assert.True(Rel(Packed(state), Packed(chunkState)) <= 1e-12);

        // T u plus the free response of x0 (the scan on u = 0): superposition of the linear recurrence.
        var tm = SelectiveScan.Materialize(p);
        var tu = Tensor<double>.Zeros(c.B, c.D, c.L);
        for (int row = 0; row < c.B * c.D; row++)
            for (int t = 0; t < c.L; t++)
                for (int s = 0; s <= t; s++) tu.Data[row * c.L + t] += tm.Data[(row * c.L + t) * c.L + s] * p.U.Data[row * c.L + s];
        var free = SelectiveScan.Recurrent(p with { U = Tensor<double>.Zeros(c.B, c.D, c.L) }, State(c, x0));
        for (int i = 0; i < tu.Length; i++) tu.Data[i] += free.Data[i];
        Assert.True(Rel(y, tu) <= 1e-11, $"T u {Rel(y, tu):E2}");

        if (!c.Complex)
        {
            var t0 = OperatorRealization(p);
            Assert.True(Rel(tm, t0) <= 1e-12);
        }
    }

    private static Tensor<double> OperatorRealization(SelectiveScanInputs<double> p)
    {
        int l = p.Length;
        var t = Tensor<double>.Zeros(p.Batch, p.Channels, l, l);
        for (int b = 0; b < p.Batch; b++)
            for (int d = 0; d < p.Channels; d++)
                SelectiveScan.Realize(p, b, d).Materialize().Data.CopyTo(t.Data, (b * p.Channels + d) * l * l);
        return t;
    }

    /// <summary>
    /// Chunked with an initial state = continuing a longer sequence's scan: the fast tier on [0, s) and then on
    /// [s, L) from the first part's last state gives the whole run's outputs and last state.
    /// </summary>
    [Property(Arbitrary = [typeof(ScanOptionsCase)], MaxTest = 40)]
    public void Property_FastInTwoPieces_ContinuesTheWholeScan(ScanOptionsCase c)
    {
        var p = c.Inputs();
        var x0 = c.InitialState();
        var (whole, lastWhole) = SelectiveScan.ForwardFastWithState(p, x0);
        var (first, mid) = SelectiveScan.ForwardFastWithState(p.Window(0, c.Split), x0);
        var (second, lastPieces) = SelectiveScan.ForwardFastWithState(p.Window(c.Split, c.L - c.Split), mid);
        for (int row = 0; row < c.B * c.D; row++)
            for (int t = 0; t < c.L; t++)
            {
                double piece = t < c.Split ? first.Data[row * c.Split + t] : second.Data[row * (c.L - c.Split) + t - c.Split];
                Assert.True(Math.Abs(piece - whole.Data[row * c.L + t]) <= 1e-12 * (1 + Math.Abs(whole.Data[row * c.L + t])));
            }
        Assert.True(Rel(lastWhole, lastPieces) <= 1e-12);
    }

    /// <summary>
    /// Hand case (complex A with zero imaginary parts): exp(Delta A) is real, x is real, and y = 2 Re(C x) + D u
    /// is the real scan with C doubled, for every other option (gate, skip, bias, softplus on or off).
    /// </summary>
    [Fact]
    public void HandCase_ComplexWithZeroImaginaryParts_IsTheRealScanWithDoubledC()
    {
        foreach (bool softplus in new[] { true, false })
        {
            var c = new ScanOptionsCase(2, 4, 2, 13, 5, false, softplus, false, true, 0, 11);
            var p = c.Inputs();
            var zeroA = Tensor<double>.Zeros(4, 5);
            var zeroBc = Tensor<double>.Zeros(2, 2, 5, 13);
            var complex = p with { AImag = zeroA, BImag = zeroBc, CImag = zeroBc };
            var doubled = p with { C = p.C.Clone() };
            for (int i = 0; i < doubled.C.Length; i++) doubled.C.Data[i] *= 2;
            Assert.True(Rel(SelectiveScan.Forward(doubled), SelectiveScan.Forward(complex)) <= 1e-14);
            Assert.True(Rel(SelectiveScan.ForwardFast(doubled), SelectiveScan.ForwardFast(complex)) <= 1e-12);
        }
    }

    /// <summary>
    /// Hand case (complex rotation): L = 2, N = 1, Delta = 1 (softplus off), A = -exp(-60) + i pi/2 (Re A ~ -1e-26:
    /// exp(Delta A) = i to rounding), B = 1, u = (1, 0): x_0 = Delta B u_0 = 1, x_1 = i x_0 = i. With C = 1:
    /// y = 2 Re(x) = (2, 0); with C = i: y = 2 Re(i x) = (0, -2).
    /// </summary>
    [Fact]
    public void HandCase_ComplexRotation()
    {
        var one = Tensor<double>.FromSpan([1.0, 1.0], 1, 1, 1, 2);
        var zero = Tensor<double>.Zeros(1, 1, 1, 2);
        var p = new SelectiveScanInputs<double>(Tensor<double>.FromSpan([1.0, 0.0], 1, 1, 2), Tensor<double>.FromSpan([1.0, 1.0], 1, 1, 2),
            Tensor<double>.FromSpan([-60.0], 1, 1), one, one, DeltaSoftplus: false,
            AImag: Tensor<double>.FromSpan([Math.PI / 2], 1, 1), BImag: zero, CImag: zero);
        var y = SelectiveScan.Forward(p);
        Assert.Equal(2.0, y.Data[0], 14);
        Assert.Equal(0.0, y.Data[1], 14);
        var yi = SelectiveScan.Forward(p with { C = zero, CImag = one });
        Assert.Equal(0.0, yi.Data[0], 14);
        Assert.Equal(-2.0, yi.Data[1], 14);
        Assert.Equal(-2.0, SelectiveScan.ForwardFast(p with { C = zero, CImag = one }).Data[1], 14);
    }

    /// <summary>
    /// Hand case (softplus off): L = N = 1, delta = 0.5, B = 2, u = 3, C = 0.25, D = 0: y = C (Delta B u) =
    /// 0.25 0.5 2 3 = 0.75 with the step taken as given; with the softplus the step is log(1 + e^0.5) and y
    /// = 1.5 log(1 + e^0.5). And the switch is the softplus only: softplus(delta + bias) passed with the
    /// switch off equals delta with bias and the switch on.
    /// </summary>
    [Fact]
    public void HandCase_SoftplusOff_UsesTheStepAsGiven()
    {
        Tensor<double> S(double v) => Tensor<double>.FromSpan([v], 1, 1, 1);
        var p = new SelectiveScanInputs<double>(S(3), S(0.5), Tensor<double>.FromSpan([0.0], 1, 1), Tensor<double>.FromSpan([2.0], 1, 1, 1, 1),
            Tensor<double>.FromSpan([0.25], 1, 1, 1, 1), DeltaSoftplus: false);
        Assert.Equal(0.75, SelectiveScan.Forward(p).Data[0], 15);
        Assert.Equal(0.75, SelectiveScan.ForwardFast(p).Data[0], 15);
        Assert.Equal(1.5 * Math.Log(1 + Math.Exp(0.5)), SelectiveScan.Forward(p with { DeltaSoftplus = true }).Data[0], 14);

        var c = new ScanOptionsCase(1, 3, 1, 9, 4, false, true, false, true, 0, 12);
        var on = c.Inputs();
        var off = on with { Delta = SelectiveScan.StepSizes(on), DeltaBias = null, DeltaSoftplus = false };
        Assert.Equal(SelectiveScan.Forward(on).Data, SelectiveScan.Forward(off).Data);
    }

    /// <summary>The tape adapter with the softplus off: gradients (delta's derivative is 1 instead of sigmoid) against finite differences.</summary>
    [Fact]
    public void Gradients_SoftplusOff_MatchFiniteDifferences()
    {
        var c = new ScanOptionsCase(1, 2, 1, 5, 3, false, false, false, true, 0, 13);
        var p = c.Inputs();
        var result = GradCheck.Check(x => Ops.Sum(SsmOps.SelectiveScan(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], deltaSoftplus: false)),
            [p.U, p.Delta, p.ALog, p.B, p.C, p.D!, p.Z!, p.DeltaBias!]);
        Assert.True(result.Passed, result.ToString());
    }

    /// <summary>
    /// The state update with heads and groups (selective_state_update): naive = fast (float64, float32) step after
    /// step, and the chain of steps = the scan on D = H P channels (channel h P + p reads group h / (H / G), A = a
    /// with A_log = log(-a)) from the same initial state, outputs and final state.
    /// </summary>
    [Property(MaxTest = 40)]
    public void Property_StateUpdate_EqualsTheScanStepByStep(PositiveInt seed0, bool softplus, bool gate)
    {
        var rng = new SplitMix64((ulong)seed0.Get);
        int bs = 1 + seed0.Get % 2, g = 1 + seed0.Get % 2, hs = g * (1 + seed0.Get % 3), ps = 1 + seed0.Get % 5, n = 1 + seed0.Get % 9, l = 6;
        var aLog = rng.UniformTensor<double>(-1, 1.5, hs * ps, n);
        var a = Tensor<double>.Zeros(hs, ps, n);
        for (int i = 0; i < a.Length; i++) a.Data[i] = -Math.Exp(aLog.Data[i]);
        var x = rng.NormalTensor<double>(0, 1, bs, hs * ps, l);
        var dt = softplus ? rng.NormalTensor<double>(-1, 1, bs, hs * ps, l) : rng.UniformTensor<double>(0.001, 0.3, bs, hs * ps, l);
        var b = rng.NormalTensor<double>(0, 1, bs, g, n, l);
        var c = rng.NormalTensor<double>(0, 1, bs, g, n, l);
        var d = rng.NormalTensor<double>(0, 1, hs * ps);
        var z = gate ? rng.NormalTensor<double>(0, 1, bs, hs * ps, l) : null;
        var bias = rng.NormalTensor<double>(0, 0.1, hs * ps);
        var x0 = rng.NormalTensor<double>(0, 1, bs, hs, ps, n);
        var scanState = new SelectiveScanState(bs, hs * ps, n);
        x0.Data.CopyTo(scanState.X.Data, 0);
        var p = new SelectiveScanInputs<double>(x, dt, aLog, b, c, d, z, bias, softplus);
        var y = SelectiveScan.Recurrent(p, scanState);
        var (naive, fast, fast32) = (x0.Clone(), x0.Clone(), x0.Cast<float>());
        Tensor<double> At(Tensor<double> t, int step, params int[] shape) => t.Slice(t.Rank - 1, step, 1).Reshape(shape);
        for (int t = 0; t < l; t++)
        {
            var (xt, dtt, zt) = (At(x, t, bs, hs, ps), At(dt, t, bs, hs, ps), z is null ? null : At(z, t, bs, hs, ps));
            var (bt, ct) = (At(b, t, bs, g, n), At(c, t, bs, g, n));
            var (dd, bb) = (d.Reshape(hs, ps), bias.Reshape(hs, ps));
            var yn = SelectiveScan.StateUpdate(naive, xt, dtt, a, bt, ct, dd, zt, bb, softplus);
            var yf = SelectiveScan.StateUpdateFast(fast, xt, dtt, a, bt, ct, dd, zt, bb, softplus);
            var y32 = SelectiveScan.StateUpdateFast(fast32, xt.Cast<float>(), dtt.Cast<float>(), a.Cast<float>(), bt.Cast<float>(), ct.Cast<float>(),
                dd.Cast<float>(), zt?.Cast<float>(), bb.Cast<float>(), softplus);
            var expected = At(y, t, bs, hs, ps);
            Assert.True(Rel(expected, yn) <= 1e-12, $"naive step {t}: {Rel(expected, yn):E2}");
            Assert.True(Rel(expected, yf) <= 1e-12, $"fast step {t}: {Rel(expected, yf):E2}");
            Assert.True(Rel(expected, y32.Cast<double>()) <= 1e-5, $"fast32 step {t}: {Rel(expected, y32.Cast<double>()):E2}");
        }
        Assert.True(Rel(scanState.X.Reshape(bs, hs, ps, n), naive) <= 1e-12);
        Assert.True(Rel(scanState.X.Reshape(bs, hs, ps, n), fast) <= 1e-12);
    }

    [Fact]
    public void Negative_BadComplexInputsAndStates_NameTheArgument()
    {
        var c = new ScanOptionsCase(1, 2, 1, 4, 3, true, true, false, false, 0, 14);
        var p = c.Inputs();
        Assert.Equal("BImag", Assert.Throws<ArgumentException>(() => SelectiveScan.Forward(p with { BImag = null })).ParamName);
        Assert.Equal("AImag", Assert.Throws<ArgumentException>(() => SelectiveScan.Forward(p with { AImag = null })).ParamName);
        Assert.Equal("state", Assert.Throws<ArgumentException>(() => SelectiveScan.Recurrent(p, new SelectiveScanState(1, 2, 3))).ParamName);
        Assert.Equal("initialState", Assert.Throws<ArgumentException>(() =>
            SelectiveScan.ForwardFastWithState(p, Tensor<double>.Zeros(1, 2, 3))).ParamName);
        Assert.Throws<NotSupportedException>(() => SelectiveScan.Backward(p, Tensor<double>.Zeros(1, 2, 4)));
        var st = Tensor<double>.Zeros(1, 2, 3, 4);
        var xs = Tensor<double>.Zeros(1, 2, 3);
        Assert.Equal("b", Assert.Throws<ArgumentException>(() => SelectiveScan.StateUpdateFast(st, xs, xs, Tensor<double>.Zeros(2, 3, 4),
            Tensor<double>.Zeros(1, 3, 4), Tensor<double>.Zeros(1, 3, 4))).ParamName);
        Assert.Equal("a", Assert.Throws<ArgumentException>(() => SelectiveScan.StateUpdate(st, xs, xs, Tensor<double>.Zeros(2, 3, 5),
            Tensor<double>.Zeros(1, 1, 4), Tensor<double>.Zeros(1, 1, 4))).ParamName);
    }
}
