using System.Globalization;
using System.Text.Json;
using Reference.Neuro.IO;
using Reference.SpecTests.Core;
using Reference.SpecTests.Neuro;

namespace Reference.SpecTests.Cli;

public class NiftiCommandTests
{
    private static Dictionary<string, string> Summary(string output) =>
        output.Split("\n\n")[0].Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => (Key: line[..12].Trim(), Value: line[12..].Trim()))
            .Where(p => p.Key.Length > 0)
            .ToDictionary(p => p.Key, p => p.Value);

    private static double Number(string s) => double.Parse(s, CultureInfo.InvariantCulture);

    /// <summary>A 4D int16 image, values 0..23 scaled by 0.5 * x + 10, TR 1500 ms, a rotation-free affine.</summary>
    private static string WriteFixture(TempDir dir, string name)
    {
        var data = Enumerable.Range(0, 24).Select(i => (short)i).ToArray();
        var image = NiftiImage.Create(data, 2, 3, 2, 2);
        var header = image.Header.WithAffine(new double[,] { { 3, 0, 0, -10 }, { 0, 3, 0, -20 }, { 0, 0, 4, 5 }, { 0, 0, 0, 1 } }, sformCode: 4, qformCode: 1) with
        {
            SclSlope = 0.5,
            SclInter = 10,
            XyztUnits = 2 | 16,
            Descrip = "cli fixture",
        };
        header = header with { Pixdim = [.. header.Pixdim.Take(4), 1500, 1, 1, 1] };
        string path = Path.Combine(dir.Path, name);
        Nifti.Write(path, image.WithHeader(header), NiftiVersion.Nifti2);
        return path;
    }

    [Fact]
    public void Nifti_PrintsSummaryAndHeader()
    {
        using var dir = new TempDir();
        string path = WriteFixture(dir, "x.nii.gz");
        var (code, output, error) = CliRunner.Run("nifti", path);
        Assert.Equal(0, code);
        Assert.Equal("", error);
        var f = Summary(output);
        Assert.Equal("NIfTI-2 (little-endian, gzip)", f["format"]);
        Assert.Equal("4: 2 x 3 x 2 x 2", f["dims"]);
        Assert.Equal("int16 (datatype 4, bitpix 16)", f["dtype"]);
        Assert.Equal("3 x 3 x 4 mm", f["voxel"]);
        Assert.Equal("1500 ms (1.5 s)", f["TR"]);
        Assert.Equal("0.5 * x + 10", f["scaling"]);
        Assert.Equal("code 4 (mni_152)", f["sform"]);
        Assert.Equal("code 1 (scanner_anat)", f["qform"]);
        Assert.Equal("[3, 0, 0, -10]  (from the sform)", f["affine"]);
        // Scaled values 10, 10.5, ..., 21.5: mean 15.75, population std 0.5 * sqrt((24^2 - 1) / 12).
        Assert.Equal("24", f["count"]);
        Assert.Equal(10.0, Number(f["min"]));
        Assert.Equal(21.5, Number(f["max"]));
        Assert.Equal(15.75, Number(f["mean"]), 1e-12);
        Assert.Equal(0.5 * Math.Sqrt((24.0 * 24 - 1) / 12), Number(f["std"]), 1e-12);
        Assert.Contains("  descrip        'cli fixture'", output);
        Assert.Contains("  dim            [4, 2, 3, 2, 2, 1, 1, 1]", output);
        Assert.Contains("  magic          'n+2'", output);
    }

    [Fact]
    public void Nifti_JsonHasTheSameContent()
    {
        using var dir = new TempDir();
        string path = WriteFixture(dir, "x.nii");
        var (code, output, _) = CliRunner.Run("nifti", "--json", path);
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.Equal(2, root.GetProperty("version").GetInt32());
        Assert.False(root.GetProperty("gzip").GetBoolean());
        Assert.Equal(new[] { 2, 3, 2, 2 }, root.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(1.5, root.GetProperty("tr_seconds").GetDouble());
        Assert.Equal(-20.0, root.GetProperty("affine")[1][3].GetDouble());
        Assert.Equal(15.75, root.GetProperty("statistics").GetProperty("mean").GetDouble(), 1e-12);
        Assert.Equal("cli fixture", root.GetProperty("header").GetProperty("descrip").GetString());
        Assert.Equal(1500.0, root.GetProperty("header").GetProperty("pixdim")[4].GetDouble());
    }

    [Fact]
    public void Nifti_RealFileStatisticsMatchNibabel()
    {
        // nibabel 5.0.0: img = nibabel.load('example4d.nii.gz'); img.get_fdata().mean(), .std() (see NiftiRealFileTests).
        var (code, output, _) = CliRunner.Run("nifti", NibabelData.File("example4d.nii.gz"));
        Assert.Equal(0, code);
        var f = Summary(output);
        Assert.Equal("589824", f["count"]);
        Assert.Equal(172.90811496310764, Number(f["mean"]), 1e-9);
        Assert.Equal(238.768099508597, Number(f["std"]), 1e-8);
        Assert.Equal("2000 s", f["TR"]);
    }

    [Fact]
    public void Negative_MalformedFileExitsTwoWithOneLineNamingTheField()
    {
        using var dir = new TempDir();
        string path = WriteFixture(dir, "x.nii");
        var bytes = File.ReadAllBytes(path);
        bytes[16] = 9; // NIfTI-2 dim[0] = 9
        File.WriteAllBytes(path, bytes);
        var (code, output, error) = CliRunner.Run("nifti", path);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Equal($"error: {path}: dim[0] = 9: the number of dimensions must be 1 to 7 (dim = [9, 2, 3, 2, 2, 1, 1, 1]).", error.TrimEnd('\n'));

        File.WriteAllBytes(path, bytes[..100]);
        (code, _, error) = CliRunner.Run("nifti", path);
        Assert.Equal(2, code);
        Assert.Single(error.TrimEnd('\n').Split('\n'));
        Assert.Contains("sizeof_hdr", error);

        (code, _, error) = CliRunner.Run("nifti", Path.Combine(dir.Path, "missing.nii"));
        Assert.Equal(2, code);
        Assert.Contains("no such file", error);
    }
}
