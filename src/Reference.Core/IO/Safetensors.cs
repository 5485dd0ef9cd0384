using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Reference.Core.IO;

/// <summary>
/// The element types of the safetensors format (the dtype strings of the header, e.g. "F32").
/// </summary>
public enum SafetensorsDType { Bool, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 }

/// <summary>One named tensor of a safetensors file: dtype, shape and its raw little-endian bytes.</summary>
public sealed class SafetensorsTensor
{
    public SafetensorsTensor(SafetensorsDType dtype, int[] shape, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(bytes);
        long count = Shapes.ElementCount(shape, nameof(shape));
        long expected = count * Safetensors.ItemSize(dtype);
        if (bytes.Length != expected)
            throw new ArgumentException($"bytes has {bytes.Length} bytes, expected {expected} for {dtype} {Shapes.Format(shape)}.", nameof(bytes));
        DType = dtype;
        Shape = (int[])shape.Clone();
        Bytes = bytes;
    }

    public SafetensorsDType DType { get; }

    public int[] Shape { get; }

    /// <summary>The elements in row-major order, little-endian (exactly the file's bytes).</summary>
    public byte[] Bytes { get; }

    public long ElementCount => Bytes.Length / Safetensors.ItemSize(DType);

    /// <summary>F32 for float, F64 for double; bit-exact copy of the data.</summary>
    public static SafetensorsTensor FromTensor<T>(Tensor<T> tensor) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var bytes = new byte[tensor.Length * Safetensors.SizeOf<T>()];
        if (typeof(T) == typeof(float))
            for (int i = 0; i < tensor.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), float.CreateTruncating(tensor.Data[i]));
        else
            for (int i = 0; i < tensor.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(8 * i), double.CreateTruncating(tensor.Data[i]));
        return new SafetensorsTensor(typeof(T) == typeof(float) ? SafetensorsDType.F32 : SafetensorsDType.F64, tensor.ShapeArray, bytes);
    }

    /// <summary>An I64 tensor (step counters, token ids).</summary>
    public static SafetensorsTensor FromInt64(ReadOnlySpan<long> values, params int[] shape)
    {
        var bytes = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8 * i), values[i]);
        return new SafetensorsTensor(SafetensorsDType.I64, shape, bytes);
    }

    /// <summary>
    /// The data as a tensor of float or double. Floating dtypes convert (F16, BF16 and F32 widen
    /// exactly to double; F64 to float rounds to nearest); integer and bool dtypes are refused.
    /// </summary>
    public Tensor<T> ToTensor<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = Tensor<T>.Zeros(Shape);
        var data = result.Data;
        var b = Bytes.AsSpan();
        switch (DType)
        {
            case SafetensorsDType.F32:
                for (int i = 0; i < data.Length; i++) data[i] = T.CreateTruncating(BinaryPrimitives.ReadSingleLittleEndian(b[(4 * i)..]));
                break;
            case SafetensorsDType.F64:
                for (int i = 0; i < data.Length; i++) data[i] = T.CreateTruncating(BinaryPrimitives.ReadDoubleLittleEndian(b[(8 * i)..]));
                break;
            case SafetensorsDType.F16:
                for (int i = 0; i < data.Length; i++) data[i] = T.CreateTruncating((double)BinaryPrimitives.ReadHalfLittleEndian(b[(2 * i)..]));
                break;
            case SafetensorsDType.BF16:
                // bfloat16 is the upper half of a binary32: shift the 16 bits into place.
                for (int i = 0; i < data.Length; i++)
                    data[i] = T.CreateTruncating(BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(b[(2 * i)..]) << 16));
                break;
            default:
                throw new InvalidOperationException($"dtype {DType} is not a floating-point type; read it with ToInt64Array.");
        }
        return result;
    }

    /// <summary>The data of an integer or bool tensor widened to long (U64 values above long.MaxValue are refused).</summary>
    public long[] ToInt64Array()
    {
        var result = new long[ElementCount];
        var b = Bytes.AsSpan();
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = DType switch
            {
                SafetensorsDType.Bool or SafetensorsDType.U8 => b[i],
                SafetensorsDType.I8 => (sbyte)b[i],
                SafetensorsDType.I16 => BinaryPrimitives.ReadInt16LittleEndian(b[(2 * i)..]),
                SafetensorsDType.U16 => BinaryPrimitives.ReadUInt16LittleEndian(b[(2 * i)..]),
                SafetensorsDType.I32 => BinaryPrimitives.ReadInt32LittleEndian(b[(4 * i)..]),
                SafetensorsDType.U32 => BinaryPrimitives.ReadUInt32LittleEndian(b[(4 * i)..]),
                SafetensorsDType.I64 => BinaryPrimitives.ReadInt64LittleEndian(b[(8 * i)..]),
                SafetensorsDType.U64 => checked((long)BinaryPrimitives.ReadUInt64LittleEndian(b[(8 * i)..])),
                _ => throw new InvalidOperationException($"dtype {DType} is not an integer type; read it with ToTensor."),
            };
        }
        return result;
    }

    public override string ToString() => $"{DType}{Shapes.Format(Shape)}";
}

