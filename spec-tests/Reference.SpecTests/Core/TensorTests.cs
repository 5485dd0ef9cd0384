using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;

namespace Reference.SpecTests.Core;

/// <summary>A shape of rank 1-4 and a permutation of its axes.</summary>
public sealed record PermuteCase(int[] Shape, int[] Perm, int Seed)
{
    public static Arbitrary<PermuteCase> Arbitrary() =>
        (from rank in Gen.Choose(1, 4)
         from dims in Gen.ArrayOf(Gen.Elements(1, 2, 3, 5, 7, 8, 9), rank)
         from keys in Gen.ArrayOf(Gen.Choose(0, 1000), rank)
         from seed in Cases.Seed
         select new PermuteCase(dims, [.. Enumerable.Range(0, rank).OrderBy(i => keys[i]).ThenBy(i => i)], seed)).ToArbitrary();

    public override string ToString() => $"PermuteCase({Shapes.Format(Shape)}, perm {Shapes.Format(Perm)}, {Seed})";
}

/// <summary>The tensor's views and copies against index arithmetic written out by hand.</summary>
public class TensorTests
{
    [Fact]
    public void Property_ReshapeIsAViewSharingTheBuffer()
    {
        var t = new SplitMix64(1).NormalTensor<double>(0, 1, 2, 3, 4);
        var v = t.Reshape(6, -1);
        Assert.Equal([6, 4], v.ShapeArray);
        Assert.Same(t.Data, v.Data);
        v[5, 3] = 42.0;
        Assert.Equal(42.0, t[1, 2, 3]);
        Assert.Equal([24], t.Reshape(-1).ShapeArray);
        Assert.Equal([2, 0, 5], Tensor<float>.Zeros(0).Reshape(2, 0, 5).ShapeArray);
    }

    [Fact]
    public void Edge_ReshapeErrors_NameTheArgument()
    {
        var t = Tensor<double>.Zeros(2, 3);
        Assert.Equal("newShape", Assert.Throws<ArgumentException>(() => t.Reshape(4, 2)).ParamName);
        Assert.Equal("newShape", Assert.Throws<ArgumentException>(() => t.Reshape(-1, -1)).ParamName);
        Assert.Equal("newShape", Assert.Throws<ArgumentException>(() => t.Reshape(4, -1)).ParamName);
        Assert.Equal("newShape", Assert.Throws<ArgumentException>(() => t.Reshape(-2, 3)).ParamName);
    }

    [Property(Arbitrary = [typeof(PermuteCase)])]
    public void Property_Permute_MatchesIndexMapping(PermuteCase c)
    {
        var t = new SplitMix64((ulong)c.Seed).NormalTensor<double>(0, 1, c.Shape);
        var p = t.Permute(c.Perm);
        int rank = c.Shape.Length;
        Assert.Equal(c.Perm.Select(a => c.Shape[a]).ToArray(), p.ShapeArray);
        var outIndex = new int[rank];
        var inIndex = new int[rank];
        for (int flat = 0; flat < p.Length; flat++)
        {
            int rest = flat;
            for (int a = rank - 1; a >= 0; a--) { outIndex[a] = rest % p.Shape[a]; rest /= p.Shape[a]; }
            for (int a = 0; a < rank; a++) inIndex[c.Perm[a]] = outIndex[a];   // out[i_0..] = in[i at perm]
            Assert.Equal(t[inIndex], p.Data[flat]);
        }
        // Permuting back with the inverse permutation restores the tensor.
        var inverse = new int[rank];
        for (int a = 0; a < rank; a++) inverse[c.Perm[a]] = a;
        Assert.Equal(t.Data, p.Permute(inverse).Data);
    }

