// The self-supervised frameworks of learning-from-brains (arXiv:2206.11417, sec. 3.2; the official
// embedders autoen.py, csm.py, bert.py, netbert.py), on random windows of W TRs of the
// pre-training runs (subject and start drawn per sample):
//
//   autoencoding   the pooled CLS summary p [B, D] is the bottleneck; each time point is decoded
//                  from p + E_time[id(t)] by the reconstruction head; L1 over all of x.
//   csm            causal sequence modeling: one time point i in [1, W) per sample is replaced by the
//                  mask embedding and every later point zeroed (as the official code, which also
//                  cuts the attention there); L1 between the reconstruction at i and x_i.
//   seq_bert       20% of the W time points replaced by the mask embedding, L1 on them; plus is-next:
//                  the window is A (first W/2 TRs) and B (the rest), B following A after a gap of
//                  1-4 TRs in the same run, or (probability 0.5) taken from another subject's run;
//                  BCE on the pooled CLS's is-next logit. B's time stamps continue A's in both cases
//                  (as if it followed), so time alone cannot tell.
//   net_bert       10% of the parcels ("networks") replaced by their mask value at every time point,
//                  L1 on them.
//
// AdamW, gradient-norm clip 1. Resumable: the model and AdamW state are checkpointed (Autodiff's
// safetensors Checkpoint, atomic) every checkpoint_every steps, and all randomness of step s
// (windows, masks, dropout) comes from SplitMix64(seed, s), so a resumed run continues exactly.
using System.Globalization;
using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Autodiff.Optim;
using Reference.Core;
using Reference.Core.IO;

namespace Reference.Decoding;

public sealed record PretrainSettings(string Framework = "csm", int Steps = 200, int Batch = 16, double LearningRate = 1e-3, double WeightDecay = 1e-2,
    double Dropout = 0.1, double SequenceMask = 0.2, double NetworkMask = 0.1, int CheckpointEvery = 50)
{
    public static readonly string[] Frameworks = ["autoencoding", "csm", "seq_bert", "net_bert"];

    public void Validate()
    {
        if (!Frameworks.Contains(Framework)) throw new ArgumentException($"framework '{Framework}'; expected one of {string.Join(", ", Frameworks)}.", "framework");
        if (Steps < 1) throw new ArgumentException($"steps = {Steps}; expected >= 1.", "steps");
        if (Batch < 1) throw new ArgumentException($"batch = {Batch}; expected >= 1.", "batch");
        if (!(LearningRate > 0)) throw new ArgumentException($"lr = {LearningRate}; expected > 0.", "lr");
        if (!(Dropout is >= 0 and < 1)) throw new ArgumentException($"dropout = {Dropout}; expected in [0, 1).", "dropout");
        if (!(SequenceMask is > 0 and < 1) || !(NetworkMask is > 0 and < 1)) throw new ArgumentException("mask fractions must be in (0, 1).", "mask");
        if (CheckpointEvery < 1) throw new ArgumentException($"checkpoint_every = {CheckpointEvery}; expected >= 1.", "checkpoint_every");
    }

    public string Identity() => new JsonObject
    {
        ["framework"] = Framework, ["steps"] = Steps, ["batch"] = Batch, ["lr"] = LearningRate, ["weight_decay"] = WeightDecay, ["dropout"] = Dropout,
        ["sequence_mask"] = SequenceMask, ["network_mask"] = NetworkMask,
    }.ToJsonString();
}

public static class Pretraining
{
    /// <summary>The checkpoint metadata key holding the settings, architecture and seed a pre-training checkpoint belongs to.</summary>
    public const string IdentityKey = "pretraining";

