using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Chat;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Engine.Vision;
using OpenAutoGlm.Tests.Support;
using AI = Microsoft.Extensions.AI;

namespace OpenAutoGlm.Tests.Chat;

/// <summary>A tiny text model whose checkpoint carries a tokenizer_config.json with a chat template.</summary>
public sealed class TinyChatModelFixture : IDisposable
{
    public const string Template = "{% for m in messages %}<s>{{ m.role }}:{{ m.content }};{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";
    private readonly TempDirectory _dir = new();

    public TinyChatModelFixture()
    {
        string config = JsonSerializer.Serialize(new Dictionary<string, string> { ["chat_template"] = Template, ["bos_token"] = "<s>", ["eos_token"] = "</s>" });
        Tiny = new TinyModel(new TinyCheckpointSpec
        {
            Seed = 9, VocabSize = TinyTokenizer.VocabSize, BosTokenId = TinyTokenizer.Bos, EosTokenIds = [TinyTokenizer.Eos], MaxPositionEmbeddings = 256,
            TokenizerJsonPath = TinyTokenizer.Write(_dir.Combine("tokenizer.json")),
            ExtraFiles = new Dictionary<string, string> { ["tokenizer_config.json"] = config },
        });
    }

    public TinyModel Tiny { get; }

    public void Dispose()
    {
        Tiny.Dispose();
        _dir.Dispose();
    }
}

public sealed class ChatClientTests(TinyChatModelFixture fixture) : IClassFixture<TinyChatModelFixture>
{
    private AutoGlmModel Model => fixture.Tiny.Model;

    [Fact]
    public void TheCheckpointsChatTemplateIsCopiedAndUsed()
    {
        Assert.Equal("tokenizer_config.json", Model.Manifest.TokenizerConfigFile);
        Assert.True(File.Exists(Path.Combine(fixture.Tiny.ModelDirectory, "tokenizer_config.json")));
        Assert.NotNull(Model.ChatConfig);
        Assert.Equal("<s>user:hi;assistant:", Model.ChatConfig!.Render([OpenAutoGlm.Engine.Chat.ChatMessage.User("hi")], addGenerationPrompt: true));
    }

    [Fact]
    public void AChatTemplateJinjaFileWinsOverTokenizerConfig()
    {
        using var dir = new TempDirectory();
        TinyCheckpoint.Write(dir.Combine("hf"), new TinyCheckpointSpec
        {
            ExtraFiles = new Dictionary<string, string>
            {
                ["tokenizer_config.json"] = """{"chat_template":"old","bos_token":"<s>"}""",
                ["chat_template.jinja"] = "{{ bos_token }}{% for m in messages %}[{{ m.content }}]{% endfor %}",
            },
        });
        OpenAutoGlm.Convert.HfConverter.Convert(dir.Combine("hf"), dir.Combine("out"), new OpenAutoGlm.Convert.ConvertOptions());
        using var model = AutoGlmModel.Load(dir.Combine("out"), new ModelOptions { Threads = 1 });
        Assert.Equal("chat_template.jinja", model.Manifest.ChatTemplateFile);
        Assert.Equal("<s>[x]", model.ChatConfig!.Render([OpenAutoGlm.Engine.Chat.ChatMessage.User("x")], addGenerationPrompt: false));
    }

    [Fact]
    public async Task AResponseIsTheGreedyGenerationOfTheRenderedPrompt()
    {
        using var client = new AutoGlmChatClient(Model);
        var response = await client.GetResponseAsync([new AI.ChatMessage(ChatRole.User, "hello")], new ChatOptions { MaxOutputTokens = 8 });
        var prompt = client.EncodeConversation([OpenAutoGlm.Engine.Chat.ChatMessage.User("hello")]);
        var expected = Model.Generate(prompt, new GenerationOptions { MaxNewTokens = 8 });
        Assert.Equal(expected.Text, response.Text);
        Assert.Equal(prompt.Length, response.Usage!.InputTokenCount);
        Assert.Equal(expected.Ids.Length, response.Usage.OutputTokenCount);
        Assert.Equal(expected.FinishReason == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop, response.FinishReason);
    }

