using System.IO.Compression;

namespace Reference.Core.IO;

/// <summary>
/// The NPZ format (numpy.savez / savez_compressed): a zip archive whose members are .npy files
/// named "NAME.npy"; numpy exposes each under NAME. Members may be stored or deflated. Reading is
/// strict like <see cref="Npy"/>: every member must be a valid .npy file with a ".npy" name, and
/// names must be unique. Each member is decompressed into memory (bounded by the bytes actually
/// inflated, not by sizes the archive claims) before its header is validated. Writing is
/// deterministic (fixed member timestamps, the given order) so identical arrays give identical
/// bytes, and atomic (temp file + rename).
/// </summary>
public static class Npz
{
    /// <summary>Member timestamp the writers use (the zip epoch), for reproducible archives.</summary>
    public static readonly DateTimeOffset Timestamp = new(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Reads every array of an .npz file, keyed by member name without ".npy", in archive order.</summary>
    public static OrderedDictionary<string, NpyArray> Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(stream, path);
    }

    public static OrderedDictionary<string, NpyArray> Read(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(name);
        ZipArchive archive;
        try
        {
            archive = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw new NpyFormatException(name, $"not a valid zip archive ({OneLine(e.Message)}).", e);
        }
        using (archive)
        {
            var result = new OrderedDictionary<string, NpyArray>(StringComparer.Ordinal);
            foreach (var entry in archive.Entries)
            {
                string member = $"{name}[{entry.FullName}]";
                if (!entry.FullName.EndsWith(".npy", StringComparison.Ordinal))
                    throw new NpyFormatException(name, $"member '{entry.FullName}' is not an .npy array.");
                string key = entry.FullName[..^4];
                if (result.ContainsKey(key))
                    throw new NpyFormatException(name, $"member '{entry.FullName}' appears twice.");
                using var buffer = new MemoryStream();
                try
                {
                    using var content = entry.Open();
                    content.CopyTo(buffer);
                }
                catch (InvalidDataException e)
                {
                    throw new NpyFormatException(member, $"cannot decompress the member ({OneLine(e.Message)}).", e);
                }
                buffer.Position = 0;
                result.Add(key, Npy.Read(buffer, member));
            }
            return result;
        }
    }

    /// <summary>Writes the arrays as members "NAME.npy" (deflated when <paramref name="compressed"/>).</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, NpyArray>> arrays, bool compressed = false)
    {
        ArgumentNullException.ThrowIfNull(arrays);
        var list = arrays.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, array) in list)
        {
            if (string.IsNullOrEmpty(key))
                throw new ArgumentException("array names must be non-empty.", nameof(arrays));
            if (!names.Add(key))
                throw new ArgumentException($"the array name '{key}' appears twice.", nameof(arrays));
            ArgumentNullException.ThrowIfNull(array, nameof(arrays));
        }
        AtomicFile.Write(path, stream => Write(stream, list, compressed));
    }

    public static void Write(Stream stream, IEnumerable<KeyValuePair<string, NpyArray>> arrays, bool compressed = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(arrays);
        using var archive = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
        foreach (var (key, array) in arrays)
        {
            var entry = archive.CreateEntry(key + ".npy", compressed ? CompressionLevel.Optimal : CompressionLevel.NoCompression);
            entry.LastWriteTime = Timestamp;
            using var content = entry.Open();
            Npy.Write(content, array);
        }
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
