using System.Buffers.Binary;
using System.Text;

namespace Reference.Neuro.IO;

/// <summary>
/// The byte layouts of the two headers (nifti1.h: 348 bytes; nifti2.h: 540 bytes, the same fields
/// widened to 64 bits and reordered), read and written in either byte order. Offsets are the
/// standard's; each field is decoded exactly once here and nowhere else.
/// </summary>
internal static class NiftiLayout
{
    public const int Nifti1Size = 348;
    public const int Nifti2Size = 540;

    /// <summary>NIfTI-2's magic: "n+2\0" then \r \n \x1a \n, which a text-mode transfer would alter (as in PNG).</summary>
    public static ReadOnlySpan<byte> Nifti2CheckBytes => [0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Fixed-width fields of one header image in one byte order.</summary>
    public readonly ref struct Fields(Span<byte> bytes, bool bigEndian)
    {
        private readonly Span<byte> b = bytes;

        public short I16(int at) => bigEndian ? BinaryPrimitives.ReadInt16BigEndian(b[at..]) : BinaryPrimitives.ReadInt16LittleEndian(b[at..]);

        public int I32(int at) => bigEndian ? BinaryPrimitives.ReadInt32BigEndian(b[at..]) : BinaryPrimitives.ReadInt32LittleEndian(b[at..]);

        public long I64(int at) => bigEndian ? BinaryPrimitives.ReadInt64BigEndian(b[at..]) : BinaryPrimitives.ReadInt64LittleEndian(b[at..]);

        public double F32(int at) => bigEndian ? BinaryPrimitives.ReadSingleBigEndian(b[at..]) : BinaryPrimitives.ReadSingleLittleEndian(b[at..]);

        public double F64(int at) => bigEndian ? BinaryPrimitives.ReadDoubleBigEndian(b[at..]) : BinaryPrimitives.ReadDoubleLittleEndian(b[at..]);

        public byte U8(int at) => b[at];

        /// <summary>A char[length] field: the bytes up to the last non-NUL one, as Latin-1.</summary>
        public string Str(int at, int length)
        {
            var field = b.Slice(at, length);
            int end = field.LastIndexOfAnyExcept((byte)0) + 1;
            return Encoding.Latin1.GetString(field[..end]);
        }

        public void I16(int at, long v)
        {
            short s = checked((short)v);
            if (bigEndian) BinaryPrimitives.WriteInt16BigEndian(b[at..], s);
            else BinaryPrimitives.WriteInt16LittleEndian(b[at..], s);
        }

        public void I32(int at, long v)
        {
            int s = checked((int)v);
            if (bigEndian) BinaryPrimitives.WriteInt32BigEndian(b[at..], s);
            else BinaryPrimitives.WriteInt32LittleEndian(b[at..], s);
        }

        public void I64(int at, long v)
        {
            if (bigEndian) BinaryPrimitives.WriteInt64BigEndian(b[at..], v);
            else BinaryPrimitives.WriteInt64LittleEndian(b[at..], v);
        }

        public void F32(int at, double v)
        {
            if (bigEndian) BinaryPrimitives.WriteSingleBigEndian(b[at..], (float)v);
            else BinaryPrimitives.WriteSingleLittleEndian(b[at..], (float)v);
        }

        public void F64(int at, double v)
        {
            if (bigEndian) BinaryPrimitives.WriteDoubleBigEndian(b[at..], v);
            else BinaryPrimitives.WriteDoubleLittleEndian(b[at..], v);
        }

        public void U8(int at, long v) => b[at] = checked((byte)v);

        public void Str(int at, int length, string s) => Encoding.Latin1.GetBytes(s).CopyTo(b.Slice(at, length));
    }

    /// <summary>The raw fields of a NIfTI-1 header (no validation; vox_offset kept as the stored float).</summary>
    public static (NiftiHeader Header, int DataType, double VoxOffset) Decode1(Span<byte> bytes, bool bigEndian)
    {
        var r = new Fields(bytes, bigEndian);
        var dim = new long[8];
        var pixdim = new double[8];
        for (int i = 0; i < 8; i++)
        {
            dim[i] = r.I16(40 + 2 * i);
            pixdim[i] = r.F32(76 + 4 * i);
        }
        int dataType = r.I16(70);
        var header = new NiftiHeader
        {
            Version = NiftiVersion.Nifti1,
            BigEndian = bigEndian,
            SizeOfHeader = r.I32(0),
            DataTypeName = r.Str(4, 10),
            DbName = r.Str(14, 18),
            Extents = r.I32(32),
            SessionError = r.I16(36),
            Regular = r.U8(38),
            DimInfo = r.U8(39),
            Dim = dim,
            IntentP1 = r.F32(56),
            IntentP2 = r.F32(60),
            IntentP3 = r.F32(64),
            IntentCode = r.I16(68),
            DataType = (NiftiDataType)(short)dataType,
            Bitpix = r.I16(72),
            SliceStart = r.I16(74),
            Pixdim = pixdim,
            SclSlope = r.F32(112),
            SclInter = r.F32(116),
            SliceEnd = r.I16(120),
            SliceCode = r.U8(122),
            XyztUnits = r.U8(123),
            CalMax = r.F32(124),
            CalMin = r.F32(128),
            SliceDuration = r.F32(132),
            Toffset = r.F32(136),
            GlMax = r.I32(140),
            GlMin = r.I32(144),
            Descrip = r.Str(148, 80),
            AuxFile = r.Str(228, 24),
            QformCode = r.I16(252),
            SformCode = r.I16(254),
            QuaternB = r.F32(256),
            QuaternC = r.F32(260),
            QuaternD = r.F32(264),
            QoffsetX = r.F32(268),
            QoffsetY = r.F32(272),
            QoffsetZ = r.F32(276),
            SrowX = [r.F32(280), r.F32(284), r.F32(288), r.F32(292)],
            SrowY = [r.F32(296), r.F32(300), r.F32(304), r.F32(308)],
            SrowZ = [r.F32(312), r.F32(316), r.F32(320), r.F32(324)],
            IntentName = r.Str(328, 16),
            Magic = r.Str(344, 4),
        };
        return (header, dataType, r.F32(108));
    }

    /// <summary>The raw fields of a NIfTI-2 header (no validation).</summary>
    public static (NiftiHeader Header, int DataType, long VoxOffset) Decode2(Span<byte> bytes, bool bigEndian)
    {
        var r = new Fields(bytes, bigEndian);
        var dim = new long[8];
        var pixdim = new double[8];
        for (int i = 0; i < 8; i++)
        {
            dim[i] = r.I64(16 + 8 * i);
            pixdim[i] = r.F64(104 + 8 * i);
        }
        int dataType = r.I16(12);
        var header = new NiftiHeader
        {
            Version = NiftiVersion.Nifti2,
            BigEndian = bigEndian,
            SizeOfHeader = r.I32(0),
            Magic = r.Str(4, 4),
            DataType = (NiftiDataType)(short)dataType,
            Bitpix = r.I16(14),
            Dim = dim,
            IntentP1 = r.F64(80),
            IntentP2 = r.F64(88),
            IntentP3 = r.F64(96),
            Pixdim = pixdim,
            SclSlope = r.F64(176),
            SclInter = r.F64(184),
            CalMax = r.F64(192),
            CalMin = r.F64(200),
            SliceDuration = r.F64(208),
            Toffset = r.F64(216),
            SliceStart = r.I64(224),
            SliceEnd = r.I64(232),
            Descrip = r.Str(240, 80),
            AuxFile = r.Str(320, 24),
            QformCode = r.I32(344),
            SformCode = r.I32(348),
            QuaternB = r.F64(352),
            QuaternC = r.F64(360),
            QuaternD = r.F64(368),
            QoffsetX = r.F64(376),
            QoffsetY = r.F64(384),
            QoffsetZ = r.F64(392),
            SrowX = [r.F64(400), r.F64(408), r.F64(416), r.F64(424)],
            SrowY = [r.F64(432), r.F64(440), r.F64(448), r.F64(456)],
            SrowZ = [r.F64(464), r.F64(472), r.F64(480), r.F64(488)],
            SliceCode = r.I32(496),
            XyztUnits = r.I32(500),
            IntentCode = r.I32(504),
            IntentName = r.Str(508, 16),
            DimInfo = r.U8(524),
        };
        return (header, dataType, r.I64(168));
    }

    /// <summary>The 348 bytes of a NIfTI-1 header (fields already checked to fit by the writer).</summary>
    public static void Encode1(NiftiHeader h, Span<byte> bytes, bool bigEndian)
    {
        var w = new Fields(bytes, bigEndian);
        bytes[..Nifti1Size].Clear();
        w.I32(0, Nifti1Size);
        w.Str(4, 10, h.DataTypeName);
        w.Str(14, 18, h.DbName);
        w.I32(32, h.Extents);
        w.I16(36, h.SessionError);
        w.U8(38, h.Regular);
        w.U8(39, h.DimInfo);
        for (int i = 0; i < 8; i++)
        {
            w.I16(40 + 2 * i, h.Dim[i]);
            w.F32(76 + 4 * i, h.Pixdim[i]);
        }
        w.F32(56, h.IntentP1);
        w.F32(60, h.IntentP2);
        w.F32(64, h.IntentP3);
        w.I16(68, h.IntentCode);
        w.I16(70, (short)h.DataType);
        w.I16(72, h.Bitpix);
        w.I16(74, h.SliceStart);
        w.F32(108, h.VoxOffset);
        w.F32(112, h.SclSlope);
        w.F32(116, h.SclInter);
        w.I16(120, h.SliceEnd);
        w.U8(122, h.SliceCode);
        w.U8(123, h.XyztUnits);
        w.F32(124, h.CalMax);
        w.F32(128, h.CalMin);
        w.F32(132, h.SliceDuration);
        w.F32(136, h.Toffset);
        w.I32(140, h.GlMax);
        w.I32(144, h.GlMin);
        w.Str(148, 80, h.Descrip);
        w.Str(228, 24, h.AuxFile);
        w.I16(252, h.QformCode);
        w.I16(254, h.SformCode);
        w.F32(256, h.QuaternB);
        w.F32(260, h.QuaternC);
        w.F32(264, h.QuaternD);
        w.F32(268, h.QoffsetX);
        w.F32(272, h.QoffsetY);
        w.F32(276, h.QoffsetZ);
        for (int j = 0; j < 4; j++)
        {
            w.F32(280 + 4 * j, h.SrowX[j]);
            w.F32(296 + 4 * j, h.SrowY[j]);
            w.F32(312 + 4 * j, h.SrowZ[j]);
        }
        w.Str(328, 16, h.IntentName);
        w.Str(344, 4, "n+1");
    }

    /// <summary>The 540 bytes of a NIfTI-2 header.</summary>
    public static void Encode2(NiftiHeader h, Span<byte> bytes, bool bigEndian)
    {
        var w = new Fields(bytes, bigEndian);
        bytes[..Nifti2Size].Clear();
        w.I32(0, Nifti2Size);
        w.Str(4, 4, "n+2");
        Nifti2CheckBytes.CopyTo(bytes[8..]);
        w.I16(12, (short)h.DataType);
        w.I16(14, h.Bitpix);
        for (int i = 0; i < 8; i++)
        {
            w.I64(16 + 8 * i, h.Dim[i]);
            w.F64(104 + 8 * i, h.Pixdim[i]);
        }
        w.F64(80, h.IntentP1);
        w.F64(88, h.IntentP2);
        w.F64(96, h.IntentP3);
        w.I64(168, h.VoxOffset);
        w.F64(176, h.SclSlope);
        w.F64(184, h.SclInter);
        w.F64(192, h.CalMax);
        w.F64(200, h.CalMin);
        w.F64(208, h.SliceDuration);
        w.F64(216, h.Toffset);
        w.I64(224, h.SliceStart);
        w.I64(232, h.SliceEnd);
        w.Str(240, 80, h.Descrip);
        w.Str(320, 24, h.AuxFile);
        w.I32(344, h.QformCode);
        w.I32(348, h.SformCode);
        w.F64(352, h.QuaternB);
        w.F64(360, h.QuaternC);
        w.F64(368, h.QuaternD);
        w.F64(376, h.QoffsetX);
        w.F64(384, h.QoffsetY);
        w.F64(392, h.QoffsetZ);
        for (int j = 0; j < 4; j++)
        {
            w.F64(400 + 8 * j, h.SrowX[j]);
            w.F64(432 + 8 * j, h.SrowY[j]);
            w.F64(464 + 8 * j, h.SrowZ[j]);
        }
        w.I32(496, h.SliceCode);
        w.I32(500, h.XyztUnits);
        w.I32(504, h.IntentCode);
        w.Str(508, 16, h.IntentName);
        w.U8(524, h.DimInfo);
    }
}
