// A decoding experiment that is robust by construction (the challenges paper, arXiv:2108.06896):
//   - splits only by subject: a fixed set of held-out test subjects (SubjectSplit.HoldOut), and
//     for each training-set size N and seed s, N training and the validation subjects drawn from
//     the rest (SubjectSplit.Draw; disjointness checked by SubjectSplit itself);
//   - several seeds per point (split and initialization), reported with mean, sd, min and max;
//   - the linear parcel baseline and the chance level (majority rate of the test samples) in every
//     report; the full resolved configuration and every split written next to the results;
//   - learning curves over N; confusion matrices (summed over seeds) at the largest N;
//   - transfer: a decoder with "compare_to" is reported against that decoder at every N
//     (pre-trained minus from scratch), with whether the gain is largest at the smallest N.
// Resume: every finished cell (decoder, N, seed) is one JSON line appended to cells.jsonl (flushed);
// pre-training checkpoints itself (Pretraining.Run). A run restarted with resume skips the finished
// cells, continues a pre-training, and writes the same results (every cell is a function of the
// configuration alone).
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Reference.Core.IO;

namespace Reference.Decoding;

/// <summary>One finished cell of the experiment.</summary>
public sealed record CellResult(string Decoder, int TrainSubjects, int Seed, double Accuracy, double Chance, int[][] Confusion, int[] Train, int[] Validation, double Seconds)
{
    public string ToJson() => new JsonObject
    {
        ["decoder"] = Decoder, ["train_subjects"] = TrainSubjects, ["seed"] = Seed, ["accuracy"] = Accuracy, ["chance"] = Chance,
        ["confusion"] = new JsonArray([.. Confusion.Select(r => (JsonNode)new JsonArray([.. r.Select(v => (JsonNode)v)]))]),
        ["train"] = new JsonArray([.. Train.Select(s => (JsonNode)SubjectSplit.Id(s))]),
        ["validation"] = new JsonArray([.. Validation.Select(s => (JsonNode)SubjectSplit.Id(s))]),
        ["seconds"] = Math.Round(Seconds, 3),
    }.ToJsonString();

    public static CellResult? Parse(string line)
    {
        try
        {
            if (JsonNode.Parse(line) is not JsonObject o) return null;
            static int[] Ids(JsonNode? n) => [.. n!.AsArray().Select(x => int.Parse(x!.GetValue<string>()[4..], CultureInfo.InvariantCulture) - 1)];
            return new CellResult(o["decoder"]!.GetValue<string>(), o["train_subjects"]!.GetValue<int>(), o["seed"]!.GetValue<int>(), o["accuracy"]!.GetValue<double>(),
                o["chance"]!.GetValue<double>(), [.. o["confusion"]!.AsArray().Select(r => r!.AsArray().Select(v => v!.GetValue<int>()).ToArray())],
                Ids(o["train"]), Ids(o["validation"]), o["seconds"]!.GetValue<double>());
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or NullReferenceException or FormatException or ArgumentException)
        {
            return null;
        }
    }
}

public sealed class DecodeExperiment
{
    public const string Format = "reference.decode/1";
    public const string CellsFile = "cells.jsonl";
    public const string ConfigFile = "config.json";
    public const string ResultsFile = "results.json";

