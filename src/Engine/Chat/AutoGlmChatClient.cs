using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.AI;
using OpenAutoGlm.Engine.Constraints;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Engine.Serving;
using OpenAutoGlm.Engine.Vision;
using AI = Microsoft.Extensions.AI;

namespace OpenAutoGlm.Engine.Chat;

/// <summary>
/// <see cref="IChatClient"/> over a <see cref="BatchEngine"/>: concurrent calls are batched, the checkpoint's chat template renders
/// the conversation, and with a <see cref="ChatOptions.ConversationId"/> the client keeps the history so that callers send only
/// new messages; each turn's prompt then starts with the previous turn's tokens, whose KV blocks the engine reuses.
/// Image content (<see cref="DataContent"/> with an image media type, or a <c>file:</c> <see cref="UriContent"/>) is passed to
/// models that take images: the template renders an image part where the message had it, the images are encoded before the
/// request queues, and the request joins the same batch as text requests, its rows fused with its own images.
/// </summary>
public sealed class AutoGlmChatClient : IChatClient
{
    private readonly AutoGlmModel _model;
    private readonly BatchEngine _engine;
    private readonly ChatClientMetadata _metadata;
    private readonly int[] _chatStopIds;
    private readonly ConcurrentDictionary<string, Conversation> _conversations = new(StringComparer.Ordinal);

    /// <summary>A remembered conversation: its messages and, in order, the images its messages hold.</summary>
    private sealed record Conversation(List<ChatMessage> Messages, List<ImageInput> Images);

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
        var (request, history) = await SubmitAsync(messages, options, cancellationToken).ConfigureAwait(false);
        using var registration = cancellationToken.Register(request.Cancel);
        var result = await request.Result.ConfigureAwait(false);
        Remember(options, history, result.Text);
        return new ChatResponse(new AI.ChatMessage(ChatRole.Assistant, result.Text))
        {
            FinishReason = MapFinish(result.FinishReason),
            Usage = Usage(result),
            ConversationId = options?.ConversationId,
            ModelId = _metadata.DefaultModelId,
            ResponseId = request.Id,
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AI.ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var (request, history) = await SubmitAsync(messages, options, cancellationToken).ConfigureAwait(false);
        using var registration = cancellationToken.Register(request.Cancel);
        string responseId = request.Id;
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
        if (_model.ChatConfig is not null) return _model.EncodeChat(messages);
        // No template in the checkpoint: a plain transcript the model can continue.
        var text = new StringBuilder();
        foreach (var m in messages)
        {
            text.Append(m.Role).Append(": ");
            if (m.Content is { } content) text.Append(content);
            else
                foreach (var part in m.Parts!)
                    text.Append(part.Type == "text" ? part.Text : ImagePlaceholderText());
            text.Append('\n');
        }
        text.Append("assistant: ");
        return tokenizer.Encode(text.ToString());
    }

    /// <summary>
    /// Without a template an image part becomes the model's placeholder token for token-insertion models (LLaVA) and nothing
    /// for models that fuse images by cross-attention, which take them beside the text.
    /// </summary>
    private string ImagePlaceholderText() =>
        _model.Manifest.Llava is { } llava ? _model.Tokenizer!.IdToToken(llava.ImageTokenId) ?? "" : "";

    private async Task<(PendingReply Request, Conversation History)> SubmitAsync(IEnumerable<AI.ChatMessage> messages, ChatOptions? options, CancellationToken cancellationToken)
    {
        var history = new Conversation([], []);
        if (options?.Instructions is { Length: > 0 } instructions) history.Messages.Add(ChatMessage.System(instructions));
        if (options?.ConversationId is { } id && _conversations.TryGetValue(id, out var earlier))
            lock (earlier)
            {
                history.Messages.AddRange(earlier.Messages);
                history.Images.AddRange(earlier.Images);
            }
        foreach (var m in messages) history.Messages.Add(Convert(m, history.Images));
        var prompt = EncodeConversation(history.Messages);
        var generation = MapOptions(options);
        BatchRequest request;
        if (history.Images.Count == 0) request = _engine.Submit(prompt, generation);
        else
        {
            if (!_model.SupportsImages)
                throw new NotSupportedException($"Image content was sent, but the model ({_model.Manifest.Architecture}) takes no images.");
            // Decoding and encoding the images takes a while: off the caller's thread, before the request queues.
            ImageInput[] images = [.. history.Images];
            request = await Task.Run(() => _engine.Submit(prompt, images, generation), cancellationToken).ConfigureAwait(false);
        }
        _engine.Start();
        return (new PendingReply(request.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), request.Tokens, request.Result, request.Cancel), history);
    }

    /// <summary>A submitted request: its id, its token stream, its result and how to cancel it.</summary>
    private sealed record PendingReply(string Id, ChannelReader<GeneratedToken> Tokens, Task<GenerationResult> Result, Action Cancel);

    private void Remember(ChatOptions? options, Conversation history, string reply)
    {
        if (options?.ConversationId is not { } id) return;
        if (options.Instructions is { Length: > 0 }) history.Messages.RemoveAt(0); // instructions come with each call, not with the history
        history.Messages.Add(ChatMessage.Assistant(reply));
        _conversations[id] = history;
    }

    /// <summary>A message as the template sees it: a plain string when it is all text, else text and image parts in order (images collected).</summary>
    private static ChatMessage Convert(AI.ChatMessage message, List<ImageInput> images)
    {
        var parts = new List<ChatContentPart>();
        bool hasImage = false;
        foreach (var content in message.Contents)
        {
            switch (content)
            {
                case TextContent t:
                    parts.Add(ChatContentPart.FromText(t.Text));
                    break;
                case DataContent d when d.HasTopLevelMediaType("image"):
                    images.Add(ImageInput.FromBytes(d.Data.ToArray(), d.Name ?? $"image {images.Count + 1}"));
                    parts.Add(ChatContentPart.Image());
                    hasImage = true;
                    break;
                case UriContent u when u.HasTopLevelMediaType("image") && u.Uri.IsFile:
                    images.Add(ImageInput.FromFile(u.Uri.LocalPath));
                    parts.Add(ChatContentPart.Image());
                    hasImage = true;
                    break;
                case DataContent or UriContent:
                    throw new NotSupportedException($"{content.GetType().Name} of media type '{MediaTypeOf(content)}' is not supported: send text, image bytes or a file: image URI.");
                default:
                    throw new NotSupportedException($"{content.GetType().Name} is not supported: send text or image content.");
            }
        }
        if (!hasImage) return new ChatMessage(message.Role.Value, string.Concat(parts.Select(p => p.Text)));
        return new ChatMessage(message.Role.Value, parts);
    }

    private static string MediaTypeOf(AIContent content) => content switch
    {
        DataContent d => d.MediaType,
        UriContent u => u.MediaType,
        _ => "",
    };

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
