using OpenAutoGlm.Engine.Chat;
using Xunit;

namespace OpenAutoGlm.Tests.Chat;

/// <summary>Published chat templates rendered exactly as transformers' apply_chat_template renders them.</summary>
public sealed class PublishedTemplateTests
{
    // meta-llama/Meta-Llama-3-8B-Instruct tokenizer_config.json chat_template.
    private const string Llama3 = """
        {% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}
        """;

    // Qwen/Qwen2-7B-Instruct tokenizer_config.json chat_template.
    private const string Qwen2 = """
        {% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}
        """;

    // meta-llama/Llama-2-7b-chat-hf tokenizer_config.json chat_template.
    private const string Llama2 = """
        {% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}
        """;

    // Written from the rendering documented for glm-4-9b-chat (role tags, "\n" after each tag, no separators); the optional tools
    // block of the published template is left out.
    private const string Glm4 = """
        [gMASK]<sop>{% for item in messages %}{% if item['role'] == 'system' %}<|system|>
        {{ item['content'] }}{% elif item['role'] == 'user' %}<|user|>
        {{ item['content'] }}{% elif item['role'] == 'assistant' %}<|assistant|>{{ item.metadata or '' }}
        {{ item['content'] }}{% elif item['role'] == 'observation' %}<|observation|>
        {{ item['content'] }}{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>
        {% endif %}
        """;

    // Written from the documented rendering of the GLM-4.1V-9B-Thinking template, in the multi-line style of that template so that
    // trim_blocks, lstrip_blocks and "-" modifiers decide every newline.
    private const string Glm41V = """
        [gMASK]<sop>
        {%- for msg in messages %}
            {%- if msg.role == 'system' %}
        <|system|>
        {{ msg.content }}
            {%- elif msg.role == 'user' %}
        <|user|>{{ '\n' }}
                {%- if msg.content is string %}
        {{ msg.content }}
                {%- else %}
                    {%- for item in msg.content %}
                        {%- if item.type == 'video' or 'video' in item %}
        <|begin_of_video|><|video|><|end_of_video|>
                        {%- elif item.type == 'image' or 'image' in item %}
        <|begin_of_image|><|image|><|end_of_image|>
                        {%- elif item.type == 'text' %}
        {{ item.text }}
                        {%- endif %}
                    {%- endfor %}
                {%- endif %}
            {%- elif msg.role == 'assistant' %}
                {%- if msg.metadata %}
        <|assistant|>{{ msg.metadata }}
        {{ msg.content }}
                {%- else %}
        <|assistant|>
        {{ msg.content }}
                {%- endif %}
            {%- endif %}
        {%- endfor %}
        {% if add_generation_prompt %}<|assistant|>
        {% endif %}
        """;

    private static readonly ChatMessage[] Conversation =
    [
        ChatMessage.System("You are a bot."),
        ChatMessage.User("Hi"),
        ChatMessage.Assistant("Hello!"),
        ChatMessage.User("How are you? "),
    ];

    [Fact]
    public void Llama3_MultiTurnWithSystemAndGenerationPrompt()
    {
        string text = ChatTemplate.Parse(Llama3).Render(Conversation, true, new Dictionary<string, object?> { ["bos_token"] = "<|begin_of_text|>" });
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a bot.<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\n", text);
    }

    [Fact]
    public void Llama3_WithoutGenerationPrompt()
    {
        string text = ChatTemplate.Parse(Llama3).Render([ChatMessage.User("x")], false, new Dictionary<string, object?> { ["bos_token"] = "<s>" });
        Assert.Equal("<s><|start_header_id|>user<|end_header_id|>\n\nx<|eot_id|>", text);
    }

    [Fact]
    public void Qwen2_InsertsDefaultSystemPrompt()
    {
        string text = ChatTemplate.Parse(Qwen2).Render([ChatMessage.User("Hi"), ChatMessage.Assistant("Hello!"), ChatMessage.User("Bye")], true);
        Assert.Equal(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
            + "<|im_start|>assistant\n", text);
    }

