using System.Diagnostics;
using System.Numerics;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Core.IO;

namespace Reference.SpecTests.Core;

/// <summary>An NPY case: dtype, shape (rank 0-4, zero dimensions allowed), values from SplitMix64(Seed).</summary>
public sealed record NpyCase(NpyDType DType, int[] Shape, int Seed)
{
    private static readonly int[] Dims = [0, 1, 2, 3, 7, 8, 9, 16, 17];

    public static Arbitrary<NpyCase> Arbitrary() =>
        (from dtype in Gen.Elements(Enum.GetValues<NpyDType>())
         from rank in Gen.Choose(0, 4)
         from shape in Gen.Elements(Dims).ArrayOf(rank)
         where shape.Aggregate(1L, (p, d) => p * d) <= 5000
         from seed in Cases.Seed
         select new NpyCase(dtype, shape, seed)).ToArbitrary();

    public NpyArray Build() => NpyValues.Random(DType, Shape, (ulong)Seed);

    public override string ToString() => $"NpyCase({DType}, ({string.Join(", ", Shape)}), seed {Seed})";
}

/// <summary>Random arrays with the awkward values a format must carry bit for bit.</summary>
public static class NpyValues
{
    private static readonly double[] Specials =
        [double.NaN, double.PositiveInfinity, double.NegativeInfinity, -0.0, double.Epsilon, double.MaxValue, 1e-310];

    public static NpyArray Random(NpyDType dtype, int[] shape, ulong seed)
    {
        var rng = new SplitMix64(seed);
        int count = (int)Shapes.ElementCount(shape, nameof(shape));
        double Real() => rng.NextInt(16) == 0 ? Specials[rng.NextInt(Specials.Length)] : rng.Normal() * Math.Pow(10, rng.NextInt(7) - 3);
        return dtype switch
        {
            NpyDType.Float32 => NpyArray.Of(Enumerable.Range(0, count).Select(_ => (float)Real()).ToArray(), shape),
            NpyDType.Float64 => NpyArray.Of(Enumerable.Range(0, count).Select(_ => Real()).ToArray(), shape),
            NpyDType.Int32 => NpyArray.Of(Enumerable.Range(0, count).Select(_ => (int)rng.NextUInt64()).ToArray(), shape),
            NpyDType.Int64 => NpyArray.Of(Enumerable.Range(0, count).Select(_ => (long)rng.NextUInt64()).ToArray(), shape),
            NpyDType.Complex128 => NpyArray.Of(Enumerable.Range(0, count).Select(_ => new Complex(Real(), Real())).ToArray(), shape),
            NpyDType.Bool => NpyArray.Of(Enumerable.Range(0, count).Select(_ => (rng.NextUInt64() & 1) == 1).ToArray(), shape),
            _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
        };
    }

    /// <summary>The preamble + padded header numpy writes, spelled out from the format rules.</summary>
    public static byte[] Preamble(int major, string dictText, int totalHeaderBytes)
    {
        int lengthField = major == 1 ? 2 : 4;
        int headerLength = totalHeaderBytes - 8 - lengthField;
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0 };
        bytes.AddRange(BitConverter.GetBytes(headerLength).Take(lengthField));
        var text = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetBytes(dictText);
        bytes.AddRange(text);
        bytes.AddRange(Enumerable.Repeat((byte)' ', headerLength - text.Length - 1));
        bytes.Add((byte)'\n');
        return [.. bytes];
    }

    public static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];

    public static byte[] LittleEndian(params double[] values) => [.. values.SelectMany(BitConverter.GetBytes)];
}

public class NpyTests
{
    [Property(Arbitrary = [typeof(NpyCase)])]
    public void Property_RoundTrip_IsBitExact(NpyCase c)
    {
        var array = c.Build();
        var back = Npy.FromBytes(Npy.ToBytes(array));
        Assert.Equal(array.DType, back.DType);
        Assert.Equal(array.ShapeArray, back.ShapeArray);
        Assert.True(array.Equals(back), $"{c}: the elements changed in the round trip");
    }

