using System.Numerics;
using FsCheck.Xunit;
using MathNet.Numerics.IntegralTransforms;
using Reference.Core;
using Reference.Operators.Convolution;

namespace Reference.SpecTests.Operators.Convolution;

public class CausalConvolutionTests
{
    private static (Tensor<double> U, Tensor<double> K, Tensor<double> D) Draw(ConvCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        return (rng.NormalTensor<double>(0, 1, c.Batch, c.C, c.L),
                rng.NormalTensor<double>(0, 1, c.C, c.Lk),
                rng.NormalTensor<double>(0, 1, c.C));
    }

    [Property(Arbitrary = [typeof(ConvCase)])]
    public void Property_Forward_EqualsMaterializedOperatorTimesU(ConvCase c)
    {
        var (u, k, d) = Draw(c);
        var y = CausalConvolution.Forward(u, k, d);
        var t = CausalConvolution.Materialize(k, d, c.L);
        var expected = ConvTestKit.ApplyOperator(t, u.Data, c.Batch * c.C, c.L);
        Assert.True(Metrics.RelativeError(expected, y.Data) <= 1e-13);
        for (int ch = 0; ch < c.C; ch++)
            for (int i = 0; i < c.L; i++)
                for (int s = i + 1; s < c.L; s++) Assert.Equal(0.0, t[ch, i, s]);
    }

    [Property(Arbitrary = [typeof(ConvCase)])]
    public void Property_Forward_EqualsFftRoute(ConvCase c)
    {
        // Independent route: MathNet FFT with n = 2L >= L + Lk - 1 after truncating k to L taps.
        var (u, k, d) = Draw(c);
        var y = CausalConvolution.Forward(u, k, d);
        int n = 2 * c.L;
        for (int r = 0; r < c.Batch * c.C; r++)
        {
            int ch = r % c.C;
            var uf = Spectrum(u.Data.AsSpan(r * c.L, c.L), n);
            var kf = Spectrum(k.Data.AsSpan(ch * c.Lk, Math.Min(c.Lk, c.L)), n);
            var prod = new Complex[n];
            for (int f = 0; f < n; f++) prod[f] = uf[f] * kf[f];
            Fourier.Inverse(prod, FourierOptions.Matlab);
            var expected = new double[c.L];
            for (int i = 0; i < c.L; i++) expected[i] = prod[i].Real + d.Data[ch] * u.Data[r * c.L + i];
            Assert.True(Metrics.RelativeError(expected, y.Data.AsSpan(r * c.L, c.L)) <= 1e-12);
        }
    }

    [Property(Arbitrary = [typeof(ConvCase)])]
    public void Property_ChunkedAndSteppedEqualOneShot_Exactly(ConvCase c)
    {
        var (u, k, d) = Draw(c);
        var y = CausalConvolution.Forward(u, k, d);
        var rng = new SplitMix64((ulong)c.Seed + 1);
        int rows = c.Batch * c.C;
        var state = CausalConvolution.InitialState(rows, c.C, c.Lk);
        var chunked = new double[y.Length];
        for (int start = 0; start < c.L;)
        {
            int len = Math.Min(1 + rng.NextInt(5), c.L - start);
            var chunk = u.Slice(2, start, len);
            var yc = CausalConvolution.ForwardChunk(state, chunk, k, d);
            for (int r = 0; r < rows; r++)
                yc.Data.AsSpan(r * len, len).CopyTo(chunked.AsSpan(r * c.L + start, len));
            start += len;
        }
        Assert.Equal(y.Data, chunked);

        // Prefill on a prefix, then Step token by token.
        int prefix = c.L / 2;
        var stepped = new double[y.Length];
        ConvolutionState s;
        if (prefix > 0)
        {
            (var yp, s) = CausalConvolution.Prefill(u.Slice(2, 0, prefix), k, d);
            for (int r = 0; r < rows; r++) yp.Data.AsSpan(r * prefix, prefix).CopyTo(stepped.AsSpan(r * c.L, prefix));
        }
        else s = CausalConvolution.InitialState(rows, c.C, c.Lk);
        for (int t = prefix; t < c.L; t++)
        {
            var ut = new double[rows];
            for (int r = 0; r < rows; r++) ut[r] = u.Data[r * c.L + t];
            var yt = CausalConvolution.Step(s, ut, k, d);
            for (int r = 0; r < rows; r++) stepped[r * c.L + t] = yt[r];
        }
        Assert.Equal(y.Data, stepped);
    }

