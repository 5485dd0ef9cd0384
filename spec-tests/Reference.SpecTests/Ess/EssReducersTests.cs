using Reference.Core;
using Reference.Ess;

namespace Reference.SpecTests.Ess;

public class EssReducersTests
{
    /// <summary>ESS[b, layer, c, s] = 1000 b + 100 layer + 10 c + s: every aggregate has a closed form.</summary>
    private static Tensor<double> Indexed(int b, int layers, int c, int s)
    {
        var t = Tensor<double>.Zeros(b, layers, c, s);
        for (int i = 0; i < b; i++)
            for (int l = 0; l < layers; l++)
                for (int j = 0; j < c; j++)
                    for (int k = 0; k < s; k++) t[i, l, j, k] = 1000 * i + 100 * l + 10 * j + k;
        return t;
    }

    [Fact]
    public void Property_AxisReductionsMatchClosedForms()
    {
        var ess = Indexed(3, 2, 4, 5);
        var meanSplits = EssReducers.MeanOverSplits(ess);
        Assert.Equal([3, 2, 4], meanSplits.ShapeArray);
        Assert.Equal(1000 * 2 + 100 * 1 + 10 * 3 + 2.0, meanSplits[2, 1, 3]);
        Assert.Equal(1000 * 2 + 100 * 1 + 10 * 3 + 4.0, EssReducers.MaxOverSplits(ess)[2, 1, 3]);
        Assert.Equal(1000 * 1 + 100 * 1 + 10 * 2 + 3.0, EssReducers.MeanOverBatch(ess)[1, 2, 3]);
        Assert.Equal(4 * (1000 * 2 + 100 * 1 + 4.0) + 10 * (0 + 1 + 2 + 3), EssReducers.SumOverChannels(ess)[2, 1, 4]);
        Assert.Equal(1000 * 2 + 100 * 1 + 15 + 4.0, EssReducers.MeanOverChannels(ess)[2, 1, 4]);
    }

    [Fact]
    public void Property_PerLayerAndTotal()
    {
        var ess = Indexed(3, 2, 4, 5);
        // mean over batch (1000), sum over 4 channels (4 * ... + 60), mean over splits (2).
        var perLayer = EssReducers.PerLayer(ess);
        double Layer(int l) => 4 * (1000 + 100 * l + 2) + 60;
        Assert.Equal([Layer(0), Layer(1)], perLayer.Data);
        Assert.Equal(Layer(0) + Layer(1), EssReducers.Total(ess));
        var util = EssReducers.Utilization(ess, 4);
        Assert.Equal(ess[2, 1, 3, 4] / 4, util[2, 1, 3, 4]);
    }

    [Fact]
    public void Edge_TotalStateSizeFormulas()
    {
        Assert.Equal(1536 * 16, TotalStateSize.Ssm(1536, 16));
        Assert.Equal(8 * 64 * 64, TotalStateSize.LinearAttention(8, 64, 64));
        Assert.Equal(2 * 100 * 4 * 64, TotalStateSize.SoftmaxAttention(100, 4, 64));
        Assert.Equal(3 * 512, TotalStateSize.ShortConvolution(4, 512));
        Assert.Equal(3, TotalStateSize.SplitBound(3, 10));
        Assert.Equal(2, TotalStateSize.SplitBound(8, 10));
    }

    [Fact]
    public void Negative_BadArgumentsNameTheArgument()
    {
        var ess = Indexed(1, 1, 2, 3);
        Assert.Equal("axis", Assert.Throws<ArgumentOutOfRangeException>(() => EssReducers.Reduce(ess, 4, EssReduction.Mean)).ParamName);
        Assert.Equal("ess", Assert.Throws<ArgumentException>(() => EssReducers.PerLayer(Tensor<double>.Zeros(2, 3))).ParamName);
        Assert.Equal("totalStateSize", Assert.Throws<ArgumentOutOfRangeException>(() => EssReducers.Utilization(ess, 0)).ParamName);
        Assert.Equal("taps", Assert.Throws<ArgumentOutOfRangeException>(() => TotalStateSize.ShortConvolution(0, 4)).ParamName);
        Assert.Equal("ess", Assert.Throws<ArgumentException>(() => EssReducers.MeanOverSplits(Tensor<double>.Zeros(2, 0))).ParamName);
    }

    [Fact]
    public void Edge_EmptyAxis_SumIsZeroMeanAndMaxAreUndefined()
    {
        var empty = Tensor<double>.Zeros(2, 0);
        var sum = EssReducers.Reduce(empty, -1, EssReduction.Sum);
        Assert.Equal([2], sum.ShapeArray);
        Assert.Equal([0.0, 0.0], sum.Data);
        Assert.Equal([0], EssReducers.Reduce(empty, 0, EssReduction.Sum).ShapeArray);
        Assert.Equal("ess", Assert.Throws<ArgumentException>(() => EssReducers.Reduce(empty, -1, EssReduction.Mean)).ParamName);
        Assert.Equal("ess", Assert.Throws<ArgumentException>(() => EssReducers.Reduce(empty, -1, EssReduction.Max)).ParamName);
        Assert.Equal("ess", Assert.Throws<ArgumentException>(() => EssReducers.MaxOverSplits(empty)).ParamName);
    }

