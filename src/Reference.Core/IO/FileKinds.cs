using System.Runtime.InteropServices;

namespace Reference.Core.IO;

/// <summary>What a path names, as the file system sees it (the Unix file types).</summary>
public enum FileKind
{
    Missing,
    Regular,
    Directory,
    SymbolicLink,
    Fifo,
    CharacterDevice,
    BlockDevice,
    Socket,
    /// <summary>Exists, but the type cannot be told on this platform (no statx).</summary>
    Unknown,
}

/// <summary>
/// The type of a file without opening it (opening a FIFO blocks until the other end opens it).
/// .NET's FileSystemInfo does not tell a FIFO or a device from a regular file, so on Linux this
/// asks the kernel through statx(2), whose struct layout is the same on every architecture; on
/// other systems it falls back to what .NET can tell (directory, link, exists) and says Unknown
/// for other existing files, which callers treat as "not known to be regular".
/// </summary>
public static partial class FileKinds
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1;
    private const int ModeOffset = 28; // struct statx: stx_mask, stx_blksize (u32), stx_attributes (u64), stx_nlink, stx_uid, stx_gid (u32), stx_mode (u16)

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, Span<byte> buffer);

    private static bool? statxWorks;

    /// <summary>The kind of <paramref name="path"/>, following symbolic links (a dangling link is Missing).</summary>
    public static FileKind Of(string path) => Of(path, followLinks: true);

    /// <summary>The kind of <paramref name="path"/>; with <paramref name="followLinks"/> false a link is SymbolicLink.</summary>
    public static FileKind Of(string path, bool followLinks)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (OperatingSystem.IsLinux() && statxWorks != false)
        {
            Span<byte> buffer = stackalloc byte[256];
            try
            {
                int rc = Statx(AtFdCwd, path, followLinks ? 0 : AtSymlinkNoFollow, StatxType, buffer);
                statxWorks = true;
                if (rc != 0) return FileKind.Missing;
                int mode = BitConverter.ToUInt16(buffer[ModeOffset..]) & 0xF000;
                return mode switch
                {
                    0x8000 => FileKind.Regular,
                    0x4000 => FileKind.Directory,
                    0xA000 => FileKind.SymbolicLink,
                    0x1000 => FileKind.Fifo,
                    0x2000 => FileKind.CharacterDevice,
                    0x6000 => FileKind.BlockDevice,
                    0xC000 => FileKind.Socket,
                    _ => FileKind.Unknown,
                };
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                statxWorks = false;
            }
        }
        var info = new FileInfo(path);
        if (!followLinks && info.LinkTarget is not null) return FileKind.SymbolicLink;
        if (Directory.Exists(path)) return FileKind.Directory;
        return File.Exists(path) ? FileKind.Unknown : FileKind.Missing;
    }

    /// <summary>
    /// The path with every symbolic link resolved (like realpath(3)); the last components may be
    /// missing. Throws IOException on a link loop (more than 40 links, Linux's limit).
    /// </summary>
    public static string RealPath(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        int links = 0;
        return Resolve(Path.GetFullPath(path), ref links);
    }

    private static string Resolve(string full, ref int links)
    {
        string root = Path.GetPathRoot(full) ?? "/";
        string current = root;
        var parts = full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < parts.Length; i++)
        {
            string next = Path.Combine(current, parts[i]);
            string? target = null;
            try { target = new FileInfo(next).LinkTarget; }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            if (target is null)
            {
                current = next;
                continue;
            }
            if (++links > 40) throw new IOException($"'{full}': too many levels of symbolic links.");
            string resolved = Path.GetFullPath(target, current);
            current = Resolve(resolved, ref links);
        }
        return current;
    }

    /// <summary>Whether <paramref name="path"/> (already real) lies inside <paramref name="directory"/> (already real), or is it.</summary>
    public static bool IsInside(string path, string directory)
    {
        string d = Path.TrimEndingDirectorySeparator(directory);
        return path == d || path.StartsWith(d + Path.DirectorySeparatorChar, StringComparison.Ordinal);
    }
}