    [Property(Arbitrary = [typeof(ConvCase)])]
    public void Property_Causality_FutureInputsLeavePastOutputsUnchanged(ConvCase c)
    {
        var (u, k, d) = Draw(c);
        var y = CausalConvolution.Forward(u, k, d);
        int t0 = new SplitMix64((ulong)c.Seed + 2).NextInt(c.L);
        var perturbed = u.Clone();
        for (int r = 0; r < c.Batch * c.C; r++)
            for (int t = t0 + 1; t < c.L; t++) perturbed.Data[r * c.L + t] += 10.0;
        var y2 = CausalConvolution.Forward(perturbed, k, d);
        for (int r = 0; r < c.Batch * c.C; r++)
            for (int t = 0; t <= t0; t++) Assert.Equal(y.Data[r * c.L + t], y2.Data[r * c.L + t]);
    }

    [Property(Arbitrary = [typeof(ConvCase)])]
    public void Property_ShiftEquivariance_DelayedInputGivesDelayedOutput(ConvCase c)
    {
        var (u, k, d) = Draw(c);
        int shift = 1 + new SplitMix64((ulong)c.Seed + 3).NextInt(4);
        int rows = c.Batch * c.C, l2 = c.L + shift;
        var delayed = Tensor<double>.Zeros(c.Batch, c.C, l2);
        for (int r = 0; r < rows; r++) u.Data.AsSpan(r * c.L, c.L).CopyTo(delayed.Data.AsSpan(r * l2 + shift));
        var y = CausalConvolution.Forward(u, k, d);
        var y2 = CausalConvolution.Forward(delayed, k, d);
        for (int r = 0; r < rows; r++)
        {
            for (int t = 0; t < shift; t++) Assert.Equal(0.0, y2.Data[r * l2 + t]);
            for (int t = 0; t < c.L; t++) Assert.Equal(y.Data[r * c.L + t], y2.Data[r * l2 + shift + t]);
        }
    }

    [Property(Arbitrary = [typeof(ConvCase)])]
    public void Property_FastTier_EqualsNaive(ConvCase c)
    {
        var (u, k, d) = Draw(c);
        var y = CausalConvolution.Forward(u, k, d);
        var fast64 = CausalConvolution.ForwardFast(u, k, d, maxThreads: 2);
        Assert.True(Metrics.RelativeError(y.Data, fast64.Data, 1e-300) <= 1e-13);
        var fast32 = CausalConvolution.ForwardFast(u.Cast<float>(), k.Cast<float>(), d.Cast<float>(), maxThreads: 1);
        Assert.True(Metrics.RelativeError(y.Data, fast32.Data) <= 1e-5);
        var noSkip = CausalConvolution.ForwardFast(u, k, null);
        Assert.True(Metrics.RelativeError(CausalConvolution.Forward(u, k).Data, noSkip.Data) <= 1e-13);
    }

    [Fact]
    public void Property_FastTier_FftRouteForLongKernels_EqualsNaive()
    {
        foreach (var c in new[] { new ConvCase(2, 3, 100, 64, 1), new ConvCase(1, 2, 257, 300, 2), new ConvCase(3, 1, 129, 65, 3) })
        {
            var (u, k, d) = Draw(c);
            var y = CausalConvolution.Forward(u, k, d);
            Assert.True(Metrics.RelativeError(y.Data, CausalConvolution.ForwardFast(u, k, d, maxThreads: 2).Data) <= 1e-12);
            Assert.True(Metrics.RelativeError(y.Data, CausalConvolution.ForwardFast(u.Cast<float>(), k.Cast<float>(), d.Cast<float>(), 1).Data) <= 1e-5);
        }
    }

