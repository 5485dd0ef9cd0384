using System.Numerics;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Core.IO;
using Reference.Operators.StateSpace;
using Reference.SpecTests.Core;
using Reference.SpecTests.Golden;
using static Reference.SpecTests.Operators.Attention.AttentionCheck;

namespace Reference.SpecTests.Operators.StateSpace;

/// <summary>A fast Mamba block case: widths and state sizes around the vector widths, conv widths 1 to 4, L = 1 to 33.</summary>
public sealed record MambaFastCase(int B, int D, int N, int Expand, int K, int L, int Seed)
{
    public static Arbitrary<MambaFastCase> Arbitrary() =>
        (from b in Gen.Elements(1, 2)
         from d in Gen.Elements(1, 4, 8, 17)
         from n in Gen.Elements(1, 4, 9, 16)
         from expand in Gen.Elements(1, 2)
         from k in Gen.Elements(1, 3, 4)
         from l in Gen.Elements(1, 7, 8, 9, 33)
         from seed in Cases.Seed
         select new MambaFastCase(b, d, n, expand, k, l, seed)).ToArbitrary();

    public MambaParameters Parameters() => MambaParameters.Initialize(new SplitMix64((ulong)Seed), D, N, Expand, K);

    public Tensor<double> Input() => new SplitMix64((ulong)Seed + 1).NormalTensor<double>(0, 1, B, L, D);
}

public class MambaBlockFastTests
{
    /// <summary>
    /// Float32 bound, the conventions' 1e-5: measured ~3e-7 for D = 64, L = 300 and below 1e-6 over ~1,000 random
    /// cases of <see cref="MambaFastCase"/> (float32 projections of up to 2E terms, the float32 scan).
    /// </summary>
    private const double Float32Bound = 1e-5;

    [Property(Arbitrary = [typeof(MambaFastCase)], MaxTest = 30)]
    public void Property_Fast_MatchesTheDefinition_Float64AndFloat32(MambaFastCase c)
    {
        var p = c.Parameters();
        var u = c.Input();
        var expected = MambaBlock.Forward(p, u);
        Assert.True(Rel(expected, MambaBlock.ForwardFast(p, u, maxThreads: 1 + c.Seed % 2)) <= 1e-12);
        Assert.True(Rel(expected, MambaBlock.ForwardFast(p, u.Cast<float>()).Cast<double>()) <= Float32Bound);
    }

    [Property(Arbitrary = [typeof(MambaFastCase)], MaxTest = 20)]
    public void Property_StepFast_EqualsTheDefinitionTokenByToken(MambaFastCase c)
    {
        var p = c.Parameters();
        var u = c.Input();
        var expected = MambaBlock.Forward(p, u);
        var f64 = MambaBlock.Prepare<double>(p);
        var f32 = MambaBlock.Prepare<float>(p);
        var s64 = MambaBlock.InitialFastState(f64, c.B);
        var s32 = MambaBlock.InitialFastState(f32, c.B);
        var y64 = Tensor<double>.Zeros(c.B, c.L, c.D);
        var y32 = Tensor<float>.Zeros(c.B, c.L, c.D);
        var o64 = new double[c.B * c.D];
        var o32 = new float[c.B * c.D];
        for (int t = 0; t < c.L; t++)
        {
            var token = u.Slice(1, t, 1);
            MambaBlock.StepFast(f64, s64, token.Data, o64);
            MambaBlock.StepFast(f32, s32, token.Cast<float>().Data, o32);
            for (int b = 0; b < c.B; b++)
            {
                o64.AsSpan(b * c.D, c.D).CopyTo(y64.Data.AsSpan((b * c.L + t) * c.D));
                o32.AsSpan(b * c.D, c.D).CopyTo(y32.Data.AsSpan((b * c.L + t) * c.D));
            }
        }
        // Norm-wise over the whole sequence: a single output can be a sum that cancels to near 0.
        Assert.True(Rel(expected, y64) <= 1e-12);
        Assert.True(Rel(expected, y32.Cast<double>()) <= Float32Bound);
    }