    [Property(Arbitrary = [typeof(NpyCase)])]
    public void Property_Layout_HeaderAlignedAndDataSizedByShape(NpyCase c)
    {
        var array = c.Build();
        var bytes = Npy.ToBytes(array);
        int headerLength = BitConverter.ToUInt16(bytes, 8);
        int offset = 10 + headerLength;
        Assert.Equal(1, bytes[6]);
        Assert.Equal(0, offset % 64);
        Assert.Equal((byte)'\n', bytes[offset - 1]);
        Assert.Equal(offset + (long)array.Count * c.DType.ItemSize(), bytes.Length);
        string expectedDict = $"{{'descr': '{c.DType.Descr()}', 'fortran_order': False, 'shape': {Npy.ShapeRepr([.. c.Shape.Select(d => (long)d)])}, }}";
        Assert.Equal(expectedDict, Encoding.ASCII.GetString(bytes, 10, headerLength).TrimEnd(' ', '\n'));
    }

    [Property(Arbitrary = [typeof(NpyCase)], MaxTest = 15)]
    public void Property_FileRoundTrip_AtomicWriteLeavesNoTemporaryFile(NpyCase c)
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "a.npy");
        var array = c.Build();
        Npy.Write(path, NpyArray.Of(new double[] { 1, 2 }, 2));
        Npy.Write(path, array);
        Assert.True(array.Equals(Npy.Read(path, out var header)));
        Assert.Equal("1.0", header.Version);
        Assert.Equal([path], Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void Golden_Float64_2x3_MatchesTheFormatRulesByteForByte()
    {
        // numpy's header for a (2, 3) <f8 array: the dict with sorted keys, 21 - len("2") = 20
        // spaces of growth room, then spaces and '\n' up to 128 bytes (10-byte preamble + 118).
        const string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
        Assert.Equal(59, dict.Length);
        var expected = NpyValues.Concat(NpyValues.Preamble(1, dict, 128), NpyValues.LittleEndian(0, 1, 2, 3, 4, 5));
        Assert.Equal(0x76, expected[8]);
        Assert.Equal(0x00, expected[9]);
        var actual = Npy.ToBytes(NpyArray.Of(new double[] { 0, 1, 2, 3, 4, 5 }, 2, 3));
        Assert.Equal(expected, actual);
        Assert.True(Npy.FromBytes(expected).Equals(NpyArray.Of(new double[] { 0, 1, 2, 3, 4, 5 }, 2, 3)));
    }

    [Fact]
    public void Golden_ScalarEmptyBoolComplexInt32_MatchTheFormatRules()
    {
        // A 0-d array has no growth room; every other header gets 21 - len(str(shape[0])) spaces.
        Assert.Equal(
            NpyValues.Concat(NpyValues.Preamble(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 128), BitConverter.GetBytes(1.5f)),
            Npy.ToBytes(NpyArray.Of(new[] { 1.5f })));
        Assert.Equal(
            NpyValues.Preamble(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (0,), }", 128),
            Npy.ToBytes(NpyArray.Of(Array.Empty<long>(), 0)));
        Assert.Equal(
            NpyValues.Concat(NpyValues.Preamble(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", 128), [1, 0, 1]),
            Npy.ToBytes(NpyArray.Of(new[] { true, false, true }, 3)));
        Assert.Equal(
            NpyValues.Concat(NpyValues.Preamble(1, "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", 128), NpyValues.LittleEndian(1.0, -2.0)),
            Npy.ToBytes(NpyArray.Of(new[] { new Complex(1, -2) }, 1)));
        Assert.Equal(
            NpyValues.Concat(NpyValues.Preamble(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2, 1), }", 128), BitConverter.GetBytes(-7), BitConverter.GetBytes(9)),
            Npy.ToBytes(NpyArray.Of(new[] { -7, 9 }, 1, 2, 1)));
    }

    [Fact]
    public void Golden_AlignedDictGainsAFullBlockOfPadding()
    {
        // numpy pads by 64 - (10 + len + 1) % 64, which is 64 (never 0) when already aligned.
        // Shape (1, 1, ..., 1) with growth room: find a rank whose dict + '\n' ends exactly on 64.
        for (int rank = 1; rank < 40; rank++)
        {
            var shape = Enumerable.Repeat(1, rank).ToArray();
            string dict = Npy.HeaderDictText(NpyDType.Float64, shape);
            if ((10 + dict.Length + 1) % 64 != 0) continue;
            var bytes = Npy.ToBytes(NpyArray.Of(new double[1], shape));
            Assert.Equal(10 + dict.Length + 1 + 64 + 8, bytes.Length);
            return;
        }
        Assert.Fail("no rank gave an aligned dict; the fixture needs another shape family");
    }

    [Fact]
    public void Golden_Version2And3Headers_AreRead()
    {
        const string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
        var v2 = NpyValues.Concat(NpyValues.Preamble(2, dict, 128), NpyValues.LittleEndian(3, 4));
        var a2 = Npy.FromBytes(v2);
        Assert.Equal(new double[] { 3, 4 }, a2.Get<double>());
        using var dir = new TempDir();
        string p3 = Path.Combine(dir.Path, "v3.npy");
        var v3 = NpyValues.Concat(NpyValues.Preamble(3, "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", 128), BitConverter.GetBytes(42));
        File.WriteAllBytes(p3, v3);
        Assert.Equal(new[] { 42 }, Npy.Read(p3, out var header).Get<int>());
        Assert.Equal("3.0", header.Version);
    }

    [Fact]
    public void Edge_HugeShapeWritesVersion2AndReadsBack()
    {
        // 30000 unit dimensions make a header longer than the 65535 bytes version 1.0 can describe.
        var shape = Enumerable.Repeat(1, 30000).ToArray();
        var array = NpyArray.Of(new[] { 2.5 }, shape);
        var bytes = Npy.ToBytes(array);
        Assert.Equal(2, bytes[6]);
        Assert.Equal(0, (12 + (int)BitConverter.ToUInt32(bytes, 8)) % 64);
        Assert.True(array.Equals(Npy.FromBytes(bytes)));
    }

    [Fact]
    public void Edge_BigEndianFilesAreByteSwapped()
    {
        byte[] Be(double v) => [.. BitConverter.GetBytes(v).Reverse()];
        var f8 = NpyValues.Concat(NpyValues.Preamble(1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", 128), Be(1.25), Be(-3e300));
        Assert.Equal(new[] { 1.25, -3e300 }, Npy.FromBytes(f8).Get<double>());
        var i4 = NpyValues.Concat(NpyValues.Preamble(1, "{'descr': '>i4', 'fortran_order': False, 'shape': (1,), }", 128), [0x01, 0x02, 0x03, 0x04]);
        Assert.Equal(new[] { 0x01020304 }, Npy.FromBytes(i4).Get<int>());
        var c16 = NpyValues.Concat(NpyValues.Preamble(1, "{'descr': '>c16', 'fortran_order': False, 'shape': (1,), }", 128), Be(0.5), Be(-7));
        Assert.Equal(new Complex(0.5, -7), Npy.FromBytes(c16).Get<Complex>()[0]);
        var f4 = NpyValues.Concat(NpyValues.Preamble(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", 128), [.. BitConverter.GetBytes(3.5f).Reverse()]);
        Assert.Equal(new[] { 3.5f }, Npy.FromBytes(f4).Get<float>());
    }

    [Fact]
    public void Edge_NativeOrderSpacingKeyOrderAndTrailingCommasAreTolerated()
    {
        string[] dicts =
        [
            "{'descr': '=f8', 'fortran_order': False, 'shape': (2,)}",
            "{\"shape\":(2 ,) ,\"descr\":\"<f8\",'fortran_order':False,}",
            "{ 'fortran_order' : False , 'shape' : ( 2 , ) , 'descr' : 'f8' }",
            "{'descr': '<f8',\n 'fortran_order': False,\n 'shape': (2,), }",
        ];
        foreach (var dict in dicts)
        {
            int total = (10 + dict.Length + 1 + 63) / 64 * 64;
            var bytes = NpyValues.Concat(NpyValues.Preamble(1, dict, total), NpyValues.LittleEndian(-1, 8));
            Assert.Equal(new[] { -1.0, 8.0 }, Npy.FromBytes(bytes, dict).Get<double>());
        }
        var unaligned = NpyValues.Concat(NpyValues.Preamble(1, "{'descr':'<f8','fortran_order':False,'shape':()}", 10 + 49), NpyValues.LittleEndian(7));
        Assert.Equal(new[] { 7.0 }, Npy.FromBytes(unaligned).Get<double>());
    }

    [Fact]
    public void Edge_BoolBytesOtherThanOneReadAsTrueAndWriteAsOne()
    {
        var bytes = NpyValues.Concat(NpyValues.Preamble(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", 128), [0, 2, 255]);
        var array = Npy.FromBytes(bytes);
        Assert.Equal(new[] { false, true, true }, array.Get<bool>());
        Assert.Equal(new byte[] { 0, 1, 1 }, Npy.ToBytes(array)[^3..]);
    }

    [Fact]
    public void Property_TensorConversion_PreservesShapeAndValues()
    {
        var rng = new SplitMix64(5);
        var t = rng.NormalTensor<double>(0, 1, 3, 7);
        var back = Npy.FromBytes(Npy.ToBytes(NpyArray.FromTensor(t)));
        Assert.Equal(NpyDType.Float64, back.DType);
        Assert.Equal(t.Data, back.ToTensorDouble().Data);
        Assert.Equal(t.ShapeArray, back.ToTensorDouble().ShapeArray);
        var f = t.Cast<float>();
        var fa = NpyArray.FromTensor(f);
        Assert.Equal(NpyDType.Float32, fa.DType);
        Assert.Equal(f.Data, Npy.FromBytes(Npy.ToBytes(fa)).ToTensorFloat().Data);
        Assert.Equal(new[] { 1.0, 0.0 }, NpyArray.Of(new[] { true, false }, 2).ToDoubles());
        Assert.Equal(new[] { -3.0, 1e12 }, NpyArray.Of(new[] { -3L, 1_000_000_000_000L }, 2).ToDoubles());
        Assert.Throws<InvalidOperationException>(() => NpyArray.Of(new[] { Complex.One }, 1).ToTensorDouble());
        Assert.Throws<InvalidOperationException>(() => fa.Get<double>());
    }

    [Fact]
    public void Negative_NpyArrayValidatesItsShape()
    {
        var e = Assert.Throws<ArgumentException>(() => NpyArray.Of(new double[5], 2, 3));
        Assert.Equal("data", e.ParamName);
        Assert.Contains("6", e.Message);
        Assert.Throws<ArgumentException>(() => NpyArray.Of(new double[0], -1));
    }

    [Fact]
    public void Golden_NumpyWritesTheSameBytesAndReadsOurs()
    {
        if (!NumpyAvailable.Value) Assert.Skip("/usr/bin/python3 with numpy is not installed");
        using var dir = new TempDir();
        var cases = new (string Name, NpyArray Array, string Numpy)[]
        {
            ("f8_2x3", NpyArray.Of(Enumerable.Range(0, 6).Select(i => i * 0.5 - 1).ToArray(), 2, 3), "np.arange(6, dtype='<f8').reshape(2, 3) * 0.5 - 1"),
            ("f4_scalar", NpyArray.Of(new[] { 1.5f }), "np.array(1.5, dtype='<f4')"),
            ("i4_0x3", NpyArray.Of(Array.Empty<int>(), 0, 3), "np.zeros((0, 3), dtype='<i4')"),
            ("i8_big", NpyArray.Of(Enumerable.Range(0, 123456).Select(i => (long)i * 1_000_003).ToArray(), 123456), "np.arange(123456, dtype='<i8') * 1000003"),
            ("c16_3", NpyArray.Of(new[] { new Complex(0, 1), new Complex(2, -3), new Complex(-0.25, 0) }, 3), "np.array([1j, 2-3j, -0.25], dtype='<c16')"),
            ("b1_2x2x1", NpyArray.Of(new[] { true, false, false, true }, 2, 2, 1), "np.array([True, False, False, True]).reshape(2, 2, 1)"),
        };
        var script = new StringBuilder("import numpy as np, sys\nd = sys.argv[1]\n");
        foreach (var (name, array, numpy) in cases)
        {
            Npy.Write(Path.Combine(dir.Path, $"cs_{name}.npy"), array);
            script.Append($"a = {numpy}\nnp.save(d + '/np_{name}.npy', a)\n");
            script.Append($"b = np.load(d + '/cs_{name}.npy', allow_pickle=False)\n");
            script.Append($"assert b.dtype == a.dtype and b.shape == a.shape and np.array_equal(a, b), '{name}'\n");
        }
        var (code, output) = RunPython(script.ToString(), dir.Path);
        Assert.True(code == 0, output);
        foreach (var (name, array, _) in cases)
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir.Path, $"np_{name}.npy")), Npy.ToBytes(array));
    }

    internal static readonly Lazy<bool> NumpyAvailable = new(() =>
        File.Exists("/usr/bin/python3") && RunPython("import numpy", Path.GetTempPath()).Code == 0);

    internal static (int Code, string Output) RunPython(string script, string argument)
    {
        var info = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        info.ArgumentList.Add("-");
        info.ArgumentList.Add(argument);
        using var process = Process.Start(info)!;
        process.StandardInput.Write(script);
        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }
}

/// <summary>A fresh directory under the system temp folder, deleted on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "reference-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
    }
}
