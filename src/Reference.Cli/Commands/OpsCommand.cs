using System.CommandLine;
using System.Text;
using Reference.Operators;

namespace Reference.Cli.Commands;

/// <summary>
/// `reference ops`: the registered operators, one line each with what they have; `reference ops
/// show NAME`: one descriptor in full (definition, parameters, inputs and outputs, every entry
/// point, the recurrent state, the total state size, the autodiff adapter and the conformance cases).
/// </summary>
public static class OpsCommand
{
    public static Command Create()
    {
        var command = new Command("ops", "List the registered operators (`ops show NAME` prints one descriptor).");
        command.SetAction(parse =>
        {
            parse.InvocationConfiguration.Output.Write(List());
            return ExitCodes.Success;
        });
        var name = new Argument<string>("NAME") { Description = "A registered operator name (see `reference ops`)." };
        var show = new Command("show", "Print an operator's descriptor: definition, parameters, tensors, entry points, state, TSS, gradients, cases.") { name };
        show.SetAction(parse =>
        {
            string n = parse.GetValue(name)!;
            if (OperatorRegistry.Find(n) is { } d)
                parse.InvocationConfiguration.Output.Write(Show(d));
            else if (Reference.Golden.GoldenRegistry.Find(n) is { } kernel)
                parse.InvocationConfiguration.Output.Write(ShowKernel(kernel));
            else
                throw new CliException($"NAME: no operator '{n}'; expected one of {string.Join(", ", OperatorRegistry.Names)} " +
                    $"or a kernel op of the golden set ({string.Join(", ", Reference.Golden.GoldenRegistry.Ops.Select(o => o.Name).Where(o => OperatorRegistry.Find(o) is null))}).");
            return ExitCodes.Success;
        });
        command.Subcommands.Add(show);
        return command;
    }

    /// <summary>One line per operator: name, title, and a mark per capability (a dash where the descriptor says why not).</summary>
    public static string List()
    {
        var text = new StringBuilder();
        text.AppendLine($"{"name",-26} {"fast",-5} {"forms",-5} {"T",-2} {"real",-5} {"step",-5} {"grad",-5} {"cases",-5} {"ess",-4} title");
        foreach (var d in OperatorRegistry.All)
        {
            static string Mark(bool present) => present ? "yes" : "-";
            text.AppendLine($"{d.Name,-26} {Mark(d.Fast is not null),-5} {d.Forms.Count,-5} {Mark(d.Materialize is not null),-2} " +
                $"{Mark(d.Realize is not null),-5} {Mark(d.StepEntry is not null),-5} {Mark(d.Autodiff is not null),-5} {d.Cases.Count,-5} " +
                $"{Mark(d.Sample is not null && d.Causal),-4} {d.Title}");
        }
        text.AppendLine($"{OperatorRegistry.All.Count} operators; `reference ops show NAME` for one in full.");
        return text.ToString();
    }

    /// <summary>The descriptor in full, as a reader opening the operator's file next to its paper wants it.</summary>
    public static string Show(OperatorDescriptor d)
    {
        var text = new StringBuilder();
        text.AppendLine($"{d.Name} (version {d.Version}): {d.Title}");
        text.AppendLine($"  paper       {d.Paper}");
        text.AppendLine($"  file        {d.File}");
        text.AppendLine($"  computes    {d.Summary}");
        text.AppendLine($"  causal      {(d.Causal ? "yes" : "no")}");
        text.AppendLine("parameters");
        foreach (var p in d.Parameters) text.AppendLine($"  {p.Name,-16} {p.Type,-8} default {p.Default,-8} {p.Meaning}");
        text.AppendLine("inputs");
        foreach (var t in d.Inputs) text.AppendLine($"  {t.Name,-16} {t.Shape,-28} {t.Meaning}{(t.Optional ? " (optional)" : "")}");
        text.AppendLine("outputs");
        foreach (var t in d.Outputs) text.AppendLine($"  {t.Name,-16} {t.Shape,-28} {t.Meaning}");
        text.AppendLine("entry points");
        Entry(text, "naive", d.NaiveEntry, null);
        Entry(text, "fast", d.FastEntry, d.Without.GetValueOrDefault("fast"));
        foreach (var f in d.Forms) Entry(text, f.Name, f.Entry, null);
        if (d.Forms.Count == 0) Entry(text, "forms", null, d.Without.GetValueOrDefault("forms"));
        Entry(text, "materialize", d.MaterializeEntry, d.Without.GetValueOrDefault("materialize"));
        Entry(text, "realize", d.RealizeEntry, d.Without.GetValueOrDefault("realize"));
        Entry(text, "step", d.StepEntry is null ? null : $"{d.StepEntry}; state {d.State}", d.Without.GetValueOrDefault("step"));
        Entry(text, "autodiff", d.AutodiffEntry is null ? null : $"{d.AutodiffEntry}; d/d {string.Join(", ", d.Differentiable)}",
            d.Without.GetValueOrDefault("autodiff"));
        text.AppendLine("effective state size");
        Entry(text, "TSS", d.TotalStateSizeFormula, d.Without.GetValueOrDefault("ess"));
        text.AppendLine($"conformance cases (golden/{d.Name}/)");
        text.AppendLine($"  accumulation {d.AccumulationOrder}");
        text.AppendLine($"  inputs       {d.Distribution}");
        foreach (var c in d.Cases)
            text.AppendLine($"  {c.Id,-30} seed {c.Seed,-6} {c.Description}{(c.Tags.Length > 0 ? $" [{string.Join(", ", c.Tags)}]" : "")}");
        if (d.Cases.Count == 0) text.AppendLine($"  none: {d.Without.GetValueOrDefault("golden")}");
        return text.ToString();
    }

    /// <summary>
    /// A kernel op of the golden set (GEMM, FFT, activations, ESS): no descriptor, so its parameters
    /// are the keys its cases use, with the type of their values, "-" where every case gives the
    /// key, and the values the cases take (<see cref="Reference.Golden.GoldenOp.ParameterList"/>).
    /// </summary>
    public static string ShowKernel(Reference.Golden.GoldenOp op)
    {
        ArgumentNullException.ThrowIfNull(op);
        var text = new StringBuilder();
        text.AppendLine($"{op.Name} (version {op.Version}): a kernel op of the golden set");
        text.AppendLine($"  computes    {op.Summary}");
        text.AppendLine("parameters (the keys its cases use)");
        foreach (var p in op.ParameterList()) text.AppendLine($"  {p.Name,-16} {p.Type,-8} default {p.Default,-8} {p.Meaning}");
        text.AppendLine($"conformance cases (golden/{op.Name}/)");
        text.AppendLine($"  accumulation {op.AccumulationOrder}");
        text.AppendLine($"  inputs       {op.Distribution}");
        foreach (var c in op.Cases)
            text.AppendLine($"  {c.Id,-30} seed {c.Seed,-6} {c.Description}{(c.Tags.Length > 0 ? $" [{string.Join(", ", c.Tags)}]" : "")}");
        return text.ToString();
    }

    private static void Entry(StringBuilder text, string label, string? entry, string? without) =>
        text.AppendLine($"  {label,-18} {entry ?? $"none: {without ?? "(not stated)"}"}");
}
