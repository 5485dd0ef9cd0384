// The linear baselines of the decoding papers: L2-penalized logistic regression (one binary model
// per class against the rest, the binary model being Neuro's LogisticRegression: Newton's method,
// exact to its optimality conditions) on
//   maps     the trial z maps [V] (least-squares-all GLM),
//   parcels  the window mean per parcel [P],
//   tangent  tangent-space connectivity of the window (Varoquaux et al. 2010; nilearn's
//            ConnectivityMeasure(kind="tangent")): the shrunk window covariance
//            S = C + s tr(C)/P I, the geometric mean G of the TRAINING samples' S, the tangent vector
//            log(G^-1/2 S G^-1/2) and its upper triangle with off-diagonal entries times sqrt 2.
// Features are standardized with the training samples' mean and sd. The penalty lambda is picked
// from a grid by cross-validation grouped by subject over the training + validation subjects (each
// subject held out once, at most five folds of subjects), scored by the held-out log loss of the
// normalized one-vs-rest probabilities (ties: the larger lambda, the simpler model); then the model
// is refit on training + validation samples. With one subject in all the middle of the grid is used.
// Why not validation accuracy: one or two validation subjects are 7-14 trials, whose accuracy ties
// across the grid, and the tie went to the largest lambda, which (the loss is a mean, so lambda = 1
// against unit-variance features) shrinks the model to the majority class: parcel decoders sat at
// chance although the parcel signal is there (docs/decoding.md).
// Prediction: the class whose binary model gives the largest probability.
using Reference.Core;
using Reference.Neuro.Connectome;
using Reference.Operators.Connectomics;

namespace Reference.Decoding;

/// <summary>Feature set of a linear decoder.</summary>
public enum LinearFeatures { Maps, Parcels, Tangent }

/// <summary>One-vs-rest L2 logistic regression on maps, parcels or tangent-space connectivity.</summary>
public sealed class LogisticDecoder : Decoder
{
    public LogisticDecoder(string name, LinearFeatures features, IReadOnlyList<double>? lambdas = null, double shrinkage = 0.1) : base(name)
    {
        Features = features;
        Lambdas = lambdas is { Count: > 0 } ? [.. lambdas] : [1e-3, 1e-2, 1e-1, 1];
        if (Lambdas.Any(l => !(l > 0))) throw new ArgumentException("every lambda must be > 0.", "lambdas");
        if (!(shrinkage >= 0)) throw new ArgumentException($"shrinkage = {shrinkage}; expected >= 0.", "shrinkage");
        Shrinkage = shrinkage;
    }

    public LinearFeatures Features { get; }
    public double[] Lambdas { get; }
    public double Shrinkage { get; }

    public override string Kind => Features switch { LinearFeatures.Maps => "logistic_maps", LinearFeatures.Parcels => "logistic_parcels", _ => "tangent" };

    public override IFittedDecoder Fit(DecodingSet data, int[] train, int[] validation, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (Features == LinearFeatures.Maps && !data.HasMaps) throw new ArgumentException("logistic_maps needs trial maps; the data has no voxel lattice (or maps are off).", "kind");
        if (train.Length < 2) throw new ArgumentException($"{train.Length} training samples; expected at least 2.", nameof(train));
        var extractor = Extractor(data, train);
        var x = extractor(data, train.Concat(validation).ToArray());
        int d = x.Length / (train.Length + validation.Length);
        var all = train.Concat(validation).ToArray();
        double lambda = SelectLambda(data, x, d, all);
        var final = FitModel(data, x, d, Enumerable.Range(0, all.Length).ToArray(), all, lambda);
        return new Fitted(final, extractor, d);
    }

    /// <summary>The standardized feature rows of samples [n, d]; statistics (and the tangent reference) from <paramref name="train"/> only.</summary>
    internal Func<DecodingSet, int[], double[]> Extractor(DecodingSet data, int[] train)
    {
        Func<DecodingSet, int[], double[]> raw = Features switch
        {
            LinearFeatures.Maps => (set, rows) => Rows(set.Maps, set.Voxels, rows),
            LinearFeatures.Parcels => (set, rows) => Rows(set.ParcelMeans, set.Parcels, rows),
            _ => TangentFeatures(data, train),
        };
        var reference = raw(data, train);
        int d = reference.Length / train.Length;
        var mean = new double[d];
        var sd = new double[d];
        for (int j = 0; j < d; j++)
        {
            for (int i = 0; i < train.Length; i++) mean[j] += reference[i * d + j] / train.Length;
            for (int i = 0; i < train.Length; i++) sd[j] += Math.Pow(reference[i * d + j] - mean[j], 2) / train.Length;
            sd[j] = sd[j] > 1e-24 ? Math.Sqrt(sd[j]) : 1;
        }
        return (set, rows) =>
        {
            var x = raw(set, rows);
            for (int i = 0; i < rows.Length; i++)
                for (int j = 0; j < d; j++) x[i * d + j] = (x[i * d + j] - mean[j]) / sd[j];
            return x;
        };
    }

    private static double[] Rows(double[] source, int d, int[] rows)
    {
        var x = new double[rows.Length * d];
        for (int i = 0; i < rows.Length; i++) Array.Copy(source, rows[i] * d, x, i * d, d);
        return x;
    }

