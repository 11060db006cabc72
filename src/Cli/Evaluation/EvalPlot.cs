using ScottPlot;

namespace OpenAutoGlm.Cli.Evaluation;

/// <summary>The fractions of an <see cref="EvalReport"/> as a bar chart; tokens/s goes into the title, its scale is not [0, 1].</summary>
internal static class EvalPlot
{
    public static void Save(EvalReport report, string path, string title)
    {
        var fractions = report.Metrics.Where(m => m.Key != "tokens_per_s").ToArray();
        var plot = new Plot();
        // horizontal bars, first metric on top: the long metric names read level on the left axis
        var bars = plot.Add.Bars(fractions.Select(m => m.Value ?? 0).ToArray());
        bars.Horizontal = true;
        for (int i = 0; i < fractions.Length; i++)
        {
            bars.Bars[i].Position = fractions.Length - 1 - i;
            bars.Bars[i].Label = fractions[i].Value is { } v ? v.ToString("F2", System.Globalization.CultureInfo.InvariantCulture) : "n/a";
        }
        bars.ValueLabelStyle.FontSize = 12;
        plot.Axes.Left.SetTicks(Enumerable.Range(0, fractions.Length).Select(i => (double)(fractions.Length - 1 - i)).ToArray(),
            fractions.Select(m => m.Key).ToArray());
        plot.Axes.SetLimitsX(0, 1.12);
        double? speed = report["tokens_per_s"];
        plot.Title(speed is { } s ? $"{title}, {s:F0} tokens/s" : title);
        plot.SavePng(path, 900, 560);
    }
}
