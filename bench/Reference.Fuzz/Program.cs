using SharpFuzz;

namespace Reference.Fuzz;

/// <summary>
/// `reference-fuzz TARGET` runs one target under AFL++ (SharpFuzz's out-of-process loop; the
/// assemblies must first be instrumented with the sharpfuzz tool: bench/fuzz.sh does both).
/// `reference-fuzz TARGET --replay DIR...` runs every file of the directories through the target
/// once, without AFL (the seed corpus and every crash found replay as a regression check).
/// Exit codes: 0 ok, 1 an input escaped the target (named on stderr), 2 usage.
/// Every input also runs under an allocation budget: a parser that allocates more than
/// <see cref="AllocationBudgetBytes"/> managed bytes for one input fails as if it had crashed, so an
/// input that makes a parser reserve memory out of proportion to its size is a finding too.
/// </summary>
public static class Program
{
    /// <summary>
    /// 256 MiB per input: above the largest legitimate budget of any target (64 MiB of decompressed
    /// data plus the copies a reader makes of it), far below what a header-driven allocation reaches.
    /// </summary>
    public const long AllocationBudgetBytes = 256L << 20;

    private static void WithinBudget(Action<byte[]> target, byte[] input)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        target(input);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if (allocated > AllocationBudgetBytes)
            throw new InvalidOperationException(
                $"one input of {input.Length} bytes allocated {allocated} bytes; the budget is {AllocationBudgetBytes} bytes");
    }

    public static int Main(string[] args)
    {
        if (args.Length == 0 || !FuzzTargets.All.TryGetValue(args[0], out var target))
        {
            Console.Error.WriteLine($"usage: reference-fuzz {string.Join('|', FuzzTargets.All.Keys)} [--replay DIR...]");
            return 2;
        }
        if (args.Length > 1 && args[1] == "--replay") return Replay(args[0], target, args[2..]);
        Fuzzer.OutOfProcess.Run(stream =>
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            WithinBudget(target, buffer.ToArray());
        });
        return 0;
    }

    private static int Replay(string name, Action<byte[]> target, string[] directories)
    {
        int count = 0, failures = 0;
        foreach (var directory in directories)
            foreach (var file in Directory.EnumerateFiles(directory).Order(StringComparer.Ordinal))
            {
                count++;
                try { WithinBudget(target, File.ReadAllBytes(file)); }
                catch (Exception e)
                {
                    failures++;
                    Console.Error.WriteLine($"FAIL {name} {file}: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
                }
            }
        Console.WriteLine($"{name}: {count} inputs replayed, {failures} escaped");
        return failures == 0 ? 0 : 1;
    }
}
