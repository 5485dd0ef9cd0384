using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Reference.Neuro.IO;

namespace Reference.Cli.Commands;

/// <summary>
/// `reference nifti FILE [--json]`: a NIfTI-1/NIfTI-2 file's summary (format, shape, datatype,
/// voxel size and units, TR, scaling, the affine in use and both transform codes, statistics of
/// the scaled values) followed by every header field; with --json, one JSON object instead.
/// The values are streamed (two passes over the file, never the whole image in memory). A
/// malformed file exits 2 with one line "error: FILE: reason".
/// </summary>
public static class NiftiCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "The .nii or .nii.gz file to describe." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text.", Arity = ArgumentArity.Zero };
        var command = new Command("nifti", "Describe a NIfTI-1/2 file (.nii, .nii.gz): header, affine, units, TR and statistics.") { file, json };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(file)!;
            var output = parse.InvocationConfiguration.Output;
            var (header, stats) = Load(path);
            if (parse.GetValue(json))
            {
                output.WriteLine(Json(path, header, stats));
                return ExitCodes.Success;
            }
            foreach (var (key, value) in Describe(path, header, stats)) output.WriteLine($"{key,-12}{value}");
            output.WriteLine();
            output.WriteLine("header fields:");
            foreach (var (name, value) in header.Fields()) output.WriteLine($"  {name,-15}{value}");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Reads the header and the statistics of the scaled values; malformed input becomes a one-line <see cref="CliException"/>.</summary>
    public static (NiftiHeader Header, Statistics Stats) Load(string path)
    {
        if (Directory.Exists(path)) throw new CliException($"{path}: is a directory, expected a .nii or .nii.gz file (argument FILE).");
        if (!File.Exists(path)) throw new CliException($"{path}: no such file (argument FILE).");
        try
        {
            var header = Nifti.ReadHeader(path);
            return (header, Statistics.Of(path));
        }
        catch (NiftiFormatException e)
        {
            throw new CliException(e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"{path}: cannot read ({e.Message.ReplaceLineEndings(" ")}).");
        }
    }

    /// <summary>The summary lines, as (key, value) pairs.</summary>
    public static IReadOnlyList<(string Key, string Value)> Describe(string path, NiftiHeader header, Statistics stats)
    {
        var shape = header.Shape;
        string space = NiftiCodes.SpaceUnitName(header.SpaceUnitCode);
        string time = NiftiCodes.TimeUnitName(header.TimeUnitCode);
        var lines = new List<(string, string)>
        {
            ("file", path),
            ("format", $"NIfTI-{(int)header.Version} ({(header.BigEndian ? "big" : "little")}-endian{(IsGzip(path) ? ", gzip" : "")})"),
            ("dims", $"{shape.Length}: {string.Join(" x ", shape)}"),
            ("dtype", $"{header.DataType.NumpyName()} (datatype {(int)(short)header.DataType}, bitpix {header.Bitpix})"),
            ("voxel", $"{string.Join(" x ", header.Pixdim.Skip(1).Take(Math.Min(3, shape.Length)).Select(Format))} {space}"),
            ("units", $"space {space}, time {time} (xyzt_units {header.XyztUnits})"),
            ("TR", header.Dim[0] >= 4 ? $"{Format(header.Pixdim[4])} {time}" + (header.RepetitionTimeSeconds is double tr && time != "s" ? $" ({Format(tr)} s)" : "") : "n/a (fewer than 4 dims)"),
            ("scaling", header.HasScaling ? $"{Format(header.SclSlope)} * x + {Format(header.SclInter)}" : "none"),
            ("sform", $"code {header.SformCode} ({NiftiCodes.XformName(header.SformCode)})"),
            ("qform", $"code {header.QformCode} ({NiftiCodes.XformName(header.QformCode)})"),
        };
        var affine = header.Affine;
        for (int r = 0; r < 4; r++)
            lines.Add((r == 0 ? $"affine" : "", $"[{Format(affine[r, 0])}, {Format(affine[r, 1])}, {Format(affine[r, 2])}, {Format(affine[r, 3])}]" + (r == 0 ? $"  (from the {header.AffineSource})" : "")));
        lines.Add(("intent", $"{NiftiCodes.IntentName(header.IntentCode)} (intent_code {header.IntentCode}{(header.IntentName.Length > 0 ? $", {NiftiHeader.Format(header.IntentName)}" : "")})"));
        lines.Add(("descrip", NiftiHeader.Format(header.Descrip)));
        lines.Add(("count", stats.Count.ToString(CultureInfo.InvariantCulture)));
        lines.Add(("min", Format(stats.Min)));
        lines.Add(("max", Format(stats.Max)));
        lines.Add(("mean", Format(stats.Mean)));
        lines.Add(("std", Format(stats.Std)));
        lines.Add(("nan", stats.NaN.ToString(CultureInfo.InvariantCulture)));
        lines.Add(("inf", stats.Inf.ToString(CultureInfo.InvariantCulture)));
        return lines;
    }

    private static bool IsGzip(string path)
    {
        using var stream = File.OpenRead(path);
        return stream.ReadByte() == 0x1f && stream.ReadByte() == 0x8b;
    }

    private static string Json(string path, NiftiHeader header, Statistics stats)
    {
        var affine = header.Affine;
        var fields = new Dictionary<string, object>();
        foreach (var (name, value) in header.FieldValues())
            fields[name] = value is IReadOnlyList<byte> bytes ? bytes.Select(b => (int)b).ToArray() : value;
        var document = new Dictionary<string, object?>
        {
            ["file"] = path,
            ["version"] = (int)header.Version,
            ["byte_order"] = header.BigEndian ? "big" : "little",
            ["gzip"] = IsGzip(path),
            ["shape"] = header.Shape,
            ["dtype"] = header.DataType.NumpyName(),
            ["voxel_size"] = header.Pixdim.Skip(1).Take(Math.Min(3, header.Shape.Length)).ToArray(),
            ["space_unit"] = NiftiCodes.SpaceUnitName(header.SpaceUnitCode),
            ["time_unit"] = NiftiCodes.TimeUnitName(header.TimeUnitCode),
            ["tr_seconds"] = header.RepetitionTimeSeconds,
            ["scaling"] = header.HasScaling ? new[] { header.SclSlope, header.SclInter } : null,
            ["affine_source"] = header.AffineSource,
            ["affine"] = Enumerable.Range(0, 4).Select(r => Enumerable.Range(0, 4).Select(c => affine[r, c]).ToArray()).ToArray(),
            ["sform_code"] = header.SformCode,
            ["qform_code"] = header.QformCode,
            ["statistics"] = new Dictionary<string, object>
            {
                ["count"] = stats.Count, ["min"] = stats.Min, ["max"] = stats.Max, ["mean"] = stats.Mean,
                ["std"] = stats.Std, ["nan"] = stats.NaN, ["inf"] = stats.Inf,
            },
            ["header"] = fields,
        };
        return JsonSerializer.Serialize(document, JsonOptions);
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        WriteIndented = true,
    };

    private static string Format(double value) =>
        double.IsNaN(value) ? "n/a" : value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>
    /// Statistics of the scaled values over the finite ones (NaN and +-Inf are counted, not
    /// averaged), as `reference npy` computes them: min, max, mean, and the population standard
    /// deviation from a second pass over the squared deviations (float64, file order). n/a when
    /// no value is finite.
    /// </summary>
    public sealed record Statistics(long Count, double Min, double Max, double Mean, double Std, long NaN, long Inf)
    {
        public static Statistics Of(string path)
        {
            long count = 0, nan = 0, inf = 0, finite = 0;
            double min = double.PositiveInfinity, max = double.NegativeInfinity, sum = 0;
            Nifti.ReadValues(path, block =>
            {
                foreach (double v in block)
                {
                    count++;
                    if (double.IsNaN(v)) { nan++; continue; }
                    if (double.IsInfinity(v)) { inf++; continue; }
                    finite++;
                    min = Math.Min(min, v);
                    max = Math.Max(max, v);
                    sum += v;
                }
            });
            if (finite == 0) return new Statistics(count, double.NaN, double.NaN, double.NaN, double.NaN, nan, inf);
            double mean = sum / finite, squares = 0;
            Nifti.ReadValues(path, block =>
            {
                foreach (double v in block)
                    if (double.IsFinite(v)) squares += (v - mean) * (v - mean);
            });
            return new Statistics(count, min, max, mean, Math.Sqrt(squares / finite), nan, inf);
        }
    }
}
