using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Xml.Linq;
using Reference.SpecTests.Core;
using Reference.SpecTests.Golden;

namespace Reference.SpecTests.Cli;

/// <summary>
/// Installable the .NET way: the CLI packed as the .NET tool `reference` (from this build's
/// outputs, --no-build), installed into a temporary tool path from a local feed only, runs
/// `golden verify` on the golden set it carries (from a directory with no checkout above it) and
/// on a directory named with --golden; a library package carries its XML docs and the one version.
/// About 30 to 60 s on two busy cores (the tool package is ~80 MB): trait Category=Packaging.
/// </summary>
[Trait("Category", "Packaging")]
public class ToolInstallTests
{
    private static string Configuration =>
        typeof(ToolInstallTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";

    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    private static (int Code, string Output) Run(string program, string workingDirectory, params string[] args)
    {
        var info = new ProcessStartInfo(program) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        // The installed tool's launcher finds the runtime through DOTNET_ROOT: the one running these tests.
        info.Environment["DOTNET_ROOT"] = Path.GetFullPath(Path.Combine(System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5))) process.Kill(entireProcessTree: true);
        return (process.ExitCode, stdout + stderr.Result);
    }

    [Fact]
    public void PackInstallAndVerify_FromATemporaryToolPath()
    {
        using var dir = new TempDir();
        string feed = Path.Combine(dir.Path, "feed"), tools = Path.Combine(dir.Path, "tools"), work = Path.Combine(dir.Path, "work");
        Directory.CreateDirectory(work);
        string root = GoldenFixture.RepoRoot;

        var (code, output) = Run(Dotnet, root, "pack", Path.Combine("src", "Reference.Cli"), "-c", Configuration, "--no-build", "-o", feed);
        Assert.True(code == 0, output);
        (code, output) = Run(Dotnet, root, "pack", Path.Combine("src", "Reference.Golden"), "-c", Configuration, "--no-build", "-o", feed);
        Assert.True(code == 0, output);

        // One version for all; the library carries its XML documentation.
        string version = typeof(Reference.Golden.GoldenStore).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];
        Assert.True(File.Exists(Path.Combine(feed, $"reference.{version}.nupkg")), string.Join(", ", Directory.GetFiles(feed)));
        using (var library = ZipFile.OpenRead(Path.Combine(feed, $"Reference.Golden.{version}.nupkg")))
        {
            Assert.Contains(library.Entries, e => e.FullName == "lib/net10.0/Reference.Golden.dll");
            Assert.Contains(library.Entries, e => e.FullName == "lib/net10.0/Reference.Golden.xml");
            using var nuspec = library.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open();
            var document = XDocument.Load(nuspec);
            var ns = document.Root!.Name.Namespace;
            var metadata = document.Root.Element(ns + "metadata")!;
            Assert.Equal(version, metadata.Element(ns + "version")!.Value);
            Assert.Contains(metadata.Element(ns + "dependencies")!.Descendants(ns + "dependency"), d => d.Attribute("id")!.Value == "Reference.Ess" && d.Attribute("version")!.Value == version);
        }

        // Only the local feed: the install must not depend on the network.
        string config = Path.Combine(dir.Path, "nuget.config");
        File.WriteAllText(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration><packageSources><clear /><add key="local" value="{feed}" /></packageSources></configuration>
            """);
        (code, output) = Run(Dotnet, work, "tool", "install", "--tool-path", tools, "--configfile", config, "--version", version, "reference");
        Assert.True(code == 0, output);
        string reference = Path.Combine(tools, "reference");

        // From a directory with no checkout above it: the golden set installed with the tool.
        (code, output) = Run(reference, work, "golden", "verify");
        Assert.True(code == 0, output);
        int cases = Reference.Golden.GoldenStore.Open(GoldenFixture.Committed).ReadIndex().Count;
        Assert.EndsWith($"{cases} passed, 0 failed, 0 skipped", output.TrimEnd());

        // --golden DIR: a damaged copy is found damaged by the installed tool too.
        using var copy = HostileGoldenTests.MiniGolden(out string mini);
        (code, output) = Run(reference, work, "golden", "verify", "--golden", mini);
        Assert.True(code == 0, output);
        File.AppendAllText(Path.Combine(mini, "linalg.gemm", "odd_7x9x8_nn", "out.npy"), "x");
        (code, output) = Run(reference, work, "golden", "verify", "--golden", mini);
        Assert.Equal(3, code);
        Assert.Contains("sha256", output);

        // Writing verbs never default to the installed set.
        (code, output) = Run(reference, work, "golden", "regen");
        Assert.Equal(2, code);
        Assert.Contains("read-only", output);
    }
}
