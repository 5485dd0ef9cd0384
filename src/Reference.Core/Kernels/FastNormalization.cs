using System.Numerics;
using System.Runtime.Intrinsics;

namespace Reference.Core.Kernels;

/// <summary>
/// Fast tier of <see cref="NaiveNormalization"/> (same definitions, argument rules and outputs),
/// generic over float and double. Each row is a handful of TensorPrimitives calls (max, exp, sum,
/// dot, scale), so the within-row sums follow TensorPrimitives' lane order (see
/// <see cref="FastReductions"/>). Large inputs are split by rows over the cores; a row is always
/// computed by a single thread, so the result does not depend on the thread count. The dgamma/dbeta
/// sums over rows run on one thread, vectorized across columns, in increasing row order.
/// </summary>
public static unsafe class FastNormalization
{
    /// <summary>y[r, :] = softmax(x[r, :]) with the max subtracted first (log-sum-exp trick); x, y: [rows x cols].</summary>
    public static void Softmax<T>(ReadOnlySpan<T> x, Span<T> y, int cols) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = ElementwiseChecks.Rows(x.Length, cols, nameof(x));
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        fixed (T* px = x, py = y)
        {
            nint ax = (nint)px, ay = (nint)py;
            RowParallel.For(rows, x.Length, (first, count) =>
            {
                for (int r = first; r < first + count; r++)
                {
                    var xr = new ReadOnlySpan<T>((T*)ax + (long)r * cols, cols);
                    var yr = new Span<T>((T*)ay + (long)r * cols, cols);
                    T m = TensorPrimitives.Max(xr);
                    TensorPrimitives.Subtract(xr, m, yr);
                    VectorMath.Exp<T>(yr, yr);
                    TensorPrimitives.Divide(yr, TensorPrimitives.Sum<T>(yr), yr);
                }
            });
        }
    }

    /// <summary>y[r, :] = (x - m) - log sum exp(x - m) per row; x, y: [rows x cols].</summary>
    public static void LogSoftmax<T>(ReadOnlySpan<T> x, Span<T> y, int cols) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = ElementwiseChecks.Rows(x.Length, cols, nameof(x));
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        fixed (T* px = x, py = y)
        {
            nint ax = (nint)px, ay = (nint)py;
            RowParallel.For(rows, x.Length, (first, count) =>
            {
                var e = new T[cols];
                for (int r = first; r < first + count; r++)
                {
                    var xr = new ReadOnlySpan<T>((T*)ax + (long)r * cols, cols);
                    var yr = new Span<T>((T*)ay + (long)r * cols, cols);
                    T m = TensorPrimitives.Max(xr);
                    TensorPrimitives.Subtract(xr, m, yr);
                    VectorMath.Exp<T>(yr, e);
                    TensorPrimitives.Subtract(yr, T.Log(TensorPrimitives.Sum<T>(e)), yr);
                }
            });
        }
    }

    /// <summary>From y = softmax(x): dx = y (dy - sum(dy y)) per row.</summary>
    public static void SoftmaxBackward<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int cols) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = ElementwiseChecks.Rows(y.Length, cols, nameof(y));
        ElementwiseChecks.SameLength(y.Length, dy.Length, nameof(dy));
        ElementwiseChecks.SameLength(y.Length, dx.Length, nameof(dx));
        fixed (T* py = y, pdy = dy, pdx = dx)
        {
            nint ay = (nint)py, ady = (nint)pdy, adx = (nint)pdx;
            RowParallel.For(rows, y.Length, (first, count) =>
            {
                for (int r = first; r < first + count; r++)
                {
                    var yr = new ReadOnlySpan<T>((T*)ay + (long)r * cols, cols);
                    var dyr = new ReadOnlySpan<T>((T*)ady + (long)r * cols, cols);
                    var dxr = new Span<T>((T*)adx + (long)r * cols, cols);
                    T s = TensorPrimitives.Dot(dyr, yr);
                    TensorPrimitives.Subtract(dyr, s, dxr);
                    TensorPrimitives.Multiply(dxr, yr, dxr);
                }
            });
        }
    }

    /// <summary>From y = log_softmax(x): dx = dy - exp(y) sum(dy) per row.</summary>
    public static void LogSoftmaxBackward<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int cols) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = ElementwiseChecks.Rows(y.Length, cols, nameof(y));
        ElementwiseChecks.SameLength(y.Length, dy.Length, nameof(dy));
        ElementwiseChecks.SameLength(y.Length, dx.Length, nameof(dx));
        fixed (T* py = y, pdy = dy, pdx = dx)
        {
            nint ay = (nint)py, ady = (nint)pdy, adx = (nint)pdx;
            RowParallel.For(rows, y.Length, (first, count) =>
            {
                var e = new T[cols];
                for (int r = first; r < first + count; r++)
                {
                    var yr = new ReadOnlySpan<T>((T*)ay + (long)r * cols, cols);
                    var dyr = new ReadOnlySpan<T>((T*)ady + (long)r * cols, cols);
                    var dxr = new Span<T>((T*)adx + (long)r * cols, cols);
                    T s = TensorPrimitives.Sum(dyr);
                    VectorMath.Exp<T>(yr, e);
                    TensorPrimitives.Multiply(e, -s, e);
                    TensorPrimitives.Add(dyr, e, dxr);
                }
            });
        }
    }

    /// <summary>Layer norm per row; x, y: [rows x cols]; gamma, beta: [cols] or empty; mean, rstd: [rows] or empty.</summary>
    public static void LayerNorm<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta,
        Span<T> y, Span<T> mean, Span<T> rstd, int cols, double eps = NaiveNormalization.DefaultLayerNormEps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = ElementwiseChecks.Rows(x.Length, cols, nameof(x));
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        NormalizationChecks.Optional(gamma.Length, cols, nameof(gamma));
        NormalizationChecks.Optional(beta.Length, cols, nameof(beta));
        NormalizationChecks.Optional(mean.Length, rows, nameof(mean));
        NormalizationChecks.Optional(rstd.Length, rows, nameof(rstd));
        NormalizationChecks.Eps(eps);
        T n = T.CreateTruncating(cols), e = T.CreateTruncating(eps);
        bool hasGamma = !gamma.IsEmpty, hasBeta = !beta.IsEmpty, hasMean = !mean.IsEmpty, hasRstd = !rstd.IsEmpty;
        fixed (T* px = x, pg = gamma, pb = beta, py = y, pm = mean, ps = rstd)
        {
            nint ax = (nint)px, ag = (nint)pg, ab = (nint)pb, ay = (nint)py, am = (nint)pm, ars = (nint)ps;
            if (typeof(T) == typeof(double) && LayerNormRows512.Fits(cols) && hasGamma && hasBeta && hasMean && hasRstd)
            {
                RowParallel.For(rows, x.Length, (first, count) =>
                    LayerNormRows512.Forward((double*)ax, (double*)ag, (double*)ab, (double*)ay, (double*)am, (double*)ars, cols, first, count, double.CreateTruncating(e)));
                return;
            }
            RowParallel.For(rows, x.Length, (first, count) =>
            {
                var g = new ReadOnlySpan<T>((T*)ag, hasGamma ? cols : 0);
                var b = new ReadOnlySpan<T>((T*)ab, hasBeta ? cols : 0);
                for (int r = first; r < first + count; r++)
                {
                    var xr = new ReadOnlySpan<T>((T*)ax + (long)r * cols, cols);
                    var yr = new Span<T>((T*)ay + (long)r * cols, cols);
                    T mu = TensorPrimitives.Sum(xr) / n;
                    TensorPrimitives.Subtract(xr, mu, yr);
                    T rs = T.One / T.Sqrt(TensorPrimitives.SumOfSquares<T>(yr) / n + e);
                    TensorPrimitives.Multiply(yr, rs, yr);
                    if (hasGamma) TensorPrimitives.Multiply(yr, g, yr);
                    if (hasBeta) TensorPrimitives.Add(yr, b, yr);
                    if (hasMean) ((T*)am)[r] = mu;
                    if (hasRstd) ((T*)ars)[r] = rs;
                }
            });
        }
    }

    /// <summary>
    /// Layer norm backward from the saved mean and rstd [rows]: dx [rows x cols]; dgamma, dbeta [cols]
    /// when not empty (overwritten, summed over rows). gamma empty means 1.
    /// </summary>
    public static void LayerNormBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> gamma, ReadOnlySpan<T> mean,
        ReadOnlySpan<T> rstd, ReadOnlySpan<T> dy, Span<T> dx, Span<T> dgamma, Span<T> dbeta, int cols)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = ElementwiseChecks.Rows(x.Length, cols, nameof(x));
        ElementwiseChecks.SameLength(x.Length, dx.Length, nameof(dx));
        ElementwiseChecks.SameLength(x.Length, dy.Length, nameof(dy));
        ElementwiseChecks.SameLength(rows, mean.Length, nameof(mean));
        ElementwiseChecks.SameLength(rows, rstd.Length, nameof(rstd));
        NormalizationChecks.Optional(gamma.Length, cols, nameof(gamma));
        NormalizationChecks.Optional(dgamma.Length, cols, nameof(dgamma));
        NormalizationChecks.Optional(dbeta.Length, cols, nameof(dbeta));

        // Parameter gradients first (dx may alias x or dy): sequential over rows, vectorized over columns.
        dgamma.Clear();
        dbeta.Clear();
        bool rows512 = typeof(T) == typeof(double) && LayerNormRows512.Fits(cols) && !gamma.IsEmpty;
        if (rows512 && !dgamma.IsEmpty && !dbeta.IsEmpty)
        {
            fixed (T* px = x, pm = mean, ps = rstd, pdy = dy, pdg = dgamma, pdb = dbeta)
                LayerNormRows512.ParameterGradients((double*)px, (double*)pm, (double*)ps, (double*)pdy, (double*)pdg, (double*)pdb, cols, rows);
        }
        else if (!dgamma.IsEmpty || !dbeta.IsEmpty)
        {
            var xhat = new T[cols];
            for (int r = 0; r < rows; r++)
            {
                var dyr = dy.Slice(r * cols, cols);
                if (!dbeta.IsEmpty) TensorPrimitives.Add(dbeta, dyr, dbeta);
                if (dgamma.IsEmpty) continue;
                TensorPrimitives.Subtract(x.Slice(r * cols, cols), mean[r], xhat);
                TensorPrimitives.Multiply(xhat, rstd[r], xhat);
                TensorPrimitives.MultiplyAdd(dyr, xhat, dgamma, dgamma);
            }
        }

        T n = T.CreateTruncating(cols);
        bool hasGamma = !gamma.IsEmpty;
        fixed (T* px = x, pg = gamma, pm = mean, ps = rstd, pdy = dy, pdx = dx)
        {
            nint ax = (nint)px, ag = (nint)pg, am = (nint)pm, ars = (nint)ps, ady = (nint)pdy, adx = (nint)pdx;
            if (rows512)
            {
                RowParallel.For(rows, x.Length, (first, count) =>
                    LayerNormRows512.InputGradient((double*)ax, (double*)ag, (double*)am, (double*)ars, (double*)ady, (double*)adx, cols, first, count));
                return;
            }
            RowParallel.For(rows, x.Length, (first, count) =>
            {
                var gammaSpan = new ReadOnlySpan<T>((T*)ag, hasGamma ? cols : 0);
                var xhat = new T[cols];
                var g = new T[cols];
                for (int r = first; r < first + count; r++)
                {
                    var xr = new ReadOnlySpan<T>((T*)ax + (long)r * cols, cols);
                    var dyr = new ReadOnlySpan<T>((T*)ady + (long)r * cols, cols);
                    var dxr = new Span<T>((T*)adx + (long)r * cols, cols);
                    T rs = ((T*)ars)[r];
                    TensorPrimitives.Subtract(xr, ((T*)am)[r], xhat);
                    TensorPrimitives.Multiply(xhat, rs, xhat);
                    if (hasGamma) TensorPrimitives.Multiply(dyr, gammaSpan, g);
                    else dyr.CopyTo(g);
                    T meanG = TensorPrimitives.Sum<T>(g) / n;
                    T meanGx = TensorPrimitives.Dot<T>(g, xhat) / n;
                    TensorPrimitives.Multiply(xhat, meanGx, dxr);
                    TensorPrimitives.Subtract(g, dxr, dxr);
                    TensorPrimitives.Subtract(dxr, meanG, dxr);
                    TensorPrimitives.Multiply(dxr, rs, dxr);
                }
            });
        }
    }

    /// <summary>RMS norm per row; x, y: [rows x cols]; gamma: [cols] or empty; rstd: [rows] or empty.</summary>
    public static void RmsNorm<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> gamma, Span<T> y, Span<T> rstd,
        int cols, double eps = NaiveNormalization.DefaultRmsNormEps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = ElementwiseChecks.Rows(x.Length, cols, nameof(x));
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        NormalizationChecks.Optional(gamma.Length, cols, nameof(gamma));
        NormalizationChecks.Optional(rstd.Length, rows, nameof(rstd));
        NormalizationChecks.Eps(eps);
        T n = T.CreateTruncating(cols), e = T.CreateTruncating(eps);
        bool hasGamma = !gamma.IsEmpty, hasRstd = !rstd.IsEmpty;
        fixed (T* px = x, pg = gamma, py = y, ps = rstd)
        {
            nint ax = (nint)px, ag = (nint)pg, ay = (nint)py, ars = (nint)ps;
            RowParallel.For(rows, x.Length, (first, count) =>
            {
                var g = new ReadOnlySpan<T>((T*)ag, hasGamma ? cols : 0);
                for (int r = first; r < first + count; r++)
                {
                    var xr = new ReadOnlySpan<T>((T*)ax + (long)r * cols, cols);
                    var yr = new Span<T>((T*)ay + (long)r * cols, cols);
                    T rs = T.One / T.Sqrt(TensorPrimitives.SumOfSquares(xr) / n + e);
                    TensorPrimitives.Multiply(xr, rs, yr);
                    if (hasGamma) TensorPrimitives.Multiply(yr, g, yr);
                    if (hasRstd) ((T*)ars)[r] = rs;
                }
            });
        }
    }

    /// <summary>RMS norm backward from the saved rstd [rows]: dx [rows x cols]; dgamma [cols] when not empty (overwritten).</summary>
    public static void RmsNormBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> gamma, ReadOnlySpan<T> rstd,
        ReadOnlySpan<T> dy, Span<T> dx, Span<T> dgamma, int cols) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = ElementwiseChecks.Rows(x.Length, cols, nameof(x));
        ElementwiseChecks.SameLength(x.Length, dx.Length, nameof(dx));
        ElementwiseChecks.SameLength(x.Length, dy.Length, nameof(dy));
        ElementwiseChecks.SameLength(rows, rstd.Length, nameof(rstd));
        NormalizationChecks.Optional(gamma.Length, cols, nameof(gamma));
        NormalizationChecks.Optional(dgamma.Length, cols, nameof(dgamma));

        dgamma.Clear();
        if (!dgamma.IsEmpty)
        {
            var xs = new T[cols];
            for (int r = 0; r < rows; r++)
            {
                TensorPrimitives.Multiply(x.Slice(r * cols, cols), rstd[r], xs);
                TensorPrimitives.MultiplyAdd(dy.Slice(r * cols, cols), xs, dgamma, dgamma);
            }
        }

        T n = T.CreateTruncating(cols);
        bool hasGamma = !gamma.IsEmpty;
        fixed (T* px = x, pg = gamma, ps = rstd, pdy = dy, pdx = dx)
        {
            nint ax = (nint)px, ag = (nint)pg, ars = (nint)ps, ady = (nint)pdy, adx = (nint)pdx;
            RowParallel.For(rows, x.Length, (first, count) =>
            {
                var gammaSpan = new ReadOnlySpan<T>((T*)ag, hasGamma ? cols : 0);
                var g = new T[cols];
                for (int r = first; r < first + count; r++)
                {
                    var xr = new ReadOnlySpan<T>((T*)ax + (long)r * cols, cols);
                    var dyr = new ReadOnlySpan<T>((T*)ady + (long)r * cols, cols);
                    var dxr = new Span<T>((T*)adx + (long)r * cols, cols);
                    T rs = ((T*)ars)[r];
                    if (hasGamma) TensorPrimitives.Multiply(dyr, gammaSpan, g);
                    else dyr.CopyTo(g);
                    T meanGx = TensorPrimitives.Dot<T>(g, xr) / n;
                    TensorPrimitives.Multiply(xr, rs * rs * meanGx, dxr);
                    TensorPrimitives.Subtract(g, dxr, dxr);
                    TensorPrimitives.Multiply(dxr, rs, dxr);
                }
            });
        }
    }
}

