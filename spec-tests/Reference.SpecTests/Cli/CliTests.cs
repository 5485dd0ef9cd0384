using System.CommandLine;
using System.Text.RegularExpressions;
using Reference.Cli;
using Reference.Cli.Commands;

namespace Reference.SpecTests.Cli;

/// <summary>Runs the `reference` command in-process and captures its streams.</summary>
public static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}

public class CliTests
{
    [Fact]
    public void Info_ReportsVersionIsaAndThreads()
    {
        var (code, output, _) = CliRunner.Run("info");
        Assert.Equal(0, code);
        Assert.Contains("version", output);
        Assert.Contains("vector isa", output);
        Assert.Contains($"{Environment.ProcessorCount} logical processors", output);
        Assert.Contains("accelerator", output);
        Assert.Contains("REFERENCE_ACCELERATOR=", output);
    }

    [Fact]
    public void Demo_EverySectionPasses_AndEveryRegisteredOperatorHasItsLine()
    {
        var (code, output, _) = CliRunner.Run("demo");
        Assert.Equal(0, code);
        Assert.DoesNotContain("FAIL", output);
        foreach (var d in Reference.Operators.OperatorRegistry.All)
            Assert.Matches(new Regex($@"(?m)^     ok   {Regex.Escape(d.Name)} +{Regex.Escape(d.DemoCaseSpec.Id)}: "), output);
        foreach (var name in Reference.Ess.EssOperatorCatalog.Names)
            Assert.Matches(new Regex($@"(?m)^     {Regex.Escape(name)} +\d"), output);
        Assert.Contains("Golden runner, backend fast32", output);
    }

    [Fact]
    public void Ops_ListsEveryRegisteredOperator_AndShowPrintsTheDescriptor()
    {
        var (code, output, _) = CliRunner.Run("ops");
        Assert.Equal(0, code);
        foreach (var d in Reference.Operators.OperatorRegistry.All)
            Assert.Matches(new Regex($@"(?m)^{Regex.Escape(d.Name)} "), output);

        (code, output, _) = CliRunner.Run("ops", "show", "ssm.selective_scan");
        Assert.Equal(0, code);
        Assert.StartsWith("ssm.selective_scan (version ", output);
        foreach (var label in new[] { "parameters", "inputs", "outputs", "naive", "fast", "materialize", "realize", "step", "autodiff", "TSS", "conformance cases" })
            Assert.Contains(label, output);
        Assert.Contains("SelectiveScan.Forward", output);
    }

    [Fact]
    public void Negative_OpsShowOfAnUnknownOperator_ExitsTwoListingTheNames()
    {
        var (code, _, error) = CliRunner.Run("ops", "show", "ssm.mamba3");
        Assert.Equal(2, code);
        Assert.Contains("no operator 'ssm.mamba3'", error);
        Assert.Contains("recurrence.gla", error);
    }

    [Fact]
    public void Negative_UnknownVerb_ExitsTwoWithMessageOnStderr()
    {
        var (code, output, error) = CliRunner.Run("no-such-verb");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains("no-such-verb", error);
    }

    [Fact]
    public void Negative_UnknownVerb_ListsEveryVerb()
    {
        var (code, output, error) = CliRunner.Run("frobnicate");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains("unknown verb 'frobnicate'", error);
        foreach (var verb in CommandCatalog.All())
            Assert.Matches(new Regex($@"(?m)^  {Regex.Escape(verb.Name)} +\S"), error);
    }

    [Fact]
    public void Negative_MissingSubverb_ListsTheGoldenVerbs()
    {
        var (code, _, error) = CliRunner.Run("golden");
        Assert.Equal(2, code);
        Assert.Contains("`reference golden` needs a verb", error);
        foreach (var verb in new[] { "list", "verify", "run", "regen", "explain" })
            Assert.Matches(new Regex($@"(?m)^  {verb} +\S"), error);
    }

    /// <summary>Every verb path of the catalog, sub-verbs included (e.g. ["golden", "run"]).</summary>
    private static IEnumerable<string[]> VerbPaths(IEnumerable<Command> commands, string[] prefix)
    {
        foreach (var command in commands)
        {
            string[] path = [.. prefix, command.Name];
            yield return path;
            foreach (var sub in VerbPaths(command.Subcommands, path)) yield return sub;
        }
    }

    [Fact]
    public void Help_OfEveryVerb_NamesItsValues_AndHasNoBooleanValues()
    {
        // System.CommandLine's default value name repeats the option (`--json <json>`); every option sets a HelpName instead.
        var echo = new Regex(@"--([a-z][a-z0-9-]*) <\1>");
        foreach (var path in VerbPaths(CommandCatalog.All(), []))
        {
            var (code, output, _) = CliRunner.Run([.. path, "--help"]);
            Assert.True(code == 0, string.Join(' ', path));
            Assert.DoesNotContain("<true|false>", output);
            Assert.False(echo.IsMatch(output), $"`reference {string.Join(' ', path)} --help` names a value after its option: {echo.Match(output).Value}");
        }
        var ess = CliRunner.Run("ess", "--help").Out;
        Assert.Contains("--json <FILE>", ess);
        Assert.Contains("--plot <FILE.png>", ess);
        Assert.Contains("--seed <N>", ess);
        var toy = CliRunner.Run("toy", "--help").Out;
        Assert.Contains("--steps <N>", toy);
        Assert.Contains("--seed <N>", toy);
        Assert.Contains("--backend <NAME>", CliRunner.Run("golden", "run", "--help").Out);
    }

    [Fact]
    public void BooleanOptions_AreFlagsWithoutAValue()
    {
        foreach (var path in VerbPaths(CommandCatalog.All(), []))
        {
            Command command = CommandCatalog.All().Single(c => c.Name == path[0]);
            foreach (var name in path.Skip(1)) command = command.Subcommands.Single(c => c.Name == name);
            foreach (var option in command.Options.Where(o => o.ValueType == typeof(bool) || o.ValueType == typeof(bool?)))
                Assert.True(option.Arity.MaximumNumberOfValues == 0, $"{string.Join(' ', path)} {option.Name} takes a value");
        }
        var (code, _, error) = CliRunner.Run("ess", "--operator", "s4d", "--absolute", "false");
        Assert.Equal(2, code);
        Assert.Contains("false", error);
    }
}
