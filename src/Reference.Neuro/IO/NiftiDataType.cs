namespace Reference.Neuro.IO;

/// <summary>
/// The NIfTI datatype codes (nifti1.h, DT_*) this reader and writer support: the integer and
/// IEEE types a voxel array holds in practice. Complex, RGB and 128-bit float codes are refused
/// with a <see cref="NiftiFormatException"/> naming the code.
/// </summary>
public enum NiftiDataType : short
{
    UInt8 = 2,
    Int16 = 4,
    Int32 = 8,
    Float32 = 16,
    Float64 = 64,
    Int8 = 256,
    UInt16 = 512,
    UInt32 = 768,
    Int64 = 1024,
    UInt64 = 1280,
}

public static class NiftiDataTypes
{
    /// <summary>Every supported code, in code order.</summary>
    public static IReadOnlyList<NiftiDataType> All { get; } = [.. Enum.GetValues<NiftiDataType>().OrderBy(t => (short)t)];

    public static bool IsSupported(int code) =>
        code is >= short.MinValue and <= short.MaxValue && Enum.IsDefined(typeof(NiftiDataType), (short)code);

    /// <summary>Bytes per voxel value.</summary>
    public static int ItemSize(this NiftiDataType type) => type switch
    {
        NiftiDataType.UInt8 or NiftiDataType.Int8 => 1,
        NiftiDataType.Int16 or NiftiDataType.UInt16 => 2,
        NiftiDataType.Int32 or NiftiDataType.UInt32 or NiftiDataType.Float32 => 4,
        NiftiDataType.Int64 or NiftiDataType.UInt64 or NiftiDataType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not a supported NIfTI datatype."),
    };

    /// <summary>The header's bitpix for this type (bits per voxel).</summary>
    public static int BitsPerVoxel(this NiftiDataType type) => 8 * type.ItemSize();

    /// <summary>The .NET element type of the stored values.</summary>
    public static Type ClrType(this NiftiDataType type) => type switch
    {
        NiftiDataType.UInt8 => typeof(byte),
        NiftiDataType.Int8 => typeof(sbyte),
        NiftiDataType.Int16 => typeof(short),
        NiftiDataType.UInt16 => typeof(ushort),
        NiftiDataType.Int32 => typeof(int),
        NiftiDataType.UInt32 => typeof(uint),
        NiftiDataType.Int64 => typeof(long),
        NiftiDataType.UInt64 => typeof(ulong),
        NiftiDataType.Float32 => typeof(float),
        NiftiDataType.Float64 => typeof(double),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not a supported NIfTI datatype."),
    };

    /// <summary>The code for a .NET element type (byte -> UInt8, float -> Float32, ...).</summary>
    public static NiftiDataType Of(Type clrType)
    {
        foreach (var type in All)
            if (type.ClrType() == clrType) return type;
        throw new ArgumentException(
            $"element type {clrType.Name} has no NIfTI datatype (supported: {string.Join(", ", All.Select(t => t.ClrType().Name))}).",
            nameof(clrType));
    }

    /// <summary>numpy's name of the type (uint8, int16, float32, ...), as nibabel prints it.</summary>
    public static string NumpyName(this NiftiDataType type) => type.ClrType().Name switch
    {
        "Byte" => "uint8",
        "SByte" => "int8",
        "Int16" => "int16",
        "UInt16" => "uint16",
        "Int32" => "int32",
        "UInt32" => "uint32",
        "Int64" => "int64",
        "UInt64" => "uint64",
        "Single" => "float32",
        _ => "float64",
    };

    /// <summary>nifti1.h's name of a datatype code, supported or not (for messages).</summary>
    public static string CodeName(int code) => code switch
    {
        0 => "DT_UNKNOWN",
        1 => "DT_BINARY",
        2 => "DT_UINT8",
        4 => "DT_INT16",
        8 => "DT_INT32",
        16 => "DT_FLOAT32",
        32 => "DT_COMPLEX64",
        64 => "DT_FLOAT64",
        128 => "DT_RGB24",
        255 => "DT_ALL",
        256 => "DT_INT8",
        512 => "DT_UINT16",
        768 => "DT_UINT32",
        1024 => "DT_INT64",
        1280 => "DT_UINT64",
        1536 => "DT_FLOAT128",
        1792 => "DT_COMPLEX128",
        2048 => "DT_COMPLEX256",
        2304 => "DT_RGBA32",
        _ => "not a nifti1.h code",
    };

    /// <summary>An array of <paramref name="count"/> zeros of the type's .NET element type.</summary>
    internal static Array Allocate(this NiftiDataType type, int count) => Array.CreateInstance(type.ClrType(), count);
}