/// <summary>
/// <see cref="FastNormalization.LayerNorm{T}"/> and its backward in float64 for rows of a multiple of 8 columns with gamma
/// and beta (a model's LayerNorm): each row in one pass of Vector512 loops (sum, centred sum of squares, output) instead
/// of a TensorPrimitives call per step, which at a model width of 32 (4 vectors a row) cost more than the arithmetic
/// (bench/NOTES.md, h3speed). Per element the same operations in the same order as the generic rows
/// ((x - mean) rstd, then times gamma, plus beta; dgamma += dy xhat, dbeta += dy unfused, rows in order); the row sums
/// (mean, variance, sum g, sum g xhat) keep one partial sum per lane, added across the vector at the end, so mean,
/// rstd and dx differ from the generic rows by that reassociation only (tests: against the naive tier, float64 bounds).
/// </summary>
internal static unsafe class LayerNormRows512
{
    private const int W = 8;

    public static bool Fits(int cols) => Vector512.IsHardwareAccelerated && cols % W == 0 && cols > 0;

    public static void Forward(double* x, double* gamma, double* beta, double* y, double* mean, double* rstd, int cols, int first, int count, double eps)
    {
        int r = first, end = first + count;
        // Two rows per pass: a row is a chain of dependent steps (sum, its horizontal add, a division, the centred squares,
        // another horizontal add, sqrt and division) of ~150 cycles at width 32 with little work beside it; two interleaved
        // chains keep the core busy where out-of-order execution alone overlapped rows only in part (bench/NOTES.md, h3gelu).
        // Each row's operations and their order are those of the one-row loop, so the same bits.
        for (; r + 2 <= end; r += 2) ForwardPair(x, gamma, beta, y, mean, rstd, cols, r, eps);
        if (r < end) ForwardRow(x, gamma, beta, y, mean, rstd, cols, r, eps);
    }

