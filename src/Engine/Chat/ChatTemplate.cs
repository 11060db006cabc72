using System.Text.Json;

namespace OpenAutoGlm.Engine.Chat;

/// <summary>
/// A parsed HF chat template (the Jinja subset real templates use), rendered the way transformers' apply_chat_template does:
/// trim_blocks and lstrip_blocks on, HF's <c>tojson</c>, and <c>raise_exception</c> available.
/// </summary>
public sealed class ChatTemplate
{
    private readonly string _source;
    private readonly List<Stmt> _body;

    private ChatTemplate(string source, List<Stmt> body)
    {
        _source = source;
        _body = body;
    }

    /// <exception cref="ChatTemplateException">The template does not parse; the message names the line and column.</exception>
    public static ChatTemplate Parse(string template)
    {
        string source = TemplateLexer.Normalize(template);
        return new ChatTemplate(source, TemplateParser.Parse(source));
    }

    /// <summary>Renders the conversation to prompt text.</summary>
    /// <param name="extra">More template variables, e.g. <c>bos_token</c>, <c>eos_token</c>, <c>tools</c>; values may be CLR scalars,
    /// lists, dictionaries or <see cref="JsonElement"/>s.</param>
    /// <exception cref="ChatTemplateException">Rendering failed, or the template raised an exception.</exception>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, IReadOnlyDictionary<string, object?>? extra = null)
    {
        var context = new Dictionary<string, object?>();
        TemplateRenderer.AddGlobals(context);
        if (extra is not null)
            foreach (var (k, v) in extra) context[k] = PyValue.From(v);
        context["messages"] = messages.Select(m => (object?)PyValue.FromMessage(m)).ToList();
        context["add_generation_prompt"] = addGenerationPrompt;
        return TemplateRenderer.Render(_source, _body, context);
    }
}

/// <summary>The chat template and the special tokens it refers to, as a model's <c>tokenizer_config.json</c> declares them.</summary>
public sealed record TokenizerChatConfig(ChatTemplate Template, string? BosToken, string? EosToken)
{
    /// <summary>Reads <c>chat_template</c> (a string, or a list of <c>{name, template}</c>) and <c>bos_token</c>/<c>eos_token</c>.</summary>
    /// <param name="templateName">Which named template to use; null picks "default".</param>
    /// <exception cref="InvalidDataException">No usable chat template.</exception>
    public static TokenizerChatConfig Parse(string tokenizerConfigJson, string? templateName = null)
    {
        using var doc = JsonDocument.Parse(tokenizerConfigJson);
        var root = doc.RootElement;
        if (!root.TryGetProperty("chat_template", out var t))
            throw new InvalidDataException("tokenizer_config.json has no chat_template.");
        string source;
        if (t.ValueKind == JsonValueKind.String) source = t.GetString()!;
        else if (t.ValueKind == JsonValueKind.Array)
        {
            string wanted = templateName ?? "default";
            var named = t.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.Object
                && e.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
                && e.TryGetProperty("template", out var tt) && tt.ValueKind == JsonValueKind.String).ToList();
            var match = named.FirstOrDefault(e => e.GetProperty("name").GetString() == wanted);
            if (match.ValueKind == JsonValueKind.Undefined)
                throw new InvalidDataException($"tokenizer_config.json has no chat template named '{wanted}' (found: {string.Join(", ", named.Select(e => e.GetProperty("name").GetString()))}).");
            source = match.GetProperty("template").GetString()!;
        }
        else throw new InvalidDataException("tokenizer_config.json chat_template must be a string or a list of named templates.");
        return new TokenizerChatConfig(ChatTemplate.Parse(source), SpecialToken(root, "bos_token"), SpecialToken(root, "eos_token"));
    }

    /// <summary>
    /// A checkpoint's chat setup: the template of <c>chat_template.jinja</c> when there is one, else <c>tokenizer_config.json</c>'s
    /// <c>chat_template</c>; bos/eos strings from <c>tokenizer_config.json</c>. Null when neither has a template.
    /// </summary>
    public static TokenizerChatConfig? Load(string? tokenizerConfigJson, string? templateJinja)
    {
        using var doc = tokenizerConfigJson is null ? null : JsonDocument.Parse(tokenizerConfigJson);
        if (templateJinja is not null)
            return new TokenizerChatConfig(ChatTemplate.Parse(templateJinja),
                doc is null ? null : SpecialToken(doc.RootElement, "bos_token"), doc is null ? null : SpecialToken(doc.RootElement, "eos_token"));
        if (doc is null || !doc.RootElement.TryGetProperty("chat_template", out _)) return null;
        return Parse(tokenizerConfigJson!);
    }

    /// <summary>Renders with <c>bos_token</c> and <c>eos_token</c> set from the config (entries in <paramref name="extra"/> win).</summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, IReadOnlyDictionary<string, object?>? extra = null)
    {
        var variables = new Dictionary<string, object?> { ["bos_token"] = BosToken ?? "", ["eos_token"] = EosToken ?? "" };
        if (extra is not null)
            foreach (var (k, v) in extra) variables[k] = v;
        return Template.Render(messages, addGenerationPrompt, variables);
    }

    // A special token is a plain string or an AddedToken object {"content": ...}.
    private static string? SpecialToken(JsonElement root, string name) =>
        !root.TryGetProperty(name, out var v) ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()
        : null;
}
