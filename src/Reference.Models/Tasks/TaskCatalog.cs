// The tasks by name, with MAD's (and Zoology's, H3's) data sizes as defaults and every setting
// overridable by "key=value" (the CLI's --task-option). An unknown task, an unknown setting or an
// impossible size is an ArgumentException naming it.
using System.Globalization;

namespace Reference.Models;

public static class TaskCatalog
{
    /// <summary>Each task's settings and defaults (MAD baselines; Zoology's MQAR sizes; H3's configs).</summary>
    public static IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> Defaults { get; } =
        new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["in-context-recall"] = Settings(("vocab", "16"), ("length", "128"), ("train", "12800"), ("test", "1280")),
            ["noisy-recall"] = Settings(("vocab", "32"), ("length", "128"), ("noise_vocab", "16"), ("frac_noise", "0.2"), ("train", "12800"), ("test", "1280")),
            ["fuzzy-recall"] = Settings(("vocab", "16"), ("length", "128"), ("k_motif", "3"), ("v_motif", "3"), ("train", "12800"), ("test", "1280")),
            ["memorization"] = Settings(("vocab", "256"), ("length", "32"), ("train", "256"), ("test", "1280")),
            ["compression"] = Settings(("vocab", "16"), ("length", "32"), ("train", "12800"), ("test", "1280")),
            ["selective-copying"] = Settings(("vocab", "16"), ("length", "256"), ("copies", "16"), ("train", "12800"), ("test", "1280")),
            ["mqar"] = Settings(("vocab", "8192"), ("length", "64"), ("pairs", "4"), ("power_a", "0.01"), ("train", "100000"), ("test", "3000")),
            [MqarMixTask.TaskName] = Settings(("vocab", "8192"), ("length", "256"), ("pairs", "64"), ("power_a", "0.01"), ("mix", MqarMixTask.ZoologyMix), ("test", "1000")),
            ["h3-recall"] = Settings(("vocab", "20"), ("length", "40"), ("train", "5000"), ("test", "500")),
            ["h3-induction"] = Settings(("vocab", "20"), ("length", "30"), ("train", "5000"), ("test", "500")),
            [DelimitedRecallTask.TaskName] = Settings(("vocab", "17"), ("length", "64"), ("segments", "4"), ("train", "12800"), ("test", "1280")),
            [TextTask.TaskName] = Settings(("tokenizer", "bytes"), ("length", "128"), ("train", "0"), ("test", "0"), ("corpus", TextTask.DefaultCorpus)),
        };

    public static IReadOnlyList<string> Names => [.. Defaults.Keys];

    /// <summary>The task <paramref name="name"/> with the defaults overridden by <paramref name="options"/>.</summary>
    public static SyntheticTask Create(string name, IReadOnlyDictionary<string, string>? options = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!Defaults.TryGetValue(name, out var defaults))
            throw new ArgumentException($"task '{name}' is unknown; expected one of {string.Join(", ", Names)}.", nameof(name));
        var s = new Dictionary<string, string>(defaults);
        foreach (var (key, value) in options ?? new Dictionary<string, string>())
        {
            if (!s.ContainsKey(key))
                throw new ArgumentException($"task setting '{key}' is not a setting of {name}; its settings are {string.Join(", ", defaults.Keys)}.", nameof(options));
            s[key] = value;
        }
        int I(string key) => int.TryParse(s[key], NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v
            : throw new ArgumentException($"task setting '{key}' must be an integer, got '{s[key]}'.", key);
        double D(string key) => double.TryParse(s[key], NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v
            : throw new ArgumentException($"task setting '{key}' must be a number, got '{s[key]}'.", key);
        if (name == MqarMixTask.TaskName)
        {
            // The train count is the segments' total (no "train" setting); the test split is Zoology's 1,000 of one configuration.
            var mix = MqarMixTask.ParseMix(s["mix"]);
            int testCount = I("test");
            if (testCount < 1) throw new ArgumentException($"task setting 'test' must be >= 1, got {testCount}.", "test");
            return new MqarMixTask(mix, I("vocab"), I("length"), I("pairs"), D("power_a"))
            { TrainCount = mix.Sum(m => m.Count), TestCount = testCount };
        }
        int train = I("train"), test = I("test");
        if (name == TextTask.TaskName) return new TextTask(s["corpus"], s["tokenizer"], I("length"), train, test);
        SyntheticTask task = name switch
        {
            "in-context-recall" => new InContextRecallTask(I("vocab"), I("length")) { TrainCount = train, TestCount = test },
            "noisy-recall" => new InContextRecallTask(I("vocab"), I("length"), I("noise_vocab"), D("frac_noise"), noisy: true) { TrainCount = train, TestCount = test },
            "fuzzy-recall" => new FuzzyRecallTask(I("vocab"), I("length"), I("k_motif"), I("v_motif")) { TrainCount = train, TestCount = test },
            "memorization" => new MemorizationTask(I("vocab"), I("length")) { TrainCount = train, TestCount = test },
            "compression" => new CompressionTask(I("vocab"), I("length")) { TrainCount = train, TestCount = test },
            "selective-copying" => new SelectiveCopyingTask(I("vocab"), I("length"), I("copies")) { TrainCount = train, TestCount = test },
            "mqar" => new MqarTask(I("vocab"), I("length"), I("pairs"), D("power_a")) { TrainCount = train, TestCount = test },
            DelimitedRecallTask.TaskName => new DelimitedRecallTask(I("vocab"), I("length"), I("segments")) { TrainCount = train, TestCount = test },
            "h3-recall" => new H3CatalogTask(H3Task.AssociativeRecall, I("vocab"), I("length")) { TrainCount = train, TestCount = test },
            _ => new H3CatalogTask(H3Task.InductionHead, I("vocab"), I("length")) { TrainCount = train, TestCount = test },
        };
        if (train < 1) throw new ArgumentException($"task setting 'train' must be >= 1, got {train}.", "train");
        if (test < 1) throw new ArgumentException($"task setting 'test' must be >= 1, got {test}.", "test");
        return task;
    }

    private static IReadOnlyDictionary<string, string> Settings(params (string Key, string Value)[] items) => items.ToDictionary(i => i.Key, i => i.Value);
}
