using Reference.SpecTests.Core;

namespace Reference.SpecTests.Neuro;

/// <summary>
/// Debian's python3-nibabel: real NIfTI files written by other tools (FSL, SPM, nibabel) in its
/// tests/data, and a second, independent reader (nibabel) for cross-checks. `.ci/run` installs it
/// (apt-get install -y python3-nibabel); tests that need it skip with the reason where it is absent.
/// </summary>
internal static class NibabelData
{
    public const string Directory = "/usr/lib/python3/dist-packages/nibabel/tests/data";

    /// <summary>The path of a nibabel test file, or a skip saying how to get it.</summary>
    public static string File(string name)
    {
        string path = Path.Combine(Directory, name);
        if (!System.IO.File.Exists(path))
            Assert.Skip($"{path} is missing: install Debian's python3-nibabel (apt-get install -y python3-nibabel, as .ci/run does).");
        return path;
    }

    /// <summary>/usr/bin/python3 can import nibabel.</summary>
    public static readonly Lazy<bool> NibabelAvailable = new(() =>
        System.IO.File.Exists("/usr/bin/python3") && NpyTests.RunPython("import nibabel", Path.GetTempPath()).Code == 0);

    public static void RequireNibabel()
    {
        if (!NibabelAvailable.Value)
            Assert.Skip("/usr/bin/python3 cannot import nibabel: install Debian's python3-nibabel (apt-get install -y python3-nibabel, as .ci/run does).");
    }
}
