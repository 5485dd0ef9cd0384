using System.Buffers.Binary;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Core.IO;

namespace Reference.SpecTests.Core;

/// <summary>A set of 0-4 tensors (float, double, long) with random shapes, plus optional metadata.</summary>
public sealed record SafetensorsCase(int[][] Shapes, int[] Kinds, bool WithMetadata, int Seed)
{
    public static Arbitrary<SafetensorsCase> Arbitrary() =>
        (from count in Gen.Choose(0, 4)
         from shapes in Gen.ArrayOf(
             from rank in Gen.Choose(0, 3)
             from dims in Gen.ArrayOf(Gen.Elements(0, 1, 2, 3, 7, 9), rank)
             select dims, count)
         from kinds in Gen.ArrayOf(Gen.Choose(0, 2), count)
         from meta in ArbMap.Default.GeneratorFor<bool>()
         from seed in Cases.Seed
         select new SafetensorsCase(shapes, kinds, meta, seed)).ToArbitrary();

    public override string ToString() =>
        $"SafetensorsCase([{string.Join(", ", Shapes.Select(s => Reference.Core.Shapes.Format(s)))}], kinds [{string.Join(", ", Kinds)}], metadata {WithMetadata}, {Seed})";
}

/// <summary>safetensors: bit-exact round trips, a byte-exact fixture from the published format, and every malformed-file error.</summary>
public class SafetensorsTests
{
    [Property(Arbitrary = [typeof(SafetensorsCase)])]
    public void Property_RoundTrip_IsBitExact(SafetensorsCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var tensors = new Dictionary<string, SafetensorsTensor>();
        for (int i = 0; i < c.Shapes.Length; i++)
        {
            string name = $"layers.{i}.{(i % 2 == 0 ? "weight" : "état")}";
            var shape = c.Shapes[i];
            tensors[name] = c.Kinds[i] switch
            {
                0 => SafetensorsTensor.FromTensor(WithSpecialValues(rng.NormalTensor<float>(0, 1, shape))),
                1 => SafetensorsTensor.FromTensor(WithSpecialValues(rng.NormalTensor<double>(0, 1, shape))),
                _ => SafetensorsTensor.FromInt64(
                    Enumerable.Range(0, (int)Shapes.ElementCount(shape, "shape")).Select(_ => (long)rng.NextUInt64()).ToArray(), shape),
            };
        }
        var metadata = c.WithMetadata ? new Dictionary<string, string> { ["format"] = "pt", ["note"] = "quote \" and \\ ünïcode" } : null;
        var bytes = Safetensors.Serialize(tensors, metadata);
        Assert.Equal(0, (8 + (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes)) % 8);

        var read = Safetensors.Deserialize(bytes);
        Assert.Equal(tensors.Keys.Order(StringComparer.Ordinal), read.Tensors.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, expected) in tensors)
        {
            var actual = read.Tensors[name];
            Assert.Equal(expected.DType, actual.DType);
            Assert.Equal(expected.Shape, actual.Shape);
            Assert.Equal(expected.Bytes, actual.Bytes);
        }
        Assert.Equal(metadata ?? new Dictionary<string, string>(), read.Metadata);
        Assert.Equal(bytes, Safetensors.Serialize(read.Tensors, read.Metadata)); // canonical: a second write is identical
    }

    /// <summary>NaN payloads, signed zeros, subnormals and infinities must survive bit for bit.</summary>
    private static Tensor<T> WithSpecialValues<T>(Tensor<T> t) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        T[] special = [T.NaN, T.NegativeZero, T.Epsilon, T.NegativeInfinity, T.PositiveInfinity];
        for (int i = 0; i < Math.Min(t.Length, special.Length); i++) t.Data[i] = special[i];
        return t;
    }

    [Fact]
    public void Property_FileRoundTrip_FloatDoubleLong()
    {
        var rng = new SplitMix64(17);
        var w = rng.NormalTensor<float>(0, 1, 7, 9);
        var b = rng.NormalTensor<double>(0, 1, 9);
        var dir = Directory.CreateTempSubdirectory("safetensors");
        try
        {
            string path = Path.Combine(dir.FullName, "model.safetensors");
            Safetensors.Write(path, new Dictionary<string, SafetensorsTensor>
            {
                ["w"] = SafetensorsTensor.FromTensor(w),
                ["b"] = SafetensorsTensor.FromTensor(b),
                ["step"] = SafetensorsTensor.FromInt64([long.MinValue, 3, long.MaxValue], 3),
            }, new Dictionary<string, string> { ["format"] = "pt" });
            var file = Safetensors.Read(path);
            Assert.Equal(w.ShapeArray, file.Get<float>("w").ShapeArray);
            Assert.Equal(w.Data, file.Get<float>("w").Data);
            Assert.Equal(b.Data, file.Get<double>("b").Data);
            Assert.Equal([long.MinValue, 3, long.MaxValue], file.Tensors["step"].ToInt64Array());
            Assert.Equal(w.Data.Select(v => (double)v), file.Get<double>("w").Data); // F32 widens exactly
            Assert.Throws<KeyNotFoundException>(() => file.Get<float>("missing"));
            Assert.Throws<InvalidOperationException>(() => file.Get<float>("step"));

            Safetensors.Write(path, new Dictionary<string, Tensor<float>> { ["only"] = w });
            Assert.Equal(["only"], Safetensors.Read(path).Tensors.Keys);
            Assert.Equal(["model.safetensors"], dir.GetFiles().Select(f => f.Name)); // no temporary left behind
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>The fixture's header is 138 bytes, padded with 6 spaces to 144 so the data starts at byte 152 = 19 * 8.</summary>
    private const string FixtureHeader =
        "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]}}";

    private static byte[] Fixture() =>
    [
        0x90, 0, 0, 0, 0, 0, 0, 0,                          // N = 144, u64 little-endian
        .. Encoding.ASCII.GetBytes(FixtureHeader), .. "      "u8,
        0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0,     // a: F32 [1.0, -2.0]
        0x07, 0, 0, 0, 0, 0, 0, 0,                          // b: I64 scalar 7
    ];

    [Fact]
    public void Golden_WriterProducesTheHandWrittenFixture_AndReaderDecodesIt()
    {
        var fixture = Fixture();
        Assert.Equal(168, fixture.Length);
        var written = Safetensors.Serialize(new Dictionary<string, SafetensorsTensor>
        {
            ["b"] = SafetensorsTensor.FromInt64([7]),
            ["a"] = SafetensorsTensor.FromTensor(Tensor<float>.FromSpan([1f, -2f], 2)),
        }, new Dictionary<string, string> { ["format"] = "pt" });
        Assert.Equal(fixture, written);

        var read = Safetensors.Deserialize(fixture);
        Assert.Equal([1f, -2f], read.Get<float>("a").Data);
        Assert.Empty(read.Tensors["b"].Shape);
        Assert.Equal([7L], read.Tensors["b"].ToInt64Array());
        Assert.Equal("pt", read.Metadata["format"]);
    }

    [Fact]
    public void Golden_ReaderAcceptsOtherWritersLayouts()
    {
        // Entries listed out of buffer order, no metadata, whitespace inside the JSON, BF16 and F16 data.
        string header = "{ \"y\" : {\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[4,8]},\n \"x\":{\"shape\":[2],\"dtype\":\"F16\",\"data_offsets\":[0,4]} }";
        byte[] data = [0x00, 0x3C, 0x00, 0xC0, 0x80, 0x3F, 0x40, 0xC0]; // F16 1, -2; BF16 1, -3
        var read = Safetensors.Deserialize(Build(header, data));
        Assert.Equal([1.0, -2.0], read.Get<double>("x").Data);
        Assert.Equal([1f, -3f], read.Get<float>("y").Data);
        Assert.Empty(read.Metadata);
    }

    private static byte[] Build(string header, byte[] data, ulong? claimedLength = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, claimedLength ?? (ulong)h.Length);
        h.CopyTo(file, 8);
        data.CopyTo(file, 8 + h.Length);
        return file;
    }

    private static void AssertMalformed(byte[] file, string reasonFragment)
    {
        var e = Assert.Throws<SafetensorsFormatException>(() => Safetensors.Deserialize(file, "bad.safetensors"));
        Assert.Equal("bad.safetensors", e.File);
        Assert.Contains(reasonFragment, e.Reason);
        Assert.StartsWith("bad.safetensors: ", e.Message);
    }

    [Fact]
    public void Negative_TruncatedFiles()
    {
        var fixture = Fixture();
        AssertMalformed(fixture[..5], "fewer than the 8-byte header length");
        AssertMalformed(fixture[..100], "runs past the end of the file");
        AssertMalformed(fixture[..160], "past the end of the data");
        AssertMalformed(fixture[..152], "past the end of the data");
        AssertMalformed([.. fixture, 0], "1 trailing bytes");
    }

    [Fact]
    public void Negative_HugeHeaderLength_FailsBeforeAllocating()
    {
        AssertMalformed(Build("{}", [], ulong.MaxValue), "exceeds the limit");
        AssertMalformed(Build("{}", [], (ulong)Safetensors.MaxHeaderBytes + 1), "exceeds the limit");
        AssertMalformed(Build("{}", [], 50_000_000), "runs past the end of the file");
    }

    [Fact]
    public void Negative_CorruptedHeaders()
    {
        AssertMalformed(Build("[1, 2]", []), "must start with '{'");
        AssertMalformed(Build("{\"a\": ", []), "not valid UTF-8 JSON");
        var invalidUtf8 = Build("{\"a\":1}", []);
        invalidUtf8[10] = 0xFF;
        AssertMalformed(invalidUtf8, "not valid UTF-8 JSON");
        AssertMalformed(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]), "names 'a' twice");
        AssertMalformed(Build("{\"a\":{\"dtype\":\"F24\",\"shape\":[1],\"data_offsets\":[0,3]}}", new byte[3]), "unsupported dtype 'F24'");
        AssertMalformed(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", new byte[4]), "shape[0] = -1");
        AssertMalformed(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", new byte[8]), "needs 12");
        AssertMalformed(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", new byte[8]), "0 <= begin <= end");
        AssertMalformed(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", new byte[8]), "data_offsets must be");
        AssertMalformed(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", new byte[8]), "unknown field 'extra'");
        AssertMalformed(Build("{\"__metadata__\":{\"n\":3}}", []), "metadata 'n' must be a string");
        AssertMalformed(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[65536,65536],\"data_offsets\":[0,8]}}", new byte[8]), "more than");
    }

    [Fact]
    public void Negative_OverlapsAndGaps()
    {
        AssertMalformed(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]), "overlaps tensor 'a'");
        AssertMalformed(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", new byte[12]), "leaving a gap");
        AssertMalformed(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]), "leaving a gap after the buffer start");
    }

    [Fact]
    public void Negative_WriterRefusesBadInput_AndKeepsTheOldFile()
    {
        var dir = Directory.CreateTempSubdirectory("safetensors");
        try
        {
            string path = Path.Combine(dir.FullName, "ckpt.safetensors");
            Safetensors.Write(path, new Dictionary<string, Tensor<double>> { ["x"] = Tensor<double>.Full(1.5, 3) });
            var before = File.ReadAllBytes(path);
            var bad = new Dictionary<string, SafetensorsTensor> { ["__metadata__"] = SafetensorsTensor.FromInt64([1]) };
            Assert.Equal("tensors", Assert.Throws<ArgumentException>(() => Safetensors.Write(path, bad)).ParamName);
            Assert.Equal(before, File.ReadAllBytes(path));
            Assert.Single(dir.GetFiles());
            Assert.Equal("bytes", Assert.Throws<ArgumentException>(() => new SafetensorsTensor(SafetensorsDType.F32, [3], new byte[8])).ParamName);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
