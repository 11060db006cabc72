using System.CommandLine;
using System.Text.Json;
using OpenAutoGlm.Engine.Vision;

namespace OpenAutoGlm.Cli;

/// <summary><c>autoglm retrieve</c>: ranks the images of a folder against a text query with the retrieval heads (ARCHITECTURE.md §5).</summary>
internal static class RetrieveCommand
{
    private static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"];

    public static Command Create()
    {
        var model = CommonOptions.Model();
        var gallery = new Option<string>("--gallery") { Description = "Folder of images to rank.", Required = true };
        var query = new Option<string?>("--query") { Description = "Query text (tokenized with the model's tokenizer)." };
        var ids = CommonOptions.Ids();
        var top = new Option<int>("--top", "-k") { Description = "How many images to print.", DefaultValueFactory = _ => 5 };
        var resolution = CommonOptions.Resolution();
        var threads = CommonOptions.Threads();
        var json = CommonOptions.Json();
        var cmd = new Command("retrieve", "Rank a folder of images by similarity to a text query.") { model, gallery, query, ids, top, resolution, threads, json };
        cmd.SetAction(parse =>
        {
            string? queryText = parse.GetValue(query), idText = parse.GetValue(ids);
            if ((queryText is null) == (idText is null)) throw new ArgumentException("Give exactly one of --query or --ids.");
            string folder = parse.GetValue(gallery)!;
            if (!Directory.Exists(folder)) throw new ArgumentException($"--gallery: '{folder}' is not a folder.");
            var files = Directory.EnumerateFiles(folder).Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal).ToArray();
            using var m = CommonOptions.Load(parse.GetValue(model)!, parse.GetValue(threads));
            var text = m.EmbedText(idText is not null ? CommonOptions.ParseIds(idText) : m.Encode(queryText!));
            var options = new Engine.ImageRequestOptions { Resolution = parse.GetValue(resolution) };
            var ranked = files
                .Select(f => (File: f, Image: m.EmbedImage(ImageInput.FromFile(f), options)))
                .Select(x => (x.File, Score: m.Similarity(x.Image.Embedding, text), x.Image.Image.Confidence))
                .OrderByDescending(x => x.Score).Take(Math.Max(0, parse.GetValue(top))).ToArray();
            if (parse.GetValue(json))
            {
                using var w = new Utf8JsonWriter(Console.OpenStandardOutput());
                w.WriteStartObject();
                w.WriteStartArray("results");
                foreach (var r in ranked)
                {
                    w.WriteStartObject();
                    w.WriteString("image", r.File);
                    w.WriteNumber("score", r.Score);
                    w.WriteNumber("confidence", Math.Round(r.Confidence, 6));
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
                w.Flush();
                Console.Out.WriteLine();
            }
            else
                foreach (var r in ranked) Console.Out.WriteLine($"{r.Score,10:F4}  {r.File}  (confidence {r.Confidence:F2})");
            return 0;
        });
        return cmd;
    }
}
