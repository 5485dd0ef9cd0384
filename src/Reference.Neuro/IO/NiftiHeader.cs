using System.Globalization;

namespace Reference.Neuro.IO;

/// <summary>NIfTI-1 (348-byte header, magic "n+1") or NIfTI-2 (540-byte header, magic "n+2").</summary>
public enum NiftiVersion
{
    Nifti1 = 1,
    Nifti2 = 2,
}

/// <summary>
/// One header extension (nifti1.h, "EXTENSION FORMAT"): esize (a multiple of 16, counting its own
/// 8 bytes of esize and ecode), ecode (what the content is: 2 DICOM, 4 AFNI, 6 comment, 32 CIFTI,
/// ...) and the content bytes, padding included.
/// </summary>
public sealed record NiftiExtension(int Code, byte[] Content)
{
    /// <summary>esize: 8 + the content, rounded up to a multiple of 16.</summary>
    public int Size => (8 + Content.Length + 15) / 16 * 16;
}

/// <summary>
/// Every field of a NIfTI-1 or NIfTI-2 header, named as in nifti1.h / nifti2.h, in the wider of
/// the two types (NIfTI-1's short dims and float fields are held as long and double; values read
/// from a NIfTI-1 file are exactly the file's float32 values). Strings are the field's bytes up
/// to the last non-NUL byte, decoded as Latin-1 (numpy's and nibabel's reading; a NUL inside the
/// field is kept). Fields only NIfTI-1 has (data_type, db_name, extents, session_error, regular,
/// glmax, glmin) are zero/empty in a NIfTI-2 header and are not written to one.
/// <para>
/// Read from a file, the header is validated (see <see cref="Nifti"/>). Built in code, start
/// from <see cref="Create"/> and change fields with <c>with</c>; the writer fills in the fields
/// the format fixes (sizeof_hdr, magic, bitpix, vox_offset, the extension flag) and checks the
/// rest. Record equality compares the list fields by reference: compare headers through
/// <see cref="Fields"/>.
/// </para>
/// </summary>
public sealed record NiftiHeader
{
    // ---------------------------------------------------------------- how the file was stored
    public NiftiVersion Version { get; init; } = NiftiVersion.Nifti1;

    /// <summary>True when the file was big-endian (found by reading sizeof_hdr both ways).</summary>
    public bool BigEndian { get; init; }

    /// <summary>sizeof_hdr: 348 (NIfTI-1) or 540 (NIfTI-2).</summary>
    public int SizeOfHeader { get; init; } = 348;

    /// <summary>magic: "n+1" or "n+2" (single file), without the NUL; NIfTI-2's four check bytes are validated, not kept.</summary>
    public string Magic { get; init; } = "n+1";

    // ---------------------------------------------------------------- NIfTI-1 only (ANALYZE 7.5 leftovers)
    /// <summary>data_type (char[10], unused).</summary>
    public string DataTypeName { get; init; } = "";

    /// <summary>db_name (char[18], unused).</summary>
    public string DbName { get; init; } = "";

    /// <summary>extents (unused; ANALYZE wrote 16384).</summary>
    public int Extents { get; init; }

    /// <summary>session_error (unused).</summary>
    public short SessionError { get; init; }

    /// <summary>regular (unused; ANALYZE wrote 'r').</summary>
    public byte Regular { get; init; }

    /// <summary>glmax (unused).</summary>
    public int GlMax { get; init; }

    /// <summary>glmin (unused).</summary>
    public int GlMin { get; init; }

    // ---------------------------------------------------------------- dimensions and data
    /// <summary>dim_info: frequency (bits 0-1), phase (2-3) and slice (4-5) encoding dimensions.</summary>
    public byte DimInfo { get; init; }

    /// <summary>dim[8]: dim[0] the number of dimensions (1..7), dim[1..dim[0]] their lengths (x fastest).</summary>
    public IReadOnlyList<long> Dim { get; init; } = [3, 1, 1, 1, 1, 1, 1, 1];

    public double IntentP1 { get; init; }

    public double IntentP2 { get; init; }

    public double IntentP3 { get; init; }

    /// <summary>intent_code (NIFTI_INTENT_*, see <see cref="NiftiCodes.IntentName"/>).</summary>
    public int IntentCode { get; init; }

    /// <summary>intent_name (char[16]).</summary>
    public string IntentName { get; init; } = "";

    /// <summary>datatype: how each voxel value is stored.</summary>
    public NiftiDataType DataType { get; init; } = NiftiDataType.Float32;

    /// <summary>bitpix: bits per voxel, 8 * the datatype's size.</summary>
    public int Bitpix { get; init; } = 32;

