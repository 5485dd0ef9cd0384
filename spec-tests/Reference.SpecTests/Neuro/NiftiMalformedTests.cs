using System.Buffers.Binary;
using System.IO.Compression;
using Reference.Core;
using Reference.Neuro.IO;

namespace Reference.SpecTests.Neuro;

/// <summary>
/// Every class of malformed NIfTI file gives a <see cref="NiftiFormatException"/> whose one-line
/// message names the file and the field at fault (never an out-of-memory, a hang or another
/// exception type), including when the bytes arrive gzip-compressed or big-endian.
/// </summary>
public class NiftiMalformedTests
{
    /// <summary>A valid little-endian single-file image: int16, 4 x 3 x 2, no extensions (vox_offset 352 / 544).</summary>
    private static byte[] Valid(NiftiVersion version = NiftiVersion.Nifti1, bool bigEndian = false) =>
        Nifti.ToBytes(NiftiImage.Create(Enumerable.Range(0, 24).Select(i => (short)(i * 100 - 1000)).ToArray(), 4, 3, 2), version, bigEndian);

    private static byte[] Gzip(byte[] bytes)
    {
        using var buffer = new MemoryStream();
        using (var gz = new GZipStream(buffer, CompressionLevel.Optimal, leaveOpen: true)) gz.Write(bytes);
        return buffer.ToArray();
    }

    /// <summary>Asserts the bytes are refused with the field named in the exception and its message.</summary>
    private static NiftiFormatException Reject(byte[] bytes, string field, string fragment, NiftiReadOptions? options = null)
    {
        var e = Assert.Throws<NiftiFormatException>(() => Nifti.FromBytes(bytes, "bad.nii", options));
        Assert.StartsWith("bad.nii: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(field, e.Field);
        Assert.Contains(field.Split('[')[0], e.Reason);
        Assert.Contains(fragment, e.Reason);
        return e;
    }

    private static byte[] With(byte[] bytes, Action<byte[]> change)
    {
        var copy = (byte[])bytes.Clone();
        change(copy);
        return copy;
    }

    private static void I16(byte[] b, int at, short v) => BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(at), v);

