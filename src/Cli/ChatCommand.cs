using System.CommandLine;
using Microsoft.Extensions.AI;
using OpenAutoGlm.Engine.Chat;

namespace OpenAutoGlm.Cli;

/// <summary><c>autoglm chat</c>: an interactive conversation on stdin/stdout, the reply streamed as it is generated.</summary>
internal static class ChatCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var system = new Option<string?>("--system") { Description = "System instructions sent with every turn." };
        var maxNew = new Option<int>("--max-new-tokens", "-n") { Description = "Tokens per reply at most.", DefaultValueFactory = _ => 512 };
        var temperature = new Option<float>("--temperature") { Description = "Sampling temperature; 0 is greedy.", DefaultValueFactory = _ => 0.7f };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling mass (1: off).", DefaultValueFactory = _ => 0.95f };
        var threads = CommonOptions.Threads();
        var cmd = new Command("chat", "Chat with the model in the terminal (/exit or end of input to quit, /reset to start over).")
        {
            model, system, maxNew, temperature, topP, threads,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            using var m = CommonOptions.Load(parse.GetValue(model)!, parse.GetValue(threads));
            using var client = new AutoGlmChatClient(m);
            if (m.ChatConfig is null) Console.Error.WriteLine("[no chat template in the model directory: using a plain transcript]");
            int conversation = 0;
            var options = new ChatOptions
            {
                Instructions = parse.GetValue(system),
                MaxOutputTokens = parse.GetValue(maxNew),
                Temperature = parse.GetValue(temperature),
                TopP = parse.GetValue(topP),
                ConversationId = "cli-0",
            };
            while (!ct.IsCancellationRequested)
            {
                Console.Out.Write("> ");
                string? line = Console.In.ReadLine();
                if (line is null || line.Trim() == "/exit") break;
                if (line.Trim() == "/reset")
                {
                    options.ConversationId = $"cli-{++conversation}";
                    continue;
                }
                if (line.Trim().Length == 0) continue;
                await foreach (var update in client.GetStreamingResponseAsync([new Microsoft.Extensions.AI.ChatMessage(ChatRole.User, line)], options, ct))
                {
                    Console.Out.Write(update.Text);
                    Console.Out.Flush();
                }
                Console.Out.WriteLine();
            }
            return 0;
        });
        return cmd;
    }
}
