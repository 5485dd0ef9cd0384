using System.Diagnostics;
using System.Globalization;
using Reference.Autodiff;
using Reference.Autodiff.Optim;
using Reference.Core;
using Reference.Models;

namespace Reference.Bench;

/// <summary>
/// `--train-memory [batch] [micro-batches] [threads] [steps]`: what a training step of the MQAR run holds in memory
/// (bench/models/mqar-attention-128.json on MQAR vocab 8192, L 256, 64 pairs: 64 scored positions per sequence),
/// one configuration per process so that the peak resident set (the kernel's VmHWM) belongs to it alone.
/// After each `reference train` step (Trainer.BatchSteps, the fast tier, AdamW) it prints the step's arenas (their
/// count and the float64 buffers they hold: the autodiff tape's values, saved intermediates and cotangents), the GC
/// heap after the step (GC.GetGCMemoryInfo) and after a full collection (what stays reachable), and the process's
/// peak resident set so far. Memory, not time: no timing is printed.
/// </summary>
public static class TrainMemory
{
    private const string Model = """{"width": 128, "depth": 2, "block": {"mixer": {"operator": "attention.softmax", "heads": 1}, "channel_mixer": null}, "tied_head": true, "init": "safari", "embedding_dropout": 0.1}""";

    public static void Run(string[] args)
    {
        int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;
        int batch = Arg(0, 64), micro = Arg(1, 1), threads = Arg(2, 1), steps = Arg(3, 2);
        var task = TaskCatalog.Create("mqar", new Dictionary<string, string>
        {
            ["vocab"] = "8192", ["length"] = "256", ["pairs"] = "64",
            ["train"] = batch.ToString(CultureInfo.InvariantCulture), ["test"] = "1",
        });
        var (train, _) = task.Generate(0);
        int length = train.Length;
        var model = BackboneModel.Create(ModelSpec.Parse(Model), task.Vocabulary, task.InputLength, 1);
        var optimizer = new AdamW(model.Parameters(), 1e-3, 0.9, 0.999, 1e-8, 0.1);
        var step = new Trainer.BatchSteps(model, micro, threads, batch, length);
        var (inputs, targets) = train.Batch(0, batch);
        int scored = targets.Count(t => t != SyntheticTask.IgnoreIndex);
        Console.WriteLine($"# train-memory: MQAR V {task.Vocabulary} L {length}, batch {batch} ({scored} scored targets), micro-batches {step.Step.MicroBatches}, " +
            $"threads {step.Step.Threads}, parameters {model.Parameters().Sum(p => (long)p.Length)}; GC server {System.Runtime.GCSettings.IsServerGC}");
        Console.WriteLine("step  loss        arenas  arena_MB  heap_after_step_MB  heap_after_collect_MB  peak_rss_MB");
        using var tier = Tape.UseFastKernels();
        for (int s = 0; s < steps; s++)
        {
            optimizer.ZeroGrad();
            double loss = step.Run(inputs, targets, new EmbeddingDropoutKey(0, s, 0));
            GradClip.ClipGradNorm(model.Parameters(), 1.0);
            optimizer.Step();
            long arena = step.Step.Arenas.Sum(a => a.HeldElements) * sizeof(double);
            long heap = GC.GetGCMemoryInfo().HeapSizeBytes;
            long live = GC.GetTotalMemory(forceFullCollection: true);
            using var self = Process.GetCurrentProcess();
            Console.WriteLine(FormattableString.Invariant(
                $"{s + 1,4}  {loss,10:F6}  {step.Step.Arenas.Count,6}  {arena / 1e6,8:F0}  {heap / 1e6,18:F0}  {live / 1e6,21:F0}  {self.PeakWorkingSet64 / 1e6,11:F0}"));
        }
        // The arenas' buffers by length (elements; MB of float64 = length x count x 8 / 1e6), the largest eight lengths.
        var held = step.Step.Arenas.SelectMany(a => a.HeldBuffers()).GroupBy(x => x.Length, (length, xs) => (Length: length, Count: xs.Sum(x => x.Count)))
            .OrderByDescending(x => x.Length).ToArray();
        Console.WriteLine("# arena buffers by length: " + string.Join("; ", held.Take(8).Select(x =>
            FormattableString.Invariant($"{x.Length} x {x.Count} = {x.Length * (double)x.Count * sizeof(double) / 1e6:F0} MB"))) +
            FormattableString.Invariant($"; {held.Length - Math.Min(8, held.Length)} other lengths {held.Skip(8).Sum(x => x.Length * (double)x.Count) * sizeof(double) / 1e6:F0} MB"));
    }
}
