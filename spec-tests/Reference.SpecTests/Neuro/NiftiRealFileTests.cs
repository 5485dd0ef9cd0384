using Reference.Neuro.IO;

namespace Reference.SpecTests.Neuro;

/// <summary>
/// The reader on real files made by other tools (Debian python3-nibabel 5.0.0-2's tests/data),
/// against the values a second reader gives. Provenance of every expected number: nibabel 5.0.0
/// under /usr/bin/python3 (Debian 12), in the data folder, with img = nibabel.load(FILE):
/// shape = img.shape; dtype = img.get_data_dtype(); affine = img.affine (the sform here, since
/// every file's sform_code &gt; 0); qform = img.get_qform(); voxel values = img.get_fdata()[i, j, k(, t)]
/// (scaled, float64); mean/std/min/max = img.get_fdata().mean() / .std() / .min() / .max();
/// raw header fields = nibabel.Nifti1Header.from_fileobj(f)[NAME] (Nifti2Header for NIfTI-2)
/// on the decompressed bytes, since a loaded image's header resets vox_offset.
/// </summary>
public class NiftiRealFileTests
{
    public sealed record Expected(
        string File, NiftiVersion Version, bool BigEndian, int[] Shape, NiftiDataType DataType,
        double[] Affine12, double[] Qform12, (int[] Index, double Value)[] Voxels,
        double Mean, double Std, double Min, double Max, long VoxOffset, int SformCode, int QformCode, int XyztUnits);

    public static readonly Dictionary<string, Expected> Cases = new[]
    {
        new Expected("anatomical.nii", NiftiVersion.Nifti1, true, [33, 41, 25], NiftiDataType.Int16,
            [-2, 0, 0, 32, 0, 2, 0, -40, 0, 0, 2, -16],
            [-2, 0, 0, 32, 0, 2, 0, -40, 0, 0, 2, -16],
            [([0, 0, 0], 10712.0), ([16, 20, 12], 11881.0), ([10, 30, 5], 6777.0), ([32, 40, 24], 2971.0)],
            8401.066725794532, 2526.6561133919117, -610.0, 30393.0, 352, 2, 2, 10),
        new Expected("example4d.nii.gz", NiftiVersion.Nifti1, false, [128, 96, 24, 2], NiftiDataType.Int16,
            [-2.0, 6.7147156535937462e-19, 9.0810245110817154e-18, 117.8551025390625,
             -6.7147156535937462e-19, 1.9737114906311035, -0.35552823543548584, -35.722942352294922,
             8.2554808889609302e-18, 0.32320761680603027, 2.1710817813873291, -7.2487983703613281],
            [-1.999999995978187, 1.0282396754185892e-05, 0.00013905980362440367, 117.8551025390625,
             -1.0282396754185892e-05, 1.9737114380364735, -0.3555282247524397, -35.72294235229492,
             0.00012641805535562603, 0.32320761014906196, 2.1710816833341227, -7.248798370361328],
            [([0, 0, 0, 0], 0.0), ([64, 48, 12, 0], 265.0), ([60, 50, 10, 1], 444.0), ([127, 95, 23, 1], 0.0)],
            172.90811496310764, 238.768099508597, 0.0, 1162.0, 416, 1, 1, 10),
        new Expected("example_nifti2.nii.gz", NiftiVersion.Nifti2, false, [32, 20, 12, 2], NiftiDataType.Int16,
            [-2.0, 6.7147156535937462e-19, 9.0810245110817154e-18, 117.8551025390625,
             -6.7147156535937462e-19, 1.9737114906311035, -0.35552823543548584, -35.722942352294922,
             8.2554808889609302e-18, 0.32320761680603027, 2.1710817813873291, -7.2487983703613281],
            [-1.999999995978187, 1.0282396754185892e-05, 0.00013905980362440367, 117.8551025390625,
             -1.0282396754185892e-05, 1.9737114380364735, -0.3555282247524397, -35.72294235229492,
             0.00012641805535562603, 0.32320761014906196, 2.1710816833341227, -7.248798370361328],
            [([0, 0, 0, 0], 424.0), ([16, 10, 6, 0], 265.0), ([20, 5, 3, 1], 413.0), ([31, 19, 11, 1], 457.0)],
            450.963671875, 80.97548566835316, 46.0, 757.0, 608, 1, 1, 10),
        new Expected("functional.nii", NiftiVersion.Nifti1, false, [17, 21, 3, 20], NiftiDataType.Int16,
            [-4, 0, 0, 32, 0, 4, 0, -40, 0, 0, 8, 0],
            [-4, 0, 0, 32, 0, 4, 0, -40, 0, 0, 8, 0],
            [([0, 0, 0, 0], 4004.137202501297), ([8, 10, 1, 0], 3865.7654151320457), ([5, 15, 2, 19], 3695.798107922077), ([16, 20, 2, 19], 3129.3409598469734)],
            3637.408513675239, 530.4123737798841, 629.826171875, 5571.621858656406, 352, 2, 2, 10),
        new Expected("reoriented_anat_moved.nii", NiftiVersion.Nifti1, true, [21, 26, 22], NiftiDataType.Float32,
            [4, 0, 0, -35.29789733886719, 0, 4, 0, -47.97758483886719, 0, 0, 4, -27.599409103393555],
            [4, 0, 0, -35.29789733886719, 0, 4, 0, -47.97758483886719, 0, 0, 4, -27.599411010742188],
            [([0, 0, 0], 0.0), ([10, 13, 11], 8117.22021484375), ([5, 20, 15], 8633.9541015625), ([20, 25, 21], 0.0)],
            2725.588532230912, 4153.07062268981, 0.0, 21199.935546875, 352, 2, 2, 10),
        new Expected("standard.nii.gz", NiftiVersion.Nifti1, false, [4, 5, 7], NiftiDataType.UInt8,
            [1, 0, 0, 0, 0, 3, 0, 0, 0, 0, 2, 0],
            [1, 0, 0, 0, 0, 3, 0, 0, 0, 0, 2, 0],
            [([0, 0, 0], 0.0), ([1, 2, 3], 255.0), ([3, 4, 6], 255.0), ([2, 0, 5], 0.0)],
            54.642857142857146, 104.63310534765694, 0.0, 255.0, 352, 2, 0, 0),
    }.ToDictionary(e => e.File);

