using System.CommandLine;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Cli;

/// <summary><c>autoglm info</c>: what a converted model is, without loading its weights.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var cmd = new Command("info", "Describe a converted model.") { model };
        cmd.SetAction(parse =>
        {
            string dir = parse.GetValue(model)!;
            using var file = ModelFile.Open(dir);
            var m = file.Manifest;
            var t = m.Text;
            long bytes = 0, parameters = 0;
            foreach (var x in m.Tensors)
            {
                bytes += x.Length;
                long n = 1;
                foreach (var s in x.Shape) n *= s;
                parameters += n;
            }
            Console.WriteLine($"model        {Path.GetFullPath(dir)}");
            Console.WriteLine($"architecture {m.Architecture} (from {m.SourceArchitecture ?? "?"}), format v{m.FormatVersion}");
            Console.WriteLine($"parameters   {parameters:N0} in {m.Tensors.Count} tensors, {bytes / 1e6:F1} MB");
            Console.WriteLine($"decoder      {t.NumLayers} layers, dim {t.HiddenSize}, ffn {t.IntermediateSize}, heads {t.NumHeads}/{t.NumKvHeads} kv, head_dim {t.HeadDim}");
            Console.WriteLine($"rope         {t.RopeLayout}, {t.RotaryDim} of {t.HeadDim} dims, theta {t.RopeTheta}{(t.RopeScaling is { } sc ? $", {sc.Type} ×{sc.Factor}" : "")}");
            Console.WriteLine($"vocab        {t.VocabSize}, context {t.MaxPositionEmbeddings}, tied head: {t.TiedEmbeddings}");
            if (m.Multimodal is { } mm)
            {
                var v = mm.Vision;
                Console.WriteLine($"vision       {v.NumLayers} layers, dim {v.HiddenSize}, ffn {v.IntermediateSize}, heads {v.NumHeads}, patch {v.PatchSize}, base {v.BaseImageSize}, sizes [{string.Join(", ", mm.AdaptiveResolution.Sizes)}]");
                Console.WriteLine($"fusion       layers [{string.Join(", ", mm.FusionLayers)}], {mm.CrossAttentionHeads} heads; imputer {(mm.ImputerWidth > 0 ? mm.ImputerWidth : "none")}, retrieval {(mm.RetrievalWidth > 0 ? mm.RetrievalWidth : "none")}, task head {(mm.HasTaskHead ? string.Join("/", mm.InstructionClasses) : "none")}");
            }
            Console.WriteLine($"tokens       bos {m.Tokens.Bos?.ToString() ?? "-"}, eos [{string.Join(", ", m.Tokens.Eos)}], tokenizer: {m.TokenizerFile ?? "none"}");
            return 0;
        });
        return cmd;
    }
}
