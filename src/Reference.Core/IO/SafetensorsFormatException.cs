namespace Reference.Core.IO;

/// <summary>
/// A malformed safetensors file. <see cref="Exception.Message"/> is one line, "FILE: reason", so a
/// command-line tool can print it as is.
/// </summary>
public sealed class SafetensorsFormatException : Exception
{
    public SafetensorsFormatException(string file, string reason, Exception? inner = null)
        : base($"{file}: {reason}", inner)
    {
        File = file;
        Reason = reason;
    }

    /// <summary>The file (or "&lt;memory&gt;" for an in-memory buffer) the problem was found in.</summary>
    public string File { get; }

    /// <summary>What is wrong, without the file name.</summary>
    public string Reason { get; }
}
