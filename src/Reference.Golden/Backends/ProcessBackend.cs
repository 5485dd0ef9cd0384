using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Reference.Core.IO;

namespace Reference.Golden.Backends;

/// <summary>
/// An external program as a backend (any language): for each case the runner writes the inputs
/// to IN/NAME.npy and IN/params.json ({"op", "op_version", "case_id", "params", "inputs",
/// "outputs"}), then runs <c>/bin/sh -c '&lt;command&gt; "$@"' sh OP IN OUT</c>. The program
/// writes OUT/NAME.npy for every output name and exits 0; exit 77 means "op not supported"
/// (the case is skipped); any other status fails the case with the program's last stderr line.
/// golden/numpy_backend.py is an example.
/// </summary>
public sealed class ProcessBackend : IGoldenBackend
{
    /// <summary>The exit status meaning "this op is not supported" (the automake skip code).</summary>
    public const int UnsupportedExitCode = 77;

    private readonly string command;

    private ProcessBackend(string command) => this.command = command;

    public string Name => "process:" + command;

    public Precision? Precision => null;

    /// <summary>Checks that the command's program exists (BackendUnavailableException otherwise).</summary>
    public static ProcessBackend Create(string command)
    {
        if (string.IsNullOrWhiteSpace(command))
            throw new ArgumentException("process:<command> needs a command, e.g. process:'/usr/bin/python3 golden/numpy_backend.py'.", nameof(command));
        if (!File.Exists("/bin/sh")) throw new BackendUnavailableException("the process backend needs /bin/sh, which is missing.");
        string program = command.Trim().Split(' ', 2)[0];
        if (Resolve(program) is null)
            throw new BackendUnavailableException($"backend program '{program}' was not found (checked as a path and on PATH).");
        return new ProcessBackend(command);
    }

    private static string? Resolve(string program)
    {
        if (program.Contains('/')) return File.Exists(program) ? program : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, program);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    public bool Supports(string op) => true;

    /// <summary>Runs one case through the external program.</summary>
    public NamedArrays Run(BackendRequest request)
    {
        var inputs = request.Inputs;
        string work = Path.Combine(Path.GetTempPath(), "reference-golden-" + Guid.NewGuid().ToString("N"));
        string inDir = Path.Combine(work, "in"), outDir = Path.Combine(work, "out");
        Directory.CreateDirectory(inDir);
        Directory.CreateDirectory(outDir);
        try
        {
            foreach (var (name, array) in inputs) Npy.Write(Path.Combine(inDir, name + ".npy"), array);
            var info = new JsonObject
            {
                ["op"] = request.Op,
                ["op_version"] = request.OpVersion,
                ["case_id"] = request.CaseId,
                ["params"] = request.Params.DeepClone(),
                ["inputs"] = new JsonArray([.. inputs.Keys.Select(name => (JsonNode)name)]),
                ["outputs"] = new JsonArray([.. request.OutputNames.Select(name => (JsonNode)name)]),
            };
            File.WriteAllText(Path.Combine(inDir, "params.json"), info.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

            var start = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[] { "-c", command + " \"$@\"", "sh", request.Op, inDir, outDir }) start.ArgumentList.Add(arg);
            using var process = Process.Start(start) ?? throw new BackendUnavailableException($"could not start '{command}'.");
            var stderrTask = process.StandardError.ReadToEndAsync();
            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            string stderr = stderrTask.Result;
            if (process.ExitCode == UnsupportedExitCode) throw new NotSupportedException($"'{command}' does not support {request.Op} (exit {UnsupportedExitCode}).");
            if (process.ExitCode == 127) throw new BackendUnavailableException($"'{command}' could not be run by /bin/sh (exit 127): {LastLine(stderr)}");
            if (process.ExitCode != 0) throw new InvalidOperationException($"backend exited {process.ExitCode}: {LastLine(stderr)}");

            var outputs = new NamedArrays();
            foreach (var name in request.OutputNames)
            {
                string path = Path.Combine(outDir, name + ".npy");
                if (!File.Exists(path)) throw new InvalidOperationException($"backend wrote no {name}.npy.");
                outputs.Add(name, Npy.Read(path));
            }
            return outputs;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static string LastLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "(no stderr)";
}
