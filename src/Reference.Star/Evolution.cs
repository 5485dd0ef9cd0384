// STAR's evolution loop (arXiv:2411.17800, sec. 3.3: assess -> pair -> recombine -> mutate), elitist
// NSGA-II over a population of genomes:
//   generation 0: `population` genomes drawn uniformly and repaired, evaluated;
//   generation g: crowded binary tournaments pick parents in pairs, k-point crossover, per-locus mutation,
//     repair; the children are evaluated; parents and children compete (Nsga2.Survive).
// Every evaluation is appended to evaluations.jsonl as it completes, and a genome already evaluated (in
// this run, before a kill included) is never evaluated again: its archived result is reused. The
// checkpoint (checkpoint.json, written atomically after each generation) holds the generation, the RNG
// state, the population and the normalization of the hypervolume; a resumed run reloads it and the
// archive, cuts log.jsonl back to the checkpoint's generation, and regenerates the same children from
// the same RNG state, so a kill loses no evaluated genome and evaluates none twice.
// Hypervolume: objectives normalized by the initial population's ideal and nadir points, reference
// point 1.1 in every objective (failed evaluations are +inf and contribute nothing).
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.IO;

namespace Reference.Star;

/// <summary>Options of an evolution run.</summary>
public sealed record EvolutionOptions(int Population = 16, int Generations = 18, int Depth = 8, IReadOnlyList<int>? Pool = null,
    int CrossoverPoints = 2, double MutationProbability = 0.1, ulong Seed = 0)
{
    public void Validate()
    {
        if (Population < 2) throw new ArgumentException($"evolution option 'population' must be >= 2, got {Population}.", "population");
        if (Generations < 0) throw new ArgumentException($"evolution option 'generations' must be >= 0, got {Generations}.", "generations");
        if (Depth < 1) throw new ArgumentException($"evolution option 'depth' must be >= 1, got {Depth}.", "depth");
        if (CrossoverPoints < 1) throw new ArgumentException($"evolution option 'crossover-points' must be >= 1, got {CrossoverPoints}.", "crossover-points");
        if (!(MutationProbability is >= 0 and <= 1)) throw new ArgumentException($"evolution option 'mutation' must be in [0, 1], got {MutationProbability}.", "mutation");
    }

    public string Identity(EvaluationSettings settings) => new JsonObject
    {
        ["population"] = Population, ["generations"] = Generations, ["depth"] = Depth,
        ["pool"] = new JsonArray([.. (Pool ?? [.. Enumerable.Range(1, 17)]).Select(p => (JsonNode?)p)]),
        ["crossover_points"] = CrossoverPoints, ["mutation"] = MutationProbability, ["seed"] = Seed, ["settings"] = settings.ToJson(),
    }.ToJsonString();
}

/// <summary>One generation's summary (a log line).</summary>
public sealed record GenerationRecord(int Generation, double Hypervolume, int Evaluated, int Reused, int Failed, double Seconds,
    IReadOnlyList<EvaluationResult> Population, IReadOnlyList<int> Front);

/// <summary>An evolution run writing into one directory.</summary>
public sealed class Evolution
{
    public const string CheckpointFile = "checkpoint.json";
    public const string EvaluationsFile = "evaluations.jsonl";
    public const string LogFile = "log.jsonl";
    public const string Format = "reference.star.evolution/1";

