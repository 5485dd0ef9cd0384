namespace Reference.Core.IO;

/// <summary>
/// A malformed or unsupported .npy/.npz file. <see cref="Exception.Message"/> is one line,
/// "FILE: reason", so a command-line tool can print it as is.
/// </summary>
public sealed class NpyFormatException : Exception
{
    public NpyFormatException(string file, string reason, Exception? inner = null)
        : base($"{file}: {reason}", inner)
    {
        File = file;
        Reason = reason;
    }

    /// <summary>The file (or archive member) the problem was found in.</summary>
    public string File { get; }

    /// <summary>What is wrong, without the file name.</summary>
    public string Reason { get; }
}
