using System.CommandLine;
using System.Text.Json;
using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Vision;

namespace OpenAutoGlm.Cli;

/// <summary><c>autoglm embed</c>: the retrieval embedding of one image or one text (ARCHITECTURE.md §5).</summary>
internal static class EmbedCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var image = new Option<string?>("--image") { Description = "Image file to embed." };
        var resolution = CommonOptions.Resolution();
        var text = new Option<string?>("--text") { Description = "Text to embed (tokenized with the model's tokenizer)." };
        var ids = CommonOptions.Ids();
        var threads = CommonOptions.Threads();
        var json = CommonOptions.Json();
        var cmd = new Command("embed", "Print the normalized retrieval embedding of an image or a text.") { model, image, resolution, text, ids, threads, json };
        cmd.SetAction(parse =>
        {
            string? imagePath = parse.GetValue(image), textValue = parse.GetValue(text), idText = parse.GetValue(ids);
            if (new[] { imagePath, textValue, idText }.Count(v => v is not null) != 1)
                throw new ArgumentException("Give exactly one of --image, --text or --ids.");
            using var m = CommonOptions.Load(parse.GetValue(model)!, parse.GetValue(threads));
            float[] embedding;
            ImageReport? report = null;
            if (imagePath is not null)
            {
                var result = m.EmbedImage(ImageInput.FromFile(imagePath), new ImageRequestOptions { Resolution = parse.GetValue(resolution) });
                embedding = result.Embedding;
                report = result.Image;
            }
            else embedding = m.EmbedText(idText is not null ? CommonOptions.ParseIds(idText) : m.Encode(textValue!));

            if (!parse.GetValue(json))
            {
                Console.Out.WriteLine(string.Join(" ", embedding.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture))));
                return 0;
            }
            using var w = new Utf8JsonWriter(Console.OpenStandardOutput());
            w.WriteStartObject();
            w.WriteStartArray("embedding");
            foreach (float v in embedding) w.WriteNumberValue(v);
            w.WriteEndArray();
            if (report is not null)
            {
                w.WriteNumber("resolution", report.Resolution);
                w.WriteNumber("confidence", Math.Round(report.Confidence, 6));
                w.WriteBoolean("valid", report.Valid);
            }
            w.WriteEndObject();
            w.Flush();
            Console.Out.WriteLine();
            return 0;
        });
        return cmd;
    }
}
