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
/// <para>
/// The program is not trusted: names are plain identifiers (so IN/NAME.npy stays in IN); a case
/// that runs longer than the timeout has its whole process tree killed and fails; stdout and
/// stderr are drained as they come and only their last <see cref="CapturedChars"/> characters
/// kept; the program runs in a session and process group of its own (setsid(1), where present),
/// and once it has exited, or timed out, every process left in that group is killed: a descendant
/// it left behind (even one re-parented to init, which a process-tree kill no longer finds) does
/// not outlive the case, and its pipes are not waited for beyond <see cref="PipeGrace"/>; every output must resolve, through any symbolic link, to a
/// regular file inside OUT (a FIFO would block the reader) no larger than the manifest's shape
/// implies (<see cref="MaxOutputBytes"/>), checked before it is read.
/// </para>
/// </summary>
public sealed class ProcessBackend : IGoldenBackend
{
    /// <summary>The exit status meaning "this op is not supported" (the automake skip code).</summary>
    public const int UnsupportedExitCode = 77;

    /// <summary>How long one case may run when no timeout is given (`golden run --timeout`).</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(600);

    /// <summary>Characters kept of stdout and of stderr (the tail: the end is where errors are).</summary>
    public const int CapturedChars = 64 * 1024;

    /// <summary>How long to keep reading the pipes after the program exited (a descendant may hold them).</summary>
    public static readonly TimeSpan PipeGrace = TimeSpan.FromSeconds(2);

    private readonly string command;
    private readonly TimeSpan timeout;

    private ProcessBackend(string command, TimeSpan timeout)
    {
        this.command = command;
        this.timeout = timeout;
    }

    public string Name => "process:" + command;

    public Precision? Precision => null;

    /// <summary>Checks that the command's program exists (BackendUnavailableException otherwise).</summary>
    public static ProcessBackend Create(string command, TimeSpan? timeout = null)
    {
        if (string.IsNullOrWhiteSpace(command))
            throw new ArgumentException("process:<command> needs a command, e.g. process:'/usr/bin/python3 golden/numpy_backend.py'.", nameof(command));
        var limit = timeout ?? DefaultTimeout;
        if (limit <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), $"the timeout must be positive, got {limit}.");
        if (!File.Exists("/bin/sh")) throw new BackendUnavailableException("the process backend needs /bin/sh, which is missing.");
        string program = command.Trim().Split(' ', 2)[0];
        if (Resolve(program) is null)
            throw new BackendUnavailableException($"backend program '{program}' was not found (checked as a path and on PATH).");
        return new ProcessBackend(command, limit);
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

    /// <summary>The largest output file accepted for <paramref name="elements"/> elements: 16 bytes each (complex128, the widest dtype) plus 64 KiB of header.</summary>
    public static long MaxOutputBytes(long elements) => elements * 16 + 64 * 1024;

