using MathNet.Numerics.LinearAlgebra;
using Reference.Core;
using Reference.Neuro.IO;

namespace Reference.SpecTests.Neuro;

/// <summary>
/// The qform math against independent constructions: Rodrigues' rotation formula for
/// quaternion -&gt; matrix, MathNet's SVD for the polar factor that matrix -&gt; quaternion keeps.
/// </summary>
public class NiftiAffineTests
{
    /// <summary>R = cos t I + sin t [u]x + (1 - cos t) u u^T, the rotation by t about the unit axis u.</summary>
    private static double[,] Rodrigues(double[] u, double t)
    {
        double c = Math.Cos(t), s = Math.Sin(t);
        double[,] cross = { { 0, -u[2], u[1] }, { u[2], 0, -u[0] }, { -u[1], u[0], 0 } };
        var r = new double[3, 3];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                r[i, j] = (i == j ? c : 0) + s * cross[i, j] + (1 - c) * u[i] * u[j];
        return r;
    }

    private static double[] RandomAxis(SplitMix64 rng)
    {
        var u = new[] { rng.Normal(), rng.Normal(), rng.Normal() };
        double n = Math.Sqrt(u.Sum(v => v * v));
        return [.. u.Select(v => v / n)];
    }

    [Fact]
    public void Property_QuaternionToMatrixIsRodriguesTimesVoxelSizes()
    {
        var rng = new SplitMix64(5);
        for (int trial = 0; trial < 200; trial++)
        {
            var u = RandomAxis(rng);
            double t = rng.Uniform(0, Math.PI);
            double[] d = [rng.Uniform(0.5, 4), rng.Uniform(0.5, 4), rng.Uniform(0.5, 4)];
            double qfac = trial % 2 == 0 ? 1 : -1;
            // The quaternion (cos t/2, u sin t/2); a >= 0 since t <= pi.
            double h = Math.Sin(t / 2);
            var q = new NiftiQuaternion(u[0] * h, u[1] * h, u[2] * h, 10, -20, 30, d[0], d[1], d[2], qfac);
            var m = NiftiAffine.QuaternionToMatrix(q);
            var r = Rodrigues(u, t);
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    Assert.Equal(r[i, j] * d[j] * (j == 2 ? qfac : 1), m[i, j], 1e-10);
            Assert.Equal(new[] { 10.0, -20, 30, 1 }, new[] { m[0, 3], m[1, 3], m[2, 3], m[3, 3] });

            var back = NiftiAffine.MatrixToQuaternion(m);
            var again = NiftiAffine.QuaternionToMatrix(back);
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                    Assert.Equal(m[i, j], again[i, j], 1e-12);
            Assert.Equal(qfac, back.Qfac);
            Assert.Equal(d, new[] { back.Dx, back.Dy, back.Dz }, (x, y) => Math.Abs(x - y) < 1e-12);
        }
    }

    [Fact]
    public void Edge_HalfTurnsAndTheStandardsSpecialCase()
    {
        // b^2 + c^2 + d^2 = 1: a = 0, a half turn about (b, c, d). About x: diag(1, -1, -1).
        var m = NiftiAffine.QuaternionToMatrix(new NiftiQuaternion(1, 0, 0, 0, 0, 0, 1, 1, 1, 1));
        Assert.Equal(new double[] { 1, 0, 0, 0, -1, 0, 0, 0, -1 }, Flat3(m));
        // A radicand below 1e-7 (here negative) is treated as a = 0 with (b, c, d) normalized (nifti1_io).
        var n = NiftiAffine.QuaternionToMatrix(new NiftiQuaternion(0, 1.00000001, 0, 0, 0, 0, 1, 1, 1, 1));
        Assert.Equal(new double[] { -1, 0, 0, 0, 1, 0, 0, 0, -1 }, Flat3(n), (x, y) => Math.Abs(x - y) < 1e-15);
        // A small positive radicand (5e-8, under the 1e-7 cut) is also a half turn, not a = sqrt(5e-8) = 2.2e-4,
        // which would put ~4.5e-4 off the diagonal (as in FSL's example4d.nii.gz, radicand 1.0e-9).
        var p = NiftiAffine.QuaternionToMatrix(new NiftiQuaternion(0, Math.Sqrt(1 - 5e-8), 0, 0, 0, 0, 1, 1, 1, 1));
        Assert.Equal(new double[] { -1, 0, 0, 0, 1, 0, 0, 0, -1 }, Flat3(p), (x, y) => Math.Abs(x - y) < 1e-12);
        // Non-positive voxel sizes count as 1; qfac 0 counts as +1.
        var z = NiftiAffine.QuaternionToMatrix(new NiftiQuaternion(0, 0, 0, 0, 0, 0, 0, -2, 3, 0));
        Assert.Equal(new double[] { 1, 0, 0, 0, 1, 0, 0, 0, 3 }, Flat3(z));
        // Each branch of matrix -> quaternion (a, b, c or d largest) inverts the map.
        foreach (var axis in new[] { new double[] { 1, 0, 0 }, [0, 1, 0], [0, 0, 1], [0.6, 0.8, 0] })
            foreach (double t in new[] { Math.PI, Math.PI - 1e-3, 0.1 })
            {
                double h = Math.Sin(t / 2);
                var q = new NiftiQuaternion(axis[0] * h, axis[1] * h, axis[2] * h, 0, 0, 0, 1, 1, 1, 1);
                var r = NiftiAffine.QuaternionToMatrix(q);
                var back = NiftiAffine.QuaternionToMatrix(NiftiAffine.MatrixToQuaternion(r));
                Assert.Equal(Flat3(r), Flat3(back), (x, y) => Math.Abs(x - y) < 1e-12);
            }
    }