    /// <summary>pixdim[8]: pixdim[0] = qfac (+-1), pixdim[1..dim[0]] the grid spacings (pixdim[4] the TR).</summary>
    public IReadOnlyList<double> Pixdim { get; init; } = [1, 1, 1, 1, 1, 1, 1, 1];

    /// <summary>vox_offset: the byte where the data start (NIfTI-1 stores it as a float).</summary>
    public long VoxOffset { get; init; } = 352;

    /// <summary>scl_slope: stored value x means slope * x + inter; 0 (or not finite) means no scaling.</summary>
    public double SclSlope { get; init; }

    public double SclInter { get; init; }

    // ---------------------------------------------------------------- slice timing and display
    public long SliceStart { get; init; }

    public long SliceEnd { get; init; }

    /// <summary>slice_code (NIFTI_SLICE_*, see <see cref="NiftiCodes.SliceName"/>).</summary>
    public int SliceCode { get; init; }

    public double SliceDuration { get; init; }

    /// <summary>xyzt_units: space unit | time unit (see <see cref="NiftiCodes"/>).</summary>
    public int XyztUnits { get; init; } = 2 | 8;

    public double CalMax { get; init; }

    public double CalMin { get; init; }

    /// <summary>toffset: the time of the first volume.</summary>
    public double Toffset { get; init; }

    /// <summary>descrip (char[80]).</summary>
    public string Descrip { get; init; } = "";

    /// <summary>aux_file (char[24]).</summary>
    public string AuxFile { get; init; } = "";

    // ---------------------------------------------------------------- orientation
    /// <summary>qform_code (NIFTI_XFORM_*): 0 means the quaternion fields are unused.</summary>
    public int QformCode { get; init; }

    /// <summary>sform_code (NIFTI_XFORM_*): 0 means srow_x/y/z are unused.</summary>
    public int SformCode { get; init; }

    public double QuaternB { get; init; }

    public double QuaternC { get; init; }

    public double QuaternD { get; init; }

    public double QoffsetX { get; init; }

    public double QoffsetY { get; init; }

    public double QoffsetZ { get; init; }

    public IReadOnlyList<double> SrowX { get; init; } = [0, 0, 0, 0];

    public IReadOnlyList<double> SrowY { get; init; } = [0, 0, 0, 0];

    public IReadOnlyList<double> SrowZ { get; init; } = [0, 0, 0, 0];

    /// <summary>The 4-byte extender after the header; extender[0] != 0 means extensions follow.</summary>
    public IReadOnlyList<byte> Extender { get; init; } = [0, 0, 0, 0];

    /// <summary>The header extensions between the extender and vox_offset, in file order.</summary>
    public IReadOnlyList<NiftiExtension> Extensions { get; init; } = [];

    // ---------------------------------------------------------------- derived
    /// <summary>dim[1..dim[0]]: the array's lengths, x (fastest varying) first.</summary>
    public int[] Shape
    {
        get
        {
            int rank = (int)Dim[0];
            var shape = new int[rank];
            for (int i = 0; i < rank; i++) shape[i] = checked((int)Dim[i + 1]);
            return shape;
        }
    }

    /// <summary>The number of voxel values, prod(dim[1..dim[0]]).</summary>
    public long ElementCount
    {
        get
        {
            long count = 1;
            for (int i = 1; i <= Dim[0]; i++) count = checked(count * Dim[i]);
            return count;
        }
    }

    /// <summary>qfac: pixdim[0] when it is -1, else +1 (nifti1.h: "if pixdim[0] is 0, treat it as 1").</summary>
    public double Qfac => Pixdim[0] < 0 ? -1.0 : 1.0;

    /// <summary>True when scl_slope is finite and nonzero: stored values are then slope * x + inter.</summary>
    public bool HasScaling => SclSlope != 0 && double.IsFinite(SclSlope);

    /// <summary>The quaternion fields and the voxel sizes, as <see cref="NiftiAffine.QuaternionToMatrix"/> takes them.</summary>
    public NiftiQuaternion Quaternion =>
        new(QuaternB, QuaternC, QuaternD, QoffsetX, QoffsetY, QoffsetZ, Pixdim[1], Pixdim[2], Pixdim[3], Qfac);

    /// <summary>The qform's matrix (method 2), whatever qform_code says.</summary>
    public double[,] QformAffine => NiftiAffine.QuaternionToMatrix(Quaternion);

    /// <summary>The sform's matrix (method 3), whatever sform_code says.</summary>
    public double[,] SformAffine => NiftiAffine.FromRows(SrowX, SrowY, SrowZ);

