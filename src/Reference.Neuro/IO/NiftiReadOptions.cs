namespace Reference.Neuro.IO;

/// <summary>
/// Limits the reader enforces before it allocates: a file whose header asks for more is refused
/// with a <see cref="NiftiFormatException"/> instead of exhausting memory.
/// </summary>
public sealed record NiftiReadOptions
{
    /// <summary>The default: 2 GiB of voxel data (and at most Array.MaxLength values).</summary>
    public static NiftiReadOptions Default { get; } = new();

    /// <summary>The most bytes of voxel data (prod(dim) * bytes per value) the reader accepts.</summary>
    public long MaxDataBytes { get; init; } = 1L << 31;

    /// <summary>The most bytes of header extensions (between byte 352/544 and vox_offset) read into memory.</summary>
    public long MaxExtensionBytes { get; init; } = 64L << 20;
}
