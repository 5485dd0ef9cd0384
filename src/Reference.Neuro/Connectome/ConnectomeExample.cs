// The worked connectome example (docs/connectomics.md walks through it):
//
// 1. Classification of a planted group difference. The simulator's "connectome" preset plants a
//    correlation r between latent networks 0 and 1 in group 1 subjects only. Per subject: parcel
//    series [P, T] -> residualize on motion, physiological, drift, task regressors and a constant
//    (Residualization, least squares) -> covariance [P, P] (Covariance, ddof 1) -> tangent vector at
//    the geometric mean G of the training covariances (SpdMeans.Geometric, then
//    T = log(G^-1/2 S G^-1/2), SymmetricMatrixFunction.TangentProject) -> the upper triangle
//    (off-diagonal entries times sqrt 2, so the Euclidean norm of the vector is the Frobenius norm
//    of T, nilearn's sym_matrix_to_vec) -> features standardized on the training subjects -> L2
//    logistic regression, lambda picked on the validation subjects, refit on train + validation,
//    accuracy on the held-out test subjects (splits by subject, stratified by group).
// 2. A toy learned parcellation. Voxel series x [V, T] of one simulated subject whose parcels each
//    carry their own latent signal; logits theta [P, V] from hypercoil's Dirichlet(50) init are
//    trained on the autodiff tape with Adam to minimize the reconstruction error of soft k-means:
//      A = softmax_p(theta),  y = SoftAtlas(theta, x) = Abar x  [P, T],
//      loss = mean((x - A^T y)^2) + w Equilibrium(A)
//    (every voxel explained by the mean series of the parcels it belongs to; the equilibrium term,
//    w = 10, keeps parcel masses balanced: without it the optimizer stalls in soft, unbalanced
//    assignments at ARI about 0.8). Several restarts, the
//    lowest loss wins; the hard labels argmax_p A_pv are compared with the planted parcels by the
//    adjusted Rand index.
using Reference.Autodiff;
using Reference.Autodiff.Optim;
using Reference.Core;
using Reference.Neuro.Glm;
using Reference.Neuro.Simulation;
using Reference.Operators.Connectomics;

namespace Reference.Neuro.Connectome;

public sealed record ClassificationResult(
    int Parcels, int Features, int Train, int Validation, int Test, double Lambda, double ValidationAccuracy, double TestAccuracy,
    double Chance, int EdgeA, int EdgeB, bool TopEdgeIsPlanted);

public sealed record ParcellationResult(int Voxels, int Parcels, int Steps, int Restarts, double Loss, double AdjustedRandIndex, int[] Labels)
{
    /// <summary>Final loss and ARI of every restart, in order.</summary>
    public IReadOnlyList<(double Loss, double Ari)> Runs { get; init; } = [];
}

public static class ConnectomeExample
{
    public static readonly double[] Lambdas = [1e-3, 1e-2, 1e-1, 1];

