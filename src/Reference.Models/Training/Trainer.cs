// The training loop of `reference train`: a BackboneModel on a SyntheticTask with AdamW
// (Loshchilov and Hutter, arXiv:1711.05101; betas 0.9, 0.999, eps 1e-8 as MAD), a linear warm-up then
// cosine (or linear) decay of the learning rate to min_lr_ratio of it, global gradient-norm clipping, and an
// evaluation on the test split every N steps (macro and micro accuracy of the scored positions).
//
// Decay start. By default the decay begins where the warm-up ends; decay_start = F > warmup holds the peak
// rate from the end of the warm-up to step round(F steps) and decays only after it (warmup-stable-decay,
// LrSchedule). H3's associative recall binds keys to values late (steps 7,000-14,000 of 30,000 at lr 2e-3,
// bench/NOTES.md): a decay from the warm-up leaves the rate too low by then, a constant rate keeps the
// final accuracy noisy; a late decay keeps the rate while the binding forms and anneals afterwards.
//
// SSM dynamics group. The S4/S4D/H3 recipe trains an SSM's A, B and step Delta (the operators'
// OperatorDescriptor.SsmDynamics) in their own AdamW parameter group: lr min(ssm_lr, lr), weight decay
// ssm_weight_decay (HazyResearch/safari: OptimModule.register(name, tensor, lr) with wd 0, and
// configs/model/layer/h3.yaml lr = min(0.001, optimizer.lr)). The schedule scales both groups' rates by the
// same factor, as torch's LambdaLR does. Defaults 1e-3 and 0 are that recipe; null ("none") gives the
// group the common rate or weight decay, and both null is a single group. A model without SSM dynamics
// has one group whatever the options say.
//
// Embedding dropout (the model JSON's embedding_dropout): the masks of step s are drawn by
// EmbeddingDropoutKey(seed, s, sequence), a function of (options, step) like the data order.
//
// Determinism and resume. Everything a step depends on is a function of (options, step):
//   - the data order: epoch e is a Fisher-Yates permutation of the train split drawn from
//     SplitMix64(EpochSeed(seed, e)); the batch of step s takes samples s B .. s B + B - 1 of the
//     concatenated epochs (the data position); a train split in segments of different lengths (MqarMixTask)
//     instead runs each epoch's one-segment batches in a permuted order (MixtureOrder);
//   - the learning rate: the schedule at step s.
// The checkpoint (safetensors, written atomically by Core's Safetensors.Write) holds the parameters
// and AdamW's moments and per-parameter steps bit-exactly (float64), plus metadata: the completed
// step, the data position, the epoch's RNG state, the model JSON, the task and the options. A resumed
// run loads it and continues at the next step, so a run killed at any point and resumed equals the
// uninterrupted run bit for bit on the naive tier (the fast tier is deterministic too as long as
// its thread schedule is and the JIT does not swap a method's code mid-run: tier-0 and tier-1 code of
// the runtime's vector exp/sin/cos can differ in the last bit, so the `reference` program runs without
// tiered compilation, Reference.Cli.csproj). The log (JSON lines) is cut back to the
// checkpoint's step on resume, so no step is listed twice.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Autodiff.Optim;
using Reference.Core;
using Reference.Core.IO;

namespace Reference.Models;

