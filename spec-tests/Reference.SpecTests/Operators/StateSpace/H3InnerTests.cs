using Reference.Core;
using Reference.Operators.Convolution;
using Reference.Operators.StateSpace;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Operators.StateSpace;

/// <summary>
/// ssm.h3_inner (H3's fftconv_h3_ref with the shift stage): hand-derived cases, float32/float64 fast tier bounds,
/// causality in q, k and v, token-by-token decoding, and the operator matrix (the registry test runs the forms on the
/// golden cases; these add shapes and values drawn here).
/// </summary>
public class H3InnerTests
{
    private static Tensor<double> T(double[] data, params int[] shape) => new(data, shape);

    [Fact]
    public void HandCase_HeadDim1_NoShift_IsQTimesKernelOfKV()
    {
        // hd = 1, no shift stage, L = 2: q = [1, -1], k = [1, 2], v = [3, 4], ssm_k = [0.5, 0.25], d = 2.
        // kv = k v = [3, 8]; ys[0] = 0.5 * 3 + 2 * 3 = 7.5; ys[1] = 0.5 * 8 + 0.25 * 3 + 2 * 8 = 20.75;
        // y = q ys = [7.5, -20.75] (fftconv_h3_ref's head_dim = 1 branch: out * q).
        var y = H3Inner.Forward(T([1, -1], 1, 1, 2), T([1, 2], 1, 1, 2), T([3, 4], 1, 1, 2), null, null, T([0.5, 0.25], 1, 2), T([2.0], 1), 1);
        Assert.Equal([7.5, -20.75], y.Data);
    }

    [Fact]
    public void HandCase_HeadDim2_ContractsOverD1_AndShiftStageActsOnKOnly()
    {
        // hd = 2, one head, L = 1 (so only lag 0 acts): shift_k = [[2], [3]], shift_d = [1, 1] -> kbar = [3 k0, 4 k1];
        // k = [1, 1] -> kbar = [3, 4]; v = [5, 7]; ssm_k = [[0.5]], d = [0] -> ys[d1, d2] = 0.5 kbar[d1] v[d2];
        // y[d2] = sum_d1 q[d1] ys[d1, d2] = 0.5 (q0 3 + q1 4) v[d2]; q = [1, 2] -> 0.5 * 11 * [5, 7] = [27.5, 38.5].
        var y = H3Inner.Forward(T([1, 2], 1, 2, 1), T([1, 1], 1, 2, 1), T([5, 7], 1, 2, 1), T([2, 3], 2, 1), T([1, 1], 2),
            T([0.5], 1, 1), T([0.0], 1), 2);
        Assert.Equal([27.5, 38.5], y.Data);
    }

    private static (Tensor<double> Q, Tensor<double> K, Tensor<double> V, Tensor<double> ShiftK, Tensor<double> ShiftD, Tensor<double> SsmK,
        Tensor<double> D) Draw(int seed, int batch, int dm, int length, int hd, int ls, int lk)
    {
        var rng = new SplitMix64((ulong)seed);
        return (rng.NormalTensor<double>(0, 1, batch, dm, length), rng.NormalTensor<double>(0, 1, batch, dm, length),
            rng.NormalTensor<double>(0, 1, batch, dm, length), rng.NormalTensor<double>(0, 1, dm, ls), rng.NormalTensor<double>(0, 1, dm),
            rng.NormalTensor<double>(0, 1, dm / hd, lk), rng.NormalTensor<double>(0, 1, dm / hd));
    }

    [Theory]
    [InlineData(1, 2, 3, 70, 1, 4, 70)]    // the FFT route of CausalConvolution.ForwardFast (>= 64 taps)
    [InlineData(2, 1, 6, 13, 3, 2, 9)]
    [InlineData(3, 2, 4, 9, 2, 1, 20)]
    public void FastTier_EqualsNaive_Float64AndFloat32(int seed, int batch, int dm, int length, int hd, int ls, int lk)
    {
        var (q, k, v, sk, sd, kk, d) = Draw(seed, batch, dm, length, hd, ls, lk);
        var naive = H3Inner.Forward(q, k, v, sk, sd, kk, d, hd);
        var fast64 = H3Inner.ForwardFast(q, k, v, sk, sd, kk, d, hd, maxThreads: 1);
        Assert.True(Metrics.RelativeError(naive.Data, fast64.Data) <= 1e-12);
        Tensor<float> F(Tensor<double> x) => new(x.Data.Select(a => (float)a).ToArray(), x.ShapeArray);
        Tensor<double> R(Tensor<double> x) => new(x.Data.Select(a => (double)(float)a).ToArray(), x.ShapeArray);
        var fast32 = H3Inner.ForwardFast(F(q), F(k), F(v), F(sk), F(sd), F(kk), F(d), hd, maxThreads: 1);
        var naiveRounded = H3Inner.Forward(R(q), R(k), R(v), R(sk), R(sd), R(kk), R(d), hd);
        Assert.True(Metrics.RelativeError(naiveRounded.Data, fast32.Data.Select(a => (double)a).ToArray()) <= 1e-5);
    }