    private static void ForwardRow(double* x, double* gamma, double* beta, double* y, double* mean, double* rstd, int cols, int r, double eps)
    {
        double n = cols;
        double* xr = x + (long)r * cols, yr = y + (long)r * cols;
        var sum = Vector512<double>.Zero;
        for (int j = 0; j < cols; j += W) sum += Vector512.Load(xr + j);
        double mu = Vector512.Sum(sum) / n;
        var muV = Vector512.Create(mu);
        var squares = Vector512<double>.Zero;
        for (int j = 0; j < cols; j += W)
        {
            var d = Vector512.Load(xr + j) - muV;
            squares += d * d;
        }
        double rs = 1.0 / Math.Sqrt(Vector512.Sum(squares) / n + eps);
        var rsV = Vector512.Create(rs);
        for (int j = 0; j < cols; j += W)
            ((Vector512.Load(xr + j) - muV) * rsV * Vector512.Load(gamma + j) + Vector512.Load(beta + j)).Store(yr + j);
        mean[r] = mu;
        rstd[r] = rs;
    }

    private static void ForwardPair(double* x, double* gamma, double* beta, double* y, double* mean, double* rstd, int cols, int r, double eps)
    {
        double n = cols;
        double* xa = x + (long)r * cols, ya = y + (long)r * cols, xb = xa + cols, yb = ya + cols;
        Vector512<double> sumA = Vector512<double>.Zero, sumB = Vector512<double>.Zero;
        for (int j = 0; j < cols; j += W)
        {
            sumA += Vector512.Load(xa + j);
            sumB += Vector512.Load(xb + j);
        }
        double muA = Vector512.Sum(sumA) / n, muB = Vector512.Sum(sumB) / n;
        Vector512<double> muAV = Vector512.Create(muA), muBV = Vector512.Create(muB);
        Vector512<double> squaresA = Vector512<double>.Zero, squaresB = Vector512<double>.Zero;
        for (int j = 0; j < cols; j += W)
        {
            var da = Vector512.Load(xa + j) - muAV;
            var db = Vector512.Load(xb + j) - muBV;
            squaresA += da * da;
            squaresB += db * db;
        }
        double rsA = 1.0 / Math.Sqrt(Vector512.Sum(squaresA) / n + eps), rsB = 1.0 / Math.Sqrt(Vector512.Sum(squaresB) / n + eps);
        Vector512<double> rsAV = Vector512.Create(rsA), rsBV = Vector512.Create(rsB);
        for (int j = 0; j < cols; j += W)
        {
            var g = Vector512.Load(gamma + j);
            var b = Vector512.Load(beta + j);
            ((Vector512.Load(xa + j) - muAV) * rsAV * g + b).Store(ya + j);
            ((Vector512.Load(xb + j) - muBV) * rsBV * g + b).Store(yb + j);
        }
        mean[r] = muA;
        rstd[r] = rsA;
        mean[r + 1] = muB;
        rstd[r + 1] = rsB;
    }

