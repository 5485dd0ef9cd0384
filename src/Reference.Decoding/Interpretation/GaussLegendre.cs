namespace Reference.Decoding.Interpretation;

/// <summary>
/// Gauss-Legendre quadrature on [0, 1], the step rule Captum's IntegratedGradients calls
/// "gausslegendre" (numpy.polynomial.legendre.leggauss mapped by alpha = (t + 1) / 2, w / 2).
/// The n nodes t_i are the roots of the Legendre polynomial P_n, found by Newton's method from
/// cos(pi (i - 1/4) / (n + 1/2)); P_n and P_{n-1} come from Bonnet's recursion
/// j P_j = (2j - 1) t P_{j-1} - (j - 1) P_{j-2}, P_n'(t) = n (t P_n - P_{n-1}) / (t^2 - 1), and the
/// weights are 2 / ((1 - t^2) P_n'(t)^2). Exact for polynomials of degree up to 2n - 1.
/// </summary>
public static class GaussLegendre
{
    /// <summary>Nodes (ascending) and weights on [0, 1] (the weights sum to 1).</summary>
    public static (double[] Alphas, double[] Weights) UnitInterval(int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        var alphas = new double[n];
        var weights = new double[n];
        for (int i = 0; i < n; i++)
        {
            double t = Math.Cos(Math.PI * (i + 0.75) / (n + 0.5)), derivative = 0;
            for (int iteration = 0; iteration < 100; iteration++)
            {
                double p0 = 1, p1 = t;
                for (int j = 2; j <= n; j++)
                {
                    double p2 = ((2 * j - 1) * t * p1 - (j - 1) * p0) / j;
                    p0 = p1;
                    p1 = p2;
                }
                // Now p1 = P_n(t), p0 = P_{n-1}(t) (for n = 1: P_1 = t, P_0 = 1).
                derivative = n * (t * p1 - p0) / (t * t - 1);
                double step = p1 / derivative;
                t -= step;
                if (Math.Abs(step) < 1e-15) break;
            }
            alphas[i] = (t + 1) / 2;
            weights[i] = 1.0 / ((1 - t * t) * derivative * derivative);
        }
        Array.Sort(alphas, weights);
        return (alphas, weights);
    }
}
