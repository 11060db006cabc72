using System.Text.Json;
using OpenAutoGlm.Cli.Evaluation;
using OpenAutoGlm.Engine;
using OpenAutoGlm.Tests.Cli;
using OpenAutoGlm.Tests.Support;

namespace OpenAutoGlm.Tests.Evaluation;

/// <summary><c>autoglm eval</c> end to end on the committed 200-step smoke model and the first examples of the committed set.</summary>
public class EvalCommandTests
{
    private static readonly string SmokeModel = Path.Combine(SharedModels.RepositoryRoot, "tests", "Data", "demo-smoke");
    private static readonly string EvalData = Path.Combine(SharedModels.RepositoryRoot, "models", "demo-eval");

    private static readonly string[] Keys =
    [
        "vqa_accuracy", "caption_exact", "caption_token_f1", "defect_accuracy", "json_valid_rate", "chart_field_accuracy",
        "retrieval_r1", "retrieval_r5", "instruction_accuracy", "vqa_accuracy_no_image", "vqa_accuracy_fixed_resolution", "tokens_per_s",
    ];

    [Fact]
    public void EvalReportsEveryScoreAndAgreesWithTheEngine()
    {
        // the first 12 examples hold every instruction class and both defect answers
        const int limit = 12;
        using var plot = new TempDirectory();
        string png = Path.Combine(plot.Path, "eval.png");
        string answers = Path.Combine(plot.Path, "answers.jsonl");
        var (code, output, err) = CliTests.Run("eval", "--model", SmokeModel, "--data", EvalData, "--limit", $"{limit}", "--threads", "2", "--json",
            "--plot", png, "--answers", answers);
        Assert.True(code == 0, err);

        using var doc = JsonDocument.Parse(output);
        Assert.Equal(Keys, doc.RootElement.EnumerateObject().Select(p => p.Name));
        foreach (var key in Keys[..^1])
            Assert.InRange(doc.RootElement.GetProperty(key).GetDouble(), 0, 1);
        Assert.True(doc.RootElement.GetProperty("tokens_per_s").GetDouble() > 0);
        Assert.True(doc.RootElement.GetProperty("retrieval_r5").GetDouble() >= doc.RootElement.GetProperty("retrieval_r1").GetDouble());
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(png)[..4]); // the PNG signature

        // one answer line per example, named as in questions.jsonl; VQA lines also carry the two variants the scores use
        var items = EvalSet.Load(EvalData)[..limit];
        var lines = File.ReadAllLines(answers).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(limit, lines.Length);
        for (int i = 0; i < limit; i++)
        {
            Assert.Equal(i, lines[i].GetProperty("index").GetInt32());
            Assert.Equal(items[i].Question, lines[i].GetProperty("question").GetString());
            Assert.Equal(items[i].ImagePath, Path.Combine(EvalData, lines[i].GetProperty("image").GetString()!));
            Assert.Equal(items[i].Instruction == "vqa", lines[i].TryGetProperty("no_image", out _));
        }
        double vqaFromLines = lines.Where(l => l.GetProperty("class").GetString() == "vqa")
            .Average(l => EvalScoring.ExactMatch(l.GetProperty("answer").GetString()!, items[l.GetProperty("index").GetInt32()].Answer) ? 1.0 : 0.0);
        Assert.Equal(vqaFromLines, doc.RootElement.GetProperty("vqa_accuracy").GetDouble(), 6);

        // instruction accuracy recomputed from the task head directly
        using var model = AutoGlmModel.Load(SmokeModel, new ModelOptions { Threads = 2 });
        int right = items.Count(i => model.ClassifyInstruction(model.Encode($"<|user|>{i.Question}<|assistant|>"))!.TaskClass == i.Instruction);
        Assert.Equal((double)right / limit, doc.RootElement.GetProperty("instruction_accuracy").GetDouble(), 6);
    }

    [Fact]
    public void EvalWithoutTheDemoModelNamesIt()
    {
        // once the trained model is shipped the default resolves to it and there is no error to check
        if (File.Exists(Path.Combine(SharedModels.RepositoryRoot, "models", "demo", "model.json"))) return;
        var (code, _, err) = CliTests.Run("eval", "--data", EvalData, "--limit", "1");
        Assert.Equal(1, code);
        Assert.Contains("models/demo", err);
    }
}
