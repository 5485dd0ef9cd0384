// Figures of the experiments: one small ScottPlot helper (line or marker series with optional error
// bars over seeds), drawn when the writer asks for the PNG.
namespace Reference.Experiments;

/// <summary>One series of a figure: points (X, Y), optional error bars (the spread over seeds), lines or markers only.</summary>
public sealed record PlotSeries(string Label, double[] X, double[] Y, double[]? YError = null, bool Lines = true);

public static class ExperimentPlots
{
    /// <summary>A figure of <paramref name="series"/> (a legend when any has a label); drawn 900 x 540 when written.</summary>
    public static ExperimentFigure Figure(string fileName, string title, string xLabel, string yLabel, IReadOnlyList<PlotSeries> series,
        bool logX = false)
    {
        ArgumentNullException.ThrowIfNull(series);
        foreach (var s in series)
        {
            if (s.X.Length != s.Y.Length || s.YError is { } e && e.Length != s.Y.Length)
                throw new ArgumentException($"series '{s.Label}': X, Y (and YError) must have equal lengths.", nameof(series));
        }
        var copy = series.ToArray();
        return new ExperimentFigure(fileName, path => Render(path, title, xLabel, yLabel, copy, logX));
    }

    private static void Render(string path, string title, string xLabel, string yLabel, PlotSeries[] series, bool logX)
    {
        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < series.Length; i++)
        {
            var s = series[i];
            var color = palette.GetColor(i);
            double[] xs = logX ? [.. s.X.Select(Math.Log10)] : s.X;
            var ys = s.Y.Select(y => double.IsFinite(y) ? y : double.NaN).ToArray();
            var scatter = plot.Add.Scatter(xs, ys);
            scatter.Color = color;
            scatter.LegendText = s.Label;
            scatter.MarkerSize = 7;
            if (!s.Lines) scatter.LineWidth = 0;
            if (s.YError is { } err)
            {
                var bars = plot.Add.ErrorBar(xs, ys, err);
                bars.Color = color;
            }
        }
        if (logX)
        {
            var ticks = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = v => Math.Pow(10, v).ToString("G3", System.Globalization.CultureInfo.InvariantCulture) };
            plot.Axes.Bottom.TickGenerator = ticks;
        }
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        if (series.Any(s => !string.IsNullOrEmpty(s.Label))) plot.ShowLegend();
        plot.SavePng(path, 900, 540);
    }
}