    [Property(Arbitrary = [typeof(ConvCase)])]
    public void Property_Bidirectional_EqualsSpectralDefinitionAndMaterialized(ConvCase c)
    {
        var (u, k, d) = Draw(c);
        var kRev = new SplitMix64((ulong)c.Seed + 4).NormalTensor<double>(0, 1, c.C, c.Lk);
        int n = 2 * c.L, rows = c.Batch * c.C;
        foreach (var mode in new[] { BidirectionalMode.Conjugate, BidirectionalMode.PadFlip })
        {
            var y = CausalConvolution.ForwardBidirectional(u, k, kRev, d, mode);
            var t = CausalConvolution.MaterializeBidirectional(k, kRev, d, c.L, mode);
            Assert.True(Metrics.RelativeError(ConvTestKit.ApplyOperator(t, u.Data, rows, c.L), y.Data) <= 1e-13);
            for (int r = 0; r < rows; r++)
            {
                int ch = r % c.C;
                var uf = Spectrum(u.Data.AsSpan(r * c.L, c.L), n);
                var kf = Spectrum(k.Data.AsSpan(ch * c.Lk, Math.Min(c.Lk, c.L)), n);
                int lr = Math.Min(c.Lk, c.L);
                var rev = kRev.Data.AsSpan(ch * c.Lk, lr);
                Complex[] kernelSpectrum;
                if (mode == BidirectionalMode.Conjugate)
                {
                    // rfft(k) + conj(rfft(k_rev)) as in H3/safari fftconv_ref.
                    var rf = Spectrum(rev, n);
                    kernelSpectrum = new Complex[n];
                    for (int f = 0; f < n; f++) kernelSpectrum[f] = kf[f] + Complex.Conjugate(rf[f]);
                }
                else
                {
                    // [k, 0..0] + [0..0, reverse(k_rev padded to L)], n = 2L.
                    var kernel = new double[n];
                    k.Data.AsSpan(ch * c.Lk, Math.Min(c.Lk, c.L)).CopyTo(kernel);
                    for (int m = 0; m < lr; m++) kernel[2 * c.L - 1 - m] += rev[m];
                    kernelSpectrum = Spectrum(kernel, n);
                }
                var prod = new Complex[n];
                for (int f = 0; f < n; f++) prod[f] = uf[f] * kernelSpectrum[f];
                Fourier.Inverse(prod, FourierOptions.Matlab);
                var expected = new double[c.L];
                for (int i = 0; i < c.L; i++) expected[i] = prod[i].Real + d.Data[ch] * u.Data[r * c.L + i];
                Assert.True(Metrics.RelativeError(expected, y.Data.AsSpan(r * c.L, c.L)) <= 1e-12, $"{mode}");
            }
        }
    }

    [Property(Arbitrary = [typeof(ConvCase)], MaxTest = 15)]
    public void Property_Backward_MatchesCentralFiniteDifferences(ConvCase c)
    {
        var (u, k, d) = Draw(c);
        var g = new SplitMix64((ulong)c.Seed + 5).NormalTensor<double>(0, 1, c.Batch, c.C, c.L);
        double Loss() => ConvTestKit.Dot(g.Data, CausalConvolution.Forward(u, k, d).Data);
        var grads = CausalConvolution.Backward(u, k, d, g);
        double eu = ConvTestKit.GradCheck(u.Data, grads.Input.Data, Loss), ek = ConvTestKit.GradCheck(k.Data, grads.Kernel.Data, Loss), ed = ConvTestKit.GradCheck(d.Data, grads.Skip!.Data, Loss);
        Assert.True(eu <= 1e-7 && ek <= 1e-7 && ed <= 1e-7, $"{eu} {ek} {ed}");
    }

    [Fact]
    public void Property_Backward_RegressionCaseWithOneTapAndSmallGradient() =>
        Property_Backward_MatchesCentralFiniteDifferences(new ConvCase(1, 1, 7, 1, 2043922836));

