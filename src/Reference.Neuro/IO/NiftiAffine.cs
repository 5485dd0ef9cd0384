namespace Reference.Neuro.IO;

/// <summary>
/// The qform's parameters (nifti1.h, "QUATERNION REPRESENTATION OF ROTATION MATRIX"): the
/// quaternion's imaginary parts b, c, d (a = sqrt(1 - b^2 - c^2 - d^2) is implied), the offsets
/// qoffset_x/y/z, the voxel sizes pixdim[1..3] and qfac = pixdim[0], the sign of the third
/// column (-1: a left-handed voxel grid).
/// </summary>
public readonly record struct NiftiQuaternion(
    double B, double C, double D, double OffsetX, double OffsetY, double OffsetZ,
    double Dx, double Dy, double Dz, double Qfac);

/// <summary>
/// The two voxel-to-world maps of a NIfTI header, as 4x4 matrices [row, column] acting on
/// (i, j, k, 1): method 2 (qform_code &gt; 0), a rigid rotation from a unit quaternion times the
/// voxel sizes plus an offset; method 3 (sform_code &gt; 0), a general affine stored as its first
/// three rows srow_x, srow_y, srow_z. Both follow nifti1_io.c (Cox, 2003) step for step, in
/// float64.
/// </summary>
public static class NiftiAffine
{
    /// <summary>
    /// nifti_quatern_to_mat44: R = rotation(a, b, c, d) * diag(dx, dy, qfac * dz), then the offsets.
    /// a = sqrt(1 - (b^2 + c^2 + d^2)); when that radicand is below 1e-7 the rotation is taken as
    /// 180 degrees: (b, c, d) is normalized and a = 0. Non-positive voxel sizes are replaced by 1;
    /// qfac &lt; 0 negates the third column (qfac 0 counts as +1, as nifti1.h says to treat it).
    /// </summary>
    public static double[,] QuaternionToMatrix(NiftiQuaternion q)
    {
        double b = q.B, c = q.C, d = q.D;
        double a = 1.0 - (b * b + c * c + d * d);
        if (a < 1e-7)
        {
            a = 1.0 / Math.Sqrt(b * b + c * c + d * d);
            b *= a;
            c *= a;
            d *= a;
            a = 0.0;
        }
        else a = Math.Sqrt(a);

        double xd = q.Dx > 0 ? q.Dx : 1.0;
        double yd = q.Dy > 0 ? q.Dy : 1.0;
        double zd = q.Dz > 0 ? q.Dz : 1.0;
        if (q.Qfac < 0) zd = -zd;

        return new double[,]
        {
            { (a * a + b * b - c * c - d * d) * xd, 2.0 * (b * c - a * d) * yd, 2.0 * (b * d + a * c) * zd, q.OffsetX },
            { 2.0 * (b * c + a * d) * xd, (a * a + c * c - b * b - d * d) * yd, 2.0 * (c * d - a * b) * zd, q.OffsetY },
            { 2.0 * (b * d - a * c) * xd, 2.0 * (c * d + a * b) * yd, (a * a + d * d - c * c - b * b) * zd, q.OffsetZ },
            { 0, 0, 0, 1 },
        };
    }

