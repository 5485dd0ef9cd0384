using Reference.Core.IO;
using Reference.Golden;

namespace Reference.Fuzz;

/// <summary>
/// One fuzz target per parser: each takes arbitrary bytes and must either accept them or reject
/// them with the parser's documented exception (NpyFormatException, SafetensorsFormatException,
/// GoldenIntegrityException). Anything else escaping (IndexOutOfRange, Overflow, OutOfMemory,
/// a stack overflow, a hang) is a finding: the fuzzer records the input as a crash or a hang.
/// </summary>
public static class FuzzTargets
{
    /// <summary>The targets by name: npy, npz, safetensors, manifest, index.</summary>
    public static IReadOnlyDictionary<string, Action<byte[]>> All { get; } = new Dictionary<string, Action<byte[]>>(StringComparer.Ordinal)
    {
        ["npy"] = Npy,
        ["npz"] = Npz,
        ["safetensors"] = Safetensors,
        ["manifest"] = Manifest,
        ["index"] = Index,
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
}