    [Fact]
    public void Qwen2_KeepsGivenSystemPrompt()
    {
        string text = ChatTemplate.Parse(Qwen2).Render(Conversation, false);
        Assert.Equal(
            "<|im_start|>system\nYou are a bot.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            + "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nHow are you? <|im_end|>\n", text);
    }

    [Fact]
    public void Llama2_FoldsSystemIntoFirstTurn()
    {
        var extra = new Dictionary<string, object?> { ["bos_token"] = "<s>", ["eos_token"] = "</s>" };
        string text = ChatTemplate.Parse(Llama2).Render(
            [ChatMessage.System("SYS"), ChatMessage.User("Hi"), ChatMessage.Assistant("Hello"), ChatMessage.User(" Bye ")], true, extra);
        Assert.Equal("<s>[INST] <<SYS>>\nSYS\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye [/INST]", text);
    }

    [Fact]
    public void Llama2_RaisesOnNonAlternatingRoles()
    {
        var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(Llama2).Render(
            [ChatMessage.User("a"), ChatMessage.User("b")], false, new Dictionary<string, object?> { ["bos_token"] = "<s>", ["eos_token"] = "</s>" }));
        Assert.Contains("Conversation roles must alternate", e.Message);
        Assert.Equal(1, e.Line);
    }

    [Fact]
    public void Glm4_MultiTurnWithSystemAndGenerationPrompt()
    {
        string text = ChatTemplate.Parse(Glm4).Render(
            [ChatMessage.System("You are ChatGLM."), ChatMessage.User("Hi"), ChatMessage.Assistant("Hello"), ChatMessage.User("Bye")], true);
        Assert.Equal("[gMASK]<sop><|system|>\nYou are ChatGLM.<|user|>\nHi<|assistant|>\nHello<|user|>\nBye<|assistant|>\n", text);
    }

    [Fact]
    public void Glm41V_ImageTurnMatchesDocumentedRendering()
    {
        string text = ChatTemplate.Parse(Glm41V).Render(
            [ChatMessage.System("You are a phone agent."), new ChatMessage("user", [ChatContentPart.Image(), ChatContentPart.FromText("Open settings")])],
            true);
        Assert.Equal(
            "[gMASK]<sop><|system|>\nYou are a phone agent.<|user|>\n<|begin_of_image|><|image|><|end_of_image|>Open settings<|assistant|>\n",
            text);
    }

    [Fact]
    public void Glm41V_MultiTurnWithPlainAndMultimodalContent()
    {
        string text = ChatTemplate.Parse(Glm41V).Render(
        [
            ChatMessage.System("S"),
            new ChatMessage("user", [ChatContentPart.FromText("Look: "), ChatContentPart.Image(), ChatContentPart.Video()]),
            ChatMessage.Assistant("<answer>ok</answer>"),
            ChatMessage.User("next"),
        ], false);
        Assert.Equal(
            "[gMASK]<sop><|system|>\nS<|user|>\nLook: <|begin_of_image|><|image|><|end_of_image|><|begin_of_video|><|video|><|end_of_video|>"
            + "<|assistant|>\n<answer>ok</answer><|user|>\nnext", text);
    }

    [Fact]
    public void TokenizerConfig_NamedTemplatesAndAddedTokenObjects()
    {
        const string json = """
            {
              "bos_token": {"content": "<|begin_of_text|>", "lstrip": false},
              "eos_token": "<|eot_id|>",
              "chat_template": [
                {"name": "default", "template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}"},
                {"name": "tool_use", "template": "tools"}
              ]
            }
            """;
        var config = TokenizerChatConfig.Parse(json);
        Assert.Equal("<|begin_of_text|>", config.BosToken);
        Assert.Equal("<|begin_of_text|>a<|eot_id|>", config.Render([ChatMessage.User("a")], false));
        Assert.Equal("tools", TokenizerChatConfig.Parse(json, "tool_use").Render([], false));
        Assert.Throws<InvalidDataException>(() => TokenizerChatConfig.Parse(json, "missing"));
    }

    [Fact]
    public void TokenizerConfig_StringTemplateFromJsonEscapes()
    {
        var config = TokenizerChatConfig.Parse("""{"chat_template": "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' }}{% endfor %}"}""");
        Assert.Null(config.BosToken);
        Assert.Equal("<|im_start|>user\n", config.Render([ChatMessage.User("a")], false));
    }
}