    /// <summary>
    /// dgamma = sum over rows (in order) of dy xhat, dbeta = sum of dy; both overwritten. Columns in blocks of four vectors whose
    /// sums stay in registers over all rows (the same operations per element in the same row order as adding each row onto the
    /// stored sums, so the same bits, without a store and reload per row: that chain through memory bound the loop).
    /// </summary>
    public static void ParameterGradients(double* x, double* mean, double* rstd, double* dy, double* dgamma, double* dbeta, int cols, int rows)
    {
        int j = 0;
        for (; j + 4 * W <= cols; j += 4 * W)
        {
            Vector512<double> g0 = default, g1 = default, g2 = default, g3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            for (int r = 0; r < rows; r++)
            {
                double* xr = x + (long)r * cols + j, dyr = dy + (long)r * cols + j;
                var muV = Vector512.Create(mean[r]);
                var rsV = Vector512.Create(rstd[r]);
                var d0 = Vector512.Load(dyr);
                var d1 = Vector512.Load(dyr + W);
                var d2 = Vector512.Load(dyr + 2 * W);
                var d3 = Vector512.Load(dyr + 3 * W);
                g0 = d0 * ((Vector512.Load(xr) - muV) * rsV) + g0;
                g1 = d1 * ((Vector512.Load(xr + W) - muV) * rsV) + g1;
                g2 = d2 * ((Vector512.Load(xr + 2 * W) - muV) * rsV) + g2;
                g3 = d3 * ((Vector512.Load(xr + 3 * W) - muV) * rsV) + g3;
                b0 += d0; b1 += d1; b2 += d2; b3 += d3;
            }
            g0.Store(dgamma + j); g1.Store(dgamma + j + W); g2.Store(dgamma + j + 2 * W); g3.Store(dgamma + j + 3 * W);
            b0.Store(dbeta + j); b1.Store(dbeta + j + W); b2.Store(dbeta + j + 2 * W); b3.Store(dbeta + j + 3 * W);
        }
        for (; j < cols; j += W)
        {
            Vector512<double> g0 = Vector512<double>.Zero, b0 = Vector512<double>.Zero;
            for (int r = 0; r < rows; r++)
            {
                var d0 = Vector512.Load(dy + (long)r * cols + j);
                g0 = d0 * ((Vector512.Load(x + (long)r * cols + j) - Vector512.Create(mean[r])) * Vector512.Create(rstd[r])) + g0;
                b0 += d0;
            }
            g0.Store(dgamma + j);
            b0.Store(dbeta + j);
        }
    }

