using Reference.Models;

namespace Reference.SpecTests.Models;

/// <summary>
/// MQAR trained on Zoology's mixture of (length, pairs) segments (task "mqar-mix", arXiv:2402.18668 fig. 2): every
/// segment's sequences are MQAR sequences of its own length and pair count (checked by reading the pairs back from
/// the context, not through the generator), every batch is one segment's, each epoch uses every segment's batches
/// once in a seeded order, and a run killed at a checkpoint and resumed equals the uninterrupted run bit for bit.
/// </summary>
public sealed class MqarMixTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("reference-mqar-mix-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    private static SyntheticTask Task(string mix, string length = "32", string pairs = "8", string test = "12", string vocab = "128") =>
        TaskCatalog.Create("mqar-mix", new Dictionary<string, string> { ["vocab"] = vocab, ["length"] = length, ["pairs"] = pairs, ["mix"] = mix, ["test"] = test });

    /// <summary>Checks every sequence of the split: its first 2 N tokens are N pairs with distinct keys in [1, V/2) and values in [V/2, V), and the N scored positions are queries of those keys, in the query region's even slots, whose target is the key's value.</summary>
    private static void AssertMqar(SyntheticSplit split, int length, int pairs, int vocabulary, int count)
    {
        Assert.Equal((count, length, vocabulary), (split.Count, split.Length, split.Vocabulary));
        for (int s = 0; s < split.Count; s++)
        {
            var x = split.Inputs.AsSpan(s * length, length).ToArray();
            var y = split.Targets.AsSpan(s * length, length).ToArray();
            var keys = Enumerable.Range(0, pairs).Select(j => x[2 * j]).ToArray();
            Assert.Equal(pairs, keys.Distinct().Count());
            Assert.All(keys, k => Assert.InRange(k, 1, vocabulary / 2 - 1));
            Assert.All(Enumerable.Range(0, pairs), j => Assert.InRange(x[2 * j + 1], vocabulary / 2, vocabulary - 1));
            var scored = Enumerable.Range(0, length).Where(i => y[i] != SyntheticTask.IgnoreIndex).ToArray();
            Assert.Equal(pairs, scored.Length);
            Assert.Equal(keys.OrderBy(k => k), scored.Select(i => x[i]).OrderBy(k => k));   // each key queried once
            foreach (int i in scored)
            {
                Assert.True(i >= 2 * pairs && (i - 2 * pairs) % 2 == 0, $"query at {i} is not in the query region's even slots");
                Assert.Equal(x[2 * Array.IndexOf(keys, x[i]) + 1], y[i]);
            }
        }
    }

    [Fact]
    public void Property_SegmentsAreMqarOfTheirOwnLengthAndPairs()
    {
        var task = Task("16:2:30,32:4:20,32:8:10");
        Assert.Equal(60, task.TrainCount);
        Assert.Equal([30, 20, 10], task.TrainSegmentCounts);
        Assert.Equal(32, task.InputLength);
        var (train, test) = task.GenerateSegments(5);
        Assert.Equal(3, train.Count);
        AssertMqar(train[0], 16, 2, 128, 30);
        AssertMqar(train[1], 32, 4, 128, 20);
        AssertMqar(train[2], 32, 8, 128, 10);
        AssertMqar(test, 32, 8, 128, 12);
        // Seeded: the same seed gives the same data, another seed other data.
        var (again, againTest) = task.GenerateSegments(5);
        Assert.All(Enumerable.Range(0, 3), i => Assert.Equal(train[i].Inputs, again[i].Inputs));
        Assert.Equal(test.Targets, againTest.Targets);
        Assert.NotEqual(train[0].Inputs, task.GenerateSegments(6).Train[0].Inputs);
        // Zoology's mixture is the default.
        Assert.Contains("mix " + MqarMixTask.ZoologyMix, TaskCatalog.Create("mqar-mix").Describe());
    }

    [Fact]
    public void Property_EachEpochRunsEverySegmentsBatchesOnceInASeededOrder()
    {
        int[] counts = [30, 20, 10];
        const int b = 4;   // 7 + 5 + 2 = 14 batches an epoch; the last 2, 0 and 2 sequences of the segments sit out
        var order = new Trainer.MixtureOrder(counts, 11, b);
        var samples = new int[b];
        var epochs = new List<(int Segment, int[] Samples)[]>();
        for (int e = 0; e < 3; e++)
        {
            var steps = new (int, int[])[14];
            for (int k = 0; k < 14; k++)
            {
                long step = 14L * e + k;
                int segment = order.Batch(step, samples);
                steps[k] = (segment, (int[])samples.Clone());
                Assert.Equal(e, order.Epoch(step * b));
            }
            Assert.Equal([7, 5, 2], Enumerable.Range(0, 3).Select(i => steps.Count(s => s.Item1 == i)));
            for (int i = 0; i < 3; i++)
            {
                var used = steps.Where(s => s.Item1 == i).SelectMany(s => s.Item2).ToArray();
                Assert.Equal(used.Length, used.Distinct().Count());   // no sequence twice in an epoch
                Assert.All(used, x => Assert.InRange(x, 0, counts[i] - 1));
            }
            epochs.Add(steps);
        }
        // Segments are interleaved (not run in blocks) and each epoch has its own order.
        Assert.True(Enumerable.Range(1, 13).Count(k => epochs[0][k].Segment != epochs[0][k - 1].Segment) > 2);   // segments in blocks switch twice
        Assert.NotEqual(epochs[0].Select(s => s.Segment), epochs[1].Select(s => s.Segment));
        // A function of the step: a fresh order asked out of sequence gives the same batches (what resume relies on).
        var fresh = new Trainer.MixtureOrder(counts, 11, b);
        foreach (long step in new long[] { 40, 3, 17, 3 })
        {
            int segment = fresh.Batch(step, samples);
            Assert.Equal(epochs[(int)(step / 14)][step % 14].Segment, segment);
            Assert.Equal(epochs[(int)(step / 14)][step % 14].Samples, samples);
        }
        Assert.NotEqual(epochs[0].Select(s => s.Segment), Enumerable.Range(0, 14).Select(k => new Trainer.MixtureOrder(counts, 12, b).Batch(k, samples)));
    }

    [Fact]
    public void Property_KilledMixtureRunResumesBitIdentical()
    {
        var spec = ModelSpec.Parse("""{"width": 8, "depth": 2, "block": {"mixer": {"operator": "attention.softmax", "heads": 2}, "channel_mixer": null}, "tied_head": true, "embedding_dropout": 0.1}""");
        var task = Task("8:2:12,16:4:8", length: "16", pairs: "4", test: "8", vocab: "40");
        // 3 + 2 = 5 steps an epoch of batch 4: 12 steps cross two epoch boundaries; the kill lands mid-epoch.
        var options = new TrainOptions(Steps: 12, LearningRate: 3e-3, WeightDecay: 0.1, Batch: 4, EvalEvery: 4, CheckpointEvery: 2, FastTier: false);
        string whole = Path.Combine(root, "whole"), stopped = Path.Combine(root, "stopped");
        var full = new Trainer(spec, task, options, whole).Run(resume: false);
        var killer = new Trainer(spec, task, options, stopped) { OnCheckpoint = s => { if (s == 6) throw new OperationCanceledException("kill"); } };
        Assert.Throws<OperationCanceledException>(() => killer.Run(resume: false));
        var resumed = new Trainer(spec, task, options, stopped).Run(resume: true);
        Assert.Equal(6, resumed.StartStep);
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole, Trainer.CheckpointFile)), File.ReadAllBytes(Path.Combine(stopped, Trainer.CheckpointFile)));
        // The logs agree line for line but for the measured tokens/s.
        static string[] Log(string dir) => [.. File.ReadAllLines(Path.Combine(dir, Trainer.LogFile))
            .Select(l => System.Text.RegularExpressions.Regex.Replace(l, "\"tokens_per_s\":[0-9.E+-]+", ""))];
        Assert.Equal(15, Log(whole).Length);   // 12 steps and the evaluations at 4, 8 and 12
        Assert.Equal(Log(whole), Log(stopped));
        Assert.Equal(full.Accuracy, resumed.Accuracy);
        // Another mixture is another run: refused, nothing overwritten.
        byte[] before = File.ReadAllBytes(Path.Combine(whole, Trainer.CheckpointFile));
        var other = Task("8:2:12,16:4:9", length: "16", pairs: "4", test: "8", vocab: "40");
        var e = Assert.Throws<InvalidDataException>(() => new Trainer(spec, other, options, whole).Run(resume: true));
        Assert.Contains("16:4:9", e.Message);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(whole, Trainer.CheckpointFile)));
    }

    [Fact]
    public void Property_StopAboveEndsAtTheFirstEvaluationOverTheBar()
    {
        var spec = ModelSpec.Parse("""{"width": 8, "depth": 1, "block": {"mixer": {"operator": "attention.softmax"}, "channel_mixer": null}, "tied_head": true}""");
        var task = Task("8:2:12,16:4:8", length: "16", pairs: "4", test: "8", vocab: "40");
        var options = new TrainOptions(Steps: 12, LearningRate: 1e-2, Batch: 4, EvalEvery: 2, CheckpointEvery: 6, FastTier: false, EvalBatch: 3);
        var full = new Trainer(spec, task, options, Path.Combine(root, "full")).Run(resume: false);
        var evals = full.Records.Where(r => r.IsEvaluation).ToArray();
        Assert.Equal(6, evals.Length);
        // The bar just under the best accuracy: the run stops at the first evaluation reaching it, not at the end.
        double best = evals.Max(r => r.Accuracy!.Value);
        Assert.True(best > 0, "the tiny run scores some queries");
        int expected = evals.First(r => r.Accuracy!.Value > best - 1e-9).Step;
        string dir = Path.Combine(root, "stopped");
        var stopped = new Trainer(spec, task, options with { StopAbove = best - 1e-9 }, dir).Run(resume: false);
        Assert.Equal(expected, stopped.Records[^1].Step);
        Assert.Equal(full.Records.TakeWhile(r => r.Step <= expected).Select(r => (r.Step, r.Loss, r.Accuracy)), stopped.Records.Select(r => (r.Step, r.Loss, r.Accuracy)));
        Assert.Equal(expected.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Reference.Core.IO.Safetensors.Read(Path.Combine(dir, Trainer.CheckpointFile)).Metadata["step"]);   // the stopping step is checkpointed
        // Not part of the run's identity: the stopped run resumes without the bar to the end, equal to the uninterrupted run.
        var resumed = new Trainer(spec, task, options, dir).Run(resume: true);
        Assert.Equal(expected, resumed.StartStep);
        Assert.Equal(full.Accuracy, resumed.Accuracy);
        Assert.Equal("stop-above", Assert.Throws<ArgumentException>(() => new Trainer(spec, task, options with { StopAbove = 1 }, dir)).ParamName);
    }

    [Fact]
    public void Negative_BadMixturesAreOneLineExitTwo()
    {
        string model = Path.Combine(root, "att.json");
        File.WriteAllText(model, """{"width": 8, "depth": 1, "block": {"mixer": {"operator": "attention.softmax"}, "channel_mixer": null}}""");
        foreach (var (args, expected) in new (string[], string)[]
        {
            (["--task-option", "mix=64:4"], "must be LENGTH:PAIRS:COUNT segments separated by commas"),
            (["--task-option", "mix=512:4:100"], "segment 0 (512:4:100) is longer than the test length 256"),
            (["--task-option", "mix=64:4:100,64:20:100"], "segment 1 (64:20:100) is impossible"),
            (["--task-option", "mix=64:4:0"], "segment 0 (64:4:0) must have count >= 1"),
            (["--task-option", "mix=64:4:100,128:8:10", "--batch", "16"], "exceeds the smallest train segment's 10 sequences"),
            (["--task-option", "train=100"], "task setting 'train' is not a setting of mqar-mix"),
        })
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            string dir = Path.Combine(root, "bad");
            int code = Reference.Cli.Program.Run(["train", "--task", "mqar-mix", "--task-option", "test=4", "--model", model, "--steps", "2", "--out", dir, .. args], stdout, stderr);
            Assert.Equal(2, code);
            string[] lines = stderr.ToString().Trim().Split('\n');
            Assert.Single(lines);
            Assert.Contains(expected, lines[0]);
            Assert.False(Directory.Exists(dir));
        }
    }
}
