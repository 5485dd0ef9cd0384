// The two accuracies of the scored positions (targets != IgnoreIndex), both reported and labelled:
//   accuracy (micro)   = correct / scored positions over the whole split;
//   macro accuracy     = MAD's metric: torchmetrics' MulticlassAccuracy(num_classes = V,
//                        average = "macro", ignore_index = -100) per batch, averaged over batches.
//                        Per batch: recall_c = tp_c / (tp_c + fn_c) (0 when the class has no target),
//                        averaged over the classes with tp_c + fp_c + fn_c > 0 (torchmetrics drops
//                        classes absent from both targets and predictions; a class only predicted
//                        counts with recall 0).
// Predictions are the argmax of the logits, ties to the lowest id (torch.argmax's first maximum).
namespace Reference.Models;

/// <summary>Counts of one evaluation; <see cref="Add"/> one batch at a time.</summary>
public sealed class TaskMetrics(int vocabulary)
{
    private long correct, scored, batches;
    private double macroSum;
    private double lossSum;
    private long lossCount;

    /// <summary>Micro accuracy over every scored position.</summary>
    public double Accuracy => scored == 0 ? 0.0 : (double)correct / scored;

    /// <summary>MAD's macro accuracy: the per-batch torchmetrics macro average, averaged over batches.</summary>
    public double MacroAccuracy => batches == 0 ? 0.0 : macroSum / batches;

    /// <summary>Mean cross-entropy over the scored positions (when logits were given with losses).</summary>
    public double Loss => lossCount == 0 ? double.NaN : lossSum / lossCount;

    public long Scored => scored;

    /// <summary>One batch: logits [N, V] row-major and targets [N] (IgnoreIndex = not scored).</summary>
    public void Add(ReadOnlySpan<double> logits, ReadOnlySpan<int> targets)
    {
        int v = vocabulary, n = targets.Length;
        if (logits.Length != n * v) throw new ArgumentException($"logits hold {logits.Length} values, expected N V = {n} * {v}.", nameof(logits));
        var tp = new long[v];
        var fp = new long[v];
        var fn = new long[v];
        bool any = false;
        for (int i = 0; i < n; i++)
        {
            int target = targets[i];
            if (target == SyntheticTask.IgnoreIndex) continue;
            if ((uint)target >= (uint)v) throw new ArgumentException($"target {target} at {i} is outside [0, {v}).", nameof(targets));
            var row = logits.Slice(i * v, v);
            int best = 0;
            double max = row[0];
            for (int c = 1; c < v; c++) if (row[c] > max) { max = row[c]; best = c; }
            double sum = 0;
            for (int c = 0; c < v; c++) sum += Math.Exp(row[c] - max);
            lossSum += Math.Log(sum) - (row[target] - max);
            lossCount++;
            any = true;
            scored++;
            if (best == target) { correct++; tp[target]++; }
            else { fp[best]++; fn[target]++; }
        }
        if (!any) return;
        double recallSum = 0;
        int classes = 0;
        for (int c = 0; c < v; c++)
        {
            if (tp[c] + fp[c] + fn[c] == 0) continue;
            classes++;
            recallSum += tp[c] + fn[c] == 0 ? 0.0 : (double)tp[c] / (tp[c] + fn[c]);
        }
        macroSum += recallSum / classes;
        batches++;
    }
}
