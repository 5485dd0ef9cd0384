using FsCheck;
using FsCheck.Fluent;
using Reference.Autodiff;
using Reference.Core;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Autodiff;

/// <summary>
/// A tensor shape (rank 1-3, dimensions near small SIMD tails) and a seed; gradcheck costs two
/// forward passes per element, so shapes stay under a few hundred elements.
/// </summary>
public sealed record ShapeCase(int[] Shape, int Seed)
{
    public static readonly int[] Dims = [1, 2, 3, 4, 5, 7, 8, 9];

    public static Arbitrary<ShapeCase> Arbitrary() =>
        (from rank in Gen.Choose(1, 3)
         from dims in Gen.ArrayOf(Gen.Elements(Dims), rank)
         from seed in Cases.Seed
         select new ShapeCase(dims, seed)).ToArbitrary();

    public override string ToString() => $"ShapeCase({Shapes.Format(Shape)}, seed {Seed})";
}

/// <summary>Helpers shared by the autodiff tests.</summary>
public static class Grad
{
    /// <summary>Normal(0, 1) tensor from SplitMix64(seed).</summary>
    public static Tensor<double> Normal(ulong seed, params int[] shape) => new SplitMix64(seed).NormalTensor<double>(0, 1, shape);

    /// <summary>
    /// A scalar probe &lt;w, y&gt; with fixed random weights w (seeded): its gradient is the VJP of y
    /// applied to w, so every output element is exercised with a distinct weight.
    /// </summary>
    public static Variable Probe(Variable y, ulong seed = 12345)
    {
        var w = new SplitMix64(seed).UniformTensor<double>(-1, 1, y.Value.ShapeArray);
        return Ops.Sum(Ops.Mul(y, Variable.Constant(w)));
    }

    /// <summary>Asserts that gradcheck passes, printing its report on failure.</summary>
    public static void AssertPasses(Func<Variable[], Variable> f, params Tensor<double>[] inputs)
    {
        var result = GradCheck.Check(f, inputs);
        Assert.True(result.Passed, result.ToString());
        Assert.True(result.Checked > 0);
    }
}
