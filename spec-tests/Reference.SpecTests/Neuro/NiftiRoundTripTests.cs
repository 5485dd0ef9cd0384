using System.Globalization;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Core.IO;
using Reference.Neuro.IO;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Neuro;

/// <summary>
/// Write then read gives back the data bit for bit and every header field (as
/// <see cref="Nifti.AsWritten"/> predicts, and spot-checked against the values set), for every
/// datatype, NIfTI-1 and NIfTI-2, .nii and .nii.gz, both byte orders, 3 to 7 dimensions; nibabel
/// reads our files with the same data and affine.
/// </summary>
public class NiftiRoundTripTests
{
    /// <summary>An image of random bits (every bit pattern of the type, NaN payloads included) with a full header.</summary>
    internal static NiftiImage RandomImage(NiftiDataType type, int[] shape, ulong seed, double[,]? affine = null)
    {
        var header = NiftiHeader.Create(type, shape);
        var data = type.Allocate((int)header.ElementCount);
        var rng = new SplitMix64(seed);
        var bytes = NiftiImage.BytesOf(data);
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)rng.NextUInt64();
        affine ??= new double[,] { { -2, 0, 0, 90 }, { 0, 2.5, 0, -126 }, { 0, 0, 3, -72 }, { 0, 0, 0, 1 } };
        var oriented = header.WithAffine(affine, sformCode: 4, qformCode: 1);
        header = oriented with
        {
            Descrip = "round trip \u00e9 test",
            AuxFile = "aux.txt",
            IntentCode = 2001,
            IntentName = "series",
            IntentP1 = 0.5,
            SclSlope = 2,
            SclInter = -1.5,
            XyztUnits = 2 | 16,
            DimInfo = 57,
            SliceStart = 1,
            SliceEnd = shape.Length > 2 ? shape[2] - 1 : 0,
            SliceCode = 3,
            SliceDuration = 0.0625,
            Toffset = 0.25,
            CalMin = -10,
            CalMax = 250,
            Pixdim = [.. oriented.Pixdim.Take(4), 0.75, 1, 1, 1],
            Extensions = [new NiftiExtension(6, Encoding.ASCII.GetBytes("a comment")), new NiftiExtension(4, new byte[24])],
        };
        return new NiftiImage(header, data);
    }

    private static void AssertSameImage(NiftiHeader expectedHeader, NiftiImage expected, NiftiImage actual)
    {
        Assert.Equal(expected.DataType, actual.DataType);
        Assert.Equal(expected.Shape, actual.Shape);
        Assert.True(NiftiImage.BytesOf(expected.Data).SequenceEqual(NiftiImage.BytesOf(actual.Data)), "the data differ");
        Assert.Equal(expectedHeader.Fields(), actual.Header.Fields());
        Assert.Equal(
            expectedHeader.Extensions.Select(e => Convert.ToHexString(e.Content)),
            actual.Header.Extensions.Select(e => Convert.ToHexString(e.Content)));
    }

    public static TheoryData<NiftiDataType> DataTypes => new(NiftiDataTypes.All);

    [Theory]
    [MemberData(nameof(DataTypes))]
    public void RoundTrip_EveryVersionCompressionByteOrderAndRank(NiftiDataType type)
    {
        using var dir = new TempDir();
        ulong seed = 1;
        foreach (var shape in new[] { new[] { 5, 4, 3 }, [3, 2, 2, 4], [2, 1, 3, 1, 2, 1, 2] })
            foreach (var version in new[] { NiftiVersion.Nifti1, NiftiVersion.Nifti2 })
                foreach (var gz in new[] { false, true })
                    foreach (var big in new[] { false, true })
                    {
                        var image = RandomImage(type, shape, seed++);
                        string path = Path.Combine(dir.Path, $"x{seed}.nii{(gz ? ".gz" : "")}");
                        Nifti.Write(path, image, version, big);
                        var back = Nifti.Read(path);
                        AssertSameImage(Nifti.AsWritten(image.Header, version, big), image, back);
                        Assert.Equal(big, back.Header.BigEndian);
                        Assert.Equal(version, back.Header.Version);
                        Assert.Equal(gz, File.ReadAllBytes(path)[..2].SequenceEqual(new byte[] { 0x1f, 0x8b }));
                    }
    }

    [Fact]
    public void RoundTrip_FieldsSetAreTheFieldsRead()
    {
        // Independent of AsWritten: the values set, read back (all exact in float32 too).
        foreach (var version in new[] { NiftiVersion.Nifti1, NiftiVersion.Nifti2 })
        {
            var image = RandomImage(NiftiDataType.Int16, [6, 5, 4, 3], 7);
            var h = Nifti.FromBytes(Nifti.ToBytes(image, version, gzip: true)).Header;
            Assert.Equal("round trip \u00e9 test", h.Descrip);
            Assert.Equal("aux.txt", h.AuxFile);
            Assert.Equal("series", h.IntentName);
            Assert.Equal(2001, h.IntentCode);
            Assert.Equal(0.5, h.IntentP1);
            Assert.Equal(2.0, h.SclSlope);
            Assert.Equal(-1.5, h.SclInter);
            Assert.Equal(18, h.XyztUnits);
            Assert.Equal(57, h.DimInfo);
            Assert.Equal(3, h.SliceCode);
            Assert.Equal(3, h.SliceEnd);
            Assert.Equal(0.0625, h.SliceDuration);
            Assert.Equal(250.0, h.CalMax);
            Assert.Equal(4, h.SformCode);
            Assert.Equal(1, h.QformCode);
            Assert.Equal(new long[] { 4, 6, 5, 4, 3, 1, 1, 1 }, h.Dim);
            // qfac -1: the affine's determinant is negative (x flipped); TR 0.75 ms.
            Assert.Equal(new double[] { -1, 2, 2.5, 3, 0.75, 1, 1, 1 }, h.Pixdim);
            Assert.Equal(0.00075, h.RepetitionTimeSeconds!.Value, 1e-12);
            var expected = new double[,] { { -2, 0, 0, 90 }, { 0, 2.5, 0, -126 }, { 0, 0, 3, -72 }, { 0, 0, 0, 1 } };
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++)
                {
                    Assert.Equal(expected[r, c], h.Affine[r, c]);
                    Assert.Equal(expected[r, c], h.QformAffine[r, c], 1e-6);
                }
            Assert.Equal(version == NiftiVersion.Nifti1 ? 352 + 32 + 32 : 544 + 32 + 32, h.VoxOffset);
            Assert.Equal(2 * (double)image.Get<short>()[5] - 1.5, Nifti.FromBytes(Nifti.ToBytes(image, version)).Value(5, 0, 0, 0));
        }
    }

    [Fact]
    public void Edge_UnsignedAndSignedValuesKeepTheirMeaning()
    {
        // The CLR lets a ushort[] pass as a short[] (and uint[] as int[], ...); the values must not be reinterpreted.
        Assert.Equal(new double[] { 65535, 0 }, NiftiImage.Create(new ushort[] { 65535, 0 }, 2).ToDoubles());
        Assert.Equal(new double[] { -1, 0 }, NiftiImage.Create(new short[] { -1, 0 }, 2).ToDoubles());
        Assert.Equal(new double[] { 4294967295, 7 }, NiftiImage.Create(new uint[] { uint.MaxValue, 7 }, 2).ToDoubles());
        Assert.Equal(new double[] { -1, 200 }, NiftiImage.Create(new sbyte[] { -1, 100 }, 2).ToDoubles().Select((v, i) => i == 1 ? 2 * v : v).ToArray());
        Assert.Equal(new double[] { 255 }, NiftiImage.Create(new byte[] { 255 }, 1).ToDoubles());
        Assert.Equal(18446744073709551615.0, NiftiImage.Create(new ulong[] { ulong.MaxValue }, 1).Value(0));
        Assert.Equal(65535.0, Nifti.FromBytes(Nifti.ToBytes(NiftiImage.Create(new ushort[] { 65535 }, 1), bigEndian: true)).Value(0));
        Assert.Throws<InvalidOperationException>(() => NiftiImage.Create(new ushort[] { 1 }, 1).Get<short>());
    }

    [Fact]
    public void RoundTrip_WriteIsAtomicAndReplacesTheFile()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "a.nii.gz");
        Nifti.Write(path, NiftiImage.Create(new float[] { 1, 2, 3, 4, 5, 6 }, 3, 2));
        Nifti.Write(path, NiftiImage.Create(new double[] { 7, 8 }, 1, 2));
        Assert.Equal(new double[] { 7, 8 }, Nifti.Read(path).Get<double>());
        Assert.Equal(["a.nii.gz"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void Negative_WriterRefusesWhatTheFormatCannotHold()
    {
        var big = NiftiImage.Create(new byte[40000], 40000);
        var e = Assert.Throws<ArgumentException>(() => Nifti.ToBytes(big, NiftiVersion.Nifti1));
        Assert.Equal("Dim", e.ParamName);
        Assert.Equal(40000, Nifti.FromBytes(Nifti.ToBytes(big, NiftiVersion.Nifti2)).Shape[0]);

        var image = NiftiImage.Create(new float[2], 2);
        Assert.Equal("Descrip", Assert.Throws<ArgumentException>(() => Nifti.ToBytes(image.WithHeader(image.Header with { Descrip = new string('x', 81) }))).ParamName);
        Assert.Equal("AuxFile", Assert.Throws<ArgumentException>(() => Nifti.ToBytes(image.WithHeader(image.Header with { AuxFile = "\u4e2d" }))).ParamName);
        Assert.Equal("data", Assert.Throws<ArgumentException>(() => new NiftiImage(image.Header, new double[2])).ParamName);
        Assert.Equal("data", Assert.Throws<ArgumentException>(() => new NiftiImage(image.Header, new float[3])).ParamName);
    }

    /// <summary>A property case: datatype, shape (x first), version, gzip, byte order, a rigid-plus-scale affine, a seed.</summary>
    public sealed record NiftiCase(NiftiDataType Type, int[] Shape, NiftiVersion Version, bool Gzip, bool BigEndian,
        double[] Quaternion, double[] VoxelSize, double[] Offset, bool Flip, int Seed)
    {
        public override string ToString() =>
            $"{Type} [{string.Join(", ", Shape)}] {Version} gz={Gzip} big={BigEndian} q=({string.Join(", ", Quaternion.Select(v => v.ToString("G4", CultureInfo.InvariantCulture)))}) " +
            $"d=({string.Join(", ", VoxelSize)}) flip={Flip} seed={Seed}";

        public double[,] Affine =>
            NiftiAffine.QuaternionToMatrix(new NiftiQuaternion(Quaternion[1], Quaternion[2], Quaternion[3],
                Offset[0], Offset[1], Offset[2], VoxelSize[0], VoxelSize[1], VoxelSize[2], Flip ? -1 : 1));

        public static Arbitrary<NiftiCase> Arbitrary() =>
            (from type in Gen.Elements(NiftiDataTypes.All.ToArray())
             from rank in Gen.Choose(1, 7)
             from shape in Gen.Elements(1, 2, 3, 5).ArrayOf(rank)
             from version in Gen.Elements(NiftiVersion.Nifti1, NiftiVersion.Nifti2)
             from gzip in ArbMap.Default.GeneratorFor<bool>()
             from big in ArbMap.Default.GeneratorFor<bool>()
             from q in Gen.Choose(-1000, 1000).ArrayOf(4)
             from size in Gen.Elements(0.5, 1, 1.5, 2, 3.25).ArrayOf(3)
             from offset in Gen.Choose(-200, 200).ArrayOf(3)
             from flip in ArbMap.Default.GeneratorFor<bool>()
             from seed in Cases.Seed
             select new NiftiCase(type, shape, version, gzip, big, Normalize(q), size, [.. offset.Select(o => o * 0.5)], flip, seed)).ToArbitrary();

        /// <summary>A unit quaternion with a &gt;= 0 (as the qform stores it); the zero draw becomes the identity.</summary>
        private static double[] Normalize(int[] q)
        {
            double norm = Math.Sqrt(q.Sum(v => (double)v * v));
            if (norm == 0) return [1, 0, 0, 0];
            double sign = q[0] < 0 ? -1 : 1;
            return [.. q.Select(v => sign * v / norm)];
        }
    }

    [Property(Arbitrary = [typeof(NiftiCase)])]
    public void Property_WriteReadIsIdentityAndKeepsTheAffine(NiftiCase c)
    {
        var affine = c.Affine;
        var image = RandomImage(c.Type, c.Shape, (ulong)c.Seed, affine);
        var back = Nifti.FromBytes(Nifti.ToBytes(image, c.Version, c.BigEndian, c.Gzip));
        AssertSameImage(Nifti.AsWritten(image.Header, c.Version, c.BigEndian), image, back);

        // The sform keeps the affine to the storage precision; the qform (quaternion, voxel sizes,
        // qfac) rebuilds it to the quaternion's precision: float64 in NIfTI-2; float32 in NIfTI-1,
        // where a = sqrt(1 - b^2 - c^2 - d^2) loses digits near 180-degree rotations (small a:
        // an error of 1e-7 in the radicand moves a by 1e-7 / 2a, up to ~1e-4 for the draws here).
        double storage = c.Version == NiftiVersion.Nifti1 ? 1e-6 : 1e-13;
        double quaternion = c.Version == NiftiVersion.Nifti1 ? 5e-4 : 1e-9;
        for (int r = 0; r < 4; r++)
            for (int k = 0; k < 4; k++)
            {
                double scale = Math.Max(1, Math.Abs(affine[r, k]));
                Assert.Equal(affine[r, k], back.Header.Affine[r, k], storage * scale);
                Assert.Equal(affine[r, k], back.Header.QformAffine[r, k], quaternion * scale);
            }
        Assert.Equal(c.Flip ? -1.0 : 1.0, back.Header.Qfac);
    }

    [Fact]
    public void Nibabel_ReadsOurFilesWithTheSameDataAndAffine()
    {
        NibabelData.RequireNibabel();
        using var dir = new TempDir();
        var affine = new double[,] { { -1.5, 0.1, 0, 80 }, { 0, 1.5, -0.2, -110 }, { 0.05, 0.2, 2.5, -60 }, { 0, 0, 0, 1 } };
        var cases = new (string File, NiftiDataType Type, int[] Shape, NiftiVersion Version, bool Big)[]
        {
            ("i16_3d.nii", NiftiDataType.Int16, [7, 6, 5], NiftiVersion.Nifti1, false),
            ("f32_4d_be.nii.gz", NiftiDataType.Float32, [4, 5, 3, 6], NiftiVersion.Nifti1, true),
            ("f64_4d.nii.gz", NiftiDataType.Float64, [3, 4, 5, 2], NiftiVersion.Nifti2, false),
            ("u8_3d.nii", NiftiDataType.UInt8, [9, 2, 3], NiftiVersion.Nifti2, true),
            ("i32_5d.nii", NiftiDataType.Int32, [2, 3, 2, 2, 3], NiftiVersion.Nifti1, false),
            ("u16_3d.nii.gz", NiftiDataType.UInt16, [5, 5, 5], NiftiVersion.Nifti1, false),
            ("i8_4d.nii", NiftiDataType.Int8, [3, 3, 3, 3], NiftiVersion.Nifti2, false),
        };
        var script = new StringBuilder("import sys, numpy as np, nibabel as nib\nd = sys.argv[1]\n");
        foreach (var (file, type, shape, version, big) in cases)
        {
            var image = RandomImage(type, shape, (ulong)file.Length, affine);
            if (type is NiftiDataType.Float32 or NiftiDataType.Float64)
            {
                // Finite values: random bits would include NaNs, which compare unequal.
                var rng = new SplitMix64(11);
                if (image.Data is float[] f) for (int i = 0; i < f.Length; i++) f[i] = (float)rng.Normal(0, 100);
                if (image.Data is double[] g) for (int i = 0; i < g.Length; i++) g[i] = rng.Normal(0, 100);
            }
            Nifti.Write(Path.Combine(dir.Path, file), image, version, big);
            Npy.Write(Path.Combine(dir.Path, file + ".values.npy"), NpyArray.Of(image.ToDoubles(), (int)image.Count));
            script.Append(CultureInfo.InvariantCulture, $"""
                img = nib.load(d + '/{file}')
                assert isinstance(img, nib.Nifti{(int)version}Image), type(img)
                assert img.shape == ({string.Join(", ", shape)},), img.shape
                assert img.get_data_dtype().name == '{type.NumpyName()}', img.get_data_dtype()
                assert img.header.endianness == '{(big ? ">" : "<")}'
                expected = np.load(d + '/{file}.values.npy').reshape(img.shape, order='F')
                got = img.get_fdata()
                assert np.allclose(got, expected, rtol=1e-15, atol=0), ('{file} data', got.ravel(order='F')[:8], expected.ravel(order='F')[:8], img.dataobj.slope, img.dataobj.inter)
                assert (img.dataobj.slope, img.dataobj.inter) == (2.0, -1.5), (img.dataobj.slope, img.dataobj.inter)
                assert np.allclose(img.affine, np.array({Python(affine)}), rtol=0, atol=1e-5), img.affine
                assert np.allclose(img.get_qform(), np.array({Python(Nifti.FromBytes(Nifti.ToBytes(image, version)).Header.QformAffine)}), rtol=0, atol=1e-5), img.get_qform()
                assert img.header['descrip'].item().decode('latin-1') == 'round trip \u00e9 test'
                assert int(img.header['intent_code']) == 2001 and int(img.header['xyzt_units']) == 18
                assert [e.get_code() for e in img.header.extensions] == [6, 4]

                """);
        }
        script.Append("print('ok')\n");
        var (code, output) = NpyTests.RunPython(script.ToString(), dir.Path);
        Assert.True(code == 0, output);
        Assert.Contains("ok", output);
    }

    private static string Python(double[,] m) =>
        "[" + string.Join(", ", Enumerable.Range(0, 4).Select(r =>
            "[" + string.Join(", ", Enumerable.Range(0, 4).Select(c => m[r, c].ToString("R", CultureInfo.InvariantCulture))) + "]")) + "]";
}
