using Reference.Autodiff;
using Reference.Core;
using Reference.Operators.Convolution;

namespace Reference.SpecTests.Operators.Convolution;

/// <summary>
/// conv.hyena_filter (safari's HyenaFilter with every option): hand-derived filters per option, the decay percentages,
/// the default options against conv.hyena's filter, fast = naive (float64, float32 bounds), causality and gradients.
/// </summary>
public class HyenaFilterTests
{
    private const double Quarter = Math.PI / 2;

    /// <summary>D channels, F = 1, E = 3, l_max = 2, z = [[1, 0, 0], [1, 0, 0]] given, W0 = [1, 0, 0], b0 = 0, freq = pi/2.</summary>
    private static HyenaFilterParameters Tiny(double[] wOut, double[] deltas, double[][] innerW, double[][] innerB, HyenaFilterOptions options) =>
        new(wOut.Length, 1, 3, 2, [1, 0, 0], [0], innerW, innerB, wOut, [Quarter], deltas, Enumerable.Repeat(0.25, wOut.Length).ToArray(),
            [1, 0, 0, 1, 0, 0]) { Options = options };

    private static void Near(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-14, $"[{i}]: {expected[i]} vs {actual[i]}");
    }

    [Fact]
    public void HandCases_EveryOption()
    {
        // a = sin(pi/2 (1 * 1 + 0)) = 1 at both positions; g = w_out a = 2; t = [0, 1]; delta = ln 2: window = [1, 1/2].
        var ln2 = Math.Log(2);
        Near([2, 1], HyenaFilter.Filter(Tiny([2], [ln2], [], [], HyenaFilterOptions.Default), 2).Data);
        // shift 0.5: window + shift = [1.5, 1] -> h = [3, 2].
        Near([3, 2], HyenaFilter.Filter(Tiny([2], [ln2], [], [], new HyenaFilterOptions(Shift: 0.5)), 2).Data);
        // modulate off: h = g = [2, 2] (the deltas are not read).
        Near([2, 2], HyenaFilter.Filter(Tiny([2], [ln2], [], [], new HyenaFilterOptions(Modulate: false)), 2).Data);
        // one inner layer W1 = 1/3, b1 = 0: a = sin(pi/2 / 3) = 1/2 -> g = 1 -> h = [1, 1/2].
        Near([1, 0.5], HyenaFilter.Filter(Tiny([2], [ln2], [[1.0 / 3]], [[0.0]], HyenaFilterOptions.Default), 2).Data);
        // normalized, D = 2, w_out = [2, -6], deltas [ln 2, ln 4]: position 0 g = [2, -6] / 8; position 1 g = [1, -1.5] / 2.5.
        Near([0.25, 0.4, -0.75, -0.6], HyenaFilter.Filter(Tiny([2, -6], [ln2, Math.Log(4)], [], [], new HyenaFilterOptions(Normalized: true)), 2).Data);
        // The convolution with u = [1, 0]: y = [h0 + bias, h1]; bias off: y = [h0, h1].
        var u = new Tensor<double>([1.0, 0.0], 1, 1, 2);
        Near([2.25, 1], HyenaFilter.Forward(Tiny([2], [ln2], [], [], HyenaFilterOptions.Default), u).Data);
        Near([2, 1], HyenaFilter.Forward(Tiny([2], [ln2], [], [], new HyenaFilterOptions(UseBias: false)), u).Data);
    }

    [Fact]
    public void DecayPercentages_GiveTheLinspaceOfLogTargetOverThem()
    {
        // target = e^-1, fast 0.5, slow 1: max decay = -1 / 0.5 = -2, min decay = -1 / 1 = -1; linspace(-1, -2, 3) = [-1, -1.5, -2].
        Near([-1, -1.5, -2], HyenaFilter.Deltas(3, 0.5, 1.0, Math.Exp(-1)));
        Near([Math.Log(1e-2) / 1.5], HyenaFilter.Deltas(1, 0.3, 1.5, 1e-2));
        Assert.Throws<ArgumentOutOfRangeException>(() => HyenaFilter.Deltas(2, 0.0, 1.5, 1e-2));
    }

    [Fact]
    public void DefaultOptions_EqualConvHyenasFilter()
    {
        // conv.hyena's filter is safari's default HyenaFilter (2 inner layers, modulate, shift 0, fixed z): the same arrays give
        // the same h.
        var hp = HyenaParameters.Initialize(new SplitMix64(8), 3, 20, order: 2, filterWidth: 6, embeddingDim: 5);
        var fp = new HyenaFilterParameters(3, 6, 5, 20, hp.W0, hp.B0, [hp.W1, hp.W2], [hp.B1, hp.B2], hp.W3, hp.Freq, hp.Deltas, hp.FilterBias);
        Assert.Equal(Hyena.Filter(hp, 17).Data, HyenaFilter.Filter(fp, 17).Data);
    }

    private static HyenaFilterParameters Random(int seed, int channels, int lmax, int inner, HyenaFilterOptions options, bool givenZ)
    {
        var rng = new SplitMix64((ulong)seed);
        var p = HyenaFilterParameters.Initialize(rng, channels, lmax, filterWidth: 8, embeddingDim: 5, innerMlps: inner, w: 2.0);
        return p with { Options = options, Z = givenZ ? rng.NormalTensor<double>(0, 1, lmax * 5).Data : null };
    }

    public static TheoryData<int, bool, double, bool, bool, bool> Options => new()
    {
        { 0, true, 0.0, true, false, false },
        { 1, false, 0.0, false, true, true },
        { 3, true, 0.3, true, true, false },
        { 2, true, -0.2, false, false, true },
    };

    [Theory]
    [MemberData(nameof(Options))]
    public void FastTier_EqualsNaive_Float64AndFloat32_AndIsCausal(int inner, bool modulate, double shift, bool bias, bool normalized, bool givenZ)
    {
        var p = Random(inner + 40, 3, 80, inner, new HyenaFilterOptions(modulate, shift, bias, normalized), givenZ);
        var u = new SplitMix64(5).NormalTensor<double>(0, 1, 2, 3, 70);
        var naive = HyenaFilter.Forward(p, u);
        Assert.True(Metrics.RelativeError(naive.Data, HyenaFilter.ForwardFast(p, u, maxThreads: 1).Data) <= 1e-12);
        Assert.True(Metrics.RelativeError(HyenaFilter.Filter(p, 70).Data, HyenaFilter.FilterFast<double>(p, 70).Data) <= 1e-12);
        static double[] R(double[] x) => x.Select(v => (double)(float)v).ToArray();
        var rounded = p with
        {
            W0 = R(p.W0), B0 = R(p.B0), InnerW = [.. p.InnerW.Select(R)], InnerB = [.. p.InnerB.Select(R)], WOut = R(p.WOut), Freq = R(p.Freq),
            Bias = R(p.Bias), Z = p.Z is null ? null : R(p.Z),
        };
        var u32 = new Tensor<float>(u.Data.Select(v => (float)v).ToArray(), u.ShapeArray);
        var reference = HyenaFilter.Forward(rounded, new Tensor<double>(R(u.Data), u.ShapeArray));
        Assert.True(Metrics.RelativeError(reference.Data, HyenaFilter.ForwardFast(rounded, u32, maxThreads: 1).Data.Select(v => (double)v).ToArray()) <= 1e-5);
        // Causality: inputs from t = 30 on do not move the outputs before 30.
        var moved = u.Clone();
        for (int r = 0; r < 6; r++)
            for (int t = 30; t < 70; t++) moved.Data[r * 70 + t] += 1.0;
        var y2 = HyenaFilter.Forward(p, moved);
        for (int r = 0; r < 6; r++)
            for (int t = 0; t < 30; t++) Assert.Equal(naive.Data[r * 70 + t], y2.Data[r * 70 + t]);
    }

    [Fact]
    public void Gradients_EveryTrainedArray_MatchFiniteDifferences()
    {
        var p = Random(77, 2, 9, 1, new HyenaFilterOptions(true, 0.3, true, true), givenZ: true);
        var u = new SplitMix64(6).NormalTensor<double>(0, 1, 1, 2, 7);
        var weights = Variable.Constant(new SplitMix64(7).NormalTensor<double>(0, 1, 1, 2, 7));
        var v = HyenaFilter.Variables.From(p);
        var x = Variable.Parameter(u.Clone());
        Variable[] all = [x, v.W0, v.B0, .. v.InnerW, .. v.InnerB, v.WOut, v.Freq, v.Deltas, v.Bias, v.Z!];
        var result = GradCheck.CheckParameters(() => Ops.Sum(Ops.Mul(HyenaFilter.Operator(x, v), weights)), all);
        Assert.True(result.Passed, result.ToString());
    }
}
