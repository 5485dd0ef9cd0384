namespace Reference.Core.Kernels;

/// <summary>
/// Naive tier of the row-wise normalizations (the definition), float64. Every kernel sees x as
/// [rows x cols] row-major (rows = x.Length / cols) and normalizes each row independently; sums
/// run over the row in increasing column order with one float64 accumulator.
/// <para>
/// Softmax (Bridle 1990): y_j = exp(x_j - m) / sum_k exp(x_k - m) with m = max_k x_k. Subtracting
/// the row maximum is the log-sum-exp trick: every exponent is &lt;= 0, so nothing overflows and the
/// largest term is exactly 1 (the sum is &gt;= 1, never underflows to 0). LogSoftmax:
/// y_j = (x_j - m) - log sum_k exp(x_k - m). A row of all -Inf (or any +Inf) gives NaN, as in PyTorch.
/// </para>
/// <para>
/// LayerNorm (Ba, Kiros and Hinton, "Layer Normalization", 2016, eq. 4; PyTorch's torch.nn.LayerNorm):
/// mu = mean(x), sigma^2 = mean((x - mu)^2) (biased, two-pass: no E[x^2] - mu^2 cancellation),
/// rstd = 1 / sqrt(sigma^2 + eps) (eps inside the square root), y = (x - mu) rstd gamma + beta.
/// RmsNorm (Zhang and Sennrich, "Root Mean Square Layer Normalization", 2019, eq. 4):
/// rstd = 1 / sqrt(mean(x^2) + eps), y = x rstd gamma.
/// An empty gamma means gamma = 1 and an empty beta means beta = 0 (no affine parameters).
/// The forward kernels also return mean and rstd per row (pass empty spans to skip), which the
/// backward kernels take instead of recomputing them.
/// </para>
/// <para>
/// Backward (dy = dL/dy, results overwrite dx, dgamma, dbeta; dgamma and dbeta sum over rows):
/// softmax dx = y (dy - sum(dy y)); log-softmax dx = dy - exp(y) sum(dy);
/// layer norm with xhat = (x - mu) rstd, g = dy gamma: dx = rstd (g - mean(g) - xhat mean(g xhat)),
/// dgamma = sum_rows dy xhat, dbeta = sum_rows dy;
/// rms norm with g = dy gamma: dx = rstd (g - x rstd^2 mean(g x)), dgamma = sum_rows dy x rstd.
/// </para>
/// </summary>
public static class NaiveNormalization
{
    /// <summary>PyTorch's default LayerNorm eps.</summary>
    public const double DefaultLayerNormEps = 1e-5;

    /// <summary>Default RmsNorm eps (the value of LLaMA-style models; torch.nn.RMSNorm's default is the dtype's machine eps).</summary>
    public const double DefaultRmsNormEps = 1e-6;