    public static TheoryData<string> Files => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Files))]
    public void RealFile_ShapeDtypeAffineVoxelsAndStatisticsMatchNibabel(string file)
    {
        var e = Cases[file];
        var image = Nifti.Read(NibabelData.File(file));
        var h = image.Header;
        Assert.Equal(e.Version, h.Version);
        Assert.Equal(e.BigEndian, h.BigEndian);
        Assert.Equal(e.Shape, image.Shape);
        Assert.Equal(e.DataType, image.DataType);
        Assert.Equal(e.VoxOffset, h.VoxOffset);
        Assert.Equal(e.SformCode, h.SformCode);
        Assert.Equal(e.QformCode, h.QformCode);
        Assert.Equal(e.XyztUnits, h.XyztUnits);

        // The sform is stored as float32 (NIfTI-1) or float64 (NIfTI-2): both readers see the same numbers exactly.
        var affine = h.Affine;
        for (int i = 0; i < 12; i++) Assert.Equal(e.Affine12[i], affine[i / 4, i % 4]);
        // The qform is computed from the quaternion. In example4d / example_nifti2 (FSL) the quaternion
        // is a near half turn: 1 - (b^2 + c^2 + d^2) = 1.005e-9 in float64. nifti_quatern_to_mat44 takes
        // a radicand below 1e-7 as a = 0 (we do); nibabel's fillpositive keeps a = sqrt(1.005e-9) = 3.2e-5,
        // which moves off-diagonal entries by up to 1.4e-4. So nibabel agrees to 2e-4 there and to 1e-12 elsewhere,
        // and our qform agrees with the sform FSL wrote from the same orientation to 1e-6.
        var qform = h.QformAffine;
        bool halfTurn = file.StartsWith("example", StringComparison.Ordinal);
        for (int i = 0; i < 12; i++) Assert.Equal(e.Qform12[i], qform[i / 4, i % 4], halfTurn ? 2e-4 : 1e-12);
        if (h.QformCode > 0 && h.SformCode > 0)
            for (int i = 0; i < 12; i++) Assert.Equal(e.Affine12[i], qform[i / 4, i % 4], 1e-5);

        foreach (var (index, value) in e.Voxels) Assert.Equal(value, image.Value(index), 1e-9);

        // Every voxel enters these sums, so a single mis-decoded value (byte order, scaling, offset) shows.
        var values = image.ToDoubles();
        double mean = values.Average();
        double std = Math.Sqrt(values.Select(v => (v - mean) * (v - mean)).Sum() / values.Length);
        Assert.Equal(e.Mean, mean, Math.Abs(e.Mean) * 1e-12);
        Assert.Equal(e.Std, std, e.Std * 1e-10);
        Assert.Equal(e.Min, values.Min(), 1e-9);
        Assert.Equal(e.Max, values.Max(), 1e-9);
    }

    [Fact]
    public void RealFile_Example4dHeaderFieldsAndExtensions()
    {
        // nibabel.Nifti1Header.from_fileobj(gzip.open('example4d.nii.gz'))[NAME]; the extensions read with struct.unpack('<ii') at byte 352.
        var h = Nifti.ReadHeader(NibabelData.File("example4d.nii.gz"));
        Assert.Equal(57, h.DimInfo);
        Assert.Equal(new long[] { 4, 128, 96, 24, 2, 1, 1, 1 }, h.Dim);
        Assert.Equal(new double[] { -1, 2, 2, 2.1999990940093994, 2000, 1, 1, 1 }, h.Pixdim);
        Assert.Equal(23, h.SliceEnd);
        Assert.Equal(1162.0, h.CalMax);
        Assert.Equal(1.0, h.SclSlope);
        Assert.Equal((byte)'r', h.Regular);
        Assert.Equal("FSL3.3\0 v2.25 NIfTI-1 Single file format", h.Descrip);
        Assert.Equal(-1.9451068140294884e-26, h.QuaternB);
        Assert.Equal(-0.9967085123062134, h.QuaternC);
        Assert.Equal(-0.0810687392950058, h.QuaternD);
        Assert.Equal(117.8551025390625, h.QoffsetX);
        Assert.Equal(-1.0, h.Qfac);
        Assert.Equal("n+1", h.Magic);
        Assert.Equal(new byte[] { 1, 0, 0, 0 }, h.Extender);
        Assert.Equal(2, h.Extensions.Count);
        Assert.All(h.Extensions, x => Assert.Equal(6, x.Code));
        Assert.Equal("extcomment1", System.Text.Encoding.ASCII.GetString(h.Extensions[0].Content).TrimEnd('\0'));
        Assert.Equal("extlongcomment2", System.Text.Encoding.ASCII.GetString(h.Extensions[1].Content).TrimEnd('\0'));
        Assert.Equal(24, h.Extensions[0].Content.Length);
        Assert.Equal("mm", NiftiCodes.SpaceUnitName(h.SpaceUnitCode));
        Assert.Equal(2000.0, h.RepetitionTimeSeconds);
    }

    [Fact]
    public void RealFile_Nifti2HeaderFields()
    {
        // nibabel.Nifti2Header.from_fileobj(gzip.open('example_nifti2.nii.gz'))[NAME]
        var h = Nifti.ReadHeader(NibabelData.File("example_nifti2.nii.gz"));
        Assert.Equal(540, h.SizeOfHeader);
        Assert.Equal("n+2", h.Magic);
        Assert.Equal(new long[] { 4, 32, 20, 12, 2, 1, 1, 1 }, h.Dim);
        Assert.Equal(2.1999990940093994, h.Pixdim[3]);
        Assert.Equal(-0.9967085123062134, h.QuaternC);
        Assert.Equal(-35.72294235229492, h.QoffsetY);
        Assert.Equal(23, h.SliceEnd);
        Assert.Equal(57, h.DimInfo);
        Assert.Equal(608, h.VoxOffset);
        Assert.Equal(2, h.Extensions.Count);
    }

    [Fact]
    public void RealFile_ScalingIsAppliedAndRawValuesKept()
    {
        // functional.nii: scl_slope 0.07540697 and scl_inter 3100.7617 (float32), int16 storage.
        var image = Nifti.Read(NibabelData.File("functional.nii"));
        Assert.True(image.Header.HasScaling);
        Assert.Equal(0.07540696859359741, image.Header.SclSlope);
        Assert.Equal(3100.76171875, image.Header.SclInter);
        short raw = image.Get<short>()[0];
        Assert.Equal(0.07540696859359741 * raw + 3100.76171875, image.Value(0, 0, 0, 0));
    }

    [Theory]
    [InlineData("example4d.nii.gz")]
    [InlineData("anatomical.nii")]
    [InlineData("functional.nii")]
    public void RealFile_StreamedValuesEqualTheReadImage(string file)
    {
        // gzip; big-endian int16; scaled int16: the streaming reader swaps and scales block by block.
        string path = NibabelData.File(file);
        var all = Nifti.Read(path).ToDoubles();
        var streamed = new List<double>();
        var header = Nifti.ReadValues(path, block => streamed.AddRange(block.ToArray()), blockValues: 10_007);
        Assert.Equal(all, streamed);
        Assert.Equal(Cases[file].Shape, header.Shape);
    }

    [Fact]
    public void RealFile_TwoFileHeaderIsRefusedByName()
    {
        // nifti1.hdr is the header of a .hdr/.img pair (magic "ni1").
        var e = Assert.Throws<NiftiFormatException>(() => Nifti.Read(NibabelData.File("nifti1.hdr")));
        Assert.Equal("magic", e.Field);
        Assert.Contains("two-file pair", e.Reason);
    }
}
