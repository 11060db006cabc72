using System.CommandLine;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Cli;

/// <summary><c>autoglm verify</c>: recompute every tensor checksum.</summary>
internal static class VerifyCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var cmd = new Command("verify", "Check a converted model's structure and every tensor checksum.") { model };
        cmd.SetAction(parse =>
        {
            using var file = ModelFile.Open(parse.GetValue(model)!);
            file.VerifyChecksums();
            Console.WriteLine($"ok: {file.Manifest.Tensors.Count} tensors verified in {file.Directory}");
            return 0;
        });
        return cmd;
    }
}
