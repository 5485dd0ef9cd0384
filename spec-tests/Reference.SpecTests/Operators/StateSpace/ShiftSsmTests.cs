using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Operators.StateSpace;
using Reference.SpecTests.Core;
using Reference.SpecTests.Operators.Convolution;

namespace Reference.SpecTests.Operators.StateSpace;

public sealed record ShiftCase(int Batch, int D, int N, int L, bool RandomB, int Seed)
{
    public static Arbitrary<ShiftCase> Arbitrary() =>
        (from batch in Gen.Choose(1, 2)
         from d in Gen.Elements(1, 2, 3)
         from n in Gen.Elements(1, 2, 4, 7, 8, 9)
         from l in Gen.Elements(1, 2, 7, 8, 9, 17)
         from randomB in ArbMap.Default.GeneratorFor<bool>()
         from seed in Cases.Seed
         select new ShiftCase(batch, d, n, l, randomB, seed)).ToArbitrary();

    public ShiftSsmParameters Parameters()
    {
        var rng = new SplitMix64((ulong)Seed);
        var p = ShiftSsmParameters.Initialize(rng, D, N);
        if (RandomB) rng.FillNormal<double>(p.B);
        return p;
    }

    public Tensor<double> Input() => new SplitMix64((ulong)Seed + 1).NormalTensor<double>(0, 1, Batch, D, L);
}

public class ShiftSsmTests
{
    [Property(Arbitrary = [typeof(ShiftCase)])]
    public void Property_ParallelEqualsShiftRegisterEqualsChunkedEqualsMaterialized(ShiftCase c)
    {
        var p = c.Parameters();
        var u = c.Input();
        int rows = c.Batch * c.D;
        var y = ShiftSsm.Forward(p, u);
        var t = ShiftSsm.Materialize(p, c.L);
        Assert.True(Metrics.RelativeError(ConvTestKit.ApplyOperator(t, u.Data, rows, c.L), y.Data, 1e-300) <= 1e-13);

        var state = ShiftSsm.InitialState(p, rows);
        int split = c.L / 2;
        var y1 = ShiftSsm.ForwardChunk(p, state, u.Slice(2, 0, split == 0 ? c.L : split));
        var parts = new List<Tensor<double>> { y1 };
        if (split > 0) parts.Add(ShiftSsm.ForwardChunk(p, state, u.Slice(2, split, c.L - split)));
        var recurrent = new double[y.Length];
        int offset = 0;
        foreach (var part in parts)
        {
            int len = part.Dim(-1);
            for (int r = 0; r < rows; r++) part.Data.AsSpan(r * len, len).CopyTo(recurrent.AsSpan(r * c.L + offset, len));
            offset += len;
        }
        Assert.True(Metrics.RelativeError(y.Data, recurrent, 1e-300) <= 1e-13);
    }

    [Property(Arbitrary = [typeof(ShiftCase)])]
    public void Property_Taps_AreTheImpulseResponse_AndEqualCWhenBIsE1(ShiftCase c)
    {
        var p = c.Parameters();
        var taps = ShiftSsm.Taps(p);
        if (!c.RandomB) Assert.Equal(p.C, taps.Data);
        var state = ShiftSsm.InitialState(p, c.D);
        for (int t = 0; t < c.N + 2; t++)
        {
            var ut = new double[c.D];
            if (t == 0) Array.Fill(ut, 1.0);
            var yt = ShiftSsm.Step(p, state, ut);
            for (int ch = 0; ch < c.D; ch++)
            {
                // C A^t B by explicit matrix powers of the shift matrix.
                var x = new double[c.N];
                for (int n = 0; n < c.N; n++) x[n] = n - t >= 0 ? p.B[ch * c.N + n - t] : 0.0;
                double expected = ConvTestKit.Dot(p.C.AsSpan(ch * c.N, c.N), x) + (t == 0 ? p.Skip[ch] : 0.0);
                Assert.Equal(expected, yt[ch], 12);
            }
        }
    }

