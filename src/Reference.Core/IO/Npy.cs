using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;

namespace Reference.Core.IO;

/// <summary>
/// What an .npy header says, validated against the file's length: format version (MajorVersion
/// 1, 2 or 3; MinorVersion always 0), the descr string exactly as the file spells it ('&lt;f8',
/// '=i4', '&gt;f4', ...) and the dtype it maps to, SwapBytes (true when the file's byte order
/// differs from the host's), FortranOrder, the shape, DataOffset (bytes before the first
/// element: preamble + header) and the element count.
/// </summary>
public sealed record NpyHeader(
    int MajorVersion, int MinorVersion, string Descr, NpyDType DType, bool SwapBytes, bool FortranOrder,
    IReadOnlyList<int> Shape, long DataOffset, long ElementCount)
{
    public string Version => $"{MajorVersion}.{MinorVersion}";

    public long DataBytes => ElementCount * DType.ItemSize();
}

/// <summary>
/// The NPY format (numpy/lib/format.py, "NEP 1 — A simple file format for NumPy arrays"):
/// <code>
/// bytes 0-5   magic "\x93NUMPY"
/// bytes 6-7   version major, minor: 1.0, 2.0 or 3.0
/// then        header length HLEN: little-endian uint16 (1.0) or uint32 (2.0, 3.0)
/// then        HLEN bytes: a Python dict literal, latin-1 (1.0, 2.0) or UTF-8 (3.0), e.g.
///             {'descr': '&lt;f8', 'fortran_order': False, 'shape': (2, 3), }
///             padded with spaces and ending in '\n' so that the data starts 64-byte aligned
/// then        the elements, C order, prod(shape) * itemsize bytes
/// </code>
/// Reader policy (an oracle must not guess): exactly the keys descr, fortran_order, shape; dtypes
/// f4 f8 i4 i8 c16 b1 in any byte order ('&gt;' big-endian files are byte-swapped on reading,
/// '=' and a missing order mean the host's); fortran_order True, object ('O'), structured and
/// every other dtype are refused; the file length must equal header + data exactly (numpy
/// ignores trailing bytes, we refuse them because a golden file with extra bytes is corrupt).
/// The element count and data size are checked against the file length BEFORE any allocation.
/// Writer: numpy's current rule byte for byte: sorted keys, 21 - len(str(shape[0])) spaces of
/// growth room, spaces + '\n' to a multiple of 64 bytes (never zero padding: an already aligned
/// header gains 64), version 1.0 unless the header exceeds 65535 bytes (then 2.0), little-endian.
/// Every problem is an <see cref="NpyFormatException"/> whose message names the file.
/// </summary>
public static class Npy
{
    /// <summary>numpy's ARRAY_ALIGN: the data offset is a multiple of this.</summary>
    public const int Alignment = 64;

    /// <summary>numpy's GROWTH_AXIS_MAX_DIGITS: header room so shape[0] can grow in place.</summary>
    public const int GrowthAxisMaxDigits = 21;

    /// <summary>
    /// Largest header the reader accepts from a file or a stream, in bytes: numpy's default
    /// max_header_size (numpy refuses longer headers unless told otherwise). The length field is
    /// checked against it, and against the file's length, before the header is allocated or
    /// parsed. <see cref="FromBytes"/> is exempt (its bytes are already in memory, and the parser
    /// is linear with bounded nesting), so a long header this library wrote (a huge rank, version
    /// 2.0) still reads back from memory.
    /// </summary>
    public const int MaxHeaderLength = 10_000;

    /// <summary>Largest element count the reader accepts (the longest .NET array).</summary>
    public static readonly long MaxElements = Array.MaxLength;

    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    // ---------------------------------------------------------------- reading

    /// <summary>Reads an .npy file (the whole file must be exactly one array).</summary>
    public static NpyArray Read(string path) => Read(path, out _);

    public static NpyArray Read(string path, out NpyHeader header)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        RequireRegular(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(stream, stream.Length, path, out header);
    }

