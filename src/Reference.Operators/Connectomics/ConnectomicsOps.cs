// Autodiff adapters of the connectomics operators: each primitive registers itself as one tape node
// whose VJP is the hand-written backward in its operator file (Reference.Autodiff.Function.Apply);
// composite measures (correlation, precision, partial correlation, conditional covariance, tangent
// projection, means) are compositions of those primitives and the tape's matmul/mean, so their
// gradients are the chain rule over checked parts.
using Reference.Autodiff;
using Reference.Core;

namespace Reference.Operators.Connectomics;

public static class ConnectomicsOps
{
    /// <summary>`connectomics.covariance`: S [..., V, V] of x [..., V, T]; VJP <see cref="Connectomics.Covariance.Backward"/> (weight optional, differentiable).</summary>
    public static Variable Covariance(Variable x, Variable? weight = null, int ddof = 1, double l2 = 0)
    {
        ArgumentNullException.ThrowIfNull(x);
        var s = Connectomics.Covariance.Forward(x.Value, weight?.Value, ddof, l2);
        Variable[] inputs = weight is null ? [x] : [x, weight];
        return Function.Apply("connectomics.covariance", inputs, s, g =>
        {
            var (gx, gw) = Connectomics.Covariance.Backward(x.Value, weight?.Value, ddof, g);
            return weight is null ? [gx] : [gx, gw];
        });
    }