    [Property(Arbitrary = [typeof(ShiftCase)], MaxTest = 15)]
    public void Property_Backward_MatchesCentralFiniteDifferences(ShiftCase c)
    {
        var p = c.Parameters();
        var u = c.Input();
        var g = new SplitMix64((ulong)c.Seed + 2).NormalTensor<double>(0, 1, c.Batch, c.D, c.L);
        double Loss() => ConvTestKit.Dot(g.Data, ShiftSsm.Forward(p, u).Data);
        var grads = ShiftSsm.Backward(p, u, g);
        Assert.True(ConvTestKit.GradCheck(u.Data, grads.Input.Data, Loss) <= 1e-7);
        Assert.True(ConvTestKit.GradCheck(p.B, grads.B, Loss) <= 1e-7);
        Assert.True(ConvTestKit.GradCheck(p.C, grads.C, Loss) <= 1e-7);
        Assert.True(ConvTestKit.GradCheck(p.Skip, grads.Skip, Loss) <= 1e-7);
    }

    [Property(Arbitrary = [typeof(ShiftCase)], MaxTest = 20)]
    public void Property_Realize_MaterializesToTheChannelsBandedToeplitz(ShiftCase c)
    {
        var p = c.Parameters();
        var t = ShiftSsm.Materialize(p, c.L);
        for (int ch = 0; ch < c.D; ch++)
        {
            var r = ShiftSsm.Realize(p, ch, c.L);
            Assert.Equal(c.L, r.Length);
            var m = r.Materialize();
            for (int i = 0; i < c.L; i++)
                for (int j = 0; j < c.L; j++) Assert.Equal(t[ch, i, j], m[i, j], 1e-13);
        }
    }

    [Fact]
    public void Negative_Realize_BadArgumentsNameTheArgument()
    {
        var p = ShiftSsmParameters.Initialize(new SplitMix64(2), 2, 3);
        Assert.Equal("p", Assert.Throws<ArgumentNullException>(() => ShiftSsm.Realize(null!, 0, 4)).ParamName);
        Assert.Equal("p", Assert.Throws<ArgumentException>(() => ShiftSsm.Realize(new ShiftSsmParameters(2, 3, new double[6], new double[6], new double[3]), 0, 4)).ParamName);
        // No channels at all is the record's fault, not the channel index's.
        Assert.Equal("p", Assert.Throws<ArgumentException>(() => ShiftSsm.Realize(new ShiftSsmParameters(0, 3, [], [], []), 0, 4)).ParamName);
        Assert.Equal("channel", Assert.Throws<ArgumentOutOfRangeException>(() => ShiftSsm.Realize(p, 2, 4)).ParamName);
        Assert.Equal("channel", Assert.Throws<ArgumentOutOfRangeException>(() => ShiftSsm.Realize(p, -1, 4)).ParamName);
        Assert.Equal("length", Assert.Throws<ArgumentOutOfRangeException>(() => ShiftSsm.Realize(p, 1, 0)).ParamName);
        Assert.Equal(1, ShiftSsm.Realize(p, 1, 1).Length);
    }

    [Fact]
    public void Negative_StateOfTheWrongSize_NamesTheArgument()
    {
        var p = ShiftSsmParameters.Initialize(new SplitMix64(1), 2, 4);
        var e = Assert.Throws<ArgumentException>(() => ShiftSsm.InitialState(p, 3));
        Assert.Equal("rows", e.ParamName);
        var other = ShiftSsmParameters.Initialize(new SplitMix64(1), 2, 5);
        var e2 = Assert.Throws<ArgumentException>(() => ShiftSsm.Step(p, ShiftSsm.InitialState(other, 2), new double[2]));
        Assert.Equal("state", e2.ParamName);
    }