    /// <summary>
    /// The voxel-to-world map a reader should use: the sform when sform_code &gt; 0, else the
    /// qform when qform_code &gt; 0, else method 1 (the voxel sizes, no offset). nibabel makes
    /// the same choice except for the last case, where it centres the grid and flips x.
    /// </summary>
    public double[,] Affine =>
        SformCode > 0 ? SformAffine
        : QformCode > 0 ? QformAffine
        : NiftiAffine.FromVoxelSizes(Math.Abs(Pixdim[1]), Math.Abs(Pixdim[2]), Math.Abs(Pixdim[3]));

    /// <summary>Which transform <see cref="Affine"/> is: "sform", "qform" or "pixdim".</summary>
    public string AffineSource => SformCode > 0 ? "sform" : QformCode > 0 ? "qform" : "pixdim";

    public int SpaceUnitCode => NiftiCodes.SpaceUnitCode(XyztUnits);

    public int TimeUnitCode => NiftiCodes.TimeUnitCode(XyztUnits);

    /// <summary>The repetition time pixdim[4] in seconds, when there are 4+ dims and a time unit of s, ms or us.</summary>
    public double? RepetitionTimeSeconds =>
        Dim[0] >= 4 && NiftiCodes.SecondsPerTimeUnit(TimeUnitCode) is double factor ? Pixdim[4] * factor : null;

    // ---------------------------------------------------------------- construction

