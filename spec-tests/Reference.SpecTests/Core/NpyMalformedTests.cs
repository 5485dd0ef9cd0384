using System.Text;
using Reference.Core.IO;

namespace Reference.SpecTests.Core;

/// <summary>
/// Every kind of malformed .npy file gives an <see cref="NpyFormatException"/> whose one-line
/// message names the file and says what is wrong (never an out-of-memory or a parser crash).
/// </summary>
public class NpyMalformedTests
{
    private const string GoodDict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";

    private static byte[] File1(string dict, params double[] values)
    {
        int total = (10 + Encoding.Latin1.GetByteCount(dict) + 1 + 63) / 64 * 64;
        return NpyValues.Concat(NpyValues.Preamble(1, dict, total), NpyValues.LittleEndian(values));
    }

    private static string Reject(byte[] bytes, params string[] fragments)
    {
        var e = Assert.Throws<NpyFormatException>(() => Npy.FromBytes(bytes, "bad.npy"));
        Assert.StartsWith("bad.npy: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        foreach (var fragment in fragments) Assert.Contains(fragment, e.Reason);
        return e.Reason;
    }

    [Fact]
    public void Negative_BadMagic() =>
        Reject([.. Encoding.ASCII.GetBytes("PK\x03\x04 not numpy at all")], "bad magic", "\\x93NUMPY");

    [Fact]
    public void Negative_EmptyAndTinyFiles()
    {
        Reject([], "bad magic");
        Reject([0x93, (byte)'N', (byte)'U'], "truncated");
        Reject([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 0x76], "truncated", "preamble");
        Reject([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 2, 0, 0x76, 0, 0], "truncated", "preamble");
    }

    [Fact]
    public void Negative_UnsupportedVersion()
    {
        var bytes = File1(GoodDict, 1, 2);
        bytes[6] = 4;
        Reject(bytes, "version 4.0");
        bytes[6] = 1;
        bytes[7] = 1;
        Reject(bytes, "version 1.1");
    }

    [Fact]
    public void Negative_HeaderLengthPastEndOfFile()
    {
        var bytes = File1(GoodDict, 1, 2)[..40];
        Reject(bytes, "header length 118 runs past the end of the file", "40 bytes");
        var v2 = NpyValues.Concat(NpyValues.Preamble(2, GoodDict, 128), NpyValues.LittleEndian(1, 2));
        v2[11] = 0x7f; // claims a 2 GB header
        Reject(v2, "runs past the end of the file");
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("'descr': '<f8'", "expected '{'")]
    [InlineData("{'descr' '<f8', 'fortran_order': False, 'shape': (2,), }", "expected ':'")]
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), ", "ends inside the dict")]
    [InlineData("{'descr': '<f8, 'fortran_order': False, 'shape': (2,), }", "expected ',' or '}'")]
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), } x", "after the closing '}'")]
    [InlineData("{descr: '<f8', 'fortran_order': False, 'shape': (2,), }", "unexpected name 'descr'")]
    [InlineData("{1: '<f8', 'fortran_order': False, 'shape': (2,), }", "keys must be strings")]
    [InlineData("{'descr': '<f8' 'fortran_order': False, 'shape': (2,), }", "expected ',' or '}'")]
    [InlineData("{'descr': '<f8', 'fortran_order': false, 'shape': (2,), }", "unexpected name 'false'")]
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': (2.0,), }", "plain decimal integers")]
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': (2 3), }", "expected ',' or ')'")]
    [InlineData("{'descr': '<\\x66\\x38', 'fortran_order': False, 'shape': (2,), }", "escape sequences")]
    public void Negative_HeaderIsNotADictLiteral(string dict, string fragment) =>
        Reject(File1(dict, 1, 2), "not a valid dict literal", fragment);

    [Theory]
    [InlineData("{'descr': '<f8', 'shape': (2,), }", "lacks the key 'fortran_order'")]
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'extra': 1, }", "unexpected key 'extra'")]
    [InlineData("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", "repeats the key 'descr'")]
    [InlineData("{'descr': 8, 'fortran_order': False, 'shape': (2,), }", "descr must be a string")]
    [InlineData("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,), }", "structured dtypes")]
    [InlineData("{'descr': '<f8', 'fortran_order': 0, 'shape': (2,), }", "fortran_order must be True or False")]
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': (2), }", "shape must be a tuple", "trailing comma")]
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': [2], }", "shape must be a tuple", "a list")]
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': ('2',), }", "shape[0] must be an integer")]
    public void Negative_HeaderKeysAndValuesAreValidatedStrictly(string dict, params string[] fragments) =>
        Reject(File1(dict, 1, 2), fragments);

    [Theory]
    [InlineData("<f2", "unsupported dtype '<f2'")]
    [InlineData("<U10", "unsupported dtype '<U10'")]
    [InlineData("<c8", "unsupported dtype '<c8'")]
    [InlineData("|u1", "unsupported dtype '|u1'")]
    [InlineData("|f8", "byte order '|'")]
    [InlineData("|O", "object arrays are refused")]
    [InlineData("<O8", "object arrays are refused")]
    public void Negative_UnsupportedAndObjectDtypes(string descr, string fragment) =>
        Reject(File1($"{{'descr': '{descr}', 'fortran_order': False, 'shape': (2,), }}", 1, 2), fragment);

    [Fact]
    public void Negative_FortranOrderIsRefused() =>
        Reject(File1("{'descr': '<f8', 'fortran_order': True, 'shape': (1, 2), }", 1, 2), "fortran_order True", "C-ordered");

    [Fact]
    public void Negative_NegativeAndOversizedDimensions()
    {
        Reject(File1("{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }", 1, 2), "negative dimension -2");
        Reject(File1("{'descr': '<f8', 'fortran_order': False, 'shape': (3000000000,), }", 1, 2), "exceeds 2147483647");
        Reject(File1("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000000000000000000000,), }", 1, 2), "out of range");
    }

    [Fact]
    public void Negative_HugeShapeInASmallFileIsAClearErrorNotAnAllocation()
    {
        // 10^12 elements claimed by a 1 KB file: rejected from the file length before allocating.
        var bytes = File1("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000), }", new double[100]);
        Assert.True(bytes.Length < 1024);
        Reject(bytes, "data too short", "needs 8000000000000 bytes");
    }

    [Fact]
    public void Negative_DataShorterThanTheShapeSays() =>
        Reject(File1("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 1, 2, 3, 4, 5), "data too short", "needs 48 bytes", "has 40");

    [Fact]
    public void Negative_TrailingBytesAreRefused()
    {
        var bytes = NpyValues.Concat(File1(GoodDict, 1, 2), [0]);
        Reject(bytes, "1 trailing bytes");
    }

    [Fact]
    public void Negative_Version3HeaderMustBeUtf8()
    {
        var bytes = NpyValues.Concat(NpyValues.Preamble(3, GoodDict, 128), NpyValues.LittleEndian(1, 2));
        bytes[12 + 2] = 0xff; // inside the 'descr' key
        Reject(bytes, "not valid UTF-8");
    }

    [Fact]
    public void Negative_ErrorsFromAFileNameThePath()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "broken.npy");
        File.WriteAllBytes(path, File1(GoodDict, 1));
        var e = Assert.Throws<NpyFormatException>(() => Npy.Read(path));
        Assert.Equal(path, e.File);
        Assert.StartsWith(path + ": data too short", e.Message);
    }
}