/// <summary>The content of a safetensors file: named tensors (in file order) and the free-form metadata.</summary>
public sealed class SafetensorsFile
{
    internal SafetensorsFile(IReadOnlyDictionary<string, SafetensorsTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
    }

    public IReadOnlyDictionary<string, SafetensorsTensor> Tensors { get; }

    /// <summary>The "__metadata__" map (empty when the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Tensor <paramref name="name"/> as float or double (see <see cref="SafetensorsTensor.ToTensor{T}"/>).</summary>
    public Tensor<T> Get<T>(string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!Tensors.TryGetValue(name, out var tensor))
            throw new KeyNotFoundException($"the file has no tensor named '{name}' (it has {Tensors.Count}: {string.Join(", ", Tensors.Keys.Take(8))}{(Tensors.Count > 8 ? ", ..." : "")}).");
        return tensor.ToTensor<T>();
    }
}

/// <summary>
/// Reader and writer of the safetensors format (Hugging Face, github.com/huggingface/safetensors,
/// README "Format"), the ecosystem's checkpoint standard:
/// <code>
/// [8 bytes]  N, unsigned 64-bit little-endian: the header length
/// [N bytes]  UTF-8 JSON object: {"__metadata__": {string: string}, (optional)
///                                "NAME": {"dtype": "F32", "shape": [2, 3], "data_offsets": [BEGIN, END]}, ...}
///            padded at the end with spaces (0x20)
/// [rest]     the byte buffer: each tensor's elements row-major, little-endian, at [BEGIN, END)
///            relative to the buffer start
/// </code>
/// Validation (every check happens before the data is allocated, and every failure is a
/// <see cref="SafetensorsFormatException"/> naming the file and the problem): N is at most
/// <see cref="MaxHeaderBytes"/> and fits in the file; the header is valid UTF-8 JSON starting with
/// '{'; every entry has a known dtype, a shape of non-negative dimensions and END - BEGIN equal to
/// the element count times the dtype size; names are unique; sorted by BEGIN the entries tile the
/// buffer exactly (the first begins at 0, each begins where the previous ends, the last ends at
/// the end of the file): no overlaps, no gaps, no trailing bytes.
/// Writing: tensors in ordinal name order, packed in that order; the header padded so the buffer
/// starts at a multiple of 8 bytes; the file is written to a temporary and renamed (atomic).
/// </summary>
public static class Safetensors
{
    /// <summary>The header size limit of the reference implementation (100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public const string MetadataKey = "__metadata__";

    private const string Memory = "<memory>";

