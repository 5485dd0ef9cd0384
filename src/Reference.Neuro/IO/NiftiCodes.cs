namespace Reference.Neuro.IO;

/// <summary>
/// The coded header fields of nifti1.h, by name: the transform codes (qform_code, sform_code),
/// the units packed in xyzt_units, slice_code and intent_code. Unknown codes are kept in the
/// header as read and printed as numbers; only the datatype is ever refused.
/// </summary>
public static class NiftiCodes
{
    /// <summary>NIFTI_XFORM_*: what coordinates the qform or sform maps voxel indices to.</summary>
    public static string XformName(int code) => code switch
    {
        0 => "unknown",
        1 => "scanner_anat",
        2 => "aligned_anat",
        3 => "talairach",
        4 => "mni_152",
        5 => "template_other",
        _ => $"code {code}",
    };

    /// <summary>NIFTI_XFORM_SCANNER_ANAT ... NIFTI_XFORM_TEMPLATE_OTHER: the codes with a defined meaning.</summary>
    public const int MaxXformCode = 5;

    /// <summary>The spatial unit: xyzt_units &amp; 0x07 (NIFTI_UNITS_METER 1, MM 2, MICRON 3).</summary>
    public static int SpaceUnitCode(int xyztUnits) => xyztUnits & 0x07;

    /// <summary>The temporal unit: xyzt_units &amp; 0x38 (SEC 8, MSEC 16, USEC 24, HZ 32, PPM 40, RADS 48).</summary>
    public static int TimeUnitCode(int xyztUnits) => xyztUnits & 0x38;

    public static string SpaceUnitName(int code) => code switch
    {
        0 => "unknown",
        1 => "m",
        2 => "mm",
        3 => "um",
        _ => $"code {code}",
    };

    public static string TimeUnitName(int code) => code switch
    {
        0 => "unknown",
        8 => "s",
        16 => "ms",
        24 => "us",
        32 => "Hz",
        40 => "ppm",
        48 => "rad/s",
        _ => $"code {code}",
    };

    /// <summary>Seconds per time unit (s, ms, us); null for the others (Hz, ppm, rad/s, unknown).</summary>
    public static double? SecondsPerTimeUnit(int code) => code switch
    {
        8 => 1.0,
        16 => 1e-3,
        24 => 1e-6,
        _ => null,
    };

    /// <summary>NIFTI_SLICE_*: the order in which slices were acquired.</summary>
    public static string SliceName(int code) => code switch
    {
        0 => "unknown",
        1 => "seq_inc",
        2 => "seq_dec",
        3 => "alt_inc",
        4 => "alt_dec",
        5 => "alt_inc2",
        6 => "alt_dec2",
        _ => $"code {code}",
    };

    /// <summary>NIFTI_INTENT_*: what the voxel values mean.</summary>
    public static string IntentName(int code) => code switch
    {
        0 => "none",
        2 => "correl",
        3 => "ttest",
        4 => "ftest",
        5 => "zscore",
        6 => "chisq",
        7 => "beta",
        8 => "binom",
        9 => "gamma",
        10 => "poisson",
        11 => "normal",
        12 => "ftest_nonc",
        13 => "chisq_nonc",
        14 => "logistic",
        15 => "laplace",
        16 => "uniform",
        17 => "ttest_nonc",
        18 => "weibull",
        19 => "chi",
        20 => "invgauss",
        21 => "extval",
        22 => "pval",
        23 => "logpval",
        24 => "log10pval",
        1001 => "estimate",
        1002 => "label",
        1003 => "neuroname",
        1004 => "genmatrix",
        1005 => "symmatrix",
        1006 => "dispvect",
        1007 => "vector",
        1008 => "pointset",
        1009 => "triangle",
        1010 => "quaternion",
        1011 => "dimless",
        2001 => "time_series",
        2002 => "node_index",
        2003 => "rgb_vector",
        2004 => "rgba_vector",
        2005 => "shape",
        _ => $"code {code}",
    };
}