    public Evolution(EvolutionOptions options, EvaluationSettings settings, IExecutor executor, string directory)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(executor);
        options.Validate();
        settings.Validate();
        (Options, Settings, Executor, OutDirectory) = (options, settings, executor, directory);
        Space = new GenomeSpace(options.Depth, options.Pool);
        // Every class of the pool must build at these sizes (SA-3 needs heads divisible by 4, ...).
        foreach (var id in Space.Pool) LivFormulas.Parts(LivCatalog.Get(id).BaseId, settings.Sizes);
    }

    public EvolutionOptions Options { get; }
    public EvaluationSettings Settings { get; }
    public IExecutor Executor { get; }
    public GenomeSpace Space { get; }
    public string OutDirectory { get; }
    public string CheckpointPath => Path.Combine(OutDirectory, CheckpointFile);
    public string EvaluationsPath => Path.Combine(OutDirectory, EvaluationsFile);
    public string LogPath => Path.Combine(OutDirectory, LogFile);

    /// <summary>After each completed evaluation.</summary>
    public Action<EvaluationResult>? OnEvaluation { get; init; }

    /// <summary>After each generation (checkpoint written).</summary>
    public Action<GenerationRecord>? OnGeneration { get; init; }

    /// <summary>Where the loop's own steps are logged (lane "main"), if anywhere.</summary>
    public Timeline? Timeline { get; init; }

    /// <summary>Number of evaluations actually run by this process (not reused).</summary>
    public int EvaluationsRun { get; private set; }

    /// <summary>Runs (or resumes) the evolution; returns every generation's record produced by this call and the final population.</summary>
    public (List<GenerationRecord> Records, IReadOnlyList<EvaluationResult> Final) Run(bool resume)
    {
        var archive = new Dictionary<Genome, EvaluationResult>();
        var records = new List<GenerationRecord>();
        SplitMix64 rng;
        List<Genome> population;
        int start;
        double[] ideal, nadir;
        bool haveCheckpoint = File.Exists(CheckpointPath);
        if (resume)
        {
            // Killed before the first checkpoint: generation 0 is redrawn from the seed, its finished evaluations reused.
            if (!haveCheckpoint && !File.Exists(EvaluationsPath)) throw new ArgumentException($"--resume: no checkpoint at '{CheckpointPath}'.", "resume");
            LoadArchive(archive);
        }
        else if (haveCheckpoint || File.Exists(EvaluationsPath))
            throw new ArgumentException($"--out: '{OutDirectory}' already holds an evolution; pass --resume to continue it or choose another directory (nothing was overwritten).", "out");
        System.IO.Directory.CreateDirectory(OutDirectory);
        if (resume && haveCheckpoint)
        {
            var o = JsonNode.Parse(File.ReadAllText(CheckpointPath)) as JsonObject ?? throw new InvalidDataException($"checkpoint '{CheckpointPath}' is not a JSON object.");
            if (o["format"]?.GetValue<string>() != Format) throw new InvalidDataException($"checkpoint '{CheckpointPath}' is not {Format}.");
            if (o["identity"]?.GetValue<string>() != Options.Identity(Settings))
                throw new InvalidDataException($"checkpoint '{CheckpointPath}' was written with other options: {o["identity"]?.GetValue<string>()}.");
            start = o["generation"]!.GetValue<int>();
            rng = new SplitMix64(ulong.Parse(o["rng_state"]!.GetValue<string>(), CultureInfo.InvariantCulture));
            population = [.. ((JsonArray)o["population"]!).Select(Genome.FromJson)];
            ideal = [.. ((JsonArray)o["ideal"]!).Select(x => x!.GetValue<double>())];
            nadir = [.. ((JsonArray)o["nadir"]!).Select(x => x!.GetValue<double>())];
            CutLog(start);
        }
        else
        {
            CutLog(-1);
            rng = new SplitMix64(Options.Seed);
            population = [.. Enumerable.Range(0, Options.Population).Select(_ => Space.Random(rng))];
            var clock = Stopwatch.StartNew();
            var (results, evaluated, reused) = Evaluate(population, archive, 0);
            var finish = Timeline?.Begin("main", "record 0");
            var f = results.Select(r => r.Vector(Settings.Objectives)).ToList();
            (ideal, nadir) = Bounds(f);
            start = 0;
            var record = Record(0, results, evaluated, reused, clock.Elapsed.TotalSeconds, ideal, nadir);
            Checkpoint(0, rng, population, ideal, nadir);
            Log(record);
            finish?.Dispose();
            using (Timeline?.Begin("main", "on-generation 0")) OnGeneration?.Invoke(record);
            records.Add(record);
        }
        for (int g = start + 1; g <= Options.Generations; g++)
        {
            var clock = Stopwatch.StartNew();
            var vary = Timeline?.Begin("main", $"variation {g}");
            var parents = population.Select(p => archive[p]).ToList();
            var f = parents.Select(r => r.Vector(Settings.Objectives)).ToList();
            var (rank, crowding) = Nsga2.Assess(f);
            var children = new List<Genome>(Options.Population);
            while (children.Count < Options.Population)
            {
                var a = population[Nsga2.Tournament(rank, crowding, rng)];
                var b = population[Nsga2.Tournament(rank, crowding, rng)];
                var (c1, c2) = Variation.Crossover(a, b, Options.CrossoverPoints, rng);
                children.Add(Space.Repair(Variation.Mutate(c1, Space, Options.MutationProbability, rng)));
                if (children.Count < Options.Population) children.Add(Space.Repair(Variation.Mutate(c2, Space, Options.MutationProbability, rng)));
            }
            vary?.Dispose();
            var (childResults, evaluated, reused) = Evaluate(children, archive, g);
            var finish = Timeline?.Begin("main", $"record {g}");
            var merged = parents.Concat(childResults).ToList();
            var mergedGenomes = population.Concat(children).ToList();
            var kept = Nsga2.Survive([.. merged.Select(r => r.Vector(Settings.Objectives))], Options.Population);
            population = [.. kept.Select(i => mergedGenomes[i])];
            var record = Record(g, [.. kept.Select(i => merged[i])], evaluated, reused, clock.Elapsed.TotalSeconds, ideal, nadir);
            Checkpoint(g, rng, population, ideal, nadir);
            Log(record);
            finish?.Dispose();
            using (Timeline?.Begin("main", $"on-generation {g}")) OnGeneration?.Invoke(record);
            records.Add(record);
        }
        return (records, [.. population.Select(p => archive[p])]);
    }

    /// <summary>Results of <paramref name="genomes"/>: archived ones reused, the others (deduplicated) run on the executor and archived.</summary>
    private (List<EvaluationResult> Results, int Evaluated, int Reused) Evaluate(List<Genome> genomes, Dictionary<Genome, EvaluationResult> archive, int generation)
    {
        var fresh = genomes.Where(g => !archive.ContainsKey(g)).Distinct().ToList();
        if (fresh.Count > 0)
        {
            using var phase = Timeline?.Begin("main", $"evaluate {generation}");
            using var log = new StreamWriter(new FileStream(EvaluationsPath, FileMode.Append, FileAccess.Write, FileShare.Read));
            var gate = new object();
            Executor.Run(fresh, Settings, Path.Combine(OutDirectory, "jobs", $"gen-{generation:D3}"), r =>
            {
                lock (gate)
                {
                    var line = r.ToJson();
                    line["generation"] = generation;
                    log.WriteLine(line.ToJsonString());
                    log.Flush();
                    archive[r.Genome] = r;
                    EvaluationsRun++;
                }
                OnEvaluation?.Invoke(r);
            });
        }
        return ([.. genomes.Select(g => archive[g])], fresh.Count, genomes.Count - fresh.Count);
    }

    private void LoadArchive(Dictionary<Genome, EvaluationResult> archive)
    {
        if (!File.Exists(EvaluationsPath)) return;
        var kept = new List<string>();
        foreach (var line in File.ReadAllLines(EvaluationsPath))
        {
            EvaluationResult r;
            try { r = EvaluationResult.FromJson(JsonNode.Parse(line)); }
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException or ArgumentException) { break; }   // a line cut by the kill
            archive[r.Genome] = r;
            kept.Add(line);
        }
        AtomicFile.WriteAllText(EvaluationsPath, kept.Count == 0 ? "" : string.Join('\n', kept) + "\n");
    }

    private void CutLog(int generation)
    {
        if (!File.Exists(LogPath)) return;
        var kept = new List<string>();
        foreach (var line in File.ReadAllLines(LogPath))
        {
            try
            {
                if (JsonNode.Parse(line) is not JsonObject o || o["generation"]!.GetValue<int>() > generation) break;
            }
            catch (System.Text.Json.JsonException) { break; }
            kept.Add(line);
        }
        AtomicFile.WriteAllText(LogPath, kept.Count == 0 ? "" : string.Join('\n', kept) + "\n");
    }

    private static (double[] Ideal, double[] Nadir) Bounds(List<double[]> f)
    {
        int m = f[0].Length;
        var ideal = new double[m];
        var nadir = new double[m];
        for (int k = 0; k < m; k++)
        {
            var finite = f.Select(v => v[k]).Where(double.IsFinite).DefaultIfEmpty(0).ToArray();
            ideal[k] = finite.Min();
            nadir[k] = finite.Max();
            if (!(nadir[k] > ideal[k])) nadir[k] = ideal[k] + 1;
        }
        return (ideal, nadir);
    }

    /// <summary>Hypervolume of the population's first front, normalized by the initial population's ideal and nadir, reference 1.1.</summary>
    public static double NormalizedHypervolume(IReadOnlyList<double[]> f, double[] ideal, double[] nadir)
    {
        ArgumentNullException.ThrowIfNull(f);
        var normalized = f.Select(v => v.Select((x, k) => (x - ideal[k]) / (nadir[k] - ideal[k])).ToArray()).ToList();
        return Hypervolume.Compute(normalized, [.. Enumerable.Repeat(1.1, ideal.Length)]);
    }

    private GenerationRecord Record(int g, List<EvaluationResult> population, int evaluated, int reused, double seconds, double[] ideal, double[] nadir)
    {
        var f = population.Select(r => r.Vector(Settings.Objectives)).ToList();
        var front = Nsga2.FastNonDominatedSort(f)[0];
        return new GenerationRecord(g, NormalizedHypervolume([.. front.Select(i => f[i])], ideal, nadir), evaluated, reused, population.Count(r => r.Failed), seconds, population, front);
    }

    private void Checkpoint(int generation, SplitMix64 rng, List<Genome> population, double[] ideal, double[] nadir)
    {
        var o = new JsonObject
        {
            ["format"] = Format,
            ["generation"] = generation,
            ["rng_state"] = rng.State.ToString(CultureInfo.InvariantCulture),
            ["population"] = new JsonArray([.. population.Select(p => (JsonNode?)p.ToJsonObject())]),
            ["ideal"] = new JsonArray([.. ideal.Select(x => (JsonNode?)x)]),
            ["nadir"] = new JsonArray([.. nadir.Select(x => (JsonNode?)x)]),
            ["identity"] = Options.Identity(Settings),
        };
        AtomicFile.WriteAllText(CheckpointPath, o.ToJsonString());
    }

    private void Log(GenerationRecord r)
    {
        var o = new JsonObject
        {
            ["generation"] = r.Generation,
            ["hypervolume"] = r.Hypervolume,
            ["evaluated"] = r.Evaluated,
            ["reused"] = r.Reused,
            ["failed"] = r.Failed,
            ["seconds"] = Math.Round(r.Seconds, 3),
            ["front"] = new JsonArray([.. r.Front.Select(i => (JsonNode?)new JsonObject
            {
                ["genome"] = r.Population[i].Genome.ToString(),
                ["objectives"] = new JsonArray([.. r.Population[i].Vector(Settings.Objectives).Select(x => (JsonNode?)(double.IsFinite(x) ? x : null))]),
            })]),
        };
        File.AppendAllText(LogPath, o.ToJsonString() + "\n");
    }
}