    [Fact]
    public async Task StreamingUpdatesAddUpToTheResponse()
    {
        using var client = new AutoGlmChatClient(Model);
        var options = new ChatOptions { MaxOutputTokens = 10, Temperature = 0.9f, Seed = 4 };
        var whole = await client.GetResponseAsync([new AI.ChatMessage(ChatRole.User, "stream")], options);
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync([new AI.ChatMessage(ChatRole.User, "stream")], options)) updates.Add(u);
        Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.Equal(whole.FinishReason, updates[^1].FinishReason);
        Assert.Contains(updates[^1].Contents, c => c is UsageContent);
    }

    [Fact]
    public async Task AJsonSchemaResponseFormatGivesParsableJson()
    {
        using var client = new AutoGlmChatClient(Model);
        using var schema = JsonDocument.Parse("""{"type":"object","properties":{"n":{"type":"integer"},"ok":{"type":"boolean"}},"required":["n","ok"],"additionalProperties":false}""");
        var response = await client.GetResponseAsync([new AI.ChatMessage(ChatRole.User, "json please")],
            new ChatOptions { MaxOutputTokens = 120, Temperature = 1f, Seed = 3, ResponseFormat = ChatResponseFormat.ForJsonSchema(schema.RootElement) });
        using var doc = JsonDocument.Parse(response.Text);
        Assert.True(doc.RootElement.GetProperty("ok").ValueKind is JsonValueKind.True or JsonValueKind.False);
        Assert.Equal(JsonValueKind.Number, doc.RootElement.GetProperty("n").ValueKind);
    }

    [Fact]
    public async Task ImageContentOnATextOnlyModelIsRejectedByName()
    {
        using var client = new AutoGlmChatClient(Model);
        var message = new AI.ChatMessage(ChatRole.User, [new TextContent("look"), new DataContent(new byte[] { 1, 2, 3 }, "image/png")]);
        var e = await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync([message]));
        Assert.Contains("takes no images", e.Message);
        var audio = new AI.ChatMessage(ChatRole.User, [new DataContent(new byte[] { 1, 2, 3 }, "audio/wav")]);
        e = await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync([audio]));
        Assert.Contains("audio/wav", e.Message);
    }

    [Fact]
    public async Task AConversationIdKeepsTheHistoryAndReusesItsCachedPrefix()
    {
        using var client = new AutoGlmChatClient(Model, new OpenAutoGlm.Engine.Serving.BatchEngineOptions { BlockSize = 4 });
        var options = new ChatOptions { MaxOutputTokens = 6, ConversationId = "c1" };
        var first = await client.GetResponseAsync([new AI.ChatMessage(ChatRole.User, "first question")], options);
        Assert.Equal("c1", first.ConversationId);
        Assert.Equal(0, client.Engine.Stats.PrefixHitTokens);
        var second = await client.GetResponseAsync([new AI.ChatMessage(ChatRole.User, "second")], options);
        var history = new[]
        {
            OpenAutoGlm.Engine.Chat.ChatMessage.User("first question"), OpenAutoGlm.Engine.Chat.ChatMessage.Assistant(first.Text),
            OpenAutoGlm.Engine.Chat.ChatMessage.User("second"),
        };
        Assert.Equal(client.EncodeConversation(history).Length, second.Usage!.InputTokenCount);
        Assert.True(client.Engine.Stats.PrefixHitTokens >= 12);
    }
}

/// <summary>Image content through the chat client, on the committed open_autoglm smoke model and its example images.</summary>
public sealed class ChatClientImageTests
{
    private static readonly string Examples = Path.Combine(SharedModels.RepositoryRoot, "examples");

