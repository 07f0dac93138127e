"""Chat with a model: type a message, read the reply as it is written, and go on; the model sees
the whole conversation each turn. Ends at end of input (Ctrl-D) or a line /exit.

  scratchformer chat --init smollm2
  scratchformer chat --init smollm2 --system "You are a patient tutor." --sample.temperature 0.3
  scratchformer chat --run runs/NAME
  printf 'Name a colour.\\nAnd another one?\\n' | scratchformer chat --init smollm2

The conversation is written in the model's chat template (the one `generate --chat true` uses;
ChatML for a model without its own). A run trained with a char, byte or word tokenizer has no
chat format: its conversation is the running text, each message a line that it continues.
When the conversation outgrows the model's context, the model sees its most recent part.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from scratchformer.errors import UserError
from scratchformer.models.generate import SamplingConfig

HELP = "chat with an instruct model or a run: reads prompts until EOF or /exit"
EXIT = "/exit"


@dataclass
class ChatConfig:
    run: str | None = None
    """A run folder (runs/NAME) or checkpoint to chat with."""
    init: str | None = None
    """Instead of a run: a pretrained model (smollm2, gpt2, ...), a .gguf file or a Hugging Face model folder."""
    system: str | None = None
    """A system message put in front of the conversation (chat-template models only)."""
    device: str = "cpu"
    """Device to generate on."""
    dtype: str = "auto"
    """With --init: float32, bfloat16, int8, or auto (bfloat16 where the hardware has it)."""
    sample: SamplingConfig = field(default_factory=lambda: SamplingConfig(max_new_tokens=256))


def add_arguments(parser) -> None:
    parser.add_argument("--config", action="config", help="a YAML file with these options")
    parser.add_class_arguments(ChatConfig, None, as_group=False)


def has_chat_template(tokenizer) -> bool:
    return hasattr(tokenizer, "apply_chat_template")


def conversation_text(tokenizer, messages: list[dict]) -> str:
    """The whole conversation as the text the model continues (ending where the reply begins)."""
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(messages)
    # - no chat format: the running text, one line per message
    return "".join(m["content"] + "\n" for m in messages if m["role"] != "system")


def reply(model, tokenizer, messages: list[dict], sample: SamplingConfig, device: str = "cpu") -> Iterator[str]:
    """The model's reply to the conversation, piece by piece as it is sampled; stops at end of turn."""
    import torch

    from scratchformer.cli.pretrained_hook import decode_stream
    from scratchformer.models.generate import generate_stream

    ids = tokenizer.encode(conversation_text(tokenizer, messages))
    if not ids:
        raise UserError("the message is empty after tokenisation; write at least one character the model knows")
    prompt = torch.tensor([ids], device=device)  # (1, T)
    eos = getattr(tokenizer, "eos_id", None)

    def tokens():
        for token in generate_stream(model, prompt, sample):
            if token.item() == eos:  # the end of the assistant's turn
                return
            yield token.item()

    yield from decode_stream(tokenizer, tokens())


def chat(model, tokenizer, lines: Iterable[str], sample: SamplingConfig, system: str | None = None,
         device: str = "cpu", write=None, prompt_marker: str = "") -> list[dict]:
    """Answer each line of `lines` in turn, keeping the conversation; returns it (a list of messages).

    write: where the replies go, piece by piece (default: standard output)."""
    write = write or (lambda text: (sys.stdout.write(text), sys.stdout.flush()))
    messages = [{"role": "system", "content": system}] if system else []
    write(prompt_marker)
    for line in lines:
        text = line.rstrip("\n")
        if text.strip() == EXIT:
            break
        if not text.strip():
            write(prompt_marker)
            continue
        messages.append({"role": "user", "content": text})
        pieces = []
        try:
            for piece in reply(model, tokenizer, messages, sample, device):
                pieces.append(piece)
                write(piece)
        except UserError as e:  # a message the model cannot read: say so, and keep chatting
            messages.pop()
            write(f"(cannot read that message: {e})\n{prompt_marker}")
            continue
        messages.append({"role": "assistant", "content": "".join(pieces)})
        write("\n" + prompt_marker)
    return messages


def load_model(args):
    """(model, tokenizer) from --init or --run."""
    if (args.init is None) == (args.run is None):
        raise UserError("say which model to chat with: --init smollm2 (or another pretrained model) or --run runs/NAME")
    if args.init is not None:
        from scratchformer.cli.pretrained_hook import resolve_dtype
        from scratchformer.models.pretrained import from_pretrained

        model, tokenizer = from_pretrained(args.init, dtype=resolve_dtype(args.dtype, args.device))
        if tokenizer is None:
            raise UserError(f"{args.init} comes without a tokenizer (tokenizer.json); add it to the model's folder")
        return model.to(args.device).eval(), tokenizer
    from scratchformer.tasks.runs import load_language_model

    run = load_language_model(args.run, args.device, command="chat")
    return run.model, run.tokenizer


def run(args) -> None:
    model, tokenizer = load_model(args)
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"chatting with {args.init or args.run}; type a message, /exit or Ctrl-D to end")
    chat(model, tokenizer, sys.stdin, args.sample, args.system, args.device, prompt_marker="> " if interactive else "")
