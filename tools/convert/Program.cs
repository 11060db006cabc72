using System.CommandLine;
using OpenAutoGlm.Convert;
using OpenAutoGlm.Weights;
using Spectre.Console;

var input = new Option<string>("--input") { Description = "Hugging Face checkpoint directory (config.json, *.safetensors, tokenizer.json)", Required = true };
var output = new Option<string>("--output") { Description = "directory to write model.json, weights.bin and tokenizer.json to", Required = true };
var clamp = new Option<bool>("--clamp") { Description = $"clamp values beyond the FP16 range ±{HalfConversion.MaxHalf} instead of failing" };
var verify = new Option<bool>("--verify") { Description = "re-read the written weights and verify every checksum" };

var root = new RootCommand("Convert a Hugging Face checkpoint to the OpenAutoGlm weights format.") { input, output, clamp, verify };
root.SetAction(parse =>
{
    var options = new ConvertOptions { ClampToHalfRange = parse.GetValue(clamp), VerifyChecksums = parse.GetValue(verify) };
    try
    {
        var result = AnsiConsole.Progress().Start(context =>
        {
            var task = context.AddTask("converting");
            return HfConverter.Convert(parse.GetValue(input)!, parse.GetValue(output)!, options, new ProgressTask(task));
        });
        foreach (var warning in result.Warnings) AnsiConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape(warning)}");
        var text = result.Manifest.Text;
        AnsiConsole.MarkupLine(Markup.Escape(
            $"{result.Manifest.SourceArchitecture} → {result.Manifest.Architecture}: {result.TensorCount} tensors, {text.NumLayers} layers, " +
            $"hidden {text.HiddenSize}, vocab {text.VocabSize}{(text.TiedEmbeddings ? ", tied embeddings" : "")}, {result.ClampedValues} value(s) clamped."));
        return 0;
    }
    catch (Exception e) when (e is InvalidModelException or IOException or UnauthorizedAccessException or ArgumentException)
    {
        AnsiConsole.MarkupLine($"[red]error:[/] {Markup.Escape(e.Message)}");
        return 1;
    }
});
return root.Parse(args).Invoke();

/// <summary>Reports converter progress on a Spectre.Console progress bar.</summary>
internal sealed class ProgressTask(Spectre.Console.ProgressTask task) : IProgress<ConvertProgress>
{
    public void Report(ConvertProgress value)
    {
        task.MaxValue = value.Total;
        task.Value = value.Completed;
        task.Description = Markup.Escape(value.Tensor);
    }
}