    [Fact]
    public void Edge_MaxOfNegativeValues_IsTheLargestNotZero()
    {
        // The reducers are plain axis reductions: Max starts at -inf, not at 0.
        var t = new Tensor<double>([-3, -1, -2, -7, -5, -6], 2, 3);
        Assert.Equal([-1.0, -5.0], EssReducers.Reduce(t, -1, EssReduction.Max).Data);
        Assert.Equal([-3.0, -1.0, -2.0], EssReducers.Reduce(t, 0, EssReduction.Max).Data);
        Assert.Equal([-2.0, -6.0], EssReducers.Reduce(t, -1, EssReduction.Mean).Data);
        Assert.Equal([-6.0, -18.0], EssReducers.Reduce(t, 1, EssReduction.Sum).Data);
    }

    [Fact]
    public void Edge_SplitBoundAndStateSizesAtTheirBoundaries()
    {
        Assert.Equal(0, TotalStateSize.SplitBound(0, 10));
        Assert.Equal(0, TotalStateSize.SplitBound(10, 10));
        Assert.Equal(5, TotalStateSize.SplitBound(5, 10));
        Assert.Equal(0, TotalStateSize.SplitBound(0, 0));
        // Width-like factors may be 0 (no channels: TSS 0); size-like ones must be positive.
        Assert.Equal(0, TotalStateSize.Ssm(0, 4));
        Assert.Equal(4, TotalStateSize.Ssm(1, 4));
        Assert.Equal(0, TotalStateSize.ShortConvolution(1, 8));
        Assert.Equal(0, TotalStateSize.LinearAttention(0, 3, 5));
        Assert.Equal(15, TotalStateSize.LinearAttention(1, 3, 5));
        Assert.Equal(2, TotalStateSize.SoftmaxAttention(1, 1, 1));
        Assert.Equal(0, TotalStateSize.SoftmaxAttention(3, 0, 2));
    }

    [Fact]
    public void Negative_RangesNullsAndEnums_NameTheArgument()
    {
        Assert.Equal("split", Assert.Throws<ArgumentOutOfRangeException>(() => TotalStateSize.SplitBound(-1, 10)).ParamName);
        Assert.Equal("split", Assert.Throws<ArgumentOutOfRangeException>(() => TotalStateSize.SplitBound(11, 10)).ParamName);
        Assert.Equal("innerWidth", Assert.Throws<ArgumentOutOfRangeException>(() => TotalStateSize.Ssm(-1, 4)).ParamName);
        Assert.Equal("state", Assert.Throws<ArgumentOutOfRangeException>(() => TotalStateSize.Ssm(2, 0)).ParamName);
        Assert.Equal("state", Assert.Throws<ArgumentOutOfRangeException>(() => TotalStateSize.Ssm(2, -1)).ParamName);
        Assert.Equal("heads", Assert.Throws<ArgumentOutOfRangeException>(() => TotalStateSize.LinearAttention(-1, 3, 5)).ParamName);
        Assert.Equal("keyDim", Assert.Throws<ArgumentOutOfRangeException>(() => TotalStateSize.LinearAttention(1, 0, 5)).ParamName);
        Assert.Equal("valueDim", Assert.Throws<ArgumentOutOfRangeException>(() => TotalStateSize.LinearAttention(1, 3, 0)).ParamName);
        Assert.Equal("split", Assert.Throws<ArgumentOutOfRangeException>(() => TotalStateSize.SoftmaxAttention(0, 1, 1)).ParamName);
        Assert.Equal("headDim", Assert.Throws<ArgumentOutOfRangeException>(() => TotalStateSize.SoftmaxAttention(1, 1, 0)).ParamName);
        Assert.Equal("width", Assert.Throws<ArgumentOutOfRangeException>(() => TotalStateSize.ShortConvolution(2, 0)).ParamName);
        Assert.Equal("ess", Assert.Throws<ArgumentNullException>(() => EssReducers.Reduce(null!, 0, EssReduction.Sum)).ParamName);
        Assert.Equal("ess", Assert.Throws<ArgumentNullException>(() => EssReducers.PerLayer(null!)).ParamName);
        Assert.Equal("ess", Assert.Throws<ArgumentNullException>(() => EssReducers.Utilization(null!, 1)).ParamName);
        var ess = Indexed(1, 1, 2, 3);
        Assert.Equal("reduction", Assert.Throws<ArgumentOutOfRangeException>(() => EssReducers.Reduce(ess, 0, (EssReduction)3)).ParamName);
        Assert.Equal("reduction", Assert.Throws<ArgumentOutOfRangeException>(() => EssReducers.Reduce(ess, 0, (EssReduction)(-1))).ParamName);
        Assert.Equal("totalStateSize", Assert.Throws<ArgumentOutOfRangeException>(() => EssReducers.Utilization(ess, double.PositiveInfinity)).ParamName);
        Assert.Equal("totalStateSize", Assert.Throws<ArgumentOutOfRangeException>(() => EssReducers.Utilization(ess, double.NaN)).ParamName);
    }
}