    /// <summary>
    /// nifti_mat44_to_quatern, the inverse of <see cref="QuaternionToMatrix"/> for any affine:
    /// the column lengths are the voxel sizes (a zero column becomes the unit axis), the
    /// normalized columns are replaced by the nearest orthogonal matrix (polar decomposition, so
    /// a shear is dropped), a negative determinant sets qfac = -1 and flips the third column, and
    /// the quaternion is read off the rotation (the branch on the largest of 4a^2, 4b^2, 4c^2,
    /// 4d^2 keeps it accurate; a &gt;= 0 always). The offsets are the fourth column.
    /// </summary>
    public static NiftiQuaternion MatrixToQuaternion(double[,] affine)
    {
        CheckShape(affine, nameof(affine));
        double r11 = affine[0, 0], r12 = affine[0, 1], r13 = affine[0, 2];
        double r21 = affine[1, 0], r22 = affine[1, 1], r23 = affine[1, 2];
        double r31 = affine[2, 0], r32 = affine[2, 1], r33 = affine[2, 2];

        double xd = Math.Sqrt(r11 * r11 + r21 * r21 + r31 * r31);
        double yd = Math.Sqrt(r12 * r12 + r22 * r22 + r32 * r32);
        double zd = Math.Sqrt(r13 * r13 + r23 * r23 + r33 * r33);
        if (xd == 0) { r11 = 1; r21 = r31 = 0; xd = 1; }
        if (yd == 0) { r22 = 1; r12 = r32 = 0; yd = 1; }
        if (zd == 0) { r33 = 1; r13 = r23 = 0; zd = 1; }
        double dx = xd, dy = yd, dz = zd;
        r11 /= xd; r21 /= xd; r31 /= xd;
        r12 /= yd; r22 /= yd; r32 /= yd;
        r13 /= zd; r23 /= zd; r33 /= zd;

        var p = Polar(new double[,] { { r11, r12, r13 }, { r21, r22, r23 }, { r31, r32, r33 } });
        r11 = p[0, 0]; r12 = p[0, 1]; r13 = p[0, 2];
        r21 = p[1, 0]; r22 = p[1, 1]; r23 = p[1, 2];
        r31 = p[2, 0]; r32 = p[2, 1]; r33 = p[2, 2];

        double qfac = 1.0;
        if (Determinant(p) <= 0)
        {
            qfac = -1.0;
            r13 = -r13;
            r23 = -r23;
            r33 = -r33;
        }

        double a = r11 + r22 + r33 + 1.0, b, c, d;
        if (a > 0.5)
        {
            a = 0.5 * Math.Sqrt(a);
            b = 0.25 * (r32 - r23) / a;
            c = 0.25 * (r13 - r31) / a;
            d = 0.25 * (r21 - r12) / a;
        }
        else
        {
            double fb = 1.0 + r11 - (r22 + r33); // 4 b^2
            double fc = 1.0 + r22 - (r11 + r33); // 4 c^2
            double fd = 1.0 + r33 - (r11 + r22); // 4 d^2
            if (fb > 1.0)
            {
                b = 0.5 * Math.Sqrt(fb);
                c = 0.25 * (r12 + r21) / b;
                d = 0.25 * (r13 + r31) / b;
                a = 0.25 * (r32 - r23) / b;
            }
            else if (fc > 1.0)
            {
                c = 0.5 * Math.Sqrt(fc);
                b = 0.25 * (r12 + r21) / c;
                d = 0.25 * (r23 + r32) / c;
                a = 0.25 * (r13 - r31) / c;
            }
            else
            {
                d = 0.5 * Math.Sqrt(fd);
                b = 0.25 * (r13 + r31) / d;
                c = 0.25 * (r23 + r32) / d;
                a = 0.25 * (r21 - r12) / d;
            }
            if (a < 0) { b = -b; c = -c; d = -d; }
        }
        return new NiftiQuaternion(b, c, d, affine[0, 3], affine[1, 3], affine[2, 3], dx, dy, dz, qfac);
    }

    /// <summary>The sform: rows srow_x, srow_y, srow_z and (0, 0, 0, 1).</summary>
    public static double[,] FromRows(IReadOnlyList<double> srowX, IReadOnlyList<double> srowY, IReadOnlyList<double> srowZ)
    {
        var m = new double[4, 4];
        for (int j = 0; j < 4; j++)
        {
            m[0, j] = srowX[j];
            m[1, j] = srowY[j];
            m[2, j] = srowZ[j];
        }
        m[3, 3] = 1;
        return m;
    }

    /// <summary>Method 1 of nifti1.h (both codes 0, the old ANALYZE way): x = pixdim[1] * i, y = pixdim[2] * j, z = pixdim[3] * k.</summary>
    public static double[,] FromVoxelSizes(double dx, double dy, double dz) =>
        new double[,] { { dx, 0, 0, 0 }, { 0, dy, 0, 0 }, { 0, 0, dz, 0 }, { 0, 0, 0, 1 } };

    /// <summary>Applies <paramref name="affine"/> to voxel indices (i, j, k).</summary>
    public static (double X, double Y, double Z) Apply(double[,] affine, double i, double j, double k)
    {
        CheckShape(affine, nameof(affine));
        return (affine[0, 0] * i + affine[0, 1] * j + affine[0, 2] * k + affine[0, 3],
                affine[1, 0] * i + affine[1, 1] * j + affine[1, 2] * k + affine[1, 3],
                affine[2, 0] * i + affine[2, 1] * j + affine[2, 2] * k + affine[2, 3]);
    }

