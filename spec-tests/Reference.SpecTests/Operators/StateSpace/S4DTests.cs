using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Operators.StateSpace;
using Reference.SpecTests.Core;
using Reference.SpecTests.Operators.Convolution;

namespace Reference.SpecTests.Operators.StateSpace;

/// <summary>An S4D case: Batch x H rows of length L, real state size N, init and discretization, SplitMix64(Seed).</summary>
public sealed record S4DCase(int Batch, int H, int N, int L, S4DInit Init, Discretization Method, int Seed)
{
    public static Arbitrary<S4DCase> Arbitrary() =>
        (from batch in Gen.Choose(1, 2)
         from h in Gen.Elements(1, 2, 3)
         from n in Gen.Elements(2, 4, 8, 16)
         from l in Gen.Elements(1, 2, 7, 8, 9, 16, 17, 33)
         from init in Gen.Elements(S4DInit.Lin, S4DInit.Inv)
         from method in Gen.Elements(Discretization.Zoh, Discretization.Bilinear)
         from seed in Cases.Seed
         select new S4DCase(batch, h, n, l, init, method, seed)).ToArbitrary();

    /// <summary>The paper's init with dt up to 0.5 and a random complex B so every parameter matters.</summary>
    public S4DParameters Parameters()
    {
        var rng = new SplitMix64((ulong)Seed);
        var p = S4DParameters.Initialize(rng, H, N, Init, dtMin: 1e-2, dtMax: 0.5);
        for (int i = 0; i < p.BRe.Length; i++)
        {
            p.BRe[i] = rng.Normal();
            p.BIm[i] = rng.Normal();
            p.LogNegRealA[i] += rng.Uniform(-1, 1);
        }
        return p;
    }

    public Tensor<double> Input() => new SplitMix64((ulong)Seed + 17).NormalTensor<double>(0, 1, Batch, H, L);
}

public class S4DTests
{
    [Property(Arbitrary = [typeof(S4DCase)])]
    public void Property_Kernel_EqualsVandermondeByRepeatedProducts_AndImpulseResponse(S4DCase c)
    {
        var p = c.Parameters();
        var k = S4D.Kernel(p, c.L, c.Method);
        for (int h = 0; h < c.H; h++)
        {
            // Vandermonde V[n, l] = Abar_n^l built by products (fine for short L), K = 2 Re (C o Bbar) V.
            var expected = new double[c.L];
            for (int n = 0; n < p.Modes; n++)
            {
                var (abar, bbar, _) = S4D.Discretize(p, h, n, c.Method);
                Complex power = Complex.One;
                for (int l = 0; l < c.L; l++)
                {
                    expected[l] += 2 * (p.C(h, n) * bbar * power).Real;
                    power *= abar;
                }
            }
            Assert.True(Metrics.RelativeError(expected, k.Data.AsSpan(h * c.L, c.L), 1e-300) <= 1e-12);

            // Impulse response of the recurrence: y_t = K[t] + D [t = 0].
            var state = S4D.InitialState(p, c.H);
            for (int t = 0; t < c.L; t++)
            {
                var ut = new double[c.H];
                if (t == 0) ut[h] = 1.0;
                double yt = S4D.Step(p, state, ut, c.Method)[h];
                double expectedT = k.Data[h * c.L + t] + (t == 0 ? p.D[h] : 0.0);
                Assert.True(Math.Abs(yt - expectedT) <= 1e-12 * (1 + Math.Abs(expectedT)));
            }
        }
    }

