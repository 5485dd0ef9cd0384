namespace Reference.Golden;

/// <summary>The golden set itself is damaged: a hash, a manifest, the index or a file (exit code 3).</summary>
public sealed class GoldenIntegrityException(string path, string reason, Exception? inner = null)
    : Exception($"{path}: {reason}", inner)
{
    public string Path { get; } = path;

    public string Reason { get; } = reason;
}

/// <summary>A backend cannot run at all (missing executable, no such backend) (exit code 4).</summary>
public sealed class BackendUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
