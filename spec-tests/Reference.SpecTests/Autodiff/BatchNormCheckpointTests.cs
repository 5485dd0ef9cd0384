using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;
using Reference.Core.IO;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Autodiff;

/// <summary>
/// BatchNorm running statistics travel in the checkpoint (state.PATH.running_mean / running_var):
/// a loaded model has the saved statistics bit for bit and the same eval-mode outputs; a checkpoint
/// without them is an error naming the entry.
/// </summary>
public class BatchNormCheckpointTests
{
    private static Sequential Model(ulong seed) =>
        new(new Conv3d(1, 2, 3, new SplitMix64(seed), stride: 1), new BatchNorm(2), new Activation(ActivationKind.Relu));

    private static Tensor<double> Input(ulong seed, int n = 3)
    {
        var rng = new SplitMix64(seed);
        return new Tensor<double>(Enumerable.Range(0, n * 125).Select(_ => rng.Normal() * 2 + 1).ToArray(), n, 1, 5, 5, 5);
    }

    [Fact]
    public void RoundTrip_RestoresRunningStatistics_AndEvalOutputs()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "m.safetensors");
        var model = Model(1);
        model.Train();
        for (ulong s = 0; s < 4; s++) model.Forward(Variable.Constant(Input(10 + s)));
        model.Eval();
        var expected = model.Forward(Variable.Constant(Input(99))).Value.Data;
        var norm = (BatchNorm)model.NamedChildren().Select(c => c.Child).OfType<BatchNorm>().Single();
        Assert.NotEqual(0.0, norm.RunningMean[0]);
        Checkpoint.Save(path, model, metadata: new Dictionary<string, string> { ["note"] = "x" });
        Assert.Contains("state.1.running_mean", Safetensors.Read(path).Tensors.Keys);
        Assert.Equal("x", Safetensors.Read(path).Metadata["note"]);

        var loaded = Model(2);
        var fresh = loaded.NamedChildren().Select(c => c.Child).OfType<BatchNorm>().Single();
        Assert.Equal(0.0, fresh.RunningMean[0]);
        Checkpoint.Load(path, loaded);
        Assert.Equal(norm.RunningMean, fresh.RunningMean);
        Assert.Equal(norm.RunningVar, fresh.RunningVar);
        loaded.Eval();
        Assert.Equal(expected, loaded.Forward(Variable.Constant(Input(99))).Value.Data);
    }

    [Fact]
    public void MissingRunningStatistics_IsAnErrorNamingTheEntry()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "m.safetensors");
        Checkpoint.Save(path, new Sequential(new Activation(ActivationKind.Relu)));
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path, new Sequential(new BatchNorm(2, affine: false))));
        Assert.Contains("state.0.running_mean", e.Message);
    }
}