/// <summary>Which classes and sharing patterns survive (STAR sec. 4's motif analysis).</summary>
public static class Motifs
{
    public static string Summarize(IReadOnlyList<Genome> genomes)
    {
        ArgumentNullException.ThrowIfNull(genomes);
        var classes = genomes.SelectMany(g => g.Livs).GroupBy(l => l.Class.Name).OrderByDescending(x => x.Count()).ThenBy(x => x.Key, StringComparer.Ordinal);
        int total = genomes.Sum(g => g.Depth);
        var lines = new List<string> { $"classes ({genomes.Count} genomes, {total} LIVs):" };
        lines.AddRange(classes.Select(c => string.Create(CultureInfo.InvariantCulture, $"  {c.Key,-14} {c.Count(),4}  {100.0 * c.Count() / total,5:F1}%")));
        foreach (var (title, leaders) in new (string, Func<Genome, int[]>)[] { ("featurizer sharing", GenomeSpace.FeaturizerLeaders), ("feature-group sharing", GenomeSpace.FeatureLeaders) })
        {
            var links = genomes.SelectMany(g =>
            {
                var l = leaders(g);
                return Enumerable.Range(0, g.Depth).Where(i => l[i] != i)
                    .Select(i => $"{g[l[i]].Class.Name} -> {g[i].Class.Name} ({(i - l[i] >= g.Depth / 2 ? "early-to-late" : "nearby")})");
            }).GroupBy(s => s).OrderByDescending(x => x.Count()).ThenBy(x => x.Key, StringComparer.Ordinal).ToArray();
            lines.Add($"{title}: {links.Sum(x => x.Count())} links");
            lines.AddRange(links.Select(x => $"  {x.Key}  x{x.Count()}"));
        }
        return string.Join('\n', lines);
    }
}