/// <summary>Options of a training run (the CLI's flags).</summary>
public sealed record TrainOptions(
    int Steps = 1000, double LearningRate = 1e-3, double WeightDecay = 0.0, int Batch = 32, ulong Seed = 0,
    int EvalEvery = 100, int CheckpointEvery = 0, double WarmupFraction = 0.1, double MinLrRatio = 0.0, double ClipNorm = 1.0,
    bool FastTier = true, int EvalBatch = 128, int MicroBatches = 1, int Threads = 0,
    double? SsmLr = TrainOptions.DefaultSsmLr, double? SsmWeightDecay = TrainOptions.DefaultSsmWeightDecay, LrDecay Decay = LrDecay.Cosine,
    double? DecayStart = null, double? StopAbove = null)
{
    /// <summary>The SSM dynamics' learning-rate cap of H3's recipe (safari configs/model/layer/h3.yaml: min(0.001, lr)).</summary>
    public const double DefaultSsmLr = 1e-3;

    /// <summary>The SSM dynamics' weight decay of the S4/H3 recipe (OptimModule.register: wd 0).</summary>
    public const double DefaultSsmWeightDecay = 0.0;

    internal void Validate()
    {
        static ArgumentException Bad(string name, string message) => new($"training option '{name}' {message}.", name);
        if (Steps < 1) throw Bad("steps", $"must be >= 1, got {Steps}");
        if (!(LearningRate > 0)) throw Bad("lr", $"must be > 0, got {LearningRate}");
        if (!(WeightDecay >= 0)) throw Bad("weight-decay", $"must be >= 0, got {WeightDecay}");
        if (Batch < 1) throw Bad("batch", $"must be >= 1, got {Batch}");
        if (EvalEvery < 0) throw Bad("eval-every", $"must be >= 0, got {EvalEvery}");
        if (CheckpointEvery < 0) throw Bad("checkpoint-every", $"must be >= 0, got {CheckpointEvery}");
        if (!(WarmupFraction is >= 0 and <= 1)) throw Bad("warmup", $"must be in [0, 1], got {WarmupFraction}");
        if (!(MinLrRatio is >= 0 and <= 1)) throw Bad("min-lr-ratio", $"must be in [0, 1], got {MinLrRatio}");
        if (!(ClipNorm >= 0)) throw Bad("clip", $"must be >= 0 (0: no clipping), got {ClipNorm}");
        if (EvalBatch < 1) throw Bad("eval-batch", $"must be >= 1, got {EvalBatch}");
        if (MicroBatches < 1) throw Bad("micro-batches", $"must be >= 1, got {MicroBatches}");
        if (Threads < 0) throw Bad("threads", $"must be >= 0 (0: every core), got {Threads}");
        if (SsmLr is { } cap && !(cap > 0)) throw Bad("ssm-lr", $"must be > 0 or none, got {cap}");
        if (SsmWeightDecay is { } wd && !(wd >= 0)) throw Bad("ssm-weight-decay", $"must be >= 0 or none, got {wd}");
        if (!Enum.IsDefined(Decay)) throw Bad("decay", $"must be cosine or linear, got {Decay}");
        if (StopAbove is { } bar && !(bar is >= 0 and < 1)) throw Bad("stop-above", $"must be in [0, 1), got {bar.ToString(CultureInfo.InvariantCulture)}");
        if (DecayStart is { } f && !(f >= WarmupFraction && f < 1))
            throw Bad("decay-start", $"must be in [warmup, 1) = [{WarmupFraction.ToString(CultureInfo.InvariantCulture)}, 1), got {f.ToString(CultureInfo.InvariantCulture)}");
    }

    /// <summary>The SSM dynamics group's peak rate and weight decay, or null when they train with the others.</summary>
    internal (double Lr, double WeightDecay)? SsmGroup() =>
        SsmLr is null && SsmWeightDecay is null ? null : (Math.Min(SsmLr ?? LearningRate, LearningRate), SsmWeightDecay ?? WeightDecay);

    /// <summary>The options that define the run (everything a resumed run must share), as JSON.</summary>
    /// <remarks>
    /// The micro-batch count changes the arithmetic (see <see cref="DataParallelStep"/>), so it is part of the
    /// identity (left out when 1, so checkpoints written before it existed still resume); the thread count is not.
    /// </remarks>
    /// <remarks>
    /// The SSM group's settings are part of it for a model that has SSM dynamics (<paramref name="ssmDynamics"/>),
    /// "none" when null; the decay only when linear. Both are left out otherwise, so checkpoints of models
    /// without SSM dynamics written before they existed still resume. The decay start likewise only when it
    /// differs from the warm-up fraction (otherwise the schedule is the default one).
    /// </remarks>
    internal string Identity(bool ssmDynamics = false)
    {
        var o = new JsonObject
        {
            ["steps"] = Steps, ["lr"] = LearningRate, ["weight_decay"] = WeightDecay, ["batch"] = Batch, ["seed"] = Seed,
            ["warmup"] = WarmupFraction, ["min_lr_ratio"] = MinLrRatio, ["clip"] = ClipNorm, ["tier"] = FastTier ? "fast" : "naive",
        };
        if (MicroBatches != 1) o["micro_batches"] = MicroBatches;
        if (Decay != LrDecay.Cosine) o["decay"] = "linear";
        if (DecayStart is { } f && f != WarmupFraction) o["decay_start"] = f;
        if (ssmDynamics)
        {
            o["ssm_lr"] = SsmLr is { } cap ? JsonValue.Create(cap) : JsonValue.Create("none");
            o["ssm_weight_decay"] = SsmWeightDecay is { } wd ? JsonValue.Create(wd) : JsonValue.Create("none");
        }
        return o.ToJsonString();
    }

    /// <summary>The warm-up's length in steps.</summary>
    public long WarmupSteps => (long)Math.Round(WarmupFraction * Steps);

    /// <summary>The step where the decay begins: round(decay_start steps), or the end of the warm-up by default.</summary>
    public long DecayStartStep => DecayStart is { } f ? (long)Math.Round(f * Steps) : WarmupSteps;

    /// <summary>The schedule's multiplier of the peak rates at step <paramref name="step"/> (0-based).</summary>
    internal double LrFactor(long step) => Decay == LrDecay.Linear
        ? LrSchedule.LinearWarmupLinearDecay(step, WarmupSteps, Steps, MinLrRatio, DecayStartStep)
        : LrSchedule.LinearWarmupCosineDecay(step, WarmupSteps, Steps, MinLrRatio, DecayStartStep);
}

/// <summary>The decay after the warm-up.</summary>
public enum LrDecay
{
    /// <summary>Cosine to min_lr_ratio (MAD's).</summary>
    Cosine,