    /// <summary>
    /// A header for a fresh image: the given datatype and shape (x fastest, 1 to 7 dims), unit
    /// voxels in mm and seconds, no scaling, qfac +1, both transform codes 0.
    /// </summary>
    public static NiftiHeader Create(NiftiDataType dataType, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length is < 1 or > 7)
            throw new ArgumentException($"a NIfTI image has 1 to 7 dimensions, found {shape.Length}.", nameof(shape));
        var dim = new long[8];
        dim[0] = shape.Length;
        for (int i = 0; i < 7; i++)
        {
            if (i < shape.Length && shape[i] < 1)
                throw new ArgumentException($"shape[{i}] = {shape[i]}: every dimension must be at least 1.", nameof(shape));
            dim[i + 1] = i < shape.Length ? shape[i] : 1;
        }
        _ = dataType.ItemSize();
        return new NiftiHeader { Dim = dim, DataType = dataType, Bitpix = dataType.BitsPerVoxel() };
    }

    /// <summary>
    /// Sets both transforms from one affine (as nibabel's set_sform + set_qform do): srow_x/y/z are
    /// its rows; the quaternion, offsets, voxel sizes pixdim[1..3] and qfac pixdim[0] come from
    /// <see cref="NiftiAffine.MatrixToQuaternion"/> (the qform drops any shear the sform keeps).
    /// </summary>
    public NiftiHeader WithAffine(double[,] affine, int sformCode = 2, int qformCode = 2)
    {
        NiftiAffine.CheckShape(affine, nameof(affine));
        var q = NiftiAffine.MatrixToQuaternion(affine);
        var pixdim = Pixdim.ToArray();
        pixdim[0] = q.Qfac;
        pixdim[1] = q.Dx;
        pixdim[2] = q.Dy;
        pixdim[3] = q.Dz;
        return this with
        {
            SformCode = sformCode,
            QformCode = qformCode,
            SrowX = [affine[0, 0], affine[0, 1], affine[0, 2], affine[0, 3]],
            SrowY = [affine[1, 0], affine[1, 1], affine[1, 2], affine[1, 3]],
            SrowZ = [affine[2, 0], affine[2, 1], affine[2, 2], affine[2, 3]],
            QuaternB = q.B,
            QuaternC = q.C,
            QuaternD = q.D,
            QoffsetX = q.OffsetX,
            QoffsetY = q.OffsetY,
            QoffsetZ = q.OffsetZ,
            Pixdim = pixdim,
        };
    }

    // ---------------------------------------------------------------- listing

    /// <summary>
    /// Every field as (nifti1.h name, value), in the order the header stores them (NIfTI-1 or
    /// NIfTI-2 layout): what `reference nifti` prints, and what tests compare field by field.
    /// Numbers use the shortest round-trip form; strings are quoted with control bytes escaped.
    /// </summary>
    public IReadOnlyList<(string Name, string Value)> Fields() => [.. FieldValues().Select(f => (f.Name, Format(f.Value)))];

    /// <summary>
    /// Every field as (nifti1.h name, typed value: int, long, double, string, or a list of them),
    /// in header order, then the extender and one entry per extension ("ecode C, esize S").
    /// </summary>
    public IReadOnlyList<(string Name, object Value)> FieldValues()
    {
        var f = new List<(string, object)>();
        void Add(string name, object value) => f.Add((name, value));
        Add("sizeof_hdr", SizeOfHeader);
        if (Version == NiftiVersion.Nifti1)
        {
            Add("data_type", DataTypeName);
            Add("db_name", DbName);
            Add("extents", Extents);
            Add("session_error", SessionError);
            Add("regular", Regular);
            Add("dim_info", DimInfo);
            Add("dim", Dim);
            Add("intent_p1", IntentP1);
            Add("intent_p2", IntentP2);
            Add("intent_p3", IntentP3);
            Add("intent_code", IntentCode);
            Add("datatype", (int)DataType);
            Add("bitpix", Bitpix);
            Add("slice_start", SliceStart);
            Add("pixdim", Pixdim);
            Add("vox_offset", VoxOffset);
            Add("scl_slope", SclSlope);
            Add("scl_inter", SclInter);
            Add("slice_end", SliceEnd);
            Add("slice_code", SliceCode);
            Add("xyzt_units", XyztUnits);
            Add("cal_max", CalMax);
            Add("cal_min", CalMin);
            Add("slice_duration", SliceDuration);
            Add("toffset", Toffset);
            Add("glmax", GlMax);
            Add("glmin", GlMin);
            Add("descrip", Descrip);
            Add("aux_file", AuxFile);
            Add("qform_code", QformCode);
            Add("sform_code", SformCode);
            Add("quatern_b", QuaternB);
            Add("quatern_c", QuaternC);
            Add("quatern_d", QuaternD);
            Add("qoffset_x", QoffsetX);
            Add("qoffset_y", QoffsetY);
            Add("qoffset_z", QoffsetZ);
            Add("srow_x", SrowX);
            Add("srow_y", SrowY);
            Add("srow_z", SrowZ);
            Add("intent_name", IntentName);
            Add("magic", Magic);
        }
        else
        {
            Add("magic", Magic);
            Add("datatype", (int)DataType);
            Add("bitpix", Bitpix);
            Add("dim", Dim);
            Add("intent_p1", IntentP1);
            Add("intent_p2", IntentP2);
            Add("intent_p3", IntentP3);
            Add("pixdim", Pixdim);
            Add("vox_offset", VoxOffset);
            Add("scl_slope", SclSlope);
            Add("scl_inter", SclInter);
            Add("cal_max", CalMax);
            Add("cal_min", CalMin);
            Add("slice_duration", SliceDuration);
            Add("toffset", Toffset);
            Add("slice_start", SliceStart);
            Add("slice_end", SliceEnd);
            Add("descrip", Descrip);
            Add("aux_file", AuxFile);
            Add("qform_code", QformCode);
            Add("sform_code", SformCode);
            Add("quatern_b", QuaternB);
            Add("quatern_c", QuaternC);
            Add("quatern_d", QuaternD);
            Add("qoffset_x", QoffsetX);
            Add("qoffset_y", QoffsetY);
            Add("qoffset_z", QoffsetZ);
            Add("srow_x", SrowX);
            Add("srow_y", SrowY);
            Add("srow_z", SrowZ);
            Add("slice_code", SliceCode);
            Add("xyzt_units", XyztUnits);
            Add("intent_code", IntentCode);
            Add("intent_name", IntentName);
            Add("dim_info", DimInfo);
        }
        Add("extender", Extender);
        for (int i = 0; i < Extensions.Count; i++)
            f.Add(($"extension[{i}]", $"ecode {Extensions[i].Code}, esize {Extensions[i].Size}"));
        return f;
    }

    /// <summary>How <see cref="Fields"/> prints a value: numbers round-trip, strings quoted (see <see cref="Quote"/>), lists in brackets.</summary>
    public static string Format(object value) => value switch
    {
        string s => Quote(s),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IReadOnlyList<double> list => "[" + string.Join(", ", list.Select(v => v.ToString("R", CultureInfo.InvariantCulture))) + "]",
        IReadOnlyList<long> list => "[" + string.Join(", ", list.Select(v => v.ToString(CultureInfo.InvariantCulture))) + "]",
        IReadOnlyList<byte> list => "[" + string.Join(", ", list.Select(v => v.ToString(CultureInfo.InvariantCulture))) + "]",
        IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>A string field on one line: quoted, with bytes outside printable ASCII as \xNN.</summary>
    public static string Quote(string s)
    {
        var sb = new System.Text.StringBuilder("'");
        foreach (char c in s)
            sb.Append(c is >= ' ' and < '\x7f' && c != '\'' && c != '\\' ? c.ToString() : $"\\x{(int)c:x2}");
        return sb.Append('\'').ToString();
    }
}
