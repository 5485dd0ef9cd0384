namespace Reference.Cli;

/// <summary>
/// The exit codes of every verb: 0 success, 1 a check failed, 2 usage or bad input (including a
/// file that cannot be read or written, and a request larger than the memory budget), 3 data
/// integrity, 4 backend unavailable, 70 an unexpected failure (a bug; sysexits' EX_SOFTWARE):
/// one line on stderr, the stack trace only under --verbose.
/// </summary>
public static class ExitCodes
{
    public const int Success = 0;
    public const int CheckFailed = 1;
    public const int Usage = 2;
    public const int Integrity = 3;
    public const int BackendUnavailable = 4;
    public const int Internal = 70;
}

/// <summary>An error the CLI reports as one line on stderr with the given exit code (no stack trace).</summary>
public sealed class CliException(string message, int exitCode = ExitCodes.Usage) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