    /// <summary>Part 1 on <paramref name="options"/> (default: the connectome preset).</summary>
    public static ClassificationResult Classify(SimulationOptions? options = null)
    {
        var o = options ?? SimulationOptions.FromPreset("connectome");
        if (!(o.GroupCoupling > 0)) throw new ArgumentException("the options plant no group difference (group coupling 0); expected a coupling > 0.", nameof(options));
        var data = Simulator.Run(o);
        int p = o.Parcels, n = data.Subjects.Count;
        var covariances = Tensor<double>.Zeros(n, p, p);
        for (int s = 0; s < n; s++)
        {
            var subject = data.Subjects[s];
            var clean = Residualization.Forward(new Tensor<double>(subject.ParcelSeries, p, o.Scans), Nuisance(o, subject));
            Covariance.Forward(clean).Data.CopyTo(covariances.Data, s * p * p);
        }
        int[] Members(params string[] splits) => Enumerable.Range(0, n).Where(s => splits.Contains(data.Subjects[s].Split)).ToArray();
        var train = Members("train");
        var validation = Members("validation");
        var test = Members("test");
        var fitted = Members("train", "validation");
        var reference = SpdMeans.Geometric(Select(covariances, train, p));
        var tangent = SymmetricMatrixFunction.TangentProject(covariances, reference);
        int d = p * (p + 1) / 2;
        var features = new double[n * d];
        for (int s = 0; s < n; s++)
        {
            int f = 0;
            for (int i = 0; i < p; i++)
                for (int j = i; j < p; j++) features[s * d + f++] = tangent.Data[(s * p + i) * p + j] * (i == j ? 1 : Math.Sqrt(2));
        }
        var labels = data.Subjects.Select(s => s.Group).ToArray();

        double bestLambda = Lambdas[0], bestAccuracy = -1;
        foreach (double lambda in Lambdas)
        {
            var model = Train(features, labels, train, d, lambda, out var scaler);
            double accuracy = Accuracy(model, scaler, features, labels, validation, d);
            if (accuracy >= bestAccuracy) { bestAccuracy = accuracy; bestLambda = lambda; }
        }
        var final = Train(features, labels, fitted, d, bestLambda, out var finalScaler);
        double testAccuracy = Accuracy(final, finalScaler, features, labels, test, d);
        int ones = test.Count(s => labels[s] == 1);
        double chance = Math.Max(ones, test.Length - ones) / (double)test.Length;

        int top = -1, a = 0, b = 0, k = 0;
        double largest = -1;
        for (int i = 0; i < p; i++)
            for (int j = i; j < p; j++, k++)
                if (i != j && Math.Abs(final.Weights[k]) > largest) { largest = Math.Abs(final.Weights[k]); top = k; a = i; b = j; }
        var networks = new[] { data.Layout.ParcelNetwork[a], data.Layout.ParcelNetwork[b] };
        bool planted = networks.Contains(0) && networks.Contains(1);
        return new ClassificationResult(p, d, train.Length, validation.Length, test.Length, bestLambda, bestAccuracy, testAccuracy, chance, a, b, planted);
    }

    /// <summary>Motion, physiological, drift, task and constant regressors of a subject [C, T].</summary>
    private static Tensor<double> Nuisance(SimulationOptions o, SimulatedSubject s)
    {
        int t = o.Scans;
        var rows = new List<double[]>();
        int m = s.ConfoundNames.Length;
        for (int j = 0; j < m; j++)
            if (s.ConfoundNames[j] != "framewise_displacement") rows.Add(Enumerable.Range(0, t).Select(i => s.Confounds[i * m + j]).ToArray());
        var drift = CosineDrift.Basis(t, o.Tr);
        int kd = drift.Length / t;
        for (int j = 0; j < kd; j++) rows.Add(Enumerable.Range(0, t).Select(i => drift[i * kd + j]).ToArray());
        int c = o.Conditions.Count;
        var task = Design.ConditionRegressors(s.Events, o.Conditions, t, o.Tr, Hrf.Named(o.Hrf));
        for (int j = 0; j < c; j++) rows.Add(Enumerable.Range(0, t).Select(i => task[i * c + j]).ToArray());
        rows.Add(Enumerable.Repeat(1.0, t).ToArray());
        return new Tensor<double>(rows.SelectMany(r => r).ToArray(), rows.Count, t);
    }

    private static Tensor<double> Select(Tensor<double> stack, int[] rows, int p)
    {
        var result = Tensor<double>.Zeros(rows.Length, p, p);
        for (int i = 0; i < rows.Length; i++) stack.Data.AsSpan(rows[i] * p * p, p * p).CopyTo(result.Data.AsSpan(i * p * p));
        return result;
    }

    private static LogisticRegression Train(double[] features, int[] labels, int[] rows, int d, double lambda, out (double[] Mean, double[] Sd) scaler)
    {
        var mean = new double[d];
        var sd = new double[d];
        for (int j = 0; j < d; j++)
        {
            mean[j] = rows.Average(s => features[s * d + j]);
            sd[j] = Math.Sqrt(rows.Average(s => Math.Pow(features[s * d + j] - mean[j], 2)));
            if (sd[j] == 0) sd[j] = 1;
        }
        scaler = (mean, sd);
        var x = new double[rows.Length * d];
        for (int i = 0; i < rows.Length; i++)
            for (int j = 0; j < d; j++) x[i * d + j] = (features[rows[i] * d + j] - mean[j]) / sd[j];
        return LogisticRegression.Fit(x, rows.Select(s => labels[s]).ToArray(), lambda);
    }

