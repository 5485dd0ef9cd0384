using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Reference.Core.IO;

namespace Reference.Decoding.Interpretation;

/// <summary>
/// A PNG panel of axial slices: one row per map (e.g. attribution, truth, GLM contrast), one column
/// per slice, each map scaled symmetrically by its own largest |value| on a blue-white-red scale
/// (grey outside the mask), each voxel drawn as a square of <c>scale</c> pixels. The PNG is written
/// directly (8-bit RGB, one IDAT of zlib-compressed scanlines with filter 0; CRC-32 per chunk).
/// </summary>
public static class SlicePanel
{
    /// <summary>Writes the panel of <paramref name="rows"/> (maps over the lattice, each [Nz * Ny * Nx], x fastest) inside <paramref name="mask"/>.</summary>
    public static void Write(string path, IReadOnlyList<double[]> rows, bool[] mask, int nx, int ny, int nz, int slices = 6, int scale = 8)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0) throw new ArgumentException("no maps to draw.", nameof(rows));
        slices = Math.Clamp(slices, 1, nz);
        int gap = 2, tileW = nx * scale, tileH = ny * scale;
        int width = slices * (tileW + gap) + gap, height = rows.Count * (tileH + gap) + gap;
        var rgb = new byte[width * height * 3];
        Array.Fill(rgb, (byte)255);
        for (int r = 0; r < rows.Count; r++)
        {
            var map = rows[r];
            double max = 0;
            for (int i = 0; i < map.Length; i++) if (mask[i]) max = Math.Max(max, Math.Abs(map[i]));
            for (int s = 0; s < slices; s++)
            {
                int z = (int)((s + 0.5) * nz / slices);
                for (int y = 0; y < ny; y++)
                    for (int x = 0; x < nx; x++)
                    {
                        int v = x + nx * (y + ny * z);
                        var (cr, cg, cb) = mask[v] ? Color(max > 0 ? map[v] / max : 0) : ((byte)200, (byte)200, (byte)200);
                        for (int py = 0; py < scale; py++)
                            for (int px = 0; px < scale; px++)
                            {
                                // Image rows run top to bottom: draw y = ny - 1 at the top (anterior up).
                                int row = gap + r * (tileH + gap) + (ny - 1 - y) * scale + py, col = gap + s * (tileW + gap) + x * scale + px;
                                int o = (row * width + col) * 3;
                                rgb[o] = cr;
                                rgb[o + 1] = cg;
                                rgb[o + 2] = cb;
                            }
                    }
            }
        }
        AtomicFile.WriteAllBytes(path, Encode(rgb, width, height));
    }

    /// <summary>t in [-1, 1]: blue (-1), white (0), red (1).</summary>
    private static (byte, byte, byte) Color(double t)
    {
        t = Math.Clamp(t, -1, 1);
        byte fade = (byte)Math.Round(255 * (1 - Math.Abs(t)));
        return t >= 0 ? ((byte)255, fade, fade) : (fade, fade, (byte)255);
    }

    internal static byte[] Encode(byte[] rgb, int width, int height)
    {
        using var output = new MemoryStream();
        output.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;
        ihdr[9] = 2;
        Chunk(output, "IHDR", ihdr);
        using (var raw = new MemoryStream())
        {
            using (var z = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
                for (int y = 0; y < height; y++)
                {
                    z.WriteByte(0);
                    z.Write(rgb, y * width * 3, width * 3);
                }
            Chunk(output, "IDAT", raw.ToArray());
        }
        Chunk(output, "IEND", []);
        return output.ToArray();
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        var head = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(head, data.Length);
        Encoding.ASCII.GetBytes(type).CopyTo(head, 4);
        s.Write(head);
        s.Write(data);
        uint crc = Crc(Crc(0xFFFFFFFFu, head.AsSpan(4)), data) ^ 0xFFFFFFFFu;
        var tail = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(tail, crc);
        s.Write(tail);
    }

    /// <summary>CRC-32 (ISO-HDLC, reflected polynomial 0xEDB88320) update, bitwise.</summary>
    private static uint Crc(uint crc, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return crc;
    }
}
