namespace Reference.Core;

/// <summary>Error measures used by tests, the demo and the golden runner (all accumulate in float64).</summary>
public static class Metrics
{
    /// <summary>||reference - actual||_2 / (||reference||_2 + floor).</summary>
    public static double RelativeError(ReadOnlySpan<double> reference, ReadOnlySpan<double> actual, double floor = 1e-300)
    {
        if (reference.Length != actual.Length)
            throw new ArgumentException($"actual has {actual.Length} elements, expected {reference.Length}.", nameof(actual));
        double diff = 0, norm = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            double d = reference[i] - actual[i];
            diff += d * d;
            norm += reference[i] * reference[i];
        }
        return Math.Sqrt(diff) / (Math.Sqrt(norm) + floor);
    }

    public static double RelativeError(ReadOnlySpan<double> reference, ReadOnlySpan<float> actual, double floor = 1e-300)
    {
        var widened = new double[actual.Length];
        for (int i = 0; i < actual.Length; i++) widened[i] = actual[i];
        return RelativeError(reference, widened, floor);
    }

    /// <summary>max_i |reference[i] - actual[i]|.</summary>
    public static double MaxAbsError(ReadOnlySpan<double> reference, ReadOnlySpan<double> actual)
    {
        if (reference.Length != actual.Length)
            throw new ArgumentException($"actual has {actual.Length} elements, expected {reference.Length}.", nameof(actual));
        double max = 0;
        for (int i = 0; i < reference.Length; i++) max = Math.Max(max, Math.Abs(reference[i] - actual[i]));
        return max;
    }
}
