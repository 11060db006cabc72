using ScottPlot;

namespace OpenAutoGlm.Cli;

/// <summary>
/// <c>autoglm bench --concurrency 1,4,16,64 --plot FILE.png</c>: total tokens/s (left axis) and p99 time to first token and
/// inter-token latency (right axis) against concurrency, on a log₂ concurrency axis so that the usual doubling levels are evenly spaced.
/// </summary>
internal static class ServingPlot
{
    public static void Save(IReadOnlyList<ServingReport> reports, string path)
    {
        double[] levels = [.. reports.Select(r => Math.Log2(r.Concurrency))];
        var plot = new Plot();
        plot.Title("Continuous batching: throughput and p99 latency against concurrency");

        var tokens = plot.Add.Scatter(levels, reports.Select(r => r.TotalTokensPerSecond).ToArray());
        tokens.LegendText = "total tokens/s";
        tokens.LineWidth = 2;
        tokens.MarkerSize = 8;
        plot.Axes.Left.Label.Text = "tokens/s";

        var right = plot.Axes.Right;
        var ttft = plot.Add.Scatter(levels, reports.Select(r => r.TtftP99Ms).ToArray());
        ttft.LegendText = "TTFT p99 (ms)";
        ttft.Axes.YAxis = right;
        ttft.LinePattern = LinePattern.Dashed;
        var itl = plot.Add.Scatter(levels, reports.Select(r => r.ItlP99Ms).ToArray());
        itl.LegendText = "inter-token p99 (ms)";
        itl.Axes.YAxis = right;
        itl.LinePattern = LinePattern.Dotted;
        right.Label.Text = "p99 latency (ms)";

        plot.Axes.Bottom.Label.Text = "concurrent requests";
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            levels, [.. reports.Select(r => r.Concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture))]);
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 900, 540);
    }
}