    public DecodeExperiment(DecodeConfig config, string outDirectory)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentException.ThrowIfNullOrEmpty(outDirectory);
        (Config, OutDirectory) = (config, outDirectory);
    }

    public DecodeConfig Config { get; }
    public string OutDirectory { get; }

    /// <summary>Progress lines (cells, pre-training steps).</summary>
    public Action<string>? Progress { get; init; }

    /// <summary>Stop after this many new cells (tests of resume); null: run to the end.</summary>
    public int? MaxNewCells { get; init; }

    /// <summary>Runs (or resumes) the experiment and returns the results JSON (also written to results.json), or null when stopped early by <see cref="MaxNewCells"/>.</summary>
    public JsonObject? Run(bool resume)
    {
        var clock = Stopwatch.StartNew();
        string cellsPath = Path.Combine(OutDirectory, CellsFile), configPath = Path.Combine(OutDirectory, ConfigFile);
        string configText = Config.Resolved.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
        if (resume)
        {
            if (!File.Exists(configPath)) throw new ArgumentException($"--resume: '{OutDirectory}' holds no {ConfigFile} to resume.", "resume");
            if (File.ReadAllText(configPath) != configText) throw new InvalidDataException($"--resume: '{configPath}' differs from this configuration; resume with the same configuration or use another --out.");
        }
        else if (File.Exists(cellsPath) || File.Exists(configPath))
            throw new ArgumentException($"--out: '{OutDirectory}' already holds a decoding run; pass --resume to continue it or choose another directory (nothing was overwritten).", "out");
        Directory.CreateDirectory(OutDirectory);
        AtomicFile.WriteAllText(configPath, configText);

        var done = new Dictionary<(string, int, int), CellResult>();
        if (File.Exists(cellsPath))
        {
            var kept = new List<string>();
            foreach (var line in File.ReadAllLines(cellsPath))
            {
                if (CellResult.Parse(line) is not { } c) break;   // a line cut by a kill
                done[(c.Decoder, c.TrainSubjects, c.Seed)] = c;
                kept.Add(line);
            }
            AtomicFile.WriteAllText(cellsPath, kept.Count == 0 ? "" : string.Join('\n', kept) + "\n");
        }

        Progress?.Invoke($"simulating {Config.Data.Subjects} subjects ({Config.Data.Preset}, CNR {Config.Data.Cnr.ToString(CultureInfo.InvariantCulture)})");
        var data = DecodingSet.Build(Config.Data, Config.Sampling);
        if (Config.PermuteLabels) data = data.WithPermutedLabels(Config.SplitSeed + 0xBADUL);
        var (pool, test) = SubjectSplit.HoldOut(data.SubjectCount, Config.TestSubjects, Config.SplitSeed);
        var testSamples = data.SamplesOf(test);
        double chance = Decoder.Chance(data, testSamples);

        foreach (var d in Config.Decoders)
            if (d.Pretrain is { } settings && d.Decoder is SequenceDecoder sequence)
            {
                Progress?.Invoke($"pre-training {d.Name}: {settings.Framework}, {settings.Steps} steps on {d.PretrainData!.Subjects - d.PretrainSkipSubjects} subjects (seed {d.PretrainData.Seed}{(d.PretrainSkipSubjects > 0 ? $", from subject {d.PretrainSkipSubjects}" : "")})");
                var source = DecodingSet.Build(d.PretrainData!, Config.Sampling with { Maps = false });
                var runs = source.Runs.Skip(d.PretrainSkipSubjects).ToArray();
                var model = sequence.CreateModel(data, d.PretrainSeed);
                int every = Math.Max(1, settings.Steps / 10);
                Pretraining.Run(model, runs, source.Scans, source.Tr, settings, d.PretrainSeed, Path.Combine(OutDirectory, $"pretrain-{d.Name}.safetensors"),
                    (step, loss) => { if (step % every == 0) Progress?.Invoke(string.Create(CultureInfo.InvariantCulture, $"  {d.Name} step {step}/{settings.Steps} loss {loss:F4}")); });
                sequence.Pretrained = model.Snapshot();
            }

        int total = Config.Decoders.Count * Config.TrainSubjects.Length * Config.Seeds, index = 0, fresh = 0;
        using (var cells = new StreamWriter(new FileStream(cellsPath, FileMode.Append, FileAccess.Write, FileShare.Read)))
        {
            foreach (int n in Config.TrainSubjects)
                for (int seed = 0; seed < Config.Seeds; seed++)
                {
                    var split = SubjectSplit.Draw(pool, test, n, Config.ValidationSubjects, Config.SplitSeed * 1000003UL + (ulong)(n * 1009 + seed));
                    foreach (var d in Config.Decoders)
                    {
                        index++;
                        if (done.ContainsKey((d.Name, n, seed))) continue;
                        if (MaxNewCells is int max && fresh >= max) return null;
                        var cellClock = Stopwatch.StartNew();
                        var fitted = d.Decoder.Fit(data, split, (ulong)(seed + 1) * 7919UL);
                        var (accuracy, confusion) = Decoder.Score(fitted, data, testSamples);
                        var cell = new CellResult(d.Name, n, seed, accuracy, chance,
                            [.. Enumerable.Range(0, data.Classes).Select(i => Enumerable.Range(0, data.Classes).Select(j => confusion[i, j]).ToArray())],
                            split.Train, split.Validation, cellClock.Elapsed.TotalSeconds);
                        cells.WriteLine(cell.ToJson());
                        cells.Flush();
                        done[(d.Name, n, seed)] = cell;
                        fresh++;
                        Progress?.Invoke(string.Create(CultureInfo.InvariantCulture,
                            $"[{index}/{total}] {d.Name,-28} N={n,-3} seed {seed}: accuracy {accuracy:F3} (chance {chance:F3}) {cell.Seconds:F1} s"));
                    }
                }
        }
        var results = Report(data, test, testSamples.Length, chance, done, clock.Elapsed.TotalSeconds);
        AtomicFile.WriteAllText(Path.Combine(OutDirectory, ResultsFile), results.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        return results;
    }

    private JsonObject Report(DecodingSet data, int[] test, int testSamples, double chance, Dictionary<(string, int, int), CellResult> done, double seconds)
    {
        var decoders = new JsonArray();
        var curves = new Dictionary<string, (int N, double Mean)[]>();
        foreach (var d in Config.Decoders)
        {
            var points = new JsonArray();
            var curve = new List<(int, double)>();
            foreach (int n in Config.TrainSubjects)
            {
                var cells = Enumerable.Range(0, Config.Seeds).Select(s => done[(d.Name, n, s)]).ToArray();
                var acc = cells.Select(c => c.Accuracy).ToArray();
                double mean = acc.Average(), sd = acc.Length > 1 ? Math.Sqrt(acc.Sum(a => (a - mean) * (a - mean)) / (acc.Length - 1)) : 0;
                curve.Add((n, mean));
                points.Add(new JsonObject
                {
                    ["train_subjects"] = n, ["accuracies"] = new JsonArray([.. acc.Select(a => (JsonNode)a)]), ["mean"] = mean, ["sd"] = sd,
                    ["min"] = acc.Min(), ["max"] = acc.Max(),
                    ["splits"] = new JsonArray([.. cells.Select(c => (JsonNode)new JsonObject
                    {
                        ["seed"] = c.Seed, ["train"] = new JsonArray([.. c.Train.Select(s => (JsonNode)SubjectSplit.Id(s))]),
                        ["validation"] = new JsonArray([.. c.Validation.Select(s => (JsonNode)SubjectSplit.Id(s))]),
                    })]),
                });
            }
            curves[d.Name] = [.. curve];
            int largest = Config.TrainSubjects[^1];
            var confusion = new int[data.Classes][];
            for (int i = 0; i < data.Classes; i++) confusion[i] = new int[data.Classes];
            for (int s = 0; s < Config.Seeds; s++)
            {
                var c = done[(d.Name, largest, s)].Confusion;
                for (int i = 0; i < data.Classes; i++)
                    for (int j = 0; j < data.Classes; j++) confusion[i][j] += c[i][j];
            }
            decoders.Add(new JsonObject
            {
                ["name"] = d.Name, ["kind"] = d.Kind, ["pretrained"] = d.Pretrain is not null,
                ["curve"] = points,
                ["confusion"] = new JsonObject
                {
                    ["train_subjects"] = largest, ["summed_over_seeds"] = Config.Seeds,
                    ["matrix"] = new JsonArray([.. confusion.Select(r => (JsonNode)new JsonArray([.. r.Select(v => (JsonNode)v)]))]),
                },
            });
        }
        var transfer = new JsonArray();
        foreach (var d in Config.Decoders.Where(d => d.CompareTo is not null))
        {
            var a = curves[d.Name];
            var b = curves[d.CompareTo!];
            var gains = a.Zip(b, (x, y) => x.Mean - y.Mean).ToArray();
            transfer.Add(new JsonObject
            {
                ["decoder"] = d.Name, ["compare_to"] = d.CompareTo,
                ["points"] = new JsonArray([.. a.Select((x, i) => (JsonNode)new JsonObject
                {
                    ["train_subjects"] = x.N, ["decoder_mean"] = x.Mean, ["compare_to_mean"] = b[i].Mean, ["gain"] = gains[i],
                })]),
                // The paper's claim needs a real gain at the fewest subjects, not only the smallest loss there.
                ["gain_largest_at_fewest_subjects"] = gains.Length > 0 && gains[0] > 0 && gains[0] >= gains.Max(),
                ["gain_at_fewest_exceeds_gain_at_most"] = gains.Length > 1 && gains[0] > gains[^1],
            });
        }
        return new JsonObject
        {
            ["format"] = Format,
            ["config"] = Config.Resolved.DeepClone(),
            ["baseline_added"] = Config.BaselineAdded,
            ["data"] = new JsonObject
            {
                ["samples"] = data.Count, ["subjects"] = data.SubjectCount, ["classes"] = data.Classes, ["conditions"] = new JsonArray([.. data.Conditions.Select(c => (JsonNode)c)]),
                ["parcels"] = data.Parcels, ["voxels"] = data.Voxels, ["window"] = data.Window, ["labels_permuted"] = Config.PermuteLabels,
            },
            ["test_subjects"] = new JsonArray([.. test.Select(s => (JsonNode)SubjectSplit.Id(s))]),
            ["test_samples"] = testSamples,
            ["chance"] = chance,
            ["decoders"] = decoders,
            ["transfer"] = transfer,
            ["seconds"] = Math.Round(seconds, 2),
        };
    }
}
