namespace Reference.Experiments;

/// <summary>Every experiment by its CLI name, in the order `reference experiment --list` prints them.</summary>
public static class ExperimentCatalog
{
    // One line per experiment.
    public static IReadOnlyList<IEssExperiment> All { get; } =
    [
        new PlantedRankControl(),
        new SaturationExperiment(),
        new InitializationExperiment(),
        new RegularizerExperiment(),
        new DistillationExperiment(),
        new DelimitersExperiment(),
        new HybridExperiment(),
    ];

    public static IReadOnlyList<string> Names => [.. All.Select(e => e.Name)];

    /// <summary>The experiment <paramref name="name"/>; an ArgumentException listing the names when there is none.</summary>
    public static IEssExperiment Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return All.FirstOrDefault(e => e.Name == name)
            ?? throw new ArgumentException($"experiment '{name}' is unknown; expected one of {string.Join(", ", Names)}.", nameof(name));
    }
}
