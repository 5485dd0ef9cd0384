// The ESS experiments (Parnichkun, Massaroli et al., "Quantifying Memory Utilization with Effective
// State-Size", arXiv:2504.19561): each use of ESS in the paper as a runnable experiment that trains
// small models on a CPU, measures them, and says honestly whether the paper's claim reproduced.
// An experiment runs several seeds; every reported quantity carries its spread over seeds, and the
// verdict is Inconclusive whenever the spreads of the compared quantities overlap.
using System.Globalization;
using System.Text.Json.Nodes;

namespace Reference.Experiments;

/// <summary>How large an experiment is: Small runs in minutes on 2 cores; Large is sized for a bigger machine or a Slurm job.</summary>
public enum Preset { Small, Large }

/// <summary>The outcome of checking a paper's claim.</summary>
public enum Verdict { Reproduced, NotReproduced, Inconclusive }

/// <summary>How to run an experiment.</summary>
/// <param name="Preset">Small or Large.</param>
/// <param name="Seeds">The seeds; every measured quantity is reported as its spread over them.</param>
/// <param name="OutputDirectory">Where <see cref="ExperimentWriter"/> writes result.json, verdict.txt and the PNGs.</param>
/// <param name="Threads">Workers: independent units (trained models) run in parallel, each with its kernels on one thread, so the numbers do not depend on it (0: all cores).</param>
/// <param name="BudgetScale">Multiplies training steps and data sizes (tests use e.g. 0.05); 1 is the preset.</param>
/// <param name="Progress">Plain progress lines (no bar).</param>
/// <param name="Resume">Read the finished units of an earlier (killed) run back from OutputDirectory/units instead of recomputing them (<see cref="ExperimentUnits"/>).</param>
public sealed record ExperimentOptions(Preset Preset, IReadOnlyList<ulong> Seeds, string OutputDirectory, int Threads, double BudgetScale = 1.0,
    IProgress<string>? Progress = null, bool Resume = false)
{
    /// <summary>Threads as a count: <see cref="Threads"/>, or every core when it is 0.</summary>
    public int ThreadCount => Threads == 0 ? Environment.ProcessorCount : Math.Max(1, Threads);

    /// <summary>Throws an ArgumentException naming the first bad field.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Seeds);
        if (Seeds.Count < 1) throw new ArgumentException("experiment option 'seeds' must hold at least one seed.", "seeds");
        if (Seeds.Distinct().Count() != Seeds.Count) throw new ArgumentException("experiment option 'seeds' must not repeat a seed.", "seeds");
        ArgumentException.ThrowIfNullOrEmpty(OutputDirectory);
        if (Threads < 0) throw new ArgumentException($"experiment option 'threads' must be >= 0 (0: all cores), got {Threads}.", "threads");
        if (!(BudgetScale > 0 && BudgetScale <= 1)) throw new ArgumentException($"experiment option 'budget_scale' must be in (0, 1], got {BudgetScale}.", "budget_scale");
    }

    /// <summary><paramref name="value"/> scaled by <see cref="BudgetScale"/>, at least <paramref name="minimum"/>.</summary>
    public int Scaled(int value, int minimum = 1) => Math.Max(minimum, (int)Math.Round(value * BudgetScale));

    /// <summary>The unit checkpoint of <paramref name="experiment"/> in OutputDirectory/units, fingerprinted by <paramref name="settings"/>.</summary>
    public UnitCheckpoint Checkpoint(string experiment, object settings) => UnitCheckpoint.For(this, experiment, settings);

    /// <summary>Writes one progress line (invariant culture).</summary>
    public void Report(FormattableString line) => Progress?.Report(line.ToString(CultureInfo.InvariantCulture));

    /// <summary>The options as JSON (result.json's "options").</summary>
    public JsonObject ToJson() => new()
    {
        ["preset"] = Preset.ToString().ToLowerInvariant(),
        ["seeds"] = new JsonArray([.. Seeds.Select(s => (JsonNode)JsonValue.Create(s))]),
        ["threads"] = Threads,
        ["budget_scale"] = BudgetScale,
    };
}

/// <summary>One use of ESS in the paper, as a runnable experiment.</summary>
public interface IEssExperiment
{
    /// <summary>The CLI name ("saturation", ...).</summary>
    string Name { get; }

