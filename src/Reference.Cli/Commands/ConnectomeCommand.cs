using System.CommandLine;
using System.Globalization;
using Reference.Neuro.Connectome;
using Reference.Neuro.Simulation;

namespace Reference.Cli.Commands;

/// <summary>
/// `reference connectome [--seed N]`: the worked connectome example (docs/connectomics.md):
/// simulator -> parcel series -> covariance -> tangent space -> L2 logistic regression of a planted
/// group difference on held-out subjects, and a soft atlas learned on the tape scored against the
/// planted parcels by the adjusted Rand index. Exit 1 when either falls short (accuracy at chance or
/// ARI &lt;= 0.8).
/// </summary>
public static class ConnectomeCommand
{
    public static Command Create()
    {
        var seed = new Option<ulong>("--seed") { Description = "Seed of the simulated data sets.", DefaultValueFactory = _ => 1UL, HelpName = "N" };
        var coupling = new Option<double?>("--group-coupling") { Description = "Planted correlation between networks 0 and 1 in group 1 (default: the preset's).", HelpName = "R" };
        var steps = new Option<int>("--steps") { Description = "Adam steps of the parcellation.", DefaultValueFactory = _ => 150, HelpName = "N" };
        var restarts = new Option<int>("--restarts") { Description = "Restarts of the parcellation (lowest loss wins).", DefaultValueFactory = _ => 2, HelpName = "N" };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate of the parcellation.", DefaultValueFactory = _ => 0.1, HelpName = "RATE" };
        var equilibrium = new Option<double>("--equilibrium") { Description = "Weight of the equilibrium loss (balanced parcel masses).", DefaultValueFactory = _ => 10, HelpName = "W" };
        var command = new Command("connectome", "Worked example: tangent-space classification of a planted group difference and a learned parcellation.") { seed, coupling, steps, restarts, lr, equilibrium };
        command.SetAction(parse =>
        {
            var w = parse.InvocationConfiguration.Output;
            ulong s = parse.GetValue(seed);
            var options = SimulationOptions.FromPreset("connectome") with { Seed = s };
            if (parse.GetValue(coupling) is double r) options = options with { GroupCoupling = r };
            if (parse.GetValue(steps) < 1 || parse.GetValue(restarts) < 1) throw new CliException("--steps and --restarts must be >= 1.");
            ClassificationResult c;
            try { c = ConnectomeExample.Classify(options); }
            catch (ArgumentException e) { throw new CliException(e.Message.Split(" (Parameter")[0]); }
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"classification: {c.Parcels} parcels, {c.Features} tangent features; subjects train {c.Train}, validation {c.Validation}, test {c.Test}; lambda {c.Lambda} (validation accuracy {c.ValidationAccuracy:F3})"));
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  test accuracy {c.TestAccuracy:F3} (chance {c.Chance:F3}); largest weight on edge ({c.EdgeA}, {c.EdgeB}){(c.TopEdgeIsPlanted ? ", between the coupled networks 0 and 1" : "")}"));
            var p = ConnectomeExample.LearnParcellation(ConnectomeExample.ParcellationOptions(s + 4), parse.GetValue(steps), parse.GetValue(restarts), parse.GetValue(lr), equilibrium: parse.GetValue(equilibrium));
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"parcellation: {p.Voxels} voxels, {p.Parcels} parcels, {p.Steps} Adam steps x {p.Restarts} restarts; loss {p.Loss:F4}; adjusted Rand index {p.AdjustedRandIndex:F3}"));
            w.WriteLine("  restarts (loss, ARI): " + string.Join("; ", p.Runs.Select(q => string.Create(CultureInfo.InvariantCulture, $"{q.Loss:F4}, {q.Ari:F3}"))));
            return c.TestAccuracy > c.Chance && p.AdjustedRandIndex > 0.8 ? ExitCodes.Success : ExitCodes.CheckFailed;
        });
        return command;
    }
}
