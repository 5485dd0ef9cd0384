using System.CommandLine;
using System.CommandLine.Parsing;
using Reference.Cli.Commands;

namespace Reference.Cli;

/// <summary>
/// The `reference` command. Each verb lives in Commands/ and builds its own System.CommandLine
/// Command. Exit codes: 0 success, 1 a check failed, 2 usage or bad input, 3 data integrity,
/// 4 backend unavailable (the golden runner's convention, used by every verb), 70 an unexpected
/// failure (a bug: one line, the stack trace only under --verbose). See <see cref="ExitCodes"/>.
/// </summary>
public static class Program
{
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs the CLI with the given writers (tests call this in-process).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        Reference.Cuda.CudaBackend.Register();
        var root = new RootCommand("Reference: a managed CPU/SIMD oracle for sequence-model and neuroimaging methods.");
        foreach (var command in CommandCatalog.All()) root.Subcommands.Add(command);
        var verbose = new Option<bool>("--verbose") { Description = "On an unexpected failure, also print the stack trace.", Arity = ArgumentArity.Zero, Recursive = true };
        root.Options.Add(verbose);

        // CliException must reach the catch below (one line, its exit code), not the library's handler (exit 1, stack trace).
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        ParseResult parsed;
        try
        {
            parsed = root.Parse(args);
        }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
        {
            // A token @FILE is a response file (System.CommandLine reads arguments from it while parsing): a
            // path it cannot read (a NUL character, no permission) is bad input, not a bug.
            stderr.WriteLine($"error: cannot read the arguments: {e.Message.ReplaceLineEndings(" ").Trim()}");
            return ExitCodes.Usage;
        }
        if (parsed.Errors.Count > 0)
        {
            // A command with verbs below it (the root, `golden`) was reached without a known verb: name the
            // offending word and list the verbs, which is what the user needs next.
            var reached = parsed.CommandResult.Command;
            string? unknown = parsed.UnmatchedTokens.Count > 0 ? parsed.UnmatchedTokens[0] : null;
            string path = CommandPath(parsed.CommandResult, root);
            if (reached.Subcommands.Count > 0 && (unknown is null || !unknown.StartsWith('-')))
            {
                stderr.WriteLine(unknown is null ? $"error: `{path}` needs a verb." : $"error: unknown verb '{unknown}'.");
                WriteVerbs(reached, path, stderr);
                stderr.WriteLine($"run `{path} VERB --help` for the options of a verb.");
                return ExitCodes.Usage;
            }
            foreach (var error in parsed.Errors) stderr.WriteLine($"error: {error.Message}");
            stderr.WriteLine($"run `{path} --help` for usage.");
            return ExitCodes.Usage;
        }
        try
        {
            return parsed.Invoke(config);
        }
        catch (Exception e)
        {
            return Report(e, parsed.GetValue(verbose), stderr);
        }
    }

    /// <summary>
    /// Writes the one-line error for <paramref name="e"/> and returns its exit code: a
    /// <see cref="CliException"/> its own; a failure to read or write a file the user named
    /// (IOException, UnauthorizedAccessException) and running out of memory 2; anything else is
    /// unexpected: <see cref="ExitCodes.Internal"/>, with the stack trace only when <paramref name="verbose"/>.
    /// </summary>
    public static int Report(Exception e, bool verbose, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(e);
        ArgumentNullException.ThrowIfNull(stderr);
        static string Line(string message) => message.ReplaceLineEndings(" ").Trim();
        switch (e)
        {
            case CliException cli:
                stderr.WriteLine($"error: {Line(cli.Message)}");
                return cli.ExitCode;
            case IOException or UnauthorizedAccessException:
                stderr.WriteLine($"error: {Line(e.Message)}");
                return ExitCodes.Usage;
            case OutOfMemoryException:
                stderr.WriteLine("error: ran out of memory; ask for smaller sizes (verbs with large work take --max-memory and check it up front).");
                return ExitCodes.Usage;
        }
        stderr.WriteLine($"error: internal error ({e.GetType().Name}: {Line(e.Message)}); this is a bug{(verbose ? ":" : ", run again with --verbose for the stack trace.")}");
        if (verbose) stderr.WriteLine(e.ToString());
        return ExitCodes.Internal;
    }

    /// <summary>`reference golden` for the golden verb's result (the root is always called `reference`, whatever the host process).</summary>
    private static string CommandPath(SymbolResult result, RootCommand root)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is CommandResult c && c.Command != root; r = r.Parent) names.Insert(0, c.Command.Name);
        return string.Join(' ', ["reference", .. names]);
    }

    /// <summary>The verbs of <paramref name="command"/>, one a line with its description, in catalog order.</summary>
    private static void WriteVerbs(Command command, string path, TextWriter writer)
    {
        writer.WriteLine($"verbs of `{path}`:");
        int width = command.Subcommands.Max(c => c.Name.Length);
        foreach (var verb in command.Subcommands) writer.WriteLine($"  {verb.Name.PadRight(width)}  {verb.Description}");
    }
}