    [Fact]
    public void Edge_KernelLongerThanSequence_AndLengthOne()
    {
        var k = Tensor<double>.FromSpan([2.0, 3.0, 5.0], 1, 3);
        var d = Tensor<double>.FromSpan([0.5], 1);
        var y1 = CausalConvolution.Forward(Tensor<double>.FromSpan([1.0], 1, 1), k, d);
        Assert.Equal(2.5, y1.Data[0]);
        var y2 = CausalConvolution.Forward(Tensor<double>.FromSpan([1.0, 10.0], 1, 2), k, d);
        Assert.Equal([2.5, 1 * 3 + 10 * 2 + 5.0], y2.Data);
    }

    [Fact]
    public void Negative_ChannelMismatch_NamesTheArgument_AndTheComparatorRejectsAWrongOutput()
    {
        var u = Tensor<double>.Zeros(3, 8);
        var k = Tensor<double>.Zeros(2, 4);
        var e = Assert.Throws<ArgumentException>(() => CausalConvolution.Forward(u, k));
        Assert.Equal("u", e.ParamName);
        Assert.Contains("expected C = 2", e.Message);
        var e2 = Assert.Throws<ArgumentException>(() => CausalConvolution.Forward(Tensor<double>.Zeros(2, 8), k, Tensor<double>.Zeros(3)));
        Assert.Equal("d", e2.ParamName);

        var (uu, kk, dd) = Draw(new ConvCase(1, 2, 17, 5, 9));
        var y = CausalConvolution.Forward(uu, kk, dd);
        var wrong = CausalConvolution.Forward(uu, kk, dd).Data;
        wrong[5] *= 1 + 1e-3;
        Assert.True(Metrics.RelativeError(y.Data, wrong) > 1e-12);
    }

    private static Complex[] Spectrum(ReadOnlySpan<double> x, int n)
    {
        var z = new Complex[n];
        for (int i = 0; i < x.Length; i++) z[i] = x[i];
        Fourier.Forward(z, FourierOptions.Matlab);
        return z;
    }

    [Property(Arbitrary = [typeof(ConvCase)])]
    public void Property_BackwardWithoutSkip_MatchesFiniteDifferences_AndHasNoSkipGradient(ConvCase c)
    {
        // d = null is the convolution without skip: its VJP is checked against central differences of
        // y = k * u, equals the skip-ful VJP at d = 0 in du and dk, and has no skip gradient.
        var (u, k, _) = Draw(c);
        var g = new SplitMix64((ulong)c.Seed + 6).NormalTensor<double>(0, 1, c.Batch, c.C, c.L);
        double Loss() => ConvTestKit.Dot(g.Data, CausalConvolution.Forward(u, k).Data);
        var grads = CausalConvolution.Backward(u, k, null, g);
        Assert.Null(grads.Skip);
        double eu = ConvTestKit.GradCheck(u.Data, grads.Input.Data, Loss), ek = ConvTestKit.GradCheck(k.Data, grads.Kernel.Data, Loss);
        Assert.True(eu <= 1e-7 && ek <= 1e-7, $"{eu} {ek}");
        var zeroSkip = CausalConvolution.Backward(u, k, Tensor<double>.Zeros(c.C), g);
        Assert.Equal(zeroSkip.Input.Data, grads.Input.Data);
        Assert.Equal(zeroSkip.Kernel.Data, grads.Kernel.Data);
    }

    [Fact]
    public void Edge_BackwardWithoutSkip_HandValues()
    {
        // y[t] = sum_j k[j] u[t - j]; du[s] = sum_t dy[t] k[t - s], dk[j] = sum_t dy[t] u[t - j].
        // u = [1, 2, 3], k = [10, 1], dy = [1, 0, 2]: du = [1*10 + 0*1, 0*10 + 2*1, 2*10] = [10, 2, 20],
        // dk = [1*1 + 0*2 + 2*3, 0*1 + 2*2] = [7, 4].
        var u = Tensor<double>.FromSpan([1.0, 2.0, 3.0], 1, 3);
        var k = Tensor<double>.FromSpan([10.0, 1.0], 1, 2);
        var g = CausalConvolution.Backward(u, k, null, Tensor<double>.FromSpan([1.0, 0.0, 2.0], 1, 3));
        Assert.Equal([10.0, 2.0, 20.0], g.Input.Data);
        Assert.Equal([7.0, 4.0], g.Kernel.Data);
        Assert.Null(g.Skip);
    }