    internal static void CheckShape(double[,] affine, string name)
    {
        ArgumentNullException.ThrowIfNull(affine, name);
        if (affine.GetLength(0) != 4 || affine.GetLength(1) != 4)
            throw new ArgumentException($"an affine must be 4 x 4, found {affine.GetLength(0)} x {affine.GetLength(1)}.", name);
        if (affine[3, 0] != 0 || affine[3, 1] != 0 || affine[3, 2] != 0 || affine[3, 3] != 1)
            throw new ArgumentException(
                $"an affine's last row must be (0, 0, 0, 1), found ({affine[3, 0]}, {affine[3, 1]}, {affine[3, 2]}, {affine[3, 3]}).", name);
        foreach (double v in affine)
            if (!double.IsFinite(v)) throw new ArgumentException("an affine must be finite.", name);
    }

    private static double Determinant(double[,] r) =>
        r[0, 0] * r[1, 1] * r[2, 2] - r[0, 0] * r[2, 1] * r[1, 2] - r[1, 0] * r[0, 1] * r[2, 2]
        + r[1, 0] * r[2, 1] * r[0, 2] + r[2, 0] * r[0, 1] * r[1, 2] - r[2, 0] * r[1, 1] * r[0, 2];

    /// <summary>
    /// nifti_mat33_polar: the orthogonal factor of A = Q H (the orthogonal matrix nearest A in the
    /// Frobenius norm) by Higham's scaled Newton iteration X &lt;- (g X + X^-T / g) / 2 (Higham,
    /// SIAM J. Sci. Stat. Comput. 7:1160, 1986), scaled by g = sqrt(sqrt(|Y|_1 |Y|_inf) /
    /// sqrt(|X|_1 |X|_inf)) until the step is below 0.3, then unscaled. A singular A is nudged
    /// along its diagonal first. nifti1_io.c stops at a step of 3e-6 (float precision); this
    /// float64 version iterates to 1e-14 (at most 100 steps).
    /// </summary>
    private static double[,] Polar(double[,] a)
    {
        var x = (double[,])a.Clone();
        double det = Determinant(x);
        while (det == 0)
        {
            double nudge = 0.00001 * (0.001 + RowNorm(x));
            for (int i = 0; i < 3; i++) x[i, i] += nudge;
            det = Determinant(x);
        }
        double dif = 1.0;
        var z = x;
        for (int k = 0; k < 100; k++)
        {
            var y = Inverse(x);
            double gam = 1.0, gmi = 1.0;
            if (dif > 0.3)
            {
                double alp = Math.Sqrt(RowNorm(x) * ColumnNorm(x));
                double bet = Math.Sqrt(RowNorm(y) * ColumnNorm(y));
                gam = Math.Sqrt(bet / alp);
                gmi = 1.0 / gam;
            }
            z = new double[3, 3];
            dif = 0;
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                {
                    z[i, j] = 0.5 * (gam * x[i, j] + gmi * y[j, i]);
                    dif += Math.Abs(z[i, j] - x[i, j]);
                }
            if (dif < 1e-14) break;
            x = z;
        }
        return z;
    }

    private static double[,] Inverse(double[,] r)
    {
        double det = Determinant(r);
        double s = det != 0 ? 1.0 / det : 0.0;
        return new double[,]
        {
            { s * (r[1, 1] * r[2, 2] - r[2, 1] * r[1, 2]), s * (-r[0, 1] * r[2, 2] + r[2, 1] * r[0, 2]), s * (r[0, 1] * r[1, 2] - r[1, 1] * r[0, 2]) },
            { s * (-r[1, 0] * r[2, 2] + r[2, 0] * r[1, 2]), s * (r[0, 0] * r[2, 2] - r[2, 0] * r[0, 2]), s * (-r[0, 0] * r[1, 2] + r[1, 0] * r[0, 2]) },
            { s * (r[1, 0] * r[2, 1] - r[2, 0] * r[1, 1]), s * (-r[0, 0] * r[2, 1] + r[2, 0] * r[0, 1]), s * (r[0, 0] * r[1, 1] - r[1, 0] * r[0, 1]) },
        };
    }

    private static double RowNorm(double[,] m)
    {
        double best = 0;
        for (int i = 0; i < 3; i++) best = Math.Max(best, Math.Abs(m[i, 0]) + Math.Abs(m[i, 1]) + Math.Abs(m[i, 2]));
        return best;
    }

    private static double ColumnNorm(double[,] m)
    {
        double best = 0;
        for (int j = 0; j < 3; j++) best = Math.Max(best, Math.Abs(m[0, j]) + Math.Abs(m[1, j]) + Math.Abs(m[2, j]));
        return best;
    }
}
