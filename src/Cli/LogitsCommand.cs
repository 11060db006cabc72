using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text.Json;
using OpenAutoGlm.Engine;

namespace OpenAutoGlm.Cli;

/// <summary><c>autoglm logits</c>: float32 little-endian logits of the last position (or every position) to a file.</summary>
internal static class LogitsCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var ids = CommonOptions.Ids();
        ids.Required = true;
        var output = new Option<string>("--out", "-o") { Description = "Output file (float32 little-endian, [positions, vocab]).", Required = true };
        var all = new Option<bool>("--all-positions") { Description = "Write every position's logits, not only the last." };
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        var images = CommonOptions.Images();
        var resolution = CommonOptions.Resolution();
        var json = CommonOptions.Json();
        var cmd = new Command("logits", "Write the logits of a sequence of token ids.") { model, ids, output, all, threads, device, images, resolution, json };
        cmd.SetAction(parse =>
        {
            using var m = CommonOptions.Load(parse.GetValue(model)!, parse.GetValue(threads), parse.GetValue(device)!);
            var tokens = CommonOptions.ParseIds(parse.GetValue(ids)!);
            var imagePaths = parse.GetValue(images) ?? [];
            float[] logits;
            MultimodalLogits? multimodal = null;
            if (m.SupportsImages)
            {
                multimodal = m.ComputeLogits(tokens, CommonOptions.ImageInputs(imagePaths), parse.GetValue(all), new ImageRequestOptions { Resolution = parse.GetValue(resolution) });
                logits = multimodal.Logits;
            }
            else
            {
                if (imagePaths.Length > 0) throw new InvalidOperationException($"--image needs an open_autoglm model; this one is {m.Manifest.Architecture}.");
                logits = m.ComputeLogits(tokens, parse.GetValue(all));
            }
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Writing logits needs a little-endian machine.");
            File.WriteAllBytes(parse.GetValue(output)!, MemoryMarshal.AsBytes(logits.AsSpan()).ToArray());
            Console.Error.WriteLine($"wrote {logits.Length / m.VocabSize} × {m.VocabSize} logits to {parse.GetValue(output)}");
            if (parse.GetValue(json))
            {
                using var w = new Utf8JsonWriter(Console.OpenStandardOutput());
                w.WriteStartObject();
                w.WriteNumber("positions", logits.Length / m.VocabSize);
                w.WriteNumber("vocab", m.VocabSize);
                if (multimodal is not null)
                {
                    MultimodalJson.WriteImages(w, multimodal.Images, multimodal.VisionMs);
                    w.WriteBoolean("imputed", multimodal.Imputed);
                }
                w.WriteEndObject();
                w.Flush();
                Console.Out.WriteLine();
            }
            return 0;
        });
        return cmd;
    }
}
