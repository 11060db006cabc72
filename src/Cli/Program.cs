using System.CommandLine;
using OpenAutoGlm.Cli;

var root = new RootCommand("autoglm: run Open-AutoGLM-style models converted to the engine's FP16 format.");
root.Add(GenerateCommand.Create());
root.Add(ChatCommand.Create());
root.Add(LogitsCommand.Create());
root.Add(EmbedCommand.Create());
root.Add(RetrieveCommand.Create());
root.Add(EvalCommand.Create());
root.Add(BenchCommand.Create());
root.Add(InfoCommand.Create());
root.Add(VerifyCommand.Create());
root.Add(KernelsCommand.Create());
return CliRunner.Run(root, args);