    /// <summary>y[r, :] = softmax(x[r, :]); x, y: [rows x cols].</summary>
    public static void Softmax(ReadOnlySpan<double> x, Span<double> y, int cols)
    {
        int rows = ElementwiseChecks.Rows(x.Length, cols, nameof(x));
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols);
            var yr = y.Slice(r * cols, cols);
            double m = NaiveReductions.Max(xr);
            double sum = 0.0;
            for (int j = 0; j < cols; j++)
            {
                yr[j] = Math.Exp(xr[j] - m);
                sum += yr[j];
            }
            for (int j = 0; j < cols; j++) yr[j] /= sum;
        }
    }

    /// <summary>y[r, :] = log_softmax(x[r, :]) = (x - m) - log sum exp(x - m); x, y: [rows x cols].</summary>
    public static void LogSoftmax(ReadOnlySpan<double> x, Span<double> y, int cols)
    {
        int rows = ElementwiseChecks.Rows(x.Length, cols, nameof(x));
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols);
            var yr = y.Slice(r * cols, cols);
            double m = NaiveReductions.Max(xr);
            double sum = 0.0;
            for (int j = 0; j < cols; j++) sum += Math.Exp(xr[j] - m);
            double logSum = Math.Log(sum);
            for (int j = 0; j < cols; j++) yr[j] = (xr[j] - m) - logSum;
        }
    }

    /// <summary>From the output y = softmax(x): dx = y (dy - sum_j dy_j y_j) per row.</summary>
    public static void SoftmaxBackward(ReadOnlySpan<double> y, ReadOnlySpan<double> dy, Span<double> dx, int cols)
    {
        int rows = ElementwiseChecks.Rows(y.Length, cols, nameof(y));
        ElementwiseChecks.SameLength(y.Length, dx.Length, nameof(dx));
        ElementwiseChecks.SameLength(y.Length, dy.Length, nameof(dy));
        for (int r = 0; r < rows; r++)
        {
            var yr = y.Slice(r * cols, cols);
            var dyr = dy.Slice(r * cols, cols);
            var dxr = dx.Slice(r * cols, cols);
            double s = 0.0;
            for (int j = 0; j < cols; j++) s += dyr[j] * yr[j];
            for (int j = 0; j < cols; j++) dxr[j] = yr[j] * (dyr[j] - s);
        }
    }

    /// <summary>From the output y = log_softmax(x): dx = dy - exp(y) sum_j dy_j per row.</summary>
    public static void LogSoftmaxBackward(ReadOnlySpan<double> y, ReadOnlySpan<double> dy, Span<double> dx, int cols)
    {
        int rows = ElementwiseChecks.Rows(y.Length, cols, nameof(y));
        ElementwiseChecks.SameLength(y.Length, dx.Length, nameof(dx));
        ElementwiseChecks.SameLength(y.Length, dy.Length, nameof(dy));
        for (int r = 0; r < rows; r++)
        {
            var yr = y.Slice(r * cols, cols);
            var dyr = dy.Slice(r * cols, cols);
            var dxr = dx.Slice(r * cols, cols);
            double s = 0.0;
            for (int j = 0; j < cols; j++) s += dyr[j];
            for (int j = 0; j < cols; j++) dxr[j] = dyr[j] - Math.Exp(yr[j]) * s;
        }
    }

    /// <summary>
    /// Layer norm over each row of x [rows x cols]; gamma, beta: [cols] or empty; mean, rstd: [rows] or empty.
    /// </summary>
    public static void LayerNorm(ReadOnlySpan<double> x, ReadOnlySpan<double> gamma, ReadOnlySpan<double> beta,
        Span<double> y, Span<double> mean, Span<double> rstd, int cols, double eps = DefaultLayerNormEps)
    {
        int rows = ElementwiseChecks.Rows(x.Length, cols, nameof(x));
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        NormalizationChecks.Optional(gamma.Length, cols, nameof(gamma));
        NormalizationChecks.Optional(beta.Length, cols, nameof(beta));
        NormalizationChecks.Optional(mean.Length, rows, nameof(mean));
        NormalizationChecks.Optional(rstd.Length, rows, nameof(rstd));
        NormalizationChecks.Eps(eps);
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols);
            var yr = y.Slice(r * cols, cols);
            double mu = NaiveReductions.Mean(xr);
            double sq = 0.0;
            for (int j = 0; j < cols; j++)
            {
                double d = xr[j] - mu;
                sq += d * d;
            }
            double rs = 1.0 / Math.Sqrt(sq / cols + eps);
            for (int j = 0; j < cols; j++)
            {
                double v = (xr[j] - mu) * rs;
                if (!gamma.IsEmpty) v *= gamma[j];
                if (!beta.IsEmpty) v += beta[j];
                yr[j] = v;
            }
            if (!mean.IsEmpty) mean[r] = mu;
            if (!rstd.IsEmpty) rstd[r] = rs;
        }
    }

    /// <summary>
    /// Layer norm backward from the saved mean and rstd [rows]: writes dx [rows x cols] and, when
    /// not empty, dgamma and dbeta [cols] (overwritten, summed over rows). gamma empty means 1.
    /// </summary>
    public static void LayerNormBackward(ReadOnlySpan<double> x, ReadOnlySpan<double> gamma,
        ReadOnlySpan<double> mean, ReadOnlySpan<double> rstd, ReadOnlySpan<double> dy,
        Span<double> dx, Span<double> dgamma, Span<double> dbeta, int cols)
    {
        int rows = ElementwiseChecks.Rows(x.Length, cols, nameof(x));
        ElementwiseChecks.SameLength(x.Length, dx.Length, nameof(dx));
        ElementwiseChecks.SameLength(x.Length, dy.Length, nameof(dy));
        ElementwiseChecks.SameLength(rows, mean.Length, nameof(mean));
        ElementwiseChecks.SameLength(rows, rstd.Length, nameof(rstd));
        NormalizationChecks.Optional(gamma.Length, cols, nameof(gamma));
        NormalizationChecks.Optional(dgamma.Length, cols, nameof(dgamma));
        NormalizationChecks.Optional(dbeta.Length, cols, nameof(dbeta));
        dgamma.Clear();
        dbeta.Clear();
        var xhat = new double[cols];
        var g = new double[cols];
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols);
            var dyr = dy.Slice(r * cols, cols);
            var dxr = dx.Slice(r * cols, cols);
            double meanG = 0.0, meanGx = 0.0;
            for (int j = 0; j < cols; j++)
            {
                xhat[j] = (xr[j] - mean[r]) * rstd[r];
                g[j] = gamma.IsEmpty ? dyr[j] : dyr[j] * gamma[j];
                meanG += g[j];
                meanGx += g[j] * xhat[j];
                if (!dgamma.IsEmpty) dgamma[j] += dyr[j] * xhat[j];
                if (!dbeta.IsEmpty) dbeta[j] += dyr[j];
            }
            meanG /= cols;
            meanGx /= cols;
            for (int j = 0; j < cols; j++) dxr[j] = rstd[r] * (g[j] - meanG - xhat[j] * meanGx);
        }
    }

    /// <summary>RMS norm over each row of x [rows x cols]; gamma: [cols] or empty; rstd: [rows] or empty.</summary>
    public static void RmsNorm(ReadOnlySpan<double> x, ReadOnlySpan<double> gamma, Span<double> y, Span<double> rstd,
        int cols, double eps = DefaultRmsNormEps)
    {
        int rows = ElementwiseChecks.Rows(x.Length, cols, nameof(x));
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        NormalizationChecks.Optional(gamma.Length, cols, nameof(gamma));
        NormalizationChecks.Optional(rstd.Length, rows, nameof(rstd));
        NormalizationChecks.Eps(eps);
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols);
            var yr = y.Slice(r * cols, cols);
            double sq = 0.0;
            for (int j = 0; j < cols; j++) sq += xr[j] * xr[j];
            double rs = 1.0 / Math.Sqrt(sq / cols + eps);
            for (int j = 0; j < cols; j++) yr[j] = gamma.IsEmpty ? xr[j] * rs : xr[j] * rs * gamma[j];
            if (!rstd.IsEmpty) rstd[r] = rs;
        }
    }

    /// <summary>RMS norm backward from the saved rstd [rows]: writes dx and, when not empty, dgamma [cols] (overwritten).</summary>
    public static void RmsNormBackward(ReadOnlySpan<double> x, ReadOnlySpan<double> gamma, ReadOnlySpan<double> rstd,
        ReadOnlySpan<double> dy, Span<double> dx, Span<double> dgamma, int cols)
    {
        int rows = ElementwiseChecks.Rows(x.Length, cols, nameof(x));
        ElementwiseChecks.SameLength(x.Length, dx.Length, nameof(dx));
        ElementwiseChecks.SameLength(x.Length, dy.Length, nameof(dy));
        ElementwiseChecks.SameLength(rows, rstd.Length, nameof(rstd));
        NormalizationChecks.Optional(gamma.Length, cols, nameof(gamma));
        NormalizationChecks.Optional(dgamma.Length, cols, nameof(dgamma));
        dgamma.Clear();
        var g = new double[cols];
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols);
            var dyr = dy.Slice(r * cols, cols);
            var dxr = dx.Slice(r * cols, cols);
            double rs = rstd[r];
            double meanGx = 0.0;
            for (int j = 0; j < cols; j++)
            {
                g[j] = gamma.IsEmpty ? dyr[j] : dyr[j] * gamma[j];
                meanGx += g[j] * xr[j];
                if (!dgamma.IsEmpty) dgamma[j] += dyr[j] * xr[j] * rs;
            }
            meanGx /= cols;
            for (int j = 0; j < cols; j++) dxr[j] = rs * (g[j] - xr[j] * rs * rs * meanGx);
        }
    }
}

internal static class NormalizationChecks
{
    public static void Optional(int length, int expected, string argument)
    {
        if (length != 0 && length != expected)
            throw new ArgumentException($"{argument} has {length} elements, expected {expected} (or 0 to omit it).", argument);
    }

    public static void Eps(double eps)
    {
        if (!(eps >= 0.0))
            throw new ArgumentOutOfRangeException(nameof(eps), $"eps = {eps} must be >= 0.");
    }
}
