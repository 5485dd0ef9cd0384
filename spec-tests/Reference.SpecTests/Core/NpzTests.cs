using System.IO.Compression;
using System.Text;
using FsCheck.Xunit;
using Reference.Core.IO;

namespace Reference.SpecTests.Core;

public class NpzTests
{
    [Property(Arbitrary = [typeof(NpyCase)], MaxTest = 15)]
    public void Property_RoundTrip_StoredAndDeflated_KeepsNamesOrderAndBits(NpyCase c)
    {
        var arrays = new List<KeyValuePair<string, NpyArray>>
        {
            new("z_first", c.Build()),
            new("a_second", NpyValues.Random(NpyDType.Float64, [3, 5], (ulong)c.Seed + 1)),
            new("scalar", NpyArray.Of(new[] { 7L })),
        };
        foreach (bool compressed in new[] { false, true })
        {
            using var stream = new MemoryStream();
            Npz.Write(stream, arrays, compressed);
            stream.Position = 0;
            var back = Npz.Read(stream, "mem.npz");
            Assert.Equal(arrays.Select(a => a.Key), back.Keys);
            foreach (var (key, array) in arrays) Assert.True(array.Equals(back[key]), $"{c} {key} compressed={compressed}");
        }
    }

    [Fact]
    public void Property_WriteIsByteReproducibleAndAtomic()
    {
        using var dir = new TempDir();
        var arrays = new Dictionary<string, NpyArray> { ["x"] = NpyValues.Random(NpyDType.Float32, [4, 9], 3) };
        string a = Path.Combine(dir.Path, "a.npz"), b = Path.Combine(dir.Path, "b.npz");
        Npz.Write(a, arrays, compressed: true);
        Npz.Write(b, arrays, compressed: true);
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        Assert.Equal(2, Directory.GetFiles(dir.Path).Length);
        using var zip = ZipFile.OpenRead(a);
        Assert.Equal("x.npy", Assert.Single(zip.Entries).FullName);
        Assert.Equal(Npz.Timestamp.DateTime, zip.Entries[0].LastWriteTime.DateTime);
        Assert.Equal(Npy.ToBytes(arrays["x"]), ReadAll(zip.Entries[0]));
    }

    [Fact]
    public void Negative_NotAZip_MemberNotNpy_MalformedMember()
    {
        var e = Assert.Throws<NpyFormatException>(() => Npz.Read(new MemoryStream(Encoding.ASCII.GetBytes("not a zip archive")), "x.npz"));
        Assert.StartsWith("x.npz: not a valid zip archive", e.Message);

        var bytes = Zip(("notes.txt", Encoding.ASCII.GetBytes("hello")));
        e = Assert.Throws<NpyFormatException>(() => Npz.Read(new MemoryStream(bytes), "x.npz"));
        Assert.Contains("'notes.txt' is not an .npy array", e.Message);

        var good = Npy.ToBytes(NpyArray.Of(new[] { 1.0, 2.0 }, 2));
        bytes = Zip(("ok.npy", good), ("cut.npy", good[..^3]));
        e = Assert.Throws<NpyFormatException>(() => Npz.Read(new MemoryStream(bytes), "x.npz"));
        Assert.Equal("x.npz[cut.npy]", e.File);
        Assert.Contains("data too short", e.Reason);
    }

    [Fact]
    public void Negative_DuplicateNamesAreRefused()
    {
        var array = NpyArray.Of(new[] { 1 }, 1);
        Assert.Throws<ArgumentException>(() => Npz.Write(Path.Combine(Path.GetTempPath(), "never.npz"), [new("a", array), new("a", array)]));
    }

    [Fact]
    public void Golden_NumpyReadsOursAndWeReadNumpys()
    {
        if (!NpyTests.NumpyAvailable.Value) Assert.Skip("/usr/bin/python3 with numpy is not installed");
        using var dir = new TempDir();
        var arrays = new Dictionary<string, NpyArray>
        {
            ["w"] = NpyArray.Of(Enumerable.Range(0, 12).Select(i => (float)i / 4).ToArray(), 3, 4),
            ["mask"] = NpyArray.Of(new[] { true, false, true }, 3),
        };
        Npz.Write(Path.Combine(dir.Path, "cs_stored.npz"), arrays);
        Npz.Write(Path.Combine(dir.Path, "cs_deflated.npz"), arrays, compressed: true);
        const string script = """
            import numpy as np, sys
            d = sys.argv[1]
            w = (np.arange(12, dtype='<f4') / 4).reshape(3, 4)
            mask = np.array([True, False, True])
            for name in ['cs_stored', 'cs_deflated']:
                z = np.load(d + '/' + name + '.npz', allow_pickle=False)
                assert sorted(z.files) == ['mask', 'w'], z.files
                assert np.array_equal(z['w'], w) and z['w'].dtype == w.dtype
                assert np.array_equal(z['mask'], mask)
            np.savez(d + '/np_stored.npz', w=w, mask=mask)
            np.savez_compressed(d + '/np_deflated.npz', w=w, mask=mask)
            """;
        var (code, output) = NpyTests.RunPython(script, dir.Path);
        Assert.True(code == 0, output);
        foreach (var name in new[] { "np_stored", "np_deflated" })
        {
            var back = Npz.Read(Path.Combine(dir.Path, name + ".npz"));
            Assert.True(arrays["w"].Equals(back["w"]), name);
            Assert.True(arrays["mask"].Equals(back["mask"]), name);
        }
    }

    private static byte[] Zip(params (string Name, byte[] Content)[] members)
    {
        using var stream = new MemoryStream();
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var (name, content) in members)
            {
                using var s = zip.CreateEntry(name).Open();
                s.Write(content);
            }
        return stream.ToArray();
    }

    private static byte[] ReadAll(ZipArchiveEntry entry)
    {
        using var s = entry.Open();
        using var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    }
}
