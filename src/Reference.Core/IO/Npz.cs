using System.IO.Compression;

namespace Reference.Core.IO;

/// <summary>
/// The NPZ format (numpy.savez / savez_compressed): a zip archive whose members are .npy files
/// named "NAME.npy"; numpy exposes each under NAME. Members may be stored or deflated. Reading is
/// strict like <see cref="Npy"/>: every member must be a valid .npy file with a ".npy" name, and
/// names must be unique. Each member is decompressed into memory before its header is validated,
/// within a budget on the total decompressed bytes (<see cref="DefaultMaxBytes"/> unless given):
/// a member whose claimed size exceeds what is left is refused before inflating, and inflation
/// stops as soon as the bytes actually produced exceed it (a zip bomb claims little). Writing is
/// deterministic (fixed member timestamps, the given order) so identical arrays give identical
/// bytes, and atomic (temp file + rename).
/// </summary>
public static class Npz
{
    /// <summary>Member timestamp the writers use (the zip epoch), for reproducible archives.</summary>
    public static readonly DateTimeOffset Timestamp = new(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The default budget of decompressed bytes for one archive (all members together): 4 GiB.</summary>
    public const long DefaultMaxBytes = 4L << 30;

    /// <summary>Reads every array of an .npz file, keyed by member name without ".npy", in archive order.</summary>
    public static OrderedDictionary<string, NpyArray> Read(string path, long maxBytes = DefaultMaxBytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Npy.RequireRegular(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(stream, path, maxBytes);
    }

    public static OrderedDictionary<string, NpyArray> Read(Stream stream, string name, long maxBytes = DefaultMaxBytes)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        long left = maxBytes;
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
            IReadOnlyList<ZipArchiveEntry> entries;
            try
            {
                // ZipArchive reads the central directory lazily: a damaged one throws here, not in the constructor.
                entries = archive.Entries;
            }
            catch (InvalidDataException e)
            {
                throw new NpyFormatException(name, $"not a valid zip archive ({OneLine(e.Message)}).", e);
            }
            foreach (var entry in entries)
            {
                string member = $"{name}[{entry.FullName}]";
                if (!entry.FullName.EndsWith(".npy", StringComparison.Ordinal))
                    throw new NpyFormatException(name, $"member '{entry.FullName}' is not an .npy array.");
                string key = entry.FullName[..^4];
                if (result.ContainsKey(key))
                    throw new NpyFormatException(name, $"member '{entry.FullName}' appears twice.");
                if (entry.Length > left)
                    throw new NpyFormatException(member,
                        $"the archive says the member inflates to {entry.Length} bytes, over the budget of {maxBytes} decompressed bytes ({left} left).");
                using var buffer = new MemoryStream((int)Math.Min(entry.Length, 1 << 20));
                try
                {
                    using var content = entry.Open();
                    var chunk = new byte[1 << 16];
                    int n;
                    while ((n = content.Read(chunk)) > 0)
                    {
                        if (n > left)
                            throw new NpyFormatException(member,
                                $"the member inflates past the budget of {maxBytes} decompressed bytes (the archive claimed {entry.Length}); refusing it as a zip bomb.");
                        left -= n;
                        buffer.Write(chunk, 0, n);
                    }
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