    /// <summary>dx = (g - xhat mean(g xhat) - mean(g)) rstd with g = dy gamma, rows first .. first + count - 1.</summary>
    public static void InputGradient(double* x, double* gamma, double* mean, double* rstd, double* dy, double* dx, int cols, int first, int count)
    {
        int r = first, end = first + count;
        // Two rows per pass, for the reason given at Forward (each row's operations as in the one-row loop: the same bits).
        for (; r + 2 <= end; r += 2) InputGradientPair(x, gamma, mean, rstd, dy, dx, cols, r);
        if (r < end) InputGradientRow(x, gamma, mean, rstd, dy, dx, cols, r);
    }

    private static void InputGradientRow(double* x, double* gamma, double* mean, double* rstd, double* dy, double* dx, int cols, int r)
    {
        double n = cols;
        double* xr = x + (long)r * cols, dyr = dy + (long)r * cols, dxr = dx + (long)r * cols;
        var muV = Vector512.Create(mean[r]);
        var rsV = Vector512.Create(rstd[r]);
        Vector512<double> sumG = Vector512<double>.Zero, sumGx = Vector512<double>.Zero;
        for (int j = 0; j < cols; j += W)
        {
            var g = Vector512.Load(dyr + j) * Vector512.Load(gamma + j);
            var xhat = (Vector512.Load(xr + j) - muV) * rsV;
            sumG += g;
            sumGx += g * xhat;
        }
        var meanG = Vector512.Create(Vector512.Sum(sumG) / n);
        var meanGx = Vector512.Create(Vector512.Sum(sumGx) / n);
        // dx may alias x or dy: each vector of the row is read before its own store.
        for (int j = 0; j < cols; j += W)
        {
            var g = Vector512.Load(dyr + j) * Vector512.Load(gamma + j);
            var xhat = (Vector512.Load(xr + j) - muV) * rsV;
            ((g - xhat * meanGx - meanG) * rsV).Store(dxr + j);
        }
    }