    [Fact]
    public void Causality_InputsFromTOnDoNotMoveEarlierOutputs()
    {
        var (q, k, v, sk, sd, kk, d) = Draw(7, 2, 4, 12, 2, 3, 12);
        var y = H3Inner.Forward(q, k, v, sk, sd, kk, d, 2);
        const int cut = 5;
        foreach (var which in new[] { 0, 1, 2 })
        {
            var (q2, k2, v2) = (q.Clone(), k.Clone(), v.Clone());
            var target = which == 0 ? q2 : which == 1 ? k2 : v2;
            for (int r = 0; r < 2 * 4; r++)
                for (int t = cut; t < 12; t++) target.Data[r * 12 + t] += 1.0 + t;
            var y2 = H3Inner.Forward(q2, k2, v2, sk, sd, kk, d, 2);
            for (int r = 0; r < 2 * 4; r++)
            {
                for (int t = 0; t < cut; t++) Assert.Equal(y.Data[r * 12 + t], y2.Data[r * 12 + t]);
            }
            Assert.NotEqual(y.Data, y2.Data);
        }
    }

    [Fact]
    public void StepByStep_EqualsParallel_AndMaterializedMatrixIsLowerTriangular()
    {
        var (q, k, v, sk, sd, kk, d) = Draw(11, 2, 6, 10, 3, 4, 7);
        var y = H3Inner.Forward(q, k, v, sk, sd, kk, d, 3);
        var state = H3Inner.InitialState(2, 6, 3, 4, 7);
        for (int t = 0; t < 10; t++)
        {
            Tensor<double> At(Tensor<double> a)
            {
                var r = Tensor<double>.Zeros(2, 6);
                for (int i = 0; i < 12; i++) r.Data[i] = a.Data[i * 10 + t];
                return r;
            }
            var yt = H3Inner.Step(state, At(q), At(k), At(v), sk, sd, kk, d, 3);
            for (int i = 0; i < 12; i++) Assert.Equal(y.Data[i * 10 + t], yt.Data[i]);
        }
        var m = H3Inner.Materialize(q, k, sk, sd, kk, d, 3);
        for (int r = 0; r < 12; r++)
            for (int i = 0; i < 10; i++)
                for (int s = i + 1; s < 10; s++) Assert.Equal(0.0, m.Data[(r * 10 + i) * 10 + s]);
        var viaMatrix = ConvTestKitApply(m, v);
        Assert.True(Metrics.RelativeError(y.Data, viaMatrix) <= 1e-13);
    }

    private static double[] ConvTestKitApply(Tensor<double> m, Tensor<double> v)
    {
        int rows = m.Dim(0), l = m.Dim(1);
        var y = new double[rows * l];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < l; i++)
                for (int s = 0; s < l; s++) y[r * l + i] += m.Data[(r * l + i) * l + s] * v.Data[r * l + s];
        return y;
    }

    [Fact]
    public void BadInput_NamesTheArgument()
    {
        var x = Tensor<double>.Zeros(1, 4, 3);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => H3Inner.Forward(x, x, x, null, null, Tensor<double>.Zeros(4, 2), null, 3));
        Assert.Equal("headDim", ex.ParamName);
        var ek = Assert.Throws<ArgumentException>(() => H3Inner.Forward(x, x, x, null, null, Tensor<double>.Zeros(3, 2), null, 2));
        Assert.Equal("ssmK", ek.ParamName);
        var es = Assert.Throws<ArgumentException>(() => H3Inner.Forward(x, x, x, null, Tensor<double>.Zeros(4), Tensor<double>.Zeros(2, 2), null, 2));
        Assert.Equal("shiftD", es.ParamName);
    }

    [Theory]
    [InlineData(1, 4, 13)]
    [InlineData(2, 4, 9)]
    public void H3Layer_IsProjections_ThenTheInnerOpWithItsKernels_ThenTheOutputProjection(int headDim, int width, int length)
    {
        // ssm.h3 computed another way: q, k, v by the layer's projections, the inner op with the shift SSM's taps (ShiftSsm.Taps, skip)
        // and the S4D kernel over the heads (S4D.Kernel, D), then y = o W_o^T + b_o.
        var rng = new SplitMix64((ulong)(headDim * 10 + length));
        var p = H3Parameters.Initialize(rng, width, headDim, stateSize: 8);
        var u = rng.NormalTensor<double>(0, 1, 2, length, width);
        Tensor<double> Project(double[] w, double[] b)
        {
            var x = Tensor<double>.Zeros(2, width, length);
            for (int bi = 0; bi < 2; bi++)
                for (int t = 0; t < length; t++)
                    for (int c = 0; c < width; c++)
                    {
                        double acc = 0.0;
                        for (int j = 0; j < width; j++) acc += w[c * width + j] * u.Data[(bi * length + t) * width + j];
                        x.Data[(bi * width + c) * length + t] = acc + b[c];
                    }
            return x;
        }
        var o = H3Inner.Forward(Project(p.Wq, p.Bq), Project(p.Wk, p.Bk), Project(p.Wv, p.Bv), ShiftSsm.Taps(p.Shift),
            new Tensor<double>((double[])p.Shift.Skip.Clone(), width), S4D.Kernel(p.Ssm, length, p.Method), p.Ssm.SkipTensor(), headDim);
        var expected = H3.Forward(p, u);
        var y = new double[expected.Length];
        for (int bi = 0; bi < 2; bi++)
            for (int t = 0; t < length; t++)
                for (int j = 0; j < width; j++)
                {
                    double acc = 0.0;
                    for (int c = 0; c < width; c++) acc += p.Wo[j * width + c] * o.Data[(bi * width + c) * length + t];
                    y[(bi * length + t) * width + j] = acc + p.Bo[j];
                }
        Assert.True(Metrics.RelativeError(expected.Data, y) <= 1e-12);
    }
}
