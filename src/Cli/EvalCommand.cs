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
        var answers = new Option<string?>("--answers")
        {
            Description = "Also write every answer as JSON lines (index, image, question, class, answer; no_image and fixed_resolution for VQA), as tools/demo-model/score_eval.py --answers does.",
        };
        var threads = CommonOptions.Threads();
        var json = CommonOptions.Json();
        var cmd = new Command("eval", "Score a model on the demo evaluation set: VQA, captions, defects, chart JSON, retrieval, instruction classes.")
            { model, data, limit, plot, answers, threads, json };
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
            using var answerFile = parse.GetValue(answers) is { } path ? new StreamWriter(path) : null;
            var report = new DemoEvaluation(m).Run(items, p => Console.Error.Write($"\r{p} examples"),
                answerFile is null ? null : a => answerFile.WriteLine(AnswerLine(a, dataDir)));
            Console.Error.WriteLine();
            if (parse.GetValue(json)) WriteJson(report);
            else WriteTable(report, modelDir, dataDir);
            if (parse.GetValue(plot) is { } png) EvalPlot.Save(report, png, $"{Path.GetFileName(Path.GetFullPath(modelDir))} on {items.Length} examples");
            return 0;
        });
        return cmd;
    }

    /// <summary>One answer as a JSON line; the image path relative to the set, as questions.jsonl names it.</summary>
    private static string AnswerLine(EvalAnswer a, string dataDir)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteNumber("index", a.Index);
            w.WriteString("image", Path.GetRelativePath(dataDir, a.Item.ImagePath).Replace('\\', '/'));
            w.WriteString("question", a.Item.Question);
            w.WriteString("class", a.Item.Instruction);
            w.WriteString("answer", a.Answer);
            if (a.NoImage is { } noImage) w.WriteString("no_image", noImage);
            if (a.FixedResolution is { } fixedAnswer) w.WriteString("fixed_resolution", fixedAnswer);
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
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
