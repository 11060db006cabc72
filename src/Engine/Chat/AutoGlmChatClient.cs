using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.AI;
using OpenAutoGlm.Engine.Constraints;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Engine.Serving;
using AI = Microsoft.Extensions.AI;

namespace OpenAutoGlm.Engine.Chat;

/// <summary>
/// <see cref="IChatClient"/> over a <see cref="BatchEngine"/>: concurrent calls are batched, the checkpoint's chat template renders
/// the conversation, and with a <see cref="ChatOptions.ConversationId"/> the client keeps the history so that callers send only
/// new messages; each turn's prompt then starts with the previous turn's tokens, whose KV blocks the engine reuses.
/// Text content only for now.
/// </summary>
public sealed class AutoGlmChatClient : IChatClient
{
    private readonly AutoGlmModel _model;
    private readonly BatchEngine _engine;
    private readonly ChatClientMetadata _metadata;
    private readonly int[] _chatStopIds;
    private readonly ConcurrentDictionary<string, List<ChatMessage>> _conversations = new(StringComparer.Ordinal);

    /// <summary>Serves <paramref name="model"/> (not owned: dispose it after the client).</summary>
    public AutoGlmChatClient(AutoGlmModel model, BatchEngineOptions? engineOptions = null)
    {
        if (model.Tokenizer is null) throw new InvalidOperationException("A chat client needs a model converted with its tokenizer.");
        _model = model;
        _engine = new BatchEngine(model, engineOptions);
        _metadata = new ChatClientMetadata("OpenAutoGlm", defaultModelId: model.Manifest.SourceArchitecture ?? model.Manifest.Architecture);
        // Chat templates end a turn with their own token (e.g. <|im_end|>), which config.json's eos_token_id may not list.
        var stops = new HashSet<int>(model.Tokenizer.EosCandidateIds);
        if (model.ChatConfig?.EosToken is { } eos && model.Tokenizer.TokenToId(eos) is int eosId) stops.Add(eosId);
        _chatStopIds = [.. stops];
    }

    /// <summary>The engine the client runs on, for its statistics.</summary>
    public BatchEngine Engine => _engine;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<AI.ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var (request, history) = Submit(messages, options);
        using var registration = cancellationToken.Register(request.Cancel);
        var result = await request.Result.ConfigureAwait(false);
        Remember(options, history, result.Text);
        return new ChatResponse(new AI.ChatMessage(ChatRole.Assistant, result.Text))
        {
            FinishReason = MapFinish(result.FinishReason),
            Usage = Usage(result),
            ConversationId = options?.ConversationId,
            ModelId = _metadata.DefaultModelId,
            ResponseId = request.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AI.ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var (request, history) = Submit(messages, options);
        using var registration = cancellationToken.Register(request.Cancel);
        string responseId = request.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        bool finished = false;
        try
        {
            await foreach (var token in request.Tokens.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (token.Text.Length > 0)
                    yield return new ChatResponseUpdate(ChatRole.Assistant, token.Text)
                    {
                        ConversationId = options?.ConversationId, ModelId = _metadata.DefaultModelId, ResponseId = responseId, MessageId = responseId,
                    };
            }
            finished = true;
        }
        finally
        {
            if (!finished) request.Cancel();
        }
        var result = await request.Result.ConfigureAwait(false);
        Remember(options, history, result.Text);
        yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(Usage(result))])
        {
            FinishReason = MapFinish(result.FinishReason), ConversationId = options?.ConversationId, ModelId = _metadata.DefaultModelId,
            ResponseId = responseId, MessageId = responseId,
        };
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType == typeof(AutoGlmModel)) return _model;
        if (serviceType == typeof(BatchEngine)) return _engine;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    public void Dispose() => _engine.Dispose();

    /// <summary>The prompt ids a conversation renders to (the template's generation prompt included).</summary>
    public int[] EncodeConversation(IReadOnlyList<ChatMessage> messages)
    {
        var tokenizer = _model.Tokenizer!;
        if (_model.ChatConfig is { } chat) return tokenizer.Encode(chat.Render(messages, addGenerationPrompt: true), addSpecialTokens: false);
        // No template in the checkpoint: a plain transcript the model can continue.
        var text = new StringBuilder();
        foreach (var m in messages) text.Append(m.Role).Append(": ").Append(m.Content).Append('\n');
        text.Append("assistant: ");
        return tokenizer.Encode(text.ToString());
    }

    private (BatchRequest Request, List<ChatMessage> History) Submit(IEnumerable<AI.ChatMessage> messages, ChatOptions? options)
    {
        var history = new List<ChatMessage>();
        if (options?.Instructions is { Length: > 0 } instructions) history.Add(ChatMessage.System(instructions));
        if (options?.ConversationId is { } id && _conversations.TryGetValue(id, out var earlier))
            lock (earlier) history.AddRange(earlier);
        foreach (var m in messages) history.Add(new ChatMessage(m.Role.Value, TextOf(m)));
        var request = _engine.Submit(EncodeConversation(history), MapOptions(options));
        _engine.Start();
        return (request, history);
    }

    private void Remember(ChatOptions? options, List<ChatMessage> history, string reply)
    {
        if (options?.ConversationId is not { } id) return;
        if (options.Instructions is { Length: > 0 }) history.RemoveAt(0); // instructions come with each call, not with the history
        history.Add(ChatMessage.Assistant(reply));
        _conversations[id] = history;
    }

    private static string TextOf(AI.ChatMessage message)
    {
        var text = new StringBuilder();
        foreach (var content in message.Contents)
        {
            text.Append(content switch
            {
                TextContent t => t.Text,
                DataContent or UriContent => throw new NotSupportedException("Image and other media content is not supported yet: send text content."),
                _ => throw new NotSupportedException($"{content.GetType().Name} is not supported: send text content."),
            });
        }
        return text.ToString();
    }

    private GenerationOptions MapOptions(ChatOptions? o) => new()
    {
        Temperature = o?.Temperature ?? 0f,
        TopP = o?.TopP ?? 1f,
        TopK = o?.TopK ?? 0,
        MaxNewTokens = o?.MaxOutputTokens ?? 512,
        // The plain transcript marks turns with "user:", so a model that goes on to write the next turn is stopped there.
        StopStrings = [.. o?.StopSequences ?? [], .. _model.ChatConfig is null ? new[] { "\nuser:" } : []],
        StopTokenIds = _chatStopIds,
        FrequencyPenalty = o?.FrequencyPenalty ?? 0f,
        PresencePenalty = o?.PresencePenalty ?? 0f,
        Seed = o?.Seed is long seed ? unchecked((ulong)seed) : null,
        JsonSchema = o?.ResponseFormat switch
        {
            ChatResponseFormatJson { Schema: { } schema } => JsonSchema.Parse(schema.GetRawText()),
            ChatResponseFormatJson => JsonSchema.Any,
            _ => null,
        },
    };

    private static ChatFinishReason MapFinish(FinishReason reason) => reason == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop;

    private static UsageDetails Usage(GenerationResult r) => new()
    {
        InputTokenCount = r.PromptTokens, OutputTokenCount = r.Ids.Length, TotalTokenCount = r.PromptTokens + r.Ids.Length,
    };
}
