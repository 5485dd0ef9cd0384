using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Core.Fourier;
using Reference.Core.Kernels;
using Reference.Ess;
using Reference.Operators.Attention;
using Reference.Operators.Recurrence;
using Reference.Operators.StateSpace;
using Reference.SpecTests.Core;
using Reference.SpecTests.Operators.StateSpace;
using static Reference.SpecTests.Operators.Attention.AttentionCheck;

namespace Reference.SpecTests.Operators;

/// <summary>A case for the Into forms: a batch, heads or channels, a length, a thread count and a seed.</summary>
public sealed record IntoCase(int Batch, int Heads, int Length, int Threads, int Seed)
{
    public static Arbitrary<IntoCase> Arbitrary() =>
        (from b in Gen.Elements(1, 2)
         from h in Gen.Elements(1, 2, 3)
         from l in Gen.Elements(1, 5, 17, 40, 64, 100)
         from threads in Gen.Elements(0, 1, 2, 3)
         from seed in Cases.Seed
         select new IntoCase(b, h, l, threads, seed)).ToArbitrary();
}

/// <summary>
/// Every fast tier's <c>...Into(output, ...)</c> form against its allocating form (bitwise: the same
/// kernel, and results do not depend on the thread count), on an output buffer that starts full of NaN
/// and is then reused dirty; and the one error for a wrong output shape.
/// </summary>
public class FastIntoFormsTests
{
    /// <summary>A buffer of the given shape full of NaN: an Into form must overwrite every element.</summary>
    private static Tensor<T> Dirty<T>(params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = Tensor<T>.Zeros(shape);
        t.Data.AsSpan().Fill(T.NaN);
        return t;
    }