    private static double Accuracy(LogisticRegression model, (double[] Mean, double[] Sd) scaler, double[] features, int[] labels, int[] rows, int d)
    {
        if (rows.Length == 0) return double.NaN;
        var x = new double[d];
        int correct = 0;
        foreach (int s in rows)
        {
            for (int j = 0; j < d; j++) x[j] = (features[s * d + j] - scaler.Mean[j]) / scaler.Sd[j];
            if (model.Predict(x) == labels[s]) correct++;
        }
        return correct / (double)rows.Length;
    }

    /// <summary>The toy data set of part 2: a small lattice, one subject, every parcel its own latent signal, no task.</summary>
    public static SimulationOptions ParcellationOptions(ulong seed = 5) => new()
    {
        Preset = "parcellation", Nx = 8, Ny = 10, Nz = 8, Parcels = 6, Networks = 6, Subjects = 1, Cnr = 0, SpontaneousAmplitude = 2,
        SuppressorFraction = 0, Scans = 200, Seed = seed,
    };

    /// <summary>Part 2: learns a soft atlas of <paramref name="options"/>' first subject and scores it against the planted parcels.</summary>
    public static ParcellationResult LearnParcellation(SimulationOptions? options = null, int steps = 150, int restarts = 2, double lr = 0.1, ulong seed = 11, double equilibrium = 10)
    {
        var o = options ?? ParcellationOptions();
        if (!o.HasLattice) throw new ArgumentException("the parcellation example needs a voxel lattice; expected options with Nx, Ny, Nz >= 2.", nameof(options));
        if (steps < 1 || restarts < 1) throw new ArgumentException($"steps = {steps}, restarts = {restarts}; expected both >= 1.");
        var data = Simulator.Run(o with { Subjects = 1 });
        var subject = data.Subjects[0];
        int v = data.Layout.Units, t = o.Scans, p = o.Parcels;
        var raw = new double[v * t];
        for (int i = 0; i < t; i++)
            for (int u = 0; u < v; u++) raw[u * t + i] = subject.Series[i * v + u];
        var x = Residualization.Forward(new Tensor<double>(raw, v, t), Nuisance(o, subject));
        for (int u = 0; u < v; u++)
        {
            var row = x.Data.AsSpan(u * t, t);
            double mean = 0, ss = 0;
            foreach (double q in row) mean += q;
            mean /= t;
            foreach (double q in row) ss += (q - mean) * (q - mean);
            double sd = Math.Sqrt(ss / t);
            for (int i = 0; i < t; i++) row[i] = sd > 0 ? (row[i] - mean) / sd : 0;
        }
        var xv = Variable.Constant(x);
        var rng = new SplitMix64(seed);
        ParcellationResult? best = null;
        var runs = new List<(double, double)>();
        for (int r = 0; r < restarts; r++)
        {
            var logits = Variable.Parameter(SoftAtlas.DirichletInit(p, v, rng));
            var adam = new Adam([logits], lr);
            double loss = double.NaN;
            for (int step = 0; step <= steps; step++)
            {
                var a = Ops.Softmax(logits, 0);
                var y = ConnectomicsOps.SoftAtlas(logits, xv);
                var error = Ops.Sub(xv, Ops.MatMul(a, y, transA: true));
                var objective = Ops.Mean(Ops.Mul(error, error));
                if (equilibrium > 0) objective = Ops.Add(objective, Ops.MulScalar(ConnectomicsOps.Equilibrium(a), equilibrium));
                loss = objective.Item();
                if (step == steps) break;
                adam.ZeroGrad();
                objective.Backward();
                adam.Step();
            }
            var assignment = SoftAtlas.Assignment(logits.Value);
            var labels = new int[v];
            for (int u = 0; u < v; u++)
                for (int q = 1; q < p; q++)
                    if (assignment.Data[q * v + u] > assignment.Data[labels[u] * v + u]) labels[u] = q;
            double ari = AdjustedRandIndex.Compute(labels, data.Layout.Parcel);
            runs.Add((loss, ari));
            if (best is null || loss < best.Loss) best = new ParcellationResult(v, p, steps, restarts, loss, ari, labels);
        }
        return best! with { Runs = runs };
    }
}