    private Func<DecodingSet, int[], double[]> TangentFeatures(DecodingSet data, int[] train)
    {
        int p = data.Parcels;
        var reference = SpdMeans.Geometric(Covariances(data, train));
        return (set, rows) =>
        {
            var tangent = SymmetricMatrixFunction.TangentProject(Covariances(set, rows), reference);
            int d = p * (p + 1) / 2;
            var x = new double[rows.Length * d];
            for (int s = 0; s < rows.Length; s++)
            {
                int f = 0;
                for (int i = 0; i < p; i++)
                    for (int j = i; j < p; j++) x[s * d + f++] = tangent.Data[(s * p + i) * p + j] * (i == j ? 1 : Math.Sqrt(2));
            }
            return x;
        };
    }

    /// <summary>Shrunk covariances [n, P, P] of the windows of <paramref name="rows"/>.</summary>
    private Tensor<double> Covariances(DecodingSet set, int[] rows)
    {
        int p = set.Parcels, w = set.Window;
        var result = Tensor<double>.Zeros(rows.Length, p, p);
        var window = new double[p * w];
        for (int s = 0; s < rows.Length; s++)
        {
            for (int i = 0; i < w; i++)
                for (int q = 0; q < p; q++) window[q * w + i] = set.Windows[(rows[s] * w + i) * p + q];
            var c = Covariance.Forward(new Tensor<double>(window, p, w));
            double trace = 0;
            for (int q = 0; q < p; q++) trace += c.Data[q * p + q];
            for (int q = 0; q < p; q++) c.Data[q * p + q] += Shrinkage * trace / p + 1e-8;
            c.Data.CopyTo(result.Data, s * p * p);
        }
        return result;
    }

    private static LogisticRegression[] FitModel(DecodingSet data, double[] x, int d, int[] rowIndex, int[] samples, double lambda)
    {
        var xs = new double[rowIndex.Length * d];
        for (int i = 0; i < rowIndex.Length; i++) Array.Copy(x, rowIndex[i] * d, xs, i * d, d);
        return OneVsRest(xs, samples.Select(i => data.Label[i]).ToArray(), data.Classes, lambda);
    }

    /// <summary>One binary L2 logistic regression per class (class c against the rest) on x [n, d].</summary>
    public static LogisticRegression[] OneVsRest(double[] x, int[] labels, int classes, double lambda)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var models = new LogisticRegression[classes];
        for (int c = 0; c < classes; c++) models[c] = LogisticRegression.Fit(x, labels.Select(l => l == c ? 1 : 0).ToArray(), lambda);
        return models;
    }

    /// <summary>Predicted class of each row of x [n, d]: the largest one-vs-rest probability.</summary>
    public static int[] PredictOneVsRest(LogisticRegression[] models, double[] x, int d)
    {
        int n = x.Length / d;
        var result = new int[n];
        for (int i = 0; i < n; i++)
        {
            var row = x.AsSpan(i * d, d);
            double best = double.NegativeInfinity;
            for (int c = 0; c < models.Length; c++)
            {
                double pr = models[c].Probability(row);
                if (pr > best) { best = pr; result[i] = c; }
            }
        }
        return result;
    }

    /// <summary>The lambda of the grid with the smallest subject-grouped cross-validated log loss on the rows x [n, d] of <paramref name="samples"/>.</summary>
    private double SelectLambda(DecodingSet data, double[] x, int d, int[] samples)
    {
        var subjects = samples.Select(i => data.Subject[i]).Distinct().Order().ToArray();
        if (Lambdas.Length == 1 || subjects.Length < 2) return Lambdas[Lambdas.Length / 2];
        int folds = Math.Min(5, subjects.Length);
        var fold = subjects.Select((s, i) => (s, i % folds)).ToDictionary(q => q.s, q => q.Item2);
        double bestLoss = double.PositiveInfinity, lambda = Lambdas[^1];
        foreach (double l in Lambdas)
        {
            double loss = 0;
            for (int f = 0; f < folds; f++)
            {
                var inner = Enumerable.Range(0, samples.Length).Where(i => fold[data.Subject[samples[i]]] != f).ToArray();
                var outer = Enumerable.Range(0, samples.Length).Where(i => fold[data.Subject[samples[i]]] == f).ToArray();
                if (inner.Select(i => data.Label[samples[i]]).Distinct().Count() < 2) continue;
                var model = FitModel(data, x, d, inner, inner.Select(i => samples[i]).ToArray(), l);
                loss += LogLoss(model, x, d, outer, outer.Select(i => data.Label[samples[i]]).ToArray());
            }
            if (loss <= bestLoss + 1e-12) { bestLoss = Math.Min(loss, bestLoss); lambda = l; }
        }
        return lambda;
    }

    /// <summary>Summed -log of the true class's one-vs-rest probability normalized over the classes.</summary>
    private static double LogLoss(LogisticRegression[] models, double[] x, int d, int[] rowIndex, int[] labels)
    {
        double loss = 0;
        for (int i = 0; i < rowIndex.Length; i++)
        {
            var row = x.AsSpan(rowIndex[i] * d, d);
            double sum = 0, truth = 0;
            for (int c = 0; c < models.Length; c++)
            {
                double pr = models[c].Probability(row);
                sum += pr;
                if (c == labels[i]) truth = pr;
            }
            loss -= Math.Log(Math.Max(truth / sum, 1e-12));
        }
        return loss;
    }

    private sealed class Fitted(LogisticRegression[] models, Func<DecodingSet, int[], double[]> extractor, int d) : IFittedDecoder
    {
        public LogisticRegression[] Models => models;

        public int[] Predict(DecodingSet data, int[] samples) => samples.Length == 0 ? [] : PredictOneVsRest(models, extractor(data, samples), d);
    }
}
