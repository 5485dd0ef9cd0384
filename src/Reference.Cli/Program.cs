using System.CommandLine;
using Reference.Cli.Commands;

namespace Reference.Cli;

/// <summary>
/// The `reference` command. Each verb lives in Commands/ and builds its own System.CommandLine
/// Command. Exit codes: 0 success, 1 a check failed, 2 usage or bad input, 3 data integrity,
/// 4 backend unavailable (the golden runner's convention, used by every verb).
/// </summary>
public static class Program
{
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs the CLI with the given writers (tests call this in-process).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("Reference: a managed CPU/SIMD oracle for sequence-model and neuroimaging methods.");
        foreach (var command in CommandCatalog.All()) root.Subcommands.Add(command);

        // CliException must reach the catch below (one line, its exit code), not the library's handler (exit 1, stack trace).
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) stderr.WriteLine($"error: {error.Message}");
            stderr.WriteLine("run `reference --help` for usage.");
            return ExitCodes.Usage;
        }
        try
        {
            return parsed.Invoke(config);
        }
        catch (CliException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return e.ExitCode;
        }
    }
}
