using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Numerics;
using System.Text;
using Reference.Core.IO;

namespace Reference.Neuro.IO;

/// <summary>
/// Single-file NIfTI-1 and NIfTI-2 images (.nii, and .nii.gz: the same bytes gzip-compressed):
/// <code>
/// bytes 0 .. 347 (NIfTI-1) or 0 .. 539 (NIfTI-2)   the header (nifti1.h / nifti2.h)
/// next 4 bytes                                      extender: byte 0 nonzero = extensions follow
/// then, up to vox_offset                            extensions (esize, ecode, content) and padding
/// vox_offset ..                                     prod(dim[1..dim[0]]) values of datatype, x fastest
/// </code>
/// Reader policy (an oracle must not guess): the version and byte order come from sizeof_hdr
/// (348 or 540, read little- then big-endian); the magic must say single file ("n+1", or "n+2"
/// with NIfTI-2's check bytes); dim[0] in 1..7 and every used dim at least 1; the datatype one of
/// <see cref="NiftiDataType"/> and bitpix its width; vox_offset a whole number at or after the
/// extender; a valid scl_slope needs a finite scl_inter (as nibabel demands). Sizes are checked
/// against <see cref="NiftiReadOptions"/> and the file's length BEFORE anything is allocated;
/// gzip input, whose length is unknown, is read in bounded chunks, so a small file claiming a
/// huge image fails on its truncation without the allocation. Bytes after the data are allowed
/// (nibabel allows them too); a gzip stream is read to its end so its checksum is verified.
/// Every problem is a <see cref="NiftiFormatException"/> naming the field.
/// <para>
/// The parser is a pure function of the bytes (<see cref="FromBytes"/>, <see cref="ParseHeader"/>):
/// no file system, no global state, so a fuzzer can drive it directly.
/// </para>
/// Writer: one file, atomically (<see cref="AtomicFile"/>), gzip when the path ends in .gz,
/// little-endian unless asked otherwise; vox_offset = header + extender + extensions (352 or 544
/// without extensions, a multiple of 16 as nifti1.h recommends).
/// </summary>
public static class Nifti
{
    private const int ChunkBytes = 1 << 20;

    // ---------------------------------------------------------------- reading

    /// <summary>Reads a .nii or .nii.gz file (gzip is recognized by its magic bytes, not the name).</summary>
    public static NiftiImage Read(string path, NiftiReadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = OpenFile(path);
        return Read(stream, path, options);
    }

    /// <summary>
    /// Reads one image from the rest of <paramref name="stream"/>; <paramref name="name"/> labels
    /// errors. A stream that cannot seek is first copied to memory (its length is then known).
    /// </summary>
    public static NiftiImage Read(Stream stream, string name, NiftiReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(name);
        options ??= NiftiReadOptions.Default;
        using var source = Source.Open(stream, name);
        var header = ReadHeader(source, options);
        var data = ReadData(source, header, options);
        source.DrainGzip(options);
        return new NiftiImage(header, data);
    }

    /// <summary>Reads an image from an in-memory .nii or .nii.gz (the fuzzing entry point).</summary>
    public static NiftiImage FromBytes(byte[] bytes, string name = "<bytes>", NiftiReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        using var stream = new MemoryStream(bytes, writable: false);
        return Read(stream, name, options);
    }

    /// <summary>Reads and validates the header and extensions of a file, not its data (whose size is still checked when the length is known).</summary>
    public static NiftiHeader ReadHeader(string path, NiftiReadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = OpenFile(path);
        options ??= NiftiReadOptions.Default;
        using var source = Source.Open(stream, path);
        var header = ReadHeader(source, options);
        CheckDataSize(source, header, options);
        return header;
    }

