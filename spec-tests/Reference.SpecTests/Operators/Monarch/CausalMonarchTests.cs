using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Operators.Convolution;
using Reference.Operators.Monarch;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Operators.Monarch;

/// <summary>A causal Monarch case: block b, digits p, a seed for nodes, bases and values.</summary>
public sealed record CausalMonarchCase(int B, int P, int Seed)
{
    public static Arbitrary<CausalMonarchCase> Arbitrary() =>
        (from shape in Gen.Elements((2, 1), (3, 1), (5, 1), (2, 2), (3, 2), (4, 2), (2, 3), (3, 3))
         from seed in Cases.Seed
         select new CausalMonarchCase(shape.Item1, shape.Item2, seed)).ToArbitrary();
}

/// <summary>
/// Causal M2 (the project's reference definition of shared/spec/operators.md) against independent
/// statements: the hand example, lower-triangular T for random valid bases and nodes, the coefficient-domain
/// materialization that never touches the nodes, the digit-wise closed form, the FFT causal convolution
/// (p = 1), the decoding form, finite differences; and the two constructions the rule excludes, shown to leak.
/// </summary>
public class CausalMonarchTests
{
    /// <summary>G distinct nodes: the G-th roots of unity, each rotated by a random angle below half a spacing.</summary>
    internal static Complex[] PerturbedRoots(SplitMix64 rng, int g)
    {
        var x = new Complex[g];
        for (int r = 0; r < g; r++) x[r] = Complex.FromPolarCoordinates(1.0, 2.0 * Math.PI * (r + 0.4 * (rng.Uniform() - 0.5)) / g);
        return x;
    }

    /// <summary>A random real valuation-triangular basis: C[t, m] = 0 for t &lt; m, |C[m, m]| in [0.5, 1.5], q_m of degree &lt; b for m &lt; b.</summary>
    internal static Complex[] ValuationTriangular(SplitMix64 rng, int b)
    {
        int g = 2 * b;
        var c = new Complex[g * g];
        for (int m = 0; m < g; m++)
            for (int t = m; t < (m < b ? b : g); t++)
                c[t * g + m] = t == m ? (rng.Uniform() < 0.5 ? -1 : 1) * (0.5 + rng.Uniform()) : 0.5 * rng.Normal();
        return c;
    }

    private static CausalMonarchPlan RandomPlan(SplitMix64 rng, int b, int p, bool monomial)
    {
        var nodes = new Complex[p][];
        var basis = new Complex[p][];
        for (int a = 0; a < p; a++)
        {
            nodes[a] = PerturbedRoots(rng, 2 * b);
            basis[a] = monomial ? CausalMonarchPlan.Identity(2 * b) : ValuationTriangular(rng, b);
        }
        return CausalMonarchPlan.Create(b, p, nodes, basis);
    }