    [Property(Arbitrary = [typeof(S4DCase)])]
    public void Property_ParallelEqualsRecurrentEqualsChunkedEqualsMaterialized(S4DCase c)
    {
        var p = c.Parameters();
        var u = c.Input();
        int rows = c.Batch * c.H;
        var y = S4D.Forward(p, u, c.Method);

        var t = S4D.Materialize(p, c.L, c.Method);
        Assert.True(Metrics.RelativeError(ConvTestKit.ApplyOperator(t, u.Data, rows, c.L), y.Data) <= 1e-12);

        var state = S4D.InitialState(p, rows);
        var stepped = new double[y.Length];
        for (int i = 0; i < c.L; i++)
        {
            var ut = new double[rows];
            for (int r = 0; r < rows; r++) ut[r] = u.Data[r * c.L + i];
            var yt = S4D.Step(p, state, ut, c.Method);
            for (int r = 0; r < rows; r++) stepped[r * c.L + i] = yt[r];
        }
        Assert.True(Metrics.RelativeError(y.Data, stepped) <= 1e-12);

        var rng = new SplitMix64((ulong)c.Seed + 3);
        var chunkState = S4D.InitialState(p, rows);
        var chunked = new double[y.Length];
        for (int start = 0; start < c.L;)
        {
            int len = Math.Min(1 + rng.NextInt(6), c.L - start);
            var yc = S4D.ForwardChunk(p, chunkState, u.Slice(2, start, len), c.Method);
            for (int r = 0; r < rows; r++) yc.Data.AsSpan(r * len, len).CopyTo(chunked.AsSpan(r * c.L + start, len));
            start += len;
        }
        Assert.True(Metrics.RelativeError(y.Data, chunked) <= 1e-12);
        // The state after the chunks equals the state after stepping.
        var xs = state.X.SelectMany(z => new[] { z.Real, z.Imaginary }).ToArray();
        var xc = chunkState.X.SelectMany(z => new[] { z.Real, z.Imaginary }).ToArray();
        Assert.True(Metrics.RelativeError(xs, xc, 1e-300) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(S4DCase)])]
    public void Property_FastKernelAndLayer_EqualNaive(S4DCase c)
    {
        var p = c.Parameters();
        var k = S4D.Kernel(p, c.L, c.Method);
        Assert.True(Metrics.RelativeError(k.Data, S4D.KernelFast<double>(p, c.L, c.Method, 2).Data) <= 1e-12);
        Assert.True(Metrics.RelativeError(k.Data, S4D.KernelFast<float>(p, c.L, c.Method, 1).Data) <= 1e-5);
        var u = c.Input();
        var y = S4D.Forward(p, u, c.Method);
        Assert.True(Metrics.RelativeError(y.Data, S4D.ForwardFast(p, u, c.Method).Data) <= 1e-12);
        Assert.True(Metrics.RelativeError(y.Data, S4D.ForwardFast(p, u.Cast<float>(), c.Method).Data) <= 1e-5);
    }

    [Fact]
    public void Property_FastKernel_LongSequence_EqualsNaive()
    {
        var p = S4DParameters.Initialize(new SplitMix64(5), 4, 64, S4DInit.Inv);
        foreach (var method in new[] { Discretization.Zoh, Discretization.Bilinear })
        {
            var k = S4D.Kernel(p, 1000, method);
            Assert.True(Metrics.RelativeError(k.Data, S4D.KernelFast<double>(p, 1000, method).Data) <= 1e-11);
            Assert.True(Metrics.RelativeError(k.Data, S4D.KernelFast<float>(p, 1000, method).Data) <= 1e-5);
        }
    }

    /// <summary>
    /// The shared kernel against KernelFast to an ulp-level bound, not bitwise: KernelFast's vector exp, sin and cos
    /// change their last bit when the JIT recompiles them at a higher tier (TieredCompilation, on in tests), so two
    /// KernelFast calls of one process can differ by an ulp (they agree bitwise with DOTNET_TieredCompilation=0).
    /// </summary>
    private static void SameKernel(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-14 * scale, $"element {i}: {expected[i]} vs {actual[i]}");
    }

    [Property(Arbitrary = [typeof(S4DCase)], MaxTest = 30)]
    public void Property_SharedKernel_IsFastKernel_AndFollowsInPlaceChanges(S4DCase c)
    {
        var p = c.Parameters();
        var expected = S4D.KernelFast<double>(p, c.L, c.Method, 1);
        var shared = S4D.KernelFastShared(p, c.L, c.Method, 2);
        SameKernel(expected.Data, shared.Data);
        // Same values (another record over copies of the arrays, as another micro-batch's view): the same tensor.
        var copy = p with { ImagA = (double[])p.ImagA.Clone() };
        Assert.Same(shared, S4D.KernelFastShared(p, c.L, c.Method, 1));
        Assert.Same(shared, S4D.KernelFastShared(copy, c.L, c.Method, 1));
        Assert.Same(shared, S4D.KernelFastShared(p with { D = new double[p.Channels] }, c.L, c.Method, 1));
        // A value changed in place (an optimizer step), another length or discretization: a new kernel, KernelFast's.
        foreach (var x in new[] { p.LogNegRealA, p.ImagA, p.BRe, p.BIm, p.CRe, p.CIm, p.LogDelta })
        {
            x[^1] += 1e-3;
            var again = S4D.KernelFastShared(p, c.L, c.Method, 1);
            Assert.NotSame(shared, again);
            SameKernel(S4D.KernelFast<double>(p, c.L, c.Method, 1).Data, again.Data);
            shared = again;
        }
        SameKernel(S4D.KernelFast<double>(p, c.L + 1, c.Method, 1).Data, S4D.KernelFastShared(p, c.L + 1, c.Method, 1).Data);
        var other = c.Method == Discretization.Zoh ? Discretization.Bilinear : Discretization.Zoh;
        SameKernel(S4D.KernelFast<double>(p, c.L, other, 1).Data, S4D.KernelFastShared(p, c.L, other, 1).Data);
    }

    [Fact]
    public void SharedKernel_CallersOnSeveralThreadsAtOnce_ShareOneTensor_AndGetKernelFast()
    {
        // 64 channels of L 300 (not a whole number of base-8 blocks: the padded path), 4 callers released together.
        var p = S4DParameters.Initialize(new SplitMix64(31), 64, 16, S4DInit.Lin);
        var expected = S4D.KernelFast<double>(p, 300, Discretization.Bilinear, 1);
        for (int round = 0; round < 5; round++)
        {
            p.LogDelta[round] += 1e-2;   // new values each round: every round computes a new kernel together
            expected = S4D.KernelFast<double>(p, 300, Discretization.Bilinear, 1);
            var results = new Tensor<double>[4];
            using var start = new Barrier(4);
            var threads = Enumerable.Range(0, 4).Select(i => new Thread(() =>
            {
                start.SignalAndWait();
                results[i] = S4D.KernelFastShared(p, 300, Discretization.Bilinear, 1);
            })).ToArray();
            foreach (var t in threads) t.Start();
            foreach (var t in threads) t.Join();
            foreach (var r in results)
            {
                Assert.Same(results[0], r);
                SameKernel(expected.Data, r.Data);
            }
        }
    }

    [Property(Arbitrary = [typeof(S4DCase)], MaxTest = 12)]
    public void Property_Backward_MatchesCentralFiniteDifferences(S4DCase c)
    {
        var p = c.Parameters();
        var u = c.Input();
        var g = new SplitMix64((ulong)c.Seed + 9).NormalTensor<double>(0, 1, c.Batch, c.H, c.L);
        double Loss() => ConvTestKit.Dot(g.Data, S4D.Forward(p, u, c.Method).Data);
        var grads = S4D.Backward(p, u, g, c.Method);
        var checks = new (string Name, double[] X, double[] Grad)[]
        {
            ("u", u.Data, grads.Input.Data), ("logA", p.LogNegRealA, grads.LogNegRealA), ("imA", p.ImagA, grads.ImagA),
            ("BRe", p.BRe, grads.BRe), ("BIm", p.BIm, grads.BIm), ("CRe", p.CRe, grads.CRe), ("CIm", p.CIm, grads.CIm),
            ("logDelta", p.LogDelta, grads.LogDelta), ("D", p.D, grads.D),
        };
        foreach (var (name, x, grad) in checks)
        {
            double err = ConvTestKit.GradCheck(x, grad, Loss);
            Assert.True(err <= 1e-6, $"{name}: {err}");
        }
    }

    [Property(Arbitrary = [typeof(S4DCase)])]
    public void Property_Realization_ReproducesTheOperatorMatrix(S4DCase c)
    {
        var p = c.Parameters();
        var t = S4D.Materialize(p, c.L, c.Method);
        for (int h = 0; h < c.H; h++)
        {
            var dense = S4D.Realize(p, h, c.L, c.Method).Materialize().Data;
            Assert.True(Metrics.RelativeError(t.Data.AsSpan(h * c.L * c.L, c.L * c.L), dense, 1e-300) <= 1e-12);
        }
    }

    [Property(Arbitrary = [typeof(S4DCase)])]
    public void Property_Causality_FutureInputsLeavePastOutputsUnchanged(S4DCase c)
    {
        var p = c.Parameters();
        var u = c.Input();
        var y = S4D.Forward(p, u, c.Method);
        int t0 = new SplitMix64((ulong)c.Seed + 2).NextInt(c.L);
        var perturbed = u.Clone();
        for (int r = 0; r < c.Batch * c.H; r++)
            for (int t = t0 + 1; t < c.L; t++) perturbed.Data[r * c.L + t] -= 3.0;
        var y2 = S4D.Forward(p, perturbed, c.Method);
        for (int r = 0; r < c.Batch * c.H; r++)
            for (int t = 0; t <= t0; t++) Assert.Equal(y.Data[r * c.L + t], y2.Data[r * c.L + t]);
    }

    [Fact]
    public void Property_ExpM1OverZ_SeriesMatchesQuotientAtTheSwitch_AndLimits()
    {
        foreach (var z in new[] { new Complex(0.4999, 0), new Complex(-0.3, 0.39), new Complex(0, -0.49999) })
        {
            var direct = (Complex.Exp(z) - 1) / z;
            Assert.True(Complex.Abs(S4D.ExpM1OverZ(z) - direct) <= 1e-15);
            var psi = ((z - 1) * Complex.Exp(z) + 1) / (z * z);
            Assert.True(Complex.Abs(S4D.ExpM1OverZDerivative(z) - psi) <= 1e-14);
        }
        Assert.Equal(Complex.One, S4D.ExpM1OverZ(Complex.Zero));
        Assert.Equal(0.5, S4D.ExpM1OverZDerivative(Complex.Zero).Real, 15);
        // Tiny z: the series gives 1 + z/2 to full precision where the quotient would not.
        var tiny = new Complex(1e-9, -2e-9);
        Assert.True(Complex.Abs(S4D.ExpM1OverZ(tiny) - (1 + tiny / 2)) <= 1e-17);
    }

    [Fact]
    public void Property_Initialization_FollowsThePaper()
    {
        var lin = S4DParameters.Initialize(new SplitMix64(1), 64, 8, S4DInit.Lin);
        var inv = S4DParameters.Initialize(new SplitMix64(1), 64, 8, S4DInit.Inv);
        for (int n = 0; n < 4; n++)
        {
            Assert.Equal(-0.5, lin.A(3, n).Real, 15);
            Assert.Equal(Math.PI * n, lin.ImagA[3 * 4 + n], 12);
            Assert.Equal(8 / Math.PI * (8.0 / (2 * n + 1) - 1), inv.ImagA[5 * 4 + n], 12);
        }
        Assert.All(lin.LogDelta, x => Assert.InRange(x, Math.Log(1e-3), Math.Log(1e-1)));
        Assert.Contains(lin.LogDelta, x => x < Math.Log(1e-2));
        Assert.Contains(lin.LogDelta, x => x > Math.Log(1e-2));
    }

    [Fact]
    public void Negative_OddStateSize_AndWrongChannelCount_NameTheArgument()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => S4DParameters.Initialize(new SplitMix64(1), 2, 7));
        Assert.Equal("stateSize", e.ParamName);
        var p = S4DParameters.Initialize(new SplitMix64(1), 2, 4);
        var e2 = Assert.Throws<ArgumentException>(() => S4D.Forward(p, Tensor<double>.Zeros(3, 5), Discretization.Zoh));
        Assert.Equal("u", e2.ParamName);
        // The comparator rejects a kernel scaled by 1 + 1e-3.
        var k = S4D.Kernel(p, 16, Discretization.Zoh);
        var wrong = k.Data.Select(x => x * (1 + 1e-3)).ToArray();
        Assert.True(Metrics.RelativeError(k.Data, wrong) > 1e-12);
    }

    [Theory]
    [InlineData(Discretization.Zoh)]
    [InlineData(Discretization.Bilinear)]
    public void Backward_WithAModeWhoseBIsZero_MatchesFiniteDifferences(Discretization method)
    {
        // Bbar / B is 0 / 0 at B = 0: Backward uses the limit (delta (e^z - 1) / z or delta / (1 - z/2)) for dB.
        var c = new S4DCase(1, 2, 4, 7, S4DInit.Lin, method, 5);
        var p = c.Parameters();
        p.BRe[0] = 0; p.BIm[0] = 0;
        p.BRe[3] = 0; p.BIm[3] = 0;
        var u = c.Input();
        var g = new SplitMix64(77).NormalTensor<double>(0, 1, c.Batch, c.H, c.L);
        double Loss() => ConvTestKit.Dot(g.Data, S4D.Forward(p, u, method).Data);
        var grads = S4D.Backward(p, u, g, method);
        Assert.True(Math.Abs(grads.BRe[0]) > 1e-3);
        Assert.True(ConvTestKit.GradCheck(p.BRe, grads.BRe, Loss) <= 1e-6);
        Assert.True(ConvTestKit.GradCheck(p.BIm, grads.BIm, Loss) <= 1e-6);
    }

    [Fact]
    public void Prefill_OfABatchedInput_EqualsForward_AndItsStateContinuesTheSequence()
    {
        // u [B = 2, H = 3, L = 7] (H != L, rank 3): rows = B H = 6.
        var c = new S4DCase(2, 3, 4, 7, S4DInit.Inv, Discretization.Zoh, 8);
        var p = c.Parameters();
        var u = c.Input();
        var full = S4D.Forward(p, u, c.Method);
        var head = Tensor<double>.Zeros(2, 3, 4);
        var tail = Tensor<double>.Zeros(2, 3, 3);
        for (int r = 0; r < 6; r++)
        {
            u.Data.AsSpan(r * 7, 4).CopyTo(head.Data.AsSpan(r * 4));
            u.Data.AsSpan(r * 7 + 4, 3).CopyTo(tail.Data.AsSpan(r * 3));
        }
        var (y, state) = S4D.Prefill(p, head, c.Method);
        Assert.Equal(6, state.Rows);
        var rest = S4D.ForwardChunk(p, state, tail, c.Method);
        for (int r = 0; r < 6; r++)
        {
            for (int t = 0; t < 4; t++) Assert.Equal(full.Data[r * 7 + t], y.Data[r * 4 + t], 1e-12);
            for (int t = 0; t < 3; t++) Assert.Equal(full.Data[r * 7 + 4 + t], rest.Data[r * 3 + t], 1e-12);
        }
        Assert.Equal("u", Assert.Throws<ArgumentNullException>(() => S4D.Prefill(p, null!, c.Method)).ParamName);
    }

    [Fact]
    public void Negative_InitStateStepChunkAndRealize_CheckTheirArguments_NamingThem()
    {
        var p = S4DParameters.Initialize(new SplitMix64(1), 2, 4);
        void Shape(string name, Action call) => Assert.Equal(name, Assert.Throws<ArgumentException>(call).ParamName);
        void Range(string name, Action call) => Assert.Equal(name, Assert.Throws<ArgumentOutOfRangeException>(call).ParamName);
        Range("dtMin", () => S4DParameters.Initialize(new SplitMix64(1), 2, 4, dtMin: 0));
        Range("dtMin", () => S4DParameters.Initialize(new SplitMix64(1), 2, 4, dtMin: 0.2, dtMax: 0.1));
        Assert.Equal(2, S4DParameters.Initialize(new SplitMix64(1), 2, 4, dtMin: 0.1, dtMax: 0.1).Channels);
        Shape("p", () => S4D.Kernel(p with { D = new double[1] }, 4, Discretization.Zoh));
        Shape("p", () => S4D.Kernel(p with { CIm = new double[3] }, 4, Discretization.Zoh));
        Shape("rows", () => S4D.InitialState(p, 3));
        Shape("rows", () => S4D.InitialState(p, 0));
        var state = S4D.InitialState(p, 2);
        Shape("uT", () => S4D.Step(p, state, new double[4], Discretization.Zoh));
        Shape("uChunk", () => S4D.ForwardChunk(p, S4D.InitialState(p, 4), Tensor<double>.Zeros(2, 5), Discretization.Zoh));
        var wider = S4D.InitialState(S4DParameters.Initialize(new SplitMix64(1), 2, 8), 2);
        Shape("state", () => S4D.Step(p, wider, new double[2], Discretization.Zoh));
        Range("channel", () => S4D.Realize(p, 2, 4, Discretization.Zoh));
        Range("channel", () => S4D.Realize(p, -1, 4, Discretization.Zoh));
        Assert.All(state.X, x => Assert.Equal(System.Numerics.Complex.Zero, x));
        Assert.Equal(2, S4D.Step(p, state, new double[2], Discretization.Zoh).Length);
    }

    /// <summary>
    /// The fast tier's kernel gradients (powers carried by multiplication, modes in SIMD lanes advancing together
    /// in groups; since s4dgen the sums by Horner's rule, bound of order L ulp of sum |dK| |Z|^l) against the definition's
    /// exp(l log Abar) powers, relative error at most 1e-12: mode counts that leave a scalar remainder (5, 13), that fill
    /// the 32-mode group exactly (32, H3's width-32 layer) and that leave every narrower route after it (40, 45), both
    /// discretizations, L 300.
    /// </summary>
    [Theory]
    [InlineData(10, Discretization.Zoh)]
    [InlineData(26, Discretization.Bilinear)]
    [InlineData(80, Discretization.Zoh)]
    [InlineData(64, Discretization.Bilinear)]
    [InlineData(90, Discretization.Zoh)]
    public void KernelGradients_PowersByMultiplication_EqualTheDefinition(int stateSize, Discretization method)
    {
        const int length = 300;
        var p = new S4DCase(1, 3, stateSize, length, S4DInit.Lin, method, 11).Parameters();
        var dKernel = new SplitMix64(12).NormalTensor<double>(0, 1, p.Channels, length).Data;
        S4DGradients Run(bool byMultiplication)
        {
            int hm = p.Channels * p.Modes;
            var g = new S4DGradients(Tensor<double>.Zeros(1), new double[hm], new double[hm], new double[hm], new double[hm],
                new double[hm], new double[hm], new double[p.Channels], new double[p.Channels]);
            S4D.KernelGradients(p, dKernel, length, method, g, byMultiplication);
            return g;
        }
        var exact = Run(false);
        var fast = Run(true);
        foreach (var (e, f) in new[] { (exact.LogNegRealA, fast.LogNegRealA), (exact.ImagA, fast.ImagA), (exact.BRe, fast.BRe),
            (exact.BIm, fast.BIm), (exact.CRe, fast.CRe), (exact.CIm, fast.CIm), (exact.LogDelta, fast.LogDelta) })
            Assert.True(Metrics.RelativeError(e, f) <= 1e-12, $"relative error {Metrics.RelativeError(e, f):E2}");
    }

    /// <summary>
    /// The kernel-gradient power sums of each mode do not depend on the modes beside it: 45 modes at once (a 32-mode
    /// group, then narrower vectors and a scalar remainder) give bitwise the values of each mode alone (the scalar
    /// route), so the bits do not depend on the mode count or the vector width. Also against the direct sums in
    /// float64 (Complex.Pow per lag): within 1e-13 of sum |dk| |Z|^l (s0) and of sum l |dk| |Z|^(l-1) (s1), L 257;
    /// |Z| from 0.3 to 1 - 1e-4 (slow and fast decay), angles over the circle.
    /// </summary>
    [Fact]
    public void PowerSums_EachModeAlone_Bitwise_AndNearTheDirectSums()
    {
        const int modes = 45, length = 257;
        var rng = new SplitMix64(21);
        var dk = rng.NormalTensor<double>(0, 1, length).Data;
        var z = new double[2 * modes];
        for (int n = 0; n < modes; n++)
        {
            double radius = n % 3 == 0 ? 1 - 1e-4 * (1 + n) : rng.Uniform(0.3, 0.999), angle = rng.Uniform(-Math.PI, Math.PI);
            (z[n], z[modes + n]) = (radius * Math.Cos(angle), radius * Math.Sin(angle));
        }
        var sums = new double[4 * modes];
        S4D.PowerSums(dk, z, sums, modes);
        var one = new double[4];
        for (int n = 0; n < modes; n++)
        {
            S4D.PowerSums(dk, [z[n], z[modes + n]], one, 1);
            for (int part = 0; part < 4; part++)
                Assert.Equal(BitConverter.DoubleToInt64Bits(one[part]), BitConverter.DoubleToInt64Bits(sums[part * modes + n]));
            var zn = new Complex(z[n], z[modes + n]);
            Complex s0 = Complex.Zero, s1 = Complex.Zero;
            double scale0 = 0, scale1 = 0;
            for (int l = 0; l < length; l++)
            {
                s0 += dk[l] * Complex.Pow(zn, l);
                scale0 += Math.Abs(dk[l]) * Math.Pow(zn.Magnitude, l);
                if (l == 0) continue;
                s1 += dk[l] * l * Complex.Pow(zn, l - 1);
                scale1 += Math.Abs(dk[l]) * l * Math.Pow(zn.Magnitude, l - 1);
            }
            Assert.True(Complex.Abs(new Complex(sums[n], sums[modes + n]) - s0) <= 1e-13 * scale0, $"mode {n}: s0 {Complex.Abs(new Complex(sums[n], sums[modes + n]) - s0) / scale0:E2} of the scale");
            Assert.True(Complex.Abs(new Complex(sums[2 * modes + n], sums[3 * modes + n]) - s1) <= 1e-13 * scale1, $"mode {n}: s1 {Complex.Abs(new Complex(sums[2 * modes + n], sums[3 * modes + n]) - s1) / scale1:E2} of the scale");
        }
    }
}