    [Fact]
    public void TheDemoModelsChatTemplateRendersItsTrainingPromptFormat()
    {
        using var model = AutoGlmModel.Load(Path.Combine(SharedModels.RepositoryRoot, "models", "demo"), new ModelOptions { Threads = 1 });
        // tools/demo-model/infer.py: BOS from the tokenizer's post-processor, then "<|user|>{question}<|assistant|>"
        var expected = model.Tokenizer!.Encode("<|user|>Is there a defect?<|assistant|>");
        var message = new OpenAutoGlm.Engine.Chat.ChatMessage("user", [ChatContentPart.Image(), ChatContentPart.FromText("Is there a defect?")]);
        Assert.Equal(expected, model.EncodeChat([message]));
        Assert.Equal(model.Tokenizer.TokenToId("<|bos|>"), expected[0]);
    }

    [Fact]
    public async Task AnImageMessageAnswersLikeTheModelsOwnMultimodalGeneration()
    {
        using var model = AutoGlmModel.Load(Path.Combine(SharedModels.RepositoryRoot, "tests", "Data", "demo-smoke"), new ModelOptions { Threads = 2 });
        using var client = new AutoGlmChatClient(model);
        byte[] png = File.ReadAllBytes(Path.Combine(Examples, "shapes_plain.png"));
        var message = new AI.ChatMessage(ChatRole.User, [new DataContent(png, "image/png"), new TextContent("What colour is the circle?")]);
        var options = new ChatOptions { MaxOutputTokens = 12 };
        var response = await client.GetResponseAsync([message], options);

        var prompt = client.EncodeConversation([new OpenAutoGlm.Engine.Chat.ChatMessage("user",
            [ChatContentPart.Image(), ChatContentPart.FromText("What colour is the circle?")])]);
        var expected = model.Generate(prompt, [ImageInput.FromBytes(png)], new GenerationOptions { MaxNewTokens = 12 });
        Assert.Equal(expected.Generation.Text, response.Text);
        Assert.Equal(prompt.Length, response.Usage!.InputTokenCount);
        Assert.True(long.TryParse(response.ResponseId, out _), "image requests are batched like text requests");
        Assert.True(client.Engine.Stats.Steps > 0);

        var streamed = new System.Text.StringBuilder();
        await foreach (var update in client.GetStreamingResponseAsync([message], options)) streamed.Append(update.Text);
        Assert.Equal(expected.Generation.Text, streamed.ToString());
        Assert.False(expected.Imputed);
    }

    [Fact]
    public async Task AConversationKeepsItsImagesForLaterTurns()
    {
        using var model = AutoGlmModel.Load(Path.Combine(SharedModels.RepositoryRoot, "tests", "Data", "demo-smoke"), new ModelOptions { Threads = 2 });
        using var client = new AutoGlmChatClient(model);
        var file = new Uri(Path.Combine(Examples, "chart.png"));
        var options = new ChatOptions { MaxOutputTokens = 6, ConversationId = "c1" };
        var first = await client.GetResponseAsync([new AI.ChatMessage(ChatRole.User, [new UriContent(file, "image/png"), new TextContent("Which bar is highest?")])], options);
        var second = await client.GetResponseAsync([new AI.ChatMessage(ChatRole.User, "And the lowest?")], options);

        var history = new List<OpenAutoGlm.Engine.Chat.ChatMessage>
        {
            new("user", [ChatContentPart.Image(), ChatContentPart.FromText("Which bar is highest?")]),
            OpenAutoGlm.Engine.Chat.ChatMessage.Assistant(first.Text),
            OpenAutoGlm.Engine.Chat.ChatMessage.User("And the lowest?"),
        };
        var expected = model.Generate(client.EncodeConversation(history), [ImageInput.FromFile(file.LocalPath)], new GenerationOptions { MaxNewTokens = 6 });
        Assert.Equal(expected.Generation.Text, second.Text);
        Assert.True(long.TryParse(second.ResponseId, out _));
        Assert.True(client.Engine.Stats.PrefixHitTokens > 0, "the second turn reuses the blocks of the first, computed with the same image");
    }
}

