using Reference.Core.IO;
using Reference.Golden;
using Reference.Neuro.IO;

namespace Reference.Fuzz;

/// <summary>
/// One fuzz target per parser: each takes arbitrary bytes and must either accept them or reject
/// them with the parser's documented exception (NpyFormatException, SafetensorsFormatException,
/// GoldenIntegrityException). Anything else escaping (IndexOutOfRange, Overflow, OutOfMemory,
/// a stack overflow, a hang) is a finding: the fuzzer records the input as a crash or a hang.
/// </summary>
public static class FuzzTargets
{
    /// <summary>The targets by name: npy, npz, safetensors, manifest, index, nifti, cli.</summary>
    public static IReadOnlyDictionary<string, Action<byte[]>> All { get; } = new Dictionary<string, Action<byte[]>>(StringComparer.Ordinal)
    {
        ["npy"] = Npy,
        ["npz"] = Npz,
        ["safetensors"] = Safetensors,
        ["manifest"] = Manifest,
        ["index"] = Index,
        ["nifti"] = Nifti,
        ["cli"] = Cli,
    };

    /// <summary>Reads from memory and from a stream (the two paths differ: the stream path applies numpy's 10,000-byte header cap).</summary>
    public static void Npy(byte[] bytes)
    {
        try { Reference.Core.IO.Npy.FromBytes(bytes, "fuzz.npy"); }
        catch (NpyFormatException) { }
        try { Reference.Core.IO.Npy.Read(new MemoryStream(bytes, writable: false), "fuzz.npy"); }
        catch (NpyFormatException) { }
    }

    /// <summary>Within a 64 MiB decompression budget (a zip bomb past it is a clean rejection).</summary>
    public static void Npz(byte[] bytes)
    {
        try { Reference.Core.IO.Npz.Read(new MemoryStream(bytes, writable: false), "fuzz.npz", maxBytes: 64L << 20); }
        catch (NpyFormatException) { }
    }

    public static void Safetensors(byte[] bytes)
    {
        try { Reference.Core.IO.Safetensors.Deserialize(bytes, "fuzz.safetensors"); }
        catch (SafetensorsFormatException) { }
    }

    public static void Manifest(byte[] bytes)
    {
        try { ManifestJson.Parse(bytes, "fuzz/manifest.json"); }
        catch (GoldenIntegrityException) { }
    }

    /// <summary>The index is read from a golden directory: the bytes go to a scratch one as index.json.</summary>
    public static void Index(byte[] bytes)
    {
        string root = Path.Combine(Path.GetTempPath(), $"reference-fuzz-index-{Environment.ProcessId}");
        Directory.CreateDirectory(root);
        File.WriteAllBytes(Path.Combine(root, GoldenStore.IndexFile), bytes);
        try { GoldenStore.Open(root).ReadIndex(); }
        catch (GoldenIntegrityException) { }
    }

    /// <summary>
    /// A .nii or .nii.gz from memory (gzip recognized by its magic), within a 64 MiB data budget and
    /// a 1 MiB extension budget, and the bare header decoder on the same bytes.
    /// </summary>
    public static void Nifti(byte[] bytes)
    {
        var options = new NiftiReadOptions { MaxDataBytes = 64L << 20, MaxExtensionBytes = 1L << 20 };
        try { Reference.Neuro.IO.Nifti.FromBytes(bytes, "fuzz.nii", options); }
        catch (NiftiFormatException) { }
        try { Reference.Neuro.IO.Nifti.ParseHeader(bytes, "fuzz.nii"); }
        catch (NiftiFormatException) { }
    }

    /// <summary>The verbs the CLI target may run: each reads at most the scratch file and writes nothing.</summary>
    private static readonly string[] ReadOnlyVerbs = ["npy", "nifti", "ops"];

    /// <summary>
    /// The command line: the first line of the input is the arguments (separated by spaces), the rest
    /// the content of a scratch file that the token <c>@FILE</c> names. Only read-only verbs run (a
    /// first token that is not one, or any token with a path separator, leaves the input unused), so
    /// the fuzzer explores option parsing, validation and the readers behind the verbs without
    /// touching the file system. The CLI must answer with one of its documented exit codes
    /// (0-4); 70 (an unexpected exception, i.e. a bug) or an exception escaping is a finding.
    /// </summary>
    public static void Cli(byte[] bytes)
    {
        int newline = Array.IndexOf(bytes, (byte)'\n');
        string line = System.Text.Encoding.UTF8.GetString(bytes, 0, newline < 0 ? bytes.Length : newline);
        var args = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (args.Length == 0 || !ReadOnlyVerbs.Contains(args[0]) || args.Any(a => a.Contains('/') || a.Contains('\\'))) return;
        string scratch = Path.Combine(Path.GetTempPath(), $"reference-fuzz-cli-{Environment.ProcessId}.bin");
        File.WriteAllBytes(scratch, newline < 0 ? [] : bytes[(newline + 1)..]);
        for (int i = 0; i < args.Length; i++) if (args[i] == "@FILE") args[i] = scratch;
        int code = Reference.Cli.Program.Run(args, TextWriter.Null, TextWriter.Null);
        if (code is < 0 or > 4) throw new InvalidOperationException($"reference {string.Join(' ', args)} exited {code}, not a documented exit code (0-4).");
    }
}