    [Fact]
    public void Negative_StateStepAndMaterializeChecks_NameTheArgument_AndTheSmallestValidValuesAreAccepted()
    {
        Assert.Equal("channels", Assert.Throws<ArgumentOutOfRangeException>(() => CausalConvolution.InitialState(1, 0, 1)).ParamName);
        Assert.Equal("kernelLength", Assert.Throws<ArgumentOutOfRangeException>(() => CausalConvolution.InitialState(1, 1, 0)).ParamName);
        Assert.Equal("rows", Assert.Throws<ArgumentException>(() => CausalConvolution.InitialState(0, 1, 1)).ParamName);
        Assert.Equal("rows", Assert.Throws<ArgumentException>(() => CausalConvolution.InitialState(3, 2, 1)).ParamName);
        var one = CausalConvolution.InitialState(1, 1, 1);
        Assert.Equal((1, 1, 1, 0), (one.Rows, one.Channels, one.KernelLength, one.History.Length));
        Assert.Equal(4 * 2, CausalConvolution.InitialState(4, 2, 3).History.Length);

        // ForwardChunk: the state must match rows, C and Lk of the chunk and kernel (each alone).
        var k = new SplitMix64(3).NormalTensor<double>(0, 1, 2, 3);
        var u = new SplitMix64(4).NormalTensor<double>(0, 1, 1, 2, 5);
        Assert.Equal("state", Assert.Throws<ArgumentNullException>(() => CausalConvolution.ForwardChunk(null!, u, k)).ParamName);
        foreach (var (rows, channels, lk) in new[] { (4, 2, 3), (2, 1, 3), (2, 2, 4) })
            Assert.Equal("state", Assert.Throws<ArgumentException>(
                () => CausalConvolution.ForwardChunk(CausalConvolution.InitialState(rows, channels, lk), u, k)).ParamName);
        Assert.Equal(CausalConvolution.Forward(u, k).Data, CausalConvolution.ForwardChunk(CausalConvolution.InitialState(2, 2, 3), u, k).Data);

        // Step: null state, a token of the wrong length.
        Assert.Equal("state", Assert.Throws<ArgumentNullException>(() => CausalConvolution.Step(null!, new double[2], k)).ParamName);
        Assert.Equal("uT", Assert.Throws<ArgumentException>(() => CausalConvolution.Step(CausalConvolution.InitialState(2, 2, 3), new double[3], k)).ParamName);

        // Materialize: L = 0 rejected, L = 1 is the 1 x 1 matrix k[0] + d.
        Assert.Equal("length", Assert.Throws<ArgumentOutOfRangeException>(() => CausalConvolution.Materialize(k, null, 0)).ParamName);
        var m1 = CausalConvolution.Materialize(Tensor<double>.FromSpan([2.0, 7.0], 1, 2), Tensor<double>.FromSpan([0.5], 1), 1);
        Assert.Equal([2.5], m1.Data);
    }

