using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Autodiff.Optim;
using Reference.Core;
using Reference.Operators.Monarch;
using static Reference.SpecTests.Operators.Monarch.MonarchTestKit;
using MonarchOp = Reference.Operators.Monarch.Monarch;

namespace Reference.SpecTests.Operators.Monarch;

public class MonarchLinearTests
{
    [Theory]
    [InlineData(5, 7, 2)]   // widening, both sides padded
    [InlineData(9, 4, 3)]   // narrowing
    [InlineData(8, 8, 4)]   // no padding
    public void Property_Gradients_MatchCentralFiniteDifferences(int inFeatures, int outFeatures, int nblocks)
    {
        var layer = new MonarchLinear(inFeatures, outFeatures, nblocks, new SplitMix64(1));
        var rng = new SplitMix64(2);
        var x = Variable.Parameter(rng.NormalTensor<double>(0, 1, 2, 3, inFeatures));
        var probe = Variable.Constant(rng.NormalTensor<double>(0, 1, 2, 3, outFeatures));
        var result = GradCheck.CheckParameters(() => Ops.Sum(Ops.Mul(layer.Forward(x), probe)), [x, .. layer.Parameters()]);
        Assert.True(result.Passed, result.ToString());
    }

    [Fact]
    public void Property_Forward_IsThePaddedMonarchProductCutToOutPlusBias()
    {
        var layer = new MonarchLinear(5, 7, 2, new SplitMix64(3));
        var s = layer.Shape;
        Assert.True(s.Inputs >= 5 && s.Outputs >= 7);
        var rng = new SplitMix64(4);
        var x = rng.NormalTensor<double>(0, 1, 3, 5);
        var y = layer.Forward(Variable.Constant(x)).Value;
        var dense = MonarchOp.Materialize<double>(s, layer.W1.Value.Data, layer.W2.Value.Data);
        for (int b = 0; b < 3; b++)
            for (int o = 0; o < 7; o++)
            {
                double acc = layer.Bias!.Value.Data[o];
                for (int j = 0; j < 5; j++) acc += dense[o * s.Inputs + j] * x.Data[b * 5 + j];
                Assert.Equal(acc, y.Data[b * 7 + o], 12);
            }
    }

    /// <summary>
    /// Drop-in for Linear: on a regression target that a Monarch weight represents exactly (a teacher
    /// MonarchLinear), a freshly initialized MonarchLinear trained by Adam reaches the loss of a dense
    /// Linear trained the same way (both fit the target to within a small fraction of the initial loss).
    /// </summary>
    [Fact]
    public void Property_Training_MatchesDenseLinearOnAMonarchRepresentableTarget()
    {
        const int features = 8, nblocks = 2, samples = 64, steps = 400;
        var teacher = new MonarchLinear(features, features, nblocks, new SplitMix64(10));
        var x = Variable.Constant(new SplitMix64(11).NormalTensor<double>(0, 1, samples, features));
        Tensor<double> target;
        using (Tape.NoGrad()) target = teacher.Forward(x).Value;
        var y = Variable.Constant(target);

        double Train(Layer model, out double initial)
        {
            var optimizer = new Adam(model.Parameters(), lr: 0.02);
            initial = double.NaN;
            double loss = 0;
            for (int step = 0; step < steps; step++)
            {
                optimizer.ZeroGrad();
                var l = Ops.MseLoss(model.Forward(x), y);
                if (step == 0) initial = l.Item();
                l.Backward();
                optimizer.Step();
                loss = l.Item();
            }
            return loss;
        }

        double monarch = Train(new MonarchLinear(features, features, nblocks, new SplitMix64(20)), out double monarchInitial);
        double dense = Train(new Linear(features, features, new SplitMix64(20)), out double denseInitial);
        Assert.True(dense < 1e-3 * denseInitial, $"dense Linear did not fit: {dense} from {denseInitial}");
        Assert.True(monarch < 1e-3 * monarchInitial, $"MonarchLinear did not fit: {monarch} from {monarchInitial}");
        Assert.True(Math.Abs(monarch - dense) < 1e-3 * Math.Max(monarchInitial, denseInitial), $"monarch {monarch} vs dense {dense}");
    }

    [Fact]
    public void Edge_WrongInputWidth_NamesX()
    {
        var layer = new MonarchLinear(5, 7, 2, new SplitMix64(3));
        var ex = Assert.Throws<ArgumentException>(() => layer.Forward(Variable.Constant(Tensor<double>.Zeros(2, 6))));
        Assert.Equal("x", ex.ParamName);
    }
}
