namespace Reference.Cli;

public static class ExitCodes
{
    public const int Success = 0;
    public const int CheckFailed = 1;
    public const int Usage = 2;
    public const int Integrity = 3;
    public const int BackendUnavailable = 4;
}

/// <summary>An error the CLI reports as one line on stderr with the given exit code (no stack trace).</summary>
public sealed class CliException(string message, int exitCode = ExitCodes.Usage) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