    /// <summary>`connectomics.paired_covariance`: C [..., Vx, Vy] of x, y; VJP <see cref="Connectomics.Covariance.PairedBackward"/>.</summary>
    public static Variable PairedCovariance(Variable x, Variable y, Variable? weight = null, int ddof = 1)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        var c = Connectomics.Covariance.Paired(x.Value, y.Value, weight?.Value, ddof);
        Variable[] inputs = weight is null ? [x, y] : [x, y, weight];
        return Function.Apply("connectomics.paired_covariance", inputs, c, g =>
        {
            var r = Connectomics.Covariance.PairedBackward(x.Value, y.Value, weight?.Value, ddof, g);
            return weight is null ? [r.X, r.Y] : [r.X, r.Y, r.Weight];
        });
    }

    /// <summary>R_ij = S_ij / sqrt(S_ii S_jj); VJP <see cref="Connectomics.Covariance.CorrelationFromBackward"/>.</summary>
    public static Variable CorrelationFrom(Variable s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return Function.Apply("connectomics.correlation_from", [s], Connectomics.Covariance.CorrelationFrom(s.Value, nameof(s)),
            g => [Connectomics.Covariance.CorrelationFromBackward(s.Value, g)]);
    }

    /// <summary>A^-1 [..., n, n]; VJP -P^T G P^T (<see cref="Connectomics.Covariance.InverseBackward"/>).</summary>
    public static Variable Inverse(Variable a)
    {
        ArgumentNullException.ThrowIfNull(a);
        var p = Connectomics.Covariance.Inverse(a.Value, nameof(a));
        return Function.Apply("connectomics.inverse", [a], p, g => [Connectomics.Covariance.InverseBackward(p, g)]);
    }

    /// <summary>Off-diagonal entries negated (self-adjoint).</summary>
    public static Variable NegateOffDiagonal(Variable a)
    {
        ArgumentNullException.ThrowIfNull(a);
        return Function.Apply("connectomics.negate_off_diagonal", [a], Connectomics.Covariance.NegateOffDiagonal(a.Value),
            g => [Connectomics.Covariance.NegateOffDiagonal(g)]);
    }

    /// <summary>`connectomics.correlation`: correlation of x [..., V, T] = CorrelationFrom(Covariance(x)).</summary>
    public static Variable Correlation(Variable x, Variable? weight = null, int ddof = 1, double l2 = 0) =>
        CorrelationFrom(Covariance(x, weight, ddof, l2));

    /// <summary>`connectomics.precision`: Inverse(Covariance(x)).</summary>
    public static Variable Precision(Variable x, Variable? weight = null, int ddof = 1, double l2 = 0) =>
        Inverse(Covariance(x, weight, ddof, l2));

    /// <summary>`connectomics.partial_correlation`: CorrelationFrom(NegateOffDiagonal(Precision(x))).</summary>
    public static Variable PartialCorrelation(Variable x, Variable? weight = null, int ddof = 1, double l2 = 0) =>
        CorrelationFrom(NegateOffDiagonal(Precision(x, weight, ddof, l2)));

    /// <summary>`connectomics.conditional_covariance`: S_XX - C_XZ S_ZZ^-1 C_XZ^T.</summary>
    public static Variable ConditionalCovariance(Variable x, Variable z, Variable? weight = null, int ddof = 1, double l2 = 0)
    {
        var cxz = PairedCovariance(x, z, weight, ddof);
        var pzz = Inverse(Covariance(z, weight, ddof, l2));
        return Ops.Sub(Covariance(x, weight, ddof, l2), Ops.MatMul(Ops.MatMul(cxz, pzz), cxz, transB: true));
    }

    /// <summary>F(A) = Q f(Lambda) Q^T; VJP the Daleckii-Krein backward (<see cref="SymmetricMatrixFunction.Backward"/>).</summary>
    public static Variable SymmetricFunction(Variable a, EigenvalueMap map)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(map);
        var f = SymmetricMatrixFunction.Apply(a.Value, map, nameof(a));
        return Function.Apply($"connectomics.sym_{map.Name.Replace(' ', '_')}", [a], f, g => [SymmetricMatrixFunction.Backward(a.Value, map, g, nameof(a))]);
    }

    public static Variable Log(Variable a) => SymmetricFunction(a, EigenvalueMap.Log);

    public static Variable Exp(Variable a) => SymmetricFunction(a, EigenvalueMap.Exp);

    public static Variable Sqrt(Variable a) => SymmetricFunction(a, EigenvalueMap.Sqrt);

    public static Variable InverseSqrt(Variable a) => SymmetricFunction(a, EigenvalueMap.InverseSqrt);

    public static Variable Power(Variable a, double p) => SymmetricFunction(a, EigenvalueMap.Power(p));

    /// <summary>SPD projection (eigenvalue clamp at eps).</summary>
    public static Variable ProjectSpd(Variable a, double eps = 1e-6) => SymmetricFunction(a, EigenvalueMap.Clamp(eps));

    /// <summary>`connectomics.tangent_projection`: log(O^-1/2 X O^-1/2), x [..., n, n], reference [n, n] (both differentiable).</summary>
    public static Variable TangentProject(Variable x, Variable reference)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(reference);
        SymmetricMatrixFunction.CheckReference(reference.Value, x.Value, DenseMatrix.Square(x.Value, nameof(x)).N);
        var w = InverseSqrt(reference);
        return Log(Ops.MatMul(Ops.MatMul(w, x), w));
    }

    /// <summary>The inverse map O^1/2 exp(T) O^1/2.</summary>
    public static Variable ConeProject(Variable t, Variable reference)
    {
        ArgumentNullException.ThrowIfNull(t);
        ArgumentNullException.ThrowIfNull(reference);
        SymmetricMatrixFunction.CheckReference(reference.Value, t.Value, DenseMatrix.Square(t.Value, nameof(t)).N);
        var root = Sqrt(reference);
        return Ops.MatMul(Ops.MatMul(root, Exp(t)), root);
    }

    /// <summary>Euclidean mean of x [N, n, n] over axis 0.</summary>
    public static Variable EuclideanMean(Variable x) => Ops.Mean(x, 0);

    /// <summary>Harmonic mean ((1/N) sum X_i^-1)^-1.</summary>
    public static Variable HarmonicMean(Variable x) => Inverse(Ops.Mean(Inverse(x), 0));

    /// <summary>Log-Euclidean mean exp((1/N) sum log X_i).</summary>
    public static Variable LogEuclideanMean(Variable x) => Exp(Ops.Mean(Log(x), 0));

    /// <summary>Geometric mean unrolled on the tape for exactly <paramref name="iterations"/> fixed-point steps (differentiable through every step, as hypercoil's).</summary>
    public static Variable GeometricMean(Variable x, int iterations = 10)
    {
        var g = EuclideanMean(x);
        for (int k = 0; k < iterations; k++) g = ConeProject(Ops.Mean(TangentProject(x, g), 0), g);
        return g;
    }

    /// <summary>`connectomics.residualize`: y - beta^T confounds; VJP <see cref="Residualization.Backward"/>.</summary>
    public static Variable Residualize(Variable y, Variable confounds, double l2 = 0)
    {
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(confounds);
        var r = Residualization.Forward(y.Value, confounds.Value, l2);
        return Function.Apply("connectomics.residualize", [y, confounds], r, g =>
        {
            var gr = Residualization.Backward(y.Value, confounds.Value, l2, g);
            return [gr.Y, gr.Confounds];
        });
    }

    /// <summary>`connectomics.soft_atlas`: parcel series [..., P, T] = Abar x, A = softmax over parcels of logits [P, V]; VJP <see cref="Connectomics.SoftAtlas.Backward"/>.</summary>
    public static Variable SoftAtlas(Variable logits, Variable x)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(x);
        return Function.Apply("connectomics.soft_atlas", [logits, x], Connectomics.SoftAtlas.Forward(logits.Value, x.Value), g =>
        {
            var r = Connectomics.SoftAtlas.Backward(logits.Value, x.Value, g);
            return [r.Logits, r.X];
        });
    }

    /// <summary>Relaxed modularity Q (a scalar) of adjacency [n, n] under a soft assignment [n, K]; VJP <see cref="Modularity.RelaxedBackward"/>.</summary>
    public static Variable RelaxedModularity(Variable adjacency, Variable assignment, double gamma = 1, bool excludeDiagonal = false)
    {
        ArgumentNullException.ThrowIfNull(adjacency);
        ArgumentNullException.ThrowIfNull(assignment);
        return Function.Apply("connectomics.relaxed_modularity", [adjacency, assignment], Modularity.Relaxed(adjacency.Value, assignment.Value, gamma, excludeDiagonal), g =>
        {
            var r = Modularity.RelaxedBackward(adjacency.Value, assignment.Value, gamma, excludeDiagonal, g.Data[0]);
            return [r.Adjacency, r.Assignment];
        });
    }

    /// <summary>Modularity loss -Q.</summary>
    public static Variable ModularityLoss(Variable adjacency, Variable assignment, double gamma = 1, bool excludeDiagonal = false) =>
        Ops.Neg(RelaxedModularity(adjacency, assignment, gamma, excludeDiagonal));

    /// <summary>Mean row entropy of p [R, K].</summary>
    public static Variable Entropy(Variable p)
    {
        ArgumentNullException.ThrowIfNull(p);
        return Function.Apply("connectomics.entropy", [p], Tensor<double>.Scalar(ConnectomicsLosses.Entropy(p.Value)),
            g => [ConnectomicsLosses.EntropyBackward(p.Value, g.Data[0])]);
    }

    /// <summary>Equilibrium of an atlas A [P, V].</summary>
    public static Variable Equilibrium(Variable a)
    {
        ArgumentNullException.ThrowIfNull(a);
        return Function.Apply("connectomics.equilibrium", [a], Tensor<double>.Scalar(ConnectomicsLosses.Equilibrium(a.Value)),
            g => [ConnectomicsLosses.EquilibriumBackward(a.Value, g.Data[0])]);
    }

    /// <summary>Compactness of an atlas A [P, V] with constant voxel coordinates [V, D].</summary>
    public static Variable Compactness(Variable a, Tensor<double> coords)
    {
        ArgumentNullException.ThrowIfNull(a);
        return Function.Apply("connectomics.compactness", [a], Tensor<double>.Scalar(ConnectomicsLosses.Compactness(a.Value, coords)),
            g => [ConnectomicsLosses.CompactnessBackward(a.Value, coords, g.Data[0])]);
    }

    /// <summary>Second moment of x [V, T] around the parcel means of w [P, V].</summary>
    public static Variable SecondMoment(Variable w, Variable x)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(x);
        return Function.Apply("connectomics.second_moment", [w, x], Tensor<double>.Scalar(ConnectomicsLosses.SecondMoment(w.Value, x.Value)), g =>
        {
            var (gw, gx) = ConnectomicsLosses.SecondMomentBackward(w.Value, x.Value, g.Data[0]);
            return [gw, gx];
        });
    }

    /// <summary>-log det S of an SPD S [n, n].</summary>
    public static Variable LogDetLoss(Variable s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return Function.Apply("connectomics.log_det", [s], Tensor<double>.Scalar(ConnectomicsLosses.LogDet(s.Value)),
            g => [ConnectomicsLosses.LogDetBackward(s.Value, g.Data[0])]);
    }

    /// <summary>QC-FC: mean |pearson| between each edge of fc [N, E] and qc [N] over subjects.</summary>
    public static Variable QcFc(Variable fc, Variable qc)
    {
        ArgumentNullException.ThrowIfNull(fc);
        ArgumentNullException.ThrowIfNull(qc);
        return Function.Apply("connectomics.qcfc", [fc, qc], Tensor<double>.Scalar(ConnectomicsLosses.QcFc(fc.Value, qc.Value)), g =>
        {
            var (gf, gq) = ConnectomicsLosses.QcFcBackward(fc.Value, qc.Value, g.Data[0]);
            return [gf, gq];
        });
    }

    /// <summary>Product filter irfft((re + i im) o rfft(x)); VJP <see cref="Connectomics.FrequencyFilter.Backward"/>.</summary>
    public static Variable FrequencyFilter(Variable x, Variable re, Variable im)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(re);
        ArgumentNullException.ThrowIfNull(im);
        return Function.Apply("connectomics.product_filter", [x, re, im], Connectomics.FrequencyFilter.Forward(x.Value, re.Value, im.Value), g =>
        {
            var r = Connectomics.FrequencyFilter.Backward(x.Value, re.Value, im.Value, g);
            return [r.X, r.Real, r.Imaginary];
        });
    }

    /// <summary>
    /// The amplitude-atanh transfer function w = tanh(|p|) p / |p| of the preimage p = re + i im, as its real and
    /// imaginary parts; VJP <see cref="Connectomics.FrequencyFilter.AmplitudeTanhBackward"/>.
    /// </summary>
    public static (Variable Re, Variable Im) AmplitudeTanh(Variable re, Variable im)
    {
        ArgumentNullException.ThrowIfNull(re);
        ArgumentNullException.ThrowIfNull(im);
        var (wre, wim) = Connectomics.FrequencyFilter.AmplitudeTanh(re.Value, im.Value);
        var w = Function.Apply("connectomics.amplitude_tanh", [re, im], [wre, wim], g =>
        {
            var (a, b) = Connectomics.FrequencyFilter.AmplitudeTanhBackward(re.Value, im.Value, g[0], g[1]);
            return [a, b];
        });
        return (w[0], w[1]);
    }
}