    [Fact]
    public void Negative_InputKernelSkipAndReverseShapes_NameTheArgument()
    {
        var u = Tensor<double>.Zeros(1, 2, 4);
        var k = Tensor<double>.Zeros(2, 3);
        var kRev = Tensor<double>.Zeros(2, 2);
        ArgumentException Throws<TException>(Func<object> f, string name) where TException : ArgumentException
        {
            var e = Assert.Throws<TException>(f);
            Assert.Equal(name, e.ParamName);
            return e;
        }
        Throws<ArgumentNullException>(() => CausalConvolution.Forward(null!, k), "u");
        Throws<ArgumentException>(() => CausalConvolution.Forward(Tensor<double>.Zeros(4), Tensor<double>.Zeros(1, 3)), "u");
        Throws<ArgumentException>(() => CausalConvolution.Forward(Tensor<double>.Zeros(1, 2, 0), k), "u");
        Throws<ArgumentNullException>(() => CausalConvolution.Forward(u, null!), "k");
        Throws<ArgumentException>(() => CausalConvolution.Forward(u, Tensor<double>.Zeros(3)), "k");
        Throws<ArgumentException>(() => CausalConvolution.Forward(Tensor<double>.Zeros(1, 0, 4), Tensor<double>.Zeros(0, 3)), "k");
        Throws<ArgumentException>(() => CausalConvolution.Forward(u, Tensor<double>.Zeros(2, 0)), "k");
        Throws<ArgumentException>(() => CausalConvolution.Forward(u, k, Tensor<double>.Zeros(1, 2)), "d");
        // The smallest valid shapes: L = 1, Lk = 1, C = 1, u of rank 2.
        Assert.Equal([6.0], CausalConvolution.Forward(Tensor<double>.FromSpan([2.0], 1, 1), Tensor<double>.FromSpan([3.0], 1, 1)).Data);

        Throws<ArgumentNullException>(() => CausalConvolution.ForwardBidirectional(u, k, null!, null, BidirectionalMode.Conjugate), "kRev");
        Throws<ArgumentException>(() => CausalConvolution.ForwardBidirectional(u, k, Tensor<double>.Zeros(1, 2), null, BidirectionalMode.Conjugate), "kRev");
        Throws<ArgumentException>(() => CausalConvolution.ForwardBidirectional(u, k, Tensor<double>.Zeros(2), null, BidirectionalMode.Conjugate), "kRev");
        Throws<ArgumentException>(() => CausalConvolution.ForwardBidirectional(u, k, Tensor<double>.Zeros(2, 0), null, BidirectionalMode.Conjugate), "kRev");
        Assert.Equal(u.ShapeArray, CausalConvolution.ForwardBidirectional(u, k, Tensor<double>.Zeros(2, 1), null, BidirectionalMode.PadFlip).ShapeArray);

        Throws<ArgumentException>(() => CausalConvolution.Backward(u, k, null, Tensor<double>.Zeros(1, 2, 5)), "dy");
        Throws<ArgumentNullException>(() => CausalConvolution.Backward(u, k, null, null!), "dy");
    }

    /// <summary>
    /// The direct batched convolution (H3's shift SSM in training) against the naive definition per sequence:
    /// y and du to 1e-13 relative, dk against the in-order sum of the per-sequence naive kernel gradients;
    /// kernels shorter than, equal to and longer than L (taps past L get dk 0), lengths with a partial
    /// vector block; 1 and 2 threads bitwise the same.
    /// </summary>
    [Theory]
    [InlineData(4, 3, 256, 64)]
    [InlineData(2, 2, 37, 5)]
    [InlineData(3, 1, 20, 30)]
    [InlineData(1, 4, 8, 1)]
    public void DirectBatched_ForwardAndBackward_MatchNaivePerSequence(int sequences, int channels, int length, int kernelLength)
    {
        var (u, dy, k, y, du, dk) = Reference.SpecTests.Core.BatchedConvolutionCase.Draw((ulong)(sequences * 7 + channels * 3 + length + kernelLength), sequences, channels, length, kernelLength);
        double[]? first = null;
        foreach (int threads in new[] { 1, 2 })
        {
            var fy = Enumerable.Repeat(double.NaN, u.Length).ToArray();
            var fu = Enumerable.Repeat(double.NaN, u.Length).ToArray();
            var fk = Enumerable.Repeat(double.NaN, k.Length).ToArray();
            CausalConvolution.DirectBatched(u, k, fy, sequences, channels, length, kernelLength, threads);
            CausalConvolution.DirectBackwardBatched(dy, u, k, fu, fk, sequences, channels, length, kernelLength, threads);
            Assert.True(Metrics.RelativeError(y, fy) <= 1e-13, $"y: {Metrics.RelativeError(y, fy)}");
            Assert.True(Metrics.RelativeError(du, fu) <= 1e-13, $"du: {Metrics.RelativeError(du, fu)}");
            Assert.True(Metrics.RelativeError(dk, fk) <= 1e-13, $"dk: {Metrics.RelativeError(dk, fk)}");
            double[] all = [.. fy, .. fu, .. fk];
            if (first is null) first = all;
            else Assert.Equal(first, all);
        }
        Assert.Equal("dy", Assert.Throws<ArgumentException>(() =>
            CausalConvolution.DirectBackwardBatched(new double[1], u, k, du, dk, sequences, channels, length, kernelLength)).ParamName);
        Assert.Equal("k", Assert.Throws<ArgumentException>(() =>
            CausalConvolution.DirectBatched(u, new double[1], y, sequences, channels, length, kernelLength)).ParamName);
    }

