using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Reference.Core.IO;

namespace Reference.SpecTests.Core;

/// <summary>
/// Issue 22: atomic writes aimed at special files, and .npy / .npz files built to exhaust the
/// reader (deep nesting, huge header lengths, long integer literals, zip bombs). Each gives a
/// clean error or does the documented thing; nothing crashes, hangs or allocates without bound.
/// </summary>
public class HostileFileTests
{
    internal static void MakeFifo(string path)
    {
        using var mkfifo = Process.Start("mkfifo", [path]);
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
    }

    /// <summary>Runs <paramref name="work"/> on its own thread and fails when it has not finished after <paramref name="seconds"/> (a hang guard).</summary>
    internal static T Within<T>(int seconds, Func<T> work, string what)
    {
        T result = default!;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try { result = work(); }
            catch (Exception e) { error = e; }
        }) { IsBackground = true };
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(seconds)), $"{what} did not finish within {seconds} s");
        if (error is not null) throw new InvalidOperationException($"{what} threw", error);
        return result;
    }

    // ---------------------------------------------------------------- 2. atomic writes

    [Fact]
    public void AtomicFile_ThroughASymlink_ReplacesTheTargetAndKeepsTheLink()
    {
        using var dir = new TempDir();
        string target = Path.Combine(dir.Path, "target.txt"), link = Path.Combine(dir.Path, "link.txt");
        File.WriteAllText(target, "old");
        File.CreateSymbolicLink(link, target);
        AtomicFile.WriteAllText(link, "new");
        Assert.NotNull(new FileInfo(link).LinkTarget);
        Assert.Equal("new", File.ReadAllText(target));
        Assert.Equal(FileKind.Regular, FileKinds.Of(target));
        Assert.Empty(Directory.EnumerateFiles(dir.Path, "*.tmp"));
    }

    /// <summary>
    /// A link in a scratch folder to a device: the test never names /dev directly, so a broken
    /// AtomicFile replaces the link, not the machine's device (tests may run as root).
    /// </summary>
    internal static string LinkToDevice(TempDir dir, string device)
    {
        string link = Path.Combine(dir.Path, Path.GetFileName(device));
        File.CreateSymbolicLink(link, device);
        return link;
    }

    [Fact]
    public void AtomicFile_ToACharacterDevice_WritesItInPlace()
    {
        using var dir = new TempDir();
        string nullDevice = LinkToDevice(dir, "/dev/null"), fullDevice = LinkToDevice(dir, "/dev/full");
        AtomicFile.WriteAllText(nullDevice, "discarded");
        Assert.Equal(FileKind.CharacterDevice, FileKinds.Of(nullDevice));
        // /dev/full refuses every byte: a clean IOException, and the device is still a device.
        Assert.ThrowsAny<IOException>(() => AtomicFile.WriteAllText(fullDevice, "no room"));
        Assert.Equal(FileKind.CharacterDevice, FileKinds.Of(fullDevice));
        Assert.Empty(Directory.EnumerateFiles(dir.Path, "*.tmp*"));
    }

    [Fact]
    public void AtomicFile_ToAFifo_WritesIntoThePipe()
    {
        using var dir = new TempDir();
        string fifo = Path.Combine(dir.Path, "pipe");
        MakeFifo(fifo);
        string text = "";
        var reader = new Thread(() => text = File.ReadAllText(fifo)) { IsBackground = true };
        reader.Start();
        AtomicFile.WriteAllText(fifo, "through the pipe");
        Assert.Equal(FileKind.Fifo, FileKinds.Of(fifo));
        Assert.True(reader.Join(TimeSpan.FromSeconds(30)), "the reader got nothing");
        Assert.Equal("through the pipe", text);
    }

    [Fact]
    public void AtomicFile_ToADescriptorOfARegularFile_AppendsAfterWhatWasWritten()
    {
        // `reference ess --json /dev/stdout > out.txt`: the summary is already in out.txt; the JSON must follow it, not truncate it.
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempDir();
        string file = Path.Combine(dir.Path, "out.txt");
        using var stdout = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite);
        stdout.Write("summary\n"u8);
        stdout.Flush();
        string descriptor = $"/proc/self/fd/{stdout.SafeFileHandle.DangerousGetHandle()}";
        AtomicFile.WriteAllText(descriptor, "{\"json\": 1}\n");
        Assert.Equal("summary\n{\"json\": 1}\n", File.ReadAllText(file));
        Assert.Empty(Directory.EnumerateFiles(dir.Path, "*.tmp*"));
    }

    [Fact]
    public void AtomicFile_ToADirectory_IsRefusedWithAClearError()
    {
        using var dir = new TempDir();
        var e = Assert.ThrowsAny<IOException>(() => AtomicFile.WriteAllText(dir.Path, "x"));
        Assert.Contains("is a directory", e.Message);
        Assert.True(Directory.Exists(dir.Path));
    }

    [Fact]
    public void AtomicFile_WriteVia_ToACharacterDevice_CopiesIntoIt()
    {
        using var dir = new TempDir();
        string nullDevice = LinkToDevice(dir, "/dev/null");
        AtomicFile.WriteVia(nullDevice, temp => File.WriteAllText(temp, "plot bytes"));
        Assert.Equal(FileKind.CharacterDevice, FileKinds.Of(nullDevice));
    }

    // ---------------------------------------------------------------- 4. NPY and NPZ denial of service

    private static byte[] Npy1(string dict, int dataBytes)
    {
        int total = (10 + Encoding.Latin1.GetByteCount(dict) + 1 + 63) / 64 * 64;
        return NpyValues.Concat(NpyValues.Preamble(1, dict, total), new byte[dataBytes]);
    }

    [Fact]
    public void Negative_DeeplyNestedHeader_IsRefusedByDepth()
    {
        string nested = new string('(', 100) + "1," + new string(')', 100);
        var e = Assert.Throws<NpyFormatException>(() => Npy.FromBytes(Npy1($"{{'descr': '<f8', 'fortran_order': False, 'shape': {nested}, }}", 8), "deep.npy"));
        Assert.Contains("nest", e.Reason);
    }

    [Fact]
    public void Negative_HeaderLongerThanNumpysLimit_IsRefused()
    {
        string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }" + new string(' ', 20_000);
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "long.npy");
        File.WriteAllBytes(path, NpyValues.Concat(NpyValues.Preamble(2, dict, 20_096), new byte[8]));
        var e = Assert.Throws<NpyFormatException>(() => Npy.Read(path));
        Assert.Contains("10000", e.Reason);
        using var stream = File.OpenRead(path);
        Assert.Throws<NpyFormatException>(() => Npy.Read(stream, "long.npy"));
        // From memory the same header is parsed (and this one is valid).
        Assert.Equal([1], Npy.FromBytes(File.ReadAllBytes(path)).ShapeArray);
    }

    [Fact]
    public void Negative_Version2HeaderLengthOf2To31_IsRefusedBeforeAllocation()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "huge-header.npy");
        using (var stream = new FileStream(path, FileMode.CreateNew))
        {
            stream.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 2, 0, 0, 0, 0, 0x80]);
            stream.SetLength(12 + (1L << 31) + 64);
        }
        var e = Assert.Throws<NpyFormatException>(() => Npy.Read(path));
        Assert.Contains("header length", e.Reason);
    }

    [Fact]
    public void Negative_LongIntegerLiteralInTheShape_IsRefusedByLength()
    {
        string digits = "1" + new string('0', 60);
        var e = Assert.Throws<NpyFormatException>(() => Npy.FromBytes(Npy1($"{{'descr': '<f8', 'fortran_order': False, 'shape': ({digits},), }}", 8), "digits.npy"));
        Assert.Contains("digits", e.Reason);
    }


    [Fact]
    public void Negative_NpzMemberThatInflatesPastTheBudget_IsRefused()
    {
        // 64 MiB of zeros deflate to about 64 KiB; the reader's budget here is 1 MiB.
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            using var member = zip.CreateEntry("bomb.npy", CompressionLevel.Optimal).Open();
            member.Write(NpyValues.Preamble(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (8388608,), }", 128));
            var zeros = new byte[1 << 20];
            for (int i = 0; i < 64; i++) member.Write(zeros);
        }
        buffer.Position = 0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<NpyFormatException>(() => Npz.Read(buffer, "bomb.npz", maxBytes: 1 << 20));
        Assert.Contains("budget", e.Reason);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20);
        Assert.True(Npz.DefaultMaxBytes > 0);
    }

    [Fact]
    public void Negative_NpzMemberWhoseArchiveClaimsTooMuch_IsRefusedBeforeInflating()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "ok.npz");
        Npz.Write(path, [new("a", NpyArray.Wrap(NpyDType.Float64, new double[1000], [1000]))]);
        var e = Assert.Throws<NpyFormatException>(() => Npz.Read(File.OpenRead(path), "ok.npz", maxBytes: 1000));
        Assert.Contains("budget", e.Reason);
        Assert.Single(Npz.Read(path));
    }

    /// <summary>
    /// Found by AFL++ in 150 s (bench/fuzz.sh, npz target; also in bench/Reference.Fuzz/corpus/npz):
    /// an archive whose end-of-central-directory record miscounts its entries. ZipArchive opens
    /// it and throws InvalidDataException only when the entries are enumerated.
    /// </summary>
    [Fact]
    public void Negative_NpzWhoseCentralDirectoryMiscountsItsEntries_IsAFormatError()
    {
        byte[] bytes = Convert.FromBase64String("UEsDBBQAAAAIAK0DhF2U3hHITAAAAJAAAAAFAAAAYS5ucHmb7BfqGxDJyFDGUK2eklqcXKRupaBuk2ahrqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RpGOpo6CrUKFAAuBjD4YQ+hWRwAUEsDBBQAAAAIAK0DhF2HlVl1SgAAAIQAAAAFAAAAYi5ucHmb7BfqGxDJyFDGUK2eklqcXKRupaBuk2mirqOgnpZfVFKUmBefX5SSChJ3CmQDLmYGBgYAUEsBAhQDFAAAAAgArQOEXZTeEchMAAAAkAAAAAUAAAAAAAAAAAAAAIABAAAAAGEubnB5UEsBAhQDFAAAAAgArQOEXYeVWXVKAAAAhAAAAAUA/wAAAAAAAAAAAIABbwAAAGIubnB5UEsFBgAAAAACAAIAZgAAANwAAAAAAA==");
        var e = Assert.Throws<NpyFormatException>(() => Npz.Read(new MemoryStream(bytes), "fuzz.npz"));
        Assert.Contains("zip", e.Reason);
    }
}
