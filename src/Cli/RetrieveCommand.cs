using System.CommandLine;
using System.Text.Json;
using OpenAutoGlm.Engine.Vision;
using Spectre.Console;

namespace OpenAutoGlm.Cli;

/// <summary>
/// <c>autoglm retrieve</c>: ranks the images of a folder against a text or image query with the retrieval heads
/// (ARCHITECTURE.md §5, or CLIP's projections). Gallery embeddings are cached beside the images (<see cref="GalleryIndex"/>).
/// </summary>
internal static class RetrieveCommand
{
    private static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"];

    public static Command Create()
    {
        var model = CommonOptions.Model();
        var gallery = new Option<string>("--gallery") { Description = "Folder of images to rank.", Required = true };
        var query = new Option<string?>("--query") { Description = "Query text (tokenized with the model's tokenizer)." };
        var imageQuery = new Option<string?>("--image") { Description = "Query image: rank the gallery by image-to-image similarity." };
        var ids = CommonOptions.Ids();
        var top = new Option<int>("--top", "-k") { Description = "How many images to print.", DefaultValueFactory = _ => 5 };
        var resolution = CommonOptions.Resolution();
        var threads = CommonOptions.Threads();
        var json = CommonOptions.Json();
        var cmd = new Command("retrieve", "Rank a folder of images by similarity to a text query.") { model, gallery, query, imageQuery, ids, top, resolution, threads, json };
        cmd.SetAction(parse =>
        {
            string? queryText = parse.GetValue(query), idText = parse.GetValue(ids), queryImage = parse.GetValue(imageQuery);
            if ((queryText is null ? 0 : 1) + (idText is null ? 0 : 1) + (queryImage is null ? 0 : 1) != 1)
                throw new ArgumentException("Give exactly one of --query, --ids or --image.");
            string folder = parse.GetValue(gallery)!;
            if (!Directory.Exists(folder)) throw new ArgumentException($"--gallery: '{folder}' is not a folder.");
            var files = new DirectoryInfo(folder).EnumerateFiles().Where(f => Extensions.Contains(f.Extension.ToLowerInvariant()))
                .OrderBy(f => f.Name, StringComparer.Ordinal).ToArray();
            string modelDir = parse.GetValue(model)!;
            using var m = CommonOptions.Load(modelDir, parse.GetValue(threads));
            var options = new Engine.ImageRequestOptions { Resolution = parse.GetValue(resolution) };
            float[] target = queryImage is not null
                ? m.EmbedImage(ImageInput.FromFile(queryImage), options).Embedding
                : m.EmbedText(idText is not null ? CommonOptions.ParseIds(idText) : m.Encode(queryText!));

            var index = GalleryIndex.Load(folder, GalleryIndex.KeyFor(modelDir, options.Resolution));
            int embedded = 0;
            void EmbedMissing(Action step)
            {
                foreach (var f in files)
                {
                    if (index.Find(f) is null)
                    {
                        var e = m.EmbedImage(ImageInput.FromFile(f.FullName), options);
                        index.Set(f, e.Embedding, e.Image.Confidence);
                        embedded++;
                    }
                    step();
                }
            }
            // The bar goes to stderr so that --json output stays one object on stdout.
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
            if (console.Profile.Capabilities.Interactive && !parse.GetValue(json))
                console.Progress().Start(ctx =>
                {
                    var task = ctx.AddTask("embedding gallery", maxValue: Math.Max(1, files.Length));
                    EmbedMissing(() => task.Increment(1));
                });
            else EmbedMissing(() => { });
            if (embedded > 0) index.Save(folder, files);

            var ranked = files
                .Select(f => (File: f.FullName, Entry: index.Find(f)!))
                .Select(x => (x.File, Score: m.Similarity(x.Entry.Embedding, target), x.Entry.Confidence))
                .OrderByDescending(x => x.Score).Take(Math.Max(0, parse.GetValue(top))).ToArray();
            Console.Error.WriteLine($"{files.Length} image(s), {embedded} embedded now, {files.Length - embedded} from {GalleryIndex.FileName}");
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