    /// <summary>The loss of one pre-training step on a batch drawn from <paramref name="runs"/> ([T, P] each) with the step's stream.</summary>
    public static Variable Loss(SequenceModel model, string framework, IReadOnlyList<double[]> runs, int scans, double tr, int batch, SplitMix64 rng,
        PretrainSettings settings, bool training = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(runs);
        int w = model.Window, p = model.Parcels;
        if (scans < w + (framework == "seq_bert" ? 4 : 0)) throw new ArgumentException($"runs of {scans} scans are too short for windows of {w} TRs.", nameof(scans));
        var x = new double[batch * w * p];
        var times = SequenceModel.RepeatTimes(Enumerable.Range(0, w).Select(i => i * tr).ToArray(), batch);
        var mask = new double[batch * w * p];
        var isNext = new double[batch];
        int la = w / 2;
        for (int b = 0; b < batch; b++)
        {
            int subject = rng.NextInt(runs.Count);
            if (framework == "seq_bert")
            {
                int gap = 1 + rng.NextInt(4);
                int start = rng.NextInt(scans - w - gap + 1);
                Copy(runs[subject], start, la, x, b * w, p);
                bool next = runs.Count < 2 || rng.Uniform() >= 0.5;
                isNext[b] = next ? 1 : 0;
                if (next) Copy(runs[subject], start + la + gap, w - la, x, b * w + la, p);
                else
                {
                    int other = (subject + 1 + rng.NextInt(runs.Count - 1)) % runs.Count;
                    Copy(runs[other], rng.NextInt(scans - (w - la) + 1), w - la, x, b * w + la, p);
                }
                for (int t = la; t < w; t++) times[b * w + t] = (t + gap) * tr;
            }
            else Copy(runs[subject], rng.NextInt(scans - w + 1), w, x, b * w, p);
            switch (framework)
            {
                case "csm":
                    {
                        int i = 1 + rng.NextInt(w - 1);
                        for (int q = 0; q < p; q++) mask[(b * w + i) * p + q] = 1;
                        for (int t = i + 1; t < w; t++)
                            for (int q = 0; q < p; q++) x[(b * w + t) * p + q] = 0;
                        break;
                    }
                case "seq_bert":
                    foreach (int t in Choose(rng, w, Math.Max(1, (int)Math.Round(settings.SequenceMask * w))))
                        for (int q = 0; q < p; q++) mask[(b * w + t) * p + q] = 1;
                    break;
                case "net_bert":
                    foreach (int q in Choose(rng, p, Math.Max(1, (int)Math.Round(settings.NetworkMask * p))))
                        for (int t = 0; t < w; t++) mask[(b * w + t) * p + q] = 1;
                    break;
            }
        }
        var target = Variable.Constant(new Tensor<double>((double[])x.Clone(), batch, w, p));
        var dropout = training ? new SplitMix64(rng.NextUInt64()) : null;
        if (framework == "autoencoding")
        {
            var hidden = model.Hidden(target, times, dropout, settings.Dropout);
            var pooled = Ops.Reshape(model.Pool(hidden), batch, 1, model.Width);
            var ids = times.Select(SequenceModel.TimeId).ToArray();
            var decoded = model.Reconstruct.Forward(Ops.Add(pooled, Ops.Embedding(model.TimeTable, ids, batch, w)));
            return Ops.L1Loss(decoded, target);
        }
        var m = Variable.Constant(new Tensor<double>(mask, batch, w, p));
        var keep = Variable.Constant(new Tensor<double>(mask.Select(v => 1 - v).ToArray(), batch, w, p));
        var inputs = Ops.Add(Ops.Mul(target, keep), Ops.Mul(m, model.Mask));
        var h = model.Hidden(inputs, times, dropout, settings.Dropout);
        var error = Ops.Mul(Ops.Abs(Ops.Sub(model.Reconstruction(h), target)), m);
        var loss = Ops.MulScalar(Ops.Sum(error), 1.0 / Math.Max(1, mask.Sum()));
        if (framework == "seq_bert")
        {
            var logit = Ops.Reshape(model.NextHead.Forward(model.Pool(h)), batch);
            loss = Ops.Add(loss, Ops.BceWithLogits(logit, Variable.Constant(new Tensor<double>(isNext, batch))));
        }
        return loss;
    }

    private static void Copy(double[] run, int start, int length, double[] into, int row, int p) =>
        Array.Copy(run, start * p, into, row * p, length * p);

    private static int[] Choose(SplitMix64 rng, int n, int k)
    {
        var order = Enumerable.Range(0, n).ToArray();
        for (int i = 0; i < k; i++) { int j = i + rng.NextInt(n - i); (order[i], order[j]) = (order[j], order[i]); }
        return order[..k];
    }

    /// <summary>The stream of step <paramref name="step"/>.</summary>
    public static SplitMix64 StepRng(ulong seed, long step) => new(seed * 0xD1B54A32D192ED03UL + 0x9E3779B97F4A7C15UL * (ulong)(step + 1));

    /// <summary>
    /// Pre-trains <paramref name="model"/> for the settings' steps. With <paramref name="checkpoint"/>,
    /// saves model and AdamW state there every checkpoint_every steps and at the end (the settings,
    /// architecture and seed in the checkpoint's metadata as "pretraining"); an existing checkpoint of
    /// the same settings is continued (a finished one just loaded), one of other settings is an error. Returns the losses of the steps run here.
    /// </summary>
    public static IReadOnlyList<double> Run(SequenceModel model, IReadOnlyList<double[]> runs, int scans, double tr, PretrainSettings settings, ulong seed,
        string? checkpoint = null, Action<int, double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        var optimizer = new AdamW(model.Parameters(), settings.LearningRate, 0.9, 0.999, 1e-8, settings.WeightDecay);
        string identity = settings.Identity() + "|" + model.Identity + "|seed=" + seed.ToString(CultureInfo.InvariantCulture);
        int start = 0;
        if (checkpoint is not null && File.Exists(checkpoint))
        {
            var saved = Safetensors.Read(checkpoint).Metadata;
            if (!saved.TryGetValue(IdentityKey, out var written) || written != identity)
                throw new InvalidDataException($"checkpoint '{checkpoint}' was written for other pre-training settings; remove it or use another output directory.");
            Checkpoint.Load(checkpoint, model, optimizer);
            start = (int)optimizer.StepCount;
        }
        var losses = new List<double>();
        using var fast = Tape.UseFastKernels();
        model.Train();
        for (int step = start; step < settings.Steps; step++)
        {
            var rng = StepRng(seed, step);
            optimizer.ZeroGrad();
            var loss = Loss(model, settings.Framework, runs, scans, tr, settings.Batch, rng, settings);
            loss.Backward();
            GradClip.ClipGradNorm(model.Parameters(), 1.0);
            optimizer.Step();
            losses.Add(loss.Item());
            progress?.Invoke(step + 1, loss.Item());
            if (checkpoint is not null && ((step + 1) % settings.CheckpointEvery == 0 || step + 1 == settings.Steps))
            {
                Checkpoint.Save(checkpoint, model, optimizer, new Dictionary<string, string> { [IdentityKey] = identity });
            }
        }
        model.Eval();
        return losses;
    }
}