    public static int ItemSize(SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.Bool or SafetensorsDType.U8 or SafetensorsDType.I8 => 1,
        SafetensorsDType.I16 or SafetensorsDType.U16 or SafetensorsDType.F16 or SafetensorsDType.BF16 => 2,
        SafetensorsDType.I32 or SafetensorsDType.U32 or SafetensorsDType.F32 => 4,
        SafetensorsDType.I64 or SafetensorsDType.U64 or SafetensorsDType.F64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), $"dtype = {dtype} is not a SafetensorsDType."),
    };

    internal static int SizeOf<T>() => typeof(T) == typeof(float) ? 4 : 8;

    /// <summary>The header string of a dtype ("BOOL", "F32", "BF16", ...).</summary>
    public static string Name(SafetensorsDType dtype) => dtype == SafetensorsDType.Bool ? "BOOL" : dtype.ToString();

    private static bool TryParseDType(string name, out SafetensorsDType dtype)
    {
        foreach (var candidate in Enum.GetValues<SafetensorsDType>())
            if (Name(candidate) == name)
            {
                dtype = candidate;
                return true;
            }
        dtype = default;
        return false;
    }

    /// <summary>Writes float32/float64 tensors (F32/F64) atomically.</summary>
    public static void Write<T>(string path, IReadOnlyDictionary<string, Tensor<T>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensors);
        Write(path, tensors.ToDictionary(kv => kv.Key, kv => SafetensorsTensor.FromTensor(kv.Value), StringComparer.Ordinal), metadata);
    }

    /// <summary>Writes named tensors of any dtype atomically (temporary file, flush, rename).</summary>
    public static void Write(string path, IReadOnlyDictionary<string, SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var bytes = Serialize(tensors, metadata);
        AtomicFile.Write(path, stream => stream.Write(bytes));
    }

    /// <summary>The complete file content as bytes.</summary>
    public static byte[] Serialize(IReadOnlyDictionary<string, SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (tensors.ContainsKey(MetadataKey))
            throw new ArgumentException($"'{MetadataKey}' is reserved for the metadata map and cannot name a tensor.", nameof(tensors));
        var names = tensors.Keys.OrderBy(n => n, StringComparer.Ordinal).ToArray();

        var json = new MemoryStream();
        // Relaxed escaping keeps non-ASCII names readable (as serde_json writes them); quotes, backslashes
        // and control characters are still escaped.
        using (var writer = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject(MetadataKey);
                foreach (var key in metadata.Keys.OrderBy(k => k, StringComparer.Ordinal))
                {
                    ArgumentNullException.ThrowIfNull(metadata[key], nameof(metadata));
                    writer.WriteString(key, metadata[key]);
                }
                writer.WriteEndObject();
            }
            long offset = 0;
            foreach (string name in names)
            {
                var t = tensors[name] ?? throw new ArgumentException($"tensor '{name}' is null.", nameof(tensors));
                writer.WriteStartObject(name);
                writer.WriteString("dtype", Name(t.DType));
                writer.WriteStartArray("shape");
                foreach (int d in t.Shape) writer.WriteNumberValue(d);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + t.Bytes.Length);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += t.Bytes.Length;
            }
            writer.WriteEndObject();
        }
        int headerLength = (int)json.Length;
        int padded = (headerLength + 7) / 8 * 8; // 8 + padded is a multiple of 8: the buffer starts aligned
        long total = 8L + padded + names.Sum(n => (long)tensors[n].Bytes.Length);
        if (total > Array.MaxLength)
            throw new ArgumentException($"the file would have {total} bytes, more than one buffer holds ({Array.MaxLength}).", nameof(tensors));

        var file = new byte[total];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)padded);
        json.GetBuffer().AsSpan(0, headerLength).CopyTo(file.AsSpan(8));
        file.AsSpan(8 + headerLength, padded - headerLength).Fill((byte)' ');
        long position = 8 + padded;
        foreach (string name in names)
        {
            tensors[name].Bytes.CopyTo(file.AsSpan((int)position));
            position += tensors[name].Bytes.Length;
        }
        return file;
    }

    /// <summary>Reads and validates a file; see the class summary for every check.</summary>
    public static SafetensorsFile Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(stream, path);
    }

    /// <summary>Parses an in-memory file image.</summary>
    public static SafetensorsFile Deserialize(ReadOnlySpan<byte> bytes, string sourceName = Memory)
    {
        using var stream = new MemoryStream(bytes.ToArray(), writable: false);
        return Read(stream, sourceName);
    }

    private static SafetensorsFile Read(Stream stream, string file)
    {
        long length = stream.Length;
        if (length < 8)
            throw new SafetensorsFormatException(file, $"the file has {length} bytes, fewer than the 8-byte header length.");
        Span<byte> prefix = stackalloc byte[8];
        stream.ReadExactly(prefix);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (n > MaxHeaderBytes)
            throw new SafetensorsFormatException(file, $"header length {n} exceeds the limit of {MaxHeaderBytes} bytes.");
        if ((long)n > length - 8)
            throw new SafetensorsFormatException(file, $"header length {n} runs past the end of the file ({length - 8} bytes follow the length field); the file is truncated or corrupted.");
        if (n < 2)
            throw new SafetensorsFormatException(file, $"header length {n} is too small for a JSON object.");
        var header = new byte[n];
        stream.ReadExactly(header);
        long bufferLength = length - 8 - (long)n;

        var entries = ParseHeader(header, file, out var metadata);
        CheckLayout(entries, bufferLength, file);

        var tensors = new Dictionary<string, SafetensorsTensor>(StringComparer.Ordinal);
        foreach (var e in entries.OrderBy(e => e.Begin))
        {
            var bytes = new byte[e.End - e.Begin];
            stream.ReadExactly(bytes);
            tensors.Add(e.Name, new SafetensorsTensor(e.DType, e.Shape, bytes));
        }
        return new SafetensorsFile(tensors, metadata);
    }

    private sealed record Entry(string Name, SafetensorsDType DType, int[] Shape, long Begin, long End);

    private static List<Entry> ParseHeader(byte[] header, string file, out Dictionary<string, string> metadata)
    {
        if (header[0] != (byte)'{')
            throw new SafetensorsFormatException(file, $"the header must start with '{{', found byte 0x{header[0]:X2}.");
        metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<Entry>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        JsonDocument document;
        try
        {
            new UTF8Encoding(false, throwOnInvalidBytes: true).GetCharCount(header);
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (Exception e) when (e is JsonException or DecoderFallbackException)
        {
            throw new SafetensorsFormatException(file, $"the header is not valid UTF-8 JSON ({e.Message}).", e);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new SafetensorsFormatException(file, $"the header must be a JSON object, found {document.RootElement.ValueKind}.");
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw new SafetensorsFormatException(file, $"the header names '{property.Name}' twice.");
                if (property.Name == MetadataKey)
                {
                    if (property.Value.ValueKind != JsonValueKind.Object)
                        throw new SafetensorsFormatException(file, $"'{MetadataKey}' must be an object of strings, found {property.Value.ValueKind}.");
                    foreach (var item in property.Value.EnumerateObject())
                    {
                        if (item.Value.ValueKind != JsonValueKind.String)
                            throw new SafetensorsFormatException(file, $"metadata '{item.Name}' must be a string, found {item.Value.ValueKind}.");
                        if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                            throw new SafetensorsFormatException(file, $"metadata names '{item.Name}' twice.");
                    }
                    continue;
                }
                entries.Add(ParseEntry(property, file));
            }
        }
        return entries;
    }

    private static Entry ParseEntry(JsonProperty property, string file)
    {
        string name = property.Name;
        var value = property.Value;
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafetensorsFormatException(file, $"tensor '{name}': expected an object with dtype, shape and data_offsets, found {value.ValueKind}.");
        foreach (var field in value.EnumerateObject())
            if (field.Name is not ("dtype" or "shape" or "data_offsets"))
                throw new SafetensorsFormatException(file, $"tensor '{name}': unknown field '{field.Name}'.");

        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new SafetensorsFormatException(file, $"tensor '{name}': missing or non-string dtype.");
        string dtypeName = dtypeElement.GetString()!;
        if (!TryParseDType(dtypeName, out var dtype))
            throw new SafetensorsFormatException(file, $"tensor '{name}': unsupported dtype '{dtypeName}' (expected one of {string.Join(", ", Enum.GetValues<SafetensorsDType>().Select(Name))}).");

        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw new SafetensorsFormatException(file, $"tensor '{name}': missing or non-array shape.");
        var shape = new int[shapeElement.GetArrayLength()];
        long count = 1;
        int axis = 0;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int dim) || dim < 0)
                throw new SafetensorsFormatException(file, $"tensor '{name}': shape[{axis}] = {d.GetRawText()} is not an integer in [0, {int.MaxValue}].");
            shape[axis++] = dim;
            count = dim == 0 || count == 0 ? 0 : count * dim;
            if (count > Shapes.MaxElements)
                throw new SafetensorsFormatException(file, $"tensor '{name}': shape {Shapes.Format(shape.AsSpan(0, axis))}... has more than {Shapes.MaxElements} elements.");
        }

        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw new SafetensorsFormatException(file, $"tensor '{name}': data_offsets must be an array [begin, end].");
        if (!offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new SafetensorsFormatException(file, $"tensor '{name}': data_offsets {offsets.GetRawText()} must be integers with 0 <= begin <= end.");
        long expected = count * ItemSize(dtype);
        if (end - begin != expected)
            throw new SafetensorsFormatException(file, $"tensor '{name}': data_offsets {offsets.GetRawText()} span {end - begin} bytes, but {dtypeName} {Shapes.Format(shape)} needs {expected}.");
        return new Entry(name, dtype, shape, begin, end);
    }

    /// <summary>Sorted by begin, the entries must tile [0, bufferLength) exactly.</summary>
    private static void CheckLayout(List<Entry> entries, long bufferLength, string file)
    {
        long position = 0;
        string previous = "the buffer start";
        foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (e.Begin < position)
                throw new SafetensorsFormatException(file, $"tensor '{e.Name}' at [{e.Begin}, {e.End}) overlaps {previous} (which ends at {position}).");
            if (e.Begin > position)
                throw new SafetensorsFormatException(file, $"tensor '{e.Name}' begins at {e.Begin}, leaving a gap after {previous} (which ends at {position}).");
            if (e.End > bufferLength)
                throw new SafetensorsFormatException(file, $"tensor '{e.Name}' ends at {e.End}, past the end of the data ({bufferLength} bytes); the file is truncated or corrupted.");
            position = e.End;
            previous = $"tensor '{e.Name}'";
        }
        if (position != bufferLength)
            throw new SafetensorsFormatException(file, $"the data has {bufferLength} bytes but the tensors cover only {position}: {bufferLength - position} trailing bytes.");
    }
}