    /// <summary>Runs <paramref name="into"/> on a NaN buffer, then again on the same (now dirty) buffer; both equal <paramref name="expected"/>.</summary>
    private static void AssertIntoEquals<T>(Tensor<T> expected, Action<Tensor<T>> into) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var output = Dirty<T>(expected.ShapeArray);
        into(output);
        Assert.Equal(expected.Data, output.Data);
        output.Data.AsSpan(0, output.Length / 2).Fill(T.CreateChecked(12345));
        into(output);
        Assert.Equal(expected.Data, output.Data);
    }

    private static void AssertOutputError(Action call, int expectedLength)
    {
        var e = Assert.Throws<ArgumentException>(call);
        Assert.Equal("output", e.ParamName);
        Assert.Contains($"length {expectedLength}", e.Message);
    }

    private static Tensor<T> Scan<T>(SelectiveScanInputs<double> p, int threads) where T : unmanaged, IFloatingPointIeee754<T> =>
        SelectiveScan.ForwardFast(p.U.Cast<T>(), p.Delta.Cast<T>(), p.ALog.Cast<T>(), p.B.Cast<T>(), p.C.Cast<T>(),
            p.D?.Cast<T>(), p.Z?.Cast<T>(), p.DeltaBias?.Cast<T>(), threads);

    private static void ScanInto<T>(Tensor<T> output, SelectiveScanInputs<double> p, int threads) where T : unmanaged, IFloatingPointIeee754<T> =>
        SelectiveScan.ForwardFastInto(output, p.U.Cast<T>(), p.Delta.Cast<T>(), p.ALog.Cast<T>(), p.B.Cast<T>(), p.C.Cast<T>(),
            p.D?.Cast<T>(), p.Z?.Cast<T>(), p.DeltaBias?.Cast<T>(), threads);

    [Property(Arbitrary = [typeof(ScanCase)], MaxTest = 25)]
    public void Property_SelectiveScanInto_EqualsTheAllocatingForm(ScanCase c)
    {
        var p = c.Inputs();
        AssertIntoEquals(Scan<float>(p, 1), o => ScanInto(o, p, 1 + c.Seed % 3));
        AssertIntoEquals(Scan<double>(p, 2), o => ScanInto(o, p, 1));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Edge_SelectiveScan_FullWideBlocks_MatchNaive_AndTheIntoForm(bool gate)
    {
        // 40 channels per group: two full blocks of 16 floats (the AVX-512 path's register transposes
        // and Vector512 recurrence, where present) and a partial block of 8; L = 300 crosses a chunk.
        var p = new ScanCase(1, 80, 2, 300, 16, 4, gate, 5).Inputs();
        var expected = SelectiveScan.Forward(p);
        var fast = Scan<float>(p, 2);
        Assert.True(Rel(expected, fast.Cast<double>()) <= 1e-5);
        AssertIntoEquals(fast, o => ScanInto(o, p, 1));
    }

    [Fact]
    public void Negative_SelectiveScanInto_WrongOutputShape_NamesOutputAndLength()
    {
        var p = new ScanCase(1, 2, 1, 4, 2, 2, false, 1).Inputs();
        AssertOutputError(() => ScanInto(Tensor<double>.Zeros(1, 2, 5), p, 1), 8);
        Assert.Equal("output", Assert.Throws<ArgumentNullException>(() => ScanInto<double>(null!, p, 1)).ParamName);
    }

    [Property(Arbitrary = [typeof(IntoCase)], MaxTest = 15)]
    public void Property_S4DKernelInto_EqualsTheAllocatingForm(IntoCase c)
    {
        var p = S4DParameters.Initialize(new SplitMix64((ulong)c.Seed), c.Heads, 4 + 2 * c.Batch);
        // 64 = 8^2 fills whole blocks (written in place), the other lengths end on a partial block.
        AssertIntoEquals(S4D.KernelFast<float>(p, c.Length, Discretization.Zoh, 1),
            o => S4D.KernelFastInto(o, p, c.Length, Discretization.Zoh, c.Threads));
        AssertIntoEquals(S4D.KernelFast<double>(p, c.Length, Discretization.Bilinear, 2),
            o => S4D.KernelFastInto(o, p, c.Length, Discretization.Bilinear, c.Threads));
    }

    [Fact]
    public void Negative_S4DKernelInto_WrongOutputShape_NamesOutputAndLength()
    {
        var p = S4DParameters.Initialize(new SplitMix64(1), 3, 4);
        AssertOutputError(() => S4D.KernelFastInto(Tensor<float>.Zeros(3, 9), p, 10, Discretization.Zoh), 30);
    }

    [Property(Arbitrary = [typeof(IntoCase)], MaxTest = 15)]
    public void Property_GlaChunkedInto_EqualsTheAllocatingForm(IntoCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        int kd = 1 + c.Seed % 9, vd = 1 + c.Seed / 9 % 17;
        var q = rng.NormalTensor<float>(0, 1, c.Batch, c.Heads, c.Length, kd);
        var k = rng.NormalTensor<float>(0, 1, c.Batch, c.Heads, c.Length, kd);
        var v = rng.NormalTensor<float>(0, 1, c.Batch, c.Heads, c.Length, vd);
        var g = GatedLinearAttention.LogSigmoidGate(rng.NormalTensor<double>(0, 1, c.Batch, c.Heads, c.Length, kd)).Cast<float>();
        AssertIntoEquals(GatedLinearAttention.ChunkedFast(q, k, v, g, maxThreads: 1),
            o => GatedLinearAttention.ChunkedFastInto(o, q, k, v, g, maxThreads: c.Threads));
        AssertOutputError(() => GatedLinearAttention.ChunkedFastInto(Tensor<float>.Zeros(c.Batch, c.Heads, c.Length, vd + 1), q, k, v, g),
            c.Batch * c.Heads * c.Length * vd);
    }

    [Property(Arbitrary = [typeof(IntoCase)], MaxTest = 15)]
    public void Property_SoftmaxAttentionInto_EqualsTheAllocatingForm(IntoCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        // Value widths off and on the kernel's 16-float register tile (the padded-V path and the direct one).
        int kd = 1 + c.Seed % 20, vd = c.Seed % 2 == 0 ? 16 : 1 + c.Seed / 2 % 20;
        var q = rng.NormalTensor<float>(0, 1, c.Batch, c.Heads, c.Length, kd);
        var k = rng.NormalTensor<float>(0, 1, c.Batch, c.Heads, c.Length, kd);
        var v = rng.NormalTensor<float>(0, 1, c.Batch, c.Heads, c.Length, vd);
        foreach (var options in new SoftmaxAttentionOptions?[] { null, new(Window: 3), new(Causal: false) })
            AssertIntoEquals(SoftmaxAttention.ForwardFast(q, k, v, options, maxThreads: 1),
                o => SoftmaxAttention.ForwardFastInto(o, q, k, v, options, maxThreads: c.Threads));
        AssertOutputError(() => SoftmaxAttention.ForwardFastInto(Tensor<float>.Zeros(c.Batch, c.Heads, c.Length + 1, vd), q, k, v),
            c.Batch * c.Heads * c.Length * vd);
    }

    [Property(Arbitrary = [typeof(IntoCase)], MaxTest = 15)]
    public void Property_FftCausalConvolution_IntoADirtyBuffer_EqualsAFreshOne(IntoCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        int channels = c.Batch * c.Heads + 2, kernelLength = c.Seed % 2 == 0 ? c.Length : 1 + c.Seed % 40;   // FFT and direct routes
        var u = rng.NormalTensor<float>(0, 1, channels, c.Length);
        var k = rng.NormalTensor<float>(0, 1, channels, kernelLength);
        var fresh = Tensor<float>.Zeros(channels, c.Length);
        FftConvolution.Causal<float>(u.Data, k.Data, fresh.Data, channels, c.Length, kernelLength, maxThreads: 1);
        AssertIntoEquals(fresh, o => FftConvolution.Causal<float>(u.Data, k.Data, o.Data, channels, c.Length, kernelLength, maxThreads: c.Threads));
    }

    [Property(Arbitrary = [typeof(IntoCase)], MaxTest = 10)]
    public void Property_EssComputeInto_EqualsTheAllocatingForm(IntoCase c)
    {
        int length = 2 + c.Length % 23;
        var t = new SplitMix64((ulong)c.Seed).NormalTensor<double>(0, 1, c.Heads, length, length);
        for (int m = 0; m < c.Heads; m++)
            for (int i = 0; i < length; i++)
                for (int j = i + 1; j < length; j++) t.Data[(m * length + i) * length + j] = 0;
        foreach (var options in new[] { EssOptions.Default, new EssOptions(EssMode.Entropy) })
        {
            AssertIntoEquals(EffectiveStateSize.Compute(t, options, maxThreads: 1),
                o => EffectiveStateSize.ComputeInto(o, t, options, maxThreads: c.Threads));
            var grid = EffectiveStateSize.SplitGrid(length, 3);
            AssertIntoEquals(EffectiveStateSize.Compute(t, options, grid, maxThreads: 1),
                o => EffectiveStateSize.ComputeInto(o, t, options, grid, maxThreads: c.Threads));
        }
        AssertOutputError(() => EffectiveStateSize.ComputeInto(Tensor<double>.Zeros(c.Heads, length), t), c.Heads * (length - 1));
    }

    [Property(Arbitrary = [typeof(IntoCase)], MaxTest = 8)]
    public void Property_MambaBlockInto_EqualsTheAllocatingForm(IntoCase c)
    {
        // State 16 (the scan's float32 register path) or 5; the workspace is reused dirty by the second call.
        var p = MambaParameters.Initialize(new SplitMix64((ulong)c.Seed), modelWidth: 6 + c.Heads, stateSize: c.Seed % 2 == 0 ? 16 : 5);
        var u = new SplitMix64((ulong)c.Seed + 1).NormalTensor<float>(0, 1, c.Batch, c.Length, p.ModelWidth);
        var f = MambaBlock.Prepare<float>(p);
        AssertIntoEquals(MambaBlock.ForwardFast(f, u, 1), o => MambaBlock.ForwardFastInto(o, f, u, c.Threads));
        AssertOutputError(() => MambaBlock.ForwardFastInto(Tensor<float>.Zeros(c.Batch, c.Length + 1, p.ModelWidth), f, u),
            c.Batch * c.Length * p.ModelWidth);
    }

    /// <summary>Bytes the calling thread allocates in one call of <paramref name="call"/> (the delegate is made before the count starts).</summary>
    private static long AllocatedBy(Action call)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        call();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    /// <summary>
    /// A repeated Into call allocates nothing on the calling thread, at 1 thread and at 2: each form is
    /// warmed up (JIT, per-thread pools, the pooled dispatch record) and then counted over three calls.
    /// At 2 threads a helper queued by an earlier call that has not started yet (a busy machine) still
    /// holds that call's dispatch record, and the next call makes a new one (48 B) once the pool is
    /// empty; so at 2 threads the count is retried after a pause that lets late helpers finish, and
    /// one round of three calls must allocate nothing. The same retry runs at 1 thread: a full-suite run
    /// (2026-12-05, load ~40) once counted 7,944 B over three S4D calls at 1 thread that the method alone never
    /// shows (a one-time allocation on the thread while the calls ran, e.g. by the runtime); a per-call
    /// allocation still fails every round. Helper threads take their workspaces from their
    /// own per-thread pools; their allocations are not in this per-thread count (a process-wide count
    /// would include the tests that xunit runs alongside).
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Into_RepeatedCall_AllocatesNothingOnTheCallingThread(int threads)
    {
        var rng = new SplitMix64(21);
        var scan16 = new ScanCase(1, 40, 1, 300, 16, 4, true, 3).Inputs();
        var scan5 = new ScanCase(2, 12, 2, 70, 5, 4, true, 4).Inputs();
        var (u16, d16, a16, b16, c16, s16, z16, bias16) = (scan16.U.Cast<float>(), scan16.Delta.Cast<float>(), scan16.ALog.Cast<float>(),
            scan16.B.Cast<float>(), scan16.C.Cast<float>(), scan16.D!.Cast<float>(), scan16.Z!.Cast<float>(), scan16.DeltaBias!.Cast<float>());
        var y16 = Tensor<float>.Zeros(u16.ShapeArray);
        var y5 = Tensor<double>.Zeros(scan5.U.ShapeArray);
        var s4d = S4DParameters.Initialize(new SplitMix64(2), 6, 8);
        var s4dOut = Tensor<float>.Zeros(6, 50);
        var q = rng.NormalTensor<float>(0, 1, 1, 2, 70, 16);
        var k = rng.NormalTensor<float>(0, 1, 1, 2, 70, 16);
        var v = rng.NormalTensor<float>(0, 1, 1, 2, 70, 16);
        var g = GatedLinearAttention.LogSigmoidGate(rng.NormalTensor<double>(0, 1, 1, 2, 70, 16)).Cast<float>();
        var glaOut = Tensor<float>.Zeros(1, 2, 70, 16);
        var attOut = Tensor<float>.Zeros(1, 2, 70, 16);
        var cu = rng.NormalTensor<float>(0, 1, 4, 200).Data;
        var ck = rng.NormalTensor<float>(0, 1, 4, 200).Data;
        var cy = new float[4 * 200];
        // Batched (2 sequences sharing 4 kernels) forward with u's spectra kept, and both backward forms (with and without them).
        var bu = rng.NormalTensor<float>(0, 1, 2, 4, 200).Data;
        var bdy = rng.NormalTensor<float>(0, 1, 2, 4, 200).Data;
        var (by, bdu, bdk) = (new float[2 * 4 * 200], new float[2 * 4 * 200], new float[4 * 200]);
        var spectra = new float[2 * 4 * 2 * FftConvolution.SpectrumBins(200, 200)];
        var essT = rng.NormalTensor<double>(0, 1, 2, 12, 12);
        var essOut = Tensor<double>.Zeros(2, 11);
        var essOptions = new EssOptions(EssMode.Entropy);
        var forms = new (string Name, Action Call)[]
        {
            ("scan N = 16 float32", () => SelectiveScan.ForwardFastInto(y16, u16, d16, a16, b16, c16, s16, z16, bias16, threads)),
            ("scan N = 5 float64", () => SelectiveScan.ForwardFastInto(y5, scan5.U, scan5.Delta, scan5.ALog, scan5.B, scan5.C, scan5.D, scan5.Z, scan5.DeltaBias, threads)),
            ("S4D kernel", () => S4D.KernelFastInto(s4dOut, s4d, 50, Discretization.Zoh, threads)),
            ("GLA chunked", () => GatedLinearAttention.ChunkedFastInto(glaOut, q, k, v, g, maxThreads: threads)),
            ("attention", () => SoftmaxAttention.ForwardFastInto(attOut, q, k, v, maxThreads: threads)),
            ("FFT convolution", () => FftConvolution.Causal<float>(cu, ck, cy, 4, 200, 200, threads)),
            ("FFT convolution backward", () => FftConvolution.CausalBackward<float>(cy, cu, ck, bdu.AsSpan(0, 800), bdk, 4, 200, 200, threads)),
            ("FFT convolution batched", () => FftConvolution.CausalBatched<float>(bu, ck, by, 2, 4, 200, 200, threads, spectra)),
            ("FFT convolution batched backward", () => FftConvolution.CausalBackwardBatched<float>(bdy, bu, ck, bdu, bdk, 2, 4, 200, 200, threads)),
            ("FFT convolution batched backward, kept spectra",
                () => FftConvolution.CausalBackwardBatched<float>(bdy, bu, ck, bdu, bdk, 2, 4, 200, 200, threads, spectra)),
            ("ESS", () => EffectiveStateSize.ComputeInto(essOut, essT, essOptions, maxThreads: threads)),
        };
        foreach (var (name, call) in forms)
        {
            for (int w = 0; w < 3; w++) call();
            long bytes = AllocatedBy(call) + AllocatedBy(call) + AllocatedBy(call);
            for (int round = 0; round < 5 && bytes != 0; round++)
            {
                Thread.Sleep(100);
                bytes = AllocatedBy(call) + AllocatedBy(call) + AllocatedBy(call);
            }
            Assert.True(bytes == 0, $"{name} at {threads} threads: {bytes} B in three calls");
        }
    }

    [Fact]
    public void Exp2Decay512_IsWithinTwoUlpsOf2ToTheX_AndFlushesBelowMinus126()
    {
        if (!Avx512F.IsSupported) return;   // the form exists for AVX-512 cores only; the scan falls back to Vector256 elsewhere
        var rng = new SplitMix64(9);
        double worst = 0;
        var x = new float[16];
        for (int trial = 0; trial < 20000; trial++)
        {
            for (int i = 0; i < 16; i++) x[i] = (float)(-126.0 * rng.Uniform());
            var y = VectorMath.Exp2Decay(Vector512.Create(x));
            for (int i = 0; i < 16; i++)
                worst = Math.Max(worst, Math.Abs(y[i] / Math.Pow(2.0, x[i]) - 1));
        }
        Assert.True(worst <= 2.4e-7, $"max relative error {worst}");
        var low = VectorMath.Exp2Decay(Vector512.Create(-1000f));
        Assert.Equal(MathF.Pow(2, -126), low[0]);
        Assert.Equal(1f, VectorMath.Exp2Decay(Vector512<float>.Zero)[3]);
    }
}
