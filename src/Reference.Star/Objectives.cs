// STAR's objectives (arXiv:2411.17800, sec. 3.3), all minimized:
//   quality  the test loss after a short training run (the paper: perplexity after a short run; at this
//            scale, cross-entropy on a synthetic task's held-out split) with AdamW, warm-up and cosine decay;
//   params   learned parameters with shared tensors counted once (the real, deduplicated tensor count);
//   cache    inference cache elements of one sequence after a prefix of L tokens, shared K/V and shared
//            convolution inputs counted once (StarModel.CacheSizes).
// Any non-empty subset, in any order, is chosen by name. An evaluation is a pure function of the genome
// and the settings (the seed fixes data and initialization), so it is a self-contained job: settings and
// genome JSON in, result JSON out (`reference evaluate`).
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Autodiff.Optim;
using Reference.Core;
using Reference.Models;

namespace Reference.Star;

/// <summary>Everything an evaluation depends on besides the genome.</summary>
public sealed record EvaluationSettings(
    IReadOnlyList<string> Objectives, string Task = "mqar", IReadOnlyDictionary<string, string>? TaskOptions = null,
    int Width = 16, int Heads = 4, int Steps = 40, int Batch = 16, double LearningRate = 3e-3, ulong Seed = 0,
    int CachePrefix = 1024, int EvalSamples = 128)
{
    public static readonly IReadOnlyList<string> Known = ["quality", "params", "cache"];

    public LivSizes Sizes => new(Width, Heads);

    public void Validate()
    {
        static ArgumentException Bad(string name, string message) => new($"evaluation setting '{name}' {message}.", name);
        if (Objectives.Count == 0) throw Bad("objectives", "must name at least one of quality, params, cache");
        foreach (var o in Objectives)
            if (!Known.Contains(o)) throw Bad("objectives", $"has unknown objective '{o}'; expected quality, params or cache");
        if (Objectives.Distinct().Count() != Objectives.Count) throw Bad("objectives", "names an objective twice");
        if (Steps < 1) throw Bad("steps", $"must be >= 1, got {Steps}");
        if (Batch < 1) throw Bad("batch", $"must be >= 1, got {Batch}");
        if (!(LearningRate > 0)) throw Bad("lr", $"must be > 0, got {LearningRate}");
        if (CachePrefix < 1) throw Bad("cache-length", $"must be >= 1, got {CachePrefix}");
        if (EvalSamples < 1) throw Bad("eval-samples", $"must be >= 1, got {EvalSamples}");
        Sizes.Validate();
    }

    public SyntheticTask CreateTask() => TaskCatalog.Create(Task, TaskOptions ?? new Dictionary<string, string>());

    public JsonObject ToJson()
    {
        var options = new JsonObject();
        foreach (var (k, v) in (TaskOptions ?? new Dictionary<string, string>()).OrderBy(p => p.Key, StringComparer.Ordinal)) options[k] = v;
        return new JsonObject
        {
            ["objectives"] = new JsonArray([.. Objectives.Select(o => (JsonNode?)o)]),
            ["task"] = Task, ["task_options"] = options, ["width"] = Width, ["heads"] = Heads, ["steps"] = Steps, ["batch"] = Batch,
            ["lr"] = LearningRate, ["seed"] = Seed, ["cache_prefix"] = CachePrefix, ["eval_samples"] = EvalSamples,
        };
    }

    public static EvaluationSettings FromJson(JsonNode? node)
    {
        if (node is not JsonObject o) throw new ArgumentException("evaluation settings must be a JSON object.", "settings");
        T Get<T>(string key, T fallback)
        {
            if (o[key] is null) return fallback;
            try { return o[key]!.GetValue<T>(); }
            catch (Exception e) when (e is InvalidOperationException or FormatException) { throw new ArgumentException($"evaluation setting '{key}' has the wrong type: {o[key]!.ToJsonString()}.", key); }
        }
        var objectives = o["objectives"] is JsonArray a ? a.Select(x => x?.GetValue<string>() ?? "").ToArray() : throw new ArgumentException("evaluation setting 'objectives' is required.", "objectives");
        var options = new Dictionary<string, string>();
        if (o["task_options"] is JsonObject t) foreach (var (k, v) in t) options[k] = v?.ToString() ?? "";
        var s = new EvaluationSettings(objectives, Get("task", "mqar"), options, Get("width", 16), Get("heads", 4), Get("steps", 40), Get("batch", 16),
            Get("lr", 3e-3), Get("seed", 0UL), Get("cache_prefix", 1024), Get("eval_samples", 128));
        s.Validate();
        return s;
    }
}

/// <summary>The outcome of one evaluation (objective values in the settings' order; failed: +inf with the reason).</summary>
public sealed record EvaluationResult(Genome Genome, IReadOnlyDictionary<string, double> Values, bool Failed = false, string? Error = null, double Seconds = 0, int Attempts = 1)
{
    public double[] Vector(IReadOnlyList<string> objectives) =>
        [.. objectives.Select(o => !Failed && Values.TryGetValue(o, out var v) && double.IsFinite(v) ? v : double.PositiveInfinity)];

