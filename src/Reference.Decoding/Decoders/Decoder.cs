namespace Reference.Decoding;

/// <summary>A trained decoder: predicts the condition of samples of a data set.</summary>
public interface IFittedDecoder
{
    int[] Predict(DecodingSet data, int[] samples);
}

/// <summary>
/// A decoder definition: fits on the samples of a split's training subjects (its validation
/// subjects for model selection or early stopping, never the test subjects, which it is not given).
/// </summary>
public abstract class Decoder
{
    protected Decoder(string name) => Name = name;

    public string Name { get; }

    /// <summary>The kind as written in a configuration (logistic_maps, sequence, ...).</summary>
    public abstract string Kind { get; }

    /// <summary>Fits on <paramref name="train"/> (validation: <paramref name="validation"/>, possibly empty) with a seed.</summary>
    public abstract IFittedDecoder Fit(DecodingSet data, int[] train, int[] validation, ulong seed);

    /// <summary>Fits on the training subjects of <paramref name="split"/>, selecting on its validation subjects.</summary>
    public IFittedDecoder Fit(DecodingSet data, SubjectSplit split, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(split);
        return Fit(data, data.SamplesOf(split.Train), data.SamplesOf(split.Validation), seed);
    }

    /// <summary>Accuracy and confusion matrix [true, predicted] on the given samples.</summary>
    public static (double Accuracy, int[,] Confusion) Score(IFittedDecoder fitted, DecodingSet data, int[] samples)
    {
        ArgumentNullException.ThrowIfNull(fitted);
        var predicted = fitted.Predict(data, samples);
        var confusion = new int[data.Classes, data.Classes];
        int correct = 0;
        for (int i = 0; i < samples.Length; i++)
        {
            int truth = data.Label[samples[i]];
            confusion[truth, predicted[i]]++;
            if (truth == predicted[i]) correct++;
        }
        return (samples.Length == 0 ? double.NaN : correct / (double)samples.Length, confusion);
    }

    /// <summary>Chance level: the rate of the most frequent class among the samples (a constant predictor's best accuracy).</summary>
    public static double Chance(DecodingSet data, int[] samples)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (samples.Length == 0) return double.NaN;
        return samples.GroupBy(i => data.Label[i]).Max(g => g.Count()) / (double)samples.Length;
    }
}
