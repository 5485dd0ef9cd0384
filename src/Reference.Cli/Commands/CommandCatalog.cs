using System.CommandLine;

namespace Reference.Cli.Commands;

/// <summary>Every verb of the CLI, in the order `reference --help` lists them.</summary>
public static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return InfoCommand.Create();
        yield return DemoCommand.Create();
        yield return OpsCommand.Create();
        yield return NpyCommand.Create();
        yield return NiftiCommand.Create();
        yield return GoldenCommand.Create();
        yield return EssCommand.Create();
        yield return ToyCommand.Create();
        yield return TrainCommand.Create();
        yield return EvolveCommand.Create();
        yield return EvaluateCommand.Create();
        yield return SimulateCommand.Create();
        yield return GlmCommand.Create();
        yield return ConnectomeCommand.Create();
        yield return GenerateCommand.Create();
        yield return ExplainCommand.Create();
        yield return ExplainCommand.CreateBenchmark();
        yield return ExperimentCommand.Create();
        yield return DecodeCommand.Create();
    }
}
