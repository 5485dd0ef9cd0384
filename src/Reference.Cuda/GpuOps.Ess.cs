using System.Numerics;
using ILGPU;
using ILGPU.Runtime;
using Reference.Cuda.Kernels;

namespace Reference.Cuda;

public static partial class GpuOps
{
    // ---------------------------------------------------------------- singular values (ESS)

    /// <summary>Sweeps of one-sided Jacobi before a matrix is declared unconverged (the naive tier's cap).</summary>
    public const int MaxJacobiSweeps = 100;

    /// <summary>
    /// Singular values of <paramref name="count"/> rows x cols matrices stored back to back in a
    /// (row-major): sigma[b, 0..min(rows, cols)) per matrix b, descending; the device counterpart
    /// of <c>SingularValues.ComputeBatch</c>, by one-sided Jacobi (<see cref="SingularValuesKernel"/>).
    /// </summary>
    public static T[] SingularValuesBatch<T>(T[] a, int count, int rows, int cols) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(a);
        if (count < 0 || rows < 1 || cols < 1)
            throw new ArgumentException($"batched singular values need count >= 0, rows >= 1, cols >= 1; got count {count}, rows {rows}, cols {cols}.", nameof(count));
        if (a.Length != (long)count * rows * cols)
            throw new ArgumentException($"a has {a.Length} elements; expected count * rows * cols = {(long)count * rows * cols}.", nameof(a));
        var blocks = new (long Offset, int Rows, int Cols, int Lda)[count];
        for (int b = 0; b < count; b++) blocks[b] = ((long)b * rows * cols, rows, cols, cols);
        var sigma = SingularValues(a, blocks);
        int p = Math.Min(rows, cols);
        var result = new T[(long)count * p];
        for (int b = 0; b < count; b++) sigma[b].CopyTo(result, (long)b * p);
        return result;
    }

    /// <summary>
    /// Singular values of every split block H_s = t[c, s:L, 0:s] (s = 1..L-1) of count operator
    /// matrices t [count, L, L] (row-major): result[c (L - 1) + s - 1] holds min(s, L - s) values,
    /// descending (what ESS reduces; <c>EffectiveStateSize.Compute</c>'s blocks, one launch for all).
    /// </summary>
    public static T[][] SplitSingularValues<T>(T[] t, int count, int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(t);
        if (count < 0 || length < 2)
            throw new ArgumentException($"split singular values need count >= 0 and L >= 2; got count {count}, L {length}.", nameof(length));
        if (t.Length != (long)count * length * length)
            throw new ArgumentException($"t has {t.Length} elements; expected count * L * L = {(long)count * length * length}.", nameof(t));
        var blocks = new (long Offset, int Rows, int Cols, int Lda)[count * (length - 1)];
        for (int c = 0; c < count; c++)
            for (int s = 1; s < length; s++)
                blocks[c * (length - 1) + s - 1] = ((long)c * length * length + (long)s * length, length - s, s, length);
        return SingularValues(t, blocks);
    }

    /// <summary>
    /// Singular values (descending) of the blocks of a: block b is Rows x Cols at Offset with row
    /// stride Lda. One launch, one warp per block; the workspace (n m per block) lives on the device
    /// for the call only.
    /// </summary>
    public static T[][] SingularValues<T>(T[] a, (long Offset, int Rows, int Cols, int Lda)[] blocks) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(blocks);
        int count = blocks.Length;
        var offsets = new long[count];
        var shapes = new int[4 * count];
        var workOffsets = new long[count];
        var sigmaOffsets = new long[count];
        var scales = new T[3 * count];
        double u = System.Runtime.CompilerServices.Unsafe.SizeOf<T>() == 4 ? Math.ScaleB(1.0, -24) : Math.ScaleB(1.0, -53);
        long workLength = 0, sigmaLength = 0;
        for (int b = 0; b < count; b++)
        {
            var (offset, rows, cols, lda) = blocks[b];
            if (rows < 1 || cols < 1 || lda < cols || offset < 0 || offset + (long)(rows - 1) * lda + cols > a.Length)
                throw new ArgumentException($"block {b} (offset {offset}, {rows} x {cols}, stride {lda}) does not lie inside a ({a.Length} elements) with rows, cols >= 1 and stride >= cols.", nameof(blocks));
            double largest = 0, squares = 0;
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++)
                {
                    var value = double.CreateTruncating(a[offset + (long)i * lda + j]);
                    if (!double.IsFinite(value))
                        throw new ArgumentException($"block {b} entry [{i}, {j}] = {value}; singular values are defined for finite matrices only.", nameof(a));
                    largest = Math.Max(largest, Math.Abs(value));
                    squares += value * value;
                }
            // Work on A / 2^ilogb(max |a_ij|) (exact) so the squared norms neither overflow nor underflow early.
            double scale = largest > 0 ? Math.ScaleB(1.0, Math.ILogB(largest)) : 1.0, threshold = Math.Max(rows, cols) * u;
            scales[3 * b] = T.CreateTruncating(scale);
            scales[3 * b + 1] = T.CreateTruncating(threshold);
            scales[3 * b + 2] = T.CreateTruncating(threshold * threshold * (squares / scale / scale));
            offsets[b] = offset;
            shapes[4 * b] = rows;
            shapes[4 * b + 1] = cols;
            shapes[4 * b + 2] = lda;
            workOffsets[b] = workLength;
            sigmaOffsets[b] = sigmaLength;
            workLength += (long)rows * cols;
            sigmaLength += Math.Min(rows, cols);
        }
        var result = new T[count][];
        if (count == 0) return result;
        var acc = Device.Accelerator;
        using var da = acc.Allocate1D(a);
        using var dOffsets = acc.Allocate1D(offsets);
        using var dShapes = acc.Allocate1D(shapes);
        using var dWorkOffsets = acc.Allocate1D(workOffsets);
        using var dSigmaOffsets = acc.Allocate1D(sigmaOffsets);
        using var dWork = acc.Allocate1D<T>(workLength);
        using var dSigma = acc.Allocate1D<T>(sigmaLength);
        using var dStatus = acc.Allocate1D<int>(count);
        using var dScales = acc.Allocate1D(scales);
        var kernel = Kernel(acc, "svd.jacobi", typeof(T), x => x.LoadStreamKernel<ArrayView<T>, ArrayView<long>, ArrayView<int>, ArrayView<long>,
            ArrayView<long>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<int>, int>(SingularValuesKernel.Kernel));
        kernel(SingularValuesKernel.Config(count), da.View, dOffsets.View, dShapes.View, dWorkOffsets.View, dSigmaOffsets.View,
            dScales.View, dWork.View, dSigma.View, dStatus.View, MaxJacobiSweeps);
        acc.Synchronize();
        var sigma = new T[sigmaLength];
        var status = new int[count];
        dSigma.View.CopyToCPU(sigma);
        dStatus.View.CopyToCPU(status);
        for (int b = 0; b < count; b++)
        {
            if (status[b] < 0) throw new ArithmeticException($"one-sided Jacobi did not converge in {MaxJacobiSweeps} sweeps (block {b}).");
            int p = Math.Min(blocks[b].Rows, blocks[b].Cols);
            var values = sigma.AsSpan((int)sigmaOffsets[b], p).ToArray();
            Array.Sort(values, (x, y) => y.CompareTo(x));
            result[b] = values;
        }
        return result;
    }
}
