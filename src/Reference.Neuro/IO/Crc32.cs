namespace Reference.Neuro.IO;

/// <summary>
/// CRC-32 as gzip stores it in each member's trailer (RFC 1952 section 8; the reflected
/// polynomial 0xEDB88320, initial value and final XOR 0xFFFFFFFF). .NET's GZipStream does not
/// report a stream whose trailer is missing, so the reader checks the trailer itself.
/// </summary>
internal static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }

    /// <summary>The running CRC after <paramref name="bytes"/>; start from 0 (the CRC of no bytes).</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> bytes)
    {
        uint c = ~crc;
        foreach (byte b in bytes) c = Table[(c ^ b) & 0xff] ^ (c >> 8);
        return ~c;
    }
}
