//! The chat-template engine against jinja2-under-transformers behaviour, on self-written templates.
//! Expected strings are what Python prints for the same template; each is derived in a comment.

use caugym_model::chat::{ChatExtras, ChatTemplate, Message};
use caugym_model::tokenizer::{SpecialTokens, TokenizerError};
use serde_json::json;

fn template(source: &str) -> ChatTemplate {
    let special = SpecialTokens {
        eos_token: Some("<|im_end|>".into()),
        pad_token: Some("<|endoftext|>".into()),
        ..SpecialTokens::default()
    };
    ChatTemplate::new(source, "test template", special).expect("template compiles")
}

fn render_vars(source: &str, vars: serde_json::Value) -> String {
    let extras = ChatExtras {
        tools: None,
        vars: vars.as_object().cloned().unwrap_or_default(),
    };
    template(source)
        .render(&[], false, Some(&extras))
        .expect("renders")
}

#[test]
fn tojson_is_json_dumps_without_html_escaping() {
    // json.dumps({"a": "é<>&'\"\n", "b": [1, 2.0, None, True]}, ensure_ascii=False)
    // == '{"a": "é<>&\'\\"\\n", "b": [1, 2.0, null, true]}'
    let out = render_vars(
        "{{ x | tojson }}",
        json!({"x": {"a": "é<>&'\"\n", "b": [1, 2.0, null, true]}}),
    );
    assert_eq!(out, r#"{"a": "é<>&'\"\n", "b": [1, 2.0, null, true]}"#);
}

#[test]
fn tojson_keywords_follow_json_dumps() {
    // json.dumps({"a": 1, "b": [1, 2]}, indent=2): item separator ',' once indenting.
    let out = render_vars(
        "{{ x | tojson(indent=2) }}",
        json!({"x": {"a": 1, "b": [1, 2]}}),
    );
    assert_eq!(out, "{\n  \"a\": 1,\n  \"b\": [\n    1,\n    2\n  ]\n}");
    // json.dumps("é🎉", ensure_ascii=True) == '"\\u00e9\\ud83c\\udf89"' (a surrogate pair).
    let out = render_vars("{{ x | tojson(ensure_ascii=true) }}", json!({"x": "é🎉"}));
    assert_eq!(out, r#""\u00e9\ud83c\udf89""#);
    // json.dumps([1, {"k": "v"}], separators=(",", ":")) == '[1,{"k":"v"}]'
    let out = render_vars(
        "{{ x | tojson(separators=[',', ':']) }}",
        json!({"x": [1, {"k": "v"}]}),
    );
    assert_eq!(out, r#"[1,{"k":"v"}]"#);
    // Control characters: json.dumps("\x01\t") == '"\\u0001\\t"'; empty containers stay tight.
    let out = render_vars(
        "{{ x | tojson }}{{ e | tojson(indent=2) }}",
        json!({"x": "\u{1}\t", "e": {}}),
    );
    assert_eq!(out, r#""\u0001\t"{}"#);
}

#[test]
fn tojson_keeps_message_field_order_unless_sort_keys() {
    // A Message serializes as {"role": ..., "content": ...}, like the dict transformers sees.
    let t = template("{{ messages[0] | tojson }} {{ messages[0] | tojson(sort_keys=true) }}");
    let out = t.render(&[Message::user("hi")], false, None).unwrap();
    assert_eq!(
        out,
        r#"{"role": "user", "content": "hi"} {"content": "hi", "role": "user"}"#
    );
}

#[test]
fn values_print_as_python_prints_them() {
    // str(None), str(True), str(2.0), str(1e20), str([1, 'a', None]), str({'k': False})
    let out = render_vars(
        "{{ n }}|{{ t }}|{{ f }}|{{ big }}|{{ l }}|{{ d }}|{{ undefined_name }}|",
        json!({"n": null, "t": true, "f": 2.0, "big": 1e20, "l": [1, "a", null], "d": {"k": false}}),
    );
    assert_eq!(out, "None|True|2.0|1e+20|[1, 'a', None]|{'k': False}||");
}

#[test]
fn floats_use_python_repr() {
    // [repr(x) for x in (0.1, 1e16, 1e-05, 123456789.0, 0.0001, 1.5e-07, -2.5, 1e15)]
    let out = render_vars(
        "{% for x in xs %}{{ x }} {% endfor %}",
        json!({"xs": [0.1, 1e16, 1e-5, 123456789.0, 0.0001, 1.5e-7, -2.5, 1e15]}),
    );
    assert_eq!(
        out,
        "0.1 1e+16 1e-05 123456789.0 0.0001 1.5e-07 -2.5 1000000000000000.0 "
    );
}

#[test]
fn python_string_methods_work() {
    let out = render_vars(
        "{{ s.strip() }}|{{ t.split('</think>')[-1].lstrip('\\n') }}|{{ t.startswith('<think>') }}|{{ s.upper() }}",
        json!({"s": " a b ", "t": "<think>x</think>\n\ny"}),
    );
    // " a b ".strip() == "a b"; the split keeps "\n\ny", lstrip('\n') gives "y".
    assert_eq!(out, "a b|y|True| A B ");
}

#[test]
fn whitespace_control_matches_trim_and_lstrip_blocks() {
    // trim_blocks drops the newline after a block tag, lstrip_blocks the indentation before it;
    // the template's single trailing newline is dropped (keep_trailing_newline=False).
    let out = render_vars("  {% if true %}\n  x\n  {% endif %}\ny\n", json!({}));
    assert_eq!(out, "  x\ny");
}

#[test]
fn loop_controls_namespace_and_reverse_slices() {
    let out = render_vars(
        "{% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}{% if i == 1 %}{% continue %}{% endif %}{{ i }}{% endfor %}|\
         {% set ns = namespace(last=-1) %}{% for x in xs[::-1] %}{% if x > 1 and ns.last < 0 %}{% set ns.last = x %}{% endif %}{% endfor %}{{ ns.last }}",
        json!({"xs": [3, 1, 2, 0]}),
    );
    // 0, (1 skipped), 2, break at 3; reversed [0, 2, 1, 3] -> first > 1 is 2.
    assert_eq!(out, "02|2");
}

#[test]
fn render_context_matches_apply_chat_template() {
    let t = template(
        "{{ tools is none }} {{ documents is none }} {{ add_generation_prompt }} {{ eos_token }} {{ pad_token }} {{ bos_token is defined }}",
    );
    assert_eq!(
        t.render(&[], true, None).unwrap(),
        "True True True <|im_end|> <|endoftext|> False"
    );
    // Extra variables override special tokens; tools are passed through.
    let extras = ChatExtras {
        tools: Some(vec![json!({"name": "f"})]),
        vars: json!({"eos_token": "</s>"}).as_object().cloned().unwrap(),
    };
    let t = template("{{ tools[0].name }} {{ eos_token }}");
    assert_eq!(t.render(&[], false, Some(&extras)).unwrap(), "f </s>");
}

#[test]
fn extra_vars_may_not_replace_render_arguments() {
    let extras = ChatExtras {
        tools: None,
        vars: json!({"messages": []}).as_object().cloned().unwrap(),
    };
    let err = template("x").render(&[], false, Some(&extras)).unwrap_err();
    assert!(err.to_string().contains("`messages`"), "{err}");
}

#[test]
fn raise_exception_fails_the_render_with_its_message() {
    let t = template(
        "{% if messages[0].role != 'user' %}{{ raise_exception('first turn must be user') }}{% endif %}ok",
    );
    assert_eq!(t.render(&[Message::user("a")], false, None).unwrap(), "ok");
    let err = t
        .render(&[Message::assistant("a")], false, None)
        .unwrap_err();
    assert!(matches!(err, TokenizerError::Template { .. }));
    let text = err.to_string();
    assert!(
        text.contains("first turn must be user") && text.contains("test template"),
        "{text}"
    );
}

#[test]
fn syntax_errors_surface_at_compile_time_with_origin() {
    let err = ChatTemplate::new(
        "{% if %}",
        "cfg.json (chat_template)",
        SpecialTokens::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("cfg.json (chat_template)"),
        "{err}"
    );
}

#[test]
fn render_json_passes_extra_message_fields() {
    let t = template(
        "{% for m in messages %}{{ m.role }}:{% if m.tool_calls %}{{ m.tool_calls[0].function.arguments | tojson }}{% else %}{{ m.content }}{% endif %};{% endfor %}",
    );
    let messages = [
        json!({"role": "user", "content": "6*7?"}),
        json!({"role": "assistant", "tool_calls": [{"function": {"name": "mul", "arguments": {"a": 6, "b": 7}}}]}),
    ];
    assert_eq!(
        t.render_json(&messages, false, None).unwrap(),
        r#"user:6*7?;assistant:{"a": 6, "b": 7};"#
    );
}