    /// <summary>Linear to min_lr_ratio (transformers' get_linear_schedule_with_warmup: safari's synthetics, H3's recipe).</summary>
    Linear,
}

/// <summary>One line of the log: a training step, or an evaluation.</summary>
public sealed record TrainRecord(int Step, double Loss, double Lr, double GradNorm, double TokensPerSecond, double? TestLoss = null,
    double? Accuracy = null, double? MacroAccuracy = null)
{
    public bool IsEvaluation => Accuracy is not null;

    public string ToJson()
    {
        var o = new JsonObject { ["step"] = Step };
        if (IsEvaluation)
        {
            o["test_loss"] = Finite(TestLoss!.Value);
            o["accuracy"] = Accuracy;
            o["macro_accuracy"] = MacroAccuracy;
        }
        else
        {
            o["loss"] = Finite(Loss);
            o["lr"] = Lr;
            o["grad_norm"] = Finite(GradNorm);
            o["tokens_per_s"] = Math.Round(TokensPerSecond, 1);
        }
        return o.ToJsonString();
    }

    private static JsonNode? Finite(double x) => double.IsFinite(x) ? JsonValue.Create(x) : JsonValue.Create(x.ToString(CultureInfo.InvariantCulture));

    public static TrainRecord? Parse(string line)
    {
        if (JsonNode.Parse(line) is not JsonObject o || o["step"] is null) return null;
        int step = o["step"]!.GetValue<int>();
        return o.ContainsKey("accuracy")
            ? new TrainRecord(step, double.NaN, 0, 0, 0, Number(o["test_loss"]), Number(o["accuracy"]), Number(o["macro_accuracy"]))
            : new TrainRecord(step, Number(o["loss"]), Number(o["lr"]), Number(o["grad_norm"]), Number(o["tokens_per_s"]));
    }

    private static double Number(JsonNode? n) => n is JsonValue v && v.TryGetValue<double>(out var d) ? d
        : n is JsonValue s && s.TryGetValue<string>(out var text) && double.TryParse(text, CultureInfo.InvariantCulture, out var p) ? p : double.NaN;
}

/// <summary>A trained model read from a checkpoint: the model, its task's name and description, the step it holds.</summary>
public sealed record TrainedCheckpoint(BackboneModel Model, string TaskName, string Task, int Step);

/// <summary>The outcome of a run.</summary>
public sealed record TrainResult(BackboneModel Model, int StartStep, IReadOnlyList<TrainRecord> Records, double Accuracy, double MacroAccuracy, double Chance);

/// <summary>A training run writing into one output directory.</summary>
public sealed class Trainer
{
    public const string CheckpointFile = "checkpoint.safetensors";
    public const string LogFile = "log.jsonl";
    public const string Format = "reference.train/1";

