namespace Reference.Neuro.IO;

/// <summary>
/// A malformed or unsupported NIfTI file. <see cref="Exception.Message"/> is one line,
/// "FILE: reason", and the reason names the header field at fault (dim[0], vox_offset, datatype,
/// ...) with the value found and the value expected, so a command-line tool can print it as is.
/// </summary>
public sealed class NiftiFormatException : Exception
{
    public NiftiFormatException(string file, string field, string reason, Exception? inner = null)
        : base($"{file}: {reason}", inner)
    {
        File = file;
        Field = field;
        Reason = reason;
    }

    /// <summary>The file (or stream name) the problem was found in.</summary>
    public string File { get; }

    /// <summary>The header field (or part of the file: "data", "gzip", "extension") at fault.</summary>
    public string Field { get; }

    /// <summary>What is wrong, without the file name; it mentions <see cref="Field"/>.</summary>
    public string Reason { get; }
}
