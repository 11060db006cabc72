using System.Text.Json;

namespace OpenAutoGlm.Cli.Evaluation;

/// <summary>One line of questions.jsonl as tools/demo-model/make_eval.py writes it; <see cref="ImagePath"/> is resolved against the set's folder.</summary>
internal sealed record EvalItem(string ImagePath, string Question, string Answer, string Task, string Instruction, string Kind, string Description);

/// <summary>An evaluation set: a folder with questions.jsonl and the images it names.</summary>
internal static class EvalSet
{
    public const string QuestionsFile = "questions.jsonl";

    public static EvalItem[] Load(string folder)
    {
        string file = Path.Combine(folder, QuestionsFile);
        if (!File.Exists(file)) throw new ArgumentException($"'{folder}' has no {QuestionsFile} (write one with tools/demo-model/make_eval.py).");
        var items = new List<EvalItem>();
        int line = 0;
        foreach (var text in File.ReadLines(file))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            using var doc = JsonDocument.Parse(text);
            string Field(string name) => doc.RootElement.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
                ? v.GetString()! : throw new InvalidDataException($"{file}:{line}: no string field '{name}'.");
            items.Add(new EvalItem(Path.Combine(folder, Field("image")), Field("question"), Field("answer"), Field("task"),
                Field("instruction"), Field("kind"), Field("description")));
        }
        if (items.Count == 0) throw new InvalidDataException($"{file} has no examples.");
        return items.ToArray();
    }
}