    public Trainer(ModelSpec model, SyntheticTask task, TrainOptions options, string outDirectory)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(outDirectory);
        options.Validate();
        int smallest = task.TrainSegmentCounts.Min();
        if (options.Batch > smallest)
            throw new ArgumentException(task.TrainSegmentCounts.Count == 1
                ? $"training option 'batch' = {options.Batch} exceeds the task's {task.TrainCount} training sequences."
                : $"training option 'batch' = {options.Batch} exceeds the smallest train segment's {smallest} sequences (every batch is one segment's).", "batch");
        (Spec, Task, Options, OutDirectory) = (model, task, options, outDirectory);
    }

    public ModelSpec Spec { get; }
    public SyntheticTask Task { get; }
    public TrainOptions Options { get; }
    public string OutDirectory { get; }
    public string CheckpointPath => Path.Combine(OutDirectory, CheckpointFile);
    public string LogPath => Path.Combine(OutDirectory, LogFile);

    /// <summary>Called after each step and each evaluation (progress, plots).</summary>
    public Action<TrainRecord>? OnRecord { get; init; }

    /// <summary>Called after each checkpoint with the step it holds.</summary>
    public Action<int>? OnCheckpoint { get; init; }

    /// <summary>
    /// Trains (or, with <paramref name="resume"/>, continues from the checkpoint in the output
    /// directory). Refuses to start afresh over an existing checkpoint, and checks before writing
    /// anything that a checkpoint to resume matches this model, task and options.
    /// </summary>
    public TrainResult Run(bool resume)
    {
        var model = BackboneModel.Create(Spec, Task.Vocabulary, Task.InputLength, Options.Seed + 1);
        var optimizer = NewOptimizer(model);
        int start = 0;
        if (resume)
        {
            if (!File.Exists(CheckpointPath))
                throw new ArgumentException($"--resume: no checkpoint at '{CheckpointPath}'.", "resume");
            start = Load(model, optimizer);
        }
        else if (File.Exists(CheckpointPath))
            throw new ArgumentException($"--out: '{OutDirectory}' already holds a checkpoint; pass --resume to continue it or choose another directory (nothing was overwritten).", "out");

        var (segments, test) = Task.GenerateSegments(Options.Seed);
        Directory.CreateDirectory(OutDirectory);
        var records = new List<TrainRecord>();
        CutLog(start, records);
        using var log = new StreamWriter(new FileStream(LogPath, FileMode.Append, FileAccess.Write, FileShare.Read));
        int b = Options.Batch;
        var samples = new int[b];
        int checkpointEvery = Options.CheckpointEvery > 0 ? Options.CheckpointEvery : Options.EvalEvery > 0 ? Options.EvalEvery : Options.Steps;
        var order = DataOrder(Task, Options);
        // One batch buffer and one data-parallel step (arenas) per sequence length: a mixture's batches differ in length.
        var byLength = new Dictionary<int, (int[] Inputs, int[] Targets, BatchSteps Steps)>();
        foreach (int length in segments.Select(g => g.Length).Distinct())
            byLength[length] = (new int[b * length], new int[b * length], new BatchSteps(model, Options.MicroBatches, Options.Threads, b, length));
        using var tier = Options.FastTier ? Tape.UseFastKernels() : default;
        var clock = Stopwatch.StartNew();
        for (int step = start; step < Options.Steps; step++)
        {
            var train = segments[order.Batch(step, samples)];
            int t = train.Length;
            var (inputs, targets, parallel) = byLength[t];
            for (int i = 0; i < b; i++)
            {
                int s = samples[i];
                train.Inputs.AsSpan(s * t, t).CopyTo(inputs.AsSpan(i * t, t));
                train.Targets.AsSpan(s * t, t).CopyTo(targets.AsSpan(i * t, t));
            }
            double factor = Options.LrFactor(step);
            optimizer.Lr = Options.LearningRate * factor;
            if (Options.SsmGroup() is { } ssm)
                foreach (var group in optimizer.Groups) group.Lr = ssm.Lr * factor;
            optimizer.ZeroGrad();
            double loss = parallel.Run(inputs, targets, new EmbeddingDropoutKey(Options.Seed, step, 0));
            double norm = Options.ClipNorm > 0 ? GradClip.ClipGradNorm(model.Parameters(), Options.ClipNorm) : GradClip.GlobalNorm(model.Parameters());
            optimizer.Step();
            double seconds = clock.Elapsed.TotalSeconds;
            clock.Restart();
            Emit(new TrainRecord(step + 1, loss, optimizer.Lr, norm, b * t / Math.Max(seconds, 1e-9)), log, records);
            bool last = step + 1 == Options.Steps, stop = false;
            if (Options.EvalEvery > 0 && (step + 1) % Options.EvalEvery == 0 || last)
            {
                var m = Evaluate(model, test, Options.EvalBatch);
                Emit(new TrainRecord(step + 1, double.NaN, optimizer.Lr, double.NaN, 0, m.Loss, m.Accuracy, m.MacroAccuracy), log, records);
                clock.Restart();
                // Early stopping as Zoology's trainer (early_stopping_threshold 0.99 on the validation accuracy): the step is checkpointed first.
                stop = Options.StopAbove is { } bar && m.Accuracy > bar;
            }
            if ((step + 1) % checkpointEvery == 0 || last || stop)
            {
                log.Flush();
                Save(model, optimizer, step + 1, order);
                OnCheckpoint?.Invoke(step + 1);
                clock.Restart();
            }
            if (stop) break;
        }
        var final = records.LastOrDefault(r => r.IsEvaluation) ?? EvaluationRecord(model, test);
        return new TrainResult(model, start, records, final.Accuracy!.Value, final.MacroAccuracy!.Value, Task.Chance);
    }

    /// <summary>
    /// AdamW over the model's parameters; the SSM dynamics (when the model has any and <see cref="TrainOptions.SsmGroup"/>
    /// is not null) in a group "ssm" with their own rate and weight decay.
    /// </summary>
    public AdamW NewOptimizer(BackboneModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var dynamics = model.SsmDynamicsParameters();
        IReadOnlyList<ParameterGroup>? groups = dynamics.Count > 0 && Options.SsmGroup() is { } ssm
            ? [new ParameterGroup("ssm", dynamics, ssm.Lr, ssm.WeightDecay)]
            : null;
        return new AdamW(model.Parameters(), Options.LearningRate, 0.9, 0.999, 1e-8, Options.WeightDecay, groups);
    }

    private bool HasSsmDynamics(BackboneModel model) => model.SsmDynamicsParameters().Count > 0;

    private TrainRecord EvaluationRecord(BackboneModel model, SyntheticSplit test)
    {
        var m = Evaluate(model, test, Options.EvalBatch);
        return new TrainRecord(Options.Steps, double.NaN, 0, double.NaN, 0, m.Loss, m.Accuracy, m.MacroAccuracy);
    }

    private void Emit(TrainRecord record, StreamWriter log, List<TrainRecord> records)
    {
        log.WriteLine(record.ToJson());
        records.Add(record);
        OnRecord?.Invoke(record);
    }

    /// <summary>
    /// Macro and micro accuracy (and loss) of the scored positions of <paramref name="split"/>, in batches of
    /// <paramref name="batch"/>. The head is applied at the scored positions only (<see cref="BackboneModel.LogitsAt"/>,
    /// as in the training step): the metrics read no other row, and full logits [B T, V] of MQAR at V 8192,
    /// T 256 and B 128 would be 2 GB of doubles for 64 scored rows per sequence.
    /// </summary>
    public static TaskMetrics Evaluate(BackboneModel model, SyntheticSplit split, int batch = 128)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(split);
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), $"batch must be >= 1, got {batch}.");
        var metrics = new TaskMetrics(split.Vocabulary);
        using (Tape.NoGrad())
        {
            for (int start = 0; start < split.Count; start += batch)
            {
                int count = Math.Min(batch, split.Count - start);
                var (inputs, targets) = split.Batch(start, count);
                int scored = 0;
                foreach (int target in targets) if (target != SyntheticTask.IgnoreIndex) scored++;
                if (scored == 0) continue;   // TaskMetrics.Add counts nothing (not even a batch) without a scored target
                if (scored == targets.Length)
                {
                    metrics.Add(model.Logits(inputs, count, split.Length).Value.Data, targets);
                    continue;
                }
                var rows = new int[scored];
                var kept = new int[scored];
                for (int i = 0, j = 0; i < targets.Length; i++)
                    if (targets[i] != SyntheticTask.IgnoreIndex) { rows[j] = i; kept[j++] = targets[i]; }
                metrics.Add(model.LogitsAt(inputs, count, split.Length, rows).Value.Data, kept);
            }
        }
        return metrics;
    }

    /// <summary>Keeps the log's lines up to <paramref name="step"/> (rewritten atomically) and returns them in <paramref name="records"/>.</summary>
    private void CutLog(int step, List<TrainRecord> records)
    {
        if (!File.Exists(LogPath)) return;
        var kept = new List<string>();
        foreach (var line in File.ReadAllLines(LogPath))
        {
            TrainRecord? r;
            try { r = TrainRecord.Parse(line); }
            catch (System.Text.Json.JsonException) { break; }   // a line cut by the kill
            if (r is null || r.Step > step) break;
            kept.Add(line);
            records.Add(r);
        }
        AtomicFile.WriteAllText(LogPath, kept.Count == 0 ? "" : string.Join('\n', kept) + "\n");
    }

    /// <summary>The data order of a run: one segment's epochs of shuffled sequences, or a mixture's epochs of shuffled one-segment batches.</summary>
    internal static IDataOrder DataOrder(SyntheticTask task, TrainOptions options) => task.TrainSegmentCounts.Count == 1
        ? new EpochOrder(task.TrainCount, options.Seed, options.Batch)
        : new MixtureOrder(task.TrainSegmentCounts, options.Seed, options.Batch);

    private void Save(BackboneModel model, AdamW optimizer, int step, IDataOrder order)
    {
        var tensors = new Dictionary<string, SafetensorsTensor>(StringComparer.Ordinal);
        var named = model.NamedParameters().ToArray();
        foreach (var (name, p) in named) tensors["model." + name] = SafetensorsTensor.FromTensor(p.Value);
        for (int i = 0; i < optimizer.Parameters.Count; i++)
        {
            var shape = optimizer.Parameters[i].Value.ShapeArray;
            foreach (var (state, buffer) in optimizer.State(i))
                tensors[$"optim.adamw.{state}.{named[i].Name}"] = SafetensorsTensor.FromTensor(new Tensor<double>(buffer, shape));
            tensors[$"optim.adamw.step.{named[i].Name}"] = SafetensorsTensor.FromInt64([optimizer.ParameterSteps[i]]);
        }
        long position = (long)step * Options.Batch;
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["format"] = Format,
            ["step"] = step.ToString(CultureInfo.InvariantCulture),
            ["optimizer_steps"] = optimizer.StepCount.ToString(CultureInfo.InvariantCulture),
            ["data_position"] = position.ToString(CultureInfo.InvariantCulture),
            ["data_epoch"] = order.Epoch(position).ToString(CultureInfo.InvariantCulture),
            ["data_rng_state"] = order.EpochRngState(position).ToString(CultureInfo.InvariantCulture),
            ["model"] = Spec.ToJson(),
            ["task"] = Task.Name + ": " + Task.Describe(),
            ["options"] = Options.Identity(HasSsmDynamics(model)),
            ["vocabulary"] = Task.Vocabulary.ToString(CultureInfo.InvariantCulture),
            ["length"] = Task.InputLength.ToString(CultureInfo.InvariantCulture),
        };
        Safetensors.Write(CheckpointPath, tensors, metadata);
    }

    private int Load(BackboneModel model, AdamW optimizer)
    {
        SafetensorsFile file;
        try { file = Safetensors.Read(CheckpointPath); }
        catch (Exception e) when (e is SafetensorsFormatException or InvalidDataException or IOException or ArgumentException or FormatException)
        {
            throw new InvalidDataException($"checkpoint '{CheckpointPath}' is unreadable: {e.Message}");
        }
        string Meta(string key) => file.Metadata.TryGetValue(key, out var v) ? v
            : throw new InvalidDataException($"checkpoint '{CheckpointPath}' lacks metadata '{key}'.");
        if (Meta("format") != Format) throw new InvalidDataException($"checkpoint '{CheckpointPath}' has format '{Meta("format")}', expected '{Format}'.");
        if (Meta("model") != Spec.ToJson()) throw new InvalidDataException($"checkpoint '{CheckpointPath}' was written for another model (its model JSON differs from --model).");
        string task = Task.Name + ": " + Task.Describe();
        if (Meta("task") != task) throw new InvalidDataException($"checkpoint '{CheckpointPath}' was written for task '{Meta("task")}', not '{task}'.");
        string identity = Options.Identity(HasSsmDynamics(model));
        if (Meta("options") != identity) throw new InvalidDataException($"checkpoint '{CheckpointPath}' was written with options {Meta("options")}, not {identity}.");
        int step = int.Parse(Meta("step"), CultureInfo.InvariantCulture);
        if (step < 0 || step > Options.Steps) throw new InvalidDataException($"checkpoint '{CheckpointPath}' holds step {step}, outside [0, {Options.Steps}].");
        long position = long.Parse(Meta("data_position"), CultureInfo.InvariantCulture);
        var order = DataOrder(Task, Options);
        if (position != (long)step * Options.Batch || ulong.Parse(Meta("data_rng_state"), CultureInfo.InvariantCulture) != order.EpochRngState(position))
            throw new InvalidDataException($"checkpoint '{CheckpointPath}': data position {position} or its RNG state does not match step {step}.");
        var named = model.NamedParameters().ToArray();
        foreach (var (name, p) in named) Copy(file, "model." + name, p.Value.Data, p.Value.ShapeArray);
        for (int i = 0; i < optimizer.Parameters.Count; i++)
        {
            var shape = optimizer.Parameters[i].Value.ShapeArray;
            foreach (var (state, buffer) in optimizer.State(i)) Copy(file, $"optim.adamw.{state}.{named[i].Name}", buffer, shape);
            string key = $"optim.adamw.step.{named[i].Name}";
            if (!file.Tensors.TryGetValue(key, out var s) || s.DType != SafetensorsDType.I64 || s.ElementCount != 1)
                throw new InvalidDataException($"checkpoint '{CheckpointPath}': '{key}' is missing or not one I64.");
            optimizer.ParameterSteps[i] = s.ToInt64Array()[0];
        }
        optimizer.StepCount = long.Parse(Meta("optimizer_steps"), CultureInfo.InvariantCulture);
        return step;
    }

    private void Copy(SafetensorsFile file, string key, double[] destination, int[] shape) => Copy(file, CheckpointPath, key, destination, shape);

    private static void Copy(SafetensorsFile file, string path, string key, double[] destination, int[] shape)
    {
        if (!file.Tensors.TryGetValue(key, out var entry))
            throw new InvalidDataException($"checkpoint '{path}': '{key}' is missing.");
        if (entry.DType != SafetensorsDType.F64 || !entry.Shape.AsSpan().SequenceEqual(shape))
            throw new InvalidDataException($"checkpoint '{path}': '{key}' is {entry.DType}{Shapes.Format(entry.Shape)}, expected F64{Shapes.Format(shape)}.");
        entry.ToTensor<double>().Data.CopyTo(destination, 0);
    }

    /// <summary>
    /// The trained model of a checkpoint written by <see cref="Run"/> (for generation and ESS): its
    /// model JSON, vocabulary and length from the metadata (older checkpoints: the vocabulary from
    /// the embedding, length 1 for the operators' initial samples, which the loaded tensors replace),
    /// then every parameter, checked by name, dtype and shape. InvalidDataException naming the file
    /// and the first problem when it is unreadable or does not match its own model JSON.
    /// </summary>
    public static TrainedCheckpoint LoadModel(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint '{path}' does not exist.", path);
        SafetensorsFile file;
        try { file = Safetensors.Read(path); }
        catch (Exception e) when (e is SafetensorsFormatException or InvalidDataException or ArgumentException or FormatException or EndOfStreamException)
        {
            throw new InvalidDataException($"checkpoint '{path}' is unreadable: {e.Message}");
        }
        string Meta(string key) => file.Metadata.TryGetValue(key, out var v) ? v
            : throw new InvalidDataException($"checkpoint '{path}' lacks metadata '{key}'.");
        if (Meta("format") != Format) throw new InvalidDataException($"checkpoint '{path}' has format '{Meta("format")}', expected '{Format}'.");
        ModelSpec spec;
        try { spec = ModelSpec.Parse(Meta("model")); }
        catch (ArgumentException e) { throw new InvalidDataException($"checkpoint '{path}': its model JSON is invalid: {e.Message}"); }
        int vocabulary = file.Metadata.TryGetValue("vocabulary", out var vText) && int.TryParse(vText, CultureInfo.InvariantCulture, out var v0) ? v0
            : file.Tensors.TryGetValue("model.embedding", out var e0) && e0.Shape.Length == 2 ? (int)e0.Shape[0]
            : throw new InvalidDataException($"checkpoint '{path}': no vocabulary metadata and no 2-d 'model.embedding'.");
        int length = file.Metadata.TryGetValue("length", out var lText) && int.TryParse(lText, CultureInfo.InvariantCulture, out var l0) ? l0 : 1;
        BackboneModel model;
        try { model = BackboneModel.Create(spec, vocabulary, length, 0); }
        catch (ArgumentException e) { throw new InvalidDataException($"checkpoint '{path}': its model cannot be built: {e.Message}"); }
        foreach (var (name, p) in model.NamedParameters()) Copy(file, path, "model." + name, p.Value.Data, p.Value.ShapeArray);
        string task = file.Metadata.TryGetValue("task", out var t) ? t : "";
        int colon = task.IndexOf(':', StringComparison.Ordinal);
        return new TrainedCheckpoint(model, colon > 0 ? task[..colon] : task, task, int.Parse(Meta("step"), CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Forward and backward of one batch [B, T] split into micro-batches of consecutive sequences
    /// (sizes as equal as possible, the first ones larger), each on its own tape and arena, summed in order
    /// (<see cref="DataParallelStep"/>). One micro-batch: the cross-entropy's mean over the scored tokens,
    /// exactly the single-tape step. Several: micro-batch i contributes its summed cross-entropy times 1/N,
    /// N the scored tokens of the whole batch, so the losses and gradients add up to the same mean (up to
    /// float reassociation).
    /// </summary>
    public sealed class BatchSteps
    {
        private readonly BackboneModel model;
        private readonly DataParallelStep step;
        private readonly int length;
        private readonly (int Start, int Count, int[] Inputs, int[] Targets)[] slices;

        public BatchSteps(BackboneModel model, int microBatches, int threads, int batch, int length)
        {
            ArgumentNullException.ThrowIfNull(model);
            ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
            ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
            this.model = model;
            this.length = length;
            int m = Math.Min(microBatches, batch);
            step = new DataParallelStep(model.Parameters(), m, threads);
            slices = new (int, int, int[], int[])[m];
            for (int i = 0; i < m; i++)
            {
                int start = (int)((long)i * batch / m), end = (int)((long)(i + 1) * batch / m);
                slices[i] = (start, end - start, new int[(end - start) * length], new int[(end - start) * length]);
            }
        }

        /// <summary>The data-parallel step (micro-batch count, threads, arenas).</summary>
        public DataParallelStep Step => step;

        /// <summary>Sets the model's gradients for the batch [B T] without embedding dropout; returns the loss.</summary>
        public double Run(int[] inputs, int[] targets) => Run(inputs, targets, null);

        /// <summary>
        /// Sets the model's gradients for the batch <paramref name="inputs"/>, <paramref name="targets"/> [B T]; returns the loss.
        /// <paramref name="dropout"/>: the step's embedding-dropout key (its FirstSequence is the batch's first; micro-batch i
        /// starts at its own first sequence, so the masks do not depend on the split).
        /// </summary>
        public double Run(int[] inputs, int[] targets, EmbeddingDropoutKey? dropout)
        {
            ArgumentNullException.ThrowIfNull(inputs);
            ArgumentNullException.ThrowIfNull(targets);
            if (slices.Length == 1)
                return step.Run(_ => ScoredCrossEntropy(model, inputs, targets, slices[0].Count, length, Reduction.Mean, dropout));
            int scored = 0;
            foreach (int target in targets) if (target != SyntheticTask.IgnoreIndex) scored++;
            double weight = 1.0 / scored;
            foreach (var (start, count, x, y) in slices)
            {
                inputs.AsSpan(start * length, count * length).CopyTo(x);
                targets.AsSpan(start * length, count * length).CopyTo(y);
            }
            return step.Run(i =>
            {
                var (start, count, x, y) = slices[i];
                var key = dropout is { } k ? k with { FirstSequence = k.FirstSequence + start } : (EmbeddingDropoutKey?)null;
                return ScoredCrossEntropy(model, x, y, count, length, Reduction.Sum, key) * weight;
            });
        }

        /// <summary>
        /// The cross-entropy over the scored targets (not IgnoreIndex) of one micro-batch, the head applied
        /// at those positions only (<see cref="BackboneModel.LogitsAt"/>) when some are ignored: the same
        /// loss as over the full logits with ignored rows, without their share of the head's work.
        /// </summary>
        public static Variable ScoredCrossEntropy(BackboneModel model, int[] inputs, int[] targets, int batch, int length, Reduction reduction,
            EmbeddingDropoutKey? dropout = null)
        {
            int scored = 0;
            foreach (int target in targets) if (target != SyntheticTask.IgnoreIndex) scored++;
            if (scored == 0 || scored == targets.Length)
                return Ops.CrossEntropy(model.Logits(inputs, batch, length, dropout), targets, SyntheticTask.IgnoreIndex, reduction: reduction);
            var rows = new int[scored];
            var kept = new int[scored];
            for (int i = 0, j = 0; i < targets.Length; i++)
                if (targets[i] != SyntheticTask.IgnoreIndex) { rows[j] = i; kept[j++] = targets[i]; }
            return Ops.CrossEntropy(model.LogitsAt(inputs, batch, length, rows, dropout), kept, SyntheticTask.IgnoreIndex, reduction: reduction);
        }
    }

    /// <summary>Which sequences each step trains on; a function of (options, step), so a resumed run continues it exactly.</summary>
    internal interface IDataOrder
    {
        /// <summary>The epoch holding data position <paramref name="position"/> (step times batch).</summary>
        long Epoch(long position);

        /// <summary>The state the epoch's generator starts from (saved in checkpoints as the data RNG state).</summary>
        ulong EpochRngState(long position);

        /// <summary>Fills <paramref name="samples"/> (B) with the sequences of step <paramref name="step"/>; returns their segment.</summary>
        int Batch(long step, int[] samples);
    }

    private static ulong EpochState(ulong seed, long epoch) => new SplitMix64(seed ^ 0xDA7A5EEDUL).NextUInt64() + 0x9E3779B97F4A7C15UL * (ulong)(epoch + 1);

    /// <summary>The data order: epoch e is a permutation of the train split from SplitMix64(EpochSeed(e)).</summary>
    internal sealed class EpochOrder(int count, ulong seed, int batch) : IDataOrder
    {
        private int epoch = -1;
        private int[] permutation = [];

        public long Epoch(long position) => position / count;

        public ulong EpochRngState(long position) => EpochState(seed, Epoch(position));

        /// <summary>Step s takes samples s B .. s B + B - 1 of the concatenated epochs (a batch can span two).</summary>
        public int Batch(long step, int[] samples)
        {
            for (int i = 0; i < batch; i++) samples[i] = Sample(step * batch + i);
            return 0;
        }

        public int Sample(long position)
        {
            int e = (int)Epoch(position);
            if (e != epoch)
            {
                var rng = new SplitMix64(EpochRngState(position));
                permutation = Enumerable.Range(0, count).ToArray();
                for (int i = permutation.Length - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (permutation[i], permutation[j]) = (permutation[j], permutation[i]); }
                epoch = e;
            }
            return permutation[(int)(position % count)];
        }
    }
    /// <summary>
    /// The data order of a train split in segments (<see cref="MqarMixTask"/>): segment i gives floor(count_i / B) batches
    /// per epoch, each B sequences of that segment alone (Zoology's _SyntheticDataset never mixes segments in a batch).
    /// Epoch e draws from SplitMix64(EpochSeed(e)) a permutation of each segment's sequences, segments in order, then a
    /// permutation of the epoch's batches; its k-th step is the k-th batch of that order. Positions are step times B, as
    /// for one segment, and an epoch is the batches-per-epoch steps.
    /// </summary>
    internal sealed class MixtureOrder : IDataOrder
    {
        private readonly IReadOnlyList<int> counts;
        private readonly ulong seed;
        private readonly int batch;
        private readonly long stepsPerEpoch;
        private long epoch = -1;
        private int[][] permutations = [];
        private (int Segment, int Index)[] batches = [];

        public MixtureOrder(IReadOnlyList<int> counts, ulong seed, int batch)
        {
            (this.counts, this.seed, this.batch) = (counts, seed, batch);
            stepsPerEpoch = counts.Sum(c => (long)(c / batch));
        }

        public long Epoch(long position) => position / batch / stepsPerEpoch;

        public ulong EpochRngState(long position) => EpochState(seed, Epoch(position));

        public int Batch(long step, int[] samples)
        {
            long e = step / stepsPerEpoch;
            if (e != epoch)
            {
                var rng = new SplitMix64(EpochState(seed, e));
                permutations = [.. counts.Select(c => Permutation(rng, c))];
                batches = [.. counts.SelectMany((c, i) => Enumerable.Range(0, c / batch).Select(j => (i, j)))];
                for (int i = batches.Length - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (batches[i], batches[j]) = (batches[j], batches[i]); }
                epoch = e;
            }
            var (segment, index) = batches[step % stepsPerEpoch];
            Array.Copy(permutations[segment], index * batch, samples, 0, batch);
            return segment;
        }

        private static int[] Permutation(SplitMix64 rng, int count)
        {
            var p = Enumerable.Range(0, count).ToArray();
            for (int i = p.Length - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (p[i], p[j]) = (p[j], p[i]); }
            return p;
        }
    }
}