    public static EvaluationResult Failure(Genome genome, string error, int attempts) => new(genome, new Dictionary<string, double>(), true, error, 0, attempts);

    public JsonObject ToJson()
    {
        var values = new JsonObject();
        foreach (var (k, v) in Values) values[k] = double.IsFinite(v) ? v : null;
        var o = new JsonObject
        {
            ["format"] = "reference.star.result/1",
            ["genome"] = Genome.ToJsonObject(),
            ["status"] = Failed ? "failed" : "ok",
            ["objectives"] = values,
            ["seconds"] = Math.Round(Seconds, 3),
            ["attempts"] = Attempts,
        };
        if (Error is not null) o["error"] = Error;
        return o;
    }

    public static EvaluationResult FromJson(JsonNode? node)
    {
        if (node is not JsonObject o || o["format"]?.GetValue<string>() != "reference.star.result/1")
            throw new InvalidDataException("not a reference.star.result/1 object.");
        var values = new Dictionary<string, double>();
        if (o["objectives"] is JsonObject v) foreach (var (k, x) in v) values[k] = x is null ? double.NaN : x.GetValue<double>();
        return new EvaluationResult(Genome.FromJson(o["genome"]), values, o["status"]?.GetValue<string>() == "failed", o["error"]?.GetValue<string>(),
            o["seconds"]?.GetValue<double>() ?? 0, o["attempts"]?.GetValue<int>() ?? 1);
    }
}

/// <summary>Computes the objectives of a genome.</summary>
public static class GenomeEvaluator
{
    /// <summary>Evaluates <paramref name="genome"/> (a valid one) under <paramref name="settings"/>.</summary>
    public static EvaluationResult Evaluate(Genome genome, EvaluationSettings settings)
    {
        ArgumentNullException.ThrowIfNull(genome);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        var clock = Stopwatch.StartNew();
        var task = settings.CreateTask();
        var model = StarModel.Create(genome, settings.Sizes, task.Vocabulary, settings.Seed + 1);
        var values = new Dictionary<string, double>();
        foreach (var objective in settings.Objectives)
        {
            values[objective] = objective switch
            {
                "params" => model.ParameterCount(),
                "cache" => model.CacheSizes(settings.CachePrefix).Sum(),
                _ => Quality(model, task, settings),
            };
        }
        return new EvaluationResult(genome, values, Seconds: clock.Elapsed.TotalSeconds);
    }

    /// <summary>Held-out cross-entropy after <see cref="EvaluationSettings.Steps"/> AdamW steps.</summary>
    public static double Quality(StarModel model, SyntheticTask task, EvaluationSettings settings)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(settings);
        var (train, test) = task.Generate(settings.Seed);
        var optimizer = new AdamW(model.Parameters(), settings.LearningRate, 0.9, 0.999, 1e-8, 0.0);
        int b = Math.Min(settings.Batch, train.Count), t = train.Length;
        long warmup = (long)Math.Round(0.1 * settings.Steps);
        var rng = new SplitMix64(settings.Seed ^ 0x57A4UL);
        using var tier = Tape.UseFastKernels();
        var arena = new TensorArena();   // each step's intermediates reuse the previous step's buffers
        var inputs = new int[b * t];
        var targets = new int[b * t];
        for (int step = 0; step < settings.Steps; step++)
        {
            for (int i = 0; i < b; i++)
            {
                int s = rng.NextInt(train.Count);
                train.Inputs.AsSpan(s * t, t).CopyTo(inputs.AsSpan(i * t, t));
                train.Targets.AsSpan(s * t, t).CopyTo(targets.AsSpan(i * t, t));
            }
            optimizer.Lr = settings.LearningRate * LrSchedule.LinearWarmupCosineDecay(step, warmup, settings.Steps, 0.1);
            optimizer.ZeroGrad();
            using (arena.Use())
            {
                var loss = Ops.CrossEntropy(model.Logits(inputs, b, t), targets, SyntheticTask.IgnoreIndex);
                loss.Backward();
            }
            arena.Reset();
            GradClip.ClipGradNorm(model.Parameters(), 1.0);
            optimizer.Step();
        }
        double total = 0;
        int batches = 0;
        using (Tape.NoGrad())
        {
            int count = Math.Min(settings.EvalSamples, test.Count);
            for (int start = 0; start < count; start += 64)
            {
                int n = Math.Min(64, count - start);
                var (x, y) = test.Batch(start, n);
                total += Ops.CrossEntropy(model.Logits(x, n, test.Length), y, SyntheticTask.IgnoreIndex).Item() * n;
                batches += n;
            }
        }
        double quality = total / batches;
        return double.IsFinite(quality) ? quality : double.PositiveInfinity;
    }

    public static string Describe(EvaluationResult r) => string.Join("  ", r.Values.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key} {p.Value:G5}")));
}