    private static void I64(byte[] b, int at, long v) => BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(at), v);

    private static void F32(byte[] b, int at, float v) => BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(at), v);

    [Fact]
    public void Edge_TheValidFixtureReads()
    {
        Assert.Equal(-1000.0, Nifti.FromBytes(Valid()).Value(0, 0, 0));
        Assert.Equal(1300.0, Nifti.FromBytes(Gzip(Valid(NiftiVersion.Nifti2, bigEndian: true))).Value(3, 2, 1));
    }

    [Fact]
    public void Negative_EmptyAndTruncatedHeader()
    {
        Reject([], "sizeof_hdr", "truncated");
        Reject([0x5c, 0x01], "sizeof_hdr", "truncated");
        Reject(Valid()[..200], "sizeof_hdr", "needs 348 header bytes");
        Reject(Valid(NiftiVersion.Nifti2)[..539], "sizeof_hdr", "needs 540 header bytes");
        Reject(Gzip(Valid()[..300]), "sizeof_hdr", "needs 348 header bytes");
        Reject(Valid()[..349], "vox_offset", "past the end of the file (349 bytes)");
        Reject(Gzip(Valid()[..349]), "extender", "extender");
    }

    [Fact]
    public void Negative_NotANiftiFile() =>
        Reject("PK\x03\x04 this is a zip archive, not NIfTI"u8.ToArray(), "sizeof_hdr", "expected 348 (NIfTI-1) or 540 (NIfTI-2)");

    [Fact]
    public void Negative_BadMagic()
    {
        Reject(With(Valid(), b => b[345] = (byte)'x'), "magic", "bad magic 'nx1\\x00'");
        Reject(With(Valid(), b => b[346] = (byte)'2'), "magic", "expected 'n+1");
        Reject(With(Valid(), b => b[345] = (byte)'i'), "magic", "two-file pair");
        Reject(With(Valid(NiftiVersion.Nifti2), b => b[8] = (byte)'\n'), "magic", "check bytes");
    }

    [Fact]
    public void Negative_DimZeroOutOfRange()
    {
        Reject(With(Valid(), b => I16(b, 40, 0)), "dim[0]", "dim[0] = 0");
        Reject(With(Valid(), b => I16(b, 40, 8)), "dim[0]", "1 to 7");
        Reject(With(Valid(), b => I16(b, 40, -3)), "dim[0]", "dim[0] = -3");
        Reject(With(Valid(NiftiVersion.Nifti2), b => I64(b, 16, 1L << 40)), "dim[0]", "1 to 7");
    }

    [Fact]
    public void Negative_NegativeOrZeroDim()
    {
        Reject(With(Valid(), b => I16(b, 44, -5)), "dim[2]", "dim[2] = -5");
        Reject(With(Valid(), b => I16(b, 46, 0)), "dim[3]", "at least 1");
        // Big-endian files are checked the same way.
        Reject(With(Valid(bigEndian: true), b => BinaryPrimitives.WriteInt16BigEndian(b.AsSpan(42), -1)), "dim[1]", "dim[1] = -1");
    }

    [Fact]
    public void Negative_DimProductOverflows()
    {
        var bytes = With(Valid(NiftiVersion.Nifti2), b =>
        {
            I64(b, 16, 7);
            for (int i = 1; i <= 7; i++) I64(b, 16 + 8 * i, int.MaxValue);
        });
        Reject(bytes, "dim", "overflows");
        Reject(With(Valid(NiftiVersion.Nifti2), b => I64(b, 24, 1L << 33)), "dim[1]", "exceeds");
    }

    [Fact]
    public void Negative_DataLargerThanTheMemoryCap()
    {
        // 30000 x 30000 x 2 int16 = 3.6 GB, over the default 2 GiB cap: refused before reading on.
        var huge = With(Valid(), b => { I16(b, 42, 30000); I16(b, 44, 30000); });
        Reject(huge, "dim", "reader's limit");
        // A stated cap is honoured too.
        Reject(Valid(), "dim", "more than the reader's limit of 40", new NiftiReadOptions { MaxDataBytes = 40 });
    }

    [Fact]
    public void Negative_DataBeyondTheEndOfTheFile()
    {
        var valid = Valid();
        Reject(valid[..^1], "dim", "data truncated");
        Reject(With(valid, b => I16(b, 46, 3)), "dim", "needs 72 bytes from vox_offset 352, the file has 48");
        var e = Reject(Gzip(valid[..^10]), "data", "data truncated");
        Assert.Contains("vox_offset", e.Reason);
    }

    [Fact]
    public void Negative_SmallGzipClaimingAHugeImageFailsWithoutAllocatingIt()
    {
        // 1000 x 1000 x 500 int16 = 1 GB (under the 2 GiB cap) in a few hundred compressed bytes.
        var liar = Gzip(With(Valid(), b => { I16(b, 42, 1000); I16(b, 44, 1000); I16(b, 46, 500); }));
        long before = GC.GetAllocatedBytesForCurrentThread();
        Reject(liar, "data", "data truncated");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20, "the reader allocated for data that is not there");
    }

    [Fact]
    public void Negative_BadVoxOffset()
    {
        Reject(With(Valid(), b => F32(b, 108, 0)), "vox_offset", "vox_offset 0 is inside the header");
        Reject(With(Valid(), b => F32(b, 108, 351)), "vox_offset", "at or after byte 352");
        Reject(With(Valid(), b => F32(b, 108, float.NaN)), "vox_offset", "NaN");
        Reject(With(Valid(), b => F32(b, 108, 352.5f)), "vox_offset", "352.5");
        Reject(With(Valid(), b => F32(b, 108, -16)), "vox_offset", "not a whole number");
        Reject(With(Valid(), b => F32(b, 108, 1e9f)), "vox_offset", "past the end of the file");
        Reject(With(Valid(NiftiVersion.Nifti2), b => I64(b, 168, 540)), "vox_offset", "at or after byte 544");
        Reject(Gzip(With(Valid(), b => F32(b, 108, 4096))), "vox_offset", "past the end");
    }

    [Fact]
    public void Negative_UnknownDatatype()
    {
        Reject(With(Valid(), b => I16(b, 70, 32)), "datatype", "datatype 32 (DT_COMPLEX64) is not supported");
        Reject(With(Valid(), b => I16(b, 70, 7)), "datatype", "datatype 7");
        Reject(With(Valid(NiftiVersion.Nifti2), b => I16(b, 12, 128)), "datatype", "DT_RGB24");
    }

    [Fact]
    public void Negative_BitpixDisagreesWithDatatype() =>
        Reject(With(Valid(), b => I16(b, 72, 8)), "bitpix", "bitpix 8 does not match datatype 4 (int16), which has 16 bits");

    [Fact]
    public void Negative_NonFiniteInterceptWithAValidSlope()
    {
        Reject(With(Valid(), b => { F32(b, 112, 2); F32(b, 116, float.NaN); }), "scl_inter", "not finite");
        // A zero or NaN slope means no scaling: the intercept is then ignored, as nibabel does.
        Assert.Equal(-1000.0, Nifti.FromBytes(With(Valid(), b => { F32(b, 112, float.NaN); F32(b, 116, float.NaN); })).Value(0, 0, 0));
    }

    [Fact]
    public void Negative_TruncatedOrCorruptGzip()
    {
        var gz = Gzip(Valid());
        // Cut inside the deflate stream, and cut only the 8-byte trailer (CRC-32, length).
        Assert.Throws<NiftiFormatException>(() => Nifti.FromBytes(gz[..(gz.Length / 2)], "bad.nii"));
        var trailer = Assert.Throws<NiftiFormatException>(() => Nifti.FromBytes(gz[..^4], "bad.nii"));
        Assert.Contains("gzip", trailer.Message);
        // A flipped CRC byte is caught because the stream is read to its end.
        var crc = Assert.Throws<NiftiFormatException>(() => Nifti.FromBytes(With(gz, b => b[^6] ^= 0xff), "bad.nii"));
        Assert.Equal("gzip", crc.Field);
        // A corrupt deflate block.
        var corrupt = With(gz, b => { for (int i = 10; i < 40; i++) b[i] = 0xff; });
        Assert.Equal("gzip", Assert.Throws<NiftiFormatException>(() => Nifti.FromBytes(corrupt, "bad.nii")).Field);
    }

    [Fact]
    public void Negative_BadExtensionSize()
    {
        var image = NiftiImage.Create(new float[6], 3, 2);
        var withExtension = Nifti.ToBytes(image.WithHeader(image.Header with { Extensions = [new NiftiExtension(6, new byte[8])] }));
        Assert.Single(Nifti.FromBytes(withExtension).Header.Extensions);
        Reject(With(withExtension, b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(352), 20)), "esize", "esize 20 is not a positive multiple of 16");
        Reject(With(withExtension, b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(352), 0)), "esize", "esize 0");
        Reject(With(withExtension, b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(352), 64)), "esize", "runs past vox_offset");
        Reject(With(withExtension, b => F32(b, 108, 1e8f)), "vox_offset", "past the end of the file");
    }

    [Fact]
    public void Property_RandomCorruptionOnlyEverRaisesNiftiFormatException()
    {
        // A small fuzz: 300 seeded mutations (byte flips in the header, truncations, both formats,
        // gzip or not). Each must read or fail with NiftiFormatException, never anything else.
        var rng = new SplitMix64(2024);
        var seeds = new[] { Valid(), Valid(NiftiVersion.Nifti2), Valid(bigEndian: true), Gzip(Valid()) };
        for (int round = 0; round < 300; round++)
        {
            var bytes = (byte[])seeds[rng.NextInt(seeds.Length)].Clone();
            int flips = 1 + rng.NextInt(4);
            for (int f = 0; f < flips; f++) bytes[rng.NextInt(Math.Min(bytes.Length, 560))] = (byte)rng.NextUInt64();
            if (rng.NextInt(4) == 0) bytes = bytes[..rng.NextInt(bytes.Length)];
            try
            {
                Nifti.FromBytes(bytes, "fuzz.nii", new NiftiReadOptions { MaxDataBytes = 1 << 20 });
            }
            catch (NiftiFormatException e)
            {
                Assert.DoesNotContain('\n', e.Message);
                Assert.False(string.IsNullOrEmpty(e.Field));
            }
        }
    }
}