    /// <summary>
    /// Taps and their B, C gradients (written as AXPYs across taps) are bitwise the scalar sums of their
    /// definitions, k[m] = sum_i B[i] C[i + m], dB[i] = sum_m dk[m] C[i + m], dC[i] = sum_(m &lt;= i) dk[m] B[i - m],
    /// each summed in index order; N 64 (H3's) and 13 (a SIMD remainder), random B and C.
    /// </summary>
    [Theory]
    [InlineData(64)]
    [InlineData(13)]
    public void TapsAndTapGradients_EqualTheScalarSums_Bitwise(int n)
    {
        var rng = new SplitMix64(31);
        var p = ShiftSsmParameters.Initialize(rng, 3, n);
        rng.FillNormal<double>(p.B);
        rng.FillNormal<double>(p.C);
        var dTaps = rng.NormalTensor<double>(0, 1, 3, n).Data;
        var taps = ShiftSsm.Taps(p);
        var g = ShiftSsm.TapGradients(p, dTaps, Tensor<double>.Zeros(1), new double[3]);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < n; i++)
            {
                double k = 0.0, db = 0.0, dc = 0.0;
                for (int j = 0; j + i < n; j++) k += p.B[c * n + j] * p.C[c * n + j + i];
                for (int m = 0; i + m < n; m++) db += dTaps[c * n + m] * p.C[c * n + i + m];
                for (int m = 0; m <= i; m++) dc += dTaps[c * n + m] * p.B[c * n + i - m];
                Assert.Equal(BitConverter.DoubleToInt64Bits(k), BitConverter.DoubleToInt64Bits(taps.Data[c * n + i]));
                Assert.Equal(BitConverter.DoubleToInt64Bits(db), BitConverter.DoubleToInt64Bits(g.B[c * n + i]));
                Assert.Equal(BitConverter.DoubleToInt64Bits(dc), BitConverter.DoubleToInt64Bits(g.C[c * n + i]));
            }
    }
}

public class ShiftSsmInitializationAndValidationTests
{
    /// <summary>
    /// The documented SplitMix64 stream (golden/README.md), written out from its constants: the raw
    /// 64-bit outputs, 53-bit uniforms and the cosine branch of Box-Muller, two uniforms per normal.
    /// </summary>
    private sealed class DocumentedStream(ulong seed)
    {
        private ulong state = seed;

        public ulong State => state;

        private double Uniform53()
        {
            state = unchecked(state + 0x9E3779B97F4A7C15UL);
            ulong z = state;
            z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
            z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
            z ^= z >> 31;
            return (z >> 11) / 9007199254740992.0;
        }

        public double Normal()
        {
            double u1 = 1.0 - Uniform53(), u2 = Uniform53();
            return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
        }
    }

    [Theory]
    [InlineData(1, 1, 7UL)]
    [InlineData(1, 4, 11UL)]
    [InlineData(2, 3, 12345UL)]
    [InlineData(3, 5, 0xDEADBEEFUL)]
    public void Golden_Initialize_IsE1B_ThenCRowMajor_ThenSkip_FromTheDocumentedStream(int channels, int stateSize, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var p = ShiftSsmParameters.Initialize(rng, channels, stateSize);
        var stream = new DocumentedStream(seed);
        Assert.Equal(channels, p.Channels);
        Assert.Equal(stateSize, p.StateSize);
        Assert.Equal(channels * stateSize, p.B.Length);
        Assert.Equal(channels * stateSize, p.C.Length);
        Assert.Equal(channels, p.Skip.Length);
        for (int c = 0; c < channels; c++)
            for (int n = 0; n < stateSize; n++)
                Assert.Equal(n == 0 ? 1.0 : 0.0, p.B[c * stateSize + n]);
        // C [D, N] row-major takes the first D * N normals, Skip [D] the next D; nothing else is drawn.
        for (int i = 0; i < channels * stateSize; i++) Assert.Equal(stream.Normal(), p.C[i]);
        for (int c = 0; c < channels; c++) Assert.Equal(stream.Normal(), p.Skip[c]);
        Assert.Equal(stream.State, rng.State);
        Assert.NotEqual(0.0, p.Skip.Select(Math.Abs).Max());
    }

    [Fact]
    public void Negative_Initialize_BadArgumentsNameTheArgument()
    {
        Assert.Equal("rng", Assert.Throws<ArgumentNullException>(() => ShiftSsmParameters.Initialize(null!, 1, 1)).ParamName);
        Assert.Equal("channels", Assert.Throws<ArgumentOutOfRangeException>(() => ShiftSsmParameters.Initialize(new SplitMix64(1), 0, 4)).ParamName);
        Assert.Equal("stateSize", Assert.Throws<ArgumentOutOfRangeException>(() => ShiftSsmParameters.Initialize(new SplitMix64(1), 2, 0)).ParamName);
    }

    /// <summary>Records that break exactly one clause of the shape contract (D = 2, N = 4 otherwise).</summary>
    public static TheoryData<string> Malformed => ["channels", "stateSize", "B", "C", "Skip"];