    [Fact]
    public void Property_ShearIsDroppedToTheNearestRotation()
    {
        // The qform of a sheared affine keeps the orthogonal polar factor of its normalized
        // columns, which is U V^T from the SVD of that matrix (MathNet, independent of the Newton iteration).
        var rng = new SplitMix64(9);
        for (int trial = 0; trial < 50; trial++)
        {
            var r = Rodrigues(RandomAxis(rng), rng.Uniform(0, 3));
            var a = Matrix<double>.Build.DenseOfArray(r) * Matrix<double>.Build.DenseOfArray(new double[,]
            {
                { 2, rng.Uniform(-0.3, 0.3), rng.Uniform(-0.3, 0.3) },
                { 0, 3, rng.Uniform(-0.3, 0.3) },
                { 0, 0, 1.5 },
            });
            var affine = new double[4, 4];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    affine[i, j] = a[i, j];
            affine[3, 3] = 1;
            var q = NiftiAffine.MatrixToQuaternion(affine);
            var normalized = a.Clone();
            for (int j = 0; j < 3; j++)
            {
                Assert.Equal(a.Column(j).L2Norm(), j switch { 0 => q.Dx, 1 => q.Dy, _ => q.Dz }, 1e-12);
                normalized.SetColumn(j, a.Column(j) / a.Column(j).L2Norm());
            }
            var svd = normalized.Svd();
            var polar = svd.U * svd.VT;
            var rotation = NiftiAffine.QuaternionToMatrix(q with { Dx = 1, Dy = 1, Dz = 1 });
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    Assert.Equal(polar[i, j], rotation[i, j], 1e-9);
        }
    }

    [Fact]
    public void Edge_AffineSourceFollowsTheCodes()
    {
        var h = NiftiHeader.Create(NiftiDataType.Float32, 2, 2, 2) with { Pixdim = [1, 2, 3, 4, 1, 1, 1, 1] };
        Assert.Equal("pixdim", h.AffineSource);
        Assert.Equal(new double[] { 2, 0, 0, 0, 3, 0, 0, 0, 4 }, Flat3(h.Affine));
        var q = h with { QformCode = 1, QuaternD = 1, QoffsetX = 5 };
        Assert.Equal("qform", q.AffineSource);
        Assert.Equal(new double[] { -2, 0, 0, 0, -3, 0, 0, 0, 4 }, Flat3(q.Affine));
        Assert.Equal(5.0, q.Affine[0, 3]);
        var s = q with { SformCode = 3, SrowX = [1, 2, 3, 4], SrowY = [5, 6, 7, 8], SrowZ = [9, 10, 11, 12] };
        Assert.Equal("sform", s.AffineSource);
        Assert.Equal(new double[] { 1, 2, 3, 5, 6, 7, 9, 10, 11 }, Flat3(s.Affine));
        Assert.Equal(12.0, s.Affine[2, 3]);
    }

    private static double[] Flat3(double[,] m) => [m[0, 0], m[0, 1], m[0, 2], m[1, 0], m[1, 1], m[1, 2], m[2, 0], m[2, 1], m[2, 2]];
}