    private static void InputGradientPair(double* x, double* gamma, double* mean, double* rstd, double* dy, double* dx, int cols, int r)
    {
        double n = cols;
        double* xa = x + (long)r * cols, dya = dy + (long)r * cols, dxa = dx + (long)r * cols;
        double* xb = xa + cols, dyb = dya + cols, dxb = dxa + cols;
        Vector512<double> muA = Vector512.Create(mean[r]), muB = Vector512.Create(mean[r + 1]);
        Vector512<double> rsA = Vector512.Create(rstd[r]), rsB = Vector512.Create(rstd[r + 1]);
        Vector512<double> sumGA = Vector512<double>.Zero, sumGxA = Vector512<double>.Zero, sumGB = Vector512<double>.Zero, sumGxB = Vector512<double>.Zero;
        for (int j = 0; j < cols; j += W)
        {
            var gm = Vector512.Load(gamma + j);
            var ga = Vector512.Load(dya + j) * gm;
            var gb = Vector512.Load(dyb + j) * gm;
            var xhatA = (Vector512.Load(xa + j) - muA) * rsA;
            var xhatB = (Vector512.Load(xb + j) - muB) * rsB;
            sumGA += ga;
            sumGxA += ga * xhatA;
            sumGB += gb;
            sumGxB += gb * xhatB;
        }
        Vector512<double> meanGA = Vector512.Create(Vector512.Sum(sumGA) / n), meanGxA = Vector512.Create(Vector512.Sum(sumGxA) / n);
        Vector512<double> meanGB = Vector512.Create(Vector512.Sum(sumGB) / n), meanGxB = Vector512.Create(Vector512.Sum(sumGxB) / n);
        // dx may alias x or dy (row for row): each vector is read before its own store, and row a's stores never reach row b.
        for (int j = 0; j < cols; j += W)
        {
            var gm = Vector512.Load(gamma + j);
            var ga = Vector512.Load(dya + j) * gm;
            var xhatA = (Vector512.Load(xa + j) - muA) * rsA;
            ((ga - xhatA * meanGxA - meanGA) * rsA).Store(dxa + j);
            var gb = Vector512.Load(dyb + j) * gm;
            var xhatB = (Vector512.Load(xb + j) - muB) * rsB;
            ((gb - xhatB * meanGxB - meanGB) * rsB).Store(dxb + j);
        }
    }
}