    private static ShiftSsmParameters MalformedParameters(string which) => which switch
    {
        "channels" => new ShiftSsmParameters(0, 4, [], [], []),
        "stateSize" => new ShiftSsmParameters(2, 0, [], [], new double[2]),
        "B" => new ShiftSsmParameters(2, 4, new double[7], new double[8], new double[2]),
        "C" => new ShiftSsmParameters(2, 4, new double[8], new double[9], new double[2]),
        _ => new ShiftSsmParameters(2, 4, new double[8], new double[8], new double[3]),
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Negative_MalformedParameters_AreRejectedWithTheirArgumentName(string which)
    {
        var p = MalformedParameters(which);
        var u = new SplitMix64(3).NormalTensor<double>(0, 1, 1, 2, 5);
        Assert.Equal("p", Assert.Throws<ArgumentException>(() => ShiftSsm.Taps(p)).ParamName);
        Assert.Equal("p", Assert.Throws<ArgumentException>(() => ShiftSsm.Forward(p, u)).ParamName);
        Assert.Equal("p", Assert.Throws<ArgumentException>(() => ShiftSsm.Materialize(p, 5)).ParamName);
        Assert.Equal("p", Assert.Throws<ArgumentException>(() => ShiftSsm.InitialState(p, 2)).ParamName);
        if (p.Channels >= 1 && p.StateSize >= 1)
        {
            // A state of the right size for the record, so that only the record's own check can throw.
            var state = ShiftSsm.InitialState(ShiftSsmParameters.Initialize(new SplitMix64(1), p.Channels, p.StateSize), 2);
            Assert.Equal("p", Assert.Throws<ArgumentException>(() => ShiftSsm.Step(p, state, new double[2])).ParamName);
            Assert.Equal("p", Assert.Throws<ArgumentException>(() => ShiftSsm.ForwardChunk(p, state, u)).ParamName);
        }
    }

    [Fact]
    public void Negative_NullsAndMismatchedShapes_NameTheArgument()
    {
        var p = ShiftSsmParameters.Initialize(new SplitMix64(5), 2, 4);
        var state = ShiftSsm.InitialState(p, 2);
        var u = new SplitMix64(6).NormalTensor<double>(0, 1, 1, 2, 5);
        Assert.Equal("p", Assert.Throws<ArgumentNullException>(() => ShiftSsm.Taps(null!)).ParamName);
        Assert.Equal("p", Assert.Throws<ArgumentNullException>(() => ShiftSsm.InitialState(null!, 2)).ParamName);
        Assert.Equal("rows", Assert.Throws<ArgumentException>(() => ShiftSsm.InitialState(p, 0)).ParamName);
        Assert.Equal("p", Assert.Throws<ArgumentNullException>(() => ShiftSsm.Step(null!, state, new double[2])).ParamName);
        Assert.Equal("state", Assert.Throws<ArgumentNullException>(() => ShiftSsm.Step(p, null!, new double[2])).ParamName);
        Assert.Equal("uT", Assert.Throws<ArgumentException>(() => ShiftSsm.Step(p, state, new double[3])).ParamName);
        Assert.Equal("uT", Assert.Throws<ArgumentException>(() => ShiftSsm.Step(p, state, new double[1])).ParamName);
        Assert.Equal("state", Assert.Throws<ArgumentNullException>(() => ShiftSsm.ForwardChunk(p, null!, u)).ParamName);
        Assert.Equal("uChunk", Assert.Throws<ArgumentNullException>(() => ShiftSsm.ForwardChunk(p, state, null!)).ParamName);
        var otherN = ShiftSsm.InitialState(ShiftSsmParameters.Initialize(new SplitMix64(5), 2, 3), 2);
        Assert.Equal("state", Assert.Throws<ArgumentException>(() => ShiftSsm.ForwardChunk(p, otherN, u)).ParamName);
        // 4 rows of input against a state of 2 rows (and 1 row against 2).
        Assert.Equal("uChunk", Assert.Throws<ArgumentException>(() =>
            ShiftSsm.ForwardChunk(p, state, Tensor<double>.Zeros(2, 2, 5))).ParamName);
        Assert.Equal("uChunk", Assert.Throws<ArgumentException>(() =>
            ShiftSsm.ForwardChunk(p, state, Tensor<double>.Zeros(1, 5))).ParamName);
        // Nothing was written into the register by the rejected calls.
        Assert.All(state.X, x => Assert.Equal(0.0, x));
    }
}
