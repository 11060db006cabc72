using System.CommandLine;
using OpenAutoGlm.Engine;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Cli;

/// <summary>Runs a command and turns the engine's expected failures into one clear line on stderr and exit code 1.</summary>
internal static class CliRunner
{
    public static int Run(RootCommand root, string[] args)
    {
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        try
        {
            return root.Parse(args).Invoke(config);
        }
        catch (Exception e) when (e is InvalidModelException or ArgumentException or PromptTooLongException
                                       or InvalidOperationException or IOException or UnauthorizedAccessException
                                       or FormatException or NotSupportedException or Kernels.Cuda.CudaException
                                       or InvalidDataException or Engine.Vision.ImageInputException)
        {
            Console.Error.WriteLine($"autoglm: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("autoglm: cancelled.");
            return 130;
        }
    }
}
