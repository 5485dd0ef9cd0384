using System.Runtime.InteropServices;

namespace Reference.Neuro.IO;

/// <summary>
/// A NIfTI image: its header and its voxel values as stored (the datatype's .NET element type,
/// e.g. short[] for int16), in the file's order: x fastest, then y, z, t, ... (Fortran order of
/// the shape dim[1..dim[0]]; voxel (i, j, k, t) is element i + nx (j + ny (k + nz t))). The
/// scaled values slope * x + inter, which are what the image means, come from
/// <see cref="ToDoubles"/> and <see cref="Value"/>.
/// </summary>
public sealed class NiftiImage
{
    /// <summary>
    /// Pairs a header with its data; the data's element type must be the header's datatype and
    /// its length the header's element count (the array is kept, not copied).
    /// </summary>
    public NiftiImage(NiftiHeader header, Array data)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(data);
        if (data.Rank != 1)
            throw new ArgumentException($"the data must be a one-dimensional array, found rank {data.Rank}.", nameof(data));
        var expected = header.DataType.ClrType();
        if (data.GetType().GetElementType() != expected)
            throw new ArgumentException(
                $"the header's datatype {header.DataType} stores {expected.Name} values, the data is {data.GetType().GetElementType()!.Name}[].",
                nameof(data));
        if (header.Dim.Count != 8 || header.Dim[0] is < 1 or > 7)
            throw new ArgumentException($"the header's dim must have 8 entries with dim[0] in 1..7, found [{string.Join(", ", header.Dim)}].", nameof(header));
        long count = header.ElementCount;
        if (data.Length != count)
            throw new ArgumentException(
                $"the data has {data.Length} values, the header's shape ({string.Join(", ", header.Shape)}) needs {count}.", nameof(data));
        Header = header;
        Data = data;
    }

    /// <summary>A new image of <paramref name="data"/> (x fastest) with a fresh header (<see cref="NiftiHeader.Create"/>).</summary>
    public static NiftiImage Create<T>(T[] data, params int[] shape) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(data);
        return new NiftiImage(NiftiHeader.Create(NiftiDataTypes.Of(typeof(T)), shape), data);
    }

    public NiftiHeader Header { get; }

    /// <summary>The stored values (byte[], sbyte[], short[], ushort[], int[], uint[], long[], ulong[], float[] or double[]).</summary>
    public Array Data { get; }

    public NiftiDataType DataType => Header.DataType;

    /// <summary>dim[1..dim[0]], x first.</summary>
    public int[] Shape => Header.Shape;

    public long Count => Data.LongLength;

    /// <summary>The stored values as <typeparamref name="T"/>[] (the datatype's element type).</summary>
    public T[] Get<T>() where T : unmanaged =>
        Data.GetType() == typeof(T[]) ? (T[])Data : throw new InvalidOperationException($"the image stores {DataType} ({Data.GetType().GetElementType()!.Name}) values, not {typeof(T).Name}.");

    /// <summary>The same data with another header (whose datatype and shape must fit the data).</summary>
    public NiftiImage WithHeader(NiftiHeader header) => new(header, Data);

    /// <summary>The element index of voxel (i, j, k, ...): i + n1 (j + n2 (k + ...)). Missing trailing indices are 0.</summary>
    public long Index(params int[] index)
    {
        ArgumentNullException.ThrowIfNull(index);
        var shape = Shape;
        if (index.Length > shape.Length)
            throw new ArgumentException($"{index.Length} indices for a {shape.Length}-dimensional image.", nameof(index));
        long flat = 0, stride = 1;
        for (int d = 0; d < shape.Length; d++)
        {
            int at = d < index.Length ? index[d] : 0;
            if ((uint)at >= (uint)shape[d])
                throw new ArgumentOutOfRangeException(nameof(index), $"index[{d}] = {at} is outside 0..{shape[d] - 1}.");
            flat += at * stride;
            stride *= shape[d];
        }
        return flat;
    }

    /// <summary>The scaled value of voxel (i, j, k, ...): slope * x + inter, or x when the header has no scaling.</summary>
    public double Value(params int[] index) => Scale(Header, Stored(Index(index)));

    /// <summary>
    /// Every value scaled to float64: slope * x + inter when scl_slope is finite and nonzero (in
    /// float64, from the header's values), else x. nibabel's get_fdata gives the same numbers.
    /// </summary>
    public double[] ToDoubles()
    {
        var values = new double[Data.Length];
        CopyScaled(Header, Data, 0, values);
        return values;
    }

    /// <summary>The raw value at a flat index, widened to double.</summary>
    private double Stored(long i) => Type.GetTypeCode(Data.GetType().GetElementType()) switch
    {
        // Switch on the element type, not on `Data is short[]`: the CLR lets a ushort[] pass as a short[]
        // (and uint[] as int[], sbyte[] as byte[], ...), which would reinterpret the values.
        TypeCode.Byte => ((byte[])Data)[i],
        TypeCode.SByte => ((sbyte[])Data)[i],
        TypeCode.Int16 => ((short[])Data)[i],
        TypeCode.UInt16 => ((ushort[])Data)[i],
        TypeCode.Int32 => ((int[])Data)[i],
        TypeCode.UInt32 => ((uint[])Data)[i],
        TypeCode.Int64 => ((long[])Data)[i],
        TypeCode.UInt64 => ((ulong[])Data)[i],
        TypeCode.Single => ((float[])Data)[i],
        TypeCode.Double => ((double[])Data)[i],
        _ => throw new InvalidOperationException($"unexpected buffer type {Data.GetType().Name}."),
    };

    internal static double Scale(NiftiHeader header, double x) => header.HasScaling ? header.SclSlope * x + header.SclInter : x;

    /// <summary>Converts data[start .. start + destination.Length) to scaled doubles.</summary>
    internal static void CopyScaled(NiftiHeader header, Array data, int start, Span<double> destination)
    {
        int n = destination.Length;
        switch (Type.GetTypeCode(data.GetType().GetElementType()))
        {
            // By element type (see Stored): `data is short[]` also matches a ushort[].
            case TypeCode.Byte: { var a = (byte[])data; for (int i = 0; i < n; i++) destination[i] = a[start + i]; break; }
            case TypeCode.SByte: { var a = (sbyte[])data; for (int i = 0; i < n; i++) destination[i] = a[start + i]; break; }
            case TypeCode.Int16: { var a = (short[])data; for (int i = 0; i < n; i++) destination[i] = a[start + i]; break; }
            case TypeCode.UInt16: { var a = (ushort[])data; for (int i = 0; i < n; i++) destination[i] = a[start + i]; break; }
            case TypeCode.Int32: { var a = (int[])data; for (int i = 0; i < n; i++) destination[i] = a[start + i]; break; }
            case TypeCode.UInt32: { var a = (uint[])data; for (int i = 0; i < n; i++) destination[i] = a[start + i]; break; }
            case TypeCode.Int64: { var a = (long[])data; for (int i = 0; i < n; i++) destination[i] = a[start + i]; break; }
            case TypeCode.UInt64: { var a = (ulong[])data; for (int i = 0; i < n; i++) destination[i] = a[start + i]; break; }
            case TypeCode.Single: { var a = (float[])data; for (int i = 0; i < n; i++) destination[i] = a[start + i]; break; }
            case TypeCode.Double: ((double[])data).AsSpan(start, n).CopyTo(destination); break;
            default: throw new InvalidOperationException($"unexpected buffer type {data.GetType().Name}.");
        }
        if (!header.HasScaling) return;
        double slope = header.SclSlope, inter = header.SclInter;
        for (int i = 0; i < n; i++) destination[i] = slope * destination[i] + inter;
    }

    /// <summary>The bytes of a stored-value array (host byte order).</summary>
    internal static Span<byte> BytesOf(Array data) => data switch
    {
        byte[] a => a,
        sbyte[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        short[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        ushort[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        int[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        uint[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        long[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        ulong[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        float[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        double[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        _ => throw new InvalidOperationException($"unexpected buffer type {data.GetType().Name}."),
    };
}