    /// <summary>Runs one case through the external program.</summary>
    public NamedArrays Run(BackendRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var inputs = request.Inputs;
        foreach (var name in inputs.Keys.Concat(request.OutputNames))
            if (!ManifestJson.ArrayName().IsMatch(name))
                throw new ArgumentException($"array name '{name}' is not a plain identifier; refusing to build a path from it.", nameof(request));
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

            var (exitCode, stderr) = Execute(request.Op, inDir, outDir);
            if (exitCode == UnsupportedExitCode) throw new NotSupportedException($"'{command}' does not support {request.Op} (exit {UnsupportedExitCode}).");
            if (exitCode == 127) throw new BackendUnavailableException($"'{command}' could not be run by /bin/sh (exit 127): {LastLine(stderr)}");
            if (exitCode != 0) throw new InvalidOperationException($"backend exited {exitCode}: {LastLine(stderr)}");

            string realOut = FileKinds.RealPath(outDir);
            var outputs = new NamedArrays();
            foreach (var name in request.OutputNames)
            {
                string path = Path.Combine(outDir, name + ".npy");
                if (FileKinds.Of(path, followLinks: false) == FileKind.Missing) throw new InvalidOperationException($"backend wrote no {name}.npy.");
                string real = FileKinds.RealPath(path);
                if (!FileKinds.IsInside(real, realOut))
                    throw new InvalidOperationException($"backend's {name}.npy resolves to '{real}', outside its output folder; not read.");
                var kind = FileKinds.Of(real);
                if (kind is not (FileKind.Regular or FileKind.Unknown))
                    throw new InvalidOperationException($"backend's {name}.npy is not a regular file (it is a {kind}); not read.");
                long size = new FileInfo(real).Length;
                if (request.OutputElements?.TryGetValue(name, out long elements) == true && size > MaxOutputBytes(elements))
                    throw new InvalidOperationException(
                        $"backend's {name}.npy has {size} bytes, larger than the {MaxOutputBytes(elements)} bytes its {elements} elements allow; not read.");
                outputs.Add(name, Npy.Read(real));
            }
            return outputs;
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* a backend that locked its folder leaves it in the temp folder */ }
        }
    }

    /// <summary>Runs the command with the timeout; returns the exit status and the tail of stderr.</summary>
    private (int ExitCode, string Stderr) Execute(string op, string inDir, string outDir)
    {
        // setsid(1) execs in place (the child of Process.Start is not a group leader), so the process
        // we wait for is the group leader and its id is the group id that KillGroup signals.
        bool ownGroup = File.Exists(Setsid);
        var start = new ProcessStartInfo(ownGroup ? Setsid : "/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        if (ownGroup) start.ArgumentList.Add("/bin/sh");
        foreach (var arg in new[] { "-c", command + " \"$@\"", "sh", op, inDir, outDir }) start.ArgumentList.Add(arg);
        using var process = Process.Start(start) ?? throw new BackendUnavailableException($"could not start '{command}'.");
        int group = process.Id;
        try
        {
            return Wait(process);
        }
        finally
        {
            if (ownGroup) KillGroup(group);
        }
    }

    private const string Setsid = "/usr/bin/setsid";

    /// <summary>Sends SIGKILL to every process still in group <paramref name="group"/> (none left is not an error).</summary>
    private static void KillGroup(int group)
    {
        var kill = new ProcessStartInfo("/bin/kill") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "-KILL", "--", "-" + group.ToString(System.Globalization.CultureInfo.InvariantCulture) }) kill.ArgumentList.Add(arg);
        try
        {
            using var killer = Process.Start(kill);
            killer?.WaitForExit(PipeGrace);
        }
        catch (System.ComponentModel.Win32Exception) { /* no kill(1): the tree kill on timeout is all there is */ }
    }

    private (int ExitCode, string Stderr) Wait(Process process)
    {
        process.StandardInput.Close();
        var stdout = new Tail(CapturedChars);
        var stderr = new Tail(CapturedChars);
        var drains = new[] { stdout.DrainAsync(process.StandardOutput), stderr.DrainAsync(process.StandardError) };
        if (!process.WaitForExit(timeout))
        {
            try { process.Kill(entireProcessTree: true); }
            catch (InvalidOperationException) { /* it exited just now */ }
            process.WaitForExit(PipeGrace);
            throw new TimeoutException(
                $"timed out after {timeout.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)} s (--timeout); its process tree was killed. {LastLine(stderr.Text)}");
        }
        // A descendant may still hold the pipes open: read what comes within the grace period, then go on.
        Task.WaitAll(drains, PipeGrace);
        return (process.ExitCode, stderr.Text);
    }

    /// <summary>The last characters of a stream, read in chunks as they come (never the whole stream in memory).</summary>
    private sealed class Tail(int capacity)
    {
        private readonly System.Text.StringBuilder text = new();

        public string Text
        {
            get { lock (text) return text.ToString(); }
        }

        public async Task DrainAsync(StreamReader reader)
        {
            var buffer = new char[8192];
            try
            {
                int n;
                while ((n = await reader.ReadAsync(buffer.AsMemory()).ConfigureAwait(false)) > 0)
                    lock (text)
                    {
                        text.Append(buffer, 0, n);
                        if (text.Length > 2 * capacity) text.Remove(0, text.Length - capacity);
                    }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // The pipe was closed under us (the process was disposed while a descendant held it).
            }
        }
    }

    private static string LastLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "(no stderr)";
}