    /// <summary>
    /// Streams the scaled values of a file in file order (x fastest), <paramref name="blockValues"/>
    /// at a time, without holding the image in memory; returns the header. The file is validated
    /// as <see cref="Read(string, NiftiReadOptions?)"/> does.
    /// </summary>
    public static NiftiHeader ReadValues(string path, Action<ReadOnlySpan<double>> block, int blockValues = 1 << 16, NiftiReadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(block);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockValues, 1);
        options ??= NiftiReadOptions.Default;
        using var stream = OpenFile(path);
        using var source = Source.Open(stream, path);
        var header = ReadHeader(source, options);
        long count = CheckDataSize(source, header, options);
        var raw = header.DataType.Allocate((int)Math.Min(blockValues, count));
        var scaled = new double[raw.Length];
        for (long done = 0; done < count;)
        {
            int n = (int)Math.Min(raw.Length, count - done);
            var bytes = NiftiImage.BytesOf(raw)[..(n * header.DataType.ItemSize())];
            source.ReadExactly(bytes, "data",
                got => $"data truncated: shape ({string.Join(", ", header.Shape)}) of {header.DataType.NumpyName()} (dim) needs {count * header.DataType.ItemSize()} bytes from vox_offset {header.VoxOffset}, the {source.Kind} ends after {done * header.DataType.ItemSize() + got}.");
            if (header.BigEndian == BitConverter.IsLittleEndian) SwapBytes(raw, n);
            NiftiImage.CopyScaled(header, raw, 0, scaled.AsSpan(0, n));
            block(scaled.AsSpan(0, n));
            done += n;
        }
        source.DrainGzip(options);
        return header;
    }

    /// <summary>
    /// Decodes and validates a bare header image: 348 bytes (NIfTI-1) or 540 (NIfTI-2), either
    /// byte order. The result has no extensions; vox_offset is checked against the header size
    /// only. Pure: the fuzzing entry point for the header alone.
    /// </summary>
    public static NiftiHeader ParseHeader(ReadOnlySpan<byte> bytes, string name = "<bytes>")
    {
        ArgumentNullException.ThrowIfNull(name);
        var (version, big) = DetectVersion(bytes, name);
        int size = version == NiftiVersion.Nifti1 ? NiftiLayout.Nifti1Size : NiftiLayout.Nifti2Size;
        if (bytes.Length < size)
            throw new NiftiFormatException(name, "sizeof_hdr",
                $"header truncated: sizeof_hdr {size} says {Label(version)}, which needs {size} header bytes; there are {bytes.Length}.");
        var copy = bytes[..size].ToArray();
        return Decode(copy, version, big, name);
    }

    private static FileStream OpenFile(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);

    private static NiftiHeader ReadHeader(Source source, NiftiReadOptions options)
    {
        var buffer = new byte[NiftiLayout.Nifti2Size];
        source.ReadExactly(buffer.AsSpan(0, 4), "sizeof_hdr",
            got => $"truncated: the {source.Kind} has {got} bytes, fewer than the 4 of sizeof_hdr.");
        var (version, big) = DetectVersion(buffer.AsSpan(0, 4), source.Name);
        int size = version == NiftiVersion.Nifti1 ? NiftiLayout.Nifti1Size : NiftiLayout.Nifti2Size;
        source.ReadExactly(buffer.AsSpan(4, size - 4), "sizeof_hdr",
            got => $"header truncated: sizeof_hdr {size} says {Label(version)}, which needs {size} header bytes; the {source.Kind} has {4 + got}.");
        var header = Decode(buffer.AsSpan(0, size).ToArray(), version, big, source.Name);

        if (source.Length is long length && header.VoxOffset > length)
            throw new NiftiFormatException(source.Name, "vox_offset",
                $"vox_offset {header.VoxOffset} points past the end of the file ({length} bytes).");
        var extender = new byte[4];
        source.ReadExactly(extender, "extender",
            got => $"truncated after the header: the 4-byte extender is missing (vox_offset {header.VoxOffset} says the data start later).");
        long gap = header.VoxOffset - size - 4;
        var extensions = new List<NiftiExtension>();
        if (extender[0] != 0 && gap > 0)
        {
            if (gap > options.MaxExtensionBytes)
                throw new NiftiFormatException(source.Name, "vox_offset",
                    $"vox_offset {header.VoxOffset} leaves {gap} bytes of extensions, more than the reader's limit {options.MaxExtensionBytes} (NiftiReadOptions.MaxExtensionBytes).");
            var block = new byte[gap];
            source.ReadExactly(block, "vox_offset",
                got => $"truncated in the extensions: vox_offset {header.VoxOffset} puts the data after {gap} bytes of extensions, the {source.Kind} has {got}.");
            ParseExtensions(block, big, size, source.Name, extensions);
        }
        else
        {
            source.Skip(gap, "vox_offset",
                got => $"truncated before the data: vox_offset {header.VoxOffset} is past the end of the {source.Kind} ({size + 4 + got} bytes).");
        }
        return header with { Extender = extender, Extensions = extensions };
    }

    /// <summary>Extensions: esize (int32, a multiple of 16, at least 16, counting its own 8 bytes), ecode (int32), esize - 8 bytes.</summary>
    private static void ParseExtensions(byte[] block, bool big, int headerSize, string name, List<NiftiExtension> extensions)
    {
        int at = 0;
        while (block.Length - at >= 8)
        {
            int esize = big ? BinaryPrimitives.ReadInt32BigEndian(block.AsSpan(at)) : BinaryPrimitives.ReadInt32LittleEndian(block.AsSpan(at));
            int ecode = big ? BinaryPrimitives.ReadInt32BigEndian(block.AsSpan(at + 4)) : BinaryPrimitives.ReadInt32LittleEndian(block.AsSpan(at + 4));
            long offset = headerSize + 4 + at;
            if (esize < 16 || esize % 16 != 0)
                throw new NiftiFormatException(name, "esize",
                    $"extension {extensions.Count} at byte {offset}: esize {esize} is not a positive multiple of 16.");
            if (esize > block.Length - at)
                throw new NiftiFormatException(name, "esize",
                    $"extension {extensions.Count} at byte {offset}: esize {esize} runs past vox_offset ({block.Length - at} bytes left before the data).");
            extensions.Add(new NiftiExtension(ecode, block.AsSpan(at + 8, esize - 8).ToArray()));
            at += esize;
        }
    }

    /// <summary>Version and byte order from sizeof_hdr: 348 or 540 read little-endian, else big-endian.</summary>
    private static (NiftiVersion Version, bool BigEndian) DetectVersion(ReadOnlySpan<byte> bytes, string name)
    {
        if (bytes.Length < 4)
            throw new NiftiFormatException(name, "sizeof_hdr",
                $"truncated: {bytes.Length} bytes, fewer than the 4 of sizeof_hdr.");
        int little = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        int big = BinaryPrimitives.ReadInt32BigEndian(bytes);
        if (little == NiftiLayout.Nifti1Size) return (NiftiVersion.Nifti1, false);
        if (little == NiftiLayout.Nifti2Size) return (NiftiVersion.Nifti2, false);
        if (big == NiftiLayout.Nifti1Size) return (NiftiVersion.Nifti1, true);
        if (big == NiftiLayout.Nifti2Size) return (NiftiVersion.Nifti2, true);
        throw new NiftiFormatException(name, "sizeof_hdr",
            $"not a NIfTI file: sizeof_hdr is {little} (read little-endian; {big} big-endian), expected 348 (NIfTI-1) or 540 (NIfTI-2).");
    }

    private static string Label(NiftiVersion version) => version == NiftiVersion.Nifti1 ? "NIfTI-1" : "NIfTI-2";

    private static NiftiHeader Decode(byte[] bytes, NiftiVersion version, bool big, string name)
    {
        NiftiHeader h;
        int dataType;
        long voxOffset;
        int size;
        if (version == NiftiVersion.Nifti1)
        {
            size = NiftiLayout.Nifti1Size;
            var (decoded, code, offset) = NiftiLayout.Decode1(bytes, big);
            CheckMagic(bytes.AsSpan(344, 4), version, name);
            if (!double.IsFinite(offset) || offset < 0 || offset != Math.Floor(offset) || offset > long.MaxValue / 2)
                throw new NiftiFormatException(name, "vox_offset",
                    $"vox_offset {offset.ToString("R", CultureInfo.InvariantCulture)} is not a whole number of bytes at or after byte {size + 4}.");
            (h, dataType, voxOffset) = (decoded, code, (long)offset);
        }
        else
        {
            size = NiftiLayout.Nifti2Size;
            CheckMagic(bytes.AsSpan(4, 8), version, name);
            (h, dataType, voxOffset) = NiftiLayout.Decode2(bytes, big);
        }

        long rank = h.Dim[0];
        if (rank is < 1 or > 7)
            throw new NiftiFormatException(name, "dim[0]",
                $"dim[0] = {rank}: the number of dimensions must be 1 to 7 (dim = [{string.Join(", ", h.Dim)}]).");
        BigInteger count = BigInteger.One;
        for (int i = 1; i <= rank; i++)
        {
            long n = h.Dim[i];
            if (n < 1)
                throw new NiftiFormatException(name, $"dim[{i}]",
                    $"dim[{i}] = {n}: every used dimension (dim[1..{rank}]) must be at least 1 (dim = [{string.Join(", ", h.Dim)}]).");
            if (n > int.MaxValue)
                throw new NiftiFormatException(name, $"dim[{i}]",
                    $"dim[{i}] = {n} exceeds the reader's largest dimension {int.MaxValue}.");
            count *= n;
        }
        if (count > long.MaxValue / 8)
            throw new NiftiFormatException(name, "dim",
                $"dim[1..{rank}] = ({string.Join(", ", h.Dim.Skip(1).Take((int)rank))}) multiply to {count} values, which overflows a 64-bit byte count.");

        if (!NiftiDataTypes.IsSupported(dataType))
            throw new NiftiFormatException(name, "datatype",
                $"datatype {dataType} ({NiftiDataTypes.CodeName(dataType)}) is not supported; expected one of {string.Join(", ", NiftiDataTypes.All.Select(t => $"{(int)(short)t} ({t.NumpyName()})"))}.");
        if (h.Bitpix != h.DataType.BitsPerVoxel())
            throw new NiftiFormatException(name, "bitpix",
                $"bitpix {h.Bitpix} does not match datatype {dataType} ({h.DataType.NumpyName()}), which has {h.DataType.BitsPerVoxel()} bits.");
        if (voxOffset < size + 4)
            throw new NiftiFormatException(name, "vox_offset",
                $"vox_offset {voxOffset} is inside the header: a single-file {Label(version)} keeps its data at or after byte {size + 4} ({size}-byte header + 4-byte extender).");
        if (h.HasScaling && !double.IsFinite(h.SclInter))
            throw new NiftiFormatException(name, "scl_inter",
                $"scl_inter {h.SclInter.ToString(CultureInfo.InvariantCulture)} is not finite while scl_slope {h.SclSlope.ToString("R", CultureInfo.InvariantCulture)} asks for scaling.");
        return h with { VoxOffset = voxOffset, Magic = version == NiftiVersion.Nifti1 ? "n+1" : "n+2" };
    }

    private static void CheckMagic(ReadOnlySpan<byte> magic, NiftiVersion version, string name)
    {
        byte digit = version == NiftiVersion.Nifti1 ? (byte)'1' : (byte)'2';
        ReadOnlySpan<byte> single = [(byte)'n', (byte)'+', digit, 0];
        ReadOnlySpan<byte> pair = [(byte)'n', (byte)'i', digit, 0];
        if (magic[..4].SequenceEqual(pair))
            throw new NiftiFormatException(name, "magic",
                $"magic 'ni{(char)digit}' marks a two-file pair (.hdr + .img); only single-file images (magic 'n+{(char)digit}') are supported.");
        if (!magic[..4].SequenceEqual(single))
            throw new NiftiFormatException(name, "magic",
                $"bad magic {NiftiHeader.Quote(Encoding.Latin1.GetString(magic[..4]))}, expected 'n+{(char)digit}\\x00' (sizeof_hdr says {Label(version)}).");
        if (version == NiftiVersion.Nifti2 && !magic[4..8].SequenceEqual(NiftiLayout.Nifti2CheckBytes))
            throw new NiftiFormatException(name, "magic",
                $"bad magic: NIfTI-2's check bytes are {NiftiHeader.Quote(Encoding.Latin1.GetString(magic[4..8]))}, expected '\\x0d\\x0a\\x1a\\x0a' (a text-mode transfer alters them).");
    }

    /// <summary>The element count, checked against the options and (when known) the file's length.</summary>
    private static long CheckDataSize(Source source, NiftiHeader header, NiftiReadOptions options)
    {
        long count = header.ElementCount;
        long bytes = count * header.DataType.ItemSize();
        string what = $"shape ({string.Join(", ", header.Shape)}) of {header.DataType.NumpyName()}";
        if (bytes > options.MaxDataBytes || count > Array.MaxLength)
            throw new NiftiFormatException(source.Name, "dim",
                $"{what} (dim) needs {bytes} bytes ({count} values), more than the reader's limit of {Math.Min(options.MaxDataBytes, Array.MaxLength)} (NiftiReadOptions.MaxDataBytes).");
        if (source.Length is long length && header.VoxOffset + bytes > length)
            throw new NiftiFormatException(source.Name, "dim",
                $"data truncated: {what} (dim) needs {bytes} bytes from vox_offset {header.VoxOffset}, the file has {Math.Max(0, length - header.VoxOffset)}.");
        return count;
    }

    private static Array ReadData(Source source, NiftiHeader header, NiftiReadOptions options)
    {
        long count = CheckDataSize(source, header, options);
        int itemSize = header.DataType.ItemSize();
        string Truncated(long got) =>
            $"data truncated: shape ({string.Join(", ", header.Shape)}) of {header.DataType.NumpyName()} (dim) needs {count * itemSize} bytes from vox_offset {header.VoxOffset}, the {source.Kind} has {got}.";
        Array data;
        if (source.Length is not null)
        {
            data = header.DataType.Allocate((int)count);
            source.ReadExactly(NiftiImage.BytesOf(data), "data", got => Truncated(got));
        }
        else
        {
            // Unknown length (gzip): collect bounded chunks first, allocate the image only once its bytes exist.
            long needed = count * itemSize;
            var chunks = new List<byte[]>();
            for (long got = 0; got < needed;)
            {
                var chunk = new byte[(int)Math.Min(ChunkBytes, needed - got)];
                long before = got;
                source.ReadExactly(chunk, "data", partial => Truncated(before + partial));
                chunks.Add(chunk);
                got += chunk.Length;
            }
            data = header.DataType.Allocate((int)count);
            var target = NiftiImage.BytesOf(data);
            int at = 0;
            foreach (var chunk in chunks)
            {
                chunk.CopyTo(target[at..]);
                at += chunk.Length;
            }
        }
        if (header.BigEndian == BitConverter.IsLittleEndian) SwapBytes(data, data.Length);
        return data;
    }

    /// <summary>Reverses the bytes of each of the first <paramref name="count"/> values.</summary>
    private static void SwapBytes(Array data, int count)
    {
        switch (data)
        {
            case short[] a: BinaryPrimitives.ReverseEndianness(a.AsSpan(0, count), a.AsSpan(0, count)); break;
            case ushort[] a: BinaryPrimitives.ReverseEndianness(a.AsSpan(0, count), a.AsSpan(0, count)); break;
            case int[] a: BinaryPrimitives.ReverseEndianness(a.AsSpan(0, count), a.AsSpan(0, count)); break;
            case uint[] a: BinaryPrimitives.ReverseEndianness(a.AsSpan(0, count), a.AsSpan(0, count)); break;
            case long[] a: BinaryPrimitives.ReverseEndianness(a.AsSpan(0, count), a.AsSpan(0, count)); break;
            case ulong[] a: BinaryPrimitives.ReverseEndianness(a.AsSpan(0, count), a.AsSpan(0, count)); break;
            case float[] a:
                {
                    var s = System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(a.AsSpan(0, count));
                    BinaryPrimitives.ReverseEndianness(s, s);
                    break;
                }
            case double[] a:
                {
                    var s = System.Runtime.InteropServices.MemoryMarshal.Cast<double, long>(a.AsSpan(0, count));
                    BinaryPrimitives.ReverseEndianness(s, s);
                    break;
                }
        }
    }

    // ---------------------------------------------------------------- writing

    /// <summary>
    /// Writes <paramref name="image"/> to <paramref name="path"/> atomically, gzip-compressed when
    /// the path ends in ".gz". The header is written as <see cref="AsWritten"/> describes.
    /// </summary>
    public static void Write(string path, NiftiImage image, NiftiVersion version = NiftiVersion.Nifti1, bool bigEndian = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(image);
        var header = AsWritten(image.Header, version, bigEndian);
        bool gzip = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
        AtomicFile.Write(path, stream =>
        {
            if (!gzip)
            {
                WriteUncompressed(stream, header, image.Data);
                return;
            }
            using var compressed = new GZipStream(stream, CompressionLevel.Optimal, leaveOpen: true);
            WriteUncompressed(compressed, header, image.Data);
        });
    }

    /// <summary>Writes the uncompressed single-file image to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, NiftiImage image, NiftiVersion version = NiftiVersion.Nifti1, bool bigEndian = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(image);
        WriteUncompressed(stream, AsWritten(image.Header, version, bigEndian), image.Data);
    }

    /// <summary>The complete file image (.nii, or .nii.gz when <paramref name="gzip"/>).</summary>
    public static byte[] ToBytes(NiftiImage image, NiftiVersion version = NiftiVersion.Nifti1, bool bigEndian = false, bool gzip = false)
    {
        ArgumentNullException.ThrowIfNull(image);
        var header = AsWritten(image.Header, version, bigEndian);
        using var buffer = new MemoryStream();
        if (gzip)
        {
            using var compressed = new GZipStream(buffer, CompressionLevel.Optimal, leaveOpen: true);
            WriteUncompressed(compressed, header, image.Data);
        }
        else WriteUncompressed(buffer, header, image.Data);
        return buffer.ToArray();
    }

    /// <summary>
    /// The header exactly as reading the written file returns it: version, byte order,
    /// sizeof_hdr, magic, bitpix (from the datatype), the extender (1 when there are extensions)
    /// and vox_offset (header + 4 + extensions) set by the format; extension contents padded to
    /// esize - 8; for NIfTI-1, every float field rounded to float32 and the NIfTI-1-only fields
    /// kept, for NIfTI-2 those cleared. Throws <see cref="ArgumentException"/> for a field the
    /// chosen format cannot hold (a dim over 32767 in NIfTI-1, a string longer than its field,
    /// a character outside Latin-1, a code outside its field's range).
    /// </summary>
    public static NiftiHeader AsWritten(NiftiHeader header, NiftiVersion version = NiftiVersion.Nifti1, bool bigEndian = false)
    {
        ArgumentNullException.ThrowIfNull(header);
        if (version is not (NiftiVersion.Nifti1 or NiftiVersion.Nifti2))
            throw new ArgumentOutOfRangeException(nameof(version), version, "expected Nifti1 or Nifti2.");
        CheckCount(header.Dim, 8, "Dim");
        CheckCount(header.Pixdim, 8, "Pixdim");
        CheckCount(header.SrowX, 4, "SrowX");
        CheckCount(header.SrowY, 4, "SrowY");
        CheckCount(header.SrowZ, 4, "SrowZ");
        _ = header.DataType.ItemSize();
        bool one = version == NiftiVersion.Nifti1;
        int size = one ? NiftiLayout.Nifti1Size : NiftiLayout.Nifti2Size;
        var extensions = header.Extensions.Select(e => new NiftiExtension(e.Code, Pad(e.Content, e.Size - 8))).ToArray();
        long voxOffset = size + 4 + extensions.Sum(e => (long)e.Size);

        CheckString(header.Descrip, 80, "Descrip");
        CheckString(header.AuxFile, 24, "AuxFile");
        CheckString(header.IntentName, 16, "IntentName");
        if (one)
        {
            CheckString(header.DataTypeName, 10, "DataTypeName");
            CheckString(header.DbName, 18, "DbName");
            foreach (var (value, field) in new[]
            {
                (header.Dim.Max(), "Dim"), (header.Dim.Min(), "Dim"), (header.IntentCode, "IntentCode"),
                (header.SliceStart, "SliceStart"), (header.SliceEnd, "SliceEnd"), (header.QformCode, "QformCode"), (header.SformCode, "SformCode"),
            })
                if (value is < short.MinValue or > short.MaxValue)
                    throw new ArgumentException($"{field} value {value} does not fit NIfTI-1's int16 field; write NIfTI-2.", field);
            if (header.SliceCode is < 0 or > 255) throw new ArgumentException($"SliceCode {header.SliceCode} does not fit NIfTI-1's byte field.", nameof(header));
            if (header.XyztUnits is < 0 or > 255) throw new ArgumentException($"XyztUnits {header.XyztUnits} does not fit NIfTI-1's byte field.", nameof(header));
            if ((long)(float)voxOffset != voxOffset) throw new ArgumentException($"vox_offset {voxOffset} is not exact as NIfTI-1's float; write NIfTI-2.", nameof(header));
        }

        static double F(double v) => (float)v;
        static double[] Fs(IReadOnlyList<double> v) => [.. v.Select(F)];
        var written = header with
        {
            Version = version,
            BigEndian = bigEndian,
            SizeOfHeader = size,
            Magic = one ? "n+1" : "n+2",
            Bitpix = header.DataType.BitsPerVoxel(),
            VoxOffset = voxOffset,
            Dim = [.. header.Dim],
            Extender = [(byte)(extensions.Length > 0 ? 1 : 0), 0, 0, 0],
            Extensions = extensions,
        };
        if (one)
        {
            return written with
            {
                IntentP1 = F(header.IntentP1), IntentP2 = F(header.IntentP2), IntentP3 = F(header.IntentP3),
                Pixdim = Fs(header.Pixdim), SclSlope = F(header.SclSlope), SclInter = F(header.SclInter),
                CalMax = F(header.CalMax), CalMin = F(header.CalMin), SliceDuration = F(header.SliceDuration), Toffset = F(header.Toffset),
                QuaternB = F(header.QuaternB), QuaternC = F(header.QuaternC), QuaternD = F(header.QuaternD),
                QoffsetX = F(header.QoffsetX), QoffsetY = F(header.QoffsetY), QoffsetZ = F(header.QoffsetZ),
                SrowX = Fs(header.SrowX), SrowY = Fs(header.SrowY), SrowZ = Fs(header.SrowZ),
            };
        }
        return written with
        {
            DataTypeName = "", DbName = "", Extents = 0, SessionError = 0, Regular = 0, GlMax = 0, GlMin = 0,
            Pixdim = [.. header.Pixdim], SrowX = [.. header.SrowX], SrowY = [.. header.SrowY], SrowZ = [.. header.SrowZ],
        };
    }

    private static void WriteUncompressed(Stream stream, NiftiHeader header, Array data)
    {
        bool one = header.Version == NiftiVersion.Nifti1;
        var prefix = new byte[header.VoxOffset];
        if (one) NiftiLayout.Encode1(header, prefix, header.BigEndian);
        else NiftiLayout.Encode2(header, prefix, header.BigEndian);
        int at = header.SizeOfHeader;
        for (int i = 0; i < 4; i++) prefix[at + i] = header.Extender[i];
        at += 4;
        foreach (var extension in header.Extensions)
        {
            var fields = new NiftiLayout.Fields(prefix, header.BigEndian);
            fields.I32(at, extension.Size);
            fields.I32(at + 4, extension.Code);
            extension.Content.CopyTo(prefix, at + 8);
            at += extension.Size;
        }
        stream.Write(prefix);

        var bytes = NiftiImage.BytesOf(data);
        if (header.BigEndian == BitConverter.IsLittleEndian && header.DataType.ItemSize() > 1)
        {
            var swapped = (Array)data.Clone();
            SwapBytes(swapped, swapped.Length);
            stream.Write(NiftiImage.BytesOf(swapped));
        }
        else stream.Write(bytes);
    }

    private static byte[] Pad(byte[] content, int length)
    {
        ArgumentNullException.ThrowIfNull(content);
        var padded = new byte[length];
        content.CopyTo(padded, 0);
        return padded;
    }

    private static void CheckCount<T>(IReadOnlyList<T> values, int count, string field)
    {
        if (values is null || values.Count != count)
            throw new ArgumentException($"{field} must have {count} entries, found {values?.Count.ToString(CultureInfo.InvariantCulture) ?? "null"}.", field);
    }

    private static void CheckString(string value, int length, string field)
    {
        ArgumentNullException.ThrowIfNull(value, field);
        if (value.Length > length)
            throw new ArgumentException($"{field} has {value.Length} characters, more than its field's {length}.", field);
        foreach (char c in value)
            if (c > '\xff') throw new ArgumentException($"{field} holds '{c}' (U+{(int)c:X4}), outside Latin-1.", field);
    }

    // ---------------------------------------------------------------- input

    /// <summary>
    /// The bytes of a file: the stream itself, or a gzip decompressor over it when it starts with
    /// the gzip magic 1f 8b. Length is known only for uncompressed seekable input. Decompression
    /// errors become <see cref="NiftiFormatException"/>s. For gzip, the CRC-32 and length of
    /// everything decompressed are checked against the trailer (the last 8 bytes) at the end, which
    /// catches a cut trailer that GZipStream passes silently; so only single-member gzip files
    /// (what gzip, zlib, pigz and Python write) are accepted.
    /// </summary>
    private sealed class Source : IDisposable
    {
        private readonly Stream stream;
        private readonly Stream raw;
        private readonly long rawStart;
        private readonly bool gzip;
        private uint crc;
        private long decompressed;

        private Source(Stream stream, Stream raw, long rawStart, bool gzip, long? length, string name)
        {
            this.stream = stream;
            this.raw = raw;
            this.rawStart = rawStart;
            this.gzip = gzip;
            Length = length;
            Name = name;
        }

        public string Name { get; }

        /// <summary>The uncompressed length, when known before reading.</summary>
        public long? Length { get; }

        public string Kind => gzip ? "decompressed gzip stream" : "file";

        public static Source Open(Stream raw, string name)
        {
            if (!raw.CanSeek)
            {
                var copy = new MemoryStream();
                raw.CopyTo(copy);
                copy.Position = 0;
                raw = copy;
            }
            long start = raw.Position;
            Span<byte> magic = stackalloc byte[2];
            int got = raw.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
            raw.Position = start;
            if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
                return new Source(new GZipStream(raw, CompressionMode.Decompress, leaveOpen: true), raw, start, true, null, name);
            return new Source(raw, raw, start, false, raw.Length - start, name);
        }

        /// <summary>Fills <paramref name="buffer"/> or throws a truncation error built by <paramref name="message"/> from the bytes got.</summary>
        public void ReadExactly(Span<byte> buffer, string field, Func<long, string> message)
        {
            int got = Read(buffer, field);
            if (got != buffer.Length) throw new NiftiFormatException(Name, field, message(got));
        }

        /// <summary>Reads and discards <paramref name="count"/> bytes.</summary>
        public void Skip(long count, string field, Func<long, string> message)
        {
            if (count <= 0) return;
            var scratch = new byte[(int)Math.Min(count, 1 << 16)];
            for (long done = 0; done < count;)
            {
                int want = (int)Math.Min(scratch.Length, count - done);
                int got = Read(scratch.AsSpan(0, want), field);
                done += got;
                if (got != want) throw new NiftiFormatException(Name, field, message(done));
            }
        }

        /// <summary>Reads the rest of a gzip stream (at most the data limit) and checks its trailer: CRC-32 and ISIZE (the length mod 2^32).</summary>
        public void DrainGzip(NiftiReadOptions options)
        {
            if (!gzip) return;
            var scratch = new byte[1 << 16];
            long extra = 0;
            int got;
            while ((got = Read(scratch, "gzip")) > 0)
            {
                extra += got;
                if (extra > options.MaxDataBytes)
                    throw new NiftiFormatException(Name, "gzip",
                        $"more than {options.MaxDataBytes} bytes follow the data in the gzip stream (NiftiReadOptions.MaxDataBytes).");
            }
            Span<byte> trailer = stackalloc byte[8];
            if (raw.Length - rawStart < 18)
                throw new NiftiFormatException(Name, "gzip", $"the gzip stream is truncated: {raw.Length - rawStart} bytes cannot hold a header and the 8-byte trailer.");
            raw.Position = raw.Length - 8;
            raw.ReadExactly(trailer);
            uint storedCrc = BinaryPrimitives.ReadUInt32LittleEndian(trailer);
            uint storedSize = BinaryPrimitives.ReadUInt32LittleEndian(trailer[4..]);
            if (storedCrc != crc || storedSize != (uint)decompressed)
                throw new NiftiFormatException(Name, "gzip",
                    $"the gzip trailer does not match the data: it stores CRC-32 {storedCrc:x8} and ISIZE {storedSize}, the {decompressed} decompressed bytes have CRC-32 {crc:x8} (a truncated or corrupt .gz; multi-member gzip is not supported).");
        }

        private int Read(Span<byte> buffer, string field)
        {
            try
            {
                int got = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
                if (gzip)
                {
                    crc = Crc32.Append(crc, buffer[..got]);
                    decompressed += got;
                }
                return got;
            }
            catch (InvalidDataException e)
            {
                throw new NiftiFormatException(Name, "gzip",
                    $"the gzip stream is corrupt while reading {field}: {e.Message.ReplaceLineEndings(" ")}", e);
            }
        }

        public void Dispose()
        {
            if (gzip) stream.Dispose();
        }
    }
}
