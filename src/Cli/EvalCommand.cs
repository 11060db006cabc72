using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OpenAutoGlm.Cli.Evaluation;

namespace OpenAutoGlm.Cli;

/// <summary><c>autoglm eval</c>: scores an open_autoglm model on an evaluation set from tools/demo-model/make_eval.py.</summary>
internal static class EvalCommand
{
    private static readonly string DemoModel = Path.Combine("models", "demo"), DemoEvalSet = Path.Combine("models", "demo-eval");

    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Converted open_autoglm model directory (default: models/demo)." };
        var data = new Option<string?>("--data") { Description = "Evaluation set folder with questions.jsonl (default: models/demo-eval)." };
        var limit = new Option<int?>("--limit") { Description = "Score only the first N examples." };
        var plot = new Option<string?>("--plot") { Description = "Also draw the scores as a bar chart into this PNG file." };
        var threads = CommonOptions.Threads();
        var json = CommonOptions.Json();
        var cmd = new Command("eval", "Score a model on the demo evaluation set: VQA, captions, defects, chart JSON, retrieval, instruction classes.")
            { model, data, limit, plot, threads, json };
        cmd.SetAction(parse =>
        {
            string modelDir = parse.GetValue(model) ?? CommonOptions.FindInCheckout(DemoModel, "model.json")
                ?? throw new ArgumentException($"no converted demo model at {DemoModel} (train, export and convert it as docs/demo-model.md says), or pass --model.");
            string dataDir = parse.GetValue(data) ?? CommonOptions.FindInCheckout(DemoEvalSet, EvalSet.QuestionsFile) ?? DemoEvalSet;
            var items = EvalSet.Load(dataDir);
            if (parse.GetValue(limit) is { } n)
            {
                if (n <= 0) throw new ArgumentException("--limit must be positive.");
                items = items.Take(n).ToArray();
            }
            using var m = CommonOptions.Load(modelDir, parse.GetValue(threads));
            var report = new DemoEvaluation(m).Run(items, p => Console.Error.Write($"\r{p} examples"));
            Console.Error.WriteLine();
            if (parse.GetValue(json)) WriteJson(report);
            else WriteTable(report, modelDir, dataDir);
            if (parse.GetValue(plot) is { } png) EvalPlot.Save(report, png, $"{Path.GetFileName(Path.GetFullPath(modelDir))} on {items.Length} examples");
            return 0;
        });
        return cmd;
    }

    private static void WriteJson(EvalReport report)
    {
        using var w = new Utf8JsonWriter(Console.OpenStandardOutput());
        w.WriteStartObject();
        foreach (var metric in report.Metrics)
            if (metric.Value is { } v) w.WriteNumber(metric.Key, Math.Round(v, 6));
            else w.WriteNull(metric.Key);
        w.WriteEndObject();
        w.Flush();
        Console.Out.WriteLine();
    }

    private static void WriteTable(EvalReport report, string modelDir, string dataDir)
    {
        Console.Out.WriteLine($"model {modelDir}, set {dataDir}");
        Console.Out.WriteLine($"{"metric",-32} {"value",9} {"n",6}  what");
        foreach (var metric in report.Metrics)
        {
            string value = metric.Value is { } v ? v.ToString(metric.Key == "tokens_per_s" ? "F1" : "F4", CultureInfo.InvariantCulture) : "-";
            Console.Out.WriteLine($"{metric.Key,-32} {value,9} {metric.Count,6}  {metric.Label}");
        }
    }
}
