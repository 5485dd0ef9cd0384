using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Autodiff.Optim;
using Reference.Core;
using Reference.Core.IO;

namespace Reference.SpecTests.Autodiff;

public class CheckpointTests
{
    private static Sequential Model(ulong seed)
    {
        var rng = new SplitMix64(seed);
        return new Sequential(new Linear(3, 5, rng), new PreNormResidual(new LayerNorm(5), GatedMlp.SwiGlu(5, 7, rng)), new Linear(5, 2, rng));
    }

    private static void Steps(Sequential model, Optimizer opt, int count)
    {
        var rng = new SplitMix64(99 + (ulong)opt.StepCount);
        for (int s = 0; s < count; s++)
        {
            var x = Variable.Constant(rng.NormalTensor<double>(0, 1, 8, 3));
            var y = Enumerable.Range(0, 8).Select(_ => rng.NextInt(2)).ToArray();
            opt.ZeroGrad();
            Ops.CrossEntropy(model.Forward(x), y).Backward();
            opt.Step();
        }
    }

    private static long[] Bits(Module m) => m.Parameters().SelectMany(p => p.Value.Data).Select(BitConverter.DoubleToInt64Bits).ToArray();

    [Theory]
    [InlineData("adamw")]
    [InlineData("sgd")]
    public void Property_ResumedTraining_IsBitIdenticalToUninterruptedTraining(string kind)
    {
        Optimizer Make(Module m) => kind == "adamw" ? new AdamW(m.Parameters(), lr: 0.01) : new Sgd(m.Parameters(), lr: 0.05, momentum: 0.9, nesterov: true);
        string path = Path.Combine(Path.GetTempPath(), $"ckpt-{kind}-{Environment.ProcessId}.safetensors");
        try
        {
            var a = Model(7);
            var optA = Make(a);
            Steps(a, optA, 3);
            Checkpoint.Save(path, a, optA);
            Steps(a, optA, 2);

            var b = Model(8);   // other initial values: everything must come from the file
            var optB = Make(b);
            var metadata = Checkpoint.Load(path, b, optB);
            Assert.Equal("3", metadata["step"]);
            Assert.Equal(3, optB.StepCount);
            Steps(b, optB, 2);
            Assert.Equal(Bits(a), Bits(b));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Property_CheckpointNames_FollowTheDocumentedScheme()
    {
        string path = Path.Combine(Path.GetTempPath(), $"ckpt-names-{Environment.ProcessId}.safetensors");
        try
        {
            var model = Model(1);
            var opt = new AdamW(model.Parameters());
            Steps(model, opt, 1);
            Checkpoint.Save(path, model, opt);
            var file = Safetensors.Read(path);
            Assert.Contains("model.0.weight", file.Tensors.Keys);
            Assert.Contains("optim.adamw.exp_avg.1.mixer.w.weight", file.Tensors.Keys);
            Assert.Contains("optim.adamw.exp_avg_sq.2.bias", file.Tensors.Keys);
            Assert.Contains("optim.adamw.step.0.bias", file.Tensors.Keys);
            Assert.Equal("1", file.Metadata["step"]);
            Assert.Equal(model.Parameters()[0].Value.Data, file.Get<double>("model.0.weight").Data);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Negative_TruncatedOrMismatchedCheckpoint_GivesAClearError()
    {
        string path = Path.Combine(Path.GetTempPath(), $"ckpt-bad-{Environment.ProcessId}.safetensors");
        try
        {
            var model = Model(1);
            Checkpoint.Save(path, model);
            var bytes = File.ReadAllBytes(path);
            File.WriteAllBytes(path, bytes[..^5]);
            var e = Assert.Throws<SafetensorsFormatException>(() => Checkpoint.Load(path, Model(2)));
            Assert.Contains(path, e.Message);

            Checkpoint.Save(path, new Sequential(new Linear(3, 4, new SplitMix64(1))));
            var mismatch = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path, model));
            Assert.Contains("model.0.weight", mismatch.Message);
        }
        finally { File.Delete(path); }
    }
}
