"""`scratchformer generate --init NAME`: generate with pretrained weights instead of a run.

  scratchformer generate --init smollm2 --prompt "The capital of France is" --sample.temperature 0
  scratchformer generate --init smollm2 --chat true --prompt "Name three colours."
  scratchformer generate --init gpt2 --prompt "Hello, I'm a language model," --sample.top_k 40

cli/generate.py calls `generate_pretrained(args)` when --init is given; the sampling itself is the
project's own (models/generate.py, with its KV cache and sliding window).
"""

from __future__ import annotations

from typing import Iterable, Iterator

from scratchformer.errors import UserError


def resolve_dtype(dtype: str, device: str) -> str:
    """auto: bfloat16 where the hardware computes it natively (most recent CPUs, CUDA GPUs), else float32."""
    import torch

    if dtype != "auto":
        return dtype
    if device.startswith("cuda"):
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    if device == "cpu" and torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return "bfloat16"
    return "float32"


def decode_stream(tokenizer, tokens: Iterable[int]) -> Iterator[str]:
    """Text pieces as tokens arrive. A character split over several byte-level tokens is held back
    until it is complete, instead of printing a replacement character."""
    ids: list[int] = []
    shown = 0
    for token in tokens:
        ids.append(token)
        text = tokenizer.decode(ids)
        if text.endswith("\ufffd"):  # an unfinished UTF-8 sequence: wait for the next token
            continue
        yield text[shown:]
        shown = len(text)


def generate_pretrained(args) -> None:
    import torch

    from scratchformer.models.generate import generate_stream
    from scratchformer.models.pretrained import from_pretrained

    model, tokenizer = from_pretrained(args.init, dtype=resolve_dtype(args.dtype, args.device))
    if tokenizer is None:
        raise UserError(f"{args.init} comes without a tokenizer (tokenizer.json); add it to the model's folder")
    model.to(args.device)
    text = args.prompt
    if args.chat:
        if tokenizer.chat_template is None:
            raise UserError(f"{args.init} has no chat template; drop --chat, or use an instruct model (smollm2)")
        text = tokenizer.apply_chat_template([{"role": "user", "content": args.prompt}])
    ids = tokenizer.encode(text)
    if not ids:
        raise UserError("the prompt is empty after tokenisation; give at least one character")
    if len(ids) > model.config.context_len:
        print(f"(the prompt has {len(ids)} tokens, more than the model's context of {model.config.context_len}: "
              "the model sees the last ones)")
    prompt = torch.tensor([ids], device=args.device)

    def tokens():
        for token in generate_stream(model, prompt, args.sample):
            if token.item() == tokenizer.eos_id:  # end of text (or of the assistant's turn)
                return
            yield token.item()

    print(args.prompt if args.chat else text, end="\n" if args.chat else "", flush=True)
    for piece in decode_stream(tokenizer, tokens()):
        print(piece, end="", flush=True)
    print()