    [Fact]
    public void Golden_Fast_ReplaysTheCommittedVectors()
    {
        // Every committed ssm.mamba_block case (golden/ssm.mamba_block/<case>: parameters and u as NPY,
        // y from the naive definition at generation time): the fast tier reproduces y in float64 at
        // 1e-12 and in float32 at the conventions' bound, whatever the thread count.
        var cases = Directory.GetDirectories(Path.Combine(GoldenFixture.Committed, "ssm.mamba_block")).Order().ToArray();
        Assert.NotEmpty(cases);
        foreach (var dir in cases)
        {
            var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")))!;
            int Param(string name) => manifest["params"]![name]!.GetValue<int>();
            Tensor<double> Read(string name) => Npy.Read(Path.Combine(dir, name + ".npy")).ToTensorDouble();
            var p = new MambaParameters(Param("width"), Param("expand") * Param("width"), Param("state_size"), Param("conv_width"), Param("dt_rank"),
                Read("in_proj"), Read("conv_weight"), Read("conv_bias"), Read("x_proj"), Read("dt_proj"), Read("dt_bias"), Read("a_log"), Read("d"), Read("out_proj"));
            var u = Read("u");
            var y = Read("y");
            var f = MambaBlock.Prepare<double>(p);
            var y1 = MambaBlock.ForwardFast(f, u, maxThreads: 1);
            Assert.True(Rel(y, y1) <= 1e-12, $"{Path.GetFileName(dir)}: {Rel(y, y1)}");
            Assert.Equal(y1.Data, MambaBlock.ForwardFast(f, u, maxThreads: 2).Data);
            var y32 = MambaBlock.ForwardFast(MambaBlock.Prepare<float>(p), u.Cast<float>()).Cast<double>();
            Assert.True(Rel(y, y32) <= Float32Bound, $"{Path.GetFileName(dir)} float32: {Rel(y, y32)}");
        }
    }

    [Fact]
    public void Property_MambaSizedBlock_FastMatchesTheDefinition()
    {
        // d_model 32 (E = 64, R = 2), N = 16, K = 4: the reference configuration scaled down; L = 70 is not a vector multiple.
        var p = MambaParameters.Initialize(new SplitMix64(41), modelWidth: 32, stateSize: 16);
        var u = new SplitMix64(42).NormalTensor<double>(0, 1, 2, 70, 32);
        var expected = MambaBlock.Forward(p, u);
        var f = MambaBlock.Prepare<double>(p);
        var y1 = MambaBlock.ForwardFast(f, u, maxThreads: 1);
        Assert.True(Rel(expected, y1) <= 1e-12);
        Assert.Equal(y1.Data, MambaBlock.ForwardFast(f, u, maxThreads: 2).Data);
        Assert.True(Rel(expected, MambaBlock.ForwardFast(MambaBlock.Prepare<float>(p), u.Cast<float>()).Cast<double>()) <= Float32Bound);
    }

    [Fact]
    public void Negative_FastWrongShapes_NameTheArgument()
    {
        var p = MambaParameters.Initialize(new SplitMix64(1), 4, 2);
        var f = MambaBlock.Prepare<float>(p);
        Assert.Equal("u", Assert.Throws<ArgumentException>(() => MambaBlock.ForwardFast(f, Tensor<float>.Zeros(1, 3, 5))).ParamName);
        var s = MambaBlock.InitialFastState(f, 2);
        Assert.Equal("token", Assert.Throws<ArgumentException>(() => MambaBlock.StepFast(f, s, new float[4], new float[8])).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => MambaBlock.StepFast(f, s, new float[8], new float[4])).ParamName);
        var bad = p with { XProj = Tensor<double>.Zeros(3, 8) };
        Assert.Equal("XProj", Assert.Throws<ArgumentException>(() => MambaBlock.Prepare<double>(bad)).ParamName);
    }
}
