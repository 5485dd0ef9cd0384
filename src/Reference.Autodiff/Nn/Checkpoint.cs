using System.Globalization;
using Reference.Autodiff.Optim;
using Reference.Core;
using Reference.Core.IO;

namespace Reference.Autodiff.Nn;

/// <summary>
/// Training checkpoints in the safetensors format (Reference.Core.IO.Safetensors: size-limited,
/// validated header; atomic writes). One file holds:
/// <code>
/// model.&lt;parameter name&gt;                      F64, the parameter's shape   e.g. model.layers.0.weight
/// optim.&lt;optimizer&gt;.&lt;state&gt;.&lt;parameter name&gt;  F64, the parameter's shape   e.g. optim.adamw.exp_avg.layers.0.weight
/// optim.&lt;optimizer&gt;.step.&lt;parameter name&gt;     I64 []  (Adam / AdamW per-parameter step t)
/// state.&lt;module path&gt;.running_mean, .running_var  F64 [C]  (every BatchNorm's running statistics: state
///                                                  that is not a parameter but changes eval-mode outputs)
/// __metadata__: format = reference.checkpoint/1, step = optimizer step count, optimizer, lr
/// </code>
/// Parameters are written bit-exactly (float64), and loading copies values into the existing
/// parameter buffers (so optimizers and graphs holding the variables see them), after checking
/// every name, dtype and shape. A parameter of the module that is missing from the file, or a file
/// entry of another shape, is an error naming the entry.
/// </summary>
public static class Checkpoint
{
    public const string Format = "reference.checkpoint/1";

    /// <summary>Saves parameters, BatchNorm running statistics and optimizer state; <paramref name="metadata"/> adds string entries to the header (the reserved keys format, optimizer, step and lr excepted).</summary>
    public static void Save(string path, Module model, Optimizer? optimizer = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(model);
        var tensors = new Dictionary<string, SafetensorsTensor>(StringComparer.Ordinal);
        foreach (var (name, p) in model.NamedParameters()) tensors["model." + name] = SafetensorsTensor.FromTensor(p.Value);
        foreach (var (name, buffer) in Buffers(model)) tensors[name] = SafetensorsTensor.FromTensor(new Tensor<double>(buffer, buffer.Length));
        var header = new Dictionary<string, string>(StringComparer.Ordinal) { ["format"] = Format };
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
        {
            if (key is "format" or "optimizer" or "step" or "lr") throw new ArgumentException($"metadata key '{key}' is reserved by the checkpoint format.", nameof(metadata));
            header[key] = value;
        }
        if (optimizer is not null)
        {
            var names = ParameterNames(model, optimizer);
            string prefix = $"optim.{optimizer.Name}.";
            for (int i = 0; i < optimizer.Parameters.Count; i++)
            {
                var p = optimizer.Parameters[i];
                foreach (var (state, buffer) in optimizer.State(i))
                    tensors[prefix + state + "." + names[i]] = SafetensorsTensor.FromTensor(new Tensor<double>(buffer, p.Value.ShapeArray));
                if (optimizer is Adam adam)
                    tensors[prefix + "step." + names[i]] = SafetensorsTensor.FromInt64([adam.ParameterSteps[i]]);
            }
            header["optimizer"] = optimizer.Name;
            header["step"] = optimizer.StepCount.ToString(CultureInfo.InvariantCulture);
            header["lr"] = optimizer.Lr.ToString("R", CultureInfo.InvariantCulture);
        }
        Safetensors.Write(path, tensors, header);
    }