    private static double MaxAboveDiagonal(Tensor<double> t)
    {
        int n = t.Dim(0);
        double worst = 0;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) worst = Math.Max(worst, Math.Abs(t.Data[i * n + j]));
        return worst;
    }

    private static double MaxAbs(Tensor<double> t) => t.Data.Max(Math.Abs);

    [Fact]
    public void HandExample_N4_b2_p2_GivesTheSpecsMatrix()
    {
        var t = CausalMonarch.Materialize(CausalMonarchPlan.Create(2, 2), [1.0, 2.0, 3.0, 4.0], 4);
        double[] expected = [1, 0, 0, 0, 2, 1, 0, 0, 3, 0, 1, 0, 4, 3, 2, 1];
        for (int i = 0; i < 16; i++) Assert.True(Math.Abs(t.Data[i] - expected[i]) <= 1e-14, $"T[{i / 4}, {i % 4}] = {t.Data[i]}, expected {expected[i]}");
    }

    [Property(Arbitrary = [typeof(CausalMonarchCase)], MaxTest = 40)]
    public void Property_RandomValidBasesAndNodes_TIsLowerTriangularAndEqualsTheCoefficientDomainProduct(CausalMonarchCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var plan = RandomPlan(rng, c.B, c.P, monomial: false);
        var k = rng.NormalTensor<double>(0, 1, plan.N).Data;
        var t = CausalMonarch.Materialize(plan, k, plan.N);
        Assert.True(MaxAboveDiagonal(t) <= 1e-10 * MaxAbs(t), $"above the diagonal: {MaxAboveDiagonal(t)} (max |T| {MaxAbs(t)})");
        // Stronger than triangular: T[i, j] = 0 unless every digit of j is <= the digit of i.
        for (int i = 0; i < plan.N; i++)
            for (int j = 0; j < i; j++)
                if (CausalMonarch.DigitwiseDifference(i, j, c.B, c.P) < 0)
                    Assert.True(Math.Abs(t.Data[i * plan.N + j]) <= 1e-10 * MaxAbs(t), $"T[{i}, {j}] = {t.Data[i * plan.N + j]} outside the digit-wise order");
        var reference = CausalMonarch.MaterializeCoefficients(plan, k, plan.N);
        Assert.True(Metrics.RelativeError(reference.Data, t.Data) <= 1e-9, $"rel {Metrics.RelativeError(reference.Data, t.Data)}");
    }

    [Property(Arbitrary = [typeof(CausalMonarchCase)], MaxTest = 40)]
    public void Property_MonomialBasis_IsTheDigitwiseCausalConvolutionForAnyNodes(CausalMonarchCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var plan = RandomPlan(rng, c.B, c.P, monomial: true);
        int n = plan.N, length = 1 + (int)(rng.Uniform() * n);
        var k = rng.NormalTensor<double>(0, 1, n).Data;
        var u = rng.NormalTensor<double>(0, 1, length).Data;
        var expected = CausalMonarch.DigitwiseConvolution(c.B, c.P, k, u);
        var y = CausalMonarch.Convolve(plan, k, u);
        Assert.True(Metrics.RelativeError(expected, y) <= 1e-11, $"rel {Metrics.RelativeError(expected, y)}");
    }

    [Theory]
    [InlineData(7)]
    [InlineData(16)]
    [InlineData(33)]
    public void OneDigit_EqualsTheFftCausalConvolution(int b)
    {
        var rng = new SplitMix64((ulong)(100 + b));
        var plan = CausalMonarchPlan.Create(b, 1);
        var u = rng.NormalTensor<double>(0, 1, 2, 3, b);
        var k = rng.NormalTensor<double>(0, 1, 3, b);
        var d = rng.NormalTensor<double>(0, 1, 3);
        var expected = CausalConvolution.ForwardFast(u, k, d);
        var y = CausalMonarch.Forward(plan, u, k, d);
        Assert.True(Metrics.RelativeError(expected.Data, y.Data) <= 1e-12, $"rel {Metrics.RelativeError(expected.Data, y.Data)}");
    }

    [Theory]
    [InlineData(2, 2)]
    [InlineData(3, 2)]
    [InlineData(2, 3)]
    public void AppendedZeroPadding_LeaksTheFuture(int b, int p)
    {
        var plan = CausalMonarchPlan.Create(b, p);
        var leaky = CausalMonarchPlan.CreateUnchecked(b, p, plan.Nodes, plan.Basis, CausalMonarchPadding.AppendedZeros);
        var k = new SplitMix64(9).NormalTensor<double>(0, 1, plan.N).Data;
        var t = CausalMonarch.Materialize(leaky, k, plan.N);
        Assert.True(MaxAboveDiagonal(t) > 1e-3 * MaxAbs(t), $"appended zeros gave an (unexpectedly) causal T: max above diagonal {MaxAboveDiagonal(t)}");
        Assert.True(MaxAboveDiagonal(CausalMonarch.Materialize(plan, k, plan.N)) <= 1e-12 * MaxAbs(t));
    }

    [Theory]
    [InlineData(2, 2, 1)]
    [InlineData(3, 2, 2)]
    [InlineData(3, 1, 3)]
    public void DegreeTriangularBasis_LeaksTheFutureAndIsRejectedByCreate(int b, int p, ulong seed)
    {
        var rng = new SplitMix64(seed);
        int g = 2 * b;
        var nodes = new Complex[p][];
        var basis = new Complex[p][];
        for (int a = 0; a < p; a++)
        {
            nodes[a] = PerturbedRoots(rng, g);
            // q_m of degree exactly m: C[t, m] = 0 for t > m, C[m, m] != 0, lower terms random.
            basis[a] = new Complex[g * g];
            for (int m = 0; m < g; m++)
                for (int e = 0; e <= m; e++) basis[a][e * g + m] = e == m ? 1.0 : rng.Normal();
        }
        var plan = CausalMonarchPlan.CreateUnchecked(b, p, nodes, basis, CausalMonarchPadding.PerDigit);
        var k = rng.NormalTensor<double>(0, 1, plan.N).Data;
        var t = CausalMonarch.Materialize(plan, k, plan.N);
        Assert.True(MaxAboveDiagonal(t) > 1e-3 * MaxAbs(t), $"a degree-triangular basis gave a causal T: max above diagonal {MaxAboveDiagonal(t)}");
        var error = Assert.Throws<ArgumentException>(() => CausalMonarchPlan.Create(b, p, nodes, basis));
        Assert.Equal("basis", error.ParamName);
        Assert.Contains("valuation-triangular", error.Message);
    }

    [Fact]
    public void Create_RejectsRepeatedNodesAndWrongShapes()
    {
        var plan = CausalMonarchPlan.Create(2, 2);
        var nodes = plan.Nodes.Select(r => (Complex[])r.Clone()).ToArray();
        nodes[1][3] = nodes[1][0];
        Assert.Equal("nodes", Assert.Throws<ArgumentException>(() => CausalMonarchPlan.Create(2, 2, nodes, plan.Basis)).ParamName);
        Assert.Equal("basis", Assert.Throws<ArgumentException>(() => CausalMonarchPlan.Create(2, 2, plan.Nodes, [plan.Basis[0]])).ParamName);
        Assert.Equal("u", Assert.Throws<ArgumentException>(() =>
            CausalMonarch.Forward(plan, Tensor<double>.Zeros(1, 5), Tensor<double>.Zeros(1, 4))).ParamName);
    }

    [Theory]
    [InlineData(3, 2, true)]
    [InlineData(2, 3, false)]
    public void Decoding_StepByStepEqualsTheParallelForm(int b, int p, bool monomial)
    {
        var rng = new SplitMix64(41);
        var plan = RandomPlan(rng, b, p, monomial);
        int n = plan.N;
        var u = rng.NormalTensor<double>(0, 1, 2, 2, n - 1);
        var k = rng.NormalTensor<double>(0, 1, 2, n - 2);
        var d = rng.NormalTensor<double>(0, 1, 2);
        var expected = CausalMonarch.Forward(plan, u, k, d);
        var state = CausalMonarch.InitialState(plan, 4, k, d);
        var y = new double[u.Length];
        for (int t = 0; t < n - 1; t++)
        {
            var ut = new double[4];
            for (int r = 0; r < 4; r++) ut[r] = u.Data[r * (n - 1) + t];
            var yt = CausalMonarch.Step(state, ut);
            for (int r = 0; r < 4; r++) y[r * (n - 1) + t] = yt[r];
        }
        Assert.Equal(n - 1, state.Position);
        Assert.True(Metrics.RelativeError(expected.Data, y) <= 1e-11, $"rel {Metrics.RelativeError(expected.Data, y)}");
    }

    [Theory]
    [InlineData(2, 2, true)]
    [InlineData(3, 2, false)]
    public void Backward_IsTheTransposeOfTAndMatchesFiniteDifferencesInK(int b, int p, bool monomial)
    {
        var rng = new SplitMix64(43);
        var plan = RandomPlan(rng, b, p, monomial);
        int n = plan.N, l = n - 1;
        var u = rng.NormalTensor<double>(0, 1, 2, 1, l);
        var k = rng.NormalTensor<double>(0, 1, 1, l);
        var d = rng.NormalTensor<double>(0, 1, 1);
        var dy = rng.NormalTensor<double>(0, 1, 2, 1, l);
        var grads = CausalMonarch.Backward(plan, u, k, d, dy);
        var t = CausalMonarch.Materialize(plan, k.Data, l, d.Data[0]);
        var expectedDu = new double[u.Length];
        for (int r = 0; r < 2; r++)
            for (int j = 0; j < l; j++)
                for (int i = 0; i < l; i++) expectedDu[r * l + j] += t.Data[i * l + j] * dy.Data[r * l + i];
        Assert.True(Metrics.RelativeError(expectedDu, grads.Input.Data) <= 1e-11);
        // y is linear in k: a central difference is exact up to rounding.
        double Loss(Tensor<double> kk) => CausalMonarch.Forward(plan, u, kk, d).Data.Zip(dy.Data, (a, g) => a * g).Sum();
        for (int j = 0; j < l; j++)
        {
            var kp = k.Clone(); kp.Data[j] += 1e-3;
            var km = k.Clone(); km.Data[j] -= 1e-3;
            double fd = (Loss(kp) - Loss(km)) / 2e-3;
            Assert.True(Math.Abs(fd - grads.Kernel.Data[j]) <= 1e-8 * (1 + Math.Abs(fd)), $"dk[{j}] = {grads.Kernel.Data[j]}, fd {fd}");
        }
        double dd = u.Data.Zip(dy.Data, (a, g) => a * g).Sum();
        Assert.True(Math.Abs(dd - grads.Skip!.Data[0]) <= 1e-12 * (1 + Math.Abs(dd)));
    }

    [Theory]
    [InlineData(32, 2)]
    [InlineData(8, 3)]
    public void FastTier_Float64_IsExactTo1e10AgainstTheMaterializedClosedForm(int b, int p)
    {
        var rng = new SplitMix64(47);
        var plan = CausalMonarchPlan.Create(b, p);
        int n = plan.N;
        var u = rng.NormalTensor<double>(0, 1, 1, 2, n);
        var k = rng.NormalTensor<double>(0, 1, 2, n);
        var y = CausalMonarch.ForwardFast(CausalMonarch.Prepare<double>(plan), u, k);
        for (int c = 0; c < 2; c++)
        {
            // T[i, j] = k[i (-) j] for j <= i digit-wise: the closed form, materialized entry by entry.
            var expected = new double[n];
            for (int i = 0; i < n; i++)
                for (int j = 0; j <= i; j++)
                {
                    int diff = CausalMonarch.DigitwiseDifference(i, j, b, p);
                    if (diff >= 0) expected[i] += k.Data[c * n + diff] * u.Data[c * n + j];
                }
            double rel = Metrics.RelativeError(expected, y.Data.AsSpan(c * n, n).ToArray());
            Assert.True(rel <= 1e-10, $"channel {c}: rel {rel}");
        }
    }

    [Fact]
    public void FastTier_Float32AndThreads_AgreeWithTheNaiveTier()
    {
        var rng = new SplitMix64(53);
        var plan = CausalMonarchPlan.Create(4, 2);
        var u = rng.NormalTensor<double>(0, 1, 3, 2, 13);
        var k = rng.NormalTensor<double>(0, 1, 2, 11);
        var d = rng.NormalTensor<double>(0, 1, 2);
        var expected = CausalMonarch.Forward(plan, u, k, d);
        var y64 = CausalMonarch.ForwardFast(CausalMonarch.Prepare<double>(plan), u, k, d, maxThreads: 2);
        Assert.True(Metrics.RelativeError(expected.Data, y64.Data) <= 1e-13);
        var y32 = CausalMonarch.ForwardFast(CausalMonarch.Prepare<float>(plan), u.Cast<float>(), k.Cast<float>(), d.Cast<float>());
        Assert.True(Metrics.RelativeError(expected.Data, y32.Data.Select(v => (double)v).ToArray()) <= 1e-5);
    }
}
