using System.CommandLine;
using Reference.Core;
using Reference.Core.Linear;

namespace Reference.Cli.Commands;

/// <summary>
/// `reference demo`: the README's main job on embedded defaults. Each capability adds a section
/// that computes something with the fast tier and checks it against an independent definition.
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var seed = new Option<ulong>("--seed") { Description = "Seed of the SplitMix64 generator for every input.", DefaultValueFactory = _ => 42UL, HelpName = "N" };
        var command = new Command("demo", "Run the library's main job on embedded defaults and check every result against its definition.") { seed };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var sections = DemoSections.All(parse.GetValue(seed));
            bool allOk = true;
            foreach (var section in sections)
            {
                var result = section();
                output.WriteLine($"{(result.Ok ? "ok  " : "FAIL")} {result.Title}");
                foreach (var line in result.Lines) output.WriteLine($"     {line}");
                allOk &= result.Ok;
            }
            return allOk ? ExitCodes.Success : ExitCodes.CheckFailed;
        });
        return command;
    }
}

/// <summary>One section of the demo: a title, what it measured, and whether the check held.</summary>
public sealed record DemoResult(string Title, bool Ok, IReadOnlyList<string> Lines);

public static partial class DemoSections
{
    public static IReadOnlyList<Func<DemoResult>> All(ulong seed) =>
    [
        () => Gemm(seed),
        () => FftConvolutionDemo(seed),
        () => Operators(seed),
        () => Ess(seed),
        () => GoldenSample(seed),
    ];

    /// <summary>Fast float64 GEMM against the naive triple loop.</summary>
    public static DemoResult Gemm(ulong seed)
    {
        var rng = new SplitMix64(seed);
        const int m = 67, k = 129, n = 33;
        var a = rng.NormalTensor<double>(0, 1, m, k);
        var b = rng.NormalTensor<double>(0, 1, k, n);
        var naive = NaiveGemm.MatMul(a, b);
        var fast = FastGemm.MatMul(a, b);
        double err = Metrics.RelativeError(naive.Data, fast.Data);
        return new DemoResult($"GEMM {m}x{k} @ {k}x{n} (float64): fast tier vs naive triple loop", err <= 1e-12,
            [$"relative error ||fast - naive|| / ||naive|| = {err:E2} (tolerance 1e-12)"]);
    }
}