    [Fact]
    public void Property_TransposeSwapsTheLastTwoAxes()
    {
        var t = new SplitMix64(2).NormalTensor<float>(0, 1, 3, 4, 5);
        var tt = t.Transpose();
        Assert.Equal([3, 5, 4], tt.ShapeArray);
        for (int b = 0; b < 3; b++)
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 5; j++)
                    Assert.Equal(t[b, i, j], tt[b, j, i]);
        Assert.Equal(t.Data, tt.Transpose().Data);
        Assert.Throws<InvalidOperationException>(() => Tensor<float>.Zeros(3).Transpose());
    }

    [Fact]
    public void Property_SliceCopiesTheRange()
    {
        var t = new SplitMix64(3).NormalTensor<double>(0, 1, 4, 6, 3);
        var s = t.Slice(1, 2, 3);
        Assert.Equal([4, 3, 3], s.ShapeArray);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 3; k++)
                    Assert.Equal(t[i, j + 2, k], s[i, j, k]);
        Assert.NotSame(t.Data, s.Data);
        s[0, 0, 0] = 99;
        Assert.NotEqual(99, t[0, 2, 0]);
        Assert.Equal([4, 6, 0], t.Slice(-1, 3, 0).ShapeArray);
        Assert.Equal("start", Assert.Throws<ArgumentOutOfRangeException>(() => t.Slice(1, 5, 2)).ParamName);
        Assert.Equal("axis", Assert.Throws<ArgumentOutOfRangeException>(() => t.Slice(3, 0, 1)).ParamName);
    }

    [Fact]
    public void Edge_BroadcastShapes_AndErrors()
    {
        Assert.Equal([8, 7, 6, 5], Shapes.Broadcast([8, 1, 6, 1], [7, 1, 5]));
        Assert.Equal([5, 4], Shapes.Broadcast([5, 4], [1]));
        Assert.Equal([15, 3, 5], Shapes.Broadcast([15, 3, 5], [15, 1, 5]));
        Assert.Equal(Array.Empty<int>(), Shapes.Broadcast([], []));
        Assert.Equal([0, 3], Shapes.Broadcast([0, 1], [3]));
        var e = Assert.Throws<ArgumentException>(() => Shapes.Broadcast([2, 1], [8, 4, 3]));
        Assert.Equal("b", e.ParamName);
        Assert.Contains("[2, 1]", e.Message);
        Assert.Contains("[8, 4, 3]", e.Message);
        Assert.Throws<ArgumentException>(() => Shapes.Broadcast([3], [4]));
        Assert.Equal([0, 1, 0], Shapes.BroadcastStrides([3, 1], [2, 3, 1]));
    }

    [Fact]
    public void Edge_ConstructionAndIndexingErrors()
    {
        Assert.Equal("data", Assert.Throws<ArgumentException>(() => new Tensor<double>(new double[5], 2, 3)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => Tensor<double>.Zeros(2, -1)).ParamName);
        var t = Tensor<double>.Zeros(2, 3);
        Assert.Throws<IndexOutOfRangeException>(() => t[2, 0]);
        Assert.Equal("index", Assert.Throws<ArgumentException>(() => t[1]).ParamName);
        Assert.Equal(3, t.Dim(-1));
        Assert.Equal("axis", Assert.Throws<ArgumentOutOfRangeException>(() => t.Dim(2)).ParamName);
        Assert.Equal(Array.Empty<int>(), Tensor<float>.Scalar(1.5f).ShapeArray);
        Assert.Equal(1.5f, Tensor<float>.Scalar(1.5f).Data[0]);
    }

    [Fact]
    public void Property_CastRoundsToNearest()
    {
        var t = Tensor<double>.FromSpan([1.0 + 1e-12, 0.1, 16777217.0], 3);
        var f = t.Cast<float>();
        Assert.Equal([1f, 0.1f, 16777216f], f.Data);
        Assert.Equal(t.Data, t.Cast<double>().Data);
    }

    [Fact]
    public void Edge_SameShape_NamesTheArgumentTheExpectedAndTheActualShape()
    {
        Shapes.Same(Tensor<float>.Zeros(2, 3), [2, 3], "x");
        var e = Assert.Throws<ArgumentException>(() => Shapes.Same(Tensor<double>.Zeros(2, 4), [2, 3], "x"));
        Assert.Equal("x", e.ParamName);
        Assert.StartsWith("x must have shape [2, 3], got [2, 4].", e.Message);
        Assert.Equal("x", Assert.Throws<ArgumentNullException>(() => Shapes.Same<double>(null, [2, 3], "x")).ParamName);
        Assert.Throws<ArgumentException>(() => Shapes.Same(Tensor<double>.Zeros(6), [2, 3], "x"));
    }
}
