using System.CommandLine;
using System.Globalization;
using System.Numerics;
using Reference.Core.IO;

namespace Reference.Cli.Commands;

/// <summary>
/// `reference npy FILE`: prints an .npy file's format version, dtype, shape and order, then
/// summary statistics of its values (for complex arrays: of |z|). A malformed file exits 2 with
/// one line "error: FILE: reason" on stderr.
/// </summary>
public static class NpyCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "The .npy file to describe." };
        var command = new Command("npy", "Describe an .npy file: version, dtype, shape, order and summary statistics.") { file };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(file)!;
            var output = parse.InvocationConfiguration.Output;
            foreach (var (key, value) in Describe(path)) output.WriteLine($"{key,-10}{value}");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>The lines the verb prints, as (key, value) pairs.</summary>
    public static IReadOnlyList<(string Key, string Value)> Describe(string path)
    {
        if (Directory.Exists(path)) throw new CliException($"{path}: is a directory, expected an .npy file (argument FILE).");
        if (!File.Exists(path)) throw new CliException($"{path}: no such file (argument FILE).");
        var kind = FileKinds.Of(path);
        if (kind is not (FileKind.Regular or FileKind.Unknown))
            throw new CliException($"{path}: not a regular file (it is a {kind}); npy reads a file it can check the length of (argument FILE).");
        NpyHeader header;
        Summary stats;
        try
        {
            header = Npy.ReadHeader(path);
            stats = Summary.Of(() => Npy.ReadBlocks(path));
        }
        catch (NpyFormatException e)
        {
            throw new CliException(e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"{path}: cannot read ({e.Message.ReplaceLineEndings(" ")}).");
        }

        var lines = new List<(string, string)>
        {
            ("file", path),
            ("version", header.Version),
            ("dtype", $"{header.Descr} ({header.DType.NumpyName()}{(header.SwapBytes ? ", byte-swapped on reading" : "")})"),
            ("shape", Npy.ShapeRepr([.. header.Shape.Select(d => (long)d)])),
            ("order", header.FortranOrder ? "F" : "C"),
            ("count", stats.Count.ToString(CultureInfo.InvariantCulture)),
        };
        string of = header.DType == NpyDType.Complex128 ? " |z|" : "";
        lines.Add(("min" + of, Format(stats.Min)));
        lines.Add(("max" + of, Format(stats.Max)));
        lines.Add(("mean" + of, Format(stats.Mean)));
        lines.Add(("std" + of, Format(stats.Std)));
        lines.Add(("nan", stats.NaN.ToString(CultureInfo.InvariantCulture)));
        lines.Add(("inf", stats.Inf.ToString(CultureInfo.InvariantCulture)));
        return lines;
    }

    private static string Format(double value) =>
        double.IsNaN(value) ? "n/a" : value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>
    /// Statistics over the finite values (NaN and +-Inf are counted, not averaged): min, max, mean
    /// and the population standard deviation (numpy's ddof = 0). Two passes in float64: the mean
    /// first, then the squared deviations, which avoids the cancellation of E[x^2] - E[x]^2.
    /// n/a (NaN) when there is no finite value. The values are streamed block by block (each pass
    /// reads the file again), so memory stays bounded whatever the file's size.
    /// </summary>
    public sealed record Summary(long Count, double Min, double Max, double Mean, double Std, long NaN, long Inf)
    {
        public static Summary Of(NpyArray array) => Of(() => [array]);

        /// <summary>The statistics of the values <paramref name="blocks"/> yields (called once per pass).</summary>
        public static Summary Of(Func<IEnumerable<NpyArray>> blocks)
        {
            long nan = 0, inf = 0, finite = 0, count = 0;
            double min = double.PositiveInfinity, max = double.NegativeInfinity, sum = 0;
            foreach (var block in blocks())
                ForEach(block, v =>
                {
                    count++;
                    if (double.IsNaN(v)) { nan++; return; }
                    if (double.IsInfinity(v)) { inf++; return; }
                    finite++;
                    min = Math.Min(min, v);
                    max = Math.Max(max, v);
                    sum += v;
                });
            if (finite == 0) return new Summary(count, double.NaN, double.NaN, double.NaN, double.NaN, nan, inf);
            double mean = sum / finite, squares = 0;
            foreach (var block in blocks())
                ForEach(block, v =>
                {
                    if (double.IsFinite(v)) squares += (v - mean) * (v - mean);
                });
            return new Summary(count, min, max, mean, Math.Sqrt(squares / finite), nan, inf);
        }

        /// <summary>Each value as a double (|z| for complex), without copying the block.</summary>
        private static void ForEach(NpyArray block, Action<double> visit)
        {
            switch (block.Data)
            {
                case double[] d: foreach (var v in d) visit(v); break;
                case float[] f: foreach (var v in f) visit(v); break;
                case int[] i: foreach (var v in i) visit(v); break;
                case long[] l: foreach (var v in l) visit(v); break;
                case Complex[] z: foreach (var v in z) visit(Complex.Abs(v)); break;
                case bool[] b: foreach (var v in b) visit(v ? 1 : 0); break;
                default: foreach (var v in block.ToDoubles()) visit(v); break;
            }
        }
    }
}