    /// <summary>
    /// The direct sums with the skip term D u (forward) and D dy (backward) in their store, against the full chains written out:
    /// per output, every tap fused-multiply-added in j order with the zero padding included (the taps that only meet padding are
    /// skipped by the kernel: they must leave the bits as they are), then + u D (dy D) rounded separately. Bitwise, 1 and 2
    /// threads; dk bitwise the same with and without the skip. The H3 shape, lengths with partial blocks, a kernel longer than L.
    /// </summary>
    [Theory]
    [InlineData(4, 3, 256, 64)]
    [InlineData(2, 2, 100, 64)]
    [InlineData(2, 2, 37, 5)]
    [InlineData(3, 1, 20, 30)]
    [InlineData(1, 2, 9, 1)]
    public void DirectBatched_SkipInStoreAndTrimmedTaps_EqualFullChainsBitwise(int sequences, int channels, int length, int kernelLength)
    {
        var (u, dy, k, _, _, _) = Reference.SpecTests.Core.BatchedConvolutionCase.Draw((ulong)(sequences * 5 + channels + length * 3 + kernelLength), sequences, channels, length, kernelLength);
        var skip = Enumerable.Range(0, channels).Select(c => 0.75 - 0.5 * c).ToArray();
        int taps = Math.Min(kernelLength, length);
        var y = new double[u.Length];
        var du = new double[u.Length];
        for (int s = 0; s < sequences; s++)
            for (int c = 0; c < channels; c++)
            {
                int row = (s * channels + c) * length;
                for (int t = 0; t < length; t++)
                {
                    double acc = 0.0, back = 0.0;
                    for (int j = 0; j < taps; j++)
                    {
                        acc = Math.FusedMultiplyAdd(k[c * kernelLength + j], t - j >= 0 ? u[row + t - j] : 0.0, acc);
                        back = Math.FusedMultiplyAdd(k[c * kernelLength + j], t + j < length ? dy[row + t + j] : 0.0, back);
                    }
                    y[row + t] = acc + u[row + t] * skip[c];
                    du[row + t] = back + dy[row + t] * skip[c];
                }
            }
        foreach (int threads in new[] { 1, 2 })
        {
            var fy = Enumerable.Repeat(double.NaN, u.Length).ToArray();
            var fu = Enumerable.Repeat(double.NaN, u.Length).ToArray();
            var fk = Enumerable.Repeat(double.NaN, k.Length).ToArray();
            var fk0 = Enumerable.Repeat(double.NaN, k.Length).ToArray();
            CausalConvolution.DirectBatched(u, k, fy, sequences, channels, length, kernelLength, threads, skip);
            CausalConvolution.DirectBackwardBatched(dy, u, k, fu, fk, sequences, channels, length, kernelLength, threads, skip);
            CausalConvolution.DirectBackwardBatched(dy, u, k, new double[u.Length], fk0, sequences, channels, length, kernelLength, threads);
            Assert.Equal(y, fy);
            Assert.Equal(du, fu);
            Assert.Equal(fk0, fk);
        }
        Assert.Equal("skip", Assert.Throws<ArgumentException>(() =>
            CausalConvolution.DirectBatched(u, k, y, sequences, channels, length, kernelLength, 1, new double[channels + 1])).ParamName);
        Assert.Equal("skip", Assert.Throws<ArgumentException>(() =>
            CausalConvolution.DirectBackwardBatched(dy, u, k, du, new double[k.Length], sequences, channels, length, kernelLength, 1, new double[channels + 1])).ParamName);
    }
}
