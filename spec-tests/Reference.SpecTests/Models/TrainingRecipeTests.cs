using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Autodiff.Optim;
using Reference.Core;
using Reference.Models;
using Reference.Operators;

namespace Reference.SpecTests.Models;

/// <summary>
/// H3's training recipe in the trainer (HazyResearch/safari configs/experiment/synthetics/associative_recall):
/// the SSM dynamics in their own AdamW group (lr min(1e-3, lr), no weight decay), embedding dropout, the
/// official initialization; and that --resume stays exact with them.
/// </summary>
public sealed class TrainingRecipeTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("reference-recipe-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    private static ModelSpec H3(int width = 8, int state = 8, double dropout = 0.0, string init = "pytorch") => ModelSpec.Parse(
        $$$"""{"width": {{{width}}}, "depth": 2, "block": {"mixer": {"operator": "ssm.h3", "state_size": {{{state}}}}, "channel_mixer": {"kind": "mlp", "inner": {{{4 * width}}}}}, "tied_head": true, "embedding_dropout": {{{dropout.ToString(System.Globalization.CultureInfo.InvariantCulture)}}}, "init": "{{{init}}}"}""");

    private static SyntheticTask Recall() => TaskCatalog.Create("h3-recall", new Dictionary<string, string> { ["vocab"] = "12", ["length"] = "8", ["train"] = "64", ["test"] = "16" });

    // ------------------------------------------------------------------ parameter groups

    [Fact]
    public void Property_H3DynamicsAreTheOfficialKernelLrParameters()
    {
        // safari: SSKernelDiag registers log_dt, B, inv_A_real, A_imag with the kernel lr and SSKernelShift its B;
        // C (both SSMs) and the skips D are plain parameters.
        Assert.Equal(["shift_b", "log_neg_real_a", "imag_a", "b_re", "b_im", "log_delta"], OperatorRegistry.Get("ssm.h3").SsmDynamics);
        Assert.Equal(["b"], OperatorRegistry.Get("ssm.shift").SsmDynamics);
        foreach (var d in OperatorRegistry.All)
            foreach (var name in d.SsmDynamics)
            {
                Assert.Contains(name, d.Differentiable);
                Assert.DoesNotContain("B", SequenceMixers.ShapeTokens(d.Inputs.Single(i => i.Name == name).Shape));
            }
        var model = BackboneModel.Create(H3(), 12, 10, 1);
        var dynamics = model.SsmDynamicsParameters();
        Assert.Equal(12, dynamics.Count);   // six per block
        var names = model.NamedParameters().Where(p => dynamics.Contains(p.Parameter)).Select(p => p.Name[(p.Name.LastIndexOf('.') + 1)..]).Distinct().Order();
        Assert.Equal(["b_im", "b_re", "imag_a", "log_delta", "log_neg_real_a", "shift_b"], names);
        var attention = BackboneModel.Create(ModelSpec.Parse("""{"width": 8, "depth": 1, "block": {"mixer": {"operator": "attention.softmax"}, "channel_mixer": "mlp"}}"""), 12, 10, 1);
        Assert.Empty(attention.SsmDynamicsParameters());
    }

    [Fact]
    public void Property_GroupUpdatesEqualSeparateOptimizers()
    {
        // One AdamW with a group = two AdamW instances, one per group (the H3 toy's way), bit for bit, over steps with a schedule.
        var rng = new SplitMix64(3);
        Variable[] a = [.. Enumerable.Range(0, 4).Select(_ => Variable.Parameter(rng.NormalTensor<double>(0, 1, 5)))];
        Variable[] b = [.. a.Select(p => Variable.Parameter(p.Value.Clone()))];
        var grouped = new AdamW(a, 5e-3, weightDecay: 0.1, groups: [new ParameterGroup("ssm", [a[1], a[3]], 1e-3, 0.0)]);
        var main = new AdamW([b[0], b[2]], 5e-3, weightDecay: 0.1);
        var ssm = new AdamW([b[1], b[3]], 1e-3, weightDecay: 0.0);
        for (int step = 0; step < 5; step++)
        {
            double factor = 0.5 + 0.1 * step;
            grouped.Lr = 5e-3 * factor;
            grouped.Groups[0].Lr = 1e-3 * factor;
            main.Lr = 5e-3 * factor;
            ssm.Lr = 1e-3 * factor;
            for (int i = 0; i < 4; i++)
            {
                var g = new SplitMix64((ulong)(10 * step + i)).NormalTensor<double>(0, 1, 5);
                a[i].Grad = g.Clone();
                b[i].Grad = g;
            }
            grouped.Step();
            main.Step();
            ssm.Step();
        }
        for (int i = 0; i < 4; i++) Assert.Equal(b[i].Value.Data, a[i].Value.Data);
    }

    [Fact]
    public void Negative_GroupOfAForeignOrDoubledParameterIsRefused()
    {
        var p = Variable.Parameter(Tensor<double>.Zeros(2));
        var q = Variable.Parameter(Tensor<double>.Zeros(2));
        var e = Assert.Throws<ArgumentException>(() => new AdamW([p], groups: [new ParameterGroup("ssm", [q], 1e-3, 0)]));
        Assert.Contains("not among the optimizer's parameters", e.Message);
        e = Assert.Throws<ArgumentException>(() => new AdamW([p, q], groups: [new ParameterGroup("x", [p], 1e-3, 0), new ParameterGroup("y", [p], 1e-3, 0)]));
        Assert.Contains("groups 'x' and 'y'", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ParameterGroup("x", [p], -1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ParameterGroup("x", [p], 1e-3, double.NaN));
    }

    [Fact]
    public void Property_TrainerStepMovesDynamicsByTheCappedRateWithoutDecay()
    {
        // Adam's first step moves every element by lr g / (|g| + eps) (m / sqrt(v) = g / |g| after bias correction),
        // and AdamW's decay then scales by 1 - lr wd. With lr 5e-3, wd 0.1 and the defaults (dynamics at min(1e-3, lr),
        // no decay): dynamics move by at most 1e-3, the rest by at most 5e-3 after the decay, and by nearly that
        // (within 1e-3 relative, i.e. |g| > 1e-5) at most elements (86 % here).
        var spec = H3();
        var task = Recall();
        var options = new TrainOptions(Steps: 1, LearningRate: 5e-3, WeightDecay: 0.1, Batch: 8, EvalEvery: 0, WarmupFraction: 0, FastTier: false);
        var before = BackboneModel.Create(spec, task.Vocabulary, task.InputLength, options.Seed + 1);
        var result = new Trainer(spec, task, options, Path.Combine(root, "one")).Run(resume: false);
        var after = result.Model;
        var dynamics = after.SsmDynamicsParameters().ToHashSet();
        int checkedDynamics = 0, checkedOthers = 0, moved = 0;
        var beforeByName = before.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.Value.Data);
        foreach (var (name, p) in after.NamedParameters())
        {
            double[] x0 = beforeByName[name], x1 = p.Value.Data;
            bool ssm = dynamics.Contains(p);
            double lr = ssm ? 1e-3 : 5e-3, keep = ssm ? 1.0 : 1 - 5e-3 * 0.1;
            for (int i = 0; i < x0.Length; i++)
            {
                double step = x1[i] - x0[i] * keep;
                if (Math.Abs(step) < 1e-9) continue;   // no gradient there (e.g. an unused embedding row)
                moved++;
                Assert.True(Math.Abs(step) <= lr * (1 + 1e-9), $"{name}[{i}]: step {step}, expected at most {lr}");
                if (Math.Abs(step) < lr * (1 - 1e-3)) continue;
                if (ssm) checkedDynamics++; else checkedOthers++;
            }
        }
        Assert.True(checkedDynamics > 50 && checkedOthers > 500 && checkedDynamics + checkedOthers > 0.75 * moved,
            $"{checkedDynamics} dynamics and {checkedOthers} other elements of {moved} moved by the full rate");
    }

    [Fact]
    public void Property_GroupSettingsArePartOfTheRunIdentityOnlyForSsmModels()
    {
        var o = new TrainOptions();
        Assert.DoesNotContain("ssm", o.Identity(ssmDynamics: false));
        var identity = JsonNode.Parse(o.Identity(ssmDynamics: true))!;
        Assert.Equal(1e-3, identity["ssm_lr"]!.GetValue<double>());
        Assert.Equal("none", JsonNode.Parse((o with { SsmWeightDecay = null }).Identity(true))!["ssm_weight_decay"]!.GetValue<string>());
        Assert.Null((o with { SsmLr = null, SsmWeightDecay = null }).SsmGroup());
        Assert.Equal((5e-4, 0.0), (o with { LearningRate = 5e-4 }).SsmGroup());   // min(1e-3, lr)
        Assert.Contains("\"decay\":\"linear\"", (o with { Decay = LrDecay.Linear }).Identity());
    }

    // ------------------------------------------------------------------ embedding dropout

    [Fact]
    public void Property_EmbeddingDropoutMaskHasTorchStatistics()
    {
        // Inverted dropout: each element kept with probability 1 - p and scaled by 1 / (1 - p): E[mask] = 1.
        // n = 40,960 elements: the dropped count is Binomial(n, p), sd sqrt(n p (1 - p)) = 60.7 at p = 0.1; 5 sd allowed.
        const double p = 0.1;
        var model = BackboneModel.Create(H3(width: 32, dropout: p), 12, 40, 1);
        var mask = model.EmbeddingDropoutMask(new EmbeddingDropoutKey(7, 3, 0), 32, 40).Data;
        int n = mask.Length, dropped = mask.Count(m => m == 0);
        Assert.All(mask, m => Assert.True(m == 0 || m == 1 / (1 - p), $"mask value {m}"));
        Assert.InRange(dropped, n * p - 5 * Math.Sqrt(n * p * (1 - p)), n * p + 5 * Math.Sqrt(n * p * (1 - p)));
        double mean = mask.Average(), sd = Math.Sqrt(p * (1 - p)) / (1 - p) / Math.Sqrt(n);
        Assert.InRange(mean, 1 - 5 * sd, 1 + 5 * sd);
        // Sequences are independent streams, and another step or sequence offset gives another mask.
        var other = model.EmbeddingDropoutMask(new EmbeddingDropoutKey(7, 4, 0), 32, 40).Data;
        Assert.NotEqual(mask, other);
        var shifted = model.EmbeddingDropoutMask(new EmbeddingDropoutKey(7, 3, 1), 31, 40).Data;
        Assert.Equal(mask.AsSpan(40 * 32).ToArray(), shifted);   // sequence 1 of the first = sequence 0 of the second
    }

    [Fact]
    public void Property_EmbeddingDropoutGradientFlowsThroughTheMask()
    {
        // The embedding's gradient with dropout against central differences of the same (fixed-mask) loss, naive tier.
        const int batch = 2, length = 6, vocabulary = 12;
        var spec = ModelSpec.Parse("""{"width": 8, "depth": 1, "block": {"mixer": null, "channel_mixer": "mlp"}, "embedding_dropout": 0.5}""");
        var model = BackboneModel.Create(spec, vocabulary, length, 4);
        var rng = new SplitMix64(9);
        int[] tokens = [.. Enumerable.Range(0, batch * length).Select(_ => rng.NextInt(vocabulary))];
        int[] targets = [.. Enumerable.Range(0, batch * length).Select(_ => rng.NextInt(vocabulary))];
        var key = new EmbeddingDropoutKey(1, 2, 0);
        double Loss(EmbeddingDropoutKey? k)
        {
            using (Tape.NoGrad()) return Ops.CrossEntropy(model.Logits(tokens, batch, length, k), targets).Item();
        }
        model.ZeroGrad();
        Ops.CrossEntropy(model.Logits(tokens, batch, length, key), targets).Backward();
        var grad = model.Embedding.Grad!.Data.ToArray();
        var e = model.Embedding.Value.Data;
        var mask = model.EmbeddingDropoutMask(key, batch, length).Data;
        int dropped = 0;
        for (int i = 0; i < e.Length; i++)
        {
            double saved = e[i], h = 1e-6;
            e[i] = saved + h; double up = Loss(key);
            e[i] = saved - h; double down = Loss(key);
            e[i] = saved;
            Assert.True(Math.Abs((up - down) / (2 * h) - grad[i]) <= 1e-7 + 1e-6 * Math.Abs(grad[i]), $"embedding[{i}]: {grad[i]} vs {(up - down) / (2 * h)}");
        }
        foreach (double m in mask) if (m == 0) dropped++;
        Assert.InRange(dropped, 1, mask.Length - 1);   // the mask did drop some and keep some inputs
        Assert.NotEqual(Loss(key), Loss(null));
    }

    [Fact]
    public void Property_EmbeddingDropoutIsOffInEvaluationAndGeneration()
    {
        var task = Recall();
        var (_, test) = task.Generate(0);
        var with = BackboneModel.Create(H3(dropout: 0.5), task.Vocabulary, task.InputLength, 5);
        var without = BackboneModel.Create(H3(), task.Vocabulary, task.InputLength, 5);
        Assert.Equal(without.Parameters().SelectMany(p => p.Value.Data), with.Parameters().SelectMany(p => p.Value.Data));   // dropout draws nothing at init
        Assert.Equal(Trainer.Evaluate(without, test).Loss, Trainer.Evaluate(with, test).Loss);
        // Generation: the decoder's logits at each position equal the parallel forward without dropout.
        int[] prompt = test.Inputs.AsSpan(0, test.Length).ToArray();
        var decoder = with.StartDecoding(1);
        Tensor<double> parallel;
        using (Tape.NoGrad()) parallel = with.Logits(prompt, 1, prompt.Length).Value;
        for (int t = 0; t < prompt.Length; t++)
        {
            var step = decoder.Step([prompt[t]]).Data;
            for (int v = 0; v < task.Vocabulary; v++)
                Assert.True(Math.Abs(step[v] - parallel.Data[t * task.Vocabulary + v]) <= 1e-9, $"position {t}, token {v}");
        }
    }

    [Fact]
    public void Property_DropoutMasksDoNotDependOnTheMicroBatchSplit()
    {
        var task = Recall();
        var (train, _) = task.Generate(0);
        var spec = H3(dropout: 0.3);
        int b = 8, t = train.Length;
        var (inputs, targets) = train.Batch(0, b);
        double Run(int micro)
        {
            var model = BackboneModel.Create(spec, task.Vocabulary, task.InputLength, 2);
            return new Trainer.BatchSteps(model, micro, 1, b, t).Run(inputs, targets, new EmbeddingDropoutKey(0, 5, 0));
        }
        double one = Run(1), four = Run(4);
        Assert.True(Math.Abs(one - four) <= 1e-12 * Math.Abs(one), $"{one} vs {four}");
        var model = BackboneModel.Create(spec, task.Vocabulary, task.InputLength, 2);
        double plain = new Trainer.BatchSteps(model, 1, 1, b, t).Run(inputs, targets);
        Assert.NotEqual(one, plain);
    }

    // ------------------------------------------------------------------ resume

    [Fact]
    public void Property_ResumeWithGroupsAndDropoutEqualsAnUninterruptedRun()
    {
        // Stopped right after the checkpoint of step 6 (as a kill there), then resumed: checkpoint and log equal the uninterrupted run's.
        var spec = H3(dropout: 0.1, init: "safari");
        var task = Recall();
        var options = new TrainOptions(Steps: 12, LearningRate: 3e-3, WeightDecay: 0.1, Batch: 8, EvalEvery: 4, CheckpointEvery: 2, FastTier: false,
            MicroBatches: 2, Decay: LrDecay.Linear);
        string whole = Path.Combine(root, "whole"), stopped = Path.Combine(root, "stopped");
        new Trainer(spec, task, options, whole).Run(resume: false);
        var killer = new Trainer(spec, task, options, stopped) { OnCheckpoint = s => { if (s == 6) throw new OperationCanceledException("stop"); } };
        Assert.Throws<OperationCanceledException>(() => killer.Run(resume: false));
        var resumed = new Trainer(spec, task, options, stopped).Run(resume: true);
        Assert.Equal(6, resumed.StartStep);
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole, Trainer.CheckpointFile)), File.ReadAllBytes(Path.Combine(stopped, Trainer.CheckpointFile)));
        static string[] Log(string dir) => [.. File.ReadAllLines(Path.Combine(dir, Trainer.LogFile)).Select(l =>
        {
            var o = (JsonObject)JsonNode.Parse(l)!;
            o.Remove("tokens_per_s");
            return o.ToJsonString();
        })];
        Assert.Equal(Log(whole), Log(stopped));
        // A resume with other group settings is refused, naming the options.
        var e = Assert.Throws<InvalidDataException>(() => new Trainer(spec, task, options with { SsmLr = null }, stopped).Run(resume: true));
        Assert.Contains("ssm_lr", e.Message);
    }

    // ------------------------------------------------------------------ the official init

    [Fact]
    public void Property_SafariInitDrawsTheOfficialDistributions()
    {
        // safari simple_lm _init_weights: Linear N(0, 0.02) zero bias, fc2 N(0, 0.02 / sqrt(2 n_layer)); H3's own
        // projections as Linear layers (output_linear not rescaled); shift C kaiming-uniform U(+-1/sqrt(N)).
        const int width = 64, state = 64;
        var model = BackboneModel.Create(H3(width, state, init: "safari"), 12, 10, 3);
        var p = model.NamedParameters().ToDictionary(x => x.Name, x => x.Parameter.Value.Data);
        static double Sd(double[] x) => Math.Sqrt(x.Sum(v => v * v) / x.Length);
        void Normal(string name, double sd)
        {
            // The sample sd of n normals has relative sd ~ 1 / sqrt(2 n); 6 of those allowed.
            double tolerance = 6 / Math.Sqrt(2.0 * p[name].Length);
            Assert.True(Math.Abs(Sd(p[name]) / sd - 1) <= tolerance, $"{name}: sd {Sd(p[name])}, expected {sd}");
        }
        foreach (int b in new[] { 0, 1 })
        {
            string m = $"block{b}.mixer.", c = $"block{b}.channel.";
            foreach (var w in new[] { "wq", "wk", "wv", "wo" }) Normal(m + w, 0.02);
            foreach (var bias in new[] { "bq", "bk", "bv", "bo" }) Assert.All(p[m + bias], v => Assert.Equal(0.0, v));
            Normal(c + "fc1.weight", 0.02);
            Normal(c + "fc2.weight", 0.02 / Math.Sqrt(4));
            Assert.All(p[c + "fc1.bias"], v => Assert.Equal(0.0, v));
            Assert.All(p[c + "fc2.bias"], v => Assert.Equal(0.0, v));
            double bound = 1 / Math.Sqrt(state);
            var shiftC = p[m + "shift_c"];
            Assert.All(shiftC, v => Assert.InRange(v, -bound, bound));
            Assert.True(Math.Abs(Sd(shiftC) / (bound / Math.Sqrt(3)) - 1) <= 0.05, $"shift_c sd {Sd(shiftC)}");   // U(+-b) has sd b / sqrt 3
        }
        // The default keeps PyTorch's Linear init and this project's N(0, 1) shift C.
        var plain = BackboneModel.Create(H3(width, state), 12, 10, 3).NamedParameters().ToDictionary(x => x.Name, x => x.Parameter.Value.Data);
        Assert.True(plain["block0.mixer.shift_c"].Max(Math.Abs) > 2);
        Assert.Contains(plain["block0.mixer.bq"], v => v != 0);
    }

    [Fact]
    public void Negative_BadRecipeOptionsAreOneLineExitTwo()
    {
        string model = Path.Combine(root, "h3.json");
        File.WriteAllText(model, H3().ToJson());
        foreach (var (option, value, expected) in new[]
        {
            ("--ssm-lr", "fast", "--ssm-lr must be a rate > 0 or none, got 'fast'."),
            ("--ssm-lr", "0", "training option 'ssm-lr' must be > 0 or none, got 0."),
            ("--ssm-weight-decay", "-1", "training option 'ssm-weight-decay' must be >= 0 or none, got -1."),
            ("--decay", "step", "--decay must be cosine or linear, got 'step'."),
        })
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            string dir = Path.Combine(root, "bad");
            int code = Reference.Cli.Program.Run(["train", "--task", "h3-recall", "--model", model, "--steps", "2", "--out", dir, option, value], stdout, stderr);
            Assert.Equal(2, code);
            Assert.Equal(expected, stderr.ToString().Trim().Split('\n')[0].Replace("error: ", "", StringComparison.Ordinal));
            Assert.False(Directory.Exists(dir));
        }
    }

    [Fact]
    public void Negative_ModelJsonRecipeFieldsAreChecked()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelSpec.Parse("""{"width": 8, "depth": 1, "block": {"channel_mixer": "mlp"}, "embedding_dropout": 1}"""));
        Assert.Contains("'embedding_dropout' must be in [0, 1)", e.Message);
        e = Assert.Throws<ArgumentException>(() => ModelSpec.Parse("""{"width": 8, "depth": 1, "block": {"channel_mixer": "mlp"}, "init": "xavier"}"""));
        Assert.Contains("'init' must be pytorch or safari", e.Message);
        var spec = H3(dropout: 0.1, init: "safari");
        Assert.Equal(spec.ToJson(), ModelSpec.Parse(spec.ToJson()).ToJson());
        Assert.Equal(0.1, ModelSpec.Parse(spec.ToJson()).EmbeddingDropout);
        Assert.DoesNotContain("embedding_dropout", H3().ToJson());   // defaults are not written: older checkpoints' model JSON is unchanged
        Assert.DoesNotContain("\"init\"", H3().ToJson());
    }
}
