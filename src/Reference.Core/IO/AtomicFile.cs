using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Reference.Core.IO;

/// <summary>
/// Writes a file so that readers see either the old content or the complete new content, never a
/// half-written file: the bytes go to a temporary file in the same directory (same file system),
/// are flushed to disk, and the temporary file is then renamed over the target.
/// <para>
/// What the target is decides how (a non-regular file is never replaced):
/// a regular file or a missing one is replaced atomically as above; a symbolic link is followed
/// and its final target is replaced atomically, so the link stays a link (a dangling link creates
/// its target); a character device (/dev/null, a terminal) or a FIFO is written in place, as a
/// shell's `&gt;` would, since it cannot be renamed over and has no half-written state to hide;
/// so is a path naming an open descriptor (/dev/stdout, /dev/stderr, /dev/fd/N, anything under
/// /proc), whatever it is: when it is a regular file (stdout redirected to a file) the bytes are
/// appended, after what the process already wrote there, rather than truncating it;
/// a directory, a block device or a socket is refused with an IOException naming the path.
/// Temporaries are named ".NAME.PID.GUID.tmp" (WriteVia: ".STEM.PID.GUID.tmp.EXT"), so a
/// writer that was killed leaves files <see cref="IsTemporary"/> recognizes and
/// <see cref="DeleteStaleTemporaries"/> removes.
/// </para>
/// </summary>
public static partial class AtomicFile
{
    [GeneratedRegex(@"^\..+\.(?<pid>[0-9]+)\.[0-9a-f]{32}\.tmp(\.[^.]*)?$")]
    private static partial Regex TemporaryName();

    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        var (target, direct) = Resolve(path);
        if (direct)
        {
            using var stream = OpenInPlace(target);
            write(stream);
            stream.Flush();
            return;
        }
        string directory = Path.GetDirectoryName(target)!;
        string temp = Path.Combine(directory, $".{Path.GetFileName(target)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, target, overwrite: true);
        }
        catch (UnauthorizedAccessException e)
        {
            File.Delete(temp);
            throw new UnauthorizedAccessException($"cannot write '{path}': permission denied in '{directory}'.", e);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>
    /// For writers that only take a path (plot libraries, File.WriteAllText): <paramref name="write"/>
    /// writes a temporary sibling path (same extension), which is then renamed over the target
    /// (or, for a target written in place, copied into it from a temporary in the temp folder).
    /// </summary>
    public static void WriteVia(string path, Action<string> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        var (target, direct) = Resolve(path);
        string directory = direct ? Path.GetTempPath() : Path.GetDirectoryName(target)!;
        string temp = Path.Combine(directory,
            $".{Path.GetFileNameWithoutExtension(target)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp{Path.GetExtension(target)}");
        try
        {
            write(temp);
            if (direct)
            {
                using var source = new FileStream(temp, FileMode.Open, FileAccess.Read);
                using var stream = OpenInPlace(target);
                source.CopyTo(stream);
                stream.Flush();
            }
            else File.Move(temp, target, overwrite: true);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UnauthorizedAccessException($"cannot write '{path}': permission denied in '{directory}'.", e);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    public static void WriteAllText(string path, string contents) =>
        WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(contents));

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, stream => stream.Write(copy));
    }

    /// <summary>Whether <paramref name="fileName"/> is a temporary of this class; <paramref name="pid"/> is its writer's process id.</summary>
    public static bool IsTemporary(string fileName, out int pid)
    {
        var match = TemporaryName().Match(fileName);
        pid = match.Success && int.TryParse(match.Groups["pid"].ValueSpan, out int p) ? p : -1;
        return match.Success;
    }

    /// <summary>
    /// Deletes the temporaries in <paramref name="directory"/> (not below it) whose writer process
    /// is gone (a kill's leftovers); a live writer's temporaries are kept. Returns the names deleted.
    /// </summary>
    public static IReadOnlyList<string> DeleteStaleTemporaries(string directory)
    {
        var deleted = new List<string>();
        if (!Directory.Exists(directory)) return deleted;
        foreach (var file in Directory.EnumerateFiles(directory))
        {
            string name = Path.GetFileName(file);
            if (!IsTemporary(name, out int pid) || IsAlive(pid)) continue;
            File.Delete(file);
            deleted.Add(name);
        }
        return deleted;
    }

    private static bool IsAlive(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Where the bytes go, and whether they are written in place (see the class summary).</summary>
    private static (string Target, bool Direct) Resolve(string path)
    {
        string full = Path.GetFullPath(path);
        var kind = FileKinds.Of(full);
        switch (kind)
        {
            case FileKind.Directory:
                throw new IOException($"cannot write '{path}': it is a directory.");
            case FileKind.BlockDevice or FileKind.Socket:
                throw new IOException($"cannot write '{path}': it is a {(kind == FileKind.Socket ? "socket" : "block device")}, not a file.");
            case FileKind.CharacterDevice or FileKind.Fifo:
                return (full, true);
        }
        if (NamesADescriptor(full)) return (full, true);
        string real = FileKinds.RealPath(full);
        if (Directory.Exists(real)) throw new IOException($"cannot write '{path}': it is a directory.");
        string? directory = Path.GetDirectoryName(real);
        if (directory is null) throw new ArgumentException($"path '{path}' has no directory.", nameof(path));
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"cannot write '{path}': directory '{directory}' does not exist.");
        return (real, false);
    }

    private static readonly string[] DescriptorPrefixes = ["/dev/stdout", "/dev/stderr", "/dev/stdin", "/dev/fd/", "/proc/"];

    /// <summary>Paths naming an open descriptor, or links to one (/dev/stdout, /proc/self/fd/N): written in place.</summary>
    private static bool NamesADescriptor(string full)
    {
        string current = full;
        for (int hop = 0; hop < 40; hop++)
        {
            if (DescriptorPrefixes.Any(p => current == p || (p.EndsWith('/') && current.StartsWith(p, StringComparison.Ordinal)))) return true;
            string? target;
            try { target = new FileInfo(current).LinkTarget; }
            catch (IOException) { return false; }
            if (target is null) return false;
            current = Path.GetFullPath(target, Path.GetDirectoryName(current)!);
        }
        return false;
    }

    private static FileStream OpenInPlace(string path) =>
        FileKinds.Of(path) == FileKind.Regular
            ? new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, 1 << 16)
            : new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1 << 16);
}
