using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Autodiff.Optim;
using Reference.Core;
using Reference.Models;

namespace Reference.SpecTests.Models;

/// <summary>
/// The decay start of the trainer's schedule (`--decay-start F`): linear warm-up over W = round(warmup T)
/// steps, the peak rate until D = round(F T), then the cosine or linear decay to min_lr_ratio at T
/// (warmup-stable-decay, MiniCPM arXiv:2404.06395). Checked against a closed form written differently from
/// the implementation (linear: 1 - (1 - m) (s - D) / (T - D); cosine: m + (1 - m) cos^2(pi p / 2)), the
/// default against the schedule as it was before the option existed (copied below), and the trainer's
/// logged rate at every step against the same closed form.
/// </summary>
public sealed class DecayStartTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("reference-decay-start-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    /// <summary>The schedule's factor at 0-based step s, in float64, from its definition.</summary>
    private static double ClosedForm(long s, long total, double warmupFraction, double? decayStart, LrDecay kind, double m)
    {
        long w = (long)Math.Round(warmupFraction * total);
        long d = decayStart is { } f ? (long)Math.Round(f * total) : w;
        if (s < w) return s / (double)w;
        if (s < d) return 1.0;
        if (total == d) return m;   // s >= T: past the end
        double p = Math.Min(1.0, (s - d) / (double)(total - d));
        return kind == LrDecay.Linear ? 1 - (1 - m) * p : m + (1 - m) * Math.Pow(Math.Cos(Math.PI * p / 2), 2);
    }

    /// <summary>The schedule of TrainOptions before --decay-start existed (commit 4238e85), verbatim but for the names.</summary>
    private static double OldFactor(long step, long warmupSteps, long totalSteps, double minRatio, LrDecay kind)
    {
        if (step < warmupSteps) return (double)step / Math.Max(1, warmupSteps);
        if (kind == LrDecay.Linear)
        {
            double linear = Math.Max(0.0, (double)(totalSteps - step) / Math.Max(1, totalSteps - warmupSteps));
            return minRatio + (1.0 - minRatio) * linear;
        }
        double progress = Math.Min(1.0, (double)(step - warmupSteps) / Math.Max(1, totalSteps - warmupSteps));
        double decay = Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * progress)));
        return minRatio + (1.0 - minRatio) * decay;
    }

    /// <summary>A draw of (steps, warm-up, decay start, kind, floor) from one seed: fractions on a 1/40 grid so W = D and D = T occur.</summary>
    private static TrainOptions Draw(int seed)
    {
        var rng = new SplitMix64((ulong)seed);
        int steps = 1 + rng.NextInt(400);
        double warmup = rng.NextInt(3) == 0 ? 0 : rng.NextInt(40) / 40.0;
        double start = warmup + rng.NextInt(40 - (int)Math.Round(warmup * 40)) / 40.0;   // in [warmup, 1)
        var kind = rng.NextInt(2) == 0 ? LrDecay.Linear : LrDecay.Cosine;
        double floor = rng.NextInt(4) switch { 0 => 0, 1 => 1, _ => rng.Uniform() };
        return new TrainOptions(Steps: steps, WarmupFraction: warmup, MinLrRatio: floor, Decay: kind, DecayStart: start);
    }

    [Property(MaxTest = 200)]
    public Property Property_FactorAtEveryStepIsTheClosedForm() =>
        Prop.ForAll(Gen.Choose(1, 1_000_000).ToArbitrary(), seed =>
        {
            var o = Draw(seed);
            o.Validate();
            long d = o.DecayStartStep;
            double previous = double.PositiveInfinity;
            for (long s = 0; s < o.Steps; s++)
            {
                double got = o.LrFactor(s), expected = ClosedForm(s, o.Steps, o.WarmupFraction, o.DecayStart, o.Decay, o.MinLrRatio);
                Assert.True(Math.Abs(got - expected) <= 1e-15, $"{o}: step {s}: {got} vs {expected}");
                if (s >= d)
                {
                    // From the decay start on: non-increasing, between the floor and 1.
                    Assert.True(got <= previous + 1e-15 && got >= o.MinLrRatio - 1e-15 && got <= 1 + 1e-15, $"{o}: step {s}: {got} after {previous}");
                    previous = got;
                }
            }
            if (d >= o.WarmupSteps && d < o.Steps) Assert.Equal(1.0, o.LrFactor(d), 1e-15);   // no jump where the decay begins
            return true;
        });

    [Property(MaxTest = 100)]
    public Property Property_DefaultIsTheOldScheduleBitForBit() =>
        Prop.ForAll(Gen.Choose(1, 1_000_000).ToArbitrary(), seed =>
        {
            var drawn = Draw(seed);
            var plain = drawn with { DecayStart = null };
            var explicitDefault = drawn with { DecayStart = drawn.WarmupFraction };
            for (long s = 0; s < plain.Steps; s++)
            {
                double old = OldFactor(s, (long)Math.Round(plain.WarmupFraction * plain.Steps), plain.Steps, plain.MinLrRatio, plain.Decay);
                Assert.Equal(BitConverter.DoubleToInt64Bits(old), BitConverter.DoubleToInt64Bits(plain.LrFactor(s)));
                Assert.Equal(BitConverter.DoubleToInt64Bits(old), BitConverter.DoubleToInt64Bits(explicitDefault.LrFactor(s)));
            }
            // The same schedule is the same run: the identity (checkpoint metadata) does not change.
            Assert.Equal(plain.Identity(ssmDynamics: true), explicitDefault.Identity(ssmDynamics: true));
            Assert.DoesNotContain("decay_start", plain.Identity(ssmDynamics: true));
            return true;
        });

    [Fact]
    public void Property_TrainerLogsTheClosedFormRateAtEveryStep()
    {
        // 40 steps, W = 4, D = 26: warm-up, 22 constant steps, 14 linear steps to 0.1 lr. The log's lr of step s + 1 is the rate of 0-based step s.
        var spec = ModelSpec.Parse("""{"width": 8, "depth": 1, "block": {"mixer": {"operator": "ssm.h3", "state_size": 4}, "channel_mixer": "mlp"}}""");
        var task = TaskCatalog.Create("h3-recall", new Dictionary<string, string> { ["vocab"] = "12", ["length"] = "8", ["train"] = "64", ["test"] = "16" });
        foreach (var kind in new[] { LrDecay.Linear, LrDecay.Cosine })
        {
            var options = new TrainOptions(Steps: 40, LearningRate: 3e-3, Batch: 4, EvalEvery: 0, WarmupFraction: 0.1, MinLrRatio: 0.1, FastTier: false,
                Decay: kind, DecayStart: 0.65);
            string dir = Path.Combine(root, kind.ToString());
            var result = new Trainer(spec, task, options, dir).Run(resume: false);
            var rates = result.Records.Where(r => !r.IsEvaluation).ToArray();
            Assert.Equal(40, rates.Length);
            foreach (var r in rates)
            {
                double expected = 3e-3 * ClosedForm(r.Step - 1, 40, 0.1, 0.65, kind, 0.1);
                Assert.True(Math.Abs(r.Lr - expected) <= 1e-17, $"{kind}: step {r.Step}: lr {r.Lr} vs {expected}");
            }
            Assert.Equal(3e-3, rates[26].Lr, 1e-17);   // step 27 = 0-based 26 = D: still the peak
            Assert.True(rates[27].Lr < 3e-3);
            Assert.Equal(0.65, JsonNode.Parse(options.Identity(ssmDynamics: true))!["decay_start"]!.GetValue<double>());
        }
    }

    [Fact]
    public void Property_ResumeKeepsTheScheduleAndRefusesAnotherDecayStart()
    {
        var spec = ModelSpec.Parse("""{"width": 8, "depth": 1, "block": {"mixer": {"operator": "ssm.h3", "state_size": 4}, "channel_mixer": "mlp"}, "embedding_dropout": 0.1}""");
        var task = TaskCatalog.Create("h3-recall", new Dictionary<string, string> { ["vocab"] = "12", ["length"] = "8", ["train"] = "64", ["test"] = "16" });
        var options = new TrainOptions(Steps: 12, LearningRate: 3e-3, WeightDecay: 0.1, Batch: 4, EvalEvery: 4, CheckpointEvery: 2, FastTier: false,
            MinLrRatio: 0.05, Decay: LrDecay.Linear, DecayStart: 0.5);
        string whole = Path.Combine(root, "whole"), stopped = Path.Combine(root, "stopped");
        new Trainer(spec, task, options, whole).Run(resume: false);
        var killer = new Trainer(spec, task, options, stopped) { OnCheckpoint = s => { if (s == 8) throw new OperationCanceledException("stop"); } };
        Assert.Throws<OperationCanceledException>(() => killer.Run(resume: false));
        // Resumed inside the decay (D = 6): the same checkpoint bytes as the uninterrupted run.
        var resumed = new Trainer(spec, task, options, stopped).Run(resume: true);
        Assert.Equal(8, resumed.StartStep);
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole, Trainer.CheckpointFile)), File.ReadAllBytes(Path.Combine(stopped, Trainer.CheckpointFile)));
        // Another decay start, or none (the default schedule), is another run: refused, naming the option, nothing overwritten.
        byte[] before = File.ReadAllBytes(Path.Combine(whole, Trainer.CheckpointFile));
        foreach (var other in new[] { options with { DecayStart = 0.75 }, options with { DecayStart = null } })
        {
            var e = Assert.Throws<InvalidDataException>(() => new Trainer(spec, task, other, whole).Run(resume: true));
            Assert.Contains("decay_start", e.Message);
        }
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(whole, Trainer.CheckpointFile)));
    }

    [Fact]
    public void Negative_BadDecayStartIsOneLineExitTwo()
    {
        string model = Path.Combine(root, "h3.json");
        File.WriteAllText(model, """{"width": 8, "depth": 1, "block": {"mixer": {"operator": "ssm.h3", "state_size": 4}, "channel_mixer": "mlp"}}""");
        foreach (var (args, expected) in new (string[], string)[]
        {
            (["--decay-start", "1"], "training option 'decay-start' must be in [warmup, 1) = [0.1, 1), got 1."),
            (["--decay-start", "1.5"], "training option 'decay-start' must be in [warmup, 1) = [0.1, 1), got 1.5."),
            (["--decay-start", "-0.2", "--warmup", "0"], "training option 'decay-start' must be in [warmup, 1) = [0, 1), got -0.2."),
            (["--decay-start", "0.05"], "training option 'decay-start' must be in [warmup, 1) = [0.1, 1), got 0.05."),
            (["--decay-start", "0.2", "--warmup", "0.3"], "training option 'decay-start' must be in [warmup, 1) = [0.3, 1), got 0.2."),
        })
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            string dir = Path.Combine(root, "bad");
            int code = Reference.Cli.Program.Run(["train", "--task", "h3-recall", "--model", model, "--steps", "2", "--out", dir, .. args], stdout, stderr);
            Assert.Equal(2, code);
            string[] lines = stderr.ToString().Trim().Split('\n');
            Assert.Single(lines);
            Assert.Equal(expected, lines[0].Replace("error: ", "", StringComparison.Ordinal));
            Assert.False(Directory.Exists(dir));
        }
        // The schedule itself refuses a decay start outside [W, T].
        Assert.Equal("decayStartStep", Assert.Throws<ArgumentOutOfRangeException>(() => LrSchedule.LinearWarmupLinearDecay(0, 10, 100, 0, 9)).ParamName);
        Assert.Equal("decayStartStep", Assert.Throws<ArgumentOutOfRangeException>(() => LrSchedule.LinearWarmupCosineDecay(0, 10, 100, 0, 101)).ParamName);
    }
}