    /// <summary>Loads parameters (and optimizer state when given) saved by <see cref="Save"/>; returns the file's metadata.</summary>
    public static IReadOnlyDictionary<string, string> Load(string path, Module model, Optimizer? optimizer = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(model);
        var file = Safetensors.Read(path);
        if (!file.Metadata.TryGetValue("format", out var format) || format != Format)
            throw new InvalidDataException($"{path}: metadata format is '{format ?? "(missing)"}', expected '{Format}'.");
        foreach (var (name, p) in model.NamedParameters()) CopyInto(file, path, "model." + name, p.Value);
        foreach (var (name, buffer) in Buffers(model)) CopyInto(file, path, name, new Tensor<double>(buffer, buffer.Length));
        if (optimizer is null) return file.Metadata;

        if (!file.Metadata.TryGetValue("optimizer", out var kind) || kind != optimizer.Name)
            throw new InvalidDataException($"{path}: the checkpoint's optimizer is '{kind ?? "(none)"}', expected '{optimizer.Name}'.");
        var names = ParameterNames(model, optimizer);
        string prefix = $"optim.{optimizer.Name}.";
        for (int i = 0; i < optimizer.Parameters.Count; i++)
        {
            var shape = optimizer.Parameters[i].Value.ShapeArray;
            if (optimizer is Sgd sgd)
            {
                // The momentum buffer exists only once the parameter has taken a step.
                string key = prefix + "momentum_buffer." + names[i];
                if (sgd.Momentum != 0 && file.Tensors.ContainsKey(key))
                {
                    sgd.MarkStarted(i);
                    foreach (var (_, buffer) in sgd.State(i)) CopyInto(file, path, key, new Tensor<double>(buffer, shape));
                }
                continue;
            }
            foreach (var (state, buffer) in optimizer.State(i)) CopyInto(file, path, prefix + state + "." + names[i], new Tensor<double>(buffer, shape));
            if (optimizer is Adam adam)
            {
                string key = prefix + "step." + names[i];
                if (!file.Tensors.TryGetValue(key, out var step) || step.DType != SafetensorsDType.I64 || step.ElementCount != 1)
                    throw new InvalidDataException($"{path}: '{key}' is missing or not a single I64.");
                adam.ParameterSteps[i] = step.ToInt64Array()[0];
            }
        }
        optimizer.StepCount = long.Parse(file.Metadata.GetValueOrDefault("step", "0"), CultureInfo.InvariantCulture);
        if (file.Metadata.TryGetValue("lr", out var lr)) optimizer.Lr = double.Parse(lr, CultureInfo.InvariantCulture);
        return file.Metadata;
    }

    /// <summary>The non-parameter state of the module tree by checkpoint key: each BatchNorm's running mean and variance (the arrays themselves, so loading writes into the layer).</summary>
    public static IEnumerable<(string Key, double[] Buffer)> Buffers(Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Walk(model, "");

        static IEnumerable<(string, double[])> Walk(Module m, string prefix)
        {
            if (m is BatchNorm norm)
            {
                yield return ("state." + prefix + "running_mean", norm.RunningMean);
                yield return ("state." + prefix + "running_var", norm.RunningVar);
            }
            foreach (var (name, child) in m.NamedChildren())
                foreach (var item in Walk(child, prefix + name + ".")) yield return item;
        }
    }

    private static void CopyInto(SafetensorsFile file, string path, string key, Tensor<double> destination)
    {
        if (!file.Tensors.TryGetValue(key, out var entry))
            throw new InvalidDataException($"{path}: '{key}' is missing.");
        if (entry.DType != SafetensorsDType.F64 || !entry.Shape.AsSpan().SequenceEqual(destination.Shape))
            throw new InvalidDataException($"{path}: '{key}' is {entry.DType}{Shapes.Format(entry.Shape)}, expected F64{Shapes.Format(destination.Shape)}.");
        entry.ToTensor<double>().Data.CopyTo(destination.Data, 0);
    }

    /// <summary>The module's name of each optimizer parameter (by reference); every one must belong to the module.</summary>
    private static string[] ParameterNames(Module model, Optimizer optimizer)
    {
        var byVariable = new Dictionary<Variable, string>(ReferenceEqualityComparer.Instance);
        foreach (var (name, p) in model.NamedParameters()) byVariable.TryAdd(p, name);
        return optimizer.Parameters.Select((p, i) => byVariable.TryGetValue(p, out var name) ? name
            : throw new ArgumentException($"optimizer parameter {i} ({p}) is not a parameter of the module.", nameof(optimizer))).ToArray();
    }
}
