// Which epoch's parameters a tape-based decoder keeps, from its validation curves (one place for every
// trainer: time_weighting, sequence, cnn3d, deeplight3d, deeplight2d through NeuralTraining.Fit, and the
// interpretation benchmark's decoders through ExplainedDecoder.Train).
//
// Why not the epoch of lowest validation cross-entropy: with one or two validation subjects (7-14
// trials) the loss of a model that becomes confident is dominated by the few trials it gets wrong, so
// it can rise from the first epoch while the accuracy rises too; GPT-2 and BERT then kept epoch 1 and
// predicted one class (docs/decoding.md, "The parcel-sequence decoders learn"). The papers' public code
// does not select that way either: DeepLight (athms/evaluating-deeplight-transfer, three/_fit.py)
// checkpoints every epoch and monitors the validation accuracy; the interpretation benchmark's 3D-CNN
// (athms/xai-brain-decoding-benchmark, scripts/train.py) early-stops on the validation loss only after a
// grace period of 10 epochs and keeps the final model; learning-from-brains (scripts/train.py,
// src/trainer/make.py) fine-tunes a fixed number of steps and evaluates the final model, reporting
// the validation accuracy. Hence the default: the highest validation accuracy (ties to the lower
// validation loss, then to the earlier epoch), no epoch before the 10th a candidate (the grace period),
// patience counted from there. `loss` with min_epochs 0 is the earlier rule, kept to reproduce old runs.
namespace Reference.Decoding;

/// <summary>The epoch-selection rule of early stopping.</summary>
public static class EpochSelection
{
    /// <summary>Values of the configuration field `selection`.</summary>
    public static readonly string[] Rules = ["accuracy", "loss"];

    /// <summary>Default of `min_epochs`: the interpretation benchmark's grace period (10 epochs).</summary>
    public const int DefaultMinEpochs = 10;

    /// <summary>
    /// The epoch (0-based index into the curves: index i is the model after i + 1 epochs) that the rule
    /// keeps, and the number of epochs that training runs before patience stops it. Epochs with index
    /// below min(minEpochs, curve length) - 1 are never candidates and never count towards patience.
    /// </summary>
    public static (int Chosen, int EpochsRun) Choose(IReadOnlyList<double> loss, IReadOnlyList<double> accuracy, string rule, int minEpochs, int patience)
    {
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(accuracy);
        if (loss.Count != accuracy.Count) throw new ArgumentException($"accuracy has {accuracy.Count} epochs; expected {loss.Count} (as loss).", nameof(accuracy));
        if (loss.Count == 0) throw new ArgumentException("no epochs; expected at least one.", nameof(loss));
        var selector = new EpochSelector(rule, minEpochs, patience, loss.Count);
        for (int i = 0; i < loss.Count; i++)
            if (selector.Offer(loss[i], accuracy[i]).Stop) return (selector.Best, i + 1);
        return (selector.Best, loss.Count);
    }
}

/// <summary>
/// Online form of <see cref="EpochSelection.Choose"/>: offered each epoch's validation loss and
/// accuracy in order, it says whether that epoch is the best so far (keep its parameters) and whether
/// to stop (patience epochs without a better candidate).
/// </summary>
public sealed class EpochSelector
{
    private readonly string rule;
    private readonly int firstCandidate, patience;
    private double bestLoss = double.PositiveInfinity, bestAccuracy = double.NegativeInfinity;
    private int epoch = -1, sinceBest;

    /// <param name="rule">`accuracy` or `loss` (EpochSelection.Rules).</param>
    /// <param name="minEpochs">No epoch before the minEpochs-th is a candidate; patience counts from it.</param>
    /// <param name="patience">Candidate epochs without a better one before stopping.</param>
    /// <param name="epochs">The planned number of epochs: min_epochs beyond it means the last epoch.</param>
    public EpochSelector(string rule, int minEpochs, int patience, int epochs)
    {
        if (!EpochSelection.Rules.Contains(rule)) throw new ArgumentException($"selection = '{rule}'; expected one of {string.Join(", ", EpochSelection.Rules)}.", "selection");
        if (minEpochs < 0) throw new ArgumentException($"min_epochs = {minEpochs}; expected >= 0.", "min_epochs");
        if (patience < 1) throw new ArgumentException($"patience = {patience}; expected >= 1.", "patience");
        if (epochs < 1) throw new ArgumentException($"epochs = {epochs}; expected >= 1.", "epochs");
        this.rule = rule;
        this.patience = patience;
        firstCandidate = Math.Max(0, Math.Min(minEpochs, epochs) - 1);
    }

    /// <summary>Index of the best candidate epoch so far (-1 before the first candidate).</summary>
    public int Best { get; private set; } = -1;

    public (bool IsBest, bool Stop) Offer(double loss, double accuracy)
    {
        epoch++;
        if (epoch < firstCandidate) return (false, false);
        // The small tolerance keeps a loss that differs only by rounding from counting as better.
        bool better = rule == "loss"
            ? loss < bestLoss - 1e-9
            : accuracy > bestAccuracy + 1e-12 || (Math.Abs(accuracy - bestAccuracy) <= 1e-12 && loss < bestLoss - 1e-9);
        if (better)
        {
            (bestLoss, bestAccuracy, Best, sinceBest) = (loss, accuracy, epoch, 0);
            return (true, false);
        }
        return (false, ++sinceBest >= patience);
    }
}