    /// <summary>Reads and validates only the header of an .npy file.</summary>
    public static NpyHeader ReadHeader(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        RequireRegular(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096);
        return ReadHeader(stream, stream.Length, path);
    }

    /// <summary>
    /// A path the reader opens must be a regular file: opening a FIFO blocks until a writer comes,
    /// and neither a FIFO nor a device has the length the reader checks the header against.
    /// </summary>
    internal static void RequireRegular(string path)
    {
        var kind = FileKinds.Of(path);
        if (kind is FileKind.Fifo or FileKind.CharacterDevice or FileKind.BlockDevice or FileKind.Socket)
            throw new NpyFormatException(path, $"not a regular file (it is a {kind}); the reader needs a file whose length it can check.");
    }

    /// <summary>
    /// Reads one array from the rest of <paramref name="stream"/> (which must end where the array
    /// ends). A non-seekable stream is first copied to memory so its length is known.
    /// </summary>
    public static NpyArray Read(Stream stream, string name) => Read(stream, name, out _);

    public static NpyArray Read(Stream stream, string name, out NpyHeader header)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(name);
        if (stream.CanSeek) return Read(stream, stream.Length - stream.Position, name, out header);
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        buffer.Position = 0;
        return Read(buffer, buffer.Length, name, out header);
    }

    /// <summary>
    /// Streams the elements of an .npy file in file order, as 1-D blocks of at most
    /// <paramref name="blockElements"/> elements, for work on files larger than memory (the
    /// header is validated first, exactly as <see cref="Read(string)"/> does). The blocks share
    /// one buffer: each is valid only until the next is produced.
    /// </summary>
    public static IEnumerable<NpyArray> ReadBlocks(string path, int blockElements = 1 << 15)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockElements);
        RequireRegular(path);
        return Blocks(path, blockElements);
    }

    private static IEnumerable<NpyArray> Blocks(string path, int blockElements)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var header = ReadHeader(stream, stream.Length, path);
        long left = header.ElementCount;
        Array? buffer = null;
        while (left > 0)
        {
            int count = (int)Math.Min(left, blockElements);
            if (buffer is null || buffer.Length != count) buffer = NpyArray.Allocate(header.DType, count);
            Span<byte> bytes = BytesOf(buffer);
            if (stream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false) != bytes.Length)
                throw new NpyFormatException(path, "data ends early (the file shrank while being read).");
            if (header.SwapBytes) SwapBytes(buffer);
            if (buffer is bool[] flags) NormalizeBools(flags);
            left -= count;
            yield return NpyArray.Wrap(header.DType, buffer, [count]);
        }
    }

    /// <summary>Reads one array from an in-memory .npy image.</summary>
    public static NpyArray FromBytes(byte[] bytes, string name = "<bytes>")
    {
        ArgumentNullException.ThrowIfNull(bytes);
        using var stream = new MemoryStream(bytes, writable: false);
        return Read(stream, bytes.Length, name, out _, maxHeaderLength: int.MaxValue);
    }

    private static NpyArray Read(Stream stream, long available, string name, out NpyHeader header, long maxHeaderLength = MaxHeaderLength)
    {
        header = ReadHeader(stream, available, name, maxHeaderLength);
        int count = (int)header.ElementCount;
        Array data = NpyArray.Allocate(header.DType, count);
        Span<byte> bytes = BytesOf(data);
        int read = stream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
        if (read != bytes.Length)
            throw new NpyFormatException(name,
                $"data ends after {read} of {bytes.Length} bytes (the file shrank while being read).");
        if (header.SwapBytes) SwapBytes(data);
        if (data is bool[] flags) NormalizeBools(flags);
        return NpyArray.Wrap(header.DType, data, [.. header.Shape]);
    }

    private static NpyHeader ReadHeader(Stream stream, long available, string name, long maxHeaderLength = MaxHeaderLength)
    {
        Span<byte> preamble = stackalloc byte[12];
        int got = stream.ReadAtLeast(preamble[..(int)Math.Min(10, available)], (int)Math.Min(10, available), throwOnEndOfStream: false);
        int magicSeen = Math.Min(got, Magic.Length);
        if (!preamble[..magicSeen].SequenceEqual(Magic[..magicSeen]) || got == 0)
            throw new NpyFormatException(name,
                $"not an NPY file: bad magic (expected \\x93NUMPY, found {Printable(preamble[..magicSeen])}).");
        if (got < 8)
            throw new NpyFormatException(name, $"truncated: the file has {available} bytes, fewer than the 8-byte magic and version.");
        int major = preamble[6], minor = preamble[7];
        if (major is < 1 or > 3 || minor != 0)
            throw new NpyFormatException(name, $"unsupported format version {major}.{minor} (supported: 1.0, 2.0, 3.0).");
        int lengthField = major == 1 ? 2 : 4;
        int preambleLength = 8 + lengthField;
        if (major > 1 && available >= preambleLength)
            got += stream.ReadAtLeast(preamble[10..12], 2, throwOnEndOfStream: false);
        if (got < preambleLength)
            throw new NpyFormatException(name,
                $"truncated: the file has {available} bytes, fewer than the {preambleLength}-byte preamble of version {major}.0.");
        long headerLength = major == 1
            ? BinaryPrimitives.ReadUInt16LittleEndian(preamble[8..])
            : BinaryPrimitives.ReadUInt32LittleEndian(preamble[8..]);
        if (headerLength > maxHeaderLength && preambleLength + headerLength <= available)
            throw new NpyFormatException(name,
                $"header length {headerLength} exceeds the {maxHeaderLength} bytes numpy accepts by default (max_header_size); refusing to read it.");
        if (preambleLength + headerLength > available)
            throw new NpyFormatException(name,
                $"header length {headerLength} runs past the end of the file (the header would end at byte {preambleLength + headerLength}, the file has {available} bytes).");

        var headerBytes = new byte[headerLength];
        if (stream.ReadAtLeast(headerBytes, headerBytes.Length, throwOnEndOfStream: false) != headerBytes.Length)
            throw new NpyFormatException(name, "truncated inside the header.");
        string text;
        if (major == 3)
        {
            try { text = StrictUtf8.GetString(headerBytes); }
            catch (DecoderFallbackException) { throw new NpyFormatException(name, "the version 3.0 header is not valid UTF-8."); }
        }
        else text = Encoding.Latin1.GetString(headerBytes);

        var (descr, fortranOrder, shape) = HeaderDict.Parse(text, name);
        var (dtype, swap) = ParseDescr(descr, name);
        if (fortranOrder)
            throw new NpyFormatException(name,
                "fortran_order True (column-major data) is not supported; save a C-ordered array (numpy.ascontiguousarray).");

        BigInteger elements = BigInteger.One;
        foreach (var dim in shape)
        {
            if (dim < 0) throw new NpyFormatException(name, $"negative dimension {dim} in shape {ShapeRepr(shape)}.");
            if (dim > int.MaxValue) throw new NpyFormatException(name, $"dimension {dim} in shape {ShapeRepr(shape)} exceeds {int.MaxValue}.");
            elements *= dim;
        }
        long dataOffset = preambleLength + headerLength;
        long dataAvailable = available - dataOffset;
        BigInteger needed = elements * dtype.ItemSize();
        if (needed > dataAvailable)
            throw new NpyFormatException(name,
                $"data too short: shape {ShapeRepr(shape)} of {descr} needs {needed} bytes after the {dataOffset}-byte header, the file has {dataAvailable}.");
        if (needed < dataAvailable)
            throw new NpyFormatException(name,
                $"{dataAvailable - needed} trailing bytes after the data (shape {ShapeRepr(shape)} of {descr} needs {needed} bytes).");
        if (elements > MaxElements)
            throw new NpyFormatException(name, $"shape {ShapeRepr(shape)} has {elements} elements, more than the reader's limit {MaxElements}.");

        var intShape = shape.Select(d => (int)d).ToArray();
        return new NpyHeader(major, minor, descr, dtype, swap, fortranOrder, intShape, dataOffset, (long)elements);
    }

    /// <summary>
    /// Maps a descr string to a dtype and whether bytes need swapping. The first character is the
    /// byte order ('&lt;' little, '&gt;' big, '=' native, '|' not applicable: 1-byte types only).
    /// </summary>
    internal static (NpyDType DType, bool Swap) ParseDescr(string descr, string name)
    {
        bool hasOrder = descr.Length > 0 && "<>=|".Contains(descr[0]);
        char order = hasOrder ? descr[0] : '=';
        string code = hasOrder ? descr[1..] : descr;
        if (code.Length > 0 && code[0] == 'O')
            throw new NpyFormatException(name, $"object arrays are refused (dtype '{descr}' holds pickled Python objects).");
        NpyDType? dtype = code switch
        {
            "f4" => NpyDType.Float32,
            "f8" => NpyDType.Float64,
            "i4" => NpyDType.Int32,
            "i8" => NpyDType.Int64,
            "c16" => NpyDType.Complex128,
            "b1" => NpyDType.Bool,
            _ => null,
        };
        if (dtype is null)
            throw new NpyFormatException(name, $"unsupported dtype '{descr}' (supported: <f4, <f8, <i4, <i8, <c16, |b1).");
        if (order == '|' && dtype != NpyDType.Bool)
            throw new NpyFormatException(name, $"dtype '{descr}': byte order '|' is only valid for 1-byte types.");
        bool fileLittle = order switch { '<' => true, '>' => false, _ => BitConverter.IsLittleEndian };
        bool swap = dtype != NpyDType.Bool && fileLittle != BitConverter.IsLittleEndian;
        return (dtype.Value, swap);
    }

    private static Span<byte> BytesOf(Array data) => data switch
    {
        float[] f => MemoryMarshal.AsBytes(f.AsSpan()),
        double[] d => MemoryMarshal.AsBytes(d.AsSpan()),
        int[] n => MemoryMarshal.AsBytes(n.AsSpan()),
        long[] n => MemoryMarshal.AsBytes(n.AsSpan()),
        Complex[] c => MemoryMarshal.AsBytes(c.AsSpan()),
        bool[] b => MemoryMarshal.AsBytes(b.AsSpan()),
        _ => throw new InvalidOperationException($"unexpected buffer type {data.GetType().Name}."),
    };

    private static void SwapBytes(Array data)
    {
        switch (data)
        {
            case float[] f: { var s = MemoryMarshal.Cast<float, int>(f.AsSpan()); BinaryPrimitives.ReverseEndianness(s, s); break; }
            case int[] n: BinaryPrimitives.ReverseEndianness(n, n); break;
            case double[] d: { var s = MemoryMarshal.Cast<double, long>(d.AsSpan()); BinaryPrimitives.ReverseEndianness(s, s); break; }
            case long[] n: BinaryPrimitives.ReverseEndianness(n, n); break;
            // c16 is two f8 (real, imaginary): each half is swapped on its own.
            case Complex[] c: { var s = MemoryMarshal.Cast<Complex, long>(c.AsSpan()); BinaryPrimitives.ReverseEndianness(s, s); break; }
        }
    }

    /// <summary>numpy reads any nonzero byte as True; a .NET bool must be exactly 0 or 1.</summary>
    private static void NormalizeBools(bool[] flags)
    {
        var raw = MemoryMarshal.AsBytes(flags.AsSpan());
        for (int i = 0; i < raw.Length; i++) raw[i] = raw[i] != 0 ? (byte)1 : (byte)0;
    }

    // ---------------------------------------------------------------- writing

    /// <summary>Writes <paramref name="array"/> to <paramref name="path"/> atomically (temp file + rename).</summary>
    public static void Write(string path, NpyArray array)
    {
        ArgumentNullException.ThrowIfNull(array);
        AtomicFile.Write(path, stream => Write(stream, array));
    }

    /// <summary>Writes a float (&lt;f4) or double (&lt;f8) tensor.</summary>
    public static void Write<T>(string path, Tensor<T> tensor) where T : unmanaged, IFloatingPointIeee754<T> =>
        Write(path, NpyArray.FromTensor(tensor));

    public static void Write(Stream stream, NpyArray array)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(array);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("the NPY writer labels data little-endian and needs a little-endian host.");
        stream.Write(HeaderBytes(array.DType, array.Shape));
        if (array.Data is bool[] flags)
        {
            // A bool produced by unsafe code may hold a byte other than 0/1; numpy expects 0/1.
            var raw = MemoryMarshal.AsBytes(flags.AsSpan());
            var normalized = new byte[raw.Length];
            for (int i = 0; i < raw.Length; i++) normalized[i] = raw[i] != 0 ? (byte)1 : (byte)0;
            stream.Write(normalized);
        }
        else stream.Write(array.RawBytes);
    }

    /// <summary>The complete .npy image of <paramref name="array"/>.</summary>
    public static byte[] ToBytes(NpyArray array)
    {
        using var stream = new MemoryStream();
        Write(stream, array);
        return stream.ToArray();
    }

    /// <summary>The header dict numpy writes, before alignment padding (growth room included).</summary>
    public static string HeaderDictText(NpyDType dtype, ReadOnlySpan<int> shape)
    {
        var dims = new long[shape.Length];
        for (int i = 0; i < shape.Length; i++) dims[i] = shape[i];
        string text = $"{{'descr': '{dtype.Descr()}', 'fortran_order': False, 'shape': {ShapeRepr(dims)}, }}";
        if (shape.Length > 0)
            text += new string(' ', GrowthAxisMaxDigits - shape[0].ToString(CultureInfo.InvariantCulture).Length);
        return text;
    }

    /// <summary>Magic, version, header length and the padded header: everything before the data.</summary>
    public static byte[] HeaderBytes(NpyDType dtype, ReadOnlySpan<int> shape)
    {
        byte[] dict = Encoding.ASCII.GetBytes(HeaderDictText(dtype, shape));
        int major = 1, lengthField = 2;
        int padded = PaddedHeaderLength(dict.Length, lengthField);
        if (padded > ushort.MaxValue)
        {
            major = 2;
            lengthField = 4;
            padded = PaddedHeaderLength(dict.Length, lengthField);
        }
        var result = new byte[8 + lengthField + padded];
        Magic.CopyTo(result);
        result[6] = (byte)major;
        result[7] = 0;
        if (lengthField == 2) BinaryPrimitives.WriteUInt16LittleEndian(result.AsSpan(8), (ushort)padded);
        else BinaryPrimitives.WriteUInt32LittleEndian(result.AsSpan(8), (uint)padded);
        int start = 8 + lengthField;
        dict.CopyTo(result, start);
        result.AsSpan(start + dict.Length, padded - dict.Length - 1).Fill((byte)' ');
        result[^1] = (byte)'\n';
        return result;
    }

    /// <summary>numpy's _wrap_header: hlen = len + 1 ('\n'); pad = 64 - (preamble + hlen) % 64 (1..64).</summary>
    private static int PaddedHeaderLength(int dictLength, int lengthField)
    {
        int hlen = dictLength + 1;
        int pad = Alignment - (8 + lengthField + hlen) % Alignment;
        return hlen + pad;
    }

    /// <summary>Python's repr of a shape tuple: (), (5,), (2, 3).</summary>
    public static string ShapeRepr(IReadOnlyList<long> shape) => shape.Count switch
    {
        0 => "()",
        1 => $"({shape[0].ToString(CultureInfo.InvariantCulture)},)",
        _ => "(" + string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")",
    };

    internal static string Printable(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder("'");
        foreach (byte b in bytes)
            sb.Append(b is >= 0x20 and < 0x7f && b != (byte)'\'' && b != (byte)'\\' ? (char)b : $"\\x{b:x2}");
        return sb.Append('\'').ToString();
    }
}