    /// <summary>The paper's claim in one sentence, with its section or figure.</summary>
    string Claim { get; }

    /// <summary>Trains and measures; the report says what was measured and the verdict.</summary>
    ExperimentReport Run(ExperimentOptions options, CancellationToken cancellation);
}

/// <summary>The spread of one quantity over seeds (Std: sample standard deviation, 0 for one value).</summary>
public sealed record SeedSpread(double Mean, double Std, double Min, double Max, int Count)
{
    public static SeedSpread Of(IEnumerable<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var v = values.ToArray();
        if (v.Length == 0) throw new ArgumentException("a spread needs at least one value.", nameof(values));
        double mean = v.Average();
        double std = v.Length > 1 ? Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1)) : 0.0;
        return new SeedSpread(mean, std, v.Min(), v.Max(), v.Length);
    }

    /// <summary>True when [Min, Max] of the two spreads intersect.</summary>
    public bool Overlaps(SeedSpread other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Min <= other.Max && other.Min <= Max;
    }

    public JsonObject ToJson() => new()
    {
        ["mean"] = Finite(Mean), ["std"] = Finite(Std), ["min"] = Finite(Min), ["max"] = Finite(Max), ["count"] = Count,
    };

    /// <summary>"mean ± std [min, max] (n seeds)".</summary>
    public string Format(string format = "F3") => string.Create(CultureInfo.InvariantCulture,
        $"{Mean.ToString(format, CultureInfo.InvariantCulture)} ± {Std.ToString(format, CultureInfo.InvariantCulture)} [{Min.ToString(format, CultureInfo.InvariantCulture)}, {Max.ToString(format, CultureInfo.InvariantCulture)}] ({Count} seed{(Count == 1 ? "" : "s")})");

    public override string ToString() => Format();

    internal static JsonNode? Finite(double x) => double.IsFinite(x) ? JsonValue.Create(x) : JsonValue.Create(x.ToString(CultureInfo.InvariantCulture));
}

/// <summary>A figure of a report: <paramref name="Render"/>(path) writes the PNG to path.</summary>
public sealed record ExperimentFigure(string FileName, Action<string> Render);

/// <summary>What an experiment found.</summary>
/// <param name="Name">The experiment's name.</param>
/// <param name="Claim">The paper's claim.</param>
/// <param name="Verdict">Reproduced, NotReproduced or Inconclusive.</param>
/// <param name="Measured">What was measured, in a few sentences with the spreads.</param>
/// <param name="Result">Every number, for result.json.</param>
/// <param name="Figures">The PNGs.</param>
public sealed record ExperimentReport(string Name, string Claim, Verdict Verdict, string Measured, JsonObject Result, IReadOnlyList<ExperimentFigure> Figures);

/// <summary>Verdict rules shared by the experiments: a claim is decided only when the spreads over seeds separate.</summary>
public static class Verdicts
{
    /// <summary>
    /// The claim "a > b": Reproduced when every seed's a exceeds every seed's b (min a > max b),
    /// NotReproduced when min b > max a, Inconclusive when the ranges overlap or there is one seed only.
    /// </summary>
    public static Verdict Greater(SeedSpread a, SeedSpread b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Count < 2 || b.Count < 2) return Verdict.Inconclusive;
        if (a.Min > b.Max) return Verdict.Reproduced;
        if (b.Min > a.Max) return Verdict.NotReproduced;
        return Verdict.Inconclusive;
    }

    /// <summary>All of several verdicts: NotReproduced if any is, Reproduced if all are, Inconclusive otherwise.</summary>
    public static Verdict All(IEnumerable<Verdict> verdicts)
    {
        var v = verdicts.ToArray();
        if (v.Length == 0) return Verdict.Inconclusive;
        if (v.Contains(Verdict.NotReproduced)) return Verdict.NotReproduced;
        return v.All(x => x == Verdict.Reproduced) ? Verdict.Reproduced : Verdict.Inconclusive;
    }

    /// <summary>"reproduced", "not reproduced", "inconclusive".</summary>
    public static string Text(Verdict verdict) => verdict switch
    {
        Verdict.Reproduced => "reproduced",
        Verdict.NotReproduced => "not reproduced",
        _ => "inconclusive",
    };
}
